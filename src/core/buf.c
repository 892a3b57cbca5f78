#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

void
buf_init(struct buf *b, size_t max)
{
	*b = (struct buf){.p = NULL, .len = 0, .cap = 0, .max = max};
}

void
buf_fini(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->p) {
		b->p[0] = 0;
	}
}

static int
buf_grow(struct buf *b, size_t need)
{
	size_t cap;
	uint8_t *p;

	if (need > b->max) {
		buf_fini(b);
		return -EMSGSIZE;
	}
	if (need + 1 <= b->cap) {
		return 0;
	}
	cap = b->cap ? b->cap : 64;
	while (cap < need + 1) {
		cap *= 2;
	}
	if (cap > b->max + 1) {
		cap = b->max + 1;
	}
	p = realloc(b->p, cap);
	if (!p) {
		buf_fini(b);
		return -ENOMEM;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

int
buf_add(struct buf *b, const void *src, size_t n)
{
	int r;

	if (n > b->max - b->len) {
		buf_fini(b);
		return -EMSGSIZE;
	}
	r = buf_grow(b, b->len + n);
	if (r < 0) {
		return r;
	}
	if (n) {
		memcpy(b->p + b->len, src, n);
	}
	b->len += n;
	b->p[b->len] = 0;
	return 0;
}

int
buf_add_str(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		buf_fini(b);
		return -EINVAL;
	}
	if ((size_t)n > b->max - b->len) {
		buf_fini(b);
		return -EMSGSIZE;
	}
	r = buf_grow(b, b->len + (size_t)n);
	if (r < 0) {
		return r;
	}
	va_start(ap, fmt);
	vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
	b->p[b->len] = 0;
}

uint8_t *
buf_steal(struct buf *b, size_t *len)
{
	uint8_t *p = b->p;

	if (len) {
		*len = b->len;
	}
	if (b->len == 0) {
		free(p);
		p = NULL;
	}
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}
