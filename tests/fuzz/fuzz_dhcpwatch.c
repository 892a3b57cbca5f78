/*
 * The proxy-mode DHCP watch (server/dhcpwatch.c) with its frame codec
 * (proto/dhcp/frame.c): a real watch with a boot window open for
 * dc:a6:32:01:36:c2 is fed the input as a sequence of IPv4 packets, each
 * preceded by its length (2 bytes, big-endian), 100 ms apart, then
 * ticked past every ACK deadline.  Seeds (tests/fuzz/mkseeds.sh) are a
 * REQUEST and its ACK, a REQUEST and a NAK, and a lone ACK.
 */
#include <stdint.h>
#include <string.h>

#include "server/dhcpwatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
noop(void *arg, const uint8_t mac[6], uint32_t addr, uint32_t server)
{
	(void)arg;
	(void)mac;
	(void)addr;
	(void)server;
}

static const struct dhcpwatch_ops ops = {noop, noop, noop};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t mac[6] = {0xdc, 0xa6, 0x32, 0x01, 0x36, 0xc2};
	struct dhcpwatch *w = dhcpwatch_new(4, &ops, NULL);
	uint64_t now = 1000;
	size_t off = 0;

	if (!w) {
		return 0;
	}
	dhcpwatch_open_window(w, mac, 600000);
	while (size - off >= 2) {
		size_t n = (size_t)data[off] << 8 | data[off + 1];

		off += 2;
		if (n > size - off) {
			n = size - off;
		}
		(void)dhcpwatch_feed(w, data + off, n, now);
		off += n;
		now += 100;
	}
	(void)dhcpwatch_tick(w, now + DHCPWATCH_ACK_MS);
	dhcpwatch_free(w);
	return 0;
}
