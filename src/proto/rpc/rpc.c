#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/rpc/rpc.h"

bool
rpc_get_bool(struct cur *c)
{
	uint32_t v = cur_be32(c);

	if (v > 1) {
		cur_fail(c, -EBADMSG);
		return false;
	}
	return v == 1;
}

/* XDR pads every opaque to a multiple of four (RFC 4506 §4.10). */
static size_t
rpc_pad(size_t n)
{
	return (4 - (n & 3)) & 3;
}

const uint8_t *
rpc_get_fixed(struct cur *c, size_t n)
{
	const uint8_t *p = cur_bytes(c, n);

	cur_skip(c, rpc_pad(n));
	return c->err ? NULL : p;
}

const uint8_t *
rpc_get_opaque(struct cur *c, size_t max, size_t *len)
{
	uint32_t n = cur_be32(c);

	*len = 0;
	if (c->err) {
		return NULL;
	}
	if (n > max) {
		cur_fail(c, -EMSGSIZE);
		return NULL;
	}
	/* Checked against what remains before anything looks at the bytes. */
	if (n > cur_left(c)) {
		cur_fail(c, -EBADMSG);
		return NULL;
	}
	*len = n;
	return rpc_get_fixed(c, n);
}

size_t
rpc_get_string(struct cur *c, size_t max, char *dst, size_t cap)
{
	size_t n;
	const uint8_t *p = rpc_get_opaque(c, max, &n);

	dst[0] = 0;
	if (!p) {
		return 0;
	}
	if (n >= cap) {
		cur_fail(c, -EMSGSIZE);
		return 0;
	}
	if (memchr(p, 0, n)) {
		cur_fail(c, -EBADMSG);
		return 0;
	}
	memcpy(dst, p, n);
	dst[n] = 0;
	return n;
}

void
rpc_put_fixed(struct wcur *w, const void *p, size_t n)
{
	wcur_bytes(w, p, n);
	wcur_zero(w, rpc_pad(n));
}

void
rpc_put_opaque(struct wcur *w, const void *p, size_t n)
{
	if (n > UINT32_MAX) {
		w->err = w->err ? w->err : -EMSGSIZE;
		return;
	}
	wcur_be32(w, (uint32_t)n);
	rpc_put_fixed(w, p, n);
}

void
rpc_put_string(struct wcur *w, const char *s)
{
	rpc_put_opaque(w, s, strlen(s));
}

static void
rpc_get_auth(struct cur *c, struct rpc_opaque_auth *a)
{
	a->flavor = cur_be32(c);
	a->body = rpc_get_opaque(c, RPC_AUTH_MAX, &a->len);
}

int
rpc_call_parse(const uint8_t *buf, size_t len, struct rpc_call *out)
{
	struct cur c = cur_init(buf, len);
	uint32_t mtype, rpcvers;

	*out = (struct rpc_call){0};
	out->xid = cur_be32(&c);
	mtype = cur_be32(&c);
	if (c.err) {
		return c.err;
	}
	if (mtype != RPC_CALL) {
		return -EPROTO;
	}
	rpcvers = cur_be32(&c);
	if (c.err) {
		return c.err;
	}
	if (rpcvers != RPC_VERS) {
		return -EPROTONOSUPPORT;
	}
	out->prog = cur_be32(&c);
	out->vers = cur_be32(&c);
	out->proc = cur_be32(&c);
	rpc_get_auth(&c, &out->cred);
	rpc_get_auth(&c, &out->verf);
	if (c.err) {
		return c.err;
	}
	out->args = buf + c.off;
	out->args_len = len - c.off;
	return 0;
}

int
rpc_auth_sys_parse(const uint8_t *body, size_t len, struct rpc_auth_sys *out)
{
	struct cur c = cur_init(body, len);
	uint32_t i;

	*out = (struct rpc_auth_sys){0};
	out->stamp = cur_be32(&c);
	rpc_get_string(&c, RPC_MACHINE_MAX, out->machine, sizeof(out->machine));
	out->uid = cur_be32(&c);
	out->gid = cur_be32(&c);
	out->ngids = cur_be32(&c);
	if (c.err) {
		return c.err;
	}
	if (out->ngids > RPC_AUTH_SYS_NGIDS) {
		out->ngids = 0;
		return -EMSGSIZE;
	}
	for (i = 0; i < out->ngids; i++) {
		out->gids[i] = cur_be32(&c);
	}
	return cur_end(&c, false);
}

void
rpc_auth_sys_build(struct wcur *w, const struct rpc_auth_sys *a)
{
	uint8_t *lenp;
	size_t start;
	uint32_t i, n;

	wcur_be32(w, RPC_AUTH_SYS);
	lenp = wcur_reserve(w, 4);
	start = w->off;
	wcur_be32(w, a->stamp);
	rpc_put_string(w, a->machine);
	wcur_be32(w, a->uid);
	wcur_be32(w, a->gid);
	n = a->ngids > RPC_AUTH_SYS_NGIDS ? RPC_AUTH_SYS_NGIDS : a->ngids;
	wcur_be32(w, n);
	for (i = 0; i < n; i++) {
		wcur_be32(w, a->gids[i]);
	}
	if (lenp && !w->err) {
		size_t blen = w->off - start;

		lenp[0] = (uint8_t)(blen >> 24);
		lenp[1] = (uint8_t)(blen >> 16);
		lenp[2] = (uint8_t)(blen >> 8);
		lenp[3] = (uint8_t)blen;
	}
}

void
rpc_call_build(struct wcur *w, uint32_t xid, uint32_t prog, uint32_t vers,
    uint32_t proc, uint32_t cred_flavor, const void *cred_body, size_t cred_len)
{
	wcur_be32(w, xid);
	wcur_be32(w, RPC_CALL);
	wcur_be32(w, RPC_VERS);
	wcur_be32(w, prog);
	wcur_be32(w, vers);
	wcur_be32(w, proc);
	wcur_be32(w, cred_flavor);
	rpc_put_opaque(w, cred_body, cred_len);
	wcur_be32(w, RPC_AUTH_NONE);
	wcur_be32(w, 0);
}

void
rpc_reply_build(
    struct wcur *w, uint32_t xid, uint32_t stat, uint32_t lo, uint32_t hi)
{
	wcur_be32(w, xid);
	wcur_be32(w, RPC_REPLY);
	wcur_be32(w, RPC_MSG_ACCEPTED);
	/* Verifier AUTH_NONE of length 0: klibc insists on it (quirk 24). */
	wcur_be32(w, RPC_AUTH_NONE);
	wcur_be32(w, 0);
	wcur_be32(w, stat);
	if (stat == RPC_PROG_MISMATCH) {
		wcur_be32(w, lo);
		wcur_be32(w, hi);
	}
}

void
rpc_reply_build_rpc_mismatch(struct wcur *w, uint32_t xid)
{
	wcur_be32(w, xid);
	wcur_be32(w, RPC_REPLY);
	wcur_be32(w, RPC_MSG_DENIED);
	wcur_be32(w, RPC_RPC_MISMATCH);
	wcur_be32(w, RPC_VERS);
	wcur_be32(w, RPC_VERS);
}

void
rpc_reply_build_auth_error(struct wcur *w, uint32_t xid, uint32_t why)
{
	wcur_be32(w, xid);
	wcur_be32(w, RPC_REPLY);
	wcur_be32(w, RPC_MSG_DENIED);
	wcur_be32(w, RPC_AUTH_ERROR);
	wcur_be32(w, why);
}

int
rpc_reply_parse(const uint8_t *buf, size_t len, struct rpc_reply *out)
{
	struct cur c = cur_init(buf, len);
	struct rpc_opaque_auth verf;

	*out = (struct rpc_reply){0};
	out->xid = cur_be32(&c);
	if (cur_be32(&c) != RPC_REPLY) {
		return c.err ? c.err : -EPROTO;
	}
	out->reply_stat = cur_be32(&c);
	if (out->reply_stat == RPC_MSG_ACCEPTED) {
		rpc_get_auth(&c, &verf);
		out->stat = cur_be32(&c);
		if (out->stat == RPC_PROG_MISMATCH) {
			out->lo = cur_be32(&c);
			out->hi = cur_be32(&c);
		}
	} else if (out->reply_stat == RPC_MSG_DENIED) {
		out->stat = cur_be32(&c);
		if (out->stat == RPC_RPC_MISMATCH) {
			out->lo = cur_be32(&c);
			out->hi = cur_be32(&c);
		} else if (out->stat == RPC_AUTH_ERROR) {
			out->auth_stat = cur_be32(&c);
		} else {
			cur_fail(&c, -EBADMSG);
		}
	} else {
		cur_fail(&c, -EBADMSG);
	}
	if (c.err) {
		return c.err;
	}
	out->res = buf + c.off;
	out->res_len = len - c.off;
	return 0;
}

void
rpc_rm_init(struct rpc_rm *rm, size_t max)
{
	*rm = (struct rpc_rm){.state = RPC_RM_HDR, .max = max};
}

void
rpc_rm_fini(struct rpc_rm *rm)
{
	free(rm->rec);
	rm->rec = NULL;
	rm->rec_len = 0;
	rm->rec_cap = 0;
}

/*
 * Room for @n more bytes that have arrived.  The buffer grows with what
 * the peer has sent, never with what a fragment header claims: a marker
 * announcing 1 MiB costs nothing until the bytes come.  Doubling keeps
 * the copying linear; the fragment's end and the maximum cap it.
 */
static int
rpc_rm_grow(struct rpc_rm *rm, size_t n)
{
	size_t want = rm->rec_len + n, cap = rm->rec_cap, end;
	uint8_t *q;

	if (want <= cap) {
		return 0;
	}
	cap = cap < RPC_RM_MIN_ALLOC / 2 ? RPC_RM_MIN_ALLOC : cap * 2;
	end = rm->rec_len + rm->frag_left;
	if (cap > end) {
		cap = end;
	}
	if (cap < want) {
		cap = want;
	}
	q = realloc(rm->rec, cap);
	if (!q) {
		return -ENOMEM;
	}
	rm->rec = q;
	rm->rec_cap = cap;
	return 0;
}

int
rpc_rm_feed(struct rpc_rm *rm, const uint8_t *data, size_t len, size_t *used)
{
	size_t off = 0;
	int r = 0;

	while (off < len || rm->state == RPC_RM_DONE) {
		if (rm->state == RPC_RM_BROKEN) {
			r = -EMSGSIZE;
			break;
		}
		if (rm->state == RPC_RM_DONE) {
			r = 1;
			break;
		}
		if (rm->state == RPC_RM_HDR) {
			size_t n = 4 - rm->hdr_have;
			uint32_t h;

			if (n > len - off) {
				n = len - off;
			}
			memcpy(rm->hdr + rm->hdr_have, data + off, n);
			rm->hdr_have += n;
			off += n;
			if (rm->hdr_have < 4) {
				continue;
			}
			rm->hdr_have = 0;
			h = (uint32_t)rm->hdr[0] << 24 |
			    (uint32_t)rm->hdr[1] << 16 |
			    (uint32_t)rm->hdr[2] << 8 | rm->hdr[3];
			rm->last = (h & RPC_RM_LAST) != 0;
			rm->frag_left = h & ~RPC_RM_LAST;
			/* Refuse before storing a byte of an oversized record.
			 */
			if (rm->frag_left > rm->max - rm->rec_len) {
				rm->state = RPC_RM_BROKEN;
				rpc_rm_fini(rm);
				r = -EMSGSIZE;
				break;
			}
			rm->state = RPC_RM_BODY;
		}
		if (rm->state == RPC_RM_BODY) {
			size_t n = rm->frag_left;

			if (n > len - off) {
				n = len - off;
			}
			if (n > 0 && rpc_rm_grow(rm, n) < 0) {
				rm->state = RPC_RM_BROKEN;
				r = -ENOMEM;
				break;
			}
			if (n > 0) {
				memcpy(rm->rec + rm->rec_len, data + off, n);
				rm->rec_len += n;
			}
			off += n;
			rm->frag_left -= (uint32_t)n;
			if (rm->frag_left == 0) {
				rm->state = rm->last ? RPC_RM_DONE : RPC_RM_HDR;
			}
		}
	}
	*used = off;
	return r;
}

uint8_t *
rpc_rm_take(struct rpc_rm *rm, size_t *len)
{
	uint8_t *p;

	*len = 0;
	if (rm->state != RPC_RM_DONE) {
		return NULL;
	}
	p = rm->rec;
	*len = rm->rec_len;
	if (!p || *len == 0) {
		free(p);
		p = NULL;
		*len = 0;
	} else if (rm->rec_cap > *len) {
		/* Hand over what the record uses, not the doubling's slack. */
		uint8_t *q = realloc(p, *len);

		p = q ? q : p;
	}
	rm->rec = NULL;
	rm->rec_len = 0;
	rm->rec_cap = 0;
	rm->state = RPC_RM_HDR;
	rm->last = false;
	return p;
}

bool
rpc_rm_in_record(const struct rpc_rm *rm)
{
	return rm->state == RPC_RM_BODY ||
	    (rm->state == RPC_RM_HDR && (rm->hdr_have > 0 || rm->rec_len > 0));
}

void
rpc_rm_marker(uint8_t out[4], size_t len)
{
	uint32_t h = RPC_RM_LAST | (uint32_t)len;

	out[0] = (uint8_t)(h >> 24);
	out[1] = (uint8_t)(h >> 16);
	out[2] = (uint8_t)(h >> 8);
	out[3] = (uint8_t)h;
}
