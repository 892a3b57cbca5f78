#ifndef PNB_IMAGE_PROVISION_LAYERED_H
#define PNB_IMAGE_PROVISION_LAYERED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rec.h"
#include "image/provision/source.h"
#include "layer/layer.h"

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

/* What the daemon does to a client's layer as its firmware starts it. */
struct prov_boot {
	unsigned to; /* the version it boots from now on (may be its own) */
	bool fresh;  /* a new layer of its identity files alone (volatile) */
	/*
	 * The client's stacks as the server holds them (only read here,
	 * the server serving nothing from them meanwhile), or NULL: opened
	 * here.  A client layer must not have two open stacks that write.
	 */
	struct layer_stack *root, *boot;
	const struct rec_change *ch; /* more record changes, or NULL */
	size_t nch;
};

/*
 * prov_client_boot() - make client @name's layer over version @b->to:
 * its changes carried across (layer_rebase(); identity/v/TO put in) or,
 * with @b->fresh, dropped; built beside the old layer and swapped in
 * with one rename, which also swaps in the stamp layer/version saying
 * the version the layer is over (what counts should the record not
 * follow: prov_cl_open()).  A move writes version, previous_version
 * and moved_at and removes next_version and move_requested; @b->ch is
 * applied with them.  The client is locked meanwhile (-EBUSY when a
 * command holds it).
 * Return: 0 or a negative code with @msg; @rep (may be NULL) says what
 * the rebase did.
 */
int prov_client_boot(const char *state, const char *name,
    const struct prov_boot *b, struct layer_rebase_report *rep, char *msg,
    size_t msglen);

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
