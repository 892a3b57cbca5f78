#!/usr/bin/env bash
# Import a Raspberry Pi OS-shaped image (.img.xz with several blocks, .zst
# and raw), add two clients, and compare every tree with its source byte
# for byte and attribute for attribute; check every NFS-root edit, the
# records, list/show/remove, and that an interrupted import leaves
# nothing behind.  No loop mounts, no network.
set -u
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/rpi_image.sh"
nn_init img
W=$NN_TMP
S=$W/state
CMP=$PNB_TOOLS/treecmp
P=$PNB_BIN

rpi_build_checked "$W"
t_pass "build Raspberry Pi OS-shaped image (sfdisk, mkfs.vfat, mtools, mkfs.ext4 -d)"
xz -T2 --block-size=16MiB -1 -k "$W/disk.img"
blocks=$(xz --robot -l "$W/disk.img.xz" | awk '$1 == "file" { print $3 }')
t_check "xz file has several blocks ($blocks)" [ "${blocks:-0}" -gt 1 ]

out=$("$P" image import "$W/disk.img.xz" --name bookworm --state-dir "$S" 2>"$W/err")
rc=$?
t_check "import .img.xz exits 0" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || cat "$W/err"
echo "$out"
t_check "summary names the OS" grep -q 'OS: *Debian GNU/Linux 12 (bookworm)' <<<"$out"
t_check "summary lists kernels" grep -q 'kernels: *.*kernel8.img' <<<"$out"
t_check "summary lists models" grep -q 'models: *Pi 3/Zero 2, Pi 4/400/CM4, Pi 5/500/CM5' <<<"$out"
t_check "progress printed as plain lines off a terminal" grep -q '^decompress: ' "$W/err"

I=$S/images/bookworm/v/1
"$CMP" -x lost+found "$W/src-root" "$I/root" >"$W/cmp" 2>&1
t_check "root tree matches the source exactly ($(tail -1 "$W/cmp"))" grep -qx '0 differences' "$W/cmp"
grep DIFF "$W/cmp" | head -20
"$CMP" -F "$W/src-boot" "$I/boot" >"$W/cmp" 2>&1
t_check "boot tree matches the source ($(tail -1 "$W/cmp"))" grep -qx '0 differences' "$W/cmp"
grep DIFF "$W/cmp" | head -20
# The same facts checked with the standard tools, one by one.
t_check "security.capability survives" sh -c "getcap '$I/root/usr/bin/ping' | grep -q cap_net_raw"
t_check "user xattr survives" sh -c "getfattr -n user.pinetboot.note --only-values '$I/root/etc/hostname' | grep -qx kept"
t_check "hard links kept" [ "$(stat -c %i "$I/root/usr/bin/busybox")" = "$(stat -c %i "$I/root/usr/sbin/ifconfig")" ]
t_check "link count 3" [ "$(stat -c %h "$I/root/usr/bin/sh")" = 3 ]
t_check "holes stay holes" [ "$(stat -c %b "$I/root/var/lib/sparse.img")" -lt 1000 ]
t_check "all-hole file has no blocks" [ "$(stat -c %b "$I/root/var/lib/hole-only")" = 0 ]
t_check "socket" [ -S "$I/root/run/test.sock" ]
t_check "fifo" [ -p "$I/root/run/initctl" ]
t_check "char device 1:3" [ "$(stat -c %t:%T "$I/root/dev/null")" = 1:3 ]
t_check "char device 259:200000" [ "$(stat -c %Hr:%Lr "$I/root/dev/bignum")" = 259:200000 ]
t_check "block device" [ -b "$I/root/dev/sda" ]
t_check "setuid kept" [ "$(stat -c %a "$I/root/usr/bin/su")" = 4755 ]
t_check "owner 1000 kept" [ "$(stat -c %u:%g "$I/root/home/pi/notes.txt")" = 1000:1000 ]
t_check "nanoseconds kept" [ "$(stat -c %y "$I/root/home/pi/notes.txt")" = "$(stat -c %y "$W/src-root/home/pi/notes.txt")" ]
t_check "slow symlink target" [ "$(readlink "$I/root/usr/bin/slowlink")" = "$(readlink "$W/src-root/usr/bin/slowlink")" ]
t_check "3000-entry directory" [ "$(ls "$I/root/usr/share/many" | wc -l)" = 3000 ]
t_check "version.conf records the boot mount" grep -qx 'boot_mount = /boot/firmware' "$I/version.conf"
t_check "version.conf records the processor" grep -qx 'arch = amd64' "$I/version.conf"

# Two clients; the second costs no more than the first.
echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2eTestKeyForPinetboot test@host" >"$W/key.pub"
HASH='$6$abcdefgh$0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnop'
t0=$(date +%s%N)
"$P" client add pi1 --root copy --serial 9FFEFDEF --mac DC:A6:32:01:36:C2 --image bookworm \
	--ssh --ssh-key "$W/key.pub" --user "pi:$HASH" --server 198.18.0.1 \
	--address 198.18.0.50 --state-dir "$S" >"$W/out1" 2>&1
rc=$?
t1=$(date +%s%N)
t_check "client add pi1 --root copy exits 0" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || cat "$W/out1"
"$P" client add pi2 --root copy --serial 1234abcd --image bookworm --hostname pi-two \
	--server 198.18.0.1 --state-dir "$S" >"$W/out2" 2>&1
rc=$?
t2=$(date +%s%N)
t_check "client add pi2 --root copy exits 0" [ "$rc" -eq 0 ]
echo "client add: first $(((t1 - t0) / 1000000)) ms, second $(((t2 - t1) / 1000000)) ms"

C=$S/clients/pi1
# Everything but the edits must be identical, atimes included.
"$CMP" -a -D \
	-x etc/ssh/ssh_host_ed25519_key -x etc/ssh/ssh_host_ed25519_key.pub \
	-x etc/NetworkManager/conf.d -x etc/resolv.conf \
	-x etc/systemd/system/multi-user.target.wants/resize2fs_once.service \
	-x etc/systemd/system/multi-user.target.wants/dphys-swapfile.service \
	-x etc/systemd/system/multi-user.target.wants/ssh.service \
	-x etc/systemd/system/resize2fs_once.service \
	-x etc/systemd/system/dphys-swapfile.service \
	-x etc/systemd/system/rpi-resize.service \
	-x etc/systemd/system/rpi-resize-swap-file.service \
	-x etc/hosts -x etc/hostname -x etc/machine-id -x etc/fstab \
	-x root/.ssh -x home/pi/.ssh \
	"$I/root" "$C/root" >"$W/cmp" 2>&1
t_check "client root equals the image apart from the edits ($(tail -1 "$W/cmp"))" grep -qx '0 differences' "$W/cmp"
grep DIFF "$W/cmp" | head -20
"$CMP" -a -D -x cmdline.txt -x ssh -x userconf.txt "$I/boot" "$C/boot" >"$W/cmp" 2>&1
t_check "client boot equals the image apart from the edits" grep -qx '0 differences' "$W/cmp"

want="console=serial0,115200 console=tty1 quiet root=/dev/nfs nfsroot=198.18.0.1:$C/root,vers=3,tcp rw ip=dhcp rootwait"
t_check "cmdline.txt rewritten for NFS" [ "$(cat "$C/boot/cmdline.txt")" = "$want" ]
t_check "cmdline.txt is one line" [ "$(wc -l <"$C/boot/cmdline.txt")" = 1 ]
t_check "no PARTUUID left in fstab" sh -c "! grep -q PARTUUID '$C/root/etc/fstab'"
t_check "proc kept in fstab" grep -q '^proc ' "$C/root/etc/fstab"
t_check "boot mounted over NFS" grep -qx "198.18.0.1:$C/boot /boot/firmware nfs defaults,vers=3,proto=tcp,nolock 0 0" "$C/root/etc/fstab"
t_check "hostname" [ "$(cat "$C/root/etc/hostname")" = pi1 ]
t_check "hostname keeps its xattr" sh -c "getfattr -n user.pinetboot.note --only-values '$C/root/etc/hostname' | grep -qx kept"
t_check "hosts 127.0.1.1" grep -qx "$(printf '127.0.1.1\tpi1')" "$C/root/etc/hosts"
t_check "hosts keeps localhost" grep -q localhost "$C/root/etc/hosts"
t_check "second client's hostname" [ "$(cat "$S/clients/pi2/root/etc/hostname")" = pi-two ]
m1=$(cat "$C/root/etc/machine-id")
m2=$(cat "$S/clients/pi2/root/etc/machine-id")
t_check "fresh machine-id" grep -qxE '[0-9a-f]{32}' <<<"$m1"
t_check "machine-ids differ" [ "$m1" != "$m2" ] && [ "$m1" != 0123456789abcdef0123456789abcdef ]
t_check "SSH host keys removed" sh -c "! ls '$C/root/etc/ssh/' | grep -q ssh_host_"
t_check "sshd_config kept" [ -f "$C/root/etc/ssh/sshd_config" ]
t_check "resize masked" [ "$(readlink "$C/root/etc/systemd/system/resize2fs_once.service")" = /dev/null ]
t_check "swap masked" [ "$(readlink "$C/root/etc/systemd/system/dphys-swapfile.service")" = /dev/null ]
t_check "resize not wanted" [ ! -e "$C/root/etc/systemd/system/multi-user.target.wants/resize2fs_once.service" ] && [ ! -L "$C/root/etc/systemd/system/multi-user.target.wants/resize2fs_once.service" ]
t_check "ssh enabled" [ "$(readlink "$C/root/etc/systemd/system/multi-user.target.wants/ssh.service")" = /lib/systemd/system/ssh.service ]
t_check "boot/ssh present" [ -f "$C/boot/ssh" ]
t_check "no boot/ssh without --ssh" [ ! -e "$S/clients/pi2/boot/ssh" ]
t_check "userconf.txt" [ "$(cat "$C/boot/userconf.txt")" = "pi:$HASH" ]
t_check "NetworkManager leaves eth0 alone" grep -qx 'unmanaged-devices=interface-name:eth0' "$C/root/etc/NetworkManager/conf.d/90-pinetboot-nfsroot.conf"
t_check "resolv.conf from the kernel's DHCP" [ "$(readlink "$C/root/etc/resolv.conf")" = /proc/net/pnp ]
t_check "root's authorized_keys" cmp -s "$W/key.pub" "$C/root/root/.ssh/authorized_keys"
t_check "pi's authorized_keys owned by pi" [ "$(stat -c %u:%a "$C/root/home/pi/.ssh/authorized_keys")" = 1000:600 ]
t_check "image untouched by client edits" [ "$(cat "$I/root/etc/hostname")" = raspberrypi ]
t_check "client.conf serial" grep -qx 'serial = 9ffefdef' "$C/client.conf"
t_check "client.conf mac" grep -qx 'mac = dc:a6:32:01:36:c2' "$C/client.conf"
t_check "client.conf address" grep -qx 'address = 198.18.0.50' "$C/client.conf"
t_check "client.conf image" grep -qx 'image = bookworm' "$C/client.conf"
t_check "client.conf version" grep -qx 'version = 1' "$C/client.conf"
t_check "client.conf options" grep -qx 'options = ssh,userconf' "$C/client.conf"

"$P" client list --state-dir "$S" >"$W/list"
t_check "client list shows pi1" grep -q '^pi1 .*9ffefdef .*dc:a6:32:01:36:c2 .*198.18.0.50 .*bookworm' "$W/list"
t_check "client list shows pi2" grep -q '^pi2 .*1234abcd' "$W/list"
t_check "client show" sh -c "'$P' client show pi1 --state-dir '$S' | grep -q '^cmdline .*nfsroot='"
t_check "image list" sh -c "'$P' image list --state-dir '$S' | grep -q '^bookworm .*Debian GNU/Linux 12'"
"$P" client add pi3 --root copy --serial 9ffefdef --image bookworm --state-dir "$S" >"$W/out3" 2>&1
rc=$?
t_check "duplicate serial refused" [ "$rc" -ne 0 ] && grep -q "client 'pi1' already has this serial" "$W/out3"
t_check "refused add leaves nothing" [ "$(ls -A "$S/clients" | sort | tr '\n' ' ')" = "pi1 pi2 " ]
"$P" image remove bookworm --state-dir "$S" >"$W/out4" 2>&1
rc=$?
t_check "image remove refused while used" [ "$rc" -ne 0 ] && grep -q 'used by client(s) pi1, pi2\|used by client(s) pi2, pi1' "$W/out4"
t_check "client remove --yes" "$P" client remove pi2 --yes --state-dir "$S"
t_check "client remove without --yes off a terminal refuses" sh -c "! '$P' client remove pi1 --state-dir '$S' </dev/null >/dev/null 2>&1"
t_check "pi1 still there" [ -d "$C/root" ]
"$P" client remove pi1 -y --state-dir "$S" >/dev/null

# zstd and raw images give the same trees.
zstd -q -T0 -k "$W/disk.img" -o "$W/disk.img.zst"
t_check "import .img.zst" "$P" image import "$W/disk.img.zst" --state-dir "$S"
"$CMP" -x lost+found "$W/src-root" "$S/images/disk/v/1/root" >"$W/cmp" 2>&1
t_check "zst root tree matches (name from file)" grep -qx '0 differences' "$W/cmp"
t_check "import raw .img" "$P" image import "$W/disk.img" --name raw --state-dir "$S"
"$CMP" -x lost+found "$W/src-root" "$S/images/raw/v/1/root" >"$W/cmp" 2>&1
t_check "raw root tree matches" grep -qx '0 differences' "$W/cmp"
t_check "import under an existing name makes its next version" sh -c "'$P' image import '$W/disk.img' --name raw --state-dir '$S' | grep -q 'as version 2 of image .raw.'"
t_check "image remove" "$P" image remove raw --state-dir "$S"
t_check "image remove bookworm once unused" "$P" image remove bookworm --state-dir "$S"

# Interrupted: SIGINT during the import, then a rerun succeeds.
xz -T1 -6 -c "$W/disk.img" >"$W/slow.img.xz"
"$P" image import "$W/slow.img.xz" --name slow --state-dir "$S" >/dev/null 2>"$W/err" &
pid=$!
sleep 0.3
kill -INT "$pid" 2>/dev/null
wait "$pid"
rc=$?
if [ "$rc" -eq 130 ]; then
	t_check "interrupted import says so" grep -q 'interrupted; nothing was left behind' "$W/err"
else
	echo "import finished before the signal (rc $rc)"
fi
t_check "interrupted import leaves no temporary" sh -c "! ls -A '$S/images' | grep -q '^\.tmp'"
"$P" image remove slow --state-dir "$S" >/dev/null 2>&1
t_check "rerun after interrupt succeeds" "$P" image import "$W/slow.img.xz" --name slow --state-dir "$S"
t_done
