#ifndef PNB_IMAGE_PROVISION_LAYERED_H
#define PNB_IMAGE_PROVISION_LAYERED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/provision/source.h"

/*
 * A layered client's changes dropped (reset) or made into an image
 * version (promote).  Formats and rules: docs/provisioning.md.
 */

struct prov_reset_info {
	unsigned version;     /* the version the client stays on */
	size_t kept;          /* --keep paths */
	uint64_t layer_bytes; /* disk use of the new layer */
};

/*
 * prov_client_reset() - make client @name's layer its identity files
 * again, with the @nkeep paths of @keep (absolute paths as the client
 * sees them; under its boot mount point: the boot tree) kept as they
 * are.  The new layer is built beside the old one and swapped in with
 * one rename; the record gets reset_at.
 * Return: 0 or a negative code with @msg saying what is wrong.
 */
int prov_client_reset(const char *state, const char *name,
    const char *const *keep, size_t nkeep, struct prov_reset_info *info,
    char *msg, size_t msglen);

struct prov_promote_info {
	unsigned version; /* made: the next version of the image, or 1 */
	bool new_image;
	uint64_t links;        /* version files linked (no data copied) */
	uint64_t copies;       /* the client's files copied */
	uint64_t copied_bytes; /* data copied (not shared by reflink) */
	uint64_t identity;     /* identity files left to the version's */
};

/*
 * prov_client_promote() - make client @name's merged root and boot tree
 * a new version (a base) of image @image, which is made when it does not
 * exist: version files are hard-linked (versions never change), the
 * client's files copied (its layer goes on changing); identity files as
 * client add made them are taken as the version has them, so clients
 * added from the new image get identities of their own.
 * Return: 0 or a negative code with @msg saying what is wrong.
 */
int prov_client_promote(const char *state, const char *name, const char *image,
    const struct prov_progress *prog, struct prov_promote_info *info, char *msg,
    size_t msglen);

#endif
