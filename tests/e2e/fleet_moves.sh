#!/usr/bin/env bash
# Moves between image versions (issue 12): client set, image rollout and
# image rollback record intent in client.conf for the daemon to carry
# out at each client's next boot, print conflicts first, and make the
# client's identity for the target version; image versions shows who
# uses, moves to or may roll back to each version, and a version in use
# cannot be removed; every error is clear and changes nothing.
set -u
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/rpi_image.sh"
nn_init fmov
W=$NN_TMP
S=$W/state
P=$PNB_BIN
EDIT=$PNB_TOOLS/layer_edit

rpi_build_checked "$W"
"$P" image import "$W/disk.img" --name os --state-dir "$S" >/dev/null 2>&1
# Version 2: a delta that adds /etc/motd, changes fstab and config.txt.
"$P" image update os --state-dir "$S" -- sh -c \
	'echo v2 >/etc/motd; echo "# v2" >>/etc/fstab; echo "# v2" >>/boot/firmware/config.txt' \
	>/dev/null 2>&1
t_check "version 2 is a delta" grep -qx 'kind = delta' "$S/images/os/v/2/version.conf"
add() {
	"$P" client add "$@" --server 198.18.0.1 --state-dir "$S" >/dev/null 2>&1
}
add a1 --serial 11111111 --image os@1
add a2 --serial 22222222 --image os@1
add a3 --serial 33333333 --image os@1 --root volatile
add c1 --serial 44444444 --image os@1 --root copy
add n2 --serial 55555555 --image os@2
t_check "five clients" [ "$(ls "$S/clients" | wc -l)" = 5 ]
# a1 changes fstab (as version 2 does), a2 makes /etc/motd (as well).
"$EDIT" "$S" a1 append /etc/fstab "tmpfs /mnt tmpfs 0 0
"
"$EDIT" "$S" a2 create /etc/motd "a2's own
" -- create /home/pi/a2 "x"
rec() { cat "$S/clients/$1/client.conf"; }
snap() { for c in a1 a2 a3 c1 n2; do rec $c; done | grep -v '^#' | md5sum; }

"$P" image versions os --state-dir "$S" >"$W/out"
cat "$W/out"
t_check "versions: who uses version 1" grep -qE '^1 .* (a1|a2|a3|c1)(,(a1|a2|a3|c1)){3} ' "$W/out"
t_check "versions: who uses version 2" grep -qE '^2 .* n2 ' "$W/out"

# --- errors first: none changes a record --------------------------------
before=$(snap)
err() { "$P" "$@" --state-dir "$S" >"$W/err" 2>&1; echo $?; }
t_check "set needs NAME@VERSION" [ "$(err client set a1 --image os)" -eq 2 ]
t_check "set of an unknown client" sh -c "[ $(err client set nope --image os@2) -eq 1 ] && grep -q \"no client named 'nope'\" '$W/err'"
t_check "set to an unknown version" sh -c "[ $(err client set a1 --image os@9) -eq 1 ] && grep -q \"image 'os' has no version 9\" '$W/err'"
t_check "set to an unknown image" sh -c "[ $(err client set a1 --image nope@1) -eq 1 ] && grep -q \"no image named 'nope'\" '$W/err'"
t_check "set of a copy client" sh -c "[ $(err client set c1 --image os@2) -eq 1 ] && grep -q 'has a copy of its root' '$W/err'"
t_check "set of a good and a copy client changes neither" sh -c "[ $(err client set a1 c1 --image os@2) -eq 1 ] && ! grep -q next_version '$S/clients/a1/client.conf'"
"$P" image import "$W/disk.img" --name other --state-dir "$S" >/dev/null 2>&1
t_check "set to another image's version" sh -c "[ $(err client set a1 --image other@1) -eq 1 ] && grep -q \"uses image 'os': a move changes its version, not its image\" '$W/err'"
t_check "rollout of an unknown version" sh -c "[ $(err image rollout os@9) -eq 1 ] && grep -q \"image 'os' has no version 9\" '$W/err'"
t_check "rollout of an image no client uses" sh -c "[ $(err image rollout other@1) -eq 1 ] && grep -q 'no client uses the image' '$W/err'"
t_check "rollout with more canaries than clients" sh -c "[ $(err image rollout os@2 --canary 4) -eq 1 ] && grep -q -- '--canary 4, but only 3 clients would move' '$W/err'"
t_check "rollout --health-timeout 0" [ "$(err image rollout os@2 --health-timeout 0)" -eq 2 ]
t_check "rollout --canary -1" [ "$(err image rollout os@2 --canary -1)" -eq 2 ]
t_check "--canary for another subcommand" [ "$(err image versions os --canary 1)" -eq 2 ]
t_check "rollback of an image no client uses" sh -c "[ $(err image rollback other) -eq 1 ] && grep -q \"no client uses image 'other'\" '$W/err'"
t_check "the errors changed no record" [ "$(snap)" = "$before" ]

# --- client set ----------------------------------------------------------
"$P" client set a3 --image os@2 --state-dir "$S" >"$W/out" 2>&1
rc=$?
cat "$W/out"
t_check "set exits 0" [ "$rc" -eq 0 ]
t_check "set says when" grep -q "Client 'a3' moves from version 1 to 2 at its next boot" "$W/out"
t_check "set: next_version = 2" grep -qx 'next_version = 2' "$S/clients/a3/client.conf"
t_check "set: version stays 1 (the daemon moves it)" grep -qx 'version = 1' "$S/clients/a3/client.conf"
t_check "set: move_requested" grep -q '^move_requested = 20' "$S/clients/a3/client.conf"
I2=$S/clients/a3/identity/v/2
t_check "set: identity made for version 2" sh -c "[ -d '$I2/root' ] && [ -d '$I2/boot' ]"
t_check "identity for 2: version 2's fstab, edited" sh -c "grep -qx '# v2' '$I2/root/etc/fstab' && ! grep -q PARTUUID '$I2/root/etc/fstab' && grep -q '198.18.0.1:.*/clients/a3/boot /boot/firmware nfs' '$I2/root/etc/fstab'"
t_check "identity for 2: the same machine-id" cmp -s "$I2/root/etc/machine-id" "$S/clients/a3/identity/v/1/root/etc/machine-id"
t_check "identity for 2: the same hostname" cmp -s "$I2/root/etc/hostname" "$S/clients/a3/identity/v/1/root/etc/hostname"
"$P" image versions os --state-dir "$S" >"$W/out"
t_check "versions: a3 moving to 2" grep -qE '^2 .*a3\(moving here\)' "$W/out"
t_check "a version a client moves to cannot be removed" sh -c "[ $(err image remove os@2) -eq 1 ] && grep -q 'a3 (moves to it)' '$W/err'"
t_check "a version in use cannot be removed" sh -c "[ $(err image remove os@1) -eq 1 ] && grep -q 'a1 (uses it)' '$W/err'"
"$P" client set a3 --image os@1 --state-dir "$S" >"$W/out" 2>&1
t_check "set back to its version cancels the move" grep -q "Client 'a3' stays on version 1 (its pending move was cancelled)" "$W/out"
t_check "no next_version left" sh -c "! grep -q '^next_version' '$S/clients/a3/client.conf'"
t_check "the unused identity goes" [ ! -e "$I2" ]

# --- image rollout -------------------------------------------------------
"$P" image rollout os@2 --canary 1 --health-timeout 120 --state-dir "$S" >"$W/out" 2>&1
rc=$?
cat "$W/out"
t_check "rollout exits 0" [ "$rc" -eq 0 ]
t_check "rollout: the copy client is not moved" grep -q 'c1: a copy of its root' "$W/out"
t_check "rollout: n2 is there already" grep -q 'n2: already on version 2' "$W/out"
t_check "rollout prints a1's conflict" grep -q 'M /etc/fstab  (version 2 changed /etc/fstab' "$W/out"
t_check "rollout prints a2's conflict" grep -q 'A /etc/motd  (version 2 changed /etc/motd' "$W/out"
t_check "rollout: a3 has none" grep -q 'a3: 1 -> 2, 0 changes of its own, 0 conflicts' "$W/out"
t_check "rollout: the plan" grep -q '3 clients move to version 2 (2 conflicts): canary a1 at' "$W/out"
t_check "conflicts are printed before the plan" [ "$(grep -n 'a1: 1 -> 2' "$W/out" | cut -d: -f1)" -lt "$(grep -n '^Rollout ' "$W/out" | cut -d: -f1)" ]
id=$(sed -n 's/^rollout = //p' "$S/clients/a1/client.conf")
t_check "rollout id" [ -n "$id" ]
t_check "a1 is the canary" grep -qx 'rollout_role = canary' "$S/clients/a1/client.conf"
for c in a2 a3; do
	t_check "$c follows" grep -qx 'rollout_role = follower' "$S/clients/$c/client.conf"
	t_check "$c: the same rollout" grep -qx "rollout = $id" "$S/clients/$c/client.conf"
done
for c in a1 a2 a3; do
	t_check "$c: next_version, health timeout, identity" sh -c "grep -qx 'next_version = 2' '$S/clients/$c/client.conf' && grep -qx 'health_timeout = 120' '$S/clients/$c/client.conf' && [ -d '$S/clients/$c/identity/v/2/root' ]"
done
t_check "the copy client's record is untouched" sh -c "! grep -q next_version '$S/clients/c1/client.conf'"
"$P" client diff a1 --state-dir "$S" >"$W/out"
t_check "client diff shows the conflict with the pending move" grep -q 'M /etc/fstab  CONFLICT: version 2 changed /etc/fstab' "$W/out"
"$P" client list --state-dir "$S" >"$W/out"
t_check "client list shows the pending move" grep -qE '^a1 .* layered +os@1 +2 ' "$W/out"
"$P" status --state-dir "$S" >"$W/out" 2>/dev/null
t_check "status (no server) shows the fleet from the records" grep -qE '^a2 +layered +os@1 +2 +- +follower ' "$W/out"

# --- image rollback ------------------------------------------------------
"$P" image rollback os --state-dir "$S" >"$W/out" 2>&1
cat "$W/out"
t_check "rollback cancels moves not made yet" grep -q 'a1: stays on version 1 (its move to 2 is cancelled)' "$W/out"
for c in a1 a2 a3; do
	t_check "$c: no move, no rollout" sh -c "! grep -qE '^(next_version|rollout|rollout_role) ' '$S/clients/$c/client.conf'"
done
# The daemon moved a2 at its boot (version 2, previous 1), as it will.
sed -i 's/^version = 1$/version = 2/' "$S/clients/a2/client.conf"
echo "previous_version = 1" >>"$S/clients/a2/client.conf"
cp -a "$S/clients/a2/identity/v/1" "$W/id1"
"$P" client set a2 --image os@2 --state-dir "$S" >/dev/null 2>&1
"$P" image rollback os --state-dir "$S" >"$W/out" 2>&1
t_check "rollback of a moved client" grep -q 'a2: back from version 2 to 1 at its next boot' "$W/out"
t_check "rollback: next_version = previous" grep -qx 'next_version = 1' "$S/clients/a2/client.conf"
t_check "rollback: the reason" grep -qx 'rollback_reason = pinetboot image rollback' "$S/clients/a2/client.conf"
t_check "rollback: no previous version to go to" grep -q 'n2: on version 2, with no previous version' "$W/out"
t_check "a version a client may roll back to cannot be removed" sh -c "[ $(err image remove os@1) -eq 1 ] && grep -q 'a2 (moves to it)' '$W/err'"

# --- removing versions ---------------------------------------------------
"$P" image import "$W/disk.img" --name dd --state-dir "$S" >/dev/null 2>&1
"$P" image update dd --state-dir "$S" -- sh -c 'echo d > /etc/d' >/dev/null 2>&1
t_check "a version a delta needs cannot be removed" sh -c "[ $(err image remove dd@1) -eq 1 ] && grep -q 'version 2 of image .dd. is a delta over version 1' '$W/err'"
t_check "a free version is removed" sh -c "[ $(err image remove dd@2) -eq 0 ] && [ ! -e '$S/images/dd/v/2' ]"
t_check "the only version is not" sh -c "[ $(err image remove dd@1) -eq 1 ] && grep -q 'the only version' '$W/err'"
t_check "a version that is not there" sh -c "[ $(err image remove dd@5) -eq 1 ] && grep -q \"image 'dd' has no version 5\" '$W/err'"
t_done
