#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer_util.h"
#include "t.h"

/*
 * The kernel's overlayfs is the reference: the same script of changes
 * runs through an overlay mount (userxattr, in a private mount
 * namespace so nothing shows on the host) and through the library, and
 * the merged trees must match entry by entry.  The upper directory the
 * kernel wrote is then read by the library as a version layer (that is
 * how `image update` makes deltas), alone and under a second delta:
 * three version layers, compared with the kernel's mount of them.
 *
 * Hard links are left out of the scripts on purpose: overlayfs without
 * index=on breaks them at copy-up, the library keeps them (test_layer.c).
 */

#define DUMP (64 * 1024)

static const char *script1[] = {
    "w a A2",
    "rm d/y",
    "mv f d/f2",
    "mkdir n",
    "w n/1 one",
    "rm d/sub/z",
    "rmdir d/sub",
    "mkdir d/sub",
    "w d/sub/new new",
    "mv n e2",
    "chmod d/x 600",
    "sym e/l target",
    "fifo e/p",
    "ln a e/a-link",
    "mv d/x d/x2",
    "rm s",
    "mv d dd",
    "rmdir d",
    "mv e2 d",
    "w e/q quux",
    "mv e/q d/f2",
    NULL,
};

static const char *script2[] = {
    "w d/x2 changed",
    "rm e2/1",
    "rmdir e2",
    "mkdir e2",
    "w e2/2 two",
    "mv e/l e/l2",
    "rm a",
    "mkdir a",
    "w a/in in",
    "chmod e 700",
    "rm d/sub/new",
    "rmdir d/sub",
    "rm e/p",
    "mkdir nd",
    "w nd/f in-nd",
    "mv nd e/p",
    "mkdir nd2",
    "mv nd2 d/f2",
    "mv d e",
    "mv d d/x2",
    "mv e e/a-link",
    "mkdir nd2/in",
    "mv nd2 nd2/in/deeper",
    "mv nd2/in nd2",
    NULL,
};

static void
base_tree(const char *b)
{
	char p[512];

	lt_path(p, sizeof(p), "%s/a", b);
	CHECK(lt_write(p, "A") == 0);
	lt_path(p, sizeof(p), "%s/f", b);
	CHECK(lt_write(p, "F") == 0);
	lt_path(p, sizeof(p), "%s/d", b);
	CHECK(mkdir(p, 0755) == 0);
	lt_path(p, sizeof(p), "%s/d/x", b);
	CHECK(lt_write(p, "X") == 0);
	CHECK(setxattr(p, "user.note", "kept", 4, 0) == 0);
	lt_path(p, sizeof(p), "%s/d/y", b);
	CHECK(lt_write(p, "Y") == 0);
	lt_path(p, sizeof(p), "%s/d/sub", b);
	CHECK(mkdir(p, 0750) == 0);
	lt_path(p, sizeof(p), "%s/d/sub/z", b);
	CHECK(lt_write(p, "Z") == 0);
	lt_path(p, sizeof(p), "%s/e", b);
	CHECK(mkdir(p, 0755) == 0);
	lt_path(p, sizeof(p), "%s/s", b);
	CHECK(symlink("a", p) == 0);
	lt_path(p, sizeof(p), "%s/dev", b);
	CHECK(mknod(p, S_IFCHR | 0600, makedev(1, 3)) == 0);
}

/* Every changed object gets the same times on both sides. */
static const struct timespec fixed[2] = {{1600000000, 1}, {1700000000, 2}};

static int
kernel_op(const char *root, const char *op)
{
	char verb[16], a[256], b[256], p[600], q[600];
	int n = sscanf(op, "%15s %255s %255s", verb, a, b), r = 0;

	if (n < 2) {
		return -EINVAL;
	}
	lt_path(p, sizeof(p), "%s/%s", root, a);
	lt_path(q, sizeof(q), "%s/%s", root, n > 2 ? b : "");
	if (strcmp(verb, "w") == 0) {
		r = lt_write(p, b);
	} else if (strcmp(verb, "rm") == 0) {
		r = unlink(p);
	} else if (strcmp(verb, "rmdir") == 0) {
		r = rmdir(p);
	} else if (strcmp(verb, "mkdir") == 0) {
		r = mkdir(p, 0755);
	} else if (strcmp(verb, "mv") == 0) {
		r = rename(p, q);
	} else if (strcmp(verb, "ln") == 0) {
		r = link(p, q);
	} else if (strcmp(verb, "sym") == 0) {
		r = symlink(b, p);
	} else if (strcmp(verb, "fifo") == 0) {
		r = mknod(p, S_IFIFO | 0644, 0);
	} else if (strcmp(verb, "chmod") == 0) {
		r = chmod(p, (mode_t)strtol(b, NULL, 8));
	}
	if (r < 0) {
		return -errno;
	}
	if (strcmp(verb, "w") == 0 || strcmp(verb, "sym") == 0 ||
	    strcmp(verb, "fifo") == 0) {
		r = utimensat(AT_FDCWD, p, fixed, AT_SYMLINK_NOFOLLOW);
	}
	return r < 0 ? -errno : r;
}

static int
layer_times(struct lt *t, const char *path)
{
	struct layer_sattr sa = {.atime = fixed[0], .mtime = fixed[1]};
	struct layer_node *n = lt_node(t, path);
	int r = n ? layer_setattr(t->st, NULL, n, &sa) : -ENOENT;

	layer_node_free(n);
	return r;
}

static int
library_op(struct lt *t, const char *op)
{
	char verb[16], a[256], b[256];
	int n = sscanf(op, "%15s %255s %255s", verb, a, b), r = -EINVAL;
	struct layer_node *node;

	if (n < 2) {
		return -EINVAL;
	}
	if (strcmp(verb, "w") == 0) {
		node = lt_node(t, a);
		r = node ? 0 : lt_make(t, NULL, a, S_IFREG, 0644);
		layer_node_free(node);
		if (r == 0) {
			r = lt_put(t, NULL, a, b);
		}
	} else if (strcmp(verb, "rm") == 0) {
		r = lt_unlink(t, NULL, a, false);
	} else if (strcmp(verb, "rmdir") == 0) {
		r = lt_unlink(t, NULL, a, true);
	} else if (strcmp(verb, "mkdir") == 0) {
		r = lt_make(t, NULL, a, S_IFDIR, 0755);
	} else if (strcmp(verb, "mv") == 0) {
		r = lt_rename(t, NULL, a, b);
	} else if (strcmp(verb, "ln") == 0) {
		r = lt_link(t, NULL, a, b);
	} else if (strcmp(verb, "sym") == 0) {
		struct layer_new nw = {
		    .type = S_IFLNK, .mode = 0777, .target = b};
		char name[256];
		struct layer_node *d = lt_parent(t, a, name, sizeof(name));

		r = d ? layer_create(t->st, NULL, d, name, &nw, NULL) : -ENOENT;
		layer_node_free(d);
	} else if (strcmp(verb, "fifo") == 0) {
		r = lt_make(t, NULL, a, S_IFIFO, 0644);
	} else if (strcmp(verb, "chmod") == 0) {
		struct layer_sattr sa = {.set_mode = true,
		    .mode = (mode_t)strtol(b, NULL, 8),
		    .atime = {0, UTIME_OMIT},
		    .mtime = {0, UTIME_OMIT}};

		node = lt_node(t, a);
		r = node ? layer_setattr(t->st, NULL, node, &sa) : -ENOENT;
		layer_node_free(node);
	}
	if (r == 0 &&
	    (strcmp(verb, "w") == 0 || strcmp(verb, "sym") == 0 ||
		strcmp(verb, "fifo") == 0)) {
		r = layer_times(t, a);
	}
	return r;
}

static void
dump_line(char *out, size_t *at, const char *rel, const struct stat *s,
    const char *extra)
{
	*at += (size_t)snprintf(out + *at, DUMP - *at, "%s %o %u:%u", rel,
	    s->st_mode, s->st_uid, s->st_gid);
	if (!S_ISDIR(s->st_mode)) {
		*at += (size_t)snprintf(out + *at, DUMP - *at,
		    " size=%lld mtime=%lld.%09ld", (long long)s->st_size,
		    (long long)s->st_mtim.tv_sec, s->st_mtim.tv_nsec);
	}
	if (S_ISCHR(s->st_mode) || S_ISBLK(s->st_mode)) {
		*at += (size_t)snprintf(out + *at, DUMP - *at, " dev=%u,%u",
		    major(s->st_rdev), minor(s->st_rdev));
	}
	*at += (size_t)snprintf(out + *at, DUMP - *at, "%s\n", extra);
}

/* " user.x=v ..." of @path (xattr paths), overlay's own left out. */
static void
xattrs_of(const char *path, char *out, size_t cap)
{
	char list[1024], v[256];
	ssize_t n = llistxattr(path, list, sizeof(list)), m;
	size_t i, at = 0;

	out[0] = 0;
	for (i = 0; n > 0 && i < (size_t)n; i += strlen(list + i) + 1) {
		if (strncmp(list + i, "user.", 5) ||
		    !strncmp(list + i, "user.overlay.", 13)) {
			continue;
		}
		m = lgetxattr(path, list + i, v, sizeof(v) - 1);
		v[m > 0 ? m : 0] = 0;
		at +=
		    (size_t)snprintf(out + at, cap - at, " %s=%s", list + i, v);
	}
}

/* The content or target of a file, for the dump. */
static void
body_of(const char *path, const struct stat *s, char *out, size_t cap)
{
	ssize_t n = 0;
	int fd;

	out[0] = 0;
	if (S_ISLNK(s->st_mode)) {
		n = readlink(path, out + 4, cap - 5);
		memcpy(out, " -> ", 4);
		out[4 + (n > 0 ? n : 0)] = 0;
	} else if (S_ISREG(s->st_mode)) {
		fd = open(path, O_RDONLY);
		memcpy(out, " = ", 3);
		n = fd >= 0 ? read(fd, out + 3, cap - 4) : -1;
		out[3 + (n > 0 ? n : 0)] = 0;
		if (fd >= 0) {
			close(fd);
		}
	}
}

static int
cmp_names(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* The tree under a real directory (the overlay mount). */
static void
dump_real(const char *root, const char *rel, char *out, size_t *at)
{
	struct dirent **ents;
	char p[1024], r[600], x[512], body[512], extra[1100];
	struct stat s;
	int n, i;

	lt_path(p, sizeof(p), "%s/%s", root, rel);
	n = scandir(p, &ents, NULL, cmp_names);
	for (i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;

		if (strcmp(name, ".") && strcmp(name, "..")) {
			lt_path(
			    r, sizeof(r), "%s%s%s", rel, *rel ? "/" : "", name);
			lt_path(p, sizeof(p), "%s/%s", root, r);
			if (lstat(p, &s) == 0) {
				xattrs_of(p, x, sizeof(x));
				body_of(p, &s, body, sizeof(body));
				lt_path(extra, sizeof(extra), "%s%s", body, x);
				dump_line(out, at, r, &s, extra);
				if (S_ISDIR(s.st_mode)) {
					dump_real(root, r, out, at);
				}
			}
		}
		free(ents[i]);
	}
	if (n >= 0) {
		free(ents);
	}
}

/* The same through the library: attributes, then the instance's path. */
static void
dump_layer(struct lt *t, const char *rel, char *out, size_t *at)
{
	char names[4096], *save = NULL, *name, r[600], proc[64], p[1024];
	char x[512], body[512], extra[1100];

	lt_names(t, rel, names, sizeof(names));
	for (name = strtok_r(names, ",", &save); name;
	     name = strtok_r(NULL, ",", &save)) {
		struct layer_node *n;
		struct stat s;
		ssize_t len;

		lt_path(r, sizeof(r), "%s%s%s", rel, *rel ? "/" : "", name);
		n = lt_node(t, r);
		if (!n || layer_getattr(t->st, n, &s) < 0) {
			layer_node_free(n);
			continue;
		}
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d",
		    n->type == S_IFDIR ? n->dirs[0] >= 0 ? n->dirs[0]
			    : n->dirs[1] >= 0            ? n->dirs[1]
			    : n->dirs[2] >= 0            ? n->dirs[2]
							 : n->dirs[3]
				       : n->fd);
		len = readlink(proc, p, sizeof(p) - 1);
		p[len > 0 ? len : 0] = 0;
		if (S_ISDIR(s.st_mode)) {
			/* Merged directories: xattrs of the top instance. */
		}
		xattrs_of(p, x, sizeof(x));
		body_of(p, &s, body, sizeof(body));
		lt_path(extra, sizeof(extra), "%s%s", body, x);
		dump_line(out, at, r, &s, extra);
		layer_node_free(n);
		if (S_ISDIR(s.st_mode)) {
			dump_layer(t, r, out, at);
		}
	}
}

/* LT_SHOW=1 prints the kernel's side of each comparison. */
static bool
same_dumps(const char *what, const char *kernel, const char *lib)
{
	if (getenv("LT_SHOW")) {
		fprintf(stderr, "== %s\n%s", what, kernel);
	}
	if (strcmp(kernel, lib) == 0) {
		return true;
	}
	fprintf(stderr,
	    "%s differs.\n--- kernel overlayfs:\n%s--- library:\n%s", what,
	    kernel, lib);
	return false;
}

static bool ns_ready;

static bool
private_mounts(void)
{
	if (!ns_ready) {
		ns_ready = unshare(CLONE_NEWNS) == 0 &&
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
	}
	return ns_ready;
}

/*
 * Run @script through an overlay of @lower (colon list) with upper @up;
 * the dump of the mount goes to @out, each op's result to @rc.
 */
static void
run_kernel(const char *dir, const char *lower, const char *up,
    const char *const *script, char *out, int *rc)
{
	char work[512], mnt[512], opts[2048];
	size_t at = 0;
	int i;

	lt_path(work, sizeof(work), "%s/work-%s", dir, strrchr(up, '/') + 1);
	lt_path(mnt, sizeof(mnt), "%s/mnt", dir);
	mkdir(work, 0700);
	mkdir(mnt, 0755);
	lt_path(opts, sizeof(opts),
	    "userxattr,lowerdir=%s,upperdir=%s,workdir=%s", lower, up, work);
	CHECK(mount("overlay", mnt, "overlay", 0, opts) == 0);
	for (i = 0; script[i]; i++) {
		rc[i] = kernel_op(mnt, script[i]);
	}
	dump_real(mnt, "", out, &at);
	CHECK(umount2(mnt, 0) == 0);
}

static void
run_library(struct lt *t, const char *const *script, char *out, int *rc)
{
	size_t at = 0;
	int i;

	CHECK(lt_open(t, true) == 0);
	for (i = 0; script[i]; i++) {
		rc[i] = library_op(t, script[i]);
	}
	dump_layer(t, "", out, &at);
	lt_close(t);
}

static void
check_results(const char *const *script, const int *k, const int *l)
{
	int i;

	for (i = 0; script[i]; i++) {
		if (k[i] != l[i]) {
			fprintf(stderr, "'%s': kernel %d, library %d\n",
			    script[i], k[i], l[i]);
			CHECK(!"the same result for each change");
		}
	}
}

TEST(layer_matches_kernel_overlayfs)
{
	static char kern[DUMP], lib[DUMP];
	int krc[32], lrc[32];
	struct lt t, ro;
	char up1[280], up2[280], lower[600];
	size_t at;

	if (!private_mounts()) {
		CHECK(!"a private mount namespace (run as root)");
		return;
	}
	lt_init(&t, t_tmpdir(), 1);
	base_tree(t.v[0]);
	lt_path(up1, sizeof(up1), "%s/up1", t.dir);
	lt_path(up2, sizeof(up2), "%s/up2", t.dir);
	mkdir(up1, 0755);
	mkdir(up2, 0755);
	/* One script over the base, through both. */
	run_kernel(t.dir, t.v[0], up1, script1, kern, krc);
	run_library(&t, script1, lib, lrc);
	check_results(script1, krc, lrc);
	/* "mv d dd": a directory with version content, EXDEV in both. */
	CHECK_EQ(krc[16], -EXDEV);
	CHECK_EQ(krc[17], -ENOTEMPTY);
	CHECK(same_dumps("script 1", kern, lib));
	/* What the kernel wrote, read as a version delta over the base. */
	ro = t;
	lt_path(ro.v[1], sizeof(ro.v[1]), "%s", up1);
	ro.nv = 2;
	CHECK(lt_open(&ro, false) == 0);
	at = 0;
	dump_layer(&ro, "", lib, &at);
	lt_close(&ro);
	CHECK(same_dumps("the kernel's upper as a version", kern, lib));
	/* A second delta: three version layers, and a client over two. */
	lt_path(lower, sizeof(lower), "%s:%s", up1, t.v[0]);
	run_kernel(t.dir, lower, up2, script2, kern, krc);
	{
		char dir[256];

		memcpy(dir, t.dir, sizeof(dir));
		lt_init(&t, dir, 0);
	}
	lt_path(t.v[0], sizeof(t.v[0]), "%s/v0", t.dir);
	lt_path(t.v[1], sizeof(t.v[1]), "%s", up1);
	lt_path(t.client, sizeof(t.client), "%s/client2", t.dir);
	lt_path(t.index, sizeof(t.index), "%s/index2", t.dir);
	mkdir(t.client, 0755);
	mkdir(t.index, 0700);
	t.nv = 2;
	run_library(&t, script2, lib, lrc);
	check_results(script2, krc, lrc);
	CHECK(same_dumps("script 2 over two versions", kern, lib));
	lt_path(t.v[2], sizeof(t.v[2]), "%s", up2);
	t.nv = 3;
	CHECK(lt_open(&t, false) == 0);
	at = 0;
	dump_layer(&t, "", lib, &at);
	lt_close(&t);
	CHECK(same_dumps("three version layers", kern, lib));
}
