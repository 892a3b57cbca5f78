#include <errno.h>
#include <string.h>

#include "core/cur.h"
#include "proto/dhcp/dhcp.h"
#include "t.h"

#include "dhcp_vectors.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))

static const uint8_t pi4_mac[6] = {0xdc, 0xa6, 0x32, 0x01, 0x36, 0xc2};

TEST(dhcp_parse_pi4_discover_golden)
{
	struct dhcp_msg m;
	uint32_t serial = 0;

	CHECK_EQ(dhcp_parse(vec_pi4_discover, sizeof(vec_pi4_discover), &m), 0);
	CHECK_EQ(m.op, DHCP_BOOTREQUEST);
	CHECK_EQ(m.xid, 0x5a3c91e7);
	CHECK_EQ(m.flags, 0);
	CHECK_MEM(m.chaddr, pi4_mac, 6);
	CHECK_EQ(m.type, DHCPDISCOVER);
	CHECK_EQ(m.opt[DHCP_OPT_PRL].len, 14);
	CHECK_EQ(m.opt[DHCP_OPT_UUID].len, 17);
	CHECK_EQ(m.opt[DHCP_OPT_VENDOR_CLASS].len, 32);
	CHECK(dhcp_is_pxe(&m));
	CHECK(!dhcp_is_ipxe(&m));
	CHECK_EQ(dhcp_client_arch(&m), 0);
	CHECK_EQ(dhcp_pi_model(&m), DHCP_PI_4);
	CHECK(dhcp_pi_serial(&m, &serial));
	CHECK_EQ(serial, 0x9ffefdef);
	CHECK(dhcp_pi_oui_is(m.chaddr));
	/* Option 97 borrows from the packet at BOOTP offset 0x136 - 0x2a. */
	CHECK(m.opt[DHCP_OPT_UUID].p == vec_pi4_discover + 0x136 - 0x2a + 2);
}

static void
fill_pi4_offer(struct dhcp_reply *r, const struct dhcp_msg *m, uint8_t type)
{
	dhcp_reply_init(r, m, type);
	r->yiaddr = IP(192, 168, 1, 50);
	r->siaddr = IP(192, 168, 1, 10);
	r->server_id = IP(192, 168, 1, 10);
	r->lease_s = 86400;
	r->netmask = IP(255, 255, 255, 0);
	r->router = IP(192, 168, 1, 1);
	r->pxe = true;
	r->uuid = m->opt[DHCP_OPT_UUID];
	r->pi_menu = "Raspberry Pi Boot";
}

TEST(dhcp_build_server_offer_golden)
{
	struct dhcp_msg m;
	struct dhcp_reply r;
	uint8_t out[DHCP_MAX_REPLY];
	struct wcur w = wcur_init(out, sizeof(out));

	CHECK_EQ(dhcp_parse(vec_pi4_discover, sizeof(vec_pi4_discover), &m), 0);
	fill_pi4_offer(&r, &m, DHCPOFFER);
	CHECK_EQ(dhcp_build(&r, &w), 0);
	CHECK_EQ(w.off, sizeof(vec_offer));
	CHECK_MEM(out, vec_offer, sizeof(vec_offer));
}

TEST(dhcp_build_proxy_offer_golden)
{
	struct dhcp_msg m;
	struct dhcp_reply r;
	uint8_t out[DHCP_MAX_REPLY];
	struct wcur w = wcur_init(out, sizeof(out));
	struct cur c;

	CHECK_EQ(dhcp_parse(vec_pi4_discover, sizeof(vec_pi4_discover), &m), 0);
	dhcp_reply_init(&r, &m, DHCPOFFER);
	r.flags = DHCP_FLAG_BROADCAST;
	r.server_id = IP(192, 168, 1, 10);
	r.pxe = true;
	r.uuid = m.opt[DHCP_OPT_UUID];
	r.pi_menu = "Raspberry Pi Boot";
	CHECK_EQ(dhcp_build(&r, &w), 0);
	CHECK_EQ(w.off, 314);
	CHECK_MEM(out + DHCP_FIXED_LEN, vec_proxy_opts, sizeof(vec_proxy_opts));
	c = cur_init(out, w.off);
	cur_skip(&c, 10);
	CHECK_EQ(cur_be16(&c), 0x8000);
	CHECK_EQ(cur_be32(&c), 0); /* ciaddr */
	CHECK_EQ(cur_be32(&c), 0); /* yiaddr */
	CHECK_EQ(cur_be32(&c), 0); /* siaddr */
	/* The rest of the header equals the full-server OFFER's. */
	CHECK_MEM(out + 28, vec_offer + 28, DHCP_FIXED_LEN - 28);
}

TEST(dhcp_build_pads_to_300_after_end)
{
	struct dhcp_msg m;
	struct dhcp_reply r;
	uint8_t out[DHCP_MAX_REPLY];
	struct wcur w = wcur_init(out, sizeof(out));
	size_t i;

	CHECK_EQ(dhcp_parse(vec_pi4_discover, sizeof(vec_pi4_discover), &m), 0);
	dhcp_reply_init(&r, &m, DHCPNAK);
	r.server_id = IP(198, 18, 0, 1);
	CHECK_EQ(dhcp_build(&r, &w), 0);
	CHECK_EQ(w.off, DHCP_MIN_REPLY);
	/* 53, 54, then end; no pad option before the end (quirk 10). */
	CHECK_EQ(out[240], DHCP_OPT_MSG_TYPE);
	CHECK_EQ(out[243], DHCP_OPT_SERVER_ID);
	CHECK_EQ(out[249], DHCP_OPT_END);
	for (i = 250; i < DHCP_MIN_REPLY; i++) {
		CHECK_EQ(out[i], 0);
	}
}

TEST(dhcp_build_pi_menu_three_space_variant)
{
	static const uint8_t want[] = {0x2b, 0x23, 0x06, 0x01, 0x03, 0x0a, 0x04,
	    0x00, 0x50, 0x58, 0x45, 0x09, 0x17, 0x00, 0x00, 0x14, 'R', 'a', 's',
	    'p', 'b', 'e', 'r', 'r', 'y', ' ', 'P', 'i', ' ', 'B', 'o', 'o',
	    't', 0x20, 0x20, 0x20, 0xff};
	struct dhcp_msg m;
	struct dhcp_reply r;
	uint8_t out[DHCP_MAX_REPLY];
	struct wcur w = wcur_init(out, sizeof(out));

	CHECK_EQ(dhcp_parse(vec_pi4_discover, sizeof(vec_pi4_discover), &m), 0);
	dhcp_reply_init(&r, &m, DHCPOFFER);
	r.pi_menu = "Raspberry Pi Boot";
	r.pi_menu_pad3 = true;
	CHECK_EQ(dhcp_build(&r, &w), 0);
	/* 53 (3 bytes) and 54 (6 bytes) come first. */
	CHECK_MEM(out + 240 + 9, want, sizeof(want));
}

TEST(dhcp_round_trip_full_reply)
{
	static const uint32_t dns[2] = {IP(198, 18, 0, 1), IP(198, 18, 0, 2)};
	struct dhcp_msg m, back;
	struct dhcp_reply r;
	uint8_t out[DHCP_MAX_REPLY];
	struct wcur w = wcur_init(out, sizeof(out));
	uint32_t a;

	CHECK_EQ(dhcp_parse(vec_pi4_discover, sizeof(vec_pi4_discover), &m), 0);
	fill_pi4_offer(&r, &m, DHCPACK);
	r.dns = dns;
	r.ndns = 2;
	r.domain = "lab.example";
	r.hostname = "pi-7";
	r.tftp_server = "198.18.0.1";
	r.file = "ipxe.efi";
	CHECK_EQ(dhcp_build(&r, &w), 0);
	CHECK_EQ(dhcp_parse(out, w.off, &back), 0);
	CHECK_EQ(back.op, DHCP_BOOTREPLY);
	CHECK_EQ(back.type, DHCPACK);
	CHECK_EQ(back.yiaddr, IP(192, 168, 1, 50));
	CHECK_EQ(back.siaddr, IP(192, 168, 1, 10));
	CHECK(dhcp_opt_addr(&back, DHCP_OPT_SERVER_ID, &a));
	CHECK_EQ(a, IP(192, 168, 1, 10));
	CHECK_EQ(back.opt[DHCP_OPT_DNS].len, 8);
	CHECK_EQ(back.opt[DHCP_OPT_DOMAIN].len, 11);
	CHECK_MEM(back.opt[DHCP_OPT_HOSTNAME].p, "pi-7", 4);
	CHECK_MEM(back.opt[DHCP_OPT_TFTP_SERVER].p, "198.18.0.1", 10);
	CHECK_EQ(back.opt[DHCP_OPT_TFTP_SERVER].len, 10);
	CHECK_STR((const char *)back.file, "ipxe.efi");
	CHECK_EQ(back.opt[DHCP_OPT_UUID].len, 17);
	CHECK(dhcp_is_pxe(&back));
}

TEST(dhcp_build_too_small_is_emsgsize)
{
	struct dhcp_msg m;
	struct dhcp_reply r;
	uint8_t out[280];
	struct wcur w = wcur_init(out, sizeof(out));

	CHECK_EQ(dhcp_parse(vec_pi4_discover, sizeof(vec_pi4_discover), &m), 0);
	fill_pi4_offer(&r, &m, DHCPOFFER);
	CHECK_EQ(dhcp_build(&r, &w), -EMSGSIZE);
}

TEST(dhcp_build_bad_strings_are_einval)
{
	char longname[300];
	struct dhcp_msg m;
	struct dhcp_reply r;
	uint8_t out[DHCP_MAX_REPLY * 2];
	struct wcur w = wcur_init(out, sizeof(out));

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	CHECK_EQ(dhcp_parse(vec_pi4_discover, sizeof(vec_pi4_discover), &m), 0);
	dhcp_reply_init(&r, &m, DHCPOFFER);
	r.file = longname;
	CHECK_EQ(dhcp_build(&r, &w), -EINVAL);
	r.file = NULL;
	r.domain = longname;
	CHECK_EQ(dhcp_build(&r, &w), -EINVAL);
}

/* A copy of the 8.1 DISCOVER to damage; returns its length. */
static size_t
copy_discover(uint8_t *b)
{
	memcpy(b, vec_pi4_discover, sizeof(vec_pi4_discover));
	return sizeof(vec_pi4_discover);
}

TEST(dhcp_parse_truncated_header_is_ebadmsg)
{
	struct dhcp_msg m;

	CHECK_EQ(dhcp_parse(vec_pi4_discover, 239, &m), -EBADMSG);
	CHECK_EQ(dhcp_parse(vec_pi4_discover, 0, &m), -EBADMSG);
}

TEST(dhcp_parse_missing_end_is_ebadmsg)
{
	struct dhcp_msg m;

	/* Cut just before option 255. */
	CHECK_EQ(dhcp_parse(vec_pi4_discover, sizeof(vec_pi4_discover) - 1, &m),
	    -EBADMSG);
}

TEST(dhcp_parse_overlong_option_is_ebadmsg)
{
	uint8_t b[400];
	size_t n = copy_discover(b);
	struct dhcp_msg m;

	/* Option 60's length now runs past the end of the packet. */
	b[0x149 - 0x2a + 1] = 0xff;
	CHECK_EQ(dhcp_parse(b, n, &m), -EBADMSG);
	/* A length byte with nothing after it. */
	n = copy_discover(b);
	b[n - 1] = 0x3c;
	CHECK_EQ(dhcp_parse(b, n, &m), -EBADMSG);
}

TEST(dhcp_parse_wrong_fixed_length_is_ebadmsg)
{
	uint8_t b[400];
	struct dhcp_msg m;
	size_t n = copy_discover(b);

	/* Option 53 with length 0: 35 00, then the rest shifted. */
	memmove(b + 241 + 1, b + 242, n - 242);
	b[241] = 0;
	CHECK_EQ(dhcp_parse(b, n - 1, &m), -EBADMSG);
}

TEST(dhcp_parse_zero_length_option_and_pads)
{
	uint8_t b[400];
	struct dhcp_msg m;
	size_t n = copy_discover(b);

	/* Replace the end with: pad pad 77/0 end pad. */
	b[n - 1] = 0;
	b[n] = 0;
	b[n + 1] = DHCP_OPT_USER_CLASS;
	b[n + 2] = 0;
	b[n + 3] = 0xff;
	b[n + 4] = 0;
	CHECK_EQ(dhcp_parse(b, n + 5, &m), 0);
	CHECK(dhcp_has(&m, DHCP_OPT_USER_CLASS));
	CHECK_EQ(m.opt[DHCP_OPT_USER_CLASS].len, 0);
	CHECK(!dhcp_is_ipxe(&m));
}

TEST(dhcp_parse_hlen_over_16_is_ebadmsg)
{
	uint8_t b[400];
	struct dhcp_msg m;
	size_t n = copy_discover(b);

	b[2] = 17;
	CHECK_EQ(dhcp_parse(b, n, &m), -EBADMSG);
}

TEST(dhcp_parse_non_ethernet_is_eopnotsupp)
{
	uint8_t b[400];
	struct dhcp_msg m;
	size_t n = copy_discover(b);

	b[1] = 6; /* IEEE 802 */
	CHECK_EQ(dhcp_parse(b, n, &m), -EOPNOTSUPP);
	n = copy_discover(b);
	b[2] = 8;
	CHECK_EQ(dhcp_parse(b, n, &m), -EOPNOTSUPP);
}

TEST(dhcp_parse_bad_cookie_is_eproto)
{
	uint8_t b[400];
	struct dhcp_msg m;
	size_t n = copy_discover(b);

	b[236] = 0;
	CHECK_EQ(dhcp_parse(b, n, &m), -EPROTO);
}

/* A DISCOVER whose options continue in file and sname (option 52). */
static size_t
make_overloaded(uint8_t *b, uint8_t how)
{
	struct wcur w = wcur_init(b, 400);

	memset(b, 0, 400);
	wcur_bytes(&w, "\x01\x01\x06\x00\x11\x22\x33\x44", 8);
	wcur_zero(&w, 20);
	wcur_bytes(&w, "\xb8\x27\xeb\x01\x02\x03", 6);
	w.off = 236;
	wcur_be32(&w, DHCP_COOKIE);
	wcur_bytes(&w, "\x35\x01\x01\x34\x01", 5);
	wcur_u8(&w, how);
	wcur_u8(&w, 0xff);
	/* file (offset 108): option 60 PXEClient, end */
	memcpy(b + 108, "\x3c\x09PXEClient\xff", 12);
	/* sname (offset 44): option 77 iPXE, no end: the field ends it */
	memcpy(b + 44, "\x4d\x04iPXE", 6);
	return w.off;
}

TEST(dhcp_parse_option_overload)
{
	uint8_t b[400];
	struct dhcp_msg m;
	size_t n = make_overloaded(b, 3);

	CHECK_EQ(dhcp_parse(b, n, &m), 0);
	CHECK_EQ(m.overload, 3);
	CHECK(dhcp_is_pxe(&m));
	CHECK(dhcp_is_ipxe(&m));
	CHECK_EQ(dhcp_pi_model(&m), DHCP_PI_UNKNOWN);
	n = make_overloaded(b, 1);
	CHECK_EQ(dhcp_parse(b, n, &m), 0);
	CHECK(dhcp_is_pxe(&m));
	CHECK(!dhcp_is_ipxe(&m));
	n = make_overloaded(b, 4);
	CHECK_EQ(dhcp_parse(b, n, &m), -EBADMSG);
	/* An option in file that runs past the field. */
	n = make_overloaded(b, 1);
	b[108 + 1] = 200;
	CHECK_EQ(dhcp_parse(b, n, &m), -EBADMSG);
}

TEST(dhcp_pi_models_from_option97)
{
	uint8_t b[400];
	struct dhcp_msg m;
	size_t n = copy_discover(b);
	uint8_t *guid = b + 0x136 - 0x2a + 3;
	uint32_t serial;
	int i;

	memset(guid, 0x44, 16);
	CHECK_EQ(dhcp_parse(b, n, &m), 0);
	CHECK_EQ(dhcp_pi_model(&m), DHCP_PI_3B_ROM);
	CHECK(!dhcp_pi_serial(&m, &serial));
	for (i = 0; i < 4; i++) {
		memcpy(guid + 4 * i, "\x16\x4c\x6c\xb6", 4);
	}
	CHECK_EQ(dhcp_parse(b, n, &m), 0);
	CHECK_EQ(dhcp_pi_model(&m), DHCP_PI_EEPROM);
	/* The same layout from a PC (QEMU's UUID is zeros): not a Pi. */
	b[28] = 0x52;
	b[29] = 0x54;
	b[30] = 0x00;
	CHECK_EQ(dhcp_parse(b, n, &m), 0);
	CHECK_EQ(dhcp_pi_model(&m), DHCP_PI_NONE);
	memset(guid, 0, 16);
	CHECK_EQ(dhcp_parse(b, n, &m), 0);
	CHECK_EQ(dhcp_pi_model(&m), DHCP_PI_NONE);
	for (i = 0; i < 4; i++) {
		memcpy(guid + 4 * i, "\x16\x4c\x6c\xb6", 4);
	}
	b[4] = 0x26;
	b[5] = 0xf3;
	b[6] = 0x03;
	b[7] = 0x39;
	CHECK_EQ(dhcp_parse(b, n, &m), 0);
	CHECK_EQ(dhcp_pi_model(&m), DHCP_PI_BCM2837);
	CHECK(dhcp_pi_serial(&m, &serial));
	CHECK_EQ(serial, 0xb66c4c16);
	memcpy(guid, "RPi5", 4);
	CHECK_EQ(dhcp_parse(b, n, &m), 0);
	CHECK_EQ(dhcp_pi_model(&m), DHCP_PI_5);
	CHECK(dhcp_pi_serial(&m, &serial));
	CHECK_EQ(serial, 0xb66c4c16);
	CHECK_STR(dhcp_pi_model_name(DHCP_PI_5), "pi5");
	/* Without PXEClient it is the OS of a Pi, not its firmware. */
	b[0x149 - 0x2a + 2] = 'X';
	CHECK_EQ(dhcp_parse(b, n, &m), 0);
	CHECK_EQ(dhcp_pi_model(&m), DHCP_PI_NONE);
}

TEST(dhcp_arch_and_user_class)
{
	uint8_t b[400];
	struct dhcp_msg m;
	size_t n = copy_discover(b);

	/* Option 93 value 00 00 becomes 00 07 (EFI x64). */
	b[0x12d - 0x2a + 3] = 7;
	/* Replace the end with an RFC 3004 user class 04 "iPXE". */
	memcpy(b + n - 1, "\x4d\x05\x04iPXE\xff", 8);
	CHECK_EQ(dhcp_parse(b, n + 7, &m), 0);
	CHECK_EQ(dhcp_client_arch(&m), 7);
	CHECK(dhcp_is_ipxe(&m));
}

/*
 * QEMU's iPXE sends option 97 with an all-zero GUID and the same
 * PXEClient:Arch:00000 class as a Pi 4; taking it for a Pi sent it the Pi
 * boot menu and iPXE looped in "Booting from PXE menu".
 */
TEST(dhcp_zero_guid_is_not_a_pi)
{
	uint8_t b[400];
	struct dhcp_msg m;
	size_t n = copy_discover(b);
	uint8_t *guid = b + 0x136 - 0x2a + 3;

	memset(guid, 0, 16);
	memcpy(b + 28, "\x52\x54\x00\x12\x34\x56", 6);
	CHECK_EQ(dhcp_parse(b, n, &m), 0);
	CHECK_EQ(dhcp_pi_model(&m), DHCP_PI_NONE);
	/* The same request from a Pi MAC is still a Pi, model unknown. */
	memcpy(b + 28, "\xdc\xa6\x32\x01\x36\xc2", 6);
	CHECK_EQ(dhcp_parse(b, n, &m), 0);
	CHECK_EQ(dhcp_pi_model(&m), DHCP_PI_UNKNOWN);
}
