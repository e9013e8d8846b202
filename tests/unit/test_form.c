/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * Unit tests of form.c: amoCRM and Bitrix24 payloads, the bracket rules,
 * decoding, the caps, and how form_params picks a view of a request.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "form.h"
#include "tap.h"
#include "text.h"

/* Parse s and compare with the JSON text want (NULL: expect NULL). */
static void
check(const char *s, const char *want, const char *what)
{
	json_t *got, *exp = NULL;
	json_error_t err;
	char *dump;

	got = form_parse(s, strlen(s));
	if (want != NULL && (exp = json_loads(want, JSON_ALLOW_NUL,
	    &err)) == NULL) {
		ok(0, "%s: bad expected JSON: %s", what, err.text);
		json_decref(got);
		return;
	}
	if (!ok(got == exp || (got != NULL && exp != NULL &&
	    json_equal(got, exp)), "%s", what)) {
		dump = got != NULL ? json_dumps(got, JSON_COMPACT) : NULL;
		printf("#   got  %s\n#   want %s\n", dump ? dump : "NULL",
		    want ? want : "NULL");
		free(dump);
	}
	json_decref(got);
	json_decref(exp);
}

static void
check_params(const char *ct, const char *body, const char *query,
    const char *want, const char *what)
{
	json_t *got, *exp = NULL;
	char *dump;

	got = form_params(ct, body, strlen(body), query);
	if (want != NULL)
		exp = json_loads(want, JSON_DECODE_ANY, NULL);
	if (!ok(got == exp || (got != NULL && exp != NULL &&
	    json_equal(got, exp)), "params: %s", what)) {
		dump = got != NULL ? json_dumps(got, JSON_COMPACT |
		    JSON_ENCODE_ANY) : NULL;
		printf("#   got  %s\n#   want %s\n", dump ? dump : "NULL",
		    want ? want : "NULL");
		free(dump);
	}
	json_decref(got);
	json_decref(exp);
}

static void
test_senders(void)
{
	/* amoCRM/Kommo: a status change, as its docs show it, encoded. */
	check("leads%5Bstatus%5D%5B0%5D%5Bid%5D=25399013"
	    "&leads%5Bstatus%5D%5B0%5D%5Bstatus_id%5D=142"
	    "&leads%5Bstatus%5D%5B0%5D%5Bpipeline_id%5D=1"
	    "&leads%5Bstatus%5D%5B0%5D%5Bold_status_id%5D=7039432"
	    "&leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bid%5D=427"
	    "&leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bname%5D="
	    "utm_source"
	    "&leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bvalues%5D"
	    "%5B0%5D%5Bvalue%5D=google"
	    "&leads%5Bstatus%5D%5B1%5D%5Bid%5D=25399014"
	    "&leads%5Bstatus%5D%5B1%5D%5Bstatus_id%5D=143"
	    "&account%5Bid%5D=29085955&account%5Bsubdomain%5D=test",
	    "{\"leads\":{\"status\":["
	    "{\"id\":\"25399013\",\"status_id\":\"142\",\"pipeline_id\":\"1\","
	    "\"old_status_id\":\"7039432\",\"custom_fields\":[{\"id\":\"427\","
	    "\"name\":\"utm_source\",\"values\":[{\"value\":\"google\"}]}]},"
	    "{\"id\":\"25399014\",\"status_id\":\"143\"}]},"
	    "\"account\":{\"id\":\"29085955\",\"subdomain\":\"test\"}}",
	    "amoCRM lead status webhook");
	/* The same with raw brackets, as the brief's example. */
	check("leads[status][0][id]=1&leads[status][0][status_id]=142",
	    "{\"leads\":{\"status\":[{\"id\":\"1\",\"status_id\":\"142\"}]}}",
	    "amoCRM, raw brackets");
	/* Bitrix24 outbound webhook (ONCRMDEALUPDATE). */
	check("event=ONCRMDEALUPDATE&data%5BFIELDS%5D%5BID%5D=4521"
	    "&ts=1603131452"
	    "&auth%5Bdomain%5D=example.bitrix24.ru"
	    "&auth%5Bclient_endpoint%5D=https%3A%2F%2Fexample.bitrix24.ru"
	    "%2Frest%2F"
	    "&auth%5Bserver_endpoint%5D=https%3A%2F%2Foauth.bitrix.info"
	    "%2Frest%2F"
	    "&auth%5Bmember_id%5D=a223c6b3710f85df22e9377d6c4f7553"
	    "&auth%5Bapplication_token%5D=51856fefc120afa4b628cc82d3935cce",
	    "{\"event\":\"ONCRMDEALUPDATE\",\"data\":{\"FIELDS\":{\"ID\":"
	    "\"4521\"}},\"ts\":\"1603131452\",\"auth\":{\"domain\":"
	    "\"example.bitrix24.ru\",\"client_endpoint\":"
	    "\"https://example.bitrix24.ru/rest/\",\"server_endpoint\":"
	    "\"https://oauth.bitrix.info/rest/\",\"member_id\":"
	    "\"a223c6b3710f85df22e9377d6c4f7553\",\"application_token\":"
	    "\"51856fefc120afa4b628cc82d3935cce\"}}",
	    "Bitrix24 deal update webhook");
	/* SegmentStream's own example payload. */
	check("orderId=N1&status=delivered&total=120.13&userId=U1",
	    "{\"orderId\":\"N1\",\"status\":\"delivered\",\"total\":\"120.13\","
	    "\"userId\":\"U1\"}", "flat form");
}

static void
test_rules(void)
{
	struct buf pb;

	check("", "{}", "empty input is an empty object");
	check("&&&", "{}", "empty pairs are skipped");
	check("a[]=x&a[]=y", "{\"a\":[\"x\",\"y\"]}", "[] appends");
	check("a=1&a=2&a=3", "{\"a\":[\"1\",\"2\",\"3\"]}",
	    "a repeated plain key collects an array");
	check("a[x]=1&a[x]=2", "{\"a\":{\"x\":[\"1\",\"2\"]}}",
	    "a repeated bracket leaf collects an array");
	check("a[0]=x&a[1]=y", "{\"a\":[\"x\",\"y\"]}", "0..n-1 is an array");
	check("a[1]=x&a[0]=y", "{\"a\":{\"1\":\"x\",\"0\":\"y\"}}",
	    "indices out of order stay an object");
	check("a[1]=x&a[2]=y", "{\"a\":{\"1\":\"x\",\"2\":\"y\"}}",
	    "indices not from 0 stay an object");
	check("a[5]=x&a[]=y", "{\"a\":{\"5\":\"x\",\"6\":\"y\"}}",
	    "[] appends after the largest index, like PHP");
	check("a[0]=x&a[]=y", "{\"a\":[\"x\",\"y\"]}", "[] after [0]");
	check("a[01]=x", "{\"a\":{\"01\":\"x\"}}", "01 is a name, not 1");
	check("a[99999999999999999999]=1&a[]=2",
	    "{\"a\":{\"99999999999999999999\":\"1\",\"0\":\"2\"}}",
	    "a huge index is a name");
	check("a[0][]=1&a[0][]=2&a[1][]=3",
	    "{\"a\":[[\"1\",\"2\"],[\"3\"]]}", "arrays of arrays");
	check("a[x][y][z]=1&a[x][w]=2",
	    "{\"a\":{\"x\":{\"y\":{\"z\":\"1\"},\"w\":\"2\"}}}",
	    "deep objects");
	check("0=a&1=b", "{\"0\":\"a\",\"1\":\"b\"}",
	    "the top level stays an object");
	check("flag&x=", "{\"flag\":\"\",\"x\":\"\"}", "keys without values");
	check("=v", "{\"\":\"v\"}", "an empty key is kept");
	check("a=b=c", "{\"a\":\"b=c\"}", "the value keeps later '='");
	check("a[b=1", "{\"a[b\":\"1\"}", "an unclosed bracket is literal");
	check("a[b]c=1", "{\"a[b]c\":\"1\"}", "text after ] is literal");
	check("[x]=1", "{\"[x]\":\"1\"}", "no base name is literal");
	check("a%5Bb%5D=1", "{\"a\":{\"b\":\"1\"}}", "encoded brackets nest");
	check("a[b[c]=1", "{\"a\":{\"b[c\":\"1\"}}",
	    "a [ inside a segment is kept");
	check("a[b]]=1", "{\"a[b]]\":\"1\"}",
	    "the first ] closes a segment");
	buf_init(&pb, 0);
	ok(text_pct_decode(&pb, "a+b%2Bc%4", 9, 1) == 0 &&
	    strcmp(buf_str(&pb), "a b+c%4") == 0, "pct_decode: + is a space");
	buf_reset(&pb);
	ok(text_pct_decode(&pb, "a+b%41", 6, 0) == 0 &&
	    strcmp(buf_str(&pb), "a+bA") == 0, "pct_decode: + kept literally");
	buf_release(&pb);
	check("q=hello+world%21&r=a%2Bb", "{\"q\":\"hello world!\","
	    "\"r\":\"a+b\"}", "+ is a space, %2B a plus");
	check("x=%zz%4&y=100%&z=%41", "{\"x\":\"%zz%4\",\"y\":\"100%\","
	    "\"z\":\"A\"}", "a malformed % stays literal");
	check("k%C3%A9y=caf%C3%A9", "{\"k\\u00e9y\":\"caf\\u00e9\"}",
	    "UTF-8 is decoded");
	check("v=%FF%C3%28ok", "{\"v\":\"\\ufffd\\ufffd(ok\"}",
	    "invalid bytes become U+FFFD");
	check("v=%E2%82", "{\"v\":\"\\ufffd\"}",
	    "a truncated sequence is one U+FFFD");
	check("v=%ED%A0%80", "{\"v\":\"\\ufffd\\ufffd\\ufffd\"}",
	    "a surrogate is not UTF-8");
	check("v=%C0%AF", "{\"v\":\"\\ufffd\\ufffd\"}",
	    "an overlong is not UTF-8");
	check("v=%F0%9F%98%80", "{\"v\":\"\\ud83d\\ude00\"}",
	    "four-byte UTF-8 passes");
	check("k%FF=1", "{\"k\\ufffd\":\"1\"}", "keys are made UTF-8 too");
	check("a=x%00y", "{\"a\":\"x\\u0000y\"}", "NUL in a value is kept");
	check("a%00b=1", NULL, "NUL in a key cannot be a key");
	check("a=1&a[b]=2", NULL, "a value then a container");
	check("a[b]=2&a=1", NULL, "a container then a value");
	check("a[b]=1&a[b][c]=2", NULL, "a leaf then a deeper key");
}

static void
test_caps(void)
{
	struct buf b;
	json_t *j;
	int i;

	buf_init(&b, 0);
	buf_adds(&b, "a");
	for (i = 0; i < FORM_MAX_DEPTH; i++)
		buf_adds(&b, "[x]");
	buf_adds(&b, "=1");
	j = form_parse(b.data, b.len);
	ok(j != NULL, "%d brackets deep is accepted", FORM_MAX_DEPTH);
	json_decref(j);
	buf_reset(&b);
	buf_adds(&b, "a");
	for (i = 0; i < FORM_MAX_DEPTH + 1; i++)
		buf_adds(&b, "[]");
	buf_adds(&b, "=1");
	ok(form_parse(b.data, b.len) == NULL, "one bracket deeper is NULL");

	buf_reset(&b);
	for (i = 0; i < FORM_MAX_PAIRS; i++)
		buf_addf(&b, "%sa[]=%d", i ? "&" : "", i);
	j = form_parse(b.data, b.len);
	ok(j != NULL && json_array_size(json_object_get(j, "a")) ==
	    FORM_MAX_PAIRS, "%d pairs are accepted", FORM_MAX_PAIRS);
	ok(j != NULL && json_integer_value(json_object_get(j, "\xff")) == 0 &&
	    json_object_size(j) == 1, "no bookkeeping key is left behind");
	json_decref(j);
	buf_adds(&b, "&b=1");
	ok(form_parse(b.data, b.len) == NULL, "one pair more is NULL");
	buf_release(&b);
}

/* The bounds as documented in hookspool.conf(5), in plain numbers. */
static void
test_bounds(void)
{
	struct buf b;
	json_t *j;
	int i;

	buf_init(&b, 0);
	for (i = 0; i < 1000; i++)
		buf_addf(&b, "%sk%d=%d", i ? "&" : "", i, i);
	j = form_parse(b.data, b.len);
	ok(j != NULL && json_object_size(j) == 1000, "1000 pairs parse");
	json_decref(j);
	buf_adds(&b, "&last=1");
	ok(form_parse(b.data, b.len) == NULL, "1001 pairs: no params");
	ok(form_params(NULL, "", 0, b.data) == NULL,
	    "1001 pairs in a query: no params");

	buf_reset(&b);
	buf_adds(&b, "a");
	for (i = 0; i < 16; i++)
		buf_adds(&b, "[x]");
	buf_adds(&b, "=1");
	j = form_parse(b.data, b.len);
	ok(j != NULL, "16 brackets deep parse");
	json_decref(j);
	buf_reset(&b);
	buf_adds(&b, "a");
	for (i = 0; i < 17; i++)
		buf_adds(&b, "[x]");
	buf_adds(&b, "=1");
	ok(form_parse(b.data, b.len) == NULL, "17 brackets deep: no params");

	buf_reset(&b);
	buf_adds(&b, "a=");
	for (i = 0; i < 1024 * 1024 - 2; i++)
		buf_addc(&b, 'x');
	j = form_parse(b.data, b.len);
	ok(j != NULL, "a form of 1 MiB parses");
	json_decref(j);
	buf_addc(&b, 'x');
	ok(form_parse(b.data, b.len) == NULL, "a form over 1 MiB: no params");
	b.data[0] = '"';
	b.data[1] = 'x';
	b.data[b.len - 1] = '"';
	ok(form_params("application/json", b.data, b.len, NULL) == NULL,
	    "a JSON body over 1 MiB: no params");
	b.len--;
	b.data[b.len - 1] = '"';
	j = form_params("application/json", b.data, b.len, NULL);
	ok(j != NULL, "a JSON body of 1 MiB parses");
	json_decref(j);

	buf_reset(&b);
	buf_addc(&b, '[');
	for (i = 0; i < 19999; i++)
		buf_addf(&b, "%s{}", i ? "," : "");
	buf_addc(&b, ']');
	j = form_params("application/json", b.data, b.len, NULL);
	ok(j != NULL && json_array_size(j) == 19999,
	    "a JSON body of 20000 values (an array of 19999) parses");
	json_decref(j);
	b.len--;
	buf_adds(&b, ",{}]");
	ok(form_params("application/json", b.data, b.len, NULL) == NULL,
	    "a JSON body of 20001 values: no params");
	ok(form_params(NULL, b.data, b.len, NULL) == NULL,
	    "... nor when sniffed");
	buf_reset(&b);
	buf_adds(&b, "{\"a\":\"");
	for (i = 0; i < 30000; i++)
		buf_adds(&b, "[{,:");
	buf_adds(&b, "\\\"\"}");
	j = form_params("application/json", b.data, b.len, NULL);
	ok(j != NULL, "brackets and commas inside a string are not values");
	json_decref(j);
	buf_release(&b);
}

static void
test_params(void)
{
	check_params("application/json; charset=utf-8", "{\"a\":[1,2.5]}",
	    NULL, "{\"a\":[1,2.5]}", "JSON body as is");
	check_params("application/vnd.api+json", "{\"b\":true}", NULL,
	    "{\"b\":true}", "+json content type");
	check_params("Application/JSON", "42", NULL, "42",
	    "a JSON scalar with a JSON content type");
	check_params("application/json", "{broken", NULL, NULL,
	    "broken JSON is NULL");
	check_params("application/json", "\xef\xbb\xbf{\"a\":1}", NULL,
	    "{\"a\":1}", "a BOM before JSON");
	check_params(NULL, " [1,2]", NULL, "[1,2]", "untyped JSON array");
	check_params("text/plain", "{\"a\":\"x\"}", NULL, "{\"a\":\"x\"}",
	    "text/plain that is a JSON object");
	check_params("text/plain", "42", NULL, NULL,
	    "text/plain scalar is not sniffed");
	check_params("application/x-www-form-urlencoded; charset=UTF-8",
	    "a[b]=1&c=2", "q=9", "{\"a\":{\"b\":\"1\"},\"c\":\"2\"}",
	    "form body, the query ignored");
	check_params(NULL, "a=1&b=2", NULL, "{\"a\":\"1\",\"b\":\"2\"}",
	    "untyped form body");
	check_params("text/xml", "<a href=\"x\"/>", NULL, NULL,
	    "XML has no params");
	check_params("", "", "utm_source=x&id[]=1", "{\"utm_source\":\"x\","
	    "\"id\":[\"1\"]}", "no body: the query");
	check_params("application/json", "", "a=1", "{\"a\":\"1\"}",
	    "empty JSON body: the query");
	check_params(NULL, "", NULL, NULL, "no body, no query");
	check_params(NULL, "", "", NULL, "no body, empty query");
}

int
main(void)
{
	test_senders();
	test_rules();
	test_caps();
	test_bounds();
	test_params();
	return tap_done();
}
