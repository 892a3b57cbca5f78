#!/usr/bin/env bash
# The status page in a real headless browser (Debian's chromium): the
# page's script must fetch /api/status and render the provisioned client,
# and a screenshot is kept for people to look at.
set -u
. "$(dirname "$0")/../lib/netns.sh"
nn_init page

browser=$(command -v chromium || true)
if [ -z "$browser" ]; then
	t_fail "chromium is installed" "scripts/install-deps installs it"
	t_done
	exit
fi
srv=$(nn_ns srv)
cli=$(nn_ns cli)
nn_veth "$srv" 198.18.0.1/24 "$cli" 198.18.0.2/24 >/dev/null
st=$NN_TMP/state
mkdir -p "$st/clients/pi4-lab-07"
printf 'serial = 9ffefdef\nmac = dc:a6:32:01:36:c2\naddress = 198.18.0.57\n' \
	>"$st/clients/pi4-lab-07/client.conf"
nn_spawn "$srv" "$NN_TMP/serve.log" "$PNB_BIN" serve --address 198.18.0.1 \
	--dhcp off --tftp off --nfs off --http 198.18.0.1:8080 --state-dir "$st"
pid=$NN_LAST_PID
nn_wait_tcp "$srv" 8080 || t_fail "server listens"

shots=$PNB_OUT/screenshots
mkdir -p "$shots"
URL=http://198.18.0.1:8080/
chrome() {
	ip netns exec "$cli" timeout 60 "$browser" --headless --no-sandbox \
		--disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update \
		--disable-sync --user-data-dir="$NN_TMP/profile" \
		--virtual-time-budget=3000 "$@" "$URL" \
		2>>"$NN_TMP/chromium.log"
}
dom=$(chrome --dump-dom)
first_dom=$dom
lacks() { ! grep -q "$1" <<<"$2"; }
t_check "script rendered the client row" grep -q '>pi4-lab-07<' <<<"$dom"
t_check "row shows the state" grep -q 'pi4-lab-07.*idle' <<<"$dom"
t_check "no MAC or serial on the network by default" \
	lacks 'dc:a6:32:01:36:c2\|9ffefdef' "$dom"
t_check "meta line counts the clients" grep -q '1 client, up' <<<"$dom"
chrome --screenshot="$shots/status-page.png" --window-size=1200,500 >/dev/null
size=$(stat -c %s "$shots/status-page.png" 2>/dev/null || echo 0)
t_check "screenshot taken ($shots/status-page.png)" test "$size" -gt 5000

# With a read token the page's script sends the token from the URL's
# fragment (which never leaves the browser); without it, it says so.
nn_stop "$pid"
tok=0123456789abcdef0123456789abcdef
echo "$tok" >"$NN_TMP/token"
chmod 600 "$NN_TMP/token"
nn_spawn "$srv" "$NN_TMP/serve2.log" "$PNB_BIN" serve --address 198.18.0.1 \
	--dhcp off --tftp off --nfs off --http 198.18.0.1:8080 \
	--http-token "$NN_TMP/token" --http-show-ids on --state-dir "$st"
nn_wait_tcp "$srv" 8080 || t_fail "token server listens"
dom=$(chrome --dump-dom)
t_check "without the token the page says it needs one" \
	grep -q 'needs its token' <<<"$dom"
t_check "and shows no client" lacks '>pi4-lab-07<' "$dom"
URL="http://198.18.0.1:8080/#token=$tok"
dom=$(chrome --dump-dom)
t_check "with #token= the page renders the client" \
	grep -q '>pi4-lab-07<' <<<"$dom"
t_check "with --http-show-ids on, its MAC too" \
	grep -q 'dc:a6:32:01:36:c2' <<<"$dom"
if [ "$NN_FAILS" -gt 0 ]; then
	grep -o '<p id="meta">[^<]*' <<<"$first_dom"
	tail -20 "$NN_TMP/chromium.log"
fi
t_done
