#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "layer/internal.h"

/*
 * The stack: its layer roots, the index of copied-up version inodes and
 * the clean-up of an interrupted change.
 *
 * Index entries are named "<origin>.<vis>.<htype>.<handle>": the version
 * inode number, how many of its version names are still visible, and
 * the version inode's kernel handle in hex.  An entry that is a 0/0
 * character device holds no copy, only the count (0: the client removed
 * the file); any other is the copy.  Names starting with '#' are
 * temporaries: a change builds its new object there and renames it into
 * place, so an interrupted change leaves only a temporary behind, which
 * the next open removes.
 */

#define LAYER_MAP_BUCKETS 4096

static uint64_t
fnv64(uint64_t h, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++) {
		h ^= (uint8_t)(v >> (8 * i));
		h *= 0x100000001b3ull;
	}
	return h;
}

int
layer_step(struct layer_stack *st, const char *step)
{
	if (st->hook && st->hook(st->hook_arg, step) != 0) {
		return -EIO;
	}
	return 0;
}

void
layer_stack_set_hook(
    struct layer_stack *st, int (*fn)(void *arg, const char *step), void *arg)
{
	st->hook = fn;
	st->hook_arg = arg;
}

void
layer_tmpname(struct layer_stack *st, char *buf, size_t cap)
{
	snprintf(buf, cap, "#%ld.%" PRIu64, (long)getpid(), ++st->seq);
}

void
layer_ixname(char *buf, size_t cap, const struct layer_ix *x)
{
	static const char hex[] = "0123456789abcdef";
	size_t n, i;

	n = (size_t)snprintf(buf, cap, "%" PRIu64 ".%" PRIu32 ".%" PRIx32 ".",
	    x->origin, x->vis, (uint32_t)x->htype);
	for (i = 0; i < x->hlen && n + 2 < cap; i++) {
		buf[n++] = hex[x->h[i] >> 4];
		buf[n++] = hex[x->h[i] & 15];
	}
	buf[n < cap ? n : cap - 1] = 0;
}

/* --- the map ------------------------------------------------------------ */

static size_t
bucket(uint64_t ino)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 52) %
	    LAYER_MAP_BUCKETS;
}

static struct layer_ix *
map_get(struct layer_map *m, uint64_t origin)
{
	uint32_t i = m->by_origin[bucket(origin)];

	while (i) {
		if (m->e[i - 1].origin == origin) {
			return &m->e[i - 1];
		}
		i = m->e[i - 1].next_o;
	}
	return NULL;
}

static void
map_unlink_copy(struct layer_map *m, struct layer_ix *x)
{
	uint32_t *p = &m->by_copy[bucket(x->copy)];
	uint32_t self = (uint32_t)(x - m->e) + 1;

	while (*p) {
		if (*p == self) {
			*p = x->next_c;
			x->next_c = 0;
			return;
		}
		p = &m->e[*p - 1].next_c;
	}
}

static int
map_put(struct layer_map *m, const struct layer_ix *in)
{
	struct layer_ix *x = map_get(m, in->origin);
	uint64_t origin = in->origin, copy = in->copy;
	size_t b;

	if (!x) {
		if (m->n == m->cap) {
			size_t cap = m->cap ? 2 * m->cap : 256;
			struct layer_ix *e = realloc(m->e, cap * sizeof(*e));

			if (!e) {
				return -ENOMEM;
			}
			m->e = e;
			m->cap = cap;
		}
		x = &m->e[m->n++];
		*x = (struct layer_ix){.origin = origin};
		b = bucket(origin);
		x->next_o = m->by_origin[b];
		m->by_origin[b] = (uint32_t)m->n;
	}
	if (x->copy && x->copy != copy) {
		map_unlink_copy(m, x);
	}
	if (copy && x->copy != copy) {
		b = bucket(copy);
		x->next_c = m->by_copy[b];
		m->by_copy[b] = (uint32_t)(x - m->e) + 1;
	}
	x->copy = copy;
	x->vis = in->vis;
	x->htype = in->htype;
	x->hlen = in->hlen;
	memcpy(x->h, in->h, sizeof(x->h));
	return 0;
}

bool
layer_map_find(struct layer_stack *st, uint64_t origin, struct layer_ix *out)
{
	struct layer_ix *x;

	pthread_mutex_lock(&st->lock);
	x = map_get(&st->map, origin);
	if (x) {
		*out = *x;
	}
	pthread_mutex_unlock(&st->lock);
	return x != NULL;
}

uint64_t
layer_map_origin(struct layer_stack *st, uint64_t copy)
{
	uint64_t origin = 0;
	uint32_t i;

	if (st->index < 0) {
		return 0;
	}
	pthread_mutex_lock(&st->lock);
	i = st->map.by_copy[bucket(copy)];
	while (i) {
		if (st->map.e[i - 1].copy == copy) {
			origin = st->map.e[i - 1].origin;
			break;
		}
		i = st->map.e[i - 1].next_c;
	}
	pthread_mutex_unlock(&st->lock);
	return origin;
}

int
layer_map_set(struct layer_stack *st, const struct layer_ix *x)
{
	int r;

	pthread_mutex_lock(&st->lock);
	r = map_put(&st->map, x);
	pthread_mutex_unlock(&st->lock);
	return r;
}

/* --- opening ------------------------------------------------------------ */

/* A directory stream of @name in @parent, not following a symlink. */
static int
open_stream(int parent, const char *name, DIR **out)
{
	int fd = openat(
	    parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		return -errno;
	}
	*out = fdopendir(fd);
	if (!*out) {
		int r = -errno;

		close(fd);
		return r;
	}
	return 0;
}

int
layer_rm_tree(int parent, const char *name, int depth)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	int r;

	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		return errno == ENOENT ? 0 : -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		return unlinkat(parent, name, 0) < 0 ? -errno : 0;
	}
	if (depth > 64) {
		return -ELOOP;
	}
	r = open_stream(parent, name, &d);
	if (r < 0) {
		return r;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0) {
			continue;
		}
		r = layer_rm_tree(dirfd(d), e->d_name, depth + 1);
		if (r < 0) {
			break;
		}
	}
	closedir(d);
	if (r == 0 && unlinkat(parent, name, AT_REMOVEDIR) < 0) {
		r = -errno;
	}
	return r;
}

static bool
parse_num(const char **pp, uint64_t max, int base, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;
	int d;

	for (;; p++) {
		if (*p >= '0' && *p <= '9') {
			d = *p - '0';
		} else if (base == 16 && *p >= 'a' && *p <= 'f') {
			d = *p - 'a' + 10;
		} else {
			break;
		}
		if (v > (max - (uint64_t)d) / (uint64_t)base) {
			return false;
		}
		v = v * (uint64_t)base + (uint64_t)d;
	}
	if (p == *pp) {
		return false;
	}
	*pp = p;
	*out = v;
	return true;
}

/* "<origin>.<vis>.<htype>.<handle>", as layer_ixname() writes it. */
static bool
parse_ixname(const char *s, struct layer_ix *x)
{
	uint64_t o, v, t;
	size_t n = 0;

	*x = (struct layer_ix){0};
	if (!parse_num(&s, UINT64_MAX, 10, &o) || *s++ != '.' ||
	    !parse_num(&s, UINT32_MAX, 10, &v) || *s++ != '.' ||
	    !parse_num(&s, UINT32_MAX, 16, &t) || *s++ != '.' || o == 0) {
		return false;
	}
	while (s[0] && s[1] && n < LAYER_FH_MAX) {
		char two[3] = {s[0], s[1], 0};
		const char *p = two;
		uint64_t b;

		if (!parse_num(&p, 255, 16, &b) || *p) {
			return false;
		}
		x->h[n++] = (uint8_t)b;
		s += 2;
	}
	if (*s || n == 0) {
		return false;
	}
	x->origin = o;
	x->vis = (uint32_t)v;
	x->htype = (int32_t)(uint32_t)t;
	x->hlen = (uint8_t)n;
	return true;
}

/*
 * Read the index: remove temporaries, load the map.  Two entries for one
 * inode should not happen (every change of an entry is one rename), but
 * would be the trace of one interrupted: the later state (fewer visible
 * names) wins, and the other entry goes.
 */
static int
index_load(struct layer_stack *st, struct layer_open_report *rep)
{
	DIR *d;
	struct dirent *e;
	int r;

	r = open_stream(st->index, ".", &d);
	if (r < 0) {
		return r;
	}
	while ((e = readdir(d)) != NULL) {
		struct layer_ix old, x;
		struct stat s;
		char name[LAYER_IXNAME_MAX];

		if (strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0) {
			continue;
		}
		if (e->d_name[0] == '#') {
			/*
			 * A read-only view may be opened while the layer's
			 * writer works: its temporaries are not ours to take.
			 */
			r = st->ro ? 0 : layer_rm_tree(st->index, e->d_name, 0);
			if (r < 0) {
				break;
			}
			rep->temps += !st->ro;
			continue;
		}
		if (!parse_ixname(e->d_name, &x) ||
		    fstatat(st->index, e->d_name, &s, AT_SYMLINK_NOFOLLOW) <
			0 ||
		    S_ISDIR(s.st_mode)) {
			rep->unknown++;
			continue;
		}
		if (layer_map_find(st, x.origin, &old)) {
			bool keep_old = old.vis < x.vis;

			if (st->ro) {
				/* Not ours to fix: take the later state. */
				if (keep_old) {
					continue;
				}
				goto set;
			}

			layer_ixname(name, sizeof(name), &old);
			if (unlinkat(st->index, keep_old ? e->d_name : name,
				0) < 0) {
				r = -errno;
				break;
			}
			rep->temps++;
			if (keep_old) {
				continue;
			}
		}
set:
		x.copy = layer_is_whiteout(&s) ? 0 : (uint64_t)s.st_ino;
		r = layer_map_set(st, &x);
		if (r < 0) {
			break;
		}
	}
	closedir(d);
	return r;
}

static int
open_root(struct layer_stack *st, int atfd, const char *path, int slot)
{
	char proc[64], buf[4096];
	struct stat s;
	ssize_t n;
	int fd;

	fd = openat(atfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	if (fstat(fd, &s) < 0) {
		close(fd);
		return -errno;
	}
	if (slot < 0) {
		st->index = fd;
	} else {
		st->root[slot] = fd;
		st->root_ino[slot] = s.st_ino;
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		n = readlink(proc, buf, sizeof(buf) - 1);
		if (n <= 0) {
			return n < 0 ? -errno : -EINVAL;
		}
		buf[n] = 0;
		st->root_path[slot] = strdup(buf);
		if (!st->root_path[slot]) {
			return -ENOMEM;
		}
		st->verifier = fnv64(fnv64(st->verifier, s.st_dev), s.st_ino);
	}
	if (st->dev == 0) {
		st->dev = s.st_dev;
	} else if (st->dev != s.st_dev) {
		return -EXDEV;
	}
	return 0;
}

int
layer_stack_open(const struct layer_stack_conf *c, struct layer_stack **out,
    struct layer_open_report *rep)
{
	struct layer_open_report dummy;
	struct layer_stack *st;
	size_t i;
	int r;

	*out = NULL;
	if (!rep) {
		rep = &dummy;
	}
	*rep = (struct layer_open_report){0};
	if (c->nversions > LAYER_VERSIONS_MAX ||
	    (!c->client && !c->index && c->nversions == 0) ||
	    (c->client && !c->index) || (!c->client && c->index)) {
		return -EINVAL;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		return -ENOMEM;
	}
	for (i = 0; i < LAYER_SLOTS; i++) {
		st->root[i] = -1;
	}
	st->index = -1;
	st->nv = c->nversions;
	st->ro = c->read_only || !c->client;
	st->nosync = c->nosync;
	st->verifier = 0xcbf29ce484222325ull;
	pthread_mutex_init(&st->mut, NULL);
	pthread_mutex_init(&st->lock, NULL);
	st->map.nb = LAYER_MAP_BUCKETS;
	st->map.by_origin = calloc(LAYER_MAP_BUCKETS, sizeof(uint32_t));
	st->map.by_copy = calloc(LAYER_MAP_BUCKETS, sizeof(uint32_t));
	st->dcache = calloc(LAYER_DCACHE, sizeof(*st->dcache));
	if (!st->map.by_origin || !st->map.by_copy || !st->dcache) {
		r = -ENOMEM;
		goto fail;
	}
	st->verifier = fnv64(st->verifier, c->nversions);
	if (c->client) {
		r = open_root(st, c->atfd, c->client, 0);
		if (r == 0) {
			r = open_root(st, c->atfd, c->index, -1);
		}
		if (r < 0) {
			goto fail;
		}
	}
	for (i = 0; i < c->nversions; i++) {
		r = open_root(st, c->atfd, c->versions[i], (int)i + 1);
		if (r < 0) {
			goto fail;
		}
	}
	if (st->index >= 0) {
		r = index_load(st, rep);
		if (r < 0) {
			goto fail;
		}
		for (i = 0; i < st->map.n; i++) {
			if (st->map.e[i].copy) {
				rep->copies++;
			} else {
				rep->counts++;
			}
		}
	}
	*out = st;
	return 0;
fail:
	layer_stack_close(st);
	return r;
}

void
layer_stack_close(struct layer_stack *st)
{
	size_t i;

	if (!st) {
		return;
	}
	for (i = 0; i < LAYER_SLOTS; i++) {
		if (st->root[i] >= 0) {
			close(st->root[i]);
		}
		free(st->root_path[i]);
	}
	if (st->index >= 0) {
		close(st->index);
	}
	free(st->map.e);
	free(st->map.by_origin);
	free(st->map.by_copy);
	layer_dcache_free(st);
	pthread_mutex_destroy(&st->mut);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

void
layer_stack_verifier(const struct layer_stack *st, uint8_t out[8])
{
	int i;

	/* Never all zeros: NFS clients send zeros for "no verifier". */
	for (i = 0; i < 8; i++) {
		out[i] = (uint8_t)(st->verifier >> (8 * i));
	}
	out[0] |= 1;
}
