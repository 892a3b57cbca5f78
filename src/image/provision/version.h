#ifndef PNB_IMAGE_PROVISION_VERSION_H
#define PNB_IMAGE_PROVISION_VERSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rec.h"
#include "image/provision/source.h"
#include "layer/layer.h"

/*
 * Images as lists of immutable versions (docs/fleet.md, On disk):
 *
 *     STATE/images/NAME/image.conf          name, created
 *     STATE/images/NAME/v/N/version.conf    version N's record
 *     STATE/images/NAME/v/N/{boot,root}     its layers
 *
 * A version is a base (complete trees) or a delta over its parent in the
 * kernel overlayfs format with `userxattr` (whiteouts are 0/0 character
 * devices, opaque directories carry user.overlay.opaque = y).  New
 * versions are built in STATE/images/NAME/.tmp-*-PID and renamed to v/N
 * whole; v/N is never written again.
 *
 * An image from before versions (STATE/images/NAME/{boot,root,
 * image.conf}) reads as version 1; the first command that writes to the
 * image moves its trees to v/1 (through v.mig, so a crash at any step
 * leaves trees that the next command finds and moves on).
 */

/* Layers in one version's stack before a new version is flattened. */
#define PROV_CHAIN_MAX 8
/* Versions an image may hold. */
#define PROV_VERSIONS_MAX 100000u

struct prov_version {
	unsigned n;      /* version number, from 1 */
	unsigned parent; /* the version it was made from, or 0 */
	bool base;       /* complete trees (else a delta over parent) */
	bool flattened;  /* a base made by flattening a chain */
	unsigned chain;  /* layers in its stack: 1 for a base */
	char created[32];
	char source[REC_MAX_VALUE + 1];   /* import: the file */
	char command[REC_MAX_VALUE + 1];  /* update: the command */
	char promoted[REC_MAX_VALUE + 1]; /* promote: "CLIENT (IMAGE@V)" */
	char arch[16];                    /* from the root's ELF binaries */
	char os[128];
	char boot_mount[32];
	char kernels[512];
	char models[256];
	char scheme[8]; /* import: mbr or gpt; else empty */
	uint32_t disk_id;
	uint64_t boot_bytes, root_bytes; /* this version's own disk use */
};

struct prov_img {
	char name[REC_NAME_MAX + 1];
	int fd;      /* STATE/images/NAME */
	bool legacy; /* trees not yet under v/ (read-only use) */
	bool locked;
	unsigned *v; /* version numbers, ascending */
	size_t n;
};

/*
 * prov_img_open() - open image @name under @state.
 * @write: take the image's lock (flock on its directory; -EBUSY when
 * another command holds it), remove temporaries of dead runs and finish
 * or make the move of a legacy image to v/1.
 * @msg: on failure, what is wrong.
 * Return: 0; -ENOENT (no such image); -EINVAL (bad name); -EBUSY; -errno.
 * The image is closed with prov_img_close() after success only.
 */
int prov_img_open(struct prov_img *im, const char *state, const char *name,
    bool write, char *msg, size_t msglen);

/*
 * prov_entry_open() - open STATE/@kind + "s"/@name (@kind "image" or
 * "client") into *@fd; with @lock, hold it (flock; -EBUSY while another
 * command does).  On failure *@fd may still be open (close it).
 * Return: 0, -ENOENT ("no image named ..."), -EBUSY, -errno; @msg says.
 */
int prov_entry_open(const char *state, const char *kind, const char *name,
    bool lock, int *fd, char *msg, size_t msglen);

/* prov_now_iso() - the time now, UTC, ISO 8601, into @out. */
void prov_now_iso(char *out, size_t cap);

/* prov_img_close() - release the lock, the fd and the list. */
void prov_img_close(struct prov_img *im);

/* prov_img_newest() - the highest version number (0 when none). */
unsigned prov_img_newest(const struct prov_img *im);

/*
 * prov_version_read() - read version @n's record into @v, with @v->chain
 * worked out from the parents.
 * Return: 0; -ENOENT (no such version); -EBADMSG (a damaged record or a
 * parent chain that loops or names no base); -errno.
 */
int prov_version_read(const struct prov_img *im, unsigned n,
    struct prov_version *v, char *msg, size_t msglen);

/*
 * prov_version_layers() - the layer stack of version @n, top first:
 * @out[0] is @n, then its parent, down to a base.  @cap at least
 * PROV_CHAIN_MAX.
 * Return: the number of layers, or a negative code as prov_version_read().
 */
int prov_version_layers(const struct prov_img *im, unsigned n, unsigned *out,
    size_t cap, char *msg, size_t msglen);

/*
 * prov_image_ref_parse() - "NAME" or "NAME@VERSION" into @name and
 * @version (0 when none is given).  Pure.
 * Return: 0, or -EINVAL (a bad name, or a version that is not a number
 * from 1 to PROV_VERSIONS_MAX).
 */
int prov_image_ref_parse(
    const char *s, char name[REC_NAME_MAX + 1], unsigned *version);

/*
 * prov_version_path() - the path of version @n's @tree ("boot" or "root")
 * relative to the image directory, into @out.
 */
void prov_version_path(const struct prov_img *im, unsigned n, const char *tree,
    char *out, size_t cap);

/*
 * prov_version_write() - write @v as version.conf into @dirfd (a version
 * being built).  Return: 0 or -errno.
 */
int prov_version_write(int dirfd, const struct prov_version *v);

/*
 * prov_version_commit() - rename the finished version in @tmp (relative
 * to the image directory) to v/@n.
 * Return: 0; -EEXIST when v/@n appeared meanwhile; -errno.
 */
int prov_version_commit(struct prov_img *im, const char *tmp, unsigned n);

/*
 * prov_version_disk_use() - disk bytes of each version's own layers in
 * @boot and @root (arrays of im->n, in the order of im->v): each inode is
 * counted once, in the oldest version holding it, so hard links that a
 * flattened base shares with older versions cost it nothing.
 */
void prov_version_disk_use(
    const struct prov_img *im, uint64_t *boot, uint64_t *root);

/*
 * A version's complete trees to read: its own for a base, else a
 * flattened copy of hard links in STATE/images/NAME/.tmp-view-PID,
 * removed by prov_view_close().
 */
struct prov_view {
	struct prov_img img;
	struct prov_version v;
	int boot, root; /* the trees, read-only by agreement */
	char tmp[48];
};

/*
 * prov_view_open() - open version @n (0: the newest) of image @name.
 * Return: 0 or a negative code with @msg saying what is wrong.
 */
int prov_view_open(struct prov_view *w, const char *state, const char *name,
    unsigned n, const struct prov_progress *prog, char *msg, size_t msglen);

/* prov_view_close() - close the trees and remove a flattened copy. */
void prov_view_close(struct prov_view *w);

/*
 * prov_version_stack() - open the @tree ("boot" or "root") layers of
 * version @n as a layer stack: @top (an fd of a directory, or -1) above
 * the version's own layers, and above all the client layer @client with
 * its index @index (paths, absolute or relative to the image directory;
 * both NULL for none).  Read-only without a client, or with @read_only.
 * Return: 0 and *@out owned (layer_stack_close()), or a negative code
 * with @msg saying what is wrong.
 */
int prov_version_stack(const struct prov_img *im, unsigned n, const char *tree,
    int top, const char *client, const char *index, bool read_only,
    struct layer_stack **out, char *msg, size_t msglen);

/*
 * prov_version_flatten() - build in @dst/{boot,root} (empty or missing
 * directories of @dstfd) the merged trees of @top's layers (fds of the
 * new delta, or -1 for none) over version @below's stack.
 * Return: 0, the progress callback's value, or -errno.
 */
int prov_version_flatten(const struct prov_img *im, int top_boot, int top_root,
    unsigned below, int dstfd, const struct prov_progress *prog, char *msg,
    size_t msglen);

/* A client of an image, as its record says (prov_image_clients()). */
struct prov_image_user {
	const char *client;
	unsigned
	    version;   /* the version it uses (1 in records before versions) */
	unsigned next; /* a pending move, or 0 */
	unsigned previous; /* where a rollback goes, or 0 */
};

/*
 * prov_image_clients() - call @fn for every client record naming image
 * @image.
 */
void prov_image_clients(const char *state, const char *image,
    void (*fn)(void *arg, const struct prov_image_user *u), void *arg);

/*
 * prov_arch_detect() - the Debian architecture of the root tree @rootfd
 * from the ELF header of /usr/bin/dpkg, /bin/sh or /bin/busybox (symlinks
 * resolved inside the tree), into @out ("" when none is found).
 */
void prov_arch_detect(int rootfd, char *out, size_t cap);

/*
 * prov_elf_arch() - the Debian architecture name of an ELF header.
 * @p, @len: the first bytes of a file (borrowed; 52 suffice).
 * Return: static name ("arm64", "armhf", "armel", "amd64", "i386",
 * "riscv64"), or NULL when not ELF or not one of these.  Pure.
 */
const char *prov_elf_arch(const uint8_t *p, size_t len);

/*
 * prov_native_arch() - the Debian architecture this host runs natively.
 * Return: static name, or NULL when unknown.
 */
const char *prov_native_arch(void);

/*
 * prov_version_remove() - remove version @n of image @name, refused with
 * -EBUSY (and @msg saying why) while a client uses it, moves to it or
 * would go back to it, while a delta needs it, or when it is the
 * image's only version.
 */
int prov_version_remove(
    const char *state, const char *name, unsigned n, char *msg, size_t msglen);

/*
 * Where a new version is built: for a new image, the whole image in
 * images/.tmp-NAME-PID (renamed to images/NAME); for the next version of
 * an existing one, images/NAME/.tmp-v-PID (renamed to v/N) under the
 * image's lock.
 */
struct prov_target {
	struct prov_img img;
	bool existing;
	char tmp[REC_NAME_MAX + 32];
	int parentfd; /* where tmp lives: images/ or images/NAME */
	int verfd;    /* the version directory being built */
};

/*
 * prov_target_open() - start version *@version of image @name (the next
 * one, or 1 of a new image) in the images directory @imgfd.
 * Return: 0 or a negative code (with @msg); close with
 * prov_target_close() in either case.
 */
int prov_target_open(struct prov_target *t, const char *state, int imgfd,
    const char *name, unsigned *version, char *msg, size_t msglen);

/*
 * prov_target_commit() - make the finished version visible in one
 * rename (with image.conf, @created, for a new image).
 * Return: 0, -EEXIST (another command made it meanwhile), -errno.
 */
int prov_target_commit(struct prov_target *t, const char *name,
    unsigned version, const char *created, char *msg, size_t msglen);

/* prov_target_close() - release; without @keep, remove the temporary. */
void prov_target_close(struct prov_target *t, bool keep);

#endif
