#ifndef PNB_PROTO_RPC_RPC_H
#define PNB_PROTO_RPC_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/cur.h"

/*
 * ONC RPC version 2 (RFC 5531) and XDR (RFC 4506): call headers, reply
 * headers, AUTH_NONE/AUTH_SYS, and the TCP record-marking reassembler.
 *
 * XDR helpers follow the kernel's xdr_stream_* contract: a reader that runs
 * out of input fails the cursor with -EBADMSG, a length over the caller's
 * maximum fails it with -EMSGSIZE, and a writer that runs out of room fails
 * with -EMSGSIZE.  Rounding to 4-byte units happens only here.
 */

#define RPC_VERS 2

enum rpc_msg_type {
	RPC_CALL = 0,
	RPC_REPLY = 1,
};

enum rpc_reply_stat {
	RPC_MSG_ACCEPTED = 0,
	RPC_MSG_DENIED = 1,
};

enum rpc_accept_stat {
	RPC_SUCCESS = 0,
	RPC_PROG_UNAVAIL = 1,
	RPC_PROG_MISMATCH = 2,
	RPC_PROC_UNAVAIL = 3,
	RPC_GARBAGE_ARGS = 4,
	RPC_SYSTEM_ERR = 5,
};

enum rpc_reject_stat {
	RPC_RPC_MISMATCH = 0,
	RPC_AUTH_ERROR = 1,
};

enum rpc_auth_stat {
	RPC_AUTH_OK = 0,
	RPC_AUTH_BADCRED = 1,
	RPC_AUTH_REJECTEDCRED = 2,
	RPC_AUTH_BADVERF = 3,
	RPC_AUTH_REJECTEDVERF = 4,
	RPC_AUTH_TOOWEAK = 5,
};

enum rpc_auth_flavor {
	RPC_AUTH_NONE = 0,
	RPC_AUTH_SYS = 1,
};

/* RFC 5531 §8.2: opaque_auth bodies are at most 400 bytes. */
#define RPC_AUTH_MAX 400
/* RFC 5531 §14 (authsys_parms): machinename<255>, gids<16>. */
#define RPC_MACHINE_MAX    255
#define RPC_AUTH_SYS_NGIDS 16

/* --- XDR primitives over the cursors ------------------------------------ */

static inline uint32_t
rpc_get_u32(struct cur *c)
{
	return cur_be32(c);
}

static inline uint64_t
rpc_get_u64(struct cur *c)
{
	return cur_be64(c);
}

/*
 * rpc_get_bool() - an XDR bool; anything but 0 or 1 fails the cursor with
 * -EBADMSG (RFC 4506 §4.4).
 */
bool rpc_get_bool(struct cur *c);

/*
 * rpc_get_opaque() - variable-length opaque<max>: a length word, the
 * bytes, zero padding to 4.  *@len gets the length.
 * Return: the bytes borrowed from the cursor, or NULL with the cursor
 * failed: -EMSGSIZE when the length exceeds @max, -EBADMSG when the input
 * is short.  A zero length returns a non-NULL pointer.
 */
const uint8_t *rpc_get_opaque(struct cur *c, size_t max, size_t *len);

/* rpc_get_fixed() - fixed-length opaque[n] with its padding; borrowed. */
const uint8_t *rpc_get_fixed(struct cur *c, size_t n);

/*
 * rpc_get_string() - string<max> copied into @dst (@cap >= max + 1) and
 * NUL-terminated.  An embedded NUL fails the cursor with -EBADMSG, since no
 * file name or path may contain one.
 * Return: the length, or 0 with the cursor failed.
 */
size_t rpc_get_string(struct cur *c, size_t max, char *dst, size_t cap);

static inline void
rpc_put_u32(struct wcur *w, uint32_t v)
{
	wcur_be32(w, v);
}

static inline void
rpc_put_u64(struct wcur *w, uint64_t v)
{
	wcur_be64(w, v);
}

/* rpc_put_opaque() - length word, bytes (borrowed), padding. */
void rpc_put_opaque(struct wcur *w, const void *p, size_t n);
/* rpc_put_fixed() - the bytes and their padding, no length. */
void rpc_put_fixed(struct wcur *w, const void *p, size_t n);
void rpc_put_string(struct wcur *w, const char *s);

/* --- calls and replies --------------------------------------------------- */

struct rpc_opaque_auth {
	uint32_t flavor;
	const uint8_t *body; /* borrowed from the record */
	size_t len;
};

struct rpc_call {
	uint32_t xid;
	uint32_t prog, vers, proc;
	struct rpc_opaque_auth cred, verf;
	const uint8_t *args; /* borrowed: the procedure's arguments */
	size_t args_len;
};

/*
 * rpc_call_parse() - decode a call header (RFC 5531 §9) from one whole
 * record or datagram.
 * @buf: borrowed; @out borrows from it.
 * Return: 0; -EBADMSG when short or malformed; -EMSGSIZE for an auth body
 * over 400 bytes; -EPROTO when the message is not a CALL (out->xid is set
 * whenever 4 bytes were there); -EPROTONOSUPPORT for an RPC version other
 * than 2 (the caller answers RPC_MISMATCH; xid is set).
 */
int rpc_call_parse(const uint8_t *buf, size_t len, struct rpc_call *out);

struct rpc_auth_sys {
	uint32_t stamp;
	char machine[RPC_MACHINE_MAX + 1];
	uint32_t uid, gid;
	uint32_t ngids;
	uint32_t gids[RPC_AUTH_SYS_NGIDS];
};

/*
 * rpc_auth_sys_parse() - decode an AUTH_SYS credential body (RFC 5531
 * appendix A).
 * Return: 0, -EBADMSG (short, trailing bytes, NUL in the name) or
 * -EMSGSIZE (machine name over 255 bytes, more than 16 groups).
 */
int rpc_auth_sys_parse(
    const uint8_t *body, size_t len, struct rpc_auth_sys *out);

/*
 * rpc_auth_sys_build() - encode an AUTH_SYS call credential (for tests and
 * seeds), flavor and length included.
 */
void rpc_auth_sys_build(struct wcur *w, const struct rpc_auth_sys *a);

/*
 * rpc_call_build() - encode a call header with the given credential
 * (flavor and @cred_body of @cred_len bytes, borrowed) and an AUTH_NONE
 * verifier.  Arguments follow, written by the caller.
 */
void rpc_call_build(struct wcur *w, uint32_t xid, uint32_t prog, uint32_t vers,
    uint32_t proc, uint32_t cred_flavor, const void *cred_body,
    size_t cred_len);

/*
 * rpc_reply_build() - an accepted reply header with an AUTH_NONE verifier
 * and @stat.  For RPC_PROG_MISMATCH the low and high supported versions
 * follow (RFC 5531 §9).  Results, for RPC_SUCCESS, are the caller's.
 */
void rpc_reply_build(
    struct wcur *w, uint32_t xid, uint32_t stat, uint32_t lo, uint32_t hi);

/* rpc_reply_build_rpc_mismatch() - MSG_DENIED, RPC_MISMATCH 2..2. */
void rpc_reply_build_rpc_mismatch(struct wcur *w, uint32_t xid);

/* rpc_reply_build_auth_error() - MSG_DENIED, AUTH_ERROR with @why. */
void rpc_reply_build_auth_error(struct wcur *w, uint32_t xid, uint32_t why);

struct rpc_reply {
	uint32_t xid;
	uint32_t reply_stat; /* RPC_MSG_ACCEPTED or RPC_MSG_DENIED */
	uint32_t stat;       /* accept_stat or reject_stat */
	uint32_t lo, hi;     /* PROG_MISMATCH / RPC_MISMATCH range */
	uint32_t auth_stat;  /* for AUTH_ERROR */
	const uint8_t *res;  /* borrowed: results after SUCCESS */
	size_t res_len;
};

/*
 * rpc_reply_parse() - decode a reply header (for clients: tests and the
 * registration with an rpcbind that owns port 111).
 * Return: 0, -EBADMSG or -EPROTO (not a reply).
 */
int rpc_reply_parse(const uint8_t *buf, size_t len, struct rpc_reply *out);

/* --- TCP record marking (RFC 5531 §11) ----------------------------------- */

#define RPC_RM_LAST 0x80000000u

/*
 * The reassembler is a pure state machine: bytes in, whole records out.
 * It never reads a socket.  A record may span any number of fragments;
 * its total size is bounded by @max given at init, and a record that
 * would exceed it is refused before any of it is stored.  Memory follows
 * the bytes that arrived (rec_cap is at most twice rec_len, or
 * RPC_RM_MIN_ALLOC), never the length a fragment header announces.
 */
#define RPC_RM_MIN_ALLOC 512
enum rpc_rm_state {
	RPC_RM_HDR = 0, /* reading a 4-byte fragment header */
	RPC_RM_BODY,    /* reading fragment bytes */
	RPC_RM_DONE,    /* a whole record is in rec, waiting to be taken */
	RPC_RM_BROKEN,  /* a limit was hit; the connection must close */
};

struct rpc_rm {
	enum rpc_rm_state state;
	uint8_t hdr[4];
	size_t hdr_have;
	uint32_t frag_left;
	bool last;
	size_t max;
	uint8_t *rec; /* owned; the record being assembled */
	size_t rec_len, rec_cap;
};

/* rpc_rm_init() - records of at most @max bytes. */
void rpc_rm_init(struct rpc_rm *rm, size_t max);
void rpc_rm_fini(struct rpc_rm *rm);

/*
 * rpc_rm_feed() - push bytes in.
 * @data: borrowed, @len bytes; *@used gets how many were consumed.
 * Return: 1 when a record is complete (stop feeding, take it with
 * rpc_rm_take(), then feed the rest), 0 when all input was consumed
 * without completing one, -EMSGSIZE when a record goes over the maximum,
 * -ENOMEM.  After a negative return the reassembler stays broken.
 */
int rpc_rm_feed(
    struct rpc_rm *rm, const uint8_t *data, size_t len, size_t *used);

/*
 * rpc_rm_take() - hand over the complete record.
 * Return: owned bytes (free with free()), *@len set; NULL if none is
 * complete or the record is empty (then *@len is 0).
 */
uint8_t *rpc_rm_take(struct rpc_rm *rm, size_t *len);

/*
 * rpc_rm_in_record() - has a record begun (a byte of its first fragment
 * header or more) and not yet been completed?
 */
bool rpc_rm_in_record(const struct rpc_rm *rm);

/* rpc_rm_marker() - write the one-fragment marker for a @len-byte record. */
void rpc_rm_marker(uint8_t out[4], size_t len);

#endif
