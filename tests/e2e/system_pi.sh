#!/usr/bin/env bash
# The whole daemon with provisioned clients: every Pi model's firmware
# (tests/tools/pi_emu) gets DHCP from `--dhcp server` and its files from
# its own boot tree through the serial prefix; then the Pi 4's operating
# system mounts its root over NFS from its leased address only.  Each
# model's timeline in `pinetboot status --json` must show the steps.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/dhcp.sh"
nn_init sys

S=$(nn_ns srv)
P=$(nn_ns pis)
O=$(nn_ns os)
X=$(nn_ns stranger)
nn_bridge "$S" br0 198.18.0.1/24
PIF=$(nn_port "$S" br0 "$P" 198.18.0.2/24)
OIF=$(nn_port "$S" br0 "$O")
nn_port "$S" br0 "$X" 198.18.0.250/24 >/dev/null
st=$NN_TMP/state
mkdir -p "$st/tftp"
head -c 5000 /dev/urandom >"$st/tftp/bootcode.bin"

# model base OUI: the MAC and serial pi_emu uses for "-m model -b base".
clients="3b:1:b8:27:eb 3b+:2:b8:27:eb bootcode:3:b8:27:eb pi4:4:dc:a6:32 pi5:5:2c:cf:67"
for c in $clients; do
	IFS=: read -r m b o1 o2 o3 <<<"$c"
	name=pi-${m/+/plus}
	dir=$st/clients/$name
	dh_tree "$dir/boot"
	rm -f "$dir/boot/bootcode.bin" "$dir/boot/1004"* "$dir/boot/1005"*
	echo "console=serial0,115200 root=/dev/nfs client=$name" \
		>"$dir/boot/cmdline.txt"
	mkdir -p "$dir/root/etc"
	echo "$name" >"$dir/root/etc/hostname"
	printf 'serial = 100%x0000\nmac = %s:%s:%s:%02x:00:00\nimage = test\n' \
		"$b" "$o1" "$o2" "$o3" "$b" >"$dir/client.conf"
done

nn_spawn "$S" "$NN_TMP/pnb.log" "$PNB_BIN" serve --interface br0 \
	--address 198.18.0.1 --state-dir "$st" --dhcp server \
	--dhcp-range 198.18.0.100,198.18.0.199 --dhcp-pi-delay 1000 \
	--log-level debug
pid=$NN_LAST_PID
nn_wait_udp "$S" 69 && nn_wait_udp "$S" 67 && nn_wait_tcp "$S" 2049 ||
	{ cat "$NN_TMP/pnb.log"; t_fail "daemon starts"; exit 1; }

for c in $clients; do
	IFS=: read -r m b _ <<<"$c"
	dh_emu "system: $m boots from its own tree" "$P" -i "$PIF" -m "$m" \
		-b "$b" -s -t -d 900 -T 20
done

# The Pi 4's OS: the same MAC asks for its address, then mounts its root.
ip -n "$O" link set "$OIF" address dc:a6:32:04:00:00
dh_udhcpc "$O" "$OIF" "$NN_TMP/udhcpc.out"
read -r addr sid <"$NN_TMP/udhcpc.out" 2>/dev/null
t_check "system: pi4 OS leases an address ($addr)" test -n "${addr:-}"
ip -n "$O" addr add "$addr/24" dev "$OIF"
root=$st/clients/pi-pi4/root
out=$(ip netns exec "$O" timeout 20 nfs-cat \
	"nfs://198.18.0.1$root/etc/hostname?version=3" 2>&1)
t_check "system: pi4 reads its own root over NFS" grep -qx pi-pi4 <<<"$out"
out=$(ip netns exec "$X" timeout 20 nfs-cat \
	"nfs://198.18.0.1$root/etc/hostname?version=3" 2>&1)
t_check "system: another address is refused the pi4 root" \
	bash -c "! grep -qx pi-pi4 <<<'$out'"

json=$("$PNB_BIN" status --json --state-dir "$st")
echo "$json" >"$NN_TMP/status.json"
for c in $clients; do
	IFS=: read -r m b _ <<<"$c"
	name=pi-${m/+/plus}
	one=$(python3 - "$NN_TMP/status.json" "$name" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
c = [x for x in doc["clients"] if x["name"] == sys.argv[2]]
if not c:
    print("missing")
    sys.exit()
c = c[0]
ev = [(e["phase"], e["event"], e["detail"]) for e in c["timeline"]]
has = lambda ph, what, text="": any(p == ph and w == what and text in d
                                    for p, w, d in ev)
print(" ".join([
    "state=" + c["state"],
    "model=" + (c["model"] or "-"),
    "addr=" + (c["address"] or "-"),
    "discover=%d" % has("dhcp", "discover"),
    "offer=%d" % has("dhcp", "offer", "addr="),
    "config=%d" % has("tftp", "file", "config.txt"),
    "cmdline=%d" % has("tftp", "file", "cmdline.txt"),
    "kernel=%d" % (has("tftp", "file", "kernel8.img") or
                   has("tftp", "file", "kernel_2712.img")),
    "mount=%d" % has("nfs", "mount"),
    "dur=%d" % c["boot_duration_ms"],
]))
PY
)
	echo "INFO: $name $one" | tee -a "$NN_TMP/infos"
	t_check "timeline $m: dhcp discover and offer" \
		grep -q 'discover=1 offer=1' <<<"$one"
	t_check "timeline $m: config, cmdline and kernel over tftp" \
		grep -q 'config=1 cmdline=1 kernel=1' <<<"$one"
done
# The emulated firmwares share one source address for TFTP, so only the
# Pi 4, whose OS has an address of its own, can show its lease here.
t_check "timeline pi4: address bound" \
	grep -q "pi-pi4 state=booted .*addr=$addr " "$NN_TMP/infos"
one=$(grep '^' <<<"$json" | python3 -c '
import json, sys
c = [x for x in json.load(sys.stdin)["clients"] if x["name"] == "pi-pi4"][0]
print(c["state"], c["boot_duration_ms"])')
t_check "timeline pi4: root mounted ends the boot ($one)" grep -q '^booted [0-9]' <<<"$one"
text=$("$PNB_BIN" status pi-pi4 --state-dir "$st")
t_check "status NAME prints the timeline" \
	grep -q 'nfs .*ok .*mount' <<<"$text"
metrics=$(ip netns exec "$S" true; "$PNB_BIN" status --state-dir "$st")
# The server's table comes first; the records' table (CLIENT ROOT ...)
# follows it.
live=$(sed '/^CLIENT  *ROOT /,$d' <<<"$metrics")
t_check "status table lists every client" \
	test "$(grep -c '^pi-' <<<"$live")" -eq 5
t_check "status: the records' table lists every client too" \
	test "$(sed -n '/^CLIENT  *ROOT /,$p' <<<"$metrics" | grep -c '^pi-')" -eq 5
t_check "refused mount shows on the stranger, not on a client" \
	grep -q '^(unknown) .*198.18.0.250 .*failed .*mount-refused' <<<"$metrics"

dh_stop_clean "$pid" "system: clean exit"

# The same daemon in proxy mode beside the site's router: the Pi 4's OS
# gets its address from the router during a boot pinetboot serves, and
# pinetboot exports the root there only once it has seen the REQUEST and
# the router's ACK.  The router broadcasts its replies (--dhcp-broadcast):
# an ACK sent to the Pi alone never reaches pinetboot (see
# tests/e2e/exports_hostile.sh for that case).
R=$(nn_ns router)
RIF=$(nn_port "$S" br0 "$R" 198.18.0.254/24)
nn_spawn "$R" "$NN_TMP/router.log" dnsmasq --no-daemon --conf-file=/dev/null \
	--port=0 --interface="$RIF" --bind-interfaces \
	--dhcp-range=198.18.0.200,198.18.0.220,255.255.255.0,1h --no-ping \
	--dhcp-leasefile="$NN_TMP/router.leases" --user=root --group=root \
	--pid-file="$NN_TMP/router.pid" --dhcp-broadcast
nn_wait_udp "$R" 67 || t_fail "router dnsmasq starts"
rm -rf "$st/dhcp"
nn_spawn "$S" "$NN_TMP/pnb-proxy.log" "$PNB_BIN" serve --interface br0 \
	--address 198.18.0.1 --state-dir "$st" --dhcp proxy \
	--dhcp-pi-delay 1000 --log-level debug
pid=$NN_LAST_PID
nn_wait_udp "$S" 4011 && nn_wait_tcp "$S" 2049 ||
	{ cat "$NN_TMP/pnb-proxy.log"; t_fail "proxy daemon starts"; exit 1; }
# The OS port carries the Pi 4's MAC too: keep it off the bridge while
# the emulated firmware uses that MAC, or the bridge sends the firmware's
# frames to the wrong port.
ip -n "$O" addr flush dev "$OIF"
ip -n "$O" link set "$OIF" down
dh_emu "system proxy: pi4 boots from its own tree" "$P" -i "$PIF" -m pi4 \
	-b 4 -t -T 20
grep -q 'booted 1/1' "$DH_EMU_LOG" ||
	grep -E 'tftp|dhcp' "$NN_TMP/pnb-proxy.log" | tail -25
ip -n "$O" link set "$OIF" up
dh_udhcpc "$O" "$OIF" "$NN_TMP/udhcpc2.out"
read -r addr2 sid2 <"$NN_TMP/udhcpc2.out" 2>/dev/null
t_check "system proxy: pi4 OS leases from the router ($addr2 from $sid2)" \
	test "${sid2:-}" = 198.18.0.254
ip -n "$O" addr add "$addr2/24" dev "$OIF"
out=$(ip netns exec "$O" timeout 20 nfs-cat \
	"nfs://198.18.0.1$root/etc/hostname?version=3" 2>&1)
t_check "system proxy: root exported to the router-given address" \
	grep -qx pi-pi4 <<<"$out"
one=$("$PNB_BIN" status pi-pi4 --json --state-dir "$st" | python3 -c '
import json, sys
c = json.load(sys.stdin)["clients"][0]
print(c["state"], c["address"])')
t_check "system proxy: pi4 booted at $addr2 ($one)" \
	test "$one" = "booted $addr2"
dh_stop_clean "$pid" "system proxy: clean exit"
t_done
