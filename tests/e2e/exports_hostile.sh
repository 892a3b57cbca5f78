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
P=$(nn_ns pis)
O=$(nn_ns os)
R=$(nn_ns router)
nn_bridge "$S" br0 198.18.0.1/24
AIF=$(nn_port "$S" br0 "$A" 198.18.0.2/24)
FIF=$(nn_port "$S" br0 "$F" 198.18.0.50/24)
PIF=$(nn_port "$S" br0 "$P")
OIF=$(nn_port "$S" br0 "$O")
RIF=$(nn_port "$S" br0 "$R" 198.18.0.254/24)
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
	case $? in
	1) return 0 ;;
	0) return 1 ;;
	*) cat "$NN_TMP/mnt.out"; return 1 ;;
	esac
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

# --- Proxy mode: exports follow a REQUEST/ACK pair of a served boot. ---
# The site's router: dnsmasq at 198.18.0.254.  "pxe" is the emulated Pi 4
# of pi_emu -b 8 (MAC dc:a6:32:08:00:00), known by its MAC.
client pxe 10080000 dc:a6:32:08:00:00
# router LOG ARGS...: the site's DHCP server; sets RPID.
router() {
	local log=$1
	shift
	nn_spawn "$R" "$log" dnsmasq --no-daemon --conf-file=/dev/null \
		--port=0 --interface="$RIF" --bind-interfaces \
		--dhcp-range=198.18.0.200,198.18.0.220,255.255.255.0,1h \
		--dhcp-authoritative --no-ping --log-dhcp \
		--dhcp-leasefile="$NN_TMP/router-$RANDOM.leases" \
		--user=root --group=root --pid-file="$NN_TMP/router.pid" "$@"
	RPID=$NN_LAST_PID
	nn_wait_udp "$R" 67 || t_fail "router dnsmasq starts"
}
# os NS IF MAC: the OS of a Pi takes an address from the router.
os_lease() {
	ip -n "$1" addr flush dev "$2"
	ip -n "$1" link set "$2" down
	ip -n "$1" link set "$2" address "$3" up
	dh_udhcpc "$1" "$2" "$NN_TMP/os.out"
	read -r addr sid <"$NN_TMP/os.out" 2>/dev/null
	[ -n "${addr:-}" ] && ip -n "$1" addr add "$addr/24" dev "$2"
	[ "${sid:-}" = 198.18.0.254 ]
}
router "$NN_TMP/router.log"
serve proxy "$NN_TMP/proxy.log"
# No boot being served: a REQUEST and an ACK that match move nothing.
forge "$A" "$AIF" -t request -c dc:a6:32:00:00:60 -x 6001 \
	-s 198.18.0.254 -r 198.18.0.2
forge "$A" "$AIF" -t ack -c dc:a6:32:00:00:60 -x 6001 -s 198.18.0.254 \
	-S 198.18.0.254 -y 198.18.0.2
sleep 0.3
t_check "proxy: a REQUEST/ACK pair outside a served boot moves nothing" \
	refused "$A" dyn 198.18.0.2
# A boot pinetboot serves: the Pi 4 firmware takes its address from the
# router, whose ACK is an Ethernet unicast to the Pi.
ip -n "$O" link set "$OIF" down
dh_emu "proxy: the Pi 4 firmware boots beside the router" "$P" -i "$PIF" \
	-m pi4 -b 8 -T 20
# During that boot: a forged REQUEST the router NAKs, with a forged ACK
# after the NAK; then a REQUEST answered by a foreign ACK.
forge "$A" "$AIF" -t request -c dc:a6:32:08:00:00 -x 6002 \
	-s 198.18.0.254 -r 198.18.0.2
sleep 0.3
forge "$A" "$AIF" -t ack -c dc:a6:32:08:00:00 -x 6002 -s 198.18.0.254 \
	-S 198.18.0.254 -y 198.18.0.2
sleep 0.3
t_check "proxy: the router NAKed the forged REQUEST" \
	grep -q 'event=request-naked client=pxe addr=198.18.0.2' \
	"$NN_TMP/proxy.log"
t_check "proxy: a NAKed REQUEST moves nothing" refused "$A" pxe 198.18.0.2
forge "$A" "$AIF" -t request -c dc:a6:32:08:00:00 -x 6003 \
	-s 198.18.0.77 -r 198.18.0.3
forge "$A" "$AIF" -t ack -c dc:a6:32:08:00:00 -x 6004 -s 198.18.0.77 \
	-S 198.18.0.77 -y 198.18.0.3
forge "$A" "$AIF" -t ack -c dc:a6:32:08:00:00 -x 6003 -s 198.18.0.66 \
	-S 198.18.0.66 -y 198.18.0.3
sleep 0.3
t_check "proxy: a REQUEST with foreign ACKs moves nothing" \
	refused "$A" pxe 198.18.0.3
# The Pi's OS: its ACK, too, goes to the Pi alone.  pinetboot cannot see
# it, so the export stays where it was and the operator is told why.
os_lease "$O" "$OIF" dc:a6:32:08:00:00
t_check "proxy: the OS leases from the router (${addr:-none})" test -n "${addr:-}"
sleep 11
t_check "proxy: an unseen ACK moves nothing" refused "$O" pxe
t_check "proxy: the log says the ACK was not seen and what to do" \
	grep -q "event=ack-unseen client=pxe addr=$addr .*set address" \
	"$NN_TMP/proxy.log"
"$PNB_BIN" status pxe --state-dir "$st" >"$NN_TMP/pxe.txt"
t_check "proxy: the timeline says so too" \
	grep -q "warn .*ack-unseen .*set address = $addr in client.conf" \
	"$NN_TMP/pxe.txt"
out=$(ip netns exec "$S" "$PNB_BIN" doctor --address 198.18.0.1 \
	--state-dir "$st" --dhcp proxy 2>&1)
t_check "proxy: doctor names the client whose ACK was not seen" \
	grep -q '^warn  client pxe: the running server saw its DHCP REQUEST but not the ACK' \
	<<<"$out"
nn_stop "$RPID"

# A router that broadcasts its replies (dnsmasq --dhcp-broadcast): the
# ACK reaches pinetboot too, and the served boot gets its export.
router "$NN_TMP/router2.log" --dhcp-broadcast
ip -n "$O" link set "$OIF" down
dh_emu "proxy: the Pi 4 firmware boots again" "$P" -i "$PIF" -m pi4 -b 8 \
	-T 20
os_lease "$O" "$OIF" dc:a6:32:08:00:00
t_check "proxy: the OS leases from the router (${addr:-none})" test -n "${addr:-}"
sleep 0.3
t_check "proxy: the OS mounts its root from the router's address" \
	mnt "$O" pxe
t_check "proxy: the attacker is refused that root" refused "$A" pxe
t_check "proxy: the move is in the log with its reason" \
	grep -q "event=export-move client=pxe from=.* to=$addr reason=\"198.18.0.254 ACKed the REQUEST it saw for\"" \
	"$NN_TMP/proxy.log"
dh_stop_clean "$PID" "proxy: clean exit"
t_done
