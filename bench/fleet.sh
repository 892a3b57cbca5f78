#!/usr/bin/env bash
# bench/fleet.sh [WORKDIR]: what a layered client costs (issue 12).
#   1. `client add --root layered` against `client add --root copy` (the
#      behaviour before layers, a full copy) of a Raspberry Pi OS-sized
#      image (tests/lib/rpi_image.sh rpi_build_large: ~70,000 files,
#      1.6 GiB), alternating, RUNS times each: wall time and the new
#      disk use of each client (its directory, each inode once), medians
#      and the ratio.  Targets: layered < 200 ms and < 1 MiB.
#   2. CLIENTS (default 100) layered clients, each of which then writes
#      what a Pi might (a new 64 KiB file, and 4 KiB appended to a file
#      of the image, which copies that file into its layer), through the
#      layer library as the NFS server does: the disk use of the image
#      and all clients (each inode once) against the image plus what they
#      wrote.  Target: < 1.05.
# Runs on the file system of WORKDIR (ext4 without reflink here: the
# case the targets are for).  Needs root.  The image is built once and
# kept in WORKDIR.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-/tmp/pnb-bench-fleet}
P=${PNB_BIN:-$ROOT/build/pinetboot}
EDIT=${PNB_TOOLS:-$ROOT/build/tools}/layer_edit
RUNS=${RUNS:-5}
CLIENTS=${CLIENTS:-100}
source "$ROOT/tests/lib/rpi_image.sh"
mkdir -p "$W"

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# Disk use of the given paths together, each inode once (du counts a
# hard-linked inode once within one run), in KiB.
du_kib() { du -sck "$@" | tail -1 | cut -f1; }

echo "# bench/fleet.sh, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "# machine: $(nproc) cores, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(free -g | awk '/Mem:/{print $2}') GiB"
echo "# file system of $W: $(df -T "$W" | awk 'NR==2{print $2}')"
echo "# load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ ! -f "$W/disk.img" ]; then
	echo "building the 2.5 GiB image (once)..." >&2
	rpi_build_large "$W" >&2
fi
S=$W/state
rm -rf "$S"
"$P" image import "$W/disk.img" --name os --state-dir "$S" >/dev/null 2>&1
files=$(find "$S/images/os/v/1/root" | wc -l)
img_kib=$(du_kib "$S/images/os")
echo "# image: $files files in its root, $((img_kib / 1024)) MiB on disk"

# 1. layered against copy, alternating.
: >"$W/t.layered"; : >"$W/t.copy"; : >"$W/d.layered"; : >"$W/d.copy"
for i in $(seq "$RUNS"); do
	for mode in layered copy; do
		name=$mode$i
		sync
		t=$(now)
		"$P" client add "$name" --serial "$(printf '%08x' $((i * 16 + ${#mode})))" \
			--image os --root "$mode" --server 198.18.0.1 \
			--state-dir "$S" >/dev/null 2>&1
		since "$t" >>"$W/t.$mode"
		du_kib "$S/clients/$name" >>"$W/d.$mode"
		"$P" client remove "$name" --yes --state-dir "$S" >/dev/null 2>&1
	done
done
tl=$(median <"$W/t.layered"); tc=$(median <"$W/t.copy")
dl=$(median <"$W/d.layered"); dc=$(median <"$W/d.copy")
echo "| client add --root layered | median $(printf '%.0f' "$(echo "$tl * 1000" | bc)") ms ($(paste -sd' ' "$W/t.layered" | xargs printf '%.3f ')s), $dl KiB |"
echo "| client add --root copy    | median $(printf '%.1f' "$tc") s, $((dc / 1024)) MiB |"
echo "| copy / layered            | $(echo "scale=0; $tc / $tl" | bc)x the time, $(echo "scale=0; $dc / $dl" | bc)x the disk |"

# 2. a fleet.
written=0
t=$(now)
for i in $(seq "$CLIENTS"); do
	"$P" client add "c$i" --serial "$(printf 'f%07x' "$i")" --image os \
		--server 198.18.0.1 --state-dir "$S" >/dev/null 2>&1
done
add_s=$(since "$t")
head -c 65536 /dev/urandom >"$W/64k"
for i in $(seq "$CLIENTS"); do
	"$EDIT" "$S" "c$i" create /home/pi/data "$(base64 -w0 "$W/64k" | head -c 65536)" \
		-- append /etc/tiny.conf "$(head -c 4096 /dev/zero | tr '\0' x)"
done
# What they wrote: 64 KiB new, and the appended file as a whole copy.
tiny=$(stat -c %s "$S/images/os/v/1/root/etc/tiny.conf")
written=$((CLIENTS * (65536 + tiny + 4096)))
sync
all_kib=$(du_kib "$S/images/os" "$S/clients")
clients_kib=$((all_kib - img_kib))
ratio=$(echo "scale=4; $all_kib / ($img_kib + $written / 1024)" | bc)
echo "| $CLIENTS layered clients: adding them | $(printf '%.1f' "$add_s") s, $(echo "scale=0; $add_s * 1000 / $CLIENTS" | bc) ms each |"
echo "| image + $CLIENTS clients on disk | $((all_kib / 1024)) MiB: image $((img_kib / 1024)) MiB, clients $((clients_kib / 1024)) MiB ($((clients_kib / CLIENTS)) KiB each), written $((written / 1048576)) MiB |"
echo "| (image + clients) / (image + written) | $ratio |"
echo "# load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$S"
