#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "server/obs.h"

/* A boot that has shown nothing for this long is over. */
#define OBS_BOOT_QUIET_MS 60000

static const char *const obs_state_names[] = {
    [OBS_STATE_DISCOVERED] = "discovered",
    [OBS_STATE_IDLE] = "idle",
    [OBS_STATE_DHCP] = "dhcp",
    [OBS_STATE_TFTP] = "tftp",
    [OBS_STATE_NFS] = "booted",
    [OBS_STATE_FAILED] = "failed",
};

static const char *const obs_phase_names[] = {"dhcp", "tftp", "nfs"};
static const char *const obs_level_names[] = {"ok", "info", "warn", "error"};

/* RFC 1813 procedure numbers 0..21, for metric labels. */
static const char *const obs_nfs_proc_names[OBS_NFS_PROCS] = {"null", "getattr",
    "setattr", "lookup", "access", "readlink", "read", "write", "create",
    "mkdir", "symlink", "mknod", "remove", "rmdir", "rename", "link", "readdir",
    "readdirplus", "fsstat", "fsinfo", "pathconf", "commit"};

const char *
obs_state_name(enum obs_state s)
{
	return (unsigned)s <= OBS_STATE_FAILED ? obs_state_names[s] : "?";
}

const char *
obs_phase_name(enum obs_phase p)
{
	return (unsigned)p < OBS_NPHASES ? obs_phase_names[p] : "?";
}

const char *
obs_level_name(enum obs_level l)
{
	return (unsigned)l <= OBS_ERROR ? obs_level_names[l] : "?";
}

char *
obs_format_mac(char *dst, const uint8_t mac[6])
{
	snprintf(dst, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
	    mac[2], mac[3], mac[4], mac[5]);
	return dst;
}

struct obs *
obs_new(size_t max_clients, int64_t now_ms)
{
	struct obs *o = calloc(1, sizeof(*o));

	if (!o) {
		return NULL;
	}
	o->clients = calloc(max_clients, sizeof(*o->clients));
	if (!o->clients) {
		free(o);
		return NULL;
	}
	o->max_clients = max_clients;
	o->started_ms = now_ms;
	return o;
}

void
obs_free(struct obs *o)
{
	size_t i;

	if (!o) {
		return;
	}
	for (i = 0; i < o->nclients; i++) {
		free(o->clients[i].events);
	}
	free(o->clients);
	free(o);
}

struct obs_client *
obs_find_mac(struct obs *o, const uint8_t mac[6])
{
	size_t i;

	for (i = 0; i < o->nclients; i++) {
		if (o->clients[i].has_mac &&
		    memcmp(o->clients[i].mac, mac, 6) == 0) {
			return &o->clients[i];
		}
	}
	return NULL;
}

struct obs_client *
obs_find_ip(struct obs *o, struct in_addr ip)
{
	size_t i;

	if (ip.s_addr == 0) {
		return NULL;
	}
	for (i = 0; i < o->nclients; i++) {
		if (o->clients[i].ip.s_addr == ip.s_addr) {
			return &o->clients[i];
		}
	}
	return NULL;
}

struct obs_client *
obs_find_name(struct obs *o, const char *name)
{
	size_t i;

	for (i = 0; i < o->nclients; i++) {
		if (o->clients[i].name[0] &&
		    !strcmp(o->clients[i].name, name)) {
			return &o->clients[i];
		}
	}
	return NULL;
}

/*
 * A slot for a new client: a free one, else the stranger seen least
 * recently.  Provisioned clients are never evicted, so a flood of random
 * MACs cannot push a real client out of the status view.
 */
static struct obs_client *
obs_alloc(struct obs *o)
{
	struct obs_client *victim = NULL;
	size_t i;

	if (o->nclients < o->max_clients) {
		struct obs_client *c = &o->clients[o->nclients++];

		memset(c, 0, sizeof(*c));
		return c;
	}
	for (i = 0; i < o->nclients; i++) {
		struct obs_client *c = &o->clients[i];

		if (c->name[0]) {
			continue;
		}
		if (!victim || c->last_seen_ms < victim->last_seen_ms) {
			victim = c;
		}
	}
	if (victim) {
		free(victim->events);
		memset(victim, 0, sizeof(*victim));
	}
	return victim;
}

struct obs_client *
obs_provision(struct obs *o, const char *name, const uint8_t mac[6],
    const char *serial, struct in_addr ip)
{
	struct obs_client *c = obs_find_name(o, name);

	if (!c && mac) {
		c = obs_find_mac(o, mac);
	}
	if (!c && ip.s_addr) {
		c = obs_find_ip(o, ip);
	}
	if (!c) {
		c = obs_alloc(o);
		if (!c) {
			return NULL;
		}
		c->state = OBS_STATE_IDLE;
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	if (mac) {
		memcpy(c->mac, mac, 6);
		c->has_mac = true;
	}
	if (serial && *serial) {
		snprintf(c->serial, sizeof(c->serial), "%s", serial);
	}
	if (ip.s_addr) {
		c->ip = ip;
	}
	if (c->state == OBS_STATE_DISCOVERED) {
		c->state = OBS_STATE_IDLE;
	}
	return c;
}

static void obs_keep_printable(char *detail, size_t cap);

void
obs_set_version(struct obs *o, const char *name, const char *version,
    const char *rollout_state, const char *rollback_reason)
{
	struct obs_client *c = obs_find_name(o, name);

	if (!c) {
		return;
	}
	snprintf(c->version, sizeof(c->version), "%s", version);
	snprintf(
	    c->rollout_state, sizeof(c->rollout_state), "%s", rollout_state);
	snprintf(c->rollback_reason, sizeof(c->rollback_reason), "%s",
	    rollback_reason);
	obs_keep_printable(c->rollback_reason, sizeof(c->rollback_reason));
}

void
obs_forget_provisioned(struct obs *o)
{
	size_t i;

	for (i = 0; i < o->nclients; i++) {
		o->clients[i].name[0] = 0;
		o->clients[i].version[0] = 0;
		if (o->clients[i].state == OBS_STATE_IDLE) {
			o->clients[i].state = OBS_STATE_DISCOVERED;
		}
	}
}

static void
obs_new_boot(struct obs_client *c, int64_t now_ms)
{
	c->boot_start_ms = now_ms;
	c->boot_done_ms = 0;
	c->nevents = 0;
	c->last_error[0] = 0;
	c->boots++;
}

struct obs_client *
obs_dhcp_seen(struct obs *o, const uint8_t mac[6], const char *serial,
    const char *model, int64_t now_ms)
{
	struct obs_client *c = obs_find_mac(o, mac);

	if (!c) {
		c = obs_alloc(o);
		if (!c) {
			return NULL;
		}
		memcpy(c->mac, mac, 6);
		c->has_mac = true;
		c->state = OBS_STATE_DISCOVERED;
		c->first_seen_ms = now_ms;
	}
	if (!c->first_seen_ms) {
		c->first_seen_ms = now_ms;
	}
	if (c->boot_start_ms == 0 || c->boot_done_ms != 0 ||
	    now_ms - c->last_seen_ms > OBS_BOOT_QUIET_MS) {
		obs_new_boot(c, now_ms);
	}
	c->last_seen_ms = now_ms;
	if (serial && *serial) {
		snprintf(c->serial, sizeof(c->serial), "%s", serial);
	}
	if (model && *model) {
		snprintf(c->model, sizeof(c->model), "%s", model);
	}
	if (c->name[0]) {
		c->state = OBS_STATE_DHCP;
	}
	return c;
}

/*
 * @ip belongs to @c now.  An address seen before its owner was known (a
 * TFTP request before the DHCP reply was matched) has its own entry:
 * merge it into @c.
 */
static void
obs_bind(struct obs *o, struct obs_client *c, struct in_addr ip)
{
	struct obs_client *other = obs_find_ip(o, ip);

	if (other && other != c) {
		if (!other->has_mac && !other->name[0]) {
			size_t ci = (size_t)(c - o->clients);

			free(other->events);
			*other = o->clients[--o->nclients];
			if (ci == o->nclients) {
				c = other;
			}
		} else {
			other->ip.s_addr = 0;
		}
	}
	c->ip = ip;
}

void
obs_bind_ip(struct obs *o, const uint8_t mac[6], struct in_addr ip)
{
	struct obs_client *c = obs_find_mac(o, mac);

	if (c) {
		obs_bind(o, c, ip);
	}
}

void
obs_bind_ip_name(struct obs *o, const char *name, struct in_addr ip)
{
	struct obs_client *c = obs_find_name(o, name);

	if (c) {
		obs_bind(o, c, ip);
	}
}

static struct obs_event *
obs_push(struct obs_client *c)
{
	size_t limit = c->name[0] ? OBS_EVENTS_MAX : OBS_STRANGER_EVENTS_MAX;

	if (c->nevents >= limit) {
		return &c->events[limit - 1];
	}
	if (c->nevents == c->events_cap) {
		size_t cap = c->events_cap ? c->events_cap * 2 : 8;
		struct obs_event *p;

		if (cap > limit) {
			cap = limit;
		}
		p = realloc(c->events, cap * sizeof(*p));
		if (!p) {
			return NULL;
		}
		c->events = p;
		c->events_cap = cap;
	}
	return &c->events[c->nevents++];
}

/*
 * Callers build details from wire strings passed through log_escape().
 * A detail that still holds a byte outside printable ASCII (a terminal
 * control sequence, a C1 control in 8-bit terminals) came from a caller
 * that forgot: escape it whole rather than let it reach a terminal.
 */
static void
obs_keep_printable(char *detail, size_t cap)
{
	char esc[LOG_ESCAPE_MAX];
	size_t i, n = strlen(detail);

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)detail[i];

		if (ch < 0x20 || ch >= 0x7f) {
			log_escape(esc, detail, n);
			n = strlen(esc) < cap ? strlen(esc) : cap - 1;
			memcpy(detail, esc, n);
			detail[n] = 0;
			return;
		}
	}
}

static void __attribute__((format(printf, 6, 0)))
obs_vevent(struct obs_client *c, int64_t now_ms, enum obs_phase phase,
    enum obs_level level, const char *what, const char *fmt, va_list ap)
{
	struct obs_event *e;

	if (c->boot_start_ms == 0) {
		obs_new_boot(c, now_ms);
	}
	c->last_seen_ms = now_ms;
	e = obs_push(c);
	if (!e) {
		return;
	}
	e->wall_ms = now_ms;
	e->phase = phase;
	e->level = level;
	snprintf(e->what, sizeof(e->what), "%s", what);
	vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
	obs_keep_printable(e->detail, sizeof(e->detail));

	if (level == OBS_ERROR) {
		snprintf(c->last_error, sizeof(c->last_error), "%s %s: %s",
		    obs_phase_name(phase), what, e->detail);
		c->state = OBS_STATE_FAILED;
		return;
	}
	if (phase == OBS_NFS && level == OBS_OK && !strcmp(what, "mount")) {
		c->boot_done_ms = now_ms;
		c->state = OBS_STATE_NFS;
		return;
	}
	if (c->state == OBS_STATE_DISCOVERED) {
		return;
	}
	/* Once the root is mounted only a new DHCP request (obs_dhcp_seen)
	 * starts another boot; a reply that waited for a probe or a delay
	 * and went out after the mount belongs to the boot that is done. */
	if (phase == OBS_TFTP && c->state != OBS_STATE_NFS) {
		c->state = OBS_STATE_TFTP;
	} else if (phase == OBS_DHCP && c->state != OBS_STATE_TFTP &&
	    c->state != OBS_STATE_NFS) {
		c->state = OBS_STATE_DHCP;
	}
}

void
obs_event(struct obs *o, const uint8_t *mac, struct in_addr ip, int64_t now_ms,
    enum obs_phase phase, enum obs_level level, const char *what,
    const char *fmt, ...)
{
	struct obs_client *c = mac ? obs_find_mac(o, mac) : obs_find_ip(o, ip);
	va_list ap;

	if (!c) {
		c = obs_alloc(o);
		if (!c) {
			return;
		}
		if (mac) {
			memcpy(c->mac, mac, 6);
			c->has_mac = true;
		}
		c->ip = ip;
		c->state = OBS_STATE_DISCOVERED;
		c->first_seen_ms = now_ms;
	}
	va_start(ap, fmt);
	obs_vevent(c, now_ms, phase, level, what, fmt, ap);
	va_end(ap);
}

void
obs_event_to(struct obs_client *c, int64_t now_ms, enum obs_phase phase,
    enum obs_level level, const char *what, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	obs_vevent(c, now_ms, phase, level, what, fmt, ap);
	va_end(ap);
}

void
obs_nfs_op(struct obs *o, unsigned proc, uint64_t us)
{
	if (proc < OBS_NFS_PROCS) {
		o->nfs_ops[proc]++;
		o->nfs_op_us[proc] += us;
	}
}

static bool
obs_is_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
	    (ch >= 'A' && ch <= 'F');
}

static bool
obs_is_alnum(char ch)
{
	return obs_is_hex(ch) || (ch >= 'g' && ch <= 'z') ||
	    (ch >= 'G' && ch <= 'Z');
}

/* Does @s start with a MAC, "dc:a6:32:01:36:c2" or "dc-a6-..."? */
static bool
obs_mac_at(const char *s)
{
	size_t i;

	for (i = 0; i < 17; i++) {
		if (i % 3 == 2 ? s[i] != s[2] || (s[i] != ':' && s[i] != '-')
			       : !obs_is_hex(s[i])) {
			return false;
		}
	}
	return !obs_is_alnum(s[17]);
}

void
obs_hide_ids(char *dst, size_t cap, const char *src)
{
	size_t i = 0, o = 0, n;
	bool edge = true; /* the previous character is no letter or digit */

	while (src[i] && o + 1 < cap) {
		const char *mask = NULL;

		if (edge && obs_mac_at(src + i)) {
			mask = src[i + 2] == ':' ? "xx:xx:xx:xx:xx:xx"
						 : "xx-xx-xx-xx-xx-xx";
		} else if (edge) {
			for (n = 0; n < 8 && obs_is_hex(src[i + n]); n++) {
			}
			if (n == 8 &&
			    (src[i + 8] == '/' ||
				(i >= 7 && !memcmp(src + i - 7, "serial=", 7) &&
				    !obs_is_alnum(src[i + 8])))) {
				mask = "xxxxxxxx";
			}
		}
		if (mask) {
			n = strlen(mask);
			n = n < cap - 1 - o ? n : cap - 1 - o;
			memcpy(dst + o, mask, n);
			o += n;
			i += strlen(mask);
			edge = false;
			continue;
		}
		edge = !obs_is_alnum(src[i]);
		dst[o++] = src[i++];
	}
	dst[o] = 0;
}

/* JSON string with the escapes RFC 8259 §7 requires. */
static int
obs_json_str(struct buf *out, const char *s)
{
	int r = buf_add(out, "\"", 1);

	for (; r == 0 && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			r = buf_printf(out, "\\%c", ch);
		} else if (ch < 0x20 || ch >= 0x7f) {
			r = buf_printf(out, "\\u%04x", ch);
		} else {
			r = buf_add(out, s, 1);
		}
	}
	return r ? r : buf_add(out, "\"", 1);
}

/* @src as a reader may see it, into @dst. */
static void
obs_shown(char *dst, size_t cap, const char *src, bool hide_ids)
{
	if (hide_ids) {
		obs_hide_ids(dst, cap, src);
	} else {
		snprintf(dst, cap, "%s", src);
	}
}

static const struct obs_event *
obs_event_at(const struct obs_client *c, size_t i)
{
	return &c->events[i];
}

static int
obs_json_client(const struct obs_client *c, bool with_events, bool hide_ids,
    struct buf *out)
{
	char mac[18] = "", ip[INET_ADDRSTRLEN] = "";
	char text[OBS_TEXT_MAX + 48];
	size_t i;
	int r;

	if (c->has_mac && !hide_ids) {
		obs_format_mac(mac, c->mac);
	}
	if (c->ip.s_addr) {
		inet_ntop(AF_INET, &c->ip, ip, sizeof(ip));
	}
	r = buf_add_str(out, "{\"name\":");
	r = r ? r : obs_json_str(out, c->name);
	r = r ? r : buf_add_str(out, ",\"mac\":");
	r = r ? r : obs_json_str(out, mac);
	r = r ? r : buf_add_str(out, ",\"serial\":");
	r = r ? r : obs_json_str(out, hide_ids ? "" : c->serial);
	r = r ? r : buf_add_str(out, ",\"model\":");
	r = r ? r : obs_json_str(out, c->model);
	r = r ? r : buf_add_str(out, ",\"address\":");
	r = r ? r : obs_json_str(out, ip);
	r = r ? r
	      : buf_printf(out,
		    ",\"state\":\"%s\",\"boots\":%u,"
		    "\"first_seen_ms\":%lld,\"last_seen_ms\":%lld,"
		    "\"boot_start_ms\":%lld,\"boot_done_ms\":%lld,"
		    "\"boot_duration_ms\":%lld,\"last_error\":",
		    obs_state_name(c->state), c->boots,
		    (long long)c->first_seen_ms, (long long)c->last_seen_ms,
		    (long long)c->boot_start_ms, (long long)c->boot_done_ms,
		    c->boot_done_ms
			? (long long)(c->boot_done_ms - c->boot_start_ms)
			: -1LL);
	obs_shown(text, sizeof(text), c->last_error, hide_ids);
	r = r ? r : obs_json_str(out, text);
	if (!r && c->version[0]) {
		r = buf_add_str(out, ",\"version\":");
		r = r ? r : obs_json_str(out, c->version);
		r = r ? r : buf_add_str(out, ",\"rollout_state\":");
		r = r ? r : obs_json_str(out, c->rollout_state);
		r = r ? r : buf_add_str(out, ",\"rollback_reason\":");
		r = r ? r : obs_json_str(out, c->rollback_reason);
	}
	if (!r && !c->name[0] && c->has_mac && !hide_ids) {
		char cmd[200];

		snprintf(cmd, sizeof(cmd),
		    "pinetboot client add NAME%s%s "
		    "--mac %s --image IMAGE",
		    c->serial[0] ? " --serial " : "", c->serial, mac);
		r = buf_add_str(out, ",\"provision_command\":");
		r = r ? r : obs_json_str(out, cmd);
	}
	if (!r && with_events) {
		r = buf_add_str(out, ",\"timeline\":[");
		for (i = 0; r == 0 && i < c->nevents; i++) {
			const struct obs_event *e = obs_event_at(c, i);

			r = buf_printf(out,
			    "%s{\"t_ms\":%lld,\"at_ms\":%lld,"
			    "\"phase\":\"%s\",\"level\":\"%s\",\"event\":",
			    i ? "," : "",
			    (long long)(e->wall_ms - c->boot_start_ms),
			    (long long)e->wall_ms, obs_phase_name(e->phase),
			    obs_level_name(e->level));
			r = r ? r : obs_json_str(out, e->what);
			r = r ? r : buf_add_str(out, ",\"detail\":");
			obs_shown(text, sizeof(text), e->detail, hide_ids);
			r = r ? r : obs_json_str(out, text);
			r = r ? r : buf_add_str(out, "}");
		}
		r = r ? r : buf_add_str(out, "]");
	}
	return r ? r : buf_add_str(out, "}");
}

enum {
	OBS_RENDER_HEAD = 0,
	OBS_RENDER_CLIENTS,
	OBS_RENDER_DISCOVERED,
	OBS_RENDER_TAIL,
	OBS_RENDER_DONE,
};

/* Does @c belong in rendering @r? */
static bool
obs_render_wants(const struct obs_render *r, const struct obs_client *c)
{
	return !r->name || !strcmp(c->name, r->name);
}

int
obs_render_json_step(
    const struct obs *o, struct obs_render *st, size_t budget, struct buf *out)
{
	size_t start = out->len;
	int r = 0;

	if (st->stage == OBS_RENDER_HEAD) {
		r = buf_printf(out,
		    "{\"now_ms\":%lld,\"uptime_ms\":%lld,\"clients\":[",
		    (long long)st->now_ms,
		    (long long)(st->now_ms - o->started_ms));
		st->stage = OBS_RENDER_CLIENTS;
	}
	while (r == 0 && st->stage == OBS_RENDER_CLIENTS) {
		const struct obs_client *c;

		if (st->next >= o->nclients) {
			st->stage = OBS_RENDER_TAIL;
			break;
		}
		if (out->len - start >= budget) {
			return 0;
		}
		c = &o->clients[st->next++];
		if (!obs_render_wants(st, c)) {
			continue;
		}
		r = st->shown++ ? buf_add_str(out, ",") : 0;
		r = r ? r : obs_json_client(c, true, st->hide_ids, out);
	}
	if (r == 0 && st->stage == OBS_RENDER_TAIL) {
		r = buf_add_str(out, "]}\n");
		st->stage = OBS_RENDER_DONE;
	}
	return r < 0 ? r : 1;
}

/* A whole rendering: @step until it is done. */
static int
obs_render_all(const struct obs *o, const char *name, bool hide_ids,
    int64_t now_ms, struct buf *out,
    int (*step)(const struct obs *, struct obs_render *, size_t, struct buf *))
{
	struct obs_render st = {
	    .name = name, .hide_ids = hide_ids, .now_ms = now_ms};
	int r;

	do {
		r = step(o, &st, SIZE_MAX, out);
	} while (r == 0);
	return r < 0 ? r : 0;
}

int
obs_render_json(const struct obs *o, const char *name, bool hide_ids,
    int64_t now_ms, struct buf *out)
{
	return obs_render_all(
	    o, name, hide_ids, now_ms, out, obs_render_json_step);
}

static void
obs_age(char *dst, size_t cap, int64_t then_ms, int64_t now_ms)
{
	int64_t s = (now_ms - then_ms) / 1000;

	if (!then_ms) {
		snprintf(dst, cap, "-");
	} else if (s < 120) {
		snprintf(dst, cap, "%llds ago", (long long)s);
	} else if (s < 7200) {
		snprintf(dst, cap, "%lldm ago", (long long)(s / 60));
	} else {
		snprintf(dst, cap, "%lldh ago", (long long)(s / 3600));
	}
}

static int
obs_text_timeline(const struct obs_client *c, bool hide_ids, struct buf *out)
{
	char text[OBS_TEXT_MAX];
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < c->nevents; i++) {
		const struct obs_event *e = obs_event_at(c, i);

		obs_shown(text, sizeof(text), e->detail, hide_ids);
		r = buf_printf(out, "  +%7.3fs  %-4s  %-5s  %-12s %s\n",
		    (double)(e->wall_ms - c->boot_start_ms) / 1000.0,
		    obs_phase_name(e->phase), obs_level_name(e->level), e->what,
		    text);
	}
	return r;
}

static int
obs_text_client(
    const struct obs_client *c, const struct obs_render *st, struct buf *out)
{
	char mac[18] = "-", ip[INET_ADDRSTRLEN] = "-", seen[24], dur[24] = "-";
	char err[OBS_TEXT_MAX + 48];
	int r;

	if (c->has_mac && !st->hide_ids) {
		obs_format_mac(mac, c->mac);
	}
	if (c->ip.s_addr) {
		inet_ntop(AF_INET, &c->ip, ip, sizeof(ip));
	}
	obs_shown(err, sizeof(err), c->last_error, st->hide_ids);
	obs_age(seen, sizeof(seen), c->boot_start_ms, st->now_ms);
	if (c->boot_done_ms) {
		snprintf(dur, sizeof(dur), "%.1fs",
		    (double)(c->boot_done_ms - c->boot_start_ms) / 1000.0);
	}
	r = buf_printf(out,
	    "%-16s %-17s %-8s %-15s %-10s %-10s %-8s "
	    "%s\n",
	    c->name[0] ? c->name : "(unknown)", mac,
	    c->serial[0] && !st->hide_ids ? c->serial : "-", ip,
	    obs_state_name(c->state), seen, dur, err[0] ? err : "-");
	if (r == 0 && st->name) {
		r = obs_text_timeline(c, st->hide_ids, out);
	}
	return r;
}

/* A stranger that booted: the command that would provision it. */
static int
obs_text_discovered(const struct obs_client *c, struct buf *out)
{
	char mac[18];

	return buf_printf(out,
	    "\ndiscovered %s%s%s, provision "
	    "with:\n  pinetboot client add NAME%s%s --mac %s "
	    "--image IMAGE\n",
	    obs_format_mac(mac, c->mac), c->model[0] ? " " : "", c->model,
	    c->serial[0] ? " --serial " : "", c->serial, mac);
}

int
obs_render_text_step(
    const struct obs *o, struct obs_render *st, size_t budget, struct buf *out)
{
	size_t start = out->len;
	int r = 0;

	if (st->stage == OBS_RENDER_HEAD) {
		r = st->name ? 0
			     : buf_printf(out,
				   "%-16s %-17s %-8s %-15s %-10s %-10s %-8s "
				   "%s\n",
				   "NAME", "MAC", "SERIAL", "ADDRESS", "STATE",
				   "LAST BOOT", "DURATION", "LAST ERROR");
		st->stage = OBS_RENDER_CLIENTS;
	}
	while (r == 0 && st->stage < OBS_RENDER_TAIL) {
		const struct obs_client *c;

		if (st->next >= o->nclients) {
			/* Strangers and their provisioning hint, when asked. */
			st->stage = st->stage == OBS_RENDER_CLIENTS &&
				!st->name && !st->hide_ids
			    ? OBS_RENDER_DISCOVERED
			    : OBS_RENDER_TAIL;
			st->next = 0;
			continue;
		}
		if (out->len - start >= budget) {
			return 0;
		}
		c = &o->clients[st->next++];
		if (st->stage == OBS_RENDER_CLIENTS &&
		    obs_render_wants(st, c)) {
			st->shown++;
			r = obs_text_client(c, st, out);
		} else if (st->stage == OBS_RENDER_DISCOVERED && !c->name[0] &&
		    c->has_mac) {
			r = obs_text_discovered(c, out);
		}
	}
	if (r == 0) {
		st->stage = OBS_RENDER_DONE;
	}
	return r < 0 ? r : st->name && st->shown == 0 ? -ENOENT : 1;
}

int
obs_render_text(const struct obs *o, const char *name, bool hide_ids,
    int64_t now_ms, struct buf *out)
{
	return obs_render_all(
	    o, name, hide_ids, now_ms, out, obs_render_text_step);
}

int
obs_render_metrics(const struct obs *o, int64_t now_ms, struct buf *out)
{
	const struct obs_counters *c = &o->c;
	size_t states[OBS_STATE_FAILED + 1] = {0};
	size_t i;
	int r;

	for (i = 0; i < o->nclients; i++) {
		states[o->clients[i].state]++;
	}
	r = buf_printf(out,
	    "# HELP pinetboot_uptime_seconds Time since the server started.\n"
	    "# TYPE pinetboot_uptime_seconds gauge\n"
	    "pinetboot_uptime_seconds %.3f\n"
	    "# TYPE pinetboot_dhcp_requests_total counter\n"
	    "pinetboot_dhcp_requests_total %llu\n"
	    "# TYPE pinetboot_dhcp_replies_total counter\n"
	    "pinetboot_dhcp_replies_total %llu\n"
	    "# TYPE pinetboot_dhcp_dropped_total counter\n"
	    "pinetboot_dhcp_dropped_total %llu\n"
	    "# TYPE pinetboot_tftp_transfers_total counter\n"
	    "pinetboot_tftp_transfers_total %llu\n"
	    "# TYPE pinetboot_tftp_bytes_total counter\n"
	    "pinetboot_tftp_bytes_total %llu\n"
	    "# TYPE pinetboot_tftp_errors_total counter\n"
	    "pinetboot_tftp_errors_total %llu\n"
	    "# TYPE pinetboot_tftp_not_found_total counter\n"
	    "pinetboot_tftp_not_found_total %llu\n"
	    "# TYPE pinetboot_nfs_mounts_total counter\n"
	    "pinetboot_nfs_mounts_total{result=\"ok\"} %llu\n"
	    "pinetboot_nfs_mounts_total{result=\"refused\"} %llu\n",
	    (double)(now_ms - o->started_ms) / 1000.0,
	    (unsigned long long)c->dhcp_requests,
	    (unsigned long long)c->dhcp_replies,
	    (unsigned long long)c->dhcp_dropped,
	    (unsigned long long)c->tftp_transfers,
	    (unsigned long long)c->tftp_bytes,
	    (unsigned long long)c->tftp_errors,
	    (unsigned long long)c->tftp_misses,
	    (unsigned long long)c->nfs_mounts,
	    (unsigned long long)c->nfs_mount_refused);
	r = r ? r
	      : buf_add_str(out,
		    "# TYPE pinetboot_nfs_ops_total counter\n"
		    "# TYPE pinetboot_nfs_op_seconds_total counter\n");
	for (i = 0; r == 0 && i < OBS_NFS_PROCS; i++) {
		r = buf_printf(out,
		    "pinetboot_nfs_ops_total{proc=\"%s\"} %llu\n"
		    "pinetboot_nfs_op_seconds_total{proc=\"%s\"} %.6f\n",
		    obs_nfs_proc_names[i], (unsigned long long)o->nfs_ops[i],
		    obs_nfs_proc_names[i], (double)o->nfs_op_us[i] / 1e6);
	}
	r = r ? r : buf_add_str(out, "# TYPE pinetboot_clients gauge\n");
	for (i = 0; r == 0 && i <= OBS_STATE_FAILED; i++) {
		r = buf_printf(out, "pinetboot_clients{state=\"%s\"} %zu\n",
		    obs_state_names[i], states[i]);
	}
	return r;
}
