/*
 * DHCP: the codec, then a real service object (server mode with leases
 * in memory, and proxy mode) fed the same bytes through
 * dhcp_service_handle_packet() with a stubbed sender, as systemd's
 * fuzz-dhcp-server does.  The first input byte picks the mode and the
 * port; the rest is the UDP payload.  Replies the service builds are
 * parsed back, so a reply the codec cannot read is a crash too.  The
 * same bytes then go to the ARP parser (answers to conflict probes), and
 * their last four name an address a TFTP request came from.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cfg.h"
#include "core/cur.h"
#include "core/log.h"
#include "core/loop.h"
#include "proto/dhcp/dhcp.h"
#include "server/dhcp/dhcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_rig {
	struct loop *loop;
	struct cfg cfg[2];
	struct cfg *cfgp[2];
	struct dhcp_service *svc[2];
};

static int
fuzz_send(struct dhcp_service *svc, const struct dhcp_dest *dst,
    const uint8_t *p, size_t len, void *arg)
{
	struct dhcp_msg *m = calloc(1, sizeof(*m));

	(void)svc;
	(void)arg;
	if (m && dst->kind != DHCP_DEST_ARP) {
		/* Our own replies must always parse. */
		if (dhcp_parse(p, len, m) != 0 || m->op != DHCP_BOOTREPLY) {
			abort();
		}
		free(m);
	}
	return 0;
}

static struct fuzz_rig *
fuzz_rig(void)
{
	static struct fuzz_rig *g;
	struct dhcp_netinfo net = {
	    .ifname = "fuzz0",
	    .ifindex = 1,
	    .addr = 0xc6120001,    /* 198.18.0.1 */
	    .netmask = 0xffffff00, /* /24 */
	};
	char msg[256];
	int i;

	if (g) {
		return g;
	}
	g = calloc(1, sizeof(*g));
	g->loop = loop_open();
	loop_log_sink()->level = LOG_LEVEL_ERR;
	for (i = 0; i < 2; i++) {
		cfg_defaults(&g->cfg[i]);
		g->cfg[i].dhcp_mode = i ? CFG_DHCP_PROXY : CFG_DHCP_SERVER;
		inet_pton(AF_INET, "198.18.0.100", &g->cfg[i].dhcp_range_start);
		inet_pton(AF_INET, "198.18.0.115", &g->cfg[i].dhcp_range_end);
		inet_pton(AF_INET, "255.255.255.0", &g->cfg[i].dhcp_netmask);
		cfg_set(&g->cfg[i], "dhcp", "boot_file", "undionly.kpxe", msg,
		    sizeof(msg));
		cfg_set(&g->cfg[i], "dhcp", "ipxe_script", "boot.ipxe", msg,
		    sizeof(msg));
		/* No timers: every path answers at once. */
		g->cfg[i].dhcp_pi_delay_ms = 0;
		g->cfg[i].dhcp_probe_ms = 0;
		g->cfgp[i] = &g->cfg[i];
		if (dhcp_service_new(g->loop, &g->cfgp[i], &net, NULL,
			&g->svc[i], msg, sizeof(msg)) != 0) {
			abort();
		}
		dhcp_service_set_send(g->svc[i], fuzz_send, NULL);
	}
	return g;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_rig *g = fuzz_rig();
	struct dhcp_msg *m = calloc(1, sizeof(*m));
	struct dhcp_reply r;
	uint8_t out[DHCP_MAX_REPLY];
	struct wcur w = wcur_init(out, sizeof(out));
	uint32_t serial;
	uint8_t sel;

	if (!m) {
		return 0;
	}
	if (dhcp_parse(data, size, m) == 0) {
		(void)dhcp_is_ipxe(m);
		(void)dhcp_client_arch(m);
		(void)dhcp_pi_serial(m, &serial);
		dhcp_reply_init(&r, m, DHCPOFFER);
		r.uuid = m->opt[DHCP_OPT_UUID];
		r.pxe = dhcp_is_pxe(m);
		r.pi_menu = "Raspberry Pi Boot";
		if (dhcp_build(&r, &w) == 0 && dhcp_parse(out, w.off, m) != 0) {
			abort();
		}
	}
	free(m);
	/*
	 * Byte 0 is also op: a real request (op 1) goes to server mode on
	 * port 67; the fuzzer reaches proxy mode and port 4011 by flipping
	 * bits 1 and 2.
	 */
	sel = size ? data[0] : 0;
	dhcp_service_handle_packet(g->svc[(sel >> 1) & 1], data, size,
	    (sel & 4) ? 4011 : 67, 0xc6120063, 68);
	dhcp_service_handle_arp(g->svc[0], data, size);
	if (size >= 4) {
		struct cur c = cur_init(data + size - 4, 4);

		dhcp_service_confirm(g->svc[0], cur_be32(&c));
	}
	return 0;
}
