#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/fleet.h"
#include "cli/progress.h"
#include "core/size.h"
#include "core/cfg.h"
#include "core/err.h"
#include "image/provision/prov.h"
#include "image/provision/update.h"
#include "image/provision/version.h"

#define DEFAULT_STATE "/var/lib/pinetboot"

static void
image_usage(FILE *f)
{
	fprintf(f,
	    "Usage: pinetboot image import FILE [--name NAME] [--max-size "
	    "SIZE]\n"
	    "       pinetboot image list\n"
	    "       pinetboot image versions NAME\n"
	    "       pinetboot image update NAME [--from V] -- CMD [ARGS...]\n"
	    "       pinetboot image shell NAME [--from V]\n"
	    "       pinetboot image rollout NAME@V [--canary K] "
	    "[--health-timeout S]\n"
	    "       pinetboot image rollback NAME\n"
	    "       pinetboot image remove NAME[@V]\n"
	    "\n"
	    "An image is a list of immutable versions under\n"
	    "STATE/images/NAME/v/N/{boot,root}.  import reads a Raspberry\n"
	    "Pi OS image (.img, .img.xz, .img.zst or a block device,\n"
	    "read-only, no loop mounts) as a new image, or as the next\n"
	    "version of NAME when it exists.  update runs CMD inside a\n"
	    "version (the newest, or V) with /proc, /dev, /sys and the\n"
	    "host's resolv.conf, through QEMU for a foreign processor, and\n"
	    "keeps what it changed as the next version; shell does the same\n"
	    "with an interactive shell (leave it with 'exit 0' to keep the\n"
	    "changes).  versions lists an image's versions and the clients\n"
	    "that use them.  rollout moves every layered client of the image\n"
	    "to version V at its next boot: K canaries first (default 1), the\n"
	    "rest once they booted; a client not booted within S seconds\n"
	    "(default 300) goes back.  rollback sends every client of the\n"
	    "image back to its previous version.  remove deletes an image,\n"
	    "or one version, that no client uses.\n"
	    "\n"
	    "Options:\n"
	    "  --name NAME       image name (default: from FILE)\n"
	    "  --from V          the version to start from (default: newest)\n"
	    "  --canary K        rollout: clients that move first\n"
	    "  --health-timeout S  rollout: seconds a moved client has to\n"
	    "                    boot (default 300)\n"
	    "  --max-size SIZE   most an import writes for the decompressed\n"
	    "                    image and for each partition's files\n"
	    "                    (default 64G; K, M, G, T suffixes)\n"
	    "  --config FILE     read state_dir and [image] max_size from\n"
	    "                    FILE (the config of pinetboot serve)\n"
	    "  --state-dir DIR   state directory (default " DEFAULT_STATE ")\n"
	    "  -h, --help        show this help\n");
}

/* "2024-03-15-raspios-bookworm-arm64-lite.img.xz" -> that minus .img.xz */
static void
default_name(const char *file, char *out, size_t cap)
{
	const char *base = strrchr(file, '/');
	static const char *const ext[] = {".xz", ".zst", ".img"};
	size_t i, n, o = 0;

	base = base ? base + 1 : file;
	n = strlen(base);
	for (i = 0; i < 3; i++) {
		size_t el = strlen(ext[i]);

		if (n > el && !memcmp(base + n - el, ext[i], el)) {
			n -= el;
		}
	}
	for (i = 0; i < n && o + 1 < cap && o < REC_NAME_MAX; i++) {
		char c = base[i];

		if (c >= 'A' && c <= 'Z') {
			c = (char)(c + 32);
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '.' || c == '-' || c == '_')) {
			c = '-';
		}
		out[o++] = c;
	}
	while (o > 0 && out[o - 1] == '.') {
		o--;
	}
	out[o] = '\0';
}

static int
image_import(const char *state, uint64_t max_bytes, int argc, char **argv,
    const char *name)
{
	struct prov_import im = {.max_bytes = max_bytes};
	struct prov_image_info info;
	struct cli_progress p;
	char def[REC_NAME_MAX + 1], msg[1024], a[32], b[32];
	char boot[PATH_MAX], what[REC_NAME_MAX + 16];
	int r;

	if (argc != 1) {
		return cli_usage_error(
		    "image", "import needs exactly one FILE");
	}
	im.file = argv[0];
	if (!name) {
		default_name(im.file, def, sizeof(def));
		name = def;
	}
	im.name = name;
	cli_progress_start(&p);
	im.prog = p.prog;
	r = prov_image_import(state, &im, &info, msg, sizeof(msg));
	cli_progress_stop(&p);
	if (info.note[0]) {
		fprintf(
		    stderr, "pinetboot image import: note: %s\n", info.note);
	}
	if (p.interrupted || r == -EINTR) {
		fprintf(stderr,
		    "pinetboot image import: %s: interrupted; nothing was "
		    "left behind\n",
		    im.file);
		return 130;
	}
	if (r < 0) {
		fprintf(
		    stderr, "pinetboot image import: %s: %s\n", im.file, msg);
		return 1;
	}
	if (info.markers) {
		fprintf(stderr,
		    "pinetboot image import: %s: warning: left out %llu "
		    "overlay marker%s (user.overlay.* or trusted.overlay.* "
		    "attributes, 0/0 character devices), which image layers "
		    "reserve\n",
		    im.file, (unsigned long long)info.markers,
		    info.markers == 1 ? "" : "s");
	}
	printf("Imported %s as version %u of image '%s' into "
	       "%s/images/%s/v/%u\n",
	    im.file, info.version, info.name, state, info.name, info.version);
	printf("  processor:   %s\n", info.arch[0] ? info.arch : "unknown");
	printf("  OS:          %s\n", info.os);
	printf("  partitions:  %s%s, disk %s\n", info.scheme,
	    info.used_backup_gpt ? " (primary GPT damaged, backup used)" : "",
	    size_human(info.disk_bytes, a, sizeof(a)));
	printf("  boot files:  %s (mounted at %s on the client)\n",
	    size_human(info.boot_bytes, a, sizeof(a)), info.boot_mount);
	printf("  kernels:     %s\n", info.kernels);
	printf("  models:      %s\n", info.models);
	printf("  root:        %s in %llu files, %llu symlinks, %llu hard "
	       "links, %llu special files, %llu xattrs\n",
	    size_human(info.root_bytes, b, sizeof(b)),
	    (unsigned long long)info.files, (unsigned long long)info.symlinks,
	    (unsigned long long)info.hardlinks,
	    (unsigned long long)info.specials, (unsigned long long)info.xattrs);
	printf("Next: pinetboot client add NAME --serial HEX8 --image %s\n",
	    info.name);
	snprintf(what, sizeof(what), "image '%s'", info.name);
	if (snprintf(boot, sizeof(boot), "%s/images/%s/v/%u/boot", state,
		info.name, info.version) < (int)sizeof(boot)) {
		cli_boot_warnings("image import", what, boot);
	}
	return 0;
}

static int
image_list(const char *state)
{
	char dir[4096 + 16], msg[512];
	struct prov_version *v = malloc(sizeof(*v));
	struct dirent *e;
	DIR *d;
	int n = 0;

	if (!v) {
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/images", state);
	d = opendir(dir);
	printf("%-32s %-8s %-40s %-15s %s\n", "NAME", "VERSION", "OS",
	    "BOOT MOUNT", "CREATED");
	while (d && (e = readdir(d)) != NULL) {
		struct prov_img im;

		if (e->d_name[0] == '.' ||
		    prov_img_open(
			&im, state, e->d_name, false, msg, sizeof(msg)) < 0) {
			continue;
		}
		if (prov_version_read(
			&im, prov_img_newest(&im), v, msg, sizeof(msg)) == 0) {
			printf("%-32s %-8u %-40s %-15s %s\n", e->d_name, v->n,
			    v->os[0] ? v->os : "?",
			    v->boot_mount[0] ? v->boot_mount : "?",
			    v->created[0] ? v->created : "?");
		} else {
			printf("%-32s %-8s %s\n", e->d_name, "?", msg);
		}
		prov_img_close(&im);
		n++;
	}
	if (d) {
		closedir(d);
	}
	if (n == 0) {
		printf("(no images; import one with 'pinetboot image import "
		       "FILE')\n");
	}
	free(v);
	return 0;
}

struct version_users {
	struct prov_image_user *u; /* client names in names[] */
	char (*names)[REC_NAME_MAX + 1];
	size_t n, cap;
};

static void
collect_user(void *arg, const struct prov_image_user *user)
{
	struct version_users *u = arg;

	if (u->n == u->cap) {
		size_t cap = u->cap ? 2 * u->cap : 16;
		struct prov_image_user *v = realloc(u->u, cap * sizeof(*v));
		char(*nm)[REC_NAME_MAX + 1];

		if (!v) {
			return;
		}
		u->u = v;
		nm = realloc(u->names, cap * sizeof(*nm));
		if (!nm) {
			return;
		}
		u->names = nm;
		u->cap = cap;
	}
	u->u[u->n] = *user;
	snprintf(u->names[u->n], sizeof(u->names[u->n]), "%s", user->client);
	u->u[u->n].client = NULL;
	u->n++;
}

static int
image_versions(const char *state, const char *name)
{
	struct version_users users = {0};
	struct prov_version *v = malloc(sizeof(*v));
	struct prov_img im;
	uint64_t *boot = NULL, *root = NULL;
	char msg[512], size[32];
	size_t i, k;
	int r;

	if (!v) {
		return 1;
	}
	r = prov_img_open(&im, state, name, false, msg, sizeof(msg));
	if (r < 0) {
		fprintf(stderr, "pinetboot image versions: %s\n", msg);
		free(v);
		return 1;
	}
	boot = calloc(im.n, sizeof(*boot));
	root = calloc(im.n, sizeof(*root));
	if (!boot || !root) {
		r = -ENOMEM;
		goto out;
	}
	prov_version_disk_use(&im, boot, root);
	prov_image_clients(state, name, collect_user, &users);
	printf("Image '%s': %zu version%s%s\n", name, im.n,
	    im.n == 1 ? "" : "s",
	    im.legacy ? " (stored before versions; moved to v/1 by the next "
			"command that writes to it)"
		      : "");
	printf("%-7s %-6s %-6s %-20s %-7s %10s  %-20s %s\n", "VERSION", "KIND",
	    "PARENT", "CREATED", "ARCH", "SIZE", "CLIENTS", "MADE BY");
	for (i = 0; i < im.n; i++) {
		char parent[16] = "-", who[256] = "", made[REC_MAX_VALUE + 64];
		size_t o = 0;

		if (prov_version_read(&im, im.v[i], v, msg, sizeof(msg)) < 0) {
			printf("%-7u ?      %s\n", im.v[i], msg);
			continue;
		}
		if (v->parent) {
			snprintf(parent, sizeof(parent), "%u", v->parent);
		}
		for (k = 0; k < users.n; k++) {
			const struct prov_image_user *u = &users.u[k];
			const char *tag = u->version == v->n ? ""
			    : u->next == v->n                ? "(moving here)"
			    : u->previous == v->n            ? "(previous)"
							     : NULL;

			if (tag && o < sizeof(who)) {
				o += (size_t)snprintf(who + o, sizeof(who) - o,
				    "%s%s%s", o ? "," : "", users.names[k],
				    tag);
			}
		}
		if (v->promoted[0]) {
			snprintf(made, sizeof(made), "promote of client %s",
			    v->promoted);
		} else if (v->command[0]) {
			snprintf(made, sizeof(made), "update: %s%s", v->command,
			    v->flattened ? " (then flattened into a base)"
					 : "");
		} else {
			snprintf(made, sizeof(made), "import of %s",
			    v->source[0] ? v->source : "?");
		}
		printf("%-7u %-6s %-6s %-20s %-7s %10s  %-20s %s\n", v->n,
		    v->base ? "base" : "delta", parent, v->created,
		    v->arch[0] ? v->arch : "?",
		    size_human(boot[i] + root[i], size, sizeof(size)),
		    o ? who : "-", made);
	}
	printf("SIZE: disk use of the version alone (each inode counted once, "
	       "in the oldest version holding it).\n");
out:
	free(users.u);
	free(users.names);
	free(boot);
	free(root);
	free(v);
	prov_img_close(&im);
	return r < 0 ? 1 : 0;
}

static void
update_note(void *arg, const char *line)
{
	fprintf(stderr, "pinetboot image %s: %s\n", (const char *)arg, line);
}

static int
image_update(
    const char *state, const char *sub, int argc, char **argv, const char *from)
{
	struct prov_update u = {.note = update_note, .note_arg = (void *)sub};
	struct prov_update_info info;
	struct cli_progress p;
	char msg[1024], a[32], b[32];
	bool shell = !strcmp(sub, "shell");
	char *end;
	int r;

	if (argc < 1 || (shell && argc != 1) || (!shell && argc < 2)) {
		return cli_usage_error("image",
		    shell ? "shell needs the image NAME"
			  : "update needs NAME -- CMD [ARGS...]");
	}
	u.image = argv[0];
	u.argv = shell ? NULL : argv + 1;
	if (from) {
		unsigned long f = strtoul(from, &end, 10);

		if (*end || f == 0 || f > PROV_VERSIONS_MAX) {
			return cli_usage_error(
			    "image", "--from needs a version number");
		}
		u.from = (unsigned)f;
	}
	cli_progress_start(&p);
	u.prog = p.prog;
	r = prov_image_update(state, &u, &info, msg, sizeof(msg));
	cli_progress_stop(&p);
	if (r < 0) {
		fprintf(
		    stderr, "pinetboot image %s: %s: %s\n", sub, u.image, msg);
		return r == -EINTR ? 130 : 1;
	}
	if (info.status != 0) {
		fprintf(stderr,
		    "pinetboot image %s: %s: %s exited with status %d; no "
		    "version made\n",
		    sub, u.image, shell ? "the shell" : "the command",
		    info.status);
		return info.status;
	}
	if (info.empty) {
		printf("The %s changed nothing in version %u of '%s'; no "
		       "version made\n",
		    shell ? "shell" : "command", info.from, u.image);
		return 0;
	}
	printf("Made version %u of '%s' from version %u: %s, %llu changed "
	       "object%s, %s of root and %s of boot files on disk\n",
	    info.version, u.image, info.from,
	    info.flattened ? "a base (the chain was flattened)" : "a delta",
	    (unsigned long long)info.entries, info.entries == 1 ? "" : "s",
	    size_human(info.root_bytes, a, sizeof(a)),
	    size_human(info.boot_bytes, b, sizeof(b)));
	return 0;
}

struct image_opts {
	const char *name, *from, *canary, *timeout;
};

static int
image_remove(const char *state, const char *ref)
{
	char img[REC_NAME_MAX + 1], msg[1024];
	unsigned v;
	int r;

	if (prov_image_ref_parse(ref, img, &v) < 0) {
		return cli_usage_error(
		    "image", "remove needs NAME or NAME@VERSION");
	}
	if (v) {
		r = prov_version_remove(state, img, v, msg, sizeof(msg));
		if (r < 0) {
			fprintf(stderr, "pinetboot image remove: %s\n", msg);
			return 1;
		}
		printf("Removed version %u of image '%s'\n", v, img);
		return 0;
	}
	r = prov_image_remove(state, img, msg, sizeof(msg));
	if (r < 0) {
		fprintf(stderr, "pinetboot image remove: %s\n", msg);
		return 1;
	}
	printf("Removed image '%s'\n", img);
	return 0;
}

static int
image_run(const char *state, uint64_t max_bytes, const char *sub, int argc,
    char **argv, const struct image_opts *o)
{
	const char *name = o->name, *from = o->from;

	if (!strcmp(sub, "import")) {
		return image_import(state, max_bytes, argc, argv, name);
	}
	if (!strcmp(sub, "update") || !strcmp(sub, "shell")) {
		return image_update(state, sub, argc, argv, from);
	}
	if (from) {
		return cli_usage_error(
		    "image", "--from is for update and shell");
	}
	if (strcmp(sub, "rollout") != 0 && (o->canary || o->timeout)) {
		return cli_usage_error(
		    "image", "--canary and --health-timeout are for rollout");
	}
	if (!strcmp(sub, "rollout")) {
		return argc == 1
		    ? cli_image_rollout(state, argv[0], o->canary, o->timeout)
		    : cli_usage_error("image", "rollout needs NAME@VERSION");
	}
	if (!strcmp(sub, "rollback")) {
		return argc == 1
		    ? cli_image_rollback(state, argv[0])
		    : cli_usage_error("image", "rollback needs the image NAME");
	}
	if (!strcmp(sub, "versions")) {
		return argc == 1
		    ? image_versions(state, argv[0])
		    : cli_usage_error("image", "versions needs the image NAME");
	}
	if (!strcmp(sub, "list")) {
		return argc == 0 ? image_list(state)
				 : cli_usage_error("image",
				       "list takes no "
				       "arguments");
	}
	if (!strcmp(sub, "remove")) {
		return argc == 1 ? image_remove(state, argv[0])
				 : cli_usage_error("image",
				       "remove needs NAME or NAME@VERSION");
	}
	return cli_usage_error("image", "unknown subcommand '%s'", sub);
}

int
cli_image(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"state-dir", required_argument, NULL, 's'},
	    {"name", required_argument, NULL, 'n'},
	    {"max-size", required_argument, NULL, 'm'},
	    {"config", required_argument, NULL, 'c'},
	    {"from", required_argument, NULL, 'f'},
	    {"canary", required_argument, NULL, 'k'},
	    {"health-timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *state = NULL, *max_size = NULL, *config = NULL, *sub;
	struct image_opts io = {0};
	struct cfg *cfg = NULL;
	char msg[1024];
	int c, r;

	/* GNU getopt permutes: options may come before or after SUB. */
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			state = optarg;
			break;
		case 'n':
			io.name = optarg;
			break;
		case 'm':
			max_size = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'f':
			io.from = optarg;
			break;
		case 'k':
			io.canary = optarg;
			break;
		case 't':
			io.timeout = optarg;
			break;
		case 'h':
			image_usage(stdout);
			return 0;
		default:
			return cli_usage_error("image", "bad option");
		}
	}
	if (optind >= argc) {
		image_usage(stderr);
		return 2;
	}
	sub = argv[optind];
	argc -= optind + 1;
	argv += optind + 1;
	if (strcmp(sub, "import") != 0 && (io.name || max_size)) {
		return cli_usage_error(
		    "image", "--name and --max-size are for import");
	}
	/* Defaults, then the config file, then the command line. */
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		fprintf(stderr, "pinetboot image: out of memory\n");
		return 1;
	}
	cfg_defaults(cfg);
	if (config && cli_read_config(config, cfg, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "pinetboot image: %s\n", msg);
		free(cfg);
		return 2;
	}
	if (max_size &&
	    cfg_set(cfg, "image", "max_size", max_size, msg, sizeof(msg)) < 0) {
		free(cfg);
		return cli_usage_error("image", "--max-size: %s", msg);
	}
	r = image_run(state ? state : cfg->state_dir, cfg->image_max_size, sub,
	    argc, argv, &io);
	free(cfg);
	return r;
}
