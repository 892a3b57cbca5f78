#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cfg.h"
#include "core/log.h"
#include "core/size.h"

enum cfg_type {
	CFG_T_PATH, /* char[PATH_MAX] */
	CFG_T_NAME, /* char[CFG_NAME_MAX] */
	CFG_T_ADDR, /* struct in_addr */
	CFG_T_U16,
	CFG_T_U32,
	CFG_T_BOOL,
	CFG_T_CUSTOM, /* handled by a setter */
};

struct cfg_key;
typedef int (*cfg_setter)(struct cfg *c, const struct cfg_key *k,
    const char *value, char *msg, size_t msglen);

struct cfg_key {
	const char *section;
	const char *key;
	enum cfg_type type;
	size_t off;
	uint32_t min, max; /* for numbers */
	cfg_setter set;
};

static void __attribute__((format(printf, 3, 4)))
cfg_msg(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	if (!msg || !msglen) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
}

static int
cfg_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9') {
		return -EINVAL;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max) {
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

static int
cfg_parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "on") || !strcmp(s, "yes") || !strcmp(s, "true") ||
	    !strcmp(s, "1")) {
		*out = true;
		return 0;
	}
	if (!strcmp(s, "off") || !strcmp(s, "no") || !strcmp(s, "false") ||
	    !strcmp(s, "0")) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

static int
cfg_copy_str(char *dst, size_t cap, const char *s)
{
	size_t n = strlen(s);

	if (n >= cap) {
		return -EINVAL;
	}
	memcpy(dst, s, n + 1);
	return 0;
}

static int
set_log_level(struct cfg *c, const struct cfg_key *k, const char *v, char *msg,
    size_t msglen)
{
	int lvl = log_parse_level(v);

	(void)k;
	if (lvl < 0) {
		cfg_msg(msg, msglen,
		    "'%s' is not a log level "
		    "(use err, warn, info or debug)",
		    v);
		return -EINVAL;
	}
	c->log_level = lvl;
	return 0;
}

static int
set_log_target(struct cfg *c, const struct cfg_key *k, const char *v, char *msg,
    size_t msglen)
{
	(void)k;
	if (!strcmp(v, "stderr")) {
		c->log_syslog = false;
	} else if (!strcmp(v, "syslog")) {
		c->log_syslog = true;
	} else {
		cfg_msg(msg, msglen,
		    "'%s' is not a log target "
		    "(use stderr or syslog)",
		    v);
		return -EINVAL;
	}
	return 0;
}

static int
set_http(struct cfg *c, const struct cfg_key *k, const char *v, char *msg,
    size_t msglen)
{
	const char *colon = strrchr(v, ':');
	char host[INET_ADDRSTRLEN];
	struct in_addr a;
	uint32_t port;

	(void)k;
	if (!strcmp(v, "off") || !*v) {
		c->http[0] = 0;
		return 0;
	}
	if (!colon || (size_t)(colon - v) >= sizeof(host) ||
	    cfg_parse_u32(colon + 1, 1, 65535, &port) < 0) {
		goto bad;
	}
	memcpy(host, v, (size_t)(colon - v));
	host[colon - v] = 0;
	if (inet_pton(AF_INET, host, &a) != 1) {
		goto bad;
	}
	return cfg_copy_str(c->http, sizeof(c->http), v);
bad:
	cfg_msg(msg, msglen,
	    "'%s' is not ADDR:PORT (for example "
	    "198.18.0.1:8080) or off",
	    v);
	return -EINVAL;
}

static int
set_dhcp_mode(struct cfg *c, const struct cfg_key *k, const char *v, char *msg,
    size_t msglen)
{
	(void)k;
	if (!strcmp(v, "off")) {
		c->dhcp_mode = CFG_DHCP_OFF;
	} else if (!strcmp(v, "proxy")) {
		c->dhcp_mode = CFG_DHCP_PROXY;
	} else if (!strcmp(v, "server")) {
		c->dhcp_mode = CFG_DHCP_SERVER;
	} else {
		cfg_msg(msg, msglen,
		    "'%s' is not a DHCP mode "
		    "(use off, proxy or server)",
		    v);
		return -EINVAL;
	}
	return 0;
}

static int
set_dhcp_range(struct cfg *c, const struct cfg_key *k, const char *v, char *msg,
    size_t msglen)
{
	const char *comma = strchr(v, ',');
	char first[INET_ADDRSTRLEN];

	(void)k;
	if (!comma || (size_t)(comma - v) >= sizeof(first)) {
		goto bad;
	}
	memcpy(first, v, (size_t)(comma - v));
	first[comma - v] = 0;
	if (inet_pton(AF_INET, first, &c->dhcp_range_start) != 1 ||
	    inet_pton(AF_INET, comma + 1, &c->dhcp_range_end) != 1) {
		goto bad;
	}
	if (ntohl(c->dhcp_range_start.s_addr) >
	    ntohl(c->dhcp_range_end.s_addr)) {
		cfg_msg(msg, msglen, "range '%s' ends before it starts", v);
		return -EINVAL;
	}
	return 0;
bad:
	cfg_msg(msg, msglen,
	    "'%s' is not a range FIRST,LAST of IPv4 "
	    "addresses",
	    v);
	return -EINVAL;
}

static int
set_dhcp_dns(struct cfg *c, const struct cfg_key *k, const char *v, char *msg,
    size_t msglen)
{
	char tmp[CFG_MAX_DNS * INET_ADDRSTRLEN + CFG_MAX_DNS];
	char *save = NULL, *tok;
	size_t n = 0;

	(void)k;
	if (cfg_copy_str(tmp, sizeof(tmp), v) < 0) {
		goto bad;
	}
	for (tok = strtok_r(tmp, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (n == CFG_MAX_DNS ||
		    inet_pton(AF_INET, tok, &c->dhcp_dns[n]) != 1) {
			goto bad;
		}
		n++;
	}
	c->dhcp_ndns = n;
	return 0;
bad:
	cfg_msg(msg, msglen,
	    "'%s' is not a list of at most %d IPv4 "
	    "addresses separated by commas",
	    v, CFG_MAX_DNS);
	return -EINVAL;
}

/* Architecture names accepted before '=' in boot_file (RFC 4578 §2.1). */
static const struct {
	const char *name;
	int arch;
} cfg_arch_names[] = {
    {"bios", 0},
    {"x86", 0},
    {"efi-ia32", 6},
    {"efi-x64", 7},
    {"x86-64", 7},
    {"efi-bc", 9},
    {"efi-arm32", 10},
    {"efi-arm64", 11},
    {"arm64", 11},
};

static int
set_dhcp_boot_file(struct cfg *c, const struct cfg_key *k, const char *v,
    char *msg, size_t msglen)
{
	const char *eq = strchr(v, '=');
	struct cfg_boot_file bf = {.arch = -1};
	const char *name = v;
	size_t i;

	(void)k;
	if (eq) {
		char arch[32];
		uint32_t num;

		if ((size_t)(eq - v) >= sizeof(arch)) {
			goto bad_arch;
		}
		memcpy(arch, v, (size_t)(eq - v));
		arch[eq - v] = 0;
		if (cfg_parse_u32(arch, 0, 65535, &num) == 0) {
			bf.arch = (int)num;
		} else {
			for (i = 0; i <
			     sizeof(cfg_arch_names) / sizeof(cfg_arch_names[0]);
			     i++) {
				if (!strcmp(arch, cfg_arch_names[i].name)) {
					bf.arch = cfg_arch_names[i].arch;
				}
			}
			if (bf.arch < 0) {
				goto bad_arch;
			}
		}
		name = eq + 1;
	}
	if (!*name || cfg_copy_str(bf.name, sizeof(bf.name), name) < 0) {
		cfg_msg(msg, msglen,
		    "boot file name '%s' is empty or longer "
		    "than %d bytes",
		    name, CFG_NAME_MAX - 1);
		return -EINVAL;
	}
	for (i = 0; i < c->dhcp_nboot_file; i++) {
		if (c->dhcp_boot_file[i].arch == bf.arch) {
			c->dhcp_boot_file[i] = bf;
			return 0;
		}
	}
	if (c->dhcp_nboot_file == CFG_MAX_BOOTFILE) {
		cfg_msg(
		    msg, msglen, "more than %d boot files", CFG_MAX_BOOTFILE);
		return -EINVAL;
	}
	c->dhcp_boot_file[c->dhcp_nboot_file++] = bf;
	return 0;
bad_arch:
	cfg_msg(msg, msglen,
	    "'%s': architecture before '=' must be a number "
	    "or one of bios, efi-ia32, efi-x64, efi-bc, efi-arm32, efi-arm64",
	    v);
	return -EINVAL;
}

static int
set_nfs_export(struct cfg *c, const struct cfg_key *k, const char *v, char *msg,
    size_t msglen)
{
	const char *colon = strchr(v, ':');
	struct cfg_export *e;
	size_t plen = colon ? (size_t)(colon - v) : strlen(v);

	(void)k;
	if (c->nfs_nexport == CFG_MAX_EXPORTS) {
		cfg_msg(msg, msglen, "more than %d exports", CFG_MAX_EXPORTS);
		return -EINVAL;
	}
	if (plen == 0 || v[0] != '/' || plen >= sizeof(e->path)) {
		cfg_msg(msg, msglen,
		    "export '%s' must be DIR[:OPTS] with an "
		    "absolute DIR",
		    v);
		return -EINVAL;
	}
	e = &c->nfs_export[c->nfs_nexport];
	memcpy(e->path, v, plen);
	e->path[plen] = 0;
	if (cfg_copy_str(e->opts, sizeof(e->opts), colon ? colon + 1 : "") <
	    0) {
		cfg_msg(msg, msglen, "export options of '%s' are too long", v);
		return -EINVAL;
	}
	c->nfs_nexport++;
	return 0;
}

static int
set_image_max_size(struct cfg *c, const struct cfg_key *k, const char *v,
    char *msg, size_t msglen)
{
	uint64_t n;

	(void)k;
	if (size_parse(v, &n) < 0 || n < (1u << 20)) {
		cfg_msg(msg, msglen,
		    "image.max_size: '%s' is not a size of at least 1M "
		    "(bytes, or with K, M, G, T: 64G)",
		    v);
		return -EINVAL;
	}
	c->image_max_size = n;
	return 0;
}

#define OFF(field) offsetof(struct cfg, field)

static const struct cfg_key cfg_keys[] = {
    {"server", "state_dir", CFG_T_PATH, OFF(state_dir), 0, 0, NULL},
    {"server", "address", CFG_T_ADDR, OFF(address), 0, 0, NULL},
    {"server", "interface", CFG_T_NAME, OFF(interface), 0, 0, NULL},
    {"server", "log_level", CFG_T_CUSTOM, 0, 0, 0, set_log_level},
    {"server", "log", CFG_T_CUSTOM, 0, 0, 0, set_log_target},
    {"server", "http", CFG_T_CUSTOM, 0, 0, 0, set_http},
    {"server", "http_token_file", CFG_T_PATH, OFF(http_token_file), 0, 0, NULL},
    {"server", "http_show_ids", CFG_T_BOOL, OFF(http_show_ids), 0, 0, NULL},

    {"dhcp", "mode", CFG_T_CUSTOM, 0, 0, 0, set_dhcp_mode},
    {"dhcp", "range", CFG_T_CUSTOM, 0, 0, 0, set_dhcp_range},
    {"dhcp", "netmask", CFG_T_ADDR, OFF(dhcp_netmask), 0, 0, NULL},
    {"dhcp", "router", CFG_T_ADDR, OFF(dhcp_router), 0, 0, NULL},
    {"dhcp", "dns", CFG_T_CUSTOM, 0, 0, 0, set_dhcp_dns},
    {"dhcp", "domain", CFG_T_NAME, OFF(dhcp_domain), 0, 0, NULL},
    {"dhcp", "lease_time", CFG_T_U32, OFF(dhcp_lease_s), 60, 31536000, NULL},
    {"dhcp", "boot_file", CFG_T_CUSTOM, 0, 0, 0, set_dhcp_boot_file},
    {"dhcp", "ipxe_script", CFG_T_NAME, OFF(dhcp_ipxe_script), 0, 0, NULL},
    {"dhcp", "port", CFG_T_U16, OFF(dhcp_port), 1, 65535, NULL},
    {"dhcp", "proxy_port", CFG_T_U16, OFF(dhcp_proxy_port), 1, 65535, NULL},
    {"dhcp", "pi_delay_ms", CFG_T_U32, OFF(dhcp_pi_delay_ms), 0, 2000, NULL},
    /* Reference §9 item 5: the 3B ROM's DHCP timer is about 1 s. */
    {"dhcp", "probe_ms", CFG_T_U32, OFF(dhcp_probe_ms), 0, 1000, NULL},
    {"dhcp", "proxy_window_s", CFG_T_U32, OFF(dhcp_proxy_window_s), 10, 3600,
	NULL},

    {"tftp", "enable", CFG_T_BOOL, OFF(tftp_enable), 0, 0, NULL},
    {"tftp", "root", CFG_T_PATH, OFF(tftp_root), 0, 0, NULL},
    {"tftp", "port", CFG_T_U16, OFF(tftp_port), 1, 65535, NULL},
    /* RFC 2348: blksize is 8..65464. */
    {"tftp", "blksize_max", CFG_T_U16, OFF(tftp_blksize_max), 8, 65464, NULL},
    {"tftp", "timeout_ms", CFG_T_U32, OFF(tftp_timeout_ms), 10, 255000, NULL},
    {"tftp", "retries", CFG_T_U32, OFF(tftp_retries), 1, 100, NULL},
    {"tftp", "max_transfers", CFG_T_U32, OFF(tftp_max_transfers), 1, 100000,
	NULL},
    {"tftp", "max_per_client", CFG_T_U32, OFF(tftp_max_per_client), 1, 100000,
	NULL},
    /* RFC 7440 allows 1..65535; more than 64 only floods a switch. */
    {"tftp", "windowsize_max", CFG_T_U16, OFF(tftp_windowsize_max), 1, 64,
	NULL},

    {"nfs", "enable", CFG_T_BOOL, OFF(nfs_enable), 0, 0, NULL},
    {"nfs", "export", CFG_T_CUSTOM, 0, 0, 0, set_nfs_export},
    {"nfs", "port", CFG_T_U16, OFF(nfs_port), 1, 65535, NULL},
    {"nfs", "mount_port", CFG_T_U16, OFF(nfs_mount_port), 0, 65535, NULL},
    {"nfs", "portmap_port", CFG_T_U16, OFF(nfs_portmap_port), 1, 65535, NULL},
    {"nfs", "max_connections", CFG_T_U32, OFF(nfs_max_conns), 1, 100000, NULL},
    {"nfs", "workers", CFG_T_U32, OFF(nfs_workers), 1, 64, NULL},

    {"image", "max_size", CFG_T_CUSTOM, 0, 0, 0, set_image_max_size},
};

void
cfg_defaults(struct cfg *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->state_dir, "/var/lib/pinetboot");
	c->address.s_addr = htonl(INADDR_ANY);
	c->log_level = LOG_LEVEL_INFO;
	c->dhcp_mode = CFG_DHCP_PROXY;
	c->dhcp_lease_s = 86400;
	c->dhcp_port = 67;
	c->dhcp_proxy_port = 4011;
	/*
	 * Reference §9 item 5: Raspberry Pi engineers recommend 2 s for
	 * BCM2837 ROMs (firmware#934, #859); 1 s was stable in one report.
	 */
	c->dhcp_pi_delay_ms = 2000;
	c->dhcp_probe_ms = 200;
	/*
	 * From the firmware's DISCOVER to the kernel's own DHCP: the kernel
	 * and initramfs over TFTP, then the kernel's start; minutes for a
	 * slow link or an emulated guest.
	 */
	c->dhcp_proxy_window_s = 300;
	c->tftp_enable = true;
	c->tftp_port = 69;
	/* 1468 + 4 + 8 + 20 = 1500: one Ethernet frame (reference §3.1). */
	c->tftp_blksize_max = 1468;
	c->tftp_timeout_ms = 200;
	c->tftp_retries = 11;
	c->tftp_max_transfers = 2000;
	c->tftp_max_per_client = 16;
	c->tftp_windowsize_max = 64;
	c->nfs_enable = true;
	c->nfs_port = 2049;
	c->nfs_portmap_port = 111;
	c->nfs_max_conns = 1024;
	c->nfs_workers = 4;
	c->image_max_size = CFG_IMAGE_MAX_SIZE_DEFAULT;
}

int
cfg_set(struct cfg *c, const char *section, const char *key, const char *value,
    char *msg, size_t msglen)
{
	const struct cfg_key *k = NULL;
	bool section_known = false;
	uint8_t *field;
	uint32_t num;
	size_t i;

	for (i = 0; i < sizeof(cfg_keys) / sizeof(cfg_keys[0]); i++) {
		if (strcmp(cfg_keys[i].section, section) != 0) {
			continue;
		}
		section_known = true;
		if (strcmp(cfg_keys[i].key, key) == 0) {
			k = &cfg_keys[i];
			break;
		}
	}
	if (!k) {
		if (section_known) {
			cfg_msg(msg, msglen, "unknown key '%s' in section [%s]",
			    key, section);
		} else {
			cfg_msg(msg, msglen, "unknown section [%s]", section);
		}
		return -ENOENT;
	}
	field = (uint8_t *)c + k->off;
	switch (k->type) {
	case CFG_T_PATH:
		if (value[0] != '/' ||
		    cfg_copy_str((char *)field, PATH_MAX, value) < 0) {
			cfg_msg(msg, msglen,
			    "%s.%s: '%s' is not an absolute "
			    "path",
			    section, key, value);
			return -EINVAL;
		}
		return 0;
	case CFG_T_NAME:
		if (cfg_copy_str((char *)field, CFG_NAME_MAX, value) < 0) {
			cfg_msg(msg, msglen,
			    "%s.%s: value longer than %d bytes", section, key,
			    CFG_NAME_MAX - 1);
			return -EINVAL;
		}
		return 0;
	case CFG_T_ADDR:
		if (inet_pton(AF_INET, value, field) != 1) {
			cfg_msg(msg, msglen,
			    "%s.%s: '%s' is not an IPv4 "
			    "address",
			    section, key, value);
			return -EINVAL;
		}
		return 0;
	case CFG_T_U16:
	case CFG_T_U32:
		if (cfg_parse_u32(value, k->min, k->max, &num) < 0) {
			cfg_msg(msg, msglen,
			    "%s.%s: '%s' is not a number from "
			    "%u to %u",
			    section, key, value, k->min, k->max);
			return -EINVAL;
		}
		if (k->type == CFG_T_U16) {
			uint16_t v16 = (uint16_t)num;

			memcpy(field, &v16, sizeof(v16));
		} else {
			memcpy(field, &num, sizeof(num));
		}
		return 0;
	case CFG_T_BOOL:
		if (cfg_parse_bool(value, (bool *)field) < 0) {
			cfg_msg(msg, msglen, "%s.%s: '%s' is not on or off",
			    section, key, value);
			return -EINVAL;
		}
		return 0;
	case CFG_T_CUSTOM:
		return k->set(c, k, value, msg, msglen);
	}
	return -EINVAL;
}

static bool
cfg_is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* Trim [*s, *e) of blanks on both sides. */
static void
cfg_trim(const char **s, const char **e)
{
	while (*s < *e && cfg_is_space(**s)) {
		(*s)++;
	}
	while (*e > *s && cfg_is_space((*e)[-1])) {
		(*e)--;
	}
}

/* Longest line we accept: paths are PATH_MAX and need a key in front. */
#define CFG_LINE_MAX (PATH_MAX + 512)

int
cfg_parse(struct cfg *c, const char *text, size_t len, char *msg, size_t msglen)
{
	char section[32] = "";
	char key[64], value[CFG_LINE_MAX], reason[512];
	const char *p = text, *end = text + len;
	unsigned lineno = 0;
	int r;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *s = p, *e = le, *hash, *eq, *ks, *ke, *vs, *ve;

		lineno++;
		p = nl ? nl + 1 : end;
		if (memchr(s, 0, (size_t)(e - s))) {
			cfg_msg(
			    msg, msglen, "line %u: NUL byte in line", lineno);
			return -EBADMSG;
		}
		hash = memchr(s, '#', (size_t)(e - s));
		if (hash) {
			e = hash;
		}
		cfg_trim(&s, &e);
		if (s == e) {
			continue;
		}
		if (*s == '[') {
			if (e[-1] != ']' || e - s - 2 <= 0 ||
			    (size_t)(e - s - 2) >= sizeof(section)) {
				cfg_msg(msg, msglen,
				    "line %u: a section is "
				    "written [name]",
				    lineno);
				return -EBADMSG;
			}
			memcpy(section, s + 1, (size_t)(e - s - 2));
			section[e - s - 2] = 0;
			continue;
		}
		eq = memchr(s, '=', (size_t)(e - s));
		if (!eq) {
			cfg_msg(msg, msglen, "line %u: expected key = value",
			    lineno);
			return -EBADMSG;
		}
		if (!section[0]) {
			cfg_msg(msg, msglen,
			    "line %u: key before any "
			    "[section]",
			    lineno);
			return -EBADMSG;
		}
		ks = s;
		ke = eq;
		vs = eq + 1;
		ve = e;
		cfg_trim(&ks, &ke);
		cfg_trim(&vs, &ve);
		if (ks == ke || (size_t)(ke - ks) >= sizeof(key) ||
		    (size_t)(ve - vs) >= sizeof(value)) {
			cfg_msg(msg, msglen,
			    "line %u: empty or over-long key "
			    "or value",
			    lineno);
			return -EBADMSG;
		}
		memcpy(key, ks, (size_t)(ke - ks));
		key[ke - ks] = 0;
		memcpy(value, vs, (size_t)(ve - vs));
		value[ve - vs] = 0;
		r = cfg_set(c, section, key, value, reason, sizeof(reason));
		if (r < 0) {
			cfg_msg(msg, msglen, "line %u: %s", lineno, reason);
			return r;
		}
	}
	return 0;
}

static bool
cfg_same_subnet(struct in_addr a, struct in_addr b, struct in_addr mask)
{
	return (a.s_addr & mask.s_addr) == (b.s_addr & mask.s_addr);
}

int
cfg_finish(struct cfg *c, char *msg, size_t msglen)
{
	if (!c->tftp_root[0]) {
		int n = snprintf(c->tftp_root, sizeof(c->tftp_root), "%s/tftp",
		    c->state_dir);

		if (n < 0 || (size_t)n >= sizeof(c->tftp_root)) {
			cfg_msg(msg, msglen, "state directory path too long");
			return -EINVAL;
		}
		c->tftp_root_default = true;
	}
	if (c->dhcp_mode == CFG_DHCP_SERVER) {
		if (!c->dhcp_range_start.s_addr) {
			cfg_msg(msg, msglen,
			    "--dhcp server needs an address "
			    "pool: set --dhcp-range FIRST,LAST");
			return -EINVAL;
		}
		if (!c->dhcp_netmask.s_addr) {
			c->dhcp_netmask.s_addr = htonl(0xffffff00u);
		}
		if (c->address.s_addr != htonl(INADDR_ANY) &&
		    (!cfg_same_subnet(
			 c->address, c->dhcp_range_start, c->dhcp_netmask) ||
			!cfg_same_subnet(
			    c->address, c->dhcp_range_end, c->dhcp_netmask))) {
			cfg_msg(msg, msglen,
			    "the DHCP range is not in the "
			    "subnet of --address with netmask %s: change "
			    "--dhcp-range or --dhcp-netmask",
			    inet_ntoa(c->dhcp_netmask));
			return -EINVAL;
		}
	}
	if (c->http_token_file[0] && !c->http[0]) {
		cfg_msg(msg, msglen,
		    "a token file (--http-token) protects the TCP status "
		    "port: give --http ADDR:PORT too, or drop the token");
		return -EINVAL;
	}
	if (!c->tftp_enable && !c->nfs_enable && c->dhcp_mode == CFG_DHCP_OFF &&
	    !c->http[0]) {
		cfg_msg(msg, msglen,
		    "every service is off: enable at least "
		    "one of --dhcp, --tftp, --nfs, --http");
		return -EINVAL;
	}
	return 0;
}

const char *
cfg_dhcp_mode_name(enum cfg_dhcp_mode m)
{
	switch (m) {
	case CFG_DHCP_OFF:
		return "off";
	case CFG_DHCP_PROXY:
		return "proxy";
	case CFG_DHCP_SERVER:
		return "server";
	}
	return "?";
}
