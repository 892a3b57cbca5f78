#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "server/nfs/ops_internal.h"

/*
 * The procedures that change the tree (RFC 1813 §3.3): what RFC 1813
 * decides for each (names, read-only exports, wcc data on failure too),
 * with every file-system step done by the export's backend (fs.h).
 */

void
nfs_proc_setattr(struct nfs_req *q)
{
	struct nfs_obj o;
	struct stat st;

	if (nfs_resolve(q, &q->args.fh, &o) < 0) {
		return;
	}
	if (nfs_wcc_before(q, &o, &q->res.wcc, &st) < 0) {
		q->res.status = NFS3ERR_STALE;
		goto out;
	}
	if (q->args.guard_check &&
	    ((uint32_t)st.st_ctim.tv_sec != q->args.guard_ctime.sec ||
		(uint32_t)st.st_ctim.tv_nsec != q->args.guard_ctime.nsec)) {
		q->res.status = NFS3ERR_NOT_SYNC;
		goto out;
	}
	if (nfs_check_ro(q, o.e) < 0) {
		goto out;
	}
	q->res.status = nfs_errno_stat(
	    -o.e->fs->setattr(&q->call, &o, &st, &q->args.sattr));
out:
	nfs_post(q, &o, &q->res.wcc.after);
	nfs_obj_close(&o);
}

void
nfs_proc_write(struct nfs_req *q)
{
	struct nfs_obj o;
	struct stat st;
	size_t done = 0;
	int wfd = -1;

	if (nfs_resolve(q, &q->args.fh, &o) < 0) {
		return;
	}
	if (nfs_wcc_before(q, &o, &q->res.wcc, &st) < 0) {
		q->res.status = NFS3ERR_STALE;
		goto out;
	}
	q->res.status = nfs_data_type(&st);
	if (q->res.status != NFS3_OK || nfs_check_ro(q, o.e) < 0) {
		goto out;
	}
	wfd = o.e->fs->open_data(&q->call, &o, O_WRONLY);
	if (wfd < 0) {
		q->res.status = nfs_errno_stat(-wfd);
		goto out;
	}
	while (done < q->args.data_len) {
		ssize_t n = pwrite(wfd, q->args.data + done,
		    q->args.data_len - done, (off_t)(q->args.offset + done));

		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			break;
		}
		done += (size_t)n;
	}
	if (done == 0 && q->args.data_len > 0) {
		q->res.status = nfs_errno_stat(errno);
		goto out;
	}
	q->res.committed = NFS3_UNSTABLE;
	if (q->args.stable != NFS3_UNSTABLE) {
		if (fdatasync(wfd) < 0) {
			q->res.status = nfs_errno_stat(errno);
			goto out;
		}
		q->res.committed = NFS3_FILE_SYNC;
	}
	q->res.count = (uint32_t)done;
	memcpy(q->res.verf, q->ex->write_verf, NFS3_VERF_SIZE);
out:
	nfs_post(q, &o, &q->res.wcc.after);
	if (wfd >= 0) {
		close(wfd);
	}
	nfs_obj_close(&o);
}

/*
 * CREATE, MKDIR, SYMLINK and MKNOD: the directory, its pre-op
 * attributes and the name checks, then the backend makes @nw, then the
 * new object's handle and attributes and the directory's wcc.
 */
static void
nfs_create_common(struct nfs_req *q, const struct nfs_new *nw)
{
	const char *name = q->args.where.name;
	struct nfs_obj d, o;
	int r;

	if (nfs_resolve_dir(q, &q->args.where.dir, &d) < 0) {
		return;
	}
	nfs_wcc_before(q, &d, &q->res.wcc, NULL);
	q->res.status = nfs_name_check(name);
	if (q->res.status == NFS3_OK && nfs_is_dot(name)) {
		q->res.status = NFS3ERR_EXIST;
	}
	if (q->res.status == NFS3_OK) {
		nfs_check_ro(q, d.e);
	}
	if (q->res.status == NFS3_OK && nw->type == 0) {
		q->res.status = NFS3ERR_BADTYPE;
	}
	if (q->res.status == NFS3_OK && nw->type == S_IFLNK &&
	    nw->target[0] == 0) {
		q->res.status = NFS3ERR_INVAL;
	}
	if (q->res.status != NFS3_OK) {
		goto out;
	}
	nfs_obj_init(&o, d.e);
	r = d.e->fs->create(&q->call, &d, name, nw, &o);
	if (r < 0) {
		q->res.status = nfs_errno_stat(-r);
		goto out;
	}
	nfs_obj_res(q, &o);
	nfs_obj_close(&o);
out:
	nfs_post(q, &d, &q->res.wcc.after);
	nfs_obj_close(&d);
}

void
nfs_proc_create(struct nfs_req *q)
{
	struct nfs_new nw = {
	    .type = S_IFREG,
	    .how = q->args.createmode,
	    .verf = q->args.verf,
	    .sattr = &q->args.sattr,
	};

	nfs_create_common(q, &nw);
}

void
nfs_proc_mkdir(struct nfs_req *q)
{
	struct nfs_new nw = {.type = S_IFDIR, .sattr = &q->args.sattr};

	nfs_create_common(q, &nw);
}

void
nfs_proc_symlink(struct nfs_req *q)
{
	struct nfs_new nw = {
	    .type = S_IFLNK,
	    .sattr = &q->args.sattr,
	    .target = q->args.path,
	};

	nfs_create_common(q, &nw);
}

void
nfs_proc_mknod(struct nfs_req *q)
{
	struct nfs_new nw = {.sattr = &q->args.sattr};

	switch (q->args.ftype) {
	case NF3CHR:
		nw.type = S_IFCHR;
		nw.rdev = makedev(q->args.rdev_major, q->args.rdev_minor);
		break;
	case NF3BLK:
		nw.type = S_IFBLK;
		nw.rdev = makedev(q->args.rdev_major, q->args.rdev_minor);
		break;
	case NF3SOCK:
		nw.type = S_IFSOCK;
		break;
	case NF3FIFO:
		nw.type = S_IFIFO;
		break;
	default:
		/* nfs_create_common() answers NFS3ERR_BADTYPE. */
		nw.type = 0;
		break;
	}
	nfs_create_common(q, &nw);
}

static void
nfs_remove_common(struct nfs_req *q, bool dir)
{
	const char *name = q->args.where.name;
	struct nfs_obj d;

	if (nfs_resolve_dir(q, &q->args.where.dir, &d) < 0) {
		return;
	}
	nfs_wcc_before(q, &d, &q->res.wcc, NULL);
	q->res.status = nfs_name_check(name);
	if (q->res.status != NFS3_OK) {
		goto out;
	}
	if (strcmp(name, ".") == 0) {
		q->res.status = NFS3ERR_INVAL;
		goto out;
	}
	if (strcmp(name, "..") == 0) {
		q->res.status = dir ? NFS3ERR_NOTEMPTY : NFS3ERR_INVAL;
		goto out;
	}
	if (nfs_check_ro(q, d.e) < 0) {
		goto out;
	}
	q->res.status =
	    nfs_errno_stat(-d.e->fs->remove(&q->call, &d, name, dir));
out:
	nfs_post(q, &d, &q->res.wcc.after);
	nfs_obj_close(&d);
}

void
nfs_proc_remove(struct nfs_req *q)
{
	nfs_remove_common(q, false);
}

void
nfs_proc_rmdir(struct nfs_req *q)
{
	nfs_remove_common(q, true);
}

void
nfs_proc_rename(struct nfs_req *q)
{
	struct nfs_obj from, to;

	if (nfs_resolve_dir(q, &q->args.where.dir, &from) < 0) {
		return;
	}
	nfs_wcc_before(q, &from, &q->res.wcc, NULL);
	if (nfs_resolve_dir(q, &q->args.to.dir, &to) < 0) {
		goto out;
	}
	nfs_wcc_before(q, &to, &q->res.wcc2, NULL);
	if (from.e != to.e) {
		q->res.status = NFS3ERR_XDEV;
		goto out;
	}
	q->res.status = nfs_name_check(q->args.where.name);
	if (q->res.status == NFS3_OK) {
		q->res.status = nfs_name_check(q->args.to.name);
	}
	if (q->res.status == NFS3_OK &&
	    (nfs_is_dot(q->args.where.name) || nfs_is_dot(q->args.to.name))) {
		q->res.status = NFS3ERR_INVAL;
	}
	if (q->res.status != NFS3_OK || nfs_check_ro(q, from.e) < 0) {
		goto out;
	}
	q->res.status = nfs_errno_stat(-from.e->fs->rename(
	    &q->call, &from, q->args.where.name, &to, q->args.to.name));
out:
	nfs_post(q, &from, &q->res.wcc.after);
	if (to.e) {
		/* The target's attributes as its own export shows them. */
		nfs_post(q, &to, &q->res.wcc2.after);
		nfs_obj_close(&to);
	}
	nfs_obj_close(&from);
}

void
nfs_proc_link(struct nfs_req *q)
{
	struct nfs_obj o, d;

	if (nfs_resolve(q, &q->args.fh, &o) < 0) {
		return;
	}
	if (nfs_resolve_dir(q, &q->args.where.dir, &d) < 0) {
		goto out;
	}
	nfs_wcc_before(q, &d, &q->res.wcc, NULL);
	if (o.e != d.e) {
		q->res.status = NFS3ERR_XDEV;
		goto out;
	}
	q->res.status = nfs_name_check(q->args.where.name);
	if (q->res.status == NFS3_OK && nfs_is_dot(q->args.where.name)) {
		q->res.status = NFS3ERR_EXIST;
	}
	if (q->res.status != NFS3_OK || nfs_check_ro(q, o.e) < 0) {
		goto out;
	}
	q->res.status = nfs_errno_stat(
	    -o.e->fs->link(&q->call, &o, &d, q->args.where.name));
out:
	nfs_post(q, &o, &q->res.obj);
	if (d.e) {
		nfs_post(q, &d, &q->res.wcc.after);
		nfs_obj_close(&d);
	}
	nfs_obj_close(&o);
}

void
nfs_proc_commit(struct nfs_req *q)
{
	struct nfs_obj o;
	struct stat st = {0};
	int fd;

	if (nfs_resolve(q, &q->args.fh, &o) < 0) {
		return;
	}
	if (nfs_wcc_before(q, &o, &q->res.wcc, &st) < 0 ||
	    !S_ISREG(st.st_mode)) {
		q->res.status = nfs_data_type(&st);
		goto out;
	}
	fd = o.e->fs->open_sync(&q->call, &o);
	if (fd < 0) {
		q->res.status = nfs_errno_stat(-fd);
	} else {
		if (fsync(fd) < 0) {
			q->res.status = nfs_errno_stat(errno);
		}
		close(fd);
	}
	memcpy(q->res.verf, q->ex->write_verf, NFS3_VERF_SIZE);
out:
	nfs_post(q, &o, &q->res.wcc.after);
	nfs_obj_close(&o);
}
