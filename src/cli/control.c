#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/control.h"
#include "server/serve.h"

/* A server that does not answer within this time is hung. */
#define CONTROL_TIMEOUT_MS 5000

int
cli_control_request(const char *state_dir, const char *method, const char *path,
    struct buf *body, int *status)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char req[512];
	struct buf reply;
	const char *sep;
	int fd, n, r = 0;

	n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", state_dir,
	    SERVE_CONTROL_SOCKET);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path)) {
		return -ENAMETOOLONG;
	}
	n = snprintf(req, sizeof(req),
	    "%s %s HTTP/1.0\r\nHost: pinetboot\r\n"
	    "\r\n",
	    method, path);
	if (n < 0 || (size_t)n >= sizeof(req)) {
		return -ENAMETOOLONG;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	buf_init(&reply, 16u << 20);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    write(fd, req, (size_t)n) != n) {
		r = -errno;
		goto out;
	}
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		char tmp[4096];
		ssize_t got;

		if (poll(&pfd, 1, CONTROL_TIMEOUT_MS) <= 0) {
			r = -ETIMEDOUT;
			goto out;
		}
		got = read(fd, tmp, sizeof(tmp));
		if (got < 0) {
			r = -errno;
			goto out;
		}
		if (got == 0) {
			break;
		}
		r = buf_add(&reply, tmp, (size_t)got);
		if (r < 0) {
			goto out;
		}
	}
	if (reply.len < 12 || memcmp(reply.p, "HTTP/1.", 7) != 0) {
		r = -EBADMSG;
		goto out;
	}
	*status = atoi((const char *)reply.p + 9);
	sep = strstr((const char *)reply.p, "\r\n\r\n");
	if (!sep) {
		r = -EBADMSG;
		goto out;
	}
	sep += 4;
	r = buf_add(body, sep, reply.len - (size_t)(sep - (char *)reply.p));
out:
	buf_fini(&reply);
	close(fd);
	return r;
}
