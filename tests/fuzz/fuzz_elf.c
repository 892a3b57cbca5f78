#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/provision/version.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The first bytes of a program inside an image, which import and update
 * read to tell the image's processor.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *a = prov_elf_arch(data, size);

	if (a && strcmp(a, "arm64") && strcmp(a, "armhf") &&
	    strcmp(a, "armel") && strcmp(a, "amd64") && strcmp(a, "i386") &&
	    strcmp(a, "riscv64")) {
		abort();
	}
	return 0;
}
