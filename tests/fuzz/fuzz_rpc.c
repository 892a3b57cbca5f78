/*
 * ONC RPC: TCP record marking plus call headers.  The first byte picks
 * how the rest is cut into reads (1..64 bytes, or all at once for 0), the
 * rest is a byte stream as a client would send it over TCP.  Every whole
 * record goes through the call parser and, for AUTH_SYS, the credential
 * parser; a reply is built for each so the encoders run too.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/rpc/rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_record(const uint8_t *rec, size_t len)
{
	struct rpc_call call;
	struct rpc_auth_sys sys;
	struct rpc_reply rep;
	uint8_t out[64];
	struct wcur w = wcur_init(out, sizeof(out));
	int r = rpc_call_parse(rec, len, &call);

	if (r == 0 && call.cred.flavor == RPC_AUTH_SYS) {
		(void)rpc_auth_sys_parse(call.cred.body, call.cred.len, &sys);
	}
	if (r == 0 || r == -EPROTONOSUPPORT) {
		rpc_reply_build(&w, call.xid, call.proc % 6, 2, 2);
	}
	(void)rpc_reply_parse(rec, len, &rep);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rpc_rm rm;
	size_t chunk, off = 1;

	if (size < 1) {
		return 0;
	}
	chunk = data[0] % 65;
	rpc_rm_init(&rm, 1 << 16);
	while (off < size) {
		size_t n = chunk ? chunk : size - off, used = 0;
		int r;

		if (n > size - off) {
			n = size - off;
		}
		while (n > 0) {
			r = rpc_rm_feed(&rm, data + off, n, &used);
			off += used;
			n -= used;
			if (r < 0) {
				goto out;
			}
			if (r == 1) {
				size_t len;
				uint8_t *rec = rpc_rm_take(&rm, &len);

				if (rec) {
					fuzz_record(rec, len);
					free(rec);
				}
			}
		}
	}
	/* The whole input as one UDP datagram too. */
	fuzz_record(data + 1, size - 1);
out:
	rpc_rm_fini(&rm);
	return 0;
}
