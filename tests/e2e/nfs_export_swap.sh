#!/usr/bin/env bash
# Hostile: a client keeps an NFS worker inside a call (a WRITE waiting for
# a file's inode lock, held here for 8 s with userfaultfd) while the
# export table changes (a client is added, so its root is exported).  The
# loop thread, which makes the change, must not wait for the worker: the
# portmapper, MOUNT and every other client stay answered meanwhile.
set -u
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/nfs.sh"
nn_init nfsswap

nfs_lab cli
EXP=$NN_TMP/exp
ST=$NN_TMP/state
mkdir -p "$EXP" "$ST/clients"
echo data >"$EXP/locked"
PROBE=$PNB_TOOLS/rpc_probe
HOLD=8

nfs_serve "$S" "$ST" --export "$EXP"
read -r _ root < <(ip netns exec "$C" "$PROBE" -p resv -t 198.18.0.1 mnt "$EXP")
read -r _ fh < <(ip netns exec "$C" "$PROBE" -p resv -t 198.18.0.1 lookup "$root" locked)
t_check "handle of the file" [ -n "$fh" ]

nfs_helper "$NN_TMP/hold" held "$PNB_TOOLS/inode_hold" "$EXP/locked" "$HOLD"
HOLDER=$HELPER
# A WRITE that waits for the inode lock inside a worker.
ip netns exec "$C" "$PROBE" -p resv -t -w 30 198.18.0.1 write "$fh" \
	>"$NN_TMP/write" &
WRITER=$!
NN_PIDS+=("$WRITER")
sleep 0.5
# Now the export table changes: a provisioned client appears.
mkdir -p "$ST/clients/.pi9.tmp/root" "$ST/clients/.pi9.tmp/boot"
printf 'address = 198.18.0.9\n' >"$ST/clients/.pi9.tmp/client.conf"
mv "$ST/clients/.pi9.tmp" "$ST/clients/pi9"
out=$(ip netns exec "$C" "$PROBE" 198.18.0.1 ping 111 $((HOLD - 3)))
echo "INFO: portmapper NULL over UDP while the worker waits: $out" \
	"(load $(cut -d' ' -f1-3 /proc/loadavg))"
max=$(awk '{print $2}' <<<"$out")
lost=$(awk '{print $6}' <<<"$out")
t_check "the export was added meanwhile" \
	grep -q "event=export path=\"$ST/clients/pi9/root\"" "$NFS_LOG"
t_check "the loop kept answering: every ping back, slowest ${max:-none} ms" \
	[ "${lost:-1}" = 0 ] && [ "${max:-99999}" -lt 1500 ]
wait "$HOLDER" "$WRITER"
t_check "the WRITE completes once the lock is free ($(cat "$NN_TMP/write"))" \
	[ "$(cat "$NN_TMP/write")" = 0 ]
nfs_stop
t_done
