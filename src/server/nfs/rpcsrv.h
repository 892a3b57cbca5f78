#ifndef PNB_SERVER_NFS_RPCSRV_H
#define PNB_SERVER_NFS_RPCSRV_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"
#include "core/loop.h"
#include "proto/rpc/rpc.h"

/*
 * ONC RPC transport on the event loop: one TCP listener and one UDP
 * socket on the same port.  TCP records are reassembled by rpc_rm and
 * handed up one call at a time; many calls may be in flight on one
 * connection and replies may go out in any order.  Each reply is sent
 * with its record marker in one write (klibc reads a reply with one
 * read(), quirk 24).
 *
 * Limits, so that no peer can hold what others need:
 * - at most max_conns connections, max_conns_per_peer from one address;
 *   when all are taken a new connection replaces the one whose record has
 *   been arriving longest, else the longest idle one with nothing in
 *   flight, else it is refused;
 * - a record over max_record closes the connection; memory for a record
 *   grows with the bytes that arrive, and a record not complete within
 *   record_ms of its first byte closes the connection (a peer trickling a
 *   byte a minute holds nothing for long);
 * - a connection with max_inflight calls in progress or more than
 *   max_queued reply bytes unsent is not read until it drains; one whose
 *   replies make no progress for stall_ms does not read them and is
 *   closed;
 * - the memory held for calls and replies (partial records, calls in
 *   progress, queued replies) is counted per connection and in all; over
 *   max_mem, connections holding more than a small floor, and the UDP
 *   socket, are not read until it is back under 7/8 of it, and
 *   connections whose replies have made no progress for a second are
 *   closed at once;
 * - at most max_udp_inflight UDP calls are in progress; beyond that the
 *   UDP socket is not read (its kernel buffer drops the excess, and UDP
 *   clients retransmit);
 * - one with nothing in flight and no complete call or reply for idle_ms
 *   is closed (as knfsd does after six minutes; Linux clients reconnect
 *   transparently), so half-open connections do not pin descriptors.
 */

struct rpcsrv;
struct rpcsrv_conn;

/*
 * One call.  The handler owns it and must finish it with
 * rpcsrv_reply() or rpcsrv_drop(), now or later (from the loop thread).
 */
struct rpcsrv_req {
	struct rpcsrv *srv;       /* borrowed */
	struct rpcsrv_conn *conn; /* counted reference; NULL for UDP */
	struct sockaddr_in peer;
	bool tcp;
	uint8_t *rec; /* owned: the call record */
	size_t len;
	size_t charge; /* memory counted for the call while it is in progress */
	struct rpc_call call; /* borrows from rec */
	uint64_t start_us;
	/*
	 * Calls in progress on its connection when it arrived, itself
	 * included (1 over UDP): more than one means the client keeps
	 * several in flight.
	 */
	uint32_t conn_calls;
	struct rpcsrv_req *next; /* free for the handler's queues */
	void *priv;              /* the handler's */
	uint8_t *reply;          /* owned once set; headroom 4 */
	size_t reply_len;        /* including the 4 bytes of headroom */
	/*
	 * TCP only: after the reply bytes, send file_len bytes of file_fd
	 * (owned once set; -1 for none) from file_off with sendfile, then
	 * file_pad zero bytes, all in the same record.
	 */
	int file_fd;
	uint64_t file_off;
	size_t file_len, file_pad;
	int status;      /* the handler's result code, for stats */
	uint64_t end_us; /* the handler's: when its reply went out, for stats */
	/*
	 * What rpcsrv_reply_send() got out: bytes of the reply, of the
	 * file part and of the padding, and whether that was all of it.
	 */
	size_t sent_off, sent_file, sent_pad;
	bool sent_all;
};

/*
 * Called on the loop thread for every call that parsed as an RPC call.
 * @arg is the handler argument given at open.
 */
typedef void (*rpcsrv_call_fn)(void *arg, struct rpcsrv_req *req);

struct rpcsrv_limits {
	size_t max_record;
	uint32_t max_conns;
	uint32_t max_conns_per_peer;
	uint32_t max_inflight;
	size_t max_queued;
	uint32_t idle_ms;   /* close connections idle this long; 0 = never */
	uint32_t record_ms; /* a record must be complete this long after it
			       began; 0 = no deadline */
	uint32_t stall_ms;  /* replies unsent this long; 0 = no limit */
	size_t max_mem;     /* 0 = no limit */
	uint32_t max_udp_inflight;
};

/*
 * rpcsrv_open() - listen on TCP and UDP @port (0: any free port, the same
 * for both) of address @addr (the server's own, not every address of the
 * machine).
 * @svc: "portmap", "mount", "nfs" for logs (static string).
 * Return: the server (free with rpcsrv_close()) or NULL with *@err set to
 * -errno (-EADDRINUSE when the port is taken).
 */
struct rpcsrv *rpcsrv_open(struct loop *l, const char *svc, struct in_addr addr,
    uint16_t port, const struct rpcsrv_limits *lim, rpcsrv_call_fn fn,
    void *arg, int *err);
void rpcsrv_close(struct rpcsrv *s);

/* rpcsrv_port() - the port it listens on. */
uint16_t rpcsrv_port(const struct rpcsrv *s);

/*
 * rpcsrv_reply() - send @req->reply (reply_len bytes, the first 4 free for
 * the TCP marker) and free the request.  If the connection is gone the
 * reply is dropped silently.
 */
void rpcsrv_reply(struct rpcsrv_req *req);

/*
 * rpcsrv_reply_send() - send the reply of @req now, from any thread, so
 * that it does not wait for the loop thread to wake up: over UDP the
 * datagram, over TCP as much of the record as the socket takes, if
 * nothing else is queued on the connection.  The request stays the
 * caller's: finish it with rpcsrv_reply() on the loop thread as usual,
 * which sends only what is left (the rest of a record the socket did not
 * take goes out before any other reply) and does the bookkeeping.
 * Return: true when the whole reply went out.
 */
bool rpcsrv_reply_send(struct rpcsrv_req *req);

/*
 * rpcsrv_reply_buf() - allocate the reply buffer of @req for at most
 * @cap bytes of reply and return a writer positioned after the headroom.
 * Return: 0 or -ENOMEM.
 */
int rpcsrv_reply_buf(struct rpcsrv_req *req, size_t cap, struct wcur *w);

/* rpcsrv_reply_done() - record the length written through @w. */
void rpcsrv_reply_done(struct rpcsrv_req *req, const struct wcur *w);

/* rpcsrv_drop() - free @req without answering. */
void rpcsrv_drop(struct rpcsrv_req *req);

/* rpcsrv_peer_str() - "a.b.c.d:port" of @req's peer into @dst. */
void rpcsrv_peer_str(const struct rpcsrv_req *req, char *dst, size_t cap);

/* Counters for metrics and tests. */
struct rpcsrv_stats {
	uint64_t calls, bad_calls, conns, conns_refused, records_too_big;
	uint64_t conns_evicted; /* replaced by a new one when all were taken */
	uint64_t records_too_slow, peers_not_reading, udp_paused;
};

/* rpcsrv_mem() - memory now held for calls and replies, in bytes. */
size_t rpcsrv_mem(const struct rpcsrv *s);
const struct rpcsrv_stats *rpcsrv_stats(const struct rpcsrv *s);

#endif
