/* SPDX-License-Identifier: MIT */
/* The daemon's pool through libasymcache: the source a serving engine uses. */
#include <errno.h>
#include <stdlib.h>

#include "kvsrc.h"

struct daemon_src {
	struct ac_kvsrc base;
	struct ac_client *client;
	struct ac_pool *pool;
	uint32_t ns;
};

static struct daemon_src *to_daemon(struct ac_kvsrc *s)
{
	return (struct daemon_src *)s;
}

static int d_lookup(struct ac_kvsrc *s, const struct ac_key *keys, size_t n,
		    struct ac_lookup_result *res)
{
	struct daemon_src *d = to_daemon(s);

	return ac_lookup(d->client, d->ns, keys, n, res);
}

static int d_alloc(struct ac_kvsrc *s, uint32_t n, uint32_t *blocks)
{
	struct daemon_src *d = to_daemon(s);

	return ac_alloc(d->client, d->ns, n, blocks);
}

static int d_commit(struct ac_kvsrc *s, const struct ac_commit_entry *ce,
		    size_t n, uint32_t *got, uint32_t *deduped)
{
	struct daemon_src *d = to_daemon(s);

	return ac_commit(d->client, d->ns, ce, n, got, deduped);
}

static int d_release(struct ac_kvsrc *s, const uint32_t *blocks, size_t n)
{
	return ac_release(to_daemon(s)->client, blocks, n, NULL);
}

static int d_schedule(struct ac_kvsrc *s, const struct ac_sched_request *req,
		      const uint64_t *program_waited_us,
		      struct ac_sched_result *res)
{
	return ac_schedule_programs(to_daemon(s)->client, req,
				    program_waited_us, res);
}

static int d_retain(struct ac_kvsrc *s, const uint32_t *blocks, size_t n,
		    const struct ac_retain_args *a, struct ac_retention *ret)
{
	struct daemon_src *d = to_daemon(s);

	return ac_retain_program(d->client, d->ns, blocks, n, a, ret);
}

static int d_resume(struct ac_kvsrc *s, uint64_t retention,
		    uint32_t *released)
{
	return ac_resume(to_daemon(s)->client, retention, released);
}

static void d_destroy(struct ac_kvsrc *s)
{
	struct daemon_src *d = to_daemon(s);

	/* The daemon drops the session's pins and WRITING blocks at close. */
	ac_disconnect(d->client);
	free(d);
}

static const struct ac_kvsrc_ops daemon_ops = {
	.name = "daemon",
	.lookup = d_lookup,
	.alloc = d_alloc,
	.commit = d_commit,
	.release = d_release,
	.schedule = d_schedule,
	.retain = d_retain,
	.resume = d_resume,
	.destroy = d_destroy,
};

int ac_kvsrc_daemon_open(const struct ac_kvsrc_daemon_opts *o,
			 struct ac_kvsrc **ret)
{
	const struct ac_pool_info *pi;
	struct daemon_src *d;
	int e;

	if (!o || !o->socket || !o->nsl || !ret)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->base.ops = &daemon_ops;
	d->base.shared = true;
	e = ac_connect(o->socket, o->client_name ? o->client_name
						  : "asymcache-engine",
		       &d->client);
	if (!e)
		e = ac_attach(d->client, 0, &d->pool);
	if (!e)
		e = ac_register_namespace(d->client, d->pool, o->nsl, &d->ns);
	if (e < 0)
		goto fail;
	pi = ac_pool_info(d->pool);
	/* Host pools hold the CPU backend's fp32, CUDA pools bf16. */
	if ((pi->backend == AC_BACKEND_CUDA) != (o->backend == AC_FWD_CUDA)) {
		e = -EMEDIUMTYPE;
		goto fail;
	}
	d->base.ns = d->ns;
	d->base.kv = (struct ac_kv_pool){ .base = ac_pool_base(d->pool),
					  .block_bytes = pi->block_bytes,
					  .num_blocks = pi->nblocks,
					  .layout = o->nsl->kv };
	*ret = &d->base;
	return 0;
fail:
	ac_disconnect(d->client);
	free(d);
	return e;
}
