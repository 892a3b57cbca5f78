#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "image/provision/fleet.h"
#include "image/provision/layered.h"
#include "proto/dhcp/dhcp.h"
#include "proto/tftp/pkt.h"
#include "server/dhcp/dhcp.h"
#include "server/dhcpwatch.h"
#include "server/lstack.h"
#include "server/moves.h"
#include "server/nfs/nfs.h"
#include "server/obs.h"
#include "server/serve.h"
#include "server/tftp/tftp.h"

/*
 * Where the services meet the client registry and the status view:
 * each service reports what it did here, and this file turns it into
 * timeline events, address bindings, TFTP directories and NFS exports.
 */

static const struct log_ctx clients_log = {.svc = "clients"};

static void serve_moves_arm(struct serve *s);

/*
 * A move (or a volatile boot's emptying) of one client: what the loop
 * hands the thread, and what the thread hands back.  Everything the
 * thread reads is its own copy or a reference it holds, since the
 * registry and the configuration may be reloaded meanwhile.
 */
struct serve_move {
	struct serve *s;
	char name[REGISTRY_NAME_MAX];
	char state[PATH_MAX];
	uint8_t mac[6]; /* the firmware whose DISCOVER waits for the move */
	struct moves_plan plan;
	unsigned from;
	struct prov_boot b;
	struct rec_change ch[3];
	struct lstack *root, *boot; /* references: the stacks it reads */
	uint64_t seq;               /* first come, first built */
	uint64_t began;
	bool running;
	pthread_t thread;
	/* The thread's results, read after it is joined. */
	int r;
	struct layer_rebase_report rep;
	char msg[512];
	uint64_t took_ms;
	atomic_bool done;
};

static struct serve_addr *
serve_addr_find(struct serve *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->naddrs; i++) {
		if (!strcmp(s->addrs[i].name, name)) {
			return &s->addrs[i];
		}
	}
	return NULL;
}

/* The state kept for provisioned client @name, made on first use. */
static struct serve_addr *
serve_addr_get(struct serve *s, const char *name)
{
	struct serve_addr *a = serve_addr_find(s, name), *p;

	if (a) {
		return a;
	}
	if (s->naddrs == REGISTRY_MAX) {
		return NULL;
	}
	p = realloc(s->addrs, (s->naddrs + 1) * sizeof(*p));
	if (!p) {
		return NULL;
	}
	s->addrs = p;
	a = &s->addrs[s->naddrs++];
	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", name);
	return a;
}

/*
 * The provisioned client DHCP traffic from @mac belongs to: its record's
 * MAC, or the MAC a client known only by serial was last seen booting
 * with (serve_learn_mac()).  Return: borrowed, or NULL.
 */
static const struct registry_client *
serve_client_for_mac(struct serve *s, const uint8_t mac[6])
{
	const struct registry_client *rc = registry_find_mac(&s->registry, mac);
	size_t i, j;

	for (i = 0; !rc && i < s->naddrs; i++) {
		if (!s->addrs[i].has_mac || memcmp(s->addrs[i].mac, mac, 6)) {
			continue;
		}
		for (j = 0; j < s->registry.n; j++) {
			if (!s->registry.clients[j].has_mac &&
			    !strcmp(s->registry.clients[j].name,
				s->addrs[i].name)) {
				rc = &s->registry.clients[j];
			}
		}
	}
	return rc;
}

/*
 * A record with a serial and no MAC: the firmware's DISCOVER carries the
 * serial in option 97 (reference §2.2), so the MAC of a boot pinetboot
 * answers is the client's from then on.  The kernel's own DHCP that
 * follows carries no serial, only that MAC.
 */
static void
serve_learn_mac(struct serve *s, const struct dhcp_msg *m)
{
	const struct registry_client *rc;
	struct serve_addr *a;
	char prefix[9], mac[18];
	uint32_t serial;

	if (!dhcp_pi_serial(m, &serial)) {
		return;
	}
	snprintf(prefix, sizeof(prefix), "%08x", serial);
	rc = registry_find_prefix(&s->registry, prefix, 8);
	if (!rc || rc->has_mac) {
		return;
	}
	a = serve_addr_get(s, rc->name);
	if (!a || (a->has_mac && !memcmp(a->mac, m->chaddr, 6))) {
		return;
	}
	memcpy(a->mac, m->chaddr, 6);
	a->has_mac = true;
	log_info(&clients_log, "event=mac-learned client=%s mac=%s", rc->name,
	    obs_format_mac(mac, m->chaddr));
}

/* --- layered clients' trees --------------------------------------------- */

static struct serve_tree *
serve_tree_find(struct serve *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->ntrees; i++) {
		if (!strcmp(s->trees[i].name, name)) {
			return &s->trees[i];
		}
	}
	return NULL;
}

/*
 * Open @tree ("root" or "boot") of layered client @rc: its layer over
 * the version stack the registry read (docs/fleet.md, "The record of a
 * layered client").  Every path comes from names the registry checked.
 */
static struct lstack *
serve_tree_open(
    struct serve *s, const struct registry_client *rc, const char *tree)
{
	const char *state = s->cfg->state_dir;
	struct layer_stack_conf c = {
	    .atfd = AT_FDCWD,
	    .nversions = rc->nlayers,
	};
	/* client layer, index, versions */
	char(*paths)[PATH_MAX] = calloc(2 + rc->nlayers, PATH_MAX);
	struct lstack *ls = NULL;
	size_t i, len;
	int r = paths ? 0 : -ENOMEM;

	for (i = 0; r == 0 && i < 2 + rc->nlayers; i++) {
		if (i < 2) {
			len = (size_t)snprintf(paths[i], PATH_MAX,
			    "%s/clients/%s/layer/%s%s", state, rc->name,
			    i == 0 ? "" : "index/", tree);
		} else {
			len = (size_t)snprintf(paths[i], PATH_MAX,
			    "%s/images/%s/v/%u/%s", state, rc->image,
			    rc->layers[i - 2], tree);
			c.versions[i - 2] = paths[i];
		}
		r = len < PATH_MAX ? 0 : -ENAMETOOLONG;
	}
	if (r == 0) {
		c.client = paths[0];
		c.index = paths[1];
		r = lstack_open(&c, &ls);
	}
	free(paths);
	if (r < 0) {
		log_warn(&clients_log,
		    "event=tree-failed client=%s tree=%s image=%s version=%u "
		    "error=\"%s\" note=\"%s\"",
		    rc->name, tree, rc->image, rc->version, strerror(-r),
		    r == -EXDEV ? "every layer must be on the state file system"
				: "client add makes layer/ and its indexes");
		return NULL;
	}
	log_info(&clients_log,
	    "event=tree-open client=%s tree=%s image=%s version=%u layers=%zu "
	    "copies=%zu hidden=%zu temporaries-removed=%zu unknown=%zu",
	    rc->name, tree, rc->image, rc->version, rc->nlayers, ls->rep.copies,
	    ls->rep.counts, ls->rep.temps, ls->rep.unknown);
	return ls;
}

static void
serve_tree_drop(struct serve_tree *t)
{
	lstack_unref(t->root);
	lstack_unref(t->boot);
	t->root = t->boot = NULL;
}

/* Is @ls's top layer still the directory at @tree of client @name? */
static bool
serve_tree_layer_same(const struct serve *s, const char *name, const char *tree,
    const struct lstack *ls)
{
	char path[PATH_MAX];
	struct stat st;
	int n = snprintf(path, sizeof(path), "%s/clients/%s/layer/%s",
	    s->cfg->state_dir, name, tree);

	return ls && n > 0 && (size_t)n < sizeof(path) &&
	    stat(path, &st) == 0 && st.st_dev == ls->top_dev &&
	    st.st_ino == ls->top_ino;
}

/*
 * The open trees @t still serve @rc: the same image and version stack,
 * and the same client layer directories (a reset puts new ones in).
 */
static bool
serve_tree_same(const struct serve *s, const struct serve_tree *t,
    const struct registry_client *rc)
{
	return !strcmp(t->image, rc->image) && t->nlayers == rc->nlayers &&
	    !memcmp(
		t->layers, rc->layers, rc->nlayers * sizeof(rc->layers[0])) &&
	    serve_tree_layer_same(s, rc->name, "root", t->root) &&
	    serve_tree_layer_same(s, rc->name, "boot", t->boot);
}

/*
 * After a registry reload: a stack for every layered client, the same
 * object as before while its image, version stack and layer directories
 * stay the same (a second stack over one client layer must never be
 * opened), a new one when they changed (a move, a reset); stacks of
 * clients that are gone are dropped (an export still holding one keeps
 * it until its last call ends).
 */
static void
serve_trees_sync(struct serve *s)
{
	struct serve_tree *fresh = NULL, *old;
	size_t i, n = 0;

	for (i = 0; i < s->registry.n; i++) {
		n += s->registry.clients[i].root_mode != REGISTRY_ROOT_COPY;
	}
	if (n > 0) {
		fresh = calloc(n, sizeof(*fresh));
		if (!fresh) {
			log_warn(&clients_log,
			    "event=trees-failed error=\"%s\"",
			    strerror(ENOMEM));
			return;
		}
	}
	n = 0;
	for (i = 0; i < s->registry.n; i++) {
		const struct registry_client *rc = &s->registry.clients[i];
		struct serve_tree *t = &fresh[n];

		if (rc->root_mode == REGISTRY_ROOT_COPY) {
			continue;
		}
		old = serve_tree_find(s, rc->name);
		/* A moving client's layer is not opened again under its
		 * move: its stacks stay until the move's own reload. */
		if (old &&
		    (serve_moving(s, rc->name) ||
			serve_tree_same(s, old, rc))) {
			*t = *old;
			old->root = old->boot = NULL;
			n++;
			continue;
		}
		snprintf(t->name, sizeof(t->name), "%s", rc->name);
		snprintf(t->image, sizeof(t->image), "%s", rc->image);
		memcpy(t->layers, rc->layers, sizeof(t->layers));
		t->nlayers = rc->nlayers;
		if (old) {
			/* Moved or reset: the old stack's calls end first. */
			serve_tree_drop(old);
		}
		t->root = serve_tree_open(s, rc, "root");
		t->boot = serve_tree_open(s, rc, "boot");
		if (!t->root || !t->boot) {
			serve_tree_drop(t);
			continue;
		}
		n++;
	}
	for (i = 0; i < s->ntrees; i++) {
		serve_tree_drop(&s->trees[i]);
	}
	free(s->trees);
	s->trees = fresh;
	s->ntrees = n;
}

static void
serve_unexport(struct serve *s, struct serve_addr *a)
{
	if (s->nfs && a->export_id > 0) {
		nfs_service_unexport(s->nfs, (uint32_t)a->export_id);
	}
	if (s->nfs && a->boot_export_id > 0) {
		nfs_service_unexport(s->nfs, (uint32_t)a->boot_export_id);
	}
	a->export_id = 0;
	a->boot_export_id = 0;
}

/*
 * Export the client's root and boot tree to its address only, replacing
 * exports to an address it had before.  A client whose MAC is known but
 * whose address is not yet gets none.
 */
static void
serve_export_root(struct serve *s, struct serve_addr *a)
{
	const struct registry_client *rc = NULL;
	const struct serve_tree *t;
	char ip[INET_ADDRSTRLEN];
	int64_t id, boot_id;
	size_t i;

	if (a->ip.s_addr == 0) {
		return;
	}
	if (serve_moving(s, a->name)) {
		/* Exported again when the move is over (its reload). */
		serve_unexport(s, a);
		return;
	}
	for (i = 0; i < s->registry.n; i++) {
		if (!strcmp(s->registry.clients[i].name, a->name)) {
			rc = &s->registry.clients[i];
		}
	}
	if (!s->nfs || !rc) {
		return;
	}
	serve_unexport(s, a);
	inet_ntop(AF_INET, &a->ip, ip, sizeof(ip));
	if (rc->root_mode == REGISTRY_ROOT_COPY) {
		id = nfs_service_export_client(s->nfs, rc->root_dir, a->ip);
		boot_id =
		    nfs_service_export_client(s->nfs, rc->boot_dir, a->ip);
	} else {
		/* The names cmdline.txt and fstab carry, served merged. */
		t = serve_tree_find(s, rc->name);
		/* No tree: its stacks did not open; serve_tree_open() said
		 * why. */
		id = t ? nfs_service_export_layered(
			     s->nfs, rc->root_dir, t->root, a->ip)
		       : -ENOENT;
		boot_id = t ? nfs_service_export_layered(
				  s->nfs, rc->boot_dir, t->boot, a->ip)
			    : -ENOENT;
	}
	if (id < 0 || boot_id < 0) {
		log_warn(&clients_log,
		    "event=export-failed client=%s addr=%s "
		    "error=\"%s\"",
		    a->name, ip, nfs_exports_strerror(id < 0 ? id : boot_id));
	}
	a->export_id = id > 0 ? id : 0;
	a->boot_export_id = boot_id > 0 ? boot_id : 0;
	log_info(&clients_log, "event=export client=%s addr=%s root=%s",
	    a->name, ip, rc->root_dir);
}

/* A line in the timeline of provisioned client @rc, if it is tracked. */
static void __attribute__((format(printf, 5, 6)))
serve_client_event(struct serve *s, const struct registry_client *rc,
    enum obs_level level, const char *what, const char *fmt, ...)
{
	struct obs_client *c;
	char detail[OBS_TEXT_MAX];
	va_list ap;

	if (!s->obs) {
		return;
	}
	c = obs_find_name(s->obs, rc->name);
	if (!c) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	obs_event_to(c, loop_wall_ms(), OBS_NFS, level, what, "%s", detail);
}

void
serve_client_bind(struct serve *s, const struct registry_client *rc,
    struct in_addr ip, const char *why)
{
	struct serve_addr *a = serve_addr_find(s, rc->name);
	char from[INET_ADDRSTRLEN] = "none", to[INET_ADDRSTRLEN];

	if (ip.s_addr == 0) {
		return;
	}
	inet_ntop(AF_INET, &ip, to, sizeof(to));
	if (rc->addr.s_addr && rc->addr.s_addr != ip.s_addr) {
		char fixed[INET_ADDRSTRLEN];

		/* The operator's word is final: nothing learned moves it. */
		inet_ntop(AF_INET, &rc->addr, fixed, sizeof(fixed));
		log_warn(&clients_log,
		    "event=address-ignored client=%s static=%s seen=%s "
		    "reason=\"%s\"",
		    rc->name, fixed, to, why);
		serve_client_event(s, rc, OBS_WARN, "address-ignored",
		    "%s %s; exports stay at the static address %s", why, to,
		    fixed);
		return;
	}
	if (a && a->ip.s_addr == ip.s_addr && (a->export_id > 0 || !s->nfs)) {
		return;
	}
	if (!a) {
		a = serve_addr_get(s, rc->name);
	}
	if (!a) {
		return;
	}
	if (a->ip.s_addr) {
		inet_ntop(AF_INET, &a->ip, from, sizeof(from));
	}
	a->ip = ip;
	if (rc->has_mac) {
		obs_bind_ip(s->obs, rc->mac, ip);
	} else {
		obs_bind_ip_name(s->obs, rc->name, ip);
	}
	serve_export_root(s, a);
	log_info(&clients_log,
	    "event=export-move client=%s from=%s to=%s reason=\"%s\"", rc->name,
	    from, to, why);
	serve_client_event(s, rc, OBS_OK, "export",
	    "root and boot exported to %s only (was %s): %s %s", to, from, why,
	    to);
}

void
serve_clients_resync(struct serve *s)
{
	size_t i, kept = 0;

	serve_trees_sync(s);
	serve_moves_arm(s);
	/* Forget addresses of clients that are gone; re-export the rest. */
	for (i = 0; i < s->naddrs; i++) {
		struct serve_addr *a = &s->addrs[i];
		bool present = false;
		size_t j;

		for (j = 0; j < s->registry.n; j++) {
			present |=
			    !strcmp(s->registry.clients[j].name, a->name);
		}
		serve_unexport(s, a);
		if (present) {
			s->addrs[kept++] = *a;
		}
	}
	s->naddrs = kept;
	for (i = 0; i < s->naddrs; i++) {
		serve_export_root(s, &s->addrs[i]);
	}
	for (i = 0; i < s->registry.n; i++) {
		const struct registry_client *rc = &s->registry.clients[i];

		if (rc->addr.s_addr) {
			serve_client_bind(s, rc, rc->addr,
			    "client.conf has the static address");
		}
	}
}

static void
serve_watch_bound(
    void *arg, const uint8_t mac[6], uint32_t addr, uint32_t server)
{
	struct serve *s = arg;
	const struct registry_client *rc = serve_client_for_mac(s, mac);
	struct in_addr ip = {.s_addr = htonl(addr)};
	struct in_addr sid = {.s_addr = htonl(server)};
	char why[96], sv[INET_ADDRSTRLEN] = "the DHCP server";

	if (!rc) {
		return;
	}
	if (server) {
		inet_ntop(AF_INET, &sid, sv, sizeof(sv));
	}
	snprintf(why, sizeof(why), "%s ACKed the REQUEST it saw for", sv);
	serve_client_bind(s, rc, ip, why);
}

/*
 * The provisioned client a watch report is about, with @addr as text
 * in @want; NULL when the MAC is no longer a client's.
 */
static const struct registry_client *
serve_watch_client(struct serve *s, const uint8_t mac[6], uint32_t addr,
    char want[INET_ADDRSTRLEN])
{
	struct in_addr ip = {.s_addr = htonl(addr)};

	inet_ntop(AF_INET, &ip, want, INET_ADDRSTRLEN);
	return serve_client_for_mac(s, mac);
}

static void
serve_watch_unseen(
    void *arg, const uint8_t mac[6], uint32_t addr, uint32_t server)
{
	struct serve *s = arg;
	char want[INET_ADDRSTRLEN];
	const struct registry_client *rc =
	    serve_watch_client(s, mac, addr, want);

	(void)server;
	/* A static address never waited for this ACK. */
	if (!rc || rc->addr.s_addr) {
		return;
	}
	log_warn(&clients_log,
	    "event=ack-unseen client=%s addr=%s note=\"the DHCP server's "
	    "ACK went to the client alone: exports not moved; set address "
	    "in client.conf\"",
	    rc->name, want);
	serve_client_event(s, rc, OBS_WARN, "ack-unseen",
	    "REQUEST for %s seen, its ACK not (sent to the client alone): "
	    "exports not moved; set address = %s in client.conf",
	    want, want);
}

static void
serve_watch_naked(
    void *arg, const uint8_t mac[6], uint32_t addr, uint32_t server)
{
	struct serve *s = arg;
	char want[INET_ADDRSTRLEN];
	const struct registry_client *rc =
	    serve_watch_client(s, mac, addr, want);

	(void)server;
	if (!rc) {
		return;
	}
	log_info(&clients_log, "event=request-naked client=%s addr=%s",
	    rc->name, want);
	serve_client_event(s, rc, OBS_INFO, "request-naked",
	    "REQUEST for %s NAKed by the DHCP server: exports not moved", want);
}

static const struct dhcpwatch_ops serve_watch_ops = {
    .bound = serve_watch_bound,
    .unseen = serve_watch_unseen,
    .naked = serve_watch_naked,
};

void
serve_clients_watch_open(struct serve *s)
{
	char msg[256];
	int r;

	s->watch = dhcpwatch_new(REGISTRY_MAX, &serve_watch_ops, s);
	r = s->watch
	    ? dhcpwatch_open(s->watch, s->loop, s->ifindex, msg, sizeof(msg))
	    : -ENOMEM;
	if (r < 0) {
		log_warn(&clients_log,
		    "event=watch-unavailable error=\"%s\" note=\"proxy "
		    "mode cannot see DHCP ACKs: exports follow static "
		    "addresses only\"",
		    s->watch ? msg : strerror(-r));
		dhcpwatch_free(s->watch);
		s->watch = NULL;
	}
}

void
serve_clients_fini(struct serve *s)
{
	size_t i;

	/*
	 * A move is crash-safe, but the stacks it reads must outlive it; one
	 * not begun is left for the client's next boot.
	 */
	for (i = 0; i < SERVE_MOVES_MAX; i++) {
		struct serve_move *mv = s->moving[i];

		if (!mv) {
			continue;
		}
		if (mv->running) {
			pthread_join(mv->thread, NULL);
		}
		log_info(&clients_log,
		    "event=move-at-stop client=%s result=%s took_ms=%" PRIu64,
		    mv->name,
		    !mv->running    ? "not-begun"
			: mv->r < 0 ? "error"
				    : "done",
		    mv->took_ms);
		lstack_unref(mv->root);
		lstack_unref(mv->boot);
		free(mv);
		s->moving[i] = NULL;
	}
	if (s->moves_fd_open) {
		loop_close_fd(s->loop, s->moves_fd);
		s->moves_fd_open = false;
	}

	dhcpwatch_free(s->watch);
	s->watch = NULL;
	for (i = 0; i < s->ntrees; i++) {
		serve_tree_drop(&s->trees[i]);
	}
	free(s->trees);
	s->trees = NULL;
	s->ntrees = 0;
	free(s->addrs);
	s->addrs = NULL;
	s->naddrs = 0;
}

int
serve_tftp_prefix(void *arg, const char *prefix, struct tftp_tree *out)
{
	struct serve *s = arg;
	const struct registry_client *rc;
	struct serve_tree *t;

	/*
	 * Only the tree: a TFTP read is no evidence of who sent it, so it
	 * moves no export and binds no address.
	 */
	rc = registry_find_prefix(&s->registry, prefix, strlen(prefix));
	if (!rc) {
		return -ENOENT;
	}
	if (rc->root_mode != REGISTRY_ROOT_COPY) {
		/* The stack its NFS exports serve, not one of TFTP's own. */
		t = serve_tree_find(s, rc->name);
		if (!t || serve_moving(s, rc->name)) {
			/* Mid-move its boot files are neither version's. */
			return -ENOENT;
		}
		out->st = lstack_ref(t->boot);
		return 0;
	}
	out->fd =
	    open(rc->boot_dir, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	return out->fd < 0 ? -errno : 0;
}

/* --- moves at the firmware's DHCP request -------------------------------- */

static const struct registry_client *
serve_client_named(const struct serve *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->registry.n; i++) {
		if (!strcmp(s->registry.clients[i].name, name)) {
			return &s->registry.clients[i];
		}
	}
	return NULL;
}

/* A line in @name's timeline, at the DHCP phase (a move is part of the
 * boot that starts). */
static void __attribute__((format(printf, 5, 6)))
serve_move_event(struct serve *s, const char *name, enum obs_level level,
    const char *what, const char *fmt, ...)
{
	struct obs_client *c = s->obs ? obs_find_name(s->obs, name) : NULL;
	char detail[OBS_TEXT_MAX];
	va_list ap;

	if (!c) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	obs_event_to(c, loop_wall_ms(), OBS_DHCP, level, what, "%s", detail);
}

/*
 * Write @n changes into client @name's record (the daemon's keys:
 * docs/provisioning.md), under the client's lock as every command.  The
 * caller reads the registry again: the watch does not see a record
 * rewritten inside a client's directory.
 */
static int
serve_record_edit(
    struct serve *s, const char *name, const struct rec_change *ch, size_t n)
{
	char msg[512] = "";
	struct prov_cl c;
	int r =
	    prov_cl_open(&c, s->cfg->state_dir, name, true, msg, sizeof(msg));

	if (r == 0) {
		r = prov_cl_update(&c, ch, n, msg, sizeof(msg));
		prov_cl_close(&c);
	}
	if (r < 0) {
		log_warn(&clients_log,
		    "event=record-failed client=%s error=\"%s\"", name, msg);
	}
	return r;
}

bool
serve_moving(const struct serve *s, const char *name)
{
	size_t i;

	for (i = 0; i < SERVE_MOVES_MAX; i++) {
		if (s->moving[i] && !strcmp(s->moving[i]->name, name)) {
			return true;
		}
	}
	return false;
}

/*
 * Set up @mv to carry out @mv->plan for client @rc: the layer made over
 * plan.to (or emptied), the record changes that go with it, and the
 * client's stacks to read its old layer from.  The client's exports go
 * first, so no new call reaches the old stack while its layer is
 * rebuilt from it.
 */
static void
serve_move_prepare(
    struct serve *s, const struct registry_client *rc, struct serve_move *mv)
{
	const struct moves_plan *p = &mv->plan;
	struct serve_tree *t = serve_tree_find(s, rc->name);
	struct serve_addr *a = serve_addr_find(s, rc->name);
	bool back = p->action == MOVES_BACK;
	size_t n = 0;

	mv->s = s;
	snprintf(mv->name, sizeof(mv->name), "%s", rc->name);
	snprintf(mv->state, sizeof(mv->state), "%s", s->cfg->state_dir);
	mv->from = rc->version;
	mv->b.to = p->action == MOVES_EMPTY ? rc->version : p->to;
	/* A volatile root starts empty over the version it boots. */
	mv->b.fresh = rc->root_mode == REGISTRY_ROOT_VOLATILE;
	if (back) {
		mv->ch[n++] = (struct rec_change){
		    "rollout_state", MOVES_STATE_ROLLED_BACK};
		mv->ch[n++] =
		    (struct rec_change){"rollback_reason", mv->plan.reason};
	} else if (p->action == MOVES_MOVE && rc->rollout[0]) {
		mv->ch[n++] =
		    (struct rec_change){"rollout_state", MOVES_STATE_MOVED};
		mv->ch[n++] = (struct rec_change){"rollback_reason", NULL};
	} else if (p->action == MOVES_MOVE) {
		/* `image rollback` by hand leaves its reason: the move is a
		 * rollback, and shows as one. */
		mv->ch[n++] = (struct rec_change){"rollout_state",
		    rc->rollback_reason[0] ? MOVES_STATE_ROLLED_BACK : NULL};
	}
	mv->b.ch = mv->ch;
	mv->b.nch = n;
	if (a) {
		serve_unexport(s, a);
	}
	if (t && t->root && t->boot) {
		mv->root = lstack_ref(t->root);
		mv->boot = lstack_ref(t->boot);
		mv->b.root = mv->root->st;
		mv->b.boot = mv->boot->st;
	}
}

/* The move itself: files only, no loop, no registry, no log. */
static void
serve_move_run(struct serve_move *mv)
{
	mv->r = prov_client_boot(
	    mv->state, mv->name, &mv->b, &mv->rep, mv->msg, sizeof(mv->msg));
	mv->took_ms = (loop_clock_us() - mv->began) / 1000;
}

/* What the loop does when @mv is over: log, timeline, new stacks. */
static void
serve_move_report(struct serve *s, struct serve_move *mv)
{
	const struct moves_plan *p = &mv->plan;
	bool back = p->action == MOVES_BACK;
	char esc[LOG_ESCAPE_MAX];

	if (mv->r < 0) {
		log_escape(esc, mv->msg, strlen(mv->msg));
		log_warn(&clients_log,
		    "event=%s-error client=%s from=%u to=%u took_ms=%" PRIu64
		    " error=\"%s\"",
		    p->action == MOVES_EMPTY ? "empty" : "move", mv->name,
		    mv->from, mv->b.to, mv->took_ms, esc);
		serve_move_event(s, mv->name, OBS_WARN,
		    p->action == MOVES_EMPTY ? "empty-error" : "move-error",
		    "stays on version %u: %s", mv->from, mv->msg);
	} else if (p->action == MOVES_EMPTY) {
		log_info(&clients_log,
		    "event=emptied client=%s version=%u took_ms=%" PRIu64,
		    mv->name, mv->from, mv->took_ms);
		serve_move_event(s, mv->name, OBS_OK, "emptied",
		    "volatile root emptied over version %u (identity files "
		    "put in)",
		    mv->from);
	} else {
		log_escape(
		    esc, back ? p->reason : "", back ? strlen(p->reason) : 0);
		log_info(&clients_log,
		    "event=%s client=%s from=%u to=%u changes=%zu "
		    "identity-renewed=%zu identity-kept=%zu took_ms=%" PRIu64
		    "%s%s%s",
		    back ? "rolled-back" : "moved", mv->name, mv->from,
		    mv->b.to, mv->rep.changes, mv->rep.identity_renewed,
		    mv->rep.identity_kept, mv->took_ms,
		    back ? " reason=\"" : "", esc, back ? "\"" : "");
		serve_move_event(s, mv->name, back ? OBS_WARN : OBS_OK,
		    back ? "rolled-back" : "moved",
		    "version %u -> %u%s%s; %zu change%s of its own kept",
		    mv->from, mv->b.to, back ? ": " : "", back ? p->reason : "",
		    mv->rep.changes, mv->rep.changes == 1 ? "" : "s");
	}
	/* The old stacks go before the new ones open over the new layer. */
	lstack_unref(mv->root);
	lstack_unref(mv->boot);
	mv->root = mv->boot = NULL;
	/* New stacks (or the old ones again), exports and TFTP with them. */
	serve_reload_clients(s);
}

static void *
serve_move_thread(void *arg)
{
	struct serve_move *mv = arg;
	uint64_t one = 1;

	serve_move_run(mv);
	atomic_store(&mv->done, true);
	/* The eventfd's counter cannot overflow at one write per move. */
	(void)!write(mv->s->moves_fd, &one, sizeof(one));
	return NULL;
}

/* Its held reply goes out, and the move is forgotten. */
static void
serve_move_done(struct serve *s, struct serve_move *mv)
{
	serve_move_report(s, mv);
	if (s->dhcp) {
		dhcp_service_release(s->dhcp, mv->mac);
	}
	free(mv);
}

/*
 * Start the oldest waiting moves while fewer than SERVE_MOVES_RUNNING
 * run.  One that gets no thread is made here and now.
 */
static void
serve_moves_start(struct serve *s)
{
	size_t i, running = 0;
	struct serve_move *next;

	for (i = 0; i < SERVE_MOVES_MAX; i++) {
		running += s->moving[i] && s->moving[i]->running;
	}
	while (running < SERVE_MOVES_RUNNING) {
		size_t at = 0;

		next = NULL;
		for (i = 0; i < SERVE_MOVES_MAX; i++) {
			struct serve_move *mv = s->moving[i];

			if (mv && !mv->running &&
			    (!next || mv->seq < next->seq)) {
				next = mv;
				at = i;
			}
		}
		if (!next) {
			return;
		}
		next->began = loop_clock_us();
		if (pthread_create(
			&next->thread, NULL, serve_move_thread, next) == 0) {
			next->running = true;
			running++;
			continue;
		}
		s->moving[at] = NULL;
		serve_move_run(next);
		serve_move_done(s, next);
	}
}

/* The moves that ended: joined, reported, their held replies sent. */
static void
serve_moves_ended(struct loop *l, int fd, unsigned events, void *arg)
{
	struct serve *s = arg;
	uint64_t count;
	size_t i;

	(void)l;
	(void)events;
	(void)!read(fd, &count, sizeof(count));
	for (i = 0; i < SERVE_MOVES_MAX; i++) {
		struct serve_move *mv = s->moving[i];

		if (!mv || !mv->running || !atomic_load(&mv->done)) {
			continue;
		}
		pthread_join(mv->thread, NULL);
		/* No longer moving: the reload that reports it exports it. */
		s->moving[i] = NULL;
		serve_move_done(s, mv);
	}
	serve_moves_start(s);
}

/* A free place for a move beside the loop (its eventfd watched), or -1. */
static int
serve_move_slot(struct serve *s)
{
	int i;

	if (!s->moves_fd_open) {
		s->moves_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (s->moves_fd < 0) {
			return -1;
		}
		if (loop_add_fd(s->loop, s->moves_fd, LOOP_READ,
			serve_moves_ended, s) < 0) {
			close(s->moves_fd);
			return -1;
		}
		s->moves_fd_open = true;
	}
	for (i = 0; i < SERVE_MOVES_MAX; i++) {
		if (!s->moving[i]) {
			return i;
		}
	}
	return -1;
}

/*
 * Carry out @p for client @rc, whose firmware (@mac) asked for an
 * address.  The layer is built by a thread, so DHCP, TFTP and NFS go on
 * for every other client meanwhile; the firmware's reply waits for the
 * move (dhcp_service_release()), since the boot files it fetches next
 * are neither version's until the move is over.  With no place left to
 * wait in, the move is made here and now.
 * Return: true when the reply must wait.
 */
static bool
serve_boot_make(struct serve *s, const struct registry_client *rc,
    const uint8_t mac[6], const struct moves_plan *p)
{
	struct serve_move *mv = calloc(1, sizeof(*mv));
	int slot = s->loop ? serve_move_slot(s) : -1;

	if (!mv) {
		log_warn(&clients_log,
		    "event=move-error client=%s error=\"%s\"", rc->name,
		    strerror(ENOMEM));
		return false;
	}
	mv->plan = *p;
	memcpy(mv->mac, mac, 6);
	serve_move_prepare(s, rc, mv);
	if (slot >= 0) {
		mv->seq = s->moves_made++;
		s->moving[slot] = mv;
		serve_moves_start(s);
		/* Made already when no thread could be had: then the reply
		 * goes out now. */
		return serve_moving(s, rc->name);
	}
	mv->began = loop_clock_us();
	serve_move_run(mv);
	/* Nothing is held for it yet: the reply goes out as it is. */
	serve_move_done(s, mv);
	return false;
}

/*
 * @rc as its record on disk has it: `client set` and `image rollout`
 * rewrite a record inside the client's directory, which the watch of
 * the clients directory does not see, and the move they ask for is
 * decided now.  Return: borrowed (after a reload, a new one), or NULL
 * when the client is gone.
 */
static const struct registry_client *
serve_record_fresh(struct serve *s, const struct registry_client *rc)
{
	char name[REGISTRY_NAME_MAX];

	if (registry_record_current(s->cfg->state_dir, rc)) {
		return rc;
	}
	snprintf(name, sizeof(name), "%s", rc->name);
	serve_reload_clients(s);
	return serve_client_named(s, name);
}

/*
 * A layered or volatile client's firmware asks for its address: the
 * client is starting, nothing of its old boot is mounted, and its boot
 * files are about to be read, so this is where it changes version or
 * starts empty (moves_plan()).  @mac: the firmware's.
 * Return: true when its reply waits for a move (serve_boot_make()).
 */
static bool
serve_boot_client(
    struct serve *s, const struct registry_client *rc, const uint8_t mac[6])
{
	char name[REGISTRY_NAME_MAX], esc[LOG_ESCAPE_MAX];
	struct moves_plan p;
	struct rec_change halt[] = {
	    {"rollout_state", MOVES_STATE_HALTED},
	    {"rollback_reason", NULL},
	    {"next_version", NULL},
	    {"move_requested", NULL},
	};

	snprintf(name, sizeof(name), "%s", rc->name);
	if (serve_moving(s, name)) {
		/* A retransmission: it waits with the first. */
		return true;
	}
	rc = serve_record_fresh(s, rc);
	if (!rc) {
		return false;
	}
	moves_plan(&s->registry, rc, (int64_t)time(NULL), &p);
	switch (p.action) {
	case MOVES_NONE:
		return false;
	case MOVES_WAIT:
		log_info(&clients_log,
		    "event=move-waits client=%s to=%u reason=\"%s\"", name,
		    rc->next_version,
		    log_escape(esc, p.reason, strlen(p.reason)));
		serve_move_event(s, name, OBS_INFO, "move-waits",
		    "stays on version %u: %s", rc->version, p.reason);
		return false;
	case MOVES_HALT:
		log_warn(&clients_log,
		    "event=move-halted client=%s to=%u reason=\"%s\"", name,
		    rc->next_version,
		    log_escape(esc, p.reason, strlen(p.reason)));
		serve_move_event(s, name, OBS_WARN, "move-halted",
		    "stays on version %u, its move to %u is dropped: %s",
		    rc->version, rc->next_version, p.reason);
		halt[1].value = p.reason;
		serve_record_edit(
		    s, name, halt, sizeof(halt) / sizeof(halt[0]));
		serve_reload_clients(s);
		rc = serve_client_named(s, name);
		if (rc && rc->root_mode == REGISTRY_ROOT_VOLATILE) {
			p.action = MOVES_EMPTY;
			return serve_boot_make(s, rc, mac, &p);
		}
		return false;
	case MOVES_EMPTY:
	case MOVES_MOVE:
	case MOVES_BACK:
		return serve_boot_make(s, rc, mac, &p);
	}
	return false;
}

/* When the next client a rollout moved runs out of time, or 0. */
static int64_t
serve_moves_next_due(const struct serve *s)
{
	int64_t due = 0;
	size_t i;

	for (i = 0; i < s->registry.n; i++) {
		const struct registry_client *rc = &s->registry.clients[i];
		int64_t d = rc->moved_at + (int64_t)rc->health_timeout + 1;

		if (rc->rollout[0] &&
		    !strcmp(rc->rollout_state, MOVES_STATE_MOVED) &&
		    (due == 0 || d < due)) {
			due = d;
		}
	}
	return due;
}

static void
serve_moves_arm(struct serve *s)
{
	int64_t due = serve_moves_next_due(s), now = (int64_t)time(NULL);

	if (!s->loop || !s->moves_timer.fn) {
		return;
	}
	if (due == 0) {
		loop_timer_cancel(s->loop, &s->moves_timer);
		return;
	}
	/* Past due: the record could not be written (a command holds the
	 * client); try again in a while, not at once. */
	loop_timer_arm(s->loop, &s->moves_timer,
	    loop_now_ms(s->loop) +
		(uint64_t)(due > now ? due - now : 5) * 1000);
}

void
serve_moves_due(struct loop *l, struct loop_timer *t)
{
	struct serve *s = t->arg;
	int64_t now = (int64_t)time(NULL);
	char names[8][REGISTRY_NAME_MAX], why[160];
	size_t i, n = 0;

	(void)l;
	for (i = 0; i < s->registry.n && n < 8; i++) {
		if (moves_overdue(&s->registry.clients[i], now)) {
			snprintf(names[n++], REGISTRY_NAME_MAX, "%s",
			    s->registry.clients[i].name);
		}
	}
	for (i = 0; i < n; i++) {
		const struct registry_client *rc =
		    serve_client_named(s, names[i]);
		struct rec_change ch[] = {
		    {"rollout_state", MOVES_STATE_FAILED},
		    {"rollback_reason", why},
		};

		if (!rc) {
			continue;
		}
		snprintf(why, sizeof(why),
		    "did not reach root mounted within %u s of its move to "
		    "version %u",
		    rc->health_timeout, rc->version);
		log_warn(&clients_log,
		    "event=move-failed client=%s version=%u back-to=%u "
		    "reason=\"%s\"",
		    names[i], rc->version, rc->previous_version, why);
		serve_move_event(s, names[i], OBS_WARN, "move-failed",
		    "%s; back to version %u at its next boot", why,
		    rc->previous_version);
		serve_record_edit(s, names[i], ch, 2);
	}
	/* Arms the timer again for the rest. */
	serve_reload_clients(s);
}

/*
 * The root export of a client a rollout moved was mounted: the move is
 * healthy, and its rollout's followers may go.
 */
static void
serve_moves_mounted(struct serve *s, struct in_addr peer, const char *dir)
{
	const struct registry_client *rc = NULL;
	char when[32];
	struct rec_change ch[] = {
	    {"rollout_state", MOVES_STATE_HEALTHY},
	    {"healthy_at", when},
	};
	size_t i;

	for (i = 0; !rc && i < s->naddrs; i++) {
		if (s->addrs[i].ip.s_addr == peer.s_addr) {
			rc = serve_client_named(s, s->addrs[i].name);
		}
	}
	if (!rc || strcmp(rc->root_dir, dir) != 0 || !rc->rollout[0] ||
	    strcmp(rc->rollout_state, MOVES_STATE_MOVED) != 0 ||
	    moves_overdue(rc, (int64_t)time(NULL))) {
		return;
	}
	prov_now_iso(when, sizeof(when));
	log_info(&clients_log,
	    "event=move-healthy client=%s version=%u rollout=%s", rc->name,
	    rc->version, rc->rollout);
	serve_move_event(s, rc->name, OBS_OK, "move-healthy",
	    "root mounted on version %u within %u s of its move", rc->version,
	    rc->health_timeout);
	if (serve_record_edit(s, rc->name, ch, 2) == 0) {
		serve_reload_clients(s);
	}
}

/*
 * Is a DISCOVER from @mac naming @rc (by serial or MAC) the client's own
 * boot?  Its record's MAC, or the one it was last seen booting with,
 * must be the sender's: another host naming a client's serial does not
 * move it or empty its root.  DHCP has no more proof than that to give
 * (docs/security.md).
 */
static bool
serve_boot_is_its(
    struct serve *s, const struct registry_client *rc, const uint8_t mac[6])
{
	const struct serve_addr *a = serve_addr_find(s, rc->name);

	if (rc->has_mac) {
		return memcmp(rc->mac, mac, 6) == 0;
	}
	return !a || !a->has_mac || memcmp(a->mac, mac, 6) == 0;
}

bool
serve_note_dhcp_request(
    struct serve *s, const struct dhcp_msg *m, int model_num)
{
	enum dhcp_pi_model model = (enum dhcp_pi_model)model_num;
	int64_t now = loop_wall_ms();
	char serial[16] = "", cls[LOG_ESCAPE_MAX] = "";
	const struct dhcp_opt *vc = &m->opt[DHCP_OPT_VENDOR_CLASS];
	uint32_t v;
	/* Unit tests and fuzzers run services without a status view. */
	if (!s || !s->obs) {
		return false;
	}

	s->obs->c.dhcp_requests++;
	if (model == DHCP_PI_NONE && !dhcp_is_pxe(m)) {
		/*
		 * An operating system asking for its address (the kernel's
		 * ip=dhcp, udhcpc): only worth a line for known clients.
		 */
		if (!obs_find_mac(s->obs, m->chaddr)) {
			return false;
		}
	}
	if (dhcp_pi_serial(m, &v)) {
		snprintf(serial, sizeof(serial), "%08x", v);
	}
	/* Option 60 is any bytes a host chose: escape it like a log value. */
	if (vc->p && vc->len) {
		log_escape(cls, vc->p, vc->len);
	}
	obs_dhcp_seen(s->obs, m->chaddr, serial,
	    model != DHCP_PI_NONE ? dhcp_pi_model_name(model)
		: dhcp_is_pxe(m)  ? "pxe"
				  : NULL,
	    now);
	obs_event(s->obs, m->chaddr, (struct in_addr){0}, now, OBS_DHCP, OBS_OK,
	    m->type == DHCPDISCOVER      ? "discover"
		: m->type == DHCPREQUEST ? "request"
					 : "message",
	    "model=%s%s%s%s%s",
	    model != DHCP_PI_NONE ? dhcp_pi_model_name(model)
		: dhcp_is_pxe(m)  ? "pxe"
				  : "os",
	    serial[0] ? " serial=" : "", serial, cls[0] ? " class=" : "", cls);
	/*
	 * A boot starts with the firmware's (or PXE ROM's) DISCOVER; the
	 * REQUEST of the same boot and the kernel's DHCP change nothing.
	 */
	if (m->type == DHCPDISCOVER &&
	    (model != DHCP_PI_NONE || dhcp_is_pxe(m))) {
		const struct registry_client *rc = serial[0]
		    ? registry_find_prefix(&s->registry, serial, 8)
		    : NULL;

		rc = rc ? rc : serve_client_for_mac(s, m->chaddr);
		if (rc && serve_boot_is_its(s, rc, m->chaddr)) {
			return serve_boot_client(s, rc, m->chaddr);
		}
	}
	return false;
}

void
serve_note_dhcp_reply(struct serve *s, const struct dhcp_msg *req,
    const struct dhcp_reply *r, bool binding)
{
	int64_t now = loop_wall_ms();
	const char *what = r->type == DHCPOFFER ? "offer"
	    : r->type == DHCPACK                ? "ack"
						: "nak";
	char yi[INET_ADDRSTRLEN], si[INET_ADDRSTRLEN];
	struct in_addr ya = {.s_addr = htonl(r->yiaddr)};
	struct in_addr sa = {.s_addr = htonl(r->siaddr)};
	const struct registry_client *rc;
	/* Unit tests and fuzzers run services without a status view. */
	if (!s || !s->obs) {
		return;
	}

	s->obs->c.dhcp_replies++;
	if (r->type != DHCPNAK) {
		serve_learn_mac(s, req);
	}
	/*
	 * Server mode: an ACK, or the OFFER that is the lease of a ROM that
	 * never REQUESTs (reference §2.6), binds the address pinetboot
	 * itself handed to that MAC.  Nothing else does: an OFFER the
	 * client may still turn down promises nothing.
	 */
	if (binding && r->yiaddr && r->type != DHCPNAK &&
	    s->cfg->dhcp_mode == CFG_DHCP_SERVER) {
		rc = serve_client_for_mac(s, req->chaddr);
		if (rc) {
			serve_client_bind(s, rc, ya, "pinetboot leased");
		} else {
			obs_bind_ip(s->obs, req->chaddr, ya);
		}
	}
	/*
	 * Proxy mode: a reply to a provisioned Pi's firmware (or a PXE ROM)
	 * means pinetboot serves this boot; the DHCP that follows may move
	 * its exports for a while (serve_watch_bound()).
	 */
	if (s->watch && (r->type == DHCPOFFER || r->type == DHCPACK) &&
	    s->cfg->dhcp_mode == CFG_DHCP_PROXY &&
	    serve_client_for_mac(s, req->chaddr)) {
		dhcpwatch_open_window(s->watch, req->chaddr,
		    loop_now_ms(s->loop) +
			(uint64_t)s->cfg->dhcp_proxy_window_s * 1000);
	}
	if (!obs_find_mac(s->obs, req->chaddr)) {
		return;
	}
	inet_ntop(AF_INET, &ya, yi, sizeof(yi));
	inet_ntop(AF_INET, &sa, si, sizeof(si));
	obs_event(s->obs, req->chaddr, (struct in_addr){0}, now, OBS_DHCP,
	    r->type == DHCPNAK ? OBS_WARN : OBS_OK, what, "%s%s%s%s%s%s",
	    r->yiaddr ? "addr=" : "proxy", r->yiaddr ? yi : "",
	    r->siaddr ? " tftp=" : "", r->siaddr ? si : "",
	    r->file          ? " file="
		: r->pi_menu ? " menu="
			     : "",
	    r->file          ? r->file
		: r->pi_menu ? "\"Raspberry Pi Boot\""
			     : "");
}

/*
 * Misses the firmware makes on every boot (reference §3.4): probes for
 * recovery images, EEPROM updates, alternative file names.  A miss of
 * anything else may be why a boot fails.
 */
static bool
serve_miss_is_harmful(const char *file)
{
	static const char *const needed[] = {"config.txt", "cmdline.txt",
	    "start4.elf", "start.elf", "fixup4.dat", "fixup.dat"};
	const char *base = strrchr(file, '/');
	size_t i;

	base = base ? base + 1 : file;
	for (i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		if (!strcmp(base, needed[i])) {
			/* Under a prefix a miss only drops the prefix. */
			return base == file;
		}
	}
	return false;
}

/*
 * A TFTP record goes to the timeline of the client whose serial or MAC
 * prefixes the file name (with the address it came from: the name, not
 * the sender, says whose boot it is), else to whoever holds the address.
 * Only the status view: TFTP binds no address and moves no export.
 */
static void __attribute__((format(printf, 5, 6)))
serve_tftp_event(struct serve *s, const struct tftp_record *r,
    enum obs_level level, const char *what, const char *fmt, ...)
{
	size_t plen = tftp_prefix_len(r->file);
	const struct registry_client *rc =
	    plen ? registry_find_prefix(&s->registry, r->file, plen) : NULL;
	struct obs_client *c = rc ? obs_find_name(s->obs, rc->name) : NULL;
	char detail[OBS_TEXT_MAX], from[INET_ADDRSTRLEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (c) {
		inet_ntop(AF_INET, &r->addr, from, sizeof(from));
		obs_event_to(c, loop_wall_ms(), OBS_TFTP, level, what,
		    "%s from=%s", detail, from);
	} else {
		obs_event(s->obs, NULL, r->addr, loop_wall_ms(), OBS_TFTP,
		    level, what, "%s", detail);
	}
}

void
serve_note_tftp(struct serve *s, const struct tftp_record *r)
{
	struct obs_counters *c;
	const char *o = r->outcome ? r->outcome : "?";

	/* Unit tests and fuzzers run services without a status view. */
	if (!s || !s->obs) {
		return;
	}
	c = &s->obs->c;

	c->tftp_bytes += r->bytes;
	if (!strcmp(o, "done")) {
		c->tftp_transfers++;
		serve_tftp_event(s, r, OBS_OK, "file",
		    "file=\"%s\" bytes=%llu ms=%u blksize=%u", r->file,
		    (unsigned long long)r->bytes, r->ms, r->blksize);
	} else if (!strcmp(o, "early-terminate")) {
		serve_tftp_event(s, r, OBS_INFO, "probe",
		    "file=\"%s\" size=%llu", r->file,
		    (unsigned long long)r->size);
	} else if (!strcmp(o, "not-found")) {
		bool harmful = serve_miss_is_harmful(r->file);

		c->tftp_misses++;
		serve_tftp_event(s, r, harmful ? OBS_WARN : OBS_INFO, "miss",
		    "file=\"%s\"%s", r->file,
		    harmful ? " (the firmware needs this file)"
			    : " (normal for the firmware)");
	} else {
		c->tftp_errors++;
		serve_tftp_event(s, r, OBS_ERROR, o,
		    "file=\"%s\" bytes=%llu code=%u", r->file,
		    (unsigned long long)r->bytes, r->code);
	}
}

void
serve_note_mount(struct serve *s, struct in_addr peer, const char *dir, bool ok)
{
	int64_t now = loop_wall_ms();
	char esc[LOG_ESCAPE_MAX];
	/* Unit tests and fuzzers run services without a status view. */
	if (!s || !s->obs) {
		return;
	}

	if (ok) {
		s->obs->c.nfs_mounts++;
		serve_moves_mounted(s, peer, dir);
	} else {
		s->obs->c.nfs_mount_refused++;
	}
	obs_event(s->obs, NULL, peer, now, OBS_NFS, ok ? OBS_OK : OBS_ERROR,
	    ok ? "mount" : "mount-refused", "export=\"%s\"%s",
	    log_escape(esc, dir, strlen(dir)),
	    ok ? "" : " (not exported to this address)");
}
