#!/usr/bin/env bash
# --dhcp server under load: 100 emulated Pis of mixed models powered on
# within one second all boot with their own address (Pi 2/3 ROMs share one
# xid: each reply must reach only its own Pi); then kill -9 during a
# storm and at rest: after a restart every Pi keeps its address, and new
# Pis never get one of them.
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/dhcp.sh"
nn_init dhst
S=$(nn_ns srv)
C=$(nn_ns pis)
nn_bridge "$S" br0 198.18.0.1/24
CIF=$(nn_port "$S" br0 "$C" 198.18.0.2/24)
dh_tree "$NN_TMP/tftp"
dh_tftp "$S" 198.18.0.1 "$NN_TMP/tftp" "$NN_TMP/tftp.log" ||
	t_fail "tftp peer starts"
ARGS=(--interface br0 --state-dir "$NN_TMP/state" --dhcp server
	--dhcp-range 198.18.0.20,198.18.0.250 --dhcp-pi-delay 1000)
dh_serve "$S" "$NN_TMP/pnb.log" "${ARGS[@]}" ||
	{ cat "$NN_TMP/pnb.log"; t_fail "pinetboot starts"; exit 1; }

dh_emu "dhcp storm: 100 mixed Pis within 1 s boot with own addresses" \
	"$C" -i "$CIF" -n 100 -m mix -b 1 -S 1000 -s -t -q -U 198.18.0.1 -T 30

# addrs LOG: "mac addr" per Pi, the last address each one was given.
addrs() {
	sed -n 's/^pi_emu: pi[0-9]* [^ ]* \([0-9a-f:]*\) .*address-offer ok addr=\([0-9.]*\).*/\1 \2/p' \
		"$1" | awk '{a[$1]=$2} END {for (m in a) print m, a[m]}' | sort
}

# kill -9 in the middle of a storm of 40, then restart.
log="$NN_TMP/crash.log"
ip netns exec "$C" "$PNB_TOOLS/pi_emu" -i "$CIF" -n 40 -m mix -b 2 -S 800 \
	-s -T 25 >"$log" 2>&1 &
emu=$!
sleep 1.2
kill -KILL "$DH_PID"
wait "$DH_PID" 2>/dev/null
dh_serve "$S" "$NN_TMP/pnb2.log" "${ARGS[@]}" ||
	t_fail "pinetboot restarts after kill -9"
if wait "$emu"; then
	t_pass "dhcp storm: 40 Pis boot across a kill -9 and restart"
else
	grep FAIL "$log" | head
	t_fail "dhcp storm: 40 Pis boot across a kill -9 and restart" \
		"$(tail -1 "$log")"
fi
addrs "$log" >"$NN_TMP/before"

# At rest: kill -9, restart, the same Pis get the same addresses.
kill -KILL "$DH_PID"
wait "$DH_PID" 2>/dev/null
dh_serve "$S" "$NN_TMP/pnb3.log" "${ARGS[@]}" ||
	t_fail "pinetboot restarts after second kill -9"
dh_emu "dhcp storm: the same 40 Pis again after kill -9" "$C" -i "$CIF" \
	-n 40 -m mix -b 2 -s -T 20
addrs "$DH_EMU_LOG" >"$NN_TMP/after"
if [ -s "$NN_TMP/before" ] && diff "$NN_TMP/before" "$NN_TMP/after"; then
	t_pass "dhcp storm: every Pi kept its address across kill -9"
else
	t_fail "dhcp storm: every Pi kept its address across kill -9"
fi
# New Pis get none of those addresses.
dh_emu "dhcp storm: 30 new Pis" "$C" -i "$CIF" -n 30 -m mix -b 3 -s -T 20
addrs "$DH_EMU_LOG" >"$NN_TMP/new"
clash=$(cat "$NN_TMP/before" "$NN_TMP/new" | awk '{print $2}' | sort |
	uniq -d)
if [ -z "$clash" ] && [ -s "$NN_TMP/new" ]; then
	t_pass "dhcp storm: no address handed to two clients"
else
	t_fail "dhcp storm: no address handed to two clients" "$clash"
fi
dh_stop_clean "$DH_PID" "dhcp storm: clean exit"
t_done
