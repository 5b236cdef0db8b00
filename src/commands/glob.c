/*
 * glob.c - Redis's glob matching (stringmatchlen), for KEYS, SCAN MATCH,
 * CONFIG GET and COMMAND LIST FILTERBY PATTERN.
 *
 * The rules: '*' any run of bytes, '?' one byte, '[abc]' '[^abc]' '[a-z]'
 * a class (a reversed range is turned round; an unterminated class ends at
 * the pattern's end), '\x' the byte x; in a class '\' escapes the next
 * byte too.  Nothing matches the empty string except the empty pattern
 * (callers treat a lone "*" as "everything" before matching, as Redis
 * does).  Like Redis on x86, range bounds compare as signed chars.
 *
 * Work is bounded as in Redis: recursion stops at depth 1000, and once
 * the rest of the pattern after a '*' failed to match at every position,
 * no earlier '*' tries longer matches (the answer cannot change).
 * With nocase, bytes and range bounds compare lower-cased. */
#include "glob.h"

#include <ctype.h>

static int fold(char c, bool nocase)
{
	return nocase ? tolower((unsigned char)c) : (signed char)c;
}

static bool glob_impl(const char *p, size_t plen, const char *s, size_t slen,
		      bool nocase, bool *give_up, int depth)
{
	if (depth > 1000)
		return false;
	while (plen > 0 && slen > 0) {
		switch (p[0]) {
		case '*':
			while (plen > 1 && p[1] == '*') {
				p++;
				plen--;
			}
			if (plen == 1)
				return true;
			while (slen > 0) {
				if (glob_impl(p + 1, plen - 1, s, slen, nocase,
					      give_up, depth + 1))
					return true;
				if (*give_up)
					return false;
				s++;
				slen--;
			}
			*give_up = true;
			return false;
		case '?':
			s++;
			slen--;
			break;
		case '[': {
			p++;
			plen--;
			bool negate = plen > 0 && p[0] == '^';
			if (negate) {
				p++;
				plen--;
			}
			bool hit = false;
			for (;;) {
				if (plen >= 2 && p[0] == '\\') {
					p++;
					plen--;
					if (fold(p[0], nocase) ==
					    fold(s[0], nocase))
						hit = true;
				} else if (plen == 0) {
					/* Unterminated: the class ends here;
					 * step back so the common step below
					 * lands on the pattern's end. */
					p--;
					plen++;
					break;
				} else if (p[0] == ']') {
					break;
				} else if (plen >= 3 && p[1] == '-') {
					int lo = fold(p[0], nocase);
					int hi = fold(p[2], nocase);
					int c = fold(s[0], nocase);
					if (lo > hi) {
						int t = lo;
						lo = hi;
						hi = t;
					}
					p += 2;
					plen -= 2;
					if (c >= lo && c <= hi)
						hit = true;
				} else if (fold(p[0], nocase) ==
					   fold(s[0], nocase)) {
					hit = true;
				}
				p++;
				plen--;
			}
			if (negate)
				hit = !hit;
			if (!hit)
				return false;
			s++;
			slen--;
			break;
		}
		case '\\':
			if (plen >= 2) {
				p++;
				plen--;
			}
			/* fall through */
		default:
			if (fold(p[0], nocase) != fold(s[0], nocase))
				return false;
			s++;
			slen--;
			break;
		}
		p++;
		plen--;
		if (slen == 0) {
			while (plen > 0 && p[0] == '*') {
				p++;
				plen--;
			}
			break;
		}
	}
	return plen == 0 && slen == 0;
}

bool cmd_glob_match(const char *pat, size_t plen, const void *s, size_t slen,
		    bool nocase)
{
	bool give_up = false;
	return glob_impl(pat, plen, s, slen, nocase, &give_up, 0);
}
