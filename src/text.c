/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * text: UTF-8 sequences, percent-decoding and hex digits (see text.h).
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
 * Append the sequence at *pp (p < end, a byte >= 0x80) to b, or U+FFFD for
 * its invalid subpart, and step *pp past it.  Returns 0, 1 when replaced,
 * or -1 at b's cap.
 */
int
text_utf8_put(struct buf *b, const unsigned char **pp,
    const unsigned char *end)
{
	const unsigned char *p = *pp;
	int n;

	n = text_utf8_seq(p, (size_t)(end - p));
	if (n > 0) {
		if (buf_add(b, p, (size_t)n) == -1)
			return -1;
		*pp = p + n;
		return 0;
	}
	if (buf_add(b, "\xEF\xBF\xBD", 3) == -1)
		return -1;
	*pp = p - n;
	return 1;
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
		if ((n = text_utf8_put(b, &p, end)) == -1)
			return -1;
		bad += n;
	}
	return bad;
}

/*
 * Append s[0..len) to b percent-decoded; with plus, '+' is a space.  A '%'
 * not followed by two hex digits stays as it is.  0, or -1 at b's cap.
 */
int
text_pct_decode(struct buf *b, const char *s, size_t len, int plus)
{
	size_t i;
	int h, l;

	for (i = 0; i < len; i++) {
		if (s[i] == '+' && plus) {
			if (buf_addc(b, ' ') == -1)
				return -1;
		} else if (s[i] == '%' && i + 2 < len &&
		    (h = text_hexval((unsigned char)s[i + 1])) != -1 &&
		    (l = text_hexval((unsigned char)s[i + 2])) != -1) {
			if (buf_addc(b, (char)(h << 4 | l)) == -1)
				return -1;
			i += 2;
		} else if (buf_addc(b, s[i]) == -1)
			return -1;
	}
	return 0;
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
