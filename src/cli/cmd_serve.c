#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/cfg.h"
#include "server/serve.h"

/*
 * Every serve option but --config sets a config key, so the command line
 * and the config file share one parser for values.
 */
struct serve_opt {
	const char *name;
	const char *section, *key;
	const char *arg, *help;
};

static const struct serve_opt serve_opts[] = {
    {"state-dir", "server", "state_dir", "DIR",
	"state directory (default /var/lib/pinetboot)"},
    {"address", "server", "address", "IP",
	"address to bind and advertise (default: of --interface)"},
    {"interface", "server", "interface", "IF",
	"interface to serve on (default: of the default route)"},
    {"log-level", "server", "log_level", "LEVEL",
	"err, warn, info (default) or debug"},
    {"log", "server", "log", "TARGET", "stderr (default) or syslog"},
    {"http", "server", "http", "ADDR:PORT",
	"status page, JSON and metrics (default off)"},
    {"http-token", "server", "http_token_file", "FILE",
	"token the TCP status port requires (Bearer; mode 0600)"},
    {"http-show-ids", "server", "http_show_ids", "on|off",
	"MACs and serials on the TCP status port too (default off)"},
    {"dhcp", "dhcp", "mode", "MODE", "off, proxy (default) or server"},
    {"dhcp-range", "dhcp", "range", "FIRST,LAST",
	"address pool for --dhcp server"},
    {"dhcp-netmask", "dhcp", "netmask", "MASK",
	"netmask handed out (default 255.255.255.0)"},
    {"dhcp-router", "dhcp", "router", "IP", "default gateway handed out"},
    {"dhcp-dns", "dhcp", "dns", "IP[,IP...]", "DNS servers handed out"},
    {"dhcp-domain", "dhcp", "domain", "NAME", "domain name handed out"},
    {"dhcp-lease-time", "dhcp", "lease_time", "SECONDS",
	"lease time (default 86400)"},
    {"boot-file", "dhcp", "boot_file", "[ARCH=]NAME",
	"boot file for PXE clients, per architecture (repeatable)"},
    {"ipxe-script", "dhcp", "ipxe_script", "NAME",
	"boot file for clients already running iPXE"},
    {"dhcp-port", "dhcp", "port", "N", "DHCP server port (default 67)"},
    {"dhcp-pi-delay", "dhcp", "pi_delay_ms", "MS",
	"reply delay for Pi 2/3 boot ROMs, 0-2000 (default 2000)"},
    {"dhcp-proxy-window", "dhcp", "proxy_window_s", "SECONDS",
	"proxy mode: how long a boot it serves may move exports (300)"},
    {"dhcp-probe", "dhcp", "probe_ms", "MS",
	"ARP conflict check before offering, 0-1000, 0 = off "
	"(default 200)"},
    {"tftp", "tftp", "enable", "on|off", "TFTP service (default on)"},
    {"tftp-root", "tftp", "root", "DIR", "TFTP root (default STATE/tftp)"},
    {"tftp-port", "tftp", "port", "N", "TFTP port (default 69)"},
    {"tftp-blksize-max", "tftp", "blksize_max", "N",
	"largest block size granted (default 1468)"},
    {"tftp-timeout", "tftp", "timeout_ms", "MS",
	"retransmission timeout before a round trip is measured "
	"(default 200)"},
    {"tftp-retries", "tftp", "retries", "N",
	"retransmissions before giving up (default 8)"},
    {"tftp-max-transfers", "tftp", "max_transfers", "N",
	"simultaneous transfers (default 2000)"},
    {"tftp-max-per-client", "tftp", "max_per_client", "N",
	"simultaneous transfers from one address (default 16)"},
    {"nfs", "nfs", "enable", "on|off", "NFS service (default on)"},
    {"export", "nfs", "export", "DIR[:OPTS]",
	"extra NFS export, OPTS: rw|ro,allow=CIDR,root_squash "
	"(repeatable)"},
    {"nfs-port", "nfs", "port", "N", "NFS port (default 2049)"},
    {"portmap-port", "nfs", "portmap_port", "N",
	"portmapper port (default 111)"},
    {"mount-port", "nfs", "mount_port", "N",
	"MOUNT port (default 0: any, registered with the portmapper)"},
    {"nfs-workers", "nfs", "workers", "N",
	"NFS file-system worker threads (default 4)"},
};

#define SERVE_NOPTS (sizeof(serve_opts) / sizeof(serve_opts[0]))

enum { OPT_CONFIG = 1000, OPT_HELP, OPT_FIRST_KEY };

struct serve_setting {
	const struct serve_opt *opt;
	const char *value; /* borrowed from argv */
};

struct serve_args {
	const char *config;
	struct serve_setting *settings; /* owned */
	size_t nsettings;
};

static void
serve_usage(void)
{
	size_t i;

	printf(
	    "Usage: pinetboot serve [OPTIONS]\n"
	    "\n"
	    "Run the network-boot services on one event loop.  Options set\n"
	    "the same keys as the config file (docs/config.md); the command\n"
	    "line wins.  SIGHUP reloads the config, SIGTERM stops.\n"
	    "\n"
	    "A provisioned client's root is exported to one address: the\n"
	    "static address in its client.conf if it has one, else the\n"
	    "address pinetboot leases to it (--dhcp server), else the one\n"
	    "the site's DHCP server ACKs during a boot pinetboot serves,\n"
	    "if pinetboot sees that ACK (--dhcp proxy; often it does not:\n"
	    "give such clients an address).  TFTP requests move nothing.\n"
	    "See docs/security.md.\n"
	    "\n"
	    "  --config FILE             read settings from FILE\n");
	for (i = 0; i < SERVE_NOPTS; i++) {
		char left[64];

		snprintf(left, sizeof(left), "--%s %s", serve_opts[i].name,
		    serve_opts[i].arg);
		printf("  %-25s %s\n", left, serve_opts[i].help);
	}
	printf("  -h, --help                show this help\n");
}

int
cli_read_config(const char *path, struct cfg *c, char *msg, size_t msglen)
{
	/* A config file is a few hundred lines; refuse anything absurd. */
	const size_t max = 1 << 20;
	char reason[512];
	char *text = NULL;
	size_t len = 0;
	ssize_t n;
	struct stat st;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(msg, msglen, "cannot open config %s: %s", path,
		    strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size > max) {
		snprintf(msg, msglen,
		    "config %s is not a regular file of at "
		    "most 1 MiB",
		    path);
		r = -EINVAL;
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		r = -ENOMEM;
		snprintf(msg, msglen, "out of memory");
		goto out;
	}
	while (len < (size_t)st.st_size) {
		n = read(fd, text + len, (size_t)st.st_size - len);
		if (n <= 0) {
			break;
		}
		len += (size_t)n;
	}
	r = cfg_parse(c, text, len, reason, sizeof(reason));
	if (r < 0) {
		unsigned line = 0;
		int skip = 0;

		/* cfg_parse says "line N: why"; users expect FILE:N: why. */
		if (sscanf(reason, "line %u: %n", &line, &skip) == 1 && skip) {
			snprintf(msg, msglen, "%s:%u: %s", path, line,
			    reason + skip);
		} else {
			snprintf(msg, msglen, "%s: %s", path, reason);
		}
	}
out:
	free(text);
	close(fd);
	return r;
}

/*
 * Defaults, then the config file, then the command line, then validation.
 * Runs again on SIGHUP with the same arguments.
 */
static int
serve_load(void *arg, struct cfg *c, char *msg, size_t msglen)
{
	const struct serve_args *a = arg;
	char reason[512];
	size_t i;
	int r;

	cfg_defaults(c);
	if (a->config) {
		r = cli_read_config(a->config, c, msg, msglen);
		if (r < 0) {
			return r;
		}
	}
	for (i = 0; i < a->nsettings; i++) {
		const struct serve_opt *o = a->settings[i].opt;

		r = cfg_set(c, o->section, o->key, a->settings[i].value, reason,
		    sizeof(reason));
		if (r < 0) {
			snprintf(msg, msglen, "--%s: %s", o->name, reason);
			return r;
		}
	}
	return cfg_finish(c, msg, msglen);
}

int
cli_serve(int argc, char **argv)
{
	struct option longopts[SERVE_NOPTS + 3];
	struct serve_args a = {0};
	struct cfg *probe = NULL;
	char reason[512];
	int ch, idx, status = 2;
	size_t i;

	for (i = 0; i < SERVE_NOPTS; i++) {
		longopts[i] = (struct option){serve_opts[i].name,
		    required_argument, NULL, OPT_FIRST_KEY + (int)i};
	}
	longopts[i++] =
	    (struct option){"config", required_argument, NULL, OPT_CONFIG};
	longopts[i++] = (struct option){"help", no_argument, NULL, OPT_HELP};
	longopts[i] = (struct option){NULL, 0, NULL, 0};

	a.settings = calloc((size_t)argc + 1, sizeof(*a.settings));
	probe = calloc(1, sizeof(*probe));
	if (!a.settings || !probe) {
		fprintf(stderr, "pinetboot serve: out of memory\n");
		status = 1;
		goto out;
	}
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, ":h", longopts, &idx)) != -1) {
		const struct serve_opt *o;

		if (ch == OPT_HELP || ch == 'h') {
			serve_usage();
			status = 0;
			goto out;
		}
		if (ch == OPT_CONFIG) {
			a.config = optarg;
			continue;
		}
		if (ch == ':') {
			status = cli_usage_error("serve",
			    "option '%s' needs a "
			    "value",
			    argv[optind - 1]);
			goto out;
		}
		if (ch < OPT_FIRST_KEY) {
			status = cli_usage_error(
			    "serve", "unknown option '%s'", argv[optind - 1]);
			goto out;
		}
		/* Check each value now, so that the error names its option. */
		o = &serve_opts[ch - OPT_FIRST_KEY];
		cfg_defaults(probe);
		if (cfg_set(probe, o->section, o->key, optarg, reason,
			sizeof(reason)) < 0) {
			status = cli_usage_error(
			    "serve", "--%s: %s", o->name, reason);
			goto out;
		}
		a.settings[a.nsettings++] =
		    (struct serve_setting){.opt = o, .value = optarg};
	}
	if (optind < argc) {
		status = cli_usage_error(
		    "serve", "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	status = serve_run(serve_load, &a);
out:
	free(probe);
	free(a.settings);
	return status;
}
