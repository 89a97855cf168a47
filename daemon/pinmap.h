/* SPDX-License-Identifier: MIT */
/*
 * Per-session pin counts: block id -> how many pins this session holds on
 * it. A small open-addressing table that grows by doubling, so a session
 * that pins a few blocks costs a few hundred bytes and one that pins a
 * million still gets O(1) pin and unpin.
 */
#ifndef AC_DAEMON_PINMAP_H
#define AC_DAEMON_PINMAP_H

#include <stdint.h>

struct pinmap_slot {
	uint32_t block;		/* UINT32_MAX: empty */
	uint32_t count;
};

struct pinmap {
	struct pinmap_slot *slots;
	uint32_t mask;
	uint32_t used;		/* distinct blocks */
};

/*
 * The most pins one session may hold on one block: counts come back from
 * pinmap_inc() as an int. [limits] max_pins_per_session stays below it.
 */
#define PINMAP_COUNT_MAX INT32_MAX

void pinmap_init(struct pinmap *m);
void pinmap_fini(struct pinmap *m);
/* Count for @block, 0 when absent. */
uint32_t pinmap_get(const struct pinmap *m, uint32_t block);
/* Makes room so @extra new blocks can be added without failing. */
int pinmap_reserve(struct pinmap *m, uint32_t extra);
/* +1 pin; returns the new count or -ENOMEM. */
int pinmap_inc(struct pinmap *m, uint32_t block);
/* -1 pin; returns the new count or -ENOENT when none was held. */
int pinmap_dec(struct pinmap *m, uint32_t block);

/* Iteration: for (i = 0; i <= m->mask && m->slots; i++) if block != MAX. */
#define pinmap_foreach(m, s) \
	for ((s) = (m)->slots; (m)->slots && (s) <= &(m)->slots[(m)->mask]; \
	     (s)++) \
		if ((s)->block != UINT32_MAX)

#endif /* AC_DAEMON_PINMAP_H */
