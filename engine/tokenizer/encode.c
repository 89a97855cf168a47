/* SPDX-License-Identifier: MIT */
/*
 * Encoding: split out verbatim (special) tokens, pre-tokenize the text in
 * between, then byte-pair-merge each piece. Merging keeps the piece's
 * symbols in a linked list and candidate pairs in a min-heap ordered by
 * (rank, position), so a piece of n bytes costs O(n log n) however long it
 * is; a popped pair whose symbols have changed since it was pushed is
 * skipped. Ties go to the leftmost pair, as in Hugging Face tokenizers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tok-internal.h"

struct cand {
	uint32_t rank;
	uint32_t pos;		/* left symbol */
	int32_t l, r;		/* the ids it was pushed for */
};

struct enc {
	const struct ac_tokenizer *tok;
	unsigned flags;
	int32_t *ids;
	size_t cap, n;
	pcre2_match_data *md;
	/* Per-piece scratch, grown to the longest piece seen. */
	size_t scap;
	int32_t *sym;		/* -1 once merged into its left neighbour */
	int32_t *next, *prev;
	struct cand *heap;
	size_t nheap;
};

static void emit(struct enc *e, int32_t id)
{
	if (e->n < e->cap)
		e->ids[e->n] = id;
	e->n++;
}

static bool cand_less(const struct cand *a, const struct cand *b)
{
	return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(struct enc *e, struct cand c)
{
	size_t i = e->nheap++;

	while (i) {
		size_t up = (i - 1) / 2;

		if (!cand_less(&c, &e->heap[up]))
			break;
		e->heap[i] = e->heap[up];
		i = up;
	}
	e->heap[i] = c;
}

static struct cand heap_pop(struct enc *e)
{
	struct cand top = e->heap[0], last = e->heap[--e->nheap];
	size_t i = 0, n = e->nheap;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && cand_less(&e->heap[c + 1], &e->heap[c]))
			c++;
		if (!cand_less(&e->heap[c], &last))
			break;
		e->heap[i] = e->heap[c];
		i = c;
	}
	if (n)
		e->heap[i] = last;
	return top;
}

static void try_pair(struct enc *e, int32_t pos)
{
	int32_t nx;
	const struct pair_slot *m;

	if (pos < 0 || (nx = e->next[pos]) < 0)
		return;
	m = tok_pair_index_find(&e->tok->merges, e->sym[pos], e->sym[nx]);
	if (m)
		heap_push(e, (struct cand){ .rank = m->rank, .pos = pos,
					    .l = e->sym[pos], .r = e->sym[nx] });
}

static int grow_scratch(struct enc *e, size_t n)
{
	size_t cap = e->scap ? e->scap : 64;
	void *p;

	while (cap < n)
		cap *= 2;
	/*
	 * A piece of n bytes holds at most 2n candidates at once: n - 1 to
	 * start, and each merge pops one and pushes two.
	 */
	if (!(p = realloc(e->sym, cap * sizeof(*e->sym))))
		return -ENOMEM;
	e->sym = p;
	if (!(p = realloc(e->next, cap * sizeof(*e->next))))
		return -ENOMEM;
	e->next = p;
	if (!(p = realloc(e->prev, cap * sizeof(*e->prev))))
		return -ENOMEM;
	e->prev = p;
	if (!(p = realloc(e->heap, 2 * cap * sizeof(*e->heap))))
		return -ENOMEM;
	e->heap = p;
	e->scap = cap;
	return 0;
}

static int bpe_piece(void *ctx, const uint8_t *p, size_t n)
{
	struct enc *e = ctx;
	const struct ac_tokenizer *tok = e->tok;
	size_t k = 0;

	if (n > INT32_MAX)
		return -E2BIG;
	if (n > e->scap && grow_scratch(e, n))
		return -ENOMEM;

	/*
	 * A dropped byte leaves its neighbours adjacent, free to merge, as
	 * Hugging Face's BPE does with characters outside the vocabulary.
	 */
	for (size_t i = 0; i < n; i++) {
		int32_t id = tok->byte_tok[p[i]];

		if (id < 0) {
			if (!(e->flags & AC_TOK_DROP_UNKNOWN))
				return -EILSEQ;
			continue;
		}
		e->sym[k] = id;
		e->prev[k] = (int32_t)k - 1;
		e->next[k] = (int32_t)k + 1;
		k++;
	}
	if (!k)
		return 0;
	e->next[k - 1] = -1;
	n = k;
	e->nheap = 0;
	for (size_t i = 0; i + 1 < n; i++)
		try_pair(e, i);

	while (e->nheap) {
		struct cand c = heap_pop(e);
		int32_t r = e->next[c.pos];
		const struct pair_slot *m;

		if (e->sym[c.pos] != c.l || r < 0 || e->sym[r] != c.r)
			continue;
		m = tok_pair_index_find(&tok->merges, c.l, c.r);
		e->sym[c.pos] = m->merged;
		e->sym[r] = -1;
		e->next[c.pos] = e->next[r];
		if (e->next[r] >= 0)
			e->prev[e->next[r]] = c.pos;
		try_pair(e, e->prev[c.pos]);
		try_pair(e, c.pos);
	}

	for (int32_t i = 0; i >= 0; i = e->next[i])
		emit(e, e->sym[i]);
	return 0;
}

/* The longest special that starts at @p, or NULL. */
static const struct special *special_at(const struct ac_tokenizer *tok,
					const uint8_t *p, size_t n,
					unsigned flags)
{
	uint32_t end = tok->special_at[p[0] + 1];

	for (uint32_t i = tok->special_at[p[0]]; i < end; i++) {
		const struct special *s = &tok->specials[i];

		if (s->control && !(flags & AC_TOK_PARSE_SPECIAL))
			continue;
		if (s->len <= n && !memcmp(s->text, p, s->len))
			return s;
	}
	return NULL;
}

static int encode_text(struct enc *e, const uint8_t *p, size_t n)
{
	const struct ac_tokenizer *tok = e->tok;
	size_t start = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		const struct special *s;

		if (tok->special_at[p[i]] == tok->special_at[p[i] + 1])
			continue;
		s = special_at(tok, p + i, n - i, e->flags);
		if (!s)
			continue;
		rc = tok_pretok_split(&tok->pre, e->md, p + start, i - start,
				      bpe_piece, e);
		if (rc)
			return rc;
		emit(e, s->id);
		i += s->len - 1;
		start = i + 1;
	}
	return tok_pretok_split(&tok->pre, e->md, p + start, n - start,
				bpe_piece, e);
}

int ac_tokenizer_encode(const struct ac_tokenizer *tok, const char *text,
			size_t len, unsigned flags, int32_t *ids, size_t cap,
			size_t *n_out)
{
	struct enc e = { .tok = tok, .flags = flags, .ids = ids, .cap = cap };
	int rc;

	if (!tok || !n_out || (!text && len) || (!ids && cap) ||
	    (flags & ~(AC_TOK_ADD_BOS | AC_TOK_PARSE_SPECIAL |
		       AC_TOK_DROP_UNKNOWN)))
		return -EINVAL;
	*n_out = 0;
	if ((flags & AC_TOK_ADD_BOS) && tok->bos >= 0)
		emit(&e, tok->bos);
	if (len) {
		e.md = pcre2_match_data_create(1, NULL);
		if (!e.md)
			return -ENOMEM;
		rc = encode_text(&e, (const uint8_t *)text, len);
		pcre2_match_data_free(e.md);
		free(e.sym);
		free(e.next);
		free(e.prev);
		free(e.heap);
		if (rc)
			return rc;
	}
	*n_out = e.n;
	return e.n > cap ? -ENOSPC : 0;
}

size_t ac_tokenizer_unknown_byte(const struct ac_tokenizer *tok,
				 const char *text, size_t len, unsigned flags)
{
	const uint8_t *p = (const uint8_t *)text;

	if (!tok || !text)
		return len;
	for (size_t i = 0; i < len; i++) {
		const struct special *s;

		if (tok->special_at[p[i]] != tok->special_at[p[i] + 1] &&
		    (s = special_at(tok, p + i, len - i, flags))) {
			i += s->len - 1;
			continue;
		}
		if (tok->byte_tok[p[i]] < 0)
			return i;
	}
	return len;
}
