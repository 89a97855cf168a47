/* SPDX-License-Identifier: MIT */
/*
 * Per-uid accounting: how many sessions each peer uid has open, so that
 * the per-uid session cap is checked in O(1) at accept, and the blocks
 * its sessions hold (the cache's share, for the per-uid quota; on the
 * heap, so sessions may point at it while the table moves entries). An
 * entry lives while its uid has a session. Open addressing with backward-shift
 * deletion, grown by doubling; no I/O, no logging.
 */
#ifndef AC_DAEMON_UIDTAB_H
#define AC_DAEMON_UIDTAB_H

#include <stdint.h>
#include <sys/types.h>

struct cache_share;

struct uid_acct {
	uid_t uid;
	uint32_t sessions;	/* 0: the slot is empty */
	struct cache_share *share;	/* blocks its sessions hold, per pool */
};

struct uidtab {
	struct uid_acct *slots;
	uint32_t mask;
	uint32_t used;
};

void uidtab_init(struct uidtab *t);
void uidtab_fini(struct uidtab *t);
/* The entry of @uid, NULL when it has no session. */
struct uid_acct *uidtab_get(const struct uidtab *t, uid_t uid);
/* One more session of @uid; -ENOMEM. */
int uidtab_add(struct uidtab *t, uid_t uid);
/* One session of @uid fewer; the entry goes with its last session. */
void uidtab_del(struct uidtab *t, uid_t uid);
/* The blocks @uid's sessions hold in pool @pool now (0 when none). */
uint64_t uidtab_held(const struct uidtab *t, uid_t uid, uint32_t pool);

#endif /* AC_DAEMON_UIDTAB_H */
