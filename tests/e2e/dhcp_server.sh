#!/usr/bin/env bash
# --dhcp server: each Pi model boots (its exact DHCP exchange, then its
# TFTP file sequence), busybox udhcpc later gets the address the firmware
# got for that MAC, and the daemon exits cleanly.
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/dhcp.sh"
nn_init dhs
S=$(nn_ns srv)
C=$(nn_ns pis)
D=$(nn_ns linux)
nn_bridge "$S" br0 198.18.0.1/24
CIF=$(nn_port "$S" br0 "$C" 198.18.0.2/24)
DIF=$(nn_port "$S" br0 "$D")
dh_tree "$NN_TMP/tftp"
dh_tftp "$S" 198.18.0.1 "$NN_TMP/tftp" "$NN_TMP/tftp.log" ||
	t_fail "tftp peer starts"
dh_serve "$S" "$NN_TMP/pnb.log" --interface br0 \
	--state-dir "$NN_TMP/state" --dhcp server \
	--dhcp-range 198.18.0.100,198.18.0.199 --dhcp-router 198.18.0.1 \
	--dhcp-dns 198.18.0.1 --dhcp-domain lab.test --dhcp-pi-delay 1000 ||
	{ cat "$NN_TMP/pnb.log"; t_fail "pinetboot starts"; exit 1; }

b=1
for m in 3b 3b+ bootcode pi4 pi5; do
	# -d 900: BCM2837 replies come only after the 1 s delay (quirk 5);
	# -U: pinetboot's replies reach only the Pi they are for (L2 unicast
	# to chaddr; tests/e2e/dhcp_forms.sh checks the exact form).
	dh_emu "dhcp server: $m boots (dhcp + tftp)" "$C" -i "$CIF" -m "$m" \
		-b $b -s -t -d 900 -U 198.18.0.1 -T 15
	if [ "$m" = 3b ]; then
		# Quirk 12: right after its boot, the 3B ROM's address has a
		# neighbour entry with its MAC (later, with the emulated ROM
		# gone silent, the kernel may find it unreachable), and not a
		# permanent one, which would outlive the lease and pinetboot.
		t_check "dhcp server: 3B ROM's address in the neighbour table" \
			bash -c "ip -n '$S' neigh show dev br0 |
				grep -qi 'b8:27:eb:01:00:00'"
	fi
	b=$((b + 1))
done
t_check "dhcp server: no permanent neighbour entry" \
	bash -c "! ip -n '$S' neigh show dev br0 nud permanent | grep -q ."

# The OS of a Pi 4 after its firmware: same MAC, same address.
ip -n "$D" link set "$DIF" address dc:a6:32:07:00:00
dh_emu "dhcp server: pi4 firmware on the linux port" "$D" -i "$DIF" \
	-m pi4 -b 7 -s -T 10
fw=$(sed -n 's/.*address-offer ok addr=\([0-9.]*\).*/\1/p' "$DH_EMU_LOG")
dh_udhcpc "$D" "$DIF" "$NN_TMP/udhcpc.out"
read -r got sid <"$NN_TMP/udhcpc.out" 2>/dev/null
if [ -n "$fw" ] && [ "$got" = "$fw" ] && [ "$sid" = 198.18.0.1 ]; then
	t_pass "dhcp server: udhcpc gets the firmware's address $fw"
else
	cat "$NN_TMP/udhcpc.out.log"
	t_fail "dhcp server: udhcpc gets the firmware's address" \
		"firmware $fw, udhcpc ${got:-none} from ${sid:-none}"
fi
t_check "dhcp server: leases file written" \
	grep -q "dc:a6:32:07:00:00 $fw" "$NN_TMP/state/dhcp/leases"
t_check "dhcp server: Pi models recognised in the log" \
	grep -q 'model=pi5' "$NN_TMP/pnb.log"
# A client provisioned while the server runs (client.conf, as `pinetboot
# client add` writes it) gets its reserved address and hostname.
mkdir -p "$NN_TMP/state/clients/.pi8.tmp"
printf 'serial = 10080000\nmac = dc:a6:32:08:00:00\naddress = 198.18.0.42\nhostname = rack-pi-8\nimage = os\n' \
	>"$NN_TMP/state/clients/.pi8.tmp/client.conf"
mv "$NN_TMP/state/clients/.pi8.tmp" "$NN_TMP/state/clients/pi8"
for i in $(seq 30); do
	grep -q 'clients-loaded clients=1' "$NN_TMP/pnb.log" && break
	sleep 0.1
done
dh_emu "dhcp server: provisioned pi4 boots" "$C" -i "$CIF" -m pi4 -b 8 \
	-s -T 10
t_check "dhcp server: provisioned client gets its reserved address" \
	grep -q 'address-offer ok addr=198.18.0.42' "$DH_EMU_LOG"

# Issue 10: a Pi 2/3 ROM's OFFER binds its address for seconds only,
# until a TFTP request from that address shows the client uses it; then
# the lease is full.  Two ROM DISCOVERs (3B and 3B+, bench/dhcp_load -P);
# a curl from the first one's MAC and address fetches bootcode.bin (the
# server's neighbour entry for the address names that MAC, quirk 12).
R=$(nn_ns rom)
RIF=$(nn_port "$S" br0 "$R")
ip netns exec "$R" "$PNB_OUT/bench/dhcp_load" -i "$RIF" -P 2 -t 2 -g 9 \
	>/dev/null
now=$(date +%s)
addr_of() {
	sed -n "s/.*peer=$1 .*event=offer addr=\([0-9.]*\) .*/\1/p" \
		"$NN_TMP/pnb.log" | tail -1
}
exp_of() {
	awk -v m="$1" '$1 == "B" && $2 == m { e = $4 } END { print e + 0 }' \
		"$NN_TMP/state/dhcp/leases"
}
rom=$(addr_of b8:27:eb:09:00:00)
other=$(addr_of b8:27:eb:09:00:01)
e1=$(exp_of b8:27:eb:09:00:00)
if [ -n "$rom" ] && [ -n "$other" ] && [ "$e1" -le $((now + 11)) ] &&
	grep -q "peer=b8:27:eb:09:00:00 .*bound=on-offer-unconfirmed" \
		"$NN_TMP/pnb.log"; then
	t_pass "dhcp server: a ROM's OFFER binds $rom for seconds only (until $((e1 - now)) s from now)"
else
	t_fail "dhcp server: a ROM's OFFER binds briefly" \
		"addr ${rom:-none}, expiry $((e1 - now)) s from now"
fi
ip -n "$R" link set "$RIF" address b8:27:eb:09:00:00
ip -n "$R" addr add "$rom/24" dev "$RIF"
ip netns exec "$R" curl -sS -o "$NN_TMP/bootcode.got" \
	"tftp://198.18.0.1/bootcode.bin" || t_fail "curl from $rom"
sleep 0.2
e1=$(exp_of b8:27:eb:09:00:00)
e2=$(exp_of b8:27:eb:09:00:01)
if grep -q "event=confirmed addr=$rom via=tftp" "$NN_TMP/pnb.log" &&
	[ "$e1" -ge $((now + 86000)) ] && [ "$e2" -le $((now + 11)) ]; then
	t_pass "dhcp server: a TFTP request from $rom makes its lease full; the other ROM's stays short"
else
	t_fail "dhcp server: TFTP confirms a ROM's lease" \
		"$rom until $((e1 - now)) s, $other until $((e2 - now)) s"
fi

# The status view lists the Pis DHCP saw, with model and serial.
"$PNB_BIN" status --state-dir "$NN_TMP/state" >"$NN_TMP/status" 2>&1
t_check "dhcp server: status lists the Pi 5 with its model and serial" \
	bash -c "grep '2c:cf:67:05:00:00' '$NN_TMP/status' | grep -q .  &&
		grep -q 10050000 '$NN_TMP/status'"
dh_stop_clean "$DH_PID" "dhcp server: clean exit"
t_done
