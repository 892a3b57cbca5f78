#ifndef PNB_CLI_FLEET_H
#define PNB_CLI_FLEET_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The fleet commands of issue 12 (docs/provisioning.md): what a layered
 * client changed, dropping or promoting it, and moves of clients between
 * image versions.  Each returns the process exit status.
 */

/* client diff NAME */
int cli_client_diff(const char *state, const char *name);

/* client reset NAME [--keep PATH...] [--force] */
int cli_client_reset(const char *state, const char *name,
    const char *const *keep, size_t nkeep, bool force);

/* client promote NAME --image N2 */
int cli_client_promote(const char *state, const char *name, const char *image);

/* client set NAME... --image N@V */
int cli_client_set(
    const char *state, char *const *names, size_t n, const char *image);

/* image rollout N@V [--canary K] [--health-timeout S] */
int cli_image_rollout(const char *state, const char *ref, const char *canary,
    const char *timeout);

/* image rollback N */
int cli_image_rollback(const char *state, const char *image);

/*
 * cli_fleet_table() - a table of every client (or of @name alone): root
 * mode, image and version, pending move, previous version, its part in a
 * rollout, disk use (each inode once); with @name, also the rollout's
 * state and the reason for a rollback when the record has them.
 */
void cli_fleet_table(const char *state, const char *name);

/*
 * cli_rollout_note() - under a client's row in a table: how its last
 * move went wrong (rolled back, halted, failed) and why, from the keys
 * the daemon writes; nothing when it did not.
 */
struct rec;
void cli_rollout_note(const struct rec *rec);

#endif
