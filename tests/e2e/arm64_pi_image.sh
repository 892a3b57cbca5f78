#!/usr/bin/env bash
# The closest we can get to a Raspberry Pi without one: an image shaped
# like Raspberry Pi OS (MBR, FAT32 bootfs with config.txt, cmdline.txt,
# kernel8.img and initramfs8; ext4 rootfs with PARTUUID lines in fstab and
# a first-boot init= hook) holding Debian's arm64 kernel and an arm64
# busybox root is imported and provisioned as a Pi 4; the kernel, the
# initramfs and cmdline.txt are fetched from pinetboot's TFTP under the
# Pi's serial prefix, exactly as its firmware would; qemu-system-aarch64
# (virt, cortex-a53) boots that kernel with that command line, takes its
# address from `pinetboot serve --dhcp server` and mounts the provisioned
# root over NFS from the nfsroot= that `client add` wrote.  The guest's
# traffic is captured and its NFS calls decoded (tests/tools/nfs_trace):
# PNB_NFS_TRACE=FILE keeps that trace, which is how
# scripts/record-nfs-trace makes the one the boot storm replays.
#
# PNB_PI_ROOT=layered (arm64_pi_image_layered.sh): the client is made a
# layered client on the imported image's version 1, its changes from
# `client add` in its client layer (tests/lib/layered.sh); the Pi then
# fetches its merged boot tree over TFTP and boots its merged root over
# NFS under the same names, and the version is compared whole after.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/netns.sh"
. "$HERE/../lib/guest.sh"
. "$HERE/../lib/a64_image.sh"
. "$HERE/../lib/layered.sh"
. "$HERE/../lib/dhcp.sh"
nn_init a64
MODE=${PNB_PI_ROOT:-copy}

ADDR=198.18.0.1
SERIAL=6a64c0de
MAC=52:54:00:a6:40:01
STATE=$NN_TMP/state
W=$NN_TMP/img

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
printf 'arm_64bit=1\nauto_initramfs=1\ndtoverlay=vc4-kms-v3d\n' \
	>"$W/boot/config.txt"
echo "$A64_CMDLINE" >"$W/boot/cmdline.txt"
: >"$W/boot/start4.elf"
head -c 40000 /dev/urandom >"$W/boot/bcm2711-rpi-4-b.dtb"
a64_root "$W/root" pi4-arm || {
	t_fail "arm64 root"
	exit 1
}
a64_image "$NN_TMP/pi-arm64.img.xz" "$W/boot" "$W/root"
t_check "arm64 Pi-shaped image built" test -s "$NN_TMP/pi-arm64.img.xz"
rm -rf "$W"

"$PNB_BIN" image import "$NN_TMP/pi-arm64.img.xz" --name arm64os \
	--state-dir "$STATE" >"$NN_TMP/import.log" 2>&1
t_check "image import" test $? -eq 0
# A volatile client is made as `client add` makes one; the layered one
# from the copy, as before layered clients could be added.
"$PNB_BIN" client add pi4-arm --root "$([ "$MODE" = volatile ] &&
	echo volatile || echo copy)" --serial "$SERIAL" --mac "$MAC" \
	--image arm64os --server "$ADDR" --state-dir "$STATE" \
	>"$NN_TMP/add.log" 2>&1
t_check "client add" test $? -eq 0
# pi_file TREE REL: where the server has REL of the client's TREE.
pi_file() {
	if [ "$MODE" != copy ]; then
		layered_view "$STATE" pi4-arm "$1" "$2"
	else
		echo "$STATE/clients/pi4-arm/$1/$2"
	fi
}
if [ "$MODE" = layered ]; then
	layered_from_copy "$STATE" arm64os pi4-arm
	t_check "layered client made from the copy" \
		test -f "$STATE/clients/pi4-arm/layer/boot/cmdline.txt"
	layered_manifest "$STATE/images/arm64os/v/1" >"$NN_TMP/ver.before"
fi
if [ "$MODE" = volatile ]; then
	layered_manifest "$STATE/images/arm64os/v/1" >"$NN_TMP/ver.before"
fi

NS=$(nn_ns srv)
CL=$(nn_ns fw)
nn_bridge "$NS" br0 "$ADDR/24"
FWIF=$(nn_port "$NS" br0 "$CL" 198.18.0.9/24)
TAP=$(guest_tap "$NS" br0)
nn_spawn "$NS" "$NN_TMP/serve.log" "$PNB_BIN" serve --interface br0 \
	--address "$ADDR" --state-dir "$STATE" --dhcp server \
	--dhcp-range 198.18.0.100,198.18.0.150 --dhcp-probe 0
SPID=$NN_LAST_PID
nn_wait_udp "$NS" 69 && nn_wait_tcp "$NS" 2049 || {
	cat "$NN_TMP/serve.log"
	t_fail "server starts"
	exit 1
}

# What the Pi 4 EEPROM fetches under its serial (reference §3.4).
fetched=$NN_TMP/fetched
mkdir -p "$fetched"
for f in start4.elf config.txt cmdline.txt kernel8.img initramfs8; do
	# curl writes no file for an empty download (start4.elf is empty).
	: >"$fetched/$f"
	ip netns exec "$CL" curl -sf --tftp-blksize 1468 \
		-o "$fetched/$f" "tftp://$ADDR/$SERIAL/$f"
	t_check "tftp $SERIAL/$f" cmp -s "$fetched/$f" "$(pi_file boot "$f")"
done
cmdline=$(cat "$fetched/cmdline.txt")
t_check "provisioned cmdline.txt has the NFS root" \
	grep -q "root=/dev/nfs nfsroot=$ADDR:$STATE/clients/pi4-arm/root,vers=3,tcp" \
	<<<"$cmdline"
t_check "provisioned cmdline.txt dropped init= and rootfstype=" \
	bash -c "! grep -qE 'init=|rootfstype=' <<<'$cmdline'"
# Our initramfs reads its root from pnb_* words; take them from nfsroot=.
nfsroot=$(sed -n 's/.*nfsroot=\([^ ]*\).*/\1/p' <<<"$cmdline")
server=${nfsroot%%:*}
path=${nfsroot#*:}
path=${path%%,*}
# The kernel gets the Pi's cmdline.txt with the Pi console swapped for
# the virt machine's.
args=$(sed 's/console=serial0,115200/console=ttyAMA0/; s/console=tty1//' \
	<<<"$cmdline")
# Every frame on the guest's tap, whole.  --immediate-mode: with the
# default block ring, frames in a block not yet handed to tcpdump are
# lost when it stops, and the end of the boot with them.
nn_spawn "$NS" "$NN_TMP/tcpdump.log" tcpdump -n -U --immediate-mode \
	-s 0 -B 16384 -i "$TAP" -w "$NN_TMP/arm64-guest.pcap" ip
CAP_PID=$NN_LAST_PID
for i in $(seq 50); do
	grep -q 'listening on' "$NN_TMP/tcpdump.log" && break
	sleep 0.1
done
GUEST_KDIR=$fetched
cp "$fetched/kernel8.img" "$fetched/vmlinuz"
GUEST_INITRD=$fetched/initramfs8
GUEST_MAC=$MAC PNB_GUEST_MEM=512 guest_boot arm64 "$NS" "$TAP" \
	"$NN_TMP/console-arm64.log" 300 \
	"$args pnb_ip=dhcp pnb_server=$server pnb_path=$path"
guest_relay "$NN_TMP/console-arm64.log" "arm64 pi4" ||
	tail -30 "$NN_TMP/console-arm64.log"
echo "INFO: arm64 wall ${GUEST_WALL}s; uptime at mount" \
	"$(guest_mark "$NN_TMP/console-arm64.log" mount)"
nn_stop "$CAP_PID"
t_check "capture of the guest's traffic, no frame dropped" \
	grep -q '^0 packets dropped by kernel' "$NN_TMP/tcpdump.log"
"$PNB_TOOLS/nfs_trace" -s "$ADDR" "$NN_TMP/arm64-guest.pcap" \
	>"$NN_TMP/boot.trace" 2>"$NN_TMP/nfs_trace.log"
t_check "the boot's NFS calls decode" test $? -eq 0
head -5 "$NN_TMP/nfs_trace.log"
t_check "every call of the boot answered in the capture" \
	bash -c "! grep -q '=> none' '$NN_TMP/boot.trace'"
# What the replay in the storm relies on: the kernel mounts the root the
# cmdline named, and its MOUNT and NFS connections come from reserved
# ports (its rpcbind client's do not).
conn_of() {
	awk -v p="$1" '$0 ~ p { print $2; exit }' "$NN_TMP/boot.trace"
}
class_of() {
	awk -v c="$1" '$1 == "conn" && $2 == c { print $4 }' \
		"$NN_TMP/boot.trace"
}
t_check "the kernel's MNT asked for the provisioned root" \
	grep -q ' mnt3 MNT path=$ROOT auth=' "$NN_TMP/boot.trace"
t_check "MNT from a reserved port" \
	test "$(class_of "$(conn_of ' mnt3 MNT ')")" = resv
t_check "NFS from a reserved port" \
	test "$(class_of "$(conn_of ' nfs3 FSINFO ')")" = resv
t_check "the portmapper asked from an ordinary port" \
	test "$(class_of "$(conn_of ' pmap2 GETPORT ')")" = any
echo "INFO: $(sed -n 3p "$NN_TMP/boot.trace" | sed 's/^# //')"
if [ -n "${PNB_NFS_TRACE:-}" ]; then
	cp "$NN_TMP/boot.trace" "$PNB_NFS_TRACE"
fi
t_check "the Pi's write landed in its provisioned root" \
	grep -qx written-on-the-pi "$(pi_file root root/pnb-wrote)"
if [ "$MODE" != copy ]; then
	layered_manifest "$STATE/images/arm64os/v/1" >"$NN_TMP/ver.after"
	t_check "the version is unchanged by the boot" \
		cmp -s "$NN_TMP/ver.before" "$NN_TMP/ver.after"
	t_check "the Pi's write is in its client layer" \
		test -f "$STATE/clients/pi4-arm/layer/root/root/pnb-wrote"
fi
st=$("$PNB_BIN" status pi4-arm --json --state-dir "$STATE")
if grep -q '"state":"booted"' <<<"$st"; then
	t_pass "status shows pi4-arm booted"
else
	t_fail "status shows pi4-arm booted" "$(head -c 3000 <<<"$st")"
	tail -30 "$NN_TMP/serve.log"
fi
if [ "$MODE" = volatile ]; then
	# The Pi starts again: its firmware's DISCOVER (serial in option 97)
	# empties its root, whose identity files stay.
	dh_fw_discover "$CL" "$FWIF" "$MAC" "$SERIAL"
	t_check "volatile: emptied at the firmware's next DISCOVER" nn_wait_line \
		"$NN_TMP/serve.log" 'event=emptied client=pi4-arm version=1'
	t_check "volatile: the Pi's write is gone" \
		test ! -e "$STATE/clients/pi4-arm/layer/root/root/pnb-wrote"
	t_check "volatile: its host name stays" \
		grep -qx pi4-arm "$STATE/clients/pi4-arm/layer/root/etc/hostname"
	t_check "volatile: its cmdline.txt stays, over TFTP too" bash -c \
		"ip netns exec '$CL' curl -sf tftp://$ADDR/$SERIAL/cmdline.txt |
			grep -q 'clients/pi4-arm/root'"
fi
nn_stop "$SPID"
t_done
