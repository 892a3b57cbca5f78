#!/usr/bin/env bash
# Rebuilds the seed corpora of fuzz_mbr, fuzz_gpt and fuzz_fat from small
# images made with sfdisk, mkfs.vfat and mtools (no loop mounts).  Run from
# the repository root after `make` (needs build/tools/sparsepack).
set -eu
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
PACK=${PNB_TOOLS:-build/tools}/sparsepack
C=tests/fuzz/corpus

# MBR: Raspberry Pi OS shape (FAT32 LBA + Linux), and an extended chain.
truncate -s 64K "$T/m1"
printf 'label: dos\nlabel-id: 0x6c586e13\n8,40,c\n48,,83\n' |
	sfdisk -q "$T/m1"
cp "$T/m1" "$C/mbr/raspios-shape.img"
truncate -s 64K "$T/m2"
printf 'label: dos\n8,16,83\n24,,5\n26,16,83\n44,16,c\n' | sfdisk -q "$T/m2"
cp "$T/m2" "$C/mbr/extended.img"

# GPT: two partitions, and the same with a damaged primary header.
truncate -s 64K "$T/g1"
printf 'label: gpt\n40,16,L\n56,16,U\n' | sfdisk -q "$T/g1"
cp "$T/g1" "$C/gpt/two.img"
cp "$T/g1" "$T/g2"
printf '\xff' | dd of="$T/g2" bs=1 seek=$((512 + 40)) conv=notrunc 2>/dev/null
cp "$T/g2" "$C/gpt/backup.img"

# FAT12/16/32 with long names, subdirectories and a fragmented file.
fill() {
	local img=$1
	export MTOOLS_SKIP_CHECK=1
	head -c 3000 /dev/urandom >"$T/a"
	head -c 9000 /dev/urandom >"$T/b"
	mcopy -i "$img" "$T/a" ::/config.txt
	mmd -i "$img" ::/overlays
	mcopy -i "$img" "$T/a" "::/overlays/A long file name.dtbo"
	mcopy -i "$img" "$T/b" ::/big.bin
	mdel -i "$img" ::/config.txt
	mcopy -i "$img" "$T/b" ::/frag.bin
	: >"$T/e"
	mcopy -i "$img" "$T/e" ::/ssh
}
rm -f "$T/f12" "$T/f16" "$T/f32"
mkfs.vfat -C -F 12 -s 1 -n BOOTFS "$T/f12" 128 >/dev/null
fill "$T/f12"
"$PACK" "$T/f12" "$C/fat/fat12.sp"
mkfs.vfat -C -F 16 -s 1 -n BOOTFS "$T/f16" 2200 >/dev/null
fill "$T/f16"
"$PACK" "$T/f16" "$C/fat/fat16.sp"
mkfs.vfat -C -F 32 -s 1 -f 1 -n BOOTFS "$T/f32" 34000 >/dev/null
fill "$T/f32"
"$PACK" "$T/f32" "$C/fat/fat32.sp"

# The proxy-mode DHCP watch: a Pi 4's REQUEST to the site's server and
# the ACK, NAK or a lone ACK, as IPv4 packets with length prefixes.
FORGE=${PNB_TOOLS:-build/tools}/dhcp_forge
mkdir -p "$C/dhcpwatch"
rm -f "$C"/dhcpwatch/*
pi=dc:a6:32:01:36:c2
req=(-c $pi -x 1234 -t request -r 198.18.0.205 -s 198.18.0.254)
reply=(-c $pi -x 1234 -s 198.18.0.254 -S 198.18.0.254)
"$FORGE" -o "$C/dhcpwatch/request-ack" "${req[@]}"
"$FORGE" -o "$C/dhcpwatch/request-ack" "${reply[@]}" -t ack -y 198.18.0.205
"$FORGE" -o "$C/dhcpwatch/request-nak" "${req[@]}"
"$FORGE" -o "$C/dhcpwatch/request-nak" "${reply[@]}" -t nak
"$FORGE" -o "$C/dhcpwatch/lone-ack" "${reply[@]}" -t ack -y 198.18.0.205
ls -l "$C"/mbr "$C"/gpt "$C"/fat "$C"/dhcpwatch
