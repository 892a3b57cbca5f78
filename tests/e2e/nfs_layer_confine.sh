#!/usr/bin/env bash
# Hostile: two layered clients (docs/fleet.md) on one image version, A at
# 198.18.0.2 and B at 198.18.0.3, each with its record in the registry.
# From A's namespace, as root from a reserved port (what root on a Pi
# can do to its own root), with raw RPC:
#  - every kind of change to version files (WRITE, SETATTR of mode,
#    owner, size and times, CREATE over one, LINK, RENAME, REMOVE,
#    RMDIR) lands in A's layer: the version is unchanged, byte for byte
#    and attribute for attribute, and a handle taken before a copy-up
#    reaches the copy after it;
#  - B's layer is out of reach: B's handles are refused (not A's
#    export), B's handles under A's export id fail the tag, MOUNT paths
#    with "..", into the layer directories or into the image are
#    refused, ".." of the root is the root, symlinks are objects and
#    not followed, B's files are not listed;
#  - the whiteout and opaque markers cannot be forged: MKNOD of a 0/0
#    character device is NFS3ERR_PERM, and names such as ".wh.x" hide
#    nothing and carry no marker;
#  - TFTP serves each client's boot tree merged from the same stack as
#    its NFS export (a change A makes over NFS is what TFTP sends next);
#  - handles survive kill -9 and a restart, and go stale when a reset
#    gives the client a new layer.
# B's layer and the version are compared, whole, before and after.
set -u
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/nfs.sh"
source "$(dirname "$0")/../lib/layered.sh"
nn_init nfslc

S=$(nn_ns srv)
NA=$(nn_ns a)
NB=$(nn_ns b)
nn_bridge "$S" br0 198.18.0.1/24
nn_port "$S" br0 "$NA" 198.18.0.2/24 >/dev/null
nn_port "$S" br0 "$NB" 198.18.0.3/24 >/dev/null
STATE=$NN_TMP/state
PROBE=$PNB_TOOLS/rpc_probe
V=$NN_TMP/src

# The image: a root tree and a boot tree.
mkdir -p "$V/root/etc" "$V/root/bin" "$V/root/d" "$V/root/usr/lib" "$V/boot"
echo raspberrypi >"$V/root/etc/hostname"
echo 'root:*:19000:0:99999:7:::' >"$V/root/etc/shadow"
chmod 600 "$V/root/etc/shadow"
echo '#!elf' >"$V/root/bin/sh"
chmod 4755 "$V/root/bin/sh"
echo victim >"$V/root/victim"
echo inner >"$V/root/d/f"
echo shared >"$V/root/usr/lib/x"
ln "$V/root/usr/lib/x" "$V/root/usr/lib/y"
ln -s ../../../../../../.. "$V/root/escape"
ln -s /etc "$V/root/abs"
printf 'arm_64bit=1\n' >"$V/boot/config.txt"
printf 'console=serial0,115200 root=/dev/nfs\n' >"$V/boot/cmdline.txt"
head -c 300000 /dev/urandom >"$V/boot/kernel8.img"
mkdir -p "$STATE"
layered_version "$STATE" os 1 "$V/root" "$V/boot"
layered_client "$STATE" pia os 1 serial=aaaaaaaa address=198.18.0.2
layered_client "$STATE" pib os 1 serial=bbbbbbbb address=198.18.0.3
echo "b's own" >"$STATE/clients/pib/layer/root/b-secret"
printf 'b cmdline\n' >"$STATE/clients/pib/layer/boot/cmdline.txt"
VER=$STATE/images/os/v/1
layered_manifest "$VER" >"$NN_TMP/ver.before"
layered_manifest "$STATE/clients/pib/layer" >"$NN_TMP/b.before"
RA=$STATE/clients/pia/root
RB=$STATE/clients/pib/root

mkdir -p "$NN_TMP/tftp"
ARGS=(serve --dhcp off --address 198.18.0.1 --state-dir "$STATE"
	--tftp-root "$NN_TMP/tftp" --log-level info)
start() {
	nn_spawn "$S" "$NN_TMP/srv$1.log" "$PNB_BIN" "${ARGS[@]}"
	SRV=$NN_LAST_PID
	if ! nn_wait_tcp "$S" 2049 || ! nn_wait_udp "$S" 69; then
		t_fail "server starts ($1)" "$(tail -20 "$NN_TMP/srv$1.log")"
		t_done
		exit
	fi
}
start 1
t_check "the registry opened both clients' trees" \
	test "$(grep -c 'event=tree-open' "$NN_TMP/srv1.log")" -eq 4

# pa/pb ARGS...: the probe as root in A's / B's namespace, reserved port.
pa() { ip netns exec "$NA" "$PROBE" -p resv -t 198.18.0.1 "$@" 2>/dev/null; }
pb() { ip netns exec "$NB" "$PROBE" -p resv -t 198.18.0.1 "$@" 2>/dev/null; }
fh() { # the handle a probe command printed after its status
	local st h
	read -r st h < <("$@")
	[ "$st" = 0 ] && echo "$h"
}
tftp_get() { # NS PATH: the file's bytes over TFTP
	ip netns exec "$1" curl -sf --tftp-blksize 1468 -o - \
		"tftp://198.18.0.1/$2"
}

# TFTP: each client's boot tree, merged.
t_check "tftp: A's kernel is the version's" bash -c \
	"cmp -s <(ip netns exec $NA curl -sf -o - tftp://198.18.0.1/aaaaaaaa/kernel8.img) '$V/boot/kernel8.img'"
t_check "tftp: A's cmdline.txt is the version's" \
	[ "$(tftp_get "$NA" aaaaaaaa/cmdline.txt)" = "console=serial0,115200 root=/dev/nfs" ]
t_check "tftp: B's cmdline.txt is B's own, over the version's" \
	[ "$(tftp_get "$NA" bbbbbbbb/cmdline.txt)" = "b cmdline" ]
t_check "tftp: a name out of the tree is not served" \
	bash -c "! ip netns exec $NA curl -sf -o /dev/null tftp://198.18.0.1/aaaaaaaa/../pib/layer/boot/cmdline.txt"

# A mounts its root and takes handles before any change.
root=$(fh pa mnt "$RA")
t_check "A mounts its root" [ -n "$root" ]
etc=$(fh pa lookup "$root" etc)
host=$(fh pa lookup "$etc" hostname)
shadow=$(fh pa lookup "$etc" shadow)
bin=$(fh pa lookup "$root" bin)
sh=$(fh pa lookup "$bin" sh)
d=$(fh pa lookup "$root" d)
usr=$(fh pa lookup "$root" usr)
lib=$(fh pa lookup "$usr" lib)
x=$(fh pa lookup "$lib" x)
t_check "A has handles of the version files" \
	[ -n "$host" ] && [ -n "$shadow" ] && [ -n "$sh" ] && [ -n "$x" ]

# Every kind of change to version files, each answered as on a plain root.
check() { # NAME WANT CMD...
	local name=$1 want=$2 out
	shift 2
	out=$("$@")
	t_check "A: $name ($out)" [ "${out%% *}" = "$want" ]
}
check "WRITE of /etc/hostname" 0 pa write "$host"
check "READ through the handle taken before the copy-up" 0 pa read "$host"
t_check "A: that handle reaches the copy" \
	[ "$(head -c 6 "$(layered_view "$STATE" pia root etc/hostname)")" = probe ]
check "SETATTR mode of /etc/shadow" 0 pa chmod "$shadow" 0666
check "SETATTR owner of /etc/shadow" 0 pa chown "$shadow" 1000
check "SETATTR size of /bin/sh" 0 pa truncate "$sh" 0
check "SETATTR times of /bin/sh" 0 pa utimes "$sh" 12345
check "CREATE UNCHECKED over /victim" 0 pa create-unchecked "$root" victim
check "LINK of a version file" 0 pa link "$x" "$root" x2
check "RENAME of a version file" 0 pa rename "$root" victim "$root" victim2
check "REMOVE of a version file's other name" 0 pa remove "$lib" y
check "REMOVE in a version directory" 0 pa remove "$d" f
check "RMDIR of a version directory" 0 pa rmdir "$root" d
check "SYMLINK to a path outside" 0 pa symlink "$root" s /etc/shadow
check "MKNOD of a device root may make" 0 pa mknod "$root" null chr 1 3
layered_manifest "$VER" >"$NN_TMP/ver.after"
t_check "the version is unchanged after every change" \
	diff -u "$NN_TMP/ver.before" "$NN_TMP/ver.after"
t_check "A's changes are in A's layer" \
	[ "$(stat -c %a "$(layered_view "$STATE" pia root etc/shadow)")" = 666 ]

# Markers are out of the client's namespace.
check "MKNOD of the whiteout device 0/0 is NFS3ERR_PERM" 1 \
	pa mknod "$root" wh chr 0 0
t_check "A: no 0/0 device was made" [ ! -e "$STATE/clients/pia/layer/root/wh" ]
check "a file named .wh.hostname" 0 pa create "$etc" .wh.hostname
check "its whiteout-like name hides nothing" 0 pa lookup "$etc" hostname
check "a directory named .wh..wh..opq" 0 pa mkdir "$root" .wh..wh..opq
opq=$STATE/clients/pia/layer/root/.wh..wh..opq
t_check "A: it carries no opaque marker" \
	bash -c "! getfattr -h -n user.overlay.opaque '$opq' 2>/dev/null | grep -q opaque"
check "a file named like an index entry" 0 pa create "$root" "#1.1"

# B's layer is out of reach.
rootb=$(fh pb mnt "$RB")
bsec=$(fh pb lookup "$rootb" b-secret)
t_check "B mounts its own root and sees its file" [ -n "$bsec" ]
check "LOOKUP of B's file name in A's root" 2 pa lookup "$root" b-secret
check "GETATTR with B's root handle (not A's export)" 13 pa getattr "$rootb"
check "READ with B's file handle" 13 pa read "$bsec"
check "WRITE with B's file handle" 13 pa write "$bsec"
forged=${bsec:0:8}${root:8:8}${bsec:16}
check "B's handle under A's export id fails the tag" 10001 pa getattr "$forged"
check "B's handle under A's export id, WRITE" 10001 pa write "$forged"
check "MOUNT of B's root from A" 13 pa mnt "$RB"
check "MOUNT of a path through .. from A's root" 13 pa mnt "$RA/../../pib/root"
check "MOUNT of A's layer directory" 2 pa mnt "$STATE/clients/pia/layer/root"
check "MOUNT of the image's root" 2 pa mnt "$VER/root"
dotdot=$(fh pa lookup "$root" ..)
t_check "A: .. of the root is the root" [ "$dotdot" = "$root" ]
check "LOOKUP of a name with / " 13 pa lookup "$root" "etc/../.."
esc=$(fh pa lookup "$root" escape)
check "a symlink out of the tree is an object, read as text" 0 \
	pa readlink "$esc"
check "LOOKUP through the symlink is not a directory" 20 pa lookup "$esc" etc
out=$(ip netns exec "$NA" nfs-ls "nfs://198.18.0.1$RA/" 2>&1)
t_check "A's listing has its own names and not B's" bash -c \
	"grep -q victim2 <<<'$out' && ! grep -q b-secret <<<'$out'"
layered_manifest "$STATE/clients/pib/layer" >"$NN_TMP/b.after"
t_check "B's layer is unchanged" \
	diff -u "$NN_TMP/b.before" "$NN_TMP/b.after"

# A change over NFS is what TFTP serves next: one stack for both.
boota=$(fh pa mnt "$STATE/clients/pia/boot")
cmd=$(fh pa lookup "$boota" cmdline.txt)
check "WRITE of A's cmdline.txt over NFS" 0 pa write "$cmd"
t_check "tftp: A's cmdline.txt is the copy NFS just wrote" \
	[ "$(tftp_get "$NA" aaaaaaaa/cmdline.txt | head -1)" = probe ]
t_check "tftp: B's cmdline.txt did not change" \
	[ "$(tftp_get "$NA" bbbbbbbb/cmdline.txt)" = "b cmdline" ]

# kill -9 and a restart: the handles A holds still resolve.
kill -KILL "$SRV"
wait "$SRV" 2>/dev/null
start 2
check "after kill -9: GETATTR of A's root handle" 0 pa getattr "$root"
check "after kill -9: READ of the copied-up file's handle" 0 pa read "$host"
check "after kill -9: GETATTR of the handle of a renamed file" 0 \
	pa getattr "$(fh pa lookup "$root" victim2)"
check "after kill -9: B's handle is still not A's" 13 pa getattr "$rootb"

# A reset puts new, empty layer directories in: the registry reload
# opens a new stack, A's changes are gone and its handles are stale.
mv "$STATE/clients/pia/layer" "$NN_TMP/pia-layer.old"
layered_client "$STATE" pia os 1 serial=aaaaaaaa address=198.18.0.2
# A record changed in place is read again on SIGHUP (or POST /api/reload).
kill -HUP "$SRV"
for _ in $(seq 50); do
	[ "$(grep -c 'event=tree-open client=pia tree=root' "$NN_TMP/srv2.log")" -ge 2 ] &&
		break
	sleep 0.2
done
t_check "the registry reload opened A's new layer" \
	test "$(grep -c 'event=tree-open client=pia tree=root' "$NN_TMP/srv2.log")" -ge 2
check "after a reset: the old root handle is stale" 70 pa getattr "$root"
check "after a reset: the old file handle is stale" 70 pa read "$host"
root2=$(fh pa mnt "$RA")
check "after a reset: the version's victim is back" 0 pa lookup "$root2" victim
check "after a reset: B's root handle still works for B" 0 pb getattr "$rootb"
layered_manifest "$VER" >"$NN_TMP/ver.after"
t_check "the version is unchanged at the end" \
	diff -u "$NN_TMP/ver.before" "$NN_TMP/ver.after"
nn_stop "$SRV"
t_check "server exits cleanly" bash -c \
	"! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' $NN_TMP/srv*.log"
t_done
