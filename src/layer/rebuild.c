#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layer/internal.h"

/*
 * Client layers made anew: from a client's identity files (a volatile
 * boot, a reset), with chosen paths of the old layer kept (reset
 * --keep), and over another version with every change of the old layer
 * carried across (a move).  Everything goes through the merged tree of
 * the new stack as the server, so the new layer is in the format the
 * library writes (copy-up index, whiteouts, opaque directories) and the
 * old one is only read; the caller builds the new layer beside the old
 * one and swaps them (docs/fleet.md, Versions, moves and rebase).
 */

/* Remove @name from merged directory @dir, a directory with its content. */
static int
remove_merged(struct layer_stack *st, struct layer_node *dir, const char *name,
    unsigned depth)
{
	struct layer_node *n = NULL;
	char **names = NULL;
	size_t k = 0, i;
	int r;

	if (depth > LAYER_WALK_DEPTH) {
		return -ELOOP;
	}
	r = layer_lookup_raw(st, dir, name, &n, NULL, NULL);
	if (r < 0) {
		return r == -ENOENT ? 0 : r;
	}
	if (n->type != S_IFDIR) {
		layer_node_free(n);
		return layer_unlink(st, NULL, dir, name);
	}
	r = layer_dir_names(st, n, &names, &k);
	for (i = 0; r == 0 && i < k; i++) {
		r = remove_merged(st, n, names[i], depth + 1);
	}
	layer_names_free(names, k);
	layer_node_free(n);
	return r == 0 ? layer_rmdir(st, NULL, dir, name) : r;
}

/*
 * Make @name in @dir a copy of the non-directory open at @fd (@s its
 * attributes): its data, owner, mode, attributes and times.
 */
static int
make_copy(struct layer_stack *st, struct layer_node *dir, const char *name,
    int fd, const struct stat *s)
{
	struct layer_new nw = {
	    .type = s->st_mode & S_IFMT,
	    .mode = s->st_mode & 07777,
	    .rdev = s->st_rdev,
	};
	struct layer_node *n = NULL;
	char target[4096];
	int in = -1, out = -1, cfd = -1, r;

	if (S_ISLNK(s->st_mode)) {
		ssize_t tl = readlinkat(fd, "", target, sizeof(target) - 1);

		if (tl < 0) {
			return -errno;
		}
		target[tl] = 0;
		nw.target = target;
	}
	r = layer_create(st, NULL, dir, name, &nw, &n);
	if (r == 0 && S_ISREG(s->st_mode)) {
		in = layer_reopen(fd, O_RDONLY | O_NOATIME);
		out = in < 0 ? in : layer_open_data(st, NULL, n, O_WRONLY);
		r = in < 0 ? in : out < 0 ? out : 0;
		if (r == 0) {
			r = layer_copy_data(st, in, out, s->st_size);
		}
	}
	if (r == 0) {
		cfd = layer_node_instance(st, n, NULL);
		r = cfd < 0 ? cfd : layer_copy_meta(st, fd, cfd, s, true);
	}
	if (in >= 0) {
		close(in);
	}
	if (out >= 0) {
		close(out);
	}
	if (cfd >= 0) {
		close(cfd);
	}
	layer_node_free(n);
	return r;
}

/* A directory @name in @dir with the attributes of @fd (times: later). */
static int
make_dir(struct layer_stack *st, struct layer_node *dir, const char *name,
    int fd, struct layer_node **out)
{
	struct layer_new nw = {.type = S_IFDIR, .mode = 0700};
	struct stat s;
	int cfd, r;

	r = layer_stat_fd(fd, &s);
	if (r == 0) {
		r = layer_create(st, NULL, dir, name, &nw, out);
	}
	if (r < 0) {
		return r;
	}
	cfd = layer_node_instance(st, *out, NULL);
	r = cfd < 0 ? cfd : layer_copy_meta(st, fd, cfd, &s, false);
	if (cfd >= 0) {
		close(cfd);
	}
	return r;
}

/* Give directory @n the attributes of @fd, copying it up if they differ. */
static int
dir_attrs_from(struct layer_stack *st, struct layer_node *n, int fd, bool times)
{
	struct stat s;
	int cfd, r = layer_same_object(layer_dir_top(n), fd, 0);

	if (r < 0 || (r == 1 && !times)) {
		return r < 0 ? r : 0;
	}
	r = layer_stat_fd(fd, &s);
	if (r == 0) {
		r = layer_copy_up(st, n);
	}
	if (r < 0) {
		return r;
	}
	cfd = layer_node_instance(st, n, NULL);
	r = cfd < 0 ? cfd : layer_copy_meta(st, fd, cfd, &s, times);
	if (cfd >= 0) {
		close(cfd);
	}
	return r;
}

/* --- a tree in the layer format onto a stack ----------------------------- */

struct apply {
	struct layer_stack *st;
	bool (*skip)(void *arg, const char *path);
	void *arg;
};

static int apply_dir(struct apply *a, struct layer_node *dir, int src,
    const char *path, unsigned depth);

static int
apply_one(struct apply *a, struct layer_node *dir, int src, const char *name,
    const char *path, unsigned depth)
{
	struct layer_node *n = NULL;
	struct stat s;
	int fd, r;

	if (a->skip && a->skip(a->arg, path)) {
		return 0;
	}
	fd = layer_openat(src, name, O_PATH);
	if (fd < 0) {
		return fd;
	}
	r = layer_stat_fd(fd, &s);
	if (r < 0) {
		goto out;
	}
	if (!S_ISDIR(s.st_mode)) {
		r = remove_merged(a->st, dir, name, depth);
		if (r == 0 && !layer_is_whiteout(&s)) {
			r = make_copy(a->st, dir, name, fd, &s);
		}
		goto out;
	}
	r = layer_lookup_raw(a->st, dir, name, &n, NULL, NULL);
	if (r == 0 && n->type != S_IFDIR) {
		layer_node_free(n);
		n = NULL;
		r = remove_merged(a->st, dir, name, depth);
		r = r == 0 ? -ENOENT : r;
	}
	if (r == -ENOENT) {
		r = make_dir(a->st, dir, name, fd, &n);
	}
	if (r == 0) {
		int sub = layer_reopen(fd, O_RDONLY | O_DIRECTORY);

		r = sub < 0 ? sub : apply_dir(a, n, sub, path, depth + 1);
		if (sub >= 0) {
			close(sub);
		}
	}
out:
	layer_node_free(n);
	close(fd);
	return r;
}

static int
apply_dir(struct apply *a, struct layer_node *dir, int src, const char *path,
    unsigned depth)
{
	struct layer_names l = {0};
	struct dirent *e;
	DIR *d;
	size_t i;
	int fd, r = 0;

	if (depth > LAYER_WALK_DEPTH) {
		return -ELOOP;
	}
	fd = openat(src, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		r = -errno;
		if (fd >= 0) {
			close(fd);
		}
		return r;
	}
	while (r == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 &&
		    strcmp(e->d_name, "..") != 0) {
			r = layer_names_add(&l, e->d_name);
		}
	}
	closedir(d);
	for (i = 0; r == 0 && i < l.n; i++) {
		char *p = layer_path_join(path, l.v[i]);

		r = p ? apply_one(a, dir, src, l.v[i], p, depth) : -ENOMEM;
		free(p);
	}
	layer_names_free(l.v, l.n);
	return r;
}

int
layer_apply_tree(struct layer_stack *st, int src,
    bool (*skip)(void *arg, const char *path), void *arg)
{
	struct apply a = {.st = st, .skip = skip, .arg = arg};
	struct layer_node *root = NULL;
	int r = layer_root(st, &root);

	if (r == 0) {
		r = apply_dir(&a, root, src, "", 0);
	}
	layer_node_free(root);
	return r;
}

/* --- one path of a stack onto another ----------------------------------- */

static int sync_obj(struct layer_stack *dst, struct layer_node *ddir,
    struct layer_stack *src, struct layer_node *sdir, const char *name,
    unsigned depth);

/* Still the same version file on both sides (no copy on either)? */
static bool
same_version_file(const struct layer_node *d, const struct layer_node *s)
{
	struct stat a, b;

	return d->type != S_IFDIR && d->kind == LAYER_KIND_VERSION &&
	    s->kind == LAYER_KIND_VERSION && d->ino == s->ino && d->vfd >= 0 &&
	    s->vfd >= 0 && layer_stat_fd(d->fd, &a) == 0 &&
	    layer_stat_fd(s->fd, &b) == 0 && a.st_ino == d->ino &&
	    b.st_ino == s->ino;
}

/*
 * Put @s (a non-directory of @src) at @name in @dst's @ddir: the client's
 * own objects are linked (the old layer is thrown away after), a
 * version's are copied (a version file must never become writable).
 */
static int
place(struct layer_stack *dst, struct layer_node *ddir, const char *name,
    struct layer_stack *src, const struct layer_node *s)
{
	struct stat st;
	bool client;
	int fd = layer_node_instance(src, s, &client), r;

	if (fd < 0) {
		return fd;
	}
	r = layer_stat_fd(fd, &st);
	if (r == 0) {
		r = client ? layer_adopt(dst, ddir, name, fd)
			   : make_copy(dst, ddir, name, fd, &st);
	}
	close(fd);
	return r;
}

static int
sync_dir(struct layer_stack *dst, struct layer_node *d, struct layer_stack *src,
    struct layer_node *s, unsigned depth)
{
	char **dn = NULL, **sn = NULL;
	size_t cd = 0, cs = 0, i, j;
	int r;

	if (depth > LAYER_WALK_DEPTH) {
		return -ELOOP;
	}
	r = layer_dir_names(dst, d, &dn, &cd);
	if (r == 0) {
		r = layer_dir_names(src, s, &sn, &cs);
	}
	for (i = 0; r == 0 && i < cd; i++) {
		for (j = 0; j < cs && strcmp(dn[i], sn[j]) != 0; j++) {
		}
		if (j == cs) {
			r = remove_merged(dst, d, dn[i], depth + 1);
		}
	}
	for (j = 0; r == 0 && j < cs; j++) {
		r = sync_obj(dst, d, src, s, sn[j], depth + 1);
	}
	if (r == 0) {
		int fd = layer_dir_top(s);

		r = dir_attrs_from(dst, d, fd, true);
	}
	layer_names_free(dn, cd);
	layer_names_free(sn, cs);
	return r;
}

static int
sync_obj(struct layer_stack *dst, struct layer_node *ddir,
    struct layer_stack *src, struct layer_node *sdir, const char *name,
    unsigned depth)
{
	struct layer_node *d = NULL, *s = NULL;
	int r = layer_lookup_raw(src, sdir, name, &s, NULL, NULL);

	if (r == -ENOENT) {
		return remove_merged(dst, ddir, name, depth);
	}
	if (r < 0) {
		return r;
	}
	r = layer_lookup_raw(dst, ddir, name, &d, NULL, NULL);
	if (r == -ENOENT) {
		d = NULL;
		r = 0;
	}
	if (r == 0 && d && s->type != S_IFDIR && same_version_file(d, s)) {
		goto out;
	}
	if (r == 0 && d && (s->type != S_IFDIR || d->type != S_IFDIR)) {
		layer_node_free(d);
		d = NULL;
		r = remove_merged(dst, ddir, name, depth);
	}
	if (r < 0) {
		goto out;
	}
	if (s->type != S_IFDIR) {
		r = place(dst, ddir, name, src, s);
		goto out;
	}
	if (!d) {
		r = make_dir(dst, ddir, name, layer_dir_top(s), &d);
	}
	if (r == 0) {
		r = sync_dir(dst, d, src, s, depth);
	}
out:
	layer_node_free(d);
	layer_node_free(s);
	return r;
}

/* Remove @path from @dst's merged tree, if it is there. */
static int
remove_path(struct layer_stack *dst, const char *path)
{
	const char *slash = strrchr(path, '/');
	struct layer_node *dir = NULL;
	char *up = strndup(path, slash ? (size_t)(slash - path) : 0);
	int r;

	if (!up) {
		return -ENOMEM;
	}
	r = layer_lookup_path(dst, up, &dir);
	free(up);
	if (r == -ENOENT || r == -ENOTDIR) {
		return 0;
	}
	if (r == 0) {
		r = dir->type == S_IFDIR
		    ? remove_merged(dst, dir, slash ? slash + 1 : path, 0)
		    : 0;
	}
	layer_node_free(dir);
	return r;
}

int
layer_sync_path(
    struct layer_stack *dst, struct layer_stack *src, const char *path)
{
	struct layer_node *d = NULL, *s = NULL, *next = NULL;
	char *p, *name, *rest;
	int r;

	while (*path == '/') {
		path++;
	}
	r = layer_lookup_path(src, path, &next);
	layer_node_free(next);
	next = NULL;
	if (r == -ENOENT || r == -ENOTDIR) {
		return *path ? remove_path(dst, path) : r;
	}
	if (r < 0) {
		return r;
	}
	p = strdup(path);
	if (!p) {
		return -ENOMEM;
	}
	r = layer_root(dst, &d);
	if (r == 0) {
		r = layer_root(src, &s);
	}
	if (r == 0 && *p == 0) {
		r = sync_dir(dst, d, src, s, 0);
	}
	/* The directories above @path, made as @src has them. */
	for (name = p; r == 0 && *name; name = rest) {
		rest = strchr(name, '/');
		if (!rest) {
			r = sync_obj(dst, d, src, s, name, 0);
			break;
		}
		*rest++ = 0;
		if (*name == 0) {
			continue;
		}
		r = layer_lookup_raw(src, s, name, &next, NULL, NULL);
		if (r < 0) {
			break;
		}
		layer_node_free(s);
		s = next;
		r = layer_lookup_raw(dst, d, name, &next, NULL, NULL);
		if (r == 0 && next->type != S_IFDIR) {
			layer_node_free(next);
			r = remove_merged(dst, d, name, 0);
			r = r == 0 ? -ENOENT : r;
		}
		if (r == -ENOENT) {
			r = make_dir(dst, d, name, layer_dir_top(s), &next);
		}
		if (r == 0) {
			layer_node_free(d);
			d = next;
		}
	}
	layer_node_free(d);
	layer_node_free(s);
	free(p);
	return r;
}

/* --- a client layer moved to another version ----------------------------- */

struct rebase {
	struct layer_stack *dst, *src;
	struct layer_changes ch;
	bool *identity; /* ch.v[i] is an identity file as it was made */
	struct layer_rebase_report *rep;
};

int
layer_change_is_identity(
    struct layer_stack *st, int id, const struct layer_change *c)
{
	struct layer_node *n = NULL;
	struct stat s;
	int fd, cfd, r;

	if (id < 0 || (c->type == S_IFDIR && c->kind != 'A')) {
		return 0;
	}
	fd = layer_openat(id, c->path, O_PATH);
	if (fd < 0) {
		return fd == -ENOENT || fd == -ENOTDIR ? 0 : fd;
	}
	r = layer_stat_fd(fd, &s);
	if (r == 0 && c->type == S_IFDIR) {
		/* A directory the identity made (its files judged alone). */
		r = S_ISDIR(s.st_mode);
	} else if (r == 0 && c->kind == 'D') {
		r = layer_is_whiteout(&s);
	} else if (r == 0 && (S_ISDIR(s.st_mode) || layer_is_whiteout(&s))) {
		r = 0;
	} else if (r == 0) {
		r = layer_lookup_path(st, c->path, &n);
		cfd = r < 0 ? r : layer_node_instance(st, n, NULL);
		r = cfd < 0 ? cfd : layer_same_object(cfd, fd, 0);
		if (cfd >= 0) {
			close(cfd);
		}
		layer_node_free(n);
	}
	close(fd);
	return r;
}

/*
 * The directory of @dst that is to hold @path (made, as @src has its
 * directories, where the new version has none) and @path's last name.
 */
static int
rb_parent(struct rebase *rb, const char *path, struct layer_node **dir,
    const char **name)
{
	struct layer_node *d = NULL, *s = NULL, *next;
	char *p = strdup(path), *c, *rest;
	int r;

	if (!p) {
		return -ENOMEM;
	}
	r = layer_root(rb->dst, &d);
	if (r == 0) {
		r = layer_root(rb->src, &s);
	}
	for (c = p; r == 0 && (rest = strchr(c, '/')) != NULL; c = rest) {
		*rest++ = 0;
		r = layer_lookup_raw(rb->src, s, c, &next, NULL, NULL);
		if (r < 0) {
			break;
		}
		layer_node_free(s);
		s = next;
		r = layer_lookup_raw(rb->dst, d, c, &next, NULL, NULL);
		if (r == 0 && next->type != S_IFDIR) {
			layer_node_free(next);
			r = remove_merged(rb->dst, d, c, 0);
			r = r == 0 ? -ENOENT : r;
		}
		if (r == -ENOENT) {
			r = make_dir(rb->dst, d, c, layer_dir_top(s), &next);
		}
		if (r == 0) {
			layer_node_free(d);
			d = next;
		}
	}
	layer_node_free(s);
	free(p);
	if (r < 0) {
		layer_node_free(d);
		return r;
	}
	*dir = d;
	*name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	return 0;
}

/* Carry one change of the old layer into the new one. */
static int
rb_replay(struct rebase *rb, const struct layer_change *c)
{
	struct layer_node *dir = NULL, *s = NULL, *d = NULL;
	const char *name = c->path;
	int r;

	if (c->kind == 'D') {
		return remove_path(rb->dst, c->path);
	}
	r = layer_lookup_path(rb->src, c->path, &s);
	if (r == 0) {
		r = rb_parent(rb, c->path, &dir, &name);
	}
	if (r < 0) {
		goto out;
	}
	if (s->type != S_IFDIR) {
		r = remove_merged(rb->dst, dir, name, 0);
		if (r == 0) {
			r = place(rb->dst, dir, name, rb->src, s);
		}
		goto out;
	}
	r = layer_lookup_raw(rb->dst, dir, name, &d, NULL, NULL);
	/*
	 * A directory the client made over a version's (opaque) hides the
	 * new version's there too; one of the client's own is merged.
	 */
	if (r == 0 &&
	    (d->type != S_IFDIR ||
		((s->dflags[0] & LAYER_DIR_OPAQUE) &&
		    layer_dir_has_version(d)))) {
		layer_node_free(d);
		d = NULL;
		r = remove_merged(rb->dst, dir, name, 0);
		r = r == 0 ? -ENOENT : r;
	}
	if (r == -ENOENT) {
		r = make_dir(rb->dst, dir, name, layer_dir_top(s), &d);
	} else if (r == 0) {
		r = dir_attrs_from(rb->dst, d, layer_dir_top(s), false);
	}
out:
	layer_node_free(d);
	layer_node_free(s);
	layer_node_free(dir);
	return r;
}

/*
 * Leave an identity file of the new version out where the client
 * changed the path, or removed a directory above it.
 */
static bool
rb_keep_client(void *arg, const char *path)
{
	struct rebase *rb = arg;
	size_t i;

	for (i = 0; i < rb->ch.n; i++) {
		size_t len = strlen(rb->ch.v[i].path);

		if (rb->identity[i]) {
			continue;
		}
		if (strcmp(rb->ch.v[i].path, path) == 0 ||
		    (rb->ch.v[i].kind == 'D' &&
			strncmp(rb->ch.v[i].path, path, len) == 0 &&
			path[len] == '/')) {
			rb->rep->identity_kept++;
			return true;
		}
	}
	rb->rep->identity_renewed++;
	return false;
}

int
layer_rebase(struct layer_stack *dst, struct layer_stack *src, int id_old,
    int id_new, struct layer_rebase_report *rep)
{
	struct layer_rebase_report dummy;
	struct rebase rb = {.dst = dst, .src = src};
	size_t i;
	int r;

	rb.rep = rep ? rep : &dummy;
	*rb.rep = (struct layer_rebase_report){0};
	r = layer_diff(src, layer_changes_add, &rb.ch);
	layer_changes_sort(&rb.ch);
	rb.identity = calloc(rb.ch.n ? rb.ch.n : 1, sizeof(*rb.identity));
	if (r == 0 && !rb.identity) {
		r = -ENOMEM;
	}
	for (i = 0; r == 0 && i < rb.ch.n; i++) {
		r = layer_change_is_identity(src, id_old, &rb.ch.v[i]);
		rb.identity[i] = r == 1;
		r = r < 0 ? r : 0;
		if (r == 0 && !rb.identity[i]) {
			rb.rep->changes++;
			r = rb_replay(&rb, &rb.ch.v[i]);
		}
	}
	/* Directory times last, deepest first: filling them changed them. */
	for (i = rb.ch.n; r == 0 && i-- > 0;) {
		struct layer_node *s = NULL, *d = NULL;

		if (rb.identity[i] || rb.ch.v[i].kind == 'D' ||
		    rb.ch.v[i].type != S_IFDIR) {
			continue;
		}
		r = layer_lookup_path(src, rb.ch.v[i].path, &s);
		if (r == 0) {
			r = layer_lookup_path(dst, rb.ch.v[i].path, &d);
		}
		if (r == 0) {
			r = dir_attrs_from(dst, d, layer_dir_top(s), true);
		}
		layer_node_free(s);
		layer_node_free(d);
	}
	if (r == 0 && id_new >= 0) {
		r = layer_apply_tree(dst, id_new, rb_keep_client, &rb);
	}
	layer_changes_fini(&rb.ch);
	free(rb.identity);
	return r;
}
