/* SPDX-License-Identifier: MIT */
/*
 * Error texts in AsymCache's terms. The codes are plain errno values (the
 * daemon sends positive errno in Error.code), so the fallback is libc's
 * description; the cases below say what the code means here.
 */
#include <errno.h>
#include <string.h>

#include "asymcache/asymcache.h"

const char *ac_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "success";
	case EINVAL:
		return "invalid argument or request field out of range";
	case ENOSPC:
		return "pool exhausted: every block is pinned or being written";
	case EPROTO:
		return "protocol violation (unexpected or malformed message)";
	case EPROTONOSUPPORT:
		return "daemon speaks another protocol or block layout version";
	case ENOTCONN:
		return "no session with the daemon now; its pins and WRITING blocks are gone";
	case ECONNRESET:
		return "daemon closed the session; its pins and WRITING blocks are gone";
	case ETIMEDOUT:
		return "daemon did not answer in time; the session and its pins are gone";
	case EUSERS:
		return "daemon at its session limit (max_sessions or max_sessions_per_uid)";
	case ECONNREFUSED:
		return "no daemon listening on the socket";
	case EACCES:
	case EPERM:
		return "not allowed: caller is outside the pool's group";
	case ENOENT:
		return "no such pool, namespace or socket";
	case E2BIG:
		return "too many items, or a block of this layout exceeds the pool's block size";
	case EMSGSIZE:
		return "message too large for the protocol limits";
	case ERANGE:
		return "value out of range (block id, count or position)";
	case EBUSY:
		return "block is busy (pinned or owned by another session)";
	case EDQUOT:
		return "quota reached (blocks held, pins or WRITING blocks of this session or user)";
	case ENOBUFS:
		return "output buffer too small";
	case EOPNOTSUPP:	/* == ENOTSUP on Linux */
		return "not supported: unknown request, or a pool backend this build lacks";
	case ENAMETOOLONG:
		return "socket path too long";
	case ENOMEM:
		return "out of memory";
	}
	return strerrordesc_np(err) ? strerrordesc_np(err) : "unknown error";
}
