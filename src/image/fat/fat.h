#ifndef PNB_IMAGE_FAT_FAT_H
#define PNB_IMAGE_FAT_FAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/disk/blk.h"

/*
 * A read-only FAT12/16/32 reader with long file names, over a blkdev.
 * Written for hostile volumes: every cluster number is range-checked,
 * chains are walked with Brent's cycle detection (so a loop is found in
 * O(chain) steps and O(1) memory), a directory may not contain one of its
 * ancestors, and the total work of a tree walk is bounded.
 */

#define FAT_NAME_MAX  1024u /* UTF-8 bytes of a 255-unit long name */
#define FAT_DEPTH_MAX 32u
/* FAT spec: a directory holds at most 65536 entries of 32 bytes. */
#define FAT_DIR_MAX_ENTRIES 65536u
/* Entries a whole tree walk may visit before it is called hostile. */
#define FAT_WALK_MAX_ENTRIES (1u << 20)

enum {
	FAT_ATTR_RO = 0x01,
	FAT_ATTR_HIDDEN = 0x02,
	FAT_ATTR_SYSTEM = 0x04,
	FAT_ATTR_VOLUME = 0x08,
	FAT_ATTR_DIR = 0x10,
	FAT_ATTR_ARCHIVE = 0x20,
	FAT_ATTR_LFN = 0x0f,
};

struct fat_vol {
	const struct blk *dev; /* borrowed */
	unsigned type;         /* 12, 16 or 32 */
	uint32_t sector_size, cluster_size;
	uint64_t fat_off;      /* byte offset of the first FAT */
	uint64_t fat_len;      /* bytes in one FAT */
	uint64_t root_off;     /* FAT12/16: byte offset of the root dir */
	uint32_t root_entries; /* FAT12/16 */
	uint32_t root_cluster; /* FAT32 */
	uint64_t data_off;     /* byte offset of cluster 2 */
	uint32_t nclusters;    /* valid cluster numbers: 2 .. nclusters+1 */
	char label[12];
	/* One FAT sector, cached: chains are walked entry by entry. */
	uint64_t cache_off;
	bool cache_ok;
	uint8_t cache[4096];
};

struct fat_dirent {
	char name[FAT_NAME_MAX]; /* UTF-8, validated: no '/', not . or .. */
	uint8_t attr;
	uint32_t cluster; /* first cluster, 0 for an empty file */
	uint32_t size;
	uint16_t wdate, wtime, adate, cdate, ctime;
	uint8_t ctenth;
};

/*
 * fat_parse_bpb() - decode and check the boot sector.
 * @s, @len: the first sector (borrowed).
 * @dev_size: bytes in the device the volume lives on.
 * Return: 0 or -PNB_EFAT_BPB (any inconsistent field, or a volume larger
 * than the device), -EBADMSG when @len is too short.
 */
int fat_parse_bpb(
    const uint8_t *s, size_t len, uint64_t dev_size, struct fat_vol *v);

/*
 * fat_open() - read the boot sector of @dev (borrowed; must outlive @v).
 * Return: as fat_parse_bpb(), or a read error.
 */
int fat_open(struct fat_vol *v, const struct blk *dev);

/*
 * fat_dir_iter() - call @cb for each entry of a directory.
 * @dir: the directory, or NULL for the root.
 * @cb: gets each entry (borrowed for the call); a non-zero return stops
 * the iteration and is returned.
 * Return: 0, @cb's value, -PNB_EFAT_LOOP, -PNB_EFAT_RANGE, -PNB_ENAME,
 * -EMSGSIZE (directory too large), or a read error.
 */
int fat_dir_iter(struct fat_vol *v, const struct fat_dirent *dir,
    int (*cb)(void *arg, const struct fat_dirent *e), void *arg);

/*
 * fat_read_file() - stream a file's bytes to @sink, @buflen bytes at a
 * time at most, through @buf (caller's memory, >= one cluster).
 * Return: 0, @sink's negative value, -PNB_EFAT_LOOP, -PNB_EFAT_RANGE,
 * -EBADMSG (chain shorter than the size), -EINVAL (@buf too small).
 */
int fat_read_file(struct fat_vol *v, const struct fat_dirent *e, uint8_t *buf,
    size_t buflen, int (*sink)(void *arg, const uint8_t *p, size_t n),
    void *arg);

/*
 * A tree walk for extraction: enter() before a directory's entries (its
 * return value is passed back on error), file() for each other entry,
 * leave() after.  @depth is 1 for the root's children.
 */
struct fat_visitor {
	int (*enter)(void *arg, unsigned depth, const struct fat_dirent *e);
	int (*file)(void *arg, unsigned depth, const struct fat_dirent *e);
	int (*leave)(void *arg, unsigned depth, const struct fat_dirent *e);
	/* Optional: told which entry the walk itself rejected, and why. */
	void (*reject)(void *arg, const struct fat_dirent *e, int err);
	void *arg;
};

/*
 * fat_walk() - visit the whole tree below the root.
 * Return: 0, a visitor's negative value, -PNB_EDIR_LOOP (a directory that
 * contains itself or an ancestor), -EMSGSIZE (deeper than FAT_DEPTH_MAX
 * or more than FAT_WALK_MAX_ENTRIES entries), or any fat_dir_iter() error.
 */
int fat_walk(struct fat_vol *v, const struct fat_visitor *vis);

/*
 * fat_time() - seconds since the epoch for a FAT date and time, read as
 * UTC (FAT stores local time without a zone; UTC keeps results stable).
 */
int64_t fat_time(uint16_t date, uint16_t time);

#endif
