/* SPDX-License-Identifier: MIT */
/*
 * How the engine's libraries report a failure: a negative errno returned,
 * and a message naming the file or field in the caller's buffer.  The
 * model loaders and the tokenizer (which links this library) share it.
 */
#ifndef AC_MODEL_ERRMSG_H
#define AC_MODEL_ERRMSG_H

#include <stddef.h>

#define AC_PRINTF(a, b) __attribute__((format(printf, a, b)))

/*
 * Writes the message into @err (when non-NULL) and returns @rc, so that
 * every failure is one `return ac_model_err(...)`.
 */
int ac_model_err(char *err, size_t errlen, int rc, const char *fmt, ...)
	AC_PRINTF(4, 5);

#endif
