/*
 * cmd_client.c - the CLIENT container command (being built).
 */
#include "cmd.h"

const cmd_def cmd_client_table[] = {
	{NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL},
};
