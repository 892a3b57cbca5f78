#!/usr/bin/env bash
# Regenerates the seed corpora of fuzz_rpc, fuzz_portmap, fuzz_mount and
# fuzz_nfs3 from real traffic: pinetboot runs under strace in a namespace,
# the libnfs test client (tests/tools/nfs_client.c, libnfs 4.0) and
# libnfs-utils talk to it, and every call the server read is cut out of
# the recorded TCP streams.  Run as root from the top directory after
# `make`; it rewrites tests/fuzz/corpus/{rpc,portmap,mount,nfs3}/cap-*.
set -eu
source tests/lib/netns.sh
nn_init seeds
S=$(nn_ns srv)
C=$(nn_ns cli)
nn_veth "$S" 198.18.0.1/24 "$C" 198.18.0.2/24 >/dev/null
mkdir -p "$NN_TMP/exp" "$NN_TMP/state"
echo hello >"$NN_TMP/exp/hello.txt"
nn_spawn "$S" "$NN_TMP/srv.log" strace -f -qq -e trace=recvfrom,accept4 \
	-xx -s 2000000 -o "$NN_TMP/trace" "$PNB_BIN" serve --dhcp off \
	--tftp off --address 198.18.0.1 --state-dir "$NN_TMP/state" \
	--export "$NN_TMP/exp"
nn_wait_tcp "$S" 2049
ip netns exec "$C" "$PNB_TOOLS/nfs_client" all 198.18.0.1 "$NN_TMP/exp" >/dev/null || true
ip netns exec "$C" nfs-ls "nfs://198.18.0.1$NN_TMP/exp/" >/dev/null || true
sleep 0.5
# Stop pinetboot itself (strace's child) so strace writes out and exits.
kill -TERM "$(ps --ppid "$NN_LAST_PID" -o pid= | head -1)" 2>/dev/null || true
wait "$NN_LAST_PID" 2>/dev/null || true
python3 - "$NN_TMP/trace" tests/fuzz/corpus <<'PY'
import re, sys, os, struct, hashlib
trace, out = sys.argv[1], sys.argv[2]
streams = {}
order = []
rx = re.compile(r'^(\d+)\s+recvfrom\((\d+), "((?:\\x[0-9a-f]{2})*)"(?:\.\.\.)?, \d+, [^)]*\) = (\d+)')
acc = re.compile(r'^(\d+)\s+accept4\(\d+, .*\) = (\d+)')
for line in open(trace):
    m = acc.match(line)
    if m:
        key = (m.group(1), m.group(2), len(order))
        streams[(m.group(1), m.group(2))] = key
        order.append([key, b''])
        continue
    m = rx.match(line)
    if not m:
        continue
    data = bytes.fromhex(m.group(3).replace('\\x', ''))[:int(m.group(4))]
    k = (m.group(1), m.group(2))
    if k in streams:
        for o in order:
            if o[0] == streams[k]:
                o[1] += data
    else:
        order.append([('udp',), data])
def save(d, name, blob):
    os.makedirs(os.path.join(out, d), exist_ok=True)
    h = hashlib.sha1(blob).hexdigest()[:12]
    open(os.path.join(out, d, 'cap-%s-%s' % (name, h)), 'wb').write(blob)
seen = set()
for key, s in order:
    recs = []
    if key[0] == 'udp':
        recs = [s]
    else:
        if s:
            save('rpc', 'stream', b'\x00' + s[:4096])
        off, cur = 0, b''
        while off + 4 <= len(s):
            hdr, = struct.unpack('>I', s[off:off+4])
            n = hdr & 0x7fffffff
            cur += s[off+4:off+4+n]
            off += 4 + n
            if hdr & 0x80000000:
                recs.append(cur)
                cur = b''
    for r in recs:
        if len(r) < 40:
            continue
        xid, mt, rv, prog, vers, proc = struct.unpack('>6I', r[:24])
        o = 24
        for _ in range(2):
            fl, ln = struct.unpack('>2I', r[o:o+8])
            o += 8 + ((ln + 3) & ~3)
        args = r[o:]
        target = {100000: 'portmap', 100005: 'mount', 100003: 'nfs3'}.get(prog)
        sig = (prog, proc)
        if target is None or sig in seen:
            continue
        seen.add(sig)
        if len(args) <= 4096:
            save(target, 'p%d' % proc, bytes([proc]) + args)
        marked = struct.pack('>I', 0x80000000 | len(r)) + r
        if len(r) <= 4096:
            save('rpc', 'call-%d-%d' % (prog, proc), b'\x05' + marked)
PY
ls tests/fuzz/corpus/*/ | head -80
