#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/exports.h"
#include "cli/fleet.h"
#include "cli/progress.h"
#include "core/size.h"
#include "image/provision/fleet.h"
#include "image/provision/prov.h"
#include "image/provision/tree.h"

#define DEFAULT_STATE "/var/lib/pinetboot"

static void
client_usage(FILE *f)
{
	fprintf(f,
	    "Usage: pinetboot client add NAME --serial HEX8 --image IMAGE[@V]\n"
	    "           [--root layered|volatile|copy] [--mac MAC]\n"
	    "           [--address IP] [--hostname H] [--ssh]\n"
	    "           [--ssh-key FILE] [--user NAME:HASH] [--server IP]\n"
	    "       pinetboot client list\n"
	    "       pinetboot client show NAME\n"
	    "       pinetboot client diff NAME\n"
	    "       pinetboot client set NAME... --image IMAGE@V\n"
	    "       pinetboot client reset NAME [--keep PATH...] [--force]\n"
	    "       pinetboot client promote NAME --image IMAGE\n"
	    "       pinetboot client remove NAME [--yes]\n"
	    "\n"
	    "add makes a client from a version of an imported image (the\n"
	    "newest unless @V is given), edited for an NFS root: by default\n"
	    "a layer of its own over the version (--root layered; volatile\n"
	    "empties it at every boot), or full trees (--root copy).  diff\n"
	    "lists what a layered client changed, and the conflicts with a\n"
	    "pending move; set moves clients to another version at their\n"
	    "next boot; reset drops a client's changes but its identity and\n"
	    "the --keep paths; promote makes a client's root and boot files a\n"
	    "new image version.\n"
	    "\n"
	    "Options:\n"
	    "  --serial HEX8     low 32 bits of the Pi's serial (TFTP prefix)\n"
	    "  --image IMAGE[@V] imported image, and its version\n"
	    "  --root MODE       layered (default), volatile or copy\n"
	    "  --mac MAC         Ethernet address (DHCP reservation)\n"
	    "  --address IP      fixed IPv4 address (DHCP reservation)\n"
	    "  --hostname H      host name (default: NAME)\n"
	    "  --ssh             enable the SSH server\n"
	    "  --ssh-key FILE    install FILE as root's authorized_keys (and\n"
	    "                    the --user's, when the image has that user)\n"
	    "  --user NAME:HASH  first user for userconf.txt; HASH from\n"
	    "                    'openssl passwd -6'\n"
	    "  --server IP       NFS server address for cmdline.txt and fstab\n"
	    "                    (default: this host's address on the\n"
	    "                    default route)\n"
	    "  --keep PATH       reset: keep this path of the client as it is\n"
	    "                    (repeatable; under the boot mount point: a\n"
	    "                    boot file)\n"
	    "  --force           reset even when the running server last saw\n"
	    "                    the client booted (power it off first)\n"
	    "  --yes             remove without asking\n"
	    "  --state-dir DIR   state directory (default " DEFAULT_STATE ")\n"
	    "  -h, --help        show this help\n");
}

static int
read_rec(const char *path, char *text, size_t cap, struct rec *rec)
{
	FILE *f = fopen(path, "r");
	unsigned line;
	size_t n;

	if (!f) {
		return -errno;
	}
	n = fread(text, 1, cap - 1, f);
	fclose(f);
	text[n] = '\0';
	return rec_parse(text, n, rec, &line);
}

static void
last_boot(const char *state, const char *name, char *out, size_t cap)
{
	char path[4400];
	FILE *f;

	snprintf(out, cap, "-");
	snprintf(
	    path, sizeof(path), "%s/clients/%.255s/last-boot", state, name);
	f = fopen(path, "r");
	if (f) {
		if (fgets(out, (int)cap, f)) {
			out[strcspn(out, "\n")] = '\0';
		}
		fclose(f);
	}
}

static uint64_t
client_du(const char *state, const char *name)
{
	char path[4400];
	int fd;
	uint64_t n;

	snprintf(path, sizeof(path), "%s/clients/%.255s", state, name);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		return 0;
	}
	n = tree_du(fd);
	close(fd);
	return n;
}

/* Roots without a static address follow DHCP: say so under the table. */
static void
client_list_unpinned(int n)
{
	if (n > 0) {
		printf("\n%d of these %s no static address: exports then "
		       "follow DHCP ('pinetboot client show NAME' says what "
		       "that means)\n",
		    n, n == 1 ? "has" : "have");
	}
}

static int
client_list(const char *state)
{
	char dir[4096], path[4400], text[REC_MAX_BYTES + 1];
	struct rec rec;
	struct dirent *e;
	DIR *d;
	int n = 0, unpinned = 0;

	snprintf(dir, sizeof(dir), "%s/clients", state);
	d = opendir(dir);
	printf("%-20s %-8s %-17s %-15s %-8s %-24s %-6s %10s  %s\n", "NAME",
	    "SERIAL", "MAC", "ADDRESS", "ROOT", "IMAGE", "NEXT", "DISK",
	    "LAST BOOT");
	while (d && (e = readdir(d)) != NULL) {
		char serial[16] = "?", mac[32] = "", addr[32] = "",
		     image[96] = "?", du[32], lb[64], ver[16], mode[16] = "",
		     next[16] = "";
		enum prov_root_mode m;

		if (e->d_name[0] == '.') {
			continue;
		}
		snprintf(path, sizeof(path), "%s/%.255s/client.conf", dir,
		    e->d_name);
		if (read_rec(path, text, sizeof(text), &rec) < 0) {
			continue;
		}
		rec_get(&rec, "serial", serial, sizeof(serial));
		rec_get(&rec, "mac", mac, sizeof(mac));
		rec_get(&rec, "address", addr, sizeof(addr));
		rec_get(&rec, "image", image, sizeof(image));
		rec_get(&rec, "root_mode", mode, sizeof(mode));
		rec_get(&rec, "next_version", next, sizeof(next));
		if (prov_root_mode_parse(mode, &m) < 0) {
			snprintf(mode, sizeof(mode), "?");
		} else {
			snprintf(
			    mode, sizeof(mode), "%s", prov_root_mode_name(m));
		}
		/* Records from before versions use version 1. */
		if (!rec_get(&rec, "version", ver, sizeof(ver))) {
			snprintf(ver, sizeof(ver), "1");
		}
		snprintf(image + strlen(image), sizeof(image) - strlen(image),
		    "@%s", ver);
		last_boot(state, e->d_name, lb, sizeof(lb));
		printf("%-20s %-8s %-17s %-15s %-8s %-24s %-6s %10s  %s\n",
		    e->d_name, serial, mac[0] ? mac : "-", addr[0] ? addr : "-",
		    mode, image, next[0] ? next : "-",
		    size_human(client_du(state, e->d_name), du, sizeof(du)),
		    lb);
		cli_rollout_note(&rec);
		n++;
		unpinned += addr[0] == 0;
	}
	if (d) {
		closedir(d);
	}
	if (n == 0) {
		printf("(no clients; add one with 'pinetboot client add')\n");
	} else {
		printf(
		    "\nDISK: a copy's trees, or a layered client's layer and "
		    "identity files (the version's files are shared), each "
		    "inode counted once.\n");
	}
	client_list_unpinned(unpinned);
	return 0;
}

/* Who may mount this client's root, from its record alone. */
static void
client_show_exports(const struct rec *rec)
{
	char addr[64] = "", mac[64] = "";

	rec_get(rec, "address", addr, sizeof(addr));
	rec_get(rec, "mac", mac, sizeof(mac));
	printf("%-12s %s\n", "exports",
	    cli_export_note(
		addr[0] != 0, mac[0] != 0, CLI_EXPORT_MODE_UNKNOWN));
}

/*
 * A layer a move made says which version it is over; when the record
 * does not (the move was cut short before the record was written), the
 * layer counts, and the next command that holds the client writes it.
 */
static void
client_show_stamp(const char *state, const char *name, const struct rec *rec)
{
	char path[4400], stamp[32] = "", ver[32] = "1";
	FILE *f;

	snprintf(path, sizeof(path), "%s/clients/%s/layer/%s", state, name,
	    PROV_LAYER_STAMP);
	f = fopen(path, "r");
	if (!f) {
		return;
	}
	if (fgets(stamp, sizeof(stamp), f)) {
		stamp[strcspn(stamp, "\n")] = 0;
	}
	fclose(f);
	rec_get(rec, "version", ver, sizeof(ver));
	if (stamp[0] && strcmp(stamp, ver) != 0) {
		printf("%-12s %s (the record says %s: a move was cut short "
		       "before the record was written; the layer counts)\n",
		    "layer_over", stamp, ver);
	}
}

static int
client_show(const char *state, const char *name)
{
	char path[4400], text[REC_MAX_BYTES + 1], du[32], lb[64];
	struct rec rec;
	size_t i;
	int r;

	if (!rec_name_ok(name)) {
		fprintf(stderr,
		    "pinetboot client show: '%s' is not a valid "
		    "client name\n",
		    name);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/clients/%s/client.conf", state, name);
	r = read_rec(path, text, sizeof(text), &rec);
	if (r < 0) {
		fprintf(stderr,
		    "pinetboot client show: no client named '%s' "
		    "in %s\n",
		    name, state);
		return 1;
	}
	for (i = 0; i < rec.n; i++) {
		printf("%-12.*s %.*s\n", (int)rec.kv[i].klen, rec.kv[i].key,
		    (int)rec.kv[i].vlen, rec.kv[i].value);
	}
	client_show_stamp(state, name, &rec);
	client_show_exports(&rec);
	last_boot(state, name, lb, sizeof(lb));
	printf("%-12s %s\n", "disk_use",
	    size_human(client_du(state, name), du, sizeof(du)));
	printf("%-12s %s\n", "last_boot", lb);
	/* A layered client's cmdline.txt is in its layer (its identity). */
	snprintf(
	    path, sizeof(path), "%s/clients/%s/boot/cmdline.txt", state, name);
	if (access(path, F_OK) < 0) {
		snprintf(path, sizeof(path),
		    "%s/clients/%s/layer/boot/cmdline.txt", state, name);
	}
	{
		FILE *f = fopen(path, "r");

		if (f) {
			if (fgets(text, sizeof(text), f)) {
				printf("%-12s %s", "cmdline", text);
			}
			fclose(f);
		}
	}
	return 0;
}

static int
client_remove(const char *state, const char *name, bool yes)
{
	char msg[1024], answer[16];
	int r;

	if (!yes) {
		if (!isatty(STDIN_FILENO)) {
			return cli_usage_error("client",
			    "remove asks for confirmation on a terminal; "
			    "use --yes");
		}
		printf("Remove client '%s' and its boot and root trees? "
		       "[y/N] ",
		    name);
		fflush(stdout);
		if (!fgets(answer, sizeof(answer), stdin) ||
		    (answer[0] != 'y' && answer[0] != 'Y')) {
			printf("Not removed.\n");
			return 1;
		}
	}
	r = prov_client_remove(state, name, msg, sizeof(msg));
	if (r < 0) {
		fprintf(stderr, "pinetboot client remove: %s\n", msg);
		return 1;
	}
	printf("Removed client '%s'\n", name);
	return 0;
}

static int
client_add(const char *state, struct prov_client *c)
{
	struct prov_client_info info;
	struct cli_progress p;
	char msg[1024], a[32], what[REC_NAME_MAX + 16];
	int r;

	cli_progress_start(&p);
	c->prog = p.prog;
	r = prov_client_add(state, c, &info, msg, sizeof(msg));
	cli_progress_stop(&p);
	if (info.note[0]) {
		fprintf(stderr, "pinetboot client add: note: %s\n", info.note);
	}
	if (p.interrupted || r == -EINTR) {
		fprintf(stderr,
		    "pinetboot client add: %s: interrupted; nothing was left "
		    "behind\n",
		    c->name);
		return 130;
	}
	if (r < 0) {
		fprintf(stderr, "pinetboot client add: %s: %s\n", c->name, msg);
		return 1;
	}
	if (info.mode == PROV_ROOT_COPY) {
		printf("Added client '%s' from version %u of image '%s' (a "
		       "copy)\n",
		    c->name, info.version, c->image);
	} else {
		printf("Added client '%s': a %s root over version %u of image "
		       "'%s'\n",
		    c->name, prov_root_mode_name(info.mode), info.version,
		    c->image);
	}
	printf("  boot:    %s\n", info.boot_dir);
	printf("  root:    %s\n", info.root_dir);
	printf("  cmdline: %s", info.cmdline);
	if (info.mode == PROV_ROOT_COPY) {
		printf("  files:   %llu (%llu shared by reflink, %s copied)\n",
		    (unsigned long long)info.files,
		    (unsigned long long)info.reflinked,
		    size_human(info.copied_bytes, a, sizeof(a)));
	} else {
		printf("  layer:   %s on disk (its identity files; the "
		       "version's files are shared)\n",
		    size_human(info.layer_bytes, a, sizeof(a)));
	}
	if (info.server_guessed) {
		printf("  server:  %s (this host's address on the default "
		       "route; use --server to choose)\n",
		    info.server);
	} else if (!info.server[0]) {
		printf("  server:  none known: nfsroot= uses the DHCP "
		       "server, and the boot files are not mounted; give "
		       "--server\n");
	}
	snprintf(what, sizeof(what), "client '%s'", c->name);
	if (info.boot_check[0]) {
		cli_boot_warnings("client add", what, info.boot_check);
	}
	return 0;
}

enum {
	O_SERIAL = 1000,
	O_MAC,
	O_IMAGE,
	O_HOST,
	O_SSH,
	O_KEY,
	O_USER,
	O_ADDR,
	O_SERVER,
	O_ROOT,
	O_YES,
	O_KEEP,
	O_FORCE,
	O_STATE
};

/* The subcommands that take each option (besides --state-dir, --help). */
static bool
option_fits(const char *sub, int o)
{
	static const struct {
		int opt;
		const char *subs;
	} fits[] = {
	    {O_SERIAL, " add "},
	    {O_MAC, " add "},
	    {O_IMAGE, " add set promote "},
	    {O_HOST, " add "},
	    {O_SSH, " add "},
	    {O_KEY, " add "},
	    {O_USER, " add "},
	    {O_ADDR, " add "},
	    {O_SERVER, " add "},
	    {O_ROOT, " add "},
	    {O_YES, " remove "},
	    {O_KEEP, " reset "},
	    {O_FORCE, " reset "},
	};
	char word[32];
	size_t i;

	snprintf(word, sizeof(word), " %s ", sub);
	for (i = 0; i < sizeof(fits) / sizeof(fits[0]); i++) {
		if (o == fits[i].opt) {
			return strstr(fits[i].subs, word) != NULL;
		}
	}
	return true;
}

int
cli_client(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"state-dir", required_argument, NULL, O_STATE},
	    {"serial", required_argument, NULL, O_SERIAL},
	    {"mac", required_argument, NULL, O_MAC},
	    {"image", required_argument, NULL, O_IMAGE},
	    {"hostname", required_argument, NULL, O_HOST},
	    {"ssh", no_argument, NULL, O_SSH},
	    {"ssh-key", required_argument, NULL, O_KEY},
	    {"user", required_argument, NULL, O_USER},
	    {"address", required_argument, NULL, O_ADDR},
	    {"server", required_argument, NULL, O_SERVER},
	    {"root", required_argument, NULL, O_ROOT},
	    {"yes", no_argument, NULL, O_YES},
	    {"keep", required_argument, NULL, O_KEEP},
	    {"force", no_argument, NULL, O_FORCE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct prov_client c = {.name = NULL};
	const char *state = DEFAULT_STATE, *sub;
	const char **keep = calloc((size_t)argc + 1, sizeof(*keep));
	int used[32], nused = 0, o, i, r;
	bool yes = false, force = false;
	size_t nkeep = 0;

	if (!keep) {
		fprintf(stderr, "pinetboot client: out of memory\n");
		return 1;
	}
	optind = 1;
	while ((o = getopt_long(argc, argv, "hy", opts, NULL)) != -1) {
		if (o >= O_SERIAL && o < O_STATE && nused < 32) {
			used[nused++] = o;
		}
		switch (o) {
		case O_STATE:
			state = optarg;
			break;
		case O_SERIAL:
			c.serial = optarg;
			break;
		case O_MAC:
			c.mac = optarg;
			break;
		case O_IMAGE:
			c.image = optarg;
			break;
		case O_HOST:
			c.hostname = optarg;
			break;
		case O_SSH:
			c.ssh = true;
			break;
		case O_KEY:
			c.ssh_key = optarg;
			break;
		case O_USER:
			c.user = optarg;
			break;
		case O_ADDR:
			c.address = optarg;
			break;
		case O_SERVER:
			c.server = optarg;
			break;
		case O_ROOT:
			c.root = optarg;
			break;
		case O_KEEP:
			keep[nkeep++] = optarg;
			break;
		case O_FORCE:
			force = true;
			break;
		case O_YES:
		case 'y':
			yes = true;
			break;
		case 'h':
			free(keep);
			client_usage(stdout);
			return 0;
		default:
			free(keep);
			return cli_usage_error("client", "bad option");
		}
	}
	if (optind >= argc) {
		free(keep);
		client_usage(stderr);
		return 2;
	}
	sub = argv[optind];
	argc -= optind + 1;
	argv += optind + 1;
	for (i = 0; i < nused; i++) {
		if (!option_fits(sub, used[i])) {
			free(keep);
			return cli_usage_error("client",
			    "an option given is not one '%s' takes "
			    "(see 'pinetboot client --help')",
			    sub);
		}
	}
	r = -1;
	if (!strcmp(sub, "add")) {
		if (argc != 1) {
			r = cli_usage_error("client", "add needs one NAME");
		} else if (!c.serial || !c.image) {
			r = cli_usage_error(
			    "client", "add needs --serial and --image");
		} else {
			c.name = argv[0];
			r = client_add(state, &c);
		}
	} else if (!strcmp(sub, "list")) {
		r = argc == 0
		    ? client_list(state)
		    : cli_usage_error("client", "list takes no arguments");
	} else if (!strcmp(sub, "set")) {
		r = argc < 1 || !c.image
		    ? cli_usage_error("client",
			  "set needs NAME... and --image NAME@VERSION")
		    : cli_client_set(state, argv, (size_t)argc, c.image);
	} else if (!strcmp(sub, "promote")) {
		r = argc != 1 || !c.image
		    ? cli_usage_error(
			  "client", "promote needs one NAME and --image NAME")
		    : cli_client_promote(state, argv[0], c.image);
	} else if (!strcmp(sub, "reset")) {
		r = argc != 1
		    ? cli_usage_error("client", "reset needs one NAME")
		    : cli_client_reset(state, argv[0], keep, nkeep, force);
	} else if (!strcmp(sub, "show") || !strcmp(sub, "remove") ||
	    !strcmp(sub, "diff")) {
		if (argc != 1) {
			r = cli_usage_error("client", "%s needs one NAME", sub);
		} else if (!strcmp(sub, "show")) {
			r = client_show(state, argv[0]);
		} else if (!strcmp(sub, "diff")) {
			r = cli_client_diff(state, argv[0]);
		} else {
			r = client_remove(state, argv[0], yes);
		}
	} else {
		r = cli_usage_error("client", "unknown subcommand '%s'", sub);
	}
	free(keep);
	return r;
}
