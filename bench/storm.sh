#!/usr/bin/env bash
# Boot storm: 100 emulated Raspberry Pis of mixed models (tests/tools/pi_emu
# -n 100 -m mix, powered on within one second: DHCP in server mode, then
# each model's TFTP file sequence) and 2 x86-64 QEMU PXE clients (SeaBIOS,
# iPXE ROM, DHCP, iPXE script, kernel and initramfs over TFTP, root over
# NFSv3, a marker from the root) all powered on within one second, against
#
#   pinetboot: one `pinetboot serve --dhcp server` with a shared TFTP root
#              (--tftp-root, the Pi files plus boot.ipxe, vmlinuz,
#              initrd.gz) and the QEMU clients' root as --export;
#   reference: dnsmasq configured as in the classic Raspberry Pi network
#              boot tutorial (dhcp-range, pxe-service=0,"Raspberry Pi
#              Boot", enable-tftp, tftp-root) plus --no-ping, and the
#              iPXE lines (dhcp-match 175 / dhcp-boot boot.ipxe), with
#              NFS-Ganesha (VFS, NFSv3 only, Graceless) serving the QEMU
#              clients' root.
#
# The stacks alternate, ROUNDS times each.  A round's time is the wall
# time from power-on until the last client finished (pi_emu exited and
# both QEMU guests powered off); a client fails if pi_emu reports it did
# not boot, or a guest did not print its marker from the NFS root.  Each
# round is bounded: pi_emu -T 60, QEMU 150 s.
#
#   bench/storm.sh [BUILD_DIR] [ROUNDS]
# PNB_STORM_STACKS narrows the stacks ("pinetboot", "reference");
# PNB_STORM_LOGS=DIR keeps the console, pi_emu and server logs.
# tests/e2e/boot_storm.sh runs one pinetboot round of it as a test.
# Servers on CPU 0, clients (pi_emu, both QEMUs) on CPU 1.  Needs root.
set -u
ROOT_DIR=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-build}
ROUNDS=${2:-2}
case $OUT in
/*) export PNB_OUT=$OUT ;;
*) export PNB_OUT=$ROOT_DIR/$OUT ;;
esac
STACKS=${PNB_STORM_STACKS:-pinetboot reference}
. "$ROOT_DIR/tests/lib/netns.sh"
. "$ROOT_DIR/tests/lib/guest.sh"
. "$ROOT_DIR/tests/lib/ganesha.sh"
. "$ROOT_DIR/tests/lib/dhcp.sh"
PNB=$PNB_OUT/pinetboot
EMU=$PNB_OUT/tools/pi_emu
NPI=${PNB_STORM_PIS:-100}
QEMU_LIMIT=150
nn_init storm
ADDR=198.18.0.1
S=$(nn_ns srv)
P=$(nn_ns pis)
nn_bridge "$S" br0 "$ADDR/24"
PIF=$(nn_port "$S" br0 "$P" 198.18.0.2/24)
TFTP=$NN_TMP/tftp
ROOT=$NN_TMP/root
mkdir -p "$TFTP" "$ROOT"

for x in "$PNB" "$EMU"; do
	[ -x "$x" ] || {
		echo "storm: $x missing (run make first)" >&2
		exit 2
	}
done
dh_tree "$TFTP"
guest_kernel amd64 || exit 2
guest_initramfs amd64 "$TFTP/initrd.gz" || exit 2
cp "$GUEST_KDIR/vmlinuz" "$TFTP/vmlinuz"
guest_rootfs amd64 "$ROOT" || exit 2
cat >"$ROOT/pnb/run" <<'EOF'
#!/bin/sh
grep -q '^[^ ]* / nfs .*vers=3' /proc/mounts &&
	echo "PNB-PASS: booted to marker on nfs root"
EOF
chmod 755 "$ROOT/pnb/run"
cat >"$TFTP/boot.ipxe" <<EOF
#!ipxe
kernel vmlinuz console=ttyS0 panic=-1 quiet pnb_mode=nfsroot pnb_ip=dhcp pnb_server=$ADDR pnb_path=$ROOT
initrd initrd.gz
boot
EOF
TAPS=()
for i in 1 2; do
	TAPS+=("$(guest_tap "$S" br0)") || exit 2
done

# stack_pinetboot / stack_reference: start the servers on CPU 0; set
# STACK_PIDS.
stack_pinetboot() {
	rm -rf "$NN_TMP/state"
	mkdir -p "$NN_TMP/state"
	nn_spawn "$S" "$NN_TMP/pnb.log" taskset -c 0 "$PNB" serve \
		--interface br0 --address "$ADDR" --state-dir "$NN_TMP/state" \
		--dhcp server --dhcp-range 198.18.0.20,198.18.0.250 \
		--ipxe-script boot.ipxe --tftp-root "$TFTP" --export "$ROOT" \
		--log-level warn
	STACK_PIDS=("$NN_LAST_PID")
	nn_wait_udp "$S" 67 && nn_wait_udp "$S" 69 && nn_wait_tcp "$S" 2049
}

stack_reference() {
	rm -f "$NN_TMP/dnsmasq.leases"
	ganesha_start "$S" "$ADDR" "$NN_TMP/ganesha" "$ROOT" || return 1
	STACK_PIDS=("$GANESHA_PID")
	# taskset on the unshare wrapper is inherited by rpcbind and ganesha.
	taskset -a -p -c 0 "$GANESHA_PID" >/dev/null
	for p in $(pgrep -P "$GANESHA_PID"); do
		taskset -a -p -c 0 "$p" >/dev/null
		for q in $(pgrep -P "$p"); do
			taskset -a -p -c 0 "$q" >/dev/null
		done
	done
	nn_spawn "$S" "$NN_TMP/dnsmasq.log" taskset -c 0 dnsmasq --no-daemon \
		--conf-file=/dev/null --port=0 --interface=br0 \
		--bind-interfaces --user=root --group=root \
		--pid-file="$NN_TMP/dnsmasq.pid" \
		--dhcp-range=198.18.0.20,198.18.0.250,255.255.255.0,12h \
		--dhcp-leasefile="$NN_TMP/dnsmasq.leases" --no-ping \
		--pxe-service=tag:!ipxe,0,"Raspberry Pi Boot" \
		--dhcp-match=set:ipxe,175 --dhcp-boot=tag:ipxe,boot.ipxe \
		--enable-tftp --tftp-root="$TFTP"
	STACK_PIDS+=("$NN_LAST_PID")
	nn_wait_udp "$S" 67 && nn_wait_udp "$S" 69
}

# since T0 T1: seconds from T0 to T1, one decimal.
since() {
	echo "$1 $2" | awk '{printf "%.1f", $2 - $1}'
}

# storm NAME ROUND: power everything on, wait for all; prints one line
# "NAME ROUND wall=S pis=OK/N qemu=OK/2 failures=F clashes=C pis_done=S
# qemu_done=S,S" (seconds after power-on).  failures counts the Pis that
# did not boot and the guests that did not reach their marker; clashes
# counts pairs of Pis that ended up with the same address (pi_emu fails
# the run for those too).
storm() {
	local name=$1 r=$2 t0 t1 i okq=0 okp pids=() emu log
	log=$NN_TMP/$name-$r
	t0=$(date +%s.%N)
	(
		ip netns exec "$P" taskset -c 1 "$EMU" -i "$PIF" -n "$NPI" \
			-m mix -b 1 -S 1000 -s -t -q -T 60 \
			>"$log-emu.log" 2>&1
		date +%s.%N >"$log-emu.end"
	) &
	emu=$!
	for i in 1 2; do
		(
			GUEST_NIC=e1000 GUEST_MAC=52:54:00:5e:00:0$i \
				guest_qemu amd64 "$S" "${TAPS[$((i - 1))]}" \
				"$log-qemu$i.log" "$QEMU_LIMIT" -boot n -device sga
			date +%s.%N >"$log-qemu$i.end"
		) &
		pids+=($!)
		sleep 0.3
	done
	# The QEMUs run on CPU 1 with the emulated Pis.
	for i in "${pids[@]}"; do
		for q in $(pgrep -P "$i"); do
			taskset -a -p -c 1 "$q" >/dev/null 2>&1
			for z in $(pgrep -P "$q"); do
				taskset -a -p -c 1 "$z" >/dev/null 2>&1
			done
		done
	done
	wait "$emu"
	for i in "${pids[@]}"; do
		wait "$i"
	done
	t1=$(date +%s.%N)
	okp=$(sed -n 's/^pi_emu: booted \([0-9]*\)\/.*/\1/p' "$log-emu.log")
	for i in 1 2; do
		grep -q '^PNB-PASS: booted to marker on nfs root' \
			"$log-qemu$i.log" && okq=$((okq + 1))
	done
	echo "$name $r wall=$(since "$t0" "$t1")" \
		"pis=${okp:-0}/$NPI qemu=$okq/2" \
		"failures=$((NPI - ${okp:-0} + 2 - okq))" \
		"clashes=$(grep -c '^pi_emu: FAIL pi[0-9]* and pi[0-9]* share' \
			"$log-emu.log")" \
		"pis_done=$(since "$t0" "$(cat "$log-emu.end")")" \
		"qemu_done=$(since "$t0" "$(cat "$log-qemu1.end")"),$(since \
			"$t0" "$(cat "$log-qemu2.end")")"
	if [ "${okp:-0}" != "$NPI" ]; then
		grep '^pi_emu: FAIL' "$log-emu.log" | grep -v ' share address ' |
			head -5 | sed 's/^/  /'
		grep '^pi_emu: FAIL' "$log-emu.log" | grep ' share address ' |
			head -5 | sed 's/^/  /'
	fi
	for i in 1 2; do
		grep -q '^PNB-PASS' "$log-qemu$i.log" ||
			echo "  qemu$i: $(grep -a '^PNB-\|iPXE\|DHCP\|TFTP\|No more' \
				"$log-qemu$i.log" | tail -3 | tr '\n' '|')"
	done
}

echo "storm: $(date -u +%F), nproc $(nproc)," \
	"$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)," \
	"load average $(cut -d' ' -f1-3 /proc/loadavg), $NPI Pis + 2 QEMU"
: >"$NN_TMP/results"
for r in $(seq "$ROUNDS"); do
	for name in $STACKS; do
		if "stack_$name"; then
			storm "$name" "$r" | tee -a "$NN_TMP/results"
		else
			echo "$name $r: stack did not start" |
				tee -a "$NN_TMP/results"
		fi
		for p in "${STACK_PIDS[@]}"; do
			nn_stop "$p"
		done
		sleep 1
	done
done
[ -n "${PNB_STORM_LOGS:-}" ] && mkdir -p "$PNB_STORM_LOGS" &&
	cp "$NN_TMP"/*.log "$PNB_STORM_LOGS/" 2>/dev/null

median() { sort -n | awk '{a[NR]=$1} END {if (NR) print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
for name in $STACKS; do
	w=$(awk -v n="$name" '$1 == n { sub("wall=", "", $3); print $3 }' \
		"$NN_TMP/results" | median)
	f=$(awk -v n="$name" '$1 == n { sub("failures=", "", $6); s += $6 }
		END { print s + 0 }' "$NN_TMP/results")
	pd=$(awk -v n="$name" '$1 == n { sub("pis_done=", "", $8); print $8 }' \
		"$NN_TMP/results" | median)
	c=$(awk -v n="$name" '$1 == n { sub("clashes=", "", $7); s += $7 }
		END { print s + 0 }' "$NN_TMP/results")
	echo "summary $name: median wall ${w:-?} s (Pis done ${pd:-?} s) over" \
		"$(grep -c "^$name [0-9]* wall" "$NN_TMP/results") rounds," \
		"total failures $f, address clashes $c"
done
