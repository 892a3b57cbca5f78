/*
 * Reports every open(2) of some files, for tests that must show a server
 * never opens a FIFO or a device node: inotify IN_OPEN on each file's
 * inode (the watch follows it through renames).  O_PATH descriptors
 * generate no event, real opens do.
 *
 *   open_watch SECONDS PATH...
 *
 * Prints "ready" once the watches are in place, one "open PATH" line per
 * event, and "opens N" when the time is up.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#define WATCH_MAX 16

int
main(int argc, char **argv)
{
	int wd[WATCH_MAX], fd, i, n = argc - 2;
	unsigned long opens = 0;
	struct timespec now;
	time_t end;

	if (argc < 3 || n > WATCH_MAX) {
		fprintf(stderr, "usage: open_watch SECONDS PATH...\n");
		return 2;
	}
	fd = inotify_init1(IN_CLOEXEC);
	if (fd < 0) {
		perror("inotify_init1");
		return 1;
	}
	for (i = 0; i < n; i++) {
		wd[i] = inotify_add_watch(fd, argv[i + 2], IN_OPEN);
		if (wd[i] < 0) {
			perror(argv[i + 2]);
			return 1;
		}
	}
	printf("ready\n");
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &now);
	end = now.tv_sec + atoi(argv[1]);
	while (clock_gettime(CLOCK_MONOTONIC, &now) == 0 && now.tv_sec < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char buf[4096]
		    __attribute__((aligned(__alignof__(struct inotify_event))));
		ssize_t len, off;

		if (poll(&p, 1, 200) != 1) {
			continue;
		}
		len = read(fd, buf, sizeof(buf));
		for (off = 0; len > 0 && off < len;) {
			const struct inotify_event *ev =
			    (const struct inotify_event *)(const void *)(buf +
				off);

			for (i = 0; i < n; i++) {
				if (wd[i] == ev->wd) {
					printf("open %s\n", argv[i + 2]);
					opens++;
				}
			}
			off += (ssize_t)sizeof(*ev) + ev->len;
		}
		fflush(stdout);
	}
	printf("opens %lu\n", opens);
	return 0;
}
