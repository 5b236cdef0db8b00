/*
 * cmd_docs.h - the "arguments" of COMMAND DOCS, which redis-cli's
 * interactive mode turns into argument hints.
 *
 * cmd_docs.c keeps each command's syntax as redis.io writes it ("key value
 * [NX | XX] ...") and parses it into Redis 7's argument maps on demand.
 */
#ifndef CMD_DOCS_H
#define CMD_DOCS_H

#include <stdbool.h>

#include "resp_write.h"

/* The syntax string of a command ("set", "client|kill"; lower case), or
 * NULL when the command takes no arguments or has no entry. */
const char *cmd_docs_syntax(const char *name);

/* Whether COMMAND DOCS gives an "arguments" entry for the command. */
bool cmd_docs_has_arguments(const char *name);

/* Appends the "arguments" array (of argument maps, Redis 7's shape) for the
 * command.  Call only when cmd_docs_has_arguments(name) is true: it always
 * appends exactly one reply. */
void cmd_docs_add_arguments(resp_buf *b, const char *name);

#endif
