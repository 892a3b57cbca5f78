#!/usr/bin/env bash
# Hostile: MOUNT EXPORT and DUMP must not reflect.  Over UDP a forged
# source address gets the reply, so a 40-byte EXPORT call listing 20
# exports with their client addresses is a 50-fold amplifier and tells any
# host which Pi mounts what.  Now EXPORT and DUMP are answered over TCP
# only (a handshake proves the source), and list only what the caller may
# mount and its own mounts.  A host that is not a client (here on the same
# subnet) learns nothing; the client still sees its exports and mounts,
# with showmount too.
set -u
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/nfs.sh"
nn_init nfsrefl

nfs_lab cli atk
mkdir -p "$NN_TMP/state"
EXPORTS=()
for i in $(seq -w 1 20); do
	d=$NN_TMP/exports/pi-root-of-some-raspberry-pi-client-$i
	mkdir -p "$d"
	EXPORTS+=(--export "$d:allow=198.18.0.2,allow=198.18.0.1$i")
done
FIRST=$NN_TMP/exports/pi-root-of-some-raspberry-pi-client-01
PROBE=$PNB_TOOLS/rpc_probe

nfs_serve "$S" "$NN_TMP/state" "${EXPORTS[@]}"
read -r st _ < <(ip netns exec "$C" "$PROBE" -p resv -t 198.18.0.1 mnt "$FIRST")
t_check "the client mounts" [ "$st" = 0 ]

# A 40-byte call (AUTH_NONE) over UDP from the other host.
for proc in export dump; do
	out=$(ip netns exec "$A" "$PROBE" -n 198.18.0.1 "$proc")
	size=$(awk '/^size/ {print $2}' <<<"$out")
	echo "INFO: UDP $proc from a stranger: $size bytes back for 40"
	t_check "UDP $proc answers no more than the 40 bytes it got ($size)" \
		[ "${size:-0}" -le 40 ]
	t_check "UDP $proc lists nothing" \
		bash -c "! grep -qE '^(export|mount) ' <<<'$out'"
	out=$(ip netns exec "$A" "$PROBE" -n -t 198.18.0.1 "$proc")
	t_check "TCP $proc from a stranger lists nothing" \
		bash -c "grep -q '^size' <<<'$out' && ! grep -qE '^(export|mount) ' <<<'$out'"
done
out=$(ip netns exec "$C" "$PROBE" -n -t 198.18.0.1 export)
t_check "TCP EXPORT lists the client's 20 exports to it" \
	[ "$(grep -c '^export ' <<<"$out")" = 20 ]
t_check "and only its own address among the groups" \
	bash -c "! grep -q '198.18.0.1[0-9][0-9]' <<<'$out'"
out=$(ip netns exec "$C" "$PROBE" -n -t 198.18.0.1 dump)
t_check "TCP DUMP shows the client its mount" \
	grep -q "^mount 198.18.0.2:$FIRST\$" <<<"$out"
out=$(ip netns exec "$C" showmount -e 198.18.0.1 2>&1)
t_check "showmount -e works for the client" grep -q "$FIRST" <<<"$out"
out=$(ip netns exec "$C" showmount -a 198.18.0.1 2>&1)
t_check "showmount -a works for the client" grep -q "198.18.0.2:$FIRST" <<<"$out"
nfs_stop
t_done
