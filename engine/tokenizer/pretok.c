/* SPDX-License-Identifier: MIT */
/*
 * Pre-tokenization: regex stages that cut text into the pieces BPE runs on
 * one at a time. Each stage splits every piece of the stage before it; a
 * match and the text between two matches are both pieces (Hugging Face's
 * "Isolated" behaviour), so nothing is dropped.
 *
 * Patterns compile with PCRE2_MATCH_INVALID_UTF: invalid UTF-8 never
 * matches and so lands, byte for byte, in the gaps between matches. That
 * keeps any input encodable while valid text splits exactly as the
 * reference (Hugging Face tokenizers) does.
 */
#include <errno.h>
#include <string.h>

#include "errmsg.h"
#include "tok-internal.h"

/* GPT-2's split, with the trailing \s+ that Hugging Face's ByteLevel adds. */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+|" \
		" ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
/* Hugging Face Digits(individual_digits): every numeric character alone. */
#define RE_DIGIT "\\p{N}"

/*
 * tokenizer.ggml.pre names and their stages. smollm and starcoder share
 * tokenizer.json's Sequence[Digits(individual_digits), ByteLevel(use_regex)].
 */
static const char *const pre_names[] = { "smollm", "starcoder", "gpt2", NULL };
static const char *const pre_stages[][TOK_PRE_STAGES_MAX] = {
	{ RE_DIGIT, RE_GPT2 },
	{ RE_DIGIT, RE_GPT2 },
	{ RE_GPT2 },
};

#define N_PRE (sizeof(pre_stages) / sizeof(pre_stages[0]))
_Static_assert(sizeof(pre_names) / sizeof(pre_names[0]) == N_PRE + 1,
	       "one name per stage list");

const char *const *ac_tokenizer_pre_names(void)
{
	return pre_names;
}

int tok_pretok_init(struct pretok *pre, const char *name, char *err,
		    size_t errlen)
{
	const char *const *stages = NULL;

	memset(pre, 0, sizeof(*pre));
	for (size_t i = 0; i < N_PRE; i++)
		if (!strcmp(pre_names[i], name))
			stages = pre_stages[i];
	if (!stages)
		return ac_model_err(err, errlen, -EOPNOTSUPP,
				    "tokenizer.ggml.pre '%.64s': unsupported pre-tokenizer",
				    name);

	for (unsigned i = 0; i < TOK_PRE_STAGES_MAX && stages[i]; i++) {
		int code;
		PCRE2_SIZE at;
		pcre2_code *re = pcre2_compile((PCRE2_SPTR)stages[i],
			PCRE2_ZERO_TERMINATED,
			PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF,
			&code, &at, NULL);

		if (!re) {
			/* Only memory can fail here: the patterns are fixed. */
			tok_pretok_fini(pre);
			return ac_model_err(err, errlen, -ENOMEM,
					    "tokenizer.ggml.pre '%s': regex %u: PCRE2 error %d",
					    name, i, code);
		}
		/* Without JIT (unsupported CPU) the interpreter still works. */
		pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
		pre->re[pre->n++] = re;
	}
	return 0;
}

void tok_pretok_fini(struct pretok *pre)
{
	for (unsigned i = 0; i < pre->n; i++)
		pcre2_code_free(pre->re[i]);
	pre->n = 0;
}

static int match_error(int rc)
{
	switch (rc) {
	case PCRE2_ERROR_NOMEMORY:
		return -ENOMEM;
	case PCRE2_ERROR_MATCHLIMIT:
	case PCRE2_ERROR_DEPTHLIMIT:
	case PCRE2_ERROR_HEAPLIMIT:
	case PCRE2_ERROR_JIT_STACKLIMIT:
		return -E2BIG;
	default:
		return -EINVAL;
	}
}

static int split_stage(const struct pretok *pre, unsigned stage,
		       pcre2_match_data *md, const uint8_t *p, size_t n,
		       tok_piece_fn piece, void *ctx)
{
	size_t gap = 0, off = 0;
	int rc;

	if (stage == pre->n)
		return piece(ctx, p, n);

	while (off < n) {
		PCRE2_SIZE *ov, s, e;

		rc = pcre2_match(pre->re[stage], p, n, off, 0, md, NULL);
		if (rc == PCRE2_ERROR_NOMATCH)
			break;
		if (rc < 0)
			return match_error(rc);
		ov = pcre2_get_ovector_pointer(md);
		s = ov[0];
		e = ov[1];
		if (e == s) {
			/* No stage pattern matches empty; never loop if one did. */
			off = s + 1;
			continue;
		}
		if (s > gap) {
			rc = split_stage(pre, stage + 1, md, p + gap, s - gap,
					 piece, ctx);
			if (rc)
				return rc;
		}
		rc = split_stage(pre, stage + 1, md, p + s, e - s, piece, ctx);
		if (rc)
			return rc;
		gap = off = e;
	}
	if (gap < n)
		return split_stage(pre, stage + 1, md, p + gap, n - gap,
				   piece, ctx);
	return 0;
}

int tok_pretok_split(const struct pretok *pre, pcre2_match_data *md,
		     const uint8_t *p, size_t n, tok_piece_fn piece, void *ctx)
{
	if (n == 0)
		return 0;
	return split_stage(pre, 0, md, p, n, piece, ctx);
}
