# NFS-Ganesha as a reference NFSv3 server for end-to-end tests and
# benchmarks: VFS back end, NFSv3 only, no grace period, no NLM, and its
# config, pid file, log and recovery directory under one private
# directory, so several instances in different namespaces do not meet.
# Source tests/lib/netns.sh first.
#
# Ganesha will not start unless it can register with a portmapper, so
# each instance gets its own rpcbind in a private mount namespace (a
# tmpfs on /run holds rpcbind's socket), inside the test's network
# namespace; the kernel client finds the MOUNT and NFS ports through it.

GANESHA_NFS_PORT=2049
GANESHA_MNT_PORT=20048

# ganesha_start NS ADDR WORKDIR EXPORT-DIR...: starts ganesha.nfsd inside
# NS bound to ADDR, exporting each EXPORT-DIR read-write with no root
# squashing; waits until it listens.  Sets GANESHA_PID and GANESHA_LOG.
# With GANESHA_CPUS set, it and its rpcbind run on those CPUs (taskset),
# as benchmarks pin servers.
ganesha_start() {
	local ns=$1 addr=$2 work=$3 plugins dir id=0
	shift 3
	plugins=$(dirname "$(ls /usr/lib/*/ganesha/libfsalvfs.so 2>/dev/null |
		head -1)")
	if [ ! -f "$plugins/libfsalvfs.so" ] || ! command -v ganesha.nfsd \
		>/dev/null; then
		echo "ganesha: install nfs-ganesha and nfs-ganesha-vfs" >&2
		return 1
	fi
	mkdir -p "$work/recov" || return 1
	cat >"$work/ganesha.conf" <<EOF
NFS_CORE_PARAM {
	Protocols = 3;
	NFS_Port = $GANESHA_NFS_PORT;
	MNT_Port = $GANESHA_MNT_PORT;
	Bind_addr = $addr;
	Enable_NLM = false;
	Enable_RQUOTA = false;
	Plugins_Dir = "$plugins";
}
NFSV4 {
	Graceless = true;
	RecoveryBackend = fs;
	RecoveryRoot = "$work/recov";
}
EXPORT_DEFAULTS {
	Protocols = 3;
	Transports = TCP, UDP;
	Access_Type = RW;
	Squash = No_Root_Squash;
	SecType = sys;
}
LOG {
	Default_Log_Level = EVENT;
}
EOF
	for dir in "$@"; do
		id=$((id + 1))
		cat >>"$work/ganesha.conf" <<EOF
EXPORT {
	Export_Id = $id;
	Path = "$dir";
	Pseudo = "$dir";
	FSAL {
		Name = VFS;
	}
}
EOF
	done
	GANESHA_LOG=$work/ganesha.log
	# sh stays the parent of both daemons, so SIGTERM to it (nn_stop)
	# stops them both.
	nn_spawn "$ns" "$work/ganesha.out" \
		${GANESHA_CPUS:+taskset -c "$GANESHA_CPUS"} \
		unshare -m --propagation private \
		sh -c 'mount -t tmpfs pnb-run /run && mkdir -p /run/rpcbind ||
			exit 1
		rpcbind -f & r=$!
		for i in $(seq 50); do [ -S /run/rpcbind.sock ] && break
			sleep 0.1; done
		ganesha.nfsd -F -f "$1/ganesha.conf" -L "$1/ganesha.log" \
			-p "$1/ganesha.pid" -N NIV_EVENT & g=$!
		trap "kill \$g \$r; wait" TERM
		wait $g
		kill $r' ganesha "$work"
	GANESHA_PID=$NN_LAST_PID
	if ! nn_wait_tcp "$ns" "$GANESHA_NFS_PORT" ||
		! nn_wait_tcp "$ns" "$GANESHA_MNT_PORT"; then
		echo "ganesha: not listening after 5 s; its log:" >&2
		tail -20 "$GANESHA_LOG" "$work/ganesha.out" >&2
		return 1
	fi
}
