#!/usr/bin/env bash
# restart_kill9.sh on a layered root (PNB_NFS_LAYERED, tests/lib/nfs.sh):
# kill -9 in the middle of a flush, restart, and the guest's handles of
# its layered root must still resolve.
PNB_NFS_LAYERED=1 exec bash "$(dirname "$0")/restart_kill9.sh"
