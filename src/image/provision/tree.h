#ifndef PNB_IMAGE_PROVISION_TREE_H
#define PNB_IMAGE_PROVISION_TREE_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "image/provision/source.h"

/*
 * Directory-tree operations for provisioning, all relative to directory
 * fds and never following a symlink: removal, and the clone that makes a
 * client's trees from an image's.
 */

struct tree_stats {
	uint64_t files, reflinked, copied_bytes, hardlinks;
};

/*
 * tree_rm() - remove @name (a file or a whole tree) inside @dirfd.
 * A missing @name is not an error.
 * Return: 0 or -errno.
 */
int tree_rm(int dirfd, const char *name);

/*
 * tree_clone() - copy the tree under @src into the empty directory @dst
 * (both borrowed fds), keeping contents and holes, owners, modes,
 * nanosecond times, xattrs, device nodes, FIFOs, sockets and hard links.
 * File data is shared with FICLONE (reflink) where the file system can,
 * and copied with copy_file_range() otherwise.
 * Return: 0, the progress callback's value, or -errno.
 */
int tree_clone(
    int src, int dst, const struct prov_progress *prog, struct tree_stats *st);

/*
 * tree_copy_data() - the first @size bytes of @sfd into @dfd (open fds),
 * region by region (SEEK_DATA, SEEK_HOLE) so holes stay holes; counts
 * the bytes in @st->copied_bytes.  Return: 0 or -errno.
 */
int tree_copy_data(int sfd, int dfd, off_t size, struct tree_stats *st);

/*
 * tree_write_file() - replace the file @rel (a path inside the tree whose
 * root is @rootfd; symlinks resolve inside that root) with @len bytes of
 * @data, atomically (temp file and rename, so a hard link to the old file
 * elsewhere keeps the old contents).  Owner and mode are kept when the
 * file exists, else root and @mode.
 * Return: 0 or -errno (-ENOENT when the parent directory is missing).
 */
int tree_write_file(
    int rootfd, const char *rel, const void *data, size_t len, unsigned mode);

/*
 * tree_read_file() - read @rel inside @rootfd (symlinks resolve inside
 * it) into a new NUL-terminated buffer of at most @max bytes.
 * Return: owned buffer (free with free()) or NULL with errno set
 * (EFBIG when larger than @max).
 */
char *tree_read_file(int rootfd, const char *rel, size_t max, size_t *len);

/* tree_exists() - does @rel exist inside @rootfd (not following it)? */
bool tree_exists(int rootfd, const char *rel);

/*
 * tree_open_dir() - open the directory @rel inside @rootfd, resolving
 * symlinks inside that root.  Return: fd or -errno.
 */
int tree_open_dir(int rootfd, const char *rel);

/*
 * tree_mkdir_open() - make the directory @name in @parent (0700: the
 * walk that made it sets its attributes when done) and open it.
 * Return: fd or -errno.
 */
int tree_mkdir_open(int parent, const char *name);

/*
 * tree_dir_stream() - a stream over the entries of the directory @dirfd
 * (borrowed), from the first: it reads a duplicate of @dirfd, which
 * shares the offset of any earlier reading.
 * Return: owned stream (closedir()) or NULL with errno set.
 */
DIR *tree_dir_stream(int dirfd);

/*
 * tree_open_file() - open @rel inside @rootfd read-only (symlinks resolve
 * inside that root).  Return: fd or -errno.
 */
int tree_open_file(int rootfd, const char *rel);

/*
 * tree_meta_copy() - give @name in @ddir (or the fd @dfd when >= 0) the
 * owner, mode, extended attributes and times of @s, the stat of @name in
 * @sdir (or of the fd @sfd when >= 0).  Return: 0 or -errno.
 */
int tree_meta_copy(const struct stat *s, int sfd, int sdir, int dfd, int ddir,
    const char *name);

/* A set of inodes (device and number), for counting each once. */
struct tree_inoset {
	struct tree_ino *slot;
	size_t cap, n;
};

/* tree_inoset_fini() - free the set's memory. */
void tree_inoset_fini(struct tree_inoset *s);

/*
 * tree_du_new() - bytes allocated below @dirfd by inodes not yet in
 * @seen, which then holds them too: walked over several trees in turn,
 * each inode is counted once, in the first tree that holds it.
 */
uint64_t tree_du_new(int dirfd, struct tree_inoset *seen);

/* tree_du() - bytes allocated below @dirfd, each inode counted once. */
uint64_t tree_du(int dirfd);

#endif
