#ifndef PNB_SERVER_MOVES_H
#define PNB_SERVER_MOVES_H

#include <stdint.h>

#include "server/registry.h"

/*
 * What the daemon does with a layered or volatile client when its
 * firmware's DHCP request arrives (docs/fleet.md, Versions, moves and
 * rebase): the only moment no NFS call of a mounted client can come
 * between, since the client is starting again.  A pure decision over
 * the registry, so every case has a unit test; serve_clients.c carries
 * it out.
 */
enum moves_action {
	MOVES_NONE,  /* serve what it has */
	MOVES_EMPTY, /* volatile: a new layer, identity only */
	MOVES_MOVE,  /* rebase onto plan.to */
	MOVES_BACK,  /* rollback onto plan.to (the previous version) */
	MOVES_WAIT,  /* a follower whose canaries are not all healthy yet */
	MOVES_HALT,  /* a follower of a rollout whose canary failed */
};

/* Record values the daemon writes (rollout_state). */
#define MOVES_STATE_MOVED       "moved"       /* waiting for root mounted */
#define MOVES_STATE_HEALTHY     "healthy"     /* root mounted in time */
#define MOVES_STATE_FAILED      "failed"      /* not in time: going back */
#define MOVES_STATE_ROLLED_BACK "rolled-back" /* back on its previous */
#define MOVES_STATE_HALTED      "halted"      /* a follower left behind */

struct moves_plan {
	enum moves_action action;
	unsigned to;      /* MOVES_MOVE, MOVES_BACK */
	char reason[200]; /* MOVES_BACK, MOVES_HALT, MOVES_WAIT: why */
};

/*
 * moves_plan() - what to do with @rc (a client of @reg) at its
 * firmware's DHCP request at Unix time @now.
 */
void moves_plan(const struct registry *reg, const struct registry_client *rc,
    int64_t now, struct moves_plan *out);

/*
 * moves_overdue() - @rc was moved by a rollout and has not reached "root
 * mounted" within its health timeout by @now.
 */
bool moves_overdue(const struct registry_client *rc, int64_t now);

/*
 * moves_failed() - @rc counts as a failed move of its rollout: overdue,
 * marked failed, or rolled back by the daemon.
 */
bool moves_failed(const struct registry_client *rc, int64_t now);

#endif
