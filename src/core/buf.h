#ifndef PNB_CORE_BUF_H
#define PNB_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

/*
 * The one growable byte buffer.  Its hard maximum is fixed at init, so a
 * peer can never make it grow past what the config allows.  When an append
 * fails the buffer frees its contents (as curl's dynbuf does), so a caller
 * that ignores one failure cannot go on with half a message.  The contents
 * are always NUL-terminated for convenience; the NUL is not counted in len
 * and does not count towards max.
 */
struct buf {
	uint8_t *p; /* owned */
	size_t len, cap, max;
};

void buf_init(struct buf *b, size_t max);
void buf_fini(struct buf *b);

/* buf_reset() - drop the contents, keep the memory. */
void buf_reset(struct buf *b);

/*
 * buf_add() - append @n bytes from @src (borrowed).
 * Return: 0, -EMSGSIZE past max, or -ENOMEM; on failure the buffer is
 * emptied and its memory released.
 */
int buf_add(struct buf *b, const void *src, size_t n);
int buf_add_str(struct buf *b, const char *s);

/* buf_printf() - append formatted text; failures as for buf_add(). */
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* buf_consume() - drop the first @n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);

/*
 * buf_steal() - take the contents.
 * Return: owned bytes (free with free()), NUL-terminated, or NULL when
 * empty; the buffer is reset to empty.  *@len gets the length if non-NULL.
 */
uint8_t *buf_steal(struct buf *b, size_t *len);

#endif
