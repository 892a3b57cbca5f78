# Helpers for the TFTP end-to-end tests: a server namespace (198.18.0.1)
# and a client namespace (198.18.0.2) over veth, pinetboot serving
# $ROOT.  Source after tests/lib/netns.sh.

# tftp_setup TAG: namespaces, link, $ROOT and $OUT directories.
tftp_setup() {
	nn_init "$1"
	ROOT=$NN_TMP/root
	OUT=$NN_TMP/out
	mkdir -p "$ROOT" "$OUT"
	SRV=$(nn_ns srv) || exit 1
	CLI=$(nn_ns cli) || exit 1
	VETH=$(nn_veth "$SRV" 198.18.0.1/24 "$CLI" 198.18.0.2/24) || exit 1
	SRV_IF=${VETH%% *}
	SLOG=$NN_TMP/server.log
}

# tftp_start [serve options...]: run pinetboot serving $ROOT.
tftp_start() {
	nn_spawn "$SRV" "$SLOG" "$PNB_BIN" serve --address 198.18.0.1 \
		--dhcp off --nfs off --tftp-root "$ROOT" "$@"
	SRV_PID=$NN_LAST_PID
	if ! nn_wait_udp "$SRV" 69; then
		t_fail "server start" "$(tail -5 "$SLOG")"
		exit 1
	fi
}

# cli CMD...: run CMD in the client namespace (bounded to 120 s).
cli() {
	ip netns exec "$CLI" timeout 120 "$@"
}

# mkfile PATH SIZE: SIZE bytes of pseudo-random data.
mkfile() {
	head -c "$2" /dev/urandom >"$1"
}

# same NAME A B: PASS if the files are identical.
same() {
	if cmp -s "$2" "$3"; then
		t_pass "$1"
	else
		t_fail "$1" "$(cmp "$2" "$3" 2>&1 | head -1)"
	fi
}
