/* SPDX-License-Identifier: MIT */
/*
 * Byte-level BPE spells every byte as a printable code point so that
 * vocabulary strings never hold spaces, controls or broken UTF-8: bytes
 * that already print as Latin-1 stand for themselves, the other 68 take
 * U+0100 upwards in byte order (space becomes U+0120 'Ġ').
 */
#include "tok-internal.h"

static bool prints_as_itself(unsigned b)
{
	return (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) ||
	       (b >= 0xae && b <= 0xff);
}

void tok_byte_map(uint16_t cp_of_byte[256])
{
	unsigned next = 256;

	for (unsigned b = 0; b < 256; b++)
		cp_of_byte[b] = prints_as_itself(b) ? b : next++;
}

/*
 * Vocabulary strings come from a model file and may be malformed; an
 * invalid byte is reported as -1 and skipped, so a caller can keep it raw.
 */
int32_t tok_utf8_next(const uint8_t **pp, const uint8_t *end)
{
	/* The smallest code point each length may spell: no overlongs. */
	static const uint32_t min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	const uint8_t *p = *pp;
	unsigned len = tok_utf8_len(p[0]);
	uint32_t cp;

	if (len == 1) {
		*pp = p + 1;
		return p[0];
	}
	if (!len || (size_t)(end - p) < len)
		goto bad;
	cp = p[0] & (0x7fu >> len);
	for (unsigned i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			goto bad;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		goto bad;
	*pp = p + len;
	return cp;
bad:
	*pp = p + 1;
	return -1;
}
