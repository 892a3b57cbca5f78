#!/usr/bin/env bash
# `make install` into a staging root puts every file in place, the man page
# renders, and the installed example config is accepted by the binary.
set -u
. "$(dirname "$0")/../lib/netns.sh"
nn_init inst
root=$NN_TMP/root
cd "$NN_ROOT"
variant=$(basename "$PNB_OUT")
[ "$variant" = build ] && variant=default
make -s install DESTDIR="$root" PREFIX=/usr BUILD="$variant" >/dev/null 2>&1
t_check "make install succeeds" test $? -eq 0
for f in usr/bin/pinetboot usr/share/man/man8/pinetboot.8 \
	lib/systemd/system/pinetboot.service etc/pinetboot/pinetboot.conf; do
	t_check "installed $f" test -s "$root/$f"
done
t_check "unit runs the installed binary" \
	grep -q '^ExecStart=/usr/bin/pinetboot serve' \
	"$root/lib/systemd/system/pinetboot.service"
t_check "unit keeps the state directory root's alone (0700)" \
	grep -qx 'StateDirectoryMode=0700' \
	"$root/lib/systemd/system/pinetboot.service"
t_check "man page has a NAME section" \
	grep -q '^\.SH NAME' "$root/usr/share/man/man8/pinetboot.8"
# The installed config must be accepted: only an address is missing here.
out=$("$root/usr/bin/pinetboot" serve --config \
	"$root/etc/pinetboot/pinetboot.conf" --address 198.18.99.99 2>&1)
t_check "installed config parses (fails only on the address)" \
	grep -q 'address 198.18.99.99 is not on any interface' <<<"$out"
t_done
