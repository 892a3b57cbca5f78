#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "proto/mount/mnt.h"
#include "proto/nfs3/nfs3.h"
#include "proto/portmap/pmap.h"
#include "server/nfs/portmap.h"

struct pmap_service {
	struct loop *loop;
	struct rpcsrv *srv; /* NULL when external */
	struct rpcsrv *lo;  /* on 127.0.0.1, when srv is on another address */
	uint16_t port;
	struct pmap_mapping map[PMAP_MAX_MAPPINGS];
	size_t n;
	/* What we registered with an external portmapper, to withdraw. */
	struct pmap_mapping ours[PMAP_MAX_MAPPINGS];
	size_t nours;
	struct log_ctx log;
	struct log_ratelimit rl;
};

static struct pmap_mapping *
pmap_find(struct pmap_service *p, uint32_t prog, uint32_t vers, uint32_t prot)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		if (p->map[i].prog == prog && p->map[i].vers == vers &&
		    p->map[i].prot == prot) {
			return &p->map[i];
		}
	}
	return NULL;
}

/*
 * GETPORT: the exact version, else any version of the program on that
 * transport, as the classic portmapper and rpcbind answer, so that a
 * caller asking for another version reaches the server and learns the
 * supported range from its PROG_MISMATCH (rpcinfo does this).
 */
static struct pmap_mapping *
pmap_find_any_vers(struct pmap_service *p, const struct pmap_mapping *m)
{
	struct pmap_mapping *hit = pmap_find(p, m->prog, m->vers, m->prot);
	size_t i;

	for (i = 0; !hit && i < p->n; i++) {
		if (p->map[i].prog == m->prog && p->map[i].prot == m->prot) {
			hit = &p->map[i];
		}
	}
	return hit;
}

static bool
pmap_table_set(struct pmap_service *p, const struct pmap_mapping *m)
{
	struct pmap_mapping *old = pmap_find(p, m->prog, m->vers, m->prot);

	/* RFC 1833: SET fails if the triple is already mapped. */
	if (old || p->n == PMAP_MAX_MAPPINGS || m->port == 0 ||
	    m->port > 65535) {
		return false;
	}
	p->map[p->n++] = *m;
	return true;
}

static bool
pmap_table_unset(struct pmap_service *p, uint32_t prog, uint32_t vers)
{
	size_t i = 0;
	bool any = false;

	/* UNSET ignores prot and port: every transport of the pair goes. */
	while (i < p->n) {
		if (p->map[i].prog == prog && p->map[i].vers == vers) {
			p->map[i] = p->map[--p->n];
			any = true;
		} else {
			i++;
		}
	}
	return any;
}

/*
 * May @req change the table for @prog?  Only root on this machine, as
 * rpcbind allows: a loopback source and a reserved port, which only root
 * can bind.  And never for what pinetboot itself serves, so no local
 * program can point MOUNT or NFS at a server of its own.
 */
static bool
pmap_may_change(const struct rpcsrv_req *req, uint32_t prog)
{
	bool loopback = (ntohl(req->peer.sin_addr.s_addr) >> 24) == 127;

	return loopback && ntohs(req->peer.sin_port) < 1024 &&
	    prog != PMAP_PROG && prog != MNT_PROG && prog != NFS3_PROG;
}

static void
pmap_handle_call(void *arg, struct rpcsrv_req *req)
{
	struct pmap_service *p = arg;
	const struct rpc_call *c = &req->call;
	struct pmap_mapping m, *found;
	char peer[48];
	struct wcur w;

	if (rpcsrv_reply_buf(req, 8192, &w) < 0) {
		rpcsrv_drop(req);
		return;
	}
	if (c->prog != PMAP_PROG) {
		rpc_reply_build(&w, c->xid, RPC_PROG_UNAVAIL, 0, 0);
		goto out;
	}
	if (c->vers != PMAP_VERS) {
		rpc_reply_build(
		    &w, c->xid, RPC_PROG_MISMATCH, PMAP_VERS, PMAP_VERS);
		goto out;
	}
	switch (c->proc) {
	case PMAP_PROC_NULL:
		rpc_reply_build(&w, c->xid, RPC_SUCCESS, 0, 0);
		break;
	case PMAP_PROC_SET:
	case PMAP_PROC_UNSET:
	case PMAP_PROC_GETPORT:
		if (pmap_mapping_parse(c->args, c->args_len, &m) < 0) {
			rpc_reply_build(&w, c->xid, RPC_GARBAGE_ARGS, 0, 0);
			break;
		}
		rpc_reply_build(&w, c->xid, RPC_SUCCESS, 0, 0);
		if (c->proc == PMAP_PROC_GETPORT) {
			found = pmap_find_any_vers(p, &m);
			wcur_be32(&w, found ? found->port : 0);
		} else if (!pmap_may_change(req, m.prog)) {
			wcur_be32(&w, 0);
			if (log_ratelimit_ok(&p->rl, loop_now_ms(p->loop))) {
				rpcsrv_peer_str(req, peer, sizeof(peer));
				log_warn(&p->log,
				    "peer=%s event=set-refused proc=%s prog=%u "
				    "vers=%u suppressed=%u note=\"only root on "
				    "this machine may register, and not the "
				    "programs pinetboot serves\"",
				    peer,
				    c->proc == PMAP_PROC_SET ? "SET" : "UNSET",
				    m.prog, m.vers, p->rl.suppressed);
				p->rl.suppressed = 0;
			}
		} else if (c->proc == PMAP_PROC_SET) {
			wcur_be32(&w, pmap_table_set(p, &m));
		} else {
			wcur_be32(&w, pmap_table_unset(p, m.prog, m.vers));
		}
		break;
	case PMAP_PROC_DUMP:
		rpc_reply_build(&w, c->xid, RPC_SUCCESS, 0, 0);
		pmap_dump_build(&w, p->map, p->n);
		break;
	default:
		/* CALLIT included: no forwarding of calls for anyone. */
		rpc_reply_build(&w, c->xid, RPC_PROC_UNAVAIL, 0, 0);
		break;
	}
out:
	rpcsrv_reply_done(req, &w);
	rpcsrv_reply(req);
}

/*
 * One call to the external portmapper on loopback over UDP, from a
 * reserved port (rpcbind takes SET only from privileged local callers).
 * Blocks for at most a second; used at start and stop only.
 */
static int
pmap_external_call(uint16_t port, uint32_t proc, const struct pmap_mapping *m)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	    .sin_port = htons(port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	uint8_t out[128], in[256];
	struct wcur w = wcur_init(out, sizeof(out));
	struct rpc_reply rep;
	struct pollfd pfd;
	uint32_t xid;
	ssize_t n;
	int fd, r = -ETIMEDOUT, lport;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	for (lport = 1023; lport >= 600; lport--) {
		struct sockaddr_in me = {
		    .sin_family = AF_INET, .sin_port = htons((uint16_t)lport)};

		if (bind(fd, (struct sockaddr *)&me, sizeof(me)) == 0) {
			break;
		}
	}
	xid = (uint32_t)getpid() ^ proc ^ m->prog ^ m->prot;
	rpc_call_build(
	    &w, xid, PMAP_PROG, PMAP_VERS, proc, RPC_AUTH_NONE, NULL, 0);
	pmap_mapping_build(&w, m);
	if (sendto(fd, out, w.off, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		goto out;
	}
	pfd = (struct pollfd){.fd = fd, .events = POLLIN};
	while (poll(&pfd, 1, 1000) == 1) {
		struct cur c;

		n = recv(fd, in, sizeof(in), 0);
		if (n < 0 || rpc_reply_parse(in, (size_t)n, &rep) < 0 ||
		    rep.xid != xid) {
			continue;
		}
		if (rep.reply_stat != RPC_MSG_ACCEPTED ||
		    rep.stat != RPC_SUCCESS) {
			r = -EPROTO;
			break;
		}
		c = cur_init(rep.res, rep.res_len);
		r = cur_be32(&c) == 1 ? 0 : -EEXIST;
		break;
	}
out:
	close(fd);
	return r;
}

struct pmap_service *
pmap_service_open(struct loop *l, struct in_addr addr, uint16_t port,
    const struct rpcsrv_limits *lim, int *err)
{
	struct pmap_service *p = calloc(1, sizeof(*p));
	struct in_addr lo = {htonl(INADDR_LOOPBACK)};

	if (!p) {
		*err = -ENOMEM;
		return NULL;
	}
	p->loop = l;
	p->port = port;
	p->log.svc = "portmap";
	p->srv = rpcsrv_open(
	    l, "portmap", addr, port, lim, pmap_handle_call, p, err);
	if (p->srv && addr.s_addr != lo.s_addr &&
	    addr.s_addr != htonl(INADDR_ANY)) {
		int r;

		/* Optional: a local portmapper may hold loopback alone. */
		p->lo = rpcsrv_open(
		    l, "portmap", lo, port, lim, pmap_handle_call, p, &r);
		if (!p->lo) {
			log_warn(&p->log,
			    "event=no-loopback port=%u error=\"%s\" "
			    "note=\"rpcinfo on this machine must ask the "
			    "server address\"",
			    port, strerror(-r));
		}
	}
	if (!p->srv) {
		if (*err != -EADDRINUSE) {
			free(p);
			return NULL;
		}
		log_info(&p->log,
		    "event=external port=%u note=\"port %u is taken "
		    "(rpcbind?): registering with it instead\"",
		    port, port);
		return p;
	}
	pmap_service_set(p, PMAP_PROG, PMAP_VERS, PMAP_IPPROTO_TCP, port);
	pmap_service_set(p, PMAP_PROG, PMAP_VERS, PMAP_IPPROTO_UDP, port);
	return p;
}

bool
pmap_service_is_external(const struct pmap_service *p)
{
	return p->srv == NULL;
}

int
pmap_service_set(struct pmap_service *p, uint32_t prog, uint32_t vers,
    uint32_t prot, uint16_t port)
{
	struct pmap_mapping m = {prog, vers, prot, port};
	size_t i;
	int r;

	if (p->srv) {
		struct pmap_mapping *old = pmap_find(p, prog, vers, prot);

		if (old) {
			*old = p->map[--p->n];
		}
		return pmap_table_set(p, &m) ? 0 : -ENOSPC;
	}
	if (p->nours == PMAP_MAX_MAPPINGS) {
		return -ENOSPC;
	}
	/*
	 * A stale entry from an earlier run would make SET fail.  UNSET
	 * drops every transport of the pair, so only before our first SET
	 * of it.
	 */
	for (i = 0; i < p->nours; i++) {
		if (p->ours[i].prog == prog && p->ours[i].vers == vers) {
			break;
		}
	}
	if (i == p->nours) {
		(void)pmap_external_call(p->port, PMAP_PROC_UNSET, &m);
	}
	r = pmap_external_call(p->port, PMAP_PROC_SET, &m);
	if (r < 0) {
		log_warn(&p->log,
		    "event=register-failed prog=%u vers=%u prot=%u port=%u "
		    "error=\"%s\"",
		    prog, vers, prot, port, strerror(-r));
		return r;
	}
	p->ours[p->nours++] = m;
	return 0;
}

void
pmap_service_close(struct pmap_service *p)
{
	size_t i;

	if (!p) {
		return;
	}
	for (i = 0; i < p->nours; i++) {
		(void)pmap_external_call(p->port, PMAP_PROC_UNSET, &p->ours[i]);
	}
	rpcsrv_close(p->lo);
	rpcsrv_close(p->srv);
	free(p);
}
