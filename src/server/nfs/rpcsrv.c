#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <pthread.h>
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

/*
 * What a queued reply costs beyond its bytes (its struct and two
 * allocations), so that a flood of tiny replies is counted as what it
 * holds, not as what it sends.
 */
#define RPCSRV_OUT_COST 128
/* Over max_mem a connection holding less than this may still be read. */
#define RPCSRV_MEM_FLOOR (64 * 1024)
/* Over max_mem, replies stuck this long mean the peer does not read. */
#define RPCSRV_PRESSURE_STALL_MS 1000
#define RPCSRV_SWEEP_MS          30000

struct rpcsrv_out {
	struct rpcsrv_out *next;
	uint8_t *p; /* owned */
	size_t len, off;
	int fd; /* owned, -1 for none: data sent with sendfile after p */
	off_t foff;
	size_t flen, fdone, pad, pdone;
};

struct rpcsrv_conn {
	struct rpcsrv *srv;
	int fd;
	struct sockaddr_in peer;
	struct rpc_rm rm;
	size_t rm_charged; /* rm.rec_cap as counted in mem */
	struct rpcsrv_out *out_head, *out_tail;
	size_t queued; /* reply bytes and RPCSRV_OUT_COSTs not yet sent */
	size_t mem;    /* memory held for this connection, see rpcsrv_mem_add */
	uint32_t inflight;
	uint64_t active_ms; /* accepted, a whole call in, reply bytes out */
	uint64_t record_ms; /* when the record coming in began; 0: none */
	uint64_t sent_ms;   /* last progress of queued replies */
	/*
	 * Bytes read but not fed yet because the connection had
	 * max_inflight calls in progress: calls are not even decoded
	 * beyond the limit, so a burst of small calls cannot make the
	 * server produce an unbounded amount of replies.
	 */
	uint8_t *pend; /* owned */
	size_t pend_len;
	struct loop_timer drain;
	/*
	 * Lets a worker send its reply itself (rpcsrv_reply_send) instead
	 * of waking the loop for it.  Held by whoever sends on fd, and by
	 * the loop when it makes out_head empty or not, sets partial, or
	 * closes fd; so a worker sends only on an open socket, only when no
	 * other record is on its way, and never into the middle of one.
	 */
	pthread_mutex_t wmu;
	/*
	 * A worker sent the first part of a record and the socket took no
	 * more; nothing else may go out until the loop has queued the rest
	 * at the head.
	 */
	bool partial;
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
	uint32_t udp_inflight;
	bool udp_reading;
	size_t mem;
	bool over; /* mem went over max_mem and not yet back under 7/8 */
	struct rpcsrv_stats stats;
	struct log_ctx log;
	struct log_ratelimit rl;
	struct loop_timer sweep, resume;
	uint32_t sweep_ms;
};

static void rpcsrv_conn_update(struct rpcsrv_conn *c);
static void rpcsrv_udp_update(struct rpcsrv *s);

/*
 * Memory held for calls and replies: partial records, bytes read but not
 * decoded, records of calls in progress, queued replies.  Counted for
 * each connection (@c, NULL for UDP) and for the server.
 */
static void
rpcsrv_mem_add(struct rpcsrv *s, struct rpcsrv_conn *c, size_t n)
{
	s->mem += n;
	if (c) {
		c->mem += n;
	}
	if (s->lim.max_mem && !s->over && s->mem >= s->lim.max_mem) {
		s->over = true;
		if (log_ratelimit_ok(&s->rl, loop_now_ms(s->loop))) {
			log_warn(&s->log,
			    "event=memory-pressure held=%zu max=%zu "
			    "note=\"reading paused for the biggest holders; "
			    "peers that do not read are closed\"",
			    s->mem, s->lim.max_mem);
		}
		/* Find the peers that do not read now, not in 30 s. */
		loop_timer_arm(s->loop, &s->sweep, loop_now_ms(s->loop));
	}
}

static void
rpcsrv_mem_sub(struct rpcsrv *s, struct rpcsrv_conn *c, size_t n)
{
	assert(s->mem >= n && (!c || c->mem >= n));
	s->mem -= n;
	if (c) {
		c->mem -= n;
	}
	if (s->over && s->mem < s->lim.max_mem - s->lim.max_mem / 8) {
		s->over = false;
		/* From a timer: this runs inside paths that free things. */
		loop_timer_arm(s->loop, &s->resume, loop_now_ms(s->loop));
	}
}

/* Bring the count of @c's partial record in line with what it holds. */
static void
rpcsrv_rm_account(struct rpcsrv_conn *c)
{
	if (c->rm.rec_cap > c->rm_charged) {
		rpcsrv_mem_add(c->srv, c, c->rm.rec_cap - c->rm_charged);
	} else if (c->rm.rec_cap < c->rm_charged) {
		rpcsrv_mem_sub(c->srv, c, c->rm_charged - c->rm.rec_cap);
	}
	c->rm_charged = c->rm.rec_cap;
}

static void
rpcsrv_out_free(struct rpcsrv_conn *c, struct rpcsrv_out *o)
{
	rpcsrv_mem_sub(c->srv, c, o->len + RPCSRV_OUT_COST);
	if (o->fd >= 0) {
		close(o->fd);
	}
	free(o->p);
	free(o);
}

static void
rpcsrv_conn_unref(struct rpcsrv_conn *c)
{
	struct rpcsrv_out *o;

	if (--c->refs > 0) {
		return;
	}
	while ((o = c->out_head)) {
		c->out_head = o->next;
		rpcsrv_out_free(c, o);
	}
	rpc_rm_fini(&c->rm);
	rpcsrv_rm_account(c);
	if (c->pend) {
		rpcsrv_mem_sub(c->srv, c, c->pend_len);
	}
	free(c->pend);
	pthread_mutex_destroy(&c->wmu);
	free(c);
}

static void
rpcsrv_conn_close(struct rpcsrv_conn *c)
{
	struct rpcsrv *s = c->srv;
	int fd;

	if (c->dead) {
		return;
	}
	c->dead = true;
	loop_timer_cancel(s->loop, &c->drain);
	/* Not while a worker sends on it: the number could be reused. */
	pthread_mutex_lock(&c->wmu);
	fd = c->fd;
	c->fd = -1;
	pthread_mutex_unlock(&c->wmu);
	loop_close_fd(s->loop, fd);
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

/* Close @c for a reason the peer caused; logged rate-limited. */
static void
rpcsrv_conn_drop(struct rpcsrv_conn *c, const char *why)
{
	struct rpcsrv *s = c->srv;
	char a[INET_ADDRSTRLEN];

	if (log_ratelimit_ok(&s->rl, loop_now_ms(s->loop))) {
		inet_ntop(AF_INET, &c->peer.sin_addr, a, sizeof(a));
		log_warn(&s->log,
		    "peer=%s:%u event=close reason=\"%s\" suppressed=%u", a,
		    ntohs(c->peer.sin_port), why, s->rl.suppressed);
		s->rl.suppressed = 0;
	}
	rpcsrv_conn_close(c);
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
	struct rpcsrv *s = req->srv;

	if (req->charge) {
		rpcsrv_mem_sub(s, req->conn, req->charge);
	}
	if (req->conn) {
		req->conn->inflight--;
		if (!req->conn->dead) {
			rpcsrv_conn_update(req->conn);
		}
		rpcsrv_conn_unref(req->conn);
	} else {
		s->udp_inflight--;
		rpcsrv_udp_update(s);
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

/*
 * @o as the reply of @req (its bytes borrowed), marker written, from
 * where rpcsrv_reply_send() left it.
 */
static void
rpcsrv_out_describe(struct rpcsrv_out *o, struct rpcsrv_req *req)
{
	bool file = req->file_fd >= 0;

	rpc_rm_marker(req->reply,
	    req->reply_len - 4 + (file ? req->file_len + req->file_pad : 0));
	*o = (struct rpcsrv_out){
	    .p = req->reply,
	    .len = req->reply_len,
	    .off = req->sent_off,
	    .fd = req->file_fd,
	    .foff = file ? (off_t)(req->file_off + req->sent_file) : 0,
	    .flen = file ? req->file_len : 0,
	    .fdone = req->sent_file,
	    .pad = file ? req->file_pad : 0,
	    .pdone = req->sent_pad,
	};
}

/* Write what is queued; returns -1 when the connection was closed. */
static int
rpcsrv_conn_flush(struct rpcsrv_conn *c)
{
	struct rpcsrv_out *o;
	uint64_t now = loop_now_ms(c->srv->loop);
	bool failed = false;

	pthread_mutex_lock(&c->wmu);
	while (!c->partial && (o = c->out_head)) {
		ssize_t n = rpcsrv_out_send(c->fd, o);

		if (n < 0) {
			failed = errno != EAGAIN && errno != EINTR;
			break;
		}
		c->sent_ms = now;
		c->active_ms = now;
		if (n > 0) {
			c->queued -= (size_t)n;
			continue;
		}
		c->out_head = o->next;
		if (!c->out_head) {
			c->out_tail = NULL;
		}
		c->queued -= RPCSRV_OUT_COST;
		rpcsrv_out_free(c, o);
	}
	pthread_mutex_unlock(&c->wmu);
	if (failed) {
		rpcsrv_conn_close(c);
		return -1;
	}
	return 0;
}

bool
rpcsrv_reply_send(struct rpcsrv_req *req)
{
	struct rpcsrv_conn *c = req->conn;
	struct rpcsrv_out o;
	ssize_t n;

	if (!req->reply || req->reply_len <= 4 || req->sent_all) {
		return req->sent_all;
	}
	if (!req->tcp) {
		/* A lost UDP reply is the client's retransmission to handle. */
		(void)sendto(req->srv->udp_fd, req->reply + 4,
		    req->reply_len - 4, MSG_DONTWAIT,
		    (struct sockaddr *)&req->peer, sizeof(req->peer));
		req->sent_all = true;
		return true;
	}
	rpcsrv_out_describe(&o, req);
	pthread_mutex_lock(&c->wmu);
	if (c->fd >= 0 && !c->out_head && !c->partial) {
		do {
			n = rpcsrv_out_send(c->fd, &o);
		} while (n > 0);
		req->sent_off = o.off;
		req->sent_file = o.fdone;
		req->sent_pad = o.pdone;
		req->sent_all = n == 0;
		/* Whatever else is ready waits for the rest of this record. */
		c->partial = !req->sent_all && o.off > 0;
	}
	pthread_mutex_unlock(&c->wmu);
	return req->sent_all;
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
	if (!req->tcp || c->dead || req->sent_all) {
		rpcsrv_reply_send(req);
		if (req->tcp && req->sent_all) {
			c->sent_ms = c->active_ms = loop_now_ms(s->loop);
		}
		rpcsrv_free_req(req);
		return;
	}
	o = calloc(1, sizeof(*o));
	if (!o) {
		rpcsrv_conn_close(c);
		rpcsrv_free_req(req);
		return;
	}
	rpcsrv_out_describe(o, req);
	req->reply = NULL;
	req->file_fd = -1;
	c->queued += o->len - o->off + o->flen - o->fdone + o->pad - o->pdone +
	    RPCSRV_OUT_COST;
	rpcsrv_mem_add(s, c, o->len + RPCSRV_OUT_COST);
	pthread_mutex_lock(&c->wmu);
	if (o->off > 0) {
		/* The rest of the record a worker began goes first. */
		o->next = c->out_head;
		c->out_head = o;
		c->out_tail = c->out_tail ? c->out_tail : o;
		c->partial = false;
		c->sent_ms = loop_now_ms(s->loop);
	} else if (c->out_tail) {
		c->out_tail->next = o;
		c->out_tail = o;
	} else {
		c->out_head = c->out_tail = o;
		c->sent_ms = loop_now_ms(s->loop);
	}
	pthread_mutex_unlock(&c->wmu);
	if (rpcsrv_conn_flush(c) == 0) {
		if (c->out_tail == o && o->off == 0) {
			/*
			 * It waits for the peer: keep only its bytes, not
			 * the room the handler allocated for the largest
			 * reply it might have built.
			 */
			uint8_t *q = realloc(o->p, o->len);

			o->p = q ? q : o->p;
		}
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
	req->conn_calls = 1;
	if (c) {
		c->refs++;
		c->inflight++;
		c->active_ms = loop_now_ms(s->loop);
		req->conn_calls = c->inflight;
	} else {
		s->udp_inflight++;
	}
	req->charge = len;
	rpcsrv_mem_add(s, c, req->charge);
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
			rpcsrv_mem_add(s, c, c->pend_len);
			return;
		}
		r = rpc_rm_feed(&c->rm, data + off, n - off, &used);
		off += used;
		rpcsrv_rm_account(c);
		if (r < 0) {
			char why[64];

			s->stats.records_too_big++;
			snprintf(why, sizeof(why), "record over %zu bytes",
			    s->lim.max_record);
			rpcsrv_conn_drop(c, why);
			return;
		}
		if (r == 1) {
			size_t len;
			uint8_t *rec = rpc_rm_take(&c->rm, &len);

			rpcsrv_rm_account(c);
			c->record_ms = 0;
			if (rec) {
				rpcsrv_dispatch(s, c, &c->peer, rec, len);
			}
		}
	}
	if (!c->dead && c->record_ms == 0 && rpc_rm_in_record(&c->rm)) {
		c->record_ms = loop_now_ms(s->loop);
	}
}

static void
rpcsrv_conn_read(struct rpcsrv_conn *c)
{
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
	rpcsrv_mem_sub(c->srv, c, n);
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

/*
 * Read while under the limits, write while output is queued.  Over the
 * memory budget only connections that hold almost nothing are read, so
 * a client with one small call still gets it in.
 */
static void
rpcsrv_conn_update(struct rpcsrv_conn *c)
{
	struct rpcsrv *s = c->srv;
	bool room = c->inflight < s->lim.max_inflight &&
	    c->queued < s->lim.max_queued &&
	    (!s->over || c->mem < RPCSRV_MEM_FLOOR);
	bool rd = room && !c->pend;
	bool wr = c->out_head != NULL;
	unsigned ev = (rd ? LOOP_READ : 0) | (wr ? LOOP_WRITE : 0);

	if (room && c->pend && !loop_timer_is_armed(&c->drain)) {
		loop_timer_arm(s->loop, &c->drain, loop_now_ms(s->loop));
	}
	if (rd == c->reading && wr == c->writing) {
		return;
	}
	/*
	 * A record held up because the server stopped reading gets its
	 * time again: the deadline is for peers, not for our own limits.
	 */
	if (rd && !c->reading && c->record_ms) {
		c->record_ms = loop_now_ms(s->loop);
	}
	c->reading = rd;
	c->writing = wr;
	loop_mod_fd(s->loop, c->fd, ev);
}

/* Read UDP while calls in progress and memory allow. */
static void
rpcsrv_udp_update(struct rpcsrv *s)
{
	bool rd = s->udp_inflight < s->lim.max_udp_inflight && !s->over;

	if (rd == s->udp_reading || s->udp_fd < 0) {
		return;
	}
	s->udp_reading = rd;
	if (!rd) {
		s->stats.udp_paused++;
	}
	loop_mod_fd(s->loop, s->udp_fd, rd ? LOOP_READ : 0);
}

/* Back under the memory budget: read everyone again. */
static void
rpcsrv_resume(struct loop *l, struct loop_timer *t)
{
	struct rpcsrv *s = t->arg;
	struct rpcsrv_conn *c;

	(void)l;
	for (c = s->conns; c; c = c->next) {
		rpcsrv_conn_update(c);
	}
	rpcsrv_udp_update(s);
}

/*
 * Which connection to close for a newcomer when all are taken: the one
 * whose record has been arriving longest (a trickle), else the one idle
 * longest; never one with a call in progress or replies to send.
 */
static struct rpcsrv_conn *
rpcsrv_victim(struct rpcsrv *s)
{
	struct rpcsrv_conn *c, *best = NULL;

	for (c = s->conns; c; c = c->next) {
		if (c->inflight || c->out_head || c->pend) {
			continue;
		}
		if (!best || (c->record_ms && !best->record_ms) ||
		    (!c->record_ms == !best->record_ms &&
			(c->record_ms ? c->record_ms < best->record_ms
				      : c->active_ms < best->active_ms))) {
			best = c;
		}
	}
	return best;
}

/* Is there room for one more connection from @peer? */
static bool
rpcsrv_admit(struct rpcsrv *s, const struct sockaddr_in *peer)
{
	struct rpcsrv_conn *c, *victim;
	uint32_t mine = 0;
	char a[INET_ADDRSTRLEN];
	const char *why = NULL;

	for (c = s->conns; c; c = c->next) {
		mine += c->peer.sin_addr.s_addr == peer->sin_addr.s_addr;
	}
	if (mine >= s->lim.max_conns_per_peer) {
		why = "connections from this address";
	} else if (s->nconns >= s->lim.max_conns) {
		victim = rpcsrv_victim(s);
		if (victim) {
			s->stats.conns_evicted++;
			rpcsrv_conn_drop(victim,
			    victim->record_ms ? "all connections taken; this "
						"one's record was slowest"
					      : "all connections taken; this "
						"one was idle longest");
			return true;
		}
		why = "connections, all busy";
	}
	if (!why) {
		return true;
	}
	s->stats.conns_refused++;
	if (log_ratelimit_ok(&s->rl, loop_now_ms(s->loop))) {
		inet_ntop(AF_INET, &peer->sin_addr, a, sizeof(a));
		log_warn(&s->log,
		    "peer=%s:%u event=refuse reason=\"%u %s\" suppressed=%u", a,
		    ntohs(peer->sin_port),
		    mine >= s->lim.max_conns_per_peer ? mine : s->nconns, why,
		    s->rl.suppressed);
		s->rl.suppressed = 0;
	}
	return false;
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
	if (!rpcsrv_admit(s, &peer)) {
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
	pthread_mutex_init(&c->wmu, NULL);
	loop_timer_init(&c->drain, rpcsrv_conn_drain, c);
	c->active_ms = loop_now_ms(s->loop);
	rpc_rm_init(&c->rm, s->lim.max_record);
	if (loop_add_fd(s->loop, cfd, LOOP_READ, rpcsrv_conn_io, c) < 0) {
		rpc_rm_fini(&c->rm);
		close(cfd);
		pthread_mutex_destroy(&c->wmu);
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
	/* Over the budget, a newcomer is read only while it holds little. */
	rpcsrv_conn_update(c);
}

static void
rpcsrv_udp_read(struct loop *l, int fd, unsigned events, void *arg)
{
	struct rpcsrv *s = arg;
	int i;

	(void)l;
	(void)events;
	/* A bounded batch per wake-up so TCP clients get their turn. */
	for (i = 0; i < 32 && s->udp_reading; i++) {
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
		rpcsrv_udp_update(s);
	}
}

/*
 * Close what holds resources without doing its part: records that do not
 * arrive, replies nobody reads, connections gone quiet.  Under memory
 * pressure replies stuck for a second are enough.
 */
static void
rpcsrv_sweep(struct loop *l, struct loop_timer *t)
{
	struct rpcsrv *s = t->arg;
	struct rpcsrv_conn *c, *next;
	uint64_t now = loop_now_ms(l);
	char why[96];

	for (c = s->conns; c; c = next) {
		next = c->next;
		if (s->lim.record_ms && c->record_ms && c->reading &&
		    now - c->record_ms >= s->lim.record_ms) {
			s->stats.records_too_slow++;
			snprintf(why, sizeof(why),
			    "record not complete %u ms after it began",
			    s->lim.record_ms);
			rpcsrv_conn_drop(c, why);
		} else if (c->out_head &&
		    ((s->lim.stall_ms && now - c->sent_ms >= s->lim.stall_ms) ||
			(s->over &&
			    now - c->sent_ms >= RPCSRV_PRESSURE_STALL_MS))) {
			s->stats.peers_not_reading++;
			snprintf(why, sizeof(why),
			    "peer reads no replies (%zu bytes waiting)",
			    c->queued);
			rpcsrv_conn_drop(c, why);
		} else if (s->lim.idle_ms && c->inflight == 0 && !c->out_head &&
		    !c->record_ms && !c->pend &&
		    now - c->active_ms >= s->lim.idle_ms) {
			char a[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &c->peer.sin_addr, a, sizeof(a));
			log_debug(&s->log, "peer=%s:%u event=close reason=idle",
			    a, ntohs(c->peer.sin_port));
			rpcsrv_conn_close(c);
		}
	}
	loop_timer_arm(l, &s->sweep,
	    now + (s->over ? RPCSRV_PRESSURE_STALL_MS : s->sweep_ms));
}

static int
rpcsrv_bind(int type, struct in_addr addr, uint16_t port, uint16_t *bound)
{
	struct sockaddr_in sa = {
	    .sin_family = AF_INET,
	    .sin_port = htons(port),
	    .sin_addr = addr,
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
rpcsrv_open(struct loop *l, const char *svc, struct in_addr addr, uint16_t port,
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
	if (!s->lim.max_conns_per_peer) {
		s->lim.max_conns_per_peer = s->lim.max_conns;
	}
	if (!s->lim.max_udp_inflight) {
		s->lim.max_udp_inflight = UINT32_MAX;
	}
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
		s->tcp_fd = rpcsrv_bind(SOCK_STREAM, addr, port, &p1);
		if (s->tcp_fd < 0) {
			*err = s->tcp_fd;
			goto fail;
		}
		s->udp_fd = rpcsrv_bind(SOCK_DGRAM, addr, p1, &p2);
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
	s->udp_reading = true;
	loop_timer_init(&s->sweep, rpcsrv_sweep, s);
	loop_timer_init(&s->resume, rpcsrv_resume, s);
	/* Often enough that no deadline is overrun by more than half. */
	s->sweep_ms = RPCSRV_SWEEP_MS;
	if (s->lim.idle_ms && s->lim.idle_ms < s->sweep_ms) {
		s->sweep_ms = s->lim.idle_ms;
	}
	if (s->lim.record_ms && s->lim.record_ms / 2 < s->sweep_ms) {
		s->sweep_ms = s->lim.record_ms / 2;
	}
	if (s->lim.stall_ms && s->lim.stall_ms / 2 < s->sweep_ms) {
		s->sweep_ms = s->lim.stall_ms / 2;
	}
	s->sweep_ms = s->sweep_ms ? s->sweep_ms : 1;
	loop_timer_arm(l, &s->sweep, loop_now_ms(l) + s->sweep_ms);
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
	if (s->stats.calls || s->stats.conns) {
		log_info(&s->log,
		    "event=transport-stats calls=%llu bad_calls=%llu "
		    "conns=%llu refused=%llu evicted=%llu too_big=%llu "
		    "too_slow=%llu not_reading=%llu udp_paused=%llu",
		    (unsigned long long)s->stats.calls,
		    (unsigned long long)s->stats.bad_calls,
		    (unsigned long long)s->stats.conns,
		    (unsigned long long)s->stats.conns_refused,
		    (unsigned long long)s->stats.conns_evicted,
		    (unsigned long long)s->stats.records_too_big,
		    (unsigned long long)s->stats.records_too_slow,
		    (unsigned long long)s->stats.peers_not_reading,
		    (unsigned long long)s->stats.udp_paused);
	}
	loop_timer_cancel(s->loop, &s->sweep);
	loop_timer_cancel(s->loop, &s->resume);
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

size_t
rpcsrv_mem(const struct rpcsrv *s)
{
	return s->mem;
}
