#ifndef PNB_PROTO_HTTP_HTTP_H
#define PNB_PROTO_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>

/*
 * The request head of HTTP/1.x (RFC 9112 §3), as far as a read-only status
 * endpoint needs it: method, target, version, the header count, and the
 * two headers it acts on: Host (checked against the server's address, to
 * keep DNS rebinding out) and Authorization (the optional read token).
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
	/* Header values without surrounding whitespace; NULL when absent. */
	const uint8_t *host;
	size_t host_len;
	const uint8_t *authorization;
	size_t authorization_len;
};

/*
 * http_parse_request() - parse a request head.
 * @buf, @len: the bytes received so far (borrowed).
 * @out: filled on success; borrows from @buf.
 *
 * Return: the length of the head including the blank line; -EAGAIN when
 * the head is not complete yet; -EBADMSG when it is malformed (including a
 * second Host or Authorization header, RFC 9112 §3.2); -EMSGSIZE when it
 * exceeds HTTP_HEAD_MAX bytes or HTTP_HEADERS_MAX header lines.
 */
int http_parse_request(const uint8_t *buf, size_t len, struct http_req *out);

/*
 * http_target_is() - does the path of the target (before any '?') equal
 * @path?
 */
int http_target_is(const struct http_req *r, const char *path);

#endif
