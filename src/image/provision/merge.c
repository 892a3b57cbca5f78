#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "image/provision/merge.h"
#include "image/provision/tree.h"

/*
 * The merged view of a layer stack, as overlayfs without redirects
 * presents it (docs/fleet.md, Merge semantics): in each directory the
 * topmost layer holding a name decides; a whiteout hides it; a directory
 * merges with the same name below until one is opaque.
 *
 * Used by provisioning only, which needs the whole tree once (flatten,
 * a full view for `client add`); src/layer serves single lookups.
 */

#define MERGE_DEPTH_MAX 256

struct merge_ent {
	char *name; /* owned */
	size_t layer;
};

struct merge_ctx {
	const struct prov_progress *prog;
	struct merge_stats *st;
};

bool
merge_is_whiteout(int dirfd, const char *name, const struct stat *s)
{
	char proc[64 + NAME_MAX];

	if (S_ISCHR(s->st_mode)) {
		return s->st_rdev == makedev(0, 0);
	}
	/*
	 * The xattr form, which counts only in a directory marked opaque
	 * "x" (docs/fleet.md, Layer format).
	 */
	if (!S_ISREG(s->st_mode) || s->st_size != 0) {
		return false;
	}
	{
		char v[4];

		if (fgetxattr(dirfd, "user.overlay.opaque", v, sizeof(v)) !=
			1 ||
		    v[0] != 'x') {
			return false;
		}
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", dirfd, name);
	return lgetxattr(proc, "user.overlay.whiteout", NULL, 0) >= 0;
}

bool
merge_is_opaque(int fd)
{
	char v[4];
	ssize_t n = fgetxattr(fd, "user.overlay.opaque", v, sizeof(v));

	return n == 1 && v[0] == 'y';
}

int
merge_strip_markers(int fd, int dirfd, const char *name)
{
	char list[65536], proc[64 + NAME_MAX];
	ssize_t n, i;

	if (fd < 0) {
		snprintf(
		    proc, sizeof(proc), "/proc/self/fd/%d/%s", dirfd, name);
	}
	n = fd >= 0 ? flistxattr(fd, list, sizeof(list))
		    : llistxattr(proc, list, sizeof(list));
	if (n < 0) {
		return errno == ENOTSUP ? 0 : -errno;
	}
	for (i = 0; i < n; i += (ssize_t)strlen(list + i) + 1) {
		const char *x = list + i;
		int r;

		if (strncmp(x, "user.overlay.", 13) != 0 &&
		    strncmp(x, "trusted.overlay.", 16) != 0) {
			continue;
		}
		if (!strcmp(x, "user.overlay.opaque")) {
			continue;
		}
		r = fd >= 0 ? fremovexattr(fd, x) : lremovexattr(proc, x);
		if (r < 0 && errno != ENODATA) {
			return -errno;
		}
	}
	return 0;
}

static int
cmp_ent(const void *a, const void *b)
{
	const struct merge_ent *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0) {
		return c;
	}
	return x->layer < y->layer ? -1 : x->layer > y->layer;
}

/* Every name of every layer's directory, sorted by name, then layer. */
static int
merge_list(const int *fds, size_t nfds, struct merge_ent **out, size_t *n)
{
	struct merge_ent *e = NULL;
	size_t cap = 0, k, i;
	int r = 0;

	*n = 0;
	for (k = 0; k < nfds && r == 0; k++) {
		DIR *d = tree_dir_stream(fds[k]);
		struct dirent *de;

		if (!d) {
			r = -errno;
			break;
		}
		while ((de = readdir(d)) != NULL) {
			if (!strcmp(de->d_name, ".") ||
			    !strcmp(de->d_name, "..")) {
				continue;
			}
			if (*n == cap) {
				struct merge_ent *g;

				cap = cap ? 2 * cap : 64;
				g = realloc(e, cap * sizeof(*g));
				if (!g) {
					r = -ENOMEM;
					break;
				}
				e = g;
			}
			e[*n].name = strdup(de->d_name);
			e[*n].layer = k;
			if (!e[*n].name) {
				r = -ENOMEM;
				break;
			}
			(*n)++;
		}
		closedir(d);
	}
	if (r < 0) {
		for (i = 0; i < *n; i++) {
			free(e[i].name);
		}
		free(e);
		*n = 0;
		return r;
	}
	if (*n > 1) {
		qsort(e, *n, sizeof(*e), cmp_ent);
	}
	*out = e;
	return 0;
}

static int merge_dir(
    struct merge_ctx *c, const int *fds, size_t nfds, int dst, int depth);

/*
 * A directory named @name, found first in layer @top: merge it with the
 * same name in the layers below, down to an opaque one or a layer where
 * the name is not a directory.
 */
static int
merge_subdir(struct merge_ctx *c, const int *fds, size_t nfds, size_t top,
    const char *name, const struct stat *s, int dst, int depth)
{
	int sub[PROV_CHAIN_MAX + 1], dfd = -1, r = 0;
	size_t k, n = 0;

	for (k = top; k < nfds; k++) {
		struct stat ls;
		int fd;

		if (fstatat(fds[k], name, &ls, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT) {
				continue;
			}
			r = -errno;
			break;
		}
		if (!S_ISDIR(ls.st_mode)) {
			break; /* a file or whiteout hides what is below */
		}
		fd = openat(fds[k], name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
			break;
		}
		sub[n++] = fd;
		if (merge_is_opaque(fd)) {
			break;
		}
	}
	if (r == 0 && mkdirat(dst, name, 0700) < 0) {
		r = -errno;
	}
	if (r == 0) {
		dfd = openat(
		    dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		r = dfd < 0 ? -errno : merge_dir(c, sub, n, dfd, depth + 1);
	}
	if (r == 0) {
		r = tree_meta_copy(s, sub[0], -1, dfd, -1, NULL);
	}
	if (r == 0) {
		r = merge_strip_markers(dfd, -1, NULL);
		if (r == 0 && merge_is_opaque(dfd) &&
		    fremovexattr(dfd, "user.overlay.opaque") < 0) {
			r = -errno;
		}
	}
	c->st->dirs++;
	if (dfd >= 0) {
		close(dfd);
	}
	for (k = 0; k < n; k++) {
		close(sub[k]);
	}
	return r;
}

static int
merge_dir(struct merge_ctx *c, const int *fds, size_t nfds, int dst, int depth)
{
	struct merge_ent *e = NULL;
	size_t n = 0, i;
	int r;

	if (depth > MERGE_DEPTH_MAX) {
		return -ELOOP;
	}
	r = merge_list(fds, nfds, &e, &n);
	for (i = 0; r == 0 && i < n; i++) {
		struct stat s;
		size_t k = e[i].layer;

		/* Lower instances of a name sort after its topmost one. */
		if (i > 0 && !strcmp(e[i].name, e[i - 1].name)) {
			continue;
		}
		if (fstatat(fds[k], e[i].name, &s, AT_SYMLINK_NOFOLLOW) < 0) {
			r = -errno;
			break;
		}
		if (merge_is_whiteout(fds[k], e[i].name, &s)) {
			continue;
		}
		if (S_ISDIR(s.st_mode)) {
			r = merge_subdir(
			    c, fds, nfds, k, e[i].name, &s, dst, depth);
			continue;
		}
		/* Versions never change, so their inodes can be shared. */
		if (linkat(fds[k], e[i].name, dst, e[i].name, 0) < 0) {
			r = -errno;
			break;
		}
		c->st->links++;
		if (c->prog && c->prog->fn && c->st->links % 1024 == 0) {
			r = c->prog->fn(
			    c->prog->arg, "flatten", c->st->links, 0);
		}
	}
	for (i = 0; i < n; i++) {
		free(e[i].name);
	}
	free(e);
	return r;
}

int
merge_link_tree(const int *layers, size_t n, int dst,
    const struct prov_progress *prog, struct merge_stats *st)
{
	struct merge_ctx c = {.prog = prog, .st = st};
	struct stat s;
	int r;

	memset(st, 0, sizeof(*st));
	if (n == 0 || n > PROV_CHAIN_MAX + 1) {
		return -EINVAL;
	}
	if (fstat(layers[0], &s) < 0) {
		return -errno;
	}
	r = merge_dir(&c, layers, n, dst, 0);
	if (r == 0) {
		r = tree_meta_copy(&s, layers[0], -1, dst, -1, NULL);
	}
	if (r == 0) {
		r = merge_strip_markers(dst, -1, NULL);
	}
	if (r == 0 && merge_is_opaque(dst) &&
	    fremovexattr(dst, "user.overlay.opaque") < 0) {
		r = -errno;
	}
	return r;
}

static int
clean_dir(int fd, uint64_t *entries, int depth)
{
	DIR *d = tree_dir_stream(fd);
	struct dirent *e;
	int r = 0;

	if (!d) {
		return -errno;
	}
	if (depth > MERGE_DEPTH_MAX) {
		closedir(d);
		return -ELOOP;
	}
	while (r == 0 && (e = readdir(d)) != NULL) {
		struct stat s;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) {
			continue;
		}
		(*entries)++;
		if (fstatat(fd, e->d_name, &s, AT_SYMLINK_NOFOLLOW) < 0) {
			r = -errno;
			break;
		}
		if (S_ISDIR(s.st_mode)) {
			int sub = openat(fd, e->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0) {
				r = -errno;
				break;
			}
			r = merge_strip_markers(sub, -1, NULL);
			if (r == 0) {
				r = clean_dir(sub, entries, depth + 1);
			}
			close(sub);
			continue;
		}
		r = merge_strip_markers(-1, fd, e->d_name);
	}
	closedir(d);
	return r;
}

int
merge_clean_upper(int dirfd, uint64_t *entries)
{
	int r = merge_strip_markers(dirfd, -1, NULL);

	*entries = 0;
	return r < 0 ? r : clean_dir(dirfd, entries, 0);
}
