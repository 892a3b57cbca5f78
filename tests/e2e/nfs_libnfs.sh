#!/usr/bin/env bash
# pinetboot's portmapper, MOUNT and NFS v3 against libnfs clients
# (libnfs-utils and tests/tools/nfs_client.c) in private namespaces:
# every procedure, bad handles, a disallowed client, a read-only export,
# and file handles that survive a restart of the server.
set -u
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/nfs.sh"
nn_init nfs

S=$(nn_ns srv)
C=$(nn_ns cli)
B=$(nn_ns bad)
nn_bridge "$S" br0 198.18.0.1/24
nn_port "$S" br0 "$C" 198.18.0.2/24 >/dev/null
nn_port "$S" br0 "$B" 198.18.0.3/24 >/dev/null

EXP=$NN_TMP/exp
RO=$NN_TMP/ro
mkdir -p "$EXP" "$RO" "$NN_TMP/state"
echo "hello over nfs" >"$EXP/hello.txt"
echo "read only" >"$RO/r.txt"
# The client's leaks are libnfs's own; the server keeps leak detection.
CLIENT="env ASAN_OPTIONS=detect_leaks=0 $PNB_TOOLS/nfs_client"

start_server() {
	nn_spawn "$S" "$NN_TMP/srv$1.log" "$PNB_BIN" serve --dhcp off \
		--tftp off --address 198.18.0.1 --state-dir "$NN_TMP/state" \
		--export "$(nfs_export_spec "$EXP:rw,allow=198.18.0.2/32")" \
		--export "$(nfs_export_spec "$RO:ro")" \
		--log-level info
	SRV_PID=$NN_LAST_PID
	nn_wait_tcp "$S" 2049 && nn_wait_tcp "$S" 111
}

if ! start_server 1; then
	t_fail "server starts" "$(cat "$NN_TMP/srv1.log")"
	t_done
	exit
fi
t_pass "server starts"

# Every procedure through the libnfs client; it prints PASS/FAIL itself.
ip netns exec "$C" $CLIENT all 198.18.0.1 "$EXP" ||
	t_fail "libnfs client suite" "exit status $?"

# Raw RPC: UDP with the duplicate request cache, fragments, pipelining,
# an oversized record, NFSACL, portmapper SET/CALLIT from afar.
ip netns exec "$C" "$PNB_TOOLS/rpc_probe" -p resv 198.18.0.1 suite "$EXP" ||
	t_fail "rpc probe" "exit status $?"

# Debian's own RPC tools: rpcinfo (portmapper DUMP, NULL over UDP and TCP)
# and showmount (MOUNT EXPORT and DUMP).
out=$(ip netns exec "$C" rpcinfo -p 198.18.0.1 2>&1)
t_check "rpcinfo -p lists nfs and mountd on tcp and udp" \
	test "$(grep -cE '^ +1000(03|05) +3 +(tcp|udp) ' <<<"$out")" -eq 4
t_check "rpcinfo NULL to nfs over udp" \
	ip netns exec "$C" rpcinfo -u 198.18.0.1 100003 3
t_check "rpcinfo NULL to mountd over tcp" \
	ip netns exec "$C" rpcinfo -t 198.18.0.1 100005 3
out=$(ip netns exec "$C" rpcinfo -t 198.18.0.1 100003 2>&1)
t_check "rpcinfo finds version 3 alone through PROG_MISMATCH" \
	[ "$out" = "program 100003 version 3 ready and waiting" ]
out=$(ip netns exec "$C" rpcinfo -t 198.18.0.1 100003 2 2>&1)
t_check "NFS v2 gets PROG_MISMATCH 3..3" grep -q "low version = 3, high version = 3" <<<"$out"
out=$(ip netns exec "$C" showmount -e 198.18.0.1 2>&1)
t_check "showmount -e lists both exports with their groups" \
	bash -c "grep -q '$EXP .*198.18.0.2/32' <<<'$out' && grep -q '$RO ' <<<'$out'"
out=$(ip netns exec "$C" showmount -a 198.18.0.1 2>&1)
t_check "showmount -a lists the client's mounts" grep -q "198.18.0.2:$EXP" <<<"$out"

# The stock libnfs-utils tools.
out=$(ip netns exec "$C" nfs-cat "nfs://198.18.0.1$EXP/hello.txt" 2>&1)
t_check "nfs-cat reads a file" [ "$out" = "hello over nfs" ]
head -c 2500000 /dev/urandom >"$NN_TMP/blob"
ip netns exec "$C" nfs-cp "$NN_TMP/blob" "nfs://198.18.0.1$EXP/blob" >/dev/null 2>&1
t_check "nfs-cp writes a file" cmp -s "$NN_TMP/blob" "$(nfs_host "$EXP" blob)"
ip netns exec "$C" nfs-cp "nfs://198.18.0.1$EXP/blob" "$NN_TMP/blob2" >/dev/null 2>&1
t_check "nfs-cp reads it back" cmp -s "$NN_TMP/blob" "$NN_TMP/blob2"
out=$(ip netns exec "$C" nfs-ls "nfs://198.18.0.1$EXP/" 2>&1)
t_check "nfs-ls lists the export" grep -q "hello.txt" <<<"$out"

# A read-only export: reads work, writes are refused.
out=$(ip netns exec "$C" nfs-cat "nfs://198.18.0.1$RO/r.txt" 2>&1)
t_check "read-only export reads" [ "$out" = "read only" ]
ip netns exec "$C" nfs-cp "$NN_TMP/blob" "nfs://198.18.0.1$RO/w" >/dev/null 2>&1
t_check "read-only export refuses writes" [ ! -e "$(nfs_host "$RO" w)" ]

# A client outside allow= gets MNT3ERR_ACCES and a log line naming it.
if ip netns exec "$B" $CLIENT mount 198.18.0.1 "$EXP" 2>/dev/null; then
	t_fail "disallowed client cannot mount" "mount succeeded"
else
	t_pass "disallowed client cannot mount"
fi
sleep 0.2
t_check "refusal is logged with the peer" \
	grep -q 'peer=198.18.0.3:[0-9]* event=mount-refused.*stat=13' "$NN_TMP/srv1.log"
ip netns exec "$B" nfs-cat "nfs://198.18.0.1$RO/r.txt" >/dev/null 2>&1
t_check "default allow= is the server's subnet" [ $? -eq 0 ]

# Handles survive a restart: same key from the state directory.
echo keep >"$(nfs_host_new "$EXP" keep)"
fh=$(ip netns exec "$C" $CLIENT handle 198.18.0.1 "$EXP" /keep)
nn_stop "$SRV_PID"
if start_server 2; then
	st=$(ip netns exec "$C" $CLIENT getattr 198.18.0.1 "$EXP" "$fh")
	t_check "handle survives a restart" [ -n "$fh" ] && [ "$st" = 0 ]
else
	t_fail "server restarts" "$(cat "$NN_TMP/srv2.log")"
fi
nn_stop "$SRV_PID"
t_check "server exits cleanly" \
	bash -c "! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' '$NN_TMP/srv1.log' '$NN_TMP/srv2.log'"
t_done
