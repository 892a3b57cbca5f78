/*
 * layer_edit STATE CLIENT OP ARGS... [-- OP ARGS...]...: change a layered
 * client's merged tree through src/layer, as the NFS server does for a
 * Pi's calls (the server's own identity, no client credentials), so the
 * e2e tests of diff, reset, promote and moves have a client that wrote
 * things.  PATH is "/..." in the root or "boot:/..." in the boot tree.
 *
 *   write PATH TEXT     truncate and write an existing file in place
 *   append PATH TEXT    append to an existing file
 *   create PATH TEXT    a new file (mode 0644)
 *   mkdir PATH          a new directory (0755)
 *   symlink PATH TARGET
 *   rm PATH             unlink; rmdir PATH: remove an empty directory
 *   rename FROM TO      link FROM TO
 *   chmod PATH OCTAL
 *   touchw PATH         open for writing and close (a copy-up, no change)
 *   hold SECONDS        keep the stacks open (the client "mounted")
 *
 * Exit status 0, or 1 with a message naming the failed operation.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/provision/fleet.h"

struct tool {
	struct layer_stack *st[2]; /* boot, root */
};

static struct layer_stack *
pick(struct tool *t, const char **path)
{
	if (strncmp(*path, "boot:", 5) == 0) {
		*path += 5;
		while (**path == '/') {
			(*path)++;
		}
		return t->st[0];
	}
	while (**path == '/') {
		(*path)++;
	}
	return t->st[1];
}

/* The directory holding @path, and @path's last name. */
static int
parent_of(struct layer_stack *st, const char *path, struct layer_node **dir,
    const char **name)
{
	const char *slash = strrchr(path, '/');
	char up[4096];

	if (!slash) {
		*name = path;
		return layer_lookup_path(st, "", dir);
	}
	snprintf(up, sizeof(up), "%.*s", (int)(slash - path), path);
	*name = slash + 1;
	return layer_lookup_path(st, up, dir);
}

static int
put(struct layer_stack *st, const char *path, const char *text, int how)
{
	struct layer_node *n = NULL;
	int fd, r = layer_lookup_path(st, path, &n);

	if (r < 0) {
		return r;
	}
	fd = layer_open_data(st, NULL, n, O_WRONLY);
	layer_node_free(n);
	if (fd < 0) {
		return fd;
	}
	if (how == 'w' && ftruncate(fd, 0) < 0) {
		r = -errno;
	} else if (lseek(fd, 0, how == 'a' ? SEEK_END : SEEK_SET) < 0 ||
	    write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		r = -EIO;
	}
	close(fd);
	return r;
}

static int
make(struct layer_stack *st, const char *path, mode_t type, const char *arg)
{
	struct layer_new nw = {
	    .type = type,
	    .mode = type == S_IFDIR ? 0755 : 0644,
	    .target = arg,
	};
	struct layer_node *dir = NULL, *n = NULL;
	const char *name;
	int r = parent_of(st, path, &dir, &name);

	if (r == 0) {
		r = layer_create(st, NULL, dir, name, &nw, &n);
	}
	layer_node_free(dir);
	layer_node_free(n);
	if (r == 0 && type == S_IFREG && arg) {
		r = put(st, path, arg, 'w');
	}
	return r;
}

static int
two_paths(struct tool *t, const char *op, const char *a, const char *b)
{
	struct layer_node *sd = NULL, *td = NULL, *n = NULL;
	struct layer_stack *st = pick(t, &a);
	const char *sn, *tn;
	int r;

	if (pick(t, &b) != st) {
		return -EXDEV;
	}
	r = parent_of(st, b, &td, &tn);
	if (r == 0 && strcmp(op, "rename") == 0) {
		r = parent_of(st, a, &sd, &sn);
		if (r == 0) {
			r = layer_rename(st, NULL, sd, sn, td, tn);
		}
	} else if (r == 0) {
		r = layer_lookup_path(st, a, &n);
		if (r == 0) {
			r = layer_link(st, NULL, n, td, tn);
		}
	}
	layer_node_free(sd);
	layer_node_free(td);
	layer_node_free(n);
	return r;
}

static int
one(struct tool *t, char **argv, int argc)
{
	const char *op = argv[0], *path = argc > 1 ? argv[1] : "";
	struct layer_stack *st = pick(t, &path);
	struct layer_node *dir = NULL, *n = NULL;
	const char *name;
	int r;

	if (!strcmp(op, "hold") && argc == 2) {
		sleep((unsigned)atoi(argv[1]));
		return 0;
	}
	if (argc == 3 && (!strcmp(op, "write") || !strcmp(op, "append"))) {
		return put(st, path, argv[2], op[0]);
	}
	if (argc == 3 && !strcmp(op, "create")) {
		return make(st, path, S_IFREG, argv[2]);
	}
	if (argc == 2 && !strcmp(op, "mkdir")) {
		return make(st, path, S_IFDIR, NULL);
	}
	if (argc == 3 && !strcmp(op, "symlink")) {
		return make(st, path, S_IFLNK, argv[2]);
	}
	if (argc == 3 && (!strcmp(op, "rename") || !strcmp(op, "link"))) {
		return two_paths(t, op, argv[1], argv[2]);
	}
	if (argc == 2 && (!strcmp(op, "rm") || !strcmp(op, "rmdir"))) {
		r = parent_of(st, path, &dir, &name);
		if (r == 0) {
			r = op[1] == 'm' ? layer_unlink(st, NULL, dir, name)
					 : layer_rmdir(st, NULL, dir, name);
		}
		layer_node_free(dir);
		return r;
	}
	if (argc == 2 && !strcmp(op, "touchw")) {
		r = layer_lookup_path(st, path, &n);
		r = r < 0 ? r : layer_open_data(st, NULL, n, O_WRONLY);
		if (r >= 0) {
			close(r);
			r = 0;
		}
		layer_node_free(n);
		return r;
	}
	if (argc == 3 && !strcmp(op, "chmod")) {
		struct layer_sattr sa = {
		    .set_mode = true,
		    .mode = (mode_t)strtoul(argv[2], NULL, 8),
		    .atime = {.tv_nsec = UTIME_OMIT},
		    .mtime = {.tv_nsec = UTIME_OMIT},
		};

		r = layer_lookup_path(st, path, &n);
		if (r == 0) {
			r = layer_setattr(st, NULL, n, &sa);
		}
		layer_node_free(n);
		return r;
	}
	return -EINVAL;
}

int
main(int argc, char **argv)
{
	static const char *const trees[] = {"boot", "root"};
	struct tool t = {0};
	struct prov_cl c;
	struct prov_img im;
	char msg[1024];
	int i, start, r, k;

	if (argc < 4) {
		fprintf(stderr,
		    "usage: layer_edit STATE CLIENT OP ARGS... "
		    "[-- OP ARGS...]...\n");
		return 2;
	}
	r = prov_cl_open(&c, argv[1], argv[2], false, msg, sizeof(msg));
	if (r == 0) {
		r = prov_img_open(
		    &im, argv[1], c.image, false, msg, sizeof(msg));
		for (k = 0; r == 0 && k < 2; k++) {
			r = prov_cl_stack(&c, &im, c.version, trees[k], "layer",
			    false, &t.st[k], msg, sizeof(msg));
		}
	}
	if (r < 0) {
		fprintf(stderr, "layer_edit: %s\n", msg);
		return 1;
	}
	for (start = 3; start < argc; start = i + 1) {
		for (i = start; i < argc && strcmp(argv[i], "--") != 0; i++) {
		}
		r = one(&t, argv + start, i - start);
		if (r < 0) {
			fprintf(stderr, "layer_edit: %s %s: %s\n", argv[start],
			    i - start > 1 ? argv[start + 1] : "", strerror(-r));
			break;
		}
	}
	layer_stack_close(t.st[0]);
	layer_stack_close(t.st[1]);
	prov_img_close(&im);
	prov_cl_close(&c);
	return r < 0 ? 1 : 0;
}
