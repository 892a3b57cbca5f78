#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/rec.h"
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

/*
 * A small record file at @path below @dirfd, not through a symlink.
 * Return: 0 with *@len bytes in @buf, -EMSGSIZE when it does not fit in
 * @cap, -errno.
 */
static int
registry_read_at(
    int dirfd, const char *path, char *buf, size_t cap, size_t *len)
{
	ssize_t n;
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

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

/* A decimal number from 1 to @max, nothing else. */
static int
registry_number(const char *s, unsigned max, unsigned *out)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || i > 9) {
			return -EINVAL;
		}
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (i == 0 || v == 0 || v > max) {
		return -EINVAL;
	}
	*out = (unsigned)v;
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

/* @key's value into @out; an absent key is an empty value. */
static bool
registry_value(const struct rec *r, const char *key, char *out, size_t cap)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		if (r->kv[i].klen == strlen(key) &&
		    !memcmp(r->kv[i].key, key, r->kv[i].klen)) {
			return rec_get(r, key, out, cap);
		}
	}
	out[0] = 0;
	return true;
}

/* "2026-12-03T17:52:00Z", as the CLI and the daemon write times. */
static int
registry_time(const char *s, int64_t *out)
{
	struct tm tm = {0};
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	time_t t;

	if (!end || *end) {
		return -EINVAL;
	}
	t = timegm(&tm);
	if (t == (time_t)-1) {
		return -EINVAL;
	}
	*out = (int64_t)t;
	return 0;
}

/*
 * The keys of a pending move and of its rollout.  A bad value skips the
 * record: a half-understood move is worse than none.
 */
static int
registry_parse_moves(
    const struct rec *r, struct registry_client *out, char *msg, size_t msglen)
{
	static const char *const nums[] = {
	    "next_version", "previous_version", "health_timeout"};
	unsigned *dst[] = {
	    &out->next_version, &out->previous_version, &out->health_timeout};
	const unsigned max[] = {
	    REGISTRY_VERSION_MAX, REGISTRY_VERSION_MAX, REGISTRY_HEALTH_MAX};
	char v[REC_MAX_VALUE + 1];
	size_t i;

	for (i = 0; i < 3; i++) {
		if (!registry_value(r, nums[i], v, sizeof(v)) ||
		    (v[0] && registry_number(v, max[i], dst[i]) < 0)) {
			snprintf(msg, msglen, "%s is not a number from 1 to %u",
			    nums[i], max[i]);
			return -EBADMSG;
		}
	}
	if (!registry_value(r, "rollout", v, sizeof(v)) ||
	    strlen(v) >= sizeof(out->rollout)) {
		snprintf(msg, msglen, "rollout is not a rollout id");
		return -EBADMSG;
	}
	memcpy(out->rollout, v, strlen(v) + 1);
	if (!registry_value(r, "rollout_role", v, sizeof(v)) ||
	    (v[0] && strcmp(v, "canary") && strcmp(v, "follower"))) {
		snprintf(msg, msglen, "rollout_role is not canary or follower");
		return -EBADMSG;
	}
	out->canary = !strcmp(v, "canary");
	if (!registry_value(r, "rollout_state", v, sizeof(v)) ||
	    strlen(v) >= sizeof(out->rollout_state)) {
		snprintf(msg, msglen, "rollout_state is not a known state");
		return -EBADMSG;
	}
	memcpy(out->rollout_state, v, strlen(v) + 1);
	/* Only shown: a longer reason is cut. */
	if (registry_value(r, "rollback_reason", v, sizeof(v))) {
		snprintf(out->rollback_reason, sizeof(out->rollback_reason),
		    "%.159s", v);
	}
	if (!registry_value(r, "moved_at", v, sizeof(v)) ||
	    (v[0] && registry_time(v, &out->moved_at) < 0)) {
		snprintf(msg, msglen,
		    "moved_at is not a UTC time (YYYY-MM-DDTHH:MM:SSZ)");
		return -EBADMSG;
	}
	return 0;
}

int
registry_parse_record(const char *text, size_t len, struct registry_client *out,
    char *msg, size_t msglen)
{
	static const char *const names[] = {"name", "hostname", "image"};
	char v[REC_MAX_VALUE + 1];
	struct rec r;
	unsigned line;
	size_t i;
	int err;

	memset(out, 0, sizeof(*out));
	err = rec_parse(text, len, &r, &line);
	if (err < 0) {
		snprintf(msg, msglen, "line %u: %s", line,
		    err == -EEXIST         ? "key given twice"
			: err == -EMSGSIZE ? "too many keys or too long"
					   : "expected key = value");
		return -EBADMSG;
	}
	if (!registry_value(&r, "serial", v, sizeof(v)) ||
	    (v[0] && !registry_is_serial(v, strlen(v)))) {
		snprintf(msg, msglen, "serial is not 8 hex digits");
		return -EBADMSG;
	}
	for (i = 0; v[0] && i < 8; i++) {
		out->serial[i] = (char)(v[i] | 0x20);
	}
	if (!registry_value(&r, "mac", v, sizeof(v)) ||
	    (v[0] && registry_parse_mac(v, strlen(v), out->mac) < 0)) {
		snprintf(msg, msglen, "mac is not six hex bytes");
		return -EBADMSG;
	}
	out->has_mac = v[0] != 0;
	if (!registry_value(&r, "address", v, sizeof(v)) ||
	    (v[0] && inet_pton(AF_INET, v, &out->addr) != 1)) {
		snprintf(msg, msglen, "address is not an IPv4 address");
		return -EBADMSG;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *dst = i == 0 ? out->name
		    : i == 1       ? out->hostname
				   : out->image;

		if (!registry_value(&r, names[i], v, sizeof(v)) ||
		    (v[0] && !rec_name_ok(v))) {
			snprintf(msg, msglen,
			    "%s is not a name of letters, "
			    "digits, '.', '-' and '_'",
			    names[i]);
			return -EBADMSG;
		}
		snprintf(dst, REGISTRY_NAME_MAX, "%.63s", v);
	}
	if (!registry_value(&r, "root_mode", v, sizeof(v))) {
		v[0] = 0;
	}
	if (v[0] == 0 || strcmp(v, "copy") == 0) {
		out->root_mode = REGISTRY_ROOT_COPY;
	} else if (strcmp(v, "layered") == 0) {
		out->root_mode = REGISTRY_ROOT_LAYERED;
	} else if (strcmp(v, "volatile") == 0) {
		out->root_mode = REGISTRY_ROOT_VOLATILE;
	} else {
		snprintf(
		    msg, msglen, "root_mode is not layered, volatile or copy");
		return -EBADMSG;
	}
	if (out->root_mode == REGISTRY_ROOT_COPY) {
		return 0;
	}
	if (!out->image[0]) {
		snprintf(msg, msglen, "a %s root needs image", v);
		return -EBADMSG;
	}
	if (!registry_value(&r, "version", v, sizeof(v)) ||
	    registry_number(v, REGISTRY_VERSION_MAX, &out->version) < 0) {
		snprintf(msg, msglen,
		    "version is not a version number of the image (1 to %u)",
		    REGISTRY_VERSION_MAX);
		return -EBADMSG;
	}
	return registry_parse_moves(&r, out, msg, msglen);
}

/* A version record's fields that make the stack. */
static int
registry_read_version(int imgfd, unsigned n, bool *base, unsigned *parent)
{
	char path[48], text[4096], v[32];
	struct rec r;
	unsigned line;
	size_t len;
	int e;

	snprintf(path, sizeof(path), "v/%u/version.conf", n);
	e = registry_read_at(imgfd, path, text, sizeof(text), &len);
	if (e < 0) {
		return e == -EMSGSIZE ? -EBADMSG : e;
	}
	if (rec_parse(text, len, &r, &line) < 0) {
		return -EBADMSG;
	}
	*base = !rec_get(&r, "kind", v, sizeof(v)) || strcmp(v, "delta") != 0;
	*parent = 0;
	if (!*base &&
	    (!rec_get(&r, "parent", v, sizeof(v)) ||
		registry_number(v, REGISTRY_VERSION_MAX, parent) < 0)) {
		return -EBADMSG;
	}
	return 0;
}

int
registry_version_layers(const char *state_dir, const char *image,
    unsigned version, unsigned *out, size_t cap, char *msg, size_t msglen)
{
	char dir[PATH_MAX];
	unsigned n = version, parent;
	size_t k = 0;
	bool base = false;
	int fd, r = 0;

	snprintf(dir, sizeof(dir), "%s/images/%s", state_dir, image);
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(msg, msglen, "image '%s' is missing", image);
		return -ENOENT;
	}
	while (!base) {
		r = registry_read_version(fd, n, &base, &parent);
		if (r == -ENOENT) {
			snprintf(msg, msglen, "image '%s' has no version %u",
			    image, n);
			break;
		}
		if (r < 0) {
			snprintf(msg, msglen,
			    "version %u of image '%s' has a damaged "
			    "version.conf",
			    n, image);
			r = -EBADMSG;
			break;
		}
		if (k == cap) {
			snprintf(msg, msglen,
			    "version %u of image '%s' stacks more than %zu "
			    "layers",
			    version, image, cap);
			r = -EBADMSG;
			break;
		}
		out[k++] = n;
		/* Parents are older: a number that does not fall is a loop. */
		if (!base && (parent == 0 || parent >= n)) {
			snprintf(msg, msglen,
			    "version %u of image '%s' is a delta without a "
			    "valid parent",
			    n, image);
			r = -EBADMSG;
			break;
		}
		n = parent;
	}
	close(fd);
	return r < 0 ? r : (int)k;
}

/*
 * A move swaps in the new layer, stamped layer/version with the version
 * it is over, before it writes the record: after a crash between the
 * two, the layer says what the client's files are (the CLI finishes the
 * record the next time it holds the client).
 */
static void
registry_follow_stamp(int dirfd, struct registry_client *c)
{
	char path[REGISTRY_NAME_MAX + 24], text[16];
	size_t len = 0;
	unsigned v;

	snprintf(path, sizeof(path), "%.63s/layer/version", c->name);
	if (registry_read_at(dirfd, path, text, sizeof(text) - 1, &len) < 0) {
		return;
	}
	text[len] = 0;
	if (len > 0 && text[len - 1] == '\n') {
		text[len - 1] = 0;
	}
	if (registry_number(text, REGISTRY_VERSION_MAX, &v) == 0 &&
	    v != c->version) {
		c->previous_version = c->version;
		c->version = v;
		c->next_version = 0;
	}
}

/* A record is at most a few hundred bytes; anything big is not ours. */
#define REGISTRY_RECORD_MAX REC_MAX_BYTES

static int
registry_read_file(
    int dirfd, const char *name, char *buf, size_t cap, size_t *len)
{
	char path[REGISTRY_NAME_MAX + 16];

	snprintf(path, sizeof(path), "%.63s/client.conf", name);
	return registry_read_at(dirfd, path, buf, cap, len);
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
		if (e->d_name[0] == '.' || nl > REC_NAME_MAX ||
		    !rec_name_ok(e->d_name)) {
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
		if (c.root_mode != REGISTRY_ROOT_COPY) {
			registry_follow_stamp(dirfd(d), &c);
			n = registry_version_layers(state_dir, c.image,
			    c.version, c.layers, REGISTRY_LAYERS_MAX, msg,
			    sizeof(msg));
			if (n < 0) {
				if (warn) {
					warn(arg, e->d_name, msg);
				}
				continue;
			}
			c.nlayers = (size_t)n;
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

/* Client @name's record as registry_load() reads it, without its stack. */
static int
registry_read_record(const char *state_dir, const char *name,
    struct registry_client *out, char *msg, size_t msglen)
{
	char dir[PATH_MAX];
	char *text = malloc(REGISTRY_RECORD_MAX);
	size_t len = 0;
	int fd, r;

	snprintf(dir, sizeof(dir), "%s/clients", state_dir);
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	r = !text ? -ENOMEM : fd < 0 ? -errno : 0;
	if (r == 0) {
		r = registry_read_file(
		    fd, name, text, REGISTRY_RECORD_MAX, &len);
	}
	if (r < 0) {
		snprintf(msg, msglen, "%s", strerror(-r));
	} else {
		r = registry_parse_record(text, len, out, msg, msglen);
	}
	if (r == 0) {
		snprintf(out->name, sizeof(out->name), "%s", name);
		if (out->root_mode != REGISTRY_ROOT_COPY) {
			registry_follow_stamp(fd, out);
		}
	}
	if (fd >= 0) {
		close(fd);
	}
	free(text);
	return r;
}

bool
registry_record_current(const char *state_dir, const struct registry_client *rc)
{
	struct registry_client *disk = malloc(sizeof(*disk));
	char msg[160];
	bool same;

	if (!disk) {
		/* Out of memory: the loaded one is all there is. */
		return true;
	}
	same = registry_read_record(
		   state_dir, rc->name, disk, msg, sizeof(msg)) == 0 &&
	    disk->root_mode == rc->root_mode && disk->version == rc->version &&
	    disk->next_version == rc->next_version &&
	    disk->previous_version == rc->previous_version &&
	    disk->canary == rc->canary &&
	    disk->health_timeout == rc->health_timeout &&
	    disk->moved_at == rc->moved_at && !strcmp(disk->image, rc->image) &&
	    !strcmp(disk->rollout, rc->rollout) &&
	    !strcmp(disk->rollout_state, rc->rollout_state);
	free(disk);
	return same;
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
