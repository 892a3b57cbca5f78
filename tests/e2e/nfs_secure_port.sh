#!/usr/bin/env bash
# Hostile: an unprivileged process on a host the export is open to (here
# another host on the server's subnet, which the default allow= admits)
# must not mount or use the export from a port >= 1024, over TCP or
# UDP, even with a valid file handle (knfsd's "secure", the default).
# An export with "insecure" opts out.  Root on that host, from a reserved
# port, and the stock libnfs tools (which bind a reserved port as root)
# still work.
set -u
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/nfs.sh"
nn_init nfssec

nfs_lab cli atk
SEC=$NN_TMP/sec
INS=$NN_TMP/ins
mkdir -p "$SEC" "$INS" "$NN_TMP/state"
echo secret >"$SEC/file"
echo open >"$INS/file"
PROBE=$PNB_TOOLS/rpc_probe
# The attacker: nobody, who cannot bind a port below 1024.
NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"

nfs_serve "$S" "$NN_TMP/state" --export "$SEC" --export "$INS:insecure"

# Root on the client mounts from a reserved port and gets a handle.
read -r st fh < <(ip netns exec "$C" "$PROBE" -p resv 198.18.0.1 mnt "$SEC")
t_check "root from a reserved port mounts (stat $st)" [ "$st" = 0 ]
read -r _ ifh < <(ip netns exec "$C" "$PROBE" -p resv 198.18.0.1 mnt "$INS")
read -r _ ffh < <(ip netns exec "$C" "$PROBE" -p resv 198.18.0.1 lookup "$fh" file)
read -r _ iffh < <(ip netns exec "$C" "$PROBE" -p resv 198.18.0.1 lookup "$ifh" file)

for tr in "" -t; do
	name=${tr:+tcp}
	name=${name:-udp}
	out=$(ip netns exec "$A" $NOBODY "$PROBE" $tr 198.18.0.1 mnt "$SEC")
	t_check "$name MNT from an unprivileged port is refused ($out)" \
		[ "${out%% *}" = 13 ]
	for call in getattr read write; do
		out=$(ip netns exec "$A" $NOBODY "$PROBE" $tr 198.18.0.1 \
			$call "$ffh")
		t_check "$name $call of a file from an unprivileged port is NFS3ERR_PERM ($out)" \
			[ "$out" = 1 ]
	done
	out=$(ip netns exec "$A" $NOBODY "$PROBE" $tr 198.18.0.1 \
		create "$fh" "planted-$name")
	t_check "$name CREATE from an unprivileged port is NFS3ERR_PERM ($out)" \
		[ "$out" = 1 ]
	t_check "$name nothing was created" \
		[ ! -e "$(nfs_host "$SEC" "planted-$name")" ]
	out=$(ip netns exec "$A" $NOBODY "$PROBE" $tr 198.18.0.1 mnt "$INS")
	t_check "$name an insecure export mounts from any port ($out)" \
		[ "${out%% *}" = 0 ]
	out=$(ip netns exec "$A" $NOBODY "$PROBE" $tr 198.18.0.1 read "$iffh")
	t_check "$name an insecure export reads from any port ($out)" \
		[ "$out" = 0 ]
done
[ "$(cat "$(nfs_host "$SEC" file)")" = secret ]
t_check "the secure export's file is unchanged" [ $? -eq 0 ]

# What counts is the port, not the host: root there, reserved port.
out=$(ip netns exec "$A" "$PROBE" -p resv -t 198.18.0.1 getattr "$fh")
t_check "root on the same host from a reserved port is served ($out)" \
	[ "$out" = 0 ]
# The stock libnfs tools run as root bind a reserved port themselves.
out=$(ip netns exec "$C" nfs-cat "nfs://198.18.0.1$SEC/file" 2>&1)
t_check "nfs-cat (libnfs, root) reads the secure export" [ "$out" = secret ]

sleep 0.2
t_check "a refused MNT is logged with its reason" grep -q \
	'peer=198.18.0.3:[0-9]* event=mount-refused .*reason="source port' \
	"$NFS_LOG"
t_check "a refused NFS call is logged" grep -q \
	'peer=198.18.0.3:[0-9]* event=refused .*reason="source port' \
	"$NFS_LOG"
for i in $(seq 20); do
	ip netns exec "$A" $NOBODY "$PROBE" 198.18.0.1 getattr "$ffh" >/dev/null
done
sleep 0.2
n=$(grep -c 'event=refused' "$NFS_LOG")
t_check "NFS refusals are rate-limited ($n lines for 28 calls)" [ "$n" -le 10 ]
nfs_stop
t_done
