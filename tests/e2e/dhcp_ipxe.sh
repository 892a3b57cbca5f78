#!/usr/bin/env bash
# A real PXE client: QEMU's iPXE ROM boots from pinetboot in server mode.
# iPXE sends user class "iPXE", so it must get --ipxe-script (breaking the
# iPXE-chains-iPXE loop) and fetch it over TFTP; the BIOS boot file goes
# only to firmware that is not iPXE yet.
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/dhcp.sh"
nn_init dhi
command -v qemu-system-x86_64 >/dev/null ||
	{ t_fail "qemu-system-x86_64 installed"; exit 1; }
S=$(nn_ns srv)
nn_bridge "$S" br0 198.18.0.1/24
ip -n "$S" tuntap add tap0 mode tap
ip -n "$S" link set tap0 master br0
ip -n "$S" link set tap0 up
mkdir -p "$NN_TMP/tftp"
printf '#!ipxe\necho pinetboot script\npoweroff\n' >"$NN_TMP/tftp/boot.ipxe"
head -c 4096 /dev/urandom >"$NN_TMP/tftp/undionly.kpxe"
nn_spawn "$S" "$NN_TMP/tftp.log" dnsmasq --no-daemon --conf-file=/dev/null \
	--port=0 --enable-tftp --tftp-root="$NN_TMP/tftp" \
	--listen-address=198.18.0.1 --bind-interfaces --user=root \
	--group=root --pid-file="$NN_TMP/tftp.pid" --log-facility=-
nn_wait_udp "$S" 69
dh_serve "$S" "$NN_TMP/pnb.log" --interface br0 \
	--state-dir "$NN_TMP/state" --dhcp server \
	--dhcp-range 198.18.0.100,198.18.0.199 --boot-file undionly.kpxe \
	--boot-file efi-x64=ipxe.efi --ipxe-script boot.ipxe ||
	{ cat "$NN_TMP/pnb.log"; t_fail "pinetboot starts"; exit 1; }
kvm=()
PNB_KVM=${PNB_KVM:-0}
[ "$PNB_KVM" = 1 ] && kvm=(-enable-kvm)
nn_spawn "$S" "$NN_TMP/qemu.log" timeout 90 qemu-system-x86_64 "${kvm[@]}" \
	-m 128 -nodefaults -no-user-config -display none -no-reboot \
	-netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
	-device e1000,netdev=n0,mac=52:54:00:12:34:56 -boot n
qemu=$NN_LAST_PID
for i in $(seq 600); do
	grep -q 'boot.ipxe' "$NN_TMP/tftp.log" && break
	kill -0 "$qemu" 2>/dev/null || break
	sleep 0.1
done
t_check "dhcp ipxe: iPXE got an address" \
	grep -q 'peer=52:54:00:12:34:56.*event=ack' "$NN_TMP/pnb.log"
if grep -q 'sent .*boot.ipxe' "$NN_TMP/tftp.log"; then
	t_pass "dhcp ipxe: iPXE fetched the --ipxe-script over TFTP"
else
	tail -n 8 "$NN_TMP/pnb.log" "$NN_TMP/tftp.log" "$NN_TMP/qemu.log"
	t_fail "dhcp ipxe: iPXE fetched the --ipxe-script over TFTP"
fi
t_check "dhcp ipxe: iPXE was not handed the iPXE binary again" \
	bash -c "! grep -q 'undionly.kpxe' '$NN_TMP/tftp.log'"
nn_stop "$qemu"
dh_stop_clean "$DH_PID" "dhcp ipxe: clean exit"
t_done
