/* SPDX-License-Identifier: MIT */
#include "layout.h"
#include "th_proto.h"

void th_proto_hello(Asymcache__V1__Request *req, Asymcache__V1__Hello *h,
		    uint32_t version, const char *name)
{
	asymcache__v1__hello__init(h);
	h->protocol_version = version;
	h->client_name = ac_proto_text(name);
	req->body_case = ASYMCACHE__V1__REQUEST__BODY_HELLO;
	req->hello = h;
}

void th_proto_layout(Asymcache__V1__NamespaceLayout *l, const char *model,
		     uint32_t layers, uint32_t heads, uint32_t dim, int dtype,
		     uint32_t tokens)
{
	asymcache__v1__namespace_layout__init(l);
	l->model_id = ac_proto_text(model);
	l->num_layers = layers;
	l->num_kv_heads = heads;
	l->head_dim = dim;
	l->dtype = dtype;
	l->block_tokens = tokens;
}

void th_proto_entry(Asymcache__V1__CommitEntry *e, const uint8_t *key,
		    uint32_t block, uint32_t pos, const uint8_t *parent)
{
	asymcache__v1__commit_entry__init(e);
	e->key.data = (uint8_t *)key;
	e->key.len = 16;
	e->block = block;
	e->position = pos;
	if (parent) {
		e->parent_key.data = (uint8_t *)parent;
		e->parent_key.len = 16;
	}
}
