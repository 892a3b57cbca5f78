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
nn_init nfsrace

S=$(nn_ns srv)
A=$(nn_ns atk)
nn_bridge "$S" br0 198.18.0.1/24
nn_port "$S" br0 "$A" 198.18.0.3/24 >/dev/null
EXP=$NN_TMP/exp
mkdir -p "$EXP" "$NN_TMP/state"
echo regular >"$EXP/r"
mkfifo "$EXP/f"
mknod "$EXP/d" c 1 3
PROBE=$PNB_TOOLS/rpc_probe
SECS=${PNB_RACE_SECONDS:-12}

nn_spawn "$S" "$NN_TMP/srv.log" "$PNB_BIN" serve --dhcp off --tftp off \
	--address 198.18.0.1 --state-dir "$NN_TMP/state" --export "$EXP" \
	--log-level info
SRV=$NN_LAST_PID
if ! nn_wait_tcp "$S" 2049 || ! nn_wait_tcp "$S" 111; then
	t_fail "server starts" "$(cat "$NN_TMP/srv.log")"
	t_done
	exit
fi
read -r st root < <(ip netns exec "$A" "$PROBE" -p resv -n 198.18.0.1 mnt "$EXP")
t_check "the client mounts" [ "$st" = 0 ]

"$PNB_TOOLS/open_watch" $((SECS + 5)) "$EXP/f" "$EXP/d" >"$NN_TMP/watch" &
WATCH=$!
NN_PIDS+=("$WATCH")
for i in $(seq 50); do
	grep -q ready "$NN_TMP/watch" && break
	sleep 0.1
done
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
t_check "the FIFO and the device node are intact" \
	bash -c "[ -p '$EXP/f' ] || [ -p '$EXP/x' ]; [ -c '$EXP/d' ] || [ -c '$EXP/x' ]"
nn_stop "$SRV"
t_check "server exits cleanly" \
	bash -c "! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' '$NN_TMP/srv.log'"
t_done
