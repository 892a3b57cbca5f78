#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer_util.h"
#include "t.h"

/*
 * The merge of docs/fleet.md on real directories: a base version built
 * with plain system calls, a client layer and its index, and the changes
 * made through the library.  The layers on disk are checked as well as
 * the merged view, since the kernel's overlayfs must read them the same
 * way (test_layer_ovl.c compares with it).
 */

static const struct layer_cred user1000 = {.uid = 1000, .gid = 1000};
static const struct layer_cred user2000 = {.uid = 2000, .gid = 2000};

static long
nlink_of(struct lt *t, struct layer_node *n)
{
	struct stat s;

	return layer_getattr(t->st, n, &s) == 0 ? (long)s.st_nlink : -1;
}

static bool
is_whiteout_file(const char *path)
{
	struct stat s;

	return lstat(path, &s) == 0 && S_ISCHR(s.st_mode) &&
	    s.st_rdev == makedev(0, 0);
}

TEST(layer_lookup_read_and_identity)
{
	struct lt t;
	struct layer_node *n;
	struct stat s, bs;
	char names[1024], p[512];

	lt_init(&t, t_tmpdir(), 1);
	lt_base_tree(&t);
	CHECK(lt_open(&t, true) == 0);
	CHECK(lt_content_is(&t, "a", "base a\n"));
	CHECK(lt_content_is(&t, "d/x", "base x\n"));
	lt_names(&t, "", names, sizeof(names));
	CHECK_STR(names, "a,d,e");
	n = lt_node(&t, "d/x");
	CHECK(n != NULL);
	lt_path(p, sizeof(p), "%s/d/x", t.v[0]);
	CHECK(stat(p, &bs) == 0);
	CHECK(layer_getattr(t.st, n, &s) == 0);
	CHECK_EQ(s.st_ino, bs.st_ino);
	CHECK_EQ(n->kind, LAYER_KIND_VERSION);
	layer_node_free(n);
	/* A merged directory reports one link, as overlayfs does. */
	n = lt_node(&t, "d");
	CHECK(n != NULL && layer_getattr(t.st, n, &s) == 0);
	CHECK_EQ(s.st_nlink, 1);
	layer_node_free(n);
	CHECK(lt_node(&t, "nope") == NULL);
	lt_close(&t);
}

TEST(layer_whiteouts)
{
	struct lt t;
	char names[1024], p[512];

	lt_init(&t, t_tmpdir(), 1);
	lt_base_tree(&t);
	CHECK(lt_open(&t, true) == 0);
	CHECK(lt_unlink(&t, NULL, "a", false) == 0);
	CHECK(lt_node(&t, "a") == NULL);
	lt_path(p, sizeof(p), "%s/a", t.client);
	CHECK(is_whiteout_file(p));
	lt_path(p, sizeof(p), "%s/a", t.v[0]);
	CHECK(access(p, F_OK) == 0); /* the version is untouched */
	lt_names(&t, "", names, sizeof(names));
	CHECK_STR(names, "d,e");
	/* Removing it again: ENOENT; a new file replaces the whiteout. */
	CHECK_EQ(lt_unlink(&t, NULL, "a", false), -ENOENT);
	CHECK(lt_make(&t, NULL, "a", S_IFREG, 0600) == 0);
	lt_path(p, sizeof(p), "%s/a", t.client);
	CHECK(!is_whiteout_file(p));
	CHECK(lt_content_is(&t, "a", ""));
	/* In a subdirectory: its client copy appears, with a whiteout. */
	CHECK(lt_unlink(&t, NULL, "d/x", false) == 0);
	lt_path(p, sizeof(p), "%s/d/x", t.client);
	CHECK(is_whiteout_file(p));
	lt_names(&t, "d", names, sizeof(names));
	CHECK_STR(names, "y");
	/* A file only the client made goes without a whiteout. */
	CHECK(lt_make(&t, NULL, "d/new", S_IFREG, 0644) == 0);
	CHECK(lt_unlink(&t, NULL, "d/new", false) == 0);
	lt_path(p, sizeof(p), "%s/d/new", t.client);
	CHECK(access(p, F_OK) < 0 && errno == ENOENT);
	/* Wrong kinds. */
	CHECK_EQ(lt_unlink(&t, NULL, "d", false), -EISDIR);
	CHECK_EQ(lt_unlink(&t, NULL, "d/y", true), -ENOTDIR);
	lt_close(&t);
}

TEST(layer_opaque_dirs)
{
	struct lt t;
	char names[1024], p[512], v[8];

	lt_init(&t, t_tmpdir(), 1);
	lt_base_tree(&t);
	CHECK(lt_open(&t, true) == 0);
	CHECK_EQ(lt_unlink(&t, NULL, "d", true), -ENOTEMPTY);
	CHECK(lt_unlink(&t, NULL, "d/x", false) == 0);
	CHECK(lt_unlink(&t, NULL, "d/y", false) == 0);
	CHECK(lt_unlink(&t, NULL, "d", true) == 0);
	lt_path(p, sizeof(p), "%s/d", t.client);
	CHECK(is_whiteout_file(p));
	CHECK(lt_node(&t, "d") == NULL);
	CHECK(lt_make(&t, NULL, "d", S_IFDIR, 0750) == 0);
	CHECK(getxattr(p, "user.overlay.opaque", v, sizeof(v)) == 1 &&
	    v[0] == 'y');
	lt_names(&t, "d", names, sizeof(names));
	CHECK_STR(names, "");
	CHECK(lt_node(&t, "d/x") == NULL);
	CHECK(lt_make(&t, NULL, "d/x", S_IFREG, 0644) == 0);
	CHECK(lt_content_is(&t, "d/x", ""));
	/* A directory the client made over nothing merges with nothing. */
	lt_path(p, sizeof(p), "%s/e/in-base", t.v[0]);
	CHECK(lt_write(p, "b") == 0);
	lt_names(&t, "e", names, sizeof(names));
	CHECK_STR(names, "in-base");
	CHECK(lt_make(&t, NULL, "e/mine", S_IFREG, 0644) == 0);
	lt_names(&t, "e", names, sizeof(names));
	CHECK_STR(names, "in-base,mine");
	lt_path(p, sizeof(p), "%s/e", t.client);
	CHECK(getxattr(p, "user.overlay.opaque", v, sizeof(v)) < 0);
	lt_close(&t);
}

TEST(layer_rename_dirs)
{
	struct layer_node *n;
	struct lt t;
	char names[1024], p[512], v[8];

	lt_init(&t, t_tmpdir(), 1);
	lt_base_tree(&t);
	CHECK(lt_open(&t, true) == 0);
	/* In both layers (the client copy exists): EXDEV, as overlayfs. */
	CHECK(lt_make(&t, NULL, "d/c", S_IFREG, 0644) == 0);
	CHECK_EQ(lt_rename(&t, NULL, "d", "d2"), -EXDEV);
	/* Only in the version: EXDEV as well. */
	CHECK_EQ(lt_rename(&t, NULL, "e", "e2"), -EXDEV);
	/* Client-only directories rename. */
	CHECK(lt_make(&t, NULL, "n", S_IFDIR, 0755) == 0);
	CHECK(lt_make(&t, NULL, "n/f", S_IFREG, 0644) == 0);
	CHECK(lt_rename(&t, NULL, "n", "m") == 0);
	lt_names(&t, "m", names, sizeof(names));
	CHECK_STR(names, "f");
	CHECK(lt_node(&t, "n") == NULL);
	/* Over an empty version directory: made opaque, which hides it. */
	CHECK(lt_rename(&t, NULL, "m", "e") == 0);
	lt_path(p, sizeof(p), "%s/e", t.client);
	CHECK(getxattr(p, "user.overlay.opaque", v, sizeof(v)) == 1 &&
	    v[0] == 'y');
	lt_names(&t, "e", names, sizeof(names));
	CHECK_STR(names, "f");
	lt_names(&t, "", names, sizeof(names));
	CHECK_STR(names, "a,d,e");
	/* Over a merged directory emptied by whiteouts. */
	CHECK(lt_unlink(&t, NULL, "d/x", false) == 0);
	CHECK(lt_unlink(&t, NULL, "d/y", false) == 0);
	CHECK(lt_unlink(&t, NULL, "d/c", false) == 0);
	CHECK(lt_rename(&t, NULL, "e", "d") == 0);
	lt_names(&t, "d", names, sizeof(names));
	CHECK_STR(names, "f");
	/* Over a removed version file: the whiteout makes way for it. */
	CHECK(lt_unlink(&t, NULL, "a", false) == 0);
	CHECK(lt_make(&t, NULL, "n2", S_IFDIR, 0755) == 0);
	CHECK(lt_rename(&t, NULL, "n2", "a") == 0);
	lt_path(p, sizeof(p), "%s/n2", t.client);
	CHECK(access(p, F_OK) < 0 && errno == ENOENT);
	n = lt_node(&t, "a");
	CHECK(n && n->type == S_IFDIR);
	layer_node_free(n);
	CHECK(lt_rename(&t, NULL, "a", "a2") == 0);
	lt_path(p, sizeof(p), "%s/a", t.client);
	CHECK(is_whiteout_file(p));
	CHECK(lt_rename(&t, NULL, "a2", "a") == 0);
	/* The version's e was replaced, so its old name is whited out. */
	lt_names(&t, "", names, sizeof(names));
	CHECK_STR(names, "a,d");
	lt_path(p, sizeof(p), "%s/e", t.client);
	CHECK(is_whiteout_file(p));
	lt_close(&t);
}

TEST(layer_rename_files)
{
	struct lt t;
	struct layer_node *n;
	struct layer_fh fh;
	char names[1024], p[512];

	lt_init(&t, t_tmpdir(), 1);
	lt_base_tree(&t);
	CHECK(lt_open(&t, true) == 0);
	n = lt_node(&t, "a");
	CHECK(n != NULL && layer_node_fh(t.st, n, &fh) == 0);
	layer_node_free(n);
	CHECK(lt_rename(&t, NULL, "a", "d/moved") == 0);
	CHECK(lt_node(&t, "a") == NULL);
	CHECK(lt_content_is(&t, "d/moved", "base a\n"));
	lt_path(p, sizeof(p), "%s/a", t.client);
	CHECK(is_whiteout_file(p));
	/* The handle from before the move reaches the moved file. */
	CHECK(layer_fh_open(t.st, &fh, &n) == 0);
	CHECK_EQ(nlink_of(&t, n), 1);
	layer_node_free(n);
	/* Over an existing version file, then back over a whiteout. */
	CHECK(lt_rename(&t, NULL, "d/moved", "d/x") == 0);
	CHECK(lt_content_is(&t, "d/x", "base a\n"));
	lt_names(&t, "d", names, sizeof(names));
	CHECK_STR(names, "x,y");
	CHECK(lt_rename(&t, NULL, "d/x", "a") == 0);
	CHECK(lt_content_is(&t, "a", "base a\n"));
	lt_names(&t, "d", names, sizeof(names));
	CHECK_STR(names, "y");
	CHECK(layer_fh_open(t.st, &fh, &n) == 0);
	layer_node_free(n);
	/* Removed for good: the handle is stale. */
	CHECK(lt_unlink(&t, NULL, "a", false) == 0);
	CHECK_EQ(layer_fh_open(t.st, &fh, &n), -ESTALE);
	/* Client files rename as they are; a name to itself is nothing. */
	CHECK(lt_make(&t, NULL, "c1", S_IFREG, 0644) == 0);
	CHECK(lt_rename(&t, NULL, "c1", "c2") == 0);
	CHECK(lt_rename(&t, NULL, "c2", "c2") == 0);
	n = lt_node(&t, "c2");
	CHECK(n != NULL);
	layer_node_free(n);
	CHECK_EQ(lt_rename(&t, NULL, "c2", "d"), -EISDIR);
	/* The kinds are checked first, as the VFS does before overlayfs. */
	CHECK_EQ(lt_rename(&t, NULL, "d", "c2"), -ENOTDIR);
	lt_close(&t);
}

TEST(layer_hard_links_across_copy_up)
{
	struct lt t;
	struct layer_node *f, *g;
	struct layer_fh fh;
	struct stat s1, s2;
	char p[512], q[512];

	lt_init(&t, t_tmpdir(), 1);
	lt_base_tree(&t);
	lt_path(p, sizeof(p), "%s/d/x", t.v[0]);
	lt_path(q, sizeof(q), "%s/g", t.v[0]);
	CHECK(link(p, q) == 0);
	CHECK(lt_open(&t, true) == 0);
	/* Write through one name, read through the other. */
	CHECK(lt_put(&t, NULL, "d/x", "changed\n") == 0);
	CHECK(lt_content_is(&t, "g", "changed\n"));
	CHECK(lt_content_is(&t, "d/x", "changed\n"));
	f = lt_node(&t, "d/x");
	g = lt_node(&t, "g");
	CHECK(f && g && layer_getattr(t.st, f, &s1) == 0 &&
	    layer_getattr(t.st, g, &s2) == 0);
	CHECK_EQ(s1.st_ino, s2.st_ino);
	CHECK_EQ(s1.st_nlink, 2);
	/* The version keeps its bytes. */
	CHECK(stat(q, &s2) == 0);
	CHECK_EQ(s2.st_size, 7);
	/* A third name through LINK, then names go one by one. */
	CHECK(lt_link(&t, NULL, "g", "h") == 0);
	CHECK(lt_content_is(&t, "h", "changed\n"));
	CHECK_EQ(nlink_of(&t, f), 3);
	CHECK(layer_node_fh(t.st, f, &fh) == 0);
	layer_node_free(f);
	layer_node_free(g);
	CHECK(lt_unlink(&t, NULL, "d/x", false) == 0);
	g = lt_node(&t, "g");
	CHECK_EQ(nlink_of(&t, g), 2);
	layer_node_free(g);
	CHECK(lt_unlink(&t, NULL, "g", false) == 0);
	CHECK(layer_fh_open(t.st, &fh, &f) == 0);
	CHECK_EQ(nlink_of(&t, f), 1);
	layer_node_free(f);
	CHECK(lt_content_is(&t, "h", "changed\n"));
	CHECK(lt_unlink(&t, NULL, "h", false) == 0);
	CHECK_EQ(layer_fh_open(t.st, &fh, &f), -ESTALE);
	/* Client files link as on any file system. */
	CHECK(lt_make(&t, NULL, "c", S_IFREG, 0644) == 0);
	CHECK(lt_link(&t, NULL, "c", "c2") == 0);
	f = lt_node(&t, "c2");
	CHECK_EQ(nlink_of(&t, f), 2);
	layer_node_free(f);
	CHECK_EQ(lt_link(&t, NULL, "c", "a"), -EEXIST);
	CHECK_EQ(lt_link(&t, NULL, "d", "dd"), -EPERM);
	lt_close(&t);
}

TEST(layer_map_rebuilt_on_reopen)
{
	struct lt t;
	struct layer_node *n;
	struct layer_fh fh_a, fh_x;
	uint64_t ino_a;

	lt_init(&t, t_tmpdir(), 1);
	lt_base_tree(&t);
	CHECK(lt_open(&t, true) == 0);
	n = lt_node(&t, "a");
	CHECK(n && layer_node_fh(t.st, n, &fh_a) == 0);
	ino_a = n->ino;
	layer_node_free(n);
	n = lt_node(&t, "d/x");
	CHECK(n && layer_node_fh(t.st, n, &fh_x) == 0);
	layer_node_free(n);
	CHECK(lt_put(&t, NULL, "a", "new a") == 0);
	CHECK(lt_rename(&t, NULL, "a", "e/a") == 0);
	CHECK(lt_unlink(&t, NULL, "d/x", false) == 0);
	lt_close(&t);
	CHECK(lt_open(&t, true) == 0);
	CHECK_EQ(t.rep.copies, 1);
	CHECK_EQ(t.rep.counts, 1);
	CHECK_EQ(t.rep.temps, 0);
	/* Reached through the client layer only, still the version's. */
	n = lt_node(&t, "e/a");
	CHECK(n != NULL);
	if (n) {
		struct layer_fh fh;

		CHECK_EQ(n->ino, ino_a);
		CHECK_EQ(n->kind, LAYER_KIND_VERSION);
		CHECK(layer_node_fh(t.st, n, &fh) == 0);
		CHECK(fh.len == fh_a.len && memcmp(fh.h, fh_a.h, fh.len) == 0);
		layer_node_free(n);
	}
	CHECK(layer_fh_open(t.st, &fh_a, &n) == 0);
	layer_node_free(n);
	CHECK_EQ(layer_fh_open(t.st, &fh_x, &n), -ESTALE);
	CHECK(lt_content_is(&t, "e/a", "new a"));
	lt_close(&t);
	/* A writer's temporary: a read-only view leaves it alone. */
	{
		char p[512];
		struct layer_stack_conf c = {.atfd = AT_FDCWD,
		    .client = t.client,
		    .index = t.index,
		    .versions = {t.v[0]},
		    .nversions = 1,
		    .read_only = true};
		struct layer_stack *ro;
		struct layer_open_report rep;

		lt_path(p, sizeof(p), "%s/#4242.1", t.index);
		CHECK(lt_write(p, "half") == 0);
		CHECK(layer_stack_open(&c, &ro, &rep) == 0);
		CHECK_EQ(rep.temps, 0);
		CHECK_EQ(rep.copies, 1);
		layer_stack_close(ro);
		CHECK(access(p, F_OK) == 0);
		CHECK(lt_open(&t, true) == 0);
		CHECK_EQ(t.rep.temps, 1);
		CHECK(access(p, F_OK) < 0);
		lt_close(&t);
	}
}

TEST(layer_dir_handles)
{
	struct lt t;
	struct layer_node *n;
	struct layer_fh fh_d, fh_c, fh_out;
	char p[512];

	lt_init(&t, t_tmpdir(), 1);
	lt_base_tree(&t);
	CHECK(lt_open(&t, true) == 0);
	n = lt_node(&t, "d");
	CHECK(n && layer_node_fh(t.st, n, &fh_d) == 0);
	layer_node_free(n);
	CHECK(lt_make(&t, NULL, "cdir", S_IFDIR, 0755) == 0);
	n = lt_node(&t, "cdir");
	CHECK(n && n->kind == LAYER_KIND_CLIENT &&
	    layer_node_fh(t.st, n, &fh_c) == 0);
	layer_node_free(n);
	/* After d gets its client copy the handle is the same object. */
	CHECK(lt_make(&t, NULL, "d/z", S_IFREG, 0644) == 0);
	CHECK(layer_fh_open(t.st, &fh_d, &n) == 0);
	CHECK(n && n->dirs[0] >= 0);
	layer_node_free(n);
	CHECK(layer_fh_open(t.st, &fh_c, &n) == 0);
	layer_node_free(n);
	/* Renamed, and another directory made under the old name. */
	CHECK(lt_rename(&t, NULL, "cdir", "cdir2") == 0);
	CHECK(lt_make(&t, NULL, "cdir", S_IFDIR, 0755) == 0);
	CHECK(layer_fh_open(t.st, &fh_c, &n) == 0);
	CHECK(n && strcmp(n->path, "cdir2") == 0);
	layer_node_free(n);
	CHECK(layer_fh_open(t.st, &fh_c, &n) == 0);
	CHECK(n && strcmp(n->path, "cdir2") == 0);
	layer_node_free(n);
	CHECK(lt_unlink(&t, NULL, "cdir", true) == 0);
	CHECK(lt_rename(&t, NULL, "cdir2", "cdir") == 0);
	/* Hidden or removed directories are stale. */
	CHECK(lt_unlink(&t, NULL, "d/x", false) == 0);
	CHECK(lt_unlink(&t, NULL, "d/y", false) == 0);
	CHECK(lt_unlink(&t, NULL, "d/z", false) == 0);
	CHECK(lt_unlink(&t, NULL, "d", true) == 0);
	CHECK_EQ(layer_fh_open(t.st, &fh_d, &n), -ESTALE);
	CHECK(lt_unlink(&t, NULL, "cdir", true) == 0);
	CHECK_EQ(layer_fh_open(t.st, &fh_c, &n), -ESTALE);
	/* A directory outside the stack never resolves. */
	lt_path(p, sizeof(p), "%s/outside", t.dir);
	CHECK(mkdir(p, 0755) == 0);
	{
		struct {
			struct file_handle h;
			unsigned char b[64];
		} k;
		int mnt;

		k.h.handle_bytes = 64;
		CHECK(name_to_handle_at(AT_FDCWD, p, &k.h, &mnt, 0) == 0);
		fh_out = (struct layer_fh){.kind = LAYER_KIND_CLIENT,
		    .len = (uint8_t)k.h.handle_bytes,
		    .type = k.h.handle_type};
		memcpy(fh_out.h, k.h.f_handle, k.h.handle_bytes);
		CHECK_EQ(layer_fh_open(t.st, &fh_out, &n), -ESTALE);
		fh_out.kind = LAYER_KIND_VERSION;
		CHECK_EQ(layer_fh_open(t.st, &fh_out, &n), -ESTALE);
		fh_out.kind = 7;
		CHECK_EQ(layer_fh_open(t.st, &fh_out, &n), -EINVAL);
	}
	lt_close(&t);
}

TEST(layer_confinement)
{
	struct lt t;
	struct layer_node *root, *n;
	struct layer_new dev0 = {.type = S_IFCHR, .mode = 0644};
	struct layer_new dev = {
	    .type = S_IFCHR, .mode = 0644, .rdev = makedev(1, 3)};
	char p[512], longname[300];

	lt_init(&t, t_tmpdir(), 1);
	lt_base_tree(&t);
	lt_path(p, sizeof(p), "%s/etc-link", t.v[0]);
	CHECK(symlink("/etc", p) == 0);
	CHECK(lt_open(&t, true) == 0);
	CHECK(layer_root(t.st, &root) == 0);
	/* ".." of the root is the root; names with '/' are refused. */
	CHECK(layer_lookup(t.st, NULL, root, "..", &n) == 0);
	CHECK(n && n->ino == root->ino);
	layer_node_free(n);
	CHECK_EQ(layer_lookup(t.st, NULL, root, "../client", &n), -EACCES);
	CHECK_EQ(layer_lookup(t.st, NULL, root, "", &n), -EACCES);
	memset(longname, 'n', 256);
	longname[256] = 0;
	CHECK_EQ(layer_lookup(t.st, NULL, root, longname, &n), -ENAMETOOLONG);
	/* Symlinks are objects, never followed. */
	CHECK(layer_lookup(t.st, NULL, root, "etc-link", &n) == 0);
	CHECK(n && n->type == S_IFLNK);
	layer_node_free(n);
	CHECK(layer_lookup_path(t.st, "etc-link/passwd", &n) < 0);
	CHECK(layer_lookup_path(t.st, "d/../../x", &n) < 0);
	/* The whiteout marker cannot be made; other devices by root only. */
	CHECK_EQ(layer_create(t.st, &user1000, root, "w", &dev0, NULL), -EPERM);
	CHECK_EQ(layer_create(t.st, NULL, root, "w", &dev0, NULL), -EPERM);
	CHECK_EQ(layer_create(t.st, &user1000, root, "w", &dev, NULL), -EPERM);
	CHECK(layer_create(t.st, NULL, root, "null", &dev, NULL) == 0);
	CHECK_EQ(layer_create(t.st, NULL, root, ".", &dev, NULL), -EEXIST);
	CHECK_EQ(layer_create(t.st, NULL, root, "a/b", &dev, NULL), -EACCES);
	/* Names are names: nothing a client names reaches the index. */
	CHECK(lt_make(&t, NULL, "#tmp", S_IFREG, 0644) == 0);
	CHECK(lt_make(&t, NULL, "1.1.1.00", S_IFREG, 0644) == 0);
	lt_close(&t);
	CHECK(lt_open(&t, true) == 0);
	CHECK_EQ(t.rep.temps, 0);
	CHECK(lt_content_is(&t, "#tmp", ""));
	/* A read-only stack refuses every change. */
	layer_node_free(root);
	lt_close(&t);
	CHECK(lt_open(&t, false) == 0);
	CHECK(layer_root(t.st, &root) == 0);
	CHECK_EQ(layer_create(t.st, NULL, root, "x", &dev, NULL), -EROFS);
	CHECK_EQ(lt_unlink(&t, NULL, "a", false), -EROFS);
	CHECK_EQ(lt_put(&t, NULL, "a", "x"), -EROFS);
	layer_node_free(root);
	lt_close(&t);
}

TEST(layer_permissions)
{
	struct lt t;
	struct layer_node *n;
	struct layer_sattr sa = {
	    .atime = {0, UTIME_OMIT}, .mtime = {0, UTIME_OMIT}};
	struct stat s;
	char p[512];

	lt_init(&t, t_tmpdir(), 1);
	lt_base_tree(&t);
	lt_path(p, sizeof(p), "%s/tmp", t.v[0]);
	CHECK(mkdir(p, 0777) == 0 && chmod(p, 01777) == 0);
	lt_path(p, sizeof(p), "%s/tmp/theirs", t.v[0]);
	CHECK(lt_write(p, "x") == 0 && chown(p, 2000, 2000) == 0);
	lt_path(p, sizeof(p), "%s/secret", t.v[0]);
	CHECK(lt_write(p, "s") == 0 && chmod(p, 0600) == 0);
	lt_path(p, sizeof(p), "%s/suid", t.v[0]);
	CHECK(lt_write(p, "s") == 0 && chown(p, 1000, 1000) == 0 &&
	    chmod(p, 04755) == 0);
	CHECK(lt_open(&t, true) == 0);
	/* Root-owned 0644 file and 0755 directory: a user reads, no more. */
	CHECK_EQ(lt_put(&t, &user1000, "a", "x"), -EACCES);
	CHECK_EQ(lt_make(&t, &user1000, "new", S_IFREG, 0644), -EACCES);
	CHECK_EQ(lt_unlink(&t, &user1000, "a", false), -EACCES);
	n = lt_node(&t, "secret");
	CHECK_EQ(layer_open_data(t.st, &user1000, n, O_RDONLY), -EACCES);
	layer_node_free(n);
	/* Sticky /tmp: others' files stay, one's own go. */
	CHECK(lt_make(&t, &user1000, "tmp/mine", S_IFREG, 0644) == 0);
	n = lt_node(&t, "tmp/mine");
	CHECK(n && layer_getattr(t.st, n, &s) == 0);
	CHECK_EQ(s.st_uid, 1000);
	CHECK_EQ(s.st_gid, 1000);
	layer_node_free(n);
	CHECK_EQ(lt_unlink(&t, &user1000, "tmp/theirs", false), -EPERM);
	CHECK_EQ(lt_rename(&t, &user1000, "tmp/theirs", "tmp/t2"), -EPERM);
	CHECK(lt_unlink(&t, &user2000, "tmp/theirs", false) == 0);
	CHECK(lt_unlink(&t, &user1000, "tmp/mine", false) == 0);
	/* chmod by the owner only; chown by root only. */
	n = lt_node(&t, "suid");
	sa.set_mode = true;
	sa.mode = 0700;
	CHECK_EQ(layer_setattr(t.st, &user2000, n, &sa), -EPERM);
	sa.set_mode = false;
	sa.set_uid = true;
	sa.uid = 2000;
	CHECK_EQ(layer_setattr(t.st, &user1000, n, &sa), -EPERM);
	sa.set_uid = false;
	/* A write by the owner (not root) drops setuid, as the kernel does. */
	layer_node_free(n);
	CHECK(lt_put(&t, &user1000, "suid", "t") == 0);
	n = lt_node(&t, "suid");
	CHECK(n && layer_getattr(t.st, n, &s) == 0);
	CHECK_EQ(s.st_mode & 07777, 0755);
	layer_node_free(n);
	/* Root may do all of it. */
	CHECK(lt_put(&t, &(struct layer_cred){0}, "a", "root") == 0);
	CHECK(layer_may(&user1000,
		  &(struct stat){
		      .st_mode = S_IFREG | 0604, .st_uid = 0, .st_gid = 1000},
		  LAYER_MAY_READ) == false);
	lt_close(&t);
}

TEST(layer_setattr_copies_up)
{
	struct lt t;
	struct layer_node *n;
	struct layer_sattr sa = {.set_mode = true,
	    .mode = 0600,
	    .set_uid = true,
	    .uid = 42,
	    .atime = {0, UTIME_OMIT},
	    .mtime = {1234567890, 987654321}};
	struct stat s, bs;
	char p[512];

	lt_init(&t, t_tmpdir(), 1);
	lt_base_tree(&t);
	CHECK(lt_open(&t, true) == 0);
	n = lt_node(&t, "d/x");
	CHECK(n && layer_setattr(t.st, NULL, n, &sa) == 0);
	CHECK(layer_getattr(t.st, n, &s) == 0);
	CHECK_EQ(s.st_mode & 07777, 0600);
	CHECK_EQ(s.st_uid, 42);
	CHECK_EQ(s.st_mtim.tv_nsec, 987654321);
	layer_node_free(n);
	lt_path(p, sizeof(p), "%s/d/x", t.v[0]);
	CHECK(stat(p, &bs) == 0);
	CHECK_EQ(bs.st_mode & 07777, 0644);
	CHECK_EQ(bs.st_uid, 0);
	/* A directory gets its client-layer copy. */
	n = lt_node(&t, "e");
	CHECK(n && layer_setattr(t.st, NULL, n, &sa) == 0);
	layer_node_free(n);
	lt_path(p, sizeof(p), "%s/e", t.client);
	CHECK(stat(p, &s) == 0);
	CHECK_EQ(s.st_mode & 07777, 0600);
	lt_path(p, sizeof(p), "%s/e", t.v[0]);
	CHECK(stat(p, &bs) == 0 && (bs.st_mode & 07777) == 0755);
	/* Truncate copies up and keeps the version's bytes. */
	n = lt_node(&t, "a");
	sa = (struct layer_sattr){.set_size = true,
	    .size = 4,
	    .atime = {0, UTIME_OMIT},
	    .mtime = {0, UTIME_OMIT}};
	CHECK(n && layer_setattr(t.st, NULL, n, &sa) == 0);
	layer_node_free(n);
	CHECK(lt_content_is(&t, "a", "base"));
	lt_path(p, sizeof(p), "%s/a", t.v[0]);
	CHECK(stat(p, &bs) == 0 && bs.st_size == 7);
	lt_close(&t);
}

TEST(layer_three_versions)
{
	struct lt t;
	char names[1024], p[512];

	/* v0 base, v1 and v2 deltas written in overlayfs' format. */
	lt_init(&t, t_tmpdir(), 3);
	lt_base_tree(&t);
	lt_path(p, sizeof(p), "%s/a", t.v[1]);
	CHECK(mknod(p, S_IFCHR, makedev(0, 0)) == 0);
	lt_path(p, sizeof(p), "%s/d", t.v[1]);
	CHECK(mkdir(p, 0755) == 0);
	lt_path(p, sizeof(p), "%s/d/v1", t.v[1]);
	CHECK(lt_write(p, "from v1") == 0);
	lt_path(p, sizeof(p), "%s/d/x", t.v[1]);
	CHECK(lt_write(p, "x of v1") == 0);
	lt_path(p, sizeof(p), "%s/e", t.v[1]);
	CHECK(mkdir(p, 0755) == 0);
	CHECK(setxattr(p, "user.overlay.opaque", "y", 1, 0) == 0);
	lt_path(p, sizeof(p), "%s/e/only", t.v[1]);
	CHECK(lt_write(p, "e of v1") == 0);
	lt_path(p, sizeof(p), "%s/e/old", t.v[0]);
	CHECK(lt_write(p, "hidden by v1") == 0);
	/* v2: brings a back, whites out d/y, and an xattr whiteout. */
	lt_path(p, sizeof(p), "%s/a", t.v[2]);
	CHECK(lt_write(p, "a of v2") == 0);
	lt_path(p, sizeof(p), "%s/d", t.v[2]);
	CHECK(mkdir(p, 0755) == 0);
	CHECK(setxattr(p, "user.overlay.opaque", "x", 1, 0) == 0);
	lt_path(p, sizeof(p), "%s/d/y", t.v[2]);
	CHECK(mknod(p, S_IFCHR, makedev(0, 0)) == 0);
	lt_path(p, sizeof(p), "%s/d/v1", t.v[2]);
	CHECK(lt_write(p, "") == 0);
	CHECK(setxattr(p, "user.overlay.whiteout", "", 0, 0) == 0);
	CHECK(lt_open(&t, true) == 0);
	lt_names(&t, "", names, sizeof(names));
	CHECK_STR(names, "a,d,e");
	CHECK(lt_content_is(&t, "a", "a of v2"));
	lt_names(&t, "d", names, sizeof(names));
	CHECK_STR(names, "x");
	CHECK(lt_content_is(&t, "d/x", "x of v1"));
	lt_names(&t, "e", names, sizeof(names));
	CHECK_STR(names, "only");
	/* The client layer on top of all three. */
	CHECK(lt_unlink(&t, NULL, "d/x", false) == 0);
	CHECK(lt_unlink(&t, NULL, "d", true) == 0);
	CHECK(lt_make(&t, NULL, "d", S_IFDIR, 0755) == 0);
	lt_names(&t, "d", names, sizeof(names));
	CHECK_STR(names, "");
	lt_names(&t, "", names, sizeof(names));
	CHECK_STR(names, "a,d,e");
	lt_close(&t);
}

static struct lt t_deep;

/* Deeper than PATH_MAX: /proc cannot name these directories. */
TEST(layer_dir_handles_past_path_max)
{
	struct layer_new nw = {.type = S_IFDIR, .mode = 0755};
	struct layer_node *cur, *next, *again;
	struct layer_fh fh, vfh;
	char name[300], p[512];
	int i, vfd, fd;

	lt_init(&t_deep, t_tmpdir(), 1);
	/* In the version: made with plain calls, one level at a time. */
	vfd = open(t_deep.v[0], O_RDONLY | O_DIRECTORY);
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "%02d%0250d", i % 100, 0);
		CHECK(mkdirat(vfd, name, 0755) == 0);
		fd = openat(vfd, name, O_RDONLY | O_DIRECTORY);
		close(vfd);
		vfd = fd;
	}
	close(vfd);
	CHECK(lt_open(&t_deep, true) == 0);
	CHECK(layer_root(t_deep.st, &cur) == 0);
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "%02d%0250d", i % 100, 0);
		CHECK(layer_lookup(t_deep.st, NULL, cur, name, &next) == 0);
		layer_node_free(cur);
		cur = next;
	}
	CHECK(layer_node_fh(t_deep.st, cur, &vfh) == 0);
	CHECK(layer_fh_open(t_deep.st, &vfh, &again) == 0);
	CHECK(again && again->ino == cur->ino);
	layer_node_free(again);
	/* In the client layer, below it. */
	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "c%d%0250d", i % 10, 0);
		CHECK(
		    layer_create(t_deep.st, NULL, cur, name, &nw, &next) == 0);
		layer_node_free(cur);
		cur = next;
	}
	CHECK(cur->kind == LAYER_KIND_CLIENT);
	CHECK(layer_node_fh(t_deep.st, cur, &fh) == 0);
	CHECK(layer_fh_open(t_deep.st, &fh, &again) == 0);
	CHECK(again && again->ino == cur->ino);
	layer_node_free(again);
	/* The version directory got its client copy: still the same. */
	CHECK(layer_fh_open(t_deep.st, &vfh, &again) == 0);
	CHECK(again && again->dirs[0] >= 0);
	layer_node_free(again);
	CHECK(layer_lookup(t_deep.st, NULL, cur, "..", &next) == 0);
	snprintf(p, sizeof(p), "c2%0250d", 0);
	CHECK(layer_rmdir(t_deep.st, NULL, next, p) == 0);
	CHECK_EQ(layer_fh_open(t_deep.st, &fh, &again), -ESTALE);
	layer_node_free(next);
	layer_node_free(cur);
	lt_close(&t_deep);
}

/* @path's merged attributes, looked up and stat'ed separately. */
static bool
attrs_agree(struct lt *t, const char *path)
{
	struct layer_node *dir, *a = NULL, *b = NULL;
	struct stat sa, sb;
	char name[256];
	bool ok;

	dir = lt_parent(t, path, name, sizeof(name));
	ok = dir && layer_lookup_attr(t->st, dir, name, &a, &sa) == 0 &&
	    layer_lookup(t->st, NULL, dir, name, &b) == 0 &&
	    layer_getattr(t->st, b, &sb) == 0;
	ok = ok && sa.st_ino == sb.st_ino && sa.st_nlink == sb.st_nlink &&
	    sa.st_mode == sb.st_mode && sa.st_size == sb.st_size &&
	    sa.st_uid == sb.st_uid &&
	    sa.st_mtim.tv_nsec == sb.st_mtim.tv_nsec && a->kind == b->kind &&
	    a->ino == b->ino;
	if (!ok) {
		fprintf(stderr, "attributes of %s disagree\n", path);
	}
	layer_node_free(a);
	layer_node_free(b);
	layer_node_free(dir);
	return ok;
}

TEST(layer_lookup_with_attributes)
{
	struct layer_node *root, *n;
	struct stat s;
	struct lt t;
	char p[512], q[512];

	lt_init(&t, t_tmpdir(), 1);
	lt_base_tree(&t);
	/* g: a second version name of d/x. */
	lt_path(p, sizeof(p), "%s/d/x", t.v[0]);
	lt_path(q, sizeof(q), "%s/g", t.v[0]);
	CHECK(link(p, q) == 0 && lt_open(&t, true) == 0);
	/* A version file, a directory, then a copy, client links and
	 * objects, a renamed version file. */
	CHECK(attrs_agree(&t, "d/x"));
	CHECK(attrs_agree(&t, "d"));
	CHECK(lt_put(&t, NULL, "d/x", "changed\n") == 0);
	CHECK(attrs_agree(&t, "d/x"));
	CHECK(attrs_agree(&t, "g"));
	CHECK(lt_link(&t, NULL, "g", "h") == 0);
	CHECK(attrs_agree(&t, "h"));
	CHECK(attrs_agree(&t, "d"));
	CHECK(lt_make(&t, NULL, "c", S_IFREG, 0640) == 0);
	CHECK(lt_make(&t, NULL, "cd", S_IFDIR, 0750) == 0);
	CHECK(attrs_agree(&t, "c"));
	CHECK(attrs_agree(&t, "cd"));
	/* "." and "..", and what is not there. */
	root = lt_node(&t, "");
	CHECK(root && layer_lookup_attr(t.st, root, "..", &n, &s) == 0);
	CHECK(n && s.st_ino == root->ino && S_ISDIR(s.st_mode));
	layer_node_free(n);
	CHECK_EQ(layer_lookup_attr(t.st, root, "nope", &n, &s), -ENOENT);
	CHECK_EQ(layer_lookup_attr(t.st, root, "a/b", &n, &s), -EACCES);
	layer_node_free(root);
	lt_close(&t);
}
