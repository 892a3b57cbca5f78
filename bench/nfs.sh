#!/usr/bin/env bash
# NFS v3 benchmark: pinetboot against NFS-Ganesha (VFS FSAL) serving the
# same tree, alternating test by test in one run (the one that goes first
# alternates from round to round).
#
# One call in flight (what a booting kernel does as it walks its root):
#   lat      per-procedure latency, the median of thousands of calls each:
#            NULL (the transport alone: no file system, no worker),
#            GETATTR, LOOKUP, ACCESS, READ of 4 KiB and of 1 MiB
#            (bench/nfs_bench.c "lat")
#   cp-read  `nfs-cp` of a 256 MiB file to a new file in /dev/shm
#            (libnfs-utils: one 1 MiB READ at a time)
#   cp-write `nfs-cp` of a 64 MiB local file to the server (one 1 MiB
#            UNSTABLE WRITE at a time)
#   ls-R     `nfs-ls -R` of 10 x 10 directories of 50 files (5,000 files,
#            110 directories: LOOKUP, READDIRPLUS)
#   meta     READDIRPLUS of 5,000 files, then a path stat of each (LOOKUP,
#            LOOKUP, GETATTR, one call at a time)
# Many calls in flight:
#   read, write  256 MiB with eight 1 MiB calls in flight (+ COMMIT)
#   walk     GETATTR of 5,000 READDIRPLUS handles, 16 in flight
# Then VmHWM of each server with 100 mounted clients from 4 hosts.
#
# Ratios say how many times faster pinetboot is: Ganesha's time over
# pinetboot's for latencies, pinetboot's rate over Ganesha's for the
# rest; 1.00x or more means pinetboot is at least as fast.  Each line
# gives the medians of all rounds and the ratio of every round.  Times
# of nfs-cp and nfs-ls include starting the program and mounting (a few
# milliseconds, the same for both servers).
#
# Each server gets its own namespaces (server 198.18.0.1 on a bridge,
# client 198.18.0.2, and four hosts for the held clients); both servers
# are pinned to CPU 0 and every client to CPU 1.  libnfs runs as root, so
# it calls from reserved ports, as pinetboot requires.  Ganesha runs
# NFSv3 only, without grace period, NLM or RQUOTA (tests/lib/ganesha.sh).
# The load average is printed before every round: on a shared machine
# other work moves single figures by tens of percent.
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
# bench/nfs.sh ROUNDS lat: only the single-call latencies above, many
# rounds cheaply; with PNB_BIN_B=BINARY a second pinetboot build (say,
# the one before a change) takes its turn as a third server, and each
# call's line gives before/after as well as both against Ganesha.
#
# Usage: bench/nfs.sh [ROUNDS] [layered|lat]   (as root, after make; 5
# rounds against Ganesha, 3 layered unless ROUNDS says otherwise)
set -u
MODE=${2:-ganesha}
ROUNDS=${1:-5}
[ "$MODE" = layered ] && ROUNDS=${1:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tests/lib/netns.sh"
source "$ROOT/tests/lib/ganesha.sh"
BENCH=${PNB_OUT:-$ROOT/build}/bench/nfs_bench
for tool in nfs-cp nfs-ls ganesha.nfsd; do
	if ! command -v "$tool" >/dev/null; then
		echo "bench/nfs.sh: $tool is missing; install the packages of" \
			"scripts/packages.d/nfs.txt" >&2
		exit 1
	fi
done
if [ ! -x "$BENCH" ] || [ ! -x "$PNB_BIN" ]; then
	echo "bench/nfs.sh: build first (make)" >&2
	exit 1
fi
nn_init nfsbench
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

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
mkdir -p "$T/meta" "$NN_TMP/state" "$NN_TMP/ganesha"
echo "== preparing tree in $T"
head -c $((256 << 20)) /dev/urandom >"$T/big"
head -c $((64 << 20)) /dev/urandom >"$NN_TMP/src64"
for i in $(seq -w 1 5000); do : >"$T/meta/f$i"; done
for a in $(seq 0 9); do
	for b in $(seq 0 9); do
		mkdir -p "$T/ls/d$a/e$b"
		(cd "$T/ls/d$a/e$b" && touch $(seq -f f%02g 1 50))
	done
done
LS_ENTRIES=5110

nn_spawn "$P" "$NN_TMP/pnb.log" taskset -c 0 "$PNB_BIN" serve --dhcp off \
	--tftp off --address 198.18.0.1 --state-dir "$NN_TMP/state" \
	--export "$T" --log-level info
PNB_PID=$NN_LAST_PID
nn_wait_tcp "$P" 2049 || { echo "pinetboot did not start"; exit 1; }
ganesha_start "$G" 198.18.0.1 "$NN_TMP/ganesha" "$T" ||
	{ echo "ganesha did not start"; exit 1; }
GPID=$(cat "$NN_TMP/ganesha/ganesha.pid")
taskset -a -p -c 0 "$GPID" >/dev/null
sleep 1

# bench NS WHAT ARGS...: "NAME VALUE" lines of nfs_bench's RESULTs.
bench() {
	ip netns exec "$1" taskset -c 1 "$BENCH" "$2" 198.18.0.1 "$T" "${@:3}" |
		awk '/^RESULT/ {print $2, $3}'
}
if [ "$MODE" = lat ]; then
	# One call in flight only, the servers in turn, the first one
	# rotating from round to round; with PNB_BIN_B (another pinetboot
	# binary, such as the build before a change) that one too, from its
	# own pair of namespaces, so before and after meet the same load.
	servers="pnb gan"
	if [ -n "${PNB_BIN_B:-}" ]; then
		Q=$(nn_ns q)
		QC=$(nn_ns qc)
		nn_bridge "$Q" br0 198.18.0.1/24
		nn_port "$Q" br0 "$QC" 198.18.0.2/24 >/dev/null
		mkdir -p "$NN_TMP/state-other"
		nn_spawn "$Q" "$NN_TMP/other.log" taskset -c 0 "$PNB_BIN_B" \
			serve --dhcp off --tftp off --address 198.18.0.1 \
			--state-dir "$NN_TMP/state-other" --export "$T" \
			--log-level info
		nn_wait_tcp "$Q" 2049 ||
			{ echo "$PNB_BIN_B did not start"; exit 1; }
		servers="pnb other gan"
	fi
	declare -A L
	LAT="NULL GETATTR LOOKUP ACCESS READ4K READ1M"
	echo "== $(uname -n), $(nproc) CPUs, $(uname -r); load: $(cut -d' ' -f1-3 /proc/loadavg)"
	read -ra order <<<"$servers"
	for i in $(seq "$ROUNDS"); do
		echo "== round $i (${order[*]}), load $(cut -d' ' -f1-3 /proc/loadavg)"
		for s in "${order[@]}"; do
			ns=$PC
			[ "$s" = gan ] && ns=$GC
			[ "$s" = other ] && ns=$QC
			line="   $s:"
			while read -r name value; do
				case $name in lat-*) ;; *) continue ;; esac
				L[$s.${name#lat-}]+="$value "
				line+=" ${name#lat-}=$value"
			done < <(bench "$ns" lat /big /meta)
			echo "$line"
		done
		order=("${order[@]:1}" "${order[0]}")
	done
	# ratio A B CALL: B's time over A's, per round and the median.
	ratios() {
		paste -d' ' <(tr ' ' '\n' <<<"${L[$2.$3]}" | grep .) \
			<(tr ' ' '\n' <<<"${L[$1.$3]}" | grep .) |
			awk '{printf "%.2f\n", ($2 > 0 ? $1 / $2 : 0)}'
	}
	med() { tr ' ' '\n' <<<"${L[$1.$2]}" | grep . | median | xargs printf '%.1f'; }
	# fmt RATIOS: "median x (each round's)".
	fmt() { printf '%.2fx (%s)' "$(median <<<"$1")" "$(tr '\n' ' ' <<<"$1" | sed 's/ $//')"; }
	echo
	echo "Latency of one call, median of $ROUNDS rounds; ratios are the other server's time over pinetboot's (above 1.00x pinetboot is faster), the median of the rounds' ratios and then each round's."
	echo
	if [ -n "${PNB_BIN_B:-}" ]; then
		echo "| Call | pinetboot | $(basename "$PNB_BIN_B") | Ganesha | vs Ganesha | $(basename "$PNB_BIN_B") vs Ganesha | vs $(basename "$PNB_BIN_B") |"
		echo "|---|---|---|---|---|---|---|"
	else
		echo "| Call | pinetboot | Ganesha | vs Ganesha |"
		echo "|---|---|---|---|"
	fi
	for t in $LAT; do
		g=$(ratios pnb gan "$t")
		row="| $t | $(med pnb "$t") us |"
		if [ -n "${PNB_BIN_B:-}" ]; then
			o=$(ratios other gan "$t")
			b=$(ratios pnb other "$t")
			row+=" $(med other "$t") us |"
		fi
		row+=" $(med gan "$t") us | $(fmt "$g") |"
		if [ -n "${PNB_BIN_B:-}" ]; then
			row+=" $(fmt "$o") | $(fmt "$b") |"
		fi
		echo "$row"
	done
	echo "load after the rounds: $(cut -d' ' -f1-3 /proc/loadavg)"
	exit 0
fi

# timed NS CMD...: runs CMD in NS on CPU 1; prints seconds, or nothing
# if CMD failed.
timed() {
	local ns=$1 t0 t1
	shift
	t0=$(date +%s%N)
	ip netns exec "$ns" taskset -c 1 "$@" >"$NN_TMP/timed.out" ||
		return 1
	t1=$(date +%s%N)
	awk -v ns=$((t1 - t0)) 'BEGIN {printf "%.4f\n", ns / 1e9}'
}
rate() { # BYTES SECONDS -> MiB/s
	[ -n "$2" ] && awk -v b="$1" -v s="$2" 'BEGIN {printf "%.1f\n", b / 1048576 / s}'
}

declare -A R
TESTS="NULL GETATTR LOOKUP ACCESS READ4K READ1M cp-read cp-write ls-R meta read write walk"
# add SERVER TEST VALUE: a failed test counts 0 (and shows as 0.00x).
add() {
	[ -n "${3:-}" ] || echo "   $1 $2: FAILED" >&2
	R[$1.$2]+="${3:-0} "
}
run_one() { # SERVER ROUND
	local s=$1 i=$2 ns=$PC url t n
	[ "$s" = gan ] && ns=$GC
	url=nfs://198.18.0.1$T
	local -A lat=()
	while read -r name value; do
		case $name in lat-*) lat[${name#lat-}]=$value ;; esac
	done < <(bench "$ns" lat /big /meta)
	for t in NULL GETATTR LOOKUP ACCESS READ4K READ1M; do
		add "$s" "$t" "${lat[$t]:-}"
	done
	rm -f "/dev/shm/pnb-nfsbench-$$"
	t=$(timed "$ns" nfs-cp "$url/big" "/dev/shm/pnb-nfsbench-$$")
	rm -f "/dev/shm/pnb-nfsbench-$$"
	add "$s" cp-read "$(rate $((256 << 20)) "$t")"
	t=$(timed "$ns" nfs-cp "$NN_TMP/src64" "$url/cpw-$s-$i")
	cmp -s "$NN_TMP/src64" "$T/cpw-$s-$i" || t=
	rm -f "$T/cpw-$s-$i"
	add "$s" cp-write "$(rate $((64 << 20)) "$t")"
	t=$(timed "$ns" nfs-ls -R "$url/ls")
	n=$(wc -l <"$NN_TMP/timed.out")
	[ "$n" = "$LS_ENTRIES" ] || t=
	add "$s" ls-R "$([ -n "$t" ] && awk -v t="$t" -v n="$n" 'BEGIN {printf "%.0f\n", n / t}')"
	add "$s" read "$(bench "$ns" read /big | awk '{print $2}')"
	add "$s" write "$(bench "$ns" write "/w-$s" 256 | awk '{print $2}')"
	add "$s" meta "$(bench "$ns" meta /meta | awk '{print $2}')"
	add "$s" walk "$(bench "$ns" walk /meta | awk '{print $2}')"
}

echo "== $(uname -n), $(nproc) CPUs, $(uname -r); load: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$ROUNDS"); do
	order="pnb gan"
	[ $((i % 2)) = 0 ] && order="gan pnb"
	echo "== round $i ($order), load $(cut -d' ' -f1-3 /proc/loadavg)"
	for s in $order; do
		run_one "$s" "$i"
	done
	for s in pnb gan; do
		line="   $s:"
		for t in $TESTS; do
			line+=" $t=$(awk '{print $NF}' <<<"${R[$s.$t]}")"
		done
		echo "$line"
	done
done
echo "== load after the rounds: $(cut -d' ' -f1-3 /proc/loadavg)"

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
HELD_G=$(hold g "${HOLDERS_G[@]}")
GAN_HWM=$(hwm "$GPID")

# ratio TEST P G: how many times faster pinetboot is.
ratio() {
	case $1 in
	NULL | GETATTR | LOOKUP | ACCESS | READ4K | READ1M) awk -v p="$2" -v g="$3" 'BEGIN {printf "%.2fx", (p > 0 ? g / p : 0)}' ;;
	*) awk -v p="$2" -v g="$3" 'BEGIN {printf "%.2fx", (g > 0 ? p / g : 0)}' ;;
	esac
}
target() {
	case $1 in
	GETATTR | LOOKUP | ACCESS | READ4K | READ1M | cp-write | read | write) echo ">= 1.0x" ;;
	cp-read | ls-R) echo ">= 1.5x" ;;
	walk) echo "keep the lead" ;;
	*) echo "-" ;;
	esac
}
unit() {
	case $1 in
	NULL | GETATTR | LOOKUP | ACCESS | READ4K | READ1M) echo "us" ;;
	ls-R | meta | walk) echo "entries/s" ;;
	*) echo "MiB/s" ;;
	esac
}

echo
echo "| Test | pinetboot (median) | Ganesha (median) | ratio | per round | target |"
echo "|---|---|---|---|---|---|"
for t in $TESTS; do
	ps=(${R[pnb.$t]}) gs=(${R[gan.$t]}) rounds=""
	for k in "${!ps[@]}"; do
		rounds+="$(ratio "$t" "${ps[$k]}" "${gs[$k]}") "
	done
	p=$(tr ' ' '\n' <<<"${R[pnb.$t]}" | grep . | median)
	g=$(tr ' ' '\n' <<<"${R[gan.$t]}" | grep . | median)
	echo "| $t | $p $(unit "$t") | $g $(unit "$t") | $(ratio "$t" "$p" "$g") | ${rounds% } | $(target "$t") |"
done
echo "| VmHWM, 100 mounted clients from 4 hosts ($HELD_P / $HELD_G mounted) | $PNB_HWM MiB | $GAN_HWM MiB | | | < 50 MiB |"

# pinetboot's own per-procedure counters (arrival to reply), logged at stop.
kill "$PNB_PID"
wait "$PNB_PID" 2>/dev/null
echo
echo "pinetboot's counters (from arrival of the call to its reply):"
grep 'event=stats' "$NN_TMP/pnb.log" | sed 's/^.*event=stats /  /'
