# Helpers for end-to-end tests that boot a real Linux kernel in QEMU: the
# guest is the NFS client and the PXE client that this machine's own
# kernel cannot be.  Source tests/lib/netns.sh first, then this file.
#
#   guest_kernel ARCH        Debian kernel + the modules the guest needs,
#                            fetched once with apt-get download into
#                            $PNB_GUEST_CACHE (default build/guest-cache)
#   guest_initramfs ARCH OUT a busybox initramfs whose /init is driven by
#                            pnb_* words on the kernel command line
#   guest_rootfs ARCH DIR    a tiny busybox root tree to export over NFS
#   guest_tap NS BRIDGE      a tap device inside namespace NS on BRIDGE
#   guest_boot ARCH NS TAP LOG TIMEOUT CMDLINE [QEMU ARGS...]
#                            boot the kernel under TCG, console into LOG
#   guest_start ... / guest_wait PID LOG   the same in the background
#   guest_relay LOG PREFIX   turn the guest's PNB-PASS/PNB-FAIL console
#                            lines into this script's PASS/FAIL lines
#   guest_keep_logs          copy console logs to $PNB_GUEST_LOGS if set
#
# The guest writes marker lines on its console (ttyS0 or ttyAMA0):
#   PNB-T NAME SECONDS        uptime at a boot milestone (init, net, mount,
#                             root, end)
#   PNB-DHCP key=value...     what udhcpc was given
#   PNB-PASS: NAME / PNB-FAIL: NAME (why)   results of the test script
#   PNB-ERROR: why            /init could not do its job
#   PNB-END rc=N              the test script finished with status N
#
# QEMU runs with -accel tcg (no KVM is assumed), one CPU and
# $PNB_GUEST_MEM MiB, so boots are slow but reproducible: keep tests short.

: "${PNB_GUEST_CACHE:=$NN_ROOT/build/guest-cache}"
: "${PNB_GUEST_MEM:=256}"

# guest_arch ARCH: sets G_QEMU, G_CONSOLE, G_MACHINE (array), G_MODULES.
guest_arch() {
	case $1 in
	amd64)
		G_QEMU=qemu-system-x86_64
		G_CONSOLE=ttyS0
		G_MACHINE=(-M q35 -accel tcg)
		G_MODULES="virtio_pci virtio_net e1000 nfsv3"
		;;
	arm64)
		G_QEMU=qemu-system-aarch64
		G_CONSOLE=ttyAMA0
		G_MACHINE=(-M virt -cpu cortex-a53 -accel tcg)
		G_MODULES="virtio_pci virtio_mmio virtio_net nfsv3"
		;;
	*)
		echo "guest: unknown architecture '$1' (amd64 or arm64)" >&2
		return 1
		;;
	esac
	command -v "$G_QEMU" >/dev/null || {
		echo "guest: $G_QEMU not found: install" \
			"qemu-system-x86/qemu-system-arm (scripts/install-deps)" >&2
		return 1
	}
}

# guest_apt ARCH TOOL ARGS...: apt-get or apt-cache (TOOL) for ARCH.  The
# host's own architecture uses the system's package lists; another
# architecture gets private lists under the cache (fetched on first use),
# so the host's dpkg configuration is left alone: no dpkg
# --add-architecture is needed.
guest_apt() {
	local arch=$1 tool=$2 d
	shift 2
	if [ "$arch" = "$(dpkg --print-architecture)" ]; then
		"$tool" -q -o APT::Sandbox::User=root "$@"
		return
	fi
	d=$PNB_GUEST_CACHE/$arch/apt
	set -- -q -o APT::Architecture="$arch" \
		-o APT::Architectures::="$arch" \
		-o Dir::State::Lists="$d/lists" -o Dir::State::status="$d/status" \
		-o Dir::Cache="$d/cache" -o Debug::NoLocking=1 \
		-o APT::Sandbox::User=root "$@"
	if ! ls "$d/lists" 2>/dev/null | grep -q Packages; then
		mkdir -p "$d/lists/partial" "$d/cache/archives/partial" ||
			return 1
		[ -f "$d/status" ] || : >"$d/status"
		apt-get -q -o APT::Architecture="$arch" \
			-o APT::Architectures::="$arch" \
			-o Dir::State::Lists="$d/lists" \
			-o Dir::State::status="$d/status" \
			-o Dir::Cache="$d/cache" -o Debug::NoLocking=1 \
			-o APT::Sandbox::User=root update >&2 || return 1
	fi
	"$tool" "$@"
}

# guest_download ARCH PKG DIR: PKG's .deb for ARCH into DIR (once); prints
# its path.
guest_download() {
	local arch=$1 pkg=$2 dir=$3 deb
	mkdir -p "$dir" || return 1
	deb=$(ls "$dir/${pkg}_"*"_$arch.deb" 2>/dev/null | tail -1)
	if [ -z "$deb" ]; then
		(cd "$dir" && guest_apt "$arch" apt-get download "$pkg:$arch") >&2 ||
			{
				echo "guest: apt-get download $pkg:$arch failed" \
					"(on a fresh machine run 'apt-get update' first)" >&2
				return 1
			}
		deb=$(ls "$dir/${pkg}_"*"_$arch.deb" 2>/dev/null | tail -1)
	fi
	[ -n "$deb" ] && echo "$deb"
}

# guest_kernel_pkg ARCH: the versioned kernel package that the
# linux-image-ARCH metapackage depends on (linux-image-6.1.0-N-ARCH).
guest_kernel_pkg() {
	local arch=$1 meta=linux-image-$1 d
	d=$(guest_apt "$arch" apt-cache show --no-all-versions "$meta" |
		sed -n 's/^Depends: *//p' | tr ',' '\n' |
		sed -n "s/^ *\(linux-image-[0-9][^ ]*-$arch\).*/\1/p" | head -1)
	if [ -z "$d" ]; then
		echo "guest: cannot resolve $meta to a kernel package" \
			"(on a fresh machine run 'apt-get update' first)" >&2
		return 1
	fi
	echo "$d"
}

# guest_mod_closure MODDIR NAME...: the module files NAME... need, in load
# order (dependencies first), as paths relative to MODDIR, read from
# MODDIR/modules.dep.
guest_mod_closure() {
	local moddir=$1 m key p
	shift
	local -A dep=() byname=() seen=()
	local order=()
	while IFS=: read -r m p; do
		dep[$m]=$p
		key=${m##*/}
		key=${key%%.ko*}
		byname[${key//-/_}]=$m
	done <"$moddir/modules.dep"
	_guest_visit() {
		local x
		[ -n "${seen[$1]:-}" ] && return
		seen[$1]=1
		for x in ${dep[$1]}; do
			_guest_visit "$x"
		done
		order+=("$1")
	}
	for m in "$@"; do
		p=${byname[${m//-/_}]:-}
		if [ -z "$p" ]; then
			echo "guest: module $m not in $moddir/modules.dep" >&2
			return 1
		fi
		_guest_visit "$p"
	done
	printf '%s\n' "${order[@]}"
}

# guest_kernel ARCH: makes sure the cache holds the kernel for ARCH with
# the modules of G_MODULES; sets GUEST_KDIR (vmlinuz, modules/*.ko and
# modules/load, the load order) and GUEST_KVER.  Fetches only when the
# cache is empty, so later runs work offline.
guest_kernel() {
	local arch=$1 dir pkg deb x kver m f fd rc=0
	guest_arch "$arch" || return 1
	dir=$PNB_GUEST_CACHE/$arch
	mkdir -p "$dir" || return 1
	exec {fd}>"$dir/.lock"
	flock "$fd"
	GUEST_KDIR=
	for x in "$dir"/k-*/ready; do
		[ -f "$x" ] && [ "$(cat "$x")" = "$G_MODULES" ] &&
			GUEST_KDIR=${x%/ready}
	done
	if [ -z "$GUEST_KDIR" ]; then
		pkg=$(guest_kernel_pkg "$arch") &&
			deb=$(guest_download "$arch" "$pkg" "$dir/debs") || rc=1
		if [ $rc -eq 0 ]; then
			x=$(mktemp -d "$dir/x.XXXXXX")
			dpkg-deb -x "$deb" "$x" &&
				kver=$(ls "$x/lib/modules" | head -1) &&
				busybox depmod -b "$x" "$kver" || rc=1
		fi
		if [ $rc -eq 0 ]; then
			GUEST_KDIR=$dir/k-$kver
			rm -rf "$GUEST_KDIR"
			mkdir -p "$GUEST_KDIR/modules"
			cp "$x/boot/vmlinuz-$kver" "$GUEST_KDIR/vmlinuz" &&
				echo "$kver" >"$GUEST_KDIR/kver" || rc=1
			: >"$GUEST_KDIR/modules/load"
			for m in $(guest_mod_closure "$x/lib/modules/$kver" \
				$G_MODULES || echo FAILED); do
				[ "$m" = FAILED ] && { rc=1; break; }
				f=${m##*/}
				case $f in
				*.ko) cp "$x/lib/modules/$kver/$m" "$GUEST_KDIR/modules/" ;;
				*.ko.xz) xz -dc "$x/lib/modules/$kver/$m" \
					>"$GUEST_KDIR/modules/${f%.xz}" ;;
				*.ko.zst) zstd -qdc "$x/lib/modules/$kver/$m" \
					>"$GUEST_KDIR/modules/${f%.zst}" ;;
				esac || rc=1
				echo "${f%.ko*}.ko" >>"$GUEST_KDIR/modules/load"
			done
			[ $rc -eq 0 ] && echo "$G_MODULES" >"$GUEST_KDIR/ready"
		fi
		[ -n "${x:-}" ] && rm -rf "$x"
	fi
	flock -u "$fd"
	exec {fd}>&-
	[ $rc -eq 0 ] || {
		echo "guest: no $arch kernel in $dir" >&2
		return 1
	}
	GUEST_KVER=$(cat "$GUEST_KDIR/kver")
}

# guest_busybox ARCH: prints the path of a static busybox for ARCH: the
# host's busybox-static for the host's architecture, else busybox-static
# for ARCH downloaded into the cache.
guest_busybox() {
	local arch=$1 dir deb fd
	if [ "$arch" = "$(dpkg --print-architecture)" ]; then
		if ! file -L /bin/busybox | grep -q 'statically linked'; then
			echo "guest: /bin/busybox is not static" \
				"(install busybox-static)" >&2
			return 1
		fi
		echo /bin/busybox
		return
	fi
	dir=$PNB_GUEST_CACHE/$arch
	mkdir -p "$dir"
	exec {fd}>"$dir/.lock"
	flock "$fd"
	if [ ! -x "$dir/busybox" ]; then
		deb=$(guest_download "$arch" busybox-static "$dir/debs") &&
			dpkg-deb --fsys-tarfile "$deb" |
			tar -xO ./bin/busybox >"$dir/busybox.new" &&
			chmod 755 "$dir/busybox.new" &&
			mv "$dir/busybox.new" "$dir/busybox"
	fi
	flock -u "$fd"
	exec {fd}>&-
	[ -x "$dir/busybox" ] && echo "$dir/busybox"
}

# The initramfs's /init.  Kernel command-line words it reads:
#   pnb_mode=nfsroot|net|probe   mount an NFS root and switch_root into it
#                                (default), bring the network up and stop,
#                                or stop right after loading modules
#   pnb_ip=dhcp|A.B.C.D/LEN      how to configure the NIC (default dhcp)
#   pnb_server=A.B.C.D           NFS server (default: DHCP server id)
#   pnb_path=/export/dir         NFS path of the root
#   pnb_proto=tcp|udp            NFS transport (default tcp)
#   pnb_vers=3                   NFS version (default 3)
#   pnb_opts=a=b,c               more NFS mount options
#   pnb_init=/sbin/init          what to run in the new root
# It mounts with the kernel's text mount options (busybox mount passes
# options it does not know through as data); the kernel needs addr=.
guest_init_script() {
	cat <<'EOF'
#!/bin/sh
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
t() { read -r up _ </proc/uptime; echo "PNB-T $1 $up"; }
die() {
	echo "PNB-ERROR: $*"
	dmesg | tail -25
	poweroff -f
	sleep 5
}
t init
pnb_mode=nfsroot pnb_ip=dhcp pnb_proto=tcp pnb_vers=3 pnb_init=/sbin/init
pnb_server= pnb_path= pnb_opts=
for w in $(cat /proc/cmdline); do
	case $w in
	pnb_mode=* | pnb_ip=* | pnb_server=* | pnb_path=* | pnb_proto=* | \
	pnb_vers=* | pnb_opts=* | pnb_init=*) eval "${w%%=*}=\${w#*=}" ;;
	esac
done
while read -r m; do
	insmod "/lib/modules/$m" || die "insmod $m failed"
done </lib/modules/load
t modules
[ "$pnb_mode" = probe ] && { t end; poweroff -f; sleep 5; }
dev=
for i in $(seq 50); do
	for d in /sys/class/net/*; do
		[ "${d##*/}" = lo ] || { dev=${d##*/}; break; }
	done
	[ -n "$dev" ] && break
	sleep 0.1
done
[ -n "$dev" ] || die "no network interface appeared"
ip link set lo up
ip link set "$dev" up
if [ "$pnb_ip" = dhcp ]; then
	udhcpc -i "$dev" -f -q -n -t 10 -T 2 -s /etc/udhcpc.script ||
		die "udhcpc on $dev got no lease"
	. /run/dhcp.env
	[ -n "$pnb_server" ] || pnb_server=$serverid
else
	ip addr add "$pnb_ip" dev "$dev" || die "bad pnb_ip=$pnb_ip"
fi
t net
echo "PNB-NET: $(ip -4 -o addr show dev "$dev" | sed 's/  */ /g')"
[ "$pnb_mode" = net ] && { t end; poweroff -f; sleep 5; }
[ -n "$pnb_server" ] && [ -n "$pnb_path" ] ||
	die "nfsroot needs pnb_server= and pnb_path="
o="vers=$pnb_vers,nolock,proto=$pnb_proto,addr=$pnb_server"
[ -n "$pnb_opts" ] && o="$o,$pnb_opts"
echo "PNB-MOUNT: $pnb_server:$pnb_path $o"
mkdir -p /newroot
mount -t nfs -o "$o" "$pnb_server:$pnb_path" /newroot ||
	die "mount -t nfs -o $o $pnb_server:$pnb_path failed"
t mount
[ -x "/newroot$pnb_init" ] || die "$pnb_init is not executable in the root"
umount /proc /sys /dev
exec switch_root /newroot "$pnb_init"
EOF
}

guest_udhcpc_script() {
	cat <<'EOF'
#!/bin/sh
case $1 in
deconfig)
	ip -4 addr flush dev "$interface"
	;;
bound | renew)
	ip -4 addr flush dev "$interface"
	if [ -n "$mask" ]; then
		ip addr add "$ip/$mask" dev "$interface"
	else
		ifconfig "$interface" "$ip" netmask "$subnet"
	fi
	[ -n "$router" ] && ip route add default via "${router%% *}"
	echo "PNB-DHCP: ip=$ip mask=${mask:-$subnet} router=${router:-}" \
		"serverid=${serverid:-} siaddr=${siaddr:-}" \
		"boot_file=${boot_file:-} sname=${sname:-}"
	echo "serverid=$serverid" >/run/dhcp.env
	;;
esac
exit 0
EOF
}

# guest_initramfs ARCH OUT [DIR]: writes a gzip'd newc initramfs to OUT
# with busybox, the kernel's modules (guest_kernel first) and /init; the
# contents of DIR, if given, are added on top.
guest_initramfs() {
	local arch=$1 out=$2 extra=${3:-} bb r a
	bb=$(guest_busybox "$arch") || return 1
	r=$(mktemp -d "${NN_TMP:-/tmp}/initramfs.XXXXXX")
	mkdir -p "$r"/{bin,sbin,dev,proc,sys,run,tmp,etc,lib/modules,newroot}
	cp "$bb" "$r/bin/busybox"
	for a in sh mount umount insmod ip ifconfig udhcpc switch_root \
		poweroff sleep seq cat mkdir dmesg tail sed; do
		ln -s busybox "$r/bin/$a"
	done
	cp "$GUEST_KDIR"/modules/* "$r/lib/modules/"
	guest_init_script >"$r/init"
	guest_udhcpc_script >"$r/etc/udhcpc.script"
	chmod 755 "$r/init" "$r/etc/udhcpc.script"
	[ -n "$extra" ] && cp -a "$extra/." "$r/"
	(
		set -o pipefail
		cd "$r" && find . | LC_ALL=C sort |
			cpio -o -H newc -R 0:0 --quiet | gzip -1 >"$out"
	)
	local rc=$?
	rm -rf "$r"
	return $rc
}

# guest_rootfs ARCH DIR: a minimal root tree in DIR (busybox with every
# applet linked, /dev /proc /sys /tmp) whose /sbin/init mounts the
# pseudo file systems, runs /pnb/run if present (its output on the
# console), prints "PNB-END rc=N" and powers off.
guest_rootfs() {
	local arch=$1 dir=$2 bb a
	bb=$(guest_busybox "$arch") || return 1
	mkdir -p "$dir"/{bin,sbin,dev,proc,sys,tmp,etc,pnb,root} || return 1
	cp "$bb" "$dir/bin/busybox"
	for a in $("$dir/bin/busybox" --list 2>/dev/null ||
		/bin/busybox --list); do
		[ "$a" = busybox ] || [ -e "$dir/bin/$a" ] ||
			ln -s busybox "$dir/bin/$a"
	done
	chmod 1777 "$dir/tmp"
	cat >"$dir/sbin/init" <<'EOF'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
read -r up _ </proc/uptime
echo "PNB-T root $up"
rc=0
if [ -x /pnb/run ]; then
	/pnb/run
	rc=$?
fi
read -r up _ </proc/uptime
echo "PNB-T end $up"
echo "PNB-END rc=$rc"
sync
poweroff -f
EOF
	chmod 755 "$dir/sbin/init"
}

# guest_tap NS BRIDGE: a tap device inside NS attached to BRIDGE; prints
# its name.  QEMU must run in NS too (guest_boot does).
guest_tap() {
	local ns=$1 br=$2 tap="pnbtap$RANDOM"
	ip -n "$ns" tuntap add dev "$tap" mode tap || return 1
	ip -n "$ns" link set "$tap" master "$br" || return 1
	ip -n "$ns" link set "$tap" up || return 1
	echo "$tap"
}

# guest_qemu ARCH NS TAP LOG TIMEOUT QEMU-ARGS...: runs QEMU for ARCH in
# namespace NS, its NIC on TAP, its serial console into LOG, for at most
# TIMEOUT seconds.  Sets GUEST_RC (124: timed out) and GUEST_WALL (wall
# seconds).  Extra QEMU-ARGS choose the boot (kernel or -boot n); the NIC
# model is $GUEST_NIC (default virtio-net-pci) with MAC $GUEST_MAC.
# $PNB_GUEST_QEMU_ARGS adds words to every QEMU command line (debugging).
guest_qemu() {
	local arch=$1 ns=$2 tap=$3 log=$4 limit=$5 t0 t1
	shift 5
	guest_arch "$arch" || return 1
	: "${GUEST_MAC:=52:54:00:12:34:56}"
	t0=$(date +%s.%N)
	ip netns exec "$ns" timeout -k 5 "$limit" "$G_QEMU" \
		"${G_MACHINE[@]}" -m "$PNB_GUEST_MEM" -smp 1 \
		-nodefaults -no-user-config -display none -no-reboot \
		-serial "file:$log" \
		-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no" \
		-device "${GUEST_NIC:-virtio-net-pci},netdev=n0,mac=$GUEST_MAC" \
		${PNB_GUEST_QEMU_ARGS:-} "$@" >"$log.qemu" 2>&1 </dev/null
	GUEST_RC=$?
	t1=$(date +%s.%N)
	GUEST_WALL=$(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}')
	# Firmware (SeaBIOS through sgabios, iPXE) draws with carriage
	# returns and ANSI escapes; keep the text.
	sed -i 's/\r//g; s/\x1b\[[0-9;?]*[A-Za-z]//g' "$log"
	return $GUEST_RC
}

# guest_boot ARCH NS TAP LOG TIMEOUT CMDLINE [QEMU-ARGS...]: direct kernel
# boot of GUEST_KDIR/vmlinuz with initramfs $GUEST_INITRD.
guest_boot() {
	local arch=$1 ns=$2 tap=$3 log=$4 limit=$5 cmd=$6
	shift 6
	guest_arch "$arch" || return 1
	guest_qemu "$arch" "$ns" "$tap" "$log" "$limit" \
		-kernel "$GUEST_KDIR/vmlinuz" -initrd "$GUEST_INITRD" \
		-append "console=$G_CONSOLE panic=-1 quiet $cmd" "$@"
}

# guest_start ARCH NS TAP LOG TIMEOUT CMDLINE [QEMU-ARGS...]: guest_boot
# in the background, so a test can act while the guest runs (or boot
# several guests at once: give each its own TAP and GUEST_MAC); sets
# GUEST_PID.  guest_wait PID LOG then sets GUEST_RC and GUEST_WALL.
guest_start() {
	local log=$4
	(
		guest_boot "$@"
		echo "$GUEST_RC $GUEST_WALL" >"$log.rc"
	) &
	GUEST_PID=$!
}

guest_wait() {
	wait "$1"
	GUEST_RC=124 GUEST_WALL=
	[ -f "$2.rc" ] && read -r GUEST_RC GUEST_WALL <"$2.rc"
	return "$GUEST_RC"
}

# guest_mark LOG NAME: the uptime the guest printed at marker NAME.
guest_mark() {
	sed -n "s/^PNB-T $2 \([0-9.]*\).*/\1/p" "$1" | tail -1
}

# guest_relay LOG PREFIX: prints the guest's results as PASS/FAIL lines
# named "PREFIX NAME"; FAIL if the guest's test script never ended.
guest_relay() {
	local log=$1 pre=$2 line n=0
	while IFS= read -r line; do
		case $line in
		PNB-PASS:*)
			t_pass "$pre ${line#PNB-PASS: }"
			n=$((n + 1))
			;;
		PNB-FAIL:*)
			line=${line#PNB-FAIL: }
			t_fail "$pre ${line%% (*}" "$(echo "$line" |
				sed -n 's/^[^(]*(\(.*\))$/\1/p')"
			n=$((n + 1))
			;;
		PNB-ERROR:*) t_fail "$pre guest init" "${line#PNB-ERROR: }" ;;
		esac
	done <"$log"
	if ! grep -q '^PNB-END rc=' "$log"; then
		t_fail "$pre guest run" "no PNB-END on the console (QEMU status \
$GUEST_RC$([ "$GUEST_RC" = 124 ] && echo ', timed out')): see the log"
		return 1
	fi
	[ $n -gt 0 ] || t_fail "$pre guest results" "the guest reported nothing"
}

# guest_keep_logs: copies the test's logs (consoles, servers) to
# $PNB_GUEST_LOGS when that is set (for reading a run afterwards).
guest_keep_logs() {
	[ -n "${PNB_GUEST_LOGS:-}" ] || return 0
	mkdir -p "$PNB_GUEST_LOGS" &&
		cp "$NN_TMP"/*.log "$PNB_GUEST_LOGS/" 2>/dev/null
	return 0
}
