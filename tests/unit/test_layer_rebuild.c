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
 * Client layers made anew: identity trees applied, paths carried from
 * one stack to another, and a whole layer moved to another version.
 */

/* A second client layer and index beside @t's, over the same versions. */
static int
open_beside(struct lt *t, const char *name, size_t nv, bool top_first,
    struct layer_stack **out)
{
	struct layer_stack_conf c = {.atfd = AT_FDCWD, .nosync = true};
	static char cl[2][512], ix[2][512];
	static int which;
	size_t i;

	which ^= 1;
	lt_path(cl[which], sizeof(cl[0]), "%s/%s", t->dir, name);
	lt_path(ix[which], sizeof(ix[0]), "%s/%s.index", t->dir, name);
	mkdir(cl[which], 0755);
	mkdir(ix[which], 0700);
	c.client = cl[which];
	c.index = ix[which];
	c.nversions = nv;
	for (i = 0; i < nv; i++) {
		c.versions[i] = t->v[top_first ? nv - 1 - i : i];
	}
	return layer_stack_open(&c, out, NULL);
}

static char *
read_in(struct layer_stack *st, const char *path)
{
	struct layer_node *n = NULL;
	static char buf[4096];
	ssize_t k;
	int fd;

	if (layer_lookup_path(st, path, &n) < 0) {
		return NULL;
	}
	fd = layer_open_data(st, NULL, n, O_RDONLY);
	layer_node_free(n);
	if (fd < 0) {
		return NULL;
	}
	k = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[k > 0 ? k : 0] = 0;
	return buf;
}

static bool
content_is(struct layer_stack *st, const char *path, const char *want)
{
	const char *got = read_in(st, path);

	return got && strcmp(got, want) == 0;
}

static bool
absent(struct layer_stack *st, const char *path)
{
	struct layer_node *n = NULL;
	int r = layer_lookup_path(st, path, &n);

	layer_node_free(n);
	return r == -ENOENT;
}

static uint64_t
ino_of(struct layer_stack *st, const char *path, bool *client)
{
	struct layer_node *n = NULL;
	struct stat s;
	int fd;

	if (layer_lookup_path(st, path, &n) < 0) {
		return 0;
	}
	fd = layer_node_instance(st, n, client);
	layer_node_free(n);
	if (fd < 0 || fstatat(fd, "", &s, AT_EMPTY_PATH) < 0) {
		return 0;
	}
	close(fd);
	return s.st_ino;
}

/* A base with etc/{hostname,keep,ssh/key} besides lt_base_tree(). */
static void
base_with_etc(struct lt *t)
{
	char p[512];

	lt_base_tree(t);
	lt_path(p, sizeof(p), "%s/etc", t->v[0]);
	CHECK(mkdir(p, 0755) == 0);
	lt_path(p, sizeof(p), "%s/etc/ssh", t->v[0]);
	CHECK(mkdir(p, 0755) == 0);
	lt_path(p, sizeof(p), "%s/etc/hostname", t->v[0]);
	CHECK(lt_write(p, "raspberrypi\n") == 0);
	lt_path(p, sizeof(p), "%s/etc/keep", t->v[0]);
	CHECK(lt_write(p, "k\n") == 0);
	lt_path(p, sizeof(p), "%s/etc/ssh/key", t->v[0]);
	CHECK(lt_write(p, "shared key\n") == 0);
}

/* An identity tree: etc/hostname = @host, etc/ssh/key whited out. */
static int
identity_tree(struct lt *t, const char *name, const char *host)
{
	char p[512];

	lt_path(p, sizeof(p), "%s/%s", t->dir, name);
	CHECK(mkdir(p, 0755) == 0);
	lt_path(p, sizeof(p), "%s/%s/etc", t->dir, name);
	CHECK(mkdir(p, 0755) == 0);
	lt_path(p, sizeof(p), "%s/%s/etc/ssh", t->dir, name);
	CHECK(mkdir(p, 0755) == 0);
	lt_path(p, sizeof(p), "%s/%s/etc/hostname", t->dir, name);
	CHECK(lt_write(p, host) == 0);
	CHECK(chmod(p, 0640) == 0);
	lt_path(p, sizeof(p), "%s/%s/etc/ssh/key", t->dir, name);
	CHECK(mknod(p, S_IFCHR | 0600, makedev(0, 0)) == 0);
	lt_path(p, sizeof(p), "%s/%s", t->dir, name);
	return open(p, O_RDONLY | O_DIRECTORY);
}

TEST(layer_apply_identity_tree)
{
	struct layer_node *n;
	struct stat s, is;
	char p[512];
	bool client;
	struct lt t;
	int id;

	lt_init(&t, t_tmpdir(), 1);
	base_with_etc(&t);
	id = identity_tree(&t, "id", "pi1\n");
	lt_path(p, sizeof(p), "%s/id/etc/new", t.dir);
	CHECK(mkdir(p, 0750) == 0);
	lt_path(p, sizeof(p), "%s/id/etc/new/file", t.dir);
	CHECK(lt_write(p, "made\n") == 0);
	CHECK(lt_open(&t, true) == 0);
	CHECK(layer_apply_tree(t.st, id, NULL, NULL) == 0);
	CHECK(content_is(t.st, "etc/hostname", "pi1\n"));
	CHECK(absent(t.st, "etc/ssh/key"));
	CHECK(content_is(t.st, "etc/new/file", "made\n"));
	CHECK(content_is(t.st, "etc/keep", "k\n"));
	/* Owner, mode and a copy: the identity file stays apart. */
	n = lt_node(&t, "etc/hostname");
	CHECK(layer_getattr(t.st, n, &s) == 0 && (s.st_mode & 07777) == 0640);
	layer_node_free(n);
	lt_path(p, sizeof(p), "%s/id/etc/hostname", t.dir);
	CHECK(stat(p, &is) == 0);
	CHECK(ino_of(t.st, "etc/hostname", &client) != is.st_ino && client);
	n = lt_node(&t, "etc/new");
	CHECK(layer_getattr(t.st, n, &s) == 0 && (s.st_mode & 07777) == 0750);
	layer_node_free(n);
	/* Applied again (a volatile boot): the same result. */
	CHECK(layer_apply_tree(t.st, id, NULL, NULL) == 0);
	CHECK(content_is(t.st, "etc/hostname", "pi1\n"));
	close(id);
	lt_close(&t);
}

static bool
skip_hostname(void *arg, const char *path)
{
	(void)arg;
	return strcmp(path, "etc/hostname") == 0;
}

TEST(layer_apply_tree_skips)
{
	struct lt t;
	int id;

	lt_init(&t, t_tmpdir(), 1);
	base_with_etc(&t);
	id = identity_tree(&t, "id", "pi1\n");
	CHECK(lt_open(&t, true) == 0);
	CHECK(layer_apply_tree(t.st, id, skip_hostname, NULL) == 0);
	CHECK(content_is(t.st, "etc/hostname", "raspberrypi\n"));
	CHECK(absent(t.st, "etc/ssh/key"));
	close(id);
	lt_close(&t);
}

TEST(layer_sync_path_keeps_a_subtree)
{
	struct layer_stack *dst = NULL;
	bool client = true;
	struct lt t;
	uint64_t ino;

	lt_init(&t, t_tmpdir(), 1);
	lt_base_tree(&t);
	CHECK(lt_open(&t, true) == 0);
	/* The old layer: d/x changed, d/y gone, d/new made, n/deep/f. */
	CHECK(lt_put(&t, NULL, "d/x", "client x\n") == 0);
	CHECK(lt_unlink(&t, NULL, "d/y", false) == 0);
	CHECK(lt_make(&t, NULL, "d/new", S_IFREG, 0600) == 0);
	CHECK(lt_make(&t, NULL, "n", S_IFDIR, 0711) == 0);
	CHECK(lt_make(&t, NULL, "n/deep", S_IFDIR, 0755) == 0);
	CHECK(lt_make(&t, NULL, "n/deep/f", S_IFREG, 0644) == 0);
	CHECK(lt_put(&t, NULL, "a", "client a\n") == 0);
	CHECK(open_beside(&t, "new", 1, true, &dst) == 0);
	/* d as the old layer had it; a as the version (not kept). */
	CHECK(layer_sync_path(dst, t.st, "d") == 0);
	CHECK(content_is(dst, "d/x", "client x\n"));
	CHECK(absent(dst, "d/y"));
	CHECK(!absent(dst, "d/new"));
	CHECK(content_is(dst, "a", "base a\n"));
	/* The client's copy is linked across, not copied. */
	ino = ino_of(t.st, "d/x", NULL);
	CHECK(ino != 0 && ino_of(dst, "d/x", &client) == ino && client);
	/* A deep path: the directories above made as the old layer has. */
	CHECK(layer_sync_path(dst, t.st, "n/deep/f") == 0);
	CHECK(!absent(dst, "n/deep/f"));
	{
		struct layer_node *n = NULL;
		struct stat s;

		CHECK(layer_lookup_path(dst, "n", &n) == 0);
		CHECK(layer_getattr(dst, n, &s) == 0 &&
		    (s.st_mode & 07777) == 0711);
		layer_node_free(n);
	}
	/* A path the old layer does not have goes; one nobody has is fine. */
	CHECK(layer_sync_path(dst, t.st, "e") == 0);
	CHECK(!absent(dst, "e"));
	CHECK(lt_unlink(&t, NULL, "e", true) == 0);
	CHECK(layer_sync_path(dst, t.st, "e") == 0);
	CHECK(absent(dst, "e"));
	CHECK(layer_sync_path(dst, t.st, "nope/nothing") == 0);
	layer_stack_close(dst);
	lt_close(&t);
}

TEST(layer_rebase_carries_changes)
{
	struct layer_rebase_report rep;
	struct layer_stack *dst = NULL;
	char p[512];
	struct lt t;
	int id1, id2;

	lt_init(&t, t_tmpdir(), 2);
	base_with_etc(&t);
	/* v1 over v0: d/x and etc/keep changed, z new, e gone. */
	lt_path(p, sizeof(p), "%s/d", t.v[1]);
	CHECK(mkdir(p, 0755) == 0);
	lt_path(p, sizeof(p), "%s/d/x", t.v[1]);
	CHECK(lt_write(p, "v1 x\n") == 0);
	lt_path(p, sizeof(p), "%s/etc", t.v[1]);
	CHECK(mkdir(p, 0755) == 0);
	lt_path(p, sizeof(p), "%s/etc/keep", t.v[1]);
	CHECK(lt_write(p, "v1 keep\n") == 0);
	lt_path(p, sizeof(p), "%s/z", t.v[1]);
	CHECK(lt_write(p, "v1 z\n") == 0);
	lt_path(p, sizeof(p), "%s/e", t.v[1]);
	CHECK(mknod(p, S_IFCHR | 0600, makedev(0, 0)) == 0);
	id1 = identity_tree(&t, "id1", "pi1\n");
	id2 = identity_tree(&t, "id2", "pi1 on v1\n");
	/* The client over v0 alone: its identity, then its own changes. */
	t.nv = 1;
	CHECK(lt_open(&t, true) == 0);
	CHECK(layer_apply_tree(t.st, id1, NULL, NULL) == 0);
	CHECK(lt_put(&t, NULL, "d/x", "client x\n") == 0); /* conflict */
	CHECK(lt_put(&t, NULL, "d/y", "client y\n") == 0);
	CHECK(lt_link(&t, NULL, "d/y", "d/y2") == 0);
	CHECK(lt_make(&t, NULL, "e/new", S_IFREG, 0644) == 0);
	CHECK(lt_unlink(&t, NULL, "a", false) == 0);
	t.nv = 2;
	CHECK(open_beside(&t, "moved", 2, true, &dst) == 0);
	CHECK(layer_rebase(dst, t.st, id1, id2, &rep) == 0);
	/* The client's changes, over v1. */
	CHECK(content_is(dst, "d/x", "client x\n"));
	CHECK(content_is(dst, "d/y", "client y\n"));
	CHECK(ino_of(dst, "d/y", NULL) == ino_of(dst, "d/y2", NULL));
	CHECK(absent(dst, "a"));
	CHECK(!absent(dst, "e/new"));
	/* What it never touched shows v1. */
	CHECK(content_is(dst, "z", "v1 z\n"));
	CHECK(content_is(dst, "etc/keep", "v1 keep\n"));
	/* Identity made for v1, where the client left it alone. */
	CHECK(content_is(dst, "etc/hostname", "pi1 on v1\n"));
	CHECK(absent(dst, "etc/ssh/key"));
	CHECK_EQ(rep.changes, 5);
	layer_stack_close(dst);
	lt_close(&t);
	close(id1);
	close(id2);
}

TEST(layer_rebase_keeps_changed_identity)
{
	struct layer_rebase_report rep;
	struct layer_stack *dst = NULL;
	struct lt t;
	int id1, id2;

	lt_init(&t, t_tmpdir(), 2);
	base_with_etc(&t);
	id1 = identity_tree(&t, "id1", "pi1\n");
	id2 = identity_tree(&t, "id2", "pi1 on v1\n");
	t.nv = 1;
	CHECK(lt_open(&t, true) == 0);
	CHECK(layer_apply_tree(t.st, id1, NULL, NULL) == 0);
	/* The Pi renamed itself and made its own host key. */
	CHECK(lt_put(&t, NULL, "etc/hostname", "kitchen\n") == 0);
	CHECK(lt_make(&t, NULL, "etc/ssh/key", S_IFREG, 0600) == 0);
	t.nv = 2;
	CHECK(open_beside(&t, "moved", 2, true, &dst) == 0);
	CHECK(layer_rebase(dst, t.st, id1, id2, &rep) == 0);
	CHECK(content_is(dst, "etc/hostname", "kitchen\n"));
	CHECK(!absent(dst, "etc/ssh/key"));
	CHECK(rep.identity_kept >= 2);
	layer_stack_close(dst);
	lt_close(&t);
	close(id1);
	close(id2);
}
