/*
 * runner.c - the test runner of ThreadSanitizer builds (see
 * criterion/criterion.h beside it for why).  Runs each registered test in
 * a forked child, two at a time, with the suite's or test's timeout, and
 * ends with Criterion's summary line.
 *
 *   unit-tests [--filter GLOB] [--jobs N]
 */
#include <fnmatch.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "criterion/criterion.h"

struct test {
	const char *suite, *name;
	void (*fn)(void);
	struct criterion_test_extra_data extra;
	pid_t pid;
};

struct suite {
	const char *name;
	struct criterion_test_extra_data extra;
};

static struct test *tests;
static int ntests, tests_cap;
static struct suite suites[64];
static int nsuites;
static int expect_failures; /* in the child: failed non-fatal checks */

void tsr_register_test(const char *suite, const char *name, void (*fn)(void),
		       struct criterion_test_extra_data extra)
{
	if (ntests == tests_cap) {
		tests_cap = tests_cap ? tests_cap * 2 : 256;
		tests = realloc(tests, (size_t)tests_cap * sizeof(*tests));
		if (tests == NULL)
			abort();
	}
	tests[ntests++] = (struct test){suite, name, fn, extra, 0};
}

void tsr_register_suite(const char *suite,
			struct criterion_test_extra_data extra)
{
	if (nsuites < 64)
		suites[nsuites++] = (struct suite){suite, extra};
}

void tsr_fail(bool fatal, const char *file, int line, const char *expr,
	      const char *fmt, ...)
{
	fprintf(stderr, "[----] %s:%d: Assertion Failed: %s", file, line, expr);
	if (fmt[0] != '\0') {
		va_list ap;
		va_start(ap, fmt);
		fputs(": ", stderr);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
	}
	fputc('\n', stderr);
	if (fatal)
		_exit(1);
	expect_failures++;
}

void tsr_skip(const char *fmt, ...)
{
	fputs("[SKIP] ", stderr);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(NULL);
	_exit(TSR_SKIPPED);
}

static struct criterion_test_extra_data settings(const struct test *t)
{
	struct criterion_test_extra_data e = {0};
	for (int i = 0; i < nsuites; i++)
		if (strcmp(suites[i].name, t->suite) == 0)
			e = suites[i].extra;
	if (t->extra.init)
		e.init = t->extra.init;
	if (t->extra.fini)
		e.fini = t->extra.fini;
	if (t->extra.timeout > 0)
		e.timeout = t->extra.timeout;
	e.disabled |= t->extra.disabled;
	return e;
}

static pid_t start(struct test *t)
{
	struct criterion_test_extra_data e = settings(t);
	fflush(NULL);
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	if (e.timeout > 0)
		alarm((unsigned)(e.timeout + 0.999));
	if (e.init)
		e.init();
	t->fn();
	if (e.fini)
		e.fini();
	fflush(NULL);
	_exit(expect_failures ? 1 : 0);
}

int main(int argc, char **argv)
{
	const char *filter = "*";
	int jobs = 2;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc)
			filter = argv[++i];
		else if (strncmp(argv[i], "--filter=", 9) == 0)
			filter = argv[i] + 9;
		else if (strcmp(argv[i], "--jobs") == 0 && i + 1 < argc)
			jobs = atoi(argv[++i]);
		else if (strncmp(argv[i], "--jobs=", 7) == 0)
			jobs = atoi(argv[i] + 7);
	}
	if (jobs < 1)
		jobs = 1;
	int tested = 0, passed = 0, failed = 0, crashed = 0, skipped = 0;
	int running = 0;
	int next = 0;
	for (;;) {
		while (running < jobs && next < ntests) {
			struct test *t = &tests[next++];
			char full[256];
			snprintf(full, sizeof(full), "%s/%s", t->suite,
				 t->name);
			if (fnmatch(filter, full, 0) != 0 ||
			    settings(t).disabled)
				continue;
			t->pid = start(t);
			running++;
		}
		if (running == 0)
			break;
		int st;
		pid_t pid = wait(&st);
		if (pid < 0)
			break;
		for (int i = 0; i < next; i++) {
			struct test *t = &tests[i];
			if (t->pid != pid)
				continue;
			t->pid = 0;
			running--;
			if (WIFEXITED(st) && WEXITSTATUS(st) == TSR_SKIPPED) {
				skipped++;
				printf("[SKIP] %s::%s\n", t->suite, t->name);
				fflush(stdout);
				break;
			}
			tested++;
			if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
				passed++;
			} else if (WIFEXITED(st)) {
				failed++;
				printf("[FAIL] %s::%s\n", t->suite, t->name);
			} else {
				crashed++;
				printf("[FAIL] %s::%s: CRASH! (signal %d)\n",
				       t->suite, t->name, WTERMSIG(st));
			}
			fflush(stdout);
			break;
		}
	}
	printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | "
	       "Crashing: %d \n",
	       tested, passed, failed, crashed);
	if (skipped)
		printf("[====] Skipped: %d\n", skipped);
	return (failed || crashed) ? 1 : 0;
}
