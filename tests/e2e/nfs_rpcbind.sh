#!/usr/bin/env bash
# When rpcbind already owns port 111, pinetboot registers MOUNT and NFS
# with it (TCP and UDP), says so in the log, and withdraws them on stop.
# rpcbind runs in a private mount namespace so its /run sockets are its
# own.
set -u
source "$(dirname "$0")/../lib/netns.sh"
nn_init nfsrpcb
command -v rpcbind >/dev/null || PATH=$PATH:/usr/sbin

S=$(nn_ns srv)
C=$(nn_ns cli)
nn_veth "$S" 198.18.0.1/24 "$C" 198.18.0.2/24 >/dev/null
mkdir -p "$NN_TMP/exp" "$NN_TMP/state"
echo "via rpcbind" >"$NN_TMP/exp/x"
cat >"$NN_TMP/run.sh" <<RUN
mount -t tmpfs tmpfs /run && mkdir -p /run/rpcbind || exit 1
rpcbind -f & echo \$! >"$NN_TMP/rpcbind.pid"
for i in \$(seq 50); do ss -Hlnt 'sport = :111' | grep -q . && break; sleep 0.1; done
"$PNB_BIN" serve --dhcp off --tftp off --address 198.18.0.1 \
	--state-dir "$NN_TMP/state" --export "$NN_TMP/exp" &
echo \$! >"$NN_TMP/pnb.pid"
wait \$!
sleep 0.3
rpcinfo -p 127.0.0.1 >"$NN_TMP/after-stop" 2>&1
kill \$(cat "$NN_TMP/rpcbind.pid")
RUN
nn_spawn "$S" "$NN_TMP/srv.log" unshare -m bash "$NN_TMP/run.sh"
RUNNER=$NN_LAST_PID
nn_wait_tcp "$S" 2049 || { t_fail "server starts" "$(cat "$NN_TMP/srv.log")"; t_done; exit; }
sleep 0.3
out=$(ip netns exec "$C" rpcinfo -p 198.18.0.1 2>&1)
t_check "registered with rpcbind on tcp and udp" \
	test "$(grep -cE '^ +1000(03|05) +3 +(tcp|udp) ' <<<"$out")" -eq 4
t_check "the log says the portmapper is external" \
	grep -q 'event=external port=111' "$NN_TMP/srv.log"
out=$(ip netns exec "$C" nfs-cat "nfs://198.18.0.1$NN_TMP/exp/x" 2>&1)
t_check "a libnfs client mounts through rpcbind" [ "$out" = "via rpcbind" ]
kill -TERM "$(cat "$NN_TMP/pnb.pid")"
for i in $(seq 50); do kill -0 "$RUNNER" 2>/dev/null || break; sleep 0.1; done
t_check "registrations withdrawn on stop" \
	bash -c "grep -q portmapper '$NN_TMP/after-stop' && ! grep -qE 'nfs|mountd' '$NN_TMP/after-stop'"
t_check "server exits cleanly" \
	bash -c "! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' '$NN_TMP/srv.log'"
t_done
