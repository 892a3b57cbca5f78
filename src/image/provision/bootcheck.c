#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/size.h"
#include "image/provision/bootcheck.h"
#include "image/provision/tree.h"

static bool
starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool
ends(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

bool
prov_boot_pi4_loads(const char *rel)
{
	static const char *const other_models[] = {
	    "kernel.img", "kernel7.img", "initramfs", "initramfs7"};
	const char *base = strrchr(rel, '/');
	size_t i;

	base = base ? base + 1 : rel;
	for (i = 0; i < sizeof(other_models) / sizeof(other_models[0]); i++) {
		if (!strcmp(base, other_models[i])) {
			return false;
		}
	}
	/* kernel_2712.img, initramfs_2712, bcm2712-*.dtb: Pi 5 only. */
	if (strstr(base, "2712") || starts(base, "bcm2708") ||
	    starts(base, "bcm2709") || starts(base, "bcm2710")) {
		return false;
	}
	/* The bootloader fetches these itself, before start4.elf runs. */
	return !((starts(base, "start") && ends(base, ".elf")) ||
	    (starts(base, "fixup") && ends(base, ".dat")) ||
	    !strcmp(base, "bootcode.bin"));
}

struct boot_walk {
	prov_boot_fn fn;
	void *arg;
	int found;
	char path[512];
	size_t plen;
};

static void
boot_found(struct boot_walk *w, enum prov_boot_issue issue, const char *file,
    uint64_t size)
{
	struct prov_boot_finding f = {.issue = issue, .size = size};

	snprintf(f.file, sizeof(f.file), "%s", file);
	w->fn(w->arg, &f);
	w->found++;
}

/* Regular files of a Pi 4 tree past what start4.elf fetches whole. */
static int
boot_walk_dir(struct boot_walk *w, int dirfd, unsigned depth)
{
	DIR *d = tree_dir_stream(dirfd);
	struct dirent *e;

	if (!d) {
		return -errno;
	}
	while ((e = readdir(d)) != NULL) {
		size_t saved = w->plen, n = strlen(e->d_name);
		struct stat st;

		if (e->d_name[0] == '.' ||
		    fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    w->plen + n + 2 > sizeof(w->path)) {
			continue;
		}
		w->plen += (size_t)snprintf(w->path + w->plen,
		    sizeof(w->path) - w->plen, "%s%s", w->plen ? "/" : "",
		    e->d_name);
		if (S_ISDIR(st.st_mode) && depth + 1 < PROV_BOOT_DEPTH_MAX) {
			int sub = openat(dirfd, e->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0) {
				boot_walk_dir(w, sub, depth + 1);
				close(sub);
			}
		} else if (S_ISREG(st.st_mode) &&
		    (uint64_t)st.st_size > PROV_PI4_FILE_MAX &&
		    prov_boot_pi4_loads(w->path)) {
			boot_found(w, PROV_BOOT_PI4_TOO_BIG, w->path,
			    (uint64_t)st.st_size);
		}
		w->plen = saved;
		w->path[saved] = '\0';
	}
	closedir(d);
	return 0;
}

/* Which models' files the top of the tree holds. */
static int
boot_models(int bootfd, bool *pi4, bool *pi5)
{
	DIR *d = tree_dir_stream(bootfd);
	struct dirent *e;

	*pi4 = *pi5 = false;
	if (!d) {
		return -errno;
	}
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, "start4.elf") ||
		    (starts(e->d_name, "bcm2711") && ends(e->d_name, ".dtb"))) {
			*pi4 = true;
		}
		if (starts(e->d_name, "bcm2712") && ends(e->d_name, ".dtb")) {
			*pi5 = true;
		}
	}
	closedir(d);
	return 0;
}

int
prov_boot_check(int bootfd, prov_boot_fn fn, void *arg)
{
	struct boot_walk w = {.fn = fn, .arg = arg};
	bool pi4, pi5;
	int r;

	r = boot_models(bootfd, &pi4, &pi5);
	if (r < 0) {
		return r;
	}
	/* Reference §9 item 3: missing overlay = boot failure on D0. */
	if (pi5 && !tree_exists(bootfd, "overlays/bcm2712d0.dtbo")) {
		boot_found(&w, PROV_BOOT_PI5_NO_D0_OVERLAY,
		    "overlays/bcm2712d0.dtbo", 0);
	}
	if (pi4) {
		r = boot_walk_dir(&w, bootfd, 0);
		if (r < 0) {
			return r;
		}
	}
	return w.found;
}

int
prov_boot_check_dir(const char *path, prov_boot_fn fn, void *arg)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	if (fd < 0) {
		return -errno;
	}
	r = prov_boot_check(fd, fn, arg);
	close(fd);
	return r;
}

void
prov_boot_describe(const struct prov_boot_finding *f, char *out, size_t cap)
{
	char h[32];

	switch (f->issue) {
	case PROV_BOOT_PI5_NO_D0_OVERLAY:
		snprintf(out, cap,
		    "the boot tree has Pi 5 device trees (bcm2712-*.dtb) but "
		    "no %s: Pi 5-family boards with the D0 stepping of the "
		    "BCM2712 load bcm2712-rpi-5-b.dtb with that overlay and do "
		    "not boot without it (NumberOneGit/rpi5-uefi#8); use an "
		    "image whose boot partition has it (a current Raspberry Pi "
		    "OS), or copy it from the raspberrypi/firmware boot files "
		    "into the tree's overlays/",
		    f->file);
		return;
	case PROV_BOOT_PI4_TOO_BIG:
		snprintf(out, cap,
		    "%s is %s (%llu bytes), more than the 67107839 bytes a Pi "
		    "4's start4.elf fetches over TFTP (1024-byte blocks "
		    "without block-number rollover, "
		    "raspberrypi/rpi-eeprom#375): "
		    "a Pi 4 that loads it does not boot; make it smaller (an "
		    "initramfs: MODULES=dep in "
		    "/etc/initramfs-tools/initramfs.conf, then "
		    "update-initramfs "
		    "-u), or boot Pi 4s from another image; Pi 5s are not "
		    "affected",
		    f->file, size_human(f->size, h, sizeof(h)),
		    (unsigned long long)f->size);
		return;
	}
	snprintf(out, cap, "%s: unknown finding", f->file);
}
