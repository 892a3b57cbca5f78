#ifndef PNB_PROTO_DHCP_FRAME_H
#define PNB_PROTO_DHCP_FRAME_H

#include <stddef.h>
#include <stdint.h>

/*
 * The IPv4 and UDP headers around a DHCP message, as a packet socket
 * hands them over (RFC 791 §3.1, RFC 768): what a listener on the wire
 * needs to tell a client's message (68 -> 67) from a server's
 * (67 -> 68) and to find the BOOTP payload for dhcp_parse().
 */
struct dhcp_frame {
	uint32_t src, dst; /* IPv4 addresses, host order */
	uint16_t sport, dport;
	const uint8_t *payload; /* borrowed from the packet */
	size_t payload_len;
};

/*
 * dhcp_frame_parse() - decode the IPv4 and UDP headers of @buf.
 * @buf, @len: one IPv4 packet (borrowed for as long as @out is used);
 * bytes past the IP total length (Ethernet padding) are ignored.
 * @out: filled in; payload borrows from @buf.
 *
 * Return: 0, or
 *   -EBADMSG    not IPv4, a header length under 20 bytes, a header
 *               checksum that does not add up, or a total or UDP length
 *               that does not fit the packet;
 *   -EOPNOTSUPP not UDP, or a fragment (Linux's own DHCP client drops
 *               fragmented replies too, and no DHCP message needs one).
 */
int dhcp_frame_parse(const uint8_t *buf, size_t len, struct dhcp_frame *out);

#endif
