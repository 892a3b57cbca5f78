#ifndef PNB_LAYER_LAYER_H
#define PNB_LAYER_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/*
 * A merged view of a client layer over image version layers, in the
 * kernel overlayfs format with userxattr (docs/fleet.md, "Layer format"
 * and "Merge semantics"), served from user space.
 *
 * A stack is opened once from directories on one file system: the
 * client layer (writable, or absent for a read-only view of versions),
 * its index directory (copies of version files the client changed,
 * named by the version inode, and the stack's temporaries), and up to
 * LAYER_VERSIONS_MAX version layers, top first.  A node is one merged
 * object: its identity (kind and inode number, which is the NFS fileid),
 * its type, and the descriptors of its instances in the layers.
 *
 * Identity: every call runs with the thread's own identity, which must
 * be the server's (fsuid 0 with CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER,
 * CAP_FSETID, CAP_MKNOD, CAP_DAC_READ_SEARCH).  The caller named by a
 * struct layer_cred is checked by the library itself, from the merged
 * attributes (layer_may()), and new objects get that caller as owner.
 * A NULL cred is the server itself: no checks (provisioning, TFTP).
 *
 * Threads: any number of threads may use one stack at once; changes to
 * the layers are serialised by the stack.  A node belongs to the thread
 * that holds it.  Names from clients are checked here: no '/', not
 * empty, at most LAYER_NAME_MAX bytes, and "." and ".." only where a
 * lookup allows them.
 *
 * Errors are -errno: -ENOENT, -EEXIST, -ENOTDIR, -EISDIR, -ENOTEMPTY,
 * -EACCES and -EPERM (the caller may not), -EXDEV (a directory with
 * version content cannot be renamed), -ESTALE (a handle whose object is
 * gone, or not in this stack), -EROFS (read-only stack), -EINVAL,
 * -ENAMETOOLONG, or what the file system said.
 */

#define LAYER_VERSIONS_MAX 15
#define LAYER_NAME_MAX     255
#define LAYER_FH_MAX       40 /* kernel handle bytes a layer_fh carries */

enum layer_kind {
	LAYER_KIND_CLIENT = 1,  /* made by the client: its own inode */
	LAYER_KIND_VERSION = 2, /* from a version: the version's inode */
};

/* Who asks (NFS AUTH_SYS, already squashed by the export's rules). */
struct layer_cred {
	uint32_t uid, gid;
	uint32_t ngroups;
	uint32_t groups[16];
};

struct layer_stack_conf {
	int atfd;           /* the paths are relative to it; AT_FDCWD is fine */
	const char *client; /* client layer directory, or NULL */
	const char *index;  /* its index directory (with client only) */
	const char *versions[LAYER_VERSIONS_MAX]; /* top first */
	size_t nversions;
	bool read_only; /* refuse every change with -EROFS */
	bool nosync;    /* tests: no fsync of copies (no power-loss safety) */
};

/* What layer_stack_open() found in the index, for the caller's log. */
struct layer_open_report {
	size_t copies;  /* version files the client changed */
	size_t counts;  /* version files with hidden names, no copy */
	size_t temps;   /* temporaries of an interrupted change, removed */
	size_t unknown; /* index entries that are not ours, left alone */
};

struct layer_stack;

/*
 * A merged object.  Callers read kind, ino and type; the rest is the
 * library's.  Returned owned by lookups; free with layer_node_free().
 */
struct layer_node {
	enum layer_kind kind;
	uint64_t ino; /* identity inode: the NFS fileid */
	mode_t type;  /* S_IFREG, S_IFDIR, S_IFLNK, ... */
	/* private */
	int fd;  /* non-dirs: O_PATH of the data (the copy if any) */
	int vfd; /* version non-dirs: O_PATH of the version file (may be fd) */
	int dirs[1 + LAYER_VERSIONS_MAX]; /* dirs: [0] client, [1..] versions */
	uint8_t dflags[1 + LAYER_VERSIONS_MAX];
	char *path; /* dirs: relative to the layer roots, "" for the root */
};

/*
 * A handle of a node: its kind and the kernel handle of its identity
 * inode (name_to_handle_at(2)), which survives restarts.  The NFS server
 * seals it (export id, SipHash tag keyed with layer_stack_verifier() too)
 * and must pass back to layer_fh_open() only handles it sealed for a
 * stack with the same verifier: the library cannot tell in which layer a
 * non-directory inode lives.
 */
struct layer_fh {
	uint8_t kind; /* enum layer_kind */
	uint8_t len;  /* bytes in h, <= LAYER_FH_MAX */
	int32_t type; /* kernel handle type */
	uint8_t h[LAYER_FH_MAX];
};

/*
 * layer_stack_open() - open the layer directories of @c (borrowed), check
 * they are directories on one file system, load the map of copied inodes
 * and, unless @c is read-only, remove the temporaries of an interrupted
 * change from the index.  A client layer has one writer at a time (the
 * server that serves it); other programs open it read-only meanwhile.
 * @rep: what was found; may be NULL.
 * Return: 0 and *@out owned (free with layer_stack_close()), -EINVAL
 * (bad configuration), -EXDEV (layers on different file systems),
 * -ENOTDIR, or -errno from opening them.
 */
int layer_stack_open(const struct layer_stack_conf *c, struct layer_stack **out,
    struct layer_open_report *rep);

/* layer_stack_close() - close @st (NULL does nothing); nodes go first. */
void layer_stack_close(struct layer_stack *st);

/*
 * layer_stack_verifier() - 8 bytes that change when the stack's layers
 * change (another version, a reset client layer) and only then: the
 * READDIR cookie verifier, and a key for sealing handles.
 */
void layer_stack_verifier(const struct layer_stack *st, uint8_t out[8]);

/*
 * layer_stack_set_hook() - call @fn(@arg, step) before every change the
 * library makes to a layer; a non-zero return fails that step with -EIO.
 * The fault seam of the crash tests; NULL removes it.
 */
void layer_stack_set_hook(
    struct layer_stack *st, int (*fn)(void *arg, const char *step), void *arg);

/* layer_root() - the merged root.  Return: 0 or -errno; *@out owned. */
int layer_root(struct layer_stack *st, struct layer_node **out);

/*
 * layer_lookup() - @name in directory @dir (borrowed); "." is @dir, ".."
 * its parent (the root's is the root).  @c needs search permission.
 * Return: 0 and *@out owned, -ENOENT, -ENOTDIR, -EACCES, -errno.
 */
int layer_lookup(struct layer_stack *st, const struct layer_cred *c,
    struct layer_node *dir, const char *name, struct layer_node **out);

/*
 * layer_lookup_attr() - layer_lookup() as the server, and the merged
 * attributes of what it found (as layer_getattr() gives them) from the
 * lookup's own stat: one system call less per name, for listings with
 * attributes (NFS READDIRPLUS).
 * Return: as layer_lookup(); *@attr is set on success.
 */
int layer_lookup_attr(struct layer_stack *st, struct layer_node *dir,
    const char *name, struct layer_node **out, struct stat *attr);

/*
 * layer_lookup_path() - a relative path of names from the root, as the
 * server ("boot/cmdline.txt"); symlinks are not followed, "." and ".."
 * are refused.  Return: as layer_lookup().
 */
int layer_lookup_path(
    struct layer_stack *st, const char *path, struct layer_node **out);

/* layer_node_free() - free @n and close its descriptors; NULL is fine. */
void layer_node_free(struct layer_node *n);

/*
 * layer_node_fh() - the handle of @n (borrowed) into @out.
 * Return: 0, -EOVERFLOW (the file system's handle is over LAYER_FH_MAX),
 * -ESTALE, -errno.
 */
int layer_node_fh(
    struct layer_stack *st, const struct layer_node *n, struct layer_fh *out);

/*
 * layer_fh_open() - the node a handle names.  A version file resolves to
 * the client's copy once there is one; a directory only while its path
 * is still visible in the merged tree.
 * Return: 0 and *@out owned, -ESTALE (removed, hidden, or not ours),
 * -EINVAL (malformed), -errno.
 */
int layer_fh_open(
    struct layer_stack *st, const struct layer_fh *fh, struct layer_node **out);

/*
 * layer_getattr() - the merged attributes: st_ino is the identity inode,
 * st_nlink is 1 for a directory with version content and the merged link
 * count for files; the rest comes from the top instance.
 */
int layer_getattr(
    struct layer_stack *st, const struct layer_node *n, struct stat *out);

/*
 * layer_open_data() - a descriptor to read (@flags O_RDONLY) or write
 * (O_WRONLY, O_RDWR) a regular file's data.  Writing copies a version
 * file up first; @c needs read or write permission (the owner may always
 * write, as knfsd allows); a write by another than root clears setuid
 * and setgid as the kernel would.  Version files are read with
 * O_NOATIME: versions never change, access times included.
 * Return: an owned fd, -EISDIR, -EINVAL (not a regular file), -EACCES,
 * -EROFS, -errno.
 */
int layer_open_data(struct layer_stack *st, const struct layer_cred *c,
    struct layer_node *n, int flags);

/*
 * layer_readlink() - a symlink's target into @buf (@cap bytes, not
 * NUL-terminated).  Return: its length, -EINVAL (not a symlink), -errno.
 */
ssize_t layer_readlink(
    struct layer_stack *st, const struct layer_node *n, char *buf, size_t cap);

/*
 * One entry of a merged listing.  @cookie is the position after it.
 * Cookies (64 bits): 0 is the start.  Bit 63 clear: a position in the
 * client layer's directory, as the file system gave it (d_off, 63 bits
 * on ext4, xfs, btrfs and tmpfs).  Bit 63 set: bits 59..62 name a
 * version layer (15: "." and ".."), bits 0..58 count the entries read
 * from that layer's directory.  Versions never change, so their counts
 * stay valid; client positions are the file system's own.  Cookies stay
 * valid while layer_stack_verifier() does.
 */
struct layer_dirent {
	const char *name; /* borrowed, valid during the callback */
	size_t namelen;
	uint64_t ino;       /* identity inode */
	unsigned char type; /* DT_REG, DT_DIR, ... */
	uint64_t cookie;
};

/*
 * layer_readdir() - list @dir from @cookie: ".", "..", the client
 * layer's entries (whiteouts left out), then each version layer's
 * entries not seen or whited out above.  @fn returns 0 to take the entry
 * and go on, or 1 to stop without taking it.  @c needs read permission.
 * Return: 1 at the end of the listing, 0 when @fn stopped, -EINVAL
 * (a cookie that is not a position of this directory), -errno.
 */
int layer_readdir(struct layer_stack *st, const struct layer_cred *c,
    struct layer_node *dir, uint64_t cookie,
    int (*fn)(void *arg, const struct layer_dirent *e), void *arg);

/* What to create. */
struct layer_new {
	mode_t type;        /* S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, ... */
	mode_t mode;        /* 07777 bits */
	dev_t rdev;         /* S_IFCHR, S_IFBLK */
	const char *target; /* S_IFLNK: borrowed */
	bool set_times;     /* atime and mtime below (EXCLUSIVE create) */
	struct timespec atime, mtime;
};

/*
 * layer_create() - make @name in @dir as @c, who needs write and search
 * permission on @dir.  The object appears whole (owner, mode, times) in
 * one rename; a whiteout at the name is replaced, and a directory made
 * over one is opaque.  Only root makes device nodes; nobody makes a 0/0
 * character device (-EPERM: that is the whiteout marker).
 * Return: 0 and *@out owned (may be NULL), -EEXIST, -EPERM, -errno.
 */
int layer_create(struct layer_stack *st, const struct layer_cred *c,
    struct layer_node *dir, const char *name, const struct layer_new *nw,
    struct layer_node **out);

/*
 * layer_unlink() - remove non-directory @name; layer_rmdir() an empty
 * merged directory.  A name a version holds is whited out.
 * Return: 0, -ENOENT, -EISDIR / -ENOTDIR, -ENOTEMPTY, -EACCES, -EPERM
 * (sticky directory), -errno.
 */
int layer_unlink(struct layer_stack *st, const struct layer_cred *c,
    struct layer_node *dir, const char *name);
int layer_rmdir(struct layer_stack *st, const struct layer_cred *c,
    struct layer_node *dir, const char *name);

/*
 * layer_rename() - rename(2) in the merged tree.  A version file is
 * copied up, linked under the new name and whited out under the old in
 * one renameat2(RENAME_WHITEOUT); a directory with version content gives
 * -EXDEV (as overlayfs without redirect_dir; mv then copies); a client
 * directory that replaces a version directory is made opaque.
 */
int layer_rename(struct layer_stack *st, const struct layer_cred *c,
    struct layer_node *sdir, const char *sname, struct layer_node *tdir,
    const char *tname);

/* layer_link() - a new name for non-directory @n (copied up first). */
int layer_link(struct layer_stack *st, const struct layer_cred *c,
    struct layer_node *n, struct layer_node *dir, const char *name);

/* What to change; times use UTIME_NOW and UTIME_OMIT as utimensat(2). */
struct layer_sattr {
	bool set_size, set_uid, set_gid, set_mode;
	uint64_t size;
	uint32_t uid, gid;
	mode_t mode;
	struct timespec atime, mtime;
};

/*
 * layer_setattr() - chmod, chown, truncate and utimes with the kernel's
 * rules for @c; a version file is copied up first, a version directory
 * gets its client-layer copy.
 */
int layer_setattr(struct layer_stack *st, const struct layer_cred *c,
    struct layer_node *n, const struct layer_sattr *sa);

/*
 * layer_copy_up() - give @n its client-layer instance now (a file's copy
 * in the index, a directory's copy in the client layer).  Return: 0,
 * -EROFS, -errno.
 */
int layer_copy_up(struct layer_stack *st, struct layer_node *n);

enum {
	LAYER_MAY_EXEC = 1,
	LAYER_MAY_WRITE = 2,
	LAYER_MAY_READ = 4,
};

/*
 * layer_may() - may @c (NULL: the server) do @mask on an object with
 * attributes @st, judged from the mode bits as the kernel does without
 * ACLs (root may read and write anything, and execute what anyone may).
 */
bool layer_may(const struct layer_cred *c, const struct stat *st, int mask);

/* --- whole trees: for programs working on a stack at rest ------------- */

#define LAYER_WALK_DEPTH 256 /* deeper directories: -ELOOP */
#define LAYER_WALK_SKIP  1   /* from enter(): do not enter this directory */

/* An object a walk visits; everything is borrowed for the call. */
struct layer_walk_ent {
	const char *path; /* from the root: "etc/hosts"; "" is the root */
	const char *name; /* its last name ("" for the root) */
	struct layer_node *node;
	unsigned depth; /* 0 for where the walk started */
};

struct layer_walk_ops {
	/*
	 * Every object, a directory before what it holds.  Return 0 to go
	 * on, LAYER_WALK_SKIP to leave a directory's content out, or a
	 * negative code to stop the walk with it.
	 */
	int (*enter)(void *arg, const struct layer_walk_ent *e);
	/* A directory after what it holds (NULL: nothing to do). */
	int (*leave)(void *arg, const struct layer_walk_ent *e);
};

/*
 * layer_walk() - visit the merged tree from @path ("" for the root; as
 * layer_lookup_path()) depth first, as the server, in listing order.
 * Objects removed while the walk runs are left out.
 * Return: 0, a callback's negative code, -ELOOP (deeper than
 * LAYER_WALK_DEPTH), -errno.
 */
int layer_walk(struct layer_stack *st, const char *path,
    const struct layer_walk_ops *ops, void *arg);

/*
 * layer_node_instance() - the object on disk that shows for @n: for a
 * non-directory the file holding its data and attributes (the client's
 * copy in the index, a client-layer file, or the version's file), for a
 * directory its top instance.
 * @client: set to whether that object is the client's (its layer or its
 * index: it changes) rather than a version's (it never does); may be NULL.
 * Return: an owned fd (O_PATH for a non-directory, O_RDONLY for a
 * directory), or -errno.
 */
int layer_node_instance(
    struct layer_stack *st, const struct layer_node *n, bool *client);

/*
 * layer_node_copy_meta() - give the object open at @fd (O_PATH is fine)
 * the owner, mode, extended attributes and, with @times, the access and
 * modification times of @n's top instance.  The layer format's markers
 * (*.overlay.*) and user.pnb.* are not copied.
 * Return: 0 or -errno.
 */
int layer_node_copy_meta(
    struct layer_stack *st, const struct layer_node *n, int fd, bool times);

/* --- changes: diffs, comparisons, conflicts ----------------------------- */

/* A change at a path; everything is borrowed for the call. */
struct layer_change {
	const char *path; /* from the root, as layer_walk() */
	char kind;        /* 'A' added, 'M' modified, 'D' deleted */
	mode_t type;      /* S_IFMT of the object now ('D': of what went) */
	mode_t old_type;  /* S_IFMT of what was there before ('A': 0) */
};

#define LAYER_SAME_TIMES 1 /* layer_same_object(): mtime counts too */

/*
 * layer_same_object() - do the objects open at @a and @b (O_PATH is
 * fine) look the same: type, mode, owner, size, data, symlink target,
 * device number and extended attributes (the layer's markers and
 * user.pnb.* left out), and with LAYER_SAME_TIMES the modification time
 * (not for directories, whose times follow their entries).
 * Return: 1 the same, 0 not, -errno.
 */
int layer_same_object(int a, int b, unsigned flags);

/*
 * layer_diff() - what the client layer of @st changed against the
 * versions under it, each path once, in no particular order: objects it
 * made where the versions show nothing ('A', with everything inside a
 * new directory), objects it replaced or changed ('M': data, owner,
 * mode, mtime, attributes or type; a copy still the same as its
 * version file is no change, nor a directory the client only made its
 * own copy of), and names it removed ('D': a removed directory alone,
 * not what it held; the names an opaque directory hides, one by one).
 * Reads the index for files changed in place and finds their paths by
 * reading the version layers' directories.
 * Return: 0, a negative return of @fn (which stops it), -EINVAL (no
 * client layer), -errno.
 */
int layer_diff(struct layer_stack *st,
    int (*fn)(void *arg, const struct layer_change *c), void *arg);

/*
 * layer_compare() - what the merged tree of @b changed against that of
 * @a (read-only stacks: two versions, usually of one image), each path
 * once: 'A' only in @b, 'D' only in @a (a directory alone), 'M' changed
 * (as layer_diff()).  Directories that merge the same instances on both
 * sides are the same down to the last file and are not read, so two
 * versions of one chain compare in the time of their deltas.
 * Return: 0, a negative return of @fn, -errno.
 */
int layer_compare(struct layer_stack *a, struct layer_stack *b,
    int (*fn)(void *arg, const struct layer_change *c), void *arg);

/*
 * layer_path_cmp() - the order of paths in which everything a directory
 * holds comes right after it ("a", "a/b", "a-b"), for sorting the
 * arrays layer_conflicts() takes.  Pure.
 */
int layer_path_cmp(const char *a, const char *b);

/* A list of changes kept (layer_changes_add()). */
struct layer_changes {
	struct layer_change *v; /* owned, with their paths */
	size_t n, cap;
};

/*
 * layer_changes_add() - a callback for layer_diff() and layer_compare()
 * that keeps a copy of each change in the struct layer_changes @arg.
 * Return: 0 or -ENOMEM.
 */
int layer_changes_add(void *arg, const struct layer_change *c);

/* layer_changes_sort() - into layer_path_cmp() order. */
void layer_changes_sort(struct layer_changes *l);

/* layer_changes_fini() - free the list's memory. */
void layer_changes_fini(struct layer_changes *l);

/*
 * layer_conflicts() - the changes of @client (a client's, against its
 * version) that meet a change of @version (from the client's version to
 * another): at the same path, at a directory above that the version
 * replaced or removed, or, unless the client changed only a directory's
 * own attributes, anywhere below.  Both arrays sorted by
 * layer_path_cmp().  @fn (may be NULL) gets each such client change and
 * one version change it meets.  Pure.
 * Return: the number of conflicting client changes, or a negative
 * return of @fn.
 */
int layer_conflicts(const struct layer_change *client, size_t nc,
    const struct layer_change *version, size_t nv,
    int (*fn)(
	void *arg, const struct layer_change *c, const struct layer_change *v),
    void *arg);

/* --- client layers made anew: resets and moves ---------------------------- */

/*
 * layer_adopt() - make the non-directory open at @fd (O_PATH is fine; a
 * client object of another stack on this file system, about to be
 * thrown away with its layer) @name in @dir, linked, not copied.  The
 * name must be free.  Return: 0, -EEXIST, -EISDIR, -EXDEV (another file
 * system), -EPERM (a whiteout), -errno.
 */
int layer_adopt(
    struct layer_stack *st, struct layer_node *dir, const char *name, int fd);

/*
 * layer_apply_tree() - put the objects of @src (a directory fd: a tree
 * in the layer format, such as a client's identity files) into the
 * merged tree of @st, as the server: each non-directory replaces what
 * shows at its path (as a copy: @src stays apart from the layer), each
 * whiteout removes what shows there (a directory with all it holds), a
 * directory is made where none shows (with @src's attributes) and
 * entered.  @skip (may be NULL) is asked first for each path and
 * returns true to leave it, and what is below it, alone.
 * Return: 0 or -errno.
 */
int layer_apply_tree(struct layer_stack *st, int src,
    bool (*skip)(void *arg, const char *path), void *arg);

/*
 * layer_sync_path() - make @path in the merged tree of @dst what it is
 * in @src's (both stacks on one file system; @src only read): removed
 * when @src has nothing there, else the same objects, recursively, with
 * the directories above made as @src has them.  Version files both
 * sides show are left alone, the client's own objects of @src are
 * linked (layer_adopt(): @src's layer is about to be thrown away), a
 * version's that @dst does not show are copied.
 * Return: 0 or -errno.
 */
int layer_sync_path(
    struct layer_stack *dst, struct layer_stack *src, const char *path);

/*
 * layer_change_is_identity() - is change @c of @st's client layer (from
 * layer_diff()) the client's identity as it was made: the object at its
 * path the same as in the identity tree @id (layer format; owner, mode,
 * data, attributes, not times), removed where @id has a whiteout, or a
 * directory added where @id made one?  Such a change is no change of the
 * client's own when it moves.
 * Return: 1, 0 (not, or @id < 0), -errno.
 */
int layer_change_is_identity(
    struct layer_stack *st, int id, const struct layer_change *c);

struct layer_rebase_report {
	size_t changes;          /* client changes carried across */
	size_t identity_renewed; /* identity files of the new version put in */
	size_t identity_kept;    /* identity paths the client had changed */
};

/*
 * layer_rebase() - make the empty client layer of @dst (over the new
 * version) what the client layer of @src (over its old version; only
 * read) becomes when it moves (docs/fleet.md, Rebase): every change the
 * client made (layer_diff()) is made again over the new version, its
 * own objects linked, not copied; files it never touched show the new
 * version.  @id_old and @id_new are the client's identity trees (layer
 * format, as layer_apply_tree() takes) made for the old and the new
 * version, or -1: an identity file the client did not change since it
 * was made is not carried across, and the new version's identity files
 * are put in wherever the client did not change the path.
 * The caller builds @dst beside the old layer and swaps the two.
 * Return: 0 or -errno; @rep (may be NULL) says what was done.
 */
int layer_rebase(struct layer_stack *dst, struct layer_stack *src, int id_old,
    int id_new, struct layer_rebase_report *rep);

#endif
