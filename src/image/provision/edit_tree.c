#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/provision/edit.h"
#include "image/provision/tree.h"

/*
 * The two kinds of tree the identity edits work on (edit.h): a plain
 * directory, through the tree_* functions, and a layer stack, through
 * src/layer as the server, so edits of a layered client land in its
 * layer as copies and whiteouts.
 */

/* --- plain trees -------------------------------------------------------- */

static int
plain_parent(int rootfd, const char *rel, const char **base)
{
	const char *slash = strrchr(rel, '/');
	char dir[PATH_MAX];

	if (!slash) {
		*base = rel;
		return tree_open_dir(rootfd, ".");
	}
	if ((size_t)(slash - rel) >= sizeof(dir)) {
		return -ENAMETOOLONG;
	}
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - rel), rel);
	*base = slash + 1;
	return tree_open_dir(rootfd, dir);
}

static char *
plain_read(void *ctx, const char *rel, size_t max, size_t *len)
{
	int rootfd = (int)(intptr_t)ctx;

	return tree_read_file(rootfd, rel, max, len);
}

static int
plain_write(
    void *ctx, const char *rel, const void *data, size_t len, mode_t mode)
{
	int rootfd = (int)(intptr_t)ctx;

	return tree_write_file(rootfd, rel, data, len, mode);
}

static int
plain_type(void *ctx, const char *rel, mode_t *type)
{
	int rootfd = (int)(intptr_t)ctx;
	const char *base;
	struct stat s;
	int fd = plain_parent(rootfd, rel, &base), r = 0;

	if (fd < 0) {
		return fd;
	}
	if (fstatat(fd, base, &s, AT_SYMLINK_NOFOLLOW) < 0) {
		r = -errno;
	} else {
		*type = s.st_mode & S_IFMT;
	}
	close(fd);
	return r;
}

static int
plain_names(void *ctx, const char *rel, int (*fn)(void *arg, const char *name),
    void *arg)
{
	int rootfd = (int)(intptr_t)ctx;
	int fd = tree_open_dir(rootfd, rel), r = 0;
	struct dirent *e;
	DIR *d;

	if (fd < 0) {
		return fd;
	}
	d = tree_dir_stream(fd);
	close(fd);
	if (!d) {
		return -errno;
	}
	while (r == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 &&
		    strcmp(e->d_name, "..") != 0) {
			r = fn(arg, e->d_name);
		}
	}
	closedir(d);
	return r;
}

static int
plain_unlink(void *ctx, const char *rel)
{
	int rootfd = (int)(intptr_t)ctx;
	const char *base;
	int fd = plain_parent(rootfd, rel, &base), r = 0;

	if (fd < 0) {
		return fd == -ENOENT ? 0 : fd;
	}
	if (unlinkat(fd, base, 0) < 0 && errno != ENOENT) {
		r = -errno;
	}
	close(fd);
	return r;
}

static int
plain_symlink(void *ctx, const char *rel, const char *target)
{
	int rootfd = (int)(intptr_t)ctx;
	const char *base;
	int fd = plain_parent(rootfd, rel, &base), r = 0;

	if (fd < 0) {
		return fd;
	}
	if (unlinkat(fd, base, 0) < 0 && errno != ENOENT) {
		r = -errno;
	} else if (symlinkat(target, fd, base) < 0) {
		r = -errno;
	}
	close(fd);
	return r;
}

static int
plain_mkdir(void *ctx, const char *rel, mode_t mode)
{
	int rootfd = (int)(intptr_t)ctx;
	const char *base;
	int fd = plain_parent(rootfd, rel, &base), r = 0;

	if (fd < 0) {
		return fd;
	}
	if (mkdirat(fd, base, mode) < 0 && errno != EEXIST) {
		r = -errno;
	}
	close(fd);
	return r;
}

static int
plain_chown(void *ctx, const char *rel, uid_t uid, gid_t gid)
{
	int rootfd = (int)(intptr_t)ctx;
	const char *base;
	int fd = plain_parent(rootfd, rel, &base), r = 0;

	if (fd < 0) {
		return fd;
	}
	if (fchownat(fd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
		r = -errno;
	}
	close(fd);
	return r;
}

static const struct prov_tree_ops plain_ops = {
    .read = plain_read,
    .write = plain_write,
    .type = plain_type,
    .names = plain_names,
    .unlink = plain_unlink,
    .symlink = plain_symlink,
    .mkdir = plain_mkdir,
    .chown = plain_chown,
};

void
prov_tree_plain(struct prov_tree *t, int rootfd)
{
	t->ops = &plain_ops;
	t->ctx = (void *)(intptr_t)rootfd;
}

/* --- layer stacks ------------------------------------------------------- */

#define LINKS_MAX 40 /* symlinks followed in one path, as the kernel */

/*
 * The node at @rel, symlinks resolved inside the merged tree: every
 * component but the last, and the last too with @follow.
 */
static int
resolve(struct layer_stack *st, const char *rel, bool follow,
    struct layer_node **out)
{
	char *rest = NULL, *next = NULL, name[LAYER_NAME_MAX + 1];
	struct layer_node *cur = NULL, *n = NULL;
	unsigned links = 0;
	const char *p;
	int r;

	*out = NULL;
	rest = strdup(rel);
	r = rest ? layer_root(st, &cur) : -ENOMEM;
	p = rest;
	while (r == 0 && *p) {
		size_t len = strcspn(p, "/");
		bool last;

		if (len == 0 || (len == 1 && p[0] == '.')) {
			p += len + (p[len] == '/');
			continue;
		}
		if (len > LAYER_NAME_MAX) {
			r = -ENAMETOOLONG;
			break;
		}
		memcpy(name, p, len);
		name[len] = 0;
		p += len;
		while (*p == '/') {
			p++;
		}
		last = *p == 0;
		r = layer_lookup(st, NULL, cur, name, &n);
		if (r < 0) {
			break;
		}
		if (n->type == S_IFLNK && (!last || follow)) {
			char target[PATH_MAX];
			ssize_t tl =
			    layer_readlink(st, n, target, sizeof(target) - 1);

			layer_node_free(n);
			n = NULL;
			if (tl < 0 || ++links > LINKS_MAX) {
				r = tl < 0 ? (int)tl : -ELOOP;
				break;
			}
			target[tl] = 0;
			next = malloc((size_t)tl + strlen(p) + 2);
			if (!next) {
				r = -ENOMEM;
				break;
			}
			snprintf(next, (size_t)tl + strlen(p) + 2, "%s/%s",
			    target, p);
			free(rest);
			rest = next;
			next = NULL;
			p = rest;
			if (target[0] == '/') {
				layer_node_free(cur);
				cur = NULL;
				r = layer_root(st, &cur);
			}
			continue;
		}
		if (!last && n->type != S_IFDIR) {
			r = -ENOTDIR;
			break;
		}
		layer_node_free(cur);
		cur = n;
		n = NULL;
	}
	layer_node_free(n);
	free(rest);
	if (r < 0) {
		layer_node_free(cur);
		return r;
	}
	*out = cur;
	return 0;
}

/* The directory holding @rel (resolved) and @rel's last name. */
static int
resolve_parent(struct layer_stack *st, const char *rel, struct layer_node **dir,
    char *name, size_t cap)
{
	const char *slash = strrchr(rel, '/');
	char *up;
	int r;

	if (!slash) {
		snprintf(name, cap, "%s", rel);
		return layer_root(st, dir);
	}
	if (strlen(slash + 1) >= cap) {
		return -ENAMETOOLONG;
	}
	snprintf(name, cap, "%s", slash + 1);
	up = strndup(rel, (size_t)(slash - rel));
	if (!up) {
		return -ENOMEM;
	}
	r = resolve(st, up, true, dir);
	free(up);
	if (r == 0 && (*dir)->type != S_IFDIR) {
		layer_node_free(*dir);
		*dir = NULL;
		r = -ENOTDIR;
	}
	return r;
}

static char *
layer_read(void *ctx, const char *rel, size_t max, size_t *len)
{
	struct layer_stack *st = ctx;
	struct layer_node *n = NULL;
	char *p = NULL;
	struct stat s;
	size_t got = 0;
	int fd = -1, r;

	r = resolve(st, rel, true, &n);
	if (r == 0 && n->type != S_IFREG) {
		r = -EINVAL;
	}
	if (r == 0) {
		r = layer_getattr(st, n, &s);
	}
	if (r == 0 && (uint64_t)s.st_size > max) {
		r = -EFBIG;
	}
	if (r == 0) {
		fd = layer_open_data(st, NULL, n, O_RDONLY);
		r = fd < 0 ? fd : 0;
	}
	if (r == 0) {
		p = malloc((size_t)s.st_size + 1);
		r = p ? 0 : -ENOMEM;
	}
	while (r == 0 && got < (size_t)s.st_size) {
		ssize_t k = read(fd, p + got, (size_t)s.st_size - got);

		if (k <= 0) {
			break;
		}
		got += (size_t)k;
	}
	if (fd >= 0) {
		close(fd);
	}
	layer_node_free(n);
	if (r < 0) {
		free(p);
		errno = -r;
		return NULL;
	}
	p[got] = 0;
	if (len) {
		*len = got;
	}
	return p;
}

/* A new regular file @name in @dir with @data, as root. */
static int
layer_new_file(struct layer_stack *st, struct layer_node *dir, const char *name,
    const void *data, size_t len, mode_t mode, struct layer_node **out)
{
	struct layer_new nw = {.type = S_IFREG, .mode = mode & 07777};
	int fd, r;

	r = layer_create(st, NULL, dir, name, &nw, out);
	if (r < 0) {
		return r;
	}
	fd = layer_open_data(st, NULL, *out, O_WRONLY);
	if (fd < 0) {
		return fd;
	}
	if (len > 0 && write(fd, data, len) != (ssize_t)len) {
		r = -EIO;
	}
	close(fd);
	return r;
}

static int
layer_write(
    void *ctx, const char *rel, const void *data, size_t len, mode_t mode)
{
	struct layer_stack *st = ctx;
	struct layer_node *dir = NULL, *old = NULL, *nw = NULL;
	char name[LAYER_NAME_MAX + 1], tmp[LAYER_NAME_MAX + 16];
	int fd, r;

	r = resolve_parent(st, rel, &dir, name, sizeof(name));
	if (r < 0) {
		return r;
	}
	if (strlen(name) + 12 > LAYER_NAME_MAX) {
		layer_node_free(dir);
		return -ENAMETOOLONG;
	}
	snprintf(tmp, sizeof(tmp), ".%s.pnbtmp", name);
	layer_unlink(st, NULL, dir, tmp);
	if (layer_lookup(st, NULL, dir, name, &old) == 0 &&
	    old->type != S_IFREG) {
		layer_node_free(old);
		old = NULL;
	}
	r = layer_new_file(st, dir, tmp, data, len, mode, &nw);
	/* The old file's owner, mode and attributes (a label, say). */
	if (r == 0 && old) {
		fd = layer_node_instance(st, nw, NULL);
		r = fd < 0 ? fd : layer_node_copy_meta(st, old, fd, false);
		if (fd >= 0) {
			close(fd);
		}
	}
	if (r == 0) {
		r = layer_rename(st, NULL, dir, tmp, dir, name);
	}
	if (r < 0 && nw) {
		layer_unlink(st, NULL, dir, tmp);
	}
	layer_node_free(nw);
	layer_node_free(old);
	layer_node_free(dir);
	return r;
}

static int
layer_type(void *ctx, const char *rel, mode_t *type)
{
	struct layer_stack *st = ctx;
	struct layer_node *n = NULL;
	int r = resolve(st, rel, false, &n);

	if (r == 0) {
		*type = n->type;
	}
	layer_node_free(n);
	return r;
}

struct name_list {
	char **v;
	size_t n, cap;
};

static int
add_name(void *arg, const struct layer_dirent *e)
{
	struct name_list *l = arg;

	if (strcmp(e->name, ".") == 0 || strcmp(e->name, "..") == 0) {
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 32;
		char **g = realloc(l->v, cap * sizeof(*g));

		if (!g) {
			return -ENOMEM;
		}
		l->v = g;
		l->cap = cap;
	}
	l->v[l->n] = strdup(e->name);
	return l->v[l->n++] ? 0 : -ENOMEM;
}

/* All names first: the caller may change the directory as it goes. */
static int
collect_names(
    struct layer_stack *st, struct layer_node *d, char ***names, size_t *n)
{
	struct name_list l = {0};
	int r = layer_readdir(st, NULL, d, 0, add_name, &l);

	*names = l.v;
	*n = l.n;
	return r < 0 ? r : 0;
}

static int
layer_names(void *ctx, const char *rel, int (*fn)(void *arg, const char *name),
    void *arg)
{
	struct layer_stack *st = ctx;
	struct layer_node *d = NULL;
	char **names = NULL;
	size_t n = 0, i;
	int r = resolve(st, rel, true, &d);

	if (r == 0 && d->type != S_IFDIR) {
		r = -ENOTDIR;
	}
	if (r == 0) {
		r = collect_names(st, d, &names, &n);
	}
	for (i = 0; r == 0 && i < n; i++) {
		r = fn(arg, names[i]);
	}
	for (i = 0; i < n; i++) {
		free(names[i]);
	}
	free(names);
	layer_node_free(d);
	return r;
}

static int
layer_unlink_at(void *ctx, const char *rel)
{
	struct layer_stack *st = ctx;
	struct layer_node *dir = NULL;
	char name[LAYER_NAME_MAX + 1];
	int r = resolve_parent(st, rel, &dir, name, sizeof(name));

	if (r == 0) {
		r = layer_unlink(st, NULL, dir, name);
	}
	layer_node_free(dir);
	return r == -ENOENT ? 0 : r;
}

static int
layer_symlink(void *ctx, const char *rel, const char *target)
{
	struct layer_stack *st = ctx;
	struct layer_new nw = {.type = S_IFLNK, .mode = 0777, .target = target};
	struct layer_node *dir = NULL;
	char name[LAYER_NAME_MAX + 1];
	int r = resolve_parent(st, rel, &dir, name, sizeof(name));

	if (r == 0) {
		r = layer_unlink(st, NULL, dir, name);
		r = r == -ENOENT ? 0 : r;
	}
	if (r == 0) {
		r = layer_create(st, NULL, dir, name, &nw, NULL);
	}
	layer_node_free(dir);
	return r;
}

static int
layer_mkdir(void *ctx, const char *rel, mode_t mode)
{
	struct layer_stack *st = ctx;
	struct layer_new nw = {.type = S_IFDIR, .mode = mode & 07777};
	struct layer_node *dir = NULL;
	char name[LAYER_NAME_MAX + 1];
	int r = resolve_parent(st, rel, &dir, name, sizeof(name));

	if (r == 0) {
		r = layer_create(st, NULL, dir, name, &nw, NULL);
	}
	layer_node_free(dir);
	return r == -EEXIST ? 0 : r;
}

static int
layer_chown(void *ctx, const char *rel, uid_t uid, gid_t gid)
{
	struct layer_stack *st = ctx;
	struct layer_sattr sa = {
	    .set_uid = true,
	    .set_gid = true,
	    .uid = uid,
	    .gid = gid,
	    .atime = {.tv_nsec = UTIME_OMIT},
	    .mtime = {.tv_nsec = UTIME_OMIT},
	};
	struct layer_node *n = NULL;
	struct stat s;
	int r = resolve(st, rel, false, &n);

	/* Owned already: no copy-up for nothing. */
	if (r == 0) {
		r = layer_getattr(st, n, &s);
	}
	if (r == 0 && (s.st_uid != uid || s.st_gid != gid)) {
		r = layer_setattr(st, NULL, n, &sa);
	}
	layer_node_free(n);
	return r;
}

static const struct prov_tree_ops layer_ops = {
    .read = layer_read,
    .write = layer_write,
    .type = layer_type,
    .names = layer_names,
    .unlink = layer_unlink_at,
    .symlink = layer_symlink,
    .mkdir = layer_mkdir,
    .chown = layer_chown,
};

void
prov_tree_layer(struct prov_tree *t, struct layer_stack *st)
{
	t->ops = &layer_ops;
	t->ctx = st;
}
