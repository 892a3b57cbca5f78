#ifndef PNB_CORE_CUR_H
#define PNB_CORE_CUR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Bounds-checked cursors over byte buffers.  Every codec reads and writes
 * packet and disk bytes only through these.
 *
 * The first failure sets err (-EBADMSG for a reader that runs out,
 * -EMSGSIZE for a writer that runs out of room); after that every call does
 * nothing and returns zero, so a fixed header can be read straight through
 * and checked once with cur_end() or by looking at err.
 *
 * Function names say the byte order: be for network order, le for disk
 * formats.
 */
struct cur {
	const uint8_t *p; /* borrowed */
	size_t len, off;
	int err;
};

struct wcur {
	uint8_t *p; /* borrowed */
	size_t cap, off;
	int err;
};

/* cur_init() - read @len bytes at @p (borrowed). */
struct cur cur_init(const void *p, size_t len);

static inline size_t
cur_left(const struct cur *c)
{
	return c->err ? 0 : c->len - c->off;
}

/* cur_peek() - the unread bytes (cur_left() of them), or NULL if failed. */
static inline const uint8_t *
cur_peek(const struct cur *c)
{
	return c->err ? NULL : c->p + c->off;
}

uint8_t cur_u8(struct cur *c);
uint16_t cur_be16(struct cur *c);
uint32_t cur_be32(struct cur *c);
uint64_t cur_be64(struct cur *c);
uint16_t cur_le16(struct cur *c);
uint32_t cur_le32(struct cur *c);
uint64_t cur_le64(struct cur *c);

/*
 * cur_bytes() - borrow the next @n bytes.
 * Return: a pointer into the cursor's buffer, or NULL (and err set) when
 * fewer than @n bytes remain.  A zero-length borrow returns a non-NULL
 * pointer unless the cursor has already failed.
 */
const uint8_t *cur_bytes(struct cur *c, size_t n);

/* cur_copy() - copy the next @n bytes to @dst; zero-fills @dst on failure. */
void cur_copy(struct cur *c, void *dst, size_t n);

/*
 * cur_sub() - carve the next @n bytes out as their own cursor.  On failure
 * the returned cursor is already failed with the same error.
 */
struct cur cur_sub(struct cur *c, size_t n);

void cur_skip(struct cur *c, size_t n);

/* cur_pad4() - skip to the next multiple of 4 from the cursor's start. */
void cur_pad4(struct cur *c);

/* cur_fail() - mark the cursor failed with @err unless it already is. */
void cur_fail(struct cur *c, int err);

/*
 * cur_end() - finish a read.
 * Return: the cursor's error, else -EBADMSG if bytes remain and
 * @allow_trailing is false, else 0.
 */
int cur_end(const struct cur *c, bool allow_trailing);

/* wcur_init() - write at most @cap bytes into @p (borrowed). */
struct wcur wcur_init(void *p, size_t cap);

static inline size_t
wcur_left(const struct wcur *w)
{
	return w->err ? 0 : w->cap - w->off;
}

void wcur_u8(struct wcur *w, uint8_t v);
void wcur_be16(struct wcur *w, uint16_t v);
void wcur_be32(struct wcur *w, uint32_t v);
void wcur_be64(struct wcur *w, uint64_t v);
void wcur_le16(struct wcur *w, uint16_t v);
void wcur_le32(struct wcur *w, uint32_t v);
void wcur_le64(struct wcur *w, uint64_t v);
void wcur_bytes(struct wcur *w, const void *src, size_t n);
void wcur_zero(struct wcur *w, size_t n);

/* wcur_pad4() - append zero bytes up to the next multiple of 4. */
void wcur_pad4(struct wcur *w);

/*
 * wcur_reserve() - claim @n bytes to fill in later (a length field written
 * after its contents).
 * Return: pointer to the claimed bytes, or NULL when they do not fit.
 */
uint8_t *wcur_reserve(struct wcur *w, size_t n);

#endif
