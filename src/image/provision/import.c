#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/io.h"
#include "core/size.h"
#include "image/disk/blk.h"
#include "image/disk/part.h"
#include "image/ext4/ext4.h"
#include "image/fat/fat.h"
#include "image/provision/prov.h"
#include "image/provision/tree.h"
#include "image/provision/version.h"

void
prov_clean_stale(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d) {
		return;
	}
	while ((e = readdir(d)) != NULL) {
		const char *dash;
		long pid;
		char *end;

		if (strncmp(e->d_name, ".tmp-", 5) != 0) {
			continue;
		}
		dash = strrchr(e->d_name, '-');
		pid = strtol(dash + 1, &end, 10);
		if (*end != '\0' || pid <= 0 || pid == (long)getpid()) {
			continue;
		}
		if (kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
			tree_rm(dirfd(d), e->d_name);
		}
	}
	closedir(d);
}

int
prov_private_dir(const char *state, const char *sub, char *dir, size_t cap,
    char *note, size_t notelen, char *msg, size_t msglen)
{
	const char *paths[2] = {state, dir};
	size_t i, used = 0;
	int r;

	note[0] = '\0';
	if ((size_t)snprintf(dir, cap, "%s/%s", state, sub) >= cap) {
		snprintf(msg, msglen, "the state directory path is too long");
		return -ENAMETOOLONG;
	}
	for (i = 0; i < 2; i++) {
		unsigned was;

		r = io_private_dir(paths[i], &was);
		if (r < 0) {
			snprintf(msg, msglen, "cannot create %s: %s", paths[i],
			    strerror(-r));
			return r;
		}
		if (was && used < notelen) {
			used += (size_t)snprintf(note + used, notelen - used,
			    "%s%s was mode %04o", used ? "; " : "", paths[i],
			    was);
		}
	}
	if (used && used < notelen) {
		snprintf(note + used, notelen - used,
		    ", now 0700: local users could reach the client roots");
	}
	return 0;
}

/* FAT extraction: one directory fd per level of the walk. */
struct fatx {
	int fds[FAT_DEPTH_MAX + 2];
	struct fat_vol *v;
	uint8_t *buf;
	int out;
	uint64_t bytes, limit, max_bytes, files;
	const struct prov_progress *prog;
	char where[512];
};

static int
fatx_sink(void *arg, const uint8_t *p, size_t n)
{
	struct fatx *x = arg;

	while (n > 0) {
		ssize_t w = write(x->out, p, n);

		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w < 0) {
			return -errno;
		}
		p += w;
		n -= (size_t)w;
		x->bytes += (uint64_t)w;
	}
	if (x->bytes > x->max_bytes) {
		return -ENOSPC;
	}
	/* Cross-linked files repeat data: bound the total. */
	return x->bytes > x->limit ? -EFBIG : 0;
}

static void
fatx_times(const struct fat_dirent *e, struct timespec ts[2])
{
	ts[0] = (struct timespec){.tv_sec = fat_time(e->adate, 0)};
	ts[1] = (struct timespec){.tv_sec = fat_time(e->wdate, e->wtime)};
}

static int
fatx_file(void *arg, unsigned depth, const struct fat_dirent *e)
{
	struct fatx *x = arg;
	struct timespec ts[2];
	int r;

	snprintf(x->where, sizeof(x->where), "%.200s", e->name);
	x->out = openat(x->fds[depth - 1], e->name,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (x->out < 0) {
		return -errno;
	}
	r = fat_read_file(x->v, e, x->buf, 1u << 20, fatx_sink, x);
	fatx_times(e, ts);
	if (r == 0 && (fchmod(x->out, 0644) < 0 || futimens(x->out, ts) < 0)) {
		r = -errno;
	}
	close(x->out);
	x->out = -1;
	x->files++;
	if (r == 0 && x->prog && x->files % 64 == 0) {
		r = x->prog->fn(x->prog->arg, "boot", x->bytes, 0);
	}
	return r;
}

static int
fatx_enter(void *arg, unsigned depth, const struct fat_dirent *e)
{
	struct fatx *x = arg;
	int fd;

	snprintf(x->where, sizeof(x->where), "%.200s/", e->name);
	if (mkdirat(x->fds[depth - 1], e->name, 0755) < 0) {
		return -errno;
	}
	fd = openat(x->fds[depth - 1], e->name,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	x->fds[depth] = fd;
	return 0;
}

static int
fatx_leave(void *arg, unsigned depth, const struct fat_dirent *e)
{
	struct fatx *x = arg;
	struct timespec ts[2];
	int r = 0;

	fatx_times(e, ts);
	if (futimens(x->fds[depth], ts) < 0) {
		r = -errno;
	}
	close(x->fds[depth]);
	x->fds[depth] = -1;
	return r;
}

static void
fatx_reject(void *arg, const struct fat_dirent *e, int err)
{
	struct fatx *x = arg;

	(void)err;
	snprintf(x->where, sizeof(x->where), "%.200s/", e->name);
}

static uint64_t
room_for(uint64_t cap, uint64_t free_bytes)
{
	return cap < free_bytes ? cap : free_bytes;
}

/*
 * Why extracting @what stopped for want of room: the file system said it
 * holds @claim bytes of files (0: unknown), @wrote were written, and the
 * extraction was allowed the smaller of the import limit @cap and the
 * @free_bytes of @dir.  Also for -ENOSPC and -EDQUOT from the writes.
 */
static void
import_room_msg(char *msg, size_t msglen, const char *what, const char *dir,
    uint64_t claim, uint64_t wrote, uint64_t cap, uint64_t free_bytes)
{
	uint64_t max = room_for(cap, free_bytes);
	char a[32], b[32], c[32];

	if (wrote == 0 && claim > max && claim > cap) {
		snprintf(msg, msglen,
		    "%s: its files take %s, more than the import limit of %s "
		    "(--max-size, [image] max_size): raise it if that is "
		    "right",
		    what, size_human(claim, a, sizeof(a)),
		    size_human(cap, b, sizeof(b)));
	} else if (wrote == 0 && claim > max) {
		snprintf(msg, msglen,
		    "not enough space in %s: the %s's files need %s and %s "
		    "are free; free some space, or put the state directory on "
		    "a larger file system",
		    dir, what, size_human(claim, a, sizeof(a)),
		    size_human(free_bytes, b, sizeof(b)));
	} else if (wrote > cap) {
		snprintf(msg, msglen,
		    "%s: the files expand past the import limit of %s%s%s: "
		    "refusing a damaged or hostile image",
		    what, size_human(cap, a, sizeof(a)),
		    claim ? " though the file system says it holds " : "",
		    claim ? size_human(claim, b, sizeof(b)) : "");
	} else {
		snprintf(msg, msglen,
		    "%s: the file system of %s filled up after %s of files "
		    "(%s were free when it began%s%s): free some "
		    "space, or put the state directory on a larger file system",
		    what, dir, size_human(wrote, a, sizeof(a)),
		    size_human(free_bytes, b, sizeof(b)),
		    claim ? "; the image says it holds " : "",
		    claim ? size_human(claim, c, sizeof(c)) : "");
	}
}

static int
extract_fat(const struct blk *dev, int dirfd, uint64_t max_bytes,
    const struct prov_progress *prog, uint64_t *wrote, char *msg, size_t msglen)
{
	struct fat_vol *v = calloc(1, sizeof(*v));
	struct fatx x = {
	    .v = v, .out = -1, .prog = prog, .max_bytes = max_bytes};
	struct fat_visitor vis = {.enter = fatx_enter,
	    .file = fatx_file,
	    .leave = fatx_leave,
	    .reject = fatx_reject,
	    .arg = &x};
	unsigned i;
	int r;

	*wrote = 0;
	for (i = 0; i < FAT_DEPTH_MAX + 2; i++) {
		x.fds[i] = -1;
	}
	x.buf = malloc(1u << 20);
	if (!v || !x.buf) {
		r = -ENOMEM;
		goto out;
	}
	x.limit = 4 * dev->size + (64u << 20);
	r = fat_open(v, dev);
	if (r < 0) {
		snprintf(msg, msglen, "boot partition: %s", pnb_strerror(r));
		goto out;
	}
	x.fds[0] = dirfd;
	r = fat_walk(v, &vis);
	if (r < 0) {
		snprintf(msg, msglen, "boot partition, at %.200s: %s", x.where,
		    pnb_strerror(r));
	}
	*wrote = x.bytes;
	/* An error mid-walk leaves deeper directory fds open. */
	for (i = 1; i < FAT_DEPTH_MAX + 2; i++) {
		if (x.fds[i] >= 0) {
			close(x.fds[i]);
		}
	}
out:
	free(x.buf);
	free(v);
	return r;
}

static bool
is_fat_type(const struct part *p)
{
	switch (p->mbr_type) {
	case MBR_TYPE_FAT12:
	case MBR_TYPE_FAT16_SMALL:
	case MBR_TYPE_FAT16:
	case MBR_TYPE_FAT32_CHS:
	case MBR_TYPE_FAT32_LBA:
	case MBR_TYPE_FAT16_LBA:
	case MBR_TYPE_EFI:
	case 0: /* GPT: decided by probing */
		return true;
	default:
		return false;
	}
}

struct import_prog {
	const struct prov_progress *up;
	const struct ext4_stats *st; /* used_bytes is known once it runs */
};

static int
import_root_prog(void *arg, uint64_t done)
{
	struct import_prog *p = arg;

	return p->up && p->up->fn
	    ? p->up->fn(p->up->arg, "root", done, p->st->used_bytes)
	    : 0;
}

static int
import_wait(void *arg, uint64_t end)
{
	return prov_src_wait(arg, end);
}

/* Pick "PRETTY_NAME" (or NAME) out of os-release text. */
static void
os_release_name(const char *text, char *out, size_t cap)
{
	const char *keys[] = {"PRETTY_NAME=", "NAME="};
	size_t k;

	snprintf(out, cap, "unknown (no /etc/os-release)");
	for (k = 0; k < 2; k++) {
		const char *p = text;

		while (p && *p) {
			size_t kl = strlen(keys[k]);

			if (!strncmp(p, keys[k], kl)) {
				const char *v = p + kl, *e;

				if (*v == '"' || *v == '\'') {
					v++;
				}
				e = v + strcspn(v, "\"'\n");
				snprintf(out, cap, "%.*s", (int)(e - v), v);
				return;
			}
			p = strchr(p, '\n');
			p = p ? p + 1 : NULL;
		}
	}
}

/* Which Raspberry Pi models the boot files can start (by SoC DTBs). */
static void
boot_summary(int bootfd, struct prov_image_info *info)
{
	static const struct {
		const char *dtb, *model, *k1, *k2;
	} soc[] = {
	    {"bcm2708-", "Pi 1/Zero", "kernel.img", NULL},
	    {"bcm2709-", "Pi 2", "kernel7.img", NULL},
	    {"bcm2710-", "Pi 3/Zero 2", "kernel7.img", "kernel8.img"},
	    {"bcm2711-", "Pi 4/400/CM4", "kernel7l.img", "kernel8.img"},
	    {"bcm2712-", "Pi 5/500/CM5", "kernel_2712.img", "kernel8.img"},
	};
	bool have[5] = {false};
	DIR *d = tree_dir_stream(bootfd);
	struct dirent *e;
	size_t i, ko = 0, mo = 0;

	info->kernels[0] = info->models[0] = '\0';
	if (!d) {
		return;
	}
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);

		if (!strncmp(e->d_name, "kernel", 6) && n > 4 &&
		    !strcmp(e->d_name + n - 4, ".img") &&
		    ko + n + 2 < sizeof(info->kernels)) {
			ko += (size_t)snprintf(info->kernels + ko,
			    sizeof(info->kernels) - ko, "%s%s", ko ? " " : "",
			    e->d_name);
		}
		for (i = 0; i < 5; i++) {
			if (!strncmp(e->d_name, soc[i].dtb, 8) && n > 4 &&
			    !strcmp(e->d_name + n - 4, ".dtb")) {
				have[i] = true;
			}
		}
	}
	closedir(d);
	for (i = 0; i < 5; i++) {
		bool kernel = faccessat(bootfd, soc[i].k1, F_OK, 0) == 0 ||
		    (soc[i].k2 && faccessat(bootfd, soc[i].k2, F_OK, 0) == 0);

		if (have[i] && kernel) {
			mo += (size_t)snprintf(info->models + mo,
			    sizeof(info->models) - mo, "%s%s", mo ? ", " : "",
			    soc[i].model);
		}
	}
	if (!info->kernels[0]) {
		snprintf(info->kernels, sizeof(info->kernels), "none");
	}
	if (!info->models[0]) {
		snprintf(info->models, sizeof(info->models),
		    "none (no matching device tree and kernel)");
	}
}

/* /boot/firmware (Bookworm on) or /boot (Bullseye): what fstab says. */
static void
detect_boot_mount(int rootfd, char *out, size_t cap)
{
	char *fstab = tree_read_file(rootfd, "etc/fstab", 1u << 20, NULL);

	snprintf(out, cap, "/boot/firmware");
	if (fstab) {
		const char *p = fstab;

		while (p && *p) {
			char spec[256], mnt[256];

			if (sscanf(p, "%255s %255s", spec, mnt) == 2 &&
			    spec[0] != '#') {
				if (!strcmp(mnt, "/boot/firmware") ||
				    !strcmp(mnt, "/boot")) {
					snprintf(out, cap, "%.16s", mnt);
					break;
				}
			}
			p = strchr(p, '\n');
			p = p ? p + 1 : NULL;
		}
		free(fstab);
		return;
	}
	if (!tree_exists(rootfd, "boot/firmware")) {
		snprintf(out, cap, "/boot");
	}
}

static int
write_version(int dirfd, const struct prov_image_info *info, const char *file)
{
	struct prov_version *v = calloc(1, sizeof(*v));
	int r;

	if (!v) {
		return -ENOMEM;
	}
	snprintf(v->created, sizeof(v->created), "%s", info->created);
	v->n = info->version;
	v->base = true;
	snprintf(v->source, sizeof(v->source), "%s", file);
	snprintf(v->arch, sizeof(v->arch), "%s", info->arch);
	snprintf(v->os, sizeof(v->os), "%s", info->os);
	snprintf(v->boot_mount, sizeof(v->boot_mount), "%s", info->boot_mount);
	snprintf(v->kernels, sizeof(v->kernels), "%s", info->kernels);
	snprintf(v->models, sizeof(v->models), "%s", info->models);
	snprintf(v->scheme, sizeof(v->scheme), "%s", info->scheme);
	v->disk_id = info->disk_id;
	v->boot_bytes = info->boot_bytes;
	v->root_bytes = info->root_disk_bytes;
	r = prov_version_write(dirfd, v);
	free(v);
	return r;
}

int
prov_image_import(const char *state, const struct prov_import *im,
    struct prov_image_info *info, char *msg, size_t msglen)
{
	struct prov_src src = {.fd = -1};
	struct ptable *pt = NULL;
	struct blk dev, sub;
	struct blk_sub subs;
	struct ext4_stats est;
	struct import_prog ip = {.up = &im->prog, .st = &est};
	struct ext4_progress eprog = {.fn = import_root_prog, .arg = &ip};
	struct ext4_wait ewait = {.fn = import_wait, .arg = &src};
	struct prov_target t = {.verfd = -1, .img = {.fd = -1}};
	const struct part *boot = NULL, *root = NULL;
	char dir[PATH_MAX], *text;
	uint64_t free_bytes, wrote;
	int imgfd = -1, bootfd = -1, rootfd = -1, r;
	bool done = false;
	time_t now = time(NULL);
	struct tm tm;
	size_t i;

	memset(info, 0, sizeof(*info));
	msg[0] = '\0';
	if (!rec_name_ok(im->name)) {
		snprintf(msg, msglen,
		    "'%s' is not a valid image name (use a-z, 0-9, '.', '-', "
		    "'_', at most 63 characters, starting with a letter or "
		    "digit)",
		    im->name);
		return -EINVAL;
	}
	snprintf(info->name, sizeof(info->name), "%s", im->name);
	gmtime_r(&now, &tm);
	strftime(
	    info->created, sizeof(info->created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	r = prov_private_dir(state, "images", dir, sizeof(dir), info->note,
	    sizeof(info->note), msg, msglen);
	if (r < 0) {
		return r;
	}
	prov_clean_stale(dir);
	imgfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (imgfd < 0) {
		r = -errno;
		goto out;
	}
	r = prov_target_open(
	    &t, state, imgfd, im->name, &info->version, msg, msglen);
	if (r < 0) {
		goto out;
	}
	r = prov_src_open(
	    &src, im->file, dir, im->max_bytes, &im->prog, msg, msglen);
	if (r < 0) {
		goto out;
	}
	info->threads = src.threads;
	info->disk_bytes = src.size;
	/* Reads wait for bytes still being decompressed. */
	prov_src_blk_init(&dev, &src);
	pt = calloc(1, sizeof(*pt));
	if (!pt) {
		r = -ENOMEM;
		goto out;
	}
	r = ptable_read(&dev, pt);
	if (r < 0) {
		snprintf(msg, msglen, "partition table: %s%s", pnb_strerror(r),
		    r == -EBADMSG ? " (the image is truncated)" : "");
		goto out;
	}
	snprintf(info->scheme, sizeof(info->scheme), "%s",
	    pt->scheme == PART_GPT ? "gpt" : "mbr");
	info->disk_id = pt->disk_id;
	info->used_backup_gpt = pt->used_backup;
	/* Probe rather than trust type bytes (reference §5.1). */
	for (i = 0; i < pt->n && (!boot || !root); i++) {
		const struct part *p = &pt->parts[i];
		uint8_t sb[1024];
		struct fat_vol *fv;

		r = blk_sub_init(&sub, &subs, &dev, p->start * PART_SECTOR,
		    p->count * PART_SECTOR);
		if (r < 0) {
			goto out;
		}
		if (!root && blk_read(&sub, 1024, sb, sizeof(sb)) == 0 &&
		    ext4_probe(sb, sizeof(sb))) {
			root = p;
			continue;
		}
		fv = calloc(1, sizeof(*fv));
		if (!boot && fv && is_fat_type(p) && fat_open(fv, &sub) == 0) {
			boot = p;
		}
		free(fv);
	}
	r = 0;
	if (!boot || !root) {
		snprintf(msg, msglen,
		    "no %s partition found among the %zu partitions; is "
		    "this a Raspberry Pi OS image?",
		    !boot ? "FAT boot" : "ext4 root", pt->n);
		r = -ENOENT;
		goto out;
	}
	if (mkdirat(t.verfd, "boot", 0755) < 0 ||
	    mkdirat(t.verfd, "root", 0755) < 0) {
		r = -errno;
		goto out;
	}
	bootfd = openat(
	    t.verfd, "boot", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	rootfd = openat(
	    t.verfd, "root", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (bootfd < 0 || rootfd < 0) {
		r = -errno;
		goto out;
	}
	/*
	 * What the file systems claim decides nothing on its own (issue
	 * 10): each extraction may write the smaller of the import limit
	 * and the space left, measured after what came before it.
	 */
	blk_sub_init(&sub, &subs, &dev, boot->start * PART_SECTOR,
	    boot->count * PART_SECTOR);
	free_bytes = prov_free_bytes(dir);
	r = extract_fat(&sub, bootfd, room_for(im->max_bytes, free_bytes),
	    &im->prog, &wrote, msg, msglen);
	if (r == -ENOSPC || r == -EDQUOT) {
		import_room_msg(msg, msglen, "boot partition", dir, 0, wrote,
		    im->max_bytes, free_bytes);
	}
	if (r < 0) {
		goto out;
	}
	free_bytes = prov_free_bytes(dir);
	r = ext4_extract(src.path, root->start * PART_SECTOR,
	    root->count * PART_SECTOR, rootfd,
	    room_for(im->max_bytes, free_bytes), &eprog, &ewait, &est);
	if (r == -ENOSPC || r == -EDQUOT) {
		import_room_msg(msg, msglen, "root partition", dir,
		    est.used_bytes, est.bytes, im->max_bytes, free_bytes);
		goto out;
	}
	/* The rest of the stream is decoded and verified before we go on. */
	if (r == 0) {
		r = prov_src_finish(&src, msg, msglen);
		if (r < 0) {
			goto out;
		}
	}
	if (r < 0) {
		if (r == -PNB_EEXT4) {
			snprintf(msg, msglen, "root partition%s%s: %s",
			    est.where[0] ? ", at " : "", est.where,
			    ext4_strerror(est.ext2_err));
		} else {
			snprintf(msg, msglen, "root partition%s%s: %s",
			    est.where[0] ? ", at " : "", est.where,
			    r == -PNB_EPART_RANGE
				? "the file system is larger than its "
				  "partition (truncated image?)"
				: pnb_strerror(r));
		}
		goto out;
	}
	info->root_bytes = est.bytes;
	info->files = est.files;
	info->symlinks = est.symlinks;
	info->hardlinks = est.hardlinks;
	info->specials = est.specials;
	info->xattrs = est.xattrs;
	info->markers = est.markers;
	info->boot_bytes = tree_du(bootfd);
	info->root_disk_bytes = tree_du(rootfd);
	text = tree_read_file(rootfd, "etc/os-release", 65536, NULL);
	if (!text) {
		text =
		    tree_read_file(rootfd, "usr/lib/os-release", 65536, NULL);
	}
	os_release_name(text ? text : "", info->os, sizeof(info->os));
	free(text);
	detect_boot_mount(rootfd, info->boot_mount, sizeof(info->boot_mount));
	boot_summary(bootfd, info);
	prov_arch_detect(rootfd, info->arch, sizeof(info->arch));
	r = write_version(t.verfd, info, im->file);
	if (r < 0) {
		goto out;
	}
	r = prov_target_commit(
	    &t, im->name, info->version, info->created, msg, msglen);
	done = r == 0;
out:
	/*
	 * A read that met the decoder's failure: the decoder has stopped,
	 * and its message says more than the reader's.
	 */
	if (r == -PNB_EXZ_DATA || r == -PNB_EXZ_SIZE) {
		prov_src_finish(&src, msg, msglen);
	}
	if (r < 0 && !msg[0]) {
		snprintf(msg, msglen, "%s", pnb_strerror(r));
	}
	if (bootfd >= 0) {
		close(bootfd);
	}
	if (rootfd >= 0) {
		close(rootfd);
	}
	prov_src_close(&src);
	free(pt);
	prov_target_close(&t, done);
	if (imgfd >= 0) {
		close(imgfd);
	}
	return r;
}
