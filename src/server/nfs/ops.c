#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "proto/nfs3/nfs3.h"
#include "server/nfs/ops_internal.h"

/*
 * The call entry, the procedures that read, and what every procedure
 * uses: the caller's identity as the export maps it, attributes, and
 * handles resolved and checked against the export.  ops_change.c has
 * the procedures that change the tree.
 */

#define NFS_NOBODY 65534u

/* RPC accepted header: xid, type, reply_stat, verf flavor+len, stat. */
#define NFS_RPC_HDR 24

struct nfs_op {
	const char *name;
	void (*fn)(struct nfs_req *q);
	bool idempotent;
};

uint32_t
nfs_errno_stat(int err)
{
	switch (err) {
	case 0:
		return NFS3_OK;
	case EPERM:
		return NFS3ERR_PERM;
	case ENOENT:
		return NFS3ERR_NOENT;
	case ENXIO:
		return NFS3ERR_NXIO;
	case EACCES:
		return NFS3ERR_ACCES;
	case EEXIST:
		return NFS3ERR_EXIST;
	case EXDEV:
		return NFS3ERR_XDEV;
	case ENODEV:
		return NFS3ERR_NODEV;
	case ENOTDIR:
		return NFS3ERR_NOTDIR;
	case EISDIR:
		return NFS3ERR_ISDIR;
	case EINVAL:
		return NFS3ERR_INVAL;
	case EFBIG:
		return NFS3ERR_FBIG;
	case ENOSPC:
		return NFS3ERR_NOSPC;
	case EROFS:
		return NFS3ERR_ROFS;
	case EMLINK:
		return NFS3ERR_MLINK;
	case ENAMETOOLONG:
		return NFS3ERR_NAMETOOLONG;
	case ENOTEMPTY:
		return NFS3ERR_NOTEMPTY;
	case EDQUOT:
		return NFS3ERR_DQUOT;
	case ESTALE:
		return NFS3ERR_STALE;
	case EBADMSG:
		return NFS3ERR_BADHANDLE;
	case EOPNOTSUPP:
		return NFS3ERR_NOTSUPP;
	case ELOOP:
		/* A final symlink met O_NOFOLLOW: the name is not a file. */
		return NFS3ERR_INVAL;
	case EAGAIN:
	case ENOMEM:
		return NFS3ERR_JUKEBOX;
	default:
		return NFS3ERR_IO;
	}
}

/* --- the caller ---------------------------------------------------------- */

/*
 * The id a caller's AUTH_SYS id acts as.  (uid_t)-1 is no id to the
 * kernel: setfsuid(-1) and setfsgid(-1) change nothing, which would leave
 * the worker at fsuid 0, and setgroups() refuses it.  Like knfsd, which
 * maps every id make_kuid() rejects to the export's anonymous id
 * (nfsd_setuser), it acts as nobody.  With root_squash, 0 does too.
 */
static uint32_t
nfs_map_id(const struct nfs_export *e, uint32_t id)
{
	if (id == UINT32_MAX || (e->root_squash && id == 0)) {
		return NFS_NOBODY;
	}
	return id;
}

/* The caller as export @e maps it, once per call (its first handle). */
static void
nfs_map_cred(struct nfs_req *q, const struct nfs_export *e)
{
	struct nfs_cred *c = &q->call.cred;
	uint32_t i;

	if (q->mapped) {
		return;
	}
	q->mapped = true;
	c->uid = nfs_map_id(e, q->cred.uid);
	c->gid = nfs_map_id(e, q->cred.gid);
	c->ngids = q->cred.ngids;
	for (i = 0; i < q->cred.ngids; i++) {
		c->gids[i] = nfs_map_id(e, q->cred.gids[i]);
	}
}

/* --- attributes ---------------------------------------------------------- */

static uint32_t
nfs_ftype(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFDIR:
		return NF3DIR;
	case S_IFBLK:
		return NF3BLK;
	case S_IFCHR:
		return NF3CHR;
	case S_IFLNK:
		return NF3LNK;
	case S_IFSOCK:
		return NF3SOCK;
	case S_IFIFO:
		return NF3FIFO;
	default:
		return NF3REG;
	}
}

static void
nfs_fattr(
    const struct nfs_export *e, const struct stat *st, struct nfs3_fattr *a)
{
	a->type = nfs_ftype(st->st_mode);
	/* The 12 low bits, setuid, setgid and sticky included. */
	a->mode = st->st_mode & 07777;
	a->nlink = (uint32_t)st->st_nlink;
	a->uid = st->st_uid;
	a->gid = st->st_gid;
	a->size = (uint64_t)st->st_size;
	a->used = (uint64_t)st->st_blocks * 512;
	a->rdev_major = major(st->st_rdev);
	a->rdev_minor = minor(st->st_rdev);
	a->fsid = e->fsid;
	a->fileid = st->st_ino;
	a->atime = (struct nfs3_time){
	    (uint32_t)st->st_atim.tv_sec, (uint32_t)st->st_atim.tv_nsec};
	a->mtime = (struct nfs3_time){
	    (uint32_t)st->st_mtim.tv_sec, (uint32_t)st->st_mtim.tv_nsec};
	a->ctime = (struct nfs3_time){
	    (uint32_t)st->st_ctim.tv_sec, (uint32_t)st->st_ctim.tv_nsec};
}

int
nfs_getattr_obj(struct nfs_req *q, const struct nfs_obj *o, struct stat *st)
{
	return o->e->fs->getattr(&q->call, o, st);
}

void
nfs_post(struct nfs_req *q, const struct nfs_obj *o, struct nfs3_post_attr *p)
{
	struct stat st;

	p->present = nfs_getattr_obj(q, o, &st) == 0;
	if (p->present) {
		nfs_fattr(o->e, &st, &p->a);
	}
}

int
nfs_wcc_before(struct nfs_req *q, const struct nfs_obj *o, struct nfs3_wcc *w,
    struct stat *out)
{
	struct stat st;

	w->has_before = nfs_getattr_obj(q, o, &st) == 0;
	if (!w->has_before) {
		return -1;
	}
	w->before.size = (uint64_t)st.st_size;
	w->before.mtime = (struct nfs3_time){
	    (uint32_t)st.st_mtim.tv_sec, (uint32_t)st.st_mtim.tv_nsec};
	w->before.ctime = (struct nfs3_time){
	    (uint32_t)st.st_ctim.tv_sec, (uint32_t)st.st_ctim.tv_nsec};
	if (out) {
		*out = st;
	}
	return 0;
}

/* --- handles and names --------------------------------------------------- */

void
nfs_obj_init(struct nfs_obj *o, struct nfs_export *e)
{
	*o = (struct nfs_obj){.e = e, .fd = -1};
}

/* Release @o; one that resolved nothing is fine. */
void
nfs_obj_close(struct nfs_obj *o)
{
	if (o->e) {
		o->e->fs->close(o);
		o->e = NULL;
	}
}

/*
 * Resolve @fh into @o; on failure set the result status.  The export
 * must let the caller's address in, on every call and not only at MNT,
 * and from a reserved port unless it is "insecure": knfsd answers
 * NFS3ERR_PERM to such a call (fs/nfsd/nfsfh.c), so we do too.
 */
int
nfs_resolve(struct nfs_req *q, const struct nfs3_fh *fh, struct nfs_obj *o)
{
	struct nfs_export *e;
	struct nfs_fh_key k;
	int r = nfs_fh_unseal(q->ex, q->t, fh, &e, &k);

	nfs_obj_init(o, NULL);
	if (r == 0) {
		nfs_obj_init(o, e);
		r = e->fs->open(&q->call, &k, o);
	}
	if (r < 0) {
		nfs_obj_init(o, NULL);
		q->res.status = nfs_errno_stat(-r);
		return -1;
	}
	if (!nfs_export_allows(e, q->ctx->peer)) {
		nfs_obj_close(o);
		q->res.status = NFS3ERR_ACCES;
		return -1;
	}
	if (!nfs_export_port_ok(e, q->ctx->peer_port)) {
		nfs_obj_close(o);
		q->res.status = NFS3ERR_PERM;
		if (q->ctx->port_refused) {
			*q->ctx->port_refused = true;
		}
		return -1;
	}
	nfs_map_cred(q, e);
	return 0;
}

int
nfs_resolve_dir(struct nfs_req *q, const struct nfs3_fh *fh, struct nfs_obj *o)
{
	struct stat st;

	if (nfs_resolve(q, fh, o) < 0) {
		return -1;
	}
	/* The backend may know the type already; else it is a stat. */
	if (o->type) {
		st.st_mode = o->type;
	} else if (nfs_getattr_obj(q, o, &st) < 0) {
		st.st_mode = 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		nfs_obj_close(o);
		q->res.status = NFS3ERR_NOTDIR;
		return -1;
	}
	return 0;
}

/*
 * A name for a new or existing directory entry: not empty, no '/', no
 * NUL (the decoder refused those).  Like knfsd we answer NFS3ERR_ACCES.
 */
uint32_t
nfs_name_check(const char *name)
{
	if (name[0] == 0 || strchr(name, '/')) {
		return NFS3ERR_ACCES;
	}
	return NFS3_OK;
}

bool
nfs_is_dot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

/* Fill the handle and attributes of a new or found object. */
void
nfs_obj_res(struct nfs_req *q, const struct nfs_obj *o)
{
	q->res.has_fh = o->e->fs->handle(&q->call, o, &q->res.fh) == 0;
	nfs_post(q, o, &q->res.obj);
}

int
nfs_check_ro(struct nfs_req *q, const struct nfs_export *e)
{
	if (e->ro) {
		q->res.status = NFS3ERR_ROFS;
		return -1;
	}
	return 0;
}

/* --- procedures (RFC 1813 §3.3) ------------------------------------------ */

static void
nfs_null(struct nfs_req *q)
{
	(void)q;
}

static void
nfs_getattr(struct nfs_req *q)
{
	struct nfs_obj o;

	if (nfs_resolve(q, &q->args.fh, &o) < 0) {
		return;
	}
	nfs_post(q, &o, &q->res.obj);
	if (!q->res.obj.present) {
		q->res.status = NFS3ERR_STALE;
	}
	nfs_obj_close(&o);
}

static void
nfs_lookup(struct nfs_req *q)
{
	struct nfs_obj d, o;
	int r;

	if (nfs_resolve_dir(q, &q->args.where.dir, &d) < 0) {
		return;
	}
	q->res.status = nfs_name_check(q->args.where.name);
	if (q->res.status == NFS3_OK) {
		nfs_obj_init(&o, d.e);
		r = d.e->fs->lookup(&q->call, &d, q->args.where.name, &o);
		if (r < 0) {
			q->res.status = nfs_errno_stat(-r);
		} else {
			nfs_obj_res(q, &o);
			if (!q->res.has_fh) {
				q->res.status = NFS3ERR_ACCES;
			}
			nfs_obj_close(&o);
		}
	}
	nfs_post(q, &d, &q->res.dir);
	nfs_obj_close(&d);
}

/* The ACCESS bits the caller has, from the mode bits (RFC 1813 §3.3.4). */
static uint32_t
nfs_access_bits(
    const struct nfs_req *q, const struct nfs_export *e, const struct stat *st)
{
	const struct nfs_cred *c = &q->call.cred;
	uint32_t bits, out = 0, i;
	bool isdir = S_ISDIR(st->st_mode);
	bool ingroup = st->st_gid == c->gid;

	for (i = 0; i < c->ngids; i++) {
		ingroup = ingroup || c->gids[i] == st->st_gid;
	}
	if (c->uid == 0) {
		bits = 7;
		if (!isdir && !(st->st_mode & 0111)) {
			bits = 6;
		}
	} else if (c->uid == st->st_uid) {
		bits = (st->st_mode >> 6) & 7;
	} else if (ingroup) {
		bits = (st->st_mode >> 3) & 7;
	} else {
		bits = st->st_mode & 7;
	}
	if (bits & 4) {
		out |= NFS3_ACCESS_READ;
	}
	if (bits & 2) {
		out |= NFS3_ACCESS_MODIFY | NFS3_ACCESS_EXTEND;
		if (isdir) {
			out |= NFS3_ACCESS_DELETE;
		}
	}
	if (bits & 1) {
		out |= isdir ? NFS3_ACCESS_LOOKUP : NFS3_ACCESS_EXECUTE;
	}
	if (e->ro) {
		out &= ~(uint32_t)(NFS3_ACCESS_MODIFY | NFS3_ACCESS_EXTEND |
		    NFS3_ACCESS_DELETE);
	}
	return out;
}

static void
nfs_access(struct nfs_req *q)
{
	struct nfs_obj o;
	struct stat st;

	if (nfs_resolve(q, &q->args.fh, &o) < 0) {
		return;
	}
	if (nfs_getattr_obj(q, &o, &st) < 0) {
		q->res.status = NFS3ERR_STALE;
	} else {
		q->res.access = q->args.access & nfs_access_bits(q, o.e, &st);
		nfs_fattr(o.e, &st, &q->res.obj.a);
		q->res.obj.present = true;
	}
	nfs_obj_close(&o);
}

static void
nfs_readlink(struct nfs_req *q)
{
	struct nfs_obj o;
	char *buf;
	ssize_t n;

	if (nfs_resolve(q, &q->args.fh, &o) < 0) {
		return;
	}
	nfs_post(q, &o, &q->res.obj);
	if (!q->res.obj.present || q->res.obj.a.type != NF3LNK) {
		q->res.status = NFS3ERR_INVAL;
		goto out;
	}
	buf = malloc(NFS3_PATH_MAX + 1);
	if (!buf) {
		q->res.status = NFS3ERR_JUKEBOX;
		goto out;
	}
	q->scratch = buf;
	n = o.e->fs->readlink(&q->call, &o, buf, NFS3_PATH_MAX + 1);
	if (n < 0) {
		q->res.status = nfs_errno_stat((int)-n);
	} else if (n > NFS3_PATH_MAX) {
		q->res.status = NFS3ERR_NAMETOOLONG;
	} else {
		q->res.data = (const uint8_t *)buf;
		q->res.data_len = (size_t)n;
	}
out:
	nfs_obj_close(&o);
}

/* Largest READ the reply buffer and the transport can carry. */
static uint32_t
nfs_io_max(const struct nfs_req *q)
{
	size_t room = q->ctx->max_reply > 1024 ? q->ctx->max_reply - 1024 : 0;

	return room < NFS3_IO_MAX ? (uint32_t)room : NFS3_IO_MAX;
}

/*
 * Nothing but a regular file is ever opened for a client: a FIFO would
 * block the worker, a device node would run its driver's open.
 */
uint32_t
nfs_data_type(const struct stat *st)
{
	if (S_ISREG(st->st_mode)) {
		return NFS3_OK;
	}
	return S_ISDIR(st->st_mode) ? NFS3ERR_ISDIR : NFS3ERR_INVAL;
}

static void
nfs_read(struct nfs_req *q)
{
	struct nfs_obj o;
	struct stat st;
	uint32_t count = q->args.count;
	size_t at;
	ssize_t n;
	int rfd;

	if (nfs_resolve(q, &q->args.fh, &o) < 0) {
		return;
	}
	if (nfs_getattr_obj(q, &o, &st) < 0) {
		q->res.status = NFS3ERR_STALE;
		goto out;
	}
	q->res.status = nfs_data_type(&st);
	if (q->res.status != NFS3_OK) {
		nfs_post(q, &o, &q->res.obj);
		goto out;
	}
	rfd = o.e->fs->open_data(&q->call, &o, O_RDONLY);
	if (rfd < 0) {
		nfs_post(q, &o, &q->res.obj);
		q->res.status = nfs_errno_stat(-rfd);
		goto out;
	}
	if (count > nfs_io_max(q)) {
		count = nfs_io_max(q);
	}
	if (q->ctx->tail) {
		/*
		 * Zero copy: the data goes from the page cache to the socket
		 * with sendfile once the header is out.  The transport pads
		 * with zeros should the file shrink meanwhile.
		 */
		struct stat rst;
		uint64_t avail = 0;

		if (fstat(rfd, &rst) == 0 &&
		    (uint64_t)rst.st_size > q->args.offset) {
			avail = (uint64_t)rst.st_size - q->args.offset;
		}
		n = (ssize_t)(avail < count ? avail : count);
		q->res.data = NULL;
		q->res.data_len = (size_t)n;
		q->res.count = (uint32_t)n;
		nfs_post(q, &o, &q->res.obj);
		q->res.obj.present = true;
		q->res.eof = q->args.offset + (uint64_t)n >= q->res.obj.a.size;
		*q->ctx->tail = (struct nfs_file_tail){
		    .fd = n > 0 ? rfd : -1,
		    .off = q->args.offset,
		    .len = (size_t)n,
		    .pad = (4 - ((size_t)n & 3)) & 3,
		};
		if (n == 0) {
			close(rfd);
		}
		goto out;
	}
	/*
	 * Read straight into the reply: status, post_op_attr (present),
	 * count, eof and the opaque length come first.
	 */
	at = q->w->off + 4 + 4 + 84 + 4 + 4 + 4;
	if (count > q->w->cap - at) {
		count = (uint32_t)(q->w->cap - at);
	}
	n = count ? pread(rfd, q->w->p + at, count, (off_t)q->args.offset) : 0;
	if (n < 0) {
		q->res.status = nfs_errno_stat(errno);
		nfs_post(q, &o, &q->res.obj);
	} else {
		q->res.data = NULL; /* in place */
		q->res.data_len = (size_t)n;
		q->res.count = (uint32_t)n;
		nfs_post(q, &o, &q->res.obj);
		q->res.obj.present = true;
		q->res.eof = q->args.offset + (uint64_t)n >= q->res.obj.a.size;
	}
	close(rfd);
out:
	nfs_obj_close(&o);
}

/*
 * Entries in one READDIRPLUS reply at most.  Each costs a lookup and a
 * stat, so this bounds how long one call of a few bytes holds a worker
 * (a 1 MiB reply could list 6,000 entries); a client goes on from the
 * last cookie, and a directory of up to this many entries still ends in
 * one reply.
 */
#define NFS_READDIRPLUS_ENTRIES 1024

/* A listing being put into a READDIR or READDIRPLUS reply. */
struct nfs_listing {
	struct nfs_req *q;
	struct nfs_obj *dir;
	bool plus;
	struct nfs3_dirent *ents; /* maxents */
	size_t n, maxents;
	size_t used, limit, dirused, dirlimit;
	char *names; /* copies of the names, namecap bytes */
	size_t nameoff, namecap;
};

/*
 * The attributes and handle of a READDIRPLUS entry, both from one
 * resolved object: resolving the name once for each let a rename in
 * between pair one object's handle with another's attributes.  A mount
 * point is not crossed (no attributes, no handle), as in LOOKUP.
 */
static void
nfs_readdir_entry(struct nfs_listing *l, struct nfs3_dirent *de)
{
	struct nfs_req *q = l->q;
	const struct nfs_fs *fs = l->dir->e->fs;
	struct nfs_obj o;
	struct stat st;

	nfs_obj_init(&o, l->dir->e);
	if (fs->entry(&q->call, l->dir, de->name, &o, &st) < 0) {
		return;
	}
	nfs_fattr(o.e, &st, &de->attr.a);
	de->attr.present = true;
	de->has_fh = fs->handle(&q->call, &o, &de->fh) == 0;
	fs->close(&o);
}

static int
nfs_listing_add(void *arg, const struct nfs_fs_dirent *d)
{
	struct nfs_listing *l = arg;
	struct nfs3_dirent *de;
	size_t sz, dsz;

	if (l->n == l->maxents || d->namelen + 1 > l->namecap - l->nameoff) {
		return 1;
	}
	de = &l->ents[l->n];
	*de = (struct nfs3_dirent){
	    .fileid = d->fileid,
	    .name = l->names + l->nameoff,
	    .namelen = d->namelen,
	    .cookie = d->cookie,
	};
	memcpy(l->names + l->nameoff, d->name, d->namelen + 1);
	if (l->plus && !nfs_is_dot(de->name)) {
		nfs_readdir_entry(l, de);
	}
	sz = nfs3_entry_size(l->plus, de, &dsz);
	if (l->used + sz > l->limit || l->dirused + dsz > l->dirlimit) {
		return 1;
	}
	l->used += sz;
	l->dirused += dsz;
	l->nameoff += d->namelen + 1;
	l->n++;
	return 0;
}

static void
nfs_readdir_common(struct nfs_req *q, bool plus)
{
	static const uint8_t zero_verf[NFS3_VERF_SIZE];
	uint8_t verf[NFS3_VERF_SIZE];
	struct nfs_listing l = {.q = q, .plus = plus};
	struct nfs_obj d;
	int r;

	if (nfs_resolve_dir(q, &q->args.fh, &d) < 0) {
		return;
	}
	l.dir = &d;
	nfs_post(q, &d, &q->res.obj);
	d.e->fs->cookie_verf(&q->call, &d, verf);
	if (q->args.cookie != 0 &&
	    memcmp(q->args.verf, zero_verf, NFS3_VERF_SIZE) != 0 &&
	    memcmp(q->args.verf, verf, NFS3_VERF_SIZE) != 0) {
		q->res.status = NFS3ERR_BAD_COOKIE;
		goto out;
	}
	memcpy(q->res.verf, verf, NFS3_VERF_SIZE);
	l.limit = plus ? q->args.maxcount : q->args.count;
	l.dirlimit = q->args.count;
	if (l.limit > q->w->cap - q->w->off) {
		l.limit = q->w->cap - q->w->off;
	}
	l.used = NFS3_READDIR_HDR;
	if (l.limit < l.used + 64) {
		q->res.status = NFS3ERR_TOOSMALL;
		goto out;
	}
	l.maxents = l.limit / 24 + 1;
	if (plus && l.maxents > NFS_READDIRPLUS_ENTRIES) {
		l.maxents = NFS_READDIRPLUS_ENTRIES;
	}
	/* Each name costs at least its length in the reply and in count. */
	l.namecap =
	    (l.limit < l.dirlimit ? l.limit : l.dirlimit) + NFS3_NAME_MAX + 1;
	l.ents = calloc(l.maxents, sizeof(*l.ents));
	l.names = malloc(l.namecap);
	q->scratch = l.ents;
	q->scratch2 = l.names;
	if (!l.ents || !l.names) {
		q->res.status = NFS3ERR_JUKEBOX;
		goto out;
	}
	r = d.e->fs->readdir(&q->call, &d, q->args.cookie, nfs_listing_add, &l);
	if (r < 0) {
		q->res.status =
		    r == -EINVAL ? NFS3ERR_BAD_COOKIE : nfs_errno_stat(-r);
		goto out;
	}
	if (l.n == 0 && r == 0) {
		q->res.status = NFS3ERR_TOOSMALL;
		goto out;
	}
	q->res.entries = l.ents;
	q->res.nentries = l.n;
	q->res.eof = r == 1;
out:
	nfs_obj_close(&d);
}

static void
nfs_readdir(struct nfs_req *q)
{
	nfs_readdir_common(q, false);
}

static void
nfs_readdirplus(struct nfs_req *q)
{
	nfs_readdir_common(q, true);
}

static void
nfs_fsstat(struct nfs_req *q)
{
	struct nfs_obj o;
	struct statfs sf;
	int r;

	if (nfs_resolve(q, &q->args.fh, &o) < 0) {
		return;
	}
	nfs_post(q, &o, &q->res.obj);
	r = o.e->fs->statfs(&q->call, &o, &sf);
	if (r < 0) {
		q->res.status = nfs_errno_stat(-r);
	} else {
		q->res.fsstat = (struct nfs3_fsstat){
		    .tbytes = (uint64_t)sf.f_blocks * (uint64_t)sf.f_bsize,
		    .fbytes = (uint64_t)sf.f_bfree * (uint64_t)sf.f_bsize,
		    .abytes = (uint64_t)sf.f_bavail * (uint64_t)sf.f_bsize,
		    .tfiles = sf.f_files,
		    .ffiles = sf.f_ffree,
		    .afiles = sf.f_ffree,
		    .invarsec = 0,
		};
	}
	nfs_obj_close(&o);
}

static void
nfs_fsinfo(struct nfs_req *q)
{
	struct nfs_obj o;
	uint32_t io = nfs_io_max(q);

	if (nfs_resolve(q, &q->args.fh, &o) < 0) {
		return;
	}
	nfs_post(q, &o, &q->res.obj);
	/* Values from the reference §4.5, as knfsd sends them. */
	q->res.fsinfo = (struct nfs3_fsinfo){
	    .rtmax = io,
	    .rtpref = io,
	    .rtmult = 4096,
	    .wtmax = io,
	    .wtpref = io,
	    .wtmult = 4096,
	    .dtpref = 65536,
	    .maxfilesize = 0x7fffffffffffffffull,
	    .time_delta = {0, 1},
	    .properties = NFS3_FSF_LINK | NFS3_FSF_SYMLINK |
		NFS3_FSF_HOMOGENEOUS | NFS3_FSF_CANSETTIME,
	};
	nfs_obj_close(&o);
}

static void
nfs_pathconf(struct nfs_req *q)
{
	struct nfs_obj o;

	if (nfs_resolve(q, &q->args.fh, &o) < 0) {
		return;
	}
	nfs_post(q, &o, &q->res.obj);
	q->res.pathconf = (struct nfs3_pathconf){
	    .linkmax = 65000,
	    .name_max = NFS3_NAME_MAX,
	    .no_trunc = true,
	    .chown_restricted = true,
	    .case_insensitive = false,
	    .case_preserving = true,
	};
	nfs_obj_close(&o);
}

static const struct nfs_op nfs_ops[NFS3_NPROC] = {
    [NFS3_PROC_NULL] = {"NULL", nfs_null, true},
    [NFS3_PROC_GETATTR] = {"GETATTR", nfs_getattr, true},
    [NFS3_PROC_SETATTR] = {"SETATTR", nfs_proc_setattr, false},
    [NFS3_PROC_LOOKUP] = {"LOOKUP", nfs_lookup, true},
    [NFS3_PROC_ACCESS] = {"ACCESS", nfs_access, true},
    [NFS3_PROC_READLINK] = {"READLINK", nfs_readlink, true},
    [NFS3_PROC_READ] = {"READ", nfs_read, true},
    [NFS3_PROC_WRITE] = {"WRITE", nfs_proc_write, true},
    [NFS3_PROC_CREATE] = {"CREATE", nfs_proc_create, false},
    [NFS3_PROC_MKDIR] = {"MKDIR", nfs_proc_mkdir, false},
    [NFS3_PROC_SYMLINK] = {"SYMLINK", nfs_proc_symlink, false},
    [NFS3_PROC_MKNOD] = {"MKNOD", nfs_proc_mknod, false},
    [NFS3_PROC_REMOVE] = {"REMOVE", nfs_proc_remove, false},
    [NFS3_PROC_RMDIR] = {"RMDIR", nfs_proc_rmdir, false},
    [NFS3_PROC_RENAME] = {"RENAME", nfs_proc_rename, false},
    [NFS3_PROC_LINK] = {"LINK", nfs_proc_link, false},
    [NFS3_PROC_READDIR] = {"READDIR", nfs_readdir, true},
    [NFS3_PROC_READDIRPLUS] = {"READDIRPLUS", nfs_readdirplus, true},
    [NFS3_PROC_FSSTAT] = {"FSSTAT", nfs_fsstat, true},
    [NFS3_PROC_FSINFO] = {"FSINFO", nfs_fsinfo, true},
    [NFS3_PROC_PATHCONF] = {"PATHCONF", nfs_pathconf, true},
    [NFS3_PROC_COMMIT] = {"COMMIT", nfs_proc_commit, true},
};

const char *
nfs_proc_name(uint32_t proc)
{
	return proc < NFS3_NPROC ? nfs_ops[proc].name : "?";
}

bool
nfs_proc_is_idempotent(uint32_t proc)
{
	return proc >= NFS3_NPROC || nfs_ops[proc].idempotent;
}

/* How big the reply of this call can get. */
static size_t
nfs_reply_cap(const struct nfs_op_ctx *ctx, const struct nfs3_args *a)
{
	size_t cap = 1024, want;

	switch (a->proc) {
	case NFS3_PROC_READ:
		if (!ctx->tail) {
			cap += a->count < NFS3_IO_MAX ? a->count : NFS3_IO_MAX;
		}
		break;
	case NFS3_PROC_READLINK:
		cap += NFS3_PATH_MAX;
		break;
	case NFS3_PROC_READDIR:
	case NFS3_PROC_READDIRPLUS:
		want = a->proc == NFS3_PROC_READDIR ? a->count : a->maxcount;
		cap += want < NFS3_IO_MAX ? want : NFS3_IO_MAX;
		break;
	default:
		break;
	}
	if (cap > ctx->max_reply) {
		cap = ctx->max_reply;
	}
	return cap + ctx->headroom;
}

static uint8_t *
nfs_reply_small(const struct nfs_op_ctx *ctx, uint32_t xid, int kind,
    uint32_t arg, size_t *len)
{
	uint8_t *p = calloc(1, ctx->headroom + 64);
	struct wcur w;

	if (!p) {
		return NULL;
	}
	w = wcur_init(p, ctx->headroom + 64);
	wcur_zero(&w, ctx->headroom);
	if (kind == 0) {
		rpc_reply_build(&w, xid, arg, NFS3_VERS, NFS3_VERS);
	} else {
		rpc_reply_build_auth_error(&w, xid, arg);
	}
	*len = w.off;
	return p;
}

uint8_t *
nfs_ops_call(struct nfs_exports *ex, const struct nfs_op_ctx *ctx,
    const struct rpc_call *call, size_t *len, int *status)
{
	struct nfs_req *q;
	struct wcur w;
	uint8_t *p = NULL;
	size_t cap;
	int r;

	if (status) {
		*status = -1;
	}
	if (call->prog != NFS3_PROG) {
		return nfs_reply_small(
		    ctx, call->xid, 0, RPC_PROG_UNAVAIL, len);
	}
	if (call->vers != NFS3_VERS) {
		return nfs_reply_small(
		    ctx, call->xid, 0, RPC_PROG_MISMATCH, len);
	}
	if (call->proc >= NFS3_NPROC) {
		return nfs_reply_small(
		    ctx, call->xid, 0, RPC_PROC_UNAVAIL, len);
	}
	if (ctx->tail) {
		ctx->tail->fd = -1;
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		return NULL;
	}
	q->ex = ex;
	q->ctx = ctx;
	q->call.ex = ex;
	if (call->cred.flavor == RPC_AUTH_SYS) {
		if (rpc_auth_sys_parse(
			call->cred.body, call->cred.len, &q->cred) < 0) {
			p = nfs_reply_small(
			    ctx, call->xid, 1, RPC_AUTH_BADCRED, len);
			goto out;
		}
	} else if (call->cred.flavor == RPC_AUTH_NONE) {
		q->cred.uid = NFS_NOBODY;
		q->cred.gid = NFS_NOBODY;
	} else {
		p = nfs_reply_small(ctx, call->xid, 1, RPC_AUTH_TOOWEAK, len);
		goto out;
	}
	r = nfs3_args_parse(call->proc, call->args, call->args_len, &q->args);
	if (r < 0 && !(r == -EMSGSIZE && nfs3_proc_has_name(call->proc))) {
		p = nfs_reply_small(ctx, call->xid, 0, RPC_GARBAGE_ARGS, len);
		goto out;
	}
	cap = nfs_reply_cap(ctx, &q->args);
	p = malloc(cap);
	if (!p) {
		goto out;
	}
	w = wcur_init(p, cap);
	wcur_zero(&w, ctx->headroom);
	rpc_reply_build(&w, call->xid, RPC_SUCCESS, 0, 0);
	q->w = &w;
	if (r == -EMSGSIZE) {
		/* RFC 1813: a name over NFS3_NAME_MAX is NAMETOOLONG. */
		q->res.status = NFS3ERR_NAMETOOLONG;
	} else {
		q->t = nfs_exports_get(ex);
		nfs_ops[call->proc].fn(q);
		nfs_creds_leave(&q->call);
		nfs_exports_put(q->t);
	}
	if (call->proc == NFS3_PROC_READ && q->res.status != NFS3_OK) {
		q->res.data_len = 0;
	}
	r = nfs3_res_build(call->proc, &q->res, &w);
	if (r == 0 && call->proc == NFS3_PROC_READ && !q->res.data &&
	    q->res.data_len > 0 && !ctx->tail) {
		/* pread() put the data right here; add its padding. */
		wcur_reserve(&w, q->res.data_len);
		wcur_zero(&w, (4 - (q->res.data_len & 3)) & 3);
		r = w.err;
	}
	if (r < 0) {
		/* Cannot happen with cap sized above; fail loudly but safely.
		 */
		if (ctx->tail && ctx->tail->fd >= 0) {
			close(ctx->tail->fd);
			ctx->tail->fd = -1;
		}
		w = wcur_init(p, cap);
		wcur_zero(&w, ctx->headroom);
		rpc_reply_build(&w, call->xid, RPC_SYSTEM_ERR, 0, 0);
	}
	if (status) {
		*status = (int)q->res.status;
	}
	*len = w.off;
out:
	free(q->scratch);
	free(q->scratch2);
	free(q);
	return p;
}
