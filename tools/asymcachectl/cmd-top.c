/* SPDX-License-Identifier: MIT */
/*
 * A live view. Each frame is a fresh snapshot; rates are the difference to
 * the previous one over the wall time between the two reads, so a slow bus
 * never inflates them.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

static const char top_usage[] =
	"top [--json] [--interval=SECS] [--iterations=N]\n\n"
	"Show the daemon's state and rates, refreshed every SECS seconds (default 1)\n"
	"until q is pressed or the process is interrupted. With --iterations, stop\n"
	"after N frames. With --json, print one JSON object per frame and line.\n";

static volatile sig_atomic_t top_stop;

static void on_signal(int sig)
{
	top_stop = 1;
}

static double rate(uint64_t now, uint64_t before, double secs)
{
	return secs > 0.0 && now >= before ? (double)(now - before) / secs : 0.0;
}

static void frame_human(const struct ctl_snapshot *s, const struct ctl_snapshot *prev,
			const struct ctl_session *sess, size_t nsess, bool tty)
{
	char a[CTL_FMT_MAX], b[CTL_FMT_MAX], cc[CTL_FMT_MAX], d[CTL_FMT_MAX], e[CTL_FMT_MAX];
	double secs = prev ? (s->taken_usec - prev->taken_usec) / 1e6 : 0.0;
	uint64_t dk = prev ? s->lookup_keys - prev->lookup_keys : 0;
	uint64_t dh = prev ? s->lookup_hits - prev->lookup_hits : 0;
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(e, sizeof(e), "%H:%M:%S", &tm);
	if (tty)
		fputs("\033[H\033[2J", stdout);
	printf("asymcached %s  up %s  policy %s  sessions %u  %s\n", s->version,
	       fmt_duration(a, s->uptime_usec), s->policy, s->sessions, e);
	printf("Blocks  %u total  %u free  %u writing  %u cached  %u pinned  %u retained  (%s used)\n",
	       s->nblocks, s->free_blocks, s->writing_blocks, s->cached_blocks,
	       s->pinned_blocks, s->retained_blocks,
	       fmt_pct(a, (double)(s->nblocks - s->free_blocks), (double)s->nblocks));
	if (prev)
		printf("Rates   lookups %s  keys %s  hit rate %s  evictions %s  commits %s\n",
		       fmt_rate(a, rate(s->lookups, prev->lookups, secs)),
		       fmt_rate(b, rate(s->lookup_keys, prev->lookup_keys, secs)),
		       fmt_pct(cc, (double)dh, (double)dk),
		       fmt_rate(d, rate(s->evictions, prev->evictions, secs)),
		       fmt_rate(e, rate(s->commits, prev->commits, secs)));
	else
		puts("Rates   (after the next refresh)");
	printf("Totals  hit rate %s  evictions %s  recomputed tokens %s\n\n",
	       fmt_pct(a, (double)s->lookup_hits, (double)s->lookup_keys),
	       fmt_u64(b, s->evictions), fmt_u64(cc, s->recomputed_tokens));
	ctl_print_pools(s, stdout);
	putchar('\n');
	ctl_print_sessions(sess, nsess, stdout);
	if (tty)
		fputs("\nPress q to quit.", stdout);
	fflush(stdout);
}

static void frame_json(const struct ctl_snapshot *s, const struct ctl_session *sess,
		       size_t nsess)
{
	_cleanup_json_ json_object *j = ctl_snapshot_json(s);

	json_object_object_add(j, "session_list", ctl_sessions_json(sess, nsess));
	puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
}

/* Sleeps for the interval or until 'q' arrives on a terminal stdin. */
static bool wait_next(uint64_t usec, bool keys)
{
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
	struct timespec end, now;
	int ms;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += usec / 1000000;
	end.tv_nsec += (usec % 1000000) * 1000;
	if (end.tv_nsec >= 1000000000) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000;
	}
	for (;;) {
		char ch;

		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (int)((end.tv_sec - now.tv_sec) * 1000 +
			   (end.tv_nsec - now.tv_nsec) / 1000000);
		if (top_stop)
			return false;
		if (ms <= 0)
			return true;
		if (poll(&p, keys ? 1 : 0, ms) < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		if (keys && (p.revents & (POLLHUP | POLLERR)))
			keys = false;
		else if (keys && (p.revents & POLLIN) && read(STDIN_FILENO, &ch, 1) == 1 &&
			 (ch == 'q' || ch == 'Q'))
			return false;
	}
}

int cmd_top(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ "interval", required_argument, NULL, 'i' },
		{ "iterations", required_argument, NULL, 'n' },
		{}
	};
	struct ctl_snapshot snap[2] = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	struct termios saved, raw;
	uint64_t interval = 1000000;
	uint32_t iterations = 0, frame;
	bool keys = false, tty;
	int o, r = CTL_EXIT_OK;

	while ((o = getopt_long(argc, argv, ":hji:n:", opts, NULL)) >= 0) {
		switch (o) {
		case 'j':
			c->json = true;
			break;
		case 'i':
			if (parse_seconds(optarg, &interval) < 0) {
				fprintf(stderr, "asymcachectl: --interval wants seconds "
					"in (0, 86400], not '%s'\n", optarg);
				return CTL_EXIT_USAGE;
			}
			break;
		case 'n':
			if (parse_u32(optarg, &iterations) < 0 || iterations == 0) {
				fprintf(stderr, "asymcachectl: --iterations wants a "
					"positive count, not '%s'\n", optarg);
				return CTL_EXIT_USAGE;
			}
			break;
		case 'h':
			return ctl_help_or_usage("top", top_usage, true);
		default:
			return ctl_bad_option("top", opts, argv, o);
		}
	}
	if (optind != argc)
		return ctl_usage_error("top", "unexpected argument '%s'", argv[optind]);

	tty = !c->json && isatty(STDOUT_FILENO);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* Single keys without Enter, and no echo of them over the frame. */
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		raw.c_lflag &= ~(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		keys = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
	}
	if (tty)
		fputs("\033[?25l", stdout);

	for (frame = 0; !top_stop; frame++) {
		struct ctl_snapshot *cur = &snap[frame & 1], *prev = &snap[!(frame & 1)];
		struct ctl_session *sess = NULL;
		size_t nsess = 0;

		ctl_snapshot_clear(cur);
		r = ctl_snapshot_fetch(c, cur);
		if (r != CTL_EXIT_OK)
			break;
		r = ctl_sessions_fetch(c, &sess, &nsess);
		if (r != CTL_EXIT_OK)
			break;
		if (c->json)
			frame_json(cur, sess, nsess);
		else
			frame_human(cur, frame ? prev : NULL, sess, nsess, tty);
		ctl_sessions_free(sess, nsess);
		if (iterations && frame + 1 >= iterations)
			break;
		if (!wait_next(interval, keys))
			break;
	}

	if (tty)
		fputs("\033[?25h\n", stdout);
	if (keys)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	ctl_snapshot_clear(&snap[0]);
	ctl_snapshot_clear(&snap[1]);
	return r;
}
