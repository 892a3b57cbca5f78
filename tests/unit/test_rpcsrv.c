#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
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
	s = rpcsrv_open(l, "test", 0, &lim, echo_call, &calls, &err);
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

	s = rpcsrv_open(l, "test", 0, &lim, echo_call, &calls, &err);
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

	s = rpcsrv_open(l, "test", 0, &lim, hold_call, &h, &err);
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
