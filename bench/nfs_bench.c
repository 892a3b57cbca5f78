/*
 * NFS v3 benchmark client on libnfs, used by bench/nfs.sh against
 * pinetboot and NFS-Ganesha alike.  Each run prints one line
 * "RESULT <what> <value> <unit>".
 *
 *   nfs_bench read  SERVER EXPORT FILE         sequential read, MiB/s
 *   nfs_bench write SERVER EXPORT FILE MIB     sequential write + COMMIT
 *   nfs_bench readall SERVER EXPORT DIR        every file of DIR read
 *                                              whole, one after another
 *   nfs_bench meta  SERVER EXPORT DIR          READDIRPLUS, then GETATTR
 *                                              of every entry; entries/s
 *   nfs_bench walk  SERVER EXPORT DIR          READDIRPLUS pages, then
 *                                              GETATTR of every returned
 *                                              handle, 16 in flight;
 *                                              entries/s
 *   nfs_bench call  SERVER EXPORT PROC PATH [SECONDS]
 *                                              one procedure (getattr,
 *                                              lookup, read, write,
 *                                              readdirplus) on PATH,
 *                                              one call in flight;
 *                                              calls/s and us/call
 *   nfs_bench pair  SERVER EXPORT1 EXPORT2 PROC PATH [SECONDS]
 *                                              the same on two exports,
 *                                              alternating call for
 *                                              call; us/call of each
 *                                              and their ratio
 *   nfs_bench hold  SERVER EXPORT N SECONDS    N mounted clients, each
 *                                              doing a GETATTR, held open
 *
 * Reads and writes keep up to 8 calls of 1 MiB (or the server's rtmax/
 * wtmax if smaller) in flight, as the Linux client does with its
 * readahead and write-behind.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-nfs.h>

#define DEPTH 8

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct nfs_context *
bench_mount(const char *server, const char *export)
{
	struct nfs_context *nfs = nfs_init_context();

	if (!nfs) {
		return NULL;
	}
	nfs_set_timeout(nfs, 30000);
	if (nfs_mount(nfs, server, export) < 0) {
		fprintf(stderr, "mount %s:%s: %s\n", server, export,
		    nfs_get_error(nfs));
		nfs_destroy_context(nfs);
		return NULL;
	}
	return nfs;
}

struct io {
	int inflight, errors;
	uint64_t bytes;
};

static void
io_cb(int status, struct nfs_context *nfs, void *data, void *priv)
{
	struct io *io = priv;

	(void)nfs;
	(void)data;
	io->inflight--;
	if (status < 0) {
		io->errors++;
	} else {
		io->bytes += (uint64_t)status;
	}
}

static int
io_wait(struct nfs_context *nfs, struct io *io, int below)
{
	while (io->inflight > below) {
		struct pollfd p = {.fd = nfs_get_fd(nfs),
		    .events = (short)nfs_which_events(nfs)};

		if (poll(&p, 1, 30000) <= 0 ||
		    nfs_service(nfs, p.revents) < 0) {
			return -1;
		}
	}
	return 0;
}

static int
bench_rw(struct nfs_context *nfs, const char *path, bool wr, uint64_t size)
{
	struct nfs_stat_64 st;
	struct nfsfh *fh;
	struct io io = {0};
	uint64_t chunk, off = 0;
	char *buf;
	double t0, t;
	int r;

	chunk = wr ? nfs_get_writemax(nfs) : nfs_get_readmax(nfs);
	if (chunk > 1 << 20) {
		chunk = 1 << 20;
	}
	buf = malloc(chunk);
	if (!buf) {
		return 1;
	}
	memset(buf, 0x5a, chunk);
	if (wr) {
		r = nfs_open2(
		    nfs, path, O_WRONLY | O_CREAT | O_TRUNC, 0644, &fh);
	} else {
		r = nfs_stat64(nfs, path, &st);
		size = st.nfs_size;
		if (r == 0) {
			r = nfs_open(nfs, path, O_RDONLY, &fh);
		}
	}
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", path, nfs_get_error(nfs));
		free(buf);
		return 1;
	}
	t0 = now_s();
	while (off < size && io.errors == 0) {
		uint64_t n = size - off < chunk ? size - off : chunk;

		r = wr ? nfs_pwrite_async(nfs, fh, off, n, buf, io_cb, &io)
		       : nfs_pread_async(nfs, fh, off, n, io_cb, &io);
		if (r < 0) {
			io.errors++;
			break;
		}
		io.inflight++;
		off += n;
		if (io_wait(nfs, &io, DEPTH - 1) < 0) {
			io.errors++;
		}
	}
	if (io_wait(nfs, &io, 0) < 0) {
		io.errors++;
	}
	if (wr && nfs_fsync(nfs, fh) < 0) {
		io.errors++;
	}
	t = now_s() - t0;
	nfs_close(nfs, fh);
	free(buf);
	if (io.errors || io.bytes != size) {
		fprintf(stderr,
		    "%s: %d errors, %" PRIu64 " of %" PRIu64 " bytes\n", path,
		    io.errors, io.bytes, size);
		return 1;
	}
	printf("RESULT %s %.1f MiB/s\n", wr ? "write" : "read",
	    (double)size / (1 << 20) / t);
	return 0;
}

/*
 * Read every regular file of @dir whole, one file after another, as a
 * booting client reads its boot-time files; prints the bytes and the
 * rate.
 */
static int
bench_readall(struct nfs_context *nfs, const char *dir)
{
	struct nfsdir *d;
	struct nfsdirent *de;
	struct nfs_stat_64 st;
	struct nfsfh *fh;
	char path[1024], *buf;
	uint64_t total = 0;
	double t0 = now_s(), t;
	int r = 0;

	buf = malloc(1 << 20);
	if (!buf || nfs_opendir(nfs, dir, &d) < 0) {
		fprintf(stderr, "%s: %s\n", dir, nfs_get_error(nfs));
		free(buf);
		return 1;
	}
	while (r == 0 && (de = nfs_readdir(nfs, d))) {
		uint64_t off = 0;

		snprintf(path, sizeof(path), "%s/%s", dir, de->name);
		if (de->name[0] == '.' || nfs_stat64(nfs, path, &st) < 0 ||
		    (st.nfs_mode & S_IFMT) != S_IFREG) {
			continue;
		}
		if (nfs_open(nfs, path, O_RDONLY, &fh) < 0) {
			r = 1;
			break;
		}
		while (off < st.nfs_size) {
			int n = nfs_pread(nfs, fh, off, 1 << 20, buf);

			if (n <= 0) {
				r = 1;
				break;
			}
			off += (uint64_t)n;
		}
		total += off;
		nfs_close(nfs, fh);
	}
	nfs_closedir(nfs, d);
	free(buf);
	t = now_s() - t0;
	if (r) {
		fprintf(stderr, "%s: %s\n", path, nfs_get_error(nfs));
		return 1;
	}
	printf("RESULT readall %.1f MiB/s (%" PRIu64 " bytes, %.2f s)\n",
	    (double)total / (1 << 20) / t, total, t);
	return 0;
}

static int
bench_meta(struct nfs_context *nfs, const char *dir)
{
	struct nfsdir *d;
	struct nfsdirent *de;
	struct nfs_stat_64 st;
	char path[1024];
	double t0 = now_s(), t;
	long n = 0;

	if (nfs_opendir(nfs, dir, &d) < 0) {
		fprintf(stderr, "%s: %s\n", dir, nfs_get_error(nfs));
		return 1;
	}
	while ((de = nfs_readdir(nfs, d))) {
		if (de->name[0] == '.') {
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, de->name);
		if (nfs_stat64(nfs, path, &st) < 0) {
			fprintf(stderr, "%s: %s\n", path, nfs_get_error(nfs));
			nfs_closedir(nfs, d);
			return 1;
		}
		n++;
	}
	nfs_closedir(nfs, d);
	t = now_s() - t0;
	printf("RESULT meta %.0f entries/s (%ld entries, %.3f s)\n",
	    (double)n / t, n, t);
	return 0;
}

/* libnfs 4.0 keeps struct nfs_fh private; this is its layout. */
struct bench_fh {
	int len;
	char *val;
};

struct walk {
	struct nfs_fh3 *fh; /* owned handles */
	size_t n, cap;
	uint64_t cookie;
	char verf[NFS3_COOKIEVERFSIZE];
	int eof, done, errors, inflight;
};

/* libnfs packs entryplus3 lists at 4-byte alignment. */
__attribute__((no_sanitize("alignment"))) static void
walk_rdp_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct walk *wk = priv;
	READDIRPLUS3res *res = data;
	entryplus3 *e;

	(void)rpc;
	wk->done = 1;
	if (status != RPC_STATUS_SUCCESS || res->status != NFS3_OK) {
		wk->errors++;
		return;
	}
	for (e = res->READDIRPLUS3res_u.resok.reply.entries; e;
	     e = e->nextentry) {
		nfs_fh3 *h = &e->name_handle.post_op_fh3_u.handle;

		wk->cookie = e->cookie;
		if (!e->name_handle.handle_follows || e->name[0] == '.') {
			continue;
		}
		if (wk->n == wk->cap) {
			size_t cap = wk->cap ? wk->cap * 2 : 1024;
			nfs_fh3 *p = realloc(wk->fh, cap * sizeof(*p));

			if (!p) {
				wk->errors++;
				return;
			}
			wk->fh = p;
			wk->cap = cap;
		}
		wk->fh[wk->n].data.data_len = h->data.data_len;
		wk->fh[wk->n].data.data_val = malloc(h->data.data_len);
		memcpy(wk->fh[wk->n].data.data_val, h->data.data_val,
		    h->data.data_len);
		wk->n++;
	}
	memcpy(wk->verf, res->READDIRPLUS3res_u.resok.cookieverf,
	    NFS3_COOKIEVERFSIZE);
	wk->eof = (int)res->READDIRPLUS3res_u.resok.reply.eof;
}

static void
walk_ga_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct walk *wk = priv;
	GETATTR3res *res = data;

	(void)rpc;
	wk->inflight--;
	if (status != RPC_STATUS_SUCCESS || res->status != NFS3_OK) {
		wk->errors++;
	}
}

static int
rpc_pump(struct rpc_context *rpc)
{
	struct pollfd p = {
	    .fd = rpc_get_fd(rpc), .events = (short)rpc_which_events(rpc)};

	if (poll(&p, 1, 30000) <= 0) {
		return -1;
	}
	return rpc_service(rpc, p.revents);
}

static int
bench_walk(struct nfs_context *nfs, const char *dir)
{
	struct rpc_context *rpc = nfs_get_rpc_context(nfs);
	struct walk wk = {0};
	struct nfsfh *dfh;
	struct bench_fh *bf;
	double t0, t;
	size_t i;

	if (nfs_open(nfs, dir, O_RDONLY, &dfh) < 0) {
		fprintf(stderr, "%s: %s\n", dir, nfs_get_error(nfs));
		return 1;
	}
	bf = (struct bench_fh *)nfs_get_fh(dfh);
	t0 = now_s();
	while (!wk.eof && !wk.errors) {
		READDIRPLUS3args a = {0};

		a.dir.data.data_len = (u_int)bf->len;
		a.dir.data.data_val = bf->val;
		a.cookie = wk.cookie;
		memcpy(a.cookieverf, wk.verf, NFS3_COOKIEVERFSIZE);
		a.dircount = 8192;
		a.maxcount = 65536;
		wk.done = 0;
		if (rpc_nfs3_readdirplus_async(rpc, walk_rdp_cb, &a, &wk) < 0) {
			wk.errors++;
			break;
		}
		while (!wk.done) {
			if (rpc_pump(rpc) < 0) {
				wk.errors++;
				break;
			}
		}
	}
	for (i = 0; i < wk.n && !wk.errors; i++) {
		GETATTR3args a = {.object = wk.fh[i]};

		if (rpc_nfs3_getattr_async(rpc, walk_ga_cb, &a, &wk) < 0) {
			wk.errors++;
			break;
		}
		wk.inflight++;
		while (wk.inflight >= 16) {
			if (rpc_pump(rpc) < 0) {
				wk.errors++;
				break;
			}
		}
	}
	while (wk.inflight > 0 && !wk.errors) {
		if (rpc_pump(rpc) < 0) {
			wk.errors++;
		}
	}
	t = now_s() - t0;
	nfs_close(nfs, dfh);
	for (i = 0; i < wk.n; i++) {
		free(wk.fh[i].data.data_val);
	}
	free(wk.fh);
	if (wk.errors) {
		fprintf(stderr, "walk: %d errors\n", wk.errors);
		return 1;
	}
	printf("RESULT walk %.0f entries/s (%zu entries, %.3f s)\n",
	    (double)wk.n / t, wk.n, t);
	return 0;
}

/* One call at a time: its status, set by the callback. */
struct one {
	int done, errors;
};

static void
one_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct one *o = priv;
	/* Every NFS v3 result starts with its nfsstat3. */
	const nfsstat3 *st = data;

	(void)rpc;
	o->done = 1;
	if (status != RPC_STATUS_SUCCESS || *st != NFS3_OK) {
		o->errors++;
	}
}

/*
 * The handle of @path (file or directory), copied out of the open file
 * libnfs made; @fhp gets the open file, closed by the caller.
 */
static int
handle_of(struct nfs_context *nfs, const char *path, int flags,
    struct nfsfh **fhp, nfs_fh3 *out)
{
	struct bench_fh *bf;

	if (nfs_open(nfs, path, flags, fhp) < 0) {
		fprintf(stderr, "%s: %s\n", path, nfs_get_error(nfs));
		return -1;
	}
	bf = (struct bench_fh *)nfs_get_fh(*fhp);
	out->data.data_len = (u_int)bf->len;
	out->data.data_val = bf->val;
	return 0;
}

/* What one procedure is called on, in one mounted export. */
struct callee {
	struct nfs_context *nfs;
	struct rpc_context *rpc;
	struct nfsfh *fh; /* the open file or directory the handles are of */
	nfs_fh3 h, dh;    /* the object; lookup: its directory */
	const char *name; /* lookup: the name looked up */
	char buf[4096];
};

/*
 * Prepare @c to call @proc (getattr, lookup, read, write, readdirplus)
 * on @path of mounted export @nfs.  lookup looks up @path's last name in
 * its directory.  Return: 0 or -1 (said why).
 */
static int
callee_open(struct callee *c, struct nfs_context *nfs, const char *proc,
    const char *path)
{
	const char *name = strrchr(path, '/');
	char dir[1024];

	memset(c, 0, sizeof(*c));
	memset(c->buf, 0x5a, sizeof(c->buf));
	c->nfs = nfs;
	c->rpc = nfs_get_rpc_context(nfs);
	if (strcmp(proc, "lookup") == 0) {
		snprintf(dir, sizeof(dir), "%.*s",
		    name && name != path ? (int)(name - path) : 1, path);
		c->name = name ? name + 1 : path;
		return handle_of(nfs, dir, O_RDONLY, &c->fh, &c->dh);
	}
	return handle_of(nfs, path,
	    strcmp(proc, "write") == 0 ? O_WRONLY : O_RDONLY, &c->fh, &c->h);
}

/*
 * Call @proc once through @c and wait for the answer; the @n-th call.
 * read and write move 4 KiB at offsets that go round the first MiB;
 * readdirplus asks for the first 64 KiB page.  Return: 0 or -1.
 */
static int
callee_one(struct callee *c, const char *proc, long n)
{
	uint64_t off = (uint64_t)(n % 256) * 4096;
	struct one o = {0};
	int r;

	if (strcmp(proc, "getattr") == 0) {
		GETATTR3args a = {.object = c->h};

		r = rpc_nfs3_getattr_async(c->rpc, one_cb, &a, &o);
	} else if (strcmp(proc, "lookup") == 0) {
		LOOKUP3args a = {
		    .what = {.dir = c->dh, .name = (char *)c->name}};

		r = rpc_nfs3_lookup_async(c->rpc, one_cb, &a, &o);
	} else if (strcmp(proc, "read") == 0) {
		READ3args a = {.file = c->h, .offset = off, .count = 4096};

		r = rpc_nfs3_read_async(c->rpc, one_cb, &a, &o);
	} else if (strcmp(proc, "write") == 0) {
		WRITE3args a = {.file = c->h,
		    .offset = off,
		    .count = 4096,
		    .stable = UNSTABLE,
		    .data = {4096, c->buf}};

		r = rpc_nfs3_write_async(c->rpc, one_cb, &a, &o);
	} else if (strcmp(proc, "readdirplus") == 0) {
		READDIRPLUS3args a = {
		    .dir = c->h, .dircount = 8192, .maxcount = 65536};

		r = rpc_nfs3_readdirplus_async(c->rpc, one_cb, &a, &o);
	} else {
		fprintf(stderr, "call: unknown procedure %s\n", proc);
		return -1;
	}
	while (r == 0 && !o.done) {
		if (rpc_pump(c->rpc) < 0) {
			r = -1;
		}
	}
	return r < 0 || o.errors ? -1 : 0;
}

/*
 * The cost of one procedure on @path, one call in flight, again and
 * again for @secs seconds.
 */
static int
bench_call(
    struct nfs_context *nfs, const char *proc, const char *path, double secs)
{
	struct callee c;
	double t0, t;
	long n = 0;
	int r;

	if (callee_open(&c, nfs, proc, path) < 0) {
		return 1;
	}
	t0 = now_s();
	do {
		r = callee_one(&c, proc, n++);
		t = now_s() - t0;
	} while (r == 0 && t < secs);
	nfs_close(nfs, c.fh);
	if (r < 0) {
		fprintf(stderr, "call %s %s: failed after %ld calls\n", proc,
		    path, n);
		return 1;
	}
	printf("RESULT call-%s %.0f calls/s (%.1f us/call, %ld calls)\n", proc,
	    (double)n / t, t / (double)n * 1e6, n);
	return 0;
}

/*
 * The same procedure on @path of two exports, alternating call for call
 * for @secs seconds, so both see the same load on a shared machine:
 * microseconds per call on each, and the ratio second/first.
 */
static int
bench_pair(const char *server, const char *ea, const char *eb, const char *proc,
    const char *path, double secs)
{
	struct nfs_context *na = bench_mount(server, ea);
	struct nfs_context *nb = na ? bench_mount(server, eb) : NULL;
	struct callee a, b;
	double ta = 0, tb = 0, t0, start;
	long n = 0;
	int r = -1;

	if (!nb || callee_open(&a, na, proc, path) < 0) {
		goto out;
	}
	if (callee_open(&b, nb, proc, path) < 0) {
		nfs_close(na, a.fh);
		goto out;
	}
	start = now_s();
	do {
		t0 = now_s();
		r = callee_one(&a, proc, n);
		ta += now_s() - t0;
		t0 = now_s();
		r = r < 0 ? r : callee_one(&b, proc, n);
		tb += now_s() - t0;
		n++;
	} while (r == 0 && now_s() - start < secs);
	nfs_close(na, a.fh);
	nfs_close(nb, b.fh);
	if (r == 0) {
		printf("RESULT pair-%s %.1f %.1f us/call, ratio %.3f (%ld "
		       "calls each)\n",
		    proc, ta / (double)n * 1e6, tb / (double)n * 1e6, tb / ta,
		    n);
	}
out:
	if (nb) {
		nfs_destroy_context(nb);
	}
	if (na) {
		nfs_destroy_context(na);
	}
	return r < 0 ? 1 : 0;
}

static int
bench_hold(const char *server, const char *export, int n, int secs)
{
	struct nfs_context **c = calloc((size_t)n, sizeof(*c));
	struct nfs_stat_64 st;
	int i, ok = 0;

	if (!c) {
		return 1;
	}
	for (i = 0; i < n; i++) {
		c[i] = bench_mount(server, export);
		if (c[i] && nfs_stat64(c[i], "/", &st) == 0) {
			ok++;
		}
	}
	printf("RESULT hold %d mounted\n", ok);
	fflush(stdout);
	sleep((unsigned)secs);
	for (i = 0; i < n; i++) {
		if (c[i]) {
			nfs_destroy_context(c[i]);
		}
	}
	free(c);
	return ok == n ? 0 : 1;
}

int
main(int argc, char **argv)
{
	struct nfs_context *nfs;
	int r = 2;

	if (argc < 5) {
		fprintf(stderr,
		    "usage: nfs_bench read|write|meta|walk|call|hold SERVER "
		    "EXPORT ARG [ARG...]\n");
		return 2;
	}
	if (strcmp(argv[1], "pair") == 0 && argc > 6) {
		return bench_pair(argv[2], argv[3], argv[4], argv[5], argv[6],
		    argc > 7 ? atof(argv[7]) : 2.0);
	}
	if (strcmp(argv[1], "hold") == 0) {
		return bench_hold(argv[2], argv[3], atoi(argv[4]),
		    argc > 5 ? atoi(argv[5]) : 5);
	}
	nfs = bench_mount(argv[2], argv[3]);
	if (!nfs) {
		return 1;
	}
	if (strcmp(argv[1], "read") == 0) {
		r = bench_rw(nfs, argv[4], false, 0);
	} else if (strcmp(argv[1], "write") == 0 && argc > 5) {
		r = bench_rw(
		    nfs, argv[4], true, (uint64_t)atoll(argv[5]) << 20);
	} else if (strcmp(argv[1], "readall") == 0) {
		r = bench_readall(nfs, argv[4]);
	} else if (strcmp(argv[1], "meta") == 0) {
		r = bench_meta(nfs, argv[4]);
	} else if (strcmp(argv[1], "walk") == 0) {
		r = bench_walk(nfs, argv[4]);
	} else if (strcmp(argv[1], "call") == 0 && argc > 5) {
		r = bench_call(
		    nfs, argv[4], argv[5], argc > 6 ? atof(argv[6]) : 2.0);
	}
	nfs_umount(nfs);
	nfs_destroy_context(nfs);
	return r;
}
