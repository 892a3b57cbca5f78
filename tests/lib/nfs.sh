# Helpers for the NFS e2e tests.  Source after netns.sh.

# nfs_serve NS STATE ARGS...: pinetboot with NFS alone (no DHCP, no TFTP)
# in namespace NS on 198.18.0.1, state directory STATE, and ARGS (exports
# and the like); waits until it listens on TCP 2049 and 111.  Sets
# NFS_SRV (its PID) and NFS_LOG.  The array NFS_WRAP, when set, goes
# before the binary (env settings).  On failure: a FAIL line and exit.
nfs_serve() {
	local ns=$1 state=$2
	shift 2
	NFS_LOG=$NN_TMP/srv.log
	mkdir -p "$state"
	nn_spawn "$ns" "$NFS_LOG" ${NFS_WRAP[@]+"${NFS_WRAP[@]}"} "$PNB_BIN" \
		serve --dhcp off --tftp off --address 198.18.0.1 \
		--state-dir "$state" --log-level info "$@"
	NFS_SRV=$NN_LAST_PID
	if ! nn_wait_tcp "$ns" 2049 || ! nn_wait_tcp "$ns" 111; then
		t_fail "server starts" "$(cat "$NFS_LOG")"
		t_done
		exit
	fi
}

# nfs_stop: stop the server; PASS when it exits without a sanitizer
# report in its log.
nfs_stop() {
	nn_stop "$NFS_SRV"
	t_check "server exits cleanly" bash -c \
		"! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' '$NFS_LOG'"
}

# nfs_lab HOST...: the server's namespace S, 198.18.0.1 on bridge br0,
# and a namespace on that bridge for each HOST named: "cli" (C,
# 198.18.0.2, a client) and "atk" (A, 198.18.0.3, another host; ATK_DEV
# is its interface).
nfs_lab() {
	local h
	S=$(nn_ns srv)
	nn_bridge "$S" br0 198.18.0.1/24
	for h in "$@"; do
		case $h in
		cli)
			C=$(nn_ns cli)
			nn_port "$S" br0 "$C" 198.18.0.2/24 >/dev/null
			;;
		atk)
			A=$(nn_ns atk)
			ATK_DEV=$(nn_port "$S" br0 "$A" 198.18.0.3/24)
			;;
		esac
	done
}

# nfs_helper OUT WORD CMD...: run a test tool in the background with its
# output in OUT, and wait (5 s at most) until it prints WORD, i.e. is in
# place.  Sets HELPER to its PID.
nfs_helper() {
	local out=$1 word=$2 i
	shift 2
	"$@" >"$out" &
	HELPER=$!
	NN_PIDS+=("$HELPER")
	for i in $(seq 50); do
		grep -q "$word" "$out" && return 0
		sleep 0.1
	done
	return 1
}
