/* SPDX-License-Identifier: MIT */
/*
 * One run: fork the client processes over a shared counter mapping, print
 * progress until they have all exited, then the tables and the summary
 * line. Returns the exit status: 1 if a client failed, the summary could
 * not be written, or a hit had wrong bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "demo.h"

/* Wait for the clients, printing progress every --interval. */
static unsigned watch(const struct demo *d, struct ac_client *mon, double t0,
		      unsigned running)
{
	unsigned failed = 0;

	while (running) {
		double next = demo_now_s() + d->o.interval;
		int st;
		pid_t p;

		while (running && (p = waitpid(-1, &st, WNOHANG)) > 0) {
			running--;
			if (!WIFEXITED(st) || WEXITSTATUS(st)) {
				/* A crash cannot abort for itself. */
				demo_turn_abort(d->sh);
				failed++;
			}
		}
		demo_progress(d, mon, t0);
		while (running && demo_now_s() < next)
			usleep(10000);
	}
	return failed;
}

static int run(struct demo *d, struct ac_client *mon)
{
	const struct demo_opts *o = &d->o;
	struct ac_stats dst = { 0 };
	unsigned failed = 0, started;
	bool sum_failed = false;
	double t0, secs;
	int r;

	printf("%u clients%s, %u-token blocks of %lu bytes, prompts capped at %u tokens\n",
	       o->clients, o->lockstep ? " in lockstep (trace order)" : "",
	       o->block_tokens,
	       (unsigned long)ac_kv_block_bytes(&d->layout.kv), o->max_tokens);

	t0 = demo_now_s();
	fflush(stdout);
	for (started = 0; started < o->clients; started++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			/* Stop the lockstep clients; wait for all started. */
			demo_turn_abort(d->sh);
			failed++;
			break;
		}
		if (pid == 0) {
			/* The monitor's session belongs to the parent. */
			r = demo_worker_main(d, started);
			if (r)
				demo_turn_abort(d->sh);
			_exit(r);
		}
	}
	failed += watch(d, mon, t0, started);
	secs = demo_now_s() - t0;
	demo_final_table(d, mon, secs, &dst);
	if (o->summary) {
		r = demo_summary_write(d, &dst, secs);
		if (r < 0) {
			fprintf(stderr, "asymcache-demo: summary %s: %s\n",
				o->summary, strerror(-r));
			sum_failed = true;
		}
	}
	if (failed || d->sh->total.errors) {
		fprintf(stderr, "asymcache-demo: %u client(s) failed: %s\n",
			failed, d->sh->errmsg);
		return 1;
	}
	if (sum_failed)
		return 1;
	if (d->sh->total.corrupt) {
		fprintf(stderr, "asymcache-demo: %lu hit blocks had wrong bytes\n",
			(unsigned long)d->sh->total.corrupt);
		return 1;
	}
	return 0;
}

int demo_run(struct demo *d)
{
	struct ac_client *mon = NULL;
	int r, status;

	d->sh = mmap(NULL, sizeof(*d->sh), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (d->sh == MAP_FAILED) {
		fprintf(stderr, "asymcache-demo: shared counters: %s\n",
			strerror(errno));
		d->sh = NULL;
		return 1;
	}
	r = ac_connect(d->o.socket, "demo-monitor", &mon);
	if (r < 0) {
		fprintf(stderr, "asymcache-demo: connect %s: %s\n", d->o.socket,
			ac_strerror(r));
		status = 1;
	} else {
		status = run(d, mon);
		ac_disconnect(mon);
	}
	munmap(d->sh, sizeof(*d->sh));
	d->sh = NULL;
	return status;
}
