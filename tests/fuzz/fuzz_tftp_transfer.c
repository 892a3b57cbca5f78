/*
 * The TFTP transfer machine fed like a real server's: the input is
 *   be32 file size (low 22 bits), then records of
 *   u8 time step (x 50 ms), be16 length, that many bytes of packet.
 * The first record is the request; the rest arrive from the client's TID
 * in order.  After each record the machine is ticked and drained, and the
 * DATA it emits is checked against the (virtual) file's bytes.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "core/cur.h"
#include "proto/tftp/pkt.h"
#include "proto/tftp/xfer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct vfile {
	uint64_t size;
	unsigned reads;
};

static uint8_t
vbyte(uint64_t off)
{
	return (uint8_t)(off * 31 + (off >> 9));
}

static int64_t
vread(void *arg, uint8_t *dst, size_t len, uint64_t off)
{
	struct vfile *f = arg;
	size_t i;

	f->reads++;
	/* one read in 251 fails, so the error path runs too */
	if (f->reads % 251 == 0) {
		return -EIO;
	}
	if (off >= f->size) {
		return 0;
	}
	if (len > f->size - off) {
		len = (size_t)(f->size - off);
	}
	for (i = 0; i < len; i++) {
		dst[i] = vbyte(off + i);
	}
	return (int64_t)len;
}

static void
drain(struct tftp_xfer *x, uint64_t now)
{
	static uint8_t pkt[TFTP_BLKSIZE_MAX + TFTP_HDR_LEN];
	int n, guard = 0;

	while ((n = tftp_xfer_send(x, pkt, sizeof(pkt), now)) > 0) {
		struct tftp_pkt p;

		assert(tftp_parse(pkt, (size_t)n, &p) == 0);
		assert(++guard <= 64 + 1);
		if (p.op == TFTP_DATA && !x->netascii) {
			uint64_t blk = x->next - 1;
			uint64_t off = (blk - 1) * x->blksize;
			size_t i;

			assert(p.block == (uint16_t)blk);
			assert(p.data_len <= x->blksize);
			for (i = 0; i < p.data_len; i++) {
				assert(p.data[i] == vbyte(off + i));
			}
		} else if (p.op == TFTP_DATA) {
			assert(p.data_len <= x->blksize);
		} else {
			assert(p.op == TFTP_OACK || p.op == TFTP_ERROR);
		}
	}
	assert(n == 0);
}

/* The timeout stays between the floor and the cap, whatever the ACKs. */
static void
check_rto(const struct tftp_xfer *x)
{
	uint32_t cap = tftp_rto_cap(x);

	if (x->oack_vals.has_timeout) {
		return;
	}
	assert(!x->rtt_seeded ||
	    (x->rto_ms >= TFTP_RTO_MIN_MS && x->rto_ms <= cap));
	/* Past its last resend an unconfirmed peer gets a longer wait. */
	assert(x->cur_timeout_ms <= cap ||
	    (!x->confirmed && x->cur_timeout_ms == TFTP_UNCONFIRMED_WAIT_MS));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct tftp_xfer_cfg cfg = {
	    .blksize_max = 1468,
	    .windowsize_max = 64,
	    .timeout_ms = 200, /* the server's default: the RTO cap applies */
	    .retries = 5,
	};
	struct cur c = cur_init(data, size);
	struct vfile f = {0};
	struct tftp_xfer x;
	struct tftp_pkt rrq;
	uint64_t now = 0;
	const uint8_t *p;
	uint16_t len;

	f.size = cur_be32(&c) & 0x3fffff;
	now += cur_u8(&c) * 50u;
	len = cur_be16(&c);
	p = cur_bytes(&c, len);
	if (!p || tftp_parse(p, len, &rrq) < 0 || rrq.op != TFTP_RRQ) {
		return 0;
	}
	if (tftp_xfer_start(&x, &rrq, &cfg, f.size, vread, &f, now) < 0) {
		return 0;
	}
	assert(x.blksize >= 8 && x.blksize <= cfg.blksize_max);
	assert(x.windowsize >= 1 && x.windowsize <= cfg.windowsize_max);
	drain(&x, now);
	while (cur_left(&c) > 0 && !tftp_xfer_is_over(&x)) {
		uint64_t before = x.acked;

		now += cur_u8(&c) * 50u;
		len = cur_be16(&c);
		p = cur_bytes(&c, len);
		if (!p) {
			break;
		}
		if (len == 0) {
			/* an empty record: the client's RRQ again */
			bool due = tftp_xfer_request_again(&x);

			assert(!due || x.acked == (x.oack ? 0u : 1u));
			assert(!due || x.next == x.acked);
		} else {
			(void)tftp_xfer_recv(&x, p, len, now);
		}
		assert(x.acked >= before);
		tftp_xfer_tick(&x, now);
		drain(&x, now);
		check_rto(&x);
	}
	/* let it time out: it must end within its retries */
	while (!tftp_xfer_is_over(&x)) {
		uint64_t wake = tftp_xfer_wake(&x);

		assert(wake != UINT64_MAX);
		tftp_xfer_tick(&x, wake);
		drain(&x, wake);
		check_rto(&x);
	}
	/* only a peer that answered can time out; one that never did is
	 * dropped as unanswered after TFTP_UNCONFIRMED_RETRIES */
	assert(x.state != TFTP_XS_TIMEOUT || x.confirmed);
	assert(x.state != TFTP_XS_UNANSWERED || !x.confirmed);
	return 0;
}
