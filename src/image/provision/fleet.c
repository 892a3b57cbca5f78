#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "image/provision/fleet.h"
#include "image/provision/identity.h"
#include "image/provision/tree.h"

static unsigned
rec_version(const struct rec *r, const char *key)
{
	char v[32], *end;
	unsigned long n;

	if (!rec_get(r, key, v, sizeof(v)) || v[0] < '1' || v[0] > '9') {
		return 0;
	}
	n = strtoul(v, &end, 10);
	return *end || n > PROV_VERSIONS_MAX ? 0 : (unsigned)n;
}

static int
cl_parse(struct prov_cl *c, size_t len, char *msg, size_t msglen)
{
	char mode[32] = "";
	unsigned line;
	int r = rec_parse(c->text, len, &c->rec, &line);

	if (r < 0) {
		snprintf(msg, msglen, "client '%s': client.conf line %u: %s",
		    c->name, line, strerror(-r));
		return -EBADMSG;
	}
	rec_get(&c->rec, "root_mode", mode, sizeof(mode));
	if (prov_root_mode_parse(mode, &c->mode) < 0) {
		snprintf(msg, msglen,
		    "client '%s': client.conf has root_mode '%s', not "
		    "layered, volatile or copy",
		    c->name, mode);
		return -EBADMSG;
	}
	c->image[0] = 0;
	rec_get(&c->rec, "image", c->image, sizeof(c->image));
	/* Records from before versions use version 1. */
	c->version = rec_version(&c->rec, "version");
	c->version = c->version ? c->version : 1;
	c->next = rec_version(&c->rec, "next_version");
	c->previous = rec_version(&c->rec, "previous_version");
	snprintf(c->boot_mount, sizeof(c->boot_mount), "/boot/firmware");
	rec_get(&c->rec, "boot_mount", c->boot_mount, sizeof(c->boot_mount));
	return 0;
}

/*
 * The version layer/ says it is over (prov_client_boot() writes it with
 * the layer), or 0.  A move swaps the layer first and writes the record
 * after: a crash between the two leaves a layer the record does not
 * describe, and the layer is what the client's files are.
 */
static unsigned
cl_layer_stamp(const struct prov_cl *c)
{
	char *text, path[32], *end;
	size_t len = 0;
	unsigned long v = 0;

	snprintf(path, sizeof(path), "layer/%s", PROV_LAYER_STAMP);
	text = tree_read_file(c->fd, path, 32, &len);
	if (text && len > 0 && text[0] >= '1' && text[0] <= '9') {
		v = strtoul(text, &end, 10);
		v = (*end == '\n' || *end == 0) && v <= PROV_VERSIONS_MAX ? v
									  : 0;
	}
	free(text);
	return (unsigned)v;
}

/* A record behind its layer's stamp: follow the layer, and when we hold
 * the client, finish writing the move into the record. */
static int
cl_follow_stamp(struct prov_cl *c, char *msg, size_t msglen)
{
	unsigned v = cl_layer_stamp(c);
	char to[16], prev[16];
	struct rec_change ch[] = {
	    {"version", to},
	    {"previous_version", prev},
	    {"next_version", NULL},
	    {"move_requested", NULL},
	};

	if (v == 0 || v == c->version) {
		return 0;
	}
	snprintf(to, sizeof(to), "%u", v);
	snprintf(prev, sizeof(prev), "%u", c->version);
	if (!c->locked) {
		c->previous = c->version;
		c->version = v;
		c->next = 0;
		return 0;
	}
	return prov_cl_update(c, ch, sizeof(ch) / sizeof(ch[0]), msg, msglen);
}

int
prov_cl_open(struct prov_cl *c, const char *state, const char *name, bool lock,
    char *msg, size_t msglen)
{
	char path[PATH_MAX];
	size_t len = 0;
	int r;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (!rec_name_ok(name)) {
		snprintf(msg, msglen, "'%s' is not a valid client name", name);
		return -EINVAL;
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(path, sizeof(path), "%s/clients/%s", state, name);
	r = prov_entry_open(state, "client", name, lock, &c->fd, msg, msglen);
	if (r < 0) {
		prov_cl_close(c);
		return r;
	}
	if (lock) {
		c->locked = true;
		prov_clean_stale(path);
		snprintf(
		    path, sizeof(path), "%s/clients/%s/identity", state, name);
		prov_clean_stale(path);
	}
	c->text = tree_read_file(c->fd, "client.conf", REC_MAX_BYTES, &len);
	if (!c->text) {
		r = -errno;
		snprintf(msg, msglen, "client '%s': reading client.conf: %s",
		    name, strerror(-r));
		prov_cl_close(c);
		return r;
	}
	r = cl_parse(c, len, msg, msglen);
	if (r == 0 && c->mode != PROV_ROOT_COPY) {
		r = cl_follow_stamp(c, msg, msglen);
	}
	if (r < 0) {
		prov_cl_close(c);
	}
	return r;
}

void
prov_cl_close(struct prov_cl *c)
{
	free(c->text);
	c->text = NULL;
	if (c->fd >= 0) {
		close(c->fd); /* and with it the lock */
	}
	c->fd = -1;
	c->locked = false;
}

int
prov_cl_update(struct prov_cl *c, const struct rec_change *ch, size_t n,
    char *msg, size_t msglen)
{
	struct buf b;
	size_t len;
	int r;

	buf_init(&b, REC_MAX_BYTES);
	r = rec_edit(c->text, strlen(c->text), ch, n, &b);
	if (r == 0) {
		r = tree_write_file(c->fd, "client.conf", b.p, b.len, 0644);
	}
	if (r < 0) {
		buf_fini(&b);
		snprintf(msg, msglen, "client '%s': writing client.conf: %s",
		    c->name, strerror(-r));
		return r;
	}
	free(c->text);
	c->text = (char *)buf_steal(&b, &len);
	if (!c->text) {
		c->text = strdup("");
		len = 0;
	}
	return c->text ? cl_parse(c, len, msg, msglen) : -ENOMEM;
}

int
prov_cl_require_layered(
    const struct prov_cl *c, const char *what, char *msg, size_t msglen)
{
	if (c->mode != PROV_ROOT_COPY) {
		return 0;
	}
	snprintf(msg, msglen,
	    "client '%s' has a copy of its root (--root copy), not a layer "
	    "over an image version: %s works on layered and volatile "
	    "clients (remove it and add it again with --root layered to "
	    "make it one)",
	    c->name, what);
	return -EINVAL;
}

int
prov_cl_stack(const struct prov_cl *c, const struct prov_img *im, unsigned v,
    const char *tree, const char *layer, bool read_only,
    struct layer_stack **out, char *msg, size_t msglen)
{
	char cl[PATH_MAX], ix[PATH_MAX];

	snprintf(cl, sizeof(cl), "/proc/self/fd/%d/%s/%s", c->fd, layer, tree);
	snprintf(
	    ix, sizeof(ix), "/proc/self/fd/%d/%s/index/%s", c->fd, layer, tree);
	return prov_version_stack(
	    im, v, tree, -1, cl, ix, read_only, out, msg, msglen);
}

int
prov_cl_identity_fd(const struct prov_cl *c, unsigned v, const char *tree)
{
	char rel[64], path[80];
	int fd;

	prov_identity_path(v, rel, sizeof(rel));
	snprintf(path, sizeof(path), "%s/%s", rel, tree);
	fd = openat(
	    c->fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Remove the identity trees of versions the record no longer names. */
static void
prune_identity(const struct prov_cl *c)
{
	int fd = openat(c->fd, "identity/v",
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *e;
	DIR *d = fd < 0 ? NULL : fdopendir(fd);

	if (!d) {
		if (fd >= 0) {
			close(fd);
		}
		return;
	}
	while ((e = readdir(d)) != NULL) {
		unsigned long v = strtoul(e->d_name, NULL, 10);

		if (e->d_name[0] < '1' || e->d_name[0] > '9' ||
		    v == c->version || v == c->next || v == c->previous) {
			continue;
		}
		tree_rm(dirfd(d), e->d_name);
	}
	closedir(d);
}

int
prov_cl_prepare(struct prov_cl *c, const struct prov_img *im, unsigned v,
    char *msg, size_t msglen)
{
	struct prov_identity_inputs in;
	char rel[64];
	int r;

	prov_identity_path(v, rel, sizeof(rel));
	if (faccessat(c->fd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		return 0;
	}
	r = prov_identity_load(c->fd, &c->rec, c->version, &in, msg, msglen);
	if (r < 0) {
		return r;
	}
	r = prov_identity_make(c->fd, im, v, &in.id, msg, msglen);
	prov_identity_inputs_fini(&in);
	return r;
}

void
prov_tree_path(const struct prov_cl *c, const char *tree, const char *path,
    char *out, size_t cap)
{
	if (strcmp(tree, "boot") == 0) {
		snprintf(
		    out, cap, "%s%s%s", c->boot_mount, *path ? "/" : "", path);
	} else {
		snprintf(out, cap, "/%s", path);
	}
}

/* --- changes ------------------------------------------------------------ */

struct prov_vdiff {
	unsigned from, to;
	struct layer_changes tree[2]; /* boot, root */
};

void
prov_vdiff_fini(struct prov_vdiff *v)
{
	if (v) {
		layer_changes_fini(&v->tree[0]);
		layer_changes_fini(&v->tree[1]);
		free(v);
	}
}

static const char *const trees[] = {"boot", "root"};

/* What version @to changed against @from, both trees, path-sorted. */
static int
vdiff_make(const struct prov_img *im, unsigned from, unsigned to,
    struct prov_vdiff **out, char *msg, size_t msglen)
{
	struct prov_vdiff *v = calloc(1, sizeof(*v));
	size_t t;
	int r = v ? 0 : -ENOMEM;

	for (t = 0; r == 0 && t < 2; t++) {
		struct layer_stack *a = NULL, *b = NULL;

		r = prov_version_stack(
		    im, from, trees[t], -1, NULL, NULL, true, &a, msg, msglen);
		if (r == 0) {
			r = prov_version_stack(im, to, trees[t], -1, NULL, NULL,
			    true, &b, msg, msglen);
		}
		if (r == 0) {
			r = layer_compare(a, b, layer_changes_add, &v->tree[t]);
		}
		layer_changes_sort(&v->tree[t]);
		layer_stack_close(a);
		layer_stack_close(b);
	}
	if (r < 0) {
		prov_vdiff_fini(v);
		if (!msg[0]) {
			snprintf(msg, msglen,
			    "comparing versions %u and %u of image '%s': %s",
			    from, to, im->name, strerror(-r));
		}
		return r;
	}
	v->from = from;
	v->to = to;
	*out = v;
	return 0;
}

void
prov_changes_fini(struct prov_changes *ch)
{
	size_t i;

	for (i = 0; i < ch->n; i++) {
		free(ch->v[i].path);
		free(ch->v[i].conflict);
	}
	free(ch->v);
	memset(ch, 0, sizeof(*ch));
}

static int
changes_add(struct prov_changes *out, const struct prov_cl *c, const char *tree,
    const struct layer_change *lc, bool identity)
{
	char path[PATH_MAX + 64];

	if (out->n == out->cap) {
		size_t cap = out->cap ? 2 * out->cap : 64;
		struct prov_change *g = realloc(out->v, cap * sizeof(*g));

		if (!g) {
			return -ENOMEM;
		}
		out->v = g;
		out->cap = cap;
	}
	prov_tree_path(c, tree, lc->path, path, sizeof(path));
	out->v[out->n] = (struct prov_change){
	    .kind = lc->kind,
	    .type = lc->type,
	    .path = strdup(path),
	    .identity = identity,
	};
	if (!out->v[out->n].path) {
		return -ENOMEM;
	}
	out->n++;
	out->identity += identity;
	return 0;
}

struct mark {
	struct prov_changes *out;
	const struct prov_cl *c;
	const char *tree;
	const struct layer_changes *own;
	size_t *where; /* own.v[i] is out->v[where[i]] */
};

static int
mark_conflict(
    void *arg, const struct layer_change *c, const struct layer_change *v)
{
	struct mark *m = arg;
	size_t i = (size_t)(c - m->own->v);
	struct prov_change *pc = &m->out->v[m->where[i]];
	char path[PATH_MAX + 64];

	prov_tree_path(m->c, m->tree, v->path, path, sizeof(path));
	pc->conflict = strdup(path);
	m->out->conflicts++;
	return pc->conflict ? 0 : -ENOMEM;
}

static int
prov_change_cmp(const void *a, const void *b)
{
	return strcmp(((const struct prov_change *)a)->path,
	    ((const struct prov_change *)b)->path);
}

int
prov_cl_changes(struct prov_cl *c, const struct prov_img *im, unsigned to,
    struct prov_vdiff **vcache, struct prov_changes *out, char *msg,
    size_t msglen)
{
	struct prov_vdiff *vd = vcache ? *vcache : NULL;
	size_t t, i;
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (to && (!vd || vd->from != c->version || vd->to != to)) {
		prov_vdiff_fini(vd);
		vd = NULL;
		r = vdiff_make(im, c->version, to, &vd, msg, msglen);
		if (vcache) {
			*vcache = vd;
		}
	}
	for (t = 0; r == 0 && t < 2; t++) {
		struct layer_changes all = {0}, own = {0};
		struct layer_stack *st = NULL;
		struct mark m = {.out = out, .c = c, .tree = trees[t]};
		int id = prov_cl_identity_fd(c, c->version, trees[t]);

		r = prov_cl_stack(c, im, c->version, trees[t], "layer", true,
		    &st, msg, msglen);
		if (r == 0) {
			r = layer_diff(st, layer_changes_add, &all);
		}
		layer_changes_sort(&all);
		m.where = calloc(all.n ? all.n : 1, sizeof(*m.where));
		if (r == 0 && !m.where) {
			r = -ENOMEM;
		}
		/* Identity files as made are renewed by a move: no conflict. */
		for (i = 0; r == 0 && i < all.n; i++) {
			int is_id = layer_change_is_identity(st, id, &all.v[i]);

			r = is_id < 0 ? is_id
				      : changes_add(out, c, trees[t], &all.v[i],
					    is_id == 1);
			if (r == 0 && is_id == 0) {
				m.where[own.n] = out->n - 1;
				r = layer_changes_add(&own, &all.v[i]);
			}
		}
		if (r == 0 && vd) {
			m.own = &own;
			r = layer_conflicts(own.v, own.n, vd->tree[t].v,
			    vd->tree[t].n, mark_conflict, &m);
			r = r < 0 ? r : 0;
		}
		if (id >= 0) {
			close(id);
		}
		layer_stack_close(st);
		layer_changes_fini(&all);
		layer_changes_fini(&own);
		free(m.where);
	}
	if (!vcache) {
		prov_vdiff_fini(vd);
	}
	if (r < 0) {
		if (!msg[0]) {
			snprintf(msg, msglen, "client '%s': %s", c->name,
			    strerror(-r));
		}
		prov_changes_fini(out);
		return r;
	}
	qsort(out->v, out->n, sizeof(*out->v), prov_change_cmp);
	return 0;
}

/* --- moves --------------------------------------------------------------- */

int
prov_cl_move(struct prov_cl *c, const struct prov_img *im,
    const struct prov_move *m, char *msg, size_t msglen)
{
	char to[16], timeout[16], when[32];
	struct prov_version *v = malloc(sizeof(*v));
	bool cancel = m->to == c->version;
	struct rec_change ch[] = {
	    {"next_version", cancel ? NULL : to},
	    {"move_requested", cancel ? NULL : when},
	    {"rollout", cancel ? NULL : m->rollout},
	    {"rollout_role",
		cancel || !m->rollout ? NULL
		    : m->canary       ? "canary"
				      : "follower"},
	    {"health_timeout", cancel || !m->rollout ? NULL : timeout},
	    {"rollout_state", NULL},
	    {"rollback_reason", cancel ? NULL : m->reason},
	};
	int r;

	if (!v) {
		return -ENOMEM;
	}
	r = prov_version_read(im, m->to, v, msg, msglen);
	free(v);
	if (r == -ENOENT) {
		snprintf(msg, msglen,
		    "image '%s' has no version %u (see 'pinetboot image "
		    "versions %s')",
		    im->name, m->to, im->name);
	}
	if (r < 0) {
		return r;
	}
	snprintf(to, sizeof(to), "%u", m->to);
	snprintf(timeout, sizeof(timeout), "%u", m->health_timeout);
	prov_now_iso(when, sizeof(when));
	/* The daemon only places files at the move: make them now. */
	if (!cancel) {
		r = prov_cl_prepare(c, im, m->to, msg, msglen);
	}
	if (r == 0) {
		r = prov_cl_update(
		    c, ch, sizeof(ch) / sizeof(ch[0]), msg, msglen);
	}
	if (r == 0) {
		prune_identity(c);
	}
	return r;
}

struct name_list {
	char **v;
	size_t n, cap;
	int err;
};

static void
add_client_name(void *arg, const struct prov_image_user *u)
{
	struct name_list *l = arg;
	const char *client = u->client;

	if (l->err) {
		return;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		char **g = realloc(l->v, cap * sizeof(*g));

		if (!g) {
			l->err = -ENOMEM;
			return;
		}
		l->v = g;
		l->cap = cap;
	}
	l->v[l->n] = strdup(client);
	if (!l->v[l->n]) {
		l->err = -ENOMEM;
		return;
	}
	l->n++;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
prov_names_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(names[i]);
	}
	free(names);
}

int
prov_clients_of(const char *state, const char *image, char ***names, size_t *n)
{
	struct name_list l = {0};

	prov_image_clients(state, image, add_client_name, &l);
	if (l.err) {
		prov_names_free(l.v, l.n);
		return l.err;
	}
	if (l.n > 1) {
		qsort(l.v, l.n, sizeof(*l.v), name_cmp);
	}
	*names = l.v;
	*n = l.n;
	return 0;
}

static int
add_regular(void *arg, const struct layer_dirent *e)
{
	struct prov_image_user u = {.client = e->name};

	if (e->type == DT_REG) {
		add_client_name(arg, &u);
	}
	return ((struct name_list *)arg)->err;
}

int
prov_cl_boot_files(const char *state, const char *name, char ***names,
    size_t *n, char *msg, size_t msglen)
{
	struct name_list l = {0};
	struct layer_stack *st = NULL;
	struct layer_node *root = NULL;
	struct prov_img im;
	struct prov_cl c;
	char path[PATH_MAX];
	int r;

	*names = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "%s/clients/%s/client.conf", state, name);
	if (rec_name_ok(name) && access(path, F_OK) < 0 && errno == ENOENT) {
		/* No record: a directory looked at as trees of its own. */
		memset(&c, 0, sizeof(c));
		snprintf(path, sizeof(path), "%s/clients/%s", state, name);
		c.fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		c.mode = PROV_ROOT_COPY;
		r = c.fd < 0 ? -errno : 0;
		if (r < 0) {
			snprintf(msg, msglen, "%s: %s", path, strerror(-r));
		}
	} else {
		r = prov_cl_open(&c, state, name, false, msg, msglen);
	}
	if (r < 0) {
		return r;
	}
	if (c.mode == PROV_ROOT_COPY) {
		int fd =
		    openat(c.fd, "boot", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		struct dirent *e;
		DIR *d = fd < 0 ? NULL : fdopendir(fd);

		while (d && (e = readdir(d)) != NULL) {
			struct prov_image_user u = {.client = e->d_name};
			struct stat s;

			if (fstatat(dirfd(d), e->d_name, &s, 0) == 0 &&
			    S_ISREG(s.st_mode)) {
				add_client_name(&l, &u);
			}
		}
		if (d) {
			closedir(d);
		} else if (fd >= 0) {
			close(fd);
		}
	} else {
		r = prov_img_open(&im, state, c.image, false, msg, msglen);
		if (r == 0) {
			r = prov_cl_stack(&c, &im, c.version, "boot", "layer",
			    true, &st, msg, msglen);
			prov_img_close(&im);
		}
		if (r == 0) {
			r = layer_root(st, &root);
		}
		if (r == 0) {
			r = layer_readdir(st, NULL, root, 0, add_regular, &l);
			r = r < 0 ? r : 0;
		}
		layer_node_free(root);
		layer_stack_close(st);
	}
	prov_cl_close(&c);
	if (r == 0 && l.err) {
		r = l.err;
	}
	if (r < 0) {
		prov_names_free(l.v, l.n);
		return r;
	}
	*names = l.v;
	*n = l.n;
	return 0;
}
