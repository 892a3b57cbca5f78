#include <errno.h>
#include <string.h>

#include "image/provision/prov.h"

static bool
rec_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

int
prov_rec_parse(const char *text, size_t len, struct prov_rec *r, unsigned *line)
{
	size_t off = 0, i;

	r->n = 0;
	*line = 0;
	if (len > PROV_REC_MAX_BYTES) {
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
		if ((size_t)(ve - vs) > PROV_REC_MAX_VALUE) {
			return -EMSGSIZE;
		}
		for (i = 0; i < r->n; i++) {
			if (r->kv[i].klen == (size_t)(ke - ks) &&
			    !memcmp(r->kv[i].key, ks, r->kv[i].klen)) {
				return -EEXIST;
			}
		}
		if (r->n == PROV_REC_MAX_KEYS) {
			return -EMSGSIZE;
		}
		r->kv[r->n++] = (struct prov_kv){.key = ks,
		    .klen = (size_t)(ke - ks),
		    .value = vs,
		    .vlen = (size_t)(ve - vs)};
	}
	*line = 0;
	return 0;
}

bool
prov_rec_get(const struct prov_rec *r, const char *key, char *out, size_t cap)
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
prov_name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > PROV_NAME_MAX || name[n - 1] == '.') {
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
