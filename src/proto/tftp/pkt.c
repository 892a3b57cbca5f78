#include <errno.h>
#include <string.h>

#include "proto/tftp/pkt.h"

/*
 * Borrow a NUL-terminated string from @c.  Sets *@len to its length
 * without the NUL.  Return: the string, or NULL with the cursor failed
 * (-EBADMSG: no NUL before the end).
 */
static const char *
tftp_str(struct cur *c, size_t *len)
{
	size_t left = cur_left(c);
	const uint8_t *start = c->p + c->off;
	const uint8_t *nul;

	if (c->err) {
		return NULL;
	}
	nul = memchr(start, 0, left);
	if (!nul) {
		cur_fail(c, -EBADMSG);
		return NULL;
	}
	*len = (size_t)(nul - start);
	cur_skip(c, *len + 1);
	return (const char *)start;
}

static bool
tftp_all_nul(const struct cur *c)
{
	size_t i;

	for (i = c->off; i < c->len; i++) {
		if (c->p[i] != 0) {
			return false;
		}
	}
	return true;
}

static int
tftp_parse_opts(struct cur *c, struct tftp_pkt *out)
{
	while (cur_left(c) > 0) {
		struct tftp_opt o = {0};

		if (tftp_all_nul(c)) {
			break;
		}
		o.name = tftp_str(c, &o.name_len);
		if (!o.name) {
			return -EBADMSG;
		}
		if (cur_left(c) == 0) {
			/* RFC 2347 §2: options come in name/value pairs. */
			return -EBADMSG;
		}
		o.val = tftp_str(c, &o.val_len);
		if (!o.val || o.name_len == 0) {
			return -EBADMSG;
		}
		if (o.name_len > TFTP_OPT_LEN_MAX ||
		    o.val_len > TFTP_OPT_LEN_MAX) {
			return -EMSGSIZE;
		}
		if (out->nopts == TFTP_OPTS_MAX) {
			return -EMSGSIZE;
		}
		out->opts[out->nopts++] = o;
	}
	return 0;
}

int
tftp_parse(const uint8_t *buf, size_t len, struct tftp_pkt *out)
{
	struct cur c = cur_init(buf, len);
	int r;

	memset(out, 0, sizeof(*out));
	out->op = cur_be16(&c);
	if (c.err) {
		return -EBADMSG;
	}
	switch (out->op) {
	case TFTP_RRQ:
	case TFTP_WRQ:
		out->file = tftp_str(&c, &out->file_len);
		out->mode = tftp_str(&c, &out->mode_len);
		if (c.err) {
			return -EBADMSG;
		}
		if (out->file_len == 0 || out->mode_len == 0) {
			return -EBADMSG;
		}
		if (out->file_len > TFTP_NAME_MAX ||
		    out->mode_len > TFTP_MODE_MAX) {
			return -EMSGSIZE;
		}
		return tftp_parse_opts(&c, out);
	case TFTP_OACK:
		return tftp_parse_opts(&c, out);
	case TFTP_DATA:
		out->block = cur_be16(&c);
		out->data_len = cur_left(&c);
		out->data = cur_bytes(&c, out->data_len);
		return c.err ? -EBADMSG : 0;
	case TFTP_ACK:
		out->block = cur_be16(&c);
		/*
		 * Trailing bytes after an ACK are tolerated: some PXE ROMs
		 * pad short frames, and the block number is all we need.
		 */
		return c.err ? -EBADMSG : 0;
	case TFTP_ERROR:
		out->code = cur_be16(&c);
		if (c.err) {
			return -EBADMSG;
		}
		out->msg = (const char *)c.p + c.off;
		out->msg_len = cur_left(&c);
		if (out->msg_len > 0) {
			const void *nul = memchr(out->msg, 0, out->msg_len);

			if (nul) {
				out->msg_len =
				    (size_t)((const char *)nul - out->msg);
			}
		}
		return 0;
	default:
		r = -EOPNOTSUPP;
		break;
	}
	return r;
}

bool
tftp_opt_is(const struct tftp_opt *o, const char *name)
{
	return strlen(name) == o->name_len &&
	    strncasecmp(o->name, name, o->name_len) == 0;
}

int
tftp_opt_num(const struct tftp_opt *o, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (o->val_len == 0) {
		return -EBADMSG;
	}
	for (i = 0; i < o->val_len; i++) {
		unsigned d;

		if (o->val[i] < '0' || o->val[i] > '9') {
			return -EBADMSG;
		}
		d = (unsigned)(o->val[i] - '0');
		if (v > (max - d) / 10) {
			return -EMSGSIZE;
		}
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int
tftp_build_data(struct wcur *w, uint16_t block, const void *data, size_t len)
{
	wcur_be16(w, TFTP_DATA);
	wcur_be16(w, block);
	wcur_bytes(w, data, len);
	return w->err;
}

int
tftp_build_ack(struct wcur *w, uint16_t block)
{
	wcur_be16(w, TFTP_ACK);
	wcur_be16(w, block);
	return w->err;
}

static void
tftp_put_str(struct wcur *w, const char *s)
{
	wcur_bytes(w, s, strlen(s) + 1);
}

int
tftp_build_error(struct wcur *w, uint16_t code, const char *msg)
{
	wcur_be16(w, TFTP_ERROR);
	wcur_be16(w, code);
	tftp_put_str(w, msg ? msg : "");
	return w->err;
}

static void
tftp_put_num(struct wcur *w, const char *name, uint64_t v)
{
	char digits[24];
	size_t n = 0, i;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	tftp_put_str(w, name);
	for (i = 0; i < n; i++) {
		wcur_u8(w, (uint8_t)digits[n - 1 - i]);
	}
	wcur_u8(w, 0);
}

int
tftp_build_oack(struct wcur *w, const struct tftp_oack *o)
{
	wcur_be16(w, TFTP_OACK);
	/* The order the Pi EEPROM probe shows (reference §8.4). */
	if (o->has_tsize) {
		tftp_put_num(w, "tsize", o->tsize);
	}
	if (o->has_blksize) {
		tftp_put_num(w, "blksize", o->blksize);
	}
	if (o->has_timeout) {
		tftp_put_num(w, "timeout", o->timeout_s);
	}
	if (o->has_windowsize) {
		tftp_put_num(w, "windowsize", o->windowsize);
	}
	return w->err;
}

int
tftp_build_rrq(struct wcur *w, uint16_t op, const char *file, const char *mode,
    const struct tftp_opt *opts, size_t nopts)
{
	size_t i;

	wcur_be16(w, op);
	tftp_put_str(w, file);
	tftp_put_str(w, mode);
	for (i = 0; i < nopts; i++) {
		tftp_put_str(w, opts[i].name);
		tftp_put_str(w, opts[i].val);
	}
	return w->err;
}

int
tftp_normalize_name(const char *in, size_t len, char *out, size_t cap)
{
	size_t i = 0, n = 0;

	if (cap == 0) {
		return -EMSGSIZE;
	}
	if (memchr(in, 0, len)) {
		return -EBADMSG;
	}
	while (i < len) {
		size_t start, clen;

		while (i < len && in[i] == '/') {
			i++;
		}
		start = i;
		while (i < len && in[i] != '/') {
			i++;
		}
		clen = i - start;
		if (clen == 0 || (clen == 1 && in[start] == '.')) {
			continue;
		}
		if (clen == 2 && in[start] == '.' && in[start + 1] == '.') {
			return -EACCES;
		}
		/* n + (n ? 1 : 0) + clen + NUL must fit cap. */
		if (clen + (n ? 1 : 0) >= cap - n) {
			return -EMSGSIZE;
		}
		if (n) {
			out[n++] = '/';
		}
		memcpy(out + n, in + start, clen);
		n += clen;
	}
	if (n == 0) {
		out[0] = 0;
		return -EBADMSG;
	}
	out[n] = 0;
	return (int)n;
}

static bool
tftp_is_lhex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

size_t
tftp_prefix_len(const char *name)
{
	size_t i;

	for (i = 0; i < 8 && tftp_is_lhex(name[i]); i++) {
	}
	if (i == 8 && name[8] == '/' && name[9]) {
		return 8;
	}
	for (i = 0; i < 17; i++) {
		bool ok = i % 3 == 2 ? name[i] == '-' : tftp_is_lhex(name[i]);

		if (!ok) {
			return 0;
		}
	}
	return name[17] == '/' && name[18] ? 17 : 0;
}

const char *
tftp_op_name(uint16_t op)
{
	static const char *const names[] = {
	    "?", "RRQ", "WRQ", "DATA", "ACK", "ERROR", "OACK"};

	return op < sizeof(names) / sizeof(names[0]) ? names[op] : "?";
}
