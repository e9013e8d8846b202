/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/* hit_columns: the column table (see hit_columns.h). */
#include "config.h"

#include <string.h>

#include "hit_columns.h"

/* The order of this table is the order of the enum and of the line. */
const struct hit_column hit_columns[HIT_COL_COUNT] = {
	{ "hit_id", "STRING", "REQUIRED" },
	{ "payload", "STRING", "NULLABLE" },
	{ "received_at", "INTEGER", "NULLABLE" },
	{ "date", "DATE", "NULLABLE" },
	{ "method", "STRING", "NULLABLE" },
	{ "content_type", "STRING", "NULLABLE" },
	{ "query", "STRING", "NULLABLE" },
	{ "remote_addr", "STRING", "NULLABLE" },
	{ "user_agent", "STRING", "NULLABLE" },
	{ "headers", "JSON", "NULLABLE" },
	{ "params", "JSON", "NULLABLE" },
	{ "signature_valid", "BOOLEAN", "NULLABLE" },
	{ "payload_base64", "BYTES", "NULLABLE" },
	{ "delivery_id", "STRING", "NULLABLE" },
};

int
hit_column_lookup(const char *name)
{
	int i;

	for (i = 0; i < HIT_COL_COUNT; i++)
		if (strcmp(hit_columns[i].name, name) == 0)
			return i;
	return -1;
}
