/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * hit_columns: the columns of a hit line, in the order of the line, with
 * the BigQuery type and mode of each.  The config names optional columns
 * by these names and the uploader builds its schema from them.  Stands
 * alone (no other module's header) so that conf and hit do not include
 * each other.  Pure data.
 */
#ifndef HS_HIT_COLUMNS_H
#define HS_HIT_COLUMNS_H

enum hit_col {
	HIT_COL_HIT_ID,
	HIT_COL_PAYLOAD,
	HIT_COL_RECEIVED_AT,
	HIT_COL_DATE,
	HIT_COL_METHOD,
	HIT_COL_CONTENT_TYPE,
	HIT_COL_QUERY,
	HIT_COL_REMOTE_ADDR,
	HIT_COL_USER_AGENT,
	HIT_COL_HEADERS,
	HIT_COL_PARAMS,
	HIT_COL_SIGNATURE_VALID,
	HIT_COL_PAYLOAD_BASE64,
	HIT_COL_DELIVERY_ID,
	HIT_COL_COUNT
};
/* The hit_id column: a lowercase UUID v4 as text, and its NUL. */
#define HIT_ID_LEN	37
#define HIT_COL_FIXED 4		/* the first four are always present */

struct hit_column {
	const char	*name;
	const char	*bq_type;	/* STRING, INTEGER, DATE, JSON, ... */
	const char	*bq_mode;	/* REQUIRED or NULLABLE */
};
extern const struct hit_column hit_columns[HIT_COL_COUNT];

/* The column's enum value, or -1 for an unknown name. */
int	 hit_column_lookup(const char *);

#endif
