#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/cur.h"
#include "core/io.h"
#include "core/log.h"
#include "core/loop.h"
#include "proto/tftp/pkt.h"
#include "proto/tftp/xfer.h"
#include "server/lstack.h"
#include "server/serve.h"
#include "server/tftp/tftp.h"

/*
 * Per-transfer read-ahead: one pread fills a whole window (or
 * TFTP_READAHEAD_BLOCKS blocks in lock-step), so a window of 16 costs one
 * read and one sendmmsg.  Files of one block are read straight into the
 * packet.
 */
#define TFTP_CACHE_MAX (256 * 1024)
/* Hash buckets for (client address, port) -> transfer. */
#define TFTP_BUCKETS 1024
/* Requests read per wakeup of the request socket before yielding. */
#define TFTP_RX_BATCH 64
/* The largest request we read: name, mode and 16 options fit easily. */
#define TFTP_REQ_MAX    2048
#define TFTP_MTUS       8
#define TFTP_MTU_TTL_MS 1000
/*
 * Lock-step throughput is one block per round trip, and much of a round
 * trip on an idle machine is the wake-up of a sleeping process.  So while
 * at most TFTP_SPIN_MAX_ACTIVE transfers run, a lock-step transfer that
 * just sent a block polls its socket for up to TFTP_SPIN_US for the ACK
 * before going back to sleep in the loop, for at most TFTP_SPIN_ROUNDS
 * blocks per wakeup so the request socket and timers are not starved.
 * Otherwise one datagram is read per wakeup (the loop is level-triggered,
 * so anything left is reported again).
 */
#define TFTP_SPIN_US         100
#define TFTP_SPIN_MAX_ACTIVE 4
#define TFTP_SPIN_ROUNDS     64
/* Blocks read ahead for lock-step transfers (one pread per 8 ACKs). */
#define TFTP_READAHEAD_BLOCKS 8

struct tftp_conn {
	struct tftp_service *svc;
	struct tftp_conn *hnext; /* same (address, port) bucket */
	struct tftp_conn *anext; /* same address bucket */
	int sock, file;
	struct sockaddr_in peer;
	struct log_ctx log;
	struct loop_timer timer;
	struct tftp_xfer x;
	uint64_t start_ms;
	int64_t start_wall;
	char name[TFTP_NAME_MAX + 1]; /* normalised request */
	uint64_t req_hash;            /* of the RRQ's bytes */
	uint64_t sent_us;             /* when the last packet went out */
	uint32_t rtt_us;              /* smoothed send-to-ACK time */
	uint8_t *cache;               /* owned; NULL for lock-step */
	size_t cache_cap, cache_len;
	uint64_t cache_off;
};

struct tftp_mtu {
	unsigned ifindex, mtu;
	uint64_t at_ms;
};

struct tftp_service {
	struct serve *s;   /* borrowed */
	struct loop *loop; /* borrowed */
	int sock, root_fd;

	/* Send slots shared by all transfers (one transfer sends at once). */
	size_t slot_size, nslots;
	uint8_t *slots;       /* owned, nslots * slot_size */
	struct mmsghdr *msgs; /* owned, nslots */
	struct iovec *iovs;   /* owned, nslots */

	struct tftp_conn *buckets[TFTP_BUCKETS];  /* by (address, port) */
	struct tftp_conn *abuckets[TFTP_BUCKETS]; /* by address */
	size_t active;
	uint32_t next_id;

	tftp_prefix_fn prefix_fn;
	void *prefix_arg; /* borrowed */
	tftp_request_fn request_fn;
	void *request_arg; /* borrowed */

	struct tftp_record ring[TFTP_RECORDS_MAX];
	size_t ring_head, ring_count;

	struct tftp_mtu mtus[TFTP_MTUS];
	struct log_ratelimit warn_rl;
	struct log_ctx log;
};

static int
tftp_openat2(int dirfd, const char *path, int flags)
{
	struct open_how how = {
	    .flags = (uint64_t)flags,
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long r = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));

	return r < 0 ? -errno : (int)r;
}

void
tftp_service_set_prefix_map(
    struct tftp_service *t, tftp_prefix_fn fn, void *arg)
{
	t->prefix_fn = fn;
	t->prefix_arg = arg;
}

void
tftp_service_set_request_hook(
    struct tftp_service *t, tftp_request_fn fn, void *arg)
{
	t->request_fn = fn;
	t->request_arg = arg;
}

uint16_t
tftp_service_port(const struct tftp_service *t)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	if (getsockname(t->sock, (struct sockaddr *)&sa, &len) < 0) {
		return 0;
	}
	return ntohs(sa.sin_port);
}

size_t
tftp_service_active(const struct tftp_service *t)
{
	return t->active;
}

size_t
tftp_service_records(
    const struct tftp_service *t, struct tftp_record *out, size_t max)
{
	size_t i, n = t->ring_count < max ? t->ring_count : max;

	for (i = 0; i < n; i++) {
		size_t idx = (t->ring_head + TFTP_RECORDS_MAX - 1 - i) %
		    TFTP_RECORDS_MAX;

		out[i] = t->ring[idx];
	}
	return n;
}

/* Copy @src into @dst (@cap bytes), cut to fit, always NUL-terminated. */
static void
tftp_copy_cut(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap) {
		n = cap - 1;
	}
	memcpy(dst, src, n);
	dst[n] = 0;
}

static void
tftp_record_add(struct tftp_service *t, const struct tftp_record *r)
{
	serve_note_tftp(t->s, r);
	t->ring[t->ring_head] = *r;
	t->ring_head = (t->ring_head + 1) % TFTP_RECORDS_MAX;
	if (t->ring_count < TFTP_RECORDS_MAX) {
		t->ring_count++;
	}
}

static size_t
tftp_hash(struct in_addr a, uint16_t port)
{
	uint32_t h = (a.s_addr * 2654435761u) ^ ((uint32_t)port * 40503u);

	return (h ^ (h >> 16)) % TFTP_BUCKETS;
}

static size_t
tftp_addr_hash(struct in_addr a)
{
	uint32_t h = a.s_addr * 2654435761u;

	return (h ^ (h >> 16)) % TFTP_BUCKETS;
}

/* How many transfers @a has running. */
static size_t
tftp_count_from(const struct tftp_service *t, struct in_addr a)
{
	const struct tftp_conn *c = t->abuckets[tftp_addr_hash(a)];
	size_t n = 0;

	for (; c; c = c->anext) {
		n += c->peer.sin_addr.s_addr == a.s_addr;
	}
	return n;
}

static struct tftp_conn **
tftp_find_slot(struct tftp_service *t, const struct sockaddr_in *peer)
{
	struct tftp_conn **pp =
	    &t->buckets[tftp_hash(peer->sin_addr, peer->sin_port)];

	while (*pp &&
	    ((*pp)->peer.sin_addr.s_addr != peer->sin_addr.s_addr ||
		(*pp)->peer.sin_port != peer->sin_port)) {
		pp = &(*pp)->hnext;
	}
	return pp;
}

/* FNV-1a over the request, to recognise a repeated RRQ. */
static uint64_t
tftp_req_hash(const uint8_t *b, size_t len)
{
	uint64_t h = 14695981039346656037ull;
	size_t i;

	for (i = 0; i < len; i++) {
		h = (h ^ b[i]) * 1099511628211ull;
	}
	return h;
}

static void
tftp_peer_str(const struct sockaddr_in *sa, char *out, size_t cap)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &sa->sin_addr, a, sizeof(a));
	snprintf(out, cap, "%s:%u", a, ntohs(sa->sin_port));
}

/* Send one ERROR from @fd to @to; @local (may be NULL) picks the source. */
static void
tftp_send_error(int fd, const struct sockaddr_in *to,
    const struct in_pktinfo *local, uint16_t code, const char *text)
{
	uint8_t b[256];
	struct wcur w = wcur_init(b, sizeof(b));
	union {
		struct cmsghdr h;
		uint8_t space[CMSG_SPACE(sizeof(struct in_pktinfo))];
	} ctl;
	struct iovec iov;
	struct msghdr m = {
	    .msg_name = (void *)to,
	    .msg_namelen = sizeof(*to),
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	};

	if (tftp_build_error(&w, code, text) < 0) {
		return;
	}
	iov = (struct iovec){.iov_base = b, .iov_len = w.off};
	if (local) {
		struct cmsghdr *c;
		struct in_pktinfo pi = {.ipi_spec_dst = local->ipi_spec_dst};

		memset(&ctl, 0, sizeof(ctl));
		m.msg_control = &ctl;
		m.msg_controllen = sizeof(ctl.space);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	}
	/* Best effort: a lost ERROR costs the client one timeout. */
	(void)sendmsg(fd, &m, MSG_DONTWAIT);
}

static void
tftp_conn_free(struct tftp_conn *c)
{
	struct tftp_service *t = c->svc;
	struct tftp_conn **pp = tftp_find_slot(t, &c->peer);

	if (*pp == c) {
		*pp = c->hnext;
	}
	for (pp = &t->abuckets[tftp_addr_hash(c->peer.sin_addr)]; *pp;
	     pp = &(*pp)->anext) {
		if (*pp == c) {
			*pp = c->anext;
			break;
		}
	}
	loop_timer_cancel(t->loop, &c->timer);
	loop_close_fd(t->loop, c->sock);
	close(c->file);
	free(c->cache);
	free(c);
	t->active--;
}

/* The end of a transfer: log it, record it, free it. */
static void
tftp_conn_finish(struct tftp_conn *c, const char *outcome, const char *msg)
{
	struct tftp_service *t = c->svc;
	uint64_t ms = loop_now_ms(t->loop) - c->start_ms;
	char esc[LOG_ESCAPE_MAX], mesc[LOG_ESCAPE_MAX];
	struct tftp_record r = {
	    .start_wall = c->start_wall,
	    .addr = c->peer.sin_addr,
	    .port = ntohs(c->peer.sin_port),
	    .blksize = c->x.blksize,
	    .windowsize = c->x.windowsize,
	    .tsize = c->x.oack_vals.has_tsize,
	    .netascii = c->x.netascii,
	    .size = c->x.size,
	    .bytes = c->x.bytes_sent,
	    .ms = ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms,
	    .retransmits = (uint32_t)c->x.retransmits,
	    .outcome = outcome,
	};

	log_escape(esc, c->name, strlen(c->name));
	tftp_copy_cut(r.file, sizeof(r.file), esc);
	switch (c->x.state) {
	case TFTP_XS_DONE:
		log_info(&c->log,
		    "event=done file=\"%s\" bytes=%llu ms=%llu blksize=%u "
		    "windowsize=%u retransmits=%llu srtt_ms=%u rto_ms=%u",
		    esc, (unsigned long long)c->x.bytes_sent,
		    (unsigned long long)ms, c->x.blksize, c->x.windowsize,
		    (unsigned long long)c->x.retransmits, c->x.srtt_x8 / 8,
		    c->x.rto_ms);
		break;
	case TFTP_XS_PEER_ERROR:
		r.code = c->x.peer_code;
		log_escape(mesc, msg ? msg : "", msg ? strlen(msg) : 0);
		if (c->x.peer_code == TFTP_EUNDEF) {
			/* The Pi firmware's normal close of a tsize probe
			 * (reference §3.2.3): not a failure. */
			r.outcome = "early-terminate";
			log_debug(&c->log,
			    "event=early-terminate file=\"%s\" bytes=%llu "
			    "ms=%llu msg=\"%s\"",
			    esc, (unsigned long long)c->x.bytes_sent,
			    (unsigned long long)ms, mesc);
		} else {
			log_info(&c->log,
			    "event=peer-error code=%u msg=\"%s\" file=\"%s\" "
			    "bytes=%llu ms=%llu",
			    c->x.peer_code, mesc, esc,
			    (unsigned long long)c->x.bytes_sent,
			    (unsigned long long)ms);
		}
		break;
	case TFTP_XS_TIMEOUT:
		log_warn(&c->log,
		    "event=timeout file=\"%s\" bytes=%llu ms=%llu "
		    "retries=%u note=\"client stopped answering\"",
		    esc, (unsigned long long)c->x.bytes_sent,
		    (unsigned long long)ms, c->x.retries);
		break;
	case TFTP_XS_UNANSWERED:
		/* A vanished client, or a forged source address: debug
		 * only, so a flood of forged requests does not flood the
		 * log either. */
		log_debug(&c->log,
		    "event=unanswered file=\"%s\" ms=%llu retries=%u", esc,
		    (unsigned long long)ms, TFTP_UNCONFIRMED_RETRIES);
		break;
	case TFTP_XS_FAILED:
		r.code = c->x.err_code;
		log_warn(&c->log,
		    "event=failed file=\"%s\" bytes=%llu error=\"%s\"", esc,
		    (unsigned long long)c->x.bytes_sent,
		    c->x.err_msg ? c->x.err_msg : "?");
		break;
	case TFTP_XS_SENDING:
		/* An eviction is what a flood of forged requests causes:
		 * debug, or the flood fills the log too. */
		log_msg(strcmp(outcome, "evicted") ? LOG_LEVEL_INFO
						   : LOG_LEVEL_DEBUG,
		    &c->log, "event=%s file=\"%s\" bytes=%llu ms=%llu", outcome,
		    esc, (unsigned long long)c->x.bytes_sent,
		    (unsigned long long)ms);
		break;
	}
	tftp_record_add(t, &r);
	tftp_conn_free(c);
}

static int64_t
tftp_conn_read(void *arg, uint8_t *dst, size_t len, uint64_t off)
{
	struct tftp_conn *c = arg;
	ssize_t n;
	size_t avail;

	if (!c->cache) {
		n = pread(c->file, dst, len, (off_t)off);
		return n < 0 ? -errno : n;
	}
	if (off < c->cache_off || off - c->cache_off >= c->cache_len ||
	    len > c->cache_len - (off - c->cache_off)) {
		n = pread(c->file, c->cache, c->cache_cap, (off_t)off);
		if (n < 0) {
			return -errno;
		}
		c->cache_off = off;
		c->cache_len = (size_t)n;
		if (n == 0) {
			return 0;
		}
	}
	avail = c->cache_len - (size_t)(off - c->cache_off);
	if (len > avail) {
		len = avail;
	}
	memcpy(dst, c->cache + (off - c->cache_off), len);
	return (int64_t)len;
}

/*
 * Drain what the machine wants to send, in one sendmmsg, and re-arm the
 * timer.  @confirm: the peer just acknowledged, so its neighbour entry is
 * known good (MSG_CONFIRM): the kernel then never has to ARP it again,
 * which a 3B ROM would not answer mid-transfer (reference quirk 12).
 * Return: 0, or -1 when the transfer ended and was freed.
 */
static int
tftp_conn_pump(struct tftp_conn *c, bool confirm)
{
	struct tftp_service *t = c->svc;
	uint64_t now = loop_now_ms(t->loop), wake;
	size_t n = 0, done = 0;

	while (n < t->nslots) {
		uint8_t *slot = t->slots + n * t->slot_size;
		int len = tftp_xfer_send(&c->x, slot, t->slot_size, now);

		if (len <= 0) {
			break;
		}
		t->iovs[n] =
		    (struct iovec){.iov_base = slot, .iov_len = (size_t)len};
		t->msgs[n] =
		    (struct mmsghdr){.msg_hdr = {
					 .msg_name = &c->peer,
					 .msg_namelen = sizeof(c->peer),
					 .msg_iov = &t->iovs[n],
					 .msg_iovlen = 1,
				     }};
		n++;
	}
	while (done < n) {
		int r = sendmmsg(c->sock, t->msgs + done, (unsigned)(n - done),
		    MSG_DONTWAIT | (confirm ? MSG_CONFIRM : 0));

		if (r <= 0) {
			/*
			 * A full socket buffer or an ICMP error: what was not
			 * sent counts as lost and goes again on timeout.
			 */
			break;
		}
		done += (size_t)r;
	}
	if (n > 0 && c->x.windowsize == 1 &&
	    c->svc->active <= TFTP_SPIN_MAX_ACTIVE) {
		c->sent_us = loop_clock_us();
	}
	if (tftp_xfer_is_over(&c->x)) {
		tftp_conn_finish(c, tftp_xfer_state_name(c->x.state), NULL);
		return -1;
	}
	wake = tftp_xfer_wake(&c->x);
	if (wake == UINT64_MAX) {
		loop_timer_cancel(t->loop, &c->timer);
	} else if (!loop_timer_is_armed(&c->timer) ||
	    c->timer.when_ms != wake) {
		if (loop_timer_arm(t->loop, &c->timer, wake) < 0) {
			tftp_conn_finish(c, "out-of-memory", NULL);
			return -1;
		}
	}
	return 0;
}

static void
tftp_conn_handle_timer(struct loop *l, struct loop_timer *tm)
{
	struct tftp_conn *c = tm->arg;

	tftp_xfer_tick(&c->x, loop_now_ms(l));
	(void)tftp_conn_pump(c, false);
}

/*
 * Read one datagram from the transfer socket.  With @spin_us > 0, keep
 * trying for that long before giving up (see TFTP_SPIN_US).
 */
static ssize_t
tftp_conn_recv(struct tftp_conn *c, uint8_t *b, size_t cap,
    struct sockaddr_in *from, uint64_t spin_us)
{
	uint64_t until = spin_us ? loop_clock_us() + spin_us : 0;

	for (;;) {
		socklen_t flen = sizeof(*from);
		ssize_t n = recvfrom(c->sock, b, cap, MSG_DONTWAIT,
		    (struct sockaddr *)from, &flen);

		if (n >= 0) {
			return flen == sizeof(*from) ? n : -1;
		}
		/* EAGAIN, or an ICMP error from the peer: the timeout
		 * decides whether the client is gone. */
		if (errno != EAGAIN || !until || loop_clock_us() >= until) {
			return -1;
		}
	}
}

/* Feed one datagram.  Return: 0, or -1 when the transfer was freed. */
static int
tftp_conn_input(struct tftp_conn *c, const uint8_t *b, size_t n,
    const struct sockaddr_in *from)
{
	struct tftp_pkt p;
	char msg[129] = "";

	if (from->sin_addr.s_addr != c->peer.sin_addr.s_addr ||
	    from->sin_port != c->peer.sin_port) {
		/* RFC 1350 §4: answer a stranger, keep going. */
		tftp_send_error(
		    c->sock, from, NULL, TFTP_EBADID, "unknown transfer ID");
		log_debug(&c->log, "event=unknown-tid");
		return 0;
	}
	if (tftp_xfer_recv(&c->x, b, n, loop_now_ms(c->svc->loop)) < 0 ||
	    c->x.state != TFTP_XS_PEER_ERROR) {
		return 0;
	}
	if (tftp_parse(b, n, &p) == 0) {
		size_t ml = p.msg_len < 128 ? p.msg_len : 128;

		memcpy(msg, p.msg, ml);
		msg[ml] = 0;
	}
	tftp_conn_finish(c, "peer-error", msg);
	return -1;
}

static void
tftp_conn_handle_io(struct loop *l, int fd, unsigned events, void *arg)
{
	struct tftp_conn *c = arg;
	struct tftp_service *t = c->svc;
	bool spun = false;
	int i;

	(void)fd;
	(void)events;
	for (i = 0; i < TFTP_SPIN_ROUNDS; i++) {
		uint8_t b[516];
		struct sockaddr_in from;
		uint64_t spin = 0;
		ssize_t n;

		if (i > 0) {
			/* Only a lock-step transfer among very few spins:
			 * many transfers keep the loop busy anyway, and a
			 * window's ACK comes after a whole window.  A client
			 * whose ACKs take longer than the spin would only
			 * burn the CPU. */
			if (c->x.windowsize != 1 ||
			    t->active > TFTP_SPIN_MAX_ACTIVE ||
			    c->rtt_us > TFTP_SPIN_US) {
				break;
			}
			spin = TFTP_SPIN_US;
			spun = true;
		}
		n = tftp_conn_recv(c, b, sizeof(b), &from, spin);
		if (n < 0) {
			break;
		}
		if (c->sent_us) {
			uint64_t rtt = loop_clock_us() - c->sent_us;

			/* EWMA, 1/8 new sample, as TCP's SRTT. */
			c->rtt_us =
			    (uint32_t)((c->rtt_us * 7u +
					   (rtt > 1000000 ? 1000000 : rtt)) /
				8u);
			c->sent_us = 0;
		}
		if (spun) {
			loop_update_time(l);
		}
		if (tftp_conn_input(c, b, (size_t)n, &from) < 0 ||
		    tftp_conn_pump(c, true) < 0) {
			return;
		}
	}
	if (spun) {
		loop_update_time(l);
	}
	if (i == 0) {
		(void)tftp_conn_pump(c, false);
	}
}

/*
 * Read what the peer has already sent to an old transfer before a new
 * request from its port replaces it: the 3B ROM's final ACK for
 * bootcode.bin and its RRQ for bootsig.bin leave the same port back to
 * back, and the ACK must end the first transfer as done, not replaced.
 * Return: 0, or -1 when that ended the transfer and freed it.
 */
static int
tftp_conn_drain(struct tftp_conn *c)
{
	int i;

	for (i = 0; i < TFTP_SPIN_ROUNDS; i++) {
		uint8_t b[516];
		struct sockaddr_in from;
		ssize_t n = tftp_conn_recv(c, b, sizeof(b), &from, 0);

		if (n < 0) {
			break;
		}
		if (tftp_conn_input(c, b, (size_t)n, &from) < 0 ||
		    tftp_conn_pump(c, true) < 0) {
			return -1;
		}
	}
	return 0;
}

/*
 * Make room for a new transfer when all are taken: the oldest transfer
 * whose peer has acknowledged nothing goes (a forged request, most
 * likely; a real client answers its first packet within a round trip).
 * Return: true when one was ended.
 */
static bool
tftp_evict_unconfirmed(struct tftp_service *t)
{
	struct tftp_conn *oldest = NULL, *c;
	size_t i;

	for (i = 0; i < TFTP_BUCKETS; i++) {
		for (c = t->buckets[i]; c; c = c->hnext) {
			if (!c->x.confirmed &&
			    (!oldest || c->start_ms < oldest->start_ms)) {
				oldest = c;
			}
		}
	}
	if (!oldest) {
		return false;
	}
	tftp_conn_finish(oldest, "evicted", NULL);
	return true;
}

static unsigned
tftp_if_mtu(struct tftp_service *t, unsigned ifindex)
{
	uint64_t now = loop_now_ms(t->loop);
	struct tftp_mtu *slot = &t->mtus[ifindex % TFTP_MTUS];
	struct ifreq ifr;

	/* A fleet asks many names in a burst; an MTU change shows within
	 * TFTP_MTU_TTL_MS. */
	if (slot->ifindex == ifindex && slot->mtu &&
	    now - slot->at_ms < TFTP_MTU_TTL_MS) {
		return slot->mtu;
	}
	memset(&ifr, 0, sizeof(ifr));
	*slot =
	    (struct tftp_mtu){.ifindex = ifindex, .mtu = 1500, .at_ms = now};
	if (!if_indextoname(ifindex, ifr.ifr_name)) {
		return slot->mtu;
	}
	/* Any socket answers SIOCGIFMTU; the request socket will do. */
	if (ioctl(t->sock, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 68) {
		slot->mtu = (unsigned)ifr.ifr_mtu;
	}
	return slot->mtu;
}

/*
 * @rel in a layered client's merged boot tree, read-only, as the server.
 * The library resolves one name at a time beneath each layer, follows no
 * symlink (boot trees come from FAT, which has none) and opens nothing
 * but a regular file, reopening the very inode its lookup found with
 * O_NOATIME, so the guarantees below hold here too.
 */
static int
tftp_resolve_layered(struct lstack *ls, const char *rel, struct stat *st)
{
	struct layer_node *n = NULL;
	int fd, r = layer_lookup_path(ls->st, rel, &n);

	if (r == -EINVAL || r == -EACCES) {
		r = -EPERM; /* "." or "..", or an empty name */
	} else if (r == -ENAMETOOLONG) {
		r = -ENOENT;
	}
	if (r < 0) {
		return r;
	}
	if (n->type != S_IFREG) {
		r = n->type == S_IFDIR ? -EISDIR : -EPERM;
		layer_node_free(n);
		return r;
	}
	fd = layer_open_data(ls->st, NULL, n, O_RDONLY);
	layer_node_free(n);
	if (fd >= 0 && fstat(fd, st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/*
 * Resolve a normalised name: a per-client prefix goes through the prefix
 * map, the rest resolves beneath that directory (or the root), or in a
 * layered client's merged tree.  The name is resolved once, with O_PATH,
 * so a device or FIFO is never opened; what is read is that same inode,
 * reopened through /proc/self/fd after fstat said it is a regular file.
 * Resolving the name a second time would let a client that can rename
 * files in its own boot tree swap a FIFO in between, and a blocking open
 * of it would stop the whole loop (issue 10).  O_NONBLOCK and O_NOCTTY
 * are there in case that reasoning ever breaks.
 * Return: an fd open for reading, or a negative errno: -ENOENT/-ENOTDIR
 * (not found), -EXDEV/-ELOOP/-EPERM/-EACCES (access violation).
 */
static int
tftp_resolve(struct tftp_service *t, const char *name, struct stat *st)
{
	size_t plen = tftp_prefix_len(name);
	int dirfd = t->root_fd, pfd = -1, fd, r;
	const char *rel = name;
	char self[64];

	if (plen) {
		struct tftp_tree tree = {.fd = -1};
		char prefix[24];

		memcpy(prefix, name, plen);
		prefix[plen] = 0;
		r = t->prefix_fn ? t->prefix_fn(t->prefix_arg, prefix, &tree)
				 : -ENOENT;
		rel = name + plen + 1;
		if (r == 0 && tree.st) {
			r = tftp_resolve_layered(tree.st, rel, st);
			lstack_unref(tree.st);
			return r == -ENOTDIR ? -ENOENT : r;
		}
		dirfd = r == 0 ? tree.fd : r;
		if (dirfd == -ENOENT) {
			dirfd = tftp_openat2(t->root_fd, prefix,
			    O_PATH | O_DIRECTORY | O_CLOEXEC);
		}
		if (dirfd < 0) {
			return dirfd == -ENOTDIR ? -ENOENT : dirfd;
		}
	}
	pfd = tftp_openat2(dirfd, rel, O_PATH | O_CLOEXEC);
	if (pfd < 0) {
		r = pfd;
		goto out;
	}
	if (fstat(pfd, st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st->st_mode)) {
		r = S_ISDIR(st->st_mode) ? -EISDIR : -EPERM;
		goto out;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	fd = open(self, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	r = fd < 0 ? -errno : fd;
out:
	if (pfd >= 0) {
		close(pfd);
	}
	if (dirfd != t->root_fd) {
		close(dirfd);
	}
	return r;
}

static void
tftp_refuse(struct tftp_service *t, const struct sockaddr_in *peer,
    const struct in_pktinfo *pi, const char *name, size_t name_len,
    uint16_t code, const char *text, const char *outcome, int level)
{
	struct log_ctx lc = {.svc = "tftp"};
	char esc[LOG_ESCAPE_MAX];
	struct tftp_record r = {
	    .start_wall = loop_wall_s(),
	    .addr = peer->sin_addr,
	    .port = ntohs(peer->sin_port),
	    .outcome = outcome,
	    .code = code,
	};

	tftp_send_error(t->sock, peer, pi, code, text);
	tftp_peer_str(peer, lc.peer, sizeof(lc.peer));
	log_escape(esc, name, name_len);
	tftp_copy_cut(r.file, sizeof(r.file), esc);
	tftp_record_add(t, &r);
	if (level == LOG_LEVEL_WARN &&
	    !log_ratelimit_ok(&t->warn_rl, loop_now_ms(t->loop))) {
		return;
	}
	log_msg(level, &lc, "event=nak code=%u file=\"%s\" reason=\"%s\"", code,
	    esc, text);
}

/* Map a resolve error to the TFTP answer. */
static void
tftp_refuse_errno(struct tftp_service *t, const struct sockaddr_in *peer,
    const struct in_pktinfo *pi, const char *name, int err)
{
	size_t n = strlen(name);

	switch (-err) {
	case ENOENT:
	case ENOTDIR:
	case ENAMETOOLONG:
		/* Misses are routine: the firmware probes many names. */
		tftp_refuse(t, peer, pi, name, n, TFTP_ENOTFOUND,
		    "file not found", "not-found", LOG_LEVEL_DEBUG);
		break;
	case EXDEV:
	case ELOOP:
	case EPERM:
	case EACCES:
	case EISDIR:
		tftp_refuse(t, peer, pi, name, n, TFTP_EACCESS,
		    err == -EISDIR ? "access violation: not a file"
			: err == -EACCES
			? "access violation: permission denied"
			: "access violation: outside the TFTP root or not a "
			  "regular file",
		    "access-violation", LOG_LEVEL_WARN);
		break;
	default:
		tftp_refuse(t, peer, pi, name, n, TFTP_EUNDEF, strerror(-err),
		    "error", LOG_LEVEL_WARN);
		break;
	}
}

static void
tftp_warn_rollover(struct tftp_conn *c)
{
	uint64_t blocks = tftp_xfer_blocks(c->x.size, c->x.blksize);
	char esc[LOG_ESCAPE_MAX];

	if (c->x.netascii || blocks <= 65535) {
		return;
	}
	log_escape(esc, c->name, strlen(c->name));
	/* Reference §3.2.8 and §9 correction 2: bootloaders before
	 * 2025-09-23 stop at block 65535, and on a Pi 4 the kernel and
	 * initramfs come through start4.elf, which truncated silently at
	 * 65535 blocks; whether any start*.elf wraps is unverified, so an
	 * EEPROM update alone is no remedy. */
	log_warn(&c->log,
	    "event=rollover-needed file=\"%s\" size=%llu blksize=%u "
	    "blocks=%llu note=\"older Pi bootloaders and start*.elf "
	    "cannot roll the block counter over and may load a truncated "
	    "file: keep it under %llu bytes at this block size (for "
	    "example a compressed kernel or a smaller initramfs)\"",
	    esc, (unsigned long long)c->x.size, c->x.blksize,
	    (unsigned long long)blocks,
	    (unsigned long long)65535 * c->x.blksize);
}

static void
tftp_handle_request(struct tftp_service *t, const uint8_t *b, size_t len,
    const struct sockaddr_in *peer, const struct in_pktinfo *pi)
{
	const struct cfg *cfg = t->s->cfg;
	struct tftp_pkt p;
	struct tftp_xfer_cfg xc;
	struct tftp_conn *c = NULL, **slot;
	struct sockaddr_in local = {.sin_family = AF_INET};
	char name[TFTP_NAME_MAX + 1];
	struct stat st;
	unsigned mtu;
	int r, fd = -1;

	r = tftp_parse(b, len, &p);
	if (r < 0 || (p.op != TFTP_RRQ && p.op != TFTP_WRQ)) {
		/* A broken request gets ERROR 4; anything else that is not
		 * a request (stray DATA/ACK, noise) gets silence. */
		if (r < 0 && (p.op == TFTP_RRQ || p.op == TFTP_WRQ)) {
			tftp_refuse(t, peer, pi, "", 0, TFTP_EBADOP,
			    r == -EMSGSIZE ? "request over a limit (name or "
					     "options too long)"
					   : "malformed request",
			    "malformed", LOG_LEVEL_WARN);
		}
		return;
	}
	if (p.op == TFTP_WRQ) {
		tftp_refuse(t, peer, pi, p.file, p.file_len, TFTP_EACCESS,
		    "access violation: this server is read-only",
		    "write-refused", LOG_LEVEL_WARN);
		return;
	}
	if (t->request_fn) {
		t->request_fn(t->request_arg, peer->sin_addr);
	}
	r = tftp_normalize_name(p.file, p.file_len, name, sizeof(name));
	if (r < 0) {
		tftp_refuse(t, peer, pi, p.file, p.file_len, TFTP_EACCESS,
		    r == -EACCES ? "access violation: '..' in the name"
				 : "access violation: bad file name",
		    "access-violation", LOG_LEVEL_WARN);
		return;
	}
	slot = tftp_find_slot(t, peer);
	if (*slot) {
		struct tftp_conn *old = *slot;

		/*
		 * The same RRQ again before the client acknowledged
		 * anything is the client retransmitting its request: its
		 * copy of the first packet was lost.  The running transfer
		 * answers it at once, from the TID a second transfer would
		 * not have; one packet per request, so a forged repeat
		 * gains nothing over a forged request.
		 */
		if (old->req_hash == tftp_req_hash(b, len) &&
		    !old->x.confirmed) {
			bool due = tftp_xfer_request_again(&old->x);

			log_debug(&old->log, "event=duplicate-rrq resent=%s",
			    due ? "yes" : "no");
			if (due) {
				(void)tftp_conn_pump(old, false);
			}
			return;
		}
		/*
		 * Reference §3.2.1: any other RRQ from a port that still
		 * has a transfer (the 3B ROM reuses 49152) replaces it,
		 * once what the client sent it before is read.
		 */
		if (tftp_conn_drain(old) == 0) {
			tftp_conn_finish(old, "replaced", NULL);
		}
	}
	/*
	 * A forged source address must not take every slot, nor turn us
	 * into an amplifier aimed at one victim (issue 10).
	 */
	if (tftp_count_from(t, peer->sin_addr) >= cfg->tftp_max_per_client) {
		tftp_refuse(t, peer, pi, name, strlen(name), TFTP_EUNDEF,
		    "server busy: too many transfers from this address", "busy",
		    LOG_LEVEL_WARN);
		return;
	}
	if (t->active >= cfg->tftp_max_transfers &&
	    !tftp_evict_unconfirmed(t)) {
		tftp_refuse(t, peer, pi, name, strlen(name), TFTP_EUNDEF,
		    "server busy: too many transfers, try again", "busy",
		    LOG_LEVEL_WARN);
		return;
	}
	fd = tftp_resolve(t, name, &st);
	if (fd < 0) {
		tftp_refuse_errno(t, peer, pi, name, fd);
		return;
	}
	mtu = tftp_if_mtu(t, (unsigned)pi->ipi_ifindex);
	xc = (struct tftp_xfer_cfg){
	    .blksize_max = cfg->tftp_blksize_max,
	    .windowsize_max = cfg->tftp_windowsize_max,
	    .timeout_ms = cfg->tftp_timeout_ms,
	    .retries = cfg->tftp_retries,
	};
	/* RFC 2348 via the reference §3.2.2: no more than MTU - 32 (IP,
	 * UDP and TFTP headers), nor more than our send slots hold. */
	if (mtu - 32 < xc.blksize_max) {
		xc.blksize_max = (uint16_t)(mtu - 32);
	}
	if (t->slot_size - TFTP_HDR_LEN < xc.blksize_max) {
		xc.blksize_max = (uint16_t)(t->slot_size - TFTP_HDR_LEN);
	}
	if (xc.windowsize_max > t->nslots) {
		xc.windowsize_max = (uint16_t)t->nslots;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		tftp_refuse(t, peer, pi, name, strlen(name), TFTP_EUNDEF,
		    "out of memory", "error", LOG_LEVEL_WARN);
		return;
	}
	*c = (struct tftp_conn){
	    .svc = t,
	    .sock = -1,
	    .file = fd,
	    .peer = *peer,
	    .log = {.svc = "tftp", .id_key = "xfer", .id = ++t->next_id},
	    .start_ms = loop_now_ms(t->loop),
	    .start_wall = loop_wall_s(),
	};
	fd = -1;
	c->req_hash = tftp_req_hash(b, len);
	memcpy(c->name, name, strlen(name) + 1);
	tftp_peer_str(peer, c->log.peer, sizeof(c->log.peer));
	loop_timer_init(&c->timer, tftp_conn_handle_timer, c);
	r = tftp_xfer_start(&c->x, &p, &xc, (uint64_t)st.st_size,
	    tftp_conn_read, c, c->start_ms);
	if (r < 0) {
		close(c->file);
		free(c);
		tftp_refuse(t, peer, pi, name, strlen(name), TFTP_EBADOP,
		    "unsupported mode: use octet or netascii", "bad-mode",
		    LOG_LEVEL_WARN);
		return;
	}
	if (c->x.size > c->x.blksize) {
		size_t cap = (size_t)c->x.blksize *
		    (c->x.windowsize > TFTP_READAHEAD_BLOCKS
			    ? c->x.windowsize
			    : TFTP_READAHEAD_BLOCKS);

		if (cap > TFTP_CACHE_MAX) {
			cap = TFTP_CACHE_MAX / c->x.blksize * c->x.blksize;
		}
		if (cap < c->x.blksize) {
			cap = c->x.blksize;
		}
		c->cache = malloc(cap);
		c->cache_cap = c->cache ? cap : 0;
	}
	c->sock = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	local.sin_addr = pi->ipi_spec_dst;
	if (c->sock < 0 ||
	    bind(c->sock, (struct sockaddr *)&local, sizeof(local)) < 0 ||
	    loop_add_fd(t->loop, c->sock, LOOP_READ, tftp_conn_handle_io, c) <
		0) {
		r = -errno;
		if (c->sock >= 0) {
			close(c->sock);
		}
		close(c->file);
		free(c->cache);
		free(c);
		tftp_refuse(t, peer, pi, name, strlen(name), TFTP_EUNDEF,
		    "server out of sockets, try again", "error",
		    LOG_LEVEL_WARN);
		(void)r;
		return;
	}
	c->hnext = t->buckets[tftp_hash(peer->sin_addr, peer->sin_port)];
	t->buckets[tftp_hash(peer->sin_addr, peer->sin_port)] = c;
	c->anext = t->abuckets[tftp_addr_hash(peer->sin_addr)];
	t->abuckets[tftp_addr_hash(peer->sin_addr)] = c;
	t->active++;
	if (log_enabled(LOG_LEVEL_DEBUG)) {
		char esc[LOG_ESCAPE_MAX];

		log_debug(&c->log,
		    "event=rrq file=\"%s\" mode=%s size=%llu blksize=%u "
		    "windowsize=%u tsize=%s oack=%s",
		    log_escape(esc, name, strlen(name)),
		    c->x.netascii ? "netascii" : "octet",
		    (unsigned long long)c->x.size, c->x.blksize,
		    c->x.windowsize, c->x.oack_vals.has_tsize ? "yes" : "no",
		    c->x.oack ? "yes" : "no");
	}
	tftp_warn_rollover(c);
	(void)tftp_conn_pump(c, false);
}

static void
tftp_handle_sock(struct loop *l, int fd, unsigned events, void *arg)
{
	struct tftp_service *t = arg;
	int i;

	(void)l;
	(void)events;
	for (i = 0; i < TFTP_RX_BATCH; i++) {
		uint8_t b[TFTP_REQ_MAX];
		union {
			struct cmsghdr h;
			uint8_t space[CMSG_SPACE(sizeof(struct in_pktinfo))];
		} ctl;
		struct sockaddr_in peer;
		struct iovec iov = {.iov_base = b, .iov_len = sizeof(b)};
		struct msghdr m = {
		    .msg_name = &peer,
		    .msg_namelen = sizeof(peer),
		    .msg_iov = &iov,
		    .msg_iovlen = 1,
		    .msg_control = &ctl,
		    .msg_controllen = sizeof(ctl),
		};
		struct in_pktinfo pi = {0};
		struct cmsghdr *c;
		ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT);

		if (n < 0) {
			break;
		}
		if (m.msg_namelen != sizeof(peer) ||
		    (m.msg_flags & MSG_TRUNC) || peer.sin_port == 0) {
			continue;
		}
		for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
			if (c->cmsg_level == IPPROTO_IP &&
			    c->cmsg_type == IP_PKTINFO) {
				memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			}
		}
		if (pi.ipi_spec_dst.s_addr == htonl(INADDR_ANY)) {
			pi.ipi_spec_dst = t->s->addr;
		}
		tftp_handle_request(t, b, (size_t)n, &peer, &pi);
	}
}

struct tftp_service *
tftp_service_open(struct serve *s, char *msg, size_t msglen)
{
	const struct cfg *cfg = s->cfg;
	struct tftp_service *t = calloc(1, sizeof(*t));
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int one = 1, rcvbuf = 4 << 20;
	size_t i;

	if (!t) {
		snprintf(msg, msglen, "tftp: out of memory");
		return NULL;
	}
	t->s = s;
	t->loop = s->loop;
	t->sock = -1;
	t->log = (struct log_ctx){.svc = "tftp"};
	t->root_fd = open(cfg->tftp_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (t->root_fd < 0) {
		snprintf(msg, msglen,
		    "tftp: cannot open root %s: %s (create it or give "
		    "--tftp-root)",
		    cfg->tftp_root, strerror(errno));
		goto fail;
	}
	t->slot_size = (size_t)cfg->tftp_blksize_max + TFTP_HDR_LEN;
	if (t->slot_size < 512 + TFTP_HDR_LEN) {
		t->slot_size = 512 + TFTP_HDR_LEN;
	}
	t->nslots = cfg->tftp_windowsize_max ? cfg->tftp_windowsize_max : 1;
	t->slots = calloc(t->nslots, t->slot_size);
	t->msgs = calloc(t->nslots, sizeof(*t->msgs));
	t->iovs = calloc(t->nslots, sizeof(*t->iovs));
	if (!t->slots || !t->msgs || !t->iovs) {
		snprintf(msg, msglen, "tftp: out of memory");
		goto fail;
	}
	t->sock = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (t->sock < 0) {
		snprintf(msg, msglen, "tftp: socket: %s", strerror(errno));
		goto fail;
	}
	setsockopt(t->sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(t->sock, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	/* A fleet powering on sends hundreds of RRQs at once. */
	if (setsockopt(t->sock, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		sizeof(rcvbuf)) < 0) {
		setsockopt(
		    t->sock, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	}
	if (cfg->interface[0] && cfg->address.s_addr == htonl(INADDR_ANY)) {
		setsockopt(t->sock, SOL_SOCKET, SO_BINDTODEVICE, cfg->interface,
		    (socklen_t)strlen(cfg->interface));
	}
	sa.sin_addr = cfg->address;
	sa.sin_port = htons(cfg->tftp_port);
	if (bind(t->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		char a[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &sa.sin_addr, a, sizeof(a));
		snprintf(msg, msglen,
		    "tftp: cannot bind %s:%u: %s (another TFTP server "
		    "running? choose --tftp-port)",
		    a, cfg->tftp_port, strerror(errno));
		goto fail;
	}
	if (loop_add_fd(t->loop, t->sock, LOOP_READ, tftp_handle_sock, t) < 0) {
		snprintf(msg, msglen, "tftp: cannot watch the socket");
		goto fail;
	}
	/* A socket and a file for each transfer. */
	io_nofile_reserve(2 * (size_t)cfg->tftp_max_transfers + 256);
	for (i = 0; i < TFTP_BUCKETS; i++) {
		t->buckets[i] = NULL;
	}
	log_info(&t->log,
	    "event=open root=\"%s\" port=%u blksize_max=%u windowsize_max=%u",
	    cfg->tftp_root, cfg->tftp_port, cfg->tftp_blksize_max,
	    cfg->tftp_windowsize_max);
	return t;
fail:
	tftp_service_close(t);
	return NULL;
}

void
tftp_service_close(struct tftp_service *t)
{
	size_t i;

	if (!t) {
		return;
	}
	for (i = 0; i < TFTP_BUCKETS; i++) {
		while (t->buckets[i]) {
			tftp_conn_free(t->buckets[i]);
		}
	}
	if (t->sock >= 0) {
		loop_close_fd(t->loop, t->sock);
	}
	if (t->root_fd >= 0) {
		close(t->root_fd);
	}
	free(t->slots);
	free(t->msgs);
	free(t->iovs);
	free(t);
}
