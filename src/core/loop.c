#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"

struct loop_fd {
	loop_io_fn fn;
	void *arg;
	unsigned events;
	bool used;
};

struct loop {
	int epfd;
	int sigfd;
	bool running;
	uint64_t now_ms;

	struct loop_fd *fds; /* indexed by descriptor */
	size_t nfds;

	struct loop_timer **heap; /* min-heap by when_ms */
	size_t nheap, heap_cap;

	loop_signal_fn sig_fn;
	void *sig_arg;

	struct log_sink sink;
};

/* The one mutable file-scope object (see docs/design.md). */
static struct loop the_loop = {
    .epfd = -1,
    .sigfd = -1,
    .sink = {.level = LOG_LEVEL_INFO, .use_syslog = false},
};

struct log_sink *
loop_log_sink(void)
{
	return &the_loop.sink;
}

uint64_t
loop_clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int64_t
loop_wall_s(void)
{
	return (int64_t)time(NULL);
}

int64_t
loop_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
loop_update_time(struct loop *l)
{
	l->now_ms = loop_clock_us() / 1000u;
}

uint64_t
loop_now_ms(const struct loop *l)
{
	return l->now_ms;
}

static void loop_handle_signalfd(
    struct loop *l, int fd, unsigned events, void *arg);

struct loop *
loop_open(void)
{
	struct loop *l = &the_loop;
	sigset_t set;
	int err;

	if (l->epfd >= 0) {
		errno = EBUSY;
		return NULL;
	}
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		return NULL;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
		goto fail;
	}
	l->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (l->sigfd < 0) {
		goto fail;
	}
	if (loop_add_fd(l, l->sigfd, LOOP_READ, loop_handle_signalfd, NULL) <
	    0) {
		goto fail;
	}
	/* A peer that closes a TCP connection must not kill the process. */
	signal(SIGPIPE, SIG_IGN);
	loop_update_time(l);
	return l;
fail:
	err = errno;
	if (l->sigfd >= 0) {
		close(l->sigfd);
		l->sigfd = -1;
	}
	free(l->fds);
	l->fds = NULL;
	l->nfds = 0;
	close(l->epfd);
	l->epfd = -1;
	errno = err;
	return NULL;
}

void
loop_close(struct loop *l)
{
	size_t i;

	if (!l) {
		return;
	}
	for (i = 0; i < l->nheap; i++) {
		l->heap[i]->heap_idx = 0;
	}
	free(l->heap);
	free(l->fds);
	if (l->sigfd >= 0) {
		close(l->sigfd);
	}
	if (l->epfd >= 0) {
		close(l->epfd);
	}
	*l = (struct loop){.epfd = -1, .sigfd = -1, .sink = l->sink};
}

static uint32_t
loop_epoll_events(unsigned events)
{
	uint32_t ev = 0;

	if (events & LOOP_READ) {
		ev |= EPOLLIN;
	}
	if (events & LOOP_WRITE) {
		ev |= EPOLLOUT;
	}
	return ev;
}

int
loop_add_fd(struct loop *l, int fd, unsigned events, loop_io_fn fn, void *arg)
{
	struct epoll_event ev = {.events = loop_epoll_events(events)};

	if (fd < 0 || !fn) {
		return -EINVAL;
	}
	if ((size_t)fd >= l->nfds) {
		size_t n = l->nfds ? l->nfds : 64;
		struct loop_fd *p;

		while (n <= (size_t)fd) {
			n *= 2;
		}
		p = realloc(l->fds, n * sizeof(*p));
		if (!p) {
			return -ENOMEM;
		}
		memset(p + l->nfds, 0, (n - l->nfds) * sizeof(*p));
		l->fds = p;
		l->nfds = n;
	}
	if (l->fds[fd].used) {
		return -EEXIST;
	}
	ev.data.fd = fd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		return -errno;
	}
	l->fds[fd] = (struct loop_fd){
	    .fn = fn, .arg = arg, .events = events, .used = true};
	return 0;
}

int
loop_mod_fd(struct loop *l, int fd, unsigned events)
{
	struct epoll_event ev = {.events = loop_epoll_events(events)};

	if (fd < 0 || (size_t)fd >= l->nfds || !l->fds[fd].used) {
		return -ENOENT;
	}
	if (l->fds[fd].events == events) {
		return 0;
	}
	ev.data.fd = fd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0) {
		return -errno;
	}
	l->fds[fd].events = events;
	return 0;
}

void
loop_del_fd(struct loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->nfds || !l->fds[fd].used) {
		return;
	}
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->fds[fd] = (struct loop_fd){.used = false};
}

void
loop_close_fd(struct loop *l, int fd)
{
	loop_del_fd(l, fd);
	close(fd);
}

/* Timer heap.  heap_idx is index + 1 so that 0 means "not armed". */

static void
heap_set(struct loop *l, size_t i, struct loop_timer *t)
{
	l->heap[i] = t;
	t->heap_idx = i + 1;
}

static void
heap_up(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (l->heap[parent]->when_ms <= t->when_ms) {
			break;
		}
		heap_set(l, i, l->heap[parent]);
		i = parent;
	}
	heap_set(l, i, t);
}

static void
heap_down(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= l->nheap) {
			break;
		}
		if (child + 1 < l->nheap &&
		    l->heap[child + 1]->when_ms < l->heap[child]->when_ms) {
			child++;
		}
		if (t->when_ms <= l->heap[child]->when_ms) {
			break;
		}
		heap_set(l, i, l->heap[child]);
		i = child;
	}
	heap_set(l, i, t);
}

void
loop_timer_init(struct loop_timer *t, loop_timer_fn fn, void *arg)
{
	*t = (struct loop_timer){
	    .when_ms = 0, .heap_idx = 0, .fn = fn, .arg = arg};
}

void
loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	struct loop_timer *moved;
	size_t i;

	if (!t->heap_idx) {
		return;
	}
	i = t->heap_idx - 1;
	t->heap_idx = 0;
	l->nheap--;
	if (i == l->nheap) {
		return;
	}
	moved = l->heap[l->nheap];
	heap_set(l, i, moved);
	heap_up(l, i);
	heap_down(l, moved->heap_idx - 1);
}

int
loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t when_ms)
{
	if (t->heap_idx) {
		size_t i = t->heap_idx - 1;
		uint64_t old = t->when_ms;

		t->when_ms = when_ms;
		if (when_ms < old) {
			heap_up(l, i);
		} else {
			heap_down(l, i);
		}
		return 0;
	}
	if (l->nheap == l->heap_cap) {
		size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
		struct loop_timer **p = realloc(l->heap, cap * sizeof(*p));

		if (!p) {
			return -ENOMEM;
		}
		l->heap = p;
		l->heap_cap = cap;
	}
	t->when_ms = when_ms;
	heap_set(l, l->nheap, t);
	l->nheap++;
	heap_up(l, l->nheap - 1);
	return 0;
}

size_t
loop_timer_count(const struct loop *l)
{
	return l->nheap;
}

void
loop_on_signal(struct loop *l, loop_signal_fn fn, void *arg)
{
	l->sig_fn = fn;
	l->sig_arg = arg;
}

void
loop_stop(struct loop *l)
{
	l->running = false;
}

static void
loop_handle_signalfd(struct loop *l, int fd, unsigned events, void *arg)
{
	struct signalfd_siginfo si;

	(void)fd;
	(void)events;
	(void)arg;

	while (read(l->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (l->sig_fn) {
			l->sig_fn(l, (int)si.ssi_signo, l->sig_arg);
		} else if (si.ssi_signo != SIGHUP) {
			loop_stop(l);
		}
	}
}

static void
loop_fire_timers(struct loop *l)
{
	/*
	 * Bound the work of one round so a handler that re-arms its timer
	 * for "now" cannot starve descriptors.
	 */
	size_t budget = l->nheap + 16;

	while (l->nheap && l->heap[0]->when_ms <= l->now_ms && budget--) {
		struct loop_timer *t = l->heap[0];

		loop_timer_cancel(l, t);
		t->fn(l, t);
	}
}

static int
loop_next_wait(const struct loop *l, int max_wait_ms)
{
	uint64_t delta;

	if (!l->nheap) {
		return max_wait_ms;
	}
	if (l->heap[0]->when_ms <= l->now_ms) {
		return 0;
	}
	delta = l->heap[0]->when_ms - l->now_ms;
	if (max_wait_ms >= 0 && delta > (uint64_t)max_wait_ms) {
		return max_wait_ms;
	}
	return delta > 60000 ? 60000 : (int)delta;
}

int
loop_run_once(struct loop *l, int max_wait_ms)
{
	struct epoll_event evs[128];
	int n, i;

	n = epoll_wait(l->epfd, evs, 128, loop_next_wait(l, max_wait_ms));
	if (n < 0 && errno != EINTR) {
		return -errno;
	}
	loop_update_time(l);
	for (i = 0; i < n; i++) {
		int fd = evs[i].data.fd;
		unsigned events = 0;
		struct loop_fd *f;

		if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
			events |= LOOP_READ;
		}
		if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
			events |= LOOP_WRITE;
		}
		/* An earlier handler in this batch may have closed fd. */
		if ((size_t)fd >= l->nfds || !l->fds[fd].used) {
			continue;
		}
		f = &l->fds[fd];
		events &= f->events |
		    (evs[i].events & (EPOLLERR | EPOLLHUP)
			    ? LOOP_READ | LOOP_WRITE
			    : 0);
		if (events) {
			f->fn(l, fd, events, f->arg);
		}
	}
	loop_fire_timers(l);
	return 0;
}

int
loop_run(struct loop *l)
{
	int r;

	l->running = true;
	while (l->running) {
		r = loop_run_once(l, -1);
		if (r < 0) {
			return r;
		}
	}
	return 0;
}
