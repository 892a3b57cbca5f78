#ifndef PNB_IMAGE_PROVISION_MERGE_H
#define PNB_IMAGE_PROVISION_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "image/provision/source.h"
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
 * of @n layers (@layers[0] the top, borrowed fds): directories are made
 * new (owner, mode, xattrs and times of their topmost instance, without
 * overlay markers), every other object is a hard link to the layer file
 * that shows, so no data is copied.  Whiteouts and opaque markers are
 * consumed.
 * Return: 0, -EINVAL (@n outside 1..PROV_CHAIN_MAX + 1), the progress
 * callback's value, or -errno.
 */
int merge_link_tree(const int *layers, size_t n, int dst,
    const struct prov_progress *prog, struct merge_stats *st);

/*
 * merge_clean_upper() - turn an overlayfs upper directory @dirfd into a
 * delta: drop overlayfs's bookkeeping attributes (user.overlay.* other
 * than opaque, trusted.overlay.*) from every object.
 * @entries: set to the number of objects below @dirfd.
 * Return: 0 or -errno.
 */
int merge_clean_upper(int dirfd, uint64_t *entries);

/* merge_is_whiteout() - is @name in @dirfd, of stat @s, a whiteout? */
bool merge_is_whiteout(int dirfd, const char *name, const struct stat *s);

/* merge_is_opaque() - does the directory @fd carry the opaque marker? */
bool merge_is_opaque(int fd);

/*
 * merge_strip_markers() - remove overlay attributes other than
 * user.overlay.opaque from the fd @fd, or (@fd < 0) from @name in @dirfd
 * without following it.  Return: 0 or -errno.
 */
int merge_strip_markers(int fd, int dirfd, const char *name);

#endif
