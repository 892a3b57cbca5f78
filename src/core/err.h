#ifndef PNB_CORE_ERR_H
#define PNB_CORE_ERR_H

/*
 * Error codes.  Functions return >= 0 on success and a negative value on
 * failure: -errno for system and input errors (see style: -EBADMSG truncated
 * or malformed, -EMSGSIZE over a limit, -EPROTO against the protocol,
 * -EOPNOTSUPP valid but unsupported), or -PNB_E* for a named corruption of a
 * disk image.  Each disk code names exactly one kind of damage so that a user
 * is told what is wrong with the image, not just that something is.
 */
enum pnb_err {
	PNB_E_BASE = 4096,
	PNB_EMBR_SIG = PNB_E_BASE, /* no 55 aa boot signature */
	PNB_EGPT_HDR_CRC,          /* GPT header CRC mismatch */
	PNB_EGPT_ENTRIES_CRC,      /* GPT partition array CRC mismatch */
	PNB_EGPT_RANGE,            /* GPT entry or array outside the disk */
	PNB_EPART_OVERLAP,         /* two partitions share sectors */
	PNB_EPART_RANGE,           /* partition extends past the image end */
	PNB_EFAT_BPB,              /* FAT boot sector fields inconsistent */
	PNB_EFAT_LOOP,             /* FAT cluster chain loops */
	PNB_EFAT_RANGE,            /* FAT cluster number out of range */
	PNB_EXZ_DATA,              /* compressed stream corrupt */
	PNB_EEXT4,                 /* libext2fs reported an error */
	PNB_ENAME,                 /* file name with '/', NUL, "." or ".." */
	PNB_EDIR_LOOP,             /* a directory contains itself */
	PNB_EXZ_SIZE,              /* data expands beyond its claimed size */
	PNB_E_END
};

/*
 * pnb_strerror() - describe a negative error code.
 * @err: a value returned by any pnb function (negative), or 0.
 *
 * Return: a static string; never NULL.
 */
const char *pnb_strerror(int err);

#endif
