#ifndef PNB_PROTO_MOUNT_MNT_H
#define PNB_PROTO_MOUNT_MNT_H

#include <stddef.h>
#include <stdint.h>

#include "core/cur.h"

/* MOUNT protocol version 3 (RFC 1813 appendix I). */

#define MNT_PROG 100005
#define MNT_VERS 3

enum mnt_proc {
	MNT_PROC_NULL = 0,
	MNT_PROC_MNT = 1,
	MNT_PROC_DUMP = 2,
	MNT_PROC_UMNT = 3,
	MNT_PROC_UMNTALL = 4,
	MNT_PROC_EXPORT = 5,
};

/* RFC 1813 §5.1: MNTPATHLEN 1024, MNTNAMLEN 255, FHSIZE3 64. */
#define MNT_PATH_MAX 1024
#define MNT_NAME_MAX 255
#define MNT_FH_MAX   64

enum mnt_stat {
	MNT3_OK = 0,
	MNT3ERR_PERM = 1,
	MNT3ERR_NOENT = 2,
	MNT3ERR_IO = 5,
	MNT3ERR_ACCES = 13,
	MNT3ERR_NOTDIR = 20,
	MNT3ERR_INVAL = 22,
	MNT3ERR_NAMETOOLONG = 63,
	MNT3ERR_NOTSUPP = 10004,
	MNT3ERR_SERVERFAULT = 10006,
};

/*
 * mnt_dirpath_parse() - the argument of MNT and UMNT: dirpath<1024>.
 * @out: at least MNT_PATH_MAX + 1 bytes; NUL-terminated.
 * Return: 0, -EBADMSG (short, trailing bytes, embedded NUL) or -EMSGSIZE
 * (longer than 1024).
 */
int mnt_dirpath_parse(const uint8_t *buf, size_t len, char *out);

/*
 * mnt_mnt_build() - the MNT result.  For MNT3_OK the handle (@fh, @fhlen
 * <= 64 bytes, borrowed) and @nflavors flavors follow.
 * Return: 0 or -EMSGSIZE (output full or @fhlen over 64).
 */
int mnt_mnt_build(struct wcur *w, uint32_t stat, const uint8_t *fh,
    size_t fhlen, const uint32_t *flavors, size_t nflavors);

/*
 * mnt_mnt_parse() - decode an MNT result (tests, seeds).
 * Return: 0 with *@stat set and, for MNT3_OK, @fh filled (64 bytes room).
 */
int mnt_mnt_parse(
    const uint8_t *buf, size_t len, uint32_t *stat, uint8_t *fh, size_t *fhlen);

/* One DUMP row: a client host and the directory it mounted. */
struct mnt_body {
	const char *host; /* borrowed */
	const char *dir;  /* borrowed */
};

/* mnt_dump_build() - mountlist of @n rows; 0 or -EMSGSIZE. */
int mnt_dump_build(struct wcur *w, const struct mnt_body *b, size_t n);

/* One EXPORT row: a directory and the groups (CIDRs) allowed to mount. */
struct mnt_export {
	const char *dir;           /* borrowed */
	const char *const *groups; /* borrowed, ngroups strings */
	size_t ngroups;
};

/* mnt_export_build() - exports list of @n rows; 0 or -EMSGSIZE. */
int mnt_export_build(struct wcur *w, const struct mnt_export *e, size_t n);

#endif
