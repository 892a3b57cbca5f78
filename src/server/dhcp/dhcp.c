#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/if_arp.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cur.h"
#include "core/err.h"
#include "core/csum.h"
#include "core/log.h"
#include "server/dhcp/dhcp.h"
#include "server/dhcp/lease.h"
#include "server/obs.h"
#include "server/serve.h"

/*
 * Requests waiting for a timer: the BCM2837 reply delay (reference quirk
 * 5) and the ARP conflict check.  Bounded: a flood cannot grow it, and
 * when it is full a request is answered without a probe (or dropped, if
 * it needed the delay; the ROM retries 5 s later).
 */
#define DHCP_PENDING_MAX 1024
#define DHCP_PKT_MAX     1500
/*
 * Admission to that table.  A MAC we know (one we hold an address or a
 * reservation for, or whose earlier request was shed: a client that
 * retransmits) may use all of it; MACs we do not know, which is what a
 * flood from random MACs looks like, at most half, so a flood never keeps
 * a known client from its delay or its conflict probe.  One relay, or one
 * sending address, may hold DHCP_PENDING_PER_SOURCE entries at most
 * (requests from 0.0.0.0 count per MAC: one each).
 */
#define DHCP_PENDING_UNKNOWN_MAX (DHCP_PENDING_MAX / 2)
#define DHCP_PENDING_PER_SOURCE  32
/*
 * Longest a firmware's request waits in that table for its client's move
 * (dhcp_hold()); past it the request is dropped and the firmware's next
 * one waits again.  Well inside a Pi 4's DHCP patience (45 s by default).
 */
#define DHCP_MOVE_HOLD_MS 20000
/*
 * Unconfirmed on-offer bindings, with the ROM requests from unknown MACs
 * waiting for one, may hold at most half the pool and at most this many:
 * past that, DISCOVERs with the ROM's fingerprint from MACs we do not
 * know are shed, and every other client still finds addresses.
 */
#define DHCP_ROM_UNCONFIRMED_MAX 512
/*
 * MACs whose request was shed, remembered in two generations of a Bloom
 * filter (three bits per MAC, 2^21 bits per generation, 512 KiB in all),
 * each DHCP_SEEN_GEN_MS long: a ROM retries its DISCOVER after 5 s, an
 * EEPROM after 4 s, and a retry from a remembered MAC is a known client.
 * Random MACs of a flood are not seen twice; a false positive lets one
 * through as known: about 1 in 100,000 at 1,000 new MACs a second, 1.5 %
 * at 25,000.
 */
#define DHCP_SEEN_BITS   (1u << 21)
#define DHCP_SEEN_GEN_MS 8000
/* Replies of one batch of requests, sent after one fdatasync. */
#define DHCP_OUTBOX_MAX 64
/* A packet batch read per wake-up before the outbox is flushed. */
#define DHCP_BATCH 64
/*
 * Replies that leave from timers and promise a binding (a ROM's OFFER)
 * wait this long for others to share their lease sync.
 */
#define DHCP_SYNC_WINDOW_MS 10
/*
 * An OFFER to a client that never REQUESTs (a Pi 2/3 ROM, bootcode.bin)
 * is its lease, but binds the address only this long until the client is
 * seen using it (a TFTP request from it, dhcp_service_confirm()); a real
 * ROM asks for bootcode.bin at once.  Issue 10: DISCOVERs with the ROM's
 * fingerprint from random MACs held every address for a full lease.
 */
#define DHCP_ROM_CONFIRM_S 10
/*
 * Permanent neighbour entries for the 3B ROM (quirk 12) at most: kernel
 * state that DISCOVERs from random MACs could otherwise grow.
 */
#define DHCP_PIN_MAX 1024
/* How long an offer holds its address for a client that will REQUEST. */
#define DHCP_OFFER_HOLD_MS 30000
/* An address found in use is skipped this long (RFC 2131 §3.1.5). */
#define DHCP_QUARANTINE_MS 600000
/* A probe that found nobody is trusted this long. */
#define DHCP_PROBE_TRUST_MS 60000
/* Conflicts in a row before a request is dropped. */
#define DHCP_PROBE_ATTEMPTS 3
/*
 * How much longer than its model's own delay a reply may wait on conflict
 * probes, retries after a conflict included: the 3B ROM's DHCP timer
 * (reference §9 item 5).  Past it the request is dropped and the
 * client's retransmission starts over.
 */
#define DHCP_PROBE_BUDGET_MS 1000
#define DHCP_CLIENT_PORT     68
/*
 * Reference §9 item 5 (quirk 13): the BCM2837 ROM's DHCP timer runs about
 * 1 s, and a received reply is only taken when another frame reaches the
 * Pi after that timer (openSUSE/netboot-rpi3b); a frame 100 ms after an
 * instant reply comes too early.  So a frame to the Pi's MAC goes out
 * DHCP_FOLLOWUP_AFTER_MS after its DISCOVER arrived, and at least
 * DHCP_FOLLOWUP_GAP_MS after the reply.  Bounded: when the table is full
 * a reply goes without one (only the workaround is lost).
 */
#define DHCP_FOLLOWUP_AFTER_MS 1500
#define DHCP_FOLLOWUP_GAP_MS   100
#define DHCP_FOLLOWUP_MAX      1024

#define DHCP_DEFAULT_MENU "Raspberry Pi Boot"

static const uint8_t dhcp_ether_broadcast[6] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

struct dhcp_pending {
	struct loop_timer timer;
	struct dhcp_service *svc;
	bool used;
	bool probing;
	bool conflict;
	uint8_t attempts;
	uint32_t probe_addr;
	uint8_t mac[6];
	uint16_t port, src_port;
	uint32_t src_ip;
	uint64_t arrived_ms; /* when the request first arrived */
	uint64_t due_ms;     /* when the timer is armed for */
	bool unknown;        /* from a MAC we did not know */
	bool rom;            /* wants an on-offer binding */
	bool held;           /* waits for its client's move, not a timer */
	bool released;       /* the move is over: answer it now */
	uint32_t source;     /* giaddr or source address; 0 = none */
	size_t len;
	uint8_t pkt[DHCP_PKT_MAX];
};

/* A frame owed to a BCM2837 client after its reply (quirk 13). */
struct dhcp_followup {
	struct loop_timer timer;
	struct dhcp_service *svc;
	bool used;
	uint8_t mac[6];
};

struct dhcp_out {
	struct dhcp_dest dst;
	bool durable; /* promises a binding: only after the lease sync */
	size_t len;
	uint8_t buf[DHCP_MAX_REPLY];
};

struct dhcp_service {
	struct loop *loop;       /* borrowed */
	struct serve *serve;     /* borrowed; NULL in unit tests and fuzzing */
	struct cfg *const *cfgp; /* borrowed */
	struct dhcp_netinfo net;
	int fd, fd_proxy, fd_pkt, fd_arp;
	dhcp_send_fn send;
	void *send_arg;
	bool has_leases;
	struct dhcp_leases leases;
	struct dhcp_reservation *res; /* owned, DHCP_RESERVE_MAX */
	size_t nres;
	struct dhcp_client *clients; /* owned, DHCP_CLIENTS_MAX */
	size_t nclients;
	struct dhcp_pending *pending; /* owned, DHCP_PENDING_MAX */
	size_t npending, npending_unknown, npending_unknown_rom;
	uint8_t *seen_mem; /* owned: both generations */
	uint8_t *seen[2];  /* into seen_mem: [0] current, [1] previous */
	uint64_t seen_since_ms, seen_salt;
	struct log_ratelimit rl_shed;
	struct dhcp_followup *followups; /* owned, DHCP_FOLLOWUP_MAX */
	struct dhcp_out *outbox;         /* owned, DHCP_OUTBOX_MAX */
	size_t nout;
	struct loop_timer flush_timer; /* replies queued by timers */
	bool sync_owed;                /* a confirmation waits for a sync */
	struct loop_timer sweep_timer; /* ends unconfirmed bindings */
	size_t npinned;                /* permanent neighbour entries */
	struct dhcp_stats stats;
	struct log_ratelimit rl;
	bool next_durable; /* the reply queued next promises a binding */
};

/* One request being handled. */
struct dhcp_req {
	const struct dhcp_msg *m;
	const uint8_t *raw;
	size_t rawlen;
	uint16_t port, src_port;
	uint32_t src_ip;
	uint64_t arrived_ms; /* when the request first arrived */
	uint64_t waited_ms;  /* how long it was held for delay and probes */
	bool ready;          /* delay and probe already done */
	bool noted;          /* the client and serve have been told */
	uint8_t attempts;
	struct log_ctx log;
};

static const struct cfg *
dhcp_cfg(const struct dhcp_service *svc)
{
	return *svc->cfgp;
}

static char *
dhcp_fmt_mac(const uint8_t *mac, char *buf)
{
	sprintf(buf, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
	    mac[3], mac[4], mac[5]);
	return buf;
}

static char *
dhcp_fmt_ip(uint32_t ip, char *buf)
{
	sprintf(buf, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255,
	    ip & 255);
	return buf;
}

/* ---- clients seen ---- */

const struct dhcp_client *
dhcp_service_find_client(const struct dhcp_service *svc, const uint8_t mac[6])
{
	size_t i;

	for (i = 0; i < svc->nclients; i++) {
		if (memcmp(svc->clients[i].mac, mac, 6) == 0) {
			return &svc->clients[i];
		}
	}
	return NULL;
}

size_t
dhcp_service_clients(
    const struct dhcp_service *svc, const struct dhcp_client **out)
{
	*out = svc->clients;
	return svc->nclients;
}

/* Record a boot-capable client; evicts the least recently seen. */
static struct dhcp_client *
dhcp_note_client(struct dhcp_service *svc, const struct dhcp_msg *m,
    enum dhcp_pi_model model)
{
	struct dhcp_client *c =
	    (struct dhcp_client *)dhcp_service_find_client(svc, m->chaddr);
	int64_t now = loop_wall_s();
	uint32_t serial;

	if (!c) {
		if (svc->nclients < DHCP_CLIENTS_MAX) {
			c = &svc->clients[svc->nclients++];
		} else {
			size_t i, old = 0;

			for (i = 1; i < svc->nclients; i++) {
				if (svc->clients[i].last_seen <
				    svc->clients[old].last_seen) {
					old = i;
				}
			}
			c = &svc->clients[old];
		}
		*c = (struct dhcp_client){.first_seen = now, .arch = -1};
		memcpy(c->mac, m->chaddr, 6);
	}
	c->last_seen = now;
	c->requests++;
	/* A later, more telling request (bootcode after the ROM) wins. */
	if (model != DHCP_PI_NONE &&
	    (c->model == DHCP_PI_NONE || c->model == DHCP_PI_UNKNOWN ||
		model != DHCP_PI_UNKNOWN)) {
		c->model = model;
	}
	if (dhcp_pi_serial(m, &serial)) {
		c->serial = serial;
		c->has_serial = true;
	}
	c->arch = dhcp_client_arch(m);
	return c;
}

const struct dhcp_reservation *
dhcp_service_find_reservation(
    const struct dhcp_service *svc, const uint8_t mac[6])
{
	size_t i;

	for (i = 0; i < svc->nres; i++) {
		if (memcmp(svc->res[i].mac, mac, 6) == 0) {
			return &svc->res[i];
		}
	}
	return NULL;
}

char *
dhcp_client_tftp_prefix(const struct dhcp_service *svc,
    const struct dhcp_client *c, char *buf, size_t len)
{
	const struct dhcp_reservation *r =
	    dhcp_service_find_reservation(svc, c->mac);

	if (r && r->tftp_prefix[0]) {
		snprintf(buf, len, "%s", r->tftp_prefix);
	} else if (c->has_serial) {
		snprintf(buf, len, "%08x", c->serial);
	} else {
		snprintf(buf, len, "%02x-%02x-%02x-%02x-%02x-%02x", c->mac[0],
		    c->mac[1], c->mac[2], c->mac[3], c->mac[4], c->mac[5]);
	}
	return buf;
}

int
dhcp_service_reserve(struct dhcp_service *svc, const struct dhcp_reservation *r)
{
	struct dhcp_reservation *slot =
	    (struct dhcp_reservation *)dhcp_service_find_reservation(
		svc, r->mac);
	size_t i;

	if (r->addr) {
		if ((r->addr & svc->net.netmask) !=
			(svc->net.addr & svc->net.netmask) ||
		    r->addr == svc->net.addr) {
			return -EINVAL;
		}
		for (i = 0; i < svc->nres; i++) {
			if (svc->res[i].addr == r->addr &&
			    memcmp(svc->res[i].mac, r->mac, 6) != 0) {
				return -EEXIST;
			}
		}
	}
	if (!slot) {
		if (svc->nres == DHCP_RESERVE_MAX) {
			return -ENOSPC;
		}
		slot = &svc->res[svc->nres++];
	}
	*slot = *r;
	if (r->addr && svc->has_leases &&
	    !dhcp_leases_reserve(&svc->leases, r->mac, r->addr)) {
		svc->nres--;
		return -ENOSPC;
	}
	return 0;
}

void
dhcp_service_clear_reservations(struct dhcp_service *svc)
{
	size_t i;

	for (i = 0; svc->has_leases && i < svc->leases.nslot; i++) {
		struct dhcp_slot *sl = &svc->leases.slot[i];

		/* Our own address stays out of the pool. */
		if (sl->addr != svc->net.addr) {
			sl->reserved = false;
		}
	}
	svc->nres = 0;
}

const struct dhcp_stats *
dhcp_service_stats(const struct dhcp_service *svc)
{
	return &svc->stats;
}

void
dhcp_service_set_send(struct dhcp_service *svc, dhcp_send_fn fn, void *arg)
{
	svc->send = fn;
	svc->send_arg = arg;
}

void
dhcp_service_set_lease_io(
    struct dhcp_service *svc, const struct dhcp_lease_io *io)
{
	svc->leases.io = io;
}

/* ---- sending ---- */

/* An ARP packet in an Ethernet frame to @mac, from either packet socket. */
static int
dhcp_send_arp(struct dhcp_service *svc, const uint8_t mac[6],
    const uint8_t *arp, size_t len)
{
	int fd = svc->fd_arp >= 0 ? svc->fd_arp : svc->fd_pkt;
	struct sockaddr_ll sll = {
	    .sll_family = AF_PACKET,
	    .sll_protocol = htons(ETH_P_ARP),
	    .sll_ifindex = (int)svc->net.ifindex,
	    .sll_halen = 6,
	};

	if (fd < 0) {
		return -ENOTSOCK;
	}
	memcpy(sll.sll_addr, mac, 6);
	if (sendto(fd, arp, len, 0, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		return -errno;
	}
	return 0;
}

/*
 * An ARP request from us (RFC 826) for @target, to @mac: a conflict probe
 * when @mac is broadcast.  Lost ones cost only what they were for.
 */
static void
dhcp_arp_request(
    struct dhcp_service *svc, const uint8_t mac[6], uint32_t target)
{
	struct dhcp_dest dst = {.kind = DHCP_DEST_ARP};
	uint8_t arp[28];
	struct wcur w = wcur_init(arp, sizeof(arp));

	wcur_be16(&w, 1);
	wcur_be16(&w, ETH_P_IP);
	wcur_u8(&w, 6);
	wcur_u8(&w, 4);
	wcur_be16(&w, 1);
	wcur_bytes(&w, svc->net.mac, 6);
	wcur_be32(&w, svc->net.addr);
	wcur_zero(&w, 6);
	wcur_be32(&w, target);
	memcpy(dst.mac, mac, 6);
	(void)svc->send(svc, &dst, arp, sizeof(arp), svc->send_arg);
}

/*
 * The default sender.  Replies to clients without an address leave a
 * packet socket, with the IP and UDP headers built here: a broadcast
 * names our own address as the source whatever the interface's primary
 * address is, and a unicast to yiaddr needs no neighbour entry for an
 * address the client does not have yet (RFC 2131 §4.1: "unicasts ... to
 * the client's hardware address and 'yiaddr' address").  Pi 2/3 ROMs
 * all use xid 0x26f30339, but they leave the broadcast flag clear, so in
 * server mode each one gets its reply at its own MAC only.
 */
static int
dhcp_send_real(struct dhcp_service *svc, const struct dhcp_dest *dst,
    const uint8_t *payload, size_t len, void *arg)
{
	uint8_t frame[28 + DHCP_MAX_REPLY];
	struct wcur w = wcur_init(frame, sizeof(frame));
	uint8_t *ipcsum, *udpcsum;
	bool unicast = dst->kind == DHCP_DEST_UNICAST;
	uint32_t sum;
	uint16_t c;

	(void)arg;
	if (dst->kind == DHCP_DEST_ARP) {
		return dhcp_send_arp(svc, dst->mac, payload, len);
	}
	if (dst->kind == DHCP_DEST_UDP || svc->fd_pkt < 0) {
		/* Without a packet socket every reply is a broadcast. */
		struct sockaddr_in sin = {.sin_family = AF_INET};
		int fd = dst->kind == DHCP_DEST_UDP ? dst->fd : svc->fd;

		sin.sin_addr.s_addr = htonl(
		    dst->kind == DHCP_DEST_UDP ? dst->ip : INADDR_BROADCAST);
		sin.sin_port = htons(
		    dst->kind == DHCP_DEST_UDP ? dst->port : DHCP_CLIENT_PORT);
		if (sendto(fd, payload, len, 0, (struct sockaddr *)&sin,
			sizeof(sin)) < 0) {
			return -errno;
		}
		return 0;
	}
	wcur_u8(&w, 0x45);
	wcur_u8(&w, 0);
	wcur_be16(&w, (uint16_t)(28 + len));
	wcur_be32(&w, 0);
	wcur_u8(&w, 64);
	wcur_u8(&w, IPPROTO_UDP);
	ipcsum = wcur_reserve(&w, 2);
	wcur_be32(&w, svc->net.addr);
	wcur_be32(&w, unicast ? dst->ip : INADDR_BROADCAST);
	wcur_be16(&w, dhcp_cfg(svc)->dhcp_port);
	wcur_be16(&w, DHCP_CLIENT_PORT);
	wcur_be16(&w, (uint16_t)(8 + len));
	udpcsum = wcur_reserve(&w, 2);
	wcur_bytes(&w, payload, len);
	if (w.err) {
		return w.err;
	}
	ipcsum[0] = ipcsum[1] = 0;
	c = csum_fold(csum_add(0, frame, 20));
	ipcsum[0] = (uint8_t)(c >> 8);
	ipcsum[1] = (uint8_t)c;
	udpcsum[0] = udpcsum[1] = 0;
	/* Pseudo header: source, destination, protocol, UDP length. */
	sum = csum_add(0, frame + 12, 8);
	sum += IPPROTO_UDP + 8 + (uint32_t)len;
	sum = csum_add(sum, frame + 20, 8 + len);
	c = csum_fold(sum);
	if (c == 0) {
		c = 0xffff;
	}
	udpcsum[0] = (uint8_t)(c >> 8);
	udpcsum[1] = (uint8_t)c;
	{
		struct sockaddr_ll sll = {
		    .sll_family = AF_PACKET,
		    .sll_protocol = htons(ETH_P_IP),
		    .sll_ifindex = (int)svc->net.ifindex,
		    .sll_halen = 6,
		};

		if (unicast) {
			memcpy(sll.sll_addr, dst->mac, 6);
		} else {
			memset(sll.sll_addr, 0xff, 6);
		}
		if (sendto(svc->fd_pkt, frame, w.off, 0,
			(struct sockaddr *)&sll, sizeof(sll)) < 0) {
			return -errno;
		}
	}
	return 0;
}

static void
dhcp_send_outbox(struct dhcp_service *svc, bool durable)
{
	size_t i;
	int r;

	for (i = 0; i < svc->nout; i++) {
		struct dhcp_out *o = &svc->outbox[i];

		if (o->durable != durable) {
			continue;
		}
		r = svc->send(svc, &o->dst, o->buf, o->len, svc->send_arg);
		if (r < 0) {
			log_debug(&(struct log_ctx){.svc = "dhcp"},
			    "event=send-failed error=\"%s\"", strerror(-r));
		}
	}
}

/*
 * Send what the batch produced.  Replies that promise nothing (offers to
 * clients that will REQUEST, NAKs, proxy replies) go at once; the ones
 * that promise a binding (ACKs, a ROM's OFFER) wait for one fdatasync of
 * the batch's lease lines.  A release or decline alone never costs a
 * sync: it rides with the next one.
 */
static void
dhcp_flush(struct dhcp_service *svc)
{
	size_t i, ndurable = 0;
	int r = 0;

	if (svc->nout == 0 && !svc->sync_owed) {
		return;
	}
	dhcp_send_outbox(svc, false);
	for (i = 0; i < svc->nout; i++) {
		ndurable += svc->outbox[i].durable;
	}
	if ((ndurable || svc->sync_owed) && svc->has_leases) {
		r = dhcp_leases_sync(&svc->leases);
	}
	svc->sync_owed = false;
	if (r < 0) {
		/*
		 * Not durable: no reply may promise it.  Clients retry, and
		 * the next sync may work (a full disk frees up).
		 */
		log_err(&(struct log_ctx){.svc = "dhcp"},
		    "event=lease-sync-failed error=\"%s\" dropped=%zu",
		    strerror(-r), ndurable);
	} else if (ndurable) {
		dhcp_send_outbox(svc, true);
	}
	svc->nout = 0;
}

/*
 * After a reply queued by a timer: what promises nothing leaves now; what
 * promises a binding waits up to DHCP_SYNC_WINDOW_MS, so that the replies
 * of a storm's timers share one fdatasync, as a batch read from the
 * socket does, instead of one each.
 */
static void
dhcp_flush_soon(struct dhcp_service *svc)
{
	size_t i, n = 0;

	dhcp_send_outbox(svc, false);
	for (i = 0; i < svc->nout; i++) {
		if (svc->outbox[i].durable) {
			if (n != i) {
				svc->outbox[n] = svc->outbox[i];
			}
			n++;
		}
	}
	svc->nout = n;
	if (n && !loop_timer_is_armed(&svc->flush_timer) &&
	    loop_timer_arm(svc->loop, &svc->flush_timer,
		loop_now_ms(svc->loop) + DHCP_SYNC_WINDOW_MS) < 0) {
		dhcp_flush(svc);
	}
}

/*
 * Build @r into the outbox, addressed per RFC 2131 §4.1 in the forms of
 * reference §9 item 4: dnsmasq's, which every Pi model with a capture
 * boots from.
 */
static void
dhcp_queue(struct dhcp_service *svc, const struct dhcp_req *q,
    const struct dhcp_reply *r)
{
	struct dhcp_out *o;
	struct wcur w;
	int err;

	if (svc->nout == DHCP_OUTBOX_MAX) {
		dhcp_flush(svc);
	}
	o = &svc->outbox[svc->nout];
	w = wcur_init(o->buf, sizeof(o->buf));
	err = dhcp_build(r, &w);
	if (err < 0) {
		svc->next_durable = false;
		log_warn(
		    &q->log, "event=build-failed error=\"%s\"", strerror(-err));
		return;
	}
	o->len = w.off;
	serve_note_dhcp_reply(svc->serve, q->m, r, svc->next_durable);
	o->durable = svc->next_durable;
	svc->next_durable = false;
	o->dst = (struct dhcp_dest){.kind = DHCP_DEST_BROADCAST};
	if (q->port == dhcp_cfg(svc)->dhcp_proxy_port &&
	    dhcp_cfg(svc)->dhcp_mode == CFG_DHCP_PROXY) {
		/* PXE boot server (port 4011): the client has an address. */
		o->dst.kind = DHCP_DEST_UDP;
		o->dst.ip = q->src_ip;
		o->dst.port = q->src_port;
		o->dst.fd = svc->fd_proxy;
	} else if (q->m->giaddr) {
		/* §4.1: through the relay, to its server port. */
		o->dst.kind = DHCP_DEST_UDP;
		o->dst.ip = q->m->giaddr;
		o->dst.port = dhcp_cfg(svc)->dhcp_port;
		o->dst.fd = svc->fd;
	} else if (r->type != DHCPNAK && q->m->ciaddr) {
		/* §4.1: a client in RENEWING or INFORM has an address. */
		o->dst.kind = DHCP_DEST_UDP;
		o->dst.ip = q->m->ciaddr;
		o->dst.port = DHCP_CLIENT_PORT;
		o->dst.fd = svc->fd;
	} else if (r->type != DHCPNAK && r->yiaddr &&
	    !(r->flags & DHCP_FLAG_BROADCAST)) {
		/*
		 * §4.1: the broadcast flag is clear (every Pi leaves it so):
		 * Ethernet unicast to chaddr, IP unicast to yiaddr, as dnsmasq
		 * does.  Everything else without an address to use is a
		 * broadcast: proxy replies (flag set, yiaddr 0, as dnsmasq's;
		 * they carry nothing client-specific, so a Pi 3 reading
		 * another's loses nothing), NAKs (§4.1: always broadcast), and
		 * replies to clients that set the flag.
		 */
		o->dst.kind = DHCP_DEST_UNICAST;
		memcpy(o->dst.mac, q->m->chaddr, 6);
		o->dst.ip = r->yiaddr;
	}
	svc->nout++;
}

/* ---- reply contents ---- */

static bool
dhcp_is_bcm2837(const struct dhcp_msg *m, enum dhcp_pi_model model)
{
	static const uint8_t oui[3] = {0xb8, 0x27, 0xeb};

	/* PiServer b6adf0a: the delay only for b8:27:eb; §2.6 adds the xid. */
	return model != DHCP_PI_NONE &&
	    (m->xid == DHCP_PI_XID || memcmp(m->chaddr, oui, 3) == 0);
}

/* ROMs and bootcode.bin never REQUEST: the OFFER is the lease (quirk 1). */
static bool
dhcp_never_requests(const struct dhcp_msg *m, enum dhcp_pi_model model)
{
	return model == DHCP_PI_3B_ROM || model == DHCP_PI_BCM2837 ||
	    (model != DHCP_PI_NONE && m->xid == DHCP_PI_XID);
}

static const char *
dhcp_pick_boot_file(const struct cfg *c, const struct dhcp_msg *m)
{
	int arch = dhcp_client_arch(m);
	const char *def = NULL;
	size_t i;

	/* Break the iPXE loop: iPXE itself gets the script, not iPXE. */
	if (dhcp_is_ipxe(m) && c->dhcp_ipxe_script[0]) {
		return c->dhcp_ipxe_script;
	}
	for (i = 0; i < c->dhcp_nboot_file; i++) {
		if (c->dhcp_boot_file[i].arch == arch) {
			return c->dhcp_boot_file[i].name;
		}
		if (c->dhcp_boot_file[i].arch == -1) {
			def = c->dhcp_boot_file[i].name;
		}
	}
	return def;
}

/*
 * PXE content for a PXE client.  A Pi gets the menu of reference §2.4
 * and no boot file (it ignores it, firmware#1850); option 93 is 0 on
 * every Pi, so the architecture never chooses for a Pi (quirk 3).
 * Return: false when there is nothing to boot (a non-Pi PXE client and
 * no boot file configured).
 */
static bool
dhcp_fill_pxe(struct dhcp_service *svc, const struct dhcp_msg *m,
    enum dhcp_pi_model model, struct dhcp_reply *r)
{
	const struct dhcp_reservation *res =
	    dhcp_service_find_reservation(svc, m->chaddr);

	if (!dhcp_is_pxe(m)) {
		return false;
	}
	if (model != DHCP_PI_NONE) {
		r->pi_menu =
		    res && res->menu[0] ? res->menu : DHCP_DEFAULT_MENU;
		r->pi_menu_pad3 = res && res->menu_pad3;
	} else {
		r->file = dhcp_pick_boot_file(dhcp_cfg(svc), m);
		if (!r->file) {
			return false;
		}
		r->pxe_direct = true;
	}
	r->pxe = true;
	r->uuid = m->opt[DHCP_OPT_UUID];
	/* §2.5: siaddr = option 54 = the TFTP server (us). */
	r->siaddr = svc->net.addr;
	return true;
}

static void
dhcp_fill_net(struct dhcp_service *svc, const struct dhcp_msg *m,
    struct dhcp_reply *r, uint32_t dns[CFG_MAX_DNS])
{
	const struct cfg *c = dhcp_cfg(svc);
	const struct dhcp_reservation *res =
	    dhcp_service_find_reservation(svc, m->chaddr);
	size_t i;

	r->netmask = ntohl(c->dhcp_netmask.s_addr);
	r->router = ntohl(c->dhcp_router.s_addr);
	for (i = 0; i < c->dhcp_ndns; i++) {
		dns[i] = ntohl(c->dhcp_dns[i].s_addr);
	}
	r->dns = dns;
	r->ndns = c->dhcp_ndns;
	r->domain = c->dhcp_domain;
	r->hostname = res && res->hostname[0] ? res->hostname : NULL;
	r->siaddr = svc->net.addr;
}

/* ---- MACs that retry after being shed ---- */

static void
dhcp_seen_index(
    const struct dhcp_service *svc, const uint8_t mac[6], uint32_t ix[3])
{
	uint64_t h = svc->seen_salt ^ 0xcbf29ce484222325ull;
	int i;

	/* FNV-1a, salted per process, then a 64-bit finaliser. */
	for (i = 0; i < 6; i++) {
		h = (h ^ mac[i]) * 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	ix[0] = (uint32_t)h & (DHCP_SEEN_BITS - 1);
	ix[1] = (uint32_t)(h >> 21) & (DHCP_SEEN_BITS - 1);
	ix[2] = (uint32_t)(h >> 42) & (DHCP_SEEN_BITS - 1);
}

/* Start a new generation every DHCP_SEEN_GEN_MS. */
static void
dhcp_seen_age(struct dhcp_service *svc)
{
	uint64_t now = loop_now_ms(svc->loop);

	if (now - svc->seen_since_ms < DHCP_SEEN_GEN_MS) {
		return;
	}
	if (now - svc->seen_since_ms >= 2 * DHCP_SEEN_GEN_MS) {
		/* Both are stale. */
		memset(svc->seen[1], 0, DHCP_SEEN_BITS / 8);
	} else {
		uint8_t *prev = svc->seen[1];

		svc->seen[1] = svc->seen[0];
		svc->seen[0] = prev;
	}
	memset(svc->seen[0], 0, DHCP_SEEN_BITS / 8);
	svc->seen_since_ms = now;
}

static bool
dhcp_seen_has(struct dhcp_service *svc, const uint8_t mac[6])
{
	uint32_t ix[3];
	int g, k;

	dhcp_seen_age(svc);
	dhcp_seen_index(svc, mac, ix);
	for (g = 0; g < 2; g++) {
		const uint8_t *b = svc->seen[g];

		for (k = 0; k < 3 && (b[ix[k] / 8] >> (ix[k] % 8) & 1); k++) {
		}
		if (k == 3) {
			return true;
		}
	}
	return false;
}

static void
dhcp_seen_add(struct dhcp_service *svc, const uint8_t mac[6])
{
	uint32_t ix[3];
	int k;

	dhcp_seen_age(svc);
	dhcp_seen_index(svc, mac, ix);
	for (k = 0; k < 3; k++) {
		svc->seen[0][ix[k] / 8] |= (uint8_t)(1u << (ix[k] % 8));
	}
}

/*
 * Drop @q for lack of room, and remember its MAC: when the client
 * retries, it is known.
 */
static void
dhcp_shed(struct dhcp_service *svc, const struct dhcp_req *q, const char *why)
{
	dhcp_seen_add(svc, q->m->chaddr);
	svc->stats.shed++;
	if (log_ratelimit_ok(&svc->rl_shed, loop_now_ms(svc->loop))) {
		log_warn(&q->log,
		    "event=shed reason=%s suppressed=%u note=\"too many "
		    "requests from unknown clients at once (a flood?); "
		    "clients that retry are served\"",
		    why, svc->rl_shed.suppressed);
		svc->rl_shed.suppressed = 0;
	}
}

/* ---- pending requests (delay, probe) ---- */

static struct dhcp_pending *
dhcp_pending_find(struct dhcp_service *svc, const uint8_t mac[6])
{
	size_t i;

	if (!svc->npending) {
		return NULL;
	}
	for (i = 0; i < DHCP_PENDING_MAX; i++) {
		if (svc->pending[i].used &&
		    memcmp(svc->pending[i].mac, mac, 6) == 0) {
			return &svc->pending[i];
		}
	}
	return NULL;
}

static void dhcp_handle_msg(struct dhcp_service *svc, struct dhcp_req *q);

/* @p leaves the table, and the counts that admit requests to it. */
static void
dhcp_pending_free(struct dhcp_service *svc, struct dhcp_pending *p)
{
	p->used = false;
	svc->npending--;
	if (p->unknown) {
		svc->npending_unknown--;
		svc->npending_unknown_rom -= p->rom;
	}
}

static void
dhcp_pending_fire(struct loop *l, struct loop_timer *t)
{
	struct dhcp_pending *p = t->arg;
	struct dhcp_service *svc = p->svc;
	uint64_t now = loop_now_ms(svc->loop);
	struct dhcp_msg *m;
	struct dhcp_req q = {
	    .raw = p->pkt,
	    .rawlen = p->len,
	    .port = p->port,
	    .src_port = p->src_port,
	    .src_ip = p->src_ip,
	    .arrived_ms = p->arrived_ms,
	    .waited_ms = p->due_ms - p->arrived_ms,
	    .ready = true,
	    .noted = true,
	    .attempts = p->attempts,
	    .log = {.svc = "dhcp", .id_key = "xid"},
	};
	char a[16];

	(void)l;
	if (p->held && !p->released) {
		char mac[18];

		/* The move outlasted the hold: the firmware asks again. */
		dhcp_pending_free(svc, p);
		log_warn(&(struct log_ctx){.svc = "dhcp"},
		    "event=move-hold-expired mac=%s note=\"the client's layer "
		    "is still being built; its next request is answered "
		    "when it is\"",
		    dhcp_fmt_mac(p->mac, mac));
		return;
	}
	if (p->held) {
		/* Answered as it arrived: its delay and probe still owed. */
		q.ready = false;
		q.waited_ms = now - p->arrived_ms;
	}
	if (p->probing && svc->has_leases) {
		struct dhcp_slot *s =
		    dhcp_leases_find_addr(&svc->leases, p->probe_addr);

		if (p->conflict) {
			svc->stats.conflicts++;
			log_warn(&(struct log_ctx){.svc = "dhcp"},
			    "event=conflict addr=%s note=\"answers ARP; "
			    "skipped for %d s\"",
			    dhcp_fmt_ip(p->probe_addr, a),
			    DHCP_QUARANTINE_MS / 1000);
			if (s) {
				(void)dhcp_leases_free(
				    &svc->leases, s, DHCP_SLOT_DECLINED);
				s->until_ms = now + DHCP_QUARANTINE_MS;
			}
			/* Start over with another address. */
			q.ready = false;
			q.attempts++;
		} else {
			if (s) {
				s->probed_ok_ms = now;
			}
			p->probing = false;
			if (p->due_ms > now &&
			    loop_timer_arm(svc->loop, &p->timer, p->due_ms) ==
				0) {
				/* Clean; the reply still owes its delay. */
				return;
			}
		}
	}
	/* Free the entry first: handling may queue a new one for the MAC. */
	dhcp_pending_free(svc, p);
	m = calloc(1, sizeof(*m));
	if (m && dhcp_parse(p->pkt, p->len, m) == 0) {
		q.m = m;
		q.log.id = m->xid;
		dhcp_fmt_mac(m->chaddr, q.log.peer);
		dhcp_handle_msg(svc, &q);
		dhcp_flush_soon(svc);
	}
	free(m);
}

static void
dhcp_flush_fire(struct loop *l, struct loop_timer *t)
{
	(void)l;
	dhcp_flush(t->arg);
}

/*
 * Park @q until @due_ms (loop time); with @probe_addr, send an ARP probe
 * for it now.  Every parked request has its own timer, so probes run in
 * parallel however many clients power on at once.  @known: the MAC is
 * one we know (see DHCP_PENDING_UNKNOWN_MAX); @rom: the request wants an
 * on-offer binding.
 * Return: 1 parked, 0 already parked (a retransmission), -1 no room.
 */
static int
dhcp_pending_add(struct dhcp_service *svc, const struct dhcp_req *q,
    uint64_t due_ms, uint32_t probe_addr, bool known, bool rom)
{
	struct dhcp_pending *p = NULL;
	uint32_t source = q->m->giaddr ? q->m->giaddr : q->src_ip;
	size_t i, same_source = 0;

	if (dhcp_pending_find(svc, q->m->chaddr)) {
		/* A retransmission of a request already parked. */
		return 0;
	}
	if (q->rawlen > DHCP_PKT_MAX || svc->npending == DHCP_PENDING_MAX ||
	    (!known && svc->npending_unknown >= DHCP_PENDING_UNKNOWN_MAX)) {
		return -1;
	}
	for (i = 0; i < DHCP_PENDING_MAX; i++) {
		if (!svc->pending[i].used) {
			p = p ? p : &svc->pending[i];
		} else if (source && svc->pending[i].source == source) {
			same_source++;
		}
	}
	if (same_source >= DHCP_PENDING_PER_SOURCE) {
		return -1;
	}
	if (!p) {
		return -1;
	}
	p->svc = svc;
	p->used = true;
	p->probing = probe_addr != 0;
	p->conflict = false;
	p->attempts = q->attempts;
	p->probe_addr = probe_addr;
	memcpy(p->mac, q->m->chaddr, 6);
	p->port = q->port;
	p->src_port = q->src_port;
	p->src_ip = q->src_ip;
	p->arrived_ms = q->arrived_ms;
	p->due_ms = due_ms;
	p->unknown = !known;
	p->rom = rom;
	p->held = false;
	p->released = false;
	p->source = source;
	p->len = q->rawlen;
	memcpy(p->pkt, q->raw, q->rawlen);
	loop_timer_init(&p->timer, dhcp_pending_fire, p);
	/* A probe is judged when its time is up, inside any delay. */
	if (loop_timer_arm(svc->loop, &p->timer,
		probe_addr
		    ? loop_now_ms(svc->loop) + dhcp_cfg(svc)->dhcp_probe_ms
		    : due_ms) < 0) {
		p->used = false;
		return -1;
	}
	svc->npending++;
	if (!known) {
		svc->npending_unknown++;
		svc->npending_unknown_rom += rom;
	}
	if (probe_addr) {
		/* "Who has probe_addr?"; only a reply from it matters. */
		dhcp_arp_request(svc, dhcp_ether_broadcast, probe_addr);
		svc->stats.probes++;
	}
	return 1;
}

/*
 * Park @q until dhcp_service_release() for its MAC: its client's layer
 * is being rebuilt (a move, a volatile boot), and the boot files it
 * would fetch next are neither version's until that is done.
 */
static void
dhcp_hold(struct dhcp_service *svc, const struct dhcp_req *q)
{
	struct dhcp_pending *p;

	if (dhcp_pending_add(svc, q, q->arrived_ms + DHCP_MOVE_HOLD_MS, 0, true,
		false) <= 0) {
		/* A retransmission while held, or no room: the firmware asks
		 * again. */
		return;
	}
	p = dhcp_pending_find(svc, q->m->chaddr);
	p->held = true;
	log_info(&q->log, "event=held reason=\"its layer is being built\"");
}

void
dhcp_service_release(struct dhcp_service *svc, const uint8_t mac[6])
{
	struct dhcp_pending *p = svc ? dhcp_pending_find(svc, mac) : NULL;

	if (p && p->held && !p->released) {
		p->released = true;
		(void)loop_timer_arm(
		    svc->loop, &p->timer, loop_now_ms(svc->loop));
	}
}

void
dhcp_service_handle_arp(
    struct dhcp_service *svc, const uint8_t *buf, size_t len)
{
	struct cur c = cur_init(buf, len);
	uint16_t htype, ptype, op;
	uint8_t hlen, plen, sha[6];
	uint32_t spa;
	size_t i;

	htype = cur_be16(&c);
	ptype = cur_be16(&c);
	hlen = cur_u8(&c);
	plen = cur_u8(&c);
	op = cur_be16(&c);
	cur_copy(&c, sha, 6);
	spa = cur_be32(&c);
	if (c.err || htype != 1 || ptype != ETH_P_IP || hlen != 6 ||
	    plen != 4 || (op != 1 && op != 2) || !svc->npending) {
		return;
	}
	for (i = 0; i < DHCP_PENDING_MAX; i++) {
		struct dhcp_pending *p = &svc->pending[i];

		/* The client itself answering is no conflict. */
		if (p->used && p->probing && p->probe_addr == spa &&
		    memcmp(p->mac, sha, 6) != 0) {
			p->conflict = true;
		}
	}
}

/* ---- the frame after a BCM2837 reply (quirk 13) ---- */

static void
dhcp_followup_fire(struct loop *l, struct loop_timer *t)
{
	struct dhcp_followup *f = t->arg;

	(void)l;
	f->used = false;
	/*
	 * Any frame to the Pi's MAC will do; an announcement of our own
	 * address (RFC 5227 §2.3 form, unicast) changes nothing anywhere.
	 */
	dhcp_arp_request(f->svc, f->mac, f->svc->net.addr);
	f->svc->stats.followups++;
}

/* Owe the BCM2837 client of @q a frame after its ROM's DHCP timer. */
static void
dhcp_followup_add(struct dhcp_service *svc, const struct dhcp_req *q)
{
	uint64_t now = loop_now_ms(svc->loop);
	uint64_t at = q->arrived_ms + DHCP_FOLLOWUP_AFTER_MS;
	struct dhcp_followup *f = NULL, *free_one = NULL;
	size_t i;

	if (at < now + DHCP_FOLLOWUP_GAP_MS) {
		at = now + DHCP_FOLLOWUP_GAP_MS;
	}
	for (i = 0; i < DHCP_FOLLOWUP_MAX && !f; i++) {
		struct dhcp_followup *e = &svc->followups[i];

		if (e->used && memcmp(e->mac, q->m->chaddr, 6) == 0) {
			f = e;
		} else if (!e->used && !free_one) {
			free_one = e;
		}
	}
	if (!f) {
		f = free_one;
		if (!f) {
			return;
		}
		*f = (struct dhcp_followup){.svc = svc, .used = true};
		memcpy(f->mac, q->m->chaddr, 6);
		loop_timer_init(&f->timer, dhcp_followup_fire, f);
	}
	if (loop_timer_arm(svc->loop, &f->timer, at) < 0) {
		f->used = false;
	}
}

/* ---- proxy mode ---- */

static void
dhcp_proxy(
    struct dhcp_service *svc, struct dhcp_req *q, enum dhcp_pi_model model)
{
	const struct cfg *c = dhcp_cfg(svc);
	const struct dhcp_msg *m = q->m;
	bool boot_server = q->port == c->dhcp_proxy_port;
	struct dhcp_reply r;
	char a[16];

	/* §2.6: port 67 answers DISCOVERs only; 4011 REQUESTs only. */
	if (boot_server ? m->type != DHCPREQUEST : m->type != DHCPDISCOVER) {
		svc->stats.dropped++;
		return;
	}
	dhcp_reply_init(&r, m, boot_server ? DHCPACK : DHCPOFFER);
	if (!dhcp_fill_pxe(svc, m, model, &r)) {
		log_debug(&q->log,
		    "event=ignore reason=\"no boot file for "
		    "this PXE client\"");
		svc->stats.dropped++;
		return;
	}
	/* §2.4: yiaddr 0, flags 0x8000 (dnsmasq's proxy reply). */
	r.flags = DHCP_FLAG_BROADCAST;
	r.server_id = svc->net.addr;
	r.ciaddr = boot_server ? m->ciaddr : 0;
	if (!boot_server && !q->ready && c->dhcp_pi_delay_ms &&
	    dhcp_is_bcm2837(m, model)) {
		int pr = dhcp_pending_add(svc, q,
		    q->arrived_ms + c->dhcp_pi_delay_ms, 0,
		    dhcp_seen_has(svc, m->chaddr), false);

		if (pr > 0) {
			svc->stats.delayed++;
		} else if (pr < 0) {
			dhcp_shed(svc, q, "waiting-table-full");
		}
		return;
	}
	dhcp_queue(svc, q, &r);
	if (!boot_server && dhcp_is_bcm2837(m, model)) {
		dhcp_followup_add(svc, q);
	}
	svc->stats.proxy_replies++;
	log_info(&q->log, "event=proxy-%s model=%s siaddr=%s",
	    boot_server ? "ack" : "offer", dhcp_pi_model_name(model),
	    dhcp_fmt_ip(svc->net.addr, a));
}

/* ---- server mode ---- */

static void
dhcp_note_addr(
    struct dhcp_service *svc, const struct dhcp_msg *m, uint32_t addr)
{
	struct dhcp_client *c =
	    (struct dhcp_client *)dhcp_service_find_client(svc, m->chaddr);

	if (c) {
		c->addr = addr;
	}
}

/*
 * Quirk 12: the 3B ROM answers ARP only while it initialises, so when the
 * server's neighbour entry for it goes stale mid-transfer, TFTP stalls.
 * An entry for the address it was offered lets DATA flow without asking;
 * TFTP keeps it confirmed while the Pi ACKs (MSG_CONFIRM).  It is not
 * permanent: a permanent entry outlived the lease and the process, so
 * once the address belonged to another machine (the next boot, another
 * DHCP server on the host) everything sent to it went to the old MAC.
 * It is removed when the address goes to another client.
 * Only with real sockets (not in tests or fuzzing), and only on the
 * server's interface; a failure costs nothing but the workaround.
 */
static void
dhcp_pin_neigh(struct dhcp_service *svc, struct dhcp_slot *sl,
    const uint8_t *mac, const struct log_ctx *log)
{
	struct arpreq ar;
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&ar.arp_pa;
	uint32_t addr = sl->addr;

	if (svc->fd < 0 || (!mac && !sl->neigh_pinned)) {
		return;
	}
	if (mac && !sl->neigh_pinned && svc->npinned >= DHCP_PIN_MAX) {
		log_debug(
		    log, "event=neigh-pin-skipped pinned=%zu", svc->npinned);
		return;
	}
	memset(&ar, 0, sizeof(ar));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(addr);
	ar.arp_ha.sa_family = ARPHRD_ETHER;
	if (mac) {
		memcpy(ar.arp_ha.sa_data, mac, 6);
	}
	ar.arp_flags = ATF_COM;
	if (strlen(svc->net.ifname) >= sizeof(ar.arp_dev)) {
		return;
	}
	memcpy(ar.arp_dev, svc->net.ifname, strlen(svc->net.ifname) + 1);
	/* @mac NULL: the address changed hands; drop the old pin. */
	if (ioctl(svc->fd, mac ? SIOCSARP : SIOCDARP, &ar) < 0) {
		log_debug(log, "event=neigh-%s-failed error=\"%s\"",
		    mac ? "pin" : "unpin", strerror(errno));
	}
	if (sl->neigh_pinned != (mac != NULL)) {
		svc->npinned += mac ? 1 : (size_t)-1;
	}
	sl->neigh_pinned = mac != NULL;
}

static void dhcp_sweep_fire(struct loop *l, struct loop_timer *t);

/* End unconfirmed on-offer bindings once a second while there are any. */
static void
dhcp_sweep_arm(struct dhcp_service *svc)
{
	if (svc->leases.tentative && !loop_timer_is_armed(&svc->sweep_timer)) {
		(void)loop_timer_arm(svc->loop, &svc->sweep_timer,
		    loop_now_ms(svc->loop) + 1000);
	}
}

static void
dhcp_sweep_expired(void *arg, struct dhcp_slot *s)
{
	char a[16], mb[18];

	(void)arg;
	/*
	 * The pin (quirk 12) stays until the address goes to another
	 * client, which replaces or drops it, so a flood's pins are bounded
	 * by the addresses its bindings can hold at once.
	 */
	log_debug(&(struct log_ctx){.svc = "dhcp"},
	    "event=unconfirmed-expired addr=%s mac=%s", dhcp_fmt_ip(s->addr, a),
	    dhcp_fmt_mac(s->mac, mb));
}

static void
dhcp_sweep_fire(struct loop *l, struct loop_timer *t)
{
	struct dhcp_service *svc = t->arg;

	(void)l;
	dhcp_leases_expire_tentative(
	    &svc->leases, loop_wall_s(), dhcp_sweep_expired, svc);
	dhcp_sweep_arm(svc);
}

/* Do unconfirmed on-offer bindings hold all the pool they may? */
static bool
dhcp_rom_quota_full(const struct dhcp_service *svc)
{
	size_t quota = svc->leases.count / 2;

	if (quota > DHCP_ROM_UNCONFIRMED_MAX) {
		quota = DHCP_ROM_UNCONFIRMED_MAX;
	}
	return svc->leases.tentative + svc->npending_unknown_rom >= quota;
}

static void
dhcp_discover(
    struct dhcp_service *svc, struct dhcp_req *q, enum dhcp_pi_model model)
{
	const struct cfg *c = dhcp_cfg(svc);
	const struct dhcp_msg *m = q->m;
	struct dhcp_leases *t = &svc->leases;
	uint64_t now = loop_now_ms(svc->loop);
	int64_t wall = loop_wall_s();
	struct dhcp_slot *s = dhcp_leases_find_mac(t, m->chaddr);
	bool rom = dhcp_never_requests(m, model), fresh = false, known;
	uint32_t dns[CFG_MAX_DNS];
	struct dhcp_reply r;
	char a[16];

	if (!q->ready && dhcp_pending_find(svc, m->chaddr)) {
		/* A retransmission while the first copy waits. */
		return;
	}
	if (s && s->state == DHCP_SLOT_DECLINED) {
		s = NULL;
	}
	known = s || dhcp_service_find_reservation(svc, m->chaddr) ||
	    dhcp_seen_has(svc, m->chaddr);
	if (!q->ready && rom && !known && dhcp_rom_quota_full(svc)) {
		dhcp_shed(svc, q, "unconfirmed-rom-bindings");
		return;
	}
	if (!s) {
		s = dhcp_leases_alloc(t, m->chaddr, now, wall);
		fresh = true;
	}
	if (!s) {
		svc->stats.exhausted++;
		if (log_ratelimit_ok(&svc->rl, now)) {
			log_warn(&q->log,
			    "event=pool-exhausted note=\"every address "
			    "is bound: widen --dhcp-range\"");
		}
		return;
	}
	if (!dhcp_slot_is_live(s, wall)) {
		s->state = DHCP_SLOT_OFFERED;
		s->until_ms = now + DHCP_OFFER_HOLD_MS + c->dhcp_pi_delay_ms;
	}
	if (!q->ready) {
		/* §2.6: look before handing out an address nobody vouched for.
		 */
		bool probe = c->dhcp_probe_ms && !s->reserved && fresh &&
		    (!s->probed_ok_ms ||
			now - s->probed_ok_ms > DHCP_PROBE_TRUST_MS);
		bool delay = dhcp_is_bcm2837(m, model) && c->dhcp_pi_delay_ms;
		/*
		 * The model's delay counts from the DISCOVER's arrival, so a
		 * retry after a conflict does not serve it twice; a probe
		 * overlaps it and only what it adds counts against the
		 * budget.
		 */
		uint64_t due =
		    q->arrived_ms + (delay ? c->dhcp_pi_delay_ms : 0);

		if (q->attempts >= DHCP_PROBE_ATTEMPTS) {
			return;
		}
		if (probe && now + c->dhcp_probe_ms > due) {
			if (now + c->dhcp_probe_ms - due >
			    DHCP_PROBE_BUDGET_MS) {
				svc->stats.dropped++;
				log_info(&q->log,
				    "event=probe-budget-spent attempts=%u "
				    "note=\"addresses in use; the client's "
				    "retry starts over\"",
				    q->attempts);
				return;
			}
			due = now + c->dhcp_probe_ms;
		}
		if (due > now) {
			int pr = dhcp_pending_add(
			    svc, q, due, probe ? s->addr : 0, known, rom);

			if (pr >= 0) {
				svc->stats.delayed += pr > 0 && delay ? 1 : 0;
				return;
			}
			/*
			 * No room to wait: never an offer without its delay or
			 * its probe.  The client retries (ROM 5 s, EEPROM 4 s)
			 * and is known then.
			 */
			dhcp_shed(svc, q, "waiting-table-full");
			return;
		}
	}
	if (rom) {
		/*
		 * A binding the client has been seen using, or a reserved
		 * address, is a full lease; anything else stays on-offer until
		 * the client shows up using it (DHCP_ROM_CONFIRM_S).
		 */
		bool confirmed = s->reserved ||
		    (dhcp_slot_is_live(s, wall) && !s->tentative);
		int err = confirmed
		    ? dhcp_leases_bind(t, s, wall + c->dhcp_lease_s)
		    : dhcp_leases_bind_tentative(
			  t, s, wall + DHCP_ROM_CONFIRM_S);

		if (err < 0) {
			log_err(&q->log, "event=lease-write-failed");
			return;
		}
		dhcp_sweep_arm(svc);
	}
	if (model == DHCP_PI_3B_ROM || model == DHCP_PI_BCM2837) {
		dhcp_pin_neigh(svc, s, m->chaddr, &q->log);
	} else if (fresh) {
		dhcp_pin_neigh(svc, s, NULL, &q->log);
	}
	dhcp_reply_init(&r, m, DHCPOFFER);
	dhcp_fill_net(svc, m, &r, dns);
	r.yiaddr = s->addr;
	r.server_id = svc->net.addr;
	r.lease_s = c->dhcp_lease_s;
	(void)dhcp_fill_pxe(svc, m, model, &r);
	svc->next_durable = rom;
	dhcp_queue(svc, q, &r);
	if (dhcp_is_bcm2837(m, model)) {
		dhcp_followup_add(svc, q);
	}
	dhcp_note_addr(svc, m, s->addr);
	svc->stats.offers++;
	/* held_ms: what the server decided to wait (delay, probes). */
	if (model != DHCP_PI_NONE || dhcp_is_pxe(m)) {
		log_info(&q->log, "event=offer addr=%s model=%s held_ms=%llu%s",
		    dhcp_fmt_ip(s->addr, a), dhcp_pi_model_name(model),
		    (unsigned long long)q->waited_ms,
		    !rom               ? ""
			: s->tentative ? " bound=on-offer-unconfirmed"
				       : " bound=on-offer");
	} else {
		log_debug(&q->log, "event=offer addr=%s held_ms=%llu",
		    dhcp_fmt_ip(s->addr, a), (unsigned long long)q->waited_ms);
	}
}

static void
dhcp_nak(struct dhcp_service *svc, struct dhcp_req *q, const char *why)
{
	struct dhcp_reply r;

	dhcp_reply_init(&r, q->m, DHCPNAK);
	r.server_id = svc->net.addr;
	r.message = why;
	dhcp_queue(svc, q, &r);
	svc->stats.naks++;
	log_info(&q->log, "event=nak reason=\"%s\"", why);
}

static void
dhcp_ack(struct dhcp_service *svc, struct dhcp_req *q, enum dhcp_pi_model model,
    struct dhcp_slot *s)
{
	const struct cfg *c = dhcp_cfg(svc);
	uint32_t dns[CFG_MAX_DNS];
	struct dhcp_reply r;
	char a[16];

	if (dhcp_leases_bind(&svc->leases, s, loop_wall_s() + c->dhcp_lease_s) <
	    0) {
		log_err(&q->log, "event=lease-write-failed");
		return;
	}
	dhcp_reply_init(&r, q->m, DHCPACK);
	dhcp_fill_net(svc, q->m, &r, dns);
	r.ciaddr = q->m->ciaddr;
	r.yiaddr = s->addr;
	r.server_id = svc->net.addr;
	r.lease_s = c->dhcp_lease_s;
	/* The EEPROM's REQUEST has no option 60: plain ACK (§2.6). */
	(void)dhcp_fill_pxe(svc, q->m, model, &r);
	svc->next_durable = true;
	dhcp_queue(svc, q, &r);
	dhcp_note_addr(svc, q->m, s->addr);
	svc->stats.acks++;
	log_info(&q->log, "event=ack addr=%s", dhcp_fmt_ip(s->addr, a));
}

static bool
dhcp_in_subnet(const struct dhcp_service *svc, uint32_t addr)
{
	return (addr & svc->net.netmask) == (svc->net.addr & svc->net.netmask);
}

/* RFC 2131 §4.3.2: SELECTING, INIT-REBOOT, RENEWING/REBINDING. */
static void
dhcp_request(
    struct dhcp_service *svc, struct dhcp_req *q, enum dhcp_pi_model model)
{
	const struct dhcp_msg *m = q->m;
	struct dhcp_leases *t = &svc->leases;
	struct dhcp_slot *s = dhcp_leases_find_mac(t, m->chaddr);
	uint32_t sid, want = 0;
	bool has_sid = dhcp_opt_addr(m, DHCP_OPT_SERVER_ID, &sid);
	bool has_want = dhcp_opt_addr(m, DHCP_OPT_REQUESTED_IP, &want);

	if (has_sid && sid != svc->net.addr) {
		/* The client chose another server: drop our offer. */
		if (s && s->state == DHCP_SLOT_OFFERED) {
			s->state = DHCP_SLOT_RELEASED;
		}
		return;
	}
	if (!has_want) {
		want = m->ciaddr;
	}
	if (!want) {
		svc->stats.dropped++;
		return;
	}
	if (s && s->state != DHCP_SLOT_DECLINED && s->addr == want) {
		dhcp_ack(svc, q, model, s);
		return;
	}
	if (dhcp_in_subnet(svc, want)) {
		struct dhcp_slot *f = dhcp_leases_find_addr(t, want);

		/*
		 * SELECTING an address we offered that a later DISCOVER has
		 * taken over: when the pool is full of unanswered offers (a
		 * flood from random MACs), each new DISCOVER gets the oldest
		 * one, and a small pool cycles faster than a Pi 4 sends its
		 * REQUEST.  The client that REQUESTs wins over an offer nobody
		 * acknowledged; the other gets a NAK if it ever REQUESTs.
		 */
		bool selecting_lost_offer = has_sid && f && !f->reserved &&
		    f->state == DHCP_SLOT_OFFERED &&
		    (!s || s->state != DHCP_SLOT_BOUND);
		/*
		 * A client we have no record of: INIT-REBOOT or RENEWING
		 * after our state was lost, or SELECTING an offer made just
		 * before a restart (offers are not persisted).  Confirm the
		 * address if it is a free pool address.
		 */
		bool unknown_on_free = !s && f && !f->reserved &&
		    (f->state == DHCP_SLOT_FREE ||
			(f->state == DHCP_SLOT_RELEASED && !f->has_mac));

		if (selecting_lost_offer || unknown_on_free) {
			/* A pin (quirk 12) named the previous holder. */
			dhcp_pin_neigh(svc, f, NULL, &q->log);
			dhcp_leases_take(t, f, m->chaddr);
			dhcp_ack(svc, q, model, f);
			return;
		}
	}
	dhcp_nak(svc, q,
	    dhcp_in_subnet(svc, want) ? "address not yours" : "wrong network");
}

void
dhcp_service_confirm(struct dhcp_service *svc, uint32_t addr)
{
	struct dhcp_slot *s;
	char a[16];

	if (!svc->has_leases) {
		return;
	}
	s = dhcp_leases_find_addr(&svc->leases, addr);
	if (!s || !s->tentative || s->state != DHCP_SLOT_BOUND) {
		return;
	}
	if (dhcp_leases_bind(&svc->leases, s,
		loop_wall_s() + dhcp_cfg(svc)->dhcp_lease_s) < 0) {
		log_err(&(struct log_ctx){.svc = "dhcp"},
		    "event=lease-write-failed addr=%s", dhcp_fmt_ip(addr, a));
		return;
	}
	/* Durable soon, with whatever else needs a sync. */
	svc->sync_owed = true;
	if (!loop_timer_is_armed(&svc->flush_timer)) {
		(void)loop_timer_arm(svc->loop, &svc->flush_timer,
		    loop_now_ms(svc->loop) + DHCP_SYNC_WINDOW_MS);
	}
	{
		struct log_ctx lc = {.svc = "dhcp"};

		dhcp_fmt_mac(s->mac, lc.peer);
		log_info(&lc, "event=confirmed addr=%s via=tftp",
		    dhcp_fmt_ip(addr, a));
	}
}

void
dhcp_serve_confirm(void *arg, struct in_addr client)
{
	struct serve *s = arg;

	if (s->dhcp) {
		dhcp_service_confirm(s->dhcp, ntohl(client.s_addr));
	}
}

static void
dhcp_server(
    struct dhcp_service *svc, struct dhcp_req *q, enum dhcp_pi_model model)
{
	const struct dhcp_msg *m = q->m;
	struct dhcp_slot *s;
	uint32_t a;
	char ab[16];

	if (q->port != dhcp_cfg(svc)->dhcp_port) {
		return;
	}
	switch (m->type) {
	case DHCPDISCOVER:
		dhcp_discover(svc, q, model);
		break;
	case DHCPREQUEST:
		dhcp_request(svc, q, model);
		break;
	case DHCPDECLINE:
		s = dhcp_leases_find_mac(&svc->leases, m->chaddr);
		if (s && dhcp_opt_addr(m, DHCP_OPT_REQUESTED_IP, &a) &&
		    a == s->addr) {
			(void)dhcp_leases_free(
			    &svc->leases, s, DHCP_SLOT_DECLINED);
			s->until_ms =
			    loop_now_ms(svc->loop) + DHCP_QUARANTINE_MS;
			svc->stats.declines++;
			/*
			 * Synced with the next reply: if a crash loses it, the
			 * conflict check finds the address in use again.
			 */
			log_warn(&q->log, "event=decline addr=%s",
			    dhcp_fmt_ip(a, ab));
		}
		break;
	case DHCPRELEASE:
		s = dhcp_leases_find_mac(&svc->leases, m->chaddr);
		if (s && s->addr == m->ciaddr && s->state == DHCP_SLOT_BOUND) {
			/* Losing a release in a crash only holds it longer. */
			(void)dhcp_leases_free(
			    &svc->leases, s, DHCP_SLOT_RELEASED);
			svc->stats.releases++;
			log_info(&q->log, "event=release addr=%s",
			    dhcp_fmt_ip(m->ciaddr, ab));
		}
		break;
	case DHCPINFORM: {
		uint32_t dns[CFG_MAX_DNS];
		struct dhcp_reply r;

		if (!m->ciaddr) {
			break;
		}
		/* RFC 2131 §4.3.5: configuration, no address, no lease. */
		dhcp_reply_init(&r, m, DHCPACK);
		dhcp_fill_net(svc, m, &r, dns);
		r.ciaddr = m->ciaddr;
		r.server_id = svc->net.addr;
		(void)dhcp_fill_pxe(svc, m, model, &r);
		dhcp_queue(svc, q, &r);
		svc->stats.informs++;
		break;
	}
	default:
		svc->stats.dropped++;
		break;
	}
}

static void
dhcp_handle_msg(struct dhcp_service *svc, struct dhcp_req *q)
{
	const struct dhcp_msg *m = q->m;
	enum dhcp_pi_model model = dhcp_pi_model(m);

	if (m->op != DHCP_BOOTREQUEST || m->type == 0) {
		svc->stats.dropped++;
		return;
	}
	if (!q->noted) {
		q->noted = true;
		if (model != DHCP_PI_NONE || dhcp_is_pxe(m)) {
			dhcp_note_client(svc, m, model);
		}
		if (serve_note_dhcp_request(svc->serve, m, model)) {
			dhcp_hold(svc, q);
			return;
		}
	}
	switch (dhcp_cfg(svc)->dhcp_mode) {
	case CFG_DHCP_PROXY:
		/* Never disturb other hosts: PXE clients only. */
		if (dhcp_is_pxe(m)) {
			dhcp_proxy(svc, q, model);
		}
		break;
	case CFG_DHCP_SERVER:
		if (svc->has_leases) {
			dhcp_server(svc, q, model);
		}
		break;
	case CFG_DHCP_OFF:
		break;
	}
}

static void
dhcp_handle_one(struct dhcp_service *svc, const uint8_t *buf, size_t len,
    uint16_t port, uint32_t src_ip, uint16_t src_port, struct dhcp_msg *m)
{
	struct dhcp_req q = {
	    .m = m,
	    .raw = buf,
	    .rawlen = len,
	    .port = port,
	    .src_port = src_port,
	    .src_ip = src_ip,
	    .arrived_ms = loop_now_ms(svc->loop),
	    .log = {.svc = "dhcp", .id_key = "xid"},
	};
	int r;

	svc->stats.rx++;
	r = dhcp_parse(buf, len, m);
	if (r < 0) {
		svc->stats.malformed++;
		if (svc->serve && svc->serve->obs) {
			svc->serve->obs->c.dhcp_dropped++;
		}
		if (log_ratelimit_ok(&svc->rl, loop_now_ms(svc->loop))) {
			char a[16];

			log_warn(&(struct log_ctx){.svc = "dhcp"},
			    "event=malformed peer=%s:%u len=%zu error=\"%s\" "
			    "suppressed=%u",
			    dhcp_fmt_ip(src_ip, a), src_port, len,
			    pnb_strerror(r), svc->rl.suppressed);
			svc->rl.suppressed = 0;
		}
		return;
	}
	q.log.id = m->xid;
	dhcp_fmt_mac(m->chaddr, q.log.peer);
	dhcp_handle_msg(svc, &q);
}

void
dhcp_service_handle_packet(struct dhcp_service *svc, const uint8_t *buf,
    size_t len, uint16_t port, uint32_t src_ip, uint16_t src_port)
{
	struct dhcp_msg *m = calloc(1, sizeof(*m));

	if (!m) {
		return;
	}
	dhcp_handle_one(svc, buf, len, port, src_ip, src_port, m);
	dhcp_flush(svc);
	free(m);
}

/* ---- sockets ---- */

static void
dhcp_handle_udp(struct loop *l, int fd, unsigned events, void *arg)
{
	struct dhcp_service *svc = arg;
	uint8_t buf[DHCP_PKT_MAX];
	struct dhcp_msg *m = calloc(1, sizeof(*m));
	uint16_t port = fd == svc->fd ? dhcp_cfg(svc)->dhcp_port
				      : dhcp_cfg(svc)->dhcp_proxy_port;
	int i;

	(void)l;
	(void)events;
	if (!m) {
		return;
	}
	/*
	 * Read a batch, then sync the lease log once and send every reply:
	 * one fdatasync for many ACKs is what makes persisted leases cheap.
	 */
	for (i = 0; i < DHCP_BATCH; i++) {
		struct sockaddr_in sin;
		socklen_t sl = sizeof(sin);
		ssize_t n = recvfrom(
		    fd, buf, sizeof(buf), 0, (struct sockaddr *)&sin, &sl);

		if (n < 0) {
			break;
		}
		dhcp_handle_one(svc, buf, (size_t)n, port,
		    ntohl(sin.sin_addr.s_addr), ntohs(sin.sin_port), m);
	}
	dhcp_flush(svc);
	free(m);
}

static void
dhcp_handle_arp_fd(struct loop *l, int fd, unsigned events, void *arg)
{
	struct dhcp_service *svc = arg;
	uint8_t buf[128];
	int i;

	(void)l;
	(void)events;
	for (i = 0; i < DHCP_BATCH; i++) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0) {
			break;
		}
		dhcp_service_handle_arp(svc, buf, (size_t)n);
	}
}

static int
dhcp_open_udp(struct dhcp_service *svc, uint16_t port, char *msg, size_t msglen)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd, one = 1, rcvbuf = 1 << 20;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(msg, msglen, "dhcp: socket: %s", strerror(errno));
		return -errno;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (svc->net.ifname[0]) {
		(void)setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE,
		    svc->net.ifname, (socklen_t)strlen(svc->net.ifname));
	}
	sin.sin_port = htons(port);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		int e = errno;

		if (e == EADDRINUSE) {
			snprintf(msg, msglen,
			    "UDP port %u is already in use by another "
			    "process (another DHCP server such as dnsmasq?): "
			    "stop it, or run with --dhcp off",
			    port);
		} else {
			snprintf(msg, msglen,
			    "dhcp: cannot bind UDP port %u: %s", port,
			    strerror(e));
		}
		close(fd);
		return -e;
	}
	return fd;
}

static int
dhcp_open_packet(struct dhcp_service *svc, uint16_t proto)
{
	struct sockaddr_ll sll = {
	    .sll_family = AF_PACKET,
	    .sll_protocol = htons(proto),
	    .sll_ifindex = (int)svc->net.ifindex,
	};
	int fd = socket(
	    AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(proto));

	if (fd < 0) {
		return -errno;
	}
	if (proto == ETH_P_IP) {
		/* Send only: receive nothing on this socket. */
		sll.sll_protocol = 0;
	}
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

int
dhcp_service_new(struct loop *l, struct cfg *const *cfgp,
    const struct dhcp_netinfo *net, const char *lease_path,
    struct dhcp_service **out, char *msg, size_t msglen)
{
	struct dhcp_service *svc = calloc(1, sizeof(*svc));
	const struct cfg *c = *cfgp;
	int r;

	*out = NULL;
	if (!svc) {
		snprintf(msg, msglen, "dhcp: out of memory");
		return -ENOMEM;
	}
	*svc = (struct dhcp_service){
	    .loop = l,
	    .cfgp = cfgp,
	    .net = *net,
	    .fd = -1,
	    .fd_proxy = -1,
	    .fd_pkt = -1,
	    .fd_arp = -1,
	    .send = dhcp_send_real,
	};
	loop_timer_init(&svc->flush_timer, dhcp_flush_fire, svc);
	loop_timer_init(&svc->sweep_timer, dhcp_sweep_fire, svc);
	svc->res = calloc(DHCP_RESERVE_MAX, sizeof(*svc->res));
	svc->clients = calloc(DHCP_CLIENTS_MAX, sizeof(*svc->clients));
	svc->pending = calloc(DHCP_PENDING_MAX, sizeof(*svc->pending));
	svc->followups = calloc(DHCP_FOLLOWUP_MAX, sizeof(*svc->followups));
	svc->seen_mem = calloc(2, DHCP_SEEN_BITS / 8);
	svc->seen[0] = svc->seen_mem;
	svc->seen[1] =
	    svc->seen_mem ? svc->seen_mem + DHCP_SEEN_BITS / 8 : NULL;
	svc->seen_since_ms = loop_now_ms(l);
	if (getrandom(&svc->seen_salt, sizeof(svc->seen_salt), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(svc->seen_salt)) {
		svc->seen_salt = loop_clock_us() ^ (uint64_t)getpid() << 32;
	}
	svc->outbox = calloc(DHCP_OUTBOX_MAX, sizeof(*svc->outbox));
	if (!svc->res || !svc->clients || !svc->pending || !svc->followups ||
	    !svc->seen_mem || !svc->outbox) {
		snprintf(msg, msglen, "dhcp: out of memory");
		r = -ENOMEM;
		goto fail;
	}
	if (c->dhcp_mode == CFG_DHCP_SERVER) {
		uint32_t first = ntohl(c->dhcp_range_start.s_addr);
		uint32_t last = ntohl(c->dhcp_range_end.s_addr);
		struct dhcp_slot *self;
		char a[16], b[16], n[16];

		if (!dhcp_in_subnet(svc, first) || !dhcp_in_subnet(svc, last)) {
			snprintf(msg, msglen,
			    "the DHCP range %s-%s is outside the subnet "
			    "of %s (%s/%s): change --dhcp-range",
			    dhcp_fmt_ip(first, a), dhcp_fmt_ip(last, b),
			    net->ifname, dhcp_fmt_ip(net->addr, n),
			    inet_ntoa((struct in_addr){htonl(net->netmask)}));
			r = -EINVAL;
			goto fail;
		}
		r = dhcp_leases_init(
		    &svc->leases, first, last, lease_path, loop_wall_s());
		if (r == -EMSGSIZE) {
			snprintf(msg, msglen,
			    "the DHCP range holds more than %d "
			    "addresses: narrow --dhcp-range",
			    DHCP_POOL_MAX);
			goto fail;
		}
		if (r < 0) {
			snprintf(msg, msglen, "dhcp: cannot load leases %s: %s",
			    lease_path ? lease_path : "", strerror(-r));
			goto fail;
		}
		svc->has_leases = true;
		/* Our own address is never handed out. */
		self = dhcp_leases_find_addr(&svc->leases, net->addr);
		if (self) {
			self->reserved = true;
		}
	}
	*out = svc;
	return 0;
fail:
	dhcp_service_close(svc);
	return r;
}

/* Make STATE/dhcp; the state directory itself must exist or be creatable. */
static int
dhcp_state_path(
    const struct cfg *c, char *path, size_t len, char *msg, size_t msglen)
{
	char dir[4096];

	if (snprintf(dir, sizeof(dir), "%s/dhcp", c->state_dir) >=
	    (int)sizeof(dir)) {
		snprintf(msg, msglen, "state directory path too long");
		return -ENAMETOOLONG;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		snprintf(msg, msglen,
		    "cannot create %s: %s: fix --state-dir or its permissions",
		    dir, strerror(errno));
		return -errno;
	}
	if (snprintf(path, len, "%s/leases", dir) >= (int)len) {
		snprintf(msg, msglen, "state directory path too long");
		return -ENAMETOOLONG;
	}
	return 0;
}

int
dhcp_service_open(struct loop *l, struct cfg *const *cfgp,
    const struct dhcp_netinfo *net, struct dhcp_service **out, char *msg,
    size_t msglen)
{
	const struct cfg *c = *cfgp;
	struct dhcp_service *svc;
	char path[4200];
	int r;

	*out = NULL;
	if (c->dhcp_mode == CFG_DHCP_SERVER) {
		r = dhcp_state_path(c, path, sizeof(path), msg, msglen);
		if (r < 0) {
			return r;
		}
	}
	r = dhcp_service_new(l, cfgp, net,
	    c->dhcp_mode == CFG_DHCP_SERVER ? path : NULL, &svc, msg, msglen);
	if (r < 0) {
		return r;
	}
	r = dhcp_open_udp(svc, c->dhcp_port, msg, msglen);
	if (r < 0) {
		goto fail;
	}
	svc->fd = r;
	if (c->dhcp_mode == CFG_DHCP_PROXY) {
		r = dhcp_open_udp(svc, c->dhcp_proxy_port, msg, msglen);
		if (r < 0) {
			goto fail;
		}
		svc->fd_proxy = r;
	}
	/* Without CAP_NET_RAW, fall back to IP broadcast and no probes. */
	svc->fd_pkt = dhcp_open_packet(svc, ETH_P_IP);
	if (c->dhcp_mode == CFG_DHCP_SERVER && c->dhcp_probe_ms) {
		svc->fd_arp = dhcp_open_packet(svc, ETH_P_ARP);
	}
	if (svc->fd_pkt < 0) {
		log_warn(&(struct log_ctx){.svc = "dhcp"},
		    "event=no-packet-socket error=\"%s\" note=\"replies "
		    "go out as Ethernet broadcasts\"",
		    strerror(-svc->fd_pkt));
	}
	r = loop_add_fd(l, svc->fd, LOOP_READ, dhcp_handle_udp, svc);
	if (r == 0 && svc->fd_proxy >= 0) {
		r = loop_add_fd(
		    l, svc->fd_proxy, LOOP_READ, dhcp_handle_udp, svc);
	}
	if (r == 0 && svc->fd_arp >= 0) {
		r = loop_add_fd(
		    l, svc->fd_arp, LOOP_READ, dhcp_handle_arp_fd, svc);
	}
	if (r < 0) {
		snprintf(msg, msglen, "dhcp: event loop: %s", strerror(-r));
		goto fail;
	}
	*out = svc;
	return 0;
fail:
	dhcp_service_close(svc);
	return r;
}

void
dhcp_service_close(struct dhcp_service *svc)
{
	size_t i;

	if (!svc) {
		return;
	}
	if (svc->pending) {
		for (i = 0; i < DHCP_PENDING_MAX; i++) {
			if (svc->pending[i].used) {
				loop_timer_cancel(
				    svc->loop, &svc->pending[i].timer);
			}
		}
	}
	loop_timer_cancel(svc->loop, &svc->flush_timer);
	loop_timer_cancel(svc->loop, &svc->sweep_timer);
	if (svc->outbox) {
		dhcp_flush(svc);
	}
	if (svc->followups) {
		for (i = 0; i < DHCP_FOLLOWUP_MAX; i++) {
			if (svc->followups[i].used) {
				loop_timer_cancel(
				    svc->loop, &svc->followups[i].timer);
			}
		}
	}
	if (svc->fd >= 0) {
		loop_close_fd(svc->loop, svc->fd);
	}
	if (svc->fd_proxy >= 0) {
		loop_close_fd(svc->loop, svc->fd_proxy);
	}
	if (svc->fd_arp >= 0) {
		loop_close_fd(svc->loop, svc->fd_arp);
	}
	if (svc->fd_pkt >= 0) {
		close(svc->fd_pkt);
	}
	if (svc->has_leases) {
		(void)dhcp_leases_sync(&svc->leases);
		dhcp_leases_fini(&svc->leases);
	}
	free(svc->res);
	free(svc->clients);
	free(svc->pending);
	free(svc->followups);
	free(svc->seen_mem);
	free(svc->outbox);
	free(svc);
}

int
dhcp_serve_open(struct serve *s)
{
	struct dhcp_netinfo net = {
	    .ifindex = s->ifindex,
	    .addr = ntohl(s->addr.s_addr),
	    .netmask = ntohl(s->netmask.s_addr),
	};
	struct ifreq ifr;
	char msg[512] = "";
	int fd, r;

	if (s->cfg->dhcp_mode == CFG_DHCP_OFF) {
		return 0;
	}
	snprintf(net.ifname, sizeof(net.ifname), "%s", s->ifname);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", s->ifname);
		if (ioctl(fd, SIOCGIFHWADDR, &ifr) == 0) {
			memcpy(net.mac, ifr.ifr_hwaddr.sa_data, 6);
		}
		close(fd);
	}
	r = dhcp_service_open(
	    s->loop, &s->cfg, &net, &s->dhcp, msg, sizeof(msg));
	if (r < 0) {
		fprintf(stderr, "pinetboot serve: %s\n", msg);
		return r;
	}
	s->dhcp->serve = s;
	log_info(&(struct log_ctx){.svc = "dhcp"},
	    "event=listening mode=%s port=%u proxy_port=%u",
	    cfg_dhcp_mode_name(s->cfg->dhcp_mode), s->cfg->dhcp_port,
	    s->cfg->dhcp_mode == CFG_DHCP_PROXY ? s->cfg->dhcp_proxy_port : 0);
	return 0;
}

void
dhcp_serve_reserve_registry(struct serve *s)
{
	size_t i;

	if (!s->dhcp) {
		return;
	}
	dhcp_service_clear_reservations(s->dhcp);
	for (i = 0; i < s->registry.n; i++) {
		const struct registry_client *c = &s->registry.clients[i];
		struct dhcp_reservation r = {.addr = ntohl(c->addr.s_addr)};
		int err;

		if (!c->has_mac) {
			continue;
		}
		memcpy(r.mac, c->mac, 6);
		snprintf(r.hostname, sizeof(r.hostname), "%s",
		    c->hostname[0] ? c->hostname : c->name);
		snprintf(r.tftp_prefix, sizeof(r.tftp_prefix), "%s",
		    c->serial[0] ? c->serial : "");
		err = dhcp_service_reserve(s->dhcp, &r);
		if (err < 0) {
			log_warn(&(struct log_ctx){.svc = "dhcp"},
			    "event=reserve-failed client=%s error=\"%s\"",
			    c->name,
			    err == -EINVAL       ? "address outside the subnet"
				: err == -EEXIST ? "address reserved twice"
						 : "too many reservations");
		}
	}
}

void
dhcp_serve_close(struct serve *s)
{
	dhcp_service_close(s->dhcp);
	s->dhcp = NULL;
}
