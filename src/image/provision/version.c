#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "image/provision/merge.h"
#include "image/provision/prov.h"
#include "image/provision/tree.h"
#include "image/provision/version.h"

static int
rec_read_at(int dirfd, const char *rel, char **text, struct rec *rec)
{
	char *t;
	size_t n;
	unsigned line;

	t = tree_read_file(dirfd, rel, REC_MAX_BYTES, &n);
	*text = t;
	if (!t) {
		return errno == EFBIG ? -EMSGSIZE : -errno;
	}
	return rec_parse(t, n, rec, &line);
}

static bool
exists_at(int dirfd, const char *rel)
{
	return faccessat(dirfd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* A version directory name: 1 to 9 digits, no leading zero. */
static unsigned
version_number(const char *s)
{
	unsigned long v;
	char *end;

	if (s[0] < '1' || s[0] > '9' || strlen(s) > 9) {
		return 0;
	}
	v = strtoul(s, &end, 10);
	return *end == '\0' ? (unsigned)v : 0;
}

static int
cmp_unsigned(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

static int
list_versions(struct prov_img *im)
{
	int fd = openat(im->fd, "v", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t cap = 0;
	struct dirent *e;
	DIR *d;

	free(im->v);
	im->v = NULL;
	im->n = 0;
	if (fd < 0) {
		return -errno;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((e = readdir(d)) != NULL) {
		unsigned n = version_number(e->d_name);

		if (n == 0) {
			continue;
		}
		if (im->n == cap) {
			unsigned *g;

			cap = cap ? 2 * cap : 16;
			g = realloc(im->v, cap * sizeof(*g));
			if (!g || cap > PROV_VERSIONS_MAX) {
				free(g ? g : im->v);
				im->v = NULL;
				im->n = 0;
				closedir(d);
				return g ? -EMSGSIZE : -ENOMEM;
			}
			im->v = g;
		}
		im->v[im->n++] = n;
	}
	closedir(d);
	qsort(im->v, im->n, sizeof(*im->v), cmp_unsigned);
	return 0;
}

void
prov_now_iso(char *out, size_t cap)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
rec_u64(const struct rec *r, const char *key, uint64_t *out)
{
	char v[32];

	if (rec_get(r, key, v, sizeof(v))) {
		*out = strtoull(v, NULL, 10);
	}
}

static unsigned
rec_unsigned(const struct rec *r, const char *key)
{
	char v[16];

	return rec_get(r, key, v, sizeof(v)) ? version_number(v) : 0;
}

/* version.conf, or a legacy image.conf (which says imported, not created). */
static void
version_from_rec(const struct rec *r, struct prov_version *v)
{
	char kind[16] = "base", flat[8] = "", disk[16] = "";
	uint64_t id = 0;

	rec_get(r, "kind", kind, sizeof(kind));
	v->base = strcmp(kind, "delta") != 0;
	v->parent = rec_unsigned(r, "parent");
	rec_get(r, "flattened", flat, sizeof(flat));
	v->flattened = !strcmp(flat, "yes");
	if (!rec_get(r, "created", v->created, sizeof(v->created))) {
		rec_get(r, "imported", v->created, sizeof(v->created));
	}
	rec_get(r, "source", v->source, sizeof(v->source));
	rec_get(r, "command", v->command, sizeof(v->command));
	rec_get(r, "promoted_from", v->promoted, sizeof(v->promoted));
	rec_get(r, "arch", v->arch, sizeof(v->arch));
	rec_get(r, "os", v->os, sizeof(v->os));
	rec_get(r, "boot_mount", v->boot_mount, sizeof(v->boot_mount));
	rec_get(r, "kernels", v->kernels, sizeof(v->kernels));
	rec_get(r, "models", v->models, sizeof(v->models));
	rec_get(r, "partition_table", v->scheme, sizeof(v->scheme));
	if (rec_get(r, "disk_id", disk, sizeof(disk))) {
		id = strtoull(disk, NULL, 16);
	}
	v->disk_id = (uint32_t)id;
	rec_u64(r, "boot_bytes", &v->boot_bytes);
	rec_u64(r, "root_bytes", &v->root_bytes);
}

int
prov_image_ref_parse(
    const char *s, char name[REC_NAME_MAX + 1], unsigned *version)
{
	const char *at = strchr(s, '@');
	size_t n = at ? (size_t)(at - s) : strlen(s);

	*version = 0;
	if (n == 0 || n > REC_NAME_MAX) {
		return -EINVAL;
	}
	memcpy(name, s, n);
	name[n] = '\0';
	if (!rec_name_ok(name)) {
		return -EINVAL;
	}
	if (at) {
		*version = version_number(at + 1);
		if (*version == 0 || *version > PROV_VERSIONS_MAX) {
			return -EINVAL;
		}
	}
	return 0;
}

void
prov_version_path(const struct prov_img *im, unsigned n, const char *tree,
    char *out, size_t cap)
{
	if (!im->legacy) {
		snprintf(out, cap, "v/%u/%s", n, tree);
	} else if (exists_at(im->fd, tree)) {
		snprintf(out, cap, "%s", tree);
	} else {
		/* A move to v/1 that stopped half-way. */
		snprintf(out, cap, "v.mig/1/%s", tree);
	}
}

static int
read_one(const struct prov_img *im, unsigned n, struct prov_version *v)
{
	char rel[32], *text = NULL, root[64];
	struct rec rec;
	int r, fd;

	memset(v, 0, sizeof(*v));
	v->n = n;
	if (im->legacy) {
		if (n != 1) {
			return -ENOENT;
		}
		r = rec_read_at(im->fd, "image.conf", &text, &rec);
	} else {
		snprintf(rel, sizeof(rel), "v/%u/version.conf", n);
		r = rec_read_at(im->fd, rel, &text, &rec);
	}
	if (r == 0) {
		version_from_rec(&rec, v);
	}
	free(text);
	if (r < 0) {
		return r == -ENOENT ? -ENOENT : -EBADMSG;
	}
	if (!v->arch[0]) {
		/* Records written before architectures were noted. */
		prov_version_path(im, n, "root", root, sizeof(root));
		fd = openat(im->fd, root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0 && v->base) {
			prov_arch_detect(fd, v->arch, sizeof(v->arch));
		}
		if (fd >= 0) {
			close(fd);
		}
	}
	return 0;
}

int
prov_version_layers(const struct prov_img *im, unsigned n, unsigned *out,
    size_t cap, char *msg, size_t msglen)
{
	struct prov_version *v = malloc(sizeof(*v));
	size_t k = 0;
	int r = 0;

	if (!v) {
		return -ENOMEM;
	}
	for (;;) {
		r = read_one(im, n, v);
		if (r == -ENOENT) {
			snprintf(msg, msglen, "image '%s' has no version %u",
			    im->name, n);
			break;
		}
		if (r < 0) {
			snprintf(msg, msglen,
			    "version %u of image '%s' has a damaged "
			    "version.conf",
			    n, im->name);
			break;
		}
		if (k == cap) {
			snprintf(msg, msglen,
			    "version %u of image '%s' stacks more than %zu "
			    "layers (a damaged parent chain)",
			    out[0], im->name, cap);
			r = -EBADMSG;
			break;
		}
		out[k++] = n;
		if (v->base) {
			r = (int)k;
			break;
		}
		/* Parents are older: a number that does not fall is a loop. */
		if (v->parent == 0 || v->parent >= n) {
			snprintf(msg, msglen,
			    "version %u of image '%s' is a delta without a "
			    "valid parent",
			    n, im->name);
			r = -EBADMSG;
			break;
		}
		n = v->parent;
	}
	free(v);
	return r;
}

int
prov_version_read(const struct prov_img *im, unsigned n, struct prov_version *v,
    char *msg, size_t msglen)
{
	unsigned layers[PROV_CHAIN_MAX];
	int r = prov_version_layers(im, n, layers, PROV_CHAIN_MAX, msg, msglen);

	if (r < 0) {
		return r;
	}
	r = read_one(im, n, v);
	if (r < 0) {
		return r;
	}
	v->chain = (unsigned)prov_version_layers(
	    im, n, layers, PROV_CHAIN_MAX, msg, msglen);
	return 0;
}

/* One record value: no line breaks, cut to what a record may hold. */
static void
put_value(char *out, size_t cap, const char *in)
{
	size_t i, n = 0;

	for (i = 0; in[i] && n + 1 < cap && n < REC_MAX_VALUE; i++) {
		unsigned char c = (unsigned char)in[i];

		/* A command's line breaks and tabs read as blanks. */
		out[n++] = c == '\n' || c == '\t' ? ' '
		    : c < 0x20 || c == 0x7f       ? '?'
						  : (char)c;
	}
	out[n] = '\0';
}

int
prov_version_write(int dirfd, const struct prov_version *v)
{
	char *text = malloc(16384), src[REC_MAX_VALUE + 1];
	char cmd[REC_MAX_VALUE + 1], disk[64] = "", from[REC_MAX_VALUE + 32];
	int n, r;

	if (!text) {
		return -ENOMEM;
	}
	put_value(src, sizeof(src), v->source);
	put_value(cmd, sizeof(cmd), v->command);
	from[0] = 0;
	if (v->promoted[0]) {
		snprintf(
		    from, sizeof(from), "promoted_from = %s\n", v->promoted);
	}
	if (v->scheme[0]) {
		snprintf(disk, sizeof(disk),
		    "partition_table = %s\ndisk_id = %08" PRIx32 "\n",
		    v->scheme, v->disk_id);
	}
	n = snprintf(text, 16384,
	    "# pinetboot image version, written once; format in "
	    "docs/provisioning.md\n"
	    "version = %u\n"
	    "kind = %s\n"
	    "parent = %s%.0u\n"
	    "flattened = %s\n"
	    "created = %s\n"
	    "source = %s\n"
	    "command = %s\n"
	    "%s"
	    "arch = %s\n"
	    "os = %s\n"
	    "boot_mount = %s\n"
	    "kernels = %s\n"
	    "models = %s\n"
	    "%s"
	    "boot_bytes = %" PRIu64 "\n"
	    "root_bytes = %" PRIu64 "\n",
	    v->n, v->base ? "base" : "delta", "", v->parent,
	    v->flattened ? "yes" : "no", v->created, src, cmd, from, v->arch,
	    v->os, v->boot_mount, v->kernels, v->models, disk, v->boot_bytes,
	    v->root_bytes);
	if (n < 0 || n >= 16384) {
		free(text);
		return -EMSGSIZE;
	}
	r = tree_write_file(dirfd, "version.conf", text, (size_t)n, 0644);
	free(text);
	return r;
}

static int
write_image_record(int fd, const char *name, const char *created)
{
	char text[512];
	int n = snprintf(text, sizeof(text),
	    "# pinetboot image record; its versions are under v/\n"
	    "name = %s\n"
	    "created = %s\n",
	    name, created);

	return tree_write_file(fd, "image.conf", text, (size_t)n, 0644);
}

/*
 * Move a legacy image's trees under v/1: build v.mig/1 with its record,
 * move the trees in, rename v.mig to v.  Every step can be redone, and
 * prov_version_path() finds the trees at every step, so a crash loses
 * nothing and the next writer finishes the move.
 */
static int
migrate_legacy(struct prov_img *im, char *msg, size_t msglen)
{
	struct prov_version *v = calloc(1, sizeof(*v));
	const char *trees[] = {"boot", "root"};
	char rel[32];
	int vfd = -1, r = 0;
	size_t i;

	if (!v) {
		return -ENOMEM;
	}
	if ((mkdirat(im->fd, "v.mig", 0755) < 0 && errno != EEXIST) ||
	    (mkdirat(im->fd, "v.mig/1", 0755) < 0 && errno != EEXIST)) {
		r = -errno;
		goto out;
	}
	vfd = openat(
	    im->fd, "v.mig/1", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (vfd < 0) {
		r = -errno;
		goto out;
	}
	if (!exists_at(vfd, "version.conf")) {
		r = read_one(im, 1, v);
		if (r < 0) {
			snprintf(msg, msglen,
			    "image '%s' (from before versions) has a damaged "
			    "image.conf",
			    im->name);
			goto out;
		}
		v->base = true;
		r = prov_version_write(vfd, v);
		if (r < 0) {
			goto out;
		}
	}
	for (i = 0; i < 2; i++) {
		snprintf(rel, sizeof(rel), "v.mig/1/%s", trees[i]);
		if (exists_at(im->fd, trees[i]) &&
		    renameat(im->fd, trees[i], im->fd, rel) < 0) {
			r = -errno;
			goto out;
		}
	}
	if (renameat(im->fd, "v.mig", im->fd, "v") < 0) {
		r = -errno;
		goto out;
	}
	im->legacy = false;
	r = write_image_record(im->fd, im->name, v->created);
out:
	if (r < 0 && !msg[0]) {
		snprintf(msg, msglen, "moving image '%s' to v/1: %s", im->name,
		    strerror(-r));
	}
	if (vfd >= 0) {
		close(vfd);
	}
	free(v);
	return r;
}

int
prov_entry_open(const char *state, const char *kind, const char *name,
    bool lock, int *fd, char *msg, size_t msglen)
{
	char dir[PATH_MAX];
	int r;

	snprintf(dir, sizeof(dir), "%s/%ss/%s", state, kind, name);
	*fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*fd < 0) {
		r = -errno;
		snprintf(msg, msglen,
		    r == -ENOENT ? "no %s named '%s' (see 'pinetboot %s list')"
				 : "cannot open %s '%s': %s",
		    kind, name, r == -ENOENT ? kind : strerror(-r));
		return r;
	}
	if (lock && flock(*fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		snprintf(msg, msglen,
		    "%s '%s' is being changed by another pinetboot command; "
		    "try again when it has finished",
		    kind, name);
		return r;
	}
	return 0;
}

int
prov_img_open(struct prov_img *im, const char *state, const char *name,
    bool write, char *msg, size_t msglen)
{
	char dir[PATH_MAX];
	int r;

	*im = (struct prov_img){.fd = -1};
	msg[0] = '\0';
	if (!rec_name_ok(name)) {
		snprintf(msg, msglen, "'%s' is not a valid image name", name);
		return -EINVAL;
	}
	snprintf(im->name, sizeof(im->name), "%s", name);
	snprintf(dir, sizeof(dir), "%s/images/%s", state, name);
	r = prov_entry_open(state, "image", name, write, &im->fd, msg, msglen);
	if (r < 0) {
		goto fail;
	}
	im->locked = write;
	/* Only runs that are gone: safe without the lock. */
	prov_clean_stale(dir);
	im->legacy = !exists_at(im->fd, "v");
	if (im->legacy && !exists_at(im->fd, "root") &&
	    !exists_at(im->fd, "v.mig")) {
		snprintf(msg, msglen,
		    "image '%s' has neither versions (v/) nor trees; remove "
		    "it with 'pinetboot image remove %s'",
		    name, name);
		r = -ENOENT;
		goto fail;
	}
	if (im->legacy && write) {
		r = migrate_legacy(im, msg, msglen);
		if (r < 0) {
			goto fail;
		}
	}
	if (im->legacy) {
		im->v = malloc(sizeof(*im->v));
		if (!im->v) {
			r = -ENOMEM;
			goto fail;
		}
		im->v[0] = 1;
		im->n = 1;
		return 0;
	}
	r = list_versions(im);
	if (r == 0 && im->n == 0) {
		snprintf(msg, msglen, "image '%s' has no versions", name);
		r = -ENOENT;
	}
	if (r < 0) {
		goto fail;
	}
	return 0;
fail:
	if (!msg[0]) {
		snprintf(msg, msglen, "image '%s': %s", name, strerror(-r));
	}
	prov_img_close(im);
	return r;
}

void
prov_img_close(struct prov_img *im)
{
	if (im->fd >= 0) {
		close(im->fd); /* releases the flock */
	}
	free(im->v);
	*im = (struct prov_img){.fd = -1};
}

unsigned
prov_img_newest(const struct prov_img *im)
{
	return im->n ? im->v[im->n - 1] : 0;
}

int
prov_version_commit(struct prov_img *im, const char *tmp, unsigned n)
{
	char rel[32];
	int r;

	if (mkdirat(im->fd, "v", 0755) < 0 && errno != EEXIST) {
		return -errno;
	}
	snprintf(rel, sizeof(rel), "v/%u", n);
	if (exists_at(im->fd, rel)) {
		return -EEXIST;
	}
	if (renameat(im->fd, tmp, im->fd, rel) < 0) {
		return errno == ENOTEMPTY ? -EEXIST : -errno;
	}
	im->legacy = false;
	r = list_versions(im);
	if (r == 0 && !exists_at(im->fd, "image.conf")) {
		char when[32];

		prov_now_iso(when, sizeof(when));
		r = write_image_record(im->fd, im->name, when);
	}
	return r;
}

void
prov_version_disk_use(const struct prov_img *im, uint64_t *boot, uint64_t *root)
{
	struct tree_inoset seen = {0};
	char rel[64];
	size_t i;
	int fd;

	for (i = 0; i < im->n; i++) {
		boot[i] = root[i] = 0;
		prov_version_path(im, im->v[i], "boot", rel, sizeof(rel));
		fd = openat(im->fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			boot[i] = tree_du_new(fd, &seen);
			close(fd);
		}
		prov_version_path(im, im->v[i], "root", rel, sizeof(rel));
		fd = openat(im->fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			root[i] = tree_du_new(fd, &seen);
			close(fd);
		}
	}
	tree_inoset_fini(&seen);
}

const char *
prov_elf_arch(const uint8_t *p, size_t len)
{
	static const uint8_t magic[4] = {0x7f, 'E', 'L', 'F'};
	unsigned cls, machine;
	uint32_t flags;

	/* e_ident (16), e_type, e_machine; e_flags at 36 (32-bit). */
	if (len < 52 || memcmp(p, magic, 4) != 0 || p[5] != 1) {
		return NULL; /* not ELF, or big-endian */
	}
	cls = p[4];
	machine = (unsigned)p[18] | (unsigned)p[19] << 8;
	if (cls == 2) {
		switch (machine) {
		case 183:
			return "arm64";
		case 62:
			return "amd64";
		case 243:
			return "riscv64";
		default:
			return NULL;
		}
	}
	if (cls != 1) {
		return NULL;
	}
	if (machine == 3) {
		return "i386";
	}
	if (machine != 40) {
		return NULL;
	}
	/* EF_ARM_ABI_FLOAT_HARD (0x400) marks armhf's hard-float ABI. */
	flags = (uint32_t)p[36] | (uint32_t)p[37] << 8 | (uint32_t)p[38] << 16 |
	    (uint32_t)p[39] << 24;
	return flags & 0x400 ? "armhf" : "armel";
}

void
prov_arch_detect(int rootfd, char *out, size_t cap)
{
	static const char *const probes[] = {"usr/bin/dpkg", "bin/sh",
	    "usr/bin/sh", "bin/busybox", "usr/bin/busybox", "bin/bash"};
	size_t i;

	out[0] = '\0';
	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		int fd = tree_open_file(rootfd, probes[i]);
		uint8_t hdr[64];
		ssize_t n;
		const char *a;

		if (fd < 0) {
			continue;
		}
		n = pread(fd, hdr, sizeof(hdr), 0);
		close(fd);
		a = n > 0 ? prov_elf_arch(hdr, (size_t)n) : NULL;
		if (a) {
			snprintf(out, cap, "%s", a);
			return;
		}
	}
}

const char *
prov_native_arch(void)
{
	static const struct {
		const char *machine, *arch;
	} map[] = {
	    {"x86_64", "amd64"},
	    {"aarch64", "arm64"},
	    {"armv7l", "armhf"},
	    {"i686", "i386"},
	    {"riscv64", "riscv64"},
	};
	struct utsname u;
	size_t i;

	if (uname(&u) < 0) {
		return NULL;
	}
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (!strcmp(u.machine, map[i].machine)) {
			return map[i].arch;
		}
	}
	return NULL;
}

int
prov_version_stack(const struct prov_img *im, unsigned n, const char *tree,
    int top, const char *client, const char *index, bool read_only,
    struct layer_stack **out, char *msg, size_t msglen)
{
	struct layer_stack_conf c = {
	    .atfd = im->fd,
	    .client = client,
	    .index = index,
	    .read_only = read_only,
	};
	unsigned layers[PROV_CHAIN_MAX];
	char rel[PROV_CHAIN_MAX + 1][64];
	int k, r;

	*out = NULL;
	k = prov_version_layers(im, n, layers, PROV_CHAIN_MAX, msg, msglen);
	if (k < 0) {
		return k;
	}
	if (top >= 0) {
		snprintf(
		    rel[c.nversions], sizeof(rel[0]), "/proc/self/fd/%d", top);
		c.versions[c.nversions] = rel[c.nversions];
		c.nversions++;
	}
	for (r = 0; r < k; r++) {
		prov_version_path(
		    im, layers[r], tree, rel[c.nversions], sizeof(rel[0]));
		c.versions[c.nversions] = rel[c.nversions];
		c.nversions++;
	}
	r = layer_stack_open(&c, out, NULL);
	if (r < 0) {
		snprintf(msg, msglen,
		    "opening the %s layers of version %u of image '%s': %s",
		    tree, n, im->name, strerror(-r));
	}
	return r;
}

int
prov_version_flatten(const struct prov_img *im, int top_boot, int top_root,
    unsigned below, int dstfd, const struct prov_progress *prog, char *msg,
    size_t msglen)
{
	static const char *const trees[] = {"boot", "root"};
	struct layer_stack *st = NULL;
	size_t t;
	int r = 0;

	for (t = 0; t < 2 && r == 0; t++) {
		struct merge_stats ms;
		int top = t == 0 ? top_boot : top_root, dst = -1;

		r = prov_version_stack(im, below, trees[t], top, NULL, NULL,
		    true, &st, msg, msglen);
		if (r < 0) {
			return r;
		}
		if (mkdirat(dstfd, trees[t], 0755) < 0 && errno != EEXIST) {
			r = -errno;
		}
		if (r == 0) {
			dst = openat(dstfd, trees[t],
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			r = dst < 0 ? -errno : 0;
		}
		if (r == 0) {
			r = merge_link_tree(st, dst, prog, &ms);
		}
		if (dst >= 0) {
			close(dst);
		}
		layer_stack_close(st);
		if (r < 0 && !msg[0]) {
			snprintf(msg, msglen,
			    "flattening version %u of image '%s' (%s): %s",
			    below, im->name, trees[t], strerror(-r));
		}
	}
	return r;
}

int
prov_view_open(struct prov_view *w, const char *state, const char *name,
    unsigned n, const struct prov_progress *prog, char *msg, size_t msglen)
{
	char rel[64];
	int r, dfd = -1;

	memset(w, 0, sizeof(*w));
	w->boot = w->root = -1;
	w->img.fd = -1;
	r = prov_img_open(&w->img, state, name, false, msg, msglen);
	if (r < 0) {
		return r;
	}
	if (n == 0) {
		n = prov_img_newest(&w->img);
	}
	r = prov_version_read(&w->img, n, &w->v, msg, msglen);
	if (r < 0) {
		goto fail;
	}
	if (!w->v.base) {
		snprintf(
		    w->tmp, sizeof(w->tmp), ".tmp-view-%ld", (long)getpid());
		tree_rm(w->img.fd, w->tmp);
		if (mkdirat(w->img.fd, w->tmp, 0700) < 0) {
			r = -errno;
			w->tmp[0] = '\0';
			goto fail;
		}
		dfd = openat(w->img.fd, w->tmp,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		r = dfd < 0 ? -errno
			    : prov_version_flatten(
				  &w->img, -1, -1, n, dfd, prog, msg, msglen);
		if (dfd >= 0) {
			close(dfd);
		}
		if (r < 0) {
			goto fail;
		}
	}
	snprintf(rel, sizeof(rel), "%s/boot", w->tmp);
	if (!w->tmp[0]) {
		prov_version_path(&w->img, n, "boot", rel, sizeof(rel));
	}
	w->boot = openat(w->img.fd, rel,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC);
	snprintf(rel, sizeof(rel), "%s/root", w->tmp);
	if (!w->tmp[0]) {
		prov_version_path(&w->img, n, "root", rel, sizeof(rel));
	}
	w->root = openat(w->img.fd, rel,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC);
	if (w->boot < 0 || w->root < 0) {
		r = -errno;
		snprintf(msg, msglen,
		    "version %u of image '%s' lacks its trees: %s", n, name,
		    strerror(-r));
		goto fail;
	}
	return 0;
fail:
	if (!msg[0]) {
		snprintf(msg, msglen, "image '%s': %s", name, strerror(-r));
	}
	prov_view_close(w);
	return r;
}

void
prov_view_close(struct prov_view *w)
{
	if (w->boot >= 0) {
		close(w->boot);
	}
	if (w->root >= 0) {
		close(w->root);
	}
	if (w->tmp[0] && w->img.fd >= 0) {
		tree_rm(w->img.fd, w->tmp);
	}
	prov_img_close(&w->img);
	w->boot = w->root = -1;
	w->tmp[0] = '\0';
}

void
prov_image_clients(const char *state, const char *image,
    void (*fn)(void *arg, const struct prov_image_user *u), void *arg)
{
	char dir[PATH_MAX], rel[NAME_MAX + 32], *text;
	struct dirent *e;
	struct rec rec;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/clients", state);
	d = opendir(dir);
	while (d && (e = readdir(d)) != NULL) {
		char v[REC_MAX_VALUE + 1];

		if (e->d_name[0] == '.' || strlen(e->d_name) > REC_NAME_MAX) {
			continue;
		}
		snprintf(rel, sizeof(rel), "%s/client.conf", e->d_name);
		if (rec_read_at(dirfd(d), rel, &text, &rec) == 0 &&
		    rec_get(&rec, "image", v, sizeof(v)) && !strcmp(v, image)) {
			struct prov_image_user u = {
			    .client = e->d_name,
			    .version = rec_unsigned(&rec, "version"),
			    .next = rec_unsigned(&rec, "next_version"),
			    .previous = rec_unsigned(&rec, "previous_version"),
			};

			u.version = u.version ? u.version : 1;
			fn(arg, &u);
		}
		free(text);
	}
	if (d) {
		closedir(d);
	}
}

int
prov_target_open(struct prov_target *t, const char *state, int imgfd,
    const char *name, unsigned *version, char *msg, size_t msglen)
{
	int r;

	t->existing = faccessat(imgfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	if (t->existing) {
		r = prov_img_open(&t->img, state, name, true, msg, msglen);
		if (r < 0) {
			return r;
		}
		*version = prov_img_newest(&t->img) + 1;
		t->parentfd = t->img.fd;
		snprintf(t->tmp, sizeof(t->tmp), ".tmp-v-%ld", (long)getpid());
	} else {
		*version = 1;
		t->parentfd = imgfd;
		snprintf(t->tmp, sizeof(t->tmp), ".tmp-%s-%ld", name,
		    (long)getpid());
	}
	tree_rm(t->parentfd, t->tmp);
	if (mkdirat(t->parentfd, t->tmp, 0755) < 0) {
		return -errno;
	}
	if (!t->existing) {
		char v[REC_NAME_MAX + 48];

		snprintf(v, sizeof(v), "%s/v", t->tmp);
		if (mkdirat(t->parentfd, v, 0755) < 0) {
			return -errno;
		}
		snprintf(v, sizeof(v), "%s/v/1", t->tmp);
		if (mkdirat(t->parentfd, v, 0755) < 0) {
			return -errno;
		}
		t->verfd = openat(t->parentfd, v,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	} else {
		t->verfd = openat(t->parentfd, t->tmp,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	return t->verfd < 0 ? -errno : 0;
}

int
prov_target_commit(struct prov_target *t, const char *name, unsigned version,
    const char *created, char *msg, size_t msglen)
{
	int r;

	if (t->existing) {
		r = prov_version_commit(&t->img, t->tmp, version);
	} else {
		char text[256];
		int tfd = openat(t->parentfd, t->tmp,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int n = snprintf(text, sizeof(text),
		    "# pinetboot image record; its versions are under v/\n"
		    "name = %s\n"
		    "created = %s\n",
		    name, created);

		r = tfd < 0
		    ? -errno
		    : tree_write_file(tfd, "image.conf", text, (size_t)n, 0644);
		if (tfd >= 0) {
			close(tfd);
		}
		/* No fsync, as in prov_client_add(). */
		if (r == 0 &&
		    renameat(t->parentfd, t->tmp, t->parentfd, name) < 0) {
			r = errno == ENOTEMPTY ? -EEXIST : -errno;
		}
	}
	if (r == -EEXIST) {
		snprintf(msg, msglen,
		    "another command made image '%s' version %u meanwhile; "
		    "try again",
		    name, version);
	}
	return r;
}

void
prov_target_close(struct prov_target *t, bool keep)
{
	if (t->verfd >= 0) {
		close(t->verfd);
	}
	if (!keep && t->tmp[0]) {
		tree_rm(t->parentfd, t->tmp);
	}
	prov_img_close(&t->img);
}

struct version_users {
	unsigned n;
	char list[512];
	size_t used;
};

static void
note_user(void *arg, const struct prov_image_user *u)
{
	struct version_users *vu = arg;
	const char *how = u->version == vu->n ? "uses it"
	    : u->next == vu->n                ? "moves to it"
	    : u->previous == vu->n            ? "goes back to it on a rollback"
					      : NULL;

	if (how && vu->used < sizeof(vu->list)) {
		vu->used += (size_t)snprintf(vu->list + vu->used,
		    sizeof(vu->list) - vu->used, "%s%s (%s)",
		    vu->used ? ", " : "", u->client, how);
	}
}

int
prov_version_remove(
    const char *state, const char *name, unsigned n, char *msg, size_t msglen)
{
	struct version_users vu = {.n = n};
	struct prov_version *v = malloc(sizeof(*v));
	struct prov_img im;
	char rel[32], tmp[64];
	size_t i;
	int r;

	msg[0] = 0;
	if (!v) {
		return -ENOMEM;
	}
	r = prov_img_open(&im, state, name, true, msg, msglen);
	if (r < 0) {
		free(v);
		return r;
	}
	r = prov_version_read(&im, n, v, msg, msglen);
	if (r == -ENOENT) {
		snprintf(msg, msglen, "image '%s' has no version %u", name, n);
	}
	if (r < 0) {
		goto out;
	}
	prov_image_clients(state, name, note_user, &vu);
	if (vu.used) {
		snprintf(msg, msglen,
		    "version %u of image '%s' is in use: %s; move those "
		    "clients first ('pinetboot client set NAME --image "
		    "%s@VERSION')",
		    n, name, vu.list, name);
		r = -EBUSY;
		goto out;
	}
	for (i = 0; i < im.n; i++) {
		if (im.v[i] != n && read_one(&im, im.v[i], v) == 0 &&
		    !v->base && v->parent == n) {
			snprintf(msg, msglen,
			    "version %u of image '%s' is a delta over version "
			    "%u: it needs it; remove version %u first",
			    im.v[i], name, n, im.v[i]);
			r = -EBUSY;
			goto out;
		}
	}
	if (im.n == 1) {
		snprintf(msg, msglen,
		    "version %u is the only version of image '%s': remove "
		    "the image ('pinetboot image remove %s')",
		    n, name, name);
		r = -EBUSY;
		goto out;
	}
	/* Out of sight first, then deleted: a kill leaves a temporary. */
	snprintf(rel, sizeof(rel), "v/%u", n);
	snprintf(tmp, sizeof(tmp), ".tmp-rm-v%u-%ld", n, (long)getpid());
	if (renameat(im.fd, rel, im.fd, tmp) < 0) {
		r = -errno;
		snprintf(msg, msglen, "removing version %u of image '%s': %s",
		    n, name, strerror(-r));
		goto out;
	}
	r = tree_rm(im.fd, tmp);
	if (r < 0) {
		snprintf(msg, msglen,
		    "removing %s of image '%s': %s; the next command that "
		    "writes to the image removes what is left",
		    tmp, name, strerror(-r));
	}
out:
	prov_img_close(&im);
	free(v);
	return r;
}
