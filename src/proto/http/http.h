#ifndef PNB_PROTO_HTTP_HTTP_H
#define PNB_PROTO_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>

/*
 * The request head of HTTP/1.x (RFC 9112 §3), as far as a read-only status
 * endpoint needs it: method, target, version and the header count.  Header
 * values are not kept: nothing here depends on them.
 */
#define HTTP_HEAD_MAX    8192 /* larger heads are refused */
#define HTTP_HEADERS_MAX 64

struct http_req {
	const uint8_t *method; /* borrowed from the input */
	size_t method_len;
	const uint8_t *target;
	size_t target_len;
	int minor_version; /* 0 or 1 */
	size_t nheaders;
};

/*
 * http_parse_request() - parse a request head.
 * @buf, @len: the bytes received so far (borrowed).
 * @out: filled on success; borrows from @buf.
 *
 * Return: the length of the head including the blank line; -EAGAIN when
 * the head is not complete yet; -EBADMSG when it is malformed; -EMSGSIZE
 * when it exceeds HTTP_HEAD_MAX bytes or HTTP_HEADERS_MAX header lines.
 */
int http_parse_request(const uint8_t *buf, size_t len, struct http_req *out);

/*
 * http_target_is() - does the path of the target (before any '?') equal
 * @path?
 */
int http_target_is(const struct http_req *r, const char *path);

#endif
