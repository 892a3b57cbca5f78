/*
 * dhcp_cap: capture DHCP and ARP frames on one interface, for tests that
 * check the link-layer form of replies on real bytes.
 *
 *   dhcp_cap -i IF [-t SECS] [-n MAX]
 *
 * A packet socket (ETH_P_ALL) on IF sees what the interface sends and
 * receives, with kernel timestamps.  Each DHCP frame (UDP port 67 or 68)
 * and each ARP frame becomes one line of key=value pairs on stdout:
 *
 *   dhcp t=SECS dir=in|out eth_src= eth_dst= ip_src= ip_dst= sport=
 *        dport= op= type= xid= flags= yiaddr= chaddr= sid=
 *   arp t=SECS dir=in|out eth_src= eth_dst= op= sha= spa= tha= tpa=
 *
 * t is the kernel's receive (or transmit) time in seconds, so the gap
 * between a DISCOVER the client sent and the OFFER it got is measured
 * from the frames themselves.  "dhcp_cap: ready" on stderr says the
 * socket is open.  It stops after SECS (default 30) or MAX frames, or on
 * SIGTERM/SIGINT, prints "dhcp_cap: frames N dropped D" (D from the
 * kernel's PACKET_STATISTICS: frames the socket had no room for, which a
 * test must treat as a capture it cannot judge) and exits 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/cur.h"
#include "proto/dhcp/dhcp.h"

static volatile sig_atomic_t g_stop;

static void
on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void
fmt_mac(char *b, const uint8_t *m)
{
	sprintf(b, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
	    m[4], m[5]);
}

static void
fmt_ip(char *b, uint32_t a)
{
	sprintf(b, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255,
	    a & 255);
}

/* An ARP frame after the Ethernet header (RFC 826, Ethernet/IPv4 only). */
static void
print_arp(const char *head, struct cur *c)
{
	uint8_t sha[6], tha[6];
	uint32_t spa, tpa;
	uint16_t htype, ptype, op;
	char a[4][20];

	htype = cur_be16(c);
	ptype = cur_be16(c);
	cur_skip(c, 2);
	op = cur_be16(c);
	cur_copy(c, sha, 6);
	spa = cur_be32(c);
	cur_copy(c, tha, 6);
	tpa = cur_be32(c);
	if (c->err || htype != 1 || ptype != ETH_P_IP) {
		return;
	}
	fmt_mac(a[0], sha);
	fmt_ip(a[1], spa);
	fmt_mac(a[2], tha);
	fmt_ip(a[3], tpa);
	printf("arp %s op=%u sha=%s spa=%s tha=%s tpa=%s\n", head, op, a[0],
	    a[1], a[2], a[3]);
}

/* An IPv4 frame: print it if it is UDP to or from port 67 or 68. */
static void
print_dhcp(const char *head, struct cur *c, struct dhcp_msg *m)
{
	uint8_t vihl, proto;
	uint32_t src, dst, sid = 0;
	uint16_t sport, dport, ulen;
	size_t ihl;
	char a[4][20];

	vihl = cur_u8(c);
	ihl = (size_t)(vihl & 15) * 4;
	cur_skip(c, 8);
	proto = cur_u8(c);
	cur_skip(c, 2);
	src = cur_be32(c);
	dst = cur_be32(c);
	if (c->err || vihl >> 4 != 4 || ihl < 20 || proto != IPPROTO_UDP) {
		return;
	}
	cur_skip(c, ihl - 20);
	sport = cur_be16(c);
	dport = cur_be16(c);
	ulen = cur_be16(c);
	cur_skip(c, 2);
	if (c->err || ulen < 8 || ulen - 8u > c->len - c->off ||
	    (sport != 67 && sport != 68) || (dport != 67 && dport != 68)) {
		return;
	}
	if (dhcp_parse(c->p + c->off, ulen - 8u, m) != 0) {
		printf("dhcp %s malformed=1\n", head);
		return;
	}
	(void)dhcp_opt_addr(m, DHCP_OPT_SERVER_ID, &sid);
	fmt_ip(a[0], src);
	fmt_ip(a[1], dst);
	fmt_ip(a[2], m->yiaddr);
	fmt_mac(a[3], m->chaddr);
	printf("dhcp %s ip_src=%s ip_dst=%s sport=%u dport=%u op=%u type=%u "
	       "xid=%08x flags=%04x yiaddr=%s chaddr=%s sid=%u.%u.%u.%u\n",
	    head, a[0], a[1], sport, dport, m->op, m->type, m->xid, m->flags,
	    a[2], a[3], sid >> 24, (sid >> 16) & 255, (sid >> 8) & 255,
	    sid & 255);
}

int
main(int argc, char **argv)
{
	const char *ifname = NULL;
	int c, secs = 30, fd, on = 1, rcvbuf = 16 << 20;
	struct tpacket_stats st = {0, 0};
	socklen_t stlen = sizeof(st);
	long max = 100000, lines = 0;
	struct sockaddr_ll sll = {.sll_family = AF_PACKET};
	struct dhcp_msg *m = calloc(1, sizeof(*m));
	struct timespec start;

	while ((c = getopt(argc, argv, "i:t:n:")) != -1) {
		switch (c) {
		case 'i':
			ifname = optarg;
			break;
		case 't':
			secs = atoi(optarg);
			break;
		case 'n':
			max = atol(optarg);
			break;
		default:
			fprintf(stderr,
			    "usage: dhcp_cap -i IF [-t SECS] "
			    "[-n MAX]\n");
			return 2;
		}
	}
	if (!ifname || secs < 1 || secs > 600 || max < 1 || !m) {
		fprintf(stderr, "dhcp_cap: -i IF required; -t 1..600\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (!sll.sll_ifindex || fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) < 0 ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		fprintf(stderr, "dhcp_cap: %s: %s\n", ifname, strerror(errno));
		return 2;
	}
	/* A burst of 250 DISCOVERs and their replies must all fit. */
	if (setsockopt(
		fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0) {
		(void)setsockopt(
		    fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	}
	fprintf(stderr, "dhcp_cap: ready\n");
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!g_stop && lines < max) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		uint8_t frame[2048], ctl[256];
		struct sockaddr_ll from;
		struct iovec iov = {
		    .iov_base = frame, .iov_len = sizeof(frame)};
		struct msghdr mh = {
		    .msg_name = &from,
		    .msg_namelen = sizeof(from),
		    .msg_iov = &iov,
		    .msg_iovlen = 1,
		    .msg_control = ctl,
		    .msg_controllen = sizeof(ctl),
		};
		struct timespec now, ts = {0, 0};
		struct cmsghdr *cm;
		char head[160], dst[20], src[20];
		struct cur cr;
		uint16_t type;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= secs) {
			break;
		}
		if (poll(&pfd, 1, 200) <= 0) {
			continue;
		}
		n = recvmsg(fd, &mh, 0);
		if (n < 14) {
			continue;
		}
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level == SOL_SOCKET &&
			    cm->cmsg_type == SCM_TIMESTAMPNS) {
				memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
			}
		}
		fmt_mac(dst, frame);
		fmt_mac(src, frame + 6);
		snprintf(head, sizeof(head),
		    "t=%lld.%06ld dir=%s eth_src=%s eth_dst=%s",
		    (long long)ts.tv_sec, ts.tv_nsec / 1000,
		    from.sll_pkttype == PACKET_OUTGOING ? "out" : "in", src,
		    dst);
		cr = cur_init(frame, (size_t)n);
		cur_skip(&cr, 12);
		type = cur_be16(&cr);
		if (type == ETH_P_ARP) {
			print_arp(head, &cr);
		} else if (type == ETH_P_IP) {
			print_dhcp(head, &cr, m);
		} else {
			continue;
		}
		lines++;
		fflush(stdout);
	}
	(void)getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &stlen);
	fprintf(
	    stderr, "dhcp_cap: frames %ld dropped %u\n", lines, st.tp_drops);
	close(fd);
	free(m);
	return 0;
}
