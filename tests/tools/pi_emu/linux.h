#ifndef PNB_TESTS_PI_EMU_LINUX_H
#define PNB_TESTS_PI_EMU_LINUX_H

#include <stdbool.h>
#include <stdint.h>

#include "trace.h"

/*
 * The Linux half of an emulated Pi: what its kernel does on the wire
 * once the firmware has loaded it, up to the end of a traced boot.
 *
 * The Pi's MAC comes up in a real kernel stack: the calling thread moves
 * into a network namespace of its own (unshare(CLONE_NEWNET) affects only
 * that thread), where a macvlan on the emulator's interface carries the
 * Pi's MAC.  One interface per namespace, so hundreds of Pis on one
 * subnet need no arp_ignore, arp_announce or rp_filter settings: each
 * namespace answers ARP only for its own address and routes only through
 * its own interface.  There the emulated kernel
 *
 *  1. does what `ip=dhcp` does (net/ipv4/ipconfig.c, reference §2.7):
 *     DISCOVER and REQUEST from 0.0.0.0 with no option 60 and the
 *     kernel's parameter list, the first OFFER wins, no renewal; the
 *     address goes on the interface only when the ACK comes;
 *  2. mounts the root named by nfsroot= and replays the trace's calls
 *     with libnfs, from the ports the trace's client used (reserved where
 *     the kernel binds one), with the handles this server hands out, as
 *     many calls in flight as the traced kernel had;
 *  3. retries a failed mount as the kernel's nfsroot does
 *     (init/do_mounts.c: 5 more tries, 5, 10, 20, 30, 30 s apart).
 */
struct emu_linux {
	/* in */
	int lower_ifindex; /* the emulator's interface */
	uint8_t mac[6];
	uint32_t server;  /* nfsroot= server, host byte order */
	const char *root; /* nfsroot= path: the export */
	const struct emu_trace *trace;
	bool check_files;  /* READ data must equal the files under root */
	uint64_t deadline; /* CLOCK_MONOTONIC ms: give up then */
	unsigned seed;

	/* out */
	uint32_t addr; /* what the kernel's DHCP got */
	uint64_t t_ack, t_mnt, t_end;
	unsigned dhcp_sends, mount_tries, calls, skipped, compared;
	uint64_t read_bytes;
	char why[240];
};

/*
 * emu_linux_boot() - run the kernel phase in the calling thread, which
 * stays in its own network namespace afterwards (end the thread then).
 * Return: true when the whole trace replayed as traced; false with the
 * reason in k->why.
 */
bool emu_linux_boot(struct emu_linux *k);

/*
 * emu_replay_run() - step 2 and 3 above, once the interface has k->addr.
 * Return: as emu_linux_boot().
 */
bool emu_replay_run(struct emu_linux *k);

/* emu_linux_ms() - CLOCK_MONOTONIC in ms, the clock of the times above. */
uint64_t emu_linux_ms(void);

#endif
