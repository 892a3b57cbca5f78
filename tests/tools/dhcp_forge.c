/*
 * dhcp_forge: send one DHCP message as a raw Ethernet frame, with any
 * chaddr, xid, addresses and Ethernet/IP/UDP source a hostile host on the
 * boot LAN could put there.  The e2e tests use it to forge REQUESTs with
 * a provisioned Pi's MAC, and ACKs or NAKs "from" a DHCP server, where
 * no DHCP client would send them.
 *
 *   dhcp_forge -i IF -t discover|request|offer|ack|nak -c CHADDR [options]
 *     -x XID        transaction id (hex; default 1)
 *     -r IP         option 50, requested address
 *     -s IP         option 54, server identifier
 *     -y IP         yiaddr
 *     -V TEXT       option 60, vendor class (bytes as given)
 *     -e SERIAL     option 97 in the Pi 4 layout with this serial (hex)
 *     -S IP         IP source (default 0.0.0.0; give a server's)
 *     -D IP         IP destination (default 255.255.255.255)
 *     -E MAC        Ethernet destination (default broadcast)
 *     -M MAC        Ethernet source (default chaddr for client messages,
 *                   the interface's MAC for server messages)
 *     -n COUNT      send COUNT frames, the last two bytes of chaddr (and
 *                   of the Ethernet source) counting up from the one given,
 *                   at most 10,000 a second (a veth drops a faster burst)
 *     -o FILE       append the IPv4 packet to FILE, preceded by its length
 *                   (2 bytes, big-endian), instead of sending it: seeds for
 *                   fuzz_dhcpwatch (tests/fuzz/mkseeds.sh)
 *
 * Client messages go from UDP 68 to 67, server messages from 67 to 68.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/csum.h"
#include "core/cur.h"
#include "proto/dhcp/dhcp.h"

static int
parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	int i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4],
		&b[5]) != 6) {
		return -1;
	}
	for (i = 0; i < 6; i++) {
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

static uint32_t
parse_ip(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "dhcp_forge: '%s' is not an address\n", s);
		exit(2);
	}
	return ntohl(a.s_addr);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: dhcp_forge -i IF -t discover|request|offer|ack|nak "
	    "-c CHADDR\n"
	    "       [-x XID] [-r IP] [-s IP] [-y IP] [-V TEXT] [-e SERIAL]\n"
	    "       [-S IP] [-D IP] [-E MAC] [-M MAC] [-n COUNT] [-o FILE]\n");
	exit(2);
}

/* What to forge; see the options above. */
struct forge {
	uint8_t type;
	uint8_t chaddr[6], edst[6], esrc[6];
	uint32_t xid, want, sid, yi, sip, dip, serial;
	bool has_serial;
	const char *vclass;
};

static void
put_addr_opt(struct wcur *w, uint8_t code, uint32_t addr)
{
	wcur_u8(w, code);
	wcur_u8(w, 4);
	wcur_be32(w, addr);
}

static bool
forge_from_client(const struct forge *f)
{
	return f->type == DHCPDISCOVER || f->type == DHCPREQUEST;
}

/*
 * The Ethernet frame for @f into @frame.
 * Return: its length (the IPv4 packet starts at 14), or 0 if too large.
 */
static size_t
forge_frame(const struct forge *f, uint8_t *frame, size_t cap)
{
	struct wcur w = wcur_init(frame, cap);
	uint8_t *ipcsum, *udpcsum, *udplen, *iplen;
	size_t ipstart, udpstart;
	uint32_t sum;
	uint16_t c;

	/* Ethernet */
	wcur_bytes(&w, f->edst, 6);
	wcur_bytes(&w, f->esrc, 6);
	wcur_be16(&w, ETH_P_IP);
	/* IPv4: no options, no fragments (Linux's ipconfig insists). */
	ipstart = w.off;
	wcur_u8(&w, 0x45);
	wcur_u8(&w, 0);
	iplen = wcur_reserve(&w, 2);
	wcur_be32(&w, 0);
	wcur_u8(&w, 64);
	wcur_u8(&w, IPPROTO_UDP);
	ipcsum = wcur_reserve(&w, 2);
	wcur_be32(&w, f->sip);
	wcur_be32(&w, f->dip);
	/* UDP */
	udpstart = w.off;
	wcur_be16(&w, forge_from_client(f) ? 68 : 67);
	wcur_be16(&w, forge_from_client(f) ? 67 : 68);
	udplen = wcur_reserve(&w, 2);
	udpcsum = wcur_reserve(&w, 2);
	/* BOOTP */
	wcur_u8(&w, forge_from_client(f) ? 1 : 2);
	wcur_u8(&w, 1);
	wcur_u8(&w, 6);
	wcur_u8(&w, 0);
	wcur_be32(&w, f->xid);
	wcur_be16(&w, 0);
	wcur_be16(&w, 0);
	wcur_be32(&w, 0);
	wcur_be32(&w, f->yi);
	wcur_be32(&w, 0);
	wcur_be32(&w, 0);
	wcur_bytes(&w, f->chaddr, 6);
	wcur_zero(&w, 10 + 64 + 128);
	wcur_be32(&w, DHCP_COOKIE);
	wcur_u8(&w, DHCP_OPT_MSG_TYPE);
	wcur_u8(&w, 1);
	wcur_u8(&w, f->type);
	if (f->sid) {
		put_addr_opt(&w, DHCP_OPT_SERVER_ID, f->sid);
	}
	if (f->want) {
		put_addr_opt(&w, DHCP_OPT_REQUESTED_IP, f->want);
	}
	if (f->has_serial) {
		/* Reference §2.2: "RPi4", revision, MAC low 4 bytes, serial. */
		wcur_u8(&w, DHCP_OPT_UUID);
		wcur_u8(&w, 17);
		wcur_u8(&w, 0);
		wcur_bytes(&w, "RPi4", 4);
		wcur_le32(&w, 0x00c03111);
		wcur_bytes(&w, f->chaddr + 2, 4);
		wcur_le32(&w, f->serial);
	}
	if (f->vclass) {
		wcur_u8(&w, DHCP_OPT_VENDOR_CLASS);
		wcur_u8(&w, (uint8_t)strlen(f->vclass));
		wcur_bytes(&w, f->vclass, strlen(f->vclass));
	}
	wcur_u8(&w, DHCP_OPT_END);
	/* Pad the BOOTP message to 300 bytes (RFC 951). */
	if (w.off - udpstart - 8 < 300) {
		wcur_zero(&w, 300 - (w.off - udpstart - 8));
	}
	if (w.err) {
		return 0;
	}
	iplen[0] = (uint8_t)((w.off - ipstart) >> 8);
	iplen[1] = (uint8_t)(w.off - ipstart);
	udplen[0] = (uint8_t)((w.off - udpstart) >> 8);
	udplen[1] = (uint8_t)(w.off - udpstart);
	ipcsum[0] = ipcsum[1] = 0;
	c = csum_fold(csum_add(0, frame + ipstart, 20));
	ipcsum[0] = (uint8_t)(c >> 8);
	ipcsum[1] = (uint8_t)c;
	udpcsum[0] = udpcsum[1] = 0;
	sum = csum_add(0, frame + ipstart + 12, 8);
	sum += IPPROTO_UDP + (uint32_t)(w.off - udpstart);
	sum = csum_add(sum, frame + udpstart, w.off - udpstart);
	c = csum_fold(sum);
	c = c ? c : 0xffff;
	udpcsum[0] = (uint8_t)(c >> 8);
	udpcsum[1] = (uint8_t)c;
	return w.off;
}

/* Append the IPv4 packet of @frame (@len bytes) to @path, length first. */
static int
forge_write(const char *path, const uint8_t *frame, size_t len)
{
	FILE *f = fopen(path, "ab");
	size_t n = len - 14;
	uint8_t l[2] = {(uint8_t)(n >> 8), (uint8_t)n};
	int ok =
	    f && fwrite(l, 1, 2, f) == 2 && fwrite(frame + 14, 1, n, f) == n;

	if (f && fclose(f) != 0) {
		ok = 0;
	}
	if (!ok) {
		fprintf(stderr, "dhcp_forge: %s: %s\n", path, strerror(errno));
	}
	return ok ? 0 : -1;
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		uint8_t type;
	} types[] = {{"discover", DHCPDISCOVER}, {"request", DHCPREQUEST},
	    {"offer", DHCPOFFER}, {"ack", DHCPACK}, {"nak", DHCPNAK}};
	struct forge f = {.xid = 1, .dip = 0xffffffff};
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_halen = 6};
	const char *ifname = NULL, *outfile = NULL;
	bool has_chaddr = false, has_esrc = false;
	uint8_t frame[1514];
	struct ifreq ifr;
	long count = 1, k;
	size_t i, len;
	int ch, fd = -1;

	memset(f.edst, 0xff, 6);
	while (
	    (ch = getopt(argc, argv, "i:t:c:x:r:s:y:V:e:S:D:E:M:n:o:")) != -1) {
		switch (ch) {
		case 'i':
			ifname = optarg;
			break;
		case 't':
			for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
				if (!strcmp(optarg, types[i].name)) {
					f.type = types[i].type;
				}
			}
			break;
		case 'c':
			has_chaddr = parse_mac(optarg, f.chaddr) == 0;
			break;
		case 'x':
			f.xid = (uint32_t)strtoul(optarg, NULL, 16);
			break;
		case 'r':
			f.want = parse_ip(optarg);
			break;
		case 's':
			f.sid = parse_ip(optarg);
			break;
		case 'y':
			f.yi = parse_ip(optarg);
			break;
		case 'V':
			f.vclass = optarg;
			break;
		case 'e':
			f.serial = (uint32_t)strtoul(optarg, NULL, 16);
			f.has_serial = true;
			break;
		case 'S':
			f.sip = parse_ip(optarg);
			break;
		case 'D':
			f.dip = parse_ip(optarg);
			break;
		case 'E':
			if (parse_mac(optarg, f.edst) < 0) {
				usage();
			}
			break;
		case 'M':
			if (parse_mac(optarg, f.esrc) < 0) {
				usage();
			}
			has_esrc = true;
			break;
		case 'n':
			count = atol(optarg);
			break;
		case 'o':
			outfile = optarg;
			break;
		default:
			usage();
		}
	}
	if ((!ifname && !outfile) || !f.type || !has_chaddr ||
	    (f.vclass && strlen(f.vclass) > 255) || count < 1 ||
	    count > 65536) {
		usage();
	}
	if (outfile) {
		/* Not sent: the Ethernet header is cut off anyway. */
		memset(f.esrc, 0, 6);
		has_esrc = true;
	} else {
		fd =
		    socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_IP));
		if (fd < 0) {
			fprintf(stderr, "dhcp_forge: packet socket: %s\n",
			    strerror(errno));
			return 1;
		}
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
		if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
			fprintf(stderr, "dhcp_forge: %s: %s\n", ifname,
			    strerror(errno));
			return 1;
		}
		if (!has_esrc && !forge_from_client(&f)) {
			memcpy(f.esrc, ifr.ifr_hwaddr.sa_data, 6);
			has_esrc = true;
		}
	}
	sll.sll_ifindex = ifname ? (int)if_nametoindex(ifname) : 0;
	sll.sll_protocol = htons(ETH_P_IP);
	memcpy(sll.sll_addr, f.edst, 6);
	for (k = 0; k < count; k++) {
		if (k) {
			unsigned low =
			    (unsigned)(f.chaddr[4] << 8 | f.chaddr[5]) + 1;

			f.chaddr[4] = (uint8_t)(low >> 8);
			f.chaddr[5] = (uint8_t)low;
		}
		if (!has_esrc) {
			memcpy(f.esrc, f.chaddr, 6);
		}
		len = forge_frame(&f, frame, sizeof(frame));
		if (!len) {
			fprintf(stderr, "dhcp_forge: frame too large\n");
			return 1;
		}
		if (outfile) {
			if (forge_write(outfile, frame, len) < 0) {
				return 1;
			}
			continue;
		}
		if (k) {
			usleep(100);
		}
		if (sendto(fd, frame, len, 0, (struct sockaddr *)&sll,
			sizeof(sll)) < 0) {
			fprintf(
			    stderr, "dhcp_forge: send: %s\n", strerror(errno));
			return 1;
		}
	}
	if (fd >= 0) {
		close(fd);
	}
	return 0;
}
