#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "proto/mount/mnt.h"
#include "server/nfs/fs.h"
#include "server/nfs/nfs.h"

/* MOUNT v3 (RFC 1813 appendix I) on the loop thread. */

static uint32_t
mnt_errno_stat(int err)
{
	switch (err) {
	case ENOENT:
		return MNT3ERR_NOENT;
	case EACCES:
	case EPERM:
	case EXDEV:
	case EINVAL: /* a layered tree's lookup refuses "." and ".." */
		return MNT3ERR_ACCES;
	case ENOTDIR:
		return MNT3ERR_NOTDIR;
	case ENAMETOOLONG:
		return MNT3ERR_NAMETOOLONG;
	default:
		return MNT3ERR_IO;
	}
}

static void
mnt_record(struct nfs_service *n, const char *host, const char *dir)
{
	size_t i;

	for (i = 0; i < n->nmounts; i++) {
		if (strcmp(n->mounts[i].host, host) == 0 &&
		    strcmp(n->mounts[i].dir, dir) == 0) {
			return;
		}
	}
	if (n->nmounts == NFS_MOUNTS_MAX) {
		/* DUMP is advisory (RFC 1813 §5.2.2); drop the oldest. */
		memmove(&n->mounts[0], &n->mounts[1],
		    (NFS_MOUNTS_MAX - 1) * sizeof(n->mounts[0]));
		n->nmounts--;
	}
	snprintf(
	    n->mounts[n->nmounts].host, sizeof(n->mounts[0].host), "%s", host);
	snprintf(
	    n->mounts[n->nmounts].dir, sizeof(n->mounts[0].dir), "%s", dir);
	n->nmounts++;
}

static void
mnt_forget(struct nfs_service *n, const char *host, const char *dir)
{
	size_t i = 0;

	while (i < n->nmounts) {
		if (strcmp(n->mounts[i].host, host) == 0 &&
		    (!dir || strcmp(n->mounts[i].dir, dir) == 0)) {
			n->mounts[i] = n->mounts[--n->nmounts];
		} else {
			i++;
		}
	}
}

static void
mnt_mnt(struct nfs_service *n, struct rpcsrv_req *req, struct wcur *w)
{
	const struct rpc_call *c = &req->call;
	static const uint32_t flavors[] = {RPC_AUTH_SYS};
	const struct nfs_export_table *t;
	char dir[MNT_PATH_MAX + 1], host[INET_ADDRSTRLEN], peer[48];
	char esc[LOG_ESCAPE_MAX];
	struct nfs_export *e;
	struct nfs3_fh fh = {0};
	const char *rest, *why = "";
	uint32_t stat = MNT3_OK;
	int r;

	r = mnt_dirpath_parse(c->args, c->args_len, dir);
	if (r < 0) {
		if (r == -EMSGSIZE) {
			rpc_reply_build(w, c->xid, RPC_SUCCESS, 0, 0);
			mnt_mnt_build(w, MNT3ERR_NAMETOOLONG, NULL, 0, NULL, 0);
		} else {
			rpc_reply_build(w, c->xid, RPC_GARBAGE_ARGS, 0, 0);
		}
		return;
	}
	inet_ntop(AF_INET, &req->peer.sin_addr, host, sizeof(host));
	rpcsrv_peer_str(req, peer, sizeof(peer));
	t = nfs_exports_get(&n->ex);
	e = nfs_export_find_for_mount(t, dir, &rest);
	if (!e) {
		stat = MNT3ERR_NOENT;
	} else if (!nfs_export_allows(e, req->peer.sin_addr)) {
		stat = MNT3ERR_ACCES;
		why = " reason=\"address not allowed\"";
	} else if (!nfs_export_port_ok(e, ntohs(req->peer.sin_port))) {
		/* mountd refuses an "illegal port" with MNT3ERR_ACCES too. */
		stat = MNT3ERR_ACCES;
		why = " reason=\"source port not reserved\" note=\"export "
		      "with insecure to allow it\"";
	} else {
		r = e->fs->mount(&n->ex, e, rest, &fh);
		if (r < 0) {
			stat = r == -EOVERFLOW ? MNT3ERR_NOTSUPP
					       : mnt_errno_stat(-r);
		}
	}
	nfs_exports_put(t);
	serve_note_mount(n->serve, req->peer.sin_addr, dir, stat == MNT3_OK);
	log_escape(esc, dir, strlen(dir));
	if (stat == MNT3_OK) {
		mnt_record(n, host, dir);
		log_info(&n->log, "peer=%s event=mount dir=\"%s\"", peer, esc);
	} else if (log_ratelimit_ok(&n->mount_rl, loop_now_ms(n->loop))) {
		log_warn(&n->log,
		    "peer=%s event=mount-refused dir=\"%s\" stat=%u%s "
		    "suppressed=%u",
		    peer, esc, stat, why, n->mount_rl.suppressed);
		n->mount_rl.suppressed = 0;
	}
	rpc_reply_build(w, c->xid, RPC_SUCCESS, 0, 0);
	mnt_mnt_build(
	    w, stat, fh.data, stat == MNT3_OK ? fh.len : 0, flavors, 1);
}

/* DUMP: the caller's own mounts; which Pi mounts what is no one else's. */
static void
mnt_dump(struct nfs_service *n, struct rpcsrv_req *req, const char *host,
    struct wcur *w)
{
	struct mnt_body *b = calloc(n->nmounts + 1, sizeof(*b));
	size_t i, nb = 0;

	if (!b) {
		rpc_reply_build(w, req->call.xid, RPC_SYSTEM_ERR, 0, 0);
		return;
	}
	for (i = 0; i < n->nmounts; i++) {
		if (strcmp(n->mounts[i].host, host) == 0) {
			b[nb].host = n->mounts[i].host;
			b[nb++].dir = n->mounts[i].dir;
		}
	}
	rpc_reply_build(w, req->call.xid, RPC_SUCCESS, 0, 0);
	mnt_dump_build(w, b, nb);
	free(b);
}

static void
mnt_export(struct nfs_service *n, struct rpcsrv_req *req, struct wcur *w)
{
	const struct nfs_export_table *t;
	struct mnt_export *rows;
	const char *groups[NFS_EXPORT_MAX][NFS_ALLOW_MAX];
	size_t i, j, nrows = 0;

	rows = calloc(NFS_EXPORT_MAX, sizeof(*rows));
	if (!rows) {
		rpc_reply_build(w, req->call.xid, RPC_SYSTEM_ERR, 0, 0);
		return;
	}
	/*
	 * Only what the caller may mount, and of its groups only those the
	 * caller is in: other clients' paths and addresses are theirs.
	 */
	t = nfs_exports_get(&n->ex);
	for (i = 0; i < t->n; i++) {
		const struct nfs_export *e = t->e[i];
		size_t ng = 0;

		for (j = 0; j < e->nallow; j++) {
			if (nfs_cidr_contains(
				&e->allow[j], req->peer.sin_addr)) {
				groups[nrows][ng++] = e->groups[j];
			}
		}
		if (ng > 0) {
			rows[nrows] = (struct mnt_export){.dir = e->path,
			    .groups = groups[nrows],
			    .ngroups = ng};
			nrows++;
		}
	}
	rpc_reply_build(w, req->call.xid, RPC_SUCCESS, 0, 0);
	if (mnt_export_build(w, rows, nrows) < 0) {
		*w = wcur_init(w->p, w->cap);
		wcur_zero(w, 4);
		rpc_reply_build(w, req->call.xid, RPC_SYSTEM_ERR, 0, 0);
	}
	nfs_exports_put(t);
	free(rows);
}

void
mnt_service_handle_call(void *arg, struct rpcsrv_req *req)
{
	struct nfs_service *n = arg;
	const struct rpc_call *c = &req->call;
	char dir[MNT_PATH_MAX + 1], host[INET_ADDRSTRLEN];
	struct wcur w;

	/* EXPORT of many exports with their groups can be large. */
	if (rpcsrv_reply_buf(req, 256 * 1024, &w) < 0) {
		rpcsrv_drop(req);
		return;
	}
	inet_ntop(AF_INET, &req->peer.sin_addr, host, sizeof(host));
	if (c->prog != MNT_PROG) {
		rpc_reply_build(&w, c->xid, RPC_PROG_UNAVAIL, 0, 0);
	} else if (c->vers != MNT_VERS) {
		rpc_reply_build(
		    &w, c->xid, RPC_PROG_MISMATCH, MNT_VERS, MNT_VERS);
	} else if (c->cred.flavor != RPC_AUTH_NONE &&
	    c->cred.flavor != RPC_AUTH_SYS) {
		rpc_reply_build_auth_error(&w, c->xid, RPC_AUTH_TOOWEAK);
	} else {
		switch (c->proc) {
		case MNT_PROC_NULL:
			rpc_reply_build(&w, c->xid, RPC_SUCCESS, 0, 0);
			break;
		case MNT_PROC_MNT:
			mnt_mnt(n, req, &w);
			break;
		case MNT_PROC_DUMP:
		case MNT_PROC_EXPORT:
			/*
			 * Lists go over TCP only: over UDP a forged source
			 * would get them, a reflection of many times the
			 * call's size.  showmount and libnfs use TCP.
			 */
			if (!req->tcp) {
				rpc_reply_build(
				    &w, c->xid, RPC_PROC_UNAVAIL, 0, 0);
			} else if (c->proc == MNT_PROC_DUMP) {
				mnt_dump(n, req, host, &w);
			} else {
				mnt_export(n, req, &w);
			}
			break;
		case MNT_PROC_UMNT:
			if (mnt_dirpath_parse(c->args, c->args_len, dir) < 0) {
				rpc_reply_build(
				    &w, c->xid, RPC_GARBAGE_ARGS, 0, 0);
				break;
			}
			mnt_forget(n, host, dir);
			rpc_reply_build(&w, c->xid, RPC_SUCCESS, 0, 0);
			break;
		case MNT_PROC_UMNTALL:
			mnt_forget(n, host, NULL);
			rpc_reply_build(&w, c->xid, RPC_SUCCESS, 0, 0);
			break;
		default:
			rpc_reply_build(&w, c->xid, RPC_PROC_UNAVAIL, 0, 0);
			break;
		}
	}
	rpcsrv_reply_done(req, &w);
	rpcsrv_reply(req);
}
