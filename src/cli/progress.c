#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/progress.h"
#include "core/size.h"
#include "image/provision/bootcheck.h"

static double
elapsed(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) +
	    (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static int
cli_progress_fn(void *arg, const char *phase, uint64_t done, uint64_t total)
{
	struct cli_progress *p = arg;
	struct timespec now;
	sigset_t pend;
	double t, since, rate;
	char d[32], tot[32], rs[32];
	bool new_phase = strcmp(phase, p->phase) != 0;

	if (sigpending(&pend) == 0 &&
	    (sigismember(&pend, SIGINT) || sigismember(&pend, SIGTERM) ||
		sigismember(&pend, SIGHUP))) {
		p->interrupted = true;
		return -EINTR;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	since = elapsed(&p->last, &now);
	if (!new_phase && since < (p->tty ? 0.2 : 5.0) &&
	    !(total && done >= total)) {
		return 0;
	}
	if (new_phase) {
		if (p->tty && p->phase[0]) {
			fputc('\n', stderr);
		}
		snprintf(p->phase, sizeof(p->phase), "%s", phase);
		p->start = now;
	}
	p->last = now;
	t = elapsed(&p->start, &now);
	if (!strcmp(phase, "copy") || !strcmp(phase, "flatten") ||
	    !strcmp(phase, "promote")) {
		/* The clone counts files, not bytes. */
		fprintf(stderr,
		    p->tty ? "\r%-10s %llu files   " : "%s %llu files\n", phase,
		    (unsigned long long)done);
		return 0;
	}
	rate = t > 0.05 ? (double)done / t : 0;
	size_human(done, d, sizeof(d));
	size_human((uint64_t)rate, rs, sizeof(rs));
	if (total && done <= total) {
		int pct = (int)(100.0 * (double)done / (double)total);
		double eta = rate > 0 ? (double)(total - done) / rate : 0;
		char bar[31];
		int i, fill = pct * 30 / 100;

		for (i = 0; i < 30; i++) {
			bar[i] = i < fill ? '#' : ' ';
		}
		bar[30] = '\0';
		size_human(total, tot, sizeof(tot));
		if (p->tty) {
			fprintf(stderr,
			    "\r%-10s [%s] %3d%% %s / %s  %s/s  ETA %d:%02d  ",
			    phase, bar, pct, d, tot, rs, (int)eta / 60,
			    (int)eta % 60);
		} else {
			fprintf(stderr,
			    "%s: %d%% %s of %s, %s/s, ETA %d:%02d\n", phase,
			    pct, d, tot, rs, (int)eta / 60, (int)eta % 60);
		}
	} else {
		fprintf(stderr,
		    p->tty ? "\r%-10s %s  %s/s   " : "%s: %s, %s/s\n", phase, d,
		    rs);
	}
	return 0;
}

void
cli_progress_start(struct cli_progress *p)
{
	memset(p, 0, sizeof(*p));
	p->tty = isatty(STDERR_FILENO);
	clock_gettime(CLOCK_MONOTONIC, &p->start);
	p->last = p->start;
	sigemptyset(&p->sigs);
	sigaddset(&p->sigs, SIGINT);
	sigaddset(&p->sigs, SIGTERM);
	sigaddset(&p->sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &p->sigs, &p->old);
	p->prog = (struct prov_progress){.fn = cli_progress_fn, .arg = p};
}

void
cli_progress_stop(struct cli_progress *p)
{
	if (p->tty && p->phase[0]) {
		fputc('\n', stderr);
	}
	/*
	 * A signal that arrived after the last poll would be delivered on
	 * unblocking and kill the process before it can report; record it
	 * and discard it instead.
	 */
	{
		sigset_t pend;
		struct timespec zero = {0, 0};

		if (sigpending(&pend) == 0) {
			while (sigtimedwait(&p->sigs, NULL, &zero) > 0) {
				p->interrupted = true;
			}
		}
	}
	sigprocmask(SIG_SETMASK, &p->old, NULL);
}

struct boot_warn {
	const char *cmd, *what;
};

static void
cli_boot_warn(void *arg, const struct prov_boot_finding *f)
{
	const struct boot_warn *w = arg;
	char text[1024];

	prov_boot_describe(f, text, sizeof(text));
	fprintf(
	    stderr, "pinetboot %s: warning: %s: %s\n", w->cmd, w->what, text);
}

void
cli_boot_warnings(const char *cmd, const char *what, const char *dir)
{
	struct boot_warn w = {.cmd = cmd, .what = what};

	prov_boot_check_dir(dir, cli_boot_warn, &w);
}
