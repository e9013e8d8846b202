/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * Unit tests of bq.c (and http.c's pure helpers) without a network: the
 * classification of Google error bodies (shapes from the BigQuery docs
 * and the discovery document's ErrorProto), Job resources, the load job
 * JSON against hit_schema(), table names, resumable Range headers.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bq.h"
#include "conf.h"
#include "hit.h"
#include "http.h"
#include "log.h"
#include "tap.h"
#include "xmalloc.h"

/* {"error": {...}} as Google's APIs send it. */
static char *
gerr(int code, const char *reason, const char *message, const char *status)
{
	return xasprintf("{\"error\":{\"code\":%d,\"message\":\"%s\","
	    "\"errors\":[{\"message\":\"%s\",\"domain\":\"global\","
	    "\"reason\":\"%s\"}],\"status\":\"%s\"}}", code, message, message,
	    reason, status);
}

static enum bq_result
classify(long status, const char *body, char **reason, char **message)
{
	return bq_classify_http(status, body, body != NULL ? strlen(body) : 0,
	    reason, message);
}

static void
check(int code, const char *reason, const char *status, enum bq_result want,
    const char *what)
{
	char *body, *r, *m;
	enum bq_result got;

	body = gerr(code, reason, "Some message: x", status);
	got = classify(code, body, &r, &m);
	is_str(bq_result_name(got), bq_result_name(want), "%d %s: %s", code,
	    reason, what);
	free(body);
	free(r);
	free(m);
}

static void
test_classify(void)
{
	char *body, *r, *m;

	body = gerr(404, "notFound", "Not found: Dataset proj:ds", "NOT_FOUND");
	is_int(classify(404, body, &r, &m), BQ_FAILED, "missing dataset fails");
	is_str(r, "notFound", "reason kept");
	is_str(m, "Not found: Dataset proj:ds", "message kept");
	free(body);
	free(r);
	free(m);

	check(400, "invalid", "INVALID_ARGUMENT", BQ_FAILED,
	    "invalid (schema mismatch) fails");
	check(403, "accessDenied", "PERMISSION_DENIED", BQ_FAILED,
	    "access denied fails");
	check(403, "rateLimitExceeded", "PERMISSION_DENIED", BQ_RETRY,
	    "rate limit is a 403 yet retried");
	check(403, "quotaExceeded", "PERMISSION_DENIED", BQ_QUOTA,
	    "quota waits longer");
	check(429, "quotaExceeded", "RESOURCE_EXHAUSTED", BQ_QUOTA,
	    "quota as 429");
	check(500, "internalError", "INTERNAL", BQ_RETRY, "internal error");
	check(503, "backendError", "UNAVAILABLE", BQ_RETRY, "backend error");
	check(400, "jobBackendError", "INVALID_ARGUMENT", BQ_RETRY,
	    "job backend error");
	check(400, "someNewReason", "INVALID_ARGUMENT", BQ_FAILED,
	    "unknown reason, 4xx: fails");
	check(502, "someNewReason", "UNAVAILABLE", BQ_RETRY,
	    "unknown reason, 5xx: retried");
	check(401, "authError", "UNAUTHENTICATED", BQ_CONFIG,
	    "401 after a fresh token: credentials");
	check(409, "duplicate", "ALREADY_EXISTS", BQ_FAILED,
	    "409 duplicate outside an insert");

	is_int(classify(502, "<html><body>Bad\n  Gateway</body></html>", &r,
	    &m), BQ_RETRY, "a proxy's HTML 502 is retried");
	is_str(r, "http", "no reason in HTML");
	is_str(m, "HTTP 502: <html><body>Bad Gateway</body></html>",
	    "message quotes the page, whitespace folded");
	free(r);
	free(m);
	is_int(classify(429, NULL, &r, &m), BQ_RETRY, "bare 429 retried");
	is_str(m, "HTTP 429", "bare status as message");
	free(r);
	free(m);
	is_int(classify(400, "{\"error\":\"invalid_grant\","
	    "\"error_description\":\"Bad Request\"}", &r, &m), BQ_FAILED,
	    "OAuth-style error body");
	is_str(r, "invalid_grant", "OAuth error as reason");
	is_str(m, "Bad Request", "OAuth description as message");
	free(r);
	free(m);
	is_int(classify(503, "{\"error\":{\"code\":503,\"message\":\"down\","
	    "\"status\":\"UNAVAILABLE\"}}", &r, &m), BQ_RETRY,
	    "no errors[]: the status string stands in");
	is_str(r, "UNAVAILABLE", "status as reason");
	free(r);
	free(m);

	is_int(bq_classify_reason("stopped"), BQ_RETRY, "stopped job retried");
	is_int(bq_classify_reason("whatever"), -1, "unknown reason");
	is_int(bq_classify_reason(NULL), -1, "no reason");
}

static void
test_parse_job(void)
{
	struct bq_job job;
	const char *running = "{\"kind\":\"bigquery#job\",\"jobReference\":"
	    "{\"projectId\":\"p\",\"jobId\":\"j1\",\"location\":\"EU\"},"
	    "\"status\":{\"state\":\"RUNNING\"}}";
	const char *done = "{\"jobReference\":{\"projectId\":\"p\",\"jobId\":"
	    "\"j1\",\"location\":\"EU\"},\"status\":{\"state\":\"DONE\"},"
	    "\"statistics\":{\"load\":{\"inputFiles\":\"1\",\"inputFileBytes\":"
	    "\"1234\",\"outputRows\":\"42\",\"badRecords\":\"0\"}}}";
	const char *bad = "{\"jobReference\":{\"jobId\":\"j2\"},\"status\":{"
	    "\"state\":\"DONE\",\"errorResult\":{\"reason\":\"invalid\","
	    "\"message\":\"Error while reading data, error message: JSON table "
	    "encountered too many errors, giving up. Rows: 1; errors: 1.\"},"
	    "\"errors\":[{\"reason\":\"invalid\",\"message\":\"Error while "
	    "reading data, error message: JSON table encountered too many "
	    "errors, giving up. Rows: 1; errors: 1.\"},{\"reason\":\"invalid\","
	    "\"location\":\"file-00000000\",\"message\":\"JSON parsing "
	    "error in row starting at position 0: No such field: bogus.\"}]}}";
	const char *backend = "{\"jobReference\":{\"jobId\":\"j3\"},\"status\":"
	    "{\"state\":\"DONE\",\"errorResult\":{\"reason\":\"backendError\","
	    "\"message\":\"Backend error. Job aborted.\"}}}";
	const char *quota = "{\"jobReference\":{\"jobId\":\"j4\"},\"status\":"
	    "{\"state\":\"DONE\",\"errorResult\":{\"reason\":\"quotaExceeded\","
	    "\"message\":\"Quota exceeded: Your table exceeded quota for "
	    "imports or query appends per table.\"}}}";
	const char *odd = "{\"jobReference\":{\"jobId\":\"j5\"},\"status\":"
	    "{\"state\":\"DONE\",\"errorResult\":{\"reason\":\"brandNew\"}}}";

	bq_job_init(&job);
	is_int(bq_parse_job(running, strlen(running), &job), 0, "running job");
	ok(!job.done, "not done");
	is_str(job.state, "RUNNING", "state");
	is_str(job.job_id, "j1", "job id");
	is_str(job.location, "EU", "location from the answer");
	is_int(bq_parse_job(done, strlen(done), &job), 0, "done job");
	ok(job.done && job.result == BQ_OK, "done without errorResult is ok");
	is_int(job.output_rows, 42, "outputRows (a string) parsed");
	is_int(job.input_bytes, 1234, "inputFileBytes parsed");
	ok(job.reason == NULL && job.message == NULL, "no error kept");
	is_int(bq_parse_job(bad, strlen(bad), &job), -2,
	    "an answer about another job is refused");
	is_str(job.job_id, "j1", "the job id stays the one sent");
	ok(job.done && job.result == BQ_OK, "the refused answer changed "
	    "nothing");
	bq_job_release(&job);
	bq_job_init(&job);
	is_int(bq_parse_job(bad, strlen(bad), &job), 0, "failed job");
	ok(job.done && job.result == BQ_FAILED, "invalid data fails for good");
	is_str(job.reason, "invalid", "reason of errorResult");
	ok(job.message != NULL && strstr(job.message,
	    "No such field: bogus.") != NULL,
	    "the row error is in the message");
	ok(job.message != NULL && strstr(job.message, "Rows: 1; errors: 1.; "
	    "JSON") != NULL, "the repeated errorResult message is not doubled");
	is_str(job.job_id, "j2", "job id from the answer when none was sent");
	is_int(job.output_rows, -1, "no rows reported");
	bq_job_release(&job);
	bq_job_init(&job);
	is_int(bq_parse_job(backend, strlen(backend), &job), 0, "backend");
	ok(job.done && job.result == BQ_RETRY, "backendError job is retried");
	bq_job_release(&job);
	bq_job_init(&job);
	is_int(bq_parse_job(quota, strlen(quota), &job), 0, "quota");
	ok(job.done && job.result == BQ_QUOTA, "quotaExceeded job waits");
	bq_job_release(&job);
	bq_job_init(&job);
	is_int(bq_parse_job(odd, strlen(odd), &job), 0, "unknown reason");
	ok(job.done && job.result == BQ_FAILED, "unknown job error fails");
	is_int(bq_parse_job("{\"error\":{}}", 12, &job), -1,
	    "an error body is not a job");
	is_int(bq_parse_job("nope", 4, &job), -1, "not JSON");
	bq_job_release(&job);
}

static void
test_table_split(void)
{
	char *p, *d, *t;

	is_int(bq_table_split("proj.ds.tbl", NULL, &p, &d, &t), 0, "p.d.t");
	ok(strcmp(p, "proj") == 0 && strcmp(d, "ds") == 0 &&
	    strcmp(t, "tbl") == 0, "split right");
	free(p), free(d), free(t);
	is_int(bq_table_split("example.com:proj.ds.tbl", NULL, &p, &d, &t), 0,
	    "domain-scoped project");
	is_str(p, "example.com:proj", "the project keeps its dot");
	free(p), free(d), free(t);
	is_int(bq_table_split("ds.tbl", "dflt", &p, &d, &t), 0, "d.t");
	is_str(p, "dflt", "default project");
	free(p), free(d), free(t);
	is_int(bq_table_split("proj:ds.tbl", NULL, &p, &d, &t), 0, "legacy");
	ok(strcmp(p, "proj") == 0 && strcmp(d, "ds") == 0, "legacy split");
	free(p), free(d), free(t);
	is_int(bq_table_split("ds.tbl", NULL, &p, &d, &t), -1,
	    "d.t needs a default project");
	is_int(bq_table_split("tbl", "x", &p, &d, &t), -1, "one part");
	is_int(bq_table_split("p..t", NULL, &p, &d, &t), -1, "empty dataset");
	is_int(bq_table_split("p.d.", NULL, &p, &d, &t), -1, "empty table");
	ok(p == NULL && d == NULL && t == NULL, "nothing left on failure");
}

static void
test_job_json(void)
{
	struct conf conf;
	struct conf_stream st;
	json_t *job, *load, *fields, *ref, *want;
	size_t i;

	memset(&conf, 0, sizeof conf);
	memset(&st, 0, sizeof st);
	conf.project = "runner-proj";
	conf.location = "EU";
	st.name = "crm";
	st.table = "data-proj.hooks.crm_hits";
	st.columns[0] = HIT_COL_HEADERS;
	st.columns[1] = HIT_COL_SIGNATURE_VALID;
	st.ncolumns = 2;

	job = bq_job_json(&conf, &st, "hs_crm_1");
	ok(job != NULL, "load job built");
	ref = json_object_get(job, "jobReference");
	is_str(json_string_value(json_object_get(ref, "projectId")),
	    "runner-proj", "jobReference.projectId is the config's project");
	is_str(json_string_value(json_object_get(ref, "jobId")), "hs_crm_1",
	    "jobReference.jobId");
	is_str(json_string_value(json_object_get(ref, "location")), "EU",
	    "jobReference.location");
	load = json_object_get(json_object_get(job, "configuration"), "load");
	is_str(json_string_value(json_object_get(load, "sourceFormat")),
	    "NEWLINE_DELIMITED_JSON", "sourceFormat");
	is_str(json_string_value(json_object_get(load, "createDisposition")),
	    "CREATE_IF_NEEDED", "createDisposition");
	is_str(json_string_value(json_object_get(load, "writeDisposition")),
	    "WRITE_APPEND", "writeDisposition");
	is_str(json_string_value(json_object_get(json_object_get(load,
	    "timePartitioning"), "type")), "DAY", "timePartitioning.type");
	is_str(json_string_value(json_object_get(json_object_get(load,
	    "timePartitioning"), "field")), "date", "timePartitioning.field");
	is_str(json_string_value(json_object_get(json_object_get(load,
	    "destinationTable"), "projectId")), "data-proj",
	    "destinationTable.projectId from the table");
	is_str(json_string_value(json_object_get(json_object_get(load,
	    "destinationTable"), "datasetId")), "hooks", "datasetId");
	is_str(json_string_value(json_object_get(json_object_get(load,
	    "destinationTable"), "tableId")), "crm_hits", "tableId");
	fields = hit_schema(&st);
	ok(json_equal(json_object_get(json_object_get(load, "schema"),
	    "fields"), fields), "schema.fields is hit_schema(stream)");
	is_int(json_array_size(fields), 6, "four fixed columns and two more");
	for (i = 0; i < 4; i++)
		is_str(json_string_value(json_object_get(json_array_get(
		    json_object_get(json_object_get(load, "schema"), "fields"),
		    i), "name")), hit_columns[i].name, "fixed column %zu", i);
	json_decref(fields);

	want = json_pack("[s]", "ALLOW_FIELD_ADDITION");
	ok(json_equal(json_object_get(load, "schemaUpdateOptions"), want),
	    "schemaUpdateOptions: ALLOW_FIELD_ADDITION");
	json_decref(want);
	ok(!bq_table_options_wanted(&st), "no table options by default");
	ok(json_object_get(load, "clustering") == NULL &&
	    json_object_get(load, "destinationTableProperties") == NULL &&
	    json_object_get(json_object_get(load, "timePartitioning"),
	    "expirationMs") == NULL, "none sent");
	st.partition_expiration = 86400;
	st.require_partition_filter = 1;
	st.cluster[0] = HIT_COL_DATE;
	st.cluster[1] = HIT_COL_SIGNATURE_VALID;
	st.ncluster = 2;
	st.table_description = "CRM hits";
	ok(bq_table_options_wanted(&st), "table options wanted");
	is_int(bq_job_table_options(job, &st), 0, "table options added");
	is_str(json_string_value(json_object_get(json_object_get(load,
	    "timePartitioning"), "expirationMs")), "86400000",
	    "expirationMs: a string of milliseconds");
	ok(json_is_true(json_object_get(json_object_get(load,
	    "timePartitioning"), "requirePartitionFilter")),
	    "timePartitioning.requirePartitionFilter");
	want = json_pack("{s:[s, s]}", "fields", "date", "signature_valid");
	ok(json_equal(json_object_get(load, "clustering"), want),
	    "clustering.fields by column name");
	json_decref(want);
	is_str(json_string_value(json_object_get(json_object_get(load,
	    "destinationTableProperties"), "description")), "CRM hits",
	    "destinationTableProperties.description");
	want = json_object();
	is_int(bq_job_table_options(want, &st), -1, "not a load job: -1");
	json_decref(want);
	json_decref(job);

	memset(&st, 0, sizeof st);
	st.name = "crm";
	conf.location = NULL;
	st.table = "bad";
	ok(bq_job_json(&conf, &st, "x") == NULL, "a bad table name: no job");
	st.table = "ds.t";
	job = bq_job_json(&conf, &st, "x");
	ok(job != NULL && json_object_get(json_object_get(job,
	    "jobReference"), "location") == NULL, "no location: none sent");
	is_str(json_string_value(json_object_get(json_object_get(
	    json_object_get(json_object_get(job, "configuration"), "load"),
	    "destinationTable"), "projectId")), "runner-proj",
	    "dataset.table lands in the config's project");
	json_decref(job);
}

static void
test_range_and_ids(void)
{
	uint64_t next;

	ok(bq_parse_range(NULL, 100, &next) == 0 && next == 0,
	    "no Range: nothing committed");
	ok(bq_parse_range("bytes=0-262143", 1048576, &next) == 0 &&
	    next == 262144, "first chunk committed");
	ok(bq_parse_range("bytes=0-99", 100, &next) == 0 && next == 100,
	    "all committed");
	is_int(bq_parse_range("bytes=0-100", 100, &next), -1, "past the end");
	is_int(bq_parse_range("bytes=5-10", 100, &next), -1, "not from 0");
	is_int(bq_parse_range("bytes=0-", 100, &next), -1, "no end");
	is_int(bq_parse_range("bytes=0-1x", 100, &next), -1, "junk");

	ok(bq_job_id_ok("hs_host-1_20240101T000000_abc"), "good job id");
	ok(!bq_job_id_ok(""), "empty job id");
	ok(!bq_job_id_ok("a.b"), "dot in job id");
	ok(!bq_job_id_ok("a/b"), "slash in job id");
}

static void
test_http_helpers(void)
{
	char *s;

	s = http_url_escape("example.com:proj a/b~_-");
	is_str(s, "example.com%3Aproj%20a%2Fb~_-", "percent-encoding");
	free(s);
	s = http_url_nosecret("https://h/upload?upload_id=SECRET#x");
	is_str(s, "https://h/upload", "logged URL drops the query");
	free(s);
	is_int(http_parse_retry_after("120"), 120, "Retry-After seconds");
	is_int(http_parse_retry_after(" 7 "), 7, "with spaces");
	is_int(http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), 0,
	    "a date in the past");
	ok(http_parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT") > 0,
	    "a date in the future");
	is_int(http_parse_retry_after("soon"), -1, "junk");
	is_int(http_parse_retry_after("-5"), -1, "negative");
	is_int(http_parse_retry_after("3600"), 3600, "an hour");
	is_int(http_parse_retry_after("31536000"), 3600, "a year is capped "
	    "at an hour");
	is_int(http_parse_retry_after("99999999999999999999999"), 3600,
	    "an overflowing number is capped too");
	is_int(http_parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT"),
	    3600, "a far date is capped");
	ok(http_url_same_origin("http://127.0.0.1:8080/upload?x=1",
	    "http://127.0.0.1:8080"), "same scheme, host and port");
	ok(http_url_same_origin("https://BigQuery.googleapis.com/u",
	    "https://bigquery.googleapis.com:443"), "default port, case");
	ok(!http_url_same_origin("http://127.0.0.2:8080/steal",
	    "http://127.0.0.1:8080"), "another host");
	ok(!http_url_same_origin("http://127.0.0.1:8081/u",
	    "http://127.0.0.1:8080"), "another port");
	ok(!http_url_same_origin("http://bigquery.googleapis.com/u",
	    "https://bigquery.googleapis.com"), "plain http");
	ok(!http_url_same_origin("https://bigquery.googleapis.com.evil/u",
	    "https://bigquery.googleapis.com"), "a longer host");
	ok(!http_url_same_origin("https://bigquery.googleapis.com@evil/u",
	    "https://bigquery.googleapis.com"), "userinfo");
	ok(!http_url_same_origin("not a url", "https://h"), "junk");
	ok(http_url_secure("https://bigquery.googleapis.com"), "https");
	ok(http_url_secure("http://127.0.0.1:9/token"), "http to 127.0.0.1");
	ok(http_url_secure("http://127.1.2.3/"), "http to 127.0.0.0/8");
	ok(http_url_secure("http://localhost:9/"), "http to localhost");
	ok(http_url_secure("http://[::1]:9/"), "http to ::1");
	ok(!http_url_secure("http://oauth2.googleapis.com/token"),
	    "plain http elsewhere");
	ok(!http_url_secure("http://127.0.0.1.evil.com/"), "127.0.0.1.evil");
	ok(!http_url_secure("http://128.0.0.1/"), "not loopback");
	ok(!http_url_secure("ftp://127.0.0.1/"), "another scheme");
	ok(!http_url_secure("bigquery.googleapis.com"), "no scheme");
}

int
main(void)
{
	log_init("test_bq", 1);
	test_classify();
	test_parse_job();
	test_table_split();
	test_job_json();
	test_range_and_ids();
	test_http_helpers();
	return tap_done();
}
