#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server/registry.h"
#include "t.h"

TEST(registry_parses_record)
{
	static const char rec[] = "# written by pinetboot client add\n"
				  "name = pi4-a\n"
				  "serial = 9FFEFDEF\n"
				  "mac = dc-a6-32-01-36-c2\n"
				  "address = 198.18.0.50\n"
				  "hostname = pi4-a\n"
				  "image = bookworm\n"
				  "future_key = whatever\n";
	struct registry_client c;
	char msg[128];

	CHECK_EQ(
	    registry_parse_record(rec, sizeof(rec) - 1, &c, msg, sizeof(msg)),
	    0);
	CHECK_STR(c.serial, "9ffefdef");
	CHECK(c.has_mac);
	CHECK_EQ(c.mac[0], 0xdc);
	CHECK_EQ(c.mac[5], 0xc2);
	CHECK_EQ(c.addr.s_addr, htonl(0xc6120032));
	CHECK_STR(c.image, "bookworm");
}

TEST(registry_rejects_bad_values)
{
	static const char *const bad[] = {
	    "serial = 9ffefde\n",
	    "serial = 9ffefdeg\n",
	    "mac = dc:a6:32\n",
	    "address = 198.18.0.500\n",
	    "hostname = ../x\n",
	    "novalue\n",
	    "image = a/b\n",
	};
	struct registry_client c;
	char msg[128];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg[0] = 0;
		CHECK_EQ(registry_parse_record(
			     bad[i], strlen(bad[i]), &c, msg, sizeof(msg)),
		    -EBADMSG);
		CHECK(strstr(msg, "line 1") != NULL);
	}
}

TEST(registry_loads_and_finds_by_prefix)
{
	const char *dir = t_tmpdir();
	char path[512];
	struct registry r;
	FILE *f;

	snprintf(path, sizeof(path), "%s/clients/b", dir);
	snprintf(path, sizeof(path), "%s/clients", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/clients/b", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/clients/a", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/clients/.c.tmp", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/clients/b/client.conf", dir);
	f = fopen(path, "w");
	fputs("serial = 0000abcd\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/clients/a/client.conf", dir);
	f = fopen(path, "w");
	fputs("mac = b8:27:eb:00:00:01\n", f);
	fclose(f);

	CHECK_EQ(registry_load(dir, &r, NULL, NULL), 0);
	CHECK_EQ(r.n, 2);
	CHECK_STR(r.clients[0].name, "a");
	CHECK(registry_find_prefix(&r, "0000ABCD", 8) == &r.clients[1]);
	CHECK(
	    registry_find_prefix(&r, "b8-27-eb-00-00-01", 17) == &r.clients[0]);
	CHECK(registry_find_prefix(&r, "0000abce", 8) == NULL);
	CHECK(registry_find_prefix(&r, "0000abc", 7) == NULL);
	CHECK(strstr(r.clients[1].boot_dir, "/clients/b/boot") != NULL);
	registry_fini(&r);

	CHECK_EQ(registry_load("/nonexistent-pnb", &r, NULL, NULL), 0);
	CHECK_EQ(r.n, 0);
}
