/*
 * nfs_trace: turn a packet capture of one NFS client's boot into the text
 * trace that pi_emu replays (tests/data/nfs/README.md describes the format).
 *
 *   nfs_trace -s SERVER [-r EXPORT] [-c CLIENT] CAPTURE.pcap > TRACE
 *
 * It reads a classic pcap file (tcpdump -w, Ethernet), follows every TCP
 * connection and UDP exchange between CLIENT (default: any host) and
 * SERVER, reassembles the RPC records (RFC 5531 §11) and decodes calls
 * and replies with the project's own codecs.  File handles become paths
 * relative to the export EXPORT (default: what the first MNT asked
 * for), named when a reply
 * first hands them out: the MNT reply names "/", a LOOKUP, CREATE, MKDIR,
 * SYMLINK or MKNOD reply names DIR/NAME, a READDIRPLUS entry names
 * DIR/NAME.  So a trace says what the client asked for, in the order it
 * asked, with no server's handles in it, and can be replayed against any
 * server that holds the same tree.
 *
 * A call that uses a handle no reply handed out, a record that does not
 * decode, or a hole in a TCP stream is an error: the capture is not a
 * whole boot, and the trace would be wrong.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cur.h"
#include "nfs_status.h"
#include "proto/mount/mnt.h"
#include "proto/nfs3/nfs3.h"
#include "proto/portmap/pmap.h"
#include "proto/rpc/rpc.h"

#define NFSACL_PROG 100227
/* Largest RPC record we follow: a 1 MiB READ or WRITE and its header. */
#define RECORD_MAX (NFS3_IO_MAX + 4096)
/* WRITE payloads up to this size are kept in the trace; larger ones are
 * replayed as a pattern of the same length. */
#define WRITE_DATA_MAX 1024
#define DIRENT_MAX     8192

static const char *const nfs_proc_names[NFS3_NPROC] = {"NULL", "GETATTR",
    "SETATTR", "LOOKUP", "ACCESS", "READLINK", "READ", "WRITE", "CREATE",
    "MKDIR", "SYMLINK", "MKNOD", "REMOVE", "RMDIR", "RENAME", "LINK", "READDIR",
    "READDIRPLUS", "FSSTAT", "FSINFO", "PATHCONF", "COMMIT"};

static const char *const mnt_proc_names[] = {
    "NULL", "MNT", "DUMP", "UMNT", "UMNTALL", "EXPORT"};

static const char *const pmap_proc_names[] = {
    "NULL", "SET", "UNSET", "GETPORT", "DUMP", "CALLIT"};

/* ---- output text ---- */

/* A growable string for one trace line. */
struct text {
	char *p;
	size_t len, cap;
};

static void
text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p ? t->p + t->len : NULL,
		    t->p ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			abort();
		}
		if (t->p && t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		t->cap = (t->cap + (size_t)n + 1) * 2;
		t->p = realloc(t->p, t->cap);
		if (!t->p) {
			abort();
		}
	}
}

/*
 * Append @s (@n bytes) percent-encoded: anything but letters, digits and
 * "._-+,:@~" (and '/' when @slash) becomes %XX, so names with spaces,
 * '=' or bytes outside ASCII stay one field.
 */
static void
text_enc(struct text *t, const char *s, size_t n, bool slash)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("._-+,:@~", c) ||
		    (slash && c == '/')) {
			text_add(t, "%c", c);
		} else {
			text_add(t, "%%%02X", c);
		}
	}
}

static void
text_hex(struct text *t, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		text_add(t, "%02x", p[i]);
	}
}

/* ---- handles and the names they get ---- */

struct obj {
	struct nfs3_fh fh;
	char *id;     /* path under the export, maybe with #N */
	int named_by; /* call whose READDIRPLUS reply named it, or 0 */
	bool used;    /* a later call used it */
	struct obj *next;
};

struct ids {
	struct obj *head;
	int unknown; /* calls that used handles never handed out */
};

static struct obj *
ids_by_fh(struct ids *ids, const struct nfs3_fh *fh)
{
	struct obj *o;

	for (o = ids->head; o; o = o->next) {
		if (o->fh.len == fh->len &&
		    memcmp(o->fh.data, fh->data, fh->len) == 0) {
			return o;
		}
	}
	return NULL;
}

static bool
ids_taken(struct ids *ids, const char *id)
{
	struct obj *o;

	for (o = ids->head; o; o = o->next) {
		if (strcmp(o->id, id) == 0) {
			return true;
		}
	}
	return false;
}

/*
 * Name @fh: an id it already has, else @path (or path#2, #3... when
 * another handle had that path: a file removed and created again).
 */
static struct obj *
ids_name(
    struct ids *ids, const struct nfs3_fh *fh, const char *path, int named_by)
{
	struct obj *o = ids_by_fh(ids, fh);
	char buf[8192];
	int gen;

	if (o) {
		return o;
	}
	o = calloc(1, sizeof(*o));
	if (!o) {
		abort();
	}
	o->fh = *fh;
	o->named_by = named_by;
	snprintf(buf, sizeof(buf), "%s", path);
	for (gen = 2; ids_taken(ids, buf); gen++) {
		snprintf(buf, sizeof(buf), "%s#%d", path, gen);
	}
	o->id = strdup(buf);
	o->next = ids->head;
	ids->head = o;
	return o;
}

/* The path of DIR/NAME, with "." and ".." folded. */
static void
join(char *out, size_t cap, const char *dir, const char *name)
{
	char d[4096];
	char *hash;

	snprintf(d, sizeof(d), "%s", dir);
	hash = strchr(d, '#');
	if (hash) {
		*hash = 0;
	}
	if (strcmp(name, ".") == 0) {
		snprintf(out, cap, "%s", d);
	} else if (strcmp(name, "..") == 0) {
		char *slash = strrchr(d, '/');

		if (slash && slash != d) {
			*slash = 0;
		} else {
			snprintf(d, sizeof(d), "/");
		}
		snprintf(out, cap, "%s", d);
	} else {
		snprintf(
		    out, cap, "%s%s%s", d, strcmp(d, "/") ? "/" : "", name);
	}
}

/* ---- calls ---- */

struct call {
	int idx, conn;
	uint64_t frame, reply_frame;
	double t;
	uint32_t xid, prog, vers, proc;
	bool replied;
	struct text args, res;
	/* READDIRPLUS: names of entries later calls use */
	struct text names;
	/* for naming what the reply hands out */
	char dir_id[8192];
	char name[NFS3_NAME_MAX + 1];
	struct pmap_mapping getport;
	bool mnt_root; /* MNT of the export itself */
	struct call *next_pending;
};

struct trace {
	char *export;
	struct ids ids;
	struct call **calls;
	size_t ncalls, cap;
	int nconns;
	/* GETPORT answers, to say where a later connection went */
	struct {
		uint16_t port;
		int call;
	} ports[64];
	size_t nports;
	int errors;
};

static void
trace_error(struct trace *tr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "nfs_trace: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	tr->errors++;
}

static void
add_fh(
    struct trace *tr, struct call *c, const char *key, const struct nfs3_fh *fh)
{
	struct obj *o = ids_by_fh(&tr->ids, fh);

	text_add(&c->args, " %s=", key);
	if (!o) {
		tr->ids.unknown++;
		trace_error(
		    tr, "call %d uses a handle no reply handed out", c->idx);
		text_add(&c->args, "?");
		text_hex(&c->args, fh->data, fh->len);
		return;
	}
	o->used = true;
	if (o->named_by) {
		/* Learnt from a READDIRPLUS: the replay must take it from
		 * there too. */
		struct call *by = tr->calls[o->named_by - 1];
		const char *base = strrchr(o->id, '/');

		text_add(&by->names, "%s", by->names.len ? "/" : "");
		text_enc(&by->names, base + 1, strlen(base + 1), false);
		o->named_by = 0;
	}
	text_enc(&c->args, o->id, strlen(o->id), true);
}

static void
add_name(struct call *c, const char *key, const char *name)
{
	text_add(&c->args, " %s=", key);
	text_enc(&c->args, name, strlen(name), false);
}

static void
add_time(
    struct text *t, const char *key, uint32_t how, const struct nfs3_time *v)
{
	if (how == NFS3_SET_TO_SERVER_TIME) {
		text_add(t, " %s=server", key);
	} else if (how == NFS3_SET_TO_CLIENT_TIME) {
		text_add(t, " %s=%u.%09u", key, v->sec, v->nsec);
	}
}

static void
add_sattr(struct call *c, const struct nfs3_sattr *s)
{
	if (s->set_mode) {
		text_add(&c->args, " mode=%04o", s->mode);
	}
	if (s->set_uid) {
		text_add(&c->args, " uid=%u", s->uid);
	}
	if (s->set_gid) {
		text_add(&c->args, " gid=%u", s->gid);
	}
	if (s->set_size) {
		text_add(&c->args, " size=%llu", (unsigned long long)s->size);
	}
	add_time(&c->args, "atime", s->set_atime, &s->atime);
	add_time(&c->args, "mtime", s->set_mtime, &s->mtime);
}

/* The arguments of an NFS call, as the trace writes them. */
static int
nfs_args(struct trace *tr, struct call *c, const uint8_t *p, size_t n)
{
	static struct nfs3_args a;
	int r = nfs3_args_parse(c->proc, p, n, &a);

	if (r < 0) {
		return r;
	}
	switch (c->proc) {
	case NFS3_PROC_NULL:
		break;
	case NFS3_PROC_GETATTR:
	case NFS3_PROC_READLINK:
	case NFS3_PROC_FSSTAT:
	case NFS3_PROC_FSINFO:
	case NFS3_PROC_PATHCONF:
		add_fh(tr, c, "fh", &a.fh);
		break;
	case NFS3_PROC_SETATTR:
		add_fh(tr, c, "fh", &a.fh);
		add_sattr(c, &a.sattr);
		if (a.guard_check) {
			text_add(&c->args, " guard=%u.%09u", a.guard_ctime.sec,
			    a.guard_ctime.nsec);
		}
		break;
	case NFS3_PROC_ACCESS:
		add_fh(tr, c, "fh", &a.fh);
		text_add(&c->args, " access=0x%02x", a.access);
		break;
	case NFS3_PROC_READ:
	case NFS3_PROC_COMMIT:
		add_fh(tr, c, "fh", &a.fh);
		text_add(&c->args, " off=%llu count=%u",
		    (unsigned long long)a.offset, a.count);
		break;
	case NFS3_PROC_WRITE:
		add_fh(tr, c, "fh", &a.fh);
		text_add(&c->args, " off=%llu count=%u stable=%u",
		    (unsigned long long)a.offset, a.count, a.stable);
		if (a.data_len <= WRITE_DATA_MAX) {
			text_add(&c->args, " data=");
			text_hex(&c->args, a.data, a.data_len);
		}
		break;
	case NFS3_PROC_LOOKUP:
	case NFS3_PROC_CREATE:
	case NFS3_PROC_MKDIR:
	case NFS3_PROC_SYMLINK:
	case NFS3_PROC_MKNOD:
	case NFS3_PROC_REMOVE:
	case NFS3_PROC_RMDIR:
		add_fh(tr, c, "dir", &a.where.dir);
		add_name(c, "name", a.where.name);
		snprintf(c->name, sizeof(c->name), "%s", a.where.name);
		{
			struct obj *o = ids_by_fh(&tr->ids, &a.where.dir);

			snprintf(c->dir_id, sizeof(c->dir_id), "%s",
			    o ? o->id : "?");
		}
		if (c->proc == NFS3_PROC_CREATE) {
			static const char *const how[] = {
			    "unchecked", "guarded", "exclusive"};

			text_add(&c->args, " how=%s",
			    a.createmode < 3 ? how[a.createmode] : "?");
			if (a.createmode == NFS3_EXCLUSIVE) {
				text_add(&c->args, " verf=");
				text_hex(&c->args, a.verf, sizeof(a.verf));
			} else {
				add_sattr(c, &a.sattr);
			}
		} else if (c->proc == NFS3_PROC_MKDIR) {
			add_sattr(c, &a.sattr);
		} else if (c->proc == NFS3_PROC_SYMLINK) {
			add_sattr(c, &a.sattr);
			text_add(&c->args, " target=");
			text_enc(&c->args, a.path, strlen(a.path), true);
		} else if (c->proc == NFS3_PROC_MKNOD) {
			text_add(&c->args, " type=%u", a.ftype);
			add_sattr(c, &a.sattr);
			if (a.ftype == NF3CHR || a.ftype == NF3BLK) {
				text_add(&c->args, " rdev=%u:%u", a.rdev_major,
				    a.rdev_minor);
			}
		}
		break;
	case NFS3_PROC_RENAME:
		add_fh(tr, c, "dir", &a.where.dir);
		add_name(c, "name", a.where.name);
		add_fh(tr, c, "todir", &a.to.dir);
		add_name(c, "toname", a.to.name);
		break;
	case NFS3_PROC_LINK:
		add_fh(tr, c, "fh", &a.fh);
		add_fh(tr, c, "todir", &a.where.dir);
		add_name(c, "toname", a.where.name);
		break;
	case NFS3_PROC_READDIR:
	case NFS3_PROC_READDIRPLUS: {
		static const uint8_t zero[NFS3_VERF_SIZE];
		struct obj *o;

		add_fh(tr, c, "fh", &a.fh);
		o = ids_by_fh(&tr->ids, &a.fh);
		snprintf(c->dir_id, sizeof(c->dir_id), "%s", o ? o->id : "?");
		/* Cookies are the server's own: the replay continues from
		 * where its own previous reply for the directory ended. */
		text_add(&c->args, " cookie=%s verf=%s",
		    a.cookie ? "next" : "0",
		    memcmp(a.verf, zero, sizeof(zero)) ? "last" : "0");
		if (c->proc == NFS3_PROC_READDIR) {
			text_add(&c->args, " count=%u", a.count);
		} else {
			text_add(&c->args, " dircount=%u maxcount=%u", a.count,
			    a.maxcount);
		}
		break;
	}
	default:
		return -EOPNOTSUPP;
	}
	return 0;
}

/* The result of an NFS call; names what it hands out. */
static int
nfs_res(struct trace *tr, struct call *c, const uint8_t *p, size_t n)
{
	static struct nfs3_res r;
	static struct nfs3_dirent ents[DIRENT_MAX];
	char path[8192];
	struct obj *o;
	size_t i;
	int e = nfs3_res_parse(c->proc, p, n, &r, ents, DIRENT_MAX);

	if (e < 0) {
		return e;
	}
	if (nfs_status_name(r.status)) {
		text_add(&c->res, "%s", nfs_status_name(r.status));
	} else {
		text_add(&c->res, "%u", r.status);
	}
	if (r.status != NFS3_OK) {
		return 0;
	}
	switch (c->proc) {
	case NFS3_PROC_LOOKUP:
	case NFS3_PROC_CREATE:
	case NFS3_PROC_MKDIR:
	case NFS3_PROC_SYMLINK:
	case NFS3_PROC_MKNOD:
		if (!r.has_fh) {
			/* CREATE may leave the handle out; the client then
			 * LOOKUPs it. */
			break;
		}
		join(path, sizeof(path), c->dir_id, c->name);
		o = ids_name(&tr->ids, &r.fh, path, 0);
		text_add(&c->res, " obj=");
		text_enc(&c->res, o->id, strlen(o->id), true);
		break;
	case NFS3_PROC_READ:
		text_add(&c->res, " count=%u eof=%d", r.count, r.eof);
		break;
	case NFS3_PROC_WRITE:
		text_add(
		    &c->res, " count=%u committed=%u", r.count, r.committed);
		break;
	case NFS3_PROC_READLINK:
		text_add(&c->res, " target=");
		text_enc(&c->res, (const char *)r.data, r.data_len, true);
		break;
	case NFS3_PROC_READDIR:
	case NFS3_PROC_READDIRPLUS:
		text_add(&c->res, " entries=%zu eof=%d", r.nentries, r.eof);
		for (i = 0; i < r.nentries; i++) {
			char name[NFS3_NAME_MAX + 1];

			if (!ents[i].has_fh) {
				continue;
			}
			snprintf(name, sizeof(name), "%.*s",
			    (int)ents[i].namelen, ents[i].name);
			if (!strcmp(name, ".") || !strcmp(name, "..")) {
				continue;
			}
			join(path, sizeof(path), c->dir_id, name);
			(void)ids_name(&tr->ids, &ents[i].fh, path, c->idx);
		}
		break;
	default:
		break;
	}
	return 0;
}

static int
call_args(struct trace *tr, struct call *c, const struct rpc_call *rc)
{
	struct cur cu;
	char path[MNT_PATH_MAX + 1];
	size_t elen;

	if (rc->prog == NFS3_PROG && rc->vers == NFS3_VERS) {
		text_add(&c->args, " nfs3 %s",
		    rc->proc < NFS3_NPROC ? nfs_proc_names[rc->proc] : "?");
		return nfs_args(tr, c, rc->args, rc->args_len);
	}
	if (rc->prog == MNT_PROG && rc->vers == MNT_VERS) {
		text_add(&c->args, " mnt3 %s",
		    rc->proc < 6 ? mnt_proc_names[rc->proc] : "?");
		if (rc->proc != MNT_PROC_MNT && rc->proc != MNT_PROC_UMNT) {
			return 0;
		}
		if (mnt_dirpath_parse(rc->args, rc->args_len, path) < 0) {
			return -EBADMSG;
		}
		if (!tr->export) {
			tr->export = strdup(path);
		}
		elen = strlen(tr->export);
		if (strncmp(path, tr->export, elen) != 0 ||
		    (path[elen] != 0 && path[elen] != '/')) {
			trace_error(tr, "MNT of %s, not under the export %s",
			    path, tr->export);
			return -EINVAL;
		}
		c->mnt_root = path[elen] == 0;
		text_add(&c->args, " path=$ROOT");
		text_enc(&c->args, path + elen, strlen(path + elen), true);
		return 0;
	}
	if (rc->prog == PMAP_PROG && rc->vers == PMAP_VERS) {
		text_add(&c->args, " pmap2 %s",
		    rc->proc < 6 ? pmap_proc_names[rc->proc] : "?");
		if (rc->proc != PMAP_PROC_GETPORT) {
			return 0;
		}
		if (pmap_mapping_parse(rc->args, rc->args_len, &c->getport) <
		    0) {
			return -EBADMSG;
		}
		text_add(&c->args, " prog=%u vers=%u prot=%u", c->getport.prog,
		    c->getport.vers, c->getport.prot);
		return 0;
	}
	if (rc->prog == NFSACL_PROG) {
		/* The Linux client's ACL probe: GETACL(fh, mask). */
		struct nfs3_fh fh = {0};
		const uint8_t *d;
		size_t len;
		uint32_t mask;

		text_add(&c->args, " nfsacl%u %u", rc->vers, rc->proc);
		if (rc->proc != 1) {
			return 0;
		}
		cu = cur_init(rc->args, rc->args_len);
		d = rpc_get_opaque(&cu, NFS3_FH_MAX, &len);
		mask = rpc_get_u32(&cu);
		if (cur_end(&cu, false) < 0) {
			return -EBADMSG;
		}
		fh.len = (uint32_t)len;
		memcpy(fh.data, d, len);
		add_fh(tr, c, "fh", &fh);
		text_add(&c->args, " mask=0x%x", mask);
		return 0;
	}
	text_add(&c->args, " prog%u/%u %u", rc->prog, rc->vers, rc->proc);
	return 0;
}

static void
call_auth(struct call *c, const struct rpc_call *rc)
{
	struct rpc_auth_sys as;
	uint32_t i;

	if (rc->cred.flavor == RPC_AUTH_NONE) {
		text_add(&c->args, " auth=none");
		return;
	}
	if (rc->cred.flavor != RPC_AUTH_SYS ||
	    rpc_auth_sys_parse(rc->cred.body, rc->cred.len, &as) < 0) {
		text_add(&c->args, " auth=%u", rc->cred.flavor);
		return;
	}
	text_add(&c->args, " auth=sys:");
	text_enc(&c->args, as.machine, strlen(as.machine), false);
	text_add(&c->args, ":%u:%u", as.uid, as.gid);
	for (i = 0; i < as.ngids; i++) {
		text_add(&c->args, "%s%u", i ? "," : ":", as.gids[i]);
	}
}

static void
reply_res(struct trace *tr, struct call *c, const struct rpc_reply *rr)
{
	static const char *const accept[] = {"ok", "prog_unavail",
	    "prog_mismatch", "proc_unavail", "garbage_args", "system_err"};
	int e = 0;

	if (rr->reply_stat != RPC_MSG_ACCEPTED) {
		text_add(&c->res, "denied:%u", rr->stat);
		return;
	}
	if (rr->stat != RPC_SUCCESS) {
		text_add(&c->res, "%s", rr->stat < 6 ? accept[rr->stat] : "?");
		return;
	}
	if (c->prog == NFS3_PROG && c->vers == NFS3_VERS) {
		e = nfs_res(tr, c, rr->res, rr->res_len);
	} else if (c->prog == MNT_PROG && c->proc == MNT_PROC_MNT) {
		uint8_t fh[MNT_FH_MAX];
		size_t fhlen = 0;
		uint32_t stat;

		e = mnt_mnt_parse(rr->res, rr->res_len, &stat, fh, &fhlen);
		if (e == 0 && stat == MNT3_OK) {
			struct nfs3_fh h = {.len = (uint32_t)fhlen};
			struct obj *o;

			memcpy(h.data, fh, fhlen);
			o = ids_name(&tr->ids, &h, c->mnt_root ? "/" : "?", 0);
			text_add(&c->res, "OK obj=");
			text_enc(&c->res, o->id, strlen(o->id), true);
		} else if (e == 0) {
			text_add(&c->res, "mnt:%u", stat);
		}
	} else if (c->prog == PMAP_PROG && c->proc == PMAP_PROC_GETPORT) {
		struct cur cu = cur_init(rr->res, rr->res_len);
		uint32_t port = rpc_get_u32(&cu);

		e = cur_end(&cu, false);
		if (e == 0) {
			text_add(&c->res, "ok port=%u", port);
			if (tr->nports < 64) {
				tr->ports[tr->nports].port = (uint16_t)port;
				tr->ports[tr->nports].call = c->idx;
				tr->nports++;
			}
		}
	} else {
		text_add(&c->res, "ok");
	}
	if (e < 0) {
		trace_error(tr, "reply to call %d does not decode: %s", c->idx,
		    strerror(-e));
	}
}

/* ---- connections ---- */

struct seg {
	uint32_t seq;
	uint8_t *data;
	size_t len;
	uint64_t frame;
	struct seg *next;
};

struct half {
	bool started;
	uint32_t next; /* next sequence number expected */
	struct seg *ooo;
	struct rpc_rm rm;
};

struct flow {
	uint32_t cip, sip;
	uint16_t cport, sport;
	bool tcp;
	int conn;             /* trace id once a call was seen */
	struct half up, down; /* client to server, server to client */
	struct call *pending;
	struct flow *next;
};

struct capture {
	struct trace *tr;
	uint32_t server, client;
	struct flow *flows;
	uint64_t frame;
	double t0, t;
	struct text conn_lines[256];
};

static struct flow *
flow_find(
    struct capture *cap, uint32_t cip, uint16_t cport, uint16_t sport, bool tcp)
{
	struct flow *f;

	for (f = cap->flows; f; f = f->next) {
		if (f->cip == cip && f->cport == cport && f->sport == sport &&
		    f->tcp == tcp) {
			return f;
		}
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		abort();
	}
	f->cip = cip;
	f->sip = cap->server;
	f->cport = cport;
	f->sport = sport;
	f->tcp = tcp;
	rpc_rm_init(&f->up.rm, RECORD_MAX);
	rpc_rm_init(&f->down.rm, RECORD_MAX);
	f->next = cap->flows;
	cap->flows = f;
	return f;
}

/* The trace's connection id for @f, written when its first call is. */
static int
flow_conn(struct capture *cap, struct flow *f)
{
	struct trace *tr = cap->tr;
	struct text *t;
	size_t i;
	int via = 0;

	if (f->conn) {
		return f->conn;
	}
	f->conn = ++tr->nconns;
	if (f->conn > 256) {
		trace_error(tr, "more than 256 connections");
		f->conn = 256;
		return f->conn;
	}
	for (i = 0; i < tr->nports; i++) {
		if (tr->ports[i].port == f->sport) {
			via = tr->ports[i].call;
		}
	}
	t = &cap->conn_lines[f->conn - 1];
	text_add(t, "conn %d %s %s ", f->conn, f->tcp ? "tcp" : "udp",
	    f->cport < 1024 ? "resv" : "any");
	if (via) {
		text_add(t, "getport:%d", via);
	} else {
		text_add(t, "%u", f->sport);
	}
	return f->conn;
}

static struct call *
call_new(struct capture *cap, struct flow *f, const struct rpc_call *rc)
{
	struct trace *tr = cap->tr;
	struct call *c = calloc(1, sizeof(*c));

	if (!c) {
		abort();
	}
	if (tr->ncalls == tr->cap) {
		tr->cap = tr->cap ? tr->cap * 2 : 256;
		tr->calls = realloc(tr->calls, tr->cap * sizeof(*tr->calls));
		if (!tr->calls) {
			abort();
		}
	}
	if (tr->ncalls == 0) {
		/* Times count from the first call. */
		cap->t0 = cap->t;
	}
	tr->calls[tr->ncalls++] = c;
	c->idx = (int)tr->ncalls;
	c->conn = flow_conn(cap, f);
	c->frame = cap->frame;
	c->t = cap->t - cap->t0;
	c->xid = rc->xid;
	c->prog = rc->prog;
	c->vers = rc->vers;
	c->proc = rc->proc;
	return c;
}

/* One whole record (or datagram) from the client (@up) or the server. */
static void
record(struct capture *cap, struct flow *f, bool up, const uint8_t *p, size_t n)
{
	struct trace *tr = cap->tr;

	if (up) {
		struct rpc_call rc;
		struct call *c;
		int e = rpc_call_parse(p, n, &rc);

		if (e < 0) {
			trace_error(tr,
			    "frame %llu: a record from the client "
			    "is not an RPC call: %s",
			    (unsigned long long)cap->frame, strerror(-e));
			return;
		}
		c = call_new(cap, f, &rc);
		e = call_args(tr, c, &rc);
		if (e < 0) {
			trace_error(tr, "call %d: arguments do not decode: %s",
			    c->idx, strerror(-e));
		}
		call_auth(c, &rc);
		c->next_pending = f->pending;
		f->pending = c;
	} else {
		struct rpc_reply rr;
		struct call **pp;
		int e = rpc_reply_parse(p, n, &rr);

		if (e < 0) {
			trace_error(tr,
			    "frame %llu: a record from the server "
			    "is not an RPC reply",
			    (unsigned long long)cap->frame);
			return;
		}
		for (pp = &f->pending; *pp; pp = &(*pp)->next_pending) {
			if ((*pp)->xid == rr.xid) {
				break;
			}
		}
		if (!*pp) {
			trace_error(tr,
			    "frame %llu: reply to no call (xid %08x)",
			    (unsigned long long)cap->frame, rr.xid);
			return;
		}
		(*pp)->replied = true;
		(*pp)->reply_frame = cap->frame;
		reply_res(tr, *pp, &rr);
		*pp = (*pp)->next_pending;
	}
}

static void
feed(struct capture *cap, struct flow *f, bool up, const uint8_t *p, size_t n)
{
	struct half *h = up ? &f->up : &f->down;

	while (n) {
		size_t used = 0;
		int r = rpc_rm_feed(&h->rm, p, n, &used);

		p += used;
		n -= used;
		if (r < 0) {
			trace_error(cap->tr, "frame %llu: record marking: %s",
			    (unsigned long long)cap->frame, strerror(-r));
			return;
		}
		if (r == 1) {
			size_t len;
			uint8_t *rec = rpc_rm_take(&h->rm, &len);

			record(cap, f, up, rec, len);
			free(rec);
		}
	}
}

/* TCP payload at @seq: deliver what is next in order, keep what is early. */
static void
tcp_data(struct capture *cap, struct flow *f, bool up, uint32_t seq,
    const uint8_t *p, size_t n)
{
	struct half *h = up ? &f->up : &f->down;
	struct seg *s, **pp;
	bool again = true;

	if (!h->started) {
		/* Joined mid-stream: not a whole boot. */
		trace_error(cap->tr, "frame %llu: data before the SYN",
		    (unsigned long long)cap->frame);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->data = malloc(n))) {
		abort();
	}
	memcpy(s->data, p, n);
	s->seq = seq;
	s->len = n;
	s->next = h->ooo;
	h->ooo = s;
	while (again) {
		again = false;
		for (pp = &h->ooo; *pp; pp = &(*pp)->next) {
			int32_t d = (int32_t)(h->next - (*pp)->seq);

			s = *pp;
			if (d < 0) {
				continue;
			}
			*pp = s->next;
			if ((size_t)d < s->len) {
				/* New bytes (a retransmission may overlap
				 * what was delivered). */
				h->next += (uint32_t)(s->len - (size_t)d);
				feed(cap, f, up, s->data + d,
				    s->len - (size_t)d);
			}
			free(s->data);
			free(s);
			again = true;
			break;
		}
	}
}

static void
packet(struct capture *cap, const uint8_t *p, size_t n)
{
	struct cur c = cur_init(p, n), ip;
	uint32_t src, dst;
	uint16_t sport, dport, tot;
	uint8_t vihl, proto;
	size_t ihl;
	bool up;
	struct flow *f;

	cur_skip(&c, 12);
	if (cur_be16(&c) != 0x0800) {
		return;
	}
	vihl = cur_u8(&c);
	ihl = (size_t)(vihl & 15) * 4;
	cur_skip(&c, 1);
	tot = cur_be16(&c);
	if (c.err || (vihl >> 4) != 4 || ihl < 20) {
		return;
	}
	c.off -= 4;
	/* GSO frames may carry tot_len 0: the capture has the length. */
	ip = cur_sub(&c, tot ? tot : cur_left(&c));
	cur_skip(&ip, 9);
	proto = cur_u8(&ip);
	cur_skip(&ip, 2);
	src = cur_be32(&ip);
	dst = cur_be32(&ip);
	cur_skip(&ip, ihl - 20);
	sport = cur_be16(&ip);
	dport = cur_be16(&ip);
	if (ip.err || (proto != 6 && proto != 17)) {
		return;
	}
	if (dst == cap->server && (!cap->client || src == cap->client)) {
		up = true;
	} else if (src == cap->server && (!cap->client || dst == cap->client)) {
		up = false;
	} else {
		return;
	}
	if (proto == 17) {
		uint16_t ulen;
		uint16_t srv = up ? dport : sport;

		/* DHCP and TFTP are not RPC; RPC over UDP goes to the
		 * portmapper, NFS or a port the portmapper handed out. */
		if (srv == 67 || srv == 68 || srv == 69) {
			return;
		}
		ulen = cur_be16(&ip);
		cur_skip(&ip, 2);
		if (ip.err || ulen < 8 || ulen - 8u > cur_left(&ip)) {
			return;
		}
		f = flow_find(
		    cap, up ? src : dst, up ? sport : dport, srv, false);
		record(cap, f, up, cur_peek(&ip), ulen - 8u);
		return;
	}
	{
		uint32_t seq = cur_be32(&ip);
		uint8_t off, flags;

		cur_skip(&ip, 4);
		off = cur_u8(&ip);
		flags = cur_u8(&ip);
		cur_skip(&ip, (size_t)(off >> 4) * 4 - 14);
		if (ip.err) {
			return;
		}
		f = flow_find(cap, up ? src : dst, up ? sport : dport,
		    up ? dport : sport, true);
		if (flags & 0x02) { /* SYN */
			struct half *h = up ? &f->up : &f->down;

			h->started = true;
			h->next = seq + 1;
			return;
		}
		if (cur_left(&ip)) {
			tcp_data(cap, f, up, seq, cur_peek(&ip), cur_left(&ip));
		}
	}
}

/* Classic pcap (not pcapng), microsecond or nanosecond stamps, either
 * byte order, Ethernet link type. */
static int
read_pcap(struct capture *cap, const uint8_t *p, size_t n)
{
	struct cur c = cur_init(p, n);
	uint32_t magic = cur_le32(&c), link;
	bool le = magic == 0xa1b2c3d4 || magic == 0xa1b23c4d;
	bool ns = magic == 0xa1b23c4d || magic == 0x4d3cb2a1;

	if (!le && magic != 0xd4c3b2a1 && magic != 0x4d3cb2a1) {
		fprintf(stderr,
		    "nfs_trace: not a pcap file (pcapng is not "
		    "read: capture with tcpdump -w)\n");
		return -1;
	}
	cur_skip(&c, 16);
	link = le ? cur_le32(&c) : cur_be32(&c);
	if (c.err || link != 1) {
		fprintf(
		    stderr, "nfs_trace: link type %u, not Ethernet\n", link);
		return -1;
	}
	while (cur_left(&c)) {
		uint32_t sec = le ? cur_le32(&c) : cur_be32(&c);
		uint32_t frac = le ? cur_le32(&c) : cur_be32(&c);
		uint32_t incl = le ? cur_le32(&c) : cur_be32(&c);
		uint32_t orig = le ? cur_le32(&c) : cur_be32(&c);
		const uint8_t *d = cur_bytes(&c, incl);

		if (c.err) {
			fprintf(stderr, "nfs_trace: capture cut short\n");
			return -1;
		}
		if (incl != orig) {
			trace_error(cap->tr,
			    "frame %llu was cut to %u of %u bytes "
			    "(capture with -s 0)",
			    (unsigned long long)cap->frame + 1, incl, orig);
		}
		cap->frame++;
		cap->t = sec + frac / (ns ? 1e9 : 1e6);
		packet(cap, d, incl);
	}
	return 0;
}

/* Bytes still waiting for a segment that never came: a hole. */
static void
check_holes(struct capture *cap)
{
	struct flow *f;

	for (f = cap->flows; f; f = f->next) {
		if (f->up.ooo || f->down.ooo) {
			trace_error(cap->tr,
			    "connection from port %u: a segment is missing "
			    "from the capture",
			    f->cport);
		}
	}
}

static int
by_reply_frame(const void *a, const void *b)
{
	const struct call *x = *(struct call *const *)a;
	const struct call *y = *(struct call *const *)b;

	return x->reply_frame < y->reply_frame ? -1
	    : x->reply_frame > y->reply_frame  ? 1
					       : 0;
}

static void
write_trace(struct capture *cap, const char *src)
{
	struct trace *tr = cap->tr;
	struct call **by_reply;
	size_t i, r = 0, nr = 0;
	int written = 0;
	unsigned procs[NFS3_NPROC] = {0};

	by_reply = calloc(tr->ncalls + 1, sizeof(*by_reply));
	for (i = 0; i < tr->ncalls; i++) {
		if (tr->calls[i]->replied) {
			by_reply[nr++] = tr->calls[i];
		}
		if (tr->calls[i]->prog == NFS3_PROG &&
		    tr->calls[i]->proc < NFS3_NPROC) {
			procs[tr->calls[i]->proc]++;
		}
	}
	qsort(by_reply, nr, sizeof(*by_reply), by_reply_frame);
	printf("# pinetboot NFS boot trace, format 1 "
	       "(tests/data/nfs/README.md)\n");
	printf("# decoded by tests/tools/nfs_trace from %s\n", src);
	printf("# %zu calls over %d connections in %.3f s;", tr->ncalls,
	    tr->nconns, tr->ncalls ? tr->calls[tr->ncalls - 1]->t : 0.0);
	for (i = 0; i < NFS3_NPROC; i++) {
		if (procs[i]) {
			printf(" %s %u", nfs_proc_names[i], procs[i]);
		}
	}
	printf("\n");
	for (i = 0; i < tr->ncalls; i++) {
		struct call *c = tr->calls[i];
		bool first = true;

		if (c->conn > written) {
			printf("%s\n", cap->conn_lines[c->conn - 1].p);
			written = c->conn;
		}
		printf("%d %d %.3f ", c->idx, c->conn, c->t);
		while (r < nr && by_reply[r]->reply_frame < c->frame) {
			printf("%s%d", first ? "" : ",", by_reply[r]->idx);
			first = false;
			r++;
		}
		printf("%s%s =>", first ? "-" : "", c->args.p ? c->args.p : "");
		if (c->replied) {
			printf(" %s", c->res.p ? c->res.p : "");
			if (c->names.len) {
				printf(" names=%s", c->names.p);
			}
		} else {
			printf(" none");
		}
		printf("\n");
	}
	free(by_reply);
}

static void
half_fini(struct half *h)
{
	while (h->ooo) {
		struct seg *s = h->ooo;

		h->ooo = s->next;
		free(s->data);
		free(s);
	}
	rpc_rm_fini(&h->rm);
}

static void
capture_fini(struct capture *cap)
{
	struct trace *tr = cap->tr;
	size_t i;

	while (cap->flows) {
		struct flow *f = cap->flows;

		cap->flows = f->next;
		half_fini(&f->up);
		half_fini(&f->down);
		free(f);
	}
	while (tr->ids.head) {
		struct obj *o = tr->ids.head;

		tr->ids.head = o->next;
		free(o->id);
		free(o);
	}
	for (i = 0; i < tr->ncalls; i++) {
		free(tr->calls[i]->args.p);
		free(tr->calls[i]->res.p);
		free(tr->calls[i]->names.p);
		free(tr->calls[i]);
	}
	for (i = 0; i < sizeof(cap->conn_lines) / sizeof(cap->conn_lines[0]);
	     i++) {
		free(cap->conn_lines[i].p);
	}
	free(tr->calls);
	free(tr->export);
}

int
main(int argc, char **argv)
{
	struct trace tr = {0};
	struct capture cap = {.tr = &tr};
	struct in_addr a;
	uint8_t *buf = NULL;
	size_t len = 0, cap_n = 0;
	FILE *f;
	int c;

	while ((c = getopt(argc, argv, "s:c:r:")) != -1) {
		switch (c) {
		case 's':
		case 'c':
			if (inet_pton(AF_INET, optarg, &a) != 1) {
				fprintf(stderr, "nfs_trace: bad address %s\n",
				    optarg);
				return 2;
			}
			if (c == 's') {
				cap.server = ntohl(a.s_addr);
			} else {
				cap.client = ntohl(a.s_addr);
			}
			break;
		case 'r':
			tr.export = strdup(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1 || !cap.server) {
		goto usage;
	}
	f = fopen(argv[optind], "rb");
	if (!f) {
		perror(argv[optind]);
		return 2;
	}
	for (;;) {
		size_t got;

		if (len == cap_n) {
			cap_n = cap_n ? cap_n * 2 : 1 << 20;
			buf = realloc(buf, cap_n);
			if (!buf) {
				abort();
			}
		}
		got = fread(buf + len, 1, cap_n - len, f);
		if (got == 0) {
			break;
		}
		len += got;
	}
	fclose(f);
	if (read_pcap(&cap, buf, len) == 0) {
		const char *base = strrchr(argv[optind], '/');

		check_holes(&cap);
		write_trace(&cap, base ? base + 1 : argv[optind]);
		if (tr.ncalls == 0) {
			fprintf(stderr,
			    "nfs_trace: no RPC calls to the "
			    "server\n");
			tr.errors++;
		}
	} else {
		tr.errors++;
	}
	free(buf);
	capture_fini(&cap);
	return tr.errors ? 1 : 0;
usage:
	fprintf(stderr,
	    "usage: nfs_trace -s SERVER [-r EXPORT] [-c CLIENT] "
	    "CAPTURE.pcap\n");
	return 2;
}
