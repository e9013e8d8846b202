/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * form: the "params" column.  form_parse() turns an
 * application/x-www-form-urlencoded body or a query string into a JSON
 * object, nesting PHP-style bracket keys the way amoCRM/Kommo and Bitrix24
 * send them:
 *
 *	leads[status][0][id]=1&leads[status][0][status_id]=142
 *	-> {"leads":{"status":[{"id":"1","status_id":"142"}]}}
 *
 * Rules: '+' is a space, %XY is decoded (a malformed '%' stays literal),
 * invalid UTF-8 becomes U+FFFD, values stay strings.  "k[]" appends at
 * the next index (PHP: largest integer key + 1).  A container whose keys
 * are exactly "0".."n-1" in order becomes an array, any other stays an
 * object keyed by the digits.  A repeated key ("a=1&a=2", also
 * "a[x]=1&a[x]=2") collects its values into an array.  A key that is not
 * of the form base[seg][seg]... (no base, text after the last "]") is
 * kept as one literal key.
 *
 * The view is lossless or absent: NULL when the input cannot be
 * represented faithfully (a NUL byte in a key, a key used both as a value
 * and as a container) or is over the bounds that keep the tree small
 * (more than FORM_MAX_DEPTH brackets, more than FORM_MAX_PAIRS pairs,
 * more than FORM_MAX_BYTES of text; for a JSON body more than
 * FORM_MAX_VALUES values, counted before anything is built).  The raw
 * payload is always kept by the caller, so NULL only means "params":
 * null, never a lost hit.  Pure code: no I/O, never exits.
 */
#ifndef HS_FORM_H
#define HS_FORM_H

#include <stddef.h>

#include <jansson.h>

#define FORM_MAX_DEPTH	16
#define FORM_MAX_PAIRS	1000
#define FORM_MAX_BYTES	(1024 * 1024)
#define FORM_MAX_VALUES	20000

json_t	*form_parse(const char *, size_t);

/*
 * The params of one request: a JSON body as is (content type
 * application/json or any "+json", which may be any JSON value; or any
 * other body that parses as a JSON object or array); a form body parsed
 * (content type application/x-www-form-urlencoded, or no content type and
 * a body holding '='); for an empty body the query string parsed; NULL
 * otherwise.  content_type and query may be NULL.
 */
json_t	*form_params(const char *, const char *, size_t, const char *);

#endif
