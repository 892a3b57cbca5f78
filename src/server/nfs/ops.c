#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "proto/nfs3/nfs3.h"
#include "server/nfs/ops.h"

#define NFS_NOBODY 65534u

/* RPC accepted header: xid, type, reply_stat, verf flavor+len, stat. */
#define NFS_RPC_HDR 24

/* One call in progress on a worker thread. */
struct nfs_req {
	struct nfs_exports *ex;
	const struct nfs_export_table *t; /* referenced for the whole call */
	const struct nfs_op_ctx *ctx;
	struct nfs3_args args;
	struct nfs3_res res;
	struct rpc_auth_sys cred;
	bool creds_set;
	bool existed;   /* CREATE found the file there: only its size changes */
	struct wcur *w; /* the reply, positioned after the RPC header */
	void *scratch;  /* owned; freed after the reply is built */
	void *scratch2;
};

struct nfs_op {
	const char *name;
	void (*fn)(struct nfs_req *q);
	bool idempotent;
};

uint32_t
nfs_errno_stat(int err)
{
	switch (err) {
	case 0:
		return NFS3_OK;
	case EPERM:
		return NFS3ERR_PERM;
	case ENOENT:
		return NFS3ERR_NOENT;
	case ENXIO:
		return NFS3ERR_NXIO;
	case EACCES:
		return NFS3ERR_ACCES;
	case EEXIST:
		return NFS3ERR_EXIST;
	case EXDEV:
		return NFS3ERR_XDEV;
	case ENODEV:
		return NFS3ERR_NODEV;
	case ENOTDIR:
		return NFS3ERR_NOTDIR;
	case EISDIR:
		return NFS3ERR_ISDIR;
	case EINVAL:
		return NFS3ERR_INVAL;
	case EFBIG:
		return NFS3ERR_FBIG;
	case ENOSPC:
		return NFS3ERR_NOSPC;
	case EROFS:
		return NFS3ERR_ROFS;
	case EMLINK:
		return NFS3ERR_MLINK;
	case ENAMETOOLONG:
		return NFS3ERR_NAMETOOLONG;
	case ENOTEMPTY:
		return NFS3ERR_NOTEMPTY;
	case EDQUOT:
		return NFS3ERR_DQUOT;
	case ESTALE:
		return NFS3ERR_STALE;
	case EBADMSG:
		return NFS3ERR_BADHANDLE;
	case EOPNOTSUPP:
		return NFS3ERR_NOTSUPP;
	case ELOOP:
		/* A final symlink met O_NOFOLLOW: the name is not a file. */
		return NFS3ERR_INVAL;
	case EAGAIN:
	case ENOMEM:
		return NFS3ERR_JUKEBOX;
	default:
		return NFS3ERR_IO;
	}
}

/* --- credentials --------------------------------------------------------- */

static void nfs_creds_leave(struct nfs_req *q);

/*
 * The id a caller's AUTH_SYS id acts as.  (uid_t)-1 is no id to the
 * kernel: setfsuid(-1) and setfsgid(-1) change nothing, which would leave
 * the worker at fsuid 0, and setgroups() refuses it.  Like knfsd, which
 * maps every id make_kuid() rejects to the export's anonymous id
 * (nfsd_setuser), it acts as nobody.  With root_squash, 0 does too.
 */
static uint32_t
nfs_map_id(const struct nfs_export *e, uint32_t id)
{
	if (id == UINT32_MAX || (e->root_squash && id == 0)) {
		return NFS_NOBODY;
	}
	return id;
}

/*
 * Act as the caller for the file-system calls that follow.  Only this
 * thread changes: setfsuid, setfsgid and the raw setgroups system call
 * are per-thread (glibc's setgroups() would change every thread).  A
 * non-zero fsuid drops CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_CHOWN and
 * friends from this thread's effective set; going back to 0 restores
 * them.  setfsuid() and setfsgid() report no failure, so each is called
 * again and must return the id just set; a switch that did not happen
 * fails the call rather than run it as root.
 * Return: 0, or -EPERM (NFS3ERR_PERM) with the thread back at root.
 */
static int
nfs_creds_enter(struct nfs_req *q, const struct nfs_export *e)
{
	uint32_t uid = nfs_map_id(e, q->cred.uid);
	uint32_t gid = nfs_map_id(e, q->cred.gid);
	gid_t groups[RPC_AUTH_SYS_NGIDS];
	uint32_t i;

	/*
	 * Root keeps acting as root: the thread already is, and every
	 * credential change costs a few microseconds in the kernel.
	 */
	if (uid == 0 && gid == 0) {
		return 0;
	}
	for (i = 0; i < q->cred.ngids; i++) {
		groups[i] = nfs_map_id(e, q->cred.gids[i]);
	}
	q->creds_set = true;
	if (syscall(SYS_setgroups, (size_t)q->cred.ngids, groups) < 0) {
		goto fail;
	}
	setfsgid(gid);
	if ((uint32_t)setfsgid(gid) != gid) {
		goto fail;
	}
	setfsuid(uid);
	if ((uint32_t)setfsuid(uid) != uid) {
		goto fail;
	}
	return 0;
fail:
	nfs_creds_leave(q);
	return -EPERM;
}

static void
nfs_creds_leave(struct nfs_req *q)
{
	if (!q->creds_set) {
		return;
	}
	setfsuid(0);
	setfsgid(0);
	syscall(SYS_setgroups, (size_t)0, NULL);
	q->creds_set = false;
}

/*
 * Does the caller own @st?  Like knfsd (NFSD_MAY_OWNER_OVERRIDE), the
 * owner may write a file whatever its mode bits say: a client creates a
 * file 0444 and then writes it (cp -p, tar, dpkg do this), relying on the
 * open it already holds.
 */
static bool
nfs_is_owner(
    const struct nfs_req *q, const struct nfs_export *e, const struct stat *st)
{
	return st->st_uid == nfs_map_id(e, q->cred.uid);
}

/* --- attributes ---------------------------------------------------------- */

static uint32_t
nfs_ftype(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFDIR:
		return NF3DIR;
	case S_IFBLK:
		return NF3BLK;
	case S_IFCHR:
		return NF3CHR;
	case S_IFLNK:
		return NF3LNK;
	case S_IFSOCK:
		return NF3SOCK;
	case S_IFIFO:
		return NF3FIFO;
	default:
		return NF3REG;
	}
}

static void
nfs_fattr(
    const struct nfs_export *e, const struct stat *st, struct nfs3_fattr *a)
{
	a->type = nfs_ftype(st->st_mode);
	/* The 12 low bits, setuid, setgid and sticky included. */
	a->mode = st->st_mode & 07777;
	a->nlink = (uint32_t)st->st_nlink;
	a->uid = st->st_uid;
	a->gid = st->st_gid;
	a->size = (uint64_t)st->st_size;
	a->used = (uint64_t)st->st_blocks * 512;
	a->rdev_major = major(st->st_rdev);
	a->rdev_minor = minor(st->st_rdev);
	a->fsid = e->fsid;
	a->fileid = st->st_ino;
	a->atime = (struct nfs3_time){
	    (uint32_t)st->st_atim.tv_sec, (uint32_t)st->st_atim.tv_nsec};
	a->mtime = (struct nfs3_time){
	    (uint32_t)st->st_mtim.tv_sec, (uint32_t)st->st_mtim.tv_nsec};
	a->ctime = (struct nfs3_time){
	    (uint32_t)st->st_ctim.tv_sec, (uint32_t)st->st_ctim.tv_nsec};
}

static int
nfs_stat_fd(int fd, struct stat *st)
{
	return fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0
	    ? -errno
	    : 0;
}

static void
nfs_post(const struct nfs_export *e, int fd, struct nfs3_post_attr *p)
{
	struct stat st;

	p->present = fd >= 0 && nfs_stat_fd(fd, &st) == 0;
	if (p->present) {
		nfs_fattr(e, &st, &p->a);
	}
}

static void
nfs_wcc_before(int fd, struct nfs3_wcc *w)
{
	struct stat st;

	w->has_before = nfs_stat_fd(fd, &st) == 0;
	if (w->has_before) {
		w->before.size = (uint64_t)st.st_size;
		w->before.mtime = (struct nfs3_time){
		    (uint32_t)st.st_mtim.tv_sec, (uint32_t)st.st_mtim.tv_nsec};
		w->before.ctime = (struct nfs3_time){
		    (uint32_t)st.st_ctim.tv_sec, (uint32_t)st.st_ctim.tv_nsec};
	}
}

/* --- handles and names --------------------------------------------------- */

/*
 * Open @fh as O_PATH; on failure set the result status.  The export must
 * let the caller's address in, on every call and not only at MNT, and
 * from a reserved port unless it is "insecure": knfsd answers
 * NFS3ERR_PERM to such a call (fs/nfsd/nfsfh.c), so we do too.
 */
static int
nfs_open(struct nfs_req *q, const struct nfs3_fh *fh, struct nfs_export **e)
{
	int fd, r = nfs_fh_open(q->ex, q->t, fh, e, &fd);

	if (r < 0) {
		q->res.status = nfs_errno_stat(-r);
		return -1;
	}
	if (!nfs_export_allows(*e, q->ctx->peer)) {
		close(fd);
		q->res.status = NFS3ERR_ACCES;
		return -1;
	}
	if (!nfs_export_port_ok(*e, q->ctx->peer_port)) {
		close(fd);
		q->res.status = NFS3ERR_PERM;
		if (q->ctx->port_refused) {
			*q->ctx->port_refused = true;
		}
		return -1;
	}
	return fd;
}

static int
nfs_open_dir(struct nfs_req *q, const struct nfs3_fh *fh, struct nfs_export **e)
{
	struct stat st;
	int fd = nfs_open(q, fh, e);

	if (fd < 0) {
		return -1;
	}
	if (nfs_stat_fd(fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
		close(fd);
		q->res.status = NFS3ERR_NOTDIR;
		return -1;
	}
	return fd;
}

/*
 * A name for a new or existing directory entry: not empty, no '/', no
 * NUL (the decoder refused those).  Like knfsd we answer NFS3ERR_ACCES.
 */
static uint32_t
nfs_name_check(const char *name)
{
	if (name[0] == 0 || strchr(name, '/')) {
		return NFS3ERR_ACCES;
	}
	return NFS3_OK;
}

static bool
nfs_is_dot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

/* Reopen an O_PATH descriptor for real I/O, checked with the fsuid. */
static int
nfs_reopen(int fd, int flags)
{
	char path[64];
	int r;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r = open(path, flags | O_CLOEXEC);
	return r < 0 ? -errno : r;
}

static void
nfs_close(int fd)
{
	if (fd >= 0) {
		close(fd);
	}
}

/* Fill the handle and attributes of a new or found object. */
static void
nfs_obj(struct nfs_req *q, const struct nfs_export *e, int fd)
{
	q->res.has_fh = nfs_fh_build(q->ex, e, fd, &q->res.fh) == 0;
	nfs_post(e, fd, &q->res.obj);
}

static int
nfs_check_ro(struct nfs_req *q, const struct nfs_export *e)
{
	if (e->ro) {
		q->res.status = NFS3ERR_ROFS;
		return -1;
	}
	return 0;
}

/* --- procedures (RFC 1813 §3.3) ------------------------------------------ */

static void
nfs_null(struct nfs_req *q)
{
	(void)q;
}

static void
nfs_getattr(struct nfs_req *q)
{
	struct nfs_export *e;
	int fd = nfs_open(q, &q->args.fh, &e);

	if (fd < 0) {
		return;
	}
	nfs_post(e, fd, &q->res.obj);
	if (!q->res.obj.present) {
		q->res.status = NFS3ERR_STALE;
	}
	close(fd);
}

static int
nfs_apply_sattr(struct nfs_req *q, const struct nfs_export *e, int fd,
    const struct stat *st, const struct nfs3_sattr *s)
{
	char path[64];
	int wfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (s->set_size) {
		if (S_ISDIR(st->st_mode)) {
			return -EISDIR;
		}
		if (!S_ISREG(st->st_mode)) {
			return -EINVAL;
		}
		wfd = nfs_reopen(fd, O_WRONLY);
		if (wfd == -EACCES && nfs_is_owner(q, e, st)) {
			nfs_creds_leave(q);
			wfd = nfs_reopen(fd, O_WRONLY);
			if (nfs_creds_enter(q, e) < 0) {
				nfs_close(wfd);
				return -EPERM;
			}
		}
		if (wfd < 0) {
			return wfd;
		}
		if (ftruncate(wfd, (off_t)s->size) < 0) {
			int r = -errno;

			close(wfd);
			return r;
		}
		close(wfd);
	}
	/* Owner before mode: chown clears setuid, and the mode asked for wins.
	 */
	if ((s->set_uid || s->set_gid) &&
	    fchownat(fd, "", s->set_uid ? s->uid : (uid_t)-1,
		s->set_gid ? s->gid : (gid_t)-1,
		AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		return -errno;
	}
	if (s->set_mode && !S_ISLNK(st->st_mode) &&
	    chmod(path, s->mode & 07777) < 0) {
		return -errno;
	}
	if (s->set_atime || s->set_mtime) {
		struct timespec ts[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};

		if (s->set_atime == NFS3_SET_TO_SERVER_TIME) {
			ts[0].tv_nsec = UTIME_NOW;
		} else if (s->set_atime == NFS3_SET_TO_CLIENT_TIME) {
			ts[0] = (struct timespec){s->atime.sec, s->atime.nsec};
		}
		if (s->set_mtime == NFS3_SET_TO_SERVER_TIME) {
			ts[1].tv_nsec = UTIME_NOW;
		} else if (s->set_mtime == NFS3_SET_TO_CLIENT_TIME) {
			ts[1] = (struct timespec){s->mtime.sec, s->mtime.nsec};
		}
		if ((ts[0].tv_nsec != UTIME_OMIT &&
			ts[0].tv_nsec != UTIME_NOW &&
			ts[0].tv_nsec >= 1000000000) ||
		    (ts[1].tv_nsec != UTIME_OMIT &&
			ts[1].tv_nsec != UTIME_NOW &&
			ts[1].tv_nsec >= 1000000000)) {
			return -EINVAL;
		}
		if (utimensat(fd, "", ts, AT_EMPTY_PATH) < 0) {
			return -errno;
		}
	}
	return 0;
}

static void
nfs_setattr(struct nfs_req *q)
{
	struct nfs_export *e;
	struct stat st;
	int fd = nfs_open(q, &q->args.fh, &e), r;

	if (fd < 0) {
		return;
	}
	nfs_wcc_before(fd, &q->res.wcc);
	if (nfs_stat_fd(fd, &st) < 0) {
		q->res.status = NFS3ERR_STALE;
		goto out;
	}
	if (q->args.guard_check &&
	    ((uint32_t)st.st_ctim.tv_sec != q->args.guard_ctime.sec ||
		(uint32_t)st.st_ctim.tv_nsec != q->args.guard_ctime.nsec)) {
		q->res.status = NFS3ERR_NOT_SYNC;
		goto out;
	}
	if (nfs_check_ro(q, e) < 0) {
		goto out;
	}
	r = nfs_creds_enter(q, e);
	if (r == 0) {
		r = nfs_apply_sattr(q, e, fd, &st, &q->args.sattr);
	}
	nfs_creds_leave(q);
	q->res.status = nfs_errno_stat(-r);
out:
	nfs_post(e, fd, &q->res.wcc.after);
	close(fd);
}

/* Open @name in @dirfd without leaving the export; "." and ".." too. */
static int
nfs_lookup_at(const struct nfs_export *e, int dirfd, const char *name)
{
	struct open_how how = {
	    .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
	    .resolve =
		RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	struct stat st;
	long fd;

	if (strcmp(name, "..") == 0) {
		/* ".." of the export root is the root itself, as in knfsd. */
		if (nfs_stat_fd(dirfd, &st) == 0 && st.st_ino == e->ino &&
		    st.st_dev == e->dev) {
			fd = openat(dirfd, ".", O_PATH | O_CLOEXEC);
		} else {
			fd = openat(dirfd, "..", O_PATH | O_CLOEXEC);
		}
		return fd < 0 ? -errno : (int)fd;
	}
	fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
	if (fd < 0) {
		/* A mount point inside the export is not part of it. */
		return errno == EXDEV ? -EACCES : -errno;
	}
	return (int)fd;
}

static void
nfs_lookup(struct nfs_req *q)
{
	struct nfs_export *e;
	int dfd = nfs_open_dir(q, &q->args.where.dir, &e), fd;

	if (dfd < 0) {
		return;
	}
	q->res.status = nfs_name_check(q->args.where.name);
	if (q->res.status == NFS3_OK) {
		fd = nfs_creds_enter(q, e);
		if (fd == 0) {
			fd = nfs_lookup_at(e, dfd, q->args.where.name);
		}
		nfs_creds_leave(q);
		if (fd < 0) {
			q->res.status = nfs_errno_stat(-fd);
		} else {
			nfs_obj(q, e, fd);
			if (!q->res.has_fh) {
				q->res.status = NFS3ERR_ACCES;
			}
			close(fd);
		}
	}
	nfs_post(e, dfd, &q->res.dir);
	close(dfd);
}

/* The ACCESS bits the caller has, from the mode bits (RFC 1813 §3.3.4). */
static uint32_t
nfs_access_bits(
    const struct nfs_req *q, const struct nfs_export *e, const struct stat *st)
{
	uint32_t uid = nfs_map_id(e, q->cred.uid), bits, out = 0, i;
	bool isdir = S_ISDIR(st->st_mode);
	bool ingroup = st->st_gid == nfs_map_id(e, q->cred.gid);

	for (i = 0; i < q->cred.ngids; i++) {
		ingroup =
		    ingroup || nfs_map_id(e, q->cred.gids[i]) == st->st_gid;
	}
	if (uid == 0) {
		bits = 7;
		if (!isdir && !(st->st_mode & 0111)) {
			bits = 6;
		}
	} else if (uid == st->st_uid) {
		bits = (st->st_mode >> 6) & 7;
	} else if (ingroup) {
		bits = (st->st_mode >> 3) & 7;
	} else {
		bits = st->st_mode & 7;
	}
	if (bits & 4) {
		out |= NFS3_ACCESS_READ;
	}
	if (bits & 2) {
		out |= NFS3_ACCESS_MODIFY | NFS3_ACCESS_EXTEND;
		if (isdir) {
			out |= NFS3_ACCESS_DELETE;
		}
	}
	if (bits & 1) {
		out |= isdir ? NFS3_ACCESS_LOOKUP : NFS3_ACCESS_EXECUTE;
	}
	if (e->ro) {
		out &= ~(uint32_t)(NFS3_ACCESS_MODIFY | NFS3_ACCESS_EXTEND |
		    NFS3_ACCESS_DELETE);
	}
	return out;
}

static void
nfs_access(struct nfs_req *q)
{
	struct nfs_export *e;
	struct stat st;
	int fd = nfs_open(q, &q->args.fh, &e);

	if (fd < 0) {
		return;
	}
	if (nfs_stat_fd(fd, &st) < 0) {
		q->res.status = NFS3ERR_STALE;
	} else {
		q->res.access = q->args.access & nfs_access_bits(q, e, &st);
		nfs_fattr(e, &st, &q->res.obj.a);
		q->res.obj.present = true;
	}
	close(fd);
}

static void
nfs_readlink(struct nfs_req *q)
{
	struct nfs_export *e;
	char *buf;
	ssize_t n;
	int fd = nfs_open(q, &q->args.fh, &e);

	if (fd < 0) {
		return;
	}
	nfs_post(e, fd, &q->res.obj);
	if (!q->res.obj.present || q->res.obj.a.type != NF3LNK) {
		q->res.status = NFS3ERR_INVAL;
		goto out;
	}
	buf = malloc(NFS3_PATH_MAX + 1);
	if (!buf) {
		q->res.status = NFS3ERR_JUKEBOX;
		goto out;
	}
	q->scratch = buf;
	n = readlinkat(fd, "", buf, NFS3_PATH_MAX + 1);
	if (n < 0) {
		q->res.status = nfs_errno_stat(errno);
	} else if (n > NFS3_PATH_MAX) {
		q->res.status = NFS3ERR_NAMETOOLONG;
	} else {
		q->res.data = (const uint8_t *)buf;
		q->res.data_len = (size_t)n;
	}
out:
	close(fd);
}

/* Largest READ the reply buffer and the transport can carry. */
static uint32_t
nfs_io_max(const struct nfs_req *q)
{
	size_t room = q->ctx->max_reply > 1024 ? q->ctx->max_reply - 1024 : 0;

	return room < NFS3_IO_MAX ? (uint32_t)room : NFS3_IO_MAX;
}

static void
nfs_read(struct nfs_req *q)
{
	struct nfs_export *e;
	struct stat st;
	uint32_t count = q->args.count;
	size_t at;
	ssize_t n;
	int fd = nfs_open(q, &q->args.fh, &e), rfd;

	if (fd < 0) {
		return;
	}
	if (nfs_stat_fd(fd, &st) < 0) {
		q->res.status = NFS3ERR_STALE;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		nfs_post(e, fd, &q->res.obj);
		q->res.status =
		    S_ISDIR(st.st_mode) ? NFS3ERR_ISDIR : NFS3ERR_INVAL;
		goto out;
	}
	rfd = nfs_creds_enter(q, e);
	if (rfd == 0) {
		rfd = nfs_reopen(fd, O_RDONLY);
	}
	nfs_creds_leave(q);
	if (rfd < 0) {
		nfs_post(e, fd, &q->res.obj);
		q->res.status = nfs_errno_stat(-rfd);
		goto out;
	}
	if (count > nfs_io_max(q)) {
		count = nfs_io_max(q);
	}
	if (q->ctx->tail) {
		/*
		 * Zero copy: the data goes from the page cache to the socket
		 * with sendfile once the header is out.  The transport pads
		 * with zeros should the file shrink meanwhile.
		 */
		struct stat rst;
		uint64_t avail = 0;

		if (fstat(rfd, &rst) == 0 &&
		    (uint64_t)rst.st_size > q->args.offset) {
			avail = (uint64_t)rst.st_size - q->args.offset;
		}
		n = (ssize_t)(avail < count ? avail : count);
		q->res.data = NULL;
		q->res.data_len = (size_t)n;
		q->res.count = (uint32_t)n;
		nfs_post(e, rfd, &q->res.obj);
		q->res.obj.present = true;
		q->res.eof = q->args.offset + (uint64_t)n >= q->res.obj.a.size;
		*q->ctx->tail = (struct nfs_file_tail){
		    .fd = n > 0 ? rfd : -1,
		    .off = q->args.offset,
		    .len = (size_t)n,
		    .pad = (4 - ((size_t)n & 3)) & 3,
		};
		if (n == 0) {
			close(rfd);
		}
		goto out;
	}
	/*
	 * Read straight into the reply: status, post_op_attr (present),
	 * count, eof and the opaque length come first.
	 */
	at = q->w->off + 4 + 4 + 84 + 4 + 4 + 4;
	if (count > q->w->cap - at) {
		count = (uint32_t)(q->w->cap - at);
	}
	n = count ? pread(rfd, q->w->p + at, count, (off_t)q->args.offset) : 0;
	if (n < 0) {
		q->res.status = nfs_errno_stat(errno);
		nfs_post(e, rfd, &q->res.obj);
	} else {
		q->res.data = NULL; /* in place */
		q->res.data_len = (size_t)n;
		q->res.count = (uint32_t)n;
		nfs_post(e, rfd, &q->res.obj);
		q->res.obj.present = true;
		q->res.eof = q->args.offset + (uint64_t)n >= q->res.obj.a.size;
	}
	close(rfd);
out:
	close(fd);
}

static void
nfs_write(struct nfs_req *q)
{
	struct nfs_export *e;
	struct stat st;
	size_t done = 0;
	int fd = nfs_open(q, &q->args.fh, &e), wfd = -1;

	if (fd < 0) {
		return;
	}
	nfs_wcc_before(fd, &q->res.wcc);
	if (nfs_stat_fd(fd, &st) < 0) {
		q->res.status = NFS3ERR_STALE;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		q->res.status =
		    S_ISDIR(st.st_mode) ? NFS3ERR_ISDIR : NFS3ERR_INVAL;
		goto out;
	}
	if (nfs_check_ro(q, e) < 0) {
		goto out;
	}
	wfd = nfs_creds_enter(q, e);
	if (wfd == 0) {
		wfd = nfs_reopen(fd, O_WRONLY);
	}
	nfs_creds_leave(q);
	if (wfd == -EACCES && nfs_is_owner(q, e, &st)) {
		wfd = nfs_reopen(fd, O_WRONLY);
	}
	if (wfd < 0) {
		q->res.status = nfs_errno_stat(-wfd);
		goto out;
	}
	while (done < q->args.data_len) {
		ssize_t n = pwrite(wfd, q->args.data + done,
		    q->args.data_len - done, (off_t)(q->args.offset + done));

		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			break;
		}
		done += (size_t)n;
	}
	if (done == 0 && q->args.data_len > 0) {
		q->res.status = nfs_errno_stat(errno);
		goto out;
	}
	q->res.committed = NFS3_UNSTABLE;
	if (q->args.stable != NFS3_UNSTABLE) {
		if (fdatasync(wfd) < 0) {
			q->res.status = nfs_errno_stat(errno);
			goto out;
		}
		q->res.committed = NFS3_FILE_SYNC;
	}
	q->res.count = (uint32_t)done;
	memcpy(q->res.verf, q->ex->write_verf, NFS3_VERF_SIZE);
out:
	nfs_post(e, wfd >= 0 ? wfd : fd, &q->res.wcc.after);
	nfs_close(wfd);
	close(fd);
}

/*
 * The common start of CREATE, MKDIR, SYMLINK and MKNOD: the directory,
 * its pre-op attributes and the name checks.
 */
static int
nfs_create_begin(struct nfs_req *q, struct nfs_export **e)
{
	int dfd = nfs_open_dir(q, &q->args.where.dir, e);

	if (dfd < 0) {
		return -1;
	}
	nfs_wcc_before(dfd, &q->res.wcc);
	q->res.status = nfs_name_check(q->args.where.name);
	if (q->res.status == NFS3_OK && nfs_is_dot(q->args.where.name)) {
		q->res.status = NFS3ERR_EXIST;
	}
	if (q->res.status == NFS3_OK) {
		nfs_check_ro(q, *e);
	}
	if (q->res.status != NFS3_OK) {
		nfs_post(*e, dfd, &q->res.wcc.after);
		close(dfd);
		return -1;
	}
	return dfd;
}

/*
 * Finish: owner and mode of the new object, its handle and attributes,
 * dir wcc.  @fd (taken) is the object, or -1 when the call that made it
 * returned no descriptor (mkdirat, symlinkat, mknodat): then it is looked
 * up by name.  What follows runs as the caller, so an object swapped in
 * between gains that caller nothing.
 */
static void
nfs_create_end(
    struct nfs_req *q, const struct nfs_export *e, int dfd, int fd, int r)
{
	const struct nfs3_sattr *s = &q->args.sattr;
	struct stat st;

	if (r < 0) {
		q->res.status = nfs_errno_stat(-r);
		nfs_close(fd);
		goto out;
	}
	if (fd < 0) {
		fd = nfs_lookup_at(e, dfd, q->args.where.name);
	}
	if (fd < 0) {
		q->res.status = nfs_errno_stat(-fd);
		goto out;
	}
	if ((s->set_uid || s->set_gid) &&
	    q->args.createmode != NFS3_EXCLUSIVE && !q->existed) {
		if (nfs_creds_enter(q, e) < 0) {
			q->res.status = NFS3ERR_PERM;
		} else if (fchownat(fd, "", s->set_uid ? s->uid : (uid_t)-1,
			       s->set_gid ? s->gid : (gid_t)-1,
			       AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
			q->res.status = nfs_errno_stat(errno);
		}
		nfs_creds_leave(q);
	}
	/*
	 * The mode asked for is the mode the object gets: the process
	 * umask (the client applied its own already), mkdir(2) dropping
	 * setgid and sticky, and chown clearing setuid all change it, so
	 * it is set once more where it differs.  The process umask is left
	 * alone because other services create files too.
	 */
	if (s->set_mode && q->args.createmode != NFS3_EXCLUSIVE &&
	    !q->existed && q->args.proc != NFS3_PROC_SYMLINK &&
	    nfs_stat_fd(fd, &st) == 0 &&
	    (st.st_mode & 07777) != (s->mode & 07777)) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (nfs_creds_enter(q, e) < 0) {
			q->res.status = NFS3ERR_PERM;
		} else if (chmod(path, s->mode & 07777) < 0) {
			q->res.status = nfs_errno_stat(errno);
		}
		nfs_creds_leave(q);
	}
	nfs_obj(q, e, fd);
	close(fd);
out:
	nfs_post(e, dfd, &q->res.wcc.after);
	close(dfd);
}

static mode_t
nfs_sattr_mode(const struct nfs3_sattr *s, mode_t def)
{
	return s->set_mode ? (mode_t)(s->mode & 07777) : def;
}

/*
 * RFC 1813 §3.3.8: an EXCLUSIVE create keeps the client's verifier with
 * the file; like knfsd we keep it in the mtime and atime seconds, which
 * the SETATTR that follows overwrites.
 */
static void
nfs_verf_times(const uint8_t *v, struct timespec ts[2])
{
	ts[1] = (struct timespec){
	    (time_t)((uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 |
		(uint32_t)v[2] << 8 | v[3]),
	    0};
	ts[0] = (struct timespec){
	    (time_t)((uint32_t)v[4] << 24 | (uint32_t)v[5] << 16 |
		(uint32_t)v[6] << 8 | v[7]),
	    0};
}

/*
 * Find or make the file of a CREATE (RFC 1813 §3.3.8) as the caller; its
 * descriptor goes to *@fdp, also on failure.  The name is resolved once
 * and everything is decided on the descriptor: a new file is made with
 * O_EXCL, which never opens what is already there, and an existing one
 * is opened with O_PATH, which runs no driver and cannot block, and must
 * then be a regular file.  Checking the name first and opening it after
 * let a rename in between hand a FIFO or a device node to a real open.
 * Return: 0 or -errno (-EAGAIN, NFS3ERR_JUKEBOX, when the name keeps
 * coming and going).
 */
static int
nfs_create_file(struct nfs_req *q, int dfd, int *fdp)
{
	const char *name = q->args.where.name;
	const struct nfs3_sattr *s = &q->args.sattr;
	uint32_t how = q->args.createmode;
	mode_t mode = how == NFS3_EXCLUSIVE ? 0600 : nfs_sattr_mode(s, 0644);
	struct timespec ts[2];
	struct stat st;
	int fd = -1, tries, wfd, r;

	nfs_verf_times(q->args.verf, ts);
	for (tries = 0; tries < 4 && fd < 0; tries++) {
		/* A new file may be opened for writing whatever its mode. */
		fd = openat(dfd, name,
		    O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_NONBLOCK |
			O_NOCTTY | O_CLOEXEC,
		    mode);
		if (fd >= 0) {
			*fdp = fd;
			if (how == NFS3_EXCLUSIVE) {
				return futimens(fd, ts) < 0 ? -errno : 0;
			}
			return s->set_size && s->size > 0 &&
				ftruncate(fd, (off_t)s->size) < 0
			    ? -errno
			    : 0;
		}
		if (errno != EEXIST || how == NFS3_GUARDED) {
			return -errno;
		}
		fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno != ENOENT) {
			return -errno;
		}
		/* ENOENT: removed between the two opens; once more. */
	}
	if (fd < 0) {
		return -EAGAIN;
	}
	*fdp = fd;
	r = nfs_stat_fd(fd, &st);
	if (r < 0) {
		return r;
	}
	/* Over a FIFO, device, directory or symlink: EXIST, as in knfsd. */
	if (!S_ISREG(st.st_mode)) {
		return -EEXIST;
	}
	if (how == NFS3_EXCLUSIVE) {
		/* A retransmission of our own create succeeds. */
		return st.st_mtim.tv_sec == ts[1].tv_sec &&
			st.st_atim.tv_sec == ts[0].tv_sec
		    ? 0
		    : -EEXIST;
	}
	/*
	 * UNCHECKED over an existing file changes its size only, as knfsd
	 * does: open(O_CREAT | O_TRUNC) by someone allowed to write another
	 * user's file must not fail on a chmod it may not do.
	 */
	q->existed = true;
	if (!s->set_size) {
		return 0;
	}
	wfd = nfs_reopen(fd, O_WRONLY | O_NONBLOCK | O_NOCTTY);
	if (wfd < 0) {
		return wfd;
	}
	r = ftruncate(wfd, (off_t)s->size) < 0 ? -errno : 0;
	close(wfd);
	return r;
}

static void
nfs_create(struct nfs_req *q)
{
	struct nfs_export *e;
	int dfd = nfs_create_begin(q, &e), fd = -1, r;

	if (dfd < 0) {
		return;
	}
	r = nfs_creds_enter(q, e);
	if (r == 0) {
		r = nfs_create_file(q, dfd, &fd);
	}
	nfs_creds_leave(q);
	nfs_create_end(q, e, dfd, fd, r);
}

static void
nfs_mkdir(struct nfs_req *q)
{
	struct nfs_export *e;
	int dfd = nfs_create_begin(q, &e), r = 0;

	if (dfd < 0) {
		return;
	}
	r = nfs_creds_enter(q, e);
	if (r == 0 &&
	    mkdirat(dfd, q->args.where.name,
		nfs_sattr_mode(&q->args.sattr, 0755)) < 0) {
		r = -errno;
	}
	nfs_creds_leave(q);
	nfs_create_end(q, e, dfd, -1, r);
}

static void
nfs_symlink(struct nfs_req *q)
{
	struct nfs_export *e;
	int dfd = nfs_create_begin(q, &e), r = 0;

	if (dfd < 0) {
		return;
	}
	if (q->args.path[0] == 0) {
		q->res.status = NFS3ERR_INVAL;
		nfs_post(e, dfd, &q->res.wcc.after);
		close(dfd);
		return;
	}
	r = nfs_creds_enter(q, e);
	if (r == 0 && symlinkat(q->args.path, dfd, q->args.where.name) < 0) {
		r = -errno;
	}
	nfs_creds_leave(q);
	nfs_create_end(q, e, dfd, -1, r);
}

static void
nfs_mknod(struct nfs_req *q)
{
	struct nfs_export *e;
	mode_t type;
	dev_t dev = 0;
	int dfd, r = 0;

	switch (q->args.ftype) {
	case NF3CHR:
		type = S_IFCHR;
		dev = makedev(q->args.rdev_major, q->args.rdev_minor);
		break;
	case NF3BLK:
		type = S_IFBLK;
		dev = makedev(q->args.rdev_major, q->args.rdev_minor);
		break;
	case NF3SOCK:
		type = S_IFSOCK;
		break;
	case NF3FIFO:
		type = S_IFIFO;
		break;
	default:
		type = 0;
		break;
	}
	dfd = nfs_create_begin(q, &e);
	if (dfd < 0) {
		return;
	}
	if (type == 0) {
		q->res.status = NFS3ERR_BADTYPE;
		nfs_post(e, dfd, &q->res.wcc.after);
		close(dfd);
		return;
	}
	r = nfs_creds_enter(q, e);
	if (r == 0 &&
	    mknodat(dfd, q->args.where.name,
		type | nfs_sattr_mode(&q->args.sattr, 0644), dev) < 0) {
		r = -errno;
	}
	nfs_creds_leave(q);
	nfs_create_end(q, e, dfd, -1, r);
}

static void
nfs_remove_common(struct nfs_req *q, bool dir)
{
	struct nfs_export *e;
	const char *name = q->args.where.name;
	int dfd = nfs_open_dir(q, &q->args.where.dir, &e);

	if (dfd < 0) {
		return;
	}
	nfs_wcc_before(dfd, &q->res.wcc);
	q->res.status = nfs_name_check(name);
	if (q->res.status != NFS3_OK) {
		goto out;
	}
	if (strcmp(name, ".") == 0) {
		q->res.status = NFS3ERR_INVAL;
		goto out;
	}
	if (strcmp(name, "..") == 0) {
		q->res.status = dir ? NFS3ERR_NOTEMPTY : NFS3ERR_INVAL;
		goto out;
	}
	if (nfs_check_ro(q, e) < 0) {
		goto out;
	}
	if (nfs_creds_enter(q, e) < 0) {
		q->res.status = NFS3ERR_PERM;
	} else if (unlinkat(dfd, name, dir ? AT_REMOVEDIR : 0) < 0) {
		q->res.status = nfs_errno_stat(errno);
	}
	nfs_creds_leave(q);
out:
	nfs_post(e, dfd, &q->res.wcc.after);
	close(dfd);
}

static void
nfs_remove(struct nfs_req *q)
{
	nfs_remove_common(q, false);
}

static void
nfs_rmdir(struct nfs_req *q)
{
	nfs_remove_common(q, true);
}

static void
nfs_rename(struct nfs_req *q)
{
	struct nfs_export *e, *e2;
	int from = nfs_open_dir(q, &q->args.where.dir, &e), to = -1;

	if (from < 0) {
		return;
	}
	nfs_wcc_before(from, &q->res.wcc);
	to = nfs_open_dir(q, &q->args.to.dir, &e2);
	if (to < 0) {
		goto out;
	}
	nfs_wcc_before(to, &q->res.wcc2);
	if (e != e2) {
		q->res.status = NFS3ERR_XDEV;
		goto out;
	}
	q->res.status = nfs_name_check(q->args.where.name);
	if (q->res.status == NFS3_OK) {
		q->res.status = nfs_name_check(q->args.to.name);
	}
	if (q->res.status == NFS3_OK &&
	    (nfs_is_dot(q->args.where.name) || nfs_is_dot(q->args.to.name))) {
		q->res.status = NFS3ERR_INVAL;
	}
	if (q->res.status != NFS3_OK || nfs_check_ro(q, e) < 0) {
		goto out;
	}
	if (nfs_creds_enter(q, e) < 0) {
		q->res.status = NFS3ERR_PERM;
	} else if (renameat(from, q->args.where.name, to, q->args.to.name) <
	    0) {
		q->res.status = nfs_errno_stat(errno);
	}
	nfs_creds_leave(q);
out:
	nfs_post(e, from, &q->res.wcc.after);
	if (to >= 0) {
		nfs_post(e, to, &q->res.wcc2.after);
		close(to);
	}
	close(from);
}

static void
nfs_link(struct nfs_req *q)
{
	struct nfs_export *e, *e2;
	char path[64];
	int fd = nfs_open(q, &q->args.fh, &e), dfd = -1;

	if (fd < 0) {
		return;
	}
	dfd = nfs_open_dir(q, &q->args.where.dir, &e2);
	if (dfd < 0) {
		goto out;
	}
	nfs_wcc_before(dfd, &q->res.wcc);
	if (e != e2) {
		q->res.status = NFS3ERR_XDEV;
		goto out;
	}
	q->res.status = nfs_name_check(q->args.where.name);
	if (q->res.status == NFS3_OK && nfs_is_dot(q->args.where.name)) {
		q->res.status = NFS3ERR_EXIST;
	}
	if (q->res.status != NFS3_OK || nfs_check_ro(q, e) < 0) {
		goto out;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (nfs_creds_enter(q, e) < 0) {
		q->res.status = NFS3ERR_PERM;
	} else if (linkat(AT_FDCWD, path, dfd, q->args.where.name,
		       AT_SYMLINK_FOLLOW) < 0) {
		q->res.status = nfs_errno_stat(errno);
	}
	nfs_creds_leave(q);
out:
	nfs_post(e, fd, &q->res.obj);
	if (dfd >= 0) {
		nfs_post(e, dfd, &q->res.wcc.after);
		close(dfd);
	}
	close(fd);
}

struct nfs_linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

#define NFS_DIRBUF (64 * 1024)

/*
 * The attributes and handle of a READDIRPLUS entry, both from one
 * descriptor: resolving the name once for each let a rename in between
 * pair one object's handle with another's attributes.  A mount point is
 * not crossed (no attributes, no handle), as in LOOKUP.
 */
static void
nfs_readdir_entry(struct nfs_req *q, const struct nfs_export *e, int dfd,
    struct nfs3_dirent *de)
{
	struct stat st;
	int fd = nfs_lookup_at(e, dfd, de->name);

	if (fd < 0) {
		return;
	}
	if (nfs_stat_fd(fd, &st) == 0) {
		nfs_fattr(e, &st, &de->attr.a);
		de->attr.present = true;
		de->has_fh = nfs_fh_build(q->ex, e, fd, &de->fh) == 0;
	}
	close(fd);
}

static void
nfs_readdir_common(struct nfs_req *q, bool plus)
{
	static const uint8_t zero_verf[NFS3_VERF_SIZE];
	struct nfs_export *e;
	struct nfs3_dirent *ents;
	size_t maxents, n = 0, used, dirused = 0, limit, dirlimit;
	uint8_t *dbuf;
	bool eof = false;
	int dfd = nfs_open_dir(q, &q->args.fh, &e), rfd = -1;

	if (dfd < 0) {
		return;
	}
	nfs_post(e, dfd, &q->res.obj);
	if (q->args.cookie != 0 &&
	    memcmp(q->args.verf, zero_verf, NFS3_VERF_SIZE) != 0 &&
	    memcmp(q->args.verf, q->ex->dir_verf, NFS3_VERF_SIZE) != 0) {
		q->res.status = NFS3ERR_BAD_COOKIE;
		goto out;
	}
	memcpy(q->res.verf, q->ex->dir_verf, NFS3_VERF_SIZE);
	limit = plus ? q->args.maxcount : q->args.count;
	dirlimit = plus ? q->args.count : q->args.count;
	if (limit > q->w->cap - q->w->off) {
		limit = q->w->cap - q->w->off;
	}
	used = NFS3_READDIR_HDR;
	if (limit < used + 64) {
		q->res.status = NFS3ERR_TOOSMALL;
		goto out;
	}
	maxents = limit / 24 + 1;
	ents = calloc(maxents, sizeof(*ents));
	dbuf = malloc(NFS_DIRBUF);
	q->scratch = ents;
	q->scratch2 = dbuf;
	if (!ents || !dbuf) {
		q->res.status = NFS3ERR_JUKEBOX;
		goto out;
	}
	rfd = nfs_creds_enter(q, e);
	if (rfd == 0) {
		rfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		rfd = rfd < 0 ? -errno : rfd;
	}
	nfs_creds_leave(q);
	if (rfd < 0) {
		q->res.status = nfs_errno_stat(-rfd);
		goto out;
	}
	if (lseek(rfd, (off_t)q->args.cookie, SEEK_SET) < 0) {
		q->res.status = NFS3ERR_BAD_COOKIE;
		goto out;
	}
	for (;;) {
		long got = syscall(SYS_getdents64, rfd, dbuf, NFS_DIRBUF);
		size_t off = 0;
		bool full = false;

		if (got < 0) {
			q->res.status = nfs_errno_stat(errno);
			goto out;
		}
		if (got == 0) {
			eof = true;
			break;
		}
		while (off < (size_t)got) {
			struct nfs_linux_dirent64 *d =
			    (struct nfs_linux_dirent64 *)(void *)(dbuf + off);
			struct nfs3_dirent *de = &ents[n];
			size_t sz, dsz;

			off += d->d_reclen;
			if (n == maxents) {
				full = true;
				break;
			}
			*de = (struct nfs3_dirent){
			    .fileid = d->d_ino,
			    .name = d->d_name,
			    .namelen = strlen(d->d_name),
			    .cookie = (uint64_t)d->d_off,
			};
			if (plus && !nfs_is_dot(d->d_name)) {
				nfs_readdir_entry(q, e, dfd, de);
			}
			sz = nfs3_entry_size(plus, de, &dsz);
			if (used + sz > limit || dirused + dsz > dirlimit) {
				full = true;
				break;
			}
			used += sz;
			dirused += dsz;
			n++;
		}
		if (full) {
			break;
		}
		/*
		 * Names are borrowed from this one buffer, so a reply holds at
		 * most one read's worth; the client goes on from the last
		 * cookie.
		 */
		if (n > 0) {
			break;
		}
	}
	if (n == 0 && !eof) {
		q->res.status = NFS3ERR_TOOSMALL;
		goto out;
	}
	q->res.entries = ents;
	q->res.nentries = n;
	q->res.eof = eof;
out:
	nfs_close(rfd);
	close(dfd);
}

static void
nfs_readdir(struct nfs_req *q)
{
	nfs_readdir_common(q, false);
}

static void
nfs_readdirplus(struct nfs_req *q)
{
	nfs_readdir_common(q, true);
}

static void
nfs_fsstat(struct nfs_req *q)
{
	struct nfs_export *e;
	struct statfs sf;
	int fd = nfs_open(q, &q->args.fh, &e);

	if (fd < 0) {
		return;
	}
	nfs_post(e, fd, &q->res.obj);
	if (fstatfs(fd, &sf) < 0) {
		q->res.status = nfs_errno_stat(errno);
	} else {
		q->res.fsstat = (struct nfs3_fsstat){
		    .tbytes = (uint64_t)sf.f_blocks * (uint64_t)sf.f_bsize,
		    .fbytes = (uint64_t)sf.f_bfree * (uint64_t)sf.f_bsize,
		    .abytes = (uint64_t)sf.f_bavail * (uint64_t)sf.f_bsize,
		    .tfiles = sf.f_files,
		    .ffiles = sf.f_ffree,
		    .afiles = sf.f_ffree,
		    .invarsec = 0,
		};
	}
	close(fd);
}

static void
nfs_fsinfo(struct nfs_req *q)
{
	struct nfs_export *e;
	uint32_t io = nfs_io_max(q);
	int fd = nfs_open(q, &q->args.fh, &e);

	if (fd < 0) {
		return;
	}
	nfs_post(e, fd, &q->res.obj);
	/* Values from the reference §4.5, as knfsd sends them. */
	q->res.fsinfo = (struct nfs3_fsinfo){
	    .rtmax = io,
	    .rtpref = io,
	    .rtmult = 4096,
	    .wtmax = io,
	    .wtpref = io,
	    .wtmult = 4096,
	    .dtpref = 65536,
	    .maxfilesize = 0x7fffffffffffffffull,
	    .time_delta = {0, 1},
	    .properties = NFS3_FSF_LINK | NFS3_FSF_SYMLINK |
		NFS3_FSF_HOMOGENEOUS | NFS3_FSF_CANSETTIME,
	};
	close(fd);
}

static void
nfs_pathconf(struct nfs_req *q)
{
	struct nfs_export *e;
	int fd = nfs_open(q, &q->args.fh, &e);

	if (fd < 0) {
		return;
	}
	nfs_post(e, fd, &q->res.obj);
	q->res.pathconf = (struct nfs3_pathconf){
	    .linkmax = 65000,
	    .name_max = NFS3_NAME_MAX,
	    .no_trunc = true,
	    .chown_restricted = true,
	    .case_insensitive = false,
	    .case_preserving = true,
	};
	close(fd);
}

static void
nfs_commit(struct nfs_req *q)
{
	struct nfs_export *e;
	struct stat st = {0};
	int fd = nfs_open(q, &q->args.fh, &e), rfd;

	if (fd < 0) {
		return;
	}
	nfs_wcc_before(fd, &q->res.wcc);
	if (nfs_stat_fd(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		/*
		 * Never open anything but a regular file for a client: a
		 * FIFO would block the worker, a device node would run its
		 * driver's open.
		 */
		q->res.status =
		    S_ISDIR(st.st_mode) ? NFS3ERR_ISDIR : NFS3ERR_INVAL;
		goto out;
	}
	/* Syncing is harmless, so it runs as root whatever the mode bits. */
	rfd = nfs_reopen(fd, O_RDONLY);
	if (rfd < 0) {
		q->res.status = nfs_errno_stat(-rfd);
	} else {
		if (fsync(rfd) < 0) {
			q->res.status = nfs_errno_stat(errno);
		}
		close(rfd);
	}
	memcpy(q->res.verf, q->ex->write_verf, NFS3_VERF_SIZE);
out:
	nfs_post(e, fd, &q->res.wcc.after);
	close(fd);
}

static const struct nfs_op nfs_ops[NFS3_NPROC] = {
    [NFS3_PROC_NULL] = {"NULL", nfs_null, true},
    [NFS3_PROC_GETATTR] = {"GETATTR", nfs_getattr, true},
    [NFS3_PROC_SETATTR] = {"SETATTR", nfs_setattr, false},
    [NFS3_PROC_LOOKUP] = {"LOOKUP", nfs_lookup, true},
    [NFS3_PROC_ACCESS] = {"ACCESS", nfs_access, true},
    [NFS3_PROC_READLINK] = {"READLINK", nfs_readlink, true},
    [NFS3_PROC_READ] = {"READ", nfs_read, true},
    [NFS3_PROC_WRITE] = {"WRITE", nfs_write, true},
    [NFS3_PROC_CREATE] = {"CREATE", nfs_create, false},
    [NFS3_PROC_MKDIR] = {"MKDIR", nfs_mkdir, false},
    [NFS3_PROC_SYMLINK] = {"SYMLINK", nfs_symlink, false},
    [NFS3_PROC_MKNOD] = {"MKNOD", nfs_mknod, false},
    [NFS3_PROC_REMOVE] = {"REMOVE", nfs_remove, false},
    [NFS3_PROC_RMDIR] = {"RMDIR", nfs_rmdir, false},
    [NFS3_PROC_RENAME] = {"RENAME", nfs_rename, false},
    [NFS3_PROC_LINK] = {"LINK", nfs_link, false},
    [NFS3_PROC_READDIR] = {"READDIR", nfs_readdir, true},
    [NFS3_PROC_READDIRPLUS] = {"READDIRPLUS", nfs_readdirplus, true},
    [NFS3_PROC_FSSTAT] = {"FSSTAT", nfs_fsstat, true},
    [NFS3_PROC_FSINFO] = {"FSINFO", nfs_fsinfo, true},
    [NFS3_PROC_PATHCONF] = {"PATHCONF", nfs_pathconf, true},
    [NFS3_PROC_COMMIT] = {"COMMIT", nfs_commit, true},
};

const char *
nfs_proc_name(uint32_t proc)
{
	return proc < NFS3_NPROC ? nfs_ops[proc].name : "?";
}

bool
nfs_proc_is_idempotent(uint32_t proc)
{
	return proc >= NFS3_NPROC || nfs_ops[proc].idempotent;
}

/* How big the reply of this call can get. */
static size_t
nfs_reply_cap(const struct nfs_op_ctx *ctx, const struct nfs3_args *a)
{
	size_t cap = 1024, want;

	switch (a->proc) {
	case NFS3_PROC_READ:
		if (!ctx->tail) {
			cap += a->count < NFS3_IO_MAX ? a->count : NFS3_IO_MAX;
		}
		break;
	case NFS3_PROC_READLINK:
		cap += NFS3_PATH_MAX;
		break;
	case NFS3_PROC_READDIR:
	case NFS3_PROC_READDIRPLUS:
		want = a->proc == NFS3_PROC_READDIR ? a->count : a->maxcount;
		cap += want < NFS3_IO_MAX ? want : NFS3_IO_MAX;
		break;
	default:
		break;
	}
	if (cap > ctx->max_reply) {
		cap = ctx->max_reply;
	}
	return cap + ctx->headroom;
}

static uint8_t *
nfs_reply_small(const struct nfs_op_ctx *ctx, uint32_t xid, int kind,
    uint32_t arg, size_t *len)
{
	uint8_t *p = calloc(1, ctx->headroom + 64);
	struct wcur w;

	if (!p) {
		return NULL;
	}
	w = wcur_init(p, ctx->headroom + 64);
	wcur_zero(&w, ctx->headroom);
	if (kind == 0) {
		rpc_reply_build(&w, xid, arg, NFS3_VERS, NFS3_VERS);
	} else {
		rpc_reply_build_auth_error(&w, xid, arg);
	}
	*len = w.off;
	return p;
}

uint8_t *
nfs_ops_call(struct nfs_exports *ex, const struct nfs_op_ctx *ctx,
    const struct rpc_call *call, size_t *len, int *status)
{
	struct nfs_req *q;
	struct wcur w;
	uint8_t *p = NULL;
	size_t cap;
	int r;

	if (status) {
		*status = -1;
	}
	if (call->prog != NFS3_PROG) {
		return nfs_reply_small(
		    ctx, call->xid, 0, RPC_PROG_UNAVAIL, len);
	}
	if (call->vers != NFS3_VERS) {
		return nfs_reply_small(
		    ctx, call->xid, 0, RPC_PROG_MISMATCH, len);
	}
	if (call->proc >= NFS3_NPROC) {
		return nfs_reply_small(
		    ctx, call->xid, 0, RPC_PROC_UNAVAIL, len);
	}
	if (ctx->tail) {
		ctx->tail->fd = -1;
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		return NULL;
	}
	q->ex = ex;
	q->ctx = ctx;
	if (call->cred.flavor == RPC_AUTH_SYS) {
		if (rpc_auth_sys_parse(
			call->cred.body, call->cred.len, &q->cred) < 0) {
			p = nfs_reply_small(
			    ctx, call->xid, 1, RPC_AUTH_BADCRED, len);
			goto out;
		}
	} else if (call->cred.flavor == RPC_AUTH_NONE) {
		q->cred.uid = NFS_NOBODY;
		q->cred.gid = NFS_NOBODY;
	} else {
		p = nfs_reply_small(ctx, call->xid, 1, RPC_AUTH_TOOWEAK, len);
		goto out;
	}
	r = nfs3_args_parse(call->proc, call->args, call->args_len, &q->args);
	if (r < 0 && !(r == -EMSGSIZE && nfs3_proc_has_name(call->proc))) {
		p = nfs_reply_small(ctx, call->xid, 0, RPC_GARBAGE_ARGS, len);
		goto out;
	}
	cap = nfs_reply_cap(ctx, &q->args);
	p = malloc(cap);
	if (!p) {
		goto out;
	}
	w = wcur_init(p, cap);
	wcur_zero(&w, ctx->headroom);
	rpc_reply_build(&w, call->xid, RPC_SUCCESS, 0, 0);
	q->w = &w;
	if (r == -EMSGSIZE) {
		/* RFC 1813: a name over NFS3_NAME_MAX is NAMETOOLONG. */
		q->res.status = NFS3ERR_NAMETOOLONG;
	} else {
		q->t = nfs_exports_get(ex);
		nfs_ops[call->proc].fn(q);
		nfs_creds_leave(q);
		nfs_exports_put(q->t);
	}
	if (call->proc == NFS3_PROC_READ && q->res.status != NFS3_OK) {
		q->res.data_len = 0;
	}
	r = nfs3_res_build(call->proc, &q->res, &w);
	if (r == 0 && call->proc == NFS3_PROC_READ && !q->res.data &&
	    q->res.data_len > 0 && !ctx->tail) {
		/* pread() put the data right here; add its padding. */
		wcur_reserve(&w, q->res.data_len);
		wcur_zero(&w, (4 - (q->res.data_len & 3)) & 3);
		r = w.err;
	}
	if (r < 0) {
		/* Cannot happen with cap sized above; fail loudly but safely.
		 */
		if (ctx->tail && ctx->tail->fd >= 0) {
			close(ctx->tail->fd);
			ctx->tail->fd = -1;
		}
		w = wcur_init(p, cap);
		wcur_zero(&w, ctx->headroom);
		rpc_reply_build(&w, call->xid, RPC_SYSTEM_ERR, 0, 0);
	}
	if (status) {
		*status = (int)q->res.status;
	}
	*len = w.off;
out:
	free(q->scratch);
	free(q->scratch2);
	free(q);
	return p;
}
