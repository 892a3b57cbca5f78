#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "server/nfs/rpcsrv.h"

#define RPCSRV_UDP_MAX 65536
#define RPCSRV_READ    65536

struct rpcsrv_out {
	struct rpcsrv_out *next;
	uint8_t *p; /* owned */
	size_t len, off;
	int fd; /* owned, -1 for none: data sent with sendfile after p */
	off_t foff;
	size_t flen, fdone, pad, pdone;
};

static void
rpcsrv_out_free(struct rpcsrv_out *o)
{
	if (o->fd >= 0) {
		close(o->fd);
	}
	free(o->p);
	free(o);
}

struct rpcsrv_conn {
	struct rpcsrv *srv;
	int fd;
	struct sockaddr_in peer;
	struct rpc_rm rm;
	struct rpcsrv_out *out_head, *out_tail;
	size_t queued;
	uint32_t inflight;
	uint64_t last_ms; /* last byte in or reply out */
	/*
	 * Bytes read but not fed yet because the connection had
	 * max_inflight calls in progress: calls are not even decoded
	 * beyond the limit, so a burst of small calls cannot make the
	 * server produce an unbounded amount of replies.
	 */
	uint8_t *pend; /* owned */
	size_t pend_len;
	struct loop_timer drain;
	unsigned refs;
	bool dead, reading, writing;
	struct rpcsrv_conn *prev, *next;
};

struct rpcsrv {
	struct loop *loop;
	const char *svc;
	uint16_t port;
	int tcp_fd, udp_fd;
	struct rpcsrv_limits lim;
	rpcsrv_call_fn fn;
	void *arg;
	struct rpcsrv_conn *conns;
	uint32_t nconns;
	uint8_t *udp_buf;
	struct rpcsrv_stats stats;
	struct log_ctx log;
	struct log_ratelimit rl;
	struct loop_timer sweep;
	uint32_t sweep_ms;
};

#define RPCSRV_SWEEP_MS 30000

static void rpcsrv_conn_update(struct rpcsrv_conn *c);

static void
rpcsrv_conn_unref(struct rpcsrv_conn *c)
{
	struct rpcsrv_out *o;

	if (--c->refs > 0) {
		return;
	}
	while ((o = c->out_head)) {
		c->out_head = o->next;
		rpcsrv_out_free(o);
	}
	rpc_rm_fini(&c->rm);
	free(c->pend);
	free(c);
}

static void
rpcsrv_conn_close(struct rpcsrv_conn *c)
{
	struct rpcsrv *s = c->srv;

	if (c->dead) {
		return;
	}
	c->dead = true;
	loop_timer_cancel(s->loop, &c->drain);
	loop_close_fd(s->loop, c->fd);
	c->fd = -1;
	if (c->prev) {
		c->prev->next = c->next;
	} else {
		s->conns = c->next;
	}
	if (c->next) {
		c->next->prev = c->prev;
	}
	s->nconns--;
	rpcsrv_conn_unref(c);
}

void
rpcsrv_peer_str(const struct rpcsrv_req *req, char *dst, size_t cap)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &req->peer.sin_addr, a, sizeof(a));
	snprintf(dst, cap, "%s:%u", a, ntohs(req->peer.sin_port));
}

static void
rpcsrv_free_req(struct rpcsrv_req *req)
{
	if (req->conn) {
		req->conn->inflight--;
		if (!req->conn->dead) {
			rpcsrv_conn_update(req->conn);
		}
		rpcsrv_conn_unref(req->conn);
	}
	if (req->file_fd >= 0) {
		close(req->file_fd);
	}
	free(req->rec);
	free(req->reply);
	free(req);
}

void
rpcsrv_drop(struct rpcsrv_req *req)
{
	rpcsrv_free_req(req);
}

int
rpcsrv_reply_buf(struct rpcsrv_req *req, size_t cap, struct wcur *w)
{
	free(req->reply);
	req->reply = malloc(cap + 4);
	if (!req->reply) {
		return -ENOMEM;
	}
	*w = wcur_init(req->reply, cap + 4);
	wcur_zero(w, 4);
	return 0;
}

void
rpcsrv_reply_done(struct rpcsrv_req *req, const struct wcur *w)
{
	req->reply_len = w->err ? 0 : w->off;
}

/*
 * Send the next piece of @o: its bytes, then the file part, then the
 * padding.  A file that shrank since the reply was built is made up with
 * zeros so the record keeps the length its marker announced.
 * Return: bytes sent (> 0), 0 when @o is complete, or -1 with errno.
 */
static ssize_t
rpcsrv_out_send(int sock, struct rpcsrv_out *o)
{
	static const uint8_t zeros[4096];
	size_t left;
	ssize_t n;

	if (o->off < o->len) {
		int more = o->flen + o->pad > 0 ? MSG_MORE : 0;

		n = send(sock, o->p + o->off, o->len - o->off,
		    MSG_NOSIGNAL | MSG_DONTWAIT | more);
		if (n > 0) {
			o->off += (size_t)n;
		}
		return n;
	}
	if (o->fdone < o->flen) {
		left = o->flen - o->fdone;
		n = sendfile(sock, o->fd, &o->foff, left);
		if (n == 0) {
			n = send(sock, zeros,
			    left < sizeof(zeros) ? left : sizeof(zeros),
			    MSG_NOSIGNAL | MSG_DONTWAIT | MSG_MORE);
		}
		if (n > 0) {
			o->fdone += (size_t)n;
		}
		return n;
	}
	if (o->pdone < o->pad) {
		n = send(sock, zeros, o->pad - o->pdone,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			o->pdone += (size_t)n;
		}
		return n;
	}
	return 0;
}

/* Write what is queued; returns -1 when the connection was closed. */
static int
rpcsrv_conn_flush(struct rpcsrv_conn *c)
{
	struct rpcsrv_out *o;

	while ((o = c->out_head)) {
		ssize_t n = rpcsrv_out_send(c->fd, o);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				return 0;
			}
			rpcsrv_conn_close(c);
			return -1;
		}
		if (n > 0) {
			c->queued -= (size_t)n;
			continue;
		}
		c->out_head = o->next;
		if (!c->out_head) {
			c->out_tail = NULL;
		}
		rpcsrv_out_free(o);
	}
	return 0;
}

void
rpcsrv_reply(struct rpcsrv_req *req)
{
	struct rpcsrv *s = req->srv;
	struct rpcsrv_conn *c = req->conn;
	struct rpcsrv_out *o;

	if (!req->reply || req->reply_len <= 4) {
		rpcsrv_free_req(req);
		return;
	}
	if (!req->tcp) {
		/* A lost UDP reply is the client's retransmission to handle. */
		(void)sendto(s->udp_fd, req->reply + 4, req->reply_len - 4,
		    MSG_DONTWAIT, (struct sockaddr *)&req->peer,
		    sizeof(req->peer));
		rpcsrv_free_req(req);
		return;
	}
	if (c->dead) {
		rpcsrv_free_req(req);
		return;
	}
	rpc_rm_marker(req->reply,
	    req->reply_len - 4 +
		(req->file_fd >= 0 ? req->file_len + req->file_pad : 0));
	o = calloc(1, sizeof(*o));
	if (!o) {
		rpcsrv_conn_close(c);
		rpcsrv_free_req(req);
		return;
	}
	o->p = req->reply;
	o->len = req->reply_len;
	o->fd = req->file_fd;
	if (o->fd >= 0) {
		o->foff = (off_t)req->file_off;
		o->flen = req->file_len;
		o->pad = req->file_pad;
	}
	req->reply = NULL;
	req->file_fd = -1;
	if (c->out_tail) {
		c->out_tail->next = o;
	} else {
		c->out_head = o;
	}
	c->out_tail = o;
	c->queued += o->len + o->flen + o->pad;
	c->last_ms = loop_now_ms(s->loop);
	if (rpcsrv_conn_flush(c) == 0) {
		rpcsrv_conn_update(c);
	}
	rpcsrv_free_req(req);
}

/* Parse one record and hand it to the handler; takes @rec. */
static void
rpcsrv_dispatch(struct rpcsrv *s, struct rpcsrv_conn *c,
    const struct sockaddr_in *peer, uint8_t *rec, size_t len)
{
	struct rpcsrv_req *req = calloc(1, sizeof(*req));
	int r;

	if (!req) {
		free(rec);
		return;
	}
	req->srv = s;
	req->conn = c;
	req->file_fd = -1;
	req->tcp = c != NULL;
	req->peer = *peer;
	req->rec = rec;
	req->len = len;
	req->start_us = loop_clock_us();
	if (c) {
		c->refs++;
		c->inflight++;
	}
	r = rpc_call_parse(rec, len, &req->call);
	if (r == -EPROTONOSUPPORT) {
		struct wcur w;

		if (rpcsrv_reply_buf(req, 32, &w) == 0) {
			rpc_reply_build_rpc_mismatch(&w, req->call.xid);
			rpcsrv_reply_done(req, &w);
		}
		s->stats.bad_calls++;
		rpcsrv_reply(req);
		return;
	}
	if (r < 0) {
		char peer_s[48];

		/* Not a call we can answer: nothing to reply to. */
		s->stats.bad_calls++;
		if (log_ratelimit_ok(&s->rl, loop_now_ms(s->loop))) {
			rpcsrv_peer_str(req, peer_s, sizeof(peer_s));
			log_warn(&s->log, "peer=%s event=bad-call error=\"%s\"",
			    peer_s, strerror(-r));
		}
		rpcsrv_drop(req);
		return;
	}
	s->stats.calls++;
	s->fn(s->arg, req);
}

/*
 * Feed @n bytes at @data (borrowed) to the reassembler and dispatch the
 * records, stopping at max_inflight calls in progress; what is left is
 * kept in c->pend for later.
 */
static void
rpcsrv_conn_feed(struct rpcsrv_conn *c, const uint8_t *data, size_t n)
{
	struct rpcsrv *s = c->srv;
	size_t off = 0, used;
	int r;

	while (off < n && !c->dead) {
		if (c->inflight >= s->lim.max_inflight) {
			c->pend = malloc(n - off);
			if (!c->pend) {
				rpcsrv_conn_close(c);
				return;
			}
			memcpy(c->pend, data + off, n - off);
			c->pend_len = n - off;
			return;
		}
		r = rpc_rm_feed(&c->rm, data + off, n - off, &used);
		off += used;
		if (r < 0) {
			char a[INET_ADDRSTRLEN];

			s->stats.records_too_big++;
			inet_ntop(AF_INET, &c->peer.sin_addr, a, sizeof(a));
			log_warn(&s->log,
			    "peer=%s:%u event=close reason=\"record over %zu "
			    "bytes\"",
			    a, ntohs(c->peer.sin_port), s->lim.max_record);
			rpcsrv_conn_close(c);
			return;
		}
		if (r == 1) {
			size_t len;
			uint8_t *rec = rpc_rm_take(&c->rm, &len);

			if (rec) {
				rpcsrv_dispatch(s, c, &c->peer, rec, len);
			}
		}
	}
}

static void
rpcsrv_conn_read(struct rpcsrv_conn *c)
{
	struct rpcsrv *s = c->srv;
	uint8_t buf[RPCSRV_READ];
	ssize_t n;

	n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		rpcsrv_conn_close(c);
		return;
	}
	if (n < 0) {
		return;
	}
	c->last_ms = loop_now_ms(s->loop);
	c->refs++;
	rpcsrv_conn_feed(c, buf, (size_t)n);
	if (!c->dead) {
		rpcsrv_conn_update(c);
	}
	rpcsrv_conn_unref(c);
}

/*
 * Calls finished: go on with the bytes kept back.  It runs from a timer
 * so that a reply sent from inside a dispatch never recurses into more
 * dispatching.
 */
static void
rpcsrv_conn_drain(struct loop *l, struct loop_timer *t)
{
	struct rpcsrv_conn *c = t->arg;
	uint8_t *p = c->pend;
	size_t n = c->pend_len;

	(void)l;
	c->pend = NULL;
	c->pend_len = 0;
	c->refs++;
	rpcsrv_conn_feed(c, p, n);
	free(p);
	if (!c->dead) {
		rpcsrv_conn_update(c);
	}
	rpcsrv_conn_unref(c);
}

static void
rpcsrv_conn_io(struct loop *l, int fd, unsigned events, void *arg)
{
	struct rpcsrv_conn *c = arg;

	(void)l;
	(void)fd;
	c->refs++;
	if ((events & LOOP_WRITE) && !c->dead) {
		if (rpcsrv_conn_flush(c) == 0) {
			rpcsrv_conn_update(c);
		}
	}
	if ((events & LOOP_READ) && !c->dead && c->reading) {
		rpcsrv_conn_read(c);
	}
	rpcsrv_conn_unref(c);
}

/* Read while under the limits, write while output is queued. */
static void
rpcsrv_conn_update(struct rpcsrv_conn *c)
{
	struct rpcsrv *s = c->srv;
	bool room =
	    c->inflight < s->lim.max_inflight && c->queued < s->lim.max_queued;
	bool rd = room && !c->pend;
	bool wr = c->out_head != NULL;
	unsigned ev = (rd ? LOOP_READ : 0) | (wr ? LOOP_WRITE : 0);

	if (room && c->pend && !loop_timer_is_armed(&c->drain)) {
		loop_timer_arm(s->loop, &c->drain, loop_now_ms(s->loop));
	}

	if (rd == c->reading && wr == c->writing) {
		return;
	}
	c->reading = rd;
	c->writing = wr;
	loop_mod_fd(s->loop, c->fd, ev);
}

static void
rpcsrv_accept(struct loop *l, int fd, unsigned events, void *arg)
{
	struct rpcsrv *s = arg;
	struct sockaddr_in peer;
	socklen_t plen = sizeof(peer);
	struct rpcsrv_conn *c;
	int cfd, one = 1;

	(void)l;
	(void)events;
	cfd = accept4(
	    fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0) {
		return;
	}
	if (s->nconns >= s->lim.max_conns) {
		s->stats.conns_refused++;
		if (log_ratelimit_ok(&s->rl, loop_now_ms(s->loop))) {
			log_warn(&s->log,
			    "event=refuse reason=\"max_connections %u "
			    "reached\"",
			    s->lim.max_conns);
		}
		close(cfd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(cfd);
		return;
	}
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(cfd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	c->srv = s;
	c->fd = cfd;
	c->peer = peer;
	c->refs = 1;
	c->reading = true;
	loop_timer_init(&c->drain, rpcsrv_conn_drain, c);
	c->last_ms = loop_now_ms(s->loop);
	rpc_rm_init(&c->rm, s->lim.max_record);
	if (loop_add_fd(s->loop, cfd, LOOP_READ, rpcsrv_conn_io, c) < 0) {
		rpc_rm_fini(&c->rm);
		close(cfd);
		free(c);
		return;
	}
	c->next = s->conns;
	if (s->conns) {
		s->conns->prev = c;
	}
	s->conns = c;
	s->nconns++;
	s->stats.conns++;
}

static void
rpcsrv_udp_read(struct loop *l, int fd, unsigned events, void *arg)
{
	struct rpcsrv *s = arg;
	int i;

	(void)l;
	(void)events;
	/* A bounded batch per wake-up so TCP clients get their turn. */
	for (i = 0; i < 32; i++) {
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);
		ssize_t n = recvfrom(fd, s->udp_buf, RPCSRV_UDP_MAX,
		    MSG_DONTWAIT, (struct sockaddr *)&peer, &plen);
		uint8_t *rec;

		if (n < 0) {
			return;
		}
		rec = malloc(n > 0 ? (size_t)n : 1);
		if (!rec) {
			return;
		}
		memcpy(rec, s->udp_buf, (size_t)n);
		rpcsrv_dispatch(s, NULL, &peer, rec, (size_t)n);
	}
}

static void
rpcsrv_sweep(struct loop *l, struct loop_timer *t)
{
	struct rpcsrv *s = t->arg;
	struct rpcsrv_conn *c, *next;
	uint64_t now = loop_now_ms(l);

	for (c = s->conns; c; c = next) {
		next = c->next;
		if (c->inflight == 0 && !c->out_head &&
		    now - c->last_ms >= s->lim.idle_ms) {
			char a[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &c->peer.sin_addr, a, sizeof(a));
			log_debug(&s->log, "peer=%s:%u event=close reason=idle",
			    a, ntohs(c->peer.sin_port));
			rpcsrv_conn_close(c);
		}
	}
	loop_timer_arm(l, &s->sweep, now + s->sweep_ms);
}

static int
rpcsrv_bind(int type, uint16_t port, uint16_t *bound)
{
	struct sockaddr_in sa = {
	    .sin_family = AF_INET,
	    .sin_port = htons(port),
	    .sin_addr.s_addr = htonl(INADDR_ANY),
	};
	socklen_t slen = sizeof(sa);
	int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, r;

	if (fd < 0) {
		return -errno;
	}
	if (type == SOCK_STREAM) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	} else {
		int sz = 4 * 1024 * 1024;

		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 128) < 0) ||
	    getsockname(fd, (struct sockaddr *)&sa, &slen) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*bound = ntohs(sa.sin_port);
	return fd;
}

struct rpcsrv *
rpcsrv_open(struct loop *l, const char *svc, uint16_t port,
    const struct rpcsrv_limits *lim, rpcsrv_call_fn fn, void *arg, int *err)
{
	struct rpcsrv *s = calloc(1, sizeof(*s));
	uint16_t p1 = 0, p2 = 0;
	int tries;

	if (!s) {
		*err = -ENOMEM;
		return NULL;
	}
	s->loop = l;
	s->svc = svc;
	s->lim = *lim;
	s->fn = fn;
	s->arg = arg;
	s->tcp_fd = -1;
	s->udp_fd = -1;
	s->log.svc = svc;
	s->udp_buf = malloc(RPCSRV_UDP_MAX);
	if (!s->udp_buf) {
		*err = -ENOMEM;
		goto fail;
	}
	/* With port 0, find one free for both TCP and UDP. */
	for (tries = 0; tries < 16; tries++) {
		s->tcp_fd = rpcsrv_bind(SOCK_STREAM, port, &p1);
		if (s->tcp_fd < 0) {
			*err = s->tcp_fd;
			goto fail;
		}
		s->udp_fd = rpcsrv_bind(SOCK_DGRAM, p1, &p2);
		if (s->udp_fd >= 0) {
			break;
		}
		*err = s->udp_fd;
		close(s->tcp_fd);
		s->tcp_fd = -1;
		if (port != 0) {
			goto fail;
		}
	}
	if (s->udp_fd < 0) {
		goto fail;
	}
	s->port = p1;
	loop_timer_init(&s->sweep, rpcsrv_sweep, s);
	if (s->lim.idle_ms > 0) {
		s->sweep_ms = s->lim.idle_ms < RPCSRV_SWEEP_MS
		    ? s->lim.idle_ms
		    : RPCSRV_SWEEP_MS;
		loop_timer_arm(l, &s->sweep, loop_now_ms(l) + s->sweep_ms);
	}
	if ((*err = loop_add_fd(l, s->tcp_fd, LOOP_READ, rpcsrv_accept, s)) <
		0 ||
	    (*err = loop_add_fd(l, s->udp_fd, LOOP_READ, rpcsrv_udp_read, s)) <
		0) {
		goto fail;
	}
	return s;
fail:
	rpcsrv_close(s);
	return NULL;
}

void
rpcsrv_close(struct rpcsrv *s)
{
	if (!s) {
		return;
	}
	loop_timer_cancel(s->loop, &s->sweep);
	while (s->conns) {
		rpcsrv_conn_close(s->conns);
	}
	if (s->tcp_fd >= 0) {
		loop_close_fd(s->loop, s->tcp_fd);
	}
	if (s->udp_fd >= 0) {
		loop_close_fd(s->loop, s->udp_fd);
	}
	free(s->udp_buf);
	free(s);
}

uint16_t
rpcsrv_port(const struct rpcsrv *s)
{
	return s->port;
}

const struct rpcsrv_stats *
rpcsrv_stats(const struct rpcsrv *s)
{
	return &s->stats;
}
