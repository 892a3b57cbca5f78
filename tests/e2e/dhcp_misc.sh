#!/usr/bin/env bash
# DHCP robustness: malformed packets are dropped with a rate-limited log
# line, a flood of 100,000 DISCOVERs from random MACs neither grows the
# daemon nor starves a real Pi, and misconfigurations are refused at
# start with one line that says what to change.
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/dhcp.sh"
# Under ASan, freed memory waits in a quarantine of up to 256 MiB, which
# the flood's turnover of stranger records fills: keep it small so the
# RSS below measures the daemon, not the sanitizer.
[ -n "${ASAN_OPTIONS:-}" ] && export ASAN_OPTIONS=$ASAN_OPTIONS:quarantine_size_mb=4
nn_init dhm
S=$(nn_ns srv)
C=$(nn_ns pis)
nn_bridge "$S" br0 198.18.0.1/24
CIF=$(nn_port "$S" br0 "$C" 198.18.0.2/24)
DATA=$(cd "$(dirname "$0")/../data/dhcp" && pwd)

# --- misconfiguration, refused at start ---
out=$(ip netns exec "$S" timeout 10 "$PNB_BIN" serve --tftp off --nfs off \
	--interface br0 --state-dir "$NN_TMP/bad" --dhcp server \
	--dhcp-range 10.0.0.10,10.0.0.20 2>&1)
rc=$?
if [ "$rc" -ne 0 ] && [ "$(echo "$out" | grep -c 'outside the subnet')" = 1 ]; then
	t_pass "dhcp misc: range outside the interface subnet refused"
else
	t_fail "dhcp misc: range outside the interface subnet refused" \
		"rc $rc: $out"
fi
nn_spawn "$S" "$NN_TMP/squat.log" dnsmasq --no-daemon --conf-file=/dev/null \
	--port=0 --dhcp-range=198.18.0.50,198.18.0.60 --user=root \
	--group=root --pid-file="$NN_TMP/squat.pid"
squat=$NN_LAST_PID
nn_wait_udp "$S" 67
out=$(ip netns exec "$S" timeout 10 "$PNB_BIN" serve --tftp off --nfs off \
	--interface br0 --state-dir "$NN_TMP/bad" --dhcp proxy 2>&1)
rc=$?
if [ "$rc" -ne 0 ] && echo "$out" | grep -q 'port 67 is already in use'; then
	t_pass "dhcp misc: port 67 taken by another daemon refused"
else
	t_fail "dhcp misc: port 67 taken by another daemon refused" \
		"rc $rc: $out"
fi
nn_stop "$squat"

dh_serve "$S" "$NN_TMP/pnb.log" --interface br0 \
	--state-dir "$NN_TMP/state" --dhcp server \
	--dhcp-range 198.18.0.100,198.18.0.199 --log-level debug ||
	{ cat "$NN_TMP/pnb.log"; t_fail "pinetboot starts"; exit 1; }

# --- malformed packets ---
send() { ip netns exec "$C" bash -c "cat '$1' >/dev/udp/198.18.0.1/67"; }
head -c 100 "$DATA/pi4-discover.bin" >"$NN_TMP/short"
head -c 321 "$DATA/pi4-discover.bin" >"$NN_TMP/noend"
cp "$DATA/pi4-discover.bin" "$NN_TMP/hlen"
printf '\x11' | dd of="$NN_TMP/hlen" bs=1 seek=2 conv=notrunc 2>/dev/null
cp "$DATA/pi4-discover.bin" "$NN_TMP/overlong"
printf '\xff' | dd of="$NN_TMP/overlong" bs=1 seek=288 conv=notrunc 2>/dev/null
head -c 2000 /dev/urandom >"$NN_TMP/noise"
for i in $(seq 20); do
	for f in short noend hlen overlong noise; do
		send "$NN_TMP/$f"
	done
done
sleep 0.5
n=$(grep -c 'event=malformed' "$NN_TMP/pnb.log")
if [ "$n" -ge 1 ] && [ "$n" -le 20 ]; then
	t_pass "dhcp misc: 100 malformed packets logged rate-limited ($n lines)"
else
	t_fail "dhcp misc: malformed packets logged rate-limited" "$n lines"
fi
t_check "dhcp misc: daemon alive after malformed input" kill -0 "$DH_PID"

# --- flood ---
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
# ip netns exec execs the daemon, so the spawned PID is pinetboot's.
pid=$DH_PID
before=$(rss "$pid")
ip netns exec "$C" "$PNB_OUT/bench/dhcp_load" -i "$CIF" -f 100000 -r 25000 -g 9 \
	>"$NN_TMP/flood.log" 2>&1 &
flood=$!
sleep 0.2
dh_emu "dhcp misc: a real Pi 4 boots during the flood" "$C" -i "$CIF" \
	-m pi4 -b 1 -s -T 20
wait "$flood"
after=$(rss "$pid")
cat "$NN_TMP/flood.log"
# Offers to the flood are debug lines: count what the daemon answered.
n=$(grep -c 'peer=02:09:.*event=offer' "$NN_TMP/pnb.log")
if [ "$n" -ge 10000 ]; then
	t_pass "dhcp misc: flood at 25000/s answered ($n offers from a 100-address pool)"
else
	t_fail "dhcp misc: flood answered" "only $n offers"
fi
if [ -n "$before" ] && [ -n "$after" ] &&
	[ $((after - before)) -lt 20000 ]; then
	t_pass "dhcp misc: flood of 100000 DISCOVERs: RSS ${before} -> ${after} KiB"
else
	t_fail "dhcp misc: memory bounded under flood" "RSS $before -> $after KiB"
fi
dh_emu "dhcp misc: a real Pi 4 boots after the flood" "$C" -i "$CIF" \
	-m pi4 -b 2 -s -T 20
dh_stop_clean "$DH_PID" "dhcp misc: clean exit"
t_done
