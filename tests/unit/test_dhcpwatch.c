#include <errno.h>
#include <string.h>

#include "core/csum.h"
#include "core/cur.h"
#include "proto/dhcp/dhcp.h"
#include "proto/dhcp/frame.h"
#include "server/dhcpwatch.h"
#include "t.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))

static const uint8_t pi_mac[6] = {0xdc, 0xa6, 0x32, 0x01, 0x36, 0xc2};
static const uint8_t other_mac[6] = {0x02, 0, 0, 0, 0, 0x42};

/* What the watch reported. */
struct seen {
	int bound, unseen, naked;
	uint8_t mac[6];
	uint32_t addr, server;
};

static void
on_bound(void *arg, const uint8_t mac[6], uint32_t addr, uint32_t server)
{
	struct seen *s = arg;

	s->bound++;
	memcpy(s->mac, mac, 6);
	s->addr = addr;
	s->server = server;
}

static void
on_unseen(void *arg, const uint8_t mac[6], uint32_t addr, uint32_t server)
{
	struct seen *s = arg;

	(void)mac;
	(void)server;
	s->unseen++;
	s->addr = addr;
}

static void
on_naked(void *arg, const uint8_t mac[6], uint32_t addr, uint32_t server)
{
	struct seen *s = arg;

	(void)mac;
	(void)addr;
	s->naked++;
	s->server = server;
}

static const struct dhcpwatch_ops ops = {on_bound, on_unseen, on_naked};

struct msg {
	uint8_t type;
	const uint8_t *chaddr;
	uint32_t xid, want, server, yiaddr;
};

/* An IPv4/UDP packet carrying @m, as the packet socket hands it over. */
static size_t
frame(uint8_t *out, size_t cap, const struct msg *m)
{
	bool client = m->type == DHCPREQUEST || m->type == DHCPDISCOVER;
	struct wcur w = wcur_init(out, cap);
	uint8_t *csum;
	uint16_t c;

	wcur_u8(&w, 0x45);
	wcur_u8(&w, 0);
	wcur_be16(&w, 20 + 8 + 300);
	wcur_be32(&w, 0);
	wcur_u8(&w, 64);
	wcur_u8(&w, 17);
	csum = wcur_reserve(&w, 2);
	wcur_be32(&w, client ? 0 : IP(198, 18, 0, 254));
	wcur_be32(&w, 0xffffffff);
	wcur_be16(&w, client ? 68 : 67);
	wcur_be16(&w, client ? 67 : 68);
	wcur_be16(&w, 8 + 300);
	wcur_be16(&w, 0);
	wcur_u8(&w, client ? 1 : 2);
	wcur_u8(&w, 1);
	wcur_u8(&w, 6);
	wcur_u8(&w, 0);
	wcur_be32(&w, m->xid);
	wcur_zero(&w, 8);
	wcur_be32(&w, m->yiaddr);
	wcur_zero(&w, 8);
	wcur_bytes(&w, m->chaddr, 6);
	wcur_zero(&w, 10 + 64 + 128);
	wcur_be32(&w, DHCP_COOKIE);
	wcur_bytes(&w, (uint8_t[]){53, 1, m->type}, 3);
	if (m->server) {
		wcur_bytes(&w, (uint8_t[]){54, 4}, 2);
		wcur_be32(&w, m->server);
	}
	if (m->want) {
		wcur_bytes(&w, (uint8_t[]){50, 4}, 2);
		wcur_be32(&w, m->want);
	}
	wcur_u8(&w, 255);
	wcur_zero(&w, 20 + 8 + 300 - w.off);
	csum[0] = csum[1] = 0;
	c = csum_fold(csum_add(0, out, 20));
	csum[0] = (uint8_t)(c >> 8);
	csum[1] = (uint8_t)c;
	return w.err ? 0 : w.off;
}

static int
feed(struct dhcpwatch *w, const struct msg *m, uint64_t now)
{
	uint8_t pkt[400];
	size_t n = frame(pkt, sizeof(pkt), m);

	return dhcpwatch_feed(w, pkt, n, now);
}

#define ADDR   IP(198, 18, 0, 205)
#define ROUTER IP(198, 18, 0, 254)

static const struct msg req = {DHCPREQUEST, pi_mac, 0x1234, ADDR, ROUTER, 0};
static const struct msg ack = {DHCPACK, pi_mac, 0x1234, 0, ROUTER, ADDR};

TEST(dhcpwatch_binds_a_request_and_its_ack_in_a_served_boot)
{
	struct seen s = {0};
	struct dhcpwatch *w = dhcpwatch_new(4, &ops, &s);

	dhcpwatch_open_window(w, pi_mac, 1000 + 300000);
	CHECK_EQ(feed(w, &req, 1000), 0);
	CHECK_EQ(feed(w, &ack, 1001), 0);
	CHECK_EQ(s.bound, 1);
	CHECK_MEM(s.mac, pi_mac, 6);
	CHECK_EQ(s.addr, ADDR);
	CHECK_EQ(s.server, ROUTER);
	/* The same ACK again binds nothing more: the request is answered. */
	CHECK_EQ(feed(w, &ack, 1002), 0);
	CHECK_EQ(s.bound, 1);
	CHECK_EQ(dhcpwatch_stats(w)->requests, 1);
	dhcpwatch_free(w);
}

TEST(dhcpwatch_ignores_clients_outside_a_served_boot)
{
	struct seen s = {0};
	struct dhcpwatch *w = dhcpwatch_new(4, &ops, &s);

	/* No window at all. */
	feed(w, &req, 1000);
	feed(w, &ack, 1001);
	CHECK_EQ(s.bound, 0);
	/* A window for another MAC. */
	dhcpwatch_open_window(w, other_mac, 400000);
	feed(w, &req, 1000);
	feed(w, &ack, 1001);
	CHECK_EQ(s.bound, 0);
	/* A window that has ended. */
	dhcpwatch_open_window(w, pi_mac, 5000);
	feed(w, &req, 6000);
	feed(w, &ack, 6001);
	CHECK_EQ(s.bound, 0);
	CHECK_EQ(dhcpwatch_tick(w, 100000), 0);
	CHECK_EQ(s.unseen, 0);
	dhcpwatch_free(w);
}

TEST(dhcpwatch_needs_the_ack_that_answers_the_request)
{
	struct seen s = {0};
	struct dhcpwatch *w = dhcpwatch_new(4, &ops, &s);
	struct msg m;

	dhcpwatch_open_window(w, pi_mac, 400000);
	/* An ACK with no REQUEST before it. */
	feed(w, &ack, 1000);
	CHECK_EQ(s.bound, 0);
	feed(w, &req, 1001);
	m = ack;
	m.xid = 0x9999;
	feed(w, &m, 1002);
	m = ack;
	m.yiaddr = IP(198, 18, 0, 2);
	feed(w, &m, 1003);
	m = ack;
	m.server = IP(198, 18, 0, 66);
	feed(w, &m, 1004);
	m = ack;
	m.chaddr = other_mac;
	feed(w, &m, 1005);
	CHECK_EQ(s.bound, 0);
	CHECK_EQ(dhcpwatch_stats(w)->foreign, 3);
	/* An ACK later than DHCPWATCH_ACK_MS after the REQUEST. */
	feed(w, &ack, 1001 + DHCPWATCH_ACK_MS + 1);
	CHECK_EQ(s.bound, 0);
	/* The right one still binds while it is in time. */
	feed(w, &req, 20000);
	feed(w, &ack, 20001);
	CHECK_EQ(s.bound, 1);
	dhcpwatch_free(w);
}

TEST(dhcpwatch_nak_ends_the_request)
{
	struct seen s = {0};
	struct dhcpwatch *w = dhcpwatch_new(4, &ops, &s);
	struct msg nak = {DHCPNAK, pi_mac, 0x1234, 0, ROUTER, 0};

	dhcpwatch_open_window(w, pi_mac, 400000);
	feed(w, &req, 1000);
	feed(w, &nak, 1001);
	CHECK_EQ(s.naked, 1);
	CHECK_EQ(s.server, ROUTER);
	/* An ACK after the NAK (a forger racing the server) binds nothing. */
	feed(w, &ack, 1002);
	CHECK_EQ(s.bound, 0);
	CHECK_EQ(dhcpwatch_tick(w, 1000 + DHCPWATCH_ACK_MS), 0);
	CHECK_EQ(s.unseen, 0);
	dhcpwatch_free(w);
}

TEST(dhcpwatch_reports_a_request_whose_ack_it_never_saw)
{
	struct seen s = {0};
	struct dhcpwatch *w = dhcpwatch_new(4, &ops, &s);

	dhcpwatch_open_window(w, pi_mac, 400000);
	feed(w, &req, 1000);
	CHECK_EQ(dhcpwatch_tick(w, 2000), 1000 + DHCPWATCH_ACK_MS);
	CHECK_EQ(s.unseen, 0);
	CHECK_EQ(dhcpwatch_tick(w, 1000 + DHCPWATCH_ACK_MS), 0);
	CHECK_EQ(s.unseen, 1);
	CHECK_EQ(s.addr, ADDR);
	CHECK_EQ(s.bound, 0);
	dhcpwatch_free(w);
}

TEST(dhcpwatch_full_table_drops_the_window_that_ends_first)
{
	struct seen s = {0};
	struct dhcpwatch *w = dhcpwatch_new(1, &ops, &s);

	dhcpwatch_open_window(w, other_mac, 10000);
	dhcpwatch_open_window(w, pi_mac, 400000);
	feed(w, &req, 1000);
	feed(w, &ack, 1001);
	CHECK_EQ(s.bound, 1);
	dhcpwatch_free(w);
}

TEST(dhcp_frame_parse_checks_ip_and_udp)
{
	uint8_t pkt[400];
	size_t n = frame(pkt, sizeof(pkt), &req);
	struct dhcp_frame f;

	CHECK_EQ(dhcp_frame_parse(pkt, n, &f), 0);
	CHECK_EQ(f.sport, 68);
	CHECK_EQ(f.dport, 67);
	CHECK_EQ(f.dst, 0xffffffff);
	CHECK_EQ(f.payload_len, 300);
	CHECK(f.payload == pkt + 28);
	/* Ethernet padding after the IP total length is not payload. */
	CHECK_EQ(dhcp_frame_parse(pkt, n + 10, &f), 0);
	CHECK_EQ(f.payload_len, 300);
	CHECK_EQ(dhcp_frame_parse(pkt, 19, &f), -EBADMSG);
	CHECK_EQ(dhcp_frame_parse(pkt, n - 1, &f), -EBADMSG);
	pkt[10] ^= 1; /* header checksum */
	CHECK_EQ(dhcp_frame_parse(pkt, n, &f), -EBADMSG);
	pkt[10] ^= 1;
	pkt[0] = 0x65; /* IPv6 version nibble */
	CHECK_EQ(dhcp_frame_parse(pkt, n, &f), -EBADMSG);
	pkt[0] = 0x45;
	pkt[24] = 0xff; /* UDP length past the packet */
	CHECK_EQ(dhcp_frame_parse(pkt, n, &f), -EBADMSG);
	n = frame(pkt, sizeof(pkt), &req);
	pkt[6] = 0x20; /* more fragments */
	pkt[10] = pkt[11] = 0;
	{
		uint16_t c = csum_fold(csum_add(0, pkt, 20));

		pkt[10] = (uint8_t)(c >> 8);
		pkt[11] = (uint8_t)c;
	}
	CHECK_EQ(dhcp_frame_parse(pkt, n, &f), -EOPNOTSUPP);
}
