#!/usr/bin/env bash
# The client registry: clients added and removed under STATE/clients while
# the server runs show up in `pinetboot status` without a restart; a bad
# record is skipped with a warning and does not hide the others.
set -u
. "$(dirname "$0")/../lib/netns.sh"
nn_init reg

srv=$(nn_ns srv)
st=$NN_TMP/state
mkdir -p "$st/clients/early"
printf 'serial = 9FFEFDEF\nmac = dc:a6:32:01:36:c2\nimage = os\n' \
	>"$st/clients/early/client.conf"
ip -n "$srv" addr add 198.18.0.1/24 dev lo

nn_spawn "$srv" "$NN_TMP/serve.log" "$PNB_BIN" serve --address 198.18.0.1 \
	--dhcp off --tftp off --nfs off --http 198.18.0.1:8080 --state-dir "$st"
pid=$NN_LAST_PID
for i in $(seq 50); do
	[ -S "$st/pinetboot.sock" ] && break
	sleep 0.1
done

status() { "$PNB_BIN" status --state-dir "$st" "$@"; }
# wait_for CMD...: poll up to 5 s until CMD succeeds.
wait_for() {
	local i
	for i in $(seq 50); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

t_check "client present at start is listed" \
	wait_for bash -c "$(declare -f status); PNB_BIN=$PNB_BIN st=$st; status |
	grep -q '^early .*dc:a6:32:01:36:c2 9ffefdef'"

# Add the way `client add` does: build aside, rename into place.
mkdir -p "$st/clients/.late.tmp"
printf 'serial = 12345678\naddress = 198.18.0.60\n' \
	>"$st/clients/.late.tmp/client.conf"
mv "$st/clients/.late.tmp" "$st/clients/late"
t_check "client added while running is listed" \
	wait_for bash -c "PNB_BIN=$PNB_BIN; $PNB_BIN status --state-dir $st |
	grep -q '^late .*12345678 *198.18.0.60 *idle'"
t_check "status NAME --json shows one client" \
	bash -c "$PNB_BIN status late --json --state-dir $st |
	grep -q '\"name\":\"late\"'"

mkdir -p "$st/clients/broken"
printf 'mac = not-a-mac\n' >"$st/clients/broken/client.conf"
t_check "bad record is skipped with a warning" \
	wait_for grep -q 'event=client-skipped client=broken' "$NN_TMP/serve.log"
t_check "others stay listed beside a bad record" \
	bash -c "$PNB_BIN status --state-dir $st | grep -q '^late '"

rm -rf "$st/clients/late"
t_check "removed client disappears" \
	wait_for bash -c "out=\$($PNB_BIN status --state-dir $st) &&
	! grep -q '^late ' <<<\"\$out\""
nn_stop "$pid"
t_done
