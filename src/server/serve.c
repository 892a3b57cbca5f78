#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/capability.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/io.h"
#include "core/log.h"
#include "server/dhcp/dhcp.h"
#include "server/http.h"
#include "server/obs.h"
#include "server/nfs/nfs.h"
#include "server/serve.h"
#include "server/tftp/tftp.h"

static const struct log_ctx serve_log = {.svc = "serve"};

/* The interface of the IPv4 default route, from /proc/net/route. */
static int
serve_default_route_if(char *ifname, size_t cap)
{
	char line[256], name[IF_NAMESIZE + 1];
	unsigned long dest, mask;
	FILE *f = fopen("/proc/net/route", "re");
	int r = -ENODEV;

	if (!f) {
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%16s %lx %*x %*x %*d %*d %*d %lx", name,
			&dest, &mask) == 3 &&
		    dest == 0 && mask == 0 && strlen(name) < cap) {
			strcpy(ifname, name);
			r = 0;
			break;
		}
	}
	fclose(f);
	return r;
}

static unsigned
serve_if_mtu(const char *ifname)
{
	struct ifreq ifr;
	unsigned mtu = 1500;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		return mtu;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0) {
		mtu = (unsigned)ifr.ifr_mtu;
	}
	close(fd);
	return mtu;
}

int
serve_resolve_net(struct serve *s, char *msg, size_t msglen)
{
	const struct cfg *c = s->cfg;
	bool want_addr = c->address.s_addr != htonl(INADDR_ANY);
	char want_if[IF_NAMESIZE] = "";
	struct ifaddrs *ifa_list, *ifa;
	int r = -EADDRNOTAVAIL;

	if (c->interface[0]) {
		if (strlen(c->interface) >= sizeof(want_if)) {
			snprintf(msg, msglen, "interface name '%s' is too long",
			    c->interface);
			return -ENODEV;
		}
		strcpy(want_if, c->interface);
	} else if (!want_addr) {
		if (serve_default_route_if(want_if, sizeof(want_if)) < 0) {
			snprintf(msg, msglen,
			    "no default route to pick an "
			    "interface from: give --interface or --address");
			return -ENODEV;
		}
	}
	if (getifaddrs(&ifa_list) < 0) {
		snprintf(
		    msg, msglen, "cannot list interfaces: %s", strerror(errno));
		return -errno;
	}
	for (ifa = ifa_list; ifa; ifa = ifa->ifa_next) {
		const struct sockaddr_in *sin, *mask;

		if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET) {
			continue;
		}
		sin = (const struct sockaddr_in *)(const void *)ifa->ifa_addr;
		mask =
		    (const struct sockaddr_in *)(const void *)ifa->ifa_netmask;
		if (want_if[0] && strcmp(ifa->ifa_name, want_if) != 0) {
			continue;
		}
		if (want_addr && sin->sin_addr.s_addr != c->address.s_addr) {
			continue;
		}
		snprintf(s->ifname, sizeof(s->ifname), "%s", ifa->ifa_name);
		s->addr = sin->sin_addr;
		s->netmask = mask ? mask->sin_addr : (struct in_addr){0};
		r = 0;
		break;
	}
	freeifaddrs(ifa_list);
	if (r < 0) {
		char a[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &c->address, a, sizeof(a));
		if (want_addr && want_if[0]) {
			snprintf(msg, msglen,
			    "address %s is not on interface "
			    "%s: give an address of that interface",
			    a, want_if);
		} else if (want_addr) {
			snprintf(msg, msglen,
			    "address %s is not on any "
			    "interface of this machine: give one of its "
			    "addresses with --address",
			    a);
		} else {
			snprintf(msg, msglen,
			    "interface %s does not exist or "
			    "has no IPv4 address: choose another with "
			    "--interface",
			    want_if);
		}
		return r;
	}
	s->ifindex = if_nametoindex(s->ifname);
	s->mtu = serve_if_mtu(s->ifname);
	return 0;
}

static void
serve_registry_warn(void *arg, const char *name, const char *why)
{
	char esc[LOG_ESCAPE_MAX];

	(void)arg;
	log_warn(&serve_log, "event=client-skipped client=%s error=\"%s\"",
	    name, log_escape(esc, why, strlen(why)));
}

/*
 * Re-read the client registry and hand it to every service.  On failure
 * the old registry stays in force.
 */
int
serve_reload_clients(struct serve *s)
{
	struct registry fresh;
	size_t i;
	int r;

	r = registry_load(s->cfg->state_dir, &fresh, serve_registry_warn, s);
	if (r < 0) {
		log_warn(&serve_log,
		    "event=clients-reload-failed keeping=old "
		    "error=\"%s\"",
		    strerror(-r));
		return r;
	}
	registry_fini(&s->registry);
	s->registry = fresh;
	obs_forget_provisioned(s->obs);
	for (i = 0; i < s->registry.n; i++) {
		const struct registry_client *c = &s->registry.clients[i];

		obs_provision(s->obs, c->name, c->has_mac ? c->mac : NULL,
		    c->serial, c->addr);
		if (c->root_mode != REGISTRY_ROOT_COPY) {
			char ver[96];

			snprintf(
			    ver, sizeof(ver), "%s@%u", c->image, c->version);
			obs_set_version(s->obs, c->name, ver, c->rollout_state,
			    c->rollback_reason);
		}
	}
	dhcp_serve_reserve_registry(s);
	serve_clients_resync(s);
	log_info(&serve_log, "event=clients-loaded clients=%zu", s->registry.n);
	return 0;
}

static void
serve_clients_settled(struct loop *l, struct loop_timer *t)
{
	(void)l;
	serve_reload_clients(t->arg);
}

static void
serve_handle_clients_watch(struct loop *l, int fd, unsigned events, void *arg)
{
	struct serve *s = arg;
	char tmp[4096];

	(void)events;
	while (read(fd, tmp, sizeof(tmp)) > 0) {
	}
	/*
	 * `client add` renames a finished directory into place, and a user
	 * may edit several records: settle for a moment, then reload once.
	 */
	loop_timer_arm(l, &s->clients_timer, loop_now_ms(l) + 300);
}

/* Watch STATE/clients so that added and removed clients take effect. */
static int
serve_watch_clients(struct serve *s)
{
	char dir[PATH_MAX];
	int n, fd;

	n = snprintf(dir, sizeof(dir), "%s/clients", s->cfg->state_dir);
	if (n < 0 || (size_t)n >= sizeof(dir)) {
		return -ENAMETOOLONG;
	}
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	if (inotify_add_watch(fd, dir,
		IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM |
		    IN_CLOSE_WRITE | IN_ONLYDIR) < 0 ||
	    loop_add_fd(s->loop, fd, LOOP_READ, serve_handle_clients_watch, s) <
		0) {
		n = -errno;
		close(fd);
		return n;
	}
	s->clients_watch_fd = fd;
	loop_timer_init(&s->clients_timer, serve_clients_settled, s);
	loop_timer_init(&s->moves_timer, serve_moves_due, s);
	return 0;
}

static int
serve_reload(void *arg)
{
	struct serve *s = arg;
	struct cfg *fresh = calloc(1, sizeof(*fresh));
	char msg[512] = "", token[HTTP_TOKEN_MAX + 1];
	int r;

	if (!fresh) {
		log_warn(&serve_log,
		    "event=reload-failed error=\"out of "
		    "memory\"");
		return -ENOMEM;
	}
	r = s->load(s->load_arg, fresh, msg, sizeof(msg));
	if (r < 0) {
		char esc[LOG_ESCAPE_MAX];

		log_warn(&serve_log,
		    "event=reload-failed keeping=old "
		    "error=\"%s\"",
		    log_escape(esc, msg, strlen(msg)));
		free(fresh);
		return r;
	}
	token[0] = 0;
	if (fresh->http_token_file[0]) {
		r = http_token_load(
		    fresh->http_token_file, token, msg, sizeof(msg));
	}
	if (r < 0) {
		char esc[LOG_ESCAPE_MAX];

		log_warn(&serve_log,
		    "event=reload-failed keeping=old error=\"%s\"",
		    log_escape(esc, msg, strlen(msg)));
		free(fresh);
		return r;
	}
	if (fresh->address.s_addr != s->cfg->address.s_addr ||
	    strcmp(fresh->interface, s->cfg->interface) != 0 ||
	    fresh->tftp_port != s->cfg->tftp_port ||
	    fresh->dhcp_mode != s->cfg->dhcp_mode ||
	    fresh->tftp_enable != s->cfg->tftp_enable ||
	    fresh->nfs_enable != s->cfg->nfs_enable) {
		log_warn(&serve_log,
		    "event=reload note=\"address, interface, "
		    "ports and which services run change only on restart\"");
	}
	loop_log_sink()->level = fresh->log_level;
	http_service_set_token(s->http, token);
	free(s->cfg);
	s->cfg = fresh;
	log_info(&serve_log, "event=reload result=ok");
	return serve_reload_clients(s);
}

static void
serve_handle_signal(struct loop *l, int signo, void *arg)
{
	struct serve *s = arg;

	if (signo == SIGHUP) {
		serve_reload(s);
		return;
	}
	log_info(&serve_log, "event=stop signal=%s",
	    signo == SIGTERM ? "TERM" : "INT");
	loop_stop(l);
}

static void
serve_close_services(struct serve *s)
{
	tftp_service_close(s->tftp);
	s->tftp = NULL;
	dhcp_serve_close(s);
	nfs_service_close(s->nfs);
	s->nfs = NULL;
	http_service_close(s->http);
	s->http = NULL;
	if (s->clients_watch_fd >= 0) {
		loop_timer_cancel(s->loop, &s->clients_timer);
		loop_timer_cancel(s->loop, &s->moves_timer);
		loop_close_fd(s->loop, s->clients_watch_fd);
		s->clients_watch_fd = -1;
	}
	serve_clients_fini(s);
	registry_fini(&s->registry);
}

/*
 * The state directory holds leases, the control socket and every
 * client's root, with the Pis' setuid programs, device nodes and users'
 * homes: it and the trees under it are the owner's alone (issue 10).  A
 * directory an older version or an operator left open is closed here,
 * and the log says so.
 */
static int
serve_private_dir(const char *state, const char *sub)
{
	char path[PATH_MAX];
	unsigned was;
	int n, r;

	n = snprintf(path, sizeof(path), "%s%s%s", state, sub ? "/" : "",
	    sub ? sub : "");
	if (n < 0 || (size_t)n >= sizeof(path)) {
		return -ENAMETOOLONG;
	}
	r = io_private_dir(path, &was);
	if (r == 0 && was) {
		log_warn(&serve_log,
		    "event=state-dir-tightened path=%s mode=%04o now=0700 "
		    "why=\"local users could reach the client roots\"",
		    path, was);
	}
	return r;
}

static int
serve_make_state_dir(const struct cfg *c)
{
	static const char *const subs[] = {NULL, "clients", "images"};
	size_t i;
	int r;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		r = serve_private_dir(c->state_dir, subs[i]);
		if (r < 0) {
			return r;
		}
	}
	return 0;
}

static int
serve_open_services(struct serve *s)
{
	struct http_service_config hc = {
	    .tcp_listen = s->cfg->http,
	    .show_ids = s->cfg->http_show_ids,
	    .obs = s->obs,
	    .reload = serve_reload,
	    .reload_arg = s,
	};
	char sock[PATH_MAX], msg[512], token[HTTP_TOKEN_MAX + 1] = "";
	int r;

	if (s->cfg->http_token_file[0]) {
		r = http_token_load(
		    s->cfg->http_token_file, token, msg, sizeof(msg));
		if (r < 0) {
			log_err(&serve_log,
			    "event=start-failed svc=http error=\"%s\"", msg);
			return r;
		}
		hc.token = token;
	}
	r = serve_make_state_dir(s->cfg);
	if (r < 0) {
		log_err(&serve_log,
		    "event=start-failed error=\"cannot create or "
		    "secure state directory %s (or its clients/, images/): "
		    "%s\"",
		    s->cfg->state_dir, strerror(-r));
		return r;
	}
	r = snprintf(sock, sizeof(sock), "%s/%s", s->cfg->state_dir,
	    SERVE_CONTROL_SOCKET);
	hc.unix_path = r > 0 && (size_t)r < sizeof(sock) ? sock : NULL;
	s->http = http_service_open(s->loop, &hc, msg, sizeof(msg));
	if (!s->http) {
		log_err(&serve_log, "event=start-failed svc=http error=\"%s\"",
		    msg);
		return -EINVAL;
	}
	r = serve_watch_clients(s);
	if (r < 0) {
		log_err(&serve_log,
		    "event=start-failed error=\"cannot watch "
		    "%s/clients: %s\"",
		    s->cfg->state_dir, strerror(-r));
		return r;
	}
	if (s->cfg->tftp_enable && s->cfg->tftp_root_default &&
	    mkdir(s->cfg->tftp_root, 0755) < 0 && errno != EEXIST) {
		log_err(&serve_log,
		    "event=start-failed error=\"cannot create "
		    "%s: %s\"",
		    s->cfg->tftp_root, strerror(errno));
		return -errno;
	}
	if (s->cfg->tftp_enable) {
		s->tftp = tftp_service_open(s, msg, sizeof(msg));
		if (!s->tftp) {
			log_err(&serve_log,
			    "event=start-failed svc=tftp "
			    "error=\"%s\"",
			    msg);
			return -EINVAL;
		}
		tftp_service_set_prefix_map(s->tftp, serve_tftp_prefix, s);
		/* A Pi 2/3 ROM's TFTP request confirms its on-offer lease. */
		tftp_service_set_request_hook(s->tftp, dhcp_serve_confirm, s);
	}
	/*
	 * NFS runs even without --export: provisioned clients' roots are
	 * exported as their addresses become known.
	 */
	if (s->cfg->nfs_enable) {
		s->nfs = nfs_service_open(s);
		if (!s->nfs) {
			return -EINVAL;
		}
	}
	r = dhcp_serve_open(s);
	if (r < 0) {
		return r;
	}
	if (s->cfg->dhcp_mode == CFG_DHCP_PROXY) {
		serve_clients_watch_open(s);
	}
	return serve_reload_clients(s);
}

/*
 * Give up what no service needs before any is opened, so every worker
 * thread starts with the reduced set too.  What stays: privileged ports
 * and packet sockets (DHCP, TFTP, portmapper, NFS), neighbour entries
 * for the Pi 3 ROM (quirk 12), and the file-system capabilities an NFS
 * server of operating-system roots cannot do without: owners, modes,
 * device nodes, file capabilities, acting as each caller
 * (setfsuid/setfsgid), and open_by_handle_at.  Nothing is lost when not
 * running as root: then there was nothing to drop.
 */
static void
serve_drop_privileges(void)
{
	static const int keep[] = {CAP_CHOWN, CAP_DAC_OVERRIDE,
	    CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID, CAP_SETGID, CAP_SETUID,
	    CAP_SETFCAP, CAP_MKNOD, CAP_NET_ADMIN, CAP_NET_RAW,
	    CAP_NET_BIND_SERVICE};
	struct __user_cap_header_struct hdr = {
	    .version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {{0}};
	uint32_t mask[2] = {0, 0};
	size_t i;
	int cap;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		log_warn(&serve_log, "event=no-new-privs-failed error=\"%s\"",
		    strerror(errno));
	}
	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		mask[keep[i] / 32] |= 1u << (keep[i] % 32);
	}
	for (cap = 0; cap <= 63; cap++) {
		if (mask[cap / 32] & (1u << (cap % 32))) {
			continue;
		}
		/* EINVAL past the kernel's last capability ends the walk. */
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 &&
		    errno == EINVAL) {
			break;
		}
	}
	if (syscall(SYS_capget, &hdr, data) < 0) {
		return;
	}
	for (i = 0; i < 2; i++) {
		data[i].effective &= mask[i];
		data[i].permitted &= mask[i];
		data[i].inheritable &= mask[i];
	}
	if (syscall(SYS_capset, &hdr, data) < 0) {
		log_warn(&serve_log, "event=capset-failed error=\"%s\"",
		    strerror(errno));
		return;
	}
	log_debug(&serve_log, "event=privileges-dropped");
}

int
serve_run(serve_load_fn load, void *load_arg)
{
	struct serve s = {
	    .load = load, .load_arg = load_arg, .clients_watch_fd = -1};
	char msg[512] = "";
	char addr[INET_ADDRSTRLEN];
	int status = 1, r;

	s.cfg = calloc(1, sizeof(*s.cfg));
	if (!s.cfg) {
		fprintf(stderr, "pinetboot serve: out of memory\n");
		return 1;
	}
	r = load(load_arg, s.cfg, msg, sizeof(msg));
	if (r < 0) {
		fprintf(stderr, "pinetboot serve: %s\n", msg);
		status = 2;
		goto out;
	}
	loop_log_sink()->level = s.cfg->log_level;
	loop_log_sink()->use_syslog = s.cfg->log_syslog;
	r = serve_resolve_net(&s, msg, sizeof(msg));
	if (r < 0) {
		fprintf(stderr, "pinetboot serve: %s\n", msg);
		goto out;
	}
	s.loop = loop_open();
	if (!s.loop) {
		log_err(&serve_log,
		    "event=start-failed error=\"event loop: "
		    "%s\"",
		    strerror(errno));
		goto out;
	}
	loop_on_signal(s.loop, serve_handle_signal, &s);
	s.obs = obs_new(SERVE_MAX_TRACKED, loop_wall_ms());
	if (!s.obs) {
		log_err(
		    &serve_log, "event=start-failed error=\"out of memory\"");
		goto out;
	}
	serve_drop_privileges();
	r = serve_open_services(&s);
	if (r < 0) {
		goto out;
	}
	inet_ntop(AF_INET, &s.addr, addr, sizeof(addr));
	log_info(&serve_log,
	    "event=start interface=%s address=%s mtu=%u "
	    "dhcp=%s tftp=%s nfs=%s",
	    s.ifname, addr, s.mtu, cfg_dhcp_mode_name(s.cfg->dhcp_mode),
	    s.cfg->tftp_enable ? "on" : "off",
	    s.cfg->nfs_enable ? "on" : "off");
	r = loop_run(s.loop);
	if (r < 0) {
		log_err(
		    &serve_log, "event=loop-failed error=\"%s\"", strerror(-r));
		goto out;
	}
	status = 0;
out:
	serve_close_services(&s);
	obs_free(s.obs);
	loop_close(s.loop);
	free(s.cfg);
	return status;
}
