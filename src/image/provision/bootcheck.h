#ifndef PNB_IMAGE_PROVISION_BOOTCHECK_H
#define PNB_IMAGE_PROVISION_BOOTCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Boot trees that look complete but stop some Pis: what `image import`,
 * `client add` and `doctor` warn about.  A client's model is not
 * recorded anywhere (client.conf has none; the firmware tells the server
 * only at boot), so a finding applies when the tree holds that model's
 * files: bcm2711 device trees or start4.elf for a Pi 4, bcm2712 device
 * trees for a Pi 5.
 */

/*
 * The largest file start4.elf fetches whole: in 2022 it counted 1024-byte
 * TFTP blocks without rolling over after block 65535, and cut the file
 * off silently (reference §9 item 2, raspberrypi/rpi-eeprom#375).
 */
#define PROV_PI4_FILE_MAX 67107839ull

/* How deep the walk goes: the firmware's os_prefix adds a level or two. */
#define PROV_BOOT_DEPTH_MAX 8

enum prov_boot_issue {
	/* bcm2712 device trees without overlays/bcm2712d0.dtbo */
	PROV_BOOT_PI5_NO_D0_OVERLAY,
	/* a file a Pi 4 loads through start4.elf, past PROV_PI4_FILE_MAX */
	PROV_BOOT_PI4_TOO_BIG,
};

struct prov_boot_finding {
	enum prov_boot_issue issue;
	char file[512]; /* path inside the boot tree */
	uint64_t size;
};

typedef void (*prov_boot_fn)(void *arg, const struct prov_boot_finding *f);

/*
 * prov_boot_pi4_loads() - may a Pi 4 load @rel (a path in its boot tree)
 * after start4.elf?  False for the files only other models read (kernel.img
 * and kernel7.img, bcm2708 to bcm2710 device trees, anything named for the
 * BCM2712) and for what the bootloader itself fetches (start*.elf,
 * fixup*.dat, bootcode.bin).  Pure, for unit tests.
 */
bool prov_boot_pi4_loads(const char *rel);

/*
 * prov_boot_check() - walk the boot tree @bootfd (borrowed; symlinks are
 * not followed, at most PROV_BOOT_DEPTH_MAX levels) and call @fn once
 * per finding.
 * Return: the number of findings, or -errno when the tree cannot be read.
 */
int prov_boot_check(int bootfd, prov_boot_fn fn, void *arg);

/* prov_boot_check_dir() - prov_boot_check() on the directory @path. */
int prov_boot_check_dir(const char *path, prov_boot_fn fn, void *arg);

/*
 * prov_boot_describe() - @f in words: what is wrong, why, and what to do,
 * into @out (@cap bytes).
 */
void prov_boot_describe(
    const struct prov_boot_finding *f, char *out, size_t cap);

#endif
