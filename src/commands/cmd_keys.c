/*
 * cmd_keys.c - the keys command family (being built).
 */
#include "cmd.h"

void cmd_keys_cron(fkv_session *s, uint64_t *cursor, int64_t now_ms)
{
	(void)s;
	(void)cursor;
	(void)now_ms;
}

const cmd_def cmd_keys_table[] = {
	{NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL},
};
