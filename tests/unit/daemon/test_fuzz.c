/* SPDX-License-Identifier: MIT */
/*
 * Replays the fuzz harness's core on random and mutated packets: no crash,
 * no broken invariant, no pin or WRITING block outliving its session.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_core.h"

static void setup(void)
{
	cr_assert_eq(fuzz_core_init(), 0);
}

TestSuite(fuzz_replay, .init = setup, .fini = fuzz_core_fini,
	  .timeout = 120);

static uint32_t rng = 0x12345678;

static uint32_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

/* Appends one framed packet. */
static size_t frame(uint8_t *in, size_t at, const uint8_t *p, size_t n)
{
	in[at] = (uint8_t)(n & 0xff);
	in[at + 1] = (uint8_t)(n >> 8);
	memcpy(in + at + 2, p, n);
	return at + 2 + n;
}

Test(fuzz_replay, valid_sequence_runs_clean)
{
	uint8_t in[8192], pkt[1024];
	size_t at = 1, n;
	unsigned int i;

	in[0] = 0;
	for (i = 3; i < FUZZ_CORE_NSAMPLES; i++) {
		n = fuzz_core_sample(i, pkt, sizeof(pkt));
		at = frame(in, at, pkt, n);
	}
	cr_assert_eq(fuzz_core_run(in, at), 0);
}

Test(fuzz_replay, random_bytes)
{
	uint8_t in[2048];
	unsigned int iter, i;

	for (iter = 0; iter < 3000; iter++) {
		size_t len = next() % sizeof(in);

		for (i = 0; i < len; i++)
			in[i] = (uint8_t)next();
		cr_assert_eq(fuzz_core_run(in, len), 0, "iteration %u", iter);
	}
}

Test(fuzz_replay, mutated_valid_packets)
{
	uint8_t in[8192], pkt[1024];
	unsigned int iter, k, j;

	for (iter = 0; iter < 3000; iter++) {
		size_t at = 1;

		in[0] = (uint8_t)next();
		for (k = 0; k < 6; k++) {
			size_t n = fuzz_core_sample(next() % FUZZ_CORE_NSAMPLES,
						    pkt, sizeof(pkt));

			/* Flip bytes, truncate or extend. */
			for (j = next() % 4; j > 0 && n; j--)
				pkt[next() % n] ^= (uint8_t)(1u << (next() % 8));
			if (next() % 4 == 0 && n)
				n = next() % n;
			if (next() % 8 == 0 && n + 8 < sizeof(pkt))
				for (j = 0; j < 8; j++)
					pkt[n++] = (uint8_t)next();
			at = frame(in, at, pkt, n);
		}
		cr_assert_eq(fuzz_core_run(in, at), 0, "iteration %u", iter);
	}
}
