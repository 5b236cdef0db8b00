/*
 * cmd_connection.c - connection commands: PING, ECHO, QUIT, SELECT, AUTH,
 * HELLO, RESET, and the CLIENT container.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "conn.h"
#include "server.h"

#define REDIS_VERSION "7.2.4"

static void cmd_ping(cmd_ctx *ctx)
{
	if (ctx->argc > 2) {
		cmd_err_arity(ctx, "ping");
		return;
	}
	if (ctx->argc == 2)
		resp_add_bulk(ctx->out, ctx->argv[1], ctx->argv_len[1]);
	else
		resp_add_simple(ctx->out, "PONG");
}

static void cmd_echo(cmd_ctx *ctx)
{
	resp_add_bulk(ctx->out, ctx->argv[1], ctx->argv_len[1]);
}

static void cmd_quit(cmd_ctx *ctx)
{
	resp_add_ok(ctx->out);
	ctx->c->flags |= CLIENT_CLOSE_AFTER_REPLY;
}

static void cmd_select(cmd_ctx *ctx)
{
	int64_t db;
	if (!cmd_parse_ll(ctx->argv[1], ctx->argv_len[1], &db)) {
		resp_add_error(ctx->out,
			       "ERR value is not an integer or out of range");
		return;
	}
	if (db < 0 || db >= cfg_get_int(&server.cfg.databases)) {
		resp_add_error(ctx->out, "ERR DB index is out of range");
		return;
	}
	ctx->c->db = (int)db;
	resp_add_ok(ctx->out);
}

/* Checks a password against requirepass (user must be "default"). */
static bool check_auth(const char *user, size_t ulen, const char *pass,
		       size_t plen)
{
	if (user != NULL && !(ulen == 7 && memcmp(user, "default", 7) == 0))
		return false;
	char *want = cfg_get_str(&server.cfg.requirepass);
	bool ok;
	if (want == NULL || want[0] == '\0')
		ok = false; /* no password set: AUTH is an error (below) */
	else
		ok = strlen(want) == plen && memcmp(want, pass, plen) == 0;
	free(want);
	return ok;
}

static bool password_set(void)
{
	char *want = cfg_get_str(&server.cfg.requirepass);
	bool set = want != NULL && want[0] != '\0';
	free(want);
	return set;
}

static void cmd_auth(cmd_ctx *ctx)
{
	if (ctx->argc > 3) {
		cmd_err_syntax(ctx);
		return;
	}
	if (ctx->argc == 2 && !password_set()) {
		resp_add_error(
			ctx->out,
			"ERR AUTH <password> called without any password "
			"configured for the default user. Are you sure "
			"your configuration is correct?");
		return;
	}
	const char *user = ctx->argc == 3 ? ctx->argv[1] : NULL;
	size_t ulen = ctx->argc == 3 ? ctx->argv_len[1] : 0;
	int pi = ctx->argc - 1;
	bool ok;
	if (!password_set())
		ok = user != NULL && ulen == 7 &&
		     memcmp(user, "default", 7) == 0;
	else
		ok = check_auth(user, ulen, ctx->argv[pi], ctx->argv_len[pi]);
	if (!ok) {
		resp_add_error(ctx->out, "WRONGPASS invalid username-password "
					 "pair or user is disabled.");
		return;
	}
	ctx->c->authenticated = true;
	resp_add_ok(ctx->out);
}

/* HELLO [protover [AUTH username password] [SETNAME clientname]] */
static void cmd_hello(cmd_ctx *ctx)
{
	rf_client *c = ctx->c;
	int64_t ver = c->proto;
	int i = 1;
	if (ctx->argc >= 2) {
		if (!cmd_parse_ll(ctx->argv[1], ctx->argv_len[1], &ver)) {
			resp_add_error(ctx->out, "ERR Protocol version is not "
						 "an integer or out of range");
			return;
		}
		if (ver < 2 || ver > 3) {
			resp_add_error(ctx->out,
				       "NOPROTO unsupported protocol version");
			return;
		}
		i = 2;
	}
	const char *setname = NULL;
	size_t setname_len = 0;
	for (; i < ctx->argc; i++) {
		bool more = ctx->argc - i - 1;
		if (cmd_arg_is(ctx, i, "AUTH") && ctx->argc - i - 1 >= 2) {
			const char *u = ctx->argv[i + 1];
			size_t ul = ctx->argv_len[i + 1];
			bool ok = password_set()
					  ? check_auth(u, ul, ctx->argv[i + 2],
						       ctx->argv_len[i + 2])
					  : (ul == 7 &&
					     memcmp(u, "default", 7) == 0);
			if (!ok) {
				resp_add_error(ctx->out,
					       "WRONGPASS invalid "
					       "username-password pair or user "
					       "is disabled.");
				return;
			}
			c->authenticated = true;
			i += 2;
		} else if (cmd_arg_is(ctx, i, "SETNAME") && more) {
			setname = ctx->argv[i + 1];
			setname_len = ctx->argv_len[i + 1];
			for (size_t k = 0; k < setname_len; k++) {
				if (setname[k] <= ' ' || setname[k] > '~') {
					resp_add_error(
						ctx->out,
						"ERR Client names cannot "
						"contain "
						"spaces, newlines or special "
						"characters.");
					return;
				}
			}
			i += 1;
		} else {
			resp_add_errorf(
				ctx->out,
				"ERR Syntax error in HELLO option '%.*s'",
				(int)(ctx->argv_len[i] > 128
					      ? 128
					      : ctx->argv_len[i]),
				ctx->argv[i]);
			return;
		}
	}
	if (!c->authenticated) {
		resp_add_error(ctx->out, "NOAUTH HELLO must be called with the "
					 "client already authenticated, "
					 "otherwise the HELLO <proto> AUTH "
					 "<user> <pass> option can be used to "
					 "authenticate the client and select "
					 "the RESP protocol version at the "
					 "same time");
		return;
	}
	if (setname != NULL)
		client_set_name(c, &c->name, setname, setname_len);
	c->proto = (int)ver;
	ctx->out->proto = (int)ver;
	resp_add_map(ctx->out, 7);
	resp_add_cstr(ctx->out, "server");
	resp_add_cstr(ctx->out, "redis");
	resp_add_cstr(ctx->out, "version");
	resp_add_cstr(ctx->out, REDIS_VERSION);
	resp_add_cstr(ctx->out, "proto");
	resp_add_int(ctx->out, ver);
	resp_add_cstr(ctx->out, "id");
	resp_add_int(ctx->out, (int64_t)c->id);
	resp_add_cstr(ctx->out, "mode");
	resp_add_cstr(ctx->out, "standalone");
	resp_add_cstr(ctx->out, "role");
	resp_add_cstr(ctx->out, "master");
	resp_add_cstr(ctx->out, "modules");
	resp_add_array(ctx->out, 0);
}

static void cmd_reset(cmd_ctx *ctx)
{
	rf_client *c = ctx->c;
	c->db = 0;
	c->proto = 2;
	ctx->out->proto = 2;
	c->flags &=
		~(CLIENT_REPLY_OFF | CLIENT_REPLY_SKIP_NEXT | CLIENT_NO_EVICT);
	client_set_name(c, &c->name, NULL, 0);
	c->authenticated = !password_set();
	resp_add_simple(ctx->out, "RESET");
}

const cmd_def cmd_connection_table[] = {
	{"ping", cmd_ping, -1, CMD_FAST, 0, 0, 0, "connection",
	 "Returns the server's liveliness response.", "1.0.0", "O(1)", NULL},
	{"echo", cmd_echo, 2, CMD_FAST, 0, 0, 0, "connection",
	 "Returns the given string.", "1.0.0", "O(1)", NULL},
	{"quit", cmd_quit, -1, CMD_FAST | CMD_NOAUTH, 0, 0, 0, "connection",
	 "Closes the connection.", "1.0.0", "O(1)", NULL},
	{"select", cmd_select, 2, CMD_FAST, 0, 0, 0, "connection",
	 "Changes the selected database.", "2.0.0", "O(1)", NULL},
	{"auth", cmd_auth, -2, CMD_FAST | CMD_NOAUTH, 0, 0, 0, "connection",
	 "Authenticates the connection.", "1.0.0", "O(N)", NULL},
	{"hello", cmd_hello, -1, CMD_FAST | CMD_NOAUTH, 0, 0, 0, "connection",
	 "Handshakes with the Redis server.", "6.0.0", "O(1)", NULL},
	{"reset", cmd_reset, 1, CMD_FAST | CMD_NOAUTH, 0, 0, 0, "connection",
	 "Resets the connection.", "6.2.0", "O(1)", NULL},
	{NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL},
};
