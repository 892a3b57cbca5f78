#ifndef PNB_IMAGE_PROVISION_SOURCE_H
#define PNB_IMAGE_PROVISION_SOURCE_H

#include <stddef.h>
#include <stdint.h>

/*
 * The disk image an import reads: a raw .img or block device as it is,
 * or a .img.xz / .img.zst decompressed once, streaming, into an unnamed
 * sparse temporary file in the state directory (O_TMPFILE: a killed run
 * leaves nothing behind).  The partition readers and libext2fs need
 * random access, which a compressed stream cannot give; decompressing
 * once costs one write of the non-zero data and is what makes the rest a
 * plain file read.  See docs/provisioning.md.
 */

enum prov_src_kind {
	PROV_SRC_RAW = 0,
	PROV_SRC_XZ,
	PROV_SRC_ZSTD,
};

struct prov_src_stream;

struct prov_src {
	enum prov_src_kind kind;
	int fd;           /* the disk: the original, or the temp file */
	char path[64];    /* a name for @fd that libext2fs can open */
	uint64_t size;    /* bytes of disk */
	uint64_t in_size; /* bytes of the file given */
	uint64_t claimed; /* uncompressed size the container states, or 0 */
	int threads;      /* decoder threads used */
	/*
	 * An .xz file (whose index states the size) is decoded by a thread
	 * while the caller already reads: reads of bytes not yet decoded
	 * wait in prov_src_wait().  NULL when the disk is complete.
	 */
	struct prov_src_stream *stream;
};

struct prov_progress {
	/*
	 * Called with @done of @total bytes of the current phase; a negative
	 * return aborts the operation with that value (-EINTR on a signal).
	 */
	int (*fn)(void *arg, const char *phase, uint64_t done, uint64_t total);
	void *arg;
};

/*
 * prov_src_open() - open @file (borrowed) read-only, detect xz and zstd by
 * their magic, and decompress into a temporary file made in @tmpdir.
 * The size the container claims bounds the output, but never on its own:
 * a claim past @max_bytes is refused before anything is decoded, a claim
 * past the free space of @tmpdir too (unless the disk fits in memory),
 * and with no claim the output stops at @max_bytes.
 * @msg: on failure, a sentence saying what is wrong.
 * Return: 0; -PNB_EXZ_DATA (corrupt or truncated compressed data);
 * -PNB_EXZ_SIZE (a claim past @max_bytes, or data beyond the claim or
 * past @max_bytes); -ENOSPC (no room in @tmpdir, found before or while
 * writing); -ENOMEM (a dictionary past the memory limit); the progress
 * callback's value; or -errno.
 */
int prov_src_open(struct prov_src *s, const char *file, const char *tmpdir,
    uint64_t max_bytes, const struct prov_progress *prog, char *msg,
    size_t msglen);

/*
 * prov_free_bytes() - bytes an unprivileged user could still write to
 * the file system of @dir (what df shows as available; root's reserve
 * stays for the server's leases and logs), UINT64_MAX when unknown.
 */
uint64_t prov_free_bytes(const char *dir);

/*
 * prov_room() - is there room for @need bytes in @dir?  @what names the
 * data for the message ("the decompressed image").
 * Return: 0, or -ENOSPC with @msg saying how much is needed and free.
 */
int prov_room(
    const char *dir, uint64_t need, const char *what, char *msg, size_t msglen);

/*
 * prov_src_wait() - wait until the first @end bytes of the disk are there
 * (at once for a complete disk).  Calls the progress callback of
 * prov_src_open() with phase "decompress" when it waits long.
 * Return: 0; the decoder's error (see prov_src_open(); the message comes
 * from prov_src_finish()); or the progress callback's value.
 */
int prov_src_wait(struct prov_src *s, uint64_t end);

/*
 * prov_src_finish() - wait for the decoder to reach the end of the
 * stream and verify it (checksums, the claimed size).
 * Return: 0, or the decoder's error with @msg saying what is wrong.
 */
int prov_src_finish(struct prov_src *s, char *msg, size_t msglen);

struct blk;

/*
 * prov_src_blk_init() - @b reads the disk of @s (borrowed), waiting for
 * bytes still being decoded.
 */
void prov_src_blk_init(struct blk *b, struct prov_src *s);

/*
 * prov_src_close() - stop a decoder still running, close the fds; the
 * temp file vanishes with them.
 */
void prov_src_close(struct prov_src *s);

#endif
