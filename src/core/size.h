#ifndef PNB_CORE_SIZE_H
#define PNB_CORE_SIZE_H

#include <stddef.h>
#include <stdint.h>

/* size_human() - "12.3 MiB" into @out (@cap bytes); returns @out. */
const char *size_human(uint64_t bytes, char *out, size_t cap);

#endif
