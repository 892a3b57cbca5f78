#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/io.h"

int
io_pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w < 0) {
			return -errno;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

int
io_private_dir(const char *path, unsigned *was)
{
	char tmp[PATH_MAX];
	size_t i, n = strlen(path);
	struct stat st;
	int fd, r = 0;

	*was = 0;
	if (n == 0 || n >= sizeof(tmp)) {
		return -ENAMETOOLONG;
	}
	memcpy(tmp, path, n + 1);
	for (i = 1; i < n; i++) {
		if (tmp[i] != '/') {
			continue;
		}
		tmp[i] = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST) {
			return -errno;
		}
		tmp[i] = '/';
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		return -errno;
	}
	/* Checked and changed through one fd, so a swap cannot redirect it. */
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
	} else if (st.st_mode & 077) {
		*was = st.st_mode & 07777;
		if (fchmod(fd, 0700) < 0) {
			r = -errno;
		}
	}
	close(fd);
	return r;
}

void
io_nofile_reserve(size_t more)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max) {
		return;
	}
	rl.rlim_cur =
	    more < rl.rlim_max - rl.rlim_cur ? rl.rlim_cur + more : rl.rlim_max;
	/* Only ever more than before: a failure leaves what was there. */
	(void)setrlimit(RLIMIT_NOFILE, &rl);
}
