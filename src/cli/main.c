#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#ifndef PNB_VERSION
#define PNB_VERSION "0.0.0"
#endif

const struct cli_cmd cli_cmds[] = {
    {"serve", "run the DHCP, TFTP and NFS services", cli_serve},
    {"image", "import, update, roll out and remove image versions", cli_image},
    {"client", "add, move, diff, reset, promote and remove clients",
	cli_client},
    {"status", "show each client's state and boot timeline", cli_status},
    {"doctor", "check the machine and network before a first boot", cli_doctor},
    {"demo", "boot a virtual client end to end (root)", cli_demo},
    {NULL, NULL, NULL},
};

int
cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pinetboot %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'pinetboot %s --help')\n", cmd);
	return 2;
}

static void
usage(FILE *f)
{
	const struct cli_cmd *c;

	fprintf(f,
	    "Usage: pinetboot COMMAND [OPTIONS]\n"
	    "\n"
	    "Network-boot server for Raspberry Pi fleets and PXE machines:\n"
	    "DHCP/proxyDHCP, TFTP, NFSv3 root file systems, and provisioning\n"
	    "from Raspberry Pi OS images.\n"
	    "\n"
	    "Commands:\n");
	for (c = cli_cmds; c->name; c++) {
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	}
	fprintf(f,
	    "\n"
	    "Options:\n"
	    "  -h, --help     show this help\n"
	    "  -V, --version  show the version\n"
	    "\n"
	    "'pinetboot COMMAND --help' describes each command.\n");
}

int
main(int argc, char **argv)
{
	const struct cli_cmd *c;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("pinetboot %s\n", PNB_VERSION);
		return 0;
	}
	for (c = cli_cmds; c->name; c++) {
		if (!strcmp(argv[1], c->name)) {
			return c->run(argc - 1, argv + 1);
		}
	}
	fprintf(stderr,
	    "pinetboot: unknown command '%s' (see 'pinetboot --help')\n",
	    argv[1]);
	return 2;
}
