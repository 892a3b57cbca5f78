#ifndef PNB_IMAGE_PROVISION_PROV_H
#define PNB_IMAGE_PROVISION_PROV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rec.h"

#include "image/provision/source.h"

/*
 * Provisioning: images imported once into STATE/images/NAME/{boot,root},
 * clients made from them into STATE/clients/NAME/{boot,root,client.conf}.
 * Every change is built in a hidden temporary directory next to its final
 * place and renamed into place, so an interrupted run leaves nothing that
 * looks like an image or a client; temporaries of dead runs are removed
 * by the next run.  Formats: docs/provisioning.md.
 */

struct prov_import {
	const char *file; /* borrowed */
	const char *name; /* borrowed */
	/*
	 * The most the import writes for the decompressed disk, and for the
	 * files of each partition (cfg image.max_size).
	 */
	uint64_t max_bytes;
	struct prov_progress prog;
};

struct prov_image_info {
	char name[REC_NAME_MAX + 1];
	char os[128];        /* PRETTY_NAME of /etc/os-release */
	char boot_mount[32]; /* /boot/firmware or /boot */
	char kernels[512];   /* kernel*.img names, space-separated */
	char models[256];    /* Pi models the boot files can start */
	char scheme[8];      /* mbr or gpt */
	uint32_t disk_id;
	uint64_t boot_bytes, root_bytes, disk_bytes;
	uint64_t files, symlinks, hardlinks, specials, xattrs;
	uint64_t markers;         /* overlay markers left out */
	uint64_t root_disk_bytes; /* the root tree's disk use */
	unsigned version;         /* the version made */
	char arch[16];            /* from the root's ELF binaries */
	char created[32];
	int threads;
	bool used_backup_gpt;
	char note[512]; /* directories made private on the way, or "" */
};

/*
 * prov_image_import() - import @im->file as image @im->name.
 * @msg: on failure, what is wrong (the caller prefixes the file name).
 * Return: 0 or a negative code (see pnb_strerror()).
 */
int prov_image_import(const char *state, const struct prov_import *im,
    struct prov_image_info *info, char *msg, size_t msglen);

/*
 * prov_image_remove() - remove image @name, refused with -EBUSY (and the
 * clients named in @msg) while any client record names it.
 */
int prov_image_remove(
    const char *state, const char *name, char *msg, size_t msglen);

/* How a client's root is kept (docs/fleet.md, Client root modes). */
enum prov_root_mode {
	PROV_ROOT_LAYERED,  /* a persistent layer over an image version */
	PROV_ROOT_VOLATILE, /* a layer emptied at each boot */
	PROV_ROOT_COPY,     /* full trees of its own */
};

/* prov_root_mode_name() - "layered", "volatile" or "copy". */
const char *prov_root_mode_name(enum prov_root_mode m);

/*
 * prov_root_mode_parse() - a root mode by name; NULL or "" is copy (a
 * record from before root modes).  Return: 0 or -EINVAL.
 */
int prov_root_mode_parse(const char *s, enum prov_root_mode *out);

struct prov_client {
	const char *name, *serial, *mac, *hostname, *address;
	const char *image;   /* NAME or NAME@VERSION (default: the newest) */
	const char *root;    /* layered (default), volatile or copy */
	const char *server;  /* NFS server address, or NULL */
	const char *user;    /* NAME:HASH for userconf.txt, or NULL */
	const char *ssh_key; /* authorized_keys file to install, or NULL */
	bool ssh;
	struct prov_progress prog;
};

struct prov_client_info {
	char root_dir[4096], boot_dir[4096];
	char cmdline[1024];
	uint64_t files, reflinked, copied_bytes;
	unsigned version; /* the image version the trees came from */
	enum prov_root_mode mode;
	uint64_t layer_bytes; /* layered: disk use of the new client */
	/*
	 * The boot files to check for what stops some Pis (bootcheck.h):
	 * a copy's own, a layered client's version's when it is a base
	 * (its identity changes no file the check reads); "" for none.
	 */
	char boot_check[4096];
	bool server_guessed;
	char server[64];
	char note[512]; /* directories made private on the way, or "" */
};

/*
 * prov_client_add() - make client @c from its image.
 * Return: 0 or a negative code with @msg saying what is wrong.
 */
int prov_client_add(const char *state, const struct prov_client *c,
    struct prov_client_info *info, char *msg, size_t msglen);

/* prov_client_remove() - remove client @name atomically. */
int prov_client_remove(
    const char *state, const char *name, char *msg, size_t msglen);

/*
 * prov_private_dir() - make @state and @state/@sub private (0700, see
 * io_private_dir()) and write the latter's path to @dir (@cap bytes).
 * @note: gets a sentence naming the directories that were open to others
 * and were tightened, else "".
 * Return: 0 or -errno with @msg saying what failed.
 */
int prov_private_dir(const char *state, const char *sub, char *dir, size_t cap,
    char *note, size_t notelen, char *msg, size_t msglen);

/*
 * prov_clean_stale() - remove temporaries in @dir (images/ or clients/)
 * left by runs whose process no longer exists.
 */
void prov_clean_stale(const char *dir);

/*
 * prov_edit_cmdline() - rewrite a kernel command line for an NFS root:
 * drop root=, rootfstype=, fsck.repair=, init=, resize, nfsroot=, ip=,
 * rw/ro and rootwait, keep the rest (console settings), and append
 * "root=/dev/nfs nfsroot=[SERVER:]PATH,vers=3,tcp rw ip=dhcp rootwait".
 * Pure text function, for unit tests.
 * Return: 0 or -EMSGSIZE when @out is too small.
 */
int prov_edit_cmdline(const char *in, const char *server, const char *path,
    char *out, size_t cap);

/*
 * prov_edit_fstab() - drop the lines mounting / and @boot_mount from
 * PARTUUID=, UUID=, LABEL= or /dev/mmcblk*, and append the NFS boot mount
 * when @server is set.  Returns owned text (free()) or NULL (ENOMEM).
 */
char *prov_edit_fstab(const char *in, const char *boot_mount,
    const char *server, const char *boot_dir);

#endif
