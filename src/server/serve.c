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
#include <unistd.h>

#include "core/log.h"
#include "server/nfs.h"
#include "server/serve.h"

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
serve_reload(struct serve *s)
{
	struct cfg *fresh = calloc(1, sizeof(*fresh));
	char msg[512] = "";
	int r;

	if (!fresh) {
		log_warn(&serve_log,
		    "event=reload-failed error=\"out of "
		    "memory\"");
		return;
	}
	r = s->load(s->load_arg, fresh, msg, sizeof(msg));
	if (r < 0) {
		char esc[LOG_ESCAPE_MAX];

		log_warn(&serve_log,
		    "event=reload-failed keeping=old "
		    "error=\"%s\"",
		    log_escape(esc, msg, strlen(msg)));
		free(fresh);
		return;
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
	free(s->cfg);
	s->cfg = fresh;
	log_info(&serve_log, "event=reload result=ok");
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
	nfs_service_close(s->nfs);
	s->nfs = NULL;
}

static int
serve_open_services(struct serve *s)
{
	if (s->cfg->nfs_enable && s->cfg->nfs_nexport > 0) {
		s->nfs = nfs_service_open(s);
		if (!s->nfs) {
			return -1;
		}
	} else if (s->cfg->nfs_enable) {
		log_info(&serve_log,
		    "event=nfs-idle note=\"no --export given: "
		    "portmapper, MOUNT and NFS not started\"");
	}
	return 0;
}

int
serve_run(serve_load_fn load, void *load_arg)
{
	struct serve s = {.load = load, .load_arg = load_arg};
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
	loop_close(s.loop);
	free(s.cfg);
	return status;
}
