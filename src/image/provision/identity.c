#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/provision/identity.h"
#include "image/provision/tree.h"

int
prov_layer_dir_make(int parent, const char *name)
{
	static const struct {
		const char *rel;
		mode_t mode;
	} dirs[] = {
	    {"", 0755},
	    {"/root", 0755},
	    {"/boot", 0755},
	    {"/index", 0700},
	    {"/index/root", 0700},
	    {"/index/boot", 0700},
	};
	char rel[NAME_MAX + 16];
	size_t i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(rel, sizeof(rel), "%s%s", name, dirs[i].rel);
		if (mkdirat(parent, rel, dirs[i].mode) < 0) {
			return -errno;
		}
		/* The layer roots are what the merged roots start from. */
		if (fchmodat(parent, rel, dirs[i].mode, 0) < 0) {
			return -errno;
		}
	}
	return 0;
}

void
prov_identity_path(unsigned v, char *out, size_t cap)
{
	snprintf(out, cap, "identity/v/%u", v);
}

int
prov_identity_build(const struct prov_img *im, unsigned v,
    const struct prov_identity *id, int layerdir, char *cmdline, size_t cmdcap,
    char *msg, size_t msglen)
{
	struct layer_stack *bs = NULL, *rs = NULL;
	struct prov_tree bt, rt;
	char bl[64], bi[64], rl[64], ri[64], scratch[1024];
	int r;

	snprintf(bl, sizeof(bl), "/proc/self/fd/%d/boot", layerdir);
	snprintf(bi, sizeof(bi), "/proc/self/fd/%d/index/boot", layerdir);
	snprintf(rl, sizeof(rl), "/proc/self/fd/%d/root", layerdir);
	snprintf(ri, sizeof(ri), "/proc/self/fd/%d/index/root", layerdir);
	r = prov_version_stack(
	    im, v, "boot", -1, bl, bi, false, &bs, msg, msglen);
	if (r == 0) {
		r = prov_version_stack(
		    im, v, "root", -1, rl, ri, false, &rs, msg, msglen);
	}
	if (r == 0) {
		prov_tree_layer(&bt, bs);
		prov_tree_layer(&rt, rs);
		r = prov_identity_apply(id, &bt, &rt,
		    cmdline ? cmdline : scratch,
		    cmdline ? cmdcap : sizeof(scratch), msg, msglen);
	}
	layer_stack_close(bs);
	layer_stack_close(rs);
	return r;
}

int
prov_identity_make(int clientfd, const struct prov_img *im, unsigned v,
    const struct prov_identity *id, char *msg, size_t msglen)
{
	char path[64], tmp[64];
	int fd = -1, r;

	prov_identity_path(v, path, sizeof(path));
	if (faccessat(clientfd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		return 0;
	}
	if ((mkdirat(clientfd, "identity", 0755) < 0 && errno != EEXIST) ||
	    (mkdirat(clientfd, "identity/v", 0755) < 0 && errno != EEXIST)) {
		r = -errno;
		snprintf(msg, msglen, "making identity/v: %s", strerror(-r));
		return r;
	}
	snprintf(tmp, sizeof(tmp), "identity/.tmp-v%u-%ld", v, (long)getpid());
	tree_rm(clientfd, tmp);
	r = prov_layer_dir_make(clientfd, tmp);
	if (r == 0) {
		fd = openat(clientfd, tmp,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		r = fd < 0 ? -errno : 0;
	}
	if (r == 0) {
		r = prov_identity_build(im, v, id, fd, NULL, 0, msg, msglen);
	}
	/* The index only counted hidden version names: not identity. */
	if (r == 0) {
		r = tree_rm(fd, "index");
	}
	if (r == 0 && renameat(clientfd, tmp, clientfd, path) < 0) {
		r = -errno;
	}
	if (fd >= 0) {
		close(fd);
	}
	if (r < 0) {
		tree_rm(clientfd, tmp);
		if (!msg[0]) {
			snprintf(msg, msglen,
			    "making the identity for version %u: %s", v,
			    strerror(-r));
		}
	}
	return r;
}

void
prov_identity_inputs_fini(struct prov_identity_inputs *in)
{
	free(in->keys);
	in->keys = NULL;
}

/* A file of the identity tree, or NULL when it has none. */
static char *
identity_file(int clientfd, unsigned v, const char *rel, size_t max)
{
	char path[PATH_MAX];
	int fd;
	char *text;

	prov_identity_path(v, path, sizeof(path));
	fd = openat(
	    clientfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		return NULL;
	}
	text = tree_read_file(fd, rel, max, NULL);
	close(fd);
	return text;
}

int
prov_identity_load(int clientfd, const struct rec *rec, unsigned v,
    struct prov_identity_inputs *in, char *msg, size_t msglen)
{
	char options[256] = "", *text;
	size_t i;

	memset(in, 0, sizeof(*in));
	if (!rec_get(rec, "hostname", in->hostname, sizeof(in->hostname)) ||
	    !rec_get(rec, "root_dir", in->root_path, sizeof(in->root_path)) ||
	    !rec_get(rec, "boot_dir", in->boot_path, sizeof(in->boot_path)) ||
	    !rec_get(
		rec, "boot_mount", in->boot_mount, sizeof(in->boot_mount))) {
		snprintf(msg, msglen,
		    "client.conf lacks hostname, root_dir, boot_dir or "
		    "boot_mount");
		return -EBADMSG;
	}
	rec_get(rec, "server", in->server, sizeof(in->server));
	rec_get(rec, "options", options, sizeof(options));
	in->id.hostname = in->hostname;
	in->id.server = in->server[0] ? in->server : NULL;
	in->id.root_path = in->root_path;
	in->id.boot_path = in->boot_path;
	in->id.boot_mount = in->boot_mount;
	in->id.ssh = strstr(options, "ssh") != NULL;
	text = identity_file(clientfd, v, "root/etc/machine-id", 64);
	if (!text || strlen(text) < 32) {
		free(text);
		snprintf(msg, msglen,
		    "identity/v/%u/root/etc/machine-id is missing: the "
		    "client's identity is damaged",
		    v);
		return -EBADMSG;
	}
	memcpy(in->id.machine_id, text, 32);
	in->id.machine_id[32] = 0;
	free(text);
	for (i = 0; i < 32; i++) {
		if (!strchr("0123456789abcdef", in->id.machine_id[i])) {
			snprintf(msg, msglen,
			    "identity/v/%u/root/etc/machine-id is not 32 "
			    "hex digits",
			    v);
			return -EBADMSG;
		}
	}
	if (strstr(options, "userconf")) {
		text = identity_file(clientfd, v, "boot/userconf.txt", 511);
		if (text) {
			snprintf(in->user, sizeof(in->user), "%.*s",
			    (int)strcspn(text, "\n"), text);
			in->id.user = in->user;
		}
		free(text);
	}
	in->keys =
	    identity_file(clientfd, v, "root/root/.ssh/authorized_keys", 65536);
	if (in->keys) {
		in->id.keys = in->keys;
		in->id.keys_len = strlen(in->keys);
	}
	return 0;
}
