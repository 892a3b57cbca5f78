# The arm64 Raspberry Pi OS-shaped image: the one tests/e2e/arm64_pi_image.sh
# imports, provisions and boots in QEMU, and whose boot the NFS trace in
# tests/data was recorded from, so the boot storm (bench/storm.sh) can
# replay that trace against clients provisioned from the same root.
# Source tests/lib/netns.sh and tests/lib/guest.sh first.
#
#   a64_root DIR HOSTNAME   the root tree: guest_rootfs arm64 (busybox and
#                           an /sbin/init that runs /pnb/run), the files
#                           Raspberry Pi OS has that provisioning edits
#                           (fstab by PARTUUID, hostname, hosts,
#                           machine-id), and /pnb/run, which checks the
#                           booted Pi and expects HOSTNAME
#   a64_image OUT BOOT ROOT an MBR disk (disk id a64a64a6) with BOOT as its
#                           FAT32 "bootfs" and ROOT as its ext4 "rootfs",
#                           xz-compressed into OUT

# The Raspberry Pi OS command line that provisioning rewrites.
A64_CMDLINE='console=serial0,115200 console=tty1 root=PARTUUID=a64a64a6-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot'

a64_root() {
	local dir=$1 host=$2
	guest_rootfs arm64 "$dir" || return 1
	printf 'proc /proc proc defaults 0 0\nPARTUUID=a64a64a6-01 /boot/firmware vfat defaults 0 2\nPARTUUID=a64a64a6-02 / ext4 defaults,noatime 0 1\n' \
		>"$dir/etc/fstab"
	echo raspberrypi >"$dir/etc/hostname"
	printf '127.0.0.1 localhost\n127.0.1.1 raspberrypi\n' >"$dir/etc/hosts"
	echo 0123456789abcdef0123456789abcdef >"$dir/etc/machine-id"
	cat >"$dir/pnb/run" <<EOS
#!/bin/sh
ok() { echo "PNB-PASS: \$1"; }
bad() { echo "PNB-FAIL: \$1 (\$2)"; }
[ "\$(uname -m)" = aarch64 ] && ok "arm64 kernel" || bad "arm64 kernel" "\$(uname -m)"
if grep -q '^[^ ]* / nfs .*vers=3' /proc/mounts; then
	ok "root on nfs"
else
	bad "root on nfs" "\$(grep ' / ' /proc/mounts)"
fi
[ "\$(cat /etc/hostname)" = $host ] && ok "hostname from client add" ||
	bad "hostname from client add" "\$(cat /etc/hostname)"
grep -q 'PARTUUID' /etc/fstab && bad "fstab without PARTUUID" \\
	"\$(grep PARTUUID /etc/fstab)" || ok "fstab without PARTUUID"
[ "\$(cat /etc/machine-id)" != 0123456789abcdef0123456789abcdef ] &&
	ok "fresh machine-id" || bad "fresh machine-id" "unchanged"
grep -q 'nfsroot=' /proc/cmdline && ok "booted with the provisioned cmdline" ||
	bad "booted with the provisioned cmdline" "\$(cat /proc/cmdline)"
echo written-on-the-pi >/root/pnb-wrote && ok "root is writable"
EOS
	chmod 755 "$dir/pnb/run"
}

a64_image() {
	local out=$1 boot=$2 root=$3 w
	w=$(mktemp -d "${NN_TMP:-/tmp}/a64img.XXXXXX") || return 1
	mkfs.vfat -C -F 32 -n bootfs "$w/boot.img" 65536 >/dev/null &&
		MTOOLS_SKIP_CHECK=1 mcopy -s -m -i "$w/boot.img" "$boot"/* ::/ &&
		mkfs.ext4 -q -F -L rootfs -d "$root" "$w/root.img" 48M &&
		truncate -s 120M "$w/disk.img" &&
		printf 'label: dos\nlabel-id: 0xa64a64a6\nstart=8192, size=131072, type=c\nstart=139264, size=98304, type=83\n' |
		sfdisk -q "$w/disk.img" &&
		dd if="$w/boot.img" of="$w/disk.img" bs=512 seek=8192 \
			conv=notrunc,sparse status=none &&
		dd if="$w/root.img" of="$w/disk.img" bs=512 seek=139264 \
			conv=notrunc,sparse status=none &&
		xz -T0 -c "$w/disk.img" >"$out"
	local rc=$?
	rm -rf "$w"
	return $rc
}
