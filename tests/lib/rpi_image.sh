# Builds a disk image shaped like Raspberry Pi OS, with no loop mounts:
# an MBR (disk id 6c586e13) with a FAT32 "bootfs" partition at 4 MiB and
# an ext4 "rootfs" partition after it, cmdline.txt and fstab referring to
# them by PARTUUID, and an init= first-boot hook, as pi-gen makes them
# (reference §5.1).  Made with sfdisk, mkfs.vfat + mtools and mkfs.ext4 -d.
#
# The root tree holds every kind of metadata extraction must keep: regular
# files with holes, inline-data files, fast and slow symlinks, hard links
# across directories, character and block devices (old and new device
# number encodings), a FIFO, a socket, xattrs including
# security.capability, owners, setuid/setgid/sticky modes, nanosecond
# times and a directory with thousands of entries.  The busybox binary is
# the real one from Debian's busybox-static (the amd64 build: the arm64
# package needs a foreign architecture this machine does not configure).
# Debian ships no Raspberry Pi firmware or device trees for amd64, so the
# boot blobs are stand-ins carrying the real file names.
#
# rpi_build DIR: makes DIR/src-boot, DIR/src-root, DIR/disk.img.

rpi_root_tree() {
	local r=$1 i
	mkdir -p "$r"/{proc,sys,opt,etc/ssh,etc/systemd/system/multi-user.target.wants,etc/NetworkManager/system-connections,lib/systemd/system,usr/lib,usr/bin,usr/sbin,usr/share/many,dev,run,tmp,home/pi,var/lib/dbus,var/log,boot/firmware,root}
	cat >"$r/usr/lib/os-release" <<'OS'
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
OS
	ln -s ../usr/lib/os-release "$r/etc/os-release"
	# Merged /usr, as Debian 12 and Raspberry Pi OS Bookworm have it.
	ln -s usr/bin "$r/bin"
	ln -s usr/sbin "$r/sbin"
	cat >"$r/etc/fstab" <<'FSTAB'
proc            /proc           proc    defaults          0       0
PARTUUID=6c586e13-01  /boot/firmware  vfat    defaults          0       2
PARTUUID=6c586e13-02  /               ext4    defaults,noatime  0       1
FSTAB
	echo raspberrypi >"$r/etc/hostname"
	printf 'nameserver 127.0.0.53\n' >"$r/etc/resolv.conf"
	printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n\n127.0.1.1\traspberrypi\n' >"$r/etc/hosts"
	echo 0123456789abcdef0123456789abcdef >"$r/etc/machine-id"
	ln -s /etc/machine-id "$r/var/lib/dbus/machine-id"
	head -c 400 /dev/urandom | base64 >"$r/etc/ssh/ssh_host_ed25519_key"
	echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake root@raspberrypi" >"$r/etc/ssh/ssh_host_ed25519_key.pub"
	chmod 600 "$r/etc/ssh/ssh_host_ed25519_key"
	echo "# sshd config" >"$r/etc/ssh/sshd_config"
	printf 'root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000:,,,:/home/pi:/bin/bash\n' >"$r/etc/passwd"
	for u in ssh resize2fs_once dphys-swapfile; do
		printf '[Unit]\nDescription=%s\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n' "$u" >"$r/lib/systemd/system/$u.service"
	done
	ln -s /lib/systemd/system/resize2fs_once.service "$r/etc/systemd/system/multi-user.target.wants/resize2fs_once.service"
	ln -s /lib/systemd/system/dphys-swapfile.service "$r/etc/systemd/system/multi-user.target.wants/dphys-swapfile.service"
	printf '[main]\nplugins=ifupdown,keyfile\n' >"$r/etc/NetworkManager/NetworkManager.conf"
	# Real binary, hard links across directories (busybox applets).
	cp /bin/busybox "$r/usr/bin/busybox"
	ln "$r/usr/bin/busybox" "$r/usr/bin/sh"
	ln "$r/usr/bin/busybox" "$r/usr/sbin/ifconfig"
	# ping's capability (reference §4.4: NFS itself carries no xattrs,
	# but the extracted tree must keep them).
	cp /bin/busybox "$r/usr/bin/ping"
	setcap cap_net_raw+ep "$r/usr/bin/ping"
	setfattr -n user.pinetboot.note -v "kept" "$r/etc/hostname"
	# A trusted.* attribute (not trusted.overlay.*, which image layers
	# reserve and import leaves out).
	setfattr -n trusted.pinetboot.note -v y "$r/var/log"
	# Holes: 8 MiB with data at 1 MiB and 5 MiB; a file that is all hole.
	# (mkfs.ext4 -d 1.47.0 drops a trailing hole, so the file ends in
	# data.)
	truncate -s 8M "$r/var/lib/sparse.img"
	printf 'data at zero' | dd of="$r/var/lib/sparse.img" conv=notrunc status=none
	printf 'data at one MiB' | dd of="$r/var/lib/sparse.img" bs=1 seek=1048576 conv=notrunc status=none
	head -c 65536 /dev/urandom | dd of="$r/var/lib/sparse.img" bs=4096 seek=1280 conv=notrunc status=none
	printf 'the end' | dd of="$r/var/lib/sparse.img" bs=1 seek=$((8 * 1048576 - 7)) conv=notrunc status=none
	truncate -s 3M "$r/var/lib/hole-only"
	# Inline data (mkfs.ext4 -O inline_data keeps these in the inode).
	echo tiny >"$r/etc/tiny.conf"
	printf 'x' >"$r/etc/one-byte"
	: >"$r/etc/empty"
	# Symlinks: fast (in the inode) and slow (in a block).
	ln -s busybox "$r/usr/bin/ls"
	ln -s "/usr/share/many/$(printf 'very-long-target-name-%.0s' 1 2 3 4 5)" "$r/usr/bin/slowlink"
	ln -s /nonexistent/dangling "$r/usr/bin/dangling"
	# Devices (1:3 old encoding; 259:200000 needs the new one), FIFO,
	# socket.
	mknod -m 666 "$r/dev/null" c 1 3
	mknod -m 660 "$r/dev/sda" b 8 0
	mknod -m 600 "$r/dev/bignum" c 259 200000
	mkfifo -m 644 "$r/run/initctl"
	perl -MIO::Socket::UNIX -e 'IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => $ARGV[0], Listen => 1) or die "$!"' "$r/run/test.sock"
	# Owners and special modes.
	echo "pi's file" >"$r/home/pi/notes.txt"
	chown -R 1000:1000 "$r/home/pi"
	chown 0:42 "$r/etc/ssh/ssh_host_ed25519_key"
	cp /bin/busybox "$r/usr/bin/su"
	chmod 4755 "$r/usr/bin/su"
	mkdir "$r/var/mail"
	chmod 2775 "$r/var/mail"
	chown 0:8 "$r/var/mail"
	chmod 1777 "$r/tmp"
	# A large directory (hashed-tree index in ext4).
	(cd "$r/usr/share/many" && seq -f 'entry-%05g' 1 3000 | xargs touch)
	# mkfs.ext4 -d (1.47.0) copies whole seconds only, so every time is
	# set to a whole second here and rpi_nsec_times puts nanoseconds on
	# chosen files in both the tree and the image (with debugfs).
	find "$r" -print0 | xargs -0 touch -h -d @1700000000
	rpi_nsec_times "$r"
}

# PATH SECONDS NANOSECONDS: files, a symlink and a directory.
RPI_NSEC="usr/bin/ls 1682944496 123456789
etc/tiny.conf 1682944497 1
var/lib/sparse.img 1682944498 999999999
home/pi/notes.txt 1546398245 987654321
usr/share/many 1625735411 500000000
usr/bin/busybox 1700000001 42"

rpi_nsec_times() {
	local p s n
	while read -r p s n; do
		touch -h -d "@$s.$(printf %09d "$n")" "$1/$p"
	done <<<"$RPI_NSEC"
}

# rpi_debugfs_nsec IMG: the same nanoseconds inside the ext4 image.
rpi_debugfs_nsec() {
	local p s n cmds=""
	while read -r p s n; do
		cmds+="sif /$p mtime_extra $((n << 2))"$'\n'
		cmds+="sif /$p atime_extra $((n << 2))"$'\n'
	done <<<"$RPI_NSEC"
	# mkfs.ext4 -d gives the root directory the current time.
	cmds+="sif / mtime @1700000000"$'\n'"sif / atime @1700000000"$'\n'
	printf '%s' "$cmds" | debugfs -w -f - "$1" >/dev/null 2>&1
}

rpi_boot_tree() {
	local b=$1
	mkdir -p "$b/overlays"
	printf '# For more options see http://rpf.io/configtxt\ndtparam=audio=on\ncamera_auto_detect=1\ndisplay_auto_detect=1\nauto_initramfs=1\ndtoverlay=vc4-kms-v3d\narm_64bit=1\n[all]\n' >"$b/config.txt"
	printf 'console=serial0,115200 console=tty1 root=PARTUUID=6c586e13-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n' >"$b/cmdline.txt"
	head -c 300000 /dev/urandom >"$b/start4.elf"
	head -c 200000 /dev/urandom >"$b/start.elf"
	head -c 5000 /dev/urandom >"$b/fixup4.dat"
	head -c 52000 /dev/urandom >"$b/bootcode.bin"
	head -c 1000000 /dev/urandom >"$b/kernel8.img"
	head -c 900000 /dev/urandom >"$b/kernel_2712.img"
	for dtb in bcm2710-rpi-3-b bcm2711-rpi-4-b bcm2711-rpi-400 bcm2712-rpi-5-b; do
		head -c 50000 /dev/urandom >"$b/$dtb.dtb"
	done
	head -c 3000 /dev/urandom >"$b/overlays/vc4-kms-v3d.dtbo"
	head -c 2000 /dev/urandom >"$b/overlays/A long file name with spaces.dtbo"
	echo "overlays" >"$b/overlays/README"
	: >"$b/issue.txt"
}

# rpi_build DIR [EXT4_OPTS]
# The boot partition is RPI_BOOT_MB MiB (default 40: the root then starts
# at sector 90112, which tests that damage the image rely on).
rpi_build() {
	local d=$1 extra=${2:-} boot_mb=${RPI_BOOT_MB:-40}
	rm -rf "$d/src-boot" "$d/src-root"
	mkdir -p "$d/src-boot" "$d/src-root"
	rpi_boot_tree "$d/src-boot"
	rpi_root_tree "$d/src-root"
	# A test may define rpi_extra_root or rpi_extra_boot to add files
	# before mkfs.
	if declare -F rpi_extra_root >/dev/null; then
		rpi_extra_root "$d/src-root"
	fi
	if declare -F rpi_extra_boot >/dev/null; then
		rpi_extra_boot "$d/src-boot"
	fi
	rm -f "$d/boot.img" "$d/root.img" "$d/disk.img"
	# FAT32 needs at least 65525 clusters: 40 MiB of 512-byte clusters.
	mkfs.vfat -C -F 32 -s 1 -n bootfs "$d/boot.img" $((boot_mb * 1024)) >/dev/null 2>&1
	TZ=UTC MTOOLS_SKIP_CHECK=1 mcopy -s -m -i "$d/boot.img" "$d/src-boot"/* ::/
	mkfs.ext4 -q -F -L rootfs -b 4096 -I 256 -O inline_data,metadata_csum,64bit $extra \
		-d "$d/src-root" "$d/root.img" 64M
	rpi_debugfs_nsec "$d/root.img"
	truncate -s $((4 + boot_mb + 64))M "$d/disk.img"
	printf 'label: dos\nlabel-id: 0x6c586e13\nstart=8192, size=%d, type=c\nstart=%d, size=131072, type=83\n' \
		$((boot_mb * 2048)) $((8192 + boot_mb * 2048)) | sfdisk -q "$d/disk.img"
	dd if="$d/boot.img" of="$d/disk.img" bs=1M seek=4 conv=notrunc,sparse status=none
	dd if="$d/root.img" of="$d/disk.img" bs=1M seek=$((4 + boot_mb)) conv=notrunc,sparse status=none
	rm -f "$d/boot.img" "$d/root.img"
}

# rpi_build_checked DIR [EXT4_OPTS]: rpi_build, or print its log, fail
# the test and end the script (tests/lib/netns.sh must be sourced).
rpi_build_checked() {
	if ! rpi_build "$@" >"$1/build.log" 2>&1; then
		cat "$1/build.log"
		t_fail "build test image"
		t_done
		exit
	fi
}

# rpi_build_large DIR: a disk of Raspberry Pi OS Lite's size for
# benchmarks: 2.5 GiB (256 MiB FAT32 bootfs, the rest ext4 rootfs) whose
# root holds the test tree above plus real files of a Debian system for
# bulk (the host's /usr/share, /usr/lib/gcc and /usr/lib/llvm-14: about
# 70,000 files and 1.6 GiB; Raspberry Pi OS Lite has about 60,000 files
# in 1.5 GiB).  Makes DIR/disk.img and prints the file count and size.
rpi_build_large() {
	local d=$1
	rm -rf "$d/src-boot" "$d/src-root"
	mkdir -p "$d/src-boot" "$d/src-root"
	rpi_boot_tree "$d/src-boot"
	rpi_root_tree "$d/src-root"
	mkdir -p "$d/src-root/usr/lib/host"
	cp -a /usr/share "$d/src-root/usr/lib/host/share"
	cp -a /usr/lib/gcc /usr/lib/llvm-14 "$d/src-root/usr/lib/host/"
	echo "root: $(find "$d/src-root" | wc -l) files, $(du -sm "$d/src-root" | cut -f1) MiB"
	rm -f "$d/boot.img" "$d/root.img" "$d/disk.img"
	mkfs.vfat -C -F 32 -n bootfs "$d/boot.img" $((256 * 1024)) >/dev/null 2>&1
	TZ=UTC MTOOLS_SKIP_CHECK=1 mcopy -s -m -i "$d/boot.img" "$d/src-boot"/* ::/
	mkfs.ext4 -q -F -L rootfs -O metadata_csum,64bit -d "$d/src-root" \
		"$d/root.img" 2300M
	truncate -s 2560M "$d/disk.img"
	printf 'label: dos\nlabel-id: 0x6c586e13\nstart=8192, size=524288, type=c\nstart=532480, type=83\n' |
		sfdisk -q "$d/disk.img"
	dd if="$d/boot.img" of="$d/disk.img" bs=1M seek=4 conv=notrunc,sparse status=none
	dd if="$d/root.img" of="$d/disk.img" bs=1M seek=260 conv=notrunc,sparse status=none
	rm -f "$d/boot.img" "$d/root.img"
	rm -rf "$d/src-boot" "$d/src-root"
}
