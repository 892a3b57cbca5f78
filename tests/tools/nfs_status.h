#ifndef PNB_TESTS_TOOLS_NFS_STATUS_H
#define PNB_TESTS_TOOLS_NFS_STATUS_H

#include <stddef.h>
#include <stdint.h>

/*
 * The names NFS boot traces give nfsstat3 values (RFC 1813 §2.6, without
 * the NFS3ERR_ prefix), shared by the tool that writes traces and the
 * replay that reads them.  Numbers, not enum names, so that it serves
 * code built on libnfs's headers as well as on ours.
 */
static inline const char *
nfs_status_name(uint32_t s)
{
	static const struct {
		uint32_t v;
		const char *n;
	} t[] = {
	    {0, "OK"},
	    {1, "PERM"},
	    {2, "NOENT"},
	    {5, "IO"},
	    {6, "NXIO"},
	    {13, "ACCES"},
	    {17, "EXIST"},
	    {18, "XDEV"},
	    {19, "NODEV"},
	    {20, "NOTDIR"},
	    {21, "ISDIR"},
	    {22, "INVAL"},
	    {27, "FBIG"},
	    {28, "NOSPC"},
	    {30, "ROFS"},
	    {31, "MLINK"},
	    {63, "NAMETOOLONG"},
	    {66, "NOTEMPTY"},
	    {69, "DQUOT"},
	    {70, "STALE"},
	    {71, "REMOTE"},
	    {10001, "BADHANDLE"},
	    {10002, "NOT_SYNC"},
	    {10003, "BAD_COOKIE"},
	    {10004, "NOTSUPP"},
	    {10005, "TOOSMALL"},
	    {10006, "SERVERFAULT"},
	    {10007, "BADTYPE"},
	    {10008, "JUKEBOX"},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (t[i].v == s) {
			return t[i].n;
		}
	}
	return NULL;
}

#endif
