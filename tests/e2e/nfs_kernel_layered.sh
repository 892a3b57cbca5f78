#!/usr/bin/env bash
# nfs_kernel.sh on a layered root: the guest's root is the version layer
# of a layered export, under an empty client layer (PNB_NFS_LAYERED,
# tests/lib/nfs.sh), and fsops.sh runs there once, on x86-64 over TCP:
# every change it makes is a copy-up, a whiteout or a client object.
PNB_NFS_LAYERED=1 PNB_NFS_ARCHS=${PNB_NFS_ARCHS:-amd64} \
	exec bash "$(dirname "$0")/nfs_kernel.sh"
