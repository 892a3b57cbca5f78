#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/provision/prov.h"
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
}

TEST(record_parse)
{
	static const char text[] = "# comment\n"
				   "name = pi1\n"
				   "\n"
				   "  serial=9ffefdef  \r\n"
				   "empty =\n"
				   "image = a = b";
	struct prov_rec r;
	unsigned line;
	char v[64];

	CHECK_EQ(prov_rec_parse(text, strlen(text), &r, &line), 0);
	CHECK_EQ(r.n, 4);
	CHECK(prov_rec_get(&r, "name", v, sizeof(v)));
	CHECK_STR(v, "pi1");
	CHECK(prov_rec_get(&r, "serial", v, sizeof(v)));
	CHECK_STR(v, "9ffefdef");
	CHECK(prov_rec_get(&r, "empty", v, sizeof(v)));
	CHECK_STR(v, "");
	CHECK(prov_rec_get(&r, "image", v, sizeof(v)));
	CHECK_STR(v, "a = b");
	CHECK(!prov_rec_get(&r, "mac", v, sizeof(v)));
	CHECK(!prov_rec_get(&r, "image", v, 3));
}

TEST(record_errors)
{
	struct prov_rec r;
	unsigned line;

	CHECK_EQ(prov_rec_parse("a = 1\nno equals\n", 16, &r, &line), -EBADMSG);
	CHECK_EQ(line, 2);
	CHECK_EQ(prov_rec_parse("Bad = 1\n", 8, &r, &line), -EBADMSG);
	CHECK_EQ(prov_rec_parse(" = 1\n", 5, &r, &line), -EBADMSG);
	CHECK_EQ(prov_rec_parse("a = 1\na = 2\n", 12, &r, &line), -EEXIST);
	CHECK_EQ(prov_rec_parse("a = \0\n", 6, &r, &line), -EBADMSG);
}

TEST(record_limits)
{
	char *big = malloc(PROV_REC_MAX_BYTES + 10);
	struct prov_rec r;
	unsigned line, i;
	size_t n = 0;

	CHECK(big != NULL);
	memset(big, 'a', PROV_REC_MAX_BYTES + 10);
	CHECK_EQ(
	    prov_rec_parse(big, PROV_REC_MAX_BYTES + 1, &r, &line), -EMSGSIZE);
	memcpy(big, "k = ", 4);
	CHECK_EQ(
	    prov_rec_parse(big, PROV_REC_MAX_VALUE + 10, &r, &line), -EMSGSIZE);
	for (i = 0; i <= PROV_REC_MAX_KEYS; i++) {
		n += (size_t)sprintf(big + n, "k%u = v\n", i);
	}
	CHECK_EQ(prov_rec_parse(big, n, &r, &line), -EMSGSIZE);
	free(big);
}

TEST(names)
{
	CHECK(prov_name_ok("bookworm"));
	CHECK(prov_name_ok("2024-03-15-raspios-bookworm-arm64-lite"));
	CHECK(prov_name_ok("pi_1.lab"));
	CHECK(!prov_name_ok(""));
	CHECK(!prov_name_ok(".hidden"));
	CHECK(!prov_name_ok("-x"));
	CHECK(!prov_name_ok("a/b"));
	CHECK(!prov_name_ok(".."));
	CHECK(!prov_name_ok("Upper"));
	CHECK(!prov_name_ok("trailing."));
	CHECK(!prov_name_ok("a1234567890123456789012345678901234567890123456789"
			    "01234567890123"));
}
