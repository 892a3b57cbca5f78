#!/usr/bin/env bash
# What `pinetboot serve` does to layered and volatile clients when their
# firmware asks for an address (docs/fleet.md, Versions, moves and
# rebase), seen from the files, the record and TFTP, without guests:
# a volatile root starts empty (its identity files put back), a layered
# one is left alone; a move recorded by `client set` is made at the
# firmware's DISCOVER (tests/tools/pi_emu, a Pi 4) and not before, the
# client's own file kept, the new version's boot files served by TFTP,
# the layer stamped with its version; a DISCOVER naming the client's
# serial from another MAC, sent from a host that is no client, moves
# nothing; a client a command holds is not moved at that boot, and is
# at the next; a record left behind its layer (a crash between the swap
# and the record) is read as the layer says and put right by the next
# command that holds the client; `image rollback` by hand is made at
# the next boot and shows as a rollback; a canary that never mounts its
# root is marked failed by a server restarted (kill -9) meanwhile, the
# followers are halted and the canary goes back at its next boot.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/netns.sh"
source "$HERE/../lib/rpi_image.sh"
source "$HERE/../lib/dhcp.sh"
nn_init bootmv
W=$NN_TMP
S=$W/state
P=$PNB_BIN
ADDR=198.18.0.1

rpi_build_checked "$W"
"$P" image import "$W/disk.img" --name os --state-dir "$S" >/dev/null 2>&1
t_check "import version 1" test -d "$S/images/os/v/1/root"
"$P" image update os --state-dir "$S" -- sh -c '
	echo "# version 2" >>/boot/firmware/config.txt
	echo two >/etc/from-v2' >"$W/update.log" 2>&1
t_check "image update: version 2" test -d "$S/images/os/v/2/root"

# lm: layered with a MAC; vol: volatile; sn: layered, serial alone.
add() {
	"$P" client add "$1" --image os@1 --root "$2" --serial "$3" \
		${4:+--mac "$4"} --server "$ADDR" --state-dir "$S" \
		>"$W/add-$1.log" 2>&1
	t_check "client add $1 --root $2" test $? -eq 0
}
add lm layered 10010000 dc:a6:32:01:00:00
add vol volatile 10020000 dc:a6:32:02:00:00
add sn layered 10030000
# What each wrote while booted before (through the layer library, as the
# NFS server writes; no server runs yet).
"$PNB_TOOLS/layer_edit" "$S" lm create /etc/lm-file mine >/dev/null
"$PNB_TOOLS/layer_edit" "$S" vol create /etc/vol-file scratch >/dev/null
"$PNB_TOOLS/layer_edit" "$S" sn create /etc/sn-file mine-too >/dev/null
L=$S/clients
t_check "vol wrote into its layer" test -f "$L/vol/layer/root/etc/vol-file"

NS=$(nn_ns srv)
FW=$(nn_ns fw)
X=$(nn_ns stranger)
nn_bridge "$NS" br0 "$ADDR/24"
FWIF=$(nn_port "$NS" br0 "$FW" 198.18.0.9/24)
XIF=$(nn_port "$NS" br0 "$X" 198.18.0.20/24)
dh_serve_fleet "$NS" "$W/serve.log" "$S" || {
	t_fail "server starts"
	exit 1
}

key() { sed -n "s/^$2 = //p" "$L/$1/client.conf"; }
# firmware N: the Pi 4 of pi_emu -b N (serial 10NN0000, MAC
# dc:a6:32:NN:00:00) powers on and gets its address.
firmware() {
	ip netns exec "$FW" "$PNB_TOOLS/pi_emu" -i "$FWIF" -m pi4 -s -b "$1" \
		-T 10 >>"$W/fw.log" 2>&1
}
tftp_get() {
	ip netns exec "$FW" curl -sf "tftp://$ADDR/$1/$2"
}
wait_log() {
	nn_wait_line "$W/serve.log" "$1" 50
}

# 1. A volatile root starts empty; a layered one is left alone.
firmware 2
t_check "vol emptied at its firmware's DISCOVER" \
	wait_log 'event=emptied client=vol version=1'
t_check "vol's file is gone" test ! -e "$L/vol/layer/root/etc/vol-file"
t_check "vol keeps its identity" \
	grep -qx vol "$L/vol/layer/root/etc/hostname"
t_check "vol's record is left as it was" test "$(key vol version)" = 1
firmware 1
t_check "lm's layer is left alone" test -f "$L/lm/layer/root/etc/lm-file"
t_check "lm not moved" bash -c "! grep -q 'event=moved client=lm' '$W/serve.log'"

# 2. A recorded move is made at the next firmware DISCOVER, not before.
"$P" client set lm sn --image os@2 --state-dir "$S" >"$W/set.log" 2>&1
t_check "client set lm sn --image os@2" test $? -eq 0
t_check "recorded, not made" test "$(key lm version)/$(key lm next_version)" = 1/2
cfg=$(tftp_get 10010000 config.txt)
t_check "TFTP still serves version 1's config.txt" \
	bash -c "! grep -q '# version 2' <<<'$cfg'"
# A host that is no client names lm's serial from its own MAC.
dh_fw_discover "$X" "$XIF" 02:00:00:00:00:20 10010000 77
sleep 1
t_check "a stranger's DISCOVER with lm's serial moves nothing" \
	test "$(key lm version)/$(key lm next_version)" = 1/2
firmware 1
t_check "lm moved at its firmware's DISCOVER" \
	wait_log 'event=moved client=lm from=1 to=2'
t_check "record: version 2, previous 1, no move pending" \
	test "$(key lm version)/$(key lm previous_version)/$(key lm next_version)" = 2/1/
t_check "record: moved_at" test -n "$(key lm moved_at)"
t_check "no rollout: no rollout_state" test -z "$(key lm rollout_state)"
t_check "the layer is stamped with its version" \
	test "$(cat "$L/lm/layer/version")" = 2
t_check "lm's own file kept" grep -qx mine "$L/lm/layer/root/etc/lm-file"
t_check "lm's identity renewed for version 2" \
	grep -qx lm "$L/lm/layer/root/etc/hostname"
cfg=$(tftp_get 10010000 config.txt)
t_check "TFTP serves version 2's config.txt" grep -q '# version 2' <<<"$cfg"
cmd=$(tftp_get 10010000 cmdline.txt)
t_check "TFTP: lm's cmdline.txt is still its own" grep -q 'clients/lm/root' <<<"$cmd"
t_check "no temporary layer left" \
	bash -c "! ls -a '$L/lm' | grep -q '^\.tmp'"

# 3. A client a command holds is not moved at this boot, and is at the next.
# The lock a command takes (flock of the client's directory), held by
# sleep itself so that killing it lets go.
(
	flock 9
	exec sleep 30
) 9<"$L/sn" &
HOLD=$!
sleep 0.5
firmware 3
t_check "sn held: not moved, and the log says why" \
	wait_log 'event=move-error client=sn from=1 to=2'
t_check "sn still on version 1" test "$(key sn version)/$(key sn next_version)" = 1/2
kill "$HOLD"
wait "$HOLD" 2>/dev/null
firmware 3
t_check "sn moved at its next boot" wait_log 'event=moved client=sn from=1 to=2'
t_check "sn's own file kept" grep -qx mine-too "$L/sn/layer/root/etc/sn-file"

# 4. A crash between the layer's swap and the record: the layer counts.
sed -i 's/^version = 2$/version = 1/; /^previous_version = /d' "$L/lm/client.conf"
echo 'next_version = 2' >>"$L/lm/client.conf"
kill -HUP "$SPID"
sleep 1
cfg=$(tftp_get 10010000 config.txt)
t_check "the server serves the layer over the version it names" \
	grep -q '# version 2' <<<"$cfg"
show=$("$P" client show lm --state-dir "$S")
t_check "client show says the layer is over version 2" \
	grep -q '^layer_over   2 (the record says 1' <<<"$show"
st=$("$P" status lm --state-dir "$S")
t_check "status follows the layer" grep -Eq '^lm +layered +os@2 ' <<<"$st"
"$P" client set lm --image os@2 --state-dir "$S" >"$W/set2.log" 2>&1
t_check "the next command finishes the record" \
	test "$(key lm version)/$(key lm previous_version)/$(key lm next_version)" = 2/1/

# 5. image rollback by hand: made at the next boot, shown as a rollback.
"$P" image rollback os --state-dir "$S" >"$W/rollback.log" 2>&1
t_check "image rollback os" test $? -eq 0
firmware 1
t_check "lm back on version 1 at its boot" \
	wait_log 'event=moved client=lm from=2 to=1'
t_check "lm: rolled back, by hand" \
	test "$(key lm rollout_state)/$(key lm rollback_reason)" = \
	"rolled-back/pinetboot image rollback"
t_check "lm's own file still kept" grep -qx mine "$L/lm/layer/root/etc/lm-file"
cfg=$(tftp_get 10010000 config.txt)
t_check "TFTP serves version 1's config.txt again" \
	bash -c "! grep -q '# version 2' <<<'$cfg'"
list=$("$P" client list --state-dir "$S")
t_check "client list says lm was rolled back, and why" \
	grep -q 'rolled back: pinetboot image rollback' <<<"$list"
t_check "the server logged nothing it could not read" \
	bash -c "! grep -q 'event=client-skipped' '$W/serve.log'"

# 6. A rollout whose canary never mounts its root (no guest boots here),
# across a restart of the server (kill -9) before its health timeout.
"$P" image rollout os@2 --canary 1 --health-timeout 4 --state-dir "$S" \
	>"$W/rollout.log" 2>&1
t_check "image rollout os@2 --canary 1 --health-timeout 4" test $? -eq 0
t_check "lm is the canary" test "$(key lm rollout_role)" = canary
firmware 1
t_check "the canary moved" wait_log 'event=moved client=lm from=1 to=2'
t_check "rollout_state moved" test "$(key lm rollout_state)" = moved
kill -KILL "$SPID"
wait "$SPID" 2>/dev/null
mv "$W/serve.log" "$W/serve-1.log"
dh_serve_fleet "$NS" "$W/serve.log" "$S"
for _ in $(seq 100); do
	[ "$(key lm rollout_state)" = failed ] && break
	sleep 0.1
done
t_check "the restarted server marks the canary failed in time" \
	test "$(key lm rollout_state)" = failed
t_check "the log says why" \
	grep -q 'event=move-failed client=lm version=2 back-to=1 reason="did not reach root mounted within 4 s' \
	"$W/serve.log"
firmware 2
t_check "a volatile follower: halted, emptied, not moved" \
	test "$(key vol rollout_state)/$(key vol version)/$(key vol next_version)" = halted/1/
# sn was on version 2 with its rollback pending: the rollout to 2
# cancelled that, and it stays.
firmware 3
t_check "sn, already on version 2, stays there" \
	test "$(key sn version)/$(key sn next_version)" = 2/
firmware 1
t_check "the canary goes back at its next boot" \
	wait_log 'event=rolled-back client=lm from=2 to=1'
t_check "lm on version 1, rolled back" \
	test "$(key lm version)/$(key lm rollout_state)" = 1/rolled-back
firmware 1
t_check "and stays there" test "$(key lm version)" = 1
nn_stop "$SPID"
t_done
