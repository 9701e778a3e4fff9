/*
 * kernel/errno.c - names for error numbers, for messages.
 */
#include "kernel/errno.h"

const char *strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0: return "success";
	case EPERM: return "operation not permitted";
	case ENOENT: return "no such entry";
	case EIO: return "I/O error";
	case E2BIG: return "argument list too long";
	case EAGAIN: return "try again";
	case ENOMEM: return "out of memory";
	case EFAULT: return "bad address";
	case EBUSY: return "busy";
	case EEXIST: return "already exists";
	case ENODEV: return "no such device";
	case EINVAL: return "invalid argument";
	case ENOSPC: return "no space left";
	case ERANGE: return "out of range";
	case ENOSYS: return "not implemented";
	case ENOMSG: return "no message of the desired type";
	case ENODATA: return "no data available";
	case EPROTO: return "protocol error";
	case EDESTADDRREQ: return "destination address required";
	case EMSGSIZE: return "message too long";
	case EOPNOTSUPP: return "not supported";
	case EADDRINUSE: return "address in use";
	case EADDRNOTAVAIL: return "address not available";
	case ENETDOWN: return "network is down";
	case ENETUNREACH: return "network unreachable";
	case ENOBUFS: return "no buffer space";
	case EISCONN: return "already connected";
	case ENOTCONN: return "not connected";
	case ETIMEDOUT: return "timed out";
	case ECONNREFUSED: return "connection refused";
	case EHOSTUNREACH: return "host unreachable";
	default: return "unknown error";
	}
}
