#!/usr/bin/env bash
# NFS v3 benchmark: pinetboot against NFS-Ganesha (VFS FSAL) serving the
# same tree, alternating in one run, with the libnfs client of
# bench/nfs_bench.c.  Sequential read of a 256 MiB file, sequential write
# of 256 MiB (+ COMMIT), and a metadata walk (READDIRPLUS + GETATTR over
# 5,000 files, once as path stats one call at a time ("meta") and once
# as GETATTR of the READDIRPLUS handles with 16 calls in flight
# ("walk")); medians of ROUNDS runs and the ratio pinetboot/Ganesha.
# Then VmHWM of each server with 100 mounted clients.
#
# Each server gets its own namespaces (server 198.18.0.1 on a bridge,
# client 198.18.0.2, and four hosts for the held clients); servers are
# pinned to CPU 0 and clients to CPU 1.  Ganesha
# runs NFSv3 only, without grace period (Graceless), with its own
# config, log and pid files in the temp dir, and with an rpcbind in a
# private mount namespace (its own /run) since it registers there.
#
# Usage: bench/nfs.sh [ROUNDS]   (as root, after make)
set -u
ROUNDS=${1:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tests/lib/netns.sh"
BENCH=${PNB_OUT:-$ROOT/build}/bench/nfs_bench
nn_init nfsbench

P=$(nn_ns p)
PC=$(nn_ns pc)
G=$(nn_ns g)
GC=$(nn_ns gc)
nn_bridge "$P" br0 198.18.0.1/24
nn_port "$P" br0 "$PC" 198.18.0.2/24 >/dev/null
nn_bridge "$G" br0 198.18.0.1/24
nn_port "$G" br0 "$GC" 198.18.0.2/24 >/dev/null
# The 100 held clients come from 4 hosts of 25, as Pis do from their own
# addresses: pinetboot takes at most 32 NFS connections from one address.
HOLDERS_P=() HOLDERS_G=()
for i in 1 2 3 4; do
	HOLDERS_P+=("$(nn_ns "ph$i")")
	nn_port "$P" br0 "${HOLDERS_P[-1]}" "198.18.0.1$i/24" >/dev/null
	HOLDERS_G+=("$(nn_ns "gh$i")")
	nn_port "$G" br0 "${HOLDERS_G[-1]}" "198.18.0.1$i/24" >/dev/null
done

T=$NN_TMP/tree
mkdir -p "$T/meta" "$NN_TMP/state"
echo "== preparing tree in $T"
head -c $((256 << 20)) /dev/urandom >"$T/big"
for i in $(seq -w 1 5000); do : >"$T/meta/f$i"; done

nn_spawn "$P" "$NN_TMP/pnb.log" taskset -c 0 "$PNB_BIN" serve --dhcp off \
	--tftp off --address 198.18.0.1 --state-dir "$NN_TMP/state" \
	--export "$T" --log-level info
PNB_PID=$NN_LAST_PID
nn_wait_tcp "$P" 2049 || { echo "pinetboot did not start"; exit 1; }

cat >"$NN_TMP/ganesha.conf" <<CONF
NFS_CORE_PARAM {
	Protocols = 3;
	Enable_NLM = false;
	Enable_RQUOTA = false;
	NFS_Port = 2049;
	MNT_Port = 20048;
}
NFSV4 {
	Graceless = true;
}
EXPORT {
	Export_Id = 1;
	Path = $T;
	Pseudo = $T;
	Protocols = 3;
	Transports = TCP, UDP;
	Access_Type = RW;
	Squash = No_Root_Squash;
	SecType = sys;
	FSAL {
		Name = VFS;
	}
}
LOG {
	Default_Log_Level = WARN;
}
CONF
nn_spawn "$G" "$NN_TMP/ganesha.out" unshare -m sh -c "
	mount -t tmpfs tmpfs /run && mkdir -p /run/ganesha /run/rpcbind &&
	rpcbind -f & echo \$! >'$NN_TMP/rpcbind.pid'; sleep 0.5;
	exec taskset -c 0 ganesha.nfsd -F -f '$NN_TMP/ganesha.conf' \
		-L '$NN_TMP/ganesha.log' -p '$NN_TMP/ganesha.pid'"
GAN_PID=$NN_LAST_PID
cleanup_rpcbind() {
	[ -f "$NN_TMP/rpcbind.pid" ] && kill "$(cat "$NN_TMP/rpcbind.pid")" 2>/dev/null
}
trap 'cleanup_rpcbind; nn_cleanup' EXIT
nn_wait_tcp "$G" 2049 || { echo "ganesha did not start"; cat "$NN_TMP/ganesha.log"; exit 1; }
sleep 1

run() { # NS WHAT ARGS... -> value
	ip netns exec "$1" taskset -c 1 "$BENCH" "$2" 198.18.0.1 "$T" "${@:3}" |
		awk '/^RESULT/ {print $3}'
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

declare -A R
for i in $(seq "$ROUNDS"); do
	for s in pnb gan; do
		ns=$PC; [ $s = gan ] && ns=$GC
		R[$s.read]+="$(run "$ns" read /big) "
		R[$s.write]+="$(run "$ns" write "/w-$s" 256) "
		R[$s.meta]+="$(run "$ns" meta /meta) "
		R[$s.walk]+="$(run "$ns" walk /meta) "
	done
	echo "round $i: pnb ${R[pnb.read]}| ${R[pnb.write]}| ${R[pnb.meta]}| ${R[pnb.walk]}"
	echo "round $i: gan ${R[gan.read]}| ${R[gan.write]}| ${R[gan.meta]}| ${R[gan.walk]}"
done

hwm() { awk '/VmHWM/ {print int($2/1024)}' "/proc/$1/status"; }
# hold NAME NS...: 25 mounted clients from each namespace at once; prints
# how many mounted in all.
hold() {
	local name=$1 ns pids=()
	shift
	for ns in "$@"; do
		ip netns exec "$ns" taskset -c 1 "$BENCH" hold 198.18.0.1 "$T" \
			25 3 >"$NN_TMP/hold.$name.$ns" &
		pids+=($!)
	done
	wait "${pids[@]}"
	cat "$NN_TMP"/hold."$name".* | awk '{n += $3} END {print n}'
}
HELD_P=$(hold p "${HOLDERS_P[@]}")
PNB_HWM=$(hwm "$PNB_PID")
GPID=$(cat "$NN_TMP/ganesha.pid" 2>/dev/null)
HELD_G=$(hold g "${HOLDERS_G[@]}")
GAN_HWM=$( [ -n "$GPID" ] && hwm "$GPID")

echo
echo "| Test | pinetboot (median) | Ganesha (median) | ratio | target |"
echo "|---|---|---|---|---|"
for t in read write meta walk; do
	p=$(tr ' ' '\n' <<<"${R[pnb.$t]}" | grep . | median)
	g=$(tr ' ' '\n' <<<"${R[gan.$t]}" | grep . | median)
	unit="MiB/s"; target=">= 1.0x"
	[ $t = meta ] || [ $t = walk ] && unit="entries/s" && target=">= 2x"
	ratio=$(awk -v a="$p" -v b="$g" 'BEGIN {printf "%.2fx", (b > 0 ? a / b : 0)}')
	echo "| $t | $p $unit | $g $unit | $ratio | $target |"
done
echo "| VmHWM, 100 mounted clients from 4 hosts ($HELD_P / $HELD_G mounted) | $PNB_HWM MiB | $GAN_HWM MiB | | < 50 MiB |"
[ -n "$GPID" ] && kill "$GPID" 2>/dev/null
cleanup_rpcbind
