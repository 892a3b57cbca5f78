#include <stdint.h>

#include "server/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct registry_client c;
	char msg[128];

	(void)registry_parse_record(
	    (const char *)data, size, &c, msg, sizeof(msg));
	return 0;
}
