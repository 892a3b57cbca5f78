#!/usr/bin/env bash
# nfs_kernel.sh on a volatile root (PNB_NFS_VOLATILE): a client made by
# `client add --root volatile` over a version holding the guest's tree;
# fsops.sh runs there, the firmware's next DISCOVER empties the client's
# layer, and fsops.sh runs again on the emptied root, on x86-64 over TCP.
PNB_NFS_VOLATILE=1 PNB_NFS_LAYERED=1 PNB_NFS_ARCHS=${PNB_NFS_ARCHS:-amd64} \
	exec bash "$(dirname "$0")/nfs_kernel.sh"
