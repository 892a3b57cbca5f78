#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/size.h"

int
size_parse(const char *s, uint64_t *out)
{
	static const char units[] = "KMGTP";
	uint64_t v = 0;
	const char *u;
	unsigned shift = 0;

	if (*s < '0' || *s > '9') {
		return -EINVAL;
	}
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10) {
			return -ERANGE;
		}
		v = v * 10 + d;
	}
	if (*s) {
		u = strchr(units, toupper((unsigned char)*s));
		if (!u) {
			return -EINVAL;
		}
		shift = 10 * (unsigned)(u - units + 1);
		s++;
		if (!strcmp(s, "iB")) {
			s += 2;
		}
	}
	if (*s) {
		return -EINVAL;
	}
	if (shift && v > UINT64_MAX >> shift) {
		return -ERANGE;
	}
	*out = v << shift;
	return 0;
}

const char *
size_human(uint64_t bytes, char *out, size_t cap)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
	return out;
}
