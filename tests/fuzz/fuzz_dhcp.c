#include <stdint.h>
#include <stdlib.h>

#include "core/cur.h"
#include "proto/dhcp/dhcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dhcp_msg *m = calloc(1, sizeof(*m));
	struct dhcp_reply r;
	uint8_t out[DHCP_MAX_REPLY];
	struct wcur w = wcur_init(out, sizeof(out));
	uint32_t serial;

	if (!m) {
		return 0;
	}
	if (dhcp_parse(data, size, m) == 0) {
		(void)dhcp_is_pxe(m);
		(void)dhcp_is_ipxe(m);
		(void)dhcp_client_arch(m);
		(void)dhcp_pi_serial(m, &serial);
		dhcp_reply_init(&r, m, DHCPOFFER);
		r.uuid = m->opt[DHCP_OPT_UUID];
		r.pxe = dhcp_is_pxe(m);
		r.pi_menu = "Raspberry Pi Boot";
		(void)dhcp_build(&r, &w);
	}
	free(m);
	return 0;
}
