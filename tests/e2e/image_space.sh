#!/usr/bin/env bash
# An import never trusts what the image claims about its own size (issue
# 10, item 11): the state directory's free space is checked before
# decompressing and before extracting, with an error saying how much is
# needed and how much is free, and the import stops at --max-size
# ([image] max_size).  Headers that lie in either direction, and a small
# file system: a tmpfs of a few MiB mounted in a private mount namespace
# (no loop devices).  Every failure exits 1, says what to do, and leaves
# nothing behind.
set -u
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/rpi_image.sh"
nn_init space
W=$NN_TMP
P=$PNB_BIN

rpi_build_checked "$W"
IMG=$W/disk.img # 108 MiB, about 12 MiB of it data
ROOT=$((90112 * 512))

# put FILE OFFSET HEXBYTES: overwrite bytes in place.
put() {
	printf "$(sed 's/\(..\)/\\x\1/g' <<<"$3")" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# import_on_tmpfs SIZE FILE [ARGS...]: import FILE into a state directory
# on a tmpfs of SIZE; prints the command's stderr, then "rc=N", then what
# is left in the state directory's images/ and the tmpfs's used KiB.
import_on_tmpfs() {
	local size=$1
	shift
	mkdir -p "$W/mnt"
	unshare -m sh -c '
		m=$1 size=$2 p=$3
		shift 3
		mount -t tmpfs -o "size=$size" pnbspace "$m" || exit 9
		"$p" image import "$@" --name os --state-dir "$m/state" \
			2>&1 >/dev/null
		echo "rc=$?"
		echo "left=$(ls -A "$m/state/images" | tr "\n" " ")"
		echo "used=$(df -k --output=used "$m" | tail -1 | tr -d " ")"
	' sh "$W/mnt" "$size" "$P" "$@"
}

# expect NAME OUT PATTERN: import failed with PATTERN, left nothing.
expect() {
	local name=$1 out=$2 pat=$3
	if grep -qx 'rc=1' <<<"$out" && grep -qx 'left=' <<<"$out" &&
		grep -q "^pinetboot image import: .*$pat" <<<"$out"; then
		t_pass "$name: $(grep '^pinetboot' <<<"$out" | cut -c1-220)"
	else
		t_fail "$name" "$(tr '\n' ' ' <<<"$out" | cut -c1-400)"
	fi
	# A tmpfs holds a few KiB for the state directory itself.
	used=$(sed -n 's/^used=//p' <<<"$out")
	t_check "$name: nothing left on the file system (${used} KiB used)" \
		[ "${used:-999}" -lt 64 ]
}

out=$(import_on_tmpfs 40m "$IMG")
t_check "a raw image fits a 40 MiB tmpfs" grep -qx 'rc=0' <<<"$out"

# Before extracting: the root file system says how much it holds.
out=$(import_on_tmpfs 4m "$IMG")
expect "4 MiB tmpfs: refused before the root is extracted" "$out" \
	"not enough space in .*/state/images: the root partition's files need 5\.[0-9] MiB and 1\.[0-9] MiB are free; free some space"

# Before decompressing: what the container claims, true or not.
zstd -q -c "$IMG" >"$W/disk.img.zst"
out=$(import_on_tmpfs 40m "$W/disk.img.zst")
expect "zstd header claiming 108 MiB, 40 MiB tmpfs: refused first" "$out" \
	"not enough space in .*/state/images: the decompressed image needs 108\.0 MiB and 40\.0 MiB are free"
# The frame content size sits at bytes 6..9 (descriptor 0x84: 4 bytes).
cp "$W/disk.img.zst" "$W/big.img.zst"
t_check "frame descriptor as expected" [ "$(od -An -tx1 -j4 -N1 "$W/big.img.zst" | tr -d ' ')" = 84 ]
put "$W/big.img.zst" 6 ffffffff
out=$(import_on_tmpfs 40m "$W/big.img.zst")
expect "zstd header lying 4 GiB: refused before decoding" "$out" \
	"the decompressed image needs 4\.0 GiB and 40\.0 MiB are free"
cp "$W/disk.img.zst" "$W/small.img.zst"
put "$W/small.img.zst" 6 00004000
out=$(import_on_tmpfs 40m "$W/small.img.zst")
expect "zstd header lying 4 MiB: stops at the claim" "$out" \
	"the zstd frame expands beyond the 4194304 bytes its header claims"

# No claim at all (zstd from a pipe): the limit and the disk stop it.
zstd -q -c <"$IMG" >"$W/nosize.img.zst"
out=$(import_on_tmpfs 40m "$W/nosize.img.zst" --max-size 50M)
expect "zstd without a size, --max-size 50M" "$out" \
	"the zstd data expands past the import limit of 50\.0 MiB (--max-size, \[image\] max_size)"
out=$(import_on_tmpfs 8m "$W/nosize.img.zst")
expect "zstd without a size, 8 MiB tmpfs fills up" "$out" \
	"the file system of .*/state/images filled up after .* of the decompressed image .*: free some space"

# The cap on what the xz index claims, before decoding.
xz -T2 -0 -c "$IMG" >"$W/disk.img.xz"
out=$(import_on_tmpfs 40m "$W/disk.img.xz" --max-size 64M)
expect "xz claiming 108 MiB over --max-size 64M" "$out" \
	"it claims 108\.0 MiB (113246208 bytes) uncompressed, more than the import limit of 64\.0 MiB"
printf '[image]\nmax_size = 64M\n' >"$W/image.conf"
out=$(import_on_tmpfs 40m "$W/disk.img.xz" --config "$W/image.conf")
expect "the same limit from the config file" "$out" "more than the import limit of 64\.0 MiB"
out=$(import_on_tmpfs 40m "$W/disk.img.xz" --config "$W/image.conf" --max-size 200M)
t_check "--max-size wins over the config file" grep -qx 'rc=0' <<<"$out"

# A superblock that says the root holds nothing (free blocks = all):
# the limit and the free space still hold.
dd if="$IMG" of="$W/root.part" bs=512 skip=90112 count=131072 status=none
blocks=$(dumpe2fs -h "$W/root.part" 2>/dev/null | sed -n 's/^Block count: *//p')
debugfs -w -R "ssv free_blocks_count $blocks" "$W/root.part" >/dev/null 2>&1
cp "$IMG" "$W/liar.img"
dd if="$W/root.part" of="$W/liar.img" bs=512 seek=90112 conv=notrunc status=none
t_check "the superblock now claims no blocks in use" \
	[ "$(dumpe2fs -h "$W/root.part" 2>/dev/null | sed -n 's/^Free blocks: *//p')" = "$blocks" ]
out=$(import_on_tmpfs 40m "$W/liar.img" --max-size 3M)
expect "superblock claiming an empty root, --max-size 3M" "$out" \
	"root partition: the files expand past the import limit of 3\.0 MiB"
out=$(import_on_tmpfs 6m "$W/liar.img")
expect "superblock claiming an empty root, 6 MiB tmpfs" "$out" \
	"root partition: the file system of .*/state/images filled up after .* of files .*: free some space"

"$P" image import "$IMG" --max-size 1k --state-dir "$W/s" >/dev/null 2>"$W/err"
rc=$?
t_check "a --max-size below 1M is a usage error" [ "$rc" -eq 2 ] &&
	grep -q "max_size: '1k' is not a size of at least 1M" "$W/err"
t_done
