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
#include <unistd.h>

#include "server/nfs/fs.h"

/*
 * A plain export: a directory of this machine.  Objects are O_PATH
 * descriptors; handles are kernel handles (name_to_handle_at), opened
 * against the export root; names resolve one component at a time with
 * openat2(RESOLVE_BENEATH).  Each step that a caller's permissions
 * decide runs with the caller's identity on this thread
 * (setfsuid/setfsgid/setgroups), so the kernel checks it and new files
 * get the caller as owner, as knfsd does.
 */

/* --- credentials --------------------------------------------------------- */

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
plain_enter(struct nfs_call *c)
{
	const struct nfs_cred *who = &c->cred;
	gid_t groups[RPC_AUTH_SYS_NGIDS];
	uint32_t i;

	/*
	 * Root keeps acting as root: the thread already is, and every
	 * credential change costs a few microseconds in the kernel.
	 */
	if (who->uid == 0 && who->gid == 0) {
		return 0;
	}
	for (i = 0; i < who->ngids; i++) {
		groups[i] = who->gids[i];
	}
	c->switched = true;
	if (syscall(SYS_setgroups, (size_t)who->ngids, groups) < 0) {
		goto fail;
	}
	setfsgid(who->gid);
	if ((uint32_t)setfsgid(who->gid) != who->gid) {
		goto fail;
	}
	setfsuid(who->uid);
	if ((uint32_t)setfsuid(who->uid) != who->uid) {
		goto fail;
	}
	return 0;
fail:
	nfs_creds_leave(c);
	return -EPERM;
}

void
nfs_creds_leave(struct nfs_call *c)
{
	if (!c->switched) {
		return;
	}
	setfsuid(0);
	setfsgid(0);
	syscall(SYS_setgroups, (size_t)0, NULL);
	c->switched = false;
}

/*
 * Does the caller own @st?  Like knfsd (NFSD_MAY_OWNER_OVERRIDE), the
 * owner may write a file whatever its mode bits say: a client creates a
 * file 0444 and then writes it (cp -p, tar, dpkg do this), relying on the
 * open it already holds.
 */
static bool
plain_is_owner(const struct nfs_call *c, const struct stat *st)
{
	return st->st_uid == c->cred.uid;
}

static int
plain_stat_fd(int fd, struct stat *st)
{
	return fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0
	    ? -errno
	    : 0;
}

/* Reopen an O_PATH descriptor for real I/O, checked with the fsuid. */
static int
plain_reopen(int fd, int flags)
{
	char path[64];
	int r;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r = open(path, flags | O_CLOEXEC);
	return r < 0 ? -errno : r;
}

/* --- objects and handles ------------------------------------------------- */

static int
plain_open(struct nfs_call *c, const struct nfs_fh_key *k, struct nfs_obj *o)
{
	struct {
		struct file_handle h;
		uint8_t room[NFS_FH_KMAX];
	} kh;
	struct stat st;
	int fd;

	(void)c;
	if (k->kind != 0) {
		return -ESTALE;
	}
	kh.h.handle_bytes = k->len;
	kh.h.handle_type = k->type;
	memcpy(kh.h.f_handle, k->h, k->len);
	fd = open_by_handle_at(o->e->root_fd, &kh.h, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		int r = -errno;

		return r == -ENOENT || r == -EINVAL ? -ESTALE : r;
	}
	/* A handle from another file system of the same server is stale. */
	if (fstat(fd, &st) < 0 || st.st_dev != o->e->dev) {
		close(fd);
		return -ESTALE;
	}
	o->fd = fd;
	o->type = st.st_mode & S_IFMT;
	return 0;
}

static void
plain_close(struct nfs_obj *o)
{
	if (o->fd >= 0) {
		close(o->fd);
		o->fd = -1;
	}
}

static int
plain_handle(struct nfs_call *c, const struct nfs_obj *o, struct nfs3_fh *out)
{
	return nfs_fh_build(c->ex, o->e, o->fd, out);
}

static int
plain_getattr(struct nfs_call *c, const struct nfs_obj *o, struct stat *out)
{
	(void)c;
	return plain_stat_fd(o->fd, out);
}

/* Open @name in @dirfd without leaving the export; "." and ".." too. */
static int
plain_lookup_at(const struct nfs_export *e, int dirfd, const char *name)
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
		if (plain_stat_fd(dirfd, &st) == 0 && st.st_ino == e->ino &&
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

static int
plain_lookup(struct nfs_call *c, struct nfs_obj *dir, const char *name,
    struct nfs_obj *out)
{
	int fd = plain_enter(c);

	if (fd == 0) {
		fd = plain_lookup_at(dir->e, dir->fd, name);
	}
	nfs_creds_leave(c);
	if (fd < 0) {
		return fd;
	}
	out->fd = fd;
	return 0;
}

static int
plain_entry(struct nfs_call *c, struct nfs_obj *dir, const char *name,
    struct nfs_obj *out, struct stat *attr)
{
	int fd = plain_lookup_at(dir->e, dir->fd, name), r;

	(void)c;
	if (fd < 0) {
		return fd;
	}
	r = plain_stat_fd(fd, attr);
	if (r < 0) {
		close(fd);
		return r;
	}
	out->fd = fd;
	out->type = attr->st_mode & S_IFMT;
	return 0;
}

static int
plain_open_data(struct nfs_call *c, struct nfs_obj *o, int flags)
{
	struct stat st;
	int fd = plain_enter(c);

	if (fd == 0) {
		fd = plain_reopen(o->fd, flags);
	}
	nfs_creds_leave(c);
	if (fd == -EACCES && (flags & O_ACCMODE) != O_RDONLY &&
	    plain_stat_fd(o->fd, &st) == 0 && plain_is_owner(c, &st)) {
		fd = plain_reopen(o->fd, flags);
	}
	return fd;
}

static int
plain_open_sync(struct nfs_call *c, struct nfs_obj *o)
{
	(void)c;
	return plain_reopen(o->fd, O_RDONLY);
}

static ssize_t
plain_readlink(struct nfs_call *c, struct nfs_obj *o, char *buf, size_t cap)
{
	ssize_t n = readlinkat(o->fd, "", buf, cap);

	(void)c;
	return n < 0 ? -errno : n;
}

/* --- directories --------------------------------------------------------- */

struct plain_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

#define PLAIN_DIRBUF (64 * 1024)

static int
plain_readdir(struct nfs_call *c, struct nfs_obj *dir, uint64_t cookie,
    int (*fn)(void *arg, const struct nfs_fs_dirent *d), void *arg)
{
	uint8_t *buf = malloc(PLAIN_DIRBUF);
	int fd, r = 0;

	if (!buf) {
		return -ENOMEM;
	}
	fd = plain_enter(c);
	if (fd == 0) {
		fd = openat(dir->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		fd = fd < 0 ? -errno : fd;
	}
	nfs_creds_leave(c);
	if (fd < 0) {
		free(buf);
		return fd;
	}
	if (lseek(fd, (off_t)cookie, SEEK_SET) < 0) {
		r = -EINVAL;
		goto out;
	}
	while (r == 0) {
		long got = syscall(SYS_getdents64, fd, buf, PLAIN_DIRBUF);
		size_t off = 0;

		if (got < 0) {
			r = -errno;
			break;
		}
		if (got == 0) {
			r = 1;
			break;
		}
		while (off < (size_t)got && r == 0) {
			struct plain_dirent64 *d =
			    (struct plain_dirent64 *)(void *)(buf + off);
			struct nfs_fs_dirent e = {
			    .name = d->d_name,
			    .namelen = strlen(d->d_name),
			    .fileid = d->d_ino,
			    .cookie = (uint64_t)d->d_off,
			};

			off += d->d_reclen;
			if (fn(arg, &e) != 0) {
				r = 2;
			}
		}
	}
out:
	close(fd);
	free(buf);
	return r == 2 ? 0 : r;
}

static void
plain_cookie_verf(
    struct nfs_call *c, const struct nfs_obj *dir, uint8_t out[NFS3_VERF_SIZE])
{
	(void)dir;
	memcpy(out, c->ex->dir_verf, NFS3_VERF_SIZE);
}

/* --- changes ------------------------------------------------------------- */

static mode_t
plain_sattr_mode(const struct nfs3_sattr *s, mode_t def)
{
	return s->set_mode ? (mode_t)(s->mode & 07777) : def;
}

/*
 * RFC 1813 §3.3.8: an EXCLUSIVE create keeps the client's verifier with
 * the file; like knfsd we keep it in the mtime and atime seconds, which
 * the SETATTR that follows overwrites.
 */
static void
plain_verf_times(const uint8_t *v, struct timespec ts[2])
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
 * *@existed: UNCHECKED found a regular file there (only its size
 * changes).
 * Return: 0 or -errno (-EAGAIN, NFS3ERR_JUKEBOX, when the name keeps
 * coming and going).
 */
static int
plain_create_file(int dfd, const char *name, const struct nfs_new *nw, int *fdp,
    bool *existed)
{
	const struct nfs3_sattr *s = nw->sattr;
	uint32_t how = nw->how;
	mode_t mode = how == NFS3_EXCLUSIVE ? 0600 : plain_sattr_mode(s, 0644);
	struct timespec ts[2];
	struct stat st;
	int fd = -1, tries, wfd, r;

	plain_verf_times(nw->verf, ts);
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
	r = plain_stat_fd(fd, &st);
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
	*existed = true;
	if (!s->set_size) {
		return 0;
	}
	wfd = plain_reopen(fd, O_WRONLY | O_NONBLOCK | O_NOCTTY);
	if (wfd < 0) {
		return wfd;
	}
	r = ftruncate(wfd, (off_t)s->size) < 0 ? -errno : 0;
	close(wfd);
	return r;
}

/* Make a directory, symlink or node @name in @dfd (as the caller). */
static int
plain_make(int dfd, const char *name, const struct nfs_new *nw)
{
	int r = 0;

	switch (nw->type) {
	case S_IFDIR:
		r = mkdirat(dfd, name, plain_sattr_mode(nw->sattr, 0755));
		break;
	case S_IFLNK:
		r = symlinkat(nw->target, dfd, name);
		break;
	default:
		r = mknodat(dfd, name,
		    nw->type | plain_sattr_mode(nw->sattr, 0644), nw->rdev);
		break;
	}
	return r < 0 ? -errno : 0;
}

/*
 * The owner and mode asked for, on the object just made.  What follows
 * runs as the caller, so an object swapped in between gains that caller
 * nothing.
 */
static int
plain_create_attrs(
    struct nfs_call *c, int fd, const struct nfs_new *nw, bool existed)
{
	const struct nfs3_sattr *s = nw->sattr;
	struct stat st;
	int r = 0;

	if ((s->set_uid || s->set_gid) && nw->how != NFS3_EXCLUSIVE &&
	    !existed) {
		r = plain_enter(c);
		if (r == 0 &&
		    fchownat(fd, "", s->set_uid ? s->uid : (uid_t)-1,
			s->set_gid ? s->gid : (gid_t)-1,
			AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
			r = -errno;
		}
		nfs_creds_leave(c);
		if (r < 0) {
			return r;
		}
	}
	/*
	 * The mode asked for is the mode the object gets: the process
	 * umask (the client applied its own already), mkdir(2) dropping
	 * setgid and sticky, and chown clearing setuid all change it, so
	 * it is set once more where it differs.  The process umask is left
	 * alone because other services create files too.
	 */
	if (s->set_mode && nw->how != NFS3_EXCLUSIVE && !existed &&
	    nw->type != S_IFLNK && plain_stat_fd(fd, &st) == 0 &&
	    (st.st_mode & 07777) != (s->mode & 07777)) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		r = plain_enter(c);
		if (r == 0 && chmod(path, s->mode & 07777) < 0) {
			r = -errno;
		}
		nfs_creds_leave(c);
	}
	return r;
}

static int
plain_create(struct nfs_call *c, struct nfs_obj *dir, const char *name,
    const struct nfs_new *nw, struct nfs_obj *out)
{
	bool existed = false;
	int fd = -1, r = plain_enter(c);

	if (r == 0) {
		r = nw->type == S_IFREG
		    ? plain_create_file(dir->fd, name, nw, &fd, &existed)
		    : plain_make(dir->fd, name, nw);
	}
	nfs_creds_leave(c);
	/* mkdirat, symlinkat and mknodat return no descriptor. */
	if (r == 0 && fd < 0) {
		fd = plain_lookup_at(dir->e, dir->fd, name);
		r = fd < 0 ? fd : 0;
	}
	if (r == 0) {
		r = plain_create_attrs(c, fd, nw, existed);
	}
	if (r < 0) {
		if (fd >= 0) {
			close(fd);
		}
		return r;
	}
	out->fd = fd;
	return 0;
}

static int
plain_remove(
    struct nfs_call *c, struct nfs_obj *dir, const char *name, bool isdir)
{
	int r = plain_enter(c);

	if (r == 0 && unlinkat(dir->fd, name, isdir ? AT_REMOVEDIR : 0) < 0) {
		r = -errno;
	}
	nfs_creds_leave(c);
	return r;
}

static int
plain_rename(struct nfs_call *c, struct nfs_obj *from, const char *fname,
    struct nfs_obj *to, const char *tname)
{
	int r = plain_enter(c);

	if (r == 0 && renameat(from->fd, fname, to->fd, tname) < 0) {
		r = -errno;
	}
	nfs_creds_leave(c);
	return r;
}

static int
plain_link(struct nfs_call *c, struct nfs_obj *o, struct nfs_obj *dir,
    const char *name)
{
	char path[64];
	int r;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", o->fd);
	r = plain_enter(c);
	if (r == 0 &&
	    linkat(AT_FDCWD, path, dir->fd, name, AT_SYMLINK_FOLLOW) < 0) {
		r = -errno;
	}
	nfs_creds_leave(c);
	return r;
}

/* Truncate @fd's file to @size; the owner may whatever the mode bits. */
static int
plain_truncate(struct nfs_call *c, int fd, const struct stat *st, uint64_t size)
{
	int wfd, r;

	if (S_ISDIR(st->st_mode)) {
		return -EISDIR;
	}
	if (!S_ISREG(st->st_mode)) {
		return -EINVAL;
	}
	wfd = plain_reopen(fd, O_WRONLY);
	if (wfd == -EACCES && plain_is_owner(c, st)) {
		nfs_creds_leave(c);
		wfd = plain_reopen(fd, O_WRONLY);
		r = plain_enter(c);
		if (r < 0) {
			if (wfd >= 0) {
				close(wfd);
			}
			return -EPERM;
		}
	}
	if (wfd < 0) {
		return wfd;
	}
	r = ftruncate(wfd, (off_t)size) < 0 ? -errno : 0;
	close(wfd);
	return r;
}

static int
plain_apply_sattr(struct nfs_call *c, int fd, const struct stat *st,
    const struct nfs3_sattr *s)
{
	char path[64];
	int r;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (s->set_size) {
		r = plain_truncate(c, fd, st, s->size);
		if (r < 0) {
			return r;
		}
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

static int
plain_setattr(struct nfs_call *c, struct nfs_obj *o, const struct stat *cur,
    const struct nfs3_sattr *s)
{
	int r = plain_enter(c);

	if (r == 0) {
		r = plain_apply_sattr(c, o->fd, cur, s);
	}
	nfs_creds_leave(c);
	return r;
}

static int
plain_statfs(struct nfs_call *c, struct nfs_obj *o, struct statfs *out)
{
	(void)c;
	return fstatfs(o->fd, out) < 0 ? -errno : 0;
}

static int
plain_mount(const struct nfs_exports *ex, struct nfs_export *e,
    const char *rest, struct nfs3_fh *out)
{
	struct open_how how = {
	    .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
	    .resolve =
		RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	long fd;
	int r;

	if (rest[0] == 0) {
		fd = openat(e->root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	} else {
		fd = syscall(SYS_openat2, e->root_fd, rest, &how, sizeof(how));
	}
	if (fd < 0) {
		return -errno;
	}
	r = nfs_fh_build(ex, e, (int)fd, out);
	close((int)fd);
	return r;
}

const struct nfs_fs nfs_fs_plain = {
    .open = plain_open,
    .close = plain_close,
    .handle = plain_handle,
    .getattr = plain_getattr,
    .lookup = plain_lookup,
    .entry = plain_entry,
    .open_data = plain_open_data,
    .open_sync = plain_open_sync,
    .readlink = plain_readlink,
    .readdir = plain_readdir,
    .cookie_verf = plain_cookie_verf,
    .create = plain_create,
    .remove = plain_remove,
    .rename = plain_rename,
    .link = plain_link,
    .setattr = plain_setattr,
    .statfs = plain_statfs,
    .mount = plain_mount,
};
