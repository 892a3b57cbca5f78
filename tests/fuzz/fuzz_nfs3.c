/*
 * NFS v3 argument decoders: the first byte picks the procedure (0..21, and
 * a few numbers past the end), the rest are its arguments.  What decodes
 * is encoded again and must decode to the same thing; the same bytes also
 * go through the result decoder.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/nfs3/nfs3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct nfs3_args a, b;
	static struct nfs3_res res;
	static struct nfs3_dirent ents[64];
	static uint8_t out[NFS3_IO_MAX + 8192];
	struct wcur w = wcur_init(out, sizeof(out));
	uint32_t proc;

	if (size < 1) {
		return 0;
	}
	proc = data[0] % 24;
	if (nfs3_args_parse(proc, data + 1, size - 1, &a) == 0) {
		int r = nfs3_args_build(&w, &a);

		/* A round trip must give the same arguments back. */
		assert(r == 0);
		assert(nfs3_args_parse(proc, out, w.off, &b) == 0);
		assert(a.fh.len == b.fh.len &&
		    memcmp(a.fh.data, b.fh.data, a.fh.len) == 0);
		assert(strcmp(a.where.name, b.where.name) == 0);
		assert(a.offset == b.offset && a.count == b.count);
		assert(a.data_len == b.data_len);
	}
	if (nfs3_res_parse(proc, data + 1, size - 1, &res, ents, 64) == 0) {
		w = wcur_init(out, sizeof(out));
		(void)nfs3_res_build(proc, &res, &w);
	}
	return 0;
}
