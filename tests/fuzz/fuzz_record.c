#include <stdint.h>
#include <stdlib.h>

#include "core/rec.h"
#include "server/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* client.conf and image.conf, which the CLI and the daemon read back. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rec r;
	unsigned line;
	char v[REC_MAX_VALUE + 1];
	size_t i;

	if (rec_parse((const char *)data, size, &r, &line) == 0) {
		for (i = 0; i < r.n; i++) {
			if (r.kv[i].key < (const char *)data ||
			    r.kv[i].value + r.kv[i].vlen >
				(const char *)data + size) {
				abort();
			}
		}
		(void)rec_get(&r, "serial", v, sizeof(v));
	}
	/* The daemon's reading of a client record on top of the parser. */
	{
		struct registry_client c;
		char msg[128];

		(void)registry_parse_record(
		    (const char *)data, size, &c, msg, sizeof(msg));
	}
	return 0;
}
