/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * Unit tests of sig.c.  Expected signatures are computed here with
 * libcrypto from each sender's documented format, and two published
 * vectors are checked as given: GitHub's "Validating webhook deliveries"
 * example and the Standard Webhooks / Svix reference test vector.  Every
 * accepted case is also tried with one flipped byte.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "conf.h"
#include "sig.h"
#include "tap.h"

#define NHDR 8
/* The Standard Webhooks reference secret. */
#define WHSEC "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

struct req {
	const char	*name[NHDR];
	const char	*value[NHDR];
	size_t		 n;
};

static const char *
req_header(void *ctx, const char *name)
{
	struct req *r = ctx;
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcasecmp(r->name[i], name) == 0)
			return r->value[i];
	return NULL;
}

static void
req_set(struct req *r, const char *name, const char *value)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->name[i], name) == 0) {
			r->value[i] = value;
			return;
		}
	r->name[r->n] = name;
	r->value[r->n++] = value;
}

static void
stream(struct conf_stream *st, enum conf_sig sig, const char *secret)
{
	memset(st, 0, sizeof(*st));
	st->name = "test";
	st->signature = sig;
	st->signature_secret = (char *)secret;
	st->signature_secret_len = strlen(secret);
	st->signature_tolerance = 300;
}

static void
hmac(const void *key, size_t klen, const char *msg, size_t len,
    unsigned char out[32])
{
	unsigned int olen = 32;

	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, len,
	    out, &olen);
}

static void
tohex(const unsigned char *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* Flip one byte of a copy of s at position i (from the end if < 0). */
static char *
flip(const char *s, long i)
{
	char *c = strdup(s);
	size_t n = strlen(s);

	c[i >= 0 ? (size_t)i : n + (size_t)i] ^= 0x01;
	return c;
}

static void
test_base64(void)
{
	unsigned char out[8];

	is_int(sig_base64_decode("Zm9v", 4, out, 8), 3, "base64 Zm9v");
	ok(memcmp(out, "foo", 3) == 0, "base64 Zm9v is foo");
	is_int(sig_base64_decode("Zm8=", 4, out, 8), 2, "padded base64");
	is_int(sig_base64_decode("Zm8", 3, out, 8), 2, "unpadded base64");
	is_int(sig_base64_decode("-_8", 3, out, 8), 2, "URL-safe base64");
	is_int(sig_base64_decode("Z", 1, out, 8), -1, "one char is not base64");
	is_int(sig_base64_decode("Zm9v!", 5, out, 8), -1, "bad character");
	is_int(sig_base64_decode("Zm=v", 4, out, 8), -1, "'=' inside");
	is_int(sig_base64_decode("Zm9vZm9v", 8, out, 5), -1,
	    "output bound is kept");
}

static void
test_hmac_generic(void)
{
	struct conf_stream st;
	struct req r = { .n = 0 };
	const char *body = "Hello, World!";
	unsigned char mac[32], bin[] = "a\0b\xff{}";
	char hex[65], b64[64], hdr[80], *bad;

	/* GitHub's documented example, verbatim. */
	stream(&st, CONF_SIG_HMAC_SHA256, "It's a Secret to Everybody");
	st.signature_header = "X-Hub-Signature-256";
	st.signature_encoding = CONF_SIGENC_HEX;
	st.signature_prefix = "sha256=";
	req_set(&r, "x-hub-signature-256", "sha256=757107ea0eb2509fc211221cce"
	    "984b8a37570b6d7586c22c46f4379c8b043e17");
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, 0), 1,
	    "GitHub published vector");
	bad = flip(body, 0);
	is_int(sig_verify(&st, bad, strlen(bad), req_header, &r, 0), 0,
	    "GitHub: flipped body byte");
	free(bad);
	req_set(&r, "x-hub-signature-256", "sha256=757107EA0EB2509FC211221CCE"
	    "984B8A37570B6D7586C22C46F4379C8B043E17");
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, 0), 1,
	    "GitHub: upper-case hex");
	req_set(&r, "x-hub-signature-256", "sha256=757107ea0eb2509fc211221cce"
	    "984b8a37570b6d7586c22c46f4379c8b043e16");
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, 0), 0,
	    "GitHub: flipped signature byte");
	req_set(&r, "x-hub-signature-256", "757107ea0eb2509fc211221cce"
	    "984b8a37570b6d7586c22c46f4379c8b043e17");
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, 0), 0,
	    "GitHub: missing prefix");
	req_set(&r, "x-hub-signature-256", "sha256=757107ea0eb2509fc211221cce"
	    "984b8a37570b6d7586c22c46f4379c8b043e");
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, 0), 0,
	    "GitHub: short signature");
	r.n = 0;
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, 0), 0,
	    "GitHub: missing header");

	/* Computed hex over a binary body with NUL bytes. */
	hmac("k3y", 3, (const char *)bin, sizeof(bin), mac);
	tohex(mac, 32, hex);
	stream(&st, CONF_SIG_HMAC_SHA256, "k3y");
	st.signature_header = "X-Signature";
	st.signature_encoding = CONF_SIGENC_HEX;
	req_set(&r, "X-Signature", hex);
	is_int(sig_verify(&st, (const char *)bin, sizeof(bin), req_header, &r,
	    0), 1, "hex without prefix over a binary body");
	is_int(sig_verify(&st, (const char *)bin, sizeof(bin) - 1, req_header,
	    &r, 0), 0, "one byte shorter body");

	/* Shopify: X-Shopify-Hmac-Sha256, base64 of the HMAC of the body. */
	body = "{\"id\":820982911946154508,\"email\":\"jon@example.com\"}";
	hmac("shpss_secret", 12, body, strlen(body), mac);
	EVP_EncodeBlock((unsigned char *)b64, mac, 32);
	stream(&st, CONF_SIG_HMAC_SHA256, "shpss_secret");
	st.signature_header = "X-Shopify-Hmac-Sha256";
	st.signature_encoding = CONF_SIGENC_BASE64;
	r.n = 0;
	req_set(&r, "X-Shopify-Hmac-SHA256", b64);
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, 0), 1,
	    "Shopify base64");
	bad = flip(body, 10);
	is_int(sig_verify(&st, bad, strlen(bad), req_header, &r, 0), 0,
	    "Shopify: flipped body byte");
	free(bad);
	bad = flip(b64, 3);
	req_set(&r, "X-Shopify-Hmac-SHA256", bad);
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, 0), 0,
	    "Shopify: flipped signature byte");
	free(bad);

	/* WooCommerce: X-WC-Webhook-Signature, base64 too. */
	body = "{\"id\":727,\"status\":\"processing\",\"total\":\"29.35\"}";
	hmac("wc-secret", 9, body, strlen(body), mac);
	EVP_EncodeBlock((unsigned char *)b64, mac, 32);
	snprintf(hdr, sizeof(hdr), " %s ", b64);
	stream(&st, CONF_SIG_HMAC_SHA256, "wc-secret");
	st.signature_header = "X-WC-Webhook-Signature";
	st.signature_encoding = CONF_SIGENC_BASE64;
	r.n = 0;
	req_set(&r, "x-wc-webhook-signature", hdr);
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, 0), 1,
	    "WooCommerce base64, blanks around");
	bad = flip(body, -1);
	is_int(sig_verify(&st, bad, strlen(bad), req_header, &r, 0), 0,
	    "WooCommerce: flipped body byte");
	free(bad);
	st.signature_secret = "wc-secreT";
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, 0), 0,
	    "WooCommerce: wrong secret");
}

static void
test_stripe(void)
{
	struct conf_stream st;
	struct req r = { .n = 0 };
	struct sig_list l;
	const char *body = "{\"id\":\"evt_1\",\"type\":\"charge.succeeded\"}";
	const char *secret = "whsec_test_7fJ2kQ";
	unsigned char mac[32];
	char msg[256], hex[65], hdr[512], *bad;
	long long t;
	time_t now = 1700000000;

	is_int(sig_stripe_parse("t=12,v1=zz", &t, &l), 0, "stripe parse");
	is_int(t, 12, "stripe t");
	is_int(l.n, 0, "a malformed v1 is skipped");
	is_int(sig_stripe_parse("v1=00", &t, &l), -1, "no t");
	is_int(sig_stripe_parse("t=1,t=2", &t, &l), -1, "two t");
	is_int(sig_stripe_parse("t=1x", &t, &l), -1, "t not a number");
	is_int(sig_stripe_parse("t=9999999999999", &t, &l), -1, "t too long");

	stream(&st, CONF_SIG_STRIPE, secret);
	snprintf(msg, sizeof(msg), "%lld.%s", (long long)now - 10, body);
	hmac(secret, strlen(secret), msg, strlen(msg), mac);
	tohex(mac, 32, hex);
	snprintf(hdr, sizeof(hdr), "t=%lld,v1=%s,v0=6ffbb59b2300aae63f272406"
	    "069a9788598b792a944a07aba816edb039989a39", (long long)now - 10,
	    hex);
	req_set(&r, "Stripe-Signature", hdr);
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, now), 1,
	    "Stripe signature");
	bad = flip(body, 5);
	is_int(sig_verify(&st, bad, strlen(bad), req_header, &r, now), 0,
	    "Stripe: flipped body byte");
	free(bad);
	bad = flip(hdr, 20);
	req_set(&r, "Stripe-Signature", bad);
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, now), 0,
	    "Stripe: flipped signature byte");
	req_set(&r, "Stripe-Signature", hdr);
	free(bad);
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, now + 290),
	    1, "Stripe: within tolerance");
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, now + 291),
	    0, "Stripe: stale timestamp");
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, now - 311),
	    0, "Stripe: timestamp far in the future");
	st.signature_tolerance = 0;
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, now + 9999),
	    1, "Stripe: tolerance 0 disables the check");
	st.signature_tolerance = 300;

	/* Rolled secret: two v1, only the second matches. */
	snprintf(hdr, sizeof(hdr), "t=%lld, v1=%064d, v1=%s",
	    (long long)now - 10, 0, hex);
	req_set(&r, "Stripe-Signature", hdr);
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, now), 1,
	    "Stripe: any v1 may match");
	/* A timestamp that differs from the signed one. */
	snprintf(hdr, sizeof(hdr), "t=%lld,v1=%s", (long long)now - 11, hex);
	req_set(&r, "Stripe-Signature", hdr);
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, now), 0,
	    "Stripe: the timestamp is signed");
	snprintf(hdr, sizeof(hdr), "v1=%s", hex);
	req_set(&r, "Stripe-Signature", hdr);
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, now), 0,
	    "Stripe: no timestamp");
	r.n = 0;
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, now), 0,
	    "Stripe: no header");
}

static void
test_standard(void)
{
	struct conf_stream st;
	struct req r = { .n = 0 };
	struct sig_list l;
	const char *body = "{\"test\": 2432232314}";
	const char *sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
	time_t ts = 1614265330;
	unsigned char mac[32];
	char msg[256], b64[64], hdr[256], *bad;

	sig_standard_parse("v1,Zm9v v1a,AAAA v2,x v1," "g0hM9SsE+OTPJTGt/tmIKt"
	    "SyZlE3uFJELVlNIOLJ1OE=  v1", &l);
	is_int(l.n, 1, "standard parse keeps only 32-byte v1");

	/* The reference vector of the Standard Webhooks libraries. */
	stream(&st, CONF_SIG_STANDARD, WHSEC);
	req_set(&r, "webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek");
	req_set(&r, "webhook-timestamp", "1614265330");
	req_set(&r, "webhook-signature", sig);
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, ts + 5), 1,
	    "Standard Webhooks published vector");
	bad = flip(body, 3);
	is_int(sig_verify(&st, bad, strlen(bad), req_header, &r, ts), 0,
	    "Standard Webhooks: flipped body byte");
	free(bad);
	bad = flip(sig, 10);
	req_set(&r, "webhook-signature", bad);
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, ts), 0,
	    "Standard Webhooks: flipped signature byte");
	free(bad);
	snprintf(hdr, sizeof(hdr), "v1,Zm9vYmFy v1a,AAAA %s", sig);
	req_set(&r, "webhook-signature", hdr);
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, ts), 1,
	    "Standard Webhooks: any v1 may match");
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, ts + 301),
	    0, "Standard Webhooks: stale timestamp");
	req_set(&r, "webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJeK");
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, ts), 0,
	    "Standard Webhooks: the id is signed");
	req_set(&r, "webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek");
	st.signature_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSW";
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, ts), 0,
	    "Standard Webhooks: wrong secret");

	/* Svix's header names carry the same scheme. */
	stream(&st, CONF_SIG_STANDARD, WHSEC);
	r.n = 0;
	req_set(&r, "svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek");
	req_set(&r, "svix-timestamp", "1614265330");
	req_set(&r, "svix-signature", sig);
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, ts), 1,
	    "Svix header names");
	r.n = 2;
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, ts), 0,
	    "Standard Webhooks: no signature header");

	/* A secret without whsec_ is base64 too, as the spec's libraries
	 * read it: the key is its decoded bytes, never the text. */
	snprintf(msg, sizeof(msg), "msg_2.%lld.%s", (long long)ts, body);
	hmac("\x01\x02\x03\x04\x05\x06", 6, msg, strlen(msg), mac);
	EVP_EncodeBlock((unsigned char *)b64, mac, 32);
	snprintf(hdr, sizeof(hdr), "v1,%s", b64);
	stream(&st, CONF_SIG_STANDARD, "AQIDBAUG");
	r.n = 0;
	req_set(&r, "webhook-id", "msg_2");
	req_set(&r, "webhook-timestamp", "1614265330");
	req_set(&r, "webhook-signature", hdr);
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, ts), 1,
	    "Standard Webhooks: a secret without whsec_ is base64");
	req_set(&r, "webhook-timestamp", "1614265331");
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, ts), 0,
	    "Standard Webhooks: the timestamp is signed");
	stream(&st, CONF_SIG_STANDARD, "not base64!");
	req_set(&r, "webhook-timestamp", "1614265330");
	is_int(sig_verify(&st, body, strlen(body), req_header, &r, ts), 0,
	    "Standard Webhooks: a secret that is not base64 never matches");
}

/*
 * The published vectors of the Standard Webhooks reference libraries,
 * as given in github.com/standard-webhooks/standard-webhooks,
 * libraries/javascript/src/webhook.test.ts and libraries/go/
 * webhook_test.go: "sign function works" (secret, msg_id, timestamp,
 * payload -> signature), "verification works with and without signature
 * prefix" (the same secret without "whsec_"), and the invalid, partial
 * and multi-signature cases.
 */
static const struct {
	const char	*secret, *id, *ts, *payload, *sig, *what;
	int		 want;
} std_vectors[] = {
	{ "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	    "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
	    "{\"test\": 2432232314}",
	    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
	    "sign function works", 1 },
	{ "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	    "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
	    "{\"test\": 2432232314}",
	    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
	    "works without the whsec_ prefix", 1 },
	{ "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	    "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
	    "{\"test\": 2432232314}",
	    "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
	    "invalid signature is invalid", 0 },
	{ "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	    "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
	    "{\"test\": 2432232314}", "v1,dawfeoifkpqwoekfpqoekf",
	    "invalid signature throws error", 0 },
	{ "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	    "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
	    "{\"test\": 2432232314}", "v1,g0hM9",
	    "partial signature throws error", 0 },
	{ "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	    "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
	    "{\"test\": 2432232314}", "v1,",
	    "empty signature throws error", 0 },
	{ "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	    "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
	    "{\"test\": 2432232314}",
	    "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "
	    "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "
	    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= "
	    "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
	    "multi sig payload is valid", 1 },
	{ "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	    "msg_p5jXN8AQM9LWM0D4loKWxJek", "hello",
	    "{\"test\": 2432232314}",
	    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
	    "invalid timestamp throws error", 0 },
};

static void
test_standard_vectors(void)
{
	struct conf_stream st;
	struct req r;
	size_t i;

	for (i = 0; i < sizeof(std_vectors) / sizeof(std_vectors[0]); i++) {
		stream(&st, CONF_SIG_STANDARD, std_vectors[i].secret);
		st.signature_tolerance = 0;
		r.n = 0;
		req_set(&r, "webhook-id", std_vectors[i].id);
		req_set(&r, "webhook-timestamp", std_vectors[i].ts);
		req_set(&r, "webhook-signature", std_vectors[i].sig);
		is_int(sig_verify(&st, std_vectors[i].payload,
		    strlen(std_vectors[i].payload), req_header, &r,
		    1614265330), std_vectors[i].want,
		    "Standard Webhooks vector: %s", std_vectors[i].what);
	}
}

static void
test_token(void)
{
	struct conf_stream st;
	unsigned char raw[64];
	char b64[128];

	memset(&st, 0, sizeof(st));
	st.name = "test";
	is_int(sig_token_ok(&st, NULL, NULL), 1, "no token configured");
	is_int(sig_verify(&st, "", 0, req_header, NULL, 0), 1,
	    "no signature configured");
	st.token = "tok-123";
	is_int(sig_token_ok(&st, NULL, NULL), 0, "token missing");
	is_int(sig_token_ok(&st, "Bearer tok-123", NULL), 1, "Bearer");
	is_int(sig_token_ok(&st, "  bearer   tok-123  ", NULL), 1,
	    "Bearer, any case, blanks");
	is_int(sig_token_ok(&st, "Bearer tok-124", NULL), 0, "wrong Bearer");
	is_int(sig_token_ok(&st, "Bearer tok-12", NULL), 0, "Bearer prefix");
	is_int(sig_token_ok(&st, "Bearer tok-1234", NULL), 0,
	    "Bearer longer");
	is_int(sig_token_ok(&st, "Token tok-123", NULL), 0, "other scheme");
	memcpy(raw, "user:tok-123", 12);
	EVP_EncodeBlock((unsigned char *)b64 + 6, raw, 12);
	memcpy(b64, "Basic ", 6);
	is_int(sig_token_ok(&st, b64, NULL), 1, "Basic user:TOKEN");
	memcpy(raw, ":tok-123", 8);
	EVP_EncodeBlock((unsigned char *)b64 + 6, raw, 8);
	is_int(sig_token_ok(&st, b64, NULL), 1, "Basic, empty user");
	memcpy(raw, "tok-123:x", 9);
	EVP_EncodeBlock((unsigned char *)b64 + 6, raw, 9);
	is_int(sig_token_ok(&st, b64, NULL), 0, "Basic, token as user");
	is_int(sig_token_ok(&st, "Basic !!!", NULL), 0, "Basic, bad base64");
	is_int(sig_token_ok(&st, NULL, "a=1&token=tok-123&b=2"), 1,
	    "query token");
	is_int(sig_token_ok(&st, NULL, "token=tok%2D123"), 1,
	    "query token percent-encoded");
	is_int(sig_token_ok(&st, NULL, "to%6Ben=tok-123"), 1,
	    "query name percent-encoded");
	is_int(sig_token_ok(&st, NULL, "token=tok-124"), 0, "wrong query");
	is_int(sig_token_ok(&st, NULL, "xtoken=tok-123"), 0, "other name");
	is_int(sig_token_ok(&st, NULL, "token"), 0, "name without value");
	is_int(sig_token_ok(&st, "Bearer no", "token=tok-123"), 1,
	    "query saves a wrong header");
	st.token = "a+b c";
	is_int(sig_token_ok(&st, NULL, "token=a+b+c"), 0,
	    "'+' is either all spaces or all plus");
	is_int(sig_token_ok(&st, NULL, "token=a%2Bb+c"), 1, "%%2B and +");
	st.token = "a+b";
	is_int(sig_token_ok(&st, NULL, "token=a+b"), 1, "a literal '+'");
}

static void
strip(const char *q, int want_rc, const char *want)
{
	struct buf b;
	int rc;

	buf_init(&b, 0);
	rc = sig_token_strip(q, &b);
	ok(rc == want_rc && strcmp(buf_str(&b), want) == 0,
	    "strip '%s' -> '%s' (got %d '%s')", q, want, rc, buf_str(&b));
	buf_release(&b);
}

static void
test_token_strip(void)
{
	strip("a=1&token=x&b=%20c+d", 1, "a=1&b=%20c+d");
	strip("token=x&a=1&&b=", 1, "a=1&&b=");
	strip("a=1&token=x", 1, "a=1");
	strip("token=x", 1, "");
	strip("to%6Ben=x&token&z=9", 1, "z=9");
	strip("tokens=x&xtoken=y&a[token]=z", 0,
	    "tokens=x&xtoken=y&a[token]=z");
	strip("", 0, "");
	strip("a=1&&", 0, "a=1&&");
}

static void
test_bodyless(void)
{
	struct conf_stream st;
	struct req r = { .n = 0 };
	unsigned char mac[32];
	char hdr[80];

	stream(&st, CONF_SIG_HMAC_SHA256, "k");
	st.signature_header = "X-Sig";
	st.methods = CONF_M_GET | CONF_M_HEAD | CONF_M_POST;
	hmac("k", 1, "", 0, mac);
	tohex(mac, 32, hdr);
	req_set(&r, "X-Sig", hdr);
	is_int(sig_verify_request(&st, 1, "", 0, "order=FORGED", req_header,
	    &r, 0), 0, "a GET is never valid under a body signature");
	is_int(sig_methods(&st), CONF_M_POST, "... and GET, HEAD are refused");
	st.signature_policy = CONF_SIGPOL_RECORD;
	is_int(sig_methods(&st), st.methods, "... or recorded under record");
	st.signature_covers = CONF_SIGCOV_QUERY;
	is_int(sig_methods(&st), st.methods, "signature_covers = query");
	hmac("k", 1, "a=1", 3, mac);
	tohex(mac, 32, hdr);
	is_int(sig_verify_request(&st, 1, "", 0, "a=1", req_header, &r, 0),
	    1, "the query's signature verifies a GET");
	is_int(sig_verify_request(&st, 1, "", 0, "a=2", req_header, &r, 0),
	    0, "another query does not");
	is_int(sig_verify_request(&st, 0, "a=1", 3, "x=1", req_header, &r, 0),
	    1, "a POST is checked against its body");
}

int
main(void)
{
	test_base64();
	test_hmac_generic();
	test_stripe();
	test_standard();
	test_standard_vectors();
	test_token();
	test_token_strip();
	test_bodyless();
	return tap_done();
}
