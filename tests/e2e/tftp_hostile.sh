#!/usr/bin/env bash
# A hostile host on the boot LAN that is not a client (issue 10, items 4
# and 8), from namespaces of its own on the server's bridge:
#  - a read request forged with a victim's address gets the victim at
#    most 4 DATA packets (the first and three resends, all within its
#    first second), not a retransmission schedule's worth;
#  - the same forged request repeated (the way a Pi repeats its RRQ) gets
#    the victim one packet per repeat beyond those 4, nothing more;
#  - forged requests from one address hold at most tftp.max_per_client
#    transfers;
#  - forged requests from many addresses cannot take every transfer slot
#    from a real client;
#  - a file swapped for a FIFO between the server's look and its open
#    (a client can rename files in its own boot tree) never blocks the
#    loop: a real client is still served.
. "$(dirname "$0")/../lib/netns.sh"
nn_init tfh
S=$(nn_ns srv)
A=$(nn_ns attacker)
V=$(nn_ns victim)
C=$(nn_ns cli)
nn_bridge "$S" br0 198.18.0.1/24
nn_port "$S" br0 "$A" 198.18.0.66/24 >/dev/null
nn_port "$S" br0 "$V" 198.18.0.77/24 >/dev/null
nn_port "$S" br0 "$C" 198.18.0.2/24 >/dev/null
ROOT=$NN_TMP/root
mkdir -p "$ROOT/race"
head -c 100000 /dev/urandom >"$ROOT/big.bin"
head -c 30000 /dev/urandom >"$ROOT/ok.bin"
SLOG=$NN_TMP/server.log

start() { # serve options...
	nn_spawn "$S" "$SLOG" "$PNB_BIN" serve --interface br0 \
		--address 198.18.0.1 --dhcp off --nfs off --tftp-root "$ROOT" \
		--state-dir "$NN_TMP/state" "$@"
	SRV_PID=$NN_LAST_PID
	nn_wait_udp "$S" 69 || {
		t_fail "server starts" "$(tail -3 "$SLOG")"
		exit 1
	}
}

# forge SRC_FIRST SRC_COUNT PORT_FIRST PER_SRC FILE: read requests for
# FILE with forged source addresses 198.18.0.SRC_FIRST.. and ports,
# written as raw IPv4 so the kernel puts no address of ours on them.
forge() {
	ip netns exec "$A" python3 - "$@" <<'EOF'
import socket, struct, sys
first, count, port0, per, name = sys.argv[1:6]
first, count, port0, per = int(first), int(count), int(port0), int(per)
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
rrq = b"\0\1" + name.encode() + b"\0octet\0"
dst = socket.inet_aton("198.18.0.1")
for i in range(count):
    src = socket.inet_aton("198.18.0.%d" % (first + i))
    for k in range(per):
        sport = port0 + i * per + k
        ulen = 8 + len(rrq)
        pseudo = src + dst + struct.pack("!BBH", 0, 17, ulen)
        udp = struct.pack("!HHHH", sport, 69, ulen, 0) + rrq
        c = csum(pseudo + udp) or 0xffff
        udp = struct.pack("!HHHH", sport, 69, ulen, c) + rrq
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 0, 0, 64,
                         17, 0, src, dst)
        s.sendto(ip + udp, ("198.18.0.1", 0))
EOF
}

# The victim counts what the server sends it: all of it, and DATA only.
ip netns exec "$V" nft -f - <<'EOF'
table inet count {
	chain in {
		type filter hook input priority 0;
		ip saddr 198.18.0.1 udp dport 40000-40999 udp length > 100 counter name one
		ip saddr 198.18.0.1 udp dport 41000-41999 udp length > 100 counter name many
		ip saddr 198.18.0.1 udp dport 43000-43099 udp length > 100 counter name again
	}
	counter one { }
	counter many { }
	counter again { }
}
EOF
# served NAME: a real client fetches ok.bin whole within 10 s.
served() {
	if ip netns exec "$C" timeout 10 "$PNB_TOOLS/tftp_client" 198.18.0.1 \
		"ok.bin=$NN_TMP/got" >"$NN_TMP/cli.log" 2>&1 &&
		cmp -s "$ROOT/ok.bin" "$NN_TMP/got"; then
		t_pass "$1"
	else
		t_fail "$1" "$(tail -2 "$NN_TMP/cli.log")"
	fi
	rm -f "$NN_TMP/got"
}

packets() { # COUNTER
	ip netns exec "$V" nft list counter inet count "$1" |
		sed -n 's/.*packets \([0-9]*\).*/\1/p'
}

start --tftp-max-transfers 40
# Eight forged requests aimed at the victim, one transfer each.
forge 77 1 40001 8 big.bin
# Forty more from the same address: more than one address may hold.
forge 77 1 41001 40 big.bin
# The resends end within a second; a schedule of 1, 2, 4 s resends (the
# one before issue 10) would still be sending after 2 s.
sleep 2
n2=$(packets one)
sleep 6
n=$(packets one)
t_check "8 forged requests: the victim got $n DATA packets (at most 32)" \
	[ "${n:-999}" -le 32 ]
t_check "8 forged requests: none after the first 2 s ($n2 then $n)" \
	[ "${n:-999}" = "${n2:-0}" ]
n=$(packets many)
t_check "40 forged requests from one address: $n DATA packets (at most 16 transfers x 4 = 64)" \
	[ "${n:-999}" -le 64 ]
grep -q 'too many transfers from this address' "$SLOG" &&
	t_pass "requests past the per-address cap refused" ||
	t_fail "requests past the per-address cap refused"

# One forged request, then the same one five times more from the same
# port after its resends are spent: each repeat may cost the victim one
# packet (a new request would cost four), so at most 4 + 5.
forge 77 1 43000 1 big.bin
sleep 1.5
for k in 1 2 3 4 5; do
	forge 77 1 43000 1 big.bin
	sleep 0.3
done
sleep 1
n=$(packets again)
t_check "a forged request repeated 5 times: the victim got $n DATA packets (at most 9)" \
	[ "${n:-999}" -le 9 ]

# 200 forged requests from 100 addresses nobody has, then a real client.
forge 100 100 42001 2 big.bin
sleep 0.3
served "a real client is served while forged requests fill the slots"
nn_stop "$SRV_PID"

# The FIFO swap: race/f is a regular file and a FIFO in turn, swapped by
# rename as fast as the machine goes, while the attacker asks for it.
mkfifo "$ROOT/race/.p"
head -c 2000 /dev/urandom >"$ROOT/race/.r"
start --tftp-max-transfers 5000 --tftp-max-per-client 5000
python3 - "$ROOT/race" <<'EOF' &
import os, sys, time
d = sys.argv[1]
end = time.time() + 6
while time.time() < end:
    for src in (".r", ".p"):
        try:
            os.link(os.path.join(d, src), os.path.join(d, "t"))
            os.rename(os.path.join(d, "t"), os.path.join(d, "f"))
        except OSError:
            pass
EOF
swapper=$!
NN_PIDS+=("$swapper")
sleep 0.2
for round in 1 2 3 4 5; do
	forge 66 1 $((50000 + round * 1000)) 600 race/f
done
wait "$swapper"
served "a FIFO swapped in for a file never stops the loop"
grep -c 'event=nak code=2 file="race/f"' "$SLOG" | sed 's/^/INFO: FIFO refusals logged: /'
t_done
