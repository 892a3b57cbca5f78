#include <string.h>

#include "core/err.h"

static const char *const pnb_err_text[PNB_E_END - PNB_E_BASE] = {
    [PNB_EMBR_SIG - PNB_E_BASE] = "no MBR boot signature (55 aa) at byte 510",
    [PNB_EGPT_HDR_CRC - PNB_E_BASE] = "GPT header checksum mismatch",
    [PNB_EGPT_ENTRIES_CRC - PNB_E_BASE] =
	"GPT partition entry array checksum mismatch",
    [PNB_EGPT_RANGE - PNB_E_BASE] = "GPT data lies outside the disk",
    [PNB_EPART_OVERLAP - PNB_E_BASE] = "partitions overlap",
    [PNB_EPART_RANGE - PNB_E_BASE] =
	"partition extends beyond the end of the image",
    [PNB_EFAT_BPB - PNB_E_BASE] = "FAT boot sector (BPB) is inconsistent",
    [PNB_EFAT_LOOP - PNB_E_BASE] = "FAT cluster chain loops",
    [PNB_EFAT_RANGE - PNB_E_BASE] = "FAT cluster number out of range",
    [PNB_EXZ_DATA - PNB_E_BASE] = "compressed data is corrupt",
    [PNB_EEXT4 - PNB_E_BASE] = "ext4 file system error",
    [PNB_ENAME - PNB_E_BASE] =
	"file name contains '/' or NUL, or is '.' or '..' in the wrong place",
    [PNB_EDIR_LOOP - PNB_E_BASE] = "a directory contains itself",
    [PNB_EXZ_SIZE - PNB_E_BASE] =
	"decompressed data is larger than the size the file claims",
};

const char *
pnb_strerror(int err)
{
	int code = err < 0 ? -err : err;

	if (code == 0) {
		return "success";
	}
	if (code >= PNB_E_BASE && code < PNB_E_END) {
		return pnb_err_text[code - PNB_E_BASE];
	}
	return strerror(code);
}
