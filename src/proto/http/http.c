#include <errno.h>
#include <string.h>

#include "core/cur.h"
#include "proto/http/http.h"

/* RFC 9110 §5.6.2 token characters. */
static int
http_is_tchar(uint8_t ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9')) {
		return 1;
	}
	return ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/*
 * The next line of the head, without its CRLF (a bare LF is accepted, as
 * RFC 9112 §2.2 allows).  Return: 1 with the line, 0 when no line end is
 * in the buffer yet.
 */
static int
http_line(struct cur *c, const uint8_t **line, size_t *len)
{
	const uint8_t *start = cur_peek(c);
	const uint8_t *nl = start ? memchr(start, '\n', cur_left(c)) : NULL;
	size_t n;

	if (!nl) {
		return 0;
	}
	n = (size_t)(nl - start);
	cur_skip(c, n + 1);
	if (n && start[n - 1] == '\r') {
		n--;
	}
	*line = start;
	*len = n;
	return 1;
}

static int
http_parse_request_line(const uint8_t *l, size_t n, struct http_req *out)
{
	size_t i = 0, t;

	while (i < n && http_is_tchar(l[i])) {
		i++;
	}
	if (i == 0 || i >= n || l[i] != ' ') {
		return -EBADMSG;
	}
	out->method = l;
	out->method_len = i;
	t = ++i;
	while (i < n && l[i] > 0x20 && l[i] < 0x7f) {
		i++;
	}
	if (i == t || i >= n || l[i] != ' ') {
		return -EBADMSG;
	}
	out->target = l + t;
	out->target_len = i - t;
	i++;
	if (n - i != 8 || memcmp(l + i, "HTTP/1.", 7) != 0 ||
	    (l[i + 7] != '0' && l[i + 7] != '1')) {
		return -EBADMSG;
	}
	out->minor_version = l[i + 7] - '0';
	return 0;
}

int
http_parse_request(const uint8_t *buf, size_t len, struct http_req *out)
{
	struct cur c = cur_init(buf, len > HTTP_HEAD_MAX ? HTTP_HEAD_MAX : len);
	const uint8_t *line;
	size_t n, i;
	int r;

	memset(out, 0, sizeof(*out));
	if (!http_line(&c, &line, &n)) {
		return len >= HTTP_HEAD_MAX ? -EMSGSIZE : -EAGAIN;
	}
	r = http_parse_request_line(line, n, out);
	if (r < 0) {
		return r;
	}
	for (;;) {
		if (!http_line(&c, &line, &n)) {
			return len >= HTTP_HEAD_MAX ? -EMSGSIZE : -EAGAIN;
		}
		if (n == 0) {
			return (int)c.off;
		}
		if (out->nheaders == HTTP_HEADERS_MAX) {
			return -EMSGSIZE;
		}
		/* field-name ":" OWS field-value (RFC 9112 §5). */
		for (i = 0; i < n && http_is_tchar(line[i]); i++) {
		}
		if (i == 0 || i >= n || line[i] != ':') {
			return -EBADMSG;
		}
		for (; i < n; i++) {
			if (line[i] < 0x20 && line[i] != '\t') {
				return -EBADMSG;
			}
		}
		out->nheaders++;
	}
}

int
http_target_is(const struct http_req *r, const char *path)
{
	const uint8_t *q = memchr(r->target, '?', r->target_len);
	size_t n = q ? (size_t)(q - r->target) : r->target_len;

	return strlen(path) == n && memcmp(r->target, path, n) == 0;
}
