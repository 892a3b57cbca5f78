#!/usr/bin/env bash
# nfs_kernel: a real Linux kernel, in a QEMU guest on a tap device in a
# private namespace, mounts its root file system from pinetboot's NFS
# server (vers=3,nolock), switch_roots into it and runs
# tests/e2e/guest/fsops.sh there: write/read, rename, link, symlink, mknod,
# chmod, chown, utimes, truncate, a 64 MiB file, a sparse file past 4 GiB
# and a 10,000-entry directory.  The guest's PNB-PASS/PNB-FAIL lines become
# this script's PASS/FAIL lines; afterwards the host checks what the server
# stored against what the guest reported.
#
# Boots: x86-64 with MOUNT and NFS over TCP; x86-64 again with MOUNT (and
# the portmapper lookup) over UDP; arm64 (qemu-system-aarch64 virt,
# cortex-a53) over TCP with a Pi-style command line (root=/dev/nfs
# nfsroot=... ip=...) and klibc's nfsmount doing the MOUNT, as a Raspberry
# Pi OS initramfs does; each architecture from its own export.  NFS
# itself over UDP cannot be tested with a kernel client here: Debian's
# kernels are built with CONFIG_NFS_DISABLE_UDP_SUPPORT=y and refuse
# proto=udp (EINVAL).  PNB_NFS_ARCHS narrows the architectures.
#
# PNB_NFS_SERVER=ganesha runs the same guest against NFS-Ganesha instead
# (its results are labelled "ganesha"), to check the harness itself.
# PNB_NFS_LAYERED=1 (nfs_kernel_layered.sh) serves each root as a
# layered tree whose version layer is the guest's root (tests/lib/nfs.sh)
# and boots once per architecture, over TCP.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/netns.sh"
. "$HERE/../lib/guest.sh"
. "$HERE/../lib/ganesha.sh"
. "$HERE/../lib/nfs.sh"
. "$HERE/../lib/layered.sh"
nn_init nfsk

SERVER=${PNB_NFS_SERVER:-pinetboot}
# The first x86-64 boot lists a 10,000-entry directory; the others use
# 2,000 entries to keep the test near two minutes under TCG and ASan.
NFILES_AMD64=${PNB_NFS_NFILES:-10000}
NFILES_OTHER=${PNB_NFS_NFILES:-2000}
ARCHS=${PNB_NFS_ARCHS:-amd64 arm64}
ADDR=198.18.0.1
LABEL=$SERVER
nfs_layered && LABEL="$SERVER layered"

# old DIR: the files fsops.sh finds in /pnb/old-TAG, there before the
# boot (on a layered root: in the version).
old() {
	mkdir -p "$1/dir/sub"
	echo old >"$1/append"
	echo mode >"$1/mode"
	echo ren >"$1/ren"
	echo lnk >"$1/lnk"
	echo gone >"$1/gone"
	echo data >"$1/trunc"
	echo a >"$1/dir/a"
	echo c >"$1/dir/sub/c"
	head -c 8388608 /dev/urandom >"$1/big"
	: >"$1/owned"
}

# prepare ARCH: initramfs and root tree for ARCH, made before the server
# starts (a layered export's version never changes under it).
prepare() {
	local arch=$1 root=$NN_TMP/root-$1
	mkdir -p "$root/work"
	guest_kernel "$arch" || {
		t_fail "nfs_kernel $arch guest kernel" "see the messages above"
		return 1
	}
	guest_initramfs "$arch" "$NN_TMP/initrd-$arch.gz" || {
		t_fail "nfs_kernel $arch initramfs"
		return 1
	}
	guest_rootfs "$arch" "$root" || {
		t_fail "nfs_kernel $arch rootfs"
		return 1
	}
	cp "$HERE/guest/fsops.sh" "$root/pnb/fsops.sh"
	for tag in tcp udp-mount "$arch-tcp"; do
		old "$root/pnb/old-$tag"
	done
	cat >"$root/pnb/run" <<EOF
#!/bin/sh
for w in \$(cat /proc/cmdline); do
	case \$w in
	pnb_tag=*) tag=\${w#*=} ;;
	pnb_nfiles=*) nfiles=\${w#*=} ;;
	esac
done
exec sh /pnb/fsops.sh "/work/\$tag" "\$nfiles"
EOF
	chmod 755 "$root/pnb/run" "$root/pnb/fsops.sh"
}

EXPORTS=()
PREPARED=()
for arch in $ARCHS; do
	prepare "$arch" || continue
	PREPARED+=("$arch")
	EXPORTS+=("$NN_TMP/root-$arch")
	nfs_layered && layered_manifest "$NN_TMP/root-$arch/pnb" \
		>"$NN_TMP/pnb.before-root-$arch"
done

nn_ns srv >/dev/null
NS=$NN_PREFIX-srv
nn_bridge "$NS" br0 "$ADDR/24"

case $SERVER in
pinetboot)
	mkdir -p "$NN_TMP/state"
	SPECS=()
	for e in "${EXPORTS[@]}"; do
		SPECS+=("--export=$(nfs_export_spec "$e")")
	done
	nn_spawn "$NS" "$NN_TMP/server.log" "$PNB_BIN" serve --dhcp off \
		--tftp off --address "$ADDR" --state-dir "$NN_TMP/state" \
		--log-level debug "${SPECS[@]}"
	if ! nn_wait_tcp "$NS" 2049 || ! nn_wait_tcp "$NS" 111; then
		if [ ! -d "$NN_ROOT/src/proto/nfs3" ]; then
			echo "SKIP: nfs_kernel (pinetboot has no NFS server yet:" \
				"'$PNB_BIN serve --export' listens on neither" \
				"2049 nor 111)"
			exit 0
		fi
		t_fail "nfs_kernel pinetboot listening" \
			"serve --export did not listen on TCP 2049 and 111"
		cat "$NN_TMP/server.log"
		exit 1
	fi
	;;
ganesha)
	ganesha_start "$NS" "$ADDR" "$NN_TMP/ganesha" "${EXPORTS[@]}" || {
		t_fail "nfs_kernel ganesha start"
		exit 1
	}
	;;
*)
	echo "nfs_kernel: PNB_NFS_SERVER is pinetboot or ganesha" >&2
	exit 2
	;;
esac
TAP=$(guest_tap "$NS" br0) || {
	t_fail "nfs_kernel tap device"
	exit 1
}

# info LOG: the guest's boot milestones and timings on one line.
info() {
	local l=$1
	echo "INFO: $LABEL $2: wall ${GUEST_WALL}s; uptime at init" \
		"$(guest_mark "$l" init), net $(guest_mark "$l" net)," \
		"mounted $(guest_mark "$l" mount), in root $(guest_mark "$l" root)," \
		"tests done $(guest_mark "$l" end);" \
		"$(sed -n 's/^PNB-INFO //p' "$l" | tr '\n' ' ')"
}

# kv LOG KEY: a value the guest reported as PNB-INFO KEY=VALUE.
kv() {
	sed -n "s/^PNB-INFO .*\<$2=\([^ ]*\).*/\1/p" "$1" | tail -1
}

# verify ROOT TAG LOG: what the server stored, seen from the host.
verify() {
	local tag=$2 log=$3 w p="$LABEL $2 server-view"
	w=$(nfs_host "$1" "work/$2")
	[ -d "$w" ] || {
		t_fail "$p" "no $w on the server"
		return
	}
	t_check "$p file content" [ "$(md5sum <"$w/hard" | cut -d' ' -f1)" = \
		"$(kv "$log" seqfile_md5)" ]
	t_check "$p hard link" [ "$(stat -c %h "$w/hard")" = 1 ]
	t_check "$p symlink" [ "$(readlink "$w/dangling")" = does/not/exist ]
	t_check "$p devices" [ "$(stat -c '%F %t %T' "$w/cdev" "$w/bigdev" |
		tr '\n' ,)" = "character special file 1 3,character special file f0 12c," ]
	t_check "$p fifo" [ -p "$w/fifo" ]
	t_check "$p modes" [ "$(stat -c %a "$w/modes" "$w/sticky" "$w/sgid" |
		tr '\n' ' ')" = "7777 1777 2775 " ]
	t_check "$p owners" [ "$(stat -c '%u:%g' "$w/owned" "$w/ownlink" |
		tr '\n' ' ')" = "1234:5678 4321:8765 " ]
	t_check "$p mtime" [ "$(stat -c %Y "$w/stamped")" = \
		"$(date -d '2001-02-03 04:05:06' +%s)" ]
	t_check "$p large file" [ "$(md5sum <"$w/big" | cut -d' ' -f1)" = \
		"$(kv "$log" big_md5)" ]
	t_check "$p sparse file" [ "$(stat -c %s "$w/sparse")" = 5000000001 \
		-a "$(stat -c %b "$w/sparse")" -lt 2048 ]
	t_check "$p directory entries" \
		[ "$(ls "$w/many" | wc -l)" = $((NFILES - NFILES / 10)) ]
	# The files that were there before the boot, as the server has them.
	t_check "$p old files" [ "$(cat "$(nfs_host "$1" "pnb/old-$2/append")" \
		"$(nfs_host "$1" "pnb/old-$2/ren2")" | tr '\n' ' ')" = "old more ren " ]
	t_check "$p old file removed" [ ! -e "$(nfs_host "$1" "pnb/old-$2/gone")" ]
	t_check "$p old file patched" [ "$(md5sum <"$(nfs_host "$1" \
		"pnb/old-$2/big")" | cut -d' ' -f1)" = "$(kv "$log" old_big_md5)" ]
	if nfs_layered; then
		layered_manifest "$1/pnb" >"$NN_TMP/pnb.after"
		t_check "$p the version layer is unchanged" \
			cmp -s "$NN_TMP/pnb.before-$(basename "$1")" "$NN_TMP/pnb.after"
	fi
}

# kernel ARCH: the guest kernel and initramfs for ARCH; sets ROOT.
kernel() {
	ROOT=$NN_TMP/root-$1
	GUEST_INITRD=$NN_TMP/initrd-$1.gz
	guest_kernel "$1"
}

# run ARCH TAG NFILES WORDS: one boot, WORDS (pnb_proto=, pnb_opts=) on
# the command line; the directory test uses NFILES entries.
run() {
	local arch=$1 tag=$2 words="pnb_nfiles=$3 $4" log=$NN_TMP/console-$2.log
	NFILES=$3
	guest_boot "$arch" "$NS" "$TAP" "$log" 170 "$words pnb_tag=$tag"
	guest_relay "$log" "$LABEL $tag" || {
		tail -40 "$log"
		[ -s "$log.qemu" ] && cat "$log.qemu"
	}
	info "$log" "$tag"
	verify "$ROOT" "$tag" "$log"
}

for arch in ${PREPARED[@]+"${PREPARED[@]}"}; do
	kernel "$arch" || continue
	PNB_WORDS="pnb_ip=198.18.0.10/24 pnb_server=$ADDR pnb_path=$ROOT"
	case $arch in
	amd64)
		run amd64 tcp "$NFILES_AMD64" "$PNB_WORDS pnb_proto=tcp \
pnb_opts=mountproto=tcp"
		# NFS itself still runs over TCP here (see above), so the
		# directory test is the smaller one.  The MOUNT transport
		# has nothing to do with layers: once is enough.
		nfs_layered ||
			run amd64 udp-mount "$NFILES_OTHER" "$PNB_WORDS \
pnb_proto=tcp pnb_opts=mountproto=udp"
		;;
	*)
		# The words a provisioned Pi's cmdline.txt carries.
		run "$arch" "$arch-tcp" "$NFILES_OTHER" "root=/dev/nfs \
nfsroot=$ADDR:$ROOT,vers=3,tcp rw \
ip=198.18.0.10::$ADDR:255.255.255.0::eth0:off rootwait pnb_mounter=klibc"
		;;
	esac
done
guest_keep_logs
t_done
