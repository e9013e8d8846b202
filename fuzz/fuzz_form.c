/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * libFuzzer target for form.c: the input as a form body or query string,
 * and through form_params() under each kind of content type.  Whatever
 * comes back must dump as JSON.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "form.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *ctypes[] = {
	NULL, "", "application/json", "application/x-www-form-urlencoded",
	"text/plain", "application/vnd.api+json; charset=utf-8"
};

static void
dump(json_t *j)
{
	char *s;

	if (j == NULL)
		return;
	if ((s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		abort();
	free(s);
	json_decref(j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *ct;
	char *s;

	dump(form_parse((const char *)data, size));
	if (size == 0)
		return 0;
	ct = ctypes[data[0] % (sizeof(ctypes) / sizeof(ctypes[0]))];
	dump(form_params(ct, (const char *)data + 1, size - 1, NULL));
	/* The query of a request without a body is a C string. */
	s = malloc(size);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	dump(form_params(ct, "", 0, s));
	free(s);
	return 0;
}
