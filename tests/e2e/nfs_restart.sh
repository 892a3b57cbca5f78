#!/usr/bin/env bash
# nfs_restart: a QEMU guest runs from its NFS root on pinetboot while the
# server is killed with SIGKILL and started again.  The guest keeps
# writing and reading files through the outage, and a file it opened
# before the kill is written through the same descriptor afterwards, so
# the file handles it holds must still be valid for the new server
# process.  The host then checks every file on the export.
#
# PNB_NFS_SERVER=ganesha runs the same against NFS-Ganesha (labelled so).
# PNB_NFS_LAYERED=1 (nfs_restart_layered.sh) serves the root as a layered
# export whose version layer is the guest's root (tests/lib/nfs.sh).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/netns.sh"
. "$HERE/../lib/guest.sh"
. "$HERE/../lib/ganesha.sh"
. "$HERE/../lib/nfs.sh"
nn_init nfsr

SERVER=${PNB_NFS_SERVER:-pinetboot}
ADDR=198.18.0.1
ROOT=$NN_TMP/root
mkdir -p "$ROOT/work" "$NN_TMP/state"

nn_ns srv >/dev/null
NS=$NN_PREFIX-srv
nn_bridge "$NS" br0 "$ADDR/24"

# start N: the server, instance N; sets SRV_PID.
start() {
	case $SERVER in
	pinetboot)
		nn_spawn "$NS" "$NN_TMP/server-$1.log" "$PNB_BIN" serve \
			--dhcp off --tftp off --address "$ADDR" \
			--state-dir "$NN_TMP/state" \
			--export "$(nfs_export_spec "$ROOT")"
		SRV_PID=$NN_LAST_PID
		nn_wait_tcp "$NS" 2049 && nn_wait_tcp "$NS" 111
		;;
	ganesha)
		ganesha_start "$NS" "$ADDR" "$NN_TMP/ganesha-$1" "$ROOT" &&
			SRV_PID=$GANESHA_PID
		;;
	*)
		echo "nfs_restart: PNB_NFS_SERVER is pinetboot or ganesha" >&2
		exit 2
		;;
	esac
}

if ! guest_kernel amd64; then
	t_fail "nfs_restart guest kernel" "see the messages above"
	exit 1
fi
GUEST_INITRD=$NN_TMP/initrd.gz
guest_initramfs amd64 "$GUEST_INITRD" && guest_rootfs amd64 "$ROOT" || {
	t_fail "nfs_restart guest image"
	exit 1
}
# The guest loop: a file per tick, written and read back; "PNB-TICK N
# UPTIME" on the console.  It stops five ticks after it sees
# /pnb/restarted (dentries are dropped each tick so the lookup reaches
# the server), or after 400 ticks.
cat >"$ROOT/pnb/run" <<'EOF'
#!/bin/sh
W=/work/restart
mkdir -p "$W" && cd "$W" || exit 1
echo before >held
exec 3>>held
i=0 post=0 prev= gap=0 bad=0
while :; do
	i=$((i + 1))
	echo "data $i" >"f$i" && [ "$(cat "f$i")" = "data $i" ] || {
		echo "PNB-FAIL: io $i (write or read-back failed)"
		bad=$((bad + 1))
	}
	read -r up _ </proc/uptime
	echo "PNB-TICK $i $up"
	[ -n "$prev" ] && gap=$(echo "$gap $prev $up" |
		awk '{g = $3 - $2; print (g > $1) ? g : $1}')
	prev=$up
	echo 2 >/proc/sys/vm/drop_caches
	if [ -e /pnb/restarted ]; then
		post=$((post + 1))
		[ $post -ge 5 ] && break
	fi
	if [ $i -ge 400 ]; then
		echo "PNB-FAIL: restart (never saw /pnb/restarted)"
		break
	fi
	sleep 0.2
done
[ $bad -eq 0 ] && echo "PNB-PASS: io through the restart ($i files)"
if echo after >&3; then
	echo "PNB-PASS: descriptor opened before the restart writes"
else
	echo "PNB-FAIL: descriptor opened before the restart writes (write failed)"
fi
exec 3>&-
echo 3 >/proc/sys/vm/drop_caches
[ "$(cat held | tr '\n' ' ')" = "before after " ] &&
	echo "PNB-PASS: held file content" ||
	echo "PNB-FAIL: held file content (got '$(cat held | tr '\n' ' ')')"
echo "PNB-INFO ticks=$i max_gap_s=$gap"
EOF
chmod 755 "$ROOT/pnb/run"

if ! start 1; then
	if [ "$SERVER" = pinetboot ] && [ ! -d "$NN_ROOT/src/proto/nfs3" ]; then
		echo "SKIP: nfs_restart (pinetboot has no NFS server yet)"
		exit 0
	fi
	t_fail "nfs_restart $SERVER start" "not listening on TCP 2049 and 111"
	cat "$NN_TMP"/server-1.log 2>/dev/null
	exit 1
fi

TAP=$(guest_tap "$NS" br0) || {
	t_fail "nfs_restart tap device"
	exit 1
}
LOG=$NN_TMP/console-restart.log
guest_start amd64 "$NS" "$TAP" "$LOG" 170 \
	"pnb_ip=198.18.0.10/24 pnb_server=$ADDR pnb_path=$ROOT"
QPID=$GUEST_PID

# ticks: the guest's last tick number.
ticks() {
	sed -n 's/^PNB-TICK \([0-9]*\) .*/\1/p' "$LOG" 2>/dev/null | tail -1
}
for i in $(seq 1200); do
	[ "$(ticks)" -ge 5 ] 2>/dev/null && break
	kill -0 $QPID 2>/dev/null || break
	sleep 0.1
done
if [ "$(ticks)" -ge 5 ] 2>/dev/null; then
	before=$(ticks)
	if [ "$SERVER" = ganesha ]; then
		# SRV_PID is the shell holding ganesha.nfsd and its rpcbind.
		kill -KILL "$(cat "$NN_TMP/ganesha-1/ganesha.pid")"
		nn_stop "$SRV_PID"
	else
		kill -KILL "$SRV_PID"
		wait "$SRV_PID" 2>/dev/null
	fi
	t0=$(date +%s.%N)
	sleep 1
	if start 2; then
		touch "$(nfs_host_new "$ROOT" pnb/restarted)"
		t_pass "$SERVER restarted after kill -9 (guest at tick $before)"
	else
		t_fail "$SERVER restart after kill -9"
	fi
	# The first tick after the restart, for the recovery time.
	for i in $(seq 600); do
		[ "$(ticks)" -gt $((before + 2)) ] 2>/dev/null && break
		kill -0 $QPID 2>/dev/null || break
		sleep 0.1
	done
	echo "INFO: $SERVER: guest ticking again $(echo "$t0 $(date +%s.%N)" |
		awk '{printf "%.1f", $2 - $1}') s after the kill"
else
	t_fail "$SERVER guest running from nfs before the kill" \
		"no PNB-TICK 5 on the console"
fi
guest_wait $QPID "$LOG"
guest_relay "$LOG" "$SERVER restart" || tail -40 "$LOG"
echo "INFO: $SERVER: wall ${GUEST_WALL}s;" \
	"$(sed -n 's/^PNB-INFO //p' "$LOG" | tr '\n' ' ')"

# The server's view: every tick's file, with its content.
n=$(sed -n 's/^PNB-INFO ticks=\([0-9]*\).*/\1/p' "$LOG")
bad=0
for i in $(seq "${n:-0}"); do
	[ "$(cat "$(nfs_host "$ROOT" "work/restart/f$i")" 2>/dev/null)" = "data $i" ] ||
		bad=$((bad + 1))
done
if [ -n "$n" ] && [ "$n" -gt 5 ] && [ $bad -eq 0 ]; then
	t_pass "$SERVER restart server-view $n files"
else
	t_fail "$SERVER restart server-view files" "${n:-no} ticks, $bad wrong"
fi
t_check "$SERVER restart server-view held file" \
	[ "$(tr '\n' ' ' <"$(nfs_host "$ROOT" work/restart/held)")" = "before after " ]
guest_keep_logs
t_done
