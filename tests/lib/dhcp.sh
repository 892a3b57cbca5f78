# Helpers shared by the DHCP end-to-end tests (source after netns.sh).
#
# dh_tree DIR: a TFTP tree with what every emulated model fetches.  The
# serials of the Pi 4 and Pi 5 that dhcp_server.sh emulates with -b 4 and
# -b 5 get a prefix directory (a link to the root), so both prefix rules
# of reference §3.3 run: kept when start4.elf (config.txt on a Pi 5) is
# there, cleared otherwise.
dh_tree() {
	local d=$1 f
	mkdir -p "$d"
	for f in bootcode.bin config.txt start.elf fixup.dat cmdline.txt \
		start4.elf fixup4.dat bcm2710-rpi-3-b.dtb bcm2711-rpi-4-b.dtb \
		bcm2712-rpi-5-b.dtb; do
		head -c $((1000 + RANDOM % 3000)) /dev/urandom >"$d/$f"
	done
	# Kernels span many blocks; 1468 * 40 + 7 tests a partial last block.
	head -c 58727 /dev/urandom >"$d/kernel8.img"
	head -c 58727 /dev/urandom >"$d/kernel_2712.img"
	ln -s . "$d/10040000"
	ln -s . "$d/10050000"
}

# dh_has_tftp: does this tree's pinetboot serve TFTP itself?
dh_has_tftp() {
	[ -f "$NN_ROOT/src/server/tftp/tftp.c" ]
}

# dh_tftp NS ADDR DIR LOG: the TFTP server for the emulated Pis: pinetboot's
# own (dh_serve then passes --tftp-root DIR) once it has one, else dnsmasq
# as a TFTP-only server on ADDR.
dh_tftp() {
	DH_TFTP_ROOT=$3
	dh_has_tftp && return 0
	nn_spawn "$1" "$4" dnsmasq --no-daemon --conf-file=/dev/null \
		--port=0 --enable-tftp --tftp-root="$3" \
		--listen-address="$2" --bind-interfaces --tftp-max=1000 \
		--user=root --group=root --pid-file="$NN_TMP/tftp-$RANDOM.pid"
	DH_TFTP_PID=$NN_LAST_PID
	nn_wait_udp "$1" 69
}

# dh_serve NS LOG ARGS...: pinetboot serve with DHCP (and TFTP when
# dh_tftp chose pinetboot's); sets DH_PID.
dh_serve() {
	local ns=$1 log=$2 tftp=(--tftp off)
	shift 2
	if [ -n "${DH_TFTP_ROOT:-}" ] && dh_has_tftp; then
		tftp=(--tftp on --tftp-root "$DH_TFTP_ROOT")
	fi
	nn_spawn "$ns" "$log" "$PNB_BIN" serve "${tftp[@]}" --nfs off "$@"
	DH_PID=$NN_LAST_PID
	nn_wait_udp "$ns" 67
}

# dh_udhcpc NS IF OUT: one busybox udhcpc run; OUT gets "ip serverid".
dh_udhcpc() {
	local script="$NN_TMP/udhcpc-$RANDOM.sh"
	printf '#!/bin/sh\n[ "$1" = bound ] && echo "$ip $serverid" > %s\nexit 0\n' \
		"$3" >"$script"
	chmod +x "$script"
	ip netns exec "$1" busybox udhcpc -i "$2" -f -q -n -t 4 -T 1 \
		-s "$script" >"$3.log" 2>&1
}

# dh_stop_clean PID NAME: SIGTERM, then PASS if the process exits 0 (an
# ASan build reports leaks through its exit status).
dh_stop_clean() {
	local rc
	kill -TERM "$1" 2>/dev/null
	wait "$1"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		t_pass "$2"
	else
		t_fail "$2" "exit status $rc"
	fi
}

# dh_emu NAME NS ARGS...: run pi_emu, PASS/FAIL on its exit status.
dh_emu() {
	local name=$1 ns=$2 log="$NN_TMP/emu-$RANDOM.log"
	shift 2
	if ip netns exec "$ns" "$PNB_TOOLS/pi_emu" "$@" >"$log" 2>&1; then
		[ -n "${DH_VERBOSE:-}" ] && cat "$log"
		t_pass "$name"
	else
		grep -v '^pi_emu: pi' "$log" | tail -20
		t_fail "$name" "$(tail -1 "$log")"
	fi
	DH_EMU_LOG=$log
}
