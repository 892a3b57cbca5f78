#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "image/fat/fat.h"
#include "sparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The input is a FAT volume in the sparse container (sparse.h).  The
 * whole tree is walked and every file read, as extraction does.
 */
struct fz {
	struct fat_vol *v;
	uint8_t *buf;
	uint64_t bytes;
};

static int
fz_sink(void *arg, const uint8_t *p, size_t n)
{
	struct fz *z = arg;

	(void)p;
	z->bytes += n;
	/* Cross-linked files can repeat a big file many times: bound it. */
	return z->bytes > (256u << 20) ? -EFBIG : 0;
}

static int
fz_dir(void *arg, unsigned depth, const struct fat_dirent *e)
{
	(void)arg;
	(void)depth;
	(void)e;
	return 0;
}

static int
fz_file(void *arg, unsigned depth, const struct fat_dirent *e)
{
	struct fz *z = arg;
	int r;

	(void)depth;
	r = fat_read_file(z->v, e, z->buf, 65536, fz_sink, z);
	/* Damage in one file is reported, not fatal to the fuzz run. */
	return r < 0 && r != -EFBIG ? 0 : r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sparse_dev *s = calloc(1, sizeof(*s));
	struct fat_vol *v = calloc(1, sizeof(*v));
	uint8_t *buf = malloc(65536);
	struct blk dev;
	struct fz z = {.v = v, .buf = buf};
	struct fat_visitor vis = {
	    .enter = fz_dir, .file = fz_file, .leave = fz_dir, .arg = &z};

	if (s && v && buf && sparse_open(&dev, s, data, size) == 0 &&
	    fat_open(v, &dev) == 0) {
		(void)fat_walk(v, &vis);
	}
	free(buf);
	free(v);
	free(s);
	return 0;
}
