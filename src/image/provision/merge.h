#ifndef PNB_IMAGE_PROVISION_MERGE_H
#define PNB_IMAGE_PROVISION_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "image/provision/source.h"
#include "layer/layer.h"
#include "image/provision/version.h"

/*
 * Whole-tree work on layer stacks in the overlayfs format of
 * docs/fleet.md: flattening a chain into a base of hard links, and
 * cleaning an overlayfs upper directory into a version's delta.
 */

struct merge_stats {
	uint64_t links, dirs;
};

/*
 * merge_link_tree() - build in the empty directory @dst the merged tree
 * of the read-only stack @st (versions only): directories are made new
 * (owner, mode, xattrs and times of their topmost instance, without
 * overlay markers), every other object is a hard link to the layer file
 * that shows, so no data is copied.
 * Return: 0, the progress callback's value, or -errno.
 */
int merge_link_tree(struct layer_stack *st, int dst,
    const struct prov_progress *prog, struct merge_stats *stats);

/*
 * merge_clean_upper() - turn an overlayfs upper directory @dirfd into a
 * delta: drop overlayfs's bookkeeping attributes (user.overlay.* other
 * than opaque, trusted.overlay.*) from every object.
 * @entries: set to the number of objects below @dirfd.
 * Return: 0 or -errno.
 */
int merge_clean_upper(int dirfd, uint64_t *entries);

/*
 * merge_strip_markers() - remove overlay attributes other than
 * user.overlay.opaque from the fd @fd, or (@fd < 0) from @name in @dirfd
 * without following it.  Return: 0 or -errno.
 */
int merge_strip_markers(int fd, int dirfd, const char *name);

#endif
