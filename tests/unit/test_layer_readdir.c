#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layer_util.h"
#include "t.h"

/*
 * READDIR across the layers: a client directory large enough for ext4
 * to index it by hash (so its positions are 63-bit hash values) over a
 * version directory, with whiteouts and a name in both.  Every cookie of
 * a listing resumes where it left off, before and after unrelated
 * changes.
 */

#define NB 700 /* entries of each layer */

static struct lt_list full, part;

static void
big_tree(struct lt *t)
{
	char p[512];
	int i;

	lt_path(p, sizeof(p), "%s/big", t->v[0]);
	CHECK(mkdir(p, 0755) == 0);
	for (i = 0; i < NB; i++) {
		lt_path(p, sizeof(p), "%s/big/b%03d", t->v[0], i);
		CHECK(lt_write(p, "") == 0);
	}
	CHECK(lt_open(t, true) == 0);
	for (i = 0; i < NB; i++) {
		lt_path(p, sizeof(p), "big/c%03d", i);
		CHECK(lt_make(t, NULL, p, S_IFREG, 0644) == 0);
	}
	for (i = 0; i < 100; i++) {
		lt_path(p, sizeof(p), "big/b%03d", i);
		CHECK(lt_unlink(t, NULL, p, false) == 0);
	}
	/* A name in both layers: the client's, listed once. */
	CHECK(lt_unlink(t, NULL, "big/b100", false) == 0);
	CHECK(lt_make(t, NULL, "big/b100", S_IFREG, 0600) == 0);
}

static int
index_of(const struct lt_list *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		if (strcmp(l->names[i], name) == 0) {
			return (int)i;
		}
	}
	return -1;
}

TEST(layer_readdir_lists_each_name_once)
{
	struct lt t;
	char name[16];
	int i;

	lt_init(&t, t_tmpdir(), 1);
	big_tree(&t);
	CHECK_EQ(lt_list(&t, "big", 0, &full), 1);
	CHECK_EQ(full.n, 2 + NB + NB - 100);
	CHECK_STR(full.names[0], ".");
	CHECK_STR(full.names[1], "..");
	for (i = 0; i < NB; i++) {
		snprintf(name, sizeof(name), "c%03d", i);
		CHECK(index_of(&full, name) >= 0);
		snprintf(name, sizeof(name), "b%03d", i);
		CHECK((index_of(&full, name) >= 0) == (i >= 100));
	}
	/* No name twice. */
	for (i = 0; i < (int)full.n; i++) {
		CHECK_EQ(index_of(&full, full.names[i]), i);
	}
	lt_close(&t);
}

TEST(layer_readdir_resumes_from_every_cookie)
{
	struct lt t;
	bool hash_sized = false;
	size_t i, j;

	lt_init(&t, t_tmpdir(), 1);
	big_tree(&t);
	CHECK_EQ(lt_list(&t, "big", 0, &full), 1);
	for (i = 0; i < full.n; i++) {
		/* Client positions are ext4's hash offsets: 63 bits. */
		if (full.cookies[i] < (1ull << 63) &&
		    full.cookies[i] > 0xffffffffull) {
			hash_sized = true;
		}
		CHECK(full.cookies[i] != 0);
		part.max = 3;
		lt_list(&t, "big", full.cookies[i], &part);
		part.max = 0;
		CHECK_EQ(part.n, full.n - i - 1 < 3 ? full.n - i - 1 : 3);
		for (j = 0; j < part.n; j++) {
			CHECK_STR(part.names[j], full.names[i + 1 + j]);
			CHECK_EQ(part.cookies[j], full.cookies[i + 1 + j]);
		}
	}
	CHECK(hash_sized);
	/* Whole suffixes from a few places in each phase. */
	for (i = 0; i < full.n; i += 97) {
		CHECK_EQ(lt_list(&t, "big", full.cookies[i], &part), 1);
		CHECK_EQ(part.n, full.n - i - 1);
	}
	lt_close(&t);
}

TEST(layer_readdir_cookie_edges)
{
	struct lt t;
	uint64_t eof = 0x7fffffffffffffffull;
	size_t i, first_version = 0;

	lt_init(&t, t_tmpdir(), 1);
	big_tree(&t);
	CHECK_EQ(lt_list(&t, "big", 0, &full), 1);
	for (i = 0; i < full.n; i++) {
		if (full.cookies[i] >> 63 &&
		    (full.cookies[i] >> 59 & 15) != 15) {
			first_version = i;
			break;
		}
	}
	CHECK(first_version > 0);
	/* ext4's end-of-directory position goes on with the versions. */
	CHECK_EQ(full.cookies[first_version - 1], eof);
	CHECK_EQ(lt_list(&t, "big", eof, &part), 1);
	CHECK_EQ(part.n, full.n - first_version);
	CHECK_STR(part.names[0], full.names[first_version]);
	/* Past the end of a version listing: the end. */
	CHECK_EQ(lt_list(&t, "big", (1ull << 63) | 1000000, &part), 1);
	CHECK_EQ(part.n, 0);
	/* Not a position of this directory. */
	CHECK_EQ(
	    lt_list(&t, "big", (1ull << 63) | (5ull << 59), &part), -EINVAL);
	CHECK_EQ(lt_list(&t, "big", (1ull << 63) | (15ull << 59) | 3, &part),
	    -EINVAL);
	/* After "." and "..": the first real entry. */
	CHECK_EQ(lt_list(&t, "big", full.cookies[1], &part), 1);
	CHECK_STR(part.names[0], full.names[2]);
	lt_close(&t);
}

TEST(layer_readdir_cookies_survive_changes)
{
	struct lt t;
	static struct lt_list before;
	size_t i, j, k;

	lt_init(&t, t_tmpdir(), 1);
	big_tree(&t);
	CHECK_EQ(lt_list(&t, "big", 0, &before), 1);
	CHECK(lt_make(&t, NULL, "big/new-one", S_IFREG, 0644) == 0);
	CHECK(lt_unlink(&t, NULL, "big/c350", false) == 0);
	CHECK(lt_unlink(&t, NULL, "big/b600", false) == 0);
	for (i = 2; i < before.n; i += 61) {
		CHECK_EQ(lt_list(&t, "big", before.cookies[i], &part), 1);
		/* Nothing from before the position comes again... */
		for (j = 0; j <= i; j++) {
			CHECK(index_of(&part, before.names[j]) < 0);
		}
		/* ...and everything after it that still exists does. */
		for (k = i + 1; k < before.n; k++) {
			bool gone = strcmp(before.names[k], "c350") == 0 ||
			    strcmp(before.names[k], "b600") == 0;

			CHECK((index_of(&part, before.names[k]) >= 0) == !gone);
		}
	}
	lt_close(&t);
	/* Same layers, same cookies: the verifier outlives a restart. */
	{
		uint8_t v1[8], v2[8], v3[8];

		CHECK(lt_open(&t, true) == 0);
		layer_stack_verifier(t.st, v1);
		lt_close(&t);
		CHECK(lt_open(&t, true) == 0);
		layer_stack_verifier(t.st, v2);
		lt_close(&t);
		CHECK_MEM(v1, v2, 8);
		lt_path(t.v[1], sizeof(t.v[1]), "%s/v1", t.dir);
		CHECK(mkdir(t.v[1], 0755) == 0);
		t.nv = 2;
		CHECK(lt_open(&t, true) == 0);
		layer_stack_verifier(t.st, v3);
		lt_close(&t);
		CHECK(memcmp(v1, v3, 8) != 0);
		CHECK(v1[0] & 1);
	}
}
