#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/dhcp/lease.h"

/* A log line is at most "B aa:bb:cc:dd:ee:ff 255.255.255.255 N\n". */
#define LEASE_LINE_MAX 96

static const struct dhcp_lease_io lease_io_libc = {
    .fsync = fsync,
    .fdatasync = fdatasync,
};

static size_t
lease_hash(const struct dhcp_leases *t, const uint8_t mac[6])
{
	uint32_t h = 2166136261u;
	int i;

	for (i = 0; i < 6; i++) {
		h = (h ^ mac[i]) * 16777619u;
	}
	return h & (t->nbucket - 1);
}

static void
lease_unlink(struct dhcp_leases *t, struct dhcp_slot *s)
{
	int32_t idx = (int32_t)(s - t->slot);
	int32_t *pp;

	if (!s->has_mac) {
		return;
	}
	pp = &t->bucket[lease_hash(t, s->mac)];
	while (*pp >= 0) {
		if (*pp == idx) {
			*pp = s->next;
			break;
		}
		pp = &t->slot[*pp].next;
	}
	s->next = -1;
	s->has_mac = false;
}

static void
lease_link(struct dhcp_leases *t, struct dhcp_slot *s, const uint8_t mac[6])
{
	size_t h = lease_hash(t, mac);

	memcpy(s->mac, mac, 6);
	s->has_mac = true;
	s->next = t->bucket[h];
	t->bucket[h] = (int32_t)(s - t->slot);
}

struct dhcp_slot *
dhcp_leases_find_mac(struct dhcp_leases *t, const uint8_t mac[6])
{
	int32_t i;

	if (!t->nbucket) {
		return NULL;
	}
	for (i = t->bucket[lease_hash(t, mac)]; i >= 0; i = t->slot[i].next) {
		if (memcmp(t->slot[i].mac, mac, 6) == 0) {
			return &t->slot[i];
		}
	}
	return NULL;
}

struct dhcp_slot *
dhcp_leases_find_addr(struct dhcp_leases *t, uint32_t addr)
{
	size_t i;

	if (addr - t->first < t->count) {
		return &t->slot[addr - t->first];
	}
	for (i = t->count; i < t->nslot; i++) {
		if (t->slot[i].addr == addr) {
			return &t->slot[i];
		}
	}
	return NULL;
}

bool
dhcp_slot_is_live(const struct dhcp_slot *s, int64_t now_wall)
{
	return s->state == DHCP_SLOT_BOUND && s->expire_wall > now_wall;
}

/* @s is no longer an unconfirmed on-offer binding. */
static void
lease_untentative(struct dhcp_leases *t, struct dhcp_slot *s)
{
	if (s->tentative) {
		s->tentative = false;
		t->tentative--;
	}
}

void
dhcp_leases_take(
    struct dhcp_leases *t, struct dhcp_slot *s, const uint8_t mac[6])
{
	struct dhcp_slot *old = dhcp_leases_find_mac(t, mac);

	if (old == s) {
		return;
	}
	lease_untentative(t, s);
	if (old) {
		lease_untentative(t, old);
		lease_unlink(t, old);
		if (old->state != DHCP_SLOT_DECLINED) {
			old->state = DHCP_SLOT_FREE;
		}
	}
	lease_unlink(t, s);
	lease_link(t, s, mac);
}

/* Can @s go to a new MAC, and how good a choice is it (lower is better)? */
static int
lease_rank(const struct dhcp_slot *s, uint64_t now_ms, int64_t now_wall)
{
	if (s->reserved) {
		return -1;
	}
	switch (s->state) {
	case DHCP_SLOT_FREE:
		return 0;
	case DHCP_SLOT_OFFERED:
		return s->until_ms <= now_ms ? 0 : 2;
	case DHCP_SLOT_RELEASED:
		return 1;
	case DHCP_SLOT_BOUND:
		return s->expire_wall <= now_wall ? 1 : -1;
	case DHCP_SLOT_DECLINED:
		return s->until_ms <= now_ms ? 1 : -1;
	}
	return -1;
}

struct dhcp_slot *
dhcp_leases_alloc(struct dhcp_leases *t, const uint8_t mac[6], uint64_t now_ms,
    int64_t now_wall)
{
	struct dhcp_slot *best = NULL;
	int best_rank = 3;
	uint32_t i;

	/*
	 * One pass from the round-robin cursor.  Offers are made in cursor
	 * order, so the first unexpired offer after the cursor is the
	 * oldest: under a DISCOVER flood it is the one to give away, which
	 * keeps real clients answered instead of starving them.
	 */
	for (i = 0; i < t->count && best_rank > 0; i++) {
		uint32_t k = (t->cursor + i) % t->count;
		int r = lease_rank(&t->slot[k], now_ms, now_wall);

		if (r >= 0 && r < best_rank) {
			best_rank = r;
			best = &t->slot[k];
		}
	}
	if (!best) {
		return NULL;
	}
	t->cursor = (uint32_t)(best - t->slot + 1) % t->count;
	if (best->state == DHCP_SLOT_BOUND) {
		/* An expired binding: write it off in the log as well. */
		(void)dhcp_leases_free(t, best, DHCP_SLOT_RELEASED);
	}
	dhcp_leases_take(t, best, mac);
	best->state = DHCP_SLOT_FREE;
	return best;
}

struct dhcp_slot *
dhcp_leases_reserve(struct dhcp_leases *t, const uint8_t mac[6], uint32_t addr)
{
	struct dhcp_slot *s = dhcp_leases_find_addr(t, addr);

	if (!s) {
		if (t->nslot == t->cap) {
			return NULL;
		}
		s = &t->slot[t->nslot++];
		*s = (struct dhcp_slot){.addr = addr, .next = -1};
	}
	if (s->has_mac && memcmp(s->mac, mac, 6) != 0 &&
	    s->state == DHCP_SLOT_BOUND) {
		(void)dhcp_leases_free(t, s, DHCP_SLOT_FREE);
	}
	dhcp_leases_take(t, s, mac);
	s->reserved = true;
	return s;
}

static int
lease_open_log(struct dhcp_leases *t)
{
	t->fd = open(t->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	return t->fd < 0 ? -errno : 0;
}

static int
lease_append(struct dhcp_leases *t, const char *line, size_t n)
{
	ssize_t w;

	t->records++;
	if (!t->path) {
		return 0;
	}
	if (t->fd < 0) {
		int r = lease_open_log(t);

		if (r < 0) {
			return r;
		}
	}
	w = write(t->fd, line, n);
	if (w < 0) {
		return -errno;
	}
	if ((size_t)w != n) {
		return -EIO;
	}
	t->dirty = true;
	return 0;
}

static int
lease_fmt(char *line, char kind, const struct dhcp_slot *s)
{
	return snprintf(line, LEASE_LINE_MAX,
	    "%c %02x:%02x:%02x:%02x:%02x:%02x %u.%u.%u.%u %lld\n", kind,
	    s->mac[0], s->mac[1], s->mac[2], s->mac[3], s->mac[4], s->mac[5],
	    s->addr >> 24, (s->addr >> 16) & 255, (s->addr >> 8) & 255,
	    s->addr & 255, (long long)s->expire_wall);
}

int
dhcp_leases_bind(
    struct dhcp_leases *t, struct dhcp_slot *s, int64_t expire_wall)
{
	char line[LEASE_LINE_MAX];

	lease_untentative(t, s);
	if (s->state != DHCP_SLOT_BOUND) {
		t->live++;
	}
	s->state = DHCP_SLOT_BOUND;
	s->expire_wall = expire_wall;
	return lease_append(t, line, (size_t)lease_fmt(line, 'B', s));
}

int
dhcp_leases_bind_tentative(
    struct dhcp_leases *t, struct dhcp_slot *s, int64_t expire_wall)
{
	int r = dhcp_leases_bind(t, s, expire_wall);

	s->tentative = true;
	t->tentative++;
	return r;
}

void
dhcp_leases_expire_tentative(struct dhcp_leases *t, int64_t now_wall,
    void (*fn)(void *arg, struct dhcp_slot *s), void *arg)
{
	size_t i;

	for (i = 0; i < t->nslot && t->tentative; i++) {
		struct dhcp_slot *s = &t->slot[i];

		if (s->tentative && s->expire_wall <= now_wall) {
			fn(arg, s);
			lease_untentative(t, s);
		}
	}
}

int
dhcp_leases_free(struct dhcp_leases *t, struct dhcp_slot *s, uint8_t state)
{
	char line[LEASE_LINE_MAX];
	bool was_bound = s->state == DHCP_SLOT_BOUND;

	int r = 0;

	if (was_bound && t->live) {
		t->live--;
	}
	lease_untentative(t, s);
	s->state = state;
	if (was_bound && s->has_mac) {
		r = lease_append(t, line, (size_t)lease_fmt(line, 'F', s));
	}
	if (state == DHCP_SLOT_DECLINED || state == DHCP_SLOT_FREE) {
		/* Someone else holds it (or will): no MAC keeps a claim. */
		lease_unlink(t, s);
	}
	return r;
}

/* Apply one log line; malformed lines are skipped. */
static void
lease_replay(struct dhcp_leases *t, const char *line, int64_t now_wall)
{
	unsigned m[6], a[4];
	long long exp;
	char kind;
	uint8_t mac[6];
	uint32_t addr;
	struct dhcp_slot *s;
	int i;

	if (sscanf(line, "%c %x:%x:%x:%x:%x:%x %u.%u.%u.%u %lld", &kind, &m[0],
		&m[1], &m[2], &m[3], &m[4], &m[5], &a[0], &a[1], &a[2], &a[3],
		&exp) != 12) {
		return;
	}
	for (i = 0; i < 6; i++) {
		if (m[i] > 255) {
			return;
		}
		mac[i] = (uint8_t)m[i];
	}
	for (i = 0; i < 4; i++) {
		if (a[i] > 255) {
			return;
		}
	}
	addr = a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3];
	/* Only pool addresses; reservations are fed in after start. */
	if (addr - t->first >= t->count) {
		return;
	}
	s = &t->slot[addr - t->first];
	t->records++;
	if (kind == 'B') {
		if (s->state == DHCP_SLOT_BOUND && s->has_mac &&
		    memcmp(s->mac, mac, 6) != 0 && t->live) {
			t->live--;
		}
		dhcp_leases_take(t, s, mac);
		if (exp > now_wall) {
			if (s->state != DHCP_SLOT_BOUND) {
				t->live++;
			}
			s->state = DHCP_SLOT_BOUND;
		} else {
			s->state = DHCP_SLOT_RELEASED;
		}
		s->expire_wall = exp;
	} else if (kind == 'F' &&
	    (!s->has_mac || memcmp(s->mac, mac, 6) == 0)) {
		/* Released: the MAC keeps its claim until the pool needs it. */
		if (s->state == DHCP_SLOT_BOUND && t->live) {
			t->live--;
		}
		dhcp_leases_take(t, s, mac);
		s->state = DHCP_SLOT_RELEASED;
	}
}

static int
lease_load(struct dhcp_leases *t, int64_t now_wall)
{
	FILE *f = fopen(t->path, "re");
	char line[LEASE_LINE_MAX + 2];
	off_t good = 0;

	if (!f) {
		return errno == ENOENT ? 0 : -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);

		if (n == 0 || line[n - 1] != '\n') {
			/* A torn last line from a crash, or garbage. */
			break;
		}
		good += (off_t)n;
		lease_replay(t, line, now_wall);
	}
	fclose(f);
	/*
	 * Cut a torn tail so the next append starts on a fresh line.  The
	 * torn line was never synced, so no reply depended on it.
	 */
	if (truncate(t->path, good) < 0) {
		return -errno;
	}
	return 0;
}

int
dhcp_leases_init(struct dhcp_leases *t, uint32_t first, uint32_t last,
    const char *path, int64_t now_wall)
{
	uint64_t n = (uint64_t)last - first + 1;
	size_t i;
	int r;

	*t = (struct dhcp_leases){.fd = -1, .io = &lease_io_libc};
	if (last < first || n > DHCP_POOL_MAX) {
		return -EMSGSIZE;
	}
	t->first = first;
	t->count = (uint32_t)n;
	t->cap = t->count + DHCP_RESERVE_MAX;
	t->nslot = t->count;
	for (t->nbucket = 64; t->nbucket < 2 * t->cap; t->nbucket *= 2) {
	}
	t->slot = calloc(t->cap, sizeof(*t->slot));
	t->bucket = malloc(t->nbucket * sizeof(*t->bucket));
	if (!t->slot || !t->bucket) {
		r = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < t->nbucket; i++) {
		t->bucket[i] = -1;
	}
	for (i = 0; i < t->count; i++) {
		t->slot[i] =
		    (struct dhcp_slot){.addr = first + (uint32_t)i, .next = -1};
	}
	if (path) {
		t->path = strdup(path);
		if (!t->path) {
			r = -ENOMEM;
			goto fail;
		}
		r = lease_load(t, now_wall);
		if (r < 0) {
			goto fail;
		}
		r = lease_open_log(t);
		if (r < 0) {
			goto fail;
		}
	}
	return 0;
fail:
	dhcp_leases_fini(t);
	return r;
}

void
dhcp_leases_fini(struct dhcp_leases *t)
{
	if (t->fd >= 0) {
		close(t->fd);
	}
	free(t->slot);
	free(t->bucket);
	free(t->path);
	*t = (struct dhcp_leases){.fd = -1};
}

static int
lease_fsync_dir(const struct dhcp_leases *t)
{
	char *copy = strdup(t->path);
	int fd, r = 0;

	if (!copy) {
		return -ENOMEM;
	}
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || t->io->fsync(fd) < 0) {
		r = -errno;
	}
	if (fd >= 0) {
		close(fd);
	}
	free(copy);
	return r;
}

/* Rewrite the log with one line per remembered binding. */
static int
lease_compact(struct dhcp_leases *t)
{
	char tmp[4096], line[LEASE_LINE_MAX];
	size_t i, n = 0;
	int fd, r = 0;
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", t->path) >= (int)sizeof(tmp)) {
		return -ENAMETOOLONG;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		return -errno;
	}
	f = fdopen(fd, "w");
	if (!f) {
		r = -errno;
		close(fd);
		goto out;
	}
	for (i = 0; i < t->nslot; i++) {
		const struct dhcp_slot *s = &t->slot[i];

		if (s->has_mac &&
		    (s->state == DHCP_SLOT_BOUND ||
			s->state == DHCP_SLOT_RELEASED)) {
			lease_fmt(
			    line, s->state == DHCP_SLOT_BOUND ? 'B' : 'F', s);
			fputs(line, f);
			n++;
		}
	}
	if (fflush(f) != 0 || t->io->fsync(fileno(f)) < 0) {
		r = -errno;
		fclose(f);
		goto out;
	}
	if (fclose(f) != 0) {
		r = -errno;
		goto out;
	}
	if (rename(tmp, t->path) < 0) {
		r = -errno;
		goto out;
	}
	/*
	 * From here on the path names the new file, so appends must go
	 * there whatever happens to the directory fsync: the old descriptor
	 * now writes into an unlinked file that no restart would read.
	 */
	close(t->fd);
	t->fd = -1;
	t->records = n;
	t->dir_unsynced = true;
	r = lease_open_log(t);
	if (r < 0) {
		return r;
	}
	/*
	 * The lines synced before this compaction are in both files, so a
	 * crash loses none of them whichever name the directory keeps; only
	 * lines appended from now on need the rename to be durable, and
	 * dhcp_leases_sync() retries the directory before it vouches for
	 * them.
	 */
	if (lease_fsync_dir(t) == 0) {
		t->dir_unsynced = false;
	}
	return 0;
out:
	unlink(tmp);
	return r;
}

int
dhcp_leases_sync(struct dhcp_leases *t)
{
	int r;

	if (!t->path) {
		return 0;
	}
	if (t->fd < 0) {
		/* A reopen after compaction failed: try again. */
		r = lease_open_log(t);
		if (r < 0) {
			return r;
		}
	}
	if (t->dirty) {
		if (t->io->fdatasync(t->fd) < 0) {
			return -errno;
		}
		t->dirty = false;
	}
	if (t->dir_unsynced) {
		r = lease_fsync_dir(t);
		if (r < 0) {
			return r;
		}
		t->dir_unsynced = false;
	}
	if (t->records > 4 * t->live + 1024) {
		return lease_compact(t);
	}
	return 0;
}
