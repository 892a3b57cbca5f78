/*
 * MOUNT v3 arguments (MNT and UMNT take a dirpath) and the MNT result
 * decoder.  The first byte picks the procedure.
 */
#include <stdint.h>
#include <string.h>

#include "proto/mount/mnt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char dir[MNT_PATH_MAX + 1];
	uint8_t fh[MNT_FH_MAX], out[2048];
	struct wcur w = wcur_init(out, sizeof(out));
	uint32_t stat;
	size_t fhlen;

	if (size < 1) {
		return 0;
	}
	switch (data[0] % 6) {
	case MNT_PROC_MNT:
	case MNT_PROC_UMNT:
		if (mnt_dirpath_parse(data + 1, size - 1, dir) == 0) {
			struct mnt_body b = {.host = "198.18.0.2", .dir = dir};

			(void)mnt_dump_build(&w, &b, 1);
		}
		break;
	default:
		if (mnt_mnt_parse(data + 1, size - 1, &stat, fh, &fhlen) == 0) {
			uint32_t flavor = 1;

			(void)mnt_mnt_build(&w, stat, fh, fhlen, &flavor, 1);
		}
		break;
	}
	return 0;
}
