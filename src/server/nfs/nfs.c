#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "proto/mount/mnt.h"
#include "proto/portmap/pmap.h"
#include "server/nfs/nfs.h"
#include "server/nfs/ops.h"
#include "server/obs.h"

#define NFSACL_PROG 100227

/* A WRITE of rtmax bytes plus its headers fits in one record. */
#define NFS_MAX_RECORD (NFS3_IO_MAX + 4096)
/* UDP replies stay below the 64 KiB datagram limit. */
#define NFS_UDP_REPLY (63 * 1024)

/* --- duplicate request cache --------------------------------------------- */

/*
 * Keyed by transport, client address and port, xid and procedure, for the
 * non-idempotent procedures only (reference §4.3).  The port and
 * transport belong to the key so that the reply to one process's call
 * never goes to another that sends the same xid from another port or over
 * the other transport, without its own call being run.  Retransmissions
 * still match: a UDP client resends from its socket, and the Linux client
 * reconnects from the same source port (net/sunrpc/xprtsock.c keeps it
 * for the server's cache; knfsd's cache keys on address and port too).
 * A hit that is still running is dropped; a finished one gets the
 * original reply again.
 */
static struct nfs_drc_entry *
nfs_drc_find(struct nfs_service *n, const struct rpcsrv_req *req)
{
	size_t i;

	for (i = 0; i < NFS_DRC_SIZE; i++) {
		struct nfs_drc_entry *d = &n->drc[i];

		if (d->used && d->xid == req->call.xid &&
		    d->proc == req->call.proc && d->tcp == req->tcp &&
		    d->port == req->peer.sin_port &&
		    d->addr.s_addr == req->peer.sin_addr.s_addr) {
			return d;
		}
	}
	return NULL;
}

static void
nfs_drc_start(struct nfs_service *n, const struct rpcsrv_req *req)
{
	struct nfs_drc_entry *d = &n->drc[n->drc_next];

	n->drc_next = (n->drc_next + 1) % NFS_DRC_SIZE;
	free(d->reply);
	*d = (struct nfs_drc_entry){
	    .addr = req->peer.sin_addr,
	    .port = req->peer.sin_port,
	    .tcp = req->tcp,
	    .xid = req->call.xid,
	    .proc = req->call.proc,
	    .used = true,
	};
}

static void
nfs_drc_finish(struct nfs_service *n, const struct rpcsrv_req *req)
{
	struct nfs_drc_entry *d = nfs_drc_find(n, req);

	if (!d || d->done) {
		return;
	}
	d->done = true;
	/* Replies of these procedures are small; bigger ones are not kept. */
	if (req->reply && req->reply_len <= 4096) {
		d->reply = malloc(req->reply_len);
		if (d->reply) {
			memcpy(d->reply, req->reply, req->reply_len);
			d->len = req->reply_len;
		}
	}
}

/* --- workers ------------------------------------------------------------- */

/* A call refused for its source port; n->mu held (workers log this). */
static void
nfs_log_port_refused(struct nfs_service *n, const struct rpcsrv_req *req)
{
	char peer[48];

	if (!log_ratelimit_ok(&n->refuse_rl, loop_clock_us() / 1000)) {
		return;
	}
	rpcsrv_peer_str(req, peer, sizeof(peer));
	log_warn(&n->log,
	    "peer=%s event=refused proc=%s reason=\"source port %u is not "
	    "reserved\" suppressed=%u note=\"export with insecure to allow "
	    "it\"",
	    peer, nfs_proc_name(req->call.proc), ntohs(req->peer.sin_port),
	    n->refuse_rl.suppressed);
	n->refuse_rl.suppressed = 0;
}

static void *
nfs_worker(void *arg)
{
	struct nfs_service *n = arg;
	uint64_t one = 1;

	for (;;) {
		struct rpcsrv_req *req;
		struct nfs_op_ctx ctx;
		struct nfs_file_tail tail;
		bool port_refused = false;

		pthread_mutex_lock(&n->mu);
		while (!n->jobs_head && !n->stopping) {
			pthread_cond_wait(&n->cv, &n->mu);
		}
		if (n->stopping) {
			pthread_mutex_unlock(&n->mu);
			break;
		}
		req = n->jobs_head;
		n->jobs_head = req->next;
		if (!n->jobs_head) {
			n->jobs_tail = NULL;
		}
		pthread_mutex_unlock(&n->mu);

		ctx = (struct nfs_op_ctx){
		    .peer = req->peer.sin_addr,
		    .peer_port = ntohs(req->peer.sin_port),
		    .headroom = 4,
		    .max_reply = req->tcp ? NFS_MAX_RECORD : NFS_UDP_REPLY,
		    /* READ data goes out with sendfile over TCP. */
		    .tail = req->tcp ? &tail : NULL,
		    .port_refused = &port_refused,
		};
		tail.fd = -1;
		req->reply = nfs_ops_call(
		    &n->ex, &ctx, &req->call, &req->reply_len, &req->status);
		if (tail.fd >= 0 && !req->reply) {
			close(tail.fd);
		} else if (tail.fd >= 0) {
			req->file_fd = tail.fd;
			req->file_off = tail.off;
			req->file_len = tail.len;
			req->file_pad = tail.pad;
		}

		pthread_mutex_lock(&n->mu);
		if (port_refused) {
			nfs_log_port_refused(n, req);
		}
		req->next = n->done;
		n->done = req;
		pthread_mutex_unlock(&n->mu);
		if (write(n->efd, &one, sizeof(one)) < 0) {
			/* The counter cannot overflow; nothing to do. */
		}
	}
	return NULL;
}

static void
nfs_handle_done(struct loop *l, int fd, unsigned events, void *arg)
{
	struct nfs_service *n = arg;
	struct rpcsrv_req *req, *next;
	uint64_t cnt;
	uint64_t now = loop_clock_us();

	(void)l;
	(void)events;
	if (read(fd, &cnt, sizeof(cnt)) < 0) {
		/* EAGAIN: another wake-up already took them. */
	}
	pthread_mutex_lock(&n->mu);
	req = n->done;
	n->done = NULL;
	pthread_mutex_unlock(&n->mu);
	for (; req; req = next) {
		uint32_t proc = req->call.proc;

		next = req->next;
		if (proc < NFS3_NPROC) {
			n->stats[proc].calls++;
			n->stats[proc].usec += now - req->start_us;
			if (n->serve && n->serve->obs) {
				obs_nfs_op(
				    n->serve->obs, proc, now - req->start_us);
			}
			if (req->status != 0) {
				n->stats[proc].errors++;
			}
			if (!nfs_proc_is_idempotent(proc)) {
				nfs_drc_finish(n, req);
			}
		}
		rpcsrv_reply(req);
	}
}

static void
nfs_queue(struct nfs_service *n, struct rpcsrv_req *req)
{
	req->next = NULL;
	pthread_mutex_lock(&n->mu);
	if (n->jobs_tail) {
		n->jobs_tail->next = req;
	} else {
		n->jobs_head = req;
	}
	n->jobs_tail = req;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

static void
nfs_handle_call(void *arg, struct rpcsrv_req *req)
{
	struct nfs_service *n = arg;
	const struct rpc_call *c = &req->call;

	if (c->prog != NFS3_PROG || c->vers != NFS3_VERS ||
	    c->proc == NFS3_PROC_NULL || c->proc >= NFS3_NPROC) {
		/*
		 * NFSACL (100227) probes land here and get PROG_UNAVAIL, so
		 * Linux turns ACLs off instead of hanging (quirk 25).
		 */
		struct nfs_op_ctx ctx = {.peer = req->peer.sin_addr,
		    .headroom = 4,
		    .max_reply = NFS_UDP_REPLY};

		req->reply = nfs_ops_call(
		    &n->ex, &ctx, c, &req->reply_len, &req->status);
		if (c->prog == NFS3_PROG && c->proc == NFS3_PROC_NULL) {
			n->stats[0].calls++;
		}
		rpcsrv_reply(req);
		return;
	}
	if (!nfs_proc_is_idempotent(c->proc)) {
		struct nfs_drc_entry *d = nfs_drc_find(n, req);

		if (d && !d->done) {
			rpcsrv_drop(req);
			return;
		}
		if (d && d->reply) {
			req->reply = malloc(d->len);
			if (req->reply) {
				memcpy(req->reply, d->reply, d->len);
				req->reply_len = d->len;
			}
			rpcsrv_reply(req);
			return;
		}
		nfs_drc_start(n, req);
	}
	nfs_queue(n, req);
}

/* --- open and close ------------------------------------------------------ */

static void
nfs_load_key(struct nfs_service *n, uint8_t *key)
{
	char path[4200];
	int r;

	snprintf(
	    path, sizeof(path), "%s/nfs-handle.key", n->serve->cfg->state_dir);
	r = nfs_key_load(path, key);
	if (r < 0) {
		log_warn(&n->log,
		    "event=handle-key-missing path=\"%s\" error=\"%s\" "
		    "note=\"file handles will not survive a restart; make the "
		    "state directory writable\"",
		    path, strerror(-r));
		if (getrandom(key, NFS_KEY_SIZE, 0) != NFS_KEY_SIZE) {
			memset(key, 0x5a, NFS_KEY_SIZE);
		}
	}
}

static int
nfs_register(struct nfs_service *n)
{
	static const uint32_t prots[] = {PMAP_IPPROTO_TCP, PMAP_IPPROTO_UDP};
	size_t i;
	int r;

	/* Both transports of both programs (reference §4.2). */
	for (i = 0; i < 2; i++) {
		r = pmap_service_set(
		    n->pmap, MNT_PROG, MNT_VERS, prots[i], rpcsrv_port(n->mnt));
		if (r < 0) {
			return r;
		}
		r = pmap_service_set(n->pmap, NFS3_PROG, NFS3_VERS, prots[i],
		    rpcsrv_port(n->nfs));
		if (r < 0) {
			return r;
		}
	}
	return 0;
}

struct nfs_service *
nfs_service_open(struct serve *s)
{
	const struct cfg *cfg = s->cfg;
	struct nfs_service *n = calloc(1, sizeof(*n));
	/*
	 * A Linux client uses one connection per server (nconnect: up to
	 * 16), so 32 from one address leave room for reconnects; 30 s for
	 * a record or for a reply to start draining is generous even for a
	 * 1 MiB WRITE on a congested link.  64 MiB of calls and replies in
	 * memory is many times what the workers can have in progress.
	 */
	struct rpcsrv_limits lim = {
	    .max_record = NFS_MAX_RECORD,
	    .max_conns = cfg->nfs_max_conns,
	    .max_conns_per_peer = 32,
	    .max_inflight = 16,
	    .max_queued = 8 * 1024 * 1024,
	    .idle_ms = 6 * 60 * 1000,
	    .record_ms = 30 * 1000,
	    .stall_ms = 30 * 1000,
	    .max_mem = 64 * 1024 * 1024,
	    .max_udp_inflight = 64,
	};
	/*
	 * Portmapper and MOUNT: a boot makes a few short calls (klibc and
	 * the kernel open one connection at a time); they are answered on
	 * the loop, so nothing stays in progress.
	 */
	struct rpcsrv_limits small = {
	    .max_record = 8192,
	    .max_conns = 64,
	    .max_conns_per_peer = 8,
	    .max_inflight = 4,
	    .max_queued = 1024 * 1024,
	    .idle_ms = 60 * 1000,
	    .record_ms = 10 * 1000,
	    .stall_ms = 10 * 1000,
	    .max_mem = 4 * 1024 * 1024,
	    .max_udp_inflight = 16,
	};
	struct nfs_cidr def = {
	    .net.s_addr = s->addr.s_addr & s->netmask.s_addr,
	    .mask = s->netmask,
	};
	uint8_t key[NFS_KEY_SIZE];
	char msg[512];
	uint32_t i;
	int r;

	if (!n) {
		return NULL;
	}
	n->serve = s;
	n->loop = s->loop;
	n->log.svc = "nfs";
	n->efd = -1;
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cv, NULL);
	nfs_load_key(n, key);
	r = nfs_exports_init(&n->ex, key);
	if (r < 0) {
		log_err(
		    &n->log, "event=start-failed error=\"%s\"", strerror(-r));
		goto fail;
	}
	for (i = 0; i < cfg->nfs_nexport; i++) {
		int64_t id = nfs_exports_add(&n->ex, cfg->nfs_export[i].path,
		    cfg->nfs_export[i].opts, &def, msg, sizeof(msg));

		if (id < 0) {
			log_err(
			    &n->log, "event=start-failed error=\"%s\"", msg);
			goto fail;
		}
		log_info(&n->log, "event=export path=\"%s\" opts=\"%s\"",
		    cfg->nfs_export[i].path, cfg->nfs_export[i].opts);
	}
	n->mounts = calloc(NFS_MOUNTS_MAX, sizeof(*n->mounts));
	if (!n->mounts) {
		goto fail;
	}
	/*
	 * READ replies and WRITE records are up to 1 MiB.  Above glibc's
	 * default threshold each would be a fresh mmap whose pages fault in
	 * one by one; from the heap the memory is reused.
	 */
	mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
	n->pmap = pmap_service_open(
	    n->loop, s->addr, cfg->nfs_portmap_port, &small, &r);
	if (!n->pmap) {
		log_err(&n->log,
		    "event=start-failed svc=portmap port=%u error=\"%s\"",
		    cfg->nfs_portmap_port, strerror(-r));
		goto fail;
	}
	n->mnt = rpcsrv_open(n->loop, "mount", s->addr, cfg->nfs_mount_port,
	    &small, mnt_service_handle_call, n, &r);
	if (!n->mnt) {
		log_err(&n->log,
		    "event=start-failed svc=mount port=%u error=\"%s\"",
		    cfg->nfs_mount_port, strerror(-r));
		goto fail;
	}
	n->nfs = rpcsrv_open(n->loop, "nfs", s->addr, cfg->nfs_port, &lim,
	    nfs_handle_call, n, &r);
	if (!n->nfs) {
		log_err(&n->log, "event=start-failed port=%u error=\"%s\"",
		    cfg->nfs_port, strerror(-r));
		goto fail;
	}
	r = nfs_register(n);
	if (r < 0) {
		log_err(&n->log,
		    "event=start-failed error=\"portmapper "
		    "registration failed\"");
		goto fail;
	}
	n->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (n->efd < 0 ||
	    loop_add_fd(n->loop, n->efd, LOOP_READ, nfs_handle_done, n) < 0) {
		log_err(&n->log, "event=start-failed error=\"eventfd: %s\"",
		    strerror(errno));
		goto fail;
	}
	n->threads = calloc(cfg->nfs_workers, sizeof(*n->threads));
	if (!n->threads) {
		goto fail;
	}
	for (i = 0; i < cfg->nfs_workers; i++) {
		r = pthread_create(&n->threads[i], NULL, nfs_worker, n);
		if (r != 0) {
			log_err(&n->log,
			    "event=start-failed error=\"worker thread: %s\"",
			    strerror(r));
			goto fail;
		}
		n->nthreads++;
	}
	log_info(&n->log,
	    "event=listen nfs_port=%u mount_port=%u portmap_port=%u%s "
	    "workers=%u exports=%zu note=\"clients mount with nolock\"",
	    rpcsrv_port(n->nfs), rpcsrv_port(n->mnt), cfg->nfs_portmap_port,
	    pmap_service_is_external(n->pmap) ? " portmap=external" : "",
	    n->nthreads, nfs_exports_count(&n->ex));
	return n;
fail:
	nfs_service_close(n);
	return NULL;
}

static void
nfs_drop_list(struct rpcsrv_req *req)
{
	struct rpcsrv_req *next;

	for (; req; req = next) {
		next = req->next;
		rpcsrv_drop(req);
	}
}

void
nfs_service_close(struct nfs_service *n)
{
	uint32_t i;

	if (!n) {
		return;
	}
	for (i = 0; i < NFS3_NPROC; i++) {
		const struct nfs_proc_stats *st = &n->stats[i];

		if (st->calls > 0) {
			log_info(&n->log,
			    "event=stats proc=%s calls=%llu errors=%llu "
			    "avg_us=%llu",
			    nfs_proc_name(i), (unsigned long long)st->calls,
			    (unsigned long long)st->errors,
			    (unsigned long long)(st->usec / st->calls));
		}
	}
	pthread_mutex_lock(&n->mu);
	n->stopping = true;
	pthread_cond_broadcast(&n->cv);
	pthread_mutex_unlock(&n->mu);
	for (i = 0; i < n->nthreads; i++) {
		pthread_join(n->threads[i], NULL);
	}
	free(n->threads);
	/* Requests hold connection references: drop them before the sockets. */
	nfs_drop_list(n->jobs_head);
	nfs_drop_list(n->done);
	n->jobs_head = n->jobs_tail = n->done = NULL;
	if (n->efd >= 0) {
		loop_close_fd(n->loop, n->efd);
	}
	rpcsrv_close(n->nfs);
	rpcsrv_close(n->mnt);
	pmap_service_close(n->pmap);
	for (i = 0; i < NFS_DRC_SIZE; i++) {
		free(n->drc[i].reply);
	}
	free(n->mounts);
	nfs_exports_fini(&n->ex);
	pthread_cond_destroy(&n->cv);
	pthread_mutex_destroy(&n->mu);
	free(n);
}

int64_t
nfs_service_export_client(
    struct nfs_service *n, const char *path, struct in_addr client)
{
	int64_t id = nfs_exports_add_client(&n->ex, path, client);
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &client, a, sizeof(a));
	if (id < 0) {
		log_warn(&n->log,
		    "event=export-failed path=\"%s\" client=%s error=\"%s\"",
		    path, a, strerror((int)-id));
	} else {
		log_info(
		    &n->log, "event=export path=\"%s\" client=%s", path, a);
	}
	return id;
}

int64_t
nfs_service_export_layered(struct nfs_service *n, const char *name,
    struct lstack *stack, struct in_addr client)
{
	int64_t id = nfs_exports_add_layered(&n->ex, name, stack, client);
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &client, a, sizeof(a));
	if (id < 0) {
		log_warn(&n->log,
		    "event=export-failed path=\"%s\" client=%s layered=yes "
		    "error=\"%s\"",
		    name, a, strerror((int)-id));
	} else {
		log_info(&n->log,
		    "event=export path=\"%s\" client=%s layered=yes", name, a);
	}
	return id;
}

int
nfs_service_unexport(struct nfs_service *n, uint32_t id)
{
	return nfs_exports_del(&n->ex, id);
}
