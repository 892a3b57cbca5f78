#!/usr/bin/env bash
# The Raspberry Pi's shapes of transfer (reference §3): the EEPROM's tsize
# probe closed by ERROR 0 "Early terminate" and the full fetch after it,
# the boot ROM's option-less RRQ, bootcode's tsize-only RRQ, a repeated
# RRQ from the same port, and 500 simultaneous transfers of different
# files that must each deliver exactly the file asked for.
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/tftp.sh"
tftp_setup tftpp

C="$PNB_TOOLS/tftp_client"
mkdir -p "$ROOT/9ffefdef"
mkfile "$ROOT/9ffefdef/start4.elf" 2228160
mkfile "$ROOT/bootcode.bin" 52456
mkfile "$ROOT/kernel8.img" 4194304
: >"$ROOT/9ffefdef/empty.elf"
mkdir -p "$ROOT/many"
N=500
for i in $(seq $N); do
	# different sizes and contents: a crossed transfer cannot pass cmp
	mkfile "$ROOT/many/f$i" $((20000 + i * 97))
done
# 500 transfers from one host: past the per-address cap a Pi needs.
tftp_start --log-level debug --tftp-max-per-client 1000

# EEPROM: probe (tsize 0, blksize 1468), OACK, Early terminate, fetch.
cli "$C" -p -t -b 1468 198.18.0.1 "9ffefdef/start4.elf=$OUT/s4" >"$OUT/log" 2>&1 &&
	same "EEPROM probe then fetch" "$ROOT/9ffefdef/start4.elf" "$OUT/s4" ||
	t_fail "EEPROM probe then fetch" "$(cat "$OUT/log")"
grep -q 'event=early-terminate file="9ffefdef/start4.elf"' "$SLOG" &&
	grep 'early-terminate' "$SLOG" | grep -q '^level=debug' &&
	t_pass "Early terminate logged at debug" ||
	t_fail "Early terminate logged at debug"
grep 'file="9ffefdef/start4.elf"' "$SLOG" | grep -q '^level=warn' &&
	t_fail "probe raised no warning" || t_pass "probe raised no warning"
grep -q 'event=done file="9ffefdef/start4.elf" bytes=2228160 .* blksize=1468' "$SLOG" &&
	t_pass "fetch at blksize 1468 logged" || t_fail "fetch at blksize 1468 logged"
cli "$C" -p -b 1468 198.18.0.1 "9ffefdef/empty.elf=$OUT/e" >"$OUT/log" 2>&1 &&
	[ ! -s "$OUT/e" ] && t_pass "probe of a zero-byte placeholder" ||
	t_fail "probe of a zero-byte placeholder" "$(cat "$OUT/log")"

# ROM: no options, 512-byte blocks from DATA 1.
cli "$C" 198.18.0.1 "bootcode.bin=$OUT/b" >/dev/null &&
	same "ROM request without options" "$ROOT/bootcode.bin" "$OUT/b" ||
	t_fail "ROM request without options"
# bootcode: tsize only.
cli "$C" -t 198.18.0.1 "kernel8.img=$OUT/k" >/dev/null &&
	same "bootcode request with tsize only" "$ROOT/kernel8.img" "$OUT/k" ||
	t_fail "bootcode request with tsize only"

# The same RRQ twice from one port: one transfer, correct bytes.
before=$(grep -c 'event=done file="kernel8.img"' "$SLOG")
cli "$C" -d -b 1468 198.18.0.1 "kernel8.img=$OUT/k2" >"$OUT/log" 2>&1 &&
	same "duplicate RRQ from one port" "$ROOT/kernel8.img" "$OUT/k2" ||
	t_fail "duplicate RRQ from one port" "$(cat "$OUT/log")"
sleep 0.2
after=$(grep -c 'event=done file="kernel8.img"' "$SLOG")
grep -q 'event=duplicate-rrq' "$SLOG" && [ $((after - before)) -eq 1 ] &&
	t_pass "duplicate RRQ started one transfer" ||
	t_fail "duplicate RRQ started one transfer" "$((after - before)) done lines"

# 500 at once, each its own file.
args=()
for i in $(seq $N); do
	args+=("many/f$i=$OUT/m$i")
done
if cli "$C" -b 1468 198.18.0.1 "${args[@]}" >"$OUT/log" 2>&1; then
	t_pass "$N simultaneous transfers complete ($(cat "$OUT/log"))"
else
	t_fail "$N simultaneous transfers complete" "$(tail -3 "$OUT/log")"
fi
bad=0
for i in $(seq $N); do
	cmp -s "$ROOT/many/f$i" "$OUT/m$i" || bad=$((bad + 1))
done
[ "$bad" -eq 0 ] && t_pass "each of $N clients got exactly its own file" ||
	t_fail "each of $N clients got exactly its own file" "$bad differ"
peak=$(grep -c 'event=rrq file="many/' "$SLOG")
[ "$peak" -eq "$N" ] && t_pass "$N transfers started" ||
	t_fail "$N transfers started" "$peak"

nn_stop "$SRV_PID"
grep -q 'ERROR: AddressSanitizer\|runtime error' "$SLOG" &&
	t_fail "sanitizers quiet" "$(grep -m3 'ERROR\|runtime error' "$SLOG")" ||
	t_pass "sanitizers quiet"
t_done
