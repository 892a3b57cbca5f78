/*
 * Reading an NFS boot trace (tests/data/README.md).  Every line is
 * checked here, once, so the replay of hundreds of Pis never meets a
 * surprise: an unknown procedure, an object used before a reply named it,
 * or a dependency on a call that comes later is an error with its line.
 */
#include "trace.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const nfs_procs[] = {"NULL", "GETATTR", "SETATTR", "LOOKUP",
    "ACCESS", "READLINK", "READ", "WRITE", "CREATE", "MKDIR", "SYMLINK",
    "MKNOD", "REMOVE", "RMDIR", "RENAME", "LINK", "READDIR", "READDIRPLUS",
    "FSSTAT", "FSINFO", "PATHCONF", "COMMIT", NULL};
static const char *const mnt_procs[] = {
    "NULL", "MNT", "DUMP", "UMNT", "UMNTALL", "EXPORT", NULL};
static const char *const pmap_procs[] = {
    "NULL", "SET", "UNSET", "GETPORT", "DUMP", "CALLIT", NULL};

struct loader {
	struct emu_trace *t;
	const char *path;
	int line;
	char *err;
	size_t errlen;
	bool failed;
};

static bool
bad(struct loader *ld, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ld->failed) {
		return false;
	}
	ld->failed = true;
	n = snprintf(ld->err, ld->errlen, "%s:%d: ", ld->path, ld->line);
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < ld->errlen) {
		vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
	}
	va_end(ap);
	return false;
}

/* Keep @p until emu_trace_free(). */
static void *
own(struct loader *ld, void *p)
{
	struct emu_trace *t = ld->t;

	if (!p) {
		abort();
	}
	if (t->nowned == t->capowned) {
		t->capowned = t->capowned ? t->capowned * 2 : 256;
		t->owned = realloc(t->owned, t->capowned * sizeof(*t->owned));
		if (!t->owned) {
			abort();
		}
	}
	t->owned[t->nowned++] = p;
	return p;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

/* Undo the %XX encoding of names and paths; NULL when malformed. */
static char *
pct_decode(struct loader *ld, const char *s)
{
	char *out = own(ld, malloc(strlen(s) + 1)), *o = out;

	while (*s) {
		if (*s == '%') {
			int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);

			if (lo < 0 || (hi == 0 && lo == 0)) {
				bad(ld, "bad %%-escape in \"%s\"", s);
				return NULL;
			}
			*o++ = (char)(hi * 16 + lo);
			s += 3;
		} else {
			*o++ = *s++;
		}
	}
	*o = 0;
	return out;
}

static uint8_t *
hex_decode(struct loader *ld, const char *s, size_t *len)
{
	size_t n = strlen(s), i;
	uint8_t *out;

	if (n % 2) {
		bad(ld, "odd number of hex digits");
		return NULL;
	}
	out = own(ld, malloc(n / 2 + 1));
	for (i = 0; i < n / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			bad(ld, "bad hex \"%s\"", s);
			return NULL;
		}
		out[i] = (uint8_t)(hi * 16 + lo);
	}
	*len = n / 2;
	return out;
}

static bool
num(struct loader *ld, const char *s, uint64_t max, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *v > max) {
		return bad(ld, "bad number \"%s\"", s);
	}
	return true;
}

static bool
u32(struct loader *ld, const char *s, uint32_t *v)
{
	uint64_t x;

	if (!num(ld, s, UINT32_MAX, &x)) {
		return false;
	}
	*v = (uint32_t)x;
	return true;
}

/* The index of object @path, added if new. */
static int
intern(struct loader *ld, const char *enc)
{
	struct emu_trace *t = ld->t;
	char *path = pct_decode(ld, enc);
	int i;

	if (!path) {
		return -1;
	}
	if (path[0] != '/') {
		bad(ld, "object \"%s\" is not a path under the export", path);
		return -1;
	}
	for (i = 0; i < t->nids; i++) {
		if (strcmp(t->ids[i], path) == 0) {
			return i;
		}
	}
	if (t->nids % 64 == 0) {
		t->ids =
		    realloc(t->ids, (size_t)(t->nids + 64) * sizeof(char *));
		if (!t->ids) {
			abort();
		}
	}
	t->ids[t->nids] = path;
	return t->nids++;
}

/* An object used as an argument: a reply must have named it before. */
static int
use(struct loader *ld, const char *enc, const bool *named)
{
	int id = intern(ld, enc);

	if (id >= 0 && !named[id]) {
		bad(ld, "object %s used before any reply named it", enc);
		return -1;
	}
	return id;
}

static int
proc_index(const char *const *names, const char *s)
{
	int i;

	for (i = 0; names[i]; i++) {
		if (strcmp(names[i], s) == 0) {
			return i;
		}
	}
	return -1;
}

static bool
parse_time(
    struct loader *ld, const char *v, int *how, uint32_t *s, uint32_t *ns)
{
	unsigned a, b;
	char tail;

	if (strcmp(v, "server") == 0) {
		*how = 1;
		return true;
	}
	if (sscanf(v, "%u.%u%c", &a, &b, &tail) != 2) {
		return bad(ld, "bad time \"%s\"", v);
	}
	*how = 2;
	*s = a;
	*ns = b;
	return true;
}

static bool
parse_auth(struct loader *ld, struct emu_tcall *c, char *v)
{
	char *host, *rest, *gids;

	if (strcmp(v, "none") == 0) {
		return true;
	}
	if (strncmp(v, "sys:", 4) != 0) {
		return bad(ld, "auth \"%s\" is neither none nor sys", v);
	}
	host = v + 4;
	rest = strchr(host, ':');
	if (!rest) {
		return bad(ld, "auth=sys:HOST:UID:GID[:GIDS]");
	}
	*rest++ = 0;
	c->auth_sys = true;
	c->host = pct_decode(ld, host);
	if (sscanf(rest, "%u:%u", &c->uid, &c->gid) != 2) {
		return bad(ld, "auth=sys:HOST:UID:GID[:GIDS]");
	}
	gids = strchr(rest, ':');
	gids = gids ? strchr(gids + 1, ':') : NULL;
	while (gids && *gids) {
		char *end;

		if (c->ngids == 16) {
			return bad(ld, "more than 16 groups");
		}
		c->gids[c->ngids++] = (uint32_t)strtoul(gids + 1, &end, 10);
		gids = end;
		if (*gids && *gids != ',') {
			return bad(ld, "bad group list");
		}
	}
	return c->host != NULL;
}

/* One key=value argument of a call. */
static bool
parse_arg(
    struct loader *ld, struct emu_tcall *c, char *k, char *v, const bool *named)
{
	if (!strcmp(k, "auth")) {
		return parse_auth(ld, c, v);
	}
	if (!strcmp(k, "fh")) {
		return (c->fh = use(ld, v, named)) >= 0;
	}
	if (!strcmp(k, "dir")) {
		return (c->dir = use(ld, v, named)) >= 0;
	}
	if (!strcmp(k, "todir")) {
		return (c->todir = use(ld, v, named)) >= 0;
	}
	if (!strcmp(k, "name")) {
		return (c->name = pct_decode(ld, v)) != NULL;
	}
	if (!strcmp(k, "toname")) {
		return (c->toname = pct_decode(ld, v)) != NULL;
	}
	if (!strcmp(k, "target")) {
		return (c->target = pct_decode(ld, v)) != NULL;
	}
	if (!strcmp(k, "path")) {
		if (strncmp(v, "$ROOT", 5) != 0) {
			return bad(ld, "MNT path does not start with $ROOT");
		}
		return (c->mnt_sub = pct_decode(ld, v + 5)) != NULL;
	}
	if (!strcmp(k, "off")) {
		return num(ld, v, UINT64_MAX, &c->off);
	}
	if (!strcmp(k, "cookie")) {
		c->cookie_next = strcmp(v, "next") == 0;
		return c->cookie_next || !strcmp(v, "0") ||
		    bad(ld, "cookie is 0 or next");
	}
	if (!strcmp(k, "verf")) {
		size_t n;
		const uint8_t *b;

		if (c->prog == EMU_NFS && (c->proc == 16 || c->proc == 17)) {
			c->verf_last = strcmp(v, "last") == 0;
			return c->verf_last || !strcmp(v, "0") ||
			    bad(ld, "verf is 0 or last");
		}
		b = hex_decode(ld, v, &n);
		if (!b || n != 8) {
			return bad(ld, "verf needs 8 bytes");
		}
		memcpy(c->verf, b, 8);
		return true;
	}
	if (!strcmp(k, "data")) {
		c->data = hex_decode(ld, v, &c->data_len);
		return c->data != NULL;
	}
	if (!strcmp(k, "how")) {
		c->how = !strcmp(v, "unchecked") ? 0
		    : !strcmp(v, "guarded")      ? 1
		    : !strcmp(v, "exclusive")    ? 2
						 : -1;
		return c->how >= 0 || bad(ld, "bad how=%s", v);
	}
	if (!strcmp(k, "mode")) {
		c->sattr.set_mode = true;
		return u32(ld, v, &c->sattr.mode);
	}
	if (!strcmp(k, "uid") || !strcmp(k, "gid")) {
		bool uid = k[0] == 'u';

		*(uid ? &c->sattr.set_uid : &c->sattr.set_gid) = true;
		return u32(ld, v, uid ? &c->sattr.uid : &c->sattr.gid);
	}
	if (!strcmp(k, "size")) {
		c->sattr.set_size = true;
		return num(ld, v, UINT64_MAX, &c->sattr.size);
	}
	if (!strcmp(k, "atime")) {
		return parse_time(ld, v, &c->sattr.atime, &c->sattr.atime_s,
		    &c->sattr.atime_ns);
	}
	if (!strcmp(k, "mtime")) {
		return parse_time(ld, v, &c->sattr.mtime, &c->sattr.mtime_s,
		    &c->sattr.mtime_ns);
	}
	if (!strcmp(k, "guard")) {
		int how;

		c->guard = true;
		return parse_time(ld, v, &how, &c->guard_s, &c->guard_ns);
	}
	if (!strcmp(k, "rdev")) {
		return sscanf(v, "%u:%u", &c->rdev_major, &c->rdev_minor) ==
		    2 ||
		    bad(ld, "rdev=MAJOR:MINOR");
	}
	if (!strcmp(k, "count") || !strcmp(k, "dircount") ||
	    !strcmp(k, "maxcount") || !strcmp(k, "access") ||
	    !strcmp(k, "stable") || !strcmp(k, "mask") || !strcmp(k, "type") ||
	    !strcmp(k, "prog") || !strcmp(k, "vers") || !strcmp(k, "prot")) {
		uint32_t *dst = !strcmp(k, "count") ? &c->count
		    : !strcmp(k, "dircount")        ? &c->dircount
		    : !strcmp(k, "maxcount")        ? &c->maxcount
		    : !strcmp(k, "access")          ? &c->access
		    : !strcmp(k, "stable")          ? &c->stable
		    : !strcmp(k, "mask")            ? &c->mask
		    : !strcmp(k, "type")            ? &c->ftype
		    : !strcmp(k, "prog")            ? &c->pm_prog
		    : !strcmp(k, "vers")            ? &c->pm_vers
						    : &c->pm_prot;

		return u32(ld, v, dst);
	}
	return bad(ld, "unknown argument %s=", k);
}

/* One key=value of a result. */
static bool
parse_res(struct loader *ld, struct emu_tcall *c, char *k, char *v, bool *named)
{
	if (!strcmp(k, "obj")) {
		c->obj = intern(ld, v);
		if (c->obj < 0) {
			return false;
		}
		named[c->obj] = true;
		return true;
	}
	if (!strcmp(k, "names")) {
		int *ids, n = 1;
		char *p, *s;

		for (p = v; *p; p++) {
			n += *p == '/';
		}
		ids = own(ld, calloc((size_t)n, sizeof(int)));
		c->names = ids;
		for (s = strtok_r(v, "/", &p); s; s = strtok_r(NULL, "/", &p)) {
			char base[4096], path[8192];

			/* The directory's path, without a #N generation. */
			snprintf(base, sizeof(base), "%s", ld->t->ids[c->fh]);
			base[strcspn(base, "#")] = 0;
			snprintf(path, sizeof(path), "%s%s%s", base,
			    strcmp(base, "/") ? "/" : "", s);
			ids[c->nnames] = intern(ld, path);
			if (ids[c->nnames] < 0) {
				return false;
			}
			named[ids[c->nnames++]] = true;
		}
		return true;
	}
	if (!strcmp(k, "count") || !strcmp(k, "port")) {
		return u32(ld, v, &c->res_count);
	}
	if (!strcmp(k, "eof")) {
		c->res_eof = strcmp(v, "0") != 0;
		return true;
	}
	if (!strcmp(k, "target")) {
		return (c->res_target = pct_decode(ld, v)) != NULL;
	}
	/* entries=, committed=: the server's business, not replayed. */
	return true;
}

static bool
parse_conn(struct loader *ld, char *line)
{
	struct emu_trace *t = ld->t;
	struct emu_tconn *k;
	char proto[8], src[8], to[32];
	int id;

	if (sscanf(line, "conn %d %7s %7s %31s", &id, proto, src, to) != 4) {
		return bad(ld, "conn ID tcp|udp resv|any PORT|getport:N");
	}
	if (id != t->nconns + 1) {
		return bad(ld, "connection %d out of order", id);
	}
	if (strcmp(proto, "tcp") != 0) {
		return bad(ld,
		    "only TCP connections are replayed (the "
		    "Linux client of Debian 12 has no NFS over "
		    "UDP)");
	}
	t->conns = realloc(t->conns, (size_t)(id) * sizeof(*t->conns));
	if (!t->conns) {
		abort();
	}
	k = &t->conns[id - 1];
	memset(k, 0, sizeof(*k));
	k->resv = strcmp(src, "resv") == 0;
	if (!k->resv && strcmp(src, "any") != 0) {
		return bad(ld, "source port class resv or any");
	}
	if (strncmp(to, "getport:", 8) == 0) {
		k->via_call = atoi(to + 8);
		if (k->via_call < 1 || k->via_call > t->ncalls) {
			return bad(ld, "getport:%d names no earlier call",
			    k->via_call);
		}
	} else {
		k->port = atoi(to);
		if (k->port < 1 || k->port > 65535) {
			return bad(ld, "bad port %s", to);
		}
	}
	t->nconns = id;
	return true;
}

static bool
parse_call(struct loader *ld, char *line, bool *named)
{
	struct emu_trace *t = ld->t;
	struct emu_tcall *c;
	char *tok, *save, *prog, *proc, *deps;
	bool in_res = false;
	int idx, conn, n = 0;
	double ms;

	if (sscanf(line, "%d %d %lf", &idx, &conn, &ms) != 3 ||
	    idx != t->ncalls + 1) {
		return bad(ld, "call %d out of order", idx);
	}
	if (conn < 1 || conn > t->nconns) {
		return bad(ld, "call on connection %d, never opened", conn);
	}
	if (t->ncalls % 256 == 0) {
		t->calls = realloc(
		    t->calls, (size_t)(t->ncalls + 256) * sizeof(*t->calls));
		if (!t->calls) {
			abort();
		}
	}
	c = &t->calls[t->ncalls];
	memset(c, 0, sizeof(*c));
	c->idx = idx;
	c->conn = conn - 1;
	c->ms = ms;
	c->fh = c->dir = c->todir = c->obj = -1;
	c->res_eof = -1;
	strtok_r(line, " ", &save);
	strtok_r(NULL, " ", &save);
	strtok_r(NULL, " ", &save);
	deps = strtok_r(NULL, " ", &save);
	prog = strtok_r(NULL, " ", &save);
	proc = strtok_r(NULL, " ", &save);
	if (!deps || !prog || !proc) {
		return bad(ld, "short call line");
	}
	if (strcmp(deps, "-") != 0) {
		int *d, k = 1;
		char *p, *s;

		for (p = deps; *p; p++) {
			k += *p == ',';
		}
		d = own(ld, calloc((size_t)k, sizeof(int)));
		for (s = strtok_r(deps, ",", &p); s;
		     s = strtok_r(NULL, ",", &p)) {
			d[n] = atoi(s);
			if (d[n] < 1 || d[n] >= idx) {
				return bad(ld, "depends on call %s", s);
			}
			n++;
		}
		c->deps = d;
		c->ndeps = n;
	}
	if (!strcmp(prog, "nfs3")) {
		c->prog = EMU_NFS;
		n = proc_index(nfs_procs, proc);
	} else if (!strcmp(prog, "mnt3")) {
		c->prog = EMU_MNT;
		n = proc_index(mnt_procs, proc);
		if (n != 0 && n != 1) {
			return bad(ld, "only MOUNT NULL and MNT are replayed");
		}
	} else if (!strcmp(prog, "pmap2")) {
		c->prog = EMU_PMAP;
		n = proc_index(pmap_procs, proc);
		if (n != 0 && n != 3) {
			return bad(ld,
			    "only portmapper NULL and GETPORT are "
			    "replayed");
		}
	} else if (!strcmp(prog, "nfsacl3")) {
		c->prog = EMU_NFSACL;
		n = atoi(proc);
		if (n != 0 && n != 1) {
			return bad(ld,
			    "only NFSACL NULL and GETACL are "
			    "replayed");
		}
	} else {
		return bad(ld, "program %s is not replayed", prog);
	}
	if (n < 0) {
		return bad(ld, "unknown procedure %s %s", prog, proc);
	}
	c->proc = (uint32_t)n;
	while ((tok = strtok_r(NULL, " ", &save))) {
		char *eq;

		if (!strcmp(tok, "=>")) {
			in_res = true;
			continue;
		}
		if (in_res && !c->status) {
			c->status = own(ld, strdup(tok));
			c->replied = strcmp(tok, "none") != 0;
			continue;
		}
		eq = strchr(tok, '=');
		if (!eq) {
			return bad(ld, "\"%s\" is not key=value", tok);
		}
		*eq = 0;
		if (!(in_res ? parse_res(ld, c, tok, eq + 1, named)
			     : parse_arg(ld, c, tok, eq + 1, named))) {
			return bad(ld, "in %s=%s", tok, eq + 1);
		}
	}
	if (!c->status) {
		return bad(ld, "no \"=> RESULT\"");
	}
	if (c->prog == EMU_MNT && c->proc == 1) {
		if (!c->mnt_sub || c->obj < 0) {
			return bad(ld, "MNT without path= or obj=");
		}
		t->mnt_call = idx;
	}
	t->ncalls++;
	return true;
}

/* Is @c one of the calls mount(2) makes before the path walk begins? */
static bool
is_mount_call(const struct emu_tcall *c)
{
	switch (c->prog) {
	case EMU_PMAP:
	case EMU_MNT:
	case EMU_NFSACL:
		return true;
	case EMU_NFS:
		/* NULL, GETATTR, FSSTAT, FSINFO, PATHCONF */
		return c->proc == 0 || c->proc == 1 || c->proc == 18 ||
		    c->proc == 19 || c->proc == 20;
	}
	return false;
}

struct emu_trace *
emu_trace_load(const char *path, char *err, size_t errlen)
{
	struct loader ld = {.path = path, .err = err, .errlen = errlen};
	struct emu_trace *t = calloc(1, sizeof(*t));
	char *line = NULL;
	size_t cap = 0;
	bool *named = calloc(65536, sizeof(bool));
	FILE *f = fopen(path, "r");
	int i;

	ld.t = t;
	if (!t || !named) {
		abort();
	}
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	while (getline(&line, &cap, f) > 0) {
		size_t n = strlen(line);

		ld.line++;
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
			line[--n] = 0;
		}
		if (n == 0 || line[0] == '#') {
			continue;
		}
		if (t->nids > 60000) {
			bad(&ld, "too many objects");
		} else if (!strncmp(line, "conn ", 5)) {
			parse_conn(&ld, line);
		} else {
			parse_call(&ld, line, named);
		}
		if (ld.failed) {
			goto fail;
		}
	}
	if (t->ncalls == 0 || !t->mnt_call) {
		snprintf(err, errlen, "%s: no calls, or no MNT", path);
		goto fail;
	}
	t->conn_last = calloc((size_t)t->nconns, sizeof(int));
	if (!t->conn_last) {
		abort();
	}
	for (i = 0; i < t->ncalls; i++) {
		t->conn_last[t->calls[i].conn] = t->calls[i].idx;
	}
	for (i = 0; i < t->ncalls && is_mount_call(&t->calls[i]); i++) {
	}
	t->mount_end = i;
	if (t->mount_end < t->mnt_call) {
		snprintf(
		    err, errlen, "%s: the path walk starts before MNT", path);
		goto fail;
	}
	free(line);
	free(named);
	fclose(f);
	return t;
fail:
	free(line);
	free(named);
	if (f) {
		fclose(f);
	}
	emu_trace_free(t);
	return NULL;
}

void
emu_trace_free(struct emu_trace *t)
{
	size_t i;

	if (!t) {
		return;
	}
	for (i = 0; i < t->nowned; i++) {
		free(t->owned[i]);
	}
	free(t->owned);
	free(t->ids);
	free(t->calls);
	free(t->conns);
	free(t->conn_last);
	free(t);
}

const char *
emu_trace_proc_name(const struct emu_tcall *c)
{
	switch (c->prog) {
	case EMU_NFS:
		return nfs_procs[c->proc];
	case EMU_MNT:
		return mnt_procs[c->proc];
	case EMU_PMAP:
		return pmap_procs[c->proc];
	case EMU_NFSACL:
		return c->proc ? "NFSACL GETACL" : "NFSACL NULL";
	}
	return "?";
}
