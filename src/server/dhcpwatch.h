#ifndef PNB_SERVER_DHCPWATCH_H
#define PNB_SERVER_DHCPWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"

/*
 * Proxy mode: which address did a Pi take from the site's DHCP server?
 *
 * pinetboot hands out no address in proxy mode, so it can only watch.
 * It does so only for a boot it is serving: when it answers a Pi's
 * firmware DISCOVER it opens a window for that MAC
 * (dhcpwatch_open_window()), long enough to cover the kernel's own DHCP
 * after the firmware.  Inside the window a REQUEST from that MAC
 * (option 50, or ciaddr; its xid; option 54) is remembered, and only an
 * ACK with the same xid, chaddr and yiaddr (and option 54 when the
 * REQUEST named a server) binds the address.  A NAK ends the request;
 * a REQUEST whose ACK is never seen is reported, because the export
 * then does not follow.
 *
 * What the watch can see: REQUESTs are broadcast, but a DHCP server
 * answers a client that leaves the broadcast flag clear (every Pi, and
 * the kernel's ip=dhcp) with an Ethernet unicast to the client, which a
 * switch shows to no third host.  So the ACK is seen only when the
 * server broadcasts its replies, or runs on this host.
 *
 * Frames come from a packet socket on the server's interface, filtered
 * in the kernel to UDP 68 -> 67 and 67 -> 68, in the order they crossed
 * the interface.  dhcpwatch_feed() takes one IPv4 packet and the time,
 * so unit tests and the fuzzer drive it without a socket.
 */

/* How long after a REQUEST its ACK may come. */
#define DHCPWATCH_ACK_MS 10000

struct dhcpwatch_ops {
	/* @mac asked for @addr and @server (option 54, or 0) ACKed it. */
	void (*bound)(
	    void *arg, const uint8_t mac[6], uint32_t addr, uint32_t server);
	/* @mac asked for @addr; no ACK for it was seen in time. */
	void (*unseen)(
	    void *arg, const uint8_t mac[6], uint32_t addr, uint32_t server);
	/* @mac asked for @addr and @server NAKed it. */
	void (*naked)(
	    void *arg, const uint8_t mac[6], uint32_t addr, uint32_t server);
};

struct dhcpwatch_stats {
	uint64_t frames, malformed, requests, bound, unseen, naked, foreign;
};

struct dhcpwatch;

/*
 * dhcpwatch_new() - a watch for at most @max boots at once (a new window
 * replaces the one that ends first).  @ops and @arg are borrowed.
 * Return: owned (free with dhcpwatch_free()), or NULL on ENOMEM.
 */
struct dhcpwatch *dhcpwatch_new(
    size_t max, const struct dhcpwatch_ops *ops, void *arg);

/* dhcpwatch_free() - close the socket if open and free; NULL is ok. */
void dhcpwatch_free(struct dhcpwatch *w);

/*
 * dhcpwatch_open_window() - pinetboot answered a boot of @mac: watch its
 * REQUESTs until @until_ms (monotonic, as passed to dhcpwatch_feed()).
 */
void dhcpwatch_open_window(
    struct dhcpwatch *w, const uint8_t mac[6], uint64_t until_ms);

/*
 * dhcpwatch_feed() - one IPv4 packet seen on the interface at @now_ms.
 * @pkt: borrowed for the call.
 * Return: 0, or the dhcp_frame_parse()/dhcp_parse() error for a packet
 * that is not a well-formed DHCP message (counted, otherwise ignored).
 */
int dhcpwatch_feed(
    struct dhcpwatch *w, const uint8_t *pkt, size_t len, uint64_t now_ms);

/*
 * dhcpwatch_tick() - report REQUESTs older than DHCPWATCH_ACK_MS as
 * unseen.  Return: when to call again (0: nothing is pending).
 */
uint64_t dhcpwatch_tick(struct dhcpwatch *w, uint64_t now_ms);

/*
 * dhcpwatch_open() - read frames from a packet socket on interface
 * @ifindex, on loop @l (borrowed), with a timer for dhcpwatch_tick().
 * Return: 0, or a negative errno with @msg saying what failed (a packet
 * socket needs CAP_NET_RAW).
 */
int dhcpwatch_open(struct dhcpwatch *w, struct loop *l, unsigned ifindex,
    char *msg, size_t msglen);

const struct dhcpwatch_stats *dhcpwatch_stats(const struct dhcpwatch *w);

#endif
