/*
 * A stand-in for the part of Criterion's API that our tests use, for
 * ThreadSanitizer builds only (make SANITIZE=thread).
 *
 * Why: Criterion 2.4's runner (BoxFort) maps its shared arena at addresses
 * ThreadSanitizer reserves, so under TSan it fails to start ("Could not
 * initialize inheritable arena") or crashes inside libcriterion.  The TSan
 * build therefore compiles the very same test files against this header
 * and links tests/tsan/runner.c, which runs each test in its own forked
 * process, like Criterion, and ends with Criterion's summary line.
 *
 * Supported: Test(suite, name, .init, .fini, .timeout, .disabled,
 * .description), TestSuite(suite, ...) with the same fields, the cr_assert*
 * family used in tests/ (with optional printf-style messages),
 * cr_expect / cr_expect_eq (non-fatal) and cr_skip_test (the child exits
 * with TSR_SKIPPED; the runner reports it as skipped, not as tested).
 */
#ifndef TSAN_CRITERION_H
#define TSAN_CRITERION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

struct criterion_test_extra_data {
	void (*init)(void);
	void (*fini)(void);
	double timeout;
	bool disabled;
	const char *description;
};

void tsr_register_test(const char *suite, const char *name, void (*fn)(void),
		       struct criterion_test_extra_data extra);
void tsr_register_suite(const char *suite,
			struct criterion_test_extra_data extra);
/* Reports a failed assertion; fatal ones end the test. */
void tsr_fail(bool fatal, const char *file, int line, const char *expr,
	      const char *fmt, ...);

/* Ends the test as skipped, after printing the reason. */
__attribute__((noreturn, format(printf, 1, 2))) void tsr_skip(const char *fmt,
							      ...);
#define TSR_SKIPPED 77

#define TSR_EXTRA(...) ((struct criterion_test_extra_data){__VA_ARGS__})

#define Test(suite, name, ...)                                                 \
	static void suite##_##name##_impl(void);                               \
	__attribute__((constructor)) static void suite##_##name##_reg(void)    \
	{                                                                      \
		tsr_register_test(#suite, #name, suite##_##name##_impl,        \
				  TSR_EXTRA(__VA_ARGS__));                     \
	}                                                                      \
	static void suite##_##name##_impl(void)

#define TestSuite(suite, ...)                                                  \
	__attribute__((constructor)) static void suite##_suite_reg(void)       \
	{                                                                      \
		tsr_register_suite(#suite, TSR_EXTRA(__VA_ARGS__));            \
	}

#define TSR_CHECK(fatal, cond, expr, ...)                                      \
	do {                                                                   \
		if (!(cond))                                                   \
			tsr_fail(fatal, __FILE__, __LINE__, expr,              \
				 "" __VA_ARGS__);                              \
	} while (0)

#define cr_skip_test(...) tsr_skip("" __VA_ARGS__)
#define cr_assert(c, ...) TSR_CHECK(true, (c), #c, __VA_ARGS__)
#define cr_expect(c, ...) TSR_CHECK(false, (c), #c, __VA_ARGS__)
#define cr_assert_not(c, ...) TSR_CHECK(true, !(c), "!(" #c ")", __VA_ARGS__)
#define cr_assert_eq(a, b, ...)                                                \
	TSR_CHECK(true, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_expect_eq(a, b, ...)                                                \
	TSR_CHECK(false, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...)                                               \
	TSR_CHECK(true, (a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...)                                                \
	TSR_CHECK(true, (a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...)                                               \
	TSR_CHECK(true, (a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...)                                                \
	TSR_CHECK(true, (a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...)                                               \
	TSR_CHECK(true, (a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_assert_null(a, ...)                                                 \
	TSR_CHECK(true, (a) == NULL, #a " == NULL", __VA_ARGS__)
#define cr_assert_not_null(a, ...)                                             \
	TSR_CHECK(true, (a) != NULL, #a " != NULL", __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...)                                            \
	TSR_CHECK(true, strcmp((a), (b)) == 0, #a " eq " #b, __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...)                                           \
	TSR_CHECK(true, strcmp((a), (b)) != 0, #a " neq " #b, __VA_ARGS__)
#define cr_assert_arr_eq(a, b, n, ...)                                         \
	TSR_CHECK(true, memcmp((a), (b), (n)) == 0, #a " arr_eq " #b,          \
		  __VA_ARGS__)

#endif
