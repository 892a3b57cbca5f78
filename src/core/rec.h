#ifndef PNB_CORE_REC_H
#define PNB_CORE_REC_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/*
 * A small `key = value` record: client.conf and image.conf, written by
 * the CLI and read by the CLI and the daemon (docs/provisioning.md).
 */
#define REC_MAX_KEYS  32
#define REC_MAX_VALUE 1024
#define REC_MAX_BYTES 65536
#define REC_NAME_MAX  63 /* client and image names */

struct rec_kv {
	const char *key, *value; /* borrowed from the parsed text */
	size_t klen, vlen;
};

struct rec {
	struct rec_kv kv[REC_MAX_KEYS];
	size_t n;
};

/*
 * rec_parse() - parse `key = value` lines; '#' starts a comment line,
 * blank lines are skipped, keys are [a-z0-9_]+, values run to the end of
 * the line with surrounding blanks removed.
 * @text, @len: the file (borrowed; @r borrows from it).
 * @line: on failure, the 1-based line at fault.
 * Return: 0; -EBADMSG (a line without '=', a bad key, a NUL byte);
 * -EMSGSIZE (more than REC_MAX_KEYS keys, a value or file too long);
 * -EEXIST (a key given twice).
 */
int rec_parse(const char *text, size_t len, struct rec *r, unsigned *line);

/*
 * rec_get() - copy the value of @key into @out (NUL-terminated).
 * Return: true if present and it fits.
 */
bool rec_get(const struct rec *r, const char *key, char *out, size_t cap);

/* One change for rec_edit(): set @key to @value, or remove it (NULL). */
struct rec_change {
	const char *key;
	const char *value;
};

/*
 * rec_edit() - the record @text (@len bytes, borrowed) with @n changes
 * applied, appended to @out: a key already there keeps its line's place
 * (comments and order stay), a new key goes at the end, a NULL value
 * removes the key; when several changes name one key, the last wins.
 * Return: 0; -EINVAL (a bad key, or a value with a line break or over
 * REC_MAX_VALUE); rec_parse()'s codes for @text or for the result (over
 * REC_MAX_KEYS); buf_add()'s.
 */
int rec_edit(const char *text, size_t len, const struct rec_change *ch,
    size_t n, struct buf *out);

/*
 * rec_name_ok() - a client or image name: [a-z0-9][a-z0-9._-]{0,62}, not
 * ending in '.'.  Names become directory names and DHCP host names.
 */
bool rec_name_ok(const char *name);

#endif
