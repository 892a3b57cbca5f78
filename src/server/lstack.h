#ifndef PNB_SERVER_LSTACK_H
#define PNB_SERVER_LSTACK_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "layer/layer.h"

/*
 * A layer stack (src/layer) that services share: the NFS exports of a
 * layered tree and the TFTP server reading the same client's boot tree
 * hold one stack between them, since a client layer has one writer (a
 * second stack would not see the first one's copy-ups in its map, and
 * opening one removes the other's temporaries).  Reference counted,
 * because an export table version that a worker still reads keeps its
 * exports, and so their stacks, alive after a reload dropped them.
 */
struct lstack {
	atomic_uint refs;
	struct layer_stack *st;       /* owned */
	int statfd;                   /* O_PATH of the top layer, for statfs */
	dev_t top_dev;                /* the top layer directory's identity: */
	ino_t top_ino;                /* a new one is another layer */
	uint8_t verf[8];              /* layer_stack_verifier() */
	struct layer_open_report rep; /* what opening found, for the log */
};

/*
 * lstack_open() - open the stack @c describes (borrowed) with one
 * reference.
 * Return: 0 and *@out, or a negative code from layer_stack_open().
 */
int lstack_open(const struct layer_stack_conf *c, struct lstack **out);

/* lstack_ref() - one more reference to @s (NULL stays NULL). */
struct lstack *lstack_ref(struct lstack *s);

/* lstack_unref() - drop one; the last closes the stack.  NULL is fine. */
void lstack_unref(struct lstack *s);

#endif
