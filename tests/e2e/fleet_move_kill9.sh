#!/usr/bin/env bash
# kill -9 of `pinetboot serve` in the middle of a move (docs/fleet.md,
# Versions, moves and rebase): a layered client with 8,192 files of its
# own (256 MiB) is moved from version 1 to 2 at its firmware's DISCOVER,
# and the server is killed while the new layer is being built beside
# the old one, at several points into the rebase.  After each kill the
# client is whole on version 1 (record, layer stamp, every file of its
# own, byte for byte); a restarted server serves it; the next DISCOVER
# moves it, its files kept, the dead server's temporaries gone, while
# another client's boot files are served and the moving client's are
# not, and the firmware's reply waits for the move's end.  The
# kill is a real SIGKILL at a time measured from outside: nothing in
# pinetboot knows it is being tested.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/netns.sh"
source "$HERE/../lib/rpi_image.sh"
source "$HERE/../lib/layered.sh"
source "$HERE/../lib/dhcp.sh"
nn_init mvkill
W=$NN_TMP
S=$W/state
P=$PNB_BIN
ADDR=198.18.0.1
MAC=dc:a6:32:01:00:00
SERIAL=10010000
L=$S/clients/lm

rpi_build_checked "$W"
"$P" image import "$W/disk.img" --name os --state-dir "$S" >/dev/null 2>&1
"$P" image update os --state-dir "$S" -- sh -c '
	echo two >/etc/from-v2' >"$W/update.log" 2>&1
t_check "versions 1 and 2" test -d "$S/images/os/v/2/root"
"$P" client add lm --image os@1 --serial "$SERIAL" --mac "$MAC" \
	--server "$ADDR" --state-dir "$S" >"$W/add.log" 2>&1
t_check "client add lm (layered)" test $? -eq 0
"$P" client add other --image os@1 --serial 10020000 \
	--mac dc:a6:32:02:00:00 --server "$ADDR" --state-dir "$S" \
	>"$W/add-other.log" 2>&1
t_check "client add other (layered)" test $? -eq 0
# A fleet that powers on into its move at once (more than move at once).
for i in 1 2 3 4 5; do
	"$P" client add "q$i" --image os@1 --serial "3003000$i" \
		--mac "dc:a6:32:03:00:0$i" --server "$ADDR" --state-dir "$S" \
		>>"$W/add-q.log" 2>&1
	"$PNB_TOOLS/layer_edit" "$S" "q$i" create "/etc/q-file" "q$i" \
		>/dev/null
done
t_check "5 more clients" test "$(ls -d "$S"/clients/q? | wc -l)" = 5
# The client's own files, as the NFS server leaves new files in a
# layer: plain files in a directory the version does not have.
mkdir "$L/layer/root/many"
head -c 268435456 /dev/urandom | split -b 32768 -a 4 -d - "$L/layer/root/many/f"
own() { (cd "$L/layer/root/many" && ls | wc -l && cat ./* | md5sum); }
OWN=$(own)
t_check "8192 files of its own" test "$(head -1 <<<"$OWN")" = 8192
"$P" client set lm --image os@2 --state-dir "$S" >"$W/set.log" 2>&1
t_check "client set lm --image os@2" test $? -eq 0

NS=$(nn_ns srv)
FW=$(nn_ns fw)
nn_bridge "$NS" br0 "$ADDR/24"
FWIF=$(nn_port "$NS" br0 "$FW" 198.18.0.9/24)
key() { sed -n "s/^$1 = //p" "$L/client.conf"; }

# serve N: a server, its log serve-N.log; sets SPID.
serve() {
	dh_serve_fleet "$NS" "$W/serve-$1.log" "$S" || {
		t_fail "server $1 starts"
		t_done
		exit
	}
}
# discover: the Pi's firmware asks for an address.
discover() {
	dh_fw_discover "$FW" "$FWIF" "$MAC" "$SERIAL"
}

# kill_into N DELAY: server N, the DISCOVER, and SIGKILL DELAY seconds
# after the new layer appears beside the old one.
kill_into() {
	local n=$1 i tmp
	serve "$n"
	tmp=$L/.tmp-layer-$SPID
	discover
	for i in $(seq 500); do
		[ -d "$tmp" ] && break
		sleep 0.01
	done
	t_check "round $n: the move began (new layer beside the old)" test -d "$tmp"
	sleep "$2"
	kill -KILL "$SPID"
	wait "$SPID" 2>/dev/null
	t_check "round $n: killed before the swap (no move logged)" \
		bash -c "! grep -q 'event=moved' '$W/serve-$n.log'"
	t_check "round $n: the record is on version 1, the move pending" \
		test "$(key version)/$(key next_version)" = 1/2
	t_check "round $n: the layer is version 1's" \
		test "$(cat "$L/layer/version" 2>/dev/null || echo 1)" = 1
	t_check "round $n: every file of its own, byte for byte" \
		test "$(own)" = "$OWN"
	t_check "round $n: version 2's file is not in its root" \
		test ! -e "$(layered_view "$S" lm root etc/from-v2)"
}

n=0
for delay in 0 0.1 0.25; do
	n=$((n + 1))
	kill_into "$n" "$delay"
done

# The last server: it serves the client where it is, and moves it.
n=$((n + 1))
serve "$n"
tftp_get() { ip netns exec "$FW" curl -sf "tftp://$ADDR/$1/$2"; }
cfg=$(tftp_get "$SERIAL" cmdline.txt)
t_check "a restarted server serves the client" grep -q 'clients/lm/root' <<<"$cfg"
discover
for _ in $(seq 500); do
	[ -d "$L/.tmp-layer-$SPID" ] && break
	sleep 0.01
done
# While the layer is built the loop goes on.
other=$(tftp_get 10020000 cmdline.txt)
mine=$(tftp_get "$SERIAL" cmdline.txt)
t_check "mid-move (the new layer still beside the old)" \
	test -d "$L/.tmp-layer-$SPID"
t_check "mid-move, another client's boot files are served" \
	grep -q 'clients/other/root' <<<"$other"
t_check "mid-move, the moving client's are not" test -z "$mine"
t_check "the next DISCOVER moves it" nn_wait_line "$W/serve-$n.log" \
	'event=moved client=lm from=1 to=2' 600
t_check "record: version 2, nothing pending" \
	test "$(key version)/$(key next_version)" = 2/
t_check "the layer is version 2's" test "$(cat "$L/layer/version")" = 2
t_check "every file of its own kept, byte for byte" test "$(own)" = "$OWN"
t_check "version 2's file is in its root" \
	grep -qx two "$(layered_view "$S" lm root etc/from-v2)"
t_check "no temporary left by the killed servers" \
	bash -c "! ls -a '$L' | grep -q '^\.tmp'"
# The firmware's reply went out after the move, not before.
order=$(grep -n -e 'event=held' -e 'event=moved client=lm' \
	-e "event=offer" "$W/serve-$n.log" | grep -v 'dc:a6:32:02' |
	sed 's/.*event=\([a-z]*\).*/\1/' | tr '\n' ' ')
t_check "the DISCOVER was held, answered after the move (got: $order)" \
	test "$order" = "held moved offer "
# Five firmwares at once: each moved, each answered after its own move.
"$P" client set q1 q2 q3 q4 q5 --image os@2 --state-dir "$S" \
	>"$W/set-q.log" 2>&1
forged=()
for i in 1 2 3 4 5; do
	dh_fw_discover "$FW" "$FWIF" "dc:a6:32:03:00:0$i" "3003000$i" 5 &
	forged+=($!)
done
wait "${forged[@]}"
for i in 1 2 3 4 5; do
	nn_wait_line "$W/serve-$n.log" "event=moved client=q$i " 100
done
t_check "five at once: all moved" \
	test "$(grep -c 'event=moved client=q. from=1 to=2' "$W/serve-$n.log")" = 5
for i in 1 2 3 4 5; do
	o=$(grep -n -e "event=moved client=q$i " \
		-e "dc:a6:32:03:00:0$i.*event=offer" \
		-e "event=offer.*dc:a6:32:03:00:0$i" "$W/serve-$n.log" |
		sed 's/.*event=\([a-z]*\).*/\1/' | tr '\n' ' ')
	t_check "q$i answered after its move (got: $o)" test "$o" = "moved offer "
	t_check "q$i keeps its file on version 2" \
		grep -qx "q$i" "$(layered_view "$S" "q$i" root etc/q-file)"
done
took=$(sed -n 's/.*event=moved client=lm .*took_ms=\([0-9]*\).*/\1/p' \
	"$W/serve-$n.log")
echo "INFO: the move of 8192 files (256 MiB) of its own took ${took:-?} ms"
nn_stop "$SPID"
t_done
