#!/usr/bin/env bash
# Bad images: each must fail with a clear message naming the file and the
# damage, a non-zero exit, and nothing left in the state directory.  Also
# a GPT copy of the image, whose damaged primary header is survived.
set -u
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/rpi_image.sh"
nn_init imgbad
W=$NN_TMP
S=$W/state
P=$PNB_BIN

# Names that the ext4 damage below turns into '/' and '..' (needs an
# image without metadata checksums, or the directory CRC fails first).
rpi_extra_root() {
	echo x >"$1/etc/evilXname"
	echo y >"$1/etc/qq"
}
rpi_build_checked "$W" "-O ^metadata_csum"
IMG=$W/disk.img
BOOT=$((8192 * 512))
ROOT=$((90112 * 512))

# put FILE OFFSET HEXBYTES: overwrite bytes in place.
put() {
	printf "$(sed 's/\(..\)/\\x\1/g' <<<"$3")" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
le32() {
	printf '%02x%02x%02x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) \
		$((($1 >> 16) & 255)) $((($1 >> 24) & 255))
}
u16() { od -An -tu2 -j "$2" -N2 "$1" | tr -d ' '; }
u32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }
# first OFFSET of a byte pattern (grep -P escapes) in FILE
find_at() { LC_ALL=C grep -obUaP "$2" "$1" | head -1 | cut -d: -f1; }

# expect NAME FILE PATTERN: the import fails, says PATTERN, leaves nothing.
expect() {
	local name=$1 file=$2 pat=$3 rc
	"$P" image import "$file" --name bad --state-dir "$S" >"$W/out" 2>"$W/err"
	rc=$?
	if [ "$rc" -ne 0 ] && grep -q "^pinetboot image import: $file: .*$pat" "$W/err" &&
		[ -z "$(ls -A "$S/images" 2>/dev/null)" ]; then
		t_pass "$name: $(cat "$W/err" | tail -1 | cut -c1-160)"
	else
		t_fail "$name" "rc=$rc, stderr: $(tr '\n' ' ' <"$W/err" | cut -c1-300), left: $(ls -A "$S/images" 2>/dev/null)"
		"$P" image remove bad --state-dir "$S" >/dev/null 2>&1
	fi
}

cp "$IMG" "$W/c"
t_check "the undamaged image imports" "$P" image import "$W/c" --name good --state-dir "$S"
"$P" image remove good --state-dir "$S" >/dev/null

head -c $((60 * 1048576)) "$IMG" >"$W/trunc.img"
expect "truncated image" "$W/trunc.img" "partition extends beyond the end of the image"

cp "$IMG" "$W/beyond.img"
put "$W/beyond.img" $((446 + 16 + 12)) "$(le32 400000)"
expect "partition beyond EOF" "$W/beyond.img" "partition extends beyond the end of the image"

cp "$IMG" "$W/overlap.img"
put "$W/overlap.img" $((446 + 16 + 8)) "$(le32 $((8192 + 100)))"
expect "overlapping partitions" "$W/overlap.img" "partitions overlap"

head -c 1048576 /dev/urandom >"$W/random.img"
expect "not a disk image" "$W/random.img" "no MBR boot signature"

# ext4: a superblock with an impossible block size.
cp "$IMG" "$W/sb.img"
put "$W/sb.img" $((ROOT + 1024 + 24)) "$(le32 20)"
expect "damaged superblock (s_log_block_size)" "$W/sb.img" "root partition.*[Ss]uperblock"

# ext4: an inode wiped with debugfs's clri.
dd if="$IMG" of="$W/root.part" bs=512 skip=90112 count=131072 status=none
debugfs -w -R "clri /etc/tiny.conf" "$W/root.part" >/dev/null 2>&1
cp "$IMG" "$W/clri.img"
dd if="$W/root.part" of="$W/clri.img" bs=512 seek=90112 conv=notrunc status=none
expect "inode wiped (debugfs clri)" "$W/clri.img" "root partition, at /etc/tiny.conf: "

# ext4: a directory entry renamed to contain '/', and one named '..'.
cp "$IMG" "$W/slash.img"
off=$(find_at "$W/slash.img" 'evilXname')
put "$W/slash.img" $((off + 4)) 2f
expect "ext4 name with '/'" "$W/slash.img" "at /etc.*file name contains '/'"
cp "$IMG" "$W/dotdot.img"
off=$(find_at "$W/dotdot.img" '\x02\x01qq')
put "$W/dotdot.img" $((off + 2)) 2e2e
expect "ext4 entry named '..'" "$W/dotdot.img" "at /etc.*is '.' or '..' in the wrong place"

# FAT: geometry of the boot partition.
res=$(u16 "$IMG" $((BOOT + 14)))
nfats=$(od -An -tu1 -j $((BOOT + 16)) -N1 "$IMG" | tr -d ' ')
fatsz=$(u32 "$IMG" $((BOOT + 36)))
FAT=$((BOOT + res * 512))
DATA=$((BOOT + (res + nfats * fatsz) * 512))
clus_of() { # offset of a directory entry -> its first cluster
	echo $(($(u16 "$1" $(($2 + 20))) * 65536 + $(u16 "$1" $(($2 + 26)))))
}

cp "$IMG" "$W/loop.img"
e=$(find_at "$W/loop.img" 'KERNEL8 IMG')
c=$(clus_of "$W/loop.img" "$e")
put "$W/loop.img" $((FAT + 4 * (c + 5))) "$(le32 $((c + 1)))"
expect "FAT cluster chain loop" "$W/loop.img" "boot partition.*FAT cluster chain loops"

cp "$IMG" "$W/range.img"
put "$W/range.img" $((FAT + 4 * (c + 5))) "$(le32 $((0x0ffffff0)))"
expect "FAT cluster out of range" "$W/range.img" "boot partition.*FAT cluster number out of range"

cp "$IMG" "$W/self.img"
o=$(find_at "$W/self.img" 'OVERLAYS   ')
r=$(find_at "$W/self.img" 'README     ')
put "$W/self.img" $((r + 11)) 10
put "$W/self.img" $((r + 20)) "$(dd if="$W/self.img" bs=1 skip=$((o + 20)) count=2 status=none | od -An -tx1 | tr -d ' \n')"
put "$W/self.img" $((r + 26)) "$(dd if="$W/self.img" bs=1 skip=$((o + 26)) count=2 status=none | od -An -tx1 | tr -d ' \n')"
expect "FAT directory containing itself" "$W/self.img" "boot partition, at README/: a directory contains itself"

cp "$IMG" "$W/lfn.img"
off=$(find_at "$W/lfn.img" 'A\x00 \x00l\x00o\x00n\x00')
put "$W/lfn.img" $((off + 2)) 2f
expect "FAT long name with '/'" "$W/lfn.img" "boot partition.*file name contains '/'"

cp "$IMG" "$W/bpb.img"
put "$W/bpb.img" $((BOOT + 13)) 03
expect "FAT boot sector damaged" "$W/bpb.img" "no FAT boot partition found"

# Compressed containers.
xz -T1 -1 -c "$IMG" >"$W/good.img.xz"
size=$(stat -c %s "$W/good.img.xz")
cp "$W/good.img.xz" "$W/corrupt.img.xz"
put "$W/corrupt.img.xz" $((size / 2)) ff
put "$W/corrupt.img.xz" $((size / 2 + 1)) 00
expect "corrupt xz" "$W/corrupt.img.xz" "xz decompression failed: the data is corrupt"
head -c $((size / 2)) "$W/good.img.xz" >"$W/short.img.xz"
expect "truncated xz" "$W/short.img.xz" "the xz container is damaged"
cp "$W/good.img.xz" "$W/bomb.img.xz"
"$PNB_TOOLS/xzclaim" "$W/bomb.img.xz" $((4 * 1048576)) >/dev/null
expect "xz expanding beyond its claimed size" "$W/bomb.img.xz" "expands beyond the 4194304 bytes its index claims"
zstd -q -c "$IMG" >"$W/good.img.zst"
head -c $(($(stat -c %s "$W/good.img.zst") / 2)) "$W/good.img.zst" >"$W/short.img.zst"
expect "truncated zstd" "$W/short.img.zst" "zstd decompression failed"

# GPT: the same partitions in a GPT, with the primary header damaged.
cp "$IMG" "$W/gpt.img"
truncate -s +1M "$W/gpt.img"
printf 'label: gpt\nstart=8192, size=81920, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\nstart=90112, size=131072, type=L\n' |
	sfdisk -q "$W/gpt.img" 2>/dev/null
put "$W/gpt.img" $((512 + 40)) ff
"$P" image import "$W/gpt.img" --name gpt --state-dir "$S" >"$W/out" 2>&1
rc=$?
t_check "GPT image with damaged primary header imports" [ "$rc" -eq 0 ]
t_check "summary says the backup GPT was used" grep -q 'gpt (primary GPT damaged, backup used)' "$W/out"
t_check "state holds only the good image" [ "$(ls -A "$S/images")" = gpt ]
t_done
