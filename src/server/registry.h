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

struct registry_client {
	char name[REGISTRY_NAME_MAX];
	char serial[9]; /* 8 lowercase hex digits, or empty */
	uint8_t mac[6];
	bool has_mac;
	struct in_addr addr; /* 0 when the address comes from the pool */
	char hostname[REGISTRY_NAME_MAX];
	char image[REGISTRY_NAME_MAX];
	char boot_dir[PATH_MAX]; /* STATE/clients/NAME/boot */
	char root_dir[PATH_MAX]; /* STATE/clients/NAME/root */
};

struct registry {
	struct registry_client *clients; /* owned */
	size_t n;
};

/*
 * registry_parse_record() - parse one client.conf.
 * @text, @len: the file's bytes (borrowed).
 * @out: filled in; name, boot_dir and root_dir are left to the caller.
 * @msg: "line N: why" on failure.
 * Return: 0, or -EBADMSG for a malformed line or value.  Unknown keys are
 * ignored, so older servers read newer records.
 */
int registry_parse_record(const char *text, size_t len,
    struct registry_client *out, char *msg, size_t msglen);

/*
 * registry_load() - read every STATE/clients/NAME/client.conf.  A record
 * that does not parse is skipped and reported through @warn (called once
 * per bad record with a one-line reason), so one bad file cannot take the
 * whole fleet down.
 * Return: 0, or -errno when the clients directory exists but cannot be
 * read.  A missing directory is an empty registry.
 */
int registry_load(const char *state_dir, struct registry *out,
    void (*warn)(void *arg, const char *name, const char *why), void *arg);

void registry_fini(struct registry *r);

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
