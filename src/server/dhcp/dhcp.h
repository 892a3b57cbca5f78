#ifndef PNB_SERVER_DHCP_DHCP_H
#define PNB_SERVER_DHCP_DHCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>

#include "core/cfg.h"
#include "core/loop.h"
#include "proto/dhcp/dhcp.h"

/*
 * The DHCP service: `--dhcp proxy` answers only PXE clients with boot
 * information, `--dhcp server` also hands out addresses from a pool.  It
 * runs on the event loop; a request never blocks it (the BCM2837 reply
 * delay and the conflict probe are timers).
 */

struct dhcp_service;
struct serve;

/*
 * Where replies go (RFC 2131 §4.1), in the two link-layer forms dnsmasq
 * uses and every Pi model with a capture accepts (reference §9 item 4);
 * see dhcp_service_set_send().
 */
enum dhcp_dest_kind {
	/* Ethernet ff:ff:ff:ff:ff:ff, IP 255.255.255.255, port 68. */
	DHCP_DEST_BROADCAST,
	/*
	 * Ethernet unicast to @mac (chaddr), IP unicast to @ip (yiaddr),
	 * port 68: a client without an address that left the broadcast flag
	 * clear.  Sent from a packet socket, so no ARP is needed.
	 */
	DHCP_DEST_UNICAST,
	/* Plain UDP to an address that has an IP stack (ciaddr, giaddr). */
	DHCP_DEST_UDP,
	/*
	 * Not DHCP: an ARP packet (the payload, 28 bytes, RFC 826) in an
	 * Ethernet frame to @mac: a conflict probe (to ff:ff:ff:ff:ff:ff) or
	 * the frame that follows a BCM2837 reply (to the Pi).
	 */
	DHCP_DEST_ARP,
};

struct dhcp_dest {
	enum dhcp_dest_kind kind;
	uint8_t mac[6]; /* DHCP_DEST_UNICAST and DHCP_DEST_ARP */
	uint32_t ip;    /* host order, DHCP_DEST_UNICAST and DHCP_DEST_UDP */
	uint16_t port;
	int fd; /* socket the request came in on, for DHCP_DEST_UDP */
};

/*
 * Send hook: the service's own sender writes to the sockets; the fuzz
 * target and unit tests install a stub.  @payload is the BOOTP message,
 * or for DHCP_DEST_ARP the ARP packet.
 * Return: 0 or -errno.
 */
typedef int (*dhcp_send_fn)(struct dhcp_service *svc,
    const struct dhcp_dest *dst, const uint8_t *payload, size_t len, void *arg);

/* Where the server is on the network (host order addresses). */
struct dhcp_netinfo {
	char ifname[32];
	unsigned ifindex;
	uint32_t addr, netmask;
	uint8_t mac[6];
};

/*
 * One boot-capable client seen on the wire, for a status view: the list
 * of "discovered, not yet provisioned" Pis.  Bounded (DHCP_CLIENTS_MAX);
 * when full the client seen least recently is forgotten.
 */
struct dhcp_client {
	uint8_t mac[6];
	enum dhcp_pi_model model;
	bool has_serial;
	uint32_t serial;
	int arch;      /* option 93, -1 when absent */
	uint32_t addr; /* last address offered or acknowledged, 0 = none */
	int64_t first_seen, last_seen; /* wall-clock seconds */
	uint32_t requests;
};

#define DHCP_CLIENTS_MAX 4096

/*
 * A per-MAC reservation, fed by the client registry: a fixed address
 * (0 = none, keep the pool address), a hostname (option 12), the TFTP
 * directory prefix for this client and the Pi menu text (the EEPROM's
 * PXE_OPTION43 can change the string it matches).
 */
struct dhcp_reservation {
	uint8_t mac[6];
	uint32_t addr;
	char hostname[64];
	char tftp_prefix[64];
	char menu[64];
	bool menu_pad3; /* 3B ROM string-length bug variant */
};

/*
 * dhcp_service_open() - open the sockets (port cfg->dhcp_port, and
 * cfg->dhcp_proxy_port in proxy mode) and load the leases.
 * @cfgp: borrowed pointer to the live config pointer (swapped on reload).
 * @net: borrowed, copied.
 * @out: gets the service (owned; close with dhcp_service_close()).
 * @msg: on failure, one line saying what to change.
 * Return: 0 or negative (-EADDRINUSE port taken, -EINVAL range outside
 * the interface subnet, -errno).
 */
int dhcp_service_open(struct loop *l, struct cfg *const *cfgp,
    const struct dhcp_netinfo *net, struct dhcp_service **out, char *msg,
    size_t msglen);

/*
 * dhcp_service_new() - the same service without sockets: the fuzz target
 * and tests feed it with dhcp_service_handle_packet().  @lease_path:
 * borrowed, NULL keeps leases in memory.
 * Return: 0 or negative; *@out owned.
 */
int dhcp_service_new(struct loop *l, struct cfg *const *cfgp,
    const struct dhcp_netinfo *net, const char *lease_path,
    struct dhcp_service **out, char *msg, size_t msglen);

/* dhcp_service_close() - free everything; NULL does nothing. */
void dhcp_service_close(struct dhcp_service *svc);

/* dhcp_service_set_send() - replace the sender (tests, fuzzing). */
void dhcp_service_set_send(
    struct dhcp_service *svc, dhcp_send_fn fn, void *arg);

struct dhcp_lease_io;
/*
 * dhcp_service_set_lease_io() - replace the lease log's fsync calls
 * (tests that count or fail them).  @io is borrowed for the service's life.
 */
void dhcp_service_set_lease_io(
    struct dhcp_service *svc, const struct dhcp_lease_io *io);

/*
 * dhcp_service_handle_packet() - process one UDP payload that arrived on
 * local port @port from @src_ip:@src_port (host order), as the socket
 * handler does, then flush replies.  @buf is borrowed.
 */
void dhcp_service_handle_packet(struct dhcp_service *svc, const uint8_t *buf,
    size_t len, uint16_t port, uint32_t src_ip, uint16_t src_port);

/*
 * dhcp_service_release() - the move of @mac's client is over: answer the
 * request held for it (serve_note_dhcp_request() returned true), with
 * the delay and the probe it is owed from its arrival.  Nothing held:
 * nothing happens.
 */
void dhcp_service_release(struct dhcp_service *svc, const uint8_t mac[6]);

/*
 * dhcp_service_handle_arp() - an ARP packet (payload after the Ethernet
 * header): a reply from an address being probed marks it in use.
 */
void dhcp_service_handle_arp(
    struct dhcp_service *svc, const uint8_t *buf, size_t len);

/*
 * dhcp_service_reserve() - add or replace the reservation for r->mac.
 * Return: 0, -EINVAL for an address outside the server's subnet,
 * -ENOSPC when DHCP_RESERVE_MAX reservations exist, -EEXIST when the
 * address is reserved for another MAC.
 */
int dhcp_service_reserve(
    struct dhcp_service *svc, const struct dhcp_reservation *r);

/*
 * dhcp_service_clear_reservations() - drop every reservation; their
 * addresses stay bound to their MACs until the pool needs them.
 */
void dhcp_service_clear_reservations(struct dhcp_service *svc);

/*
 * dhcp_service_confirm() - a client is using @addr (host order): a request
 * came from it.  An on-offer binding of that address, made for a client
 * that never REQUESTs (Pi 2/3 ROM, bootcode.bin) and held only briefly
 * until now, becomes a full lease.  Anything else is left alone.
 */
void dhcp_service_confirm(struct dhcp_service *svc, uint32_t addr);

/*
 * dhcp_serve_confirm() - the TFTP service's request hook (@arg is the
 * struct serve): every TFTP request confirms its source address.
 */
void dhcp_serve_confirm(void *arg, struct in_addr client);

/* dhcp_service_find_reservation() - borrowed, or NULL. */
const struct dhcp_reservation *dhcp_service_find_reservation(
    const struct dhcp_service *svc, const uint8_t mac[6]);

/*
 * dhcp_service_clients() - the boot-capable clients seen so far.
 * Return: the count; *@out borrows the array (valid until the next
 * request is handled).
 */
size_t dhcp_service_clients(
    const struct dhcp_service *svc, const struct dhcp_client **out);

/* dhcp_service_find_client() - by MAC; borrowed, or NULL. */
const struct dhcp_client *dhcp_service_find_client(
    const struct dhcp_service *svc, const uint8_t mac[6]);

/*
 * dhcp_client_tftp_prefix() - the TFTP directory of a client: the
 * reservation's prefix if set, else the serial as 8 lowercase hex digits
 * (the Pi's default TFTP_PREFIX=0), else the MAC as aa-bb-cc-dd-ee-ff.
 * @buf: at least 64 bytes.  Return: @buf.
 */
char *dhcp_client_tftp_prefix(const struct dhcp_service *svc,
    const struct dhcp_client *c, char *buf, size_t len);

/* Counters for tests and a status view. */
struct dhcp_stats {
	uint64_t rx, dropped, malformed, offers, acks, naks, proxy_replies;
	uint64_t declines, releases, informs, delayed, probes, conflicts;
	uint64_t exhausted, followups, shed;
};
const struct dhcp_stats *dhcp_service_stats(const struct dhcp_service *svc);

/* For serve.c: open/close wired to struct serve. */
int dhcp_serve_open(struct serve *s);
void dhcp_serve_close(struct serve *s);

/*
 * dhcp_serve_reserve_registry() - replace the reservations with the
 * client registry's MACs (address, hostname, TFTP prefix = serial).
 * Clients the server cannot reserve are logged and skipped.
 */
void dhcp_serve_reserve_registry(struct serve *s);

#endif
