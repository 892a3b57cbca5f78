#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "proto/nfs3/nfs3.h"
#include "proto/rpc/rpc.h"
#include "server/nfs_export.h"
#include "server/nfs_ops.h"
#include "t.h"

/*
 * Every NFS v3 procedure against a temporary directory, through the same
 * entry point the worker threads use: an RPC call record in, a whole RPC
 * reply out, decoded again with the client-side decoders.
 */

struct env {
	struct nfs_exports ex;
	char dir[256];
	struct nfs3_fh root;
	uint32_t xid;
	uint32_t uid, gid;
	struct in_addr peer;
	uint8_t *reply; /* the last reply; results borrow from it */
	struct nfs3_dirent ents[512];
};

static void
env_init(struct env *v, const char *opts)
{
	static const uint8_t key[NFS_KEY_SIZE] = {1, 2, 3};
	struct nfs_export *e;
	char msg[256];
	int64_t id;

	memset(v, 0, sizeof(*v));
	snprintf(v->dir, sizeof(v->dir), "%s/exp", t_tmpdir());
	CHECK(mkdir(v->dir, 0755) == 0);
	CHECK(nfs_exports_init(&v->ex, key) == 0);
	id = nfs_exports_add(&v->ex, v->dir, opts ? opts : "allow=127.0.0.0/8",
	    NULL, msg, sizeof(msg));
	CHECK(id > 0);
	e = nfs_export_find(&v->ex, (uint32_t)id, NULL);
	CHECK(e != NULL);
	CHECK(nfs_fh_build(&v->ex, e, e->root_fd, &v->root) == 0);
	v->peer.s_addr = htonl(0x7f000001);
}

static void
env_fini(struct env *v)
{
	free(v->reply);
	v->reply = NULL;
	nfs_exports_fini(&v->ex);
}

/* Run one call; returns the nfsstat3, or -1 - accept_stat. */
static int
env_call(struct env *v, const struct nfs3_args *a, struct nfs3_res *res)
{
	uint8_t rec[NFS3_IO_MAX + 4096];
	struct wcur w = wcur_init(rec, sizeof(rec));
	struct rpc_auth_sys cred = {.uid = v->uid, .gid = v->gid};
	uint8_t credb[512];
	struct wcur cw = wcur_init(credb, sizeof(credb));
	struct nfs_op_ctx ctx = {
	    .peer = v->peer, .headroom = 4, .max_reply = NFS3_IO_MAX + 4096};
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

static struct nfs3_args
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

static struct nfs3_args
dirop(uint32_t proc, const struct nfs3_fh *dir, const char *name)
{
	struct nfs3_args a = args_of(proc, NULL);

	a.where.dir = *dir;
	snprintf(a.where.name, sizeof(a.where.name), "%s", name);
	return a;
}

static int
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

static void
write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

TEST(nfs_getattr_root_and_file)
{
	struct env v;
	struct nfs3_args a;
	struct nfs3_res r;
	struct nfs3_fh fh;
	char p[512];
	struct stat st;

	env_init(&v, NULL);
	a = args_of(NFS3_PROC_GETATTR, &v.root);
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.obj.a.type, NF3DIR);
	snprintf(p, sizeof(p), "%s/f", v.dir);
	write_file(p, "hello");
	CHECK(chmod(p, 04755) == 0);
	CHECK(lstat(p, &st) == 0);
	CHECK_EQ(lookup(&v, &v.root, "f", &fh), NFS3_OK);
	a = args_of(NFS3_PROC_GETATTR, &fh);
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.obj.a.type, NF3REG);
	CHECK_EQ(r.obj.a.mode, 04755);
	CHECK_EQ(r.obj.a.size, 5);
	CHECK_EQ(r.obj.a.fileid, st.st_ino);
	CHECK_EQ(r.obj.a.mtime.nsec, st.st_mtim.tv_nsec);
	env_fini(&v);
}

TEST(nfs_null_and_rpc_errors)
{
	struct env v;
	struct nfs3_args a;
	struct nfs3_res r;

	env_init(&v, NULL);
	a = args_of(NFS3_PROC_NULL, NULL);
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	env_fini(&v);
}
