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
 * Changes: a client layer against its version (layer_diff()), one
 * version against another (layer_compare()), and the conflicts where
 * they meet (layer_conflicts(), pure).
 */

struct changes {
	char line[128][160]; /* "K path type" */
	size_t n;
};

static int
collect(void *arg, const struct layer_change *c)
{
	struct changes *ch = arg;

	if (ch->n < 128) {
		snprintf(ch->line[ch->n++], sizeof(ch->line[0]), "%c %s%s",
		    c->kind, c->path, c->type == S_IFDIR ? "/" : "");
	}
	return 0;
}

static int
cmp_line(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The changes sorted and joined with ", ". */
static void
joined(struct changes *ch, char *out, size_t cap)
{
	size_t i, at = 0;

	qsort(ch->line, ch->n, sizeof(ch->line[0]), cmp_line);
	out[0] = 0;
	for (i = 0; i < ch->n && at < cap; i++) {
		at += (size_t)snprintf(
		    out + at, cap - at, "%s%s", i ? ", " : "", ch->line[i]);
	}
}

TEST(layer_diff_client_changes)
{
	struct changes ch = {0};
	struct layer_node *n;
	char got[4096], p[512];
	struct layer_sattr sa = {
	    .set_mode = true,
	    .mode = 0700,
	    .atime = {.tv_nsec = UTIME_OMIT},
	    .mtime = {.tv_nsec = UTIME_OMIT},
	};
	struct lt t;
	int fd;

	lt_init(&t, t_tmpdir(), 1);
	lt_base_tree(&t);
	lt_path(p, sizeof(p), "%s/g", t.v[0]);
	CHECK(mkdir(p, 0755) == 0);
	lt_path(p, sizeof(p), "%s/g/one", t.v[0]);
	CHECK(lt_write(p, "1") == 0);
	lt_path(p, sizeof(p), "%s/g/two", t.v[0]);
	CHECK(lt_write(p, "2") == 0);
	CHECK(lt_open(&t, true) == 0);
	/* Nothing yet. */
	CHECK(layer_diff(t.st, collect, &ch) == 0);
	CHECK_EQ(ch.n, 0);
	/* a changed in place (a copy in the index). */
	CHECK(lt_put(&t, NULL, "a", "new a\n") == 0);
	/* d/x opened for writing but left as it was: a copy, no change. */
	n = lt_node(&t, "d/x");
	fd = layer_open_data(t.st, NULL, n, O_WRONLY);
	CHECK(fd >= 0);
	close(fd);
	layer_node_free(n);
	/* A hard link to d/x: the new name is new, d/x still unchanged. */
	CHECK(lt_link(&t, NULL, "d/x", "d/x2") == 0);
	CHECK(lt_unlink(&t, NULL, "d/y", false) == 0);
	CHECK(lt_make(&t, NULL, "e/new", S_IFREG, 0644) == 0);
	CHECK(lt_make(&t, NULL, "n", S_IFDIR, 0755) == 0);
	CHECK(lt_make(&t, NULL, "n/f", S_IFREG, 0644) == 0);
	/* d's own mode. */
	n = lt_node(&t, "d");
	CHECK(layer_setattr(t.st, NULL, n, &sa) == 0);
	layer_node_free(n);
	/* g emptied and made again: opaque, both names of it gone. */
	CHECK(lt_unlink(&t, NULL, "g/one", false) == 0);
	CHECK(lt_unlink(&t, NULL, "g/two", false) == 0);
	CHECK(lt_unlink(&t, NULL, "g", true) == 0);
	CHECK(lt_make(&t, NULL, "g", S_IFDIR, 0755) == 0);
	CHECK(lt_make(&t, NULL, "g/three", S_IFREG, 0644) == 0);
	CHECK(layer_diff(t.st, collect, &ch) == 0);
	joined(&ch, got, sizeof(got));
	CHECK_STR(got,
	    "A d/x2, A e/new, A g/three, A n/, A n/f, D d/y, "
	    "D g/one, D g/two, M a, M d/");
	lt_close(&t);
}

TEST(layer_diff_renames_and_types)
{
	struct changes ch = {0};
	char got[4096];
	struct lt t;

	lt_init(&t, t_tmpdir(), 1);
	lt_base_tree(&t);
	CHECK(lt_open(&t, true) == 0);
	/* A version file renamed: gone at its name, new at the other. */
	CHECK(lt_rename(&t, NULL, "d/x", "e/x") == 0);
	/* A file where a directory was, a directory where a file was. */
	CHECK(lt_unlink(&t, NULL, "a", false) == 0);
	CHECK(lt_make(&t, NULL, "a", S_IFDIR, 0755) == 0);
	CHECK(layer_diff(t.st, collect, &ch) == 0);
	joined(&ch, got, sizeof(got));
	CHECK_STR(got, "A e/x, D d/x, M a/");
	lt_close(&t);
	/* Read-only stacks without a client layer have nothing to diff. */
	CHECK(lt_open(&t, false) == 0);
	CHECK_EQ(layer_diff(t.st, collect, &ch), -EINVAL);
	lt_close(&t);
}

TEST(layer_compare_versions)
{
	struct layer_stack_conf ca = {.atfd = AT_FDCWD, .nversions = 1};
	struct layer_stack_conf cb = {.atfd = AT_FDCWD, .nversions = 2};
	struct layer_stack *a = NULL, *b = NULL;
	struct changes ch = {0};
	char got[4096], p[512];
	struct lt t;

	lt_init(&t, t_tmpdir(), 2);
	lt_base_tree(&t);
	/* v1, a delta: a whited out, z new, d/x changed, q new, e kept. */
	lt_path(p, sizeof(p), "%s/a", t.v[1]);
	CHECK(mknod(p, S_IFCHR | 0600, makedev(0, 0)) == 0);
	lt_path(p, sizeof(p), "%s/z", t.v[1]);
	CHECK(lt_write(p, "zz") == 0);
	lt_path(p, sizeof(p), "%s/d", t.v[1]);
	CHECK(mkdir(p, 0755) == 0);
	lt_path(p, sizeof(p), "%s/d/x", t.v[1]);
	CHECK(lt_write(p, "v1 x\n") == 0);
	lt_path(p, sizeof(p), "%s/q", t.v[1]);
	CHECK(mkdir(p, 0755) == 0);
	lt_path(p, sizeof(p), "%s/q/in", t.v[1]);
	CHECK(lt_write(p, "in") == 0);
	ca.versions[0] = t.v[0];
	cb.versions[0] = t.v[1];
	cb.versions[1] = t.v[0];
	CHECK(layer_stack_open(&ca, &a, NULL) == 0);
	CHECK(layer_stack_open(&cb, &b, NULL) == 0);
	CHECK(layer_compare(a, b, collect, &ch) == 0);
	joined(&ch, got, sizeof(got));
	CHECK_STR(got, "A q/, A z, D a, M d/x");
	/* The other way round. */
	ch.n = 0;
	CHECK(layer_compare(b, a, collect, &ch) == 0);
	joined(&ch, got, sizeof(got));
	CHECK_STR(got, "A a, D q/, D z, M d/x");
	/* A stack against itself: nothing, without reading a directory. */
	ch.n = 0;
	CHECK(layer_compare(b, b, collect, &ch) == 0);
	CHECK_EQ(ch.n, 0);
	layer_stack_close(a);
	layer_stack_close(b);
}

TEST(layer_same_object_attributes)
{
	char pa[512], pb[512];
	struct lt t;
	int a, b;

	lt_init(&t, t_tmpdir(), 0);
	lt_path(pa, sizeof(pa), "%s/a", t.dir);
	lt_path(pb, sizeof(pb), "%s/b", t.dir);
	CHECK(lt_write(pa, "same") == 0 && lt_write(pb, "same") == 0);
	a = open(pa, O_PATH);
	b = open(pb, O_PATH);
	CHECK(layer_same_object(a, b, 0) == 1);
	/* Markers and our own attributes do not count; others do. */
	CHECK(setxattr(pa, "user.overlay.origin", "x", 1, 0) == 0);
	CHECK(setxattr(pa, "user.pnb.note", "x", 1, 0) == 0);
	CHECK(layer_same_object(a, b, 0) == 1);
	CHECK(setxattr(pa, "user.kept", "x", 1, 0) == 0);
	CHECK(layer_same_object(a, b, 0) == 0);
	CHECK(setxattr(pb, "user.kept", "x", 1, 0) == 0);
	CHECK(layer_same_object(a, b, 0) == 1);
	CHECK(chmod(pb, 0600) == 0);
	CHECK(layer_same_object(a, b, 0) == 0);
	CHECK(chmod(pb, 0644) == 0);
	CHECK(lt_write(pb, "diff") == 0);
	CHECK(layer_same_object(a, b, 0) == 0);
	CHECK(lt_write(pb, "same") == 0);
	{
		struct timespec ts[2] = {{.tv_sec = 1}, {.tv_sec = 1}};

		CHECK(utimensat(AT_FDCWD, pb, ts, 0) == 0);
	}
	CHECK(layer_same_object(a, b, 0) == 1);
	CHECK(layer_same_object(a, b, LAYER_SAME_TIMES) == 0);
	close(a);
	close(b);
}

TEST(layer_path_order)
{
	const char *sorted[] = {
	    "", "a", "a/b", "a/b/c", "a/c", "a-b", "a.b", "ab", "b"};
	size_t i, j;

	for (i = 0; i < sizeof(sorted) / sizeof(*sorted); i++) {
		for (j = 0; j < sizeof(sorted) / sizeof(*sorted); j++) {
			int want = i < j ? -1 : i > j;

			CHECK_EQ(layer_path_cmp(sorted[i], sorted[j]), want);
		}
	}
	CHECK(layer_path_cmp("a/x", "a\001y") != 0);
}

static int
note_conflict(
    void *arg, const struct layer_change *c, const struct layer_change *v)
{
	struct changes *ch = arg;

	snprintf(
	    ch->line[ch->n++], sizeof(ch->line[0]), "%s~%s", c->path, v->path);
	return 0;
}

TEST(layer_conflicts_rules)
{
	/* A client's changes and a new version's, both path-sorted. */
	const struct layer_change client[] = {
	    {"etc", 'M', S_IFDIR, S_IFDIR},       /* attributes only */
	    {"etc/fstab", 'M', S_IFREG, S_IFREG}, /* also in the version */
	    {"etc/hosts", 'M', S_IFREG, S_IFREG}, /* not in the version */
	    {"home/pi/x", 'A', S_IFREG, 0},       /* under a removed dir */
	    {"opt", 'D', S_IFDIR, S_IFDIR},       /* the version added below */
	    {"srv/a", 'A', S_IFREG, 0},           /* above: attributes only */
	    {"usr/lib", 'M', S_IFDIR, S_IFDIR},   /* attrs; below changed */
	};
	const struct layer_change version[] = {
	    {"etc/fstab", 'M', S_IFREG, S_IFREG},
	    {"etc/motd", 'A', S_IFREG, 0},
	    {"home/pi", 'D', S_IFDIR, S_IFDIR},
	    {"opt/new", 'A', S_IFREG, 0},
	    {"srv", 'M', S_IFDIR, S_IFDIR},
	    {"usr/lib/libc.so", 'M', S_IFREG, S_IFREG},
	};
	struct changes ch = {0};
	char got[4096];

	CHECK_EQ(layer_conflicts(client, 7, version, 6, note_conflict, &ch), 3);
	joined(&ch, got, sizeof(got));
	CHECK_STR(got, "etc/fstab~etc/fstab, home/pi/x~home/pi, opt~opt/new");
	CHECK_EQ(layer_conflicts(client, 7, version, 0, NULL, NULL), 0);
	CHECK_EQ(layer_conflicts(NULL, 0, version, 6, NULL, NULL), 0);
	/* The same directory's attributes on both sides is a conflict. */
	CHECK_EQ(layer_conflicts(client, 1, &version[4], 1, NULL, NULL), 0);
	CHECK_EQ(
	    layer_conflicts(&version[4], 1, &version[4], 1, NULL, NULL), 1);
}
