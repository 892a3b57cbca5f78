/*
 * A TFTP client for tests and benchmarks that speaks the shapes ordinary
 * clients cannot: the Pi EEPROM's tsize probe closed by "Early terminate",
 * hundreds of transfers at once from one process, a stranger's packet
 * aimed at a running transfer (unknown TID), and a duplicated RRQ.
 *
 *   tftp_client [options] SERVER REMOTE=LOCAL...
 *     -b N       ask for blksize N          -w N   ask for windowsize N
 *     -t         ask for tsize              -a     netascii mode
 *     -p         probe first: RRQ with tsize 0 and blksize, read the
 *                OACK, send ERROR 0 "Early terminate", then fetch
 *     -e CODE    expect the server to refuse with ERROR CODE
 *     -u         while the first transfer runs, send an ACK to its port
 *                from another socket; expect ERROR 5 there
 *     -d         send every RRQ twice from the same port
 *     -P PORT    server port (69)
 * All transfers run at once.  Exit 0 when every one ended as expected;
 * a summary line "ok=N failed=N ms=N bytes=N" goes to stdout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/cur.h"
#include "proto/tftp/pkt.h"

struct opts {
	unsigned blksize, windowsize;
	bool tsize, netascii, probe, unknown_tid, dup;
	int expect_error;
	struct sockaddr_in server;
};

enum cstate { C_PROBE, C_RRQ, C_DATA, C_OK, C_FAIL };

struct client {
	const struct opts *o;
	int sock, ep;
	unsigned idx;
	enum cstate st;
	const char *remote, *local;
	struct sockaddr_in tid;
	bool have_tid;
	unsigned blksize, windowsize, in_window;
	uint16_t expect;
	uint8_t last[600];
	size_t last_len;
	uint64_t deadline;
	unsigned tries;
	FILE *out;
	uint64_t bytes, tsize;
	bool probed_tsize;
	char why[160];
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
fail(struct client *c, const char *why)
{
	c->st = C_FAIL;
	snprintf(c->why, sizeof(c->why), "%s", why);
}

static void
send_last(struct client *c, const struct sockaddr_in *to)
{
	if (sendto(c->sock, c->last, c->last_len, 0, (const void *)to,
		sizeof(*to)) < 0) {
		fail(c, strerror(errno));
	}
	c->deadline = now_ms() + 1000;
}

static void
send_rrq(struct client *c, bool probe)
{
	struct tftp_opt opt[4];
	char bs[16], ws[16];
	size_t n = 0;
	struct wcur w = wcur_init(c->last, sizeof(c->last));

	if (probe) {
		opt[n++] = (struct tftp_opt){.name = "tsize", .val = "0"};
		snprintf(
		    bs, sizeof(bs), "%u", c->o->blksize ? c->o->blksize : 1468);
		opt[n++] = (struct tftp_opt){.name = "blksize", .val = bs};
	} else {
		if (c->o->tsize) {
			opt[n++] =
			    (struct tftp_opt){.name = "tsize", .val = "0"};
		}
		if (c->o->blksize) {
			snprintf(bs, sizeof(bs), "%u", c->o->blksize);
			opt[n++] =
			    (struct tftp_opt){.name = "blksize", .val = bs};
		}
		if (c->o->windowsize) {
			snprintf(ws, sizeof(ws), "%u", c->o->windowsize);
			opt[n++] =
			    (struct tftp_opt){.name = "windowsize", .val = ws};
		}
	}
	tftp_build_rrq(&w, TFTP_RRQ, c->remote,
	    c->o->netascii ? "netascii" : "octet", opt, n);
	c->last_len = w.off;
	c->have_tid = false;
	c->blksize = 512;
	c->windowsize = 1;
	c->in_window = 0;
	c->expect = 1;
	c->tries = 0;
	send_last(c, &c->o->server);
	if (c->o->dup) {
		send_last(c, &c->o->server);
	}
}

static void
send_ack(struct client *c, uint16_t block)
{
	struct wcur w = wcur_init(c->last, sizeof(c->last));

	tftp_build_ack(&w, block);
	c->last_len = w.off;
	c->tries = 0;
	send_last(c, &c->tid);
}

static int
new_socket(struct client *c)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = c->idx};

	if (c->sock >= 0) {
		close(c->sock);
	}
	c->sock = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (c->sock < 0) {
		return -1;
	}
	return epoll_ctl(c->ep, EPOLL_CTL_ADD, c->sock, &ev);
}

static void
on_oack(struct client *c, const struct tftp_pkt *p)
{
	size_t i;
	uint64_t v;

	for (i = 0; i < p->nopts; i++) {
		if (tftp_opt_num(&p->opts[i], UINT64_MAX, &v) < 0) {
			fail(c, "OACK with a bad number");
			return;
		}
		if (tftp_opt_is(&p->opts[i], "blksize")) {
			c->blksize = (unsigned)v;
		} else if (tftp_opt_is(&p->opts[i], "windowsize")) {
			c->windowsize = (unsigned)v;
		} else if (tftp_opt_is(&p->opts[i], "tsize")) {
			c->tsize = v;
			c->probed_tsize = true;
		}
	}
	if (c->st == C_PROBE) {
		struct wcur w = wcur_init(c->last, sizeof(c->last));

		/* Reference §8.4: the firmware's close of a probe. */
		tftp_build_error(&w, 0, "Early terminate");
		sendto(c->sock, c->last, w.off, 0, (const void *)&c->tid,
		    sizeof(c->tid));
		c->st = C_RRQ;
		/* The EEPROM uses a new port for every RRQ. */
		if (new_socket(c) < 0) {
			fail(c, "socket");
			return;
		}
		send_rrq(c, false);
		return;
	}
	send_ack(c, 0);
}

static void
on_packet(struct client *c, const uint8_t *b, size_t n,
    const struct sockaddr_in *from)
{
	struct tftp_pkt p;

	if (c->have_tid &&
	    (from->sin_port != c->tid.sin_port ||
		from->sin_addr.s_addr != c->tid.sin_addr.s_addr)) {
		return;
	}
	if (tftp_parse(b, n, &p) < 0) {
		fail(c, "undecodable packet from the server");
		return;
	}
	if (!c->have_tid) {
		c->tid = *from;
		c->have_tid = true;
	}
	if (p.op == TFTP_ERROR) {
		if (c->o->expect_error >= 0 && p.code == c->o->expect_error) {
			c->st = C_OK;
		} else {
			char why[160];

			snprintf(why, sizeof(why), "server ERROR %u: %.*s",
			    p.code, (int)(p.msg_len > 100 ? 100 : p.msg_len),
			    p.msg);
			fail(c, why);
		}
		return;
	}
	if (c->o->expect_error >= 0) {
		fail(c, "expected an ERROR");
		return;
	}
	if (p.op == TFTP_OACK) {
		if (c->st == C_DATA) {
			return;
		}
		on_oack(c, &p);
		if (c->st != C_FAIL && c->st != C_RRQ) {
			c->st = C_DATA;
		}
		return;
	}
	if (p.op != TFTP_DATA) {
		fail(c, "unexpected opcode");
		return;
	}
	if (c->st == C_PROBE) {
		fail(c, "probe answered with DATA, not OACK");
		return;
	}
	c->st = C_DATA;
	if (p.block != c->expect) {
		/* RFC 7440: re-ACK the last block received in order. */
		send_ack(c, (uint16_t)(c->expect - 1));
		c->in_window = 0;
		return;
	}
	if (p.data_len > c->blksize) {
		fail(c, "DATA longer than blksize");
		return;
	}
	if (p.data_len && fwrite(p.data, 1, p.data_len, c->out) != p.data_len) {
		fail(c, "write failed");
		return;
	}
	c->bytes += p.data_len;
	c->expect++;
	c->in_window++;
	if (p.data_len < c->blksize) {
		send_ack(c, p.block);
		c->st = C_OK;
		return;
	}
	if (c->in_window >= c->windowsize) {
		c->in_window = 0;
		send_ack(c, p.block);
	} else {
		c->deadline = now_ms() + 1000;
	}
}

/* -u: while a transfer runs, poke its TID from a stranger's port. */
static int
unknown_tid_check(struct client *c)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	uint8_t ack[4] = {0, 4, 0, 1}, b[600];
	struct pollfd pfd = {.fd = s, .events = POLLIN};
	ssize_t n;

	sendto(s, ack, sizeof(ack), 0, (const void *)&c->tid, sizeof(c->tid));
	if (poll(&pfd, 1, 2000) != 1) {
		close(s);
		return -1;
	}
	n = recv(s, b, sizeof(b), 0);
	close(s);
	return n >= 4 && b[1] == TFTP_ERROR && b[3] == TFTP_EBADID ? 0 : -1;
}

int
main(int argc, char **argv)
{
	struct opts o = {.expect_error = -1};
	struct client *cs;
	int ep, opt, nc, i, live, port = 69, failed = 0, ok = 0;
	uint64_t t0, bytes = 0;
	bool tid_done = false;
	struct rlimit rl;

	while ((opt = getopt(argc, argv, "b:w:tape:udP:")) != -1) {
		switch (opt) {
		case 'b':
			o.blksize = (unsigned)atoi(optarg);
			break;
		case 'w':
			o.windowsize = (unsigned)atoi(optarg);
			break;
		case 't':
			o.tsize = true;
			break;
		case 'a':
			o.netascii = true;
			break;
		case 'p':
			o.probe = true;
			break;
		case 'e':
			o.expect_error = atoi(optarg);
			break;
		case 'u':
			o.unknown_tid = true;
			break;
		case 'd':
			o.dup = true;
			break;
		case 'P':
			port = atoi(optarg);
			break;
		default:
			fprintf(stderr,
			    "usage: see the comment at the top of "
			    "tests/tools/tftp_client.c\n");
			return 2;
		}
	}
	if (argc - optind < 2) {
		fprintf(stderr, "tftp_client: need SERVER and REMOTE=LOCAL\n");
		return 2;
	}
	o.server.sin_family = AF_INET;
	o.server.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, argv[optind], &o.server.sin_addr) != 1) {
		fprintf(stderr, "tftp_client: bad address %s\n", argv[optind]);
		return 2;
	}
	nc = argc - optind - 1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	cs = calloc((size_t)nc, sizeof(*cs));
	ep = epoll_create1(0);
	t0 = now_ms();
	for (i = 0; i < nc; i++) {
		struct client *c = &cs[i];
		char *eq = strchr(argv[optind + 1 + i], '=');

		if (!eq) {
			fprintf(stderr, "tftp_client: %s is not REMOTE=LOCAL\n",
			    argv[optind + 1 + i]);
			return 2;
		}
		*eq = 0;
		c->o = &o;
		c->remote = argv[optind + 1 + i];
		c->local = eq + 1;
		c->out = fopen(c->local, "wb");
		c->sock = -1;
		c->ep = ep;
		c->idx = (unsigned)i;
		if (!c->out || new_socket(c) < 0) {
			perror("tftp_client");
			return 2;
		}
		c->st = o.probe ? C_PROBE : C_RRQ;
		send_rrq(c, o.probe);
	}
	for (;;) {
		struct epoll_event evs[64];
		uint64_t now;
		int n;

		live = 0;
		for (i = 0; i < nc; i++) {
			live += cs[i].st != C_OK && cs[i].st != C_FAIL;
		}
		if (!live) {
			break;
		}
		n = epoll_wait(ep, evs, 64, 50);
		for (i = 0; i < n; i++) {
			struct client *c = &cs[evs[i].data.u32];
			int k;

			for (k = 0; k < 64; k++) {
				uint8_t b[65536 + 4];
				struct sockaddr_in from;
				socklen_t fl = sizeof(from);
				ssize_t r = recvfrom(c->sock, b, sizeof(b), 0,
				    (void *)&from, &fl);

				if (r < 0) {
					break;
				}
				if (c->st == C_OK || c->st == C_FAIL) {
					continue;
				}
				on_packet(c, b, (size_t)r, &from);
			}
			if (o.unknown_tid && !tid_done && c == &cs[0] &&
			    c->st == C_DATA && c->bytes > 0) {
				tid_done = true;
				if (unknown_tid_check(c) < 0) {
					fail(c, "no ERROR 5 for a stranger");
				}
			}
		}
		now = now_ms();
		for (i = 0; i < nc; i++) {
			struct client *c = &cs[i];

			if (c->st == C_OK || c->st == C_FAIL ||
			    now < c->deadline) {
				continue;
			}
			if (++c->tries > 5) {
				fail(c, "timed out");
				continue;
			}
			send_last(c, c->have_tid ? &c->tid : &o.server);
		}
	}
	for (i = 0; i < nc; i++) {
		struct client *c = &cs[i];

		fclose(c->out);
		close(c->sock);
		if (c->st == C_OK && o.unknown_tid && !tid_done && i == 0) {
			fail(c, "transfer too short to test unknown TIDs");
		}
		if (c->st == C_OK && o.probe && !c->probed_tsize) {
			fail(c, "probe got no tsize");
		}
		if (c->st == C_OK && c->probed_tsize && !o.netascii &&
		    c->tsize != c->bytes && o.expect_error < 0) {
			fail(c, "tsize does not match the bytes received");
		}
		if (c->st == C_OK) {
			ok++;
			bytes += c->bytes;
		} else {
			failed++;
			fprintf(
			    stderr, "tftp_client: %s: %s\n", c->remote, c->why);
		}
	}
	printf("ok=%d failed=%d ms=%llu bytes=%llu\n", ok, failed,
	    (unsigned long long)(now_ms() - t0), (unsigned long long)bytes);
	free(cs);
	close(ep);
	return failed ? 1 : 0;
}
