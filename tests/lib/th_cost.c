/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>

#include "th_cost.h"
#include "th_fs.h"

int th_write_cost_file(const char *path, const char *gpu, double linear,
		       double attn, double seg)
{
	char buf[1024];
	int n;

	n = snprintf(buf, sizeof(buf),
		     "{\"version\":1,\"gpu\":\"%s\",\"model\":\"test-model\","
		     "\"layout\":{\"num_layers\":32,\"hidden\":4096,\"ffn\":14336,"
		     "\"num_q_heads\":32,\"num_kv_heads\":8,\"head_dim\":128,"
		     "\"dtype_bytes\":2,\"block_tokens\":16,\"vocab\":128256},"
		     "\"coefficients\":{\"linear_s_per_token\":%.17g,"
		     "\"attn_s_per_pair\":%.17g,\"segment_s\":%.17g,"
		     "\"iteration_s\":0.004,\"decode_s_per_ctx_token\":2.7e-8},"
		     "\"source\":\"test\"}\n", gpu, linear, attn, seg);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -ENAMETOOLONG;
	return th_write_file(path, buf);
}
