#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/nfs3/nfs3.h"
#include "proto/rpc/rpc.h"
#include "t.h"

/*
 * Argument bytes captured from libnfs 4.0 talking to pinetboot (see
 * tests/fuzz/capture_nfs_seeds.sh): a 28-byte handle, then per procedure.
 */
static const uint8_t cap_getattr[] = {0x00, 0x00, 0x00, 0x1c, 0x01, 0x08, 0x00,
    0x00, 0x85, 0xe3, 0x09, 0x96, 0x00, 0x00, 0x00, 0x01, 0x91, 0x26, 0xa7,
    0x00, 0x19, 0x23, 0x4d, 0xb0, 0x70, 0xc0, 0xe6, 0x9b, 0x76, 0x74, 0xa8,
    0xe8};
static const uint8_t cap_lookup[] = {0x00, 0x00, 0x00, 0x1c, 0x01, 0x08, 0x00,
    0x00, 0x85, 0xe3, 0x09, 0x96, 0x00, 0x00, 0x00, 0x01, 0x91, 0x26, 0xa7,
    0x00, 0x19, 0x23, 0x4d, 0xb0, 0x70, 0xc0, 0xe6, 0x9b, 0x76, 0x74, 0xa8,
    0xe8, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x00, 0x00};
/* SETATTR mode 04755 (0x9ed), nothing else, no guard. */
static const uint8_t cap_setattr[] = {0x00, 0x00, 0x00, 0x1c, 0x01, 0x08, 0x00,
    0x00, 0x85, 0xe3, 0x09, 0x96, 0x00, 0x00, 0x00, 0x01, 0x62, 0x28, 0xa7,
    0x00, 0xb0, 0xbe, 0x1e, 0x2d, 0x7f, 0xf3, 0x2d, 0x67, 0xd6, 0xeb, 0xf9,
    0x2e, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x09, 0xed, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

TEST(nfs3_args_golden_captures)
{
	static struct nfs3_args a;

	CHECK_EQ(nfs3_args_parse(
		     NFS3_PROC_GETATTR, cap_getattr, sizeof(cap_getattr), &a),
	    0);
	CHECK_EQ(a.fh.len, 28);
	CHECK_EQ(a.fh.data[0], 1);
	CHECK_EQ(nfs3_args_parse(
		     NFS3_PROC_LOOKUP, cap_lookup, sizeof(cap_lookup), &a),
	    0);
	CHECK_STR(a.where.name, "d");
	CHECK_EQ(nfs3_args_parse(
		     NFS3_PROC_SETATTR, cap_setattr, sizeof(cap_setattr), &a),
	    0);
	CHECK(a.sattr.set_mode);
	CHECK_EQ(a.sattr.mode, 04755);
	CHECK(!a.sattr.set_uid && !a.sattr.set_size && !a.guard_check);
	CHECK_EQ(a.sattr.set_mtime, NFS3_DONT_CHANGE);
}

static void
fh_of(struct nfs3_fh *fh, uint32_t len)
{
	uint32_t i;

	fh->len = len;
	for (i = 0; i < len; i++) {
		fh->data[i] = (uint8_t)(i * 7 + 1);
	}
}

/* Build arguments for every procedure and decode them again. */
TEST(nfs3_args_round_trip_every_procedure)
{
	static struct nfs3_args a, b;
	static uint8_t buf[8192];
	static const uint8_t payload[] = "twelve bytes";
	uint32_t proc;

	for (proc = 0; proc < NFS3_NPROC; proc++) {
		struct wcur w = wcur_init(buf, sizeof(buf));

		memset(&a, 0, sizeof(a));
		a.proc = proc;
		fh_of(&a.fh, 28);
		fh_of(&a.where.dir, 20);
		fh_of(&a.to.dir, 64);
		strcpy(a.where.name, "name");
		strcpy(a.to.name, "other");
		a.sattr = (struct nfs3_sattr){.set_mode = true,
		    .mode = 01777,
		    .set_uid = true,
		    .uid = 1000,
		    .set_mtime = NFS3_SET_TO_CLIENT_TIME,
		    .mtime = {1700000000, 123456789}};
		a.offset = 1ull << 40;
		a.count = sizeof(payload);
		a.maxcount = 65536;
		a.data = payload;
		a.data_len = sizeof(payload);
		a.stable = NFS3_FILE_SYNC;
		a.createmode = NFS3_GUARDED;
		a.access = 0x3f;
		a.cookie = 99;
		a.ftype = NF3CHR;
		a.rdev_major = 1;
		a.rdev_minor = 3;
		strcpy(a.path, "../target");
		CHECK_EQ(nfs3_args_build(&w, &a), 0);
		CHECK_EQ(nfs3_args_parse(proc, buf, w.off, &b), 0);
		/* Procedures with a name carry the handle as where.dir. */
		if (proc == NFS3_PROC_NULL ||
		    (nfs3_proc_has_name(proc) && proc != NFS3_PROC_LINK)) {
			CHECK_EQ(b.fh.len, 0);
		} else {
			CHECK_EQ(b.fh.len, 28);
		}
		if (nfs3_proc_has_name(proc)) {
			CHECK_STR(b.where.name, "name");
			CHECK_EQ(b.where.dir.len, 20);
		}
		if (proc == NFS3_PROC_RENAME) {
			CHECK_STR(b.to.name, "other");
			CHECK_EQ(b.to.dir.len, 64);
		}
		if (proc == NFS3_PROC_WRITE) {
			CHECK_EQ(b.data_len, sizeof(payload));
			CHECK_MEM(b.data, payload, sizeof(payload));
			CHECK(b.offset == 1ull << 40);
		}
		if (proc == NFS3_PROC_MKNOD) {
			CHECK_EQ(b.rdev_minor, 3);
			CHECK_EQ(b.sattr.mode, 01777);
		}
		if (proc == NFS3_PROC_SYMLINK) {
			CHECK_STR(b.path, "../target");
			CHECK_EQ(b.sattr.mtime.nsec, 123456789);
		}
		if (proc == NFS3_PROC_READDIRPLUS) {
			CHECK_EQ(b.maxcount, 65536);
			CHECK_EQ(b.cookie, 99);
		}
	}
}

/* One test per decoder error. */
TEST(nfs3_args_errors)
{
	static struct nfs3_args a;
	static uint8_t buf[2048];
	struct wcur w;
	uint8_t bad[sizeof(cap_setattr)];

	/* Short: -EBADMSG. */
	CHECK_EQ(
	    nfs3_args_parse(NFS3_PROC_GETATTR, cap_getattr, 31, &a), -EBADMSG);
	/* Trailing bytes: -EBADMSG. */
	CHECK_EQ(nfs3_args_parse(
		     NFS3_PROC_GETATTR, cap_lookup, sizeof(cap_lookup), &a),
	    -EBADMSG);
	/* A handle over 64 bytes: -EMSGSIZE. */
	w = wcur_init(buf, sizeof(buf));
	wcur_be32(&w, 65);
	wcur_zero(&w, 68);
	CHECK_EQ(nfs3_args_parse(NFS3_PROC_GETATTR, buf, w.off, &a), -EMSGSIZE);
	/* A name of 256 bytes: -EMSGSIZE, answered as NAMETOOLONG. */
	w = wcur_init(buf, sizeof(buf));
	wcur_be32(&w, 4);
	wcur_zero(&w, 4);
	wcur_be32(&w, 256);
	wcur_zero(&w, 256);
	CHECK_EQ(nfs3_args_parse(NFS3_PROC_LOOKUP, buf, w.off, &a), -EMSGSIZE);
	CHECK(nfs3_proc_has_name(NFS3_PROC_LOOKUP));
	/* A NUL inside a name: -EBADMSG. */
	w = wcur_init(buf, sizeof(buf));
	wcur_be32(&w, 4);
	wcur_zero(&w, 4);
	wcur_be32(&w, 3);
	wcur_bytes(&w, "a\0b\0", 4);
	CHECK_EQ(nfs3_args_parse(NFS3_PROC_LOOKUP, buf, w.off, &a), -EBADMSG);
	/* A bool that is neither 0 nor 1: -EBADMSG. */
	memcpy(bad, cap_setattr, sizeof(bad));
	bad[35] = 2;
	CHECK_EQ(
	    nfs3_args_parse(NFS3_PROC_SETATTR, bad, sizeof(bad), &a), -EBADMSG);
	/* time_how 3: -EBADMSG. */
	memcpy(bad, cap_setattr, sizeof(bad));
	bad[sizeof(bad) - 9] = 3;
	CHECK_EQ(
	    nfs3_args_parse(NFS3_PROC_SETATTR, bad, sizeof(bad), &a), -EBADMSG);
	/* WRITE count that disagrees with the data: -EBADMSG. */
	w = wcur_init(buf, sizeof(buf));
	wcur_be32(&w, 4);
	wcur_zero(&w, 4);
	wcur_be64(&w, 0);
	wcur_be32(&w, 5);
	wcur_be32(&w, NFS3_UNSTABLE);
	rpc_put_opaque(&w, "abcd", 4);
	CHECK_EQ(nfs3_args_parse(NFS3_PROC_WRITE, buf, w.off, &a), -EBADMSG);
	/* WRITE stable_how 3 (count fixed first): -EBADMSG. */
	buf[19] = 4;
	CHECK_EQ(nfs3_args_parse(NFS3_PROC_WRITE, buf, w.off, &a), 0);
	buf[23] = 3;
	CHECK_EQ(nfs3_args_parse(NFS3_PROC_WRITE, buf, w.off, &a), -EBADMSG);
	/* CREATE mode 3: -EBADMSG. */
	w = wcur_init(buf, sizeof(buf));
	wcur_be32(&w, 4);
	wcur_zero(&w, 4);
	rpc_put_string(&w, "f");
	wcur_be32(&w, 3);
	CHECK_EQ(nfs3_args_parse(NFS3_PROC_CREATE, buf, w.off, &a), -EBADMSG);
	/* MKNOD of type 8: -EBADMSG. */
	w = wcur_init(buf, sizeof(buf));
	wcur_be32(&w, 4);
	wcur_zero(&w, 4);
	rpc_put_string(&w, "f");
	wcur_be32(&w, 8);
	CHECK_EQ(nfs3_args_parse(NFS3_PROC_MKNOD, buf, w.off, &a), -EBADMSG);
	/* A symlink target over 4096 bytes: -EMSGSIZE. */
	w = wcur_init(buf, sizeof(buf));
	wcur_be32(&w, 4);
	wcur_zero(&w, 4);
	rpc_put_string(&w, "l");
	wcur_zero(&w, 6 * 4);
	wcur_be32(&w, 4097);
	CHECK_EQ(nfs3_args_parse(NFS3_PROC_SYMLINK, buf, w.off, &a), -EMSGSIZE);
	/* Procedure 22 does not exist. */
	CHECK_EQ(nfs3_args_parse(22, cap_getattr, sizeof(cap_getattr), &a),
	    -EOPNOTSUPP);
}

/* fattr3 is 84 bytes in RFC 1813 order. */
TEST(nfs3_fattr_golden)
{
	static struct nfs3_res r, back;
	uint8_t buf[256];
	struct wcur w = wcur_init(buf, sizeof(buf));
	static const uint8_t want[] = {0, 0, 0, 0, /* NFS3_OK */
	    0, 0, 0, 1,                            /* NF3REG */
	    0, 0, 0x09, 0xed,                      /* 04755 */
	    0, 0, 0, 2,                            /* nlink */
	    0, 0, 0, 0,                            /* uid */
	    0, 0, 0, 5,                            /* gid */
	    0, 0, 0, 1, 0, 0, 0, 0,                /* size 4 GiB */
	    0, 0, 0, 0, 0, 0, 0x10, 0,             /* used */
	    0, 0, 0, 1, 0, 0, 0, 3,                /* rdev 1,3 */
	    0, 0, 0, 0, 0, 0, 0, 9,                /* fsid */
	    0, 0, 0, 0, 0, 0, 0x30, 0x39,          /* fileid 12345 */
	    0, 0, 0, 1, 0, 0, 0, 2,                /* atime */
	    0, 0, 0, 3, 0, 0, 0, 4,                /* mtime */
	    0, 0, 0, 5, 0x3b, 0x9a, 0xc9, 0xff};   /* ctime, 999999999 ns */

	r.obj.present = true;
	r.obj.a = (struct nfs3_fattr){.type = NF3REG,
	    .mode = 04755,
	    .nlink = 2,
	    .gid = 5,
	    .size = 1ull << 32,
	    .used = 4096,
	    .rdev_major = 1,
	    .rdev_minor = 3,
	    .fsid = 9,
	    .fileid = 12345,
	    .atime = {1, 2},
	    .mtime = {3, 4},
	    .ctime = {5, 999999999}};
	CHECK_EQ(nfs3_res_build(NFS3_PROC_GETATTR, &r, &w), 0);
	CHECK_EQ(w.off, 4 + 84);
	CHECK_MEM(buf, want, sizeof(want));
	CHECK_EQ(
	    nfs3_res_parse(NFS3_PROC_GETATTR, buf, w.off, &back, NULL, 0), 0);
	CHECK_EQ(back.obj.a.ctime.nsec, 999999999);
	/* An error result of GETATTR is the status alone. */
	r.status = NFS3ERR_STALE;
	w = wcur_init(buf, sizeof(buf));
	CHECK_EQ(nfs3_res_build(NFS3_PROC_GETATTR, &r, &w), 0);
	CHECK_EQ(w.off, 4);
	/* Output too small. */
	r.status = NFS3_OK;
	w = wcur_init(buf, 40);
	CHECK_EQ(nfs3_res_build(NFS3_PROC_GETATTR, &r, &w), -EMSGSIZE);
}

/* Build a result for every procedure, decode it, compare the key fields. */
TEST(nfs3_res_round_trip_every_procedure)
{
	static struct nfs3_res r, b;
	static struct nfs3_dirent ents[4], got[4];
	static uint8_t buf[8192];
	uint32_t proc;

	ents[0] = (struct nfs3_dirent){
	    .fileid = 7, .name = "a", .namelen = 1, .cookie = 1};
	ents[1] = (struct nfs3_dirent){.fileid = 8,
	    .name = "bbbbb",
	    .namelen = 5,
	    .cookie = 2,
	    .attr.present = true,
	    .has_fh = true};
	fh_of(&ents[1].fh, 28);
	for (proc = 0; proc < NFS3_NPROC; proc++) {
		struct wcur w = wcur_init(buf, sizeof(buf));
		size_t dirb, expect;

		memset(&r, 0, sizeof(r));
		r.obj.present = true;
		r.obj.a.fileid = 42;
		r.dir.present = true;
		r.wcc.has_before = true;
		r.wcc.before.size = 10;
		r.wcc.after.present = true;
		r.wcc2.after.present = true;
		r.wcc2.after.a.size = 77;
		r.has_fh = true;
		fh_of(&r.fh, 28);
		r.access = 0x1f;
		r.data = (const uint8_t *)"linkdata";
		r.data_len = 8;
		r.count = 8;
		r.eof = true;
		r.committed = NFS3_FILE_SYNC;
		memcpy(r.verf, "VERIFIER", 8);
		r.entries = ents;
		r.nentries = 2;
		r.fsinfo.rtmax = 1048576;
		r.fsinfo.properties = 0x1b;
		r.fsstat.tbytes = 1ull << 40;
		r.pathconf.name_max = 255;
		r.pathconf.case_preserving = true;
		CHECK_EQ(nfs3_res_build(proc, &r, &w), 0);
		CHECK_EQ(nfs3_res_parse(proc, buf, w.off, &b, got, 4), 0);
		CHECK_EQ(b.status, NFS3_OK);
		switch (proc) {
		case NFS3_PROC_GETATTR:
		case NFS3_PROC_ACCESS:
		case NFS3_PROC_FSINFO:
			CHECK_EQ(b.obj.a.fileid, 42);
			break;
		case NFS3_PROC_READ:
		case NFS3_PROC_READLINK:
			CHECK_EQ(b.data_len, 8);
			CHECK_MEM(b.data, "linkdata", 8);
			break;
		case NFS3_PROC_WRITE:
		case NFS3_PROC_COMMIT:
			CHECK_MEM(b.verf, "VERIFIER", 8);
			CHECK_EQ(b.wcc.before.size, 10);
			break;
		case NFS3_PROC_RENAME:
			CHECK_EQ(b.wcc2.after.a.size, 77);
			break;
		case NFS3_PROC_READDIR:
		case NFS3_PROC_READDIRPLUS:
			CHECK_EQ(b.nentries, 2);
			CHECK_EQ(got[1].namelen, 5);
			CHECK_EQ(got[1].fileid, 8);
			CHECK(b.eof);
			expect = nfs3_entry_size(proc == NFS3_PROC_READDIRPLUS,
				     &ents[0], &dirb) +
			    nfs3_entry_size(
				proc == NFS3_PROC_READDIRPLUS, &ents[1], &dirb);
			/* status, dir attr, verf, entries, end, eof */
			CHECK_EQ(w.off, 4 + 88 + 8 + expect + 8);
			break;
		case NFS3_PROC_CREATE:
		case NFS3_PROC_MKDIR:
		case NFS3_PROC_SYMLINK:
		case NFS3_PROC_MKNOD:
		case NFS3_PROC_LOOKUP:
			CHECK(b.has_fh);
			CHECK_EQ(b.fh.len, 28);
			break;
		case NFS3_PROC_PATHCONF:
			CHECK_EQ(b.pathconf.name_max, 255);
			break;
		case NFS3_PROC_FSSTAT:
			CHECK(b.fsstat.tbytes == 1ull << 40);
			break;
		default:
			break;
		}
	}
	/* More entries than the caller has room for. */
	{
		struct wcur w = wcur_init(buf, sizeof(buf));

		r.status = NFS3_OK;
		CHECK_EQ(nfs3_res_build(NFS3_PROC_READDIR, &r, &w), 0);
		CHECK_EQ(
		    nfs3_res_parse(NFS3_PROC_READDIR, buf, w.off, &b, got, 1),
		    -EMSGSIZE);
	}
}

/* A READ whose data was read in place is encoded around it. */
TEST(nfs3_read_in_place)
{
	static struct nfs3_res r, b;
	uint8_t buf[256];
	struct wcur w = wcur_init(buf, sizeof(buf));

	r.obj.present = true;
	memcpy(buf + 4 + 88 + 12, "abcde", 5);
	r.data = NULL;
	r.data_len = 5;
	r.eof = true;
	CHECK_EQ(nfs3_res_build(NFS3_PROC_READ, &r, &w), 0);
	CHECK_EQ(w.off, 4 + 88 + 12 + 8);
	CHECK_EQ(nfs3_res_parse(NFS3_PROC_READ, buf, w.off, &b, NULL, 0), 0);
	CHECK_EQ(b.data_len, 5);
	CHECK_MEM(b.data, "abcde", 5);
	CHECK_EQ(buf[w.off - 1], 0); /* padding */
}
