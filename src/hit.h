/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * hit: one request -> one NDJSON line, and the BigQuery schema of a
 * stream's columns (the column table is hit_columns.h).  The line is always
 * valid UTF-8 JSON ending in '\n': invalid sequences in text become U+FFFD,
 * NUL and control characters are escaped, nothing is truncated.  Pure code:
 * no I/O.
 */
#ifndef HS_HIT_H
#define HS_HIT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "conf.h"
#include "hit_columns.h"
#include "tz.h"

struct hit_header {
	const char	*name;		/* as sent: "Content-Type" */
	const char	*value;
};

struct hit {
	char		 hit_id[HIT_ID_LEN];
	int64_t		 received_at;	/* ms since the epoch */
	int		 utc_offset;	/* minutes east of UTC */
	const struct tz	*tz;		/* NULL: utc_offset alone */
	const char	*payload;	/* body, or query string for GET */
	size_t		 payload_len;
	const char	*method;
	const char	*content_type;
	const char	*query;
	const char	*remote_addr;
	const char	*user_agent;
	const struct hit_header *headers;
	size_t		 nheaders;
	int		 signature_valid; /* -1: not checked */
	const json_t	*params;	/* NULL: null */
	const char	*delivery_id;	/* NULL: null */
	size_t		 delivery_id_len;
};

void	 hit_new_id(char [HIT_ID_LEN]);
int64_t	 hit_now_ms(void);
void	 hit_date(int64_t, int, char [11]);
void	 hit_date_tz(int64_t, const struct tz *, int, char [11]);
int	 hit_json_string(struct buf *, const char *, size_t);
int	 hit_encode(const struct conf_stream *, const struct hit *,
	    struct buf *);
json_t	*hit_schema(const struct conf_stream *);

#endif
