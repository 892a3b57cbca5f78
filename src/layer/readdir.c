#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer/internal.h"

/*
 * The merged listing and its cookies (layer.h, struct layer_dirent).
 * Phases in order: "." and "..", the client layer's directory in its own
 * order, then each version instance in its own order.  A version entry is
 * left out when any layer above holds the name (it was listed there, or a
 * whiteout hides it), so nothing needs to be remembered between calls:
 * the position alone says where to go on.
 */

#define COOKIE_VERSION (1ull << 63)
#define COOKIE_SHIFT   59
#define COOKIE_ORD     ((1ull << COOKIE_SHIFT) - 1)
#define PHASE_DOTS     15u
#define DIRBUF         (32 * 1024)

struct listing {
	struct layer_stack *st;
	struct layer_node *dir;
	int (*fn)(void *arg, const struct layer_dirent *e);
	void *arg;
	uint8_t *buf;
};

static uint64_t
vcookie(unsigned phase, uint64_t ord)
{
	return COOKIE_VERSION | (uint64_t)phase << COOKIE_SHIFT | ord;
}

static bool
is_dot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

static int
emit(struct listing *l, const char *name, uint64_t ino, unsigned char type,
    uint64_t cookie)
{
	struct layer_dirent e = {
	    .name = name,
	    .namelen = strlen(name),
	    .ino = ino,
	    .type = type,
	    .cookie = cookie,
	};

	return l->fn(l->arg, &e);
}

static unsigned char
type_at(int dfd, const char *name, unsigned char type, struct stat *s)
{
	if (type != DT_UNKNOWN && type != DT_CHR) {
		return type;
	}
	if (fstatat(dfd, name, s, AT_SYMLINK_NOFOLLOW) < 0) {
		return DT_UNKNOWN;
	}
	return (unsigned char)IFTODT(s->st_mode);
}

/* The identity of client entry @name, a directory: merged or its own. */
static uint64_t
client_dir_ino(struct listing *l, const char *name, uint64_t own)
{
	struct stat s;
	char v[4];
	size_t i;
	int fd;

	fd = openat(l->dir->dirs[0], name,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		return own;
	}
	if (fgetxattr(fd, LAYER_XATTR_OPAQUE, v, sizeof(v)) == 1 &&
	    v[0] == 'y') {
		close(fd);
		return own;
	}
	close(fd);
	for (i = 1; i <= l->st->nv; i++) {
		if (l->dir->dirs[i] < 0 ||
		    fstatat(l->dir->dirs[i], name, &s, AT_SYMLINK_NOFOLLOW) <
			0) {
			continue;
		}
		return S_ISDIR(s.st_mode) ? (uint64_t)s.st_ino : own;
	}
	return own;
}

static int
list_dots(struct listing *l, uint64_t ord)
{
	struct layer_node *up = NULL;
	uint64_t ino;
	int r;

	if (ord == 0) {
		r = emit(l, ".", l->dir->ino, DT_DIR, vcookie(PHASE_DOTS, 1));
		if (r) {
			return r;
		}
	}
	if (ord <= 1) {
		r = layer_lookup(l->st, NULL, l->dir, "..", &up);
		if (r < 0) {
			return r;
		}
		ino = up->ino;
		layer_node_free(up);
		r = emit(l, "..", ino, DT_DIR, vcookie(PHASE_DOTS, 2));
		if (r) {
			return r;
		}
	}
	return 0;
}

/*
 * Read the directory open at @fd from where it is, calling @one for each
 * entry; a non-zero return of @one stops and is returned.
 */
static int
walk_dents(struct listing *l, int fd,
    int (*one)(
	struct listing *l, int fd, const struct layer_dent64 *d, void *ctx),
    void *ctx)
{
	long got;
	size_t at;
	int r;

	while ((got = syscall(SYS_getdents64, fd, l->buf, DIRBUF)) > 0) {
		for (at = 0; at < (size_t)got;) {
			const struct layer_dent64 *d =
			    (const struct layer_dent64 *)(void *)(l->buf + at);

			at += d->d_reclen;
			r = one(l, fd, d, ctx);
			if (r) {
				return r;
			}
		}
	}
	return got < 0 ? -errno : 0;
}

static int
client_entry(struct listing *l, int fd, const struct layer_dent64 *d, void *ctx)
{
	unsigned char type;
	struct stat s;
	uint64_t ino = d->d_ino, origin;

	(void)ctx;
	if (d->d_off <= 0) {
		/* Positions of this file system do not fit our cookies. */
		return -EOVERFLOW;
	}
	if (is_dot(d->d_name)) {
		return 0;
	}
	type = type_at(fd, d->d_name, d->d_type, &s);
	if (type == DT_CHR && layer_is_whiteout(&s)) {
		return 0;
	}
	if (type == DT_DIR) {
		ino = client_dir_ino(l, d->d_name, ino);
	} else {
		origin = layer_map_origin(l->st, ino);
		ino = origin ? origin : ino;
	}
	return emit(l, d->d_name, ino, type, (uint64_t)d->d_off);
}

static int
list_client(struct listing *l, uint64_t off)
{
	int fd, r;

	if (l->dir->dirs[0] < 0) {
		return 0;
	}
	fd = openat(l->dir->dirs[0], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	r = lseek(fd, (off_t)off, SEEK_SET) < 0
	    ? -EINVAL
	    : walk_dents(l, fd, client_entry, NULL);
	close(fd);
	return r;
}

/* Is @name shown by a layer above version slot @slot of the directory? */
static bool
held_above(struct listing *l, size_t slot, const char *name)
{
	struct stat s;
	size_t i;

	for (i = 0; i < slot; i++) {
		if (l->dir->dirs[i] >= 0 &&
		    fstatat(l->dir->dirs[i], name, &s, AT_SYMLINK_NOFOLLOW) ==
			0) {
			return true;
		}
	}
	return false;
}

static bool
version_whiteout(struct listing *l, size_t slot, int fd, const char *name,
    unsigned char type, const struct stat *s)
{
	char p[64 + LAYER_NAME_MAX];
	struct stat st;

	if (type == DT_CHR) {
		return layer_is_whiteout(s);
	}
	if (type != DT_REG || !(l->dir->dflags[slot] & LAYER_DIR_XWH)) {
		return false;
	}
	if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    st.st_size != 0) {
		return false;
	}
	snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", fd, name);
	return lgetxattr(p, LAYER_XATTR_WHITEOUT, NULL, 0) >= 0;
}

struct vpos {
	size_t slot;
	uint64_t skip, ord;
};

static int
version_entry(
    struct listing *l, int fd, const struct layer_dent64 *d, void *ctx)
{
	struct vpos *v = ctx;
	unsigned char type;
	struct stat s = {0};

	if (++v->ord <= v->skip || is_dot(d->d_name)) {
		return 0;
	}
	type = type_at(fd, d->d_name, d->d_type, &s);
	if (version_whiteout(l, v->slot, fd, d->d_name, type, &s) ||
	    held_above(l, v->slot, d->d_name)) {
		return 0;
	}
	return emit(l, d->d_name, d->d_ino, type,
	    vcookie((unsigned)v->slot - 1, v->ord));
}

static int
list_version(struct listing *l, size_t slot, uint64_t skip)
{
	struct vpos v = {.slot = slot, .skip = skip};
	int fd, r;

	fd =
	    openat(l->dir->dirs[slot], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	r = walk_dents(l, fd, version_entry, &v);
	close(fd);
	return r;
}

static int
list_from(struct listing *l, uint64_t cookie)
{
	unsigned phase = PHASE_DOTS;
	uint64_t ord = 0, off = 0;
	size_t slot = 1;
	int r;

	if (cookie & COOKIE_VERSION) {
		phase = (unsigned)(cookie >> COOKIE_SHIFT) & 15u;
		ord = cookie & COOKIE_ORD;
		if (phase == PHASE_DOTS ? ord > 2
					: (phase + 1 > l->st->nv ||
					      l->dir->dirs[phase + 1] < 0)) {
			return -EINVAL;
		}
	} else if (cookie != 0) {
		phase = 16; /* the client phase */
		off = cookie;
	}
	if (phase == PHASE_DOTS) {
		r = list_dots(l, ord);
		if (r) {
			return r;
		}
		phase = 16;
		ord = 0;
	}
	if (phase == 16) {
		r = list_client(l, off);
		if (r) {
			return r;
		}
	} else {
		slot = phase + 1;
	}
	for (; slot <= l->st->nv; slot++) {
		if (l->dir->dirs[slot] < 0) {
			continue;
		}
		r = list_version(
		    l, slot, phase == 16 || slot != phase + 1 ? 0 : ord);
		if (r) {
			return r;
		}
	}
	return 0;
}

int
layer_readdir(struct layer_stack *st, const struct layer_cred *c,
    struct layer_node *dir, uint64_t cookie,
    int (*fn)(void *arg, const struct layer_dirent *e), void *arg)
{
	struct listing l = {.st = st, .dir = dir, .fn = fn, .arg = arg};
	struct stat s;
	int r;

	if (dir->type != S_IFDIR) {
		return -ENOTDIR;
	}
	if (c) {
		r = layer_stat_fd(layer_dir_top(dir), &s);
		if (r < 0) {
			return r;
		}
		if (!layer_may(c, &s, LAYER_MAY_READ)) {
			return -EACCES;
		}
	}
	l.buf = malloc(DIRBUF);
	if (!l.buf) {
		return -ENOMEM;
	}
	r = list_from(&l, cookie);
	free(l.buf);
	if (r < 0) {
		return r;
	}
	return r == 0 ? 1 : 0;
}

static int
stop_at_first(void *arg, const struct layer_dirent *e)
{
	(void)e;
	*(bool *)arg = true;
	return 1;
}

int
layer_dir_nonempty(struct layer_stack *st, struct layer_node *n)
{
	bool any = false;
	int r = layer_readdir(
	    st, NULL, n, vcookie(PHASE_DOTS, 2), stop_at_first, &any);

	return r < 0 ? r : any;
}

int
layer_dir_nonempty_raw(int dfd)
{
	uint8_t buf[1024];
	long got;
	size_t at;
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		return -errno;
	}
	while ((got = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (at = 0; at < (size_t)got;) {
			struct layer_dent64 *d =
			    (struct layer_dent64 *)(void *)(buf + at);

			at += d->d_reclen;
			if (!is_dot(d->d_name)) {
				close(fd);
				return 1;
			}
		}
	}
	close(fd);
	return got < 0 ? -errno : 0;
}
