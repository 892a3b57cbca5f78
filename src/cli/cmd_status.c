#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/control.h"
#include "cli/fleet.h"
#include "core/buf.h"

static void
status_usage(void)
{
	printf(
	    "Usage: pinetboot status [NAME] [--json] [--state-dir DIR]\n"
	    "\n"
	    "Ask the running server what happened to each client: a table\n"
	    "of clients (state, last boot, boot duration, last error), or\n"
	    "with NAME that client's boot timeline.  Clients the server saw\n"
	    "but that are not provisioned are listed as discovered, with\n"
	    "the command that would provision them.  Then, from the client\n"
	    "records, each client's root mode, image version, pending move,\n"
	    "previous version, rollout and disk use.\n"
	    "\n"
	    "  --json           print JSON instead of text\n"
	    "  --state-dir DIR  the server's state directory "
	    "(default /var/lib/pinetboot)\n"
	    "  -h, --help       show this help\n");
}

int
cli_status(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"state-dir", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *state_dir = "/var/lib/pinetboot", *name = NULL;
	bool json = false;
	char path[256];
	struct buf body;
	int ch, status = 0, r;

	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = true;
			break;
		case 's':
			state_dir = optarg;
			break;
		case 'h':
			status_usage();
			return 0;
		case ':':
			return cli_usage_error("status",
			    "option '%s' needs a "
			    "value",
			    argv[optind - 1]);
		default:
			return cli_usage_error(
			    "status", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) {
		name = argv[optind++];
	}
	if (optind < argc) {
		return cli_usage_error(
		    "status", "unexpected argument '%s'", argv[optind]);
	}
	if (name && (strpbrk(name, "/?&% ") || strlen(name) > 64)) {
		return cli_usage_error(
		    "status", "'%s' is not a client name", name);
	}
	if (json) {
		snprintf(path, sizeof(path),
		    name ? "/api/clients/%s" : "/api/status", name ? name : "");
	} else {
		snprintf(path, sizeof(path),
		    name ? "/api/status.txt?name=%s" : "/api/status.txt",
		    name ? name : "");
	}
	buf_init(&body, 16u << 20);
	r = cli_control_request(state_dir, "GET", path, &body, &status);
	if (r == -ENOENT || r == -ECONNREFUSED) {
		/* The records still say what each client runs. */
		if (!json) {
			cli_fleet_table(state_dir, name);
		}
		fprintf(stderr,
		    "pinetboot status: no server is running with "
		    "state directory %s (start 'pinetboot serve', or give "
		    "--state-dir)\n",
		    state_dir);
		buf_fini(&body);
		return 1;
	}
	if (r < 0) {
		fprintf(stderr, "pinetboot status: cannot ask the server: %s\n",
		    strerror(-r));
		buf_fini(&body);
		return 1;
	}
	if (status == 404) {
		fprintf(stderr,
		    "pinetboot status: no client named '%s' "
		    "(see 'pinetboot status' for the list)\n",
		    name);
		buf_fini(&body);
		return 1;
	}
	if (status != 200) {
		fprintf(stderr, "pinetboot status: server answered %d: %s",
		    status, body.p ? (char *)body.p : "\n");
		buf_fini(&body);
		return 1;
	}
	fwrite(body.p, 1, body.len, stdout);
	buf_fini(&body);
	if (!json) {
		printf("\n");
		cli_fleet_table(state_dir, name);
	}
	return 0;
}
