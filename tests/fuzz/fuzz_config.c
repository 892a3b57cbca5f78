#include <stdint.h>
#include <stdlib.h>

#include "core/cfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg *c = calloc(1, sizeof(*c));
	char msg[256];

	if (!c) {
		return 0;
	}
	cfg_defaults(c);
	if (cfg_parse(c, (const char *)data, size, msg, sizeof(msg)) == 0) {
		(void)cfg_finish(c, msg, sizeof(msg));
	}
	free(c);
	return 0;
}
