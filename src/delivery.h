/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * delivery: the sender's own delivery id of a hit, for the delivery_id
 * column and the dedup window (spool_dedup.c).  Where it is read is set
 * per stream (conf.h, enum conf_did):
 *
 *	header:NAME		a request header
 *	json:/POINTER		an RFC 6901 pointer into the JSON body
 *	form:FIELD[+FIELD...]	top-level fields of a form body (or of the
 *				query for a GET), joined with '+'
 *	query:FIELD		a field of the query string
 *	standard-webhooks	webhook-id, else svix-id
 *	github			X-GitHub-Delivery
 *	shopify			X-Shopify-Webhook-Id
 *	stripe			the event's "id" in the JSON body
 *	auto			the preset of the stream's signature scheme
 *	off			none (the default)
 *
 * A value must be a non-empty string or an integer of at most
 * DELIVERY_MAX bytes; anything else is "missing" (the hit is kept, the
 * column is null, it is never deduplicated).  Pure code: no I/O.
 */
#ifndef HS_DELIVERY_H
#define HS_DELIVERY_H

#include <jansson.h>

#include "buf.h"
#include "conf.h"

#define DELIVERY_MAX	512

int	 delivery_parse(const char *, enum conf_did *, const char **);
int	 delivery_auto(const struct conf_stream *, enum conf_did *);
int	 delivery_needs_params(const struct conf_stream *);
int	 delivery_get(const struct conf_stream *, const json_t *,
	    const char *, const char *(*)(void *, const char *), void *,
	    struct buf *);

#endif
