#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"

static struct t_case *t_head, **t_tail = &t_head;
static int t_failures;
static char t_dir[64];

void
t_register(struct t_case *tc)
{
	*t_tail = tc;
	t_tail = &tc->next;
}

void
t_fail(const char *file, int line, const char *expr)
{
	fprintf(stderr, "%s:%d: %s\n", file, line, expr);
	t_failures++;
}

void
t_fail_eq(
    const char *file, int line, const char *expr, long long a, long long b)
{
	fprintf(stderr, "%s:%d: %s (%lld != %lld)\n", file, line, expr, a, b);
	t_failures++;
}

static void
t_rmdir(void)
{
	char cmd[128];

	if (t_dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t_dir);
		if (system(cmd) != 0) {
			fprintf(stderr, "could not remove %s\n", t_dir);
		}
		t_dir[0] = 0;
	}
}

const char *
t_tmpdir(void)
{
	t_rmdir();
	snprintf(t_dir, sizeof(t_dir), "/tmp/pnb-test-XXXXXX");
	if (!mkdtemp(t_dir)) {
		perror("mkdtemp");
		exit(2);
	}
	return t_dir;
}

int
main(int argc, char **argv)
{
	const char *pattern = argc > 1 ? argv[1] : "*";
	int passed = 0, failed = 0;
	struct t_case *tc;

	for (tc = t_head; tc; tc = tc->next) {
		int before = t_failures;

		if (fnmatch(pattern, tc->name, 0) != 0) {
			continue;
		}
		tc->fn();
		t_rmdir();
		if (t_failures == before) {
			printf("PASS: %s\n", tc->name);
			passed++;
		} else {
			printf("FAIL: %s\n", tc->name);
			failed++;
		}
		fflush(stdout);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
