#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "layer/internal.h"

/*
 * Handles: a node's kind and the kernel handle of its identity inode,
 * and back.  A non-directory resolves through open_by_handle_at(2) and
 * the index (its copy, or "removed"); a directory through its path,
 * which must still lead to it in the merged tree.
 */

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

/* --- the directory cache ------------------------------------------------ */

static size_t
dcache_key(const struct layer_fh *fh, uint8_t *key)
{
	key[0] = fh->kind;
	key[1] = fh->len;
	memcpy(key + 2, &fh->type, 4);
	memcpy(key + 6, fh->h, fh->len);
	return 6 + (size_t)fh->len;
}

static struct layer_dcache *
dcache_slot(struct layer_stack *st, const uint8_t *key, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < len; i++) {
		h = (h ^ key[i]) * 0x100000001b3ull;
	}
	return &st->dcache[h % LAYER_DCACHE];
}

static void
dcache_put(struct layer_stack *st, const struct layer_fh *fh,
    const struct layer_node *n)
{
	uint8_t key[sizeof(st->dcache[0].key)];
	size_t len = dcache_key(fh, key), i;
	struct layer_dcache *e;
	char *path = strdup(n->path);

	if (!path) {
		return;
	}
	pthread_mutex_lock(&st->lock);
	e = dcache_slot(st, key, len);
	free(e->path);
	memcpy(e->key, key, len);
	e->keylen = len;
	e->path = path;
	e->ino = n->ino;
	e->kind = (uint8_t)n->kind;
	e->vmask = 0;
	for (i = 1; i <= st->nv; i++) {
		if (n->dirs[i] >= 0) {
			e->vmask |= (uint16_t)(1u << i);
		}
		e->dflags[i] = n->dflags[i];
	}
	pthread_mutex_unlock(&st->lock);
}

void
layer_dcache_forget(struct layer_stack *st, const char *path)
{
	size_t i, n = strlen(path);

	pthread_mutex_lock(&st->lock);
	for (i = 0; i < LAYER_DCACHE; i++) {
		char *p = st->dcache[i].path;

		if (p && strncmp(p, path, n) == 0 &&
		    (p[n] == 0 || p[n] == '/')) {
			free(p);
			st->dcache[i].path = NULL;
		}
	}
	pthread_mutex_unlock(&st->lock);
}

void
layer_dcache_free(struct layer_stack *st)
{
	size_t i;

	for (i = 0; st->dcache && i < LAYER_DCACHE; i++) {
		free(st->dcache[i].path);
	}
	free(st->dcache);
}

/* One instance by its whole path below a layer root, through directories. */
static int
open_below(int root, const char *path)
{
	struct open_how how = {
	    .flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	long fd =
	    syscall(SYS_openat2, root, path[0] ? path : ".", &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/*
 * A directory handle seen before: its instances opened by the cached
 * path, one openat2 each, and its identity checked.  Return: 1 and
 * *@out, or 0 when the cache cannot answer (the caller takes the slow
 * way, which is always right).
 */
static int
dcache_open(
    struct layer_stack *st, const struct layer_fh *fh, struct layer_node **out)
{
	uint8_t key[sizeof(st->dcache[0].key)];
	size_t len = dcache_key(fh, key), i;
	struct layer_dcache *e, c = {0};
	struct layer_node *n;
	struct stat s;
	int id;

	pthread_mutex_lock(&st->lock);
	e = dcache_slot(st, key, len);
	if (e->path && e->keylen == len && memcmp(e->key, key, len) == 0) {
		c = *e;
		c.path = strdup(e->path);
	}
	pthread_mutex_unlock(&st->lock);
	if (!c.path) {
		return 0;
	}
	n = layer_node_new();
	if (!n) {
		free(c.path);
		return 0;
	}
	n->type = S_IFDIR;
	n->kind = c.kind;
	n->ino = c.ino;
	n->path = c.path;
	if (st->root[0] >= 0) {
		n->dirs[0] = open_below(st->root[0], c.path);
		if (n->dirs[0] >= 0) {
			n->dflags[0] = layer_dir_flags(n->dirs[0]);
		}
	}
	for (i = 1; i <= st->nv; i++) {
		if (c.vmask & (1u << i)) {
			n->dirs[i] = open_below(st->root[i], c.path);
			n->dflags[i] = c.dflags[i];
		}
	}
	id = -1;
	for (i = c.kind == LAYER_KIND_VERSION ? 1 : 0; i <= st->nv; i++) {
		if (c.kind == LAYER_KIND_CLIENT || (c.vmask & (1u << i))) {
			id = n->dirs[i];
			break;
		}
	}
	if (id < 0 || layer_stat_fd(id, &s) < 0 || s.st_ino != c.ino ||
	    ((n->dflags[0] & LAYER_DIR_OPAQUE) && c.vmask)) {
		layer_node_free(n);
		return 0;
	}
	for (i = 1; i <= st->nv; i++) {
		if ((c.vmask & (1u << i)) && n->dirs[i] < 0) {
			layer_node_free(n);
			return 0;
		}
	}
	*out = n;
	return 1;
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
	if (dcache_open(st, fh, out)) {
		return 0;
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
		dcache_put(st, fh, n);
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
	r = layer_set_version_file(st, n, fd, &s);
	if (r < 0) {
		layer_node_free(n);
		return r;
	}
	*out = n;
	return 0;
}
