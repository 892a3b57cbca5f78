#include "cli/exports.h"
#include "core/cfg.h"

_Static_assert((int)CLI_EXPORT_MODE_PROXY == (int)CFG_DHCP_PROXY &&
	(int)CLI_EXPORT_MODE_SERVER == (int)CFG_DHCP_SERVER &&
	(int)CLI_EXPORT_MODE_OFF == (int)CFG_DHCP_OFF,
    "cli_export_mode mirrors cfg_dhcp_mode");

const char *
cli_export_note(bool has_address, bool has_mac, enum cli_export_mode mode)
{
	if (has_address) {
		return "exported to this address only; nothing seen on the "
		       "network moves the exports";
	}
	switch (mode) {
	case CLI_EXPORT_MODE_OFF:
		return "no static address, and without DHCP exports follow "
		       "static addresses only: this root is never exported; "
		       "set address = IP in client.conf";
	case CLI_EXPORT_MODE_PROXY:
		return "no static address: in proxy mode the exports move only "
		       "when pinetboot sees the DHCP server's ACK during a "
		       "boot "
		       "it serves, and most servers send that ACK to the Pi "
		       "alone, so the root may never be exported; set address "
		       "= "
		       "IP in client.conf (and reserve IP for the Pi on the "
		       "DHCP "
		       "server)";
	case CLI_EXPORT_MODE_SERVER:
		return has_mac
		    ? "no static address: the exports follow the address "
		      "pinetboot leases to this MAC, and DHCP proves nothing "
		      "about its sender, so a host that asks with this MAC is "
		      "leased them; set address = IP in client.conf to tie "
		      "them "
		      "to one address"
		    : "no static address and no MAC: the exports follow the "
		      "address pinetboot leases to the MAC this Pi's firmware "
		      "boots with, found by its serial, which every Pi 4/5 "
		      "broadcasts; set address = IP in client.conf to tie them "
		      "to one address";
	case CLI_EXPORT_MODE_UNKNOWN:
		break;
	}
	return "no static address: the exports follow DHCP (server mode: "
	       "the address pinetboot leases to this Pi; proxy mode: an ACK "
	       "pinetboot sees while it serves this Pi's boot, often never); "
	       "set address = IP in client.conf to tie them to one address";
}
