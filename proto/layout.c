/* SPDX-License-Identifier: MIT */
#include "layout.h"

_Static_assert((int)ASYMCACHE__V1__DTYPE__DTYPE_BF16 == (int)AC_DTYPE_BF16 &&
	       (int)ASYMCACHE__V1__DTYPE__DTYPE_FP16 == (int)AC_DTYPE_FP16 &&
	       (int)ASYMCACHE__V1__DTYPE__DTYPE_FP32 == (int)AC_DTYPE_FP32,
	       "proto DType numbers are the ABI's enum ac_dtype");

void ac_proto_layout_pack(Asymcache__V1__NamespaceLayout *out,
			  const char *model_id, const struct ac_kv_layout *kv)
{
	out->model_id = ac_proto_text(model_id);
	out->num_layers = kv->num_layers;
	out->num_kv_heads = kv->num_kv_heads;
	out->head_dim = kv->head_dim;
	out->dtype = (Asymcache__V1__DType)kv->dtype;
	out->block_tokens = kv->block_tokens;
}

int ac_proto_layout_unpack(const Asymcache__V1__NamespaceLayout *in,
			   struct ac_kv_layout *kv)
{
	*kv = (struct ac_kv_layout){
		.num_layers = in->num_layers,
		.num_kv_heads = in->num_kv_heads,
		.head_dim = in->head_dim,
		.block_tokens = in->block_tokens,
		.dtype = (enum ac_dtype)in->dtype,
	};
	return ac_kv_layout_check(kv);
}
