#!/usr/bin/env bash
# Images as lists of versions: importing twice makes v1 and v2; an image
# carrying overlay markers (user.overlay.*, trusted.overlay.* attributes,
# a 0/0 character device) is imported without them and with a warning;
# an image stored before versions (STATE/images/NAME/{boot,root,
# image.conf}) reads as version 1 and moves to v/1 at the next command
# that writes to it, also after a move that stopped half-way, while a
# client made from it (--root copy) keeps its own trees untouched;
# `image versions` output; image remove still refuses while clients use
# the image.
set -u
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/rpi_image.sh"
nn_init imgver
W=$NN_TMP
S=$W/state
P=$PNB_BIN

# Markers an image must not carry into the layer stack.
rpi_extra_root() {
	mkdir -p "$1/srv/opaque" "$1/srv/plain"
	echo keep >"$1/srv/opaque/file"
	setfattr -n user.overlay.opaque -v y "$1/srv/opaque"
	setfattr -n trusted.overlay.redirect -v /elsewhere "$1/srv/plain"
	setfattr -n user.overlay.origin -v x "$1/srv/opaque/file"
	setfattr -n user.kept -v yes "$1/srv/opaque/file"
	mknod "$1/srv/whiteout" c 0 0
}
rpi_build_checked "$W"
ROOTFS="$W/disk.img?offset=$((90112 * 512))"
t_check "the crafted image carries user.overlay.opaque" sh -c "debugfs -R 'ea_list /srv/opaque' '$ROOTFS' 2>/dev/null | grep -q 'user.overlay.opaque'"
t_check "the crafted image carries a 0/0 device" sh -c "debugfs -R 'stat /srv/whiteout' '$ROOTFS' 2>/dev/null | grep -q 'Device major/minor number: 00:00'"

"$P" image import "$W/disk.img" --name os --state-dir "$S" >"$W/out" 2>"$W/err"
rc=$?
t_check "import exits 0" [ "$rc" -eq 0 ]
t_check "import warns about the markers" grep -q 'warning: left out 4 overlay markers' "$W/err"
grep warning "$W/err"
R=$S/images/os/v/1/root
t_check "version 1 under v/1" [ -d "$R" ] && [ -d "$S/images/os/v/1/boot" ]
t_check "0/0 device left out" [ ! -e "$R/srv/whiteout" ]
t_check "user.overlay.opaque left out" sh -c "! getfattr -h -n user.overlay.opaque '$R/srv/opaque' >/dev/null 2>&1"
t_check "trusted.overlay.redirect left out" sh -c "! getfattr -h -n trusted.overlay.redirect '$R/srv/plain' >/dev/null 2>&1"
t_check "user.overlay.origin left out" sh -c "! getfattr -h -n user.overlay.origin '$R/srv/opaque/file' >/dev/null 2>&1"
t_check "other attributes kept" sh -c "getfattr -h -n user.kept --only-values '$R/srv/opaque/file' | grep -qx yes"
t_check "the opaque directory's content kept" [ "$(cat "$R/srv/opaque/file")" = keep ]
t_check "image.conf is the image record" sh -c "grep -qx 'name = os' '$S/images/os/image.conf' && ! grep -q '^os = ' '$S/images/os/image.conf'"

"$P" image import "$W/disk.img" --name os --state-dir "$S" >"$W/out" 2>&1
t_check "second import makes version 2" grep -q "as version 2 of image 'os'" "$W/out"
t_check "version 2 is a base" grep -qx 'kind = base' "$S/images/os/v/2/version.conf"
"$P" client add c1 --root copy --serial 11111111 --image os --server 198.18.0.1 --state-dir "$S" >/dev/null 2>&1
"$P" image versions os --state-dir "$S" >"$W/versions"
cat "$W/versions"
t_check "versions lists two bases" sh -c "grep -qE '^1 +base +- ' '$W/versions' && grep -qE '^2 +base +- ' '$W/versions'"
t_check "versions names the import" grep -qE "^1 .*import of $W/disk.img" "$W/versions"
t_check "versions: the client uses the newest" grep -qE '^2 .* c1 ' "$W/versions"
t_check "versions: processor" grep -qE '^1 .* amd64 ' "$W/versions"
"$P" image versions nope --state-dir "$S" >"$W/out" 2>&1
rc=$?
t_check "versions of an unknown image fails clearly" [ "$rc" -eq 1 ] && grep -q "no image named 'nope'" "$W/out"
"$P" image remove os --state-dir "$S" >"$W/out" 2>&1
rc=$?
t_check "image remove refused while a client uses it" [ "$rc" -ne 0 ] && grep -q 'used by client(s) c1' "$W/out"

# An image and a client from before versions, made by hand the way the
# earlier layout had them.
L=$S/images/old
"$P" image import "$W/disk.img" --name old --state-dir "$S" >/dev/null 2>&1
mv "$L/v/1/boot" "$L/boot"
mv "$L/v/1/root" "$L/root"
sed -e 's/^created = /imported = /' -e '/^version = /d' -e '/^kind = /d' \
	-e '/^parent = /d' -e '/^flattened = /d' -e '/^command = /d' \
	-e '/^arch = /d' -e 's/^# .*/# pinetboot image record/' \
	"$L/v/1/version.conf" >"$L/image.conf"
sed -i '1a name = old' "$L/image.conf"
rm -rf "$L/v"
"$P" client add oldc --root copy --serial 33333333 --image old --server 198.18.0.1 --state-dir "$S" >/dev/null 2>&1
sed -i '/^version = /d' "$S/clients/oldc/client.conf"
rm -rf "$S/clients/oldc/root" "$S/clients/oldc/boot"
cp -a "$L/root" "$S/clients/oldc/root"
cp -a "$L/boot" "$S/clients/oldc/boot"
(cd "$S/clients/oldc" && find . -printf '%p %i %s %T@\n' | sort) >"$W/client.before"
t_check "legacy layout prepared" [ -d "$L/root" ] && [ ! -e "$L/v" ]

"$P" image versions old --state-dir "$S" >"$W/versions"
cat "$W/versions"
t_check "legacy image reads as version 1" grep -qE '^1 +base +- .* oldc ' "$W/versions"
t_check "legacy image: versions says where it is stored" grep -q 'stored before versions' "$W/versions"
t_check "reading does not move it" [ -d "$L/root" ] && [ ! -e "$L/v" ]
"$P" image list --state-dir "$S" >"$W/list"
t_check "image list shows the legacy image" grep -qE '^old +1 +Debian' "$W/list"

"$P" image import "$W/disk.img" --name old --state-dir "$S" >"$W/out" 2>&1
t_check "the next import moves it to v/1 and makes v/2" sh -c "[ -d '$L/v/1/root' ] && [ -d '$L/v/1/boot' ] && [ -d '$L/v/2/root' ] && [ ! -e '$L/root' ] && [ ! -e '$L/boot' ] && [ ! -e '$L/v.mig' ]"
t_check "v/1 got a version.conf from image.conf" sh -c "grep -qx 'version = 1' '$L/v/1/version.conf' && grep -qx 'kind = base' '$L/v/1/version.conf' && grep -q '^source = ' '$L/v/1/version.conf'"
t_check "image.conf became the image record" grep -qx 'name = old' "$L/image.conf"
(cd "$S/clients/oldc" && find . -printf '%p %i %s %T@\n' | sort) >"$W/client.after"
t_check "the legacy client's trees are untouched" cmp -s "$W/client.before" "$W/client.after"
"$P" image versions old --state-dir "$S" >"$W/versions"
t_check "the legacy client still uses version 1" grep -qE '^1 +base .* oldc ' "$W/versions"
"$P" client list --state-dir "$S" >"$W/list"
t_check "client list shows old@1" grep -qE '^oldc .* old@1 ' "$W/list"

# A move that stopped half-way: the boot tree already in v.mig/1.
H=$S/images/half
"$P" image import "$W/disk.img" --name half --state-dir "$S" >/dev/null 2>&1
cp "$H/v/1/version.conf" "$W/half.conf"
mv "$H/v/1/root" "$H/root"
mkdir -p "$H/v.mig/1"
mv "$H/v/1/boot" "$H/v.mig/1/boot"
sed -e 's/^created = /imported = /' "$W/half.conf" >"$H/image.conf"
rm -rf "$H/v"
"$P" image versions half --state-dir "$S" >"$W/versions" 2>&1
t_check "half-moved image reads as version 1" grep -qE '^1 +base' "$W/versions"
"$P" image update half --state-dir "$S" -- sh -c 'echo h > /etc/h' >/dev/null 2>&1
t_check "the next writer finishes the move" sh -c "[ -d '$H/v/1/root' ] && [ -d '$H/v/1/boot' ] && [ ! -e '$H/v.mig' ] && [ ! -e '$H/root' ]"
t_check "and makes its version 2" [ "$(cat "$H/v/2/root/etc/h" 2>/dev/null)" = h ]
t_check "nothing of v/1 was lost" sh -c "[ -f '$H/v/1/boot/cmdline.txt' ] && [ -f '$H/v/1/root/usr/bin/busybox' ]"
t_done
