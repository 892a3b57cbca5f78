#ifndef PNB_SERVER_DHCP_LEASE_H
#define PNB_SERVER_DHCP_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The address table of `--dhcp server`: one slot per pool address plus
 * one per reservation outside the pool, bindings found by MAC through a
 * hash.  Every address belongs to at most one MAC at a time, so no
 * address is ever handed to two clients.  A MAC keeps its address after
 * release or expiry until the pool needs it for someone else, so a Pi's
 * firmware, its kernel and its OS all see one address.
 *
 * Bindings persist in a log file: one text line per change, appended and
 * fdatasync'ed before the reply that depends on it leaves (the caller
 * calls dhcp_leases_sync()).  Restart replays the log; a torn last line
 * (kill -9 during write) is ignored, and it never belonged to a reply
 * that was sent.  When the log has grown to several times the live
 * bindings it is rewritten: temp file, fsync, rename, fsync of the
 * directory.
 */

enum dhcp_slot_state {
	DHCP_SLOT_FREE = 0, /* never used, or config changed */
	DHCP_SLOT_OFFERED,  /* held for a MAC until offer_until_ms */
	DHCP_SLOT_BOUND,    /* acknowledged (or offered to a ROM) */
	DHCP_SLOT_RELEASED, /* released or expired; MAC remembered */
	DHCP_SLOT_DECLINED, /* in use by someone else; quarantined */
};

struct dhcp_slot {
	uint32_t addr; /* host order */
	uint8_t mac[6];
	uint8_t state;
	bool has_mac;
	bool reserved;         /* pinned to mac by a reservation */
	bool neigh_pinned;     /* a permanent neighbour entry exists */
	bool tentative;        /* bound at OFFER, not yet seen in use */
	int32_t next;          /* hash chain by mac; -1 ends */
	uint64_t until_ms;     /* offer hold or quarantine end (monotonic) */
	int64_t expire_wall;   /* bound lease end, wall-clock seconds */
	uint64_t probed_ok_ms; /* last conflict check that found nobody */
};

/*
 * The calls of the log that fail for reasons outside our control (a full
 * or failing disk).  The default calls libc; tests install a table that
 * fails the Nth call, as sqlite's test VFS does.
 */
struct dhcp_lease_io {
	int (*fsync)(int fd);
	int (*fdatasync)(int fd);
};

struct dhcp_leases {
	uint32_t first;         /* first pool address, host order */
	uint32_t count;         /* pool size */
	struct dhcp_slot *slot; /* owned: count + extra */
	size_t nslot, cap;
	int32_t *bucket; /* owned */
	size_t nbucket;
	uint32_t cursor; /* round-robin allocation point */
	int fd;          /* log, -1 = in memory only */
	char *path;      /* owned; NULL = in memory only */
	size_t records, live;
	size_t tentative;  /* slots with the flag set, expired ones included */
	bool dirty;        /* appended since the last sync */
	bool dir_unsynced; /* a rename the directory has not made durable */
	const struct dhcp_lease_io *io; /* borrowed; set by init */
};

/* The largest pool: a bound on the table, checked at start. */
#define DHCP_POOL_MAX    65536
#define DHCP_RESERVE_MAX 4096

/*
 * dhcp_leases_init() - an empty table for the pool @first..@last (host
 * order).  @path (borrowed, copied): the lease log, or NULL to keep
 * leases in memory (fuzzing).  The log is replayed and reopened for
 * appending; its directory must exist.
 * @now_wall: wall-clock seconds, to drop expired bindings on load.
 * Return: 0, -EMSGSIZE for a pool over DHCP_POOL_MAX, -ENOMEM or -errno
 * from opening the log.
 */
int dhcp_leases_init(struct dhcp_leases *t, uint32_t first, uint32_t last,
    const char *path, int64_t now_wall);
void dhcp_leases_fini(struct dhcp_leases *t);

/* dhcp_leases_find_mac() - the slot bound to @mac, or NULL (borrowed). */
struct dhcp_slot *dhcp_leases_find_mac(
    struct dhcp_leases *t, const uint8_t mac[6]);
/* dhcp_leases_find_addr() - the slot of address @addr, or NULL. */
struct dhcp_slot *dhcp_leases_find_addr(struct dhcp_leases *t, uint32_t addr);

/*
 * dhcp_leases_alloc() - a slot for @mac that has none: a never-used pool
 * address first, then released or expired ones in round-robin order, and
 * when the pool is full of offers (a DISCOVER flood) the oldest offer
 * that nobody acknowledged.  Bound, reserved and quarantined addresses
 * are never taken.
 * Return: the slot now held by @mac (state left to the caller), or NULL
 * when every address is bound.
 */
struct dhcp_slot *dhcp_leases_alloc(struct dhcp_leases *t, const uint8_t mac[6],
    uint64_t now_ms, int64_t now_wall);

/*
 * dhcp_leases_take() - give slot @s to @mac, dropping any other slot the
 * MAC held and the slot's previous owner.
 */
void dhcp_leases_take(
    struct dhcp_leases *t, struct dhcp_slot *s, const uint8_t mac[6]);

/*
 * dhcp_leases_reserve() - pin @addr to @mac.  An address outside the pool
 * gets an extra slot.
 * Return: the slot, or NULL when DHCP_RESERVE_MAX extra slots are used.
 */
struct dhcp_slot *dhcp_leases_reserve(
    struct dhcp_leases *t, const uint8_t mac[6], uint32_t addr);

/*
 * dhcp_leases_bind() - mark @s bound until @expire_wall and append the
 * change to the log (not yet synced).
 * Return: 0 or -errno from write(); the binding stands in memory either
 * way, and the caller must not send the reply on failure.
 */
int dhcp_leases_bind(
    struct dhcp_leases *t, struct dhcp_slot *s, int64_t expire_wall);

/*
 * dhcp_leases_bind_tentative() - bind @s at OFFER time for a client that
 * never REQUESTs (a Pi 2/3 ROM, bootcode.bin) until @expire_wall, a short
 * time: until the client is seen using the address, when
 * dhcp_leases_bind() makes it a full lease.  Logged like any binding.
 * Return: as dhcp_leases_bind().
 */
int dhcp_leases_bind_tentative(
    struct dhcp_leases *t, struct dhcp_slot *s, int64_t expire_wall);

/*
 * dhcp_leases_expire_tentative() - end every on-offer binding that
 * expired by @now_wall unconfirmed, calling @fn(@arg, slot) first for
 * each.  The slot goes back to the pool, its MAC keeping a claim as after
 * any expiry.
 */
void dhcp_leases_expire_tentative(struct dhcp_leases *t, int64_t now_wall,
    void (*fn)(void *arg, struct dhcp_slot *s), void *arg);

/* dhcp_leases_free() - release or decline @s and log it. */
int dhcp_leases_free(struct dhcp_leases *t, struct dhcp_slot *s, uint8_t state);

/*
 * dhcp_leases_sync() - make every appended line durable (fdatasync, and
 * the directory when a compaction's rename is not yet durable), and
 * compact the log when it has grown.
 * Return: 0 when every line appended so far is durable, or -errno.
 */
int dhcp_leases_sync(struct dhcp_leases *t);

/* dhcp_slot_is_live() - bound and not expired at @now_wall. */
bool dhcp_slot_is_live(const struct dhcp_slot *s, int64_t now_wall);

#endif
