/*
 * pi_emu: a Raspberry Pi network-boot firmware emulator for tests.
 *
 * Each emulated Pi speaks its model's DHCP exactly as the reference
 * (pi-netboot-reference.md §2.1, §2.2) describes it, from its own MAC over
 * a raw packet socket: the 3B ROM (xid 0x26f30339, GUID 44..44, 320-byte
 * BOOTP, UDP checksum 0, never a REQUEST), the 3B+ ROM and bootcode.bin
 * (same xid, serial GUID, 322 bytes), the Pi 4 and Pi 5 EEPROMs (random
 * xid, "RPi4"/"RPi5" GUID, REQUEST without option 60).  It checks every
 * reply for what the model needs, then fetches the model's TFTP file
 * sequence (§3.4) as a plain UDP TFTP client, with the model's options
 * and "Early terminate" probes.  -n N runs N Pis at once, one thread each.
 *
 * Lines starting "pi_emu:" report steps; the last line is a summary, and
 * the exit status is 0 only if every Pi booted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/csum.h"
#include "proto/dhcp/dhcp.h"

enum model {
	M_3B,       /* 3B ROM, then bootcode.bin */
	M_3BPLUS,   /* 3B+ ROM, then bootcode.bin */
	M_BOOTCODE, /* bootcode.bin from an SD card (any Pi 1-3) */
	M_PI4,
	M_PI5,
	M_COUNT,
};

static const char *const model_names[M_COUNT] = {
    "3b", "3b+", "bootcode", "pi4", "pi5"};

struct opts {
	const char *ifname;
	int ifindex;
	int model; /* -1 = mix */
	int n;
	unsigned base;
	bool server_mode; /* expect addresses from the PXE server too */
	bool tftp;
	bool quiet;
	int timeout_s;
	int min_delay_ms;   /* BCM2837 replies must not come sooner */
	int spread_ms;      /* power-on spread */
	uint32_t strict_ip; /* replies from this server: L2 unicast only */
	int rom_retry_ms;
};

struct pi {
	const struct opts *o;
	int idx;
	enum model model;
	uint8_t mac[6];
	uint32_t serial;
	uint32_t xid;
	int fd;
	/* results */
	bool ok;
	uint32_t addr;    /* address the firmware ended up with */
	uint32_t tftp_ip; /* option 54 of the PXE reply */
	int strays;
	bool nak;
	char why[200];
};

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
say(const struct pi *p, const char *fmt, ...)
{
	va_list ap;

	if (p->o->quiet) {
		return;
	}
	pthread_mutex_lock(&out_lock);
	printf("pi_emu: pi%d %s %02x:%02x:%02x:%02x:%02x:%02x ", p->idx,
	    model_names[p->model], p->mac[0], p->mac[1], p->mac[2], p->mac[3],
	    p->mac[4], p->mac[5]);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

static bool
fail(struct pi *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&out_lock);
	printf("pi_emu: FAIL pi%d %s %02x:%02x:%02x:%02x:%02x:%02x %s\n",
	    p->idx, model_names[p->model], p->mac[0], p->mac[1], p->mac[2],
	    p->mac[3], p->mac[4], p->mac[5], p->why);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
	return false;
}

/* ---- building requests (reference §2.1) ---- */

static size_t
put(uint8_t *b, size_t off, const void *src, size_t n)
{
	memcpy(b + off, src, n);
	return off + n;
}

static bool
is_bcm2837(enum model m)
{
	return m == M_3B || m == M_3BPLUS || m == M_BOOTCODE;
}

/*
 * The BOOTP payload of a request.  @phase_rom: the 3B ROM's own DISCOVER
 * (GUID 44..44, short PRL); bootcode.bin uses the serial.
 */
static size_t
build_bootp(const struct pi *p, uint8_t *b, uint8_t type, bool phase_rom,
    uint32_t want, uint32_t sid)
{
	static const uint8_t prl_rom[] = {0x2b, 0x3c, 0x43, 0x80, 0x81, 0x82,
	    0x83, 0x84, 0x85, 0x86, 0x87, 0x42};
	static const uint8_t prl_eeprom[] = {0x01, 0x03, 0x2b, 0x3c, 0x42, 0x43,
	    0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87};
	static const char vc[] = "PXEClient:Arch:00000:UNDI:002001";
	uint8_t guid[16];
	size_t o = 0, i;
	bool eeprom = p->model == M_PI4 || p->model == M_PI5;

	memset(b, 0, 600);
	b[0] = 1;
	b[1] = 1;
	b[2] = 6;
	b[4] = (uint8_t)(p->xid >> 24);
	b[5] = (uint8_t)(p->xid >> 16);
	b[6] = (uint8_t)(p->xid >> 8);
	b[7] = (uint8_t)p->xid;
	memcpy(b + 28, p->mac, 6);
	o = put(b, 236, "\x63\x82\x53\x63", 4);
	b[o++] = 53;
	b[o++] = 1;
	b[o++] = type;
	if (type == DHCPREQUEST) {
		/* The EEPROM's REQUEST: 50 and 54, and no option 60. */
		b[o++] = 50;
		b[o++] = 4;
		for (i = 0; i < 4; i++) {
			b[o++] = (uint8_t)(want >> (24 - 8 * i));
		}
		b[o++] = 54;
		b[o++] = 4;
		for (i = 0; i < 4; i++) {
			b[o++] = (uint8_t)(sid >> (24 - 8 * i));
		}
	}
	b[o++] = 55;
	if (eeprom) {
		b[o++] = sizeof(prl_eeprom);
		o = put(b, o, prl_eeprom, sizeof(prl_eeprom));
	} else {
		/* 3B+ and bootcode add subnet mask and router (§2.1). */
		bool plus = !(p->model == M_3B && phase_rom);

		b[o++] = (uint8_t)(sizeof(prl_rom) + (plus ? 2 : 0));
		o = put(b, o, prl_rom, sizeof(prl_rom));
		if (plus) {
			b[o++] = 1;
			b[o++] = 3;
		}
	}
	o = put(b, o, "\x5d\x02\x00\x00", 4);
	o = put(b, o, "\x5e\x03\x01\x02\x01", 5);
	if (p->model == M_3B && phase_rom) {
		memset(guid, 0x44, 16);
	} else if (eeprom) {
		/* fourcc, revision, low MAC bytes, serial; LE (§2.2). */
		uint32_t rev = p->model == M_PI4 ? 0xc03111 : 0xd04170;

		memcpy(guid, p->model == M_PI4 ? "RPi4" : "RPi5", 4);
		for (i = 0; i < 4; i++) {
			guid[4 + i] = (uint8_t)(rev >> (8 * i));
			guid[8 + i] = p->mac[2 + i];
			guid[12 + i] = (uint8_t)(p->serial >> (8 * i));
		}
	} else {
		for (i = 0; i < 16; i++) {
			guid[i] = (uint8_t)(p->serial >> (8 * (i % 4)));
		}
	}
	b[o++] = 97;
	b[o++] = 17;
	b[o++] = 0;
	o = put(b, o, guid, 16);
	if (type != DHCPREQUEST) {
		b[o++] = 60;
		b[o++] = 32;
		o = put(b, o, vc, 32);
	}
	b[o++] = 255;
	return o;
}

/* Ethernet + IPv4 + UDP around a BOOTP payload, as the model sends it. */
static size_t
build_frame(const struct pi *p, uint8_t *f, const uint8_t *bootp, size_t n)
{
	size_t iplen = 20 + 8 + n;
	uint16_t c;

	memset(f, 0xff, 6);
	memcpy(f + 6, p->mac, 6);
	f[12] = 0x08;
	f[13] = 0x00;
	memset(f + 14, 0, 28);
	f[14] = 0x45;
	f[16] = (uint8_t)(iplen >> 8);
	f[17] = (uint8_t)iplen;
	/* TTL 128 on BCM2837 code (firmware#1041), 64 chosen for §8.1. */
	f[22] = is_bcm2837(p->model) ? 128 : 64;
	f[23] = 17;
	memset(f + 30, 0xff, 4);
	c = csum_fold(csum_add(0, f + 14, 20));
	f[24] = (uint8_t)(c >> 8);
	f[25] = (uint8_t)c;
	f[35] = 68;
	f[37] = 67;
	f[38] = (uint8_t)((8 + n) >> 8);
	f[39] = (uint8_t)(8 + n);
	memcpy(f + 42, bootp, n);
	if (!is_bcm2837(p->model)) {
		/* EEPROM: computed; 0 is sent as 0xffff (RN-2711 2020-12-11).
		 */
		uint32_t sum = csum_add(0, f + 26, 8) + 17 + 8 + (uint32_t)n;

		sum = csum_add(sum, f + 34, 8 + n);
		c = csum_fold(sum);
		if (c == 0) {
			c = 0xffff;
		}
		f[40] = (uint8_t)(c >> 8);
		f[41] = (uint8_t)c;
	}
	return 42 + n;
}

static bool
send_req(
    struct pi *p, uint8_t type, bool phase_rom, uint32_t want, uint32_t sid)
{
	uint8_t bootp[600], frame[700];
	size_t n = build_bootp(p, bootp, type, phase_rom, want, sid);
	size_t fl = build_frame(p, frame, bootp, n);
	struct sockaddr_ll sll = {
	    .sll_family = AF_PACKET,
	    .sll_ifindex = p->o->ifindex,
	    .sll_halen = 6,
	};

	memset(sll.sll_addr, 0xff, 6);
	if (sendto(p->fd, frame, fl, 0, (struct sockaddr *)&sll, sizeof(sll)) !=
	    (ssize_t)fl) {
		return fail(p, "send: %s", strerror(errno));
	}
	return true;
}

/* ---- receiving replies ---- */

static int
open_raw(const struct opts *o)
{
	/* ip, not a fragment, udp, destination port 68 */
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
	struct sock_fprog prog = {
	    .len = sizeof(code) / sizeof(code[0]),
	    .filter = code,
	};
	struct sockaddr_ll sll = {
	    .sll_family = AF_PACKET,
	    .sll_protocol = htons(ETH_P_IP),
	    .sll_ifindex = o->ifindex,
	};
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_IP));

	if (fd < 0) {
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) <
		0 ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

struct reply {
	struct dhcp_msg m;
	uint8_t buf[1600];
	size_t len;
	uint8_t l2dst[6];
	uint32_t src_ip;
	uint64_t at_ms;
};

/*
 * Wait until @deadline for a reply to us (xid and chaddr).  Replies with
 * our xid but another chaddr that were addressed to us at L2 or to
 * everyone are counted as strays: with one shared xid (the ROMs) a Pi
 * would take them for its own.
 * Return: 1 got one, 0 timeout.
 */
static int
recv_reply(struct pi *p, uint64_t deadline, struct reply *r)
{
	for (;;) {
		uint64_t now = now_ms();
		struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
		uint8_t f[1600];
		ssize_t n;
		size_t ihl;
		bool to_us, to_all;

		if (now >= deadline) {
			return 0;
		}
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0) {
			continue;
		}
		n = recv(p->fd, f, sizeof(f), 0);
		if (n < 42) {
			continue;
		}
		ihl = (size_t)(f[14] & 15) * 4;
		if ((size_t)n < 14 + ihl + 8 + 240) {
			continue;
		}
		r->len = (size_t)n - 14 - ihl - 8;
		memcpy(r->buf, f + 14 + ihl + 8, r->len);
		memcpy(r->l2dst, f, 6);
		r->src_ip = (uint32_t)f[26] << 24 | (uint32_t)f[27] << 16 |
		    (uint32_t)f[28] << 8 | f[29];
		r->at_ms = now_ms();
		if (dhcp_parse(r->buf, r->len, &r->m) != 0 ||
		    r->m.op != DHCP_BOOTREPLY || r->m.xid != p->xid) {
			continue;
		}
		to_us = memcmp(r->l2dst, p->mac, 6) == 0;
		to_all = memcmp(r->l2dst, "\xff\xff\xff\xff\xff\xff", 6) == 0;
		if (memcmp(r->m.chaddr, p->mac, 6) != 0) {
			if (to_us || to_all) {
				p->strays++;
			}
			continue;
		}
		return 1;
	}
}

/* Options walk on the raw bytes: no pad option before the end (quirk 10). */
static bool
no_inner_pads(const uint8_t *b, size_t len)
{
	size_t o = 240;

	while (o < len && b[o] != 255) {
		if (b[o] == 0 || o + 1 >= len) {
			return false;
		}
		o += 2 + b[o + 1];
	}
	return o < len;
}

/* Option 43 carries the PXE menu entry "Raspberry Pi Boot" (§2.4). */
static bool
has_pi_menu(const struct dhcp_msg *m)
{
	const struct dhcp_opt *o = &m->opt[DHCP_OPT_VENDOR];
	size_t i = 0;

	while (o->p && i + 2 <= o->len && o->p[i] != 255) {
		uint8_t code = o->p[i], len = o->p[i + 1];

		if (i + 2 + len > o->len) {
			return false;
		}
		if (code == 9 && len >= 3 + 17 && o->p[i + 4] >= 17 &&
		    memcmp(o->p + i + 5, "Raspberry Pi Boot", 17) == 0) {
			return true;
		}
		i += 2 + len;
	}
	return false;
}

/* Check a reply carrying the PXE options against what the model needs. */
static bool
check_pxe_reply(struct pi *p, const struct reply *r, const uint8_t *sent97)
{
	const struct dhcp_msg *m = &r->m;
	uint32_t sid;

	if (m->htype != 1 || m->hlen != 6 || m->hops != 0) {
		return fail(p, "reply header htype/hlen/hops %u/%u/%u",
		    m->htype, m->hlen, m->hops);
	}
	if (r->len < DHCP_MIN_REPLY) {
		return fail(p, "reply is %zu bytes, under 300", r->len);
	}
	if (!no_inner_pads(r->buf, r->len)) {
		return fail(p, "pad option inside the option list");
	}
	if (!has_pi_menu(m)) {
		return fail(p, "option 43 lacks the Raspberry Pi Boot menu");
	}
	if (!dhcp_is_pxe(m)) {
		return fail(p, "no option 60 PXEClient");
	}
	if (m->opt[DHCP_OPT_UUID].len != 17 ||
	    memcmp(m->opt[DHCP_OPT_UUID].p, sent97, 17) != 0) {
		return fail(p, "option 97 not echoed");
	}
	if (!dhcp_opt_addr(m, DHCP_OPT_SERVER_ID, &sid)) {
		return fail(p, "no option 54");
	}
	if (m->siaddr && m->siaddr != sid) {
		return fail(p, "siaddr differs from option 54");
	}
	if (p->o->strict_ip && r->src_ip == p->o->strict_ip &&
	    memcmp(r->l2dst, p->mac, 6) != 0) {
		return fail(p, "reply not addressed to our MAC at L2");
	}
	p->tftp_ip = sid;
	return true;
}

static void
fmt_ip(uint32_t a, char *b)
{
	sprintf(b, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255,
	    a & 255);
}

/* The value of option @code in a request we built. */
static const uint8_t *
find_opt(const uint8_t *b, size_t n, uint8_t code)
{
	size_t o = 240;

	while (o + 1 < n && b[o] != 255) {
		if (b[o] == code) {
			return b + o + 2;
		}
		o += 2 + b[o + 1];
	}
	return b + 240;
}

/*
 * One DISCOVER phase: send, retransmit, collect the PXE reply and (when
 * expected) an address.  Sets p->addr and p->tftp_ip.
 */
static bool
dhcp_discover_phase(
    struct pi *p, bool phase_rom, const char *label, uint32_t *addr_sid)
{
	uint8_t bootp[600];
	const uint8_t *sent97;
	uint64_t start = now_ms(), deadline = start + 1000u * p->o->timeout_s;
	uint64_t next_tx = 0;
	int retry = is_bcm2837(p->model) ? p->o->rom_retry_ms : 4000;
	bool got_pxe = false, got_addr = false;
	struct reply *r = calloc(1, sizeof(*r));
	char a[16];
	bool ok = false;

	sent97 = find_opt(
	    bootp, build_bootp(p, bootp, DHCPDISCOVER, phase_rom, 0, 0), 97);
	while (!(got_pxe && got_addr)) {
		uint64_t now = now_ms();

		if (now >= deadline) {
			fail(p, "%s: no %s within %d s", label,
			    got_pxe ? "address" : "PXE reply", p->o->timeout_s);
			goto out;
		}
		if (now >= next_tx) {
			if (!send_req(p, DHCPDISCOVER, phase_rom, 0, 0)) {
				goto out;
			}
			next_tx = now + (uint64_t)retry;
		}
		if (!recv_reply(
			p, next_tx < deadline ? next_tx : deadline, r)) {
			continue;
		}
		if (r->m.type != DHCPOFFER) {
			continue;
		}
		if (!phase_rom && p->model == M_3B &&
		    r->m.opt[DHCP_OPT_UUID].len == 17 &&
		    r->m.opt[DHCP_OPT_UUID].p[1] == 0x44 &&
		    r->m.opt[DHCP_OPT_UUID].p[2] == 0x44) {
			/*
			 * A late answer to a ROM retransmission (same xid, the
			 * ROM's GUID) reaching bootcode.bin: not ours.
			 */
			continue;
		}
		if (dhcp_has(&r->m, DHCP_OPT_VENDOR) && !got_pxe) {
			if (!check_pxe_reply(p, r, sent97)) {
				goto out;
			}
			if (p->o->min_delay_ms && is_bcm2837(p->model) &&
			    r->at_ms - start < (uint64_t)p->o->min_delay_ms) {
				fail(p,
				    "%s: reply after %llu ms, the BCM2837 "
				    "delay is %d ms",
				    label,
				    (unsigned long long)(r->at_ms - start),
				    p->o->min_delay_ms);
				goto out;
			}
			got_pxe = true;
			say(p, "%s pxe-reply ok from=%s after=%llums", label,
			    (fmt_ip(r->src_ip, a), a),
			    (unsigned long long)(r->at_ms - start));
			if (!p->o->server_mode) {
				/* Proxy: yiaddr must stay 0. */
				if (r->m.yiaddr) {
					fail(p, "proxy reply with yiaddr");
					goto out;
				}
			}
		}
		if (r->m.yiaddr && !got_addr) {
			if (!dhcp_has(&r->m, DHCP_OPT_LEASE_TIME) ||
			    !dhcp_has(&r->m, DHCP_OPT_SUBNET_MASK)) {
				fail(p, "%s: address offer without lease/mask",
				    label);
				goto out;
			}
			if (p->addr && p->o->server_mode &&
			    r->m.yiaddr != p->addr) {
				fail(p,
				    "%s: offered another address than before",
				    label);
				goto out;
			}
			got_addr = true;
			p->addr = r->m.yiaddr;
			if (!dhcp_opt_addr(
				&r->m, DHCP_OPT_SERVER_ID, addr_sid)) {
				*addr_sid = r->src_ip;
			}
			say(p, "%s address-offer ok addr=%s", label,
			    (fmt_ip(p->addr, a), a));
		}
	}
	ok = true;
out:
	free(r);
	return ok;
}

/* The EEPROM's REQUEST/ACK (§2.6), to the server that offered. */
static bool
dhcp_request_phase(struct pi *p, uint32_t sid)
{
	uint64_t start = now_ms(), deadline = start + 1000u * p->o->timeout_s;
	uint64_t next_tx = 0;
	struct reply *r = calloc(1, sizeof(*r));
	bool ok = false;

	while (now_ms() < deadline) {
		if (now_ms() >= next_tx) {
			if (!send_req(p, DHCPREQUEST, false, p->addr, sid)) {
				goto out;
			}
			next_tx = now_ms() + 4000;
		}
		if (!recv_reply(
			p, next_tx < deadline ? next_tx : deadline, r)) {
			continue;
		}
		if (r->m.type == DHCPNAK) {
			/* RFC 2131 §3.1: back to INIT; the caller retries. */
			say(p, "request nak");
			p->nak = true;
			goto out;
		}
		if (r->m.type != DHCPACK) {
			continue;
		}
		if (r->m.yiaddr != p->addr) {
			fail(p, "ACK for another address");
			goto out;
		}
		say(p, "request ack ok");
		ok = true;
		goto out;
	}
	fail(p, "no ACK to REQUEST within %d s", p->o->timeout_s);
out:
	free(r);
	return ok;
}

/* ---- TFTP (RFC 1350, 2347-2349) ---- */

enum { F_REQ = 1, F_OPT = 2, F_PROBE = 4, F_PREFIX = 8, F_ROOT = 16 };

struct tftp_step {
	const char *name;
	int flags;
};

/* §3.4, shortened to the files every boot touches. */
static const struct tftp_step seq_rom[] = {
    {"bootcode.bin", F_REQ | F_ROOT},
    {"bootsig.bin", F_OPT | F_ROOT},
    {NULL, 0},
};
static const struct tftp_step seq_bootcode[] = {
    {"start.elf", F_PROBE | F_PREFIX},
    {"autoboot.txt", F_OPT},
    {"config.txt", F_REQ},
    {"recovery.elf", F_OPT},
    {"start.elf", F_REQ},
    {"fixup.dat", F_REQ},
    {"dt-blob.bin", F_OPT},
    {"bcm2710-rpi-3-b.dtb", F_OPT},
    {"cmdline.txt", F_REQ},
    {"kernel8.img", F_PROBE | F_REQ},
    {"kernel8.img", F_REQ},
    {NULL, 0},
};
static const struct tftp_step seq_pi4[] = {
    {"start4.elf", F_PROBE | F_PREFIX},
    {"config.txt", F_REQ},
    {"pieeprom.sig", F_OPT},
    {"recovery.elf", F_OPT},
    {"start4.elf", F_PROBE | F_REQ},
    {"start4.elf", F_REQ},
    {"fixup4.dat", F_REQ},
    {"bcm2711-rpi-4-b.dtb", F_OPT},
    {"cmdline.txt", F_REQ},
    {"armstub8-gic.bin", F_OPT},
    {"kernel8.img", F_PROBE | F_REQ},
    {"kernel8.img", F_REQ},
    {NULL, 0},
};
/*
 * The Pi 5 prefix rule is unverified (reference §3.3): tinkerbell's notes
 * say config.txt under the prefix keeps it, so that is what we probe.
 */
static const struct tftp_step seq_pi5[] = {
    {"config.txt", F_PROBE | F_PREFIX},
    {"config.txt", F_REQ},
    {"pieeprom.sig", F_OPT},
    {"bcm2712-rpi-5-b.dtb", F_OPT},
    {"cmdline.txt", F_REQ},
    {"kernel_2712.img", F_PROBE | F_REQ},
    {"kernel_2712.img", F_REQ},
    {"armstub8-2712.bin", F_OPT},
    {NULL, 0},
};

/*
 * Fetch @name.  @with_opts: tsize (and blksize @blk when > 512).
 * Return: 1 fetched (or probed), 0 not found, -1 failure (why in p->why).
 */
static int
tftp_get(struct pi *p, const char *name, bool with_opts, int blk, bool probe,
    size_t *size)
{
	struct sockaddr_in srv = {.sin_family = AF_INET, .sin_port = htons(69)};
	struct sockaddr_in from;
	socklen_t fl;
	uint8_t pkt[1600], last[600];
	size_t lastlen = 0, got = 0, tsize = (size_t)-1;
	int fd, tries = 0, r = -1, blksize = 512;
	uint16_t expect = 1;
	bool have_tid = false;
	struct sockaddr_in tid;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fail(p, "tftp socket: %s", strerror(errno));
		return -1;
	}
	srv.sin_addr.s_addr = htonl(p->tftp_ip);
	lastlen = 0;
	last[lastlen++] = 0;
	last[lastlen++] = 1;
	lastlen += (size_t)sprintf((char *)last + lastlen, "%s", name) + 1;
	lastlen += (size_t)sprintf((char *)last + lastlen, "octet") + 1;
	if (with_opts) {
		lastlen += (size_t)sprintf((char *)last + lastlen, "tsize") + 1;
		lastlen += (size_t)sprintf((char *)last + lastlen, "0") + 1;
		if (blk > 512) {
			lastlen +=
			    (size_t)sprintf((char *)last + lastlen, "blksize") +
			    1;
			lastlen +=
			    (size_t)sprintf((char *)last + lastlen, "%d", blk) +
			    1;
		}
	}
	if (sendto(fd, last, lastlen, 0, (struct sockaddr *)&srv, sizeof(srv)) <
	    0) {
		fail(p, "tftp send: %s", strerror(errno));
		goto out;
	}
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;
		uint16_t op;

		if (poll(&pfd, 1, 1000) <= 0) {
			if (++tries > 5) {
				fail(p, "tftp %s: timeout", name);
				goto out;
			}
			sendto(fd, last, lastlen, 0,
			    have_tid ? (struct sockaddr *)&tid
				     : (struct sockaddr *)&srv,
			    sizeof(srv));
			continue;
		}
		fl = sizeof(from);
		n = recvfrom(
		    fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&from, &fl);
		if (n < 4) {
			continue;
		}
		if (have_tid &&
		    (from.sin_port != tid.sin_port ||
			from.sin_addr.s_addr != tid.sin_addr.s_addr)) {
			continue;
		}
		if (!have_tid) {
			tid = from;
			have_tid = true;
		}
		tries = 0;
		op = (uint16_t)(pkt[0] << 8 | pkt[1]);
		if (op == 5) {
			uint16_t code = (uint16_t)(pkt[2] << 8 | pkt[3]);

			if (code == 1) {
				r = 0;
			} else {
				fail(p, "tftp %s: error %u", name, code);
			}
			goto out;
		}
		if (op == 6) {
			/* OACK: tsize and blksize, NUL-separated pairs. */
			size_t i = 2;

			while (i < (size_t)n) {
				const char *k = (const char *)pkt + i;
				size_t kl = strnlen(k, (size_t)n - i);
				const char *v = k + kl + 1;

				if (i + kl + 1 >= (size_t)n) {
					break;
				}
				if (!strcasecmp(k, "tsize")) {
					tsize = strtoul(v, NULL, 10);
				} else if (!strcasecmp(k, "blksize")) {
					blksize = atoi(v);
				}
				i += kl + 1 +
				    strnlen(v, (size_t)n - i - kl - 1) + 1;
			}
			if (blksize > blk || blksize < 8) {
				fail(p, "tftp %s: blksize %d granted, asked %d",
				    name, blksize, blk);
				goto out;
			}
			if (probe) {
				goto early;
			}
			lastlen = 4;
			last[0] = 0;
			last[1] = 4;
			last[2] = last[3] = 0;
			sendto(fd, last, lastlen, 0, (struct sockaddr *)&tid,
			    sizeof(tid));
			continue;
		}
		if (op == 3) {
			uint16_t block = (uint16_t)(pkt[2] << 8 | pkt[3]);

			if (probe) {
				goto early;
			}
			if (block == expect) {
				got += (size_t)n - 4;
				expect++;
			}
			lastlen = 4;
			last[0] = 0;
			last[1] = 4;
			last[2] = pkt[2];
			last[3] = pkt[3];
			sendto(fd, last, lastlen, 0, (struct sockaddr *)&tid,
			    sizeof(tid));
			if (block == (uint16_t)(expect - 1) &&
			    (size_t)n - 4 < (size_t)blksize) {
				if (tsize != (size_t)-1 && tsize != got) {
					fail(p, "tftp %s: tsize %zu, got %zu",
					    name, tsize, got);
					goto out;
				}
				*size = got;
				r = 1;
				goto out;
			}
		}
	}
early:
	/* Probe done: "Early terminate", as bootcode and the EEPROM do. */
	memcpy(pkt,
	    "\x00\x05\x00\x00"
	    "Early terminate",
	    19);
	pkt[19] = 0;
	sendto(fd, pkt, 20, 0, (struct sockaddr *)&tid, sizeof(tid));
	*size = tsize;
	r = 1;
out:
	close(fd);
	return r;
}

static bool
tftp_sequence(struct pi *p, const struct tftp_step *seq, bool opts, int blk)
{
	char prefix[16] = "", path[128];
	size_t size, files = 0, bytes = 0;
	int i;

	for (i = 0; seq[i].name; i++) {
		const struct tftp_step *s = &seq[i];
		int r;

		if (s->flags & F_PREFIX) {
			snprintf(
			    path, sizeof(path), "%08x/%s", p->serial, s->name);
		} else {
			snprintf(path, sizeof(path), "%s%s",
			    (s->flags & F_ROOT) ? "" : prefix, s->name);
		}
		r = tftp_get(p, path, opts, blk, s->flags & F_PROBE, &size);
		if (r < 0) {
			return false;
		}
		if (s->flags & F_PREFIX) {
			/* §3.3: the prefix stays only if the probe found it. */
			if (r == 1) {
				snprintf(
				    prefix, sizeof(prefix), "%08x/", p->serial);
			}
			say(p, "tftp prefix %s", r ? prefix : "(root)");
			continue;
		}
		if (r == 0 && (s->flags & F_REQ)) {
			return fail(p, "tftp %s: not found", path);
		}
		if (r == 1 && !(s->flags & F_PROBE)) {
			files++;
			bytes += size;
		}
	}
	say(p, "tftp sequence ok files=%zu bytes=%zu", files, bytes);
	return true;
}

/* ---- one Pi ---- */

static void *
pi_run(void *arg)
{
	struct pi *p = arg;
	uint32_t sid = 0;
	int i;

	p->fd = open_raw(p->o);
	if (p->fd < 0) {
		fail(p, "raw socket: %s (needs root)", strerror(errno));
		return NULL;
	}
	if (p->o->spread_ms) {
		usleep((useconds_t)(rand_r(&(unsigned){p->idx * 7919u + 1}) %
			   p->o->spread_ms) *
		    1000);
	}
	switch (p->model) {
	case M_3B:
	case M_3BPLUS:
		if (!dhcp_discover_phase(p, true, "rom", &sid)) {
			goto out;
		}
		if (p->o->tftp && !tftp_sequence(p, seq_rom, false, 512)) {
			goto out;
		}
		/* bootcode.bin DISCOVERs again with the same xid. */
		/* fall through */
	case M_BOOTCODE:
		if (!dhcp_discover_phase(p, false, "bootcode", &sid)) {
			goto out;
		}
		if (p->o->tftp && !tftp_sequence(p, seq_bootcode, true, 512)) {
			goto out;
		}
		break;
	case M_PI4:
	case M_PI5:
		for (i = 0;; i++) {
			p->nak = false;
			if (!dhcp_discover_phase(p, false, "eeprom", &sid)) {
				goto out;
			}
			if (dhcp_request_phase(p, sid)) {
				break;
			}
			if (!p->nak || i == 2) {
				if (p->nak) {
					fail(p, "three NAKs in a row");
				}
				goto out;
			}
			p->addr = 0;
		}
		if (p->o->tftp &&
		    !tftp_sequence(
			p, p->model == M_PI4 ? seq_pi4 : seq_pi5, true, 1468)) {
			goto out;
		}
		break;
	default:
		break;
	}
	if (p->strays) {
		fail(p, "%d replies for other Pis reached this one", p->strays);
		goto out;
	}
	p->ok = true;
out:
	close(p->fd);
	return NULL;
}

static void
pi_setup(struct pi *p, const struct opts *o, int idx)
{
	static const uint8_t ouis[M_COUNT][3] = {
	    {0xb8, 0x27, 0xeb},
	    {0xb8, 0x27, 0xeb},
	    {0xb8, 0x27, 0xeb},
	    {0xdc, 0xa6, 0x32},
	    {0x2c, 0xcf, 0x67},
	};
	unsigned seed =
	    (unsigned)(idx * 2654435761u) ^ o->base ^ (unsigned)time(NULL);

	memset(p, 0, sizeof(*p));
	p->o = o;
	p->idx = idx;
	p->model =
	    o->model >= 0 ? (enum model)o->model : (enum model)(idx % M_COUNT);
	memcpy(p->mac, ouis[p->model], 3);
	p->mac[3] = (uint8_t)o->base;
	p->mac[4] = (uint8_t)(idx >> 8);
	p->mac[5] = (uint8_t)idx;
	/* Pi 2/3: the MAC is b8:27:eb + the low 24 bits of the serial. */
	p->serial = 0x10000000u | (uint32_t)p->mac[3] << 16 |
	    (uint32_t)p->mac[4] << 8 | p->mac[5];
	p->xid = is_bcm2837(p->model) ? DHCP_PI_XID : (uint32_t)rand_r(&seed);
}

static int
parse_model(const char *s)
{
	int i;

	if (!strcmp(s, "mix")) {
		return -1;
	}
	for (i = 0; i < M_COUNT; i++) {
		if (!strcmp(s, model_names[i])) {
			return i;
		}
	}
	fprintf(stderr, "pi_emu: unknown model '%s'\n", s);
	exit(2);
}

/* -D: write each model's requests as BOOTP payloads (fuzz seeds). */
static int
dump(const struct opts *o, const char *dir)
{
	int i;

	for (i = 0; i < M_COUNT; i++) {
		struct opts oo = *o;
		struct pi p;
		uint8_t b[600];
		char path[512];
		size_t n;
		FILE *f;
		int k;

		oo.model = i;
		pi_setup(&p, &oo, 1);
		for (k = 0; k < 3; k++) {
			const char *what = k == 0 ? "discover"
			    : k == 1              ? "discover-rom"
						  : "request";

			if ((k == 1 && i != M_3B) ||
			    (k == 2 && i != M_PI4 && i != M_PI5)) {
				continue;
			}
			n = build_bootp(&p, b,
			    k == 2 ? DHCPREQUEST : DHCPDISCOVER, k == 1,
			    0xc6120064, 0xc6120001);
			snprintf(path, sizeof(path), "%s/%s-%s", dir,
			    model_names[i], what);
			f = fopen(path, "wb");
			if (!f || fwrite(b, 1, n, f) != n) {
				perror(path);
				return 1;
			}
			fclose(f);
		}
	}
	return 0;
}

/* -F: the §8.1 frame for the given MAC/serial/xid on stdout. */
static int
frame_out(
    const struct opts *o, const uint8_t mac[6], uint32_t serial, uint32_t xid)
{
	struct pi p;
	uint8_t b[600], f[700];
	size_t n;

	pi_setup(&p, o, 0);
	memcpy(p.mac, mac, 6);
	p.serial = serial;
	p.xid = xid;
	n = build_bootp(&p, b, DHCPDISCOVER, true, 0, 0);
	n = build_frame(&p, f, b, n);
	return fwrite(f, 1, n, stdout) == n ? 0 : 1;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: pi_emu -i IF [-m 3b|3b+|bootcode|pi4|pi5|mix] [-n N] "
	    "[-b BASE]\n"
	    "              [-s] [-t] [-q] [-T SECS] [-d MS] [-S MS] [-U IP] "
	    "[-r MS]\n"
	    "       pi_emu -D DIR             write each model's requests\n"
	    "       pi_emu -F -m MODEL -a MAC -e SERIAL -x XID   one frame\n"
	    "  -s  server mode: the PXE reply also carries the address\n"
	    "  -t  fetch the model's TFTP file sequence\n"
	    "  -d  BCM2837 replies must come at least MS after DISCOVER\n"
	    "  -S  power the Pis on within MS (storm)\n"
	    "  -U  replies from IP must be Ethernet unicasts to the Pi\n"
	    "  -r  BCM2837 DISCOVER retry interval (default 5000)\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct opts o = {
	    .model = -1, .n = 1, .timeout_s = 20, .rom_retry_ms = 5000};
	const char *dumpdir = NULL;
	bool frame = false;
	uint8_t mac[6] = {0};
	uint32_t serial = 0, xid = 0;
	struct pi *pis;
	pthread_t *th;
	int c, i, ok = 0, uniq = 1;

	while (
	    (c = getopt(argc, argv, "i:m:n:b:stqT:d:S:U:r:D:Fa:e:x:")) != -1) {
		switch (c) {
		case 'i':
			o.ifname = optarg;
			break;
		case 'm':
			o.model = parse_model(optarg);
			break;
		case 'n':
			o.n = atoi(optarg);
			break;
		case 'b':
			o.base = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 's':
			o.server_mode = true;
			break;
		case 't':
			o.tftp = true;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'T':
			o.timeout_s = atoi(optarg);
			break;
		case 'd':
			o.min_delay_ms = atoi(optarg);
			break;
		case 'S':
			o.spread_ms = atoi(optarg);
			break;
		case 'U': {
			struct in_addr a;

			if (inet_pton(AF_INET, optarg, &a) != 1) {
				usage();
			}
			o.strict_ip = ntohl(a.s_addr);
			break;
		}
		case 'r':
			o.rom_retry_ms = atoi(optarg);
			break;
		case 'D':
			dumpdir = optarg;
			break;
		case 'F':
			frame = true;
			break;
		case 'a':
			if (sscanf(optarg, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx",
				&mac[0], &mac[1], &mac[2], &mac[3], &mac[4],
				&mac[5]) != 6) {
				usage();
			}
			break;
		case 'e':
			serial = (uint32_t)strtoul(optarg, NULL, 16);
			break;
		case 'x':
			xid = (uint32_t)strtoul(optarg, NULL, 16);
			break;
		default:
			usage();
		}
	}
	if (dumpdir) {
		return dump(&o, dumpdir);
	}
	if (frame) {
		return frame_out(&o, mac, serial, xid);
	}
	if (!o.ifname || o.n < 1 || o.n > 1000) {
		usage();
	}
	o.ifindex = (int)if_nametoindex(o.ifname);
	if (!o.ifindex) {
		fprintf(stderr, "pi_emu: no interface %s\n", o.ifname);
		return 2;
	}
	pis = calloc((size_t)o.n, sizeof(*pis));
	th = calloc((size_t)o.n, sizeof(*th));
	if (!pis || !th) {
		return 2;
	}
	for (i = 0; i < o.n; i++) {
		pi_setup(&pis[i], &o, i);
		if (pthread_create(&th[i], NULL, pi_run, &pis[i]) != 0) {
			fprintf(stderr, "pi_emu: cannot start thread %d\n", i);
			return 2;
		}
	}
	for (i = 0; i < o.n; i++) {
		pthread_join(th[i], NULL);
		ok += pis[i].ok;
	}
	if (o.server_mode) {
		for (i = 0; i < o.n; i++) {
			int j;

			for (j = i + 1; j < o.n; j++) {
				if (pis[i].addr && pis[i].addr == pis[j].addr) {
					printf(
					    "pi_emu: FAIL pi%d and pi%d share "
					    "address %u.%u.%u.%u\n",
					    i, j, pis[i].addr >> 24,
					    (pis[i].addr >> 16) & 255,
					    (pis[i].addr >> 8) & 255,
					    pis[i].addr & 255);
					uniq = 0;
				}
			}
		}
	}
	printf("pi_emu: booted %d/%d%s\n", ok, o.n,
	    o.server_mode ? (uniq ? " addresses unique" : " ADDRESS CLASH")
			  : "");
	free(pis);
	free(th);
	return ok == o.n && uniq ? 0 : 1;
}
