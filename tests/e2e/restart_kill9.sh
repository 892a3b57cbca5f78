#!/usr/bin/env bash
# restart_kill9: an x86-64 QEMU guest runs from its NFS root on pinetboot
# (hard mount, the Linux default) and keeps doing file I/O there in a
# loop: appends to a growing file through a descriptor held open the
# whole time, writes and renames, reads back with the caches dropped.
# Mid-run the host sends SIGKILL to pinetboot, waits, and starts it again
# with the same arguments and state directory.  The guest must carry on:
# its requests are retried over a new connection, its file handles (the
# open descriptor, its working directory, its root) still resolve after
# the restart, and the new COMMIT verifier makes it re-send the writes
# that were not committed yet, so the data ends up whole.
#
# The guest prints PNB-ITER N UPTIME per round of 192 KiB appends.  At
# round KILL_AT it appends 12 MiB at once; the mount has wsize=4096, so
# that is 3,072 UNSTABLE WRITEs followed by one COMMIT.  The host watches
# the file grow on the server and sends SIGKILL once 1 MiB of it has
# arrived (written, not committed), sleeps DOWN seconds, restarts, waits
# for MORE rounds after the restart and then creates /pnb/stop in the
# export, which ends the loop.  The guest then compares the growing file
# and the renamed files with its own copies in a tmpfs, checks from
# /proc/self/mountstats that it reconnected and that it re-sent pages
# (WRITE calls beyond one per page), and reports PNB-PASS/PNB-FAIL; the
# host compares what the server stored with the checksum the guest
# reported.
#
# PNB_NFS_LAYERED=1 (restart_kill9_layered.sh) serves the root as a
# layered export whose version layer is the guest's root
# (tests/lib/nfs.sh): the handles the guest holds (its root, /work, the
# open file) are then layered handles, sealed with the stack's verifier,
# and must resolve in the restarted server as well.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/netns.sh"
. "$HERE/../lib/guest.sh"
. "$HERE/../lib/nfs.sh"
nn_init rk9

ADDR=198.18.0.1
ROOT=$NN_TMP/root
STATE=$NN_TMP/state
KILL_AT=${PNB_RK9_KILL_AT:-4}
DOWN=${PNB_RK9_DOWN:-4}
MORE=${PNB_RK9_MORE:-5}
mkdir -p "$ROOT/work" "$STATE"

nn_ns srv >/dev/null
NS=$NN_PREFIX-srv
nn_bridge "$NS" br0 "$ADDR/24"

# start N: pinetboot serve (the Nth start) into server-N.log; sets PNB_PID.
start() {
	nn_spawn "$NS" "$NN_TMP/server-$1.log" "$PNB_BIN" serve --dhcp off \
		--tftp off --address "$ADDR" --state-dir "$STATE" \
		--log-level debug --export "$(nfs_export_spec "$ROOT")"
	PNB_PID=$NN_LAST_PID
	if ! nn_wait_tcp "$NS" 2049 || ! nn_wait_tcp "$NS" 111; then
		t_fail "restart: pinetboot start $1 listens" \
			"no TCP 2049 and 111 after 5 s; its log follows"
		cat "$NN_TMP/server-$1.log"
		exit 1
	fi
	t_pass "restart: pinetboot start $1 listens"
}

if ! guest_kernel amd64; then
	t_fail "restart guest kernel" "see the messages above"
	exit 1
fi
GUEST_INITRD=$NN_TMP/initrd.gz
guest_initramfs amd64 "$GUEST_INITRD" || {
	t_fail "restart initramfs"
	exit 1
}
guest_rootfs amd64 "$ROOT" || {
	t_fail "restart rootfs"
	exit 1
}
# The guest's loop.  Chunks of 192 KiB are random, so a lost, stale or
# repeated write changes the checksum.  Writeback is made eager, so WRITEs
# (UNSTABLE) and COMMITs are on the wire at any moment; every third round
# also runs sync.
cat >"$ROOT/pnb/run" <<'EOF'
#!/bin/sh
fail=0
no() { echo "PNB-FAIL: $1 ($2)"; fail=1; }
up() { read -r u _ </proc/uptime; echo "$u"; }
mkdir -p /mem && mount -t tmpfs mem /mem || { no setup "tmpfs"; exit 1; }
echo 50 >/proc/sys/vm/dirty_expire_centisecs
echo 20 >/proc/sys/vm/dirty_writeback_centisecs
cd /work || { no setup "cd /work"; exit 1; }
bigat=$(sed -n 's/.*pnb_bigat=\([0-9]*\).*/\1/p' /proc/cmdline)
n=0
: >grow
: >/mem/grow
exec 3>>grow
i=0
last=$(up)
maxgap=0
while [ $i -lt 300 ]; do
	i=$((i + 1))
	dd if=/dev/urandom of=/mem/chunk bs=64k count=3 2>/dev/null
	[ $i = "$bigat" ] &&
		dd if=/dev/urandom of=/mem/chunk bs=1M count=12 2>/dev/null
	# The big append is flushed when cat closes its descriptor: many
	# UNSTABLE WRITEs, then one COMMIT.  The host watches the file grow
	# on the server and kills it while the WRITEs are still coming.
	[ $i = "$bigat" ] && echo "PNB-BIG $(up)"
	cat /mem/chunk >&3 || no "append round $i" "write to the open grow failed"
	cat /mem/chunk >>/mem/grow
	[ $i = "$bigat" ] && dd if=/dev/urandom of=/mem/chunk bs=64k count=3 \
		2>/dev/null
	k=$((i % 4))
	cp /mem/chunk /mem/f.$k
	cp /mem/chunk "f.tmp" || no "write round $i" "cp to f.tmp failed"
	mv "f.tmp" "f.$k" || no "rename round $i" "mv f.tmp f.$k failed"
	[ $((i % 3)) = 0 ] && sync
	echo 3 >/proc/sys/vm/drop_caches
	cmp -s /mem/chunk "f.$k" || no "read back round $i" "f.$k differs"
	n=$((n + 196608))
	now=$(up)
	gap=$(echo "$last $now" | awk '{printf "%.1f", $2 - $1}')
	[ "$(echo "$gap $maxgap" | awk '{print ($1 > $2)}')" = 1 ] &&
		maxgap=$gap
	last=$now
	echo "PNB-ITER $i $now"
	[ -e /pnb/stop ] && break
	sleep 0.3
done
[ $fail = 0 ] && echo "PNB-PASS: every round wrote, renamed and read back"
[ -e /pnb/stop ] || no "stop" "the host never stopped the loop"
exec 3>&-
sync
echo 3 >/proc/sys/vm/drop_caches
g=$(md5sum <grow | cut -d' ' -f1)
m=$(md5sum </mem/grow | cut -d' ' -f1)
if [ "$g" = "$m" ]; then
	echo "PNB-PASS: growing file intact over nfs ($i rounds)"
else
	no "growing file intact over nfs" "md5 $g, expected $m"
fi
bad=
for k in 0 1 2 3; do
	[ -e /mem/f.$k ] || continue
	cmp -s /mem/f.$k f.$k || bad="$bad f.$k"
done
[ -z "$bad" ] && echo "PNB-PASS: renamed files intact" ||
	no "renamed files intact" "differ:$bad"
ls >/mem/ls && [ "$(grep -c '^f\.' /mem/ls)" = "$(ls /mem | grep -c '^f\.')" ] &&
	echo "PNB-PASS: directory listing after the restart" ||
	no "directory listing after the restart" "$(tr '\n' ' ' </mem/ls)"
# The NFS transport's statistics for /: the connect count shows whether
# the client really had to reconnect to the restarted server.
st=$(awk '$1 == "device" { on = ($5 == "/" && $8 == "nfs") }
	on && $1 == "xprt:" { printf "connects=%s ", $5 }
	on && ($1 == "WRITE:" || $1 == "COMMIT:") { printf "%s%s/%s ", $1, $2, $3 }
	on && $1 == "WRITE:" { printf "write_ops=%s ", $2 }' \
	/proc/self/mountstats)
echo "PNB-INFO $st"
c=$(echo "$st" | sed -n 's/.*connects=\([0-9]*\).*/\1/p')
[ "${c:-0}" -ge 2 ] &&
	echo "PNB-PASS: reconnected to the restarted server ($c connects)" ||
	no "reconnected to the restarted server" "connect count ${c:-?}"
# Every append and every f.tmp is whole 4 KiB pages and wsize is 4096,
# so writing everything once takes one WRITE call per page.  Calls beyond
# that are pages written again: the ones that were answered UNSTABLE by
# the killed server and found uncommitted when the COMMIT verifier of the
# new one differed.  (A retransmission of a call in flight when the
# connection broke is not a new call; mountstats counts it separately.)
ops=$(echo "$st" | sed -n 's/.*write_ops=\([0-9]*\).*/\1/p')
pages=$((($(wc -c </mem/grow) + n) / 4096))
echo "PNB-INFO write_calls=$ops pages=$pages rewritten=$((ops - pages))"
[ $((ops - pages)) -ge 8 ] &&
	echo "PNB-PASS: uncommitted writes re-sent after the restart ($((ops - pages)) pages)" ||
	no "uncommitted writes re-sent after the restart" \
		"$ops WRITE calls for $pages pages"
echo "PNB-INFO rounds=$i grow_md5=$m grow_size=$(wc -c </mem/grow) maxgap=$maxgap"
exit $fail
EOF
chmod 755 "$ROOT/pnb/run"

TAP=$(guest_tap "$NS" br0) || {
	t_fail "restart tap device"
	exit 1
}
start 1

LOG=$NN_TMP/console-guest.log
guest_start amd64 "$NS" "$TAP" "$LOG" 130 \
	"pnb_ip=198.18.0.10/24 pnb_server=$ADDR pnb_path=$ROOT \
pnb_proto=tcp pnb_opts=mountproto=tcp,wsize=4096 pnb_bigat=$KILL_AT"
GUEST_JOB=$GUEST_PID

# round: the last round the guest reported (0 before the first).
round() {
	local r
	r=$(sed -n 's/^PNB-ITER \([0-9]*\) .*/\1/p' "$LOG" 2>/dev/null | tail -1)
	echo "${r:-0}"
}

# wait_round N SECS: until the guest reported round N, or it stopped, or
# SECS passed.
wait_round() {
	local n=$1
	for _ in $(seq $(($2 * 5))); do
		[ "$(round)" -ge "$n" ] && return 0
		kill -0 "$GUEST_JOB" 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}

# big: the guest started its big append.
big() {
	grep -q '^PNB-BIG' "$LOG" 2>/dev/null
}

for _ in $(seq 400); do
	big && break
	kill -0 "$GUEST_JOB" 2>/dev/null || break
	sleep 0.1
done
# Kill once the server has 1 MiB of the 12 MiB append.
g=$(nfs_host "$ROOT" work/grow)
s0=$(stat -c %s "$g" 2>/dev/null || echo 0)
for _ in $(seq 20000); do
	s=$(stat -c %s "$g" 2>/dev/null || echo 0)
	[ "$s" -ge $((s0 + 1048576)) ] && break
	kill -0 "$GUEST_JOB" 2>/dev/null || break
done
if big; then
	echo "INFO: restart: killing with $((s - s0)) of 12582912 bytes of the big append on the server"
	killed_at=$(round)
	kill -KILL "$PNB_PID"
	wait "$PNB_PID" 2>/dev/null
	t_pass "restart: pinetboot killed with SIGKILL at guest round $killed_at"
	sleep "$DOWN"
	stalled=$(round)
	start 2
	if wait_round $((stalled + MORE)) 60; then
		t_pass "restart: guest carried on after the restart (round $stalled -> $(round))"
	else
		t_fail "restart: guest carried on after the restart" \
			"stuck at round $(round) (was $stalled at the restart)"
	fi
	: >"$(nfs_host_new "$ROOT" pnb/stop)"
else
	t_fail "restart: guest reached its big write before the kill" \
		"at round $(round)"
	: >"$(nfs_host_new "$ROOT" pnb/stop)"
fi
guest_wait "$GUEST_JOB" "$LOG"
guest_relay "$LOG" "restart" || {
	tail -40 "$LOG"
	[ -s "$LOG.qemu" ] && cat "$LOG.qemu"
}

# What the server stored.
kv() {
	sed -n "s/^PNB-INFO .*\<$1=\([^ ]*\).*/\1/p" "$LOG" | tail -1
}
want=$(kv grow_md5)
g=$(nfs_host "$ROOT" work/grow)
got=$(md5sum <"$g" 2>/dev/null | cut -d' ' -f1)
t_check "restart: server holds the growing file the guest wrote" \
	[ -n "$want" ] && [ "$want" = "$got" ]
t_check "restart: server's file size ($(kv grow_size) bytes)" \
	[ "$(stat -c %s "$g" 2>/dev/null)" = "$(kv grow_size)" ]
echo "INFO: restart: guest wall ${GUEST_WALL:-?}s, rounds $(kv rounds)," \
	"longest round gap $(kv maxgap)s (outage ${DOWN}s), root mounted at" \
	"$(guest_mark "$LOG" mount)s; transport: $(sed -n 's/^PNB-INFO \(connects=.*\)/\1/p' "$LOG");" \
	"pages re-sent $(kv rewritten)"
if [ -n "${PNB_RK9_VERBOSE:-}" ]; then
	cat "$NN_TMP/server-2.log"
fi
nn_stop "$PNB_PID"
guest_keep_logs
t_done
