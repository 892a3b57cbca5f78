#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer/internal.h"

/*
 * What changed: a client layer against its versions (layer_diff()), one
 * version against another (layer_compare()), and where the two meet
 * (layer_conflicts()).
 *
 * A client's changes live in two places: its layer's tree (new objects,
 * whiteouts, directory copies, links to copies) and its index (version
 * files changed in place, found by inode, not by path).  The layer is
 * walked as it is; the paths of the index's copies are found by reading
 * the version layers' directories for their inode numbers, which needs
 * no stat of the files and is done only when there are copies.
 */

#define CMP_BUF   65536
#define XATTR_MAX 65536

/* --- comparing two objects ---------------------------------------------- */

static bool
xattr_is_marker(const char *name)
{
	const char *dot = strchr(name, '.');

	return (dot && strncmp(dot + 1, "overlay.", 8) == 0) ||
	    strncmp(name, "user.pnb.", 9) == 0;
}

/* The names of @p's attributes, markers left out: owned, NUL-separated. */
static int
xattr_names(const char *p, char **out, size_t *len, size_t *count)
{
	char *names = malloc(XATTR_MAX);
	ssize_t n;
	size_t i, o = 0;

	*out = names;
	*len = 0;
	*count = 0;
	if (!names) {
		return -ENOMEM;
	}
	n = listxattr(p, names, XATTR_MAX);
	if (n < 0) {
		return errno == ENOTSUP ? 0 : -errno;
	}
	for (i = 0; i < (size_t)n; i += strlen(names + i) + 1) {
		size_t nl = strlen(names + i) + 1;

		if (!xattr_is_marker(names + i)) {
			memmove(names + o, names + i, nl);
			o += nl;
			(*count)++;
		}
	}
	*len = o;
	return 0;
}

/* The same attribute names with the same values, in whatever order. */
static int
same_xattrs(int a, int b)
{
	char pa[64], pb[64], *na = NULL, *nb = NULL, *va = NULL, *vb = NULL;
	size_t la, lb, ca, cb, i;
	int r;

	snprintf(pa, sizeof(pa), "/proc/self/fd/%d", a);
	snprintf(pb, sizeof(pb), "/proc/self/fd/%d", b);
	r = xattr_names(pa, &na, &la, &ca);
	if (r == 0) {
		r = xattr_names(pb, &nb, &lb, &cb);
	}
	if (r == 0 && ca != cb) {
		r = 0;
		goto out;
	}
	va = malloc(XATTR_MAX);
	vb = malloc(XATTR_MAX);
	if (r == 0 && (!va || !vb)) {
		r = -ENOMEM;
	}
	if (r < 0) {
		goto out;
	}
	r = 1;
	for (i = 0; r == 1 && i < la; i += strlen(na + i) + 1) {
		ssize_t x = getxattr(pa, na + i, va, XATTR_MAX);
		ssize_t y = getxattr(pb, na + i, vb, XATTR_MAX);

		if (x < 0 && errno != ENODATA) {
			r = -errno;
		} else if (x < 0 || x != y || memcmp(va, vb, (size_t)x) != 0) {
			r = 0;
		}
	}
out:
	free(na);
	free(nb);
	free(va);
	free(vb);
	return r;
}

static int
same_data(int a, int b, off_t size)
{
	char *ba = malloc(CMP_BUF), *bb = malloc(CMP_BUF);
	int fa = layer_reopen(a, O_RDONLY | O_NOATIME);
	int fb = layer_reopen(b, O_RDONLY | O_NOATIME);
	off_t off = 0;
	int r = 1;

	if (!ba || !bb || fa < 0 || fb < 0) {
		r = !ba || !bb ? -ENOMEM : fa < 0 ? fa : fb;
		goto out;
	}
	while (off < size) {
		ssize_t na = pread(fa, ba, CMP_BUF, off);
		ssize_t nb = pread(fb, bb, CMP_BUF, off);

		if (na < 0 || nb < 0) {
			r = -errno;
			break;
		}
		if (na != nb || memcmp(ba, bb, (size_t)na) != 0) {
			r = 0;
			break;
		}
		if (na == 0) {
			break;
		}
		off += na;
	}
out:
	if (fa >= 0) {
		close(fa);
	}
	if (fb >= 0) {
		close(fb);
	}
	free(ba);
	free(bb);
	return r;
}

int
layer_same_object(int a, int b, unsigned flags)
{
	struct stat sa, sb;
	char ta[4096], tb[4096];
	ssize_t la, lb;
	int r;

	if (layer_stat_fd(a, &sa) < 0 || layer_stat_fd(b, &sb) < 0) {
		return -errno;
	}
	if (sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino) {
		return 1;
	}
	if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT) ||
	    (!S_ISLNK(sa.st_mode) && sa.st_mode != sb.st_mode) ||
	    sa.st_uid != sb.st_uid || sa.st_gid != sb.st_gid) {
		return 0;
	}
	if (!S_ISDIR(sa.st_mode) && (flags & LAYER_SAME_TIMES) &&
	    (sa.st_mtim.tv_sec != sb.st_mtim.tv_sec ||
		sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec)) {
		return 0;
	}
	switch (sa.st_mode & S_IFMT) {
	case S_IFREG:
		if (sa.st_size != sb.st_size) {
			return 0;
		}
		r = same_data(a, b, sa.st_size);
		break;
	case S_IFLNK:
		la = readlinkat(a, "", ta, sizeof(ta));
		lb = readlinkat(b, "", tb, sizeof(tb));
		if (la < 0 || lb < 0) {
			return -errno;
		}
		return la == lb && memcmp(ta, tb, (size_t)la) == 0;
	case S_IFCHR:
	case S_IFBLK:
		r = sa.st_rdev == sb.st_rdev;
		break;
	default:
		r = 1;
		break;
	}
	return r == 1 ? same_xattrs(a, b) : r;
}

/* --- a client layer against its versions -------------------------------- */

struct diff {
	struct layer_stack *st;
	int (*fn)(void *arg, const struct layer_change *c);
	void *arg;
	uint64_t *copies; /* origins with a copy and visible names, sorted */
	size_t ncopies;
	uint8_t *buf; /* getdents */
};

static int
emit(struct diff *d, const char *path, char kind, mode_t type, mode_t old)
{
	struct layer_change c = {
	    .path = path,
	    .kind = kind,
	    .type = type & S_IFMT,
	    .old_type = old & S_IFMT,
	};

	return d->fn(d->arg, &c);
}

/* @name in @dir as the versions alone show it (the client layer left out). */
static int
lookup_versions(struct layer_stack *st, struct layer_node *dir,
    const char *name, struct layer_node **out)
{
	int client = dir->dirs[0], r;

	dir->dirs[0] = -1;
	r = layer_lookup_raw(st, dir, name, out, NULL, NULL);
	dir->dirs[0] = client;
	return r;
}

/* The raw version file of a version node (not the client's copy). */
static int
version_fd(const struct layer_node *n)
{
	if (n->type == S_IFDIR) {
		return layer_dir_top(n);
	}
	return n->vfd >= 0 ? n->vfd : n->fd;
}

/* Every entry of client directory @fd at @path: all of it is new. */
static int
diff_added_tree(struct diff *d, int fd, const char *path, unsigned depth)
{
	DIR *dir;
	struct dirent *e;
	int dfd, r = 0;

	if (depth > LAYER_WALK_DEPTH) {
		return -ELOOP;
	}
	dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dir = dfd < 0 ? NULL : fdopendir(dfd);
	if (!dir) {
		r = -errno;
		if (dfd >= 0) {
			close(dfd);
		}
		return r;
	}
	while (r == 0 && (e = readdir(dir)) != NULL) {
		struct stat s;
		char *p;

		if (strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0) {
			continue;
		}
		if (fstatat(dirfd(dir), e->d_name, &s, AT_SYMLINK_NOFOLLOW) <
		    0) {
			r = -errno;
			break;
		}
		if (layer_is_whiteout(&s)) {
			continue; /* nothing below to hide */
		}
		p = layer_path_join(path, e->d_name);
		if (!p) {
			r = -ENOMEM;
			break;
		}
		r = emit(d, p, 'A', s.st_mode, 0);
		if (r == 0 && S_ISDIR(s.st_mode)) {
			int sub = openat(dirfd(dir), e->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			r = sub < 0 ? -errno
				    : diff_added_tree(d, sub, p, depth + 1);
			if (sub >= 0) {
				close(sub);
			}
		}
		free(p);
	}
	closedir(dir);
	return r;
}

/* The version entries an opaque client directory hides: deleted. */
static int
diff_hidden(struct diff *d, int cfd, struct layer_node *vdir, const char *path)
{
	char **names = NULL;
	size_t n = 0, i;
	int r = layer_dir_names(d->st, vdir, &names, &n);

	for (i = 0; r == 0 && i < n; i++) {
		struct layer_node *v = NULL;
		struct stat s;
		char *p;

		if (fstatat(cfd, names[i], &s, AT_SYMLINK_NOFOLLOW) == 0) {
			continue; /* the client layer has the name */
		}
		r = layer_lookup_raw(d->st, vdir, names[i], &v, NULL, NULL);
		if (r == -ENOENT) {
			r = 0;
			continue;
		}
		p = r == 0 ? layer_path_join(path, names[i]) : NULL;
		if (r == 0 && !p) {
			r = -ENOMEM;
		}
		if (r == 0) {
			r = emit(d, p, 'D', v->type, v->type);
		}
		free(p);
		layer_node_free(v);
	}
	layer_names_free(names, n);
	return r;
}

static int diff_dir(
    struct diff *d, struct layer_node *n, const char *path, unsigned depth);

static int
diff_entry(struct diff *d, struct layer_node *n, const char *name,
    const char *path, unsigned depth)
{
	struct layer_node *v = NULL, *m = NULL;
	struct stat s;
	int fd = -1, r;

	if (fstatat(n->dirs[0], name, &s, AT_SYMLINK_NOFOLLOW) < 0) {
		return errno == ENOENT ? 0 : -errno;
	}
	r = lookup_versions(d->st, n, name, &v);
	if (r == -ENOENT) {
		v = NULL;
		r = 0;
	}
	if (r < 0) {
		return r;
	}
	if (layer_is_whiteout(&s)) {
		r = v ? emit(d, path, 'D', v->type, v->type) : 0;
		goto out;
	}
	if (!v) {
		r = emit(d, path, 'A', s.st_mode, 0);
		if (r == 0 && S_ISDIR(s.st_mode)) {
			fd = openat(n->dirs[0], name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			r = fd < 0 ? -errno
				   : diff_added_tree(d, fd, path, depth + 1);
		}
		goto out;
	}
	fd = layer_openat(n->dirs[0], name, O_PATH);
	if (fd < 0) {
		r = fd;
		goto out;
	}
	if (!S_ISDIR(s.st_mode) || v->type != S_IFDIR) {
		r = layer_same_object(fd, version_fd(v), LAYER_SAME_TIMES);
		if (r == 0) {
			r = emit(d, path, 'M', s.st_mode, v->type);
		}
		if (r == 1) {
			r = 0;
		}
		if (r == 0 && S_ISDIR(s.st_mode)) {
			int dfd = layer_reopen(fd, O_RDONLY | O_DIRECTORY);

			r = dfd < 0 ? dfd
				    : diff_added_tree(d, dfd, path, depth + 1);
			if (dfd >= 0) {
				close(dfd);
			}
		}
		goto out;
	}
	/* A directory in both: its own attributes, then what it holds. */
	r = layer_same_object(fd, layer_dir_top(v), 0);
	if (r == 0) {
		r = emit(d, path, 'M', S_IFDIR, S_IFDIR);
	}
	if (r < 0) {
		goto out;
	}
	r = layer_lookup_raw(d->st, n, name, &m, NULL, NULL);
	if (r == 0 && (m->dflags[0] & LAYER_DIR_OPAQUE)) {
		r = diff_hidden(d, m->dirs[0], v, path);
	}
	if (r == 0) {
		r = diff_dir(d, m, path, depth + 1);
	}
out:
	if (fd >= 0) {
		close(fd);
	}
	layer_node_free(m);
	layer_node_free(v);
	return r;
}

/* The raw names of directory @fd, read before anything is looked at. */
static int
raw_names(int fd, struct layer_names *l)
{
	DIR *dir;
	struct dirent *e;
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

	dir = dfd < 0 ? NULL : fdopendir(dfd);
	if (!dir) {
		r = -errno;
		if (dfd >= 0) {
			close(dfd);
		}
		return r;
	}
	while (r == 0 && (e = readdir(dir)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 &&
		    strcmp(e->d_name, "..") != 0) {
			r = layer_names_add(l, e->d_name);
		}
	}
	closedir(dir);
	return r;
}

static int
diff_dir(struct diff *d, struct layer_node *n, const char *path, unsigned depth)
{
	struct layer_names l = {0};
	size_t i;
	int r;

	if (depth > LAYER_WALK_DEPTH) {
		return -ELOOP;
	}
	if (n->dirs[0] < 0) {
		return 0;
	}
	r = raw_names(n->dirs[0], &l);
	for (i = 0; r == 0 && i < l.n; i++) {
		char *p = layer_path_join(path, l.v[i]);

		r = p ? diff_entry(d, n, l.v[i], p, depth) : -ENOMEM;
		free(p);
	}
	layer_names_free(l.v, l.n);
	return r;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool
is_copy(const struct diff *d, uint64_t ino)
{
	return bsearch(&ino, d->copies, d->ncopies, sizeof(ino), cmp_u64) !=
	    NULL;
}

/*
 * A version file the client changed in place shows its copy at every
 * visible name of the version inode: one that the client layer does
 * not hold (those were compared above).
 */
static int
diff_copy_at(struct diff *d, const char *path, uint64_t ino)
{
	struct layer_node *n = NULL;
	int r = layer_lookup_path(d->st, path, &n);

	if (r == -ENOENT || r == -ENOTDIR) {
		return 0;
	}
	if (r < 0) {
		return r;
	}
	if (n->type != S_IFDIR && n->kind == LAYER_KIND_VERSION &&
	    n->ino == ino && n->vfd >= 0) {
		r = layer_same_object(n->fd, n->vfd, LAYER_SAME_TIMES);
		if (r == 0) {
			r = emit(d, path, 'M', n->type, n->type);
		}
		r = r == 1 ? 0 : r;
	}
	layer_node_free(n);
	return r;
}

/* Read a version layer's tree for the inodes of the copies. */
static int
find_copies(struct diff *d, int fd, const char *path, unsigned depth)
{
	struct layer_names subdirs = {0};
	long got;
	size_t at, i;
	int dfd, r = 0;

	if (depth > LAYER_WALK_DEPTH) {
		return -ELOOP;
	}
	dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		return -errno;
	}
	while (r == 0 &&
	    (got = syscall(SYS_getdents64, dfd, d->buf, CMP_BUF)) > 0) {
		for (at = 0; r == 0 && at < (size_t)got;) {
			struct layer_dent64 *e =
			    (struct layer_dent64 *)(void *)(d->buf + at);
			char *p;

			at += e->d_reclen;
			if (strcmp(e->d_name, ".") == 0 ||
			    strcmp(e->d_name, "..") == 0) {
				continue;
			}
			if (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN) {
				struct stat s;

				if (e->d_type == DT_UNKNOWN &&
				    (fstatat(dfd, e->d_name, &s,
					 AT_SYMLINK_NOFOLLOW) < 0 ||
					!S_ISDIR(s.st_mode))) {
					goto file;
				}
				r = layer_names_add(&subdirs, e->d_name);
				continue;
			}
file:
			if (!is_copy(d, e->d_ino)) {
				continue;
			}
			p = layer_path_join(path, e->d_name);
			r = p ? diff_copy_at(d, p, e->d_ino) : -ENOMEM;
			free(p);
		}
	}
	for (i = 0; r == 0 && i < subdirs.n; i++) {
		char *p = layer_path_join(path, subdirs.v[i]);
		int sub = openat(dfd, subdirs.v[i],
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (!p || sub < 0) {
			r = !p ? -ENOMEM : -errno;
		} else {
			r = find_copies(d, sub, p, depth + 1);
		}
		if (sub >= 0) {
			close(sub);
		}
		free(p);
	}
	layer_names_free(subdirs.v, subdirs.n);
	close(dfd);
	return r;
}

int
layer_diff(struct layer_stack *st,
    int (*fn)(void *arg, const struct layer_change *c), void *arg)
{
	struct diff d = {.st = st, .fn = fn, .arg = arg};
	struct layer_node *root = NULL;
	size_t i;
	int r;

	if (st->root[0] < 0) {
		return -EINVAL;
	}
	r = layer_root(st, &root);
	if (r == 0) {
		r = diff_dir(&d, root, "", 0);
	}
	layer_node_free(root);
	if (r < 0) {
		return r;
	}
	pthread_mutex_lock(&st->lock);
	d.copies = calloc(st->map.n ? st->map.n : 1, sizeof(*d.copies));
	for (i = 0; d.copies && i < st->map.n; i++) {
		if (st->map.e[i].copy && st->map.e[i].vis > 0) {
			d.copies[d.ncopies++] = st->map.e[i].origin;
		}
	}
	pthread_mutex_unlock(&st->lock);
	if (!d.copies) {
		return -ENOMEM;
	}
	qsort(d.copies, d.ncopies, sizeof(*d.copies), cmp_u64);
	d.buf = d.ncopies ? malloc(CMP_BUF) : NULL;
	if (d.ncopies && !d.buf) {
		r = -ENOMEM;
	}
	for (i = 1; r == 0 && d.ncopies && i <= st->nv; i++) {
		r = find_copies(&d, st->root[i], "", 0);
	}
	free(d.buf);
	free(d.copies);
	return r;
}

/* --- one version against another ---------------------------------------- */

struct compare {
	struct layer_stack *a, *b;
	int (*fn)(void *arg, const struct layer_change *c);
	void *arg;
};

/*
 * Do two merged directories merge the same instances?  Versions never
 * change, so then everything below them is the same too: a delta's
 * untouched directories are passed over without a look inside.
 */
static bool
same_instances(const struct layer_node *x, const struct layer_node *y)
{
	ino_t ix[LAYER_SLOTS], iy[LAYER_SLOTS];
	size_t nx = 0, ny = 0, i, j;
	struct stat s;

	for (i = 0; i < LAYER_SLOTS; i++) {
		if (x->dirs[i] >= 0 && layer_stat_fd(x->dirs[i], &s) == 0) {
			ix[nx++] = s.st_ino;
		}
		if (y->dirs[i] >= 0 && layer_stat_fd(y->dirs[i], &s) == 0) {
			iy[ny++] = s.st_ino;
		}
	}
	if (nx != ny) {
		return false;
	}
	for (i = 0; i < nx; i++) {
		for (j = 0; j < ny && iy[j] != ix[i]; j++) {
		}
		if (j == ny) {
			return false;
		}
	}
	return true;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int compare_dir(struct compare *c, struct layer_node *x,
    struct layer_node *y, const char *path, unsigned depth);

static int
compare_both(struct compare *c, struct layer_node *x, struct layer_node *y,
    const char *name, const char *path, unsigned depth)
{
	struct layer_node *nx = NULL, *ny = NULL;
	struct layer_change ch = {.path = path, .kind = 'M'};
	int r = layer_lookup_raw(c->a, x, name, &nx, NULL, NULL);

	if (r == 0) {
		r = layer_lookup_raw(c->b, y, name, &ny, NULL, NULL);
	}
	if (r < 0) {
		goto out;
	}
	ch.type = ny->type;
	ch.old_type = nx->type;
	if (nx->type != ny->type) {
		r = c->fn(c->arg, &ch);
		goto out;
	}
	if (nx->type != S_IFDIR) {
		r = nx->ino == ny->ino ? 1
				       : layer_same_object(version_fd(nx),
					     version_fd(ny), LAYER_SAME_TIMES);
		r = r == 0 ? c->fn(c->arg, &ch) : r < 0 ? r : 0;
		goto out;
	}
	if (same_instances(nx, ny)) {
		goto out;
	}
	r = layer_same_object(layer_dir_top(nx), layer_dir_top(ny), 0);
	r = r == 0 ? c->fn(c->arg, &ch) : r < 0 ? r : 0;
	if (r == 0) {
		r = compare_dir(c, nx, ny, path, depth + 1);
	}
out:
	layer_node_free(nx);
	layer_node_free(ny);
	return r;
}

/* What only one side has: added to @y's side, or deleted from @x's. */
static int
compare_one(struct compare *c, struct layer_stack *st, struct layer_node *dir,
    const char *name, const char *path, char kind)
{
	struct layer_node *n = NULL;
	struct layer_change ch = {.path = path, .kind = kind};
	int r = layer_lookup_raw(st, dir, name, &n, NULL, NULL);

	if (r < 0) {
		return r == -ENOENT ? 0 : r;
	}
	ch.type = n->type;
	ch.old_type = kind == 'D' ? n->type : 0;
	r = c->fn(c->arg, &ch);
	layer_node_free(n);
	return r;
}

static int
compare_dir(struct compare *c, struct layer_node *x, struct layer_node *y,
    const char *path, unsigned depth)
{
	char **na = NULL, **nb = NULL;
	size_t ca = 0, cb = 0, i = 0, j = 0;
	int r;

	if (depth > LAYER_WALK_DEPTH) {
		return -ELOOP;
	}
	r = layer_dir_names(c->a, x, &na, &ca);
	if (r == 0) {
		r = layer_dir_names(c->b, y, &nb, &cb);
	}
	if (r == 0) {
		qsort(na, ca, sizeof(*na), cmp_name);
		qsort(nb, cb, sizeof(*nb), cmp_name);
	}
	while (r == 0 && (i < ca || j < cb)) {
		int k = i == ca ? 1 : j == cb ? -1 : strcmp(na[i], nb[j]);
		const char *name = k <= 0 ? na[i] : nb[j];
		char *p = layer_path_join(path, name);

		if (!p) {
			r = -ENOMEM;
			break;
		}
		if (k < 0) {
			r = compare_one(c, c->a, x, name, p, 'D');
			i++;
		} else if (k > 0) {
			r = compare_one(c, c->b, y, name, p, 'A');
			j++;
		} else {
			r = compare_both(c, x, y, name, p, depth);
			i++;
			j++;
		}
		free(p);
	}
	layer_names_free(na, ca);
	layer_names_free(nb, cb);
	return r;
}

int
layer_compare(struct layer_stack *a, struct layer_stack *b,
    int (*fn)(void *arg, const struct layer_change *c), void *arg)
{
	struct compare c = {.a = a, .b = b, .fn = fn, .arg = arg};
	struct layer_node *x = NULL, *y = NULL;
	int r = layer_root(a, &x);

	if (r == 0) {
		r = layer_root(b, &y);
	}
	if (r == 0 && !same_instances(x, y)) {
		r = compare_dir(&c, x, y, "", 0);
	}
	layer_node_free(x);
	layer_node_free(y);
	return r;
}

/* --- where a client's changes meet a version's -------------------------- */

int
layer_path_cmp(const char *a, const char *b)
{
	int ca, cb;

	while (*a && *a == *b) {
		a++;
		b++;
	}
	/* '/' right after the end, so what a directory holds follows it. */
	ca = *a == '/' ? 1 : *a ? (unsigned char)*a + 1 : 0;
	cb = *b == '/' ? 1 : *b ? (unsigned char)*b + 1 : 0;
	return ca < cb ? -1 : ca > cb;
}

int
layer_changes_add(void *arg, const struct layer_change *c)
{
	struct layer_changes *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct layer_change *g = realloc(l->v, cap * sizeof(*g));

		if (!g) {
			return -ENOMEM;
		}
		l->v = g;
		l->cap = cap;
	}
	l->v[l->n] = *c;
	l->v[l->n].path = strdup(c->path);
	return l->v[l->n++].path ? 0 : -ENOMEM;
}

static int
change_cmp(const void *a, const void *b)
{
	return layer_path_cmp(((const struct layer_change *)a)->path,
	    ((const struct layer_change *)b)->path);
}

void
layer_changes_sort(struct layer_changes *l)
{
	if (l->n > 1) {
		qsort(l->v, l->n, sizeof(*l->v), change_cmp);
	}
}

void
layer_changes_fini(struct layer_changes *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free((char *)l->v[i].path);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Only a directory's own attributes: what it holds is not touched. */
static bool
attrs_only(const struct layer_change *c)
{
	return c->kind == 'M' && c->type == S_IFDIR && c->old_type == S_IFDIR;
}

/* The first change of @v at or after @path (layer_path_cmp order). */
static size_t
lower_bound(const struct layer_change *v, size_t n, const char *path)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (layer_path_cmp(v[mid].path, path) < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo;
}

static const struct layer_change *
find_path(const struct layer_change *v, size_t n, const char *path)
{
	size_t i = lower_bound(v, n, path);

	return i < n && strcmp(v[i].path, path) == 0 ? &v[i] : NULL;
}

/* A change of @v above @path that reaches it (an ancestor replaced). */
static const struct layer_change *
find_above(const struct layer_change *v, size_t n, const char *path)
{
	char *p = strdup(path), *slash;
	const struct layer_change *hit = NULL;

	while (p && !hit && (slash = strrchr(p, '/')) != NULL) {
		*slash = 0;
		hit = find_path(v, n, p);
		if (hit && attrs_only(hit)) {
			hit = NULL;
		}
	}
	free(p);
	return hit;
}

/* A change of @v below @path. */
static const struct layer_change *
find_below(const struct layer_change *v, size_t n, const char *path)
{
	size_t len = strlen(path), i = lower_bound(v, n, path);

	for (; i < n; i++) {
		if (strcmp(v[i].path, path) == 0) {
			continue;
		}
		if (strncmp(v[i].path, path, len) != 0 ||
		    v[i].path[len] != '/') {
			break;
		}
		return &v[i];
	}
	return NULL;
}

int
layer_conflicts(const struct layer_change *client, size_t nc,
    const struct layer_change *version, size_t nv,
    int (*fn)(
	void *arg, const struct layer_change *c, const struct layer_change *v),
    void *arg)
{
	size_t i;
	int count = 0, r;

	for (i = 0; i < nc; i++) {
		const struct layer_change *c = &client[i], *v;

		v = find_path(version, nv, c->path);
		if (!v) {
			v = find_above(version, nv, c->path);
		}
		if (!v && !attrs_only(c)) {
			v = find_below(version, nv, c->path);
		}
		if (!v) {
			continue;
		}
		count++;
		if (fn) {
			r = fn(arg, c, v);
			if (r < 0) {
				return r;
			}
		}
	}
	return count;
}
