/*
 * glob.h - Redis's glob patterns (stringmatchlen): see glob.c.
 */
#ifndef CMD_GLOB_H
#define CMD_GLOB_H

#include <stdbool.h>
#include <stddef.h>

/* True if s[0..slen) matches the pattern pat[0..plen).  Any thread. */
bool cmd_glob_match(const char *pat, size_t plen, const void *s, size_t slen,
		    bool nocase);

#endif
