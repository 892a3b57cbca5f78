#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <et/com_err.h>
#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>

#include "core/io.h"
#include "core/err.h"
#include "image/ext4/ext4.h"

/* Deeper trees than this are hostile: each level holds a directory fd. */
#define EXT4_DEPTH_MAX 256
/* Data is copied in runs of at most this many bytes. */
#define EXT4_CHUNK (1u << 20)

/* An open-addressing map from inode number to the first path seen. */
struct ino_slot {
	ext2_ino_t ino;
	char *path; /* owned; NULL for directories */
};

struct ino_map {
	struct ino_slot *s;
	size_t cap, n;
};

struct ext4_x {
	ext2_filsys fs;
	const struct ext4_progress *prog;
	struct ext4_stats *st;
	struct ino_map links; /* hard-linked non-directories */
	struct ino_map dirs;  /* directories entered */
	int rootfd;
	char path[PATH_MAX]; /* current directory, relative to the root */
	size_t plen;
	uint8_t *buf;       /* EXT4_CHUNK bytes */
	uint64_t limit;     /* twice the file system: cross-linked blocks */
	uint64_t max_bytes; /* the caller's: an import limit, free space */
	uint64_t last_report;
	uint64_t data_end; /* of the file being written: past its last byte */
};

struct ext4_ent {
	ext2_ino_t ino;
	char *name; /* owned */
};

struct ext4_list {
	struct ext4_ent *e;
	size_t n, cap;
	unsigned seen; /* entries reported so far, dot entries included */
	int err;
};

/*
 * unix_io with a wait before every read, for a disk still being written:
 * the manager is copied so that its other methods stay unix_io's, and
 * installed on the channel once the file system is open (a channel's
 * methods come from channel->manager, which leads back here).
 */
struct ext4_waitio {
	struct struct_io_manager m; /* first: the channel points here */
	const struct ext4_wait *wait;
	uint64_t offset; /* of the file system on the disk */
	int err;         /* what a wait failed with */
};

static errcode_t
ext4_wait_read64(io_channel ch, unsigned long long blk, int count, void *data)
{
	struct ext4_waitio *w = (struct ext4_waitio *)ch->manager;
	uint64_t bytes = count < 0 ? (uint64_t) - (int64_t)count
				   : (uint64_t)count * (uint64_t)ch->block_size;
	int r;

	if (blk > UINT64_MAX / 65536) {
		return EXT2_ET_BAD_BLOCK_NUM;
	}
	r = w->wait->fn(
	    w->wait->arg, w->offset + blk * (uint64_t)ch->block_size + bytes);
	if (r < 0) {
		w->err = r;
		return EIO;
	}
	return unix_io_manager->read_blk64(ch, blk, count, data);
}

static errcode_t
ext4_wait_read(io_channel ch, unsigned long blk, int count, void *data)
{
	return ext4_wait_read64(ch, blk, count, data);
}

/*
 * What ext2fs_open2() reads through plain unix_io before the waiting
 * manager is in place: the superblock and the group descriptors after
 * it (with meta_bg they are spread over the disk: everything).
 * Return: the end of that region from @offset, or 0 when the superblock
 * is unreadable (ext2fs_open2 will say why).
 */
static uint64_t
ext4_open_region(const char *path, uint64_t offset, uint64_t size)
{
	uint8_t sb[1024];
	uint64_t bs, blocks, per, first, groups, desc, gdt, rsv;
	uint32_t incompat;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n =
	    fd < 0 ? -1 : pread(fd, sb, sizeof(sb), (off_t)offset + 1024);

	if (fd >= 0) {
		close(fd);
	}
	if (n != (ssize_t)sizeof(sb) || !ext4_probe(sb, sizeof(sb)) ||
	    sb[24] > 6) {
		return 0;
	}
	bs = 1024ull << sb[24];
	incompat = (uint32_t)sb[96] | (uint32_t)sb[97] << 8 |
	    (uint32_t)sb[98] << 16 | (uint32_t)sb[99] << 24;
	blocks = (uint64_t)sb[4] | (uint64_t)sb[5] << 8 |
	    (uint64_t)sb[6] << 16 | (uint64_t)sb[7] << 24;
	first = (uint64_t)sb[20] | (uint64_t)sb[21] << 8 |
	    (uint64_t)sb[22] << 16 | (uint64_t)sb[23] << 24;
	per = (uint64_t)sb[32] | (uint64_t)sb[33] << 8 |
	    (uint64_t)sb[34] << 16 | (uint64_t)sb[35] << 24;
	desc = 32;
	if (incompat & EXT4_FEATURE_INCOMPAT_64BIT) {
		blocks |=
		    ((uint64_t)sb[0x150] | (uint64_t)sb[0x151] << 8 |
			(uint64_t)sb[0x152] << 16 | (uint64_t)sb[0x153] << 24)
		    << 32;
		desc = (uint64_t)sb[0xfe] | (uint64_t)sb[0xff] << 8;
	}
	rsv = (uint64_t)sb[0xce] | (uint64_t)sb[0xcf] << 8;
	if ((incompat & EXT2_FEATURE_INCOMPAT_META_BG) || per == 0 ||
	    desc == 0 || blocks <= first) {
		return size;
	}
	groups = (blocks - first + per - 1) / per;
	gdt = (groups * desc + bs - 1) / bs;
	return (first + 1 + gdt + rsv) * bs > size
	    ? size
	    : (first + 1 + gdt + rsv) * bs;
}

const char *
ext4_strerror(long ec)
{
	/* Registering the table twice is harmless (com_err checks). */
	initialize_ext2_error_table();
	return error_message((errcode_t)ec);
}

bool
ext4_probe(const uint8_t *sb, size_t len)
{
	/* s_magic at offset 56 of the superblock, little-endian 0xef53. */
	return len >= 58 && sb[56] == 0x53 && sb[57] == 0xef;
}

/*
 * The one place libext2fs codes become ours.  Codes below 256 are plain
 * errno values (the Unix I/O manager passes them through); everything
 * else names a corruption and is kept for the message.
 */
static int
ext4_fail(struct ext4_x *x, errcode_t ec)
{
	if (ec > 0 && ec < 256) {
		return -(int)ec;
	}
	x->st->ext2_err = (long)ec;
	return -PNB_EEXT4;
}

static uint64_t
ino_hash(ext2_ino_t ino)
{
	return (uint64_t)ino * 0x9e3779b97f4a7c15ull;
}

static struct ino_slot *
ino_find(struct ino_map *m, ext2_ino_t ino)
{
	size_t i;

	if (m->cap == 0) {
		return NULL;
	}
	for (i = ino_hash(ino) & (m->cap - 1); m->s[i].ino != 0;
	     i = (i + 1) & (m->cap - 1)) {
		if (m->s[i].ino == ino) {
			return &m->s[i];
		}
	}
	return NULL;
}

/* Insert @ino (not present) taking ownership of @path; -ENOMEM. */
static int
ino_add(struct ino_map *m, ext2_ino_t ino, char *path)
{
	size_t i;

	if (2 * (m->n + 1) > m->cap) {
		struct ino_map g = {.cap = m->cap ? 2 * m->cap : 1024};

		g.s = calloc(g.cap, sizeof(*g.s));
		if (!g.s) {
			free(path);
			return -ENOMEM;
		}
		for (i = 0; i < m->cap; i++) {
			if (m->s[i].ino != 0) {
				size_t j = ino_hash(m->s[i].ino) & (g.cap - 1);

				while (g.s[j].ino != 0) {
					j = (j + 1) & (g.cap - 1);
				}
				g.s[j] = m->s[i];
			}
		}
		free(m->s);
		g.n = m->n;
		*m = g;
	}
	for (i = ino_hash(ino) & (m->cap - 1); m->s[i].ino != 0;
	     i = (i + 1) & (m->cap - 1)) {
	}
	m->s[i] = (struct ino_slot){.ino = ino, .path = path};
	m->n++;
	return 0;
}

static void
ino_map_fini(struct ino_map *m)
{
	size_t i;

	for (i = 0; i < m->cap; i++) {
		free(m->s[i].path);
	}
	free(m->s);
}

static void
ext4_where(struct ext4_x *x, const char *name)
{
	snprintf(x->st->where, sizeof(x->st->where), "/%.*s%s%s", (int)x->plen,
	    x->path, x->plen ? "/" : "", name ? name : "");
}

static int
ext4_read_inode(struct ext4_x *x, ext2_ino_t ino, struct ext2_inode_large *in)
{
	errcode_t ec;

	memset(in, 0, sizeof(*in));
	ec = ext2fs_read_inode_full(
	    x->fs, ino, (struct ext2_inode *)in, sizeof(*in));
	return ec ? ext4_fail(x, ec) : 0;
}

static bool
ext4_has_extra(const struct ext2_inode_large *in, size_t end)
{
	return EXT2_GOOD_OLD_INODE_SIZE + (size_t)in->i_extra_isize >= end;
}

/* Seconds and nanoseconds of one timestamp (ext4 "extra" encoding). */
static struct timespec
ext4_ts(const struct ext2_inode_large *in, uint32_t lo, const uint32_t *extra,
    size_t end)
{
	struct timespec ts = {.tv_sec = (int32_t)lo, .tv_nsec = 0};

	if (ext4_has_extra(in, end)) {
		ts.tv_sec += (int64_t)(*extra & 3) << 32;
		ts.tv_nsec = *extra >> 2;
		if (ts.tv_nsec > 999999999) {
			ts.tv_nsec = 0;
		}
	}
	return ts;
}

struct ext4_xa {
	int fd; /* or -1: use @dirfd/@name */
	int dirfd;
	const char *name;
	int err;
	uint64_t count, markers;
};

static int
ext4_xattr_cb(char *name, char *value, size_t len, void *data)
{
	struct ext4_xa *a = data;
	char proc[64 + NAME_MAX];
	int r;

	/* Inline file data lives in this attribute; it is not metadata. */
	if (!strcmp(name, "system.data")) {
		return 0;
	}
	/*
	 * The layer format's markers (docs/fleet.md): an image that carried
	 * them could hide or expose files in the versions stacked on it.
	 */
	if (!strncmp(name, "user.overlay.", 13) ||
	    !strncmp(name, "trusted.overlay.", 16)) {
		a->markers++;
		return 0;
	}
	if (a->fd >= 0) {
		r = fsetxattr(a->fd, name, value, len, 0);
	} else {
		/*
		 * No fd can be opened on a symlink or a device for writing
		 * attributes, so go through the directory fd, which
		 * /proc/self/fd names without resolving anything in the
		 * image; lsetxattr() does not follow the last component.
		 */
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", a->dirfd,
		    a->name);
		r = lsetxattr(proc, name, value, len, 0);
	}
	if (r < 0) {
		a->err = -errno;
		return XATTR_ABORT;
	}
	a->count++;
	return 0;
}

static int
ext4_xattrs(struct ext4_x *x, ext2_ino_t ino, struct ext2_inode_large *in,
    int fd, int dirfd, const char *name)
{
	struct ext2_xattr_handle *h = NULL;
	struct ext4_xa a = {.fd = fd, .dirfd = dirfd, .name = name};
	errcode_t ec;

	if (!ext2fs_has_feature_xattr(x->fs->super)) {
		return 0;
	}
	/*
	 * ext2fs_xattrs_read() reads the whole on-disk inode itself: the
	 * in-inode attributes live past struct ext2_inode_large.
	 */
	(void)in;
	ec = ext2fs_xattrs_open(x->fs, ino, &h);
	if (!ec) {
		ec = ext2fs_xattrs_read(h);
	}
	if (!ec) {
		ec = ext2fs_xattrs_iterate(h, ext4_xattr_cb, &a);
	}
	ext2fs_xattrs_close(&h);
	if (ec) {
		return ext4_fail(x, ec);
	}
	x->st->xattrs += a.count;
	x->st->markers += a.markers;
	return a.err;
}

/*
 * Owner, mode, attributes, times, in that order: chown clears setuid and
 * file capabilities, so the mode and security.capability come after it,
 * and the times come last because setting attributes changes ctime only.
 */
static int
ext4_meta(struct ext4_x *x, ext2_ino_t ino, struct ext2_inode_large *in, int fd,
    int dirfd, const char *name)
{
	struct timespec ts[2];
	mode_t mode = in->i_mode & 07777;
	int r;

	if (fd >= 0) {
		r = fchown(fd, inode_uid(*in), inode_gid(*in));
	} else {
		r = fchownat(dirfd, name, inode_uid(*in), inode_gid(*in),
		    AT_SYMLINK_NOFOLLOW);
	}
	if (r < 0) {
		return -errno;
	}
	if (!LINUX_S_ISLNK(in->i_mode)) {
		r = fd >= 0 ? fchmod(fd, mode) : fchmodat(dirfd, name, mode, 0);
		if (r < 0) {
			return -errno;
		}
	}
	r = ext4_xattrs(x, ino, in, fd, dirfd, name);
	if (r < 0) {
		return r;
	}
	ts[0] = ext4_ts(in, in->i_atime, &in->i_atime_extra,
	    offsetof(struct ext2_inode_large, i_atime_extra) + 4);
	ts[1] = ext4_ts(in, in->i_mtime, &in->i_mtime_extra,
	    offsetof(struct ext2_inode_large, i_mtime_extra) + 4);
	r = fd >= 0 ? futimens(fd, ts)
		    : utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW);
	return r < 0 ? -errno : 0;
}

/* Count @n bytes of file data written against both limits. */
static int
ext4_count(struct ext4_x *x, uint64_t n)
{
	x->st->bytes += n;
	if (x->st->bytes > x->max_bytes) {
		return -ENOSPC;
	}
	return x->st->bytes > x->limit ? -EFBIG : 0;
}

/*
 * Copy @len blocks from physical block @pblk to logical block @lblk of
 * @fd, clipped to @size bytes.  Blocks never mapped are never written, so
 * holes stay holes.
 */
static int
ext4_copy_run(struct ext4_x *x, int fd, uint64_t lblk, uint64_t pblk,
    uint64_t len, uint64_t size)
{
	uint64_t bs = x->fs->blocksize;
	uint64_t total = ext2fs_blocks_count(x->fs->super);
	uint64_t per = EXT4_CHUNK / bs;
	errcode_t ec;
	int r;

	if (pblk < x->fs->super->s_first_data_block || pblk >= total ||
	    len > total - pblk) {
		return ext4_fail(x, EXT2_ET_BAD_BLOCK_NUM);
	}
	while (len > 0) {
		uint64_t n = len < per ? len : per;
		uint64_t off = lblk * bs, bytes = n * bs;

		if (lblk > UINT64_MAX / bs || off >= size) {
			return 0;
		}
		if (bytes > size - off) {
			bytes = size - off;
		}
		ec = io_channel_read_blk64(x->fs->io, pblk, (int)n, x->buf);
		if (ec) {
			return ext4_fail(x, ec);
		}
		r = io_pwrite_all(fd, x->buf, (size_t)bytes, off);
		if (r < 0) {
			return r;
		}
		x->data_end = off + bytes;
		r = ext4_count(x, bytes);
		if (r < 0) {
			return r;
		}
		if (x->prog && x->st->bytes - x->last_report >= (8u << 20)) {
			x->last_report = x->st->bytes;
			r = x->prog->fn(x->prog->arg, x->st->bytes);
			if (r < 0) {
				return r;
			}
		}
		lblk += n;
		pblk += n;
		len -= n;
	}
	return 0;
}

struct ext4_bmap {
	struct ext4_x *x;
	int fd;
	uint64_t size;
	uint64_t lstart, pstart, len; /* the run being gathered */
	int err;
};

static int
ext4_bmap_flush(struct ext4_bmap *b)
{
	int r = 0;

	if (b->len > 0) {
		r = ext4_copy_run(
		    b->x, b->fd, b->lstart, b->pstart, b->len, b->size);
	}
	b->len = 0;
	return r;
}

static int
ext4_block_cb(ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt,
    blk64_t ref_blk, int ref_offset, void *priv)
{
	struct ext4_bmap *b = priv;

	(void)fs;
	(void)ref_blk;
	(void)ref_offset;
	if (blockcnt < 0) {
		return 0;
	}
	if (b->len > 0 && (uint64_t)blockcnt == b->lstart + b->len &&
	    *blocknr == b->pstart + b->len) {
		b->len++;
		return 0;
	}
	b->err = ext4_bmap_flush(b);
	if (b->err < 0) {
		return BLOCK_ABORT;
	}
	b->lstart = (uint64_t)blockcnt;
	b->pstart = *blocknr;
	b->len = 1;
	return 0;
}

static int
ext4_copy_extents(struct ext4_x *x, ext2_ino_t ino, struct ext2_inode_large *in,
    int fd, uint64_t size)
{
	ext2_extent_handle_t h = NULL;
	struct ext2fs_extent e;
	errcode_t ec;
	int op = EXT2_EXTENT_ROOT, r = 0;

	ec = ext2fs_extent_open2(x->fs, ino, (struct ext2_inode *)in, &h);
	if (ec) {
		return ext4_fail(x, ec);
	}
	for (;;) {
		ec = ext2fs_extent_get(h, op, &e);
		op = EXT2_EXTENT_NEXT_LEAF;
		if (ec == EXT2_ET_EXTENT_NO_NEXT) {
			break;
		}
		if (ec) {
			r = ext4_fail(x, ec);
			break;
		}
		if (!(e.e_flags & EXT2_EXTENT_FLAGS_LEAF) || e.e_len == 0) {
			continue;
		}
		/* Unwritten (preallocated) extents read as zeros: a hole. */
		if (e.e_flags & EXT2_EXTENT_FLAGS_UNINIT) {
			continue;
		}
		r = ext4_copy_run(x, fd, e.e_lblk, e.e_pblk, e.e_len, size);
		if (r < 0) {
			break;
		}
	}
	ext2fs_extent_free(h);
	return r;
}

static int
ext4_file_data(
    struct ext4_x *x, ext2_ino_t ino, struct ext2_inode_large *in, int fd)
{
	uint64_t size = EXT2_I_SIZE(in);
	errcode_t ec;
	int r;

	x->data_end = 0;
	if (in->i_flags & EXT4_INLINE_DATA_FL) {
		size_t n = 0;

		/* At most 60 bytes in i_block plus one xattr value. */
		ec = ext2fs_inline_data_size(x->fs, ino, &n);
		if (!ec && n > EXT4_CHUNK) {
			ec = EXT2_ET_INLINE_DATA_NO_SPACE;
		}
		if (!ec) {
			ec = ext2fs_inline_data_get(
			    x->fs, ino, (struct ext2_inode *)in, x->buf, &n);
		}
		if (ec) {
			return ext4_fail(x, ec);
		}
		if (n > size) {
			n = (size_t)size;
		}
		/* mke2fs -d stores a file that is all hole as empty inline
		 * data. */
		if (n > 0 && x->buf[0] == 0 &&
		    !memcmp(x->buf, x->buf + 1, n - 1)) {
			n = 0;
		}
		r = io_pwrite_all(fd, x->buf, n, 0);
		if (r < 0) {
			return r;
		}
		x->data_end = n;
		r = ext4_count(x, n);
		if (r < 0) {
			return r;
		}
	} else if (in->i_flags & EXT4_EXTENTS_FL) {
		r = ext4_copy_extents(x, ino, in, fd, size);
		if (r < 0) {
			return r;
		}
	} else {
		struct ext4_bmap b = {.x = x, .fd = fd, .size = size};

		ec = ext2fs_block_iterate3(x->fs, ino,
		    BLOCK_FLAG_DATA_ONLY | BLOCK_FLAG_READ_ONLY, NULL,
		    ext4_block_cb, &b);
		if (b.err < 0) {
			return b.err;
		}
		if (ec) {
			return ext4_fail(x, ec);
		}
		r = ext4_bmap_flush(&b);
		if (r < 0) {
			return r;
		}
	}
	/* The file is new: only a hole at its end needs the size set. */
	if (x->data_end == size) {
		return 0;
	}
	if (size > INT64_MAX || ftruncate(fd, (off_t)size) < 0) {
		return size > INT64_MAX ? -EFBIG : -errno;
	}
	return 0;
}

static int
ext4_symlink_target(struct ext4_x *x, ext2_ino_t ino,
    struct ext2_inode_large *in, char *out, size_t cap)
{
	uint64_t size = EXT2_I_SIZE(in);
	ext2_file_t f = NULL;
	unsigned got = 0;
	errcode_t ec;

	if (size == 0 || size >= cap) {
		return ext4_fail(x, EXT2_ET_INODE_CORRUPTED);
	}
	if (in->i_flags & EXT4_INLINE_DATA_FL) {
		size_t n = 0;

		ec = ext2fs_inline_data_size(x->fs, ino, &n);
		if (!ec && (n < size || n >= cap)) {
			ec = EXT2_ET_INODE_CORRUPTED;
		}
		if (!ec) {
			ec = ext2fs_inline_data_get(
			    x->fs, ino, (struct ext2_inode *)in, out, &n);
		}
	} else if (ext2fs_is_fast_symlink((struct ext2_inode *)in)) {
		memcpy(out, in->i_block, (size_t)size);
		ec = 0;
	} else {
		ec = ext2fs_file_open2(
		    x->fs, ino, (struct ext2_inode *)in, 0, &f);
		if (!ec) {
			ec = ext2fs_file_read(f, out, (unsigned)size, &got);
		}
		if (!ec && got != size) {
			ec = EXT2_ET_SHORT_READ;
		}
		if (f) {
			ext2fs_file_close(f);
		}
	}
	if (ec) {
		return ext4_fail(x, ec);
	}
	out[size] = '\0';
	if (strlen(out) != size) {
		return ext4_fail(x, EXT2_ET_INODE_CORRUPTED);
	}
	return 0;
}

static dev_t
ext4_rdev(const struct ext2_inode_large *in)
{
	/* Old encoding in i_block[0], new (Linux huge_encode_dev) in [1]. */
	if (in->i_block[0]) {
		return makedev(
		    (in->i_block[0] >> 8) & 255, in->i_block[0] & 255);
	}
	return makedev((in->i_block[1] & 0xfff00) >> 8,
	    (in->i_block[1] & 0xff) | ((in->i_block[1] >> 12) & 0xfff00));
}

static int ext4_dir(struct ext4_x *x, ext2_ino_t ino, int dirfd, int depth);

static int
ext4_dirent_cb(ext2_ino_t dir, int entry, struct ext2_dir_entry *d, int offset,
    int blocksize, char *buf, void *priv)
{
	struct ext4_list *l = priv;
	int len = ext2fs_dirent_name_len(d);
	char *name;

	bool dots = (len == 1 && d->name[0] == '.') ||
	    (len == 2 && d->name[0] == '.' && d->name[1] == '.');

	(void)dir;
	(void)offset;
	(void)blocksize;
	(void)buf;
	/*
	 * "." and ".." open every directory; libext2fs flags them as such
	 * for block directories but reports the ones it makes up for
	 * inline-data directories as ordinary entries, so go by position.
	 */
	if (entry == DIRENT_DOT_FILE || entry == DIRENT_DOT_DOT_FILE ||
	    (dots && l->seen < 2)) {
		l->seen++;
		return 0;
	}
	l->seen++;
	if (d->inode == 0) {
		return 0;
	}
	if (len == 0 || memchr(d->name, '/', (size_t)len) ||
	    memchr(d->name, '\0', (size_t)len) ||
	    (len == 1 && d->name[0] == '.') ||
	    (len == 2 && d->name[0] == '.' && d->name[1] == '.')) {
		l->err = -PNB_ENAME;
		return DIRENT_ABORT;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct ext4_ent *e = realloc(l->e, cap * sizeof(*e));

		if (!e) {
			l->err = -ENOMEM;
			return DIRENT_ABORT;
		}
		l->e = e;
		l->cap = cap;
	}
	name = strndup(d->name, (size_t)len);
	if (!name) {
		l->err = -ENOMEM;
		return DIRENT_ABORT;
	}
	l->e[l->n++] = (struct ext4_ent){.ino = d->inode, .name = name};
	return 0;
}

static int
ext4_path_push(struct ext4_x *x, const char *name, size_t *saved)
{
	size_t n = strlen(name);

	*saved = x->plen;
	if (x->plen + 1 + n >= sizeof(x->path)) {
		return -ENAMETOOLONG;
	}
	if (x->plen) {
		x->path[x->plen++] = '/';
	}
	memcpy(x->path + x->plen, name, n + 1);
	x->plen += n;
	return 0;
}

static int
ext4_entry(struct ext4_x *x, int dirfd, const struct ext4_ent *e, int depth)
{
	struct ext2_inode_large in;
	struct ino_slot *link;
	char target[PATH_MAX];
	uint16_t mode;
	size_t saved;
	int fd = -1, r;

	if (e->ino != EXT2_ROOT_INO &&
	    (e->ino < EXT2_FIRST_INODE(x->fs->super) ||
		e->ino > x->fs->super->s_inodes_count)) {
		return ext4_fail(x, EXT2_ET_BAD_INODE_NUM);
	}
	r = ext4_read_inode(x, e->ino, &in);
	if (r < 0) {
		return r;
	}
	mode = in.i_mode;
	if (LINUX_S_ISDIR(mode)) {
		if (ino_find(&x->dirs, e->ino)) {
			return -PNB_EDIR_LOOP;
		}
		r = ino_add(&x->dirs, e->ino, NULL);
		if (r < 0) {
			return r;
		}
		if (mkdirat(dirfd, e->name, 0700) < 0) {
			return -errno;
		}
		fd = openat(dirfd, e->name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			return -errno;
		}
		r = ext4_path_push(x, e->name, &saved);
		if (r == 0) {
			r = ext4_dir(x, e->ino, fd, depth + 1);
			x->plen = saved;
			x->path[saved] = '\0';
		}
		if (r == 0) {
			r = ext4_meta(x, e->ino, &in, fd, -1, NULL);
		}
		close(fd);
		x->st->dirs++;
		return r;
	}
	/* A whiteout of the layer format; see ext4_xattr_cb(). */
	if (LINUX_S_ISCHR(mode) && ext4_rdev(&in) == makedev(0, 0)) {
		x->st->markers++;
		return 0;
	}
	/* A second name for an inode already extracted: a hard link. */
	link = in.i_links_count > 1 ? ino_find(&x->links, e->ino) : NULL;
	if (link) {
		/*
		 * The first path runs only through directories this
		 * extractor made (names are checked, creation is
		 * exclusive), so resolving it cannot leave the tree.
		 */
		if (linkat(x->rootfd, link->path, dirfd, e->name, 0) < 0) {
			return -errno;
		}
		x->st->hardlinks++;
		return 0;
	}
	if (LINUX_S_ISREG(mode)) {
		fd = openat(dirfd, e->name,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			return -errno;
		}
		r = ext4_file_data(x, e->ino, &in, fd);
		if (r == 0) {
			r = ext4_meta(x, e->ino, &in, fd, -1, NULL);
		}
		close(fd);
		x->st->files++;
	} else if (LINUX_S_ISLNK(mode)) {
		r = ext4_symlink_target(x, e->ino, &in, target, sizeof(target));
		if (r == 0 && symlinkat(target, dirfd, e->name) < 0) {
			r = -errno;
		}
		if (r == 0) {
			r = ext4_meta(x, e->ino, &in, -1, dirfd, e->name);
		}
		x->st->symlinks++;
	} else if (LINUX_S_ISCHR(mode) || LINUX_S_ISBLK(mode) ||
	    LINUX_S_ISFIFO(mode) || LINUX_S_ISSOCK(mode)) {
		mode_t type = LINUX_S_ISCHR(mode) ? S_IFCHR
		    : LINUX_S_ISBLK(mode)         ? S_IFBLK
		    : LINUX_S_ISFIFO(mode)        ? S_IFIFO
						  : S_IFSOCK;

		if (mknodat(dirfd, e->name, type | 0600,
			(type == S_IFCHR || type == S_IFBLK) ? ext4_rdev(&in)
							     : 0) < 0) {
			return -errno;
		}
		r = ext4_meta(x, e->ino, &in, -1, dirfd, e->name);
		x->st->specials++;
	} else {
		return ext4_fail(x, EXT2_ET_INODE_CORRUPTED);
	}
	if (r == 0 && in.i_links_count > 1) {
		char *p = NULL;

		if (asprintf(&p, "%.*s%s%s", (int)x->plen, x->path,
			x->plen ? "/" : "", e->name) < 0) {
			return -ENOMEM;
		}
		r = ino_add(&x->links, e->ino, p);
	}
	return r;
}

static int
ext4_dir(struct ext4_x *x, ext2_ino_t ino, int dirfd, int depth)
{
	struct ext4_list l = {.err = 0};
	errcode_t ec;
	size_t i;
	int r = 0;

	if (depth > EXT4_DEPTH_MAX) {
		return -EMSGSIZE;
	}
	ec = ext2fs_dir_iterate2(x->fs, ino, 0, NULL, ext4_dirent_cb, &l);
	if (l.err < 0) {
		r = l.err;
		ext4_where(x, NULL);
	} else if (ec) {
		r = ext4_fail(x, ec);
		ext4_where(x, NULL);
	}
	for (i = 0; r == 0 && i < l.n; i++) {
		r = ext4_entry(x, dirfd, &l.e[i], depth);
		if (r < 0 && x->st->where[0] == '\0') {
			ext4_where(x, l.e[i].name);
		}
	}
	for (i = 0; i < l.n; i++) {
		free(l.e[i].name);
	}
	free(l.e);
	return r;
}

int
ext4_extract(const char *path, uint64_t offset, uint64_t size, int destfd,
    uint64_t max_bytes, const struct ext4_progress *prog,
    const struct ext4_wait *wait, struct ext4_stats *st)
{
	struct ext4_x x = {
	    .prog = prog, .st = st, .rootfd = destfd, .max_bytes = max_bytes};
	struct ext4_waitio *w = NULL;
	struct ext2_inode_large in;
	char opts[64];
	uint64_t fs_bytes;
	errcode_t ec;
	int r;

	memset(st, 0, sizeof(*st));
	if (wait) {
		w = calloc(1, sizeof(*w));
		if (!w) {
			return -ENOMEM;
		}
		*w = (struct ext4_waitio){
		    .m = *unix_io_manager, .wait = wait, .offset = offset};
		w->m.read_blk = ext4_wait_read;
		w->m.read_blk64 = ext4_wait_read64;
		/* The superblock first, then what it says open reads. */
		r = wait->fn(wait->arg, offset + 2048);
		if (r == 0) {
			r = wait->fn(wait->arg,
			    offset + ext4_open_region(path, offset, size));
		}
		if (r < 0) {
			free(w);
			return r;
		}
	}
	snprintf(opts, sizeof(opts), "offset=%" PRIu64, offset);
	ec = ext2fs_open2(
	    path, opts, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &x.fs);
	if (ec) {
		x.fs = NULL;
		r = ext4_fail(&x, ec);
		goto out;
	}
	if (w) {
		x.fs->io->manager = &w->m;
	}
	fs_bytes = ext2fs_blocks_count(x.fs->super) * x.fs->blocksize;
	if (fs_bytes > size) {
		r = -PNB_EPART_RANGE;
		goto out;
	}
	/*
	 * Blocks in use, less the inode tables and the journal, which hold
	 * no file data: for progress, and the room the files will need.
	 */
	{
		uint64_t total = ext2fs_blocks_count(x.fs->super);
		uint64_t free_blocks = ext2fs_free_blocks_count(x.fs->super);
		/* A count past the total is a lie: take it as full. */
		uint64_t used =
		    (free_blocks > total ? total : total - free_blocks) *
		    x.fs->blocksize;
		uint64_t meta = (uint64_t)x.fs->group_desc_count *
		    x.fs->inode_blocks_per_group * x.fs->blocksize;
		struct ext2_inode_large j;

		if (ext2fs_has_feature_journal(x.fs->super) &&
		    x.fs->super->s_journal_inum &&
		    ext4_read_inode(&x, x.fs->super->s_journal_inum, &j) == 0) {
			meta += EXT2_I_SIZE(&j);
		}
		st->ext2_err = 0;
		st->used_bytes = used > meta ? used - meta : used;
	}
	if (st->used_bytes > max_bytes) {
		r = -ENOSPC;
		goto out;
	}
	/* Cross-linked blocks could repeat data without end: cap it. */
	x.limit = 2 * fs_bytes + (64u << 20);
	x.buf = malloc(EXT4_CHUNK);
	if (!x.buf) {
		r = -ENOMEM;
		goto out;
	}
	r = ino_add(&x.dirs, EXT2_ROOT_INO, NULL);
	if (r == 0) {
		r = ext4_read_inode(&x, EXT2_ROOT_INO, &in);
	}
	if (r == 0 && !LINUX_S_ISDIR(in.i_mode)) {
		r = ext4_fail(&x, EXT2_ET_NO_DIRECTORY);
	}
	if (r == 0) {
		r = ext4_dir(&x, EXT2_ROOT_INO, destfd, 1);
	}
	if (r == 0) {
		r = ext4_meta(&x, EXT2_ROOT_INO, &in, destfd, -1, NULL);
	}
	if (r == 0 && prog) {
		r = prog->fn(prog->arg, st->bytes);
	}
out:
	/* A failed wait shows as EIO inside libext2fs: report the cause. */
	if (r < 0 && w && w->err < 0) {
		r = w->err;
	}
	free(x.buf);
	ino_map_fini(&x.links);
	ino_map_fini(&x.dirs);
	if (x.fs) {
		ext2fs_close_free(&x.fs);
	}
	free(w);
	return r;
}
