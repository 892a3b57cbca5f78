#include <errno.h>
#include <string.h>

#include "proto/nfs3/nfs3.h"
#include "proto/rpc/rpc.h"

/* --- decoding ------------------------------------------------------------ */

static void
nfs3_get_fh(struct cur *c, struct nfs3_fh *fh)
{
	size_t n;
	const uint8_t *p = rpc_get_opaque(c, NFS3_FH_MAX, &n);

	fh->len = 0;
	if (p) {
		memcpy(fh->data, p, n);
		fh->len = (uint32_t)n;
	}
}

static void
nfs3_get_time(struct cur *c, struct nfs3_time *t)
{
	t->sec = cur_be32(c);
	t->nsec = cur_be32(c);
}

static uint32_t
nfs3_get_time_how(struct cur *c, struct nfs3_time *t)
{
	uint32_t how = cur_be32(c);

	if (how == NFS3_SET_TO_CLIENT_TIME) {
		nfs3_get_time(c, t);
	} else if (how > NFS3_SET_TO_CLIENT_TIME) {
		cur_fail(c, -EBADMSG);
	}
	return how;
}

static void
nfs3_get_sattr(struct cur *c, struct nfs3_sattr *s)
{
	s->set_mode = rpc_get_bool(c);
	if (s->set_mode) {
		s->mode = cur_be32(c);
	}
	s->set_uid = rpc_get_bool(c);
	if (s->set_uid) {
		s->uid = cur_be32(c);
	}
	s->set_gid = rpc_get_bool(c);
	if (s->set_gid) {
		s->gid = cur_be32(c);
	}
	s->set_size = rpc_get_bool(c);
	if (s->set_size) {
		s->size = cur_be64(c);
	}
	s->set_atime = nfs3_get_time_how(c, &s->atime);
	s->set_mtime = nfs3_get_time_how(c, &s->mtime);
}

static void
nfs3_get_name(struct cur *c, char *dst)
{
	rpc_get_string(c, NFS3_NAME_MAX, dst, NFS3_NAME_MAX + 1);
}

static void
nfs3_get_diropargs(struct cur *c, struct nfs3_diropargs *d)
{
	nfs3_get_fh(c, &d->dir);
	nfs3_get_name(c, d->name);
}

bool
nfs3_proc_has_name(uint32_t proc)
{
	switch (proc) {
	case NFS3_PROC_LOOKUP:
	case NFS3_PROC_CREATE:
	case NFS3_PROC_MKDIR:
	case NFS3_PROC_SYMLINK:
	case NFS3_PROC_MKNOD:
	case NFS3_PROC_REMOVE:
	case NFS3_PROC_RMDIR:
	case NFS3_PROC_RENAME:
	case NFS3_PROC_LINK:
		return true;
	default:
		return false;
	}
}

int
nfs3_args_parse(
    uint32_t proc, const uint8_t *buf, size_t len, struct nfs3_args *out)
{
	struct cur c = cur_init(buf, len);

	memset(out, 0, sizeof(*out));
	out->proc = proc;
	switch (proc) {
	case NFS3_PROC_NULL:
		break;
	case NFS3_PROC_GETATTR:
	case NFS3_PROC_READLINK:
	case NFS3_PROC_FSSTAT:
	case NFS3_PROC_FSINFO:
	case NFS3_PROC_PATHCONF:
		nfs3_get_fh(&c, &out->fh);
		break;
	case NFS3_PROC_SETATTR:
		nfs3_get_fh(&c, &out->fh);
		nfs3_get_sattr(&c, &out->sattr);
		out->guard_check = rpc_get_bool(&c);
		if (out->guard_check) {
			nfs3_get_time(&c, &out->guard_ctime);
		}
		break;
	case NFS3_PROC_LOOKUP:
	case NFS3_PROC_REMOVE:
	case NFS3_PROC_RMDIR:
		nfs3_get_diropargs(&c, &out->where);
		break;
	case NFS3_PROC_ACCESS:
		nfs3_get_fh(&c, &out->fh);
		out->access = cur_be32(&c);
		break;
	case NFS3_PROC_READ:
	case NFS3_PROC_COMMIT:
		nfs3_get_fh(&c, &out->fh);
		out->offset = cur_be64(&c);
		out->count = cur_be32(&c);
		break;
	case NFS3_PROC_WRITE:
		nfs3_get_fh(&c, &out->fh);
		out->offset = cur_be64(&c);
		out->count = cur_be32(&c);
		out->stable = cur_be32(&c);
		if (!c.err && out->stable > NFS3_FILE_SYNC) {
			cur_fail(&c, -EBADMSG);
		}
		out->data = rpc_get_opaque(&c, NFS3_IO_MAX, &out->data_len);
		/* knfsd refuses a count that disagrees with the data too. */
		if (!c.err && out->count != out->data_len) {
			cur_fail(&c, -EBADMSG);
		}
		break;
	case NFS3_PROC_CREATE:
		nfs3_get_diropargs(&c, &out->where);
		out->createmode = cur_be32(&c);
		if (out->createmode == NFS3_EXCLUSIVE) {
			cur_copy(&c, out->verf, NFS3_VERF_SIZE);
		} else if (out->createmode <= NFS3_GUARDED) {
			nfs3_get_sattr(&c, &out->sattr);
		} else {
			cur_fail(&c, -EBADMSG);
		}
		break;
	case NFS3_PROC_MKDIR:
		nfs3_get_diropargs(&c, &out->where);
		nfs3_get_sattr(&c, &out->sattr);
		break;
	case NFS3_PROC_SYMLINK:
		nfs3_get_diropargs(&c, &out->where);
		nfs3_get_sattr(&c, &out->sattr);
		rpc_get_string(&c, NFS3_PATH_MAX, out->path, sizeof(out->path));
		break;
	case NFS3_PROC_MKNOD:
		nfs3_get_diropargs(&c, &out->where);
		out->ftype = cur_be32(&c);
		if (out->ftype == NF3CHR || out->ftype == NF3BLK) {
			nfs3_get_sattr(&c, &out->sattr);
			out->rdev_major = cur_be32(&c);
			out->rdev_minor = cur_be32(&c);
		} else if (out->ftype == NF3SOCK || out->ftype == NF3FIFO) {
			nfs3_get_sattr(&c, &out->sattr);
		} else if (out->ftype < NF3REG || out->ftype > NF3FIFO) {
			cur_fail(&c, -EBADMSG);
		}
		/* REG, DIR, LNK carry no more data; the server says BADTYPE. */
		break;
	case NFS3_PROC_RENAME:
		nfs3_get_diropargs(&c, &out->where);
		nfs3_get_diropargs(&c, &out->to);
		break;
	case NFS3_PROC_LINK:
		nfs3_get_fh(&c, &out->fh);
		nfs3_get_diropargs(&c, &out->where);
		break;
	case NFS3_PROC_READDIR:
		nfs3_get_fh(&c, &out->fh);
		out->cookie = cur_be64(&c);
		cur_copy(&c, out->verf, NFS3_VERF_SIZE);
		out->count = cur_be32(&c);
		break;
	case NFS3_PROC_READDIRPLUS:
		nfs3_get_fh(&c, &out->fh);
		out->cookie = cur_be64(&c);
		cur_copy(&c, out->verf, NFS3_VERF_SIZE);
		out->count = cur_be32(&c);
		out->maxcount = cur_be32(&c);
		break;
	default:
		return -EOPNOTSUPP;
	}
	return cur_end(&c, false);
}

/* --- encoding ------------------------------------------------------------ */

static void
nfs3_put_fh(struct wcur *w, const struct nfs3_fh *fh)
{
	if (fh->len > NFS3_FH_MAX) {
		w->err = w->err ? w->err : -EMSGSIZE;
		return;
	}
	rpc_put_opaque(w, fh->data, fh->len);
}

static void
nfs3_put_time(struct wcur *w, const struct nfs3_time *t)
{
	wcur_be32(w, t->sec);
	wcur_be32(w, t->nsec);
}

static void
nfs3_put_sattr(struct wcur *w, const struct nfs3_sattr *s)
{
	wcur_be32(w, s->set_mode);
	if (s->set_mode) {
		wcur_be32(w, s->mode);
	}
	wcur_be32(w, s->set_uid);
	if (s->set_uid) {
		wcur_be32(w, s->uid);
	}
	wcur_be32(w, s->set_gid);
	if (s->set_gid) {
		wcur_be32(w, s->gid);
	}
	wcur_be32(w, s->set_size);
	if (s->set_size) {
		wcur_be64(w, s->size);
	}
	wcur_be32(w, s->set_atime);
	if (s->set_atime == NFS3_SET_TO_CLIENT_TIME) {
		nfs3_put_time(w, &s->atime);
	}
	wcur_be32(w, s->set_mtime);
	if (s->set_mtime == NFS3_SET_TO_CLIENT_TIME) {
		nfs3_put_time(w, &s->mtime);
	}
}

static void
nfs3_put_diropargs(struct wcur *w, const struct nfs3_diropargs *d)
{
	nfs3_put_fh(w, &d->dir);
	rpc_put_string(w, d->name);
}

int
nfs3_args_build(struct wcur *w, const struct nfs3_args *a)
{
	switch (a->proc) {
	case NFS3_PROC_NULL:
		break;
	case NFS3_PROC_GETATTR:
	case NFS3_PROC_READLINK:
	case NFS3_PROC_FSSTAT:
	case NFS3_PROC_FSINFO:
	case NFS3_PROC_PATHCONF:
		nfs3_put_fh(w, &a->fh);
		break;
	case NFS3_PROC_SETATTR:
		nfs3_put_fh(w, &a->fh);
		nfs3_put_sattr(w, &a->sattr);
		wcur_be32(w, a->guard_check);
		if (a->guard_check) {
			nfs3_put_time(w, &a->guard_ctime);
		}
		break;
	case NFS3_PROC_LOOKUP:
	case NFS3_PROC_REMOVE:
	case NFS3_PROC_RMDIR:
		nfs3_put_diropargs(w, &a->where);
		break;
	case NFS3_PROC_ACCESS:
		nfs3_put_fh(w, &a->fh);
		wcur_be32(w, a->access);
		break;
	case NFS3_PROC_READ:
	case NFS3_PROC_COMMIT:
		nfs3_put_fh(w, &a->fh);
		wcur_be64(w, a->offset);
		wcur_be32(w, a->count);
		break;
	case NFS3_PROC_WRITE:
		nfs3_put_fh(w, &a->fh);
		wcur_be64(w, a->offset);
		wcur_be32(w, (uint32_t)a->data_len);
		wcur_be32(w, a->stable);
		rpc_put_opaque(w, a->data, a->data_len);
		break;
	case NFS3_PROC_CREATE:
		nfs3_put_diropargs(w, &a->where);
		wcur_be32(w, a->createmode);
		if (a->createmode == NFS3_EXCLUSIVE) {
			wcur_bytes(w, a->verf, NFS3_VERF_SIZE);
		} else {
			nfs3_put_sattr(w, &a->sattr);
		}
		break;
	case NFS3_PROC_MKDIR:
		nfs3_put_diropargs(w, &a->where);
		nfs3_put_sattr(w, &a->sattr);
		break;
	case NFS3_PROC_SYMLINK:
		nfs3_put_diropargs(w, &a->where);
		nfs3_put_sattr(w, &a->sattr);
		rpc_put_string(w, a->path);
		break;
	case NFS3_PROC_MKNOD:
		nfs3_put_diropargs(w, &a->where);
		wcur_be32(w, a->ftype);
		if (a->ftype == NF3CHR || a->ftype == NF3BLK) {
			nfs3_put_sattr(w, &a->sattr);
			wcur_be32(w, a->rdev_major);
			wcur_be32(w, a->rdev_minor);
		} else if (a->ftype == NF3SOCK || a->ftype == NF3FIFO) {
			nfs3_put_sattr(w, &a->sattr);
		}
		break;
	case NFS3_PROC_RENAME:
		nfs3_put_diropargs(w, &a->where);
		nfs3_put_diropargs(w, &a->to);
		break;
	case NFS3_PROC_LINK:
		nfs3_put_fh(w, &a->fh);
		nfs3_put_diropargs(w, &a->where);
		break;
	case NFS3_PROC_READDIR:
		nfs3_put_fh(w, &a->fh);
		wcur_be64(w, a->cookie);
		wcur_bytes(w, a->verf, NFS3_VERF_SIZE);
		wcur_be32(w, a->count);
		break;
	case NFS3_PROC_READDIRPLUS:
		nfs3_put_fh(w, &a->fh);
		wcur_be64(w, a->cookie);
		wcur_bytes(w, a->verf, NFS3_VERF_SIZE);
		wcur_be32(w, a->count);
		wcur_be32(w, a->maxcount);
		break;
	default:
		return -EOPNOTSUPP;
	}
	return w->err;
}

static void
nfs3_put_fattr(struct wcur *w, const struct nfs3_fattr *a)
{
	wcur_be32(w, a->type);
	wcur_be32(w, a->mode);
	wcur_be32(w, a->nlink);
	wcur_be32(w, a->uid);
	wcur_be32(w, a->gid);
	wcur_be64(w, a->size);
	wcur_be64(w, a->used);
	wcur_be32(w, a->rdev_major);
	wcur_be32(w, a->rdev_minor);
	wcur_be64(w, a->fsid);
	wcur_be64(w, a->fileid);
	nfs3_put_time(w, &a->atime);
	nfs3_put_time(w, &a->mtime);
	nfs3_put_time(w, &a->ctime);
}

static void
nfs3_put_post_attr(struct wcur *w, const struct nfs3_post_attr *p)
{
	wcur_be32(w, p->present);
	if (p->present) {
		nfs3_put_fattr(w, &p->a);
	}
}

static void
nfs3_put_wcc(struct wcur *w, const struct nfs3_wcc *c)
{
	wcur_be32(w, c->has_before);
	if (c->has_before) {
		wcur_be64(w, c->before.size);
		nfs3_put_time(w, &c->before.mtime);
		nfs3_put_time(w, &c->before.ctime);
	}
	nfs3_put_post_attr(w, &c->after);
}

static void
nfs3_put_post_fh(struct wcur *w, const struct nfs3_res *r)
{
	wcur_be32(w, r->has_fh);
	if (r->has_fh) {
		nfs3_put_fh(w, &r->fh);
	}
}

size_t
nfs3_entry_size(bool plus, const struct nfs3_dirent *e, size_t *dirbytes)
{
	/* value_follows, fileid, name<>, cookie */
	size_t n = 4 + 8 + 4 + ((e->namelen + 3) & ~(size_t)3) + 8;

	*dirbytes = n;
	if (plus) {
		n += 4 + (e->attr.present ? 84 : 0);
		n += 4 + (e->has_fh ? 4 + ((e->fh.len + 3) & ~3u) : 0);
	}
	return n;
}

static void
nfs3_put_entries(struct wcur *w, bool plus, const struct nfs3_res *r)
{
	size_t i;

	wcur_bytes(w, r->verf, NFS3_VERF_SIZE);
	for (i = 0; i < r->nentries; i++) {
		const struct nfs3_dirent *e = &r->entries[i];

		wcur_be32(w, 1);
		wcur_be64(w, e->fileid);
		rpc_put_opaque(w, e->name, e->namelen);
		wcur_be64(w, e->cookie);
		if (plus) {
			nfs3_put_post_attr(w, &e->attr);
			wcur_be32(w, e->has_fh);
			if (e->has_fh) {
				nfs3_put_fh(w, &e->fh);
			}
		}
	}
	wcur_be32(w, 0);
	wcur_be32(w, r->eof);
}

int
nfs3_res_build(uint32_t proc, const struct nfs3_res *r, struct wcur *w)
{
	bool ok = r->status == NFS3_OK;

	if (proc == NFS3_PROC_NULL) {
		return w->err;
	}
	if (proc >= NFS3_NPROC) {
		return -EOPNOTSUPP;
	}
	wcur_be32(w, r->status);
	switch (proc) {
	case NFS3_PROC_GETATTR:
		if (ok) {
			nfs3_put_fattr(w, &r->obj.a);
		}
		break;
	case NFS3_PROC_SETATTR:
	case NFS3_PROC_REMOVE:
	case NFS3_PROC_RMDIR:
		nfs3_put_wcc(w, &r->wcc);
		break;
	case NFS3_PROC_LOOKUP:
		if (ok) {
			nfs3_put_fh(w, &r->fh);
			nfs3_put_post_attr(w, &r->obj);
		}
		nfs3_put_post_attr(w, &r->dir);
		break;
	case NFS3_PROC_ACCESS:
		nfs3_put_post_attr(w, &r->obj);
		if (ok) {
			wcur_be32(w, r->access);
		}
		break;
	case NFS3_PROC_READLINK:
		nfs3_put_post_attr(w, &r->obj);
		if (ok) {
			rpc_put_opaque(w, r->data, r->data_len);
		}
		break;
	case NFS3_PROC_READ:
		nfs3_put_post_attr(w, &r->obj);
		if (ok) {
			wcur_be32(w, (uint32_t)r->data_len);
			wcur_be32(w, r->eof);
			if (r->data || r->data_len == 0) {
				rpc_put_opaque(w, r->data, r->data_len);
			} else {
				/* The caller already read the data in place. */
				wcur_be32(w, (uint32_t)r->data_len);
				wcur_reserve(w, r->data_len);
				wcur_zero(w, (4 - (r->data_len & 3)) & 3);
			}
		}
		break;
	case NFS3_PROC_WRITE:
		nfs3_put_wcc(w, &r->wcc);
		if (ok) {
			wcur_be32(w, r->count);
			wcur_be32(w, r->committed);
			wcur_bytes(w, r->verf, NFS3_VERF_SIZE);
		}
		break;
	case NFS3_PROC_CREATE:
	case NFS3_PROC_MKDIR:
	case NFS3_PROC_SYMLINK:
	case NFS3_PROC_MKNOD:
		if (ok) {
			nfs3_put_post_fh(w, r);
			nfs3_put_post_attr(w, &r->obj);
		}
		nfs3_put_wcc(w, &r->wcc);
		break;
	case NFS3_PROC_RENAME:
		nfs3_put_wcc(w, &r->wcc);
		nfs3_put_wcc(w, &r->wcc2);
		break;
	case NFS3_PROC_LINK:
		nfs3_put_post_attr(w, &r->obj);
		nfs3_put_wcc(w, &r->wcc);
		break;
	case NFS3_PROC_READDIR:
	case NFS3_PROC_READDIRPLUS:
		nfs3_put_post_attr(w, &r->obj);
		if (ok) {
			nfs3_put_entries(w, proc == NFS3_PROC_READDIRPLUS, r);
		}
		break;
	case NFS3_PROC_FSSTAT:
		nfs3_put_post_attr(w, &r->obj);
		if (ok) {
			wcur_be64(w, r->fsstat.tbytes);
			wcur_be64(w, r->fsstat.fbytes);
			wcur_be64(w, r->fsstat.abytes);
			wcur_be64(w, r->fsstat.tfiles);
			wcur_be64(w, r->fsstat.ffiles);
			wcur_be64(w, r->fsstat.afiles);
			wcur_be32(w, r->fsstat.invarsec);
		}
		break;
	case NFS3_PROC_FSINFO:
		nfs3_put_post_attr(w, &r->obj);
		if (ok) {
			const struct nfs3_fsinfo *f = &r->fsinfo;

			wcur_be32(w, f->rtmax);
			wcur_be32(w, f->rtpref);
			wcur_be32(w, f->rtmult);
			wcur_be32(w, f->wtmax);
			wcur_be32(w, f->wtpref);
			wcur_be32(w, f->wtmult);
			wcur_be32(w, f->dtpref);
			wcur_be64(w, f->maxfilesize);
			nfs3_put_time(w, &f->time_delta);
			wcur_be32(w, f->properties);
		}
		break;
	case NFS3_PROC_PATHCONF:
		nfs3_put_post_attr(w, &r->obj);
		if (ok) {
			const struct nfs3_pathconf *p = &r->pathconf;

			wcur_be32(w, p->linkmax);
			wcur_be32(w, p->name_max);
			wcur_be32(w, p->no_trunc);
			wcur_be32(w, p->chown_restricted);
			wcur_be32(w, p->case_insensitive);
			wcur_be32(w, p->case_preserving);
		}
		break;
	case NFS3_PROC_COMMIT:
		nfs3_put_wcc(w, &r->wcc);
		if (ok) {
			wcur_bytes(w, r->verf, NFS3_VERF_SIZE);
		}
		break;
	}
	return w->err;
}

/* --- result decoding (client side) -------------------------------------- */

static void
nfs3_get_fattr(struct cur *c, struct nfs3_fattr *a)
{
	a->type = cur_be32(c);
	a->mode = cur_be32(c);
	a->nlink = cur_be32(c);
	a->uid = cur_be32(c);
	a->gid = cur_be32(c);
	a->size = cur_be64(c);
	a->used = cur_be64(c);
	a->rdev_major = cur_be32(c);
	a->rdev_minor = cur_be32(c);
	a->fsid = cur_be64(c);
	a->fileid = cur_be64(c);
	nfs3_get_time(c, &a->atime);
	nfs3_get_time(c, &a->mtime);
	nfs3_get_time(c, &a->ctime);
}

static void
nfs3_get_post_attr(struct cur *c, struct nfs3_post_attr *p)
{
	p->present = rpc_get_bool(c);
	if (p->present) {
		nfs3_get_fattr(c, &p->a);
	}
}

static void
nfs3_get_wcc(struct cur *c, struct nfs3_wcc *w)
{
	w->has_before = rpc_get_bool(c);
	if (w->has_before) {
		w->before.size = cur_be64(c);
		nfs3_get_time(c, &w->before.mtime);
		nfs3_get_time(c, &w->before.ctime);
	}
	nfs3_get_post_attr(c, &w->after);
}

static void
nfs3_get_entries(struct cur *c, bool plus, struct nfs3_res *r,
    struct nfs3_dirent *ents, size_t cap)
{
	cur_copy(c, r->verf, NFS3_VERF_SIZE);
	r->nentries = 0;
	while (rpc_get_bool(c)) {
		struct nfs3_dirent e = {0};

		e.fileid = cur_be64(c);
		e.name =
		    (const char *)rpc_get_opaque(c, NFS3_NAME_MAX, &e.namelen);
		e.cookie = cur_be64(c);
		if (plus) {
			nfs3_get_post_attr(c, &e.attr);
			e.has_fh = rpc_get_bool(c);
			if (e.has_fh) {
				nfs3_get_fh(c, &e.fh);
			}
		}
		if (c->err) {
			return;
		}
		if (r->nentries == cap) {
			cur_fail(c, -EMSGSIZE);
			return;
		}
		ents[r->nentries++] = e;
	}
	r->eof = rpc_get_bool(c);
	r->entries = ents;
}

int
nfs3_res_parse(uint32_t proc, const uint8_t *buf, size_t len,
    struct nfs3_res *out, struct nfs3_dirent *ents, size_t cap)
{
	struct cur c = cur_init(buf, len);
	bool ok;

	memset(out, 0, sizeof(*out));
	if (proc == NFS3_PROC_NULL) {
		return cur_end(&c, false);
	}
	out->status = cur_be32(&c);
	ok = out->status == NFS3_OK;
	switch (proc) {
	case NFS3_PROC_GETATTR:
		if (ok) {
			out->obj.present = true;
			nfs3_get_fattr(&c, &out->obj.a);
		}
		break;
	case NFS3_PROC_SETATTR:
	case NFS3_PROC_REMOVE:
	case NFS3_PROC_RMDIR:
		nfs3_get_wcc(&c, &out->wcc);
		break;
	case NFS3_PROC_LOOKUP:
		if (ok) {
			nfs3_get_fh(&c, &out->fh);
			out->has_fh = true;
			nfs3_get_post_attr(&c, &out->obj);
		}
		nfs3_get_post_attr(&c, &out->dir);
		break;
	case NFS3_PROC_ACCESS:
		nfs3_get_post_attr(&c, &out->obj);
		if (ok) {
			out->access = cur_be32(&c);
		}
		break;
	case NFS3_PROC_READLINK:
		nfs3_get_post_attr(&c, &out->obj);
		if (ok) {
			out->data =
			    rpc_get_opaque(&c, NFS3_PATH_MAX, &out->data_len);
		}
		break;
	case NFS3_PROC_READ:
		nfs3_get_post_attr(&c, &out->obj);
		if (ok) {
			out->count = cur_be32(&c);
			out->eof = rpc_get_bool(&c);
			out->data =
			    rpc_get_opaque(&c, NFS3_IO_MAX, &out->data_len);
		}
		break;
	case NFS3_PROC_WRITE:
		nfs3_get_wcc(&c, &out->wcc);
		if (ok) {
			out->count = cur_be32(&c);
			out->committed = cur_be32(&c);
			cur_copy(&c, out->verf, NFS3_VERF_SIZE);
		}
		break;
	case NFS3_PROC_CREATE:
	case NFS3_PROC_MKDIR:
	case NFS3_PROC_SYMLINK:
	case NFS3_PROC_MKNOD:
		if (ok) {
			out->has_fh = rpc_get_bool(&c);
			if (out->has_fh) {
				nfs3_get_fh(&c, &out->fh);
			}
			nfs3_get_post_attr(&c, &out->obj);
		}
		nfs3_get_wcc(&c, &out->wcc);
		break;
	case NFS3_PROC_RENAME:
		nfs3_get_wcc(&c, &out->wcc);
		nfs3_get_wcc(&c, &out->wcc2);
		break;
	case NFS3_PROC_LINK:
		nfs3_get_post_attr(&c, &out->obj);
		nfs3_get_wcc(&c, &out->wcc);
		break;
	case NFS3_PROC_READDIR:
	case NFS3_PROC_READDIRPLUS:
		nfs3_get_post_attr(&c, &out->obj);
		if (ok) {
			nfs3_get_entries(
			    &c, proc == NFS3_PROC_READDIRPLUS, out, ents, cap);
		}
		break;
	case NFS3_PROC_FSSTAT:
		nfs3_get_post_attr(&c, &out->obj);
		if (ok) {
			out->fsstat.tbytes = cur_be64(&c);
			out->fsstat.fbytes = cur_be64(&c);
			out->fsstat.abytes = cur_be64(&c);
			out->fsstat.tfiles = cur_be64(&c);
			out->fsstat.ffiles = cur_be64(&c);
			out->fsstat.afiles = cur_be64(&c);
			out->fsstat.invarsec = cur_be32(&c);
		}
		break;
	case NFS3_PROC_FSINFO:
		nfs3_get_post_attr(&c, &out->obj);
		if (ok) {
			struct nfs3_fsinfo *f = &out->fsinfo;

			f->rtmax = cur_be32(&c);
			f->rtpref = cur_be32(&c);
			f->rtmult = cur_be32(&c);
			f->wtmax = cur_be32(&c);
			f->wtpref = cur_be32(&c);
			f->wtmult = cur_be32(&c);
			f->dtpref = cur_be32(&c);
			f->maxfilesize = cur_be64(&c);
			nfs3_get_time(&c, &f->time_delta);
			f->properties = cur_be32(&c);
		}
		break;
	case NFS3_PROC_PATHCONF:
		nfs3_get_post_attr(&c, &out->obj);
		if (ok) {
			struct nfs3_pathconf *p = &out->pathconf;

			p->linkmax = cur_be32(&c);
			p->name_max = cur_be32(&c);
			p->no_trunc = rpc_get_bool(&c);
			p->chown_restricted = rpc_get_bool(&c);
			p->case_insensitive = rpc_get_bool(&c);
			p->case_preserving = rpc_get_bool(&c);
		}
		break;
	case NFS3_PROC_COMMIT:
		nfs3_get_wcc(&c, &out->wcc);
		if (ok) {
			cur_copy(&c, out->verf, NFS3_VERF_SIZE);
		}
		break;
	default:
		return -EOPNOTSUPP;
	}
	return cur_end(&c, false);
}
