#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "nfs_util.h"
#include "server/lstack.h"

/*
 * The NFS procedures over a layered export (fs_layer.c), through the
 * same entry point as the plain ones: what a version shows, copy-up on
 * the first change with the version untouched, handles across copy-up,
 * handles sealed to one stack, markers the client cannot make, merged
 * READDIR cookies; and the seam itself: one script of calls against a
 * plain directory and against a layered tree holding the same files
 * gets the same answers.
 */

static int
getattr(struct env *v, const struct nfs3_fh *fh, struct nfs3_fattr *out)
{
	struct nfs3_args a = args_of(NFS3_PROC_GETATTR, fh);
	struct nfs3_res r;
	int s = env_call(v, &a, &r);

	if (s == NFS3_OK && out) {
		*out = r.obj.a;
	}
	return s;
}

static int
read_all(struct env *v, const struct nfs3_fh *fh, char *buf, size_t cap)
{
	struct nfs3_args a = args_of(NFS3_PROC_READ, fh);
	struct nfs3_res r;
	int s;

	a.count = (uint32_t)cap - 1;
	s = env_call(v, &a, &r);
	buf[0] = 0;
	if (s == NFS3_OK) {
		memcpy(buf, r.data, r.data_len);
		buf[r.data_len] = 0;
	}
	return s;
}

static int
write_at(struct env *v, const struct nfs3_fh *fh, uint64_t off, const char *s)
{
	struct nfs3_args a = args_of(NFS3_PROC_WRITE, fh);
	struct nfs3_res r;

	a.offset = off;
	a.data = (const uint8_t *)s;
	a.data_len = strlen(s);
	a.count = (uint32_t)a.data_len;
	a.stable = NFS3_FILE_SYNC;
	return env_call(v, &a, &r);
}

/* The bytes of @path on disk ("" when it cannot be read). */
static const char *
disk(const char *path)
{
	static char buf[256];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? 0 : read(fd, buf, sizeof(buf) - 1);

	buf[n > 0 ? n : 0] = 0;
	if (fd >= 0) {
		close(fd);
	}
	return buf;
}

static void
at(char *out, const char *dir, const char *name)
{
	snprintf(out, 512, "%s/%s", dir, name);
}

/* A version layer with a file, a directory, a symlink and a hard link. */
static void
fill_version(struct env *v)
{
	char p[512], q[512];

	at(p, v->ver, "etc");
	CHECK(mkdir(p, 0755) == 0);
	at(p, v->ver, "etc/hostname");
	write_file(p, "raspberrypi\n");
	at(p, v->ver, "etc/shadow");
	write_file(p, "root:*:1::::::\n");
	CHECK(chmod(p, 0600) == 0);
	at(q, v->ver, "etc/shadow.link");
	CHECK(link(p, q) == 0);
	at(p, v->ver, "lnk");
	CHECK(symlink("etc/hostname", p) == 0);
	at(p, v->ver, "usr");
	CHECK(mkdir(p, 0755) == 0);
	at(p, v->ver, "usr/bin");
	CHECK(mkdir(p, 0755) == 0);
	at(p, v->ver, "usr/bin/sh");
	write_file(p, "#!elf\n");
	CHECK(chmod(p, 04755) == 0);
}

TEST(nfs_layer_reads_the_version)
{
	struct env v;
	struct nfs3_fh etc, f, l;
	struct nfs3_fattr a;
	struct nfs3_args args;
	struct nfs3_res r;
	struct stat st;
	char buf[256], p[512];

	env_layer_init(&v);
	fill_version(&v);
	env_layer_open(&v, NULL);
	CHECK_EQ(getattr(&v, &v.root, &a), NFS3_OK);
	CHECK_EQ(a.type, NF3DIR);
	CHECK_EQ(lookup(&v, &v.root, "etc", &etc), NFS3_OK);
	CHECK_EQ(lookup(&v, &etc, "hostname", &f), NFS3_OK);
	CHECK_EQ(read_all(&v, &f, buf, sizeof(buf)), NFS3_OK);
	CHECK(strcmp(buf, "raspberrypi\n") == 0);
	/* The fileid is the version inode's; links count in the version. */
	at(p, v.ver, "etc/hostname");
	CHECK(stat(p, &st) == 0);
	CHECK_EQ(getattr(&v, &f, &a), NFS3_OK);
	CHECK_EQ(a.fileid, st.st_ino);
	CHECK_EQ(lookup(&v, &etc, "shadow.link", &f), NFS3_OK);
	CHECK_EQ(getattr(&v, &f, &a), NFS3_OK);
	CHECK_EQ(a.nlink, 2);
	CHECK_EQ(a.mode, 0600);
	CHECK_EQ(lookup(&v, &v.root, "lnk", &l), NFS3_OK);
	args = args_of(NFS3_PROC_READLINK, &l);
	CHECK_EQ(env_call(&v, &args, &r), NFS3_OK);
	CHECK(r.data_len == 12 && memcmp(r.data, "etc/hostname", 12) == 0);
	/* ".." of the root is the root: nothing above the tree. */
	CHECK_EQ(lookup(&v, &v.root, "..", &f), NFS3_OK);
	CHECK_EQ(f.len, v.root.len);
	CHECK(memcmp(f.data, v.root.data, f.len) == 0);
	/* A uid other than root cannot read the 0600 version file. */
	CHECK_EQ(lookup(&v, &etc, "shadow", &f), NFS3_OK);
	v.uid = 1000;
	v.gid = 1000;
	CHECK_EQ(read_all(&v, &f, buf, sizeof(buf)), NFS3ERR_ACCES);
	env_fini(&v);
}

TEST(nfs_layer_changes_leave_the_version_alone)
{
	struct env v;
	struct nfs3_fh etc, f, g, sh;
	struct nfs3_fattr a, b;
	struct nfs3_args args;
	struct nfs3_res r;
	struct stat before, after;
	char buf[256], p[512];

	env_layer_init(&v);
	fill_version(&v);
	at(p, v.ver, "etc/hostname");
	CHECK(stat(p, &before) == 0);
	env_layer_open(&v, NULL);
	CHECK_EQ(lookup(&v, &v.root, "etc", &etc), NFS3_OK);
	CHECK_EQ(lookup(&v, &etc, "hostname", &f), NFS3_OK);
	CHECK_EQ(getattr(&v, &f, &a), NFS3_OK);
	/* A WRITE copies up; the handle taken before reaches the copy. */
	CHECK_EQ(write_at(&v, &f, 0, "pi-a"), NFS3_OK);
	CHECK_EQ(read_all(&v, &f, buf, sizeof(buf)), NFS3_OK);
	CHECK(strcmp(buf, "pi-aberrypi\n") == 0);
	CHECK_EQ(getattr(&v, &f, &b), NFS3_OK);
	CHECK_EQ(b.fileid, a.fileid);
	CHECK_EQ(lookup(&v, &etc, "hostname", &g), NFS3_OK);
	CHECK_EQ(g.len, f.len);
	CHECK(memcmp(g.data, f.data, f.len) == 0);
	CHECK(strcmp(disk(p), "raspberrypi\n") == 0);
	CHECK(stat(p, &after) == 0);
	CHECK_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
	CHECK_EQ(after.st_ino, before.st_ino);
	/* SETATTR, LINK, RENAME and REMOVE of version files. */
	CHECK_EQ(lookup(&v, &v.root, "usr", &g), NFS3_OK);
	CHECK_EQ(lookup(&v, &g, "bin", &g), NFS3_OK);
	CHECK_EQ(lookup(&v, &g, "sh", &sh), NFS3_OK);
	args = args_of(NFS3_PROC_SETATTR, &sh);
	args.sattr.set_mode = true;
	args.sattr.mode = 0700;
	args.sattr.set_uid = true;
	args.sattr.uid = 7;
	CHECK_EQ(env_call(&v, &args, &r), NFS3_OK);
	CHECK_EQ(r.wcc.after.a.mode, 0700);
	CHECK_EQ(r.wcc.after.a.uid, 7);
	args = dirop(NFS3_PROC_LINK, &etc, "sh2");
	args.fh = sh;
	CHECK_EQ(env_call(&v, &args, &r), NFS3_OK);
	CHECK_EQ(r.obj.a.nlink, 2);
	args = dirop(NFS3_PROC_RENAME, &etc, "shadow");
	args.to.dir = etc;
	snprintf(args.to.name, sizeof(args.to.name), "shadow-");
	CHECK_EQ(env_call(&v, &args, &r), NFS3_OK);
	args = dirop(NFS3_PROC_REMOVE, &etc, "shadow.link");
	CHECK_EQ(env_call(&v, &args, &r), NFS3_OK);
	CHECK_EQ(lookup(&v, &etc, "shadow.link", &g), NFS3ERR_NOENT);
	CHECK_EQ(lookup(&v, &etc, "shadow", &g), NFS3ERR_NOENT);
	CHECK_EQ(lookup(&v, &etc, "shadow-", &g), NFS3_OK);
	at(p, v.ver, "usr/bin/sh");
	CHECK(stat(p, &after) == 0 && (after.st_mode & 07777) == 04755 &&
	    after.st_uid == 0 && after.st_nlink == 1);
	at(p, v.ver, "etc/shadow");
	CHECK(stat(p, &after) == 0 && after.st_nlink == 2);
	CHECK(strcmp(disk(p), "root:*:1::::::\n") == 0);
	at(p, v.ver, "etc/shadow.link");
	CHECK(access(p, F_OK) == 0);
	/* A file whose last name the client removed: its handle is stale. */
	args = dirop(NFS3_PROC_REMOVE, &etc, "shadow-");
	CHECK_EQ(env_call(&v, &args, &r), NFS3_OK);
	CHECK_EQ(getattr(&v, &g, NULL), NFS3ERR_STALE);
	env_fini(&v);
}

TEST(nfs_layer_create_and_names)
{
	struct env v;
	struct nfs3_fh d, f, usr;
	struct nfs3_args a;
	struct nfs3_res r;
	char p[512];
	struct stat st;

	env_layer_init(&v);
	fill_version(&v);
	env_layer_open(&v, NULL);
	/* EXCLUSIVE: a retransmission succeeds, another verifier does not. */
	CHECK_EQ(create(&v, &v.root, "x", NFS3_EXCLUSIVE, &f), NFS3_OK);
	CHECK_EQ(create(&v, &v.root, "x", NFS3_EXCLUSIVE, &f), NFS3_OK);
	a = dirop(NFS3_PROC_CREATE, &v.root, "x");
	a.createmode = NFS3_EXCLUSIVE;
	memcpy(a.verf, "verf0002", 8);
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_EXIST);
	CHECK_EQ(create(&v, &v.root, "x", NFS3_GUARDED, NULL), NFS3ERR_EXIST);
	/* UNCHECKED over a version file: only its size, the version kept. */
	a = dirop(NFS3_PROC_CREATE, &v.root, "lnk");
	a.createmode = NFS3_UNCHECKED;
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_EXIST);
	CHECK_EQ(lookup(&v, &v.root, "etc", &d), NFS3_OK);
	a = dirop(NFS3_PROC_CREATE, &d, "hostname");
	a.createmode = NFS3_UNCHECKED;
	a.sattr.set_size = true;
	a.sattr.size = 0;
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.obj.a.size, 0);
	at(p, v.ver, "etc/hostname");
	CHECK(stat(p, &st) == 0 && st.st_size == 12);
	/* MKDIR, SYMLINK and MKNOD make client objects with their modes. */
	a = dirop(NFS3_PROC_MKDIR, &v.root, "home");
	a.sattr.set_mode = true;
	a.sattr.mode = 02750;
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.obj.a.mode, 02750);
	a = dirop(NFS3_PROC_MKNOD, &v.root, "fifo");
	a.ftype = NF3FIFO;
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.obj.a.type, NF3FIFO);
	/* The whiteout marker is no device a client may make. */
	a = dirop(NFS3_PROC_MKNOD, &v.root, "wh");
	a.ftype = NF3CHR;
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_PERM);
	CHECK_EQ(lookup(&v, &v.root, "wh", &f), NFS3ERR_NOENT);
	a = dirop(NFS3_PROC_MKNOD, &v.root, "null");
	a.ftype = NF3CHR;
	a.rdev_major = 1;
	a.rdev_minor = 3;
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	/* Names are only names: these hide nothing and mark nothing. */
	CHECK_EQ(create(&v, &v.root, ".wh.etc", NFS3_GUARDED, NULL), NFS3_OK);
	CHECK_EQ(create(&v, &d, "#1.1", NFS3_GUARDED, NULL), NFS3_OK);
	CHECK_EQ(lookup(&v, &v.root, "etc", &f), NFS3_OK);
	CHECK_EQ(lookup(&v, &d, "shadow", &f), NFS3_OK);
	at(p, v.up, ".wh.etc");
	CHECK(stat(p, &st) == 0 && S_ISREG(st.st_mode));
	CHECK(getxattr(p, "user.overlay.whiteout", NULL, 0) < 0);
	/* A directory with version content cannot move (overlayfs: EXDEV). */
	CHECK_EQ(lookup(&v, &v.root, "usr", &usr), NFS3_OK);
	a = dirop(NFS3_PROC_RENAME, &v.root, "usr");
	a.to.dir = v.root;
	snprintf(a.to.name, sizeof(a.to.name), "usr2");
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_XDEV);
	a = dirop(NFS3_PROC_RMDIR, &v.root, "usr");
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_NOTEMPTY);
	env_fini(&v);
}

/* Every name of a READDIR(PLUS) walk from cookie 0, in @seen (1 each). */
static int
walk(struct env *v, const struct nfs3_fh *dir, bool plus, uint32_t count,
    char seen[][32], size_t maxseen, size_t *nseen, uint8_t verf[8])
{
	uint64_t cookie = 0;
	int calls;

	*nseen = 0;
	memset(verf, 0, 8);
	for (calls = 0; calls < 1000; calls++) {
		struct nfs3_args a = args_of(
		    plus ? NFS3_PROC_READDIRPLUS : NFS3_PROC_READDIR, dir);
		struct nfs3_res r;
		size_t k;
		int s;

		a.cookie = cookie;
		memcpy(a.verf, verf, 8);
		a.count = count;
		a.maxcount = count * 4;
		s = env_call(v, &a, &r);
		if (s != NFS3_OK) {
			return s;
		}
		memcpy(verf, r.verf, 8);
		for (k = 0; k < r.nentries && *nseen < maxseen; k++) {
			snprintf(seen[(*nseen)++], 32, "%.*s",
			    (int)r.entries[k].namelen, r.entries[k].name);
			if (plus &&
			    !(r.entries[k].namelen <= 2 &&
				r.entries[k].name[0] == '.')) {
				CHECK(r.entries[k].has_fh);
				CHECK(r.entries[k].attr.present);
			}
			cookie = r.entries[k].cookie;
		}
		if (r.eof) {
			return NFS3_OK;
		}
	}
	return -1;
}

static bool
has(char seen[][32], size_t n, const char *name)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++) {
		c += strcmp(seen[i], name) == 0;
	}
	CHECK(c <= 1);
	return c == 1;
}

TEST(nfs_layer_readdir_merges_with_stable_cookies)
{
	static char seen[700][32];
	const struct nfs_export_table *t;
	struct env v;
	struct nfs3_fh d;
	struct nfs3_args a;
	struct nfs3_res r;
	uint8_t verf[8], sv[8];
	size_t n, i;
	char p[512];
	int plus;

	env_layer_init(&v);
	at(p, v.ver, "d");
	CHECK(mkdir(p, 0755) == 0);
	for (i = 0; i < 300; i++) {
		snprintf(p, sizeof(p), "%s/d/v%03zu", v.ver, i);
		write_file(p, "");
	}
	env_layer_open(&v, NULL);
	CHECK_EQ(lookup(&v, &v.root, "d", &d), NFS3_OK);
	for (i = 0; i < 50; i++) {
		char name[16];

		snprintf(name, sizeof(name), "c%03zu", i);
		CHECK_EQ(create(&v, &d, name, NFS3_GUARDED, NULL), NFS3_OK);
		snprintf(name, sizeof(name), "v%03zu", i * 2);
		a = dirop(NFS3_PROC_REMOVE, &d, name);
		CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	}
	for (plus = 0; plus < 2; plus++) {
		CHECK_EQ(walk(&v, &d, plus, 512, seen, 700, &n, verf), NFS3_OK);
		CHECK_EQ(n, 2 + 50 + 250);
		CHECK(has(seen, n, "c049") && has(seen, n, "v001"));
		CHECK(!has(seen, n, "v000") && !has(seen, n, "v098"));
		CHECK(has(seen, n, "v100") && has(seen, n, "v299"));
	}
	/* The cookie verifier is the stack's, the same for every listing. */
	t = nfs_exports_get(&v.ex);
	layer_stack_verifier(t->e[0]->stack->st, sv);
	nfs_exports_put(t);
	CHECK(memcmp(verf, sv, 8) == 0);
	a = args_of(NFS3_PROC_READDIR, &d);
	a.cookie = 5;
	a.count = 1024;
	memcpy(a.verf, "garbage!", 8);
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_BAD_COOKIE);
	/* A version phase this stack does not have. */
	memcpy(a.verf, verf, 8);
	a.cookie = 1ull << 63 | 7ull << 59 | 3;
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_BAD_COOKIE);
	env_fini(&v);
}

/* The export of @v with id @id, from its current table (unreferenced). */
static struct nfs_export *
export_of(struct env *v, uint32_t id)
{
	const struct nfs_export_table *t = nfs_exports_get(&v->ex);
	struct nfs_export *e = nfs_export_find(t, id, NULL);

	nfs_exports_put(t);
	return e;
}

/* The export id inside handle @fh. */
static uint32_t
fh_export(const struct nfs3_fh *fh)
{
	return (uint32_t)fh->data[4] << 24 | (uint32_t)fh->data[5] << 16 |
	    (uint32_t)fh->data[6] << 8 | fh->data[7];
}

TEST(nfs_layer_handles_are_sealed_to_one_stack)
{
	struct env v, w;
	struct nfs3_fh a_root, a_file, b_file, forged;
	struct nfs_fh_key k = {0};
	char p[512], up2[512], work2[512], opts[2048], v2[512];
	struct nfs3_fattr fa;
	int i;

	env_layer_init(&v);
	fill_version(&v);
	env_layer_open(&v, NULL);
	a_root = v.root;
	CHECK_EQ(create(&v, &v.root, "mine", NFS3_GUARDED, &a_file), NFS3_OK);
	/* Client B: its own layer over the same version, in one table. */
	at(up2, v.base, "up2");
	at(work2, v.base, "work2");
	CHECK(mkdir(up2, 0755) == 0 && mkdir(work2, 0700) == 0);
	snprintf(opts, sizeof(opts),
	    "allow=127.0.0.0/8,lower=%s,upper=%s,work=%s", v.ver, up2, work2);
	at(p, v.base, "lexp-b");
	env_export(&v, p, opts);
	CHECK_EQ(create(&v, &v.root, "theirs", NFS3_GUARDED, &b_file), NFS3_OK);
	/* B's handle with A's export id: the tag no longer matches. */
	forged = b_file;
	for (i = 0; i < 4; i++) {
		forged.data[4 + i] = a_root.data[4 + i];
	}
	CHECK_EQ(getattr(&v, &forged, NULL), NFS3ERR_BADHANDLE);
	/*
	 * Even sealed with the key for A's export, B's object is not A's:
	 * the verifier sealed in it is B's stack's, and with A's verifier
	 * the library does not find the client file in A's layer.
	 */
	k.kind = b_file.data[2];
	k.len = b_file.data[1];
	k.type = (int32_t)((uint32_t)b_file.data[8] << 24 |
	    (uint32_t)b_file.data[9] << 16 | (uint32_t)b_file.data[10] << 8 |
	    b_file.data[11]);
	memcpy(k.verf, b_file.data + 12, 8);
	memcpy(k.h, b_file.data + 20, k.len);
	CHECK_EQ(
	    nfs_fh_seal(&v.ex, export_of(&v, fh_export(&a_root)), &k, &forged),
	    0);
	CHECK_EQ(getattr(&v, &forged, NULL), NFS3ERR_STALE);
	/* A plain handle under a layered export's id: stale, not served. */
	k = (struct nfs_fh_key){.kind = 0, .len = a_file.data[1]};
	memcpy(k.h, a_file.data + 20, k.len);
	k.type = (int32_t)((uint32_t)a_file.data[8] << 24 |
	    (uint32_t)a_file.data[9] << 16 | (uint32_t)a_file.data[10] << 8 |
	    a_file.data[11]);
	CHECK_EQ(
	    nfs_fh_seal(&v.ex, export_of(&v, fh_export(&a_root)), &k, &forged),
	    0);
	CHECK_EQ(getattr(&v, &forged, NULL), NFS3ERR_STALE);
	CHECK_EQ(getattr(&v, &a_file, NULL), NFS3_OK);
	CHECK_EQ(getattr(&v, &b_file, NULL), NFS3_OK);
	env_fini(&v);

	/* A restart: the same layers and key answer the same handles. */
	env_start(&w, v.base, "lexp");
	memcpy(w.ver, v.ver, sizeof(w.ver));
	memcpy(w.up, v.up, sizeof(w.up));
	memcpy(w.work, v.work, sizeof(w.work));
	env_layer_open(&w, NULL);
	CHECK_EQ(getattr(&w, &a_file, &fa), NFS3_OK);
	CHECK_EQ(fa.type, NF3REG);
	CHECK_EQ(getattr(&w, &a_root, NULL), NFS3_OK);
	env_fini(&w);

	/* Moved to another version: the old handles are stale. */
	env_start(&w, v.base, "lexp");
	at(v2, v.base, "ver2");
	CHECK(mkdir(v2, 0755) == 0);
	snprintf(opts, sizeof(opts),
	    "allow=127.0.0.0/8,lower=%s,lower=%s,upper=%s,work=%s", v2, v.ver,
	    v.up, v.work);
	env_export(&w, w.dir, opts);
	CHECK_EQ(getattr(&w, &a_file, NULL), NFS3ERR_STALE);
	CHECK_EQ(getattr(&w, &a_root, NULL), NFS3ERR_STALE);
	CHECK_EQ(lookup(&w, &w.root, "mine", &a_file), NFS3_OK);
	env_fini(&w);
}

TEST(nfs_layer_identity_and_read_only)
{
	struct env v;
	struct nfs3_fh etc, f, sub;
	struct nfs3_args a;
	struct nfs3_res r;
	const struct nfs_export_table *t;
	char p[512], opts[700];

	env_layer_init(&v);
	fill_version(&v);
	env_layer_open(&v, "root_squash");
	CHECK_EQ(lookup(&v, &v.root, "etc", &etc), NFS3_OK);
	CHECK_EQ(lookup(&v, &etc, "hostname", &f), NFS3_OK);
	/* root_squash: uid 0 acts as nobody, who may not write root's file. */
	CHECK_EQ(write_at(&v, &f, 0, "x"), NFS3ERR_ACCES);
	CHECK_EQ(create(&v, &etc, "new", NFS3_GUARDED, NULL), NFS3ERR_ACCES);
	/* uid 4294967295 is no id: nobody, on every export. */
	v.uid = UINT32_MAX;
	v.gid = UINT32_MAX;
	CHECK_EQ(write_at(&v, &f, 0, "x"), NFS3ERR_ACCES);
	CHECK_EQ(create(&v, &v.root, "new", NFS3_GUARDED, NULL), NFS3ERR_ACCES);
	v.uid = v.gid = 0;
	at(p, v.ver, "etc/hostname");
	CHECK(strcmp(disk(p), "raspberrypi\n") == 0);
	at(p, v.up, "etc");
	CHECK(access(p, F_OK) < 0);
	/* MOUNT of a directory below, of a file, of a name that is not. */
	t = nfs_exports_get(&v.ex);
	CHECK_EQ(t->e[0]->fs->mount(&v.ex, t->e[0], "usr/bin", &sub), 0);
	CHECK_EQ(
	    t->e[0]->fs->mount(&v.ex, t->e[0], "etc/hostname", &sub), -ENOTDIR);
	CHECK_EQ(t->e[0]->fs->mount(&v.ex, t->e[0], "../x", &sub), -EINVAL);
	CHECK_EQ(t->e[0]->fs->mount(&v.ex, t->e[0], "nope", &sub), -ENOENT);
	nfs_exports_put(t);
	env_fini(&v);

	/* Without an upper layer the tree is read-only. */
	snprintf(opts, sizeof(opts), "allow=127.0.0.0/8,lower=%s", v.ver);
	env_start(&v, v.base, "ro");
	env_export(&v, v.dir, opts);
	CHECK_EQ(lookup(&v, &v.root, "etc", &etc), NFS3_OK);
	CHECK_EQ(lookup(&v, &etc, "hostname", &f), NFS3_OK);
	CHECK_EQ(write_at(&v, &f, 0, "x"), NFS3ERR_ROFS);
	a = dirop(NFS3_PROC_REMOVE, &etc, "hostname");
	CHECK_EQ(env_call(&v, &a, &r), NFS3ERR_ROFS);
	a = args_of(NFS3_PROC_ACCESS, &f);
	a.access = NFS3_ACCESS_READ | NFS3_ACCESS_MODIFY;
	CHECK_EQ(env_call(&v, &a, &r), NFS3_OK);
	CHECK_EQ(r.access, NFS3_ACCESS_READ);
	env_fini(&v);
}

TEST(nfs_layer_export_options)
{
	struct nfs_exports ex;
	static const uint8_t key[NFS_KEY_SIZE] = {9};
	char msg[256], opts[1200], d[512];

	CHECK(nfs_exports_init(&ex, key) == 0);
	at(d, t_tmpdir(), "v");
	CHECK(mkdir(d, 0755) == 0);
	CHECK_EQ(
	    nfs_exports_add(&ex, "/n1", "upper=/x", NULL, msg, sizeof(msg)),
	    -EINVAL);
	CHECK(strstr(msg, "lower=DIR") != NULL);
	snprintf(opts, sizeof(opts), "lower=%s,upper=%s", d, d);
	CHECK_EQ(
	    nfs_exports_add(&ex, "/n2", opts, NULL, msg, sizeof(msg)), -EINVAL);
	CHECK_EQ(nfs_exports_add(
		     &ex, "/n3", "lower=relative", NULL, msg, sizeof(msg)),
	    -EINVAL);
	CHECK(strstr(msg, "absolute") != NULL);
	CHECK_EQ(nfs_exports_add(&ex, "/n4", "lower=/nonexistent/v", NULL, msg,
		     sizeof(msg)),
	    -ENOENT);
	CHECK(strstr(msg, "/n4") != NULL);
	snprintf(opts, sizeof(opts), "lower=%s", d);
	CHECK(nfs_exports_add(&ex, "/n5", opts, NULL, msg, sizeof(msg)) > 0);
	CHECK_EQ(nfs_exports_count(&ex), 1);
	nfs_exports_fini(&ex);
}

/* --- the seam: one script, two backends, the same answers --------------- */

/* What one call answered, as far as both backends must agree. */
struct answer {
	int status;
	uint32_t type, mode, nlink, uid, gid;
	uint64_t size;
};

static void
answer_of(int s, const struct nfs3_post_attr *p, struct answer *out)
{
	*out = (struct answer){.status = s};
	if (s == NFS3_OK && p->present) {
		out->type = p->a.type;
		out->mode = p->a.mode;
		out->nlink = p->a.nlink;
		out->uid = p->a.uid;
		out->gid = p->a.gid;
		out->size = p->a.type == NF3DIR ? 0 : p->a.size;
	}
}

#define SCRIPT_MAX 64

/* Build the same small tree at @dir (the plain export or the version). */
static void
seam_tree(const char *dir)
{
	char p[512];

	at(p, dir, "etc");
	CHECK(mkdir(p, 0755) == 0);
	at(p, dir, "etc/motd");
	write_file(p, "hello\n");
	at(p, dir, "etc/secret");
	write_file(p, "s\n");
	CHECK(chmod(p, 0600) == 0);
	at(p, dir, "tmp");
	CHECK(mkdir(p, 0755) == 0 && chmod(p, 01777) == 0);
	at(p, dir, "var");
	CHECK(mkdir(p, 0755) == 0);
	at(p, dir, "var/log");
	CHECK(mkdir(p, 0755) == 0);
	at(p, dir, "var/log/syslog");
	write_file(p, "line\n");
	CHECK(chown(p, 0, 4) == 0 && chmod(p, 0640) == 0);
}

/* Run the script against @v; the answers go to @out. */
static size_t
seam_script(struct env *v, struct answer *out)
{
	struct nfs3_fh etc, motd, tmp, var, log, f, d;
	struct nfs3_args a;
	struct nfs3_res r;
	char buf[64];
	size_t n = 0;
	int s;

#define RECORD(st, post) answer_of((st), (post), &out[n++])
	s = lookup(v, &v->root, "etc", &etc);
	RECORD(s, &(struct nfs3_post_attr){0});
	s = lookup(v, &etc, "motd", &motd);
	a = args_of(NFS3_PROC_GETATTR, &motd);
	s = env_call(v, &a, &r);
	RECORD(s, &r.obj);
	RECORD(lookup(v, &etc, "nope", &f), &(struct nfs3_post_attr){0});
	s = read_all(v, &motd, buf, sizeof(buf));
	RECORD(s, &(struct nfs3_post_attr){0});
	CHECK(strcmp(buf, "hello\n") == 0);
	RECORD(write_at(v, &motd, 6, "world\n"), &(struct nfs3_post_attr){0});
	a = args_of(NFS3_PROC_GETATTR, &motd);
	RECORD(env_call(v, &a, &r), &r.obj);
	a = args_of(NFS3_PROC_SETATTR, &motd);
	a.sattr.set_mode = true;
	a.sattr.mode = 04711;
	a.sattr.set_size = true;
	a.sattr.size = 3;
	RECORD(env_call(v, &a, &r), &r.wcc.after);
	/* As uid 1000: refused where the mode bits say so. */
	v->uid = v->gid = 1000;
	s = lookup(v, &etc, "secret", &f);
	RECORD(s, &(struct nfs3_post_attr){0});
	RECORD(read_all(v, &f, buf, sizeof(buf)), &(struct nfs3_post_attr){0});
	RECORD(write_at(v, &motd, 0, "x"), &(struct nfs3_post_attr){0});
	RECORD(create(v, &etc, "mine", NFS3_GUARDED, NULL),
	    &(struct nfs3_post_attr){0});
	s = lookup(v, &v->root, "tmp", &tmp);
	a = dirop(NFS3_PROC_CREATE, &tmp, "t");
	a.createmode = NFS3_UNCHECKED;
	a.sattr.set_mode = true;
	a.sattr.mode = 0644;
	RECORD(env_call(v, &a, &r), &r.obj);
	a = args_of(NFS3_PROC_ACCESS, &motd);
	a.access = 0x3f;
	s = env_call(v, &a, &r);
	RECORD(s, &r.obj);
	out[n - 1].size = r.access;
	v->uid = v->gid = 0;
	/* Root again: names made, moved, linked and removed. */
	a = dirop(NFS3_PROC_MKDIR, &v->root, "home");
	a.sattr.set_mode = true;
	a.sattr.mode = 0700;
	a.sattr.set_uid = a.sattr.set_gid = true;
	a.sattr.uid = a.sattr.gid = 1000;
	RECORD(env_call(v, &a, &r), &r.obj);
	d = r.fh;
	a = dirop(NFS3_PROC_SYMLINK, &d, "l");
	snprintf(a.path, sizeof(a.path), "../etc/motd");
	RECORD(env_call(v, &a, &r), &r.obj);
	a = dirop(NFS3_PROC_MKNOD, &d, "p");
	a.ftype = NF3FIFO;
	a.sattr.set_mode = true;
	a.sattr.mode = 0620;
	RECORD(env_call(v, &a, &r), &r.obj);
	a = dirop(NFS3_PROC_MKNOD, &d, "s");
	a.ftype = NF3SOCK;
	RECORD(env_call(v, &a, &r), &r.obj);
	a = dirop(NFS3_PROC_LINK, &d, "motd2");
	a.fh = motd;
	RECORD(env_call(v, &a, &r), &r.obj);
	a = dirop(NFS3_PROC_RENAME, &etc, "motd");
	a.to.dir = d;
	snprintf(a.to.name, sizeof(a.to.name), "motd3");
	RECORD(env_call(v, &a, &r), &r.wcc2.after);
	a = args_of(NFS3_PROC_GETATTR, &motd);
	RECORD(env_call(v, &a, &r), &r.obj);
	a = dirop(NFS3_PROC_REMOVE, &d, "motd2");
	RECORD(env_call(v, &a, &r), &(struct nfs3_post_attr){0});
	a = args_of(NFS3_PROC_GETATTR, &motd);
	RECORD(env_call(v, &a, &r), &r.obj);
	s = lookup(v, &v->root, "var", &var);
	a = dirop(NFS3_PROC_RMDIR, &v->root, "var");
	RECORD(env_call(v, &a, &r), &(struct nfs3_post_attr){0});
	s = lookup(v, &var, "log", &log);
	a = dirop(NFS3_PROC_REMOVE, &log, "syslog");
	RECORD(env_call(v, &a, &r), &(struct nfs3_post_attr){0});
	a = dirop(NFS3_PROC_RMDIR, &var, "log");
	RECORD(env_call(v, &a, &r), &(struct nfs3_post_attr){0});
	a = dirop(NFS3_PROC_RMDIR, &v->root, "var");
	RECORD(env_call(v, &a, &r), &(struct nfs3_post_attr){0});
	RECORD(lookup(v, &v->root, "var", &f), &(struct nfs3_post_attr){0});
	a = dirop(NFS3_PROC_REMOVE, &v->root, "etc");
	RECORD(env_call(v, &a, &r), &(struct nfs3_post_attr){0});
	a = dirop(NFS3_PROC_RENAME, &d, "motd3");
	a.to.dir = d;
	snprintf(a.to.name, sizeof(a.to.name), "l");
	RECORD(env_call(v, &a, &r), &r.wcc.after);
	a = args_of(NFS3_PROC_READDIR, &d);
	a.count = 4096;
	s = env_call(v, &a, &r);
	RECORD(s, &(struct nfs3_post_attr){0});
	out[n - 1].size = r.nentries;
	CHECK(n <= SCRIPT_MAX);
#undef RECORD
	return n;
}

TEST(nfs_fs_seam_same_answers)
{
	static struct answer plain[SCRIPT_MAX], layered[SCRIPT_MAX];
	struct env v;
	size_t np, nl, i;

	env_init(&v, NULL);
	seam_tree(v.dir);
	np = seam_script(&v, plain);
	env_fini(&v);

	env_layer_init(&v);
	seam_tree(v.ver);
	env_layer_open(&v, NULL);
	nl = seam_script(&v, layered);
	env_fini(&v);

	CHECK_EQ(np, nl);
	for (i = 0; i < np && i < nl; i++) {
		if (memcmp(&plain[i], &layered[i], sizeof(plain[i])) != 0) {
			fprintf(stderr,
			    "step %zu: plain %d %u %o %u %u:%u %llu, layered "
			    "%d %u %o %u %u:%u %llu\n",
			    i, plain[i].status, plain[i].type, plain[i].mode,
			    plain[i].nlink, plain[i].uid, plain[i].gid,
			    (unsigned long long)plain[i].size,
			    layered[i].status, layered[i].type, layered[i].mode,
			    layered[i].nlink, layered[i].uid, layered[i].gid,
			    (unsigned long long)layered[i].size);
		}
		CHECK(memcmp(&plain[i], &layered[i], sizeof(plain[i])) == 0);
	}
}
