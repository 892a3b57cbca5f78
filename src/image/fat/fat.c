#include <errno.h>
#include <string.h>

#include "core/cur.h"
#include "core/err.h"
#include "image/fat/fat.h"

int
fat_parse_bpb(
    const uint8_t *s, size_t len, uint64_t dev_size, struct fat_vol *v)
{
	struct cur c = cur_init(s, len);
	uint32_t bps, spc, reserved, nfats, root_entries, total, fatsz;
	uint32_t fatsz16, total16, root_secs, first_data, clusters;
	uint32_t root_cluster = 0;
	const uint8_t *label = NULL;

	cur_skip(&c, 11);
	bps = cur_le16(&c);
	spc = cur_u8(&c);
	reserved = cur_le16(&c);
	nfats = cur_u8(&c);
	root_entries = cur_le16(&c);
	total16 = cur_le16(&c);
	cur_skip(&c, 1);
	fatsz16 = cur_le16(&c);
	cur_skip(&c, 8);
	total = cur_le32(&c);
	fatsz = fatsz16;
	if (fatsz16 == 0) {
		fatsz = cur_le32(&c);
		cur_skip(&c, 4);
		root_cluster = cur_le32(&c);
		cur_skip(&c, 23);
		label = cur_bytes(&c, 11);
	} else {
		cur_skip(&c, 7);
		label = cur_bytes(&c, 11);
	}
	if (c.err) {
		return c.err;
	}
	if (total16 != 0) {
		total = total16;
	}
	if ((bps != 512 && bps != 1024 && bps != 2048 && bps != 4096) ||
	    spc == 0 || (spc & (spc - 1)) != 0 || bps * spc > 65536 ||
	    reserved == 0 || nfats == 0 || nfats > 4 || fatsz == 0) {
		return -PNB_EFAT_BPB;
	}
	root_secs = (root_entries * 32 + bps - 1) / bps;
	if ((uint64_t)reserved + (uint64_t)nfats * fatsz + root_secs >= total) {
		return -PNB_EFAT_BPB;
	}
	first_data = reserved + nfats * fatsz + root_secs;
	clusters = (total - first_data) / spc;
	if ((uint64_t)total * bps > dev_size || clusters == 0) {
		return -PNB_EFAT_BPB;
	}
	memset(v, 0, sizeof(*v));
	/* Microsoft FAT spec: the cluster count alone picks the type. */
	v->type = clusters < 4085 ? 12 : clusters < 65525 ? 16 : 32;
	if ((v->type == 32) != (fatsz16 == 0) ||
	    (v->type == 32 && root_entries != 0) ||
	    (v->type != 32 && root_entries == 0)) {
		return -PNB_EFAT_BPB;
	}
	/* The FAT must have an entry for every cluster (plus 0 and 1). */
	if ((uint64_t)fatsz * bps * 8 / (v->type == 32 ? 32 : v->type) <
	    (uint64_t)clusters + 2) {
		return -PNB_EFAT_BPB;
	}
	if (v->type == 32 &&
	    (root_cluster < 2 || root_cluster > clusters + 1)) {
		return -PNB_EFAT_BPB;
	}
	v->sector_size = bps;
	v->cluster_size = bps * spc;
	v->fat_off = (uint64_t)reserved * bps;
	v->fat_len = (uint64_t)fatsz * bps;
	v->root_off = ((uint64_t)reserved + (uint64_t)nfats * fatsz) * bps;
	v->root_entries = root_entries;
	v->root_cluster = root_cluster;
	v->data_off = (uint64_t)first_data * bps;
	v->nclusters = clusters;
	memcpy(v->label, label, 11);
	v->label[11] = '\0';
	return 0;
}

int
fat_open(struct fat_vol *v, const struct blk *dev)
{
	uint8_t sec[512];
	int r;

	r = blk_read(dev, 0, sec, sizeof(sec));
	if (r < 0) {
		return r;
	}
	r = fat_parse_bpb(sec, sizeof(sec), dev->size, v);
	if (r < 0) {
		return r;
	}
	v->dev = dev;
	return 0;
}

/* Read the FAT entry of cluster @n (already range-checked). */
static int
fat_get(struct fat_vol *v, uint32_t n, uint32_t *next)
{
	uint64_t off, sec;
	size_t in;
	uint8_t b[4];
	int r;

	if (v->type == 12) {
		off = (uint64_t)n + n / 2;
	} else {
		off = (uint64_t)n * (v->type / 8);
	}
	sec = off / v->sector_size * v->sector_size;
	in = (size_t)(off - sec);
	if (v->type == 12 && in + 2 > v->sector_size) {
		/* A FAT12 entry straddling two sectors. */
		r = blk_read(v->dev, v->fat_off + off, b, 2);
		if (r < 0) {
			return r;
		}
	} else {
		if (!v->cache_ok || v->cache_off != sec) {
			v->cache_ok = false;
			r = blk_read(
			    v->dev, v->fat_off + sec, v->cache, v->sector_size);
			if (r < 0) {
				return r;
			}
			v->cache_ok = true;
			v->cache_off = sec;
		}
		memcpy(b, v->cache + in, v->type / 8 == 4 ? 4 : 2);
	}
	if (v->type == 12) {
		uint32_t w = b[0] | (uint32_t)b[1] << 8;

		*next = (n & 1) ? w >> 4 : w & 0xfff;
	} else if (v->type == 16) {
		*next = b[0] | (uint32_t)b[1] << 8;
	} else {
		*next = (b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
			    (uint32_t)b[3] << 24) &
		    0x0fffffff;
	}
	return 0;
}

static bool
fat_is_eoc(const struct fat_vol *v, uint32_t n)
{
	uint32_t eoc = v->type == 12 ? 0xff8
	    : v->type == 16          ? 0xfff8
				     : 0x0ffffff8;

	return n >= eoc;
}

static bool
fat_in_range(const struct fat_vol *v, uint32_t n)
{
	return n >= 2 && n - 2 < v->nclusters;
}

/*
 * Chain walker with Brent's cycle detection: every power-of-two steps the
 * current cluster is remembered, and meeting it again means a loop.
 */
struct fat_chain {
	uint32_t cur, saved, power, lam;
	uint64_t steps;
};

static void
fat_chain_init(struct fat_chain *ch, uint32_t first)
{
	*ch = (struct fat_chain){
	    .cur = first, .saved = first, .power = 1, .lam = 0};
}

/* Return 1 and advance, 0 at the end of the chain, or an error. */
static int
fat_chain_next(struct fat_vol *v, struct fat_chain *ch)
{
	uint32_t next;
	int r;

	r = fat_get(v, ch->cur, &next);
	if (r < 0) {
		return r;
	}
	if (fat_is_eoc(v, next)) {
		return 0;
	}
	if (!fat_in_range(v, next)) {
		return -PNB_EFAT_RANGE;
	}
	if (next == ch->saved || ++ch->steps > v->nclusters) {
		return -PNB_EFAT_LOOP;
	}
	if (++ch->lam == ch->power) {
		ch->saved = next;
		ch->power *= 2;
		ch->lam = 0;
	}
	ch->cur = next;
	return 1;
}

static uint64_t
fat_cluster_off(const struct fat_vol *v, uint32_t n)
{
	return v->data_off + (uint64_t)(n - 2) * v->cluster_size;
}

/* Long-name state for one directory iteration. */
struct fat_lfn {
	uint16_t u[20 * 13];
	unsigned expect; /* next sequence number wanted, 0: none pending */
	unsigned count;
	uint8_t sum;
};

static void
fat_utf8_put(char *out, size_t *o, uint32_t cp)
{
	if (cp < 0x80) {
		out[(*o)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*o)++] = (char)(0xc0 | cp >> 6);
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		out[(*o)++] = (char)(0xe0 | cp >> 12);
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	} else {
		out[(*o)++] = (char)(0xf0 | cp >> 18);
		out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	}
}

/* UCS-2/UTF-16 long name to UTF-8; -PNB_ENAME for '/' or NUL inside. */
static int
fat_lfn_name(const struct fat_lfn *l, char *out)
{
	size_t i, o = 0, n = (size_t)l->count * 13;

	for (i = 0; i < n; i++) {
		uint32_t cp = l->u[i];

		if (cp == 0 || cp == 0xffff) {
			break;
		}
		if (cp == '/') {
			return -PNB_ENAME;
		}
		if (cp >= 0xd800 && cp < 0xdc00 && i + 1 < n &&
		    l->u[i + 1] >= 0xdc00 && l->u[i + 1] < 0xe000) {
			cp = 0x10000 + ((cp - 0xd800) << 10) +
			    (l->u[i + 1] - 0xdc00);
			i++;
		} else if (cp >= 0xd800 && cp < 0xe000) {
			cp = 0xfffd;
		}
		fat_utf8_put(out, &o, cp);
	}
	out[o] = '\0';
	return 0;
}

static uint8_t
fat_short_sum(const uint8_t *name)
{
	uint8_t sum = 0;
	int i;

	for (i = 0; i < 11; i++) {
		sum = (uint8_t)(((sum & 1) << 7) + (sum >> 1) + name[i]);
	}
	return sum;
}

static void
fat_short_name(const uint8_t *raw, uint8_t ntres, char *out)
{
	size_t o = 0;
	int i, end;

	for (end = 8; end > 0 && raw[end - 1] == ' '; end--) {
	}
	for (i = 0; i < end; i++) {
		uint8_t ch = (i == 0 && raw[0] == 0x05) ? 0xe5 : raw[i];

		if ((ntres & 0x08) && ch >= 'A' && ch <= 'Z') {
			ch = (uint8_t)(ch + 32);
		}
		out[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '_';
	}
	for (end = 11; end > 8 && raw[end - 1] == ' '; end--) {
	}
	if (end > 8) {
		out[o++] = '.';
	}
	for (i = 8; i < end; i++) {
		uint8_t ch = raw[i];

		if ((ntres & 0x10) && ch >= 'A' && ch <= 'Z') {
			ch = (uint8_t)(ch + 32);
		}
		out[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '_';
	}
	out[o] = '\0';
}

/* Feed one long-name slot; slots come last-first (ord 0x40 marks it). */
static void
fat_lfn_add(struct fat_lfn *l, const uint8_t *d)
{
	static const uint8_t pos[13] = {
	    1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};
	unsigned ord = d[0] & 0x1f, i;

	if (d[0] & 0x40) {
		l->expect = ord;
		l->count = ord;
		l->sum = d[13];
	}
	if (ord == 0 || ord > 20 || ord != l->expect || d[13] != l->sum) {
		l->expect = 0;
		return;
	}
	for (i = 0; i < 13; i++) {
		l->u[(ord - 1) * 13 + i] =
		    (uint16_t)(d[pos[i]] | d[pos[i] + 1] << 8);
	}
	l->expect = ord - 1;
	if (l->expect == 0) {
		l->expect = 0x100; /* complete: waiting for the short entry */
	}
}

/*
 * Decode one 32-byte entry.  Return 1 with @e filled for a visible entry,
 * 0 to skip it, 2 at the end-of-directory marker, or an error.
 */
static int
fat_entry(const uint8_t *d, struct fat_lfn *l, bool subdir, uint32_t index,
    struct fat_dirent *e)
{
	struct cur c = cur_init(d, 32);
	uint16_t hi, lo;
	int r;

	if (d[0] == 0) {
		return 2;
	}
	if (d[0] == 0xe5) {
		l->expect = 0;
		return 0;
	}
	if ((d[11] & 0x3f) == FAT_ATTR_LFN) {
		fat_lfn_add(l, d);
		return 0;
	}
	if (d[11] & FAT_ATTR_VOLUME) {
		l->expect = 0;
		return 0;
	}
	memset(e, 0, sizeof(*e));
	cur_skip(&c, 11);
	e->attr = cur_u8(&c);
	cur_skip(&c, 1);
	e->ctenth = cur_u8(&c);
	e->ctime = cur_le16(&c);
	e->cdate = cur_le16(&c);
	e->adate = cur_le16(&c);
	hi = cur_le16(&c);
	e->wtime = cur_le16(&c);
	e->wdate = cur_le16(&c);
	lo = cur_le16(&c);
	e->size = cur_le32(&c);
	if (c.err) {
		return c.err;
	}
	e->cluster = (uint32_t)hi << 16 | lo;
	if (l->expect == 0x100 && l->sum == fat_short_sum(d)) {
		r = fat_lfn_name(l, e->name);
		l->expect = 0;
		if (r < 0) {
			return r;
		}
	} else {
		l->expect = 0;
		fat_short_name(d, d[12], e->name);
	}
	if (!strcmp(e->name, ".") || !strcmp(e->name, "..")) {
		/* The two dot entries open every subdirectory, nowhere else. */
		if (subdir && index < 2 && d[0] == '.') {
			return 0;
		}
		return -PNB_ENAME;
	}
	if (e->name[0] == '\0') {
		return -PNB_ENAME;
	}
	return 1;
}

int
fat_dir_iter(struct fat_vol *v, const struct fat_dirent *dir,
    int (*cb)(void *arg, const struct fat_dirent *e), void *arg)
{
	struct fat_lfn lfn = {.expect = 0};
	struct fat_dirent e;
	struct fat_chain ch;
	uint8_t d[32];
	uint32_t index = 0, per = v->cluster_size / 32, in = 0;
	uint32_t first;
	bool fixed;
	int r;

	first = dir ? dir->cluster : (v->type == 32 ? v->root_cluster : 0);
	fixed = first == 0;
	if (fixed && dir) {
		return -PNB_EFAT_RANGE;
	}
	if (!fixed && !fat_in_range(v, first)) {
		return -PNB_EFAT_RANGE;
	}
	if (!fixed) {
		fat_chain_init(&ch, first);
	}
	for (;;) {
		uint64_t off;

		if (fixed) {
			if (index >= v->root_entries) {
				return 0;
			}
			off = v->root_off + (uint64_t)index * 32;
		} else {
			if (in == per) {
				r = fat_chain_next(v, &ch);
				if (r <= 0) {
					return r;
				}
				in = 0;
			}
			off = fat_cluster_off(v, ch.cur) + (uint64_t)in * 32;
			in++;
		}
		if (index >= FAT_DIR_MAX_ENTRIES) {
			return -EMSGSIZE;
		}
		r = blk_read(v->dev, off, d, sizeof(d));
		if (r < 0) {
			return r;
		}
		r = fat_entry(d, &lfn, dir != NULL, index++, &e);
		if (r == 2) {
			return 0;
		}
		if (r < 0) {
			return r;
		}
		if (r == 1) {
			r = cb(arg, &e);
			if (r != 0) {
				return r;
			}
		}
	}
}

int
fat_read_file(struct fat_vol *v, const struct fat_dirent *e, uint8_t *buf,
    size_t buflen, int (*sink)(void *arg, const uint8_t *p, size_t n),
    void *arg)
{
	struct fat_chain ch;
	uint64_t left = e->size;
	uint32_t run_start, run_len;
	size_t per;
	int r;

	if (buflen < v->cluster_size) {
		return -EINVAL;
	}
	if (e->size == 0) {
		return 0;
	}
	if (!fat_in_range(v, e->cluster) ||
	    (e->size - 1) / v->cluster_size >= v->nclusters) {
		return -PNB_EFAT_RANGE;
	}
	per = buflen / v->cluster_size;
	fat_chain_init(&ch, e->cluster);
	run_start = e->cluster;
	run_len = 1;
	for (;;) {
		bool last = (uint64_t)run_len * v->cluster_size >= left;
		bool flush = last || run_len == per;
		uint32_t prev = ch.cur;

		if (!last) {
			r = fat_chain_next(v, &ch);
			if (r < 0) {
				return r;
			}
			if (r == 0) {
				return -EBADMSG;
			}
			/* Extend a contiguous run without flushing. */
			if (!flush && ch.cur == prev + 1) {
				run_len++;
				continue;
			}
		}
		{
			size_t n = (size_t)run_len * v->cluster_size;

			if (n > left) {
				n = (size_t)left;
			}
			r = blk_read(
			    v->dev, fat_cluster_off(v, run_start), buf, n);
			if (r < 0) {
				return r;
			}
			r = sink(arg, buf, n);
			if (r < 0) {
				return r;
			}
			left -= n;
		}
		if (left == 0) {
			break;
		}
		run_start = ch.cur;
		run_len = 1;
	}
	/* The rest of the chain must end; a loop there is still damage. */
	do {
		r = fat_chain_next(v, &ch);
	} while (r == 1);
	return r;
}

struct fat_walk_ctx {
	struct fat_vol *v;
	const struct fat_visitor *vis;
	uint32_t stack[FAT_DEPTH_MAX + 1];
	unsigned depth;
	uint32_t visited;
};

static int fat_walk_dir(struct fat_walk_ctx *w, const struct fat_dirent *d);

static int
fat_walk_cb(void *arg, const struct fat_dirent *e)
{
	struct fat_walk_ctx *w = arg;
	unsigned i;
	int r;

	if (++w->visited > FAT_WALK_MAX_ENTRIES) {
		return -EMSGSIZE;
	}
	if (!(e->attr & FAT_ATTR_DIR)) {
		return w->vis->file(w->vis->arg, w->depth + 1, e);
	}
	/* Cluster 0 means the root in a ".." entry; here it is a loop. */
	r = e->cluster == 0 ? -PNB_EDIR_LOOP : 0;
	for (i = 0; r == 0 && i <= w->depth; i++) {
		if (w->stack[i] == e->cluster) {
			r = -PNB_EDIR_LOOP;
		}
	}
	if (r == 0 && w->depth >= FAT_DEPTH_MAX) {
		r = -EMSGSIZE;
	}
	if (r < 0) {
		if (w->vis->reject) {
			w->vis->reject(w->vis->arg, e, r);
		}
		return r;
	}
	r = w->vis->enter(w->vis->arg, w->depth + 1, e);
	if (r < 0) {
		return r;
	}
	w->stack[++w->depth] = e->cluster;
	r = fat_walk_dir(w, e);
	w->depth--;
	if (r < 0) {
		return r;
	}
	return w->vis->leave(w->vis->arg, w->depth + 1, e);
}

static int
fat_walk_dir(struct fat_walk_ctx *w, const struct fat_dirent *d)
{
	return fat_dir_iter(w->v, d, fat_walk_cb, w);
}

int
fat_walk(struct fat_vol *v, const struct fat_visitor *vis)
{
	struct fat_walk_ctx w = {.v = v, .vis = vis};

	w.stack[0] = v->type == 32 ? v->root_cluster : 0;
	return fat_walk_dir(&w, NULL);
}

int64_t
fat_time(uint16_t date, uint16_t time)
{
	int y = 1980 + (date >> 9), m = (date >> 5) & 15, d = date & 31;
	int hh = time >> 11, mm = (time >> 5) & 63, ss = (time & 31) * 2;
	int64_t days;

	if (m < 1 || m > 12) {
		m = 1;
	}
	if (d < 1) {
		d = 1;
	}
	/* Days from civil (Howard Hinnant's algorithm), proleptic UTC. */
	y -= m <= 2;
	{
		int era = y / 400, yoe = y - era * 400;
		int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
		int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

		days = (int64_t)era * 146097 + doe - 719468;
	}
	return days * 86400 + hh * 3600 + mm * 60 + ss;
}
