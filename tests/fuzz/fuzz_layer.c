/*
 * The layer merge against a model.  Each input is a sequence of changes
 * on a four-name alphabet ("a".."d", paths up to three deep), applied to
 * a real stack (a client layer over a base version and a delta in
 * overlayfs' format, in a temporary directory) and to a small in-memory
 * tree, which is the oracle: every change must succeed or fail alike,
 * with the same errno, and after each one the merged tree must equal the
 * model: names, kinds, modes, bytes, symlink targets, link counts, and
 * one inode per model file.  A listing resumed from any of its cookies
 * must go on where it stopped, and handles taken on the way must resolve
 * while their file has a name and be stale after.
 *
 * Input: records of 4 bytes: op, path, path or data, data.  At most
 * FZ_OPS records are used; each run makes and removes its own client
 * layer, the versions are made once per process.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer/layer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_OPS    64
#define FZ_OBJS   256
#define FZ_DATA   40
#define FZ_HANDLE 16

enum { M_FILE = 1, M_DIR, M_LINK };

struct mobj {
	int type;
	char data[FZ_DATA]; /* file bytes, or symlink target */
	size_t len;
	int nlink;
	mode_t mode;
	bool versioned; /* directories with version content: EXDEV */
	struct mobj *child[4];
	uint64_t ino; /* the library's, once seen (0: not yet) */
};

struct model {
	struct mobj pool[FZ_OBJS];
	size_t n;
	struct mobj *root;
};

static char fz_dir[64];

/* --- the versions, made once -------------------------------------------- */

static void
put(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert(fd >= 0);
	assert(write(fd, s, strlen(s)) == (ssize_t)strlen(s));
	close(fd);
}

static int
rm_entry(const char *path, const struct stat *s, int flag, struct FTW *f)
{
	(void)s;
	(void)flag;
	(void)f;
	return remove(path);
}

static void
remove_all(void)
{
	nftw(fz_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
make_versions(void)
{
	char p[256];

	snprintf(fz_dir, sizeof(fz_dir), "/tmp/pnb-fuzz-layer-XXXXXX");
	assert(mkdtemp(fz_dir));
	atexit(remove_all);
#define P(fmt) (snprintf(p, sizeof(p), "%s/" fmt, fz_dir), p)
	assert(mkdir(P("v0"), 0755) == 0);
	assert(mkdir(P("v0/a"), 0755) == 0);
	put(P("v0/a/a"), "AA");
	assert(mkdir(P("v0/a/b"), 0755) == 0);
	put(P("v0/a/b/c"), "ABC");
	assert(symlink("x", P("v0/a/c")) == 0);
	put(P("v0/c"), "CD");
	{
		char q[256];

		snprintf(q, sizeof(q), "%s/v0/c", fz_dir);
		assert(link(q, P("v0/a/d")) == 0);
	}
	put(P("v0/b"), "B");
	assert(mkdir(P("v0/d"), 0755) == 0);
	/* The delta: b whited out, a/b opaque, d/a added. */
	assert(mkdir(P("v1"), 0755) == 0);
	assert(mknod(P("v1/b"), S_IFCHR, makedev(0, 0)) == 0);
	assert(mkdir(P("v1/a"), 0755) == 0);
	assert(mkdir(P("v1/a/b"), 0755) == 0);
	assert(setxattr(p, "user.overlay.opaque", "y", 1, 0) == 0);
	put(P("v1/a/b/d"), "ABD");
	assert(mkdir(P("v1/d"), 0755) == 0);
	put(P("v1/d/a"), "DA");
#undef P
}

static struct mobj *
mnew(struct model *m, int type)
{
	struct mobj *o;

	assert(m->n < FZ_OBJS);
	o = &m->pool[m->n++];
	memset(o, 0, sizeof(*o));
	o->type = type;
	o->nlink = 1;
	o->mode = type == M_DIR ? 0755 : type == M_LINK ? 0777 : 0644;
	return o;
}

static struct mobj *
mfile(struct model *m, const char *s)
{
	struct mobj *o = mnew(m, M_FILE);

	o->len = strlen(s);
	memcpy(o->data, s, o->len);
	return o;
}

/* The model of the merged versions (make_versions()). */
static void
model_init(struct model *m)
{
	struct mobj *a, *ab, *d, *cd;

	m->n = 0;
	m->root = mnew(m, M_DIR);
	m->root->versioned = true;
	a = m->root->child[0] = mnew(m, M_DIR);
	a->versioned = true;
	a->child[0] = mfile(m, "AA");
	ab = a->child[1] = mnew(m, M_DIR);
	ab->versioned = true;
	ab->child[3] = mfile(m, "ABD");
	a->child[2] = mnew(m, M_LINK);
	a->child[2]->len = 1;
	a->child[2]->data[0] = 'x';
	cd = mfile(m, "CD");
	cd->nlink = 2;
	a->child[3] = cd;
	m->root->child[2] = cd;
	d = m->root->child[3] = mnew(m, M_DIR);
	d->versioned = true;
	d->child[0] = mfile(m, "DA");
}

/* --- paths ---------------------------------------------------------------- */

struct fpath {
	int depth;
	int name[3];
	char s[8];
};

static void
path_of(uint8_t b, struct fpath *p)
{
	int i, at = 0;

	p->depth = 1 + (b >> 6) % 3;
	for (i = 0; i < p->depth; i++) {
		p->name[i] = (b >> (2 * i)) & 3;
		if (i) {
			p->s[at++] = '/';
		}
		p->s[at++] = (char)('a' + p->name[i]);
	}
	p->s[at] = 0;
}

/* The model's parent directory of @p, or NULL when there is none. */
static struct mobj *
mparent(struct model *m, const struct fpath *p)
{
	struct mobj *d = m->root;
	int i;

	for (i = 0; i < p->depth - 1; i++) {
		d = d->child[p->name[i]];
		if (!d || d->type != M_DIR) {
			return NULL;
		}
	}
	return d;
}

static bool
is_ancestor(struct mobj *a, struct mobj *d)
{
	int i;

	if (a == d) {
		return true;
	}
	for (i = 0; a->type == M_DIR && i < 4; i++) {
		if (a->child[i] && a->child[i]->type == M_DIR &&
		    is_ancestor(a->child[i], d)) {
			return true;
		}
	}
	return false;
}

static bool
mempty(const struct mobj *d)
{
	return !d->child[0] && !d->child[1] && !d->child[2] && !d->child[3];
}

/* --- one run -------------------------------------------------------------- */

struct run {
	struct model m;
	struct layer_stack *st;
	struct layer_fh fh[FZ_HANDLE];
	struct mobj *fho[FZ_HANDLE];
	size_t nfh;
};

static struct layer_node *
lnode(struct run *r, const char *path)
{
	struct layer_node *n = NULL;

	return layer_lookup_path(r->st, path, &n) == 0 ? n : NULL;
}

/* The library's parent of @p; NULL exactly when the model has none. */
static struct layer_node *
lparent(struct run *r, const struct fpath *p)
{
	char dir[8];
	struct layer_node *n;

	snprintf(dir, sizeof(dir), "%.*s", p->depth > 1 ? 2 * p->depth - 3 : 0,
	    p->s);
	n = lnode(r, dir);
	if (n && n->type != S_IFDIR) {
		layer_node_free(n);
		n = NULL;
	}
	assert((n != NULL) == (mparent(&r->m, p) != NULL));
	return n;
}

static const char *
last(const struct fpath *p)
{
	return p->s + 2 * (p->depth - 1);
}

static int
op_create(struct run *r, const struct fpath *p, int type, uint8_t mode)
{
	struct mobj *d = mparent(&r->m, p), *o;
	struct layer_node *ld = lparent(r, p), *made = NULL;
	struct layer_new nw = {
	    .type = type == M_DIR ? S_IFDIR
		: type == M_LINK  ? S_IFLNK
				  : S_IFREG,
	    .mode = type == M_LINK ? 0777 : (mode_t)(0600 | (mode & 077)),
	    .target = "tgt",
	};
	int lr, mr = 0;

	if (!ld) {
		return 0;
	}
	lr = layer_create(r->st, NULL, ld, last(p), &nw, &made);
	layer_node_free(ld);
	if (d->child[p->name[p->depth - 1]]) {
		mr = -EEXIST;
	} else {
		o = mnew(&r->m, type);
		o->mode = nw.mode;
		if (type == M_LINK) {
			o->len = 3;
			memcpy(o->data, "tgt", 3);
		}
		d->child[p->name[p->depth - 1]] = o;
		/* Directory handles too: by path, so renames must keep them. */
		if (made && r->nfh < FZ_HANDLE &&
		    layer_node_fh(r->st, made, &r->fh[r->nfh]) == 0) {
			r->fho[r->nfh++] = o;
		}
	}
	layer_node_free(made);
	return lr == mr ? 0 : -1;
}

static int
op_remove(struct run *r, const struct fpath *p, bool dir)
{
	struct mobj *d = mparent(&r->m, p), *o;
	struct layer_node *ld = lparent(r, p);
	int lr, mr = 0;

	if (!ld) {
		return 0;
	}
	lr = dir ? layer_rmdir(r->st, NULL, ld, last(p))
		 : layer_unlink(r->st, NULL, ld, last(p));
	layer_node_free(ld);
	o = d->child[p->name[p->depth - 1]];
	if (!o) {
		mr = -ENOENT;
	} else if (dir && o->type != M_DIR) {
		mr = -ENOTDIR;
	} else if (!dir && o->type == M_DIR) {
		mr = -EISDIR;
	} else if (dir && !mempty(o)) {
		mr = -ENOTEMPTY;
	} else {
		o->nlink--;
		d->child[p->name[p->depth - 1]] = NULL;
	}
	return lr == mr ? 0 : -1;
}

static int
op_write(struct run *r, const struct fpath *p, uint8_t len, uint8_t c)
{
	struct mobj *d = mparent(&r->m, p), *o;
	struct layer_node *n = lnode(r, p->s);
	char buf[FZ_DATA];
	int fd, lr = 0, mr = 0;

	len %= FZ_DATA;
	memset(buf, 'A' + c % 26, len);
	if (n) {
		fd = layer_open_data(r->st, NULL, n, O_WRONLY);
		if (fd >= 0) {
			lr = ftruncate(fd, 0) == 0 &&
				pwrite(fd, buf, len, 0) == (ssize_t)len
			    ? 0
			    : -EIO;
			close(fd);
		} else {
			lr = fd;
		}
		/* Take a handle now and then, to check later. */
		if (r->nfh < FZ_HANDLE && n->type == S_IFREG &&
		    layer_node_fh(r->st, n, &r->fh[r->nfh]) == 0) {
			r->fho[r->nfh++] = d->child[p->name[p->depth - 1]];
		}
		layer_node_free(n);
	} else {
		lr = -ENOENT;
	}
	o = d ? d->child[p->name[p->depth - 1]] : NULL;
	if (!o) {
		mr = -ENOENT;
	} else if (o->type == M_DIR) {
		mr = -EISDIR;
	} else if (o->type == M_LINK) {
		mr = -EINVAL;
	} else {
		memcpy(o->data, buf, len);
		o->len = len;
	}
	return lr == mr ? 0 : -1;
}

static int
op_chmod(struct run *r, const struct fpath *p, uint8_t mode)
{
	struct mobj *d = mparent(&r->m, p), *o;
	struct layer_node *n = lnode(r, p->s);
	struct layer_sattr sa = {.set_mode = true,
	    .mode = 0400 | (mode_t)(mode & 0377),
	    .atime = {0, UTIME_OMIT},
	    .mtime = {0, UTIME_OMIT}};
	int lr = -ENOENT;

	o = d ? d->child[p->name[p->depth - 1]] : NULL;
	if (n) {
		lr = layer_setattr(r->st, NULL, n, &sa);
		layer_node_free(n);
	}
	if (o && o->type != M_LINK) {
		o->mode = sa.mode;
	}
	return lr == (o ? 0 : -ENOENT) ? 0 : -1;
}

static int
op_link(struct run *r, const struct fpath *a, const struct fpath *b)
{
	struct mobj *da = mparent(&r->m, a), *db = mparent(&r->m, b), *o;
	struct layer_node *n = lnode(r, a->s), *ld = lparent(r, b);
	int lr = -ENOENT, mr = 0;

	if (!ld) {
		layer_node_free(n);
		return 0;
	}
	if (n) {
		lr = layer_link(r->st, NULL, n, ld, last(b));
	}
	layer_node_free(n);
	layer_node_free(ld);
	o = da ? da->child[a->name[a->depth - 1]] : NULL;
	if (!o) {
		mr = -ENOENT;
	} else if (o->type == M_DIR) {
		mr = -EPERM;
	} else if (db->child[b->name[b->depth - 1]]) {
		mr = -EEXIST;
	} else {
		db->child[b->name[b->depth - 1]] = o;
		o->nlink++;
	}
	return lr == mr ? 0 : -1;
}

static int
op_rename(struct run *r, const struct fpath *a, const struct fpath *b)
{
	struct mobj *da = mparent(&r->m, a), *db = mparent(&r->m, b), *s, *t;
	struct layer_node *la = lparent(r, a), *lb = lparent(r, b);
	int lr = 0, mr = 0;

	if (!la || !lb) {
		layer_node_free(la);
		layer_node_free(lb);
		return 0;
	}
	lr = layer_rename(r->st, NULL, la, last(a), lb, last(b));
	layer_node_free(la);
	layer_node_free(lb);
	s = da->child[a->name[a->depth - 1]];
	t = db->child[b->name[b->depth - 1]];
	/* The kernel's order of checks (do_renameat2, vfs_rename, ovl). */
	if (!s) {
		mr = -ENOENT;
	} else if (s == t) {
		mr = 0;
	} else if (s->type == M_DIR && is_ancestor(s, db)) {
		mr = -EINVAL;
	} else if (t && t->type == M_DIR && is_ancestor(t, da)) {
		mr = -ENOTEMPTY;
	} else if (t && s->type == M_DIR && t->type != M_DIR) {
		mr = -ENOTDIR;
	} else if (t && s->type != M_DIR && t->type == M_DIR) {
		mr = -EISDIR;
	} else if (s->type == M_DIR && s->versioned) {
		mr = -EXDEV;
	} else if (t && t->type == M_DIR && !mempty(t)) {
		mr = -ENOTEMPTY;
	} else {
		if (t) {
			t->nlink--;
		}
		db->child[b->name[b->depth - 1]] = s;
		da->child[a->name[a->depth - 1]] = NULL;
	}
	return lr == mr ? 0 : -1;
}

/* --- the comparison ------------------------------------------------------- */

struct seen {
	char names[64][4];
	uint64_t cookie[64];
	size_t n;
};

static int
seen_cb(void *arg, const struct layer_dirent *e)
{
	struct seen *s = arg;

	assert(s->n < 64);
	snprintf(s->names[s->n], sizeof(s->names[0]), "%.3s", e->name);
	s->cookie[s->n++] = e->cookie;
	return 0;
}

static int check_tree(struct run *r, struct mobj *d, const char *path);

static int
check_obj(struct run *r, struct mobj *o, const char *path)
{
	struct layer_node *n = lnode(r, path);
	struct stat s;
	char buf[FZ_DATA + 1];
	ssize_t len = 0;
	int fd, bad = 0;

	if (!n || layer_getattr(r->st, n, &s) < 0) {
		layer_node_free(n);
		return -1;
	}
	if (o->ino == 0) {
		o->ino = s.st_ino;
	}
	bad |= o->ino != s.st_ino;
	bad |= (s.st_mode & 07777) != o->mode && o->type != M_LINK;
	if (o->type == M_DIR) {
		bad |= !S_ISDIR(s.st_mode);
	} else if (o->type == M_LINK) {
		bad |= !S_ISLNK(s.st_mode);
		len = layer_readlink(r->st, n, buf, sizeof(buf));
		bad |= len != (ssize_t)o->len || memcmp(buf, o->data, o->len);
	} else {
		bad |= !S_ISREG(s.st_mode) || s.st_nlink != (nlink_t)o->nlink;
		fd = layer_open_data(r->st, NULL, n, O_RDONLY);
		len = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
		if (fd >= 0) {
			close(fd);
		}
		bad |= len != (ssize_t)o->len || memcmp(buf, o->data, o->len);
	}
	layer_node_free(n);
	if (bad) {
		fprintf(
		    stderr, "fuzz_layer: /%s differs from the model\n", path);
		return -1;
	}
	return o->type == M_DIR ? check_tree(r, o, path) : 0;
}

static int
check_tree(struct run *r, struct mobj *d, const char *path)
{
	struct layer_node *n = lnode(r, path);
	struct seen all = {0}, rest = {0};
	char child[8];
	size_t i, want = 2;
	int k;

	if (!n || layer_readdir(r->st, NULL, n, 0, seen_cb, &all) != 1) {
		layer_node_free(n);
		return -1;
	}
	for (k = 0; k < 4; k++) {
		want += d->child[k] != NULL;
	}
	if (all.n != want) {
		fprintf(stderr, "fuzz_layer: /%s lists %zu, model %zu\n", path,
		    all.n, want);
		layer_node_free(n);
		return -1;
	}
	/* Resume from one cookie: the rest of the same listing. */
	if (all.n > 2) {
		i = (all.n * 7 + 3) % all.n;
		if (layer_readdir(
			r->st, NULL, n, all.cookie[i], seen_cb, &rest) != 1 ||
		    rest.n != all.n - i - 1 ||
		    memcmp(rest.names, all.names[i + 1],
			rest.n * sizeof(all.names[0])) != 0) {
			layer_node_free(n);
			return -1;
		}
	}
	layer_node_free(n);
	for (i = 2; i < all.n; i++) {
		k = all.names[i][0] - 'a';
		if (strlen(all.names[i]) != 1 || k < 0 || k > 3 ||
		    !d->child[k]) {
			return -1;
		}
		snprintf(child, sizeof(child), "%s%s%c", path, *path ? "/" : "",
		    all.names[i][0]);
		if (check_obj(r, d->child[k], child) < 0) {
			return -1;
		}
	}
	return 0;
}

/* Distinct model files must have distinct inodes, one each. */
static int
check_identity(struct run *r)
{
	size_t i, j;

	for (i = 0; i < r->m.n; i++) {
		for (j = i + 1; j < r->m.n; j++) {
			if (r->m.pool[i].ino && r->m.pool[i].nlink > 0 &&
			    r->m.pool[j].nlink > 0 &&
			    r->m.pool[i].ino == r->m.pool[j].ino) {
				return -1;
			}
		}
	}
	return 0;
}

static int
check_handles(struct run *r)
{
	struct layer_node *n;
	size_t i;
	int lr;

	for (i = 0; i < r->nfh; i++) {
		lr = layer_fh_open(r->st, &r->fh[i], &n);
		if (lr == 0) {
			if (r->fho[i]->ino && n->ino != r->fho[i]->ino) {
				lr = -EIO;
			}
			layer_node_free(n);
		}
		if ((lr == 0) != (r->fho[i]->nlink > 0)) {
			fprintf(stderr,
			    "fuzz_layer: handle %zu: %d, nlink %d\n", i, lr,
			    r->fho[i]->nlink);
			return -1;
		}
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run r;
	struct layer_stack_conf c = {
	    .atfd = AT_FDCWD, .nversions = 2, .nosync = true};
	struct fpath a, b;
	char client[96], index[96], v0[96], v1[96];
	size_t i;
	int bad = 0;

	if (!fz_dir[0]) {
		make_versions();
	}
	snprintf(client, sizeof(client), "%s/client", fz_dir);
	snprintf(index, sizeof(index), "%s/index", fz_dir);
	snprintf(v0, sizeof(v0), "%s/v0", fz_dir);
	snprintf(v1, sizeof(v1), "%s/v1", fz_dir);
	nftw(client, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	nftw(index, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	assert(mkdir(client, 0755) == 0 && mkdir(index, 0700) == 0);
	c.client = client;
	c.index = index;
	c.versions[0] = v1;
	c.versions[1] = v0;
	memset(&r, 0, sizeof(r));
	model_init(&r.m);
	assert(layer_stack_open(&c, &r.st, NULL) == 0);
	for (i = 0; i + 4 <= size && i < 4 * FZ_OPS && !bad; i += 4) {
		path_of(data[i + 1], &a);
		path_of(data[i + 2], &b);
		switch (data[i] % 9) {
		case 0:
			bad = op_create(&r, &a, M_FILE, data[i + 3]);
			break;
		case 1:
			bad = op_create(&r, &a, M_DIR, data[i + 3]);
			break;
		case 2:
			bad = op_create(&r, &a, M_LINK, 0);
			break;
		case 3:
			bad = op_remove(&r, &a, false);
			break;
		case 4:
			bad = op_remove(&r, &a, true);
			break;
		case 5:
			bad = op_write(&r, &a, data[i + 2], data[i + 3]);
			break;
		case 6:
			bad = op_rename(&r, &a, &b);
			break;
		case 7:
			bad = op_link(&r, &a, &b);
			break;
		default:
			bad = op_chmod(&r, &a, data[i + 3]);
			break;
		}
		if (bad) {
			fprintf(stderr,
			    "fuzz_layer: op %zu (%u %s %s) differs\n", i / 4,
			    data[i] % 9, a.s, b.s);
		}
		bad = bad || check_obj(&r, r.m.root, "") < 0 ||
		    check_identity(&r) < 0;
	}
	bad = bad || check_handles(&r) < 0;
	layer_stack_close(r.st);
	/* The model is the oracle: any difference is a bug of the library. */
	assert(!bad);
	return 0;
}
