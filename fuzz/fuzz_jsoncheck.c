/*
 * libFuzzer target for jsoncheck.c, differential: for any bytes, the
 * hand-written validator must agree with jansson on whether they are a hit
 * record (json_loadb with JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, an
 * object, a non-empty string "hit_id").  A disagreement aborts.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "jsoncheck.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

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
	if (by_us != by_jansson)
		abort();
	return 0;
}
