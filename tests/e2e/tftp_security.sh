#!/usr/bin/env bash
# Path confinement and refusals: '..', absolute names, symlinks out of
# the root, FIFOs, device nodes, directories, write requests, malformed
# requests and packets from unknown TIDs.  The server must answer each
# with the right TFTP error, log it, and keep serving.
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/tftp.sh"
tftp_setup tftps

C="$PNB_TOOLS/tftp_client"
mkfile "$ROOT/ok.bin" 3000000
echo secret >"$NN_TMP/outside.txt"
ln -s "$NN_TMP/outside.txt" "$ROOT/abs-link"
ln -s ../outside.txt "$ROOT/rel-link"
ln -s /etc "$ROOT/etc-dir"
ln -s ok.bin "$ROOT/inside-link"
mkfifo "$ROOT/fifo"
mknod "$ROOT/null" c 1 3
mkdir -p "$ROOT/sub"
ln -s /etc "$ROOT/0badf00d"
tftp_start

expect() { # NAME CODE REMOTE
	if cli "$C" -e "$2" 198.18.0.1 "$3=$OUT/x" >"$OUT/log" 2>&1; then
		t_pass "$1"
	else
		t_fail "$1" "$(cat "$OUT/log")"
	fi
}
expect "'..' refused" 2 "../outside.txt"
expect "'..' inside a name refused" 2 "sub/../../outside.txt"
expect "'..' after a prefix refused" 2 "6c15e4ef/../../outside.txt"
expect "absolute name stays inside the root" 1 "/etc/passwd"
expect "symlink to an absolute path outside refused" 2 "abs-link"
expect "relative symlink out of the root refused" 2 "rel-link"
expect "symlinked directory out of the root refused" 2 "etc-dir/passwd"
expect "prefix directory symlinked out refused" 2 "0badf00d/passwd"
expect "FIFO refused" 2 "fifo"
expect "device node refused" 2 "null"
expect "directory refused" 2 "sub"
cli "$C" 198.18.0.1 "inside-link=$OUT/x" >/dev/null &&
	same "symlink inside the root served" "$ROOT/ok.bin" "$OUT/x" ||
	t_fail "symlink inside the root served"

grep -q 'event=nak code=2 file="abs-link"' "$SLOG" &&
	t_pass "access violation logged" ||
	t_fail "access violation logged" "$(grep nak "$SLOG" | head -3)"

# WRQ: tftp-hpa's put is refused, nothing is written.
echo upload >"$OUT/up.txt"
cli tftp 198.18.0.1 -c put "$OUT/up.txt" up.txt >"$OUT/log" 2>&1
grep -q 'Error code 2' "$OUT/log" && [ ! -e "$ROOT/up.txt" ] &&
	t_pass "WRQ refused with ERROR 2" ||
	t_fail "WRQ refused with ERROR 2" "$(cat "$OUT/log")"

# Malformed requests: an RRQ without NULs and one with an odd option
# count get ERROR 4; a lone byte is ignored.  The server keeps serving.
bad() { # NAME HEXBYTES
	local got
	got=$(cli python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(bytes.fromhex(sys.argv[1]), ("198.18.0.1", 69))
try:
    d = s.recv(600)
    print(d[:4].hex())
except socket.timeout:
    print("silence")
' "$2")
	echo "$got"
}
[ "$(bad x 0001666f6f)" = 00050004 ] &&
	t_pass "RRQ without NULs: ERROR 4" || t_fail "RRQ without NULs: ERROR 4"
[ "$(bad x 000166006f637465740074 73697a6500)" = 00050004 ] &&
	t_pass "odd option count: ERROR 4" || t_fail "odd option count: ERROR 4"
[ "$(bad x 01)" = silence ] && t_pass "one byte: silence" ||
	t_fail "one byte: silence"
[ "$(bad x 00090000)" = silence ] && t_pass "unknown opcode: silence" ||
	t_fail "unknown opcode: silence"
[ "$(bad x 0001$(printf 'a%.0s' $(seq 300) | xxd -p | tr -d '\n')006f6374657400)" = 00050004 ] &&
	t_pass "over-long name: ERROR 4" || t_fail "over-long name: ERROR 4"

# A stranger's ACK to a running transfer's port gets ERROR 5 and the
# transfer completes.
cli "$C" -u -b 512 198.18.0.1 "ok.bin=$OUT/x" >"$OUT/log" 2>&1 &&
	same "unknown TID gets ERROR 5, transfer unharmed" "$ROOT/ok.bin" "$OUT/x" ||
	t_fail "unknown TID gets ERROR 5, transfer unharmed" "$(cat "$OUT/log")"

kill -0 "$SRV_PID" && t_pass "server still running" ||
	t_fail "server still running"
nn_stop "$SRV_PID"
grep -q 'ERROR: AddressSanitizer\|runtime error' "$SLOG" &&
	t_fail "sanitizers quiet" "$(grep -m3 'ERROR\|runtime error' "$SLOG")" ||
	t_pass "sanitizers quiet"
t_done
