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

#endif
