#!/usr/bin/env bash
# DHCP benchmark: full DISCOVER/OFFER/REQUEST/ACK exchanges (then RELEASE)
# from 64 clients at a time, each with a fresh MAC, against pinetboot
# (--dhcp server, leases fdatasync'ed to STATE/dhcp/leases, ARP conflict
# check on) and against dnsmasq (--no-ping, --dhcp-leasefile on),
# and kea-dhcp4 when installed (memfile lease database, persist on; not
# in scripts/packages.d because its package enables a system service),
# alternating in the same run; then the proxy-mode answer latency.
#   bench/dhcp.sh [BUILD_DIR] [ROUNDS] [SECS]
# Server on CPU 0, load generator on CPU 1.  Needs root.  Both servers keep
# their lease files under $BENCH_LEASE_DIR (default: the test's /tmp
# directory); set it to a tmpfs such as /dev/shm to take fsync cost out.
# PNB_BIN_B=/path/to/other/pinetboot adds a second pinetboot build to
# every round (the two take turns going first) and to the proxy latency,
# for a before/after comparison of two builds in one run; it prints the
# median of each and their ratio.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-build}
ROUNDS=${2:-3}
SECS=${3:-5}
export PNB_OUT=$ROOT/$OUT
. "$ROOT/tests/lib/netns.sh"
LOAD=$PNB_OUT/bench/dhcp_load
PNB=${PNB_BIN:-$PNB_OUT/pinetboot}
PNB_B=${PNB_BIN_B:-}
nn_init dhb
S=$(nn_ns srv)
C=$(nn_ns cli)
read -r SIF CIF < <(nn_veth "$S" 198.18.0.1/24 "$C" 198.18.0.2/24)
LEASES=${BENCH_LEASE_DIR:-$NN_TMP}/dhcp-bench-$$
mkdir -p "$LEASES"
RANGE_A=198.18.0.10
RANGE_B=198.18.0.250

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

run_pnb() { # [BINARY]
	rm -rf "$LEASES/state"
	nn_spawn "$S" "$NN_TMP/pnb.log" taskset -c 0 "${1:-$PNB}" serve --tftp off \
		--nfs off --interface "$SIF" --state-dir "$LEASES/state" \
		--dhcp server --dhcp-range "$RANGE_A,$RANGE_B" --log-level warn
	local pid=$NN_LAST_PID
	nn_wait_udp "$S" 67
	ip netns exec "$C" taskset -c 1 "$LOAD" -i "$CIF" -s 198.18.0.1 \
		-c 64 -t "$SECS" -g 1
	nn_stop "$pid"
}

run_dnsmasq() {
	rm -f "$LEASES/dnsmasq.leases"
	nn_spawn "$S" "$NN_TMP/dnsmasq.log" taskset -c 0 dnsmasq --no-daemon \
		--conf-file=/dev/null --port=0 --interface="$SIF" \
		--bind-interfaces --dhcp-range="$RANGE_A,$RANGE_B,255.255.255.0,1h" \
		--dhcp-authoritative --no-ping --dhcp-lease-max=100000 \
		--dhcp-leasefile="$LEASES/dnsmasq.leases" --user=root \
		--group=root --pid-file="$NN_TMP/dnsmasq.pid"
	local pid=$NN_LAST_PID
	nn_wait_udp "$S" 67
	ip netns exec "$C" taskset -c 1 "$LOAD" -i "$CIF" -s 198.18.0.1 \
		-c 64 -t "$SECS" -g 2
	nn_stop "$pid"
}

# Kea: memfile lease database persisted to a CSV file, raw sockets.
run_kea() {
	rm -f "$LEASES/kea.leases"*
	cat >"$NN_TMP/kea.json" <<KEA
{"Dhcp4": {
  "interfaces-config": {"interfaces": ["$SIF"], "dhcp-socket-type": "raw"},
  "lease-database": {"type": "memfile", "persist": true,
                     "name": "$LEASES/kea.leases", "lfc-interval": 3600},
  "valid-lifetime": 3600, "authoritative": true,
  "subnet4": [{"id": 1, "subnet": "198.18.0.0/24",
               "pools": [{"pool": "$RANGE_A - $RANGE_B"}]}],
  "loggers": [{"name": "kea-dhcp4", "severity": "WARN",
               "output_options": [{"output": "$NN_TMP/kea.log"}]}]
}}
KEA
	KEA_PIDFILE_DIR=$NN_TMP KEA_LOCKFILE_DIR=$NN_TMP nn_spawn "$S" \
		"$NN_TMP/kea.out" env KEA_PIDFILE_DIR="$NN_TMP" \
		KEA_LOCKFILE_DIR="$NN_TMP" taskset -c 0 kea-dhcp4 \
		-c "$NN_TMP/kea.json"
	local pid=$NN_LAST_PID
	sleep 1
	ip netns exec "$C" taskset -c 1 "$LOAD" -i "$CIF" -s 198.18.0.1 \
		-c 64 -t "$SECS" -g 4
	nn_stop "$pid"
}

HAVE_KEA=0
command -v kea-dhcp4 >/dev/null && HAVE_KEA=1
: >"$NN_TMP/kea.rates"
: >"$NN_TMP/pnb.rates"
: >"$NN_TMP/dnsmasq.rates"
: >"$NN_TMP/pnb_b.rates"
# pnb_round R WHICH: one pinetboot round, WHICH is a (PNB) or b (PNB_B).
pnb_round() {
	local line
	if [ "$2" = b ]; then
		line=$(run_pnb "$PNB_B")
		echo "round $1 pinetboot B: $line load $(cut -d' ' -f1 /proc/loadavg)"
		echo "$line" | awk '{print $6}' | tr -d '/s' >>"$NN_TMP/pnb_b.rates"
	else
		line=$(run_pnb)
		echo "round $1 pinetboot: $line load $(cut -d' ' -f1 /proc/loadavg)"
		echo "$line" | awk '{print $6}' | tr -d '/s' >>"$NN_TMP/pnb.rates"
	fi
}
for r in $(seq "$ROUNDS"); do
	order=a
	[ -n "$PNB_B" ] && order="a b" && [ $((r % 2)) = 0 ] && order="b a"
	for w in $order; do
		pnb_round "$r" "$w"
	done
	line=$(run_dnsmasq)
	echo "round $r dnsmasq:   $line load $(cut -d' ' -f1 /proc/loadavg)"
	echo "$line" | awk '{print $6}' | tr -d '/s' >>"$NN_TMP/dnsmasq.rates"
	if [ "$HAVE_KEA" = 1 ]; then
		line=$(run_kea)
		echo "round $r kea-dhcp4: $line"
		echo "$line" | awk '{print $6}' | tr -d '/s' >>"$NN_TMP/kea.rates"
	fi
done
P=$(median <"$NN_TMP/pnb.rates")
D=$(median <"$NN_TMP/dnsmasq.rates")
echo "median exchanges/s: pinetboot $P dnsmasq $D ratio $(awk -v p="$P" -v d="$D" 'BEGIN {printf "%.2f", d ? p/d : 0}')"
if [ "$HAVE_KEA" = 1 ]; then
	K=$(median <"$NN_TMP/kea.rates")
	echo "median exchanges/s: kea-dhcp4 $K; pinetboot/kea $(awk -v p="$P" -v k="$K" 'BEGIN {printf "%.2f", k ? p/k : 0}')"
else
	echo "kea-dhcp4: not installed, skipped"
fi
if [ -n "$PNB_B" ]; then
	B=$(median <"$NN_TMP/pnb_b.rates")
	echo "median exchanges/s: pinetboot $P pinetboot B ($PNB_B) $B ratio $(awk -v p="$P" -v b="$B" 'BEGIN {printf "%.2f", b ? p/b : 0}')"
fi

proxy_latency() { # BINARY
	rm -rf "$NN_TMP/state"
	nn_spawn "$S" "$NN_TMP/proxy.log" taskset -c 0 "$1" serve --tftp off \
		--nfs off --interface "$SIF" --state-dir "$NN_TMP/state" \
		--dhcp proxy --log-level warn
	local pid=$NN_LAST_PID
	nn_wait_udp "$S" 67
	ip netns exec "$C" taskset -c 1 "$LOAD" -i "$CIF" -s 198.18.0.1 -p \
		-m 1000 -g 3
	nn_stop "$pid"
}
if [ -z "$PNB_B" ]; then
	proxy_latency "$PNB"
else
	for r in $(seq "$ROUNDS"); do
		order="$PNB $PNB_B"
		[ $((r % 2)) = 0 ] && order="$PNB_B $PNB"
		for bin in $order; do
			echo "round $r proxy $bin: $(proxy_latency "$bin")"
		done
	done
fi
rm -rf "$LEASES"
