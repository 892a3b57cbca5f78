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
source "$(dirname "$0")/../lib/nfs.sh"
nn_init nfsex

nfs_lab cli atk
ADDRS=
for i in $(seq 100 115); do
	ip -n "$A" addr add "198.18.0.$i/24" dev "$ATK_DEV"
	ADDRS+=${ADDRS:+,}198.18.0.$i
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
NFS_WRAP=(env ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=8")
nfs_serve "$S" "$NN_TMP/state" --export "$EXP"
# ip netns exec and env exec the server, so NFS_SRV is its PID.
rss() { awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$NFS_SRV/status"; }
MNT=$(ip netns exec "$C" "$PROBE" 198.18.0.1 pmap-getport 100005 3 6)
legit() {
	ip netns exec "$C" timeout 30 nfs-cat "nfs://198.18.0.1$EXP/file" 2>&1
}
# during WHAT SECONDS JOB...: while JOB runs, the client must still read
# (checked once, 5 s in) and PEAK gets the largest VmRSS seen, once a
# second; BASE is VmRSS before.
during() {
	local what=$1 secs=$2 i r out
	shift 2
	NN_PIDS+=("$@")
	sleep 5
	PEAK=$(rss)
	out=$(legit)
	t_check "the client still mounts and reads $what" \
		[ "$out" = "still served" ]
	for i in $(seq $((secs - 5))); do
		r=$(rss)
		[ "$r" -gt "$PEAK" ] && PEAK=$r
		sleep 1
	done
	wait "$@"
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
during "during slow records" "$HOLD" "${JOBS[@]}"
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
during "while peers do not read" "$HOLD" $!
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
echo x >"$(nfs_host_new "$EXP" target)"
read -r _ target < <(ip netns exec "$A" "$PROBE" -p resv -t 198.18.0.1 lookup "$root" target)
BASE=$(rss)
ip netns exec "$A" "$PROBE" -p resv 198.18.0.1 udpflood "$target" 20 \
	>"$NN_TMP/udpflood" &
during "during a UDP flood" 20 $!
echo "INFO: UDP flood: $(cat "$NN_TMP/udpflood") WRITEs of 60 KiB sent in" \
	"20 s; VmRSS before ${BASE} MiB, peak ${PEAK} MiB"
t_check "memory stays bounded under a UDP flood (+$((PEAK - BASE)) MiB)" \
	[ $((PEAK - BASE)) -lt 64 ]

out=$(legit)
t_check "the client reads after the attacks" [ "$out" = "still served" ]
nfs_stop
t_done
