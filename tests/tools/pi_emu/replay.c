/*
 * The NFS half of an emulated Pi's boot: the calls of a traced boot
 * (trace.h), replayed with libnfs's raw asynchronous API from the Pi's
 * own address, as the traced kernel made them.
 *
 * - Connections: one libnfs context per traced connection, opened when
 *   its first call is due and closed after its last reply, as the
 *   kernel's portmapper and MOUNT clients do.  The port is the traced
 *   one (111, 2049) or, where the kernel asked the portmapper, what this
 *   server's portmapper answers.  libnfs binds a port below 1024 when it
 *   may (lib/socket.c, as root); for a connection the kernel opened from
 *   an ordinary port (its rpcbind client), this thread drops
 *   CAP_NET_BIND_SERVICE for the connect, so libnfs falls back to an
 *   ephemeral port too.  Every connection's port is checked.
 * - Order: a call leaves once the replies the traced kernel had when it
 *   sent it are in, so what ran in parallel there (readahead) runs in
 *   parallel here, and nothing else does.
 * - Handles: objects are named as in the trace and bound to this
 *   server's handles from its own replies (MNT, LOOKUP, CREATE,
 *   READDIRPLUS entries); READDIR cookies and verifiers are this server's
 *   own too.
 * - Results: every status must be the traced one; READ data must equal
 *   the file under the export byte for byte (with check_files), or the
 *   traced count and eof; READLINK the traced target.  NFSACL may be
 *   answered or refused: ACL support is the server's choice.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-mount.h>
#include <nfsc/libnfs-raw-nfs.h>
#include <nfsc/libnfs-raw-portmap.h>

#include "../nfs_status.h"
#include "linux.h"

#define FH_MAX 64
/* init/do_mounts.c: NFSROOT_TIMEOUT_MIN, NFSROOT_TIMEOUT_MAX,
 * NFSROOT_RETRY_MAX. */
#define MOUNT_WAIT_MIN_S 5
#define MOUNT_WAIT_MAX_S 30
#define MOUNT_RETRIES    5

enum conn_state { C_IDLE, C_CONNECTING, C_UP, C_CLOSED };

struct rconn {
	struct rpc_context *rpc;
	enum conn_state st;
	int inflight; /* calls sent and not answered */
	bool close_now;
};

struct fh {
	bool set;
	uint32_t len;
	uint8_t data[FH_MAX];
};

struct dirpos {
	uint64_t cookie;
	uint8_t verf[8];
	bool eof;
};

struct replay;

/* What each callback gets: its replay and its call. */
struct slot {
	struct replay *r;
	int i; /* call index, 0-based */
};

struct replay {
	struct emu_linux *k;
	const struct emu_trace *t;
	struct rconn *conns;
	struct slot *slots;
	struct slot *cslots; /* per connection, for connect callbacks */
	bool *done;
	struct fh *fhs;      /* per object id */
	bool *written;       /* per object id: changed by the replay */
	struct dirpos *dirs; /* per object id */
	uint16_t *ports;     /* per call: a GETPORT answer */
	struct pollfd *pfd;  /* per connection */
	int *pmap;           /* pfd index to connection */
	int next, ndone;
	bool failed, mount_done;
	char server[16];
	uint8_t *buf; /* for comparing READ data */
};

static bool fail(struct replay *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static bool
fail(struct replay *r, const char *fmt, ...)
{
	va_list ap;

	if (r->failed) {
		return false;
	}
	r->failed = true;
	va_start(ap, fmt);
	vsnprintf(r->k->why, sizeof(r->k->why), fmt, ap);
	va_end(ap);
	return false;
}

static bool call_fail(struct replay *r, int i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fail naming call @i: "call 17 READ /bin/busybox: WHAT". */
static bool
call_fail(struct replay *r, int i, const char *fmt, ...)
{
	const struct emu_tcall *c = &r->t->calls[i];
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return fail(r, "call %d %s%s%s: %s", c->idx, emu_trace_proc_name(c),
	    c->fh >= 0 ? " " : "", c->fh >= 0 ? r->t->ids[c->fh] : "", what);
}

/* ---- capabilities: this thread's only ---- */

static int
cap_bind(bool on)
{
	struct __user_cap_header_struct h = {
	    .version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0) {
		return -errno;
	}
	if (on) {
		d[0].effective |= d[0].permitted & (1u << CAP_NET_BIND_SERVICE);
	} else {
		d[0].effective &= ~(1u << CAP_NET_BIND_SERVICE);
	}
	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

/* ---- handles ---- */

static void
fh_bind(struct replay *r, int id, const void *data, u_int len)
{
	if (id < 0 || len > FH_MAX) {
		return;
	}
	r->fhs[id].set = true;
	r->fhs[id].len = len;
	memcpy(r->fhs[id].data, data, len);
}

/* The handle of object @id as libnfs takes it; false when unbound. */
static bool
fh_arg(struct replay *r, int i, int id, nfs_fh3 *out)
{
	if (id < 0 || !r->fhs[id].set) {
		return call_fail(r, i,
		    "no handle for %s: this server never named it",
		    id < 0 ? "?" : r->t->ids[id]);
	}
	out->data.data_len = r->fhs[id].len;
	out->data.data_val = (char *)r->fhs[id].data;
	return true;
}

static void
sattr_arg(const struct emu_tsattr *s, sattr3 *a)
{
	memset(a, 0, sizeof(*a));
	a->mode.set_it = s->set_mode;
	a->mode.set_mode3_u.mode = s->mode;
	a->uid.set_it = s->set_uid;
	a->uid.set_uid3_u.uid = s->uid;
	a->gid.set_it = s->set_gid;
	a->gid.set_gid3_u.gid = s->gid;
	a->size.set_it = s->set_size;
	a->size.set_size3_u.size = s->size;
	a->atime.set_it = (time_how)s->atime;
	a->atime.set_atime_u.atime.seconds = s->atime_s;
	a->atime.set_atime_u.atime.nseconds = s->atime_ns;
	a->mtime.set_it = (time_how)s->mtime;
	a->mtime.set_mtime_u.mtime.seconds = s->mtime_s;
	a->mtime.set_mtime_u.mtime.nseconds = s->mtime_ns;
}

/* ---- results ---- */

/*
 * READ data against the file under the export, when that file is what
 * the traced path names (not renamed, not written by the replay).
 */
static bool
check_read(struct replay *r, int i, const READ3resok *ok)
{
	const struct emu_tcall *c = &r->t->calls[i];
	const char *id = r->t->ids[c->fh];
	char path[4096];
	struct stat sb;
	ssize_t n = -1;
	int fd = -1;

	r->k->read_bytes += ok->count;
	if (ok->count != ok->data.data_len || ok->count > c->count) {
		return call_fail(r, i, "%s", "count and data disagree");
	}
	if (r->k->check_files && !strchr(id, '#') && !r->written[c->fh]) {
		snprintf(path, sizeof(path), "%s%s", r->k->root, id);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		if (fd >= 0) {
			close(fd);
		}
		if (ok->count != c->res_count ||
		    (c->res_eof >= 0 && (int)!!ok->eof != c->res_eof)) {
			return call_fail(r, i, "%s",
			    "count or eof differs from the traced boot");
		}
		return true;
	}
	if (c->count) {
		n = pread(fd, r->buf, c->count, (off_t)c->off);
	} else {
		n = 0;
	}
	close(fd);
	if (n < 0) {
		return call_fail(r, i, "reading the file: %s", strerror(errno));
	}
	if ((size_t)n != ok->count) {
		return call_fail(
		    r, i, "%s", "count differs from the file under the export");
	}
	if (memcmp(r->buf, ok->data.data_val, (size_t)n) != 0) {
		return call_fail(
		    r, i, "%s", "data differs from the file under the export");
	}
	if (!!ok->eof !=
	    ((uint64_t)c->off + (uint64_t)n >= (uint64_t)sb.st_size)) {
		return call_fail(r, i, "%s", "eof is wrong");
	}
	r->k->compared++;
	return true;
}

static bool
check_status(struct replay *r, int i, uint32_t st)
{
	const struct emu_tcall *c = &r->t->calls[i];
	const char *name = nfs_status_name(st);
	char num[16];

	snprintf(num, sizeof(num), "%u", st);
	if (strcmp(name ? name : num, c->status) == 0) {
		return true;
	}
	return call_fail(r, i, "answered %s (%u), the traced boot got %s",
	    name ? name : "an unknown status", st, c->status);
}

static void
bind_post_fh(struct replay *r, int i, const post_op_fh3 *h)
{
	const struct emu_tcall *c = &r->t->calls[i];

	if (c->obj < 0) {
		return;
	}
	if (!h->handle_follows) {
		call_fail(r, i, "%s",
		    "no handle in the reply, the traced "
		    "server gave one");
		return;
	}
	fh_bind(r, c->obj, h->post_op_fh3_u.handle.data.data_val,
	    h->post_op_fh3_u.handle.data.data_len);
}

static void
nfs_result(struct replay *r, int i, void *data)
{
	const struct emu_tcall *c = &r->t->calls[i];
	uint32_t st;

	if (c->proc == 0) {
		return;
	}
	/* Every NFSv3 result begins with its nfsstat3. */
	memcpy(&st, data, sizeof(st));
	if (!check_status(r, i, st) || st != NFS3_OK) {
		return;
	}
	switch (c->proc) {
	case 3: { /* LOOKUP */
		LOOKUP3resok *ok = &((LOOKUP3res *)data)->LOOKUP3res_u.resok;

		fh_bind(r, c->obj, ok->object.data.data_val,
		    ok->object.data.data_len);
		break;
	}
	case 5: { /* READLINK */
		READLINK3resok *ok =
		    &((READLINK3res *)data)->READLINK3res_u.resok;

		if (c->res_target && strcmp(ok->data, c->res_target) != 0) {
			call_fail(r, i, "target %s differs from the traced one",
			    ok->data);
		}
		break;
	}
	case 6: /* READ */
		check_read(r, i, &((READ3res *)data)->READ3res_u.resok);
		break;
	case 8:
		bind_post_fh(
		    r, i, &((CREATE3res *)data)->CREATE3res_u.resok.obj);
		break;
	case 9:
		bind_post_fh(r, i, &((MKDIR3res *)data)->MKDIR3res_u.resok.obj);
		break;
	case 10:
		bind_post_fh(
		    r, i, &((SYMLINK3res *)data)->SYMLINK3res_u.resok.obj);
		break;
	case 11:
		bind_post_fh(r, i, &((MKNOD3res *)data)->MKNOD3res_u.resok.obj);
		break;
	case 16: { /* READDIR */
		READDIR3resok *ok = &((READDIR3res *)data)->READDIR3res_u.resok;
		struct dirpos *d = &r->dirs[c->fh];
		entry3 *e;

		for (e = ok->reply.entries; e; e = e->nextentry) {
			d->cookie = e->cookie;
		}
		memcpy(d->verf, ok->cookieverf, 8);
		d->eof = ok->reply.eof;
		break;
	}
	case 17: { /* READDIRPLUS */
		READDIRPLUS3resok *ok =
		    &((READDIRPLUS3res *)data)->READDIRPLUS3res_u.resok;
		struct dirpos *d = &r->dirs[c->fh];
		entryplus3 *e;
		int n;

		for (e = ok->reply.entries; e; e = e->nextentry) {
			d->cookie = e->cookie;
			for (n = 0; n < c->nnames; n++) {
				const char *id = r->t->ids[c->names[n]];
				const char *base = strrchr(id, '/') + 1;

				if (strcmp(base, e->name) == 0 &&
				    e->name_handle.handle_follows) {
					nfs_fh3 *h = &e->name_handle
							  .post_op_fh3_u.handle;

					fh_bind(r, c->names[n],
					    h->data.data_val, h->data.data_len);
				}
			}
		}
		memcpy(d->verf, ok->cookieverf, 8);
		d->eof = ok->reply.eof;
		break;
	}
	default:
		break;
	}
}

/*
 * Call @i is over: once the last call of its connection is and nothing
 * else waits on it, the connection closes, as the kernel's portmapper
 * and MOUNT clients close theirs.
 */
static void
call_done(struct replay *r, int i)
{
	const struct emu_tcall *c = &r->t->calls[i];
	struct rconn *k = &r->conns[c->conn];

	r->done[i] = true;
	r->ndone++;
	if (r->done[r->t->conn_last[c->conn] - 1] && k->inflight == 0) {
		k->close_now = true;
	}
}

static void
on_reply(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct slot *s = priv;
	struct replay *r = s->r;
	const struct emu_tcall *c = &r->t->calls[s->i];
	uint64_t now = emu_linux_ms();

	(void)rpc;
	if (status == RPC_STATUS_CANCEL || r->done[s->i]) {
		return;
	}
	r->conns[c->conn].inflight--;
	call_done(r, s->i);
	r->k->calls++;
	if (now > r->k->t_end) {
		r->k->t_end = now;
	}
	if (!c->replied) {
		/* The capture ended before this reply: nothing to hold it
		 * to. */
		return;
	}
	if (status != RPC_STATUS_SUCCESS) {
		/*
		 * A server without NFSACL refuses the program or version
		 * (libnfs says "Program not available", "Program version
		 * mismatch"): an answer, on which the kernel turns ACLs off.
		 */
		if (c->prog == EMU_NFSACL && status == RPC_STATUS_ERROR &&
		    data && strstr((const char *)data, "Program ")) {
			return;
		}
		call_fail(r, s->i, "%s",
		    data && status == RPC_STATUS_ERROR ? (const char *)data
						       : "no reply");
		return;
	}
	switch (c->prog) {
	case EMU_PMAP:
		if (c->proc == 3) {
			r->ports[s->i] = (uint16_t) * (uint32_t *)data;
			if (r->ports[s->i] == 0) {
				call_fail(
				    r, s->i, "%s", "program not registered");
			}
		}
		break;
	case EMU_MNT:
		if (c->proc == 1) {
			mountres3 *m = data;

			if (m->fhs_status != MNT3_OK) {
				char st[32];

				snprintf(st, sizeof(st), "%d", m->fhs_status);
				call_fail(
				    r, s->i, "MNT refused, status %s", st);
				break;
			}
			fh_bind(r, c->obj,
			    m->mountres3_u.mountinfo.fhandle.fhandle3_val,
			    m->mountres3_u.mountinfo.fhandle.fhandle3_len);
			r->k->t_mnt = now;
		}
		break;
	case EMU_NFS:
		nfs_result(r, s->i, data);
		break;
	case EMU_NFSACL:
		break;
	}
	if (!r->failed && !r->mount_done && s->i < r->t->mount_end) {
		int j;

		for (j = 0; j < r->t->mount_end && r->done[j]; j++) {
		}
		r->mount_done = j == r->t->mount_end;
	}
}

/* ---- sending ---- */

static bool
set_auth(struct replay *r, int i, struct rpc_context *rpc)
{
	const struct emu_tcall *c = &r->t->calls[i];
	struct AUTH *a;

	if (c->auth_sys) {
		a = libnfs_authunix_create(
		    c->host, c->uid, c->gid, c->ngids, (uint32_t *)c->gids);
	} else {
		a = libnfs_authnone_create();
	}
	if (!a) {
		return call_fail(r, i, "%s", "no memory for credentials");
	}
	rpc_set_auth(rpc, a);
	return true;
}

static int
send_nfs(struct replay *r, int i, struct rpc_context *rpc, struct slot *s)
{
	const struct emu_tcall *c = &r->t->calls[i];
	nfs_fh3 fh = {0}, dir = {0}, todir = {0};
	int e = -1;

	if ((c->fh >= 0 && !fh_arg(r, i, c->fh, &fh)) ||
	    (c->dir >= 0 && !fh_arg(r, i, c->dir, &dir)) ||
	    (c->todir >= 0 && !fh_arg(r, i, c->todir, &todir))) {
		return -1;
	}
	switch (c->proc) {
	case 0:
		return rpc_nfs3_null_async(rpc, on_reply, s);
	case 1: {
		GETATTR3args a = {.object = fh};

		return rpc_nfs3_getattr_async(rpc, on_reply, &a, s);
	}
	case 2: {
		SETATTR3args a = {.object = fh};

		sattr_arg(&c->sattr, &a.new_attributes);
		a.guard.check = c->guard;
		a.guard.sattrguard3_u.obj_ctime.seconds = c->guard_s;
		a.guard.sattrguard3_u.obj_ctime.nseconds = c->guard_ns;
		if (c->sattr.set_size) {
			r->written[c->fh] = true;
		}
		return rpc_nfs3_setattr_async(rpc, on_reply, &a, s);
	}
	case 3: {
		LOOKUP3args a = {.what = {dir, (char *)c->name}};

		return rpc_nfs3_lookup_async(rpc, on_reply, &a, s);
	}
	case 4: {
		ACCESS3args a = {.object = fh, .access = c->access};

		return rpc_nfs3_access_async(rpc, on_reply, &a, s);
	}
	case 5: {
		READLINK3args a = {.symlink = fh};

		return rpc_nfs3_readlink_async(rpc, on_reply, &a, s);
	}
	case 6: {
		READ3args a = {.file = fh, .offset = c->off, .count = c->count};

		return rpc_nfs3_read_async(rpc, on_reply, &a, s);
	}
	case 7: {
		WRITE3args a = {.file = fh,
		    .offset = c->off,
		    .count = c->count,
		    .stable = (stable_how)c->stable};
		char *pat = NULL;

		if (c->data) {
			a.data.data_len = (u_int)c->data_len;
			a.data.data_val = (char *)c->data;
		} else {
			/* Data the trace left out: a pattern as long. */
			size_t n;

			pat = malloc(c->count ? c->count : 1);
			if (!pat) {
				return -1;
			}
			for (n = 0; n < c->count; n++) {
				pat[n] = (char)(n * 7);
			}
			a.data.data_len = c->count;
			a.data.data_val = pat;
		}
		r->written[c->fh] = true;
		e = rpc_nfs3_write_async(rpc, on_reply, &a, s);
		free(pat);
		return e;
	}
	case 8: {
		CREATE3args a = {.where = {dir, (char *)c->name}};

		a.how.mode = (createmode3)c->how;
		if (c->how == EXCLUSIVE) {
			memcpy(a.how.createhow3_u.verf, c->verf, 8);
		} else {
			sattr_arg(
			    &c->sattr, &a.how.createhow3_u.obj_attributes);
		}
		return rpc_nfs3_create_async(rpc, on_reply, &a, s);
	}
	case 9: {
		MKDIR3args a = {.where = {dir, (char *)c->name}};

		sattr_arg(&c->sattr, &a.attributes);
		return rpc_nfs3_mkdir_async(rpc, on_reply, &a, s);
	}
	case 10: {
		SYMLINK3args a = {.where = {dir, (char *)c->name}};

		sattr_arg(&c->sattr, &a.symlink.symlink_attributes);
		a.symlink.symlink_data = (char *)c->target;
		return rpc_nfs3_symlink_async(rpc, on_reply, &a, s);
	}
	case 11: {
		MKNOD3args a = {.where = {dir, (char *)c->name}};

		a.what.type = (ftype3)c->ftype;
		if (c->ftype == NF3CHR || c->ftype == NF3BLK) {
			devicedata3 *dd = &a.what.mknoddata3_u.chr_device;

			sattr_arg(&c->sattr, &dd->dev_attributes);
			dd->spec.specdata1 = c->rdev_major;
			dd->spec.specdata2 = c->rdev_minor;
		} else {
			sattr_arg(
			    &c->sattr, &a.what.mknoddata3_u.sock_attributes);
		}
		return rpc_nfs3_mknod_async(rpc, on_reply, &a, s);
	}
	case 12: {
		REMOVE3args a = {.object = {dir, (char *)c->name}};

		return rpc_nfs3_remove_async(rpc, on_reply, &a, s);
	}
	case 13: {
		RMDIR3args a = {.object = {dir, (char *)c->name}};

		return rpc_nfs3_rmdir_async(rpc, on_reply, &a, s);
	}
	case 14: {
		RENAME3args a = {.from = {dir, (char *)c->name},
		    .to = {todir, (char *)c->toname}};

		return rpc_nfs3_rename_async(rpc, on_reply, &a, s);
	}
	case 15: {
		LINK3args a = {.file = fh, .link = {todir, (char *)c->toname}};

		return rpc_nfs3_link_async(rpc, on_reply, &a, s);
	}
	case 16:
	case 17: {
		struct dirpos *d = &r->dirs[c->fh];

		if (c->cookie_next && d->eof) {
			/* This server listed the whole directory in fewer
			 * replies: the kernel would not ask again. */
			return 1;
		}
		if (c->proc == 16) {
			READDIR3args a = {.dir = fh, .count = c->count};

			a.cookie = c->cookie_next ? d->cookie : 0;
			if (c->verf_last) {
				memcpy(a.cookieverf, d->verf, 8);
			}
			return rpc_nfs3_readdir_async(rpc, on_reply, &a, s);
		} else {
			READDIRPLUS3args a = {.dir = fh,
			    .dircount = c->dircount,
			    .maxcount = c->maxcount};

			a.cookie = c->cookie_next ? d->cookie : 0;
			if (c->verf_last) {
				memcpy(a.cookieverf, d->verf, 8);
			}
			return rpc_nfs3_readdirplus_async(rpc, on_reply, &a, s);
		}
	}
	case 18: {
		FSSTAT3args a = {.fsroot = fh};

		return rpc_nfs3_fsstat_async(rpc, on_reply, &a, s);
	}
	case 19: {
		FSINFO3args a = {.fsroot = fh};

		return rpc_nfs3_fsinfo_async(rpc, on_reply, &a, s);
	}
	case 20: {
		PATHCONF3args a = {.object = fh};

		return rpc_nfs3_pathconf_async(rpc, on_reply, &a, s);
	}
	case 21: {
		COMMIT3args a = {
		    .file = fh, .offset = c->off, .count = c->count};

		return rpc_nfs3_commit_async(rpc, on_reply, &a, s);
	}
	}
	return e;
}

/* Send call @i.  Return: false when the replay failed. */
static bool
send_call(struct replay *r, int i)
{
	const struct emu_tcall *c = &r->t->calls[i];
	struct rpc_context *rpc = r->conns[c->conn].rpc;
	struct slot *s = &r->slots[i];
	char path[4096];
	int e = -1;

	if (!set_auth(r, i, rpc)) {
		return false;
	}
	switch (c->prog) {
	case EMU_PMAP:
		e = c->proc == 3
		    ? rpc_pmap2_getport_async(rpc, (int)c->pm_prog,
			  (int)c->pm_vers, (int)c->pm_prot, on_reply, s)
		    : rpc_pmap2_null_async(rpc, on_reply, s);
		break;
	case EMU_MNT:
		snprintf(path, sizeof(path), "%s%s", r->k->root, c->mnt_sub);
		e = c->proc == 1 ? rpc_mount3_mnt_async(rpc, on_reply, path, s)
				 : rpc_mount3_null_async(rpc, on_reply, s);
		break;
	case EMU_NFS:
		e = send_nfs(r, i, rpc, s);
		if (e == 1) {
			/* Not needed here: done without a call. */
			r->k->skipped++;
			call_done(r, i);
			return true;
		}
		break;
	case EMU_NFSACL:
		if (c->proc == 0) {
			e = rpc_nfsacl_null_async(rpc, on_reply, s);
		} else {
			GETACL3args a = {.mask = c->mask};

			if (!fh_arg(r, i, c->fh, &a.dir)) {
				return false;
			}
			e = rpc_nfsacl_getacl_async(rpc, on_reply, &a, s);
		}
		break;
	}
	if (e < 0) {
		return r->failed ? false
				 : call_fail(r, i, "%s", rpc_get_error(rpc));
	}
	r->conns[c->conn].inflight++;
	return true;
}

/* ---- connections ---- */

static void
on_connect(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct slot *s = priv;
	struct replay *r = s->r;
	struct rconn *k = &r->conns[s->i];
	const struct emu_tconn *tc = &r->t->conns[s->i];
	struct sockaddr_in me;
	socklen_t len = sizeof(me);

	(void)data;
	if (status == RPC_STATUS_CANCEL) {
		return;
	}
	if (status != RPC_STATUS_SUCCESS) {
		fail(r, "connection %d: %s", s->i + 1,
		    data ? (const char *)data : "refused");
		return;
	}
	if (getsockname(rpc_get_fd(rpc), (struct sockaddr *)&me, &len) < 0) {
		fail(r, "connection %d: getsockname: %s", s->i + 1,
		    strerror(errno));
		return;
	}
	if (tc->resv != (ntohs(me.sin_port) < 1024)) {
		fail(r,
		    "connection %d from port %u, the kernel used a%s port "
		    "(run as root)",
		    s->i + 1, ntohs(me.sin_port),
		    tc->resv ? " reserved" : "n ordinary");
		return;
	}
	k->st = C_UP;
}

static bool
conn_open(struct replay *r, int n)
{
	const struct emu_tconn *tc = &r->t->conns[n];
	struct rconn *k = &r->conns[n];
	int port = tc->port, e;

	if (tc->via_call) {
		port = r->ports[tc->via_call - 1];
	}
	k->rpc = rpc_init_context();
	if (!k->rpc) {
		return fail(r, "connection %d: no libnfs context", n + 1);
	}
	r->cslots[n].r = r;
	r->cslots[n].i = n;
	if (!tc->resv && cap_bind(false) < 0) {
		return fail(
		    r, "dropping CAP_NET_BIND_SERVICE: %s", strerror(errno));
	}
	e = rpc_connect_async(
	    k->rpc, r->server, port, on_connect, &r->cslots[n]);
	if (!tc->resv) {
		(void)cap_bind(true);
	}
	if (e < 0) {
		return fail(r, "connection %d to port %d: %s", n + 1, port,
		    rpc_get_error(k->rpc));
	}
	k->st = C_CONNECTING;
	return true;
}

static void
conn_close(struct rconn *k)
{
	if (k->rpc) {
		rpc_destroy_context(k->rpc);
		k->rpc = NULL;
	}
	k->st = C_CLOSED;
	k->inflight = 0;
	k->close_now = false;
}

/* Can call @i leave now?  Opens its connection when it is due. */
static bool
ready(struct replay *r, int i)
{
	const struct emu_tcall *c = &r->t->calls[i];
	struct rconn *k = &r->conns[c->conn];
	int d;

	for (d = 0; d < c->ndeps; d++) {
		if (!r->done[c->deps[d] - 1]) {
			return false;
		}
	}
	switch (k->st) {
	case C_IDLE:
		conn_open(r, c->conn);
		return false;
	case C_CONNECTING:
		return false;
	case C_UP:
		return true;
	case C_CLOSED:
		fail(r, "call %d on connection %d after it closed", c->idx,
		    c->conn + 1);
		return false;
	}
	return false;
}

/* One attempt at the whole trace.  Return: true when it replayed. */
static bool
attempt(struct replay *r)
{
	const struct emu_trace *t = r->t;
	int i;

	while (!r->failed && r->ndone < t->ncalls) {
		struct pollfd *pfd = r->pfd;
		int *map = r->pmap, n = 0, p;

		while (!r->failed && r->next < t->ncalls && ready(r, r->next)) {
			if (send_call(r, r->next)) {
				r->next++;
			}
		}
		for (i = 0; i < t->nconns; i++) {
			if (r->conns[i].close_now) {
				conn_close(&r->conns[i]);
			}
		}
		if (r->failed || r->ndone == t->ncalls) {
			break;
		}
		for (i = 0; i < t->nconns; i++) {
			struct rconn *k = &r->conns[i];

			if (k->st == C_CONNECTING || k->st == C_UP) {
				pfd[n].fd = rpc_get_fd(k->rpc);
				pfd[n].events = (short)rpc_which_events(k->rpc);
				map[n++] = i;
			}
		}
		if (emu_linux_ms() >= r->k->deadline) {
			const struct emu_tcall *c =
			    &t->calls[r->next < t->ncalls ? r->next
							  : t->ncalls - 1];

			return fail(r,
			    "stopped at call %d %s: %d of %d calls answered "
			    "by the deadline",
			    c->idx, emu_trace_proc_name(c), r->ndone,
			    t->ncalls);
		}
		if (poll(pfd, (nfds_t)n, 100) < 0 && errno != EINTR) {
			return fail(r, "poll: %s", strerror(errno));
		}
		for (p = 0; p < n; p++) {
			struct rconn *k = &r->conns[map[p]];

			if (k->rpc && pfd[p].revents &&
			    rpc_service(k->rpc, pfd[p].revents) < 0) {
				fail(r, "connection %d: %s", map[p] + 1,
				    rpc_get_error(k->rpc));
			}
		}
		for (i = 0; i < t->nconns; i++) {
			if (r->conns[i].close_now) {
				conn_close(&r->conns[i]);
			}
		}
	}
	return !r->failed;
}

static void
reset(struct replay *r)
{
	const struct emu_trace *t = r->t;
	int i;

	for (i = 0; i < t->nconns; i++) {
		conn_close(&r->conns[i]);
		r->conns[i].st = C_IDLE;
	}
	memset(r->done, 0, (size_t)t->ncalls * sizeof(*r->done));
	memset(r->fhs, 0, (size_t)t->nids * sizeof(*r->fhs));
	memset(r->written, 0, (size_t)t->nids * sizeof(*r->written));
	memset(r->dirs, 0, (size_t)t->nids * sizeof(*r->dirs));
	memset(r->ports, 0, (size_t)t->ncalls * sizeof(*r->ports));
	r->next = r->ndone = 0;
	r->failed = r->mount_done = false;
	r->k->t_mnt = r->k->t_end = 0;
}

bool
emu_replay_run(struct emu_linux *k)
{
	const struct emu_trace *t = k->trace;
	struct replay r = {.k = k, .t = t};
	unsigned wait_s = MOUNT_WAIT_MIN_S;
	uint32_t maxread = 0;
	bool ok = false;
	int i;

	for (i = 0; i < t->ncalls; i++) {
		if (t->calls[i].count > maxread) {
			maxread = t->calls[i].count;
		}
	}
	snprintf(r.server, sizeof(r.server), "%u.%u.%u.%u", k->server >> 24,
	    (k->server >> 16) & 255, (k->server >> 8) & 255, k->server & 255);
	r.conns = calloc((size_t)t->nconns, sizeof(*r.conns));
	r.cslots = calloc((size_t)t->nconns, sizeof(*r.cslots));
	r.slots = calloc((size_t)t->ncalls, sizeof(*r.slots));
	r.done = calloc((size_t)t->ncalls, sizeof(*r.done));
	r.ports = calloc((size_t)t->ncalls, sizeof(*r.ports));
	r.fhs = calloc((size_t)t->nids, sizeof(*r.fhs));
	r.written = calloc((size_t)t->nids, sizeof(*r.written));
	r.dirs = calloc((size_t)t->nids, sizeof(*r.dirs));
	r.buf = malloc(maxread ? maxread : 1);
	r.pfd = calloc((size_t)t->nconns, sizeof(*r.pfd));
	r.pmap = calloc((size_t)t->nconns, sizeof(*r.pmap));
	if (!r.conns || !r.cslots || !r.slots || !r.done || !r.ports ||
	    !r.fhs || !r.written || !r.dirs || !r.buf || !r.pfd || !r.pmap) {
		snprintf(k->why, sizeof(k->why), "replay: out of memory");
		goto out;
	}
	for (i = 0; i < t->ncalls; i++) {
		r.slots[i].r = &r;
		r.slots[i].i = i;
	}
	for (k->mount_tries = 1;; k->mount_tries++) {
		reset(&r);
		if (attempt(&r)) {
			ok = true;
			break;
		}
		/*
		 * A mount that failed is tried again, as the kernel's
		 * nfsroot does; once mounted, a hard mount never gives up,
		 * so the deadline decides.
		 */
		if (r.mount_done || k->mount_tries > MOUNT_RETRIES ||
		    emu_linux_ms() + wait_s * 1000u >= k->deadline) {
			break;
		}
		reset(&r);
		usleep(wait_s * 1000000u);
		wait_s = wait_s * 2 > MOUNT_WAIT_MAX_S ? MOUNT_WAIT_MAX_S
						       : wait_s * 2;
	}
out:
	if (r.conns) {
		for (i = 0; i < t->nconns; i++) {
			conn_close(&r.conns[i]);
		}
	}
	free(r.conns);
	free(r.cslots);
	free(r.slots);
	free(r.done);
	free(r.ports);
	free(r.fhs);
	free(r.written);
	free(r.dirs);
	free(r.buf);
	free(r.pfd);
	free(r.pmap);
	return ok;
}
