#!/usr/bin/env bash
# `client remove` deletes whatever a Pi built in its root, and nothing
# else (issue 10, item 11): a tree 5,000 levels deep with 250-byte names
# (1.2 MB of path, far past PATH_MAX and any recursion limit), symlinks
# and hard links pointing out of the tree; a file system mounted inside a
# client stops the removal before anything is removed.
set -u
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/rpi_image.sh"
nn_init rm
W=$NN_TMP
S=$W/state
P=$PNB_BIN

rpi_build_checked "$W"
t_check "image import" "$P" image import "$W/disk.img" --name os --state-dir "$S"
t_check "client add pi1" "$P" client add pi1 --root copy --serial 9ffefdef --image os \
	--server 198.18.0.1 --state-dir "$S"
C=$S/clients/pi1/root

# What a Pi's root user can do in its own root over NFS, done here
# directly: every level holds a file, and every 50th a symlink to a
# directory outside the tree and one to a file outside (the first 1000
# also a relative one climbing out); the deepest level hard-links a file
# of the image.
mkdir -p "$W/outside"
echo keep >"$W/outside/canary"
perl -e '
	my ($base, $n, $out, $img) = @ARGV;
	my $name = "n" x 250;
	chdir $base or die "$base: $!";
	for my $i (1 .. $n) {
		mkdir $name or die "level $i: $!";
		chdir $name or die "level $i: $!";
		open(my $f, ">", "f") or die "level $i: $!";
		close $f;
		next if $i % 50;
		symlink($out, "dir") and symlink("$out/canary", "file") or
		    die "level $i: $!";
		# A symlink target holds at most 4095 bytes.
		$i > 1000 or symlink("../" x ($i + 6) . "outside", "rel") or
		    die "level $i: $!";
	}
	link($img, "hard") or die "hard link: $!";
' "$C/home/pi" 5000 "$W/outside" "$S/images/os/v/1/root/etc/hostname"
rc=$?
t_check "a 5000-level tree with 250-byte names built in the client root" [ "$rc" -eq 0 ]
depth=$(find "$C/home/pi" -type d -printf '%d\n' | sort -n | tail -1)
t_check "find sees it ($depth levels)" [ "${depth:-0}" -eq 5000 ]

t0=$(date +%s%N)
"$P" client remove pi1 --yes --state-dir "$S" >"$W/out" 2>&1
rc=$?
t1=$(date +%s%N)
t_check "client remove exits 0 ($(((t1 - t0) / 1000000)) ms)" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || cat "$W/out"
t_check "nothing of the client is left" [ -z "$(ls -A "$S/clients")" ]
t_check "the directory a symlink pointed to is untouched" [ "$(cat "$W/outside/canary")" = keep ]
t_check "the image's hard-linked file is untouched" [ "$(cat "$S/images/os/v/1/root/etc/hostname")" = raspberrypi ]

# A file system mounted inside a client (an operator's bind mount, say):
# refused before anything is removed, in a private mount namespace.
t_check "client add pi2" "$P" client add pi2 --root copy --serial 1234abcd --image os \
	--server 198.18.0.1 --state-dir "$S"
C2=$S/clients/pi2/root
mkdir -p "$C2/mnt/data"
unshare -m sh -c '
	mount -t tmpfs -o size=1m pnbtest "$1/mnt/data" || exit 9
	echo precious >"$1/mnt/data/file"
	"$2" client remove pi2 --yes --state-dir "$3"
	echo "rc=$?"
	cat "$1/mnt/data/file"
' sh "$C2" "$P" "$S" >"$W/out" 2>&1
cat "$W/out"
t_check "a mount inside the client: remove exits 1" grep -qx 'rc=1' "$W/out"
t_check "and names the mount point and the fix" \
	grep -q "^pinetboot client remove: a file system is mounted at $C2/mnt/data, inside $S/clients/pi2: unmount it first" "$W/out"
t_check "the mounted file system is untouched" grep -qx precious "$W/out"
t_check "the client is untouched" [ -f "$S/clients/pi2/client.conf" ] && [ -f "$C2/etc/hostname" ]
t_check "once unmounted, client remove succeeds" "$P" client remove pi2 --yes --state-dir "$S"
t_check "nothing of pi2 is left" [ -z "$(ls -A "$S/clients")" ]
t_done
