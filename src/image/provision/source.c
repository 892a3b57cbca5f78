#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <lzma.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "core/io.h"
#include "core/err.h"
#include "image/disk/blk.h"
#include "core/size.h"
#include "image/provision/source.h"

#define SRC_IN_BUF  (1u << 20)
#define SRC_OUT_BUF (8u << 20)
/* Zero runs of at least this many bytes are skipped, leaving holes. */
#define SRC_ZERO_BLOCK 4096u

/* Writes decompressed data, skipping zero blocks so the file is sparse. */
struct src_out {
	int fd;
	uint64_t off, limit;
	struct prov_src_stream *stream; /* told of each write, or NULL */
	uint64_t written;   /* bytes of data in the file, holes not counted */
	bool limit_claimed; /* @limit is the container's claim, not the cap */
	const char *dir;    /* where the file is, for messages */
};

/*
 * The decoder thread and its readers share the count of bytes written
 * (only ever growing), the end state and a stop request.
 */
struct prov_src_stream {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t written;
	bool done, stop, joined;
	int err;
	int in;
	struct src_out out;
	const struct prov_progress *prog;
	uint64_t size;
	char msg[512];
};

static int
src_published(struct prov_src_stream *st, uint64_t written)
{
	bool stop;

	pthread_mutex_lock(&st->lock);
	st->written = written;
	stop = st->stop;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	return stop ? -ECANCELED : 0;
}

static bool
src_is_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static int
src_out_write(struct src_out *o, const uint8_t *p, size_t n)
{
	size_t i = 0, run = 0;
	bool in_run = false;
	int r;

	if (n > o->limit - o->off) {
		return -PNB_EXZ_SIZE;
	}
	while (i < n) {
		size_t len = n - i < SRC_ZERO_BLOCK ? n - i : SRC_ZERO_BLOCK;
		bool zero = src_is_zero(p + i, len);

		if (!zero && !in_run) {
			run = i;
			in_run = true;
		} else if (zero && in_run) {
			r = io_pwrite_all(
			    o->fd, p + run, i - run, o->off + run);
			if (r < 0) {
				return r;
			}
			o->written += i - run;
			in_run = false;
		}
		i += len;
	}
	if (in_run) {
		r = io_pwrite_all(o->fd, p + run, n - run, o->off + run);
		if (r < 0) {
			return r;
		}
		o->written += n - run;
	}
	o->off += n;
	return o->stream ? src_published(o->stream, o->off) : 0;
}

/* Why writing the decompressed disk failed, in words. */
static void
src_out_fail(
    const struct src_out *o, const char *kind, int r, char *msg, size_t msglen)
{
	char a[32], b[32];

	if (r == -PNB_EXZ_SIZE && o->limit_claimed) {
		snprintf(msg, msglen,
		    "the %s data expands beyond the %llu bytes its %s claims: "
		    "refusing a decompression bomb",
		    kind, (unsigned long long)o->limit,
		    !strcmp(kind, "xz") ? "index" : "frame header");
	} else if (r == -PNB_EXZ_SIZE) {
		snprintf(msg, msglen,
		    "the %s data expands past the import limit of %s "
		    "(--max-size, [image] max_size): raise it if the image "
		    "is really that large",
		    kind, size_human(o->limit, a, sizeof(a)));
	} else if (r == -ENOSPC || r == -EDQUOT) {
		snprintf(msg, msglen,
		    "the file system of %s filled up after %s of the "
		    "decompressed image (%s written): free some space, or "
		    "put the state directory on a larger file system",
		    o->dir, size_human(o->off, a, sizeof(a)),
		    size_human(o->written, b, sizeof(b)));
	}
}

static int
src_read(int fd, uint8_t *p, size_t n, size_t *got)
{
	ssize_t r;

	do {
		r = read(fd, p, n);
	} while (r < 0 && errno == EINTR);
	if (r < 0) {
		return -errno;
	}
	*got = (size_t)r;
	return 0;
}

static int
src_progress(const struct prov_progress *prog, uint64_t done, uint64_t total)
{
	return prog ? prog->fn(prog->arg, "decompress", done, total) : 0;
}

/*
 * The uncompressed size an .xz file states: the sum of its indexes, read
 * from the end of the file with liblzma's file-info decoder, which also
 * validates every stream footer and index on the way.
 */
static int
src_xz_claim(struct prov_src *s, char *msg, size_t msglen)
{
	lzma_stream st = LZMA_STREAM_INIT;
	lzma_index *idx = NULL;
	uint8_t *buf = malloc(65536);
	uint64_t pos = 0;
	lzma_ret ret;
	int r = 0;

	if (!buf) {
		return -ENOMEM;
	}
	ret = lzma_file_info_decoder(&st, &idx, 256u << 20, s->in_size);
	while (ret == LZMA_OK) {
		if (st.avail_in == 0) {
			ssize_t n = pread(s->fd, buf, 65536, (off_t)pos);

			if (n < 0) {
				r = -errno;
				goto out;
			}
			if (n == 0) {
				ret = LZMA_BUF_ERROR;
				break;
			}
			pos += (uint64_t)n;
			st.next_in = buf;
			st.avail_in = (size_t)n;
		}
		ret = lzma_code(&st, LZMA_RUN);
		if (ret == LZMA_SEEK_NEEDED) {
			pos = st.seek_pos;
			st.avail_in = 0;
			ret = LZMA_OK;
		}
	}
	if (ret != LZMA_STREAM_END) {
		snprintf(msg, msglen,
		    "the xz container is damaged (index or footer: %s); "
		    "download the image again",
		    ret == LZMA_FORMAT_ERROR    ? "not an xz file"
			: ret == LZMA_BUF_ERROR ? "file truncated"
						: "corrupt");
		r = -PNB_EXZ_DATA;
		goto out;
	}
	s->claimed = lzma_index_uncompressed_size(idx);
out:
	if (idx) {
		lzma_index_end(idx, NULL);
	}
	lzma_end(&st);
	free(buf);
	return r;
}

static uint32_t
src_xz_threads(void)
{
	uint32_t cpus = lzma_cputhreads();

	return cpus == 0 ? 1 : cpus > 8 ? 8 : cpus;
}

static int
src_unxz(int in, uint64_t in_size, struct src_out *o,
    const struct prov_progress *prog, char *msg, size_t msglen)
{
	lzma_stream st = LZMA_STREAM_INIT;
	uint8_t *ib = malloc(SRC_IN_BUF), *ob = malloc(SRC_OUT_BUF);
	uint64_t mem = lzma_physmem();
	lzma_mt mt = {
	    .flags = LZMA_CONCATENATED,
	    .threads = src_xz_threads(),
	    /* xz's own default budget for threads: a quarter of RAM. */
	    .memlimit_threading = mem ? mem / 4 : (512u << 20),
	    /* Refuse dictionaries no real image needs (xz -9 uses 64 MiB). */
	    .memlimit_stop = 1u << 30,
	};
	lzma_action act = LZMA_RUN;
	lzma_ret ret;
	uint64_t done = 0;
	int r = 0;

	if (!ib || !ob) {
		r = -ENOMEM;
		goto out;
	}
	ret = lzma_stream_decoder_mt(&st, &mt);
	if (ret != LZMA_OK) {
		r = -ENOMEM;
		goto out;
	}
	st.next_out = ob;
	st.avail_out = SRC_OUT_BUF;
	for (;;) {
		if (st.avail_in == 0 && act == LZMA_RUN) {
			size_t n;

			r = src_read(in, ib, SRC_IN_BUF, &n);
			if (r < 0) {
				goto out;
			}
			done += n;
			st.next_in = ib;
			st.avail_in = n;
			if (n == 0) {
				act = LZMA_FINISH;
			}
			r = src_progress(prog, done, in_size);
			if (r < 0) {
				goto out;
			}
		}
		ret = lzma_code(&st, act);
		if (st.avail_out == 0 || ret == LZMA_STREAM_END) {
			r = src_out_write(o, ob, SRC_OUT_BUF - st.avail_out);
			if (r < 0) {
				src_out_fail(o, "xz", r, msg, msglen);
				goto out;
			}
			st.next_out = ob;
			st.avail_out = SRC_OUT_BUF;
		}
		if (ret == LZMA_STREAM_END) {
			break;
		}
		if (ret != LZMA_OK) {
			r = ret == LZMA_MEM_ERROR || ret == LZMA_MEMLIMIT_ERROR
			    ? -ENOMEM
			    : -PNB_EXZ_DATA;
			snprintf(msg, msglen, "xz decompression failed: %s",
			    ret == LZMA_MEMLIMIT_ERROR
				? "it needs a dictionary over 1 GiB"
				: ret == LZMA_MEM_ERROR ? "out of memory"
				: ret == LZMA_BUF_ERROR
				? "the file is truncated"
				: ret == LZMA_FORMAT_ERROR ? "not an xz file"
				: ret == LZMA_OPTIONS_ERROR
				? "unsupported options in the header"
				: "the data is corrupt (checksum or stream "
				  "mismatch)");
			goto out;
		}
	}
out:
	lzma_end(&st);
	free(ib);
	free(ob);
	return r;
}

static int
src_unzstd(struct prov_src *s, int in, struct src_out *o,
    const struct prov_progress *prog, char *msg, size_t msglen)
{
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	uint8_t *ib = malloc(SRC_IN_BUF), *ob = malloc(SRC_OUT_BUF);
	ZSTD_inBuffer zi = {.src = ib};
	uint64_t done = 0, frame_out = 0, frame_claim = 0;
	bool frame_start = true, eof = false, any = false;
	int r = 0;

	s->threads = 1;
	if (!dc || !ib || !ob) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		ZSTD_outBuffer zo = {.dst = ob, .size = SRC_OUT_BUF};
		size_t ret;

		/* A frame header is at most 18 bytes: keep that many in. */
		if (!eof && zi.size - zi.pos < 18) {
			size_t keep = zi.size - zi.pos, n;

			memmove(ib, ib + zi.pos, keep);
			r = src_read(in, ib + keep, SRC_IN_BUF - keep, &n);
			if (r < 0) {
				goto out;
			}
			eof = n == 0;
			done += n;
			zi.size = keep + n;
			zi.pos = 0;
			r = src_progress(prog, done, s->in_size);
			if (r < 0) {
				goto out;
			}
		}
		if (zi.pos == zi.size && eof) {
			break;
		}
		if (frame_start) {
			unsigned long long fcs = ZSTD_getFrameContentSize(
			    ib + zi.pos, zi.size - zi.pos);

			if (fcs == ZSTD_CONTENTSIZE_ERROR) {
				r = -PNB_EXZ_DATA;
				snprintf(msg, msglen,
				    "zstd decompression failed: %s",
				    any ? "garbage after the last frame"
					: "not a zstd frame");
				goto out;
			}
			frame_claim = fcs == ZSTD_CONTENTSIZE_UNKNOWN ? 0 : fcs;
			frame_out = 0;
			frame_start = false;
			any = true;
		}
		ret = ZSTD_decompressStream(dc, &zo, &zi);
		if (ZSTD_isError(ret)) {
			r = -PNB_EXZ_DATA;
			snprintf(msg, msglen, "zstd decompression failed: %s",
			    ZSTD_getErrorName(ret));
			goto out;
		}
		frame_out += zo.pos;
		if (frame_claim && frame_out > frame_claim) {
			r = -PNB_EXZ_SIZE;
			snprintf(msg, msglen,
			    "the zstd frame expands beyond the %llu bytes "
			    "its header claims: refusing a decompression "
			    "bomb",
			    (unsigned long long)frame_claim);
			goto out;
		}
		r = src_out_write(o, ob, zo.pos);
		if (r < 0) {
			src_out_fail(o, "zstd", r, msg, msglen);
			goto out;
		}
		if (ret == 0) {
			frame_start = true;
		}
	}
	if (!frame_start || !any) {
		r = -PNB_EXZ_DATA;
		snprintf(msg, msglen, "zstd decompression failed: %s",
		    any ? "the file is truncated" : "empty file");
	}
out:
	ZSTD_freeDCtx(dc);
	free(ib);
	free(ob);
	return r;
}

/* MemAvailable from /proc/meminfo, in bytes; 0 when unknown. */
static uint64_t
src_mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	unsigned long long kib = 0;

	if (!f) {
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) {
			break;
		}
	}
	fclose(f);
	return (uint64_t)kib * 1024;
}

/*
 * The decompressed disk lives only until the import ends, so when it
 * fits comfortably in memory (half of what is available) it goes into a
 * memfd: no disk writes for data that is thrown away, which would
 * otherwise compete with writing the extracted files.  Sparse either way.
 */
static bool
src_fits_memory(uint64_t claimed)
{
	return claimed && claimed <= src_mem_available() / 2;
}

static int
src_tmpfile(const char *dir, bool in_memory)
{
	char path[4096];
	int fd;

	if (in_memory) {
		fd = memfd_create("pinetboot-disk", MFD_CLOEXEC);
		if (fd >= 0) {
			return fd;
		}
	}

	fd = open(dir, O_RDWR | O_TMPFILE | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR)) {
		return fd < 0 ? -errno : fd;
	}
	/* File systems without O_TMPFILE: unlink at once. */
	snprintf(path, sizeof(path), "%s/.pinetboot-disk-XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	unlink(path);
	return fd;
}

static void *
src_stream_main(void *arg)
{
	struct prov_src_stream *st = arg;
	int r = src_unxz(
	    st->in, st->size, &st->out, NULL, st->msg, sizeof(st->msg));

	if (r == 0 && st->out.off != st->size) {
		r = -PNB_EXZ_DATA;
		snprintf(st->msg, sizeof(st->msg),
		    "the xz data ends after %llu of the %llu bytes its index "
		    "claims",
		    (unsigned long long)st->out.off,
		    (unsigned long long)st->size);
	}
	close(st->in);
	pthread_mutex_lock(&st->lock);
	st->err = r;
	st->done = true;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

/*
 * Decode @in into @o->fd on a thread of its own.  The disk is sized to
 * the claimed length first, so its size is known to the partition
 * readers; their reads wait for the bytes in prov_src_wait().
 */
static int
src_stream_start(struct prov_src *s, int in, struct src_out *o,
    const struct prov_progress *prog)
{
	struct prov_src_stream *st = calloc(1, sizeof(*st));
	pthread_condattr_t ca;
	int r;

	if (!st) {
		return -ENOMEM;
	}
	if (ftruncate(o->fd, (off_t)s->claimed) < 0) {
		r = -errno;
		free(st);
		return r;
	}
	pthread_mutex_init(&st->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&st->cond, &ca);
	pthread_condattr_destroy(&ca);
	st->in = in;
	st->out = *o;
	st->out.stream = st;
	st->prog = prog;
	st->size = s->claimed;
	s->threads = (int)src_xz_threads();
	r = -pthread_create(&st->thread, NULL, src_stream_main, st);
	if (r < 0) {
		pthread_cond_destroy(&st->cond);
		pthread_mutex_destroy(&st->lock);
		free(st);
		return r;
	}
	s->stream = st;
	s->fd = o->fd;
	s->size = s->claimed;
	snprintf(s->path, sizeof(s->path), "/proc/self/fd/%d", o->fd);
	return 0;
}

int
prov_src_wait(struct prov_src *s, uint64_t end)
{
	struct prov_src_stream *st = s->stream;
	int r = 0;

	if (!st) {
		return 0;
	}
	pthread_mutex_lock(&st->lock);
	while (st->written < end && !st->done) {
		struct timespec until;

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += 1;
		if (pthread_cond_timedwait(&st->cond, &st->lock, &until) ==
		    ETIMEDOUT) {
			uint64_t done = st->written;

			/* A long wait: show it, and let an interrupt in. */
			pthread_mutex_unlock(&st->lock);
			r = src_progress(st->prog, done, st->size);
			pthread_mutex_lock(&st->lock);
			if (r < 0) {
				break;
			}
		}
	}
	if (r == 0 && st->written < end) {
		r = st->err < 0 ? st->err : -PNB_EXZ_DATA;
	}
	pthread_mutex_unlock(&st->lock);
	return r;
}

static void
src_stream_join(struct prov_src_stream *st)
{
	if (!st->joined) {
		pthread_join(st->thread, NULL);
		st->joined = true;
	}
}

int
prov_src_finish(struct prov_src *s, char *msg, size_t msglen)
{
	struct prov_src_stream *st = s->stream;
	int r;

	if (!st) {
		return 0;
	}
	/* What is left of the stream after the last read, with progress. */
	r = prov_src_wait(s, st->size);
	if (r == 0) {
		r = src_progress(st->prog, st->size, st->size);
	}
	if (r < 0 && r != -PNB_EXZ_DATA && r != -PNB_EXZ_SIZE) {
		return r; /* interrupted: prov_src_close() stops the decoder */
	}
	src_stream_join(st);
	if (st->err < 0) {
		snprintf(msg, msglen, "%s",
		    st->msg[0] ? st->msg : pnb_strerror(st->err));
	}
	return st->err;
}

static int64_t
src_blk_read(const struct blk *b, void *dst, size_t len, uint64_t off)
{
	struct prov_src *s = b->ctx;
	ssize_t n;
	int r;

	if (off > INT64_MAX || len > UINT64_MAX - off) {
		return -EINVAL;
	}
	r = prov_src_wait(s, off + len);
	if (r < 0) {
		return r;
	}
	do {
		n = pread(s->fd, dst, len, (off_t)off);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : (int64_t)n;
}

static const struct blk_ops src_blk_ops = {.read = src_blk_read};

void
prov_src_blk_init(struct blk *b, struct prov_src *s)
{
	*b = (struct blk){.ops = &src_blk_ops, .ctx = s, .size = s->size};
}

uint64_t
prov_free_bytes(const char *dir)
{
	struct statvfs v;

	if (statvfs(dir, &v) < 0) {
		return UINT64_MAX; /* unknown: the writes will tell */
	}
	return (uint64_t)v.f_bavail * v.f_frsize;
}

int
prov_room(
    const char *dir, uint64_t need, const char *what, char *msg, size_t msglen)
{
	uint64_t free_bytes = prov_free_bytes(dir);
	char a[32], b[32];

	if (need <= free_bytes) {
		return 0;
	}
	snprintf(msg, msglen,
	    "not enough space in %s: %s needs %s and %s are free; free some "
	    "space, or put the state directory on a larger file system",
	    dir, what, size_human(need, a, sizeof(a)),
	    size_human(free_bytes, b, sizeof(b)));
	return -ENOSPC;
}

/*
 * The smallest size the container states before anything is decoded:
 * the xz index's total, or the first zstd frame's content size (more
 * frames can only add to it).  0 when it states none.
 */
static uint64_t
src_claim_at_least(const struct prov_src *s, int in)
{
	uint8_t hdr[18];
	ssize_t n;
	unsigned long long fcs;

	if (s->kind == PROV_SRC_XZ) {
		return s->claimed;
	}
	n = pread(in, hdr, sizeof(hdr), 0);
	if (n <= 0) {
		return 0;
	}
	fcs = ZSTD_getFrameContentSize(hdr, (size_t)n);
	return fcs == ZSTD_CONTENTSIZE_UNKNOWN || fcs == ZSTD_CONTENTSIZE_ERROR
	    ? 0
	    : fcs;
}

int
prov_src_open(struct prov_src *s, const char *file, const char *tmpdir,
    uint64_t max_bytes, const struct prov_progress *prog, char *msg,
    size_t msglen)
{
	static const uint8_t xz_magic[6] = {0xfd, '7', 'z', 'X', 'Z', 0};
	static const uint8_t zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
	struct src_out o = {.fd = -1, .dir = tmpdir};
	uint64_t need;
	bool in_memory;
	uint8_t magic[6] = {0};
	char a[32], b[32];
	struct stat st;
	int in, r;

	*s = (struct prov_src){.fd = -1};
	msg[0] = '\0';
	in = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (in < 0) {
		r = -errno;
		snprintf(msg, msglen, "cannot open it: %s", strerror(-r));
		return r;
	}
	if (fstat(in, &st) < 0) {
		r = -errno;
		goto fail;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(in, BLKGETSIZE64, &s->in_size) < 0) {
			r = -errno;
			goto fail;
		}
	} else if (S_ISREG(st.st_mode)) {
		s->in_size = (uint64_t)st.st_size;
	} else {
		r = -EINVAL;
		snprintf(msg, msglen, "not a regular file or block device");
		goto fail;
	}
	if (pread(in, magic, sizeof(magic), 0) < 0) {
		r = -errno;
		goto fail;
	}
	if (!memcmp(magic, xz_magic, 6)) {
		s->kind = PROV_SRC_XZ;
	} else if (!memcmp(magic, zstd_magic, 4)) {
		s->kind = PROV_SRC_ZSTD;
	} else {
		s->kind = PROV_SRC_RAW;
		s->fd = in;
		s->size = s->in_size;
		snprintf(s->path, sizeof(s->path), "/proc/self/fd/%d", in);
		return 0;
	}
	s->fd = in; /* so that src_xz_claim can pread */
	if (s->kind == PROV_SRC_XZ) {
		r = src_xz_claim(s, msg, msglen);
		if (r < 0) {
			s->fd = -1;
			goto fail;
		}
	}
	s->fd = -1;
	/* What the container claims decides nothing on its own (issue 10). */
	need = src_claim_at_least(s, in);
	if (need > max_bytes) {
		r = -PNB_EXZ_SIZE;
		snprintf(msg, msglen,
		    "it claims %s (%llu bytes) uncompressed, more than the "
		    "import limit of %s (--max-size, [image] max_size): raise "
		    "it if the image is really that large",
		    size_human(need, a, sizeof(a)), (unsigned long long)need,
		    size_human(max_bytes, b, sizeof(b)));
		goto fail;
	}
	o.limit = s->claimed ? s->claimed : max_bytes;
	o.limit_claimed = s->claimed != 0;
	in_memory = src_fits_memory(s->claimed);
	if (!in_memory) {
		r = prov_room(
		    tmpdir, need, "the decompressed image", msg, msglen);
		if (r < 0) {
			goto fail;
		}
	}
	o.fd = src_tmpfile(tmpdir, in_memory);
	if (o.fd < 0) {
		r = o.fd;
		snprintf(msg, msglen, "cannot make a temporary file in %s: %s",
		    tmpdir, strerror(-r));
		goto fail;
	}
	if (s->kind == PROV_SRC_XZ) {
		/* The index gave the size: decode while the caller reads. */
		r = src_stream_start(s, in, &o, prog);
		if (r < 0) {
			goto fail;
		}
		return 0;
	}
	r = src_unzstd(s, in, &o, prog, msg, msglen);
	if (r < 0) {
		goto fail;
	}
	if (ftruncate(o.fd, (off_t)o.off) < 0) {
		r = -errno;
		goto fail;
	}
	close(in);
	s->fd = o.fd;
	s->size = o.off;
	snprintf(s->path, sizeof(s->path), "/proc/self/fd/%d", o.fd);
	return 0;
fail:
	if (!msg[0]) {
		snprintf(msg, msglen, "%s", pnb_strerror(r));
	}
	if (o.fd >= 0) {
		close(o.fd);
	}
	close(in);
	s->fd = -1;
	return r;
}

void
prov_src_close(struct prov_src *s)
{
	struct prov_src_stream *st = s->stream;

	if (st) {
		pthread_mutex_lock(&st->lock);
		st->stop = true;
		pthread_mutex_unlock(&st->lock);
		src_stream_join(st);
		pthread_cond_destroy(&st->cond);
		pthread_mutex_destroy(&st->lock);
		free(st);
		s->stream = NULL;
	}
	if (s->fd >= 0) {
		close(s->fd);
	}
	s->fd = -1;
}
