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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "image/provision/edit.h"
#include "image/provision/identity.h"
#include "image/provision/prov.h"
#include "image/provision/tree.h"
#include "image/provision/version.h"

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

/* What a new client is made of, worked out before anything is written. */
struct add_ctx {
	const struct prov_client *c;
	char serial[9], mac[18];
	enum prov_root_mode mode;
	char image[REC_NAME_MAX + 1];
	unsigned version;
	char version_boot[64]; /* a base's boot layer in the image dir */
	char boot_mount[64];
	char root_path[PATH_MAX], boot_path[PATH_MAX];
	struct prov_identity id;
};

static int
write_client_conf(int dirfd, const struct add_ctx *x)
{
	const struct prov_client *c = x->c;
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
	    "root_mode = %s\n"
	    "image = %s\n"
	    "version = %u\n"
	    "server = %s\n"
	    "boot_dir = %s\n"
	    "root_dir = %s\n"
	    "boot_mount = %s\n"
	    "options = %s\n"
	    "created = %s\n",
	    c->name, x->serial, x->mac, c->address ? c->address : "",
	    x->id.hostname, prov_root_mode_name(x->mode), x->image, x->version,
	    x->id.server ? x->id.server : "", x->boot_path, x->root_path,
	    x->boot_mount, opts, when);
	if (n < 0 || (size_t)n >= sizeof(text)) {
		return -EMSGSIZE;
	}
	return tree_write_file(dirfd, "client.conf", text, (size_t)n, 0644);
}

static const char *const mode_names[] = {
    [PROV_ROOT_LAYERED] = "layered",
    [PROV_ROOT_VOLATILE] = "volatile",
    [PROV_ROOT_COPY] = "copy",
};

const char *
prov_root_mode_name(enum prov_root_mode m)
{
	return mode_names[m];
}

int
prov_root_mode_parse(const char *s, enum prov_root_mode *out)
{
	size_t i;

	/* Records from before root modes are copies. */
	if (!s || !s[0]) {
		*out = PROV_ROOT_COPY;
		return 0;
	}
	for (i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
		if (strcmp(s, mode_names[i]) == 0) {
			*out = (enum prov_root_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

static int
check_client(
    const struct prov_client *c, struct add_ctx *x, char *msg, size_t msglen)
{
	struct in_addr a;
	int r;

	if (!rec_name_ok(c->name)) {
		snprintf(msg, msglen,
		    "'%s' is not a valid client name (a-z, 0-9, '.', '-', "
		    "'_', at most 63 characters)",
		    c->name);
		return -EINVAL;
	}
	if (!c->serial || !hex8_ok(c->serial, x->serial)) {
		snprintf(msg, msglen,
		    "--serial must be 8 hex digits (the low 32 bits of the "
		    "Pi's serial number, as in its TFTP requests)");
		return -EINVAL;
	}
	if (c->mac && !mac_ok(c->mac, x->mac)) {
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
	x->id.hostname = c->hostname ? c->hostname : c->name;
	if (!hostname_ok(x->id.hostname)) {
		snprintf(msg, msglen,
		    "'%s' is not a valid host name; give one with --hostname",
		    x->id.hostname);
		return -EINVAL;
	}
	if (c->user && !user_ok(c->user)) {
		snprintf(msg, msglen,
		    "--user must be NAME:HASH (NAME: a lowercase letter, then "
		    "a-z, 0-9, '-', at most 31; HASH from 'openssl passwd "
		    "-6', without ':' or spaces)");
		return -EINVAL;
	}
	if (prov_root_mode_parse(c->root ? c->root : "layered", &x->mode) < 0) {
		snprintf(msg, msglen,
		    "--root must be layered, volatile or copy, not '%s'",
		    c->root);
		return -EINVAL;
	}
	if (!c->image) {
		snprintf(msg, msglen, "--image NAME[@VERSION] is required");
		return -EINVAL;
	}
	r = prov_image_ref_parse(c->image, x->image, &x->version);
	if (r < 0) {
		snprintf(msg, msglen,
		    "--image '%s' is not NAME or NAME@VERSION (a version is "
		    "a number from 1)",
		    c->image);
	}
	return r;
}

/* The version the client will use, and what it needs from its record. */
static int
pick_version(const char *state, struct add_ctx *x, char *msg, size_t msglen)
{
	struct prov_version *v = malloc(sizeof(*v));
	struct prov_img im;
	int r;

	if (!v) {
		return -ENOMEM;
	}
	r = prov_img_open(&im, state, x->image, false, msg, msglen);
	if (r == -ENOENT) {
		snprintf(msg, msglen,
		    "image '%s' is not imported (see 'pinetboot image list')",
		    x->image);
	}
	if (r < 0) {
		free(v);
		return r;
	}
	if (x->version == 0) {
		x->version = prov_img_newest(&im);
	}
	r = prov_version_read(&im, x->version, v, msg, msglen);
	if (r == -ENOENT) {
		snprintf(msg, msglen,
		    "image '%s' has no version %u (see 'pinetboot image "
		    "versions %s')",
		    x->image, x->version, x->image);
	}
	if (r == 0 && v->boot_mount[0]) {
		snprintf(
		    x->boot_mount, sizeof(x->boot_mount), "%s", v->boot_mount);
	}
	if (r == 0 && v->base) {
		prov_version_path(&im, x->version, "boot", x->version_boot,
		    sizeof(x->version_boot));
	}
	prov_img_close(&im);
	free(v);
	return r;
}

/* A --root copy client: full trees, as before versions. */
static int
add_copy(const char *state, struct add_ctx *x, int tmpfd,
    struct prov_client_info *info, char *msg, size_t msglen)
{
	struct prov_view *view = malloc(sizeof(*view));
	struct prov_tree bt, rt;
	struct tree_stats ts;
	int db = -1, dr = -1, r;

	/* A delta is read through a flattened copy of hard links. */
	r = view ? prov_view_open(view, state, x->image, x->version,
		       &x->c->prog, msg, msglen)
		 : -ENOMEM;
	if (r < 0) {
		free(view);
		return r;
	}
	if (mkdirat(tmpfd, "boot", 0755) < 0 ||
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
	r = tree_clone(view->boot, db, &x->c->prog, &ts);
	info->files += ts.files;
	info->reflinked += ts.reflinked;
	info->copied_bytes += ts.copied_bytes;
	if (r == 0) {
		r = tree_clone(view->root, dr, &x->c->prog, &ts);
		info->files += ts.files;
		info->reflinked += ts.reflinked;
		info->copied_bytes += ts.copied_bytes;
	}
	if (r < 0) {
		snprintf(msg, msglen, "copying image '%s': %s", x->image,
		    strerror(-r));
		goto out;
	}
	prov_tree_plain(&bt, db);
	prov_tree_plain(&rt, dr);
	r = prov_identity_apply(&x->id, &bt, &rt, info->cmdline,
	    sizeof(info->cmdline), msg, msglen);
out:
	if (db >= 0) {
		close(db);
	}
	if (dr >= 0) {
		close(dr);
	}
	prov_view_close(view);
	free(view);
	return r;
}

/*
 * A layered or volatile client: its identity edits go into an empty
 * layer over the version, through the layer library, and the same edits
 * are kept as identity/v/N for reset, volatile boots and moves.
 */
static int
add_layered(const char *state, struct add_ctx *x, int tmpfd,
    struct prov_client_info *info, char *msg, size_t msglen)
{
	struct prov_img im;
	int lfd = -1, r;

	r = prov_img_open(&im, state, x->image, false, msg, msglen);
	if (r < 0) {
		return r;
	}
	r = prov_layer_dir_make(tmpfd, "layer");
	if (r == 0) {
		lfd = openat(tmpfd, "layer",
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		r = lfd < 0 ? -errno : 0;
	}
	if (r == 0) {
		r = prov_identity_build(&im, x->version, &x->id, lfd,
		    info->cmdline, sizeof(info->cmdline), msg, msglen);
	}
	if (r == 0) {
		r = prov_identity_make(
		    tmpfd, &im, x->version, &x->id, msg, msglen);
	}
	if (r == 0) {
		info->layer_bytes = tree_du(tmpfd);
	}
	if (lfd >= 0) {
		close(lfd);
	}
	prov_img_close(&im);
	return r;
}

int
prov_client_add(const char *state, const struct prov_client *c,
    struct prov_client_info *info, char *msg, size_t msglen)
{
	char dir[PATH_MAX], real[PATH_MAX];
	char tmp[REC_NAME_MAX + 32], *keys = NULL;
	struct add_ctx *x = calloc(1, sizeof(*x));
	int cfd = -1, tmpfd = -1, r;
	bool made_tmp = false;

	memset(info, 0, sizeof(*info));
	msg[0] = '\0';
	if (!x) {
		return -ENOMEM;
	}
	x->c = c;
	snprintf(x->boot_mount, sizeof(x->boot_mount), "/boot/firmware");
	r = check_client(c, x, msg, msglen);
	if (r == 0) {
		r = pick_version(state, x, msg, msglen);
	}
	if (r < 0) {
		goto out;
	}
	info->version = x->version;
	info->mode = x->mode;
	x->id.boot_mount = x->boot_mount;
	x->id.ssh = c->ssh;
	x->id.user = c->user;
	if (c->ssh_key) {
		keys = read_keys(c->ssh_key, &x->id.keys_len, msg, msglen);
		if (!keys) {
			r = -EINVAL;
			goto out;
		}
		x->id.keys = keys;
	}
	r = prov_machine_id(x->id.machine_id);
	if (r == 0) {
		r = prov_private_dir(state, "clients", dir, sizeof(dir),
		    info->note, sizeof(info->note), msg, msglen);
	}
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
	r = scan_clients(
	    state, NULL, x->serial, x->mac, c->address, msg, msglen);
	if (r < 0) {
		goto out;
	}
	if (c->server) {
		snprintf(info->server, sizeof(info->server), "%s", c->server);
	} else if (guess_server(info->server, sizeof(info->server))) {
		info->server_guessed = true;
	}
	x->id.server = info->server[0] ? info->server : NULL;
	if (snprintf(x->root_path, sizeof(x->root_path), "%s/%s/root", real,
		c->name) >= (int)sizeof(x->root_path) ||
	    snprintf(x->boot_path, sizeof(x->boot_path), "%s/%s/boot", real,
		c->name) >= (int)sizeof(x->boot_path)) {
		r = -ENAMETOOLONG;
		goto out;
	}
	x->id.root_path = x->root_path;
	x->id.boot_path = x->boot_path;
	if (x->mode == PROV_ROOT_COPY) {
		snprintf(info->boot_check, sizeof(info->boot_check), "%s",
		    x->boot_path);
	} else if (x->version_boot[0]) {
		snprintf(info->boot_check, sizeof(info->boot_check),
		    "%s/images/%s/%s", state, x->image, x->version_boot);
	}
	snprintf(info->root_dir, sizeof(info->root_dir), "%s", x->root_path);
	snprintf(info->boot_dir, sizeof(info->boot_dir), "%s", x->boot_path);
	snprintf(tmp, sizeof(tmp), ".tmp-%s-%ld", c->name, (long)getpid());
	tree_rm(cfd, tmp);
	if (mkdirat(cfd, tmp, 0755) < 0) {
		r = -errno;
		goto out;
	}
	made_tmp = true;
	tmpfd =
	    openat(cfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (tmpfd < 0) {
		r = -errno;
		goto out;
	}
	r = x->mode == PROV_ROOT_COPY
	    ? add_copy(state, x, tmpfd, info, msg, msglen)
	    : add_layered(state, x, tmpfd, info, msg, msglen);
	if (r == 0) {
		r = write_client_conf(tmpfd, x);
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
	free(keys);
	if (tmpfd >= 0) {
		close(tmpfd);
	}
	if (made_tmp) {
		tree_rm(cfd, tmp);
	}
	if (cfd >= 0) {
		close(cfd);
	}
	free(x);
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
