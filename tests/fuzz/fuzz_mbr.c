#include <stdint.h>
#include <stdlib.h>

#include "image/disk/blk.h"
#include "image/disk/part.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input is the whole disk: MBR, EBR chain and partitions. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ptable *t = calloc(1, sizeof(*t));
	struct blk dev;
	struct part e[4];
	uint32_t id;

	if (!t) {
		return 0;
	}
	(void)mbr_parse_sector(data, size, e, &id);
	blk_mem_init(&dev, data, size);
	if (ptable_read(&dev, t) == 0) {
		/* A table that passed must satisfy its own checks. */
		if (ptable_check(t, size / PART_SECTOR) != 0) {
			abort();
		}
	}
	free(t);
	return 0;
}
