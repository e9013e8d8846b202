/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * libFuzzer target for tz.c: the input as a TZif file; when it parses,
 * offsets at instants around every transition and far past the last one
 * (the footer rule) must stay within a day.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "tz.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int64_t when[] = { INT32_MIN, -1, 0, 1, 1711846800,
		2147483647, 4102444800, 253402300799 };
	struct tz *z;
	size_t i;
	int32_t off;

	if ((z = tz_parse(data, size)) == NULL)
		return 0;
	for (i = 0; i < sizeof when / sizeof when[0]; i++) {
		off = tz_offset(z, when[i]);
		if (off <= -26 * 3600 || off >= 26 * 3600)
			abort();
	}
	tz_free(z);
	return 0;
}
