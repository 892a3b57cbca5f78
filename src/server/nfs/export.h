#ifndef PNB_SERVER_NFS_EXPORT_H
#define PNB_SERVER_NFS_EXPORT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/nfs3/nfs3.h"

/*
 * The export table and the file handles that point into it.
 *
 * An export is a directory opened once (O_PATH) plus who may mount it.
 * Handles are built from name_to_handle_at(2), so they survive a restart
 * of pinetboot, and carry the export id (a hash of the export path) and a
 * 64-bit SipHash-2-4 tag keyed with a secret kept in the state directory.
 * A forged or altered handle fails the tag and gets NFS3ERR_BADHANDLE
 * before open_by_handle_at(2) ever sees it; one whose export is gone or
 * whose file was deleted gets NFS3ERR_STALE.  Because only handles this
 * server issued pass, and lookups resolve with RESOLVE_BENEATH, no handle
 * reaches a file outside its export.
 *
 * The table is shared by the event loop (MOUNT, the client registry) and
 * the NFS worker threads.  A version of it is never changed once
 * published: a change builds a new table and swaps the pointer, and each
 * reader holds a reference to the version it started with for the whole
 * call (read-copy-update, with reference counts instead of grace
 * periods).  So the loop thread, which makes the changes, never waits for
 * a worker inside a slow call, and a worker never waits for a change; a
 * mutex is held only to swap the pointer or to take a reference.  An
 * export withdrawn stays open until the last call that began before its
 * withdrawal ends; calls that begin after it get NFS3ERR_STALE.
 */

#define NFS_EXPORT_MAX 256
#define NFS_ALLOW_MAX  8
#define NFS_KEY_SIZE   16
/*
 * Kernel handle bytes an NFS handle can carry (see export.c): 44 in a
 * plain export's handle, 36 in a layered one's, which also carries the
 * stack's verifier.
 */
#define NFS_FH_KMAX       44
#define NFS_FH_KMAX_LAYER 36
#define NFS_FH_VERF       8

struct nfs_fs;
struct lstack;

/* The part of a handle that names an object in its export. */
struct nfs_fh_key {
	uint8_t kind;              /* 0: plain; else the layer kind (layer.h) */
	uint8_t len;               /* bytes in h */
	int32_t type;              /* kernel handle type */
	uint8_t verf[NFS_FH_VERF]; /* layered: the stack's verifier */
	uint8_t h[NFS_FH_KMAX];
};

struct nfs_cidr {
	struct in_addr net, mask;
};

struct nfs_export {
	const struct nfs_fs *fs; /* the file system behind it (fs.h) */
	uint32_t id;             /* in every handle: hash of path */
	char path[4096];         /* absolute, as configured */
	int root_fd; /* owned, O_RDONLY|O_DIRECTORY: open_by_handle_at wants a
			real fd; -1 for a layered export */
	struct lstack *stack; /* layered: a reference; NULL for plain */
	dev_t dev;
	ino_t ino;
	bool ro, root_squash;
	bool insecure; /* calls from ports >= 1024 too (knfsd's option) */
	struct nfs_cidr allow[NFS_ALLOW_MAX];
	size_t nallow;
	char groups[NFS_ALLOW_MAX][32]; /* "198.18.0.0/24" for EXPORT */
	uint64_t fsid;
	bool per_client;  /* added by the client registry */
	atomic_uint refs; /* tables that hold it */
};

/* One published version of the table; see above. */
struct nfs_export_table {
	atomic_uint refs;
	size_t n;
	struct nfs_export *e[NFS_EXPORT_MAX]; /* each counted in its refs */
};

struct nfs_exports {
	pthread_mutex_t mu;  /* held to load cur and reference it, or swap it */
	pthread_mutex_t wmu; /* serialises changes */
	struct nfs_export_table *cur; /* a counted reference */
	uint8_t key[NFS_KEY_SIZE];
	uint8_t write_verf[NFS3_VERF_SIZE]; /* new on every start */
	uint8_t dir_verf[NFS3_VERF_SIZE];   /* READDIR cookie verifier */
};

/*
 * nfs_exports_init() - an empty table with handle key @key (borrowed,
 * NFS_KEY_SIZE bytes) and a fresh write verifier.
 * Return: 0 or -errno.
 */
int nfs_exports_init(struct nfs_exports *ex, const uint8_t *key);
void nfs_exports_fini(struct nfs_exports *ex);

/*
 * nfs_key_load() - read the handle key from @path, or create it (0600,
 * random) when absent.
 * Return: 0, or -errno when it can be neither read nor created (the
 * caller then uses a random key and warns that handles will not survive a
 * restart).
 */
int nfs_key_load(const char *path, uint8_t *key);

/*
 * nfs_exports_get() - the current table, with a reference: exports found
 * in it stay valid until nfs_exports_put().  Never waits for a change.
 */
const struct nfs_export_table *nfs_exports_get(struct nfs_exports *ex);
void nfs_exports_put(const struct nfs_export_table *t);

/* nfs_exports_count() - how many exports the current table has. */
size_t nfs_exports_count(struct nfs_exports *ex);

/*
 * nfs_exports_add() - export @path with @opts ("rw", "ro",
 * "allow=CIDR" (repeatable), "root_squash", "insecure", comma-separated).
 * Without an allow= the export is open to @def (the server's own subnet).
 * With "lower=DIR" (repeatable, top first) and optionally "upper=DIR"
 * and "work=DIR" (as overlayfs names them) @path is only a name: the
 * export is the merged tree of those layers (src/layer), read-only
 * without upper=.
 * @msg: on failure, what is wrong.
 * Return: the export id (>0 as int64) or -EINVAL (bad options), -EEXIST
 * (path already exported), -ENOSPC (table full), -errno (path cannot be
 * opened, or is not a directory: -ENOTDIR; a layer cannot be opened).
 */
int64_t nfs_exports_add(struct nfs_exports *ex, const char *path,
    const char *opts, const struct nfs_cidr *def, char *msg, size_t msglen);

/*
 * nfs_exports_add_client() - the client registry's entry point: export
 * @path read-write, without root squashing, to @client alone.
 * Return: as nfs_exports_add().
 */
int64_t nfs_exports_add_client(
    struct nfs_exports *ex, const char *path, struct in_addr client);

/*
 * nfs_exports_add_layered() - as nfs_exports_add_client(), for a layered
 * client: the export named @name is the merged tree of @stack, of which
 * it takes a reference.
 * Return: as nfs_exports_add().
 */
int64_t nfs_exports_add_layered(struct nfs_exports *ex, const char *name,
    struct lstack *stack, struct in_addr client);

/*
 * nfs_exports_del() - withdraw export @id; handles into it become
 * NFS3ERR_STALE from the next call on.
 * Return: 0 or -ENOENT.
 */
int nfs_exports_del(struct nfs_exports *ex, uint32_t id);

/*
 * nfs_export_find() - the export of table @t (borrowed, referenced by the
 * caller) with @id, or with exactly @path when @path is non-NULL.
 */
struct nfs_export *nfs_export_find(
    const struct nfs_export_table *t, uint32_t id, const char *path);

/*
 * nfs_export_find_for_mount() - the export of @t containing @dir (the
 * export itself or a directory below it); *@rest gets the part of @dir
 * below the export path ("" for the export itself).
 */
struct nfs_export *nfs_export_find_for_mount(
    const struct nfs_export_table *t, const char *dir, const char **rest);

bool nfs_export_allows(const struct nfs_export *e, struct in_addr peer);

/* nfs_cidr_contains() - is @a in @c? */
bool nfs_cidr_contains(const struct nfs_cidr *c, struct in_addr a);

/*
 * nfs_export_port_ok() - may a call from source port @port (host order)
 * use @e?  Only reserved ports (below 1024, which only root can bind)
 * unless the export is "insecure", as knfsd's default "secure": so an
 * unprivileged process on an allowed host cannot claim uid 0 in AUTH_SYS.
 */
bool nfs_export_port_ok(const struct nfs_export *e, uint16_t port);

/* nfs_cidr_parse() - "A.B.C.D/N" or "A.B.C.D"; 0 or -EINVAL. */
int nfs_cidr_parse(const char *s, struct nfs_cidr *out);

/*
 * nfs_fh_seal() - the NFS handle of @k (borrowed) in export @e: the
 * export id, the key's kind and the key (with the stack verifier of a
 * layered export) under a SipHash tag.
 * Return: 0, or -EOVERFLOW when the key does not fit in 64 bytes.
 */
int nfs_fh_seal(const struct nfs_exports *ex, const struct nfs_export *e,
    const struct nfs_fh_key *k, struct nfs3_fh *out);

/*
 * nfs_fh_unseal() - check @fh and find its export among those of @t
 * (referenced by the caller): *@e (borrowed from @t) and *@k, for the
 * export's backend to open.
 * Return: 0, -EBADMSG (malformed or tag mismatch: NFS3ERR_BADHANDLE),
 * -ESTALE (the export is gone).
 */
int nfs_fh_unseal(const struct nfs_exports *ex,
    const struct nfs_export_table *t, const struct nfs3_fh *fh,
    struct nfs_export **e, struct nfs_fh_key *k);

/*
 * nfs_fh_build() - the handle of the file open at @fd (any kind, O_PATH
 * is fine) in plain export @e.
 * Return: 0, -EOVERFLOW when the file system's handle is too large for
 * 64 bytes, or -errno from name_to_handle_at.
 */
int nfs_fh_build(const struct nfs_exports *ex, const struct nfs_export *e,
    int fd, struct nfs3_fh *out);

/*
 * nfs_siphash() - SipHash-2-4 of @len bytes at @p with a 16-byte key
 * (Aumasson and Bernstein, 2012).
 */
uint64_t nfs_siphash(const uint8_t *key, const void *p, size_t len);

#endif
