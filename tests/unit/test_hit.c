/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/* Unit tests of hit.c: JSON escaping, UTF-8 repair, dates, the line. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hit.h"
#include "tap.h"

static const char *
esc(const char *s, size_t len, int *bad)
{
	static struct buf b;

	buf_release(&b);
	buf_init(&b, 0);
	*bad = hit_json_string(&b, s, len);
	return buf_str(&b);
}

/* Decode a JSON string literal with jansson; NULs allowed. */
static int
decodes_to(const char *lit, const char *want, size_t wantlen)
{
	json_error_t e;
	json_t *j = json_loads(lit, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	int same;

	if (j == NULL || !json_is_string(j))
		return 0;
	same = json_string_length(j) == wantlen &&
	    memcmp(json_string_value(j), want, wantlen) == 0;
	json_decref(j);
	return same;
}

int
main(void)
{
	struct conf_stream st;
	struct hit h;
	struct buf line;
	json_t *j, *schema;
	json_error_t e;
	char date[11], id[37], id2[37];
	int bad, i;
	const char all[] = "a\"b\\c\nd\re\tf\bg\fh\001i\037j\177k/l";

	is_str(esc("hello", 5, &bad), "\"hello\"", "plain ASCII");
	is_int(bad, 0, "no replacement");
	is_str(esc(all, sizeof all - 1, &bad),
	    "\"a\\\"b\\\\c\\nd\\re\\tf\\bg\\fh\\u0001i\\u001fj\177k/l\"",
	    "every escape");
	ok(decodes_to(esc(all, sizeof all - 1, &bad), all, sizeof all - 1),
	    "escaped string decodes back");
	is_str(esc("a\0b", 3, &bad), "\"a\\u0000b\"", "NUL escaped");
	ok(decodes_to(esc("a\0b", 3, &bad), "a\0b", 3), "NUL survives");
	is_str(esc("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, &bad),
	    "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"", "valid UTF-8 kept");
	is_int(bad, 0, "valid UTF-8 not counted");
	is_str(esc("a\xff" "b", 3, &bad), "\"a\xef\xbf\xbd" "b\"",
	    "invalid byte replaced");
	is_int(bad, 1, "one replacement counted");
	is_str(esc("\xc0\xaf", 2, &bad), "\"\xef\xbf\xbd\xef\xbf\xbd\"",
	    "overlong: each byte replaced");
	is_str(esc("\xed\xa0\x80", 3, &bad),
	    "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"", "surrogate replaced");
	is_str(esc("\xe2\x82", 2, &bad), "\"\xef\xbf\xbd\"",
	    "truncated sequence: one replacement");
	is_str(esc("\xe2\x82x", 3, &bad), "\"\xef\xbf\xbdx\"",
	    "broken sequence: next byte kept");
	is_str(esc("\xf4\x90\x80\x80", 4, &bad),
	    "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"",
	    "above U+10FFFF replaced");

	hit_date(1603131452000LL, 0, date);
	is_str(date, "2020-10-19", "spec example date at +00:00");
	hit_date(1603141200000LL, 0, date);		/* 21:00 UTC */
	is_str(date, "2020-10-19", "21:00 UTC is still the 19th at UTC");
	hit_date(1603141200000LL, 180, date);
	is_str(date, "2020-10-20", "21:00 UTC is the 20th at +03:00");
	hit_date(1603065600000LL, -300, date);		/* 00:00 UTC */
	is_str(date, "2020-10-18", "midnight UTC is the 18th at -05:00");

	hit_new_id(id);
	hit_new_id(id2);
	is_int(strlen(id), 36, "uuid length");
	ok(id[14] == '4', "uuid version 4");
	ok(strchr("89ab", id[19]) != NULL, "uuid variant");
	ok(strcmp(id, id2) != 0, "two ids differ");
	/* One id could pass the version and variant checks by chance. */
	for (i = 0; i < 1000; i++) {
		hit_new_id(id2);
		if (id2[8] != '-' || id2[13] != '-' || id2[14] != '4' ||
		    id2[18] != '-' || strchr("89ab", id2[19]) == NULL ||
		    id2[23] != '-')
			break;
	}
	is_int(i, 1000, "1000 ids in a row are version 4, variant 10");
	for (i = 0; id[i] != '\0'; i++)
		if (id[i] >= 'A' && id[i] <= 'F')
			break;
	ok(id[i] == '\0', "uuid lowercase");

	memset(&st, 0, sizeof st);
	st.columns[st.ncolumns++] = HIT_COL_METHOD;
	st.columns[st.ncolumns++] = HIT_COL_SIGNATURE_VALID;
	st.columns[st.ncolumns++] = HIT_COL_PAYLOAD_BASE64;
	memset(&h, 0, sizeof h);
	memcpy(h.hit_id, "83cc2a6a-4829-4410-bab4-95b680c5b8d7", 37);
	h.received_at = 1603131452000LL;
	h.payload = "orderId=N1&status=delivered&total=120.13&userId=U1";
	h.payload_len = strlen(h.payload);
	h.method = "POST";
	h.signature_valid = -1;
	buf_init(&line, 0);
	ok(hit_encode(&st, &h, &line) == 0, "encode");
	is_str(buf_str(&line), "{\"hit_id\":\"83cc2a6a-4829-4410-bab4-"
	    "95b680c5b8d7\",\"payload\":\"orderId=N1&status=delivered&total="
	    "120.13&userId=U1\",\"received_at\":1603131452000,\"date\":"
	    "\"2020-10-19\",\"method\":\"POST\",\"signature_valid\":null,"
	    "\"payload_base64\":null}\n", "the spec's example row");

	buf_reset(&line);
	h.payload = "\xff\x00\x01";
	h.payload_len = 3;
	h.signature_valid = 1;
	ok(hit_encode(&st, &h, &line) == 0, "encode binary");
	j = json_loads(buf_str(&line), JSON_ALLOW_NUL, &e);
	ok(j != NULL, "binary line is valid JSON");
	is_str(json_string_value(json_object_get(j, "payload_base64")),
	    "/wAB", "payload_base64 holds the exact bytes");
	ok(json_is_true(json_object_get(j, "signature_valid")),
	    "signature_valid true");
	json_decref(j);

	buf_release(&line);
	buf_init(&line, 40);
	ok(hit_encode(&st, &h, &line) == -1, "a capped buffer refuses");
	buf_release(&line);

	schema = hit_schema(&st);
	is_int(json_array_size(schema), 7, "schema: 4 fixed + 3 columns");
	is_str(json_string_value(json_object_get(json_array_get(schema, 0),
	    "mode")), "REQUIRED", "hit_id is REQUIRED");
	is_str(json_string_value(json_object_get(json_array_get(schema, 3),
	    "type")), "DATE", "date is a DATE");
	is_str(json_string_value(json_object_get(json_array_get(schema, 6),
	    "type")), "BYTES", "payload_base64 is BYTES");
	json_decref(schema);
	is_int(hit_column_lookup("params"), HIT_COL_PARAMS, "column lookup");
	is_int(hit_column_lookup("nope"), -1, "unknown column");
	esc("", 0, &bad);
	return tap_done();
}
