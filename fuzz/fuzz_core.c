/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "asymcache.pb-c.h"
#include "core.h"
#include "daemon.h"
#include "dispatch.h"
#include "fuzz_core.h"
#include "layout.h"
#include "log.h"
#include "policy.h"
#include "session.h"

static struct daemon d;
static int ready;

int fuzz_core_init(void)
{
	int r;

	if (ready)
		return 0;
	cfg_defaults(&d.cfg);
	d.cfg.backend = CFG_BACKEND_HOST;
	d.cfg.pool_bytes = 64 * 4096;
	d.cfg.block_bytes = 4096;
	d.cfg.group[0] = '\0';
	d.cfg.log_level = LOG_CRIT;
	snprintf(d.cfg.policy, sizeof(d.cfg.policy), "lru");
	d.cfg.limits.max_keys_per_lookup = 256;
	d.cfg.limits.max_pins_per_session = 512;
	d.cfg.limits.max_writing_per_session = 48;
	d.cfg.limits.max_packet = 64 * 1024;
	r = daemon_core_init(&d);
	if (r < 0)
		return r;
	ready = 1;
	return 0;
}

void fuzz_core_fini(void)
{
	if (!ready)
		return;
	daemon_core_fini(&d);
	memset(&d, 0, sizeof(d));
	ready = 0;
}

static size_t pack_request(Asymcache__V1__Request *req, uint8_t *buf,
			   size_t cap)
{
	size_t n = asymcache__v1__request__get_packed_size(req);

	if (n > cap)
		return 0;
	return asymcache__v1__request__pack(req, buf);
}

size_t fuzz_core_sample(unsigned int which, uint8_t *buf, size_t cap)
{
	Asymcache__V1__Request req = ASYMCACHE__V1__REQUEST__INIT;
	Asymcache__V1__Hello h = ASYMCACHE__V1__HELLO__INIT;
	Asymcache__V1__Attach a = ASYMCACHE__V1__ATTACH__INIT;
	Asymcache__V1__RegisterNamespace rn =
		ASYMCACHE__V1__REGISTER_NAMESPACE__INIT;
	Asymcache__V1__NamespaceLayout l = ASYMCACHE__V1__NAMESPACE_LAYOUT__INIT;
	Asymcache__V1__Lookup lk = ASYMCACHE__V1__LOOKUP__INIT;
	Asymcache__V1__Alloc al = ASYMCACHE__V1__ALLOC__INIT;
	Asymcache__V1__Commit cm = ASYMCACHE__V1__COMMIT__INIT;
	Asymcache__V1__CommitEntry ce[2], *cep[2] = { &ce[0], &ce[1] };
	Asymcache__V1__Release rl = ASYMCACHE__V1__RELEASE__INIT;
	Asymcache__V1__Stats st = ASYMCACHE__V1__STATS__INIT;
	static uint8_t keys[4 * 16];
	static uint32_t ids[3] = { 0, 1, 2 };
	/* Every body is filled in; @which picks the one sent. */
	const struct {
		Asymcache__V1__Request__BodyCase body_case;
		void *body;
	} samples[] = {
		{ ASYMCACHE__V1__REQUEST__BODY_HELLO, &h },
		{ ASYMCACHE__V1__REQUEST__BODY_ATTACH, &a },
		{ ASYMCACHE__V1__REQUEST__BODY_REGISTER_NAMESPACE, &rn },
		{ ASYMCACHE__V1__REQUEST__BODY_LOOKUP, &lk },
		{ ASYMCACHE__V1__REQUEST__BODY_ALLOC, &al },
		{ ASYMCACHE__V1__REQUEST__BODY_COMMIT, &cm },
		{ ASYMCACHE__V1__REQUEST__BODY_RELEASE, &rl },
		{ ASYMCACHE__V1__REQUEST__BODY_STATS, &st },
	};
	unsigned int i;

	for (i = 0; i < sizeof(keys); i++)
		keys[i] = (uint8_t)(i / 16 + 1);
	h.protocol_version = 1;
	h.client_name = ac_proto_text("fuzz");
	l.model_id = ac_proto_text("fuzz-model");
	l.num_layers = 1;
	l.num_kv_heads = 1;
	l.head_dim = 64;
	l.dtype = ASYMCACHE__V1__DTYPE__DTYPE_FP16;
	l.block_tokens = 16;
	rn.layout = &l;
	lk.ns_id = 1;
	lk.keys.data = keys;
	lk.keys.len = sizeof(keys);
	al.ns_id = 1;
	al.count = 2;
	for (i = 0; i < 2; i++) {
		asymcache__v1__commit_entry__init(&ce[i]);
		ce[i].key.data = keys + 16 * i;
		ce[i].key.len = 16;
		ce[i].block = i;
		ce[i].position = i;
		if (i) {
			ce[i].parent_key.data = keys;
			ce[i].parent_key.len = 16;
		}
	}
	cm.ns_id = 1;
	cm.n_entries = 2;
	cm.entries = cep;
	rl.n_blocks = 3;
	rl.blocks = ids;

	req.id = which + 1;
	/*
	 * Past the table: a request with no body at all. Every member of the
	 * body union is a message pointer, so one store serves every case.
	 */
	if (which < sizeof(samples) / sizeof(samples[0])) {
		req.body_case = samples[which].body_case;
		req.hello = samples[which].body;
	}
	return pack_request(&req, buf, cap);
}

static int invariants(void)
{
	const struct cache *c = &d.pools[0].cache;
	uint32_t i, f = 0, w = 0, k = 0, p = 0;

	for (i = 0; i < c->nblocks; i++) {
		const struct blk *b = &c->blocks[i];

		if (b->state == BLK_FREE)
			f++;
		else if (b->state == BLK_WRITING)
			w++;
		else if (b->state == BLK_CACHED) {
			k++;
			if (b->pins)
				p++;
			if (index_find(&c->index, b->ns, &b->key) != i)
				return -1;
		} else {
			return -1;
		}
	}
	if (f != c->nfree || w != c->nwriting || k != c->ncached ||
	    p != c->npinned || c->index.count != c->ncached)
		return -1;
	return 0;
}

int fuzz_core_run(const uint8_t *data, size_t size)
{
	const struct ac_policy_ops *const *all = ac_policy_list();
	static uint8_t pkt[1024];
	struct session *s;
	unsigned int npol = 0, i;
	size_t len;
	int r = 0;

	if (!ready || size < 1)
		return 0;
	while (all[npol])
		npol++;
	if (npol && strcmp(cache_policy_name(&d.pools[0].cache),
			   all[data[0] % npol]->name))
		cache_set_policy(&d.pools[0].cache, all[data[0] % npol]->name);
	data++;
	size--;

	s = session_new(&d, -1, 1, 0, 0);
	if (!s)
		return 0;
	for (i = 0; i < 3; i++) {
		len = fuzz_core_sample(i, pkt, sizeof(pkt));
		if (dispatch_packet(&d, s, pkt, len, false) < 0) {
			r = -1;
			goto out;
		}
	}
	while (size >= 2) {
		size_t n = (size_t)data[0] | ((size_t)data[1] << 8);

		data += 2;
		size -= 2;
		if (n > size)
			n = size;
		if (dispatch_packet(&d, s, data, n, false) < 0 || s->closing)
			break;
		data += n;
		size -= n;
		if (invariants() < 0) {
			r = -1;
			goto out;
		}
	}
out:
	session_free(s);
	/* With its only session gone, nothing may stay pinned or WRITING. */
	if (d.pools[0].cache.nwriting || d.pools[0].cache.npinned || invariants() < 0)
		r = -1;
	return r;
}
