#ifndef PNB_SERVER_REGISTRY_H
#define PNB_SERVER_REGISTRY_H

#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The client registry: one directory per provisioned client,
 * STATE/clients/NAME/ with boot/, root/ and client.conf, a key = value
 * record written by `pinetboot client add` (docs/provisioning.md).  The
 * daemon reads it at start, on SIGHUP and whenever the clients directory
 * changes, and feeds it to every service: DHCP reservations, the TFTP
 * prefix map and the NFS exports.
 */
#define REGISTRY_NAME_MAX 64
#define REGISTRY_MAX      4096 /* clients; more are refused with a log line */
/* Version layers under a layered client (the layer library's limit). */
#define REGISTRY_LAYERS_MAX 15
/* Image versions a record may name (as `image` keeps them). */
#define REGISTRY_VERSION_MAX 100000u
/* A rollout id: IMAGE@V-YYYYMMDDTHHMMSSZ. */
#define REGISTRY_ROLLOUT_MAX (REGISTRY_NAME_MAX + 32)
/* The longest --health-timeout (a day). */
#define REGISTRY_HEALTH_MAX 86400u

/* How a client's root is kept (client.conf root_mode; docs/fleet.md). */
enum registry_root_mode {
	REGISTRY_ROOT_COPY,     /* its own trees, boot/ and root/ */
	REGISTRY_ROOT_LAYERED,  /* a client layer over an image version */
	REGISTRY_ROOT_VOLATILE, /* the same, emptied at each boot */
};

struct registry_client {
	char name[REGISTRY_NAME_MAX];
	char serial[9]; /* 8 lowercase hex digits, or empty */
	uint8_t mac[6];
	bool has_mac;
	struct in_addr addr; /* 0 when the address comes from the pool */
	char hostname[REGISTRY_NAME_MAX];
	char image[REGISTRY_NAME_MAX];
	/*
	 * STATE/clients/NAME/boot and .../root: the trees of a copy, the
	 * export names (served merged) of a layered client.
	 */
	char boot_dir[PATH_MAX];
	char root_dir[PATH_MAX];
	enum registry_root_mode root_mode;
	/* Layered and volatile: the image version it boots, and the version
	 * numbers of its layer stack, top first, down to a base. */
	unsigned version;
	unsigned layers[REGISTRY_LAYERS_MAX];
	size_t nlayers;
	/*
	 * A move the CLI recorded and the daemon makes at the client's next
	 * boot, and the rollout it belongs to (docs/fleet.md, Versions,
	 * moves and rebase).  0 or empty when absent.
	 */
	unsigned next_version, previous_version;
	char rollout[REGISTRY_ROLLOUT_MAX]; /* the rollout's id */
	bool canary;                        /* rollout_role = canary */
	unsigned health_timeout;            /* seconds */
	/* What the daemon wrote: "moved", "healthy", "failed", ... */
	char rollout_state[16];
	char rollback_reason[160]; /* why it went back or halted */
	int64_t moved_at;          /* Unix seconds of the last move, 0: none */
};

struct registry {
	struct registry_client *clients; /* owned */
	size_t n;
};

/*
 * registry_parse_record() - parse one client.conf.
 * @text, @len: the file's bytes (borrowed).
 * @out: filled in; name, boot_dir, root_dir and the layers of a layered
 * client are left to the caller.
 * @msg: "line N: why" on failure.
 * Return: 0, or -EBADMSG for a malformed line or value.  Unknown keys are
 * ignored, so older servers read newer records.
 */
int registry_parse_record(const char *text, size_t len,
    struct registry_client *out, char *msg, size_t msglen);

/*
 * registry_version_layers() - the layer stack of version @version of
 * image @image under @state_dir, top first: the version, then the parent
 * each STATE/images/IMAGE/v/N/version.conf names (kind = delta, parent =
 * M), down to a base (kind = base, the default).
 * Return: the number of layers (into @out, @cap entries), or -ENOENT (no
 * such version), -EBADMSG (a damaged record, a parent that does not fall,
 * or more than @cap layers) with @msg saying which.
 */
int registry_version_layers(const char *state_dir, const char *image,
    unsigned version, unsigned *out, size_t cap, char *msg, size_t msglen);

/*
 * registry_load() - read every STATE/clients/NAME/client.conf.  A record
 * that does not parse, or a layered one whose version stack cannot be
 * read, is skipped and reported through @warn (called once per bad
 * record with a one-line reason), so one bad file cannot take the whole
 * fleet down.
 * Return: 0, or -errno when the clients directory exists but cannot be
 * read.  A missing directory is an empty registry.
 */
int registry_load(const char *state_dir, struct registry *out,
    void (*warn)(void *arg, const char *name, const char *why), void *arg);

void registry_fini(struct registry *r);

/*
 * registry_record_current() - client @rc's record on disk still says
 * what @rc says of its root mode, image, versions, rollout and moves (a
 * record rewritten inside its directory, as `client set` and `image
 * rollout` do, is not seen by the daemon's watch).  A record that cannot
 * be read is not current.
 */
bool registry_record_current(
    const char *state_dir, const struct registry_client *rc);

/*
 * registry_find_prefix() - the client a TFTP directory prefix names: eight
 * hex digits of a serial (any case) or a MAC written dc-a6-32-01-36-c2.
 * Return: borrowed, or NULL.
 */
const struct registry_client *registry_find_prefix(
    const struct registry *r, const char *prefix, size_t len);

/* registry_find_mac() - the client with @mac; borrowed, or NULL. */
const struct registry_client *registry_find_mac(
    const struct registry *r, const uint8_t mac[6]);

/* registry_parse_mac() - "dc:a6:32:01:36:c2" or with dashes; 0 or -EINVAL. */
int registry_parse_mac(const char *s, size_t len, uint8_t mac[6]);

#endif
