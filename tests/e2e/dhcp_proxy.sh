#!/usr/bin/env bash
# --dhcp proxy beside a router's DHCP server (dnsmasq): each Pi model gets
# its address from the router and its boot information from pinetboot,
# boots over TFTP, and pinetboot never answers a plain DHCP client.
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/dhcp.sh"
nn_init dhp
S=$(nn_ns srv)
R=$(nn_ns router)
C=$(nn_ns pis)
D=$(nn_ns linux)
nn_bridge "$S" br0 198.18.0.1/24
RIF=$(nn_port "$S" br0 "$R" 198.18.0.254/24)
CIF=$(nn_port "$S" br0 "$C" 198.18.0.2/24)
DIF=$(nn_port "$S" br0 "$D")
# The site's router: a DHCP server that knows nothing about PXE.
nn_spawn "$R" "$NN_TMP/router.log" dnsmasq --no-daemon --conf-file=/dev/null \
	--port=0 --interface="$RIF" --bind-interfaces \
	--dhcp-range=198.18.0.150,198.18.0.199,255.255.255.0,1h \
	--dhcp-option=3,198.18.0.254 --dhcp-authoritative --no-ping \
	--dhcp-leasefile="$NN_TMP/router.leases" --user=root --group=root \
	--pid-file="$NN_TMP/router.pid" --log-dhcp
nn_wait_udp "$R" 67 || t_fail "router dnsmasq starts"
dh_tree "$NN_TMP/tftp"
dh_tftp "$S" 198.18.0.1 "$NN_TMP/tftp" "$NN_TMP/tftp.log" ||
	t_fail "tftp peer starts"
dh_serve "$S" "$NN_TMP/pnb.log" --interface br0 \
	--state-dir "$NN_TMP/state" --dhcp proxy --dhcp-pi-delay 1000 ||
	{ cat "$NN_TMP/pnb.log"; t_fail "pinetboot starts"; exit 1; }
t_check "dhcp proxy: listens on 4011 too" nn_wait_udp "$S" 4011

b=1
# Proxy replies are broadcasts, as dnsmasq sends them (reference §9 item
# 4); tests/e2e/dhcp_forms.sh checks their exact form.
for m in 3b 3b+ bootcode pi4 pi5; do
	dh_emu "dhcp proxy: $m boots (router address, proxy boot info, tftp)" \
		"$C" -i "$CIF" -m "$m" -b $b -t -d 900 -U 198.18.0.1 -T 15
	b=$((b + 1))
done
t_check "dhcp proxy: pinetboot sent no REQUEST answers on port 67" \
	bash -c "! grep -q 'event=ack' '$NN_TMP/pnb.log'"

ip -n "$D" link set "$DIF" address 02:00:00:00:00:42
dh_udhcpc "$D" "$DIF" "$NN_TMP/udhcpc.out"
read -r got sid <"$NN_TMP/udhcpc.out" 2>/dev/null
if [ -n "$got" ] && [ "$sid" = 198.18.0.254 ]; then
	t_pass "dhcp proxy: udhcpc gets its address from the router"
else
	cat "$NN_TMP/udhcpc.out.log"
	t_fail "dhcp proxy: udhcpc gets its address from the router" \
		"got ${got:-none} from ${sid:-none}"
fi
t_check "dhcp proxy: pinetboot ignored udhcpc" \
	bash -c "! grep -q '02:00:00:00:00:42' '$NN_TMP/pnb.log'"
t_check "dhcp proxy: one proxy reply per Pi DISCOVER phase" \
	bash -c "[ \$(grep -c 'event=proxy-offer' '$NN_TMP/pnb.log') -eq 7 ]"
dh_stop_clean "$DH_PID" "dhcp proxy: clean exit"
t_done
