#ifndef PNB_IMAGE_PROVISION_EDIT_H
#define PNB_IMAGE_PROVISION_EDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "layer/layer.h"

/*
 * The identity edits of `client add` (docs/provisioning.md, "What client
 * add changes"), written once and applied to either kind of tree: a
 * plain directory (a `--root copy` client) or a layer stack (a layered
 * client's layer, or its identity for another version), through a small
 * table of tree operations.
 *
 * Paths are relative to the tree's root; symlinks in them resolve inside
 * that root (an absolute target starts at the tree's root, ".." stops
 * there), as openat2(RESOLVE_IN_ROOT) does, so an image's symlink never
 * leads outside it.  The last component is followed where noted.
 */
struct prov_tree_ops {
	/*
	 * The regular file @rel (last component followed), at most @max
	 * bytes, NUL-terminated.  Return: owned text (free()), or NULL with
	 * errno set (EFBIG: larger than @max; EINVAL: not a regular file).
	 */
	char *(*read)(void *ctx, const char *rel, size_t max, size_t *len);
	/*
	 * Replace the object at @rel with a regular file of @len bytes, in
	 * one rename: the old file's owner, mode and extended attributes
	 * are kept when it was a regular file, else root and @mode.
	 */
	int (*write)(void *ctx, const char *rel, const void *data, size_t len,
	    mode_t mode);
	/* The type (S_IFMT) of @rel, the last component not followed. */
	int (*type)(void *ctx, const char *rel, mode_t *type);
	/* Call @fn for each name in directory @rel (followed). */
	int (*names)(void *ctx, const char *rel,
	    int (*fn)(void *arg, const char *name), void *arg);
	/* Remove the non-directory @rel; a missing one is fine. */
	int (*unlink)(void *ctx, const char *rel);
	/* Replace whatever is at @rel with a symlink to @target. */
	int (*symlink)(void *ctx, const char *rel, const char *target);
	/* Make directory @rel (owned by root); one already there is fine. */
	int (*mkdir)(void *ctx, const char *rel, mode_t mode);
	/* Give @rel (not followed) owner @uid and group @gid. */
	int (*chown)(void *ctx, const char *rel, uid_t uid, gid_t gid);
};

struct prov_tree {
	const struct prov_tree_ops *ops;
	void *ctx;
};

/* prov_tree_plain() - @t works on the directory @rootfd (borrowed). */
void prov_tree_plain(struct prov_tree *t, int rootfd);

/*
 * prov_tree_layer() - @t works on the merged tree of @st (borrowed; a
 * writable stack), as the server: edits land in the client layer.
 */
void prov_tree_layer(struct prov_tree *t, struct layer_stack *st);

/* What makes a client itself; every field is borrowed. */
struct prov_identity {
	const char *hostname;
	const char *server;                /* NFS server address, or NULL */
	const char *root_path, *boot_path; /* export names */
	const char *boot_mount;            /* /boot/firmware or /boot */
	const char *user;                  /* NAME:HASH, or NULL */
	const char *keys;                  /* authorized_keys text, or NULL */
	size_t keys_len;
	bool ssh;
	char machine_id[33]; /* 32 hex digits */
};

/*
 * prov_identity_apply() - make the trees @boot and @root those of the
 * client @id: cmdline.txt, ssh, userconf.txt in the boot tree; fstab,
 * hostname, hosts, machine-id, SSH host keys, service masks,
 * NetworkManager, dhcpcd and authorized keys in the root.  The same
 * inputs on the same version give the same trees (the machine-id is an
 * input), so a client's identity can be made again for another version.
 * @cmdline: gets the new command line (@cmdcap bytes).
 * Return: 0, or a negative code with @msg saying what failed.
 */
int prov_identity_apply(const struct prov_identity *id,
    const struct prov_tree *boot, const struct prov_tree *root, char *cmdline,
    size_t cmdcap, char *msg, size_t msglen);

/* prov_machine_id() - 32 fresh random hex digits into @out. */
int prov_machine_id(char out[33]);

#endif
