#ifndef PNB_TESTS_T_H
#define PNB_TESTS_T_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * A tiny test runner.  TEST(name) defines and registers a test; CHECK*
 * record a failure with file:line and the expression, and let the test
 * continue so one run shows every broken assertion.
 */
struct t_case {
	const char *name;
	void (*fn)(void);
	struct t_case *next;
};

void t_register(struct t_case *tc);
void t_fail(const char *file, int line, const char *expr);
void t_fail_eq(
    const char *file, int line, const char *expr, long long a, long long b);

#define TEST(name)                                                             \
	static void test_##name(void);                                         \
	static struct t_case t_case_##name = {#name, test_##name, NULL};       \
	__attribute__((constructor)) static void t_reg_##name(void)            \
	{                                                                      \
		t_register(&t_case_##name);                                    \
	}                                                                      \
	static void test_##name(void)

#define CHECK(expr)                                                            \
	do {                                                                   \
		if (!(expr))                                                   \
			t_fail(__FILE__, __LINE__, #expr);                     \
	} while (0)

#define CHECK_EQ(a, b)                                                         \
	do {                                                                   \
		long long t_a_ = (long long)(a), t_b_ = (long long)(b);        \
		if (t_a_ != t_b_)                                              \
			t_fail_eq(                                             \
			    __FILE__, __LINE__, #a " == " #b, t_a_, t_b_);     \
	} while (0)

#define CHECK_MEM(a, b, n)                                                     \
	do {                                                                   \
		if (memcmp((a), (b), (n)) != 0)                                \
			t_fail(__FILE__, __LINE__,                             \
			    "memcmp(" #a ", " #b ", " #n ") == 0");            \
	} while (0)

#define CHECK_STR(a, b)                                                        \
	do {                                                                   \
		if (strcmp((a), (b)) != 0)                                     \
			t_fail(__FILE__, __LINE__, #a " equals " #b);          \
	} while (0)

/* t_tmpdir() - a fresh directory for this test, removed at exit. */
const char *t_tmpdir(void);

#endif
