#ifndef PNB_IMAGE_PROVISION_UPDATE_H
#define PNB_IMAGE_PROVISION_UPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "image/provision/source.h"

/*
 * `image update` and `image shell`: run a command inside an image
 * version and keep what it changed as the next version (docs/fleet.md,
 * docs/provisioning.md).
 *
 * A child process in its own mount and PID namespaces mounts the
 * version's layer stack with the kernel's overlayfs (userxattr; no
 * redirect_dir, metacopy or index), the root with the boot tree at the
 * image's boot mount point, binds /dev, /sys and the host's resolv.conf
 * (read-only), mounts a /proc of its own, chroots and runs the command.
 * The namespaces die with their last process, so no mount ever reaches
 * the host, and a SIGKILL of pinetboot kills the whole namespace
 * (PR_SET_PDEATHSIG on the way down).  The upper directories, in
 * STATE/images/NAME/.tmp-u-PID, become the new version's delta.
 */

struct prov_update {
	const char *image; /* borrowed */
	unsigned from;     /* version to start from; 0: the newest */
	char *const *argv; /* the command, NULL-terminated; NULL: a shell */
	struct prov_progress prog;
	/* Called with a line of what is happening (may be NULL). */
	void (*note)(void *arg, const char *line);
	void *note_arg;
};

struct prov_update_info {
	unsigned from;    /* the version the command ran in */
	unsigned version; /* the version made, or 0 */
	int status;       /* the command's exit status (128+N: signal N) */
	bool empty;       /* the command changed nothing */
	bool flattened;   /* the new version is a base */
	bool emulated;    /* ran through binfmt_misc and QEMU */
	char arch[16];
	uint64_t entries; /* objects in the new delta */
	uint64_t boot_bytes, root_bytes;
};

/*
 * prov_image_update() - run @u->argv (or a shell) in a version of image
 * @u->image and make the next version of what it changed.
 * Return: 0 when the command ran (@info->status says how it ended; a
 * version is made only when it is 0 and something changed), or a
 * negative code with @msg saying what is wrong.
 */
int prov_image_update(const char *state, const struct prov_update *u,
    struct prov_update_info *info, char *msg, size_t msglen);

/* A binfmt_misc registration held for one command; see binfmt.c. */
struct binfmt_guard {
	int life, report;
};

/*
 * binfmt_start() - make programs of @arch runnable inside chroots for as
 * long as this process lives or until binfmt_stop(): use the host's
 * binfmt_misc entry when one with the F flag serves, else register
 * Debian's qemu-user-static rule for the time being.
 * @note: what was done, for the user.
 * Return: 0; -EOPNOTSUPP with @msg saying why not.
 */
int binfmt_start(struct binfmt_guard *g, const char *arch, char *note,
    size_t notelen, char *msg, size_t msglen);

/* binfmt_stop() - undo binfmt_start() and wait until the host is as it was. */
void binfmt_stop(struct binfmt_guard *g);

/* binfmt_native() - does a host of @host run @arch programs itself? */
bool binfmt_native(const char *arch, const char *host);

#endif
