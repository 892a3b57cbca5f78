#ifndef PNB_PROTO_TFTP_PKT_H
#define PNB_PROTO_TFTP_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cur.h"

/*
 * TFTP packets (RFC 1350) with option extension (RFC 2347): a pure codec.
 * tftp_parse() decodes one UDP payload into a struct tftp_pkt whose
 * strings borrow from the payload; the tftp_build_*() functions append one
 * packet to a write cursor.
 */

enum tftp_op {
	TFTP_RRQ = 1,
	TFTP_WRQ = 2,
	TFTP_DATA = 3,
	TFTP_ACK = 4,
	TFTP_ERROR = 5,
	TFTP_OACK = 6, /* RFC 2347 */
};

/* Error codes of RFC 1350 §5 and RFC 2347 (8). */
enum tftp_errcode {
	TFTP_EUNDEF = 0,
	TFTP_ENOTFOUND = 1,
	TFTP_EACCESS = 2,
	TFTP_ENOSPACE = 3,
	TFTP_EBADOP = 4,
	TFTP_EBADID = 5,
	TFTP_EEXISTS = 6,
	TFTP_ENOUSER = 7,
	TFTP_EOPTNEG = 8,
};

/*
 * Limits on requests.  A file name longer than TFTP_NAME_MAX bytes is
 * refused: the longest Pi name is a 17-byte MAC prefix plus an overlay
 * path, far below it, and a bound keeps logs and lookups small.  No client
 * sends more than a handful of options (the Pi EEPROM sends two, PXE ROMs
 * three), so TFTP_OPTS_MAX leaves room for unknown ones.
 */
#define TFTP_NAME_MAX    255
#define TFTP_MODE_MAX    16
#define TFTP_OPTS_MAX    16
#define TFTP_OPT_LEN_MAX 64
#define TFTP_HDR_LEN     4

/* RFC 2348 §2: the block size an option may ask for. */
#define TFTP_BLKSIZE_MIN     8
#define TFTP_BLKSIZE_MAX     65464
#define TFTP_BLKSIZE_DEFAULT 512
/* RFC 2349 §2: timeout in seconds; RFC 7440 §2: windowsize. */
#define TFTP_TIMEOUT_MIN    1
#define TFTP_TIMEOUT_MAX    255
#define TFTP_WINDOWSIZE_MAX 65535

struct tftp_opt {
	const char *name; /* borrowed from the packet; NUL-terminated there */
	size_t name_len;
	const char *val; /* borrowed; NUL-terminated there */
	size_t val_len;
};

/*
 * A parsed packet.  Every pointer borrows from the buffer given to
 * tftp_parse(); strings are NUL-terminated in that buffer (the parser
 * checked the NUL), except an ERROR message, see tftp_parse().
 */
struct tftp_pkt {
	uint16_t op;

	/* RRQ, WRQ; OACK uses opts only */
	const char *file;
	size_t file_len;
	const char *mode;
	size_t mode_len;
	struct tftp_opt opts[TFTP_OPTS_MAX];
	size_t nopts;

	/* DATA, ACK */
	uint16_t block;
	const uint8_t *data;
	size_t data_len;

	/* ERROR */
	uint16_t code;
	const char *msg;
	size_t msg_len;
};

/*
 * tftp_parse() - decode one TFTP packet.
 * @buf, @len: the UDP payload (borrowed; @out points into it).
 *
 * RRQ/WRQ: file name, mode and option pairs, each NUL-terminated.  Bytes
 * after the last pair are accepted only if they are all NUL (padding some
 * PXE ROMs add).  ERROR: the message may lack its NUL (it then runs to
 * the end of the packet), because the message is only logged and a
 * client's sloppy ERROR must still end its transfer.
 *
 * Return: 0;
 *   -EBADMSG  truncated, a string without its NUL, an option without a
 *             value (odd count), an empty file name, mode or option name;
 *   -EMSGSIZE a file name over TFTP_NAME_MAX, a mode over TFTP_MODE_MAX,
 *             an option name or value over TFTP_OPT_LEN_MAX, or more than
 *             TFTP_OPTS_MAX options;
 *   -EOPNOTSUPP an unknown opcode.
 */
int tftp_parse(const uint8_t *buf, size_t len, struct tftp_pkt *out);

/*
 * tftp_opt_is() - does option @o have name @name (case-insensitive,
 * RFC 2347 §2)?
 */
bool tftp_opt_is(const struct tftp_opt *o, const char *name);

/*
 * tftp_opt_num() - the option's value as a decimal number.
 * Return: 0 with *@out set; -EBADMSG if the value is empty or holds a
 * non-digit; -EMSGSIZE if it exceeds @max.
 */
int tftp_opt_num(const struct tftp_opt *o, uint64_t max, uint64_t *out);

/* What an OACK carries (RFC 2347 §2): only the has_ fields are sent. */
struct tftp_oack {
	bool has_blksize, has_tsize, has_timeout, has_windowsize;
	uint16_t blksize;
	uint64_t tsize;
	uint8_t timeout_s;
	uint16_t windowsize;
};

/* Builders: append one packet to @w.  Return: 0 or -EMSGSIZE. */
int tftp_build_data(
    struct wcur *w, uint16_t block, const void *data, size_t len);
int tftp_build_ack(struct wcur *w, uint16_t block);
/* @msg: borrowed NUL-terminated text. */
int tftp_build_error(struct wcur *w, uint16_t code, const char *msg);
int tftp_build_oack(struct wcur *w, const struct tftp_oack *o);
/*
 * tftp_build_rrq() - a read request (for test clients).
 * @opts: borrowed array of @nopts name/value pairs (NUL-terminated strings;
 * the length fields are ignored).
 */
int tftp_build_rrq(struct wcur *w, uint16_t op, const char *file,
    const char *mode, const struct tftp_opt *opts, size_t nopts);

/*
 * tftp_normalize_name() - turn a requested name into a relative path:
 * repeated '/' collapse, leading '/' go (firmware sends
 * "6c15e4ef//start4.elf" and "/start4.elf"), "." components go.
 * @in, @len: borrowed name bytes (no NUL needed).
 * @out: receives the NUL-terminated result, @cap bytes.
 * Return: the result's length;
 *   -EACCES   a ".." component (never followed, wherever it is);
 *   -EBADMSG  an embedded NUL, or nothing left (the name was only '/');
 *   -EMSGSIZE the result does not fit @cap.
 */
int tftp_normalize_name(const char *in, size_t len, char *out, size_t cap);

/*
 * tftp_prefix_len() - the length of a per-client prefix that starts
 * normalised name @name (borrowed, NUL-terminated): 8 lowercase hex digits
 * (the Pi's serial, TFTP_PREFIX=0) or a MAC in lowercase with dashes
 * (dc-a6-32-01-36-c2, TFTP_PREFIX=2), followed by '/' and more.
 * Return: 8 or 17, or 0 when the name has no such prefix.
 */
size_t tftp_prefix_len(const char *name);

/* tftp_op_name() - "RRQ", "DATA", ... or "?" (static). */
const char *tftp_op_name(uint16_t op);

#endif
