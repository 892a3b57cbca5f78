#ifndef PNB_CLI_EXPORTS_H
#define PNB_CLI_EXPORTS_H

#include <stdbool.h>

/*
 * What a client's record means for who may mount its root, in the words
 * `pinetboot client show` and `pinetboot doctor` both use (docs/security.md,
 * "Exports follow only addresses pinetboot handed out").
 */
enum cli_export_mode {
	CLI_EXPORT_MODE_UNKNOWN = -1, /* the server's DHCP mode is not known */
	CLI_EXPORT_MODE_OFF = 0,      /* the values of enum cfg_dhcp_mode */
	CLI_EXPORT_MODE_PROXY,
	CLI_EXPORT_MODE_SERVER,
};

/*
 * cli_export_note() - one sentence on whom the exports follow, for a
 * record with or without a static address and a MAC.
 * Return: a static string.
 */
const char *cli_export_note(
    bool has_address, bool has_mac, enum cli_export_mode mode);

#endif
