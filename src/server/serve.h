#ifndef PNB_SERVER_SERVE_H
#define PNB_SERVER_SERVE_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/cfg.h"
#include "core/loop.h"
#include "server/registry.h"

/*
 * The running daemon: the loop, the frozen config, and the services that
 * hang off it.  Services read s->cfg on every request, so a reload is one
 * pointer swap between loop iterations.
 */

/*
 * Builds a complete config (defaults, the config file, then the command
 * line) and validates it.  Called at start and on every SIGHUP.
 * Return: 0 or negative with @msg saying what is wrong.
 */
typedef int (*serve_load_fn)(
    void *arg, struct cfg *out, char *msg, size_t msglen);

struct tftp_service;
struct dhcp_service;
struct lstack;
struct nfs_service;
struct http_service;
struct obs;
struct dhcp_msg;
struct dhcp_reply;
struct tftp_record;
struct dhcpwatch;

/* A provisioned client's known address and the export made for it. */
struct serve_addr {
	char name[REGISTRY_NAME_MAX];
	struct in_addr ip;
	/* A client known by serial only: the MAC it was last seen with. */
	uint8_t mac[6];
	bool has_mac;
	/* Exports of its root and of its boot tree (mounted at /boot/firmware
	 * so kernel updates on the Pi land in what TFTP serves); 0: none. */
	int64_t export_id, boot_export_id;
};

/*
 * A layered client's trees, opened once when the registry names it and
 * shared by its NFS exports and TFTP (server/lstack.h); kept across
 * registry reloads while its image and version stack stay the same.
 */
struct serve_tree {
	char name[REGISTRY_NAME_MAX];
	char image[REGISTRY_NAME_MAX];
	unsigned layers[REGISTRY_LAYERS_MAX];
	size_t nlayers;
	struct lstack *root, *boot; /* references */
};

struct serve_move;
/*
 * Moves waiting or running beside the loop (a whole fleet may power on
 * into a rollout), and how many of them build layers at once: each is
 * disk-bound, so more at once would not end the last one sooner.
 */
#define SERVE_MOVES_MAX     256
#define SERVE_MOVES_RUNNING 2

struct serve {
	struct loop *loop; /* borrowed */
	struct cfg *cfg;   /* owned; swapped on reload */
	serve_load_fn load;
	void *load_arg;

	/* Where the server lives on the network, resolved at start. */
	char ifname[IF_NAMESIZE];
	unsigned ifindex;
	struct in_addr addr, netmask;
	unsigned mtu;

	/*
	 * Provisioned clients, re-read when STATE/clients changes (inotify),
	 * on SIGHUP and on POST /api/reload.  Services look clients up here
	 * per request and are told through serve_clients_changed().
	 */
	struct registry registry;
	struct serve_addr *addrs; /* owned */
	size_t naddrs;
	struct serve_tree *trees; /* owned: layered clients' stacks */
	size_t ntrees;
	/* Proxy mode: the DHCP a served boot does with the site's server. */
	struct dhcpwatch *watch; /* owned; NULL in other modes */
	int clients_watch_fd;
	struct loop_timer clients_timer;
	/* The next health timeout of a client a rollout moved. */
	struct loop_timer moves_timer;
	/*
	 * Layers waiting to be built or being built beside the loop
	 * (serve_boot_make()): their clients have no exports and no TFTP
	 * tree until the move ends, which a thread reports on moves_fd (an
	 * eventfd, opened at the first move).
	 */
	struct serve_move *moving[SERVE_MOVES_MAX];
	uint64_t moves_made; /* orders the waiting ones */
	int moves_fd;
	bool moves_fd_open;

	/* What happened to each client; every service reports here. */
	struct obs *obs;
	/* Status page, metrics and the control socket. */
	struct http_service *http;

	struct tftp_service *tftp;
	struct dhcp_service *dhcp;
	struct nfs_service *nfs;
};

/* The control socket `pinetboot status` and `client` talk to. */
#define SERVE_CONTROL_SOCKET "pinetboot.sock"

/* Most clients the status view tracks (strangers are evicted first). */
#define SERVE_MAX_TRACKED 4096

/*
 * serve_run() - load the config, open every enabled service, and run the
 * loop until SIGTERM or SIGINT.
 * Return: process exit status (0 clean stop, 1 start-up or loop failure).
 */
int serve_run(serve_load_fn load, void *load_arg);

/*
 * serve_resolve_net() - fill in ifname, ifindex, addr, netmask and mtu
 * from cfg->interface and cfg->address: an address must be on an interface
 * of this machine, an interface must exist and have an IPv4 address; with
 * neither, the interface of the default route is used.
 * Return: 0 or -EADDRNOTAVAIL/-ENODEV with @msg naming what to change.
 */
int serve_resolve_net(struct serve *s, char *msg, size_t msglen);

/*
 * Reports from the services (serve_clients.c).  Each turns what a service
 * did into timeline events, metrics, address bindings and exports.  All
 * run on the loop thread.
 */
/* serve_moving() - client @name's layer is being built beside the loop. */
bool serve_moving(const struct serve *s, const char *name);

/*
 * serve_note_dhcp_request() - @m arrived from a client of model @model.
 * Return: true when the reply must wait for dhcp_service_release(): the
 * firmware's DISCOVER started its client's move, which runs beside the
 * loop (serve_move_start()).
 */
bool serve_note_dhcp_request(
    struct serve *s, const struct dhcp_msg *m, int model);
/*
 * serve_note_dhcp_reply() - @r goes out for @req; @binding: it promises
 * the client its address (an ACK, or a ROM's OFFER, which is its lease).
 */
void serve_note_dhcp_reply(struct serve *s, const struct dhcp_msg *req,
    const struct dhcp_reply *r, bool binding);
void serve_note_tftp(struct serve *s, const struct tftp_record *r);
void serve_note_mount(
    struct serve *s, struct in_addr peer, const char *dir, bool ok);

/*
 * serve_reload_clients() - re-read the client registry and hand it to
 * every service; on failure the old registry stays in force.
 */
int serve_reload_clients(struct serve *s);

/*
 * serve_moves_due() - the moves timer: mark the clients a rollout moved
 * that did not reach "root mounted" in time as failed (they go back at
 * their next boot, and the rest of their rollout halts).
 */
void serve_moves_due(struct loop *l, struct loop_timer *t);

/*
 * serve_client_bind() - provisioned client @rc is at @ip: bind it in the
 * status view and export its root and boot tree to @ip only.  A static
 * address in its record is final: any other @ip is logged and ignored.
 * Every move goes to the log and the client's timeline with @why, a
 * phrase that reads before the address ("pinetboot leased").
 */
void serve_client_bind(struct serve *s, const struct registry_client *rc,
    struct in_addr ip, const char *why);

/*
 * serve_clients_watch_open() - proxy mode: watch the DHCP of the boots
 * pinetboot serves (server/dhcpwatch.h).  Without it (no CAP_NET_RAW)
 * exports follow static addresses only, and the log says so.
 */
void serve_clients_watch_open(struct serve *s);

/* serve_clients_resync() - after a registry reload: exports follow it. */
void serve_clients_resync(struct serve *s);
void serve_clients_fini(struct serve *s);

/*
 * The TFTP prefix map: a serial or MAC prefix to the client's boot tree,
 * a directory or a layered client's merged tree (tftp_prefix_fn).
 */
struct tftp_tree;
int serve_tftp_prefix(void *arg, const char *prefix, struct tftp_tree *out);

#endif
