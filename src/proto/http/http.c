#include <errno.h>
#include <stdbool.h>
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

/* Header names are case-insensitive (RFC 9110 §5.1). */
static bool
http_name_is(const uint8_t *p, size_t n, const char *name)
{
	size_t i;

	if (n != strlen(name)) {
		return false;
	}
	for (i = 0; i < n; i++) {
		if ((p[i] | 0x20) != name[i]) {
			return false;
		}
	}
	return true;
}

/* Keep @v (@n bytes) in *@dst unless a value is there already. */
static int
http_keep(const uint8_t **dst, size_t *dlen, const uint8_t *v, size_t n)
{
	if (*dst) {
		return -EBADMSG;
	}
	*dst = v;
	*dlen = n;
	return 0;
}

int
http_parse_request(const uint8_t *buf, size_t len, struct http_req *out)
{
	struct cur c = cur_init(buf, len > HTTP_HEAD_MAX ? HTTP_HEAD_MAX : len);
	const uint8_t *line, *v;
	size_t n, i, name, vlen;
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
		name = i;
		for (; i < n; i++) {
			if (line[i] < 0x20 && line[i] != '\t') {
				return -EBADMSG;
			}
		}
		out->nheaders++;
		/* field-value without the OWS around it */
		v = line + name + 1;
		vlen = n - name - 1;
		while (vlen && (v[0] == ' ' || v[0] == '\t')) {
			v++;
			vlen--;
		}
		while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) {
			vlen--;
		}
		r = 0;
		if (http_name_is(line, name, "host")) {
			r = http_keep(&out->host, &out->host_len, v, vlen);
		} else if (http_name_is(line, name, "authorization")) {
			r = http_keep(&out->authorization,
			    &out->authorization_len, v, vlen);
		}
		if (r < 0) {
			return r;
		}
	}
}

int
http_target_is(const struct http_req *r, const char *path)
{
	const uint8_t *q = memchr(r->target, '?', r->target_len);
	size_t n = q ? (size_t)(q - r->target) : r->target_len;

	return strlen(path) == n && memcmp(r->target, path, n) == 0;
}
