/*
 * text: UTF-8 sequences and hex digits (see text.h).
 */
#include "config.h"

#include "text.h"

/*
 * Length of the valid UTF-8 sequence at p (1..4), or -(bytes to skip) for
 * an invalid one: the lead byte plus the continuation bytes that were
 * still plausible, so one U+FFFD stands for one maximal invalid subpart,
 * as Unicode recommends and browsers do.  Overlongs, surrogates and code
 * points past U+10FFFF are invalid.  avail >= 1.
 */
int
text_utf8_seq(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0];
	unsigned char lo = 0x80, hi = 0xBF;
	int need, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		need = 1;
	else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;	/* no surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;	/* <= U+10FFFF */
	} else
		return -1;
	for (i = 1; i <= need; i++) {
		if ((size_t)i >= avail || p[i] < lo || p[i] > hi)
			return -i;
		lo = 0x80;
		hi = 0xBF;
	}
	return need + 1;
}

/*
 * Append s[0..len) to b as valid UTF-8, each invalid subpart replaced by
 * U+FFFD.  Returns the number of replacements, or -1 at b's cap.
 */
int
text_utf8_repair(struct buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	const unsigned char *run;
	int n, bad = 0;

	while (p < end) {
		for (run = p; p < end && *p < 0x80; p++)
			;
		if (p > run && buf_add(b, run, (size_t)(p - run)) == -1)
			return -1;
		if (p == end)
			break;
		n = text_utf8_seq(p, (size_t)(end - p));
		if (n > 0) {
			if (buf_add(b, p, (size_t)n) == -1)
				return -1;
			p += n;
		} else {
			if (buf_add(b, "\xEF\xBF\xBD", 3) == -1)
				return -1;
			p += -n;
			bad++;
		}
	}
	return bad;
}

int
text_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
