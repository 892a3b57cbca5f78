#include <errno.h>
#include <string.h>

#include "core/cur.h"
#include "proto/dhcp/dhcp.h"

/*
 * Options whose length RFC 2132 fixes: a wrong length means a broken or
 * hostile sender, and using it would read a wrong value (OpenBSD
 * dhcpleased's parse_dhcp() bails out with "wrong_length" for the same).
 */
static int
dhcp_fixed_len(uint8_t code)
{
	switch (code) {
	case DHCP_OPT_MSG_TYPE:
	case DHCP_OPT_OVERLOAD:
		return 1;
	case DHCP_OPT_MAX_SIZE:
		return 2;
	case DHCP_OPT_SERVER_ID:
	case DHCP_OPT_REQUESTED_IP:
	case DHCP_OPT_LEASE_TIME:
		return 4;
	default:
		return -1;
	}
}

/*
 * Walk one option area.  @need_end: the main area must close with option
 * 255 (RFC 2131 §4.1); in sname and file the field end also closes it.
 */
static int
dhcp_parse_opts(struct cur *c, struct dhcp_msg *m, bool need_end)
{
	while (cur_left(c) > 0) {
		uint8_t code = cur_u8(c), len;
		const uint8_t *v;

		if (code == DHCP_OPT_PAD) {
			continue;
		}
		if (code == DHCP_OPT_END) {
			return 0;
		}
		len = cur_u8(c);
		v = cur_bytes(c, len);
		if (!v) {
			return -EBADMSG;
		}
		if (dhcp_fixed_len(code) >= 0 && len != dhcp_fixed_len(code)) {
			return -EBADMSG;
		}
		if (!m->opt[code].p) {
			m->opt[code] = (struct dhcp_opt){.p = v, .len = len};
		}
	}
	return need_end || c->err ? -EBADMSG : 0;
}

int
dhcp_parse(const uint8_t *buf, size_t len, struct dhcp_msg *out)
{
	struct cur c = cur_init(buf, len);
	int r;

	memset(out, 0, sizeof(*out));
	if (len < DHCP_FIXED_LEN + 4) {
		return -EBADMSG;
	}
	out->op = cur_u8(&c);
	out->htype = cur_u8(&c);
	out->hlen = cur_u8(&c);
	out->hops = cur_u8(&c);
	out->xid = cur_be32(&c);
	out->secs = cur_be16(&c);
	out->flags = cur_be16(&c);
	out->ciaddr = cur_be32(&c);
	out->yiaddr = cur_be32(&c);
	out->siaddr = cur_be32(&c);
	out->giaddr = cur_be32(&c);
	cur_copy(&c, out->chaddr, DHCP_CHADDR_LEN);
	out->sname = cur_bytes(&c, DHCP_SNAME_LEN);
	out->file = cur_bytes(&c, DHCP_FILE_LEN);
	if (out->hlen > DHCP_CHADDR_LEN) {
		return -EBADMSG;
	}
	if (out->htype != DHCP_HTYPE_ETHER || out->hlen != 6) {
		return -EOPNOTSUPP;
	}
	if (cur_be32(&c) != DHCP_COOKIE) {
		return -EPROTO;
	}
	r = dhcp_parse_opts(&c, out, true);
	if (r < 0) {
		return r;
	}
	if (out->opt[DHCP_OPT_OVERLOAD].p) {
		struct cur f = cur_init(out->file, DHCP_FILE_LEN);
		struct cur s = cur_init(out->sname, DHCP_SNAME_LEN);

		out->overload = out->opt[DHCP_OPT_OVERLOAD].p[0];
		if (out->overload < 1 || out->overload > 3) {
			return -EBADMSG;
		}
		/* RFC 2131 §4.1: file first, then sname. */
		if (out->overload & 1) {
			r = dhcp_parse_opts(&f, out, false);
		}
		if (r == 0 && (out->overload & 2)) {
			r = dhcp_parse_opts(&s, out, false);
		}
		if (r < 0) {
			return r;
		}
	}
	if (out->opt[DHCP_OPT_MSG_TYPE].p) {
		out->type = out->opt[DHCP_OPT_MSG_TYPE].p[0];
	}
	return 0;
}

bool
dhcp_opt_addr(const struct dhcp_msg *m, uint8_t code, uint32_t *addr)
{
	const struct dhcp_opt *o = &m->opt[code];
	struct cur c;

	if (!o->p || o->len != 4) {
		return false;
	}
	c = cur_init(o->p, o->len);
	*addr = cur_be32(&c);
	return true;
}

bool
dhcp_is_pxe(const struct dhcp_msg *m)
{
	const struct dhcp_opt *o = &m->opt[DHCP_OPT_VENDOR_CLASS];

	return o->p && o->len >= 9 && memcmp(o->p, "PXEClient", 9) == 0;
}

bool
dhcp_is_ipxe(const struct dhcp_msg *m)
{
	const struct dhcp_opt *o = &m->opt[DHCP_OPT_USER_CLASS];

	if (!o->p) {
		return false;
	}
	if (o->len == 4 && memcmp(o->p, "iPXE", 4) == 0) {
		return true;
	}
	return o->len >= 5 && o->p[0] == 4 && memcmp(o->p + 1, "iPXE", 4) == 0;
}

int
dhcp_client_arch(const struct dhcp_msg *m)
{
	const struct dhcp_opt *o = &m->opt[DHCP_OPT_CLIENT_ARCH];
	struct cur c;

	if (!o->p || o->len < 2) {
		return -1;
	}
	c = cur_init(o->p, o->len);
	return cur_be16(&c);
}

bool
dhcp_pi_oui_is(const uint8_t mac[6])
{
	/* raspberrypi/piserver src/config.h, and rpi-eeprom#720 for 2c:cf:67.
	 */
	static const uint8_t ouis[][3] = {
	    {0xb8, 0x27, 0xeb},
	    {0xdc, 0xa6, 0x32},
	    {0xe4, 0x5f, 0x01},
	    {0x28, 0xcd, 0xc1},
	    {0xd8, 0x3a, 0xdd},
	    {0x2c, 0xcf, 0x67},
	};
	size_t i;

	for (i = 0; i < sizeof(ouis) / sizeof(ouis[0]); i++) {
		if (memcmp(mac, ouis[i], 3) == 0) {
			return true;
		}
	}
	return false;
}

/* Option 97 of length 17 with type 0: the 16 GUID bytes, or NULL. */
static const uint8_t *
dhcp_pi_guid(const struct dhcp_msg *m)
{
	const struct dhcp_opt *o = &m->opt[DHCP_OPT_UUID];

	if (!o->p || o->len != 17 || o->p[0] != 0) {
		return NULL;
	}
	return o->p + 1;
}

enum dhcp_pi_model
dhcp_pi_model(const struct dhcp_msg *m)
{
	static const uint8_t rom44[16] = {0x44, 0x44, 0x44, 0x44, 0x44, 0x44,
	    0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44};
	const uint8_t *g = dhcp_pi_guid(m);
	bool fixed_xid = m->xid == DHCP_PI_XID;

	if (!dhcp_is_pxe(m)) {
		return DHCP_PI_NONE;
	}
	if (g && memcmp(g, rom44, 16) == 0) {
		return DHCP_PI_3B_ROM;
	}
	if (g && memcmp(g, "RPi4", 4) == 0) {
		return DHCP_PI_4;
	}
	if (g && memcmp(g, "RPi5", 4) == 0) {
		return DHCP_PI_5;
	}
	/*
	 * The serial four times: 3B+ ROM, bootcode, or DHCP_OPTION97=0.  A
	 * PC's SMBIOS UUID can look the same (QEMU's is all zeros), so the
	 * xid or a Pi OUI must back the layout up.
	 */
	if (g && memcmp(g, g + 4, 4) == 0 && memcmp(g, g + 8, 8) == 0 &&
	    memcmp(g, "\0\0\0\0", 4) != 0) {
		if (fixed_xid) {
			return DHCP_PI_BCM2837;
		}
		if (dhcp_pi_oui_is(m->chaddr)) {
			return DHCP_PI_EEPROM;
		}
	}
	if (fixed_xid || dhcp_pi_oui_is(m->chaddr)) {
		return DHCP_PI_UNKNOWN;
	}
	return DHCP_PI_NONE;
}

const char *
dhcp_pi_model_name(enum dhcp_pi_model model)
{
	switch (model) {
	case DHCP_PI_NONE:
		return "none";
	case DHCP_PI_UNKNOWN:
		return "pi";
	case DHCP_PI_3B_ROM:
		return "3b-rom";
	case DHCP_PI_BCM2837:
		return "3b+-rom/bootcode";
	case DHCP_PI_EEPROM:
		return "pi4/5-eeprom";
	case DHCP_PI_4:
		return "pi4";
	case DHCP_PI_5:
		return "pi5";
	}
	return "none";
}

bool
dhcp_pi_serial(const struct dhcp_msg *m, uint32_t *serial)
{
	const uint8_t *g = dhcp_pi_guid(m);
	struct cur c;

	switch (dhcp_pi_model(m)) {
	case DHCP_PI_BCM2837:
	case DHCP_PI_EEPROM:
		c = cur_init(g, 4);
		break;
	case DHCP_PI_4:
	case DHCP_PI_5:
		/* fourcc, revision, MAC, serial; LE like the fourcc (§2.2). */
		c = cur_init(g + 12, 4);
		break;
	default:
		return false;
	}
	*serial = cur_le32(&c);
	return true;
}

void
dhcp_reply_init(struct dhcp_reply *r, const struct dhcp_msg *req, uint8_t type)
{
	*r = (struct dhcp_reply){
	    .type = type,
	    .xid = req->xid,
	    .flags = req->flags,
	    .giaddr = req->giaddr,
	    .hlen = req->hlen,
	};
	memcpy(r->chaddr, req->chaddr, DHCP_CHADDR_LEN);
}

static void
dhcp_put_addr(struct wcur *w, uint8_t code, uint32_t addr)
{
	wcur_u8(w, code);
	wcur_u8(w, 4);
	wcur_be32(w, addr);
}

static int
dhcp_put_str(struct wcur *w, uint8_t code, const char *s)
{
	size_t n = strlen(s);

	if (n > 255) {
		return -EINVAL;
	}
	wcur_u8(w, code);
	wcur_u8(w, (uint8_t)n);
	wcur_bytes(w, s, n);
	return 0;
}

/*
 * Option 43 as dnsmasq's pxe_opts() builds it for
 * pxe-service=0,"Raspberry Pi Boot": discovery control 3, menu prompt
 * "PXE" with timeout 0, one boot menu entry of server type 0, sub-option
 * end.  The bytes are verbatim in the rpi-doc trace (reference §2.4).
 */
static int
dhcp_put_pi_menu(struct wcur *w, const char *menu, bool pad3)
{
	size_t n = strlen(menu), dn = n + (pad3 ? 3 : 0);

	if (dn > 200) {
		return -EINVAL;
	}
	wcur_u8(w, DHCP_OPT_VENDOR);
	wcur_u8(w, (uint8_t)(3 + 6 + 2 + 3 + dn + 1));
	wcur_bytes(w, "\x06\x01\x03", 3);
	wcur_bytes(w, "\x0a\x04\x00PXE", 6);
	wcur_u8(w, 9);
	wcur_u8(w, (uint8_t)(3 + dn));
	wcur_be16(w, 0);
	wcur_u8(w, (uint8_t)dn);
	wcur_bytes(w, menu, n);
	if (pad3) {
		wcur_bytes(w, "   ", 3);
	}
	wcur_u8(w, 0xff);
	return 0;
}

int
dhcp_build(const struct dhcp_reply *r, struct wcur *w)
{
	size_t i, start = w->off;
	int err = 0;

	if (r->file && strlen(r->file) >= DHCP_FILE_LEN) {
		return -EINVAL;
	}
	wcur_u8(w, DHCP_BOOTREPLY);
	wcur_u8(w, DHCP_HTYPE_ETHER);
	wcur_u8(w, r->hlen);
	wcur_u8(w, 0);
	wcur_be32(w, r->xid);
	wcur_be16(w, 0);
	wcur_be16(w, r->flags);
	wcur_be32(w, r->ciaddr);
	wcur_be32(w, r->yiaddr);
	wcur_be32(w, r->siaddr);
	wcur_be32(w, r->giaddr);
	wcur_bytes(w, r->chaddr, DHCP_CHADDR_LEN);
	wcur_zero(w, DHCP_SNAME_LEN);
	if (r->file) {
		size_t n = strlen(r->file);

		wcur_bytes(w, r->file, n);
		wcur_zero(w, DHCP_FILE_LEN - n);
	} else {
		wcur_zero(w, DHCP_FILE_LEN);
	}
	wcur_be32(w, DHCP_COOKIE);

	wcur_bytes(w, (const uint8_t[]){DHCP_OPT_MSG_TYPE, 1, r->type}, 3);
	dhcp_put_addr(w, DHCP_OPT_SERVER_ID, r->server_id);
	if (r->lease_s) {
		dhcp_put_addr(w, DHCP_OPT_LEASE_TIME, r->lease_s);
	}
	if (r->netmask) {
		dhcp_put_addr(w, DHCP_OPT_SUBNET_MASK, r->netmask);
	}
	if (r->router) {
		dhcp_put_addr(w, DHCP_OPT_ROUTER, r->router);
	}
	if (r->ndns) {
		if (r->ndns > 63) {
			return -EINVAL;
		}
		wcur_u8(w, DHCP_OPT_DNS);
		wcur_u8(w, (uint8_t)(4 * r->ndns));
		for (i = 0; i < r->ndns; i++) {
			wcur_be32(w, r->dns[i]);
		}
	}
	if (r->domain && r->domain[0]) {
		err = err ? err : dhcp_put_str(w, DHCP_OPT_DOMAIN, r->domain);
	}
	if (r->hostname && r->hostname[0]) {
		err =
		    err ? err : dhcp_put_str(w, DHCP_OPT_HOSTNAME, r->hostname);
	}
	if (r->pxe) {
		err = err ? err
			  : dhcp_put_str(w, DHCP_OPT_VENDOR_CLASS, "PXEClient");
	}
	if (r->uuid.p) {
		wcur_u8(w, DHCP_OPT_UUID);
		wcur_u8(w, r->uuid.len);
		wcur_bytes(w, r->uuid.p, r->uuid.len);
	}
	if (r->pi_menu) {
		err = err ? err
			  : dhcp_put_pi_menu(w, r->pi_menu, r->pi_menu_pad3);
	} else if (r->pxe_direct) {
		/* PXE spec: bit 3, boot the file field, skip discovery. */
		wcur_bytes(w, "\x2b\x04\x06\x01\x08\xff", 6);
	}
	if (r->tftp_server && r->tftp_server[0]) {
		err = err
		    ? err
		    : dhcp_put_str(w, DHCP_OPT_TFTP_SERVER, r->tftp_server);
	}
	if (r->message && r->message[0]) {
		err = err ? err : dhcp_put_str(w, DHCP_OPT_MESSAGE, r->message);
	}
	if (err) {
		return err;
	}
	wcur_u8(w, DHCP_OPT_END);
	if (!w->err && w->off - start < DHCP_MIN_REPLY) {
		wcur_zero(w, DHCP_MIN_REPLY - (w->off - start));
	}
	return w->err;
}
