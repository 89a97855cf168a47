/* SPDX-License-Identifier: MIT */
/* Built-in policies, for the registry. Not installed. */
#ifndef AC_POLICY_INTERNAL_H
#define AC_POLICY_INTERNAL_H

#include "policy.h"

extern const struct ac_policy_ops ac_policy_lru;
extern const struct ac_policy_ops ac_policy_pensieve;
extern const struct ac_policy_ops ac_policy_asym;

#endif
