#ifndef PNB_CORE_IO_H
#define PNB_CORE_IO_H

#include <stddef.h>
#include <stdint.h>

/*
 * io_pwrite_all() - write all @n bytes at @p (borrowed) to @fd at @off,
 * through short writes and EINTR.
 * Return: 0 or -errno.
 */
int io_pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off);

/*
 * io_private_dir() - make @path (borrowed) a directory that only its
 * owner can enter: missing parents are made 0755, @path itself 0700, and
 * an existing @path that grants its group or others anything is changed
 * to 0700.  The state directory holds client roots with setuid programs,
 * device nodes and users' homes under the Pis' uids; this is what keeps
 * local users of the server out of them.
 * @was: set to the permission bits found when @path was tightened, else
 * to 0 (already private, or just made).
 * Return: 0, -ENOTDIR when @path is not a directory, or -errno.
 */
int io_private_dir(const char *path, unsigned *was);

/*
 * io_nofile_reserve() - raise the soft limit on open files by @more, up
 * to the hard limit: each service asks for what it may hold open (TFTP's
 * transfers, NFS exports and connections), so their needs add up.  The
 * default soft limit of 1024 exists for select(), which pinetboot does
 * not use.
 */
void io_nofile_reserve(size_t more);

#endif
