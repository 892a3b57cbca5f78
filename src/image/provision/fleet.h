#ifndef PNB_IMAGE_PROVISION_FLEET_H
#define PNB_IMAGE_PROVISION_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rec.h"
#include "image/provision/prov.h"
#include "image/provision/version.h"
#include "layer/layer.h"

/*
 * Layered clients at rest: their records, their changes, and the moves
 * to other versions that the CLI records and the daemon carries out at
 * a client's next boot (docs/fleet.md, Versions, moves and rebase).
 */

/* layer/version: the version a layer made by a move is over. */
#define PROV_LAYER_STAMP "version"

/* An opened client: its record and, when locked, the right to change it. */
struct prov_cl {
	char name[REC_NAME_MAX + 1];
	int fd; /* STATE/clients/NAME */
	bool locked;
	char *text; /* the record (owned); rec borrows from it */
	struct rec rec;
	enum prov_root_mode mode;
	char image[REC_NAME_MAX + 1];
	unsigned version, next, previous; /* 0: none */
	char boot_mount[64];
};

/*
 * prov_cl_open() - read client @name's record.  @lock: hold the client
 * (flock on its directory; -EBUSY while another command holds it) and
 * remove the temporaries of dead runs in its directory.
 * Return: 0 (close with prov_cl_close()), or a negative code with @msg.
 */
int prov_cl_open(struct prov_cl *c, const char *state, const char *name,
    bool lock, char *msg, size_t msglen);
void prov_cl_close(struct prov_cl *c);

/*
 * prov_cl_update() - apply @n record changes (rec_edit()) and write the
 * record by rename; @c then holds the new record.
 */
int prov_cl_update(struct prov_cl *c, const struct rec_change *ch, size_t n,
    char *msg, size_t msglen);

/*
 * prov_cl_require_layered() - 0 for a layered or volatile client, else
 * -EINVAL with @msg saying what @what (a command) needs.
 */
int prov_cl_require_layered(
    const struct prov_cl *c, const char *what, char *msg, size_t msglen);

/*
 * prov_cl_stack() - the client's @tree ("root" or "boot") stack: its
 * layer (layer/@tree, index layer/index/@tree, or @layer instead of
 * "layer") over version @v of @im.
 */
int prov_cl_stack(const struct prov_cl *c, const struct prov_img *im,
    unsigned v, const char *tree, const char *layer, bool read_only,
    struct layer_stack **out, char *msg, size_t msglen);

/* prov_cl_identity_fd() - identity/v/@v/@tree, opened, or -errno. */
int prov_cl_identity_fd(const struct prov_cl *c, unsigned v, const char *tree);

/*
 * prov_cl_prepare() - make sure identity/v/@v exists (the client's
 * identity made for version @v, from the inputs its current identity
 * holds), and remove identity trees no version of the record names.
 */
int prov_cl_prepare(struct prov_cl *c, const struct prov_img *im, unsigned v,
    char *msg, size_t msglen);

/* prov_tree_path() - the client's view of @path in @tree, into @out. */
void prov_tree_path(const struct prov_cl *c, const char *tree, const char *path,
    char *out, size_t cap);

/* One change of a client, as `client diff` shows it. */
struct prov_change {
	char kind; /* 'A', 'M', 'D' */
	mode_t type;
	char *path;     /* as the client sees it (owned) */
	bool identity;  /* an identity file as client add made it */
	char *conflict; /* the change of the next version it meets, or NULL */
};

struct prov_changes {
	struct prov_change *v; /* owned */
	size_t n, cap;
	size_t identity, conflicts;
};

void prov_changes_fini(struct prov_changes *ch);

/*
 * prov_cl_changes() - what client @c changed in both trees against its
 * version, sorted by path, identity files marked; with @to (non-zero)
 * the changes that meet a change of version @to marked as conflicts.
 * @vcache: the changes from the client's version to @to in each tree,
 * computed on first use and kept for the next client of the same
 * version (see prov_vdiff_fini()); may be NULL.
 */
struct prov_vdiff;
int prov_cl_changes(struct prov_cl *c, const struct prov_img *im, unsigned to,
    struct prov_vdiff **vcache, struct prov_changes *out, char *msg,
    size_t msglen);
void prov_vdiff_fini(struct prov_vdiff *v);

/* A pending move, as the moves write it. */
struct prov_move {
	unsigned to;         /* next_version */
	const char *rollout; /* rollout id, or NULL (a plain set) */
	bool canary;         /* rollout_role canary, else follower */
	unsigned health_timeout;
	const char *reason; /* rollback_reason, or NULL */
};

/*
 * prov_cl_move() - record @m in the client's record (and prepare the
 * identity for the version it moves to); to == the current version with
 * no move pending clears the move.
 */
int prov_cl_move(struct prov_cl *c, const struct prov_img *im,
    const struct prov_move *m, char *msg, size_t msglen);

/*
 * prov_clients_of() - the names of every client whose record names image
 * @image, sorted; *@names owned (prov_names_free()).
 */
int prov_clients_of(
    const char *state, const char *image, char ***names, size_t *n);
void prov_names_free(char **names, size_t n);

/*
 * prov_cl_boot_files() - the regular files at the top of client @name's
 * boot tree (its own for a copy, merged for a layered client), as the
 * firmware sees them; *@names owned (prov_names_free()).
 */
int prov_cl_boot_files(const char *state, const char *name, char ***names,
    size_t *n, char *msg, size_t msglen);

#endif
