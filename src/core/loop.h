#ifndef PNB_CORE_LOOP_H
#define PNB_CORE_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The event loop: epoll for descriptors, a binary min-heap of timers
 * (arm, re-arm and cancel are O(log n), so thousands of TFTP retransmit
 * timers cost little), signals through a signalfd, and a cached monotonic
 * clock.  It is the one mutable file-scope object of the program and also
 * holds the log sink.
 *
 * Error and hang-up conditions are reported as LOOP_READ|LOOP_WRITE, so a
 * handler finds the error in its own read() or write(), as in redis' ae.
 */
enum {
	LOOP_READ = 1,
	LOOP_WRITE = 2,
};

struct loop;

typedef void (*loop_io_fn)(struct loop *l, int fd, unsigned events, void *arg);

struct loop_timer;
typedef void (*loop_timer_fn)(struct loop *l, struct loop_timer *t);

/*
 * A timer is embedded in its owner's struct; the loop borrows it while it
 * is armed.  Owners recover their struct with container_of-style offsetof.
 */
struct loop_timer {
	uint64_t when_ms;
	size_t heap_idx; /* 0 when not armed; else index + 1 */
	loop_timer_fn fn;
	void *arg;
};

typedef void (*loop_signal_fn)(struct loop *l, int signo, void *arg);

/*
 * loop_open() - set up the loop: epoll, signalfd for SIGINT, SIGTERM and
 * SIGHUP (blocked from now on), the clock.
 * Return: the loop (borrowed from loop.c; close with loop_close()), or NULL
 * with errno set.
 */
struct loop *loop_open(void);
void loop_close(struct loop *l);

/*
 * loop_add_fd() - watch @fd for @events, calling @fn(@arg) when ready.
 * Return: 0, -EEXIST if already watched, or -errno from epoll_ctl.
 */
int loop_add_fd(
    struct loop *l, int fd, unsigned events, loop_io_fn fn, void *arg);
/* loop_mod_fd() - change the events watched for @fd. */
int loop_mod_fd(struct loop *l, int fd, unsigned events);
/* loop_del_fd() - stop watching @fd; safe to call from its own handler. */
void loop_del_fd(struct loop *l, int fd);
/* loop_close_fd() - stop watching @fd and close it (takes ownership). */
void loop_close_fd(struct loop *l, int fd);

/* loop_timer_init() - prepare an unarmed timer. */
void loop_timer_init(struct loop_timer *t, loop_timer_fn fn, void *arg);
/*
 * loop_timer_arm() - fire @t at monotonic time @when_ms (re-arms if armed).
 * Return: 0 or -ENOMEM.
 */
int loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t when_ms);
void loop_timer_cancel(struct loop *l, struct loop_timer *t);

static inline bool
loop_timer_is_armed(const struct loop_timer *t)
{
	return t->heap_idx != 0;
}

/* loop_on_signal() - call @fn for SIGINT, SIGTERM or SIGHUP. */
void loop_on_signal(struct loop *l, loop_signal_fn fn, void *arg);

/*
 * loop_run() - dispatch events until loop_stop().
 * Return: 0, or -errno if epoll_wait failed (a process-level error).
 */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

/* loop_run_once() - one dispatch round, waiting at most @max_wait_ms. */
int loop_run_once(struct loop *l, int max_wait_ms);

/* Monotonic time of the current loop iteration, in milliseconds. */
uint64_t loop_now_ms(const struct loop *l);
/* loop_clock_us() - read the monotonic clock now, in microseconds. */
uint64_t loop_clock_us(void);
/* loop_update_time() - refresh the cached time (after long work). */
void loop_update_time(struct loop *l);

/* Wall-clock time since the epoch, for records users read. */
int64_t loop_wall_s(void);
int64_t loop_wall_ms(void);

/* The log sink lives with the loop; see core/log.h. */
struct log_sink {
	int level;
	bool use_syslog;
};

/*
 * loop_log_sink() - the process's log sink.  Valid before loop_open() too
 * (logging works from the first line of main).
 */
struct log_sink *loop_log_sink(void);

/* loop_timer_count() - how many timers are armed (for tests and metrics). */
size_t loop_timer_count(const struct loop *l);

#endif
