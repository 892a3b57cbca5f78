#!/usr/bin/env bash
# bench/image.sh [WORKDIR]: provisioning speed.
#   1. `pinetboot image import` of a 2 GiB Raspberry Pi OS-shaped .img.xz
#      (xz -T0, so several blocks) against `xz -dc FILE > /dev/null` alone
#      (and `xz -T0 -dc`), alternating, RUNS times each; medians and ratio.
#   2. First and second `client add`: time and new disk use, on the work
#      directory's file system and on a reflink-capable XFS in a loop-mounted
#      image file (when loop devices work here).
#   3. The seed method, `xz -dc > disk.img; losetup -P; mount; cp -a`,
#      against `image import` of the same file.
# Needs root (device nodes, owners, loop mounts), xfsprogs for step 2's XFS.
# The 2 GiB image is built once (sfdisk, mkfs.vfat, mkfs.ext4 -d from the
# host's /usr) and kept in WORKDIR.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-/tmp/pnb-bench-image}
P=${PNB_BIN:-$ROOT/build/pinetboot}
RUNS=${RUNS:-3}
source "$ROOT/tests/lib/rpi_image.sh"
mkdir -p "$W"
MNT=$W/mnt
cleanup() {
	mountpoint -q "$MNT/p1" 2>/dev/null && umount "$MNT/p1"
	mountpoint -q "$MNT/p2" 2>/dev/null && umount "$MNT/p2"
	mountpoint -q "$W/xfs" 2>/dev/null && umount "$W/xfs"
	[ -n "${LOOPDEV:-}" ] && losetup -d "$LOOPDEV" 2>/dev/null
	true
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
used_kib() { sync; df -k --output=used "$1" | tail -1; }

if [ ! -f "$W/disk.img.xz" ]; then
	echo "building the 2 GiB image (once)..." >&2
	rm -rf "$W/src-boot" "$W/src-root"
	mkdir -p "$W/src-boot" "$W/src-root"
	rpi_boot_tree "$W/src-boot"
	rpi_root_tree "$W/src-root"
	# Real files for bulk: the host's libraries and shared data.
	mkdir -p "$W/src-root/usr/lib/host"
	cp -a /usr/lib/x86_64-linux-gnu "$W/src-root/usr/lib/host/"
	cp -a /usr/bin "$W/src-root/usr/lib/host/bin"
	du -sh "$W/src-root" >&2
	rm -f "$W/boot.img" "$W/root.img" "$W/disk.img"
	mkfs.vfat -C -F 32 -n bootfs "$W/boot.img" $((256 * 1024)) >/dev/null 2>&1
	TZ=UTC MTOOLS_SKIP_CHECK=1 mcopy -s -m -i "$W/boot.img" "$W/src-boot"/* ::/
	mkfs.ext4 -q -F -L rootfs -O metadata_csum,64bit -d "$W/src-root" \
		"$W/root.img" 1788M
	truncate -s 2048M "$W/disk.img"
	printf 'label: dos\nlabel-id: 0x6c586e13\nstart=8192, size=524288, type=c\nstart=532480, type=83\n' |
		sfdisk -q "$W/disk.img"
	dd if="$W/boot.img" of="$W/disk.img" bs=1M seek=4 conv=notrunc,sparse status=none
	dd if="$W/root.img" of="$W/disk.img" bs=1M seek=260 conv=notrunc,sparse status=none
	rm -f "$W/boot.img" "$W/root.img"
	rm -rf "$W/src-boot" "$W/src-root"
	# -3 keeps building affordable on two cores; decoding speed hardly
	# depends on the level.
	xz -T0 -3 -k "$W/disk.img"
fi
XZ=$W/disk.img.xz
echo "image: $(du -h --apparent-size "$W/disk.img" | cut -f1) raw, $(du -h "$XZ" | cut -f1) xz, $(xz --robot -l "$XZ" | awk '$1=="file"{print $3}') blocks" >&2

# 1. import vs decompression alone, alternating.  ONLY_SEED=1 skips to 3.
S=$W/state
if [ "${ONLY_SEED:-0}" != 1 ]; then
rm -rf "$S"
: >"$W/t.xz1"
: >"$W/t.xzT"
: >"$W/t.imp"
for i in $(seq "$RUNS"); do
	t=$(now); xz -dc "$XZ" >/dev/null; since "$t" >>"$W/t.xz1"
	t=$(now); xz -T0 -dc "$XZ" >/dev/null; since "$t" >>"$W/t.xzT"
	t=$(now)
	"$P" image import "$XZ" --name run$i --state-dir "$S" >/dev/null 2>"$W/import.err" ||
		{ cat "$W/import.err" >&2; exit 1; }
	since "$t" >>"$W/t.imp"
	[ "$i" -lt "$RUNS" ] && "$P" image remove run$i --state-dir "$S" >/dev/null
done
XZ1=$(median <"$W/t.xz1")
XZT=$(median <"$W/t.xzT")
IMP=$(median <"$W/t.imp")
echo "| import 2 GiB .img.xz (median of $RUNS) | ${IMP} s |"
echo "| xz -dc > /dev/null (median) | ${XZ1} s |"
echo "| xz -T0 -dc > /dev/null (median) | ${XZT} s |"
echo "| ratio import / xz -dc | $(echo "scale=2; $IMP / $XZ1" | bc) |"
echo "| ratio import / xz -T0 -dc | $(echo "scale=2; $IMP / $XZT" | bc) |"

# 2. client add on the work directory's file system.
clients() { # STATE LABEL
	local s=$1 label=$2 u0 u1 u2 t
	u0=$(used_kib "$s")
	t=$(now); "$P" client add c1 --serial 00000001 --image run$RUNS --server 198.18.0.1 --state-dir "$s" >/dev/null; local t1; t1=$(since "$t")
	u1=$(used_kib "$s")
	t=$(now); "$P" client add c2 --serial 00000002 --image run$RUNS --server 198.18.0.1 --state-dir "$s" >/dev/null; local t2; t2=$(since "$t")
	u2=$(used_kib "$s")
	echo "| client add, first ($label) | ${t1} s, $(((u1 - u0) / 1024)) MiB new |"
	echo "| client add, second ($label) | ${t2} s, $(((u2 - u1) / 1024)) MiB new |"
}
clients "$S" "$(df --output=fstype "$S" | tail -1 | tr -d ' '), no reflink"

# 2b. the same on XFS with reflink, in a loop-mounted file.
if command -v mkfs.xfs >/dev/null && truncate -s 12G "$W/xfs.img" &&
	mkfs.xfs -q -f -m reflink=1 "$W/xfs.img" && mkdir -p "$W/xfs" &&
	mount -o loop "$W/xfs.img" "$W/xfs" 2>/dev/null; then
	# XFS keeps 18-bit minor numbers, so the test tree's 259:300000
	# device (kept by ext4) cannot exist there: copy the imported image
	# over with cp -a, which skips that one node, instead of importing.
	mkdir -p "$W/xfs/state/images"
	cp -a "$S/images/run$RUNS" "$W/xfs/state/images/" 2>/dev/null || true
	clients "$W/xfs/state" "xfs, reflink"
	umount "$W/xfs"
	rm -f "$W/xfs.img"
else
	echo "| client add on XFS | loop mount not possible here |"
fi
fi

# 3. the seed method against import, on the same .img.xz, alternating.
# Without udev there are no /dev/loopNpM nodes, so each partition gets its
# own loop device through mount's offset= and sizelimit=.
seed() {
	local t
	rm -rf "$W/seed"
	t=$(now)
	xz -dc "$XZ" >"$W/disk.img.seed"
	mount -o ro,loop,offset=$((532480 * 512)) "$W/disk.img.seed" "$MNT/p2"
	mkdir -p "$W/seed/boot"
	cp -a "$MNT/p2" "$W/seed/root"
	umount "$MNT/p2"
	# This kernel has no vfat, so the boot partition goes through mtools.
	MTOOLS_SKIP_CHECK=1 mcopy -s -m -i "$W/disk.img.seed@@$((8192 * 512))" \
		'::/*' "$W/seed/boot/"
	since "$t"
	rm -rf "$W/seed" "$W/disk.img.seed"
}
mkdir -p "$MNT/p1" "$MNT/p2"
if [ "${SEED:-1}" = 1 ] && losetup -f >/dev/null 2>&1; then
	: >"$W/t.seed"
	: >"$W/t.imp2"
	for i in $(seq "$RUNS"); do
		seed >>"$W/t.seed"
		rm -rf "$W/s2"
		t=$(now)
		"$P" image import "$XZ" --name s --state-dir "$W/s2" >/dev/null 2>&1
		since "$t" >>"$W/t.imp2"
		rm -rf "$W/s2"
	done
	SD=$(median <"$W/t.seed")
	I2=$(median <"$W/t.imp2")
	echo "| seed method: xz -dc > img, mount -o loop + cp -a (root), mcopy (boot; no vfat in this kernel) (median) | ${SD} s |"
	echo "| import, same runs (median) | ${I2} s |"
	echo "| ratio import / seed method | $(echo "scale=2; $I2 / $SD" | bc) |"
else
	echo "| seed method | no loop device |"
fi
rm -rf "$S"
