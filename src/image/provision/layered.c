#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "image/provision/fleet.h"
#include "image/provision/identity.h"
#include "image/provision/layered.h"
#include "image/provision/tree.h"

/*
 * What a layered client's own changes can become: nothing again (reset,
 * the identity files and chosen paths left), or a new image version
 * (promote).
 */

static const char *const trees[] = {"boot", "root"};

/*
 * The tree and the path in it that a client's absolute path names:
 * under the boot mount point the boot tree, else the root.
 */
static int
split_path(const struct prov_cl *c, const char *path, const char **tree,
    const char **rel)
{
	size_t bl = strlen(c->boot_mount);
	const char *p;

	if (path[0] != '/') {
		return -EINVAL;
	}
	for (p = path; *p; p++) {
		if (p[0] == '/' && p[1] == '.' &&
		    (p[2] == '/' || p[2] == 0 ||
			(p[2] == '.' && (p[3] == '/' || p[3] == 0)))) {
			return -EINVAL;
		}
	}
	if (strncmp(path, c->boot_mount, bl) == 0 &&
	    (path[bl] == '/' || path[bl] == 0)) {
		*tree = "boot";
		*rel = path + bl;
	} else {
		*tree = "root";
		*rel = path;
	}
	while (**rel == '/') {
		(*rel)++;
	}
	return 0;
}

/* --- reset ---------------------------------------------------------------- */

/* One tree of the new layer: the identity, then the kept paths. */
static int
reset_tree(struct prov_cl *c, const struct prov_img *im, const char *tmp,
    const char *tree, const char *const *keep, size_t nkeep, char *msg,
    size_t msglen)
{
	struct layer_stack *old = NULL, *nw = NULL;
	int id = prov_cl_identity_fd(c, c->version, tree), r;
	size_t i;

	if (id < 0) {
		snprintf(msg, msglen,
		    "client '%s' has no identity/v/%u/%s (%s): its identity "
		    "files are lost; remove and add the client again",
		    c->name, c->version, tree, strerror(-id));
		return id;
	}
	r = prov_cl_stack(
	    c, im, c->version, tree, "layer", true, &old, msg, msglen);
	if (r == 0) {
		r = prov_cl_stack(
		    c, im, c->version, tree, tmp, false, &nw, msg, msglen);
	}
	if (r == 0) {
		r = layer_apply_tree(nw, id, NULL, NULL);
	}
	for (i = 0; r == 0 && i < nkeep; i++) {
		const char *t, *rel;

		if (split_path(c, keep[i], &t, &rel) == 0 &&
		    strcmp(t, tree) == 0) {
			r = layer_sync_path(nw, old, rel);
		}
	}
	if (r < 0 && !msg[0]) {
		snprintf(msg, msglen,
		    "client '%s': building the new %s layer: %s", c->name, tree,
		    strerror(-r));
	}
	layer_stack_close(old);
	layer_stack_close(nw);
	close(id);
	return r;
}

int
prov_client_reset(const char *state, const char *name, const char *const *keep,
    size_t nkeep, struct prov_reset_info *info, char *msg, size_t msglen)
{
	struct prov_cl c;
	struct prov_img im;
	char tmp[64], when[32];
	struct rec_change ch[] = {{"reset_at", when}};
	bool made = false, img = false;
	size_t i, t;
	int r;

	memset(info, 0, sizeof(*info));
	msg[0] = 0;
	r = prov_cl_open(&c, state, name, true, msg, msglen);
	if (r < 0) {
		return r;
	}
	r = prov_cl_require_layered(&c, "reset", msg, msglen);
	for (i = 0; r == 0 && i < nkeep; i++) {
		const char *tr, *rel;

		if (split_path(&c, keep[i], &tr, &rel) < 0) {
			snprintf(msg, msglen,
			    "--keep %s: give an absolute path of the client's "
			    "root or boot files (such as /home/pi, or "
			    "%s/config.txt), "
			    "without '.' or '..'",
			    keep[i], c.boot_mount);
			r = -EINVAL;
		}
	}
	if (r == 0) {
		r = prov_img_open(&im, state, c.image, false, msg, msglen);
		img = r == 0;
	}
	if (r < 0) {
		goto out;
	}
	/* Built beside, swapped in one rename: a kill leaves one or the other.
	 */
	snprintf(tmp, sizeof(tmp), ".tmp-layer-%ld", (long)getpid());
	tree_rm(c.fd, tmp);
	r = prov_layer_dir_make(c.fd, tmp);
	made = true;
	for (t = 0; r == 0 && t < 2; t++) {
		r = reset_tree(
		    &c, &im, tmp, trees[t], keep, nkeep, msg, msglen);
	}
	if (r == 0 &&
	    renameat2(c.fd, tmp, c.fd, "layer", RENAME_EXCHANGE) < 0) {
		r = -errno;
		snprintf(msg, msglen, "client '%s': swapping the layer in: %s",
		    name, strerror(-r));
	}
	if (r == 0) {
		prov_now_iso(when, sizeof(when));
		r = prov_cl_update(&c, ch, 1, msg, msglen);
		info->kept = nkeep;
		info->version = c.version;
	}
out:
	if (made) {
		/* After the swap: the old layer. */
		tree_rm(c.fd, tmp);
	}
	if (r == 0) {
		int fd = openat(c.fd, "layer",
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		info->layer_bytes = fd < 0 ? 0 : tree_du(fd);
		if (fd >= 0) {
			close(fd);
		}
	}
	if (img) {
		prov_img_close(&im);
	}
	prov_cl_close(&c);
	return r;
}

/* --- the move at a client's boot ----------------------------------------- */

static int
write_stamp(int dirfd, const char *path, const char *text)
{
	int fd = openat(dirfd, path,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	size_t len = strlen(text);
	int r = 0;

	if (fd < 0) {
		return -errno;
	}
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1) {
		r = errno ? -errno : -EIO;
	}
	if (r == 0 && fsync(fd) < 0) {
		r = -errno;
	}
	close(fd);
	return r;
}

/* One tree of the layer a boot makes: rebased, or identity alone. */
static int
boot_tree(struct prov_cl *c, const struct prov_img *im, const char *tmp,
    const char *tree, const struct prov_boot *b, struct layer_stack *held,
    struct layer_rebase_report *rep, char *msg, size_t msglen)
{
	struct layer_stack *old = held, *nw = NULL;
	int id_new = prov_cl_identity_fd(c, b->to, tree);
	int id_old = b->fresh ? -1 : prov_cl_identity_fd(c, c->version, tree);
	struct layer_rebase_report one;
	int r = 0;

	if (id_new < 0) {
		snprintf(msg, msglen,
		    "client '%s' has no identity/v/%u/%s (%s): run "
		    "'pinetboot client set %s --image %s@%u' again to make it",
		    c->name, b->to, tree, strerror(-id_new), c->name, c->image,
		    b->to);
		r = id_new;
	}
	if (r == 0 && !old && !b->fresh) {
		r = prov_cl_stack(
		    c, im, c->version, tree, "layer", true, &old, msg, msglen);
	}
	if (r == 0) {
		r = prov_cl_stack(
		    c, im, b->to, tree, tmp, false, &nw, msg, msglen);
	}
	if (r == 0 && b->fresh) {
		r = layer_apply_tree(nw, id_new, NULL, NULL);
	} else if (r == 0) {
		/* Without its old identity every file counts as its own. */
		r = layer_rebase(nw, old, id_old, id_new, &one);
		if (r == 0 && rep) {
			rep->changes += one.changes;
			rep->identity_renewed += one.identity_renewed;
			rep->identity_kept += one.identity_kept;
		}
	}
	if (r < 0 && !msg[0]) {
		snprintf(msg, msglen,
		    "client '%s': building its %s layer over version %u: %s",
		    c->name, tree, b->to, strerror(-r));
	}
	if (old != held) {
		layer_stack_close(old);
	}
	layer_stack_close(nw);
	if (id_new >= 0) {
		close(id_new);
	}
	if (id_old >= 0) {
		close(id_old);
	}
	return r;
}

int
prov_client_boot(const char *state, const char *name, const struct prov_boot *b,
    struct layer_rebase_report *rep, char *msg, size_t msglen)
{
	struct prov_cl c;
	struct prov_img im;
	char tmp[64], when[32], to[16], prev[16], path[80];
	struct rec_change ch[8 + 16];
	bool made = false, img = false, move;
	size_t t, n = 0, i;
	int r;

	msg[0] = 0;
	if (rep) {
		*rep = (struct layer_rebase_report){0};
	}
	r = prov_cl_open(&c, state, name, true, msg, msglen);
	if (r < 0) {
		return r;
	}
	r = prov_cl_require_layered(&c, "a move", msg, msglen);
	if (r == 0 && b->nch > 16) {
		r = -EINVAL;
	}
	if (r == 0) {
		r = prov_img_open(&im, state, c.image, false, msg, msglen);
		img = r == 0;
	}
	if (r < 0) {
		goto out;
	}
	move = b->to != c.version;
	/* Built beside, swapped in one rename: a kill leaves one or the other,
	 * each with the stamp of the version it is over. */
	snprintf(tmp, sizeof(tmp), ".tmp-layer-%ld", (long)getpid());
	tree_rm(c.fd, tmp);
	r = prov_layer_dir_make(c.fd, tmp);
	made = true;
	for (t = 0; r == 0 && t < 2; t++) {
		r = boot_tree(&c, &im, tmp, trees[t], b,
		    t == 0 ? b->boot : b->root, rep, msg, msglen);
	}
	snprintf(to, sizeof(to), "%u", b->to);
	snprintf(path, sizeof(path), "%s/%s", tmp, PROV_LAYER_STAMP);
	if (r == 0) {
		r = write_stamp(c.fd, path, to);
	}
	if (r == 0 &&
	    renameat2(c.fd, tmp, c.fd, "layer", RENAME_EXCHANGE) < 0) {
		r = -errno;
		snprintf(msg, msglen, "client '%s': swapping the layer in: %s",
		    name, strerror(-r));
	}
	if (r < 0) {
		goto out;
	}
	prov_now_iso(when, sizeof(when));
	snprintf(prev, sizeof(prev), "%u", c.version);
	if (move) {
		ch[n++] = (struct rec_change){"version", to};
		ch[n++] = (struct rec_change){"previous_version", prev};
		ch[n++] = (struct rec_change){"moved_at", when};
		ch[n++] = (struct rec_change){"next_version", NULL};
		ch[n++] = (struct rec_change){"move_requested", NULL};
	}
	for (i = 0; i < b->nch; i++) {
		ch[n++] = b->ch[i];
	}
	if (n > 0) {
		r = prov_cl_update(&c, ch, n, msg, msglen);
	}
out:
	if (made) {
		/* After the swap: the old layer. */
		tree_rm(c.fd, tmp);
	}
	if (img) {
		prov_img_close(&im);
	}
	prov_cl_close(&c);
	return r;
}

/* --- promote -------------------------------------------------------------- */

struct link_seen {
	ino_t ino;
	char *path; /* in the new tree */
};

struct promote {
	struct layer_stack *st;  /* the client's, read-only */
	struct layer_stack *vst; /* its version's alone */
	int id;                  /* its identity tree, or -1 */
	int root;                /* the new tree */
	int dirs[LAYER_WALK_DEPTH + 2];
	struct link_seen *seen; /* the client's own multiply linked files */
	size_t nseen, capseen;
	const struct prov_progress *prog;
	struct prov_promote_info *info;
	struct tree_stats ts;
	uint64_t entries;
};

/* Is the object at @path still the identity file client add made? */
static int
is_identity(struct promote *p, const char *path, mode_t type)
{
	struct layer_change lc = {.path = path, .kind = 'M', .type = type};

	return layer_change_is_identity(p->st, p->id, &lc);
}

/* Link version file @fd (never changes) as @name in @dir. */
static int
link_version(struct promote *p, int fd, int dir, const char *name)
{
	if (linkat(fd, "", dir, name, AT_EMPTY_PATH) < 0) {
		return -errno;
	}
	p->info->links++;
	return 0;
}

/* What the version alone shows at @path, linked, or nothing. */
static int
link_from_version(
    struct promote *p, const char *path, int dir, const char *name)
{
	struct layer_node *n = NULL;
	int fd, r = layer_lookup_path(p->vst, path, &n);

	if (r == -ENOENT || r == -ENOTDIR) {
		return 0;
	}
	if (r == 0 && n->type == S_IFDIR) {
		r = -EISDIR; /* an identity path is a file */
	}
	fd = r < 0 ? r : layer_node_instance(p->vst, n, NULL);
	r = fd < 0 ? fd : link_version(p, fd, dir, name);
	if (fd >= 0) {
		close(fd);
	}
	layer_node_free(n);
	return r;
}

/* A copy of the client's non-directory @n as @name in @dir. */
static int
copy_client(struct promote *p, struct layer_node *n, int dir, const char *name)
{
	char target[PATH_MAX];
	struct stat s;
	int in = -1, out = -1, r;

	r = layer_getattr(p->st, n, &s);
	if (r < 0) {
		return r;
	}
	if (S_ISREG(s.st_mode)) {
		in = layer_open_data(p->st, NULL, n, O_RDONLY);
		out = openat(dir, name,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		r = in < 0 ? in : out < 0 ? -errno : 0;
		if (r == 0 &&
		    !(s.st_size > 0 && ioctl(out, FICLONE, in) == 0)) {
			r = tree_copy_data(in, out, s.st_size, &p->ts);
		}
	} else if (S_ISLNK(s.st_mode)) {
		ssize_t tl =
		    layer_readlink(p->st, n, target, sizeof(target) - 1);

		if (tl < 0) {
			return (int)tl;
		}
		target[tl] = 0;
		r = symlinkat(target, dir, name) < 0 ? -errno : 0;
	} else {
		r = mknodat(dir, name, (s.st_mode & S_IFMT) | 0600, s.st_rdev) <
			0
		    ? -errno
		    : 0;
	}
	if (r == 0 && out < 0) {
		out = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		r = out < 0 ? -errno : 0;
	}
	if (r == 0) {
		r = layer_node_copy_meta(p->st, n, out, true);
	}
	if (in >= 0) {
		close(in);
	}
	if (out >= 0) {
		close(out);
	}
	p->info->copies++;
	return r;
}

/* The client's own file, or another name of one already copied. */
static int
promote_client_file(
    struct promote *p, const struct layer_walk_ent *e, int fd, int dir)
{
	struct stat s;
	size_t i;
	int r;

	if (fstatat(fd, "", &s, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		return -errno;
	}
	for (i = 0; s.st_nlink > 1 && i < p->nseen; i++) {
		if (p->seen[i].ino == s.st_ino) {
			return linkat(p->root, p->seen[i].path, dir, e->name,
				   0) < 0
			    ? -errno
			    : 0;
		}
	}
	r = copy_client(p, e->node, dir, e->name);
	if (r == 0 && s.st_nlink > 1) {
		if (p->nseen == p->capseen) {
			size_t cap = p->capseen ? 2 * p->capseen : 64;
			struct link_seen *g =
			    realloc(p->seen, cap * sizeof(*g));

			if (!g) {
				return -ENOMEM;
			}
			p->seen = g;
			p->capseen = cap;
		}
		p->seen[p->nseen].ino = s.st_ino;
		p->seen[p->nseen].path = strdup(e->path);
		if (!p->seen[p->nseen].path) {
			return -ENOMEM;
		}
		p->nseen++;
	}
	return r;
}

static int
promote_enter(void *arg, const struct layer_walk_ent *e)
{
	struct promote *p = arg;
	int parent = e->depth > 0 ? p->dirs[e->depth - 1] : -1, fd, r;
	bool client;

	if (e->depth == 0) {
		return 0;
	}
	if (++p->entries % 1024 == 0 && p->prog && p->prog->fn) {
		r = p->prog->fn(p->prog->arg, "promote", p->entries, 0);
		if (r < 0) {
			return r;
		}
	}
	if (e->node->type == S_IFDIR) {
		fd = tree_mkdir_open(parent, e->name);
		if (fd < 0) {
			return fd;
		}
		p->dirs[e->depth] = fd;
		return 0;
	}
	fd = layer_node_instance(p->st, e->node, &client);
	if (fd < 0) {
		return fd;
	}
	if (!client) {
		/* Versions never change: the new image shares the inode. */
		r = link_version(p, fd, parent, e->name);
	} else {
		/*
		 * An identity file as client add made it is the client's,
		 * not the image's: the version's file (or none) goes in.
		 */
		r = is_identity(p, e->path, e->node->type);
		if (r == 1) {
			p->info->identity++;
			r = link_from_version(p, e->path, parent, e->name);
		} else if (r == 0) {
			r = promote_client_file(p, e, fd, parent);
		}
	}
	close(fd);
	return r;
}

/* A directory client add made for identity files, which stayed out. */
static bool
identity_dir_left_empty(struct promote *p, const struct layer_walk_ent *e)
{
	struct layer_change lc = {
	    .path = e->path, .kind = 'A', .type = S_IFDIR};
	struct layer_node *n = NULL;
	int fd = p->dirs[e->depth], r;
	DIR *d;
	struct dirent *de;
	bool empty = true;

	if (layer_change_is_identity(p->st, p->id, &lc) != 1) {
		return false;
	}
	r = layer_lookup_path(p->vst, e->path, &n);
	layer_node_free(n);
	if (r != -ENOENT) {
		return false; /* the version has it */
	}
	fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd < 0 ? NULL : fdopendir(fd);
	while (d && empty && (de = readdir(d)) != NULL) {
		empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
	}
	if (d) {
		closedir(d);
	} else if (fd >= 0) {
		close(fd);
	}
	return d && empty;
}

static int
promote_leave(void *arg, const struct layer_walk_ent *e)
{
	struct promote *p = arg;
	int fd = p->dirs[e->depth], r = 0;

	if (e->depth > 0 && identity_dir_left_empty(p, e)) {
		close(fd);
		p->dirs[e->depth] = -1;
		return unlinkat(p->dirs[e->depth - 1], e->name, AT_REMOVEDIR) <
			0
		    ? -errno
		    : 0;
	}
	r = layer_node_copy_meta(p->st, e->node, fd, true);
	if (e->depth > 0) {
		close(fd);
		p->dirs[e->depth] = -1;
	}
	return r;
}

/*
 * Names the identity removed (the SSH host keys) and the client left
 * removed: the version's objects come back, as for identity files.
 */
static int
restore_removed(struct promote *p, int dir, const char *path, unsigned depth)
{
	struct dirent *e;
	DIR *d;
	int fd, r = 0;

	if (depth > LAYER_WALK_DEPTH) {
		return -ELOOP;
	}
	fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0) {
			close(fd);
		}
		return -errno;
	}
	while (r == 0 && (e = readdir(d)) != NULL) {
		struct layer_node *n = NULL;
		struct stat s;
		char sub[PATH_MAX];
		int pfd;

		if (strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0 ||
		    fstatat(dirfd(d), e->d_name, &s, AT_SYMLINK_NOFOLLOW) < 0) {
			continue;
		}
		if ((size_t)snprintf(sub, sizeof(sub), "%s%s%s", path,
			*path ? "/" : "", e->d_name) >= sizeof(sub)) {
			r = -ENAMETOOLONG;
			break;
		}
		if (S_ISDIR(s.st_mode)) {
			int sfd = openat(dirfd(d), e->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			r = sfd < 0 ? -errno
				    : restore_removed(p, sfd, sub, depth + 1);
			if (sfd >= 0) {
				close(sfd);
			}
			continue;
		}
		if (!S_ISCHR(s.st_mode) || s.st_rdev != 0) {
			continue;
		}
		r = layer_lookup_path(p->st, sub, &n);
		layer_node_free(n);
		if (r != -ENOENT) {
			r = r < 0 && r != -ENOTDIR ? r : 0;
			continue; /* the client has something there */
		}
		pfd = tree_open_dir(p->root, *path ? path : ".");
		if (pfd < 0) {
			r = 0; /* the directory itself is gone */
			continue;
		}
		r = link_from_version(p, sub, pfd, e->d_name);
		close(pfd);
		p->info->identity += r == 0;
	}
	closedir(d);
	return r;
}

static int
promote_tree(struct promote *p, struct prov_cl *c, const struct prov_img *im,
    int verfd, const char *tree, char *msg, size_t msglen)
{
	static const struct layer_walk_ops ops = {
	    .enter = promote_enter,
	    .leave = promote_leave,
	};
	size_t i;
	int r;

	p->st = p->vst = NULL;
	p->id = prov_cl_identity_fd(c, c->version, tree);
	for (i = 0; i < sizeof(p->dirs) / sizeof(p->dirs[0]); i++) {
		p->dirs[i] = -1;
	}
	p->root = -1;
	r = mkdirat(verfd, tree, 0755) < 0 ? -errno : 0;
	if (r == 0) {
		p->root = openat(verfd, tree,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		r = p->root < 0 ? -errno : 0;
	}
	p->dirs[0] = p->root;
	if (r == 0) {
		r = prov_cl_stack(c, im, c->version, tree, "layer", true,
		    &p->st, msg, msglen);
	}
	if (r == 0) {
		r = prov_version_stack(im, c->version, tree, -1, NULL, NULL,
		    true, &p->vst, msg, msglen);
	}
	if (r == 0) {
		r = layer_walk(p->st, "", &ops, p);
	}
	if (r == 0 && p->id >= 0) {
		r = restore_removed(p, p->id, "", 0);
	}
	if (r < 0 && !msg[0]) {
		snprintf(msg, msglen, "client '%s': copying its %s files: %s",
		    c->name, tree, strerror(-r));
	}
	for (i = 1; i < sizeof(p->dirs) / sizeof(p->dirs[0]); i++) {
		if (p->dirs[i] >= 0) {
			close(p->dirs[i]);
		}
	}
	if (p->root >= 0) {
		close(p->root);
	}
	if (p->id >= 0) {
		close(p->id);
	}
	for (i = 0; i < p->nseen; i++) {
		free(p->seen[i].path);
	}
	p->nseen = 0;
	layer_stack_close(p->st);
	layer_stack_close(p->vst);
	return r;
}

/* The new version's record: a base, described as the client's version. */
static int
promote_record(const struct prov_cl *c, const struct prov_img *im, int verfd,
    unsigned n, char *msg, size_t msglen)
{
	struct prov_version *v = malloc(sizeof(*v));
	int fd, r;

	if (!v) {
		return -ENOMEM;
	}
	r = prov_version_read(im, c->version, v, msg, msglen);
	if (r == 0) {
		v->n = n;
		v->base = true;
		v->parent = 0;
		v->flattened = false;
		v->command[0] = 0;
		v->scheme[0] = 0;
		v->source[0] = 0;
		snprintf(v->promoted, sizeof(v->promoted), "%s (%s@%u)",
		    c->name, c->image, c->version);
		prov_now_iso(v->created, sizeof(v->created));
		fd = openat(verfd, "boot", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		v->boot_bytes = fd < 0 ? 0 : tree_du(fd);
		if (fd >= 0) {
			close(fd);
		}
		fd = openat(verfd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		v->root_bytes = fd < 0 ? 0 : tree_du(fd);
		if (fd >= 0) {
			close(fd);
		}
		r = prov_version_write(verfd, v);
	}
	free(v);
	return r;
}

int
prov_client_promote(const char *state, const char *name, const char *image,
    const struct prov_progress *prog, struct prov_promote_info *info, char *msg,
    size_t msglen)
{
	struct prov_target t = {.verfd = -1, .img = {.fd = -1}};
	struct promote *p = calloc(1, sizeof(*p));
	char dir[PATH_MAX], note[512], created[32];
	struct prov_cl c;
	struct prov_img im;
	bool img = false, done = false, target = false;
	int imgfd = -1, r;
	size_t k;

	memset(info, 0, sizeof(*info));
	msg[0] = 0;
	if (!p) {
		return -ENOMEM;
	}
	if (!rec_name_ok(image)) {
		snprintf(msg, msglen,
		    "--image '%s' is not a valid image name (a-z, 0-9, '.', "
		    "'-', '_', at most 63 characters)",
		    image);
		free(p);
		return -EINVAL;
	}
	/* Held, so no reset swaps the layer away while it is read. */
	r = prov_cl_open(&c, state, name, true, msg, msglen);
	if (r < 0) {
		free(p);
		return r;
	}
	r = prov_cl_require_layered(&c, "promote", msg, msglen);
	if (r == 0) {
		r = prov_img_open(&im, state, c.image, false, msg, msglen);
		img = r == 0;
	}
	if (r == 0) {
		r = prov_private_dir(state, "images", dir, sizeof(dir), note,
		    sizeof(note), msg, msglen);
	}
	if (r == 0) {
		prov_clean_stale(dir);
		imgfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = imgfd < 0 ? -errno : 0;
	}
	if (r == 0) {
		target = true;
		r = prov_target_open(
		    &t, state, imgfd, image, &info->version, msg, msglen);
		info->new_image = !t.existing;
	}
	p->prog = prog;
	p->info = info;
	for (k = 0; r == 0 && k < 2; k++) {
		r = promote_tree(p, &c, &im, t.verfd, trees[k], msg, msglen);
	}
	if (r == 0) {
		r = promote_record(
		    &c, &im, t.verfd, info->version, msg, msglen);
	}
	if (r == 0) {
		prov_now_iso(created, sizeof(created));
		r = prov_target_commit(
		    &t, image, info->version, created, msg, msglen);
		done = r == 0;
	}
	info->copied_bytes = p->ts.copied_bytes;
	if (r < 0 && !msg[0]) {
		snprintf(msg, msglen, "%s", strerror(-r));
	}
	if (target) {
		prov_target_close(&t, done);
	}
	if (imgfd >= 0) {
		close(imgfd);
	}
	if (img) {
		prov_img_close(&im);
	}
	prov_cl_close(&c);
	free(p->seen);
	free(p);
	return r;
}
