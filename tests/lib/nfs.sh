# Helpers for the NFS e2e tests.  Source after netns.sh.

# Layered variants.  With PNB_NFS_LAYERED=1 (the *_layered.sh wrappers)
# every export DIR a test makes is served as a layered tree named DIR
# (`--export DIR:lower=...`, docs/nfs.md): DIR itself is its version
# layer, holding what the test put there before the server started;
# DIR.up is an empty client layer with DIR's owner and mode, as `client
# add` makes one, and DIR.work its index.  A version never changes under
# a running server, so what a test looks at or adds on the server side
# goes through nfs_host and nfs_host_new, which know where it lives.

# nfs_layered: true when the exports are layered.
nfs_layered() {
	[ "${PNB_NFS_LAYERED:-0}" = 1 ]
}

# nfs_export_spec DIR[:OPTS]: the --export value for this mode.
nfs_export_spec() {
	local dir=${1%%:*} opts=
	[[ $1 == *:* ]] && opts=${1#*:}
	if ! nfs_layered; then
		echo "$1"
		return
	fi
	mkdir -p "$dir.up" "$dir.work"
	chmod 700 "$dir.work"
	chown --reference="$dir" "$dir.up"
	chmod --reference="$dir" "$dir.up"
	echo "$dir:lower=$dir,upper=$dir.up,work=$dir.work${opts:+,$opts}"
}

# nfs_host DIR REL: the path on the server of what clients of export DIR
# see at REL (a path that does not exist when they see nothing there).
nfs_host() {
	if nfs_layered; then
		"$PNB_TOOLS/layer_view" -u "$1.up" -w "$1.work" "$1" -- path "$2"
	else
		echo "$1/$2"
	fi
}

# nfs_host_new DIR REL: where a test puts a new file REL of export DIR
# while the server runs, as a client would have made it: DIR/REL, or in
# the client layer (REL's directory made there too).
nfs_host_new() {
	if nfs_layered; then
		mkdir -p "$(dirname "$1.up/$2")"
		echo "$1.up/$2"
	else
		echo "$1/$2"
	fi
}

# nfs_serve NS STATE ARGS...: pinetboot with NFS alone (no DHCP, no TFTP)
# in namespace NS on 198.18.0.1, state directory STATE, and ARGS (exports
# and the like; --export DIR[:OPTS] as nfs_export_spec makes it); waits
# until it listens on TCP 2049 and 111.  Sets NFS_SRV (its PID) and
# NFS_LOG.  The array NFS_WRAP, when set, goes before the binary (env
# settings).  On failure: a FAIL line and exit.
nfs_serve() {
	local ns=$1 state=$2 args=()
	shift 2
	while [ $# -gt 0 ]; do
		case $1 in
		--export)
			args+=(--export "$(nfs_export_spec "$2")")
			shift 2
			;;
		--export=*)
			args+=("--export=$(nfs_export_spec "${1#--export=}")")
			shift
			;;
		*)
			args+=("$1")
			shift
			;;
		esac
	done
	NFS_LOG=$NN_TMP/srv.log
	mkdir -p "$state"
	nn_spawn "$ns" "$NFS_LOG" ${NFS_WRAP[@]+"${NFS_WRAP[@]}"} "$PNB_BIN" \
		serve --dhcp off --tftp off --address 198.18.0.1 \
		--state-dir "$state" --log-level info "${args[@]}"
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
