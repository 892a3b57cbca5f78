#include <errno.h>

#include "proto/portmap/pmap.h"
#include "proto/rpc/rpc.h"

static void
pmap_get(struct cur *c, struct pmap_mapping *m)
{
	m->prog = cur_be32(c);
	m->vers = cur_be32(c);
	m->prot = cur_be32(c);
	m->port = cur_be32(c);
}

int
pmap_mapping_parse(const uint8_t *buf, size_t len, struct pmap_mapping *out)
{
	struct cur c = cur_init(buf, len);

	pmap_get(&c, out);
	return cur_end(&c, false);
}

void
pmap_mapping_build(struct wcur *w, const struct pmap_mapping *m)
{
	wcur_be32(w, m->prog);
	wcur_be32(w, m->vers);
	wcur_be32(w, m->prot);
	wcur_be32(w, m->port);
}

int
pmap_dump_build(struct wcur *w, const struct pmap_mapping *m, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		wcur_be32(w, 1);
		pmap_mapping_build(w, &m[i]);
	}
	wcur_be32(w, 0);
	return w->err;
}

int
pmap_dump_parse(
    const uint8_t *buf, size_t len, struct pmap_mapping *out, size_t cap)
{
	struct cur c = cur_init(buf, len);
	size_t n = 0;

	while (rpc_get_bool(&c)) {
		if (n == cap) {
			return -EMSGSIZE;
		}
		pmap_get(&c, &out[n]);
		n++;
	}
	if (cur_end(&c, false) < 0) {
		return cur_end(&c, false);
	}
	return (int)n;
}
