/* SPDX-License-Identifier: MIT */
/*
 * The block protocol end to end: the real asymcached, real client
 * processes, real shared memory. Each test runs its own daemon on a
 * socket in its own temp dir.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define BLOCK_BYTES	8192u
#define NBLOCKS		16u
#define POOL_BYTES	((uint64_t)NBLOCKS * BLOCK_BYTES)

static struct th_daemon D;

static void stats_of(struct tclient *t, struct ac_stats *st)
{
	int r = ac_stats(t->c, st);

	cr_assert_eq(r, 0, "stats: %s", ac_strerror(r));
}

static int lookup(struct tclient *t, const struct ac_key *keys, size_t n,
		  uint32_t *blocks, struct ac_segment *segs,
		  struct ac_lookup_result *res)
{
	memset(res, 0, sizeof(*res));
	res->blocks = blocks;
	res->segments = segs;
	res->max_segments = n;
	return ac_lookup(t->c, t->ns, keys, n, res);
}

TestSuite(core, .timeout = 60);

/* ---- two processes share a prefix ------------------------------------ */

/* Both children open client @name and look up @n blocks of chain 1. */
static int child_lookup(int slot, struct tclient *t, const char *name,
			size_t n, struct ac_key *keys, uint32_t *blocks,
			struct ac_segment *segs, struct ac_lookup_result *res)
{
	int r = tclient_open(t, &D, name);

	CHILD_CHECK(slot, r == 0, r);
	CHILD_CHECK(slot, tkeys(1, n, keys) == 0, 0);
	r = lookup(t, keys, n, blocks, segs, res);
	CHILD_CHECK(slot, r == 0, r);
	return 0;
}

static int child_writer(void *arg, int slot)
{
	struct tclient t;
	struct ac_key keys[4];
	struct ac_segment segs[4];
	struct ac_lookup_result res;
	struct ac_stats st;
	uint32_t blocks[4], out[4], dd = 99, rel = 0;
	int r;

	if (child_lookup(slot, &t, "writer", 4, keys, blocks, segs, &res))
		return 1;
	CHILD_CHECK(slot, res.hits == 0 && res.nsegments == 1 && !segs[0].hit, 0);
	r = tpublish(&t, keys, 0, 4, out, &dd);
	CHILD_CHECK(slot, r == 0, r);
	CHILD_CHECK(slot, dd == 0, (int)dd);
	r = ac_release(t.c, out, 4, &rel);
	CHILD_CHECK(slot, r == 0 && rel == 4, r);
	r = ac_stats(t.c, &st);
	CHILD_CHECK(slot, r == 0 && st.session_pins == 0 &&
		    st.session_writing == 0, r);
	tclient_close(&t);
	return 0;
}

static int child_reader(void *arg, int slot)
{
	struct tclient t;
	struct ac_key keys[6];
	struct ac_segment segs[6];
	struct ac_lookup_result res;
	struct ac_stats st;
	struct ac_key_seed salted;
	int32_t tok[6 * 16];
	size_t nk = 6;
	uint32_t blocks[6], rel = 0;
	int r;

	if (child_lookup(slot, &t, "reader", 6, keys, blocks, segs, &res))
		return 1;
	CHILD_CHECK(slot, res.hits == 4, (int)res.hits);
	CHILD_CHECK(slot, res.nsegments == 2, (int)res.nsegments);
	CHILD_CHECK(slot, segs[0].hit && segs[0].start == 0 && segs[0].len == 4, 0);
	CHILD_CHECK(slot, !segs[1].hit && segs[1].start == 4 && segs[1].len == 2, 0);
	CHILD_CHECK(slot, blocks[4] == AC_NO_BLOCK && blocks[5] == AC_NO_BLOCK, 0);
	for (int i = 0; i < 4; i++) {
		CHILD_CHECK(slot, blocks[i] < NBLOCKS, (int)blocks[i]);
		/* The writer's bytes, read through this process's mapping. */
		CHILD_CHECK(slot, tblock_check(&t, blocks[i], &keys[i]), i);
	}
	r = ac_stats(t.c, &st);
	CHILD_CHECK(slot, r == 0 && st.session_pins == 4, (int)st.session_pins);
	r = ac_release(t.c, blocks, 4, &rel);
	CHILD_CHECK(slot, r == 0 && rel == 4, r);

	/* Another tenant's salt sees none of it. */
	ttokens(tok, 6 * 16, 1);
	r = ac_key_seed_init(&salted, &tlayout, "tenant-b", 8, AC_HASH_SHA256);
	CHILD_CHECK(slot, r == 0, r);
	r = ac_keys_compute(&salted, tok, 6 * 16, 16, keys, &nk);
	CHILD_CHECK(slot, r == 0 && nk == 6, r);
	r = lookup(&t, keys, 6, blocks, segs, &res);
	CHILD_CHECK(slot, r == 0 && res.hits == 0, r);
	tclient_close(&t);
	return 0;
}

Test(core, second_process_hits_and_reads_the_first_ones_bytes)
{
	struct tclient obs;
	struct ac_stats st;
	pid_t p;

	child_reports_init(2);
	tdaemon_start(&D, POOL_BYTES, BLOCK_BYTES, NULL);
	p = child_spawn(child_writer, NULL, 0);
	child_wait_ok(p, 0);
	p = child_spawn(child_reader, NULL, 1);
	child_wait_ok(p, 1);

	cr_assert_eq(tclient_open(&obs, &D, "observer"), 0);
	stats_of(&obs, &st);
	cr_expect_eq(st.nblocks, NBLOCKS);
	cr_expect_eq(st.cached_blocks, 4);
	cr_expect_eq(st.pinned_blocks, 0);
	cr_expect_eq(st.writing_blocks, 0);
	cr_expect_eq(st.free_blocks, NBLOCKS - 4);
	cr_expect_geq(st.lookup_hits, 4);
	tclient_close(&obs);
	tdaemon_stop(&D);
}

/* ---- holes in the middle; pins hold under pressure ------------------- */

Test(core, eviction_leaves_holes_in_the_middle_and_spares_pins)
{
	struct tclient w, pin, x, y;
	struct ac_key keys[8], sub[6];
	struct ac_segment segs[8];
	struct ac_lookup_result res;
	struct ac_stats st0, st;
	uint32_t blocks[8], out[8], wb[NBLOCKS], pinned[6], extra;
	int r;

	tdaemon_start_config(&D, POOL_BYTES, BLOCK_BYTES, TCONF_WHOLE_POOL, NULL);
	cr_assert_eq(tkeys(2, 8, keys), 0);
	cr_assert_eq(tclient_open(&w, &D, "w"), 0);
	cr_assert_eq(tclient_open(&pin, &D, "pin"), 0);
	cr_assert_eq(tclient_open(&x, &D, "x"), 0);
	cr_assert_eq(tclient_open(&y, &D, "y"), 0);

	r = tpublish(&w, keys, 0, 8, out, NULL);
	cr_assert_eq(r, 0, "publish: %s", ac_strerror(r));
	cr_assert_eq(ac_release(w.c, out, 8, NULL), 0);

	/* Pin every block but positions 3 and 4. */
	memcpy(&sub[0], &keys[0], 3 * sizeof(keys[0]));
	memcpy(&sub[3], &keys[5], 3 * sizeof(keys[0]));
	cr_assert_eq(lookup(&pin, sub, 6, pinned, segs, &res), 0);
	cr_assert_eq(res.hits, 6);

	/* 8 FREE + 2 evictable: 10 blocks must come, the 11th cannot. */
	stats_of(&x, &st0);
	r = ac_alloc(x.c, x.ns, 10, wb);
	cr_assert_eq(r, 0, "alloc 10: %s", ac_strerror(r));
	r = ac_alloc(x.c, x.ns, 1, &extra);
	cr_expect_eq(r, -ENOSPC, "alloc with only pinned/WRITING left: %d", r);
	stats_of(&x, &st);
	cr_expect_eq(st.evictions - st0.evictions, 2);
	cr_expect_eq(st.pinned_blocks, 6);
	cr_expect_eq(st.writing_blocks, 10);
	cr_expect_eq(st.session_writing, 10);
	for (int i = 0; i < 6; i++) {
		cr_expect_neq(pinned[i], out[3]);
		cr_expect(tblock_check(&pin, pinned[i], &sub[i]),
			  "pinned block %u was overwritten", pinned[i]);
	}
	/* Releasing WRITING blocks aborts them. */
	cr_assert_eq(ac_release(x.c, wb, 10, NULL), 0);
	stats_of(&x, &st);
	cr_expect_eq(st.writing_blocks, 0);
	cr_expect_eq(st.free_blocks, NBLOCKS - 6);

	cr_assert_eq(lookup(&y, keys, 8, blocks, segs, &res), 0);
	cr_expect_eq(res.hits, 6);
	cr_assert_eq(res.nsegments, 3, "not a truncated prefix: %zu runs",
		     res.nsegments);
	cr_expect(segs[0].hit && segs[0].start == 0 && segs[0].len == 3);
	cr_expect(!segs[1].hit && segs[1].start == 3 && segs[1].len == 2);
	cr_expect(segs[2].hit && segs[2].start == 5 && segs[2].len == 3);
	cr_expect_eq(blocks[3], AC_NO_BLOCK);
	cr_expect_eq(blocks[4], AC_NO_BLOCK);
	for (int i = 5; i < 8; i++)
		cr_expect(tblock_check(&y, blocks[i], &keys[i]));

	/* Recompute just the holes, then the chain is whole again. */
	r = tpublish(&y, keys, 3, 2, out, NULL);
	cr_assert_eq(r, 0, "refill: %s", ac_strerror(r));
	cr_assert_eq(ac_release(y.c, out, 2, NULL), 0);
	/* blocks[3..4] are AC_NO_BLOCK: refused whole, no pin dropped. */
	r = ac_release(y.c, blocks, 6, NULL);
	cr_expect_lt(r, 0, "release of AC_NO_BLOCK accepted");
	stats_of(&y, &st);
	cr_expect_eq(st.session_pins, 6);
	{
		uint32_t hb[6] = { blocks[0], blocks[1], blocks[2],
				   blocks[5], blocks[6], blocks[7] };

		cr_assert_eq(ac_release(y.c, hb, 6, NULL), 0);
	}
	cr_assert_eq(lookup(&y, keys, 8, blocks, segs, &res), 0);
	cr_expect_eq(res.hits, 8);
	cr_expect_eq(res.nsegments, 1);
	cr_assert_eq(ac_release(y.c, blocks, 8, NULL), 0);

	tclient_close(&pin);
	stats_of(&y, &st);
	cr_expect_eq(st.pinned_blocks, 0);
	cr_expect_eq(st.cached_blocks, 8);
	tclient_close(&w);
	tclient_close(&x);
	tclient_close(&y);
	tdaemon_stop(&D);
}

/* ---- two processes commit the same keys at once ---------------------- */

#define RACE_ROUNDS	24
#define RACE_BLOCKS	4

struct race {
	pthread_barrier_t bar;
	uint32_t got[2][RACE_ROUNDS][RACE_BLOCKS];
	uint32_t deduped[2][RACE_ROUNDS];
};

static struct race *R;

static int child_racer(void *arg, int slot)
{
	struct tclient t;
	int r;

	r = tclient_open(&t, &D, slot ? "racer-b" : "racer-a");
	CHILD_CHECK(slot, r == 0, r);
	for (int round = 0; round < RACE_ROUNDS; round++) {
		struct ac_key keys[RACE_BLOCKS];
		struct ac_commit_entry e[RACE_BLOCKS];
		uint32_t blocks[RACE_BLOCKS];

		CHILD_CHECK(slot, tkeys(100 + round, RACE_BLOCKS, keys) == 0, 0);
		r = ac_alloc(t.c, t.ns, RACE_BLOCKS, blocks);
		CHILD_CHECK(slot, r == 0, r);
		for (int i = 0; i < RACE_BLOCKS; i++) {
			/* Odd rounds: racer b commits in reverse order. */
			int pos = (slot && (round & 1)) ? RACE_BLOCKS - 1 - i : i;

			tentry_fill(&t, &e[i], blocks[i], keys, (uint32_t)pos);
		}
		pthread_barrier_wait(&R->bar);
		r = ac_commit(t.c, t.ns, e, RACE_BLOCKS, blocks,
			      &R->deduped[slot][round]);
		CHILD_CHECK(slot, r == 0, r);
		for (int i = 0; i < RACE_BLOCKS; i++) {
			int pos = e[i].position;

			R->got[slot][round][pos] = blocks[i];
			CHILD_CHECK(slot, tblock_check(&t, blocks[i], &keys[pos]), pos);
		}
		r = ac_release(t.c, blocks, RACE_BLOCKS, NULL);
		CHILD_CHECK(slot, r == 0, r);
	}
	tclient_close(&t);
	return 0;
}

Test(core, concurrent_commits_of_one_key_publish_one_block)
{
	const uint32_t nblocks = 256;
	struct tclient obs;
	struct ac_stats st0, st;
	pthread_barrierattr_t ba;
	uint64_t dd = 0;
	pid_t a, b;

	child_reports_init(2);
	R = mmap(NULL, sizeof(*R), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(R, MAP_FAILED);
	pthread_barrierattr_init(&ba);
	pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
	pthread_barrier_init(&R->bar, &ba, 2);

	tdaemon_start(&D, (uint64_t)nblocks * BLOCK_BYTES, BLOCK_BYTES, NULL);
	cr_assert_eq(tclient_open(&obs, &D, "observer"), 0);
	stats_of(&obs, &st0);
	a = child_spawn(child_racer, NULL, 0);
	b = child_spawn(child_racer, NULL, 1);
	child_wait_ok(a, 0);
	child_wait_ok(b, 1);

	for (int round = 0; round < RACE_ROUNDS; round++) {
		cr_expect_eq(R->deduped[0][round] + R->deduped[1][round],
			     RACE_BLOCKS, "round %d: every key deduped once",
			     round);
		dd += R->deduped[0][round] + R->deduped[1][round];
		for (int i = 0; i < RACE_BLOCKS; i++)
			cr_expect_eq(R->got[0][round][i], R->got[1][round][i],
				     "round %d pos %d: both got one block",
				     round, i);
	}
	stats_of(&obs, &st);
	cr_expect_eq(st.dedups - st0.dedups, dd);
	cr_expect_eq(st.cached_blocks, RACE_ROUNDS * RACE_BLOCKS);
	cr_expect_eq(st.writing_blocks, 0);
	cr_expect_eq(st.pinned_blocks, 0);
	cr_expect_eq(st.free_blocks + st.cached_blocks, nblocks,
		     "no block leaked");
	tclient_close(&obs);
	tdaemon_stop(&D);
	pthread_barrier_destroy(&R->bar);
	munmap(R, sizeof(*R));
}

/* ---- a client killed mid-write --------------------------------------- */

static int ready_pipe[2];

static int child_victim(void *arg, int slot)
{
	struct tclient t;
	struct ac_key keys[4], other[3];
	struct ac_segment segs[4];
	struct ac_lookup_result res;
	uint32_t out[4], blocks[4], wb[3];
	int r;

	r = tclient_open(&t, &D, "victim");
	CHILD_CHECK(slot, r == 0, r);
	CHILD_CHECK(slot, tkeys(3, 4, keys) == 0, 0);
	CHILD_CHECK(slot, tkeys(4, 3, other) == 0, 0);
	r = tpublish(&t, keys, 0, 4, out, NULL);		/* 4 pins held */
	CHILD_CHECK(slot, r == 0, r);
	r = lookup(&t, keys, 4, blocks, segs, &res);	/* 4 more pins */
	CHILD_CHECK(slot, r == 0 && res.hits == 4, r);
	r = ac_alloc(t.c, t.ns, 3, wb);
	CHILD_CHECK(slot, r == 0, r);
	for (int i = 0; i < 3; i++)
		tblock_fill(&t, wb[i], &other[i]);	/* half-written KV */
	if (write(ready_pipe[1], "r", 1) != 1)
		return 1;
	for (;;)
		pause();
}

Test(core, sigkill_leaves_no_pin_and_publishes_nothing_half_written)
{
	struct tclient obs;
	struct ac_key keys[4], other[3];
	struct ac_segment segs[4];
	struct ac_lookup_result res;
	struct ac_stats st;
	uint32_t blocks[4], all[NBLOCKS];
	struct timespec t0, t1;
	char c;
	int r, status;
	pid_t v;

	child_reports_init(1);
	tdaemon_start_config(&D, POOL_BYTES, BLOCK_BYTES, TCONF_WHOLE_POOL, NULL);
	cr_assert_eq(pipe(ready_pipe), 0);
	cr_assert_eq(tclient_open(&obs, &D, "observer"), 0);
	v = child_spawn(child_victim, NULL, 0);
	if (read(ready_pipe[0], &c, 1) != 1) {
		waitpid(v, &status, 0);
		child_wait_ok(v, 0);
		cr_assert_fail("victim died early");
	}
	stats_of(&obs, &st);
	cr_expect_eq(st.pinned_blocks, 4);
	cr_expect_eq(st.writing_blocks, 3);
	cr_expect_eq(st.sessions, 2);

	kill(v, SIGKILL);
	waitpid(v, &status, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		stats_of(&obs, &st);
		if (st.sessions == 1)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		cr_assert_lt(t1.tv_sec - t0.tv_sec, 5,
			     "dead session not reaped after 5 s");
		usleep(2000);
	}
	cr_expect_eq(st.pinned_blocks, 0);
	cr_expect_eq(st.writing_blocks, 0);
	cr_expect_eq(st.cached_blocks, 4);
	cr_expect_eq(st.free_blocks, NBLOCKS - 4);

	cr_assert_eq(tkeys(3, 4, keys), 0);
	cr_assert_eq(tkeys(4, 3, other), 0);
	cr_assert_eq(lookup(&obs, other, 3, blocks, segs, &res), 0);
	cr_expect_eq(res.hits, 0, "a WRITING block got published");
	cr_assert_eq(lookup(&obs, keys, 4, blocks, segs, &res), 0);
	cr_expect_eq(res.hits, 4);
	for (int i = 0; i < 4; i++)
		cr_expect(tblock_check(&obs, blocks[i], &keys[i]));
	cr_assert_eq(ac_release(obs.c, blocks, 4, NULL), 0);
	/* Everything is usable again: the whole pool can be allocated. */
	r = ac_alloc(obs.c, obs.ns, NBLOCKS, all);
	cr_expect_eq(r, 0, "alloc whole pool: %s", ac_strerror(r));
	tclient_close(&obs);
	close(ready_pipe[0]);
	close(ready_pipe[1]);
	tdaemon_stop(&D);
}

/* ---- ownership: WRITING blocks belong to their session --------------- */

Test(core, writing_blocks_belong_to_their_session)
{
	struct tclient a, b;
	struct ac_key keys[1];
	struct ac_commit_entry e;
	struct ac_stats st;
	uint32_t wb[2], out;
	int r;

	tdaemon_start(&D, POOL_BYTES, BLOCK_BYTES, NULL);
	cr_assert_eq(tclient_open(&a, &D, "a"), 0);
	cr_assert_eq(tclient_open(&b, &D, "b"), 0);
	cr_assert_eq(tkeys(9, 1, keys), 0);
	cr_assert_eq(ac_alloc(a.c, a.ns, 2, wb), 0);
	memset(&e, 0, sizeof(e));
	e.key = keys[0];
	e.block = wb[0];
	r = ac_commit(b.c, b.ns, &e, 1, &out, NULL);
	cr_expect_lt(r, 0, "b published a's WRITING block");
	cr_expect_str_neq(ac_client_last_error(b.c), "",
			  "daemon errors carry a message");
	r = ac_release(b.c, wb, 1, NULL);
	cr_expect_lt(r, 0, "b aborted a's WRITING block");
	stats_of(&a, &st);
	cr_expect_eq(st.session_writing, 2);
	cr_expect_eq(st.writing_blocks, 2);
	cr_assert_eq(ac_lookup(b.c, b.ns, keys, 1, &(struct ac_lookup_result){
		.blocks = &out, .segments = &(struct ac_segment){ 0 },
		.max_segments = 1 }), 0);
	cr_expect_eq(out, AC_NO_BLOCK);
	cr_assert_eq(ac_release(a.c, wb, 2, NULL), 0);
	stats_of(&a, &st);
	cr_expect_eq(st.writing_blocks, 0);
	cr_expect_eq(st.free_blocks, NBLOCKS);
	tclient_close(&a);
	tclient_close(&b);
	tdaemon_stop(&D);
}

/* ---- the daemon's limits surface through the library ----------------- */

Test(core, limits_are_errors_and_the_session_carries_on)
{
	struct tclient t;
	struct ac_key *keys;
	uint32_t *blocks;
	struct ac_segment *segs;
	struct ac_lookup_result res;
	struct ac_stats st;
	const size_t huge = 70000;	/* 1.1 MB of keys > max_packet */
	int r;

	tdaemon_start(&D, POOL_BYTES, BLOCK_BYTES, NULL);
	cr_assert_eq(tclient_open(&t, &D, "limits"), 0);
	keys = calloc(huge, sizeof(*keys));
	blocks = calloc(huge, sizeof(*blocks));
	segs = calloc(huge, sizeof(*segs));
	cr_assert(keys && blocks && segs);
	for (size_t i = 0; i < huge; i++)
		memcpy(keys[i].b, &i, sizeof(i));

	r = lookup(&t, keys, 8193, blocks, segs, &res);
	cr_expect_eq(r, -E2BIG, "8193 keys: %s", ac_strerror(r));
	cr_expect_str_neq(ac_client_last_error(t.c), "");
	r = lookup(&t, keys, huge, blocks, segs, &res);
	cr_expect_eq(r, -EMSGSIZE, "%zu keys: %s", huge, ac_strerror(r));
	r = ac_alloc(t.c, t.ns, NBLOCKS + 1, blocks);
	cr_expect_eq(r, -ENOSPC, "alloc nblocks+1: %s", ac_strerror(r));
	r = ac_release(t.c, (uint32_t[]){ NBLOCKS + 3 }, 1, NULL);
	cr_expect_lt(r, 0);
	r = lookup(&t, keys, 8192, blocks, segs, &res);
	cr_expect_eq(r, 0, "8192 keys: %s", ac_strerror(r));
	cr_expect_eq(res.hits, 0);
	stats_of(&t, &st);
	cr_expect_eq(st.session_pins, 0);
	cr_expect_eq(st.sessions, 1);
	free(keys);
	free(blocks);
	free(segs);
	tclient_close(&t);
	tdaemon_stop(&D);
}

/* ---- the demo workload runs clean (synthetic fallback) --------------- */

Test(core, demo_workload_loses_nothing)
{
	const char *root = getenv("AC_BUILD_ROOT");
	char bin[512], cmd[1400], line[512];
	bool synthetic = false, table = false;
	FILE *p;
	int st;

	cr_assert_not_null(root);
	snprintf(bin, sizeof(bin), "%s/tools/demo/asymcache-demo", root);
	if (access(bin, X_OK) != 0)
		cr_skip_test("asymcache-demo not built");
	/* 4 MiB of 8 KiB blocks: 512 blocks, so eviction runs. */
	tdaemon_start(&D, 4u << 20, BLOCK_BYTES, NULL);
	snprintf(cmd, sizeof(cmd),
		 "%s --socket %s --trace %s/no-such-trace.jsonl --clients 3"
		 " --requests 120 --max-tokens 4096 2>&1", bin, D.sock, D.dir);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while (fgets(line, sizeof(line), p)) {
		if (strstr(line, "synthetic workload"))
			synthetic = true;
		if (strstr(line, "| total"))
			table = true;
		fputs(line, stderr);
	}
	st = pclose(p);
	cr_expect(synthetic, "no fallback message for a missing trace");
	cr_expect(table, "no final table");
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "demo failed (status 0x%x): errors or corrupt hits", st);
	tdaemon_stop(&D);
}

/* ---- one client shared by threads (the internal mutex) --------------- */

struct thr_arg {
	struct tclient *t;
	int idx;
	int failures;
};

static void *thr_main(void *p)
{
	struct thr_arg *a = p;
	struct ac_key keys[4];
	uint32_t blocks[4], out[4];
	struct ac_segment segs[4];
	struct ac_lookup_result res;

	for (int i = 0; i < 200; i++) {
		/* Each thread its own chain: a mixed-up reply shows as a miss. */
		if (tkeys(1000 + a->idx, 4, keys) < 0)
			a->failures++;
		if (i == 0 && tpublish(a->t, keys, 0, 4, out, NULL) < 0)
			a->failures++;
		if (i == 0 && ac_release(a->t->c, out, 4, NULL) < 0)
			a->failures++;
		if (lookup(a->t, keys, 4, blocks, segs, &res) < 0 ||
		    res.hits != 4)
			a->failures++;
		for (int k = 0; k < 4; k++)
			if (res.hits == 4 && !tblock_check(a->t, blocks[k], &keys[k]))
				a->failures++;
		if (ac_release(a->t->c, blocks, 4, NULL) < 0)
			a->failures++;
	}
	return NULL;
}

Test(core, threads_can_share_one_client)
{
	struct tclient t;
	struct thr_arg args[4];
	pthread_t th[4];
	struct ac_stats st;

	tdaemon_start_config(&D, POOL_BYTES, BLOCK_BYTES, TCONF_WHOLE_POOL, NULL);
	cr_assert_eq(tclient_open(&t, &D, "threads"), 0);
	for (int i = 0; i < 4; i++) {
		args[i] = (struct thr_arg){ .t = &t, .idx = i };
		cr_assert_eq(pthread_create(&th[i], NULL, thr_main, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_expect_eq(args[i].failures, 0, "thread %d: %d failures", i,
			     args[i].failures);
	}
	stats_of(&t, &st);
	cr_expect_eq(st.session_pins, 0);
	cr_expect_eq(st.cached_blocks, 16);
	tclient_close(&t);
	tdaemon_stop(&D);
}

/* ---- ending a namespace through the library --------------------------- */

Test(core, unregister_namespace_ends_it_and_a_new_registration_starts_over)
{
	struct tclient w, r2;
	struct ac_key keys[4];
	struct ac_segment segs[4];
	struct ac_lookup_result res;
	struct ac_stats st;
	uint32_t out[4], found[4], flushed = 9, kept = 9, again;
	int r;

	tdaemon_start(&D, POOL_BYTES, BLOCK_BYTES, NULL);
	cr_assert_eq(tkeys(5, 4, keys), 0);
	cr_assert_eq(tclient_open(&w, &D, "w"), 0);
	cr_assert_eq(tclient_open(&r2, &D, "r2"), 0);
	r = tpublish(&w, keys, 0, 4, out, NULL);
	cr_assert_eq(r, 0, "publish: %s", ac_strerror(r));
	cr_assert_eq(ac_release(w.c, out, 3, NULL), 0);
	r = ac_unregister_namespace(w.c, w.ns, &flushed, &kept);
	cr_assert_eq(r, 0, "unregister: %s", ac_strerror(r));
	cr_expect_eq(flushed, 3);
	cr_expect_eq(kept, 1);
	/* Gone for the other session too, which registered the same layout. */
	cr_expect_eq(lookup(&r2, keys, 4, found, segs, &res), -ENOENT);
	cr_expect_eq(ac_unregister_namespace(w.c, w.ns, NULL, NULL), -ENOENT);
	cr_assert_eq(ac_release(w.c, out + 3, 1, NULL), 0);
	stats_of(&w, &st);
	cr_expect_eq(st.cached_blocks, 0);
	cr_expect_eq(st.free_blocks, st.nblocks);
	/*
	 * Registered again: a new, empty namespace in the daemon, under the
	 * id this client gave before (the library maps it).
	 */
	cr_assert_eq(ac_register_namespace(r2.c, r2.pool, &tlayout, &again), 0);
	cr_expect_eq(again, r2.ns);
	cr_assert_eq(lookup(&r2, keys, 4, found, segs, &res), 0);
	cr_expect_eq(res.hits, 0);
	tclient_close(&w);
	tclient_close(&r2);
	tdaemon_stop(&D);
}

/* ---- tenant pools through the library --------------------------------- */

Test(core, a_client_of_two_pools_names_the_pool_it_releases_in)
{
	struct ac_client *c;
	struct ac_pool *p1, *p0;
	struct ac_stats st;
	uint32_t ns1, ns0, b1[2], b0[2];
	int r;

	tdaemon_start_config(&D, POOL_BYTES, BLOCK_BYTES,
			     "[pool.1]\nbytes = 512K\nblock_bytes = 8K\ngroup = root\n",
			     NULL);
	cr_assert_eq(ac_connect(D.sock, "two-pools", &c), 0);
	cr_assert_eq(ac_attach(c, 1, &p1), 0);
	cr_expect_eq(ac_pool_info(p1)->nblocks, 64);
	r = ac_register_namespace(c, p1, &tlayout, &ns1);
	cr_assert_eq(r, 0, "register in pool 1: %s (%s)", ac_strerror(r), ac_client_last_error(c));
	cr_assert_eq(ac_alloc(c, ns1, 2, b1), 0);
	/* The pool attached first is the one ac_release() and ac_stats() mean. */
	cr_assert_eq(ac_stats(c, &st), 0);
	cr_expect_eq(st.nblocks, 64);
	cr_expect_eq(st.writing_blocks, 2);
	cr_assert_eq(ac_attach(c, 0, &p0), 0);
	cr_assert_eq(ac_register_namespace(c, p0, &tlayout, &ns0), 0);
	cr_expect_neq(ns0, ns1);
	cr_assert_eq(ac_alloc(c, ns0, 2, b0), 0);
	r = ac_release_pool(c, p0, b0, 2, NULL);
	cr_expect_eq(r, 0, "release in pool 0: %s", ac_strerror(r));
	r = ac_release(c, b1, 2, NULL);
	cr_expect_eq(r, 0, "release in pool 1: %s", ac_strerror(r));
	cr_assert_eq(ac_stats(c, &st), 0);
	cr_expect_eq(st.writing_blocks, 0);
	ac_disconnect(c);
	tdaemon_stop(&D);
}
