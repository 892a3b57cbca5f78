/*
 * One MOUNT v3 MNT call, as a Linux client makes it: the port from the
 * portmapper, then MNT over UDP with AUTH_SYS uid 0 from a reserved
 * source port (the kernel client and klibc use one).  The path is sent
 * byte for byte, so a test can put control characters in it.
 *
 *   mnt_call SERVER PATH [SOURCE]
 *
 * SOURCE picks the source address when the host has several.
 * Prints "mnt status=N" (0 is MNT3_OK) and exits 0 when the mount was
 * granted, 1 when it was refused, 2 when nobody answered.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/mount/mnt.h"
#include "proto/portmap/pmap.h"
#include "proto/rpc/rpc.h"

/* A reserved port, as knfsd's `secure` and our own server expect. */
static struct in_addr source;

static int
reserved_udp_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint16_t port;

	if (fd < 0) {
		return -1;
	}
	for (port = 1023; port >= 600; port--) {
		struct sockaddr_in sa = {.sin_family = AF_INET,
		    .sin_port = htons(port),
		    .sin_addr = source};

		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			return fd;
		}
		if (errno != EADDRINUSE) {
			break;
		}
	}
	fprintf(stderr, "mnt_call: no reserved port: %s\n", strerror(errno));
	close(fd);
	return -1;
}

static int
call(struct in_addr server, uint16_t port, const uint8_t *req, size_t len,
    uint8_t *rep, size_t cap)
{
	struct sockaddr_in sa = {
	    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr = server};
	int fd = reserved_udp_socket(), tries;
	ssize_t n = -1;

	if (fd < 0) {
		return -1;
	}
	for (tries = 0; tries < 3 && n < 0; tries++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (sendto(fd, req, len, 0, (struct sockaddr *)&sa,
			sizeof(sa)) != (ssize_t)len) {
			break;
		}
		if (poll(&p, 1, 1000) == 1) {
			n = recv(fd, rep, cap, 0);
		}
	}
	close(fd);
	return (int)n;
}

static int
reply_body(const uint8_t *rep, int n, struct rpc_reply *r)
{
	if (n <= 0 || rpc_reply_parse(rep, (size_t)n, r) < 0 ||
	    r->reply_stat != RPC_MSG_ACCEPTED || r->stat != RPC_SUCCESS) {
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	uint8_t req[2048], rep[2048], cred[64], fh[64];
	struct rpc_auth_sys a = {.stamp = 1};
	struct in_addr server;
	struct rpc_reply r;
	struct wcur w, cw;
	struct cur c;
	uint32_t stat = 0xffffffff;
	uint16_t port;
	size_t fhlen = 0;
	int n;

	if (argc < 3 || argc > 4 || inet_pton(AF_INET, argv[1], &server) != 1 ||
	    (argc == 4 && inet_pton(AF_INET, argv[3], &source) != 1)) {
		fprintf(stderr, "usage: mnt_call SERVER PATH [SOURCE]\n");
		return 2;
	}
	w = wcur_init(req, sizeof(req));
	rpc_call_build(&w, 1, PMAP_PROG, PMAP_VERS, PMAP_PROC_GETPORT,
	    RPC_AUTH_NONE, NULL, 0);
	pmap_mapping_build(&w,
	    &(struct pmap_mapping){MNT_PROG, MNT_VERS, PMAP_IPPROTO_UDP, 0});
	n = call(server, 111, req, w.off, rep, sizeof(rep));
	if (reply_body(rep, n, &r) < 0) {
		printf("mnt_call: no portmapper answer\n");
		return 2;
	}
	c = cur_init(r.res, r.res_len);
	port = (uint16_t)cur_be32(&c);
	if (c.err || port == 0) {
		printf("mnt_call: MOUNT is not registered\n");
		return 2;
	}
	strcpy(a.machine, "mnt-call");
	cw = wcur_init(cred, sizeof(cred));
	rpc_auth_sys_build(&cw, &a);
	w = wcur_init(req, sizeof(req));
	/* rpc_auth_sys_build() writes flavor and length first: skip them. */
	rpc_call_build(&w, 2, MNT_PROG, MNT_VERS, MNT_PROC_MNT, RPC_AUTH_SYS,
	    cred + 8, cw.off - 8);
	rpc_put_string(&w, argv[2]);
	if (w.err) {
		printf("mnt_call: path too long\n");
		return 2;
	}
	n = call(server, port, req, w.off, rep, sizeof(rep));
	if (reply_body(rep, n, &r) < 0 ||
	    mnt_mnt_parse(r.res, r.res_len, &stat, fh, &fhlen) < 0) {
		printf("mnt_call: no MNT answer\n");
		return 2;
	}
	printf("mnt status=%u\n", stat);
	return stat == 0 ? 0 : 1;
}
