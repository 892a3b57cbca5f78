#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "image/provision/merge.h"
#include "image/provision/prov.h"
#include "image/provision/tree.h"
#include "image/provision/update.h"
#include "image/provision/version.h"

/* What the namespace's init needs; all paths relative to the image dir. */
struct ns_job {
	/*
	 * By path: an fd opened before unshare() names the host's mounts,
	 * which overlayfs refuses to clone from another namespace.
	 */
	char imgpath[PATH_MAX];
	int imgfd; /* reopened inside the namespace */
	char tmp[32];
	char lower_root[PROV_CHAIN_MAX * 40], lower_boot[PROV_CHAIN_MAX * 40];
	const char *boot_mount;
	char *const *argv; /* NULL: a shell */
	const char *shell; /* the caller's $SHELL, or NULL */
	int out;           /* status pipe to the parent */
};

/*
 * Lines on the status pipe: "N text" (a note), "E text" (why it failed),
 * "S status" (how the command ended).
 */
static void __attribute__((format(printf, 3, 4)))
ns_say(const struct ns_job *j, char kind, const char *fmt, ...)
{
	char line[600];
	va_list ap;
	int n;

	line[0] = kind;
	line[1] = ' ';
	va_start(ap, fmt);
	n = vsnprintf(line + 2, sizeof(line) - 3, fmt, ap);
	va_end(ap);
	if (n < 0) {
		return;
	}
	n = n > (int)sizeof(line) - 3 ? (int)sizeof(line) - 3 : n;
	line[2 + n] = '\n';
	if (write(j->out, line, (size_t)n + 3) < 0) {
		_exit(125);
	}
}

static void
ns_fail(const struct ns_job *j, const char *what)
{
	ns_say(j, 'E', "%s: %s", what, strerror(errno));
	_exit(125);
}

/* A detached overlayfs mount of @lower with @upper and @work. */
static int
overlay_open(const struct ns_job *j, const char *lower, const char *tree)
{
	char upper[64], work[64];
	int fs, mnt;

	snprintf(upper, sizeof(upper), "%s/%s", j->tmp, tree);
	snprintf(work, sizeof(work), "%s/work.%s", j->tmp, tree);
	fs = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fs < 0) {
		ns_fail(j, "overlayfs (fsopen)");
	}
	/*
	 * userxattr: the layer format of docs/fleet.md.  No redirects,
	 * metacopy or index, so the upper directory is a plain delta that
	 * the NFS server's merge reads as it is.  Relative paths resolve
	 * from the image directory (our cwd).
	 */
	if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir", lower, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "workdir", work, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "redirect_dir", "nofollow", 0) <
		0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "index", "off", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "metacopy", "off", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		ns_say(j, 'E', "mounting the %s layers with overlayfs: %s",
		    tree, strerror(errno));
		_exit(125);
	}
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, 0);
	if (mnt < 0) {
		ns_fail(j, "overlayfs (fsmount)");
	}
	close(fs);
	return mnt;
}

/* A detached copy of the host's @path (recursive), or -1 when absent. */
static int
host_tree(const char *path, bool recursive, bool rdonly)
{
	struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
	int fd = open_tree(AT_FDCWD, path,
	    OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
		(recursive ? AT_RECURSIVE : 0));

	if (fd >= 0 && rdonly &&
	    mount_setattr(fd, "", AT_EMPTY_PATH, &a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Attach @fd at @path inside the chroot, resolved there (an image's
 * symlinks cannot point it at the host).  @want: S_IFDIR or S_IFREG.
 */
static bool
attach(const struct ns_job *j, int fd, const char *path, mode_t want)
{
	struct stat s;

	if (fd < 0) {
		ns_say(j, 'N', "the host has nothing to bind on %s", path);
		return false;
	}
	if (stat(path, &s) < 0 || (s.st_mode & S_IFMT) != want) {
		ns_say(j, 'N', "the image has no %s %s; left out", path,
		    want == S_IFDIR ? "directory" : "file");
		close(fd);
		return false;
	}
	if (move_mount(fd, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		ns_fail(j, path);
	}
	close(fd);
	return true;
}

static void
mkdir_chroot(const char *path)
{
	char p[PATH_MAX];
	size_t i;

	snprintf(p, sizeof(p), "%s", path);
	for (i = 1; p[i]; i++) {
		if (p[i] == '/') {
			p[i] = '\0';
			mkdir(p, 0755);
			p[i] = '/';
		}
	}
	mkdir(p, 0755);
}

static void
run_command(const struct ns_job *j)
{
	static const char *const shells[] = {"/bin/bash", "/bin/sh"};
	const char *term = getenv("TERM");
	char tenv[128];
	char *env[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
		       "/usr/bin:/sbin:/bin",
	    "HOME=/root", "LC_ALL=C", tenv, NULL};
	sigset_t none;
	int sig;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (sig = 1; sig < NSIG; sig++) {
		signal(sig, SIG_DFL);
	}
	snprintf(tenv, sizeof(tenv), "TERM=%s", term ? term : "dumb");
	if (j->argv) {
		execvpe(j->argv[0], j->argv, env);
		fprintf(stderr,
		    "pinetboot: cannot run %s inside the image: %s\n",
		    j->argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	if (j->shell && j->shell[0] == '/' && access(j->shell, X_OK) == 0) {
		execle(j->shell, j->shell, (char *)NULL, env);
	}
	for (sig = 0; sig < 2; sig++) {
		if (access(shells[sig], X_OK) == 0) {
			execle(shells[sig], shells[sig], (char *)NULL, env);
		}
	}
	fprintf(stderr, "pinetboot: the image has no shell (/bin/sh)\n");
	_exit(127);
}

/* PID 1 of the namespaces: mount, chroot, run, unmount.  Never returns. */
static void
ns_init(struct ns_job *j)
{
	int root, boot, dev, sys, resolv, hostroot, mnt;
	bool has_boot, has_proc, has_dev, has_sys, has_resolv;
	char mntpath[64];
	pid_t pid, w;
	int st = 0, code;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		ns_fail(j, "making the mounts private");
	}
	if (chdir(j->imgpath) < 0) {
		ns_fail(j, j->imgpath);
	}
	j->imgfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (j->imgfd < 0) {
		ns_fail(j, j->imgpath);
	}
	root = overlay_open(j, j->lower_root, "root");
	boot = overlay_open(j, j->lower_boot, "boot");
	dev = host_tree("/dev", true, false);
	sys = host_tree("/sys", true, false);
	resolv = host_tree("/etc/resolv.conf", false, true);
	hostroot = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	snprintf(mntpath, sizeof(mntpath), "%s/mnt", j->tmp);
	if (hostroot < 0 ||
	    move_mount(root, "", AT_FDCWD, mntpath, MOVE_MOUNT_F_EMPTY_PATH) <
		0) {
		ns_fail(j, "attaching the root overlay");
	}
	close(root);
	mnt = open(mntpath, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (mnt < 0 || fchdir(mnt) < 0 || chroot(".") < 0 || chdir("/") < 0) {
		ns_fail(j, "chroot into the image");
	}
	close(mnt);
	/* Kernel packages write the boot files there: into the boot delta. */
	mkdir_chroot(j->boot_mount);
	has_boot = attach(j, boot, j->boot_mount, S_IFDIR);
	has_proc = mount("proc", "/proc", "proc",
		       MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0;
	if (!has_proc) {
		ns_say(j, 'N', "cannot mount /proc in the image: %s",
		    strerror(errno));
	}
	has_dev = attach(j, dev, "/dev", S_IFDIR);
	has_sys = attach(j, sys, "/sys", S_IFDIR);
	has_resolv = attach(j, resolv, "/etc/resolv.conf", S_IFREG);
	pid = fork();
	if (pid < 0) {
		ns_fail(j, "fork");
	}
	if (pid == 0) {
		close(j->out);
		run_command(j);
	}
	while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {
	}
	code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	/* Daemons the command started would keep the layers busy. */
	kill(-1, SIGKILL);
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {
	}
	if (has_resolv) {
		umount2("/etc/resolv.conf", MNT_DETACH);
	}
	if (has_sys) {
		umount2("/sys", MNT_DETACH);
	}
	if (has_dev) {
		umount2("/dev", MNT_DETACH);
	}
	if (has_proc) {
		umount2("/proc", MNT_DETACH);
	}
	/* A plain unmount, so that overlayfs has finished with the upper. */
	if (has_boot && umount2(j->boot_mount, 0) < 0) {
		ns_fail(j, "unmounting the boot overlay");
	}
	if (fchdir(hostroot) < 0 || chroot(".") < 0 || fchdir(j->imgfd) < 0 ||
	    umount2(mntpath, 0) < 0) {
		ns_fail(j, "unmounting the root overlay");
	}
	ns_say(j, 'S', "%d", code);
	_exit(0);
}

/*
 * Run the job in new mount and PID namespaces; the first child only
 * makes them (unshare(CLONE_NEWPID) applies to its children) and waits.
 * Return: 0 with *@status set, or a negative code with @msg.
 */
static int
ns_run(struct ns_job *j, int *status, const struct prov_update *u, char *msg,
    size_t msglen)
{
	int p[2], st, r = -EIO;
	pid_t parent = getpid(), a;
	FILE *f;
	char line[640];

	if (pipe2(p, O_CLOEXEC) < 0) {
		return -errno;
	}
	a = fork();
	if (a < 0) {
		r = -errno;
		close(p[0]);
		close(p[1]);
		return r;
	}
	if (a == 0) {
		pid_t b;

		close(p[0]);
		j->out = p[1];
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) {
			_exit(125);
		}
		signal(SIGINT, SIG_IGN);
		signal(SIGQUIT, SIG_IGN);
		if (unshare(CLONE_NEWNS | CLONE_NEWPID) < 0) {
			ns_fail(j, "new mount and PID namespaces (unshare)");
		}
		b = fork();
		if (b < 0) {
			ns_fail(j, "fork");
		}
		if (b == 0) {
			ns_init(j);
		}
		while (waitpid(b, &st, 0) < 0 && errno == EINTR) {
		}
		_exit(0);
	}
	close(p[1]);
	f = fdopen(p[0], "r");
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == 'S') {
			*status = atoi(line + 2);
			r = 0;
		} else if (line[0] == 'E') {
			snprintf(msg, msglen, "%s", line + 2);
		} else if (line[0] == 'N' && u->note) {
			u->note(u->note_arg, line + 2);
		}
	}
	if (f) {
		fclose(f);
	} else {
		close(p[0]);
	}
	while (waitpid(a, &st, 0) < 0 && errno == EINTR) {
	}
	if (r < 0 && !msg[0]) {
		snprintf(msg, msglen,
		    "the namespace that runs the command ended early "
		    "(status %d)",
		    st);
	}
	return r;
}

/* "update: CMD ARGS" for version.conf, quoting what needs it. */
static void
command_text(char *const *argv, char *out, size_t cap)
{
	size_t o = 0, i;

	out[0] = '\0';
	if (!argv) {
		snprintf(out, cap, "shell");
		return;
	}
	for (i = 0; argv[i] && o + 1 < cap; i++) {
		bool q = argv[i][0] == '\0' ||
		    strpbrk(argv[i], " \t'\"\\$;&|<>()*?`") != NULL;
		int n = snprintf(out + o, cap - o, "%s%s%s%s", i ? " " : "",
		    q ? "'" : "", argv[i], q ? "'" : "");

		if (n < 0) {
			break;
		}
		o += (size_t)n;
	}
}

static int
lower_string(const struct prov_img *im, const unsigned *layers, int n,
    const char *tree, char *out, size_t cap)
{
	size_t o = 0;
	int i;

	for (i = 0; i < n; i++) {
		char rel[64];
		int w;

		prov_version_path(im, layers[i], tree, rel, sizeof(rel));
		w = snprintf(out + o, cap - o, "%s%s", i ? ":" : "", rel);
		if (w < 0 || (size_t)w >= cap - o) {
			return -ENAMETOOLONG;
		}
		o += (size_t)w;
	}
	return 0;
}

/* Replace the delta in @tmpfd with a flattened base of it over @from. */
static int
flatten_into(const struct prov_img *im, int tmpfd, unsigned from,
    const struct prov_progress *prog, char *msg, size_t msglen)
{
	int flat = -1, boot = -1, root = -1, r;

	if (mkdirat(tmpfd, "flat", 0700) < 0) {
		return -errno;
	}
	flat = openat(tmpfd, "flat", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	boot = openat(tmpfd, "boot", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	root = openat(tmpfd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = flat < 0 || boot < 0 || root < 0
	    ? -errno
	    : prov_version_flatten(
		  im, boot, root, from, flat, prog, msg, msglen);
	if (flat >= 0) {
		close(flat);
	}
	if (boot >= 0) {
		close(boot);
	}
	if (root >= 0) {
		close(root);
	}
	/* The delta's own files live on as links in the flattened trees. */
	if (r == 0) {
		r = tree_rm(tmpfd, "boot");
	}
	if (r == 0) {
		r = tree_rm(tmpfd, "root");
	}
	if (r == 0 &&
	    (renameat(tmpfd, "flat/boot", tmpfd, "boot") < 0 ||
		renameat(tmpfd, "flat/root", tmpfd, "root") < 0 ||
		unlinkat(tmpfd, "flat", AT_REMOVEDIR) < 0)) {
		r = -errno;
	}
	return r;
}

/* Disk use of the new version's trees, not counting @from's stack. */
static void
new_disk_use(const struct prov_img *im, int tmpfd, unsigned from,
    bool flattened, uint64_t *boot, uint64_t *root)
{
	struct tree_inoset seen = {0};
	unsigned layers[PROV_CHAIN_MAX];
	char rel[64], msg[256];
	int n = 0, i, fd;

	if (flattened) {
		n = prov_version_layers(
		    im, from, layers, PROV_CHAIN_MAX, msg, sizeof(msg));
	}
	for (i = 0; i < n; i++) {
		const char *trees[] = {"boot", "root"};
		int t;

		for (t = 0; t < 2; t++) {
			prov_version_path(
			    im, layers[i], trees[t], rel, sizeof(rel));
			fd = openat(
			    im->fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd >= 0) {
				tree_du_new(fd, &seen);
				close(fd);
			}
		}
	}
	fd = openat(tmpfd, "boot", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	*boot = fd >= 0 ? tree_du_new(fd, &seen) : 0;
	if (fd >= 0) {
		close(fd);
	}
	fd = openat(tmpfd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	*root = fd >= 0 ? tree_du_new(fd, &seen) : 0;
	if (fd >= 0) {
		close(fd);
	}
	tree_inoset_fini(&seen);
}

static void __attribute__((format(printf, 2, 3)))
note(const struct prov_update *u, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!u->note) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	u->note(u->note_arg, line);
}

int
prov_image_update(const char *state, const struct prov_update *u,
    struct prov_update_info *info, char *msg, size_t msglen)
{
	static const char *const dirs[] = {
	    "boot", "root", "work.boot", "work.root", "mnt"};
	struct prov_img im;
	struct prov_version *v = calloc(1, sizeof(*v));
	struct prov_version *nv = calloc(1, sizeof(*nv));
	struct ns_job j = {.argv = u->argv, .shell = getenv("SHELL")};
	struct binfmt_guard g = {.life = -1, .report = -1};
	unsigned layers[PROV_CHAIN_MAX];
	const char *host = prov_native_arch();
	char bnote[512];
	int n, r, tmpfd = -1, fd;
	bool made_tmp = false, done = false;
	size_t i;

	memset(info, 0, sizeof(*info));
	msg[0] = '\0';
	if (!v || !nv) {
		free(v);
		free(nv);
		return -ENOMEM;
	}
	r = prov_img_open(&im, state, u->image, true, msg, msglen);
	if (r < 0) {
		free(v);
		free(nv);
		return r;
	}
	info->from = u->from ? u->from : prov_img_newest(&im);
	r = prov_version_read(&im, info->from, v, msg, msglen);
	if (r < 0) {
		goto out;
	}
	n = prov_version_layers(
	    &im, info->from, layers, PROV_CHAIN_MAX, msg, msglen);
	if (n < 0) {
		r = n;
		goto out;
	}
	snprintf(info->arch, sizeof(info->arch), "%s", v->arch);
	if (!v->arch[0] || !host) {
		snprintf(msg, msglen,
		    "cannot tell which processor version %u of image '%s' is "
		    "for (no ELF /usr/bin/dpkg, /bin/sh or /bin/busybox)",
		    info->from, u->image);
		r = -ENOEXEC;
		goto out;
	}
	snprintf(bnote, sizeof(bnote), "/proc/self/fd/%d", im.fd);
	if (!realpath(bnote, j.imgpath)) {
		r = -errno;
		goto out;
	}
	j.boot_mount = v->boot_mount[0] ? v->boot_mount : "/boot/firmware";
	r = lower_string(
	    &im, layers, n, "root", j.lower_root, sizeof(j.lower_root));
	if (r == 0) {
		r = lower_string(
		    &im, layers, n, "boot", j.lower_boot, sizeof(j.lower_boot));
	}
	if (r < 0) {
		goto out;
	}
	snprintf(j.tmp, sizeof(j.tmp), ".tmp-u-%ld", (long)getpid());
	tree_rm(im.fd, j.tmp);
	if (mkdirat(im.fd, j.tmp, 0700) < 0) {
		r = -errno;
		goto out;
	}
	made_tmp = true;
	tmpfd = openat(im.fd, j.tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (i = 0; tmpfd >= 0 && i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (mkdirat(tmpfd, dirs[i], 0755) < 0) {
			r = -errno;
			goto out;
		}
	}
	if (tmpfd < 0) {
		r = -errno;
		goto out;
	}
	if (!binfmt_native(v->arch, host)) {
		r = binfmt_start(
		    &g, v->arch, bnote, sizeof(bnote), msg, msglen);
		if (r < 0) {
			goto out;
		}
		info->emulated = true;
		note(
		    u, "an %s image on this %s host: %s", v->arch, host, bnote);
	}
	note(u, "running %s in version %u of '%s' (%d layer%s)",
	    u->argv ? u->argv[0] : "a shell", info->from, u->image, n,
	    n == 1 ? "" : "s");
	r = ns_run(&j, &info->status, u, msg, msglen);
	binfmt_stop(&g);
	if (r < 0 || info->status != 0) {
		goto out;
	}
	r = tree_rm(tmpfd, "work.boot");
	if (r == 0) {
		r = tree_rm(tmpfd, "work.root");
	}
	if (r == 0 && unlinkat(tmpfd, "mnt", AT_REMOVEDIR) < 0) {
		r = -errno;
	}
	for (i = 0; r == 0 && i < 2; i++) {
		uint64_t e = 0;

		fd = openat(tmpfd, dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = fd < 0 ? -errno : merge_clean_upper(fd, &e);
		info->entries += e;
		if (fd >= 0) {
			close(fd);
		}
	}
	if (r < 0) {
		snprintf(
		    msg, msglen, "collecting the changes: %s", strerror(-r));
		goto out;
	}
	if (info->entries == 0) {
		info->empty = true;
		goto out;
	}
	*nv = *v;
	nv->n = prov_img_newest(&im) + 1;
	nv->parent = info->from;
	nv->base = v->chain + 1 > PROV_CHAIN_MAX;
	nv->flattened = nv->base;
	nv->source[0] = '\0';
	nv->scheme[0] = '\0';
	command_text(u->argv, nv->command, sizeof(nv->command));
	{
		time_t now = time(NULL);
		struct tm tm;

		gmtime_r(&now, &tm);
		strftime(nv->created, sizeof(nv->created), "%Y-%m-%dT%H:%M:%SZ",
		    &tm);
	}
	if (nv->base) {
		note(u,
		    "the chain would be %u layers (more than %d): "
		    "flattening into a base of hard links",
		    v->chain + 1, PROV_CHAIN_MAX);
		r = flatten_into(&im, tmpfd, info->from, &u->prog, msg, msglen);
		if (r < 0) {
			goto out;
		}
		info->flattened = true;
	}
	new_disk_use(
	    &im, tmpfd, info->from, nv->base, &nv->boot_bytes, &nv->root_bytes);
	info->boot_bytes = nv->boot_bytes;
	info->root_bytes = nv->root_bytes;
	r = prov_version_write(tmpfd, nv);
	if (r == 0) {
		r = prov_version_commit(&im, j.tmp, nv->n);
	}
	if (r < 0) {
		snprintf(
		    msg, msglen, "writing version %u: %s", nv->n, strerror(-r));
		goto out;
	}
	done = true;
	info->version = nv->n;
out:
	binfmt_stop(&g);
	if (tmpfd >= 0) {
		close(tmpfd);
	}
	if (made_tmp && !done) {
		tree_rm(im.fd, j.tmp);
	}
	prov_img_close(&im);
	free(v);
	free(nv);
	return r;
}
