#!/usr/bin/env bash
# Disk reads of a booting fleet (issue 12): CLIENTS clients read the same
# MIB MiB of boot-time files over NFS, all at once, after the page cache
# was dropped: first as layered clients of one image version (they share
# its inodes), then as copy clients, each with its own copy of the files
# (as `client add --root copy` makes them; ext4 without reflink).  One
# pinetboot serves both fleets from one state directory; each client is
# a network namespace whose address both its layered and its copy
# client's records name.
#
# Counted: the bytes pinetboot itself caused to be read from the block
# device (read_bytes of /proc/PID/io, which readahead is charged to), and
# for reference the sectors read on the state directory's device in
# /proc/diskstats (the whole machine: other work adds to it).  Target:
# about MIB for the layered fleet, CLIENTS x MIB for the copies.
#
# Usage: bench/layered_disk.sh [CLIENTS] [MIB]   (as root, after make)
set -u
CLIENTS=${1:-20}
MIB=${2:-200}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tests/lib/netns.sh"
source "$ROOT/tests/lib/layered.sh"
BENCH=${PNB_OUT:-$ROOT/build}/bench/nfs_bench
PNB_TOOLS=${PNB_OUT:-$ROOT/build}/tools
nn_init layerdisk
STATE=$NN_TMP/state
SRC=$NN_TMP/src
DEV=$(df --output=source "$NN_TMP" | tail -1)
DEV=${DEV#/dev/}

echo "== $MIB files of 1 MiB, $CLIENTS layered and $CLIENTS copy clients in $STATE"
mkdir -p "$SRC/root/usr/lib/boot-files" "$SRC/boot" "$STATE"
for i in $(seq -w 1 "$MIB"); do
	head -c $((1 << 20)) /dev/urandom >"$SRC/root/usr/lib/boot-files/f$i"
done
echo "arm_64bit=1" >"$SRC/boot/config.txt"
layered_version "$STATE" os 1 "$SRC/root" "$SRC/boot"
S=$(nn_ns srv)
nn_bridge "$S" br0 198.18.0.1/24
NS=()
for i in $(seq "$CLIENTS"); do
	a=198.18.0.$((9 + i))
	layered_client "$STATE" "l$i" os 1 "address=$a"
	# A copy client, as client add --root copy makes it: its own files.
	mkdir -p "$STATE/clients/c$i"
	cp -a "$SRC/root" "$SRC/boot" "$STATE/clients/c$i/"
	printf 'name = c%s\nimage = os\naddress = %s\n' "$i" "$a" \
		>"$STATE/clients/c$i/client.conf"
	NS+=("$(nn_ns "c$i")")
	nn_port "$S" br0 "${NS[-1]}" "$a/24" >/dev/null
done
sync
nn_spawn "$S" "$NN_TMP/pnb.log" taskset -c 0 "$PNB_BIN" serve --dhcp off \
	--tftp off --address 198.18.0.1 --state-dir "$STATE" --log-level info
PNB_PID=$NN_LAST_PID
nn_wait_tcp "$S" 2049 || { echo "pinetboot did not start"; exit 1; }
sleep 1

read_bytes() { awk '/^read_bytes/ {print $2}' "/proc/$PNB_PID/io"; }
dev_sectors() { awk -v d="$DEV" '$3 == d {print $6}' /proc/diskstats; }

# fleet KIND: every client reads its files at once; prints the MiB the
# server read from the disk, the MiB the device read, and the seconds.
fleet() {
	local kind=$1 i pids=() r0 d0 t0
	sync
	echo 3 >/proc/sys/vm/drop_caches
	r0=$(read_bytes)
	d0=$(dev_sectors)
	t0=$(date +%s.%N)
	for i in $(seq "$CLIENTS"); do
		ip netns exec "${NS[$((i - 1))]}" taskset -c 1 "$BENCH" readall \
			198.18.0.1 "$STATE/clients/$kind$i/root" /usr/lib/boot-files \
			>"$NN_TMP/read-$kind$i" 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}"
	echo "$((($(read_bytes) - r0) >> 20)) $((($(dev_sectors) - d0) * 512 >> 20))" \
		"$(echo "$t0 $(date +%s.%N)" | awk '{printf "%.1f", $2 - $1}')" \
		"$(cat "$NN_TMP"/read-"$kind"* | grep -c '^RESULT')"
}

read -r lr ld lt lok < <(fleet l)
read -r cr cd ct cok < <(fleet c)
echo
echo "| Fleet of $CLIENTS, $MIB MiB each | clients done | read by pinetboot | read on /dev/$DEV | wall | per file byte |"
echo "|---|---|---|---|---|---|"
echo "| layered (one version) | $lok | $lr MiB | $ld MiB | ${lt} s | $(awk -v r="$lr" -v m="$MIB" 'BEGIN {printf "%.2fx", r / m}') |"
echo "| copies | $cok | $cr MiB | $cd MiB | ${ct} s | $(awk -v r="$cr" -v m="$MIB" 'BEGIN {printf "%.2fx", r / m}') |"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
