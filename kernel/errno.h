/*
 * kernel/errno.h - error numbers. Functions that can fail return the negative value
 * (-ENOSPC, -EIO), as in Linux; the numbers match Linux so messages read the same.
 */
#ifndef KERNEL_ERRNO_H
#define KERNEL_ERRNO_H

#define EPERM 1
#define ENOENT 2
#define EIO 5
#define E2BIG 7
#define EAGAIN 11
#define ENOMEM 12
#define EFAULT 14
#define EBUSY 16
#define EEXIST 17
#define ENODEV 19
#define EINVAL 22
#define ENOSPC 28
#define ERANGE 34
#define ENOSYS 38
#define ENOMSG 42
#define ENODATA 61
#define EPROTO 71
#define EDESTADDRREQ 89
#define EMSGSIZE 90
#define EOPNOTSUPP 95
#define EADDRINUSE 98
#define EADDRNOTAVAIL 99
#define ENETDOWN 100
#define ENETUNREACH 101
#define ENOBUFS 105
#define EISCONN 106
#define ENOTCONN 107
#define ETIMEDOUT 110
#define ECONNREFUSED 111
#define EHOSTUNREACH 113

#ifndef HOST_TEST
const char *strerror(int err); /* takes a positive or negative errno */
#else
#include <string.h> /* host builds use the C library's strerror */
#endif

#endif
