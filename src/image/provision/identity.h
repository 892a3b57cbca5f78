#ifndef PNB_IMAGE_PROVISION_IDENTITY_H
#define PNB_IMAGE_PROVISION_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#include "core/rec.h"
#include "image/provision/edit.h"
#include "image/provision/version.h"

/*
 * A layered client's directory (docs/fleet.md, On disk):
 *
 *     STATE/clients/NAME/client.conf
 *     STATE/clients/NAME/layer/{root,boot,index/root,index/boot}
 *     STATE/clients/NAME/identity/v/N/{root,boot}
 *
 * A "layer directory" is the layer/ shape: the two client layers and
 * their indexes.  identity/v/N holds the client's identity made for
 * version N: the client layer `client add` would make over N, without
 * its index (whiteouts and files in the layer format).
 */

/* prov_layer_dir_make() - make @name in @parent with the layer/ shape. */
int prov_layer_dir_make(int parent, const char *name);

/*
 * prov_identity_build() - apply @id's edits over version @v of @im in the
 * layer directory @layerdir (a fd; empty layers), through the layer
 * library: what the version holds is copied up or whited out in the
 * client layers.
 * @cmdline: gets the new cmdline.txt (@cmdcap bytes); may be NULL.
 * Return: 0 or a negative code with @msg saying what failed.
 */
int prov_identity_build(const struct prov_img *im, unsigned v,
    const struct prov_identity *id, int layerdir, char *cmdline, size_t cmdcap,
    char *msg, size_t msglen);

/*
 * prov_identity_make() - make identity/v/@v in the client directory
 * @clientfd for version @v of @im (built beside and renamed in; an
 * existing one is kept).  Return: 0 or a negative code with @msg.
 */
int prov_identity_make(int clientfd, const struct prov_img *im, unsigned v,
    const struct prov_identity *id, char *msg, size_t msglen);

/*
 * Storage for the inputs of a client's identity read back from its
 * record and its identity files (prov_identity_load()).
 */
struct prov_identity_inputs {
	struct prov_identity id; /* points into the fields below */
	char hostname[256], server[64], root_path[4096], boot_path[4096];
	char boot_mount[64], user[512];
	char *keys; /* owned */
};

/*
 * prov_identity_load() - the inputs of client @clientfd's identity: its
 * record @rec, and the machine-id, first user and authorized keys kept
 * in identity/v/@v (the identity of the version it uses).
 * Return: 0 or a negative code with @msg; free with
 * prov_identity_inputs_fini().
 */
int prov_identity_load(int clientfd, const struct rec *rec, unsigned v,
    struct prov_identity_inputs *in, char *msg, size_t msglen);
void prov_identity_inputs_fini(struct prov_identity_inputs *in);

/* prov_identity_path() - "identity/v/@v" into @out. */
void prov_identity_path(unsigned v, char *out, size_t cap);

#endif
