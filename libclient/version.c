/* SPDX-License-Identifier: MIT */
#include <asymcache/asymcache.h>

#include "ac_config.h"

const char *ac_version(void)
{
	return AC_VERSION;
}
