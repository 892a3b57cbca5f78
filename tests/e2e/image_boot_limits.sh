#!/usr/bin/env bash
# Boot trees that hold every file and still stop some Pis (reference §9
# items 2 and 3): a Pi 5 tree without overlays/bcm2712d0.dtbo (D0 boards
# do not boot), and a file a Pi 4 loads through start4.elf larger than
# 67,107,839 bytes (1024-byte blocks, no rollover).  image import, client
# add and doctor each say so, with the reason and the fix, and still
# succeed: the model of a client is not known.
set -u
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/rpi_image.sh"
nn_init bootlim
W=$NN_TMP
S=$W/state
P=$PNB_BIN

# One byte past what start4.elf fetches; Pi 5 and Pi 3 files just as big
# must not count.  The test image's boot tree has the Pi 5 device tree
# but, like images before late 2024, no D0 overlay.
rpi_extra_boot() {
	truncate -s 67107840 "$1/initramfs8"
	truncate -s 67107840 "$1/initramfs_2712"
}
RPI_BOOT_MB=200 rpi_build_checked "$W"

"$P" image import "$W/disk.img" --name os --state-dir "$S" >"$W/out" 2>"$W/err"
t_check "image import succeeds" [ $? -eq 0 ]
t_check "image import warns about the Pi 4 size limit, with the fix" \
	grep -q "^pinetboot image import: warning: image 'os': initramfs8 is 64.0 MiB (67107840 bytes), more than the 67107839 bytes a Pi 4's start4.elf fetches over TFTP.*MODULES=dep" "$W/err"
t_check "image import warns about the missing D0 overlay, with the fix" \
	grep -q "^pinetboot image import: warning: image 'os': the boot tree has Pi 5 device trees (bcm2712-\*.dtb) but no overlays/bcm2712d0.dtbo: .*D0 stepping.*copy it" "$W/err"
t_check "a file only the Pi 5 loads is not flagged" \
	bash -c '! grep -q initramfs_2712 "$1"' _ "$W/err"
t_check "two warnings in all" [ "$(grep -c warning "$W/err")" = 2 ]

"$P" client add pi1 --root copy --serial 9ffefdef --image os --server 198.18.0.1 \
	--state-dir "$S" >"$W/out" 2>"$W/err"
t_check "client add succeeds" [ $? -eq 0 ]
t_check "client add warns --root copy about the Pi 4 size limit" \
	grep -q "^pinetboot client add: warning: client 'pi1': initramfs8 is 64.0 MiB" "$W/err"
t_check "client add warns --root copy about the missing D0 overlay" \
	grep -q "^pinetboot client add: warning: client 'pi1': .*no overlays/bcm2712d0.dtbo" "$W/err"

srv=$(nn_ns srv)
ip -n "$srv" addr add 198.18.0.1/24 dev lo
doctor() {
	ip netns exec "$srv" "$P" doctor --address 198.18.0.1 --dhcp off \
		--state-dir "$S" 2>&1
}
out=$(doctor)
t_check "doctor warns about the Pi 4 size limit" \
	grep -q "^warn  client pi1: initramfs8 is 64.0 MiB (67107840 bytes), more than the 67107839 bytes" <<<"$out"
t_check "doctor warns about the missing D0 overlay" \
	grep -q "^warn  client pi1: the boot tree has Pi 5 device trees .* no overlays/bcm2712d0.dtbo" <<<"$out"

# What a Pi's own update-initramfs or an operator does to the tree.
B=$S/clients/pi1/boot
truncate -s 67107839 "$B/initramfs8"
echo overlay >"$B/overlays/bcm2712d0.dtbo"
out=$(doctor)
# Only the boot-tree warnings: doctor also reports that pi1 has no
# static address, which is another finding.
t_check "at exactly 67107839 bytes and with the overlay: no warning" \
	bash -c '! grep -Eq "^warn  client pi1: .*(more than the 67107839|bcm2712d0\.dtbo)" <<<"$1"' _ "$out"
# A deeper file (an os_prefix directory) counts as well.
mkdir -p "$B/next"
truncate -s 100000000 "$B/next/kernel8.img"
out=$(doctor)
t_check "a file in a subdirectory is flagged" \
	grep -q "^warn  client pi1: next/kernel8.img is 95.4 MiB" <<<"$out"
t_done
