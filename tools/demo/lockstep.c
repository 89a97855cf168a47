/* SPDX-License-Identifier: MIT */
/*
 * --lockstep: the clients take the requests strictly in trace order by
 * waiting on a futex word in the shared mapping that holds the index of
 * the request whose turn it is.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "demo.h"

static long futex(_Atomic uint32_t *addr, int op, uint32_t val,
		  const struct timespec *ts)
{
	/* Not FUTEX_PRIVATE: the word is in a MAP_SHARED mapping. */
	return syscall(SYS_futex, (uint32_t *)addr, op, val, ts, NULL, 0);
}

void demo_turn_set(struct demo_shared *sh, uint32_t next)
{
	atomic_store(&sh->turn, next);
	futex(&sh->turn, FUTEX_WAKE, INT_MAX, NULL);
}

void demo_turn_abort(struct demo_shared *sh)
{
	atomic_store(&sh->abort, 1);
	futex(&sh->turn, FUTEX_WAKE, INT_MAX, NULL);
}

/* Wait until request @i is next; -ECANCELED once anyone has failed. */
int demo_turn_wait(struct demo_shared *sh, uint32_t i)
{
	/* The timeout only bounds how late an abort is noticed. */
	const struct timespec ts = { 0, 100 * 1000 * 1000 };
	uint32_t t;

	while ((t = atomic_load(&sh->turn)) != i) {
		if (atomic_load(&sh->abort))
			return -ECANCELED;
		futex(&sh->turn, FUTEX_WAIT, t, &ts);
	}
	return 0;
}
