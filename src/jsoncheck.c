/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * jsoncheck: is a line a hit record?  The uploader validates every line of
 * every batch before a load job carries it; building a jansson tree per
 * line made that 12x slower than the upload itself (bench/UPLOAD.md), so
 * this is a single pass over the bytes that builds nothing.  Its verdict
 * is jansson's (json_loadb with JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
 * an object, a non-empty string "hit_id"): RFC 8259 grammar, strict UTF-8,
 * \u escapes with paired surrogates, no NUL in keys, integers within
 * int64, finite reals, at most 2048 levels, no duplicate key in any object.
 * One deliberate difference: a raw NUL byte right after a number or literal,
 * which jansson's lexer skips, is invalid here, as RFC 8259 (and BigQuery)
 * have it.  fuzz/fuzz_jsoncheck.c compares the two verdicts.  Pure; never
 * exits.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "jsoncheck.h"
#include "text.h"
#include "xmalloc.h"

#define JSONCHECK_MAX_DEPTH	2048	/* jansson's JSON_PARSER_MAX_DEPTH */

struct jsoncheck {
	const unsigned char *p, *e;
	int		 depth;
};

/* One decoded key: a slice of the line when it has no escape. */
struct jsoncheck_key {
	const unsigned char *s;
	size_t		 n;
	char		*dec;	/* decoded copy when it had escapes */
};

static void
jsoncheck_ws(struct jsoncheck *f)
{
	while (f->p < f->e && (*f->p == ' ' || *f->p == '\t' ||
	    *f->p == '\n' || *f->p == '\r'))
		f->p++;
}

/* Four hex digits at p. */
static int
jsoncheck_hex4(const unsigned char *p, unsigned *v)
{
	unsigned i, x = 0;
	int d;

	for (i = 0; i < 4; i++) {
		if ((d = text_hexval(p[i])) == -1)
			return -1;
		x = x * 16 + (unsigned)d;
	}
	*v = x;
	return 0;
}

/* Append code point cp as UTF-8 to out (for decoded keys). */
static size_t
jsoncheck_put(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * A \u escape at p (on the backslash), with the low surrogate that must
 * follow a high one: the code point in *cp, and the bytes it takes (6 or
 * 12), or -1 when invalid.
 */
static int
jsoncheck_escape_u(const unsigned char *p, const unsigned char *e,
    unsigned *cp)
{
	unsigned u, lo;

	if (e - p < 6 || jsoncheck_hex4(p + 2, &u) == -1)
		return -1;
	if (u >= 0xdc00 && u <= 0xdfff)
		return -1;
	if (u < 0xd800 || u > 0xdbff) {
		*cp = u;
		return 6;
	}
	p += 6;
	if (e - p < 6 || p[0] != '\\' || p[1] != 'u' ||
	    jsoncheck_hex4(p + 2, &lo) == -1 || lo < 0xdc00 || lo > 0xdfff)
		return -1;
	*cp = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
	return 12;
}

/*
 * Decode the key q[0..end), which jsoncheck_string found valid, into a
 * copy: rare (a key with a backslash), so it may take a second pass.
 */
static void
jsoncheck_key_decode(struct jsoncheck_key *key, const unsigned char *q,
    const unsigned char *end)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	unsigned u;
	char *o;

	key->dec = o = xmalloc((size_t)(end - q) + 1);
	while (q < end) {
		if (*q != '\\')
			*o++ = (char)*q++;
		else if (q[1] == 'u') {
			q += jsoncheck_escape_u(q, end, &u);
			o += jsoncheck_put(o, u);
		} else {
			*o++ = to[strchr(from, q[1]) - from];
			q += 2;
		}
	}
	key->s = (const unsigned char *)key->dec;
	key->n = (size_t)(o - key->dec);
}

/*
 * Where the fast path of jsoncheck_string ends in the next JC_STEP bytes
 * at p: at '"', '\\', a control character (< 0x20) or a byte >= 0x80.
 * Returns a mask whose lowest set bit marks the first such byte (0: none);
 * that byte is the bit's index >> JC_SHIFT.  With SSE2 (every x86-64), 16
 * bytes, a bit each: one signed "less than 0x20" catches both control
 * characters and bytes >= 0x80.  Elsewhere 8, with the classic "has a byte
 * less than n" (n <= 128), whose borrow only flags bytes above a true
 * match: bit 8i+7 for byte i.
 */
#ifdef __SSE2__
#define JC_STEP		16
#define JC_SHIFT	0	/* bit i is byte i */

static uint64_t
jsoncheck_special(const unsigned char *p)
{
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);

	return (uint64_t)_mm_movemask_epi8(_mm_or_si128(
	    _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
	    _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))),
	    _mm_cmplt_epi8(x, _mm_set1_epi8(0x20))));
}
#else
#define JC_STEP		8
#define JC_SHIFT	3	/* bit 8i+7 is byte i */
#define JC_ONES		0x0101010101010101ULL
#define JC_HIGH		0x8080808080808080ULL
#define JC_LESS(x, n)	(((x) - JC_ONES * (n)) & ~(x) & JC_HIGH)

static uint64_t
jsoncheck_special(const unsigned char *p)
{
	uint64_t x;

	memcpy(&x, p, sizeof x);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	x = __builtin_bswap64(x);
#endif
	return (x & JC_HIGH) | JC_LESS(x, 0x20) |
	    JC_LESS(x ^ (JC_ONES * '"'), 1) |
	    JC_LESS(x ^ (JC_ONES * '\\'), 1);
}
#endif

/*
 * A string at f->p (on the opening quote).  With key != NULL, its decoded
 * bytes are described there (NUL refused, as jansson refuses it in keys).
 * *declen gets the decoded length.  0, or -1 when invalid.  Plain ASCII
 * goes JC_STEP bytes a step; the decoded length is the bytes taken less
 * what escapes saved.
 */
static int
jsoncheck_string(struct jsoncheck *f, struct jsoncheck_key *key, size_t *declen)
{
	const unsigned char *p = f->p + 1, *e = f->e, *start = p;
	uint64_t m;
	unsigned u;
	size_t saved = 0, len;
	int escaped = 0, n;

	for (;;) {
		while (e - p >= JC_STEP) {
			if ((m = jsoncheck_special(p)) != 0) {
				p += __builtin_ctzll(m) >> JC_SHIFT;
				goto special;
			}
			p += JC_STEP;
		}
		while (p < e && *p >= 0x20 && *p < 0x80 && *p != '"' &&
		    *p != '\\')
			p++;
		if (p >= e)
			return -1;
special:
		if (*p == '"')
			break;
		if (*p == '\\') {
			escaped = 1;
			if (p + 1 >= e)
				return -1;
			switch (p[1]) {
			case '"': case '\\': case '/': case 'b': case 'f':
			case 'n': case 'r': case 't':
				p += 2;
				saved++;
				continue;
			case 'u':
				if ((n = jsoncheck_escape_u(p, e, &u)) == -1)
					return -1;
				if (u == 0 && key != NULL)
					return -1;
				p += n;
				saved += (size_t)n - (u < 0x80 ? 1 : u < 0x800 ?
				    2 : u < 0x10000 ? 3 : 4);
				continue;
			default:
				return -1;
			}
		}
		if (*p < 0x20)
			return -1;
		/* >= 0x80: two-byte sequences (Cyrillic, Greek, ...) here. */
		if (*p >= 0xc2 && *p <= 0xdf && e - p >= 2 &&
		    (p[1] & 0xc0) == 0x80) {
			p += 2;
			continue;
		}
		if ((n = text_utf8_seq(p, (size_t)(e - p))) <= 0)
			return -1;
		p += n;
	}
	len = (size_t)(p - start) - saved;
	f->p = p + 1;
	if (declen != NULL)
		*declen = len;
	if (key == NULL)
		return 0;
	if (escaped)
		jsoncheck_key_decode(key, start, p);
	else {
		key->dec = NULL;
		key->s = start;
		key->n = (size_t)(p - start);
	}
	return 0;
}

/* A number: JSON grammar; integers must fit int64, reals be finite. */
static int
jsoncheck_number(struct jsoncheck *f)
{
	const unsigned char *p = f->p, *e = f->e, *s = p;
	int real = 0, neg = 0;
	uint64_t v = 0, lim;
	char tmp[512];
	double d;

	if (p < e && *p == '-') {
		neg = 1;
		p++;
	}
	if (p >= e)
		return -1;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9') {
		lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
		while (p < e && *p >= '0' && *p <= '9') {
			unsigned dg = *p - '0';

			if (v > (lim - dg) / 10)
				v = lim + 1;	/* overflow: sticky */
			else
				v = v * 10 + dg;
			p++;
		}
		if (v > lim)
			real = -1;	/* too big, unless it is a real */
	} else
		return -1;
	if (p < e && *p == '.') {
		p++;
		if (p >= e || *p < '0' || *p > '9')
			return -1;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
		real = 1;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (p >= e || *p < '0' || *p > '9')
			return -1;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
		real = 1;
	}
	if (real == -1)
		return -1;	/* jansson: "too big integer" */
	if (real == 1) {
		if ((size_t)(p - s) >= sizeof tmp)
			return -1;
		memcpy(tmp, s, (size_t)(p - s));
		tmp[p - s] = '\0';
		errno = 0;
		d = strtod(tmp, NULL);
		if (errno == ERANGE && isinf(d))
			return -1;	/* "real number overflow" */
	}
	f->p = p;
	return 0;
}

static int jsoncheck_value(struct jsoncheck *, int, int *);

/*
 * Duplicate keys.  A few keys are compared as they come; past
 * JSONCHECK_KEYS_SCAN the check waits for the closing brace and sorts the
 * keys once, so a line of a million keys costs n log n, not n^2.  Either
 * way the object is refused, so the verdict does not depend on when.
 */
#define JSONCHECK_KEYS_SCAN	16

static int
jsoncheck_keys_dup(struct jsoncheck_key *k, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i++)
		if (k[i].n == k[n - 1].n &&
		    memcmp(k[i].s, k[n - 1].s, k[n - 1].n) == 0)
			return 1;
	return 0;
}

static int
jsoncheck_key_cmp(const void *a, const void *b)
{
	const struct jsoncheck_key *x = a, *y = b;
	int c;

	c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
	if (c != 0)
		return c;
	return x->n < y->n ? -1 : x->n > y->n;
}

static int
jsoncheck_keys_sorted_dup(struct jsoncheck_key *k, size_t n)
{
	size_t i;

	qsort(k, n, sizeof *k, jsoncheck_key_cmp);
	for (i = 0; i + 1 < n; i++)
		if (k[i].n == k[i + 1].n &&
		    memcmp(k[i].s, k[i + 1].s, k[i].n) == 0)
			return 1;
	return 0;
}

/* Past an opening '{' or '[': 1 when close follows at once (empty). */
static int
jsoncheck_open(struct jsoncheck *f, unsigned char close)
{
	f->p++;
	jsoncheck_ws(f);
	if (f->p < f->e && *f->p == close) {
		f->p++;
		return 1;
	}
	return 0;
}

/*
 * After a member or an element: 1 past a ',' (another follows), 0 past
 * close (the end), -1 on anything else.
 */
static int
jsoncheck_next(struct jsoncheck *f, unsigned char close)
{
	jsoncheck_ws(f);
	if (f->p < f->e && *f->p == ',') {
		f->p++;
		jsoncheck_ws(f);
		return 1;
	}
	if (f->p < f->e && *f->p == close) {
		f->p++;
		return 0;
	}
	return -1;
}

static int
jsoncheck_object(struct jsoncheck *f, int top, int *hit_ok)
{
	struct jsoncheck_key small[8], *k = small, *nk;
	size_t n = 0, cap = 8, i, declen;
	int rc = -1, is_hit, more;

	if (jsoncheck_open(f, '}'))
		return 0;
	for (;;) {
		if (f->p >= f->e || *f->p != '"')
			goto out;
		if (n == cap) {
			nk = xreallocarray(NULL, 2 * cap, sizeof *nk);
			memcpy(nk, k, n * sizeof *k);
			if (k != small)
				free(k);
			k = nk;
			cap *= 2;
		}
		if (jsoncheck_string(f, &k[n], NULL) == -1)
			goto out;
		n++;
		if (n <= JSONCHECK_KEYS_SCAN && jsoncheck_keys_dup(k, n))
			goto out;
		jsoncheck_ws(f);
		if (f->p >= f->e || *f->p != ':')
			goto out;
		f->p++;
		jsoncheck_ws(f);
		is_hit = top && k[n - 1].n == 6 &&
		    memcmp(k[n - 1].s, "hit_id", 6) == 0;
		if (is_hit && f->p < f->e && *f->p == '"') {
			if (jsoncheck_string(f, NULL, &declen) == -1)
				goto out;
			*hit_ok = declen > 0;
		} else {
			if (is_hit)
				*hit_ok = 0;
			if (jsoncheck_value(f, 0, NULL) == -1)
				goto out;
		}
		if ((more = jsoncheck_next(f, '}')) == 1)
			continue;
		if (more == 0 && (n <= JSONCHECK_KEYS_SCAN ||
		    !jsoncheck_keys_sorted_dup(k, n)))
			rc = 0;
		goto out;
	}
out:
	for (i = 0; i < n; i++)
		free(k[i].dec);
	if (k != small)
		free(k);
	return rc;
}

/* true, false or null at f->p: 0 past it, or -1. */
static int
jsoncheck_literal(struct jsoncheck *f, const char *word, size_t len)
{
	if ((size_t)(f->e - f->p) < len || memcmp(f->p, word, len) != 0)
		return -1;
	f->p += len;
	return 0;
}

static int
jsoncheck_value(struct jsoncheck *f, int top, int *hit_ok)
{
	int rc;

	if (f->p >= f->e)
		return -1;
	switch (*f->p) {
	case '{':
		if (++f->depth > JSONCHECK_MAX_DEPTH)
			return -1;
		rc = jsoncheck_object(f, top, hit_ok);
		f->depth--;
		return rc;
	case '[':
		if (++f->depth > JSONCHECK_MAX_DEPTH)
			return -1;
		if (!jsoncheck_open(f, ']')) {
			do {
				if (jsoncheck_value(f, 0, NULL) == -1)
					return -1;
			} while ((rc = jsoncheck_next(f, ']')) == 1);
			if (rc == -1)
				return -1;
		}
		f->depth--;
		return 0;
	case '"':
		return jsoncheck_string(f, NULL, NULL);
	case 't':
		return jsoncheck_literal(f, "true", 4);
	case 'f':
		return jsoncheck_literal(f, "false", 5);
	case 'n':
		return jsoncheck_literal(f, "null", 4);
	default:
		return jsoncheck_number(f);
	}
}

/*
 * NULL when the line (without its '\n') is a hit record, else why not, in
 * the words validation has always used: "not valid JSON", "not a JSON
 * object", "no hit_id".
 */
const char *
jsoncheck_hit_line(const char *p, size_t len)
{
	struct jsoncheck f;
	int hit_ok = 0, object;

	f.p = (const unsigned char *)p;
	f.e = f.p + len;
	f.depth = 0;
	jsoncheck_ws(&f);
	object = f.p < f.e && *f.p == '{';
	if (jsoncheck_value(&f, object, &hit_ok) == -1)
		return "not valid JSON";
	jsoncheck_ws(&f);
	if (f.p != f.e)
		return "not valid JSON";
	if (!object)
		return "not a JSON object";
	return hit_ok ? NULL : "no hit_id";
}
