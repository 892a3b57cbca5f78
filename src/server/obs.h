#ifndef PNB_SERVER_OBS_H
#define PNB_SERVER_OBS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/*
 * Observability: what happened to each client, and counters for metrics.
 *
 * Every service reports events here with the client's MAC when it knows
 * it (DHCP) or only its IPv4 address (TFTP, NFS); DHCP binds addresses to
 * MACs, so later TFTP and NFS events land on the right client.  Each client
 * keeps the timeline of its current boot in a bounded ring, so a flood of
 * strangers costs at most max_clients entries: the least recently seen
 * client that is not provisioned is evicted first.
 *
 * A boot starts at the first DHCP request after the client's root was
 * mounted (or after a quiet minute) and ends when its NFS root is mounted.
 */

enum obs_phase {
	OBS_DHCP = 0,
	OBS_TFTP,
	OBS_NFS,
	OBS_NPHASES,
};

enum obs_level {
	OBS_OK = 0, /* a step that worked */
	OBS_INFO,   /* worth showing, not a problem (a harmless miss) */
	OBS_WARN,   /* may explain a failed boot */
	OBS_ERROR,  /* a step that failed */
};

enum obs_state {
	OBS_STATE_DISCOVERED = 0, /* seen, not provisioned */
	OBS_STATE_IDLE,           /* provisioned, not seen this run */
	OBS_STATE_DHCP,
	OBS_STATE_TFTP,
	OBS_STATE_NFS, /* root mounted: booted */
	OBS_STATE_FAILED,
};

#define OBS_TEXT_MAX   160
#define OBS_EVENTS_MAX 256 /* per provisioned client and boot */
/*
 * Strangers (DISCOVERs from MACs no client record names) get a short
 * timeline: a flood of forged DISCOVERs must not cost 256 events each.
 */
#define OBS_STRANGER_EVENTS_MAX 16

struct obs_event {
	int64_t wall_ms;
	enum obs_phase phase;
	enum obs_level level;
	char what[32]; /* "discover", "offer", "file", "mount" */
	char detail[OBS_TEXT_MAX];
};

struct obs_client {
	uint8_t mac[6];
	bool has_mac;
	struct in_addr ip;
	char name[64];   /* provisioned name; empty for strangers */
	char serial[16]; /* 8 hex digits from option 97, or empty */
	char model[32];  /* model guessed from the request */
	enum obs_state state;
	int64_t first_seen_ms, last_seen_ms;
	int64_t boot_start_ms, boot_done_ms; /* 0 when not reached */
	char last_error[OBS_TEXT_MAX + 48];
	/* Layered and volatile clients: "IMAGE@V" it boots, and what the
	 * daemon last wrote of its rollout (docs/fleet.md); else empty. */
	char version[96];
	char rollout_state[16];
	char rollback_reason[OBS_TEXT_MAX];
	unsigned boots;
	/*
	 * The current boot's events, oldest first; grown on demand up to
	 * the limit, then the last one is overwritten so the start of the
	 * boot stays visible.
	 */
	struct obs_event *events;
	size_t nevents, events_cap;
};

/* Counters exported as Prometheus metrics. */
struct obs_counters {
	uint64_t dhcp_requests, dhcp_replies, dhcp_dropped;
	uint64_t tftp_transfers, tftp_bytes, tftp_errors, tftp_misses;
	uint64_t nfs_mounts, nfs_mount_refused;
};

#define OBS_NFS_PROCS 22

struct obs {
	struct obs_client *clients; /* owned */
	size_t nclients, max_clients;
	struct obs_counters c;
	uint64_t nfs_ops[OBS_NFS_PROCS];
	uint64_t nfs_op_us[OBS_NFS_PROCS]; /* summed latency */
	int64_t started_ms;
};

/*
 * obs_new() - an empty store for at most @max_clients clients.
 * Return: owned (free with obs_free()), or NULL on ENOMEM.
 */
struct obs *obs_new(size_t max_clients, int64_t now_ms);
void obs_free(struct obs *o);

/*
 * obs_find_mac(), obs_find_ip() - the client with that MAC / address.
 * Return: borrowed, or NULL.
 */
struct obs_client *obs_find_mac(struct obs *o, const uint8_t mac[6]);
struct obs_client *obs_find_ip(struct obs *o, struct in_addr ip);
struct obs_client *obs_find_name(struct obs *o, const char *name);

/*
 * obs_provision() - declare a provisioned client (from the registry) so it
 * is listed before it is seen.  @serial may be NULL or empty.
 * Return: borrowed client, or NULL when the store is full of other
 * provisioned clients.
 */
struct obs_client *obs_provision(struct obs *o, const char *name,
    const uint8_t mac[6], const char *serial, struct in_addr ip);

/*
 * obs_set_version() - what provisioned client @name boots (@version,
 * "IMAGE@V") and its rollout's state and reason (may be empty), for the
 * status view.
 */
void obs_set_version(struct obs *o, const char *name, const char *version,
    const char *rollout_state, const char *rollback_reason);

/* obs_forget_provisioned() - drop every provisioned mark (before reload). */
void obs_forget_provisioned(struct obs *o);

/*
 * obs_dhcp_seen() - a DHCP request from @mac.  Starts a new boot when the
 * last one finished or went quiet.  @serial and @model may be NULL.
 * Return: borrowed client, or NULL if the store is full and nothing can be
 * evicted.
 */
struct obs_client *obs_dhcp_seen(struct obs *o, const uint8_t mac[6],
    const char *serial, const char *model, int64_t now_ms);

/* obs_bind_ip() - @ip now belongs to @mac (from a lease or reply). */
void obs_bind_ip(struct obs *o, const uint8_t mac[6], struct in_addr ip);
/* obs_bind_ip_name() - @ip belongs to the provisioned client @name. */
void obs_bind_ip_name(struct obs *o, const char *name, struct in_addr ip);

/*
 * obs_event() - append an event to the client's timeline: @mac if not NULL,
 * else the client bound to @ip (one is created for an unknown address).
 * Also moves the client's state forward (phase, failure, boot done when
 * @phase is NFS and @what is "mount" at OBS_OK).
 */
void obs_event(struct obs *o, const uint8_t *mac, struct in_addr ip,
    int64_t now_ms, enum obs_phase phase, enum obs_level level,
    const char *what, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

/* obs_event_to() - the same, for client @c (borrowed, from obs_find_*()). */
void obs_event_to(struct obs_client *c, int64_t now_ms, enum obs_phase phase,
    enum obs_level level, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* obs_nfs_op() - count one NFS procedure call and its latency. */
void obs_nfs_op(struct obs *o, unsigned proc, uint64_t us);

const char *obs_state_name(enum obs_state s);
const char *obs_phase_name(enum obs_phase p);
const char *obs_level_name(enum obs_level l);

/*
 * Renderings of the store.  Each appends to @out and returns 0 or the
 * buf_add() error.  @name selects one client (NULL: all).  @hide_ids
 * leaves out MACs and serials, in their fields and in event details
 * (obs_hide_ids()), and the provisioning hints built from them: for
 * readers on the network, who need no hardware ids to watch boots.
 */
int obs_render_json(const struct obs *o, const char *name, bool hide_ids,
    int64_t now_ms, struct buf *out);
int obs_render_text(const struct obs *o, const char *name, bool hide_ids,
    int64_t now_ms, struct buf *out);

/*
 * The same in steps, so that no request holds the event loop for long
 * (the HTTP side renders one step per wake-up as the socket drains).
 * Set name, hide_ids and now_ms, zero the rest, and call a step function
 * until it returns 1.  Each step appends one client more than @budget
 * bytes at most.  The store may change between steps: a client evicted
 * or moved meanwhile may be left out or shown twice, but the output
 * stays well-formed.
 */
struct obs_render {
	const char *name; /* one client (borrowed), or NULL for all */
	bool hide_ids;
	int64_t now_ms;
	/* progress */
	int stage;
	size_t next, shown;
};

/*
 * Return: 1 when the rendering is complete, 0 when there is more, or the
 * buf_add() error; the text of one @name that matches no client is
 * -ENOENT.
 */
int obs_render_json_step(
    const struct obs *o, struct obs_render *st, size_t budget, struct buf *out);
int obs_render_text_step(
    const struct obs *o, struct obs_render *st, size_t budget, struct buf *out);
int obs_render_metrics(const struct obs *o, int64_t now_ms, struct buf *out);

/*
 * obs_hide_ids() - @src with every MAC (colons or dashes) and every serial
 * (eight hex digits starting a path, as a TFTP prefix, or after
 * "serial=") masked, into @dst (@cap bytes, always terminated).
 */
void obs_hide_ids(char *dst, size_t cap, const char *src);

/* obs_format_mac() - "dc:a6:32:01:36:c2" into @dst (18 bytes). */
char *obs_format_mac(char *dst, const uint8_t mac[6]);

#endif
