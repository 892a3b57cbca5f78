#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "layer_util.h"
#include "t.h"

/*
 * Crash safety: a child process runs one change and kills itself with
 * SIGKILL at its Nth step (the stack's fault seam is called before every
 * change the library makes to a layer), for every N until the change
 * completes.  After each, the stack is opened again: the merged tree is
 * the old one or the new one, never something between (a partial file,
 * a half-made directory), and no temporary is left.  The same steps
 * failed in-process instead of killed must leave old or new as well.
 */

#define SNAP 16384

struct scenario {
	const char *name;
	void (*pre)(struct lt *t);
	int (*op)(struct lt *t);
};

static void
base_tree(struct lt *t)
{
	char p[512];

	lt_base_tree(t);
	lt_path(p, sizeof(p), "%s/p", t->v[0]);
	CHECK(mkdir(p, 0755) == 0);
	lt_path(p, sizeof(p), "%s/p/q", t->v[0]);
	CHECK(mkdir(p, 0755) == 0);
	lt_path(p, sizeof(p), "%s/p/q/r", t->v[0]);
	CHECK(mkdir(p, 0755) == 0);
}

/* The merged tree as text: names, kinds, modes, owners and contents. */
static void
snap_dir(struct lt *t, const char *path, char *out, size_t *at)
{
	char names[4096], *save = NULL, *name, child[1024];

	lt_names(t, path, names, sizeof(names));
	for (name = strtok_r(names, ",", &save); name;
	     name = strtok_r(NULL, ",", &save)) {
		struct layer_node *n;
		struct stat s;
		char *data = NULL;

		snprintf(child, sizeof(child), "%s%s%s", path, *path ? "/" : "",
		    name);
		n = lt_node(t, child);
		if (!n || layer_getattr(t->st, n, &s) < 0) {
			*at += (size_t)snprintf(
			    out + *at, SNAP - *at, "%s: unreadable\n", child);
			layer_node_free(n);
			continue;
		}
		if (S_ISREG(s.st_mode)) {
			data = lt_read(t, child);
		}
		*at +=
		    (size_t)snprintf(out + *at, SNAP - *at, "%s %o %u:%u %s\n",
			child, s.st_mode, s.st_uid, s.st_gid, data ? data : "");
		free(data);
		layer_node_free(n);
		if (S_ISDIR(s.st_mode) && *at < SNAP - 1024) {
			snap_dir(t, child, out, at);
		}
	}
}

static char *
snapshot(struct lt *t)
{
	char *out = calloc(1, SNAP);
	size_t at = 0;

	snap_dir(t, "", out, &at);
	return out;
}

static void
reset(struct lt *t)
{
	char cmd[700];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", t->client, t->index);
	CHECK(system(cmd) == 0);
	CHECK(mkdir(t->client, 0755) == 0 && mkdir(t->index, 0700) == 0);
}

/* Is there a name starting with '#' anywhere under @dir? */
static bool
has_temporary(const char *dir)
{
	char cmd[700];

	snprintf(cmd, sizeof(cmd),
	    "test -z \"$(find '%s' -name '#*' -print -quit)\"", dir);
	return system(cmd) != 0;
}

static int kill_at, steps;

static int
crash_hook(void *arg, const char *step)
{
	(void)arg;
	(void)step;
	if (++steps == kill_at) {
		raise(SIGKILL);
	}
	return 0;
}

static int
fail_hook(void *arg, const char *step)
{
	(void)arg;
	(void)step;
	return ++steps == kill_at;
}

static void
run_scenario(const struct scenario *sc)
{
	struct lt t;
	char *old, *new, *now;
	int n, status, crashed = 0;

	lt_init(&t, t_tmpdir(), 1);
	base_tree(&t);
	CHECK(lt_open(&t, true) == 0);
	sc->pre(&t);
	old = snapshot(&t);
	CHECK(sc->op(&t) == 0);
	new = snapshot(&t);
	CHECK(strcmp(old, new) != 0);
	lt_close(&t);
	for (n = 1; n < 100; n++) {
		pid_t pid;

		reset(&t);
		CHECK(lt_open(&t, true) == 0);
		sc->pre(&t);
		lt_close(&t);
		pid = fork();
		if (pid == 0) {
			if (lt_open(&t, true) < 0) {
				_exit(3);
			}
			steps = 0;
			kill_at = n;
			layer_stack_set_hook(t.st, crash_hook, NULL);
			_exit(sc->op(&t) == 0 ? 0 : 4);
		}
		CHECK(waitpid(pid, &status, 0) == pid);
		CHECK(lt_open(&t, true) == 0);
		now = snapshot(&t);
		if (strcmp(now, old) != 0 && strcmp(now, new) != 0) {
			fprintf(stderr, "%s: killed at step %d:\n%s", sc->name,
			    n, now);
			CHECK(!"old or new after a kill");
		}
		CHECK(!has_temporary(t.index));
		CHECK(!has_temporary(t.client));
		free(now);
		lt_close(&t);
		if (WIFEXITED(status)) {
			CHECK_EQ(WEXITSTATUS(status), 0);
			break;
		}
		crashed++;
		/* The same step failing instead: old or new, and no leftovers.
		 */
		reset(&t);
		CHECK(lt_open(&t, true) == 0);
		sc->pre(&t);
		steps = 0;
		kill_at = n;
		layer_stack_set_hook(t.st, fail_hook, NULL);
		CHECK(sc->op(&t) < 0);
		layer_stack_set_hook(t.st, NULL, NULL);
		now = snapshot(&t);
		CHECK(strcmp(now, old) == 0 || strcmp(now, new) == 0);
		CHECK(!has_temporary(t.client));
		free(now);
		lt_close(&t);
		CHECK(lt_open(&t, true) == 0);
		CHECK(!has_temporary(t.index));
		lt_close(&t);
	}
	/* Every scenario has a step to crash in. */
	CHECK(crashed >= 1);
	free(old);
	free(new);
}

static void
pre_nothing(struct lt *t)
{
	(void)t;
}

static void
pre_client_file(struct lt *t)
{
	CHECK(lt_make(t, NULL, "c", S_IFREG, 0600) == 0);
	CHECK(lt_put(t, NULL, "c", "client c\n") == 0);
}

static void
pre_empty_d(struct lt *t)
{
	CHECK(lt_unlink(t, NULL, "d/x", false) == 0);
	CHECK(lt_unlink(t, NULL, "d/y", false) == 0);
}

static void
pre_removed_d(struct lt *t)
{
	pre_empty_d(t);
	CHECK(lt_unlink(t, NULL, "d", true) == 0);
}

static void
pre_copied_a(struct lt *t)
{
	CHECK(lt_put(t, NULL, "a", "changed a\n") == 0);
}

static int
op_write(struct lt *t)
{
	return lt_put(t, NULL, "d/x", "new x\n");
}

static int
op_unlink(struct lt *t)
{
	return lt_unlink(t, NULL, "a", false);
}

static int
op_rename_version(struct lt *t)
{
	return lt_rename(t, NULL, "a", "e/a2");
}

static int
op_rename_over_version(struct lt *t)
{
	return lt_rename(t, NULL, "c", "d/x");
}

static int
op_mkdir_over_whiteout(struct lt *t)
{
	return lt_make(t, NULL, "d", S_IFDIR, 0700);
}

static int
op_rmdir(struct lt *t)
{
	return lt_unlink(t, NULL, "d", true);
}

static int
op_link(struct lt *t)
{
	return lt_link(t, NULL, "d/x", "e/l");
}

static int
op_chmod_deep(struct lt *t)
{
	struct layer_sattr sa = {.set_mode = true,
	    .mode = 0700,
	    .atime = {0, UTIME_OMIT},
	    .mtime = {0, UTIME_OMIT}};
	struct layer_node *n = lt_node(t, "p/q/r");
	int r = n ? layer_setattr(t->st, NULL, n, &sa) : -ENOENT;

	layer_node_free(n);
	return r;
}

static void
pre_dir_n(struct lt *t)
{
	pre_empty_d(t);
	CHECK(lt_make(t, NULL, "n", S_IFDIR, 0755) == 0);
	CHECK(lt_make(t, NULL, "n/f", S_IFREG, 0644) == 0);
}

static void
pre_dir_n_removed_a(struct lt *t)
{
	pre_dir_n(t);
	CHECK(lt_unlink(t, NULL, "a", false) == 0);
}

static int
op_rename_dir_over_whiteout(struct lt *t)
{
	return lt_rename(t, NULL, "n", "a");
}

static int
op_rename_dir_over_merged(struct lt *t)
{
	return lt_rename(t, NULL, "n", "d");
}

static const struct scenario scenarios[] = {
    {"copy-up by write", pre_nothing, op_write},
    {"whiteout", pre_nothing, op_unlink},
    {"free a copy", pre_copied_a, op_unlink},
    {"rename a version file", pre_nothing, op_rename_version},
    {"rename over a version file", pre_client_file, op_rename_over_version},
    {"mkdir over a whiteout", pre_removed_d, op_mkdir_over_whiteout},
    {"rmdir of a merged directory", pre_empty_d, op_rmdir},
    {"link a version file", pre_nothing, op_link},
    {"chmod copies up parents", pre_nothing, op_chmod_deep},
};

TEST(layer_crash_leaves_old_or_new)
{
	size_t i;

	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		run_scenario(&scenarios[i]);
	}
}

TEST(layer_crash_in_rename_of_dir_over_merged_dir)
{
	static const struct scenario sc = {
	    "rename over a merged dir", pre_dir_n, op_rename_dir_over_merged};

	static const struct scenario wh = {"rename a dir over a whiteout",
	    pre_dir_n_removed_a, op_rename_dir_over_whiteout};

	run_scenario(&sc);
	run_scenario(&wh);
}
