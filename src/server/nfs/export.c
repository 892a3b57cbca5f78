#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cfg.h"
#include "server/lstack.h"
#include "server/nfs/export.h"
#include "server/nfs/fs.h"

/*
 * Handle layout (at most NFS3_FH_MAX = 64 bytes):
 *   0      version (1)
 *   1      length of the kernel handle, n
 *   2      kind: 0 plain, else the layer kind (client or version)
 *   3      zero
 *   4..7   export id
 *   8..11  kernel handle type
 *   plain (kind 0):
 *   12..   n <= NFS_FH_KMAX bytes of kernel handle
 *   layered:
 *   12..19 the stack's verifier
 *   20..   n <= NFS_FH_KMAX_LAYER bytes of kernel handle
 *   then   8 bytes of SipHash-2-4 over everything before it
 *
 * The tag seals the kind and the verifier with the rest: a layered
 * handle names an inode, and a version inode is the same in every stack
 * over that version, so only the verifier says for which stack (which
 * client layer, which version) it was made.  A handle of another stack
 * generation (the client was moved or reset) is stale, not forged.
 */
#define NFS_FH_VERSION 1
#define NFS_FH_HDR     12
#define NFS_FH_TAG     8
_Static_assert(NFS_FH_KMAX == NFS3_FH_MAX - NFS_FH_HDR - NFS_FH_TAG,
    "a kernel handle fills what header and tag leave");
_Static_assert(NFS_FH_KMAX_LAYER == NFS_FH_KMAX - NFS_FH_VERF,
    "a layered handle gives the verifier room");

static uint64_t
rotl(uint64_t x, int b)
{
	return x << b | x >> (64 - b);
}

static uint64_t
le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--) {
		v = v << 8 | p[i];
	}
	return v;
}

#define SIPROUND                                                               \
	do {                                                                   \
		v0 += v1;                                                      \
		v1 = rotl(v1, 13);                                             \
		v1 ^= v0;                                                      \
		v0 = rotl(v0, 32);                                             \
		v2 += v3;                                                      \
		v3 = rotl(v3, 16);                                             \
		v3 ^= v2;                                                      \
		v0 += v3;                                                      \
		v3 = rotl(v3, 21);                                             \
		v3 ^= v0;                                                      \
		v2 += v1;                                                      \
		v1 = rotl(v1, 17);                                             \
		v1 ^= v2;                                                      \
		v2 = rotl(v2, 32);                                             \
	} while (0)

uint64_t
nfs_siphash(const uint8_t *key, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t k0 = le64(key), k1 = le64(key + 8);
	uint64_t v0 = k0 ^ 0x736f6d6570736575ull;
	uint64_t v1 = k1 ^ 0x646f72616e646f6dull;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ull;
	uint64_t v3 = k1 ^ 0x7465646279746573ull;
	uint64_t m, b = (uint64_t)len << 56;
	size_t i, left = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		m = le64(p + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (; left > 0; left--) {
		b |= (uint64_t)p[i + left - 1] << (8 * (left - 1));
	}
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* FNV-1a: a stable export id from the path, so handles outlive restarts. */
static uint32_t
nfs_path_id(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s) {
		h ^= (uint8_t)*s++;
		h *= 16777619u;
	}
	return h ? h : 1;
}

int
nfs_exports_init(struct nfs_exports *ex, const uint8_t *key)
{
	memset(ex, 0, sizeof(*ex));
	memcpy(ex->key, key, NFS_KEY_SIZE);
	if (getrandom(ex->write_verf, sizeof(ex->write_verf), 0) !=
	    sizeof(ex->write_verf)) {
		return -errno;
	}
	/* Cookie verifier: stable for the life of the export table. */
	memcpy(ex->dir_verf, ex->write_verf, sizeof(ex->dir_verf));
	ex->dir_verf[0] |= 1;
	ex->cur = calloc(1, sizeof(*ex->cur));
	if (!ex->cur) {
		return -ENOMEM;
	}
	atomic_init(&ex->cur->refs, 1);
	pthread_mutex_init(&ex->mu, NULL);
	pthread_mutex_init(&ex->wmu, NULL);
	return 0;
}

/* Drop one table's hold on @e; the last closes it. */
static void
nfs_export_unref(struct nfs_export *e)
{
	if (!e || atomic_fetch_sub(&e->refs, 1) > 1) {
		return;
	}
	if (e->root_fd >= 0) {
		close(e->root_fd);
	}
	lstack_unref(e->stack);
	free(e);
}

void
nfs_exports_put(const struct nfs_export_table *ct)
{
	/* The last holder frees it; nobody else can still see it. */
	struct nfs_export_table *t = (struct nfs_export_table *)ct;
	size_t i;

	if (!t || atomic_fetch_sub(&t->refs, 1) > 1) {
		return;
	}
	for (i = 0; i < t->n; i++) {
		nfs_export_unref(t->e[i]);
	}
	free(t);
}

const struct nfs_export_table *
nfs_exports_get(struct nfs_exports *ex)
{
	struct nfs_export_table *t;

	pthread_mutex_lock(&ex->mu);
	t = ex->cur;
	atomic_fetch_add(&t->refs, 1);
	pthread_mutex_unlock(&ex->mu);
	return t;
}

size_t
nfs_exports_count(struct nfs_exports *ex)
{
	const struct nfs_export_table *t = nfs_exports_get(ex);
	size_t n = t->n;

	nfs_exports_put(t);
	return n;
}

/*
 * A copy of the current table to change and publish; caller holds wmu,
 * so the current table cannot change meanwhile.  Return: NULL on ENOMEM.
 */
static struct nfs_export_table *
nfs_exports_copy(struct nfs_exports *ex)
{
	struct nfs_export_table *t = malloc(sizeof(*t));
	size_t i;

	if (!t) {
		return NULL;
	}
	t->n = ex->cur->n;
	atomic_init(&t->refs, 1);
	for (i = 0; i < t->n; i++) {
		t->e[i] = ex->cur->e[i];
		atomic_fetch_add(&t->e[i]->refs, 1);
	}
	return t;
}

/* Make @t the current table; caller holds wmu. */
static void
nfs_exports_publish(struct nfs_exports *ex, struct nfs_export_table *t)
{
	struct nfs_export_table *old;

	pthread_mutex_lock(&ex->mu);
	old = ex->cur;
	ex->cur = t;
	pthread_mutex_unlock(&ex->mu);
	nfs_exports_put(old);
}

void
nfs_exports_fini(struct nfs_exports *ex)
{
	if (!ex->cur) {
		return;
	}
	nfs_exports_put(ex->cur);
	ex->cur = NULL;
	pthread_mutex_destroy(&ex->mu);
	pthread_mutex_destroy(&ex->wmu);
}

int
nfs_key_load(const char *path, uint8_t *key)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd >= 0) {
		n = read(fd, key, NFS_KEY_SIZE);
		close(fd);
		if (n == NFS_KEY_SIZE) {
			return 0;
		}
		return n < 0 ? -errno : -EBADMSG;
	}
	if (errno != ENOENT) {
		return -errno;
	}
	if (getrandom(key, NFS_KEY_SIZE, 0) != NFS_KEY_SIZE) {
		return -errno;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		return -errno;
	}
	n = write(fd, key, NFS_KEY_SIZE);
	if (n != NFS_KEY_SIZE || fsync(fd) < 0) {
		int r = n < 0 ? -errno : -EIO;

		close(fd);
		unlink(path);
		return r;
	}
	close(fd);
	return 0;
}

int
nfs_cidr_parse(const char *s, struct nfs_cidr *out)
{
	char a[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long bits = 32;
	char *end;

	if (n == 0 || n >= sizeof(a)) {
		return -EINVAL;
	}
	memcpy(a, s, n);
	a[n] = 0;
	if (inet_pton(AF_INET, a, &out->net) != 1) {
		return -EINVAL;
	}
	if (slash) {
		errno = 0;
		bits = strtoul(slash + 1, &end, 10);
		if (errno || *end || end == slash + 1 || bits > 32) {
			return -EINVAL;
		}
	}
	out->mask.s_addr = bits ? htonl(~0u << (32 - bits)) : 0;
	out->net.s_addr &= out->mask.s_addr;
	return 0;
}

static void
nfs_cidr_format(const struct nfs_cidr *c, char *dst, size_t cap)
{
	char a[INET_ADDRSTRLEN];
	uint32_t m = ntohl(c->mask.s_addr);
	int bits = 0;

	while (m & 0x80000000u) {
		bits++;
		m <<= 1;
	}
	inet_ntop(AF_INET, &c->net, a, sizeof(a));
	snprintf(dst, cap, "%s/%d", a, bits);
}

bool
nfs_cidr_contains(const struct nfs_cidr *c, struct in_addr a)
{
	return (a.s_addr & c->mask.s_addr) == c->net.s_addr;
}

bool
nfs_export_allows(const struct nfs_export *e, struct in_addr peer)
{
	size_t i;

	for (i = 0; i < e->nallow; i++) {
		if (nfs_cidr_contains(&e->allow[i], peer)) {
			return true;
		}
	}
	return false;
}

bool
nfs_export_port_ok(const struct nfs_export *e, uint16_t port)
{
	return e->insecure || port < 1024;
}

/* The layers of a layered export, as its options name them. */
struct nfs_layer_opts {
	const char *upper, *work; /* borrowed from the option string */
	const char *lower[LAYER_VERSIONS_MAX];
	size_t nlower;
};

/* One "upper=", "work=" or "lower=" option; 1 when @tok is none. */
static int
nfs_layer_opt(struct nfs_export *e, struct nfs_layer_opts *lo, const char *tok,
    char *msg, size_t msglen)
{
	const char *v = strchr(tok, '=');

	if (!v ||
	    (strncmp(tok, "upper=", 6) != 0 && strncmp(tok, "work=", 5) != 0 &&
		strncmp(tok, "lower=", 6) != 0)) {
		return 1;
	}
	v++;
	if (v[0] != '/') {
		snprintf(msg, msglen,
		    "export %s: %.64s: a layer is an absolute directory",
		    e->path, tok);
		return -EINVAL;
	}
	if (tok[0] == 'u') {
		lo->upper = v;
	} else if (tok[0] == 'w') {
		lo->work = v;
	} else if (lo->nlower == LAYER_VERSIONS_MAX) {
		snprintf(msg, msglen, "export %s: at most %d lower= layers",
		    e->path, LAYER_VERSIONS_MAX);
		return -EINVAL;
	} else {
		lo->lower[lo->nlower++] = v;
	}
	return 0;
}

/*
 * Open the stack of a layered export: the upper (client) layer and its
 * work directory (the index), over the lower layers, top first.
 */
static int
nfs_layer_open(struct nfs_export *e, const struct nfs_layer_opts *lo, char *msg,
    size_t msglen)
{
	struct layer_stack_conf c = {
	    .atfd = AT_FDCWD,
	    .client = lo->upper,
	    .index = lo->work,
	    .nversions = lo->nlower,
	};
	size_t i;
	int r;

	if (lo->nlower == 0 || !lo->upper != !lo->work) {
		snprintf(msg, msglen,
		    "export %s: a layered export needs lower=DIR (repeatable, "
		    "top first), and upper=DIR with work=DIR to be writable",
		    e->path);
		return -EINVAL;
	}
	for (i = 0; i < lo->nlower; i++) {
		c.versions[i] = lo->lower[i];
	}
	r = lstack_open(&c, &e->stack);
	if (r < 0) {
		snprintf(msg, msglen, "export %s: its layers: %s%s", e->path,
		    strerror(-r),
		    r == -EXDEV ? " (all layers must be on one file system)"
				: "");
		return r;
	}
	e->fs = &nfs_fs_layer;
	e->ro = e->ro || !lo->upper;
	return 0;
}

static int
nfs_export_opts(
    struct nfs_export *e, const char *opts, char *msg, size_t msglen)
{
	struct nfs_layer_opts lo = {0};
	char tmp[CFG_EXPORT_OPTS_MAX];
	char *save = NULL, *tok;
	int r;

	if (strlen(opts) >= sizeof(tmp)) {
		snprintf(msg, msglen, "export options too long");
		return -EINVAL;
	}
	strcpy(tmp, opts);
	for (tok = strtok_r(tmp, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "rw") == 0) {
			e->ro = false;
		} else if (strcmp(tok, "ro") == 0) {
			e->ro = true;
		} else if (strcmp(tok, "root_squash") == 0) {
			e->root_squash = true;
		} else if (strcmp(tok, "no_root_squash") == 0) {
			e->root_squash = false;
		} else if (strcmp(tok, "insecure") == 0) {
			e->insecure = true;
		} else if (strcmp(tok, "secure") == 0) {
			e->insecure = false;
		} else if (strncmp(tok, "allow=", 6) == 0) {
			if (e->nallow == NFS_ALLOW_MAX) {
				snprintf(msg, msglen,
				    "export %s: at most %d allow= entries",
				    e->path, NFS_ALLOW_MAX);
				return -EINVAL;
			}
			if (nfs_cidr_parse(tok + 6, &e->allow[e->nallow]) < 0) {
				snprintf(msg, msglen,
				    "export %s: allow=%.64s is not an IPv4 "
				    "address or CIDR (e.g. 198.18.0.0/24)",
				    e->path, tok + 6);
				return -EINVAL;
			}
			e->nallow++;
		} else {
			r = nfs_layer_opt(e, &lo, tok, msg, msglen);
			if (r < 0) {
				return r;
			}
			if (r == 1) {
				snprintf(msg, msglen,
				    "export %s: unknown option '%.64s' (use "
				    "rw, ro, allow=CIDR, root_squash, "
				    "insecure, "
				    "lower=DIR, upper=DIR, work=DIR)",
				    e->path, tok);
				return -EINVAL;
			}
		}
	}
	if (lo.nlower || lo.upper || lo.work) {
		return nfs_layer_open(e, &lo, msg, msglen);
	}
	return 0;
}

static int64_t
nfs_exports_insert(
    struct nfs_exports *ex, struct nfs_export *e, char *msg, size_t msglen)
{
	struct nfs_export_table *t = NULL;
	struct stat st;
	size_t i;
	int r;

	e->id = nfs_path_id(e->path);
	e->fsid = e->id;
	/* A layered export's path is a name; its stack is open already. */
	if (!e->stack) {
		e->root_fd = open(e->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (e->root_fd < 0) {
			r = -errno;
			snprintf(msg, msglen, "export %s: %s", e->path,
			    strerror(-r));
			nfs_export_unref(e);
			return r;
		}
		if (fstat(e->root_fd, &st) < 0) {
			r = -errno;
			nfs_export_unref(e);
			return r;
		}
		e->dev = st.st_dev;
		e->ino = st.st_ino;
	}
	for (i = 0; i < e->nallow; i++) {
		nfs_cidr_format(
		    &e->allow[i], e->groups[i], sizeof(e->groups[i]));
	}
	pthread_mutex_lock(&ex->wmu);
	if (nfs_export_find(ex->cur, e->id, NULL)) {
		snprintf(msg, msglen, "export %s: exported twice", e->path);
		r = -EEXIST;
	} else if (ex->cur->n == NFS_EXPORT_MAX) {
		snprintf(msg, msglen, "more than %d exports", NFS_EXPORT_MAX);
		r = -ENOSPC;
	} else {
		t = nfs_exports_copy(ex);
		r = t ? 0 : -ENOMEM;
	}
	if (r < 0) {
		pthread_mutex_unlock(&ex->wmu);
		nfs_export_unref(e);
		return r;
	}
	t->e[t->n++] = e;
	nfs_exports_publish(ex, t);
	pthread_mutex_unlock(&ex->wmu);
	return e->id;
}

static struct nfs_export *
nfs_export_new(const char *path, char *msg, size_t msglen)
{
	struct nfs_export *e;
	size_t n = strlen(path);

	if (path[0] != '/' || n >= sizeof(e->path)) {
		snprintf(msg, msglen, "export '%.128s' is not an absolute path",
		    path);
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(msg, msglen, "out of memory");
		return NULL;
	}
	e->fs = &nfs_fs_plain;
	e->root_fd = -1;
	atomic_init(&e->refs, 1);
	memcpy(e->path, path, n + 1);
	/* "/srv/root/" and "/srv/root" name the same export. */
	while (n > 1 && e->path[n - 1] == '/') {
		e->path[--n] = 0;
	}
	return e;
}

int64_t
nfs_exports_add(struct nfs_exports *ex, const char *path, const char *opts,
    const struct nfs_cidr *def, char *msg, size_t msglen)
{
	struct nfs_export *e = nfs_export_new(path, msg, msglen);
	int r;

	if (!e) {
		return -EINVAL;
	}
	r = nfs_export_opts(e, opts ? opts : "", msg, msglen);
	if (r < 0) {
		nfs_export_unref(e);
		return r;
	}
	if (e->nallow == 0 && def) {
		e->allow[0] = *def;
		e->nallow = 1;
	}
	return nfs_exports_insert(ex, e, msg, msglen);
}

int64_t
nfs_exports_add_client(
    struct nfs_exports *ex, const char *path, struct in_addr client)
{
	char msg[256];
	struct nfs_export *e = nfs_export_new(path, msg, sizeof(msg));

	if (!e) {
		return -EINVAL;
	}
	e->per_client = true;
	e->allow[0].net = client;
	e->allow[0].mask.s_addr = 0xffffffffu;
	e->nallow = 1;
	return nfs_exports_insert(ex, e, msg, sizeof(msg));
}

int64_t
nfs_exports_add_layered(struct nfs_exports *ex, const char *name,
    struct lstack *stack, struct in_addr client)
{
	char msg[256];
	struct nfs_export *e = nfs_export_new(name, msg, sizeof(msg));

	if (!e) {
		return -EINVAL;
	}
	e->fs = &nfs_fs_layer;
	e->stack = lstack_ref(stack);
	e->per_client = true;
	e->allow[0].net = client;
	e->allow[0].mask.s_addr = 0xffffffffu;
	e->nallow = 1;
	return nfs_exports_insert(ex, e, msg, sizeof(msg));
}

int
nfs_exports_del(struct nfs_exports *ex, uint32_t id)
{
	struct nfs_export_table *t;
	size_t i;

	pthread_mutex_lock(&ex->wmu);
	if (!nfs_export_find(ex->cur, id, NULL)) {
		pthread_mutex_unlock(&ex->wmu);
		return -ENOENT;
	}
	t = nfs_exports_copy(ex);
	if (!t) {
		pthread_mutex_unlock(&ex->wmu);
		return -ENOMEM;
	}
	for (i = 0; t->e[i]->id != id; i++) {
	}
	nfs_export_unref(t->e[i]);
	t->e[i] = t->e[--t->n];
	nfs_exports_publish(ex, t);
	pthread_mutex_unlock(&ex->wmu);
	return 0;
}

struct nfs_export *
nfs_export_find(const struct nfs_export_table *t, uint32_t id, const char *path)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		if (path ? strcmp(t->e[i]->path, path) == 0
			 : t->e[i]->id == id) {
			return t->e[i];
		}
	}
	return NULL;
}

struct nfs_export *
nfs_export_find_for_mount(
    const struct nfs_export_table *t, const char *dir, const char **rest)
{
	struct nfs_export *best = NULL;
	size_t i, bestlen = 0;

	for (i = 0; i < t->n; i++) {
		const char *p = t->e[i]->path;
		size_t n = strlen(p);

		if (strcmp(p, "/") == 0) {
			n = 0;
		} else if (strncmp(dir, p, n) != 0 ||
		    (dir[n] != 0 && dir[n] != '/')) {
			continue;
		}
		if (!best || n > bestlen) {
			best = t->e[i];
			bestlen = n;
		}
	}
	if (best) {
		*rest = dir + bestlen;
		while (**rest == '/') {
			(*rest)++;
		}
	}
	return best;
}

int
nfs_fh_seal(const struct nfs_exports *ex, const struct nfs_export *e,
    const struct nfs_fh_key *k, struct nfs3_fh *out)
{
	uint8_t *p = out->data;
	uint32_t t = (uint32_t)k->type;
	size_t n = k->len, at = NFS_FH_HDR;
	uint64_t tag;
	int i;

	if (n > (k->kind ? NFS_FH_KMAX_LAYER : NFS_FH_KMAX)) {
		return -EOVERFLOW;
	}
	p[0] = NFS_FH_VERSION;
	p[1] = (uint8_t)n;
	p[2] = k->kind;
	p[3] = 0;
	p[4] = (uint8_t)(e->id >> 24);
	p[5] = (uint8_t)(e->id >> 16);
	p[6] = (uint8_t)(e->id >> 8);
	p[7] = (uint8_t)e->id;
	p[8] = (uint8_t)(t >> 24);
	p[9] = (uint8_t)(t >> 16);
	p[10] = (uint8_t)(t >> 8);
	p[11] = (uint8_t)t;
	if (k->kind) {
		memcpy(p + at, k->verf, NFS_FH_VERF);
		at += NFS_FH_VERF;
	}
	memcpy(p + at, k->h, n);
	at += n;
	tag = nfs_siphash(ex->key, p, at);
	for (i = 0; i < NFS_FH_TAG; i++) {
		p[at + (size_t)i] = (uint8_t)(tag >> (8 * i));
	}
	out->len = (uint32_t)(at + NFS_FH_TAG);
	return 0;
}

struct nfs_kh {
	struct file_handle h;
	uint8_t room[NFS_FH_KMAX + 16];
};

int
nfs_fh_build(const struct nfs_exports *ex, const struct nfs_export *e, int fd,
    struct nfs3_fh *out)
{
	struct nfs_fh_key k = {0};
	struct nfs_kh kh;
	int mnt;

	kh.h.handle_bytes = sizeof(kh.room);
	if (name_to_handle_at(fd, "", &kh.h, &mnt, AT_EMPTY_PATH) < 0) {
		return errno == EOVERFLOW ? -EOVERFLOW : -errno;
	}
	if (kh.h.handle_bytes > NFS_FH_KMAX) {
		return -EOVERFLOW;
	}
	k.len = (uint8_t)kh.h.handle_bytes;
	k.type = kh.h.handle_type;
	memcpy(k.h, kh.h.f_handle, k.len);
	return nfs_fh_seal(ex, e, &k, out);
}

int
nfs_fh_unseal(const struct nfs_exports *ex, const struct nfs_export_table *t,
    const struct nfs3_fh *fh, struct nfs_export **ep, struct nfs_fh_key *k)
{
	const uint8_t *p = fh->data;
	size_t n, at = NFS_FH_HDR;
	uint64_t tag = 0;
	uint32_t id;
	int i;

	*ep = NULL;
	if (fh->len < NFS_FH_HDR + NFS_FH_TAG || p[0] != NFS_FH_VERSION ||
	    p[2] > 2 || p[3]) {
		return -EBADMSG;
	}
	n = p[1];
	if (p[2]) {
		at += NFS_FH_VERF;
	}
	if (n > (p[2] ? NFS_FH_KMAX_LAYER : NFS_FH_KMAX) ||
	    fh->len != at + n + NFS_FH_TAG) {
		return -EBADMSG;
	}
	for (i = NFS_FH_TAG - 1; i >= 0; i--) {
		tag = tag << 8 | p[at + n + (size_t)i];
	}
	if (tag != nfs_siphash(ex->key, p, at + n)) {
		return -EBADMSG;
	}
	id = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 |
	    p[7];
	*ep = nfs_export_find(t, id, NULL);
	if (!*ep) {
		return -ESTALE;
	}
	memset(k, 0, sizeof(*k));
	k->kind = p[2];
	k->len = (uint8_t)n;
	k->type = (int32_t)((uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 |
	    (uint32_t)p[10] << 8 | p[11]);
	if (k->kind) {
		memcpy(k->verf, p + NFS_FH_HDR, NFS_FH_VERF);
	}
	memcpy(k->h, p + at, n);
	return 0;
}
