# Helpers for end-to-end tests: private network namespaces on
# 198.18.0.0/24, processes tracked by PID, and PASS/FAIL lines that
# tests/run counts.  Source it, then call nn_init TAG.
#
# Every namespace, link and process made here is removed by nn_cleanup,
# which nn_init installs as the EXIT trap.  Nothing touches the host's own
# interfaces, and tests address only 198.18.0.0/24 or loopback.

NN_NS=()
NN_PIDS=()
NN_FAILS=0
NN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${PNB_OUT:=$NN_ROOT/build}"
: "${PNB_BIN:=$PNB_OUT/pinetboot}"
: "${PNB_TOOLS:=$PNB_OUT/tools}"

nn_init() {
	NN_PREFIX="pnb-$1-$$"
	NN_TMP=$(mktemp -d "/tmp/$NN_PREFIX.XXXXXX")
	trap nn_cleanup EXIT
	trap 'exit 130' INT TERM
}

# nn_ns NAME: create namespace $NN_PREFIX-NAME with lo up; prints its name.
nn_ns() {
	local ns="$NN_PREFIX-$1"
	ip netns add "$ns" || return 1
	NN_NS+=("$ns")
	ip -n "$ns" link set lo up
	echo "$ns"
}

# nn_veth NS1 ADDR1/LEN NS2 ADDR2/LEN: a veth pair between two namespaces.
nn_veth() {
	local a="va$RANDOM$RANDOM" b="vb$RANDOM$RANDOM"
	a=${a:0:15}
	b=${b:0:15}
	ip link add "$a" netns "$1" type veth peer name "$b" netns "$3" ||
		return 1
	ip -n "$1" addr add "$2" dev "$a"
	ip -n "$3" addr add "$4" dev "$b"
	ip -n "$1" link set "$a" up
	ip -n "$3" link set "$b" up
	echo "$a $b"
}

# nn_bridge NS NAME ADDR/LEN: a bridge inside NS holding ADDR.
nn_bridge() {
	ip -n "$1" link add "$2" type bridge || return 1
	# A bridge takes the lowest MAC of its ports unless given one, so a
	# port added later would change it under every ARP cache in the lab.
	ip -n "$1" link set "$2" address \
		"$(printf '02:00:5e:%02x:%02x:%02x' $((RANDOM % 256)) \
			$((RANDOM % 256)) $((RANDOM % 256)))"
	ip -n "$1" link set "$2" type bridge forward_delay 0 stp_state 0
	[ -n "${3:-}" ] && ip -n "$1" addr add "$3" dev "$2"
	ip -n "$1" link set "$2" up
}

# nn_port NS BRIDGE OTHERNS ADDR/LEN: a veth from OTHERNS into BRIDGE.
nn_port() {
	local a="pa$RANDOM$RANDOM" b="pb$RANDOM$RANDOM"
	a=${a:0:15}
	b=${b:0:15}
	ip link add "$a" netns "$1" type veth peer name "$b" netns "$3" ||
		return 1
	ip -n "$1" link set "$a" master "$2"
	ip -n "$1" link set "$a" up
	[ -n "${4:-}" ] && ip -n "$3" addr add "$4" dev "$b"
	ip -n "$3" link set "$b" up
	echo "$b"
}

# nn_spawn NS LOG CMD...: run CMD in NS in the background; sets NN_LAST_PID.
nn_spawn() {
	local ns=$1 log=$2
	shift 2
	ip netns exec "$ns" "$@" >"$log" 2>&1 &
	NN_LAST_PID=$!
	NN_PIDS+=("$NN_LAST_PID")
}

# nn_stop PID: SIGTERM, then SIGKILL after 3 s.
nn_stop() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 30); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# nn_wait_udp NS PORT: wait up to 5 s until something listens on UDP PORT.
nn_wait_udp() {
	local i
	for i in $(seq 50); do
		ip netns exec "$1" ss -Hlnu "sport = :$2" | grep -q . && return 0
		sleep 0.1
	done
	return 1
}

# nn_wait_line FILE PATTERN [TENTHS]: wait up to TENTHS tenths of a
# second (default 100) until a line of FILE matches the grep PATTERN.
nn_wait_line() {
	local i
	for i in $(seq "${3:-100}"); do
		grep -q -e "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

nn_wait_tcp() {
	local i
	for i in $(seq 50); do
		ip netns exec "$1" ss -Hlnt "sport = :$2" | grep -q . && return 0
		sleep 0.1
	done
	return 1
}

nn_cleanup() {
	local pid ns
	for pid in "${NN_PIDS[@]}"; do
		nn_stop "$pid"
	done
	for ns in "${NN_NS[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	# nn_ns run as NS=$(nn_ns x) records the name in a subshell only, so
	# also remove every namespace carrying this script's prefix.
	for ns in $(ip netns list | awk '{print $1}'); do
		case $ns in
		"$NN_PREFIX"-*) ip netns del "$ns" 2>/dev/null ;;
		esac
	done
	[ -n "${NN_TMP:-}" ] && rm -rf "$NN_TMP"
	NN_PIDS=()
	NN_NS=()
}

t_pass() {
	echo "PASS: $1"
}

t_fail() {
	echo "FAIL: $1${2:+ ($2)}"
	NN_FAILS=$((NN_FAILS + 1))
}

# t_check NAME CMD...: PASS if CMD succeeds, else FAIL.
t_check() {
	local name=$1
	shift
	if "$@"; then
		t_pass "$name"
	else
		t_fail "$name"
	fi
}

# t_done: exit status for the test script.
t_done() {
	[ "$NN_FAILS" -eq 0 ]
}
