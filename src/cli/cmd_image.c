#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "core/size.h"
#include "core/cfg.h"
#include "core/err.h"
#include "image/provision/prov.h"

#define DEFAULT_STATE "/var/lib/pinetboot"

static void
image_usage(FILE *f)
{
	fprintf(f,
	    "Usage: pinetboot image import FILE [--name NAME] [--max-size "
	    "SIZE]\n"
	    "       pinetboot image list\n"
	    "       pinetboot image remove NAME\n"
	    "\n"
	    "Import a Raspberry Pi OS image (.img, .img.xz, .img.zst or a\n"
	    "block device, read-only, no loop mounts) into\n"
	    "STATE/images/NAME/{boot,root}, list imported images, or remove\n"
	    "one that no client uses.\n"
	    "\n"
	    "Options:\n"
	    "  --name NAME       image name (default: from FILE)\n"
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
	printf("Imported %s as image '%s' into %s/images/%s\n", im.file,
	    info.name, state, info.name);
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
	if (snprintf(boot, sizeof(boot), "%s/images/%s/boot", state,
		info.name) < (int)sizeof(boot)) {
		cli_boot_warnings("image import", what, boot);
	}
	return 0;
}

static int
image_list(const char *state)
{
	char dir[4096], path[4400], text[REC_MAX_BYTES + 1];
	struct rec rec;
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/images", state);
	d = opendir(dir);
	printf(
	    "%-32s %-40s %-15s %s\n", "NAME", "OS", "BOOT MOUNT", "IMPORTED");
	while (d && (e = readdir(d)) != NULL) {
		char os[256] = "?", bm[64] = "?", when[64] = "?";
		unsigned line;
		size_t len;
		FILE *f;

		if (e->d_name[0] == '.') {
			continue;
		}
		snprintf(
		    path, sizeof(path), "%s/%.255s/image.conf", dir, e->d_name);
		f = fopen(path, "r");
		if (!f) {
			continue;
		}
		len = fread(text, 1, REC_MAX_BYTES, f);
		fclose(f);
		text[len] = '\0';
		if (rec_parse(text, len, &rec, &line) == 0) {
			rec_get(&rec, "os", os, sizeof(os));
			rec_get(&rec, "boot_mount", bm, sizeof(bm));
			rec_get(&rec, "imported", when, sizeof(when));
		}
		printf("%-32s %-40s %-15s %s\n", e->d_name, os, bm, when);
		n++;
	}
	if (d) {
		closedir(d);
	}
	if (n == 0) {
		printf("(no images; import one with 'pinetboot image import "
		       "FILE')\n");
	}
	return 0;
}

static int
image_run(const char *state, uint64_t max_bytes, const char *sub, int argc,
    char **argv, const char *name)
{
	char msg[1024];
	int r;

	if (!strcmp(sub, "import")) {
		return image_import(state, max_bytes, argc, argv, name);
	}
	if (!strcmp(sub, "list")) {
		return argc == 0 ? image_list(state)
				 : cli_usage_error("image",
				       "list takes no "
				       "arguments");
	}
	if (!strcmp(sub, "remove")) {
		if (argc != 1) {
			return cli_usage_error("image", "remove needs a NAME");
		}
		r = prov_image_remove(state, argv[0], msg, sizeof(msg));
		if (r < 0) {
			fprintf(stderr, "pinetboot image remove: %s\n", msg);
			return 1;
		}
		printf("Removed image '%s'\n", argv[0]);
		return 0;
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
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *state = NULL, *name = NULL, *max_size = NULL;
	const char *config = NULL, *sub;
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
			name = optarg;
			break;
		case 'm':
			max_size = optarg;
			break;
		case 'c':
			config = optarg;
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
	if (strcmp(sub, "import") != 0 && (name || max_size)) {
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
	    argc, argv, name);
	free(cfg);
	return r;
}
