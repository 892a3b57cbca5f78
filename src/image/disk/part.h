#ifndef PNB_IMAGE_DISK_PART_H
#define PNB_IMAGE_DISK_PART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/disk/blk.h"

/*
 * Partition tables: MBR (with the extended/logical chain) and GPT (header
 * and entry-array CRC32, falling back to the backup header at the end of
 * the disk when the primary is damaged).  Sectors are 512 bytes, as in
 * every Raspberry Pi OS image.
 */

#define PART_SECTOR 512u
/* Limits for hostile tables: a real disk has a handful of partitions. */
#define PART_MAX          128u
#define PART_MAX_LOGICAL  64u
#define GPT_MAX_ENTRIES   1024u
#define GPT_ENTRY_MAX_LEN 4096u

enum part_scheme {
	PART_MBR = 1,
	PART_GPT = 2,
};

/* MBR type bytes the readers recognise. */
enum {
	MBR_TYPE_EXTENDED_CHS = 0x05,
	MBR_TYPE_FAT12 = 0x01,
	MBR_TYPE_FAT16_SMALL = 0x04,
	MBR_TYPE_FAT16 = 0x06,
	MBR_TYPE_FAT32_CHS = 0x0b,
	MBR_TYPE_FAT32_LBA = 0x0c,
	MBR_TYPE_FAT16_LBA = 0x0e,
	MBR_TYPE_EXTENDED_LBA = 0x0f,
	MBR_TYPE_LINUX = 0x83,
	MBR_TYPE_EXTENDED_LINUX = 0x85,
	MBR_TYPE_GPT_PROTECTIVE = 0xee,
	MBR_TYPE_EFI = 0xef,
};

struct part {
	unsigned number;       /* 1-4 primary, 5.. logical; GPT index + 1 */
	uint64_t start, count; /* in sectors */
	uint8_t mbr_type;      /* MBR only */
	bool bootable;         /* MBR only */
	uint8_t type_guid[16]; /* GPT only, on-disk byte order */
	uint8_t guid[16];      /* GPT only */
	char name[73];         /* GPT only, UTF-16 name folded to ASCII */
};

struct ptable {
	enum part_scheme scheme;
	uint32_t disk_id;      /* MBR: the LE32 at byte 440 (PARTUUID) */
	uint8_t disk_guid[16]; /* GPT */
	bool used_backup;      /* GPT: primary damaged, backup used */
	int primary_err;       /* GPT: why the primary was rejected */
	size_t n;
	struct part parts[PART_MAX];
};

/*
 * mbr_parse_sector() - decode the four entries of one MBR or EBR sector.
 * @s, @len: the sector (borrowed); at least 512 bytes are needed.
 * @out: four entries, zero-filled where the slot is empty.
 * Return: 0, -EBADMSG when shorter than 512 bytes, or -PNB_EMBR_SIG.
 */
int mbr_parse_sector(
    const uint8_t *s, size_t len, struct part out[4], uint32_t *disk_id);

struct gpt_header {
	uint64_t my_lba, alt_lba, first_usable, last_usable, entries_lba;
	uint32_t n_entries, entry_size, entries_crc;
	uint8_t disk_guid[16];
};

/*
 * gpt_parse_header() - decode and check a GPT header sector.
 * @s, @len: the sector (borrowed).
 * @lba: the sector number it was read from, which must match its
 * MyLBA field.
 * Return: 0; -PNB_EGPT_HDR_CRC; -EBADMSG (no "EFI PART", bad size);
 * -PNB_EGPT_RANGE (entry array outside @disk_sectors, MyLBA wrong, usable
 * range inverted); -EMSGSIZE (more entries or bigger entries than the
 * limits above).
 */
int gpt_parse_header(const uint8_t *s, size_t len, uint64_t lba,
    uint64_t disk_sectors, struct gpt_header *h);

/*
 * ptable_read() - read the partition table of a whole disk and check it:
 * every partition inside the device and none overlapping another.
 * @dev: the disk (borrowed).
 * @out: filled in; on failure its contents are unspecified.
 * Return: 0; -PNB_EMBR_SIG, -PNB_EGPT_HDR_CRC, -PNB_EGPT_ENTRIES_CRC,
 * -PNB_EGPT_RANGE, -PNB_EPART_RANGE, -PNB_EPART_OVERLAP; -EMSGSIZE for
 * too many partitions; -EBADMSG for a truncated device; or a read error.
 */
int ptable_read(const struct blk *dev, struct ptable *out);

/*
 * ptable_check() - check that every partition of @t lies inside a device
 * of @dev_sectors sectors and that no two overlap.
 * Return: 0, -PNB_EPART_RANGE or -PNB_EPART_OVERLAP.
 */
int ptable_check(const struct ptable *t, uint64_t dev_sectors);

/* part_crc32() - the CRC-32 (IEEE 802.3) GPT uses, continued from @crc. */
uint32_t part_crc32(uint32_t crc, const uint8_t *p, size_t n);

#endif
