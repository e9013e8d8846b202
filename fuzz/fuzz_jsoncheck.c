/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * libFuzzer target for jsoncheck.c, differential: for any bytes, the
 * hand-written validator must agree with jansson on whether they are a hit
 * record (json_loadb with JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, an
 * object, a non-empty string "hit_id").  A disagreement aborts, but one:
 * jansson's lexer swallows a raw NUL byte right after a number or a literal
 * (it puts the byte back and then refills from the input, skipping it), so
 * it accepts '{"hit_id":"x","n":1<NUL>}'.  RFC 8259 has no such thing and
 * BigQuery would refuse the line, so jsoncheck rejects it (the line goes to
 * corrupt/, not into a load job that fails).  Tolerated: jansson accepts,
 * jsoncheck rejects, the bytes hold a NUL, and without their NUL bytes
 * (which gives jansson the same tokens) jsoncheck accepts them.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jsoncheck.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
accepted_without_nul(const uint8_t *data, size_t size)
{
	char *b;
	size_t i, n = 0;
	int ok;

	if ((b = malloc(size + 1)) == NULL)
		abort();
	for (i = 0; i < size; i++)
		if (data[i] != '\0')
			b[n++] = (char)data[i];
	ok = jsoncheck_hit_line(b, n) == NULL;
	free(b);
	return ok;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j, *id;
	json_error_t e;
	int by_jansson = 0, by_us;

	j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES |
	    JSON_ALLOW_NUL, &e);
	if (j != NULL) {
		by_jansson = json_is_object(j) &&
		    (id = json_object_get(j, "hit_id")) != NULL &&
		    json_is_string(id) && json_string_length(id) > 0;
		json_decref(j);
	}
	by_us = jsoncheck_hit_line((const char *)data, size) == NULL;
	if (by_us != by_jansson && !(by_jansson && !by_us &&
	    memchr(data, 0, size) != NULL && accepted_without_nul(data, size)))
		abort();
	return 0;
}
