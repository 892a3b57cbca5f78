/*
 * xzclaim FILE.xz SIZE: rewrite, in place, the uncompressed size that the
 * index of a single-stream, single-block .xz file claims, keeping the
 * index CRC32 valid.  Makes "expands beyond its claimed size" test files
 * (a lying index, as a decompression bomb would carry).  SIZE must encode
 * to as many VLI bytes as the old value.
 */
#include <lzma.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t
vli_get(const uint8_t *p, uint64_t *v)
{
	size_t i = 0;

	*v = 0;
	do {
		*v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
	} while (p[i++] & 0x80);
	return i;
}

static size_t
vli_put(uint8_t *p, uint64_t v)
{
	size_t i = 0;

	while (v >= 0x80) {
		p[i++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[i++] = (uint8_t)v;
	return i;
}

int
main(int argc, char **argv)
{
	FILE *f;
	uint8_t *buf, tmp[16];
	long size;
	uint64_t n, unpadded, old, want;
	size_t idx, isize, off, l1, l2;
	uint32_t crc;

	if (argc != 3) {
		fprintf(stderr, "usage: xzclaim FILE.xz SIZE\n");
		return 2;
	}
	want = strtoull(argv[2], NULL, 0);
	f = fopen(argv[1], "r+b");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	buf = malloc((size_t)size);
	fseek(f, 0, SEEK_SET);
	if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
		return 1;
	}
	/* Footer: CRC32, backward size, flags, "YZ" (xz format 2.1.2.4). */
	isize = ((size_t)(buf[size - 8] | buf[size - 7] << 8 |
		     buf[size - 6] << 16 | (uint32_t)buf[size - 5] << 24) +
		    1) *
	    4;
	idx = (size_t)size - 12 - isize;
	off = idx + 1;
	off += vli_get(buf + off, &n);
	if (buf[idx] != 0 || n != 1) {
		fprintf(stderr, "need exactly one block (xz -T1)\n");
		return 1;
	}
	off += vli_get(buf + off, &unpadded);
	l1 = vli_get(buf + off, &old);
	l2 = vli_put(tmp, want);
	if (l1 != l2) {
		fprintf(stderr, "size %llu needs %zu VLI bytes, old had %zu\n",
		    (unsigned long long)want, l2, l1);
		return 1;
	}
	memcpy(buf + off, tmp, l2);
	crc = lzma_crc32(buf + idx, isize - 4, 0);
	buf[idx + isize - 4] = (uint8_t)crc;
	buf[idx + isize - 3] = (uint8_t)(crc >> 8);
	buf[idx + isize - 2] = (uint8_t)(crc >> 16);
	buf[idx + isize - 1] = (uint8_t)(crc >> 24);
	fseek(f, 0, SEEK_SET);
	fwrite(buf, 1, (size_t)size, f);
	fclose(f);
	printf("claim %llu -> %llu\n", (unsigned long long)old,
	    (unsigned long long)want);
	free(buf);
	return 0;
}
