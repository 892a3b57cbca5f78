#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/sparse.h"
#include "core/err.h"
#include "image/disk/blk.h"
#include "image/fat/fat.h"
#include "t.h"

/*
 * Seeds built by tests/fuzz/mkseeds.sh: mkfs.vfat volumes filled with
 * mtools (config.txt deleted after big.bin so frag.bin is fragmented).
 */
struct vol {
	uint8_t *img;
	size_t len;
};

static int
vol_load(struct vol *v, const char *path)
{
	FILE *f = fopen(path, "rb");
	struct sparse_dev *s = calloc(1, sizeof(*s));
	uint8_t *raw = NULL;
	struct blk b;
	long n;
	int r = -1;

	if (!f || !s) {
		goto out;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	raw = malloc((size_t)n);
	if (!raw || fread(raw, 1, (size_t)n, f) != (size_t)n ||
	    sparse_open(&b, s, raw, (size_t)n) < 0) {
		goto out;
	}
	v->len = (size_t)b.size;
	v->img = malloc(v->len);
	if (v->img && blk_read(&b, 0, v->img, v->len) == 0) {
		r = 0;
	}
out:
	free(raw);
	free(s);
	if (f) {
		fclose(f);
	}
	return r;
}

static uint8_t *
find(struct vol *v, const void *pat, size_t n)
{
	return memmem(v->img, v->len, pat, n);
}

struct seen {
	char names[16][FAT_NAME_MAX];
	uint32_t sizes[16];
	unsigned n, dirs;
	uint64_t bytes;
	struct fat_vol *fv;
	uint8_t *buf;
};

static int
sink(void *arg, const uint8_t *p, size_t n)
{
	struct seen *s = arg;

	(void)p;
	s->bytes += n;
	return 0;
}

static int
on_file(void *arg, unsigned depth, const struct fat_dirent *e)
{
	struct seen *s = arg;

	(void)depth;
	if (s->n < 16) {
		snprintf(s->names[s->n], FAT_NAME_MAX, "%s", e->name);
		s->sizes[s->n++] = e->size;
	}
	return fat_read_file(s->fv, e, s->buf, 65536, sink, s);
}

static int
on_dir(void *arg, unsigned depth, const struct fat_dirent *e)
{
	struct seen *s = arg;

	(void)depth;
	(void)e;
	s->dirs++;
	return 0;
}

static int
on_leave(void *arg, unsigned depth, const struct fat_dirent *e)
{
	(void)arg;
	(void)depth;
	(void)e;
	return 0;
}

static int
walk(const struct blk *dev, struct seen *s)
{
	static struct fat_vol fv;
	static uint8_t buf[65536];
	struct fat_visitor vis = {
	    .enter = on_dir, .file = on_file, .leave = on_leave, .arg = s};
	int r;

	memset(s, 0, sizeof(*s));
	s->fv = &fv;
	s->buf = buf;
	r = fat_open(&fv, dev);
	if (r < 0) {
		return r;
	}
	return fat_walk(&fv, &vis);
}

static bool
has(const struct seen *s, const char *name, uint32_t size)
{
	unsigned i;

	for (i = 0; i < s->n; i++) {
		if (!strcmp(s->names[i], name) && s->sizes[i] == size) {
			return true;
		}
	}
	return false;
}

static const char *const seeds[] = {"tests/fuzz/corpus/fat/fat12.sp",
    "tests/fuzz/corpus/fat/fat16.sp", "tests/fuzz/corpus/fat/fat32.sp"};
static const unsigned types[] = {12, 16, 32};

TEST(fat_reads_every_type)
{
	struct seen s;
	struct vol v;
	struct blk dev;
	struct fat_vol fv;
	int i;

	for (i = 0; i < 3; i++) {
		CHECK_EQ(vol_load(&v, seeds[i]), 0);
		blk_mem_init(&dev, v.img, v.len);
		CHECK_EQ(fat_open(&fv, &dev), 0);
		CHECK_EQ(fv.type, types[i]);
		CHECK_STR(fv.label, "BOOTFS     ");
		CHECK_EQ(walk(&dev, &s), 0);
		CHECK_EQ(s.dirs, 1);
		CHECK_EQ(s.n, 4);
		CHECK(has(&s, "A long file name.dtbo", 3000));
		CHECK(has(&s, "big.bin", 9000));
		CHECK(has(&s, "frag.bin", 9000));
		CHECK(has(&s, "ssh", 0));
		CHECK_EQ(s.bytes, 21000);
		free(v.img);
	}
}

TEST(fat_bpb_damage)
{
	struct seen s;
	struct vol v;
	struct blk dev;

	CHECK_EQ(vol_load(&v, seeds[1]), 0);
	blk_mem_init(&dev, v.img, v.len);
	v.img[11] = 3; /* 768 bytes per sector */
	CHECK_EQ(walk(&dev, &s), -PNB_EFAT_BPB);
	v.img[11] = 0;
	v.img[13] = 3; /* sectors per cluster not a power of two */
	CHECK_EQ(walk(&dev, &s), -PNB_EFAT_BPB);
	v.img[13] = 1;
	/* Volume larger than the device it sits on. */
	blk_mem_init(&dev, v.img, v.len / 2);
	CHECK_EQ(walk(&dev, &s), -PNB_EFAT_BPB);
	free(v.img);
}

/* Point FAT entry @n of every copy... the first copy is what we read. */
static void
fat_set(struct vol *v, const struct fat_vol *fv, uint32_t n, uint32_t val)
{
	uint8_t *fat = v->img + fv->fat_off;

	if (fv->type == 16) {
		fat[2 * n] = (uint8_t)val;
		fat[2 * n + 1] = (uint8_t)(val >> 8);
	} else if (fv->type == 32) {
		fat[4 * n] = (uint8_t)val;
		fat[4 * n + 1] = (uint8_t)(val >> 8);
		fat[4 * n + 2] = (uint8_t)(val >> 16);
		fat[4 * n + 3] = (uint8_t)(val >> 24);
	}
}

static uint32_t
entry_cluster(const uint8_t *d)
{
	return (uint32_t)(d[20] | d[21] << 8) << 16 |
	    (uint32_t)(d[26] | d[27] << 8);
}

TEST(fat_cluster_loop_and_range)
{
	struct seen s;
	struct vol v;
	struct blk dev;
	struct fat_vol fv;
	int i;

	for (i = 1; i < 3; i++) {
		uint8_t *d;
		uint32_t c;

		CHECK_EQ(vol_load(&v, seeds[i]), 0);
		blk_mem_init(&dev, v.img, v.len);
		CHECK_EQ(fat_open(&fv, &dev), 0);
		d = find(&v, "BIG     BIN", 11);
		CHECK(d != NULL);
		c = entry_cluster(d);
		/* big.bin: its 5th cluster links back to its 2nd. */
		fat_set(&v, &fv, c + 4, c + 1);
		CHECK_EQ(walk(&dev, &s), -PNB_EFAT_LOOP);
		/* A cluster number past the end of the volume. */
		fat_set(&v, &fv, c + 4, fv.nclusters + 10);
		CHECK_EQ(walk(&dev, &s), -PNB_EFAT_RANGE);
		/* Chain ends before the size says: truncated. */
		fat_set(&v, &fv, c + 4, 0x0ffffff8 & (i == 1 ? 0xffff : ~0u));
		CHECK_EQ(walk(&dev, &s), -EBADMSG);
		/* First cluster out of range. */
		d[26] = 1;
		d[27] = 0;
		d[20] = d[21] = 0;
		CHECK_EQ(walk(&dev, &s), -PNB_EFAT_RANGE);
		free(v.img);
	}
}

TEST(fat_directory_contains_itself)
{
	struct seen s;
	struct vol v;
	struct blk dev;
	int i;

	for (i = 0; i < 3; i++) {
		uint8_t *o, *f;

		CHECK_EQ(vol_load(&v, seeds[i]), 0);
		blk_mem_init(&dev, v.img, v.len);
		o = find(&v, "OVERLAYS   ", 11);
		f = find(&v, "ALONGF~1DTB", 11);
		CHECK(o != NULL && f != NULL);
		/* The file inside overlays/ becomes overlays/ itself. */
		f[11] = FAT_ATTR_DIR;
		memcpy(f + 20, o + 20, 2);
		memcpy(f + 26, o + 26, 2);
		CHECK_EQ(walk(&dev, &s), -PNB_EDIR_LOOP);
		/* A subdirectory pointing at cluster 0 (the root). */
		memset(f + 20, 0, 2);
		memset(f + 26, 0, 2);
		CHECK_EQ(walk(&dev, &s), -PNB_EDIR_LOOP);
		free(v.img);
	}
}

TEST(fat_names_with_slash_or_dots)
{
	static const uint8_t lfn_a[] = {'A', 0, ' ', 0, 'l', 0};
	struct seen s;
	struct vol v;
	struct blk dev;
	uint8_t *l, *sh;

	CHECK_EQ(vol_load(&v, seeds[0]), 0);
	blk_mem_init(&dev, v.img, v.len);
	l = find(&v, lfn_a, sizeof(lfn_a));
	CHECK(l != NULL);
	l[2] = '/'; /* "A/long file name.dtbo" */
	CHECK_EQ(walk(&dev, &s), -PNB_ENAME);
	l[2] = ' ';
	/* A short name ".." outside the dot slots of a directory. */
	sh = find(&v, "SSH        ", 11);
	CHECK(sh != NULL);
	memcpy(sh, "..         ", 11);
	CHECK_EQ(walk(&dev, &s), -PNB_ENAME);
	free(v.img);
}

TEST(fat_torture)
{
	struct seen s;
	struct vol v;
	struct blk mem, dev;
	struct blk_fault f;
	unsigned n, reads;
	int i;

	for (i = 0; i < 3; i++) {
		CHECK_EQ(vol_load(&v, seeds[i]), 0);
		blk_mem_init(&mem, v.img, v.len);
		f = (struct blk_fault){.inner = &mem};
		blk_fault_init(&dev, &f);
		CHECK_EQ(walk(&dev, &s), 0);
		reads = f.count;
		CHECK(reads > 10);
		for (n = 1; n <= reads; n++) {
			f = (struct blk_fault){.inner = &mem, .nth = n};
			blk_fault_init(&dev, &f);
			CHECK_EQ(walk(&dev, &s), -EIO);
			f = (struct blk_fault){
			    .inner = &mem, .nth = n, .shorten = true};
			blk_fault_init(&dev, &f);
			CHECK_EQ(walk(&dev, &s), 0);
			CHECK_EQ(s.bytes, 21000);
		}
		free(v.img);
	}
}

TEST(fat_time_epoch)
{
	/* 1980-01-01 00:00:00 and 2024-02-29 12:34:56. */
	CHECK_EQ(fat_time(0x21, 0), 315532800);
	CHECK_EQ(
	    fat_time((44 << 9) | (2 << 5) | 29, (12 << 11) | (34 << 5) | 28),
	    1709210096);
}
