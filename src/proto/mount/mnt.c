#include <errno.h>
#include <string.h>

#include "proto/mount/mnt.h"
#include "proto/rpc/rpc.h"

int
mnt_dirpath_parse(const uint8_t *buf, size_t len, char *out)
{
	struct cur c = cur_init(buf, len);

	rpc_get_string(&c, MNT_PATH_MAX, out, MNT_PATH_MAX + 1);
	return cur_end(&c, false);
}

int
mnt_mnt_build(struct wcur *w, uint32_t stat, const uint8_t *fh, size_t fhlen,
    const uint32_t *flavors, size_t nflavors)
{
	size_t i;

	wcur_be32(w, stat);
	if (stat != MNT3_OK) {
		return w->err;
	}
	if (fhlen > MNT_FH_MAX) {
		return -EMSGSIZE;
	}
	rpc_put_opaque(w, fh, fhlen);
	wcur_be32(w, (uint32_t)nflavors);
	for (i = 0; i < nflavors; i++) {
		wcur_be32(w, flavors[i]);
	}
	return w->err;
}

int
mnt_mnt_parse(
    const uint8_t *buf, size_t len, uint32_t *stat, uint8_t *fh, size_t *fhlen)
{
	struct cur c = cur_init(buf, len);
	const uint8_t *p;
	uint32_t n, i;

	*fhlen = 0;
	*stat = cur_be32(&c);
	if (c.err || *stat != MNT3_OK) {
		return cur_end(&c, false);
	}
	p = rpc_get_opaque(&c, MNT_FH_MAX, fhlen);
	if (p) {
		memcpy(fh, p, *fhlen);
	}
	n = cur_be32(&c);
	if (n > 64) {
		return -EMSGSIZE;
	}
	for (i = 0; i < n; i++) {
		cur_be32(&c);
	}
	return cur_end(&c, false);
}

int
mnt_dump_build(struct wcur *w, const struct mnt_body *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		wcur_be32(w, 1);
		rpc_put_string(w, b[i].host);
		rpc_put_string(w, b[i].dir);
	}
	wcur_be32(w, 0);
	return w->err;
}

int
mnt_export_build(struct wcur *w, const struct mnt_export *e, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		wcur_be32(w, 1);
		rpc_put_string(w, e[i].dir);
		for (j = 0; j < e[i].ngroups; j++) {
			wcur_be32(w, 1);
			rpc_put_string(w, e[i].groups[j]);
		}
		wcur_be32(w, 0);
	}
	wcur_be32(w, 0);
	return w->err;
}
