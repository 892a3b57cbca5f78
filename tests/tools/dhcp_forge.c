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
	    "       [-S IP] [-D IP] [-E MAC] [-M MAC] [-o FILE]\n");
	exit(2);
}

static void
put_addr_opt(struct wcur *w, uint8_t code, uint32_t addr)
{
	wcur_u8(w, code);
	wcur_u8(w, 4);
	wcur_be32(w, addr);
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		uint8_t type;
	} types[] = {{"discover", DHCPDISCOVER}, {"request", DHCPREQUEST},
	    {"offer", DHCPOFFER}, {"ack", DHCPACK}, {"nak", DHCPNAK}};
	uint8_t frame[1514], chaddr[6] = {0}, edst[6], esrc[6];
	const char *ifname = NULL, *vclass = NULL, *outfile = NULL;
	uint32_t xid = 1, want = 0, sid = 0, yi = 0, sip = 0;
	uint32_t dip = 0xffffffff, serial = 0, sum;
	bool has_chaddr = false, has_esrc = false, has_serial = false;
	uint8_t type = 0, *ipcsum, *udpcsum, *udplen, *iplen;
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_halen = 6};
	struct wcur w = wcur_init(frame, sizeof(frame));
	struct ifreq ifr;
	size_t i, ipstart, udpstart;
	uint16_t c;
	int ch, fd = -1;

	memset(edst, 0xff, 6);
	while (
	    (ch = getopt(argc, argv, "i:t:c:x:r:s:y:V:e:S:D:E:M:o:")) != -1) {
		switch (ch) {
		case 'i':
			ifname = optarg;
			break;
		case 't':
			for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
				if (!strcmp(optarg, types[i].name)) {
					type = types[i].type;
				}
			}
			break;
		case 'c':
			has_chaddr = parse_mac(optarg, chaddr) == 0;
			break;
		case 'x':
			xid = (uint32_t)strtoul(optarg, NULL, 16);
			break;
		case 'r':
			want = parse_ip(optarg);
			break;
		case 's':
			sid = parse_ip(optarg);
			break;
		case 'y':
			yi = parse_ip(optarg);
			break;
		case 'V':
			vclass = optarg;
			break;
		case 'e':
			serial = (uint32_t)strtoul(optarg, NULL, 16);
			has_serial = true;
			break;
		case 'S':
			sip = parse_ip(optarg);
			break;
		case 'D':
			dip = parse_ip(optarg);
			break;
		case 'E':
			if (parse_mac(optarg, edst) < 0) {
				usage();
			}
			break;
		case 'o':
			outfile = optarg;
			break;
		case 'M':
			if (parse_mac(optarg, esrc) < 0) {
				usage();
			}
			has_esrc = true;
			break;
		default:
			usage();
		}
	}
	if ((!ifname && !outfile) || !type || !has_chaddr ||
	    (vclass && strlen(vclass) > 255)) {
		usage();
	}
	if (outfile) {
		/* Not sent: the Ethernet header is cut off anyway. */
		memset(esrc, 0, 6);
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
	}
	if (!has_esrc) {
		bool client = type == DHCPDISCOVER || type == DHCPREQUEST;

		memcpy(esrc,
		    client ? chaddr : (uint8_t *)ifr.ifr_hwaddr.sa_data, 6);
	}
	/* Ethernet */
	wcur_bytes(&w, edst, 6);
	wcur_bytes(&w, esrc, 6);
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
	wcur_be32(&w, sip);
	wcur_be32(&w, dip);
	/* UDP */
	udpstart = w.off;
	if (type == DHCPDISCOVER || type == DHCPREQUEST) {
		wcur_be16(&w, 68);
		wcur_be16(&w, 67);
	} else {
		wcur_be16(&w, 67);
		wcur_be16(&w, 68);
	}
	udplen = wcur_reserve(&w, 2);
	udpcsum = wcur_reserve(&w, 2);
	/* BOOTP */
	wcur_u8(&w, type == DHCPDISCOVER || type == DHCPREQUEST ? 1 : 2);
	wcur_u8(&w, 1);
	wcur_u8(&w, 6);
	wcur_u8(&w, 0);
	wcur_be32(&w, xid);
	wcur_be16(&w, 0);
	wcur_be16(&w, 0);
	wcur_be32(&w, 0);
	wcur_be32(&w, yi);
	wcur_be32(&w, 0);
	wcur_be32(&w, 0);
	wcur_bytes(&w, chaddr, 6);
	wcur_zero(&w, 10 + 64 + 128);
	wcur_be32(&w, DHCP_COOKIE);
	wcur_u8(&w, DHCP_OPT_MSG_TYPE);
	wcur_u8(&w, 1);
	wcur_u8(&w, type);
	if (sid) {
		put_addr_opt(&w, DHCP_OPT_SERVER_ID, sid);
	}
	if (want) {
		put_addr_opt(&w, DHCP_OPT_REQUESTED_IP, want);
	}
	if (has_serial) {
		/* Reference §2.2: "RPi4", revision, MAC low 4 bytes, serial. */
		wcur_u8(&w, DHCP_OPT_UUID);
		wcur_u8(&w, 17);
		wcur_u8(&w, 0);
		wcur_bytes(&w, "RPi4", 4);
		wcur_le32(&w, 0x00c03111);
		wcur_bytes(&w, chaddr + 2, 4);
		wcur_le32(&w, serial);
	}
	if (vclass) {
		wcur_u8(&w, DHCP_OPT_VENDOR_CLASS);
		wcur_u8(&w, (uint8_t)strlen(vclass));
		wcur_bytes(&w, vclass, strlen(vclass));
	}
	wcur_u8(&w, DHCP_OPT_END);
	/* Pad the BOOTP message to 300 bytes (RFC 951). */
	if (w.off - udpstart - 8 < 300) {
		wcur_zero(&w, 300 - (w.off - udpstart - 8));
	}
	if (w.err) {
		fprintf(stderr, "dhcp_forge: frame too large\n");
		return 1;
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

	if (outfile) {
		FILE *f = fopen(outfile, "ab");
		size_t n = w.off - ipstart;
		uint8_t len[2] = {(uint8_t)(n >> 8), (uint8_t)n};

		if (!f || fwrite(len, 1, 2, f) != 2 ||
		    fwrite(frame + ipstart, 1, n, f) != n || fclose(f) != 0) {
			fprintf(stderr, "dhcp_forge: %s: %s\n", outfile,
			    strerror(errno));
			return 1;
		}
		return 0;
	}
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	sll.sll_protocol = htons(ETH_P_IP);
	memcpy(sll.sll_addr, edst, 6);
	if (sendto(fd, frame, w.off, 0, (struct sockaddr *)&sll, sizeof(sll)) <
	    0) {
		fprintf(stderr, "dhcp_forge: send: %s\n", strerror(errno));
		return 1;
	}
	close(fd);
	return 0;
}
