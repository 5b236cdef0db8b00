/*
 * cmd_server.c - the server command family (being built).
 */
#include "cmd.h"

const cmd_def cmd_server_table[] = {
	{NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL},
};
