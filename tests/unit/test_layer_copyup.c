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
 * Copy-up is exact: every kind of object a Raspberry Pi OS root holds,
 * compared field by field with the version's original after it was
 * copied into the index: owner, mode with setuid and setgid, device
 * numbers, symlink target, nanosecond atime and mtime, every xattr
 * (security.capability included), the bytes and the hole map, and hard
 * links.  The version's files do not change, access times included.
 */

/* A VFS v2 capability: cap_net_raw (13) permitted and effective. */
static const uint8_t cap_net_raw[20] = {0x01, 0x00, 0x00, 0x02, 0x00, 0x20,
    0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

static void
set_times(const char *p, long asec, long ansec, long msec, long mnsec)
{
	struct timespec ts[2] = {{asec, ansec}, {msec, mnsec}};

	CHECK(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW) == 0);
}

static void
make_objects(struct lt *t)
{
	char p[512], q[512];
	int fd;

	lt_path(p, sizeof(p), "%s/sparse", t->v[0]);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, "hello", 5, 1 << 20) == 5);
	CHECK(pwrite(fd, "world", 5, 3 << 20) == 5);
	CHECK(ftruncate(fd, (4 << 20) + 1) == 0);
	close(fd);
	CHECK(chown(p, 1234, 5678) == 0 && chmod(p, 06750) == 0);
	CHECK(setxattr(p, "user.note", "v", 1, 0) == 0);
	CHECK(setxattr(p, "trusted.t", "tt", 2, 0) == 0);
	CHECK(setxattr(p, "security.capability", cap_net_raw,
		  sizeof(cap_net_raw), 0) == 0);
	CHECK(setxattr(p, "user.overlay.origin", "x", 1, 0) == 0);
	set_times(p, 1000000001, 123456789, 1500000002, 987654321);
	lt_path(q, sizeof(q), "%s/sparse-link", t->v[0]);
	CHECK(link(p, q) == 0);
	lt_path(p, sizeof(p), "%s/sl", t->v[0]);
	CHECK(symlink("some/target", p) == 0);
	CHECK(lchown(p, 11, 12) == 0);
	CHECK(lsetxattr(p, "trusted.sl", "s", 1, 0) == 0);
	set_times(p, 1111, 1, 2222, 2);
	lt_path(p, sizeof(p), "%s/cdev", t->v[0]);
	CHECK(mknod(p, S_IFCHR | 0620, makedev(4, 64)) == 0);
	CHECK(chown(p, 0, 5) == 0);
	set_times(p, 3333, 3, 4444, 4);
	lt_path(p, sizeof(p), "%s/bdev", t->v[0]);
	CHECK(mknod(p, S_IFBLK | 0660, makedev(259, 1 << 12)) == 0);
	lt_path(p, sizeof(p), "%s/fifo", t->v[0]);
	CHECK(mknod(p, S_IFIFO | 0640, 0) == 0);
	CHECK(chown(p, 7, 8) == 0);
	set_times(p, 5555, 5, 6666, 6);
	lt_path(p, sizeof(p), "%s/sock", t->v[0]);
	CHECK(mknod(p, S_IFSOCK | 0755, 0) == 0);
	lt_path(p, sizeof(p), "%s/emptydir", t->v[0]);
	CHECK(mkdir(p, 0700) == 0);
	CHECK(chown(p, 99, 98) == 0 && chmod(p, 03775) == 0);
	CHECK(setxattr(p, "user.dir", "d", 1, 0) == 0);
	CHECK(setxattr(p, "user.overlay.opaque", "x", 1, 0) == 0);
	set_times(p, 7777, 7, 8888, 8);
}

/* Compare the xattrs of @a and @b (paths, not followed), but overlay's. */
static int
xattr_diffs(const char *a, const char *b)
{
	char la[4096], va[4096], vb[4096];
	ssize_t na = llistxattr(a, la, sizeof(la)), x, y;
	ssize_t nb = llistxattr(b, NULL, 0);
	int diffs = 0, counted = 0;
	size_t i;

	for (i = 0; na > 0 && i < (size_t)na; i += strlen(la + i) + 1) {
		if (strstr(la + i, ".overlay.")) {
			continue;
		}
		counted += (int)strlen(la + i) + 1;
		x = lgetxattr(a, la + i, va, sizeof(va));
		y = lgetxattr(b, la + i, vb, sizeof(vb));
		if (x != y || (x > 0 && memcmp(va, vb, (size_t)x) != 0)) {
			fprintf(stderr, "xattr %s differs\n", la + i);
			diffs++;
		}
	}
	if (nb != counted) {
		fprintf(stderr, "xattr lists differ: %zd vs %d\n", nb, counted);
		diffs++;
	}
	return diffs;
}

static bool
same_holes(const char *a, const char *b, off_t size)
{
	int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);
	off_t off = 0, da, db;
	bool ok = fa >= 0 && fb >= 0;

	while (ok && off < size) {
		da = lseek(fa, off, SEEK_DATA);
		db = lseek(fb, off, SEEK_DATA);
		ok = da == db;
		if (!ok || da < 0) {
			break;
		}
		da = lseek(fa, da, SEEK_HOLE);
		db = lseek(fb, db, SEEK_HOLE);
		ok = da == db;
		off = da;
	}
	close(fa);
	close(fb);
	return ok;
}

static bool
same_bytes(const char *a, const char *b)
{
	char cmd[1200];

	snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", a, b);
	return system(cmd) == 0;
}

/* The path of @n's client instance, from /proc. */
static void
instance_path(struct layer_node *n, char *out, size_t cap)
{
	char proc[64];
	ssize_t r;
	int fd = n->type == S_IFDIR ? n->dirs[0] : n->fd;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	r = readlink(proc, out, cap - 1);
	out[r > 0 ? r : 0] = 0;
}

static void
check_exact(struct lt *t, const char *name)
{
	struct layer_node *n = lt_node(t, name);
	struct stat a, b, before;
	char orig[512], copy[512];

	CHECK(n != NULL);
	if (!n) {
		return;
	}
	lt_path(orig, sizeof(orig), "%s/%s", t->v[0], name);
	CHECK(lstat(orig, &before) == 0);
	CHECK(layer_copy_up(t->st, n) == 0);
	instance_path(n, copy, sizeof(copy));
	CHECK(strncmp(copy, t->dir, strlen(t->dir)) == 0);
	CHECK(strstr(copy, "/v0/") == NULL);
	CHECK(lstat(orig, &a) == 0 && lstat(copy, &b) == 0);
	CHECK(a.st_ino != b.st_ino);
	CHECK_EQ(a.st_mode, b.st_mode);
	CHECK_EQ(a.st_uid, b.st_uid);
	CHECK_EQ(a.st_gid, b.st_gid);
	CHECK_EQ(a.st_rdev, b.st_rdev);
	CHECK_EQ(a.st_size, b.st_size);
	CHECK_EQ(before.st_mtim.tv_sec, b.st_mtim.tv_sec);
	CHECK_EQ(before.st_mtim.tv_nsec, b.st_mtim.tv_nsec);
	CHECK_EQ(before.st_atim.tv_sec, b.st_atim.tv_sec);
	CHECK_EQ(before.st_atim.tv_nsec, b.st_atim.tv_nsec);
	/*
	 * The version's own file did not change, not even its atime (data
	 * is read with O_NOATIME; reading a symlink touches its atime in
	 * any case, as the kernel's readlink does).
	 */
	if (!S_ISLNK(a.st_mode)) {
		CHECK_EQ(before.st_atim.tv_nsec, a.st_atim.tv_nsec);
	}
	CHECK_EQ(before.st_ctim.tv_nsec, a.st_ctim.tv_nsec);
	CHECK_EQ(xattr_diffs(orig, copy), 0);
	if (S_ISREG(a.st_mode)) {
		CHECK(same_bytes(orig, copy));
		CHECK(same_holes(orig, copy, a.st_size));
		CHECK(b.st_blocks <= a.st_blocks);
	}
	if (S_ISLNK(a.st_mode)) {
		char ta[64] = {0}, tb[64] = {0};

		CHECK(readlink(orig, ta, sizeof(ta) - 1) > 0);
		CHECK(readlink(copy, tb, sizeof(tb) - 1) > 0);
		CHECK_STR(ta, tb);
	}
	layer_node_free(n);
}

TEST(layer_copy_up_is_exact)
{
	struct lt t;
	struct layer_node *a, *b;
	struct stat sa, sb;
	char p[512];

	lt_init(&t, t_tmpdir(), 1);
	make_objects(&t);
	CHECK(lt_open(&t, true) == 0);
	check_exact(&t, "sparse");
	check_exact(&t, "sl");
	check_exact(&t, "cdev");
	check_exact(&t, "bdev");
	check_exact(&t, "fifo");
	check_exact(&t, "sock");
	check_exact(&t, "emptydir");
	/* The other name of the hard link reaches the same copy. */
	a = lt_node(&t, "sparse");
	b = lt_node(&t, "sparse-link");
	CHECK(a && b && a->fd >= 0 && b->fd >= 0);
	CHECK(fstat(a->fd, &sa) == 0 && fstat(b->fd, &sb) == 0);
	CHECK_EQ(sa.st_ino, sb.st_ino);
	layer_node_free(a);
	layer_node_free(b);
	/* The markers of a version stay there: the copy is not opaque. */
	lt_path(p, sizeof(p), "%s/emptydir", t.client);
	CHECK(getxattr(p, "user.overlay.opaque", NULL, 0) < 0);
	lt_close(&t);
}

TEST(layer_copy_up_of_a_large_file_keeps_its_holes)
{
	struct lt t;
	char p[512];
	static char chunk[1 << 16];
	int fd, i;

	lt_init(&t, t_tmpdir(), 1);
	lt_path(p, sizeof(p), "%s/big", t.v[0]);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	CHECK(fd >= 0);
	for (i = 0; i < 64; i++) {
		memset(chunk, 'a' + i % 26, sizeof(chunk));
		CHECK(pwrite(fd, chunk, sizeof(chunk),
			  (off_t)i * 3 * (off_t)sizeof(chunk)) ==
		    (ssize_t)sizeof(chunk));
	}
	close(fd);
	CHECK(lt_open(&t, true) == 0);
	check_exact(&t, "big");
	lt_close(&t);
}
