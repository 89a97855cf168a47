/* SPDX-License-Identifier: MIT */
/* Token ids back to bytes, whole or streamed. */
#include <errno.h>
#include <string.h>

#include "tok-internal.h"

static bool valid_id(const struct ac_tokenizer *tok, int32_t id)
{
	return id >= 0 && (uint32_t)id < tok->n_vocab;
}

static size_t token_out(const struct ac_tokenizer *tok, int32_t id,
			unsigned flags, const char **p)
{
	if ((flags & AC_TOK_SKIP_SPECIAL) && tok->types[id] == AC_TOKEN_CONTROL)
		return 0;
	*p = tok->bytes + tok->bytes_off[id];
	return tok->bytes_off[id + 1] - tok->bytes_off[id];
}

int ac_tokenizer_token_bytes(const struct ac_tokenizer *tok, int32_t id,
			     const char **bytes, size_t *len)
{
	if (!tok || !bytes || !len || !valid_id(tok, id))
		return -EINVAL;
	*len = token_out(tok, id, 0, bytes);
	return 0;
}

int ac_tokenizer_decode(const struct ac_tokenizer *tok, const int32_t *ids,
			size_t n, unsigned flags, char *out, size_t cap,
			size_t *n_out)
{
	size_t at = 0;

	if (!tok || !n_out || (!ids && n) || (!out && cap) ||
	    (flags & ~AC_TOK_SKIP_SPECIAL))
		return -EINVAL;
	*n_out = 0;
	for (size_t i = 0; i < n; i++)
		if (!valid_id(tok, ids[i]))
			return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		const char *p = NULL;
		size_t len = token_out(tok, ids[i], flags, &p);

		if (len && at < cap)
			memcpy(out + at, p, len < cap - at ? len : cap - at);
		at += len;
	}
	*n_out = at;
	return at > cap ? -ENOSPC : 0;
}

/*
 * How many bytes at the end of @p[0..n) are the start of a UTF-8 character
 * that more bytes could still complete. A sequence already broken, or a
 * lead byte that no sequence may have, gives 0: holding it back would
 * gain nothing.
 */
static size_t incomplete_tail(const uint8_t *p, size_t n)
{
	for (size_t back = 1; back <= 3 && back <= n; back++) {
		uint8_t lead = p[n - back];
		size_t need;

		if ((lead & 0xc0) == 0x80)
			continue;
		need = tok_utf8_len(lead);
		if (!need || back >= need)
			return 0;
		/*
		 * The second byte's range depends on the lead: no overlongs,
		 * surrogates or code points past U+10FFFF.
		 */
		if (back >= 2) {
			uint8_t c = p[n - back + 1];
			uint8_t lo = lead == 0xe0 ? 0xa0 : lead == 0xf0 ? 0x90 : 0x80;
			uint8_t hi = lead == 0xed ? 0x9f : lead == 0xf4 ? 0x8f : 0xbf;

			if (c < lo || c > hi)
				return 0;
		}
		return back;
	}
	return 0;
}

void ac_detok_stream_init(struct ac_detok_stream *s, unsigned flags)
{
	memset(s, 0, sizeof(*s));
	s->flags = flags;
}

int ac_detok_stream_push(struct ac_detok_stream *s,
			 const struct ac_tokenizer *tok, int32_t id,
			 char *out, size_t cap, size_t *n_out)
{
	const char *p = NULL;
	size_t len, total, hold;

	if (!s || !tok || !n_out || (!out && cap) || !valid_id(tok, id) ||
	    s->n_pend > 3)
		return -EINVAL;
	*n_out = 0;
	len = token_out(tok, id, s->flags, &p);
	if (!len)
		return 0;
	total = s->n_pend + len;
	if (total > cap)
		return -ENOSPC;
	memcpy(out, s->pend, s->n_pend);
	memcpy(out + s->n_pend, p, len);
	hold = incomplete_tail((const uint8_t *)out, total);
	memcpy(s->pend, out + total - hold, hold);
	s->n_pend = hold;
	*n_out = total - hold;
	return 0;
}

int ac_detok_stream_flush(struct ac_detok_stream *s, char *out, size_t cap,
			  size_t *n_out)
{
	if (!s || !n_out || (!out && cap) || s->n_pend > 3)
		return -EINVAL;
	*n_out = 0;
	if (s->n_pend > cap)
		return -ENOSPC;
	if (s->n_pend)
		memcpy(out, s->pend, s->n_pend);
	*n_out = s->n_pend;
	s->n_pend = 0;
	return 0;
}
