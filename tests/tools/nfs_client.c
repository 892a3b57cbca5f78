/*
 * An NFS v3 test client on libnfs, so the e2e tests talk to pinetboot with
 * a client written by someone else.  Subcommands:
 *
 *   nfs_client all SERVER EXPORT        every procedure; PASS/FAIL lines
 *   nfs_client mount SERVER EXPORT      exit 0 when MNT succeeds
 *   nfs_client handle SERVER EXPORT P   print the handle of P in hex
 *   nfs_client getattr SERVER EXPORT H  print the nfsstat3 of GETATTR(H)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <unistd.h>

#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-nfs.h>

/* libnfs 4.0 keeps struct nfs_fh private; this is its layout. */
struct client_fh {
	int len;
	char *val;
};

static int failures;

static void
check(const char *name, int ok, const char *why)
{
	if (ok) {
		printf("PASS: %s\n", name);
	} else {
		printf("FAIL: %s (%s)\n", name, why);
		failures++;
	}
}

/* A raw call in flight on the mounted context. */
struct raw {
	int done, status;
	int nfsstat;
	uint64_t u1;
	int count;
	char fh[64];
	int fhlen;
};

static void
raw_wait(struct nfs_context *nfs, struct raw *r)
{
	struct rpc_context *rpc = nfs_get_rpc_context(nfs);
	int i;

	for (i = 0; i < 1000 && !r->done; i++) {
		struct pollfd p = {.fd = rpc_get_fd(rpc),
		    .events = (short)rpc_which_events(rpc)};

		if (poll(&p, 1, 100) < 0) {
			break;
		}
		if (rpc_service(rpc, p.revents) < 0) {
			break;
		}
	}
}

static void
cb_null(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct raw *r = priv;

	(void)rpc;
	(void)data;
	r->status = status;
	r->done = 1;
}

static void
cb_getattr(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct raw *r = priv;
	GETATTR3res *res = data;

	(void)rpc;
	r->status = status;
	if (status == RPC_STATUS_SUCCESS) {
		r->nfsstat = res->status;
		if (res->status == NFS3_OK) {
			r->u1 = res->GETATTR3res_u.resok.obj_attributes.fileid;
		}
	}
	r->done = 1;
}

static void
cb_lookup(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct raw *r = priv;
	LOOKUP3res *res = data;

	(void)rpc;
	r->status = status;
	if (status == RPC_STATUS_SUCCESS) {
		r->nfsstat = res->status;
		if (res->status == NFS3_OK) {
			nfs_fh3 *fh = &res->LOOKUP3res_u.resok.object;

			r->fhlen = (int)fh->data.data_len;
			memcpy(r->fh, fh->data.data_val,
			    fh->data.data_len < 64 ? fh->data.data_len : 64);
		}
	}
	r->done = 1;
}

static void
cb_pathconf(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct raw *r = priv;
	PATHCONF3res *res = data;

	(void)rpc;
	r->status = status;
	if (status == RPC_STATUS_SUCCESS) {
		r->nfsstat = res->status;
		if (res->status == NFS3_OK) {
			r->u1 = res->PATHCONF3res_u.resok.name_max;
		}
	}
	r->done = 1;
}

/* libnfs packs entry3 lists at 4-byte alignment; reading them is its way. */
__attribute__((no_sanitize("alignment"))) static void
cb_readdir(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct raw *r = priv;
	READDIR3res *res = data;

	(void)rpc;
	r->status = status;
	if (status == RPC_STATUS_SUCCESS) {
		r->nfsstat = res->status;
		if (res->status == NFS3_OK) {
			entry3 *e;

			for (e = res->READDIR3res_u.resok.reply.entries; e;
			     e = e->nextentry) {
				r->count++;
			}
			r->u1 = res->READDIR3res_u.resok.reply.eof;
		}
	}
	r->done = 1;
}

static int
raw_getattr(struct nfs_context *nfs, const char *fh, int len, uint64_t *id)
{
	struct raw r = {0};
	GETATTR3args a = {.object.data = {(u_int)len, (char *)fh}};

	if (rpc_nfs3_getattr_async(
		nfs_get_rpc_context(nfs), cb_getattr, &a, &r) < 0) {
		return -1;
	}
	raw_wait(nfs, &r);
	if (!r.done || r.status != RPC_STATUS_SUCCESS) {
		return -1;
	}
	if (id) {
		*id = r.u1;
	}
	return r.nfsstat;
}

static int
raw_lookup(struct nfs_context *nfs, const struct client_fh *dir,
    const char *name, struct raw *r)
{
	LOOKUP3args a = {.what = {.dir.data = {(u_int)dir->len, dir->val},
			     .name = (char *)name}};

	memset(r, 0, sizeof(*r));
	if (rpc_nfs3_lookup_async(nfs_get_rpc_context(nfs), cb_lookup, &a, r) <
	    0) {
		return -1;
	}
	raw_wait(nfs, r);
	return r->done && r->status == RPC_STATUS_SUCCESS ? r->nfsstat : -1;
}

static struct nfs_context *
client_mount(const char *server, const char *export)
{
	struct nfs_context *nfs = nfs_init_context();

	if (!nfs) {
		return NULL;
	}
	nfs_set_timeout(nfs, 10000);
	if (nfs_mount(nfs, server, export) < 0) {
		fprintf(stderr, "mount %s:%s: %s\n", server, export,
		    nfs_get_error(nfs));
		nfs_destroy_context(nfs);
		return NULL;
	}
	return nfs;
}

static int
fill(char *buf, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		buf[i] = (char)((i * 131 + seed) & 0xff);
	}
	return 0;
}

/* READs in flight together, each copying its data to its place in buf. */
struct piece {
	char *dst;
	int want, got, done;
};

static void
cb_piece(int status, struct nfs_context *nfs, void *data, void *priv)
{
	struct piece *pc = priv;

	(void)nfs;
	pc->done = 1;
	pc->got = status;
	if (status > 0 && status <= pc->want) {
		memcpy(pc->dst, data, (size_t)status);
	}
}

/*
 * Read @n pieces of @size bytes from offset 0 into @buf, all sent before
 * the first reply is read.  Return: 0 when every piece came back whole.
 */
static int
pread_in_flight(
    struct nfsfh *fh, struct nfs_context *nfs, char *buf, int n, int size)
{
	struct piece pcs[16];
	int i, left = n, bad = 0;

	for (i = 0; i < n && i < 16; i++) {
		pcs[i] = (struct piece){.dst = buf + i * size, .want = size};
		if (nfs_pread_async(nfs, fh, (uint64_t)i * (uint64_t)size,
			(uint64_t)size, cb_piece, &pcs[i]) < 0) {
			return -1;
		}
	}
	for (i = 0; i < 1000 && left > 0; i++) {
		struct pollfd p = {.fd = nfs_get_fd(nfs),
		    .events = (short)nfs_which_events(nfs)};
		int k;

		if (poll(&p, 1, 100) < 0 || nfs_service(nfs, p.revents) < 0) {
			return -1;
		}
		for (left = 0, k = 0; k < n; k++) {
			left += !pcs[k].done;
		}
	}
	for (i = 0; i < n; i++) {
		bad += !pcs[i].done || pcs[i].got != size;
	}
	return left == 0 && bad == 0 ? 0 : -1;
}

static void
suite_files(struct nfs_context *nfs)
{
	static char wbuf[300000], rbuf[300000];
	struct nfs_stat_64 st;
	struct nfsfh *fh = NULL;
	struct timeval tv[2];
	char link[256];
	int r;

	r = nfs_mkdir2(nfs, "/d", 0750);
	check("MKDIR", r == 0, nfs_get_error(nfs));
	r = nfs_stat64(nfs, "/d", &st);
	check("GETATTR mode of new directory",
	    r == 0 && (st.nfs_mode & 07777) == 0750 && S_ISDIR(st.nfs_mode),
	    "mode differs");
	r = nfs_creat(nfs, "/d/f", 0640, &fh);
	check("CREATE", r == 0, nfs_get_error(nfs));
	if (r < 0) {
		return;
	}
	fill(wbuf, sizeof(wbuf), 7);
	r = nfs_pwrite(nfs, fh, 0, sizeof(wbuf), wbuf);
	check("WRITE", r == (int)sizeof(wbuf), nfs_get_error(nfs));
	r = nfs_fsync(nfs, fh);
	check("COMMIT", r == 0, nfs_get_error(nfs));
	r = nfs_pread(nfs, fh, 0, sizeof(rbuf), rbuf);
	check("READ",
	    r == (int)sizeof(rbuf) && memcmp(wbuf, rbuf, sizeof(rbuf)) == 0,
	    "data differs");
	r = nfs_pread(nfs, fh, 299990, 100, rbuf);
	check("READ at end is short", r == 10, "wrong length");
	/* With calls in flight the server sends READ data with sendfile. */
	memset(rbuf, 0, sizeof(rbuf));
	r = pread_in_flight(fh, nfs, rbuf, 8, 32768);
	check("READs in flight together",
	    r == 0 && memcmp(wbuf, rbuf, 8 * 32768) == 0, "data differs");
	nfs_close(nfs, fh);
	fh = NULL;
	r = nfs_create(nfs, "/d/f", O_CREAT | O_EXCL | O_RDWR, 0600, &fh);
	check("CREATE exclusive of existing name fails", r < 0,
	    "second exclusive create succeeded");
	if (fh) {
		nfs_close(nfs, fh);
		fh = NULL;
	}
	r = nfs_create(nfs, "/d/x", O_CREAT | O_EXCL | O_RDWR, 0600, &fh);
	check("CREATE exclusive", r == 0, nfs_get_error(nfs));
	if (fh) {
		nfs_close(nfs, fh);
		fh = NULL;
	}
	r = nfs_stat64(nfs, "/d/x", &st);
	check("CREATE exclusive then SETATTR mode",
	    r == 0 && (st.nfs_mode & 07777) == 0600, "mode differs");

	r = nfs_chmod(nfs, "/d/f", 04755);
	nfs_stat64(nfs, "/d/f", &st);
	check("SETATTR mode keeps setuid",
	    r == 0 && (st.nfs_mode & 07777) == 04755, "mode differs");
	r = nfs_chmod(nfs, "/d", 01777);
	nfs_stat64(nfs, "/d", &st);
	check("SETATTR sticky directory",
	    r == 0 && (st.nfs_mode & 07777) == 01777, "mode differs");
	r = nfs_chown(nfs, "/d/f", 1234, 5678);
	nfs_stat64(nfs, "/d/f", &st);
	check("SETATTR owner",
	    r == 0 && st.nfs_uid == 1234 && st.nfs_gid == 5678,
	    "owner differs");
	tv[0] = (struct timeval){1000000000, 250000};
	tv[1] = (struct timeval){1100000000, 500000};
	r = nfs_utimes(nfs, "/d/f", tv);
	nfs_stat64(nfs, "/d/f", &st);
	check("SETATTR times",
	    r == 0 && st.nfs_mtime == 1100000000 &&
		st.nfs_mtime_nsec == 500000000 && st.nfs_atime == 1000000000,
	    "times differ");
	r = nfs_truncate(nfs, "/d/f", 1000);
	nfs_stat64(nfs, "/d/f", &st);
	check("SETATTR size", r == 0 && st.nfs_size == 1000, "size differs");

	r = nfs_symlink(nfs, "f", "/d/l");
	check("SYMLINK", r == 0, nfs_get_error(nfs));
	memset(link, 0, sizeof(link));
	r = nfs_readlink(nfs, "/d/l", link, sizeof(link));
	check("READLINK", r == 0 && strcmp(link, "f") == 0, "target differs");
	r = nfs_link(nfs, "/d/f", "/d/hard");
	nfs_stat64(nfs, "/d/f", &st);
	check("LINK", r == 0 && st.nfs_nlink == 2, nfs_get_error(nfs));
	r = nfs_rename(nfs, "/d/hard", "/d/hard2");
	check("RENAME",
	    r == 0 && nfs_stat64(nfs, "/d/hard2", &st) == 0 &&
		nfs_stat64(nfs, "/d/hard", &st) < 0,
	    nfs_get_error(nfs));
	r = nfs_mknod(nfs, "/d/null", S_IFCHR | 0666, makedev(1, 3));
	check("MKNOD chr", r == 0, nfs_get_error(nfs));
	r = nfs_stat64(nfs, "/d/null", &st);
	check("MKNOD chr rdev",
	    r == 0 && S_ISCHR(st.nfs_mode) && major(st.nfs_rdev) == 1 &&
		minor(st.nfs_rdev) == 3,
	    "rdev differs");
	r = nfs_mknod(nfs, "/d/fifo", S_IFIFO | 0600, 0);
	nfs_stat64(nfs, "/d/fifo", &st);
	check("MKNOD fifo", r == 0 && S_ISFIFO(st.nfs_mode), "not a fifo");
	r = nfs_access(nfs, "/d/f", R_OK | W_OK);
	check("ACCESS", r == 0, nfs_get_error(nfs));
}

static void
suite_dirs(struct nfs_context *nfs, const struct client_fh *root)
{
	struct nfsdir *dir;
	struct nfsdirent *de;
	struct statvfs sv;
	struct raw r = {0};
	struct raw lk;
	READDIR3args ra = {0};
	PATHCONF3args pa = {0};
	struct client_fh dfh;
	int n = 0, plus_attrs = 0, rc;

	rc = nfs_opendir(nfs, "/d", &dir);
	check("READDIRPLUS", rc == 0, nfs_get_error(nfs));
	if (rc == 0) {
		while ((de = nfs_readdir(nfs, dir))) {
			n++;
			if (strcmp(de->name, "f") == 0 && de->size == 1000) {
				plus_attrs = 1;
			}
		}
		nfs_closedir(nfs, dir);
	}
	check("READDIRPLUS entries and attributes", n >= 8 && plus_attrs,
	    "entries or attributes missing");
	rc = raw_lookup(nfs, root, "d", &lk);
	dfh = (struct client_fh){lk.fhlen, lk.fh};
	check("LOOKUP", rc == NFS3_OK, "lookup failed");
	ra.dir.data.data_len = (u_int)dfh.len;
	ra.dir.data.data_val = dfh.val;
	ra.count = 8192;
	rpc_nfs3_readdir_async(nfs_get_rpc_context(nfs), cb_readdir, &ra, &r);
	raw_wait(nfs, &r);
	check("READDIR", r.done && r.nfsstat == NFS3_OK && r.count >= 8,
	    "readdir failed");
	memset(&r, 0, sizeof(r));
	pa.object.data.data_len = (u_int)root->len;
	pa.object.data.data_val = root->val;
	rpc_nfs3_pathconf_async(nfs_get_rpc_context(nfs), cb_pathconf, &pa, &r);
	raw_wait(nfs, &r);
	check("PATHCONF", r.done && r.nfsstat == NFS3_OK && r.u1 == 255,
	    "pathconf failed");
	rc = nfs_statvfs(nfs, "/", &sv);
	check("FSSTAT", rc == 0 && sv.f_blocks > 0, nfs_get_error(nfs));
	memset(&r, 0, sizeof(r));
	rpc_nfs3_null_async(nfs_get_rpc_context(nfs), cb_null, &r);
	raw_wait(nfs, &r);
	check("NULL", r.done && r.status == RPC_STATUS_SUCCESS, "no reply");

	check("REMOVE", nfs_unlink(nfs, "/d/fifo") == 0, nfs_get_error(nfs));
	check("REMOVE missing is NOENT", nfs_unlink(nfs, "/d/fifo") == -ENOENT,
	    "wrong error");
	check("RMDIR non-empty fails", nfs_rmdir(nfs, "/d") < 0,
	    "removed a non-empty directory");
	nfs_mkdir(nfs, "/d/empty");
	check("RMDIR", nfs_rmdir(nfs, "/d/empty") == 0, nfs_get_error(nfs));
}

static void
suite_bad(struct nfs_context *nfs, const struct client_fh *root)
{
	char forged[64], longname[300];
	struct raw lk;
	struct nfsfh *fh = NULL;
	uint64_t id1 = 0, id2 = 0;
	int rc;

	memcpy(forged, root->val, (size_t)root->len);
	forged[root->len - 1] ^= 1;
	check("forged handle is BADHANDLE",
	    raw_getattr(nfs, forged, root->len, NULL) == NFS3ERR_BADHANDLE,
	    "forged handle accepted");
	memset(forged, 0x41, sizeof(forged));
	check("garbage handle is BADHANDLE",
	    raw_getattr(nfs, forged, 32, NULL) == NFS3ERR_BADHANDLE,
	    "garbage handle accepted");
	rc = raw_lookup(nfs, root, "..", &lk);
	raw_getattr(nfs, root->val, root->len, &id1);
	raw_getattr(nfs, lk.fh, lk.fhlen, &id2);
	check("LOOKUP .. at export root stays at the root",
	    rc == NFS3_OK && id1 == id2, "escaped the export");
	check("LOOKUP name with / is ACCES",
	    raw_lookup(nfs, root, "d/f", &lk) == NFS3ERR_ACCES, "wrong error");
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	check("LOOKUP over-long name is NAMETOOLONG",
	    raw_lookup(nfs, root, longname, &lk) == NFS3ERR_NAMETOOLONG,
	    "wrong error");
	rc = nfs_creat(nfs, "/gone", 0600, &fh);
	if (rc == 0) {
		struct client_fh *h = (struct client_fh *)nfs_get_fh(fh);
		char keep[64];
		int len = h->len;

		memcpy(keep, h->val, (size_t)len);
		nfs_close(nfs, fh);
		nfs_unlink(nfs, "/gone");
		check("handle of a removed file is STALE",
		    raw_getattr(nfs, keep, len, NULL) == NFS3ERR_STALE,
		    "wrong error");
	} else {
		check("handle of a removed file is STALE", 0, "create failed");
	}
}

static void
suite_large(struct nfs_context *nfs)
{
	struct nfs_stat_64 st;
	struct nfsfh *fh;
	char buf[4096], zero[4096] = {0};
	uint64_t off = 5ull << 30;
	int r;

	if (nfs_creat(nfs, "/sparse", 0644, &fh) < 0) {
		check("large sparse file", 0, nfs_get_error(nfs));
		return;
	}
	fill(buf, sizeof(buf), 3);
	r = nfs_pwrite(nfs, fh, off, sizeof(buf), buf);
	nfs_stat64(nfs, "/sparse", &st);
	check("large sparse file size",
	    r == (int)sizeof(buf) && st.nfs_size == off + sizeof(buf) &&
		st.nfs_used < 1024 * 1024,
	    "size or allocation differs");
	r = nfs_pread(nfs, fh, 4096, sizeof(buf), buf);
	check("large sparse file hole reads zero",
	    r == (int)sizeof(buf) && memcmp(buf, zero, sizeof(buf)) == 0,
	    "hole not zero");
	nfs_close(nfs, fh);
}

static int
root_handle(struct nfs_context *nfs, struct client_fh *out, char *store)
{
	struct nfsfh *fh;
	struct client_fh *h;

	if (nfs_open(nfs, "/", O_RDONLY, &fh) < 0) {
		return -1;
	}
	h = (struct client_fh *)nfs_get_fh(fh);
	memcpy(store, h->val, (size_t)h->len);
	out->len = h->len;
	out->val = store;
	nfs_close(nfs, fh);
	return 0;
}

static int
hexval(char c)
{
	return c >= 'a' ? c - 'a' + 10 : c - '0';
}

int
main(int argc, char **argv)
{
	struct nfs_context *nfs;
	struct client_fh root;
	char store[64];
	int i;

	if (argc < 4) {
		fprintf(stderr,
		    "usage: nfs_client all|mount|handle|getattr "
		    "SERVER EXPORT [ARG]\n");
		return 2;
	}
	nfs = client_mount(argv[2], argv[3]);
	if (strcmp(argv[1], "mount") == 0) {
		return nfs ? 0 : 1;
	}
	if (!nfs) {
		printf("FAIL: MNT (%s:%s)\n", argv[2], argv[3]);
		return 1;
	}
	if (strcmp(argv[1], "handle") == 0 && argc > 4) {
		struct nfsfh *fh;
		struct client_fh *h;

		if (nfs_open(nfs, argv[4], O_RDONLY, &fh) < 0) {
			return 1;
		}
		h = (struct client_fh *)nfs_get_fh(fh);
		for (i = 0; i < h->len; i++) {
			printf("%02x", (unsigned char)h->val[i]);
		}
		printf("\n");
		return 0;
	}
	if (strcmp(argv[1], "getattr") == 0 && argc > 4) {
		char fh[64];
		int n = (int)strlen(argv[4]) / 2;

		for (i = 0; i < n && i < 64; i++) {
			fh[i] = (char)(hexval(argv[4][2 * i]) << 4 |
			    hexval(argv[4][2 * i + 1]));
		}
		printf("%d\n", raw_getattr(nfs, fh, n, NULL));
		return 0;
	}
	printf("PASS: MNT\n");
	if (root_handle(nfs, &root, store) < 0) {
		printf("FAIL: root handle (%s)\n", nfs_get_error(nfs));
		return 1;
	}
	check("FSINFO (during mount)", nfs_get_readmax(nfs) >= 65536,
	    "small rtmax");
	suite_files(nfs);
	suite_dirs(nfs, &root);
	suite_bad(nfs, &root);
	suite_large(nfs);
	nfs_umount(nfs);
	nfs_destroy_context(nfs);
	return failures ? 1 : 0;
}
