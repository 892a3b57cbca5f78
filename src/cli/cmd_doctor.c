#include <arpa/inet.h>
#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/control.h"
#include "cli/exports.h"
#include "core/cfg.h"
#include "core/cur.h"
#include "image/provision/bootcheck.h"
#include "image/provision/fleet.h"
#include "proto/dhcp/dhcp.h"
#include "server/serve.h"

/*
 * `pinetboot doctor`: check the machine and the network before a first
 * boot, one line per finding with the fix.  It never changes anything.
 */

struct doctor {
	int fails, warns;
	bool server_running; /* our own server holds the ports */
};

static void __attribute__((format(printf, 3, 4)))
finding(struct doctor *d, const char *level, const char *fmt, ...)
{
	va_list ap;

	if (!strcmp(level, "FAIL")) {
		d->fails++;
	} else if (!strcmp(level, "warn")) {
		d->warns++;
	}
	printf("%-4s  ", level);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* @a/@b (and /@c unless NULL) into @dst; false when it does not fit. */
static bool
path_join(char *dst, size_t cap, const char *a, const char *b, const char *c)
{
	int n = snprintf(dst, cap, "%s/%s%s%s", a, b, c ? "/" : "", c ? c : "");

	return n >= 0 && (size_t)n < cap;
}

/* The process holding socket inode @ino, from /proc/PID/fd links. */
static void
doctor_socket_owner(unsigned long ino, char *name, size_t cap)
{
	char want[64], path[300], link[64];
	struct dirent *p, *f;
	DIR *procs, *fds;

	snprintf(name, cap, "another program");
	snprintf(want, sizeof(want), "socket:[%lu]", ino);
	procs = opendir("/proc");
	if (!procs) {
		return;
	}
	while ((p = readdir(procs))) {
		if (p->d_name[0] < '0' || p->d_name[0] > '9') {
			continue;
		}
		if (!path_join(path, sizeof(path), "/proc", p->d_name, "fd")) {
			continue;
		}
		fds = opendir(path);
		if (!fds) {
			continue;
		}
		while ((f = readdir(fds))) {
			ssize_t n;

			char fdpath[600];

			if (!path_join(fdpath, sizeof(fdpath), path, f->d_name,
				NULL)) {
				continue;
			}
			n = readlink(fdpath, link, sizeof(link) - 1);
			if (n <= 0) {
				continue;
			}
			link[n] = 0;
			if (strcmp(link, want) == 0) {
				FILE *c;

				c = path_join(fdpath, sizeof(fdpath), "/proc",
					p->d_name, "comm")
				    ? fopen(fdpath, "re")
				    : NULL;
				if (c && fgets(link, sizeof(link), c)) {
					link[strcspn(link, "\n")] = 0;
					snprintf(name, cap, "%.63s (pid %ld)",
					    link, atol(p->d_name));
				}
				if (c) {
					fclose(c);
				}
				closedir(fds);
				closedir(procs);
				return;
			}
		}
		closedir(fds);
	}
	closedir(procs);
}

/* Inode of a socket bound to @port in /proc/net/{udp,tcp}, or 0. */
static unsigned long
doctor_port_inode(bool tcp, uint16_t port)
{
	FILE *f = fopen(tcp ? "/proc/net/tcp" : "/proc/net/udp", "re");
	char line[512];
	unsigned long ino = 0;

	if (!f) {
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned lport, st;
		unsigned long i;

		if (sscanf(line,
			" %*d: %*x:%x %*x:%*x %x %*x:%*x %*x:%*x "
			"%*x %*u %*u %lu",
			&lport, &st, &i) != 3) {
			continue;
		}
		/* TCP: only listening sockets (state 0A) hold a port. */
		if (lport == port && (!tcp || st == 0x0a)) {
			ino = i;
			break;
		}
	}
	fclose(f);
	return ino;
}

static void
doctor_port(struct doctor *d, bool tcp, uint16_t port, const char *what)
{
	struct sockaddr_in sin = {
	    .sin_family = AF_INET, .sin_port = htons(port)};
	char owner[128];
	unsigned long ino;
	int fd, r;

	fd =
	    socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		finding(d, "warn", "cannot test %s port %u: %s",
		    tcp ? "TCP" : "UDP", port, strerror(errno));
		return;
	}
	r = bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	r = r < 0 ? errno : 0;
	close(fd);
	if (r == 0) {
		finding(d, "ok", "%s port %u (%s) is free", tcp ? "TCP" : "UDP",
		    port, what);
		return;
	}
	if (r == EACCES) {
		finding(d, "FAIL",
		    "%s port %u (%s) needs root or "
		    "CAP_NET_BIND_SERVICE: run as root",
		    tcp ? "TCP" : "UDP", port, what);
		return;
	}
	ino = doctor_port_inode(tcp, port);
	doctor_socket_owner(ino, owner, sizeof(owner));
	if (strncmp(owner, "pinetboot", 9) == 0) {
		finding(d, "ok", "%s port %u (%s) is served by %s",
		    tcp ? "TCP" : "UDP", port, what, owner);
		return;
	}
	finding(d, "FAIL",
	    "%s port %u (%s) is taken by %s: stop it, or "
	    "turn that service off in pinetboot",
	    tcp ? "TCP" : "UDP", port, what, owner);
}

/*
 * A firewall rule that drops or rejects our ports, from the ruleset text
 * of nft (or iptables-save).  This reads rules; it does not prove that
 * packets pass, so what it finds is a warning.
 */
static void
doctor_firewall(struct doctor *d)
{
	static const char *const cmds[] = {
	    "nft list ruleset 2>/dev/null",
	    "iptables-save 2>/dev/null",
	};
	static const char *const ports[] = {"67", "69", "111", "2049", "4011"};
	bool any = false;
	size_t i, j;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		FILE *p = popen(cmds[i], "r");
		char line[512];

		if (!p) {
			continue;
		}
		while (fgets(line, sizeof(line), p)) {
			bool drops = strstr(line, "drop") ||
			    strstr(line, "DROP") || strstr(line, "reject") ||
			    strstr(line, "REJECT");

			if (!drops) {
				continue;
			}
			any = true;
			if (strstr(line, "policy drop") ||
			    strstr(line, ":INPUT DROP")) {
				finding(d, "warn",
				    "firewall input policy is "
				    "drop: allow UDP 67, 69, 4011 and TCP/UDP "
				    "111, 2049 from the boot network");
				continue;
			}
			for (j = 0; j < sizeof(ports) / sizeof(ports[0]); j++) {
				char a[32], b[32];

				snprintf(a, sizeof(a), "dport %s ", ports[j]);
				snprintf(b, sizeof(b), "--dport %s ", ports[j]);
				if (strstr(line, a) || strstr(line, b)) {
					line[strcspn(line, "\n")] = 0;
					finding(d, "warn",
					    "firewall rule drops "
					    "port %s: '%s': remove it or allow "
					    "the boot network",
					    ports[j], line);
				}
			}
		}
		pclose(p);
	}
	if (!any) {
		finding(d, "ok", "no firewall rule drops boot traffic");
	}
}

/*
 * Each provisioned client's boot tree must hold what its firmware asks
 * for (reference §3.4): config.txt and cmdline.txt always; start4.elf
 * keeps a Pi 4's per-serial prefix, start.elf a Pi 2/3's; a kernel and a
 * device tree.
 */
/* Is @name among @files? */
static bool
files_have(char **files, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(files[i], name) == 0) {
			return true;
		}
	}
	return false;
}

/* Does a name in @files start with @prefix? */
static bool
files_have_prefix(char **files, size_t n, const char *prefix)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strncmp(files[i], prefix, strlen(prefix)) == 0) {
			return true;
		}
	}
	return false;
}

static void
doctor_clients(struct doctor *d, const char *state_dir)
{
	char dir[PATH_MAX], msg[512];
	struct dirent *e;
	DIR *dd;
	int n = 0;

	dd = path_join(dir, sizeof(dir), state_dir, "clients", NULL)
	    ? opendir(dir)
	    : NULL;
	if (!dd) {
		finding(d, "info",
		    "no clients provisioned yet: pinetboot "
		    "client add NAME --serial HEX8 --image IMAGE");
		return;
	}
	while ((e = readdir(dd))) {
		bool pi4, pi3, kernel, dtb;
		char **files = NULL;
		size_t nf = 0;

		if (e->d_name[0] == '.') {
			continue;
		}
		n++;
		/* A layered client's boot tree is its layer over its version.
		 */
		if (prov_cl_boot_files(state_dir, e->d_name, &files, &nf, msg,
			sizeof(msg)) < 0) {
			finding(d, "FAIL", "client %s: %s", e->d_name, msg);
			continue;
		}
		pi4 = files_have(files, nf, "start4.elf");
		pi3 = files_have(files, nf, "start.elf");
		kernel = files_have_prefix(files, nf, "kernel");
		dtb = files_have_prefix(files, nf, "bcm27");
		if (!files_have(files, nf, "config.txt") ||
		    !files_have(files, nf, "cmdline.txt")) {
			finding(d, "FAIL",
			    "client %s: its boot tree lacks "
			    "config.txt or cmdline.txt: re-add the client from "
			    "a complete image",
			    e->d_name);
		} else if (!kernel || !dtb) {
			finding(d, "FAIL",
			    "client %s: boot tree lacks a "
			    "kernel*.img or bcm27*.dtb: the image has no "
			    "Raspberry Pi kernel",
			    e->d_name);
		} else if (!pi4 && !pi3) {
			finding(d, "warn",
			    "client %s: no start4.elf or "
			    "start.elf: Pi 2-4 firmware drops the serial "
			    "prefix and loads the root's files instead; Pi 5 "
			    "is unaffected",
			    e->d_name);
		} else {
			finding(d, "ok",
			    "client %s: boot tree has the files for %s",
			    e->d_name,
			    pi4 && pi3 ? "Pi 2 to Pi 5"
				: pi4  ? "Pi 4 and Pi 5"
				       : "Pi 2 and Pi 3");
		}
		prov_names_free(files, nf);
	}
	closedir(dd);
	if (n == 0) {
		finding(d, "info",
		    "no clients provisioned yet: pinetboot "
		    "client add NAME --serial HEX8 --image IMAGE");
	}
}

/*
 * The state directory holds every client's root, with the Pis'
 * setuid-root programs, device nodes and users' homes: local users of
 * this machine must not reach it (issue 10), and should one get in, its
 * file system should not honour what they find.
 */
static void
doctor_state_dir(struct doctor *d, const char *state_dir)
{
	static const char *const subs[] = {NULL, "clients", "images"};
	bool open_found = false;
	struct statvfs vfs;
	size_t i;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		char path[PATH_MAX];
		struct stat st;
		int n = snprintf(path, sizeof(path), "%s%s%s", state_dir,
		    subs[i] ? "/" : "", subs[i] ? subs[i] : "");

		if (n < 0 || (size_t)n >= sizeof(path) || stat(path, &st) < 0) {
			if (!subs[i]) {
				finding(d, "info",
				    "state directory %s does not exist yet: "
				    "pinetboot serve makes it, mode 0700",
				    state_dir);
				return;
			}
			continue;
		}
		if (st.st_mode & 077) {
			open_found = true;
			finding(d, "warn",
			    "%s is mode %04o: local users can reach the "
			    "client roots in it (setuid programs, device "
			    "nodes, the Pis' users' homes): chmod 700 %s "
			    "(pinetboot serve does it at start)",
			    path, (unsigned)(st.st_mode & 07777), path);
		}
		if (st.st_uid != 0 && st.st_uid != geteuid()) {
			open_found = true;
			finding(d, "warn",
			    "%s is owned by uid %u: that user can open it "
			    "again and reach every client root: chown root "
			    "%s",
			    path, (unsigned)st.st_uid, path);
		}
	}
	if (statvfs(state_dir, &vfs) == 0 &&
	    (vfs.f_flag & (ST_NOSUID | ST_NODEV)) != (ST_NOSUID | ST_NODEV)) {
		finding(d, "warn",
		    "the file system holding %s is mounted without "
		    "nosuid,nodev: should a local user get in, a client's "
		    "setuid programs and device nodes work on this machine "
		    "too; mount %s with nosuid,nodev (a bind mount of "
		    "itself will do; docs/security.md)",
		    state_dir, state_dir);
		return;
	}
	if (!open_found) {
		finding(d, "ok",
		    "state directory %s is root's alone (0700, and its "
		    "clients/ and images/) on a file system mounted "
		    "nosuid,nodev",
		    state_dir);
	}
}

struct doctor_boot {
	struct doctor *d;
	const char *client;
};

static void
doctor_boot_finding(void *arg, const struct prov_boot_finding *f)
{
	const struct doctor_boot *b = arg;
	char text[1024];

	prov_boot_describe(f, text, sizeof(text));
	finding(b->d, "warn", "client %s: %s", b->client, text);
}

/*
 * Boot trees that hold every file and still stop some Pis (reference §9
 * items 2 and 3): no D0 overlay for a Pi 5, a file too large for a Pi
 * 4's start4.elf.  Each Pi writes to its own boot tree (the boot mount),
 * so a kernel or initramfs update there can bring either about.  The
 * model is not known, so these are warnings.
 */
static void
doctor_boot_limits(struct doctor *d, const char *state_dir)
{
	char dir[PATH_MAX], boot[PATH_MAX];
	struct dirent *e;
	DIR *dd;

	dd = path_join(dir, sizeof(dir), state_dir, "clients", NULL)
	    ? opendir(dir)
	    : NULL;
	while (dd && (e = readdir(dd))) {
		struct doctor_boot b = {.d = d, .client = e->d_name};

		/*
		 * A layered client's own boot files are in its layer (a kernel
		 * or initramfs it updated); its version's were checked at
		 * import.
		 */
		if (e->d_name[0] != '.' &&
		    path_join(boot, sizeof(boot), dir, e->d_name, "boot") &&
		    (access(boot, F_OK) == 0 ||
			path_join(boot, sizeof(boot), dir, e->d_name,
			    "layer/boot"))) {
			prov_boot_check_dir(boot, doctor_boot_finding, &b);
		}
	}
	if (dd) {
		closedir(dd);
	}
}

/*
 * Did the running server (its status JSON, @json, NUL-terminated) note in
 * @name's timeline that it saw a REQUEST but not the ACK?  Client names
 * are letters, digits, '.', '-' and '_', so no escape hides one.
 */
static bool
doctor_ack_unseen(const char *json, const char *name)
{
	char key[REGISTRY_NAME_MAX + 16];
	const char *c, *next;

	if (!json) {
		return false;
	}
	snprintf(key, sizeof(key), "{\"name\":\"%s\",", name);
	c = strstr(json, key);
	if (!c) {
		return false;
	}
	next = strstr(c + 1, "{\"name\":");
	c = strstr(c, "\"event\":\"ack-unseen\"");
	return c && (!next || c < next);
}

/*
 * Which clients have no static address, and what that means in this
 * DHCP mode: without one, DHCP decides who may mount the root.
 */
static void
doctor_exports(struct doctor *d, const struct cfg *c, const char *json)
{
	struct registry reg;
	size_t i, unpinned = 0;

	if (registry_load(c->state_dir, &reg, NULL, NULL) < 0) {
		return;
	}
	for (i = 0; i < reg.n; i++) {
		const struct registry_client *rc = &reg.clients[i];

		if (rc->addr.s_addr) {
			continue;
		}
		unpinned++;
		finding(d, c->dhcp_mode == CFG_DHCP_SERVER ? "info" : "warn",
		    "client %s: %s", rc->name,
		    cli_export_note(false, rc->has_mac,
			(enum cli_export_mode)c->dhcp_mode));
		if (doctor_ack_unseen(json, rc->name)) {
			finding(d, "warn",
			    "client %s: the running server saw its DHCP "
			    "REQUEST but not the ACK (sent to the Pi alone), "
			    "so "
			    "its root is not exported; set address = IP in "
			    "%s/clients/%s/client.conf",
			    rc->name, c->state_dir, rc->name);
		}
	}
	if (reg.n) {
		finding(d, unpinned ? "info" : "ok",
		    "%zu of %zu clients have a static address (exports to "
		    "that address only)",
		    reg.n - unpinned, reg.n);
	}
	registry_fini(&reg);
}

/* How long other DHCP servers get to answer the probe. */
#define DOCTOR_DHCP_WAIT_MS 3000

/*
 * Broadcast one DHCPDISCOVER from a random, locally administered MAC and
 * list the servers that offer something.  The probe asks for no PXE
 * options, so our own proxyDHCP stays silent and any answer is from a
 * server that hands out addresses.
 */
static void
doctor_dhcp_servers(struct doctor *d, const struct serve *s)
{
	struct sockaddr_in to = {.sin_family = AF_INET,
	    .sin_port = htons(67),
	    .sin_addr.s_addr = htonl(INADDR_BROADCAST)};
	struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(68)};
	uint8_t pkt[300], mac[6];
	uint32_t xid, seen[16];
	size_t nseen = 0, i;
	struct wcur w = wcur_init(pkt, sizeof(pkt));
	struct timespec t0, t1;
	int fd, one = 1;

	if (getrandom(mac, sizeof(mac), 0) != sizeof(mac) ||
	    getrandom(&xid, sizeof(xid), 0) != sizeof(xid)) {
		return;
	}
	mac[0] = (uint8_t)((mac[0] & 0xfe) | 0x02);
	wcur_u8(&w, 1); /* BOOTREQUEST */
	wcur_u8(&w, 1); /* Ethernet */
	wcur_u8(&w, 6);
	wcur_u8(&w, 0);
	wcur_be32(&w, xid);
	wcur_be16(&w, 0);
	wcur_be16(&w, 0x8000); /* broadcast: we have no address */
	wcur_zero(&w, 16);
	wcur_bytes(&w, mac, 6);
	wcur_zero(&w, 10 + 64 + 128);
	wcur_be32(&w, 0x63825363);
	wcur_bytes(&w, "\x35\x01\x01\x37\x03\x01\x03\x06\xff", 9);
	/* Pad to the 300 bytes of a BOOTP message (RFC 951). */
	wcur_zero(&w, wcur_left(&w));

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, s->ifname,
	    (socklen_t)strlen(s->ifname));
	if (bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
		finding(d, "info",
		    "cannot probe for other DHCP servers: UDP "
		    "port 68 is in use (%s)",
		    strerror(errno));
		close(fd);
		return;
	}
	if (sendto(fd, pkt, w.off, 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
		finding(d, "info", "cannot probe for other DHCP servers: %s",
		    strerror(errno));
		close(fd);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		uint8_t buf[1500];
		struct dhcp_msg m;
		uint32_t sid;
		long waited;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &t1);
		waited = (t1.tv_sec - t0.tv_sec) * 1000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (waited >= DOCTOR_DHCP_WAIT_MS ||
		    poll(&pfd, 1, (int)(DOCTOR_DHCP_WAIT_MS - waited)) <= 0) {
			break;
		}
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0 || dhcp_parse(buf, (size_t)n, &m) < 0 || m.op != 2 ||
		    m.xid != xid || memcmp(m.chaddr, mac, 6) || m.type != 2 ||
		    !dhcp_opt_addr(&m, 54, &sid) ||
		    htonl(sid) == s->addr.s_addr) {
			continue;
		}
		for (i = 0; i < nseen && seen[i] != sid; i++) {
		}
		if (i < nseen || nseen == 16) {
			continue;
		}
		seen[nseen++] = sid;
	}
	close(fd);
	for (i = 0; i < nseen; i++) {
		struct in_addr a = {.s_addr = htonl(seen[i])};
		char ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &a, ip, sizeof(ip));
		if (s->cfg->dhcp_mode == CFG_DHCP_SERVER) {
			finding(d, "FAIL",
			    "another DHCP server, %s, answers on "
			    "%s: with --dhcp server that is a conflict; stop "
			    "it, or use --dhcp proxy beside it",
			    ip, s->ifname);
		} else {
			finding(d, "ok",
			    "DHCP server %s answers on %s: "
			    "proxyDHCP will add the boot options beside it",
			    ip, s->ifname);
		}
	}
	if (nseen == 0 && s->cfg->dhcp_mode == CFG_DHCP_PROXY) {
		finding(d, "warn",
		    "no DHCP server answered on %s within %d s: "
		    "proxy mode needs one; on a dedicated boot network use "
		    "--dhcp server --dhcp-range FIRST,LAST",
		    s->ifname, DOCTOR_DHCP_WAIT_MS / 1000);
	} else if (nseen == 0) {
		finding(
		    d, "ok", "no other DHCP server answers on %s", s->ifname);
	}
}

static void
doctor_usage(void)
{
	printf("Usage: pinetboot doctor [--interface IF] [--address IP]\n"
	       "                        [--dhcp off|proxy|server] "
	       "[--state-dir DIR]\n"
	       "\n"
	       "Check this machine and its network before a first boot: the\n"
	       "address and interface, ports 67, 69, 111 and 2049, firewall\n"
	       "rules, who can reach the state directory, and each client's\n"
	       "boot tree.  One line per finding, with the fix.  Exits 1\n"
	       "when something would stop a boot.\n");
}

int
cli_doctor(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"interface", required_argument, NULL, 'i'},
	    {"address", required_argument, NULL, 'a'},
	    {"dhcp", required_argument, NULL, 'd'},
	    {"state-dir", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct serve s = {0};
	struct doctor d = {0};
	char msg[512], addr[INET_ADDRSTRLEN];
	struct buf body;
	bool resolved;
	int ch, status = 0;

	s.cfg = calloc(1, sizeof(*s.cfg));
	if (!s.cfg) {
		return 1;
	}
	cfg_defaults(s.cfg);
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		const char *key = ch == 'i' ? "interface"
		    : ch == 'a'             ? "address"
		    : ch == 's'             ? "state_dir"
					    : "mode";
		const char *sec = ch == 'd' ? "dhcp" : "server";

		if (ch == 'h') {
			doctor_usage();
			free(s.cfg);
			return 0;
		}
		if (ch == ':' || ch == '?') {
			free(s.cfg);
			return cli_usage_error("doctor",
			    ch == ':' ? "option "
					"'%s' needs a value"
				      : "unknown option '%s'",
			    argv[optind - 1]);
		}
		if (cfg_set(s.cfg, sec, key, optarg, msg, sizeof(msg)) < 0) {
			free(s.cfg);
			return cli_usage_error("doctor", "%s", msg);
		}
	}
	if (optind < argc) {
		free(s.cfg);
		return cli_usage_error(
		    "doctor", "unexpected argument '%s'", argv[optind]);
	}

	resolved = serve_resolve_net(&s, msg, sizeof(msg)) == 0;
	if (!resolved) {
		finding(&d, "FAIL", "%s", msg);
	} else {
		inet_ntop(AF_INET, &s.addr, addr, sizeof(addr));
		finding(&d, "ok", "serving on %s address %s (MTU %u)", s.ifname,
		    addr, s.mtu);
		if (s.mtu < 1500) {
			finding(&d, "warn",
			    "MTU %u is below 1500: TFTP blocks "
			    "shrink to %u bytes and boots slow down",
			    s.mtu, s.mtu - 32);
		}
	}

	buf_init(&body, 16u << 20);
	d.server_running = cli_control_request(s.cfg->state_dir, "GET",
			       "/api/status", &body, &status) == 0 &&
	    buf_add(&body, "", 1) == 0;
	finding(&d, "info",
	    d.server_running ? "a pinetboot server is running "
			       "with state directory %s"
			     : "no pinetboot server is running with "
			       "state directory %s",
	    s.cfg->state_dir);

	if (s.cfg->dhcp_mode != CFG_DHCP_OFF) {
		doctor_port(&d, false, 67, "DHCP");
	}
	if (s.cfg->dhcp_mode == CFG_DHCP_PROXY) {
		doctor_port(&d, false, 4011, "proxyDHCP");
	}
	doctor_port(&d, false, 69, "TFTP");
	doctor_port(&d, true, 111, "portmapper");
	doctor_port(&d, false, 111, "portmapper");
	doctor_port(&d, true, 2049, "NFS");
	doctor_port(&d, false, 2049, "NFS");
	doctor_firewall(&d);
	if (resolved && s.cfg->dhcp_mode != CFG_DHCP_OFF) {
		doctor_dhcp_servers(&d, &s);
	}
	doctor_state_dir(&d, s.cfg->state_dir);
	doctor_clients(&d, s.cfg->state_dir);
	doctor_boot_limits(&d, s.cfg->state_dir);
	doctor_exports(&d, s.cfg,
	    d.server_running && status == 200 ? (const char *)body.p : NULL);
	buf_fini(&body);

	printf("%d problem%s, %d warning%s\n", d.fails, d.fails == 1 ? "" : "s",
	    d.warns, d.warns == 1 ? "" : "s");
	free(s.cfg);
	return d.fails ? 1 : 0;
}
