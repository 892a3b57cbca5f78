/*
 * treecmp [-x PATH]... [-a] [-D] [-F] [-S] SRC DST: compare two trees entry
 * by entry:
 * type, permission bits, owner, size, mtime to the nanosecond (atime too
 * with -a; directory times unless -D), device numbers, symlink targets,
 * contents byte for byte, extended attributes, hard-link groups and the
 * data/hole map of regular files.  PATH (relative, repeatable) is left out
 * on both sides.  -S: DST shares inodes with other trees (an image
 * version made of hard links), so its link counts may be higher; the
 * hard-link groups are still compared.  Prints one line per difference;
 * exits 1 if any.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define MAXX 32
#define MAXL 65536

static const char *excl[MAXX];
static int nexcl, diffs;
static bool cmp_atime, skip_dir_times, fat_mode, shared_inodes;
static const char *src_root, *dst_root;

struct lnk {
	dev_t sdev;
	ino_t sino, dino;
};
static struct lnk links[MAXL];
static int nlinks;

static void
diff(const char *rel, const char *what)
{
	printf("DIFF /%s: %s\n", rel, what);
	diffs++;
}

static bool
excluded(const char *rel)
{
	int i;

	for (i = 0; i < nexcl; i++) {
		if (!strcmp(rel, excl[i])) {
			return true;
		}
	}
	return false;
}

static void
cmp_content(const char *rel, const char *a, const char *b, off_t size)
{
	static char ba[1 << 16], bb[1 << 16];
	int fa = open(a, O_RDONLY | O_NOATIME),
	    fb = open(b, O_RDONLY | O_NOATIME);
	off_t off = 0, da, db;

	if (fa < 0 || fb < 0) {
		diff(rel, "cannot open");
		goto out;
	}
	while (off < size) {
		ssize_t na = pread(fa, ba, sizeof(ba), off);
		ssize_t nb = pread(fb, bb, sizeof(bb), off);

		if (na <= 0 || na != nb || memcmp(ba, bb, (size_t)na)) {
			diff(rel, "contents differ");
			goto out;
		}
		off += na;
	}
	/* The data/hole map: every data region must match. */
	for (off = 0; off < size;) {
		da = lseek(fa, off, SEEK_DATA);
		db = lseek(fb, off, SEEK_DATA);
		if (da != db) {
			diff(rel, "sparseness differs (data start)");
			goto out;
		}
		if (da < 0) {
			break;
		}
		da = lseek(fa, da, SEEK_HOLE);
		db = lseek(fb, db, SEEK_HOLE);
		if (da != db) {
			diff(rel, "sparseness differs (hole start)");
			goto out;
		}
		off = da;
	}
out:
	if (fa >= 0) {
		close(fa);
	}
	if (fb >= 0) {
		close(fb);
	}
}

static int
xlist(const char *p, char *buf, size_t cap)
{
	ssize_t n = llistxattr(p, buf, cap);

	return n < 0 ? 0 : (int)n;
}

static void
cmp_xattrs(const char *rel, const char *a, const char *b)
{
	static char la[65536], lb[65536], va[65536], vb[65536];
	int na = xlist(a, la, sizeof(la)), nb = xlist(b, lb, sizeof(lb));
	int i, ca = 0, cb = 0;
	char msg[512];

	for (i = 0; i < nb; i += (int)strlen(lb + i) + 1) {
		cb++;
	}
	for (i = 0; i < na; i += (int)strlen(la + i) + 1) {
		ssize_t x = lgetxattr(a, la + i, va, sizeof(va));
		ssize_t y = lgetxattr(b, la + i, vb, sizeof(vb));

		ca++;
		if (x != y || (x > 0 && memcmp(va, vb, (size_t)x))) {
			snprintf(msg, sizeof(msg), "xattr %s differs", la + i);
			diff(rel, msg);
		}
	}
	if (ca != cb) {
		diff(rel, "different number of xattrs");
	}
}

static void
cmp_ts(const char *rel, const char *what, struct timespec a, struct timespec b)
{
	char msg[128];

	if (a.tv_sec != b.tv_sec || a.tv_nsec != b.tv_nsec) {
		snprintf(msg, sizeof(msg), "%s %lld.%09ld vs %lld.%09ld", what,
		    (long long)a.tv_sec, a.tv_nsec, (long long)b.tv_sec,
		    b.tv_nsec);
		diff(rel, msg);
	}
}

static void walk(const char *rel);

static void
cmp_one(const char *rel)
{
	char a[PATH_MAX], b[PATH_MAX], msg[256];
	struct stat sa, sb;
	int i;

	snprintf(a, sizeof(a), "%s/%s", src_root, rel);
	snprintf(b, sizeof(b), "%s/%s", dst_root, rel);
	if (lstat(a, &sa) < 0) {
		diff(rel, "missing in source");
		return;
	}
	if (lstat(b, &sb) < 0) {
		diff(rel, "missing in copy");
		return;
	}
	if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) {
		diff(rel, "type differs");
		return;
	}
	if (fat_mode) {
		/* FAT keeps no owners, modes or xattrs, and even seconds. */
		sa.st_mtim.tv_sec -= sa.st_mtim.tv_sec % 2;
		sa.st_mtim.tv_nsec = 0;
		if (!S_ISDIR(sa.st_mode)) {
			cmp_ts(rel, "mtime", sa.st_mtim, sb.st_mtim);
		}
		if (S_ISREG(sa.st_mode) && sa.st_size == sb.st_size) {
			cmp_content(rel, a, b, sa.st_size);
		} else if (S_ISREG(sa.st_mode)) {
			diff(rel, "size differs");
		} else if (S_ISDIR(sa.st_mode)) {
			walk(rel);
		}
		return;
	}
	if ((sa.st_mode & 07777) != (sb.st_mode & 07777) &&
	    !S_ISLNK(sa.st_mode)) {
		snprintf(msg, sizeof(msg), "mode %o vs %o", sa.st_mode & 07777,
		    sb.st_mode & 07777);
		diff(rel, msg);
	}
	if (sa.st_uid != sb.st_uid || sa.st_gid != sb.st_gid) {
		diff(rel, "owner differs");
	}
	if (!S_ISDIR(sa.st_mode) || !skip_dir_times) {
		cmp_ts(rel, "mtime", sa.st_mtim, sb.st_mtim);
		if (cmp_atime) {
			cmp_ts(rel, "atime", sa.st_atim, sb.st_atim);
		}
	}
	cmp_xattrs(rel, a, b);
	if (S_ISCHR(sa.st_mode) || S_ISBLK(sa.st_mode)) {
		if (sa.st_rdev != sb.st_rdev) {
			diff(rel, "device number differs");
		}
	}
	if (!S_ISDIR(sa.st_mode) && sa.st_nlink > 1) {
		for (i = 0; i < nlinks; i++) {
			if (links[i].sdev == sa.st_dev &&
			    links[i].sino == sa.st_ino) {
				break;
			}
		}
		if (i < nlinks && links[i].dino != sb.st_ino) {
			diff(rel, "hard link not kept");
		} else if (i == nlinks && nlinks < MAXL) {
			links[nlinks++] = (struct lnk){.sdev = sa.st_dev,
			    .sino = sa.st_ino,
			    .dino = sb.st_ino};
		}
		if (sa.st_nlink != sb.st_nlink &&
		    !(shared_inodes && sb.st_nlink > sa.st_nlink)) {
			diff(rel, "link count differs");
		}
	}
	if (S_ISLNK(sa.st_mode)) {
		char ta[PATH_MAX], tb[PATH_MAX];
		ssize_t x = readlink(a, ta, sizeof(ta) - 1);
		ssize_t y = readlink(b, tb, sizeof(tb) - 1);

		if (x != y || x < 0 || memcmp(ta, tb, (size_t)x)) {
			diff(rel, "symlink target differs");
		}
	} else if (S_ISREG(sa.st_mode)) {
		if (sa.st_size != sb.st_size) {
			diff(rel, "size differs");
		} else {
			cmp_content(rel, a, b, sa.st_size);
		}
	} else if (S_ISDIR(sa.st_mode)) {
		walk(rel);
	}
}

static int
list(const char *root, const char *rel, char ***out)
{
	char p[PATH_MAX];
	DIR *d;
	struct dirent *e;
	int n = 0, cap = 0, fd;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	fd = open(p, O_RDONLY | O_DIRECTORY | O_NOATIME);
	d = fd < 0 ? NULL : fdopendir(fd);
	*out = NULL;
	if (!d) {
		return 0;
	}
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) {
			continue;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			*out = realloc(*out, (size_t)cap * sizeof(char *));
		}
		(*out)[n++] = strdup(e->d_name);
	}
	closedir(d);
	return n;
}

static void
walk(const char *rel)
{
	char **sa, **sb, r[PATH_MAX];
	int na = list(src_root, rel, &sa), nb = list(dst_root, rel, &sb);
	int i, j;

	for (i = 0; i < na; i++) {
		snprintf(r, sizeof(r), "%s%s%s", rel, *rel ? "/" : "", sa[i]);
		if (!excluded(r)) {
			cmp_one(r);
		}
	}
	for (j = 0; j < nb; j++) {
		bool found = false;

		for (i = 0; i < na && !found; i++) {
			found = !strcmp(sa[i], sb[j]);
		}
		snprintf(r, sizeof(r), "%s%s%s", rel, *rel ? "/" : "", sb[j]);
		if (!found && !excluded(r)) {
			diff(r, "only in copy");
		}
	}
	for (i = 0; i < na; i++) {
		free(sa[i]);
	}
	for (j = 0; j < nb; j++) {
		free(sb[j]);
	}
	free(sa);
	free(sb);
}

int
main(int argc, char **argv)
{
	int c;

	while ((c = getopt(argc, argv, "x:aDFS")) != -1) {
		if (c == 'x' && nexcl < MAXX) {
			excl[nexcl++] = optarg;
		} else if (c == 'a') {
			cmp_atime = true;
		} else if (c == 'D') {
			skip_dir_times = true;
		} else if (c == 'F') {
			fat_mode = true;
		} else if (c == 'S') {
			shared_inodes = true;
		} else {
			return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr,
		    "usage: treecmp [-x PATH]... [-a] [-D] [-F] [-S] SRC "
		    "DST\n");
		return 2;
	}
	src_root = argv[optind];
	dst_root = argv[optind + 1];
	cmp_one("");
	printf("%d differences\n", diffs);
	return diffs ? 1 : 0;
}
