/*
 * A raw ONC RPC peer for the e2e tests: the things stock clients never
 * do on purpose, from a source port and with AUTH_SYS ids of the test's
 * choosing.
 *
 *   rpc_probe [-p PORT|resv] [-b ADDRS] [-t] [-n] [-u UID] [-g GID]
 *             [-G G1,G2..] [-x XID] [-w SECONDS] SERVER COMMAND ARGS...
 *
 *   -p   source port: a number, or "resv" for the first free one below
 *        1024 (needs root); default: whatever the kernel picks
 *   -b   source addresses, comma-separated, taken in turn by each new
 *        socket (the test puts them on the probe's interface)
 *   -t   TCP instead of UDP for single calls
 *   -n   AUTH_NONE instead of AUTH_SYS; -u/-g/-G: the AUTH_SYS ids
 *        (default uid 0, gid 0, no groups)
 *   -x   the xid of single calls (default: from the pid)
 *   -w   seconds to wait for a reply (default 3)
 *
 * Commands (single calls print one result line; "none" when nothing
 * came back, "denied:N" for an AUTH_ERROR, "rpc:N" for an accepted
 * error):
 *   suite EXPORT            the built-in checks, PASS/FAIL lines
 *   mnt DIR                 MNT; prints "STAT HANDLE-HEX"
 *   getattr|read|write|readdirplus FH
 *   lookup|create|mkdir|remove DIRFH NAME
 *   create-unchecked DIRFH NAME
 *   rmdir DIRFH NAME | readlink FH
 *   chmod FH MODE | chown FH UID | truncate FH SIZE | utimes FH SECONDS
 *   link FH DIRFH NAME | rename DIRFH NAME DIRFH2 NAME2
 *   mknod DIRFH NAME chr|blk|fifo|sock [MAJOR MINOR]
 *   symlink DIRFH NAME TARGET
 *                           one NFS call; prints the nfsstat3, and after
 *                           it the new handle when a name was found or
 *                           made
 *   pmap-set|pmap-unset|pmap-getport PROG VERS PROT [PORT]
 *                           prints the result word
 *   export | dump           MOUNT EXPORT/DUMP; prints the reply size and
 *                           then one row per line
 *   race DIRFH SECONDS      CREATE UNCHECKED "x" again and again on one
 *                           connection while another renames r, f and d
 *                           (made by the test) in and out of "x", and a
 *                           third lists the directory with READDIRPLUS
 *                           and checks each handle against its
 *                           attributes with GETATTR
 *   hold PORT N SECONDS [SIZE]
 *                           N connections that each send a record marker
 *                           announcing SIZE bytes (default 1 MiB) and
 *                           then one byte every 5 s; prints how many
 *                           the server accepted and closed
 *   noread PORT N SECONDS [FH]
 *                           N connections with a small receive buffer
 *                           that pipeline NULL calls (with FH:
 *                           READDIRPLUS of it for 1 MiB replies) and
 *                           never read a reply; prints how many the
 *                           server closed and the bytes sent
 *   udpflood FH SECONDS     60 KiB FILE_SYNC WRITEs to FH over UDP as
 *                           fast as they leave; prints how many
 *   ping PORT SECONDS       a NULL call over UDP every 20 ms; prints the
 *                           largest and median answer time in ms
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto/mount/mnt.h"
#include "proto/nfs3/nfs3.h"
#include "proto/portmap/pmap.h"
#include "proto/rpc/rpc.h"

#define PROBE_MAXCONN 2048

static int failures;
static struct in_addr server;

/* The command line's choices for every call. */
static struct {
	int sport; /* -1: any, 0: a free reserved one, else that port */
	bool tcp, none;
	struct rpc_auth_sys cred;
	uint32_t xid;
	struct in_addr src[64];
	unsigned nsrc, next_src;
	int wait_ms;
} opt = {.sport = -1, .wait_ms = 3000};

static void
check(const char *name, int ok, const char *why)
{
	if (ok) {
		printf("PASS: %s\n", name);
	} else {
		printf("FAIL: %s (%s)\n", name, why);
		failures++;
	}
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * A socket bound as -p says.  For "resv" without SO_REUSEADDR, so a port
 * still in TIME_WAIT from an earlier connection is skipped.
 */
static int
sock_open(int type)
{
	struct sockaddr_in me = {.sin_family = AF_INET};
	int fd = socket(AF_INET, type, 0), one = 1, port;

	if (fd >= 0 && opt.nsrc > 0) {
		me.sin_addr = opt.src[opt.next_src++ % opt.nsrc];
		if (opt.sport < 0 &&
		    bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
			fprintf(stderr, "rpc_probe: bind %s: %s\n",
			    inet_ntoa(me.sin_addr), strerror(errno));
			exit(2);
		}
	}
	if (fd < 0 || opt.sport < 0) {
		return fd;
	}
	if (opt.sport > 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		me.sin_port = htons((uint16_t)opt.sport);
		if (bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
			fprintf(stderr, "rpc_probe: bind port %d: %s\n",
			    opt.sport, strerror(errno));
			exit(2);
		}
		return fd;
	}
	for (port = 1023; port >= 512; port--) {
		me.sin_port = htons((uint16_t)port);
		if (bind(fd, (struct sockaddr *)&me, sizeof(me)) == 0) {
			return fd;
		}
		if (errno != EADDRINUSE) {
			break;
		}
	}
	fprintf(stderr, "rpc_probe: no reserved port: %s\n", strerror(errno));
	exit(2);
}

/* One datagram out on @fd and the answer back (3 s at most). */
static int
udp_xchg(int fd, uint16_t port, const uint8_t *req, size_t len, uint8_t *rep,
    size_t cap)
{
	struct sockaddr_in sa = {
	    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr = server};
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n = -1;

	if (sendto(fd, req, len, 0, (struct sockaddr *)&sa, sizeof(sa)) ==
		(ssize_t)len &&
	    poll(&p, 1, opt.wait_ms) == 1) {
		n = recv(fd, rep, cap, 0);
	}
	return (int)n;
}

static int
udp_call(
    uint16_t port, const uint8_t *req, size_t len, uint8_t *rep, size_t cap)
{
	int fd = sock_open(SOCK_DGRAM), n;

	if (fd < 0) {
		return -1;
	}
	n = udp_xchg(fd, port, req, len, rep, cap);
	close(fd);
	return n;
}

static int
tcp_open(uint16_t port)
{
	struct sockaddr_in sa = {
	    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr = server};
	int fd = sock_open(SOCK_STREAM);

	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
read_exact(int fd, uint8_t *buf, size_t n)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	size_t have = 0;

	while (have < n) {
		ssize_t r;

		if (poll(&p, 1, opt.wait_ms) != 1) {
			return -1;
		}
		r = recv(fd, buf + have, n - have, 0);
		if (r <= 0) {
			return r == 0 ? 0 : -1;
		}
		have += (size_t)r;
	}
	return 1;
}

/* Read one whole reply record (single fragment, as the server sends). */
static int
tcp_read_record(int fd, uint8_t *buf, size_t cap)
{
	uint8_t h[4];
	uint32_t len;
	int r = read_exact(fd, h, 4);

	if (r <= 0) {
		return r;
	}
	len = ((uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
		  (uint32_t)h[2] << 8 | h[3]) &
	    0x7fffffff;
	if (len > cap) {
		return -1;
	}
	r = read_exact(fd, buf, len);
	return r <= 0 ? -1 : (int)len;
}

/* One call over the transport -t chose; @req has 4 bytes of headroom. */
static int
call(uint16_t port, uint8_t *req, size_t len, uint8_t *rep, size_t cap)
{
	int fd, n = -1;

	if (!opt.tcp) {
		return udp_call(port, req + 4, len, rep, cap);
	}
	fd = tcp_open(port);
	rpc_rm_marker(req, len);
	if (fd >= 0 && send(fd, req, len + 4, 0) == (ssize_t)(len + 4)) {
		n = tcp_read_record(fd, rep, cap);
	}
	if (fd >= 0 && opt.sport > 0) {
		/*
		 * End with a reset, so the same port can connect again at
		 * once, as a Linux client reconnects after the server closed.
		 */
		struct linger lg = {.l_onoff = 1, .l_linger = 0};

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	if (fd >= 0) {
		close(fd);
	}
	return n;
}

static uint32_t
reply_word(const uint8_t *rep, int n, size_t at)
{
	struct rpc_reply r;
	struct cur c;

	if (n <= 0 || rpc_reply_parse(rep, (size_t)n, &r) < 0 ||
	    r.reply_stat != RPC_MSG_ACCEPTED || r.stat != RPC_SUCCESS) {
		return 0xffffffff;
	}
	c = cur_init(r.res, r.res_len);
	cur_skip(&c, at);
	return cur_be32(&c);
}

/* Print a single call's outcome as the header comment describes. */
static void
print_result(const uint8_t *rep, int n)
{
	struct rpc_reply r;

	if (n <= 0 || rpc_reply_parse(rep, (size_t)n, &r) < 0) {
		printf("none\n");
	} else if (r.reply_stat != RPC_MSG_ACCEPTED) {
		printf("denied:%u\n",
		    r.stat == RPC_AUTH_ERROR ? r.auth_stat : 1000 + r.stat);
	} else if (r.stat != RPC_SUCCESS) {
		printf("rpc:%u\n", r.stat);
	} else {
		printf("%u\n", reply_word(rep, n, 0));
	}
}

static uint32_t
getport(uint32_t prog, uint32_t vers, uint32_t prot)
{
	uint8_t req[128], rep[128];
	struct wcur w = wcur_init(req, sizeof(req));
	struct pmap_mapping m = {prog, vers, prot, 0};

	rpc_call_build(&w, 100 + prog + prot, PMAP_PROG, PMAP_VERS,
	    PMAP_PROC_GETPORT, RPC_AUTH_NONE, NULL, 0);
	pmap_mapping_build(&w, &m);
	return reply_word(rep, udp_call(111, req, w.off, rep, sizeof(rep)), 0);
}

/* A call header with the credential the options ask for. */
static void
call_hdr(
    struct wcur *w, uint32_t xid, uint32_t prog, uint32_t vers, uint32_t proc)
{
	uint8_t cred[512];
	struct wcur cw = wcur_init(cred, sizeof(cred));

	if (opt.none) {
		rpc_call_build(
		    w, xid, prog, vers, proc, RPC_AUTH_NONE, NULL, 0);
		return;
	}
	rpc_auth_sys_build(&cw, &opt.cred);
	rpc_call_build(
	    w, xid, prog, vers, proc, RPC_AUTH_SYS, cred + 8, cw.off - 8);
}

static int
parse_fh(const char *hex, struct nfs3_fh *fh)
{
	size_t n = strlen(hex), i;

	if (n % 2 || n / 2 > NFS3_FH_MAX) {
		return -1;
	}
	for (i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
			return -1;
		}
		fh->data[i] = (uint8_t)v;
	}
	fh->len = (uint32_t)(n / 2);
	return 0;
}

static uint16_t
port_of(uint32_t prog)
{
	uint32_t p =
	    getport(prog, 3, opt.tcp ? PMAP_IPPROTO_TCP : PMAP_IPPROTO_UDP);

	if (p == 0 || p > 65535) {
		fprintf(stderr, "rpc_probe: program %u not registered\n", prog);
		exit(2);
	}
	return (uint16_t)p;
}

static int
cmd_mnt(const char *dir)
{
	static uint8_t req[2048], rep[2048];
	struct wcur w = wcur_init(req + 4, sizeof(req) - 4);
	struct rpc_reply r;
	uint8_t fh[MNT_FH_MAX];
	size_t fhlen = 0, i;
	uint32_t stat;
	int n;

	call_hdr(&w, opt.xid, MNT_PROG, MNT_VERS, MNT_PROC_MNT);
	rpc_put_string(&w, dir);
	n = call(port_of(MNT_PROG), req, w.off, rep, sizeof(rep));
	if (n <= 0 || rpc_reply_parse(rep, (size_t)n, &r) < 0 ||
	    r.reply_stat != RPC_MSG_ACCEPTED || r.stat != RPC_SUCCESS ||
	    mnt_mnt_parse(r.res, r.res_len, &stat, fh, &fhlen) < 0) {
		print_result(rep, n);
		return 1;
	}
	printf("%u ", stat);
	for (i = 0; stat == MNT3_OK && i < fhlen; i++) {
		printf("%02x", fh[i]);
	}
	printf("\n");
	return stat == MNT3_OK ? 0 : 1;
}

static const struct {
	const char *name;
	uint32_t proc;
	bool named;
} nfs_cmds[] = {
    {"getattr", NFS3_PROC_GETATTR, false},
    {"read", NFS3_PROC_READ, false},
    {"write", NFS3_PROC_WRITE, false},
    {"readdirplus", NFS3_PROC_READDIRPLUS, false},
    {"lookup", NFS3_PROC_LOOKUP, true},
    {"create", NFS3_PROC_CREATE, true},
    {"create-unchecked", NFS3_PROC_CREATE, true},
    {"mkdir", NFS3_PROC_MKDIR, true},
    {"remove", NFS3_PROC_REMOVE, true},
};

/*
 * Send NFS call @a and print its result; with @show_fh, a success that
 * carries a handle prints it after the status.
 */
static int
send_nfs(const struct nfs3_args *a, bool show_fh)
{
	static uint8_t req[4096], rep[70000];
	struct wcur w = wcur_init(req + 4, sizeof(req) - 4);
	int n;

	call_hdr(&w, opt.xid, NFS3_PROG, NFS3_VERS, a->proc);
	nfs3_args_build(&w, a);
	n = call(port_of(NFS3_PROG), req, w.off, rep, sizeof(rep));
	if (reply_word(rep, n, 0) == NFS3_OK && show_fh) {
		static struct nfs3_res res;
		struct rpc_reply r;
		uint32_t i;

		if (rpc_reply_parse(rep, (size_t)n, &r) == 0 &&
		    nfs3_res_parse(a->proc, r.res, r.res_len, &res, NULL, 0) ==
			0 &&
		    res.has_fh) {
			printf("0 ");
			for (i = 0; i < res.fh.len; i++) {
				printf("%02x", res.fh.data[i]);
			}
			printf("\n");
			return 0;
		}
	}
	print_result(rep, n);
	return 0;
}

/*
 * The calls that change more than a name: chmod FH MODE, chown FH UID,
 * truncate FH SIZE, utimes FH SECONDS (mtime), link FH DIRFH NAME,
 * rename DIRFH NAME DIRFH2 NAME2, mknod DIRFH NAME chr|blk|fifo|sock
 * [MAJOR MINOR], symlink DIRFH NAME TARGET, rmdir DIRFH NAME, readlink
 * FH.  Return: -1 when @cmd is none of them.
 */
static int
cmd_nfs_more(const char *cmd, char **args, int nargs)
{
	static const struct {
		const char *name;
		uint32_t proc;
		int nargs; /* at least */
	} more[] = {
	    {"chmod", NFS3_PROC_SETATTR, 2},
	    {"chown", NFS3_PROC_SETATTR, 2},
	    {"truncate", NFS3_PROC_SETATTR, 2},
	    {"utimes", NFS3_PROC_SETATTR, 2},
	    {"link", NFS3_PROC_LINK, 3},
	    {"rename", NFS3_PROC_RENAME, 4},
	    {"mknod", NFS3_PROC_MKNOD, 3},
	    {"symlink", NFS3_PROC_SYMLINK, 3},
	    {"rmdir", NFS3_PROC_RMDIR, 2},
	    {"readlink", NFS3_PROC_READLINK, 1},
	};
	static struct nfs3_args a;
	size_t i;

	for (i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
		if (strcmp(cmd, more[i].name) == 0) {
			break;
		}
	}
	if (i == sizeof(more) / sizeof(more[0])) {
		return -1;
	}
	memset(&a, 0, sizeof(a));
	a.proc = more[i].proc;
	if (nargs < more[i].nargs || parse_fh(args[0], &a.fh) < 0) {
		fprintf(
		    stderr, "rpc_probe: %s: missing or bad arguments\n", cmd);
		return 2;
	}
	a.where.dir = a.fh;
	if (a.proc == NFS3_PROC_SETATTR) {
		unsigned long v =
		    strtoul(args[1], NULL, cmd[2] == 'm' ? 8 : 10);

		a.sattr.set_mode = cmd[2] == 'm';
		a.sattr.set_uid = cmd[2] == 'o';
		a.sattr.set_size = cmd[0] == 't';
		a.sattr.set_mtime = cmd[0] == 'u' ? NFS3_SET_TO_CLIENT_TIME : 0;
		a.sattr.mode = a.sattr.uid = (uint32_t)v;
		a.sattr.size = v;
		a.sattr.mtime.sec = (uint32_t)v;
	} else if (a.proc == NFS3_PROC_LINK) {
		if (parse_fh(args[1], &a.where.dir) < 0) {
			return 2;
		}
		snprintf(a.where.name, sizeof(a.where.name), "%s", args[2]);
	} else if (a.proc == NFS3_PROC_RENAME) {
		if (parse_fh(args[2], &a.to.dir) < 0) {
			return 2;
		}
		snprintf(a.where.name, sizeof(a.where.name), "%s", args[1]);
		snprintf(a.to.name, sizeof(a.to.name), "%s", args[3]);
	} else if (a.proc != NFS3_PROC_READLINK) {
		snprintf(a.where.name, sizeof(a.where.name), "%s", args[1]);
	}
	if (a.proc == NFS3_PROC_MKNOD) {
		a.ftype = strcmp(args[2], "chr") == 0 ? NF3CHR
		    : strcmp(args[2], "blk") == 0     ? NF3BLK
		    : strcmp(args[2], "fifo") == 0    ? NF3FIFO
						      : NF3SOCK;
		a.rdev_major = nargs > 3 ? (uint32_t)atoi(args[3]) : 0;
		a.rdev_minor = nargs > 4 ? (uint32_t)atoi(args[4]) : 0;
		a.sattr.set_mode = true;
		a.sattr.mode = 0644;
	}
	if (a.proc == NFS3_PROC_SYMLINK) {
		snprintf(a.path, sizeof(a.path), "%s", args[2]);
	}
	return send_nfs(
	    &a, a.proc == NFS3_PROC_MKNOD || a.proc == NFS3_PROC_SYMLINK);
}

static int
cmd_nfs(size_t which, char **args, int nargs)
{
	static struct nfs3_args a;
	struct nfs3_fh fh;

	if (nargs < (nfs_cmds[which].named ? 2 : 1) ||
	    parse_fh(args[0], &fh) < 0) {
		fprintf(stderr, "rpc_probe: %s needs a handle%s\n",
		    nfs_cmds[which].name,
		    nfs_cmds[which].named ? " and a name" : "");
		return 2;
	}
	memset(&a, 0, sizeof(a));
	a.proc = nfs_cmds[which].proc;
	a.fh = fh;
	a.where.dir = fh;
	if (nfs_cmds[which].named) {
		snprintf(a.where.name, sizeof(a.where.name), "%s", args[1]);
	}
	a.count = 4096;
	a.maxcount = 65536;
	a.data = (const uint8_t *)"probe\n";
	a.data_len = 6;
	a.stable = NFS3_FILE_SYNC;
	a.createmode = strcmp(nfs_cmds[which].name, "create") == 0
	    ? NFS3_GUARDED
	    : NFS3_UNCHECKED;
	a.sattr.set_mode = true;
	a.sattr.mode = 0644;
	/* Name lookups and creations print the new handle too. */
	return send_nfs(
	    &a, nfs_cmds[which].named && a.proc != NFS3_PROC_REMOVE);
}

static int
cmd_pmap(const char *what, char **args, int nargs)
{
	uint8_t req[256], rep[256];
	struct wcur w = wcur_init(req + 4, sizeof(req) - 4);
	struct pmap_mapping m = {0};
	uint32_t proc = strcmp(what, "pmap-set") == 0 ? PMAP_PROC_SET
	    : strcmp(what, "pmap-unset") == 0         ? PMAP_PROC_UNSET
						      : PMAP_PROC_GETPORT;

	if (nargs < 3) {
		fprintf(stderr, "rpc_probe: %s PROG VERS PROT [PORT]\n", what);
		return 2;
	}
	m.prog = (uint32_t)strtoul(args[0], NULL, 0);
	m.vers = (uint32_t)strtoul(args[1], NULL, 0);
	m.prot = (uint32_t)strtoul(args[2], NULL, 0);
	m.port = nargs > 3 ? (uint32_t)strtoul(args[3], NULL, 0) : 0;
	call_hdr(&w, opt.xid, PMAP_PROG, PMAP_VERS, proc);
	pmap_mapping_build(&w, &m);
	print_result(rep, call(111, req, w.off, rep, sizeof(rep)));
	return 0;
}

/* EXPORT or DUMP: the reply size, then the rows. */
static int
cmd_list(bool exports)
{
	static uint8_t req[256], rep[65536];
	struct wcur w = wcur_init(req + 4, sizeof(req) - 4);
	struct rpc_reply r;
	struct cur c;
	int n;

	call_hdr(&w, opt.xid, MNT_PROG, MNT_VERS,
	    exports ? MNT_PROC_EXPORT : MNT_PROC_DUMP);
	n = call(port_of(MNT_PROG), req, w.off, rep, sizeof(rep));
	if (n <= 0 || rpc_reply_parse(rep, (size_t)n, &r) < 0 ||
	    r.reply_stat != RPC_MSG_ACCEPTED || r.stat != RPC_SUCCESS) {
		printf("size %d\n", n);
		print_result(rep, n);
		return 1;
	}
	printf("size %d\n", n);
	c = cur_init(r.res, r.res_len);
	while (rpc_get_bool(&c)) {
		char a[MNT_PATH_MAX + 1], b[MNT_PATH_MAX + 1];

		rpc_get_string(&c, exports ? MNT_PATH_MAX : 255, a, sizeof(a));
		if (exports) {
			printf("export %s", a);
			while (rpc_get_bool(&c)) {
				rpc_get_string(&c, 255, b, sizeof(b));
				printf(" %s", b);
			}
			printf("\n");
		} else {
			rpc_get_string(&c, MNT_PATH_MAX, b, sizeof(b));
			printf("mount %s:%s\n", a, b);
		}
		if (c.err) {
			break;
		}
	}
	return 0;
}

/*
 * The rename side of "race": one call at a time, so the cycle never
 * renames over r, f or d themselves.
 */
static const char *const race_cycle[][2] = {
    {"r", "x"},
    {"x", "r"},
    {"f", "x"},
    {"x", "f"},
    {"d", "x"},
    {"x", "d"},
};

static size_t
race_rename(struct nfs3_fh *dir, uint32_t xid, unsigned step, uint8_t *out)
{
	static struct nfs3_args a;
	struct wcur w = wcur_init(out + 4, 1024);

	memset(&a, 0, sizeof(a));
	a.proc = NFS3_PROC_RENAME;
	a.where.dir = *dir;
	a.to.dir = *dir;
	strcpy(a.where.name, race_cycle[step % 6][0]);
	strcpy(a.to.name, race_cycle[step % 6][1]);
	call_hdr(&w, xid, NFS3_PROG, NFS3_VERS, NFS3_PROC_RENAME);
	nfs3_args_build(&w, &a);
	rpc_rm_marker(out, w.off);
	return w.off + 4;
}

static size_t
race_create(struct nfs3_fh *dir, uint32_t xid, uint8_t *out)
{
	static struct nfs3_args a;
	struct wcur w = wcur_init(out + 4, 1024);

	memset(&a, 0, sizeof(a));
	a.proc = NFS3_PROC_CREATE;
	a.where.dir = *dir;
	strcpy(a.where.name, "x");
	/* What open(O_CREAT | O_TRUNC) sends from a Linux client. */
	a.createmode = NFS3_UNCHECKED;
	a.sattr.set_size = true;
	a.sattr.size = 0;
	call_hdr(&w, xid, NFS3_PROG, NFS3_VERS, NFS3_PROC_CREATE);
	nfs3_args_build(&w, &a);
	rpc_rm_marker(out, w.off);
	return w.off + 4;
}

static size_t
race_call(const struct nfs3_args *a, uint32_t xid, uint8_t *out)
{
	struct wcur w = wcur_init(out + 4, 1024);

	call_hdr(&w, xid, NFS3_PROG, NFS3_VERS, a->proc);
	nfs3_args_build(&w, a);
	rpc_rm_marker(out, w.off);
	return w.off + 4;
}

/*
 * The READDIRPLUS side of "race".  A handle names one object, so every
 * entry that carries it must report that object's fileid; a handle seen
 * with two fileids came from an entry whose handle and attributes were
 * taken from different objects.
 */
struct race_seen {
	struct nfs3_fh fh;
	uint64_t fileid;
	bool bad;
};

static unsigned
race_note(struct race_seen *seen, size_t *n, const struct nfs3_dirent *e)
{
	size_t i;

	for (i = 0; i < *n; i++) {
		if (seen[i].fh.len == e->fh.len &&
		    memcmp(seen[i].fh.data, e->fh.data, e->fh.len) == 0) {
			if (seen[i].fileid != e->attr.a.fileid &&
			    !seen[i].bad) {
				seen[i].bad = true;
				return 1;
			}
			return 0;
		}
	}
	if (*n < 4096) {
		seen[*n].fh = e->fh;
		seen[*n].fileid = e->attr.a.fileid;
		seen[*n].bad = false;
		(*n)++;
	}
	return 0;
}

static size_t
race_list(const struct nfs3_fh *dir, uint32_t xid, uint8_t *out)
{
	static struct nfs3_args a;

	memset(&a, 0, sizeof(a));
	a.proc = NFS3_PROC_READDIRPLUS;
	a.fh = *dir;
	a.count = 8192;
	a.maxcount = 32768;
	return race_call(&a, xid, out);
}

static int
cmd_race(char **args, int nargs)
{
	static uint8_t buf[2048], rep[70000];
	static struct race_seen seen[4096];
	static struct nfs3_dirent ents[64];
	static struct nfs3_res res;
	uint64_t end;
	unsigned step = 0, inflight = 0, listing = 0, creates = 0, renames = 0,
		 lists = 0, mismatch = 0, hist[4] = {0};
	struct nfs3_fh dir;
	size_t nseen = 0, i;
	uint16_t port;
	int a, b, c;

	if (nargs < 2 || parse_fh(args[0], &dir) < 0) {
		fprintf(stderr, "rpc_probe: race DIRFH SECONDS\n");
		return 2;
	}
	opt.tcp = true;
	port = port_of(NFS3_PROG);
	a = tcp_open(port);
	b = tcp_open(port);
	c = tcp_open(port);
	if (a < 0 || b < 0 || c < 0) {
		fprintf(stderr, "rpc_probe: connect: %s\n", strerror(errno));
		return 1;
	}
	end = now_ms() + 1000 * strtoull(args[1], NULL, 0);
	/* Fresh xids throughout: the duplicate request cache must not answer.
	 */
	send(b, buf, race_rename(&dir, opt.xid++, step, buf), 0);
	while (now_ms() < end) {
		struct pollfd p[3] = {{.fd = a, .events = POLLIN},
		    {.fd = b, .events = POLLIN}, {.fd = c, .events = POLLIN}};
		struct rpc_reply r;
		int n;

		while (inflight < 8) {
			send(a, buf, race_create(&dir, opt.xid++, buf), 0);
			inflight++;
		}
		while (listing < 4) {
			send(c, buf, race_list(&dir, opt.xid++, buf), 0);
			listing++;
		}
		if (poll(p, 3, 1000) <= 0) {
			continue;
		}
		if (p[0].revents) {
			n = tcp_read_record(a, rep, sizeof(rep));
			if (n <= 0) {
				break;
			}
			inflight--;
			creates++;
			n = (int)reply_word(rep, n, 0);
			hist[n == NFS3_OK ? 0 : n == NFS3ERR_EXIST ? 1 : 2]++;
		}
		if (p[1].revents) {
			n = tcp_read_record(b, rep, sizeof(rep));
			if (n <= 0) {
				break;
			}
			renames += reply_word(rep, n, 0) == NFS3_OK;
			step++;
			send(
			    b, buf, race_rename(&dir, opt.xid++, step, buf), 0);
		}
		if (p[2].revents) {
			n = tcp_read_record(c, rep, sizeof(rep));
			if (n <= 0) {
				break;
			}
			listing--;
			lists++;
			if (rpc_reply_parse(rep, (size_t)n, &r) < 0 ||
			    nfs3_res_parse(NFS3_PROC_READDIRPLUS, r.res,
				r.res_len, &res, ents, 64) < 0) {
				continue;
			}
			for (i = 0; i < res.nentries; i++) {
				if (ents[i].has_fh && ents[i].attr.present) {
					mismatch +=
					    race_note(seen, &nseen, &ents[i]);
				}
			}
		}
	}
	printf("creates %u ok %u exist %u other %u renames %u lists %u "
	       "mismatch %u\n",
	    creates, hist[0], hist[1], hist[2], renames, lists, mismatch);
	close(a);
	close(b);
	close(c);
	return 0;
}

/* Did the server close @fd?  Reads (and drops) what is there. */
static bool
closed_by_server(int fd)
{
	uint8_t junk[4096];
	ssize_t n;

	for (;;) {
		n = recv(fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			return true;
		}
		if (n < 0) {
			return false;
		}
	}
}

/*
 * The PORT N SECONDS arguments of hold and noread: N non-blocking
 * connections to PORT in @fds (-1 where connect failed), each with a
 * receive buffer of @rcvbuf bytes when that is not 0.  *@end gets when to
 * stop.  Return: N, or -1 after printing @usage.
 */
static int
open_conns(char **args, int nargs, const char *usage, int rcvbuf, int *fds,
    uint64_t *end, int *open)
{
	uint16_t port;
	int n, i;

	if (nargs < 3) {
		fprintf(stderr, "rpc_probe: %s\n", usage);
		return -1;
	}
	port = (uint16_t)strtoul(args[0], NULL, 0);
	n = atoi(args[1]);
	n = n > PROBE_MAXCONN ? PROBE_MAXCONN : n;
	*end = now_ms() + 1000 * strtoull(args[2], NULL, 0);
	for (i = 0; i < n; i++) {
		fds[i] = tcp_open(port);
		if (fds[i] < 0) {
			continue;
		}
		(*open)++;
		fcntl(fds[i], F_SETFL, O_NONBLOCK);
		if (rcvbuf) {
			setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &rcvbuf,
			    sizeof(rcvbuf));
		}
	}
	return n;
}

static void
close_conns(int *fds, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (fds[i] >= 0) {
			close(fds[i]);
		}
	}
}

static int
cmd_hold(char **args, int nargs)
{
	static int fds[PROBE_MAXCONN];
	uint64_t end, next_byte;
	uint32_t size;
	uint8_t hdr[4];
	int n, i, open = 0, closed = 0;

	n = open_conns(
	    args, nargs, "hold PORT N SECONDS [SIZE]", 0, fds, &end, &open);
	if (n < 0) {
		return 2;
	}
	size = nargs > 3 ? (uint32_t)strtoul(args[3], NULL, 0) : 1u << 20;
	/* A record that is announced and never gets there. */
	rpc_rm_marker(hdr, size);
	for (i = 0; i < n; i++) {
		if (fds[i] >= 0) {
			send(fds[i], hdr, 4, MSG_NOSIGNAL);
		}
	}
	next_byte = now_ms() + 5000;
	while (now_ms() < end) {
		bool tick = now_ms() >= next_byte;

		for (i = 0; i < n; i++) {
			if (fds[i] < 0) {
				continue;
			}
			if (closed_by_server(fds[i])) {
				close(fds[i]);
				fds[i] = -1;
				closed++;
			} else if (tick) {
				send(fds[i], "x", 1, MSG_NOSIGNAL);
			}
		}
		if (tick) {
			next_byte = now_ms() + 5000;
		}
		usleep(100000);
	}
	close_conns(fds, n);
	printf("open %d closed %d\n", open, closed);
	return 0;
}

/*
 * The calls "noread" repeats: NULL, or READDIRPLUS of @fh asking for
 * 1 MiB replies (what an allowed client can make the server build).
 */
static size_t
noread_calls(const char *fh_hex, uint8_t *out, size_t cap)
{
	static struct nfs3_args a;
	size_t len = 0;
	uint32_t i;

	memset(&a, 0, sizeof(a));
	a.proc = NFS3_PROC_NULL;
	if (fh_hex && parse_fh(fh_hex, &a.fh) == 0) {
		a.proc = NFS3_PROC_READDIRPLUS;
		a.count = 1u << 20;
		a.maxcount = 1u << 20;
	}
	for (i = 0; len + 256 <= cap; i++) {
		struct wcur w = wcur_init(out + len + 4, 252);

		call_hdr(&w, 900 + i, NFS3_PROG, NFS3_VERS, a.proc);
		if (a.proc != NFS3_PROC_NULL) {
			nfs3_args_build(&w, &a);
		}
		rpc_rm_marker(out + len, w.off);
		len += 4 + w.off;
	}
	return len;
}

static int
cmd_noread(char **args, int nargs)
{
	static int fds[PROBE_MAXCONN];
	static size_t at[PROBE_MAXCONN]; /* where in calls each stream is */
	static uint8_t calls[8192];
	size_t clen;
	uint64_t end, sent = 0;
	int n, i, open = 0, closed = 0;

	/*
	 * A small receive window: the server's replies stop fitting in the
	 * kernel's buffers at once.
	 */
	n = open_conns(
	    args, nargs, "noread PORT N SECONDS [FH]", 4096, fds, &end, &open);
	if (n < 0) {
		return 2;
	}
	clen = noread_calls(nargs > 3 ? args[3] : NULL, calls, sizeof(calls));
	while (now_ms() < end) {
		for (i = 0; i < n; i++) {
			ssize_t r;

			if (fds[i] < 0) {
				continue;
			}
			/* Whole records: a short send resumes where it was. */
			r = send(fds[i], calls + at[i], clen - at[i],
			    MSG_NOSIGNAL | MSG_DONTWAIT);
			if (r > 0) {
				sent += (uint64_t)r;
				at[i] = (at[i] + (size_t)r) % clen;
			} else if (r < 0 && errno != EAGAIN) {
				close(fds[i]);
				fds[i] = -1;
				closed++;
			}
		}
		usleep(10000);
	}
	close_conns(fds, n);
	printf("open %d closed %d sent %llu\n", open, closed,
	    (unsigned long long)sent);
	return 0;
}

/* WRITE calls of 60 KiB with FILE_SYNC over UDP, as fast as they go. */
static int
cmd_udpflood(char **args, int nargs)
{
	static uint8_t data[60 * 1024], req[62 * 1024];
	static struct nfs3_args a;
	struct sockaddr_in sa = {
	    .sin_family = AF_INET, .sin_port = htons(2049), .sin_addr = server};
	uint64_t end, sent = 0;
	int fd;

	if (nargs < 2 || parse_fh(args[0], &a.fh) < 0) {
		fprintf(stderr, "rpc_probe: udpflood FH SECONDS\n");
		return 2;
	}
	a.proc = NFS3_PROC_WRITE;
	a.data = data;
	a.data_len = a.count = sizeof(data);
	a.stable = NFS3_FILE_SYNC;
	fd = sock_open(SOCK_DGRAM);
	end = now_ms() + 1000 * strtoull(args[1], NULL, 0);
	while (fd >= 0 && now_ms() < end) {
		struct wcur w = wcur_init(req, sizeof(req));

		call_hdr(&w, opt.xid++, NFS3_PROG, NFS3_VERS, a.proc);
		nfs3_args_build(&w, &a);
		a.offset = (a.offset + sizeof(data)) % (64u << 20);
		if (sendto(fd, req, w.off, 0, (struct sockaddr *)&sa,
			sizeof(sa)) > 0) {
			sent++;
		}
	}
	printf("sent %llu\n", (unsigned long long)sent);
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int
cmd_ping(char **args, int nargs)
{
	static uint64_t lat[4096];
	uint8_t req[64], rep[256];
	struct wcur w = wcur_init(req, sizeof(req));
	uint16_t port;
	uint64_t end;
	size_t n = 0, lost = 0;

	if (nargs < 2) {
		fprintf(stderr, "rpc_probe: ping PORT SECONDS\n");
		return 2;
	}
	port = (uint16_t)strtoul(args[0], NULL, 0);
	end = now_ms() + 1000 * strtoull(args[1], NULL, 0);
	rpc_call_build(&w, 5, port == 111 ? PMAP_PROG : MNT_PROG,
	    port == 111 ? PMAP_VERS : MNT_VERS, 0, RPC_AUTH_NONE, NULL, 0);
	while (now_ms() < end && n < 4096) {
		uint64_t t0 = now_ms();

		if (udp_call(port, req, w.off, rep, sizeof(rep)) > 0) {
			lat[n++] = now_ms() - t0;
		} else {
			lost++;
		}
		usleep(20000);
	}
	if (n == 0) {
		printf("max none median none lost %zu\n", lost);
		return 1;
	}
	qsort(lat, n, sizeof(lat[0]), cmp_u64);
	printf("max %llu median %llu lost %zu\n",
	    (unsigned long long)lat[n - 1], (unsigned long long)lat[n / 2],
	    lost);
	return 0;
}

static int
suite(const char *export)
{
	static uint8_t req[4096], rep[70000];
	struct nfs3_fh root;
	struct nfs3_args a;
	struct wcur w;
	uint16_t nfs_tcp, nfs_udp, mnt_udp;
	uint32_t stat, x;
	size_t fhlen = 0;
	int n, n2, fd, i;

	nfs_tcp = (uint16_t)getport(NFS3_PROG, 3, PMAP_IPPROTO_TCP);
	nfs_udp = (uint16_t)getport(NFS3_PROG, 3, PMAP_IPPROTO_UDP);
	mnt_udp = (uint16_t)getport(MNT_PROG, 3, PMAP_IPPROTO_UDP);
	check("portmap GETPORT nfs tcp/udp and mount udp",
	    nfs_tcp == 2049 && nfs_udp == 2049 && mnt_udp != 0 &&
		getport(MNT_PROG, 3, PMAP_IPPROTO_TCP) == mnt_udp,
	    "ports missing");
	check("portmap GETPORT of an unknown program is 0",
	    getport(100021, 4, PMAP_IPPROTO_TCP) == 0, "NLM registered?");
	check("portmap GETPORT of another version gives the program's port",
	    getport(NFS3_PROG, 2, PMAP_IPPROTO_TCP) == 2049, "no port");

	/* SET from a remote address is refused; CALLIT is not offered. */
	w = wcur_init(req, sizeof(req));
	rpc_call_build(&w, 77, PMAP_PROG, PMAP_VERS, PMAP_PROC_SET,
	    RPC_AUTH_NONE, NULL, 0);
	pmap_mapping_build(&w, &(struct pmap_mapping){400000, 1, 6, 999});
	n = udp_call(111, req, w.off, rep, sizeof(rep));
	check("portmap SET from a remote address is refused",
	    reply_word(rep, n, 0) == 0, "SET accepted");
	w = wcur_init(req, sizeof(req));
	rpc_call_build(&w, 78, PMAP_PROG, PMAP_VERS, PMAP_PROC_CALLIT,
	    RPC_AUTH_NONE, NULL, 0);
	wcur_zero(&w, 16);
	n = udp_call(111, req, w.off, rep, sizeof(rep));
	{
		struct rpc_reply r;

		check("portmap CALLIT is PROC_UNAVAIL",
		    n > 0 && rpc_reply_parse(rep, (size_t)n, &r) == 0 &&
			r.stat == RPC_PROC_UNAVAIL,
		    "not refused");
	}

	/* MNT over UDP with AUTH_NULL, as klibc does. */
	w = wcur_init(req, sizeof(req));
	rpc_call_build(
	    &w, 79, MNT_PROG, MNT_VERS, MNT_PROC_MNT, RPC_AUTH_NONE, NULL, 0);
	rpc_put_string(&w, export);
	n = udp_call(mnt_udp, req, w.off, rep, sizeof(rep));
	{
		struct rpc_reply r;

		stat = 1;
		if (n > 0 && rpc_reply_parse(rep, (size_t)n, &r) == 0) {
			mnt_mnt_parse(
			    r.res, r.res_len, &stat, root.data, &fhlen);
		}
		root.len = (uint32_t)fhlen;
	}
	check("MNT over UDP with AUTH_NULL", stat == MNT3_OK, "no handle");
	if (stat != MNT3_OK) {
		return 1;
	}
	/* A path below the export that climbs out of it is refused. */
	{
		char up[1100];
		struct rpc_reply r;
		uint8_t fh2[64];
		size_t l2;
		uint32_t st2 = 0;

		snprintf(up, sizeof(up), "%s/../..", export);
		w = wcur_init(req, sizeof(req));
		rpc_call_build(&w, 80, MNT_PROG, MNT_VERS, MNT_PROC_MNT,
		    RPC_AUTH_NONE, NULL, 0);
		rpc_put_string(&w, up);
		n = udp_call(mnt_udp, req, w.off, rep, sizeof(rep));
		if (n > 0 && rpc_reply_parse(rep, (size_t)n, &r) == 0) {
			mnt_mnt_parse(r.res, r.res_len, &st2, fh2, &l2);
		}
		check("MNT of EXPORT/../.. is refused", st2 == MNT3ERR_ACCES,
		    "climbed out of the export");
	}

	/*
	 * CREATE then the same REMOVE twice over UDP from one socket, as a
	 * client retransmits: the DRC answers.
	 */
	fd = sock_open(SOCK_DGRAM);
	memset(&a, 0, sizeof(a));
	a.proc = NFS3_PROC_CREATE;
	a.where.dir = root;
	strcpy(a.where.name, "drc-file");
	a.createmode = NFS3_GUARDED;
	w = wcur_init(req, sizeof(req));
	call_hdr(&w, 500, NFS3_PROG, 3, NFS3_PROC_CREATE);
	nfs3_args_build(&w, &a);
	n = udp_xchg(fd, nfs_udp, req, w.off, rep, sizeof(rep));
	check("CREATE over UDP", reply_word(rep, n, 0) == NFS3_OK, "failed");
	n2 = udp_xchg(fd, nfs_udp, req, w.off, rep + 35000, 35000);
	check("retransmitted CREATE gets the original reply",
	    n2 == n && memcmp(rep, rep + 35000, (size_t)n) == 0,
	    "replayed: GUARDED create ran twice");
	a.proc = NFS3_PROC_REMOVE;
	w = wcur_init(req, sizeof(req));
	call_hdr(&w, 501, NFS3_PROG, 3, NFS3_PROC_REMOVE);
	nfs3_args_build(&w, &a);
	n = udp_xchg(fd, nfs_udp, req, w.off, rep, sizeof(rep));
	x = reply_word(rep, n, 0);
	n2 = udp_xchg(fd, nfs_udp, req, w.off, rep, sizeof(rep));
	check("retransmitted REMOVE gets NFS3_OK again, not NOENT",
	    x == NFS3_OK && reply_word(rep, n2, 0) == NFS3_OK, "not cached");
	close(fd);

	/* NFSACL on the NFS port: PROG_UNAVAIL over TCP. */
	fd = tcp_open(nfs_tcp);
	w = wcur_init(req + 4, sizeof(req) - 4);
	rpc_call_build(&w, 600, 100227, 3, 0, RPC_AUTH_NONE, NULL, 0);
	rpc_rm_marker(req, w.off);
	n = -1;
	if (fd >= 0 && send(fd, req, w.off + 4, 0) == (ssize_t)(w.off + 4)) {
		n = tcp_read_record(fd, rep, sizeof(rep));
	}
	{
		struct rpc_reply r;

		check("NFSACL probe is PROG_UNAVAIL",
		    n > 0 && rpc_reply_parse(rep, (size_t)n, &r) == 0 &&
			r.stat == RPC_PROG_UNAVAIL,
		    "no answer");
	}

	/* One GETATTR in three fragments. */
	{
		uint8_t frag[256], *p = req;
		struct wcur cw = wcur_init(frag, sizeof(frag));
		size_t parts[3], off = 0;

		memset(&a, 0, sizeof(a));
		a.proc = NFS3_PROC_GETATTR;
		a.fh = root;
		call_hdr(&cw, 601, NFS3_PROG, 3, NFS3_PROC_GETATTR);
		nfs3_args_build(&cw, &a);
		parts[0] = 10;
		parts[1] = 30;
		parts[2] = cw.off - 40;
		for (i = 0; i < 3; i++) {
			uint32_t m =
			    (uint32_t)parts[i] | (i == 2 ? RPC_RM_LAST : 0);

			p[0] = (uint8_t)(m >> 24);
			p[1] = (uint8_t)(m >> 16);
			p[2] = (uint8_t)(m >> 8);
			p[3] = (uint8_t)m;
			memcpy(p + 4, frag + off, parts[i]);
			p += 4 + parts[i];
			off += parts[i];
		}
		n = -1;
		if (fd >= 0 && send(fd, req, (size_t)(p - req), 0) > 0) {
			n = tcp_read_record(fd, rep, sizeof(rep));
		}
		check("GETATTR in three fragments",
		    reply_word(rep, n, 0) == NFS3_OK, "no reply");
	}

	/* Twenty calls in one write: twenty replies, any order. */
	{
		uint8_t *p = req;
		int got = 0, seen[20] = {0};

		for (i = 0; i < 20; i++) {
			struct wcur cw = wcur_init(p + 4, 200);

			call_hdr(&cw, 700 + (uint32_t)i, NFS3_PROG, 3,
			    NFS3_PROC_GETATTR);
			nfs3_args_build(&cw, &a);
			rpc_rm_marker(p, cw.off);
			p += 4 + cw.off;
		}
		if (fd >= 0 && send(fd, req, (size_t)(p - req), 0) > 0) {
			for (i = 0; i < 20; i++) {
				struct rpc_reply r;

				n = tcp_read_record(fd, rep, sizeof(rep));
				if (n > 0 &&
				    rpc_reply_parse(rep, (size_t)n, &r) == 0 &&
				    r.xid >= 700 && r.xid < 720 &&
				    !seen[r.xid - 700]) {
					seen[r.xid - 700] = 1;
					got++;
				}
			}
		}
		check("20 pipelined calls on one connection", got == 20,
		    "replies missing");
	}
	if (fd >= 0) {
		close(fd);
	}

	/* A record over the limit closes the connection. */
	fd = tcp_open(nfs_tcp);
	rpc_rm_marker(req, 64u << 20);
	n = -1;
	if (fd >= 0 && send(fd, req, 4, 0) == 4) {
		n = tcp_read_record(fd, rep, sizeof(rep));
	}
	check("record over the maximum closes the connection", n == 0,
	    "connection stayed open");
	if (fd >= 0) {
		close(fd);
	}
	return failures ? 1 : 0;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: rpc_probe [-p PORT|resv] [-b ADDRS] [-t] [-n] [-u UID] "
	    "[-g GID] [-G G1,G2] [-x XID] [-w SECONDS] SERVER COMMAND "
	    "ARGS...\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *cmd;
	char *tok, *save = NULL;
	size_t i;
	int c;

	strcpy(opt.cred.machine, "probe");
	opt.cred.stamp = 1;
	opt.xid = (uint32_t)getpid() * 7919u;
	while ((c = getopt(argc, argv, "p:b:tnu:g:G:x:w:")) != -1) {
		switch (c) {
		case 'b':
			for (tok = strtok_r(optarg, ",", &save);
			     tok && opt.nsrc < 64;
			     tok = strtok_r(NULL, ",", &save)) {
				if (inet_pton(AF_INET, tok,
					&opt.src[opt.nsrc]) != 1) {
					usage();
				}
				opt.nsrc++;
			}
			save = NULL;
			break;
		case 'p':
			opt.sport =
			    strcmp(optarg, "resv") == 0 ? 0 : atoi(optarg);
			break;
		case 't':
			opt.tcp = true;
			break;
		case 'n':
			opt.none = true;
			break;
		case 'u':
			opt.cred.uid = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'g':
			opt.cred.gid = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'G':
			for (tok = strtok_r(optarg, ",", &save);
			     tok && opt.cred.ngids < RPC_AUTH_SYS_NGIDS;
			     tok = strtok_r(NULL, ",", &save)) {
				opt.cred.gids[opt.cred.ngids++] =
				    (uint32_t)strtoul(tok, NULL, 0);
			}
			break;
		case 'x':
			opt.xid = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'w':
			opt.wait_ms = 1000 * atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (argc - optind < 2 ||
	    inet_pton(AF_INET, argv[optind], &server) != 1) {
		usage();
	}
	cmd = argv[optind + 1];
	argv += optind + 2;
	argc -= optind + 2;
	if (strcmp(cmd, "suite") == 0 && argc >= 1) {
		return suite(argv[0]);
	}
	if (strcmp(cmd, "mnt") == 0 && argc >= 1) {
		return cmd_mnt(argv[0]);
	}
	for (i = 0; i < sizeof(nfs_cmds) / sizeof(nfs_cmds[0]); i++) {
		if (strcmp(cmd, nfs_cmds[i].name) == 0) {
			return cmd_nfs(i, argv, argc);
		}
	}
	c = cmd_nfs_more(cmd, argv, argc);
	if (c >= 0) {
		return c;
	}
	if (strncmp(cmd, "pmap-", 5) == 0) {
		return cmd_pmap(cmd, argv, argc);
	}
	if (strcmp(cmd, "export") == 0 || strcmp(cmd, "dump") == 0) {
		return cmd_list(strcmp(cmd, "export") == 0);
	}
	if (strcmp(cmd, "race") == 0) {
		return cmd_race(argv, argc);
	}
	if (strcmp(cmd, "hold") == 0) {
		return cmd_hold(argv, argc);
	}
	if (strcmp(cmd, "noread") == 0) {
		return cmd_noread(argv, argc);
	}
	if (strcmp(cmd, "udpflood") == 0) {
		return cmd_udpflood(argv, argc);
	}
	if (strcmp(cmd, "ping") == 0) {
		return cmd_ping(argv, argc);
	}
	usage();
	return 2;
}
