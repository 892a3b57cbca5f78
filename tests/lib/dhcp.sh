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

# dh_udhcpc NS IF OUT [ARGS...]: one busybox udhcpc run (ARGS added to
# its command line); OUT gets "ip serverid".
dh_udhcpc() {
	local ns=$1 ifc=$2 out=$3 script="$NN_TMP/udhcpc-$RANDOM.sh"
	shift 3
	printf '#!/bin/sh\n[ "$1" = bound ] && echo "$ip $serverid" > %s\nexit 0\n' \
		"$out" >"$script"
	chmod +x "$script"
	ip netns exec "$ns" busybox udhcpc -i "$ifc" -f -q -n -t 4 -T 1 \
		-s "$script" "$@" >"$out.log" 2>&1
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

# dh_cap_start NS IF OUT: capture DHCP and ARP frames on IF (inside NS)
# into OUT with tests/tools/dhcp_cap, for at most 120 s; sets DH_CAP_PID.
dh_cap_start() {
	local i
	nn_spawn "$1" "$3" "$PNB_TOOLS/dhcp_cap" -i "$2" -t 120
	DH_CAP_PID=$NN_LAST_PID
	DH_CAP_OUT=$3
	for i in $(seq 50); do
		grep -q '^dhcp_cap: ready' "$3" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# dh_cap_stop: end the capture started by dh_cap_start; fails when the
# capture lost frames (its socket overflowed).
dh_cap_stop() {
	sleep 0.2
	nn_stop "$DH_CAP_PID"
	! grep -q '^dhcp_cap: frames [0-9]* dropped [1-9]' "$DH_CAP_OUT"
}

# dh_cap_replies CAP: one line per DHCP reply the client side received:
#   chaddr type eth_dst ip_dst flags yiaddr ip_src sport dport delay_ms
# delay_ms is the time from that chaddr's first DISCOVER (as the capture
# saw it leave) to the reply, -1 when no DISCOVER was captured.
dh_cap_replies() {
	awk '$1 == "dhcp" {
		delete f
		for (i = 2; i <= NF; i++) {
			k = $i; sub(/=.*/, "", k)
			v = $i; sub(/^[^=]*=/, "", v)
			f[k] = v
		}
		if (f["dir"] == "out" && f["op"] == 1 && f["type"] == 1) {
			if (!(f["chaddr"] in d))
				d[f["chaddr"]] = f["t"]
		} else if (f["dir"] == "in" && f["op"] == 2) {
			ms = (f["chaddr"] in d) ? \
			    int((f["t"] - d[f["chaddr"]]) * 1000 + 0.5) : -1
			print f["chaddr"], f["type"], f["eth_dst"], f["ip_dst"],
			    f["flags"], f["yiaddr"], f["ip_src"], f["sport"],
			    f["dport"], ms
		}
	}' "$1"
}

# dh_cap_followups CAP: one line per ARP frame the client side received
# at the Ethernet address of a client that sent a DISCOVER:
#   mac op spa tpa after_discover_ms after_reply_ms
# (after_reply_ms: since that client's last reply before it, -1 if none).
dh_cap_followups() {
	awk '{
		delete f
		for (i = 2; i <= NF; i++) {
			k = $i; sub(/=.*/, "", k)
			v = $i; sub(/^[^=]*=/, "", v)
			f[k] = v
		}
	}
	$1 == "dhcp" && f["dir"] == "out" && f["op"] == 1 && f["type"] == 1 {
		if (!(f["chaddr"] in d))
			d[f["chaddr"]] = f["t"]
	}
	$1 == "dhcp" && f["dir"] == "in" && f["op"] == 2 {
		r[f["chaddr"]] = f["t"]
	}
	$1 == "arp" && f["dir"] == "in" && (f["eth_dst"] in d) {
		m = f["eth_dst"]
		print m, f["op"], f["spa"], f["tpa"],
		    int((f["t"] - d[m]) * 1000 + 0.5),
		    (m in r) ? int((f["t"] - r[m]) * 1000 + 0.5) : -1
	}' "$1"
}

# dh_fw_discover NS IF MAC SERIAL [XID]: the DISCOVER a Pi 4's firmware
# sends when it powers on (its vendor class, option 97 with SERIAL), as a
# raw frame from MAC on IF in NS: a boot as the server sees it begin,
# without an emulated firmware waiting for the rest.
dh_fw_discover() {
	ip netns exec "$1" "$PNB_TOOLS/dhcp_forge" -i "$2" -t discover \
		-c "$3" -e "$4" -x "${5:-4}" -V PXEClient:Arch:00000:UNDI:002001 \
		>>"$NN_TMP/forge.log" 2>&1
}

# dh_serve_fleet NS LOG STATE: the whole server (DHCP server on br0 of
# NS at 198.18.0.1, TFTP, NFS) over the clients of STATE, as the fleet
# tests run it; sets SPID and waits for TFTP.  Fails, printing LOG, when
# it does not start.
dh_serve_fleet() {
	nn_spawn "$1" "$2" "$PNB_BIN" serve --interface br0 \
		--address 198.18.0.1 --state-dir "$3" --dhcp server \
		--dhcp-range 198.18.0.100,198.18.0.150 --dhcp-probe 0
	SPID=$NN_LAST_PID
	nn_wait_udp "$1" 69 || {
		cat "$2"
		return 1
	}
}
