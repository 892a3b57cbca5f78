#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "layer/layer.h"
#include "server/lstack.h"
#include "server/nfs/fs.h"

/*
 * A layered export: a client layer merged over image versions by
 * src/layer (docs/fleet.md).  Objects are layer nodes; handles are the
 * library's (the kind and the identity inode's kernel handle), sealed
 * with the stack's verifier, so a handle names an object of this stack
 * and no other.  The library checks the caller against the merged
 * attributes and does every file-system call as the server: this thread
 * keeps its own identity, and the export's root_squash and id mapping
 * reach the library as the struct layer_cred it is given.
 */

static struct layer_stack *
lfs_st(const struct nfs_obj *o)
{
	return o->e->stack->st;
}

static void
lfs_cred(const struct nfs_call *c, struct layer_cred *out)
{
	uint32_t i;

	*out = (struct layer_cred){
	    .uid = c->cred.uid,
	    .gid = c->cred.gid,
	    .ngroups = c->cred.ngids,
	};
	for (i = 0; i < c->cred.ngids && i < 16; i++) {
		out->groups[i] = c->cred.gids[i];
	}
}

/* The library's answers that mean "no such object (any more)". */
static int
lfs_stale(int r)
{
	return r == -ENOENT || r == -EINVAL || r == -ENOTDIR ? -ESTALE : r;
}

static int
lfs_open(struct nfs_call *c, const struct nfs_fh_key *k, struct nfs_obj *o)
{
	struct layer_fh fh = {.kind = k->kind, .len = k->len, .type = k->type};
	int r;

	(void)c;
	/*
	 * A plain handle under this export's name (the client's root was a
	 * copy before), or one of another generation of this stack (a
	 * version move or a reset): stale, as its object is not here.
	 */
	if (k->kind == 0 || k->len > LAYER_FH_MAX ||
	    memcmp(k->verf, o->e->stack->verf, NFS_FH_VERF) != 0) {
		return -ESTALE;
	}
	memcpy(fh.h, k->h, k->len);
	r = lfs_stale(layer_fh_open(lfs_st(o), &fh, &o->node));
	if (r == 0) {
		o->type = o->node->type;
	}
	return r;
}

static void
lfs_close(struct nfs_obj *o)
{
	layer_node_free(o->node);
	o->node = NULL;
}

static int
lfs_handle(struct nfs_call *c, const struct nfs_obj *o, struct nfs3_fh *out)
{
	struct nfs_fh_key k = {0};
	struct layer_fh fh;
	int r = layer_node_fh(lfs_st(o), o->node, &fh);

	if (r < 0) {
		return r;
	}
	if (fh.len > NFS_FH_KMAX_LAYER) {
		return -EOVERFLOW;
	}
	k.kind = fh.kind;
	k.len = fh.len;
	k.type = fh.type;
	memcpy(k.verf, o->e->stack->verf, NFS_FH_VERF);
	memcpy(k.h, fh.h, fh.len);
	return nfs_fh_seal(c->ex, o->e, &k, out);
}

static int
lfs_getattr(struct nfs_call *c, const struct nfs_obj *o, struct stat *out)
{
	(void)c;
	return layer_getattr(lfs_st(o), o->node, out);
}

static int
lfs_lookup(struct nfs_call *c, struct nfs_obj *dir, const char *name,
    struct nfs_obj *out)
{
	struct layer_cred lc;
	int r;

	lfs_cred(c, &lc);
	r = layer_lookup(lfs_st(dir), &lc, dir->node, name, &out->node);
	if (r == 0) {
		out->type = out->node->type;
	}
	return r;
}

static int
lfs_entry(struct nfs_call *c, struct nfs_obj *dir, const char *name,
    struct nfs_obj *out, struct stat *attr)
{
	int r =
	    layer_lookup_attr(lfs_st(dir), dir->node, name, &out->node, attr);

	(void)c;
	if (r == 0) {
		out->type = out->node->type;
	}
	return r;
}

static int
lfs_open_data(struct nfs_call *c, struct nfs_obj *o, int flags)
{
	struct layer_cred lc;

	lfs_cred(c, &lc);
	return layer_open_data(lfs_st(o), &lc, o->node, flags);
}

static int
lfs_open_sync(struct nfs_call *c, struct nfs_obj *o)
{
	(void)c;
	return layer_open_data(lfs_st(o), NULL, o->node, O_RDONLY);
}

static ssize_t
lfs_readlink(struct nfs_call *c, struct nfs_obj *o, char *buf, size_t cap)
{
	(void)c;
	return layer_readlink(lfs_st(o), o->node, buf, cap);
}

struct lfs_listing {
	int (*fn)(void *arg, const struct nfs_fs_dirent *d);
	void *arg;
};

static int
lfs_list_one(void *arg, const struct layer_dirent *e)
{
	struct lfs_listing *l = arg;
	struct nfs_fs_dirent d = {
	    .name = e->name,
	    .namelen = e->namelen,
	    .fileid = e->ino,
	    .cookie = e->cookie,
	};

	return l->fn(l->arg, &d);
}

static int
lfs_readdir(struct nfs_call *c, struct nfs_obj *dir, uint64_t cookie,
    int (*fn)(void *arg, const struct nfs_fs_dirent *d), void *arg)
{
	struct lfs_listing l = {.fn = fn, .arg = arg};
	struct layer_cred lc;

	lfs_cred(c, &lc);
	return layer_readdir(
	    lfs_st(dir), &lc, dir->node, cookie, lfs_list_one, &l);
}

static void
lfs_cookie_verf(
    struct nfs_call *c, const struct nfs_obj *dir, uint8_t out[NFS3_VERF_SIZE])
{
	(void)c;
	memcpy(out, dir->e->stack->verf, NFS3_VERF_SIZE);
}

/* NFS times to the library's (utimensat's UTIME_NOW and UTIME_OMIT). */
static struct timespec
lfs_time(uint32_t how, const struct nfs3_time *t)
{
	if (how == NFS3_SET_TO_SERVER_TIME) {
		return (struct timespec){0, UTIME_NOW};
	}
	if (how == NFS3_SET_TO_CLIENT_TIME) {
		return (struct timespec){t->sec, t->nsec};
	}
	return (struct timespec){0, UTIME_OMIT};
}

static void
lfs_sattr(const struct nfs3_sattr *s, struct layer_sattr *out)
{
	*out = (struct layer_sattr){
	    .set_size = s->set_size,
	    .set_uid = s->set_uid,
	    .set_gid = s->set_gid,
	    .set_mode = s->set_mode,
	    .size = s->size,
	    .uid = s->uid,
	    .gid = s->gid,
	    .mode = (mode_t)(s->mode & 07777),
	    .atime = lfs_time(s->set_atime, &s->atime),
	    .mtime = lfs_time(s->set_mtime, &s->mtime),
	};
}

/*
 * RFC 1813 §3.3.8: an EXCLUSIVE create keeps the client's verifier with
 * the file, in the mtime and atime seconds as knfsd and the plain
 * backend do; the SETATTR that follows overwrites them.
 */
static void
lfs_verf_times(const uint8_t *v, struct layer_new *nw)
{
	nw->set_times = true;
	nw->mtime = (struct timespec){
	    (time_t)((uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 |
		(uint32_t)v[2] << 8 | v[3]),
	    0};
	nw->atime = (struct timespec){
	    (time_t)((uint32_t)v[4] << 24 | (uint32_t)v[5] << 16 |
		(uint32_t)v[6] << 8 | v[7]),
	    0};
}

/*
 * CREATE over a name that is there: GUARDED fails; EXCLUSIVE succeeds
 * only for a retransmission of its own create; UNCHECKED over a regular
 * file changes its size only, as knfsd does; over anything else, EXIST.
 */
static int
lfs_create_existing(struct nfs_call *c, struct nfs_obj *dir, const char *name,
    const struct nfs_new *nw, const struct layer_new *ln, struct nfs_obj *out)
{
	struct layer_stack *st = lfs_st(dir);
	struct layer_cred lc;
	struct stat s;
	int r;

	if (nw->how == NFS3_GUARDED) {
		return -EEXIST;
	}
	lfs_cred(c, &lc);
	r = layer_lookup(st, &lc, dir->node, name, &out->node);
	if (r == 0) {
		r = layer_getattr(st, out->node, &s);
	}
	if (r == 0 && !S_ISREG(s.st_mode)) {
		r = -EEXIST;
	}
	if (r == 0 && nw->how == NFS3_EXCLUSIVE &&
	    (s.st_mtim.tv_sec != ln->mtime.tv_sec ||
		s.st_atim.tv_sec != ln->atime.tv_sec)) {
		r = -EEXIST;
	}
	if (r == 0 && nw->how == NFS3_UNCHECKED && nw->sattr->set_size) {
		struct layer_sattr sa = {
		    .set_size = true,
		    .size = nw->sattr->size,
		    .atime = {0, UTIME_OMIT},
		    .mtime = {0, UTIME_OMIT},
		};

		r = layer_setattr(st, &lc, out->node, &sa);
	}
	if (r < 0) {
		lfs_close(out);
	}
	return r;
}

static int
lfs_create(struct nfs_call *c, struct nfs_obj *dir, const char *name,
    const struct nfs_new *nw, struct nfs_obj *out)
{
	const struct nfs3_sattr *s = nw->sattr;
	struct layer_stack *st = lfs_st(dir);
	struct layer_new ln = {
	    .type = nw->type,
	    .rdev = nw->rdev,
	    .target = nw->target,
	};
	struct layer_sattr sa = {
	    .atime = {0, UTIME_OMIT},
	    .mtime = {0, UTIME_OMIT},
	};
	struct layer_cred lc;
	int r;

	lfs_cred(c, &lc);
	switch (nw->type) {
	case S_IFREG:
		ln.mode = s->set_mode ? s->mode & 07777 : 0644;
		break;
	case S_IFDIR:
		ln.mode = s->set_mode ? s->mode & 07777 : 0755;
		break;
	case S_IFLNK:
		ln.mode = 0777;
		break;
	default:
		ln.mode = s->set_mode ? s->mode & 07777 : 0644;
		break;
	}
	if (nw->type == S_IFREG && nw->how == NFS3_EXCLUSIVE) {
		ln.mode = 0600;
		lfs_verf_times(nw->verf, &ln);
	}
	r = layer_create(st, &lc, dir->node, name, &ln, &out->node);
	if (r == -EEXIST && nw->type == S_IFREG) {
		return lfs_create_existing(c, dir, name, nw, &ln, out);
	}
	if (r < 0) {
		return r;
	}
	/* The owner and size asked for; EXCLUSIVE's come in a SETATTR. */
	if (nw->how != NFS3_EXCLUSIVE) {
		sa.set_uid = s->set_uid;
		sa.set_gid = s->set_gid;
		sa.uid = s->uid;
		sa.gid = s->gid;
		sa.set_size = nw->type == S_IFREG && s->set_size && s->size > 0;
		sa.size = s->size;
	}
	if (sa.set_uid || sa.set_gid || sa.set_size) {
		r = layer_setattr(st, &lc, out->node, &sa);
	}
	if (r < 0) {
		lfs_close(out);
	}
	return r;
}

static int
lfs_remove(
    struct nfs_call *c, struct nfs_obj *dir, const char *name, bool isdir)
{
	struct layer_cred lc;

	lfs_cred(c, &lc);
	return isdir ? layer_rmdir(lfs_st(dir), &lc, dir->node, name)
		     : layer_unlink(lfs_st(dir), &lc, dir->node, name);
}

static int
lfs_rename(struct nfs_call *c, struct nfs_obj *from, const char *fname,
    struct nfs_obj *to, const char *tname)
{
	struct layer_cred lc;

	lfs_cred(c, &lc);
	return layer_rename(
	    lfs_st(from), &lc, from->node, fname, to->node, tname);
}

static int
lfs_link(struct nfs_call *c, struct nfs_obj *o, struct nfs_obj *dir,
    const char *name)
{
	struct layer_cred lc;

	lfs_cred(c, &lc);
	return layer_link(lfs_st(o), &lc, o->node, dir->node, name);
}

static int
lfs_setattr(struct nfs_call *c, struct nfs_obj *o, const struct stat *cur,
    const struct nfs3_sattr *s)
{
	struct layer_sattr sa;
	struct layer_cred lc;

	(void)cur;
	lfs_cred(c, &lc);
	lfs_sattr(s, &sa);
	return layer_setattr(lfs_st(o), &lc, o->node, &sa);
}

static int
lfs_statfs(struct nfs_call *c, struct nfs_obj *o, struct statfs *out)
{
	(void)c;
	return fstatfs(o->e->stack->statfd, out) < 0 ? -errno : 0;
}

static int
lfs_mount(const struct nfs_exports *ex, struct nfs_export *e, const char *rest,
    struct nfs3_fh *out)
{
	struct nfs_call c = {.ex = ex};
	struct nfs_obj o = {.e = e, .fd = -1};
	int r = layer_lookup_path(e->stack->st, rest, &o.node);

	if (r == 0 && o.node->type != S_IFDIR) {
		r = -ENOTDIR;
	}
	if (r == 0) {
		r = lfs_handle(&c, &o, out);
	}
	lfs_close(&o);
	return r;
}

const struct nfs_fs nfs_fs_layer = {
    .open = lfs_open,
    .close = lfs_close,
    .handle = lfs_handle,
    .getattr = lfs_getattr,
    .lookup = lfs_lookup,
    .entry = lfs_entry,
    .open_data = lfs_open_data,
    .open_sync = lfs_open_sync,
    .readlink = lfs_readlink,
    .readdir = lfs_readdir,
    .cookie_verf = lfs_cookie_verf,
    .create = lfs_create,
    .remove = lfs_remove,
    .rename = lfs_rename,
    .link = lfs_link,
    .setattr = lfs_setattr,
    .statfs = lfs_statfs,
    .mount = lfs_mount,
};
