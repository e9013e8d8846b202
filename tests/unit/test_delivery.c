/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/* Unit tests of delivery.c: sources, presets, pointers, bounds. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "delivery.h"
#include "tap.h"

static const char *const hdrs[][2] = {
	{ "X-Id", "hdr-1" },
	{ "svix-id", "msg_svix" },
	{ "X-GitHub-Delivery", "72d3162e" },
	{ "X-Shopify-Webhook-Id", "b5455" },
	{ "X-Empty", "" },
};

static const char *
header(void *ctx, const char *name)
{
	size_t i;

	(void)ctx;
	for (i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++)
		if (strcasecmp(hdrs[i][0], name) == 0)
			return hdrs[i][1];
	return NULL;
}

/* The id of a stream configured with spec, for params and query. */
static const char *
get(const char *spec, const char *params, const char *query)
{
	static struct buf out;
	struct conf_stream st;
	json_t *p = params != NULL ? json_loads(params, 0, NULL) : NULL;
	int rc;

	memset(&st, 0, sizeof st);
	buf_release(&out);
	buf_init(&out, 0);
	if (delivery_parse(spec, &st.did, &st.did_arg) == -1)
		return "<invalid>";
	rc = delivery_get(&st, p, query, header, NULL, &out);
	json_decref(p);
	return rc == 1 ? buf_str(&out) : NULL;
}

int
main(void)
{
	char big[DELIVERY_MAX + 32];
	enum conf_did did;
	const char *arg;
	struct conf_stream st;

	is_str(get("header:X-Id", NULL, NULL), "hdr-1", "header:");
	is_str(get("header:X-Empty", NULL, NULL), NULL, "an empty header: none");
	is_str(get("header:X-None", NULL, NULL), NULL, "a missing header");
	is_str(get("standard-webhooks", NULL, NULL), "msg_svix",
	    "standard-webhooks: svix-id without webhook-id");
	is_str(get("github", NULL, NULL), "72d3162e", "github");
	is_str(get("shopify", NULL, NULL), "b5455", "shopify");
	is_str(get("stripe", "{\"id\":\"evt_1\",\"object\":\"event\"}", NULL),
	    "evt_1", "stripe: the body's id");
	is_str(get("stripe", "[1,2]", NULL), NULL, "stripe: not an object");
	is_str(get("json:/a/b~1c/1", "{\"a\":{\"b/c\":[\"x\",\"y\"]}}", NULL),
	    "y", "json: ~1 and an array index");
	is_str(get("json:/a~0b", "{\"a~b\":7}", NULL), "7",
	    "json: ~0, an integer");
	is_str(get("json:/a/01", "{\"a\":[\"x\",\"y\"]}", NULL), NULL,
	    "json: a leading zero is no index");
	is_str(get("json:/a", "{\"a\":1.5}", NULL), NULL, "json: a real: none");
	is_str(get("json:/a", "{\"a\":\"\"}", NULL), NULL,
	    "json: an empty string: none");
	is_str(get("json:/a", NULL, NULL), NULL, "json: no body");
	is_str(get("form:orderId+status",
	    "{\"orderId\":\"N1\",\"status\":\"paid\"}", NULL), "N1+paid",
	    "form: two fields joined");
	is_str(get("form:orderId+status", "{\"orderId\":\"N1\"}", NULL), NULL,
	    "form: one missing: none");
	is_str(get("query:o", NULL, "x=1&o=Q7"), "Q7", "query:");
	is_str(get("query:o", NULL, NULL), NULL, "query: no query");
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(big, "o=", 2);
	is_str(get("query:o", NULL, big), NULL, "over DELIVERY_MAX: none");

	ok(delivery_parse("json:a", &did, &arg) == -1, "json: needs '/'");
	ok(delivery_parse("form:", &did, &arg) == -1, "form: needs a field");
	ok(delivery_parse("form:a+", &did, &arg) == -1, "form: no empty field");
	ok(delivery_parse("header:a b", &did, &arg) == -1, "no blank");
	ok(delivery_parse("sha", &did, &arg) == -1, "an unknown preset");
	ok(delivery_parse("off", &did, &arg) == 0 && did == CONF_DID_OFF,
	    "off");
	memset(&st, 0, sizeof st);
	st.signature = CONF_SIG_HMAC_SHA256;
	st.signature_header = "X-Hub-Signature-256";
	ok(delivery_auto(&st, &did) == 0 && did == CONF_DID_GITHUB,
	    "auto: GitHub's header");
	st.signature_header = "X-Shopify-Hmac-Sha256";
	ok(delivery_auto(&st, &did) == 0 && did == CONF_DID_SHOPIFY,
	    "auto: Shopify's header");
	st.signature_header = "X-WC-Webhook-Signature";
	ok(delivery_auto(&st, &did) == -1, "auto: no preset for WooCommerce");
	st.signature = CONF_SIG_STANDARD;
	ok(delivery_auto(&st, &did) == 0 && did == CONF_DID_STANDARD,
	    "auto: standard-webhooks");
	return tap_done();
}
