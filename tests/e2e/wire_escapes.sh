#!/usr/bin/env bash
# Strings a host puts on the wire never reach a terminal raw.  From a
# second namespace that is not a client, a MOUNT whose path holds terminal
# escape sequences and a DISCOVER, with a provisioned Pi's MAC, whose
# option 60 holds them too; then `pinetboot status` (the table and the
# client's timeline) and the server log must hold no control byte.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/dhcp.sh"
nn_init esc

S=$(nn_ns srv)
A=$(nn_ns attacker)
nn_bridge "$S" br0 198.18.0.1/24
AIF=$(nn_port "$S" br0 "$A" 198.18.0.2/24)
st=$NN_TMP/state
mkdir -p "$st/clients/pi4/boot" "$st/clients/pi4/root"
printf 'serial = 9ffefdef\nmac = dc:a6:32:01:36:c2\n' \
	>"$st/clients/pi4/client.conf"
nn_spawn "$S" "$NN_TMP/serve.log" "$PNB_BIN" serve --interface br0 \
	--address 198.18.0.1 --state-dir "$st" --dhcp proxy --log-level debug
pid=$NN_LAST_PID
nn_wait_udp "$S" 67 && nn_wait_tcp "$S" 2049 ||
	{ cat "$NN_TMP/serve.log"; t_fail "pinetboot starts"; exit 1; }

# Clear the screen, set the window title, ring the bell, a C1 CSI.
evil=$'\e[2J\e]0;pwned\a\e[31mred\x9b1m'
ip netns exec "$A" "$PNB_TOOLS/mnt_call" 198.18.0.1 "/srv/$evil" \
	>"$NN_TMP/mnt.out" 2>&1
t_check "the MOUNT with escapes in its path is answered, and refused" \
	test $? -eq 1
ip netns exec "$A" "$PNB_TOOLS/dhcp_forge" -i "$AIF" -t discover \
	-c dc:a6:32:01:36:c2 -x 7001 -V "PXEClient$evil"
sleep 0.3

# clean FILE: FILE holds no control byte but newline and tab, and no
# byte outside ASCII (a C1 control to an 8-bit terminal).
clean() {
	! LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f-\xff]' "$1"
}
"$PNB_BIN" status --state-dir "$st" >"$NN_TMP/table.txt"
t_check "the status table shows the refused MOUNT" \
	grep -q 'mount-refused: export="/srv/\\x1b\[2J' "$NN_TMP/table.txt"
t_check "the status table holds no control byte" clean "$NN_TMP/table.txt"
"$PNB_BIN" status pi4 --state-dir "$st" >"$NN_TMP/pi4.txt"
t_check "the timeline shows the DISCOVER's class, escaped" \
	grep -q 'class=PXEClient\\x1b\[2J\\x1b\]0;pwned\\x07' "$NN_TMP/pi4.txt"
t_check "the timeline holds no control byte" clean "$NN_TMP/pi4.txt"
"$PNB_BIN" status --json --state-dir "$st" >"$NN_TMP/status.json"
t_check "the JSON holds no control byte" clean "$NN_TMP/status.json"
dh_stop_clean "$pid" "clean exit"
t_check "the log shows the MOUNT path, escaped" \
	grep -q 'dir="/srv/\\x1b\[2J' "$NN_TMP/serve.log"
t_check "the log holds no control byte" clean "$NN_TMP/serve.log"
t_done
