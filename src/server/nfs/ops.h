#ifndef PNB_SERVER_NFS_OPS_H
#define PNB_SERVER_NFS_OPS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/rpc/rpc.h"
#include "server/nfs/export.h"

/*
 * The NFS v3 procedures: one handler per RFC 1813 procedure behind one
 * dispatch table, errno to nfsstat3 in one place, every file-system step
 * through the export's backend (fs.h: a plain directory, or a layered
 * tree).  Everything here is thread-safe: the worker threads of the NFS
 * service call nfs_ops_call() concurrently.  Unit tests call it directly
 * against temporary directories.
 */

/*
 * READ data to be sent straight from the page cache after the reply
 * (TCP only): @len bytes of @fd (owned by the caller once set, close it)
 * at @off, then @pad zero bytes.
 */
struct nfs_file_tail {
	int fd;
	uint64_t off;
	size_t len, pad;
};

struct nfs_op_ctx {
	struct in_addr peer;
	uint16_t peer_port; /* host order: below 1024 is a reserved port */
	size_t headroom; /* bytes to leave free before the reply (TCP marker) */
	size_t max_reply; /* largest reply the transport can carry */
	/*
	 * When non-NULL, a successful READ leaves its data in the file:
	 * the reply ends at the opaque's length and *tail says what
	 * follows.  tail->fd is -1 when nothing does.
	 */
	struct nfs_file_tail *tail;
	/*
	 * When non-NULL, set to true if the call was refused because its
	 * source port is not reserved, for the caller's (rate-limited) log.
	 */
	bool *port_refused;
};

/*
 * nfs_ops_call() - run one parsed NFS v3 call (@call borrows from the
 * record) and build the whole RPC reply: accepted or denied header, then
 * the results.  Wrong versions get PROG_MISMATCH 3..3, unknown procedures
 * PROC_UNAVAIL, undecodable arguments GARBAGE_ARGS, credentials other than
 * AUTH_NONE and AUTH_SYS an AUTH_ERROR.
 * @status: gets the nfsstat3 of the result (or -1 for an RPC-level error),
 * for counters and logs; may be NULL.
 * Return: owned bytes (free with free()), @ctx->headroom unused bytes
 * first, *@len bytes in total including the headroom; NULL on ENOMEM.
 */
uint8_t *nfs_ops_call(struct nfs_exports *ex, const struct nfs_op_ctx *ctx,
    const struct rpc_call *call, size_t *len, int *status);

/* nfs_errno_stat() - the nfsstat3 for a positive errno value. */
uint32_t nfs_errno_stat(int err);

/* nfs_proc_name() - "GETATTR" etc.; "?" out of range. */
const char *nfs_proc_name(uint32_t proc);

/*
 * nfs_proc_is_idempotent() - may a retransmission of @proc simply run
 * again?  The others go through the duplicate request cache.
 */
bool nfs_proc_is_idempotent(uint32_t proc);

#endif
