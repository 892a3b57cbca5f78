#!/usr/bin/env bash
# A rollout end to end (issue 12), on real arm64 guests booting layered
# roots from `pinetboot serve`: three Pi 4 clients on version 1 of the
# arm64 Pi-shaped image each boot and write a file of their own; `image
# update` makes version 2 (a new file), `image rollout @2 --canary 1`:
# the follower's firmware is not moved before the canary's root is
# mounted, then all three boot on version 2 with their own files and the
# new one.  Version 3 has a kernel that cannot boot: the canary moves,
# does not mount its root within --health-timeout, is marked failed,
# and goes back to version 2 at its next boot (and boots); the other two
# are halted and never leave version 2.
#
# Each boot is what a Pi does: its firmware's DHCP DISCOVER (with its
# serial in option 97, tests/tools/pi_emu), which is where the daemon
# moves a client, then the boot files over TFTP under its serial, then
# the kernel from them in QEMU (one guest at a time) taking its address
# by DHCP and mounting its root over NFS.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/netns.sh"
. "$HERE/../lib/guest.sh"
. "$HERE/../lib/a64_image.sh"
nn_init rollout

ADDR=198.18.0.1
STATE=$NN_TMP/state
W=$NN_TMP/img
P=$PNB_BIN
T0=$(date +%s)

guest_kernel arm64 || {
	t_fail "arm64 kernel" "see the messages above"
	exit 1
}
mkdir -p "$W/boot/overlays" "$W/root"
cp "$GUEST_KDIR/vmlinuz" "$W/boot/kernel8.img"
guest_initramfs arm64 "$W/boot/initramfs8" || {
	t_fail "arm64 initramfs"
	exit 1
}
printf 'arm_64bit=1\nauto_initramfs=1\n' >"$W/boot/config.txt"
echo "$A64_CMDLINE" >"$W/boot/cmdline.txt"
: >"$W/boot/start4.elf"
a64_root "$W/root" raspberrypi || {
	t_fail "arm64 root"
	exit 1
}
mkdir -p "$W/root/boot/firmware"
# What each boot reports: who it is, the version it sees, its own file
# (written at its first boot), the file version 2 adds.
cat >"$W/root/pnb/run" <<'EOS'
#!/bin/sh
h=$(cat /etc/hostname)
echo "PNB-HOST $h"
echo "PNB-IMAGE $(cat /etc/pnb-version 2>/dev/null || echo 1)"
if [ -f /root/mine ]; then
	echo "PNB-MINE $(cat /root/mine)"
else
	echo "mine-of-$h" >/root/mine && sync && echo "PNB-WROTE"
fi
[ -f /etc/from-v2 ] && echo "PNB-NEW $(cat /etc/from-v2)"
exit 0
EOS
chmod 755 "$W/root/pnb/run"
a64_image "$NN_TMP/pi.img.xz" "$W/boot" "$W/root"
rm -rf "$W"
"$P" image import "$NN_TMP/pi.img.xz" --name os --state-dir "$STATE" \
	>"$NN_TMP/import.log" 2>&1
t_check "image import" test $? -eq 0

# Client i: a Pi 4 as pi_emu -b i makes it, serial 10ii0000.
CLIENTS="pa pb pc"
idx() { case $1 in pa) echo 1 ;; pb) echo 2 ;; pc) echo 3 ;; esac; }
serial() { printf '10%02x0000' "$(idx "$1")"; }
mac() { printf 'dc:a6:32:%02x:00:00' "$(idx "$1")"; }
for c in $CLIENTS; do
	"$P" client add "$c" --image os --root layered --serial "$(serial "$c")" \
		--mac "$(mac "$c")" --server "$ADDR" --state-dir "$STATE" \
		>"$NN_TMP/add-$c.log" 2>&1
	t_check "client add $c --root layered" test $? -eq 0
done

NS=$(nn_ns srv)
CL=$(nn_ns fw)
nn_bridge "$NS" br0 "$ADDR/24"
FWIF=$(nn_port "$NS" br0 "$CL" 198.18.0.9/24)
TAP=$(guest_tap "$NS" br0)
nn_spawn "$NS" "$NN_TMP/serve.log" "$P" serve --interface br0 \
	--address "$ADDR" --state-dir "$STATE" --dhcp server \
	--dhcp-range 198.18.0.100,198.18.0.150 --dhcp-probe 0
SPID=$NN_LAST_PID
nn_wait_udp "$NS" 69 && nn_wait_tcp "$NS" 2049 || {
	cat "$NN_TMP/serve.log"
	t_fail "server starts"
	exit 1
}

key() { sed -n "s/^$2 = //p" "$STATE/clients/$1/client.conf"; }

# firmware C N: client C's firmware asks for its address (boot N).
firmware() {
	ip netns exec "$CL" "$PNB_TOOLS/pi_emu" -i "$FWIF" -m pi4 -s \
		-b "$(idx "$1")" -T 20 >"$NN_TMP/fw-$1-$2.log" 2>&1
}

# boot C N LIMIT: client C powers on (boot N): firmware, boot files over
# TFTP, its kernel in QEMU for at most LIMIT seconds; the console in
# $NN_TMP/con-C-N.log.
boot() {
	local c=$1 n=$2 limit=$3 f=$NN_TMP/files-$1-$2 cmdline args x
	local log=$NN_TMP/con-$1-$2.log
	firmware "$c" "$n"
	mkdir -p "$f"
	for x in cmdline.txt kernel8.img initramfs8; do
		ip netns exec "$CL" curl -sf --tftp-blksize 1468 \
			-o "$f/$x" "tftp://$ADDR/$(serial "$c")/$x"
	done
	cp "$f/kernel8.img" "$f/vmlinuz"
	cmdline=$(cat "$f/cmdline.txt")
	args=$(sed 's/console=serial0,115200/console=ttyAMA0/; s/console=tty1//' \
		<<<"$cmdline")
	x=$(sed -n 's/.*nfsroot=\([^ ,]*\).*/\1/p' <<<"$cmdline")
	GUEST_KDIR=$f GUEST_INITRD=$f/initramfs8 GUEST_MAC=$(mac "$c") \
		PNB_GUEST_MEM=512 guest_boot arm64 "$NS" "$TAP" "$log" "$limit" \
		"$args pnb_ip=dhcp pnb_server=${x%%:*} pnb_path=${x#*:}"
	echo "INFO: $c boot $n: QEMU status $GUEST_RC, ${GUEST_WALL}s"
}
con() { grep -a "^PNB-$3 " "$NN_TMP/con-$1-$2.log" | head -1 | cut -d' ' -f2-; }

# 1. Version 1: every client boots and writes its own file.
for c in $CLIENTS; do
	boot "$c" 1 240
	t_check "$c boots version 1 as itself" test "$(con "$c" 1 HOST)" = "$c"
	t_check "$c writes its own file" grep -aq '^PNB-WROTE' "$NN_TMP/con-$c-1.log"
done

# 2. Version 2, rolled out with one canary (pa: the first by name).
"$P" image update os --state-dir "$STATE" -- \
	sh -c 'echo 2 >/etc/pnb-version; echo from-v2 >/etc/from-v2' \
	>"$NN_TMP/update2.log" 2>&1
t_check "image update: version 2" test -d "$STATE/images/os/v/2"
"$P" image rollout os@2 --canary 1 --health-timeout 240 \
	--state-dir "$STATE" >"$NN_TMP/rollout2.log" 2>&1
t_check "image rollout os@2 --canary 1" test $? -eq 0
t_check "pa is the canary" test "$(key pa rollout_role)" = canary
t_check "pb is a follower" test "$(key pb rollout_role)" = follower
# The follower powers on first: nothing moves before the canary booted.
firmware pb 2
t_check "pb waits for its canary" test "$(key pb version)" = 1
t_check "pb still has its move" test "$(key pb next_version)" = 2
t_check "the server says why pb waits" \
	grep -q 'event=move-waits client=pb .*canary pa has not reached root mounted' \
	"$NN_TMP/serve.log"
boot pa 2 240
t_check "pa moved at its firmware's DISCOVER" \
	grep -q 'event=moved client=pa from=1 to=2' "$NN_TMP/serve.log"
t_check "pa boots version 2" test "$(con pa 2 IMAGE)" = 2
t_check "pa keeps its own file" test "$(con pa 2 MINE)" = mine-of-pa
t_check "pa sees version 2's new file" test "$(con pa 2 NEW)" = from-v2
t_check "pa is still itself" test "$(con pa 2 HOST)" = pa
t_check "pa's move is healthy once its root is mounted" \
	test "$(key pa rollout_state)" = healthy
for c in pb pc; do
	boot "$c" 2 240
	t_check "$c moved after its canary" test "$(key "$c" version)" = 2
	t_check "$c boots version 2" test "$(con "$c" 2 IMAGE)" = 2
	t_check "$c keeps its own file" test "$(con "$c" 2 MINE)" = "mine-of-$c"
	t_check "$c sees version 2's new file" test "$(con "$c" 2 NEW)" = from-v2
	t_check "$c's move is healthy" test "$(key "$c" rollout_state)" = healthy
done

# 3. Version 3, whose kernel cannot boot.
"$P" image update os --state-dir "$STATE" -- \
	sh -c 'echo 3 >/etc/pnb-version; echo not-a-kernel >/boot/firmware/kernel8.img' \
	>"$NN_TMP/update3.log" 2>&1
t_check "image update: version 3" test -d "$STATE/images/os/v/3"
HT=20
"$P" image rollout os@3 --canary 1 --health-timeout $HT \
	--state-dir "$STATE" >"$NN_TMP/rollout3.log" 2>&1
t_check "image rollout os@3 --canary 1" test $? -eq 0
boot pa 3 15
t_check "pa moved to version 3" test "$(key pa version)" = 3
t_check "its kernel is the broken one" \
	grep -qx not-a-kernel "$NN_TMP/files-pa-3/kernel8.img"
t_check "pa's version 3 never mounted its root" \
	bash -c "! grep -aq '^PNB-T mount' '$NN_TMP/con-pa-3.log'"
# The health timeout runs out.
moved=$(date -d "$(key pa moved_at)" +%s)
while [ "$(date +%s)" -le $((moved + HT + 2)) ]; do sleep 1; done
for i in $(seq 20); do
	[ "$(key pa rollout_state)" = failed ] && break
	sleep 0.5
done
t_check "pa marked failed after $HT s" test "$(key pa rollout_state)" = failed
t_check "the reason says so" \
	grep -q "did not reach root mounted within $HT s of its move to version 3" \
	<<<"$(key pa rollback_reason)"
# A follower powers on: halted, it stays.
firmware pb 3
t_check "pb halted" test "$(key pb rollout_state)" = halted
t_check "pb never moved" test "$(key pb version)" = 2
t_check "pb's move is dropped" test -z "$(key pb next_version)"
t_check "pb: the failed canary is the reason" \
	grep -q 'canary pa did not reach root mounted' <<<"$(key pb rollback_reason)"
# The canary's next boot takes it back, and it boots.
boot pa 4 240
t_check "pa rolled back at its next boot" test "$(key pa version)" = 2
t_check "pa: rollout_state rolled-back" test "$(key pa rollout_state)" = rolled-back
t_check "pa boots version 2 again" test "$(con pa 4 IMAGE)" = 2
t_check "pa still has its own file" test "$(con pa 4 MINE)" = mine-of-pa
firmware pc 3
t_check "pc never moved" test "$(key pc version)" = 2
t_check "pc halted" test "$(key pc rollout_state)" = halted
t_check "version 3 never reached pb or pc" \
	bash -c "! grep -q 'event=moved client=p[bc] from=2 to=3' '$NN_TMP/serve.log'"

# What the operator sees.
list=$("$P" client list --state-dir "$STATE")
echo "$list" | sed 's/^/INFO: /'
t_check "client list: pa on os@2" grep -Eq '^pa .* layered +os@2 ' <<<"$list"
t_check "client list: pa rolled back, and why" \
	grep -q 'rolled back: did not reach root mounted' <<<"$list"
t_check "client list: pb halted, and why" \
	grep -q 'halted, not moved: canary pa did not reach' <<<"$list"
show=$("$P" client show pa --state-dir "$STATE")
t_check "client show pa: the rollback and why" \
	grep -q 'rollback_reason .*did not reach root mounted' <<<"$show"
st=$("$P" status pa --json --state-dir "$STATE")
t_check "status pa: the version it boots" grep -q '"version":"os@2"' <<<"$st"
t_check "status pa: rolled back, and why" \
	grep -q '"rollout_state":"rolled-back".*"rollback_reason":"did not reach root mounted' <<<"$st"
st=$("$P" status --state-dir "$STATE")
echo "$st" | sed 's/^/INFO: /' | head -20
t_check "status: the rollback in the table" grep -q 'rolled back' <<<"$st"
nn_stop "$SPID"
echo "INFO: run time $(($(date +%s) - T0)) s"
t_done
