#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/dhcp/dhcp.h"
#include "proto/dhcp/frame.h"
#include "server/dhcpwatch.h"

/* Frames read per wake-up before the loop serves others. */
#define DHCPWATCH_BATCH 64
#define DHCPWATCH_PKT   1600

/* One boot pinetboot serves, and the REQUEST it waits to see answered. */
struct dhcpwatch_entry {
	uint8_t mac[6];
	uint64_t until_ms; /* window end; 0: slot free */
	bool pending;
	uint32_t xid, want, server;
	uint64_t asked_ms;
};

struct dhcpwatch {
	struct dhcpwatch_entry *e; /* owned, max entries */
	size_t n, max;
	const struct dhcpwatch_ops *ops; /* borrowed */
	void *arg;
	struct dhcpwatch_stats stats;
	struct loop *loop; /* borrowed; NULL until dhcpwatch_open() */
	int fd;
	struct loop_timer timer;
	/*
	 * Every DHCP frame on the segment passes the filter, a flood too:
	 * each is parsed into this one message, nothing is allocated.
	 */
	struct dhcp_msg msg;
};

struct dhcpwatch *
dhcpwatch_new(size_t max, const struct dhcpwatch_ops *ops, void *arg)
{
	struct dhcpwatch *w = calloc(1, sizeof(*w));

	if (!w) {
		return NULL;
	}
	w->e = calloc(max ? max : 1, sizeof(*w->e));
	if (!w->e) {
		free(w);
		return NULL;
	}
	w->max = max ? max : 1;
	w->ops = ops;
	w->arg = arg;
	w->fd = -1;
	return w;
}

void
dhcpwatch_free(struct dhcpwatch *w)
{
	if (!w) {
		return;
	}
	if (w->loop) {
		loop_timer_cancel(w->loop, &w->timer);
		if (w->fd >= 0) {
			loop_close_fd(w->loop, w->fd);
		}
	}
	free(w->e);
	free(w);
}

static struct dhcpwatch_entry *
dhcpwatch_find(struct dhcpwatch *w, const uint8_t mac[6], uint64_t now_ms)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		if (w->e[i].until_ms >= now_ms &&
		    !memcmp(w->e[i].mac, mac, 6)) {
			return &w->e[i];
		}
	}
	return NULL;
}

void
dhcpwatch_open_window(
    struct dhcpwatch *w, const uint8_t mac[6], uint64_t until_ms)
{
	struct dhcpwatch_entry *e = NULL;
	size_t i;

	for (i = 0; i < w->n && !e; i++) {
		if (!memcmp(w->e[i].mac, mac, 6)) {
			e = &w->e[i];
		}
	}
	if (!e && w->n < w->max) {
		e = &w->e[w->n++];
		memset(e, 0, sizeof(*e));
		memcpy(e->mac, mac, 6);
	}
	if (!e) {
		/* Full: the window that ends first makes room. */
		e = &w->e[0];
		for (i = 1; i < w->n; i++) {
			if (w->e[i].until_ms < e->until_ms) {
				e = &w->e[i];
			}
		}
		memset(e, 0, sizeof(*e));
		memcpy(e->mac, mac, 6);
	}
	e->until_ms = until_ms;
}

static void
dhcpwatch_arm(struct dhcpwatch *w, uint64_t when_ms)
{
	if (w->loop &&
	    (!loop_timer_is_armed(&w->timer) || w->timer.when_ms > when_ms)) {
		(void)loop_timer_arm(w->loop, &w->timer, when_ms);
	}
}

/* A client's REQUEST (RFC 2131 §4.3.2): remember what it asks for. */
static void
dhcpwatch_request(
    struct dhcpwatch *w, const struct dhcp_msg *m, uint64_t now_ms)
{
	struct dhcpwatch_entry *e = dhcpwatch_find(w, m->chaddr, now_ms);
	uint32_t want = 0, server = 0;

	if (!e) {
		return;
	}
	if (!dhcp_opt_addr(m, DHCP_OPT_REQUESTED_IP, &want)) {
		want = m->ciaddr;
	}
	(void)dhcp_opt_addr(m, DHCP_OPT_SERVER_ID, &server);
	if (!want) {
		return;
	}
	w->stats.requests++;
	e->pending = true;
	e->xid = m->xid;
	e->want = want;
	e->server = server;
	e->asked_ms = now_ms;
	dhcpwatch_arm(w, now_ms + DHCPWATCH_ACK_MS);
}

/* A server's ACK or NAK: binds only when it answers the REQUEST seen. */
static void
dhcpwatch_reply(struct dhcpwatch *w, const struct dhcp_msg *m, uint64_t now_ms)
{
	struct dhcpwatch_entry *e = dhcpwatch_find(w, m->chaddr, now_ms);
	uint32_t server = 0;

	if (!e || !e->pending || now_ms - e->asked_ms > DHCPWATCH_ACK_MS) {
		return;
	}
	(void)dhcp_opt_addr(m, DHCP_OPT_SERVER_ID, &server);
	if (m->xid != e->xid || (e->server && server != e->server)) {
		w->stats.foreign++;
		return;
	}
	if (m->type == DHCPNAK) {
		e->pending = false;
		w->stats.naked++;
		w->ops->naked(w->arg, e->mac, e->want, server);
		return;
	}
	if (m->yiaddr != e->want) {
		w->stats.foreign++;
		return;
	}
	e->pending = false;
	w->stats.bound++;
	w->ops->bound(w->arg, e->mac, e->want, server);
}

int
dhcpwatch_feed(
    struct dhcpwatch *w, const uint8_t *pkt, size_t len, uint64_t now_ms)
{
	struct dhcp_msg *m = &w->msg;
	struct dhcp_frame f;
	int r;

	w->stats.frames++;
	r = dhcp_frame_parse(pkt, len, &f);
	if (r == 0) {
		r = dhcp_parse(f.payload, f.payload_len, m);
	}
	if (r < 0) {
		w->stats.malformed++;
		return r;
	}
	if (f.sport == 68 && f.dport == 67 && m->op == DHCP_BOOTREQUEST &&
	    m->type == DHCPREQUEST) {
		dhcpwatch_request(w, m, now_ms);
	} else if (f.sport == 67 && f.dport == 68 && m->op == DHCP_BOOTREPLY &&
	    (m->type == DHCPACK || m->type == DHCPNAK)) {
		dhcpwatch_reply(w, m, now_ms);
	}
	return 0;
}

uint64_t
dhcpwatch_tick(struct dhcpwatch *w, uint64_t now_ms)
{
	uint64_t next = 0;
	size_t i;

	for (i = 0; i < w->n; i++) {
		struct dhcpwatch_entry *e = &w->e[i];
		uint64_t due = e->asked_ms + DHCPWATCH_ACK_MS;

		if (!e->pending) {
			continue;
		}
		if (due <= now_ms) {
			e->pending = false;
			w->stats.unseen++;
			w->ops->unseen(w->arg, e->mac, e->want, e->server);
		} else if (!next || due < next) {
			next = due;
		}
	}
	return next;
}

static void
dhcpwatch_handle_timer(struct loop *l, struct loop_timer *t)
{
	struct dhcpwatch *w = t->arg;
	uint64_t next = dhcpwatch_tick(w, loop_now_ms(l));

	if (next) {
		(void)loop_timer_arm(l, &w->timer, next);
	}
}

static void
dhcpwatch_handle_fd(struct loop *l, int fd, unsigned events, void *arg)
{
	struct dhcpwatch *w = arg;
	uint8_t pkt[DHCPWATCH_PKT];
	int i;

	(void)events;
	for (i = 0; i < DHCPWATCH_BATCH; i++) {
		ssize_t n = recv(fd, pkt, sizeof(pkt), 0);

		if (n < 0) {
			break;
		}
		(void)dhcpwatch_feed(w, pkt, (size_t)n, loop_now_ms(l));
	}
}

/*
 * The kernel keeps everything but UDP between ports 67 and 68, unfragmented,
 * from ever reaching us.  A SOCK_DGRAM packet socket filters the IP packet,
 * without the link header.
 */
static int
dhcpwatch_filter(int fd)
{
	static const struct sock_filter code[] = {
	    /* IP protocol must be UDP. */
	    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 11),
	    /* No fragments. */
	    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),
	    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x3fff, 9, 0),
	    /* X = header length; A = source port. */
	    BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
	    BPF_STMT(BPF_LD | BPF_H | BPF_IND, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 67, 0, 2),
	    /* From 67: the destination must be 68. */
	    BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 68, 3, 4),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 68, 0, 3),
	    /* From 68: the destination must be 67. */
	    BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 67, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, DHCPWATCH_PKT),
	    BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = {
	    .len = sizeof(code) / sizeof(code[0]),
	    .filter = (struct sock_filter *)code,
	};

	return setsockopt(
		   fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0
	    ? -errno
	    : 0;
}

int
dhcpwatch_open(struct dhcpwatch *w, struct loop *l, unsigned ifindex, char *msg,
    size_t msglen)
{
	struct sockaddr_ll sll = {
	    .sll_family = AF_PACKET,
	    .sll_protocol = htons(ETH_P_IP),
	    .sll_ifindex = (int)ifindex,
	};
	int fd, r;

	/* Protocol 0: nothing is queued before the filter is in place. */
	fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(msg, msglen, "packet socket: %s", strerror(-r));
		return r;
	}
	r = dhcpwatch_filter(fd);
	if (r == 0 && bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		r = -errno;
	}
	if (r < 0) {
		snprintf(msg, msglen, "packet socket: %s", strerror(-r));
		close(fd);
		return r;
	}
	r = loop_add_fd(l, fd, LOOP_READ, dhcpwatch_handle_fd, w);
	if (r < 0) {
		snprintf(msg, msglen, "event loop: %s", strerror(-r));
		close(fd);
		return r;
	}
	w->loop = l;
	w->fd = fd;
	loop_timer_init(&w->timer, dhcpwatch_handle_timer, w);
	return 0;
}

const struct dhcpwatch_stats *
dhcpwatch_stats(const struct dhcpwatch *w)
{
	return &w->stats;
}
