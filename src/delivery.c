/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * delivery: where a stream finds the sender's delivery id, and reading it
 * from one request.  The body is read through the request's params (the
 * same JSON/form/query view as the params column, form.c), so every body
 * bound of form.c holds here too.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "delivery.h"
#include "form.h"

static const struct {
	const char	*name;
	enum conf_did	 did;
} delivery_presets[] = {
	{ "off", CONF_DID_OFF },
	{ "auto", CONF_DID_AUTO },
	{ "standard-webhooks", CONF_DID_STANDARD },
	{ "github", CONF_DID_GITHUB },
	{ "shopify", CONF_DID_SHOPIFY },
	{ "stripe", CONF_DID_STRIPE },
};

static const struct {
	const char	*prefix;
	enum conf_did	 did;
} delivery_kinds[] = {
	{ "header:", CONF_DID_HEADER },
	{ "json:", CONF_DID_JSON },
	{ "form:", CONF_DID_FORM },
	{ "query:", CONF_DID_QUERY },
};

/* The source a delivery_id value names, and its argument; -1: invalid. */
int
delivery_parse(const char *s, enum conf_did *did, const char **arg)
{
	size_t i, n;
	const char *a;

	*arg = NULL;
	for (i = 0; i < sizeof delivery_presets / sizeof delivery_presets[0];
	    i++)
		if (strcmp(s, delivery_presets[i].name) == 0) {
			*did = delivery_presets[i].did;
			return 0;
		}
	for (i = 0; i < sizeof delivery_kinds / sizeof delivery_kinds[0];
	    i++) {
		n = strlen(delivery_kinds[i].prefix);
		if (strncmp(s, delivery_kinds[i].prefix, n) != 0)
			continue;
		a = s + n;
		*did = delivery_kinds[i].did;
		*arg = a;
		if (*a == '\0' || strpbrk(a, " \t") != NULL)
			return -1;
		if (*did == CONF_DID_JSON && *a != '/')
			return -1;
		if (*did == CONF_DID_FORM && (*a == '+' ||
		    a[strlen(a) - 1] == '+' || strstr(a, "++") != NULL))
			return -1;
		return 0;
	}
	return -1;
}

/* "auto": the preset that goes with the stream's signature; -1: none. */
int
delivery_auto(const struct conf_stream *st, enum conf_did *did)
{
	const char *h = st->signature_header;

	switch (st->signature) {
	case CONF_SIG_STANDARD:
		*did = CONF_DID_STANDARD;
		return 0;
	case CONF_SIG_STRIPE:
		*did = CONF_DID_STRIPE;
		return 0;
	case CONF_SIG_HMAC_SHA256:
		if (h != NULL && strncasecmp(h, "X-Hub-Signature", 15) == 0) {
			*did = CONF_DID_GITHUB;
			return 0;
		}
		if (h != NULL && strncasecmp(h, "X-Shopify-", 10) == 0) {
			*did = CONF_DID_SHOPIFY;
			return 0;
		}
		return -1;
	case CONF_SIG_NONE:
		break;
	}
	return -1;
}

/* Whether delivery_get wants the request's params. */
int
delivery_needs_params(const struct conf_stream *st)
{
	return st->did == CONF_DID_JSON || st->did == CONF_DID_FORM ||
	    st->did == CONF_DID_STRIPE;
}

/* A JSON string or integer as text, into out; -1: not an id. */
static int
delivery_value(const json_t *v, struct buf *out)
{
	if (json_is_string(v) && json_string_length(v) > 0)
		return buf_add(out, json_string_value(v),
		    json_string_length(v));
	if (json_is_integer(v))
		return buf_addf(out, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
	return -1;
}

/* RFC 6901: "/a/b~1c/0" ("~1" is '/', "~0" is '~'). */
static const json_t *
delivery_pointer(const json_t *v, const char *ptr)
{
	char tok[256], *end;
	size_t n;
	unsigned long idx;

	while (v != NULL && *ptr == '/') {
		ptr++;
		for (n = 0; *ptr != '\0' && *ptr != '/'; ptr++) {
			if (n + 1 >= sizeof tok)
				return NULL;
			if (*ptr == '~') {
				if (ptr[1] != '0' && ptr[1] != '1')
					return NULL;
				tok[n++] = ptr[1] == '0' ? '~' : '/';
				ptr++;
			} else
				tok[n++] = *ptr;
		}
		tok[n] = '\0';
		if (json_is_object(v))
			v = json_object_get(v, tok);
		else if (json_is_array(v)) {
			if (n == 0 || (n > 1 && tok[0] == '0') ||
			    strspn(tok, "0123456789") != n)
				return NULL;
			idx = strtoul(tok, &end, 10);
			v = json_array_get(v, idx);
		} else
			return NULL;
	}
	return *ptr == '\0' ? v : NULL;
}

static int
delivery_fields(const json_t *obj, const char *fields, struct buf *out)
{
	char name[256];
	const char *p = fields, *q;
	size_t n;

	if (!json_is_object(obj))
		return -1;
	for (;;) {
		q = strchr(p, '+');
		n = q != NULL ? (size_t)(q - p) : strlen(p);
		if (n >= sizeof name)
			return -1;
		memcpy(name, p, n);
		name[n] = '\0';
		if (p != fields && buf_addc(out, '+') == -1)
			return -1;
		if (delivery_value(json_object_get(obj, name), out) == -1)
			return -1;
		if (q == NULL)
			return 0;
		p = q + 1;
	}
}

/*
 * The hit's delivery id into out (reset first): 1 when found, 0 when
 * missing.  params is the request's params (form_params), needed only when
 * delivery_needs_params(); header looks a request header up by name.
 */
int
delivery_get(const struct conf_stream *st, const json_t *params,
    const char *query, const char *(*header)(void *, const char *),
    void *ctx, struct buf *out)
{
	const char *v = NULL;
	json_t *qp;
	int rc = -1;

	buf_reset(out);
	switch (st->did) {
	case CONF_DID_OFF:
	case CONF_DID_AUTO:
		return 0;
	case CONF_DID_HEADER:
		v = header(ctx, st->did_arg);
		break;
	case CONF_DID_STANDARD:
		if ((v = header(ctx, "webhook-id")) == NULL || *v == '\0')
			v = header(ctx, "svix-id");
		break;
	case CONF_DID_GITHUB:
		v = header(ctx, "X-GitHub-Delivery");
		break;
	case CONF_DID_SHOPIFY:
		v = header(ctx, "X-Shopify-Webhook-Id");
		break;
	case CONF_DID_STRIPE:
		rc = delivery_value(delivery_pointer(params, "/id"), out);
		break;
	case CONF_DID_JSON:
		rc = delivery_value(delivery_pointer(params, st->did_arg), out);
		break;
	case CONF_DID_FORM:
		rc = delivery_fields(params, st->did_arg, out);
		break;
	case CONF_DID_QUERY:
		if (query == NULL)
			break;
		qp = form_parse(query, strlen(query));
		rc = delivery_fields(qp, st->did_arg, out);
		json_decref(qp);
		break;
	}
	if (v != NULL && *v != '\0')
		rc = buf_adds(out, v);
	if (rc == -1 || out->len == 0 || out->len > DELIVERY_MAX) {
		buf_reset(out);
		return 0;
	}
	return 1;
}
