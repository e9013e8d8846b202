/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * libFuzzer target for sig.c: the header parsers, the Standard Webhooks key
 * and the token stripper on the whole input, then sig_verify(),
 * sig_verify_request() and sig_token_ok() on fixed streams with headers
 * cut from the input's first lines and the rest as the body.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "sig.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define NLINES 4

struct ctx {
	const char	*line[NLINES];
};

static const char *
header(void *arg, const char *name)
{
	struct ctx *c = arg;

	if (strcasecmp(name, "X-Hub-Signature-256") == 0 ||
	    strcasecmp(name, "Stripe-Signature") == 0 ||
	    strcasecmp(name, "webhook-signature") == 0)
		return c->line[0];
	if (strcasecmp(name, "webhook-id") == 0)
		return c->line[1];
	if (strcasecmp(name, "webhook-timestamp") == 0)
		return c->line[2];
	return NULL;
}

static void
stream(struct conf_stream *st, enum conf_sig sig, const char *secret)
{
	memset(st, 0, sizeof(*st));
	st->name = "fuzz";
	st->signature = sig;
	st->signature_secret = (char *)secret;
	st->signature_secret_len = strlen(secret);
	st->signature_tolerance = 300;
	st->token = "tok-123";
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_stream st;
	struct sig_list l;
	struct ctx c;
	struct buf q;
	unsigned char out[SIG_LEN], big[256];
	char *s, *p, *nl;
	const char *body;
	long long t;
	size_t i;

	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	(void)sig_stripe_parse(s, &t, &l);
	(void)sig_standard_parse(s, &l);
	(void)sig_hmac_parse(s, "sha256=", CONF_SIGENC_HEX, out);
	(void)sig_hmac_parse(s, NULL, CONF_SIGENC_BASE64, out);
	(void)sig_parse_time(s, size, &t);
	(void)sig_base64_decode(s, size, big, sizeof(big));
	(void)sig_std_key(s, size, big, sizeof(big));
	buf_init(&q, 0);
	(void)sig_token_strip(s, &q);
	buf_release(&q);

	/* Lines 1-3 are headers, the rest (NULs and all) is the body. */
	p = s;
	for (i = 0; i < NLINES - 1; i++) {
		c.line[i] = p;
		if ((nl = memchr(p, '\n', size - (size_t)(p - s))) == NULL) {
			p = s + size;
			continue;
		}
		*nl = '\0';
		p = nl + 1;
	}
	body = p;
	stream(&st, CONF_SIG_HMAC_SHA256, "It's a Secret to Everybody");
	st.signature_header = "X-Hub-Signature-256";
	st.signature_prefix = "sha256=";
	(void)sig_verify(&st, body, size - (size_t)(p - s), header, &c,
	    1614265330);
	st.signature_encoding = CONF_SIGENC_BASE64;
	st.signature_prefix = NULL;
	(void)sig_verify(&st, body, size - (size_t)(p - s), header, &c,
	    1614265330);
	stream(&st, CONF_SIG_STRIPE, "whsec_test");
	(void)sig_verify(&st, body, size - (size_t)(p - s), header, &c,
	    1614265330);
	stream(&st, CONF_SIG_STANDARD,
	    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
	(void)sig_verify(&st, body, size - (size_t)(p - s), header, &c,
	    1614265330);
	(void)sig_token_ok(&st, c.line[0], c.line[1]);
	st.signature_covers = CONF_SIGCOV_QUERY;
	(void)sig_verify_request(&st, 1, body, 0, c.line[1], header, &c,
	    1614265330);
	free(s);
	return 0;
}
