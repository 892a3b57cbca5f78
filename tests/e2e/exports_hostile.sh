#!/usr/bin/env bash
# Who gets a provisioned Pi's root and boot exports.  A hostile host on the
# boot LAN (198.18.0.2, not a client) reads the client's files over TFTP
# and forges DHCP with the client's MAC; none of it may move an export to
# its address.  Every MOUNT is a real MNT call from a reserved port
# (tests/tools/mnt_call), every forged frame a raw Ethernet frame
# (tests/tools/dhcp_forge).
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/dhcp.sh"
nn_init exh

S=$(nn_ns srv)
A=$(nn_ns attacker)
F=$(nn_ns fixed)
nn_bridge "$S" br0 198.18.0.1/24
AIF=$(nn_port "$S" br0 "$A" 198.18.0.2/24)
FIF=$(nn_port "$S" br0 "$F" 198.18.0.50/24)
st=$NN_TMP/state

# client NAME SERIAL MAC [ADDRESS]: a provisioned client's tree and record.
# An empty MAC makes a record with a serial only.
client() {
	local dir=$st/clients/$1
	mkdir -p "$dir/boot" "$dir/root/etc"
	echo "console=serial0,115200 root=/dev/nfs" >"$dir/boot/cmdline.txt"
	echo "$1" >"$dir/root/etc/hostname"
	printf 'serial = %s\nimage = test\n' "$2" >"$dir/client.conf"
	[ -n "$3" ] && echo "mac = $3" >>"$dir/client.conf"
	[ -n "${4:-}" ] && echo "address = $4" >>"$dir/client.conf"
	return 0
}
# mnt NS NAME [SOURCE]: MNT of client NAME's root from namespace NS
# (from address SOURCE); 0 = granted.
mnt() {
	ip netns exec "$1" "$PNB_TOOLS/mnt_call" 198.18.0.1 \
		"$st/clients/$2/root" ${3:+"$3"} >"$NN_TMP/mnt.out" 2>&1
}
refused() {
	mnt "$@"
	[ $? -eq 1 ]
}
# forge NS IF ARGS...: one raw DHCP frame from namespace NS.
forge() {
	local ns=$1 ifc=$2
	shift 2
	ip netns exec "$ns" "$PNB_TOOLS/dhcp_forge" -i "$ifc" "$@"
}
# serve MODE LOG ARGS...: pinetboot with DHCP MODE, TFTP and NFS; sets PID.
serve() {
	local mode=$1 log=$2
	shift 2
	nn_spawn "$S" "$log" "$PNB_BIN" serve --interface br0 \
		--address 198.18.0.1 --state-dir "$st" --dhcp "$mode" \
		--log-level debug "$@"
	PID=$NN_LAST_PID
	nn_wait_udp "$S" 67 && nn_wait_udp "$S" 69 && nn_wait_tcp "$S" 2049 ||
		{ cat "$log"; t_fail "pinetboot $mode starts"; exit 1; }
}

# --- The issue's scenario: a static address is final. ---
client fixed 1234abcd dc:a6:32:00:00:50 198.18.0.50
serve server "$NN_TMP/server.log" --dhcp-range 198.18.0.100,198.18.0.199
t_check "static: the client mounts its root from its own address" \
	mnt "$F" fixed
t_check "static: the attacker's MOUNT is refused" refused "$A" fixed
ip netns exec "$A" curl -sf -o "$NN_TMP/cmdline" \
	tftp://198.18.0.1/1234abcd/cmdline.txt
t_check "static: the attacker reads cmdline.txt over TFTP" \
	grep -q root=/dev/nfs "$NN_TMP/cmdline"
t_check "static: after that TFTP read the attacker's MOUNT is still refused" \
	refused "$A" fixed
forge "$A" "$AIF" -t request -c dc:a6:32:00:00:50 -x 5001 \
	-s 198.18.0.1 -r 198.18.0.2
sleep 0.3
t_check "static: after a forged REQUEST for its address, still refused" \
	refused "$A" fixed
t_check "static: the client still mounts its root" mnt "$F" fixed
t_check "static: no export ever went to the attacker" \
	bash -c "! grep -q 'event=export.*198.18.0.2' '$NN_TMP/server.log'"
dh_stop_clean "$PID" "static: clean exit"

# --- Server mode: exports follow only what pinetboot itself ACKed. ---
# "dyn" has a MAC and no address; "ser" only a serial (the emulated Pi 4
# of pi_emu -b 7: serial 10070000, MAC dc:a6:32:07:00:00).
P=$(nn_ns pis)
O=$(nn_ns os)
PIF=$(nn_port "$S" br0 "$P")
OIF=$(nn_port "$S" br0 "$O")
ip -n "$A" addr add 198.18.0.3/24 dev "$AIF"
client dyn 5678abcd dc:a6:32:00:00:60
client ser 10070000 ""
serve server "$NN_TMP/server2.log" --dhcp-range 198.18.0.100,198.18.0.199
forge "$A" "$AIF" -t request -c dc:a6:32:00:00:60 -x 5002 \
	-s 198.18.0.1 -r 198.18.0.2
sleep 0.3
t_check "server: a REQUEST for a foreign address is NAKed" \
	grep -q 'xid=20482 event=nak' "$NN_TMP/server2.log"
t_check "server: the NAKed REQUEST did not export the root" \
	refused "$A" dyn 198.18.0.2
forge "$A" "$AIF" -t request -c dc:a6:32:00:00:60 -x 5003 \
	-s 198.18.0.254 -r 198.18.0.3
sleep 0.3
t_check "server: a REQUEST to another server did not export the root" \
	refused "$A" dyn 198.18.0.3
ip netns exec "$A" curl -sf -o /dev/null tftp://198.18.0.1/5678abcd/cmdline.txt
t_check "server: a TFTP read under its serial did not export the root" \
	refused "$A" dyn
# The real boot: the firmware (pi_emu) and then the OS (udhcpc) with the
# client's MAC.  The OS port stays down while the firmware uses the MAC.
ip -n "$O" link set "$OIF" down
dh_emu "server: the serial-only Pi 4 firmware boots" "$P" -i "$PIF" \
	-m pi4 -b 7 -s -T 20
ip -n "$O" link set "$OIF" address dc:a6:32:07:00:00 up
dh_udhcpc "$O" "$OIF" "$NN_TMP/os.out"
read -r addr _ <"$NN_TMP/os.out" 2>/dev/null
t_check "server: the OS leases an address (${addr:-none})" test -n "${addr:-}"
ip -n "$O" addr add "${addr:-198.18.0.99}/24" dev "$OIF"
t_check "server: the OS mounts its root from the leased address" \
	mnt "$O" ser
t_check "server: the attacker is refused that root" refused "$A" ser
ip netns exec "$A" curl -sf -o /dev/null tftp://198.18.0.1/10070000/cmdline.txt
t_check "server: a TFTP read under its serial did not move the export" \
	refused "$A" ser
t_check "server: the OS still mounts its root" mnt "$O" ser
t_check "server: the move is in the log with its reason" \
	grep -q "event=export-move client=ser from=none to=$addr reason=\"pinetboot leased\"" \
	"$NN_TMP/server2.log"
"$PNB_BIN" status ser --state-dir "$st" >"$NN_TMP/ser.txt"
t_check "server: the move is in the client's timeline" \
	grep -q "nfs .*ok .*export .*exported to $addr only" "$NN_TMP/ser.txt"
dh_stop_clean "$PID" "server: clean exit"
t_done
