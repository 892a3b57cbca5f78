/*
 * pi_emu: a Raspberry Pi network-boot firmware emulator for tests.
 *
 * Each emulated Pi is what the network sees of a real one: its own MAC
 * and, once DHCP gave it one, its own IPv4 address, with the small IP
 * stack of its boot code behind them.  It answers ARP for its address
 * (the 3B ROM only while it initialises, quirk 12), resolves the TFTP
 * server with ARP, sends UDP with checksum 0 from BCM2837 code, and
 * accepts DHCP replies only in the link-layer forms real Pis are known to
 * take (reference §9 item 4).  Its TFTP client follows the firmware, not
 * our server (§3.1, §9): the model's request ports, no retransmission of
 * ACKs (a duplicate DATA is ACKed again), an RRQ repeated from the same
 * port about every 2 s while the server is silent, and a missing block
 * given up after 1 s (bootcode.bin) or 3 s (the others).  docs/testing.md
 * has the table of behaviours per model with their sources.
 *
 * All Pis share one packet socket on the interface; a receive thread
 * hands each frame to the Pi it is addressed to, and floods broadcasts to
 * every Pi, as the switch port of a real Pi would.  Every Pi runs its
 * boot code in a thread of its own.  -n N runs N Pis at once.
 *
 * With -N TRACE, a Pi whose firmware loaded everything goes on as Linux
 * would: its kernel takes the NIC, asks DHCP again (ip=dhcp), mounts the
 * root that cmdline.txt names (nfsroot=) and replays the NFS calls of a
 * traced boot (pi_emu/linux.h).
 *
 * Lines starting "pi_emu:" report steps; "pi_emu: result" gives each Pi's
 * outcome and times from its first DISCOVER to its last file (and, with
 * -N, to its root mount and to the end of the replay); the last line is a
 * summary, and the exit status is 0 only if every Pi booted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include "pi_emu/linux.h"
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

enum port_rule {
	PORTS_FIXED,     /* every RRQ from first_port */
	PORTS_SEQUENCE,  /* first_port, first_port + 1, ... */
	PORTS_EPHEMERAL, /* a new random port per RRQ */
};

/*
 * What one piece of boot code does on the wire.  Sources are in
 * docs/testing.md ("pi_emu") and in the comments on each table below.
 */
struct stage {
	const char *name;
	bool bcm2837;      /* UDP checksum 0, TTL 128, IP id 0 (§2.1) */
	bool rom_timer;    /* the 3B ROM's DHCP timer (§9 item 5) */
	bool arp_in_tftp;  /* answers ARP while it loads files */
	bool requests;     /* REQUEST/ACK after the OFFER */
	int dhcp_retry_ms; /* DISCOVER again after this */
	int dhcp_tries;    /* DISCOVERs before it stops */
	enum port_rule ports;
	uint16_t first_port;
	int patience_ms;  /* a missing block is given up after this */
	int rrq_retry_ms; /* RRQ again, same port, while the server is silent */
	bool tsize;
	uint16_t blksize; /* asked for when above 512 */
};

/*
 * The 3B ROM: 5 DISCOVERs 5 s apart (rpi-doc boot-net.adoc), both RRQs
 * from port 49152 without options (firmware#745), ARP answered only while
 * it initialises (quirk 12).  How long it waits for a block is not
 * published: 3 s, as the EEPROM.
 */
static const struct stage st_3b_rom = {
    .name = "rom",
    .bcm2837 = true,
    .rom_timer = true,
    .dhcp_retry_ms = 5000,
    .dhcp_tries = 5,
    .ports = PORTS_FIXED,
    .first_port = 49152,
    .patience_ms = 3000,
    .rrq_retry_ms = 2000,
    .blksize = 512,
};
/* The 3B+ ROM: the 3B's bugs fixed; RRQs from 49153, then 49154
 * (firmware#1041). */
static const struct stage st_3bplus_rom = {
    .name = "rom",
    .bcm2837 = true,
    .arp_in_tftp = true,
    .dhcp_retry_ms = 5000,
    .dhcp_tries = 5,
    .ports = PORTS_SEQUENCE,
    .first_port = 49153,
    .patience_ms = 3000,
    .rrq_retry_ms = 2000,
    .blksize = 512,
};
/*
 * bootcode.bin: tsize only, 512-byte blocks, ports 49153, 49154, ...
 * (firmware#1041); gives up on a missing block after about 1 s and goes
 * on to the next file (firmware#1025).  Its DISCOVER schedule is not
 * published: the ROM's.
 */
static const struct stage st_bootcode = {
    .name = "bootcode",
    .bcm2837 = true,
    .arp_in_tftp = true,
    .dhcp_retry_ms = 5000,
    .dhcp_tries = 5,
    .ports = PORTS_SEQUENCE,
    .first_port = 49153,
    .patience_ms = 1000,
    .rrq_retry_ms = 2000,
    .tsize = true,
    .blksize = 512,
};
/*
 * The Pi 4 and Pi 5 EEPROM: DISCOVER every DHCP_REQ_TIMEOUT (4 s) within
 * DHCP_TIMEOUT (45 s), REQUEST/ACK (rpi-doc eeprom-bootloader.adoc); a new
 * ephemeral port per RRQ, the RRQ repeated from its port every 2 s while
 * the server is silent (rpi-eeprom#74); tsize and blksize 1468
 * (rpi-eeprom#857); no retry of a file that timed out (rpi-eeprom#687).
 */
static const struct stage st_eeprom = {
    .name = "eeprom",
    .arp_in_tftp = true,
    .requests = true,
    .dhcp_retry_ms = 4000,
    .dhcp_tries = 45000 / 4000 + 1,
    .ports = PORTS_EPHEMERAL,
    .first_port = 49152,
    .patience_ms = 3000,
    .rrq_retry_ms = 2000,
    .tsize = true,
    .blksize = 1468,
};

/* §9 item 5: the 3B ROM's DHCP transaction timer. */
#define ROM_DHCP_TIMER_MS 1000
/* ARP for the TFTP server: tries, one second apart. */
#define ARP_TRIES 3
/* Frames a Pi's NIC holds before it drops (a FIFO, not a kernel queue). */
#define INBOX_SLOTS 48
#define FRAME_MAX   1536
#define MAX_PIS     1000
#define MAC_BUCKETS 4096

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
	uint32_t strict_ip; /* address offers from it: Ethernet unicast */
	const char *files;  /* compare fetched files with this tree */
	const struct emu_trace *trace; /* -N: the Linux half */
	int kernel_s;                  /* -K: its time limit */
};

struct frame {
	uint16_t len;
	/* Sent by this machine's kernel with the UDP checksum left to the
	 * NIC (veth never fills it in): on a wire it would be right. */
	bool csum_partial;
	uint8_t b[FRAME_MAX];
};

/* One Pi's NIC receive FIFO, filled by the receive thread. */
struct inbox {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned head, count;
	uint64_t arrivals; /* every frame that reached this NIC */
	uint64_t dropped;
	bool gone; /* the Pi's boot code has stopped */
	struct frame slot[INBOX_SLOTS];
};

struct lan;

struct pi {
	const struct opts *o;
	struct lan *lan;
	int idx;
	enum model model;
	const struct stage *st;
	uint8_t mac[6];
	uint32_t serial;
	uint32_t xid;
	unsigned rng;

	/* The boot code's IP stack.  ip and in_dhcp are read by the
	 * receive thread (atomically) to skip frames the Pi would drop. */
	uint32_t ip; /* 0 until DHCP */
	bool in_dhcp;
	bool arp_answers;
	uint32_t srv_ip;
	uint8_t srv_mac[6];
	bool srv_mac_ok;
	uint16_t ip_id;
	uint16_t next_port, last_port;
	struct inbox in;

	/* results */
	bool ok;
	uint32_t addr;    /* address the firmware ended up with */
	uint32_t tftp_ip; /* option 54 of the PXE reply */
	int strays;
	bool nak;
	char why[240];
	uint64_t t_discover, t_done;
	char *cmdline; /* cmdline.txt as fetched, for the kernel */
	char nfsroot[512];
	struct emu_linux linux_k;
	bool linux_ran;
	unsigned forms_refused, rom_waits, arp_answered, arp_ignored;
	unsigned dup_data, rrq_repeats, gave_up, csum_bad, readdressed;
	bool silent; /* the last file got no answer at all */
	char form_seen[80];
};

/* The wire all Pis share: one packet socket, frames routed by MAC. */
struct lan {
	int fd;
	int ifindex;
	struct pi *pis;
	int n;
	int buckets[MAC_BUCKETS]; /* index + 1 into pis, 0 empty */
	volatile int stop;
};

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
fmt_ip(uint32_t a, char *b)
{
	sprintf(b, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255,
	    a & 255);
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

static uint32_t
get32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | b[3];
}

static uint16_t
get16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static void
put32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

static void
put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static uint32_t
pi_ip(const struct pi *p)
{
	return __atomic_load_n(&p->ip, __ATOMIC_RELAXED);
}

/* ---- the shared wire ---- */

static size_t
mac_hash(const uint8_t *m)
{
	uint32_t h = get32(m + 2) * 2654435761u ^ m[1];

	return (h ^ (h >> 13)) % MAC_BUCKETS;
}

static struct pi *
lan_find(struct lan *l, const uint8_t *mac)
{
	size_t h = mac_hash(mac), i;

	for (i = 0; i < MAC_BUCKETS; i++) {
		int v = l->buckets[(h + i) % MAC_BUCKETS];

		if (v == 0) {
			return NULL;
		}
		if (memcmp(l->pis[v - 1].mac, mac, 6) == 0) {
			return &l->pis[v - 1];
		}
	}
	return NULL;
}

static void
lan_add(struct lan *l, struct pi *p)
{
	size_t h = mac_hash(p->mac);

	while (l->buckets[h]) {
		h = (h + 1) % MAC_BUCKETS;
	}
	l->buckets[h] = (int)(p - l->pis) + 1;
}

/*
 * Would the boot code of @p look at this broadcast at all?  Its own ARP
 * requests and replies, DHCP replies while it runs DHCP, IP to its
 * address.  Everything else it reads and drops, so only its arrival is
 * recorded (the 3B ROM's timer counts any frame).
 */
static bool
pi_wants(const struct pi *p, const uint8_t *f, size_t len)
{
	uint32_t ip = pi_ip(p);
	uint16_t type = get16(f + 12);

	if (type == ETHERTYPE_ARP && len >= 42) {
		return ip && get32(f + 38) == ip;
	}
	if (type == ETHERTYPE_IP && len >= 42 && f[23] == IPPROTO_UDP) {
		size_t ihl = (size_t)(f[14] & 15) * 4;

		if (14 + ihl + 8 > len) {
			return false;
		}
		if (get16(f + 14 + ihl + 2) == 68) {
			return __atomic_load_n(&p->in_dhcp, __ATOMIC_RELAXED);
		}
		return ip && get32(f + 30) == ip;
	}
	return false;
}

/* A frame reaches @p's NIC; @keep: into its FIFO, else only noted. */
static void
inbox_put(struct pi *p, const uint8_t *f, size_t len, bool partial, bool keep)
{
	struct inbox *in = &p->in;

	pthread_mutex_lock(&in->mu);
	in->arrivals++;
	if (keep && !in->gone) {
		if (in->count == INBOX_SLOTS) {
			in->dropped++;
		} else {
			struct frame *s =
			    &in->slot[(in->head + in->count) % INBOX_SLOTS];

			s->len = (uint16_t)len;
			s->csum_partial = partial;
			memcpy(s->b, f, len);
			in->count++;
		}
	}
	pthread_cond_signal(&in->cv);
	pthread_mutex_unlock(&in->mu);
}

/* A broadcast reaches every Pi but @from, as a switch floods it. */
static void
lan_flood(struct lan *l, const struct pi *from, const uint8_t *f, size_t len,
    bool partial)
{
	int i;

	for (i = 0; i < l->n; i++) {
		struct pi *p = &l->pis[i];

		if (p != from) {
			inbox_put(p, f, len, partial, pi_wants(p, f, len));
		}
	}
}

static void *
lan_rx(void *arg)
{
	struct lan *l = arg;

	while (!l->stop) {
		struct pollfd pfd = {.fd = l->fd, .events = POLLIN};
		uint8_t f[FRAME_MAX];
		int k;

		if (poll(&pfd, 1, 100) <= 0) {
			continue;
		}
		for (k = 0; k < 256; k++) {
			union {
				struct cmsghdr h;
				uint8_t b[CMSG_SPACE(
				    sizeof(struct tpacket_auxdata))];
			} ctl;
			struct iovec iov = {
			    .iov_base = f, .iov_len = sizeof(f)};
			struct msghdr m = {
			    .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = &ctl,
			    .msg_controllen = sizeof(ctl),
			};
			ssize_t n = recvmsg(l->fd, &m, MSG_DONTWAIT);
			struct cmsghdr *c;
			bool partial = false;
			struct pi *p;

			if (n < 0) {
				break;
			}
			if (n < 14) {
				continue;
			}
			for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
				struct tpacket_auxdata aux;

				if (c->cmsg_level == SOL_PACKET &&
				    c->cmsg_type == PACKET_AUXDATA) {
					memcpy(&aux, CMSG_DATA(c), sizeof(aux));
					partial = aux.tp_status &
					    TP_STATUS_CSUMNOTREADY;
				}
			}
			if (memcmp(f, bcast_mac, 6) == 0) {
				lan_flood(l, NULL, f, (size_t)n, partial);
				continue;
			}
			p = lan_find(l, f);
			if (p) {
				inbox_put(p, f, (size_t)n, partial, true);
			}
		}
	}
	return NULL;
}

/*
 * The socket all Pis send and receive through.  It takes ARP and IPv4
 * but TCP: boot code has no TCP, and the TCP of the kernels that follow
 * it, on stacks of their own, would only cost copies here.  Frames it
 * sent itself never come back to it, so broadcasts between Pis are
 * flooded by lan_send().
 */
static int
lan_open(struct lan *l, const struct opts *o)
{
	static struct sock_filter code[] = {
	    {0x28, 0, 0, 12},            /* ethertype */
	    {0x15, 0, 3, ETHERTYPE_IP},  /* IPv4? else to 5 */
	    {0x30, 0, 0, 23},            /* IP protocol */
	    {0x15, 3, 0, IPPROTO_TCP},   /* TCP: drop */
	    {0x6, 0, 0, 0xffff},         /* accept */
	    {0x15, 0, 1, ETHERTYPE_ARP}, /* ARP? */
	    {0x6, 0, 0, 0xffff},         /* accept */
	    {0x6, 0, 0, 0},              /* drop */
	};
	struct sock_fprog prog = {
	    .len = sizeof(code) / sizeof(code[0]),
	    .filter = code,
	};
	struct sockaddr_ll sll = {
	    .sll_family = AF_PACKET,
	    .sll_protocol = htons(ETH_P_ALL),
	    .sll_ifindex = o->ifindex,
	};
	int rcv = 4 << 20, one = 1;

	/* Protocol 0 receives nothing until bound, after the filter. */
	l->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		return -errno;
	}
	(void)setsockopt(l->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv));
	if (setsockopt(l->fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)) <
		0 ||
	    setsockopt(
		l->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ||
	    bind(l->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		int e = errno;

		close(l->fd);
		return -e;
	}
	l->ifindex = o->ifindex;
	return 0;
}

static bool
lan_send(struct pi *p, const uint8_t *f, size_t len)
{
	struct sockaddr_ll sll = {
	    .sll_family = AF_PACKET,
	    .sll_ifindex = p->lan->ifindex,
	    .sll_halen = 6,
	};

	memcpy(sll.sll_addr, f, 6);
	if (memcmp(f, bcast_mac, 6) == 0) {
		lan_flood(p->lan, p, f, len, false);
	}
	if (sendto(p->lan->fd, f, len, 0, (struct sockaddr *)&sll,
		sizeof(sll)) != (ssize_t)len) {
		return fail(p, "send: %s", strerror(errno));
	}
	return true;
}

/*
 * Wait for the next frame.  With @any, also return 2 when a frame that
 * the Pi does not keep arrives (the 3B ROM's timer needs that).
 * Return: 1 frame in @out, 2 (only with @any), 0 at @deadline.
 */
static int
pi_wait(struct pi *p, uint64_t deadline, bool any, struct frame *out)
{
	struct inbox *in = &p->in;
	uint64_t seen;
	int r = 0;

	pthread_mutex_lock(&in->mu);
	seen = in->arrivals;
	for (;;) {
		struct timespec ts;
		uint64_t now;

		if (in->count) {
			*out = in->slot[in->head];
			in->head = (in->head + 1) % INBOX_SLOTS;
			in->count--;
			r = 1;
			break;
		}
		if (any && in->arrivals != seen) {
			r = 2;
			break;
		}
		now = now_ms();
		if (now >= deadline) {
			break;
		}
		ts.tv_sec = (time_t)(deadline / 1000);
		ts.tv_nsec = (long)(deadline % 1000) * 1000000;
		pthread_cond_timedwait(&in->cv, &in->mu, &ts);
	}
	pthread_mutex_unlock(&in->mu);
	return r;
}

/* ---- the boot code's IP stack ---- */

static void
eth_hdr(const struct pi *p, uint8_t *f, const uint8_t *dst, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, p->mac, 6);
	put16(f + 12, type);
}

static bool
arp_send(struct pi *p, uint16_t op, const uint8_t *dst, const uint8_t *tha,
    uint32_t tpa)
{
	uint8_t f[60] = {0};

	eth_hdr(p, f, dst, ETHERTYPE_ARP);
	put16(f + 14, 1);
	put16(f + 16, ETHERTYPE_IP);
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, op);
	memcpy(f + 22, p->mac, 6);
	put32(f + 28, p->ip);
	memcpy(f + 32, tha, 6);
	put32(f + 38, tpa);
	return lan_send(p, f, sizeof(f));
}

/* Ethernet + IPv4 + UDP around @n payload bytes, as the code sends it. */
static size_t
udp_frame(struct pi *p, uint8_t *f, const uint8_t *dst_mac, uint32_t dst,
    uint16_t sport, uint16_t dport, const uint8_t *data, size_t n)
{
	size_t iplen = 20 + 8 + n;
	uint16_t c;

	eth_hdr(p, f, dst_mac, ETHERTYPE_IP);
	memset(f + 14, 0, 28);
	f[14] = 0x45;
	put16(f + 16, (uint16_t)iplen);
	/* IP id 0 and TTL 128 on BCM2837 code (§2.1, firmware#1041); the
	 * EEPROM's are not recorded: a counter and 64. */
	put16(f + 18, p->st->bcm2837 ? 0 : p->ip_id++);
	f[22] = p->st->bcm2837 ? 128 : 64;
	f[23] = IPPROTO_UDP;
	put32(f + 26, p->ip);
	put32(f + 30, dst);
	c = csum_fold(csum_add(0, f + 14, 20));
	put16(f + 24, c);
	put16(f + 34, sport);
	put16(f + 36, dport);
	put16(f + 38, (uint16_t)(8 + n));
	memcpy(f + 42, data, n);
	if (!p->st->bcm2837) {
		/* Computed; a zero sum goes out as 0xffff (RN-2711
		 * 2020-12-11).  BCM2837 code sends 0: quirk 11. */
		uint32_t sum = csum_add(0, f + 26, 8) + IPPROTO_UDP + 8 + n;

		c = csum_fold(csum_add(sum, f + 34, 8 + n));
		put16(f + 40, c ? c : 0xffff);
	}
	return 42 + n;
}

static bool
udp_send(struct pi *p, const uint8_t *dst_mac, uint32_t dst, uint16_t sport,
    uint16_t dport, const uint8_t *data, size_t n)
{
	uint8_t f[FRAME_MAX];

	if (n > FRAME_MAX - 42) {
		return fail(p, "datagram too large");
	}
	return lan_send(
	    p, f, udp_frame(p, f, dst_mac, dst, sport, dport, data, n));
}

/* One UDP datagram as the boot code sees it. */
struct dgram {
	uint8_t l2dst[6];
	uint32_t src, dst;
	uint16_t sport, dport;
	uint8_t data[FRAME_MAX];
	size_t len;
	uint64_t at_ms;
};

/* Answer or learn from an ARP frame. */
static void
arp_input(struct pi *p, const uint8_t *f, size_t len)
{
	uint16_t op;
	uint32_t spa, tpa;

	if (len < 42 || get16(f + 14) != 1 || get16(f + 16) != ETHERTYPE_IP ||
	    f[18] != 6 || f[19] != 4) {
		return;
	}
	op = get16(f + 20);
	spa = get32(f + 28);
	tpa = get32(f + 38);
	if (p->srv_ip && spa == p->srv_ip && (op == 2 || tpa == p->ip)) {
		memcpy(p->srv_mac, f + 22, 6);
		p->srv_mac_ok = true;
	}
	if (op != 1 || !p->ip || tpa != p->ip) {
		return;
	}
	if (!p->arp_answers) {
		p->arp_ignored++;
		return;
	}
	p->arp_answered++;
	(void)arp_send(p, 2, f + 6, f + 22, spa);
}

/*
 * Decode an IPv4/UDP frame for this Pi.  No fragments (the boot code
 * reassembles nothing); a UDP checksum, when present, must be right
 * (the Pi 4/5 bootloaders drop bad ones, §9; a Linux server never sends
 * one, so the BCM2837 stages check too).
 */
static bool
udp_input(struct pi *p, const struct frame *fr, struct dgram *d)
{
	const uint8_t *f = fr->b, *u;
	size_t len = fr->len, ihl, iplen, ulen;

	if (len < 42 || (f[14] >> 4) != 4 || f[23] != IPPROTO_UDP) {
		return false;
	}
	ihl = (size_t)(f[14] & 15) * 4;
	iplen = get16(f + 16);
	if (ihl < 20 || iplen < ihl + 8 || 14 + iplen > len ||
	    (get16(f + 20) & 0x3fff) != 0) {
		return false;
	}
	u = f + 14 + ihl;
	ulen = get16(u + 4);
	if (ulen < 8 || ulen > iplen - ihl) {
		return false;
	}
	if (get16(u + 6) != 0 && !fr->csum_partial) {
		uint32_t sum = csum_add(0, f + 26, 8) + IPPROTO_UDP + ulen;

		if (csum_fold(csum_add(sum, u, ulen)) != 0) {
			p->csum_bad++;
			return false;
		}
	}
	memcpy(d->l2dst, f, 6);
	d->src = get32(f + 26);
	d->dst = get32(f + 30);
	d->sport = get16(u);
	d->dport = get16(u + 2);
	d->len = ulen - 8;
	memcpy(d->data, u + 8, d->len);
	d->at_ms = now_ms();
	return true;
}

/*
 * Wait until @deadline for a UDP datagram to local @port, answering ARP
 * on the way as the boot code's receive loop does.  With @any, return 2
 * when any frame reaches the NIC.
 * Return: 1 datagram in @d, 2 (only with @any), 0 at @deadline.
 */
static int
pi_recv_udp(
    struct pi *p, uint16_t port, uint64_t deadline, bool any, struct dgram *d)
{
	struct frame *fr = malloc(sizeof(*fr));
	int r = 0;

	if (!fr) {
		return 0;
	}
	for (;;) {
		int w = pi_wait(p, deadline, any, fr);

		if (w != 1) {
			r = w;
			break;
		}
		if (get16(fr->b + 12) == ETHERTYPE_ARP) {
			arp_input(p, fr->b, fr->len);
		} else if (port && get16(fr->b + 12) == ETHERTYPE_IP &&
		    udp_input(p, fr, d) && d->dport == port) {
			r = 1;
			break;
		}
		if (any) {
			r = 2;
			break;
		}
	}
	free(fr);
	return r;
}

/* Resolve the TFTP server's MAC (rpi-doc: "ARP to tftpboot server"). */
static bool
arp_resolve(struct pi *p)
{
	struct dgram *d = malloc(sizeof(*d));
	int i;
	char a[16];

	for (i = 0; d && i < ARP_TRIES && !p->srv_mac_ok; i++) {
		uint64_t until = now_ms() + 1000;

		if (!arp_send(p, 1, bcast_mac, (const uint8_t *)"\0\0\0\0\0\0",
			p->srv_ip)) {
			break;
		}
		while (!p->srv_mac_ok && pi_recv_udp(p, 0, until, false, d)) {
		}
	}
	free(d);
	if (!p->srv_mac_ok) {
		fmt_ip(p->srv_ip, a);
		return fail(p, "%s: no ARP reply from the TFTP server %s",
		    p->st->name, a);
	}
	return true;
}

/* ---- DHCP requests (reference §2.1) ---- */

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
	put32(b + 4, p->xid);
	memcpy(b + 28, p->mac, 6);
	o = put(b, 236, "\x63\x82\x53\x63", 4);
	b[o++] = 53;
	b[o++] = 1;
	b[o++] = type;
	if (type == DHCPREQUEST) {
		/* The EEPROM's REQUEST: 50 and 54, and no option 60. */
		b[o++] = 50;
		b[o++] = 4;
		put32(b + o, want);
		o += 4;
		b[o++] = 54;
		b[o++] = 4;
		put32(b + o, sid);
		o += 4;
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

static bool
send_req(
    struct pi *p, uint8_t type, bool phase_rom, uint32_t want, uint32_t sid)
{
	uint8_t bootp[600];
	size_t n = build_bootp(p, bootp, type, phase_rom, want, sid);

	return udp_send(p, bcast_mac, INADDR_BROADCAST, 68, 67, bootp, n);
}

/* ---- DHCP replies ---- */

struct reply {
	struct dhcp_msg m;
	struct dgram d;
};

/*
 * §9 item 4: the forms captures show every model taking.  A proxy reply
 * (yiaddr 0) as Ethernet and IP broadcast with the broadcast flag; a
 * reply with an address as Ethernet unicast to chaddr with IP unicast to
 * that address, or as Ethernet and IP broadcast.  No capture shows a Pi
 * taking anything else (Ethernet unicast carrying an IP broadcast, for
 * one), so the emulated Pi drops it and says so if it never boots.
 */
static bool
reply_form_ok(struct pi *p, const struct reply *r)
{
	bool l2_all = memcmp(r->d.l2dst, bcast_mac, 6) == 0;
	bool l2_me = memcmp(r->d.l2dst, p->mac, 6) == 0;
	bool ip_all = r->d.dst == INADDR_BROADCAST;
	bool ok;

	if (r->m.yiaddr == 0) {
		ok = l2_all && ip_all && (r->m.flags & DHCP_FLAG_BROADCAST);
	} else {
		ok = (l2_me && r->d.dst == r->m.yiaddr) || (l2_all && ip_all);
	}
	if (!ok) {
		char a[16];

		p->forms_refused++;
		fmt_ip(r->d.dst, a);
		snprintf(p->form_seen, sizeof(p->form_seen),
		    "Ethernet %s, IP to %s, flags %04x, yiaddr %s",
		    l2_all      ? "broadcast"
			: l2_me ? "unicast"
				: "to another MAC",
		    a, r->m.flags, r->m.yiaddr ? "set" : "0");
	}
	return ok;
}

/*
 * Wait until @deadline for a reply to us (xid and chaddr) in a form the
 * model takes.  Replies carrying an address for another chaddr with our
 * xid that reach us are counted as strays: with one shared xid (the
 * ROMs) a Pi might take them for its own.  A proxy reply names no one,
 * so another Pi's costs nothing (§9 item 4).
 * Return: 1 got one, 2 another frame arrived (only with @any), 0 timeout.
 */
static int
recv_reply(struct pi *p, uint64_t deadline, bool any, struct reply *r)
{
	for (;;) {
		int w = pi_recv_udp(p, 68, deadline, any, &r->d);

		if (w != 1) {
			return w;
		}
		if (dhcp_parse(r->d.data, r->d.len, &r->m) != 0 ||
		    r->m.op != DHCP_BOOTREPLY || r->m.xid != p->xid) {
			if (any) {
				return 2;
			}
			continue;
		}
		if (memcmp(r->m.chaddr, p->mac, 6) != 0) {
			if (r->m.yiaddr &&
			    (memcmp(r->d.l2dst, p->mac, 6) == 0 ||
				memcmp(r->d.l2dst, bcast_mac, 6) == 0)) {
				p->strays++;
			}
			if (any) {
				return 2;
			}
			continue;
		}
		if (!reply_form_ok(p, r)) {
			if (any) {
				return 2;
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
	if (r->d.len < DHCP_MIN_REPLY) {
		return fail(p, "reply is %zu bytes, under 300", r->d.len);
	}
	if (!no_inner_pads(r->d.data, r->d.len)) {
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
	p->tftp_ip = sid;
	return true;
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
 * Take one reply into the collected state.  Return: false when it broke
 * a rule the model needs (the Pi failed).
 */
static bool
dhcp_take(struct pi *p, const struct reply *r, const uint8_t *sent97,
    const char *label, uint64_t start, bool *got_pxe, bool *got_addr,
    uint32_t *addr_sid)
{
	char a[16];

	if (r->m.type != DHCPOFFER) {
		return true;
	}
	if (p->st == &st_bootcode && p->model == M_3B &&
	    r->m.opt[DHCP_OPT_UUID].len == 17 &&
	    r->m.opt[DHCP_OPT_UUID].p[1] == 0x44 &&
	    r->m.opt[DHCP_OPT_UUID].p[2] == 0x44) {
		/* A late answer to a ROM DISCOVER (same xid, the ROM's
		 * GUID) reaching bootcode.bin: not ours. */
		return true;
	}
	if (dhcp_has(&r->m, DHCP_OPT_VENDOR) && !*got_pxe) {
		if (!check_pxe_reply(p, r, sent97)) {
			return false;
		}
		if (p->o->min_delay_ms && is_bcm2837(p->model) &&
		    r->d.at_ms - start < (uint64_t)p->o->min_delay_ms) {
			return fail(p,
			    "%s: reply after %llu ms, the BCM2837 delay is "
			    "%d ms",
			    label, (unsigned long long)(r->d.at_ms - start),
			    p->o->min_delay_ms);
		}
		if (!p->o->server_mode && r->m.yiaddr) {
			return fail(p, "proxy reply with yiaddr");
		}
		*got_pxe = true;
		fmt_ip(r->d.src, a);
		say(p, "%s pxe-reply ok from=%s after=%llums", label, a,
		    (unsigned long long)(r->d.at_ms - start));
	}
	if (r->m.yiaddr && !*got_addr) {
		if (!dhcp_has(&r->m, DHCP_OPT_LEASE_TIME) ||
		    !dhcp_has(&r->m, DHCP_OPT_SUBNET_MASK)) {
			return fail(
			    p, "%s: address offer without lease/mask", label);
		}
		if (p->addr && r->m.yiaddr != p->addr) {
			/* The firmware takes it; the address it had may now
			 * go to another Pi, which the clash check catches. */
			p->readdressed++;
		}
		if (p->o->strict_ip && r->d.src == p->o->strict_ip &&
		    memcmp(r->d.l2dst, p->mac, 6) != 0) {
			return fail(p,
			    "%s: address offer not addressed to our "
			    "MAC at L2",
			    label);
		}
		*got_addr = true;
		p->addr = r->m.yiaddr;
		if (!dhcp_opt_addr(&r->m, DHCP_OPT_SERVER_ID, addr_sid)) {
			*addr_sid = r->d.src;
		}
		fmt_ip(p->addr, a);
		say(p, "%s address-offer ok addr=%s", label, a);
	}
	return true;
}

/*
 * One DISCOVER phase: send, retransmit on the model's schedule, collect
 * the PXE reply and the address (from us or a router).  The 3B ROM takes
 * them only when a frame reaches it after its 1 s DHCP timer (§9 item 5,
 * openSUSE/netboot-rpi3b); a reply that came sooner waits for one.
 */
static bool
dhcp_discover_phase(struct pi *p, bool phase_rom, uint32_t *addr_sid)
{
	const struct stage *st = p->st;
	const char *label = st->name;
	uint8_t bootp[600];
	const uint8_t *sent97;
	uint64_t limit = now_ms() + 1000u * (uint64_t)p->o->timeout_s;
	bool got_pxe = false, got_addr = false, ok = false, waited;
	struct reply *r = calloc(1, sizeof(*r));
	int attempt;

	if (!r) {
		return fail(p, "out of memory");
	}
	sent97 = find_opt(
	    bootp, build_bootp(p, bootp, DHCPDISCOVER, phase_rom, 0, 0), 97);
	__atomic_store_n(&p->in_dhcp, true, __ATOMIC_RELAXED);
	for (attempt = 0; attempt < st->dhcp_tries; attempt++) {
		uint64_t start = now_ms();
		uint64_t next_tx = start + (uint64_t)st->dhcp_retry_ms;

		if (start >= limit) {
			break;
		}
		if (!p->t_discover) {
			p->t_discover = start;
		}
		if (!send_req(p, DHCPDISCOVER, phase_rom, 0, 0)) {
			goto out;
		}
		if (st->rom_timer) {
			/* One transaction per DISCOVER. */
			got_pxe = got_addr = false;
		}
		waited = false;
		while (now_ms() < next_tx && now_ms() < limit) {
			uint64_t until = next_tx < limit ? next_tx : limit;
			int w = recv_reply(p, until, st->rom_timer, r);

			if (w == 1 &&
			    !dhcp_take(p, r, sent97, label, start, &got_pxe,
				&got_addr, addr_sid)) {
				goto out;
			}
			if (!(got_pxe && got_addr)) {
				continue;
			}
			if (!st->rom_timer ||
			    now_ms() >= start + ROM_DHCP_TIMER_MS) {
				ok = true;
				goto out;
			}
			p->rom_waits += !waited;
			waited = true;
		}
	}
	if (p->forms_refused) {
		fail(p,
		    "%s: no %s within %d DISCOVERs; %u replies in a form no "
		    "Pi is known to take (last: %s; reference §9 item 4)",
		    label, got_pxe ? "address" : "PXE reply", attempt,
		    p->forms_refused, p->form_seen);
	} else {
		fail(p, "%s: no %s within %d DISCOVERs (%d s)%s", label,
		    got_pxe ? "address" : "PXE reply", attempt,
		    (int)((now_ms() - p->t_discover) / 1000),
		    st->rom_timer && got_pxe && got_addr
			? "; the reply never had a frame after the ROM's "
			  "1 s timer (§9 item 5)"
			: "");
	}
out:
	__atomic_store_n(&p->in_dhcp, false, __ATOMIC_RELAXED);
	free(r);
	return ok;
}

/* The EEPROM's REQUEST/ACK (§2.6), to the server that offered. */
static bool
dhcp_request_phase(struct pi *p, uint32_t sid)
{
	uint64_t start = now_ms();
	uint64_t deadline = start + 1000u * (uint64_t)p->o->timeout_s;
	uint64_t next_tx = 0;
	struct reply *r = calloc(1, sizeof(*r));
	bool ok = false;

	if (!r) {
		return fail(p, "out of memory");
	}
	__atomic_store_n(&p->in_dhcp, true, __ATOMIC_RELAXED);
	while (now_ms() < deadline) {
		if (now_ms() >= next_tx) {
			if (!send_req(p, DHCPREQUEST, false, p->addr, sid)) {
				goto out;
			}
			next_tx = now_ms() + (uint64_t)p->st->dhcp_retry_ms;
		}
		if (!recv_reply(
			p, next_tx < deadline ? next_tx : deadline, false, r)) {
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
	fail(p, "no ACK to REQUEST within %d s%s", p->o->timeout_s,
	    p->forms_refused ? " (replies in a form no Pi is known to take)"
			     : "");
out:
	__atomic_store_n(&p->in_dhcp, false, __ATOMIC_RELAXED);
	free(r);
	return ok;
}

/* DHCP is done: the boot code's stack takes the address. */
static void
pi_configure(struct pi *p)
{
	__atomic_store_n(&p->ip, p->addr, __ATOMIC_RELAXED);
	p->arp_answers = true;
	if (p->srv_ip != p->tftp_ip) {
		p->srv_mac_ok = false;
	}
	p->srv_ip = p->tftp_ip;
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

/* The source port of a new RRQ (§3.1). */
static uint16_t
tftp_port(struct pi *p)
{
	uint16_t port;

	switch (p->st->ports) {
	case PORTS_FIXED:
		return p->st->first_port;
	case PORTS_SEQUENCE:
		port = p->next_port++;
		if (p->next_port == 0) {
			p->next_port = p->st->first_port;
		}
		return port;
	case PORTS_EPHEMERAL:
		break;
	}
	do {
		port = (uint16_t)(49152 + rand_r(&p->rng) % 16384);
	} while (port == p->last_port);
	p->last_port = port;
	return port;
}

/* Compare what arrived with the server's file, when -R names the tree. */
static bool
tftp_same_bytes(struct pi *p, const char *name, const uint8_t *got, size_t n)
{
	char path[600];
	uint8_t *want;
	struct stat sb;
	bool same;
	int fd;

	if (!p->o->files) {
		return true;
	}
	snprintf(path, sizeof(path), "%s/%s", p->o->files, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0 || (size_t)sb.st_size != n) {
		if (fd >= 0) {
			close(fd);
		}
		return fail(p, "tftp %s: %zu bytes, the file has %lld", name, n,
		    fd < 0 ? -1LL : (long long)sb.st_size);
	}
	want = malloc(n ? n : 1);
	same = want && read(fd, want, n) == (ssize_t)n &&
	    memcmp(want, got, n) == 0;
	free(want);
	close(fd);
	return same ? true
		    : fail(p, "tftp %s: bytes differ from the file", name);
}

/* Does the server's tree have @name (only known with -R)? */
static bool
tftp_file_exists(const struct pi *p, const char *name)
{
	char path[600];
	struct stat sb;

	if (!p->o->files) {
		return false;
	}
	snprintf(path, sizeof(path), "%s/%s", p->o->files, name);
	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The firmware hands cmdline.txt to the kernel: keep the last one. */
static void
keep_cmdline(struct pi *p, const char *name, const uint8_t *b, size_t n)
{
	size_t len = strlen(name);

	if (len < 11 || strcmp(name + len - 11, "cmdline.txt") != 0) {
		return;
	}
	free(p->cmdline);
	p->cmdline = strndup((const char *)b, n);
}

enum {
	TG_FAILED = -1,
	TG_MISSING = 0, /* ERROR 1, or nothing at all */
	TG_OK = 1,
	TG_TIMEOUT = 2, /* a block went missing: the code moves on */
};

static int
tftp_gave_up(struct pi *p, const char *name, uint64_t block, bool answered)
{
	p->gave_up++;
	p->silent = !answered;
	say(p, "tftp %s: gave up waiting for %s %llu after %d ms", name,
	    answered ? "block" : "an answer to the RRQ, block",
	    (unsigned long long)block, p->st->patience_ms);
	return answered || tftp_file_exists(p, name) ? TG_TIMEOUT : TG_MISSING;
}

/*
 * Fetch (or with @probe, only open) @name the way the current stage does.
 * Return: TG_OK, TG_MISSING, TG_TIMEOUT (the firmware gave up on a block
 * and goes on as if the file were missing, firmware#1025, #1292), or
 * TG_FAILED (a protocol rule broken; why in p->why).
 */
static int
tftp_get(struct pi *p, const char *name, bool probe, size_t *size)
{
	const struct stage *st = p->st;
	uint16_t sport = tftp_port(p), tid = 0;
	uint8_t rrq[600], ack[4] = {0, 4, 0, 0};
	size_t rrqlen = 0, got = 0, tsize = (size_t)-1, cap = 0;
	uint8_t *file = NULL;
	uint64_t rrq_at, wait_from, expect = 1;
	bool opts = st->tsize || st->blksize > 512, oack = false;
	int blksize = 512, r = TG_FAILED;
	struct dgram *d = malloc(sizeof(*d));

	if (!d) {
		fail(p, "out of memory");
		return TG_FAILED;
	}
	rrq[rrqlen++] = 0;
	rrq[rrqlen++] = 1;
	rrqlen += (size_t)sprintf((char *)rrq + rrqlen, "%s", name) + 1;
	rrqlen += (size_t)sprintf((char *)rrq + rrqlen, "octet") + 1;
	if (st->tsize) {
		rrqlen += (size_t)sprintf((char *)rrq + rrqlen, "tsize") + 1;
		rrqlen += (size_t)sprintf((char *)rrq + rrqlen, "0") + 1;
	}
	if (st->blksize > 512) {
		rrqlen += (size_t)sprintf((char *)rrq + rrqlen, "blksize") + 1;
		rrqlen +=
		    (size_t)sprintf((char *)rrq + rrqlen, "%u", st->blksize) +
		    1;
	}
	if (!st->arp_in_tftp) {
		/* Quirk 12: from here on the 3B ROM answers no ARP. */
		p->arp_answers = false;
	}
	if (!udp_send(p, p->srv_mac, p->srv_ip, sport, 69, rrq, rrqlen)) {
		goto out;
	}
	rrq_at = wait_from = now_ms();
	for (;;) {
		uint64_t give_up = wait_from + (uint64_t)st->patience_ms;
		uint64_t wake = give_up, now;
		uint16_t op, block;

		if (!tid && rrq_at + (uint64_t)st->rrq_retry_ms < wake) {
			wake = rrq_at + (uint64_t)st->rrq_retry_ms;
		}
		if (pi_recv_udp(p, sport, wake, false, d) == 0) {
			now = now_ms();
			if (now >= give_up) {
				r = tftp_gave_up(p, name, expect, tid != 0);
				goto out;
			}
			/* §9: the RRQ again, from the same port. */
			p->rrq_repeats++;
			if (!udp_send(p, p->srv_mac, p->srv_ip, sport, 69, rrq,
				rrqlen)) {
				goto out;
			}
			rrq_at = now;
			continue;
		}
		if (d->src != p->srv_ip || d->dst != p->ip || d->len < 4 ||
		    (tid && d->sport != tid)) {
			continue;
		}
		tid = d->sport;
		op = get16(d->data);
		block = get16(d->data + 2);
		if (op == 5) {
			if (block == 1) {
				r = TG_MISSING;
			} else {
				fail(p, "tftp %s: error %u \"%.*s\"", name,
				    block, (int)d->len - 4, d->data + 4);
			}
			goto out;
		}
		if (op == 6) {
			/* OACK: tsize and blksize, NUL-separated pairs. */
			size_t i = 2;

			if (!opts) {
				fail(p,
				    "tftp %s: OACK to a request without "
				    "options",
				    name);
				goto out;
			}
			if (oack || expect > 1) {
				/* The server resent it: ACK it again. */
				p->dup_data++;
				(void)udp_send(p, p->srv_mac, p->srv_ip, sport,
				    tid, ack, 4);
				continue;
			}
			while (i < d->len) {
				const char *k = (const char *)d->data + i;
				size_t kl = strnlen(k, d->len - i);
				const char *v = k + kl + 1;

				if (i + kl + 1 >= d->len) {
					break;
				}
				if (!strcasecmp(k, "tsize")) {
					tsize = strtoul(v, NULL, 10);
				} else if (!strcasecmp(k, "blksize")) {
					blksize = atoi(v);
				}
				i += kl + 1 + strnlen(v, d->len - i - kl - 1) +
				    1;
			}
			if (blksize < 8 ||
			    blksize > (st->blksize > 512 ? st->blksize : 512)) {
				fail(p, "tftp %s: blksize %d granted, asked %d",
				    name, blksize, st->blksize);
				goto out;
			}
			if (st->tsize && tsize == (size_t)-1) {
				fail(p, "tftp %s: OACK without tsize", name);
				goto out;
			}
			oack = true;
			if (probe) {
				*size = tsize;
				r = TG_OK;
				goto early;
			}
			ack[2] = ack[3] = 0;
			if (!udp_send(
				p, p->srv_mac, p->srv_ip, sport, tid, ack, 4)) {
				goto out;
			}
			wait_from = now_ms();
			continue;
		}
		if (op != 3) {
			continue;
		}
		if (opts && !oack) {
			/* §9 item 1: a server that ignores the options
			 * breaks the firmware. */
			fail(p,
			    "tftp %s: DATA without the OACK the options "
			    "ask for",
			    name);
			goto out;
		}
		if (probe) {
			*size = d->len - 4;
			r = TG_OK;
			goto early;
		}
		if (block == (uint16_t)expect) {
			size_t n = d->len - 4;

			if (n > (size_t)blksize) {
				fail(p, "tftp %s: block of %zu bytes", name, n);
				goto out;
			}
			if (got + n > cap) {
				size_t ncap = cap ? cap * 2 : 65536;
				uint8_t *nf;

				while (ncap < got + n) {
					ncap *= 2;
				}
				nf = realloc(file, ncap);
				if (!nf) {
					fail(p, "out of memory");
					goto out;
				}
				file = nf;
				cap = ncap;
			}
			memcpy(file + got, d->data + 4, n);
			got += n;
			expect++;
			put16(ack + 2, block);
			if (!udp_send(
				p, p->srv_mac, p->srv_ip, sport, tid, ack, 4)) {
				goto out;
			}
			wait_from = now_ms();
			if (n < (size_t)blksize) {
				if (tsize != (size_t)-1 && tsize != got) {
					fail(p, "tftp %s: tsize %zu, got %zu",
					    name, tsize, got);
					goto out;
				}
				if (!tftp_same_bytes(p, name, file, got)) {
					goto out;
				}
				keep_cmdline(p, name, file, got);
				*size = got;
				r = TG_OK;
				goto out;
			}
		} else if (block == (uint16_t)(expect - 1)) {
			/* A resent block: ACK it again, nothing more. */
			p->dup_data++;
			put16(ack + 2, block);
			(void)udp_send(
			    p, p->srv_mac, p->srv_ip, sport, tid, ack, 4);
		}
	}
early:
	/* A probe: "Early terminate", as bootcode and the EEPROM close it
	 * (§3.2 item 3). */
	{
		static const uint8_t et[] = "\x00\x05\x00\x00"
					    "Early terminate";

		(void)udp_send(
		    p, p->srv_mac, p->srv_ip, sport, tid, et, sizeof(et));
	}
out:
	free(file);
	free(d);
	return r;
}

static bool
tftp_sequence(struct pi *p, const struct tftp_step *seq)
{
	char prefix[16] = "", path[128];
	size_t size = 0, files = 0, bytes = 0;
	int i;

	if (!p->srv_mac_ok && !arp_resolve(p)) {
		return false;
	}
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
		r = tftp_get(p, path, s->flags & F_PROBE, &size);
		if (r == TG_FAILED) {
			return false;
		}
		if (r == TG_TIMEOUT) {
			/* The firmware takes the file for missing and goes
			 * on (firmware#1025, #1292): it boots without it, or
			 * from the wrong directory. */
			return fail(p,
			    "tftp %s: %s gave up on a block after %d ms "
			    "(the server must resend well within that)",
			    path, p->st->name, p->st->patience_ms);
		}
		if (s->flags & F_PREFIX) {
			/* §3.3: the prefix stays only if the probe found it. */
			if (r == TG_OK) {
				snprintf(
				    prefix, sizeof(prefix), "%08x/", p->serial);
			}
			say(p, "tftp prefix %s",
			    r == TG_OK ? prefix : "(root)");
			continue;
		}
		if (r == TG_MISSING && (s->flags & F_REQ)) {
			return fail(p, "tftp %s: %s", path,
			    p->silent ? "no answer to the RRQ" : "not found");
		}
		p->silent = false;
		if (r == TG_OK && !(s->flags & F_PROBE)) {
			files++;
			bytes += size;
		}
	}
	p->t_done = now_ms();
	say(p, "tftp sequence ok files=%zu bytes=%zu", files, bytes);
	return true;
}

/* ---- one Pi ---- */

/*
 * Enter a boot stage: fresh code with a fresh IP stack (bootcode.bin asks
 * DHCP again from 0.0.0.0), the same MAC.
 */
static void
pi_stage(struct pi *p, const struct stage *st)
{
	p->st = st;
	__atomic_store_n(&p->ip, 0, __ATOMIC_RELAXED);
	p->arp_answers = false;
	p->srv_mac_ok = false;
	p->next_port = st->first_port;
}

static bool
pi_eeprom(struct pi *p, uint32_t *sid)
{
	int i;

	for (i = 0;; i++) {
		p->nak = false;
		if (!dhcp_discover_phase(p, false, sid)) {
			return false;
		}
		if (dhcp_request_phase(p, *sid)) {
			return true;
		}
		if (!p->nak || i == 2) {
			return p->nak ? fail(p, "three NAKs in a row") : false;
		}
		p->addr = 0;
	}
}

static void
pi_boot(struct pi *p)
{
	uint32_t sid = 0;

	if (p->o->spread_ms) {
		usleep((useconds_t)(rand_r(&(unsigned){p->idx * 7919u + 1}) %
			   p->o->spread_ms) *
		    1000);
	}
	switch (p->model) {
	case M_3B:
	case M_3BPLUS:
		pi_stage(p, p->model == M_3B ? &st_3b_rom : &st_3bplus_rom);
		if (!dhcp_discover_phase(p, true, &sid)) {
			return;
		}
		pi_configure(p);
		if (p->o->tftp && !tftp_sequence(p, seq_rom)) {
			return;
		}
		/* bootcode.bin DISCOVERs again with the same xid. */
		/* fall through */
	case M_BOOTCODE:
		pi_stage(p, &st_bootcode);
		if (!dhcp_discover_phase(p, false, &sid)) {
			return;
		}
		pi_configure(p);
		if (p->o->tftp && !tftp_sequence(p, seq_bootcode)) {
			return;
		}
		break;
	case M_PI4:
	case M_PI5:
		pi_stage(p, &st_eeprom);
		if (!pi_eeprom(p, &sid)) {
			return;
		}
		pi_configure(p);
		if (p->o->tftp &&
		    !tftp_sequence(p, p->model == M_PI4 ? seq_pi4 : seq_pi5)) {
			return;
		}
		break;
	default:
		return;
	}
	if (!p->t_done) {
		p->t_done = now_ms();
	}
	if (p->strays) {
		fail(p, "%d replies for other Pis reached this one", p->strays);
		return;
	}
	p->ok = true;
}

/* The value of word @key= in a kernel command line, into @out. */
static bool
cmdline_word(const char *cl, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);

	while (*cl) {
		size_t n = strcspn(cl, " \t\n");

		if (n > klen && strncmp(cl, key, klen) == 0 &&
		    cl[klen] == '=') {
			snprintf(out, cap, "%.*s", (int)(n - klen - 1),
			    cl + klen + 1);
			return true;
		}
		cl += n;
		cl += strspn(cl, " \t\n");
	}
	return false;
}

/*
 * Linux, booted from the files the firmware loaded: the kernel's DHCP,
 * then the root that cmdline.txt names, mounted and used as in the trace.
 */
static bool
pi_linux(struct pi *p)
{
	struct emu_linux *k = &p->linux_k;
	char root[32], ip[64], nfsroot[600], *opts, *colon;
	struct in_addr a;
	char addr[16];

	if (!p->cmdline) {
		return fail(p, "linux: the firmware loaded no cmdline.txt");
	}
	if (!cmdline_word(p->cmdline, "root", root, sizeof(root)) ||
	    strcmp(root, "/dev/nfs") != 0 ||
	    !cmdline_word(p->cmdline, "nfsroot", nfsroot, sizeof(nfsroot))) {
		return fail(p, "linux: cmdline.txt mounts no NFS root: %.120s",
		    p->cmdline);
	}
	if (!cmdline_word(p->cmdline, "ip", ip, sizeof(ip)) ||
	    strcmp(ip, "dhcp") != 0) {
		return fail(p,
		    "linux: cmdline.txt has no ip=dhcp (the only "
		    "address method emulated)");
	}
	opts = strchr(nfsroot, ',');
	if (opts) {
		*opts++ = 0;
	}
	if (!opts || (!strstr(opts, "vers=3") && !strstr(opts, "v3"))) {
		return fail(p,
		    "linux: nfsroot= does not ask for NFSv3, the "
		    "version the trace was made with");
	}
	colon = strchr(nfsroot, ':');
	if (colon) {
		*colon = 0;
	}
	if (!colon || inet_pton(AF_INET, nfsroot, &a) != 1) {
		return fail(p, "linux: nfsroot= names no server address");
	}
	snprintf(p->nfsroot, sizeof(p->nfsroot), "%s", colon + 1);
	*k = (struct emu_linux){
	    .lower_ifindex = p->o->ifindex,
	    .server = ntohl(a.s_addr),
	    .root = p->nfsroot,
	    .trace = p->o->trace,
	    .check_files = access(p->nfsroot, R_OK | X_OK) == 0,
	    .deadline = now_ms() + 1000u * (uint64_t)p->o->kernel_s,
	    .seed = p->rng,
	};
	memcpy(k->mac, p->mac, 6);
	p->linux_ran = true;
	if (!emu_linux_boot(k)) {
		return fail(p, "linux: %s", k->why);
	}
	fmt_ip(k->addr, addr);
	say(p, "linux booted addr=%s mount-ms=%llu replay-ms=%llu calls=%u",
	    addr, (unsigned long long)(k->t_mnt - p->t_discover),
	    (unsigned long long)(k->t_end - p->t_discover), k->calls);
	return true;
}

/*
 * One Pi from power-on to the end of its firmware, and with -N on to the
 * end of Linux's traced boot.  When the firmware stops, its frames stop
 * being kept: the kernel has its own stack.
 */
static void *
pi_run(void *arg)
{
	struct pi *p = arg;

	pi_boot(p);
	pthread_mutex_lock(&p->in.mu);
	p->in.gone = true;
	p->in.count = 0;
	pthread_mutex_unlock(&p->in.mu);
	if (p->ok && p->o->trace) {
		p->ok = pi_linux(p);
	}
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
	p->st = is_bcm2837(p->model) ? &st_bootcode : &st_eeprom;
	memcpy(p->mac, ouis[p->model], 3);
	p->mac[3] = (uint8_t)o->base;
	p->mac[4] = (uint8_t)(idx >> 8);
	p->mac[5] = (uint8_t)idx;
	/* Pi 2/3: the MAC is b8:27:eb + the low 24 bits of the serial. */
	p->serial = 0x10000000u | (uint32_t)p->mac[3] << 16 |
	    (uint32_t)p->mac[4] << 8 | p->mac[5];
	p->xid = is_bcm2837(p->model) ? DHCP_PI_XID : (uint32_t)rand_r(&seed);
	p->rng = seed;
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
	uint8_t b[600], f[FRAME_MAX];
	size_t n;

	pi_setup(&p, o, 0);
	memcpy(p.mac, mac, 6);
	p.serial = serial;
	p.xid = xid;
	n = build_bootp(&p, b, DHCPDISCOVER, true, 0, 0);
	n = udp_frame(&p, f, bcast_mac, INADDR_BROADCAST, 68, 67, b, n);
	return fwrite(f, 1, n, stdout) == n ? 0 : 1;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: pi_emu -i IF [-m 3b|3b+|bootcode|pi4|pi5|mix] [-n N] "
	    "[-b BASE]\n"
	    "              [-s] [-t] [-q] [-T SECS] [-d MS] [-S MS] [-U IP] "
	    "[-R DIR]\n"
	    "              [-N TRACE] [-K SECS]\n"
	    "       pi_emu -D DIR             write each model's requests\n"
	    "       pi_emu -F -m MODEL -a MAC -e SERIAL -x XID   one frame\n"
	    "  -s  server mode: the PXE reply also carries the address\n"
	    "  -t  fetch the model's TFTP file sequence\n"
	    "  -T  give up on a DHCP phase after SECS (default 20)\n"
	    "  -d  BCM2837 replies must come at least MS after DISCOVER\n"
	    "  -S  power the Pis on within MS (storm)\n"
	    "  -U  address offers from IP must be Ethernet unicasts to the "
	    "Pi\n"
	    "  -R  every file fetched must equal DIR/NAME byte for byte\n"
	    "  -N  then boot Linux: ip=dhcp, the nfsroot= of cmdline.txt, "
	    "and the\n"
	    "      NFS calls of the boot traced in TRACE (needs -t)\n"
	    "  -K  give up on Linux SECS after it starts (default 60)\n");
	exit(2);
}

/*
 * Print each Pi's result and the totals; return how many booted.
 * @t0: when the run started, for the time to the last file.
 */
static int
report(const struct opts *o, struct pi *pis, uint64_t t0, bool *uniq)
{
	unsigned forms = 0, waits = 0, arp_a = 0, arp_i = 0, dups = 0;
	unsigned repeats = 0, gaveup = 0, csum = 0, readdr = 0;
	uint64_t dropped = 0, last = 0, last_mnt = 0, last_end = 0;
	unsigned dhcp = 0, retried = 0, calls = 0, skipped = 0, compared = 0;
	unsigned newaddr = 0;
	uint64_t rbytes = 0;
	int i, j, ok = 0;

	for (i = 0; i < o->n; i++) {
		struct pi *p = &pis[i];
		const struct emu_linux *k = &p->linux_k;

		ok += p->ok;
		printf("pi_emu: result pi%d %s %s ms=%llu", i,
		    model_names[p->model], p->ok ? "ok" : "fail",
		    (unsigned long long)(p->t_done && p->t_discover
			    ? p->t_done - p->t_discover
			    : 0));
		if (o->trace) {
			printf(" ack_ms=%llu mount_ms=%llu end_ms=%llu",
			    (unsigned long long)(k->t_ack
				    ? k->t_ack - p->t_discover
				    : 0),
			    (unsigned long long)(k->t_mnt
				    ? k->t_mnt - p->t_discover
				    : 0),
			    (unsigned long long)(k->t_end
				    ? k->t_end - p->t_discover
				    : 0));
			dhcp += k->dhcp_sends;
			retried += k->mount_tries > 1;
			calls += k->calls;
			skipped += k->skipped;
			compared += k->compared;
			rbytes += k->read_bytes;
			newaddr +=
			    p->linux_ran && k->addr && k->addr != p->addr;
			if (p->ok && k->t_mnt > last_mnt) {
				last_mnt = k->t_mnt;
			}
			if (p->ok && k->t_end > last_end) {
				last_end = k->t_end;
			}
		}
		printf("\n");
		forms += p->forms_refused;
		waits += p->rom_waits;
		arp_a += p->arp_answered;
		arp_i += p->arp_ignored;
		dups += p->dup_data;
		repeats += p->rrq_repeats;
		gaveup += p->gave_up;
		csum += p->csum_bad;
		readdr += p->readdressed;
		dropped += p->in.dropped;
		if (p->ok && p->t_done > last) {
			last = p->t_done;
		}
	}
	printf("pi_emu: last-file-ms=%llu\n",
	    (unsigned long long)(last ? last - t0 : 0));
	if (o->trace) {
		printf("pi_emu: last-mount-ms=%llu last-end-ms=%llu\n",
		    (unsigned long long)(last_mnt ? last_mnt - t0 : 0),
		    (unsigned long long)(last_end ? last_end - t0 : 0));
		printf("pi_emu: linux dhcp-messages=%u mounts-retried=%u "
		       "calls=%u calls-not-needed=%u reads-compared=%u "
		       "read-bytes=%llu new-address-for-kernel=%u\n",
		    dhcp, retried, calls, skipped, compared,
		    (unsigned long long)rbytes, newaddr);
	}
	printf("pi_emu: wire replies-in-refused-forms=%u rom-timer-waits=%u "
	       "arp-answered=%u arp-unanswered=%u duplicate-data=%u "
	       "rrq-repeats=%u blocks-given-up=%u bad-checksums=%u "
	       "nic-drops=%llu new-address-for-bootcode=%u\n",
	    forms, waits, arp_a, arp_i, dups, repeats, gaveup, csum,
	    (unsigned long long)dropped, readdr);
	*uniq = true;
	for (i = 0; o->server_mode && i < o->n; i++) {
		for (j = i + 1; j < o->n; j++) {
			char a[16];

			if (pis[i].addr && pis[i].addr == pis[j].addr) {
				fmt_ip(pis[i].addr, a);
				printf("pi_emu: FAIL pi%d and pi%d share "
				       "address %s\n",
				    i, j, a);
				*uniq = false;
			}
		}
	}
	return ok;
}

int
main(int argc, char **argv)
{
	struct opts o = {.model = -1, .n = 1, .timeout_s = 20, .kernel_s = 60};
	const char *dumpdir = NULL, *trace_path = NULL;
	struct emu_trace *trace = NULL;
	bool frame = false, uniq;
	uint8_t mac[6] = {0};
	uint32_t serial = 0, xid = 0;
	struct lan lan = {.fd = -1};
	pthread_attr_t attr;
	pthread_condattr_t ca;
	pthread_t *th, rx;
	int c, i, r, ok;
	uint64_t t0;

	while ((c = getopt(argc, argv, "i:m:n:b:stqT:d:S:U:R:N:K:D:Fa:e:x:")) !=
	    -1) {
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
		case 'R':
			o.files = optarg;
			break;
		case 'N':
			trace_path = optarg;
			break;
		case 'K':
			o.kernel_s = atoi(optarg);
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
	if (!o.ifname || o.n < 1 || o.n > MAX_PIS || o.timeout_s < 1 ||
	    o.kernel_s < 1 || (trace_path && !o.tftp)) {
		usage();
	}
	if (trace_path) {
		char err[512];

		trace = emu_trace_load(trace_path, err, sizeof(err));
		if (!trace) {
			fprintf(stderr, "pi_emu: %s\n", err);
			return 2;
		}
		o.trace = trace;
	}
	o.ifindex = (int)if_nametoindex(o.ifname);
	if (!o.ifindex) {
		fprintf(stderr, "pi_emu: no interface %s\n", o.ifname);
		return 2;
	}
	r = lan_open(&lan, &o);
	if (r < 0) {
		fprintf(stderr,
		    "pi_emu: packet socket on %s: %s (needs root)\n", o.ifname,
		    strerror(-r));
		return 2;
	}
	lan.n = o.n;
	lan.pis = calloc((size_t)o.n, sizeof(*lan.pis));
	th = calloc((size_t)o.n, sizeof(*th));
	if (!lan.pis || !th) {
		return 2;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	for (i = 0; i < o.n; i++) {
		pi_setup(&lan.pis[i], &o, i);
		lan.pis[i].lan = &lan;
		pthread_mutex_init(&lan.pis[i].in.mu, NULL);
		pthread_cond_init(&lan.pis[i].in.cv, &ca);
		lan_add(&lan, &lan.pis[i]);
	}
	if (pthread_create(&rx, NULL, lan_rx, &lan) != 0) {
		fprintf(stderr, "pi_emu: cannot start the receive thread\n");
		return 2;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	t0 = now_ms();
	for (i = 0; i < o.n; i++) {
		if (pthread_create(&th[i], &attr, pi_run, &lan.pis[i]) != 0) {
			fprintf(stderr, "pi_emu: cannot start thread %d\n", i);
			return 2;
		}
	}
	for (i = 0; i < o.n; i++) {
		pthread_join(th[i], NULL);
	}
	lan.stop = 1;
	pthread_join(rx, NULL);
	ok = report(&o, lan.pis, t0, &uniq);
	printf("pi_emu: booted %d/%d%s\n", ok, o.n,
	    o.server_mode ? (uniq ? " addresses unique" : " ADDRESS CLASH")
			  : "");
	close(lan.fd);
	for (i = 0; i < o.n; i++) {
		free(lan.pis[i].cmdline);
	}
	free(lan.pis);
	free(th);
	emu_trace_free(trace);
	return ok == o.n && uniq ? 0 : 1;
}
