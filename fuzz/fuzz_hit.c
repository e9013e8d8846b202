/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * libFuzzer target for the line encoder (hit.c).  For any bytes: the line
 * is one valid JSON object ending in '\n'; its payload decodes to the input
 * when the input was valid UTF-8, and payload_base64 holds the exact bytes
 * otherwise.  Any breach aborts.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "hit.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_stream st;
	struct hit h;
	struct buf b;
	json_t *j, *p, *b64;
	json_error_t e;
	unsigned char *raw;
	int n;

	memset(&st, 0, sizeof st);
	st.columns[st.ncolumns++] = HIT_COL_PAYLOAD_BASE64;
	memset(&h, 0, sizeof h);
	hit_new_id(h.hit_id);
	h.received_at = 1603131452000LL;
	h.payload = (const char *)data;
	h.payload_len = size;
	h.signature_valid = -1;
	buf_init(&b, 0);
	if (hit_encode(&st, &h, &b) != 0)
		abort();
	if (b.len == 0 || b.data[b.len - 1] != '\n' ||
	    memchr(b.data, '\n', b.len) != b.data + b.len - 1)
		abort();
	j = json_loadb(b.data, b.len - 1, JSON_ALLOW_NUL, &e);
	if (j == NULL || !json_is_object(j))
		abort();
	p = json_object_get(j, "payload");
	b64 = json_object_get(j, "payload_base64");
	if (!json_is_string(p))
		abort();
	if (json_is_null(b64)) {
		/* Valid input: the payload is the input itself. */
		if (json_string_length(p) != size ||
		    memcmp(json_string_value(p), data, size) != 0)
			abort();
	} else {
		raw = malloc(json_string_length(b64) + 4);
		n = EVP_DecodeBlock(raw, (const unsigned char *)
		    json_string_value(b64), (int)json_string_length(b64));
		/* DecodeBlock counts the padding bytes as data. */
		while (n > 0 && (size_t)n > size)
			n--;
		if ((size_t)n != size || memcmp(raw, data, size) != 0)
			abort();
		free(raw);
	}
	json_decref(j);
	buf_release(&b);
	return 0;
}
