#!/usr/bin/env bash
# bench/image.sh [WORKDIR]: provisioning speed.
#   1. `pinetboot image import` of a Raspberry Pi OS-sized .img.xz
#      (tests/lib/rpi_image.sh rpi_build_large: 2.5 GiB disk, ~73,000
#      files, 1.6 GiB; xz -T0, so several blocks) against
#      `xz -dc FILE > /dev/null` alone (and `xz -T0 -dc`), alternating,
#      RUNS times each; medians, per-run ratios and the median ratio.
#      ONLY_IMPORT=1 stops after this step; SINGLE_BLOCK=1 uses a
#      one-block .xz of the same disk; BEFORE=BINARY also times another
#      build's import in each round; SETTLE=S waits S seconds (65)
#      after removing the previous run's imports.
#   2. First and second `client add`: time and new disk use, on the work
#      directory's file system and on a reflink-capable XFS in a loop-mounted
#      image file (when loop devices work here).
#   3. The seed method, `xz -dc > disk.img; losetup -P; mount; cp -a`,
#      against `image import` of the same file.
# Needs root (device nodes, owners, loop mounts), xfsprogs for step 2's XFS.
# The image is built once (sfdisk, mkfs.vfat, mkfs.ext4 -d from the
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
	echo "building the 2.5 GiB image (once)..." >&2
	rpi_build_large "$W" >&2
	# -3 keeps building affordable on two cores; decoding speed hardly
	# depends on the level.
	xz -T0 -3 -k "$W/disk.img"
fi
XZ=$W/disk.img.xz
# SINGLE_BLOCK=1: the same disk as one xz block (xz -T1, as single-threaded
# xz writes by default), which no decoder can split across threads.
if [ "${SINGLE_BLOCK:-0}" = 1 ]; then
	XZ=$W/disk.1block.img.xz
	[ -f "$XZ" ] || xz -T1 -3 -c "$W/disk.img" >"$XZ"
fi
echo "image: $(du -h --apparent-size "$W/disk.img" | cut -f1) raw, $(du -h "$XZ" | cut -f1) xz, $(xz --robot -l "$XZ" | awk '$1=="file"{print $3}') blocks" >&2

# 1. import vs decompression alone, alternating.  ONLY_SEED=1 skips to 3.
S=$W/state
if [ "${ONLY_SEED:-0}" != 1 ]; then
# Removing many inodes costs the next creations on ext4 without a journal
# (this machine's root) for about a minute: the allocator skips inodes
# whose deletion time is that recent (recently_deleted() in the kernel,
# 60 s once the inode tables are written back).  That is the removal's
# cost, not the import's: wait it out when this run removed a state.
# SETTLE=0 measures right after the removal instead.
SETTLE=${SETTLE:-65}
if [ -e "$S" ] || [ -e "$W/before" ]; then
	rm -rf "$S" "$W/before"
	sync
	echo "removed the previous run's imports; waiting $SETTLE s (see above)" >&2
	sleep "$SETTLE"
fi
: >"$W/t.xz1"
: >"$W/t.xzT"
: >"$W/t.imp"
: >"$W/t.before"
# timed FILE CMD...: append "wall user sys" (seconds) of CMD to FILE.
timed() {
	local f=$1
	shift
	/usr/bin/time -f '%e %U %S' -a -o "$f" "$@" >/dev/null 2>"$W/cmd.err" ||
		{ cat "$W/cmd.err" >&2; exit 1; }
}
# Imports stay until the end: on ext4 without a journal (this machine's
# root), creating inodes right after deleting many scans past the
# recently deleted ones (recently_deleted() in the kernel's inode
# allocator), which would charge one run for the previous run's removal.
for i in $(seq "$RUNS"); do
	timed "$W/t.xz1" sh -c "xz -dc '$XZ' >/dev/null"
	timed "$W/t.xzT" sh -c "xz -T0 -dc '$XZ' >/dev/null"
	timed "$W/t.imp" "$P" image import "$XZ" --name run$i --state-dir "$S"
	# BEFORE=BINARY: also time another build (the sequential import).
	if [ -n "${BEFORE:-}" ]; then
		timed "$W/t.before" "$BEFORE" image import "$XZ" --name b$i \
			--state-dir "$W/before"
	fi
done
wall() { cut -d' ' -f1 "$1" | median; }
cpu() { awk '{print $2 + $3}' "$1" | median; }
XZ1=$(wall "$W/t.xz1")
XZT=$(wall "$W/t.xzT")
IMP=$(wall "$W/t.imp")
echo "| image: $(du -h --apparent-size "$W/disk.img" | cut -f1) raw, $(du -h "$XZ" | cut -f1) xz, $(xz --robot -l "$XZ" | awk '$1=="file"{print $3}') blocks |"
echo "| import .img.xz (median of $RUNS, wall; CPU user+sys) | ${IMP} s; $(cpu "$W/t.imp") s |"
[ -s "$W/t.before" ] && echo "| import by $BEFORE (median; CPU) | $(wall "$W/t.before") s; $(cpu "$W/t.before") s |"
echo "| xz -dc > /dev/null (median; CPU) | ${XZ1} s; $(cpu "$W/t.xz1") s |"
echo "| xz -T0 -dc > /dev/null (median; CPU) | ${XZT} s; $(cpu "$W/t.xzT") s |"
echo "| ratio import / xz -dc | $(echo "scale=2; $IMP / $XZ1" | bc) (per run: $(paste -d' ' "$W/t.imp" "$W/t.xz1" | while read -r a _ _ b _ _; do echo "scale=2; $a / $b" | bc; done | tr '\n' ' ')) |"
echo "| ratio import / xz -T0 -dc | $(echo "scale=2; $IMP / $XZT" | bc) |"
for i in $(seq $((RUNS - 1))); do
	"$P" image remove run$i --state-dir "$S" >/dev/null
done
rm -rf "$W/before"

echo "| load (uptime) | $(uptime | sed 's/.*load average: //') |"
[ "${ONLY_IMPORT:-0}" = 1 ] && exit 0

# 2. client add on --root copy the work directory's file system.
clients() { # STATE LABEL
	local s=$1 label=$2 u0 u1 u2 t
	u0=$(used_kib "$s")
	t=$(now); "$P" client add c1 --root copy --serial 00000001 --image run$RUNS --server 198.18.0.1 --state-dir "$s" >/dev/null; local t1; t1=$(since "$t")
	u1=$(used_kib "$s")
	t=$(now); "$P" client add c2 --root copy --serial 00000002 --image run$RUNS --server 198.18.0.1 --state-dir "$s" >/dev/null; local t2; t2=$(since "$t")
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
	echo "| client add on --root copy XFS | loop mount not possible here |"
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
