#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
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
	char spec[256], mnt[256];
	char tmp[1024];

	if (len >= sizeof(tmp)) {
		return false;
	}
	memcpy(tmp, line, len);
	tmp[len] = '\0';
	if (sscanf(tmp, "%255s %255s", spec, mnt) != 2 || spec[0] == '#') {
		return false;
	}
	if (strcmp(mnt, "/") != 0 && strcmp(mnt, boot) != 0) {
		return false;
	}
	return !strncmp(spec, "PARTUUID=", 9) || !strncmp(spec, "UUID=", 5) ||
	    !strncmp(spec, "LABEL=", 6) || !strncmp(spec, "/dev/mmcblk", 11) ||
	    !strncmp(spec, "/dev/sd", 7);
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
