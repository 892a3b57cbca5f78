#ifndef PNB_PROTO_TFTP_XFER_H
#define PNB_PROTO_TFTP_XFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/tftp/pkt.h"

/*
 * One read transfer as a pure state machine, in the manner of nghttp2's
 * session: it is fed received packets and the current time
 * (tftp_xfer_recv(), tftp_xfer_tick()), and drained of packets to send
 * (tftp_xfer_send()); tftp_xfer_wake() says when it wants to be ticked.
 * It owns no socket and reads no clock.  File bytes come through the
 * read callback it is handed, so tests and fuzzers feed it memory.
 *
 * Blocks are counted with 64-bit absolute numbers internally; the 16-bit
 * wire number is the low half, which gives rollover from 65535 to 0
 * (the Pi bootloaders since 2025-09-23 and most PC clients expect 0, not
 * 1, after 65535).
 */

enum tftp_xfer_state {
	TFTP_XS_SENDING = 0, /* OACK or DATA outstanding */
	TFTP_XS_DONE,        /* last block acknowledged */
	TFTP_XS_PEER_ERROR,  /* the client sent ERROR (code in peer_code) */
	TFTP_XS_TIMEOUT,     /* retries exhausted */
	TFTP_XS_FAILED,      /* we sent ERROR (read failure) */
	TFTP_XS_UNANSWERED,  /* the peer never acknowledged anything */
};

/*
 * Retransmission timeout (RFC 6298 style, per transfer).  The floor suits
 * a LAN and lets a lost block go out again well inside the 1 s that
 * bootcode.bin waits for it (reference §9).  The cap keeps four sends
 * inside that second even when round-trip samples taken on a loaded
 * server have pushed the estimate up (at 400 ms only three fit: at 5 %
 * loss one block in 8,000 instead of one in 160,000 would be lost every
 * time and end the boot): a larger RTO would only suit paths no Pi boots
 * over, and a spurious resend in lock-step costs one packet.
 */
#define TFTP_RTO_MIN_MS 100
#define TFTP_RTO_MAX_MS 250
/*
 * A peer that never acknowledged the OACK or block 1 may be a forged
 * source address: resend to it only this often (issue 10, reflection).
 * Three resends on the initial timeout and the cap (200, 250, 250 ms)
 * put four sends of a request's first packet inside bootcode.bin's
 * second, as for every later block.
 */
#define TFTP_UNCONFIRMED_RETRIES 3
/*
 * ...but wait this long after the last of those resends before giving
 * up: it costs no packets, and a client that answers its first packet
 * late (a loaded host, a Pi whose RRQ comes again after 2 s, reference
 * §9) still gets its file.
 */
#define TFTP_UNCONFIRMED_WAIT_MS 3000

/* What the server allows; the machine never grants more. */
struct tftp_xfer_cfg {
	uint16_t blksize_max;    /* 8..65464: config and path MTU already */
	uint16_t windowsize_max; /* 1..65535 (config: up to 64) */
	uint32_t timeout_ms;     /* retransmit timeout until an RTT sample */
	uint32_t retries; /* retransmits of one packet before giving up */
};

/*
 * Reads up to @len bytes at @off into @dst.  Return: bytes read (fewer
 * than @len only at end of file) or a negative errno.
 */
typedef int64_t (*tftp_read_fn)(
    void *arg, uint8_t *dst, size_t len, uint64_t off);

struct tftp_xfer {
	enum tftp_xfer_state state;
	tftp_read_fn read;
	void *read_arg; /* borrowed */

	/* Negotiated. */
	bool netascii;
	bool oack; /* block 0 is an OACK */
	struct tftp_oack oack_vals;
	uint16_t blksize, windowsize;
	uint32_t timeout_ms, retries;
	uint64_t size; /* file size in bytes */

	/*
	 * acked: highest block the client acknowledged (0 at the start,
	 * standing for the OACK's ACK 0 or for "nothing yet").
	 * next: the next block tftp_xfer_send() will emit.
	 * last: the final block's number (UINT64_MAX while unknown, in
	 * netascii before the end of the file has been read).
	 */
	uint64_t acked, next, last;
	uint64_t deadline_ms;    /* UINT64_MAX: nothing outstanding */
	uint32_t cur_timeout_ms; /* rto_ms, backed off by timeouts */
	uint32_t tries;
	bool confirmed; /* the peer acknowledged something */

	/*
	 * Round-trip estimate (RFC 6298 §2) in ms, scaled as in Van
	 * Jacobson's code: srtt_x8 = 8 * SRTT, rttvar_x4 = 4 * RTTVAR.  One
	 * block at a time is timed, from its first transmission; a block
	 * that was sent again gives no sample (Karn's rule, §3).
	 */
	uint32_t srtt_x8, rttvar_x4, rto_ms;
	bool rtt_seeded, timing;
	uint64_t timed_blk, timed_at_ms;
	uint64_t hi; /* one past the highest block ever sent */

	/* netascii: where the block after @acked starts in the file */
	uint64_t na_off, na_next_off;
	uint8_t na_pend, na_next_pend; /* byte owed from a split CR pair */

	/* Counters for logs and records. */
	uint64_t bytes_sent; /* payload bytes of first transmissions */
	uint64_t retransmits;
	uint64_t dup_acks;
	uint16_t peer_code;
	bool err_pending;
	uint16_t err_code;
	const char *err_msg; /* static string */
};

/*
 * tftp_xfer_start() - negotiate an RRQ's options and set up the transfer.
 * @rrq: the parsed request (borrowed for this call only).
 * @cfg: limits (borrowed for this call only).
 * @size: the file's size.
 * @read, @read_arg: the byte source (@read_arg borrowed for the life of
 * the transfer).
 *
 * Options (RFC 2347): blksize (RFC 2348) below 8 or not a number is
 * ignored, above the limit it is lowered; tsize (RFC 2349) answers the
 * file size; timeout (RFC 2349) 1..255 s is honoured, other values are
 * ignored; windowsize (RFC 7440) is lowered to the limit, and not granted
 * in netascii mode; unknown options are ignored.  An OACK is sent only
 * when an option was granted (RFC 2347 §2); else DATA 1 comes first.
 *
 * Return: 0; -EOPNOTSUPP for a mode other than octet or netascii (answer
 * ERROR 0 / 4); -EINVAL for a bad @cfg.
 */
int tftp_xfer_start(struct tftp_xfer *x, const struct tftp_pkt *rrq,
    const struct tftp_xfer_cfg *cfg, uint64_t size, tftp_read_fn read,
    void *read_arg, uint64_t now_ms);

/*
 * tftp_xfer_recv() - feed one packet that arrived from the client's TID at
 * @now_ms; an ACK of a block timed since its first transmission updates
 * the round-trip estimate and the retransmission timeout.
 * ACKs for blocks never sent and duplicate ACKs are ignored (never answered
 * with a resend: RFC 1123 §4.2.3.1, Sorcerer's Apprentice).  An ACK below
 * the last block of a window moves the window there (RFC 7440 §4).  An
 * ERROR ends the transfer (code 0 "Early terminate" is how the Pi
 * firmware closes a tsize probe).  Anything else is ignored.
 * Return: 0 when the packet was used, -EBADMSG for an undecodable one,
 * -EPROTO for one that was decoded but ignored.
 */
int tftp_xfer_recv(
    struct tftp_xfer *x, const uint8_t *pkt, size_t len, uint64_t now_ms);

/*
 * tftp_xfer_tick() - time has passed: past the deadline the unacked window
 * is resent from its first block and the timeout backs off by half again,
 * up to TFTP_RTO_MAX_MS (a timeout the client asked for is used as is);
 * after cfg->retries resends the transfer times out, and a peer that never
 * acknowledged anything gets only TFTP_UNCONFIRMED_RETRIES resends before
 * the transfer ends UNANSWERED.
 */
void tftp_xfer_tick(struct tftp_xfer *x, uint64_t now_ms);

/*
 * tftp_xfer_request_again() - the client sent its request again before
 * acknowledging anything: the first packet (OACK or DATA 1) did not reach
 * it.  Make that packet due now, one packet for each request the client
 * sends, whether the resends of tftp_xfer_tick() are spent or not: a
 * repeated RRQ is the only thing a Pi resends (reference §9).
 * Return: true when a packet is due for tftp_xfer_send().
 */
bool tftp_xfer_request_again(struct tftp_xfer *x);

/*
 * tftp_xfer_send() - the next packet to send, written into @buf (@cap
 * bytes, at least blksize + 4 for DATA).
 * Return: its length; 0 when nothing is due (window full, or finished);
 * -EMSGSIZE when @cap is too small.  A read failure turns into an ERROR
 * packet and the FAILED state.
 */
int tftp_xfer_send(
    struct tftp_xfer *x, uint8_t *buf, size_t cap, uint64_t now_ms);

/* tftp_rto_cap() - the most the timeout backs off to: TFTP_RTO_MAX_MS, or
 * the configured timeout when that is larger. */
uint32_t tftp_rto_cap(const struct tftp_xfer *x);

/* tftp_xfer_wake() - when to call tftp_xfer_tick(); UINT64_MAX: never. */
uint64_t tftp_xfer_wake(const struct tftp_xfer *x);

/* tftp_xfer_is_over() - true once the state is not SENDING. */
bool tftp_xfer_is_over(const struct tftp_xfer *x);

/*
 * tftp_xfer_blocks() - how many DATA blocks an octet transfer of @size
 * bytes takes at @blksize (the last one may be empty).
 */
uint64_t tftp_xfer_blocks(uint64_t size, uint16_t blksize);

/* tftp_xfer_state_name() - "sending", "done", ... (static). */
const char *tftp_xfer_state_name(enum tftp_xfer_state s);

#endif
