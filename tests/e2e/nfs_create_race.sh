#!/usr/bin/env bash
# Hostile: a client that may write an export (a Pi in its own root)
# races CREATE UNCHECKED of a name against renames that swap a FIFO and
# a device node in and out of it.  The server must never open either:
# opening a device node runs its driver's open on the server, and a FIFO
# opened for writing blocks the worker.  Every open of the FIFO and the
# device node is seen with inotify (O_PATH opens, which are harmless, are
# not reported).  Meanwhile READDIRPLUS must hand out, for each entry,
# the handle of the object whose attributes it reports.  The NFS service
# must still answer afterwards.
set -u
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/nfs.sh"
nn_init nfsrace

nfs_lab atk
EXP=$NN_TMP/exp
mkdir -p "$EXP" "$NN_TMP/state"
# The client's own objects (on a layered export, in its client layer),
# so the inodes renamed around are the ones watched.
echo regular >"$(nfs_host_new "$EXP" r)"
FIFO=$(nfs_host_new "$EXP" f)
DEV=$(nfs_host_new "$EXP" d)
mkfifo "$FIFO"
mknod "$DEV" c 1 3
PROBE=$PNB_TOOLS/rpc_probe
SECS=${PNB_RACE_SECONDS:-12}

nfs_serve "$S" "$NN_TMP/state" --export "$EXP"
read -r st root < <(ip netns exec "$A" "$PROBE" -p resv -n 198.18.0.1 mnt "$EXP")
t_check "the client mounts" [ "$st" = 0 ]

nfs_helper "$NN_TMP/watch" ready \
	"$PNB_TOOLS/open_watch" $((SECS + 5)) "$FIFO" "$DEV"
WATCH=$HELPER
out=$(ip netns exec "$A" "$PROBE" -p resv 198.18.0.1 race "$root" "$SECS")
echo "INFO: race: $out (load $(cut -d' ' -f1-3 /proc/loadavg))"
creates=$(awk '{print $2}' <<<"$out")
t_check "the race ran (${creates:-0} creates)" [ "${creates:-0}" -gt 100 ]
mismatch=$(awk '{print $(NF)}' <<<"$out")
t_check "every READDIRPLUS handle names the object its attributes describe (${mismatch:-?} did not)" \
	[ "${mismatch:-1}" = 0 ]
wait "$WATCH"
opens=$(awk '/^opens/ {print $2}' "$NN_TMP/watch")
t_check "the server never opened the FIFO or the device node (${opens:-?} opens)" \
	[ "${opens:-1}" = 0 ]
out=$(ip netns exec "$A" timeout 10 "$PROBE" -p resv -t 198.18.0.1 getattr "$root")
t_check "NFS still answers after the race ($out)" [ "$out" = 0 ]
F=$(nfs_host "$EXP" f) D=$(nfs_host "$EXP" d) X=$(nfs_host "$EXP" x)
t_check "the FIFO and the device node are intact" \
	bash -c "{ [ -p '$F' ] || [ -p '$X' ]; } && { [ -c '$D' ] || [ -c '$X' ]; }"
nfs_stop
t_done
