/*
 * Portmapper v2 arguments and results.  The first byte picks the
 * procedure (as the RPC header would), the rest are its arguments.
 */
#include <stdint.h>

#include "proto/portmap/pmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pmap_mapping m, list[16];
	uint8_t out[512];
	struct wcur w = wcur_init(out, sizeof(out));
	int n;

	if (size < 1) {
		return 0;
	}
	switch (data[0] % 6) {
	case PMAP_PROC_SET:
	case PMAP_PROC_UNSET:
	case PMAP_PROC_GETPORT:
		if (pmap_mapping_parse(data + 1, size - 1, &m) == 0) {
			pmap_mapping_build(&w, &m);
		}
		break;
	case PMAP_PROC_DUMP:
		n = pmap_dump_parse(data + 1, size - 1, list, 16);
		if (n >= 0) {
			(void)pmap_dump_build(&w, list, (size_t)n);
		}
		break;
	default:
		break;
	}
	return 0;
}
