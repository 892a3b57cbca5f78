/*
 * The Linux half of an emulated Pi, up to its address: a network
 * namespace per Pi with a macvlan carrying the Pi's MAC, and the DHCP
 * exchange of the kernel's `ip=dhcp` (net/ipv4/ipconfig.c).  The NFS
 * replay that follows is in replay.c.
 */
#include "linux.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/csum.h"
#include "core/cur.h"
#include "proto/dhcp/dhcp.h"

/*
 * A switch floods a broadcast to every port; the macvlan driver queues
 * broadcasts for its devices and drops past 1,000 by default.  A storm
 * of Pis sharing one lower device would lose ARP requests to that queue
 * that no switch would lose, so the emulated switch gets a deeper one.
 */
#define BC_QUEUE_LEN 16384

/* net/ipv4/ipconfig.c: CONF_BASE_TIMEOUT, CONF_TIMEOUT_RANDOM,
 * CONF_TIMEOUT_MULT (7/4) and CONF_TIMEOUT_MAX. */
#define DHCP_BASE_MS   2000
#define DHCP_RANDOM_MS 1000
#define DHCP_MAX_MS    30000
/* sizeof(struct bootp_pkt) in ipconfig.c: IP, UDP, BOOTP, 312 option
 * bytes. */
#define BOOTP_PKT_LEN 576

uint64_t
emu_linux_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool
why(struct emu_linux *k, const char *what, int err)
{
	snprintf(k->why, sizeof(k->why), "kernel: %s: %s", what, strerror(err));
	return false;
}

/* ---- rtnetlink ---- */

struct nlreq {
	struct nlmsghdr h;
	uint8_t body[512];
};

static void
nl_attr(struct nlreq *r, uint16_t type, const void *data, size_t len)
{
	struct rtattr *a =
	    (struct rtattr *)((uint8_t *)&r->h + NLMSG_ALIGN(r->h.nlmsg_len));

	a->rta_type = type;
	a->rta_len = (uint16_t)RTA_LENGTH(len);
	if (len) {
		memcpy(RTA_DATA(a), data, len);
	}
	r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

static struct rtattr *
nl_nest(struct nlreq *r, uint16_t type)
{
	struct rtattr *a =
	    (struct rtattr *)((uint8_t *)&r->h + NLMSG_ALIGN(r->h.nlmsg_len));

	nl_attr(r, type, NULL, 0);
	return a;
}

static void
nl_nest_end(struct nlreq *r, struct rtattr *a)
{
	a->rta_len =
	    (uint16_t)((uint8_t *)&r->h + r->h.nlmsg_len - (uint8_t *)a);
}

/* Send @r on @fd and wait for its acknowledgement: 0 or -errno. */
static int
nl_talk(int fd, struct nlreq *r)
{
	struct sockaddr_nl to = {.nl_family = AF_NETLINK};
	uint8_t buf[4096];
	ssize_t n;

	r->h.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	r->h.nlmsg_seq = 1;
	if (sendto(fd, r, r->h.nlmsg_len, 0, (struct sockaddr *)&to,
		sizeof(to)) < 0) {
		return -errno;
	}
	for (;;) {
		struct nlmsghdr *h;

		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				return e->error;
			}
		}
	}
}

static int
nl_open(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	return fd < 0 ? -errno : fd;
}

/*
 * A macvlan with the Pi's MAC on the emulator's interface, created
 * through @rt_main (a socket in the emulator's namespace, where the lower
 * device is) straight into the namespace @nsfd as "eth0".
 */
static int
macvlan_add(struct emu_linux *k, int rt_main, int nsfd)
{
	struct nlreq r = {0};
	struct ifinfomsg *ifi = NLMSG_DATA(&r.h);
	struct rtattr *info, *data;
	uint32_t mode = MACVLAN_MODE_BRIDGE, bcq = BC_QUEUE_LEN;
	uint32_t lower = (uint32_t)k->lower_ifindex;
	int32_t ns = nsfd;

	r.h.nlmsg_len = NLMSG_LENGTH(sizeof(*ifi));
	r.h.nlmsg_type = RTM_NEWLINK;
	r.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	ifi->ifi_family = AF_UNSPEC;
	nl_attr(&r, IFLA_IFNAME, "eth0", 5);
	nl_attr(&r, IFLA_LINK, &lower, sizeof(lower));
	nl_attr(&r, IFLA_ADDRESS, k->mac, 6);
	nl_attr(&r, IFLA_NET_NS_FD, &ns, sizeof(ns));
	info = nl_nest(&r, IFLA_LINKINFO);
	nl_attr(&r, IFLA_INFO_KIND, "macvlan", 7);
	data = nl_nest(&r, IFLA_INFO_DATA);
	nl_attr(&r, IFLA_MACVLAN_MODE, &mode, sizeof(mode));
	nl_attr(&r, IFLA_MACVLAN_BC_QUEUE_LEN, &bcq, sizeof(bcq));
	nl_nest_end(&r, data);
	nl_nest_end(&r, info);
	return nl_talk(rt_main, &r);
}

static int
link_up(int rt, int ifindex)
{
	struct nlreq r = {0};
	struct ifinfomsg *ifi = NLMSG_DATA(&r.h);

	r.h.nlmsg_len = NLMSG_LENGTH(sizeof(*ifi));
	r.h.nlmsg_type = RTM_NEWLINK;
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	return nl_talk(rt, &r);
}

static int
addr_add(int rt, int ifindex, uint32_t addr, int plen)
{
	struct nlreq r = {0};
	struct ifaddrmsg *ifa = NLMSG_DATA(&r.h);
	uint32_t a = htonl(addr);

	r.h.nlmsg_len = NLMSG_LENGTH(sizeof(*ifa));
	r.h.nlmsg_type = RTM_NEWADDR;
	r.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (uint8_t)plen;
	ifa->ifa_index = (uint32_t)ifindex;
	nl_attr(&r, IFA_LOCAL, &a, 4);
	nl_attr(&r, IFA_ADDRESS, &a, 4);
	return nl_talk(rt, &r);
}

static int
route_default(int rt, int ifindex, uint32_t gw)
{
	struct nlreq r = {0};
	struct rtmsg *rtm = NLMSG_DATA(&r.h);
	uint32_t g = htonl(gw), oif = (uint32_t)ifindex;

	r.h.nlmsg_len = NLMSG_LENGTH(sizeof(*rtm));
	r.h.nlmsg_type = RTM_NEWROUTE;
	r.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	rtm->rtm_family = AF_INET;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_BOOT;
	rtm->rtm_scope = RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_UNICAST;
	nl_attr(&r, RTA_GATEWAY, &g, 4);
	nl_attr(&r, RTA_OIF, &oif, 4);
	return nl_talk(rt, &r);
}

/* ---- the kernel's DHCP client ---- */

struct kdhcp {
	struct emu_linux *k;
	int fd, ifindex;
	uint32_t xid;
	uint32_t myaddr, servaddr; /* offered; 0 until an OFFER */
	uint32_t mask, router;
	uint64_t start;
};

/* DISCOVER, or REQUEST once an OFFER was taken (ic_dhcp_init_options). */
static bool
kdhcp_send(struct kdhcp *d)
{
	static const uint8_t prl[] = {1, 3, 6, 12, 15, 17, 26, 40, 42};
	uint8_t f[14 + BOOTP_PKT_LEN] = {0};
	struct wcur w = wcur_init(f, sizeof(f));
	struct sockaddr_ll to = {
	    .sll_family = AF_PACKET,
	    .sll_halen = 6,
	    .sll_protocol = htons(ETH_P_IP),
	};
	bool request = d->servaddr != 0;
	uint16_t secs = (uint16_t)((emu_linux_ms() - d->start) / 1000);

	memset(to.sll_addr, 0xff, 6);
	to.sll_ifindex = d->ifindex;
	wcur_bytes(&w, to.sll_addr, 6);
	wcur_bytes(&w, d->k->mac, 6);
	wcur_be16(&w, ETHERTYPE_IP);
	/* IP: IHL 5, DF, TTL 64, from 0.0.0.0 to the broadcast. */
	wcur_u8(&w, 0x45);
	wcur_u8(&w, 0);
	wcur_be16(&w, BOOTP_PKT_LEN);
	wcur_be16(&w, 0);
	wcur_be16(&w, 0x4000);
	wcur_u8(&w, 64);
	wcur_u8(&w, IPPROTO_UDP);
	wcur_be16(&w, 0);
	wcur_be32(&w, 0);
	wcur_be32(&w, INADDR_BROADCAST);
	/* UDP 68 -> 67, no checksum ("explicitly allowed in BOOTP RFC") */
	wcur_be16(&w, 68);
	wcur_be16(&w, 67);
	wcur_be16(&w, BOOTP_PKT_LEN - 20);
	wcur_be16(&w, 0);
	/* BOOTP: flags 0, addresses 0, chaddr */
	wcur_u8(&w, DHCP_BOOTREQUEST);
	wcur_u8(&w, 1);
	wcur_u8(&w, 6);
	wcur_u8(&w, 0);
	wcur_be32(&w, d->xid);
	wcur_be16(&w, secs);
	wcur_be16(&w, 0);
	wcur_zero(&w, 16);
	wcur_bytes(&w, d->k->mac, 6);
	wcur_zero(&w, 10 + 64 + 128);
	wcur_bytes(&w, "\x63\x82\x53\x63", 4);
	wcur_u8(&w, DHCP_OPT_MSG_TYPE);
	wcur_u8(&w, 1);
	wcur_u8(&w, request ? DHCPREQUEST : DHCPDISCOVER);
	if (request) {
		wcur_u8(&w, DHCP_OPT_SERVER_ID);
		wcur_u8(&w, 4);
		wcur_be32(&w, d->servaddr);
		wcur_u8(&w, DHCP_OPT_REQUESTED_IP);
		wcur_u8(&w, 4);
		wcur_be32(&w, d->myaddr);
	}
	wcur_u8(&w, DHCP_OPT_PRL);
	wcur_u8(&w, sizeof(prl));
	wcur_bytes(&w, prl, sizeof(prl));
	wcur_u8(&w, DHCP_OPT_END);
	if (w.err) {
		return false;
	}
	{
		uint16_t c = csum_fold(csum_add(0, f + 14, 20));

		f[24] = (uint8_t)(c >> 8);
		f[25] = (uint8_t)c;
	}
	d->k->dhcp_sends++;
	return sendto(d->fd, f, sizeof(f), 0, (struct sockaddr *)&to,
		   sizeof(to)) == (ssize_t)sizeof(f);
}

/*
 * One frame, as ic_bootp_recv() filters it: IHL 5, no fragment, header
 * checksum right, UDP 67 -> 68, our xid.  Return: the DHCP message type
 * taken (DHCPOFFER, DHCPACK), -1 for a NAK (start over), 0 otherwise.
 */
static int
kdhcp_input(struct kdhcp *d, const uint8_t *f, size_t n)
{
	struct dhcp_msg *m;
	struct cur c = cur_init(f, n), ip;
	uint16_t tot, frag;
	int r = 0;

	cur_skip(&c, 12);
	if (cur_be16(&c) != ETHERTYPE_IP || cur_left(&c) < 28 ||
	    cur_peek(&c)[0] != 0x45) {
		return 0;
	}
	if (csum_fold(csum_add(0, cur_peek(&c), 20)) != 0) {
		return 0;
	}
	ip = c;
	cur_skip(&ip, 2);
	tot = cur_be16(&ip);
	cur_skip(&ip, 2);
	frag = cur_be16(&ip);
	cur_skip(&ip, 1);
	if (cur_u8(&ip) != IPPROTO_UDP || (frag & 0x3fff) || tot < 28 ||
	    tot > cur_left(&c)) {
		return 0;
	}
	ip = cur_sub(&c, tot);
	cur_skip(&ip, 20);
	if (cur_be16(&ip) != 67 || cur_be16(&ip) != 68) {
		return 0;
	}
	cur_skip(&ip, 4);
	if (ip.err) {
		return 0;
	}
	m = malloc(sizeof(*m));
	if (!m) {
		return 0;
	}
	if (dhcp_parse(cur_peek(&ip), cur_left(&ip), m) != 0 ||
	    m->op != DHCP_BOOTREPLY || m->xid != d->xid) {
		goto out;
	}
	switch (m->type) {
	case DHCPOFFER:
		if (d->myaddr) {
			/* "While in the process of accepting one offer,
			 * ignore all others." */
			break;
		}
		if (!dhcp_opt_addr(m, DHCP_OPT_SERVER_ID, &d->servaddr)) {
			break;
		}
		d->myaddr = m->yiaddr;
		r = DHCPOFFER;
		break;
	case DHCPACK:
		if (memcmp(m->chaddr, d->k->mac, 6) != 0) {
			break;
		}
		d->myaddr = m->yiaddr;
		d->mask = 0;
		(void)dhcp_opt_addr(m, DHCP_OPT_SUBNET_MASK, &d->mask);
		if (m->opt[DHCP_OPT_ROUTER].p &&
		    m->opt[DHCP_OPT_ROUTER].len >= 4) {
			struct cur rc = cur_init(m->opt[DHCP_OPT_ROUTER].p, 4);

			d->router = cur_be32(&rc);
		}
		r = DHCPACK;
		break;
	default:
		/* "Urque.  Forget it" */
		d->myaddr = d->servaddr = 0;
		r = -1;
		break;
	}
out:
	free(m);
	return r;
}

/* Return: true with k->addr, *@mask and *@router (0: none) set. */
static bool
kdhcp_run(struct emu_linux *k, int ifindex, uint32_t *mask, uint32_t *router)
{
	struct sockaddr_ll sll = {
	    .sll_family = AF_PACKET,
	    .sll_protocol = htons(ETH_P_IP),
	    .sll_ifindex = ifindex,
	};
	struct kdhcp d = {.k = k, .ifindex = ifindex, .start = emu_linux_ms()};
	unsigned seed = k->seed;
	uint64_t timeout =
	    DHCP_BASE_MS + (unsigned)rand_r(&seed) % DHCP_RANDOM_MS;
	uint8_t *f = malloc(2048);
	bool ok = false;

	d.xid = (uint32_t)rand_r(&seed) << 16 ^ (uint32_t)rand_r(&seed);
	d.fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_IP));
	if (!f || d.fd < 0 ||
	    bind(d.fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		why(k, "packet socket on eth0", errno);
		goto out;
	}
	while (emu_linux_ms() < k->deadline) {
		uint64_t until;
		bool resend = false;

		if (!kdhcp_send(&d)) {
			why(k, "DHCP send", errno);
			goto out;
		}
		until = emu_linux_ms() + timeout;
		while (!resend && emu_linux_ms() < until &&
		    emu_linux_ms() < k->deadline) {
			struct pollfd p = {.fd = d.fd, .events = POLLIN};
			ssize_t n;
			int r;

			if (poll(&p, 1, 50) <= 0) {
				continue;
			}
			n = recv(d.fd, f, 2048, MSG_DONTWAIT);
			if (n <= 0) {
				continue;
			}
			/* ic_bootp_recv drops PACKET_OTHERHOST: only
			 * frames to our MAC or the broadcast get here. */
			if (memcmp(f, k->mac, 6) != 0 &&
			    memcmp(f, "\xff\xff\xff\xff\xff\xff", 6) != 0) {
				continue;
			}
			r = kdhcp_input(&d, f, (size_t)n);
			if (r == DHCPACK) {
				ok = true;
				goto out;
			}
			/* An OFFER: REQUEST at once, on the same device. */
			resend = r == DHCPOFFER;
		}
		if (!resend) {
			timeout = timeout * 7 / 4;
			if (timeout > DHCP_MAX_MS) {
				timeout = DHCP_MAX_MS;
			}
		}
	}
	snprintf(k->why, sizeof(k->why),
	    "kernel: ip=dhcp: no %s after %u messages",
	    d.servaddr ? "ACK" : "OFFER", k->dhcp_sends);
out:
	if (ok) {
		k->addr = d.myaddr;
		k->t_ack = emu_linux_ms();
		/* ic_defaults(): a class C guess when no mask came. */
		*mask = d.mask ? d.mask : 0xffffff00u;
		*router = d.router;
	}
	if (d.fd >= 0) {
		close(d.fd);
	}
	free(f);
	return ok;
}

bool
emu_linux_boot(struct emu_linux *k)
{
	int rt_main, rt = -1, nsfd = -1, ifindex, e;
	uint32_t mask, router;
	bool ok = false;

	/* Opened here, before unshare: the lower device lives in the
	 * emulator's namespace. */
	rt_main = nl_open();
	if (rt_main < 0) {
		return why(k, "rtnetlink", -rt_main);
	}
	if (unshare(CLONE_NEWNET) < 0) {
		why(k, "unshare(CLONE_NEWNET)", errno);
		goto out;
	}
	nsfd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (nsfd < 0) {
		why(k, "its network namespace", errno);
		goto out;
	}
	e = macvlan_add(k, rt_main, nsfd);
	if (e < 0) {
		why(k, "macvlan with the Pi's MAC", -e);
		goto out;
	}
	rt = nl_open();
	ifindex = (int)if_nametoindex("eth0");
	if (rt < 0 || !ifindex) {
		why(k, "eth0 in its namespace", rt < 0 ? -rt : errno);
		goto out;
	}
	e = link_up(rt, ifindex);
	if (e < 0) {
		why(k, "eth0 up", -e);
		goto out;
	}
	if (!kdhcp_run(k, ifindex, &mask, &router)) {
		goto out;
	}
	e = addr_add(rt, ifindex, k->addr, __builtin_popcount(mask));
	if (e < 0) {
		why(k, "address on eth0", -e);
		goto out;
	}
	/* ic_setup_routes(): the default route through the router. */
	if (router) {
		e = route_default(rt, ifindex, router);
		if (e < 0) {
			why(k, "default route", -e);
			goto out;
		}
	}
	ok = emu_replay_run(k);
out:
	if (rt >= 0) {
		close(rt);
	}
	if (nsfd >= 0) {
		close(nsfd);
	}
	close(rt_main);
	return ok;
}
