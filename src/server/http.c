#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "proto/http/http.h"
#include "server/http.h"
#include "server/http_page.h"

/*
 * Enough for a few browsers and scrapers; more are turned away.  The
 * control socket has slots of its own, so no host on the network can
 * keep `pinetboot status` and `pinetboot client` from the server, and
 * one host holds at most a quarter of the TCP slots.
 */
#define HTTP_MAX_CONNS    64
#define HTTP_MAX_PER_PEER 16
#define HTTP_MAX_LOCAL    16
/* A connection lives this long, however slowly it sends or reads. */
#define HTTP_IDLE_MS 5000
/*
 * Client lists are rendered a step at a time as the socket drains, about
 * this much per wake-up, so a large store (4096 clients with their
 * timelines is 8 MiB of JSON) neither holds the loop nor sits in memory
 * per connection: a step is this plus one client's timeline.
 */
#define HTTP_STEP_BYTES (64u << 10)
#define HTTP_REPLY_MAX  (1u << 20)

struct http_conn {
	struct http_service *svc;
	int fd;
	bool local;              /* came in on the control socket */
	struct in_addr peer;     /* TCP: the client's address */
	struct sockaddr_in self; /* TCP: the address it reached */
	struct buf in, out;
	size_t out_off;
	bool replying; /* the response has begun */
	char name[65]; /* the one client it is about */
	/* A client list still to render, a step per wake-up; NULL: none. */
	int (*step)(const struct obs *o, struct obs_render *st, size_t budget,
	    struct buf *out);
	struct obs_render render;
	struct loop_timer idle;
	struct http_conn *next, **pprev;
};

struct http_service {
	struct loop *loop;
	struct http_service_config cfg;
	char unix_path[108];
	int tcp_fd, unix_fd;
	char token[HTTP_TOKEN_MAX + 1]; /* empty: none */
	struct http_conn *conns;
	size_t nconns, nlocal;
	struct log_ratelimit rl;
};

static const struct log_ctx http_log = {.svc = "http"};

static void
http_conn_close(struct http_conn *c)
{
	struct http_service *h = c->svc;

	loop_timer_cancel(h->loop, &c->idle);
	loop_close_fd(h->loop, c->fd);
	*c->pprev = c->next;
	if (c->next) {
		c->next->pprev = c->pprev;
	}
	if (c->local) {
		h->nlocal--;
	} else {
		h->nconns--;
	}
	buf_fini(&c->in);
	buf_fini(&c->out);
	free(c);
}

static void
http_conn_idle(struct loop *l, struct loop_timer *t)
{
	(void)l;
	http_conn_close(t->arg);
}

static int
http_respond_with(struct http_conn *c, int code, const char *type,
    const char *extra, const struct buf *body, bool head_only)
{
	const char *reason = code == 200 ? "OK"
	    : code == 400                ? "Bad Request"
	    : code == 401                ? "Unauthorized"
	    : code == 403                ? "Forbidden"
	    : code == 404                ? "Not Found"
	    : code == 405                ? "Method Not Allowed"
	    : code == 421                ? "Misdirected Request"
	    : code == 431                ? "Request Header Fields Too Large"
					 : "Internal Server Error";
	size_t len = body ? body->len : 0;
	int r;

	r = buf_printf(&c->out,
	    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\n"
	    "%sConnection: close\r\n\r\n",
	    code, reason, type, len, extra);
	if (r == 0 && len && !head_only) {
		r = buf_add(&c->out, body->p, len);
	}
	return r;
}

static int
http_respond(struct http_conn *c, int code, const char *type,
    const struct buf *body, bool head_only)
{
	return http_respond_with(c, code, type, "", body, head_only);
}

static int
http_error(struct http_conn *c, int code, const char *text)
{
	struct buf b;
	int r;

	buf_init(&b, 256);
	r = buf_printf(&b, "%s\n", text);
	r = r ? r
	      : http_respond_with(c, code, "text/plain; charset=utf-8",
		    code == 401 ? "WWW-Authenticate: Bearer "
				  "realm=\"pinetboot\"\r\n"
				: "",
		    &b, false);
	buf_fini(&b);
	return r;
}

/* The value of ?name= in the target, if any, into @dst. */
static bool
http_query_name(const struct http_req *q, char *dst, size_t cap)
{
	const uint8_t *p = memchr(q->target, '?', q->target_len);
	size_t n;

	if (!p) {
		return false;
	}
	p++;
	n = q->target_len - (size_t)(p - q->target);
	if (n < 5 || memcmp(p, "name=", 5) != 0 || n - 5 >= cap) {
		return false;
	}
	memcpy(dst, p + 5, n - 5);
	dst[n - 5] = 0;
	return dst[0] != 0 && strpbrk(dst, "&%/") == NULL;
}

/*
 * RFC 9110 §7.2: a request to the TCP port must name this server by the
 * address it reached, with the port unless it is 80.  A browser steered
 * here by a hostile page through a rebound DNS name sends that name, so
 * the page never reads the status (DNS rebinding).
 */
static bool
http_host_ok(const struct http_conn *c, const struct http_req *q)
{
	char ip[INET_ADDRSTRLEN], want[INET_ADDRSTRLEN + 8];
	uint16_t port = ntohs(c->self.sin_port);
	int n;

	inet_ntop(AF_INET, &c->self.sin_addr, ip, sizeof(ip));
	n = snprintf(want, sizeof(want), "%s:%u", ip, port);
	if (n > 0 && q->host_len == (size_t)n &&
	    !memcmp(q->host, want, (size_t)n)) {
		return true;
	}
	return port == 80 && q->host_len == strlen(ip) &&
	    !memcmp(q->host, ip, strlen(ip));
}

/*
 * "Bearer TOKEN" (RFC 6750 §2.1; the scheme is case-insensitive),
 * compared in constant time so the answer's timing tells nothing.
 */
static bool
http_token_ok(const char *token, const struct http_req *q)
{
	size_t n = strlen(token), i;
	const uint8_t *v = q->authorization;
	unsigned diff;

	if (!v || q->authorization_len != 7 + n ||
	    strncasecmp((const char *)v, "bearer ", 7) != 0) {
		return false;
	}
	diff = 0;
	for (i = 0; i < n; i++) {
		diff |= (unsigned)(v[7 + i] ^ (uint8_t)token[i]);
	}
	return diff == 0;
}

/* The TCP side's checks before any route: 0 to go on, else the reply. */
static int
http_admit(struct http_conn *c, const struct http_req *q, bool *refused)
{
	char esc[LOG_ESCAPE_MAX], ip[INET_ADDRSTRLEN],
	    msg[LOG_ESCAPE_MAX + 200];

	*refused = true;
	if (!q->host) {
		return http_error(
		    c, 400, "a Host header is required (RFC 9112 section 3.2)");
	}
	if (!http_host_ok(c, q)) {
		inet_ntop(AF_INET, &c->self.sin_addr, ip, sizeof(ip));
		log_escape(esc, q->host, q->host_len);
		snprintf(msg, sizeof(msg),
		    "Host \"%s\" is not this server: ask for http://%s:%u/ "
		    "(names are refused, so that no web page can reach this "
		    "status through DNS rebinding)",
		    esc, ip, ntohs(c->self.sin_port));
		return http_error(c, 421, msg);
	}
	/* The page holds no data; its script sends the token it is given. */
	if (c->svc->token[0] && !http_target_is(q, "/") &&
	    !http_target_is(q, "/index.html") &&
	    !http_token_ok(c->svc->token, q)) {
		return http_error(c, 401,
		    "this status needs the server's token: send "
		    "\"Authorization: Bearer TOKEN\" (the token is in the "
		    "server's --http-token file; for the page, open "
		    "/#token=TOKEN)");
	}
	*refused = false;
	return 0;
}

/*
 * Begin a 200 response whose body is the client list @step renders, a
 * step per wake-up (http_conn_write()).  It has no Content-Length: the
 * end of the connection ends the body (RFC 9112 §6.3).
 */
static int
http_stream(struct http_conn *c, const char *type, bool head,
    int (*step)(const struct obs *, struct obs_render *, size_t, struct buf *),
    const char *name, bool hide_ids)
{
	c->render = (struct obs_render){
	    .name = NULL, .hide_ids = hide_ids, .now_ms = loop_wall_ms()};
	if (name) {
		snprintf(c->name, sizeof(c->name), "%s", name);
		c->render.name = c->name;
	}
	c->step = head ? NULL : step;
	return buf_printf(&c->out,
	    "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n"
	    "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
	    type);
}

static int
http_route(struct http_conn *c, const struct http_req *q)
{
	struct http_service *h = c->svc;
	struct obs *o = h->cfg.obs;
	int64_t now = loop_wall_ms();
	bool head = q->method_len == 4 && !memcmp(q->method, "HEAD", 4);
	bool get = head || (q->method_len == 3 && !memcmp(q->method, "GET", 3));
	bool post = q->method_len == 4 && !memcmp(q->method, "POST", 4);
	/* Hardware ids go to the control socket, or where allowed. */
	bool hide = !c->local && !h->cfg.show_ids;
	char name[65];
	struct buf b;
	bool refused;
	int r;

	if (!c->local) {
		r = http_admit(c, q, &refused);
		if (refused) {
			return r;
		}
	}
	if (post && http_target_is(q, "/api/reload")) {
		if (!c->local) {
			return http_error(c, 403,
			    "reload is only accepted on "
			    "the control socket");
		}
		r = h->cfg.reload ? h->cfg.reload(h->cfg.reload_arg) : 0;
		return r < 0 ? http_error(c, 500,
				   "reload failed; see the "
				   "server log")
			     : http_error(c, 200, "reloaded");
	}
	if (!get) {
		return http_error(c, 405, "only GET and HEAD are served");
	}
	if (http_target_is(q, "/api/status")) {
		return http_stream(c, "application/json", head,
		    obs_render_json_step, NULL, hide);
	}
	if (http_target_is(q, "/api/status.txt")) {
		bool one = http_query_name(q, name, sizeof(name));

		if (one && !obs_find_name(o, name)) {
			return http_error(c, 404, "no such client");
		}
		return http_stream(c, "text/plain; charset=utf-8", head,
		    obs_render_text_step, one ? name : NULL, hide);
	}
	if (q->target_len > 13 && q->target_len - 13 < sizeof(name) &&
	    !memcmp(q->target, "/api/clients/", 13)) {
		memcpy(name, q->target + 13, q->target_len - 13);
		name[q->target_len - 13] = 0;
		if (!obs_find_name(o, name)) {
			return http_error(c, 404, "no such client");
		}
		return http_stream(c, "application/json", head,
		    obs_render_json_step, name, hide);
	}
	buf_init(&b, HTTP_REPLY_MAX);
	if (http_target_is(q, "/") || http_target_is(q, "/index.html")) {
		r = buf_add(&b, http_status_page, sizeof(http_status_page) - 1);
		r = r ? r
		      : http_respond(
			    c, 200, "text/html; charset=utf-8", &b, head);
	} else if (http_target_is(q, "/metrics")) {
		r = obs_render_metrics(o, now, &b);
		r = r
		    ? r
		    : http_respond(c, 200,
			  "text/plain; version=0.0.4; charset=utf-8", &b, head);
	} else {
		r = http_error(c, 404, "not found");
	}
	buf_fini(&b);
	return r;
}

/*
 * Send what is rendered; when it is all out, render the next step of a
 * client list, at most one per wake-up, so that other clients of the
 * loop get their turn; close when the response is complete.
 */
static void
http_conn_write(struct http_conn *c)
{
	bool stepped = false;

	for (;;) {
		while (c->out_off < c->out.len) {
			ssize_t n = send(c->fd, c->out.p + c->out_off,
			    c->out.len - c->out_off, MSG_NOSIGNAL);

			if (n < 0 && errno == EAGAIN) {
				loop_mod_fd(c->svc->loop, c->fd, LOOP_WRITE);
				return;
			}
			if (n <= 0) {
				http_conn_close(c);
				return;
			}
			c->out_off += (size_t)n;
		}
		if (!c->step) {
			break;
		}
		if (stepped) {
			/* More next time the socket is writable. */
			loop_mod_fd(c->svc->loop, c->fd, LOOP_WRITE);
			return;
		}
		buf_reset(&c->out);
		c->out_off = 0;
		switch (c->step(
		    c->svc->cfg.obs, &c->render, HTTP_STEP_BYTES, &c->out)) {
		case 0:
			break;
		case 1:
			c->step = NULL;
			break;
		default:
			http_conn_close(c);
			return;
		}
		stepped = true;
	}
	http_conn_close(c);
}

static void
http_conn_handle(struct loop *l, int fd, unsigned events, void *arg)
{
	struct http_conn *c = arg;
	struct http_req q;
	uint8_t tmp[2048];
	ssize_t n;
	int r;

	(void)l;
	(void)fd;
	if (c->replying) {
		if (events & LOOP_WRITE) {
			http_conn_write(c);
		}
		return;
	}
	n = recv(c->fd, tmp, sizeof(tmp), 0);
	if (n < 0 && errno == EAGAIN) {
		return;
	}
	if (n <= 0 || buf_add(&c->in, tmp, (size_t)n) < 0) {
		http_conn_close(c);
		return;
	}
	r = http_parse_request(c->in.p, c->in.len, &q);
	if (r == -EAGAIN) {
		return;
	}
	if (r == -EMSGSIZE) {
		r = http_error(c, 431, "request head too large");
	} else if (r < 0) {
		r = http_error(c, 400, "malformed request");
	} else {
		r = http_route(c, &q);
	}
	if (r < 0) {
		http_conn_close(c);
		return;
	}
	c->replying = true;
	http_conn_write(c);
}

/* Why a new connection is turned away, or NULL to take it. */
static const char *
http_refusal(const struct http_service *h, bool local, struct in_addr peer)
{
	const struct http_conn *c;
	size_t same = 0;

	if (local) {
		return h->nlocal >= HTTP_MAX_LOCAL ? "too many control "
						     "connections"
						   : NULL;
	}
	if (h->nconns >= HTTP_MAX_CONNS) {
		return "too many connections";
	}
	for (c = h->conns; c; c = c->next) {
		same += !c->local && c->peer.s_addr == peer.s_addr;
	}
	return same >= HTTP_MAX_PER_PEER ? "too many connections from "
					   "one address"
					 : NULL;
}

static void
http_accept(struct loop *l, int fd, unsigned events, void *arg)
{
	struct http_service *h = arg;
	struct sockaddr_in sin = {0};
	socklen_t slen = sizeof(sin);
	bool local = fd == h->unix_fd;
	const char *why;
	struct http_conn *c;
	int cfd;

	(void)events;
	cfd = accept4(fd, local ? NULL : (struct sockaddr *)&sin,
	    local ? NULL : &slen, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0) {
		return;
	}
	why = http_refusal(h, local, sin.sin_addr);
	if (why) {
		if (log_ratelimit_ok(&h->rl, loop_now_ms(l))) {
			char peer[INET_ADDRSTRLEN] = "control";

			if (!local) {
				inet_ntop(
				    AF_INET, &sin.sin_addr, peer, sizeof(peer));
			}
			log_warn(&http_log,
			    "event=refused peer=%s reason=\"%s\" "
			    "suppressed=%u",
			    peer, why, h->rl.suppressed);
			h->rl.suppressed = 0;
		}
		close(cfd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(cfd);
		return;
	}
	c->svc = h;
	c->fd = cfd;
	c->local = local;
	c->peer = sin.sin_addr;
	slen = sizeof(c->self);
	if (!local &&
	    getsockname(cfd, (struct sockaddr *)&c->self, &slen) < 0) {
		close(cfd);
		free(c);
		return;
	}
	buf_init(&c->in, HTTP_HEAD_MAX);
	buf_init(&c->out, HTTP_REPLY_MAX);
	loop_timer_init(&c->idle, http_conn_idle, c);
	if (loop_add_fd(l, cfd, LOOP_READ, http_conn_handle, c) < 0 ||
	    loop_timer_arm(l, &c->idle, loop_now_ms(l) + HTTP_IDLE_MS) < 0) {
		loop_close_fd(l, cfd);
		free(c);
		return;
	}
	c->next = h->conns;
	if (c->next) {
		c->next->pprev = &c->next;
	}
	c->pprev = &h->conns;
	h->conns = c;
	if (local) {
		h->nlocal++;
	} else {
		h->nconns++;
	}
}

static int
http_listen_tcp(const char *spec, char *msg, size_t msglen)
{
	const char *colon = strrchr(spec, ':');
	struct sockaddr_in sin = {.sin_family = AF_INET};
	char host[INET_ADDRSTRLEN];
	int fd, one = 1;

	if (!colon || (size_t)(colon - spec) >= sizeof(host)) {
		snprintf(msg, msglen, "--http %s is not ADDR:PORT", spec);
		return -EINVAL;
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = 0;
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		snprintf(msg, msglen, "--http %s is not ADDR:PORT", spec);
		return -EINVAL;
	}
	sin.sin_port = htons((uint16_t)atoi(colon + 1));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(msg, msglen, "http socket: %s", strerror(errno));
		return -errno;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(fd, 64) < 0) {
		int err = errno;

		snprintf(msg, msglen, "cannot listen on %s for --http: %s%s",
		    spec, strerror(err),
		    err == EADDRINUSE
			? " (another program uses that port: choose another)"
			: "");
		close(fd);
		return -err;
	}
	return fd;
}

static int
http_listen_unix(const char *path, char *msg, size_t msglen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(msg, msglen,
		    "control socket path %s is too long: "
		    "use a shorter --state-dir",
		    path);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(msg, msglen, "control socket: %s", strerror(errno));
		return -errno;
	}
	/* A socket left by a crashed server is stale: nobody answers it. */
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
		int err = errno;

		snprintf(msg, msglen, "cannot create control socket %s: %s",
		    path, strerror(err));
		close(fd);
		return -err;
	}
	return fd;
}

static bool
http_token_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || strchr("-._~+/", ch) != NULL;
}

int
http_token_load(const char *path, char *out, char *msg, size_t msglen)
{
	char text[HTTP_TOKEN_MAX + 4];
	struct stat st;
	ssize_t n;
	size_t len = 0, pad = 0;
	int fd, r = 0;

	out[0] = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		snprintf(msg, msglen, "cannot open token file %s: %s", path,
		    strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(
		    msg, msglen, "token file %s is not a regular file", path);
		r = -EINVAL;
		goto out;
	}
	if (st.st_mode & 077) {
		snprintf(msg, msglen,
		    "token file %s may be read or changed by others (mode "
		    "%04o): chmod 600 %s",
		    path, (unsigned)(st.st_mode & 07777), path);
		r = -EPERM;
		goto out;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(msg, msglen,
		    "token file %s belongs to uid %u, who could change it: "
		    "chown it to this user or root",
		    path, (unsigned)st.st_uid);
		r = -EPERM;
		goto out;
	}
	n = read(fd, text, sizeof(text) - 1);
	if (n < 0) {
		r = -errno;
		snprintf(msg, msglen, "cannot read token file %s: %s", path,
		    strerror(-r));
		goto out;
	}
	text[n] = 0;
	while (len < (size_t)n && http_token_char(text[len])) {
		len++;
	}
	while (len + pad < (size_t)n && text[len + pad] == '=') {
		pad++;
	}
	/* The first line is the token; a newline or CRLF may end it. */
	if (len < 16 || len + pad > HTTP_TOKEN_MAX ||
	    (len + pad < (size_t)n && text[len + pad] != '\n' &&
		text[len + pad] != '\r')) {
		snprintf(msg, msglen,
		    "the first line of token file %s must be 16 to %d "
		    "characters of A-Z a-z 0-9 - . _ ~ + / (for example "
		    "from 'openssl rand -hex 32')",
		    path, HTTP_TOKEN_MAX);
		r = -EINVAL;
		goto out;
	}
	memcpy(out, text, len + pad);
	out[len + pad] = 0;
out:
	close(fd);
	return r;
}

void
http_service_set_token(struct http_service *h, const char *token)
{
	snprintf(h->token, sizeof(h->token), "%s", token ? token : "");
}

struct http_service *
http_service_open(struct loop *l, const struct http_service_config *cfg,
    char *msg, size_t msglen)
{
	struct http_service *h = calloc(1, sizeof(*h));

	if (!h) {
		snprintf(msg, msglen, "out of memory");
		return NULL;
	}
	h->loop = l;
	h->cfg = *cfg;
	http_service_set_token(h, cfg->token);
	h->tcp_fd = -1;
	h->unix_fd = -1;
	if (cfg->tcp_listen && cfg->tcp_listen[0]) {
		h->tcp_fd = http_listen_tcp(cfg->tcp_listen, msg, msglen);
		if (h->tcp_fd < 0 ||
		    loop_add_fd(l, h->tcp_fd, LOOP_READ, http_accept, h) < 0) {
			goto fail;
		}
	}
	if (cfg->unix_path) {
		snprintf(
		    h->unix_path, sizeof(h->unix_path), "%s", cfg->unix_path);
		h->unix_fd = http_listen_unix(cfg->unix_path, msg, msglen);
		if (h->unix_fd < 0 ||
		    loop_add_fd(l, h->unix_fd, LOOP_READ, http_accept, h) < 0) {
			goto fail;
		}
	}
	h->cfg.tcp_listen = NULL;
	h->cfg.unix_path = NULL;
	h->cfg.token = NULL;
	return h;
fail:
	http_service_close(h);
	return NULL;
}

void
http_service_close(struct http_service *h)
{
	if (!h) {
		return;
	}
	while (h->conns) {
		http_conn_close(h->conns);
	}
	if (h->tcp_fd >= 0) {
		loop_close_fd(h->loop, h->tcp_fd);
	}
	if (h->unix_fd >= 0) {
		loop_close_fd(h->loop, h->unix_fd);
		unlink(h->unix_path);
	}
	free(h);
}
