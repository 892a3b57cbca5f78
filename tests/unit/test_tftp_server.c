/*
 * The TFTP service on a real loop over loopback: a request, the transfer
 * socket's TID, Early terminate, a miss, '..', and the records ring.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/cfg.h"
#include "core/cur.h"
#include "core/loop.h"
#include "proto/tftp/pkt.h"
#include "server/serve.h"
#include "server/tftp/tftp.h"
#include "t.h"

struct rig {
	struct serve s;
	struct cfg cfg;
	struct tftp_service *t;
	int cs; /* client socket */
	struct sockaddr_in srv;
};

static int
rig_open(struct rig *r)
{
	char msg[256];
	const char *dir = t_tmpdir();
	char path[512];
	FILE *f;
	int i;

	memset(r, 0, sizeof(*r));
	cfg_defaults(&r->cfg);
	snprintf(r->cfg.tftp_root, sizeof(r->cfg.tftp_root), "%s", dir);
	r->cfg.address.s_addr = htonl(INADDR_LOOPBACK);
	r->cfg.tftp_port = 0; /* any free port: tests run side by side */
	r->cfg.tftp_timeout_ms = 50;
	r->cfg.tftp_retries = 2;
	snprintf(path, sizeof(path), "%s/hello.txt", dir);
	f = fopen(path, "w");
	for (i = 0; i < 300; i++) {
		fprintf(f, "line %d\n", i);
	}
	fclose(f);
	r->s.cfg = &r->cfg;
	r->s.addr.s_addr = htonl(INADDR_LOOPBACK);
	r->s.mtu = 1500;
	r->s.loop = loop_open();
	if (!r->s.loop) {
		return -1;
	}
	r->t = tftp_service_open(&r->s, msg, sizeof(msg));
	if (!r->t) {
		fprintf(stderr, "%s\n", msg);
		return -1;
	}
	r->srv.sin_family = AF_INET;
	r->srv.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->srv.sin_port = htons(tftp_service_port(r->t));
	r->cs = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	return r->cs < 0 ? -1 : 0;
}

static void
rig_close(struct rig *r)
{
	tftp_service_close(r->t);
	loop_close(r->s.loop);
	close(r->cs);
}

/* Run the loop until the client has a packet (or 2 s pass). */
static ssize_t
rig_recv(struct rig *r, uint8_t *b, size_t cap, struct sockaddr_in *from)
{
	int i;

	for (i = 0; i < 200; i++) {
		socklen_t fl = sizeof(*from);
		ssize_t n = recvfrom(r->cs, b, cap, 0, (void *)from, &fl);

		if (n >= 0) {
			return n;
		}
		loop_run_once(r->s.loop, 10);
	}
	return -1;
}

static void
rig_send(struct rig *r, const struct sockaddr_in *to, const void *b, size_t n)
{
	sendto(r->cs, b, n, 0, (const void *)to, sizeof(*to));
}

static void
rig_rrq(struct rig *r, const char *file, const struct tftp_opt *o, size_t n)
{
	uint8_t b[512];
	struct wcur w = wcur_init(b, sizeof(b));

	tftp_build_rrq(&w, TFTP_RRQ, file, "octet", o, n);
	rig_send(r, &r->srv, b, w.off);
}

/*
 * Acknowledge DATA from @tid up to the short last block, starting with
 * the @len bytes already in @b.
 * Return: the bytes of the file, or -1 when anything else came.
 */
static ssize_t
rig_fetch_rest(struct rig *r, uint8_t *b, size_t cap, ssize_t len,
    const struct sockaddr_in *tid)
{
	uint8_t ack[4] = {0, 4, 0, 0};
	struct sockaddr_in from;
	struct tftp_pkt p;
	size_t got = 0;

	for (;;) {
		if (len < 4 || tftp_parse(b, (size_t)len, &p) < 0 ||
		    p.op != TFTP_DATA) {
			return -1;
		}
		got += p.data_len;
		ack[2] = b[2];
		ack[3] = b[3];
		rig_send(r, tid, ack, 4);
		if (p.data_len < 512) {
			return (ssize_t)got;
		}
		len = rig_recv(r, b, cap, &from);
	}
}

TEST(server_transfer_probe_miss_and_records)
{
	static const struct tftp_opt probe[] = {
	    {.name = "tsize", .val = "0"}, {.name = "blksize", .val = "1468"}};
	static const uint8_t early[] = "\x00\x05\x00\x00"
				       "Early terminate";
	struct tftp_record rec[8];
	struct sockaddr_in tid, from;
	uint8_t b[2048];
	struct tftp_pkt p;
	struct rig r;
	size_t got = 0, n;
	ssize_t len;

	if (rig_open(&r) < 0) {
		CHECK(!"rig");
		return;
	}
	/* probe: OACK from a new port, then Early terminate */
	rig_rrq(&r, "/hello.txt", probe, 2);
	len = rig_recv(&r, b, sizeof(b), &tid);
	CHECK(len > 0 && tftp_parse(b, (size_t)len, &p) == 0);
	CHECK_EQ(p.op, TFTP_OACK);
	CHECK(tid.sin_port != r.srv.sin_port);
	rig_send(&r, &tid, early, sizeof(early));
	loop_run_once(r.s.loop, 10);
	CHECK_EQ(tftp_service_active(r.t), 0);

	/* full fetch without options: DATA 1.. from the transfer's port */
	rig_rrq(&r, "hello.txt", NULL, 0);
	len = rig_recv(&r, b, sizeof(b), &tid);
	len = rig_fetch_rest(&r, b, sizeof(b), len, &tid);
	CHECK(len > 0);
	got = len > 0 ? (size_t)len : 0;
	loop_run_once(r.s.loop, 10);
	CHECK_EQ(tftp_service_active(r.t), 0);

	/* a miss, an escape, a write: errors from port 69 */
	rig_rrq(&r, "nothere", NULL, 0);
	len = rig_recv(&r, b, sizeof(b), &from);
	CHECK(len >= 4 && b[1] == TFTP_ERROR && b[3] == TFTP_ENOTFOUND);
	rig_rrq(&r, "a/../../etc/passwd", NULL, 0);
	len = rig_recv(&r, b, sizeof(b), &from);
	CHECK(len >= 4 && b[1] == TFTP_ERROR && b[3] == TFTP_EACCESS);

	/*
	 * A client that never answers gets two resends, then nothing, and
	 * its transfer ends TFTP_UNCONFIRMED_WAIT_MS after the last.
	 */
	rig_rrq(&r, "hello.txt", NULL, 0);
	len = rig_recv(&r, b, sizeof(b), &tid);
	CHECK_EQ(tftp_service_active(r.t), 1);
	for (int i = 0; i < 600 && tftp_service_active(r.t); i++) {
		loop_run_once(r.s.loop, 10);
	}
	CHECK_EQ(tftp_service_active(r.t), 0);

	n = tftp_service_records(r.t, rec, 8);
	CHECK_EQ(n, 5);
	CHECK_STR(rec[0].outcome, "unanswered");
	CHECK_STR(rec[1].outcome, "access-violation");
	CHECK_STR(rec[2].outcome, "not-found");
	CHECK_EQ(rec[2].code, TFTP_ENOTFOUND);
	CHECK_STR(rec[3].outcome, "done");
	CHECK_STR(rec[3].file, "hello.txt");
	CHECK_EQ(rec[3].bytes, got);
	CHECK(got > 2000);
	CHECK_EQ(rec[3].blksize, 512);
	CHECK_STR(rec[4].outcome, "early-terminate");
	CHECK(rec[4].tsize);
	CHECK_EQ(rec[4].blksize, 1468);
	CHECK_EQ(tftp_service_records(r.t, rec, 2), 2);
	rig_close(&r);
}

/*
 * A client whose copies of the first packet were all lost repeats its
 * RRQ from the same port (the only thing a Pi resends, reference §9): the
 * running transfer answers it with DATA 1 from its own TID, and the file
 * then arrives whole.
 */
TEST(server_repeated_rrq_gets_the_first_packet_again)
{
	struct tftp_record rec[2];
	struct sockaddr_in tid, from;
	uint8_t b[2048];
	struct rig r;
	size_t got = 0;
	ssize_t len;
	int i, copies = 0;

	if (rig_open(&r) < 0) {
		CHECK(!"rig");
		return;
	}
	rig_rrq(&r, "hello.txt", NULL, 0);
	len = rig_recv(&r, b, sizeof(b), &tid);
	CHECK(len == 516 && b[1] == TFTP_DATA && b[3] == 1);
	/* not acknowledged: the resends come, then stop */
	for (i = 0; i < 100; i++) {
		socklen_t fl = sizeof(from);

		if (recvfrom(r.cs, b, sizeof(b), 0, (void *)&from, &fl) > 0) {
			copies++;
		} else {
			loop_run_once(r.s.loop, 10);
		}
	}
	CHECK_EQ(copies, (int)r.cfg.tftp_retries);
	CHECK_EQ(tftp_service_active(r.t), 1);
	/* the same request again, from the same port */
	rig_rrq(&r, "hello.txt", NULL, 0);
	len = rig_recv(&r, b, sizeof(b), &from);
	CHECK(len == 516 && b[1] == TFTP_DATA && b[3] == 1);
	CHECK_EQ(from.sin_port, tid.sin_port);
	len = rig_fetch_rest(&r, b, sizeof(b), len, &tid);
	CHECK(len > 0);
	got = len > 0 ? (size_t)len : 0;
	loop_run_once(r.s.loop, 10);
	CHECK_EQ(tftp_service_active(r.t), 0);
	if (tftp_service_records(r.t, rec, 2) == 1) {
		CHECK_STR(rec[0].outcome, "done");
		CHECK_EQ(rec[0].bytes, got);
	} else {
		CHECK(!"one finished transfer");
	}
	CHECK(got > 2000);
	rig_close(&r);
}
