#include <errno.h>
#include <string.h>

#include "proto/tftp/xfer.h"

uint64_t
tftp_xfer_blocks(uint64_t size, uint16_t blksize)
{
	/* RFC 1350 §6: a DATA shorter than blksize ends the transfer, so a
	 * size that is a multiple of blksize ends with an empty block. */
	return size / blksize + 1;
}

static bool
tftp_mode_is(const struct tftp_pkt *p, const char *mode)
{
	return strlen(mode) == p->mode_len &&
	    strncasecmp(p->mode, mode, p->mode_len) == 0;
}

int
tftp_xfer_start(struct tftp_xfer *x, const struct tftp_pkt *rrq,
    const struct tftp_xfer_cfg *cfg, uint64_t size, tftp_read_fn read,
    void *read_arg, uint64_t now_ms)
{
	struct tftp_oack o = {0};
	bool netascii;
	size_t i;

	(void)now_ms;
	if (!cfg || !read || cfg->blksize_max < TFTP_BLKSIZE_MIN ||
	    cfg->blksize_max > TFTP_BLKSIZE_MAX || cfg->windowsize_max == 0 ||
	    cfg->timeout_ms == 0) {
		return -EINVAL;
	}
	if (tftp_mode_is(rrq, "octet")) {
		netascii = false;
	} else if (tftp_mode_is(rrq, "netascii")) {
		netascii = true;
	} else {
		/* "mail" (obsolete, RFC 1350 §1) or garbage. */
		return -EOPNOTSUPP;
	}
	*x = (struct tftp_xfer){
	    .state = TFTP_XS_SENDING,
	    .read = read,
	    .read_arg = read_arg,
	    .netascii = netascii,
	    .blksize = TFTP_BLKSIZE_DEFAULT,
	    .windowsize = 1,
	    .timeout_ms = cfg->timeout_ms,
	    .retries = cfg->retries,
	    .size = size,
	    .deadline_ms = UINT64_MAX,
	};
	for (i = 0; i < rrq->nopts; i++) {
		const struct tftp_opt *op = &rrq->opts[i];
		uint64_t v;

		/* The first of repeated options wins; values that are not
		 * numbers or out of range make us ignore the option, which
		 * RFC 2347 §2 allows and which leaves the client on the
		 * RFC 1350 defaults. */
		if (tftp_opt_is(op, "blksize") && !o.has_blksize) {
			if (tftp_opt_num(op, UINT64_MAX, &v) == 0 &&
			    v >= TFTP_BLKSIZE_MIN) {
				o.has_blksize = true;
				o.blksize = (uint16_t)(v < cfg->blksize_max
					? v
					: cfg->blksize_max);
			}
		} else if (tftp_opt_is(op, "tsize") && !o.has_tsize) {
			/* RFC 2349 §4: in a RRQ the value is 0 and the
			 * server answers the size; any number is taken. */
			if (tftp_opt_num(op, UINT64_MAX, &v) == 0) {
				o.has_tsize = true;
				o.tsize = size;
			}
		} else if (tftp_opt_is(op, "timeout") && !o.has_timeout) {
			if (tftp_opt_num(op, TFTP_TIMEOUT_MAX, &v) == 0 &&
			    v >= TFTP_TIMEOUT_MIN) {
				o.has_timeout = true;
				o.timeout_s = (uint8_t)v;
			}
		} else if (tftp_opt_is(op, "windowsize") && !o.has_windowsize &&
		    !netascii) {
			/* Netascii stays lock-step: a block's contents
			 * depend on the one before, so a window would have
			 * to remember every block's start. */
			if (tftp_opt_num(op, UINT64_MAX, &v) == 0 && v >= 1) {
				o.has_windowsize = true;
				o.windowsize =
				    (uint16_t)(v < cfg->windowsize_max
					    ? v
					    : cfg->windowsize_max);
			}
		}
	}
	if (o.has_blksize) {
		x->blksize = o.blksize;
	}
	if (o.has_windowsize) {
		x->windowsize = o.windowsize;
	}
	if (o.has_timeout) {
		x->timeout_ms = (uint32_t)o.timeout_s * 1000u;
	}
	x->rto_ms = x->timeout_ms;
	x->cur_timeout_ms = x->timeout_ms;
	x->oack =
	    o.has_blksize || o.has_tsize || o.has_timeout || o.has_windowsize;
	x->oack_vals = o;
	x->acked = x->oack ? 0 : 1; /* first unacknowledged block */
	x->next = x->acked;
	x->last = netascii ? UINT64_MAX : tftp_xfer_blocks(size, x->blksize);
	return 0;
}

bool
tftp_xfer_is_over(const struct tftp_xfer *x)
{
	return x->state != TFTP_XS_SENDING;
}

uint64_t
tftp_xfer_wake(const struct tftp_xfer *x)
{
	return x->state == TFTP_XS_SENDING ? x->deadline_ms : UINT64_MAX;
}

static void
tftp_xfer_end(struct tftp_xfer *x, enum tftp_xfer_state s)
{
	x->state = s;
	x->deadline_ms = UINT64_MAX;
}

uint32_t
tftp_rto_cap(const struct tftp_xfer *x)
{
	return x->timeout_ms > TFTP_RTO_MAX_MS ? x->timeout_ms
					       : TFTP_RTO_MAX_MS;
}

/*
 * RFC 6298 §2 with a round-trip sample @r (ms): the first sets SRTT = R
 * and RTTVAR = R/2, later ones move them by 1/8 and 1/4; RTO = SRTT +
 * max(G, 4 * RTTVAR) with G = 1 ms, kept between the floor and the cap.
 * A timeout the client asked for (RFC 2349) is not second-guessed.
 */
static void
tftp_rtt_sample(struct tftp_xfer *x, uint64_t r)
{
	uint32_t rto, cap = tftp_rto_cap(x);

	if (r > cap) {
		r = cap;
	}
	if (!x->rtt_seeded) {
		x->srtt_x8 = (uint32_t)r * 8;
		x->rttvar_x4 = (uint32_t)r * 2;
		x->rtt_seeded = true;
	} else {
		int64_t err = (int64_t)r - x->srtt_x8 / 8;
		int64_t mag = err < 0 ? -err : err;

		x->srtt_x8 = (uint32_t)((int64_t)x->srtt_x8 + err);
		x->rttvar_x4 =
		    (uint32_t)((int64_t)x->rttvar_x4 + mag - x->rttvar_x4 / 4);
	}
	rto = x->srtt_x8 / 8 + (x->rttvar_x4 > 1 ? x->rttvar_x4 : 1);
	x->rto_ms = rto < TFTP_RTO_MIN_MS ? TFTP_RTO_MIN_MS
	    : rto > cap                   ? cap
					  : rto;
	if (!x->oack_vals.has_timeout) {
		x->cur_timeout_ms = x->rto_ms;
	}
}

int
tftp_xfer_recv(
    struct tftp_xfer *x, const uint8_t *pkt, size_t len, uint64_t now_ms)
{
	struct tftp_pkt p;
	uint64_t blk;
	uint16_t delta;

	if (tftp_parse(pkt, len, &p) < 0) {
		return -EBADMSG;
	}
	if (x->state != TFTP_XS_SENDING) {
		return -EPROTO;
	}
	if (p.op == TFTP_ERROR) {
		x->peer_code = p.code;
		tftp_xfer_end(x, TFTP_XS_PEER_ERROR);
		return 0;
	}
	if (p.op != TFTP_ACK) {
		return -EPROTO;
	}
	/*
	 * x->acked is the first unacknowledged block; the ACK names a block
	 * at or after it in 16-bit arithmetic.  Only blocks already sent
	 * (below x->next) count.  Since at most windowsize (< 65536) blocks
	 * are outstanding, an old ACK (for acked - 1) shows up as delta
	 * 65535 and falls outside.
	 */
	delta = (uint16_t)(p.block - (uint16_t)x->acked);
	blk = x->acked + delta;
	if (blk >= x->next) {
		if (delta == 0xffff) {
			x->dup_acks++;
		}
		return -EPROTO;
	}
	if (x->netascii && blk >= 1) {
		x->bytes_sent += x->na_next_off - x->na_off;
		x->na_off = x->na_next_off;
		x->na_pend = x->na_next_pend;
	}
	x->acked = blk + 1;
	/* RFC 7440 §4: an ACK inside the window means the blocks after it
	 * were lost; carry on from there. */
	if (x->next > x->acked) {
		x->next = x->acked;
	}
	x->tries = 0;
	/*
	 * The wait after the last resend to an unconfirmed peer is no
	 * backoff: once the peer answers, the next block is resent on the
	 * capped timeout again, inside bootcode.bin's second.
	 */
	if (!x->confirmed && x->cur_timeout_ms > tftp_rto_cap(x)) {
		x->cur_timeout_ms = tftp_rto_cap(x);
	}
	x->confirmed = true;
	/* RFC 6298 §5: a backed-off timeout stays until a fresh sample. */
	if (x->timing && blk >= x->timed_blk) {
		x->timing = false;
		tftp_rtt_sample(
		    x, now_ms > x->timed_at_ms ? now_ms - x->timed_at_ms : 0);
	}
	if (!x->netascii && blk >= 1) {
		uint64_t upto = blk * x->blksize;

		x->bytes_sent = upto < x->size ? upto : x->size;
	}
	if (x->acked > x->last) {
		tftp_xfer_end(x, TFTP_XS_DONE);
	} else {
		x->deadline_ms = UINT64_MAX;
	}
	return 0;
}

void
tftp_xfer_tick(struct tftp_xfer *x, uint64_t now_ms)
{
	uint32_t limit = x->retries, cap = tftp_rto_cap(x), next;

	if (x->state != TFTP_XS_SENDING || now_ms < x->deadline_ms) {
		return;
	}
	if (!x->confirmed && limit > TFTP_UNCONFIRMED_RETRIES) {
		limit = TFTP_UNCONFIRMED_RETRIES;
	}
	if (x->tries >= limit) {
		tftp_xfer_end(
		    x, x->confirmed ? TFTP_XS_TIMEOUT : TFTP_XS_UNANSWERED);
		return;
	}
	x->tries++;
	x->retransmits++;
	x->next = x->acked;
	x->deadline_ms = UINT64_MAX;
	/* Karn: whatever was being timed has now gone twice. */
	x->timing = false;
	if (x->oack_vals.has_timeout) {
		return;
	}
	/*
	 * Back off by half again rather than RFC 6298's doubling: with a
	 * 100 ms floor that puts five transmissions of a block inside the
	 * 1 s bootcode.bin waits for it (reference §9), and a lock-step
	 * transfer has one block in flight, so resending it adds no load
	 * the transfer itself would not.  A window is resent whole, but
	 * only to clients that asked for one.
	 */
	next = x->cur_timeout_ms + x->cur_timeout_ms / 2 + 1;
	x->cur_timeout_ms = next < cap ? next : cap;
	if (!x->confirmed && x->tries == limit &&
	    x->cur_timeout_ms < TFTP_UNCONFIRMED_WAIT_MS) {
		x->cur_timeout_ms = TFTP_UNCONFIRMED_WAIT_MS;
	}
}

bool
tftp_xfer_request_again(struct tftp_xfer *x)
{
	/* Unconfirmed, the first unacknowledged packet is the first one. */
	if (x->state != TFTP_XS_SENDING || x->confirmed ||
	    x->next == x->acked) {
		return false;
	}
	x->next = x->acked;
	x->retransmits++;
	/* Karn: the first packet has now gone twice. */
	x->timing = false;
	return true;
}

/*
 * Netascii (RFC 764 via RFC 1350): LF goes out as CR LF and CR as CR NUL.
 * A pair split by a block boundary leaves its second byte owed in *pend:
 * TFTP_NA_OWE_LF or TFTP_NA_OWE_NUL, 0 when nothing is owed.
 */
enum {
	TFTP_NA_OWE_LF = 1,
	TFTP_NA_OWE_NUL = 2,
};

static int64_t
tftp_netascii_fill(
    struct tftp_xfer *x, uint8_t *dst, size_t cap, uint64_t *off, uint8_t *pend)
{
	uint8_t raw[512];
	size_t n = 0;

	if (*pend && cap > 0) {
		dst[n++] = *pend == TFTP_NA_OWE_LF ? '\n' : 0;
		*pend = 0;
	}
	while (n < cap) {
		size_t want = sizeof(raw), i;
		int64_t got;

		if (want > cap - n) {
			want = cap - n;
		}
		got = x->read(x->read_arg, raw, want, *off);
		if (got < 0) {
			return got;
		}
		if (got == 0) {
			break;
		}
		if ((size_t)got > want) {
			return -EIO;
		}
		for (i = 0; i < (size_t)got && n < cap; i++) {
			uint8_t c = raw[i];

			if (c != '\n' && c != '\r') {
				dst[n++] = c;
				continue;
			}
			dst[n++] = '\r';
			if (n < cap) {
				dst[n++] = c == '\n' ? '\n' : 0;
			} else {
				*pend = c == '\n' ? TFTP_NA_OWE_LF
						  : TFTP_NA_OWE_NUL;
			}
		}
		*off += i;
	}
	return (int64_t)n;
}

static int
tftp_xfer_fail(struct tftp_xfer *x, uint8_t *buf, size_t cap, uint16_t code,
    const char *msg)
{
	struct wcur w = wcur_init(buf, cap);

	tftp_xfer_end(x, TFTP_XS_FAILED);
	x->err_code = code;
	x->err_msg = msg;
	if (tftp_build_error(&w, code, msg) < 0) {
		return 0;
	}
	return (int)w.off;
}

int
tftp_xfer_send(struct tftp_xfer *x, uint8_t *buf, size_t cap, uint64_t now_ms)
{
	struct wcur w = wcur_init(buf, cap);
	uint64_t blk = x->next;
	int64_t n;

	if (x->state != TFTP_XS_SENDING) {
		return 0;
	}
	if (blk > x->last || blk >= x->acked + x->windowsize) {
		return 0;
	}
	if (x->acked == 0 && blk > 0) {
		/* The OACK stands alone: DATA 1 waits for ACK 0. */
		return 0;
	}
	if (blk == 0) {
		if (tftp_build_oack(&w, &x->oack_vals) < 0) {
			return -EMSGSIZE;
		}
		goto sent;
	}
	if (cap < (size_t)x->blksize + TFTP_HDR_LEN) {
		return -EMSGSIZE;
	}
	wcur_be16(&w, TFTP_DATA);
	wcur_be16(&w, (uint16_t)blk);
	if (x->netascii) {
		uint64_t off = x->na_off;
		uint8_t pend = x->na_pend;

		/* Window 1 in netascii: blk is always x->acked. */
		n = tftp_netascii_fill(
		    x, buf + TFTP_HDR_LEN, x->blksize, &off, &pend);
		if (n < 0) {
			return tftp_xfer_fail(x, buf, cap, TFTP_EUNDEF,
			    "read error on the server");
		}
		x->na_next_off = off;
		x->na_next_pend = pend;
		if ((size_t)n < x->blksize) {
			x->last = blk;
		}
	} else {
		uint64_t off = (blk - 1) * x->blksize;
		size_t want =
		    blk == x->last ? (size_t)(x->size - off) : x->blksize;

		n = want ? x->read(x->read_arg, buf + TFTP_HDR_LEN, want, off)
			 : 0;
		if (n < 0) {
			return tftp_xfer_fail(x, buf, cap, TFTP_EUNDEF,
			    "read error on the server");
		}
		if ((size_t)n != want) {
			return tftp_xfer_fail(x, buf, cap, TFTP_EUNDEF,
			    "file changed while being sent");
		}
	}
	w.off += (size_t)n;
sent:
	x->next = blk + 1;
	if (blk >= x->hi) {
		/* A first transmission: time it unless one is being timed. */
		x->hi = blk + 1;
		if (!x->timing) {
			x->timing = true;
			x->timed_blk = blk;
			x->timed_at_ms = now_ms;
		}
	}
	x->deadline_ms = now_ms + x->cur_timeout_ms;
	return (int)w.off;
}

const char *
tftp_xfer_state_name(enum tftp_xfer_state s)
{
	switch (s) {
	case TFTP_XS_SENDING:
		return "sending";
	case TFTP_XS_DONE:
		return "done";
	case TFTP_XS_PEER_ERROR:
		return "peer-error";
	case TFTP_XS_TIMEOUT:
		return "timeout";
	case TFTP_XS_FAILED:
		return "failed";
	case TFTP_XS_UNANSWERED:
		return "unanswered";
	}
	return "?";
}
