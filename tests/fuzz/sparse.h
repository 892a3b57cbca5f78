#ifndef PNB_TESTS_FUZZ_SPARSE_H
#define PNB_TESTS_FUZZ_SPARSE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "image/disk/blk.h"

/*
 * A compact container for disk images in fuzz inputs and seeds: FAT32
 * needs a 256 KiB FAT before the first data cluster, almost all zeros, so
 * the seeds store only the non-zero sectors.
 *
 *   le32 device size in 512-byte sectors (capped at SPARSE_MAX_SECTORS)
 *   then records: le32 first sector, le16 sector count, count*512 bytes
 *   (a final record may be short; later records win)
 *
 * Everything not covered by a record reads as zeros.  Header-only code:
 * included by the fuzz targets and by the unit tests.
 */
#define SPARSE_MAX_SECTORS (1u << 17) /* 64 MiB */
#define SPARSE_MAX_EXTENTS 256u

struct sparse_ext {
	uint64_t off;
	const uint8_t *p;
	size_t len;
};

struct sparse_dev {
	struct sparse_ext ext[SPARSE_MAX_EXTENTS];
	size_t n;
};

static inline uint32_t
sparse_le(const uint8_t *p, int n)
{
	uint32_t v = 0;
	int i;

	for (i = n - 1; i >= 0; i--) {
		v = v << 8 | p[i];
	}
	return v;
}

static inline int64_t
sparse_read(const struct blk *b, void *dst, size_t len, uint64_t off)
{
	const struct sparse_dev *s = b->ctx;
	size_t i;

	memset(dst, 0, len);
	for (i = 0; i < s->n; i++) {
		const struct sparse_ext *e = &s->ext[i];
		uint64_t lo = off > e->off ? off : e->off;
		uint64_t hi =
		    off + len < e->off + e->len ? off + len : e->off + e->len;

		if (lo < hi) {
			memcpy((uint8_t *)dst + (lo - off),
			    e->p + (lo - e->off), (size_t)(hi - lo));
		}
	}
	return (int64_t)len;
}

static const struct blk_ops sparse_ops = {.read = sparse_read};

/* sparse_open() - a device over @data (borrowed); -1 if unusable. */
static inline int
sparse_open(
    struct blk *b, struct sparse_dev *s, const uint8_t *data, size_t size)
{
	uint32_t sectors;
	size_t off = 4;

	if (size < 4) {
		return -1;
	}
	sectors = sparse_le(data, 4);
	if (sectors > SPARSE_MAX_SECTORS) {
		sectors = SPARSE_MAX_SECTORS;
	}
	s->n = 0;
	while (size - off >= 6 && s->n < SPARSE_MAX_EXTENTS) {
		uint64_t first = sparse_le(data + off, 4);
		size_t len = (size_t)sparse_le(data + off + 4, 2) * 512;

		off += 6;
		if (len > size - off) {
			len = size - off;
		}
		s->ext[s->n++] = (struct sparse_ext){
		    .off = first * 512, .p = data + off, .len = len};
		off += len;
	}
	*b = (struct blk){
	    .ops = &sparse_ops, .ctx = s, .size = (uint64_t)sectors * 512};
	return 0;
}

#endif
