#include <stdio.h>
#include <string.h>

#include "server/moves.h"

bool
moves_overdue(const struct registry_client *rc, int64_t now)
{
	return rc->rollout[0] &&
	    !strcmp(rc->rollout_state, MOVES_STATE_MOVED) &&
	    now > rc->moved_at + (int64_t)rc->health_timeout;
}

bool
moves_failed(const struct registry_client *rc, int64_t now)
{
	return moves_overdue(rc, now) ||
	    !strcmp(rc->rollout_state, MOVES_STATE_FAILED) ||
	    !strcmp(rc->rollout_state, MOVES_STATE_ROLLED_BACK);
}

/*
 * A follower of @rc's rollout may move once every canary of it reached
 * "root mounted" in time; one failed canary halts the rest.
 * Return: MOVES_MOVE, MOVES_WAIT or MOVES_HALT, with @out->reason.
 */
static enum moves_action
moves_follower(const struct registry *reg, const struct registry_client *rc,
    int64_t now, struct moves_plan *out)
{
	size_t i, waiting = 0;

	for (i = 0; i < reg->n; i++) {
		const struct registry_client *c = &reg->clients[i];

		if (c == rc || !c->canary || strcmp(c->rollout, rc->rollout)) {
			continue;
		}
		if (moves_failed(c, now)) {
			snprintf(out->reason, sizeof(out->reason),
			    "canary %s did not reach root mounted within "
			    "%u s of its move",
			    c->name, c->health_timeout);
			return MOVES_HALT;
		}
		if (strcmp(c->rollout_state, MOVES_STATE_HEALTHY) != 0) {
			if (waiting++ == 0) {
				snprintf(out->reason, sizeof(out->reason),
				    "canary %s has not reached root mounted "
				    "yet",
				    c->name);
			}
		}
	}
	return waiting ? MOVES_WAIT : MOVES_MOVE;
}

void
moves_plan(const struct registry *reg, const struct registry_client *rc,
    int64_t now, struct moves_plan *out)
{
	bool vol = rc->root_mode == REGISTRY_ROOT_VOLATILE;

	memset(out, 0, sizeof(*out));
	if (rc->root_mode == REGISTRY_ROOT_COPY) {
		return;
	}
	/* A failed move goes back before anything else is considered. */
	if (moves_failed(rc, now) &&
	    strcmp(rc->rollout_state, MOVES_STATE_ROLLED_BACK) != 0 &&
	    rc->previous_version && rc->previous_version != rc->version) {
		out->action = MOVES_BACK;
		out->to = rc->previous_version;
		snprintf(out->reason, sizeof(out->reason),
		    "did not reach root mounted within %u s of its move to "
		    "version %u",
		    rc->health_timeout, rc->version);
		return;
	}
	if (rc->next_version && rc->next_version != rc->version) {
		out->action = rc->rollout[0] && !rc->canary
		    ? moves_follower(reg, rc, now, out)
		    : MOVES_MOVE;
		if (out->action == MOVES_MOVE) {
			out->to = rc->next_version;
			return;
		}
		if (out->action == MOVES_HALT || !vol) {
			return;
		}
		/* Waiting or not, a volatile root starts empty. */
	}
	out->action = vol ? MOVES_EMPTY : MOVES_NONE;
}
