#!/usr/bin/env bash
# Provisioned clients' roots are exported over NFS to each client's own
# address, without --export, and follow the registry while the server
# runs: a client added later is exported, one removed is withdrawn.
set -u
source "$(dirname "$0")/../lib/netns.sh"
nn_init nfscli

S=$(nn_ns srv)
C=$(nn_ns cli)
O=$(nn_ns other)
nn_bridge "$S" br0 198.18.0.1/24
nn_port "$S" br0 "$C" 198.18.0.2/24 >/dev/null
nn_port "$S" br0 "$O" 198.18.0.3/24 >/dev/null
ST=$NN_TMP/state
mkdir -p "$ST/clients/pi1/root" "$ST/clients/pi1/boot"
printf 'mac = dc:a6:32:00:00:02\naddress = 198.18.0.2\n' >"$ST/clients/pi1/client.conf"
echo "pi1 root" >"$ST/clients/pi1/root/hello"
CLIENT="env ASAN_OPTIONS=detect_leaks=0 $PNB_TOOLS/nfs_client"

nn_spawn "$S" "$NN_TMP/srv.log" "$PNB_BIN" serve --dhcp off --tftp off \
	--address 198.18.0.1 --state-dir "$ST" --log-level info
SRV=$NN_LAST_PID
if ! nn_wait_tcp "$S" 2049; then
	t_fail "NFS starts for provisioned clients" "$(cat "$NN_TMP/srv.log")"
	t_done
	exit
fi
t_pass "NFS starts for provisioned clients without --export"
out=$(ip netns exec "$C" nfs-cat "nfs://198.18.0.1$ST/clients/pi1/root/hello" 2>&1)
t_check "the client reads its own root" [ "$out" = "pi1 root" ]
# The mount ends the client's boot on the status page.
out=$("$PNB_BIN" status pi1 --state-dir "$ST" 2>&1)
t_check "status shows pi1's NFS mount" grep -q "mount" <<<"$out"
out=$("$PNB_BIN" status --json --state-dir "$ST" 2>&1)
t_check "status counts pi1 as booted over NFS" \
	grep -q '"name":"pi1"[^}]*"state":"booted"' <<<"$out"
if ip netns exec "$O" $CLIENT mount 198.18.0.1 "$ST/clients/pi1/root" 2>/dev/null; then
	t_fail "another address cannot mount it" "mount succeeded"
else
	t_pass "another address cannot mount it"
fi

# A client added while running is exported to its address.
mkdir -p "$ST/clients/.pi2.tmp/root"
printf 'address = 198.18.0.3\n' >"$ST/clients/.pi2.tmp/client.conf"
echo "pi2 root" >"$ST/clients/.pi2.tmp/root/hello"
mv "$ST/clients/.pi2.tmp" "$ST/clients/pi2"
for i in $(seq 30); do
	grep -q "event=export path=\"$ST/clients/pi2/root\"" "$NN_TMP/srv.log" && break
	sleep 0.1
done
out=$(ip netns exec "$O" nfs-cat "nfs://198.18.0.1$ST/clients/pi2/root/hello" 2>&1)
t_check "a client added while running is exported" [ "$out" = "pi2 root" ]

# A client removed is withdrawn: its handles turn stale, MNT fails.
fh=$(ip netns exec "$O" $CLIENT handle 198.18.0.1 "$ST/clients/pi2/root" /hello)
mv "$ST/clients/pi2" "$NN_TMP/pi2.removed"
for i in $(seq 30); do
	grep -q "event=unexport" "$NN_TMP/srv.log" && break
	sleep 0.1
done
if ip netns exec "$O" $CLIENT mount 198.18.0.1 "$NN_TMP/pi2.removed/root" 2>/dev/null; then
	t_fail "a removed client's root is withdrawn" "still mountable"
else
	t_pass "a removed client's root is withdrawn"
fi
st=$(ip netns exec "$C" $CLIENT getattr 198.18.0.1 "$ST/clients/pi1/root" "$fh")
t_check "its old handle is stale" [ "$st" = 70 ]
nn_stop "$SRV"
t_check "server exits cleanly" \
	bash -c "! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' '$NN_TMP/srv.log'"
t_done
