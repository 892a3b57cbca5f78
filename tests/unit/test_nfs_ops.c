#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "proto/nfs3/nfs3.h"
#include "proto/rpc/rpc.h"
#include "server/nfs/export.h"
#include "server/nfs/ops.h"
#include "nfs_util.h"
#include "t.h"

/*
 * Every NFS v3 procedure against a temporary directory, through the same
 * entry point the worker threads use: an RPC call record in, a whole RPC
 * reply out, decoded again with the client-side decoders.
 */

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

TEST(nfs_rpc_level_errors)
{
	struct env v;
	struct nfs3_args a;
	struct nfs3_res r;
	uint8_t rec[256], *reply;
	struct wcur w = wcur_init(rec, sizeof(rec));
	struct nfs_op_ctx ctx = {
	    .peer = {htonl(0x7f000001)}, .headroom = 4, .max_reply = 65536};
	struct rpc_call call;
	struct rpc_reply rep;
	size_t len;

	env_init(&v, NULL);
	/* NFSACL on the NFS port: PROG_UNAVAIL, never silence (quirk 25). */
	rpc_call_build(&w, 5, 100227, 3, 0, RPC_AUTH_NONE, NULL, 0);
	CHECK_EQ(rpc_call_parse(rec, w.off, &call), 0);
	reply = nfs_ops_call(&v.ex, &ctx, &call, &len, NULL);
	CHECK_EQ(rpc_reply_parse(reply + 4, len - 4, &rep), 0);
	CHECK_EQ(rep.stat, RPC_PROG_UNAVAIL);
	free(reply);
	/* NFS v2: PROG_MISMATCH 3..3. */
	w = wcur_init(rec, sizeof(rec));
	rpc_call_build(&w, 6, NFS3_PROG, 2, 0, RPC_AUTH_NONE, NULL, 0);
	CHECK_EQ(rpc_call_parse(rec, w.off, &call), 0);
	reply = nfs_ops_call(&v.ex, &ctx, &call, &len, NULL);
	CHECK_EQ(rpc_reply_parse(reply + 4, len - 4, &rep), 0);
	CHECK_EQ(rep.stat, RPC_PROG_MISMATCH);
	CHECK_EQ(rep.lo, 3);
	CHECK_EQ(rep.hi, 3);
	free(reply);
	/* Procedure 22: PROC_UNAVAIL. */
	w = wcur_init(rec, sizeof(rec));
	rpc_call_build(&w, 7, NFS3_PROG, 3, 22, RPC_AUTH_NONE, NULL, 0);
	CHECK_EQ(rpc_call_parse(rec, w.off, &call), 0);
	reply = nfs_ops_call(&v.ex, &ctx, &call, &len, NULL);
	CHECK_EQ(rpc_reply_parse(reply + 4, len - 4, &rep), 0);
	CHECK_EQ(rep.stat, RPC_PROC_UNAVAIL);
	free(reply);
	/* GETATTR without its handle: GARBAGE_ARGS. */
	w = wcur_init(rec, sizeof(rec));
	rpc_call_build(&w, 8, NFS3_PROG, 3, 1, RPC_AUTH_NONE, NULL, 0);
	CHECK_EQ(rpc_call_parse(rec, w.off, &call), 0);
	reply = nfs_ops_call(&v.ex, &ctx, &call, &len, NULL);
	CHECK_EQ(rpc_reply_parse(reply + 4, len - 4, &rep), 0);
	CHECK_EQ(rep.stat, RPC_GARBAGE_ARGS);
	free(reply);
	/* An unknown credential flavor: AUTH_ERROR, too weak. */
	w = wcur_init(rec, sizeof(rec));
	rpc_call_build(&w, 9, NFS3_PROG, 3, 0, 6, NULL, 0);
	CHECK_EQ(rpc_call_parse(rec, w.off, &call), 0);
	reply = nfs_ops_call(&v.ex, &ctx, &call, &len, NULL);
	CHECK_EQ(rpc_reply_parse(reply + 4, len - 4, &rep), 0);
	CHECK_EQ(rep.reply_stat, RPC_MSG_DENIED);
	CHECK_EQ(rep.auth_stat, RPC_AUTH_TOOWEAK);
	free(reply);
	/* A name of 300 bytes is NAMETOOLONG, not GARBAGE_ARGS. */
	{
		static uint8_t big[1024];
		char name[300];
		struct cur c;

		memset(name, 'x', sizeof(name));
		w = wcur_init(big, sizeof(big));
		rpc_call_build(&w, 10, NFS3_PROG, 3, NFS3_PROC_LOOKUP,
		    RPC_AUTH_NONE, NULL, 0);
		rpc_put_opaque(&w, v.root.data, v.root.len);
		rpc_put_opaque(&w, name, sizeof(name));
		CHECK_EQ(rpc_call_parse(big, w.off, &call), 0);
		reply = nfs_ops_call(&v.ex, &ctx, &call, &len, NULL);
		CHECK_EQ(rpc_reply_parse(reply + 4, len - 4, &rep), 0);
		CHECK_EQ(rep.stat, RPC_SUCCESS);
		c = cur_init(rep.res, rep.res_len);
		CHECK_EQ(cur_be32(&c), NFS3ERR_NAMETOOLONG);
		free(reply);
	}
	(void)a;
	(void)r;
	env_fini(&v);
}

TEST(nfs_handles_forged_stale_and_disallowed)
{
	const struct nfs_export_table *t;
	struct env v;
	struct nfs3_args a;
	struct nfs3_res r;
	struct nfs3_fh fh;
	char p[512];

	env_init(&v, NULL);
	a = args_of(NFS3_PROC_GETATTR, &v.root);
	a.fh.data[a.fh.len - 1] ^= 0x80;
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_BADHANDLE);
	a.fh.len = 3;
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_BADHANDLE);
	/* A handle this server made for a file that is gone: STALE. */
	snprintf(p, sizeof(p), "%s/f", v.dir);
	write_file(p, "x");
	CHECK_EQ(lookup(&v, &v.root, "f", &fh), NFS3_OK);
	CHECK(unlink(p) == 0);
	a = args_of(NFS3_PROC_GETATTR, &fh);
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_STALE);
	/* An address outside allow=: ACCES on every call. */
	v.peer.s_addr = htonl(0xc6120002);
	a = args_of(NFS3_PROC_GETATTR, &v.root);
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_ACCES);
	v.peer.s_addr = htonl(0x7f000001);
	/* A withdrawn export: STALE. */
	t = nfs_exports_get(&v.ex);
	CHECK_EQ(nfs_exports_del(&v.ex, t->e[0]->id), 0);
	nfs_exports_put(t);
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_STALE);
	env_fini(&v);
}

TEST(nfs_lookup_dot_dotdot_and_names)
{
	struct env v;
	struct nfs3_fh sub, up, dot;
	struct nfs3_args a;
	struct nfs3_res r1, r2;
	char p[512];

	env_init(&v, NULL);
	snprintf(p, sizeof(p), "%s/sub", v.dir);
	CHECK(mkdir(p, 0755) == 0);
	CHECK_EQ(lookup(&v, &v.root, "sub", &sub), NFS3_OK);
	CHECK_EQ(lookup(&v, &sub, "..", &up), NFS3_OK);
	CHECK_EQ(lookup(&v, &v.root, "..", &dot), NFS3_OK);
	a = args_of(NFS3_PROC_GETATTR, &up);
	CHECK_EQ(env_call(&v, &a, &r1), NFS3_OK);
	a = args_of(NFS3_PROC_GETATTR, &dot);
	CHECK_EQ(env_call(&v, &a, &r2), NFS3_OK);
	/* ".." of the export root is the root itself. */
	CHECK_EQ(r1.obj.a.fileid, r2.obj.a.fileid);
	CHECK_EQ(lookup(&v, &v.root, "sub/..", &dot), NFS3ERR_ACCES);
	CHECK_EQ(lookup(&v, &v.root, "", &dot), NFS3ERR_ACCES);
	CHECK_EQ(lookup(&v, &v.root, "missing", &dot), NFS3ERR_NOENT);
	/* A symlink pointing out of the export is returned, not followed. */
	snprintf(p, sizeof(p), "%s/out", v.dir);
	CHECK(symlink("/etc", p) == 0);
	CHECK_EQ(lookup(&v, &v.root, "out", &dot), NFS3_OK);
	a = args_of(NFS3_PROC_GETATTR, &dot);
	CHECK_EQ(env_call(&v, &a, &r1), NFS3_OK);
	CHECK_EQ(r1.obj.a.type, NF3LNK);
	a = dirop(NFS3_PROC_LOOKUP, &dot, "passwd");
	CHECK_EQ(env_call(&v, &a, &r1), NFS3ERR_NOTDIR);
	env_fini(&v);
}

TEST(nfs_setattr_guard_and_attrs)
{
	struct env v;
	struct nfs3_fh fh;
	struct nfs3_args a;
	struct nfs3_res r;
	char p[512];
	struct stat st;

	env_init(&v, NULL);
	CHECK_EQ(create(&v, &v.root, "f", NFS3_UNCHECKED, &fh), NFS3_OK);
	snprintf(p, sizeof(p), "%s/f", v.dir);
	CHECK(lstat(p, &st) == 0);
	a = args_of(NFS3_PROC_SETATTR, &fh);
	a.sattr.set_mode = true;
	a.sattr.mode = 06755;
	a.guard_check = true;
	a.guard_ctime.sec = 1;
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_NOT_SYNC);
	CHECK(r.wcc.after.present);
	a.guard_ctime = (struct nfs3_time){
	    (uint32_t)st.st_ctim.tv_sec, (uint32_t)st.st_ctim.tv_nsec};
	a.sattr.set_uid = true;
	a.sattr.uid = 4321;
	a.sattr.set_size = true;
	a.sattr.size = 1 << 20;
	a.sattr.set_mtime = NFS3_SET_TO_CLIENT_TIME;
	a.sattr.mtime = (struct nfs3_time){1234567890, 987654321};
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK(r.wcc.has_before);
	CHECK_EQ(r.wcc.before.size, 0);
	CHECK_EQ(r.wcc.after.a.size, 1 << 20);
	/* Owner first, then mode: setuid and setgid survive the chown. */
	CHECK_EQ(r.wcc.after.a.mode, 06755);
	CHECK_EQ(r.wcc.after.a.uid, 4321);
	CHECK_EQ(r.wcc.after.a.mtime.nsec, 987654321);
	CHECK(lstat(p, &st) == 0);
	CHECK_EQ(st.st_mode & 07777, 06755);
	CHECK_EQ(st.st_blocks, 0); /* sparse */
	env_fini(&v);
}

TEST(nfs_create_modes)
{
	struct env v;
	struct nfs3_fh fh1, fh2;
	struct nfs3_args a;
	struct nfs3_res r;

	env_init(&v, NULL);
	CHECK_EQ(create(&v, &v.root, "g", NFS3_GUARDED, &fh1), NFS3_OK);
	CHECK_EQ(create(&v, &v.root, "g", NFS3_GUARDED, NULL), NFS3ERR_EXIST);
	CHECK_EQ(create(&v, &v.root, "g", NFS3_UNCHECKED, NULL), NFS3_OK);
	/* EXCLUSIVE: a retransmission with the same verifier succeeds... */
	CHECK_EQ(create(&v, &v.root, "x", NFS3_EXCLUSIVE, &fh1), NFS3_OK);
	CHECK_EQ(create(&v, &v.root, "x", NFS3_EXCLUSIVE, &fh2), NFS3_OK);
	CHECK_EQ(fh1.len, fh2.len);
	CHECK_MEM(fh1.data, fh2.data, fh1.len);
	/* ...another verifier does not. */
	a = dirop(NFS3_PROC_CREATE, &v.root, "x");
	a.createmode = NFS3_EXCLUSIVE;
	memcpy(a.verf, "verf0002", 8);
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_EXIST);
	CHECK(r.wcc.after.present);
	CHECK_EQ(create(&v, &v.root, ".", NFS3_GUARDED, NULL), NFS3ERR_EXIST);
	/*
	 * UNCHECKED over a FIFO must not open it (that would block the
	 * worker), nor may COMMIT or READ open one.
	 */
	a = dirop(NFS3_PROC_MKNOD, &v.root, "fifo");
	a.ftype = NF3FIFO;
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	fh1 = r.fh;
	CHECK_EQ(
	    create(&v, &v.root, "fifo", NFS3_UNCHECKED, NULL), NFS3ERR_EXIST);
	a = args_of(NFS3_PROC_COMMIT, &fh1);
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_INVAL);
	a = args_of(NFS3_PROC_READ, &fh1);
	a.count = 10;
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_INVAL);
	env_fini(&v);
}

TEST(nfs_read_write_commit)
{
	struct env v;
	struct nfs3_fh fh;
	struct nfs3_args a;
	struct nfs3_res r;
	uint8_t verf[8];

	env_init(&v, NULL);
	CHECK_EQ(create(&v, &v.root, "f", NFS3_UNCHECKED, &fh), NFS3_OK);
	a = args_of(NFS3_PROC_WRITE, &fh);
	a.data = (const uint8_t *)"0123456789";
	a.data_len = 10;
	a.count = 10;
	a.offset = 5;
	a.stable = NFS3_UNSTABLE;
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.count, 10);
	CHECK_EQ(r.committed, NFS3_UNSTABLE);
	CHECK_EQ(r.wcc.before.size, 0);
	CHECK_EQ(r.wcc.after.a.size, 15);
	memcpy(verf, r.verf, 8);
	a.stable = NFS3_FILE_SYNC;
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.committed, NFS3_FILE_SYNC);
	a = args_of(NFS3_PROC_COMMIT, &fh);
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_MEM(r.verf, verf, 8);
	a = args_of(NFS3_PROC_READ, &fh);
	a.offset = 3;
	a.count = 100;
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.data_len, 12);
	CHECK(r.eof);
	CHECK_MEM(r.data,
	    "\0\0"
	    "0123456789",
	    12);
	a.offset = 0;
	a.count = 4;
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK(!r.eof);
	/* READ of a directory: ISDIR, with attributes. */
	a = args_of(NFS3_PROC_READ, &v.root);
	a.count = 10;
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_ISDIR);
	CHECK(r.obj.present);
	env_fini(&v);
}

TEST(nfs_readdir_pages_with_cookies)
{
	struct env v;
	struct nfs3_args a;
	struct nfs3_res r;
	char p[512], seen[300] = {0};
	int i, total = 0, calls = 0, plus;

	env_init(&v, NULL);
	for (i = 0; i < 300; i++) {
		snprintf(p, sizeof(p), "%s/file%03d", v.dir, i);
		write_file(p, "");
	}
	for (plus = 0; plus < 2; plus++) {
		uint64_t cookie = 0;
		uint8_t cverf[8] = {0};

		memset(seen, 0, sizeof(seen));
		total = 0;
		calls = 0;
		for (;;) {
			size_t k;

			a = args_of(
			    plus ? NFS3_PROC_READDIRPLUS : NFS3_PROC_READDIR,
			    &v.root);
			a.cookie = cookie;
			memcpy(a.verf, cverf, 8);
			a.count = 1024;
			a.maxcount = 4096;
			CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
			if (r.status != NFS3_OK) {
				break;
			}
			calls++;
			memcpy(cverf, r.verf, 8);
			for (k = 0; k < r.nentries; k++) {
				const struct nfs3_dirent *e = &r.entries[k];

				if (e->namelen == 7 &&
				    memcmp(e->name, "file", 4) == 0) {
					int n = atoi(e->name + 4);

					CHECK(!seen[n]);
					seen[n] = 1;
					total++;
					if (plus) {
						CHECK(e->has_fh &&
						    e->attr.present);
					}
				}
				cookie = e->cookie;
			}
			if (r.eof || calls > 400) {
				break;
			}
		}
		CHECK_EQ(total, 300);
		CHECK(calls > 5);
	}
	/* A listing that fits ends in the reply that holds its last entry. */
	for (plus = 0; plus < 2; plus++) {
		a = args_of(
		    plus ? NFS3_PROC_READDIRPLUS : NFS3_PROC_READDIR, &v.root);
		a.count = 65536;
		a.maxcount = 1 << 20;
		CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
		CHECK_EQ(r.nentries, 302);
		CHECK(r.eof);
	}
	/* One READDIRPLUS lists at most 1,024 entries, whatever maxcount. */
	for (i = 300; i < 1500; i++) {
		snprintf(p, sizeof(p), "%s/file%04d", v.dir, i);
		write_file(p, "");
	}
	a = args_of(NFS3_PROC_READDIRPLUS, &v.root);
	a.count = 1 << 20;
	a.maxcount = 1 << 20;
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.nentries, 1024);
	CHECK(!r.eof);
	a.cookie = r.entries[1023].cookie;
	memcpy(a.verf, r.verf, 8);
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.nentries, 1502 - 1024);
	CHECK(r.eof);
	/* A stale cookie verifier is BAD_COOKIE. */
	a = args_of(NFS3_PROC_READDIR, &v.root);
	a.cookie = 5;
	memcpy(a.verf, "garbage!", 8);
	a.count = 1024;
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_BAD_COOKIE);
	/* Too small for one entry. */
	a = args_of(NFS3_PROC_READDIR, &v.root);
	a.count = 50;
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_TOOSMALL);
	env_fini(&v);
}

TEST(nfs_namespace_procedures)
{
	struct env v;
	struct nfs3_fh d, f, l;
	struct nfs3_args a;
	struct nfs3_res r;
	char p[512];
	struct stat st;

	env_init(&v, NULL);
	a = dirop(NFS3_PROC_MKDIR, &v.root, "d");
	a.sattr.set_mode = true;
	a.sattr.mode = 02775;
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.obj.a.mode, 02775);
	CHECK(r.wcc.has_before && r.wcc.after.present);
	d = r.fh;
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_EXIST);
	/* The process umask (022 here) does not mask what the client asks. */
	umask(022);
	a = dirop(NFS3_PROC_MKDIR, &v.root, "open");
	a.sattr.set_mode = true;
	a.sattr.mode = 0777;
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.obj.a.mode, 0777);
	a = dirop(NFS3_PROC_MKNOD, &v.root, "pipe");
	a.ftype = NF3FIFO;
	a.sattr.set_mode = true;
	a.sattr.mode = 0666;
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.obj.a.mode, 0666);
	a = dirop(NFS3_PROC_RMDIR, &v.root, "open");
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(create(&v, &d, "f", NFS3_GUARDED, &f), NFS3_OK);
	a = dirop(NFS3_PROC_SYMLINK, &d, "l");
	strcpy(a.path, "f");
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	l = r.fh;
	a = args_of(NFS3_PROC_READLINK, &l);
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.data_len, 1);
	a = args_of(NFS3_PROC_READLINK, &f);
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_INVAL);
	a = dirop(NFS3_PROC_LINK, &v.root, "hard");
	a.fh = f;
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.obj.a.nlink, 2);
	a = dirop(NFS3_PROC_MKNOD, &d, "blk");
	a.ftype = NF3BLK;
	a.rdev_major = 7;
	a.rdev_minor = 9;
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.obj.a.type, NF3BLK);
	CHECK_EQ(r.obj.a.rdev_minor, 9);
	a = dirop(NFS3_PROC_MKNOD, &d, "sock");
	a.ftype = NF3SOCK;
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.obj.a.type, NF3SOCK);
	a = dirop(NFS3_PROC_MKNOD, &d, "reg");
	a.ftype = NF3REG;
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_BADTYPE);
	a = dirop(NFS3_PROC_RENAME, &d, "f");
	a.to.dir = v.root;
	strcpy(a.to.name, "moved");
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK(r.wcc.after.present && r.wcc2.after.present);
	snprintf(p, sizeof(p), "%s/moved", v.dir);
	CHECK(lstat(p, &st) == 0);
	a = dirop(NFS3_PROC_RMDIR, &v.root, "d");
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_NOTEMPTY);
	a = dirop(NFS3_PROC_REMOVE, &v.root, "d");
	CHECK(env_call(&v, &a, &r) != NFS3_OK);
	a = dirop(NFS3_PROC_RMDIR, &v.root, ".");
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_INVAL);
	a = dirop(NFS3_PROC_REMOVE, &v.root, "moved");
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_NOENT);
	a = args_of(NFS3_PROC_FSSTAT, &v.root);
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK(r.fsstat.tbytes > 0);
	a = args_of(NFS3_PROC_FSINFO, &v.root);
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.fsinfo.rtmax, NFS3_IO_MAX);
	CHECK_EQ(r.fsinfo.properties, 0x1b);
	a = args_of(NFS3_PROC_PATHCONF, &v.root);
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.pathconf.name_max, 255);
	env_fini(&v);
}

TEST(nfs_credentials_and_export_options)
{
	struct env v;
	struct nfs3_fh f, d;
	struct nfs3_args a;
	struct nfs3_res r;
	char p[512];

	env_init(&v, "allow=127.0.0.0/8,root_squash");
	snprintf(p, sizeof(p), "%s/open", v.dir);
	CHECK(mkdir(p, 0777) == 0);
	CHECK(chmod(p, 0777) == 0);
	CHECK_EQ(lookup(&v, &v.root, "open", &d), NFS3_OK);
	/* root_squash: uid 0 creates as nobody. */
	CHECK_EQ(create(&v, &d, "squashed", NFS3_GUARDED, &f), NFS3_OK);
	a = args_of(NFS3_PROC_GETATTR, &f);
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.obj.a.uid, 65534);
	/* And cannot write into the root-owned export root. */
	CHECK_EQ(
	    create(&v, &v.root, "nope", NFS3_GUARDED, NULL), NFS3ERR_ACCES);
	env_fini(&v);

	env_init(&v, NULL);
	/* A user creates files as itself; ACCESS follows the mode bits. */
	snprintf(p, sizeof(p), "%s/open", v.dir);
	CHECK(mkdir(p, 0777) == 0);
	CHECK(chmod(p, 0777) == 0);
	CHECK_EQ(lookup(&v, &v.root, "open", &d), NFS3_OK);
	v.uid = 1000;
	v.gid = 1000;
	CHECK_EQ(create(&v, &d, "mine", NFS3_GUARDED, &f), NFS3_OK);
	a = args_of(NFS3_PROC_GETATTR, &f);
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.obj.a.uid, 1000);
	CHECK_EQ(r.obj.a.gid, 1000);
	CHECK_EQ(
	    create(&v, &v.root, "nope", NFS3_GUARDED, NULL), NFS3ERR_ACCES);
	/* The owner writes its own 0444 file (knfsd's owner override)... */
	a = args_of(NFS3_PROC_SETATTR, &f);
	a.sattr.set_mode = true;
	a.sattr.mode = 0444;
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	a = args_of(NFS3_PROC_WRITE, &f);
	a.data = (const uint8_t *)"data";
	a.data_len = a.count = 4;
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	a = args_of(NFS3_PROC_SETATTR, &f);
	a.sattr.set_size = true;
	a.sattr.size = 2;
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.wcc.after.a.size, 2);
	/* ...another user may not. */
	v.uid = 1001;
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_ACCES);
	v.uid = 1000;
	a = args_of(NFS3_PROC_ACCESS, &v.root);
	a.access = 0x3f;
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.access, NFS3_ACCESS_READ | NFS3_ACCESS_LOOKUP);
	v.uid = 0;
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.access,
	    NFS3_ACCESS_READ | NFS3_ACCESS_LOOKUP | NFS3_ACCESS_MODIFY |
		NFS3_ACCESS_EXTEND | NFS3_ACCESS_DELETE);
	/* From a port above 1023 only an "insecure" export answers. */
	v.port = 40000;
	a = args_of(NFS3_PROC_GETATTR, &v.root);
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_PERM);
	v.port = 1023;
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	env_fini(&v);
	env_init(&v, "allow=127.0.0.1,insecure");
	v.port = 40000;
	a = args_of(NFS3_PROC_GETATTR, &v.root);
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	env_fini(&v);

	/* A read-only export answers ROFS to every change. */
	env_init(&v, "ro,allow=127.0.0.1");
	CHECK_EQ(create(&v, &v.root, "f", NFS3_GUARDED, NULL), NFS3ERR_ROFS);
	a = dirop(NFS3_PROC_MKDIR, &v.root, "d");
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_ROFS);
	a = args_of(NFS3_PROC_SETATTR, &v.root);
	a.sattr.set_mode = true;
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_ROFS);
	env_fini(&v);
}

/*
 * A worker whose setfsuid() silently does nothing (here: CAP_SETUID gone
 * from its effective set) must not run the call as root.
 */
static void *
create_without_setuid(void *arg)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	struct env *v = arg;
	int *st = malloc(sizeof(*st));

	/* capset() with pid 0 changes this thread only. */
	if (!st || syscall(SYS_capget, &h, d) < 0) {
		free(st);
		return NULL;
	}
	d[CAP_SETUID / 32].effective &= ~(1u << (CAP_SETUID % 32));
	if (syscall(SYS_capset, &h, d) < 0) {
		free(st);
		return NULL;
	}
	v->uid = 1000;
	v->gid = 1000;
	*st = create(v, &v->root, "as-root", NFS3_GUARDED, NULL);
	return st;
}

TEST(nfs_creds_switch_is_verified)
{
	struct env v;
	struct stat st;
	pthread_t t;
	int *status = NULL;
	char p[512];

	env_init(&v, NULL);
	CHECK_EQ(pthread_create(&t, NULL, create_without_setuid, &v), 0);
	pthread_join(t, (void **)&status);
	CHECK(status != NULL);
	if (status) {
		CHECK_EQ(*status, NFS3ERR_PERM);
	}
	snprintf(p, sizeof(p), "%s/as-root", v.dir);
	CHECK(stat(p, &st) < 0 && errno == ENOENT);
	free(status);
	env_fini(&v);
}

TEST(nfs_exports_options_and_client_api)
{
	struct nfs_exports ex;
	static const uint8_t key[NFS_KEY_SIZE];
	char msg[256], dir[300];
	struct in_addr c = {htonl(0xc6120002)}, other = {htonl(0xc6120003)};
	const struct nfs_export_table *t;
	struct nfs_export *e;
	struct stat st;
	const char *rest;
	int64_t id;

	snprintf(dir, sizeof(dir), "%s", t_tmpdir());
	CHECK_EQ(nfs_exports_init(&ex, key), 0);
	CHECK_EQ(nfs_exports_add(&ex, dir, "rw,bogus", NULL, msg, sizeof(msg)),
	    -EINVAL);
	CHECK(strstr(msg, "bogus") != NULL);
	CHECK_EQ(nfs_exports_add(
		     &ex, dir, "allow=300.1.1.1/8", NULL, msg, sizeof(msg)),
	    -EINVAL);
	CHECK_EQ(
	    nfs_exports_add(&ex, "/nonexistent/x", "", NULL, msg, sizeof(msg)),
	    -ENOENT);
	id = nfs_exports_add_client(&ex, dir, c);
	CHECK(id > 0);
	CHECK_EQ(nfs_exports_add_client(&ex, dir, c), -EEXIST);
	t = nfs_exports_get(&ex);
	e = nfs_export_find(t, (uint32_t)id, NULL);
	CHECK(e && nfs_export_allows(e, c) && !nfs_export_allows(e, other));
	CHECK(e && !e->ro && !e->root_squash && e->per_client);
	/* Per-client exports take reserved source ports only. */
	CHECK(e && nfs_export_port_ok(e, 1023) && !nfs_export_port_ok(e, 1024));
	CHECK(nfs_export_find_for_mount(t, "/nonexistent", &rest) == NULL);
	strcat(dir, "/sub/dir");
	CHECK(nfs_export_find_for_mount(t, dir, &rest) == e);
	CHECK_STR(rest, "sub/dir");
	/*
	 * Withdrawn while a reader holds the table: gone for the next
	 * reader at once, still open for this one until it lets go.
	 */
	CHECK_EQ(nfs_exports_del(&ex, (uint32_t)id), 0);
	CHECK_EQ(nfs_exports_del(&ex, (uint32_t)id), -ENOENT);
	CHECK_EQ(nfs_exports_count(&ex), 0);
	CHECK(nfs_export_find(t, (uint32_t)id, NULL) == e);
	CHECK(e && fstat(e->root_fd, &st) == 0 && S_ISDIR(st.st_mode));
	nfs_exports_put(t);
	nfs_exports_fini(&ex);
}

TEST(nfs_errno_mapping)
{
	CHECK_EQ(nfs_errno_stat(0), NFS3_OK);
	CHECK_EQ(nfs_errno_stat(ENOENT), NFS3ERR_NOENT);
	CHECK_EQ(nfs_errno_stat(ENOTEMPTY), NFS3ERR_NOTEMPTY);
	CHECK_EQ(nfs_errno_stat(ESTALE), NFS3ERR_STALE);
	CHECK_EQ(nfs_errno_stat(EBADMSG), NFS3ERR_BADHANDLE);
	CHECK_EQ(nfs_errno_stat(EDQUOT), NFS3ERR_DQUOT);
	CHECK_EQ(nfs_errno_stat(EIO), NFS3ERR_IO);
	CHECK_EQ(nfs_errno_stat(E2BIG), NFS3ERR_IO);
}

TEST(nfs_siphash_reference_vector)
{
	/* SipHash-2-4 paper, appendix A: key 00..0f, message 00..0e. */
	uint8_t key[16], msg[15];
	int i;

	for (i = 0; i < 16; i++) {
		key[i] = (uint8_t)i;
	}
	for (i = 0; i < 15; i++) {
		msg[i] = (uint8_t)i;
	}
	CHECK(nfs_siphash(key, msg, 15) == 0xa129ca6149be45e5ull);
}
