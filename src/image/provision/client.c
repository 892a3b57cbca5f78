#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "image/provision/prov.h"
#include "image/provision/tree.h"
#include "image/provision/version.h"

/*
 * Units that only make sense on an SD card: the first-boot resize of the
 * root partition and swap files (swap over NFS is slow and risky).
 * Reference §5.2 and pi-gen's stage2/01-sys-tweaks on each branch.
 */
static const char *const masked_units[] = {
    "resize2fs_once.service",
    "rpi-resize.service",
    "dphys-swapfile.service",
    "rpi-resize-swap-file.service",
};

static bool
hex8_ok(const char *s, char out[9])
{
	size_t i;

	if (strlen(s) != 8) {
		return false;
	}
	for (i = 0; i < 8; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'F') {
			c = (char)(c + 32);
		}
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return false;
		}
		out[i] = c;
	}
	out[8] = '\0';
	return true;
}

static bool
mac_ok(const char *s, char out[18])
{
	unsigned b[6];
	char sep[5], end;
	int i;

	if (strlen(s) != 17 ||
	    sscanf(s, "%2x%c%2x%c%2x%c%2x%c%2x%c%2x%c", &b[0], &sep[0], &b[1],
		&sep[1], &b[2], &sep[2], &b[3], &sep[3], &b[4], &sep[4], &b[5],
		&end) != 11) {
		return false;
	}
	for (i = 0; i < 5; i++) {
		if (sep[i] != ':' && sep[i] != '-') {
			return false;
		}
	}
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2],
	    b[3], b[4], b[5]);
	return true;
}

static bool
hostname_ok(const char *h)
{
	size_t i, n = strlen(h), label = 0;

	if (n == 0 || n > 253) {
		return false;
	}
	for (i = 0; i < n; i++) {
		char c = h[i];

		if (c == '.') {
			if (label == 0 || h[i - 1] == '-') {
				return false;
			}
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || (c == '-' && label > 0))) {
			return false;
		}
		if (++label > 63) {
			return false;
		}
	}
	return label > 0 && h[n - 1] != '-';
}

/* userconf.txt rules (reference §5.2): name:hash, one line. */
static bool
user_ok(const char *u)
{
	const char *colon = strchr(u, ':');
	size_t i, n;

	if (!colon || colon == u || colon - u > 31 || !colon[1] ||
	    strpbrk(colon + 1, ":\n\r \t")) {
		return false;
	}
	n = (size_t)(colon - u);
	if (!(u[0] >= 'a' && u[0] <= 'z')) {
		return false;
	}
	for (i = 0; i < n; i++) {
		if (!((u[i] >= 'a' && u[i] <= 'z') ||
			(u[i] >= '0' && u[i] <= '9') || u[i] == '-')) {
			return false;
		}
	}
	return true;
}

/* The IPv4 address of the interface holding the default route. */
static bool
guess_server(char *out, size_t cap)
{
	FILE *f = fopen("/proc/net/route", "r");
	char line[256], ifname[IF_NAMESIZE + 1] = "";
	struct ifaddrs *ifa = NULL, *i;
	bool found = false;

	if (!f) {
		return false;
	}
	while (fgets(line, sizeof(line), f)) {
		char name[64];
		unsigned dest;

		if (sscanf(line, "%63s %x", name, &dest) == 2 && dest == 0) {
			snprintf(
			    ifname, sizeof(ifname), "%.*s", IF_NAMESIZE, name);
			break;
		}
	}
	fclose(f);
	if (!ifname[0] || getifaddrs(&ifa) < 0) {
		return false;
	}
	for (i = ifa; i && !found; i = i->ifa_next) {
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    !strcmp(i->ifa_name, ifname)) {
			inet_ntop(AF_INET,
			    &((struct sockaddr_in *)i->ifa_addr)->sin_addr, out,
			    (socklen_t)cap);
			found = true;
		}
	}
	freeifaddrs(ifa);
	return found;
}

static int
read_rec_file(const char *path, char **text, struct rec *rec)
{
	FILE *f = fopen(path, "r");
	size_t n;
	unsigned line;

	*text = NULL;
	if (!f) {
		return -errno;
	}
	*text = malloc(REC_MAX_BYTES + 1);
	if (!*text) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(*text, 1, REC_MAX_BYTES + 1, f);
	fclose(f);
	(*text)[n > REC_MAX_BYTES ? REC_MAX_BYTES : n] = '\0';
	return rec_parse(*text, n, rec, &line);
}

/*
 * Check @c against every existing client record: serial, MAC, address
 * and hostname must be unique.  Also answers "which clients use image X".
 */
static int
scan_clients(const char *state, const char *image, const char *serial,
    const char *mac, const char *address, char *msg, size_t msglen)
{
	char dir[PATH_MAX], path[PATH_MAX + 64], *text = NULL;
	struct rec rec;
	DIR *d;
	struct dirent *e;
	size_t used = 0;
	int r = 0;

	snprintf(dir, sizeof(dir), "%s/clients", state);
	d = opendir(dir);
	if (!d) {
		return 0;
	}
	while ((e = readdir(d)) != NULL) {
		char v[REC_MAX_VALUE + 1];
		const char *clash = NULL;

		if (e->d_name[0] == '.') {
			continue;
		}
		if (snprintf(path, sizeof(path), "%s/%s/client.conf", dir,
			e->d_name) >= (int)sizeof(path) ||
		    read_rec_file(path, &text, &rec) < 0) {
			free(text);
			continue;
		}
		if (image && rec_get(&rec, "image", v, sizeof(v)) &&
		    !strcmp(v, image)) {
			used += (size_t)snprintf(msg + used,
			    used < msglen ? msglen - used : 0, "%s%s",
			    used ? ", " : "", e->d_name);
			if (used >= msglen) {
				used = msglen - 1;
			}
			r = -EBUSY;
		}
		if (serial && rec_get(&rec, "serial", v, sizeof(v)) &&
		    !strcmp(v, serial)) {
			clash = "serial";
		} else if (mac && mac[0] &&
		    rec_get(&rec, "mac", v, sizeof(v)) && !strcmp(v, mac)) {
			clash = "MAC address";
		} else if (address && address[0] &&
		    rec_get(&rec, "address", v, sizeof(v)) &&
		    !strcmp(v, address)) {
			clash = "IP address";
		}
		free(text);
		if (clash) {
			snprintf(msg, msglen,
			    "client '%s' already has this %s; remove it or "
			    "pick another",
			    e->d_name, clash);
			r = -EEXIST;
			break;
		}
	}
	closedir(d);
	return r;
}

static int
symlink_in(int rootfd, const char *dir, const char *name, const char *target)
{
	int fd = tree_open_dir(rootfd, dir), r = 0;

	if (fd < 0) {
		return fd;
	}
	if (unlinkat(fd, name, 0) < 0 && errno != ENOENT) {
		r = -errno;
	} else if (symlinkat(target, fd, name) < 0) {
		r = -errno;
	}
	close(fd);
	return r;
}

static int
mkdir_in(int rootfd, const char *parent, const char *name, mode_t mode)
{
	int fd = tree_open_dir(rootfd, parent), r = 0;

	if (fd < 0) {
		return fd;
	}
	if (mkdirat(fd, name, mode) < 0 && errno != EEXIST) {
		r = -errno;
	}
	close(fd);
	return r;
}

/* Remove the *.wants/ links to @unit and mask it. */
static int
mask_unit(int rootfd, const char *unit)
{
	int fd = tree_open_dir(rootfd, "etc/systemd/system");
	DIR *d;
	struct dirent *e;

	if (fd < 0) {
		return fd == -ENOENT ? 0 : fd;
	}
	d = tree_dir_stream(fd);
	while (d && (e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		int w;

		if (n < 6 || strcmp(e->d_name + n - 6, ".wants") != 0) {
			continue;
		}
		w = openat(fd, e->d_name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (w >= 0) {
			unlinkat(w, unit, 0);
			close(w);
		}
	}
	if (d) {
		closedir(d);
	}
	close(fd);
	return symlink_in(rootfd, "etc/systemd/system", unit, "/dev/null");
}

static int
edit_hosts(int rootfd, const char *hostname)
{
	char *old = tree_read_file(rootfd, "etc/hosts", 1u << 20, NULL);
	char *out;
	const char *p;
	size_t o = 0, cap;
	bool done = false;
	int r;

	if (!old) {
		old = strdup("127.0.0.1\tlocalhost\n");
		if (!old) {
			return -ENOMEM;
		}
	}
	cap = strlen(old) + strlen(hostname) + 64;
	out = malloc(cap);
	if (!out) {
		free(old);
		return -ENOMEM;
	}
	for (p = old; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len >= 9 && !strncmp(p, "127.0.1.1", 9) &&
		    (p[9] == ' ' || p[9] == '\t')) {
			if (!done) {
				o += (size_t)snprintf(out + o, cap - o,
				    "127.0.1.1\t%s\n", hostname);
				done = true;
			}
		} else {
			memcpy(out + o, p, len);
			o += len;
			out[o++] = '\n';
		}
		p += len + (nl ? 1 : 0);
	}
	if (!done) {
		o += (size_t)snprintf(
		    out + o, cap - o, "127.0.1.1\t%s\n", hostname);
	}
	r = tree_write_file(rootfd, "etc/hosts", out, o, 0644);
	free(out);
	free(old);
	return r;
}

static int
remove_host_keys(int rootfd)
{
	int fd = tree_open_dir(rootfd, "etc/ssh");
	DIR *d;
	struct dirent *e;

	if (fd < 0) {
		return 0;
	}
	d = tree_dir_stream(fd);
	while (d && (e = readdir(d)) != NULL) {
		if (!strncmp(e->d_name, "ssh_host_", 9)) {
			unlinkat(fd, e->d_name, 0);
		}
	}
	if (d) {
		closedir(d);
	}
	close(fd);
	return 0;
}

/* Install authorized keys for root, and for @user when the image has it. */
static int
install_keys(int rootfd, const char *keys, size_t len, const char *user)
{
	char *passwd = tree_read_file(rootfd, "etc/passwd", 1u << 20, NULL);
	char home[PATH_MAX] = "root", rel[PATH_MAX + 32];
	unsigned uid = 0, gid = 0;
	int pass, r = 0;

	for (pass = 0; pass < 2 && r == 0; pass++) {
		if (pass == 1) {
			char *p = passwd;
			size_t ul;

			if (!user || !passwd) {
				break;
			}
			ul = strcspn(user, ":");
			home[0] = '\0';
			while (p && *p) {
				char name[64], dir[PATH_MAX];

				if (sscanf(p,
					"%63[^:]:%*[^:]:%u:%u:%*[^:]:%4095[^:]",
					name, &uid, &gid, dir) == 4 &&
				    strlen(name) == ul &&
				    !strncmp(name, user, ul) && dir[0] == '/') {
					snprintf(
					    home, sizeof(home), "%s", dir + 1);
					break;
				}
				p = strchr(p, '\n');
				p = p ? p + 1 : NULL;
			}
			if (!home[0]) {
				break;
			}
		}
		r = mkdir_in(rootfd, home, ".ssh", 0700);
		if (r == 0) {
			snprintf(
			    rel, sizeof(rel), "%s/.ssh/authorized_keys", home);
			r = tree_write_file(rootfd, rel, keys, len, 0600);
		}
		if (r == 0) {
			int fd;

			snprintf(rel, sizeof(rel), "%s/.ssh", home);
			fd = tree_open_dir(rootfd, rel);
			if (fd >= 0) {
				if (fchown(fd, uid, gid) < 0 ||
				    fchownat(fd, "authorized_keys", uid, gid,
					AT_SYMLINK_NOFOLLOW) < 0) {
					r = -errno;
				}
				close(fd);
			}
		}
	}
	free(passwd);
	return r;
}

struct edit_ctx {
	const struct prov_client *c;
	const char *hostname, *server, *boot_mount;
	char root_path[PATH_MAX], boot_path[PATH_MAX];
	const char *keys;
	size_t keys_len;
	unsigned version;
	struct prov_client_info *info;
};

static int
apply_edits(
    struct edit_ctx *x, int bootfd, int rootfd, char *msg, size_t msglen)
{
	char *text, *fstab, id[33];
	uint8_t rnd[16];
	size_t i;
	int r;

	/* boot: cmdline.txt for an NFS root (reference §4.1, §5.2). */
	text = tree_read_file(bootfd, "cmdline.txt", 4096, NULL);
	if (!text) {
		snprintf(
		    msg, msglen, "the image's boot files have no cmdline.txt");
		return -ENOENT;
	}
	r = prov_edit_cmdline(text, x->server, x->root_path, x->info->cmdline,
	    sizeof(x->info->cmdline));
	free(text);
	if (r == 0) {
		r = tree_write_file(bootfd, "cmdline.txt", x->info->cmdline,
		    strlen(x->info->cmdline), 0644);
	}
	if (r == 0 && x->c->ssh) {
		r = tree_write_file(bootfd, "ssh", "", 0, 0644);
	}
	if (r == 0 && x->c->user) {
		char line[512];
		int n = snprintf(line, sizeof(line), "%s\n", x->c->user);

		r = tree_write_file(
		    bootfd, "userconf.txt", line, (size_t)n, 0600);
	}
	if (r < 0) {
		snprintf(
		    msg, msglen, "editing the boot files: %s", strerror(-r));
		return r;
	}
	/* root: fstab without the SD card's / and boot mounts. */
	text = tree_read_file(rootfd, "etc/fstab", 1u << 20, NULL);
	fstab = prov_edit_fstab(text ? text : "proc /proc proc defaults 0 0\n",
	    x->boot_mount, x->server, x->boot_path);
	free(text);
	r = fstab
	    ? tree_write_file(rootfd, "etc/fstab", fstab, strlen(fstab), 0644)
	    : -ENOMEM;
	free(fstab);
	if (r < 0) {
		goto fail;
	}
	{
		char line[300];
		int n = snprintf(line, sizeof(line), "%s\n", x->hostname);

		r = tree_write_file(
		    rootfd, "etc/hostname", line, (size_t)n, 0644);
	}
	if (r == 0) {
		r = edit_hosts(rootfd, x->hostname);
	}
	if (r < 0) {
		goto fail;
	}
	/* A fresh machine-id, so no two clients share one. */
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		r = -EIO;
		goto fail;
	}
	for (i = 0; i < 16; i++) {
		snprintf(id + 2 * i, 3, "%02x", rnd[i]);
	}
	id[32] = '\n';
	r = tree_write_file(rootfd, "etc/machine-id", id, 33, 0444);
	if (r == 0) {
		/* D-Bus keeps a copy unless it is a link (PiServer links). */
		int dfd = tree_open_dir(rootfd, "var/lib/dbus");
		struct stat ds;

		if (dfd >= 0 &&
		    fstatat(dfd, "machine-id", &ds, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(ds.st_mode)) {
			r = symlink_in(rootfd, "var/lib/dbus", "machine-id",
			    "/etc/machine-id");
		}
		if (dfd >= 0) {
			close(dfd);
		}
	}
	if (r < 0) {
		goto fail;
	}
	remove_host_keys(rootfd);
	for (i = 0; i < sizeof(masked_units) / sizeof(masked_units[0]); i++) {
		r = mask_unit(rootfd, masked_units[i]);
		if (r < 0) {
			goto fail;
		}
	}
	if (x->c->ssh &&
	    tree_exists(rootfd, "lib/systemd/system/ssh.service")) {
		r = mkdir_in(rootfd, "etc/systemd/system",
		    "multi-user.target.wants", 0755);
		if (r == 0) {
			r = symlink_in(rootfd,
			    "etc/systemd/system/multi-user.target.wants",
			    "ssh.service", "/lib/systemd/system/ssh.service");
		}
		if (r < 0) {
			goto fail;
		}
	}
	/*
	 * The interface holding the root must never be deconfigured
	 * (reference §5.2): NetworkManager leaves it alone and DNS comes from
	 * the kernel's DHCP answer; dhcpcd ignores link changes.
	 */
	if (tree_exists(rootfd, "etc/NetworkManager")) {
		static const char nm[] =
		    "# pinetboot: the root file system is on NFS over eth0,\n"
		    "# configured by the kernel (ip=dhcp); never touch it.\n"
		    "[keyfile]\nunmanaged-devices=interface-name:eth0\n";

		r = mkdir_in(rootfd, "etc/NetworkManager", "conf.d", 0755);
		if (r == 0) {
			r = tree_write_file(rootfd,
			    "etc/NetworkManager/conf.d/"
			    "90-pinetboot-nfsroot.conf",
			    nm, sizeof(nm) - 1, 0644);
		}
		if (r == 0) {
			r = symlink_in(
			    rootfd, "etc", "resolv.conf", "/proc/net/pnp");
		}
		if (r < 0) {
			goto fail;
		}
	}
	text = tree_read_file(rootfd, "etc/dhcpcd.conf", 1u << 20, NULL);
	if (text) {
		static const char add[] =
		    "\n# pinetboot: the root file system is on NFS over "
		    "eth0\ninterface eth0\nnolink\n";
		size_t n = strlen(text);
		char *t = realloc(text, n + sizeof(add));

		if (!t) {
			free(text);
			r = -ENOMEM;
			goto fail;
		}
		memcpy(t + n, add, sizeof(add));
		r = tree_write_file(
		    rootfd, "etc/dhcpcd.conf", t, strlen(t), 0644);
		free(t);
		if (r < 0) {
			goto fail;
		}
	}
	if (x->keys) {
		r = install_keys(rootfd, x->keys, x->keys_len, x->c->user);
		if (r < 0) {
			goto fail;
		}
	}
	return 0;
fail:
	snprintf(msg, msglen, "editing the root file system: %s", strerror(-r));
	return r;
}

static char *
read_keys(const char *path, size_t *len, char *msg, size_t msglen)
{
	FILE *f = fopen(path, "r");
	char *buf, *p;
	size_t n;

	if (!f) {
		snprintf(
		    msg, msglen, "--ssh-key %s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(65537);
	n = buf ? fread(buf, 1, 65536, f) : 0;
	fclose(f);
	if (!buf) {
		return NULL;
	}
	buf[n] = '\0';
	for (p = buf; *p;) {
		size_t l = strcspn(p, "\n");

		if (l > 0 && p[0] != '#' && strncmp(p, "ssh-", 4) &&
		    strncmp(p, "ecdsa-", 6) && strncmp(p, "sk-", 3)) {
			snprintf(msg, msglen,
			    "--ssh-key %s: not a public key file (a line "
			    "starts with '%.12s')",
			    path, p);
			free(buf);
			return NULL;
		}
		p += l + (p[l] ? 1 : 0);
	}
	if (n == 0) {
		snprintf(msg, msglen, "--ssh-key %s: the file is empty", path);
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

static int
write_client_conf(int dirfd, const struct prov_client *c, const char *serial,
    const char *mac, const struct edit_ctx *x)
{
	char text[16384], when[32], opts[64];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(opts, sizeof(opts), "%s%s%s", c->ssh ? "ssh" : "",
	    c->ssh && c->user ? "," : "", c->user ? "userconf" : "");
	n = snprintf(text, sizeof(text),
	    "# pinetboot client record, written by `pinetboot client add`.\n"
	    "# Read by `pinetboot serve`; format in docs/provisioning.md.\n"
	    "name = %s\n"
	    "serial = %s\n"
	    "mac = %s\n"
	    "address = %s\n"
	    "hostname = %s\n"
	    "image = %s\n"
	    "version = %u\n"
	    "server = %s\n"
	    "boot_dir = %s\n"
	    "root_dir = %s\n"
	    "boot_mount = %s\n"
	    "options = %s\n"
	    "created = %s\n",
	    c->name, serial, mac, c->address ? c->address : "", x->hostname,
	    c->image, x->version, x->server ? x->server : "", x->boot_path,
	    x->root_path, x->boot_mount, opts, when);
	if (n < 0 || (size_t)n >= sizeof(text)) {
		return -EMSGSIZE;
	}
	return tree_write_file(dirfd, "client.conf", text, (size_t)n, 0644);
}

int
prov_client_add(const char *state, const struct prov_client *c,
    struct prov_client_info *info, char *msg, size_t msglen)
{
	char serial[9], mac[18] = "", dir[PATH_MAX], real[PATH_MAX];
	char tmp[REC_NAME_MAX + 32], *text = NULL;
	char boot_mount[64] = "/boot/firmware";
	struct prov_view *view = NULL;
	struct edit_ctx x = {.c = c, .info = info};
	struct tree_stats ts;
	struct in_addr a;
	int cfd = -1, tmpfd = -1, sb = -1, sr = -1, db = -1, dr = -1, r;
	bool made_tmp = false;

	memset(info, 0, sizeof(*info));
	msg[0] = '\0';
	if (!rec_name_ok(c->name)) {
		snprintf(msg, msglen,
		    "'%s' is not a valid client name (a-z, 0-9, '.', '-', "
		    "'_', at most 63 characters)",
		    c->name);
		return -EINVAL;
	}
	if (!c->serial || !hex8_ok(c->serial, serial)) {
		snprintf(msg, msglen,
		    "--serial must be 8 hex digits (the low 32 bits of the "
		    "Pi's serial number, as in its TFTP requests)");
		return -EINVAL;
	}
	if (c->mac && !mac_ok(c->mac, mac)) {
		snprintf(msg, msglen,
		    "--mac '%s' is not a MAC address "
		    "(aa:bb:cc:dd:ee:ff)",
		    c->mac);
		return -EINVAL;
	}
	if (c->address && inet_pton(AF_INET, c->address, &a) != 1) {
		snprintf(msg, msglen, "--address '%s' is not an IPv4 address",
		    c->address);
		return -EINVAL;
	}
	if (c->server && inet_pton(AF_INET, c->server, &a) != 1) {
		snprintf(msg, msglen, "--server '%s' is not an IPv4 address",
		    c->server);
		return -EINVAL;
	}
	x.hostname = c->hostname ? c->hostname : c->name;
	if (!hostname_ok(x.hostname)) {
		snprintf(msg, msglen,
		    "'%s' is not a valid host name; give one with --hostname",
		    x.hostname);
		return -EINVAL;
	}
	if (c->user && !user_ok(c->user)) {
		snprintf(msg, msglen,
		    "--user must be NAME:HASH (NAME: a lowercase letter, then "
		    "a-z, 0-9, '-', at most 31; HASH from 'openssl passwd "
		    "-6', without ':' or spaces)");
		return -EINVAL;
	}
	if (!c->image || !rec_name_ok(c->image)) {
		snprintf(msg, msglen, "--image NAME is required");
		return -EINVAL;
	}
	/* A delta is read through a flattened copy of hard links. */
	view = malloc(sizeof(*view));
	r = view
	    ? prov_view_open(view, state, c->image, 0, &c->prog, msg, msglen)
	    : -ENOMEM;
	if (r < 0) {
		if (r == -ENOENT && !strncmp(msg, "no image", 8)) {
			snprintf(msg, msglen,
			    "image '%s' is not imported (see 'pinetboot image "
			    "list')",
			    c->image);
		}
		free(view);
		return r;
	}
	if (view->v.boot_mount[0]) {
		snprintf(
		    boot_mount, sizeof(boot_mount), "%s", view->v.boot_mount);
	}
	x.boot_mount = boot_mount;
	x.version = view->v.n;
	info->version = view->v.n;
	if (c->ssh_key) {
		text = (char *)read_keys(c->ssh_key, &x.keys_len, msg, msglen);
		if (!text) {
			return -EINVAL;
		}
		x.keys = text;
	}
	r = prov_private_dir(state, "clients", dir, sizeof(dir), info->note,
	    sizeof(info->note), msg, msglen);
	if (r < 0) {
		goto out;
	}
	prov_clean_stale(dir);
	if (!realpath(dir, real)) {
		r = -errno;
		goto out;
	}
	cfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cfd < 0) {
		r = -errno;
		goto out;
	}
	if (faccessat(cfd, c->name, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		snprintf(msg, msglen,
		    "client '%s' already exists; remove it first with "
		    "'pinetboot client remove %s'",
		    c->name, c->name);
		r = -EEXIST;
		goto out;
	}
	r = scan_clients(state, NULL, serial, mac, c->address, msg, msglen);
	if (r < 0) {
		goto out;
	}
	if (c->server) {
		snprintf(info->server, sizeof(info->server), "%s", c->server);
	} else if (guess_server(info->server, sizeof(info->server))) {
		info->server_guessed = true;
	}
	x.server = info->server[0] ? info->server : NULL;
	if (snprintf(x.root_path, sizeof(x.root_path), "%s/%s/root", real,
		c->name) >= (int)sizeof(x.root_path) ||
	    snprintf(x.boot_path, sizeof(x.boot_path), "%s/%s/boot", real,
		c->name) >= (int)sizeof(x.boot_path)) {
		r = -ENAMETOOLONG;
		goto out;
	}
	snprintf(info->root_dir, sizeof(info->root_dir), "%s", x.root_path);
	snprintf(info->boot_dir, sizeof(info->boot_dir), "%s", x.boot_path);
	snprintf(tmp, sizeof(tmp), ".tmp-%s-%ld", c->name, (long)getpid());
	tree_rm(cfd, tmp);
	if (mkdirat(cfd, tmp, 0755) < 0) {
		r = -errno;
		goto out;
	}
	made_tmp = true;
	tmpfd =
	    openat(cfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	sb = view->boot;
	sr = view->root;
	if (tmpfd < 0 || mkdirat(tmpfd, "boot", 0755) < 0 ||
	    mkdirat(tmpfd, "root", 0755) < 0) {
		r = -errno;
		goto out;
	}
	db = openat(
	    tmpfd, "boot", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	dr = openat(
	    tmpfd, "root", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (db < 0 || dr < 0) {
		r = -errno;
		goto out;
	}
	r = tree_clone(sb, db, &c->prog, &ts);
	info->files += ts.files;
	info->reflinked += ts.reflinked;
	info->copied_bytes += ts.copied_bytes;
	if (r == 0) {
		r = tree_clone(sr, dr, &c->prog, &ts);
		info->files += ts.files;
		info->reflinked += ts.reflinked;
		info->copied_bytes += ts.copied_bytes;
	}
	if (r < 0) {
		snprintf(msg, msglen, "copying image '%s': %s", c->image,
		    strerror(-r));
		goto out;
	}
	r = apply_edits(&x, db, dr, msg, msglen);
	if (r == 0) {
		r = write_client_conf(tmpfd, c, serial, mac, &x);
	}
	if (r < 0) {
		goto out;
	}
	/*
	 * No fsync: on ext4 it would flush every copied byte (ordered
	 * data), seconds for a root that cp -a would also leave to the page
	 * cache.  The rename alone makes the result appear whole to every
	 * other process; see docs/provisioning.md, Atomicity.
	 */
	if (renameat(cfd, tmp, cfd, c->name) < 0) {
		r = -errno;
		goto out;
	}
	made_tmp = false;
out:
	if (r < 0 && !msg[0]) {
		snprintf(msg, msglen, "%s", strerror(-r));
	}
	free(text);
	prov_view_close(view);
	free(view);
	if (db >= 0) {
		close(db);
	}
	if (dr >= 0) {
		close(dr);
	}
	if (tmpfd >= 0) {
		close(tmpfd);
	}
	if (made_tmp) {
		tree_rm(cfd, tmp);
	}
	if (cfd >= 0) {
		close(cfd);
	}
	return r;
}

static bool
is_octal(char c)
{
	return c >= '0' && c <= '7';
}

/*
 * The first mount point at or below @path (a real path), from
 * /proc/self/mountinfo, into @out.  A removal must never reach into
 * another file system, and finding one before anything is removed keeps
 * the client or image whole; tree_rm() checks again on the way down for
 * one mounted meanwhile.
 */
static bool
mount_below(const char *path, char *out, size_t cap)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	size_t plen = strlen(path), n = 0;
	char *line = NULL;
	bool found = false;

	if (!f) {
		return false;
	}
	while (!found && getline(&line, &n, f) > 0) {
		char mp[PATH_MAX], *src, *dst;

		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1) {
			continue;
		}
		/* proc_pid_mountinfo(5): space, tab, newline, \ as \ooo. */
		for (src = dst = mp; *src; dst++) {
			if (src[0] == '\\' && is_octal(src[1]) &&
			    is_octal(src[2]) && is_octal(src[3])) {
				*dst = (char)((src[1] - '0') << 6 |
				    (src[2] - '0') << 3 | (src[3] - '0'));
				src += 4;
			} else {
				*dst = *src++;
			}
		}
		*dst = '\0';
		if (!strncmp(mp, path, plen) &&
		    (mp[plen] == '/' || mp[plen] == '\0')) {
			snprintf(out, cap, "%s", mp);
			found = true;
		}
	}
	free(line);
	fclose(f);
	return found;
}

/* Rename out of sight first, then delete: removal looks atomic. */
static int
remove_entry(const char *dir, const char *name, char *msg, size_t msglen)
{
	char tmp[REC_NAME_MAX + 40], path[PATH_MAX + 64], real[PATH_MAX];
	char mnt[PATH_MAX];
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	if (fd < 0 || faccessat(fd, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
		r = -ENOENT;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (realpath(path, real) && mount_below(real, mnt, sizeof(mnt))) {
		snprintf(msg, msglen,
		    "a file system is mounted at %s, inside %s: unmount it "
		    "first (findmnt -R %s lists all of them); nothing was "
		    "removed",
		    mnt, real, real);
		r = -EBUSY;
		goto out;
	}
	snprintf(tmp, sizeof(tmp), ".tmp-rm-%s-%ld", name, (long)getpid());
	if (renameat(fd, name, fd, tmp) < 0) {
		r = -errno;
		goto out;
	}
	r = tree_rm(fd, tmp);
	if (r < 0) {
		snprintf(msg, msglen,
		    "removing %s/%s: %s; the next command that adds to %s "
		    "removes what is left",
		    dir, tmp,
		    r == -EXDEV
			? "a file system was mounted inside it meanwhile: "
			  "unmount it"
			: r == -ESTALE ? "a directory in it moved during the "
					 "removal (is a Pi still using it?)"
				       : strerror(-r),
		    dir);
	}
out:
	if (fd >= 0) {
		close(fd);
	}
	return r;
}

int
prov_client_remove(
    const char *state, const char *name, char *msg, size_t msglen)
{
	char dir[PATH_MAX];
	int r;

	msg[0] = '\0';
	if (!rec_name_ok(name)) {
		snprintf(msg, msglen, "'%s' is not a valid client name", name);
		return -EINVAL;
	}
	snprintf(dir, sizeof(dir), "%s/clients", state);
	r = remove_entry(dir, name, msg, msglen);
	if (r == -ENOENT) {
		snprintf(msg, msglen, "no client named '%s'", name);
	}
	return r;
}

int
prov_image_remove(const char *state, const char *name, char *msg, size_t msglen)
{
	char dir[PATH_MAX], users[512] = "";
	int r;

	msg[0] = '\0';
	if (!rec_name_ok(name)) {
		snprintf(msg, msglen, "'%s' is not a valid image name", name);
		return -EINVAL;
	}
	r = scan_clients(state, name, NULL, NULL, NULL, users, sizeof(users));
	if (r == -EBUSY) {
		snprintf(msg, msglen,
		    "image '%s' is used by client(s) %s; remove them first",
		    name, users);
		return r;
	}
	snprintf(dir, sizeof(dir), "%s/images", state);
	r = remove_entry(dir, name, msg, msglen);
	if (r == -ENOENT) {
		snprintf(msg, msglen, "no image named '%s'", name);
	}
	return r;
}
