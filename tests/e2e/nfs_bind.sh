#!/usr/bin/env bash
# Hostile: the portmapper, MOUNT and NFS listen on --address only (as
# docs/config.md says), not on every address of the machine: a host that
# reaches the server on another of its addresses gets nothing, over TCP
# or UDP.  The portmapper also listens on 127.0.0.1, for rpcinfo and for
# registrations by root on the server itself.
set -u
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/nfs.sh"
nn_init nfsbind

nfs_lab atk
ip -n "$S" addr add 198.18.0.254/24 dev br0
mkdir -p "$NN_TMP/exp" "$NN_TMP/state"
PROBE=$PNB_TOOLS/rpc_probe

nfs_serve "$S" "$NN_TMP/state" --export "$NN_TMP/exp"
MNT=$(ip netns exec "$A" "$PROBE" 198.18.0.1 pmap-getport 100005 3 6)
t_check "the services answer on --address (MOUNT on port ${MNT:-none})" \
	[ "${MNT:-0}" -gt 0 ]

listeners=$(ip netns exec "$S" ss -Hlntu | awk '{print $5}')
echo "INFO: listening: $(tr '\n' ' ' <<<"$listeners")"
for port in 111 "$MNT" 2049; do
	t_check "nothing listens on the wildcard address, port $port" \
		bash -c "! grep -qE '^(0\.0\.0\.0|\*|\[::\]):$port\$' <<<'$listeners'"
	t_check "nothing answers TCP on another address, port $port" \
		bash -c "! ip netns exec '$A' timeout 3 bash -c '</dev/tcp/198.18.0.254/$port' 2>/dev/null"
done
out=$(ip netns exec "$A" "$PROBE" 198.18.0.254 pmap-getport 100003 3 17)
t_check "the portmapper does not answer UDP on another address ($out)" \
	[ "$out" = none ]
out=$(ip netns exec "$A" "$PROBE" 198.18.0.1 pmap-getport 100003 3 17)
t_check "it answers on --address ($out)" [ "$out" = 2049 ]
out=$(ip netns exec "$S" "$PROBE" 127.0.0.1 pmap-getport 100003 3 6)
t_check "the portmapper answers on loopback on the server ($out)" \
	[ "$out" = 2049 ]
t_check "MOUNT and NFS do not listen on loopback" \
	bash -c "! grep -qE '^127\.0\.0\.1:($MNT|2049)\$' <<<'$listeners'"
nfs_stop
t_done
