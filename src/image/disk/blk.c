#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "image/disk/blk.h"

int
blk_read(const struct blk *b, uint64_t off, void *dst, size_t len)
{
	uint8_t *p = dst;

	if (off > b->size || len > b->size - off) {
		return -EBADMSG;
	}
	while (len > 0) {
		int64_t n = b->ops->read(b, p, len, off);

		if (n < 0) {
			return (int)n;
		}
		/* A device that stops giving bytes is shorter than it said. */
		if (n == 0) {
			return -EBADMSG;
		}
		if ((uint64_t)n > len) {
			return -EIO;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int64_t
blk_mem_read(const struct blk *b, void *dst, size_t len, uint64_t off)
{
	memcpy(dst, (const uint8_t *)b->ctx + off, len);
	return (int64_t)len;
}

static const struct blk_ops blk_mem_ops = {.read = blk_mem_read};

void
blk_mem_init(struct blk *b, const void *p, size_t len)
{
	*b = (struct blk){.ops = &blk_mem_ops, .ctx = (void *)p, .size = len};
}

static int64_t
blk_sub_read(const struct blk *b, void *dst, size_t len, uint64_t off)
{
	const struct blk_sub *s = b->ctx;
	int r = blk_read(s->inner, s->off + off, dst, len);

	return r < 0 ? r : (int64_t)len;
}

static const struct blk_ops blk_sub_ops = {.read = blk_sub_read};

int
blk_sub_init(struct blk *b, struct blk_sub *sub, const struct blk *inner,
    uint64_t off, uint64_t len)
{
	if (off > inner->size || len > inner->size - off) {
		return -EINVAL;
	}
	*sub = (struct blk_sub){.inner = inner, .off = off};
	*b = (struct blk){.ops = &blk_sub_ops, .ctx = sub, .size = len};
	return 0;
}

static int64_t
blk_fault_read(const struct blk *b, void *dst, size_t len, uint64_t off)
{
	struct blk_fault *f = b->ctx;
	bool hit;

	f->count++;
	hit = f->nth != 0 &&
	    (f->count == f->nth || (f->persistent && f->count > f->nth));
	if (hit && !f->shorten) {
		return -EIO;
	}
	if (hit && len > 1) {
		len /= 2;
	}
	return f->inner->ops->read(f->inner, dst, len, off);
}

static const struct blk_ops blk_fault_ops = {.read = blk_fault_read};

void
blk_fault_init(struct blk *b, struct blk_fault *f)
{
	f->count = 0;
	*b = (struct blk){
	    .ops = &blk_fault_ops, .ctx = f, .size = f->inner->size};
}

static int64_t
blk_fd_read(const struct blk *b, void *dst, size_t len, uint64_t off)
{
	int fd = (int)(intptr_t)b->ctx;
	ssize_t n;

	if (off > INT64_MAX) {
		return -EINVAL;
	}
	do {
		n = pread(fd, dst, len, (off_t)off);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		return -errno;
	}
	return (int64_t)n;
}

static const struct blk_ops blk_fd_ops = {.read = blk_fd_read};

void
blk_fd_init(struct blk *b, int fd, uint64_t size)
{
	*b = (struct blk){
	    .ops = &blk_fd_ops, .ctx = (void *)(intptr_t)fd, .size = size};
}
