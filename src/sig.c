/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * sig: sender signatures and stream tokens (see sig.h for the contract).
 *
 * Every comparison of secret-derived bytes goes through CRYPTO_memcmp, and
 * a list of candidate signatures is always compared in full, so timing
 * tells nothing about which byte or which candidate differed.  Tokens are
 * hashed before the compare so their length does not leak either.
 */
#include "config.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "buf.h"
#include "log.h"
#include "sig.h"
#include "text.h"
#include "xmalloc.h"

#define SIG_WHSEC	"whsec_"
/* 12 digits reach past the year 33000; longer is not a timestamp. */
#define SIG_TIME_DIGITS	12

static const char *
sig_name(const struct conf_stream *st)
{
	return st->name != NULL ? st->name : "?";
}

/* Exactly 2 * SIG_LEN hex digits of any case. */
static int
sig_hex_decode(const char *s, size_t len, unsigned char out[SIG_LEN])
{
	size_t i;
	int h, l;

	if (len != 2 * SIG_LEN)
		return -1;
	for (i = 0; i < SIG_LEN; i++) {
		if ((h = text_hexval((unsigned char)s[2 * i])) == -1 ||
		    (l = text_hexval((unsigned char)s[2 * i + 1])) == -1)
			return -1;
		out[i] = (unsigned char)(h << 4 | l);
	}
	return 0;
}

static int
sig_b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

ssize_t
sig_base64_decode(const char *s, size_t len, unsigned char *out,
    size_t outlen)
{
	unsigned long acc = 0;
	size_t i, n = 0, bits = 0;
	int v;

	/* Up to two '=' at the end only. */
	for (i = 0; i < 2 && len > 0 && s[len - 1] == '='; i++)
		len--;
	if (len % 4 == 1)
		return -1;
	for (i = 0; i < len; i++) {
		if ((v = sig_b64val((unsigned char)s[i])) == -1)
			return -1;
		acc = (acc << 6 | (unsigned long)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == outlen)
				return -1;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	return (ssize_t)n;
}

ssize_t
sig_std_key(const char *secret, size_t len, unsigned char *out,
    size_t outlen)
{
	ssize_t n;

	/* The spec's libraries take the prefix as optional. */
	if (len >= strlen(SIG_WHSEC) &&
	    strncmp(secret, SIG_WHSEC, strlen(SIG_WHSEC)) == 0) {
		secret += strlen(SIG_WHSEC);
		len -= strlen(SIG_WHSEC);
	}
	if ((n = sig_base64_decode(secret, len, out, outlen)) <= 0)
		return -1;
	return n;
}

/* Drop blanks at both ends of (*s, *len). */
static void
sig_trim(const char **s, size_t *len)
{
	while (*len > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
}

int
sig_parse_time(const char *s, size_t len, long long *t)
{
	long long v = 0;
	size_t i;

	sig_trim(&s, &len);
	if (len == 0 || len > SIG_TIME_DIGITS)
		return -1;
	for (i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*t = v;
	return 0;
}

int
sig_stripe_parse(const char *hdr, long long *t, struct sig_list *l)
{
	const char *p, *e, *eq;
	size_t n;
	int have_t = 0;

	l->n = 0;
	l->ts = NULL;
	l->tslen = 0;
	for (p = hdr; *p != '\0'; p = *e == ',' ? e + 1 : e) {
		e = p + strcspn(p, ",");
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		/* Like Stripe's own libraries: items without '=' are noise. */
		if ((eq = memchr(p, '=', (size_t)(e - p))) == NULL)
			continue;
		n = (size_t)(eq - p);
		if (n == 1 && *p == 't') {
			l->ts = eq + 1;
			l->tslen = (size_t)(e - eq - 1);
			sig_trim(&l->ts, &l->tslen);
			if (have_t || sig_parse_time(l->ts, l->tslen, t) == -1)
				return -1;
			have_t = 1;
		} else if (n == 2 && memcmp(p, "v1", 2) == 0 &&
		    l->n < SIG_MAX) {
			/* A malformed v1 cannot match: skip it, keep going. */
			p = eq + 1;
			n = (size_t)(e - p);
			sig_trim(&p, &n);
			if (sig_hex_decode(p, n, l->v[l->n]) == 0)
				l->n++;
		}
	}
	return have_t ? 0 : -1;
}

int
sig_standard_parse(const char *hdr, struct sig_list *l)
{
	const char *p, *e;
	size_t n;

	l->n = 0;
	l->ts = NULL;
	l->tslen = 0;
	for (p = hdr; *p != '\0' && l->n < SIG_MAX; p = e) {
		while (*p == ' ' || *p == '\t')
			p++;
		e = p + strcspn(p, " \t");
		n = (size_t)(e - p);
		/* v1a (asymmetric) and unknown versions are not ours. */
		if (n < 3 || memcmp(p, "v1,", 3) != 0)
			continue;
		if (sig_base64_decode(p + 3, n - 3, l->v[l->n], SIG_LEN) ==
		    SIG_LEN)
			l->n++;
	}
	return 0;
}

int
sig_hmac_parse(const char *hdr, const char *prefix,
    enum conf_sig_encoding enc, unsigned char out[SIG_LEN])
{
	size_t len, plen;

	while (*hdr == ' ' || *hdr == '\t')
		hdr++;
	if (prefix != NULL && (plen = strlen(prefix)) > 0) {
		if (strncasecmp(hdr, prefix, plen) != 0)
			return -1;
		hdr += plen;
	}
	len = strlen(hdr);
	while (len > 0 && (hdr[len - 1] == ' ' || hdr[len - 1] == '\t'))
		len--;
	if (enc == CONF_SIGENC_HEX)
		return sig_hex_decode(hdr, len, out);
	return sig_base64_decode(hdr, len, out, SIG_LEN) == SIG_LEN ? 0 : -1;
}

/* HMAC-SHA256 over the concatenation of n parts. */
static int
sig_hmac(const void *key, size_t klen, const void *const *parts,
    const size_t *lens, size_t n, unsigned char out[SIG_LEN])
{
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *ctx = NULL;
	size_t i, olen = SIG_LEN;

	if (klen > INT_MAX)
		goto fail;
	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_HMAC, NULL, key, klen);
	if (pkey == NULL || (ctx = EVP_MD_CTX_new()) == NULL)
		goto fail;
	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1)
		goto fail;
	for (i = 0; i < n; i++)
		if (lens[i] > 0 &&
		    EVP_DigestSignUpdate(ctx, parts[i], lens[i]) != 1)
			goto fail;
	if (EVP_DigestSignFinal(ctx, out, &olen) != 1 || olen != SIG_LEN)
		goto fail;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return 0;
fail:
	log_warnx("sig: HMAC-SHA256 failed in libcrypto");
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return -1;
}

/* 1 when any candidate equals want; all are compared. */
static int
sig_match(const struct sig_list *l, const unsigned char want[SIG_LEN])
{
	size_t i;
	int hit = 0;

	for (i = 0; i < l->n; i++)
		hit |= CRYPTO_memcmp(l->v[i], want, SIG_LEN) == 0;
	return hit;
}

static int
sig_fresh(const struct conf_stream *st, long long t, time_t now)
{
	long long d = (long long)now - t;

	if (st->signature_tolerance <= 0)
		return 1;
	return d <= st->signature_tolerance && d >= -st->signature_tolerance;
}

static int
sig_verify_hmac(const struct conf_stream *st, const char *body, size_t len,
    const char *(*header)(void *, const char *), void *ctx)
{
	struct sig_list l;
	unsigned char want[SIG_LEN];
	const void *parts[1] = { body };
	const char *h;
	size_t lens[1] = { len };

	if (st->signature_header == NULL ||
	    (h = header(ctx, st->signature_header)) == NULL) {
		log_debug("sig: stream %s: no %s header", sig_name(st),
		    st->signature_header != NULL ? st->signature_header : "?");
		return 0;
	}
	if (sig_hmac_parse(h, st->signature_prefix, st->signature_encoding,
	    l.v[0]) == -1) {
		log_debug("sig: stream %s: malformed %s header", sig_name(st),
		    st->signature_header);
		return 0;
	}
	l.n = 1;
	if (sig_hmac(st->signature_secret, st->signature_secret_len, parts,
	    lens, 1, want) == -1)
		return 0;
	return sig_match(&l, want);
}

static int
sig_verify_stripe(const struct conf_stream *st, const char *body,
    size_t len, const char *(*header)(void *, const char *), void *ctx,
    time_t now)
{
	struct sig_list l;
	unsigned char want[SIG_LEN];
	const void *parts[3];
	size_t lens[3];
	const char *name, *h;
	long long t;

	name = st->signature_header != NULL ? st->signature_header :
	    "Stripe-Signature";
	if ((h = header(ctx, name)) == NULL) {
		log_debug("sig: stream %s: no %s header", sig_name(st), name);
		return 0;
	}
	if (sig_stripe_parse(h, &t, &l) == -1 || l.n == 0) {
		log_debug("sig: stream %s: malformed %s header", sig_name(st),
		    name);
		return 0;
	}
	if (!sig_fresh(st, t, now)) {
		log_debug("sig: stream %s: stale timestamp %lld", sig_name(st),
		    t);
		return 0;
	}
	/* Sign the digits as sent: "t=0012" signs "0012.", not "12.". */
	parts[0] = l.ts;
	lens[0] = l.tslen;
	parts[1] = ".";
	lens[1] = 1;
	parts[2] = body;
	lens[2] = len;
	if (sig_hmac(st->signature_secret, st->signature_secret_len, parts,
	    lens, 3, want) == -1)
		return 0;
	return sig_match(&l, want);
}

/* The Standard Webhooks header, or Svix's older name for it. */
static const char *
sig_std_header(const char *(*header)(void *, const char *), void *ctx,
    const char *name)
{
	char svix[32];
	const char *h;

	if ((h = header(ctx, name)) != NULL)
		return h;
	(void)snprintf(svix, sizeof(svix), "svix-%s",
	    name + strlen("webhook-"));
	return header(ctx, svix);
}

static int
sig_verify_standard(const struct conf_stream *st, const char *body,
    size_t len, const char *(*header)(void *, const char *), void *ctx,
    time_t now)
{
	struct sig_list l;
	unsigned char want[SIG_LEN], *key = NULL;
	const void *parts[5];
	size_t lens[5], klen = 0, tslen;
	const char *id, *tsh, *sh, *secret = st->signature_secret;
	long long t;
	ssize_t n;
	int ret = 0;

	if ((id = sig_std_header(header, ctx, "webhook-id")) == NULL ||
	    (tsh = sig_std_header(header, ctx, "webhook-timestamp")) == NULL ||
	    (sh = sig_std_header(header, ctx, "webhook-signature")) == NULL) {
		log_debug("sig: stream %s: missing webhook-* headers",
		    sig_name(st));
		goto out;
	}
	tslen = strlen(tsh);
	sig_trim(&tsh, &tslen);
	if (sig_parse_time(tsh, tslen, &t) == -1) {
		log_debug("sig: stream %s: malformed webhook-timestamp",
		    sig_name(st));
		goto out;
	}
	(void)sig_standard_parse(sh, &l);
	if (l.n == 0) {
		log_debug("sig: stream %s: no v1 in webhook-signature",
		    sig_name(st));
		goto out;
	}
	if (!sig_fresh(st, t, now)) {
		log_debug("sig: stream %s: stale timestamp %lld", sig_name(st),
		    t);
		goto out;
	}
	klen = st->signature_secret_len;
	key = xmalloc(klen + 1);
	if ((n = sig_std_key(secret, klen, key, klen + 1)) == -1) {
		log_debug("sig: stream %s: secret is not base64",
		    sig_name(st));
		goto out;
	}
	klen = (size_t)n;
	/* Sign the headers as sent: they are the sender's bytes. */
	parts[0] = id;
	lens[0] = strlen(id);
	parts[1] = ".";
	lens[1] = 1;
	parts[2] = tsh;
	lens[2] = tslen;
	parts[3] = ".";
	lens[3] = 1;
	parts[4] = body;
	lens[4] = len;
	if (sig_hmac(key, klen, parts, lens, 5, want) == -1)
		goto out;
	ret = sig_match(&l, want);
out:
	if (key != NULL)
		OPENSSL_cleanse(key, klen);
	free(key);
	return ret;
}

int
sig_verify(const struct conf_stream *st, const char *body, size_t len,
    const char *(*header)(void *, const char *), void *ctx, time_t now)
{
	int ok = 0;

	if (st->signature == CONF_SIG_NONE)
		return 1;
	if (st->signature_secret == NULL || st->signature_secret_len == 0) {
		log_warnx("sig: stream %s: no signature secret", sig_name(st));
		return 0;
	}
	switch (st->signature) {
	case CONF_SIG_HMAC_SHA256:
		ok = sig_verify_hmac(st, body, len, header, ctx);
		break;
	case CONF_SIG_STRIPE:
		ok = sig_verify_stripe(st, body, len, header, ctx, now);
		break;
	case CONF_SIG_STANDARD:
		ok = sig_verify_standard(st, body, len, header, ctx, now);
		break;
	case CONF_SIG_NONE:
		break;
	}
	if (!ok)
		log_debug("sig: stream %s: signature not valid", sig_name(st));
	return ok;
}

/* Compare the SHA-256 of both, so neither length nor content leaks. */
static int
sig_token_eq(const void *got, size_t glen, const char *token)
{
	unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
	unsigned int alen, blen;

	if (EVP_Digest(got, glen, a, &alen, EVP_sha256(), NULL) != 1 ||
	    EVP_Digest(token, strlen(token), b, &blen, EVP_sha256(),
	    NULL) != 1 || alen != blen)
		return 0;
	return CRYPTO_memcmp(a, b, alen) == 0;
}

static int
sig_token_auth(const char *auth, const char *token)
{
	unsigned char *dec = NULL, *colon;
	const char *scheme, *cred;
	size_t slen, clen;
	ssize_t n;
	int ok = 0;

	while (*auth == ' ' || *auth == '\t')
		auth++;
	scheme = auth;
	slen = strcspn(auth, " \t");
	cred = auth + slen;
	while (*cred == ' ' || *cred == '\t')
		cred++;
	clen = strlen(cred);
	while (clen > 0 && (cred[clen - 1] == ' ' || cred[clen - 1] == '\t'))
		clen--;
	if (slen == 6 && strncasecmp(scheme, "Bearer", 6) == 0)
		return sig_token_eq(cred, clen, token);
	if (slen != 5 || strncasecmp(scheme, "Basic", 5) != 0)
		return 0;
	dec = xmalloc(clen + 1);
	if ((n = sig_base64_decode(cred, clen, dec, clen + 1)) == -1)
		goto out;
	/* Any user name: the password is the token. */
	if ((colon = memchr(dec, ':', (size_t)n)) == NULL)
		goto out;
	ok = sig_token_eq(colon + 1, (size_t)(dec + n - colon - 1), token);
out:
	OPENSSL_cleanse(dec, clen + 1);
	free(dec);
	return ok;
}

/* Is the name of the pair [p, amp) "token", once percent-decoded? */
static int
sig_token_pair(const char *p, const char *amp, struct buf *b)
{
	const char *eq;

	if ((eq = memchr(p, '=', (size_t)(amp - p))) == NULL)
		eq = amp;
	buf_reset(b);
	return text_pct_decode(b, p, (size_t)(eq - p), 1) == 0 &&
	    b->len == 5 && memcmp(b->data, "token", 5) == 0;
}

static int
sig_token_query(const char *q, const char *token)
{
	struct buf b;
	const char *p, *amp, *eq;
	int ok = 0;

	buf_init(&b, 0);
	for (p = q; *p != '\0'; p = *amp == '&' ? amp + 1 : amp) {
		amp = p + strcspn(p, "&");
		if ((eq = memchr(p, '=', (size_t)(amp - p))) == NULL ||
		    !sig_token_pair(p, amp, &b))
			continue;
		/* A '+' pasted unencoded in a URL may be meant literally. */
		buf_reset(&b);
		if (text_pct_decode(&b, eq + 1, (size_t)(amp - eq - 1), 1) == 0)
			ok |= sig_token_eq(buf_str(&b), b.len, token);
		buf_reset(&b);
		if (text_pct_decode(&b, eq + 1, (size_t)(amp - eq - 1), 0) == 0)
			ok |= sig_token_eq(buf_str(&b), b.len, token);
	}
	if (b.data != NULL)
		OPENSSL_cleanse(b.data, b.cap);
	buf_release(&b);
	return ok;
}

int
sig_token_ok(const struct conf_stream *st, const char *auth,
    const char *query)
{
	int ok = 0;

	if (st->token == NULL || *st->token == '\0')
		return 1;
	if (auth != NULL)
		ok |= sig_token_auth(auth, st->token);
	if (query != NULL)
		ok |= sig_token_query(query, st->token);
	if (!ok)
		log_debug("sig: stream %s: token missing or wrong",
		    sig_name(st));
	return ok;
}

int
sig_token_strip(const char *q, struct buf *out)
{
	struct buf name;
	const char *p, *amp;
	int n = 0, stripped = 0;

	buf_init(&name, 0);
	buf_reset(out);
	for (p = q; ; p = amp + 1) {
		amp = p + strcspn(p, "&");
		if (sig_token_pair(p, amp, &name))
			stripped = 1;
		else if ((n++ > 0 && buf_addc(out, '&') == -1) ||
		    buf_add(out, p, (size_t)(amp - p)) == -1)
			goto fail;
		if (*amp == '\0')
			break;
	}
	buf_release(&name);
	return stripped;
fail:
	buf_release(&name);
	return -1;
}

unsigned
sig_methods(const struct conf_stream *st)
{
	/* A body signature says nothing of a query: never "valid" there. */
	if (st->signature != CONF_SIG_NONE &&
	    st->signature_covers == CONF_SIGCOV_BODY &&
	    st->signature_policy == CONF_SIGPOL_REJECT)
		return st->methods & ~(unsigned)(CONF_M_GET | CONF_M_HEAD);
	return st->methods;
}

int
sig_verify_request(const struct conf_stream *st, int bodyless,
    const char *body, size_t len, const char *query,
    const char *(*header)(void *, const char *), void *ctx, time_t now)
{
	if (!bodyless)
		return sig_verify(st, body, len, header, ctx, now);
	if (st->signature == CONF_SIG_NONE)
		return 1;
	if (st->signature_covers != CONF_SIGCOV_QUERY) {
		log_debug("sig: stream %s: a GET or HEAD has no signed body",
		    sig_name(st));
		return 0;
	}
	if (query == NULL)
		query = "";
	return sig_verify(st, query, strlen(query), header, ctx, now);
}
