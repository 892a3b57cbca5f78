#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer/internal.h"

/*
 * Nodes: the merged lookup, handles and attributes.
 *
 * A lookup walks the directory's instances from the top: the first
 * layer holding the name decides.  A whiteout hides it; a non-directory
 * is the object; a directory merges with the same name below until an
 * opaque one (or a non-directory, which ends the merge).  Directories
 * remember their path from the root, which is how a handle of one is
 * checked: its path must still lead to it in the merged tree.
 */

int
layer_openat(int dirfd, const char *name, int flags)
{
	struct open_how how = {
	    .flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
	    .resolve =
		RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));

	if (fd < 0) {
		/* A mount point inside a layer is not part of it. */
		return errno == EXDEV ? -EACCES : -errno;
	}
	return (int)fd;
}

int
layer_reopen(int fd, int flags)
{
	char path[64];
	int r;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r = open(path, flags | O_CLOEXEC);
	return r < 0 ? -errno : r;
}

int
layer_stat_fd(int fd, struct stat *st)
{
	return fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0
	    ? -errno
	    : 0;
}

bool
layer_is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

int
layer_name_check(const char *name)
{
	size_t n = strnlen(name, LAYER_NAME_MAX + 1);

	if (n == 0 || strchr(name, '/')) {
		return -EACCES;
	}
	if (n > LAYER_NAME_MAX) {
		return -ENAMETOOLONG;
	}
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		return -EINVAL;
	}
	return 0;
}

struct layer_node *
layer_node_new(void)
{
	struct layer_node *n = calloc(1, sizeof(*n));
	size_t i;

	if (!n) {
		return NULL;
	}
	n->fd = -1;
	n->vfd = -1;
	for (i = 0; i < LAYER_SLOTS; i++) {
		n->dirs[i] = -1;
	}
	return n;
}

void
layer_node_free(struct layer_node *n)
{
	size_t i;

	if (!n) {
		return;
	}
	if (n->fd >= 0) {
		close(n->fd);
	}
	if (n->vfd >= 0) {
		close(n->vfd);
	}
	for (i = 0; i < LAYER_SLOTS; i++) {
		if (n->dirs[i] >= 0) {
			close(n->dirs[i]);
		}
	}
	free(n->path);
	free(n);
}

int
layer_dir_top(const struct layer_node *n)
{
	size_t i;

	for (i = 0; i < LAYER_SLOTS; i++) {
		if (n->dirs[i] >= 0) {
			return n->dirs[i];
		}
	}
	return -1;
}

bool
layer_dir_has_version(const struct layer_node *n)
{
	size_t i;

	for (i = 1; i < LAYER_SLOTS; i++) {
		if (n->dirs[i] >= 0) {
			return true;
		}
	}
	return false;
}

static uint8_t
dir_flags(int fd)
{
	char v[8];
	ssize_t n = fgetxattr(fd, LAYER_XATTR_OPAQUE, v, sizeof(v));

	if (n == 1 && v[0] == 'y') {
		return LAYER_DIR_OPAQUE;
	}
	if (n == 1 && v[0] == 'x') {
		return LAYER_DIR_XWH;
	}
	return 0;
}

/*
 * A whiteout in layer @slot: a 0/0 character device, or in a version
 * directory marked "x" a zero-size file with the whiteout xattr (the
 * kernel reads those in lower layers only, and so do we).
 */
static bool
is_whiteout_at(int fd, const struct stat *s, int slot, uint8_t dflags)
{
	char proc[64];

	if (layer_is_whiteout(s)) {
		return true;
	}
	if (slot == 0 || !(dflags & LAYER_DIR_XWH) || !S_ISREG(s->st_mode) ||
	    s->st_size != 0) {
		return false;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return getxattr(proc, LAYER_XATTR_WHITEOUT, NULL, 0) >= 0;
}

static char *
path_join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = malloc(a + b + 2);

	if (!p) {
		return NULL;
	}
	memcpy(p, dir, a);
	if (a) {
		p[a++] = '/';
	}
	memcpy(p + a, name, b + 1);
	return p;
}

/* The version inode of a non-directory node, from whichever we have. */
static int
set_version_file(struct layer_stack *st, struct layer_node *n, int vfd,
    const struct stat *vs)
{
	struct layer_ix x;
	char name[LAYER_IXNAME_MAX];

	n->kind = LAYER_KIND_VERSION;
	n->ino = vs->st_ino;
	n->type = vs->st_mode & S_IFMT;
	n->vfd = vfd;
	if (layer_map_find(st, n->ino, &x) && x.copy) {
		layer_ixname(name, sizeof(name), &x);
		n->fd = layer_openat(st->index, name, O_PATH);
		return n->fd < 0 ? n->fd : 0;
	}
	n->fd = dup(vfd);
	return n->fd < 0 ? -errno : 0;
}

/* @name in @dirfd, O_PATH, and its attributes: an fd or -errno. */
static int
open_stat(int dirfd, const char *name, struct stat *s)
{
	int fd = layer_openat(dirfd, name, O_PATH);

	if (fd >= 0 && layer_stat_fd(fd, s) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

/* Does a version instance of @dir show something under @name? */
static int
version_shows(struct layer_node *dir, const char *name, size_t nv)
{
	struct stat s;
	size_t i;
	bool wh;
	int fd;

	for (i = 1; i <= nv; i++) {
		if (dir->dirs[i] < 0) {
			continue;
		}
		fd = open_stat(dir->dirs[i], name, &s);
		if (fd == -ENOENT) {
			continue;
		}
		if (fd < 0) {
			return fd;
		}
		wh = is_whiteout_at(fd, &s, (int)i, dir->dflags[i]);
		close(fd);
		return !wh;
	}
	return 0;
}

/* Add directory instance @fd (O_PATH, taken) of layer @i to @n. */
static int
add_dir_instance(struct layer_node *n, size_t i, int fd, const struct stat *s)
{
	n->dirs[i] = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(fd);
	if (n->dirs[i] < 0) {
		return -errno;
	}
	n->dflags[i] = dir_flags(n->dirs[i]);
	if (n->ino == 0 || (i > 0 && n->kind == LAYER_KIND_CLIENT)) {
		/* A merged directory's identity is its top version instance. */
		n->kind = i > 0 ? LAYER_KIND_VERSION : LAYER_KIND_CLIENT;
		n->ino = s->st_ino;
	}
	return 0;
}

int
layer_lookup_raw(struct layer_stack *st, struct layer_node *dir,
    const char *name, struct layer_node **out, struct stat *cst, bool *below)
{
	struct layer_node *n = NULL;
	struct stat s;
	size_t i;
	int fd, r = -ENOENT;

	*out = NULL;
	if (cst) {
		cst->st_mode = 0;
	}
	if (below) {
		r = version_shows(dir, name, st->nv);
		if (r < 0) {
			return r;
		}
		*below = r > 0;
		r = -ENOENT;
	}
	for (i = 0; i <= st->nv; i++) {
		if (dir->dirs[i] < 0) {
			continue;
		}
		fd = open_stat(dir->dirs[i], name, &s);
		if (fd == -ENOENT) {
			continue;
		}
		if (fd < 0) {
			r = fd;
			goto fail;
		}
		if (i == 0 && cst) {
			*cst = s;
		}
		if (is_whiteout_at(fd, &s, (int)i, dir->dflags[i]) ||
		    (n && !S_ISDIR(s.st_mode))) {
			/* Hidden, or a non-directory ends a merge. */
			close(fd);
			break;
		}
		if (!n) {
			n = layer_node_new();
			if (!n) {
				close(fd);
				r = -ENOMEM;
				goto fail;
			}
			n->type = s.st_mode & S_IFMT;
		}
		if (!S_ISDIR(s.st_mode) && i > 0) {
			r = set_version_file(st, n, fd, &s);
			if (r < 0) {
				goto fail;
			}
			break;
		}
		if (!S_ISDIR(s.st_mode)) {
			n->fd = fd;
			n->ino = layer_map_origin(st, s.st_ino);
			n->kind =
			    n->ino ? LAYER_KIND_VERSION : LAYER_KIND_CLIENT;
			if (!n->ino) {
				n->ino = s.st_ino;
			}
			break;
		}
		if (!n->path) {
			n->path = path_join(dir->path, name);
			if (!n->path) {
				close(fd);
				r = -ENOMEM;
				goto fail;
			}
		}
		r = add_dir_instance(n, i, fd, &s);
		if (r < 0) {
			goto fail;
		}
		if (n->dflags[i] & LAYER_DIR_OPAQUE) {
			break;
		}
	}
	if (!n) {
		return r;
	}
	*out = n;
	return 0;
fail:
	layer_node_free(n);
	return r;
}

int
layer_root(struct layer_stack *st, struct layer_node **out)
{
	struct layer_node *n = layer_node_new();
	struct stat s;
	size_t i;

	*out = NULL;
	if (!n) {
		return -ENOMEM;
	}
	n->type = S_IFDIR;
	n->path = strdup("");
	if (!n->path) {
		layer_node_free(n);
		return -ENOMEM;
	}
	/* Roots always merge: overlayfs ignores opaque on a layer root. */
	for (i = 0; i <= st->nv; i++) {
		if (st->root[i] < 0) {
			continue;
		}
		n->dirs[i] = openat(
		    st->root[i], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (n->dirs[i] < 0 || fstat(n->dirs[i], &s) < 0) {
			layer_node_free(n);
			return -errno;
		}
		n->dflags[i] = dir_flags(n->dirs[i]) & LAYER_DIR_XWH;
		if (n->ino == 0 || (i > 0 && n->kind == LAYER_KIND_CLIENT)) {
			n->kind =
			    i > 0 ? LAYER_KIND_VERSION : LAYER_KIND_CLIENT;
			n->ino = s.st_ino;
		}
	}
	*out = n;
	return 0;
}

static int
lookup_parent(
    struct layer_stack *st, struct layer_node *dir, struct layer_node **out)
{
	char *slash = strrchr(dir->path, '/');
	char *up;
	int r;

	if (!slash) {
		return layer_root(st, out);
	}
	up = strndup(dir->path, (size_t)(slash - dir->path));
	if (!up) {
		return -ENOMEM;
	}
	r = layer_lookup_path(st, up, out);
	free(up);
	return r;
}

int
layer_lookup(struct layer_stack *st, const struct layer_cred *c,
    struct layer_node *dir, const char *name, struct layer_node **out)
{
	struct stat ds;
	int r;

	*out = NULL;
	if (dir->type != S_IFDIR) {
		return -ENOTDIR;
	}
	if (c) {
		r = layer_stat_fd(layer_dir_top(dir), &ds);
		if (r < 0) {
			return r;
		}
		if (!layer_may(c, &ds, LAYER_MAY_EXEC)) {
			return -EACCES;
		}
	}
	if (strcmp(name, ".") == 0) {
		return layer_lookup_path(st, dir->path, out);
	}
	if (strcmp(name, "..") == 0) {
		return lookup_parent(st, dir, out);
	}
	r = layer_name_check(name);
	if (r < 0) {
		return r;
	}
	return layer_lookup_raw(st, dir, name, out, NULL, NULL);
}

int
layer_lookup_path(
    struct layer_stack *st, const char *path, struct layer_node **out)
{
	struct layer_node *cur = NULL, *next;
	char name[LAYER_NAME_MAX + 1];
	const char *p = path, *e;
	int r;

	*out = NULL;
	r = layer_root(st, &cur);
	if (r < 0) {
		return r;
	}
	while (*p == '/') {
		p++;
	}
	while (*p) {
		e = strchr(p, '/');
		if (!e) {
			e = p + strlen(p);
		}
		if ((size_t)(e - p) > LAYER_NAME_MAX) {
			r = -ENAMETOOLONG;
			goto fail;
		}
		memcpy(name, p, (size_t)(e - p));
		name[e - p] = 0;
		r = layer_name_check(name);
		if (r == 0 && cur->type != S_IFDIR) {
			r = -ENOTDIR;
		}
		if (r < 0) {
			goto fail;
		}
		r = layer_lookup_raw(st, cur, name, &next, NULL, NULL);
		if (r < 0) {
			goto fail;
		}
		layer_node_free(cur);
		cur = next;
		p = *e ? e + 1 : e;
	}
	*out = cur;
	return 0;
fail:
	layer_node_free(cur);
	return r;
}

uint32_t
layer_nlink_of(struct layer_stack *st, const struct layer_node *n)
{
	struct layer_ix x;
	struct stat s;

	if (n->type == S_IFDIR) {
		if (n->kind == LAYER_KIND_VERSION) {
			return 1;
		}
		return layer_stat_fd(n->dirs[0], &s) == 0 ? (uint32_t)s.st_nlink
							  : 1;
	}
	if (layer_stat_fd(n->fd, &s) < 0) {
		return 0;
	}
	if (n->kind == LAYER_KIND_CLIENT) {
		return (uint32_t)s.st_nlink;
	}
	if (!layer_map_find(st, n->ino, &x)) {
		return (uint32_t)s.st_nlink;
	}
	return x.vis +
	    (x.copy && s.st_nlink > 0 ? (uint32_t)s.st_nlink - 1 : 0);
}

int
layer_getattr(
    struct layer_stack *st, const struct layer_node *n, struct stat *out)
{
	int fd = n->type == S_IFDIR ? layer_dir_top(n) : n->fd;
	int r = layer_stat_fd(fd, out);

	if (r < 0) {
		return r;
	}
	out->st_ino = n->ino;
	out->st_nlink = layer_nlink_of(st, n);
	return 0;
}

ssize_t
layer_readlink(
    struct layer_stack *st, const struct layer_node *n, char *buf, size_t cap)
{
	ssize_t r;

	(void)st;
	if (n->type != S_IFLNK) {
		return -EINVAL;
	}
	r = readlinkat(n->fd, "", buf, cap);
	return r < 0 ? -errno : r;
}

/* --- handles ------------------------------------------------------------ */

struct kh {
	struct file_handle h;
	uint8_t room[LAYER_FH_MAX + 64];
};

static int
fh_of(int fd, uint8_t kind, struct layer_fh *out)
{
	struct kh k;
	int mnt;

	k.h.handle_bytes = sizeof(k.room);
	if (name_to_handle_at(fd, "", &k.h, &mnt, AT_EMPTY_PATH) < 0) {
		return -errno;
	}
	if (k.h.handle_bytes > LAYER_FH_MAX) {
		return -EOVERFLOW;
	}
	*out = (struct layer_fh){
	    .kind = kind,
	    .len = (uint8_t)k.h.handle_bytes,
	    .type = k.h.handle_type,
	};
	memcpy(out->h, k.h.f_handle, k.h.handle_bytes);
	return 0;
}

int
layer_node_fh(
    struct layer_stack *st, const struct layer_node *n, struct layer_fh *out)
{
	struct layer_ix x;
	size_t i;

	if (n->type == S_IFDIR) {
		for (i = n->kind == LAYER_KIND_VERSION ? 1 : 0; i < LAYER_SLOTS;
		     i++) {
			if (n->dirs[i] >= 0) {
				return fh_of(n->dirs[i], (uint8_t)n->kind, out);
			}
		}
		return -ESTALE;
	}
	if (n->kind == LAYER_KIND_CLIENT) {
		return fh_of(n->fd, LAYER_KIND_CLIENT, out);
	}
	if (n->vfd >= 0) {
		return fh_of(n->vfd, LAYER_KIND_VERSION, out);
	}
	/* Reached through the client layer only: the index kept it. */
	if (!layer_map_find(st, n->ino, &x)) {
		return -ESTALE;
	}
	*out = (struct layer_fh){
	    .kind = LAYER_KIND_VERSION, .len = x.hlen, .type = x.htype};
	memcpy(out->h, x.h, x.hlen);
	return 0;
}

/* The name under which directory @parent holds directory inode @ino. */
static int
name_in(int parent, ino_t ino, char *name)
{
	uint8_t buf[4096];
	long got;
	size_t at;
	int fd = openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		return -errno;
	}
	while ((got = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (at = 0; at < (size_t)got;) {
			struct dirent64 *d =
			    (struct dirent64 *)(void *)(buf + at);

			at += d->d_reclen;
			if (d->d_ino == ino && strcmp(d->d_name, ".") &&
			    strcmp(d->d_name, "..")) {
				snprintf(
				    name, LAYER_NAME_MAX + 1, "%s", d->d_name);
				close(fd);
				return 0;
			}
		}
	}
	close(fd);
	return -ESTALE;
}

/*
 * The path of directory @fd below a layer root, found by climbing "..":
 * for paths /proc cannot show (longer than PATH_MAX).  Slower, as it
 * reads each parent to find the name; the layer roots end the climb.
 */
static int
dir_path_up(struct layer_stack *st, int fd, size_t *slot, char **out)
{
	char name[LAYER_NAME_MAX + 1], *path = strdup(""), *longer;
	struct stat s, up;
	size_t i, depth;
	int cur = dup(fd), next, r = -ESTALE;

	for (depth = 0; path && cur >= 0 && depth < 65536; depth++) {
		if (layer_stat_fd(cur, &s) < 0) {
			break;
		}
		for (i = *slot == 0 ? 0 : 1; i <= (*slot == 0 ? 0 : st->nv);
		     i++) {
			if (st->root[i] >= 0 && s.st_ino == st->root_ino[i] &&
			    s.st_dev == st->dev) {
				*slot = i;
				*out = path;
				close(cur);
				return 0;
			}
		}
		next = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (next < 0 || layer_stat_fd(next, &up) < 0 ||
		    up.st_ino == s.st_ino ||
		    name_in(next, s.st_ino, name) < 0) {
			if (next >= 0) {
				close(next);
			}
			break;
		}
		close(cur);
		cur = next;
		longer = malloc(strlen(name) + strlen(path) + 2);
		if (longer) {
			sprintf(longer, "%s%s%s", name, *path ? "/" : "", path);
		}
		free(path);
		path = longer;
	}
	if (cur >= 0) {
		close(cur);
	}
	r = path ? -ESTALE : -ENOMEM;
	free(path);
	return r;
}

/* The path of directory @fd below the root of @slot, from /proc. */
static int
dir_path_in(struct layer_stack *st, int fd, size_t *slot, char **out)
{
	char proc[64], *buf;
	size_t i, rl;
	ssize_t n;

	buf = malloc(PATH_MAX);
	if (!buf) {
		return -ENOMEM;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, buf, PATH_MAX - 1);
	if ((n < 0 && errno == ENAMETOOLONG) || n >= PATH_MAX - 1) {
		free(buf);
		return dir_path_up(st, fd, slot, out);
	}
	if (n <= 0) {
		free(buf);
		return -ESTALE;
	}
	buf[n] = 0;
	for (i = *slot == 0 ? 0 : 1; i <= (*slot == 0 ? 0 : st->nv); i++) {
		if (!st->root_path[i]) {
			continue;
		}
		rl = strlen(st->root_path[i]);
		if (strncmp(buf, st->root_path[i], rl) == 0 &&
		    (buf[rl] == 0 || buf[rl] == '/')) {
			memmove(buf, buf + rl + (buf[rl] == '/'),
			    strlen(buf + rl + (buf[rl] == '/')) + 1);
			*slot = i;
			*out = buf;
			return 0;
		}
	}
	free(buf);
	return -ESTALE;
}

int
layer_fh_open(
    struct layer_stack *st, const struct layer_fh *fh, struct layer_node **out)
{
	struct layer_node *n = NULL;
	struct layer_ix x;
	struct kh k;
	struct stat s;
	size_t slot;
	char *path = NULL;
	int fd, r, mnt = st->root[0] >= 0 ? st->root[0] : st->root[1];

	*out = NULL;
	if (fh->len == 0 || fh->len > LAYER_FH_MAX ||
	    (fh->kind != LAYER_KIND_CLIENT && fh->kind != LAYER_KIND_VERSION) ||
	    (fh->kind == LAYER_KIND_CLIENT && st->root[0] < 0)) {
		return -EINVAL;
	}
	k.h.handle_bytes = fh->len;
	k.h.handle_type = fh->type;
	memcpy(k.h.f_handle, fh->h, fh->len);
	fd = open_by_handle_at(mnt, &k.h, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		return r == -ENOENT || r == -EINVAL ? -ESTALE : r;
	}
	if (layer_stat_fd(fd, &s) < 0 || s.st_dev != st->dev) {
		close(fd);
		return -ESTALE;
	}
	if (S_ISDIR(s.st_mode)) {
		slot = fh->kind == LAYER_KIND_CLIENT ? 0 : 1;
		r = dir_path_in(st, fd, &slot, &path);
		close(fd);
		if (r < 0) {
			return r;
		}
		r = layer_lookup_path(st, path, &n);
		free(path);
		if (r < 0) {
			return r == -ENOENT || r == -ENOTDIR ? -ESTALE : r;
		}
		if (n->type != S_IFDIR || n->kind != fh->kind ||
		    n->ino != s.st_ino) {
			layer_node_free(n);
			return -ESTALE;
		}
		*out = n;
		return 0;
	}
	n = layer_node_new();
	if (!n) {
		close(fd);
		return -ENOMEM;
	}
	if (fh->kind == LAYER_KIND_CLIENT) {
		/* A copy in the index is always reached as its version. */
		if (s.st_nlink == 0 || layer_map_origin(st, s.st_ino) != 0) {
			close(fd);
			layer_node_free(n);
			return -ESTALE;
		}
		n->kind = LAYER_KIND_CLIENT;
		n->ino = s.st_ino;
		n->type = s.st_mode & S_IFMT;
		n->fd = fd;
		*out = n;
		return 0;
	}
	if (layer_map_find(st, s.st_ino, &x) && x.vis == 0) {
		struct stat cs;
		char name[LAYER_IXNAME_MAX];
		int cfd = -1;

		/* Every name hidden: alive only through client links. */
		if (x.copy) {
			layer_ixname(name, sizeof(name), &x);
			cfd = layer_openat(st->index, name, O_PATH);
		}
		if (cfd < 0 || layer_stat_fd(cfd, &cs) < 0 || cs.st_nlink < 2) {
			if (cfd >= 0) {
				close(cfd);
			}
			close(fd);
			layer_node_free(n);
			return -ESTALE;
		}
		close(cfd);
	}
	r = set_version_file(st, n, fd, &s);
	if (r < 0) {
		layer_node_free(n);
		return r;
	}
	*out = n;
	return 0;
}
