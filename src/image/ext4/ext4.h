#ifndef PNB_IMAGE_EXT4_EXT4_H
#define PNB_IMAGE_EXT4_EXT4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Extraction of an ext2/3/4 file system through libext2fs into a
 * directory, keeping everything a root file system needs: contents with
 * holes, inline data, fast and slow symlinks, hard links, device nodes,
 * FIFOs, sockets, extended attributes (security.capability included),
 * owners, modes and nanosecond times.
 *
 * Every write is relative to a directory fd the extractor created itself
 * (openat, mkdirat, symlinkat, mknodat, linkat with O_NOFOLLOW and
 * O_EXCL), and every name is checked, so no image can write outside the
 * destination: a name with '/' or NUL, a "." or ".." in the wrong place,
 * a duplicate name, or a directory reachable twice is an error.
 *
 * libext2fs is not written for hostile images, so this runs only in the
 * CLI, after the partition table checks, never inside the server.
 */

struct ext4_progress {
	/*
	 * Called now and then with bytes of file data written so far; a
	 * negative return (an interrupt) stops the extraction with it.
	 */
	int (*fn)(void *arg, uint64_t done);
	void *arg;
};

/*
 * For a disk still being written (decompressed) while it is read: @fn
 * returns once the first @end bytes of the disk are there, or a negative
 * code that stops the extraction with it.
 */
struct ext4_wait {
	int (*fn)(void *arg, uint64_t end);
	void *arg;
};

struct ext4_stats {
	uint64_t files, dirs, symlinks, hardlinks, specials, xattrs;
	/*
	 * Overlay markers left out: user.overlay.* and trusted.overlay.*
	 * attributes and 0/0 character devices (whiteouts), which the
	 * layers of docs/fleet.md reserve.
	 */
	uint64_t markers;
	uint64_t bytes;      /* file data written */
	uint64_t used_bytes; /* in use on the file system, for progress */
	long ext2_err;       /* errcode_t behind -PNB_EEXT4, or 0 */
	char where[256];     /* path inside the image where it failed */
};

/*
 * ext4_extract() - copy the file system at byte @offset of @path (a disk
 * image or block device, opened read-only), @size bytes long, into the
 * empty directory @destfd (borrowed).
 * @wait: NULL, or how to wait for bytes of @path not yet written.
 * @st: statistics and, on failure, the libext2fs code and the path.
 * @max_bytes: the most file data the caller lets it write (an import
 * limit, the free space).  When the file system says it holds more
 * (st->used_bytes), nothing is written; when the data written goes past
 * it anyway (the superblock lied), the extraction stops there.  Either
 * way the result is -ENOSPC with st->bytes telling which (0 or more).
 * Return: 0; -PNB_EEXT4 (st->ext2_err says which libext2fs error, see
 * ext4_strerror()); -PNB_ENAME; -PNB_EDIR_LOOP; -PNB_EPART_RANGE (the
 * file system is bigger than its partition); -EFBIG (cross-linked blocks
 * would expand the data past twice the file system size); -ENOSPC (see
 * @max_bytes); -ENAMETOOLONG; -EMSGSIZE (deeper than 256 levels); or
 * -errno from writing.
 */
int ext4_extract(const char *path, uint64_t offset, uint64_t size, int destfd,
    uint64_t max_bytes, const struct ext4_progress *prog,
    const struct ext4_wait *wait, struct ext4_stats *st);

/*
 * ext4_probe() - is there an ext2/3/4 superblock in @sb (the 1024 bytes
 * at offset 1024 of a partition)?
 */
bool ext4_probe(const uint8_t *sb, size_t len);

/* ext4_strerror() - the libext2fs message for an errcode_t; static. */
const char *ext4_strerror(long ec);

#endif
