#ifndef PNB_TESTS_LAYER_UTIL_H
#define PNB_TESTS_LAYER_UTIL_H

/*
 * Helpers for the layer tests: build layers with plain system calls, open
 * a stack over them, and read the merged tree back through the library.
 * Included by each test_layer*.c (static functions: each test binary
 * takes what it uses).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer/layer.h"
#include "t.h"

/* Each test binary uses some of these. */

#define LT_FN static __attribute__((unused))

struct lt {
	char dir[256];    /* the test's directory */
	char client[300]; /* client layer */
	char index[300];
	char v[4][300]; /* version layers, v[0] the base */
	size_t nv;
	struct layer_stack *st;
	struct layer_open_report rep;
};

LT_FN void __attribute__((format(printf, 3, 4)))
lt_path(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, cap, fmt, ap);
	va_end(ap);
}

/* Write @s to @path (created or truncated, mode 0644). */
LT_FN int
lt_write(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd < 0) {
		return -errno;
	}
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -EIO;
}

/* A fresh set of empty layer directories under @dir: v0..v(nv-1). */
LT_FN void
lt_init(struct lt *t, const char *dir, size_t nv)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "%s", dir);
	lt_path(t->client, sizeof(t->client), "%s/client", dir);
	lt_path(t->index, sizeof(t->index), "%s/index", dir);
	mkdir(t->client, 0755);
	mkdir(t->index, 0700);
	for (i = 0; i < nv; i++) {
		lt_path(t->v[i], sizeof(t->v[i]), "%s/v%zu", dir, i);
		mkdir(t->v[i], 0755);
	}
	t->nv = nv;
}

/* Open the stack: the client layer over the versions, top (last) first. */
LT_FN int
lt_open(struct lt *t, bool client)
{
	struct layer_stack_conf c = {
	    .atfd = AT_FDCWD,
	    .client = client ? t->client : NULL,
	    .index = client ? t->index : NULL,
	    .nversions = t->nv,
	    .nosync = true,
	};
	size_t i;

	for (i = 0; i < t->nv; i++) {
		c.versions[i] = t->v[t->nv - 1 - i];
	}
	return layer_stack_open(&c, &t->st, &t->rep);
}

LT_FN void
lt_close(struct lt *t)
{
	layer_stack_close(t->st);
	t->st = NULL;
}

LT_FN struct layer_node *
lt_node(struct lt *t, const char *path)
{
	struct layer_node *n = NULL;

	return layer_lookup_path(t->st, path, &n) == 0 ? n : NULL;
}

/* The parent directory node of @path and its last name (in @name). */
LT_FN struct layer_node *
lt_parent(struct lt *t, const char *path, char *name, size_t cap)
{
	const char *slash = strrchr(path, '/');
	char dir[1024];

	if (!slash) {
		snprintf(name, cap, "%s", path);
		return lt_node(t, "");
	}
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	snprintf(name, cap, "%s", slash + 1);
	return lt_node(t, dir);
}

/* The merged content of a regular file, or NULL. */
LT_FN char *
lt_read(struct lt *t, const char *path)
{
	struct layer_node *n = lt_node(t, path);
	char *buf;
	ssize_t r;
	int fd;

	if (!n) {
		return NULL;
	}
	fd = layer_open_data(t->st, NULL, n, O_RDONLY);
	layer_node_free(n);
	if (fd < 0) {
		return NULL;
	}
	buf = calloc(1, 65537);
	r = read(fd, buf, 65536);
	close(fd);
	if (r < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

LT_FN bool
lt_content_is(struct lt *t, const char *path, const char *want)
{
	char *got = lt_read(t, path);
	bool ok = got && strcmp(got, want) == 0;

	free(got);
	return ok;
}

/* Write @s over a merged file through the library (copy-up included). */
LT_FN int
lt_put(
    struct lt *t, const struct layer_cred *c, const char *path, const char *s)
{
	struct layer_node *n = lt_node(t, path);
	int fd, r = 0;

	if (!n) {
		return -ENOENT;
	}
	fd = layer_open_data(t->st, c, n, O_WRONLY);
	layer_node_free(n);
	if (fd < 0) {
		return fd;
	}
	if (ftruncate(fd, 0) < 0 ||
	    pwrite(fd, s, strlen(s), 0) != (ssize_t)strlen(s)) {
		r = -EIO;
	}
	close(fd);
	return r;
}

/* Create a regular file (or, @type, another object) by merged path. */
LT_FN int
lt_make(struct lt *t, const struct layer_cred *c, const char *path, mode_t type,
    mode_t mode)
{
	struct layer_new nw = {.type = type, .mode = mode, .target = "tgt"};
	char name[256];
	struct layer_node *d = lt_parent(t, path, name, sizeof(name));
	int r;

	if (!d) {
		return -ENOENT;
	}
	r = layer_create(t->st, c, d, name, &nw, NULL);
	layer_node_free(d);
	return r;
}

LT_FN int
lt_unlink(struct lt *t, const struct layer_cred *c, const char *path, bool dir)
{
	char name[256];
	struct layer_node *d = lt_parent(t, path, name, sizeof(name));
	int r;

	if (!d) {
		return -ENOENT;
	}
	r = dir ? layer_rmdir(t->st, c, d, name)
		: layer_unlink(t->st, c, d, name);
	layer_node_free(d);
	return r;
}

LT_FN int
lt_rename(
    struct lt *t, const struct layer_cred *c, const char *from, const char *to)
{
	char sn[256], tn[256];
	struct layer_node *sd = lt_parent(t, from, sn, sizeof(sn));
	struct layer_node *td = lt_parent(t, to, tn, sizeof(tn));
	int r = -ENOENT;

	if (sd && td) {
		r = layer_rename(t->st, c, sd, sn, td, tn);
	}
	layer_node_free(sd);
	layer_node_free(td);
	return r;
}

LT_FN int
lt_link(
    struct lt *t, const struct layer_cred *c, const char *from, const char *to)
{
	char tn[256];
	struct layer_node *n = lt_node(t, from);
	struct layer_node *td = lt_parent(t, to, tn, sizeof(tn));
	int r = -ENOENT;

	if (n && td) {
		r = layer_link(t->st, c, n, td, tn);
	}
	layer_node_free(n);
	layer_node_free(td);
	return r;
}

struct lt_list {
	char names[4096][64];
	uint64_t cookies[4096];
	uint64_t inos[4096];
	size_t n, max; /* max: stop after this many (0: no limit) */
};

LT_FN int
lt_list_cb(void *arg, const struct layer_dirent *e)
{
	struct lt_list *l = arg;

	if ((l->max && l->n >= l->max) || l->n >= 4096) {
		return 1;
	}
	snprintf(l->names[l->n], sizeof(l->names[0]), "%s", e->name);
	l->cookies[l->n] = e->cookie;
	l->inos[l->n] = e->ino;
	l->n++;
	return 0;
}

/* List a merged directory from @cookie.  Return: layer_readdir()'s. */
LT_FN int
lt_list(struct lt *t, const char *path, uint64_t cookie, struct lt_list *l)
{
	struct layer_node *d = lt_node(t, path);
	int r;

	l->n = 0;
	if (!d) {
		return -ENOENT;
	}
	r = layer_readdir(t->st, NULL, d, cookie, lt_list_cb, l);
	layer_node_free(d);
	return r;
}

LT_FN int
lt_cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The names of a merged directory, without "." and "..", sorted, joined. */
LT_FN void
lt_names(struct lt *t, const char *path, char *out, size_t cap)
{
	static struct lt_list l;
	char sorted[4096][64];
	size_t i, n = 0, at = 0;

	out[0] = 0;
	if (lt_list(t, path, 0, &l) < 0) {
		snprintf(out, cap, "<error>");
		return;
	}
	for (i = 0; i < l.n; i++) {
		if (strcmp(l.names[i], ".") && strcmp(l.names[i], "..")) {
			memcpy(sorted[n++], l.names[i], 64);
		}
	}
	qsort(sorted, n, 64, lt_cmp_str);
	for (i = 0; i < n && at + 66 < cap; i++) {
		at += (size_t)snprintf(
		    out + at, cap - at, "%s%s", i ? "," : "", sorted[i]);
	}
}

/* A small base version: a, d/{x,y}, e/. */
LT_FN void
lt_base_tree(struct lt *t)
{
	char p[512];

	lt_path(p, sizeof(p), "%s/a", t->v[0]);
	CHECK(lt_write(p, "base a\n") == 0);
	lt_path(p, sizeof(p), "%s/d", t->v[0]);
	CHECK(mkdir(p, 0755) == 0);
	lt_path(p, sizeof(p), "%s/d/x", t->v[0]);
	CHECK(lt_write(p, "base x\n") == 0);
	lt_path(p, sizeof(p), "%s/d/y", t->v[0]);
	CHECK(lt_write(p, "base y\n") == 0);
	lt_path(p, sizeof(p), "%s/e", t->v[0]);
	CHECK(mkdir(p, 0755) == 0);
}

#endif
