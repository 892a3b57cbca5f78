#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/mount/mnt.h"
#include "proto/portmap/pmap.h"
#include "proto/rpc/rpc.h"
#include "t.h"

/*
 * Golden bytes are laid out by hand from RFC 5531 §9 and appendix A,
 * RFC 1833 §3 and RFC 1813 appendix I.
 */

/* A portmapper GETPORT call for NFS v3 over TCP with AUTH_NONE. */
static const uint8_t getport_call[] = {
    0x12, 0x34, 0x56, 0x78, /* xid */
    0, 0, 0, 0,             /* CALL */
    0, 0, 0, 2,             /* rpcvers */
    0, 1, 0x86, 0xa0,       /* prog 100000 */
    0, 0, 0, 2,             /* vers */
    0, 0, 0, 3,             /* GETPORT */
    0, 0, 0, 0, 0, 0, 0, 0, /* cred AUTH_NONE */
    0, 0, 0, 0, 0, 0, 0, 0, /* verf AUTH_NONE */
    0, 1, 0x86, 0xa3,       /* mapping: prog 100003 */
    0, 0, 0, 3,             /* vers */
    0, 0, 0, 6,             /* prot TCP */
    0, 0, 0, 0,             /* port */
};

TEST(rpc_call_golden)
{
	struct rpc_call c;
	struct pmap_mapping m;

	CHECK_EQ(rpc_call_parse(getport_call, sizeof(getport_call), &c), 0);
	CHECK_EQ(c.xid, 0x12345678);
	CHECK_EQ(c.prog, PMAP_PROG);
	CHECK_EQ(c.vers, 2);
	CHECK_EQ(c.proc, PMAP_PROC_GETPORT);
	CHECK_EQ(c.cred.flavor, RPC_AUTH_NONE);
	CHECK_EQ(c.args_len, 16);
	CHECK_EQ(pmap_mapping_parse(c.args, c.args_len, &m), 0);
	CHECK_EQ(m.prog, 100003);
	CHECK_EQ(m.prot, PMAP_IPPROTO_TCP);
}

TEST(rpc_call_errors)
{
	uint8_t b[sizeof(getport_call)];
	struct rpc_call c;

	/* Truncated anywhere in the header. */
	CHECK_EQ(rpc_call_parse(getport_call, 30, &c), -EBADMSG);
	/* A REPLY is not a call. */
	memcpy(b, getport_call, sizeof(b));
	b[7] = 1;
	CHECK_EQ(rpc_call_parse(b, sizeof(b), &c), -EPROTO);
	CHECK_EQ(c.xid, 0x12345678);
	/* RPC version 3: the caller answers RPC_MISMATCH. */
	memcpy(b, getport_call, sizeof(b));
	b[11] = 3;
	CHECK_EQ(rpc_call_parse(b, sizeof(b), &c), -EPROTONOSUPPORT);
	/* A credential body over 400 bytes. */
	memcpy(b, getport_call, sizeof(b));
	b[30] = 0x01;
	b[31] = 0x91;
	CHECK_EQ(rpc_call_parse(b, sizeof(b), &c), -EMSGSIZE);
	/* A credential longer than the record. */
	b[30] = 0;
	b[31] = 0x40;
	CHECK_EQ(rpc_call_parse(b, sizeof(b), &c), -EBADMSG);
}

/* AUTH_SYS body: stamp, "pi", uid 1000, gid 1000, gids {4, 27}. */
static const uint8_t sys_body[] = {
    0,
    0,
    0,
    9, /* stamp */
    0,
    0,
    0,
    2,
    'p',
    'i',
    0,
    0, /* machinename */
    0,
    0,
    3,
    0xe8, /* uid */
    0,
    0,
    3,
    0xe8, /* gid */
    0,
    0,
    0,
    2, /* gids<16> */
    0,
    0,
    0,
    4,
    0,
    0,
    0,
    27,
};

TEST(rpc_auth_sys_golden_and_round_trip)
{
	struct rpc_auth_sys a, b;
	uint8_t out[128];
	struct wcur w = wcur_init(out, sizeof(out));

	CHECK_EQ(rpc_auth_sys_parse(sys_body, sizeof(sys_body), &a), 0);
	CHECK_EQ(a.stamp, 9);
	CHECK_STR(a.machine, "pi");
	CHECK_EQ(a.uid, 1000);
	CHECK_EQ(a.gid, 1000);
	CHECK_EQ(a.ngids, 2);
	CHECK_EQ(a.gids[1], 27);
	rpc_auth_sys_build(&w, &a);
	CHECK_EQ(w.off, 8 + sizeof(sys_body));
	CHECK_MEM(out + 8, sys_body, sizeof(sys_body));
	CHECK_EQ(rpc_auth_sys_parse(out + 8, w.off - 8, &b), 0);
	CHECK_EQ(b.gids[0], 4);
}

TEST(rpc_auth_sys_errors)
{
	uint8_t b[sizeof(sys_body) + 4];
	struct rpc_auth_sys a;

	memcpy(b, sys_body, sizeof(sys_body));
	CHECK_EQ(rpc_auth_sys_parse(b, sizeof(sys_body) - 1, &a), -EBADMSG);
	CHECK_EQ(rpc_auth_sys_parse(b, sizeof(b), &a), -EBADMSG);
	b[23] = 17; /* more than 16 groups */
	CHECK_EQ(rpc_auth_sys_parse(b, sizeof(sys_body), &a), -EMSGSIZE);
	memcpy(b, sys_body, sizeof(sys_body));
	b[9] = 0; /* NUL inside the machine name */
	CHECK_EQ(rpc_auth_sys_parse(b, sizeof(sys_body), &a), -EBADMSG);
	memcpy(b, sys_body, sizeof(sys_body));
	b[6] = 1; /* machinename of 258 bytes */
	CHECK_EQ(rpc_auth_sys_parse(b, sizeof(sys_body), &a), -EMSGSIZE);
}

TEST(rpc_reply_golden)
{
	static const uint8_t ok[] = {0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	static const uint8_t mismatch[] = {0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 3};
	static const uint8_t denied[] = {0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 1, 0,
	    0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 2};
	uint8_t out[64];
	struct wcur w = wcur_init(out, sizeof(out));
	struct rpc_reply r;

	rpc_reply_build(&w, 0x12345678, RPC_SUCCESS, 0, 0);
	CHECK_EQ(w.off, sizeof(ok));
	CHECK_MEM(out, ok, sizeof(ok));
	w = wcur_init(out, sizeof(out));
	rpc_reply_build(&w, 7, RPC_PROG_MISMATCH, 3, 3);
	CHECK_EQ(w.off, sizeof(mismatch));
	CHECK_MEM(out, mismatch, sizeof(mismatch));
	CHECK_EQ(rpc_reply_parse(out, w.off, &r), 0);
	CHECK_EQ(r.stat, RPC_PROG_MISMATCH);
	CHECK_EQ(r.lo, 3);
	w = wcur_init(out, sizeof(out));
	rpc_reply_build_rpc_mismatch(&w, 7);
	CHECK_EQ(w.off, sizeof(denied));
	CHECK_MEM(out, denied, sizeof(denied));
	CHECK_EQ(rpc_reply_parse(out, w.off, &r), 0);
	CHECK_EQ(r.reply_stat, RPC_MSG_DENIED);
	w = wcur_init(out, sizeof(out));
	rpc_reply_build_auth_error(&w, 7, RPC_AUTH_TOOWEAK);
	CHECK_EQ(rpc_reply_parse(out, w.off, &r), 0);
	CHECK_EQ(r.auth_stat, RPC_AUTH_TOOWEAK);
	/* A call is not a reply. */
	CHECK_EQ(
	    rpc_reply_parse(getport_call, sizeof(getport_call), &r), -EPROTO);
	/* Output too small. */
	w = wcur_init(out, 10);
	rpc_reply_build(&w, 1, RPC_SUCCESS, 0, 0);
	CHECK_EQ(w.err, -EMSGSIZE);
}

TEST(rpc_xdr_opaque_limits)
{
	static const uint8_t over[] = {
	    0, 0, 0, 5, 'a', 'b', 'c', 'd', 'e', 0, 0, 0};
	static const uint8_t bad_bool[] = {0, 0, 0, 2};
	struct cur c = cur_init(over, sizeof(over));
	char s[8];
	size_t n;

	CHECK(rpc_get_opaque(&c, 4, &n) == NULL);
	CHECK_EQ(c.err, -EMSGSIZE);
	c = cur_init(over, sizeof(over));
	CHECK(rpc_get_opaque(&c, 5, &n) != NULL);
	CHECK_EQ(n, 5);
	CHECK_EQ(c.off, 12); /* padding consumed */
	c = cur_init(over, 9);
	CHECK(rpc_get_opaque(&c, 5, &n) == NULL);
	CHECK_EQ(c.err, -EBADMSG); /* padding missing */
	c = cur_init(over, sizeof(over));
	CHECK_EQ(rpc_get_string(&c, 5, s, sizeof(s)), 5);
	CHECK_STR(s, "abcde");
	c = cur_init(bad_bool, sizeof(bad_bool));
	rpc_get_bool(&c);
	CHECK_EQ(c.err, -EBADMSG);
}

static int
rm_feed_all(struct rpc_rm *rm, const uint8_t *p, size_t len, size_t step,
    uint8_t **recs, size_t *lens, size_t max)
{
	size_t off = 0, n = 0;

	while (off < len) {
		size_t chunk = step < len - off ? step : len - off, used;
		int r = rpc_rm_feed(rm, p + off, chunk, &used);

		off += used;
		if (r < 0) {
			return r;
		}
		if (r == 1 && n < max) {
			recs[n] = rpc_rm_take(rm, &lens[n]);
			n++;
		}
	}
	return (int)n;
}

TEST(rpc_record_marking_fragments)
{
	/* Two records: "abcd" in fragments "ab"+"cd", then "xyz" whole. */
	static const uint8_t s[] = {0x00, 0, 0, 2, 'a', 'b', 0x80, 0, 0, 2, 'c',
	    'd', 0x80, 0, 0, 3, 'x', 'y', 'z'};
	size_t step;

	for (step = 1; step <= sizeof(s); step++) {
		struct rpc_rm rm;
		uint8_t *recs[4] = {0};
		size_t lens[4] = {0};

		rpc_rm_init(&rm, 64);
		CHECK_EQ(
		    rm_feed_all(&rm, s, sizeof(s), step, recs, lens, 4), 2);
		CHECK_EQ(lens[0], 4);
		CHECK(recs[0] && memcmp(recs[0], "abcd", 4) == 0);
		CHECK_EQ(lens[1], 3);
		CHECK(recs[1] && memcmp(recs[1], "xyz", 3) == 0);
		free(recs[0]);
		free(recs[1]);
		rpc_rm_fini(&rm);
	}
}

TEST(rpc_record_marking_limit)
{
	/* 8 bytes then 9 bytes in a record limited to 16: refused. */
	static const uint8_t s[] = {
	    0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0x80, 0, 0, 9};
	static const uint8_t exact[] = {0x80, 0, 0, 4, 1, 2, 3, 4};
	struct rpc_rm rm;
	uint8_t *recs[2] = {0};
	size_t lens[2], used;

	rpc_rm_init(&rm, 16);
	CHECK_EQ(rm_feed_all(&rm, s, sizeof(s), 3, recs, lens, 2), -EMSGSIZE);
	/* Broken for good: nothing more is accepted. */
	CHECK_EQ(rpc_rm_feed(&rm, exact, sizeof(exact), &used), -EMSGSIZE);
	rpc_rm_fini(&rm);
	rpc_rm_init(&rm, 4);
	CHECK_EQ(rm_feed_all(&rm, exact, sizeof(exact), 8, recs, lens, 2), 1);
	CHECK_EQ(lens[0], 4);
	free(recs[0]);
	rpc_rm_fini(&rm);
}

/*
 * A header that announces 1 MiB reserves nothing: memory follows the
 * bytes that came, and the whole record still arrives intact in pieces.
 */
TEST(rpc_record_memory_follows_the_bytes)
{
	static uint8_t body[(1u << 20) + 4];
	struct rpc_rm rm;
	size_t used, off, len;
	uint8_t *rec;
	int r = 0;

	rpc_rm_marker(body, 1u << 20);
	for (off = 4; off < sizeof(body); off++) {
		body[off] = (uint8_t)(off * 7);
	}
	rpc_rm_init(&rm, (1u << 20) + 4096);
	CHECK(!rpc_rm_in_record(&rm));
	CHECK_EQ(rpc_rm_feed(&rm, body, 2, &used), 0);
	CHECK(rpc_rm_in_record(&rm));
	CHECK_EQ(rpc_rm_feed(&rm, body + 2, 12, &used), 0);
	CHECK(rm.rec_cap <= RPC_RM_MIN_ALLOC);
	for (off = 14; off < sizeof(body) && r == 0; off += used) {
		size_t n =
		    sizeof(body) - off < 65536 ? sizeof(body) - off : 65536;

		r = rpc_rm_feed(&rm, body + off, n, &used);
		CHECK(rm.rec_cap <= 2 * rm.rec_len ||
		    rm.rec_cap <= RPC_RM_MIN_ALLOC);
	}
	CHECK_EQ(r, 1);
	CHECK(!rpc_rm_in_record(&rm));
	rec = rpc_rm_take(&rm, &len);
	CHECK_EQ(len, 1u << 20);
	CHECK(rec && memcmp(rec, body + 4, len) == 0);
	free(rec);
	rpc_rm_fini(&rm);
}

TEST(rpc_record_marker)
{
	uint8_t m[4];

	rpc_rm_marker(m, 0x1234);
	CHECK_EQ(m[0], 0x80);
	CHECK_EQ(m[2], 0x12);
	CHECK_EQ(m[3], 0x34);
}

TEST(pmap_dump_round_trip)
{
	struct pmap_mapping in[2] = {
	    {100003, 3, 6, 2049}, {100005, 3, 17, 20048}};
	struct pmap_mapping out[2];
	uint8_t b[128];
	struct wcur w = wcur_init(b, sizeof(b));

	CHECK_EQ(pmap_dump_build(&w, in, 2), 0);
	CHECK_EQ(w.off, 4 + 2 * 20);
	CHECK_EQ(pmap_dump_parse(b, w.off, out, 2), 2);
	CHECK_EQ(out[1].port, 20048);
	CHECK_EQ(pmap_dump_parse(b, w.off, out, 1), -EMSGSIZE);
	CHECK_EQ(pmap_dump_parse(b, w.off - 1, out, 2), -EBADMSG);
	w = wcur_init(b, 30);
	CHECK_EQ(pmap_dump_build(&w, in, 2), -EMSGSIZE);
	CHECK_EQ(pmap_mapping_parse(b, 15, &out[0]), -EBADMSG);
}

TEST(mnt_codec)
{
	static const uint8_t path[] = {
	    0, 0, 0, 5, '/', 's', 'r', 'v', '/', 0, 0, 0};
	static const uint8_t fh[4] = {1, 2, 3, 4};
	static const uint8_t mnt_ok[] = {
	    0, 0, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4, 0, 0, 0, 1, 0, 0, 0, 1};
	uint8_t b[2048], got[64];
	char dir[MNT_PATH_MAX + 1];
	struct wcur w = wcur_init(b, sizeof(b));
	uint32_t flavor = 1, stat;
	size_t n;

	CHECK_EQ(mnt_dirpath_parse(path, sizeof(path), dir), 0);
	CHECK_STR(dir, "/srv/");
	CHECK_EQ(mnt_dirpath_parse(path, sizeof(path) - 1, dir), -EBADMSG);
	CHECK_EQ(mnt_mnt_build(&w, MNT3_OK, fh, 4, &flavor, 1), 0);
	CHECK_EQ(w.off, sizeof(mnt_ok));
	CHECK_MEM(b, mnt_ok, sizeof(mnt_ok));
	CHECK_EQ(mnt_mnt_parse(b, w.off, &stat, got, &n), 0);
	CHECK_EQ(n, 4);
	w = wcur_init(b, sizeof(b));
	CHECK_EQ(mnt_mnt_build(&w, MNT3ERR_ACCES, NULL, 0, NULL, 0), 0);
	CHECK_EQ(w.off, 4);
	CHECK_EQ(b[3], 13);
	/* A path of 1025 bytes is over MNTPATHLEN. */
	w = wcur_init(b, sizeof(b));
	memset(dir, 'a', 1025);
	dir[1025 - 1] = 0;
	wcur_be32(&w, 1025);
	wcur_bytes(&w, dir, 1024);
	wcur_bytes(&w, "a\0\0\0", 4);
	CHECK_EQ(mnt_dirpath_parse(b, w.off, dir), -EMSGSIZE);
}

TEST(mnt_export_list)
{
	const char *groups[] = {"198.18.0.0/24"};
	struct mnt_export e = {.dir = "/srv", .groups = groups, .ngroups = 1};
	struct mnt_body d = {.host = "198.18.0.2", .dir = "/srv"};
	uint8_t b[128];
	struct wcur w = wcur_init(b, sizeof(b));

	CHECK_EQ(mnt_export_build(&w, &e, 1), 0);
	/* 1, "/srv", 1, "198.18.0.0/24" (16), 0, 0 */
	CHECK_EQ(w.off, 4 + 8 + 4 + 4 + 16 + 4 + 4);
	w = wcur_init(b, sizeof(b));
	CHECK_EQ(mnt_dump_build(&w, &d, 1), 0);
	CHECK_EQ(w.off, 4 + 4 + 12 + 8 + 4);
	w = wcur_init(b, 8);
	CHECK_EQ(mnt_export_build(&w, &e, 1), -EMSGSIZE);
}
