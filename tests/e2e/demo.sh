#!/usr/bin/env bash
# The README's first command: `pinetboot demo` boots a virtual client end
# to end (image, client, namespace, DHCP, TFTP, NFS root) and cleans up.
set -u
. "$(dirname "$0")/../lib/netns.sh"
nn_init demotest
export PNB_DEMO_CACHE=$PNB_OUT/demo-cache
before=$(ip netns list | grep -c '^pnb-demo-')
out=$("$PNB_BIN" demo 2>&1)
rc=$?
echo "$out" | tail -25
t_check "demo exits 0" test "$rc" -eq 0
t_check "demo shows the live timeline with the nfs mount" \
	grep -q 'nfs   ok     mount' <<<"$out"
t_check "the guest greets from its NFS root" \
	grep -q 'Hello from demo-pi: root on 198.18.0.1:.* nfs' <<<"$out"
t_check "the client ends booted" grep -q '^demo-pi .* booted ' <<<"$out"
after=$(ip netns list | grep -c '^pnb-demo-')
t_check "demo removed its namespace" test "$after" -eq "$before"
t_done
