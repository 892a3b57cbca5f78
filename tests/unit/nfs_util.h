#ifndef PNB_TESTS_NFS_UTIL_H
#define PNB_TESTS_NFS_UTIL_H

/*
 * Helpers for the NFS procedure tests: an export (a plain directory or
 * a layered tree) behind the same entry point the worker threads use,
 * one RPC call record in, a whole reply out, decoded again with the
 * client-side decoders.  Included by test_nfs_ops.c and
 * test_nfs_layer.c (static functions: each binary takes what it uses).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/nfs3/nfs3.h"
#include "proto/rpc/rpc.h"
#include "server/nfs/export.h"
#include "server/nfs/fs.h"
#include "server/nfs/ops.h"
#include "t.h"

#define NU_FN static __attribute__((unused))

struct env {
	struct nfs_exports ex;
	char base[200]; /* the test's directory (t_tmpdir() makes a new one) */
	char dir[256];  /* the export: a directory, or a layered tree's name */
	/* A layered export: its version layer, client layer and index. */
	char ver[256], up[256], work[256];
	struct nfs3_fh root;
	uint32_t xid;
	uint32_t uid, gid;
	struct in_addr peer;
	uint16_t port;  /* the caller's source port; 0 (reserved) by default */
	uint8_t *reply; /* the last reply; results borrow from it */
	struct nfs3_dirent ents[1100];
};

/* Export @path with @opts into @v->ex; @v->root gets its root handle. */
NU_FN void
env_export(struct env *v, const char *path, const char *opts)
{
	const struct nfs_export_table *t;
	struct nfs_export *e;
	char msg[256];
	int64_t id;

	id = nfs_exports_add(&v->ex, path, opts, NULL, msg, sizeof(msg));
	CHECK(id > 0);
	if (id <= 0) {
		fprintf(stderr, "%s\n", msg);
		return;
	}
	t = nfs_exports_get(&v->ex);
	e = nfs_export_find(t, (uint32_t)id, NULL);
	CHECK(e != NULL);
	CHECK_EQ(e->fs->mount(&v->ex, e, "", &v->root), 0);
	nfs_exports_put(t);
}

/* An empty table; the export will be @base/@dir. */
NU_FN void
env_start(struct env *v, const char *base, const char *dir)
{
	static const uint8_t key[NFS_KEY_SIZE] = {1, 2, 3};

	memset(v, 0, sizeof(*v));
	snprintf(v->base, sizeof(v->base), "%s", base);
	snprintf(v->dir, sizeof(v->dir), "%s/%s", base, dir);
	CHECK(nfs_exports_init(&v->ex, key) == 0);
	v->peer.s_addr = htonl(0x7f000001);
}

/* A plain export of a fresh directory, with @opts (NULL: loopback). */
NU_FN void
env_init(struct env *v, const char *opts)
{
	env_start(v, t_tmpdir(), "exp");
	CHECK(mkdir(v->dir, 0755) == 0);
	env_export(v, v->dir, opts ? opts : "allow=127.0.0.0/8");
}

/*
 * A layered export named "lexp": an empty client layer (@v->up, index
 * @v->work) over version layer @v->ver, which the caller fills before
 * env_layer_open() (a version never changes under an open stack).
 */
NU_FN void
env_layer_init(struct env *v)
{
	char *at[] = {v->ver, v->up, v->work};
	const char *names[] = {"ver", "up", "work"};
	size_t i;

	env_start(v, t_tmpdir(), "lexp");
	for (i = 0; i < 3; i++) {
		snprintf(at[i], sizeof(v->ver), "%s/%s", v->base, names[i]);
		CHECK(mkdir(at[i], i == 2 ? 0700 : 0755) == 0);
	}
}

/* Export the layered tree of env_layer_init() with @extra options. */
NU_FN void
env_layer_open(struct env *v, const char *extra)
{
	char opts[1200];

	snprintf(opts, sizeof(opts),
	    "allow=127.0.0.0/8,lower=%s,upper=%s,work=%s%s%s", v->ver, v->up,
	    v->work, extra ? "," : "", extra ? extra : "");
	env_export(v, v->dir, opts);
}

NU_FN void
env_fini(struct env *v)
{
	free(v->reply);
	v->reply = NULL;
	nfs_exports_fini(&v->ex);
}

/* Run one call; returns the nfsstat3, or -1 - accept_stat. */
NU_FN int
env_call(struct env *v, const struct nfs3_args *a, struct nfs3_res *res)
{
	uint8_t rec[NFS3_IO_MAX + 4096];
	struct wcur w = wcur_init(rec, sizeof(rec));
	struct rpc_auth_sys cred = {.uid = v->uid, .gid = v->gid};
	uint8_t credb[512];
	struct wcur cw = wcur_init(credb, sizeof(credb));
	struct nfs_op_ctx ctx = {.peer = v->peer,
	    .peer_port = v->port,
	    .headroom = 4,
	    .max_reply = NFS3_IO_MAX + 4096};
	struct rpc_call call;
	struct rpc_reply rep;
	size_t len;
	int status;

	strcpy(cred.machine, "unit");
	rpc_auth_sys_build(&cw, &cred);
	/* Credential body without the flavor and length words. */
	rpc_call_build(&w, ++v->xid, NFS3_PROG, NFS3_VERS, a->proc,
	    RPC_AUTH_SYS, credb + 8, cw.off - 8);
	CHECK_EQ(nfs3_args_build(&w, a), 0);
	CHECK_EQ(rpc_call_parse(rec, w.off, &call), 0);
	free(v->reply);
	v->reply = nfs_ops_call(&v->ex, &ctx, &call, &len, &status);
	CHECK(v->reply != NULL);
	if (!v->reply) {
		return -100;
	}
	CHECK_EQ(rpc_reply_parse(v->reply + 4, len - 4, &rep), 0);
	CHECK_EQ(rep.xid, v->xid);
	if (rep.reply_stat != RPC_MSG_ACCEPTED || rep.stat != RPC_SUCCESS) {
		return -1 - (int)rep.stat;
	}
	CHECK_EQ(nfs3_res_parse(a->proc, rep.res, rep.res_len, res, v->ents,
		     sizeof(v->ents) / sizeof(v->ents[0])),
	    0);
	CHECK_EQ((int)res->status, status);
	return (int)res->status;
}

NU_FN struct nfs3_args
args_of(uint32_t proc, const struct nfs3_fh *fh)
{
	struct nfs3_args a;

	memset(&a, 0, sizeof(a));
	a.proc = proc;
	if (fh) {
		a.fh = *fh;
	}
	return a;
}

NU_FN struct nfs3_args
dirop(uint32_t proc, const struct nfs3_fh *dir, const char *name)
{
	struct nfs3_args a = args_of(proc, NULL);

	a.where.dir = *dir;
	snprintf(a.where.name, sizeof(a.where.name), "%s", name);
	return a;
}

NU_FN int
lookup(struct env *v, const struct nfs3_fh *dir, const char *name,
    struct nfs3_fh *out)
{
	struct nfs3_args a = dirop(NFS3_PROC_LOOKUP, dir, name);
	struct nfs3_res r;
	int s = env_call(v, &a, &r);

	if (s == NFS3_OK) {
		*out = r.fh;
	}
	return s;
}

NU_FN void
write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

NU_FN int
create(struct env *v, const struct nfs3_fh *dir, const char *name, uint32_t how,
    struct nfs3_fh *out)
{
	struct nfs3_args a = dirop(NFS3_PROC_CREATE, dir, name);
	struct nfs3_res r;
	int s;

	a.createmode = how;
	a.sattr.set_mode = true;
	a.sattr.mode = 0640;
	memcpy(a.verf, "verf0001", 8);
	s = env_call(v, &a, &r);
	if (s == NFS3_OK && out) {
		CHECK(r.has_fh);
		*out = r.fh;
	}
	return s;
}

#endif
