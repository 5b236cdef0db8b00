/*
 * cmd_string.c - the string command family (being built).
 */
#include "cmd.h"

const cmd_def cmd_string_table[] = {
	{NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL},
};
