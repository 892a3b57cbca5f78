#!/usr/bin/env bash
# The link-layer form of every DHCP reply, checked on the bytes a client
# receives (tests/tools/dhcp_cap on a packet socket in the client's
# namespace), per mode and per Pi model (reference §9 item 4, as dnsmasq
# sends them):
#   server mode, broadcast flag clear (every Pi): Ethernet unicast to
#     chaddr, IP unicast to yiaddr, flags 0;
#   server mode, flag set (busybox udhcpc -B): Ethernet and IP broadcast;
#   proxy mode: Ethernet and IP broadcast, flags 0x8000, yiaddr 0.
# BCM2837 ROM replies come no sooner than --dhcp-pi-delay (2 s by
# default, §9 item 5), and one frame to the Pi's MAC follows after the
# ROM's ~1 s DHCP timer, not 100 ms after the reply (quirk 13 with §9's
# timing); EEPROM replies are neither delayed nor followed.  The DISCOVERs are
# laid out as reference §2.1 gives them (bench/dhcp_load -P); the OFFER
# and ACK forms for a real client come from busybox udhcpc.
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/dhcp.sh"
nn_init dhf
S=$(nn_ns srv)
C=$(nn_ns pis)
D=$(nn_ns linux)
nn_bridge "$S" br0 198.18.0.1/24
CIF=$(nn_port "$S" br0 "$C")
DIF=$(nn_port "$S" br0 "$D")
LOAD=$PNB_OUT/bench/dhcp_load
# The four firmware kinds of dhcp_load -P with -g 1, in its order.
ROM3B=b8:27:eb:01:00:00
BCM=b8:27:eb:01:00:01
PI4=dc:a6:32:01:00:02
PI5=2c:cf:67:01:00:03

model_of() {
	case $1 in
	"$ROM3B") echo 3b-rom ;;
	"$BCM") echo 3b+-rom/bootcode ;;
	"$PI4") echo pi4 ;;
	"$PI5") echo pi5 ;;
	*) echo other ;;
	esac
}

# check_forms REPLIES MODE COUNT WHAT: PASS when COUNT replies reached
# the Pis, every one in its mode's form (WHAT says which).
check_forms() {
	local replies=$1 mode=$2 count=$3 what=$4 chaddr type edst idst flags \
		yi src sp dp ms model N=0 BAD=0
	while read -r chaddr type edst idst flags yi src sp dp ms; do
		model=$(model_of "$chaddr")
		[ "$model" = other ] && continue
		N=$((N + 1))
		echo "INFO: $mode $model type=$type eth_dst=$edst ip_dst=$idst" \
			"flags=$flags yiaddr=$yi after=${ms}ms"
		if [ "$src" != 198.18.0.1 ] || [ "$sp" != 67 ] || [ "$dp" != 68 ]; then
			BAD=$((BAD + 1))
			echo "INFO: wrong source or ports: $src $sp -> $dp"
		fi
		if [ "$mode" = server ]; then
			[ "$edst" = "$chaddr" ] && [ "$idst" = "$yi" ] &&
				[ "$flags" = 0000 ] && [ "$yi" != 0.0.0.0 ] ||
				BAD=$((BAD + 1))
		else
			[ "$edst" = ff:ff:ff:ff:ff:ff ] &&
				[ "$idst" = 255.255.255.255 ] &&
				[ "$flags" = 8000 ] && [ "$yi" = 0.0.0.0 ] ||
				BAD=$((BAD + 1))
		fi
		case $model in
		3b*) [ "$ms" -ge 2000 ] || BAD=$((BAD + 1)) ;;
		*) [ "$ms" -ge 0 ] && [ "$ms" -lt 2000 ] || BAD=$((BAD + 1)) ;;
		esac
	done <"$replies"
	if [ "$N" = "$count" ] && [ "$BAD" = 0 ]; then
		t_pass "dhcp forms: $mode mode, $N replies to 4 Pi models: $what"
	else
		cat "$replies"
		t_fail "dhcp forms: $mode mode replies to Pis" \
			"$N replies, $BAD wrong"
	fi
}

# check_followups CAP DELAY_MS: one frame to each BCM2837 Pi's MAC, after
# its reply and past the ROM's timer; none to the EEPROM clients.
check_followups() {
	local cap=$1 mode=$2 mac op spa tpa after_d after_r n=0 bad=0
	while read -r mac op spa tpa after_d after_r; do
		echo "INFO: $mode follow-up to $(model_of "$mac"): arp op=$op" \
			"spa=$spa tpa=$tpa ${after_d}ms after DISCOVER," \
			"${after_r}ms after the reply"
		case $(model_of "$mac") in
		3b*)
			n=$((n + 1))
			[ "$after_d" -ge 1000 ] && [ "$after_r" -gt 0 ] &&
				[ "$spa" = 198.18.0.1 ] || bad=$((bad + 1))
			;;
		*) bad=$((bad + 1)) ;;
		esac
	done < <(dh_cap_followups "$cap")
	if [ "$n" = 2 ] && [ "$bad" = 0 ]; then
		t_pass "dhcp forms: $mode mode, one frame to each BCM2837 Pi after its reply and the ROM's 1 s timer, none to EEPROMs"
	else
		t_fail "dhcp forms: $mode mode follow-up frames" \
			"$n to BCM2837 Pis, $bad wrong"
	fi
}

# serve_and_capture NAME SECS ARGS...: start pinetboot with ARGS, send
# the four Pi firmware DISCOVERs (bench/dhcp_load -P 4, the EEPROMs then
# REQUEST) and capture for SECS what comes back, into $NN_TMP/cap-NAME
# and $NN_TMP/replies-NAME; the server keeps running.
serve_and_capture() {
	local name=$1 secs=$2
	shift 2
	dh_serve "$S" "$NN_TMP/pnb-$name.log" --interface br0 \
		--state-dir "$NN_TMP/state-$name" "$@" ||
		{ cat "$NN_TMP/pnb-$name.log"; t_fail "pinetboot starts"; exit 1; }
	dh_cap_start "$C" "$CIF" "$NN_TMP/cap-$name" || t_fail "capture starts"
	ip netns exec "$C" "$LOAD" -i "$CIF" -P 4 -t "$secs" -g 1 \
		>"$NN_TMP/load.out"
	dh_cap_stop || t_fail "dhcp forms: the capture kept every frame"
	dh_cap_replies "$NN_TMP/cap-$name" >"$NN_TMP/replies-$name"
}

# --- server mode ---
serve_and_capture server 4 --dhcp server \
	--dhcp-range 198.18.0.100,198.18.0.199
# 4 OFFERs and the ACKs to the Pi 4 and Pi 5 REQUESTs.
check_forms "$NN_TMP/replies-server" server 6 \
	"Ethernet to chaddr, IP to yiaddr, flags 0, BCM2837 after 2 s"
check_followups "$NN_TMP/cap-server" server

ip -n "$D" link set "$DIF" address 02:00:00:00:00:51
dh_cap_start "$D" "$DIF" "$NN_TMP/cap-udhcpc" || t_fail "capture starts"
dh_udhcpc "$D" "$DIF" "$NN_TMP/udhcpc.out"
ip -n "$D" link set "$DIF" address 02:00:00:00:00:52
dh_udhcpc "$D" "$DIF" "$NN_TMP/udhcpc-b.out" -B
dh_cap_stop || t_fail "dhcp forms: the capture kept every frame"
dh_cap_replies "$NN_TMP/cap-udhcpc" >"$NN_TMP/replies-udhcpc"
sed 's/^/INFO: udhcpc reply: /' "$NN_TMP/replies-udhcpc"
read -r got _ <"$NN_TMP/udhcpc.out" 2>/dev/null
n=$(awk -v g="$got" '$1 == "02:00:00:00:00:51" && $3 == $1 && $4 == g &&
	$5 == "0000" && $6 == g { n++ } END { print n + 0 }' \
	"$NN_TMP/replies-udhcpc")
if [ -n "$got" ] && [ "$n" = 2 ]; then
	t_pass "dhcp forms: udhcpc (flag clear) bound $got from an OFFER and ACK unicast to its MAC and address"
else
	t_fail "dhcp forms: udhcpc with the broadcast flag clear" \
		"bound ${got:-nothing}, $n unicast replies"
fi
read -r got _ <"$NN_TMP/udhcpc-b.out" 2>/dev/null
n=$(awk '$1 == "02:00:00:00:00:52" && $3 == "ff:ff:ff:ff:ff:ff" &&
	$4 == "255.255.255.255" && $5 == "8000" { n++ } END { print n + 0 }' \
	"$NN_TMP/replies-udhcpc")
if [ -n "$got" ] && [ "$n" = 2 ]; then
	t_pass "dhcp forms: udhcpc -B (flag set) bound $got from an OFFER and ACK broadcast"
else
	t_fail "dhcp forms: udhcpc with the broadcast flag set" \
		"bound ${got:-nothing}, $n broadcast replies"
fi
dh_stop_clean "$DH_PID" "dhcp forms: server exits cleanly"

# --- proxy mode ---
serve_and_capture proxy 3 --dhcp proxy
check_forms "$NN_TMP/replies-proxy" proxy 4 \
	"Ethernet and IP broadcast, flags 0x8000, yiaddr 0, BCM2837 after 2 s"
check_followups "$NN_TMP/cap-proxy" proxy
# With no reply delay the frame still waits for the ROM's timer.
dh_stop_clean "$DH_PID" "dhcp forms: proxy exits cleanly"
serve_and_capture proxy0 3 --dhcp proxy --dhcp-pi-delay 0
check_followups "$NN_TMP/cap-proxy0" "proxy, --dhcp-pi-delay 0,"
dh_stop_clean "$DH_PID" "dhcp forms: proxy without delay exits cleanly"
t_done
