#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "server/moves.h"
#include "t.h"

/*
 * The decision the daemon makes at a client's firmware DHCP request
 * (docs/fleet.md, Versions, moves and rebase), over records as the CLI
 * and the daemon write them.
 */

#define T0 1764780000 /* a moved_at */

static struct registry_client
client(const char *name, const char *rec)
{
	struct registry_client c;
	char msg[128] = "";
	int r = registry_parse_record(rec, strlen(rec), &c, msg, sizeof(msg));

	if (r != 0) {
		fprintf(stderr, "record of %s: %s\n", name, msg);
	}
	CHECK_EQ(r, 0);
	snprintf(c.name, sizeof(c.name), "%s", name);
	return c;
}

#define LAYERED "root_mode = layered\nimage = os\n"

TEST(moves_registry_reads_the_move_keys)
{
	struct registry_client c = client("a",
	    LAYERED "version = 2\nnext_version = 3\nprevious_version = 1\n"
		    "rollout = os@3-20261203T175200Z\nrollout_role = canary\n"
		    "health_timeout = 300\nrollout_state = moved\n"
		    "moved_at = 2025-12-03T16:40:00Z\n");
	static const char *const bad[] = {
	    LAYERED "version = 1\nnext_version = 0\n",
	    LAYERED "version = 1\nprevious_version = x\n",
	    LAYERED "version = 1\nrollout_role = leader\n",
	    LAYERED "version = 1\nhealth_timeout = 86401\n",
	    LAYERED "version = 1\nmoved_at = yesterday\n",
	    LAYERED "version = 1\nrollout_state = a-state-far-too-long\n",
	};
	struct registry_client b;
	char msg[128];
	size_t i;

	CHECK_EQ(c.next_version, 3);
	CHECK_EQ(c.previous_version, 1);
	CHECK_STR(c.rollout, "os@3-20261203T175200Z");
	CHECK(c.canary);
	CHECK_EQ(c.health_timeout, 300);
	CHECK_STR(c.rollout_state, "moved");
	CHECK_EQ(c.moved_at, T0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg[0] = 0;
		CHECK_EQ(registry_parse_record(
			     bad[i], strlen(bad[i]), &b, msg, sizeof(msg)),
		    -EBADMSG);
		CHECK(msg[0] != 0);
	}
}

TEST(moves_plain_set_and_volatile)
{
	struct registry reg;
	struct registry_client v[4];
	struct moves_plan p;

	v[0] = client("same", LAYERED "version = 2\n");
	v[1] = client("set", LAYERED "version = 2\nnext_version = 3\n");
	v[2] = client("vol", "root_mode = volatile\nimage = os\nversion = 2\n");
	v[3] = client("volset",
	    "root_mode = volatile\nimage = os\n"
	    "version = 2\nnext_version = 1\n");
	reg.clients = v;
	reg.n = 4;
	moves_plan(&reg, &v[0], T0, &p);
	CHECK_EQ(p.action, MOVES_NONE);
	moves_plan(&reg, &v[1], T0, &p);
	CHECK_EQ(p.action, MOVES_MOVE);
	CHECK_EQ(p.to, 3);
	moves_plan(&reg, &v[2], T0, &p);
	CHECK_EQ(p.action, MOVES_EMPTY);
	moves_plan(&reg, &v[3], T0, &p);
	CHECK_EQ(p.action, MOVES_MOVE);
	CHECK_EQ(p.to, 1);
}

#define ROLLOUT "rollout = os@3-x\nhealth_timeout = 60\nprevious_version = 2\n"

TEST(moves_canary_first_then_followers)
{
	struct registry reg;
	struct registry_client v[3];
	struct moves_plan p;

	v[0] = client("c1",
	    LAYERED "version = 2\nnext_version = 3\n" ROLLOUT
		    "rollout_role = canary\n");
	v[1] = client("f1",
	    LAYERED "version = 2\nnext_version = 3\n" ROLLOUT
		    "rollout_role = follower\n");
	/* A client of another rollout does not hold f1 back. */
	v[2] = client("other",
	    LAYERED "version = 2\nnext_version = 3\n"
		    "rollout = os@3-y\nhealth_timeout = 60\n"
		    "rollout_role = canary\n");
	reg.clients = v;
	reg.n = 3;
	moves_plan(&reg, &v[0], T0, &p);
	CHECK_EQ(p.action, MOVES_MOVE);
	CHECK_EQ(p.to, 3);
	/* The canary has not booted on 3 yet. */
	moves_plan(&reg, &v[1], T0, &p);
	CHECK_EQ(p.action, MOVES_WAIT);
	CHECK(strstr(p.reason, "c1") != NULL);
	/* Moved, not mounted yet, in time: still waiting. */
	v[0] = client("c1",
	    LAYERED "version = 3\nprevious_version = 2\n"
		    "rollout = os@3-x\nhealth_timeout = 60\n"
		    "rollout_role = canary\n"
		    "rollout_state = moved\n"
		    "moved_at = 2025-12-03T16:40:00Z\n");
	moves_plan(&reg, &v[1], T0 + 30, &p);
	CHECK_EQ(p.action, MOVES_WAIT);
	moves_plan(&reg, &v[0], T0 + 30, &p);
	CHECK_EQ(p.action, MOVES_NONE);
	/* Root mounted in time: the follower goes. */
	snprintf(v[0].rollout_state, sizeof(v[0].rollout_state), "healthy");
	moves_plan(&reg, &v[1], T0 + 600, &p);
	CHECK_EQ(p.action, MOVES_MOVE);
	CHECK_EQ(p.to, 3);
	moves_plan(&reg, &v[0], T0 + 600, &p);
	CHECK_EQ(p.action, MOVES_NONE);
}

TEST(moves_failed_canary_goes_back_and_halts_the_rest)
{
	struct registry reg;
	struct registry_client v[2];
	struct moves_plan p;

	v[0] = client("c1",
	    LAYERED "version = 3\nprevious_version = 2\n"
		    "rollout = os@3-x\nhealth_timeout = 60\n"
		    "rollout_role = canary\n"
		    "rollout_state = moved\n"
		    "moved_at = 2025-12-03T16:40:00Z\n");
	v[1] = client("f1",
	    LAYERED "version = 2\nnext_version = 3\n" ROLLOUT
		    "rollout_role = follower\n");
	reg.clients = v;
	reg.n = 2;
	CHECK(!moves_overdue(&v[0], T0 + 60));
	CHECK(moves_overdue(&v[0], T0 + 61));
	/* Overdue, whether or not the timer marked it failed yet. */
	moves_plan(&reg, &v[0], T0 + 61, &p);
	CHECK_EQ(p.action, MOVES_BACK);
	CHECK_EQ(p.to, 2);
	CHECK(strstr(p.reason, "60 s") != NULL);
	moves_plan(&reg, &v[1], T0 + 61, &p);
	CHECK_EQ(p.action, MOVES_HALT);
	CHECK(strstr(p.reason, "canary c1") != NULL);
	snprintf(v[0].rollout_state, sizeof(v[0].rollout_state), "failed");
	moves_plan(&reg, &v[0], T0 + 5, &p);
	CHECK_EQ(p.action, MOVES_BACK);
	/* Back on 2: it stays there, and the rest stays halted. */
	v[0].version = 2;
	v[0].previous_version = 3;
	snprintf(v[0].rollout_state, sizeof(v[0].rollout_state), "rolled-back");
	moves_plan(&reg, &v[0], T0 + 900, &p);
	CHECK_EQ(p.action, MOVES_NONE);
	moves_plan(&reg, &v[1], T0 + 900, &p);
	CHECK_EQ(p.action, MOVES_HALT);
}

TEST(moves_volatile_follower_waits_empty)
{
	struct registry reg;
	struct registry_client v[2];
	struct moves_plan p;

	v[0] = client("c1",
	    LAYERED "version = 2\nnext_version = 3\n" ROLLOUT
		    "rollout_role = canary\n");
	v[1] = client("f1",
	    "root_mode = volatile\nimage = os\n"
	    "version = 2\nnext_version = 3\n" ROLLOUT
	    "rollout_role = follower\n");
	reg.clients = v;
	reg.n = 2;
	moves_plan(&reg, &v[1], T0, &p);
	CHECK_EQ(p.action, MOVES_EMPTY);
	/* A copy is never moved. */
	v[0].root_mode = REGISTRY_ROOT_COPY;
	moves_plan(&reg, &v[0], T0, &p);
	CHECK_EQ(p.action, MOVES_NONE);
}
