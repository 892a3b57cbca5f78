#ifndef PNB_SERVER_NFS_OPS_INTERNAL_H
#define PNB_SERVER_NFS_OPS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "proto/nfs3/nfs3.h"
#include "server/nfs/fs.h"
#include "server/nfs/ops.h"

/*
 * What the two halves of the NFS procedures share; not for callers.
 * ops.c has the call entry, the procedures that read and what every
 * procedure uses; ops_change.c the procedures that change the tree.
 */

/* One call in progress on a worker thread. */
struct nfs_req {
	struct nfs_exports *ex;
	const struct nfs_export_table *t; /* referenced for the whole call */
	const struct nfs_op_ctx *ctx;
	struct nfs3_args args;
	struct nfs3_res res;
	struct rpc_auth_sys cred; /* as the call carries it */
	struct nfs_call call;     /* what the backend sees, cred mapped */
	bool mapped;              /* call.cred is set (first handle) */
	struct wcur *w; /* the reply, positioned after the RPC header */
	void *scratch;  /* owned; freed after the reply is built */
	void *scratch2;
};

/* --- ops.c --------------------------------------------------------------- */

/* nfs_getattr_obj() - @o's attributes through its backend. */
int nfs_getattr_obj(
    struct nfs_req *q, const struct nfs_obj *o, struct stat *st);

/* nfs_post() - post-op attributes of @o (absent when they fail). */
void nfs_post(
    struct nfs_req *q, const struct nfs_obj *o, struct nfs3_post_attr *p);

/*
 * nfs_wcc_before() - the pre-op part of @o's wcc data, and the
 * attributes it came from in *@out (may be NULL).  Return: 0, or -1
 * when they cannot be read.
 */
int nfs_wcc_before(struct nfs_req *q, const struct nfs_obj *o,
    struct nfs3_wcc *w, struct stat *out);

/* nfs_obj_init() - an object of @e that holds nothing yet. */
void nfs_obj_init(struct nfs_obj *o, struct nfs_export *e);

/* nfs_obj_close() - release @o; one that resolved nothing is fine. */
void nfs_obj_close(struct nfs_obj *o);

/*
 * nfs_resolve() - @fh into @o, checked against the caller's address and
 * port; nfs_resolve_dir() also wants a directory.
 * Return: 0, or -1 with the result status set and @o holding nothing.
 */
int nfs_resolve(struct nfs_req *q, const struct nfs3_fh *fh, struct nfs_obj *o);
int nfs_resolve_dir(
    struct nfs_req *q, const struct nfs3_fh *fh, struct nfs_obj *o);

/* nfs_name_check() - NFS3_OK or NFS3ERR_ACCES (empty, or with '/'). */
uint32_t nfs_name_check(const char *name);

/* nfs_is_dot() - "." or "..". */
bool nfs_is_dot(const char *name);

/* nfs_obj_res() - the handle and attributes of @o into the result. */
void nfs_obj_res(struct nfs_req *q, const struct nfs_obj *o);

/* nfs_check_ro() - 0, or -1 with NFS3ERR_ROFS for a read-only export. */
int nfs_check_ro(struct nfs_req *q, const struct nfs_export *e);

/* nfs_data_type() - NFS3_OK for a regular file, else ISDIR or INVAL. */
uint32_t nfs_data_type(const struct stat *st);

/* --- ops_change.c -------------------------------------------------------- */

void nfs_proc_setattr(struct nfs_req *q);
void nfs_proc_write(struct nfs_req *q);
void nfs_proc_create(struct nfs_req *q);
void nfs_proc_mkdir(struct nfs_req *q);
void nfs_proc_symlink(struct nfs_req *q);
void nfs_proc_mknod(struct nfs_req *q);
void nfs_proc_remove(struct nfs_req *q);
void nfs_proc_rmdir(struct nfs_req *q);
void nfs_proc_rename(struct nfs_req *q);
void nfs_proc_link(struct nfs_req *q);
void nfs_proc_commit(struct nfs_req *q);

#endif
