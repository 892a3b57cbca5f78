#include <stdint.h>

#include "proto/http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_req q;
	int r = http_parse_request(data, size, &q);

	if (r > 0) {
		/* Everything returned must lie inside the input. */
		if ((size_t)r > size || q.method < data ||
		    q.target + q.target_len > data + size ||
		    (q.host &&
			(q.host < data || q.host + q.host_len > data + size)) ||
		    (q.authorization &&
			(q.authorization < data ||
			    q.authorization + q.authorization_len >
				data + size))) {
			__builtin_trap();
		}
		(void)http_target_is(&q, "/api/status");
	}
	return 0;
}
