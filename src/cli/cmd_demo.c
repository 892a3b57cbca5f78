#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

/*
 * `pinetboot demo` orchestrates tools (ip, qemu, mkfs) rather than
 * protocols, so it is a shell script that this command finds and runs:
 * beside the source tree's binary (build/../scripts/demo.sh) or where
 * `make install` put it (bin/../share/pinetboot/demo.sh).
 */
static const char *const demo_places[] = {
    "/../scripts/demo.sh",
    "/../../scripts/demo.sh",
    "/../share/pinetboot/demo.sh",
};

static void
demo_usage(void)
{
	printf(
	    "Usage: pinetboot demo\n"
	    "\n"
	    "Boot a virtual client end to end, as root: build (once) a small\n"
	    "image shaped like Raspberry Pi OS, import it, provision a\n"
	    "client, start the server in a private network namespace on\n"
	    "198.18.0.0/24, and boot a QEMU machine over PXE and TFTP with\n"
	    "its root over NFS, showing its timeline live.  Everything made\n"
	    "is removed at the end; the image and kernel are kept in\n"
	    "/var/cache/pinetboot-demo (PNB_DEMO_CACHE) for the next run.\n");
}

int
cli_demo(int argc, char **argv)
{
	char self[PATH_MAX], dir[PATH_MAX], script[PATH_MAX + 64];
	ssize_t n;
	size_t i;
	char *slash;

	if (argc > 1 &&
	    (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		demo_usage();
		return 0;
	}
	if (argc > 1) {
		return cli_usage_error(
		    "demo", "unexpected argument '%s'", argv[1]);
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0) {
		fprintf(stderr, "pinetboot demo: cannot find myself: %s\n",
		    strerror(errno));
		return 1;
	}
	self[n] = 0;
	memcpy(dir, self, (size_t)n + 1);
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = 0;
	}
	for (i = 0; i < sizeof(demo_places) / sizeof(demo_places[0]); i++) {
		snprintf(script, sizeof(script), "%s%s", dir, demo_places[i]);
		if (access(script, R_OK) == 0) {
			break;
		}
	}
	if (i == sizeof(demo_places) / sizeof(demo_places[0])) {
		fprintf(stderr,
		    "pinetboot demo: demo.sh not found beside %s "
		    "(run from the source tree or after 'make install')\n",
		    self);
		return 1;
	}
	if (setenv("PNB_BIN", self, 1) < 0) {
		return 1;
	}
	execl("/bin/bash", "bash", script, (char *)NULL);
	fprintf(stderr, "pinetboot demo: cannot run %s: %s\n", script,
	    strerror(errno));
	return 1;
}
