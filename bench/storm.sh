#!/usr/bin/env bash
# Boot storm: N emulated Raspberry Pis of mixed models (tests/tools/pi_emu,
# which behaves as the firmware does: its own MAC and address per Pi, no
# client retransmission, bootcode.bin's 1 s patience) powered on within
# one second, each running its model's DHCP and TFTP file sequence and
# then, as Linux does, its kernel's DHCP, the mount of the root that
# cmdline.txt names and the NFS calls of a traced boot
# (tests/data/nfs/README.md), against
#
#   pinetboot  server mode: `pinetboot serve --dhcp server`;
#              proxy mode:  `pinetboot serve --dhcp proxy` beside a router;
#   dnsmasq    server mode: dnsmasq as in the classic Raspberry Pi network
#              boot tutorial (dhcp-range, pxe-service=0,"Raspberry Pi
#              Boot", enable-tftp) with --no-ping, so it does not spend
#              3 s pinging each new address, and --tftp-max=1000, since
#              its default of 50 transfers would refuse most of a storm;
#              proxy mode: the same as a proxy (dhcp-range=...,proxy)
#              beside the router; with the NFS half, NFS-Ganesha
#              (tests/lib/ganesha.sh: VFS, NFSv3 only, no grace period)
#              exporting every client's root.
#
# With the NFS half (the default) every Pi is a client provisioned by
# `pinetboot client add` from one small Raspberry Pi OS-shaped image
# whose root is the one the trace was recorded from (tests/lib/a64_image.sh)
# and whose boot files are stand-ins with the real names; its TFTP files
# and its root are its own.  In proxy mode each client.conf has the
# address the router reserves for its MAC: pinetboot exports a root only
# to a static address or to one it saw ACKed (docs/config.md).  Objects
# the trace creates are removed from every root before each storm.
#
# In proxy mode the router is dnsmasq in a namespace of its own with one
# reserved address per Pi (dhcp-host), as a site with Pi 3s must have: the
# ROMs and bootcode.bin never send a REQUEST, so a router without
# reservations hands two of them one address (reference §2.6,
# firmware#986), and those Pis fail whoever serves TFTP.
#
# The stacks alternate within each round.  Each line gives the Pis that
# booted, the wall time from power-on to the last file (wall), to the
# last root mount (mount) and to the end of the last replay (end), the
# 99th percentile per model of the time from a Pi's first DISCOVER to its
# last file (p99_MODEL) and to its root mount (p99m_MODEL), of the Linux
# half over all Pis (p99_linux: from the last file to the end of the
# replay), and pinetboot's peak RSS (VmHWM).  Servers run on CPU 0, the
# emulator on CPU 1.  Every address is in 198.18.0.0/24, so a storm has
# at most 230 Pis, each with an address of its own.
#
#   bench/storm.sh [BUILD_DIR] [ROUNDS]
# PNB_STORM_PIS (128 with the NFS half, else 200), PNB_STORM_MODES
# ("server proxy"),
# PNB_STORM_STACKS ("pinetboot dnsmasq"), PNB_STORM_NFS (1: the NFS half;
# 0: firmware only, TFTP from one shared tree), PNB_STORM_TRACE (the
# trace, tests/data/nfs/boot-arm64.trace), PNB_STORM_LOSS (percent of the
# server's TFTP packets dropped at random by nftables, 0),
# PNB_STORM_PI_DELAY (pinetboot's BCM2837 reply delay in ms, to see what
# it costs; its default, 2000, otherwise), PNB_STORM_LOGS
# (keep logs there).  tests/e2e/boot_storm.sh runs it as a test.  Needs
# root; the NFS half needs the arm64 busybox of the guest cache
# (PNB_GUEST_CACHE, fetched with apt-get download on first use).
set -u
ROOT_DIR=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-build}
ROUNDS=${2:-2}
case $OUT in
/*) export PNB_OUT=$OUT ;;
*) export PNB_OUT=$ROOT_DIR/$OUT ;;
esac
NPI=${PNB_STORM_PIS:-}
MODES=${PNB_STORM_MODES:-server proxy}
STACKS=${PNB_STORM_STACKS:-pinetboot dnsmasq}
LOSS=${PNB_STORM_LOSS:-0}
NFS=${PNB_STORM_NFS:-1}
PI_DELAY=${PNB_STORM_PI_DELAY:-}
# Defaults that keep a round short; up to 230 fit the addresses tests may
# use (PNB_STORM_PIS=230).
if [ -z "$NPI" ]; then
	NPI=200
	[ "$NFS" = 1 ] && NPI=128
fi
TRACE=${PNB_STORM_TRACE:-$ROOT_DIR/tests/data/nfs/boot-arm64.trace}
. "$ROOT_DIR/tests/lib/netns.sh"
. "$ROOT_DIR/tests/lib/dhcp.sh"
if [ "$NFS" = 1 ]; then
	. "$ROOT_DIR/tests/lib/guest.sh"
	. "$ROOT_DIR/tests/lib/a64_image.sh"
	. "$ROOT_DIR/tests/lib/ganesha.sh"
fi
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
STATE=$NN_TMP/state

# Pi i of "pi_emu -m mix -b 1": its MAC, its serial (the Pi 2/3 rule,
# b8:27:eb and the serial's low 24 bits, for every model) and the
# router's reservation for it.
MACS=()
SERIALS=()
HOSTS=()
ouis=(b8:27:eb b8:27:eb b8:27:eb dc:a6:32 2c:cf:67)
for i in $(seq 0 $((NPI - 1))); do
	MACS+=("$(printf '%s:01:%02x:%02x' "${ouis[$((i % 5))]}" \
		$((i >> 8)) $((i & 255)))")
	SERIALS+=("$(printf '%08x' $((0x10010000 | i)))")
	HOSTS+=("--dhcp-host=${MACS[$i]},198.18.0.$((20 + i))")
done

# storm_clients: the image (the traced root, stand-in boot files with
# the real names for every model), one client per Pi, and the TFTP root:
# bootcode.bin for the ROMs and, for the reference's TFTP and pi_emu -R,
# each serial's directory as a link to its client's boot tree.
storm_clients() {
	local w=$NN_TMP/img f i p
	mkdir -p "$w/boot/overlays" "$w/root" "$TFTP" "$STATE"
	for f in bootcode.bin start.elf fixup.dat start4.elf fixup4.dat \
		bcm2710-rpi-3-b.dtb bcm2711-rpi-4-b.dtb bcm2712-rpi-5-b.dtb \
		overlays/bcm2712d0.dtbo; do
		head -c $((1000 + RANDOM % 3000)) /dev/urandom >"$w/boot/$f"
	done
	# 1468 * 40 + 7: many blocks and a partial last one.
	head -c 58727 /dev/urandom >"$w/boot/kernel8.img"
	head -c 58727 /dev/urandom >"$w/boot/kernel_2712.img"
	printf 'arm_64bit=1\nauto_initramfs=1\n' >"$w/boot/config.txt"
	echo "$A64_CMDLINE" >"$w/boot/cmdline.txt"
	a64_root "$w/root" pi4-arm &&
		a64_image "$NN_TMP/storm.img.xz" "$w/boot" "$w/root" || return 1
	cp "$w/boot/bootcode.bin" "$TFTP/"
	rm -rf "$w"
	"$PNB" image import "$NN_TMP/storm.img.xz" --name storm \
		--state-dir "$STATE" >"$NN_TMP/import.log" 2>&1 || {
		cat "$NN_TMP/import.log" >&2
		return 1
	}
	for i in $(seq 0 $((NPI - 1))); do
		# Copies: dnsmasq and Ganesha serve the same directories, and
		# the emulator compares every byte with the files there.
		"$PNB" client add "pi-${SERIALS[$i]}" --serial "${SERIALS[$i]}" \
			--mac "${MACS[$i]}" --image storm --server "$ADDR" \
			--root copy --state-dir "$STATE" \
			>>"$NN_TMP/add.log" 2>&1 || {
			tail -3 "$NN_TMP/add.log" >&2
			return 1
		}
		ln -s "$STATE/clients/pi-${SERIALS[$i]}/boot" \
			"$TFTP/${SERIALS[$i]}"
	done
	# What the traced boot creates, to remove before every storm.
	CREATED=()
	for p in $(sed -n 's/.* nfs3 \(CREATE\|MKDIR\|SYMLINK\|MKNOD\) .*=> OK obj=\([^ ]*\).*/\2/p' "$TRACE"); do
		CREATED+=("$(printf '%b' "${p//%/\\x}")")
	done
}

# storm_reset MODE: a fresh start for the next storm: no leases or other
# state of an earlier server, roots as provisioned, and in proxy mode the
# router's address in every client.conf (pinetboot exports a root only
# to a static address or one it saw ACKed).
storm_reset() {
	local i c p a
	find "$STATE" -mindepth 1 -maxdepth 1 ! -name clients ! -name images \
		-exec rm -rf {} +
	for i in $(seq 0 $((NPI - 1))); do
		c=$STATE/clients/pi-${SERIALS[$i]}
		for p in "${CREATED[@]}"; do
			rm -rf "${c:?}/root$p"
		done
		a=
		[ "$1" = proxy ] && a=198.18.0.$((20 + i))
		sed -i "s/^address *=.*/address = $a/" "$c/client.conf"
	done
}

if [ "$NFS" = 1 ]; then
	[ -f "$TRACE" ] || {
		echo "storm: no trace $TRACE" >&2
		exit 2
	}
	storm_clients || {
		echo "storm: could not provision the clients" >&2
		exit 1
	}
else
	dh_tree "$TFTP"
fi

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
		local nfs=(--nfs off) delay=()
		[ -n "$PI_DELAY" ] && delay=(--dhcp-pi-delay "$PI_DELAY")
		if [ "$NFS" = 1 ]; then
			nfs=()
		else
			rm -rf "$STATE"
			mkdir -p "$STATE"
		fi
		nn_spawn "$S" "$NN_TMP/srv.log" taskset -c 0 "$PNB" serve \
			--interface br0 --address "$ADDR" \
			--state-dir "$STATE" --dhcp "$2" \
			--dhcp-range 198.18.0.20,198.18.0.250 --tftp-root "$TFTP" \
			"${nfs[@]}" "${delay[@]}" --log-level warn
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
	nn_wait_udp "$S" 69 || return 1
	if [ "$NFS" = 1 ] && [ "$1" = dnsmasq ]; then
		rm -rf "$NN_TMP/ganesha"
		GANESHA_CPUS=0 ganesha_start "$S" "$ADDR" "$NN_TMP/ganesha" \
			"$STATE"/clients/*/root || return 1
		STACK_PIDS+=("$GANESHA_PID")
	fi
	if [ "$NFS" = 1 ] && [ "$1" = pinetboot ]; then
		nn_wait_tcp "$S" 2049
	fi
}

# p99 MODEL LOG [FIELD]: the 99th percentile of the per-Pi times (FIELD:
# ms, to the last file, or mount_ms), in seconds.
p99() {
	sed -n "s/^pi_emu: result pi[0-9]* $1 ok .*\<${3:-ms}=\([0-9]*\).*/\1/p" "$2" |
		sort -n | awk '{a[NR] = $1} END {
			if (!NR) { print "-"; exit }
			i = int(NR * 0.99 + 0.999); if (i > NR) i = NR
			printf "%.1f", a[i] / 1000 }'
}

# p99_linux LOG: the 99th percentile over all Pis of the Linux half (the
# kernel's DHCP, the mount and the replay: end_ms - ms), in seconds.
p99_linux() {
	sed -n 's/^pi_emu: result pi[0-9]* [^ ]* ok ms=\([0-9]*\) .*end_ms=\([0-9]*\).*/\1 \2/p' \
		"$1" | awk '{print $2 - $1}' | sort -n | awk '{a[NR] = $1} END {
			if (!NR) { print "-"; exit }
			i = int(NR * 0.99 + 0.999); if (i > NR) i = NR
			printf "%.2f", a[i] / 1000 }'
}

# ms_of KEY LOG: pi_emu's KEY=MS as seconds.
ms_of() {
	sed -n "s/^pi_emu: .*\<$1=\([0-9]*\).*/\1/p" "$2" | head -1 |
		awk '{printf "%.1f", $1 / 1000}'
}

# storm NAME MODE ROUND: one power-on of all Pis; one result line.
storm() {
	local log=$NN_TMP/$1-$2-$3 s=() k=() ok rss=- m p
	[ "$2" = server ] && s=(-s)
	[ "$NFS" = 1 ] && k=(-N "$TRACE" -K 60)
	loss_on
	ip netns exec "$P" taskset -c 1 "$EMU" -i "$PIF" -n "$NPI" -m mix \
		-b 1 -S 1000 "${s[@]}" -t -q -T 60 -R "$TFTP" "${k[@]}" \
		>"$log-emu.log" 2>&1
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
	printf '%s %s %s loss=%s%% pis=%s/%s wall=%s' "$1" "$2" "$3" \
		"$LOSS" "${ok:-0}" "$NPI" "$(ms_of last-file-ms "$log-emu.log")"
	if [ "$NFS" = 1 ]; then
		printf ' mount=%s end=%s' "$(ms_of last-mount-ms "$log-emu.log")" \
			"$(ms_of last-end-ms "$log-emu.log")"
	fi
	for m in 3b 3b+ bootcode pi4 pi5; do
		printf ' p99_%s=%s' "$m" "$(p99 "$m" "$log-emu.log")"
	done
	if [ "$NFS" = 1 ]; then
		for m in 3b 3b+ bootcode pi4 pi5; do
			printf ' p99m_%s=%s' "$m" \
				"$(p99 "$m" "$log-emu.log" mount_ms)"
		done
		printf ' p99_linux=%s' "$(p99_linux "$log-emu.log")"
	fi
	printf ' rss_kb=%s\n' "$rss"
	if [ "${ok:-0}" != "$NPI" ]; then
		grep '^pi_emu: FAIL' "$log-emu.log" | head -5 | sed 's/^/  /'
		grep '^pi_emu: wire' "$log-emu.log" | sed 's/^/  /'
		grep '^pi_emu: linux' "$log-emu.log" | sed 's/^/  /'
	fi
}

echo "storm: $(date -u +%F), nproc $(nproc)," \
	"$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)," \
	"load average $(cut -d' ' -f1-3 /proc/loadavg), $NPI Pis, loss $LOSS %" \
	"${PI_DELAY:+, BCM2837 reply delay of pinetboot $PI_DELAY ms}"
: >"$NN_TMP/results"
for r in $(seq "$ROUNDS"); do
	for mode in $MODES; do
		for name in $STACKS; do
			[ "$NFS" = 1 ] && storm_reset "$mode"
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
# median KEY LINES: the median of KEY=SECONDS over result lines.
median() {
	echo "$2" | sed -n "s/.* $1=\([0-9.]*\).*/\1/p" | sort -n |
		awk '{a[NR] = $1} END {
			if (!NR) { print "-"; exit }
			print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# The wall time that decides: to the last root mount with the NFS half,
# else to the last file.
KEY=wall
[ "$NFS" = 1 ] && KEY=mount
for mode in $MODES; do
	for name in $STACKS; do
		lines=$(awk -v n="$name" -v m="$mode" '$1 == n && $2 == m' \
			"$NN_TMP/results")
		[ -n "$lines" ] || continue
		booted=$(echo "$lines" | sed 's/.* pis=\([0-9]*\)\/\([0-9]*\).*/\1 \2/' |
			awk '{ok += $1; all += $2} END {print ok "/" all}')
		echo "summary $name $mode: $booted Pis booted over" \
			"$(echo "$lines" | wc -l) rounds, median $KEY" \
			"$(median "$KEY" "$lines") s"
	done
	# pinetboot's time over the reference's, round by round.
	ratios=$(awk -v m="$mode" -v k="$KEY" '$2 == m {
		for (i = 4; i <= NF; i++)
			if (index($i, k "=") == 1) t[$1, $3] = substr($i, length(k) + 2)
		r[$3] = 1
	} END {
		for (x in r)
			if (t["pinetboot", x] != "" && t["dnsmasq", x] + 0 > 0)
				printf "%s %.2f\n", x, t["pinetboot", x] / t["dnsmasq", x]
	}' "$NN_TMP/results" | sort -n | awk '{printf " %s", $2}')
	[ -n "$ratios" ] && echo "ratio pinetboot/dnsmasq $mode $KEY (per round):$ratios"
done
