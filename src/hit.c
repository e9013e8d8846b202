/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * hit: a request -> one NDJSON line, and its BigQuery schema.
 *
 * hit_json_string() is the hot path: it copies runs of plain bytes in bulk,
 * escapes what JSON requires and replaces each invalid UTF-8 sequence (its
 * maximal valid prefix, as Unicode recommends) with U+FFFD.  It is fuzzed
 * (fuzz/fuzz_hit.c).  Everything here is pure: no I/O, no locks.
 */
#include "config.h"

#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <uuid/uuid.h>

#include "hit.h"
#include "text.h"
#include "xmalloc.h"

void
hit_new_id(char out[HIT_ID_LEN])
{
	uuid_t u;

	/*
	 * A version 4 UUID from OpenSSL's per-thread DRBG: libuuid's
	 * uuid_generate_random also re-seeds and stirs libc's random()
	 * under its global lock on every call, 3x the time per id.
	 */
	if (RAND_bytes(u, sizeof u) != 1)
		uuid_generate_random(u);
	else {
		u[6] = (u[6] & 0x0f) | 0x40;
		u[8] = (u[8] & 0x3f) | 0x80;
	}
	uuid_unparse_lower(u, out);
}

int64_t
hit_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The receipt date at the stream's offset, "YYYY-MM-DD". */
void
hit_date(int64_t ms, int offset_min, char out[11])
{
	hit_date_tz(ms, NULL, offset_min, out);
}

/* The same in a zone (its offset at that instant) when tz is set. */
void
hit_date_tz(int64_t ms, const struct tz *tz, int offset_min, char out[11])
{
	int64_t secs = ms / 1000 - (ms % 1000 < 0 ? 1 : 0);
	time_t t = (time_t)(secs + (tz != NULL ? tz_offset(tz, secs) :
	    (int64_t)offset_min * 60));
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

/* Bytes that can be copied verbatim into a JSON string. */
static const unsigned char hit_plain[256] = {
#define P16 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
	/* 0x00-0x1f: control characters */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 1, 0 /* " */, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,	/* 0x20 */
	P16,							/* 0x30 */
	P16,							/* 0x40 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 /* \ */, 1, 1, 1,	/* 0x50 */
	P16,							/* 0x60 */
	P16,							/* 0x70 */
	/* 0x80-0xff: 0, checked as UTF-8 */
#undef P16
};

/*
 * Append s[0..len) as a quoted JSON string.  Returns the number of invalid
 * UTF-8 sequences replaced (0 when the input was valid), or -1 when the
 * buffer cap was reached.
 */
int
hit_json_string(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + len, *run;
	char esc[6];
	int n, bad = 0;

	/* Worst case grows 6x; reserve the common case up front. */
	if (buf_reserve(b, len + 2) == -1 || buf_addc(b, '"') == -1)
		return -1;
	while (p < end) {
		run = p;
		while (p < end && hit_plain[*p])
			p++;
		if (p > run && buf_add(b, run, (size_t)(p - run)) == -1)
			return -1;
		if (p == end)
			break;
		if (*p >= 0x80) {
			if ((n = text_utf8_put(b, &p, end)) == -1)
				return -1;
			bad += n;
			continue;
		}
		esc[0] = '\\';
		switch (*p) {
		case '"':
		case '\\':
			esc[1] = (char)*p;
			n = 2;
			break;
		case '\n':
			esc[1] = 'n';
			n = 2;
			break;
		case '\r':
			esc[1] = 'r';
			n = 2;
			break;
		case '\t':
			esc[1] = 't';
			n = 2;
			break;
		case '\b':
			esc[1] = 'b';
			n = 2;
			break;
		case '\f':
			esc[1] = 'f';
			n = 2;
			break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 0xf];
			n = 6;
			break;
		}
		if (buf_add(b, esc, (size_t)n) == -1)
			return -1;
		p++;
	}
	if (buf_addc(b, '"') == -1)
		return -1;
	return bad;
}

static int
hit_opt_string(struct buf *b, const char *s)
{
	if (s == NULL)
		return buf_adds(b, "null");
	return hit_json_string(b, s, strlen(s)) < 0 ? -1 : 0;
}

static int
hit_headers(struct buf *b, const struct hit *h)
{
	size_t i;

	if (buf_addc(b, '{') == -1)
		return -1;
	for (i = 0; i < h->nheaders; i++) {
		if (i > 0 && buf_addc(b, ',') == -1)
			return -1;
		if (hit_json_string(b, h->headers[i].name,
		    strlen(h->headers[i].name)) < 0 || buf_addc(b, ':') == -1 ||
		    hit_json_string(b, h->headers[i].value,
		    strlen(h->headers[i].value)) < 0)
			return -1;
	}
	return buf_addc(b, '}');
}

static int
hit_json_value(struct buf *b, const json_t *v)
{
	char *text;
	int rc;

	if (v == NULL)
		return buf_adds(b, "null");
	text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY |
	    JSON_REAL_PRECISION(15));
	if (text == NULL)
		return buf_adds(b, "null");
	rc = buf_adds(b, text);
	free(text);
	return rc;
}

static int
hit_base64(struct buf *b, const char *s, size_t len)
{
	size_t out = 4 * ((len + 2) / 3);

	if (buf_addc(b, '"') == -1 || buf_reserve(b, out + 1) == -1)
		return -1;
	/* EVP_EncodeBlock takes an int length: encode in slices. */
	while (len > 0) {
		size_t n = len > 3 * 1024 * 1024 ? 3 * 1024 * 1024 : len;

		if (buf_reserve(b, 4 * ((n + 2) / 3) + 1) == -1)
			return -1;
		b->len += (size_t)EVP_EncodeBlock(
		    (unsigned char *)b->data + b->len,
		    (const unsigned char *)s, (int)n);
		s += n;
		len -= n;
	}
	return buf_addc(b, '"');
}

/*
 * The NDJSON line for a hit, '\n' included, appended to b.  Returns 0, or
 * -1 when b's cap was reached (the caller answers 413 or 503).
 */
int
hit_encode(const struct conf_stream *st, const struct hit *h, struct buf *b)
{
	char date[11];
	size_t i;
	int bad, rc = 0;

	hit_date_tz(h->received_at, h->tz, h->utc_offset, date);
	if (buf_adds(b, "{\"hit_id\":\"") == -1 ||
	    buf_adds(b, h->hit_id) == -1 ||
	    buf_adds(b, "\",\"payload\":") == -1 ||
	    (bad = hit_json_string(b, h->payload, h->payload_len)) < 0 ||
	    buf_addf(b, ",\"received_at\":%lld,\"date\":\"%s\"",
	    (long long)h->received_at, date) == -1)
		return -1;
	for (i = 0; i < (st != NULL ? st->ncolumns : 0) && rc == 0; i++) {
		if (buf_addc(b, ',') == -1 || buf_addc(b, '"') == -1 ||
		    buf_adds(b, hit_columns[st->columns[i]].name) == -1 ||
		    buf_adds(b, "\":") == -1)
			return -1;
		switch (st->columns[i]) {
		case HIT_COL_METHOD:
			rc = hit_opt_string(b, h->method);
			break;
		case HIT_COL_CONTENT_TYPE:
			rc = hit_opt_string(b, h->content_type);
			break;
		case HIT_COL_QUERY:
			rc = hit_opt_string(b, h->query);
			break;
		case HIT_COL_REMOTE_ADDR:
			rc = hit_opt_string(b, h->remote_addr);
			break;
		case HIT_COL_USER_AGENT:
			rc = hit_opt_string(b, h->user_agent);
			break;
		case HIT_COL_HEADERS:
			rc = hit_headers(b, h);
			break;
		case HIT_COL_PARAMS:
			rc = hit_json_value(b, h->params);
			break;
		case HIT_COL_SIGNATURE_VALID:
			rc = buf_adds(b, h->signature_valid < 0 ? "null" :
			    h->signature_valid ? "true" : "false");
			break;
		case HIT_COL_PAYLOAD_BASE64:
			if (bad == 0)
				rc = buf_adds(b, "null");
			else
				rc = hit_base64(b, h->payload, h->payload_len);
			break;
		case HIT_COL_DELIVERY_ID:
			rc = h->delivery_id == NULL ? buf_adds(b, "null") :
			    hit_json_string(b, h->delivery_id,
			    h->delivery_id_len) < 0 ? -1 : 0;
			break;
		default:
			rc = buf_adds(b, "null");
			break;
		}
	}
	if (rc == -1 || buf_adds(b, "}\n") == -1)
		return -1;
	return 0;
}

/* The BigQuery schema (TableSchema.fields) for a stream's line. */
json_t *
hit_schema(const struct conf_stream *st)
{
	json_t *fields = json_array();
	size_t i;
	int col;

	for (i = 0; i < HIT_COL_FIXED + (st != NULL ? st->ncolumns : 0); i++) {
		col = i < HIT_COL_FIXED ? (int)i :
		    st->columns[i - HIT_COL_FIXED];
		json_array_append_new(fields, json_pack("{s:s, s:s, s:s}",
		    "name", hit_columns[col].name,
		    "type", hit_columns[col].bq_type,
		    "mode", hit_columns[col].bq_mode));
	}
	return fields;
}
