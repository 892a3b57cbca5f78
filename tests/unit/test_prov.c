#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "image/provision/bootcheck.h"
#include "image/provision/merge.h"
#include "image/provision/prov.h"
#include "image/provision/tree.h"
#include "image/provision/version.h"
#include "t.h"

TEST(cmdline_bookworm)
{
	char out[1024];

	CHECK_EQ(prov_edit_cmdline("console=serial0,115200 console=tty1 "
				   "root=PARTUUID=6c586e13-02 rootfstype=ext4 "
				   "fsck.repair=yes rootwait quiet "
				   "init=/usr/lib/raspberrypi-sys-mods/"
				   "firstboot\n",
		     "10.0.0.1", "/srv/c/pi1/root", out, sizeof(out)),
	    0);
	CHECK_STR(out,
	    "console=serial0,115200 console=tty1 quiet "
	    "root=/dev/nfs nfsroot=10.0.0.1:/srv/c/pi1/root,vers=3,"
	    "tcp rw ip=dhcp rootwait\n");
}

TEST(cmdline_bullseye_and_trixie_hooks)
{
	char out[1024];

	/* Older images resize through init=; Trixie-based ones end in resize.
	 */
	CHECK_EQ(prov_edit_cmdline("console=tty1 root=/dev/mmcblk0p2 rw "
				   "init=/usr/lib/raspi-config/init_resize.sh",
		     NULL, "/r", out, sizeof(out)),
	    0);
	CHECK_STR(out,
	    "console=tty1 root=/dev/nfs nfsroot=/r,vers=3,tcp rw "
	    "ip=dhcp rootwait\n");
	CHECK_EQ(prov_edit_cmdline("console=serial0,115200\tconsole=tty1 "
				   "root=PARTUUID=1-02 rootfstype=ext4 "
				   "fsck.repair=yes rootwait resize\r\n",
		     "1.2.3.4", "/r", out, sizeof(out)),
	    0);
	CHECK_STR(out,
	    "console=serial0,115200 console=tty1 root=/dev/nfs "
	    "nfsroot=1.2.3.4:/r,vers=3,tcp rw ip=dhcp rootwait\n");
	/* Rewriting twice gives the same line. */
	{
		char again[1024];

		CHECK_EQ(prov_edit_cmdline(
			     out, "1.2.3.4", "/r", again, sizeof(again)),
		    0);
		CHECK_STR(again, out);
	}
	CHECK_EQ(prov_edit_cmdline("console=tty1", "1.2.3.4", "/r", out, 20),
	    -EMSGSIZE);
}

TEST(fstab_drops_sd_mounts)
{
	char *f = prov_edit_fstab(
	    "proc /proc proc defaults 0 0\n"
	    "PARTUUID=6c586e13-01  /boot/firmware  vfat defaults 0 2\n"
	    "PARTUUID=6c586e13-02  /  ext4 defaults,noatime 0 1\n"
	    "# a comment about PARTUUID=x / \n"
	    "UUID=abcd /data ext4 defaults 0 2\n",
	    "/boot/firmware", "10.0.0.1", "/srv/c/pi1/boot");

	CHECK(f != NULL);
	CHECK_STR(f,
	    "proc /proc proc defaults 0 0\n"
	    "# a comment about PARTUUID=x / \n"
	    "UUID=abcd /data ext4 defaults 0 2\n"
	    "10.0.0.1:/srv/c/pi1/boot /boot/firmware nfs "
	    "defaults,vers=3,proto=tcp,nolock 0 0\n");
	free(f);
	f = prov_edit_fstab("/dev/mmcblk0p1 /boot vfat defaults 0 2\n"
			    "/dev/mmcblk0p2 / ext4 defaults 0 1\n",
	    "/boot", NULL, "/x");
	CHECK(f != NULL);
	CHECK_STR(f, "");
	free(f);
	/* Edited twice (an image promoted from a client): one boot mount. */
	f = prov_edit_fstab("proc /proc proc defaults 0 0\n"
			    "10.0.0.1:/srv/c/old/boot /boot/firmware nfs "
			    "defaults,vers=3,proto=tcp,nolock 0 0\n"
			    "srv:/data /data nfs defaults 0 0\n",
	    "/boot/firmware", "10.0.0.1", "/srv/c/new/boot");
	CHECK(f != NULL);
	CHECK_STR(f,
	    "proc /proc proc defaults 0 0\n"
	    "srv:/data /data nfs defaults 0 0\n"
	    "10.0.0.1:/srv/c/new/boot /boot/firmware nfs "
	    "defaults,vers=3,proto=tcp,nolock 0 0\n");
	free(f);
}

TEST(image_refs_and_root_modes)
{
	char name[REC_NAME_MAX + 1];
	enum prov_root_mode m;
	unsigned v;

	CHECK_EQ(prov_image_ref_parse("bookworm", name, &v), 0);
	CHECK_STR(name, "bookworm");
	CHECK_EQ(v, 0);
	CHECK_EQ(prov_image_ref_parse("os@12", name, &v), 0);
	CHECK_STR(name, "os");
	CHECK_EQ(v, 12);
	CHECK_EQ(prov_image_ref_parse("os@0", name, &v), -EINVAL);
	CHECK_EQ(prov_image_ref_parse("os@012", name, &v), -EINVAL);
	CHECK_EQ(prov_image_ref_parse("os@1x", name, &v), -EINVAL);
	CHECK_EQ(prov_image_ref_parse("os@", name, &v), -EINVAL);
	CHECK_EQ(prov_image_ref_parse("@3", name, &v), -EINVAL);
	CHECK_EQ(prov_image_ref_parse("Bad@3", name, &v), -EINVAL);
	CHECK_EQ(prov_image_ref_parse("os@100001", name, &v), -EINVAL);
	CHECK_EQ(prov_root_mode_parse("layered", &m), 0);
	CHECK_EQ(m, PROV_ROOT_LAYERED);
	CHECK_EQ(prov_root_mode_parse("volatile", &m), 0);
	CHECK_EQ(m, PROV_ROOT_VOLATILE);
	CHECK_EQ(prov_root_mode_parse("copy", &m), 0);
	CHECK_EQ(m, PROV_ROOT_COPY);
	/* Records from before root modes are copies. */
	CHECK_EQ(prov_root_mode_parse(NULL, &m), 0);
	CHECK_EQ(m, PROV_ROOT_COPY);
	CHECK_EQ(prov_root_mode_parse("", &m), 0);
	CHECK_EQ(m, PROV_ROOT_COPY);
	CHECK_EQ(prov_root_mode_parse("overlay", &m), -EINVAL);
	CHECK_STR(prov_root_mode_name(PROV_ROOT_VOLATILE), "volatile");
}

TEST(record_parse)
{
	static const char text[] = "# comment\n"
				   "name = pi1\n"
				   "\n"
				   "  serial=9ffefdef  \r\n"
				   "empty =\n"
				   "image = a = b";
	struct rec r;
	unsigned line;
	char v[64];

	CHECK_EQ(rec_parse(text, strlen(text), &r, &line), 0);
	CHECK_EQ(r.n, 4);
	CHECK(rec_get(&r, "name", v, sizeof(v)));
	CHECK_STR(v, "pi1");
	CHECK(rec_get(&r, "serial", v, sizeof(v)));
	CHECK_STR(v, "9ffefdef");
	CHECK(rec_get(&r, "empty", v, sizeof(v)));
	CHECK_STR(v, "");
	CHECK(rec_get(&r, "image", v, sizeof(v)));
	CHECK_STR(v, "a = b");
	CHECK(!rec_get(&r, "mac", v, sizeof(v)));
	CHECK(!rec_get(&r, "image", v, 3));
}

TEST(record_errors)
{
	struct rec r;
	unsigned line;

	CHECK_EQ(rec_parse("a = 1\nno equals\n", 16, &r, &line), -EBADMSG);
	CHECK_EQ(line, 2);
	CHECK_EQ(rec_parse("Bad = 1\n", 8, &r, &line), -EBADMSG);
	CHECK_EQ(rec_parse(" = 1\n", 5, &r, &line), -EBADMSG);
	CHECK_EQ(rec_parse("a = 1\na = 2\n", 12, &r, &line), -EEXIST);
	CHECK_EQ(rec_parse("a = \0\n", 6, &r, &line), -EBADMSG);
}

TEST(record_limits)
{
	char *big = malloc(REC_MAX_BYTES + 10);
	struct rec r;
	unsigned line, i;
	size_t n = 0;

	CHECK(big != NULL);
	memset(big, 'a', REC_MAX_BYTES + 10);
	CHECK_EQ(rec_parse(big, REC_MAX_BYTES + 1, &r, &line), -EMSGSIZE);
	memcpy(big, "k = ", 4);
	CHECK_EQ(rec_parse(big, REC_MAX_VALUE + 10, &r, &line), -EMSGSIZE);
	for (i = 0; i <= REC_MAX_KEYS; i++) {
		n += (size_t)sprintf(big + n, "k%u = v\n", i);
	}
	CHECK_EQ(rec_parse(big, n, &r, &line), -EMSGSIZE);
	free(big);
}

/* Record changes keep comments and order; new keys go last. */
TEST(record_edit)
{
	static const char in[] = "# comment\nname = pi1\nversion=2\n"
				 "next_version = 3\n\nimage = os\n";
	const struct rec_change move[] = {
	    {"version", "3"},
	    {"next_version", NULL},
	    {"previous_version", "2"},
	    {"moved_at", "x"},
	    {"moved_at", "2026-12-03T10:00:00Z"},
	};
	const struct rec_change bad_key[] = {{"Bad", "1"}};
	const struct rec_change bad_value[] = {{"a", "two\nlines"}};
	char many[64];
	struct rec_change lots[REC_MAX_KEYS];
	struct buf b;
	size_t i;

	buf_init(&b, REC_MAX_BYTES);
	CHECK_EQ(rec_edit(in, strlen(in), move, 5, &b), 0);
	CHECK_STR((const char *)b.p,
	    "# comment\nname = pi1\nversion = 3\n\nimage = os\n"
	    "previous_version = 2\nmoved_at = 2026-12-03T10:00:00Z\n");
	buf_reset(&b);
	/* Removing a key that is not there, nothing else: the same text. */
	CHECK_EQ(rec_edit(in, strlen(in), move + 1, 1, &b), 0);
	CHECK(strstr((const char *)b.p, "next_version") == NULL);
	buf_reset(&b);
	CHECK_EQ(rec_edit(in, strlen(in), bad_key, 1, &b), -EINVAL);
	CHECK_EQ(rec_edit(in, strlen(in), bad_value, 1, &b), -EINVAL);
	CHECK_EQ(rec_edit("no equals\n", 10, move, 1, &b), -EBADMSG);
	/* A result over the key limit is refused, not written. */
	for (i = 0; i < REC_MAX_KEYS; i++) {
		snprintf(many, sizeof(many), "k%zu", i);
		lots[i].key = strdup(many);
		lots[i].value = "v";
	}
	buf_reset(&b);
	CHECK_EQ(rec_edit(in, strlen(in), lots, REC_MAX_KEYS, &b), -EMSGSIZE);
	for (i = 0; i < REC_MAX_KEYS; i++) {
		free((char *)lots[i].key);
	}
	buf_fini(&b);
}

TEST(names)
{
	CHECK(rec_name_ok("bookworm"));
	CHECK(rec_name_ok("2024-03-15-raspios-bookworm-arm64-lite"));
	CHECK(rec_name_ok("pi_1.lab"));
	CHECK(!rec_name_ok(""));
	CHECK(!rec_name_ok(".hidden"));
	CHECK(!rec_name_ok("-x"));
	CHECK(!rec_name_ok("a/b"));
	CHECK(!rec_name_ok(".."));
	CHECK(!rec_name_ok("Upper"));
	CHECK(!rec_name_ok("trailing."));
	CHECK(!rec_name_ok("a1234567890123456789012345678901234567890123456789"
			   "01234567890123"));
}

/*
 * A Pi can build a tree of any depth, with the longest names, in its own
 * root; `client remove` must still delete all of it and nothing else:
 * 5,000 levels of 250-byte names (1.2 MB of path), with a file and two
 * symlinks out of the tree (absolute and relative) every 50 levels.
 */
TEST(tree_rm_deep_long_names)
{
	char name[251], outside[PATH_MAX];
	const char *dir = t_tmpdir();
	int base = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int fd, i, made = 0;

	memset(name, 'n', 250);
	name[250] = '\0';
	snprintf(outside, sizeof(outside), "%s/outside", dir);
	CHECK(base >= 0);
	CHECK_EQ(mkdirat(base, "outside", 0755), 0);
	fd = openat(base, "outside/canary", O_WRONLY | O_CREAT, 0644);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(mkdirat(base, "victim", 0755), 0);
	fd = openat(base, "victim", O_RDONLY | O_DIRECTORY);
	for (i = 0; i < 5000 && fd >= 0; i++) {
		int sub;

		if (i % 50 == 49) {
			int f = openat(fd, "f", O_WRONLY | O_CREAT, 0644);

			if (f < 0 || symlinkat(outside, fd, "abs") < 0 ||
			    symlinkat("../../outside", fd, "rel") < 0) {
				break;
			}
			close(f);
		}
		if (mkdirat(fd, name, 0755) < 0) {
			break;
		}
		sub = openat(fd, name, O_RDONLY | O_DIRECTORY);
		close(fd);
		fd = sub;
		made++;
	}
	if (fd >= 0) {
		close(fd);
	}
	CHECK_EQ(made, 5000);
	CHECK_EQ(tree_rm(base, "victim"), 0);
	CHECK(faccessat(base, "victim", F_OK, AT_SYMLINK_NOFOLLOW) < 0);
	CHECK(faccessat(base, "outside/canary", F_OK, 0) == 0);
	/* A symlink named as the tree is removed, not followed. */
	CHECK_EQ(symlinkat(outside, base, "link"), 0);
	CHECK_EQ(tree_rm(base, "link"), 0);
	CHECK(faccessat(base, "outside/canary", F_OK, 0) == 0);
	close(base);
}

TEST(boot_pi4_loads)
{
	CHECK(prov_boot_pi4_loads("kernel8.img"));
	CHECK(prov_boot_pi4_loads("kernel7l.img"));
	CHECK(prov_boot_pi4_loads("initramfs8"));
	CHECK(prov_boot_pi4_loads("bcm2711-rpi-4-b.dtb"));
	CHECK(prov_boot_pi4_loads("overlays/vc4-kms-v3d.dtbo"));
	CHECK(prov_boot_pi4_loads("os/v2/kernel8.img"));
	CHECK(prov_boot_pi4_loads("cmdline.txt"));
	CHECK(!prov_boot_pi4_loads("kernel_2712.img"));
	CHECK(!prov_boot_pi4_loads("initramfs_2712"));
	CHECK(!prov_boot_pi4_loads("bcm2712-rpi-5-b.dtb"));
	CHECK(!prov_boot_pi4_loads("bcm2710-rpi-3-b.dtb"));
	CHECK(!prov_boot_pi4_loads("bcm2708-rpi-zero.dtb"));
	CHECK(!prov_boot_pi4_loads("kernel.img"));
	CHECK(!prov_boot_pi4_loads("os/kernel7.img"));
	CHECK(!prov_boot_pi4_loads("initramfs7"));
	CHECK(!prov_boot_pi4_loads("start4.elf"));
	CHECK(!prov_boot_pi4_loads("fixup4cd.dat"));
	CHECK(!prov_boot_pi4_loads("bootcode.bin"));
}

struct findings {
	int n, d0, big;
	char big_file[512];
	uint64_t big_size;
};

static void
collect(void *arg, const struct prov_boot_finding *f)
{
	struct findings *x = arg;
	char text[1024];

	x->n++;
	prov_boot_describe(f, text, sizeof(text));
	if (f->issue == PROV_BOOT_PI5_NO_D0_OVERLAY) {
		x->d0++;
		CHECK(strstr(text, "overlays/bcm2712d0.dtbo") != NULL);
	} else {
		x->big++;
		snprintf(x->big_file, sizeof(x->big_file), "%s", f->file);
		x->big_size = f->size;
		CHECK(strstr(text, "67107839") != NULL);
	}
}

/* Sparse files: the sizes cost no disk. */
static void
sized(int dirfd, const char *name, off_t size)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, size), 0);
	close(fd);
}

/*
 * Reference §9: a Pi 5 tree needs overlays/bcm2712d0.dtbo; a Pi 4 file
 * after start4.elf may be at most 67,107,839 bytes.
 */
TEST(boot_check_d0_overlay_and_pi4_size)
{
	const char *dir = t_tmpdir();
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct findings x = {0};

	CHECK(fd >= 0);
	sized(fd, "start4.elf", 2000000);
	sized(fd, "bcm2711-rpi-4-b.dtb", 50000);
	sized(fd, "kernel8.img", 9000000);
	sized(fd, "initramfs8", 67107839);
	CHECK_EQ(mkdirat(fd, "overlays", 0755), 0);
	CHECK_EQ(prov_boot_check(fd, collect, &x), 0);

	/* One byte more is one block past what start4.elf counts. */
	sized(fd, "initramfs8", 67107840);
	/* Files only a Pi 5 or a Pi 3 loads do not count. */
	sized(fd, "initramfs_2712", 90000000);
	sized(fd, "kernel7.img", 90000000);
	CHECK_EQ(prov_boot_check(fd, collect, &x), 1);
	CHECK_EQ(x.big, 1);
	CHECK_STR(x.big_file, "initramfs8");
	CHECK(x.big_size == 67107840);

	/* Pi 5 files without the D0 overlay; then with it. */
	x = (struct findings){0};
	sized(fd, "bcm2712-rpi-5-b.dtb", 50000);
	CHECK_EQ(prov_boot_check(fd, collect, &x), 2);
	CHECK_EQ(x.d0, 1);
	sized(fd, "overlays/bcm2712d0.dtbo", 2000);
	x = (struct findings){0};
	CHECK_EQ(prov_boot_check(fd, collect, &x), 1);
	CHECK_EQ(x.d0, 0);

	/* Without Pi 4 files, size is no Pi 4's problem. */
	CHECK_EQ(unlinkat(fd, "start4.elf", 0), 0);
	CHECK_EQ(unlinkat(fd, "bcm2711-rpi-4-b.dtb", 0), 0);
	x = (struct findings){0};
	CHECK_EQ(prov_boot_check(fd, collect, &x), 0);
	close(fd);
}

/* An ELF header: class, data, machine, and e_flags for 32-bit ARM. */
static void
elf_header(
    uint8_t *h, unsigned cls, unsigned data, unsigned machine, uint32_t flags)
{
	memset(h, 0, 64);
	memcpy(h, "\177ELF", 4);
	h[4] = (uint8_t)cls;
	h[5] = (uint8_t)data;
	h[6] = 1;
	h[16] = 2; /* ET_EXEC */
	h[18] = (uint8_t)machine;
	h[19] = (uint8_t)(machine >> 8);
	h[36] = (uint8_t)flags;
	h[37] = (uint8_t)(flags >> 8);
	h[38] = (uint8_t)(flags >> 16);
	h[39] = (uint8_t)(flags >> 24);
}

TEST(elf_arch)
{
	uint8_t h[64];

	elf_header(h, 2, 1, 183, 0);
	CHECK_STR(prov_elf_arch(h, sizeof(h)), "arm64");
	elf_header(h, 2, 1, 62, 0);
	CHECK_STR(prov_elf_arch(h, sizeof(h)), "amd64");
	elf_header(h, 2, 1, 243, 0);
	CHECK_STR(prov_elf_arch(h, sizeof(h)), "riscv64");
	/* Raspberry Pi OS 32-bit: EABI5 with the hard-float flag. */
	elf_header(h, 1, 1, 40, 0x05000400);
	CHECK_STR(prov_elf_arch(h, sizeof(h)), "armhf");
	elf_header(h, 1, 1, 40, 0x05000200);
	CHECK_STR(prov_elf_arch(h, sizeof(h)), "armel");
	elf_header(h, 1, 1, 3, 0);
	CHECK_STR(prov_elf_arch(h, sizeof(h)), "i386");
	/* Big-endian, unknown machine, a wrong class, too short, not ELF. */
	elf_header(h, 2, 2, 183, 0);
	CHECK(prov_elf_arch(h, sizeof(h)) == NULL);
	elf_header(h, 2, 1, 21, 0);
	CHECK(prov_elf_arch(h, sizeof(h)) == NULL);
	elf_header(h, 3, 1, 183, 0);
	CHECK(prov_elf_arch(h, sizeof(h)) == NULL);
	elf_header(h, 2, 1, 183, 0);
	CHECK(prov_elf_arch(h, 51) == NULL);
	h[0] = '#';
	CHECK(prov_elf_arch(h, sizeof(h)) == NULL);
}

static int
mk(int dir, const char *path, const char *text)
{
	int fd = openat(dir, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0) {
		return -1;
	}
	if (text && write(fd, text, strlen(text)) < 0) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static char *
slurp(int dir, const char *path)
{
	static char buf[64];
	int fd = openat(dir, path, O_RDONLY);
	ssize_t n;

	if (fd < 0) {
		return NULL;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/*
 * A delta over a base, as overlayfs leaves them: a whiteout hides a base
 * file, an opaque directory hides the base directory's entries, a file
 * replaces a base directory, a directory merges; files come through as
 * hard links.
 */
TEST(merge_flatten)
{
	char tmpl[] = "/tmp/pnb-merge-XXXXXX";
	char *t = mkdtemp(tmpl);
	int top, base, out, root;
	struct layer_stack *stack = NULL;
	struct layer_stack_conf conf = {.atfd = AT_FDCWD, .nversions = 2};
	char tp[64], bp[64];
	struct merge_stats st;
	struct stat a, b;

	CHECK(t != NULL);
	root = open(t, O_RDONLY | O_DIRECTORY);
	CHECK(mkdirat(root, "top", 0755) == 0);
	CHECK(mkdirat(root, "base", 0755) == 0);
	CHECK(mkdirat(root, "out", 0755) == 0);
	top = openat(root, "top", O_RDONLY | O_DIRECTORY);
	base = openat(root, "base", O_RDONLY | O_DIRECTORY);
	out = openat(root, "out", O_RDONLY | O_DIRECTORY);
	/* base: gone, kept, o/{x,y}, m/{a}, f/, link1 = link2 */
	CHECK(mk(base, "gone", "g") == 0);
	CHECK(mk(base, "kept", "k") == 0);
	CHECK(mkdirat(base, "o", 0755) == 0);
	CHECK(mk(base, "o/x", "x") == 0);
	CHECK(mk(base, "o/y", "y") == 0);
	CHECK(mkdirat(base, "m", 0700) == 0);
	CHECK(mk(base, "m/a", "a") == 0);
	CHECK(mkdirat(base, "f", 0755) == 0);
	CHECK(mk(base, "f/under", "u") == 0);
	CHECK(mk(base, "link1", "l") == 0);
	CHECK(linkat(base, "link1", base, "link2", 0) == 0);
	/* top: whiteout gone, opaque o/{z}, m/{b}, f is a file, kept new */
	CHECK(mknodat(top, "gone", S_IFCHR | 0600, makedev(0, 0)) == 0);
	CHECK(mkdirat(top, "o", 0755) == 0);
	{
		int o = openat(top, "o", O_RDONLY | O_DIRECTORY);

		CHECK(fsetxattr(o, "user.overlay.opaque", "y", 1, 0) == 0);
		close(o);
	}
	CHECK(mk(top, "o/z", "z") == 0);
	CHECK(mkdirat(top, "m", 0750) == 0);
	CHECK(mk(top, "m/b", "b") == 0);
	CHECK(mk(top, "f", "file now") == 0);
	CHECK(mk(top, "kept", "changed") == 0);
	snprintf(tp, sizeof(tp), "/proc/self/fd/%d", top);
	snprintf(bp, sizeof(bp), "/proc/self/fd/%d", base);
	conf.versions[0] = tp;
	conf.versions[1] = bp;
	CHECK_EQ(layer_stack_open(&conf, &stack, NULL), 0);
	CHECK_EQ(merge_link_tree(stack, out, NULL, &st), 0);
	layer_stack_close(stack);
	CHECK(faccessat(out, "gone", F_OK, AT_SYMLINK_NOFOLLOW) < 0);
	CHECK_STR(slurp(out, "kept"), "changed");
	CHECK(faccessat(out, "o/x", F_OK, 0) < 0);
	CHECK(faccessat(out, "o/y", F_OK, 0) < 0);
	CHECK_STR(slurp(out, "o/z"), "z");
	CHECK_STR(slurp(out, "m/a"), "a");
	CHECK_STR(slurp(out, "m/b"), "b");
	CHECK_STR(slurp(out, "f"), "file now");
	CHECK(fstatat(out, "m", &a, 0) == 0 && (a.st_mode & 07777) == 0750);
	CHECK(fstatat(out, "link1", &a, 0) == 0);
	CHECK(fstatat(base, "link2", &b, 0) == 0);
	CHECK(a.st_ino == b.st_ino);
	CHECK(fstatat(out, "link2", &a, 0) == 0 && a.st_ino == b.st_ino);
	{
		int o = openat(out, "o", O_RDONLY | O_DIRECTORY);

		char v[4];

		CHECK(fgetxattr(o, "user.overlay.opaque", v, sizeof(v)) < 0);
		close(o);
	}
	close(top);
	close(base);
	close(out);
	CHECK(tree_rm(root, "top") == 0 && tree_rm(root, "base") == 0 &&
	    tree_rm(root, "out") == 0);
	close(root);
	rmdir(t);
}
