#ifndef PNB_SERVER_HTTP_H
#define PNB_SERVER_HTTP_H

#include <stddef.h>

#include "core/loop.h"
#include "server/obs.h"

/*
 * The status endpoint: a small read-only HTTP/1.1 server on the loop.
 *   GET /                  self-refreshing HTML page of clients/timelines
 *   GET /api/status        JSON of every client with its timeline
 *   GET /api/clients/NAME  JSON of one client
 *   GET /api/status.txt    the `pinetboot status` table (?name=NAME: one)
 *   GET /metrics           Prometheus text format
 *   POST /api/reload       re-read clients and config (control socket only)
 * It listens on an optional TCP address (--http) and always on a Unix
 * control socket in the state directory, which `pinetboot status` and
 * `pinetboot client` use and whose file mode limits it to root.  The TCP
 * side only answers requests for its own address (Host), refuses
 * anything that changes state, and with a token (--http-token) serves
 * nothing but the page itself, which holds no data, without it.
 */
struct http_service;

/* Called for POST /api/reload; returns 0 or a negative error. */
typedef int (*http_reload_fn)(void *arg);

/* The longest token accepted (RFC 6750 b64token characters). */
#define HTTP_TOKEN_MAX 256

struct http_service_config {
	const char *tcp_listen; /* "ADDR:PORT" or empty/NULL for none */
	const char *token;      /* required on TCP; empty/NULL for none */
	bool show_ids;          /* MACs and serials on TCP too */
	const char *unix_path;  /* control socket path, or NULL */
	struct obs *obs;        /* borrowed; outlives the service */
	http_reload_fn reload;
	void *reload_arg;
};

/*
 * http_service_open() - start listening.
 * @msg: one line saying what failed.
 * Return: owned (close with http_service_close()), or NULL with @msg set.
 */
struct http_service *http_service_open(struct loop *l,
    const struct http_service_config *cfg, char *msg, size_t msglen);
void http_service_close(struct http_service *h);

/*
 * http_service_set_token() - from now on require @token (copied; empty
 * or NULL: none) on the TCP port.
 */
void http_service_set_token(struct http_service *h, const char *token);

/*
 * http_token_load() - read the token from @path: a regular file that only
 * its owner (this user or root) may read or write, whose first line is
 * 16 to HTTP_TOKEN_MAX characters of A-Z a-z 0-9 - . _ ~ + / (then '='
 * padding allowed).  @out holds HTTP_TOKEN_MAX + 1 bytes.
 * Return: 0, or a negative errno with @msg saying what to change.
 */
int http_token_load(const char *path, char *out, char *msg, size_t msglen);

#endif
