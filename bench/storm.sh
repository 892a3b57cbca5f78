#!/usr/bin/env bash
# Boot storm, TFTP half: N emulated Raspberry Pis of mixed models
# (tests/tools/pi_emu, which behaves as the firmware does: its own MAC and
# address per Pi, no client retransmission, bootcode.bin's 1 s patience)
# powered on within one second, each running its model's DHCP and TFTP
# file sequence, against
#
#   pinetboot  server mode: `pinetboot serve --dhcp server`;
#              proxy mode:  `pinetboot serve --dhcp proxy` beside a router;
#   dnsmasq    server mode: dnsmasq as in the classic Raspberry Pi network
#              boot tutorial (dhcp-range, pxe-service=0,"Raspberry Pi
#              Boot", enable-tftp) with --no-ping, so it does not spend
#              3 s pinging each new address, and --tftp-max=1000, since
#              its default of 50 transfers would refuse most of a storm;
#              proxy mode: the same as a proxy (dhcp-range=...,proxy)
#              beside the router.
#
# In proxy mode the router is dnsmasq in a namespace of its own with one
# reserved address per Pi (dhcp-host), as a site with Pi 3s must have: the
# ROMs and bootcode.bin never send a REQUEST, so a router without
# reservations hands two of them one address (reference §2.6,
# firmware#986), and those Pis fail whoever serves TFTP.
#
# The stacks alternate within each round.  Each line gives the Pis that
# booted, the wall time from power-on to the last file, the 99th
# percentile per model of the time from a Pi's first DISCOVER to its last
# file, and pinetboot's peak RSS (VmHWM).  Servers run on CPU 0, the
# emulator on CPU 1.  Every address is in 198.18.0.0/24, so a storm has at
# most 230 Pis, each with an address of its own.
#
#   bench/storm.sh [BUILD_DIR] [ROUNDS]
# PNB_STORM_PIS (200), PNB_STORM_MODES ("server proxy"),
# PNB_STORM_STACKS ("pinetboot dnsmasq"), PNB_STORM_LOSS (percent of the
# server's TFTP packets dropped at random by nftables, 0), PNB_STORM_LOGS
# (keep logs there).  tests/e2e/boot_storm.sh runs it as a test.  Needs
# root.
set -u
ROOT_DIR=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-build}
ROUNDS=${2:-2}
case $OUT in
/*) export PNB_OUT=$OUT ;;
*) export PNB_OUT=$ROOT_DIR/$OUT ;;
esac
NPI=${PNB_STORM_PIS:-200}
MODES=${PNB_STORM_MODES:-server proxy}
STACKS=${PNB_STORM_STACKS:-pinetboot dnsmasq}
LOSS=${PNB_STORM_LOSS:-0}
. "$ROOT_DIR/tests/lib/netns.sh"
. "$ROOT_DIR/tests/lib/dhcp.sh"
PNB=$PNB_OUT/pinetboot
EMU=$PNB_OUT/tools/pi_emu
for x in "$PNB" "$EMU"; do
	[ -x "$x" ] || {
		echo "storm: $x missing (run make first)" >&2
		exit 2
	}
done
if [ "$NPI" -gt 230 ] || [ "$NPI" -lt 1 ]; then
	echo "storm: PNB_STORM_PIS=$NPI: 1..230 Pis fit 198.18.0.20-.250," \
		"the only addresses tests may use" >&2
	exit 2
fi
nn_init storm
ADDR=198.18.0.1
S=$(nn_ns srv)
P=$(nn_ns pis)
R=$(nn_ns router)
nn_bridge "$S" br0 "$ADDR/24"
PIF=$(nn_port "$S" br0 "$P")
RIF=$(nn_port "$S" br0 "$R" 198.18.0.254/24)
TFTP=$NN_TMP/tftp
dh_tree "$TFTP"

# The router's reservations: pi_emu's MAC for Pi i of "-m mix -b 1".
HOSTS=()
ouis=(b8:27:eb b8:27:eb b8:27:eb dc:a6:32 2c:cf:67)
for i in $(seq 0 $((NPI - 1))); do
	HOSTS+=("--dhcp-host=$(printf '%s:01:%02x:%02x' "${ouis[$((i % 5))]}" \
		$((i >> 8)) $((i & 255))),198.18.0.$((20 + i))")
done

# loss_on: drop LOSS % of the server's UDP packets but DHCP's (the
# kernel has no netem; nftables can drop at random).
loss_on() {
	[ "$LOSS" = 0 ] && return 0
	ip netns exec "$S" nft -f - <<EOF
table inet storm_loss {
	chain out {
		type filter hook output priority 0;
		udp sport != 67 numgen random mod 100 < $LOSS drop
	}
}
EOF
}

loss_off() {
	ip netns exec "$S" nft delete table inet storm_loss 2>/dev/null
	return 0
}

# router_start: the site's DHCP server for proxy mode.
router_start() {
	rm -f "$NN_TMP/router.leases"
	nn_spawn "$R" "$NN_TMP/router.log" taskset -c 0 dnsmasq --no-daemon \
		--conf-file=/dev/null --port=0 --interface="$RIF" \
		--bind-interfaces --user=root --group=root \
		--pid-file="$NN_TMP/router.pid" --no-ping --dhcp-authoritative \
		--dhcp-range=198.18.0.20,198.18.0.250,255.255.255.0,12h \
		--dhcp-leasefile="$NN_TMP/router.leases" "${HOSTS[@]}"
	STACK_PIDS+=("$NN_LAST_PID")
	nn_wait_udp "$R" 67
}

# stack_START NAME MODE: start the servers; set STACK_PIDS, SRV_PID.
stack_start() {
	STACK_PIDS=()
	SRV_PID=
	if [ "$2" = proxy ]; then
		router_start || return 1
	fi
	case $1-$2 in
	pinetboot-*)
		rm -rf "$NN_TMP/state"
		mkdir -p "$NN_TMP/state"
		nn_spawn "$S" "$NN_TMP/srv.log" taskset -c 0 "$PNB" serve \
			--interface br0 --address "$ADDR" \
			--state-dir "$NN_TMP/state" --dhcp "$2" \
			--dhcp-range 198.18.0.20,198.18.0.250 --tftp-root "$TFTP" \
			--nfs off --log-level warn
		SRV_PID=$NN_LAST_PID
		;;
	dnsmasq-server)
		rm -f "$NN_TMP/dnsmasq.leases"
		nn_spawn "$S" "$NN_TMP/srv.log" taskset -c 0 dnsmasq \
			--no-daemon --conf-file=/dev/null --port=0 \
			--interface=br0 --bind-interfaces --user=root \
			--group=root --pid-file="$NN_TMP/dnsmasq.pid" \
			--dhcp-range=198.18.0.20,198.18.0.250,255.255.255.0,12h \
			--dhcp-leasefile="$NN_TMP/dnsmasq.leases" --no-ping \
			--pxe-service=0,"Raspberry Pi Boot" --enable-tftp \
			--tftp-root="$TFTP" --tftp-max=1000
		;;
	dnsmasq-proxy)
		nn_spawn "$S" "$NN_TMP/srv.log" taskset -c 0 dnsmasq \
			--no-daemon --conf-file=/dev/null --port=0 \
			--interface=br0 --bind-interfaces --user=root \
			--group=root --pid-file="$NN_TMP/dnsmasq.pid" \
			--dhcp-range=198.18.0.0,proxy \
			--pxe-service=0,"Raspberry Pi Boot" --enable-tftp \
			--tftp-root="$TFTP" --tftp-max=1000
		;;
	esac
	STACK_PIDS+=("$NN_LAST_PID")
	nn_wait_udp "$S" 69
}

# p99 MODEL LOG: the 99th percentile of the per-Pi times, in seconds.
p99() {
	sed -n "s/^pi_emu: result pi[0-9]* $1 ok ms=\([0-9]*\)/\1/p" "$2" |
		sort -n | awk '{a[NR] = $1} END {
			if (!NR) { print "-"; exit }
			i = int(NR * 0.99 + 0.999); if (i > NR) i = NR
			printf "%.1f", a[i] / 1000 }'
}

# storm NAME MODE ROUND: one power-on of all Pis; one result line.
storm() {
	local log=$NN_TMP/$1-$2-$3 s=() ok rss=- m p
	[ "$2" = server ] && s=(-s)
	loss_on
	ip netns exec "$P" taskset -c 1 "$EMU" -i "$PIF" -n "$NPI" -m mix \
		-b 1 -S 1000 "${s[@]}" -t -q -T 60 -R "$TFTP" >"$log-emu.log" 2>&1
	loss_off
	if [ -n "$SRV_PID" ]; then
		for p in $(pgrep -P "$SRV_PID") "$SRV_PID"; do
			if grep -q pinetboot "/proc/$p/cmdline" 2>/dev/null; then
				rss=$(sed -n 's/^VmHWM:[^0-9]*\([0-9]*\) kB/\1/p' \
					"/proc/$p/status")
			fi
		done
	fi
	ok=$(sed -n 's/^pi_emu: booted \([0-9]*\)\/.*/\1/p' "$log-emu.log")
	printf '%s %s %s loss=%s%% pis=%s/%s wall=%.1f' "$1" "$2" "$3" \
		"$LOSS" "${ok:-0}" "$NPI" "$(sed -n \
			's/^pi_emu: last-file-ms=\([0-9]*\)/\1/p' \
			"$log-emu.log" | awk '{print $1 / 1000}')"
	for m in 3b 3b+ bootcode pi4 pi5; do
		printf ' p99_%s=%s' "$m" "$(p99 "$m" "$log-emu.log")"
	done
	printf ' rss_kb=%s\n' "$rss"
	if [ "${ok:-0}" != "$NPI" ]; then
		grep '^pi_emu: FAIL' "$log-emu.log" | head -5 | sed 's/^/  /'
		grep '^pi_emu: wire' "$log-emu.log" | sed 's/^/  /'
	fi
}

echo "storm: $(date -u +%F), nproc $(nproc)," \
	"$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)," \
	"load average $(cut -d' ' -f1-3 /proc/loadavg), $NPI Pis, loss $LOSS %"
: >"$NN_TMP/results"
for r in $(seq "$ROUNDS"); do
	for mode in $MODES; do
		for name in $STACKS; do
			if stack_start "$name" "$mode"; then
				storm "$name" "$mode" "$r" |
					tee -a "$NN_TMP/results"
			else
				echo "$name $mode $r: stack did not start" |
					tee -a "$NN_TMP/results"
			fi
			for p in "${STACK_PIDS[@]}"; do
				nn_stop "$p"
			done
			if [ -n "${PNB_STORM_LOGS:-}" ]; then
				mkdir -p "$PNB_STORM_LOGS"
				cp "$NN_TMP/srv.log" \
					"$PNB_STORM_LOGS/$name-$mode-$r-srv.log"
				cp "$NN_TMP/$name-$mode-$r-emu.log" \
					"$PNB_STORM_LOGS/" 2>/dev/null
			fi
			sleep 1
		done
	done
done
for mode in $MODES; do
	for name in $STACKS; do
		lines=$(awk -v n="$name" -v m="$mode" '$1 == n && $2 == m' \
			"$NN_TMP/results")
		[ -n "$lines" ] || continue
		booted=$(echo "$lines" | sed 's/.* pis=\([0-9]*\)\/\([0-9]*\).*/\1 \2/' |
			awk '{ok += $1; all += $2} END {print ok "/" all}')
		med=$(echo "$lines" | sed 's/.* wall=\([0-9.]*\).*/\1/' | sort -n |
			awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')
		echo "summary $name $mode: $booted Pis booted over" \
			"$(echo "$lines" | wc -l) rounds, median wall $med s"
	done
done
