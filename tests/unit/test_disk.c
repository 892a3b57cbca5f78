#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "image/disk/blk.h"
#include "image/disk/part.h"
#include "t.h"

/* Seeds built by tests/fuzz/mkseeds.sh with sfdisk. */
static uint8_t *
load(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p;
	long n;

	if (!f) {
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)n);
	if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		p = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return p;
}

static int
read_table(const uint8_t *p, size_t len, struct ptable *t)
{
	struct blk dev;

	blk_mem_init(&dev, p, len);
	return ptable_read(&dev, t);
}

static void
put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void
put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

/* Recompute a GPT header CRC after a test edits a field. */
static void
gpt_fix_crc(uint8_t *hdr)
{
	memset(hdr + 16, 0, 4);
	put_le32(hdr + 16, part_crc32(0, hdr, 92));
}

static struct ptable tab;

TEST(crc32_matches_the_ieee_check_value)
{
	CHECK_EQ(part_crc32(0, (const uint8_t *)"123456789", 9), 0xcbf43926);
}

TEST(mbr_raspios_shape)
{
	size_t len;
	uint8_t *p = load("tests/fuzz/corpus/mbr/raspios-shape.img", &len);

	CHECK(p != NULL);
	CHECK_EQ(read_table(p, len, &tab), 0);
	CHECK_EQ(tab.scheme, PART_MBR);
	CHECK_EQ(tab.disk_id, 0x6c586e13);
	CHECK_EQ(tab.n, 2);
	CHECK_EQ(tab.parts[0].mbr_type, 0x0c);
	CHECK_EQ(tab.parts[0].start, 8);
	CHECK_EQ(tab.parts[0].count, 40);
	CHECK_EQ(tab.parts[1].mbr_type, 0x83);
	CHECK_EQ(tab.parts[1].number, 2);
	free(p);
}

TEST(mbr_signature_missing)
{
	size_t len;
	uint8_t *p = load("tests/fuzz/corpus/mbr/raspios-shape.img", &len);

	p[510] = 0;
	CHECK_EQ(read_table(p, len, &tab), -PNB_EMBR_SIG);
	free(p);
}

TEST(mbr_partition_beyond_end)
{
	size_t len;
	uint8_t *p = load("tests/fuzz/corpus/mbr/raspios-shape.img", &len);

	/* Truncated image: partition 2 runs past the last byte. */
	CHECK_EQ(read_table(p, len / 2, &tab), -PNB_EPART_RANGE);
	/* Shorter than one sector: truncated, not a range error. */
	CHECK_EQ(read_table(p, 300, &tab), -EBADMSG);
	free(p);
}

TEST(mbr_overlap)
{
	size_t len;
	uint8_t *p = load("tests/fuzz/corpus/mbr/raspios-shape.img", &len);

	/* Partition 2 starts inside partition 1. */
	put_le32(p + 446 + 16 + 8, 20);
	CHECK_EQ(read_table(p, len, &tab), -PNB_EPART_OVERLAP);
	free(p);
}

TEST(mbr_extended_chain)
{
	size_t len;
	uint8_t *p = load("tests/fuzz/corpus/mbr/extended.img", &len);

	CHECK_EQ(read_table(p, len, &tab), 0);
	CHECK_EQ(tab.n, 3);
	CHECK_EQ(tab.parts[1].number, 5);
	CHECK_EQ(tab.parts[1].start, 26);
	CHECK_EQ(tab.parts[2].number, 6);
	CHECK_EQ(tab.parts[2].start, 44);
	CHECK_EQ(tab.parts[2].mbr_type, 0x0c);
	free(p);
}

TEST(mbr_extended_chain_loop)
{
	size_t len;
	uint8_t *p = load("tests/fuzz/corpus/mbr/extended.img", &len);
	uint64_t second =
	    24 + (p[24 * 512 + 446 + 16 + 8] | p[24 * 512 + 446 + 16 + 9] << 8);

	/* The second EBR links back to the first. */
	put_le32(p + second * 512 + 446 + 16 + 8, 0);
	p[second * 512 + 446 + 16 + 4] = 0x05;
	put_le32(p + second * 512 + 446 + 16 + 12, 8);
	CHECK_EQ(read_table(p, len, &tab), -PNB_EPART_OVERLAP);
	free(p);
}

TEST(mbr_logical_outside_extended)
{
	size_t len;
	uint8_t *p = load("tests/fuzz/corpus/mbr/extended.img", &len);

	put_le32(p + 24 * 512 + 446 + 12, 5000);
	CHECK_EQ(read_table(p, len, &tab), -PNB_EPART_RANGE);
	free(p);
}

TEST(gpt_two_partitions)
{
	size_t len;
	uint8_t *p = load("tests/fuzz/corpus/gpt/two.img", &len);

	CHECK_EQ(read_table(p, len, &tab), 0);
	CHECK_EQ(tab.scheme, PART_GPT);
	CHECK(!tab.used_backup);
	CHECK_EQ(tab.n, 2);
	CHECK_EQ(tab.parts[0].start, 40);
	CHECK_EQ(tab.parts[0].count, 16);
	CHECK_EQ(tab.parts[1].start, 56);
	free(p);
}

TEST(gpt_backup_used_when_primary_header_damaged)
{
	size_t len;
	uint8_t *p = load("tests/fuzz/corpus/gpt/backup.img", &len);

	CHECK_EQ(read_table(p, len, &tab), 0);
	CHECK(tab.used_backup);
	CHECK_EQ(tab.primary_err, -PNB_EGPT_HDR_CRC);
	CHECK_EQ(tab.n, 2);
	free(p);
}

TEST(gpt_entries_crc)
{
	size_t len;
	uint8_t *p = load("tests/fuzz/corpus/gpt/two.img", &len);

	/* Damage the primary array: the backup copy still works. */
	p[2 * 512 + 40] ^= 1;
	CHECK_EQ(read_table(p, len, &tab), 0);
	CHECK(tab.used_backup);
	CHECK_EQ(tab.primary_err, -PNB_EGPT_ENTRIES_CRC);
	/* Damage the backup array too: nothing left to trust. */
	p[len - 33 * 512 + 40] ^= 1;
	CHECK_EQ(read_table(p, len, &tab), -PNB_EGPT_ENTRIES_CRC);
	free(p);
}

TEST(gpt_header_crc_both_copies)
{
	size_t len;
	uint8_t *p = load("tests/fuzz/corpus/gpt/two.img", &len);

	p[512 + 40] ^= 1;
	p[len - 512 + 40] ^= 1;
	CHECK_EQ(read_table(p, len, &tab), -PNB_EGPT_HDR_CRC);
	free(p);
}

TEST(gpt_range)
{
	size_t len;
	uint8_t *p = load("tests/fuzz/corpus/gpt/two.img", &len);

	/* Entry array claimed far past the end, CRC recomputed. */
	put_le64(p + 512 + 72, 1u << 20);
	gpt_fix_crc(p + 512);
	memset(p + len - 512, 0, 512);
	CHECK_EQ(read_table(p, len, &tab), -PNB_EGPT_RANGE);
	free(p);
}

TEST(gpt_entry_outside_usable_range)
{
	size_t len;
	uint8_t *p = load("tests/fuzz/corpus/gpt/two.img", &len);
	uint8_t *e = p + 2 * 512;
	uint32_t crc;

	put_le64(e + 40, 5000); /* last LBA of entry 1 */
	crc = part_crc32(0, p + 2 * 512, 128 * 128);
	put_le32(p + 512 + 88, crc);
	gpt_fix_crc(p + 512);
	memset(p + len - 512, 0, 512);
	CHECK_EQ(read_table(p, len, &tab), -PNB_EGPT_RANGE);
	free(p);
}

TEST(gpt_truncated_image)
{
	size_t len;
	uint8_t *p = load("tests/fuzz/corpus/gpt/two.img", &len);

	/* Cut inside partition 2: its end lies past the device. */
	CHECK_EQ(read_table(p, 60 * 512, &tab), -PNB_EPART_RANGE);
	free(p);
}

/*
 * Torture: fail each read in turn.  Every failure must surface as an
 * error (the I/O error, or, for GPT, the primary's diagnosis when only the
 * backup path failed); a shortened read must be retried transparently.
 */
static void
torture(const char *path)
{
	struct blk mem, dev;
	struct blk_fault f;
	size_t len;
	uint8_t *p = load(path, &len);
	unsigned n, reads;
	int r, clean;

	CHECK(p != NULL);
	if (!p) {
		return;
	}
	blk_mem_init(&mem, p, len);
	f = (struct blk_fault){.inner = &mem};
	blk_fault_init(&dev, &f);
	clean = ptable_read(&dev, &tab);
	reads = f.count;
	CHECK(reads > 0);
	for (n = 1; n <= reads; n++) {
		f = (struct blk_fault){.inner = &mem, .nth = n};
		blk_fault_init(&dev, &f);
		r = ptable_read(&dev, &tab);
		CHECK(r < 0);
		f = (struct blk_fault){
		    .inner = &mem, .nth = n, .shorten = true};
		blk_fault_init(&dev, &f);
		CHECK_EQ(ptable_read(&dev, &tab), clean);
	}
	free(p);
}

TEST(torture_partition_tables)
{
	torture("tests/fuzz/corpus/mbr/raspios-shape.img");
	torture("tests/fuzz/corpus/mbr/extended.img");
	torture("tests/fuzz/corpus/gpt/two.img");
	torture("tests/fuzz/corpus/gpt/backup.img");
}

TEST(blk_sub_bounds)
{
	static const uint8_t d[16] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct blk mem, sub;
	struct blk_sub s;
	uint8_t b[4];

	blk_mem_init(&mem, d, sizeof(d));
	CHECK_EQ(blk_sub_init(&sub, &s, &mem, 4, 13), -EINVAL);
	CHECK_EQ(blk_sub_init(&sub, &s, &mem, 4, 8), 0);
	CHECK_EQ(blk_read(&sub, 0, b, 4), 0);
	CHECK_EQ(b[0], 5);
	CHECK_EQ(blk_read(&sub, 6, b, 4), -EBADMSG);
	CHECK_EQ(blk_read(&sub, UINT64_MAX, b, 4), -EBADMSG);
}
