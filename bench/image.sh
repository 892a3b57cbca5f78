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

# 1. import vs decompression alone, alternating.
S=$W/state
rm -rf "$S"
: >"$W/t.xz1"
: >"$W/t.xzT"
: >"$W/t.imp"
for i in $(seq "$RUNS"); do
	t=$(now); xz -dc "$XZ" >/dev/null; since "$t" >>"$W/t.xz1"
	t=$(now); xz -T0 -dc "$XZ" >/dev/null; since "$t" >>"$W/t.xzT"
	t=$(now); "$P" image import "$XZ" --name run$i --state-dir "$S" >/dev/null 2>&1
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
clients "$S" "$(df -T --output=fstype "$S" | tail -1 | tr -d ' '), no reflink"

# 2b. the same on XFS with reflink, in a loop-mounted file.
if command -v mkfs.xfs >/dev/null && truncate -s 12G "$W/xfs.img" &&
	mkfs.xfs -q -f -m reflink=1 "$W/xfs.img" && mkdir -p "$W/xfs" &&
	mount -o loop "$W/xfs.img" "$W/xfs" 2>/dev/null; then
	"$P" image import "$XZ" --name run$RUNS --state-dir "$W/xfs/state" >/dev/null 2>&1
	clients "$W/xfs/state" "xfs, reflink"
	umount "$W/xfs"
	rm -f "$W/xfs.img"
else
	echo "| client add on XFS | loop mount not possible here |"
fi

# 3. the seed method against import, on the same .img.xz.
mkdir -p "$MNT/p1" "$MNT/p2"
if LOOPDEV=$(losetup -f 2>/dev/null); then
	rm -rf "$W/seed"
	t=$(now)
	xz -dc "$XZ" >"$W/disk.img.seed"
	losetup -P -r "$LOOPDEV" "$W/disk.img.seed"
	mount -o ro "${LOOPDEV}p1" "$MNT/p1"
	mount -o ro "${LOOPDEV}p2" "$MNT/p2"
	mkdir -p "$W/seed"
	cp -a "$MNT/p1" "$W/seed/boot"
	cp -a "$MNT/p2" "$W/seed/root"
	umount "$MNT/p1" "$MNT/p2"
	losetup -d "$LOOPDEV"
	LOOPDEV=
	SEED=$(since "$t")
	rm -rf "$W/seed" "$W/disk.img.seed"
	echo "| seed method: xz -dc, losetup, mount, cp -a | ${SEED} s |"
	echo "| ratio import / seed method | $(echo "scale=2; $IMP / $SEED" | bc) |"
else
	echo "| seed method | no loop device |"
fi
rm -rf "$S"
