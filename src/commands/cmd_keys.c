/*
 * cmd_keys.c - the keys command family (being built).
 */
#include "cmd.h"

const cmd_def cmd_keys_table[] = {
	{NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL},
};
