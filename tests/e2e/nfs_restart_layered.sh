#!/usr/bin/env bash
# nfs_restart.sh on a layered root (PNB_NFS_LAYERED, tests/lib/nfs.sh):
# the handles the guest holds resolve in the restarted server.
PNB_NFS_LAYERED=1 exec bash "$(dirname "$0")/nfs_restart.sh"
