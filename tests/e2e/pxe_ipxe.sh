#!/usr/bin/env bash
# pxe_ipxe: an x86-64 QEMU guest network-boots the way a PC does.  SeaBIOS
# runs QEMU's iPXE ROM (ipxe-qemu, e1000), iPXE asks DHCP for an address
# and a boot file, gets the iPXE script over TFTP, loads the kernel and
# initramfs over TFTP, and Linux comes up; its initramfs takes an address
# by DHCP again (udhcpc), mounts its root over NFS, switch_roots into it
# and reports a marker from there before powering off.
#
# Two boots against pinetboot serve:
#   server: --dhcp server with a range (pinetboot hands out addresses);
#   proxy:  --dhcp proxy beside dnsmasq, which plays the network's plain
#           DHCP server (addresses only, no PXE options) from a router
#           namespace.
# While pinetboot lacks DHCP or TFTP the test prints SKIP; while it lacks
# NFS the guest stops after its network is up and the NFS stage is
# skipped (SKIP line).
#
# PNB_PXE_SERVER=dnsmasq runs the same guest against dnsmasq (DHCP and
# TFTP) and NFS-Ganesha (labelled so) to check the harness itself.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/netns.sh"
. "$HERE/../lib/guest.sh"
. "$HERE/../lib/ganesha.sh"
nn_init pxe

SERVER=${PNB_PXE_SERVER:-pinetboot}
ADDR=198.18.0.1
TFTP=$NN_TMP/tftp
ROOT=$NN_TMP/root
mkdir -p "$TFTP" "$ROOT" "$NN_TMP/state"

nn_ns srv >/dev/null
NS=$NN_PREFIX-srv
nn_bridge "$NS" br0 "$ADDR/24"

# listening NS PROTO PORT: something listens there (after up to 5 s).
listening() {
	if [ "$2" = udp ]; then
		nn_wait_udp "$1" "$3"
	else
		nn_wait_tcp "$1" "$3"
	fi
}

# pnb_start MODE: pinetboot serve with DHCP MODE, TFTP and NFS; sets
# PNB_PID, HAVE_NFS.  Exits with SKIP when DHCP or TFTP are not there yet.
pnb_start() {
	local mode=$1 extra=() svc proto port src missing=
	[ "$mode" = server ] &&
		extra=(--dhcp-range 198.18.0.100,198.18.0.150)
	nn_spawn "$NS" "$NN_TMP/pnb-$mode.log" "$PNB_BIN" serve \
		--interface br0 --address "$ADDR" --state-dir "$NN_TMP/state" \
		--log-level debug --dhcp "$mode" "${extra[@]}" \
		--ipxe-script boot.ipxe --tftp-root "$TFTP" --export "$ROOT"
	PNB_PID=$NN_LAST_PID
	HAVE_NFS=1
	for svc in dhcp:udp:67:dhcp tftp:udp:69:tftp nfs:tcp:2049:nfs3; do
		IFS=: read -r name proto port src <<<"$svc"
		listening "$NS" "$proto" "$port" && continue
		if [ -d "$NN_ROOT/src/proto/$src" ]; then
			t_fail "pxe $mode pinetboot $name listening" \
				"serve did not listen on $proto $port"
			cat "$NN_TMP/pnb-$mode.log"
			exit 1
		fi
		if [ "$name" = nfs ]; then
			HAVE_NFS=0
		else
			missing="$missing $name"
		fi
	done
	if [ -n "$missing" ]; then
		echo "SKIP: pxe_ipxe (pinetboot has no${missing} server yet:" \
			"serve does not listen on its ports)"
		exit 0
	fi
}

# dnsmasq_start NS IFACE LOG [ARGS...]: dnsmasq as DHCP server (and
# whatever ARGS add) on IFACE in NS, no DNS; sets DNSMASQ_PID.
dnsmasq_start() {
	local ns=$1 ifc=$2 log=$3
	shift 3
	nn_spawn "$ns" "$log" dnsmasq --keep-in-foreground --log-facility=- \
		--conf-file=/dev/null --port=0 --user=root --group=root \
		--interface="$ifc" --bind-interfaces \
		--dhcp-range=198.18.0.100,198.18.0.150,255.255.255.0,1h \
		--dhcp-leasefile="$log.leases" --pid-file="$log.pid" \
		--log-dhcp "$@"
	DNSMASQ_PID=$NN_LAST_PID
	listening "$ns" udp 67 || {
		t_fail "pxe dnsmasq start"
		cat "$log"
		exit 1
	}
}

if ! guest_kernel amd64; then
	t_fail "pxe guest kernel" "see the messages above"
	exit 1
fi
guest_initramfs amd64 "$TFTP/initrd.gz" || {
	t_fail "pxe initramfs"
	exit 1
}
cp "$GUEST_KDIR/vmlinuz" "$TFTP/vmlinuz"
guest_rootfs amd64 "$ROOT" || {
	t_fail "pxe rootfs"
	exit 1
}
cat >"$ROOT/pnb/run" <<'EOF'
#!/bin/sh
if grep -q '^[^ ]* / nfs .*vers=3' /proc/mounts; then
	echo "PNB-PASS: root on nfs"
else
	echo "PNB-FAIL: root on nfs ($(grep ' / ' /proc/mounts | tr '\n' ' '))"
fi
echo "PNB-PASS: booted to marker"
EOF
chmod 755 "$ROOT/pnb/run"

# script MODE: the iPXE script; MODE net stops the guest once its
# network is up (no NFS root).
script() {
	cat >"$TFTP/boot.ipxe" <<EOF
#!ipxe
echo PNB-IPXE script loaded from \${next-server}
kernel vmlinuz console=ttyS0 panic=-1 quiet pnb_mode=$1 pnb_ip=dhcp pnb_server=$ADDR pnb_path=$ROOT
initrd initrd.gz
boot
EOF
}

TAP=$(guest_tap "$NS" br0) || {
	t_fail "pxe tap device"
	exit 1
}

# boot NAME MODE [QEMU-ARGS...]: one PXE boot; relays the guest's results.
boot() {
	local name=$1 mode=$2 log=$NN_TMP/console-$1.log
	shift 2
	# strict: network only; reboot-timeout: a failed boot reboots, which
	# -no-reboot turns into QEMU exiting instead of waiting for the timeout.
	GUEST_NIC=e1000 guest_qemu amd64 "$NS" "$TAP" "$log" 170 \
		-boot order=n,strict=on,reboot-timeout=1000 -device sga "$@"
	if [ "$mode" = net ]; then
		if grep -q '^PNB-T end' "$log" && grep -q '^PNB-NET:' "$log"; then
			t_pass "$SERVER $name pxe boot to network"
		else
			t_fail "$SERVER $name pxe boot to network" \
				"no PNB-NET marker (QEMU status $GUEST_RC)"
			tail -40 "$log"
		fi
	else
		guest_relay "$log" "$SERVER $name" || tail -40 "$log"
	fi
	if grep -q '^PNB-IPXE script loaded' "$log"; then
		t_pass "$SERVER $name ipxe script over tftp"
	elif grep -q '^Booting from PXE menu' "$log"; then
		t_fail "$SERVER $name ipxe script over tftp" "the DHCP reply \
carried a PXE boot menu (option 43.9), so iPXE went to boot-server \
discovery instead of loading the boot file: the server took this iPXE \
client for a Raspberry Pi"
	else
		t_fail "$SERVER $name ipxe script over tftp" "iPXE never ran it"
	fi
	grep '^PNB-DHCP:' "$log" | tail -1
	echo "INFO: $SERVER $name: wall ${GUEST_WALL}s; kernel uptime at" \
		"init $(guest_mark "$log" init), net $(guest_mark "$log" net)," \
		"mounted $(guest_mark "$log" mount), end $(guest_mark "$log" end)"
}

# served MODE: pinetboot's own log says it sent the kernel and initramfs
# whole over TFTP and accepted the guest's NFS mount (when NFS is on).
served() {
	local log=$NN_TMP/pnb-$1.log f size line
	for f in vmlinuz initrd.gz; do
		size=$(stat -c %s "$TFTP/$f")
		line=$(grep "svc=tftp .*event=done file=\"$f\" bytes=$size " "$log" |
			tail -1)
		if [ -n "$line" ]; then
			t_pass "pinetboot $1 tftp sent $f ($size bytes)"
			echo "INFO: pinetboot $1 tftp $f:$(echo "$line" |
				sed 's/.*\( ms=[0-9]*\).*\( blksize=[0-9]*\).*/\1\2/')"
		else
			t_fail "pinetboot $1 tftp sent $f" \
				"no event=done for $size bytes in its log"
		fi
	done
	[ "$HAVE_NFS" = 1 ] || return 0
	grep -q "svc=nfs peer=198\.18\.0\.[0-9]*:[0-9]* event=mount dir=\"$ROOT\"" \
		"$log" && t_pass "pinetboot $1 nfs mount of the root logged" ||
		t_fail "pinetboot $1 nfs mount of the root logged"
}

case $SERVER in
dnsmasq)
	script nfsroot
	ganesha_start "$NS" "$ADDR" "$NN_TMP/ganesha" "$ROOT" || {
		t_fail "pxe ganesha start"
		exit 1
	}
	dnsmasq_start "$NS" br0 "$NN_TMP/dnsmasq.log" \
		--dhcp-match=set:ipxe,175 --dhcp-boot=tag:ipxe,boot.ipxe \
		--enable-tftp --tftp-root="$TFTP"
	boot dnsmasq+ganesha nfsroot
	;;
pinetboot)
	pnb_start server
	mode=nfsroot
	[ "$HAVE_NFS" = 1 ] || {
		mode=net
		echo "SKIP: pxe_ipxe nfs root (pinetboot has no NFS server yet)"
	}
	script "$mode"
	# QEMU's default SMBIOS UUID is all zeros, as on many boards, and
	# iPXE sends it as option 97.
	boot server "$mode"
	served server
	nn_stop "$PNB_PID"

	nn_ns rtr >/dev/null
	nn_port "$NS" br0 "$NN_PREFIX-rtr" 198.18.0.254/24 >"$NN_TMP/rtr-if"
	dnsmasq_start "$NN_PREFIX-rtr" "$(cat "$NN_TMP/rtr-if")" \
		"$NN_TMP/dnsmasq-router.log"
	pnb_start proxy
	# A PC with a real system UUID this time.
	boot proxy "$mode" -uuid 8a1c6a4e-35d2-4c1b-9f0e-2d9b7c3e5a10
	served proxy
	grep -q 'DHCPACK.*198\.18\.0\.1[0-5][0-9]' "$NN_TMP/dnsmasq-router.log" &&
		t_pass "pinetboot proxy address from the router's dnsmasq" ||
		t_fail "pinetboot proxy address from the router's dnsmasq"
	;;
*)
	echo "pxe_ipxe: PNB_PXE_SERVER is pinetboot or dnsmasq" >&2
	exit 2
	;;
esac
guest_keep_logs
t_done
