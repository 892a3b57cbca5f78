#!/usr/bin/env bash
# The status endpoint over TCP in a private namespace, the control socket
# used by `pinetboot status`, and SIGHUP reload (good and bad config).
set -u
. "$(dirname "$0")/../lib/netns.sh"
nn_init http

srv=$(nn_ns srv)
cli=$(nn_ns cli)
ifs=$(nn_veth "$srv" 198.18.0.1/24 "$cli" 198.18.0.2/24)
CIF=${ifs#* }
# wait_file FILE: up to 5 s until FILE has something in it.
wait_file() {
	local i
	for i in $(seq 50); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
st=$NN_TMP/state
conf=$NN_TMP/pinetboot.conf
printf '[server]\nlog_level = info\n' >"$conf"

nn_spawn "$srv" "$NN_TMP/serve.log" "$PNB_BIN" serve --config "$conf" \
	--address 198.18.0.1 --dhcp off --tftp off --nfs off \
	--http 198.18.0.1:8080 --state-dir "$st"
pid=$NN_LAST_PID
nn_wait_tcp "$srv" 8080 || t_fail "server listens on 8080"

page=$(ip netns exec "$cli" curl -sf http://198.18.0.1:8080/)
t_check "page is served as html" grep -q '<title>pinetboot status</title>' <<<"$page"
json=$(ip netns exec "$cli" curl -sf http://198.18.0.1:8080/api/status)
t_check "status is json with a clients list" grep -q '"clients":\[' <<<"$json"
metrics=$(ip netns exec "$cli" curl -sf http://198.18.0.1:8080/metrics)
t_check "metrics in prometheus format" \
	grep -q '^pinetboot_tftp_bytes_total 0$' <<<"$metrics"
code=$(ip netns exec "$cli" curl -s -o /dev/null -w '%{http_code}' \
	-X POST http://198.18.0.1:8080/api/reload)
t_check "reload refused over tcp" test "$code" = 403
code=$(ip netns exec "$cli" curl -s -o /dev/null -w '%{http_code}' \
	http://198.18.0.1:8080/nope)
t_check "unknown path is 404" test "$code" = 404
code=$(printf 'GARBAGE\r\n\r\n' | ip netns exec "$cli" timeout 5 \
	curl -s -o /dev/null -w '%{http_code}' -X 'BAD METHOD' \
	http://198.18.0.1:8080/ 2>/dev/null)
t_check "malformed request gets 400" test "$code" = 400

# DNS rebinding: a page that reached this port through its own name sends
# that name as Host; only the address it listens on is accepted.
hcode() {
	ip netns exec "$cli" curl -s -o "$NN_TMP/body" -w '%{http_code}' "$@"
}
code=$(hcode -H 'Host: rebind.example:8080' http://198.18.0.1:8080/api/status)
t_check "a foreign Host is refused with 421" test "$code" = 421
t_check "the refusal says which Host to use" \
	grep -q 'ask for http://198.18.0.1:8080/' "$NN_TMP/body"
code=$(hcode -H 'Host: 198.18.0.1:9999' http://198.18.0.1:8080/metrics)
t_check "the right address with another port is refused" test "$code" = 421
code=$(hcode -H 'Host:' http://198.18.0.1:8080/api/status)
t_check "a request without Host is a bad request" test "$code" = 400
code=$(hcode --http1.0 -H 'Host:' http://198.18.0.1:8080/)
t_check "an HTTP/1.0 request without Host too" test "$code" = 400
code=$(hcode http://198.18.0.1:8080/api/status)
t_check "the server's own address is served" test "$code" = 200

out=$("$PNB_BIN" status --state-dir "$st")
t_check "status cli prints the table header" grep -q '^NAME ' <<<"$out"
out=$("$PNB_BIN" status --json --state-dir "$st")
t_check "status cli --json" grep -q '"uptime_ms"' <<<"$out"
"$PNB_BIN" status ghost --state-dir "$st" >/dev/null 2>&1
t_check "status of unknown client exits 1" test $? -eq 1

# Slot exhaustion from the network: four addresses of a host that is not
# a client open 20 idle connections each; the TCP port fills up, and the
# control socket must still answer `pinetboot status`.
for a in 3 4 5; do
	ip -n "$cli" addr add 198.18.0.$a/24 dev "$CIF"
done
ip netns exec "$cli" python3 -c '
import socket, time
held = {}
for src in ("198.18.0.2", "198.18.0.3", "198.18.0.4", "198.18.0.5"):
    held[src] = []
    for i in range(20):
        s = socket.socket()
        s.bind((src, 0))
        s.connect(("198.18.0.1", 8080))
        held[src].append(s)
time.sleep(0.5)
open_ = []
for src, socks in held.items():
    n = 0
    for s in socks:
        s.setblocking(False)
        try:
            n += s.recv(1) != b""
        except BlockingIOError:
            n += 1
        except OSError:
            pass
    open_.append(str(n))
print(" ".join(open_), flush=True)
time.sleep(3)
' >"$NN_TMP/held" &
hold=$!
wait_file "$NN_TMP/held"
read -r h2 h3 h4 h5 <"$NN_TMP/held"
t_check "one address holds at most 16 TCP slots ($h2 $h3 $h4 $h5 open)" \
	test "$h2 $h3 $h4 $h5" = "16 16 16 16"
ip -n "$cli" addr add 198.18.0.6/24 dev "$CIF"
code=$(ip netns exec "$cli" curl -s -o /dev/null -w '%{http_code}' \
	--interface 198.18.0.6 --max-time 2 http://198.18.0.1:8080/api/status)
t_check "the TCP port is full for a fifth address" test "$code" = 000
out=$("$PNB_BIN" status --state-dir "$st" 2>&1)
t_check "status over the control socket while the TCP slots are full" \
	grep -q '^NAME ' <<<"$out"
wait "$hold"

printf '[server]\nlog_level = debug\n' >"$conf"
kill -HUP "$pid"
sleep 0.3
t_check "good reload applied" grep -q 'event=reload result=ok' "$NN_TMP/serve.log"
printf '[server]\nbogus = 1\n' >"$conf"
kill -HUP "$pid"
sleep 0.3
t_check "bad reload keeps old config" \
	grep -q 'event=reload-failed keeping=old' "$NN_TMP/serve.log"
t_check "server still answers after bad reload" \
	ip netns exec "$cli" curl -sf -o /dev/null http://198.18.0.1:8080/api/status

nn_stop "$pid"
t_check "control socket removed at stop" test ! -e "$st/pinetboot.sock"
"$PNB_BIN" status --state-dir "$st" >/dev/null 2>&1
t_check "status without server exits 1" test $? -eq 1

# A read token (--http-token): its file must be the owner's alone.
tok=0123456789abcdef0123456789abcdef
echo "$tok" >"$NN_TMP/token"
chmod 644 "$NN_TMP/token"
out=$(ip netns exec "$srv" timeout 10 "$PNB_BIN" serve --address 198.18.0.1 \
	--dhcp off --tftp off --nfs off --http 198.18.0.1:8080 \
	--http-token "$NN_TMP/token" --state-dir "$st" 2>&1)
t_check "a token file others may read stops the start, with the fix" \
	grep -q 'may be read or changed by others (mode 0644): chmod 600' <<<"$out"
chmod 600 "$NN_TMP/token"
nn_spawn "$srv" "$NN_TMP/serve2.log" "$PNB_BIN" serve --address 198.18.0.1 \
	--dhcp off --tftp off --nfs off --http 198.18.0.1:8080 \
	--http-token "$NN_TMP/token" --state-dir "$st"
pid=$NN_LAST_PID
nn_wait_tcp "$srv" 8080 || { cat "$NN_TMP/serve2.log"; t_fail "token server starts"; }
for path in /api/status /api/status.txt /metrics /api/clients/x; do
	code=$(hcode "http://198.18.0.1:8080$path")
	t_check "no token: $path is 401" test "$code" = 401
done
t_check "the 401 says how to send the token" \
	grep -q 'Authorization: Bearer TOKEN' "$NN_TMP/body"
code=$(hcode -D "$NN_TMP/head" -H 'Authorization: Bearer wrong-token-0123456789' \
	http://198.18.0.1:8080/api/status)
t_check "a wrong token is 401" test "$code" = 401
t_check "the 401 names the scheme" \
	grep -qi '^WWW-Authenticate: Bearer' "$NN_TMP/head"
code=$(hcode -H "Authorization: Bearer $tok" http://198.18.0.1:8080/api/status)
t_check "the token opens the status" test "$code" = 200
code=$(hcode -H "Authorization: bearer $tok" http://198.18.0.1:8080/metrics)
t_check "the scheme is case-insensitive" test "$code" = 200
code=$(hcode http://198.18.0.1:8080/)
t_check "the page itself (no data) needs no token" test "$code" = 200
out=$("$PNB_BIN" status --state-dir "$st")
t_check "the control socket needs no token" grep -q '^NAME ' <<<"$out"
nn_stop "$pid"

# Hardware ids stay off the network: a provisioned Pi 4 and a stranger
# boot (forged DISCOVERs with option 97, a TFTP read under the serial);
# the TCP JSON, text, page and metrics name neither MAC nor serial, the
# control socket does.
mkdir -p "$st/clients/pi4/boot"
printf 'serial = 9ffefdef\nmac = dc:a6:32:01:36:c2\n' \
	>"$st/clients/pi4/client.conf"
nn_spawn "$srv" "$NN_TMP/serve3.log" "$PNB_BIN" serve --address 198.18.0.1 \
	--dhcp proxy --dhcp-pi-delay 0 --tftp on --nfs off \
	--http 198.18.0.1:8080 --state-dir "$st"
pid=$NN_LAST_PID
nn_wait_tcp "$srv" 8080 && nn_wait_udp "$srv" 67 ||
	{ cat "$NN_TMP/serve3.log"; t_fail "ids server starts"; }
ip netns exec "$cli" "$PNB_TOOLS/dhcp_forge" -i "$CIF" -t discover \
	-c dc:a6:32:01:36:c2 -e 9ffefdef -V PXEClient:Arch:00000:UNDI:002001
ip netns exec "$cli" "$PNB_TOOLS/dhcp_forge" -i "$CIF" -t discover \
	-c b8:27:eb:aa:bb:cc -e 1234abcd -V PXEClient:Arch:00000:UNDI:002001
ip netns exec "$cli" curl -s -o /dev/null tftp://198.18.0.1/9ffefdef/x.txt
sleep 0.5
ids='9ffefdef\|1234abcd\|dc:a6:32:01:36:c2\|dc-a6-32-01-36-c2\|b8:27:eb:aa:bb:cc'
"$PNB_BIN" status --json --state-dir "$st" >"$NN_TMP/local.json"
t_check "the control socket shows the MACs and serials" \
	bash -c "grep -q 9ffefdef '$NN_TMP/local.json' &&
		grep -q b8:27:eb:aa:bb:cc '$NN_TMP/local.json'"
t_check "the control socket's timeline has the TFTP read" \
	grep -q '9ffefdef/x.txt' "$NN_TMP/local.json"
for path in /api/status /api/status.txt '/api/status.txt?name=pi4' \
	/api/clients/pi4 /metrics /; do
	ip netns exec "$cli" curl -s -o "$NN_TMP/tcp.out" \
		"http://198.18.0.1:8080$path"
	t_check "TCP $path names no MAC or serial" \
		bash -c "[ -s '$NN_TMP/tcp.out' ] && ! grep -q '$ids' '$NN_TMP/tcp.out'"
done
t_check "the TCP timeline still has the TFTP read, masked" \
	bash -c "ip netns exec '$cli' curl -s http://198.18.0.1:8080/api/clients/pi4 |
		grep -q 'xxxxxxxx/x.txt'"

# A full store (4000 PXE clients that booted) read by 64 clients that do
# not read their replies: the JSON is rendered a step at a time as each
# socket drains, so the server holds a step per reader, not the whole
# list (about 2 MB) 64 times over; complete reads are whole JSON.
ip netns exec "$cli" "$PNB_TOOLS/dhcp_forge" -i "$CIF" -t discover \
	-c 02:00:00:01:00:00 -n 4000 \
	-V "PXEClient:Arch:00007:UNDI:003016:$(printf 'x%.0s' $(seq 180))"
sleep 1
count() {
	python3 -c 'import json, sys; print(len(json.load(sys.stdin)["clients"]))'
}
n=$("$PNB_BIN" status --json --state-dir "$st" | count)
t_check "the control socket lists the full store as JSON ($n clients)" \
	test "${n:-0}" -ge 4000
n=$(ip netns exec "$cli" curl -s http://198.18.0.1:8080/api/status | count)
t_check "TCP lists the full store as JSON ($n clients)" test "${n:-0}" -ge 4000
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
before=$(rss "$pid")
ip netns exec "$cli" python3 -c '
import socket, time
held = []
for src in ("198.18.0.2", "198.18.0.3", "198.18.0.4", "198.18.0.5"):
    for i in range(16):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.bind((src, 0))
        s.connect(("198.18.0.1", 8080))
        s.sendall(b"GET /api/status HTTP/1.1\r\nHost: 198.18.0.1:8080\r\n\r\n")
        held.append(s)
print("held", flush=True)
time.sleep(3)
' >"$NN_TMP/slow" &
slow=$!
wait_file "$NN_TMP/slow"
sleep 1
after=$(rss "$pid")
# A step buffer is 128 KiB at most, 8 MiB for 64 readers (twice that
# under ASan, which keeps freed blocks); whole lists would be 128 MB.
t_check "64 readers that do not read cost under 32 MiB (${before} -> ${after} KiB)" \
	test $((after - before)) -lt 32768
out=$("$PNB_BIN" status --state-dir "$st" 2>&1)
t_check "status over the control socket meanwhile" grep -q '^NAME ' <<<"$out"
wait "$slow"
nn_stop "$pid"
nn_spawn "$srv" "$NN_TMP/serve4.log" "$PNB_BIN" serve --address 198.18.0.1 \
	--dhcp off --tftp off --nfs off --http 198.18.0.1:8080 \
	--http-show-ids on --state-dir "$st"
pid=$NN_LAST_PID
nn_wait_tcp "$srv" 8080 || t_fail "show-ids server starts"
t_check "with --http-show-ids on, TCP shows the serial" \
	bash -c "ip netns exec '$cli' curl -s http://198.18.0.1:8080/api/status |
		grep -q 9ffefdef"
nn_stop "$pid"
t_done
