#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer/internal.h"

/*
 * Copy-up: a version file's copy in the index, a version directory's copy
 * in the client layer.  Either is made whole under a name nobody sees
 * (an O_TMPFILE, or a '#' name in the index) and appears in one link or
 * rename, so a kill -9 leaves no copy or a whole one.
 */

#define LAYER_XATTR_LIST  65536
#define LAYER_XATTR_VALUE 65536

/*
 * The markers and our own records stay with their layer: "*.overlay.*"
 * (whiteout, opaque, origin, impure, ...) and "user.pnb.*".
 */
static bool
xattr_is_private(const char *name)
{
	const char *dot = strchr(name, '.');

	return (dot && strncmp(dot + 1, "overlay.", 8) == 0) ||
	    strncmp(name, "user.pnb.", 9) == 0;
}

static int
copy_xattrs(int src, int dst)
{
	char sp[64], dp[64], *list = NULL, *val = NULL;
	ssize_t n, v;
	size_t i;
	int r = 0;

	snprintf(sp, sizeof(sp), "/proc/self/fd/%d", src);
	snprintf(dp, sizeof(dp), "/proc/self/fd/%d", dst);
	list = malloc(LAYER_XATTR_LIST);
	val = malloc(LAYER_XATTR_VALUE);
	if (!list || !val) {
		r = -ENOMEM;
		goto out;
	}
	n = listxattr(sp, list, LAYER_XATTR_LIST);
	if (n < 0) {
		r = errno == ENOTSUP ? 0 : -errno;
		goto out;
	}
	for (i = 0; i < (size_t)n; i += strlen(list + i) + 1) {
		if (xattr_is_private(list + i)) {
			continue;
		}
		v = getxattr(sp, list + i, val, LAYER_XATTR_VALUE);
		if (v < 0) {
			r = -errno;
			goto out;
		}
		if (setxattr(dp, list + i, val, (size_t)v, 0) < 0) {
			r = -errno;
			goto out;
		}
	}
out:
	free(list);
	free(val);
	return r;
}

int
layer_copy_meta(struct layer_stack *st, int src, int dst,
    const struct stat *sst, bool times)
{
	struct timespec ts[2] = {sst->st_atim, sst->st_mtim};
	char dp[64];
	int r;

	r = layer_step(st, "copy-owner");
	if (r < 0) {
		return r;
	}
	/* Owner first: chown clears setuid and security.capability. */
	if (fchownat(dst, "", sst->st_uid, sst->st_gid,
		AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		return -errno;
	}
	snprintf(dp, sizeof(dp), "/proc/self/fd/%d", dst);
	if (!S_ISLNK(sst->st_mode) && chmod(dp, sst->st_mode & 07777) < 0) {
		return -errno;
	}
	r = layer_step(st, "copy-xattrs");
	if (r == 0) {
		r = copy_xattrs(src, dst);
	}
	if (r < 0 || !times) {
		return r;
	}
	r = layer_step(st, "copy-times");
	if (r == 0 && utimensat(dst, "", ts, AT_EMPTY_PATH) < 0) {
		r = -errno;
	}
	return r;
}

int
layer_copy_data(struct layer_stack *st, int src, int dst, off_t size)
{
	off_t data = 0, hole;
	int r;

	r = layer_step(st, "copy-data");
	if (r < 0) {
		return r;
	}
	if (size > 0 && ioctl(dst, FICLONE, src) == 0) {
		return 0;
	}
	while (data < size) {
		data = lseek(src, data, SEEK_DATA);
		if (data < 0) {
			if (errno == ENXIO) {
				break;
			}
			return -errno;
		}
		hole = lseek(src, data, SEEK_HOLE);
		if (hole < 0) {
			return -errno;
		}
		while (data < hole) {
			loff_t in = data, outp = data;
			ssize_t n = copy_file_range(
			    src, &in, dst, &outp, (size_t)(hole - data), 0);

			if (n <= 0) {
				return n < 0 ? -errno : -EIO;
			}
			data += n;
		}
	}
	if (ftruncate(dst, size) < 0) {
		return -errno;
	}
	return 0;
}

/* Open what was made under @tmp in the index, O_PATH. */
static int
open_tmp(struct layer_stack *st, const char *tmp)
{
	return layer_openat(st->index, tmp, O_PATH);
}

/* Make the non-regular copy of @vfd (@sst) under @tmp in the index. */
static int
make_special(
    struct layer_stack *st, int vfd, const struct stat *sst, const char *tmp)
{
	char target[PATH_MAX + 1];
	ssize_t n;
	int r;

	r = layer_step(st, "copy-special");
	if (r < 0) {
		return r;
	}
	if (S_ISLNK(sst->st_mode)) {
		n = readlinkat(vfd, "", target, sizeof(target) - 1);
		if (n < 0) {
			return -errno;
		}
		target[n] = 0;
		return symlinkat(target, st->index, tmp) < 0 ? -errno : 0;
	}
	return mknodat(st->index, tmp, (sst->st_mode & S_IFMT) | 0600,
		   sst->st_rdev) < 0
	    ? -errno
	    : 0;
}

int
layer_up_file(struct layer_stack *st, struct layer_node *n)
{
	struct layer_ix x;
	struct layer_fh fh;
	struct stat sst, cs;
	char tmp[64], name[LAYER_IXNAME_MAX];
	int src = -1, cfd = -1, r;
	bool have;

	if (n->type == S_IFDIR || n->kind != LAYER_KIND_VERSION) {
		return 0;
	}
	have = layer_map_find(st, n->ino, &x);
	if (have && x.copy) {
		/* Made since this node was looked up: use it. */
		layer_ixname(name, sizeof(name), &x);
		cfd = layer_openat(st->index, name, O_PATH);
		if (cfd < 0) {
			return cfd;
		}
		layer_node_set_fd(n, cfd);
		return 0;
	}
	if (n->vfd < 0 || layer_stat_fd(n->vfd, &sst) < 0) {
		return -ESTALE;
	}
	if (!have) {
		r = layer_node_fh(st, n, &fh);
		if (r < 0) {
			return r;
		}
		x = (struct layer_ix){.origin = n->ino,
		    .vis = (uint32_t)sst.st_nlink,
		    .htype = fh.type,
		    .hlen = fh.len};
		memcpy(x.h, fh.h, fh.len);
	}
	layer_tmpname(st, tmp, sizeof(tmp));
	if (S_ISREG(sst.st_mode)) {
		src = layer_reopen(n->vfd, O_RDONLY | O_NOATIME);
		if (src < 0) {
			return src;
		}
		cfd = openat(
		    st->index, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (cfd < 0) {
			r = -errno;
			goto out;
		}
		r = layer_copy_data(st, src, cfd, sst.st_size);
		if (r == 0) {
			r = layer_copy_meta(st, src, cfd, &sst, true);
		}
		if (r == 0 && !st->nosync && fsync(cfd) < 0) {
			r = -errno;
		}
		if (r == 0) {
			r = layer_step(st, "copy-link");
		}
		if (r == 0 &&
		    linkat(cfd, "", st->index, tmp, AT_EMPTY_PATH) < 0) {
			r = -errno;
		}
	} else {
		r = make_special(st, n->vfd, &sst, tmp);
		if (r == 0) {
			cfd = open_tmp(st, tmp);
			r = cfd < 0 ? cfd : 0;
		}
		if (r == 0) {
			r = layer_copy_meta(st, n->vfd, cfd, &sst, true);
		}
	}
	if (r < 0) {
		goto out;
	}
	/* One rename makes it the copy (over a count-only entry, if any). */
	layer_ixname(name, sizeof(name), &x);
	r = layer_step(st, "copy-rename");
	if (r == 0 && renameat(st->index, tmp, st->index, name) < 0) {
		r = -errno;
	}
	if (r < 0) {
		goto out;
	}
	tmp[0] = 0;
	if (layer_stat_fd(cfd, &cs) < 0) {
		r = -errno;
		goto out;
	}
	x.copy = cs.st_ino;
	r = layer_map_set(st, &x);
	if (r < 0) {
		goto out;
	}
	layer_node_set_fd(n, layer_openat(st->index, name, O_PATH));
	r = n->fd < 0 ? n->fd : 0;
out:
	if (tmp[0]) {
		unlinkat(st->index, tmp, 0);
	}
	if (cfd >= 0) {
		close(cfd);
	}
	if (src >= 0) {
		close(src);
	}
	return r;
}

/*
 * Give @name in client directory @pfd (the parent's client instance) a
 * copy of version directory @vdir, keeping the parent's times as they
 * were (as overlayfs does: a copy-up is no change the client made).
 * Return: the new instance (O_RDONLY) or -errno.
 */
static int
up_one_dir(struct layer_stack *st, int pfd, const char *name, int vdir)
{
	struct stat vs, ps;
	struct timespec pts[2];
	char tmp[64];
	int fd = -1, r;

	if (layer_stat_fd(vdir, &vs) < 0 || layer_stat_fd(pfd, &ps) < 0) {
		return -errno;
	}
	pts[0] = ps.st_atim;
	pts[1] = ps.st_mtim;
	layer_tmpname(st, tmp, sizeof(tmp));
	r = layer_step(st, "dir-mkdir");
	if (r < 0) {
		return r;
	}
	if (mkdirat(st->index, tmp, 0700) < 0) {
		return -errno;
	}
	fd = openat(
	    st->index, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	r = layer_copy_meta(st, vdir, fd, &vs, true);
	if (r == 0) {
		r = layer_step(st, "dir-rename");
	}
	if (r == 0 &&
	    renameat2(st->index, tmp, pfd, name, RENAME_NOREPLACE) < 0) {
		r = -errno;
	}
	if (r < 0) {
		goto fail;
	}
	utimensat(pfd, "", pts, AT_EMPTY_PATH);
	return fd;
fail:
	if (fd >= 0) {
		close(fd);
	}
	unlinkat(st->index, tmp, AT_REMOVEDIR);
	return r;
}

int
layer_up_dir(struct layer_stack *st, struct layer_node *n)
{
	struct layer_node *cur = NULL, *next;
	char name[LAYER_NAME_MAX + 1];
	const char *p, *e;
	int r, fd;

	if (n->type != S_IFDIR) {
		return -ENOTDIR;
	}
	if (n->dirs[0] >= 0) {
		return 0;
	}
	r = layer_root(st, &cur);
	if (r < 0) {
		return r;
	}
	for (p = n->path; *p; p = *e ? e + 1 : e) {
		e = strchr(p, '/');
		if (!e) {
			e = p + strlen(p);
		}
		memcpy(name, p, (size_t)(e - p));
		name[e - p] = 0;
		r = layer_lookup_raw(st, cur, name, &next, NULL, NULL);
		if (r == 0 && next->type != S_IFDIR) {
			layer_node_free(next);
			r = -ESTALE;
		}
		if (r < 0) {
			goto out;
		}
		if (next->dirs[0] < 0) {
			fd = up_one_dir(
			    st, cur->dirs[0], name, layer_dir_top(next));
			if (fd < 0) {
				layer_node_free(next);
				r = fd;
				goto out;
			}
			next->dirs[0] = fd;
			next->dflags[0] = 0;
		}
		layer_node_free(cur);
		cur = next;
	}
	n->dirs[0] = cur->dirs[0];
	n->dflags[0] = cur->dflags[0];
	cur->dirs[0] = -1;
	r = 0;
out:
	layer_node_free(cur);
	return r;
}

int
layer_copy_up(struct layer_stack *st, struct layer_node *n)
{
	int r;

	if (st->ro) {
		return -EROFS;
	}
	pthread_mutex_lock(&st->mut);
	r = n->type == S_IFDIR ? layer_up_dir(st, n) : layer_up_file(st, n);
	pthread_mutex_unlock(&st->mut);
	return r;
}
