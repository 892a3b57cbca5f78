#ifndef PNB_IMAGE_DISK_BLK_H
#define PNB_IMAGE_DISK_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A read-only block device: every byte the image readers see comes through
 * one of these ops tables, so tests and fuzzers feed the same code memory
 * buffers, and the fault wrapper can fail or shorten any single read (the
 * way sqlite's test_vfs wraps the real VFS).
 */
struct blk;

struct blk_ops {
	/*
	 * read() - copy up to @len bytes at byte offset @off into @dst;
	 * blk_read() has already checked the range against the size.
	 * Return: bytes copied (fewer than @len only on a short read), or a
	 * negative error code.
	 */
	int64_t (*read)(
	    const struct blk *b, void *dst, size_t len, uint64_t off);
};

struct blk {
	const struct blk_ops *ops;
	void *ctx;     /* borrowed by the ops */
	uint64_t size; /* bytes */
};

/*
 * blk_read() - read exactly @len bytes at @off.  Short reads are retried;
 * a read that returns nothing before @len bytes are in is a truncated
 * device.
 * Return: 0; -EBADMSG when the device ends before @off + @len (a truncated
 * image); or the error of the ops.
 */
int blk_read(const struct blk *b, uint64_t off, void *dst, size_t len);

/* blk_mem_init() - a device over @len bytes at @p (borrowed). */
void blk_mem_init(struct blk *b, const void *p, size_t len);

/*
 * A view of @len bytes of @inner starting at @off, for one partition.
 * The view borrows @inner; the caller keeps @sub alive while @b is used.
 */
struct blk_sub {
	const struct blk *inner; /* borrowed */
	uint64_t off;
};

/*
 * blk_sub_init() - make @b a view of part of @inner.
 * Return: 0, or -EINVAL when the range lies outside @inner.
 */
int blk_sub_init(struct blk *b, struct blk_sub *sub, const struct blk *inner,
    uint64_t off, uint64_t len);

/*
 * The fault-injecting wrapper used by the torture tests: read number @nth
 * (counting from 1) fails with -EIO, or, with @shorten, returns half of
 * what was asked.  With @persistent every read from @nth on misbehaves.
 * @count counts the reads seen, so a clean run tells the test how many
 * reads there are to fail.
 */
struct blk_fault {
	const struct blk *inner; /* borrowed */
	unsigned nth;            /* 0: never fail */
	bool shorten, persistent;
	unsigned count;
};

/* blk_fault_init() - make @b read @inner through @f (both borrowed). */
void blk_fault_init(struct blk *b, struct blk_fault *f);

/*
 * blk_fd_init() - a device over the open file or block device @fd
 * (borrowed; the caller closes it) of @size bytes, read with pread().
 */
void blk_fd_init(struct blk *b, int fd, uint64_t size);

#endif
