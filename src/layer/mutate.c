#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer/internal.h"

/*
 * Changes to the merged tree, with overlayfs semantics and no redirects.
 * Each takes the stack's change lock, checks the caller from the merged
 * attributes, makes the client-layer directories it needs, and then
 * makes the visible change in one rename (or link, or unlink), building
 * anything new under a temporary name in the index first.
 */

static int
change_begin(struct layer_stack *st)
{
	if (st->ro) {
		return -EROFS;
	}
	pthread_mutex_lock(&st->mut);
	return 0;
}

static void
change_end(struct layer_stack *st)
{
	pthread_mutex_unlock(&st->mut);
}

static int
dir_attrs(const struct layer_node *dir, struct stat *s)
{
	if (dir->type != S_IFDIR) {
		return -ENOTDIR;
	}
	return layer_stat_fd(layer_dir_top(dir), s);
}

/* Put a whiteout at @name in client directory @dfd (nothing there yet). */
static int
whiteout_new(struct layer_stack *st, int dfd, const char *name)
{
	char tmp[64];
	int r;

	layer_tmpname(st, tmp, sizeof(tmp));
	r = layer_step(st, "whiteout-mknod");
	if (r < 0) {
		return r;
	}
	if (mknodat(st->index, tmp, S_IFCHR, makedev(0, 0)) < 0) {
		return -errno;
	}
	r = layer_step(st, "whiteout-rename");
	if (r == 0 &&
	    renameat2(st->index, tmp, dfd, name, RENAME_NOREPLACE) < 0) {
		r = -errno;
	}
	if (r < 0) {
		unlinkat(st->index, tmp, 0);
	}
	return r;
}

/*
 * Take the client entry @name out of @dfd: leave a whiteout in its place
 * when a version shows the name (@below), nothing otherwise.  The entry
 * goes to the index in the same rename, then is deleted.
 */
static int
client_take_out(struct layer_stack *st, int dfd, const char *name, bool below)
{
	char tmp[64];
	int r;

	layer_tmpname(st, tmp, sizeof(tmp));
	r = layer_step(st, below ? "whiteout-rename" : "remove-rename");
	if (r < 0) {
		return r;
	}
	if (renameat2(dfd, name, st->index, tmp, below ? RENAME_WHITEOUT : 0) <
	    0) {
		return -errno;
	}
	return layer_rm_tree(st->index, tmp, 0);
}

/*
 * Record that a name of version file @v went away: its own version name
 * (@version_name), or a client link to its copy (already gone).  When no
 * name is left, the copy is freed and a count-only entry says "removed".
 */
static int
account_hide(struct layer_stack *st, struct layer_node *v, bool version_name)
{
	struct layer_ix x;
	struct layer_fh fh;
	struct stat vs, cs;
	char old[LAYER_IXNAME_MAX], name[LAYER_IXNAME_MAX], tmp[64];
	bool have, dead;
	int r;

	if (v->type == S_IFDIR || v->kind != LAYER_KIND_VERSION) {
		return 0;
	}
	have = layer_map_find(st, v->ino, &x);
	if (!have) {
		if (!version_name || v->vfd < 0 ||
		    layer_stat_fd(v->vfd, &vs) < 0) {
			return 0;
		}
		r = layer_node_fh(st, v, &fh);
		if (r < 0) {
			return r;
		}
		x = (struct layer_ix){.origin = v->ino,
		    .vis = (uint32_t)vs.st_nlink,
		    .htype = fh.type,
		    .hlen = fh.len};
		memcpy(x.h, fh.h, fh.len);
	}
	layer_ixname(old, sizeof(old), &x);
	if (version_name && x.vis > 0) {
		x.vis--;
	}
	dead = x.vis == 0;
	if (x.copy) {
		int cfd = layer_openat(st->index, old, O_PATH);

		dead = dead && cfd >= 0 && layer_stat_fd(cfd, &cs) == 0 &&
		    cs.st_nlink == 1;
		if (cfd >= 0) {
			close(cfd);
		}
	}
	layer_ixname(name, sizeof(name), &x);
	if (have && !(x.copy && dead) && strcmp(old, name) == 0) {
		return 0;
	}
	if (have && !(x.copy && dead)) {
		r = layer_step(st, "index-rename");
		if (r == 0 && renameat(st->index, old, st->index, name) < 0) {
			r = -errno;
		}
		return r < 0 ? r : layer_map_set(st, &x);
	}
	/* A new count-only entry, or one replacing a copy no name needs. */
	layer_tmpname(st, tmp, sizeof(tmp));
	r = layer_step(st, "index-mknod");
	if (r == 0 && mknodat(st->index, tmp, S_IFCHR, makedev(0, 0)) < 0) {
		r = -errno;
	}
	if (r == 0) {
		r = layer_step(st, "index-rename");
	}
	if (r == 0 && renameat(st->index, tmp, st->index, name) < 0) {
		r = -errno;
	}
	if (r < 0) {
		unlinkat(st->index, tmp, 0);
		return r;
	}
	if (have && strcmp(old, name) != 0) {
		unlinkat(st->index, old, 0);
	}
	x.copy = 0;
	return layer_map_set(st, &x);
}

/* Is @n's top instance the client layer's entry (not a version's)? */
static bool
is_client_entry(const struct layer_node *n, const struct stat *cst)
{
	return cst->st_mode != 0 && !layer_is_whiteout(cst) &&
	    (n->type == S_IFDIR ? n->dirs[0] >= 0 : n->vfd < 0);
}

/* --- create ------------------------------------------------------------- */

static int
new_check(const struct layer_cred *c, const struct layer_new *nw)
{
	switch (nw->type) {
	case S_IFREG:
	case S_IFDIR:
	case S_IFIFO:
	case S_IFSOCK:
		return 0;
	case S_IFLNK:
		return nw->target && nw->target[0] &&
			strlen(nw->target) < PATH_MAX
		    ? 0
		    : -EINVAL;
	case S_IFCHR:
		/* The whiteout marker, never the client's to make. */
		if (nw->rdev == makedev(0, 0)) {
			return -EPERM;
		}
		return c && c->uid != 0 ? -EPERM : 0;
	case S_IFBLK:
		return c && c->uid != 0 ? -EPERM : 0;
	default:
		return -EINVAL;
	}
}

/* Make the object of @nw under @tmp in the index, owned and moded. */
static int
build_new(struct layer_stack *st, const struct layer_cred *c,
    const struct stat *ds, const char *tmp, const struct layer_new *nw,
    bool opaque)
{
	uid_t uid = c ? c->uid : 0;
	gid_t gid = c ? c->gid : 0;
	mode_t mode = nw->mode & 07777;
	int fd, r;

	/* A setgid directory hands its group down, and setgid to subdirs. */
	if (ds->st_mode & S_ISGID) {
		gid = ds->st_gid;
		if (nw->type == S_IFDIR) {
			mode |= S_ISGID;
		}
	}
	if (nw->type != S_IFDIR && (mode & S_ISGID) && c && c->uid != 0 &&
	    !layer_cred_in_group(c, gid)) {
		mode &= ~(mode_t)S_ISGID;
	}
	r = layer_step(st, "create-make");
	if (r < 0) {
		return r;
	}
	switch (nw->type) {
	case S_IFREG:
		fd = openat(st->index, tmp,
		    O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			return -errno;
		}
		close(fd);
		break;
	case S_IFDIR:
		r = mkdirat(st->index, tmp, 0700);
		break;
	case S_IFLNK:
		r = symlinkat(nw->target, st->index, tmp);
		break;
	default:
		r = mknodat(st->index, tmp, nw->type | 0600, nw->rdev);
		break;
	}
	if (r < 0) {
		return -errno;
	}
	r = layer_step(st, "create-owner");
	if (r < 0) {
		return r;
	}
	if (fchownat(st->index, tmp, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
		return -errno;
	}
	if (nw->type != S_IFLNK && fchmodat(st->index, tmp, mode, 0) < 0) {
		return -errno;
	}
	if (opaque) {
		char p[64];

		fd = layer_openat(st->index, tmp, O_PATH);
		if (fd < 0) {
			return fd;
		}
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		r = setxattr(p, LAYER_XATTR_OPAQUE, "y", 1, 0) < 0 ? -errno : 0;
		close(fd);
		if (r < 0) {
			return r;
		}
	}
	if (nw->set_times) {
		struct timespec ts[2] = {nw->atime, nw->mtime};

		if (utimensat(st->index, tmp, ts, AT_SYMLINK_NOFOLLOW) < 0) {
			return -errno;
		}
	}
	return 0;
}

/*
 * Move @tmp from the index to @name in client directory @dfd: over the
 * whiteout there (@over_whiteout) by exchanging the two, since a
 * directory cannot replace a device in a plain rename.
 */
static int
place(struct layer_stack *st, const char *tmp, int dfd, const char *name,
    bool over_whiteout)
{
	int r = layer_step(st, "place-rename");

	if (r < 0) {
		return r;
	}
	if (!over_whiteout) {
		return renameat2(st->index, tmp, dfd, name, RENAME_NOREPLACE) <
			0
		    ? -errno
		    : 0;
	}
	if (renameat2(st->index, tmp, dfd, name, RENAME_EXCHANGE) < 0) {
		return -errno;
	}
	/* The whiteout is in the index now, under the temporary name. */
	unlinkat(st->index, tmp, 0);
	return 0;
}

/*
 * The start of every change that makes @name in @dir: checks, the change
 * lock, the name still free (*@cst: what the client layer holds there, a
 * whiteout or nothing), @c's permission, and @dir's client instance.
 * On success the caller holds the change lock.
 */
static int
new_name_begin(struct layer_stack *st, const struct layer_cred *c,
    struct layer_node *dir, const char *name, struct stat *ds, struct stat *cst)
{
	struct layer_node *ex = NULL;
	int r = layer_name_check(name);

	if (r == -EINVAL) {
		r = -EEXIST; /* "." and "..": they are there */
	}
	if (r == 0) {
		r = dir_attrs(dir, ds);
	}
	if (r == 0) {
		r = change_begin(st);
	}
	if (r < 0) {
		return r;
	}
	r = layer_lookup_raw(st, dir, name, &ex, cst, NULL);
	layer_node_free(ex);
	if (r == 0) {
		r = -EEXIST;
	} else if (r == -ENOENT) {
		r = layer_may(c, ds, LAYER_MAY_WRITE | LAYER_MAY_EXEC)
		    ? layer_up_dir(st, dir)
		    : -EACCES;
	}
	/* The client copy may differ in times; its setgid bit does not. */
	if (r == 0) {
		r = dir_attrs(dir, ds);
	}
	if (r < 0) {
		change_end(st);
	}
	return r;
}

int
layer_create(struct layer_stack *st, const struct layer_cred *c,
    struct layer_node *dir, const char *name, const struct layer_new *nw,
    struct layer_node **out)
{
	struct stat ds, cst;
	char tmp[64];
	bool wh;
	int r;

	if (out) {
		*out = NULL;
	}
	r = new_check(c, nw);
	if (r == 0) {
		r = new_name_begin(st, c, dir, name, &ds, &cst);
	}
	if (r < 0) {
		return r;
	}
	wh = cst.st_mode != 0 && layer_is_whiteout(&cst);
	layer_tmpname(st, tmp, sizeof(tmp));
	r = build_new(st, c, &ds, tmp, nw, wh && nw->type == S_IFDIR);
	if (r == 0) {
		r = place(st, tmp, dir->dirs[0], name, wh);
	}
	if (r < 0) {
		layer_rm_tree(st->index, tmp, 0);
	} else if (out) {
		r = layer_lookup_raw(st, dir, name, out, NULL, NULL);
	}
	change_end(st);
	return r;
}

/* --- remove ------------------------------------------------------------- */

static int
remove_common(struct layer_stack *st, const struct layer_cred *c,
    struct layer_node *dir, const char *name, bool rmdir)
{
	struct layer_node *v = NULL;
	struct stat ds, vs, cst;
	bool below, client;
	int r;

	r = layer_name_check(name);
	if (r == -EINVAL) {
		r = rmdir && strcmp(name, "..") == 0 ? -ENOTEMPTY : -EINVAL;
	}
	if (r == 0) {
		r = dir_attrs(dir, &ds);
	}
	if (r < 0) {
		return r;
	}
	r = change_begin(st);
	if (r < 0) {
		return r;
	}
	r = layer_lookup_raw(st, dir, name, &v, &cst, &below);
	if (r < 0) {
		goto out;
	}
	if (rmdir != (v->type == S_IFDIR)) {
		r = rmdir ? -ENOTDIR : -EISDIR;
		goto out;
	}
	r = layer_getattr(st, v, &vs);
	if (r == 0) {
		r = layer_may_delete(c, &ds, &vs);
	}
	if (r == 0 && rmdir) {
		r = layer_dir_nonempty(st, v);
		r = r > 0 ? -ENOTEMPTY : r;
	}
	if (r < 0) {
		goto out;
	}
	client = is_client_entry(v, &cst);
	if (client) {
		r = client_take_out(st, dir->dirs[0], name, below);
	} else {
		r = layer_up_dir(st, dir);
		if (r == 0) {
			r = whiteout_new(st, dir->dirs[0], name);
		}
	}
	if (r == 0) {
		r = account_hide(st, v, !client);
	}
	if (v->type == S_IFDIR) {
		layer_dcache_forget(st, v->path);
	}
out:
	layer_node_free(v);
	change_end(st);
	return r;
}

int
layer_unlink(struct layer_stack *st, const struct layer_cred *c,
    struct layer_node *dir, const char *name)
{
	return remove_common(st, c, dir, name, false);
}

int
layer_rmdir(struct layer_stack *st, const struct layer_cred *c,
    struct layer_node *dir, const char *name)
{
	return remove_common(st, c, dir, name, true);
}

/* --- link --------------------------------------------------------------- */

/* A new client-layer name @name in @dfd for the inode open at @fd. */
static int
link_in(struct layer_stack *st, int fd, int dfd, const char *name,
    bool over_whiteout)
{
	char tmp[64];
	int r;

	layer_tmpname(st, tmp, sizeof(tmp));
	r = layer_step(st, "link");
	if (r < 0) {
		return r;
	}
	if (linkat(fd, "", st->index, tmp, AT_EMPTY_PATH) < 0) {
		return -errno;
	}
	r = layer_step(st, "link-rename");
	if (r == 0 && over_whiteout &&
	    renameat(st->index, tmp, dfd, name) < 0) {
		r = -errno;
	} else if (r == 0 && !over_whiteout &&
	    renameat2(st->index, tmp, dfd, name, RENAME_NOREPLACE) < 0) {
		r = -errno;
	}
	if (r < 0) {
		unlinkat(st->index, tmp, 0);
	}
	return r;
}

int
layer_link(struct layer_stack *st, const struct layer_cred *c,
    struct layer_node *n, struct layer_node *dir, const char *name)
{
	struct stat ds, cst;
	int r;

	if (n->type == S_IFDIR) {
		return -EPERM;
	}
	r = new_name_begin(st, c, dir, name, &ds, &cst);
	if (r < 0) {
		return r;
	}
	r = layer_up_file(st, n);
	if (r == 0) {
		r = link_in(st, n->fd, dir->dirs[0], name,
		    cst.st_mode != 0 && layer_is_whiteout(&cst));
	}
	change_end(st);
	return r;
}

int
layer_adopt(
    struct layer_stack *st, struct layer_node *dir, const char *name, int fd)
{
	struct stat ds, cst, s;
	int r = layer_stat_fd(fd, &s);

	if (r < 0) {
		return r;
	}
	if (S_ISDIR(s.st_mode)) {
		return -EISDIR;
	}
	if (s.st_dev != st->dev) {
		return -EXDEV;
	}
	if (layer_is_whiteout(&s)) {
		return -EPERM;
	}
	r = new_name_begin(st, NULL, dir, name, &ds, &cst);
	if (r < 0) {
		return r;
	}
	r = link_in(st, fd, dir->dirs[0], name,
	    cst.st_mode != 0 && layer_is_whiteout(&cst));
	change_end(st);
	return r;
}

/* --- rename ------------------------------------------------------------- */

static bool
same_object(const struct layer_node *a, const struct layer_node *b)
{
	return a->kind == b->kind && a->ino == b->ino;
}

static int
set_opaque(struct layer_stack *st, int dfd)
{
	int r = layer_step(st, "opaque");

	if (r == 0 && fsetxattr(dfd, LAYER_XATTR_OPAQUE, "y", 1, 0) < 0) {
		r = -errno;
	}
	return r;
}

/*
 * Directory @t (merged-empty) is about to be replaced: give it a client
 * instance that is really empty, so rename(2) can replace it.  One with
 * whiteouts in it is exchanged for an empty opaque copy first, which
 * looks the same from outside (overlayfs' ovl_clear_empty()).
 */
static int
clear_target_dir(struct layer_stack *st, struct layer_node *tdir,
    const char *tname, struct layer_node *t)
{
	struct stat s;
	char tmp[64];
	int fd = -1, r;

	if (t->dirs[0] < 0 || layer_dir_nonempty_raw(t->dirs[0]) == 0) {
		return 0;
	}
	if (layer_stat_fd(t->dirs[0], &s) < 0) {
		return -errno;
	}
	layer_tmpname(st, tmp, sizeof(tmp));
	r = layer_step(st, "clear-mkdir");
	if (r == 0 && mkdirat(st->index, tmp, 0700) < 0) {
		r = -errno;
	}
	if (r < 0) {
		return r;
	}
	fd = openat(
	    st->index, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	r = fd < 0 ? -errno : layer_copy_meta(st, t->dirs[0], fd, &s, true);
	if (r == 0) {
		r = set_opaque(st, fd);
	}
	if (fd >= 0) {
		close(fd);
	}
	if (r == 0) {
		r = layer_step(st, "clear-exchange");
	}
	if (r == 0 &&
	    renameat2(st->index, tmp, tdir->dirs[0], tname, RENAME_EXCHANGE) <
		0) {
		r = -errno;
	}
	/* Either our empty copy, or (exchanged) the old one with whiteouts. */
	layer_rm_tree(st->index, tmp, 0);
	return r;
}

static int
rename_checks(const struct layer_cred *c, struct layer_stack *st,
    struct layer_node *sdir, struct layer_node *tdir, struct layer_node *s,
    struct layer_node *t)
{
	struct stat sds, tds, ss, ts;
	int r;

	r = dir_attrs(sdir, &sds);
	if (r == 0) {
		r = dir_attrs(tdir, &tds);
	}
	if (r == 0) {
		r = layer_getattr(st, s, &ss);
	}
	if (r == 0) {
		r = layer_may_delete(c, &sds, &ss);
	}
	if (r < 0) {
		return r;
	}
	if (t) {
		r = layer_getattr(st, t, &ts);
		if (r == 0) {
			r = layer_may_delete(c, &tds, &ts);
		}
	} else if (!layer_may(c, &tds, LAYER_MAY_WRITE | LAYER_MAY_EXEC)) {
		r = -EACCES;
	}
	/* Moving a directory elsewhere rewrites its "..". */
	if (r == 0 && s->type == S_IFDIR && strcmp(sdir->path, tdir->path) &&
	    !layer_may(c, &ss, LAYER_MAY_WRITE)) {
		r = -EACCES;
	}
	if (r < 0 || !t) {
		return r;
	}
	if (s->type == S_IFDIR && t->type != S_IFDIR) {
		return -ENOTDIR;
	}
	if (s->type != S_IFDIR && t->type == S_IFDIR) {
		return -EISDIR;
	}
	return 0;
}

/* Is merged path @p @anc itself or below it? */
static bool
path_under(const char *p, const char *anc)
{
	size_t n = strlen(anc);

	return strncmp(p, anc, n) == 0 && (p[n] == 0 || p[n] == '/');
}

int
layer_rename(struct layer_stack *st, const struct layer_cred *c,
    struct layer_node *sdir, const char *sname, struct layer_node *tdir,
    const char *tname)
{
	struct layer_node *s = NULL, *t = NULL;
	struct stat scst, tcst;
	bool sbelow, tbelow, sclient, tclient = false;
	int r;

	r = layer_name_check(sname);
	if (r == 0) {
		r = layer_name_check(tname);
	}
	if (r == 0 && (sdir->type != S_IFDIR || tdir->type != S_IFDIR)) {
		r = -ENOTDIR;
	}
	if (r < 0) {
		return r;
	}
	r = change_begin(st);
	if (r < 0) {
		return r;
	}
	r = layer_lookup_raw(st, sdir, sname, &s, &scst, &sbelow);
	if (r < 0) {
		goto out;
	}
	r = layer_lookup_raw(st, tdir, tname, &t, &tcst, &tbelow);
	if (r < 0 && r != -ENOENT) {
		goto out;
	}
	r = 0;
	/* In the order the kernel checks them, so errors match overlayfs'. */
	if (t && same_object(s, t)) {
		goto out;
	}
	if (s->type == S_IFDIR && path_under(tdir->path, s->path)) {
		r = -EINVAL; /* into itself */
		goto out;
	}
	if (t && t->type == S_IFDIR && path_under(sdir->path, t->path)) {
		r = -ENOTEMPTY; /* over its own ancestor */
		goto out;
	}
	r = rename_checks(c, st, sdir, tdir, s, t);
	if (r < 0) {
		goto out;
	}
	if (s->type == S_IFDIR && layer_dir_has_version(s)) {
		/* As overlayfs without redirect_dir: mv falls back to copying.
		 */
		r = -EXDEV;
		goto out;
	}
	if (t && t->type == S_IFDIR) {
		r = layer_dir_nonempty(st, t);
		r = r > 0 ? -ENOTEMPTY : r;
		if (r < 0) {
			goto out;
		}
	}
	sclient = is_client_entry(s, &scst);
	if (t) {
		tclient = is_client_entry(t, &tcst);
	}
	r = layer_up_dir(st, sdir);
	if (r == 0) {
		r = layer_up_dir(st, tdir);
	}
	if (r == 0 && t && t->type == S_IFDIR) {
		r = clear_target_dir(st, tdir, tname, t);
	}
	if (r == 0 && s->type == S_IFDIR && tbelow &&
	    !(s->dflags[0] & LAYER_DIR_OPAQUE)) {
		r = set_opaque(st, s->dirs[0]);
	}
	if (r == 0 && !sclient) {
		/*
		 * A version file: its copy takes the old name first, which
		 * looks the same from outside, then moves like a client file.
		 */
		r = layer_up_file(st, s);
		if (r == 0) {
			r = link_in(st, s->fd, sdir->dirs[0], sname, false);
		}
		if (r == 0) {
			r = account_hide(st, s, true);
		}
	}
	if (r < 0) {
		goto out;
	}
	r = layer_step(st, sbelow ? "rename-whiteout" : "rename");
	if (r == 0 && s->type == S_IFDIR && tcst.st_mode != 0 &&
	    layer_is_whiteout(&tcst)) {
		/*
		 * rename(2) cannot put a directory over a device: exchange
		 * the two, which leaves the whiteout at the old name, where
		 * it belongs if a version holds that name, and goes if not.
		 */
		if (renameat2(sdir->dirs[0], sname, tdir->dirs[0], tname,
			RENAME_EXCHANGE) < 0) {
			r = -errno;
		} else if (!sbelow) {
			unlinkat(sdir->dirs[0], sname, 0);
		}
	} else if (r == 0 &&
	    renameat2(sdir->dirs[0], sname, tdir->dirs[0], tname,
		sbelow ? RENAME_WHITEOUT : 0) < 0) {
		r = -errno;
	}
	if (r == 0 && t) {
		r = account_hide(st, t, !tclient);
	}
	if (s->type == S_IFDIR) {
		/* Where the directory was, and what it replaced. */
		layer_dcache_forget(st, s->path);
		if (t) {
			layer_dcache_forget(st, t->path);
		}
	}
out:
	layer_node_free(s);
	layer_node_free(t);
	change_end(st);
	return r;
}

/* --- setattr and data --------------------------------------------------- */

static int
sattr_checks(const struct layer_cred *c, const struct stat *s,
    const struct layer_sattr *sa)
{
	bool owner = !c || c->uid == 0 || c->uid == s->st_uid;
	bool root = !c || c->uid == 0;

	if (sa->set_size) {
		if (S_ISDIR(s->st_mode)) {
			return -EISDIR;
		}
		if (!S_ISREG(s->st_mode)) {
			return -EINVAL;
		}
		if (!owner && !layer_may(c, s, LAYER_MAY_WRITE)) {
			return -EACCES;
		}
	}
	if (sa->set_uid && sa->uid != s->st_uid && !root) {
		return -EPERM;
	}
	if (sa->set_gid && sa->gid != s->st_gid && !root &&
	    (!owner || !layer_cred_in_group(c, sa->gid))) {
		return -EPERM;
	}
	if (sa->set_mode && !owner) {
		return -EPERM;
	}
	if ((sa->atime.tv_nsec != UTIME_OMIT ||
		sa->mtime.tv_nsec != UTIME_OMIT) &&
	    !owner) {
		bool now = (sa->atime.tv_nsec == UTIME_NOW ||
			       sa->atime.tv_nsec == UTIME_OMIT) &&
		    (sa->mtime.tv_nsec == UTIME_NOW ||
			sa->mtime.tv_nsec == UTIME_OMIT);

		if (!now) {
			return -EPERM;
		}
		if (!layer_may(c, s, LAYER_MAY_WRITE)) {
			return -EACCES;
		}
	}
	return 0;
}

static bool
times_valid(const struct timespec *t)
{
	return t->tv_nsec == UTIME_OMIT || t->tv_nsec == UTIME_NOW ||
	    (t->tv_nsec >= 0 && t->tv_nsec < 1000000000);
}

/* A write or truncate by another than root drops setuid and setgid. */
static int
kill_suid(int fd, const struct layer_cred *c, const struct stat *s)
{
	mode_t m = s->st_mode & 07777;
	char p[64];

	if (!c || c->uid == 0 || !S_ISREG(s->st_mode)) {
		return 0;
	}
	if (!(m & S_ISUID) &&
	    (m & (S_ISGID | S_IXGRP)) != (S_ISGID | S_IXGRP)) {
		return 0;
	}
	m &= ~(mode_t)S_ISUID;
	if (m & S_IXGRP) {
		m &= ~(mode_t)S_ISGID;
	}
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	return chmod(p, m) < 0 ? -errno : 0;
}

int
layer_setattr(struct layer_stack *st, const struct layer_cred *c,
    struct layer_node *n, const struct layer_sattr *sa)
{
	struct timespec ts[2] = {sa->atime, sa->mtime};
	struct stat s;
	char p[64];
	mode_t mode;
	int fd, wfd, r;

	if (!times_valid(&sa->atime) || !times_valid(&sa->mtime)) {
		return -EINVAL;
	}
	r = layer_getattr(st, n, &s);
	if (r == 0) {
		r = sattr_checks(c, &s, sa);
	}
	if (r < 0) {
		return r;
	}
	r = change_begin(st);
	if (r < 0) {
		return r;
	}
	r = n->type == S_IFDIR ? layer_up_dir(st, n) : layer_up_file(st, n);
	if (r < 0) {
		goto out;
	}
	fd = n->type == S_IFDIR ? n->dirs[0] : n->fd;
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	r = layer_step(st, "setattr");
	if (r < 0) {
		goto out;
	}
	if (sa->set_size) {
		wfd = layer_reopen(fd, O_WRONLY);
		if (wfd < 0) {
			r = wfd;
			goto out;
		}
		r = ftruncate(wfd, (off_t)sa->size) < 0 ? -errno : 0;
		close(wfd);
		if (r == 0) {
			r = kill_suid(fd, c, &s);
		}
		if (r < 0) {
			goto out;
		}
	}
	if ((sa->set_uid || sa->set_gid) &&
	    fchownat(fd, "", sa->set_uid ? sa->uid : (uid_t)-1,
		sa->set_gid ? sa->gid : (gid_t)-1,
		AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		r = -errno;
		goto out;
	}
	if (sa->set_mode && n->type != S_IFLNK) {
		mode = sa->mode & 07777;
		if (c && c->uid != 0 &&
		    !layer_cred_in_group(c, sa->set_gid ? sa->gid : s.st_gid)) {
			mode &= ~(mode_t)S_ISGID;
		}
		if (chmod(p, mode) < 0) {
			r = -errno;
			goto out;
		}
	}
	if ((ts[0].tv_nsec != UTIME_OMIT || ts[1].tv_nsec != UTIME_OMIT) &&
	    utimensat(fd, "", ts, AT_EMPTY_PATH) < 0) {
		r = -errno;
	}
out:
	change_end(st);
	return r;
}

int
layer_open_data(struct layer_stack *st, const struct layer_cred *c,
    struct layer_node *n, int flags)
{
	struct stat s;
	bool write = (flags & O_ACCMODE) != O_RDONLY;
	ino_t top;
	int r, fd;

	if (n->type == S_IFDIR) {
		return -EISDIR;
	}
	if (n->type != S_IFREG) {
		return -EINVAL;
	}
	r = layer_attr_raw(st, n, &s, &top);
	if (r < 0) {
		return r;
	}
	if (!write) {
		if (!layer_may(c, &s, LAYER_MAY_READ)) {
			return -EACCES;
		}
		/* Still the version's file: read it without touching atime. */
		if (n->vfd >= 0 && top == n->ino) {
			return layer_reopen(n->fd, O_RDONLY | O_NOATIME);
		}
		return layer_reopen(n->fd, O_RDONLY);
	}
	if (c && c->uid != s.st_uid && !layer_may(c, &s, LAYER_MAY_WRITE)) {
		return -EACCES;
	}
	if (st->ro) {
		return -EROFS;
	}
	/* Writes to a client file or a made copy need no change lock. */
	if (n->kind == LAYER_KIND_VERSION && top == n->ino) {
		r = layer_copy_up(st, n);
		if (r < 0) {
			return r;
		}
	}
	r = kill_suid(n->fd, c, &s);
	if (r < 0) {
		return r;
	}
	fd = layer_reopen(n->fd, flags & O_ACCMODE);
	return fd;
}
