#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layer/internal.h"

/*
 * Whole-tree access for the programs that work on a stack at rest
 * (flattening versions, promoting a client, diffs and moves): a walk of
 * the merged tree, and the object on disk behind a merged node.
 */

int
layer_names_add(struct layer_names *l, const char *name)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		char **g = realloc(l->v, cap * sizeof(*g));

		if (!g) {
			return -ENOMEM;
		}
		l->v = g;
		l->cap = cap;
	}
	l->v[l->n] = strdup(name);
	if (!l->v[l->n]) {
		return -ENOMEM;
	}
	l->n++;
	return 0;
}

static int
collect_name(void *arg, const struct layer_dirent *e)
{
	if (strcmp(e->name, ".") == 0 || strcmp(e->name, "..") == 0) {
		return 0;
	}
	return layer_names_add(arg, e->name);
}

char *
layer_path_join(const char *dir, const char *name)
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

int
layer_dir_names(
    struct layer_stack *st, struct layer_node *dir, char ***names, size_t *n)
{
	struct layer_names l = {0};
	int r = layer_readdir(st, NULL, dir, 0, collect_name, &l);

	if (r < 0) {
		layer_names_free(l.v, l.n);
		*names = NULL;
		*n = 0;
		return r;
	}
	*names = l.v;
	*n = l.n;
	return 0;
}

void
layer_names_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(names[i]);
	}
	free(names);
}

struct walk {
	struct layer_stack *st;
	const struct layer_walk_ops *ops;
	void *arg;
};

static int walk_one(struct walk *w, struct layer_walk_ent *e);

static int
walk_children(struct walk *w, struct layer_walk_ent *e)
{
	char **names = NULL;
	size_t n = 0, i;
	int r;

	if (e->depth >= LAYER_WALK_DEPTH) {
		return -ELOOP;
	}
	r = layer_dir_names(w->st, e->node, &names, &n);
	for (i = 0; r == 0 && i < n; i++) {
		struct layer_walk_ent c = {
		    .name = names[i], .depth = e->depth + 1};
		char *path = layer_path_join(e->path, names[i]);

		if (!path) {
			r = -ENOMEM;
			break;
		}
		c.path = path;
		r = layer_lookup_raw(
		    w->st, e->node, names[i], &c.node, NULL, NULL);
		if (r == -ENOENT) {
			r = 0; /* gone meanwhile: a walk of a live stack */
		} else if (r == 0) {
			r = walk_one(w, &c);
			layer_node_free(c.node);
		}
		free(path);
	}
	layer_names_free(names, n);
	return r;
}

static int
walk_one(struct walk *w, struct layer_walk_ent *e)
{
	int r = w->ops->enter ? w->ops->enter(w->arg, e) : 0;

	if (r < 0 || e->node->type != S_IFDIR) {
		return r < 0 ? r : 0;
	}
	if (r != LAYER_WALK_SKIP) {
		r = walk_children(w, e);
		if (r < 0) {
			return r;
		}
	}
	return w->ops->leave ? w->ops->leave(w->arg, e) : 0;
}

int
layer_walk(struct layer_stack *st, const char *path,
    const struct layer_walk_ops *ops, void *arg)
{
	struct walk w = {.st = st, .ops = ops, .arg = arg};
	struct layer_walk_ent e = {.path = path};
	const char *slash = strrchr(path, '/');
	int r;

	e.name = slash ? slash + 1 : path;
	r = layer_lookup_path(st, path, &e.node);
	if (r < 0) {
		return r;
	}
	r = walk_one(&w, &e);
	layer_node_free(e.node);
	return r;
}

int
layer_node_instance(
    struct layer_stack *st, const struct layer_node *n, bool *client)
{
	struct stat s;
	int fd, r;

	(void)st;
	if (n->type == S_IFDIR) {
		fd = layer_dir_top(n);
		if (client) {
			*client = n->dirs[0] >= 0;
		}
		r = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		return r < 0 ? -errno : r;
	}
	if (client) {
		/* A version file shows itself until it has a copy. */
		*client = n->vfd < 0 ||
		    (layer_stat_fd(n->fd, &s) == 0 && s.st_ino != n->ino);
	}
	r = fcntl(n->fd, F_DUPFD_CLOEXEC, 0);
	return r < 0 ? -errno : r;
}

int
layer_node_copy_meta(
    struct layer_stack *st, const struct layer_node *n, int fd, bool times)
{
	int src = n->type == S_IFDIR ? layer_dir_top(n) : n->fd;
	struct stat s;
	int r = layer_stat_fd(src, &s);

	if (r < 0) {
		return r;
	}
	return layer_copy_meta(st, src, fd, &s, times);
}
