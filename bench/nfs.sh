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
# bench/nfs.sh ROUNDS layered: one pinetboot serving the same tree twice,
# as a plain export and as a layered export (docs/fleet.md) whose
# version layer is a copy of the tree under an empty client layer,
# the cost of each procedure one call at a time, alternating call for
# call between the two exports in one client (GETATTR, LOOKUP, READ and
# WRITE of 4 KiB, READDIRPLUS of a 64 KiB page), then the streaming read
# and write and the walk, export after export; medians of ROUNDS and the
# ratio layered/plain of the time each takes (target <= 1.1).
#
# PNB_BIN_B=/path/to/other/pinetboot (the default mode only) adds a
# second pinetboot build, in namespaces of its own, to every round (the
# two builds take turns going first) and to the memory figure, and
# prints both with their ratio: a before/after comparison in one run.
#
# Usage: bench/nfs.sh [ROUNDS] [layered]   (as root, after make)
set -u
ROUNDS=${1:-3}
MODE=${2:-ganesha}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tests/lib/netns.sh"
BENCH=${PNB_OUT:-$ROOT/build}/bench/nfs_bench
nn_init nfsbench
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

if [ "$MODE" = layered ]; then
	P=$(nn_ns p)
	PC=$(nn_ns pc)
	nn_bridge "$P" br0 198.18.0.1/24
	nn_port "$P" br0 "$PC" 198.18.0.2/24 >/dev/null
	T=$NN_TMP/tree
	V=$NN_TMP/ver
	L=$NN_TMP/layered
	mkdir -p "$T/meta" "$NN_TMP/state" "$L.up" "$L.work"
	echo "== preparing trees in $T and $V"
	head -c $((256 << 20)) /dev/urandom >"$T/big"
	head -c $((1 << 20)) /dev/urandom >"$T/w"
	for i in $(seq -w 1 5000); do : >"$T/meta/f$i"; done
	cp -a "$T" "$V"
	chmod --reference="$V" "$L.up"
	chmod 700 "$L.work"
	nn_spawn "$P" "$NN_TMP/pnb.log" taskset -c 0 "$PNB_BIN" serve \
		--dhcp off --tftp off --address 198.18.0.1 \
		--state-dir "$NN_TMP/state" --export "$T" \
		--export "$L:lower=$V,upper=$L.up,work=$L.work" \
		--log-level info
	nn_wait_tcp "$P" 2049 || { echo "pinetboot did not start"; exit 1; }
	# one EXPORT ARGS...: a bench run against EXPORT; its value.
	one() {
		ip netns exec "$PC" taskset -c 1 "$BENCH" "$2" 198.18.0.1 \
			"$1" "${@:3}" | awk '/^RESULT/ {print $3}'
	}
	# pair PROC PATH: "plain_us layered_us ratio", alternating call for
	# call between the two exports for 3 s.
	pair() {
		ip netns exec "$PC" taskset -c 1 "$BENCH" pair 198.18.0.1 \
			"$T" "$L" "$1" "$2" 3 |
			awk '/^RESULT/ {sub(",", "", $5); print $3, $4, $7}'
	}
	declare -A R
	CALLS="getattr:/meta/f0001 lookup:/meta/f2500 read:/big write:/w readdirplus:/meta"
	for i in $(seq "$ROUNDS"); do
		for c in $CALLS; do
			read -r p l ratio < <(pair "${c%%:*}" "${c#*:}")
			R[plain.${c%%:*}]+="$p "
			R[layered.${c%%:*}]+="$l "
			R[ratio.${c%%:*}]+="$ratio "
			echo "round $i ${c%%:*}: plain $p us, layered $l us, ratio $ratio"
		done
		# Streams: each test on one export right after the other, the
		# order swapped every round; the round's ratio pairs them.
		order="plain layered"
		[ $((i % 2)) = 0 ] && order="layered plain"
		for t in stream-read stream-write walk; do
			declare -A V=()
			for e in $order; do
				x=$T
				[ $e = layered ] && x=$L
				case $t in
				stream-read) V[$e]=$(one "$x" read /big) ;;
				stream-write) V[$e]=$(one "$x" write "/w-$e-$i" 256) ;;
				walk) V[$e]=$(one "$x" walk /meta) ;;
				esac
				R[$e.$t]+="${V[$e]} "
			done
			ratio=$(awk -v a="${V[plain]}" -v b="${V[layered]}" \
				'BEGIN {printf "%.3f", (b > 0 ? a / b : 0)}')
			R[ratio.$t]+="$ratio "
			echo "round $i $t: plain ${V[plain]}, layered ${V[layered]}, cost ratio $ratio"
		done
	done
	echo
	echo "| Call | plain (median) | layered (median) | layered/plain cost (median of rounds) | target |"
	echo "|---|---|---|---|---|"
	for c in $CALLS; do
		t=${c%%:*}
		p=$(tr ' ' '\n' <<<"${R[plain.$t]}" | grep . | median)
		l=$(tr ' ' '\n' <<<"${R[layered.$t]}" | grep . | median)
		r=$(tr ' ' '\n' <<<"${R[ratio.$t]}" | grep . | median)
		echo "| $t (one at a time, alternating) | $p us | $l us | ${r}x | <= 1.1x |"
	done
	for t in stream-read stream-write walk; do
		p=$(tr ' ' '\n' <<<"${R[plain.$t]}" | grep . | median)
		l=$(tr ' ' '\n' <<<"${R[layered.$t]}" | grep . | median)
		r=$(tr ' ' '\n' <<<"${R[ratio.$t]}" | grep . | median)
		unit=MiB/s
		[ $t = walk ] && unit=entries/s
		echo "| $t (back to back, order swapped each round) | $p $unit | $l $unit | ${r}x | <= 1.1x |"
	done
	echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
	exit 0
fi

PNB_BIN_B=${PNB_BIN_B:-}
P=$(nn_ns p)
PC=$(nn_ns pc)
G=$(nn_ns g)
GC=$(nn_ns gc)
nn_bridge "$P" br0 198.18.0.1/24
nn_port "$P" br0 "$PC" 198.18.0.2/24 >/dev/null
nn_bridge "$G" br0 198.18.0.1/24
nn_port "$G" br0 "$GC" 198.18.0.2/24 >/dev/null
if [ -n "$PNB_BIN_B" ]; then
	B=$(nn_ns b)
	BC=$(nn_ns bc)
	nn_bridge "$B" br0 198.18.0.1/24
	nn_port "$B" br0 "$BC" 198.18.0.2/24 >/dev/null
fi
# The 100 held clients come from 4 hosts of 25, as Pis do from their own
# addresses: pinetboot takes at most 32 NFS connections from one address.
HOLDERS_P=() HOLDERS_G=() HOLDERS_B=()
for i in 1 2 3 4; do
	HOLDERS_P+=("$(nn_ns "ph$i")")
	nn_port "$P" br0 "${HOLDERS_P[-1]}" "198.18.0.1$i/24" >/dev/null
	HOLDERS_G+=("$(nn_ns "gh$i")")
	nn_port "$G" br0 "${HOLDERS_G[-1]}" "198.18.0.1$i/24" >/dev/null
	[ -n "$PNB_BIN_B" ] || continue
	HOLDERS_B+=("$(nn_ns "bh$i")")
	nn_port "$B" br0 "${HOLDERS_B[-1]}" "198.18.0.1$i/24" >/dev/null
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
if [ -n "$PNB_BIN_B" ]; then
	mkdir -p "$NN_TMP/state-b"
	nn_spawn "$B" "$NN_TMP/pnb-b.log" taskset -c 0 "$PNB_BIN_B" serve \
		--dhcp off --tftp off --address 198.18.0.1 \
		--state-dir "$NN_TMP/state-b" --export "$T" --log-level info
	PNB_B_PID=$NN_LAST_PID
	nn_wait_tcp "$B" 2049 || { echo "pinetboot B did not start"; exit 1; }
fi

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

declare -A R
for i in $(seq "$ROUNDS"); do
	order="pnb gan"
	[ -n "$PNB_BIN_B" ] && order="pnb pnbb gan" &&
		[ $((i % 2)) = 0 ] && order="pnbb pnb gan"
	for s in $order; do
		ns=$PC; [ $s = gan ] && ns=$GC; [ $s = pnbb ] && ns=$BC
		R[$s.read]+="$(run "$ns" read /big) "
		R[$s.write]+="$(run "$ns" write "/w-$s" 256) "
		R[$s.meta]+="$(run "$ns" meta /meta) "
		R[$s.walk]+="$(run "$ns" walk /meta) "
	done
	echo "round $i: pnb ${R[pnb.read]}| ${R[pnb.write]}| ${R[pnb.meta]}| ${R[pnb.walk]}"
	[ -n "$PNB_BIN_B" ] &&
		echo "round $i: pnbb ${R[pnbb.read]}| ${R[pnbb.write]}| ${R[pnbb.meta]}| ${R[pnbb.walk]}"
	echo "round $i: gan ${R[gan.read]}| ${R[gan.write]}| ${R[gan.meta]}| ${R[gan.walk]}"
	echo "round $i: load $(cut -d' ' -f1-3 /proc/loadavg)"
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
if [ -n "$PNB_BIN_B" ]; then
	HELD_B=$(hold b "${HOLDERS_B[@]}")
	PNB_B_HWM=$(hwm "$PNB_B_PID")
fi

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
if [ -n "$PNB_BIN_B" ]; then
	echo
	echo "pinetboot: $PNB_BIN; pinetboot B: $PNB_BIN_B"
	echo
	echo "| Test | pinetboot (median) | pinetboot B (median) | ratio | per round |"
	echo "|---|---|---|---|---|"
	for t in read write meta walk; do
		p=$(tr ' ' '\n' <<<"${R[pnb.$t]}" | grep . | median)
		b=$(tr ' ' '\n' <<<"${R[pnbb.$t]}" | grep . | median)
		ratio=$(awk -v a="$p" -v b="$b" 'BEGIN {printf "%.2fx", (b > 0 ? a / b : 0)}')
		echo "| $t | $p | $b | $ratio | ${R[pnb.$t]}/ ${R[pnbb.$t]}|"
	done
	echo "| VmHWM, 100 mounted clients ($HELD_P / $HELD_B mounted) | $PNB_HWM MiB | $PNB_B_HWM MiB | | |"
fi
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -n "$GPID" ] && kill "$GPID" 2>/dev/null
cleanup_rpcbind
