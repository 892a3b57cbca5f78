/*
 * sparsepack IMAGE OUT: write IMAGE in the sparse container of
 * tests/fuzz/sparse.h (only non-zero sectors), for FAT seed corpora.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint8_t run[65535 * 512];

static void
put(FILE *f, uint32_t v, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		fputc((int)(v >> (8 * i)) & 0xff, f);
	}
}

static void
flush(FILE *out, uint32_t first, uint32_t *count)
{
	if (*count == 0) {
		return;
	}
	put(out, first, 4);
	put(out, *count, 2);
	fwrite(run, 512, *count, out);
	*count = 0;
}

int
main(int argc, char **argv)
{
	static const uint8_t zero[512];
	uint8_t sec[512];
	FILE *in, *out;
	long size;
	uint32_t s, first = 0, count = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: sparsepack IMAGE OUT\n");
		return 2;
	}
	in = fopen(argv[1], "rb");
	out = fopen(argv[2], "wb");
	if (!in || !out) {
		perror("sparsepack");
		return 1;
	}
	fseek(in, 0, SEEK_END);
	size = ftell(in);
	fseek(in, 0, SEEK_SET);
	put(out, (uint32_t)(size / 512), 4);
	for (s = 0; fread(sec, 1, sizeof(sec), in) == sizeof(sec); s++) {
		if (memcmp(sec, zero, sizeof(sec)) == 0 || count == 65535) {
			flush(out, first, &count);
		}
		if (memcmp(sec, zero, sizeof(sec)) != 0) {
			if (count == 0) {
				first = s;
			}
			memcpy(run + (size_t)count * 512, sec, 512);
			count++;
		}
	}
	flush(out, first, &count);
	fclose(in);
	return fclose(out) == 0 ? 0 : 1;
}
