#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "image/provision/edit.h"
#include "image/provision/prov.h"

/* Words of cmdline.txt that only make sense for a root on the SD card. */
static bool
cmdline_drop(const char *w, size_t n)
{
	static const char *const prefix[] = {"root=", "rootfstype=",
	    "fsck.repair=", "init=", "nfsroot=", "ip=", "rootflags="};
	static const char *const word[] = {"resize", "rw", "ro", "rootwait"};
	size_t i;

	for (i = 0; i < sizeof(prefix) / sizeof(prefix[0]); i++) {
		size_t pl = strlen(prefix[i]);

		if (n >= pl && !memcmp(w, prefix[i], pl)) {
			return true;
		}
	}
	for (i = 0; i < sizeof(word) / sizeof(word[0]); i++) {
		if (n == strlen(word[i]) && !memcmp(w, word[i], n)) {
			return true;
		}
	}
	return false;
}

int
prov_edit_cmdline(
    const char *in, const char *server, const char *path, char *out, size_t cap)
{
	size_t o = 0;
	const char *p = in;
	int n;

	while (*p) {
		const char *w;
		size_t wl;

		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
			p++;
		}
		w = p;
		while (
		    *p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
			p++;
		}
		wl = (size_t)(p - w);
		if (wl == 0 || cmdline_drop(w, wl)) {
			continue;
		}
		if (o + wl + 1 >= cap) {
			return -EMSGSIZE;
		}
		memcpy(out + o, w, wl);
		o += wl;
		out[o++] = ' ';
	}
	/* The file must stay a single line (reference §4.1). */
	n = snprintf(out + o, cap - o,
	    "root=/dev/nfs nfsroot=%s%s%s,vers=3,tcp rw ip=dhcp rootwait\n",
	    server ? server : "", server ? ":" : "", path);
	if (n < 0 || (size_t)n >= cap - o) {
		return -EMSGSIZE;
	}
	return 0;
}

/* Is this fstab line a mount of / or @boot from the SD card? */
static bool
fstab_drop(const char *line, size_t len, const char *boot)
{
	char spec[256], mnt[256], type[64] = "";
	char tmp[1024];

	if (len >= sizeof(tmp)) {
		return false;
	}
	memcpy(tmp, line, len);
	tmp[len] = '\0';
	if (sscanf(tmp, "%255s %255s %63s", spec, mnt, type) < 2 ||
	    spec[0] == '#') {
		return false;
	}
	if (strcmp(mnt, "/") != 0 && strcmp(mnt, boot) != 0) {
		return false;
	}
	/*
	 * An NFS mount of them is an earlier client's (an image promoted
	 * from a client): this client gets its own, appended below.
	 */
	return !strncmp(spec, "PARTUUID=", 9) || !strncmp(spec, "UUID=", 5) ||
	    !strncmp(spec, "LABEL=", 6) || !strncmp(spec, "/dev/mmcblk", 11) ||
	    !strncmp(spec, "/dev/sd", 7) || !strcmp(type, "nfs") ||
	    !strcmp(type, "nfs4");
}

char *
prov_edit_fstab(const char *in, const char *boot_mount, const char *server,
    const char *boot_dir)
{
	struct buf b;
	const char *p = in;
	int r = 0;

	buf_init(&b, 1u << 20);
	while (*p && r == 0) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (!fstab_drop(p, len, boot_mount)) {
			r = buf_add(&b, p, len);
			if (r == 0) {
				r = buf_add(&b, "\n", 1);
			}
		}
		p += len + (nl ? 1 : 0);
	}
	if (r == 0 && server) {
		/* nolock: there is no NLM on this server (reference §4.3). */
		r = buf_printf(&b,
		    "%s:%s %s nfs defaults,vers=3,proto=tcp,nolock 0 0\n",
		    server, boot_dir, boot_mount);
	}
	if (r < 0) {
		buf_fini(&b);
		return NULL;
	}
	if (b.len == 0) {
		buf_fini(&b);
		return strdup("");
	}
	return (char *)buf_steal(&b, NULL);
}

/* --- the edits on a tree ------------------------------------------------ */

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

static char *
t_read(const struct prov_tree *t, const char *rel, size_t max)
{
	return t->ops->read(t->ctx, rel, max, NULL);
}

static int
t_write(const struct prov_tree *t, const char *rel, const char *s, mode_t mode)
{
	return t->ops->write(t->ctx, rel, s, strlen(s), mode);
}

static bool
t_exists(const struct prov_tree *t, const char *rel)
{
	mode_t type;

	return t->ops->type(t->ctx, rel, &type) == 0;
}

struct wants_ctx {
	const struct prov_tree *t;
	const char *unit;
};

static int
unwant(void *arg, const char *name)
{
	const struct wants_ctx *w = arg;
	size_t n = strlen(name);
	char rel[512];
	mode_t type;

	if (n < 6 || strcmp(name + n - 6, ".wants") != 0 ||
	    snprintf(rel, sizeof(rel), "etc/systemd/system/%s/%s", name,
		w->unit) >= (int)sizeof(rel) ||
	    w->t->ops->type(w->t->ctx, rel, &type) < 0 || S_ISDIR(type)) {
		return 0;
	}
	return w->t->ops->unlink(w->t->ctx, rel);
}

/* Remove the *.wants/ links to @unit and mask it. */
static int
mask_unit(const struct prov_tree *t, const char *unit)
{
	struct wants_ctx w = {.t = t, .unit = unit};
	char rel[256];
	int r;

	r = t->ops->names(t->ctx, "etc/systemd/system", unwant, &w);
	if (r == -ENOENT) {
		return 0;
	}
	if (r < 0) {
		return r;
	}
	snprintf(rel, sizeof(rel), "etc/systemd/system/%s", unit);
	return t->ops->symlink(t->ctx, rel, "/dev/null");
}

static int
edit_hosts(const struct prov_tree *t, const char *hostname)
{
	char *old = t_read(t, "etc/hosts", 1u << 20);
	const char *p;
	struct buf b;
	bool done = false;
	int r = 0;

	if (!old) {
		old = strdup("127.0.0.1\tlocalhost\n");
		if (!old) {
			return -ENOMEM;
		}
	}
	buf_init(&b, 2u << 20);
	for (p = old; *p && r == 0;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len >= 9 && !strncmp(p, "127.0.1.1", 9) &&
		    (p[9] == ' ' || p[9] == '\t')) {
			if (!done) {
				r = buf_printf(&b, "127.0.1.1\t%s\n", hostname);
				done = true;
			}
		} else {
			r = buf_add(&b, p, len);
			if (r == 0) {
				r = buf_add(&b, "\n", 1);
			}
		}
		p += len + (nl ? 1 : 0);
	}
	if (r == 0 && !done) {
		r = buf_printf(&b, "127.0.1.1\t%s\n", hostname);
	}
	if (r == 0) {
		r = t->ops->write(t->ctx, "etc/hosts", b.p, b.len, 0644);
	}
	buf_fini(&b);
	free(old);
	return r;
}

static int
unlink_host_key(void *arg, const char *name)
{
	const struct prov_tree *t = arg;
	char rel[512];

	if (strncmp(name, "ssh_host_", 9) != 0) {
		return 0;
	}
	snprintf(rel, sizeof(rel), "etc/ssh/%s", name);
	return t->ops->unlink(t->ctx, rel);
}

/* The home directory of @user in the image's passwd, without the '/'. */
static bool
user_home(const char *passwd, const char *user, char *home, size_t cap,
    unsigned *uid, unsigned *gid)
{
	size_t ul = strcspn(user, ":");
	const char *p = passwd;

	while (p && *p) {
		char name[64], dir[PATH_MAX];

		if (sscanf(p, "%63[^:]:%*[^:]:%u:%u:%*[^:]:%4095[^:\n]", name,
			uid, gid, dir) == 4 &&
		    strlen(name) == ul && !strncmp(name, user, ul) &&
		    dir[0] == '/' && dir[1]) {
			snprintf(home, cap, "%s", dir + 1);
			return true;
		}
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return false;
}

/* Install authorized keys for root, and for @user when the image has it. */
static int
install_keys(
    const struct prov_tree *t, const char *keys, size_t len, const char *user)
{
	char *passwd = t_read(t, "etc/passwd", 1u << 20);
	char home[PATH_MAX] = "root", rel[PATH_MAX + 32];
	unsigned uid = 0, gid = 0;
	int pass, r = 0;

	for (pass = 0; pass < 2 && r == 0; pass++) {
		if (pass == 1 &&
		    (!user || !passwd ||
			!user_home(
			    passwd, user, home, sizeof(home), &uid, &gid))) {
			break;
		}
		snprintf(rel, sizeof(rel), "%s/.ssh", home);
		r = t->ops->mkdir(t->ctx, rel, 0700);
		if (r == 0) {
			snprintf(
			    rel, sizeof(rel), "%s/.ssh/authorized_keys", home);
			r = t->ops->write(t->ctx, rel, keys, len, 0600);
		}
		if (r == 0) {
			r = t->ops->chown(t->ctx, rel, uid, gid);
		}
		if (r == 0) {
			snprintf(rel, sizeof(rel), "%s/.ssh", home);
			r = t->ops->chown(t->ctx, rel, uid, gid);
		}
	}
	free(passwd);
	return r;
}

int
prov_machine_id(char out[33])
{
	uint8_t rnd[16];
	size_t i;

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		return -EIO;
	}
	for (i = 0; i < 16; i++) {
		snprintf(out + 2 * i, 3, "%02x", rnd[i]);
	}
	return 0;
}

static int
edit_boot(const struct prov_identity *id, const struct prov_tree *boot,
    char *cmdline, size_t cmdcap, char *msg, size_t msglen)
{
	char *text;
	int r;

	/* cmdline.txt for an NFS root (reference §4.1, §5.2). */
	text = t_read(boot, "cmdline.txt", 4096);
	if (!text) {
		snprintf(
		    msg, msglen, "the image's boot files have no cmdline.txt");
		return -ENOENT;
	}
	r = prov_edit_cmdline(text, id->server, id->root_path, cmdline, cmdcap);
	free(text);
	if (r == 0) {
		r = t_write(boot, "cmdline.txt", cmdline, 0644);
	}
	if (r == 0 && id->ssh) {
		r = t_write(boot, "ssh", "", 0644);
	}
	if (r == 0 && id->user) {
		char line[512];

		snprintf(line, sizeof(line), "%s\n", id->user);
		r = t_write(boot, "userconf.txt", line, 0600);
	}
	if (r < 0) {
		snprintf(
		    msg, msglen, "editing the boot files: %s", strerror(-r));
	}
	return r;
}

/* The interface holding the root must never be deconfigured (§5.2). */
static int
edit_network(const struct prov_tree *root)
{
	static const char nm[] =
	    "# pinetboot: the root file system is on NFS over eth0,\n"
	    "# configured by the kernel (ip=dhcp); never touch it.\n"
	    "[keyfile]\nunmanaged-devices=interface-name:eth0\n";
	static const char add[] =
	    "\n# pinetboot: the root file system is on NFS over "
	    "eth0\ninterface eth0\nnolink\n";
	char *text;
	int r = 0;

	/* NetworkManager leaves it alone; DNS from the kernel's answer. */
	if (t_exists(root, "etc/NetworkManager")) {
		r = root->ops->mkdir(
		    root->ctx, "etc/NetworkManager/conf.d", 0755);
		if (r == 0) {
			r = t_write(root,
			    "etc/NetworkManager/conf.d/"
			    "90-pinetboot-nfsroot.conf",
			    nm, 0644);
		}
		if (r == 0) {
			r = root->ops->symlink(
			    root->ctx, "etc/resolv.conf", "/proc/net/pnp");
		}
		if (r < 0) {
			return r;
		}
	}
	/* dhcpcd ignores link changes, as PiServer sets it. */
	text = t_read(root, "etc/dhcpcd.conf", 1u << 20);
	if (text) {
		size_t n = strlen(text);
		char *all = realloc(text, n + sizeof(add));

		if (!all) {
			free(text);
			return -ENOMEM;
		}
		memcpy(all + n, add, sizeof(add));
		r = t_write(root, "etc/dhcpcd.conf", all, 0644);
		free(all);
	}
	return r;
}

static int
edit_root(const struct prov_identity *id, const struct prov_tree *root)
{
	char *text, *fstab, line[300];
	mode_t type;
	size_t i;
	int r;

	/* fstab without the SD card's / and boot mounts. */
	text = t_read(root, "etc/fstab", 1u << 20);
	fstab = prov_edit_fstab(text ? text : "proc /proc proc defaults 0 0\n",
	    id->boot_mount, id->server, id->boot_path);
	free(text);
	r = fstab ? t_write(root, "etc/fstab", fstab, 0644) : -ENOMEM;
	free(fstab);
	if (r == 0) {
		snprintf(line, sizeof(line), "%s\n", id->hostname);
		r = t_write(root, "etc/hostname", line, 0644);
	}
	if (r == 0) {
		r = edit_hosts(root, id->hostname);
	}
	/* Its own machine-id, so no two clients share one. */
	if (r == 0) {
		snprintf(line, sizeof(line), "%.32s\n", id->machine_id);
		r = t_write(root, "etc/machine-id", line, 0444);
	}
	/* D-Bus keeps a copy unless it is a link (PiServer links). */
	if (r == 0 &&
	    root->ops->type(root->ctx, "var/lib/dbus/machine-id", &type) == 0 &&
	    S_ISREG(type)) {
		r = root->ops->symlink(
		    root->ctx, "var/lib/dbus/machine-id", "/etc/machine-id");
	}
	/* Raspberry Pi OS makes missing host keys at boot: one per client. */
	if (r == 0) {
		r = root->ops->names(
		    root->ctx, "etc/ssh", unlink_host_key, (void *)root);
		r = r == -ENOENT ? 0 : r;
	}
	for (i = 0; r == 0 && i < sizeof(masked_units) / sizeof(*masked_units);
	     i++) {
		r = mask_unit(root, masked_units[i]);
	}
	if (r == 0 && id->ssh &&
	    t_exists(root, "lib/systemd/system/ssh.service")) {
		r = root->ops->mkdir(root->ctx,
		    "etc/systemd/system/multi-user.target.wants", 0755);
		if (r == 0) {
			r = root->ops->symlink(root->ctx,
			    "etc/systemd/system/multi-user.target.wants/"
			    "ssh.service",
			    "/lib/systemd/system/ssh.service");
		}
	}
	if (r == 0) {
		r = edit_network(root);
	}
	if (r == 0 && id->keys) {
		r = install_keys(root, id->keys, id->keys_len, id->user);
	}
	return r;
}

int
prov_identity_apply(const struct prov_identity *id,
    const struct prov_tree *boot, const struct prov_tree *root, char *cmdline,
    size_t cmdcap, char *msg, size_t msglen)
{
	int r = edit_boot(id, boot, cmdline, cmdcap, msg, msglen);

	if (r < 0) {
		return r;
	}
	r = edit_root(id, root);
	if (r < 0) {
		snprintf(msg, msglen, "editing the root file system: %s",
		    strerror(-r));
	}
	return r;
}
