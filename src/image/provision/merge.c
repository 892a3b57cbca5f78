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
 * Flattening reads the chain through src/layer (layer_walk()), so the
 * merge semantics (whiteouts of both forms, opaque directories) are
 * written once, where the servers read them too.
 */

#define MERGE_DEPTH_MAX LAYER_WALK_DEPTH

struct link_ctx {
	struct layer_stack *st;
	const struct prov_progress *prog;
	struct merge_stats *stats;
	int dirs[LAYER_WALK_DEPTH + 2]; /* [depth]: the copy of the directory */
};

static int
link_enter(void *arg, const struct layer_walk_ent *e)
{
	struct link_ctx *c = arg;
	int parent = e->depth > 0 ? c->dirs[e->depth - 1] : -1, fd, r = 0;

	if (e->depth == 0) {
		return 0; /* the root: the destination itself */
	}
	if (e->node->type == S_IFDIR) {
		fd = tree_mkdir_open(parent, e->name);
		if (fd < 0) {
			return fd;
		}
		c->dirs[e->depth] = fd;
		return 0;
	}
	/* Versions never change, so their inodes can be shared. */
	fd = layer_node_instance(c->st, e->node, NULL);
	if (fd < 0) {
		return fd;
	}
	if (linkat(fd, "", parent, e->name, AT_EMPTY_PATH) < 0) {
		r = -errno;
	}
	close(fd);
	if (r < 0) {
		return r;
	}
	c->stats->links++;
	if (c->prog && c->prog->fn && c->stats->links % 1024 == 0) {
		r = c->prog->fn(c->prog->arg, "flatten", c->stats->links, 0);
	}
	return r;
}

/* A directory's attributes last: adding its entries changed its times. */
static int
link_leave(void *arg, const struct layer_walk_ent *e)
{
	struct link_ctx *c = arg;
	int fd = c->dirs[e->depth];
	int r = layer_node_copy_meta(c->st, e->node, fd, true);

	if (e->depth > 0) {
		close(fd);
		c->dirs[e->depth] = -1;
		c->stats->dirs++;
	}
	return r;
}

int
merge_link_tree(struct layer_stack *st, int dst,
    const struct prov_progress *prog, struct merge_stats *stats)
{
	static const struct layer_walk_ops ops = {
	    .enter = link_enter,
	    .leave = link_leave,
	};
	struct link_ctx *c = calloc(1, sizeof(*c));
	size_t i;
	int r;

	memset(stats, 0, sizeof(*stats));
	if (!c) {
		return -ENOMEM;
	}
	*c = (struct link_ctx){.st = st, .prog = prog, .stats = stats};
	for (i = 0; i < sizeof(c->dirs) / sizeof(c->dirs[0]); i++) {
		c->dirs[i] = -1;
	}
	c->dirs[0] = dst;
	r = layer_walk(st, "", &ops, c);
	for (i = 1; i < sizeof(c->dirs) / sizeof(c->dirs[0]); i++) {
		if (c->dirs[i] >= 0) {
			close(c->dirs[i]);
		}
	}
	free(c);
	return r;
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
