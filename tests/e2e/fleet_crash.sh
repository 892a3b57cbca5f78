#!/usr/bin/env bash
# kill -9 during client add, client reset and client promote (issue 12,
# crash safety): the old state stays visible, never a half-made client,
# layer or image, and the next command removes what the killed one
# left.  strace delays chosen system calls so the kill lands inside the
# command (after its work has begun, before or after the rename that
# makes it visible); nothing in pinetboot knows it is being tested.
set -u
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/rpi_image.sh"
nn_init fcrash
W=$NN_TMP
S=$W/state
P=$PNB_BIN
EDIT=$PNB_TOOLS/layer_edit

rpi_build_checked "$W"
"$P" image import "$W/disk.img" --name os --state-dir "$S" >/dev/null 2>&1
"$P" client add keep --serial 11111111 --image os --server 198.18.0.1 \
	--state-dir "$S" >/dev/null 2>&1
"$EDIT" "$S" keep create /home/pi/mine "mine
" -- write /etc/hosts "127.0.0.1 changed
"

# killed CALLS DELAY_US AFTER_S CMD...: run CMD under strace with each of
# the system calls CALLS delayed by DELAY_US, kill -9 it AFTER_S seconds
# in, and wait for it.  Prints nothing; the caller looks at the state.
killed() {
	local calls=$1 delay=$2 after=$3 pid
	shift 3
	strace -f -qq -o /dev/null -e trace="$calls" \
		-e inject="$calls":delay_enter="$delay" \
		sh -c 'echo $$ >"$0"; exec "$@"' "$W/pid" "$@" >/dev/null 2>&1 &
	local tracer=$!
	NN_PIDS+=("$tracer")
	sleep "$after"
	pid=$(cat "$W/pid")
	kill -9 "$pid" 2>/dev/null
	wait "$tracer" 2>/dev/null
}

# --- client add ----------------------------------------------------------
for when in 0.3 1.5; do
	killed renameat,renameat2 300000 "$when" \
		"$P" client add k1 --serial 22222222 --image os \
		--server 198.18.0.1 --state-dir "$S"
	if [ -e "$S/clients/k1" ]; then
		# Killed after its last rename: a whole client.
		"$P" client diff k1 --state-dir "$S" >"$W/out" 2>&1
		t_check "add killed at ${when}s: a whole client or none (whole)" grep -q '^0 added, 0 modified, 0 deleted' "$W/out"
		"$P" client remove k1 --yes --state-dir "$S" >/dev/null 2>&1
	else
		t_check "add killed at ${when}s: no client, a temporary" sh -c "ls -a '$S/clients' | grep -q '^\.tmp-k1-'"
		t_check "add killed at ${when}s: the record is not listed" sh -c "! '$P' client list --state-dir '$S' | grep -q '^k1 '"
	fi
done
"$P" client add k1 --serial 22222222 --image os --server 198.18.0.1 \
	--state-dir "$S" >/dev/null 2>&1
t_check "the next add succeeds" [ -f "$S/clients/k1/client.conf" ]
t_check "and removed the temporaries" sh -c "! ls -a '$S/clients' | grep -q '^\.tmp-'"

# --- client reset ----------------------------------------------------------
"$P" client diff keep --state-dir "$S" >"$W/before" 2>&1
killed renameat2 400000 1 "$P" client reset keep --state-dir "$S"
"$P" client diff keep --state-dir "$S" >"$W/after" 2>&1
t_check "reset killed while building: the old layer, whole" cmp -s "$W/before" "$W/after"
t_check "reset killed while building: its temporary is left" sh -c "ls -a '$S/clients/keep' | grep -q '^\.tmp-layer-'"
t_check "the client's file is still there" grep -q '^A /home/pi/mine' "$W/after"
# Killed after the swap, while the old layer is deleted: the new one.
# The calls before it are counted on a copy of the client first, so the
# delay starts at the first removal of the old layer.
cp -a "$S/clients/keep" "$S/clients/probe"
sed -i 's/^name = keep$/name = probe/' "$S/clients/probe/client.conf"
strace -f -qq -o "$W/trace" -e trace=unlinkat,renameat2 \
	"$P" client reset probe --keep /home/pi --state-dir "$S" >/dev/null 2>&1
n=$(awk '/RENAME_EXCHANGE/ && /"layer"/ { print c + 1; exit } /unlinkat/ { c++ }' "$W/trace")
t_check "the swap is seen in the probe's trace" [ -n "$n" ]
rm -rf "$S/clients/probe"
strace -f -qq -o /dev/null -e trace=unlinkat \
	-e inject=unlinkat:delay_enter=2000000:when="${n:-1}+" \
	sh -c 'echo $$ >"$0"; exec "$@"' "$W/pid" \
	"$P" client reset keep --keep /home/pi --state-dir "$S" >/dev/null 2>&1 &
tracer=$!
NN_PIDS+=("$tracer")
for i in $(seq 50); do
	[ -n "$(ls -a "$S/clients/keep" | grep '^\.tmp-layer-')" ] &&
		grep -q '^reset_at' "$S/clients/keep/client.conf" && break
	sleep 0.1
done
kill -9 "$(cat "$W/pid")" 2>/dev/null
wait "$tracer" 2>/dev/null
"$P" client diff keep --state-dir "$S" >"$W/after" 2>&1
t_check "reset killed after the swap: the new layer, whole" sh -c "grep -q '^A /home/pi/mine' '$W/after' && grep -q '^1 added, 0 modified, 0 deleted' '$W/after'"
t_check "reset killed after the swap: the old layer is the temporary" sh -c "ls -a '$S/clients/keep' | grep -q '^\.tmp-layer-'"
"$P" client reset keep --keep /home/pi --state-dir "$S" >"$W/out" 2>&1
t_check "the next reset succeeds" [ $? -eq 0 ]
t_check "and removed the temporaries" sh -c "! ls -a '$S/clients/keep' | grep -q '^\.tmp'"
"$P" client diff keep --state-dir "$S" >"$W/after" 2>&1
t_check "the layer after it: identity and the kept path" grep -q '^1 added, 0 modified, 0 deleted' "$W/after"

# --- client promote --------------------------------------------------------
killed renameat 3000000 1.5 "$P" client promote keep --image gold --state-dir "$S"
t_check "promote killed: no image" [ ! -e "$S/images/gold" ]
t_check "promote killed: not listed" sh -c "! '$P' image list --state-dir '$S' | grep -q '^gold '"
t_check "promote killed: its temporary is left" sh -c "ls -a '$S/images' | grep -q '^\.tmp-gold-'"
"$P" client promote keep --image gold --state-dir "$S" >"$W/out" 2>&1
t_check "the next promote succeeds" grep -q "version 1 of the new image 'gold'" "$W/out"
t_check "and removed the temporary" sh -c "! ls -a '$S/images' | grep -q '^\.tmp-'"
t_check "the promoted file" [ "$(cat "$S/images/gold/v/1/root/home/pi/mine")" = mine ]
# The next version of an existing image, killed: still version 1 only.
killed renameat 3000000 1.5 "$P" client promote keep --image gold --state-dir "$S"
t_check "promote of a next version killed: no version 2" [ ! -e "$S/images/gold/v/2" ]
"$P" image versions gold --state-dir "$S" >"$W/out" 2>&1
t_check "image versions reads the image as before" grep -q "Image 'gold': 1 version$" "$W/out"
t_done
