#ifndef PNB_CORE_CSUM_H
#define PNB_CORE_CSUM_H

#include <stddef.h>
#include <stdint.h>

/*
 * The Internet checksum (RFC 1071) for the IPv4 and UDP headers that DHCP
 * writes itself on a packet socket, and that test peers write too.
 */

/* csum_add() - add @n bytes at @p (borrowed) to the running @sum. */
uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n);

/* csum_fold() - fold the carries and complement: the checksum field. */
uint16_t csum_fold(uint32_t sum);

#endif
