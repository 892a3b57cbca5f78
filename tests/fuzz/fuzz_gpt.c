#include <stdint.h>
#include <stdlib.h>

#include "image/disk/blk.h"
#include "image/disk/part.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The input is the whole disk (protective MBR, both GPT copies).  The
 * header parser also sees the second sector on its own, so mutations of
 * the header reach it even when the CRC no longer matches.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ptable *t = calloc(1, sizeof(*t));
	struct gpt_header h;
	struct blk dev;

	if (!t) {
		return 0;
	}
	if (size >= 2 * PART_SECTOR) {
		(void)gpt_parse_header(
		    data + PART_SECTOR, PART_SECTOR, 1, size / PART_SECTOR, &h);
	}
	blk_mem_init(&dev, data, size);
	if (ptable_read(&dev, t) == 0 &&
	    ptable_check(t, size / PART_SECTOR) != 0) {
		abort();
	}
	free(t);
	return 0;
}
