#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cur.h"
#include "proto/tftp/pkt.h"
#include "proto/tftp/xfer.h"
#include "t.h"

/* Reference §8.4: the Pi 4 EEPROM's tsize probe, byte for byte. */
static const uint8_t eeprom_rrq[] = {0x00, 0x01, 0x39, 0x66, 0x66, 0x65, 0x66,
    0x64, 0x65, 0x66, 0x2f, 0x73, 0x74, 0x61, 0x72, 0x74, 0x34, 0x2e, 0x65,
    0x6c, 0x66, 0x00, 0x6f, 0x63, 0x74, 0x65, 0x74, 0x00, 0x74, 0x73, 0x69,
    0x7a, 0x65, 0x00, 0x30, 0x00, 0x62, 0x6c, 0x6b, 0x73, 0x69, 0x7a, 0x65,
    0x00, 0x31, 0x34, 0x36, 0x38, 0x00};
static const uint8_t eeprom_oack[] = {0x00, 0x06, 0x74, 0x73, 0x69, 0x7a, 0x65,
    0x00, 0x32, 0x32, 0x32, 0x38, 0x31, 0x36, 0x30, 0x00, 0x62, 0x6c, 0x6b,
    0x73, 0x69, 0x7a, 0x65, 0x00, 0x31, 0x34, 0x36, 0x38, 0x00};
static const uint8_t early_terminate[] = {0x00, 0x05, 0x00, 0x00, 0x45, 0x61,
    0x72, 0x6c, 0x79, 0x20, 0x74, 0x65, 0x72, 0x6d, 0x69, 0x6e, 0x61, 0x74,
    0x65, 0x00};
/* Reference §3.1: the 3B boot ROM's request (21 bytes, no options). */
static const uint8_t rom_rrq[] = "\x00\x01"
				 "bootcode.bin\0octet";

TEST(parse_eeprom_probe)
{
	struct tftp_pkt p;

	CHECK_EQ(tftp_parse(eeprom_rrq, sizeof(eeprom_rrq), &p), 0);
	CHECK_EQ(p.op, TFTP_RRQ);
	CHECK_EQ(p.file_len, 19);
	CHECK_STR(p.file, "9ffefdef/start4.elf");
	CHECK_STR(p.mode, "octet");
	CHECK_EQ(p.nopts, 2);
	CHECK(tftp_opt_is(&p.opts[0], "tsize"));
	CHECK(tftp_opt_is(&p.opts[1], "BLKSIZE"));
	CHECK_STR(p.opts[1].val, "1468");
}

TEST(parse_rom_rrq)
{
	struct tftp_pkt p;

	CHECK_EQ(sizeof(rom_rrq), 21);
	CHECK_EQ(tftp_parse(rom_rrq, sizeof(rom_rrq), &p), 0);
	CHECK_STR(p.file, "bootcode.bin");
	CHECK_EQ(p.nopts, 0);
}

TEST(parse_truncated)
{
	struct tftp_pkt p;
	static const uint8_t one[] = {0};
	static const uint8_t data3[] = {0, 3, 0};
	static const uint8_t ack3[] = {0, 4, 0};
	static const uint8_t err3[] = {0, 5, 0};

	CHECK_EQ(tftp_parse(one, 0, &p), -EBADMSG);
	CHECK_EQ(tftp_parse(one, 1, &p), -EBADMSG);
	CHECK_EQ(tftp_parse(data3, 3, &p), -EBADMSG);
	CHECK_EQ(tftp_parse(ack3, 3, &p), -EBADMSG);
	CHECK_EQ(tftp_parse(err3, 3, &p), -EBADMSG);
	/* Every prefix of the probe that cuts a string is malformed. */
	for (size_t n = 2; n < sizeof(eeprom_rrq); n++) {
		int r = tftp_parse(eeprom_rrq, n, &p);

		if (n == 28 || n == 36) {
			/* ends after mode or after a complete pair */
			CHECK_EQ(r, 0);
		} else {
			CHECK_EQ(r, -EBADMSG);
		}
	}
}

TEST(parse_missing_nul)
{
	struct tftp_pkt p;
	static const uint8_t noname[] = {0, 1, 'a', 'b'};
	static const uint8_t nomode[] = {0, 1, 'a', 0, 'o', 'c'};
	static const uint8_t noval[] = {0, 1, 'a', 0, 'o', 0, 't', 's', 0, '0'};
	static const uint8_t empty[] = {0, 1, 0, 'o', 0};

	CHECK_EQ(tftp_parse(noname, sizeof(noname), &p), -EBADMSG);
	CHECK_EQ(tftp_parse(nomode, sizeof(nomode), &p), -EBADMSG);
	CHECK_EQ(tftp_parse(noval, sizeof(noval), &p), -EBADMSG);
	CHECK_EQ(tftp_parse(empty, sizeof(empty), &p), -EBADMSG);
}

TEST(parse_long_name)
{
	uint8_t b[300 + 16];
	struct tftp_pkt p;
	size_t n;

	for (n = 255; n <= 256; n++) {
		b[0] = 0;
		b[1] = 1;
		memset(b + 2, 'x', n);
		memcpy(b + 2 + n, "\0octet", 7);
		CHECK_EQ(tftp_parse(b, n + 9, &p), n == 255 ? 0 : -EMSGSIZE);
	}
}

TEST(parse_odd_options_and_limits)
{
	static const uint8_t odd[] = "\x00\x01"
				     "f\0octet\0tsize\0000\0blksize";
	static const uint8_t odd2[] = "\x00\x01"
				      "f\0octet\0tsize";
	static const uint8_t pad[] = "\x00\x01"
				     "f\0octet\0tsize\0000\0\0\0";
	uint8_t many[512];
	struct tftp_pkt p;
	struct wcur w = wcur_init(many, sizeof(many));
	struct tftp_opt o[TFTP_OPTS_MAX + 1];
	size_t i;

	CHECK_EQ(tftp_parse(odd, sizeof(odd), &p), -EBADMSG);
	CHECK_EQ(tftp_parse(odd2, sizeof(odd2), &p), -EBADMSG);
	CHECK_EQ(tftp_parse(pad, sizeof(pad), &p), 0);
	CHECK_EQ(p.nopts, 1);
	for (i = 0; i <= TFTP_OPTS_MAX; i++) {
		o[i] = (struct tftp_opt){.name = "x", .val = "1"};
	}
	CHECK_EQ(
	    tftp_build_rrq(&w, TFTP_RRQ, "f", "octet", o, TFTP_OPTS_MAX + 1),
	    0);
	CHECK_EQ(tftp_parse(many, w.off, &p), -EMSGSIZE);
	w = wcur_init(many, sizeof(many));
	tftp_build_rrq(&w, TFTP_RRQ, "f", "octet", o, TFTP_OPTS_MAX);
	CHECK_EQ(tftp_parse(many, w.off, &p), 0);
	CHECK_EQ(p.nopts, TFTP_OPTS_MAX);
}

TEST(parse_unknown_opcodes)
{
	static const uint8_t z[] = {0, 0, 0, 0};
	static const uint8_t seven[] = {0, 7, 0, 0};
	static const uint8_t ff[] = {0xff, 0xff};
	struct tftp_pkt p;

	CHECK_EQ(tftp_parse(z, sizeof(z), &p), -EOPNOTSUPP);
	CHECK_EQ(tftp_parse(seven, sizeof(seven), &p), -EOPNOTSUPP);
	CHECK_EQ(tftp_parse(ff, sizeof(ff), &p), -EOPNOTSUPP);
}

TEST(parse_error_packets)
{
	static const uint8_t nonul[] = {0, 5, 0, 3, 'd', 'i', 's', 'k'};
	struct tftp_pkt p;

	CHECK_EQ(tftp_parse(early_terminate, sizeof(early_terminate), &p), 0);
	CHECK_EQ(p.op, TFTP_ERROR);
	CHECK_EQ(p.code, 0);
	CHECK_EQ(p.msg_len, 15);
	CHECK_MEM(p.msg, "Early terminate", 15);
	CHECK_EQ(tftp_parse(nonul, sizeof(nonul), &p), 0);
	CHECK_EQ(p.code, 3);
	CHECK_EQ(p.msg_len, 4);
}

TEST(opt_numbers)
{
	struct tftp_opt o = {.name = "tsize"};
	uint64_t v;

	o.val = "18446744073709551615";
	o.val_len = strlen(o.val);
	CHECK_EQ(tftp_opt_num(&o, UINT64_MAX, &v), 0);
	CHECK(v == UINT64_MAX);
	o.val = "18446744073709551616";
	CHECK_EQ(tftp_opt_num(&o, UINT64_MAX, &v), -EMSGSIZE);
	o.val = "99999999999999999999999999";
	o.val_len = strlen(o.val);
	CHECK_EQ(tftp_opt_num(&o, UINT64_MAX, &v), -EMSGSIZE);
	o.val = "12a";
	o.val_len = 3;
	CHECK_EQ(tftp_opt_num(&o, 1000, &v), -EBADMSG);
	o.val = "";
	o.val_len = 0;
	CHECK_EQ(tftp_opt_num(&o, 1000, &v), -EBADMSG);
	o.val = "256";
	o.val_len = 3;
	CHECK_EQ(tftp_opt_num(&o, 255, &v), -EMSGSIZE);
}

TEST(build_golden)
{
	uint8_t b[64];
	struct wcur w = wcur_init(b, sizeof(b));
	struct tftp_oack o = {.has_tsize = true,
	    .tsize = 2228160,
	    .has_blksize = true,
	    .blksize = 1468};

	CHECK_EQ(tftp_build_oack(&w, &o), 0);
	CHECK_EQ(w.off, sizeof(eeprom_oack));
	CHECK_MEM(b, eeprom_oack, sizeof(eeprom_oack));
	w = wcur_init(b, sizeof(b));
	CHECK_EQ(tftp_build_error(&w, 0, "Early terminate"), 0);
	CHECK_EQ(w.off, sizeof(early_terminate));
	CHECK_MEM(b, early_terminate, sizeof(early_terminate));
	w = wcur_init(b, 10);
	CHECK_EQ(tftp_build_error(&w, 1, "file not found"), -EMSGSIZE);
	w = wcur_init(b, 4);
	CHECK_EQ(tftp_build_data(&w, 1, "x", 1), -EMSGSIZE);
}

TEST(build_parse_round_trip)
{
	uint8_t b[128];
	struct wcur w = wcur_init(b, sizeof(b));
	struct tftp_opt o[2] = {
	    {.name = "blksize", .val = "1468"}, {.name = "tsize", .val = "0"}};
	struct tftp_pkt p;

	CHECK_EQ(tftp_build_rrq(&w, TFTP_WRQ, "a/b", "netascii", o, 2), 0);
	CHECK_EQ(tftp_parse(b, w.off, &p), 0);
	CHECK_EQ(p.op, TFTP_WRQ);
	CHECK_STR(p.file, "a/b");
	CHECK_STR(p.mode, "netascii");
	CHECK_EQ(p.nopts, 2);
	CHECK_STR(p.opts[1].name, "tsize");
	w = wcur_init(b, sizeof(b));
	CHECK_EQ(tftp_build_data(&w, 65535, "abc", 3), 0);
	CHECK_EQ(tftp_parse(b, w.off, &p), 0);
	CHECK_EQ(p.block, 65535);
	CHECK_EQ(p.data_len, 3);
	w = wcur_init(b, sizeof(b));
	CHECK_EQ(tftp_build_ack(&w, 7), 0);
	CHECK_EQ(tftp_parse(b, w.off, &p), 0);
	CHECK_EQ(p.op, TFTP_ACK);
	CHECK_EQ(p.block, 7);
}

static int
norm(const char *in, char *out, size_t cap)
{
	return tftp_normalize_name(in, strlen(in), out, cap);
}

TEST(normalize_names)
{
	char o[32];

	CHECK_EQ(norm("6c15e4ef//start4.elf", o, sizeof(o)), 19);
	CHECK_STR(o, "6c15e4ef/start4.elf");
	CHECK_EQ(norm("/start4.elf", o, sizeof(o)), 10);
	CHECK_STR(o, "start4.elf");
	CHECK_EQ(norm("//a/./b//", o, sizeof(o)), 3);
	CHECK_STR(o, "a/b");
	CHECK_EQ(norm("...", o, sizeof(o)), 3);
	CHECK_EQ(norm("a..b/c", o, sizeof(o)), 6);
	CHECK_EQ(norm("..", o, sizeof(o)), -EACCES);
	CHECK_EQ(norm("../etc/passwd", o, sizeof(o)), -EACCES);
	CHECK_EQ(norm("a/../../b", o, sizeof(o)), -EACCES);
	CHECK_EQ(norm("a/..", o, sizeof(o)), -EACCES);
	CHECK_EQ(norm("/", o, sizeof(o)), -EBADMSG);
	CHECK_EQ(norm("./", o, sizeof(o)), -EBADMSG);
	CHECK_EQ(tftp_normalize_name("a\0b", 3, o, sizeof(o)), -EBADMSG);
	CHECK_EQ(norm("0123456789", o, 10), -EMSGSIZE);
	CHECK_EQ(norm("012345678", o, 10), 9);
}

TEST(client_prefixes)
{
	CHECK_EQ(tftp_prefix_len("9ffefdef/start4.elf"), 8);
	CHECK_EQ(tftp_prefix_len("dc-a6-32-01-36-c2/start4.elf"), 17);
	CHECK_EQ(tftp_prefix_len("dc-a6-32-01-36-c2/a/b"), 17);
	CHECK_EQ(tftp_prefix_len("9FFEFDEF/start4.elf"), 0);
	CHECK_EQ(tftp_prefix_len("9ffefdef"), 0);
	CHECK_EQ(tftp_prefix_len("9ffefdef/"), 0);
	CHECK_EQ(tftp_prefix_len("9ffefdeg/x"), 0);
	CHECK_EQ(tftp_prefix_len("9ffefdef0/x"), 0);
	CHECK_EQ(tftp_prefix_len("dc:a6:32:01:36:c2/x"), 0);
	CHECK_EQ(tftp_prefix_len("dc-a6-32-01-36-c/x"), 0);
	CHECK_EQ(tftp_prefix_len("start4.elf"), 0);
	CHECK_EQ(tftp_prefix_len(""), 0);
}

/* A file in memory for the transfer machine. */
struct memfile {
	const uint8_t *p;
	size_t len;
	int fail;  /* return -EIO from this read on (1-based), 0 = never */
	int reads; /* calls so far */
};

static int64_t
mem_read(void *arg, uint8_t *dst, size_t len, uint64_t off)
{
	struct memfile *m = arg;

	m->reads++;
	if (m->fail && m->reads >= m->fail) {
		return -EIO;
	}
	if (off >= m->len) {
		return 0;
	}
	if (len > m->len - off) {
		len = m->len - off;
	}
	memcpy(dst, m->p + off, len);
	return (int64_t)len;
}

static const struct tftp_xfer_cfg xcfg = {
    .blksize_max = 1468,
    .windowsize_max = 64,
    .timeout_ms = 1000,
    .retries = 3,
};

/* the daemon's defaults (docs/config.md) */
static const struct tftp_xfer_cfg daemon_cfg = {
    .blksize_max = 1468,
    .windowsize_max = 64,
    .timeout_ms = 200,
    .retries = 11,
};

/*
 * Start a transfer with @cfg from an RRQ with NULL-terminated name/value
 * list.
 */
static int
start_with(struct tftp_xfer *x, const struct tftp_xfer_cfg *cfg,
    struct memfile *m, const char *mode, const char *const *kv, uint64_t now)
{
	uint8_t b[512];
	struct wcur w = wcur_init(b, sizeof(b));
	struct tftp_opt o[8];
	struct tftp_pkt p;
	size_t n = 0;

	while (kv && kv[2 * n]) {
		o[n].name = kv[2 * n];
		o[n].val = kv[2 * n + 1];
		n++;
	}
	tftp_build_rrq(&w, TFTP_RRQ, "f", mode, o, n);
	if (tftp_parse(b, w.off, &p) < 0) {
		return -999;
	}
	return tftp_xfer_start(x, &p, cfg, m->len, mem_read, m, now);
}

static int
start(struct tftp_xfer *x, struct memfile *m, const char *mode,
    const char *const *kv, uint64_t now)
{
	return start_with(x, &xcfg, m, mode, kv, now);
}

static int
ack(struct tftp_xfer *x, uint16_t block, uint64_t now)
{
	uint8_t b[4];
	struct wcur w = wcur_init(b, sizeof(b));

	tftp_build_ack(&w, block);
	return tftp_xfer_recv(x, b, 4, now);
}

/*
 * A well-behaved client: drain the window, ACK its last block, collect the
 * data.  Return: bytes received, or -1 on a protocol surprise.
 */
static long
run_client(struct tftp_xfer *x, uint8_t *out, size_t cap, uint64_t *nsent)
{
	static uint8_t pkt[65536];
	size_t got = 0;
	uint64_t now = 0, sent = 0;
	uint32_t expect = 1;

	while (!tftp_xfer_is_over(x)) {
		int n, last = -1;

		while ((n = tftp_xfer_send(x, pkt, sizeof(pkt), now)) > 0) {
			struct tftp_pkt p;

			sent++;
			if (tftp_parse(pkt, (size_t)n, &p) < 0) {
				return -1;
			}
			if (p.op == TFTP_OACK) {
				last = 0;
				break;
			}
			if (p.op != TFTP_DATA || p.block != (uint16_t)expect) {
				return -1;
			}
			if (p.data_len > cap - got) {
				return -1;
			}
			memcpy(out + got, p.data, p.data_len);
			got += p.data_len;
			expect++;
			last = p.block;
		}
		if (last < 0) {
			return -1;
		}
		ack(x, (uint16_t)last, now);
		now++;
	}
	if (nsent) {
		*nsent = sent;
	}
	return x->state == TFTP_XS_DONE ? (long)got : -1;
}

static uint8_t *
pattern(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	size_t i;

	for (i = 0; i < n; i++) {
		p[i] = (uint8_t)(i * 7 + i / 251);
	}
	return p;
}

TEST(xfer_no_options_starts_with_data)
{
	uint8_t *f = pattern(1000), out[2000], pkt[1600];
	struct memfile m = {.p = f, .len = 1000};
	struct tftp_xfer x;
	uint64_t sent;

	CHECK_EQ(start(&x, &m, "octet", NULL, 0), 0);
	CHECK(!x.oack);
	CHECK_EQ(x.blksize, 512);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 0), 516);
	CHECK_EQ(pkt[1], TFTP_DATA);
	CHECK_EQ(pkt[3], 1);
	/* lock-step: nothing more until the ACK */
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 0), 0);
	CHECK_EQ(start(&x, &m, "OCTET", NULL, 0), 0);
	CHECK_EQ(run_client(&x, out, sizeof(out), &sent), 1000);
	CHECK_EQ(sent, 2);
	CHECK_MEM(out, f, 1000);
	CHECK_EQ(x.bytes_sent, 1000);
	free(f);
}

TEST(xfer_eeprom_probe_then_early_terminate)
{
	uint8_t *f = pattern(2228160), pkt[1600];
	struct memfile m = {.p = f, .len = 2228160};
	struct tftp_xfer x;
	struct tftp_pkt p;
	int n;

	CHECK_EQ(tftp_parse(eeprom_rrq, sizeof(eeprom_rrq), &p), 0);
	CHECK_EQ(tftp_xfer_start(&x, &p, &xcfg, m.len, mem_read, &m, 0), 0);
	n = tftp_xfer_send(&x, pkt, sizeof(pkt), 0);
	CHECK_EQ(n, sizeof(eeprom_oack));
	CHECK_MEM(pkt, eeprom_oack, sizeof(eeprom_oack));
	/* DATA 1 waits for ACK 0 */
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 0), 0);
	CHECK_EQ(tftp_xfer_wake(&x), 1000);
	CHECK_EQ(
	    tftp_xfer_recv(&x, early_terminate, sizeof(early_terminate), 5), 0);
	CHECK_EQ(x.state, TFTP_XS_PEER_ERROR);
	CHECK_EQ(x.peer_code, 0);
	CHECK(tftp_xfer_wake(&x) == UINT64_MAX);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 5), 0);
	CHECK_EQ(m.reads, 0);
	free(f);
}

TEST(xfer_blksize_negotiation)
{
	static const char *const b0[] = {"blksize", "0", NULL};
	static const char *const b1[] = {"blksize", "1", NULL};
	static const char *const b8[] = {"blksize", "8", NULL};
	static const char *const huge[] = {"blksize", "100000", NULL};
	static const char *const junk[] = {"blksize", "12x", NULL};
	struct memfile m = {.p = (const uint8_t *)"hello", .len = 5};
	struct tftp_xfer x;

	CHECK_EQ(start(&x, &m, "octet", b0, 0), 0);
	CHECK(!x.oack);
	CHECK_EQ(x.blksize, 512);
	CHECK_EQ(start(&x, &m, "octet", b1, 0), 0);
	CHECK(!x.oack);
	CHECK_EQ(start(&x, &m, "octet", junk, 0), 0);
	CHECK(!x.oack);
	CHECK_EQ(start(&x, &m, "octet", b8, 0), 0);
	CHECK(x.oack);
	CHECK_EQ(x.blksize, 8);
	CHECK_EQ(start(&x, &m, "octet", huge, 0), 0);
	CHECK(x.oack);
	CHECK_EQ(x.blksize, 1468);
	CHECK_EQ(x.oack_vals.blksize, 1468);
}

TEST(xfer_tsize_timeout_unknown_options)
{
	static const char *const hugets[] = {
	    "tsize", "99999999999999999999999", NULL};
	static const char *const unk[] = {"multicast", "", "foo", "1", NULL};
	static const char *const to[] = {"timeout", "3", "TSIZE", "0", NULL};
	static const char *const badto[] = {"timeout", "0", NULL};
	static const char *const bigto[] = {"timeout", "256", NULL};
	struct memfile m = {.p = (const uint8_t *)"hello", .len = 5};
	struct tftp_xfer x;
	uint8_t pkt[600];
	struct tftp_pkt p;
	int n;

	CHECK_EQ(start(&x, &m, "octet", hugets, 0), 0);
	CHECK(!x.oack);
	CHECK_EQ(start(&x, &m, "octet", unk, 0), 0);
	CHECK(!x.oack);
	CHECK_EQ(start(&x, &m, "octet", badto, 0), 0);
	CHECK(!x.oack);
	CHECK_EQ(start(&x, &m, "octet", bigto, 0), 0);
	CHECK(!x.oack);
	CHECK_EQ(start(&x, &m, "octet", to, 0), 0);
	CHECK(x.oack);
	CHECK_EQ(x.timeout_ms, 3000);
	n = tftp_xfer_send(&x, pkt, sizeof(pkt), 0);
	CHECK_EQ(tftp_parse(pkt, (size_t)n, &p), 0);
	CHECK_EQ(p.op, TFTP_OACK);
	CHECK_EQ(p.nopts, 2);
	CHECK_STR(p.opts[0].name, "tsize");
	CHECK_STR(p.opts[0].val, "5");
	CHECK_STR(p.opts[1].name, "timeout");
	CHECK_STR(p.opts[1].val, "3");
	CHECK_EQ(tftp_xfer_wake(&x), 3000);
	/* RFC 2349: the asked-for timeout is used without backoff */
	tftp_xfer_tick(&x, 3000);
	tftp_xfer_send(&x, pkt, sizeof(pkt), 3000);
	CHECK_EQ(tftp_xfer_wake(&x), 6000);
}

TEST(xfer_mode_refused)
{
	struct memfile m = {.p = (const uint8_t *)"x", .len = 1};
	struct tftp_xfer x;

	CHECK_EQ(start(&x, &m, "mail", NULL, 0), -EOPNOTSUPP);
	CHECK_EQ(start(&x, &m, "binary", NULL, 0), -EOPNOTSUPP);
}

TEST(xfer_lost_ack_backoff_and_timeout)
{
	uint8_t *f = pattern(2000), pkt[1600];
	struct memfile m = {.p = f, .len = 2000};
	struct tftp_xfer x;

	CHECK_EQ(start(&x, &m, "octet", NULL, 0), 0);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 0), 516);
	/* no round trip measured yet: the configured timeout */
	CHECK_EQ(tftp_xfer_wake(&x), 1000);
	CHECK_EQ(ack(&x, 1, 30), 0);
	/* SRTT 30, RTTVAR 15: 30 + 60 is under the floor */
	CHECK_EQ(x.rto_ms, TFTP_RTO_MIN_MS);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 30), 516);
	CHECK_EQ(tftp_xfer_wake(&x), 130);
	tftp_xfer_tick(&x, 129);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 129), 0);
	/* timeouts 100, then half again each time: 151, 227, 341 */
	tftp_xfer_tick(&x, 130);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 130), 516);
	CHECK_EQ(pkt[3], 2);
	CHECK_EQ(tftp_xfer_wake(&x), 281);
	tftp_xfer_tick(&x, 281);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 281), 516);
	CHECK_EQ(tftp_xfer_wake(&x), 508);
	tftp_xfer_tick(&x, 508);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 508), 516);
	CHECK_EQ(tftp_xfer_wake(&x), 849);
	CHECK_EQ(x.retransmits, 3);
	/* well inside the 1 s bootcode.bin waits: four sends by 508 ms */
	tftp_xfer_tick(&x, 849);
	CHECK_EQ(x.state, TFTP_XS_TIMEOUT);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 849), 0);
	free(f);
}

TEST(xfer_rto_follows_measured_round_trips)
{
	uint8_t *f = pattern(200000), pkt[1600];
	struct memfile m = {.p = f, .len = 200000};
	struct tftp_xfer x;
	uint64_t now;
	uint16_t b;

	CHECK_EQ(start(&x, &m, "octet", NULL, 0), 0);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 0), 516);
	CHECK_EQ(ack(&x, 1, 40), 0);
	/* RFC 6298 §2.2: SRTT 40, RTTVAR 20, RTO 40 + 80 */
	CHECK_EQ(x.srtt_x8 / 8, 40);
	CHECK_EQ(x.rto_ms, 120);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 40), 516);
	CHECK_EQ(tftp_xfer_wake(&x), 160);
	CHECK_EQ(ack(&x, 2, 340), 0);
	/* §2.3: err 260; SRTT 40 + 260/8, RTTVAR 3/4 * 20 + 260/4 */
	CHECK_EQ(x.srtt_x8, 580);
	CHECK_EQ(x.rttvar_x4, 320);
	CHECK_EQ(x.rto_ms, 72 + 320);
	/* a steady 2 ms round trip brings it down to the floor */
	now = 340;
	for (b = 3; b < 60; b++) {
		CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), now), 516);
		now += 2;
		CHECK_EQ(ack(&x, b, now), 0);
	}
	CHECK_EQ(x.rto_ms, TFTP_RTO_MIN_MS);
	/* a huge sample is cut to the cap */
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), now), 516);
	CHECK_EQ(ack(&x, b, now + 100000), 0);
	CHECK_EQ(x.rto_ms, tftp_rto_cap(&x));
	free(f);
}

/*
 * However slow the round trips were, a block whose sends are all lost
 * goes out four times within the second bootcode.bin waits for it
 * (reference §9): at 5 % loss that leaves it 1 in 160,000, not 1 in 8,000.
 */
TEST(xfer_four_sends_inside_bootcode_patience)
{
	uint8_t *f = pattern(200000), pkt[1600];
	struct memfile m = {.p = f, .len = 200000};
	struct tftp_xfer x;
	uint64_t now = 0, first, wake;
	uint16_t b;
	int sends;

	CHECK_EQ(start_with(&x, &daemon_cfg, &m, "octet", NULL, 0), 0);
	/* a loaded server: every round trip a second long */
	for (b = 1; b < 20; b++) {
		CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), now), 516);
		now += 1000;
		CHECK_EQ(ack(&x, b, now), 0);
	}
	CHECK_EQ(x.rto_ms, tftp_rto_cap(&x));
	first = now;
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), now), 516);
	sends = 1;
	while ((wake = tftp_xfer_wake(&x)) < first + 1000) {
		tftp_xfer_tick(&x, wake);
		CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), wake), 516);
		CHECK_EQ((pkt[2] << 8) | pkt[3], b);
		sends++;
	}
	CHECK(sends >= 4);
	free(f);
}

TEST(xfer_karn_no_sample_from_a_resent_block)
{
	uint8_t *f = pattern(5000), pkt[1600];
	struct memfile m = {.p = f, .len = 5000};
	struct tftp_xfer x;

	CHECK_EQ(start(&x, &m, "octet", NULL, 0), 0);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 0), 516);
	tftp_xfer_tick(&x, 1000);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 1000), 516);
	CHECK_EQ(x.cur_timeout_ms, tftp_rto_cap(&x));
	/* the ACK may answer either copy: no sample, backoff kept (§5) */
	CHECK_EQ(ack(&x, 1, 1010), 0);
	CHECK(!x.rtt_seeded);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 1010), 516);
	CHECK_EQ(tftp_xfer_wake(&x), 1010 + tftp_rto_cap(&x));
	/* block 2 went once: its ACK is a sample and the timeout falls */
	CHECK_EQ(ack(&x, 2, 1020), 0);
	CHECK(x.rtt_seeded);
	CHECK_EQ(x.srtt_x8 / 8, 10);
	CHECK_EQ(x.cur_timeout_ms, TFTP_RTO_MIN_MS);
	free(f);
}

TEST(xfer_unconfirmed_peer_resends_are_bounded)
{
	static const char *const ts[] = {"tsize", "0", NULL};
	uint8_t *f = pattern(5000), pkt[1600];
	struct memfile m = {.p = f, .len = 5000};
	struct tftp_xfer x;
	int sends = 0, k;

	/* DATA 1 (no options) and the OACK alike */
	for (k = 0; k < 2; k++) {
		uint64_t now = 0;

		CHECK_EQ(start(&x, &m, "octet", k ? ts : NULL, 0), 0);
		sends = 0;
		while (!tftp_xfer_is_over(&x) && now < 60000) {
			if (tftp_xfer_send(&x, pkt, sizeof(pkt), now) > 0) {
				sends++;
			}
			now = tftp_xfer_wake(&x);
			tftp_xfer_tick(&x, now);
		}
		CHECK_EQ(x.state, TFTP_XS_UNANSWERED);
		CHECK_EQ(sends, 1 + TFTP_UNCONFIRMED_RETRIES);
		CHECK_EQ(x.retransmits, TFTP_UNCONFIRMED_RETRIES);
		CHECK_STR(tftp_xfer_state_name(x.state), "unanswered");
	}
	/* once the peer answered, the configured retries apply */
	CHECK_EQ(start(&x, &m, "octet", NULL, 0), 0);
	tftp_xfer_send(&x, pkt, sizeof(pkt), 0);
	CHECK_EQ(ack(&x, 1, 1), 0);
	sends = 0;
	while (!tftp_xfer_is_over(&x)) {
		uint64_t now = tftp_xfer_wake(&x);

		if (tftp_xfer_send(&x, pkt, sizeof(pkt), now) > 0) {
			sends++;
		}
		tftp_xfer_tick(&x, tftp_xfer_wake(&x));
	}
	CHECK_EQ(x.state, TFTP_XS_TIMEOUT);
	CHECK_EQ(sends, 1 + 3);
	free(f);
}

/*
 * A request's first packet goes out four times inside bootcode.bin's
 * second, like any block; once those resends are spent, each repeat of
 * the request (the only thing a Pi resends, reference §9) gets the
 * packet once more, and the transfer goes on when it is acknowledged.
 */
TEST(xfer_first_packet_four_sends_then_one_per_request)
{
	static const char *const ts[] = {"tsize", "0", NULL};
	uint8_t *f = pattern(5000), pkt[1600];
	struct memfile m = {.p = f, .len = 5000};
	struct tftp_xfer x;
	uint64_t wake;
	int sends = 1;

	CHECK_EQ(start_with(&x, &daemon_cfg, &m, "octet", ts, 0), 0);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 0), 13);
	while ((wake = tftp_xfer_wake(&x)) < 1000) {
		tftp_xfer_tick(&x, wake);
		CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), wake), 13);
		CHECK_EQ(pkt[1], TFTP_OACK);
		sends++;
	}
	CHECK_EQ(sends, 4);
	CHECK_EQ(x.tries, TFTP_UNCONFIRMED_RETRIES);
	/* resends spent: the transfer waits, silent, for the client */
	CHECK(wake >= 700 + TFTP_UNCONFIRMED_WAIT_MS);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 2000), 0);
	/* the RRQ again, 2 s later: the OACK at once, each time */
	CHECK(tftp_xfer_request_again(&x));
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 2000), 13);
	CHECK_EQ(pkt[1], TFTP_OACK);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 2000), 0);
	CHECK(tftp_xfer_request_again(&x));
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 2001), 13);
	CHECK(!tftp_xfer_is_over(&x));
	CHECK_EQ(ack(&x, 0, 2002), 0);
	/* acknowledged: a late copy of the request changes nothing */
	CHECK(!tftp_xfer_request_again(&x));
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 2002), 516);
	CHECK_EQ(pkt[3], 1);
	free(f);
}

/*
 * The resends to an unconfirmed peer stay bounded, but the transfer waits
 * TFTP_UNCONFIRMED_WAIT_MS after the last of them: a busy client (one
 * host fetching hundreds of files at once) that answers its first packet
 * late must still get its file.
 */
TEST(xfer_unconfirmed_peer_may_answer_late)
{
	uint8_t *f = pattern(5000), pkt[1600];
	struct memfile m = {.p = f, .len = 5000};
	struct tftp_xfer x;
	uint64_t now = 0, last = 0;
	int sends = 0;

	CHECK_EQ(start(&x, &m, "octet", NULL, 0), 0);
	for (;;) {
		if (tftp_xfer_send(&x, pkt, sizeof(pkt), now) > 0) {
			sends++;
			last = now;
		}
		if (sends == 1 + TFTP_UNCONFIRMED_RETRIES) {
			break;
		}
		now = tftp_xfer_wake(&x);
		tftp_xfer_tick(&x, now);
	}
	CHECK(!tftp_xfer_is_over(&x));
	CHECK(tftp_xfer_wake(&x) >= last + TFTP_UNCONFIRMED_WAIT_MS);
	/* no further packet goes out while it waits */
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), last + 1), 0);
	tftp_xfer_tick(&x, last + TFTP_UNCONFIRMED_WAIT_MS - 1);
	CHECK(!tftp_xfer_is_over(&x));
	CHECK_EQ(ack(&x, 1, last + TFTP_UNCONFIRMED_WAIT_MS - 1), 0);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), last + 2999), 516);
	CHECK_EQ(pkt[3], 2);
	/* block 2 is resent on the capped timeout, not after 3 s */
	CHECK(tftp_xfer_wake(&x) <= last + 2999 + tftp_rto_cap(&x));
	free(f);
}

TEST(xfer_duplicate_ack_no_resend)
{
	uint8_t *f = pattern(5000), pkt[1600];
	struct memfile m = {.p = f, .len = 5000};
	struct tftp_xfer x;

	CHECK_EQ(start(&x, &m, "octet", NULL, 0), 0);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 0), 516);
	CHECK_EQ(ack(&x, 1, 1), 0);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 1), 516);
	CHECK_EQ(pkt[3], 2);
	/* Sorcerer's Apprentice: a second ACK 1 must not resend block 2 */
	CHECK_EQ(ack(&x, 1, 2), -EPROTO);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 2), 0);
	CHECK_EQ(x.dup_acks, 1);
	/* ACKs for blocks never sent are ignored */
	CHECK_EQ(ack(&x, 3, 3), -EPROTO);
	CHECK_EQ(ack(&x, 60000, 3), -EPROTO);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 3), 0);
	CHECK_EQ(x.acked, 2);
	/* DATA, RRQ and junk from the client change nothing */
	CHECK_EQ(tftp_xfer_recv(&x, pkt, 516, 3), -EPROTO);
	CHECK_EQ(tftp_xfer_recv(&x, pkt, 1, 3), -EBADMSG);
	CHECK_EQ(ack(&x, 2, 4), 0);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 4), 516);
	CHECK_EQ(pkt[3], 3);
	free(f);
}

TEST(xfer_sizes_and_empty_last_block)
{
	static const size_t sizes[] = {0, 1, 511, 512, 513, 1024, 5000};
	uint8_t out[6000];
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *f = pattern(sizes[i]);
		struct memfile m = {.p = f, .len = sizes[i]};
		struct tftp_xfer x;
		uint64_t sent;

		CHECK_EQ(start(&x, &m, "octet", NULL, 0), 0);
		CHECK_EQ(
		    run_client(&x, out, sizeof(out), &sent), (long)sizes[i]);
		CHECK_EQ(sent, sizes[i] / 512 + 1);
		CHECK_MEM(out, f, sizes[i]);
		free(f);
	}
}

TEST(xfer_block_rollover)
{
	/* 70000 blocks of 8 bytes: block 65535 is followed by block 0 */
	size_t size = 70000 * 8 + 3;
	uint8_t *f = pattern(size), *out = malloc(size);
	static const char *const kv[] = {"blksize", "8", NULL};
	struct memfile m = {.p = f, .len = size};
	struct tftp_xfer x;
	uint64_t sent;

	CHECK_EQ(start(&x, &m, "octet", kv, 0), 0);
	CHECK_EQ(tftp_xfer_blocks(size, 8), 70001);
	CHECK_EQ(run_client(&x, out, size, &sent), (long)size);
	CHECK_EQ(sent, 70002); /* OACK + blocks */
	CHECK_MEM(out, f, size);
	CHECK(x.last == 70001);
	free(f);
	free(out);
}

TEST(xfer_windowsize)
{
	static const char *const kv[] = {"windowsize", "4", NULL};
	static const char *const big[] = {"windowsize", "1000", NULL};
	uint8_t *f = pattern(512 * 9 + 100), pkt[1600], out[6000];
	struct memfile m = {.p = f, .len = 512 * 9 + 100};
	struct tftp_xfer x;
	int i;

	CHECK_EQ(start(&x, &m, "octet", big, 0), 0);
	CHECK_EQ(x.windowsize, 64);
	CHECK_EQ(start(&x, &m, "octet", kv, 0), 0);
	CHECK_EQ(x.windowsize, 4);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 0) > 0, 1);
	CHECK_EQ(ack(&x, 0, 0), 0);
	for (i = 1; i <= 4; i++) {
		CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 0), 516);
		CHECK_EQ(pkt[3], i);
	}
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 0), 0);
	/* the client saw only 1 and 2: resume from 3 (RFC 7440 §4) */
	CHECK_EQ(ack(&x, 2, 1), 0);
	for (i = 3; i <= 6; i++) {
		CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 1), 516);
		CHECK_EQ(pkt[3], i);
	}
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 1), 0);
	/* timeout resends the whole window from its first block */
	tftp_xfer_tick(&x, 2000);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 2000), 516);
	CHECK_EQ(pkt[3], 3);
	CHECK_EQ(start(&x, &m, "octet", kv, 0), 0);
	CHECK_EQ(run_client(&x, out, sizeof(out), NULL), 512 * 9 + 100);
	CHECK_MEM(out, f, 512 * 9 + 100);
	free(f);
}

TEST(xfer_netascii)
{
	static const char *const kv[] = {
	    "blksize", "8", "windowsize", "4", NULL};
	const char *text = "ab\ncdefg\rhi\n\n";
	const char *want = "ab\r\ncdefg\r\0hi\r\n\r\n";
	size_t wlen = 17;
	struct memfile m = {.p = (const uint8_t *)text, .len = strlen(text)};
	struct tftp_xfer x;
	uint8_t out[64];

	CHECK_EQ(start(&x, &m, "netascii", kv, 0), 0);
	/* lock-step in netascii even when a window was asked for */
	CHECK_EQ(x.windowsize, 1);
	CHECK(!x.oack_vals.has_windowsize);
	CHECK_EQ(run_client(&x, out, sizeof(out), NULL), (long)wlen);
	CHECK_MEM(out, want, wlen);
	CHECK_EQ(x.bytes_sent, strlen(text));
	/* a CR split at a block edge: CR ends block 1, NUL starts 2 */
	m.p = (const uint8_t *)"1234567\rX";
	m.len = 9;
	CHECK_EQ(start(&x, &m, "netascii", kv, 0), 0);
	CHECK_EQ(run_client(&x, out, sizeof(out), NULL), 10);
	CHECK_MEM(out, "1234567\r\0X", 10);
}

TEST(xfer_netascii_retransmit_same_bytes)
{
	static const char *const kv[] = {"blksize", "8", NULL};
	struct memfile m = {.p = (const uint8_t *)"1234567\n89\n", .len = 11};
	struct tftp_xfer x;
	uint8_t a[64], b[64];

	CHECK_EQ(start(&x, &m, "netascii", kv, 0), 0);
	tftp_xfer_send(&x, a, sizeof(a), 0);
	CHECK_EQ(ack(&x, 0, 0), 0);
	CHECK_EQ(tftp_xfer_send(&x, a, sizeof(a), 0), 12);
	CHECK_EQ(ack(&x, 1, 0), 0);
	CHECK_EQ(tftp_xfer_send(&x, a, sizeof(a), 0), 9);
	tftp_xfer_tick(&x, 1000);
	CHECK_EQ(tftp_xfer_send(&x, b, sizeof(b), 1000), 9);
	CHECK_MEM(a, b, 9);
	CHECK_MEM(a + 4, "\n89\r\n", 5);
}

TEST(xfer_read_failure_sends_error)
{
	uint8_t *f = pattern(3000), pkt[1600];
	struct memfile m = {.p = f, .len = 3000, .fail = 2};
	struct tftp_xfer x;
	struct tftp_pkt p;
	int n;

	CHECK_EQ(start(&x, &m, "octet", NULL, 0), 0);
	CHECK_EQ(tftp_xfer_send(&x, pkt, sizeof(pkt), 0), 516);
	CHECK_EQ(ack(&x, 1, 0), 0);
	n = tftp_xfer_send(&x, pkt, sizeof(pkt), 0);
	CHECK_EQ(tftp_parse(pkt, (size_t)n, &p), 0);
	CHECK_EQ(p.op, TFTP_ERROR);
	CHECK_EQ(x.state, TFTP_XS_FAILED);
	/* a file that shrank under us is an error, not short data */
	m.fail = 0;
	m.reads = 0;
	CHECK_EQ(start(&x, &m, "octet", NULL, 0), 0);
	m.len = 100;
	n = tftp_xfer_send(&x, pkt, sizeof(pkt), 0);
	CHECK_EQ(tftp_parse(pkt, (size_t)n, &p), 0);
	CHECK_EQ(p.op, TFTP_ERROR);
	CHECK_EQ(tftp_xfer_send(&x, pkt, 10, 0), 0);
	CHECK_EQ(start(&x, &m, "octet", NULL, 0), 0);
	CHECK_EQ(tftp_xfer_send(&x, pkt, 100, 0), -EMSGSIZE);
	free(f);
}

TEST(xfer_peer_error_other_codes)
{
	static const uint8_t e8[] = {0, 5, 0, 8, 'n', 'o', 0};
	struct memfile m = {.p = (const uint8_t *)"x", .len = 1};
	struct tftp_xfer x;

	CHECK_EQ(start(&x, &m, "octet", NULL, 0), 0);
	CHECK_EQ(tftp_xfer_recv(&x, e8, sizeof(e8), 0), 0);
	CHECK_EQ(x.state, TFTP_XS_PEER_ERROR);
	CHECK_EQ(x.peer_code, 8);
	/* later packets are ignored */
	CHECK_EQ(ack(&x, 1, 0), -EPROTO);
}
