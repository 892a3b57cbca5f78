#include <stdint.h>
#include <stdlib.h>

#include "image/provision/prov.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* client.conf and image.conf, which the daemon reads back. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct prov_rec r;
	unsigned line;
	char v[PROV_REC_MAX_VALUE + 1];
	size_t i;

	if (prov_rec_parse((const char *)data, size, &r, &line) == 0) {
		for (i = 0; i < r.n; i++) {
			if (r.kv[i].key < (const char *)data ||
			    r.kv[i].value + r.kv[i].vlen >
				(const char *)data + size) {
				abort();
			}
		}
		(void)prov_rec_get(&r, "serial", v, sizeof(v));
	}
	return 0;
}
