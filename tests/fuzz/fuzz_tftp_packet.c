/*
 * The TFTP packet codec: parse anything; for a request also normalise the
 * name and read every option as a number; rebuild what parsed and check
 * that the rebuilt packet parses to the same fields.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cur.h"
#include "proto/tftp/pkt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tftp_pkt p, q;
	uint8_t out[1024];
	char name[TFTP_NAME_MAX + 1];
	struct wcur w = wcur_init(out, sizeof(out));
	size_t i;
	uint64_t v;

	if (tftp_parse(data, size, &p) < 0) {
		return 0;
	}
	switch (p.op) {
	case TFTP_RRQ:
	case TFTP_WRQ:
		assert(p.file_len > 0 && p.file_len <= TFTP_NAME_MAX);
		assert(p.file[p.file_len] == 0 && p.mode[p.mode_len] == 0);
		if (tftp_normalize_name(
			p.file, p.file_len, name, sizeof(name)) >= 0) {
			assert(strstr(name, "//") == NULL && name[0] != '/');
			(void)tftp_prefix_len(name);
		}
		for (i = 0; i < p.nopts; i++) {
			(void)tftp_opt_num(&p.opts[i], UINT64_MAX, &v);
			(void)tftp_opt_num(&p.opts[i], 255, &v);
		}
		assert(tftp_build_rrq(
			   &w, p.op, p.file, p.mode, p.opts, p.nopts) == 0);
		assert(tftp_parse(out, w.off, &q) == 0);
		assert(q.nopts == p.nopts && q.file_len == p.file_len);
		break;
	case TFTP_DATA:
		if (p.data_len <= sizeof(out) - 4) {
			assert(tftp_build_data(
				   &w, p.block, p.data, p.data_len) == 0);
			assert(w.off == size);
			assert(memcmp(out, data, size) == 0);
		}
		break;
	case TFTP_ERROR:
		assert(p.msg_len <= size - 4);
		break;
	case TFTP_ACK: {
		struct tftp_oack o = {.has_tsize = true,
		    .tsize = p.block * 1000003ull,
		    .has_blksize = true,
		    .blksize = p.block};

		assert(tftp_build_ack(&w, p.block) == 0);
		assert(tftp_build_oack(&w, &o) == 0);
		assert(tftp_parse(out + 4, w.off - 4, &q) == 0);
		assert(q.op == TFTP_OACK && q.nopts == 2);
		assert(tftp_opt_num(&q.opts[0], UINT64_MAX, &v) == 0 &&
		    v == o.tsize);
		break;
	}
	default:
		break;
	}
	return 0;
}
