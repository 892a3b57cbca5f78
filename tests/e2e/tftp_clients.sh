#!/usr/bin/env bash
# TFTP against the clients Debian ships: curl (lock-step, default and
# blksize 1468), atftp (windowsize 16, blksize, tsize) and tftp-hpa, over
# files of awkward sizes, netascii, missing files, per-client prefix
# directories, and one file that needs block-number rollover at 512.
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/tftp.sh"
tftp_setup tftpc

# 0, 1, one short of / exactly / one past 512, multiples of 1468, odd.
SIZES="0 1 511 512 513 1468 2936 4096 65536 100003 1000000"
for s in $SIZES; do
	mkfile "$ROOT/f$s" "$s"
done
tftp_start

for s in $SIZES; do
	# curl refuses an OACK whose tsize is 0 ("invalid tsize"), so an
	# empty file is fetched without options; the Pi's zero-byte
	# start4.elf placeholders need tsize 0 answered as it is.
	copt=
	[ "$s" -eq 0 ] && copt=--tftp-no-options
	rm -f "$OUT/x"
	cli curl -sS $copt -o "$OUT/x" "tftp://198.18.0.1/f$s" &&
		same "curl default size $s" "$ROOT/f$s" "$OUT/x" ||
		t_fail "curl default size $s" "curl failed"
	rm -f "$OUT/x"
	cli curl -sS $copt --tftp-blksize 1468 -o "$OUT/x" \
		"tftp://198.18.0.1/f$s" &&
		same "curl blksize 1468 size $s" "$ROOT/f$s" "$OUT/x" ||
		t_fail "curl blksize 1468 size $s" "curl failed"
	rm -f "$OUT/x"
	(cd "$OUT" && cli atftp --option "windowsize 16" \
		--option "blksize 1468" --option "tsize 0" \
		-g -r "f$s" -l "$OUT/x" 198.18.0.1 >/dev/null 2>&1) &&
		same "atftp windowsize 16 size $s" "$ROOT/f$s" "$OUT/x" ||
		t_fail "atftp windowsize 16 size $s" "atftp failed"
	rm -f "$OUT/x"
	cli tftp -m binary 198.18.0.1 -c get "f$s" "$OUT/x" &&
		same "tftp-hpa size $s" "$ROOT/f$s" "$OUT/x" ||
		t_fail "tftp-hpa size $s" "tftp failed"
done

# atftp with plain blksize 512 and a small window
rm -f "$OUT/x"
(cd "$OUT" && cli atftp --option "windowsize 4" --option "blksize 512" \
	-g -r f100003 -l "$OUT/x" 198.18.0.1 >/dev/null 2>&1) &&
	same "atftp windowsize 4 blksize 512" "$ROOT/f100003" "$OUT/x" ||
	t_fail "atftp windowsize 4 blksize 512" "atftp failed"

# netascii: LF becomes CR LF on the wire and back again at tftp-hpa
printf 'line one\nline two\r\nbare cr\rend\n' >"$ROOT/text.txt"
for i in $(seq 200); do echo "row $i of a longer text file"; done >>"$ROOT/text.txt"
rm -f "$OUT/x"
cli tftp -m netascii 198.18.0.1 -c get text.txt "$OUT/x" &&
	same "tftp-hpa netascii" "$ROOT/text.txt" "$OUT/x" ||
	t_fail "tftp-hpa netascii" "tftp failed"
rm -f "$OUT/x"
# On the wire each LF and each CR gains one byte.
want=$(($(wc -c <"$ROOT/text.txt") + $(tr -cd '\n\r' <"$ROOT/text.txt" | wc -c)))
cli "$PNB_TOOLS/tftp_client" -a 198.18.0.1 "text.txt=$OUT/x" >/dev/null &&
	[ "$(wc -c <"$OUT/x")" -eq "$want" ] &&
	t_pass "netascii wire form has CR LF and CR NUL" ||
	t_fail "netascii wire form has CR LF and CR NUL" "$(wc -c <"$OUT/x") != $want"

# missing file: ERROR 1 at once
start=$(date +%s%N)
cli "$PNB_TOOLS/tftp_client" -e 1 198.18.0.1 "nope.bin=$OUT/x" >/dev/null &&
	t_pass "missing file answers ERROR 1" ||
	t_fail "missing file answers ERROR 1"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -lt 500 ] && t_pass "missing file answered fast (${ms} ms)" ||
	t_fail "missing file answered fast" "${ms} ms"
# curl 7.88 prints a getpeername() message over the real one (curl
# PR 11332), so look at its exit status: 68 is "TFTP file not found".
cli curl -sS -o "$OUT/x" tftp://198.18.0.1/nope.bin 2>/dev/null
rc=$?
[ "$rc" -eq 68 ] && t_pass "curl reports file not found" ||
	t_fail "curl reports file not found" "exit status $rc"

# names the firmware sends: doubled and leading slashes
mkdir -p "$ROOT/6c15e4ef" "$ROOT/dc-a6-32-01-36-c2"
echo serial-start >"$ROOT/6c15e4ef/start4.elf"
echo mac-start >"$ROOT/dc-a6-32-01-36-c2/start4.elf"
echo root-start >"$ROOT/start4.elf"
cli "$PNB_TOOLS/tftp_client" 198.18.0.1 "6c15e4ef//start4.elf=$OUT/a" \
	"/start4.elf=$OUT/b" "dc-a6-32-01-36-c2/start4.elf=$OUT/c" \
	"start4.elf=$OUT/d" >/dev/null
same "serial prefix dir, doubled slash" "$ROOT/6c15e4ef/start4.elf" "$OUT/a"
same "leading slash from the root" "$ROOT/start4.elf" "$OUT/b"
same "MAC prefix dir" "$ROOT/dc-a6-32-01-36-c2/start4.elf" "$OUT/c"
same "plain name from the root" "$ROOT/start4.elf" "$OUT/d"
cli "$PNB_TOOLS/tftp_client" -e 1 198.18.0.1 "0badcafe/start4.elf=$OUT/x" \
	>/dev/null && t_pass "unknown prefix: file not found" ||
	t_fail "unknown prefix: file not found"

# Rollover: 40 MB at blksize 512 needs ~78000 blocks (> 65535).
head -c 40000000 /dev/urandom >"$ROOT/big.img"
rm -f "$OUT/x"
cli curl -sS -o "$OUT/x" tftp://198.18.0.1/big.img &&
	same "rollover past block 65535 (curl, 512)" "$ROOT/big.img" "$OUT/x" ||
	t_fail "rollover past block 65535 (curl, 512)" "curl failed"
grep -q 'event=rollover-needed file="big.img"' "$SLOG" &&
	t_pass "rollover warning names the file" ||
	t_fail "rollover warning names the file"
grep -q 'event=done file="big.img" bytes=40000000' "$SLOG" &&
	t_pass "done line logged" || t_fail "done line logged"

# blksize is clamped to the arrival interface's MTU - 32.
ip -n "$SRV" link set dev "$SRV_IF" mtu 1000
sleep 1.2 # the server re-reads an interface's MTU once a second
rm -f "$OUT/x"
cli curl -sS --tftp-blksize 1468 -o "$OUT/x" tftp://198.18.0.1/f100003 &&
	same "transfer over a 1000-byte MTU" "$ROOT/f100003" "$OUT/x" ||
	t_fail "transfer over a 1000-byte MTU" "curl failed"
grep -q 'event=done file="f100003" .* blksize=968 ' "$SLOG" &&
	t_pass "blksize clamped to MTU - 32" ||
	t_fail "blksize clamped to MTU - 32" "$(grep f100003 "$SLOG" | tail -1)"

nn_stop "$SRV_PID"
t_done
