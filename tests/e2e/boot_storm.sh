#!/usr/bin/env bash
# boot_storm: one round of bench/storm.sh against pinetboot only: 100
# emulated Pis of mixed models (pi_emu, power-on spread 1 s, DHCP in
# server mode and each model's TFTP files) and 2 x86-64 QEMU PXE clients
# (iPXE, TFTP, NFS root, a marker from the root) powered on within one
# second against one `pinetboot serve --dhcp server`.  Every client must
# boot and no two Pis may end up with the same address.  The reference
# stack (dnsmasq + NFS-Ganesha) and the timing comparison are for the
# benchmark itself (docs/benchmarks.md, "Boot storm").
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/netns.sh"

out=$(PNB_STORM_STACKS=pinetboot "$HERE/../../bench/storm.sh" "$PNB_OUT" 1 2>&1)
rc=$?
echo "$out" | sed 's/^/INFO: /'
line=$(echo "$out" | grep '^pinetboot 1 wall=')
if [ -z "$line" ]; then
	t_fail "storm: pinetboot round ran" "storm.sh exit status $rc"
	exit 1
fi
get() {
	echo "$line" | sed -n "s/.* $1=\([^ ]*\).*/\1/p"
}
t_check "storm: $(get pis) Pis booted" [ "$(get pis)" = 100/100 ]
t_check "storm: $(get qemu) QEMU PXE clients reached their NFS root" \
	[ "$(get qemu)" = 2/2 ]
t_check "storm: no address handed to two Pis ($(get clashes) clashes)" \
	[ "$(get clashes)" = 0 ]
t_done
