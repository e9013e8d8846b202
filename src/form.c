/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * form: form-urlencoded bodies and query strings -> JSON params, with
 * PHP-style bracket keys nested (see form.h for the rules and limits).
 *
 * The tree is built from jansson objects only, so lookups are hashed;
 * arrays are decided once at the end, when all keys of a container are
 * known.  Each container remembers the index "k[]" appends at under the
 * key FORM_NEXT, a lone 0xff byte: every real key has been made valid
 * UTF-8 first, so it can never collide, and form_finish() removes it.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "form.h"
#include "text.h"
#include "xmalloc.h"

#define FORM_NEXT	"\xff"
/* jansson refuses deeper JSON anyway (JSON_PARSER_MAX_DEPTH). */
#define FORM_JSON_DEPTH	2048

struct form_seg {
	size_t	off;
	size_t	len;
};


/* Percent-decode s ('+' is a space) into out, then make it UTF-8. */
static int
form_decode(const char *s, size_t len, struct buf *tmp, struct buf *out)
{
	buf_reset(tmp);
	buf_reset(out);
	if (text_pct_decode(tmp, s, len, 1) == -1)
		return -1;
	/* An empty buf has data == NULL: give a real pointer. */
	return text_utf8_repair(out, buf_str(tmp), tmp->len) < 0 ? -1 : 0;
}

/*
 * Split a decoded key into base and bracket segments.  Returns the number
 * of segments, 1 for a key kept literally, or -1 when it nests deeper
 * than FORM_MAX_DEPTH.
 */
static int
form_split(const char *k, size_t klen, struct form_seg *segs)
{
	const char *p, *q;
	size_t i, n;
	int deep = 0;

	segs[0].off = 0;
	segs[0].len = klen;
	if ((p = memchr(k, '[', klen)) == NULL || p == k)
		return 1;
	segs[0].len = (size_t)(p - k);
	n = 1;
	i = segs[0].len;
	while (i < klen && k[i] == '[') {
		if ((q = memchr(k + i + 1, ']', klen - i - 1)) == NULL)
			break;
		if (n == FORM_MAX_DEPTH + 1)
			deep = 1;
		else {
			segs[n].off = i + 1;
			segs[n].len = (size_t)(q - (k + i + 1));
			n++;
		}
		i = (size_t)(q - k) + 1;
	}
	if (i != klen) {
		/* Not base[seg]...: keep the whole key as it came. */
		segs[0].len = klen;
		return 1;
	}
	return deep ? -1 : (int)n;
}

/* A canonical non-negative decimal ("0", "17", not "01" or "+1"), or -1. */
static long long
form_index(const char *s)
{
	long long v = 0;
	size_t i;

	if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (i == 18 || !isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static long long
form_next(json_t *obj)
{
	json_t *n;

	if ((n = json_object_get(obj, FORM_NEXT)) == NULL)
		return 0;
	return json_integer_value(n);
}

/* Keep FORM_NEXT one past the largest integer key, as PHP does. */
static void
form_seen(json_t *obj, const char *key)
{
	long long idx;

	if ((idx = form_index(key)) == -1 || idx < form_next(obj))
		return;
	json_object_set_new_nocheck(obj, FORM_NEXT, json_integer(idx + 1));
}

/* Store one value at key in obj; 0, or -1 on a container in the way. */
static int
form_put(json_t *obj, const char *key, json_t *val)
{
	json_t *old, *arr;

	if ((old = json_object_get(obj, key)) == NULL)
		return json_object_set_new(obj, key, val);
	if (json_is_array(old))
		return json_array_append_new(old, val);
	if (!json_is_string(old))
		goto fail;
	arr = json_array();
	json_array_append(arr, old);
	json_array_append_new(arr, val);
	return json_object_set_new(obj, key, arr);
fail:
	json_decref(val);
	return -1;
}

/* Add one decoded pair to the tree rooted at root. */
static int
form_add(json_t *root, const char *k, size_t klen, const char *v,
    size_t vlen)
{
	struct form_seg segs[FORM_MAX_DEPTH + 1];
	json_t *cur = root, *child = NULL;
	char *key = NULL;
	int i, n;

	if (memchr(k, '\0', klen) != NULL)
		goto fail;
	if ((n = form_split(k, klen, segs)) == -1)
		goto fail;
	for (i = 0; i < n; i++) {
		if (i > 0 && segs[i].len == 0)
			key = xasprintf("%lld", form_next(cur));
		else
			key = xstrndup(k + segs[i].off, segs[i].len);
		/* The root stays an object, so only inner keys count. */
		if (i > 0)
			form_seen(cur, key);
		if (i == n - 1) {
			if (form_put(cur, key, json_stringn(v, vlen)) == -1)
				goto fail;
		} else if ((child = json_object_get(cur, key)) == NULL) {
			child = json_object();
			json_object_set_new(cur, key, child);
		} else if (!json_is_object(child))
			goto fail;
		free(key);
		key = NULL;
		cur = child;
	}
	return 0;
fail:
	free(key);
	return -1;
}

/* Drop the bookkeeping and turn "0".."n-1" containers into arrays. */
static json_t *
form_finish(json_t *obj, int top)
{
	const char *key;
	json_t *val, *fin, *arr;
	void *tmp;
	size_t i;
	char want[24];

	json_object_del(obj, FORM_NEXT);
	json_object_foreach_safe(obj, tmp, key, val) {
		if (json_is_object(val) &&
		    (fin = form_finish(val, 0)) != val)
			json_object_set_new(obj, key, fin);
	}
	if (top)
		return obj;
	i = 0;
	json_object_foreach(obj, key, val) {
		snprintf(want, sizeof(want), "%zu", i++);
		if (strcmp(key, want) != 0)
			return obj;
	}
	arr = json_array();
	json_object_foreach(obj, key, val)
		json_array_append(arr, val);
	json_decref(obj);
	return arr;
}

/* Non-empty pairs, counted before anything is built. */
static size_t
form_pairs(const char *s, size_t len)
{
	const char *p, *end = s + len, *amp;
	size_t n = 0;

	for (p = s; p < end; p = amp + 1) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		if (amp != p)
			n++;
	}
	return n;
}

json_t *
form_parse(const char *s, size_t len)
{
	struct buf tmp, k, v;
	json_t *root;
	const char *p, *end = s + len, *amp, *eq;

	if (len > FORM_MAX_BYTES || form_pairs(s, len) > FORM_MAX_PAIRS)
		return NULL;
	root = json_object();
	buf_init(&tmp, 0);
	buf_init(&k, 0);
	buf_init(&v, 0);
	for (p = s; p < end; p = amp + 1) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		if (amp == p)
			continue;
		if ((eq = memchr(p, '=', (size_t)(amp - p))) == NULL)
			eq = amp;
		if (form_decode(p, (size_t)(eq - p), &tmp, &k) == -1)
			goto fail;
		if (eq == amp)
			buf_reset(&v);
		else if (form_decode(eq + 1, (size_t)(amp - eq - 1), &tmp,
		    &v) == -1)
			goto fail;
		if (form_add(root, buf_str(&k), k.len, buf_str(&v),
		    v.len) == -1)
			goto fail;
	}
	buf_release(&tmp);
	buf_release(&k);
	buf_release(&v);
	return form_finish(root, 1);
fail:
	buf_release(&tmp);
	buf_release(&k);
	buf_release(&v);
	json_decref(root);
	return NULL;
}

/* Does the media type (before any ';' parameters) equal or end in t? */
static int
form_ctype(const char *ct, const char *t, int suffix)
{
	size_t n, tl = strlen(t);

	while (*ct == ' ' || *ct == '\t')
		ct++;
	n = strcspn(ct, ";");
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	if (suffix)
		return n > tl && strncasecmp(ct + n - tl, t, tl) == 0;
	return n == tl && strncasecmp(ct, t, tl) == 0;
}

/*
 * The values of a JSON text (1 + member values + array elements) from
 * its brackets, commas and colons outside strings, stopping past max:
 * so a body of tiny values cannot make a tree of millions of nodes.
 * Malformed text is left to jansson to refuse.
 */
static size_t
form_json_values(const char *s, size_t len, size_t max)
{
	unsigned char arr[FORM_JSON_DEPTH];	/* 1: an array */
	size_t i, d = 0, v = 1;
	int instr = 0, first = 0;
	char c;

	for (i = 0; i < len && v <= max; i++) {
		c = s[i];
		if (instr) {
			if (c == '\\')
				i++;
			else if (c == '"')
				instr = 0;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (first && c != ']')
			v++;
		first = 0;
		switch (c) {
		case '"':
			instr = 1;
			break;
		case '[':
		case '{':
			if (d == FORM_JSON_DEPTH)
				return max + 1;
			arr[d++] = c == '[';
			first = c == '[';
			break;
		case ']':
		case '}':
			if (d > 0)
				d--;
			break;
		case ',':
			if (d > 0 && arr[d - 1])
				v++;
			break;
		case ':':
			v++;
			break;
		}
	}
	return v;
}

/* jansson's tree, only for a text within the bounds. */
static json_t *
form_json(const char *j, size_t jlen, size_t flags)
{
	json_error_t err;

	if (jlen > FORM_MAX_BYTES ||
	    form_json_values(j, jlen, FORM_MAX_VALUES) > FORM_MAX_VALUES)
		return NULL;
	return json_loadb(j, jlen, flags, &err);
}

json_t *
form_params(const char *ctype, const char *body, size_t len,
    const char *query)
{
	json_t *params;
	const char *j = body;
	size_t jlen = len, i;

	if (len == 0) {
		if (query == NULL || *query == '\0')
			return NULL;
		return form_parse(query, strlen(query));
	}
	if (ctype == NULL)
		ctype = "";
	/* Some senders put a BOM before JSON; jansson refuses it. */
	if (jlen >= 3 && memcmp(j, "\xef\xbb\xbf", 3) == 0) {
		j += 3;
		jlen -= 3;
	}
	if (form_ctype(ctype, "application/json", 0) ||
	    form_ctype(ctype, "text/json", 0) ||
	    form_ctype(ctype, "+json", 1))
		return form_json(j, jlen, JSON_DECODE_ANY | JSON_ALLOW_NUL);
	if (form_ctype(ctype, "application/x-www-form-urlencoded", 0))
		return form_parse(body, len);
	for (i = 0; i < jlen && (j[i] == ' ' || j[i] == '\t' ||
	    j[i] == '\r' || j[i] == '\n'); i++)
		;
	if (i < jlen && (j[i] == '{' || j[i] == '[') &&
	    (params = form_json(j, jlen, JSON_ALLOW_NUL)) != NULL)
		return params;
	if (*ctype == '\0' && memchr(body, '=', len) != NULL)
		return form_parse(body, len);
	return NULL;
}
