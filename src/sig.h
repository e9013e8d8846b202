/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * sig: who may post to a stream.  Sender signatures over the raw body
 * bytes (HMAC-SHA256 with libcrypto, compared in constant time with
 * CRYPTO_memcmp) and the stream's token.
 *
 * sig_verify() checks the stream's "signature" scheme:
 *   hmac-sha256        header signature_header holds HMAC(secret, body),
 *                      hex (any case) or base64, after signature_prefix
 *                      (GitHub "sha256=" hex, Shopify and WooCommerce
 *                      base64).
 *   stripe             Stripe-Signature: t=TS,v1=HEX[,v1=HEX...], over
 *                      "TS.BODY"; any v1 may match; the secret (whsec_...)
 *                      is the key as written.
 *   standard-webhooks  webhook-id, webhook-timestamp, webhook-signature
 *                      ("v1,BASE64" separated by spaces; Svix's svix-*
 *                      names are accepted too), over "ID.TS.BODY"; the
 *                      secret is base64, after an optional "whsec_"
 *                      (as the spec's own libraries read it).
 * The timestamp of the last two must be within signature_tolerance
 * seconds of now, either way (no check when it is <= 0).  Returns 1 when
 * valid (and for a stream without a signature), 0 otherwise: a missing
 * header, a bad format, a stale timestamp, a mismatch, no secret.  The
 * reason is logged at debug level only, never the secret.
 *
 * header(ctx, name) returns a request header by its HTTP name ("Stripe-
 * Signature"), case-insensitively, or NULL.
 *
 * sig_verify_request() is sig_verify() for a whole request: a bodyless
 * one (GET, HEAD) is checked against its raw query string when the stream
 * says signature_covers = query, and is never valid otherwise, since a
 * body signature says nothing of the query that would be stored.
 * sig_methods() is the stream's methods less GET and HEAD when those can
 * only be refused (signature over the body, policy reject).
 *
 * sig_token_ok() returns 1 when the stream needs no token or the request
 * carries it: "Authorization: Bearer TOKEN", "Authorization: Basic"
 * base64(anyuser:TOKEN), or token=TOKEN in the query (percent-decoded; a
 * '+' may stand for itself or a space).  0 otherwise.  Constant time in
 * the token's contents and length.  sig_token_strip() copies a query
 * string into out without its token pairs (any pair whose decoded name is
 * "token"), every other byte as sent: 1 when it dropped one, 0 when
 * there was none, -1 when out is full.
 *
 * The parsers below are pure and exported for the fuzz targets; they
 * never read past a NUL and keep at most SIG_MAX signatures (the rest are
 * ignored).  Nothing here exits.
 */
#ifndef HS_SIG_H
#define HS_SIG_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "conf.h"

#define SIG_LEN	32		/* SHA-256 */
#define SIG_MAX	8

struct sig_list {
	size_t		 n;
	unsigned char	 v[SIG_MAX][SIG_LEN];
	const char	*ts;		/* Stripe: the t= digits as sent */
	size_t		 tslen;
};

int	sig_verify(const struct conf_stream *, const char *, size_t,
	    const char *(*)(void *, const char *), void *, time_t);
int	sig_verify_request(const struct conf_stream *, int, const char *,
	    size_t, const char *, const char *(*)(void *, const char *), void *,
	    time_t);
unsigned sig_methods(const struct conf_stream *);
int	sig_token_ok(const struct conf_stream *, const char *, const char *);
int	sig_token_strip(const char *, struct buf *);

/* "t=TS,v1=HEX,...": 0 with *t and the v1 list (maybe empty), or -1. */
int	sig_stripe_parse(const char *, long long *, struct sig_list *);
/* "v1,B64 v1,B64 ...": the v1 list (maybe empty); always 0. */
int	sig_standard_parse(const char *, struct sig_list *);
/* One generic signature after prefix (may be NULL): 0, or -1. */
int	sig_hmac_parse(const char *, const char *, enum conf_sig_encoding,
	    unsigned char [SIG_LEN]);
/* A timestamp in seconds, digits only after trimming blanks: 0, or -1. */
int	sig_parse_time(const char *, size_t, long long *);
/* Standard or URL-safe base64, padding optional: decoded length, or -1. */
ssize_t	sig_base64_decode(const char *, size_t, unsigned char *, size_t);
/* A Standard Webhooks secret, "whsec_" optional, to its key bytes: the
 * key's length (> 0), or -1 when it is not base64. */
ssize_t	sig_std_key(const char *, size_t, unsigned char *, size_t);

#endif
