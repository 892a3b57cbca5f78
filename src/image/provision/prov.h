#ifndef PNB_IMAGE_PROVISION_PROV_H
#define PNB_IMAGE_PROVISION_PROV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/provision/source.h"

/*
 * Provisioning: images imported once into STATE/images/NAME/{boot,root},
 * clients made from them into STATE/clients/NAME/{boot,root,client.conf}.
 * Every change is built in a hidden temporary directory next to its final
 * place and renamed into place, so an interrupted run leaves nothing that
 * looks like an image or a client; temporaries of dead runs are removed
 * by the next run.  Formats: docs/provisioning.md.
 */

#define PROV_NAME_MAX 63

/* A small `key = value` record: image.conf and client.conf. */
#define PROV_REC_MAX_KEYS  32
#define PROV_REC_MAX_VALUE 1024
#define PROV_REC_MAX_BYTES 65536

struct prov_kv {
	const char *key, *value; /* borrowed from the parsed text */
	size_t klen, vlen;
};

struct prov_rec {
	struct prov_kv kv[PROV_REC_MAX_KEYS];
	size_t n;
};

/*
 * prov_rec_parse() - parse `key = value` lines; '#' starts a comment line,
 * blank lines are skipped, keys are [a-z0-9_]+, values run to the end of
 * the line with surrounding blanks removed.
 * @text, @len: the file (borrowed; @r borrows from it).
 * @line: on failure, the 1-based line at fault.
 * Return: 0; -EBADMSG (a line without '=', a bad key, a NUL byte);
 * -EMSGSIZE (more than PROV_REC_MAX_KEYS keys, a value or file too long);
 * -EEXIST (a key given twice).
 */
int prov_rec_parse(
    const char *text, size_t len, struct prov_rec *r, unsigned *line);

/*
 * prov_rec_get() - copy the value of @key into @out (NUL-terminated).
 * Return: true if present and it fits.
 */
bool prov_rec_get(
    const struct prov_rec *r, const char *key, char *out, size_t cap);

/* prov_name_ok() - [a-z0-9][a-z0-9._-]{0,62}, not ending in '.'. */
bool prov_name_ok(const char *name);

struct prov_import {
	const char *file; /* borrowed */
	const char *name; /* borrowed */
	struct prov_progress prog;
};

struct prov_image_info {
	char name[PROV_NAME_MAX + 1];
	char os[128];        /* PRETTY_NAME of /etc/os-release */
	char boot_mount[32]; /* /boot/firmware or /boot */
	char kernels[512];   /* kernel*.img names, space-separated */
	char models[256];    /* Pi models the boot files can start */
	char scheme[8];      /* mbr or gpt */
	uint32_t disk_id;
	uint64_t boot_bytes, root_bytes, disk_bytes;
	uint64_t files, symlinks, hardlinks, specials, xattrs;
	int threads;
	bool used_backup_gpt;
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

struct prov_client {
	const char *name, *serial, *mac, *image, *hostname, *address;
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
	bool server_guessed;
	char server[64];
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
