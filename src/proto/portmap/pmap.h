#ifndef PNB_PROTO_PORTMAP_PMAP_H
#define PNB_PROTO_PORTMAP_PMAP_H

#include <stddef.h>
#include <stdint.h>

#include "core/cur.h"

/* Portmapper version 2 (RFC 1833 §3). */

#define PMAP_PROG 100000
#define PMAP_VERS 2

enum pmap_proc {
	PMAP_PROC_NULL = 0,
	PMAP_PROC_SET = 1,
	PMAP_PROC_UNSET = 2,
	PMAP_PROC_GETPORT = 3,
	PMAP_PROC_DUMP = 4,
	PMAP_PROC_CALLIT = 5,
};

/* IPPROTO_TCP and IPPROTO_UDP, as the RFC spells them. */
#define PMAP_IPPROTO_TCP 6
#define PMAP_IPPROTO_UDP 17

struct pmap_mapping {
	uint32_t prog, vers, prot, port;
};

/*
 * pmap_mapping_parse() - the argument of SET, UNSET and GETPORT: exactly
 * one mapping.
 * Return: 0 or -EBADMSG (short, or trailing bytes).
 */
int pmap_mapping_parse(
    const uint8_t *buf, size_t len, struct pmap_mapping *out);

void pmap_mapping_build(struct wcur *w, const struct pmap_mapping *m);

/*
 * pmap_dump_build() - the DUMP result: a pmaplist of @n mappings
 * (borrowed), as XDR optional-data chain.
 * Return: 0 or -EMSGSIZE when it does not fit.
 */
int pmap_dump_build(struct wcur *w, const struct pmap_mapping *m, size_t n);

/*
 * pmap_dump_parse() - decode a pmaplist into @out (at most @cap entries).
 * Return: the number of mappings, -EBADMSG, or -EMSGSIZE beyond @cap.
 */
int pmap_dump_parse(
    const uint8_t *buf, size_t len, struct pmap_mapping *out, size_t cap);

#endif
