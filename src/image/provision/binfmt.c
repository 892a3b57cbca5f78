#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image/provision/tree.h"
#include "image/provision/update.h"

/*
 * Running a foreign image's programs through binfmt_misc and Debian's
 * qemu-user-static, leaving the host's binfmt state as it was.
 *
 * A guard process does the work: in its own mount namespace (so a
 * binfmt_misc mount it needs never shows on the host) it registers what
 * is missing, reports, then waits for the command's end, seen as EOF on a
 * pipe that only the command's process holds.  So the entry goes away
 * even when that process is killed with SIGKILL.  Entries carry the
 * command's PID in their name; one left by a guard that was itself
 * killed is removed by the next guard.
 */

#define BINFMT_DIR   "/proc/sys/fs/binfmt_misc"
#define BINFMT_MAGIC 0x42494e4d /* BINFMTFS_MAGIC */
#define BINFMT_CONF  "/usr/lib/binfmt.d/qemu-%s.conf"

/* Debian architecture to QEMU's name for it. */
static const char *
qemu_name(const char *arch)
{
	static const struct {
		const char *deb, *qemu;
	} map[] = {
	    {"arm64", "aarch64"},
	    {"armhf", "arm"},
	    {"armel", "arm"},
	    {"amd64", "x86_64"},
	    {"i386", "i386"},
	    {"riscv64", "riscv64"},
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (!strcmp(arch, map[i].deb)) {
			return map[i].qemu;
		}
	}
	return NULL;
}

bool
binfmt_native(const char *arch, const char *host)
{
	if (!strcmp(arch, host)) {
		return true;
	}
	/* x86-64 kernels run i386 programs themselves. */
	return !strcmp(host, "amd64") && !strcmp(arch, "i386");
}

/* "\x7f\x45..." (a binfmt.d field) into bytes; returns the length. */
static size_t
unescape(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;

	while (*s && n < cap) {
		unsigned v;

		if (s[0] == '\\' && s[1] == 'x' && sscanf(s + 2, "%2x", &v)) {
			out[n++] = (uint8_t)v;
			s += 4;
		} else {
			out[n++] = (uint8_t)*s++;
		}
	}
	return n;
}

/* The hex string of a binfmt_misc entry file ("magic 7f454c46..."). */
static size_t
unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	unsigned v;

	while (n < cap && sscanf(s, "%2x", &v) == 1) {
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

struct binfmt_rule {
	char line[1024]; /* the whole registration string */
	uint8_t magic[128], mask[128];
	size_t magic_len, mask_len;
	char interp[256];
};

/*
 * Debian's registration for @qemu, under our own name and with the F
 * flag: the kernel opens the interpreter once, so the image need not
 * contain it.
 */
static int
rule_load(const char *qemu, const char *name, struct binfmt_rule *r, char *msg,
    size_t msglen)
{
	char path[128], buf[1024], *f[8], *p;
	FILE *fp;
	size_t i;

	snprintf(path, sizeof(path), BINFMT_CONF, qemu);
	fp = fopen(path, "r");
	if (!fp) {
		snprintf(msg, msglen,
		    "running %s programs here needs Debian's qemu-user-static "
		    "(%s is missing): apt-get install qemu-user-static",
		    qemu, path);
		return -ENOENT;
	}
	buf[0] = '\0';
	while (fgets(buf, sizeof(buf), fp) && buf[0] != ':') {
	}
	fclose(fp);
	buf[strcspn(buf, "\n")] = '\0';
	/* :name:type:offset:magic:mask:interpreter:flags */
	for (i = 0, p = buf + 1; i < 7 && p; i++) {
		f[i] = p;
		p = strchr(p, ':');
		if (p) {
			*p++ = '\0';
		}
	}
	if (buf[0] != ':' || i < 7 || strcmp(f[1], "M") != 0) {
		snprintf(msg, msglen, "%s: not a binfmt.d magic rule", path);
		return -EINVAL;
	}
	r->magic_len = unescape(f[3], r->magic, sizeof(r->magic));
	r->mask_len = unescape(f[4], r->mask, sizeof(r->mask));
	snprintf(r->interp, sizeof(r->interp), "%s", f[5]);
	snprintf(r->line, sizeof(r->line), ":%s:M:%s:%s:%s:%s:%s%s", name, f[2],
	    f[3], f[4], f[5], f[6], strchr(f[6], 'F') ? "" : "F");
	if (access(r->interp, X_OK) < 0) {
		snprintf(msg, msglen,
		    "%s names the interpreter %s, which is missing: "
		    "reinstall qemu-user-static",
		    path, r->interp);
		return -ENOENT;
	}
	return 0;
}

/*
 * Does the entry file @name already run what @r matches, from inside any
 * chroot (enabled, F flag, same magic and mask)?  Entries of other
 * pinetboot commands do not count: they go away when those end.
 */
static bool
entry_serves(int dirfd, const char *name, const struct binfmt_rule *r)
{
	char buf[2048], *line;
	uint8_t magic[128], mask[128];
	size_t ml = 0, kl = 0;
	bool enabled = false, fix = false;
	int fd;
	ssize_t n;

	if (!strncmp(name, "pinetboot-", 10)) {
		return false;
	}
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return false;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		return false;
	}
	buf[n] = '\0';
	for (line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strcmp(line, "enabled")) {
			enabled = true;
		} else if (!strncmp(line, "flags: ", 7)) {
			fix = strchr(line + 7, 'F') != NULL;
		} else if (!strncmp(line, "magic ", 6)) {
			ml = unhex(line + 6, magic, sizeof(magic));
		} else if (!strncmp(line, "mask ", 5)) {
			kl = unhex(line + 5, mask, sizeof(mask));
		}
	}
	return enabled && fix && ml == r->magic_len &&
	    !memcmp(magic, r->magic, ml) &&
	    (kl == 0 || (kl == r->mask_len && !memcmp(mask, r->mask, kl)));
}

static int
write_at(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0) {
		return -errno;
	}
	if (write(fd, text, strlen(text)) < 0) {
		r = -errno;
	}
	close(fd);
	return r;
}

/* Entries named pinetboot-ARCH-PID whose PID is gone. */
static void
remove_stale(int dirfd)
{
	DIR *d = tree_dir_stream(dirfd);
	struct dirent *e;

	if (!d) {
		return;
	}
	while ((e = readdir(d)) != NULL) {
		const char *dash = strrchr(e->d_name, '-');
		long pid;
		char *end;

		if (strncmp(e->d_name, "pinetboot-", 10) != 0 || !dash) {
			continue;
		}
		pid = strtol(dash + 1, &end, 10);
		if (*end == '\0' && pid > 0 && kill((pid_t)pid, 0) < 0 &&
		    errno == ESRCH) {
			write_at(dirfd, e->d_name, "-1");
		}
	}
	closedir(d);
}

static void __attribute__((format(printf, 2, 3)))
say(int fd, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0 && write(fd, line, strlen(line)) < 0) {
		_exit(1);
	}
}

/* The guard: see the comment at the top.  Never returns. */
static void
guard(const char *arch, pid_t owner, int life, int report)
{
	struct binfmt_rule *r = calloc(1, sizeof(*r));
	char name[64], msg[512] = "", status[16] = "";
	bool mounted_status_on = false, registered = false;
	struct statfs sf;
	struct pollfd p = {.fd = life, .events = POLLIN};
	const char *qemu = qemu_name(arch);
	int dirfd = -1, fd;
	DIR *d;
	struct dirent *e;

	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	setsid();
	/*
	 * Nothing of the command's but the two pipes: an inherited fd of
	 * the image directory would hold its lock until the guard ends.
	 */
	{
		int lo = life < report ? life : report;
		int hi = life < report ? report : life;

		close_range(3, (unsigned)lo - 1, 0);
		close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
		close_range((unsigned)hi + 1, ~0u, 0);
	}
	if (chdir("/") < 0) {
		_exit(1);
	}
	if (!r || !qemu) {
		say(report, "error: no QEMU emulation is known for %s\n", arch);
		_exit(1);
	}
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		say(report, "error: cannot make a mount namespace: %s\n",
		    strerror(errno));
		_exit(1);
	}
	if ((statfs(BINFMT_DIR, &sf) < 0 || sf.f_type != BINFMT_MAGIC) &&
	    mount("binfmt_misc", BINFMT_DIR, "binfmt_misc",
		MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		say(report,
		    "error: cannot mount binfmt_misc on " BINFMT_DIR
		    " (%s); load the module (modprobe binfmt_misc)\n",
		    strerror(errno));
		_exit(1);
	}
	dirfd = open(BINFMT_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		say(report, "error: " BINFMT_DIR ": %s\n", strerror(errno));
		_exit(1);
	}
	remove_stale(dirfd);
	snprintf(name, sizeof(name), "pinetboot-%s-%ld", qemu, (long)owner);
	if (rule_load(qemu, name, r, msg, sizeof(msg)) < 0) {
		say(report, "error: %s\n", msg);
		_exit(1);
	}
	fd = openat(dirfd, "status", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, status, sizeof(status) - 1);

		status[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	if (!strncmp(status, "disabled", 8)) {
		if (write_at(dirfd, "status", "1") < 0) {
			say(report, "error: cannot enable binfmt_misc: %s\n",
			    strerror(errno));
			_exit(1);
		}
		mounted_status_on = true;
	}
	d = tree_dir_stream(dirfd);
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.' && strcmp(e->d_name, "status") &&
		    strcmp(e->d_name, "register") &&
		    entry_serves(dirfd, e->d_name, r)) {
			say(report,
			    "ok: the host's binfmt entry %s runs %s "
			    "programs\n",
			    e->d_name, arch);
			break;
		}
	}
	if (d && !e) {
		if (write_at(dirfd, "register", r->line) < 0) {
			say(report,
			    "error: registering %s with binfmt_misc: %s\n",
			    name, strerror(errno));
			if (mounted_status_on) {
				write_at(dirfd, "status", "0");
			}
			_exit(1);
		}
		registered = true;
		say(report, "ok: registered %s (%s) for this command\n", name,
		    r->interp);
	}
	if (d) {
		closedir(d);
	}
	/* Until the owner is gone: EOF or an error on its pipe. */
	while (poll(&p, 1, -1) < 0 && errno == EINTR) {
	}
	if (registered) {
		write_at(dirfd, name, "-1");
	}
	if (mounted_status_on) {
		write_at(dirfd, "status", "0");
	}
	/* Closing @report tells binfmt_stop() that the host is restored. */
	_exit(0);
}

int
binfmt_start(struct binfmt_guard *g, const char *arch, char *note,
    size_t notelen, char *msg, size_t msglen)
{
	int life[2], report[2];
	char buf[1024];
	size_t got = 0;
	pid_t pid, owner = getpid();
	int st;

	g->life = g->report = -1;
	if (pipe2(life, O_CLOEXEC) < 0) {
		return -errno;
	}
	if (pipe2(report, O_CLOEXEC) < 0) {
		close(life[0]);
		close(life[1]);
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(life[0]);
		close(life[1]);
		close(report[0]);
		close(report[1]);
		return -e;
	}
	if (pid == 0) {
		sigset_t all;

		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		close(life[1]);
		close(report[0]);
		/* A grandchild, so that no one has to wait for it. */
		if (fork() != 0) {
			_exit(0);
		}
		guard(arch, owner, life[0], report[1]);
	}
	close(life[0]);
	close(report[1]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
	}
	/* One line; the guard keeps the pipe open until it has cleaned up. */
	while (got + 1 < sizeof(buf)) {
		ssize_t n = read(report[0], buf + got, 1);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0 || buf[got] == '\n') {
			break;
		}
		got++;
	}
	buf[got] = '\0';
	if (strncmp(buf, "ok: ", 4) != 0) {
		close(life[1]);
		close(report[0]);
		snprintf(msg, msglen, "%s",
		    !strncmp(buf, "error: ", 7) ? buf + 7
						: "the binfmt guard failed");
		return -EOPNOTSUPP;
	}
	snprintf(note, notelen, "%s", buf + 4);
	g->life = life[1];
	g->report = report[0];
	return 0;
}

void
binfmt_stop(struct binfmt_guard *g)
{
	char c;

	if (g->life >= 0) {
		close(g->life);
	}
	/* Wait for the guard to restore the host (EOF). */
	while (g->report >= 0) {
		ssize_t n = read(g->report, &c, 1);

		if (n == 0 || (n < 0 && errno != EINTR)) {
			break;
		}
	}
	if (g->report >= 0) {
		close(g->report);
	}
	g->life = g->report = -1;
}
