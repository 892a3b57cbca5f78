#ifndef PNB_SERVER_TFTP_TFTP_H
#define PNB_SERVER_TFTP_TFTP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct serve;
struct tftp_service;
struct lstack;

/*
 * The TFTP service: read-only, on the event loop.  Requests arrive on
 * cfg->tftp_port; every transfer answers from its own socket bound to the
 * address the request arrived on with a fresh port (its TID, RFC 1350
 * §4).  Files resolve beneath the TFTP root only (openat2 with
 * RESOLVE_BENEATH); see docs/tftp.md.
 */

/*
 * tftp_service_open() - open the TFTP root and the request socket and
 * register with @s->loop.
 * @s: borrowed for the life of the service (its cfg is read per request,
 * so a reload takes effect for new transfers).
 * Return: the service (owned; close with tftp_service_close()), or NULL
 * with @msg saying what failed and what to change.
 */
struct tftp_service *tftp_service_open(
    struct serve *s, char *msg, size_t msglen);

/* tftp_service_close() - end every transfer, close sockets; NULL is ok. */
void tftp_service_close(struct tftp_service *t);

/*
 * Where a prefix's files come from: a directory, or a layered client's
 * merged boot tree (the client's own files over its image version's).
 */
struct tftp_tree {
	int fd;            /* a directory (O_PATH is enough), or -1 */
	struct lstack *st; /* or a merged tree (server/lstack.h), or NULL */
};

/*
 * Maps a per-client prefix (8 hex digits or a dashed MAC, see
 * tftp_prefix_len()) to the tree its files come from.  It only names a
 * tree: who sent the request tells it nothing, because a TFTP request
 * proves nothing about its sender.
 * @prefix: borrowed, NUL-terminated.
 * @out: on success, an owned directory fd (the caller closes it) or an
 * lstack reference (the caller drops it).
 * Return: 0, or -ENOENT when the map has no tree for @prefix (ROOT/PREFIX
 * is used then, if it exists; otherwise the request gets "file not
 * found", which makes the Pi firmware drop the prefix), or another
 * negative errno.
 */
typedef int (*tftp_prefix_fn)(
    void *arg, const char *prefix, struct tftp_tree *out);

/*
 * tftp_service_set_prefix_map() - consult @fn (NULL: none) before
 * ROOT/PREFIX.  @arg is borrowed.
 */
void tftp_service_set_prefix_map(
    struct tftp_service *t, tftp_prefix_fn fn, void *arg);

/*
 * Told of every read request, with its source address, before it is
 * answered: DHCP learns that a Pi 2/3 ROM uses the address it was offered
 * (its OFFER was the whole DHCP exchange).
 */
typedef void (*tftp_request_fn)(void *arg, struct in_addr client);

/* tftp_service_set_request_hook() - set it; @arg is borrowed. */
void tftp_service_set_request_hook(
    struct tftp_service *t, tftp_request_fn fn, void *arg);

/* One finished (or refused) transfer, for the status view. */
struct tftp_record {
	int64_t start_wall;  /* seconds since the epoch */
	struct in_addr addr; /* client */
	uint16_t port;
	char file[128]; /* as requested, escaped, maybe cut */
	uint16_t blksize, windowsize;
	bool tsize, netascii;
	uint64_t size, bytes;
	uint32_t ms;
	uint32_t retransmits;
	const char *outcome; /* static: "done", "early-terminate", ... */
	uint16_t code;       /* TFTP error code sent or received */
};

#define TFTP_RECORDS_MAX 256

/*
 * tftp_service_records() - copy up to @max of the most recent records,
 * newest first, into @out (caller-owned).
 * Return: how many were copied.
 */
size_t tftp_service_records(
    const struct tftp_service *t, struct tftp_record *out, size_t max);

/* tftp_service_port() - the UDP port requests are received on. */
uint16_t tftp_service_port(const struct tftp_service *t);

/* tftp_service_active() - how many transfers are running. */
size_t tftp_service_active(const struct tftp_service *t);

#endif
