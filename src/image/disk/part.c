#include <errno.h>
#include <string.h>

#include "core/cur.h"
#include "core/err.h"
#include "image/disk/part.h"

uint32_t
part_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
	/* Reflected polynomial 0xedb88320, four bits at a time. */
	static const uint32_t tab[16] = {0x00000000, 0x1db71064, 0x3b6e20c8,
	    0x26d930ac, 0x76dc4190, 0x6b6b51f4, 0x4db26158, 0x5005713c,
	    0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c, 0x9b64c2b0,
	    0x86d3d2d4, 0xa00ae278, 0xbdbdf21c};
	size_t i;

	crc = ~crc;
	for (i = 0; i < n; i++) {
		crc ^= p[i];
		crc = (crc >> 4) ^ tab[crc & 15];
		crc = (crc >> 4) ^ tab[crc & 15];
	}
	return ~crc;
}

int
mbr_parse_sector(
    const uint8_t *s, size_t len, struct part out[4], uint32_t *disk_id)
{
	struct cur c = cur_init(s, len);
	int i;

	if (len < PART_SECTOR) {
		return -EBADMSG;
	}
	if (s[510] != 0x55 || s[511] != 0xaa) {
		return -PNB_EMBR_SIG;
	}
	cur_skip(&c, 440);
	if (disk_id) {
		*disk_id = cur_le32(&c);
	} else {
		cur_skip(&c, 4);
	}
	cur_skip(&c, 2);
	for (i = 0; i < 4; i++) {
		struct part *p = &out[i];
		uint8_t status;

		memset(p, 0, sizeof(*p));
		status = cur_u8(&c);
		cur_skip(&c, 3);
		p->mbr_type = cur_u8(&c);
		cur_skip(&c, 3);
		p->start = cur_le32(&c);
		p->count = cur_le32(&c);
		p->bootable = (status & 0x80) != 0;
		p->number = (unsigned)i + 1;
	}
	return c.err;
}

static bool
mbr_is_extended(uint8_t type)
{
	return type == MBR_TYPE_EXTENDED_CHS || type == MBR_TYPE_EXTENDED_LBA ||
	    type == MBR_TYPE_EXTENDED_LINUX;
}

static int
ptable_add(struct ptable *t, const struct part *p)
{
	if (t->n >= PART_MAX) {
		return -EMSGSIZE;
	}
	t->parts[t->n++] = *p;
	return 0;
}

/*
 * Walk the chain of extended boot records.  Each EBR holds one logical
 * partition (start relative to that EBR) and a link to the next EBR
 * (start relative to the extended partition).  A hostile chain can point
 * back at an earlier EBR, so every visited sector is remembered.
 */
static int
mbr_read_logical(const struct blk *dev, struct ptable *t, uint64_t ext_start,
    uint64_t ext_count)
{
	uint64_t seen[PART_MAX_LOGICAL];
	uint64_t ebr = ext_start;
	unsigned nseen = 0, number = 5;
	uint8_t sec[PART_SECTOR];
	struct part e[4];
	unsigned i;
	int r;

	for (;;) {
		for (i = 0; i < nseen; i++) {
			if (seen[i] == ebr) {
				return -PNB_EPART_OVERLAP;
			}
		}
		if (nseen == PART_MAX_LOGICAL) {
			return -EMSGSIZE;
		}
		seen[nseen++] = ebr;
		if (ebr > UINT64_MAX / PART_SECTOR) {
			return -PNB_EPART_RANGE;
		}
		r = blk_read(dev, ebr * PART_SECTOR, sec, sizeof(sec));
		if (r == -EBADMSG) {
			return -PNB_EPART_RANGE;
		}
		if (r < 0) {
			return r;
		}
		r = mbr_parse_sector(sec, sizeof(sec), e, NULL);
		if (r < 0) {
			return r;
		}
		if (e[0].mbr_type != 0 && e[0].count != 0) {
			e[0].start += ebr;
			e[0].number = number++;
			if (e[0].start < ext_start ||
			    e[0].start - ext_start > ext_count ||
			    e[0].count > ext_count - (e[0].start - ext_start)) {
				return -PNB_EPART_RANGE;
			}
			r = ptable_add(t, &e[0]);
			if (r < 0) {
				return r;
			}
		}
		if (!mbr_is_extended(e[1].mbr_type) || e[1].count == 0) {
			return 0;
		}
		if (e[1].start >= ext_count) {
			return -PNB_EPART_RANGE;
		}
		ebr = ext_start + e[1].start;
	}
}

static int
mbr_read(const struct blk *dev, const uint8_t *sec, struct ptable *t)
{
	struct part e[4];
	int i, r, next = 0;

	r = mbr_parse_sector(sec, PART_SECTOR, e, &t->disk_id);
	if (r < 0) {
		return r;
	}
	t->scheme = PART_MBR;
	for (i = 0; i < 4; i++) {
		if (e[i].mbr_type == 0 || e[i].count == 0) {
			continue;
		}
		if (mbr_is_extended(e[i].mbr_type)) {
			if (next++ > 0) {
				/* Two extended partitions: not a valid MBR. */
				return -PNB_EPART_OVERLAP;
			}
			r = mbr_read_logical(dev, t, e[i].start, e[i].count);
		} else {
			r = ptable_add(t, &e[i]);
		}
		if (r < 0) {
			return r;
		}
	}
	return 0;
}

int
gpt_parse_header(const uint8_t *s, size_t len, uint64_t lba,
    uint64_t disk_sectors, struct gpt_header *h)
{
	uint8_t copy[PART_SECTOR];
	struct cur c = cur_init(s, len);
	const uint8_t *sig;
	uint32_t hsize, crc;
	uint64_t array_sectors;

	sig = cur_bytes(&c, 8);
	cur_skip(&c, 4); /* revision */
	hsize = cur_le32(&c);
	crc = cur_le32(&c);
	cur_skip(&c, 4);
	h->my_lba = cur_le64(&c);
	h->alt_lba = cur_le64(&c);
	h->first_usable = cur_le64(&c);
	h->last_usable = cur_le64(&c);
	cur_copy(&c, h->disk_guid, 16);
	h->entries_lba = cur_le64(&c);
	h->n_entries = cur_le32(&c);
	h->entry_size = cur_le32(&c);
	h->entries_crc = cur_le32(&c);
	if (c.err) {
		return c.err;
	}
	if (memcmp(sig, "EFI PART", 8) != 0) {
		return -EBADMSG;
	}
	/* UEFI 2.10 §5.3.2: 92 bytes up to one logical block. */
	if (hsize < 92 || hsize > PART_SECTOR || hsize > len) {
		return -EBADMSG;
	}
	memcpy(copy, s, hsize);
	memset(copy + 16, 0, 4);
	if (part_crc32(0, copy, hsize) != crc) {
		return -PNB_EGPT_HDR_CRC;
	}
	if (h->my_lba != lba || h->first_usable > h->last_usable) {
		return -PNB_EGPT_RANGE;
	}
	/* Entry sizes are 128 * 2^n (UEFI §5.3.2), so they tile sectors. */
	if (h->entry_size < 128 || h->entry_size > GPT_ENTRY_MAX_LEN ||
	    (h->entry_size & (h->entry_size - 1)) != 0 ||
	    h->n_entries > GPT_MAX_ENTRIES) {
		return -EMSGSIZE;
	}
	array_sectors =
	    ((uint64_t)h->n_entries * h->entry_size + PART_SECTOR - 1) /
	    PART_SECTOR;
	if (h->entries_lba < 1 || h->entries_lba >= disk_sectors ||
	    array_sectors > disk_sectors - h->entries_lba) {
		return -PNB_EGPT_RANGE;
	}
	return 0;
}

static void
gpt_name_fold(const uint8_t *p, char out[73])
{
	size_t i;

	/* UTF-16LE; anything outside printable ASCII becomes '?'. */
	for (i = 0; i < 36; i++) {
		uint16_t u = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);

		if (u == 0) {
			break;
		}
		out[i] = (u >= 0x20 && u < 0x7f) ? (char)u : '?';
	}
	out[i] = '\0';
}

static int
gpt_parse_entry(const uint8_t *p, size_t len, const struct gpt_header *h,
    unsigned index, struct ptable *t)
{
	static const uint8_t zero[16];
	struct cur c = cur_init(p, len);
	struct part e = {.number = index + 1};
	uint64_t first, last;

	cur_copy(&c, e.type_guid, 16);
	cur_copy(&c, e.guid, 16);
	first = cur_le64(&c);
	last = cur_le64(&c);
	cur_skip(&c, 8);
	gpt_name_fold(cur_bytes(&c, 72), e.name);
	if (c.err) {
		return c.err;
	}
	if (memcmp(e.type_guid, zero, 16) == 0) {
		return 0;
	}
	if (first > last || first < h->first_usable || last > h->last_usable) {
		return -PNB_EGPT_RANGE;
	}
	e.start = first;
	e.count = last - first + 1;
	return ptable_add(t, &e);
}

/*
 * Read one copy of the GPT (header at @lba plus its entry array) into @t.
 * The array is read a chunk at a time and checksummed as it streams by,
 * so a 1024-entry table needs no allocation.
 */
static int
gpt_read_copy(const struct blk *dev, uint64_t lba, struct ptable *t)
{
	uint64_t sectors = dev->size / PART_SECTOR;
	uint8_t sec[PART_SECTOR], chunk[GPT_ENTRY_MAX_LEN];
	struct gpt_header h;
	uint64_t off, total, done = 0;
	uint32_t crc = 0;
	unsigned index = 0;
	int r, entry_err = 0;

	if (lba >= sectors) {
		return -PNB_EGPT_RANGE;
	}
	r = blk_read(dev, lba * PART_SECTOR, sec, sizeof(sec));
	if (r < 0) {
		return r;
	}
	r = gpt_parse_header(sec, sizeof(sec), lba, sectors, &h);
	if (r < 0) {
		return r;
	}
	t->n = 0;
	off = h.entries_lba * PART_SECTOR;
	total = (uint64_t)h.n_entries * h.entry_size;
	while (done < total) {
		size_t n = sizeof(chunk), i;

		if (n > total - done) {
			n = (size_t)(total - done);
		}
		r = blk_read(dev, off + done, chunk, n);
		if (r < 0) {
			return r;
		}
		crc = part_crc32(crc, chunk, n);
		for (i = 0; i + h.entry_size <= n; i += h.entry_size) {
			r = gpt_parse_entry(
			    chunk + i, h.entry_size, &h, index++, t);
			if (r < 0 && r != -PNB_EGPT_RANGE) {
				return r;
			}
			/*
			 * Keep going so a bad array CRC, the likelier
			 * diagnosis, wins over one odd entry.
			 */
			if (r < 0 && entry_err == 0) {
				entry_err = r;
			}
		}
		done += n;
	}
	if (crc != h.entries_crc) {
		return -PNB_EGPT_ENTRIES_CRC;
	}
	if (entry_err) {
		return entry_err;
	}
	memcpy(t->disk_guid, h.disk_guid, 16);
	t->scheme = PART_GPT;
	return 0;
}

int
ptable_check(const struct ptable *t, uint64_t dev_sectors)
{
	size_t i, j;

	for (i = 0; i < t->n; i++) {
		const struct part *a = &t->parts[i];

		if (a->start > dev_sectors ||
		    a->count > dev_sectors - a->start) {
			return -PNB_EPART_RANGE;
		}
	}
	for (i = 0; i < t->n; i++) {
		for (j = i + 1; j < t->n; j++) {
			const struct part *a = &t->parts[i], *b = &t->parts[j];

			if (a->start < b->start + b->count &&
			    b->start < a->start + a->count) {
				return -PNB_EPART_OVERLAP;
			}
		}
	}
	return 0;
}

int
ptable_read(const struct blk *dev, struct ptable *out)
{
	uint8_t sec[PART_SECTOR];
	struct part e[4];
	uint64_t sectors = dev->size / PART_SECTOR;
	bool gpt = false;
	int i, r, primary;

	memset(out, 0, sizeof(*out));
	r = blk_read(dev, 0, sec, sizeof(sec));
	if (r < 0) {
		return r;
	}
	r = mbr_parse_sector(sec, sizeof(sec), e, &out->disk_id);
	if (r < 0) {
		return r;
	}
	for (i = 0; i < 4; i++) {
		gpt = gpt || e[i].mbr_type == MBR_TYPE_GPT_PROTECTIVE;
	}
	if (!gpt) {
		r = mbr_read(dev, sec, out);
		return r < 0 ? r : ptable_check(out, sectors);
	}
	primary = gpt_read_copy(dev, 1, out);
	if (primary == 0) {
		return ptable_check(out, sectors);
	}
	if (primary != -EIO && primary < 0 && sectors > 0) {
		/* The backup header sits in the disk's last sector. */
		r = gpt_read_copy(dev, sectors - 1, out);
		if (r == 0) {
			out->used_backup = true;
			out->primary_err = primary;
			return ptable_check(out, sectors);
		}
	}
	return primary;
}
