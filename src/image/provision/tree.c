#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "image/provision/tree.h"

#define TREE_DEPTH_MAX 256

/*
 * Reading the image must not change it: O_NOATIME keeps the atimes that
 * clients inherit.  It needs ownership or CAP_FOWNER, so fall back.
 */
static int
tree_open_src(int dirfd, const char *name, int flags)
{
	int fd =
	    openat(dirfd, name, flags | O_NOATIME | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && errno == EPERM) {
		fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC);
	}
	return fd;
}

static int
tree_openat2(int dirfd, const char *rel, uint64_t flags, uint64_t mode)
{
	struct open_how how = {
	    .flags = flags | O_CLOEXEC,
	    .mode = mode,
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));

	if (fd < 0 && errno == EPERM && (flags & O_NOATIME)) {
		how.flags &= ~(uint64_t)O_NOATIME;
		fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
	}
	return fd < 0 ? -errno : (int)fd;
}

DIR *
tree_dir_stream(int dirfd)
{
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0), e;
	DIR *d = fd < 0 ? NULL : fdopendir(fd);

	if (!d) {
		e = errno;
		if (fd >= 0) {
			close(fd);
		}
		errno = e;
		return NULL;
	}
	rewinddir(d);
	return d;
}

/* Where a directory is: its mount, device and inode. */
struct tree_id {
	uint64_t mnt;
	dev_t dev;
	ino_t ino;
};

static int
tree_id_of(int fd, struct tree_id *id)
{
	struct statx sx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_MNT_ID, &sx) < 0) {
		return -errno;
	}
	*id = (struct tree_id){
	    /* Kernels before 5.8 have no mount id: the device decides. */
	    .mnt = (sx.stx_mask & STATX_MNT_ID) ? sx.stx_mnt_id : 0,
	    .dev = makedev(sx.stx_dev_major, sx.stx_dev_minor),
	    .ino = sx.stx_ino,
	};
	return 0;
}

/*
 * Remove what can go from the directory @dir: every non-directory and
 * every empty directory.  Stops at the first directory that is not
 * empty and returns it opened in @sub (else -1), so the caller can go
 * down into it; refuses one on another mount than @top's (-EXDEV).
 */
static int
tree_rm_entries(int dir, const struct tree_id *top, int *sub)
{
	DIR *d = tree_dir_stream(dir);
	struct dirent *e;
	int r = 0;

	*sub = -1;
	if (!d) {
		return -errno;
	}
	while ((errno = 0, e = readdir(d)) != NULL) {
		struct tree_id id;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) {
			continue;
		}
		if (unlinkat(dir, e->d_name, 0) == 0) {
			continue;
		}
		if (errno != EISDIR) {
			r = -errno;
			break;
		}
		if (unlinkat(dir, e->d_name, AT_REMOVEDIR) == 0) {
			continue;
		}
		if (errno != ENOTEMPTY && errno != EEXIST) {
			r = -errno;
			break;
		}
		*sub = openat(dir, e->d_name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (*sub < 0) {
			r = -errno;
			break;
		}
		r = tree_id_of(*sub, &id);
		if (r == 0 &&
		    (id.dev != top->dev || (top->mnt && id.mnt != top->mnt))) {
			r = -EXDEV;
		}
		if (r < 0) {
			close(*sub);
			*sub = -1;
		}
		break;
	}
	if (!e && errno) {
		r = -errno;
	}
	closedir(d);
	return r;
}

/* Record where @cur is before going down from it. */
static int
tree_rm_down(struct tree_id **up, size_t *depth, size_t *cap, int cur)
{
	int r;

	if (*depth == *cap) {
		size_t c2 = *cap ? 2 * *cap : 64;
		struct tree_id *g = realloc(*up, c2 * sizeof(*g));

		if (!g) {
			return -ENOMEM;
		}
		*up = g;
		*cap = c2;
	}
	r = tree_id_of(cur, &(*up)[*depth]);
	if (r == 0) {
		(*depth)++;
	}
	return r;
}

/* Replace *@cur by its "..", which must be the directory @want. */
static int
tree_rm_up(int *cur, const struct tree_id *want)
{
	struct tree_id id;
	int parent =
	    openat(*cur, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int r;

	if (parent < 0) {
		return -errno;
	}
	r = tree_id_of(parent, &id);
	if (r == 0 && (id.dev != want->dev || id.ino != want->ino)) {
		r = -ESTALE;
	}
	close(*cur);
	*cur = parent;
	return r;
}

/*
 * Empty the directory @top (borrowed) without recursion: down with
 * openat(), back up with "..", one directory fd at a time, so neither
 * the depth of a tree nor the length of its paths is limited; a Pi can
 * make both as large as it likes in its own root.  Each ".." must be the
 * directory recorded on the way down: a directory moved while we are in
 * it (the client renaming its own tree over NFS) stops the removal with
 * -ESTALE rather than letting it go on outside the tree.  Symlinks are
 * removed, never followed, and another file system mounted inside stops
 * the removal with -EXDEV before anything on it is touched.  Going back
 * up reads the parent again from its start; all that is left there is
 * what was not removed yet.
 */
static int
tree_rm_dir(int top)
{
	struct tree_id root, *up = NULL;
	size_t depth = 0, cap = 0;
	int cur, sub, r;

	r = tree_id_of(top, &root);
	if (r < 0) {
		return r;
	}
	cur = fcntl(top, F_DUPFD_CLOEXEC, 0);
	if (cur < 0) {
		return -errno;
	}
	for (;;) {
		r = tree_rm_entries(cur, &root, &sub);
		if (r < 0) {
			break;
		}
		if (sub >= 0) {
			r = tree_rm_down(&up, &depth, &cap, cur);
			if (r < 0) {
				close(sub);
				break;
			}
			close(cur);
			cur = sub;
			continue;
		}
		if (depth == 0) {
			break;
		}
		r = tree_rm_up(&cur, &up[--depth]);
		if (r < 0) {
			break;
		}
	}
	close(cur);
	free(up);
	return r;
}

int
tree_rm(int dirfd, const char *name)
{
	int fd, r;

	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT) {
		return 0;
	}
	if (errno != EISDIR) {
		return -errno;
	}
	fd = openat(
	    dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	/* Read-only trees (mode 0555 directories) are still removable. */
	fchmod(fd, 0700);
	r = tree_rm_dir(fd);
	close(fd);
	if (r < 0) {
		return r;
	}
	return unlinkat(dirfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

/* Hard-link map: source inode to the first destination path. */
struct tree_link {
	dev_t dev;
	ino_t ino;
	char *path;
};

struct tree_ctx {
	const struct prov_progress *prog;
	struct tree_stats *st;
	int dstroot;
	struct tree_link *links;
	size_t nlinks, caplinks;
	char path[PATH_MAX];
	size_t plen;
	uint8_t *buf;
};

static int
tree_xattrs(int sfd, int sdir, int dfd, int ddir, const char *name)
{
	char list[65536], sp[64 + NAME_MAX], dp[64 + NAME_MAX];
	uint8_t *val = NULL;
	ssize_t n, i, v;
	int r = 0;

	snprintf(sp, sizeof(sp), "/proc/self/fd/%d/%s", sdir, name);
	snprintf(dp, sizeof(dp), "/proc/self/fd/%d/%s", ddir, name);
	n = sfd >= 0 ? flistxattr(sfd, list, sizeof(list))
		     : llistxattr(sp, list, sizeof(list));
	if (n < 0) {
		return errno == ENOTSUP ? 0 : -errno;
	}
	val = malloc(65536);
	if (!val) {
		return -ENOMEM;
	}
	for (i = 0; i < n; i += (ssize_t)strlen(list + i) + 1) {
		v = sfd >= 0 ? fgetxattr(sfd, list + i, val, 65536)
			     : lgetxattr(sp, list + i, val, 65536);
		if (v < 0) {
			r = -errno;
			break;
		}
		if ((dfd >= 0
			    ? fsetxattr(dfd, list + i, val, (size_t)v, 0)
			    : lsetxattr(dp, list + i, val, (size_t)v, 0)) < 0) {
			r = -errno;
			break;
		}
	}
	free(val);
	return r;
}

/* Owner, mode, xattrs, times; see ext4_meta() for why in this order. */
int
tree_meta_copy(const struct stat *s, int sfd, int sdir, int dfd, int ddir,
    const char *name)
{
	struct timespec ts[2] = {s->st_atim, s->st_mtim};
	int r;

	r = dfd >= 0
	    ? fchown(dfd, s->st_uid, s->st_gid)
	    : fchownat(ddir, name, s->st_uid, s->st_gid, AT_SYMLINK_NOFOLLOW);
	if (r < 0) {
		return -errno;
	}
	if (!S_ISLNK(s->st_mode)) {
		r = dfd >= 0 ? fchmod(dfd, s->st_mode & 07777)
			     : fchmodat(ddir, name, s->st_mode & 07777, 0);
		if (r < 0) {
			return -errno;
		}
	}
	r = tree_xattrs(sfd, sdir, dfd, ddir, name);
	if (r < 0) {
		return r;
	}
	r = dfd >= 0 ? futimens(dfd, ts)
		     : utimensat(ddir, name, ts, AT_SYMLINK_NOFOLLOW);
	return r < 0 ? -errno : 0;
}

int
tree_copy_data(int sfd, int dfd, off_t size, struct tree_stats *st)
{
	off_t off = 0;

	while (off < size) {
		off_t data = lseek(sfd, off, SEEK_DATA), hole;
		loff_t in, out;

		if (data < 0) {
			if (errno == ENXIO) {
				break;
			}
			return -errno;
		}
		hole = lseek(sfd, data, SEEK_HOLE);
		if (hole < 0) {
			return -errno;
		}
		in = out = data;
		while (in < hole) {
			ssize_t n = copy_file_range(
			    sfd, &in, dfd, &out, (size_t)(hole - in), 0);

			if (n < 0) {
				return -errno;
			}
			if (n == 0) {
				break;
			}
			st->copied_bytes += (uint64_t)n;
		}
		off = hole;
	}
	return ftruncate(dfd, size) < 0 ? -errno : 0;
}

static int
tree_file(struct tree_ctx *c, int sdir, int ddir, const char *name,
    const struct stat *s)
{
	int sfd, dfd, r;

	sfd = tree_open_src(sdir, name, O_RDONLY);
	if (sfd < 0) {
		return -errno;
	}
	dfd = openat(ddir, name,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (dfd < 0) {
		r = -errno;
		close(sfd);
		return r;
	}
	if (s->st_size > 0 && ioctl(dfd, FICLONE, sfd) == 0) {
		c->st->reflinked++;
		r = 0;
	} else {
		r = tree_copy_data(sfd, dfd, s->st_size, c->st);
	}
	if (r == 0) {
		r = tree_meta_copy(s, sfd, sdir, dfd, ddir, name);
	}
	close(sfd);
	close(dfd);
	c->st->files++;
	return r;
}

static int tree_clone_dir(struct tree_ctx *c, int sdir, int ddir, int depth);

static int
tree_entry(struct tree_ctx *c, int sdir, int ddir, const char *name, int depth)
{
	struct stat s;
	size_t i, saved = c->plen, n = strlen(name);
	int r = 0;

	if (fstatat(sdir, name, &s, AT_SYMLINK_NOFOLLOW) < 0) {
		return -errno;
	}
	if (c->plen + n + 2 >= sizeof(c->path)) {
		return -ENAMETOOLONG;
	}
	if (c->plen) {
		c->path[c->plen++] = '/';
	}
	memcpy(c->path + c->plen, name, n + 1);
	c->plen += n;
	if (!S_ISDIR(s.st_mode) && s.st_nlink > 1) {
		for (i = 0; i < c->nlinks; i++) {
			if (c->links[i].ino == s.st_ino &&
			    c->links[i].dev == s.st_dev) {
				r = linkat(c->dstroot, c->links[i].path, ddir,
					name, 0) < 0
				    ? -errno
				    : 0;
				c->st->hardlinks++;
				goto out;
			}
		}
	}
	if (S_ISDIR(s.st_mode)) {
		int sfd, dfd;

		if (mkdirat(ddir, name, 0700) < 0) {
			r = -errno;
			goto out;
		}
		sfd = tree_open_src(sdir, name, O_RDONLY | O_DIRECTORY);
		dfd = openat(ddir, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd < 0 || dfd < 0) {
			r = -errno;
		} else {
			r = tree_clone_dir(c, sfd, dfd, depth + 1);
		}
		if (r == 0) {
			r = tree_meta_copy(&s, sfd, sdir, dfd, ddir, name);
		}
		if (sfd >= 0) {
			close(sfd);
		}
		if (dfd >= 0) {
			close(dfd);
		}
	} else if (S_ISREG(s.st_mode)) {
		r = tree_file(c, sdir, ddir, name, &s);
	} else if (S_ISLNK(s.st_mode)) {
		char t[PATH_MAX];
		ssize_t len = readlinkat(sdir, name, t, sizeof(t) - 1);

		if (len < 0) {
			r = -errno;
			goto out;
		}
		t[len] = '\0';
		r = symlinkat(t, ddir, name) < 0 ? -errno : 0;
		if (r == 0) {
			r = tree_meta_copy(&s, -1, sdir, -1, ddir, name);
		}
	} else {
		r = mknodat(
			ddir, name, (s.st_mode & S_IFMT) | 0600, s.st_rdev) < 0
		    ? -errno
		    : tree_meta_copy(&s, -1, sdir, -1, ddir, name);
	}
	if (r == 0 && !S_ISDIR(s.st_mode) && s.st_nlink > 1) {
		if (c->nlinks == c->caplinks) {
			size_t cap = c->caplinks ? 2 * c->caplinks : 256;
			struct tree_link *l =
			    realloc(c->links, cap * sizeof(*l));

			if (!l) {
				r = -ENOMEM;
				goto out;
			}
			c->links = l;
			c->caplinks = cap;
		}
		c->links[c->nlinks] = (struct tree_link){
		    .dev = s.st_dev, .ino = s.st_ino, .path = strdup(c->path)};
		if (!c->links[c->nlinks].path) {
			r = -ENOMEM;
			goto out;
		}
		c->nlinks++;
	}
out:
	c->plen = saved;
	c->path[saved] = '\0';
	return r;
}

static int
tree_clone_dir(struct tree_ctx *c, int sdir, int ddir, int depth)
{
	DIR *d;
	struct dirent *e;
	int r = 0;

	if (depth > TREE_DEPTH_MAX) {
		return -ELOOP;
	}
	d = tree_dir_stream(sdir);
	if (!d) {
		return -errno;
	}
	while (r == 0 && (e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) {
			continue;
		}
		r = tree_entry(c, sdir, ddir, e->d_name, depth);
		if (r == 0 && c->prog && c->st->files % 256 == 0) {
			r = c->prog->fn(c->prog->arg, "copy", c->st->files, 0);
		}
	}
	closedir(d);
	return r;
}

int
tree_clone(
    int src, int dst, const struct prov_progress *prog, struct tree_stats *st)
{
	struct tree_ctx c = {.prog = prog, .st = st, .dstroot = dst};
	struct stat s;
	size_t i;
	int r;

	memset(st, 0, sizeof(*st));
	if (fstat(src, &s) < 0) {
		return -errno;
	}
	r = tree_clone_dir(&c, src, dst, 0);
	if (r == 0) {
		/* The root's own metadata: through its fds directly. */
		r = tree_meta_copy(&s, src, -1, dst, -1, NULL);
	}
	for (i = 0; i < c.nlinks; i++) {
		free(c.links[i].path);
	}
	free(c.links);
	return r;
}

int
tree_open_file(int rootfd, const char *rel)
{
	return tree_openat2(rootfd, rel, O_RDONLY | O_NOATIME, 0);
}

int
tree_open_dir(int rootfd, const char *rel)
{
	return tree_openat2(rootfd, rel, O_RDONLY | O_DIRECTORY, 0);
}

int
tree_mkdir_open(int parent, const char *name)
{
	int fd;

	if (mkdirat(parent, name, 0700) < 0) {
		return -errno;
	}
	fd = openat(
	    parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

bool
tree_exists(int rootfd, const char *rel)
{
	int fd = tree_openat2(rootfd, rel, O_PATH | O_NOFOLLOW, 0);

	if (fd < 0) {
		return false;
	}
	close(fd);
	return true;
}

char *
tree_read_file(int rootfd, const char *rel, size_t max, size_t *len)
{
	int fd = tree_openat2(rootfd, rel, O_RDONLY | O_NOATIME, 0);
	struct stat s;
	char *p;
	size_t got = 0;

	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	if (fstat(fd, &s) < 0 || !S_ISREG(s.st_mode) ||
	    (uint64_t)s.st_size > max) {
		int e = S_ISREG(s.st_mode) ? EFBIG : EINVAL;

		close(fd);
		errno = e;
		return NULL;
	}
	p = malloc((size_t)s.st_size + 1);
	while (p && got < (size_t)s.st_size) {
		ssize_t n = read(fd, p + got, (size_t)s.st_size - got);

		if (n <= 0) {
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	p[got] = '\0';
	if (len) {
		*len = got;
	}
	return p;
}

int
tree_write_file(
    int rootfd, const char *rel, const void *data, size_t len, unsigned mode)
{
	char dir[PATH_MAX], tmp[NAME_MAX + 1];
	const char *base = strrchr(rel, '/');
	struct stat old;
	bool have_old;
	int dfd, fd, r = 0;

	if (base) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(base - rel), rel);
		base++;
	} else {
		snprintf(dir, sizeof(dir), ".");
		base = rel;
	}
	if (strlen(base) + 12 > NAME_MAX) {
		return -ENAMETOOLONG;
	}
	dfd = tree_openat2(rootfd, dir, O_RDONLY | O_DIRECTORY, 0);
	if (dfd < 0) {
		return dfd;
	}
	have_old = fstatat(dfd, base, &old, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(old.st_mode);
	snprintf(tmp, sizeof(tmp), ".%s.pnbtmp", base);
	unlinkat(dfd, tmp, 0);
	fd = openat(dfd, tmp,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		close(dfd);
		return r;
	}
	if (len > 0 && write(fd, data, len) != (ssize_t)len) {
		r = errno ? -errno : -EIO;
	}
	if (r == 0 &&
	    fchown(fd, have_old ? old.st_uid : 0, have_old ? old.st_gid : 0) <
		0) {
		r = -errno;
	}
	if (r == 0 &&
	    fchmod(fd, have_old ? (old.st_mode & 07777) : (mode & 07777)) < 0) {
		r = -errno;
	}
	/* Keep the old file's attributes (a security label, say). */
	if (r == 0 && have_old) {
		int ofd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

		if (ofd >= 0) {
			r = tree_xattrs(ofd, -1, fd, -1, "");
			close(ofd);
		}
	}
	close(fd);
	if (r == 0 && renameat(dfd, tmp, dfd, base) < 0) {
		r = -errno;
	}
	if (r < 0) {
		unlinkat(dfd, tmp, 0);
	}
	close(dfd);
	return r;
}

struct tree_ino {
	dev_t dev;
	ino_t ino;
	bool used;
};

static size_t
tree_ino_hash(dev_t dev, ino_t ino)
{
	return (size_t)(((uint64_t)ino ^ ((uint64_t)dev << 40)) *
	    0x9e3779b97f4a7c15ull);
}

/* Add an inode; true when it was new.  On ENOMEM it counts as new. */
static bool
tree_inoset_add(struct tree_inoset *s, dev_t dev, ino_t ino)
{
	size_t i;

	if (2 * (s->n + 1) > s->cap) {
		struct tree_inoset g = {.cap = s->cap ? 2 * s->cap : 1024};

		g.slot = calloc(g.cap, sizeof(*g.slot));
		if (!g.slot) {
			return true;
		}
		for (i = 0; i < s->cap; i++) {
			if (s->slot[i].used) {
				size_t j = tree_ino_hash(
					       s->slot[i].dev, s->slot[i].ino) &
				    (g.cap - 1);

				while (g.slot[j].used) {
					j = (j + 1) & (g.cap - 1);
				}
				g.slot[j] = s->slot[i];
			}
		}
		free(s->slot);
		g.n = s->n;
		*s = g;
	}
	for (i = tree_ino_hash(dev, ino) & (s->cap - 1); s->slot[i].used;
	     i = (i + 1) & (s->cap - 1)) {
		if (s->slot[i].ino == ino && s->slot[i].dev == dev) {
			return false;
		}
	}
	s->slot[i] = (struct tree_ino){.dev = dev, .ino = ino, .used = true};
	s->n++;
	return true;
}

void
tree_inoset_fini(struct tree_inoset *s)
{
	free(s->slot);
	*s = (struct tree_inoset){0};
}

static uint64_t
tree_du_dir(int fd, struct tree_inoset *seen, int depth)
{
	DIR *d;
	struct dirent *e;
	uint64_t total = 0;

	if (depth > TREE_DEPTH_MAX) {
		return 0;
	}
	d = tree_dir_stream(fd);
	if (!d) {
		return 0;
	}
	while ((e = readdir(d)) != NULL) {
		struct stat s;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    fstatat(fd, e->d_name, &s, AT_SYMLINK_NOFOLLOW) < 0) {
			continue;
		}
		/* An inode with one link has only this name. */
		if ((s.st_nlink > 1 || S_ISDIR(s.st_mode)) &&
		    !tree_inoset_add(seen, s.st_dev, s.st_ino)) {
			continue;
		}
		total += (uint64_t)s.st_blocks * 512;
		if (S_ISDIR(s.st_mode)) {
			int sub = openat(fd, e->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0) {
				total += tree_du_dir(sub, seen, depth + 1);
				close(sub);
			}
		}
	}
	closedir(d);
	return total;
}

uint64_t
tree_du_new(int dirfd, struct tree_inoset *seen)
{
	struct stat s;
	uint64_t t = 0;

	if (fstat(dirfd, &s) == 0 &&
	    tree_inoset_add(seen, s.st_dev, s.st_ino)) {
		t = (uint64_t)s.st_blocks * 512;
	}
	return t + tree_du_dir(dirfd, seen, 0);
}

uint64_t
tree_du(int dirfd)
{
	struct tree_inoset seen = {0};
	uint64_t t = tree_du_dir(dirfd, &seen, 0);

	tree_inoset_fini(&seen);
	return t;
}
