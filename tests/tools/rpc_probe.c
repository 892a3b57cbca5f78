/*
 * A raw ONC RPC peer for the e2e tests: the things stock clients never
 * do on purpose.  Retransmitted non-idempotent calls over UDP (the
 * duplicate request cache), multi-fragment and pipelined TCP records,
 * a record over the limit, NFSACL probes, portmapper SET/CALLIT from a
 * remote address.  Prints PASS/FAIL lines.
 *
 *   rpc_probe SERVER EXPORT
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/mount/mnt.h"
#include "proto/nfs3/nfs3.h"
#include "proto/portmap/pmap.h"
#include "proto/rpc/rpc.h"

static int failures;
static struct in_addr server;

static void
check(const char *name, int ok, const char *why)
{
	if (ok) {
		printf("PASS: %s\n", name);
	} else {
		printf("FAIL: %s (%s)\n", name, why);
		failures++;
	}
}

static int
udp_call(
    uint16_t port, const uint8_t *req, size_t len, uint8_t *rep, size_t cap)
{
	struct sockaddr_in sa = {
	    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr = server};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n = -1;

	if (fd < 0) {
		return -1;
	}
	if (sendto(fd, req, len, 0, (struct sockaddr *)&sa, sizeof(sa)) ==
		(ssize_t)len &&
	    poll(&p, 1, 3000) == 1) {
		n = recv(fd, rep, cap, 0);
	}
	close(fd);
	return (int)n;
}

static int
tcp_open(uint16_t port)
{
	struct sockaddr_in sa = {
	    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr = server};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
read_exact(int fd, uint8_t *buf, size_t n)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	size_t have = 0;

	while (have < n) {
		ssize_t r;

		if (poll(&p, 1, 3000) != 1) {
			return -1;
		}
		r = recv(fd, buf + have, n - have, 0);
		if (r <= 0) {
			return r == 0 ? 0 : -1;
		}
		have += (size_t)r;
	}
	return 1;
}

/* Read one whole reply record (single fragment, as the server sends). */
static int
tcp_read_record(int fd, uint8_t *buf, size_t cap)
{
	uint8_t h[4];
	uint32_t len;
	int r = read_exact(fd, h, 4);

	if (r <= 0) {
		return r;
	}
	len = ((uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
		  (uint32_t)h[2] << 8 | h[3]) &
	    0x7fffffff;
	if (len > cap) {
		return -1;
	}
	r = read_exact(fd, buf, len);
	return r <= 0 ? -1 : (int)len;
}

static uint32_t
reply_word(const uint8_t *rep, int n, size_t at)
{
	struct rpc_reply r;
	struct cur c;

	if (n <= 0 || rpc_reply_parse(rep, (size_t)n, &r) < 0 ||
	    r.reply_stat != RPC_MSG_ACCEPTED || r.stat != RPC_SUCCESS) {
		return 0xffffffff;
	}
	c = cur_init(r.res, r.res_len);
	cur_skip(&c, at);
	return cur_be32(&c);
}

static uint32_t
getport(uint32_t prog, uint32_t vers, uint32_t prot)
{
	uint8_t req[128], rep[128];
	struct wcur w = wcur_init(req, sizeof(req));
	struct pmap_mapping m = {prog, vers, prot, 0};

	rpc_call_build(&w, 100 + prog + prot, PMAP_PROG, PMAP_VERS,
	    PMAP_PROC_GETPORT, RPC_AUTH_NONE, NULL, 0);
	pmap_mapping_build(&w, &m);
	return reply_word(rep, udp_call(111, req, w.off, rep, sizeof(rep)), 0);
}

static void
auth_sys(
    struct wcur *w, uint32_t xid, uint32_t prog, uint32_t vers, uint32_t proc)
{
	uint8_t cred[64];
	struct wcur cw = wcur_init(cred, sizeof(cred));
	struct rpc_auth_sys a = {.stamp = 1};

	strcpy(a.machine, "probe");
	rpc_auth_sys_build(&cw, &a);
	rpc_call_build(
	    w, xid, prog, vers, proc, RPC_AUTH_SYS, cred + 8, cw.off - 8);
}

int
main(int argc, char **argv)
{
	static uint8_t req[4096], rep[70000];
	struct nfs3_fh root;
	struct nfs3_args a;
	struct wcur w;
	uint16_t nfs_tcp, nfs_udp, mnt_udp;
	uint32_t stat, x;
	size_t fhlen;
	int n, n2, fd, i;

	if (argc < 3 || inet_pton(AF_INET, argv[1], &server) != 1) {
		fprintf(stderr, "usage: rpc_probe SERVER EXPORT\n");
		return 2;
	}
	nfs_tcp = (uint16_t)getport(NFS3_PROG, 3, PMAP_IPPROTO_TCP);
	nfs_udp = (uint16_t)getport(NFS3_PROG, 3, PMAP_IPPROTO_UDP);
	mnt_udp = (uint16_t)getport(MNT_PROG, 3, PMAP_IPPROTO_UDP);
	check("portmap GETPORT nfs tcp/udp and mount udp",
	    nfs_tcp == 2049 && nfs_udp == 2049 && mnt_udp != 0 &&
		getport(MNT_PROG, 3, PMAP_IPPROTO_TCP) == mnt_udp,
	    "ports missing");
	check("portmap GETPORT of an unknown program is 0",
	    getport(100021, 4, PMAP_IPPROTO_TCP) == 0, "NLM registered?");
	check("portmap GETPORT of another version gives the program's port",
	    getport(NFS3_PROG, 2, PMAP_IPPROTO_TCP) == 2049, "no port");

	/* SET from a remote address is refused; CALLIT is not offered. */
	w = wcur_init(req, sizeof(req));
	rpc_call_build(&w, 77, PMAP_PROG, PMAP_VERS, PMAP_PROC_SET,
	    RPC_AUTH_NONE, NULL, 0);
	pmap_mapping_build(&w, &(struct pmap_mapping){400000, 1, 6, 999});
	n = udp_call(111, req, w.off, rep, sizeof(rep));
	check("portmap SET from a remote address is refused",
	    reply_word(rep, n, 0) == 0, "SET accepted");
	w = wcur_init(req, sizeof(req));
	rpc_call_build(&w, 78, PMAP_PROG, PMAP_VERS, PMAP_PROC_CALLIT,
	    RPC_AUTH_NONE, NULL, 0);
	wcur_zero(&w, 16);
	n = udp_call(111, req, w.off, rep, sizeof(rep));
	{
		struct rpc_reply r;

		check("portmap CALLIT is PROC_UNAVAIL",
		    n > 0 && rpc_reply_parse(rep, (size_t)n, &r) == 0 &&
			r.stat == RPC_PROC_UNAVAIL,
		    "not refused");
	}

	/* MNT over UDP with AUTH_NULL, as klibc does. */
	w = wcur_init(req, sizeof(req));
	rpc_call_build(
	    &w, 79, MNT_PROG, MNT_VERS, MNT_PROC_MNT, RPC_AUTH_NONE, NULL, 0);
	rpc_put_string(&w, argv[2]);
	n = udp_call(mnt_udp, req, w.off, rep, sizeof(rep));
	{
		struct rpc_reply r;

		stat = 1;
		if (n > 0 && rpc_reply_parse(rep, (size_t)n, &r) == 0) {
			mnt_mnt_parse(
			    r.res, r.res_len, &stat, root.data, &fhlen);
		}
		root.len = (uint32_t)fhlen;
	}
	check("MNT over UDP with AUTH_NULL", stat == MNT3_OK, "no handle");
	if (stat != MNT3_OK) {
		return 1;
	}

	/* CREATE then the same REMOVE twice over UDP: the DRC answers. */
	memset(&a, 0, sizeof(a));
	a.proc = NFS3_PROC_CREATE;
	a.where.dir = root;
	strcpy(a.where.name, "drc-file");
	a.createmode = NFS3_GUARDED;
	w = wcur_init(req, sizeof(req));
	auth_sys(&w, 500, NFS3_PROG, 3, NFS3_PROC_CREATE);
	nfs3_args_build(&w, &a);
	n = udp_call(nfs_udp, req, w.off, rep, sizeof(rep));
	check("CREATE over UDP", reply_word(rep, n, 0) == NFS3_OK, "failed");
	n2 = udp_call(nfs_udp, req, w.off, rep + 35000, 35000);
	check("retransmitted CREATE gets the original reply",
	    n2 == n && memcmp(rep, rep + 35000, (size_t)n) == 0,
	    "replayed: GUARDED create ran twice");
	a.proc = NFS3_PROC_REMOVE;
	w = wcur_init(req, sizeof(req));
	auth_sys(&w, 501, NFS3_PROG, 3, NFS3_PROC_REMOVE);
	nfs3_args_build(&w, &a);
	n = udp_call(nfs_udp, req, w.off, rep, sizeof(rep));
	x = reply_word(rep, n, 0);
	n2 = udp_call(nfs_udp, req, w.off, rep, sizeof(rep));
	check("retransmitted REMOVE gets NFS3_OK again, not NOENT",
	    x == NFS3_OK && reply_word(rep, n2, 0) == NFS3_OK, "not cached");

	/* NFSACL on the NFS port: PROG_UNAVAIL over TCP. */
	fd = tcp_open(nfs_tcp);
	w = wcur_init(req + 4, sizeof(req) - 4);
	rpc_call_build(&w, 600, 100227, 3, 0, RPC_AUTH_NONE, NULL, 0);
	rpc_rm_marker(req, w.off);
	n = -1;
	if (fd >= 0 && send(fd, req, w.off + 4, 0) == (ssize_t)(w.off + 4)) {
		n = tcp_read_record(fd, rep, sizeof(rep));
	}
	{
		struct rpc_reply r;

		check("NFSACL probe is PROG_UNAVAIL",
		    n > 0 && rpc_reply_parse(rep, (size_t)n, &r) == 0 &&
			r.stat == RPC_PROG_UNAVAIL,
		    "no answer");
	}

	/* One GETATTR in three fragments. */
	{
		uint8_t call[256], *p = req;
		struct wcur cw = wcur_init(call, sizeof(call));
		size_t parts[3], off = 0;

		memset(&a, 0, sizeof(a));
		a.proc = NFS3_PROC_GETATTR;
		a.fh = root;
		auth_sys(&cw, 601, NFS3_PROG, 3, NFS3_PROC_GETATTR);
		nfs3_args_build(&cw, &a);
		parts[0] = 10;
		parts[1] = 30;
		parts[2] = cw.off - 40;
		for (i = 0; i < 3; i++) {
			uint32_t m =
			    (uint32_t)parts[i] | (i == 2 ? RPC_RM_LAST : 0);

			p[0] = (uint8_t)(m >> 24);
			p[1] = (uint8_t)(m >> 16);
			p[2] = (uint8_t)(m >> 8);
			p[3] = (uint8_t)m;
			memcpy(p + 4, call + off, parts[i]);
			p += 4 + parts[i];
			off += parts[i];
		}
		n = -1;
		if (fd >= 0 && send(fd, req, (size_t)(p - req), 0) > 0) {
			n = tcp_read_record(fd, rep, sizeof(rep));
		}
		check("GETATTR in three fragments",
		    reply_word(rep, n, 0) == NFS3_OK, "no reply");
	}

	/* Twenty calls in one write: twenty replies, any order. */
	{
		uint8_t *p = req;
		int got = 0, seen[20] = {0};

		for (i = 0; i < 20; i++) {
			struct wcur cw = wcur_init(p + 4, 200);

			auth_sys(&cw, 700 + (uint32_t)i, NFS3_PROG, 3,
			    NFS3_PROC_GETATTR);
			nfs3_args_build(&cw, &a);
			rpc_rm_marker(p, cw.off);
			p += 4 + cw.off;
		}
		if (fd >= 0 && send(fd, req, (size_t)(p - req), 0) > 0) {
			for (i = 0; i < 20; i++) {
				struct rpc_reply r;

				n = tcp_read_record(fd, rep, sizeof(rep));
				if (n > 0 &&
				    rpc_reply_parse(rep, (size_t)n, &r) == 0 &&
				    r.xid >= 700 && r.xid < 720 &&
				    !seen[r.xid - 700]) {
					seen[r.xid - 700] = 1;
					got++;
				}
			}
		}
		check("20 pipelined calls on one connection", got == 20,
		    "replies missing");
	}
	if (fd >= 0) {
		close(fd);
	}

	/* A record over the limit closes the connection. */
	fd = tcp_open(nfs_tcp);
	rpc_rm_marker(req, 64u << 20);
	n = -1;
	if (fd >= 0 && send(fd, req, 4, 0) == 4) {
		n = tcp_read_record(fd, rep, sizeof(rep));
	}
	check("record over the maximum closes the connection", n == 0,
	    "connection stayed open");
	if (fd >= 0) {
		close(fd);
	}
	return failures ? 1 : 0;
}
