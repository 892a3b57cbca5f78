#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/csum.h"
#include "core/cfg.h"
#include "core/cur.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/size.h"
#include "t.h"

TEST(cur_reads_both_byte_orders)
{
	static const uint8_t b[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
	    14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
	    31};
	struct cur c = cur_init(b, sizeof(b));

	CHECK_EQ(cur_u8(&c), 1);
	CHECK_EQ(cur_be16(&c), 0x0203);
	CHECK_EQ(cur_le16(&c), 0x0504);
	CHECK_EQ(cur_be32(&c), 0x06070809);
	CHECK_EQ(cur_le32(&c), 0x0d0c0b0a);
	CHECK(cur_be64(&c) == 0x0e0f101112131415ull);
	CHECK(cur_le64(&c) == 0x1d1c1b1a19181716ull);
	CHECK_EQ(cur_left(&c), 2);
	CHECK_EQ(cur_end(&c, false), -EBADMSG);
	CHECK_EQ(cur_end(&c, true), 0);
}

TEST(cur_failure_is_sticky)
{
	static const uint8_t b[] = {0xaa, 0xbb, 0xcc};
	struct cur c = cur_init(b, sizeof(b));

	CHECK_EQ(cur_be32(&c), 0);
	CHECK_EQ(c.err, -EBADMSG);
	/* After a failure even a read that would fit returns zero. */
	CHECK_EQ(cur_u8(&c), 0);
	CHECK(cur_bytes(&c, 0) == NULL);
	CHECK_EQ(cur_end(&c, true), -EBADMSG);
}

TEST(cur_huge_length_does_not_wrap)
{
	static const uint8_t b[8];
	struct cur c = cur_init(b, sizeof(b));

	cur_skip(&c, 4);
	CHECK(cur_bytes(&c, SIZE_MAX - 2) == NULL);
	CHECK_EQ(c.err, -EBADMSG);
}

TEST(cur_sub_and_pad4)
{
	static const uint8_t b[] = {0, 0, 0, 3, 'a', 'b', 'c', 0, 9};
	struct cur c = cur_init(b, sizeof(b));
	struct cur s;
	uint32_t n = cur_be32(&c);

	s = cur_sub(&c, n);
	CHECK_EQ(s.len, 3);
	CHECK_EQ(cur_u8(&s), 'a');
	cur_pad4(&c);
	CHECK_EQ(cur_u8(&c), 9);
	CHECK_EQ(cur_end(&c, false), 0);
	s = cur_sub(&c, 1);
	CHECK_EQ(s.err, -EBADMSG);
}

TEST(wcur_writes_and_overflows)
{
	uint8_t b[10];
	struct wcur w = wcur_init(b, sizeof(b));
	uint8_t *len;

	wcur_be16(&w, 0x0102);
	wcur_le16(&w, 0x0304);
	len = wcur_reserve(&w, 1);
	CHECK(len != NULL);
	wcur_bytes(&w, "xy", 2);
	wcur_pad4(&w);
	CHECK_EQ(w.off, 8);
	CHECK_MEM(b, "\x01\x02\x04\x03", 4);
	wcur_be32(&w, 7);
	CHECK_EQ(w.err, -EMSGSIZE);
	wcur_u8(&w, 1);
	CHECK_EQ(w.off, 8);
}

TEST(buf_enforces_max)
{
	struct buf b;

	buf_init(&b, 8);
	CHECK_EQ(buf_add(&b, "abcd", 4), 0);
	CHECK_EQ(buf_printf(&b, "%d", 123), 0);
	CHECK_EQ(b.len, 7);
	CHECK_STR((char *)b.p, "abcd123");
	buf_consume(&b, 2);
	CHECK_STR((char *)b.p, "cd123");
	CHECK_EQ(buf_add(&b, "xyzw", 4), -EMSGSIZE);
	/* A failed append empties the buffer. */
	CHECK_EQ(b.len, 0);
	CHECK(b.p == NULL);
	CHECK_EQ(buf_add_str(&b, "ok"), 0);
	{
		size_t n;
		uint8_t *p = buf_steal(&b, &n);

		CHECK_EQ(n, 2);
		CHECK_STR((char *)p, "ok");
		free(p);
	}
	CHECK_EQ(b.len, 0);
	buf_fini(&b);
}

TEST(err_names_disk_codes)
{
	CHECK(strstr(pnb_strerror(-PNB_EFAT_LOOP), "loops") != NULL);
	CHECK_STR(pnb_strerror(-ENOENT), strerror(ENOENT));
}

TEST(log_escape_cuts_and_escapes)
{
	char out[LOG_ESCAPE_MAX];
	char big[300];

	log_escape(out, "a\"b\n\\", 5);
	CHECK_STR(out, "a\\x22b\\x0a\\x5c");
	memset(big, 'x', sizeof(big));
	log_escape(out, big, sizeof(big));
	CHECK_EQ(strlen(out), 131);
}

TEST(log_ratelimit_bursts_then_limits)
{
	struct log_ratelimit rl = {0};
	int ok = 0, i;

	for (i = 0; i < 20; i++) {
		ok += log_ratelimit_ok(&rl, 1000);
	}
	CHECK_EQ(ok, 5);
	CHECK_EQ(rl.suppressed, 15);
	CHECK(log_ratelimit_ok(&rl, 2500));
}

struct fired {
	struct loop_timer t;
	int order[16];
	int n;
	int id;
	struct fired *log;
};

static void
record_fire(struct loop *l, struct loop_timer *t)
{
	struct fired *f = t->arg;

	(void)l;
	f->log->order[f->log->n++] = f->id;
}

TEST(loop_timers_fire_in_order_and_cancel)
{
	struct loop *l = loop_open();
	struct fired log = {0}, ts[6];
	static const uint64_t when[6] = {50, 10, 30, 20, 40, 60};
	int i;

	CHECK(l != NULL);
	if (!l) {
		return;
	}
	for (i = 0; i < 6; i++) {
		ts[i] = (struct fired){.id = i, .log = &log};
		loop_timer_init(&ts[i].t, record_fire, &ts[i]);
		CHECK_EQ(
		    loop_timer_arm(l, &ts[i].t, loop_now_ms(l) + when[i]), 0);
	}
	CHECK_EQ(loop_timer_count(l), 6);
	loop_timer_cancel(l, &ts[2].t);                  /* 30 ms */
	loop_timer_arm(l, &ts[5].t, loop_now_ms(l) + 5); /* 60 -> 5 ms */
	CHECK(!loop_timer_is_armed(&ts[2].t));
	while (loop_timer_count(l) > 0) {
		CHECK_EQ(loop_run_once(l, 100), 0);
	}
	CHECK_EQ(log.n, 5);
	CHECK_EQ(log.order[0], 5);
	CHECK_EQ(log.order[1], 1);
	CHECK_EQ(log.order[2], 3);
	CHECK_EQ(log.order[3], 4);
	CHECK_EQ(log.order[4], 0);
	loop_close(l);
}

TEST(loop_heap_survives_random_churn)
{
	struct loop *l = loop_open();
	struct loop_timer *ts = calloc(500, sizeof(*ts));
	unsigned seed = 1;
	int i;

	CHECK(l != NULL && ts != NULL);
	if (!l || !ts) {
		free(ts);
		return;
	}
	for (i = 0; i < 500; i++) {
		loop_timer_init(&ts[i], NULL, NULL);
		loop_timer_arm(l, &ts[i], 1000000 + (rand_r(&seed) % 1000));
	}
	for (i = 0; i < 2000; i++) {
		struct loop_timer *t = &ts[rand_r(&seed) % 500];

		if (rand_r(&seed) % 3 == 0) {
			loop_timer_cancel(l, t);
		} else {
			loop_timer_arm(l, t, 1000000 + (rand_r(&seed) % 1000));
		}
	}
	/* Every armed timer's index points back at itself. */
	{
		size_t armed = 0;

		for (i = 0; i < 500; i++) {
			armed += loop_timer_is_armed(&ts[i]);
		}
		CHECK_EQ(armed, loop_timer_count(l));
	}
	for (i = 0; i < 500; i++) {
		loop_timer_cancel(l, &ts[i]);
	}
	CHECK_EQ(loop_timer_count(l), 0);
	loop_close(l);
	free(ts);
}

TEST(cfg_parses_file_and_reports_lines)
{
	static const char text[] =
	    "# comment\n"
	    "[server]\n"
	    "state_dir = /srv/pnb   # trailing comment\n"
	    "address = 198.18.0.1\n"
	    "[dhcp]\n"
	    "mode = server\n"
	    "range = 198.18.0.100,198.18.0.200\n"
	    "boot_file = efi-x64=ipxe.efi\n"
	    "boot_file = undionly.kpxe\n"
	    "[tftp]\n"
	    "blksize_max = 1468\n"
	    "[nfs]\n"
	    "export = /srv/extra:ro,allow=198.18.0.0/24\n";
	struct cfg *c = calloc(1, sizeof(*c));
	char msg[256];

	cfg_defaults(c);
	CHECK_EQ(cfg_parse(c, text, sizeof(text) - 1, msg, sizeof(msg)), 0);
	CHECK_STR(c->state_dir, "/srv/pnb");
	CHECK_EQ(c->dhcp_mode, CFG_DHCP_SERVER);
	CHECK_EQ(c->dhcp_nboot_file, 2);
	CHECK_EQ(c->dhcp_boot_file[0].arch, 7);
	CHECK_STR(c->dhcp_boot_file[1].name, "undionly.kpxe");
	CHECK_EQ(c->nfs_nexport, 1);
	CHECK_STR(c->nfs_export[0].path, "/srv/extra");
	CHECK_STR(c->nfs_export[0].opts, "ro,allow=198.18.0.0/24");
	CHECK_EQ(cfg_finish(c, msg, sizeof(msg)), 0);
	CHECK_STR(c->tftp_root, "/srv/pnb/tftp");

	cfg_defaults(c);
	CHECK_EQ(
	    cfg_parse(c, "[tftp]\nblksize_max = 7\n", 22, msg, sizeof(msg)),
	    -EINVAL);
	CHECK(strstr(msg, "line 2") != NULL);
	CHECK(strstr(msg, "8 to 65464") != NULL);
	CHECK_EQ(
	    cfg_parse(c, "[nope]\na = b\n", 13, msg, sizeof(msg)), -ENOENT);
	CHECK(strstr(msg, "unknown section [nope]") != NULL);
	CHECK_EQ(
	    cfg_parse(c, "[tftp]\nbogus = 1\n", 17, msg, sizeof(msg)), -ENOENT);
	CHECK_EQ(cfg_parse(c, "a = b\n", 6, msg, sizeof(msg)), -EBADMSG);
	CHECK_EQ(cfg_parse(c, "[tftp\n", 6, msg, sizeof(msg)), -EBADMSG);
	free(c);
}

TEST(cfg_finish_checks_dhcp_range)
{
	struct cfg *c = calloc(1, sizeof(*c));
	char msg[256];

	cfg_defaults(c);
	CHECK_EQ(cfg_set(c, "dhcp", "mode", "server", msg, sizeof(msg)), 0);
	CHECK_EQ(cfg_finish(c, msg, sizeof(msg)), -EINVAL);
	CHECK(strstr(msg, "--dhcp-range") != NULL);
	CHECK_EQ(
	    cfg_set(c, "server", "address", "198.18.0.1", msg, sizeof(msg)), 0);
	CHECK_EQ(cfg_set(c, "dhcp", "range", "198.18.1.10,198.18.1.20", msg,
		     sizeof(msg)),
	    0);
	CHECK_EQ(cfg_finish(c, msg, sizeof(msg)), -EINVAL);
	CHECK(strstr(msg, "subnet") != NULL);
	CHECK_EQ(cfg_set(c, "dhcp", "range", "198.18.0.20,198.18.0.10", msg,
		     sizeof(msg)),
	    -EINVAL);
	free(c);
}

/* The shipped example config must stay valid as keys change. */
TEST(cfg_example_file_parses)
{
	struct cfg *c = calloc(1, sizeof(*c));
	char msg[256] = "", *text = malloc(1 << 16);
	FILE *f = fopen("dist/pinetboot.conf.example", "r");
	size_t n = 0;

	CHECK(f != NULL);
	if (f) {
		n = fread(text, 1, (1 << 16) - 1, f);
		fclose(f);
	}
	cfg_defaults(c);
	CHECK(n > 100);
	CHECK_EQ(cfg_parse(c, text, n, msg, sizeof(msg)), 0);
	if (msg[0]) {
		fprintf(stderr, "%s\n", msg);
	}
	free(text);
	free(c);
}

TEST(size_parse_suffixes_and_limits)
{
	uint64_t v = 7;
	char h[32];

	CHECK_EQ(size_parse("1048576", &v), 0);
	CHECK_EQ(v, 1048576);
	CHECK_EQ(size_parse("64G", &v), 0);
	CHECK_EQ(v, 64ull << 30);
	CHECK_EQ(size_parse("64GiB", &v), 0);
	CHECK_EQ(v, 64ull << 30);
	CHECK_EQ(size_parse("512m", &v), 0);
	CHECK_EQ(v, 512ull << 20);
	CHECK_EQ(size_parse("3T", &v), 0);
	CHECK_EQ(v, 3ull << 40);
	CHECK_EQ(size_parse("18446744073709551615", &v), 0);
	CHECK(v == UINT64_MAX);
	v = 7;
	CHECK_EQ(size_parse("18446744073709551616", &v), -ERANGE);
	CHECK_EQ(size_parse("16384P", &v), -ERANGE);
	CHECK_EQ(size_parse("", &v), -EINVAL);
	CHECK_EQ(size_parse("-1", &v), -EINVAL);
	CHECK_EQ(size_parse(" 1G", &v), -EINVAL);
	CHECK_EQ(size_parse("1 G", &v), -EINVAL);
	CHECK_EQ(size_parse("1GB", &v), -EINVAL);
	CHECK_EQ(size_parse("1X", &v), -EINVAL);
	CHECK_EQ(size_parse("1Gi", &v), -EINVAL);
	CHECK_EQ(v, 7);
	CHECK_STR(size_human(0, h, sizeof(h)), "0 B");
	CHECK_STR(size_human(113246208, h, sizeof(h)), "108.0 MiB");
	CHECK_STR(size_human(64ull << 30, h, sizeof(h)), "64.0 GiB");
}

TEST(cfg_image_max_size)
{
	struct cfg *c = calloc(1, sizeof(*c));
	char msg[256];

	cfg_defaults(c);
	CHECK(c->image_max_size == CFG_IMAGE_MAX_SIZE_DEFAULT);
	CHECK_EQ(
	    cfg_parse(c, "[image]\nmax_size = 8G\n", 22, msg, sizeof(msg)), 0);
	CHECK(c->image_max_size == 8ull << 30);
	CHECK_EQ(cfg_set(c, "image", "max_size", "1M", msg, sizeof(msg)), 0);
	CHECK_EQ(cfg_set(c, "image", "max_size", "1023K", msg, sizeof(msg)),
	    -EINVAL);
	CHECK(strstr(msg, "at least 1M") != NULL);
	CHECK_EQ(
	    cfg_set(c, "image", "max_size", "lots", msg, sizeof(msg)), -EINVAL);
	CHECK(c->image_max_size == 1u << 20);
	free(c);
}

/* The IPv4 header of the reference's Pi 4 DISCOVER (§8.1): 79 90. */
TEST(csum_matches_reference_ip_header)
{
	static const uint8_t ip[20] = {0x45, 0x00, 0x01, 0x5e, 0x00, 0x00, 0x00,
	    0x00, 0x40, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff,
	    0xff, 0xff};

	CHECK_EQ(csum_fold(csum_add(0, ip, sizeof(ip))), 0x7990);
	/* An odd length pads with a zero byte. */
	CHECK_EQ(csum_fold(csum_add(0, (const uint8_t *)"\x01", 1)), 0xfeff);
}
