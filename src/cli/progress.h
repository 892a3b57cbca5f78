#ifndef PNB_CLI_PROGRESS_H
#define PNB_CLI_PROGRESS_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "image/provision/source.h"

/*
 * Progress for long CLI operations: a bar with bytes, rate and ETA
 * redrawn on a terminal, or a plain line every few seconds otherwise.
 * SIGINT, SIGTERM and SIGHUP are blocked while it is active and polled
 * from the callback, which then returns -EINTR: the operation unwinds
 * through its normal error path and removes its temporary files.  Also
 * the warnings about boot trees that image import and client add print.
 */
struct cli_progress {
	bool tty;
	struct timespec start, last;
	char phase[16];
	sigset_t old, sigs;
	bool interrupted;
	struct prov_progress prog;
};

/* cli_progress_start() - block the signals and set up @p->prog. */
void cli_progress_start(struct cli_progress *p);

/* cli_progress_stop() - end the bar line, restore the signal mask. */
void cli_progress_stop(struct cli_progress *p);

/*
 * cli_boot_warnings() - print "pinetboot CMD: warning: WHAT: ..." to
 * stderr for each finding of prov_boot_check() in the boot tree @dir
 * (borrowed strings).
 */
void cli_boot_warnings(const char *cmd, const char *what, const char *dir);

#endif
