#!/usr/bin/env bash
# pinetboot demo: the whole boot without a Raspberry Pi.
#
# Builds (or reuses) a small disk image shaped like Raspberry Pi OS (MBR,
# FAT32 boot partition, ext4 root) whose trees hold an x86-64 Debian
# kernel, a busybox initramfs and a busybox root; imports it and
# provisions a client from it; creates a private network namespace with a
# bridge on 198.18.0.0/24; starts `pinetboot serve --dhcp server` there;
# and boots a QEMU virtual machine that loads its kernel over PXE and TFTP
# and mounts its root over NFS, showing the client's timeline live.
# Everything it made is removed at the end.
#
# Run as root: `pinetboot demo` (it runs this script).  Environment:
#   PNB_BIN          the pinetboot binary (set by `pinetboot demo`)
#   PNB_DEMO_CACHE   where the image and kernel are kept between runs
set -u
here=$(cd "$(dirname "$0")" && pwd)
# From the source tree (scripts/) or an installed copy (share/pinetboot/).
if [ -f "$here/../tests/lib/netns.sh" ]; then
	lib=$here/../tests/lib
else
	lib=$here/lib
fi
: "${PNB_BIN:?run this through 'pinetboot demo'}"
: "${PNB_DEMO_CACHE:=/var/cache/pinetboot-demo}"
export PNB_GUEST_CACHE=$PNB_DEMO_CACHE/guest
PNB_OUT=$PNB_DEMO_CACHE
. "$lib/netns.sh"
. "$lib/guest.sh"

say() { printf '\033[1mdemo:\033[0m %s\n' "$*"; }
die() {
	printf 'pinetboot demo: %s\n' "$*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root (it creates a network namespace)"
for t in qemu-system-x86_64 sfdisk mkfs.vfat mcopy mkfs.ext4 xz; do
	command -v "$t" >/dev/null ||
		die "$t is missing: run scripts/install-deps first"
done
[ -f /usr/lib/ipxe/qemu/pxe-e1000.rom ] ||
	die "QEMU's iPXE ROM is missing: apt-get install ipxe-qemu"
mkdir -p "$PNB_DEMO_CACHE" || die "cannot create $PNB_DEMO_CACHE"

nn_init demo
ADDR=198.18.0.1
MAC=52:54:00:de:00:01
NAME=demo-pi
STATE=$NN_TMP/state
IMG=$PNB_DEMO_CACHE/demo-os.img.xz

# demo_image: a Raspberry Pi OS-shaped image, made with the same tools a
# user would use, and no loop device.
demo_image() {
	local w=$NN_TMP/img boot root
	boot=$w/boot
	root=$w/root
	mkdir -p "$boot" "$root"
	say "fetching a Debian kernel and building the demo image (once)"
	guest_kernel amd64 || return 1
	guest_initramfs amd64 "$boot/initrd.gz" || return 1
	cp "$GUEST_KDIR/vmlinuz" "$boot/vmlinuz"
	# What a Pi's firmware would look for; the demo client is a PC.
	printf 'arm_64bit=1\nkernel=kernel8.img\n' >"$boot/config.txt"
	printf 'console=serial0,115200 root=PARTUUID=0d0e0d0e-02 rootfstype=ext4 fsck.repair=yes rootwait init=/usr/lib/raspberrypi-sys-mods/firstboot\n' \
		>"$boot/cmdline.txt"
	: >"$boot/start4.elf"
	guest_rootfs amd64 "$root" || return 1
	mkdir -p "$root/etc"
	printf 'PRETTY_NAME="pinetboot demo OS (busybox)"\nID=demo\nVERSION_ID=1\n' \
		>"$root/etc/os-release"
	printf 'proc /proc proc defaults 0 0\nPARTUUID=0d0e0d0e-01 /boot/firmware vfat defaults 0 2\nPARTUUID=0d0e0d0e-02 / ext4 defaults,noatime 0 1\n' \
		>"$root/etc/fstab"
	echo raspberrypi >"$root/etc/hostname"
	cat >"$root/pnb/run" <<'EOS'
#!/bin/sh
echo
echo "  Hello from $(cat /etc/hostname): root on $(grep ' / ' /proc/mounts | cut -d' ' -f1,3)"
echo "PNB-PASS: demo booted"
EOS
	chmod 755 "$root/pnb/run"
	mkfs.vfat -C -F 32 -n bootfs "$w/boot.img" 65536 >/dev/null || return 1
	MTOOLS_SKIP_CHECK=1 mcopy -s -m -i "$w/boot.img" "$boot"/* ::/ ||
		return 1
	mkfs.ext4 -q -F -L rootfs -d "$root" "$w/root.img" 48M || return 1
	truncate -s 120M "$w/disk.img"
	printf 'label: dos\nlabel-id: 0x0d0e0d0e\nstart=8192, size=131072, type=c\nstart=139264, size=98304, type=83\n' |
		sfdisk -q "$w/disk.img" || return 1
	dd if="$w/boot.img" of="$w/disk.img" bs=512 seek=8192 conv=notrunc,sparse status=none
	dd if="$w/root.img" of="$w/disk.img" bs=512 seek=139264 conv=notrunc,sparse status=none
	xz -T0 -c "$w/disk.img" >"$IMG.tmp" && mv "$IMG.tmp" "$IMG"
	rm -rf "$w"
}

[ -s "$IMG" ] || demo_image || die "could not build the demo image"
guest_kernel amd64 >/dev/null 2>&1

say "importing the image and provisioning client $NAME ($MAC)"
"$PNB_BIN" image import "$IMG" --name demo-os --state-dir "$STATE" ||
	die "image import failed"
"$PNB_BIN" client add "$NAME" --root copy --serial 0d0e0d0e --mac "$MAC" \
	--image demo-os --server "$ADDR" --state-dir "$STATE" ||
	die "client add failed"
croot=$STATE/clients/$NAME/root
cat >"$STATE/tftp.ipxe" <<EOF
#!ipxe
echo pinetboot demo: iPXE loads the kernel of \${mac:hexhyp} over TFTP
kernel \${mac:hexhyp}/vmlinuz console=ttyS0 panic=-1 quiet pnb_ip=dhcp pnb_server=\${next-server} pnb_path=$croot
initrd \${mac:hexhyp}/initrd.gz
boot
EOF
mkdir -p "$STATE/tftp"
mv "$STATE/tftp.ipxe" "$STATE/tftp/boot.ipxe"

say "network namespace with bridge br0 at $ADDR/24"
NS=$(nn_ns net) || die "cannot create a network namespace"
nn_bridge "$NS" br0 "$ADDR/24" || die "cannot create the bridge"
TAP=$(guest_tap "$NS" br0) || die "cannot create a tap device"

say "starting: pinetboot serve --dhcp server (log: $NN_TMP/serve.log)"
nn_spawn "$NS" "$NN_TMP/serve.log" "$PNB_BIN" serve --interface br0 \
	--address "$ADDR" --state-dir "$STATE" --dhcp server \
	--dhcp-range 198.18.0.100,198.18.0.150 --ipxe-script boot.ipxe \
	--boot-file undionly.kpxe --dhcp-probe 0
for i in $(seq 50); do
	[ -S "$STATE/pinetboot.sock" ] && break
	sleep 0.1
done
[ -S "$STATE/pinetboot.sock" ] || {
	cat "$NN_TMP/serve.log"
	die "the server did not start"
}

say "powering on a virtual machine (QEMU, iPXE ROM, no KVM: about a minute)"
console=$NN_TMP/console.log
(GUEST_NIC=e1000 GUEST_MAC=$MAC guest_qemu amd64 "$NS" "$TAP" \
	"$console" 240 -boot n -device sga) &
QEMU_PID=$!
NN_PIDS+=("$QEMU_PID")
lines=0
while kill -0 "$QEMU_PID" 2>/dev/null; do
	out=$("$PNB_BIN" status "$NAME" --state-dir "$STATE" 2>/dev/null)
	if [ -t 1 ]; then
		printf '\033[H\033[2J'
		say "live timeline of $NAME (pinetboot status $NAME):"
		echo "$out"
		echo
		grep -a -E '^(PNB-T|pinetboot demo|  Hello)' "$console" \
			2>/dev/null | tail -6
	else
		n=$(echo "$out" | wc -l)
		[ "$n" -gt "$lines" ] && echo "$out" | tail -n +$((lines + 1))
		lines=$n
	fi
	sleep 1
done
wait "$QEMU_PID"
echo
say "final timeline:"
"$PNB_BIN" status "$NAME" --state-dir "$STATE"
grep -a '  Hello from' "$console"
if grep -q '^PNB-PASS: demo booted' "$console" &&
	"$PNB_BIN" status "$NAME" --json --state-dir "$STATE" |
	grep -q '"state":"booted"'; then
	say "the virtual client booted from pinetboot: DHCP, TFTP, NFS root."
	say "cleaning up (namespace, processes, state)"
	exit 0
fi
say "the boot did not finish; console and server log:"
tail -30 "$console"
tail -30 "$NN_TMP/serve.log"
exit 1
