#!/usr/bin/env bash
# pi_arm64: the closest this machine gets to a Raspberry Pi.  A Raspberry
# Pi OS-shaped image (tests/lib/rpi_image.sh) whose boot partition holds a
# real arm64 kernel8.img (Debian's arm64 kernel, gzip'd like Raspberry Pi
# OS ships it) and initramfs8 (the guest harness's busybox initramfs), and
# whose root holds an arm64 busybox and a /sbin/init that reports, is
# imported and provisioned as a client with `pinetboot image import` and
# `pinetboot client add`.  qemu-system-aarch64 (virt, cortex-a53) then
# boots the provisioned client's kernel8.img and initramfs8 with the
# provisioned cmdline.txt (root=/dev/nfs nfsroot=... ip=dhcp): the guest
# gets its reserved address from pinetboot's DHCP and mounts the
# provisioned root from pinetboot's NFS server.
#
# There is no Pi firmware here: QEMU loads the kernel and initramfs from
# the client's boot tree itself instead of TFTP.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/netns.sh"
. "$HERE/../lib/guest.sh"
. "$HERE/../lib/rpi_image.sh"
nn_init piarm

ADDR=198.18.0.1
PI_ADDR=198.18.0.50
PI_MAC=52:54:00:a6:32:01
W=$NN_TMP
S=$W/state

for src in dhcp nfs3; do
	if [ ! -d "$NN_ROOT/src/proto/$src" ]; then
		echo "SKIP: pi_arm64 (pinetboot has no $src server yet)"
		exit 0
	fi
done

if ! guest_kernel arm64; then
	t_fail "pi_arm64 guest kernel" "see the messages above"
	exit 1
fi
BB=$(guest_busybox arm64) && guest_initramfs arm64 "$W/initramfs8" || {
	t_fail "pi_arm64 initramfs"
	exit 1
}

# The image's boot tree as rpi_image.sh makes it, with a real kernel and
# initramfs in place of the stand-ins.
eval "rpi_boot_tree_standins() $(declare -f rpi_boot_tree | tail -n +2)"
rpi_boot_tree() {
	rpi_boot_tree_standins "$1"
	gzip -6c "$GUEST_KDIR/vmlinuz" >"$1/kernel8.img"
	cp "$W/initramfs8" "$1/initramfs8"
}
rpi_extra_root() {
	mkdir -p "$1/pnb" "$1/proc" "$1/sys" "$1/sbin"
	cp "$BB" "$1/pnb/busybox"
	cat >"$1/sbin/init" <<'EOF'
#!/pnb/busybox sh
B=/pnb/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
read -r up _ </proc/uptime
echo "PNB-T root $up"
if $B grep -q '^[^ ]* / nfs .*vers=3' /proc/mounts; then
	echo "PNB-PASS: root on nfs"
else
	echo "PNB-FAIL: root on nfs ($($B grep ' / ' /proc/mounts))"
fi
echo "PNB-INFO hostname=$($B cat /etc/hostname)"
echo "PNB-INFO machine=$($B uname -m)"
read -r up _ </proc/uptime
echo "PNB-T end $up"
echo "PNB-END rc=0"
$B sync
$B poweroff -f
EOF
	chmod 755 "$1/sbin/init"
}
if ! rpi_build "$W" >"$W/build.log" 2>&1; then
	cat "$W/build.log"
	t_fail "pi_arm64 build image"
	exit 1
fi
P() { "$PNB_BIN" "$@" --state-dir "$S"; }
if ! P image import "$W/disk.img" --name os >"$W/import.log" 2>&1 ||
	! P client add pi1 --serial 6c4c16b6 --image os --mac "$PI_MAC" \
		--address "$PI_ADDR" --server "$ADDR" >"$W/add.log" 2>&1; then
	cat "$W/import.log" "$W/add.log"
	t_fail "pi_arm64 import and provision"
	exit 1
fi
C=$S/clients/pi1
t_check "pi_arm64 provisioned cmdline.txt mounts the root over NFS" \
	grep -q "root=/dev/nfs nfsroot=$ADDR:$C/root,vers=3,tcp .*ip=dhcp" \
	"$C/boot/cmdline.txt"

nn_ns srv >/dev/null
NS=$NN_PREFIX-srv
nn_bridge "$NS" br0 "$ADDR/24"
# No --export: the server exports the client's root from its record, to
# the client's address only.
nn_spawn "$NS" "$W/pnb.log" "$PNB_BIN" serve --interface br0 \
	--address "$ADDR" --state-dir "$S" --dhcp server \
	--dhcp-range 198.18.0.100,198.18.0.150 --tftp off
if ! nn_wait_udp "$NS" 67 || ! nn_wait_tcp "$NS" 2049; then
	t_fail "pi_arm64 pinetboot listening" "no DHCP or NFS"
	cat "$W/pnb.log"
	exit 1
fi
TAP=$(guest_tap "$NS" br0) || {
	t_fail "pi_arm64 tap device"
	exit 1
}

# The provisioned command line as it is; console=ttyAMA0 last, since the
# last console= becomes /dev/console.
GUEST_INITRD=$C/boot/initramfs8
LOG=$W/console-pi1.log
GUEST_MAC=$PI_MAC guest_qemu arm64 "$NS" "$TAP" "$LOG" 170 \
	-kernel "$C/boot/kernel8.img" -initrd "$C/boot/initramfs8" \
	-append "console=ttyAMA0 panic=-1 $(cat "$C/boot/cmdline.txt") \
console=ttyAMA0"
guest_relay "$LOG" "pi_arm64" || tail -40 "$LOG"
t_check "pi_arm64 guest got its reserved address" \
	grep -q "^PNB-DHCP: ip=$PI_ADDR " "$LOG"
t_check "pi_arm64 guest runs the provisioned root (hostname pi1)" \
	grep -q '^PNB-INFO hostname=pi1$' "$LOG"
t_check "pi_arm64 guest is arm64" grep -q '^PNB-INFO machine=aarch64$' "$LOG"
t_check "pi_arm64 server exported the client's root from its record" \
	grep -q "svc=clients event=export client=pi1 addr=$PI_ADDR" "$W/pnb.log"
echo "INFO: pi_arm64: wall ${GUEST_WALL}s; kernel uptime at init" \
	"$(guest_mark "$LOG" init), net $(guest_mark "$LOG" net), mounted" \
	"$(guest_mark "$LOG" mount), end $(guest_mark "$LOG" end)"
"$PNB_BIN" status --state-dir "$S" | sed 's/^/INFO: status: /'

# Another machine (a MAC without a reservation, so a pool address) with
# the same command line must be refused the client's root.
LOG2=$W/console-stranger.log
GUEST_MAC=52:54:00:a6:32:99 guest_qemu arm64 "$NS" "$TAP" "$LOG2" 170 \
	-kernel "$C/boot/kernel8.img" -initrd "$C/boot/initramfs8" \
	-append "console=ttyAMA0 panic=-1 $(cat "$C/boot/cmdline.txt") \
console=ttyAMA0"
if grep -q '^PNB-ERROR: mount .* failed' "$LOG2" &&
	! grep -q '^PNB-PASS: root on nfs' "$LOG2"; then
	t_pass "pi_arm64 another address is refused the client's root"
else
	t_fail "pi_arm64 another address is refused the client's root" \
		"$(grep -E '^PNB-(DHCP|ERROR|PASS)' "$LOG2" | tr '\n' ' ')"
fi
guest_keep_logs
t_done
