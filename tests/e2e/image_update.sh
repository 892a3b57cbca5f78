#!/usr/bin/env bash
# image update and image shell: a command runs inside an image version
# (native x86-64 test image with a plain chroot; an arm64 image through
# binfmt_misc and Debian's qemu-user-static) and what it changed becomes
# the next version, a delta in overlayfs format.  Checks the delta's
# whiteouts and markers, the boot tree landing in the boot delta, /proc,
# /dev and resolv.conf inside, the disk cost of a 10 MiB change, a failing
# command, an empty change, --from, flattening past 8 layers, kill -9
# during an update (no version, no mount left on the host, the .tmp gone
# at the next command) and the host's binfmt state before and after.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/netns.sh"
source "$HERE/../lib/rpi_image.sh"
source "$HERE/../lib/guest.sh"
nn_init imgupd
W=$NN_TMP
S=$W/state
P=$PNB_BIN
export PNB_GUEST_CACHE=${PNB_GUEST_CACHE:-$NN_ROOT/build/guest-cache}

# The host's binfmt_misc entries and status, and its binfmt mounts, seen
# from a private mount namespace so that looking changes nothing.
binfmt_state() {
	unshare -m sh -c '
		d=/proc/sys/fs/binfmt_misc
		mountpoint -q $d || mount -t binfmt_misc binfmt_misc $d || exit 1
		for f in $d/*; do echo "$f: $(cat "$f" 2>/dev/null | tr "\n" " ")"; done'
	findmnt -rn -t binfmt_misc -o TARGET
}
host_mounts() { findmnt -rn -o TARGET | grep -F "$W" || true; }

rpi_build_checked "$W"
"$P" image import "$W/disk.img" --name os --state-dir "$S" >/dev/null 2>&1
t_check "import version 1" test -d "$S/images/os/v/1/root"
I=$S/images/os

# 1. The command of the brief, plus the boot tree and the binds.
"$P" image update os --state-dir "$S" -- sh -c '
	echo x > /etc/new; rm /etc/hostname; mkdir /opt/d
	echo "# from update" >> /boot/firmware/config.txt
	test -r /proc/self/status && echo proc > /opt/d/proc
	test -c /dev/null && echo dev > /opt/d/dev
	cat /etc/resolv.conf > /opt/d/resolv' >"$W/out" 2>"$W/err"
rc=$?
t_check "update exits 0" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || cat "$W/err"
cat "$W/out"
t_check "update says it made version 2" grep -q "Made version 2 of 'os' from version 1: a delta" "$W/out"
D=$I/v/2/root
t_check "version.conf: delta over 1" sh -c "grep -qx 'kind = delta' '$I/v/2/version.conf' && grep -qx 'parent = 1' '$I/v/2/version.conf'"
t_check "version.conf records the command" grep -q "^command = sh -c '" "$I/v/2/version.conf"
t_check "new file in the delta" [ "$(cat "$D/etc/new")" = x ]
t_check "removed file is a 0/0 whiteout" [ "$(stat -c %F:%t:%T "$D/etc/hostname")" = "character special file:0:0" ]
t_check "new directory in the delta" [ -d "$D/opt/d" ]
t_check "untouched files are not in the delta" [ ! -e "$D/usr/bin/busybox" ] && [ ! -e "$D/etc/fstab" ]
t_check "boot change landed in the boot delta" grep -qx '# from update' "$I/v/2/boot/config.txt"
t_check "version 1 is unchanged" sh -c "[ -f '$I/v/1/root/etc/hostname' ] && [ ! -e '$I/v/1/root/etc/new' ] && ! grep -q 'from update' '$I/v/1/boot/config.txt'"
t_check "/proc mounted inside" [ "$(cat "$D/opt/d/proc")" = proc ]
t_check "/dev bound inside" [ "$(cat "$D/opt/d/dev")" = dev ]
if [ -f /etc/resolv.conf ]; then
	t_check "the host's resolv.conf bound inside" cmp -s /etc/resolv.conf "$D/opt/d/resolv"
fi
t_check "the image's resolv.conf is not in the delta" [ ! -e "$D/etc/resolv.conf" ]
markers=$(getfattr -R -h -d -m '^(user|trusted)\.overlay\.' "$I/v/2" 2>/dev/null |
	grep -v '^# file' | grep -v '^$' | grep -v 'user.overlay.opaque' || true)
t_check "no overlayfs bookkeeping xattrs left in the delta" [ -z "$markers" ]
[ -z "$markers" ] || echo "$markers"
t_check "no .tmp left" sh -c "! ls -A '$I' | grep -q '^\.tmp'"
t_check "no mount left on the host" [ -z "$(host_mounts)" ]

# 2. A client made now sees the merged tree.
"$P" client add c2 --root copy --serial 22222222 --image os --server 198.18.0.1 \
	--state-dir "$S" >/dev/null 2>&1
C=$S/clients/c2/root
t_check "client add from --root copy a delta" [ -f "$C/etc/new" ] && [ -d "$C/opt/d" ]
t_check "client records version 2" grep -qx 'version = 2' "$S/clients/c2/client.conf"
t_check "client boot tree has the boot delta" grep -qx '# from update' "$S/clients/c2/boot/config.txt"
t_check "no flattened view left behind" sh -c "! ls -A '$I' | grep -q '^\.tmp'"

# 3. A 10 MiB change costs about 10 MiB.
sync
before=$(df -k --output=used "$S" | tail -1)
"$P" image update os --state-dir "$S" -- \
	sh -c 'dd if=/dev/urandom of=/opt/blob bs=1M count=10 2>/dev/null' >"$W/out" 2>&1
sync
after=$(df -k --output=used "$S" | tail -1)
du_kib=$(du -sk "$I/v/3" | cut -f1)
echo "INFO: 10 MiB change: du of v/3 ${du_kib} KiB, file system use +$((after - before)) KiB (statfs, df)"
t_check "a 10 MiB change costs 10 to 11 MiB (du ${du_kib} KiB)" [ "$du_kib" -ge 10240 ] && [ "$du_kib" -le 11264 ]
"$P" image versions os --state-dir "$S" >"$W/versions"
cat "$W/versions"
t_check "versions: v3 size about 10 MiB" grep -qE '^3 +delta +2 .* 10\.[0-9] MiB' "$W/versions"
t_check "versions: v2 used by c2" grep -qE '^2 +delta +1 .* c2 +update: ' "$W/versions"
t_check "versions: v1 is a base, an import" grep -qE '^1 +base +- .* import of ' "$W/versions"

# 4. A failing command makes no version and passes its status on.
"$P" image update os --state-dir "$S" -- sh -c 'echo y > /etc/y; exit 3' >"$W/out" 2>"$W/err"
rc=$?
t_check "failing command: exit status 3 passed on" [ "$rc" -eq 3 ]
t_check "failing command: says no version was made" grep -q 'exited with status 3; no version made' "$W/err"
t_check "failing command: no version 4" [ ! -e "$I/v/4" ]
t_check "failing command: no .tmp left" sh -c "! ls -A '$I' | grep -q '^\.tmp'"

# 5. An empty change makes no version.
"$P" image update os --state-dir "$S" -- sh -c 'cat /etc/fstab >/dev/null' >"$W/out" 2>&1
rc=$?
t_check "empty change: exit 0, no version" [ "$rc" -eq 0 ] && [ ! -e "$I/v/4" ]
t_check "empty change: says so" grep -q 'changed nothing' "$W/out"

# 6. --from an older version; the shell, fed from stdin.
"$P" image update os --from 1 --state-dir "$S" -- \
	sh -c 'test ! -e /etc/new && echo one > /etc/from1' >/dev/null 2>&1
t_check "--from 1 makes version 4 over version 1" grep -qx 'parent = 1' "$I/v/4/version.conf"
printf 'echo s > /etc/fromshell\nexit 0\n' |
	SHELL=/bin/sh "$P" image shell os --state-dir "$S" >/dev/null 2>&1
t_check "image shell makes version 5" [ "$(cat "$I/v/5/root/etc/fromshell" 2>/dev/null)" = s ]
t_check "image shell records itself" grep -qx 'command = shell' "$I/v/5/version.conf"
printf 'echo t > /etc/thrown\nexit 1\n' |
	SHELL=/bin/sh "$P" image shell os --state-dir "$S" >/dev/null 2>&1
t_check "shell left with exit 1: no version" [ ! -e "$I/v/6" ]

# 7. Past 8 layers the new version is a base of hard links.
for i in 1 2 3 4 5 6 7 8; do
	"$P" image update os --state-dir "$S" -- \
		sh -c "echo $i > /etc/step$i; rm -f /etc/step$((i - 1))" >"$W/out" 2>&1 || cat "$W/out"
done
# v5 has 3 layers (5, 4, 1): v6..v10 are deltas up to 8, v11 is flattened.
t_check "version 10 is a delta of 8 layers" grep -qx 'kind = delta' "$I/v/10/version.conf"
t_check "version 11 is a flattened base" sh -c "grep -qx 'kind = base' '$I/v/11/version.conf' && grep -qx 'flattened = yes' '$I/v/11/version.conf'"
F=$I/v/11/root
t_check "flattened: merged content" sh -c "[ \"\$(cat '$F/etc/step6')\" = 6 ] && [ ! -e '$F/etc/step5' ] && [ \"\$(cat '$F/etc/fromshell')\" = s ]"
t_check "flattened: whiteouts consumed" [ -z "$(find "$I/v/11" -type c -exec stat -c '%t:%T %n' {} + | grep '^0:0 ')" ]
t_check "flattened: files are hard links to the chain's" [ "$(stat -c %i "$F/usr/bin/busybox")" = "$(stat -c %i "$I/v/1/root/usr/bin/busybox")" ]
t_check "flattened: no overlay attributes" [ -z "$(getfattr -R -h -d -m '^(user|trusted)\.overlay\.' "$I/v/11" 2>/dev/null | grep -v '^# file' | grep -v '^$')" ]
t_check "after the flatten, deltas again" grep -qx 'kind = delta' "$I/v/12/version.conf"
"$P" image versions os --state-dir "$S" >"$W/versions"
t_check "versions: v11 shown as a base made by flattening" grep -qE '^11 +base +10 .*flattened' "$W/versions"
all_kib=$(du -sk "$I/v" | cut -f1)
echo "INFO: flattened base: own disk use per 'image versions': $(grep -E '^11 ' "$W/versions" | awk '{print $6, $7}'); whole image ${all_kib} KiB"

# 8. kill -9 during an update.
"$P" image update os --state-dir "$S" -- sh -c 'echo k > /etc/killed; exec sleep 7777' >/dev/null 2>&1 &
pid=$!
for _ in $(seq 50); do
	ps -eo args | grep -q '^sleep 7777' && break
	sleep 0.1
done
t_check "kill -9: the command was running" sh -c "ps -eo args | grep -q '^sleep 7777'"
t_check "kill -9: the overlay is not visible on the host while it runs" [ -z "$(host_mounts)" ]
kill -9 "$pid"
wait "$pid" 2>/dev/null
for _ in $(seq 50); do
	ps -eo args | grep -q '^sleep 7777' || break
	sleep 0.1
done
t_check "kill -9: no version 14" [ ! -e "$I/v/14" ]
t_check "kill -9: the command died with it" sh -c "! ps -eo args | grep -q '^sleep 7777'"
t_check "kill -9: no mount left on the host" [ -z "$(host_mounts)" ]
t_check "kill -9: the .tmp is still there" sh -c "ls -A '$I' | grep -q '^\.tmp-u-'"
"$P" image versions os --state-dir "$S" >/dev/null 2>&1
t_check "kill -9: the next command removes the .tmp" sh -c "! ls -A '$I' | grep -q '^\.tmp'"

# 9. arm64 through binfmt_misc and qemu-user-static.
if [ ! -e /usr/lib/binfmt.d/qemu-aarch64.conf ]; then
	t_fail "arm64" "qemu-user-static is not installed (scripts/packages.d/image.txt)"
	t_done
	exit
fi
A=$W/a64
mkdir -p "$A/boot" "$A/root"
if ! guest_rootfs arm64 "$A/root" >"$W/a64.log" 2>&1; then
	cat "$W/a64.log"
	t_fail "arm64 busybox root"
	t_done
	exit
fi
mkdir -p "$A/root/boot/firmware"
printf 'proc /proc proc defaults 0 0\nPARTUUID=a64a64a6-01 /boot/firmware vfat defaults 0 2\n' >"$A/root/etc/fstab"
printf 'console=tty1 root=PARTUUID=a64a64a6-02\n' >"$A/boot/cmdline.txt"
printf 'arm_64bit=1\n' >"$A/boot/config.txt"
mkfs.vfat -C -F 32 -n BOOTFS "$A/boot.img" 65536 >/dev/null &&
	MTOOLS_SKIP_CHECK=1 mcopy -s -m -i "$A/boot.img" "$A/boot"/* ::/ &&
	mkfs.ext4 -q -F -d "$A/root" "$A/root.img" 48M &&
	truncate -s 120M "$A/disk.img" &&
	printf 'label: dos\nstart=8192, size=131072, type=c\nstart=139264, size=98304, type=83\n' |
	sfdisk -q "$A/disk.img" &&
	dd if="$A/boot.img" of="$A/disk.img" bs=512 seek=8192 conv=notrunc status=none &&
	dd if="$A/root.img" of="$A/disk.img" bs=512 seek=139264 conv=notrunc status=none
"$P" image import "$A/disk.img" --name a64 --state-dir "$S" >"$W/out" 2>&1
t_check "arm64 image imported, processor recorded" grep -q 'processor: *arm64' "$W/out"
binfmt_state >"$W/binfmt.before"
"$P" image update a64 --state-dir "$S" -- sh -c 'uname -m > /root/arch' >"$W/out" 2>"$W/err"
rc=$?
cat "$W/err"
t_check "arm64 update exits 0" [ "$rc" -eq 0 ]
t_check "the command ran as aarch64" [ "$(cat "$S/images/a64/v/2/root/root/arch" 2>/dev/null)" = aarch64 ]
binfmt_state >"$W/binfmt.after"
t_check "the host's binfmt state after equals before" cmp -s "$W/binfmt.before" "$W/binfmt.after"
cmp -s "$W/binfmt.before" "$W/binfmt.after" || diff "$W/binfmt.before" "$W/binfmt.after"
"$P" image update a64 --state-dir "$S" -- sh -c 'exec sleep 7778' >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do
	ls -A "$S/images/a64" | grep -q '^\.tmp-u-' && break
	sleep 0.1
done
sleep 2
kill -9 "$pid"
wait "$pid" 2>/dev/null
for _ in $(seq 50); do
	binfmt_state >"$W/binfmt.after"
	cmp -s "$W/binfmt.before" "$W/binfmt.after" && break
	sleep 0.1
done
t_check "kill -9 of an arm64 update: binfmt state restored" cmp -s "$W/binfmt.before" "$W/binfmt.after"
t_check "kill -9 of an arm64 update: no mount left" [ -z "$(host_mounts)" ]
t_done
