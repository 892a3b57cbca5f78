/*
 * dhcp_load: a DHCP load generator.
 *
 *   dhcp_load -i IF -s SERVER [-c CONC] [-t SECS] [-m MAX]   exchanges
 *   dhcp_load -i IF -s SERVER -p [-m COUNT]                   proxy latency
 *   dhcp_load -i IF -f COUNT [-r PPS] [-R]                    DISCOVER flood
 *   dhcp_load -i IF -P COUNT [-t SECS] [-g TAG]               Pis at once
 *
 * Exchanges: CONC clients at a time, each with a fresh MAC, run DISCOVER,
 * OFFER, REQUEST, ACK over a packet socket (as clients without an address
 * do), then RELEASE so that a /24 pool never runs dry.  It prints
 * "exchanges N secs S rate R/s timeouts T naks K".  Proxy latency: COUNT
 * sequential PXE DISCOVERs (Pi 4 style, so no BCM2837 delay) and the
 * median, p90 and p99 answer time.  Flood: COUNT DISCOVERs from random
 * MACs, at PPS packets per second or as fast as the socket takes them,
 * without waiting for anything; with -R each carries the BCM2837 ROM's
 * fingerprint (xid 0x26f30339, PXEClient, option 97 with a serial four
 * times), the requests a server binds an address for at OFFER time.
 * Pis at once: COUNT DISCOVERs of the four Pi firmware kinds in turn
 * (3B ROM, 3B+ ROM/bootcode, Pi 4 and Pi 5 EEPROM, laid out as reference
 * §2.1 gives them, from Raspberry Pi MACs), all sent in one burst; for
 * SECS each EEPROM client that gets an OFFER sends its REQUEST (no
 * option 60), then it prints "pis sent N offers O acks A".  A capture
 * (tests/tools/dhcp_cap) shows what came back and when.
 * Every loop is bounded by a count and a time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/csum.h"
#include "proto/dhcp/dhcp.h"

#define CONC_MAX 1024

/* What a request looks like: a plain client, or a Pi's firmware. */
enum kind {
	K_PLAIN,
	K_ROM_3B,  /* BCM2837 ROM with the 44..44 GUID */
	K_BCM2837, /* 3B+ ROM or bootcode.bin: the serial four times */
	K_PI4,
	K_PI5,
};

struct client {
	uint8_t mac[6];
	uint32_t xid;
	enum kind kind;
	int state; /* 0 idle, 1 discovering, 2 requesting */
	uint32_t yiaddr, sid;
	uint64_t sent_us;
};

static int g_fd, g_ifindex;
static uint64_t g_mac_counter;
static unsigned g_tag;

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * A request from @c.  Pi kinds carry their firmware's options in the
 * order of reference §2.1 (53, 55, 93, 94, 97, 60); an EEPROM REQUEST has
 * no option 60, as the Pi 4 sends it (raspberrypi/rpi-eeprom#82).
 */
static size_t
build(uint8_t *b, const struct client *c, uint8_t type)
{
	static const uint8_t prl_rom[] = {0x2b, 0x3c, 0x43, 0x80, 0x81, 0x82,
	    0x83, 0x84, 0x85, 0x86, 0x87, 0x42, 0x01, 0x03};
	static const uint8_t prl_eeprom[] = {0x01, 0x03, 0x2b, 0x3c, 0x42, 0x43,
	    0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87};
	bool pi = c->kind != K_PLAIN;
	size_t o, i;

	memset(b, 0, 400);
	b[0] = 1;
	b[1] = 1;
	b[2] = 6;
	put32(b + 4, c->xid);
	if (type == DHCPRELEASE) {
		put32(b + 12, c->yiaddr);
	}
	memcpy(b + 28, c->mac, 6);
	put32(b + 236, DHCP_COOKIE);
	o = 240;
	b[o++] = 53;
	b[o++] = 1;
	b[o++] = type;
	if (type == DHCPREQUEST) {
		b[o++] = 50;
		b[o++] = 4;
		put32(b + o, c->yiaddr);
		o += 4;
	}
	if (type == DHCPREQUEST || type == DHCPRELEASE) {
		b[o++] = 54;
		b[o++] = 4;
		put32(b + o, c->sid);
		o += 4;
	}
	if (pi && type == DHCPDISCOVER) {
		bool eeprom = c->kind == K_PI4 || c->kind == K_PI5;
		/* The 3B ROM's list lacks the trailing 1, 3 (§2.1). */
		size_t nprl = c->kind == K_ROM_3B ? 12 : 14;

		b[o++] = 55;
		b[o++] = (uint8_t)nprl;
		memcpy(b + o, eeprom ? prl_eeprom : prl_rom, nprl);
		o += nprl;
		memcpy(b + o, "\x5d\x02\x00\x00\x5e\x03\x01\x02\x01", 9);
		o += 9;
		b[o++] = 97;
		b[o++] = 17;
		b[o++] = 0;
		if (c->kind == K_ROM_3B) {
			memset(b + o, 0x44, 16);
		} else if (eeprom) {
			/* "RPi4"/"RPi5", revision, MAC low 4, serial (§2.2). */
			memcpy(b + o, c->kind == K_PI4 ? "RPi4" : "RPi5", 4);
			memcpy(b + o + 4, "\x11\x31\xc0\x00", 4);
			memcpy(b + o + 8, c->mac + 2, 4);
			memcpy(b + o + 12, c->mac + 2, 4);
		} else {
			/* The serial as LE32, four times (§2.2). */
			for (i = 0; i < 4; i++) {
				memcpy(b + o + 4 * i, c->mac + 2, 4);
			}
		}
		o += 16;
		b[o++] = 60;
		b[o++] = 32;
		memcpy(b + o, "PXEClient:Arch:00000:UNDI:002001", 32);
		o += 32;
	} else if (!pi) {
		b[o++] = 55;
		b[o++] = 3;
		b[o++] = 1;
		b[o++] = 3;
		b[o++] = 6;
	}
	b[o++] = 255;
	/* The firmware sends 320 (3B ROM) or 322 bytes, unpadded (§2.1). */
	return pi || o >= 300 ? o : 300;
}

static int
send_frame(const struct client *c, const uint8_t *bootp, size_t n, uint32_t src,
    uint32_t dst)
{
	uint8_t f[600];
	size_t iplen = 28 + n;
	bool rom = c->kind == K_ROM_3B || c->kind == K_BCM2837;
	uint32_t sum;
	uint16_t k;
	struct sockaddr_ll sll = {
	    .sll_family = AF_PACKET,
	    .sll_ifindex = g_ifindex,
	    .sll_halen = 6,
	};

	memset(f, 0, 42);
	memset(f, 0xff, 6);
	memcpy(f + 6, c->mac, 6);
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = (uint8_t)(iplen >> 8);
	f[17] = (uint8_t)iplen;
	/* BCM2837 code sends TTL 128 and no UDP checksum (§2.1). */
	f[22] = rom ? 128 : 64;
	f[23] = 17;
	put32(f + 26, src);
	put32(f + 30, dst);
	k = csum_fold(csum_add(0, f + 14, 20));
	f[24] = (uint8_t)(k >> 8);
	f[25] = (uint8_t)k;
	f[35] = 68;
	f[37] = 67;
	f[38] = (uint8_t)((8 + n) >> 8);
	f[39] = (uint8_t)(8 + n);
	memcpy(f + 42, bootp, n);
	sum = csum_add(0, f + 26, 8) + 17 + 8 + (uint32_t)n;
	k = csum_fold(csum_add(sum, f + 34, 8 + n));
	if (!rom) {
		f[40] = (uint8_t)(k >> 8);
		f[41] = (uint8_t)(k ? k : 0xffff);
	}
	memset(sll.sll_addr, 0xff, 6);
	return sendto(
		   g_fd, f, 42 + n, 0, (struct sockaddr *)&sll, sizeof(sll)) < 0
	    ? -errno
	    : 0;
}

static int
open_raw(void)
{
	static struct sock_filter code[] = {
	    {0x28, 0, 0, 12},
	    {0x15, 0, 8, 0x0800},
	    {0x30, 0, 0, 23},
	    {0x15, 0, 6, 17},
	    {0x28, 0, 0, 20},
	    {0x45, 4, 0, 0x1fff},
	    {0xb1, 0, 0, 14},
	    {0x48, 0, 0, 16},
	    {0x15, 0, 1, 68},
	    {0x6, 0, 0, 0xffff},
	    {0x6, 0, 0, 0},
	};
	struct sock_fprog prog = {.len = 11, .filter = code};
	struct sockaddr_ll sll = {
	    .sll_family = AF_PACKET,
	    .sll_protocol = htons(ETH_P_IP),
	    .sll_ifindex = g_ifindex,
	};
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    htons(ETH_P_IP));
	int big = 4 << 20;

	if (fd < 0) {
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) <
		0 ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
fresh(struct client *c, int idx)
{
	uint64_t n = ++g_mac_counter;

	c->mac[0] = 0x02;
	c->mac[1] = (uint8_t)g_tag;
	c->mac[2] = (uint8_t)(n >> 24);
	c->mac[3] = (uint8_t)(n >> 16);
	c->mac[4] = (uint8_t)(n >> 8);
	c->mac[5] = (uint8_t)n;
	c->xid = (uint32_t)(n << 10) | (uint32_t)idx;
	c->kind = K_PLAIN;
	c->state = 0;
}

/* Read one reply; returns 1 with @m filled, 0 when none is waiting. */
static int
recv_reply(struct dhcp_msg *m, uint8_t *buf, size_t cap)
{
	for (;;) {
		ssize_t n = recv(g_fd, buf, cap, 0);
		size_t ihl;

		if (n < 0) {
			return 0;
		}
		if (n < 42) {
			continue;
		}
		ihl = (size_t)(buf[14] & 15) * 4;
		if ((size_t)n <= 14 + ihl + 8) {
			continue;
		}
		if (dhcp_parse(
			buf + 14 + ihl + 8, (size_t)n - 14 - ihl - 8, m) == 0 &&
		    m->op == DHCP_BOOTREPLY) {
			return 1;
		}
	}
}

static int
run_exchanges(uint32_t server, int conc, int secs, long max)
{
	struct client *cl = calloc((size_t)conc, sizeof(*cl));
	struct dhcp_msg *m = calloc(1, sizeof(*m));
	uint8_t buf[2048], b[600];
	uint64_t start = now_us(), end = start + (uint64_t)secs * 1000000;
	long done = 0, timeouts = 0, naks = 0;
	int i;

	if (!cl || !m) {
		return 1;
	}
	while (now_us() < end && done < max) {
		struct pollfd pfd = {.fd = g_fd, .events = POLLIN};
		uint64_t t = now_us();

		for (i = 0; i < conc; i++) {
			struct client *c = &cl[i];

			if (c->state && t - c->sent_us > 2000000) {
				timeouts++;
				c->state = 0;
			}
			if (c->state == 0) {
				fresh(c, i);
				c->state = 1;
				c->sent_us = t;
				send_frame(c, b, build(b, c, DHCPDISCOVER), 0,
				    0xffffffff);
			}
		}
		poll(&pfd, 1, 10);
		while (recv_reply(m, buf, sizeof(buf))) {
			struct client *c = &cl[m->xid & 1023];
			uint32_t sid;

			if ((int)(m->xid & 1023) >= conc || c->xid != m->xid ||
			    memcmp(m->chaddr, c->mac, 6) != 0) {
				continue;
			}
			if (!dhcp_opt_addr(m, DHCP_OPT_SERVER_ID, &sid) ||
			    sid != server) {
				continue;
			}
			if (c->state == 1 && m->type == DHCPOFFER) {
				c->yiaddr = m->yiaddr;
				c->sid = sid;
				c->state = 2;
				send_frame(c, b, build(b, c, DHCPREQUEST), 0,
				    0xffffffff);
			} else if (c->state == 2 && m->type == DHCPACK) {
				done++;
				send_frame(c, b, build(b, c, DHCPRELEASE),
				    c->yiaddr, server);
				c->state = 0;
			} else if (c->state == 2 && m->type == DHCPNAK) {
				naks++;
				c->state = 0;
			}
		}
	}
	{
		double s = (double)(now_us() - start) / 1e6;

		printf("exchanges %ld secs %.2f rate %.0f/s timeouts %ld "
		       "naks %ld\n",
		    done, s, (double)done / s, timeouts, naks);
	}
	free(cl);
	free(m);
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int
run_proxy_latency(uint32_t server, long count)
{
	uint64_t *lat = calloc((size_t)count, sizeof(*lat));
	struct dhcp_msg *m = calloc(1, sizeof(*m));
	uint8_t buf[2048], b[600];
	struct client c;
	long i, n = 0, lost = 0;

	if (!lat || !m) {
		return 1;
	}
	for (i = 0; i < count; i++) {
		uint64_t t0, deadline;
		bool got = false;

		fresh(&c, 0);
		/* A Pi 4 OUI: no BCM2837 delay applies. */
		c.mac[0] = 0xdc;
		c.mac[1] = 0xa6;
		c.mac[2] = 0x32;
		c.kind = K_PI4;
		t0 = now_us();
		deadline = t0 + 500000;
		send_frame(&c, b, build(b, &c, DHCPDISCOVER), 0, 0xffffffff);
		while (!got && now_us() < deadline) {
			struct pollfd pfd = {.fd = g_fd, .events = POLLIN};
			uint32_t sid;

			poll(&pfd, 1, 50);
			while (recv_reply(m, buf, sizeof(buf))) {
				if (m->xid == c.xid &&
				    dhcp_opt_addr(
					m, DHCP_OPT_SERVER_ID, &sid) &&
				    sid == server) {
					lat[n++] = now_us() - t0;
					got = true;
					break;
				}
			}
		}
		lost += !got;
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
	if (n) {
		printf("proxy replies %ld lost %ld median_us %llu p90_us %llu "
		       "p99_us %llu\n",
		    n, lost, (unsigned long long)lat[n / 2],
		    (unsigned long long)lat[n * 9 / 10],
		    (unsigned long long)lat[n * 99 / 100]);
	} else {
		printf("proxy replies 0 lost %ld\n", lost);
	}
	free(lat);
	free(m);
	return n ? 0 : 1;
}

static int
run_flood(long count, long rate, bool rom)
{
	uint8_t b[600];
	struct client c;
	long i, sent = 0;
	uint64_t end = now_us() + 60000000;
	unsigned seed = (unsigned)now_us();

	uint64_t start = now_us();

	for (i = 0; i < count && now_us() < end; i++) {
		if (rate > 0 && i % 100 == 0) {
			/* Pace in bursts of 100 to @rate packets per second. */
			uint64_t due =
			    start + (uint64_t)i * 1000000 / (uint64_t)rate;
			uint64_t t = now_us();

			if (due > t) {
				usleep((useconds_t)(due - t));
			}
		}
		fresh(&c, 0);
		/* Random, but keeping the tag in byte 1 for the logs. */
		c.mac[2] = (uint8_t)rand_r(&seed);
		if (rom) {
			c.kind = K_BCM2837;
			c.xid = DHCP_PI_XID;
		}
		if (send_frame(&c, b, build(b, &c, DHCPDISCOVER), 0,
			0xffffffff) == 0) {
			sent++;
		} else {
			/* The queue is full: let it drain. */
			usleep(200);
		}
	}
	printf("flood sent %ld\n", sent);
	return 0;
}

/* Pi @i of a burst: the four firmware kinds in turn, Raspberry Pi MACs. */
static void
pi_client(struct client *c, long i, unsigned *seed)
{
	static const uint8_t oui[4][3] = {{0xb8, 0x27, 0xeb},
	    {0xb8, 0x27, 0xeb}, {0xdc, 0xa6, 0x32}, {0x2c, 0xcf, 0x67}};
	static const enum kind kinds[4] = {K_ROM_3B, K_BCM2837, K_PI4, K_PI5};

	memset(c, 0, sizeof(*c));
	c->kind = kinds[i % 4];
	memcpy(c->mac, oui[i % 4], 3);
	c->mac[3] = (uint8_t)g_tag;
	c->mac[4] = (uint8_t)(i >> 8);
	c->mac[5] = (uint8_t)i;
	c->xid = c->kind == K_PI4 || c->kind == K_PI5 ? (uint32_t)rand_r(seed)
						      : DHCP_PI_XID;
}

static int
run_pis(long count, int secs)
{
	struct client *cl = calloc((size_t)count, sizeof(*cl));
	struct dhcp_msg *m = calloc(1, sizeof(*m));
	uint8_t buf[2048], b[600];
	uint64_t end = now_us() + (uint64_t)secs * 1000000;
	unsigned seed = (unsigned)now_us();
	long i, sent = 0, offers = 0, acks = 0;

	if (!cl || !m) {
		return 1;
	}
	for (i = 0; i < count; i++) {
		pi_client(&cl[i], i, &seed);
		cl[i].state = 1;
		sent += send_frame(&cl[i], b, build(b, &cl[i], DHCPDISCOVER), 0,
			    0xffffffff) == 0;
	}
	while (now_us() < end) {
		struct pollfd pfd = {.fd = g_fd, .events = POLLIN};

		poll(&pfd, 1, 50);
		while (recv_reply(m, buf, sizeof(buf))) {
			struct client *c = NULL;

			for (i = 0; i < count && !c; i++) {
				if (memcmp(cl[i].mac, m->chaddr, 6) == 0) {
					c = &cl[i];
				}
			}
			if (!c || m->xid != c->xid) {
				continue;
			}
			if (m->type == DHCPOFFER && c->state == 1) {
				offers++;
				c->state = 3;
				if (c->kind == K_PI4 || c->kind == K_PI5) {
					/* The EEPROM REQUESTs (§2.6). */
					c->yiaddr = m->yiaddr;
					(void)dhcp_opt_addr(
					    m, DHCP_OPT_SERVER_ID, &c->sid);
					c->state = 2;
					send_frame(c, b,
					    build(b, c, DHCPREQUEST), 0,
					    0xffffffff);
				}
			} else if (m->type == DHCPACK && c->state == 2) {
				acks++;
				c->state = 3;
			}
		}
	}
	printf("pis sent %ld offers %ld acks %ld\n", sent, offers, acks);
	free(cl);
	free(m);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *ifname = NULL;
	uint32_t server = 0;
	int c, conc = 64, secs = 5;
	long max = 10000000, flood = 0, rate = 0, pis = 0;
	bool proxy = false, rom = false;

	while ((c = getopt(argc, argv, "i:s:c:t:m:pf:g:r:RP:")) != -1) {
		switch (c) {
		case 'i':
			ifname = optarg;
			break;
		case 's': {
			struct in_addr a;

			if (inet_pton(AF_INET, optarg, &a) != 1) {
				return 2;
			}
			server = ntohl(a.s_addr);
			break;
		}
		case 'c':
			conc = atoi(optarg);
			break;
		case 't':
			secs = atoi(optarg);
			break;
		case 'm':
			max = atol(optarg);
			break;
		case 'p':
			proxy = true;
			break;
		case 'f':
			flood = atol(optarg);
			break;
		case 'g':
			g_tag = (unsigned)atoi(optarg);
			break;
		case 'r':
			rate = atol(optarg);
			break;
		case 'R':
			rom = true;
			break;
		case 'P':
			pis = atol(optarg);
			break;
		default:
			fprintf(stderr,
			    "see the comment at the top of "
			    "bench/dhcp_load.c\n");
			return 2;
		}
	}
	if (!ifname || conc < 1 || conc > CONC_MAX || secs < 1 || secs > 600) {
		fprintf(stderr,
		    "dhcp_load: -i IF required; -c 1..%d, -t "
		    "1..600\n",
		    CONC_MAX);
		return 2;
	}
	g_ifindex = (int)if_nametoindex(ifname);
	g_fd = open_raw();
	if (!g_ifindex || g_fd < 0) {
		fprintf(stderr, "dhcp_load: %s: %s\n", ifname, strerror(errno));
		return 2;
	}
	if (flood) {
		return run_flood(flood, rate, rom);
	}
	if (pis > 0 && pis <= 65536) {
		return run_pis(pis, secs);
	}
	if (!server) {
		fprintf(stderr, "dhcp_load: -s SERVER required\n");
		return 2;
	}
	if (proxy) {
		return run_proxy_latency(server, max < 100000 ? max : 1000);
	}
	return run_exchanges(server, conc, secs, max);
}
