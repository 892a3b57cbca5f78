#!/usr/bin/env bash
# Hostile: the duplicate request cache answers a retransmission only to
# the transport and source port that sent the call.  Keyed by address,
# xid and procedure alone, it handed the reply of root's CREATE (the new
# file's handle and attributes) to any other process on the same host
# that sent the same xid from another port, over UDP or TCP, without
# running its call.  A real retransmission still gets the original reply:
# from the same port over UDP, and over a new TCP connection from the same
# port, which is how the Linux client reconnects (net/sunrpc/xprtsock.c
# keeps its source port so that the server's cache matches).
set -u
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/nfs.sh"
nn_init nfsdrc

nfs_lab cli
EXP=$NN_TMP/exp
mkdir -p "$EXP" "$NN_TMP/state"
chmod 777 "$EXP"
PROBE=$PNB_TOOLS/rpc_probe
NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"

# insecure: the unprivileged process below may call at all, so what is
# tested is the cache, not the reserved-port check.
nfs_serve "$S" "$NN_TMP/state" --export "$EXP:insecure"
read -r _ root < <(ip netns exec "$C" "$PROBE" -p resv -t 198.18.0.1 mnt "$EXP")
out=$(ip netns exec "$C" "$PROBE" -p 900 -x 4242 198.18.0.1 create "$root" first)
t_check "root's CREATE over UDP from port 900 ($out)" [ "${out%% *}" = 0 ]
fh=${out#* }
out=$(ip netns exec "$C" "$PROBE" -p 900 -x 4242 198.18.0.1 create "$root" first)
t_check "its retransmission from port 900 gets the original reply" \
	[ "$out" = "0 $fh" ]
out=$(ip netns exec "$C" $NOBODY "$PROBE" -x 4242 198.18.0.1 create "$root" first)
t_check "the same xid from another process (another port) runs its own call ($out)" \
	[ "$out" = 17 ]
out=$(ip netns exec "$C" "$PROBE" -p 901 -x 4242 198.18.0.1 create "$root" first)
t_check "the same xid from port 901 runs its own call ($out)" [ "$out" = 17 ]
out=$(ip netns exec "$C" "$PROBE" -p 900 -t -x 4242 198.18.0.1 create "$root" first)
t_check "the same xid over TCP runs its own call ($out)" [ "$out" = 17 ]

# TCP: a retransmission over a new connection from the same port.
out=$(ip netns exec "$C" "$PROBE" -p 902 -t -x 4343 198.18.0.1 create "$root" second)
t_check "root's CREATE over TCP from port 902 ($out)" [ "${out%% *}" = 0 ]
fh=${out#* }
out=$(ip netns exec "$C" "$PROBE" -p 902 -t -x 4343 198.18.0.1 create "$root" second)
t_check "resent over a new connection from port 902: the original reply" \
	[ "$out" = "0 $fh" ]
nfs_stop
t_done
