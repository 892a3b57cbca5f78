#ifndef PNB_CLI_CONTROL_H
#define PNB_CLI_CONTROL_H

#include "core/buf.h"

/*
 * cli_control_request() - one HTTP request over the running server's
 * control socket (STATE/pinetboot.sock).
 * @state_dir: the server's state directory (borrowed).
 * @method, @path: e.g. "GET", "/api/status".
 * @body: receives the response body (caller-initialised buf).
 * @status: receives the HTTP status code.
 *
 * Return: 0, or -ENOENT/-ECONNREFUSED when no server is running there,
 * -EBADMSG for a reply that is not HTTP, or another -errno.
 */
int cli_control_request(const char *state_dir, const char *method,
    const char *path, struct buf *body, int *status);

#endif
