#!/usr/bin/env bash
# boot_storm: bench/storm.sh against pinetboot only, as a test.  Emulated
# Pis of mixed models that behave as the firmware does (tests/tools/pi_emu:
# own MAC and address, no client retransmission, bootcode.bin's 1 s
# patience), powered on within one second:
#  - 128 Pis, each a client provisioned with its own root, with
#    `--dhcp server`, then with `--dhcp proxy` beside a router on the same
#    host (so nothing the first server left behind, such as neighbour
#    entries, may break the second): every Pi fetches its files byte for
#    byte, then boots Linux as the kernel does (ip=dhcp, the nfsroot= of
#    its cmdline.txt) and replays the NFS calls of the traced arm64 boot
#    (tests/data/nfs), its READs checked against its root (128 keeps the
#    test short; bench/storm.sh runs up to 230);
#  - 200 Pis through DHCP and TFTP only, in both modes;
#  - 100 Pis with `--dhcp server` while nftables drops 1 %, then 5 %, of
#    the server's TFTP packets at random.
# Every Pi must boot.  Times and the comparison with dnsmasq and
# NFS-Ganesha are for the benchmark (docs/benchmarks.md, "Boot storm").
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/netns.sh"

# run NAME ENV...: one bench run; check every result line.
run() {
	local name=$1 out line n=0
	shift
	out=$(env PNB_STORM_STACKS=pinetboot "$@" \
		"$HERE/../../bench/storm.sh" "$PNB_OUT" 1 2>&1)
	echo "$out" | sed 's/^/INFO: /'
	while read -r line; do
		n=$((n + 1))
		set -- $line
		t_check "storm $name: $2 mode, $5 booted" \
			[ "${5#pis=}" = "${5#pis=*/}/${5#pis=*/}" ]
	done < <(echo "$out" | grep '^pinetboot [a-z]* 1 ')
	[ "$n" -gt 0 ] || t_fail "storm $name ran" "$(echo "$out" | tail -3)"
}

run "128 Pis to their NFS roots" PNB_STORM_PIS=128 \
	PNB_STORM_MODES="server proxy"
run "200 Pis, firmware" PNB_STORM_PIS=200 PNB_STORM_NFS=0 \
	PNB_STORM_MODES="server proxy"
run "1 % loss" PNB_STORM_PIS=100 PNB_STORM_NFS=0 PNB_STORM_MODES=server \
	PNB_STORM_LOSS=1
run "5 % loss" PNB_STORM_PIS=100 PNB_STORM_NFS=0 PNB_STORM_MODES=server \
	PNB_STORM_LOSS=5
t_done
