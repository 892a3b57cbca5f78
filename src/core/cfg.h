#ifndef PNB_CORE_CFG_H
#define PNB_CORE_CFG_H

#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The configuration of `pinetboot serve`.  One INI-like format:
 * [section], key = value, # comments.  The command line sets the same keys
 * (see cli), so there is one parser for values.  A config is filled in,
 * validated whole with cfg_finish(), then treated as read-only; SIGHUP
 * builds a new one and swaps it in only if it validates.
 */

enum cfg_dhcp_mode {
	CFG_DHCP_OFF = 0,
	CFG_DHCP_PROXY,
	CFG_DHCP_SERVER,
};

#define CFG_NAME_MAX     128 /* boot file names, domain, interface */
#define CFG_MAX_DNS      4
#define CFG_MAX_BOOTFILE 8
#define CFG_MAX_EXPORTS  32

/*
 * The most an image import writes by default: the decompressed disk,
 * and the files extracted from it.  Raspberry Pi OS images are 3 to 12
 * GiB uncompressed; a block device read as an image (an SD card) holds
 * what its owner put on it, so leave room.
 */
#define CFG_IMAGE_MAX_SIZE_DEFAULT (64ull << 30)

/* PXE client architecture (RFC 4578 option 93) to boot file name. */
struct cfg_boot_file {
	int arch; /* -1: every architecture without its own entry */
	char name[CFG_NAME_MAX];
};

/* Room for the options of a layered export, which name its layers. */
#define CFG_EXPORT_OPTS_MAX 4096

struct cfg_export {
	char path[PATH_MAX];
	/* "rw,allow=198.18.0.0/24,root_squash"; nfs parses */
	char opts[CFG_EXPORT_OPTS_MAX];
};

struct cfg {
	/* [server] */
	char state_dir[PATH_MAX];
	struct in_addr address; /* INADDR_ANY when not given */
	char interface[CFG_NAME_MAX];
	int log_level;
	bool log_syslog;
	char http[64]; /* ADDR:PORT, empty = off */
	/* A read token for the TCP status port; empty = none. */
	char http_token_file[PATH_MAX];
	bool http_show_ids; /* MACs and serials on the TCP port too */

	/* [dhcp] */
	enum cfg_dhcp_mode dhcp_mode;
	struct in_addr dhcp_range_start, dhcp_range_end;
	struct in_addr dhcp_netmask, dhcp_router;
	struct in_addr dhcp_dns[CFG_MAX_DNS];
	size_t dhcp_ndns;
	char dhcp_domain[CFG_NAME_MAX];
	uint32_t dhcp_lease_s;
	struct cfg_boot_file dhcp_boot_file[CFG_MAX_BOOTFILE];
	size_t dhcp_nboot_file;
	char dhcp_ipxe_script[CFG_NAME_MAX];
	uint16_t dhcp_port;        /* 67 */
	uint16_t dhcp_proxy_port;  /* 4011 */
	uint32_t dhcp_pi_delay_ms; /* reply delay for BCM2837 Pis */
	uint32_t dhcp_probe_ms;    /* ARP conflict check wait, 0 = off */
	/* Proxy mode: how long a boot pinetboot answered may move exports. */
	uint32_t dhcp_proxy_window_s;

	/* [tftp] */
	bool tftp_enable;
	char tftp_root[PATH_MAX];
	bool tftp_root_default; /* derived from state_dir: created at start */
	uint16_t tftp_port;
	uint16_t tftp_blksize_max;
	uint32_t tftp_timeout_ms; /* first retransmit timeout */
	uint32_t tftp_retries;
	uint32_t tftp_max_transfers;
	uint32_t tftp_max_per_client; /* transfers from one address */
	uint16_t tftp_windowsize_max;

	/* [nfs] */
	bool nfs_enable;
	struct cfg_export nfs_export[CFG_MAX_EXPORTS];
	size_t nfs_nexport;
	uint16_t nfs_port;         /* 2049 */
	uint16_t nfs_mount_port;   /* MOUNT; 0 = any */
	uint16_t nfs_portmap_port; /* 111 */
	uint32_t nfs_max_conns;
	uint32_t nfs_workers;

	/* [image]: read by `pinetboot image import`, not by serve */
	uint64_t image_max_size; /* bytes an import may write, per stage */
};

/* cfg_defaults() - fill @c with the built-in defaults. */
void cfg_defaults(struct cfg *c);

/*
 * cfg_set() - set one key from its text value.
 * @msg: gets a one-line reason on failure (borrowed, @msglen bytes).
 * Return: 0, -ENOENT for an unknown section or key, -EINVAL for a bad value.
 */
int cfg_set(struct cfg *c, const char *section, const char *key,
    const char *value, char *msg, size_t msglen);

/*
 * cfg_parse() - apply a config file's text to @c.
 * @text: borrowed, @len bytes, need not be NUL-terminated.
 * @msg: on failure gets "line N: reason".
 * Return: 0, -EBADMSG for a syntax error, or cfg_set()'s codes.
 */
int cfg_parse(
    struct cfg *c, const char *text, size_t len, char *msg, size_t msglen);

/*
 * cfg_finish() - derive what was left to defaults (tftp root below the
 * state directory) and check the whole config for consistency.
 * Return: 0 or -EINVAL with @msg saying what to change.
 */
int cfg_finish(struct cfg *c, char *msg, size_t msglen);

/* cfg_dhcp_mode_name() - "off", "proxy" or "server". */
const char *cfg_dhcp_mode_name(enum cfg_dhcp_mode m);

#endif
