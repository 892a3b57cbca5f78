/*
 * MOUNT v3 arguments (MNT and UMNT take a dirpath) and the MNT result
 * decoder.  The first byte picks the procedure.  A MNT's path is then
 * looked up in an export table, as the server does, through the index
 * that hashes each of its leading parts.
 */
#include <stdint.h>
#include <string.h>

#include "proto/mount/mnt.h"
#include "server/nfs/export.h"

/* Exports of directories every machine has, nested, made once. */
static struct nfs_exports *
fuzz_exports(void)
{
	static const uint8_t key[NFS_KEY_SIZE];
	static struct nfs_exports ex;
	static int state; /* 0: not yet, 1: ready, -1: failed */
	static const char *const dirs[] = {"/", "/usr", "/usr/lib", "/tmp"};
	char msg[256];
	size_t i;

	if (state == 0) {
		state = nfs_exports_init(&ex, key) == 0 ? 1 : -1;
		for (i = 0; state == 1 && i < sizeof(dirs) / sizeof(dirs[0]);
		     i++) {
			(void)nfs_exports_add(
			    &ex, dirs[i], "", NULL, msg, sizeof(msg));
		}
	}
	return state == 1 ? &ex : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char dir[MNT_PATH_MAX + 1];
	uint8_t fh[MNT_FH_MAX], out[2048];
	struct wcur w = wcur_init(out, sizeof(out));
	uint32_t stat;
	size_t fhlen;

	if (size < 1) {
		return 0;
	}
	switch (data[0] % 6) {
	case MNT_PROC_MNT:
	case MNT_PROC_UMNT:
		if (mnt_dirpath_parse(data + 1, size - 1, dir) == 0) {
			struct mnt_body b = {.host = "198.18.0.2", .dir = dir};
			struct nfs_exports *ex = fuzz_exports();
			const struct nfs_export_table *t;
			const struct nfs_export *e;
			const char *rest = NULL;

			(void)mnt_dump_build(&w, &b, 1);
			if (ex) {
				/* What is left of the path lies within it. */
				t = nfs_exports_get(ex);
				e = nfs_export_find_for_mount(t, dir, &rest);
				if (e &&
				    (rest < dir || rest > dir + strlen(dir))) {
					__builtin_trap();
				}
				nfs_exports_put(t);
			}
		}
		break;
	default:
		if (mnt_mnt_parse(data + 1, size - 1, &stat, fh, &fhlen) == 0) {
			uint32_t flavor = 1;

			(void)mnt_mnt_build(&w, stat, fh, fhlen, &flavor, 1);
		}
		break;
	}
	return 0;
}
