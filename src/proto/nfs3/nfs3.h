#ifndef PNB_PROTO_NFS3_NFS3_H
#define PNB_PROTO_NFS3_NFS3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cur.h"

/*
 * NFS version 3 (RFC 1813): argument decoders and result encoders for all
 * 22 procedures.  Decoders fill caller-owned structs and borrow bulk data
 * (WRITE payload) from the input; every variable-length field has an
 * explicit maximum below.  Encoders write through a wcur and fail with
 * -EMSGSIZE when the output does not fit.
 */

#define NFS3_PROG 100003
#define NFS3_VERS 3

/* RFC 1813 §2.4: NFS3_FHSIZE. */
#define NFS3_FH_MAX 64
/* Longest file name component; Linux and ext4 stop at 255. */
#define NFS3_NAME_MAX 255
/* Longest symlink target; PATH_MAX on Linux. */
#define NFS3_PATH_MAX 4096
/* Largest READ or WRITE payload, matching FSINFO rtmax/wtmax. */
#define NFS3_IO_MAX    (1024 * 1024)
#define NFS3_VERF_SIZE 8

enum nfs3_proc {
	NFS3_PROC_NULL = 0,
	NFS3_PROC_GETATTR = 1,
	NFS3_PROC_SETATTR = 2,
	NFS3_PROC_LOOKUP = 3,
	NFS3_PROC_ACCESS = 4,
	NFS3_PROC_READLINK = 5,
	NFS3_PROC_READ = 6,
	NFS3_PROC_WRITE = 7,
	NFS3_PROC_CREATE = 8,
	NFS3_PROC_MKDIR = 9,
	NFS3_PROC_SYMLINK = 10,
	NFS3_PROC_MKNOD = 11,
	NFS3_PROC_REMOVE = 12,
	NFS3_PROC_RMDIR = 13,
	NFS3_PROC_RENAME = 14,
	NFS3_PROC_LINK = 15,
	NFS3_PROC_READDIR = 16,
	NFS3_PROC_READDIRPLUS = 17,
	NFS3_PROC_FSSTAT = 18,
	NFS3_PROC_FSINFO = 19,
	NFS3_PROC_PATHCONF = 20,
	NFS3_PROC_COMMIT = 21,
	NFS3_NPROC = 22,
};

enum nfs3_stat {
	NFS3_OK = 0,
	NFS3ERR_PERM = 1,
	NFS3ERR_NOENT = 2,
	NFS3ERR_IO = 5,
	NFS3ERR_NXIO = 6,
	NFS3ERR_ACCES = 13,
	NFS3ERR_EXIST = 17,
	NFS3ERR_XDEV = 18,
	NFS3ERR_NODEV = 19,
	NFS3ERR_NOTDIR = 20,
	NFS3ERR_ISDIR = 21,
	NFS3ERR_INVAL = 22,
	NFS3ERR_FBIG = 27,
	NFS3ERR_NOSPC = 28,
	NFS3ERR_ROFS = 30,
	NFS3ERR_MLINK = 31,
	NFS3ERR_NAMETOOLONG = 63,
	NFS3ERR_NOTEMPTY = 66,
	NFS3ERR_DQUOT = 69,
	NFS3ERR_STALE = 70,
	NFS3ERR_REMOTE = 71,
	NFS3ERR_BADHANDLE = 10001,
	NFS3ERR_NOT_SYNC = 10002,
	NFS3ERR_BAD_COOKIE = 10003,
	NFS3ERR_NOTSUPP = 10004,
	NFS3ERR_TOOSMALL = 10005,
	NFS3ERR_SERVERFAULT = 10006,
	NFS3ERR_BADTYPE = 10007,
	NFS3ERR_JUKEBOX = 10008,
};

enum nfs3_ftype {
	NF3REG = 1,
	NF3DIR = 2,
	NF3BLK = 3,
	NF3CHR = 4,
	NF3LNK = 5,
	NF3SOCK = 6,
	NF3FIFO = 7,
};

enum nfs3_access {
	NFS3_ACCESS_READ = 0x01,
	NFS3_ACCESS_LOOKUP = 0x02,
	NFS3_ACCESS_MODIFY = 0x04,
	NFS3_ACCESS_EXTEND = 0x08,
	NFS3_ACCESS_DELETE = 0x10,
	NFS3_ACCESS_EXECUTE = 0x20,
};

enum nfs3_stable {
	NFS3_UNSTABLE = 0,
	NFS3_DATA_SYNC = 1,
	NFS3_FILE_SYNC = 2,
};

enum nfs3_createmode {
	NFS3_UNCHECKED = 0,
	NFS3_GUARDED = 1,
	NFS3_EXCLUSIVE = 2,
};

enum nfs3_time_how {
	NFS3_DONT_CHANGE = 0,
	NFS3_SET_TO_SERVER_TIME = 1,
	NFS3_SET_TO_CLIENT_TIME = 2,
};

/* FSINFO properties (RFC 1813 §3.3.19). */
#define NFS3_FSF_LINK        0x0001
#define NFS3_FSF_SYMLINK     0x0002
#define NFS3_FSF_HOMOGENEOUS 0x0008
#define NFS3_FSF_CANSETTIME  0x0010

struct nfs3_fh {
	uint32_t len;
	uint8_t data[NFS3_FH_MAX];
};

struct nfs3_time {
	uint32_t sec, nsec;
};

struct nfs3_fattr {
	uint32_t type, mode, nlink, uid, gid;
	uint64_t size, used;
	uint32_t rdev_major, rdev_minor;
	uint64_t fsid, fileid;
	struct nfs3_time atime, mtime, ctime;
};

struct nfs3_sattr {
	bool set_mode, set_uid, set_gid, set_size;
	uint32_t mode, uid, gid;
	uint64_t size;
	uint32_t set_atime, set_mtime; /* enum nfs3_time_how */
	struct nfs3_time atime, mtime;
};

struct nfs3_post_attr {
	bool present;
	struct nfs3_fattr a;
};

struct nfs3_wcc_attr {
	uint64_t size;
	struct nfs3_time mtime, ctime;
};

struct nfs3_wcc {
	bool has_before;
	struct nfs3_wcc_attr before;
	struct nfs3_post_attr after;
};

struct nfs3_diropargs {
	struct nfs3_fh dir;
	char name[NFS3_NAME_MAX + 1];
};

/* The decoded arguments of any procedure; which fields count depends on it. */
struct nfs3_args {
	uint32_t proc;
	struct nfs3_fh fh; /* the object, or the directory of READDIR */
	struct nfs3_diropargs
	    where;                /* LOOKUP, CREATE..RMDIR, RENAME from, LINK */
	struct nfs3_diropargs to; /* RENAME to */
	struct nfs3_sattr sattr;
	bool guard_check; /* SETATTR */
	struct nfs3_time guard_ctime;
	uint32_t access;     /* ACCESS */
	uint64_t offset;     /* READ, WRITE, COMMIT */
	uint32_t count;      /* READ, WRITE, COMMIT, READDIR, dircount */
	uint32_t maxcount;   /* READDIRPLUS */
	uint32_t stable;     /* WRITE */
	const uint8_t *data; /* WRITE payload, borrowed */
	size_t data_len;
	uint32_t createmode;          /* CREATE */
	uint8_t verf[NFS3_VERF_SIZE]; /* CREATE EXCLUSIVE, READDIR cookieverf */
	uint64_t cookie;              /* READDIR(PLUS) */
	char path[NFS3_PATH_MAX + 1]; /* SYMLINK target */
	uint32_t ftype;               /* MKNOD */
	uint32_t rdev_major, rdev_minor; /* MKNOD CHR/BLK */
};

/*
 * nfs3_args_parse() - decode the arguments of procedure @proc.
 * @buf: borrowed; out->data borrows from it.
 * Return: 0; -EBADMSG when short, malformed (bad bool or enum, embedded
 * NUL, WRITE count not matching its data, trailing bytes); -EMSGSIZE when
 * a handle, name, path or payload is over its maximum (the server answers
 * NFS3ERR_NAMETOOLONG for names and paths); -EOPNOTSUPP for a procedure
 * number outside 0..21.
 */
int nfs3_args_parse(
    uint32_t proc, const uint8_t *buf, size_t len, struct nfs3_args *out);

/* nfs3_proc_has_name() - does @proc carry a file name or path argument? */
bool nfs3_proc_has_name(uint32_t proc);

/*
 * nfs3_args_build() - encode arguments (the client side, for tests, seeds
 * and the benchmark).  Return: 0 or -EMSGSIZE / -EOPNOTSUPP.
 */
int nfs3_args_build(struct wcur *w, const struct nfs3_args *a);

/* One READDIR(PLUS) entry. */
struct nfs3_dirent {
	uint64_t fileid;
	const char *name; /* borrowed */
	size_t namelen;
	uint64_t cookie;
	struct nfs3_post_attr attr; /* READDIRPLUS */
	bool has_fh;                /* READDIRPLUS */
	struct nfs3_fh fh;
};

struct nfs3_fsstat {
	uint64_t tbytes, fbytes, abytes, tfiles, ffiles, afiles;
	uint32_t invarsec;
};

struct nfs3_fsinfo {
	uint32_t rtmax, rtpref, rtmult, wtmax, wtpref, wtmult, dtpref;
	uint64_t maxfilesize;
	struct nfs3_time time_delta;
	uint32_t properties;
};

struct nfs3_pathconf {
	uint32_t linkmax, name_max;
	bool no_trunc, chown_restricted, case_insensitive, case_preserving;
};

/*
 * The result of any procedure.  Which fields are encoded depends on the
 * procedure and on status, exactly as RFC 1813 §3.3 lays them out:
 *  obj     GETATTR (required when OK), LOOKUP/CREATE.. obj_attributes,
 *          ACCESS, READLINK, READ, LINK file, READDIR(PLUS) dir,
 *          FSSTAT, FSINFO, PATHCONF
 *  dir     LOOKUP dir_attributes
 *  wcc     SETATTR, WRITE, COMMIT, CREATE..MKNOD dir, REMOVE, RMDIR,
 *          RENAME from, LINK linkdir
 *  wcc2    RENAME to
 */
struct nfs3_res {
	uint32_t status;
	struct nfs3_post_attr obj, dir;
	struct nfs3_wcc wcc, wcc2;
	bool has_fh;
	struct nfs3_fh fh;
	uint32_t access;
	const uint8_t *data; /* READ data or READLINK target, borrowed */
	size_t data_len;
	uint32_t count;
	bool eof;
	uint32_t committed;
	uint8_t verf[NFS3_VERF_SIZE]; /* WRITE, COMMIT, READDIR cookieverf */
	const struct nfs3_dirent *entries; /* borrowed, nentries */
	size_t nentries;
	struct nfs3_fsstat fsstat;
	struct nfs3_fsinfo fsinfo;
	struct nfs3_pathconf pathconf;
};

/*
 * nfs3_res_build() - encode the result of @proc.  A READ result with data
 * NULL and data_len > 0 means the data already sits in @w's buffer where
 * the opaque goes (the server reads the file straight into the reply).
 * Return: 0, -EMSGSIZE when it does not fit, -EOPNOTSUPP for a bad @proc.
 */
int nfs3_res_build(uint32_t proc, const struct nfs3_res *r, struct wcur *w);

/*
 * nfs3_res_parse() - decode a result (the client side: tests and the
 * benchmark).  Entries of READDIR(PLUS) go to @ents (at most @cap, names
 * borrowed from @buf); out->nentries says how many.
 * Return: 0, -EBADMSG, -EMSGSIZE (more than @cap entries).
 */
int nfs3_res_parse(uint32_t proc, const uint8_t *buf, size_t len,
    struct nfs3_res *out, struct nfs3_dirent *ents, size_t cap);

/*
 * nfs3_entry_size() - bytes one READDIR (@plus false) or READDIRPLUS entry
 * takes on the wire, and in *@dirbytes the part counted against dircount
 * (fileid, name and cookie).
 */
size_t nfs3_entry_size(
    bool plus, const struct nfs3_dirent *e, size_t *dirbytes);

/* Fixed overheads of READDIR(PLUS) results, for sizing against count. */
#define NFS3_READDIR_HDR (4 + 4 + 84 + 8 + 4 + 4)

#endif
