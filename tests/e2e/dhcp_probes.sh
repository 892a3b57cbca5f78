#!/usr/bin/env bash
# 250 Pis power on at once against --dhcp server with the ARP conflict
# check on (the default 200 ms) and the default 2 s BCM2837 delay: 250
# DISCOVERs of mixed models from distinct MACs in one burst
# (bench/dhcp_load -P 250), captured in the clients' namespace.
# Asserted are the server's decisions: every probe is out before the
# probes end (they run in parallel), the server holds no EEPROM offer for
# longer than the probe time and no BCM2837 offer longer than its delay
# (its log's held_ms), and on the captured frames no offer waits more
# than the 3B ROM's own DHCP timer (1 s, reference §9 item 5) beyond its
# model's delay.  The measured DISCOVER-to-OFFER times per model are
# printed.
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/dhcp.sh"
nn_init dhq
S=$(nn_ns srv)
C=$(nn_ns pis)
nn_bridge "$S" br0 198.18.0.1/24
CIF=$(nn_port "$S" br0 "$C")
NPI=250

dh_serve "$S" "$NN_TMP/pnb.log" --interface br0 \
	--state-dir "$NN_TMP/state" --dhcp server \
	--dhcp-range 198.18.0.3,198.18.0.254 ||
	{ cat "$NN_TMP/pnb.log"; t_fail "pinetboot starts"; exit 1; }
dh_cap_start "$C" "$CIF" "$NN_TMP/cap" || t_fail "capture starts"
ip netns exec "$C" "$PNB_OUT/bench/dhcp_load" -i "$CIF" -P $NPI -t 6 -g 2 \
	>"$NN_TMP/load.out"
dh_cap_stop || t_fail "dhcp probes: the capture kept every frame" \
	"$(grep '^dhcp_cap: frames' "$NN_TMP/cap")"
echo "INFO: $(cat "$NN_TMP/load.out"), load: $(cut -d' ' -f1-3 /proc/loadavg)"
dh_cap_replies "$NN_TMP/cap" >"$NN_TMP/replies"

# kind CHADDR: the firmware kind dhcp_load -P gave this MAC.
kinds='
	$1 ~ /^b8:27:eb/ { k = (substr($1, 16, 2) ~ /[048c]$/) ? "3b-rom" : "3b+-rom" }
	$1 ~ /^dc:a6:32/ { k = "pi4" }
	$1 ~ /^2c:cf:67/ { k = "pi5" }'

offers=$(awk '$2 == 2 {print $1}' "$NN_TMP/replies" | sort -u | wc -l)
acks=$(awk '$2 == 5 {print $1}' "$NN_TMP/replies" | sort -u | wc -l)
eeproms=$(awk '$2 == 2 && $1 !~ /^b8:27:eb/ {print $1}' "$NN_TMP/replies" |
	sort -u | wc -l)
if [ "$offers" = $NPI ] && [ "$acks" = "$eeproms" ]; then
	t_pass "dhcp probes: all $NPI Pis got an OFFER, all $eeproms EEPROMs their ACK"
else
	t_fail "dhcp probes: every Pi answered" \
		"$offers offers, $acks ACKs for $eeproms EEPROMs"
fi

# Measured DISCOVER -> OFFER per model, from the captured frames.
awk "$kinds"'
	$2 == 2 { d[k] = d[k] " " $10 }
	END { for (k in d) print k, d[k] }' "$NN_TMP/replies" |
while read -r k rest; do
	echo "$rest" | tr ' ' '\n' | sort -n | awk -v k="$k" '
		{ a[NR] = $1 }
		END { printf "INFO: %s: %d offers, DISCOVER->OFFER ms median %d p99 %d max %d\n",
		    k, NR, a[int((NR + 1) / 2)], a[int(NR * 0.99 + 0.5)], a[NR] }'
done

# Parallel: the probes (ARP requests from us, to everyone, for pool
# addresses) against the OFFERs for the probed addresses, in time order.
peak=$(awk '
	$1 == "arp" && /dir=in/ && /eth_dst=ff:ff:ff:ff:ff:ff/ && / op=1 / &&
	    / spa=198.18.0.1 / {
		t = $2; sub(/t=/, "", t); a = $NF; sub(/tpa=/, "", a)
		print t, "probe", a
	}
	$1 == "dhcp" && /dir=in/ && / type=2 / {
		t = $2; sub(/t=/, "", t)
		for (i = 2; i <= NF; i++) if ($i ~ /^yiaddr=/) { a = $i; sub(/yiaddr=/, "", a) }
		print t, "offer", a
	}' "$NN_TMP/cap" | sort -n | awk '
	$2 == "probe" { n++; probed[$3] = 1; if (n > peak) peak = n; np++ }
	$2 == "offer" && probed[$3] { n--; delete probed[$3] }
	END { print peak + 0, np + 0 }')
read -r peak nprobes <<<"$peak"
echo "INFO: $nprobes probes captured, at most $peak outstanding at once"
if [ "$nprobes" = $NPI ] && [ "$peak" -ge $((NPI * 4 / 5)) ]; then
	t_pass "dhcp probes: $nprobes probes ran in parallel ($peak outstanding at once)"
else
	t_fail "dhcp probes: probes in parallel" "$nprobes probes, peak $peak"
fi

# The server's decision, from its log: how long it held each offer.
read -r ee_max bc_max bc_min < <(awk '/event=offer/ && /held_ms=/ {
		h = $0; sub(/.*held_ms=/, "", h); sub(/ .*/, "", h); h += 0
		if (/model=3b/) { if (h > bm) bm = h; if (bn == "" || h < bn) bn = h }
		else if (h > em) em = h
	} END { print em + 0, bm + 0, bn + 0 }' "$NN_TMP/pnb.log")
echo "INFO: server held EEPROM offers at most ${ee_max} ms, BCM2837 offers ${bc_min}-${bc_max} ms"
if [ "$ee_max" -le 200 ] && [ "$bc_max" -le 2000 ] && [ "$bc_min" -ge 2000 ]; then
	t_pass "dhcp probes: no EEPROM offer held past the 200 ms probe, no BCM2837 offer past its 2 s delay"
else
	t_fail "dhcp probes: offers held as decided" \
		"EEPROM up to $ee_max ms, BCM2837 $bc_min-$bc_max ms"
fi

# The requirement on the wire: no offer waits for a probe longer than the
# ROM's own DHCP timer beyond its model's delay.
late=$(awk "$kinds"'
	$2 == 2 { extra = $10 - (k ~ /^3b/ ? 2000 : 0); if (extra >= 1000 || $10 < 0) n++ }
	END { print n + 0 }' "$NN_TMP/replies")
t_check "dhcp probes: no OFFER came 1 s or more after its model's delay ($late late)" \
	[ "$late" = 0 ]
dh_stop_clean "$DH_PID" "dhcp probes: clean exit"
t_done
