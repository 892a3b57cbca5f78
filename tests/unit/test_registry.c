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

/* Every record of @bad is refused, with a reason. */
static void
all_rejected(const char *const *bad, size_t n)
{
	struct registry_client c;
	char msg[128];
	size_t i;

	for (i = 0; i < n; i++) {
		msg[0] = 0;
		CHECK_EQ(registry_parse_record(
			     bad[i], strlen(bad[i]), &c, msg, sizeof(msg)),
		    -EBADMSG);
		CHECK(msg[0] != 0);
	}
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

	all_rejected(bad, sizeof(bad) / sizeof(bad[0]));
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

/* Write @text to @dir/@rel, making the directories on the way. */
static void
put(const char *dir, const char *rel, const char *text)
{
	char path[512], *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	for (slash = strchr(path + strlen(dir) + 1, '/'); slash;
	     slash = strchr(slash + 1, '/')) {
		*slash = 0;
		mkdir(path, 0755);
		*slash = '/';
	}
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static size_t warned;
static char lastwarn[160];

static void
note_warn(void *arg, const char *name, const char *why)
{
	(void)arg;
	warned++;
	snprintf(lastwarn, sizeof(lastwarn), "%s: %s", name, why);
}

TEST(registry_layered_records)
{
	static const char *const bad[] = {
	    "root_mode = overlay\nimage = os\nversion = 1\n",
	    "root_mode = layered\nversion = 1\n",
	    "root_mode = layered\nimage = os\n",
	    "root_mode = layered\nimage = os\nversion = 0\n",
	    "root_mode = volatile\nimage = os\nversion = 2x\n",
	    "root_mode = layered\nimage = os\nversion = 100001\n",
	};
	static const char copy[] = "image = os\n";
	static const char vol[] = "root_mode = volatile\nimage = os\n"
				  "version = 12\n";
	struct registry_client c;
	char msg[128];

	all_rejected(bad, sizeof(bad) / sizeof(bad[0]));
	CHECK_EQ(registry_parse_record(copy, strlen(copy), &c, msg, 128), 0);
	CHECK_EQ(c.root_mode, REGISTRY_ROOT_COPY);
	CHECK_EQ(registry_parse_record(vol, strlen(vol), &c, msg, 128), 0);
	CHECK_EQ(c.root_mode, REGISTRY_ROOT_VOLATILE);
	CHECK_EQ(c.version, 12);
}

TEST(registry_reads_version_stacks)
{
	const char *dir = t_tmpdir();
	unsigned l[REGISTRY_LAYERS_MAX];
	struct registry r;
	char msg[160];

	put(dir, "images/os/v/1/version.conf", "version = 1\nkind = base\n");
	put(dir, "images/os/v/2/version.conf",
	    "version = 2\nkind = delta\nparent = 1\n");
	put(dir, "images/os/v/3/version.conf",
	    "version = 3\nkind = delta\nparent = 2\n");
	/* A record from before kinds: a base. */
	put(dir, "images/os/v/4/version.conf", "version = 4\n");
	put(dir, "images/os/v/5/version.conf",
	    "version = 5\nkind = delta\nparent = 5\n");
	put(dir, "images/os/v/6/version.conf",
	    "version = 6\nkind = delta\nparent = 9\n");
	put(dir, "images/os/v/7/version.conf", "kind = delta\n");
	CHECK_EQ(registry_version_layers(dir, "os", 3, l, 15, msg, 160), 3);
	CHECK(l[0] == 3 && l[1] == 2 && l[2] == 1);
	CHECK_EQ(registry_version_layers(dir, "os", 4, l, 15, msg, 160), 1);
	CHECK_EQ(
	    registry_version_layers(dir, "os", 3, l, 2, msg, 160), -EBADMSG);
	CHECK(strstr(msg, "more than 2") != NULL);
	CHECK_EQ(
	    registry_version_layers(dir, "os", 5, l, 15, msg, 160), -EBADMSG);
	CHECK(strstr(msg, "without a valid parent") != NULL);
	CHECK_EQ(
	    registry_version_layers(dir, "os", 6, l, 15, msg, 160), -EBADMSG);
	CHECK_EQ(
	    registry_version_layers(dir, "os", 7, l, 15, msg, 160), -EBADMSG);
	CHECK_EQ(
	    registry_version_layers(dir, "os", 8, l, 15, msg, 160), -ENOENT);
	CHECK(strstr(msg, "no version 8") != NULL);
	CHECK_EQ(
	    registry_version_layers(dir, "nope", 1, l, 15, msg, 160), -ENOENT);

	/* A layered record gets its stack; a broken one is skipped. */
	put(dir, "clients/a/client.conf",
	    "root_mode = layered\nimage = os\nversion = 3\n");
	put(dir, "clients/b/client.conf",
	    "root_mode = layered\nimage = os\nversion = 8\n");
	put(dir, "clients/c/client.conf", "image = os\n");
	warned = 0;
	CHECK_EQ(registry_load(dir, &r, note_warn, NULL), 0);
	CHECK_EQ(r.n, 2);
	CHECK_EQ(warned, 1);
	CHECK(strstr(lastwarn, "b: image 'os' has no version 8") != NULL);
	CHECK_STR(r.clients[0].name, "a");
	CHECK_EQ(r.clients[0].root_mode, REGISTRY_ROOT_LAYERED);
	CHECK_EQ(r.clients[0].nlayers, 3);
	CHECK_EQ(r.clients[0].layers[2], 1);
	CHECK(strstr(r.clients[0].root_dir, "/clients/a/root") != NULL);
	CHECK_EQ(r.clients[1].root_mode, REGISTRY_ROOT_COPY);
	CHECK_EQ(r.clients[1].nlayers, 0);
	registry_fini(&r);
}

TEST(registry_record_current_sees_rewrites)
{
	const char *dir = t_tmpdir();
	struct registry r;

	put(dir, "images/os/v/1/version.conf", "version = 1\nkind = base\n");
	put(dir, "images/os/v/2/version.conf",
	    "version = 2\nkind = delta\nparent = 1\n");
	put(dir, "clients/a/client.conf",
	    "root_mode = layered\nimage = os\nversion = 1\n");
	CHECK_EQ(registry_load(dir, &r, NULL, NULL), 0);
	CHECK_EQ(r.n, 1);
	CHECK(registry_record_current(dir, &r.clients[0]));
	/* What does not decide a move is not looked at. */
	put(dir, "clients/a/client.conf",
	    "root_mode = layered\nimage = os\nversion = 1\nhostname = x\n");
	CHECK(registry_record_current(dir, &r.clients[0]));
	/* `client set` asks for a move inside the client's directory. */
	put(dir, "clients/a/client.conf",
	    "root_mode = layered\nimage = os\nversion = 1\n"
	    "next_version = 2\n");
	CHECK(!registry_record_current(dir, &r.clients[0]));
	put(dir, "clients/a/client.conf",
	    "root_mode = volatile\nimage = os\nversion = 1\n");
	CHECK(!registry_record_current(dir, &r.clients[0]));
	put(dir, "clients/a/client.conf", "root_mode = nonsense\n");
	CHECK(!registry_record_current(dir, &r.clients[0]));
	registry_fini(&r);
}
