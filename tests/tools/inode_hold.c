/*
 * Holds a file's inode lock for a while, so a test can make a server
 * call that needs it (a WRITE to the file) wait there for as long as it
 * wants.  A thread write()s into the file from a page registered with
 * userfaultfd: the kernel takes the inode lock, faults the page in, and
 * sleeps until the fault is resolved, which happens after SECONDS.
 *
 *   inode_hold FILE SECONDS
 *
 * Prints "held" once the writer is asleep inside write(), "released"
 * when it is let go.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static int file_fd;
static char *page;
static long page_size;

static void *
writer(void *arg)
{
	(void)arg;
	if (write(file_fd, page, (size_t)page_size) < 0) {
		perror("write");
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	struct uffdio_api api = {.api = UFFD_API};
	struct uffdio_register reg;
	struct uffdio_zeropage zero;
	struct uffd_msg msg;
	struct pollfd p;
	pthread_t t;
	int uffd;

	if (argc != 3) {
		fprintf(stderr, "usage: inode_hold FILE SECONDS\n");
		return 2;
	}
	page_size = sysconf(_SC_PAGESIZE);
	file_fd = open(argv[1], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (file_fd < 0 || uffd < 0 || ioctl(uffd, UFFDIO_API, &api) < 0) {
		perror("inode_hold: open or userfaultfd");
		return 1;
	}
	page = mmap(NULL, (size_t)page_size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	reg = (struct uffdio_register){
	    .range = {.start = (uintptr_t)page, .len = (uint64_t)page_size},
	    .mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	if (page == MAP_FAILED || ioctl(uffd, UFFDIO_REGISTER, &reg) < 0) {
		perror("inode_hold: register");
		return 1;
	}
	pthread_create(&t, NULL, writer, NULL);
	/* The fault arrives while write() holds the inode lock. */
	p = (struct pollfd){.fd = uffd, .events = POLLIN};
	if (poll(&p, 1, 5000) != 1 || read(uffd, &msg, sizeof(msg)) < 0 ||
	    msg.event != UFFD_EVENT_PAGEFAULT) {
		fprintf(stderr, "inode_hold: no fault seen\n");
		return 1;
	}
	printf("held\n");
	fflush(stdout);
	sleep((unsigned)atoi(argv[2]));
	zero = (struct uffdio_zeropage){
	    .range = {.start = (uintptr_t)page, .len = (uint64_t)page_size}};
	if (ioctl(uffd, UFFDIO_ZEROPAGE, &zero) < 0 && errno != EEXIST) {
		perror("inode_hold: zeropage");
	}
	pthread_join(t, NULL);
	printf("released\n");
	return 0;
}
