#!/usr/bin/env bash
# nfs_drc.sh with every export a layered tree whose version layer holds the
# test's files (PNB_NFS_LAYERED, tests/lib/nfs.sh): the same hostile
# calls, the same answers, on the merged tree.
PNB_NFS_LAYERED=1 exec bash "$(dirname "$0")/nfs_drc.sh"
