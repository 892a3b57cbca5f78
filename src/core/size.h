#ifndef PNB_CORE_SIZE_H
#define PNB_CORE_SIZE_H

#include <stddef.h>
#include <stdint.h>

/*
 * size_parse() - a byte count from @s (borrowed): decimal digits with an
 * optional binary suffix K, M, G, T or P (either case), which may be
 * followed by "iB" ("64G", "64GiB", "512m", "1048576").
 * Return: 0 with *@out set, -EINVAL when @s is not a size, -ERANGE when
 * it is past 2^64 - 1.
 */
int size_parse(const char *s, uint64_t *out);

/* size_human() - "12.3 MiB" into @out (@cap bytes); returns @out. */
const char *size_human(uint64_t bytes, char *out, size_t cap);

#endif
