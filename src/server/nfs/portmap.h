#ifndef PNB_SERVER_NFS_PORTMAP_H
#define PNB_SERVER_NFS_PORTMAP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/loop.h"
#include "server/nfs/rpcsrv.h"

/*
 * The portmapper (RFC 1833 version 2) on TCP and UDP.  klibc's nfsmount
 * and the kernel's nfsroot cannot skip it (reference §4.2), so it is built
 * in.  When another portmapper (rpcbind) already owns the port, the
 * service registers its programs with that one instead and says so in the
 * log; nothing else changes for callers.
 *
 * SET and UNSET are taken only from root on this machine (a loopback
 * address and a reserved port, as rpcbind), and never for the portmapper,
 * MOUNT or NFS, which pinetboot serves itself.  CALLIT is refused with
 * PROC_UNAVAIL: it would make us an amplifier.
 */

#define PMAP_MAX_MAPPINGS 64

struct pmap_service;

/*
 * pmap_service_open() - serve on @port of @addr and of 127.0.0.1 (for
 * rpcinfo and registrations on this machine), or fall back to
 * registering with the portmapper already there.
 * Return: the service (free with pmap_service_close()) or NULL with *@err.
 */
struct pmap_service *pmap_service_open(struct loop *l, struct in_addr addr,
    uint16_t port, const struct rpcsrv_limits *lim, int *err);

/*
 * pmap_service_close() - withdraw what this process registered (from the
 * external portmapper too) and close.
 */
void pmap_service_close(struct pmap_service *p);

/*
 * pmap_service_set() - register (@prog, @vers, @prot) at @port.
 * Return: 0, -ENOSPC when the table is full, or -errno/-ETIMEDOUT from
 * the external portmapper.
 */
int pmap_service_set(struct pmap_service *p, uint32_t prog, uint32_t vers,
    uint32_t prot, uint16_t port);

/* pmap_service_is_external() - registered with another portmapper? */
bool pmap_service_is_external(const struct pmap_service *p);

#endif
