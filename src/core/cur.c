#include <errno.h>
#include <string.h>

#include "core/cur.h"

struct cur
cur_init(const void *p, size_t len)
{
	return (struct cur){.p = p, .len = len, .off = 0, .err = 0};
}

void
cur_fail(struct cur *c, int err)
{
	if (c->err == 0) {
		c->err = err;
	}
}

/*
 * The one bounds check every reader goes through.  Written as
 * n > len - off so that a huge n cannot wrap around.
 */
static const uint8_t *
cur_take(struct cur *c, size_t n)
{
	const uint8_t *q;

	if (c->err) {
		return NULL;
	}
	if (n > c->len - c->off) {
		c->err = -EBADMSG;
		return NULL;
	}
	q = c->p + c->off;
	c->off += n;
	return q;
}

uint8_t
cur_u8(struct cur *c)
{
	const uint8_t *q = cur_take(c, 1);

	return q ? q[0] : 0;
}

uint16_t
cur_be16(struct cur *c)
{
	const uint8_t *q = cur_take(c, 2);

	return q ? (uint16_t)(q[0] << 8 | q[1]) : 0;
}

uint32_t
cur_be32(struct cur *c)
{
	const uint8_t *q = cur_take(c, 4);

	if (!q) {
		return 0;
	}
	return (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 |
	    (uint32_t)q[2] << 8 | q[3];
}

uint64_t
cur_be64(struct cur *c)
{
	uint64_t hi = cur_be32(c);

	return hi << 32 | cur_be32(c);
}

uint16_t
cur_le16(struct cur *c)
{
	const uint8_t *q = cur_take(c, 2);

	return q ? (uint16_t)(q[1] << 8 | q[0]) : 0;
}

uint32_t
cur_le32(struct cur *c)
{
	const uint8_t *q = cur_take(c, 4);

	if (!q) {
		return 0;
	}
	return (uint32_t)q[3] << 24 | (uint32_t)q[2] << 16 |
	    (uint32_t)q[1] << 8 | q[0];
}

uint64_t
cur_le64(struct cur *c)
{
	uint64_t lo = cur_le32(c);

	return (uint64_t)cur_le32(c) << 32 | lo;
}

const uint8_t *
cur_bytes(struct cur *c, size_t n)
{
	return cur_take(c, n);
}

void
cur_copy(struct cur *c, void *dst, size_t n)
{
	const uint8_t *q = cur_take(c, n);

	if (q) {
		memcpy(dst, q, n);
	} else if (n) {
		memset(dst, 0, n);
	}
}

struct cur
cur_sub(struct cur *c, size_t n)
{
	const uint8_t *q = cur_take(c, n);

	if (!q) {
		return (struct cur){
		    .p = NULL, .len = 0, .off = 0, .err = c->err};
	}
	return cur_init(q, n);
}

void
cur_skip(struct cur *c, size_t n)
{
	(void)cur_take(c, n);
}

void
cur_pad4(struct cur *c)
{
	size_t pad = (4 - (c->off & 3)) & 3;

	cur_skip(c, pad);
}

int
cur_end(const struct cur *c, bool allow_trailing)
{
	if (c->err) {
		return c->err;
	}
	if (!allow_trailing && c->off != c->len) {
		return -EBADMSG;
	}
	return 0;
}

struct wcur
wcur_init(void *p, size_t cap)
{
	return (struct wcur){.p = p, .cap = cap, .off = 0, .err = 0};
}

static uint8_t *
wcur_take(struct wcur *w, size_t n)
{
	uint8_t *q;

	if (w->err) {
		return NULL;
	}
	if (n > w->cap - w->off) {
		w->err = -EMSGSIZE;
		return NULL;
	}
	q = w->p + w->off;
	w->off += n;
	return q;
}

uint8_t *
wcur_reserve(struct wcur *w, size_t n)
{
	return wcur_take(w, n);
}

void
wcur_u8(struct wcur *w, uint8_t v)
{
	uint8_t *q = wcur_take(w, 1);

	if (q) {
		q[0] = v;
	}
}

void
wcur_be16(struct wcur *w, uint16_t v)
{
	uint8_t *q = wcur_take(w, 2);

	if (q) {
		q[0] = (uint8_t)(v >> 8);
		q[1] = (uint8_t)v;
	}
}

void
wcur_be32(struct wcur *w, uint32_t v)
{
	uint8_t *q = wcur_take(w, 4);

	if (q) {
		q[0] = (uint8_t)(v >> 24);
		q[1] = (uint8_t)(v >> 16);
		q[2] = (uint8_t)(v >> 8);
		q[3] = (uint8_t)v;
	}
}

void
wcur_be64(struct wcur *w, uint64_t v)
{
	wcur_be32(w, (uint32_t)(v >> 32));
	wcur_be32(w, (uint32_t)v);
}

void
wcur_le16(struct wcur *w, uint16_t v)
{
	uint8_t *q = wcur_take(w, 2);

	if (q) {
		q[0] = (uint8_t)v;
		q[1] = (uint8_t)(v >> 8);
	}
}

void
wcur_le32(struct wcur *w, uint32_t v)
{
	uint8_t *q = wcur_take(w, 4);

	if (q) {
		q[0] = (uint8_t)v;
		q[1] = (uint8_t)(v >> 8);
		q[2] = (uint8_t)(v >> 16);
		q[3] = (uint8_t)(v >> 24);
	}
}

void
wcur_le64(struct wcur *w, uint64_t v)
{
	wcur_le32(w, (uint32_t)v);
	wcur_le32(w, (uint32_t)(v >> 32));
}

void
wcur_bytes(struct wcur *w, const void *src, size_t n)
{
	uint8_t *q = wcur_take(w, n);

	if (q && n) {
		memcpy(q, src, n);
	}
}

void
wcur_zero(struct wcur *w, size_t n)
{
	uint8_t *q = wcur_take(w, n);

	if (q && n) {
		memset(q, 0, n);
	}
}

void
wcur_pad4(struct wcur *w)
{
	wcur_zero(w, (4 - (w->off & 3)) & 3);
}
