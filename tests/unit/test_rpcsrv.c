#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/loop.h"
#include "proto/rpc/rpc.h"
#include "server/nfs/rpcsrv.h"
#include "t.h"

/*
 * The RPC transport on a real loop over loopback: replies with their
 * record marker, the connection limit, an oversized record, and the idle
 * sweep.
 */

static struct in_addr
loopback(void)
{
	return (struct in_addr){htonl(INADDR_LOOPBACK)};
}

static void
echo_call(void *arg, struct rpcsrv_req *req)
{
	struct wcur w;
	int *calls = arg;

	(*calls)++;
	if (rpcsrv_reply_buf(req, 64, &w) < 0) {
		rpcsrv_drop(req);
		return;
	}
	rpc_reply_build(&w, req->call.xid, RPC_SUCCESS, 0, 0);
	rpcsrv_reply_done(req, &w);
	rpcsrv_reply(req);
}

static int
connect_to(uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	    .sin_port = htons(port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	return fd;
}

/* Run the loop until @fd is readable (or 2 s); return what recv says. */
static ssize_t
pump_recv(struct loop *l, int fd, uint8_t *buf, size_t cap)
{
	int i;

	for (i = 0; i < 200; i++) {
		ssize_t n;

		loop_run_once(l, 10);
		n = recv(fd, buf, cap, MSG_DONTWAIT);
		if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
			return n;
		}
	}
	return -2;
}

TEST(rpcsrv_tcp_reply_limits_and_idle)
{
	struct rpcsrv_limits lim = {.max_record = 256,
	    .max_conns = 2,
	    .max_inflight = 4,
	    .max_queued = 4096,
	    .idle_ms = 300};
	struct loop *l = loop_open();
	struct rpcsrv *s;
	uint8_t call[128], buf[256];
	struct wcur w = wcur_init(call + 4, sizeof(call) - 4);
	int calls = 0, err = 0, a, b, c;
	ssize_t n;

	CHECK(l != NULL);
	s = rpcsrv_open(
	    l, "test", loopback(), 0, &lim, echo_call, &calls, &err);
	CHECK(s != NULL);
	if (!s) {
		loop_close(l);
		return;
	}
	rpc_call_build(&w, 42, 100003, 3, 0, RPC_AUTH_NONE, NULL, 0);
	rpc_rm_marker(call, w.off);
	a = connect_to(rpcsrv_port(s));
	loop_run_once(l, 50);
	CHECK_EQ(send(a, call, w.off + 4, 0), (ssize_t)(w.off + 4));
	n = pump_recv(l, a, buf, sizeof(buf));
	/* Marker, then xid 42 and an accepted SUCCESS reply. */
	CHECK_EQ(n, 4 + 24);
	CHECK_EQ(buf[0], 0x80);
	CHECK_EQ(buf[3], 24);
	CHECK_EQ(buf[7], 42);
	CHECK_EQ(calls, 1);
	/* A second connection is fine, a third is refused (closed). */
	b = connect_to(rpcsrv_port(s));
	loop_run_once(l, 50);
	c = connect_to(rpcsrv_port(s));
	CHECK_EQ(pump_recv(l, c, buf, sizeof(buf)), 0);
	CHECK_EQ(rpcsrv_stats(s)->conns_refused, 1);
	/* A record over max_record closes the connection. */
	rpc_rm_marker(call, 1000);
	CHECK_EQ(send(b, call, 4, 0), 4);
	CHECK_EQ(pump_recv(l, b, buf, sizeof(buf)), 0);
	CHECK_EQ(rpcsrv_stats(s)->records_too_big, 1);
	/* The first connection goes quiet and is closed after idle_ms. */
	CHECK_EQ(pump_recv(l, a, buf, sizeof(buf)), 0);
	close(a);
	close(b);
	close(c);
	rpcsrv_close(s);
	loop_close(l);
}

TEST(rpcsrv_udp_reply_and_garbage)
{
	struct rpcsrv_limits lim = {.max_record = 256,
	    .max_conns = 2,
	    .max_inflight = 4,
	    .max_queued = 4096};
	struct loop *l = loop_open();
	struct rpcsrv *s;
	struct sockaddr_in sa = {
	    .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	uint8_t call[128], buf[256];
	struct wcur w = wcur_init(call, sizeof(call));
	int calls = 0, err = 0, fd;

	s = rpcsrv_open(
	    l, "test", loopback(), 0, &lim, echo_call, &calls, &err);
	CHECK(s != NULL);
	if (!s) {
		loop_close(l);
		return;
	}
	sa.sin_port = htons(rpcsrv_port(s));
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	/* Garbage gets no answer and no call. */
	CHECK_EQ(sendto(fd, "xx", 2, 0, (struct sockaddr *)&sa, sizeof(sa)), 2);
	rpc_call_build(&w, 7, 100003, 3, 0, RPC_AUTH_NONE, NULL, 0);
	CHECK_EQ(sendto(fd, call, w.off, 0, (struct sockaddr *)&sa, sizeof(sa)),
	    (ssize_t)w.off);
	CHECK_EQ(pump_recv(l, fd, buf, sizeof(buf)), 24);
	CHECK_EQ(buf[3], 7);
	CHECK_EQ(calls, 1);
	CHECK_EQ(rpcsrv_stats(s)->bad_calls, 1);
	/* RPC version 3: RPC_MISMATCH from the transport itself. */
	call[11] = 3;
	CHECK_EQ(sendto(fd, call, w.off, 0, (struct sockaddr *)&sa, sizeof(sa)),
	    (ssize_t)w.off);
	CHECK_EQ(pump_recv(l, fd, buf, sizeof(buf)), 24);
	CHECK_EQ(buf[11], RPC_MSG_DENIED);
	close(fd);
	rpcsrv_close(s);
	loop_close(l);
}

struct held {
	struct rpcsrv_req *req[8];
	int n;
};

static void
hold_call(void *arg, struct rpcsrv_req *req)
{
	struct held *h = arg;

	if (h->n < 8) {
		h->req[h->n++] = req;
	} else {
		rpcsrv_drop(req);
	}
}

static void
release_all(struct held *h, int from)
{
	int i;

	for (i = from; i < h->n; i++) {
		struct wcur w;

		if (h->req[i] && rpcsrv_reply_buf(h->req[i], 64, &w) == 0) {
			rpc_reply_build(
			    &w, h->req[i]->call.xid, RPC_SUCCESS, 0, 0);
			rpcsrv_reply_done(h->req[i], &w);
		}
		if (h->req[i]) {
			rpcsrv_reply(h->req[i]);
		}
		h->req[i] = NULL;
	}
}

/*
 * Five calls in one write on a connection limited to two in flight: only
 * two are even decoded until replies go out, then the rest follow.
 */
TEST(rpcsrv_inflight_limit_holds_back_decoding)
{
	struct rpcsrv_limits lim = {.max_record = 256,
	    .max_conns = 2,
	    .max_inflight = 2,
	    .max_queued = 4096};
	struct loop *l = loop_open();
	struct held h = {0};
	struct rpcsrv *s;
	uint8_t out[512], buf[512], *p = out;
	int err = 0, fd, i, got = 0;

	s = rpcsrv_open(l, "test", loopback(), 0, &lim, hold_call, &h, &err);
	CHECK(s != NULL);
	if (!s) {
		loop_close(l);
		return;
	}
	for (i = 0; i < 5; i++) {
		struct wcur w = wcur_init(p + 4, 64);

		rpc_call_build(&w, 100 + (uint32_t)i, 100003, 3, 0,
		    RPC_AUTH_NONE, NULL, 0);
		rpc_rm_marker(p, w.off);
		p += 4 + w.off;
	}
	fd = connect_to(rpcsrv_port(s));
	loop_run_once(l, 50);
	CHECK_EQ(send(fd, out, (size_t)(p - out), 0), (ssize_t)(p - out));
	for (i = 0; i < 20; i++) {
		loop_run_once(l, 10);
	}
	CHECK_EQ(h.n, 2);
	release_all(&h, 0);
	for (i = 0; i < 20; i++) {
		loop_run_once(l, 10);
	}
	CHECK_EQ(h.n, 4);
	release_all(&h, 2);
	for (i = 0; i < 20; i++) {
		loop_run_once(l, 10);
	}
	CHECK_EQ(h.n, 5);
	release_all(&h, 4);
	for (i = 0; i < 20 && got < 5 * 28; i++) {
		ssize_t n;

		loop_run_once(l, 10);
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			got += (int)n;
		}
	}
	CHECK_EQ(got, 5 * 28);
	close(fd);
	rpcsrv_close(s);
	loop_close(l);
}

/* A TCP connection from @src (a 127/8 address) to @port. */
static int
connect_from(const char *src, uint16_t port)
{
	struct sockaddr_in me = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
	    .sin_port = htons(port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	inet_pton(AF_INET, src, &me.sin_addr);
	bind(fd, (struct sockaddr *)&me, sizeof(me));
	connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	return fd;
}

/* Run the loop for @ms and say whether the server closed @fd. */
static bool
closed_after(struct loop *l, int fd, int ms)
{
	uint8_t buf[4096];
	int i;

	for (i = 0; i < ms / 10; i++) {
		ssize_t n;

		loop_run_once(l, 10);
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			return true;
		}
	}
	return false;
}

/*
 * One address gets at most max_conns_per_peer; when all connections are
 * taken a newcomer replaces the one whose record has been trickling in
 * longest, not an idle client's; a record that does not complete within
 * record_ms closes its connection.
 */
TEST(rpcsrv_per_peer_cap_eviction_and_slow_records)
{
	struct rpcsrv_limits lim = {.max_record = 256,
	    .max_conns = 2,
	    .max_conns_per_peer = 1,
	    .max_inflight = 4,
	    .max_queued = 4096,
	    .record_ms = 400};
	struct loop *l = loop_open();
	struct rpcsrv *s;
	int calls = 0, err = 0, slow, idle, again, fresh, late;

	s = rpcsrv_open(
	    l, "test", loopback(), 0, &lim, echo_call, &calls, &err);
	CHECK(s != NULL);
	if (!s) {
		loop_close(l);
		return;
	}
	slow = connect_from("127.0.0.2", rpcsrv_port(s));
	loop_run_once(l, 20);
	CHECK_EQ(send(slow, "\x80\x00", 2, 0), 2);
	idle = connect_from("127.0.0.3", rpcsrv_port(s));
	loop_run_once(l, 20);
	again = connect_from("127.0.0.3", rpcsrv_port(s));
	CHECK(closed_after(l, again, 200));
	CHECK_EQ(rpcsrv_stats(s)->conns_refused, 1);
	/* Full: the newcomer replaces the trickling record, not the idle. */
	fresh = connect_from("127.0.0.4", rpcsrv_port(s));
	CHECK(closed_after(l, slow, 200));
	CHECK(!closed_after(l, idle, 50));
	CHECK(!closed_after(l, fresh, 50));
	CHECK_EQ(rpcsrv_stats(s)->conns_evicted, 1);
	/* A record that begins and never ends is closed after record_ms. */
	CHECK_EQ(send(fresh, "\x80\x00\x00\x10zz", 6, 0), 6);
	CHECK(closed_after(l, fresh, 1500));
	CHECK_EQ(rpcsrv_stats(s)->records_too_slow, 1);
	CHECK(!closed_after(l, idle, 50));
	/* With a free slot nobody is replaced. */
	late = connect_from("127.0.0.5", rpcsrv_port(s));
	CHECK(!closed_after(l, late, 100));
	CHECK_EQ(rpcsrv_stats(s)->conns_evicted, 1);
	close(slow);
	close(idle);
	close(again);
	close(fresh);
	close(late);
	rpcsrv_close(s);
	loop_close(l);
}

/* Replies of 60 KiB: a peer that does not read soon stalls them. */
static void
big_call(void *arg, struct rpcsrv_req *req)
{
	struct wcur w;

	(void)arg;
	if (rpcsrv_reply_buf(req, 60 * 1024, &w) < 0) {
		rpcsrv_drop(req);
		return;
	}
	rpc_reply_build(&w, req->call.xid, RPC_SUCCESS, 0, 0);
	wcur_zero(&w, 60 * 1024 - 24);
	rpcsrv_reply_done(req, &w);
	rpcsrv_reply(req);
}

/* @n NULL calls in one buffer, sent whole; returns what send took. */
static ssize_t
send_calls(int fd, int n)
{
	static uint8_t out[64 * 44];
	int i;

	for (i = 0; i < n && i < 64; i++) {
		struct wcur w = wcur_init(out + i * 44 + 4, 40);

		rpc_call_build(
		    &w, (uint32_t)i, 100003, 3, 0, RPC_AUTH_NONE, NULL, 0);
		rpc_rm_marker(out + i * 44, w.off);
	}
	return send(fd, out, (size_t)(i * 44), MSG_DONTWAIT);
}

/*
 * A peer that never reads, from @src: a small receive buffer and
 * @rounds bursts of 64 calls.  Return: its socket.
 */
static int
hog(struct loop *l, struct rpcsrv *s, const char *src, int rounds)
{
	int fd = connect_from(src, rpcsrv_port(s)), small = 4096, i;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	loop_run_once(l, 20);
	for (i = 0; i < rounds; i++) {
		send_calls(fd, 64);
		loop_run_once(l, 5);
	}
	return fd;
}

/*
 * A peer that never reads: its replies stall and it is closed after
 * stall_ms, and all the memory it held is given back.
 */
TEST(rpcsrv_peer_that_never_reads_is_closed)
{
	struct rpcsrv_limits lim = {.max_record = 256,
	    .max_conns = 4,
	    .max_inflight = 4,
	    .max_queued = 1024 * 1024,
	    .stall_ms = 300};
	struct loop *l = loop_open();
	struct rpcsrv *s;
	int err = 0, fd;

	s = rpcsrv_open(l, "test", loopback(), 0, &lim, big_call, NULL, &err);
	CHECK(s != NULL);
	if (!s) {
		loop_close(l);
		return;
	}
	fd = hog(l, s, "127.0.0.2", 20);
	CHECK(rpcsrv_mem(s) > 0);
	CHECK(closed_after(l, fd, 2000));
	CHECK_EQ(rpcsrv_stats(s)->peers_not_reading, 1);
	CHECK_EQ(rpcsrv_mem(s), 0);
	close(fd);
	rpcsrv_close(s);
	loop_close(l);
}

/*
 * Over max_mem, peers whose replies make no progress for a second are
 * closed even without a stall_ms, and the others are read again.
 */
TEST(rpcsrv_memory_budget)
{
	struct rpcsrv_limits lim = {.max_record = 256,
	    .max_conns = 4,
	    .max_inflight = 4,
	    .max_queued = 4 * 1024 * 1024,
	    .max_mem = 512 * 1024};
	struct loop *l = loop_open();
	struct rpcsrv *s;
	uint8_t buf[64 * 1024];
	int err = 0, fd, ok, i;
	ssize_t n = 0;

	s = rpcsrv_open(l, "test", loopback(), 0, &lim, big_call, NULL, &err);
	CHECK(s != NULL);
	if (!s) {
		loop_close(l);
		return;
	}
	ok = connect_from("127.0.0.3", rpcsrv_port(s));
	fd = hog(l, s, "127.0.0.2", 40);
	CHECK(closed_after(l, fd, 3000));
	CHECK_EQ(rpcsrv_stats(s)->peers_not_reading, 1);
	/* The other client is served as before. */
	send_calls(ok, 1);
	for (i = 0; i < 200 && n < 60 * 1024 + 4; i++) {
		ssize_t r;

		loop_run_once(l, 10);
		r = recv(ok, buf, sizeof(buf), MSG_DONTWAIT);
		n += r > 0 ? r : 0;
	}
	CHECK_EQ(n, 60 * 1024 + 4);
	close(fd);
	close(ok);
	rpcsrv_close(s);
	loop_close(l);
}

/* UDP: at most max_udp_inflight calls in progress; the rest wait. */
TEST(rpcsrv_udp_inflight_bound)
{
	struct rpcsrv_limits lim = {.max_record = 256,
	    .max_conns = 2,
	    .max_inflight = 4,
	    .max_queued = 4096,
	    .max_udp_inflight = 2};
	struct loop *l = loop_open();
	struct held h = {0};
	struct rpcsrv *s;
	struct sockaddr_in sa = {
	    .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	uint8_t call[64];
	int err = 0, fd, i;

	s = rpcsrv_open(l, "test", loopback(), 0, &lim, hold_call, &h, &err);
	CHECK(s != NULL);
	if (!s) {
		loop_close(l);
		return;
	}
	sa.sin_port = htons(rpcsrv_port(s));
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	for (i = 0; i < 5; i++) {
		struct wcur w = wcur_init(call, sizeof(call));

		rpc_call_build(&w, 300 + (uint32_t)i, 100003, 3, 0,
		    RPC_AUTH_NONE, NULL, 0);
		sendto(fd, call, w.off, 0, (struct sockaddr *)&sa, sizeof(sa));
	}
	for (i = 0; i < 20; i++) {
		loop_run_once(l, 10);
	}
	CHECK_EQ(h.n, 2);
	CHECK(rpcsrv_stats(s)->udp_paused >= 1);
	release_all(&h, 0);
	for (i = 0; i < 20; i++) {
		loop_run_once(l, 10);
	}
	CHECK_EQ(h.n, 4);
	release_all(&h, 2);
	for (i = 0; i < 20; i++) {
		loop_run_once(l, 10);
	}
	CHECK_EQ(h.n, 5);
	release_all(&h, 4);
	CHECK_EQ(rpcsrv_mem(s), 0);
	close(fd);
	rpcsrv_close(s);
	loop_close(l);
}

/* rpcsrv_reply_send() from another thread, as an NFS worker calls it. */
static void *
send_from_thread(void *arg)
{
	static bool sent;

	sent = rpcsrv_reply_send(arg);
	return &sent;
}

static bool
send_elsewhere(struct rpcsrv_req *req)
{
	pthread_t t;
	void *sent = NULL;

	if (pthread_create(&t, NULL, send_from_thread, req) != 0) {
		return false;
	}
	pthread_join(t, &sent);
	return *(bool *)sent;
}

/* A 24-byte accepted SUCCESS reply for @req. */
static void
small_reply(struct rpcsrv_req *req)
{
	struct wcur w;

	if (rpcsrv_reply_buf(req, 64, &w) == 0) {
		rpc_reply_build(&w, req->call.xid, RPC_SUCCESS, 0, 0);
		rpcsrv_reply_done(req, &w);
	}
}

/*
 * A reply sent by a worker reaches the client at once, over TCP and
 * UDP, and finishing the request on the loop does not send it again.
 */
TEST(rpcsrv_reply_send_from_a_worker)
{
	struct rpcsrv_limits lim = {.max_record = 256,
	    .max_conns = 2,
	    .max_inflight = 4,
	    .max_queued = 4096};
	struct loop *l = loop_open();
	struct held h = {0};
	struct rpcsrv *s;
	struct sockaddr_in sa = {
	    .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	uint8_t call[128], buf[256];
	struct wcur w = wcur_init(call + 4, sizeof(call) - 4);
	int err = 0, fd, u, i;

	s = rpcsrv_open(l, "test", loopback(), 0, &lim, hold_call, &h, &err);
	CHECK(s != NULL);
	if (!s) {
		loop_close(l);
		return;
	}
	rpc_call_build(&w, 51, 100003, 3, 0, RPC_AUTH_NONE, NULL, 0);
	rpc_rm_marker(call, w.off);
	fd = connect_to(rpcsrv_port(s));
	loop_run_once(l, 50);
	CHECK_EQ(send(fd, call, w.off + 4, 0), (ssize_t)(w.off + 4));
	sa.sin_port = htons(rpcsrv_port(s));
	u = socket(AF_INET, SOCK_DGRAM, 0);
	call[4 + 3] = 52;
	CHECK_EQ(
	    sendto(u, call + 4, w.off, 0, (struct sockaddr *)&sa, sizeof(sa)),
	    (ssize_t)w.off);
	for (i = 0; i < 50 && h.n < 2; i++) {
		loop_run_once(l, 10);
	}
	CHECK_EQ(h.n, 2);
	if (h.n < 2) {
		release_all(&h, 0);
		goto out;
	}
	small_reply(h.req[0]);
	small_reply(h.req[1]);
	/* Without running the loop. */
	CHECK(send_elsewhere(h.req[0]));
	CHECK(send_elsewhere(h.req[1]));
	CHECK_EQ(recv(fd, buf, sizeof(buf), 0), 4 + 24);
	CHECK_EQ(buf[7], 51);
	CHECK_EQ(recv(u, buf, sizeof(buf), 0), 24);
	CHECK_EQ(buf[3], 52);
	rpcsrv_reply(h.req[0]);
	rpcsrv_reply(h.req[1]);
	h.n = 0;
	for (i = 0; i < 10; i++) {
		loop_run_once(l, 10);
	}
	CHECK_EQ(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	CHECK_EQ(recv(u, buf, sizeof(buf), MSG_DONTWAIT), -1);
	CHECK_EQ(rpcsrv_mem(s), 0);
out:
	close(fd);
	close(u);
	rpcsrv_close(s);
	loop_close(l);
}

/* More than a socket's send buffer grows to (tcp_wmem: 4 MiB). */
#define BIG_FILE (8 * 1024 * 1024 + 2)

/*
 * A worker's record that the socket takes only in part (the client does
 * not read yet) stays whole: no other reply, neither another worker's
 * nor one the loop sends, goes out until its rest (header, file data
 * sent with sendfile, padding) has, and then the others follow.
 */
TEST(rpcsrv_reply_send_keeps_records_whole)
{
	struct rpcsrv_limits lim = {.max_record = 256,
	    .max_conns = 2,
	    .max_inflight = 4,
	    .max_queued = 16 * 1024 * 1024};
	struct loop *l = loop_open();
	struct held h = {0};
	struct rpcsrv *s;
	struct sockaddr_in sa = {
	    .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	static uint8_t stream[BIG_FILE + 4096], data[BIG_FILE];
	uint8_t out[256], *p = out;
	char path[4200];
	size_t got = 0, off, len;
	int err = 0, fd, ffd, i, rcvbuf = 256 * 1024;

	s = rpcsrv_open(l, "test", loopback(), 0, &lim, hold_call, &h, &err);
	CHECK(s != NULL);
	if (!s) {
		loop_close(l);
		return;
	}
	for (i = 0; i < BIG_FILE; i++) {
		data[i] = (uint8_t)(i * 7 + 1);
	}
	snprintf(path, sizeof(path), "%s/big", t_tmpdir());
	ffd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK_EQ(write(ffd, data, BIG_FILE), BIG_FILE);
	for (i = 0; i < 3; i++) {
		struct wcur w = wcur_init(p + 4, 64);

		rpc_call_build(
		    &w, 60 + (uint32_t)i, 100003, 3, 0, RPC_AUTH_NONE, NULL, 0);
		rpc_rm_marker(p, w.off);
		p += 4 + w.off;
	}
	/* A fixed receive buffer, so the window stays small. */
	sa.sin_port = htons(rpcsrv_port(s));
	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	CHECK_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	loop_run_once(l, 50);
	CHECK_EQ(send(fd, out, (size_t)(p - out), 0), (ssize_t)(p - out));
	for (i = 0; i < 50 && h.n < 3; i++) {
		loop_run_once(l, 10);
	}
	CHECK_EQ(h.n, 3);
	if (h.n < 3) {
		release_all(&h, 0);
		goto out;
	}
	/* Call 60: a header, the whole file and 2 bytes of padding. */
	small_reply(h.req[0]);
	h.req[0]->file_fd = dup(ffd);
	h.req[0]->file_off = 0;
	h.req[0]->file_len = BIG_FILE;
	h.req[0]->file_pad = 2;
	small_reply(h.req[1]);
	small_reply(h.req[2]);
	CHECK(!send_elsewhere(h.req[0]));
	CHECK(h.req[0]->sent_off > 0);
	/* The client reads some of it, so the socket has room again. */
	for (i = 0; i < 2000 && got < 2 * 1024 * 1024; i++) {
		ssize_t n =
		    recv(fd, stream + got, 2 * 1024 * 1024 - got, MSG_DONTWAIT);

		got += n > 0 ? (size_t)n : 0;
		usleep(n > 0 ? 0 : 1000);
	}
	CHECK_EQ(got, 2 * 1024 * 1024);
	/* Its rest goes first: the other worker waits, the loop too. */
	CHECK(!send_elsewhere(h.req[1]));
	CHECK_EQ(h.req[1]->sent_off, 0);
	rpcsrv_reply(h.req[2]);
	rpcsrv_reply(h.req[1]);
	rpcsrv_reply(h.req[0]);
	h.n = 0;
	for (i = 0; i < 2000 && got < sizeof(stream); i++) {
		ssize_t n;

		loop_run_once(l, 1);
		n = recv(fd, stream + got, sizeof(stream) - got, MSG_DONTWAIT);
		got += n > 0 ? (size_t)n : 0;
	}
	/* Three records: 60 whole, then 62 and 61 as the loop queued them. */
	CHECK_EQ(got, 4 + 24 + BIG_FILE + 2 + 2 * (4 + 24));
	len = (size_t)(stream[0] & 0x7f) << 24 | (size_t)stream[1] << 16 |
	    (size_t)stream[2] << 8 | stream[3];
	CHECK_EQ(stream[0] & 0x80, 0x80);
	CHECK_EQ(len, 24 + BIG_FILE + 2);
	CHECK_EQ(stream[4 + 3], 60);
	CHECK_MEM(stream + 4 + 24, data, BIG_FILE);
	CHECK_EQ(stream[4 + 24 + BIG_FILE], 0);
	CHECK_EQ(stream[4 + 24 + BIG_FILE + 1], 0);
	off = 4 + len;
	CHECK_EQ(stream[off + 3], 24);
	CHECK_EQ(stream[off + 4 + 3], 62);
	off += 4 + 24;
	CHECK_EQ(stream[off + 3], 24);
	CHECK_EQ(stream[off + 4 + 3], 61);
	CHECK_EQ(rpcsrv_mem(s), 0);
out:
	close(ffd);
	close(fd);
	rpcsrv_close(s);
	loop_close(l);
}
