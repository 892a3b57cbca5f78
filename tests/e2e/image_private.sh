#!/usr/bin/env bash
# Local users of the server reach nothing under the state directory
# (issue 10, item 3).  A client root holds what its image and its Pi put
# there: setuid-root programs, device nodes open to everyone, and the
# first user's home owned by uid 1000, which on the server is somebody
# else.  After `image import` and `client add`, an unprivileged user
# (nobody, and uid 1000) tries to run, open and write them: refused.
# Directories an older version left open are closed by the next command
# and at server start, which logs it.
set -u
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/rpi_image.sh"
nn_init priv
W=$NN_TMP
S=$W/state
P=$PNB_BIN
# The state directory's parent is open to all, as /var/lib is: only the
# state directory's own modes may keep local users out.
chmod 755 "$W"

rpi_build_checked "$W"
t_check "image import" "$P" image import "$W/disk.img" --name os --state-dir "$S"
t_check "client add" "$P" client add pi1 --root copy --serial 9ffefdef --image os \
	--server 198.18.0.1 --state-dir "$S"
C=$S/clients/pi1/root
I=$S/images/os/v/1/root
t_check "the client root holds a setuid-root program" [ "$(stat -c %a:%u "$C/usr/bin/su")" = 4755:0 ]
t_check "and a character device open to all" [ "$(stat -c %a "$C/dev/null")" = 666 ]

for d in "$S" "$S/images" "$S/clients"; do
	t_check "${d#"$W"/} is mode 0700" [ "$(stat -c %a "$d")" = 700 ]
done

# as UID CMD...: run CMD as UID with no supplementary groups.
as() {
	local uid=$1
	shift
	# env, so that the exec itself happens as UID: setpriv resolves
	# its own program before it switches.
	setpriv --reuid="$uid" --regid="$uid" --clear-groups env -- "$@"
}
# refused NAME UID CMD...: CMD as UID must fail with "Permission denied".
refused() {
	local name=$1 uid=$2 out
	shift 2
	out=$(as "$uid" "$@" 2>&1)
	if [ $? -ne 0 ] && grep -q 'Permission denied' <<<"$out"; then
		t_pass "$name: refused"
	else
		t_fail "$name: refused" "got: $(head -c 200 <<<"$out")"
	fi
}
for tree in "$C" "$I"; do
	what=${tree#"$S"/}
	refused "nobody runs $what/usr/bin/su (setuid root)" 65534 "$tree/usr/bin/su" -c id
	refused "nobody finds $what/usr/bin/su" 65534 stat "$tree/usr/bin/su"
	refused "nobody opens $what/dev/null (mode 0666)" 65534 \
		sh -c 'exec 3<"$1"' sh "$tree/dev/null"
	refused "uid 1000 writes in $what/home/pi (owned by 1000 there)" 1000 \
		touch "$tree/home/pi/planted"
	refused "nobody lists $what/home/pi" 65534 ls "$tree/home/pi"
done
t_check "nothing planted" [ ! -e "$C/home/pi/planted" ]
refused "nobody lists the clients" 65534 ls "$S/clients"
refused "nobody lists the images" 65534 ls "$S/images"

# A state directory left open by an older version: the next command
# closes what it uses and says so.
chmod 755 "$S" "$S/clients" "$S/images"
"$P" client add pi2 --root copy --serial 1234abcd --image os --server 198.18.0.1 \
	--state-dir "$S" >"$W/out" 2>"$W/err"
t_check "client add on --root copy an open state directory succeeds" [ $? -eq 0 ]
t_check "client add says --root copy it tightened STATE and clients" \
	grep -q "^pinetboot client add: note: $S was mode 0755; $S/clients was mode 0755, now 0700" "$W/err"
t_check "STATE and clients are 0700 again" [ "$(stat -c %a "$S")$(stat -c %a "$S/clients")" = 700700 ]
xz -T1 -0 -c "$W/disk.img" >"$W/disk.img.xz"
"$P" image import "$W/disk.img.xz" --name os2 --state-dir "$S" >"$W/out" 2>"$W/err"
t_check "image import says it tightened images" \
	grep -q "^pinetboot image import: note: $S/images was mode 0755, now 0700" "$W/err"
t_check "images is 0700 again" [ "$(stat -c %a "$S/images")" = 700 ]

# And the server at start, with a log line for each.
chmod 755 "$S" "$S/clients" "$S/images"
srv=$(nn_ns srv)
ip -n "$srv" addr add 198.18.0.1/24 dev lo
nn_spawn "$srv" "$W/serve.log" "$P" serve --address 198.18.0.1 \
	--dhcp off --tftp off --nfs off --http 198.18.0.1:8080 --state-dir "$S"
pid=$NN_LAST_PID
for i in $(seq 50); do
	[ -S "$S/pinetboot.sock" ] && break
	sleep 0.1
done
for d in "$S" "$S/clients" "$S/images"; do
	t_check "serve logs that it tightened ${d#"$W"/}" \
		grep -q "event=state-dir-tightened path=$d mode=0755 now=0700" "$W/serve.log"
	t_check "${d#"$W"/} is 0700 after serve started" [ "$(stat -c %a "$d")" = 700 ]
done
refused "nobody reaches a client root while the server runs" 65534 stat "$C/usr/bin/su"
nn_stop "$pid"
t_done
