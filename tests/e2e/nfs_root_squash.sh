#!/usr/bin/env bash
# Hostile: AUTH_SYS ids that must never act as root.  A second host on the
# subnet (root there, so from a reserved port) calls an rw,root_squash
# export holding a root-owned 0755 directory, a root-only 0600 file and a
# 0640 root:root file: uid = gid = 4294967295 (an id the kernel rejects,
# so setfsuid() would leave the worker at uid 0), uid 0, and a
# supplementary gid 0 must neither read those files nor create in the
# directory.  On an export without root_squash, 4294967295 still acts as
# nobody (as knfsd maps ids the kernel rejects), while uid 0 is root.
set -u
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/nfs.sh"
nn_init nfssq

nfs_lab atk
SQ=$NN_TMP/squash
NS=$NN_TMP/nosquash
mkdir -p "$NN_TMP/state"
for d in "$SQ" "$NS"; do
	mkdir -p "$d/dir"
	chmod 755 "$d" "$d/dir"
	echo "root only" >"$d/secret"
	chmod 600 "$d/secret"
	echo "group root" >"$d/grp"
	chmod 640 "$d/grp"
done
PROBE=$PNB_TOOLS/rpc_probe

nfs_serve "$S" "$NN_TMP/state" --export "$SQ:rw,root_squash" \
	--export "$NS:rw"

# p IDS CMD ARGS...: the probe as root on the second host, from a
# reserved port, claiming the AUTH_SYS ids IDS ("-n" for AUTH_NONE).
p() {
	local ids=$1
	shift
	ip netns exec "$A" "$PROBE" -p resv -t $ids 198.18.0.1 "$@" 2>/dev/null
}
handle() { # EXPORT NAME
	local st fh
	read -r st fh < <(p -n mnt "$1")
	[ -n "$2" ] && read -r st fh < <(p -n lookup "$fh" "$2")
	echo "$fh"
}
sq_root=$(handle "$SQ" "")
sq_dir=$(handle "$SQ" dir)
sq_secret=$(handle "$SQ" secret)
sq_grp=$(handle "$SQ" grp)
ns_dir=$(handle "$NS" dir)
ns_secret=$(handle "$NS" secret)
t_check "handles for the test files" [ -n "$sq_secret" ] && [ -n "$ns_secret" ]

for ids in "-u 4294967295 -g 4294967295" "-u 0 -g 0" "-u 4294967295 -g 0" \
	"-u 0 -g 4294967295"; do
	out=$(p "$ids" read "$sq_secret")
	t_check "root_squash: $ids cannot read the 0600 root file ($out)" \
		[ "$out" = 13 ]
	name="f${RANDOM}"
	out=$(p "$ids" create "$sq_dir" "$name")
	t_check "root_squash: $ids cannot create in the root 0755 dir ($out)" \
		[ "${out%% *}" = 13 ]
	t_check "root_squash: $ids left nothing behind" \
		[ ! -e "$(nfs_host "$SQ" "dir/$name")" ]
done
out=$(p "-u 1000 -g 1000 -G 0" read "$sq_grp")
t_check "root_squash: supplementary gid 0 does not read a 0640 root:root file ($out)" \
	[ "$out" = 13 ]
out=$(p "-u 1000 -g 1000 -G 4294967295,0" read "$sq_grp")
t_check "root_squash: supplementary gids -1 and 0 do not read it either ($out)" \
	[ "$out" = 13 ]
out=$(p "-u 1000 -g 0" read "$sq_grp")
t_check "root_squash: primary gid 0 does not read it ($out)" [ "$out" = 13 ]
out=$(p "-u 0 -g 0" create "$sq_root" squashed)
st=$(stat -c %u:%g "$(nfs_host "$SQ" squashed)" 2>/dev/null)
t_check "root_squash: root's create in the export root is refused ($out)" \
	[ "${out%% *}" = 13 ] && [ -z "$st" ]

# Without root_squash: 4294967295 is nobody, 0 is root.
out=$(p "-u 4294967295 -g 4294967295" read "$ns_secret")
t_check "no_root_squash: 4294967295 acts as nobody, not root ($out)" \
	[ "$out" = 13 ]
name="g${RANDOM}"
out=$(p "-u 4294967295 -g 4294967295" create "$ns_dir" "$name")
t_check "no_root_squash: 4294967295 cannot create in a root 0755 dir ($out)" \
	[ "${out%% *}" = 13 ] && [ ! -e "$(nfs_host "$NS" "dir/$name")" ]
out=$(p "-u 0 -g 0" read "$ns_secret")
t_check "no_root_squash: uid 0 reads the 0600 file (the OS-root case)" \
	[ "$out" = 0 ]
out=$(p "-u 0 -g 0" create "$ns_dir" rootfile)
t_check "no_root_squash: uid 0 creates a root-owned file" \
	[ "${out%% *}" = 0 ] &&
	[ "$(stat -c %u "$(nfs_host "$NS" dir/rootfile)")" = 0 ]

[ "$(cat "$(nfs_host "$SQ" secret)")" = "root only" ] &&
	[ "$(cat "$(nfs_host "$NS" secret)")" = "root only" ]
t_check "the secret files are unchanged" [ $? -eq 0 ]
nfs_stop
t_done
