#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/rec.h"

static bool
rec_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

int
rec_parse(const char *text, size_t len, struct rec *r, unsigned *line)
{
	size_t off = 0, i;

	r->n = 0;
	*line = 0;
	if (len > REC_MAX_BYTES) {
		return -EMSGSIZE;
	}
	while (off < len) {
		const char *p = text + off, *nl, *eq, *ks, *ke, *vs, *ve;
		size_t ll;

		nl = memchr(p, '\n', len - off);
		ll = nl ? (size_t)(nl - p) : len - off;
		off += ll + (nl ? 1 : 0);
		(*line)++;
		if (memchr(p, '\0', ll)) {
			return -EBADMSG;
		}
		ks = p;
		while (ks < p + ll && rec_blank(*ks)) {
			ks++;
		}
		if (ks == p + ll || *ks == '#') {
			continue;
		}
		eq = memchr(ks, '=', (size_t)(p + ll - ks));
		if (!eq) {
			return -EBADMSG;
		}
		ke = eq;
		while (ke > ks && rec_blank(ke[-1])) {
			ke--;
		}
		if (ke == ks) {
			return -EBADMSG;
		}
		for (i = 0; i < (size_t)(ke - ks); i++) {
			char c = ks[i];

			if (!((c >= 'a' && c <= 'z') ||
				(c >= '0' && c <= '9') || c == '_')) {
				return -EBADMSG;
			}
		}
		vs = eq + 1;
		ve = p + ll;
		while (vs < ve && rec_blank(*vs)) {
			vs++;
		}
		while (ve > vs && rec_blank(ve[-1])) {
			ve--;
		}
		if ((size_t)(ve - vs) > REC_MAX_VALUE) {
			return -EMSGSIZE;
		}
		for (i = 0; i < r->n; i++) {
			if (r->kv[i].klen == (size_t)(ke - ks) &&
			    !memcmp(r->kv[i].key, ks, r->kv[i].klen)) {
				return -EEXIST;
			}
		}
		if (r->n == REC_MAX_KEYS) {
			return -EMSGSIZE;
		}
		r->kv[r->n++] = (struct rec_kv){.key = ks,
		    .klen = (size_t)(ke - ks),
		    .value = vs,
		    .vlen = (size_t)(ve - vs)};
	}
	*line = 0;
	return 0;
}

bool
rec_get(const struct rec *r, const char *key, char *out, size_t cap)
{
	size_t i, kl = strlen(key);

	for (i = 0; i < r->n; i++) {
		if (r->kv[i].klen == kl && !memcmp(r->kv[i].key, key, kl)) {
			if (r->kv[i].vlen >= cap) {
				return false;
			}
			memcpy(out, r->kv[i].value, r->kv[i].vlen);
			out[r->kv[i].vlen] = '\0';
			return true;
		}
	}
	return false;
}

bool
rec_name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > REC_NAME_MAX || name[n - 1] == '.') {
		return false;
	}
	for (i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '.' && c != '-' && c != '_'))) {
			return false;
		}
	}
	return true;
}

/* A value for one line: no line break, no NUL, not too long. */
static bool
rec_value_ok(const char *v)
{
	return strlen(v) <= REC_MAX_VALUE && !strpbrk(v, "\n\r");
}

int
rec_edit(const char *text, size_t len, const struct rec_change *ch, size_t n,
    struct buf *out)
{
	struct rec r;
	unsigned line;
	size_t off = 0, i;
	bool *done = NULL;
	int rc;

	rc = rec_parse(text, len, &r, &line);
	if (rc < 0) {
		return rc;
	}
	for (i = 0; i < n; i++) {
		if (!ch[i].key || strlen(ch[i].key) == 0 ||
		    strspn(
			ch[i].key, "abcdefghijklmnopqrstuvwxyz0123456789_") !=
			strlen(ch[i].key) ||
		    (ch[i].value && !rec_value_ok(ch[i].value))) {
			return -EINVAL;
		}
	}
	done = calloc(n ? n : 1, sizeof(*done));
	if (!done) {
		return -ENOMEM;
	}
	/* Line by line: comments and order stay, changed keys in place. */
	while (off < len && rc == 0) {
		const char *p = text + off, *nl = memchr(p, '\n', len - off);
		size_t ll = nl ? (size_t)(nl - p) : len - off, k = 0, kl;
		const struct rec_change *c = NULL;

		off += ll + (nl ? 1 : 0);
		while (k < ll && rec_blank(p[k])) {
			k++;
		}
		kl = 0;
		if (k < ll && p[k] != '#') {
			while (k + kl < ll && p[k + kl] != '=' &&
			    !rec_blank(p[k + kl])) {
				kl++;
			}
			for (i = 0; i < n && !c; i++) {
				if (strlen(ch[i].key) == kl &&
				    !memcmp(ch[i].key, p + k, kl)) {
					c = &ch[i];
					done[i] = true;
				}
			}
		}
		if (!c) {
			rc = buf_add(out, p, ll);
			if (rc == 0) {
				rc = buf_add(out, "\n", 1);
			}
		} else if (c->value) {
			rc = buf_printf(out, "%s = %s\n", c->key, c->value);
		}
	}
	for (i = 0; i < n && rc == 0; i++) {
		size_t j;
		bool later = false;

		/* The last change of a key wins; unset keys stay out. */
		for (j = i + 1; j < n; j++) {
			later = later || strcmp(ch[j].key, ch[i].key) == 0;
		}
		if (!done[i] && !later && ch[i].value) {
			rc = buf_printf(
			    out, "%s = %s\n", ch[i].key, ch[i].value);
		}
	}
	free(done);
	if (rc < 0) {
		return rc;
	}
	/* The result must still be a record the readers take. */
	rc = rec_parse((const char *)out->p, out->len, &r, &line);
	return rc;
}
