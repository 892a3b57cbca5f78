#!/usr/bin/env bash
# Hostile: the built-in portmapper takes SET and UNSET only from root on
# the server itself (loopback and a reserved source port, as rpcbind),
# and never for the programs pinetboot serves, so no local user can point
# MOUNT or NFS at a server of their own and hand the Pis a fake root.
# Also refused: the same calls from another host, reserved port or not.
set -u
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/nfs.sh"
nn_init nfspm

nfs_lab atk
mkdir -p "$NN_TMP/exp" "$NN_TMP/state"
PROBE=$PNB_TOOLS/rpc_probe
NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"

nfs_serve "$S" "$NN_TMP/state" --export "$NN_TMP/exp"
mnt_port() {
	ip netns exec "$A" "$PROBE" 198.18.0.1 pmap-getport 100005 3 6
}
MNT=$(mnt_port)
t_check "MOUNT is registered (port $MNT)" [ "${MNT:-0}" -gt 0 ]

# A local user, who cannot bind a reserved port.
lp() { ip netns exec "$S" $NOBODY "$PROBE" -n 127.0.0.1 "$@"; }
# Root on the server, from a reserved port.
rp() { ip netns exec "$S" "$PROBE" -n -p resv 127.0.0.1 "$@"; }

out=$(lp pmap-unset 100005 3 6)
t_check "a local user's UNSET of MOUNT is refused ($out)" [ "$out" = 0 ]
out=$(lp pmap-set 100005 3 6 4444)
t_check "a local user's SET of MOUNT is refused ($out)" [ "$out" = 0 ]
out=$(lp pmap-set 400001 1 6 4444)
t_check "a local user's SET of another program is refused ($out)" [ "$out" = 0 ]
t_check "MOUNT still maps to pinetboot's port" [ "$(mnt_port)" = "$MNT" ]

for prog in 100000:2 100003:3 100005:3; do
	out=$(rp pmap-unset "${prog%:*}" "${prog#*:}" 6)
	t_check "root's UNSET of served program $prog is refused ($out)" \
		[ "$out" = 0 ]
	out=$(rp pmap-set "${prog%:*}" "${prog#*:}" 17 4445)
	t_check "root's SET of served program $prog is refused ($out)" \
		[ "$out" = 0 ]
done
t_check "MOUNT still maps to pinetboot's port after root's tries" \
	[ "$(mnt_port)" = "$MNT" ]
out=$(ip netns exec "$A" "$PROBE" 198.18.0.1 pmap-getport 100003 3 17)
t_check "NFS over UDP still maps to 2049 ($out)" [ "$out" = 2049 ]

out=$(rp pmap-set 400000 1 6 4000)
t_check "root on the server registers another program ($out)" [ "$out" = 1 ]
out=$(ip netns exec "$A" "$PROBE" 198.18.0.1 pmap-getport 400000 1 6)
t_check "and it is found ($out)" [ "$out" = 4000 ]
out=$(ip netns exec "$A" "$PROBE" -p resv 198.18.0.1 pmap-unset 400000 1 6)
t_check "another host's UNSET is refused, reserved port or not ($out)" \
	[ "$out" = 0 ]
out=$(rp pmap-unset 400000 1 6)
t_check "root on the server withdraws it ($out)" [ "$out" = 1 ]

sleep 0.2
t_check "refusals are logged" grep -q 'event=set-refused' "$NFS_LOG"
nfs_stop
t_done
