/*
 * test_glob.c - Redis's glob patterns (cmd_glob_match).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "glob.h"

static bool m(const char *pat, const char *s, bool nocase)
{
	return cmd_glob_match(pat, strlen(pat), s, strlen(s), nocase);
}

Test(glob, stars_questions_and_classes)
{
	cr_assert(m("*", "anything", false));
	cr_assert(m("h?llo", "hello", false));
	cr_assert(m("h*llo", "heeeello", false));
	cr_assert(m("h[ae]llo", "hallo", false));
	cr_assert_not(m("h[ae]llo", "hillo", false));
	cr_assert(m("h[^e]llo", "hallo", false));
	cr_assert_not(m("h[^e]llo", "hello", false));
	cr_assert(m("h[a-b]llo", "hbllo", false));
	cr_assert(m("h[b-a]llo", "hallo", false), "a reversed range turns");
	cr_assert(m("a\\*b", "a*b", false));
	cr_assert_not(m("a\\*b", "axb", false));
	cr_assert_not(m("abc", "abcd", false));
	cr_assert(m("*x*y*", "--x--y--", false));
}

Test(glob, nocase_folds_bytes_and_ranges)
{
	cr_assert_not(m("MAXMEMORY*", "maxmemory-policy", false));
	cr_assert(m("MAXMEMORY*", "maxmemory-policy", true));
	cr_assert(m("[A-C]x", "bx", true));
	cr_assert_not(m("[A-C]x", "bx", false));
}

Test(glob, binary_bytes_match_themselves)
{
	const char key[] = {'a', 0, 'b'};
	cr_assert(cmd_glob_match("a?b", 3, key, 3, false));
	cr_assert(cmd_glob_match("a*", 2, key, 3, false));
}
