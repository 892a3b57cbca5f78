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
# root over NFS from the nfsroot= that `client add` wrote.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/netns.sh"
. "$HERE/../lib/guest.sh"
nn_init a64

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
printf 'console=serial0,115200 console=tty1 root=PARTUUID=a64a64a6-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n' \
	>"$W/boot/cmdline.txt"
: >"$W/boot/start4.elf"
head -c 40000 /dev/urandom >"$W/boot/bcm2711-rpi-4-b.dtb"
guest_rootfs arm64 "$W/root" || {
	t_fail "arm64 root"
	exit 1
}
printf 'proc /proc proc defaults 0 0\nPARTUUID=a64a64a6-01 /boot/firmware vfat defaults 0 2\nPARTUUID=a64a64a6-02 / ext4 defaults,noatime 0 1\n' \
	>"$W/root/etc/fstab"
echo raspberrypi >"$W/root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 raspberrypi\n' >"$W/root/etc/hosts"
echo 0123456789abcdef0123456789abcdef >"$W/root/etc/machine-id"
cat >"$W/root/pnb/run" <<'EOS'
#!/bin/sh
ok() { echo "PNB-PASS: $1"; }
bad() { echo "PNB-FAIL: $1 ($2)"; }
[ "$(uname -m)" = aarch64 ] && ok "arm64 kernel" || bad "arm64 kernel" "$(uname -m)"
if grep -q '^[^ ]* / nfs .*vers=3' /proc/mounts; then
	ok "root on nfs"
else
	bad "root on nfs" "$(grep ' / ' /proc/mounts)"
fi
[ "$(cat /etc/hostname)" = pi4-arm ] && ok "hostname from client add" ||
	bad "hostname from client add" "$(cat /etc/hostname)"
grep -q 'PARTUUID' /etc/fstab && bad "fstab without PARTUUID" \
	"$(grep PARTUUID /etc/fstab)" || ok "fstab without PARTUUID"
[ "$(cat /etc/machine-id)" != 0123456789abcdef0123456789abcdef ] &&
	ok "fresh machine-id" || bad "fresh machine-id" "unchanged"
grep -q 'nfsroot=' /proc/cmdline && ok "booted with the provisioned cmdline" ||
	bad "booted with the provisioned cmdline" "$(cat /proc/cmdline)"
echo written-on-the-pi >/root/pnb-wrote && ok "root is writable"
EOS
chmod 755 "$W/root/pnb/run"

mkfs.vfat -C -F 32 -n bootfs "$W/boot.img" 65536 >/dev/null &&
	MTOOLS_SKIP_CHECK=1 mcopy -s -m -i "$W/boot.img" "$W/boot"/* ::/ &&
	mkfs.ext4 -q -F -L rootfs -d "$W/root" "$W/root.img" 48M &&
	truncate -s 120M "$W/disk.img" &&
	printf 'label: dos\nlabel-id: 0xa64a64a6\nstart=8192, size=131072, type=c\nstart=139264, size=98304, type=83\n' |
	sfdisk -q "$W/disk.img" &&
	dd if="$W/boot.img" of="$W/disk.img" bs=512 seek=8192 conv=notrunc,sparse status=none &&
	dd if="$W/root.img" of="$W/disk.img" bs=512 seek=139264 conv=notrunc,sparse status=none &&
	xz -T0 -c "$W/disk.img" >"$NN_TMP/pi-arm64.img.xz"
t_check "arm64 Pi-shaped image built" test -s "$NN_TMP/pi-arm64.img.xz"
rm -rf "$W"

"$PNB_BIN" image import "$NN_TMP/pi-arm64.img.xz" --name arm64os \
	--state-dir "$STATE" >"$NN_TMP/import.log" 2>&1
t_check "image import" test $? -eq 0
"$PNB_BIN" client add pi4-arm --root copy --serial "$SERIAL" --mac "$MAC" \
	--image arm64os --server "$ADDR" --state-dir "$STATE" \
	>"$NN_TMP/add.log" 2>&1
t_check "client add" test $? -eq 0

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
	t_check "tftp $SERIAL/$f" cmp -s "$fetched/$f" \
		"$STATE/clients/pi4-arm/boot/$f"
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
t_check "the Pi's write landed in its provisioned root" \
	grep -qx written-on-the-pi "$STATE/clients/pi4-arm/root/root/pnb-wrote"
st=$("$PNB_BIN" status pi4-arm --json --state-dir "$STATE")
t_check "status shows pi4-arm booted" grep -q '"state":"booted"' <<<"$st"
nn_stop "$SPID"
t_done
