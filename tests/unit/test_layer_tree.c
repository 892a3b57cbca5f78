#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer_util.h"
#include "t.h"

/*
 * Whole-tree access to a stack: the walk, the object behind a node and
 * its attributes, on real directories.
 */

struct seen {
	char paths[64][128];
	char kinds[64]; /* 'd' entered dir, 'f' other, 'l' left dir */
	size_t n;
	const char *skip; /* a directory not to enter */
};

static int
seen_enter(void *arg, const struct layer_walk_ent *e)
{
	struct seen *s = arg;

	if (s->n < 64) {
		snprintf(s->paths[s->n], sizeof(s->paths[0]), "%s", e->path);
		s->kinds[s->n++] = e->node->type == S_IFDIR ? 'd' : 'f';
	}
	return s->skip && strcmp(e->path, s->skip) == 0 ? LAYER_WALK_SKIP : 0;
}

static int
seen_leave(void *arg, const struct layer_walk_ent *e)
{
	struct seen *s = arg;

	if (s->n < 64) {
		snprintf(s->paths[s->n], sizeof(s->paths[0]), "%s", e->path);
		s->kinds[s->n++] = 'l';
	}
	return 0;
}

static ssize_t
seen_find(const struct seen *s, const char *path, char kind)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (s->kinds[i] == kind && strcmp(s->paths[i], path) == 0) {
			return (ssize_t)i;
		}
	}
	return -1;
}

TEST(layer_walk_merged_tree)
{
	static const struct layer_walk_ops ops = {
	    .enter = seen_enter,
	    .leave = seen_leave,
	};
	struct seen s = {0};
	struct lt t;

	lt_init(&t, t_tmpdir(), 1);
	lt_base_tree(&t);
	CHECK(lt_open(&t, true) == 0);
	CHECK(lt_unlink(&t, NULL, "d/y", false) == 0);
	CHECK(lt_make(&t, NULL, "e/new", S_IFREG, 0644) == 0);
	CHECK(layer_walk(t.st, "", &ops, &s) == 0);
	/* Root, a, d, d/x, e, e/new: the whited-out d/y is not there. */
	CHECK(seen_find(&s, "", 'd') == 0);
	CHECK(seen_find(&s, "a", 'f') > 0);
	CHECK(seen_find(&s, "d/x", 'f') > seen_find(&s, "d", 'd'));
	CHECK(seen_find(&s, "d", 'l') > seen_find(&s, "d/x", 'f'));
	CHECK(seen_find(&s, "d/y", 'f') < 0);
	CHECK(seen_find(&s, "e/new", 'f') > 0);
	CHECK(seen_find(&s, "", 'l') == (ssize_t)s.n - 1);
	CHECK_EQ(s.n, 9);
	/* A directory the caller skips: no content, still left. */
	memset(&s, 0, sizeof(s));
	s.skip = "d";
	CHECK(layer_walk(t.st, "", &ops, &s) == 0);
	CHECK(seen_find(&s, "d/x", 'f') < 0);
	CHECK(seen_find(&s, "d", 'l') > 0);
	/* From a subdirectory, and a path that is not there. */
	memset(&s, 0, sizeof(s));
	CHECK(layer_walk(t.st, "e", &ops, &s) == 0);
	CHECK_EQ(s.n, 3);
	CHECK(seen_find(&s, "e/new", 'f') == 1);
	CHECK_EQ(layer_walk(t.st, "nope", &ops, &s), -ENOENT);
	lt_close(&t);
}

static int
stop_at_x(void *arg, const struct layer_walk_ent *e)
{
	(void)arg;
	return strcmp(e->name, "x") == 0 ? -EINTR : 0;
}

TEST(layer_walk_stops_on_error)
{
	static const struct layer_walk_ops ops = {.enter = stop_at_x};
	struct lt t;

	lt_init(&t, t_tmpdir(), 1);
	lt_base_tree(&t);
	CHECK(lt_open(&t, false) == 0);
	CHECK_EQ(layer_walk(t.st, "", &ops, NULL), -EINTR);
	lt_close(&t);
}

TEST(layer_walk_depth_limit)
{
	static const struct layer_walk_ops ops = {.enter = NULL};
	char p[4096];
	struct lt t;
	size_t n, i;

	lt_init(&t, t_tmpdir(), 1);
	lt_path(p, sizeof(p), "%s", t.v[0]);
	n = strlen(p);
	for (i = 0; i < LAYER_WALK_DEPTH + 2 && n + 3 < sizeof(p); i++) {
		memcpy(p + n, "/d", 3);
		n += 2;
		CHECK(mkdir(p, 0755) == 0);
	}
	CHECK(lt_open(&t, false) == 0);
	CHECK_EQ(layer_walk(t.st, "", &ops, NULL), -ELOOP);
	lt_close(&t);
}

TEST(layer_node_instance_and_meta)
{
	struct layer_node *n;
	struct stat a, b;
	char p[512], v[16];
	bool client = true;
	int fd, dst;

	struct lt t;

	lt_init(&t, t_tmpdir(), 1);
	lt_base_tree(&t);
	lt_path(p, sizeof(p), "%s/d", t.v[0]);
	CHECK(setxattr(p, "user.keep", "k", 1, 0) == 0);
	CHECK(setxattr(p, "user.overlay.opaque", "x", 1, 0) == 0);
	CHECK(chmod(p, 0750) == 0);
	CHECK(lt_open(&t, true) == 0);
	/* A version file shows itself. */
	n = lt_node(&t, "a");
	fd = layer_node_instance(t.st, n, &client);
	CHECK(fd >= 0 && !client);
	lt_path(p, sizeof(p), "%s/a", t.v[0]);
	CHECK(fstatat(fd, "", &a, AT_EMPTY_PATH) == 0 && stat(p, &b) == 0);
	CHECK(a.st_ino == b.st_ino);
	close(fd);
	/* After a write, its copy does, and is the client's. */
	CHECK(lt_put(&t, NULL, "a", "changed\n") == 0);
	layer_node_free(n);
	n = lt_node(&t, "a");
	fd = layer_node_instance(t.st, n, &client);
	CHECK(fd >= 0 && client);
	CHECK(fstatat(fd, "", &a, AT_EMPTY_PATH) == 0 && a.st_ino != b.st_ino);
	CHECK_EQ(a.st_size, 8);
	close(fd);
	layer_node_free(n);
	/* A directory: its top instance, and its attributes without markers. */
	n = lt_node(&t, "d");
	fd = layer_node_instance(t.st, n, &client);
	CHECK(fd >= 0 && !client);
	close(fd);
	lt_path(p, sizeof(p), "%s/copy", t.dir);
	CHECK(mkdir(p, 0700) == 0);
	dst = open(p, O_RDONLY | O_DIRECTORY);
	CHECK(layer_node_copy_meta(t.st, n, dst, true) == 0);
	CHECK(fstat(dst, &a) == 0 && (a.st_mode & 07777) == 0750);
	CHECK(fgetxattr(dst, "user.keep", v, sizeof(v)) == 1);
	CHECK(fgetxattr(dst, "user.overlay.opaque", v, sizeof(v)) < 0);
	close(dst);
	layer_node_free(n);
	lt_close(&t);
}
