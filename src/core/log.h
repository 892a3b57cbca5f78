#ifndef PNB_CORE_LOG_H
#define PNB_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * One line per event as key=value pairs:
 *   level=warn svc=tftp peer=198.18.0.23:2071 xfer=17 event=nak code=2
 * Codecs never log; servers log through a log_ctx that already carries the
 * service, the peer and a transfer or transaction id.
 */
enum log_level {
	LOG_LEVEL_ERR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

struct log_ctx {
	const char *svc;    /* borrowed, static string */
	char peer[48];      /* "ip:port" or empty */
	uint32_t id;        /* transfer or transaction id; 0 = none */
	const char *id_key; /* "xfer", "xid", ...; borrowed, static */
};

#define log_err(ctx, ...)  log_msg(LOG_LEVEL_ERR, ctx, __VA_ARGS__)
#define log_warn(ctx, ...) log_msg(LOG_LEVEL_WARN, ctx, __VA_ARGS__)
#define log_info(ctx, ...) log_msg(LOG_LEVEL_INFO, ctx, __VA_ARGS__)
#define log_debug(ctx, ...)                                                    \
	do {                                                                   \
		if (log_enabled(LOG_LEVEL_DEBUG))                              \
			log_msg(LOG_LEVEL_DEBUG, ctx, __VA_ARGS__);            \
	} while (0)

/* log_parse_level() - "err", "warn", "info", "debug"; -EINVAL otherwise. */
int log_parse_level(const char *s);

bool log_enabled(int level);

/*
 * log_msg() - emit one line.  @ctx may be NULL.  @fmt continues the line
 * with further key=value pairs; strings from peers must go through
 * log_escape() first.
 */
void log_msg(int level, const struct log_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * log_escape() - make an untrusted string safe for a log line: bytes
 * outside printable ASCII, quotes and backslashes become \xNN, and the
 * result is cut at 128 input bytes (marked with "...").
 * @dst must hold at least LOG_ESCAPE_MAX bytes.
 * Return: @dst.
 */
#define LOG_ESCAPE_MAX (128 * 4 + 4)
char *log_escape(char *dst, const void *src, size_t len);

/*
 * A token bucket for warnings about bad input: at most @burst lines, then
 * one per @interval_ms.  Embed one per peer or per service.
 */
struct log_ratelimit {
	uint64_t last_ms;
	unsigned tokens;
	unsigned suppressed;
};

/*
 * log_ratelimit_ok() - may a line be logged now?  Counts the lines that
 * were not, so the next allowed line can say how many were dropped
 * (read and reset rl->suppressed).
 */
bool log_ratelimit_ok(struct log_ratelimit *rl, uint64_t now_ms);

#endif
