#ifndef PNB_TESTS_PI_EMU_TRACE_H
#define PNB_TESTS_PI_EMU_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * An NFS boot trace as tests/tools/nfs_trace writes it (format in
 * tests/data/nfs/README.md): the connections a booting Linux client opened
 * and the RPC calls it made on them, in order, with objects named by
 * their path under the export instead of by the server's handles.
 * Loaded once, then shared read-only by every emulated Pi.
 */

enum emu_prog {
	EMU_PMAP,   /* portmapper v2 */
	EMU_MNT,    /* MOUNT v3 */
	EMU_NFS,    /* NFS v3 */
	EMU_NFSACL, /* the Linux client's NFSACL probe */
};

/* One connection: transport, source port class, where it goes. */
struct emu_tconn {
	bool resv;    /* from a reserved port (< 1024), as the kernel binds */
	int port;     /* a fixed server port, or 0 ... */
	int via_call; /* ... the port that call's GETPORT reply named */
};

struct emu_tsattr {
	bool set_mode, set_uid, set_gid, set_size;
	uint32_t mode, uid, gid;
	uint64_t size;
	int atime, mtime; /* 0 don't change, 1 server time, 2 client time */
	uint32_t atime_s, atime_ns, mtime_s, mtime_ns;
};

/* One call, and what the traced client got back. */
struct emu_tcall {
	int idx;   /* 1-based, as in the file */
	int conn;  /* index into conns */
	double ms; /* when the traced client sent it, from the first call */
	const int *deps; /* calls whose replies it waited for (indices) */
	int ndeps;
	enum emu_prog prog;
	uint32_t proc;

	/* AUTH_SYS or AUTH_NONE, as sent */
	bool auth_sys;
	const char *host;
	uint32_t uid, gid, ngids, gids[16];

	/* arguments; object ids index emu_trace.ids, -1 when absent */
	int fh, dir, todir;
	const char *name, *toname, *target; /* decoded */
	const char *mnt_sub;                /* MNT path after the export */
	uint32_t pm_prog, pm_vers, pm_prot; /* GETPORT */
	uint64_t off;
	uint32_t count, dircount, maxcount, access, stable, mask;
	bool cookie_next, verf_last; /* READDIR(PLUS) continuation */
	struct emu_tsattr sattr;
	bool guard;
	uint32_t guard_s, guard_ns;
	int how; /* CREATE */
	uint8_t verf[8];
	uint32_t ftype, rdev_major, rdev_minor; /* MKNOD */
	const uint8_t *data;                    /* WRITE; NULL: a pattern */
	size_t data_len;

	/* the traced result */
	bool replied;
	const char *status; /* "OK", "NOENT", "ok", "prog_unavail", ... */
	int obj;            /* id the reply named, or -1 */
	const int *names;   /* READDIRPLUS: ids later calls use */
	int nnames;
	uint32_t res_count;
	int res_eof; /* -1 when not recorded */
	const char *res_target;
};

struct emu_trace {
	struct emu_tconn *conns;
	int nconns;
	struct emu_tcall *calls;
	int ncalls;
	char **ids; /* object paths under the export ("/", "/bin/sh") */
	int nids;
	int *conn_last; /* per connection: its last call's index */
	/*
	 * The calls of mount(2) itself: portmapper, MOUNT and the set-up
	 * calls on the new NFS connection, up to the first call of the path
	 * walk.  A failure among them fails the mount attempt, which the
	 * kernel's nfsroot retries (init/do_mounts.c).
	 */
	int mount_end;
	int mnt_call; /* the MNT call */
	void **owned; /* strings and arrays the calls point into */
	size_t nowned, capowned;
};

/*
 * emu_trace_load() - read and check a trace file.
 * Return: an owned trace (free with emu_trace_free()), or NULL with a
 * message naming the file and line in @err.
 */
struct emu_trace *emu_trace_load(const char *path, char *err, size_t errlen);
void emu_trace_free(struct emu_trace *t);

/* emu_trace_proc_name() - "GETATTR", "MNT", ...: for messages. */
const char *emu_trace_proc_name(const struct emu_tcall *c);

#endif
