#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cfg.h"
#include "core/cur.h"
#include "core/loop.h"
#include "proto/dhcp/dhcp.h"
#include "server/dhcp/dhcp.h"
#include "server/dhcp/lease.h"
#include "t.h"

#include "dhcp_vectors.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))

/* Replies captured by the stub sender. */
struct sent {
	struct dhcp_dest dst;
	struct dhcp_msg m;
	uint8_t buf[DHCP_MAX_REPLY];
	size_t len;
};

/* ARP packets the service sent (probes, the frame after a reply). */
struct arp_sent {
	uint8_t mac[6]; /* Ethernet destination */
	uint8_t pkt[28];
	uint64_t at_ms;
};

struct rig {
	struct loop *loop;
	struct cfg cfg;
	struct cfg *cfgp;
	struct dhcp_service *svc;
	struct sent sent[64];
	size_t nsent;
	struct arp_sent arp[64];
	size_t narp;
};

static int
stub_send(struct dhcp_service *svc, const struct dhcp_dest *dst,
    const uint8_t *p, size_t len, void *arg)
{
	struct rig *g = arg;
	struct sent *s;

	(void)svc;
	if (dst->kind == DHCP_DEST_ARP) {
		CHECK_EQ(len, 28);
		if (g->narp < 64 && len == 28) {
			memcpy(g->arp[g->narp].mac, dst->mac, 6);
			memcpy(g->arp[g->narp].pkt, p, 28);
			g->arp[g->narp].at_ms = loop_clock_us() / 1000;
			g->narp++;
		}
		return 0;
	}
	if (g->nsent == 64) {
		return 0;
	}
	s = &g->sent[g->nsent++];
	s->dst = *dst;
	memcpy(s->buf, p, len);
	s->len = len;
	CHECK_EQ(dhcp_parse(s->buf, len, &s->m), 0);
	return 0;
}

/* A service whose pool is @first..@last (host order). */
static struct rig *
rig_new_pool(enum cfg_dhcp_mode mode, const char *lease_path, uint32_t first,
    uint32_t last)
{
	struct rig *g = calloc(1, sizeof(*g));
	struct dhcp_netinfo net = {
	    .ifname = "test0",
	    .ifindex = 1,
	    .addr = IP(198, 18, 0, 1),
	    .netmask = IP(255, 255, 255, 0),
	};
	char msg[256];

	g->loop = loop_open();
	cfg_defaults(&g->cfg);
	g->cfg.dhcp_mode = mode;
	g->cfg.dhcp_range_start.s_addr = htonl(first);
	g->cfg.dhcp_range_end.s_addr = htonl(last);
	inet_pton(AF_INET, "255.255.255.0", &g->cfg.dhcp_netmask);
	g->cfg.dhcp_pi_delay_ms = 50;
	g->cfg.dhcp_probe_ms = 0;
	g->cfgp = &g->cfg;
	CHECK_EQ(dhcp_service_new(g->loop, &g->cfgp, &net, lease_path, &g->svc,
		     msg, sizeof(msg)),
	    0);
	dhcp_service_set_send(g->svc, stub_send, g);
	return g;
}

static struct rig *
rig_new(enum cfg_dhcp_mode mode, const char *lease_path)
{
	return rig_new_pool(
	    mode, lease_path, IP(198, 18, 0, 100), IP(198, 18, 0, 109));
}

static void
rig_free(struct rig *g)
{
	dhcp_service_close(g->svc);
	loop_close(g->loop);
	free(g);
}

/* Run the loop for @ms so that timers fire. */
static void
rig_wait(struct rig *g, int ms)
{
	uint64_t end = loop_clock_us() / 1000 + (uint64_t)ms;

	while (loop_clock_us() / 1000 < end) {
		loop_run_once(g->loop, 10);
	}
}

/* The §8.1 DISCOVER with another MAC, xid and type. */
static size_t
pi4_msg(uint8_t *b, const uint8_t mac[6], uint8_t type)
{
	memcpy(b, vec_pi4_discover, sizeof(vec_pi4_discover));
	memcpy(b + 28, mac, 6);
	b[242] = type;
	return sizeof(vec_pi4_discover);
}

/* A 3B+ ROM DISCOVER: fixed xid, serial GUID. */
static size_t
rom_discover(uint8_t *b, const uint8_t mac[6])
{
	size_t n = pi4_msg(b, mac, DHCPDISCOVER);
	uint8_t *guid = b + 0x136 - 0x2a + 3;
	int i;

	b[4] = 0x26;
	b[5] = 0xf3;
	b[6] = 0x03;
	b[7] = 0x39;
	for (i = 0; i < 4; i++) {
		memcpy(guid + 4 * i, mac + 2, 4);
	}
	return n;
}

/* A plain DHCP client (no option 60) with options 53, 50, 54. */
static size_t
plain_msg(uint8_t *b, const uint8_t mac[6], uint8_t type, uint32_t want,
    uint32_t sid, uint32_t ciaddr)
{
	struct wcur w = wcur_init(b, 400);

	memset(b, 0, 400);
	wcur_bytes(&w, "\x01\x01\x06\x00", 4);
	wcur_be32(&w, 0x1234);
	wcur_be32(&w, 0);
	wcur_be32(&w, ciaddr);
	w.off = 28;
	wcur_bytes(&w, mac, 6);
	w.off = 236;
	wcur_be32(&w, DHCP_COOKIE);
	wcur_bytes(&w, (uint8_t[]){53, 1, type}, 3);
	if (want) {
		wcur_bytes(&w, (uint8_t[]){50, 4}, 2);
		wcur_be32(&w, want);
	}
	if (sid) {
		wcur_bytes(&w, (uint8_t[]){54, 4}, 2);
		wcur_be32(&w, sid);
	}
	wcur_u8(&w, 255);
	return 300;
}

/* A request arriving now, as the loop would hand it over. */
static void
feed(struct rig *g, const uint8_t *b, size_t n)
{
	loop_update_time(g->loop);
	dhcp_service_handle_packet(g->svc, b, n, 67, 0, 68);
}

static const uint8_t mac_a[6] = {0xdc, 0xa6, 0x32, 0x00, 0x00, 0x0a};
static const uint8_t mac_b[6] = {0xdc, 0xa6, 0x32, 0x00, 0x00, 0x0b};

TEST(dhcp_server_pi4_dora)
{
	struct rig *g = rig_new(CFG_DHCP_SERVER, NULL);
	uint8_t b[400];
	uint32_t yi, sid;

	feed(g, b, pi4_msg(b, mac_a, DHCPDISCOVER));
	CHECK_EQ(g->nsent, 1);
	CHECK_EQ(g->sent[0].m.type, DHCPOFFER);
	yi = g->sent[0].m.yiaddr;
	CHECK(yi >= IP(198, 18, 0, 100) && yi <= IP(198, 18, 0, 109));
	CHECK_EQ(g->sent[0].m.siaddr, IP(198, 18, 0, 1));
	CHECK(dhcp_opt_addr(&g->sent[0].m, DHCP_OPT_SERVER_ID, &sid));
	CHECK_EQ(sid, IP(198, 18, 0, 1));
	CHECK(dhcp_has(&g->sent[0].m, DHCP_OPT_VENDOR));
	CHECK_EQ(g->sent[0].m.opt[DHCP_OPT_UUID].len, 17);
	/* §9 item 4: flag clear, so Ethernet to chaddr, IP to yiaddr. */
	CHECK_EQ(g->sent[0].m.flags, 0);
	CHECK_EQ(g->sent[0].dst.kind, DHCP_DEST_UNICAST);
	CHECK_MEM(g->sent[0].dst.mac, mac_a, 6);
	CHECK_EQ(g->sent[0].dst.ip, yi);
	/* The Pi 4's REQUEST: no option 60, 54 = us, 50 = offered. */
	feed(g, b, plain_msg(b, mac_a, DHCPREQUEST, yi, IP(198, 18, 0, 1), 0));
	CHECK_EQ(g->nsent, 2);
	CHECK_EQ(g->sent[1].m.type, DHCPACK);
	CHECK_EQ(g->sent[1].m.yiaddr, yi);
	CHECK(!dhcp_has(&g->sent[1].m, DHCP_OPT_VENDOR));
	CHECK_EQ(g->sent[1].dst.kind, DHCP_DEST_UNICAST);
	CHECK_EQ(g->sent[1].dst.ip, yi);
	/* The kernel later: a plain DISCOVER gets the same address. */
	feed(g, b, plain_msg(b, mac_a, DHCPDISCOVER, 0, 0, 0));
	CHECK_EQ(g->nsent, 3);
	CHECK_EQ(g->sent[2].m.yiaddr, yi);
	CHECK(!dhcp_has(&g->sent[2].m, DHCP_OPT_VENDOR_CLASS));
	/* Renewal: unicast to ciaddr. */
	feed(g, b, plain_msg(b, mac_a, DHCPREQUEST, 0, 0, yi));
	CHECK_EQ(g->nsent, 4);
	CHECK_EQ(g->sent[3].m.type, DHCPACK);
	CHECK_EQ(g->sent[3].dst.kind, DHCP_DEST_UDP);
	CHECK_EQ(g->sent[3].dst.ip, yi);
	rig_free(g);
}

TEST(dhcp_server_broadcast_flag_gets_broadcast)
{
	struct rig *g = rig_new(CFG_DHCP_SERVER, NULL);
	uint8_t b[400];
	size_t n = plain_msg(b, mac_a, DHCPDISCOVER, 0, 0, 0);
	uint32_t yi;

	/* RFC 2131 §4.1: a client that cannot take unicast sets the flag. */
	b[10] = 0x80;
	feed(g, b, n);
	CHECK_EQ(g->nsent, 1);
	CHECK_EQ(g->sent[0].m.flags, DHCP_FLAG_BROADCAST);
	CHECK_EQ(g->sent[0].dst.kind, DHCP_DEST_BROADCAST);
	yi = g->sent[0].m.yiaddr;
	n = plain_msg(b, mac_a, DHCPREQUEST, yi, IP(198, 18, 0, 1), 0);
	b[10] = 0x80;
	feed(g, b, n);
	CHECK_EQ(g->sent[1].m.type, DHCPACK);
	CHECK_EQ(g->sent[1].dst.kind, DHCP_DEST_BROADCAST);
	rig_free(g);
}

TEST(dhcp_server_request_for_other_server_or_address)
{
	struct rig *g = rig_new(CFG_DHCP_SERVER, NULL);
	uint8_t b[400];

	/* For another server: silence. */
	feed(g, b, pi4_msg(b, mac_a, DHCPDISCOVER));
	feed(g, b,
	    plain_msg(b, mac_a, DHCPREQUEST, IP(198, 18, 0, 100),
		IP(198, 18, 0, 2), 0));
	CHECK_EQ(g->nsent, 1);
	/* INIT-REBOOT from another network: NAK, broadcast (§4.1). */
	feed(g, b, plain_msg(b, mac_b, DHCPREQUEST, IP(10, 0, 0, 5), 0, 0));
	CHECK_EQ(g->nsent, 2);
	CHECK_EQ(g->sent[1].m.type, DHCPNAK);
	CHECK_EQ(g->sent[1].m.yiaddr, 0);
	CHECK_EQ(g->sent[1].dst.kind, DHCP_DEST_BROADCAST);
	rig_free(g);
}

TEST(dhcp_server_roms_with_one_xid_get_own_addresses)
{
	struct rig *g = rig_new(CFG_DHCP_SERVER, NULL);
	uint8_t b[400];
	uint8_t m1[6] = {0xb8, 0x27, 0xeb, 0x6c, 0x4c, 0x16};
	uint8_t m2[6] = {0xb8, 0x27, 0xeb, 0x6c, 0x4c, 0x17};

	feed(g, b, rom_discover(b, m1));
	feed(g, b, rom_discover(b, m2));
	/* Retransmission during the delay is not answered twice. */
	feed(g, b, rom_discover(b, m1));
	CHECK_EQ(g->nsent, 0);
	rig_wait(g, 120);
	CHECK_EQ(g->nsent, 2);
	CHECK(g->sent[0].m.yiaddr != g->sent[1].m.yiaddr);
	/* One xid for both, but each reply reaches only its own MAC. */
	CHECK_EQ(g->sent[0].dst.kind, DHCP_DEST_UNICAST);
	CHECK_EQ(g->sent[1].dst.kind, DHCP_DEST_UNICAST);
	CHECK_MEM(g->sent[0].dst.mac, g->sent[0].m.chaddr, 6);
	CHECK_MEM(g->sent[1].dst.mac, g->sent[1].m.chaddr, 6);
	CHECK_EQ(g->sent[0].dst.ip, g->sent[0].m.yiaddr);
	CHECK_EQ(g->sent[1].dst.ip, g->sent[1].m.yiaddr);
	CHECK_EQ(g->sent[0].m.xid, DHCP_PI_XID);
	CHECK_EQ(dhcp_service_stats(g->svc)->delayed, 2);
	rig_free(g);
}

TEST(dhcp_server_leases_survive_restart)
{
	char path[512];
	struct rig *g;
	uint8_t b[400];
	uint8_t rom[6] = {0xb8, 0x27, 0xeb, 0x01, 0x02, 0x03};
	uint32_t yi_a, yi_rom;
	FILE *f;

	snprintf(path, sizeof(path), "%s/leases", t_tmpdir());
	g = rig_new(CFG_DHCP_SERVER, path);
	g->cfg.dhcp_pi_delay_ms = 0;
	feed(g, b, pi4_msg(b, mac_a, DHCPDISCOVER));
	yi_a = g->sent[0].m.yiaddr;
	feed(
	    g, b, plain_msg(b, mac_a, DHCPREQUEST, yi_a, IP(198, 18, 0, 1), 0));
	/* A ROM's OFFER is its lease: bound at offer. */
	feed(g, b, rom_discover(b, rom));
	CHECK_EQ(g->nsent, 3);
	yi_rom = g->sent[2].m.yiaddr;
	rig_free(g);
	/* A torn line, as left by kill -9 during a write. */
	f = fopen(path, "a");
	fputs("B dc:a6:32:00:00:0b 198.18", f);
	fclose(f);

	g = rig_new(CFG_DHCP_SERVER, path);
	g->cfg.dhcp_pi_delay_ms = 0;
	/* mac_b must not get either address. */
	feed(g, b, pi4_msg(b, mac_b, DHCPDISCOVER));
	CHECK(g->sent[0].m.yiaddr != yi_a);
	CHECK(g->sent[0].m.yiaddr != yi_rom);
	feed(g, b, plain_msg(b, mac_a, DHCPREQUEST, yi_a, 0, 0));
	CHECK_EQ(g->sent[1].m.type, DHCPACK);
	CHECK_EQ(g->sent[1].m.yiaddr, yi_a);
	feed(g, b, rom_discover(b, rom));
	CHECK_EQ(g->sent[2].m.yiaddr, yi_rom);
	rig_free(g);
}

TEST(dhcp_server_decline_release_inform)
{
	struct rig *g = rig_new(CFG_DHCP_SERVER, NULL);
	uint8_t b[400];
	uint32_t yi, yi2;

	feed(g, b, plain_msg(b, mac_a, DHCPDISCOVER, 0, 0, 0));
	yi = g->sent[0].m.yiaddr;
	feed(g, b, plain_msg(b, mac_a, DHCPREQUEST, yi, IP(198, 18, 0, 1), 0));
	CHECK_EQ(g->sent[1].m.type, DHCPACK);
	feed(g, b, plain_msg(b, mac_a, DHCPDECLINE, yi, IP(198, 18, 0, 1), 0));
	CHECK_EQ(dhcp_service_stats(g->svc)->declines, 1);
	feed(g, b, plain_msg(b, mac_a, DHCPDISCOVER, 0, 0, 0));
	yi2 = g->sent[2].m.yiaddr;
	CHECK(yi2 != yi);
	feed(g, b, plain_msg(b, mac_a, DHCPREQUEST, yi2, IP(198, 18, 0, 1), 0));
	feed(g, b, plain_msg(b, mac_a, DHCPRELEASE, 0, IP(198, 18, 0, 1), yi2));
	CHECK_EQ(dhcp_service_stats(g->svc)->releases, 1);
	/* Released, but the MAC gets its address back first. */
	feed(g, b, plain_msg(b, mac_a, DHCPDISCOVER, 0, 0, 0));
	CHECK_EQ(g->sent[4].m.yiaddr, yi2);
	feed(g, b, plain_msg(b, mac_b, DHCPINFORM, 0, 0, IP(198, 18, 0, 77)));
	CHECK_EQ(g->sent[5].m.type, DHCPACK);
	CHECK_EQ(g->sent[5].m.yiaddr, 0);
	CHECK(!dhcp_has(&g->sent[5].m, DHCP_OPT_LEASE_TIME));
	CHECK_EQ(g->sent[5].dst.ip, IP(198, 18, 0, 77));
	rig_free(g);
}

TEST(dhcp_server_flood_does_not_starve_or_grow)
{
	struct rig *g = rig_new(CFG_DHCP_SERVER, NULL);
	uint8_t b[400], mac[6] = {0x02, 0, 0, 0, 0, 0};
	uint32_t i, yi;

	for (i = 0; i < 100000; i++) {
		mac[2] = (uint8_t)(i >> 16);
		mac[3] = (uint8_t)(i >> 8);
		mac[4] = (uint8_t)i;
		feed(g, b, plain_msg(b, mac, DHCPDISCOVER, 0, 0, 0));
		g->nsent = 0;
	}
	CHECK_EQ(dhcp_service_stats(g->svc)->offers, 100000);
	/* A real Pi after the flood still gets an address and binds it. */
	feed(g, b, pi4_msg(b, mac_a, DHCPDISCOVER));
	CHECK_EQ(g->nsent, 1);
	yi = g->sent[0].m.yiaddr;
	feed(g, b, plain_msg(b, mac_a, DHCPREQUEST, yi, IP(198, 18, 0, 1), 0));
	CHECK_EQ(g->sent[1].m.type, DHCPACK);
	rig_free(g);
}

/*
 * A flood of DISCOVERs from random MACs cycles a small pool faster than a
 * Pi 4 sends its REQUEST: the address offered to the Pi has gone to a
 * flood MAC by the time the REQUEST arrives.  The client that REQUESTs
 * wins over an offer nobody acknowledged; before, the Pi was NAKed on
 * every try (tests/e2e/dhcp_misc.sh, "three NAKs in a row").
 */
TEST(dhcp_server_request_wins_over_flood_offer)
{
	struct rig *g = rig_new(CFG_DHCP_SERVER, NULL);
	uint8_t b[400], mac[6] = {0x02, 0x09, 0, 0, 0, 0};
	uint32_t yi;
	int i;

	feed(g, b, pi4_msg(b, mac_a, DHCPDISCOVER));
	CHECK_EQ(g->nsent, 1);
	yi = g->sent[0].m.yiaddr;
	for (i = 0; i < 25; i++) {
		mac[5] = (uint8_t)i;
		feed(g, b, plain_msg(b, mac, DHCPDISCOVER, 0, 0, 0));
	}
	g->nsent = 0;
	feed(g, b, plain_msg(b, mac_a, DHCPREQUEST, yi, IP(198, 18, 0, 1), 0));
	CHECK_EQ(g->nsent, 1);
	CHECK_EQ(g->sent[0].m.type, DHCPACK);
	CHECK_EQ(g->sent[0].m.yiaddr, yi);
	/* The flood MAC that held the offer is NAKed if it ever asks. */
	for (i = 0; i < 25; i++) {
		mac[5] = (uint8_t)i;
		g->nsent = 0;
		feed(g, b,
		    plain_msg(b, mac, DHCPREQUEST, yi, IP(198, 18, 0, 1), 0));
		CHECK_EQ(g->nsent, 1);
		CHECK_EQ(g->sent[0].m.type, DHCPNAK);
	}
	rig_free(g);
}

/* An ARP reply from @addr at @mac, as a host using the address sends. */
static void
arp_reply_from(struct rig *g, const uint8_t mac[6], uint32_t addr)
{
	uint8_t b[28];
	struct wcur w = wcur_init(b, sizeof(b));

	wcur_bytes(&w, "\x00\x01\x08\x00\x06\x04\x00\x02", 8);
	wcur_bytes(&w, mac, 6);
	wcur_be32(&w, addr);
	wcur_zero(&w, 6);
	wcur_be32(&w, IP(198, 18, 0, 1));
	dhcp_service_handle_arp(g->svc, b, sizeof(b));
}

/* The address an ARP request we sent asks about. */
static uint32_t
arp_target(const struct arp_sent *a)
{
	struct cur c = cur_init(a->pkt + 24, 4);

	return cur_be32(&c);
}

/*
 * 250 Pis power on at once (issue 11): each DISCOVER gets its own probe
 * timer, so every probe is out before the first offer, EEPROM offers wait
 * only the probe time and BCM2837 offers only their delay, with the
 * probes inside it.
 */
TEST(dhcp_server_probes_run_in_parallel)
{
	struct rig *g = rig_new_pool(
	    CFG_DHCP_SERVER, NULL, IP(198, 18, 0, 2), IP(198, 18, 0, 254));
	const struct dhcp_stats *st = dhcp_service_stats(g->svc);
	uint8_t b[400], mac[6] = {0xdc, 0xa6, 0x32, 0x05, 0, 0};
	int i, eeprom = 0;

	g->cfg.dhcp_probe_ms = 200;
	g->cfg.dhcp_pi_delay_ms = 500;
	for (i = 0; i < 250; i++) {
		mac[4] = (uint8_t)(i >> 8);
		mac[5] = (uint8_t)i;
		if (i % 2) {
			feed(g, b, rom_discover(b, mac));
		} else {
			feed(g, b, pi4_msg(b, mac, DHCPDISCOVER));
			eeprom++;
		}
	}
	/* Every probe is out, each request on its own timer. */
	CHECK_EQ(st->probes, 250);
	CHECK_EQ(st->offers, 0);
	CHECK(loop_timer_count(g->loop) >= 250);
	/* The EEPROM offers need only the probe time. */
	rig_wait(g, 400);
	CHECK(st->offers >= (uint64_t)eeprom);
	rig_wait(g, 700);
	CHECK_EQ(st->offers, 250);
	CHECK_EQ(st->delayed, 250 - eeprom);
	rig_free(g);
}

/*
 * A conflict found by the probe of a BCM2837 client's address: the next
 * address is probed inside the delay it is already serving, not after a
 * second one.
 */
TEST(dhcp_server_conflict_retry_keeps_the_delay_once)
{
	struct rig *g = rig_new(CFG_DHCP_SERVER, NULL);
	const struct dhcp_stats *st = dhcp_service_stats(g->svc);
	uint8_t b[400], squatter[6] = {0x02, 0x5a, 0, 0, 0, 1};
	uint8_t rom[6] = {0xb8, 0x27, 0xeb, 0x01, 0x02, 0x03};
	uint32_t first;

	g->cfg.dhcp_probe_ms = 100;
	g->cfg.dhcp_pi_delay_ms = 1000;
	feed(g, b, rom_discover(b, rom));
	CHECK_EQ(g->narp, 1);
	first = arp_target(&g->arp[0]);
	arp_reply_from(g, squatter, first);
	rig_wait(g, 300);
	CHECK_EQ(st->conflicts, 1);
	CHECK_EQ(g->narp, 2);
	CHECK(arp_target(&g->arp[1]) != first);
	CHECK_EQ(g->nsent, 0);
	/* Offered once the first delay ends (it used to take two). */
	rig_wait(g, 1000);
	CHECK_EQ(g->nsent, 1);
	CHECK(g->sent[0].m.yiaddr != first);
	rig_free(g);
}

/*
 * Probes may add at most 1 s (the 3B ROM's DHCP timer) to a reply: after
 * a conflict that would need more, the request is dropped and the
 * client's retry starts over with the address quarantined.
 */
TEST(dhcp_server_probe_budget_bounds_the_wait)
{
	struct rig *g = rig_new(CFG_DHCP_SERVER, NULL);
	const struct dhcp_stats *st = dhcp_service_stats(g->svc);
	uint8_t b[400], squatter[6] = {0x02, 0x5a, 0, 0, 0, 1};
	uint32_t first;

	g->cfg.dhcp_probe_ms = 600;
	feed(g, b, pi4_msg(b, mac_a, DHCPDISCOVER));
	first = arp_target(&g->arp[0]);
	arp_reply_from(g, squatter, first);
	rig_wait(g, 700);
	CHECK_EQ(st->conflicts, 1);
	CHECK_EQ(g->nsent, 0);
	CHECK_EQ(g->narp, 1);
	/* The retry gets another address, probed once. */
	feed(g, b, pi4_msg(b, mac_a, DHCPDISCOVER));
	rig_wait(g, 1000);
	CHECK_EQ(g->nsent, 1);
	CHECK(g->sent[0].m.yiaddr != first);
	rig_free(g);
}

/* The expiry of the last "B" line for @mac in the lease log, or -1. */
static long long
lease_log_expiry(const char *path, const char *mac)
{
	char line[128], m[32], a[32];
	long long exp = -1, e;
	char kind;
	FILE *f = fopen(path, "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%c %31s %31s %lld", &kind, m, a, &e) == 4 &&
		    kind == 'B' && strcmp(m, mac) == 0) {
			exp = e;
		}
	}
	if (f) {
		fclose(f);
	}
	return exp;
}

/*
 * Issue 10: an OFFER to a Pi 2/3 ROM is its lease, but a DISCOVER with
 * the ROM's fingerprint costs nothing to forge.  The address is bound for
 * seconds only, until a request from it shows the client uses it (the
 * ROM fetches bootcode.bin at once), then for the full lease time.
 */
TEST(dhcp_server_rom_binding_short_until_seen_in_use)
{
	char path[512];
	struct rig *g;
	uint8_t b[400], rom[6] = {0xb8, 0x27, 0xeb, 0x0c, 0x0f, 0x01};
	long long now = (long long)loop_wall_s(), exp;
	uint32_t yi, yi_a;

	snprintf(path, sizeof(path), "%s/tentative-leases", t_tmpdir());
	g = rig_new(CFG_DHCP_SERVER, path);
	g->cfg.dhcp_pi_delay_ms = 0;
	feed(g, b, rom_discover(b, rom));
	CHECK_EQ(g->nsent, 1);
	yi = g->sent[0].m.yiaddr;
	/* The OFFER still tells the ROM the configured lease time. */
	CHECK(dhcp_has(&g->sent[0].m, DHCP_OPT_LEASE_TIME));
	exp = lease_log_expiry(path, "b8:27:eb:0c:0f:01");
	CHECK(exp >= now + 9 && exp <= now + 12);
	/* A Pi 4's ACKed lease is not touched by a request from it. */
	feed(g, b, pi4_msg(b, mac_a, DHCPDISCOVER));
	yi_a = g->sent[1].m.yiaddr;
	feed(
	    g, b, plain_msg(b, mac_a, DHCPREQUEST, yi_a, IP(198, 18, 0, 1), 0));
	CHECK_EQ(g->sent[2].m.type, DHCPACK);
	exp = lease_log_expiry(path, "dc:a6:32:00:00:0a");
	dhcp_service_confirm(g->svc, yi_a);
	CHECK_EQ(lease_log_expiry(path, "dc:a6:32:00:00:0a"), exp);
	/* The ROM fetches bootcode.bin from its address: a full lease. */
	dhcp_service_confirm(g->svc, yi);
	rig_wait(g, 40);
	exp = lease_log_expiry(path, "b8:27:eb:0c:0f:01");
	CHECK(exp >= now + 86400 - 5);
	/* bootcode.bin's DISCOVER keeps the full lease. */
	feed(g, b, rom_discover(b, rom));
	CHECK_EQ(g->sent[3].m.yiaddr, yi);
	CHECK(lease_log_expiry(path, "b8:27:eb:0c:0f:01") >= now + 86400 - 5);
	rig_free(g);
}

/*
 * Issue 10, item 7: DISCOVERs with the ROM's fingerprint from random MACs
 * hold at most half the pool in unconfirmed bindings; past that they are
 * shed.  A Pi 4 still gets an address, and a shed ROM that retries (the
 * ROM does, 5 s later) is known then and served.
 */
TEST(dhcp_server_rom_fingerprints_hold_at_most_half_the_pool)
{
	struct rig *g = rig_new(CFG_DHCP_SERVER, NULL);
	const struct dhcp_stats *st = dhcp_service_stats(g->svc);
	uint8_t b[400], mac[6] = {0x02, 0x66, 0, 0, 0, 0};
	uint32_t yi;
	int i;

	g->cfg.dhcp_pi_delay_ms = 0;
	for (i = 0; i < 8; i++) {
		mac[5] = (uint8_t)i;
		feed(g, b, rom_discover(b, mac));
	}
	/* Ten addresses: five unconfirmed bindings at most. */
	CHECK_EQ(st->offers, 5);
	CHECK_EQ(st->shed, 3);
	feed(g, b, pi4_msg(b, mac_a, DHCPDISCOVER));
	CHECK_EQ(st->offers, 6);
	yi = g->sent[5].m.yiaddr;
	g->nsent = 0;
	feed(g, b, plain_msg(b, mac_a, DHCPREQUEST, yi, IP(198, 18, 0, 1), 0));
	CHECK_EQ(g->sent[0].m.type, DHCPACK);
	/* The retry of a shed ROM. */
	mac[5] = 7;
	feed(g, b, rom_discover(b, mac));
	CHECK_EQ(st->offers, 7);
	CHECK_MEM(g->sent[1].m.chaddr, mac, 6);
	rig_free(g);
}

/*
 * Requests waiting for the BCM2837 delay: MACs we do not know fill at
 * most half the table, one relay at most DHCP_PENDING_PER_SOURCE, and a
 * MAC that was shed and retries is known and finds room.
 */
TEST(dhcp_proxy_waiting_table_caps)
{
	struct rig *g = rig_new(CFG_DHCP_PROXY, NULL);
	const struct dhcp_stats *st = dhcp_service_stats(g->svc);
	uint8_t b[400], mac[6] = {0x02, 0x67, 0, 0, 0, 0};
	size_t n;
	int i;

	g->cfg.dhcp_pi_delay_ms = 300;
	for (i = 0; i < 600; i++) {
		mac[4] = (uint8_t)(i >> 8);
		mac[5] = (uint8_t)i;
		feed(g, b, rom_discover(b, mac));
	}
	CHECK_EQ(st->delayed, 512);
	CHECK_EQ(st->shed, 88);
	/* The last one again: shed before, known now. */
	feed(g, b, rom_discover(b, mac));
	CHECK_EQ(st->delayed, 513);
	rig_wait(g, 500);
	CHECK_EQ(st->proxy_replies, 513);
	rig_free(g);

	/* Forty through one relay (giaddr): 32 wait, 8 are shed. */
	g = rig_new(CFG_DHCP_PROXY, NULL);
	st = dhcp_service_stats(g->svc);
	g->cfg.dhcp_pi_delay_ms = 300;
	for (i = 0; i < 40; i++) {
		mac[5] = (uint8_t)i;
		n = rom_discover(b, mac);
		memcpy(b + 24, "\xc6\x12\x00\xfe", 4);
		feed(g, b, n);
	}
	CHECK_EQ(st->delayed, 32);
	CHECK_EQ(st->shed, 8);
	rig_free(g);
}

static int expired_calls;

static void
count_expired(void *arg, struct dhcp_slot *s)
{
	(void)arg;
	(void)s;
	expired_calls++;
}

TEST(dhcp_lease_unconfirmed_binding_returns_to_pool)
{
	struct dhcp_leases t;
	uint8_t m1[6] = {2, 0, 0, 0, 0, 1}, m2[6] = {2, 0, 0, 0, 0, 2};
	uint8_t m3[6] = {2, 0, 0, 0, 0, 3};
	struct dhcp_slot *a, *b;

	CHECK_EQ(dhcp_leases_init(
		     &t, IP(198, 18, 0, 10), IP(198, 18, 0, 11), NULL, 1000),
	    0);
	a = dhcp_leases_alloc(&t, m1, 0, 1000);
	CHECK_EQ(dhcp_leases_bind_tentative(&t, a, 1010), 0);
	b = dhcp_leases_alloc(&t, m2, 0, 1000);
	CHECK_EQ(dhcp_leases_bind_tentative(&t, b, 1010), 0);
	CHECK_EQ(t.tentative, 2);
	/* Seen in use: a full lease, no longer counted. */
	CHECK_EQ(dhcp_leases_bind(&t, b, 90000), 0);
	CHECK_EQ(t.tentative, 1);
	CHECK(dhcp_leases_alloc(&t, m3, 0, 1005) == NULL);
	expired_calls = 0;
	dhcp_leases_expire_tentative(&t, 1005, count_expired, NULL);
	CHECK_EQ(expired_calls, 0);
	dhcp_leases_expire_tentative(&t, 1010, count_expired, NULL);
	CHECK_EQ(expired_calls, 1);
	CHECK_EQ(t.tentative, 0);
	/* Unconfirmed and expired: back in the pool; b stays bound. */
	CHECK(dhcp_leases_alloc(&t, m3, 0, 1011) == a);
	CHECK(dhcp_leases_find_mac(&t, m2) == b);
	dhcp_leases_fini(&t);
}

TEST(dhcp_server_pool_exhausted_by_bindings)
{
	struct rig *g = rig_new(CFG_DHCP_SERVER, NULL);
	uint8_t b[400], mac[6] = {0x02, 0, 0, 0, 0, 0};
	int i;

	for (i = 0; i < 10; i++) {
		uint32_t yi;

		mac[5] = (uint8_t)i;
		g->nsent = 0;
		feed(g, b, plain_msg(b, mac, DHCPDISCOVER, 0, 0, 0));
		yi = g->sent[0].m.yiaddr;
		feed(g, b,
		    plain_msg(b, mac, DHCPREQUEST, yi, IP(198, 18, 0, 1), 0));
		CHECK_EQ(g->sent[1].m.type, DHCPACK);
	}
	g->nsent = 0;
	feed(g, b, plain_msg(b, mac_b, DHCPDISCOVER, 0, 0, 0));
	CHECK_EQ(g->nsent, 0);
	CHECK_EQ(dhcp_service_stats(g->svc)->exhausted, 1);
	rig_free(g);
}

TEST(dhcp_server_reservation)
{
	struct rig *g = rig_new(CFG_DHCP_SERVER, NULL);
	struct dhcp_reservation r = {.addr = IP(198, 18, 0, 50)};
	const struct dhcp_client *c;
	uint8_t b[400];
	char pfx[64];

	memcpy(r.mac, mac_a, 6);
	snprintf(r.hostname, sizeof(r.hostname), "pi-a");
	CHECK_EQ(dhcp_service_reserve(g->svc, &r), 0);
	r.addr = IP(10, 0, 0, 1);
	CHECK_EQ(dhcp_service_reserve(g->svc, &r), -EINVAL);
	feed(g, b, pi4_msg(b, mac_a, DHCPDISCOVER));
	CHECK_EQ(g->sent[0].m.yiaddr, IP(198, 18, 0, 50));
	CHECK_MEM(g->sent[0].m.opt[DHCP_OPT_HOSTNAME].p, "pi-a", 4);
	c = dhcp_service_find_client(g->svc, mac_a);
	CHECK(c != NULL);
	if (c) {
		CHECK_EQ(c->model, DHCP_PI_4);
		CHECK_EQ(c->serial, 0x9ffefdef);
		CHECK_STR(dhcp_client_tftp_prefix(g->svc, c, pfx, sizeof(pfx)),
		    "9ffefdef");
	}
	rig_free(g);
}

TEST(dhcp_proxy_answers_pxe_only)
{
	struct rig *g = rig_new(CFG_DHCP_PROXY, NULL);
	uint8_t b[400];
	uint8_t rom[6] = {0xb8, 0x27, 0xeb, 0x01, 0x02, 0x03};
	const struct dhcp_client *list;

	feed(g, b, plain_msg(b, mac_a, DHCPDISCOVER, 0, 0, 0));
	CHECK_EQ(g->nsent, 0);
	feed(g, b, pi4_msg(b, mac_a, DHCPDISCOVER));
	CHECK_EQ(g->nsent, 1);
	/* §9 item 4: dnsmasq's proxy reply, Ethernet and IP broadcast. */
	CHECK_EQ(g->sent[0].m.yiaddr, 0);
	CHECK_EQ(g->sent[0].m.flags, DHCP_FLAG_BROADCAST);
	CHECK_EQ(g->sent[0].dst.kind, DHCP_DEST_BROADCAST);
	CHECK_EQ(g->sent[0].len, 314);
	CHECK_MEM(
	    g->sent[0].buf + DHCP_FIXED_LEN + 8, "\x04\xc6\x12\x00\x01", 5);
	/* REQUESTs on port 67 are the router's business. */
	feed(g, b, pi4_msg(b, mac_a, DHCPREQUEST));
	CHECK_EQ(g->nsent, 1);
	/* A BCM2837 ROM: answered after the delay, by a timer. */
	feed(g, b, rom_discover(b, rom));
	CHECK_EQ(g->nsent, 1);
	rig_wait(g, 120);
	CHECK_EQ(g->nsent, 2);
	CHECK_EQ(g->sent[1].dst.kind, DHCP_DEST_BROADCAST);
	CHECK_EQ(g->sent[1].m.flags, DHCP_FLAG_BROADCAST);
	CHECK_EQ(dhcp_service_clients(g->svc, &list), 2);
	rig_free(g);
}

/*
 * Reference §9 item 5 (quirk 13): the BCM2837 ROM takes a reply only
 * when another frame reaches it after its ~1 s DHCP timer.  One frame to
 * the Pi's MAC follows 1.5 s after the DISCOVER (not 100 ms after the
 * reply); EEPROM clients get none.
 */
TEST(dhcp_bcm2837_reply_followed_by_frame_after_rom_timer)
{
	struct rig *g = rig_new(CFG_DHCP_PROXY, NULL);
	uint8_t b[400];
	uint8_t rom[6] = {0xb8, 0x27, 0xeb, 0x01, 0x02, 0x03};
	uint64_t t0 = loop_clock_us() / 1000;
	struct cur c;

	feed(g, b, rom_discover(b, rom));
	feed(g, b, pi4_msg(b, mac_a, DHCPDISCOVER));
	rig_wait(g, 300);
	CHECK_EQ(g->nsent, 2);
	CHECK_EQ(g->narp, 0);
	rig_wait(g, 1600);
	CHECK_EQ(g->narp, 1);
	CHECK_MEM(g->arp[0].mac, rom, 6);
	CHECK(g->arp[0].at_ms >= t0 + 1500);
	/* Request (1) from us, for our own address: harmless anywhere. */
	c = cur_init(g->arp[0].pkt, 28);
	CHECK_EQ(cur_be16(&c), 1);
	CHECK_EQ(cur_be16(&c), 0x0800);
	cur_skip(&c, 2);
	CHECK_EQ(cur_be16(&c), 1);
	cur_skip(&c, 6);
	CHECK_EQ(cur_be32(&c), IP(198, 18, 0, 1));
	cur_skip(&c, 6);
	CHECK_EQ(cur_be32(&c), IP(198, 18, 0, 1));
	CHECK_EQ(dhcp_service_stats(g->svc)->followups, 1);
	rig_free(g);
}

TEST(dhcp_proxy_pxe_boot_file_by_arch_and_ipxe)
{
	struct rig *g = rig_new(CFG_DHCP_PROXY, NULL);
	uint8_t b[400];
	uint8_t pc[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	char msg[128];
	size_t n;

	CHECK_EQ(cfg_set(&g->cfg, "dhcp", "boot_file", "undionly.kpxe", msg,
		     sizeof(msg)),
	    0);
	CHECK_EQ(cfg_set(&g->cfg, "dhcp", "boot_file", "efi-x64=ipxe.efi", msg,
		     sizeof(msg)),
	    0);
	CHECK_EQ(cfg_set(&g->cfg, "dhcp", "ipxe_script", "boot.ipxe", msg,
		     sizeof(msg)),
	    0);
	n = pi4_msg(b, pc, DHCPDISCOVER);
	/* Not a Pi: a generic GUID. */
	memset(b + 0x136 - 0x2a + 3, 0x11, 16);
	b[0x136 - 0x2a + 4] = 0x22;
	feed(g, b, n);
	CHECK_EQ(g->nsent, 1);
	CHECK_STR((const char *)g->sent[0].m.file, "undionly.kpxe");
	CHECK_EQ(g->sent[0].m.siaddr, IP(198, 18, 0, 1));
	b[0x12d - 0x2a + 3] = 7;
	feed(g, b, n);
	CHECK_STR((const char *)g->sent[1].m.file, "ipxe.efi");
	memcpy(b + n - 1, "\x4d\x04iPXE\xff", 7);
	feed(g, b, n + 6);
	CHECK_STR((const char *)g->sent[2].m.file, "boot.ipxe");
	rig_free(g);
}

TEST(dhcp_malformed_is_counted_and_dropped)
{
	struct rig *g = rig_new(CFG_DHCP_SERVER, NULL);
	uint8_t b[400];
	size_t n = pi4_msg(b, mac_a, DHCPDISCOVER);

	feed(g, b, 100);
	b[2] = 40;
	feed(g, b, n);
	CHECK_EQ(g->nsent, 0);
	CHECK_EQ(dhcp_service_stats(g->svc)->malformed, 2);
	rig_free(g);
}

TEST(dhcp_lease_log_compacts_and_replays)
{
	char path[512];
	struct dhcp_leases t;
	uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0};
	struct dhcp_slot *s;
	struct stat st_before, st_after;
	int i;
	FILE *f;

	snprintf(path, sizeof(path), "%s/compact-leases", t_tmpdir());
	CHECK_EQ(dhcp_leases_init(
		     &t, IP(198, 18, 0, 10), IP(198, 18, 0, 19), path, 1000),
	    0);
	/* Ten clients renew 300 times: 3000 lines for 10 live leases. */
	for (i = 0; i < 3000; i++) {
		mac[5] = (uint8_t)(i % 10);
		s = dhcp_leases_find_mac(&t, mac);
		if (!s) {
			s = dhcp_leases_alloc(&t, mac, 0, 1000);
		}
		CHECK(s != NULL);
		if (s) {
			CHECK_EQ(dhcp_leases_bind(&t, s, 5000 + i), 0);
		}
		CHECK_EQ(dhcp_leases_sync(&t), 0);
	}
	CHECK_EQ(t.live, 10);
	CHECK(stat(path, &st_before) == 0);
	/* Compaction kept the log near the live set, not 3000 lines. */
	CHECK(t.records < 1100);
	dhcp_leases_fini(&t);
	/* A torn line after the compacted log. */
	f = fopen(path, "a");
	fputs("B 02:00", f);
	fclose(f);
	CHECK_EQ(dhcp_leases_init(
		     &t, IP(198, 18, 0, 10), IP(198, 18, 0, 19), path, 1000),
	    0);
	CHECK_EQ(t.live, 10);
	for (i = 0; i < 10; i++) {
		mac[5] = (uint8_t)i;
		s = dhcp_leases_find_mac(&t, mac);
		CHECK(s != NULL && s->state == DHCP_SLOT_BOUND);
	}
	/* The torn tail was cut, so the file ends on a newline. */
	CHECK(stat(path, &st_after) == 0);
	CHECK_EQ(st_after.st_size, st_before.st_size);
	/* Every address bound: nothing left for a new MAC. */
	mac[5] = 99;
	CHECK(dhcp_leases_alloc(&t, mac, 0, 1000) == NULL);
	/* After they expire, the pool is usable again. */
	CHECK(dhcp_leases_alloc(&t, mac, 0, 100000) != NULL);
	dhcp_leases_fini(&t);
}

/* Lease log I/O that fails the Nth fsync (counting from 1) once. */
static int fault_fsync_calls, fault_fsync_fail_at;

static int
fault_fsync(int fd)
{
	if (++fault_fsync_calls == fault_fsync_fail_at) {
		errno = EIO;
		return -1;
	}
	return fsync(fd);
}

static int fdatasync_calls;

static int
counting_fdatasync(int fd)
{
	fdatasync_calls++;
	return fdatasync(fd);
}

static const struct dhcp_lease_io fault_io = {
    .fsync = fault_fsync,
    .fdatasync = counting_fdatasync,
};

/*
 * Twenty Pi 3 ROMs power on together: their OFFERs are their leases, so
 * each needs its line on disk first, and their delay timers fire in the
 * same loop round.  One fdatasync covers them all, not one each: on a
 * slow disk twenty syncs in a row would hold the last Pi's reply for
 * twenty sync times.
 */
TEST(dhcp_server_rom_storm_shares_one_lease_sync)
{
	char path[512];
	struct rig *g;
	uint8_t b[400], mac[6] = {0xb8, 0x27, 0xeb, 0x07, 0, 0};
	int i;

	snprintf(path, sizeof(path), "%s/storm-leases", t_tmpdir());
	g = rig_new_pool(
	    CFG_DHCP_SERVER, path, IP(198, 18, 0, 2), IP(198, 18, 0, 254));
	dhcp_service_set_lease_io(g->svc, &fault_io);
	fault_fsync_fail_at = 0;
	for (i = 0; i < 20; i++) {
		mac[5] = (uint8_t)i;
		feed(g, b, rom_discover(b, mac));
	}
	fdatasync_calls = 0;
	rig_wait(g, 200);
	CHECK_EQ(g->nsent, 20);
	/* One, or a few if feeding took longer than the 10 ms window. */
	CHECK(fdatasync_calls >= 1 && fdatasync_calls <= 3);
	rig_free(g);
}

TEST(dhcp_lease_log_reopened_after_failed_dir_fsync)
{
	char path[512];
	struct dhcp_leases t;
	uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0};
	struct dhcp_slot *s;
	int i, r = 0;

	/* Ten clients renewing, and one address left for a newcomer. */
	snprintf(path, sizeof(path), "%s/dirfail-leases", t_tmpdir());
	CHECK_EQ(dhcp_leases_init(
		     &t, IP(198, 18, 0, 10), IP(198, 18, 0, 20), path, 1000),
	    0);
	t.io = &fault_io;
	fault_fsync_calls = 0;
	/* Compaction fsyncs the new file (call 1), then the directory. */
	fault_fsync_fail_at = 2;
	for (i = 0; i < 3000 && fault_fsync_calls < 2; i++) {
		mac[5] = (uint8_t)(i % 10);
		s = dhcp_leases_find_mac(&t, mac);
		if (!s) {
			s = dhcp_leases_alloc(&t, mac, 0, 1000);
		}
		CHECK(s != NULL);
		if (s) {
			CHECK_EQ(dhcp_leases_bind(&t, s, 5000 + i), 0);
		}
		r = dhcp_leases_sync(&t);
	}
	CHECK_EQ(fault_fsync_calls, 2);
	/*
	 * The batch was synced into the old file and the new one holds every
	 * live binding: whichever name a crash leaves, nothing is lost.
	 */
	CHECK_EQ(r, 0);
	/* A new client after the failure: its line must land in the file
	 * the path names, and the directory is synced before it counts. */
	mac[5] = 42;
	s = dhcp_leases_alloc(&t, mac, 0, 1000);
	CHECK(s != NULL);
	if (s) {
		CHECK_EQ(dhcp_leases_bind(&t, s, 9000), 0);
	}
	CHECK_EQ(dhcp_leases_sync(&t), 0);
	CHECK_EQ(fault_fsync_calls, 3);
	dhcp_leases_fini(&t);
	CHECK_EQ(dhcp_leases_init(
		     &t, IP(198, 18, 0, 10), IP(198, 18, 0, 20), path, 1000),
	    0);
	s = dhcp_leases_find_mac(&t, mac);
	CHECK(s != NULL && s->state == DHCP_SLOT_BOUND);
	dhcp_leases_fini(&t);
}
