#!/bin/sh
# Runs INSIDE a QEMU guest whose root is mounted over NFS (busybox ash):
# exercises the file operations an operating system root needs, through
# the kernel's NFS client, in WORKDIR (on the NFS mount).  Prints
# "PNB-PASS: name" or "PNB-FAIL: name (why)" per check and "PNB-INFO
# key=value" lines the host compares with what the server stored.
#
# Usage: fsops.sh WORKDIR [NFILES]
# Caches are dropped before every read-back, so reads reach the server.
# /pnb/old-TAG (TAG: WORKDIR's last name), when the host made it, holds
# files that existed before the boot, which are changed too.
W=${1:?usage: fsops.sh WORKDIR [NFILES]}
NFILES=${2:-10000}

pass() { echo "PNB-PASS: $1"; }
fail() { echo "PNB-FAIL: $1 ($2)"; }
# eq NAME GOT WANT: PASS when GOT = WANT.
eq() {
	if [ "$2" = "$3" ]; then
		pass "$1"
	else
		fail "$1" "got '$2', want '$3'"
	fi
}
drop() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}
now() {
	read -r up _ </proc/uptime
	echo "$up"
}
since() { echo "$1 $(now)" | awk '{printf "%.2f", $2 - $1}'; }

mkdir -p "$W" && cd "$W" || {
	fail "workdir" "cannot enter $W"
	exit 1
}

# write/read: a file written, caches dropped, read back from the server.
seq 1 20000 >seqfile
s1=$(md5sum <seqfile)
drop
eq "write-read" "$(md5sum <seqfile)" "$s1"
echo hello >app
echo world >>app
drop
eq "append" "$(cat app | tr '\n' ' ')" "hello world "
echo "PNB-INFO seqfile_md5=${s1%% *}"

# rename: plain, over an existing file, into another directory, a directory.
mv seqfile renamed
drop
[ ! -e seqfile ] && eq "rename" "$(md5sum <renamed)" "$s1" ||
	fail "rename" "old name still there"
echo one >r1
echo two >r2
mv r1 r2
drop
[ ! -e r1 ] && eq "rename-replace" "$(cat r2)" "one" ||
	fail "rename-replace" "r1 still there"
mkdir d1 d2
echo moved >d1/f
mv d1/f d2/g
mv d2 d3
drop
[ ! -e d1/f ] && [ ! -e d2 ] && eq "rename-across-dirs" "$(cat d3/g)" moved ||
	fail "rename-across-dirs" "source still there"

# link: a hard link shares the inode and survives removing the first name.
ln renamed hard
drop
eq "link-count" "$(stat -c %h renamed)" 2
eq "link-inode" "$(stat -c %i hard)" "$(stat -c %i renamed)"
rm renamed
drop
eq "link-survives-unlink" "$(stat -c %h hard) $(md5sum <hard)" "1 $s1"

# symlink: dangling, followed, long target; readlink and lstat.
ln -s does/not/exist dangling
ln -s hard follows
long=$(printf '%0200d' 0 | tr 0 x)
ln -s "$long/target" longlink
drop
eq "symlink-dangling" "$(readlink dangling)" does/not/exist
eq "symlink-follow" "$(md5sum <follows)" "$s1"
eq "symlink-long" "$(readlink longlink)" "$long/target"
eq "symlink-type" "$(stat -c %F follows)" "symbolic link"

# mknod: character and block devices (small and large numbers), a FIFO.
mknod cdev c 1 3
mknod bdev b 7 0
mknod bigdev c 240 300
mknod fifo p
drop
eq "mknod-char" "$(stat -c '%F %t %T' cdev)" "character special file 1 3"
eq "mknod-block" "$(stat -c '%F %t %T' bdev)" "block special file 7 0"
eq "mknod-large-numbers" "$(stat -c '%t %T' bigdev)" "f0 12c"
eq "mknod-fifo" "$(stat -c %F fifo)" "fifo"
# The node is opened on the client: this one is the guest's /dev/null.
echo x >cdev && eq "mknod-char-open" "$(head -c 4 cdev | wc -c)" 0

# chmod: special bits on files and directories.
: >modes
bad=
for m in 4755 2755 1777 6711 0600 0444 0000 7777; do
	chmod "$m" modes
	drop
	got=$(stat -c %a modes)
	[ "$got" = "$(echo "$m" | sed 's/^0*//;s/^$/0/')" ] || bad="$bad $m->$got"
done
[ -z "$bad" ] && pass "chmod-file" || fail "chmod-file" "mode mismatch:$bad"
mkdir sticky
chmod 1777 sticky
mkdir sgid
chmod 2775 sgid
drop
eq "chmod-dir" "$(stat -c %a sticky) $(stat -c %a sgid)" "1777 2775"

# chown: owners the server must store verbatim (root is not squashed).
: >owned
chown 1234:5678 owned
ln -s owned ownlink
chown -h 4321:8765 ownlink
drop
eq "chown" "$(stat -c '%u %g' owned)" "1234 5678"
eq "chown-symlink" "$(stat -c '%u %g' ownlink)" "4321 8765"

# Timestamps set by SETATTR.
: >stamped
touch -d '2001-02-03 04:05:06' stamped
drop
eq "utimes" "$(stat -c %Y stamped)" "$(date -d '2001-02-03 04:05:06' +%s)"

# truncate: grow (the new bytes read as zeros), shrink, to zero.
echo "hello world" >trunc
truncate -s 100000 trunc
drop
eq "truncate-grow" "$(stat -c %s trunc) $(tail -c 1000 trunc | tr -d '\0' |
	wc -c)" "100000 0"
truncate -s 5 trunc
drop
eq "truncate-shrink" "$(cat trunc)" hello
truncate -s 0 trunc
drop
eq "truncate-zero" "$(stat -c %s trunc)" 0

# Large file: 64 MiB of distinct chunks, read back after dropping caches.
mkdir -p /tmp/pnb && mount -t tmpfs tmpfs /tmp/pnb 2>/dev/null
dd if=/dev/urandom of=/tmp/pnb/blk bs=1M count=1 2>/dev/null
t0=$(now)
i=0
while [ $i -lt 64 ]; do
	echo "chunk $i"
	cat /tmp/pnb/blk
	i=$((i + 1))
done >big
sync
tw=$(since "$t0")
wsum=$(i=0
	while [ $i -lt 64 ]; do
		echo "chunk $i"
		cat /tmp/pnb/blk
		i=$((i + 1))
	done | md5sum)
drop
t0=$(now)
rsum=$(md5sum <big)
tr=$(since "$t0")
eq "large-file" "$(stat -c %s big) $rsum" \
	"$((64 * 1048576 + 64 * 8 + 54)) $wsum"
echo "PNB-INFO big_md5=${wsum%% *} big_write_s=$tw big_read_s=$tr"
umount /tmp/pnb 2>/dev/null

# Sparse file with data past 4 GiB (64-bit offsets).
printf 'Z' | dd of=sparse bs=1 seek=5000000000 conv=notrunc 2>/dev/null
drop
eq "sparse-past-4g" "$(stat -c %s sparse) $(tail -c 1 sparse)" "5000000001 Z"

# readdir: NFILES entries created through the client, listed again from
# the server, then a tenth of them removed.
mkdir many
t0=$(now)
i=0
while [ $i -lt "$NFILES" ]; do
	: >"many/f$i"
	i=$((i + 1))
done
tc=$(since "$t0")
drop
t0=$(now)
got=$(ls many | sort | md5sum)
tl=$(since "$t0")
want=$(seq 0 $((NFILES - 1)) | sed 's/^/f/' | sort | md5sum)
eq "readdir-$NFILES" "$(ls many | wc -l) $got" "$NFILES $want"
drop
eq "readdir-stat-$NFILES" "$(ls -l many | grep -c '^-rw')" "$NFILES"
t0=$(now)
i=$((NFILES - NFILES / 10))
while [ $i -lt "$NFILES" ]; do
	rm "many/f$i"
	i=$((i + 1))
done
tr=$(since "$t0")
drop
eq "remove-$((NFILES / 10))" "$(ls many | wc -l)" "$((NFILES - NFILES / 10))"
echo "PNB-INFO create_s=$tc list_s=$tl remove_s=$tr"

# Directories: rmdir of an empty and a non-empty one.
mkdir empty
rmdir empty && [ ! -e empty ] && pass "rmdir" || fail "rmdir" "still there"
if rmdir d3 2>/dev/null; then
	fail "rmdir-nonempty" "removed a non-empty directory"
else
	pass "rmdir-nonempty"
fi

# FSSTAT: the mount reports a size and free space.
eq "statfs" "$(stat -f -c '%b %a' . | awk '$1 > 0 && $2 > 0 {print "ok"}')" ok

# Files that were in the root before the boot (made by the host in
# /pnb/old-TAG): on a layered root each change is a copy-up, a whiteout
# or an opaque directory, and must read back as on any file system.
OLD=/pnb/old-$(basename "$W")
if [ -d "$OLD" ]; then
	ino=$(stat -c %i "$OLD/lnk")
	echo more >>"$OLD/append"
	chmod 600 "$OLD/mode"
	mv "$OLD/ren" "$OLD/ren2"
	ln "$OLD/lnk" "$OLD/lnk2"
	rm "$OLD/gone"
	: >"$OLD/trunc"
	rm -r "$OLD/dir"
	mkdir "$OLD/dir"
	printf XYZ | dd of="$OLD/big" bs=1 seek=4000000 conv=notrunc 2>/dev/null
	chown 1000:1000 "$OLD/owned"
	drop
	eq "old-append" "$(tr '\n' ' ' <"$OLD/append")" "old more "
	eq "old-chmod" "$(stat -c %a "$OLD/mode")" 600
	eq "old-rename" "$(ls "$OLD" | grep -c '^ren$') $(cat "$OLD/ren2")" "0 ren"
	eq "old-link" "$(stat -c '%h %i' "$OLD/lnk2")" "2 $ino"
	eq "old-link-same-inode" "$(stat -c '%h %i' "$OLD/lnk")" "2 $ino"
	eq "old-remove" "$(ls "$OLD" | grep -c '^gone$')" 0
	eq "old-truncate" "$(stat -c %s "$OLD/trunc")" 0
	eq "old-dir-again-empty" "$(ls -A "$OLD/dir" | wc -l)" 0
	eq "old-big-patched" "$(dd if="$OLD/big" bs=1 skip=4000000 count=3 \
		2>/dev/null) $(stat -c %s "$OLD/big")" "XYZ 8388608"
	eq "old-chown" "$(stat -c '%u:%g' "$OLD/owned")" 1000:1000
	echo "PNB-INFO old_big_md5=$(md5sum <"$OLD/big" | cut -d' ' -f1)"
fi
exit 0
