#include <errno.h>
#include <string.h>

#include "core/cur.h"
#include "proto/dhcp/frame.h"

#define FRAME_IP_MIN  20
#define FRAME_UDP_LEN 8
#define FRAME_PROTO   17 /* UDP */

/* RFC 1071: the header's one's complement sum, checksum included, is 0. */
static bool
frame_ip_sum_ok(const uint8_t *h, size_t n)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < n; i += 2) {
		sum += (uint32_t)h[i] << 8 | h[i + 1];
	}
	while (sum >> 16) {
		sum = (sum & 0xffff) + (sum >> 16);
	}
	return sum == 0xffff;
}

int
dhcp_frame_parse(const uint8_t *buf, size_t len, struct dhcp_frame *out)
{
	struct cur c = cur_init(buf, len), udp;
	size_t ihl, total, ulen;
	uint16_t frag;
	uint8_t vihl, proto;

	memset(out, 0, sizeof(*out));
	vihl = cur_u8(&c);
	cur_skip(&c, 1);
	total = cur_be16(&c);
	cur_skip(&c, 2);
	frag = cur_be16(&c);
	cur_skip(&c, 1);
	proto = cur_u8(&c);
	cur_skip(&c, 2);
	out->src = cur_be32(&c);
	out->dst = cur_be32(&c);
	if (c.err || vihl >> 4 != 4) {
		return -EBADMSG;
	}
	ihl = (size_t)(vihl & 15) * 4;
	if (ihl < FRAME_IP_MIN || total < ihl || total > len ||
	    !frame_ip_sum_ok(buf, ihl)) {
		return -EBADMSG;
	}
	/* More-fragments set, or an offset: part of a larger datagram. */
	if (proto != FRAME_PROTO || (frag & 0x3fff) != 0) {
		return -EOPNOTSUPP;
	}
	c = cur_init(buf, total);
	cur_skip(&c, ihl);
	out->sport = cur_be16(&c);
	out->dport = cur_be16(&c);
	ulen = cur_be16(&c);
	cur_skip(&c, 2);
	if (c.err || ulen < FRAME_UDP_LEN || ulen > total - ihl) {
		return -EBADMSG;
	}
	udp = cur_sub(&c, ulen - FRAME_UDP_LEN);
	out->payload = cur_peek(&udp);
	out->payload_len = cur_left(&udp);
	return out->payload ? 0 : -EBADMSG;
}
