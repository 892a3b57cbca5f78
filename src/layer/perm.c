#include <errno.h>

#include "layer/internal.h"

/*
 * Who may do what, from the merged attributes, as the kernel decides it
 * from mode bits (generic_permission() without ACLs): the owner class,
 * else the group class if the file's group is the caller's or one of its
 * supplementary groups, else the other class.  Root is the file-system
 * capabilities: it reads and writes everything, searches every
 * directory, and executes a file if anyone may.
 */

bool
layer_cred_in_group(const struct layer_cred *c, gid_t gid)
{
	uint32_t i;

	if (c->gid == gid) {
		return true;
	}
	for (i = 0; i < c->ngroups && i < 16; i++) {
		if (c->groups[i] == gid) {
			return true;
		}
	}
	return false;
}

bool
layer_may(const struct layer_cred *c, const struct stat *st, int mask)
{
	unsigned bits;

	if (!c) {
		return true;
	}
	if (c->uid == 0) {
		return !(mask & LAYER_MAY_EXEC) || S_ISDIR(st->st_mode) ||
		    (st->st_mode & 0111);
	}
	if (c->uid == st->st_uid) {
		bits = (st->st_mode >> 6) & 7;
	} else if (layer_cred_in_group(c, st->st_gid)) {
		bits = (st->st_mode >> 3) & 7;
	} else {
		bits = st->st_mode & 7;
	}
	return ((unsigned)mask & ~bits) == 0;
}

int
layer_may_delete(
    const struct layer_cred *c, const struct stat *dst, const struct stat *vst)
{
	if (!c) {
		return 0;
	}
	if (!layer_may(c, dst, LAYER_MAY_WRITE | LAYER_MAY_EXEC)) {
		return -EACCES;
	}
	/* Sticky directory (/tmp): only the entry's or the directory's owner.
	 */
	if ((dst->st_mode & S_ISVTX) && c->uid != 0 && c->uid != vst->st_uid &&
	    c->uid != dst->st_uid) {
		return -EPERM;
	}
	return 0;
}
