#ifndef PNB_PROTO_DHCP_DHCP_H
#define PNB_PROTO_DHCP_DHCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cur.h"

/*
 * DHCP (RFC 2131/2132) and the PXE and Raspberry Pi additions: a pure
 * codec.  dhcp_parse() walks a BOOTP message and its options, borrowing
 * from the caller's buffer; dhcp_build() writes a reply.  Which reply to
 * send, and whether to send one at all, is the server's business.
 */

#define DHCP_FIXED_LEN  236        /* BOOTP header up to the cookie */
#define DHCP_COOKIE     0x63825363 /* RFC 2131 §3 */
#define DHCP_CHADDR_LEN 16
#define DHCP_SNAME_LEN  64
#define DHCP_FILE_LEN   128
/*
 * dnsmasq pads every reply to 300 bytes for old BOOTP clients, and every
 * public Pi trace shows replies of at least that size; whether a ROM
 * needs it is unverified (reference §2.4), so we always pad.
 */
#define DHCP_MIN_REPLY 300
/* The largest message we build: a reply never needs more than this. */
#define DHCP_MAX_REPLY 576

#define DHCP_BOOTREQUEST    1
#define DHCP_BOOTREPLY      2
#define DHCP_HTYPE_ETHER    1
#define DHCP_FLAG_BROADCAST 0x8000

/* Option 53 values (RFC 2132 §9.6). */
enum dhcp_type {
	DHCPDISCOVER = 1,
	DHCPOFFER = 2,
	DHCPREQUEST = 3,
	DHCPDECLINE = 4,
	DHCPACK = 5,
	DHCPNAK = 6,
	DHCPRELEASE = 7,
	DHCPINFORM = 8,
};

/* Option codes used here, with the RFC's names. */
enum dhcp_opt_code {
	DHCP_OPT_PAD = 0,
	DHCP_OPT_SUBNET_MASK = 1,
	DHCP_OPT_ROUTER = 3,
	DHCP_OPT_DNS = 6,
	DHCP_OPT_HOSTNAME = 12,
	DHCP_OPT_DOMAIN = 15,
	DHCP_OPT_VENDOR = 43,
	DHCP_OPT_REQUESTED_IP = 50,
	DHCP_OPT_LEASE_TIME = 51,
	DHCP_OPT_OVERLOAD = 52,
	DHCP_OPT_MSG_TYPE = 53,
	DHCP_OPT_SERVER_ID = 54,
	DHCP_OPT_PRL = 55,
	DHCP_OPT_MESSAGE = 56,
	DHCP_OPT_MAX_SIZE = 57,
	DHCP_OPT_VENDOR_CLASS = 60,
	DHCP_OPT_CLIENT_ID = 61,
	DHCP_OPT_TFTP_SERVER = 66,
	DHCP_OPT_BOOTFILE = 67,
	DHCP_OPT_USER_CLASS = 77,
	DHCP_OPT_CLIENT_ARCH = 93, /* RFC 4578 */
	DHCP_OPT_CLIENT_NDI = 94,
	DHCP_OPT_UUID = 97,
	DHCP_OPT_END = 255,
};

/* One option as it appeared on the wire; p borrows from the packet. */
struct dhcp_opt {
	const uint8_t *p; /* borrowed; NULL when absent */
	uint8_t len;
};

/*
 * A parsed message.  Addresses are in host byte order.  Every pointer
 * borrows from the buffer given to dhcp_parse().  When an option appears
 * more than once the first occurrence is kept: RFC 3396 concatenation
 * would need memory the parser does not allocate, and no client we serve
 * splits an option.
 */
struct dhcp_msg {
	uint8_t op, htype, hlen, hops;
	uint32_t xid;
	uint16_t secs, flags;
	uint32_t ciaddr, yiaddr, siaddr, giaddr;
	uint8_t chaddr[DHCP_CHADDR_LEN];
	const uint8_t *sname; /* borrowed, DHCP_SNAME_LEN bytes */
	const uint8_t *file;  /* borrowed, DHCP_FILE_LEN bytes */
	uint8_t overload;     /* option 52: 1 file, 2 sname, 3 both */
	uint8_t type;         /* option 53; 0 when absent (plain BOOTP) */
	struct dhcp_opt opt[256];
};

/*
 * dhcp_parse() - decode a BOOTP/DHCP message.
 * @buf: the UDP payload (borrowed for as long as @out is used).
 * @out: filled in; borrows from @buf.
 *
 * Return: 0, or
 *   -EBADMSG   header shorter than 240 bytes, an option running past its
 *              field, a fixed-size option (53, 52, 54, 50, 51, 57) with
 *              the wrong length, hlen > 16, or no end option;
 *   -EPROTO    the magic cookie is missing (plain BOOTP, RFC 951);
 *   -EOPNOTSUPP a hardware type other than Ethernet, or an Ethernet
 *              message whose hlen is not 6.
 */
int dhcp_parse(const uint8_t *buf, size_t len, struct dhcp_msg *out);

/* dhcp_has() - is option @code present (possibly with length 0)? */
static inline bool
dhcp_has(const struct dhcp_msg *m, uint8_t code)
{
	return m->opt[code].p != NULL;
}

/*
 * dhcp_opt_addr() - an option holding one IPv4 address (50, 54).
 * Return: true and *@addr (host order) when present with length 4.
 */
bool dhcp_opt_addr(const struct dhcp_msg *m, uint8_t code, uint32_t *addr);

/* dhcp_is_pxe() - option 60 begins with "PXEClient" (PXE spec 2.1). */
bool dhcp_is_pxe(const struct dhcp_msg *m);

/*
 * dhcp_is_ipxe() - option 77 says "iPXE": iPXE sends the bare string, an
 * RFC 3004 client the length-prefixed form; both are accepted.
 */
bool dhcp_is_ipxe(const struct dhcp_msg *m);

/*
 * dhcp_client_arch() - the first architecture of option 93 (RFC 4578):
 * 0 BIOS, 7 EFI x64, 11 EFI arm64, ...
 * Return: the value, or -1 when absent or shorter than 2 bytes.
 */
int dhcp_client_arch(const struct dhcp_msg *m);

/* What a request says about the Raspberry Pi that sent it (§2.1-2.3). */
enum dhcp_pi_model {
	DHCP_PI_NONE = 0, /* not a Pi, as far as we can tell */
	DHCP_PI_UNKNOWN,  /* a Pi OUI or marker, model not recognised */
	DHCP_PI_3B_ROM,   /* BCM2837 boot ROM with the 44..44 GUID */
	DHCP_PI_BCM2837,  /* 3B+ ROM or bootcode.bin (fixed xid, serial) */
	DHCP_PI_EEPROM,   /* Pi 4/5 EEPROM with the legacy serial GUID */
	DHCP_PI_4,        /* EEPROM-2711: option 97 "RPi4" */
	DHCP_PI_5,        /* EEPROM-2712: option 97 "RPi5" */
};

/* The xid every BCM2837 ROM and bootcode.bin use (quirk 1). */
#define DHCP_PI_XID 0x26f30339u

/* dhcp_pi_oui_is() - does the MAC belong to Raspberry Pi (§2.3)? */
bool dhcp_pi_oui_is(const uint8_t mac[6]);

/*
 * dhcp_pi_model() - guess the model from option 97, the xid and the MAC.
 * Only PXE requests (dhcp_is_pxe()) are Pi firmware; the kernel and the
 * OS of a Pi get DHCP_PI_NONE here.
 */
enum dhcp_pi_model dhcp_pi_model(const struct dhcp_msg *m);

/* dhcp_pi_model_name() - "3b-rom", "bcm2837", "pi4", ...; never NULL. */
const char *dhcp_pi_model_name(enum dhcp_pi_model model);

/*
 * dhcp_pi_serial() - the low 32 bits of the board serial from option 97.
 * Return: true and *@serial when the layout carries one (not the 3B ROM).
 */
bool dhcp_pi_serial(const struct dhcp_msg *m, uint32_t *serial);

/* A reply to build.  Addresses in host byte order. */
struct dhcp_reply {
	uint8_t type; /* DHCPOFFER, DHCPACK or DHCPNAK */
	uint32_t xid;
	uint16_t flags;
	uint32_t ciaddr, yiaddr, siaddr, giaddr;
	uint8_t chaddr[DHCP_CHADDR_LEN];
	uint8_t hlen;
	uint32_t server_id;  /* option 54; always sent */
	uint32_t lease_s;    /* option 51 when non-zero */
	uint32_t netmask;    /* option 1 when non-zero */
	uint32_t router;     /* option 3 when non-zero */
	const uint32_t *dns; /* option 6; borrowed, @ndns entries */
	size_t ndns;
	const char *hostname; /* option 12; borrowed, may be NULL */
	const char *domain;   /* option 15; borrowed, may be NULL */
	bool pxe;             /* option 60 "PXEClient" */
	struct dhcp_opt uuid; /* option 97 to echo; borrowed */
	/*
	 * Option 43.  pi_menu: the Raspberry Pi menu in dnsmasq's encoding
	 * (reference §2.4), pi_menu_pad3 adding the three spaces the 3B ROM's
	 * string-length bug wants.  pxe_direct: discovery control 8 for
	 * generic PXE ROMs, so they boot the file field without a boot
	 * server discovery.  pi_menu wins when both are set.
	 */
	const char *pi_menu; /* borrowed, at most 200 bytes */
	bool pi_menu_pad3;
	bool pxe_direct;
	const char *tftp_server; /* option 66 (no NUL); borrowed, may be NULL */
	const char *file;    /* the BOOTP file field; borrowed, may be NULL */
	const char *message; /* option 56; borrowed, may be NULL */
};

/*
 * dhcp_build() - write @r as a BOOTP reply: fixed header, cookie, options
 * in dnsmasq's order (53, 54, 51, 1, 3, 6, 15, 12, 60, 97, 43, 66, 56),
 * option 255, then zero padding up to DHCP_MIN_REPLY.  No pad option is
 * ever written between options (EEPROM bootloaders before 2020-01-17
 * could not skip them, reference quirk 10).
 * @w: where to write (borrowed).
 * Return: 0, -EINVAL for a string that cannot be encoded (over 255 bytes,
 * or a file name over 127), or -EMSGSIZE when @w is too small.
 */
int dhcp_build(const struct dhcp_reply *r, struct wcur *w);

/*
 * dhcp_reply_init() - start a reply to @req: op, xid, flags, giaddr,
 * chaddr and hlen copied; everything else zero.
 */
void dhcp_reply_init(
    struct dhcp_reply *r, const struct dhcp_msg *req, uint8_t type);

#endif
