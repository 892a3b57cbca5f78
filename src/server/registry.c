#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/registry.h"

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9') {
		return ch - '0';
	}
	if (ch >= 'a' && ch <= 'f') {
		return ch - 'a' + 10;
	}
	if (ch >= 'A' && ch <= 'F') {
		return ch - 'A' + 10;
	}
	return -1;
}

int
registry_parse_mac(const char *s, size_t len, uint8_t mac[6])
{
	size_t i;

	if (len != 17) {
		return -EINVAL;
	}
	for (i = 0; i < 6; i++) {
		int hi = hexval(s[i * 3]), lo = hexval(s[i * 3 + 1]);

		if (hi < 0 || lo < 0) {
			return -EINVAL;
		}
		if (i < 5 && s[i * 3 + 2] != ':' && s[i * 3 + 2] != '-') {
			return -EINVAL;
		}
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static bool
registry_is_serial(const char *s, size_t len)
{
	size_t i;

	if (len != 8) {
		return false;
	}
	for (i = 0; i < 8; i++) {
		if (hexval(s[i]) < 0) {
			return false;
		}
	}
	return true;
}

/* Names become path components and DHCP host names: keep them plain. */
static bool
registry_is_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len >= REGISTRY_NAME_MAX || s[0] == '.' ||
	    s[0] == '-') {
		return false;
	}
	for (i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			(ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
			ch == '.')) {
			return false;
		}
	}
	return true;
}

static void
registry_trim(const char **s, const char **e)
{
	while (*s < *e && (**s == ' ' || **s == '\t' || **s == '\r')) {
		(*s)++;
	}
	while (*e > *s &&
	    ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r')) {
		(*e)--;
	}
}

static int
registry_set(struct registry_client *c, const char *k, size_t klen,
    const char *v, size_t vlen)
{
	char tmp[INET_ADDRSTRLEN];
	size_t i;

#define KEY_IS(lit) (klen == sizeof(lit) - 1 && !memcmp(k, lit, klen))
	if (KEY_IS("serial")) {
		if (vlen == 0) {
			c->serial[0] = 0;
			return 0;
		}
		if (!registry_is_serial(v, vlen)) {
			return -EBADMSG;
		}
		for (i = 0; i < 8; i++) {
			c->serial[i] = (char)(v[i] | 0x20);
		}
		c->serial[8] = 0;
	} else if (KEY_IS("mac")) {
		if (vlen == 0) {
			c->has_mac = false;
			return 0;
		}
		if (registry_parse_mac(v, vlen, c->mac) < 0) {
			return -EBADMSG;
		}
		c->has_mac = true;
	} else if (KEY_IS("address")) {
		if (vlen == 0) {
			c->addr.s_addr = 0;
			return 0;
		}
		if (vlen >= sizeof(tmp)) {
			return -EBADMSG;
		}
		memcpy(tmp, v, vlen);
		tmp[vlen] = 0;
		if (inet_pton(AF_INET, tmp, &c->addr) != 1) {
			return -EBADMSG;
		}
	} else if (KEY_IS("hostname") || KEY_IS("image") || KEY_IS("name")) {
		char *dst = KEY_IS("hostname") ? c->hostname
		    : KEY_IS("image")          ? c->image
					       : c->name;

		if (vlen && !registry_is_name(v, vlen)) {
			return -EBADMSG;
		}
		memcpy(dst, v, vlen);
		dst[vlen] = 0;
	}
#undef KEY_IS
	return 0;
}

int
registry_parse_record(const char *text, size_t len, struct registry_client *out,
    char *msg, size_t msglen)
{
	const char *p = text, *end = text + len;
	unsigned lineno = 0;

	memset(out, 0, sizeof(*out));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *s = p, *e = nl ? nl : end, *eq, *ks, *ke, *vs, *ve;

		lineno++;
		p = nl ? nl + 1 : end;
		if (memchr(s, 0, (size_t)(e - s))) {
			snprintf(msg, msglen, "line %u: NUL byte", lineno);
			return -EBADMSG;
		}
		registry_trim(&s, &e);
		if (s == e || *s == '#') {
			continue;
		}
		eq = memchr(s, '=', (size_t)(e - s));
		if (!eq) {
			snprintf(msg, msglen, "line %u: expected key = value",
			    lineno);
			return -EBADMSG;
		}
		ks = s;
		ke = eq;
		vs = eq + 1;
		ve = e;
		registry_trim(&ks, &ke);
		registry_trim(&vs, &ve);
		if (registry_set(out, ks, (size_t)(ke - ks), vs,
			(size_t)(ve - vs)) < 0) {
			snprintf(msg, msglen, "line %u: bad value for %.*s",
			    lineno, (int)(ke - ks > 32 ? 32 : ke - ks), ks);
			return -EBADMSG;
		}
	}
	return 0;
}

/* A record is at most a few hundred bytes; anything big is not ours. */
#define REGISTRY_RECORD_MAX 65536

static int
registry_read_file(
    int dirfd, const char *name, char *buf, size_t cap, size_t *len)
{
	char path[REGISTRY_NAME_MAX + 16];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%.63s/client.conf", name);
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		return -errno;
	}
	n = read(fd, buf, cap);
	close(fd);
	if (n < 0) {
		return -errno;
	}
	if ((size_t)n == cap) {
		return -EMSGSIZE;
	}
	*len = (size_t)n;
	return 0;
}

static int
registry_cmp(const void *a, const void *b)
{
	const struct registry_client *x = a, *y = b;

	return strcmp(x->name, y->name);
}

int
registry_load(const char *state_dir, struct registry *out,
    void (*warn)(void *arg, const char *name, const char *why), void *arg)
{
	char dir[PATH_MAX], msg[160];
	struct registry_client c;
	struct dirent *e;
	char *text = NULL;
	size_t cap = 0, len = 0;
	DIR *d;
	int r = 0, n;

	out->clients = NULL;
	out->n = 0;
	n = snprintf(dir, sizeof(dir), "%s/clients", state_dir);
	if (n < 0 || (size_t)n >= sizeof(dir)) {
		return -ENAMETOOLONG;
	}
	d = opendir(dir);
	if (!d) {
		return errno == ENOENT ? 0 : -errno;
	}
	text = malloc(REGISTRY_RECORD_MAX);
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	while ((e = readdir(d))) {
		size_t nl = strlen(e->d_name);

		/* Dot entries and in-progress ".tmp" builds are not clients. */
		if (e->d_name[0] == '.' || !registry_is_name(e->d_name, nl)) {
			continue;
		}
		r = registry_read_file(
		    dirfd(d), e->d_name, text, REGISTRY_RECORD_MAX, &len);
		if (r < 0) {
			if (warn && r != -ENOENT) {
				warn(arg, e->d_name, strerror(-r));
			}
			r = 0;
			continue;
		}
		if (registry_parse_record(text, len, &c, msg, sizeof(msg)) <
		    0) {
			if (warn) {
				warn(arg, e->d_name, msg);
			}
			continue;
		}
		if (out->n == REGISTRY_MAX) {
			if (warn) {
				warn(arg, e->d_name, "too many clients");
			}
			break;
		}
		snprintf(c.name, sizeof(c.name), "%.63s", e->d_name);
		n = snprintf(c.boot_dir, sizeof(c.boot_dir), "%s/%s/boot", dir,
		    e->d_name);
		n = n < 0 ? n
			  : snprintf(c.root_dir, sizeof(c.root_dir),
				"%s/%s/root", dir, e->d_name);
		if (n < 0 || (size_t)n >= sizeof(c.root_dir)) {
			continue;
		}
		if (out->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct registry_client *p =
			    realloc(out->clients, ncap * sizeof(*p));

			if (!p) {
				r = -ENOMEM;
				goto out;
			}
			out->clients = p;
			cap = ncap;
		}
		out->clients[out->n++] = c;
	}
	if (out->n) {
		qsort(
		    out->clients, out->n, sizeof(*out->clients), registry_cmp);
	}
out:
	free(text);
	closedir(d);
	if (r < 0) {
		registry_fini(out);
	}
	return r;
}

void
registry_fini(struct registry *r)
{
	free(r->clients);
	r->clients = NULL;
	r->n = 0;
}

const struct registry_client *
registry_find_prefix(const struct registry *r, const char *prefix, size_t len)
{
	uint8_t mac[6];
	size_t i, j;

	if (registry_is_serial(prefix, len)) {
		for (i = 0; i < r->n; i++) {
			for (j = 0; j < 8; j++) {
				if ((prefix[j] | 0x20) !=
				    r->clients[i].serial[j]) {
					break;
				}
			}
			if (j == 8) {
				return &r->clients[i];
			}
		}
		return NULL;
	}
	if (registry_parse_mac(prefix, len, mac) == 0) {
		return registry_find_mac(r, mac);
	}
	return NULL;
}

const struct registry_client *
registry_find_mac(const struct registry *r, const uint8_t mac[6])
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		if (r->clients[i].has_mac &&
		    memcmp(r->clients[i].mac, mac, 6) == 0) {
			return &r->clients[i];
		}
	}
	return NULL;
}
