/*
 * The server-side view of a layered tree for the e2e tests: where the
 * object a client sees at a path lives on disk, found through the layer
 * library itself (read-only; it leaves the running server's temporaries
 * alone), so a test checks what the server stored as it checks a plain
 * export's directory.
 *
 *   layer_view [-u UPPER -w WORK] LOWER... -- path REL
 *       prints the host path of REL's top instance (the client's copy,
 *       its own file, or the version's), or a path that does not exist
 *       when REL is not in the merged tree
 *   layer_view [-u UPPER -w WORK] LOWER... -- ls REL
 *       prints the merged listing of directory REL, one name a line
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layer/internal.h"
#include "layer/layer.h"

static int
usage(void)
{
	fprintf(stderr,
	    "usage: layer_view [-u UPPER -w WORK] LOWER... -- "
	    "path|ls REL\n");
	return 2;
}

static int
print_name(void *arg, const struct layer_dirent *e)
{
	(void)arg;
	if (strcmp(e->name, ".") != 0 && strcmp(e->name, "..") != 0) {
		printf("%.*s\n", (int)e->namelen, e->name);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct layer_stack_conf c = {.atfd = AT_FDCWD, .read_only = true};
	struct layer_stack *st;
	struct layer_node *n = NULL;
	const char *cmd, *rel;
	char proc[64], buf[4096];
	ssize_t len;
	int i = 1, r, fd;

	for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "-u") == 0 && i + 1 < argc) {
			c.client = argv[++i];
		} else if (strcmp(argv[i], "-w") == 0 && i + 1 < argc) {
			c.index = argv[++i];
		} else if (c.nversions < LAYER_VERSIONS_MAX) {
			c.versions[c.nversions++] = argv[i];
		} else {
			return usage();
		}
	}
	if (i + 3 != argc) {
		return usage();
	}
	cmd = argv[i + 1];
	rel = argv[i + 2];
	while (*rel == '/') {
		rel++;
	}
	r = layer_stack_open(&c, &st, NULL);
	if (r < 0) {
		fprintf(stderr, "layer_view: %s\n", strerror(-r));
		return 1;
	}
	r = layer_lookup_path(st, rel, &n);
	if (strcmp(cmd, "ls") == 0) {
		r = r < 0 ? r : layer_readdir(st, NULL, n, 0, print_name, NULL);
		layer_node_free(n);
		layer_stack_close(st);
		return r < 0 ? 1 : 0;
	}
	if (strcmp(cmd, "path") != 0) {
		layer_stack_close(st);
		return usage();
	}
	if (r < 0) {
		/* Nothing there: a path that cannot exist either. */
		printf("/nonexistent/pnb-layer-view/%s\n", rel);
		layer_stack_close(st);
		return 0;
	}
	fd = n->type == S_IFDIR ? layer_dir_top(n) : n->fd;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	len = readlink(proc, buf, sizeof(buf) - 1);
	layer_node_free(n);
	layer_stack_close(st);
	if (len <= 0) {
		return 1;
	}
	printf("%.*s\n", (int)len, buf);
	return 0;
}
