#!/usr/bin/env bash
# Hostile: a host on the LAN with 16 addresses tries to exhaust the
# portmapper, MOUNT and NFS: hundreds of TCP connections that each
# announce a record and then send a byte every 5 s; then, as root on a
# host the export is open to (a Pi may be that), 32 connections that
# pipeline READDIRPLUS calls asking for 1 MiB replies and never read one,
# and a flood of 60 KiB FILE_SYNC WRITEs over UDP.
# Meanwhile a client (libnfs) must still mount and read, the attacking
# connections must be closed by the server, and the server's resident
# memory (VmRSS, measured here) must stay bounded.
set -u
source "$(dirname "$0")/../lib/netns.sh"
nn_init nfsex

S=$(nn_ns srv)
C=$(nn_ns cli)
A=$(nn_ns atk)
nn_bridge "$S" br0 198.18.0.1/24
nn_port "$S" br0 "$C" 198.18.0.2/24 >/dev/null
dev=$(nn_port "$S" br0 "$A" 198.18.0.100/24)
ADDRS=198.18.0.100
for i in $(seq 101 115); do
	ip -n "$A" addr add "198.18.0.$i/24" dev "$dev"
	ADDRS+=",198.18.0.$i"
done
EXP=$NN_TMP/exp
mkdir -p "$EXP/big" "$NN_TMP/state"
echo "still served" >"$EXP/file"
# Enough entries for READDIRPLUS replies of 1 MiB.
(cd "$EXP/big" && seq -f "entry-with-a-longish-name-%06g" 6000 | xargs touch)
PROBE=$PNB_TOOLS/rpc_probe
HOLD=${PNB_EXHAUST_SECONDS:-50}

# Under ASan, freed memory waits in a quarantine (256 MiB by default)
# that would hide what the server itself holds; keep it small.
nn_spawn "$S" "$NN_TMP/srv.log" env \
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=8" \
	"$PNB_BIN" serve --dhcp off --tftp off \
	--address 198.18.0.1 --state-dir "$NN_TMP/state" \
	--export "$EXP" --log-level info
SRV=$NN_LAST_PID
if ! nn_wait_tcp "$S" 2049 || ! nn_wait_tcp "$S" 111; then
	t_fail "server starts" "$(cat "$NN_TMP/srv.log")"
	t_done
	exit
fi
# The server process itself (nn_spawn's PID is "ip netns exec").
PID=$(pgrep -P "$SRV" -f pinetboot || echo "$SRV")
rss() { awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$PID/status"; }
MNT=$(ip netns exec "$C" "$PROBE" 198.18.0.1 pmap-getport 100005 3 6)
legit() {
	ip netns exec "$C" timeout 30 nfs-cat "nfs://198.18.0.1$EXP/file" 2>&1
}
out=$(legit)
t_check "the client reads before the attack" [ "$out" = "still served" ]
BASE=$(rss)

# Slow records on all three ports.
# Small records on the portmapper and MOUNT (theirs are at most 8 KiB),
# and more connections than the NFS port takes (1024 by default).
JOBS=()
for spec in 111:200:4000 "$MNT":200:4000 2049:1100:1048576; do
	IFS=: read -r port n size <<<"$spec"
	ip netns exec "$A" "$PROBE" -b "$ADDRS" 198.18.0.1 hold "$port" "$n" \
		"$HOLD" "$size" >"$NN_TMP/hold-$port" &
	JOBS+=($!)
done
NN_PIDS+=("${JOBS[@]}")
sleep 5
PEAK=$(rss)
out=$(legit)
t_check "the client still mounts and reads during slow-record attack" \
	[ "$out" = "still served" ]
for i in $(seq $((HOLD - 5))); do
	r=$(rss)
	[ "$r" -gt "$PEAK" ] && PEAK=$r
	sleep 1
done
wait "${JOBS[@]}"
for port in 111 "$MNT" 2049; do
	read -r _ opened _ closed _ <"$NN_TMP/hold-$port"
	echo "INFO: slow records on port $port: $opened connections" \
		"accepted, $closed closed by the server within ${HOLD}s"
	t_check "slow-record connections to port $port are closed by the server ($closed of $opened)" \
		[ "$closed" -eq "$opened" ]
done
echo "INFO: VmRSS before ${BASE} MiB, peak during slow records ${PEAK} MiB" \
	"(load $(cut -d' ' -f1-3 /proc/loadavg))"
t_check "memory stays bounded under slow records (+$((PEAK - BASE)) MiB)" \
	[ $((PEAK - BASE)) -lt 48 ]

# Connections that never read their replies.
read -r _ root < <(ip netns exec "$A" "$PROBE" -p resv -t 198.18.0.1 mnt "$EXP")
read -r _ big < <(ip netns exec "$A" "$PROBE" -p resv -t 198.18.0.1 lookup "$root" big)
BASE=$(rss)
ip netns exec "$A" "$PROBE" -p resv -b "$ADDRS" 198.18.0.1 noread 2049 32 \
	"$HOLD" "$big" >"$NN_TMP/noread" &
JOBS=($!)
NN_PIDS+=("${JOBS[@]}")
sleep 5
PEAK=$(rss)
out=$(legit)
t_check "the client still mounts and reads while peers do not read" \
	[ "$out" = "still served" ]
for i in $(seq $((HOLD - 5))); do
	r=$(rss)
	[ "$r" -gt "$PEAK" ] && PEAK=$r
	sleep 1
done
wait "${JOBS[@]}"
read -r _ opened _ closed _ sent <"$NN_TMP/noread"
echo "INFO: never-reading peers: $opened connections, $closed closed by" \
	"the server, $((sent >> 10)) KiB of READDIRPLUS calls sent; VmRSS" \
	"before ${BASE} MiB, peak ${PEAK} MiB"
t_check "peers that never read are closed by the server ($closed of $opened)" \
	[ "$closed" -eq "$opened" ]
# The NFS transport's budget is 64 MiB; the rest is the allocator's.
t_check "memory stays bounded under never-reading peers (+$((PEAK - BASE)) MiB)" \
	[ $((PEAK - BASE)) -lt 192 ]
# A flood of 60 KiB FILE_SYNC WRITEs over UDP, faster than the disk.
echo x >"$EXP/target"
read -r _ target < <(ip netns exec "$A" "$PROBE" -p resv -t 198.18.0.1 lookup "$root" target)
BASE=$(rss)
ip netns exec "$A" "$PROBE" -p resv 198.18.0.1 udpflood "$target" 20 \
	>"$NN_TMP/udpflood" &
JOBS=($!)
NN_PIDS+=("${JOBS[@]}")
sleep 5
PEAK=$(rss)
out=$(legit)
t_check "the client still mounts and reads during a UDP flood" \
	[ "$out" = "still served" ]
for i in $(seq 15); do
	r=$(rss)
	[ "$r" -gt "$PEAK" ] && PEAK=$r
	sleep 1
done
wait "${JOBS[@]}"
echo "INFO: UDP flood: $(cat "$NN_TMP/udpflood") WRITEs of 60 KiB sent in" \
	"20 s; VmRSS before ${BASE} MiB, peak ${PEAK} MiB"
t_check "memory stays bounded under a UDP flood (+$((PEAK - BASE)) MiB)" \
	[ $((PEAK - BASE)) -lt 64 ]

out=$(legit)
t_check "the client reads after the attacks" [ "$out" = "still served" ]
nn_stop "$SRV"
t_check "server exits cleanly" \
	bash -c "! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' '$NN_TMP/srv.log'"
t_done
