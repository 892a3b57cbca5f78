#!/usr/bin/env bash
# 250 provisioned clients, two exports each (root and boot tree): 500
# exports, past the 256 (128 clients) the export table once held, when
# the 129th client's exports failed with "No space left on device".
# Clients far down the list read their own roots; neither another
# client nor a host that is no client can reach them.
set -u
source "$(dirname "$0")/../lib/netns.sh"
nn_init nfsmany

N=250
S=$(nn_ns srv)
LAST=$(nn_ns last)
MID=$(nn_ns mid)
O=$(nn_ns other)
nn_bridge "$S" br0 198.18.0.1/24
# pi250 and pi130 are clients; 198.18.0.253 is none.
nn_port "$S" br0 "$LAST" 198.18.0.251/24 >/dev/null
nn_port "$S" br0 "$MID" 198.18.0.131/24 >/dev/null
nn_port "$S" br0 "$O" 198.18.0.253/24 >/dev/null
ST=$NN_TMP/state
for i in $(seq "$N"); do
	d=$ST/clients/$(printf 'pi%03d' "$i")
	mkdir -p "$d/root" "$d/boot"
	printf 'mac = dc:a6:32:00:%02x:%02x\naddress = 198.18.0.%d\n' \
		$((i / 256)) $((i % 256)) $((i + 1)) >"$d/client.conf"
	echo "root of pi$i" >"$d/root/hello"
	echo "boot of pi$i" >"$d/boot/config.txt"
done
CLIENT="env ASAN_OPTIONS=detect_leaks=0 $PNB_TOOLS/nfs_client"

nn_spawn "$S" "$NN_TMP/srv.log" "$PNB_BIN" serve --dhcp off --tftp off \
	--address 198.18.0.1 --state-dir "$ST" --log-level info
SRV=$NN_LAST_PID
if ! nn_wait_tcp "$S" 2049; then
	t_fail "NFS starts with $N clients" "$(tail -20 "$NN_TMP/srv.log")"
	t_done
	exit
fi
# Exports follow the registry once it is read; wait for the last one.
for i in $(seq 100); do
	grep -q "event=export path=\"$ST/clients/pi250/boot\"" "$NN_TMP/srv.log" && break
	sleep 0.1
done
n=$(grep -c 'event=export path=' "$NN_TMP/srv.log")
t_check "all $((2 * N)) client exports are made ($n)" [ "$n" -ge $((2 * N)) ]
t_check "no export failed" \
	bash -c "! grep -q 'event=export-failed' '$NN_TMP/srv.log'"

out=$(ip netns exec "$LAST" nfs-cat "nfs://198.18.0.1$ST/clients/pi250/root/hello" 2>&1)
t_check "the 250th client reads its root ($out)" [ "$out" = "root of pi250" ]
out=$(ip netns exec "$LAST" nfs-cat "nfs://198.18.0.1$ST/clients/pi250/boot/config.txt" 2>&1)
t_check "the 250th client reads its boot tree ($out)" [ "$out" = "boot of pi250" ]
out=$(ip netns exec "$MID" nfs-cat "nfs://198.18.0.1$ST/clients/pi130/root/hello" 2>&1)
t_check "the 130th client reads its root ($out)" [ "$out" = "root of pi130" ]

# Hostile: the 130th client and a host that is no client, at pi250's.
for ns in "$MID" "$O"; do
	who="another client"
	[ "$ns" = "$O" ] && who="a host that is no client"
	if ip netns exec "$ns" $CLIENT mount 198.18.0.1 "$ST/clients/pi250/root" 2>/dev/null; then
		t_fail "$who cannot mount the 250th client's root" "mount succeeded"
	else
		t_pass "$who cannot mount the 250th client's root"
	fi
done
fh=$(ip netns exec "$LAST" $CLIENT handle 198.18.0.1 "$ST/clients/pi250/root" /hello)
# Through its own mount, the 130th client holds pi250's handle.
st=$(ip netns exec "$MID" $CLIENT getattr 198.18.0.1 "$ST/clients/pi130/root" "$fh" 2>&1)
t_check "another client cannot use the 250th client's handle (status $st)" \
	[ "$st" = 13 ]
# The EXPORT list shows each caller its own exports, no one else's.
out=$(ip netns exec "$MID" showmount -e 198.18.0.1 2>&1)
t_check "EXPORT lists the 130th client's two exports" \
	[ "$(grep -c "$ST/clients/pi130/" <<<"$out")" = 2 ]
t_check "EXPORT lists no other client's exports to it" \
	[ "$(grep -c "$ST/clients/" <<<"$out")" = 2 ]
out=$(ip netns exec "$O" showmount -e 198.18.0.1 2>&1)
t_check "EXPORT lists nothing to a host that is no client" \
	bash -c "! grep -q clients <<<'$out'"

nn_stop "$SRV"
t_check "server exits cleanly" \
	bash -c "! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' '$NN_TMP/srv.log'"
t_done
