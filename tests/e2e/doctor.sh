#!/usr/bin/env bash
# `pinetboot doctor` in a private namespace: a foreign daemon on a port, a
# firewall rule, a wrong address, client boot trees complete or not.
set -u
. "$(dirname "$0")/../lib/netns.sh"
nn_init doc

srv=$(nn_ns srv)
cli=$(nn_ns cli)
nn_veth "$srv" 198.18.0.1/24 "$cli" 198.18.0.2/24 >/dev/null
st=$NN_TMP/state
mkdir -p "$st/clients/good/boot" "$st/clients/bare/boot" "$NN_TMP/tftp"
for f in config.txt cmdline.txt start4.elf kernel8.img \
	bcm2711-rpi-4-b.dtb; do
	echo x >"$st/clients/good/boot/$f"
done
echo x >"$st/clients/bare/boot/config.txt"

doctor() {
	ip netns exec "$srv" "$PNB_BIN" doctor --address 198.18.0.1 \
		--state-dir "$st" "$@" 2>&1
}

out=$(doctor --dhcp off)
rc=$?
t_check "clean namespace: address found" \
	grep -q '^ok    serving on .* address 198.18.0.1' <<<"$out"
t_check "complete client passes" \
	grep -q '^ok    client good: boot tree has the files for Pi 4' <<<"$out"
t_check "incomplete client fails with the fix" \
	grep -q '^FAIL  client bare: .*lacks config.txt or cmdline.txt' <<<"$out"
t_check "exit 1 when something would stop a boot" test "$rc" -eq 1
rm -rf "$st/clients/bare"

# Who can reach the state directory (issue 10, item 3).  mkdir -p above
# made it 0755, as an older version did.
t_check "an open state directory is a warning with the fix" \
	grep -q "^warn  $st is mode 0755: local users can reach the client roots.*chmod 700 $st" <<<"$out"
t_check "an open clients directory is a warning" \
	grep -q "^warn  $st/clients is mode 0755" <<<"$out"
chmod 700 "$st" "$st/clients"
# doctor_tmpfs OPTS: doctor with a fresh state directory on a tmpfs
# mounted with OPTS, in a private mount namespace.
doctor_tmpfs() {
	local m=$NN_TMP/mnt
	mkdir -p "$m"
	unshare -m sh -c 'mount -t tmpfs -o "$1,size=1m,mode=0700" pnbtest "$2" &&
		mkdir -m 700 "$2/clients" "$2/images" &&
		ip netns exec "$3" "$4" doctor --address 198.18.0.1 --dhcp off \
			--state-dir "$2"' sh "$1" "$m" "$srv" "$PNB_BIN" 2>&1
}
out=$(doctor_tmpfs rw)
t_check "a state file system without nosuid,nodev is a warning with the fix" \
	grep -q "^warn  the file system holding $NN_TMP/mnt is mounted without nosuid,nodev.*mount $NN_TMP/mnt with nosuid,nodev" <<<"$out"
out=$(doctor_tmpfs nosuid,nodev)
t_check "a private state directory on a nosuid,nodev file system is ok" \
	grep -q "^ok    state directory $NN_TMP/mnt is root's alone" <<<"$out"
t_check "and raises no warning about it" \
	bash -c '! grep -q "^warn.*$1" <<<"$2"' _ "$NN_TMP/mnt" "$out"

# A foreign TFTP server holds port 69.
nn_spawn "$srv" "$NN_TMP/dnsmasq.log" dnsmasq --no-daemon --port=0 \
	--enable-tftp --tftp-root="$NN_TMP/tftp" --listen-address=198.18.0.1 \
	--bind-interfaces --pid-file="$NN_TMP/dnsmasq.pid"
dpid=$NN_LAST_PID
nn_wait_udp "$srv" 69
out=$(doctor --dhcp off)
rc=$?
t_check "taken port names the owner" \
	grep -q '^FAIL  UDP port 69 (TFTP) is taken by dnsmasq' <<<"$out"
t_check "exit 1 on a taken port" test "$rc" -eq 1
nn_stop "$dpid"

if ip netns exec "$srv" nft add table inet pnbtest 2>/dev/null; then
	ip netns exec "$srv" nft add chain inet pnbtest input \
		'{ type filter hook input priority 0; }'
	ip netns exec "$srv" nft add rule inet pnbtest input udp dport 69 drop
	out=$(doctor --dhcp off)
	t_check "firewall rule dropping TFTP is reported" \
		grep -q '^warn  firewall rule drops port 69' <<<"$out"
	ip netns exec "$srv" nft delete table inet pnbtest
fi

out=$(doctor --dhcp off)
rc=$?
t_check "all clear exits 0" test "$rc" -eq 0

out=$(doctor --dhcp proxy)
t_check "proxy mode without a DHCP server is a warning" \
	grep -q '^warn  no DHCP server answered' <<<"$out"
# The network's ordinary DHCP server, on the other end of the link.
nn_spawn "$cli" "$NN_TMP/router.log" dnsmasq --no-daemon --port=0 \
	--dhcp-range=198.18.0.100,198.18.0.150,255.255.255.0 --no-ping \
	--listen-address=198.18.0.2 --bind-interfaces \
	--dhcp-leasefile="$NN_TMP/router.leases" --pid-file="$NN_TMP/r.pid"
rpid=$NN_LAST_PID
nn_wait_udp "$cli" 67
out=$(doctor --dhcp proxy)
t_check "proxy mode finds the router's DHCP server" \
	grep -q '^ok    DHCP server 198.18.0.2 answers' <<<"$out"
out=$(doctor --dhcp server)
rc=$?
t_check "server mode reports the other DHCP server as a conflict" \
	grep -q '^FAIL  another DHCP server, 198.18.0.2, answers' <<<"$out"
t_check "conflict exits 1" test "$rc" -eq 1
nn_stop "$rpid"

out=$(ip netns exec "$srv" "$PNB_BIN" doctor --address 198.18.0.77 \
	--state-dir "$st" 2>&1)
t_check "address not on an interface is a failure with the fix" \
	grep -q '^FAIL  address 198.18.0.77 is not on any interface' <<<"$out"
ip netns exec "$srv" "$PNB_BIN" doctor --bogus >/dev/null 2>&1
t_check "unknown option exits 2" test $? -eq 2

# Clients without a static address: what their exports follow, by mode.
printf 'serial = 1234abcd\nmac = dc:a6:32:00:00:01\naddress = 198.18.0.51\n' \
	>"$st/clients/good/client.conf"
mkdir -p "$st/clients/loose/boot" "$st/clients/serial/boot"
printf 'serial = 1234abce\nmac = dc:a6:32:00:00:02\n' \
	>"$st/clients/loose/client.conf"
printf 'serial = 1234abcf\n' >"$st/clients/serial/client.conf"
out=$(doctor --dhcp server)
t_check "server mode: a client without address is named, with the reason" \
	grep -q '^info  client loose: no static address: the exports follow the address pinetboot leases to this MAC.*set address = IP' <<<"$out"
t_check "server mode: a serial-only client is told its serial is broadcast" \
	grep -q '^info  client serial: no static address and no MAC: .*broadcasts' <<<"$out"
lacks() { ! grep -q "$1" <<<"$2"; }
t_check "the pinned client is not listed" lacks 'client good: no static' "$out"
t_check "a summary counts the pinned clients" \
	grep -q '^info  1 of 3 clients have a static address' <<<"$out"
out=$(doctor --dhcp proxy)
t_check "proxy mode: a client without address is a warning" \
	grep -q '^warn  client loose: no static address: in proxy mode .*ACK.*set address = IP' <<<"$out"
out=$("$PNB_BIN" client show loose --state-dir "$st")
t_check "client show says what the missing address means" \
	grep -q '^exports .*no static address: the exports follow DHCP' <<<"$out"
out=$("$PNB_BIN" client show good --state-dir "$st")
t_check "client show of a pinned client" \
	grep -q '^exports .*exported to this address only' <<<"$out"
out=$("$PNB_BIN" client list --state-dir "$st")
t_check "client list counts the clients without address" \
	grep -q '^2 of these have no static address' <<<"$out"
t_done
