/*
 * cmd_client.c - the CLIENT container command: ID, SETNAME, GETNAME,
 * SETINFO, LIST, INFO, KILL, NO-EVICT, NO-TOUCH, REPLY, GETREDIR, UNBLOCK,
 * HELP.
 *
 * Clients of every worker are reached through the registry (conn.h):
 * LIST walks it under reg_lock, and KILL marks a client of another worker
 * (c->kill) under reg_lock and wakes that worker, which closes it; a
 * client that kills itself is closed once its reply is written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "conn.h"
#include "server.h"

/* Redis's validateClientAttr: printable ASCII without spaces. */
static bool attr_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '!' || s[i] > '~')
			return false;
	return true;
}

/* Client types for LIST and KILL: every client here is "normal"
 * (there are no replicas, masters or pub/sub clients yet). */
enum { TYPE_ANY = -1, TYPE_NORMAL, TYPE_MASTER, TYPE_REPLICA, TYPE_PUBSUB };

static int type_by_name(const cmd_ctx *ctx, int i)
{
	if (cmd_arg_is(ctx, i, "normal"))
		return TYPE_NORMAL;
	if (cmd_arg_is(ctx, i, "master"))
		return TYPE_MASTER;
	if (cmd_arg_is(ctx, i, "slave") || cmd_arg_is(ctx, i, "replica"))
		return TYPE_REPLICA;
	if (cmd_arg_is(ctx, i, "pubsub"))
		return TYPE_PUBSUB;
	return TYPE_ANY;
}

static void unknown_type(cmd_ctx *ctx, int i)
{
	char buf[130];
	resp_add_errorf(ctx->out, "ERR Unknown client type '%s'",
			cmd_arg_str(ctx, i, buf, sizeof(buf)));
}

static void cmd_client(cmd_ctx *ctx)
{
	/* Runs only without a subcommand, which arity -2 refuses first. */
	cmd_err_arity(ctx, "client");
}

static void cmd_client_id(cmd_ctx *ctx)
{
	resp_add_int(ctx->out, (int64_t)ctx->c->id);
}

static void cmd_client_setname(cmd_ctx *ctx)
{
	rf_client *c = ctx->c;
	if (!attr_ok(ctx->argv[2], ctx->argv_len[2])) {
		resp_add_error(ctx->out,
			       "ERR Client names cannot contain spaces, "
			       "newlines or special characters.");
		return;
	}
	/* An empty name removes the name. */
	if (ctx->argv_len[2] == 0)
		client_set_name(c, &c->name, NULL, 0);
	else
		client_set_name(c, &c->name, ctx->argv[2], ctx->argv_len[2]);
	resp_add_ok(ctx->out);
}

static void cmd_client_getname(cmd_ctx *ctx)
{
	/* The owner thread is the only writer of its name: no lock. */
	if (ctx->c->name == NULL)
		resp_add_null(ctx->out);
	else
		resp_add_cstr(ctx->out, ctx->c->name);
}

/* CLIENT SETINFO LIB-NAME name | LIB-VER version */
static void cmd_client_setinfo(cmd_ctx *ctx)
{
	rf_client *c = ctx->c;
	char attr[130];
	cmd_arg_str(ctx, 2, attr, sizeof(attr));
	char **field;
	if (cmd_arg_is(ctx, 2, "lib-name"))
		field = &c->lib_name;
	else if (cmd_arg_is(ctx, 2, "lib-ver"))
		field = &c->lib_ver;
	else {
		resp_add_errorf(ctx->out, "ERR Unrecognized option '%s'", attr);
		return;
	}
	if (!attr_ok(ctx->argv[3], ctx->argv_len[3])) {
		resp_add_errorf(ctx->out,
				"ERR %s cannot contain spaces, newlines or "
				"special characters.",
				attr);
		return;
	}
	if (ctx->argv_len[3] == 0)
		client_set_name(c, field, NULL, 0);
	else
		client_set_name(c, field, ctx->argv[3], ctx->argv_len[3]);
	resp_add_ok(ctx->out);
}

/* CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id ...]: one line
 * per client, oldest first, as a verbatim string. */
static void cmd_client_list(cmd_ctx *ctx)
{
	int type = TYPE_ANY;
	int64_t *ids = NULL;
	int nids = 0;
	if (ctx->argc == 4 && cmd_arg_is(ctx, 2, "type")) {
		type = type_by_name(ctx, 3);
		if (type == TYPE_ANY) {
			unknown_type(ctx, 3);
			return;
		}
	} else if (ctx->argc > 3 && cmd_arg_is(ctx, 2, "id")) {
		ids = malloc(sizeof(*ids) * (size_t)(ctx->argc - 3));
		if (ids == NULL) {
			resp_add_error(ctx->out, "ERR out of memory");
			return;
		}
		for (int i = 3; i < ctx->argc; i++) {
			if (!cmd_parse_ll(ctx->argv[i], ctx->argv_len[i],
					  &ids[nids++])) {
				resp_add_error(ctx->out,
					       "ERR Invalid client ID");
				free(ids);
				return;
			}
		}
	} else if (ctx->argc != 2) {
		cmd_err_syntax(ctx);
		return;
	}
	resp_buf b;
	resp_buf_init(&b, 2);
	pthread_mutex_lock(&reg_lock);
	if (ids != NULL) {
		for (int i = 0; i < nids; i++)
			for (rf_client *c = reg_head; c; c = c->reg_next)
				if ((int64_t)c->id == ids[i])
					client_format_info(c, &b, true);
	} else if (type == TYPE_ANY || type == TYPE_NORMAL) {
		/* The registry is newest first; Redis lists oldest first. */
		rf_client *tail = reg_head;
		while (tail != NULL && tail->reg_next != NULL)
			tail = tail->reg_next;
		for (rf_client *c = tail; c; c = c->reg_prev)
			client_format_info(c, &b, true);
	}
	pthread_mutex_unlock(&reg_lock);
	free(ids);
	cmd_reply_text(ctx, &b);
}

static void cmd_client_info(cmd_ctx *ctx)
{
	resp_buf b;
	resp_buf_init(&b, 2);
	pthread_mutex_lock(&reg_lock);
	client_format_info(ctx->c, &b, true);
	pthread_mutex_unlock(&reg_lock);
	cmd_reply_text(ctx, &b);
}

/* CLIENT KILL ip:port (old form: +OK or an error; may kill the caller)
 * CLIENT KILL <ID id | TYPE t | ADDR a | LADDR a | USER u | SKIPME yes/no>
 * ... (new form: the number killed; skips the caller by default). */
static void cmd_client_kill(cmd_ctx *ctx)
{
	char addr[128] = "", laddr[128] = "";
	bool by_addr = false, by_laddr = false;
	int64_t id = 0;
	int type = TYPE_ANY;
	bool skipme = true;
	if (ctx->argc == 3) {
		cmd_arg_str(ctx, 2, addr, sizeof(addr));
		by_addr = true;
		skipme = false; /* with the old form one may kill oneself */
	} else {
		for (int i = 2; i < ctx->argc; i += 2) {
			bool more = ctx->argc > i + 1;
			if (more && cmd_arg_is(ctx, i, "id")) {
				if (!cmd_parse_ll(ctx->argv[i + 1],
						  ctx->argv_len[i + 1], &id) ||
				    id < 1) {
					resp_add_error(ctx->out,
						       "ERR client-id should "
						       "be greater than 0");
					return;
				}
			} else if (more && cmd_arg_is(ctx, i, "type")) {
				type = type_by_name(ctx, i + 1);
				if (type == TYPE_ANY) {
					unknown_type(ctx, i + 1);
					return;
				}
			} else if (more && cmd_arg_is(ctx, i, "addr")) {
				cmd_arg_str(ctx, i + 1, addr, sizeof(addr));
				by_addr = true;
			} else if (more && cmd_arg_is(ctx, i, "laddr")) {
				cmd_arg_str(ctx, i + 1, laddr, sizeof(laddr));
				by_laddr = true;
			} else if (more && cmd_arg_is(ctx, i, "user")) {
				/* Only the default user exists, and every
				 * client is authenticated as it. */
				if (!cmd_arg_is(ctx, i + 1, "default")) {
					char u[130];
					resp_add_errorf(ctx->out,
							"ERR No such user '%s'",
							cmd_arg_str(ctx, i + 1,
								    u,
								    sizeof(u)));
					return;
				}
			} else if (more && cmd_arg_is(ctx, i, "skipme")) {
				if (cmd_arg_is(ctx, i + 1, "yes"))
					skipme = true;
				else if (cmd_arg_is(ctx, i + 1, "no"))
					skipme = false;
				else {
					cmd_err_syntax(ctx);
					return;
				}
			} else {
				cmd_err_syntax(ctx);
				return;
			}
		}
	}
	int killed = 0;
	bool self = false;
	pthread_mutex_lock(&reg_lock);
	for (rf_client *c = reg_head; c != NULL; c = c->reg_next) {
		if (by_addr && strcmp(c->addr, addr) != 0)
			continue;
		if (by_laddr && strcmp(c->laddr, laddr) != 0)
			continue;
		if (id != 0 && (int64_t)c->id != id)
			continue;
		if (type != TYPE_ANY && type != TYPE_NORMAL)
			continue;
		if (c == ctx->c) {
			if (skipme)
				continue;
			self = true;
		} else if (!atomic_exchange_explicit(&c->kill, 1,
						     memory_order_acq_rel)) {
			/* Its worker closes it when the loop wakes. */
			conn_wake_worker(c->w);
		}
		killed++;
	}
	pthread_mutex_unlock(&reg_lock);
	if (ctx->argc == 3) {
		if (killed == 0)
			resp_add_error(ctx->out, "ERR No such client");
		else
			resp_add_ok(ctx->out);
	} else {
		resp_add_int(ctx->out, killed);
	}
	if (self)
		ctx->c->flags |= CLIENT_CLOSE_AFTER_REPLY;
}

/* Parses ON/OFF (any case); writes a syntax error otherwise. */
static bool on_off(cmd_ctx *ctx, int i, bool *on)
{
	if (cmd_arg_is(ctx, i, "on"))
		*on = true;
	else if (cmd_arg_is(ctx, i, "off"))
		*on = false;
	else {
		cmd_err_syntax(ctx);
		return false;
	}
	return true;
}

/* Nothing is evicted yet (maxmemory is not enforced); the flag is kept
 * for CLIENT LIST and for when eviction exists. */
static void cmd_client_no_evict(cmd_ctx *ctx)
{
	bool on;
	if (!on_off(ctx, 2, &on))
		return;
	if (on)
		ctx->c->flags |= CLIENT_NO_EVICT;
	else
		ctx->c->flags &= ~CLIENT_NO_EVICT;
	resp_add_ok(ctx->out);
}

/* Keys have no access time to touch here, so this only answers. */
static void cmd_client_no_touch(cmd_ctx *ctx)
{
	bool on;
	if (on_off(ctx, 2, &on))
		resp_add_ok(ctx->out);
}

/* CLIENT REPLY ON|OFF|SKIP.  OFF and SKIP write no reply of their own;
 * conn.c drops the replies while CLIENT_REPLY_OFF is set and turns
 * CLIENT_REPLY_SKIP_NEXT into dropping the next command's reply. */
static void cmd_client_reply(cmd_ctx *ctx)
{
	rf_client *c = ctx->c;
	if (cmd_arg_is(ctx, 2, "on")) {
		c->flags &= ~(CLIENT_REPLY_OFF | CLIENT_REPLY_SKIP |
			      CLIENT_REPLY_SKIP_NEXT);
		resp_add_ok(ctx->out);
	} else if (cmd_arg_is(ctx, 2, "off")) {
		c->flags |= CLIENT_REPLY_OFF;
	} else if (cmd_arg_is(ctx, 2, "skip")) {
		if (!(c->flags & CLIENT_REPLY_OFF))
			c->flags |= CLIENT_REPLY_SKIP_NEXT;
	} else {
		cmd_err_syntax(ctx);
	}
}

/* No client tracking yet: nobody is redirected to. */
static void cmd_client_getredir(cmd_ctx *ctx)
{
	resp_add_int(ctx->out, -1);
}

/* Ends another client's blocking command (LOG.TAIL BLOCK): 1 when it
 * was blocked, else 0. */
static void cmd_client_unblock(cmd_ctx *ctx)
{
	int64_t id;
	if (!cmd_arg_int(ctx, 2, &id))
		return;
	if (ctx->argc == 4 && !cmd_arg_is(ctx, 3, "timeout") &&
	    !cmd_arg_is(ctx, 3, "error")) {
		resp_add_error(ctx->out, "ERR CLIENT UNBLOCK reason should be "
					 "TIMEOUT or ERROR");
		return;
	}
	if (ctx->argc > 4) {
		cmd_err_syntax(ctx);
		return;
	}
	int how = ctx->argc == 4 && cmd_arg_is(ctx, 3, "error")
			  ? RF_UNBLOCK_ERROR
			  : RF_UNBLOCK_TIMEOUT;
	int n = 0;
	pthread_mutex_lock(&reg_lock);
	for (rf_client *c = reg_head; c != NULL; c = c->reg_next)
		if ((int64_t)c->id == id && c != ctx->c && conn_unblock(c, how))
			n = 1;
	pthread_mutex_unlock(&reg_lock);
	resp_add_int(ctx->out, n);
}

static void cmd_client_help(cmd_ctx *ctx)
{
	static const char *const lines[] = {
		"GETREDIR",
		"    Return the client ID we are redirecting to when tracking "
		"is enabled.",
		"GETNAME",
		"    Return the name of the current connection.",
		"ID",
		"    Return the ID of the current connection.",
		"INFO",
		"    Return information about the current client connection.",
		"KILL <ip:port>",
		"    Kill connection made from <ip:port>.",
		"KILL <option> <value> [<option> <value> [...]]",
		"    Kill connections. Options are:",
		"    * ADDR (<ip:port>|<unixsocket>:0)",
		"      Kill connections made from the specified address",
		"    * LADDR (<ip:port>|<unixsocket>:0)",
		"      Kill connections made to specified local address",
		"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
		"      Kill connections by type.",
		"    * USER <username>",
		"      Kill connections authenticated by <username>.",
		"    * SKIPME (YES|NO)",
		"      Skip killing current connection (default: yes).",
		"    * ID <client-id>",
		"      Kill connections by client id.",
		"LIST [options ...]",
		"    Return information about client connections. Options:",
		"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
		"      Return clients of specified type.",
		"    * ID <client-id> [<client-id> ...]",
		"      Return clients with the given ids.",
		"REPLY (ON|OFF|SKIP)",
		"    Control the replies sent to the current connection.",
		"SETNAME <name>",
		"    Assign the name <name> to the current connection.",
		"SETINFO <option> <value>",
		"    Set client meta attr. Options are:",
		"    * LIB-NAME: the client lib name.",
		"    * LIB-VER: the client lib version.",
		"UNBLOCK <clientid> [TIMEOUT|ERROR]",
		"    Unblock the specified blocked client.",
		"NO-EVICT (ON|OFF)",
		"    Protect current client connection from eviction.",
		"NO-TOUCH (ON|OFF)",
		"    Will not touch LRU/LFU stats when this mode is on.",
		NULL};
	cmd_add_help(ctx, "CLIENT", lines);
}

#define END                                                                    \
	{                                                                      \
		NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL        \
	}
#define F (CMD_NOSCRIPT | CMD_LOADING | CMD_STALE)
#define FA (CMD_ADMIN | CMD_NOSCRIPT | CMD_LOADING | CMD_STALE)

static const cmd_def client_subs[] = {
	{"client|getname", cmd_client_getname, 2, F, 0, 0, 0, "connection",
	 "Returns the name of the connection.", "2.6.9", "O(1)", NULL},
	{"client|getredir", cmd_client_getredir, 2, F, 0, 0, 0, "connection",
	 "Returns the client ID to which the connection's tracking "
	 "notifications are redirected.",
	 "6.0.0", "O(1)", NULL},
	{"client|help", cmd_client_help, 2, CMD_LOADING | CMD_STALE, 0, 0, 0,
	 "connection", "Returns helpful text about the different subcommands.",
	 "5.0.0", "O(1)", NULL},
	{"client|id", cmd_client_id, 2, F, 0, 0, 0, "connection",
	 "Returns the unique client ID of the connection.", "5.0.0", "O(1)",
	 NULL},
	{"client|info", cmd_client_info, 2, F, 0, 0, 0, "connection",
	 "Returns information about the connection.", "6.2.0", "O(1)", NULL},
	{"client|kill", cmd_client_kill, -3, FA, 0, 0, 0, "connection",
	 "Terminates open connections.", "2.4.0",
	 "O(N) where N is the number of client connections", NULL},
	{"client|list", cmd_client_list, -2, FA, 0, 0, 0, "connection",
	 "Lists open connections.", "2.4.0",
	 "O(N) where N is the number of client connections", NULL},
	{"client|no-evict", cmd_client_no_evict, 3, FA, 0, 0, 0, "connection",
	 "Sets the client eviction mode of the connection.", "7.0.0", "O(1)",
	 NULL},
	{"client|no-touch", cmd_client_no_touch, 3, F, 0, 0, 0, "connection",
	 "Controls whether commands sent by the client affect the LRU/LFU of "
	 "accessed keys.",
	 "7.2.0", "O(1)", NULL},
	{"client|reply", cmd_client_reply, 3, F, 0, 0, 0, "connection",
	 "Instructs the server whether to reply to commands.", "3.2.0", "O(1)",
	 NULL},
	{"client|setinfo", cmd_client_setinfo, 4, F, 0, 0, 0, "connection",
	 "Sets information specific to the client or connection.", "7.2.0",
	 "O(1)", NULL},
	{"client|setname", cmd_client_setname, 3, F, 0, 0, 0, "connection",
	 "Sets the connection name.", "2.6.9", "O(1)", NULL},
	{"client|unblock", cmd_client_unblock, -3, FA, 0, 0, 0, "connection",
	 "Unblocks a client blocked by a blocking command from a different "
	 "connection.",
	 "5.0.0", "O(log N) where N is the number of client connections", NULL},
	END,
};

const cmd_def cmd_client_table[] = {
	{"client", cmd_client, -2, 0, 0, 0, 0, "connection",
	 "A container for client connection commands.", "2.4.0",
	 "Depends on subcommand.", client_subs},
	END,
};
