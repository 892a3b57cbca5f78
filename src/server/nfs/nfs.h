#ifndef PNB_SERVER_NFS_NFS_H
#define PNB_SERVER_NFS_NFS_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>

#include "proto/nfs3/nfs3.h"
#include "server/nfs/export.h"
#include "server/nfs/portmap.h"
#include "server/nfs/rpcsrv.h"
#include "server/serve.h"

/*
 * The NFS service: portmapper, MOUNT v3 and NFS v3 over TCP and UDP on the
 * event loop, with the file-system work on a small pool of worker threads
 * (cfg->nfs_workers) that hand replies back through an eventfd, so one
 * client reading a large file never holds up another's GETATTR.
 *
 * Clients mount with `nolock`: there is no NLM (the in-kernel nfsroot
 * forces nolock anyway, reference §4.2).
 */

/* Per-procedure counters kept for metrics. */
struct nfs_proc_stats {
	uint64_t calls, errors, usec;
};

#define NFS_DRC_SIZE   512
#define NFS_MOUNTS_MAX 1024

struct nfs_drc_entry {
	struct in_addr addr;
	uint16_t port; /* network order */
	bool tcp;
	uint32_t xid, proc;
	bool used, done;
	uint8_t *reply; /* owned; NULL while in progress */
	size_t len;
};

struct nfs_mount_rec {
	char host[16];
	char dir[1025];
};

struct nfs_service {
	struct serve *serve; /* borrowed */
	struct loop *loop;   /* borrowed */
	struct nfs_exports ex;
	struct pmap_service *pmap;
	struct rpcsrv *mnt, *nfs;

	/* Worker pool: jobs in, done out, eventfd to wake the loop. */
	pthread_t *threads;
	uint32_t nthreads;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct rpcsrv_req *jobs_head, *jobs_tail, *done;
	bool stopping;
	int efd;

	struct nfs_drc_entry drc[NFS_DRC_SIZE];
	size_t drc_next;

	struct nfs_mount_rec *mounts; /* owned, NFS_MOUNTS_MAX */
	size_t nmounts;

	struct nfs_proc_stats stats[NFS3_NPROC];
	struct log_ctx log;
	struct log_ratelimit refuse_rl; /* NFS calls; under mu */
	struct log_ratelimit mount_rl;  /* refused MNTs; loop thread */
};

/*
 * nfs_service_open() - export cfg->nfs_export[], open the portmapper,
 * MOUNT and NFS sockets and register them, start the workers.
 * Return: the service (free with nfs_service_close()) or NULL after
 * logging why.
 */
struct nfs_service *nfs_service_open(struct serve *s);
void nfs_service_close(struct nfs_service *n);

/*
 * nfs_service_export_client() - the client registry's hook: export @path
 * read-write to @client only (for a provisioned client's root).
 * Return: the export id (> 0) or a negative code (see nfs_exports_add).
 */
int64_t nfs_service_export_client(
    struct nfs_service *n, const char *path, struct in_addr client);

/*
 * nfs_service_export_layered() - as nfs_service_export_client(), for a
 * layered client: the export named @name serves @stack (a reference is
 * taken) merged.
 */
int64_t nfs_service_export_layered(struct nfs_service *n, const char *name,
    struct lstack *stack, struct in_addr client);

/* nfs_service_unexport() - withdraw export @id.  Return: 0 or -ENOENT. */
int nfs_service_unexport(struct nfs_service *n, uint32_t id);

/* MOUNT v3 on the loop thread (mount.c). */
void mnt_service_handle_call(void *arg, struct rpcsrv_req *req);

#endif
