/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * Unit tests of jsoncheck.c: its verdicts on valid and invalid lines,
 * duplicate keys at several depths and spelled with escapes, each checked
 * against jansson's own verdict too; and a 1 MiB line of many keys judged
 * in well under a second (the duplicate check used to be quadratic).
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jsoncheck.h"
#include "tap.h"

/* What spool validation asked of jansson before jsoncheck. */
static const char *
jansson_hit_line(const char *p, size_t len)
{
	json_t *j, *id;
	const char *why = NULL;

	j = json_loadb(p, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL |
	    JSON_DECODE_ANY, NULL);
	if (j == NULL)
		return "not valid JSON";
	if (!json_is_object(j))
		why = "not a JSON object";
	else if (!json_is_string(id = json_object_get(j, "hit_id")) ||
	    json_string_length(id) == 0)
		why = "no hit_id";
	json_decref(j);
	return why;
}

static void
verdict(const char *line, const char *want)
{
	size_t len = strlen(line);

	is_str(jsoncheck_hit_line(line, len), want, "jsoncheck: %.60s", line);
	is_str(jansson_hit_line(line, len), want, "jansson:   %.60s", line);
}

/* An object of n keys "kN" (N in hex), with a duplicate when dup >= 0. */
static char *
many_keys(size_t n, long dup, size_t *lenp)
{
	char *s, *p;
	size_t i, cap = 64 + n * 16;

	s = malloc(cap);
	if (s == NULL)
		abort();
	p = s + sprintf(s, "{\"hit_id\":\"h\",\"params\":{");
	for (i = 0; i < n; i++)
		p += sprintf(p, "%s\"%zx\":%zu", i ? "," : "", i, i % 10);
	if (dup >= 0)
		p += sprintf(p, ",\"%lx\":0", dup);
	p += sprintf(p, "}}");
	*lenp = (size_t)(p - s);
	return s;
}

static double
cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(void)
{
	static const char *const bad_json = "not valid JSON";
	char *big, deep[8192], *p;
	size_t len, n, i;
	double t;

	/* Valid lines. */
	verdict("{\"hit_id\":\"a\"}", NULL);
	verdict(" {\"hit_id\" : \"a\", \"n\": -1.5e3, \"b\": [true, false, "
	    "null, {}, []], \"s\": \"\\u00e9\\ud83d\\ude00\"} ", NULL);
	verdict("{\"hit_id\":\"\\u0061\"}", NULL);
	/* Not hits. */
	verdict("[1,2]", "not a JSON object");
	verdict("\"x\"", "not a JSON object");
	verdict("{}", "no hit_id");
	verdict("{\"hit_id\":\"\"}", "no hit_id");
	verdict("{\"hit_id\":1}", "no hit_id");
	verdict("{\"a\":{\"hit_id\":\"x\"}}", "no hit_id");
	/* Invalid JSON. */
	verdict("", bad_json);
	verdict("{", bad_json);
	verdict("{\"hit_id\":\"a\",}", bad_json);
	verdict("{\"hit_id\":\"a\"} x", bad_json);
	verdict("{\"hit_id\":'a'}", bad_json);
	verdict("{\"hit_id\":\"a\",\"n\":01}", bad_json);
	verdict("{\"hit_id\":\"a\",\"n\":1e400}", bad_json);
	verdict("{\"hit_id\":\"a\",\"n\":9223372036854775808}", bad_json);
	verdict("{\"hit_id\":\"a\",\"n\":-9223372036854775808}", NULL);
	verdict("{\"hit_id\":\"a\",\"s\":\"\\ud800\"}", bad_json);
	verdict("{\"hit_id\":\"a\",\"s\":\"\xff\"}", bad_json);
	verdict("{\"hit_id\":\"a\",\"s\":\"\t\"}", bad_json);
	verdict("{\"hit_id\":\"a\",\"\\u0000\":1}", bad_json);
	verdict("{\"hit_id\":\"a\",\"s\":\"\\u0000\"}", NULL);

	/* Duplicate keys, at the top and deeper, plain and escaped. */
	verdict("{\"hit_id\":\"a\",\"hit_id\":\"b\"}", bad_json);
	verdict("{\"hit_id\":\"a\",\"x\":1,\"x\":1}", bad_json);
	verdict("{\"hit_id\":\"a\",\"p\":{\"x\":1,\"y\":2,\"x\":3}}",
	    bad_json);
	verdict("{\"hit_id\":\"a\",\"p\":[{\"q\":{\"k\":1,\"k\":2}}]}",
	    bad_json);
	verdict("{\"hit_id\":\"a\",\"p\":{\"x\":1},\"q\":{\"x\":1}}", NULL);
	verdict("{\"hit_id\":\"a\",\"\\u0061\":1,\"a\":2}", bad_json);
	verdict("{\"hit_id\":\"a\",\"p\":{\"a\":1,\"\\u0061\":2}}", bad_json);
	verdict("{\"h\\u0069t_id\":\"a\",\"hit_id\":\"b\"}", bad_json);
	verdict("{\"hit_id\":\"a\",\"\\/\":1,\"/\":2}", bad_json);
	verdict("{\"hit_id\":\"a\",\"\\u00e9\":1,\"\xc3\xa9\":2}", bad_json);
	verdict("{\"hit_id\":\"a\",\"\\ud83d\\ude00\":1,"
	    "\"\xf0\x9f\x98\x80\":2}", bad_json);
	verdict("{\"hit_id\":\"a\",\"a\":1,\"A\":2,\"a \":3}", NULL);
	verdict("{\"hit_id\":\"a\",\"ab\":1,\"a\":2,\"\":3,\"a\\u0000\":4}",
	    bad_json);
	verdict("{\"hit_id\":\"a\",\"ab\":1,\"a\":2,\"\":3}", NULL);

	/* Past the few keys compared as they come: first, middle, last. */
	for (n = 17; n <= 40; n += 23) {
		big = many_keys(n, -1, &len);
		is_str(jsoncheck_hit_line(big, len), NULL, "%zu keys", n);
		free(big);
		big = many_keys(n, 0, &len);
		is_str(jsoncheck_hit_line(big, len), bad_json,
		    "%zu keys, the first again at the end", n);
		free(big);
		big = many_keys(n, (long)n / 2, &len);
		is_str(jsoncheck_hit_line(big, len), bad_json,
		    "%zu keys, a middle one again at the end", n);
		free(big);
		big = many_keys(n, (long)n - 1, &len);
		is_str(jsoncheck_hit_line(big, len), bad_json,
		    "%zu keys, the last one twice", n);
		free(big);
	}

	/* Deep nesting: 2048 levels are jansson's limit. */
	p = deep + sprintf(deep, "{\"hit_id\":\"a\",\"d\":");
	for (i = 0; i < 2047; i++)
		*p++ = '[';
	for (i = 0; i < 2047; i++)
		*p++ = ']';
	strcpy(p, "}");
	verdict(deep, NULL);
	p = deep + sprintf(deep, "{\"hit_id\":\"a\",\"d\":");
	for (i = 0; i < 2048; i++)
		*p++ = '[';
	for (i = 0; i < 2048; i++)
		*p++ = ']';
	strcpy(p, "}");
	verdict(deep, bad_json);

	/*
	 * A 1 MiB line of ~110,000 keys in one object: took ~27 s when
	 * each key was compared with all before it.  The alarm fails the
	 * test rather than let it run that long.
	 */
	alarm(20);
	big = many_keys(112000, -1, &len);
	ok(len > 1000000 && len < 1100000, "the line is 1 MiB (%zu bytes)",
	    len);
	t = cpu_seconds();
	is_str(jsoncheck_hit_line(big, len), NULL, "1 MiB of distinct keys");
	t = cpu_seconds() - t;
	ok(t < 2.0, "judged in %.3f s of CPU", t);
	free(big);
	big = many_keys(112000, 51234, &len);
	t = cpu_seconds();
	is_str(jsoncheck_hit_line(big, len), bad_json,
	    "1 MiB of keys, one twice");
	t = cpu_seconds() - t;
	ok(t < 2.0, "judged in %.3f s of CPU", t);
	is_str(jansson_hit_line(big, len), bad_json, "jansson agrees");
	free(big);
	alarm(0);
	return tap_done();
}
