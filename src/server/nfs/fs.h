#ifndef PNB_SERVER_NFS_FS_H
#define PNB_SERVER_NFS_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>

#include "proto/nfs3/nfs3.h"
#include "proto/rpc/rpc.h"
#include "server/nfs/export.h"

/*
 * The file systems under the NFS procedures.  ops.c decodes a call,
 * checks its handles, names and export, fills in the attributes and wcc
 * data RFC 1813 asks for, and does every file-system step through the
 * export's backend, a table of the calls below:
 *
 *   fs_plain.c   a directory on this machine: lookups with openat2
 *                (RESOLVE_BENEATH), kernel handles, and each call acting
 *                as the caller through the worker thread's fsuid/fsgid;
 *   fs_layer.c   a client layer merged over image versions (src/layer):
 *                the library checks the caller itself and acts as the
 *                server, so no fsuid switch.
 *
 * Every call runs on one worker thread; an object belongs to the call
 * that resolved it.  Functions return 0 (or a count) or -errno; the
 * caller maps errno to nfsstat3 in one place (nfs_errno_stat()).
 */

/* The caller, as the export maps it (nfs_map_id()). */
struct nfs_cred {
	uint32_t uid, gid;
	uint32_t ngids;
	uint32_t gids[RPC_AUTH_SYS_NGIDS];
};

/* One call's state, shared by ops.c and the backend. */
struct nfs_call {
	const struct nfs_exports *ex; /* handle key, verifiers */
	struct nfs_cred cred;
	bool switched; /* fs_plain.c: this thread acts as cred */
};

/* An object a handle or a name resolved to. */
struct nfs_obj {
	struct nfs_export *e;    /* borrowed from the call's table */
	int fd;                  /* fs_plain.c: O_PATH, owned; else -1 */
	struct layer_node *node; /* fs_layer.c: owned; else NULL */
	mode_t type; /* S_IFMT bits when the backend knew them for free */
};

/* One entry of a listing; @name is valid during the callback only. */
struct nfs_fs_dirent {
	const char *name;
	size_t namelen;
	uint64_t fileid;
	uint64_t cookie; /* the position after this entry */
};

/* What CREATE, MKDIR, SYMLINK and MKNOD make. */
struct nfs_new {
	mode_t type;         /* S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, ... */
	uint32_t how;        /* S_IFREG: NFS3_UNCHECKED, _GUARDED, _EXCLUSIVE */
	const uint8_t *verf; /* NFS3_EXCLUSIVE's verifier */
	const struct nfs3_sattr *sattr; /* mode, owner, size asked for */
	const char *target;             /* S_IFLNK */
	dev_t rdev;                     /* S_IFCHR, S_IFBLK */
};

struct nfs_fs {
	/*
	 * open() - the object kernel handle @k names in @o->e (set by the
	 * caller, whose tag check @k passed).  Return: 0 or -ESTALE, -errno.
	 */
	int (*open)(
	    struct nfs_call *c, const struct nfs_fh_key *k, struct nfs_obj *o);
	/* close() - release what @o holds (not @o itself). */
	void (*close)(struct nfs_obj *o);
	/* handle() - the sealed NFS handle of @o. */
	int (*handle)(
	    struct nfs_call *c, const struct nfs_obj *o, struct nfs3_fh *out);
	/* getattr() - attributes; st_ino is the fileid. */
	int (*getattr)(
	    struct nfs_call *c, const struct nfs_obj *o, struct stat *out);
	/*
	 * lookup() - @name ("." and ".." too; ".." of the root is the root)
	 * in directory @dir, as the caller.
	 */
	int (*lookup)(struct nfs_call *c, struct nfs_obj *dir, const char *name,
	    struct nfs_obj *out);
	/*
	 * entry() - an entry of a READDIRPLUS listing, whose caller may read
	 * @dir already: looked up as the server, with its attributes, both
	 * from one resolution (a rename in between must not pair one
	 * object's handle with another's attributes), as cheaply as the
	 * backend can.
	 */
	int (*entry)(struct nfs_call *c, struct nfs_obj *dir, const char *name,
	    struct nfs_obj *out, struct stat *attr);
	/*
	 * open_data() - a descriptor of regular file @o for reading
	 * (O_RDONLY) or writing (O_WRONLY): owned, or -errno.  The caller
	 * checked that @o is a regular file.
	 */
	int (*open_data)(struct nfs_call *c, struct nfs_obj *o, int flags);
	/*
	 * open_sync() - a descriptor of regular file @o to make its data
	 * stable (COMMIT), opened as the server whatever the mode bits,
	 * since syncing is harmless: owned, or -errno.
	 */
	int (*open_sync)(struct nfs_call *c, struct nfs_obj *o);
	/* readlink() - the target into @buf: its length or -errno. */
	ssize_t (*readlink)(
	    struct nfs_call *c, struct nfs_obj *o, char *buf, size_t cap);
	/*
	 * readdir() - list @dir from @cookie, calling @fn until it returns
	 * non-zero (1: stop, the entry not taken).
	 * Return: 1 at the end of the listing, 0 when @fn stopped, -EINVAL
	 * for a cookie that is no position of @dir, -errno.
	 */
	int (*readdir)(struct nfs_call *c, struct nfs_obj *dir, uint64_t cookie,
	    int (*fn)(void *arg, const struct nfs_fs_dirent *d), void *arg);
	/* cookie_verf() - the READDIR cookie verifier of @dir. */
	void (*cookie_verf)(struct nfs_call *c, const struct nfs_obj *dir,
	    uint8_t out[NFS3_VERF_SIZE]);
	/*
	 * create() - make @name in @dir as @nw says, with the attributes
	 * asked for; *@out the new object (or the file CREATE UNCHECKED or
	 * EXCLUSIVE found there).  On failure @out holds nothing.
	 */
	int (*create)(struct nfs_call *c, struct nfs_obj *dir, const char *name,
	    const struct nfs_new *nw, struct nfs_obj *out);
	/* remove() - unlink @name, or rmdir it when @isdir. */
	int (*remove)(struct nfs_call *c, struct nfs_obj *dir, const char *name,
	    bool isdir);
	int (*rename)(struct nfs_call *c, struct nfs_obj *from,
	    const char *fname, struct nfs_obj *to, const char *tname);
	int (*link)(struct nfs_call *c, struct nfs_obj *o, struct nfs_obj *dir,
	    const char *name);
	/* setattr() - apply @s; @cur: @o's attributes before. */
	int (*setattr)(struct nfs_call *c, struct nfs_obj *o,
	    const struct stat *cur, const struct nfs3_sattr *s);
	int (*statfs)(
	    struct nfs_call *c, struct nfs_obj *o, struct statfs *out);
	/*
	 * mount() - the handle of directory @rest ("" for the root) below
	 * export @e, for MOUNT on the loop thread, as the server.
	 */
	int (*mount)(const struct nfs_exports *ex, struct nfs_export *e,
	    const char *rest, struct nfs3_fh *out);
};

/* The backend of directories on this machine (fs_plain.c). */
extern const struct nfs_fs nfs_fs_plain;

/* The backend of layered trees (fs_layer.c). */
extern const struct nfs_fs nfs_fs_layer;

/*
 * nfs_creds_leave() - fs_plain.c: back to the server's own identity if
 * @c switched away from it.  ops.c calls it after every call, so no
 * worker keeps a caller's identity into the next call.
 */
void nfs_creds_leave(struct nfs_call *c);

#endif
