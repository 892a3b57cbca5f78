#ifndef PNB_LAYER_INTERNAL_H
#define PNB_LAYER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "layer/layer.h"

/*
 * What the files of src/layer share; not for callers.
 *
 * Layer slots: 0 is the client layer, 1..nv the versions, top first.
 */
#define LAYER_SLOTS (1 + LAYER_VERSIONS_MAX)

/* Per directory instance flags (struct layer_node.dflags). */
enum {
	LAYER_DIR_OPAQUE = 1, /* user.overlay.opaque = "y" */
	LAYER_DIR_XWH = 2,    /* "x": may hold xattr whiteouts */
};

#define LAYER_XATTR_OPAQUE   "user.overlay.opaque"
#define LAYER_XATTR_WHITEOUT "user.overlay.whiteout"

/*
 * One version inode the client changed or hid names of.  @vis counts its
 * version names still visible (set from the version's link count when
 * the entry is made, lowered as names are hidden), so the merged link
 * count is vis plus the copy's links outside the index.  The kernel
 * handle of the version inode is kept because a renamed file may be
 * reached only through the client layer, and its NFS handle must stay
 * the version inode's.
 */
struct layer_ix {
	uint64_t origin; /* the version inode */
	uint64_t copy;   /* inode of its copy in the index; 0: none */
	uint32_t vis;
	int32_t htype;
	uint8_t hlen;
	uint8_t h[LAYER_FH_MAX];
	uint32_t next_o, next_c; /* hash chains: entry index + 1, 0 ends */
};

struct layer_map {
	struct layer_ix *e; /* owned */
	size_t n, cap;
	uint32_t *by_origin, *by_copy; /* owned buckets, nb each */
	size_t nb;
};

/*
 * A directory whose handle was resolved: its path and which version
 * layers hold it, so the next resolution opens each instance with one
 * openat2 instead of climbing the tree.  Entries under a path go when a
 * directory there is removed or renamed (layer_dcache_forget()); that is
 * all that can change where a directory is or what it merges.
 */
#define LAYER_DCACHE 1024

struct layer_dcache {
	uint8_t key[2 + LAYER_FH_MAX + 4]; /* kind, len, type, handle */
	size_t keylen;
	char *path; /* owned; NULL: empty slot */
	uint64_t ino;
	uint8_t kind;
	uint16_t vmask; /* version slots holding it */
	uint8_t dflags[LAYER_SLOTS];
};

struct layer_stack {
	int root[LAYER_SLOTS]; /* owned O_RDONLY roots; [0] -1 without client */
	char *root_path[LAYER_SLOTS]; /* owned, as /proc shows it */
	ino_t root_ino[LAYER_SLOTS];
	size_t nv;
	int index; /* owned, -1 without client */
	bool ro, nosync;
	dev_t dev;
	uint64_t verifier;
	pthread_mutex_t mut;         /* held for a whole change of the layers */
	pthread_mutex_t lock;        /* the map and the directory cache */
	struct layer_dcache *dcache; /* owned, LAYER_DCACHE entries */
	struct layer_map map;
	int (*hook)(void *arg, const char *step);
	void *hook_arg;
	uint64_t seq; /* temporaries, under mut */
};

/* --- stack.c ------------------------------------------------------------ */

/* layer_step() - the fault seam: 0, or -EIO when the hook says fail. */
int layer_step(struct layer_stack *st, const char *step);

/* layer_tmpname() - a fresh temporary name for the index ("#..."). */
void layer_tmpname(struct layer_stack *st, char *buf, size_t cap);

#define LAYER_IXNAME_MAX (20 + 1 + 10 + 1 + 8 + 1 + 2 * LAYER_FH_MAX + 1)

/*
 * layer_ixname() - the index entry name of @x:
 * "<origin>.<vis>.<handle type, hex>.<handle, hex>".
 */
void layer_ixname(char *buf, size_t cap, const struct layer_ix *x);

/*
 * layer_map_find() - a copy of the entry of version inode @origin;
 * false when there is none.  Takes the map lock.
 */
bool layer_map_find(
    struct layer_stack *st, uint64_t origin, struct layer_ix *out);

/* layer_map_origin() - the version inode whose copy is @copy, or 0. */
uint64_t layer_map_origin(struct layer_stack *st, uint64_t copy);

/* layer_map_set() - set the entry of @x->origin (copy 0: none). */
int layer_map_set(struct layer_stack *st, const struct layer_ix *x);

/* layer_rm_tree() - remove @name in @dirfd, a directory recursively. */
int layer_rm_tree(int dirfd, const char *name, int depth);

/* --- node.c ------------------------------------------------------------- */

/* layer_openat() - one component below @dirfd, never leaving it. */
int layer_openat(int dirfd, const char *name, int flags);

/* layer_reopen() - @fd (O_PATH is fine) opened again with @flags. */
int layer_reopen(int fd, int flags);

int layer_stat_fd(int fd, struct stat *st);

/* layer_is_whiteout() - a 0/0 character device. */
bool layer_is_whiteout(const struct stat *st);

/* layer_name_check() - a name for a new or existing entry: 0 or -errno. */
int layer_name_check(const char *name);

/* layer_node_new() - an empty node; NULL on ENOMEM. */
struct layer_node *layer_node_new(void);

/*
 * layer_node_set_fd() - make @fd (taken; -1 for none) @n's data
 * descriptor, closing the one before unless it is the version file's
 * (an uncopied version file's node holds one descriptor for both).
 */
void layer_node_set_fd(struct layer_node *n, int fd);

/*
 * layer_set_version_file() - make @n version file @vfd (taken; @vs its
 * attributes), its data the client's copy if there is one.
 */
int layer_set_version_file(struct layer_stack *st, struct layer_node *n,
    int vfd, const struct stat *vs);

/* layer_dir_flags() - LAYER_DIR_* of directory instance @fd. */
uint8_t layer_dir_flags(int fd);

/* layer_dir_top() - the top instance of directory node @n. */
int layer_dir_top(const struct layer_node *n);

/* layer_dir_has_version() - does directory @n merge version content? */
bool layer_dir_has_version(const struct layer_node *n);

/*
 * layer_lookup_raw() - the merged lookup of @name in @dir, as the
 * server, with what it found under the name in the client layer:
 * *@cst (st_mode 0: nothing) and whether a version layer below holds
 * the name (*@below).  Either may be NULL.
 */
int layer_lookup_raw(struct layer_stack *st, struct layer_node *dir,
    const char *name, struct layer_node **out, struct stat *cst, bool *below);

/* layer_dir_nonempty() - does merged directory @n list any entry? */
int layer_dir_nonempty(struct layer_stack *st, struct layer_node *n);

/* layer_dcache_forget() - drop cached directories at or under @path. */
void layer_dcache_forget(struct layer_stack *st, const char *path);

/* layer_dcache_free() - release the cache's paths. */
void layer_dcache_free(struct layer_stack *st);

/* layer_dir_nonempty_raw() - has directory @dfd any entry on disk? */
int layer_dir_nonempty_raw(int dfd);

/* layer_nlink_of() - the merged link count of @n. */
uint32_t layer_nlink_of(struct layer_stack *st, const struct layer_node *n);

/*
 * layer_attr_raw() - layer_getattr() with one stat, and the top
 * instance's own inode number in *@top (may be NULL): a version file
 * whose top is its version inode has no copy yet.
 */
int layer_attr_raw(struct layer_stack *st, const struct layer_node *n,
    struct stat *out, ino_t *top);

/* --- copyup.c ----------------------------------------------------------- */

/* layer_copy_attrs() - owner, mode, xattrs and times of @src onto @dst. */
int layer_copy_meta(struct layer_stack *st, int src, int dst,
    const struct stat *sst, bool times);

/*
 * layer_copy_data() - the first @size bytes of @src into @dst (open
 * fds): shared blocks where the file system can (FICLONE), holes kept.
 */
int layer_copy_data(struct layer_stack *st, int src, int dst, off_t size);

/*
 * layer_up_dir() - make sure directory node @n has its client-layer
 * instance, its parents first.  Caller holds st->mut.
 */
int layer_up_dir(struct layer_stack *st, struct layer_node *n);

/* layer_up_file() - copy version file @n into the index.  Holds mut. */
int layer_up_file(struct layer_stack *st, struct layer_node *n);

/* --- perm.c ------------------------------------------------------------- */

bool layer_cred_in_group(const struct layer_cred *c, gid_t gid);

/*
 * layer_may_delete() - may @c remove or rename away an entry with
 * attributes @vst from directory @dst (write and search, sticky rule)?
 * Return: 0, -EACCES, -EPERM.
 */
int layer_may_delete(
    const struct layer_cred *c, const struct stat *dst, const struct stat *vst);

/* --- walk.c ------------------------------------------------------------- */

/* layer_path_join() - "dir/name" ("name" when @dir is ""); owned. */
char *layer_path_join(const char *dir, const char *name);

/*
 * layer_dir_names() - the names a merged directory lists, without "."
 * and "..": *@names owned (free with layer_names_free()).
 */
int layer_dir_names(
    struct layer_stack *st, struct layer_node *dir, char ***names, size_t *n);
void layer_names_free(char **names, size_t n);

/* A growing list of names (owned strings). */
struct layer_names {
	char **v;
	size_t n, cap;
};

/* layer_names_add() - append a copy of @name.  Return: 0 or -ENOMEM. */
int layer_names_add(struct layer_names *l, const char *name);

/* One entry as getdents64(2) returns it. */
struct layer_dent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

#endif
