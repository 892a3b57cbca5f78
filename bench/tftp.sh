#!/usr/bin/env bash
# TFTP throughput: pinetboot against dnsmasq's TFTP and atftpd (tftpd-hpa
# cannot be installed next to atftpd on Debian 12, so it is left out).
# Everything runs in private network namespaces on 198.18.0.0/24 over a
# veth pair; the server is pinned to one core and the client to the
# other, and the servers take turns within each repetition.
#
#   bench/tftp.sh            (after `make`; run as root)
#   REPS=5 PAR=500 PAR_MB=8 bench/tftp.sh
#
# Rows: curl lock-step at blksize 1468 on a 64 MiB file; atftp with
# windowsize 16 (blksize 1468) on the same file; the Pi firmware's shape
# on a 4 MiB file (tsize probe closed by "Early terminate", then the
# fetch at blksize 1468); PAR parallel transfers of a PAR_MB MiB file.
#
# PNB_BIN_B=/path/to/other/pinetboot adds a second pinetboot build as
# server "pinetboot-b" to every repetition (the two builds take turns
# going first) and prints both builds' medians with their ratio, for a
# before/after comparison in one run.  A build that has no
# --tftp-max-per-client (older than the per-address cap) gets none.
# PEERS="dnsmasq" (or empty) narrows the other servers (default
# "dnsmasq atftpd"); PAR=0 leaves out the parallel transfers.
set -u
ROOTDIR=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOTDIR/tests/lib/netns.sh"
PNB_BIN=${PNB_BIN:-$ROOTDIR/build/pinetboot}
PNB_BIN_B=${PNB_BIN_B:-}
CLIENT=${CLIENT:-$ROOTDIR/build/tools/tftp_client}
REPS=${REPS:-5}
PAR=${PAR:-500}
PAR_MB=${PAR_MB:-8}
PEERS=${PEERS-dnsmasq atftpd}
SCPU=${SCPU:-0}
CCPU=${CCPU:-1}

nn_init tftpbench
ROOT=$NN_TMP/root
mkdir -p "$ROOT"
chmod 755 "$NN_TMP" "$ROOT"
S=$(nn_ns srv)
C=$(nn_ns cli)
nn_veth "$S" 198.18.0.1/24 "$C" 198.18.0.2/24 >/dev/null
head -c $((64 << 20)) /dev/urandom >"$ROOT/f64"
head -c $((4 << 20)) /dev/urandom >"$ROOT/f4"
head -c $((PAR_MB << 20)) /dev/urandom >"$ROOT/fpar"
chmod 644 "$ROOT"/*
RES=$NN_TMP/results
: >"$RES"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

start_server() { # NAME
	local log=$NN_TMP/$1.log
	local bin=$PNB_BIN cap=()
	case $1 in
	pinetboot | pinetboot-b)
		[ "$1" = pinetboot-b ] && bin=$PNB_BIN_B
		"$bin" serve --help 2>&1 | grep -q -- --tftp-max-per-client &&
			cap=(--tftp-max-per-client $((PAR + 50)))
		nn_spawn "$S" "$log" taskset -c "$SCPU" "$bin" serve \
			--address 198.18.0.1 --dhcp off --nfs off \
			--tftp-root "$ROOT" "${cap[@]}" --log-level warn
		;;
	dnsmasq)
		# --tftp-max: dnsmasq allows 50 transfers by default.
		nn_spawn "$S" "$log" taskset -c "$SCPU" dnsmasq --no-daemon \
			--conf-file=/dev/null --port=0 --enable-tftp \
			--tftp-root="$ROOT" --listen-address=198.18.0.1 \
			--bind-interfaces --user=root --pid-file= \
			--tftp-max=$((PAR + 50)) --log-facility=/dev/null
		;;
	atftpd)
		nn_spawn "$S" "$log" taskset -c "$SCPU" atftpd --daemon \
			--no-fork --port 69 --bind-address 198.18.0.1 \
			--user root --group root --maxthread $((PAR + 50)) \
			--logfile /dev/null "$ROOT"
		;;
	esac
	SPID=$NN_LAST_PID
	nn_wait_udp "$S" 69 || { echo "$1 did not start" >&2; cat "$log" >&2; }
}

# timed NAME ROW CMD...: run CMD in the client namespace, record seconds.
timed() {
	local name=$1 row=$2 s e ok=1
	shift 2
	s=$(date +%s%N)
	ip netns exec "$C" taskset -c "$CCPU" timeout 600 "$@" \
		>"$NN_TMP/out" 2>&1 || ok=0
	e=$(date +%s%N)
	if [ $ok -eq 1 ]; then
		echo "$name $row $(((e - s) / 1000)) ok" >>"$RES"
	else
		echo "$name $row $(((e - s) / 1000)) fail" >>"$RES"
		echo "$name $row failed: $(tail -2 "$NN_TMP/out")" >&2
	fi
	LAST_OUT=$(cat "$NN_TMP/out")
}

# pnb_order REP: the pinetboot builds in the order they go in REP.
pnb_order() {
	if [ -z "$PNB_BIN_B" ]; then
		echo pinetboot
	elif [ $(($1 % 2)) = 1 ]; then
		echo pinetboot pinetboot-b
	else
		echo pinetboot-b pinetboot
	fi
}

cd "$NN_TMP" || exit 1
for rep in $(seq "$REPS"); do
	for srv in $(pnb_order "$rep") $PEERS; do
		start_server $srv
		timed $srv lockstep curl -sS --tftp-blksize 1468 -o /dev/null \
			tftp://198.18.0.1/f64
		timed $srv window16 atftp --option "windowsize 16" \
			--option "blksize 1468" -g -r f64 -l /dev/null 198.18.0.1
		timed $srv pi4mib "$CLIENT" -p -t -b 1468 198.18.0.1 f4=/dev/null
		nn_stop "$SPID"
	done
	echo "repetition $rep done, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done

# Parallel: pinetboot and dnsmasq, REPS/2 rounded up repetitions.
args=()
for i in $(seq "$PAR"); do
	args+=("fpar=/dev/null")
done
prep=$(((REPS + 1) / 2))
[ "$PAR" = 0 ] && prep=0
for rep in $(seq "$prep"); do
	for srv in $(pnb_order "$rep") ${PEERS/atftpd/}; do
		start_server $srv
		timed $srv parallel "$CLIENT" -b 1468 198.18.0.1 "${args[@]}"
		fails=$(echo "$LAST_OUT" | sed -n 's/.*failed=\([0-9]*\).*/\1/p' | tail -1)
		echo "$srv parfail ${fails:-$PAR} ok" >>"$RES"
		if [ $srv != dnsmasq ]; then
			hwm=$(awk '/VmHWM/ {print $2}' "/proc/$SPID/status")
			echo "$srv hwm $hwm ok" >>"$RES"
		fi
		nn_stop "$SPID"
	done
	echo "parallel repetition $rep done, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done

median() { # NAME ROW -> median microseconds (or "-")
	awk -v n="$1" -v r="$2" '$1 == n && $2 == r && $4 == "ok" {print $3}' \
		"$RES" | sort -n | awk '{a[NR] = $1} END {
		if (NR == 0) { print "-"; exit }
		if (NR % 2) print a[(NR + 1) / 2];
		else print int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}
fails() {
	awk -v n="$1" -v r="$2" '$1 == n && $2 == r && $4 == "fail"' "$RES" | wc -l
}
mbps() { # bytes usec
	[ "$2" = - ] && { echo -; return; }
	awk -v b="$1" -v u="$2" 'BEGIN { printf "%.1f", b / u }'
}
ratio() {
	[ "$1" = - ] || [ "$2" = - ] && { echo -; return; }
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", b / a }'
}

# paired NAME ROW [REF]: the median over repetitions of (REF time / NAME
# time) in the same repetition, REF dnsmasq unless given; steadier than
# a ratio of medians when the load changes during a run.
paired() {
	awk -v n="$1" -v r="$2" -v ref="${3:-dnsmasq}" '$2 == r && $4 == "ok" {
		k = $1 SUBSEP (++cnt[$1]); t[k] = $3 }
		END { for (i = 1; i <= cnt[n]; i++) {
			a = t[n SUBSEP i]; b = t[ref SUBSEP i];
			if (a > 0 && b > 0) print b / a } }' "$RES" | sort -g |
		awk '{a[NR] = $1} END { if (NR == 0) { print "-"; exit }
			m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2;
			printf "%.2fx", m }'
}

echo
echo "load average at the start: $LOAD0; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); nproc: $(nproc);" \
	"cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo);" \
	"kernel: $(uname -r); reps: $REPS (parallel: $prep)"
echo
echo "| test | server | median | MB/s | vs dnsmasq (medians) | vs dnsmasq (paired) | failed runs |"
echo "|---|---|---|---|---|---|---|"
for row in lockstep window16 pi4mib; do
	case $row in
	lockstep) bytes=$((64 << 20)) label="64 MiB, curl lock-step, blksize 1468" ;;
	window16) bytes=$((64 << 20)) label="64 MiB, atftp windowsize 16, blksize 1468" ;;
	pi4mib) bytes=$((4 << 20)) label="4 MiB, Pi probe + fetch at 1468" ;;
	esac
	d=$(median dnsmasq $row)
	for srv in $(pnb_order 1) $PEERS; do
		m=$(median $srv $row)
		echo "| $label | $srv | $([ "$m" = - ] && echo - || awk -v u="$m" 'BEGIN {printf "%.3f s", u / 1e6}') |" \
			"$(mbps $bytes "$m") | $(ratio "$m" "$d") | $(paired $srv $row) |" \
			"$(fails $srv $row)/$REPS |"
	done
done
for srv in $(pnb_order 1) ${PEERS/atftpd/}; do
	[ "$PAR" = 0 ] && break
	m=$(median $srv parallel)
	pf=$(awk -v n=$srv '$1 == n && $2 == "parfail" {s += $3} END {print s + 0}' "$RES")
	echo "| $PAR x $PAR_MB MiB in parallel, blksize 1468 | $srv |" \
		"$([ "$m" = - ] && echo - || awk -v u="$m" 'BEGIN {printf "%.2f s", u / 1e6}') |" \
		"$(mbps $((PAR * PAR_MB << 20)) "$m") | $(ratio "$m" "$(median dnsmasq parallel)") |" \
		"$(paired $srv parallel) |" \
		"$(fails $srv parallel)/$prep runs, $pf transfers failed |"
done
for srv in $(pnb_order 1); do
	[ "$PAR" = 0 ] && break
	hwm=$(awk -v n=$srv '$1 == n && $2 == "hwm" {print $3}' "$RES" | sort -n | tail -1)
	echo
	echo "$srv peak RSS (VmHWM) during the parallel run: ${hwm:-?} KiB"
done
if [ -n "$PNB_BIN_B" ]; then
	echo
	echo "pinetboot: $PNB_BIN; pinetboot-b: $PNB_BIN_B"
	echo
	echo "| test | pinetboot median | pinetboot-b median | pinetboot vs pinetboot-b (medians) | (paired) |"
	echo "|---|---|---|---|---|"
	rows="lockstep window16 pi4mib parallel"
	[ "$PAR" = 0 ] && rows="lockstep window16 pi4mib"
	for row in $rows; do
		a=$(median pinetboot $row)
		b=$(median pinetboot-b $row)
		echo "| $row | $(awk -v u="$a" 'BEGIN {printf "%.3f s", u / 1e6}') |" \
			"$(awk -v u="$b" 'BEGIN {printf "%.3f s", u / 1e6}') |" \
			"$(ratio "$a" "$b") | $(paired pinetboot $row pinetboot-b) |"
	done
fi
# Raw timings (server row microseconds status), if asked for.
[ -n "${RAW_OUT:-}" ] && cp "$RES" "$RAW_OUT"
exit 0
