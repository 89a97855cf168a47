/* SPDX-License-Identifier: MIT */
/*
 * ctl_bench: the control path's cost. It starts asymcached on a temporary
 * socket (host backend), then measures from 1 and from 8 client processes:
 *   - Lookup of a 2,048-key resident chain, then Release of its 2,048 pins;
 *   - Alloc of 16 blocks, then Commit of 16 fresh keys (then Release);
 * reporting ops/s, p50/p99 round-trip latency and the daemon's CPU time
 * per op (utime+stime from /proc/PID/stat around the timed phase). It also
 * times key computation for a 32,768-token prompt with SHA-256 and XXH3.
 * Output is a markdown table.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "asymcache/asymcache.h"

#define BLOCK_BYTES	4096u
#define NBLOCKS		16384u
#define CHAIN		2048u
#define ALLOC_N		16u
#define MAX_PROCS	8
#define KEY_TOKENS	32768u

static const struct ac_ns_layout layout = {
	.model_id = "ctl-bench",
	.kv.num_layers = 2,
	.kv.num_kv_heads = 2,
	.kv.head_dim = 16,
	.kv.dtype = AC_DTYPE_FP16,
	.kv.block_tokens = 16,
};

struct shared {
	pthread_barrier_t start;
	pthread_barrier_t done;
	int failed;
	char err[256];
	double lat_a[MAX_PROCS][8192];	/* first round trip of an op, us */
	double lat_b[MAX_PROCS][8192];	/* second round trip, us */
	double client_cpu[MAX_PROCS];	/* user+sys of the timed loop, us */
};

static double self_cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static struct shared *S;
static char sock_path[128];
static pid_t daemon_pid;

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static double daemon_cpu_us(void)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", daemon_pid);
	f = fopen(path, "r");
	if (!f || !fgets(buf, sizeof(buf), f)) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	/* Fields after "(comm)": state is 3rd, utime 14th, stime 15th. */
	p = strrchr(buf, ')');
	for (i = 3; p && i < 14; i++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%lu %lu", &ut, &st) != 2)
		return -1;
	return (ut + st) * 1e6 / sysconf(_SC_CLK_TCK);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double pctl(double *v, size_t n, double p)
{
	size_t i = (size_t)(p * (n - 1) + 0.5);

	return n ? v[i] : 0;
}

static void fail(const char *what, int r)
{
	S->failed = 1;
	snprintf(S->err, sizeof(S->err), "%s: %s", what, ac_strerror(r));
}

static int open_client(const char *name, struct ac_client **c,
		       struct ac_pool **pool, uint32_t *ns)
{
	int r = ac_connect(sock_path, name, c);

	if (r < 0)
		return r;
	r = ac_attach(*c, 0, pool);
	if (r == 0)
		r = ac_register_namespace(*c, *pool, &layout, ns);
	if (r < 0)
		ac_disconnect(*c);
	return r;
}

/* Opaque keys: the daemon never hashes, so any distinct 16 bytes do. */
static void make_key(struct ac_key *k, uint32_t a, uint32_t b, uint32_t c)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->b, &a, 4);
	memcpy(k->b + 4, &b, 4);
	memcpy(k->b + 8, &c, 4);
	k->b[15] = 0xa5;
}

static struct ac_key chain_keys[CHAIN];
static struct ac_key miss_keys[CHAIN];

static int publish_chain(void)
{
	struct ac_client *c;
	struct ac_pool *pool;
	struct ac_commit_entry e[256];
	uint32_t blocks[256], out[256];
	uint32_t ns;
	int r;

	for (uint32_t i = 0; i < CHAIN; i++) {
		make_key(&chain_keys[i], 0xc4a1, i, 0);
		make_key(&miss_keys[i], 0x0155, i, 0);
	}
	r = open_client("bench-setup", &c, &pool, &ns);
	if (r < 0)
		return r;
	for (uint32_t base = 0; base < CHAIN && r == 0; base += 256) {
		r = ac_alloc(c, ns, 256, blocks);
		for (uint32_t i = 0; i < 256 && r == 0; i++) {
			e[i] = (struct ac_commit_entry){
				.key = chain_keys[base + i],
				.block = blocks[i],
				.position = base + i,
			};
			if (base + i)
				e[i].parent = chain_keys[base + i - 1];
		}
		if (r == 0)
			r = ac_commit(c, ns, e, 256, out, NULL);
		if (r == 0)
			r = ac_release(c, out, 256, NULL);
	}
	ac_disconnect(c);
	return r;
}

/*
 * SC_MISS looks up 2,048 keys that are not resident: no pins, no policy
 * work, so it isolates transport + index cost from pin bookkeeping.
 */
enum scenario { SC_LOOKUP, SC_MISS, SC_ALLOC };

static int child_run(enum scenario sc, int idx, unsigned ops, unsigned warm)
{
	static uint32_t blocks[CHAIN];
	static struct ac_segment segs[CHAIN];
	struct ac_lookup_result res = {
		.blocks = blocks, .segments = segs, .max_segments = CHAIN,
	};
	struct ac_client *c;
	struct ac_pool *pool;
	uint32_t ns;
	char name[32];
	int r;

	snprintf(name, sizeof(name), "bench-%d", idx);
	r = open_client(name, &c, &pool, &ns);
	if (r < 0) {
		fail("connect", r);
		pthread_barrier_wait(&S->start);
		return 1;
	}
	pthread_barrier_wait(&S->start);
	S->client_cpu[idx] = -self_cpu_us();
	for (unsigned i = 0; i < warm + ops; i++) {
		double t0, t1, t2;

		if (sc == SC_MISS) {
			t0 = now_us();
			r = ac_lookup(c, ns, miss_keys, CHAIN, &res);
			t1 = t2 = now_us();
			if (r == 0 && res.hits != 0)
				r = -EEXIST;
		} else if (sc == SC_LOOKUP) {
			t0 = now_us();
			r = ac_lookup(c, ns, chain_keys, CHAIN, &res);
			t1 = now_us();
			if (r < 0 || res.hits != CHAIN) {
				fail("lookup", r ? r : -ENOENT);
				break;
			}
			r = ac_release(c, blocks, CHAIN, NULL);
			t2 = now_us();
		} else {
			struct ac_commit_entry e[ALLOC_N];
			uint32_t ab[ALLOC_N], out[ALLOC_N];

			t0 = now_us();
			r = ac_alloc(c, ns, ALLOC_N, ab);
			if (r < 0) {
				fail("alloc", r);
				break;
			}
			for (uint32_t k = 0; k < ALLOC_N; k++) {
				make_key(&e[k].key, 0xa110c + idx, i, k);
				e[k].block = ab[k];
				e[k].position = k;
				if (k)
					e[k].parent = e[k - 1].key;
			}
			r = ac_commit(c, ns, e, ALLOC_N, out, NULL);
			t1 = now_us();
			if (r == 0)
				r = ac_release(c, out, ALLOC_N, NULL);
			t2 = now_us();
		}
		if (r < 0) {
			fail(sc == SC_LOOKUP ? "release" : "commit", r);
			break;
		}
		if (i >= warm) {
			S->lat_a[idx][i - warm] = t1 - t0;
			S->lat_b[idx][i - warm] = t2 - t1;
		}
	}
	S->client_cpu[idx] += self_cpu_us();
	pthread_barrier_wait(&S->done);
	ac_disconnect(c);
	return S->failed;
}

struct result {
	double ops_s, a50, a99, b50, b99, cpu_op, client_op;
};

static int run_scenario(enum scenario sc, int nproc, unsigned ops,
			struct result *res)
{
	pthread_barrierattr_t ba;
	pid_t pids[MAX_PROCS];
	double t0, t1, c0, c1;
	double *all_a, *all_b;
	size_t n = (size_t)nproc * ops;
	int st, bad = 0;

	pthread_barrierattr_init(&ba);
	pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
	pthread_barrier_init(&S->start, &ba, nproc + 1);
	pthread_barrier_init(&S->done, &ba, nproc + 1);
	fflush(NULL);
	for (int i = 0; i < nproc; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			return -errno;
		if (pids[i] == 0)
			_exit(child_run(sc, i, ops, ops / 10));
	}
	/* Warm-up is inside the window: ops/10 per client, excluded below. */
	pthread_barrier_wait(&S->start);
	c0 = daemon_cpu_us();
	t0 = now_us();
	pthread_barrier_wait(&S->done);
	t1 = now_us();
	c1 = daemon_cpu_us();
	for (int i = 0; i < nproc; i++) {
		waitpid(pids[i], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			bad = 1;
	}
	pthread_barrier_destroy(&S->start);
	pthread_barrier_destroy(&S->done);
	if (bad || S->failed)
		return -EIO;

	all_a = malloc(n * sizeof(double));
	all_b = malloc(n * sizeof(double));
	if (!all_a || !all_b)
		return -ENOMEM;
	for (int i = 0; i < nproc; i++) {
		memcpy(all_a + (size_t)i * ops, S->lat_a[i], ops * sizeof(double));
		memcpy(all_b + (size_t)i * ops, S->lat_b[i], ops * sizeof(double));
	}
	qsort(all_a, n, sizeof(double), cmp_d);
	qsort(all_b, n, sizeof(double), cmp_d);
	/* Throughput over all ops run in the window, warm-up included. */
	res->ops_s = (double)nproc * (ops + ops / 10) / ((t1 - t0) / 1e6);
	res->a50 = pctl(all_a, n, 0.50);
	res->a99 = pctl(all_a, n, 0.99);
	res->b50 = pctl(all_b, n, 0.50);
	res->b99 = pctl(all_b, n, 0.99);
	res->cpu_op = (c1 - c0) / ((double)nproc * (ops + ops / 10));
	res->client_op = 0;
	for (int i = 0; i < nproc; i++)
		res->client_op += S->client_cpu[i];
	res->client_op /= (double)nproc * (ops + ops / 10);
	free(all_a);
	free(all_b);
	return 0;
}

static const char *const op_names[] = {
	[SC_LOOKUP] = "Lookup 2048 hits + Release 2048",
	[SC_MISS] = "Lookup 2048 misses (no pins)",
	[SC_ALLOC] = "Alloc 16 + Commit 16 (+ Release 16)",
};

static const char *policy;

static int start_daemon(const char *bin, char *dir)
{
	char pb[32], log[160];
	int fd;

	strcpy(dir, "/tmp/ctl-bench-XXXXXX");
	if (!mkdtemp(dir))
		return -errno;
	snprintf(sock_path, sizeof(sock_path), "%s/sock", dir);
	snprintf(log, sizeof(log), "%s/daemon.log", dir);
	snprintf(pb, sizeof(pb), "%llu",
		 (unsigned long long)NBLOCKS * BLOCK_BYTES);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	daemon_pid = fork();
	if (daemon_pid < 0)
		return -errno;
	if (daemon_pid == 0) {
		char bb[16];

		snprintf(bb, sizeof(bb), "%u", BLOCK_BYTES);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		const char *argv[] = {
			bin, "--foreground", "-c", "/dev/null", "--socket",
			sock_path, "--backend", "host", "--pool-bytes", pb,
			"--block-bytes", bb, "--group", "root", "--log-level",
			"warning", policy ? "--policy" : NULL, policy, NULL,
		};

		execv(bin, (char *const *)argv);
		_exit(127);
	}
	if (fd >= 0)
		close(fd);
	for (int i = 0; i < 1000; i++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);

		strcpy(sa.sun_path, sock_path);
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(s);
			return 0;
		}
		close(s);
		usleep(10000);
	}
	return -ETIMEDOUT;
}

static void bench_keys(unsigned reps)
{
	static int32_t tok[KEY_TOKENS];
	static struct ac_key out[KEY_TOKENS / 16];
	static double t[1000];
	const char *names[] = { "SHA-256 (default)", "XXH3-128 (opt-in)" };
	enum ac_hash h[] = { AC_HASH_SHA256, AC_HASH_XXH3 };

	if (reps > 1000)
		reps = 1000;
	for (unsigned i = 0; i < KEY_TOKENS; i++)
		tok[i] = (int32_t)((i * 2654435761u) % 128256);
	printf("\n### Key computation, %u tokens, 16-token blocks (%u keys), %u runs\n\n",
	       KEY_TOKENS, KEY_TOKENS / 16, reps);
	printf("| hash | min us | p50 us | p99 us | GB/s at p50 |\n");
	printf("|---|---:|---:|---:|---:|\n");
	for (int k = 0; k < 2; k++) {
		struct ac_key_seed seed;

		ac_key_seed_init(&seed, &layout, NULL, 0, h[k]);
		for (unsigned i = 0; i < reps; i++) {
			size_t n = KEY_TOKENS / 16;
			double t0 = now_us();

			ac_keys_compute(&seed, tok, KEY_TOKENS, 16, out, &n);
			t[i] = now_us() - t0;
		}
		qsort(t, reps, sizeof(double), cmp_d);
		printf("| %s | %.1f | %.1f | %.1f | %.2f |\n", names[k], t[0],
		       pctl(t, reps, 0.5), pctl(t, reps, 0.99),
		       (KEY_TOKENS * 4.0 + KEY_TOKENS / 16 * 16.0) /
		       (pctl(t, reps, 0.5) * 1e3));
	}
}

int main(int argc, char **argv)
{
	const char *bin = NULL;
	unsigned ops1 = 4000, ops8 = 1000;
	char dir[64];
	struct result res = { 0 };
	int procs[] = { 1, 8 };
	int c, r, st;

	while ((c = getopt(argc, argv, "d:n:m:p:")) != -1) {
		switch (c) {
		case 'd': bin = optarg; break;
		case 'p': policy = optarg; break;
		case 'n': ops1 = strtoul(optarg, NULL, 10); break;
		case 'm': ops8 = strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: ctl_bench -d PATH/asymcached [-p POLICY] [-n OPS_1CLIENT] [-m OPS_PER_CLIENT_8]\n");
			return 2;
		}
	}
	if (!bin) {
		static char path[512];
		const char *root = getenv("AC_BUILD_ROOT");

		snprintf(path, sizeof(path), "%s/daemon/asymcached",
			 root ? root : "build");
		bin = path;
	}
	if (ops1 > 7000 || ops8 > 7000 || ops1 < 10 || ops8 < 10) {
		fprintf(stderr, "ctl_bench: ops must be 10..7000\n");
		return 2;
	}
	S = mmap(NULL, sizeof(*S), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (S == MAP_FAILED)
		return 1;
	r = start_daemon(bin, dir);
	if (r < 0) {
		fprintf(stderr, "ctl_bench: cannot start %s: %s\n", bin,
			strerror(-r));
		return 1;
	}
	r = publish_chain();
	if (r < 0) {
		fprintf(stderr, "ctl_bench: setup: %s\n", ac_strerror(r));
		goto out;
	}

	printf("### Control round trips (host pool, %u blocks of %u B, policy %s)\n\n",
	       NBLOCKS, BLOCK_BYTES, policy ? policy : "default");
	printf("| op | clients | ops/s | 1st RTT p50 us | 1st RTT p99 us | 2nd RTT p50 us | 2nd RTT p99 us | daemon CPU us/op | client CPU us/op |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (int sc = SC_LOOKUP; sc <= SC_ALLOC; sc++) {
		for (int p = 0; p < 2; p++) {
			unsigned ops = procs[p] == 1 ? ops1 : ops8;

			r = run_scenario(sc, procs[p], ops, &res);
			if (r < 0) {
				fprintf(stderr, "ctl_bench: %s\n", S->err);
				goto out;
			}
			printf("| %s | %d | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n",
			       op_names[sc],
			       procs[p], res.ops_s, res.a50, res.a99, res.b50,
			       res.b99, res.cpu_op, res.client_op);
			fflush(stdout);
		}
	}
	printf("\n1st RTT: the Lookup (for Alloc+Commit: both round trips);"
	       " 2nd RTT: the Release that follows (0 for misses)."
	       " ops/s counts whole ops.\n");
	bench_keys(500);
out:
	kill(daemon_pid, SIGTERM);
	waitpid(daemon_pid, &st, 0);
	{
		char p[160];

		snprintf(p, sizeof(p), "%s/daemon.log", dir);
		unlink(p);
		snprintf(p, sizeof(p), "%s/sock", dir);
		unlink(p);
		rmdir(dir);
	}
	return r < 0 ? 1 : 0;
}
