#!/usr/bin/env bash
# Layered clients from a Raspberry Pi OS-shaped image (issue 12): client
# add --root layered, volatile and copy; the layout and identity the
# layer starts with; changes made through the layer library as the NFS
# server makes them for a Pi (tests/tools/layer_edit); client diff,
# promote and reset, each checked on real bytes against the image's own
# source tree with treecmp; and their errors.
set -u
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/rpi_image.sh"
nn_init flay
W=$NN_TMP
S=$W/state
P=$PNB_BIN
CMP=$PNB_TOOLS/treecmp
EDIT=$PNB_TOOLS/layer_edit

rpi_build_checked "$W"
"$P" image import "$W/disk.img" --name os --state-dir "$S" >/dev/null 2>&1
t_check "image imported" [ -d "$S/images/os/v/1/root" ]
V=$S/images/os/v/1

# --- client add: three root modes ------------------------------------------
echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2eTestKeyForPinetboot test@host" >"$W/key.pub"
add() {
	"$P" client add "$@" --server 198.18.0.1 --ssh --ssh-key "$W/key.pub" \
		--user pi:'$6$salt$hash' --state-dir "$S"
}
add l1 --serial 11111111 --image os >"$W/out" 2>&1
rc=$?
cat "$W/out"
t_check "add --root layered (the default) exits 0" [ "$rc" -eq 0 ]
t_check "add says it made a layer" grep -q "a layered root over version 1 of image 'os'" "$W/out"
L=$S/clients/l1
t_check "layer/{root,boot} and index/{root,boot}" sh -c "[ -d '$L/layer/root' ] && [ -d '$L/layer/boot' ] && [ -d '$L/layer/index/root' ] && [ -d '$L/layer/index/boot' ]"
t_check "indexes are private (0700)" [ "$(stat -c %a "$L/layer/index/root")" = 700 ]
t_check "no trees of its own" sh -c "[ ! -e '$L/root' ] && [ ! -e '$L/boot' ]"
t_check "identity kept for version 1" sh -c "[ -d '$L/identity/v/1/root' ] && [ -d '$L/identity/v/1/boot' ]"
t_check "record: root_mode = layered" grep -qx 'root_mode = layered' "$L/client.conf"
t_check "record: version = 1" grep -qx 'version = 1' "$L/client.conf"
t_check "record: export names as before" grep -qx "root_dir = $(realpath "$S")/clients/l1/root" "$L/client.conf"
kib=$(du -sk "$L" | cut -f1)
t_check "a layered client costs under 1 MiB of disk ($kib KiB)" [ "$kib" -lt 1024 ]
add v1 --serial 22222222 --image os@1 --root volatile >/dev/null 2>&1
t_check "add --root volatile" grep -qx 'root_mode = volatile' "$S/clients/v1/client.conf"
add c1 --serial 33333333 --image os --root copy >/dev/null 2>&1
t_check "add --root copy keeps full trees" sh -c "[ -f '$S/clients/c1/root/usr/bin/busybox' ] && grep -qx 'root_mode = copy' '$S/clients/c1/client.conf'"

# The same edits as a copy client gets, in the layer (names aside).
for f in root/etc/fstab root/etc/hostname root/etc/hosts boot/cmdline.txt \
	boot/ssh boot/userconf.txt root/root/.ssh/authorized_keys \
	root/home/pi/.ssh/authorized_keys \
	root/etc/NetworkManager/conf.d/90-pinetboot-nfsroot.conf; do
	sed 's/l1/NAME/g; s/c1/NAME/g' "$L/layer/$f" >"$W/a" 2>/dev/null
	sed 's/l1/NAME/g; s/c1/NAME/g' "$S/clients/c1/$f" >"$W/b" 2>/dev/null
	t_check "identity edit $f as a copy client's" cmp -s "$W/a" "$W/b"
done
t_check "hostname" [ "$(cat "$L/layer/root/etc/hostname")" = l1 ]
t_check "owner of the user's keys" [ "$(stat -c %u:%g "$L/layer/root/home/pi/.ssh/authorized_keys")" = 1000:1000 ]
t_check "own machine-id" sh -c "[ \"\$(cat '$L/layer/root/etc/machine-id')\" != \"\$(cat '$S/clients/c1/root/etc/machine-id')\" ] && grep -qE '^[0-9a-f]{32}\$' '$L/layer/root/etc/machine-id'"
t_check "SSH host keys whited out (0/0 device)" [ "$(stat -c %F:%t:%T "$L/layer/root/etc/ssh/ssh_host_ed25519_key")" = "character special file:0:0" ]
t_check "resize service masked" [ "$(readlink "$L/layer/root/etc/systemd/system/resize2fs_once.service")" = /dev/null ]
t_check "its wants link whited out" [ "$(stat -c %t:%T "$L/layer/root/etc/systemd/system/multi-user.target.wants/resize2fs_once.service")" = 0:0 ]
t_check "nothing of the version copied into the index" [ -z "$(find "$L/layer/index" -type f -size +0)" ]
t_check "identity is the layer as made" sh -c "diff -r --no-dereference '$L/layer/root' '$L/identity/v/1/root' >/dev/null"

# client diff right after add: identity only.
"$P" client diff l1 --state-dir "$S" >"$W/diff" 2>&1
t_check "diff of a new client: no changes of its own" grep -q '^0 added, 0 modified, 0 deleted; [0-9]* identity files$' "$W/diff"
t_check "diff lists identity files as such" grep -q '^M /etc/hostname  (identity, as client add made it)' "$W/diff"
t_check "boot paths as the client sees them" grep -q '^M /boot/firmware/cmdline.txt  (identity' "$W/diff"

# Promoted right away: the version exactly (identity is the client's;
# directory times are what the Pi sees: the identity edits changed some).
"$P" client promote l1 --image fresh --state-dir "$S" >"$W/out" 2>&1
t_check "promote of a new client exits 0" grep -q "version 1 of the new image 'fresh'" "$W/out"
"$CMP" -S -D -x lost+found "$W/src-root" "$S/images/fresh/v/1/root" >"$W/cmp" 2>&1
t_check "its root is the image's, byte for byte ($(tail -1 "$W/cmp"))" grep -qx '0 differences' "$W/cmp"
grep DIFF "$W/cmp" | head
"$CMP" -F "$W/src-boot" "$S/images/fresh/v/1/boot" >"$W/cmp" 2>&1
t_check "its boot files are the image's ($(tail -1 "$W/cmp"))" grep -qx '0 differences' "$W/cmp"
t_check "version files are shared, not copied" [ "$(stat -c %i "$V/root/usr/bin/busybox")" = "$(stat -c %i "$S/images/fresh/v/1/root/usr/bin/busybox")" ]
t_check "promoted version says where it came from" grep -qx 'promoted_from = l1 (os@1)' "$S/images/fresh/v/1/version.conf"

# --- changes, made through the layer library as for a Pi's NFS calls -------
"$EDIT" "$S" l1 write /etc/hosts "127.0.0.1 localhost pi-changed
" -- append /etc/tiny.conf "more
" -- create /home/pi/new.txt "hello
" -- rm /home/pi/notes.txt -- mkdir /opt/app -- create /opt/app/run "run
" -- symlink /opt/app/link run -- rename /etc/one-byte /etc/one-byte.moved \
	-- chmod /usr/bin/su 0755 -- touchw /var/lib/sparse.img \
	-- write boot:/config.txt "arm_64bit=1
"
t_check "the client's changes were made" [ $? -eq 0 ]
"$P" client diff l1 --state-dir "$S" >"$W/diff" 2>&1
grep -v identity "$W/diff" >"$W/own"
cat "$W/own"
cat >"$W/want" <<'EOF'
M /boot/firmware/config.txt
M /etc/hosts
D /etc/one-byte
A /etc/one-byte.moved
M /etc/tiny.conf
A /home/pi/new.txt
D /home/pi/notes.txt
A /opt/app/
A /opt/app/link
A /opt/app/run
M /usr/bin/su
EOF
t_check "diff lists exactly the client's changes" diff <(grep -v '^Client\|added,' "$W/own") "$W/want"
t_check "diff summary" grep -q '^5 added, 4 modified, 2 deleted; ' "$W/diff"
t_check "a file opened for writing but unchanged is no change" sh -c "! grep -q sparse.img '$W/diff'"

# Promote: the merged tree as a new image, checked against the source
# tree with the same changes made by hand.
"$P" client promote l1 --image golden --state-dir "$S" >"$W/out" 2>&1
t_check "promote exits 0" [ $? -eq 0 ]
cat "$W/out"
G=$S/images/golden/v/1
rm -rf "$W/exp" && cp -a "$W/src-root" "$W/exp"
printf '127.0.0.1 localhost pi-changed\n' >"$W/exp/etc/hosts"
printf 'more\n' >>"$W/exp/etc/tiny.conf"
rm "$W/exp/home/pi/notes.txt"
mv "$W/exp/etc/one-byte" "$W/exp/etc/one-byte.moved"
chmod 0755 "$W/exp/usr/bin/su"
"$CMP" -S -D -x lost+found -x etc/hosts -x etc/tiny.conf -x home/pi/new.txt \
	-x opt/app "$W/exp" "$G/root" >"$W/cmp" 2>&1
t_check "promoted root: everything else as the image had it ($(tail -1 "$W/cmp"))" grep -qx '0 differences' "$W/cmp"
grep DIFF "$W/cmp" | head
t_check "promoted: the client's hosts" [ "$(cat "$G/root/etc/hosts")" = "127.0.0.1 localhost pi-changed" ]
t_check "promoted: appended file" [ "$(cat "$G/root/etc/tiny.conf")" = "$(printf 'tiny\nmore')" ]
t_check "promoted: new file, its owner" sh -c "[ \"\$(cat '$G/root/home/pi/new.txt')\" = hello ] && [ \"\$(stat -c %u '$G/root/home/pi/new.txt')\" = 0 ]"
t_check "promoted: new directory and symlink" [ "$(readlink "$G/root/opt/app/link")" = run ]
t_check "promoted: setuid gone from su" [ "$(stat -c %a "$G/root/usr/bin/su")" = 755 ]
t_check "promoted: hostname is the version's, not l1's" [ "$(cat "$G/root/etc/hostname")" = raspberrypi ]
t_check "promoted: host keys back" [ -f "$G/root/etc/ssh/ssh_host_ed25519_key" ]
t_check "promoted: cmdline.txt is the version's" cmp -s "$V/boot/cmdline.txt" "$G/boot/cmdline.txt"
t_check "promoted: the client's config.txt" [ "$(cat "$G/boot/config.txt")" = arm_64bit=1 ]
t_check "promoted: unchanged files shared with the version" [ "$(stat -c %i "$V/root/usr/bin/ping")" = "$(stat -c %i "$G/root/usr/bin/ping")" ]
t_check "promoted: changed files are copies" [ "$(stat -c %i "$L/layer/root/etc/hosts")" != "$(stat -c %i "$G/root/etc/hosts")" ]
# A client added from the promoted image runs; promote again: version 2.
add g1 --serial 44444444 --image golden >/dev/null 2>&1
t_check "a client from the promoted image" grep -qx 'image = golden' "$S/clients/g1/client.conf"
"$P" client promote l1 --image golden --state-dir "$S" >"$W/out" 2>&1
t_check "promote into an existing image makes its next version" grep -q "version 2 of  image 'golden'\|version 2 of image 'golden'" "$W/out"

# --- reset ------------------------------------------------------------------
before=$(stat -c %i "$L/layer")
"$P" client reset l1 --keep /home/pi --keep /boot/firmware/config.txt --state-dir "$S" >"$W/out" 2>&1
rc=$?
cat "$W/out"
t_check "reset exits 0" [ "$rc" -eq 0 ]
t_check "a new layer directory" [ "$(stat -c %i "$L/layer")" != "$before" ]
"$P" client diff l1 --state-dir "$S" | grep -v identity >"$W/own"
cat >"$W/want" <<'EOF'
M /boot/firmware/config.txt
A /home/pi/new.txt
D /home/pi/notes.txt
EOF
t_check "after reset: only the kept paths differ" diff <(grep -v '^Client\|added,' "$W/own") "$W/want"
t_check "reset: identity files back" cmp -s "$L/identity/v/1/root/etc/hosts" "$L/layer/root/etc/hosts"
t_check "reset: record says when" grep -q '^reset_at = ' "$L/client.conf"
t_check "reset: no temporary left" [ -z "$(ls -A "$L" | grep '^\.tmp')" ]
"$P" client promote l1 --image after --state-dir "$S" >/dev/null 2>&1
rm -rf "$W/exp" && cp -a "$W/src-root" "$W/exp" && rm "$W/exp/home/pi/notes.txt"
"$CMP" -S -D -x lost+found -x home/pi/new.txt "$W/exp" "$S/images/after/v/1/root" >"$W/cmp" 2>&1
t_check "after reset, on real bytes: the image plus the kept path ($(tail -1 "$W/cmp"))" grep -qx '0 differences' "$W/cmp"
grep DIFF "$W/cmp" | head
"$P" client reset l1 --state-dir "$S" >/dev/null 2>&1
"$P" client diff l1 --state-dir "$S" >"$W/diff"
t_check "reset without --keep: nothing of its own left" grep -q '^0 added, 0 modified, 0 deleted' "$W/diff"
"$P" client reset v1 --state-dir "$S" >/dev/null 2>&1
t_check "a volatile client resets too" [ $? -eq 0 ]

# --- errors ------------------------------------------------------------------
err() { "$P" "$@" --state-dir "$S" >"$W/err" 2>&1; echo $?; }
t_check "diff of an unknown client" sh -c "[ $(err client diff nope) -eq 1 ] && grep -q \"no client named 'nope'\" '$W/err'"
t_check "diff of a copy client" sh -c "[ $(err client diff c1) -eq 1 ] && grep -q 'works on layered and volatile' '$W/err'"
t_check "reset of a copy client" sh -c "[ $(err client reset c1) -eq 1 ] && grep -q 'has a copy of its root' '$W/err'"
t_check "reset --keep of a relative path" sh -c "[ $(err client reset l1 --keep home/pi) -eq 1 ] && grep -q 'give an absolute path' '$W/err'"
t_check "reset --keep with .." sh -c "[ $(err client reset l1 --keep /home/../etc) -eq 1 ]"
t_check "promote to a bad image name" sh -c "[ $(err client promote l1 --image Bad/Name) -eq 1 ] && grep -q 'not a valid image name' '$W/err'"
t_check "promote without --image" [ "$(err client promote l1)" -eq 2 ]
t_check "add from an unknown version" sh -c "[ $(err client add x9 --serial 99999999 --image os@7) -eq 1 ] && grep -q \"image 'os' has no version 7\" '$W/err'"
t_check "add with a bad root mode" sh -c "[ $(err client add x9 --serial 99999999 --image os --root overlay) -eq 1 ] && grep -q 'layered, volatile or copy' '$W/err'"
t_check "an option of another subcommand" [ "$(err client diff l1 --keep /x)" -eq 2 ]
t_check "client list: root mode and image@version" sh -c "'$P' client list --state-dir '$S' | grep -qE '^l1 .* layered +os@1 '"
t_check "client show: the layered client's cmdline" sh -c "'$P' client show l1 --state-dir '$S' | grep -q 'nfsroot=198.18.0.1:.*/clients/l1/root'"
"$P" client remove l1 --yes --state-dir "$S" >/dev/null 2>&1
t_check "remove a layered client" [ ! -e "$L" ]
t_done
