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
	layer_node_set_fd(n, -1);
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

uint8_t
layer_dir_flags(int fd)
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

int
layer_set_version_file(struct layer_stack *st, struct layer_node *n, int vfd,
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
	/* Not copied: the data is the version file, one descriptor. */
	n->fd = vfd;
	return 0;
}

void
layer_node_set_fd(struct layer_node *n, int fd)
{
	if (n->fd >= 0 && n->fd != n->vfd) {
		close(n->fd);
	}
	n->fd = fd;
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
	n->dflags[i] = layer_dir_flags(n->dirs[i]);
	if (n->ino == 0 || (i > 0 && n->kind == LAYER_KIND_CLIENT)) {
		/* A merged directory's identity is its top version instance. */
		n->kind = i > 0 ? LAYER_KIND_VERSION : LAYER_KIND_CLIENT;
		n->ino = s->st_ino;
	}
	return 0;
}

static uint32_t nlink_from(
    struct layer_stack *st, const struct layer_node *n, const struct stat *s);

/*
 * layer_lookup_raw(), and with @top: the attributes of the instance the
 * lookup found on top (the object's own, or a version file's, which a
 * copy in the index replaces), as the lookup read them.
 */
static int
lookup_in(struct layer_stack *st, struct layer_node *dir, const char *name,
    struct layer_node **out, struct stat *cst, bool *below, struct stat *top)
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
			if (top) {
				*top = s;
			}
		}
		if (!S_ISDIR(s.st_mode) && i > 0) {
			r = layer_set_version_file(st, n, fd, &s);
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
			n->path = layer_path_join(dir->path, name);
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
	/* A version file's data is its copy, when the client made one. */
	if (top && n->vfd >= 0 && n->fd != n->vfd) {
		r = layer_stat_fd(n->fd, top);
		if (r < 0) {
			goto fail;
		}
	}
	*out = n;
	return 0;
fail:
	layer_node_free(n);
	return r;
}

int
layer_lookup_raw(struct layer_stack *st, struct layer_node *dir,
    const char *name, struct layer_node **out, struct stat *cst, bool *below)
{
	return lookup_in(st, dir, name, out, cst, below, NULL);
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
		n->dflags[i] = layer_dir_flags(n->dirs[i]) & LAYER_DIR_XWH;
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
layer_lookup_attr(struct layer_stack *st, struct layer_node *dir,
    const char *name, struct layer_node **out, struct stat *attr)
{
	int r;

	*out = NULL;
	if (dir->type != S_IFDIR) {
		return -ENOTDIR;
	}
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		r = layer_lookup(st, NULL, dir, name, out);
		return r < 0 ? r : layer_getattr(st, *out, attr);
	}
	r = layer_name_check(name);
	if (r == 0) {
		r = lookup_in(st, dir, name, out, NULL, NULL, attr);
	}
	if (r < 0) {
		return r;
	}
	attr->st_nlink = nlink_from(st, *out, attr);
	attr->st_ino = (*out)->ino;
	return 0;
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

/*
 * The merged link count of @n, whose top instance's attributes are @s
 * (n->fd's, or the top directory instance's).
 */
static uint32_t
nlink_from(
    struct layer_stack *st, const struct layer_node *n, const struct stat *s)
{
	struct layer_ix x;

	if (n->type == S_IFDIR) {
		/* A client-only directory's top instance is its own. */
		return n->kind == LAYER_KIND_VERSION ? 1
						     : (uint32_t)s->st_nlink;
	}
	if (n->kind == LAYER_KIND_CLIENT || !layer_map_find(st, n->ino, &x)) {
		return (uint32_t)s->st_nlink;
	}
	return x.vis +
	    (x.copy && s->st_nlink > 0 ? (uint32_t)s->st_nlink - 1 : 0);
}

uint32_t
layer_nlink_of(struct layer_stack *st, const struct layer_node *n)
{
	struct stat s;
	int fd = n->type == S_IFDIR ? layer_dir_top(n) : n->fd;

	if (layer_stat_fd(fd, &s) < 0) {
		return n->type == S_IFDIR ? 1 : 0;
	}
	return nlink_from(st, n, &s);
}

int
layer_attr_raw(struct layer_stack *st, const struct layer_node *n,
    struct stat *out, ino_t *top)
{
	int fd = n->type == S_IFDIR ? layer_dir_top(n) : n->fd;
	int r = layer_stat_fd(fd, out);

	if (r < 0) {
		return r;
	}
	if (top) {
		*top = out->st_ino;
	}
	out->st_nlink = nlink_from(st, n, out);
	out->st_ino = n->ino;
	return 0;
}

int
layer_getattr(
    struct layer_stack *st, const struct layer_node *n, struct stat *out)
{
	return layer_attr_raw(st, n, out, NULL);
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
