#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "core/log.h"
#include "core/loop.h"

static const char *const log_names[] = {"err", "warn", "info", "debug"};

int
log_parse_level(const char *s)
{
	int i;

	for (i = 0; i < 4; i++) {
		if (strcmp(s, log_names[i]) == 0) {
			return i;
		}
	}
	return -EINVAL;
}

bool
log_enabled(int level)
{
	return level <= loop_log_sink()->level;
}

void
log_msg(int level, const struct log_ctx *ctx, const char *fmt, ...)
{
	static const int syslog_prio[] = {3, 4, 6, 7};
	const struct log_sink *sink = loop_log_sink();
	char line[1024];
	size_t n = 0;
	int r;
	va_list ap;

	if (level > sink->level || level < 0) {
		return;
	}
	r = snprintf(line, sizeof(line), "level=%s", log_names[level]);
	n = r > 0 ? (size_t)r : 0;
	if (ctx && ctx->svc && n < sizeof(line)) {
		r = snprintf(line + n, sizeof(line) - n, " svc=%s", ctx->svc);
		n += r > 0 ? (size_t)r : 0;
	}
	if (ctx && ctx->peer[0] && n < sizeof(line)) {
		r = snprintf(line + n, sizeof(line) - n, " peer=%s", ctx->peer);
		n += r > 0 ? (size_t)r : 0;
	}
	if (ctx && ctx->id_key && n < sizeof(line)) {
		r = snprintf(
		    line + n, sizeof(line) - n, " %s=%u", ctx->id_key, ctx->id);
		n += r > 0 ? (size_t)r : 0;
	}
	if (n < sizeof(line) - 1) {
		line[n++] = ' ';
		va_start(ap, fmt);
		vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		va_end(ap);
	}
	line[sizeof(line) - 1] = 0;
	if (sink->use_syslog) {
		syslog(syslog_prio[level], "%s", line);
	} else {
		fprintf(stderr, "%s\n", line);
	}
}

char *
log_escape(char *dst, const void *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = src;
	size_t i, o = 0, lim = len > 128 ? 128 : len;

	for (i = 0; i < lim; i++) {
		unsigned char ch = s[i];

		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
			dst[o++] = (char)ch;
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[ch >> 4];
			dst[o++] = hex[ch & 15];
		}
	}
	if (len > lim) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = 0;
	return dst;
}

bool
log_ratelimit_ok(struct log_ratelimit *rl, uint64_t now_ms)
{
	const unsigned burst = 5;
	const uint64_t interval_ms = 1000;

	if (rl->last_ms == 0 || now_ms - rl->last_ms >= interval_ms) {
		uint64_t refill = rl->last_ms == 0
		    ? burst
		    : (now_ms - rl->last_ms) / interval_ms;

		rl->tokens = refill >= burst ? burst
		    : rl->tokens + (unsigned)refill > burst
		    ? burst
		    : rl->tokens + (unsigned)refill;
		rl->last_ms = now_ms;
	}
	if (rl->tokens == 0) {
		rl->suppressed++;
		return false;
	}
	rl->tokens--;
	return true;
}
