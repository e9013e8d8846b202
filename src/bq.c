/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * bq: BigQuery load jobs over REST (see bq.h for the contract).
 *
 * Exactly once rests on the job ID: the caller derives it from the
 * batches and always sends the same bytes under it, so re-sending after
 * a lost answer is safe: BigQuery says 409 duplicate and the job is
 * looked up instead.  Answers are classified by BigQuery's error reason
 * first (rateLimitExceeded comes as a 403, quotaExceeded as a 403 or
 * 429), then by HTTP status.  Retries inside one run are few and short;
 * longer waits belong to the next run of the uploader.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "auth.h"
#include "bq.h"
#include "buf.h"
#include "hit.h"
#include "http.h"
#include "log.h"
#include "xmalloc.h"

#define BQ_EXISTS	(-1)	/* internal: 409, the job is already there */
#define BQ_PACE_MS	1000L	/* first backoff step */
#define BQ_TRIES	4	/* attempts of one request in one run */
#define BQ_SLEEP_MAX_MS	60000L	/* a longer Retry-After: leave it to cron */
#define BQ_MESSAGE_MAX	4000
#define BQ_ROW_ERRORS	5	/* row errors kept in the message */
#define BQ_PAGE_ROWS	5000	/* tabledata.list rows asked per page */

struct bq {
	struct http	*http;
	struct auth	*auth;
	const struct conf *conf;
	char		*base;		/* api_base, no trailing '/' */
	char		*project;
	char		*location;	/* NULL: BigQuery's default */
	uint64_t	 multipart_max;
	uint64_t	 chunk_size;
	long		 job_timeout;
	long		 pace_ms;
	int		 tries;
	char		**tables;	/* tables.get found them */
	size_t		 ntables;
};

struct bq *
bq_new(const struct conf *conf, struct http *http, struct auth *auth)
{
	struct bq *bq;
	size_t n;

	if (conf->project == NULL || *conf->project == '\0') {
		log_warnx("bq: no project is configured to run the load jobs");
		return NULL;
	}
	if (conf->api_base == NULL || *conf->api_base == '\0') {
		log_warnx("bq: no api_base is configured");
		return NULL;
	}
	if (!http_url_secure(conf->api_base)) {
		log_warnx("bq: api_base '%s' must be https (plain http only to "
		    "a loopback host)", conf->api_base);
		return NULL;
	}
	bq = xcalloc(1, sizeof *bq);
	bq->http = http;
	bq->auth = auth;
	bq->conf = conf;
	bq->base = xstrdup(conf->api_base);
	n = strlen(bq->base);
	while (n > 0 && bq->base[n - 1] == '/')
		bq->base[--n] = '\0';
	bq->project = xstrdup(conf->project);
	if (conf->location != NULL && *conf->location != '\0')
		bq->location = xstrdup(conf->location);
	bq->multipart_max = conf->multipart_max;
	/* conf_load checked both: chunks are multiples of 256 KiB. */
	bq->chunk_size = conf->chunk_size;
	bq->job_timeout = conf->job_timeout;
	bq->pace_ms = BQ_PACE_MS;
	bq->tries = BQ_TRIES;
	return bq;
}

void
bq_free(struct bq *bq)
{
	if (bq == NULL)
		return;
	free(bq->base);
	free(bq->project);
	free(bq->location);
	while (bq->ntables > 0)
		free(bq->tables[--bq->ntables]);
	free(bq->tables);
	free(bq);
}

/* Tests run against a local fake: shorter steps, same logic. */
void
bq_set_pace(struct bq *bq, long first_ms, int tries)
{
	if (first_ms > 0)
		bq->pace_ms = first_ms;
	if (tries > 0)
		bq->tries = tries;
}

const char *
bq_result_name(enum bq_result r)
{
	switch (r) {
	case BQ_OK:
		return "ok";
	case BQ_RETRY:
		return "retry";
	case BQ_QUOTA:
		return "quota";
	case BQ_FAILED:
		return "failed";
	case BQ_NOTFOUND:
		return "notfound";
	case BQ_CONFIG:
		return "config";
	}
	return "?";
}

void
bq_job_init(struct bq_job *job)
{
	memset(job, 0, sizeof *job);
	job->output_rows = job->input_bytes = -1;
	job->retry_after = -1;
	job->result = BQ_RETRY;
}

/* Forget the outcome of an earlier answer, keep the job's identity. */
static void
bq_job_clear(struct bq_job *job)
{
	free(job->state);
	free(job->reason);
	free(job->message);
	job->state = job->reason = job->message = NULL;
	job->done = 0;
	job->result = BQ_RETRY;
	job->http_status = 0;
	job->output_rows = job->input_bytes = -1;
	job->retry_after = -1;
}

void
bq_job_release(struct bq_job *job)
{
	bq_job_clear(job);
	free(job->job_id);
	free(job->location);
	job->job_id = job->location = NULL;
}

static void
bq_job_error(struct bq_job *job, enum bq_result res, const char *reason,
    const char *fmt, ...) HS_PRINTF(4, 5);

static void
bq_job_error(struct bq_job *job, enum bq_result res, const char *reason,
    const char *fmt, ...)
{
	va_list ap;
	char msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	free(job->reason);
	free(job->message);
	job->reason = xstrdup(reason);
	job->message = xstrdup(msg);
	job->result = res;
}

/* Job IDs: letters, digits, '_' and '-', at most 1024 of them. */
int
bq_job_id_ok(const char *id)
{
	size_t n;

	for (n = 0; id[n] != '\0'; n++)
		if (!((id[n] >= 'a' && id[n] <= 'z') ||
		    (id[n] >= 'A' && id[n] <= 'Z') ||
		    (id[n] >= '0' && id[n] <= '9') || id[n] == '_' ||
		    id[n] == '-'))
			return 0;
	return n > 0 && n <= 1024;
}

/*
 * BigQuery's error reasons (cloud.google.com/bigquery/docs/error-messages)
 * -> our classes; -1 for a reason we do not know.
 */
int
bq_classify_reason(const char *reason)
{
	static const char *const retry[] = { "backendError",
	    "internalError", "rateLimitExceeded", "jobBackendError",
	    "jobInternalError", "tableUnavailable", "timeout", "stopped",
	    NULL };
	static const char *const failed[] = { "invalid", "invalidQuery",
	    "notFound", "accessDenied", "billingNotEnabled", "blocked",
	    "badRequest", "notImplemented", "resourcesExceeded",
	    "responseTooLarge", "invalidUser", "duplicate", NULL };
	size_t i;

	if (reason == NULL)
		return -1;
	if (strcmp(reason, "quotaExceeded") == 0)
		return BQ_QUOTA;
	for (i = 0; retry[i] != NULL; i++)
		if (strcmp(reason, retry[i]) == 0)
			return BQ_RETRY;
	for (i = 0; failed[i] != NULL; i++)
		if (strcmp(reason, failed[i]) == 0)
			return BQ_FAILED;
	return -1;
}

/* A non-JSON body (a proxy's HTML page): its start, printable only. */
static char *
bq_body_excerpt(const char *body, size_t len)
{
	struct buf b;
	size_t i;

	buf_init(&b, 0);
	for (i = 0; i < len && b.len < 200; i++) {
		unsigned char c = (unsigned char)body[i];

		if (c == '\n' || c == '\r' || c == '\t')
			c = ' ';
		if (c >= 0x20 && c < 0x7f &&
		    !(c == ' ' && b.len > 0 && b.data[b.len - 1] == ' '))
			(void)buf_addc(&b, (char)c);
	}
	return buf_detach(&b, NULL);
}

/*
 * Classify a non-2xx answer: {"error": {"code", "message", "errors":
 * [{"reason", "message", ...}], "status"}} (or OAuth's {"error":
 * "...", "error_description": "..."}).  *reason and *message are always
 * set (allocated).
 */
enum bq_result
bq_classify_http(long status, const char *body, size_t len, char **reason,
    char **message)
{
	json_t *j = NULL, *err, *e0;
	const char *r = NULL, *m = NULL;
	int k;
	enum bq_result res;

	if (body != NULL && len > 0)
		j = json_loadb(body, len, 0, NULL);
	err = json_object_get(j, "error");
	if (json_is_object(err)) {
		m = json_string_value(json_object_get(err, "message"));
		e0 = json_array_get(json_object_get(err, "errors"), 0);
		r = json_string_value(json_object_get(e0, "reason"));
		if (m == NULL)
			m = json_string_value(json_object_get(e0, "message"));
		if (r == NULL)
			r = json_string_value(json_object_get(err, "status"));
	} else if (json_is_string(err)) {
		r = json_string_value(err);
		m = json_string_value(json_object_get(j, "error_description"));
	}
	*reason = xstrdup(r != NULL ? r : "http");
	if (m != NULL && *m != '\0')
		*message = xstrndup(m, BQ_MESSAGE_MAX);
	else if (j == NULL && body != NULL && len > 0) {
		char *x = bq_body_excerpt(body, len);

		*message = xasprintf("HTTP %ld: %s", status, x);
		free(x);
	} else
		*message = xasprintf("HTTP %ld", status);
	json_decref(j);

	k = r != NULL ? bq_classify_reason(*reason) : -1;
	if (k == BQ_RETRY || k == BQ_QUOTA)
		res = (enum bq_result)k;
	else if (status == 408 || status == 429 || status >= 500)
		res = BQ_RETRY;
	else if (status == 401)
		res = BQ_CONFIG;	/* even a fresh token was refused */
	else if (k >= 0)
		res = (enum bq_result)k;
	else if (status >= 400)
		res = BQ_FAILED;
	else
		res = BQ_RETRY;		/* 1xx/3xx where none belongs */
	return res;
}

static long long
bq_jnum(json_t *v)
{
	const char *s;
	char *end;
	long long n;

	if (json_is_integer(v))
		return (long long)json_integer_value(v);
	if ((s = json_string_value(v)) == NULL)
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || n < 0)
		return -1;
	return n;
}

static char *
bq_jstrdup(json_t *v)
{
	const char *s = json_string_value(v);

	return s != NULL ? xstrdup(s) : NULL;
}

/*
 * A Job resource -> *job.  The outcome is set only when status.state is
 * DONE: success exactly when status.errorResult is absent; an error's
 * message is followed by the first row errors, where the detail is.
 * Returns -1 when the body is not a Job, -2 when it is another job than
 * job->job_id (when set): a protocol error, never a new ID to follow.
 */
int
bq_parse_job(const char *body, size_t len, struct bq_job *job)
{
	json_t *j, *ref, *status, *er, *errs, *load, *e;
	struct buf msg;
	const char *m, *r, *em, *id;
	size_t i, kept = 0;
	int k, rc = -1;

	buf_init(&msg, BQ_MESSAGE_MAX);
	if ((j = json_loadb(body, len, 0, NULL)) == NULL ||
	    !json_is_object(status = json_object_get(j, "status")))
		goto fail;
	ref = json_object_get(j, "jobReference");
	id = json_string_value(json_object_get(ref, "jobId"));
	if (id != NULL && job->job_id != NULL && strcmp(id, job->job_id) != 0) {
		rc = -2;
		goto fail;
	}
	bq_job_clear(job);
	if (id != NULL && job->job_id == NULL)
		job->job_id = xstrdup(id);
	if (json_is_string(json_object_get(ref, "location"))) {
		free(job->location);
		job->location = bq_jstrdup(json_object_get(ref, "location"));
	}
	job->state = bq_jstrdup(json_object_get(status, "state"));
	job->done = job->state != NULL && strcmp(job->state, "DONE") == 0;
	load = json_object_get(json_object_get(j, "statistics"), "load");
	job->output_rows = bq_jnum(json_object_get(load, "outputRows"));
	job->input_bytes = bq_jnum(json_object_get(load, "inputFileBytes"));
	er = json_object_get(status, "errorResult");
	if (json_is_object(er)) {
		r = json_string_value(json_object_get(er, "reason"));
		m = json_string_value(json_object_get(er, "message"));
		job->reason = xstrdup(r != NULL ? r : "unknown");
		(void)buf_adds(&msg, m != NULL ? m : "the job failed");
		errs = json_object_get(status, "errors");
		json_array_foreach(errs, i, e) {
			em = json_string_value(json_object_get(e, "message"));
			if (em == NULL || (m != NULL && strcmp(em, m) == 0))
				continue;
			if (kept++ == BQ_ROW_ERRORS) {
				(void)buf_adds(&msg, "; ...");
				break;
			}
			if (buf_addf(&msg, "; %s", em) == -1)
				break;
		}
		job->message = xstrdup(buf_str(&msg));
		/* An unknown reason on a finished job: do not burn quota. */
		k = bq_classify_reason(r);
		job->result = k >= 0 ? (enum bq_result)k : BQ_FAILED;
	} else if (job->done)
		job->result = BQ_OK;
	if (!job->done)
		job->result = BQ_RETRY;
	rc = 0;
fail:
	buf_release(&msg);
	json_decref(j);
	return rc;
}

/*
 * "project.dataset.table", split from the right since a domain-scoped
 * project ("example.com:proj") holds a dot; "dataset.table" and the
 * legacy "project:dataset.table" work too.
 */
int
bq_table_split(const char *table, const char *dflt, char **p, char **d,
    char **t)
{
	const char *dot1, *dot2 = NULL, *s;
	char *head = NULL;

	*p = *d = *t = NULL;
	if ((dot1 = strrchr(table, '.')) == NULL || dot1[1] == '\0')
		goto fail;
	for (s = table; s < dot1; s++)
		if (*s == '.')
			dot2 = s;
	if (dot2 != NULL) {
		*p = xstrndup(table, (size_t)(dot2 - table));
		*d = xstrndup(dot2 + 1, (size_t)(dot1 - dot2 - 1));
	} else {
		head = xstrndup(table, (size_t)(dot1 - table));
		if ((s = strrchr(head, ':')) != NULL) {
			*p = xstrndup(head, (size_t)(s - head));
			*d = xstrdup(s + 1);
		} else if (dflt != NULL && *dflt != '\0') {
			*p = xstrdup(dflt);
			*d = xstrdup(head);
		} else
			goto fail;
	}
	*t = xstrdup(dot1 + 1);
	if (**p == '\0' || **d == '\0')
		goto fail;
	free(head);
	return 0;
fail:
	free(head);
	free(*p);
	free(*d);
	free(*t);
	*p = *d = *t = NULL;
	return -1;
}

/*
 * The Job resource of a load job.  fields is borrowed (a reference is
 * taken).  NULL (logged) when the table name does not parse.
 */
json_t *
bq_job_config(const char *project, const char *location, const char *job_id,
    const char *table, json_t *fields)
{
	json_t *ref, *load, *job = NULL;
	char *tp, *td, *tt;

	if (bq_table_split(table, project, &tp, &td, &tt) == -1) {
		log_warnx("bq: table '%s' is not project.dataset.table", table);
		return NULL;
	}
	ref = json_pack("{s:s, s:s}", "projectId", project, "jobId", job_id);
	if (ref != NULL && location != NULL && *location != '\0')
		json_object_set_new(ref, "location", json_string(location));
	/*
	 * ALLOW_FIELD_ADDITION: a column added to the stream is added to
	 * the table; with it BigQuery also takes a load that leaves out a
	 * NULLABLE column the table has (dropped from the stream: it stays
	 * in the table, NULL in the new rows).
	 */
	load = json_pack("{s:s, s:{s:O}, s:{s:s, s:s, s:s}, s:s, s:s, "
	    "s:{s:s, s:s}, s:[s]}",
	    "sourceFormat", "NEWLINE_DELIMITED_JSON",
	    "schema", "fields", fields,
	    "destinationTable", "projectId", tp, "datasetId", td,
	    "tableId", tt,
	    "createDisposition", "CREATE_IF_NEEDED",
	    "writeDisposition", "WRITE_APPEND",
	    "timePartitioning", "type", "DAY", "field", "date",
	    "schemaUpdateOptions", "ALLOW_FIELD_ADDITION");
	if (ref != NULL && load != NULL)
		job = json_pack("{s:o, s:{s:o}}", "jobReference", ref,
		    "configuration", "load", load);
	else {
		json_decref(ref);
		json_decref(load);
	}
	if (job == NULL)
		log_warnx("bq: cannot build the load job for '%s'", table);
	free(tp);
	free(td);
	free(tt);
	return job;
}

json_t *
bq_job_json(const struct conf *conf, const struct conf_stream *st,
    const char *job_id)
{
	json_t *fields, *job;

	if ((fields = hit_schema(st)) == NULL) {
		log_warnx("bq: stream '%s': no schema", st->name);
		return NULL;
	}
	job = bq_job_config(conf->project, conf->location, job_id, st->table,
	    fields);
	json_decref(fields);
	return job;
}

int
bq_table_options_wanted(const struct conf_stream *st)
{
	return st->partition_expiration > 0 || st->require_partition_filter ||
	    st->ncluster > 0 || st->table_description != NULL;
}

/*
 * The stream's table options, into a load job's configuration: they
 * shape the table the load creates.  Google keeps requirePartitionFilter
 * of a load in timePartitioning (deprecated there, the only place a load
 * job has).  -1 when job is not a load job.
 */
int
bq_job_table_options(json_t *job, const struct conf_stream *st)
{
	json_t *load, *tpart, *names;
	size_t i;

	load = json_object_get(json_object_get(job, "configuration"), "load");
	tpart = json_object_get(load, "timePartitioning");
	if (!json_is_object(tpart))
		return -1;
	if (st->partition_expiration > 0)
		json_object_set_new(tpart, "expirationMs", json_sprintf("%lld",
		    (long long)st->partition_expiration * 1000));
	if (st->require_partition_filter)
		json_object_set_new(tpart, "requirePartitionFilter",
		    json_true());
	if (st->ncluster > 0) {
		names = json_array();
		for (i = 0; i < st->ncluster; i++)
			json_array_append_new(names, json_string(
			    hit_columns[st->cluster[i]].name));
		json_object_set_new(load, "clustering",
		    json_pack("{s:o}", "fields", names));
	}
	if (st->table_description != NULL)
		json_object_set_new(load, "destinationTableProperties",
		    json_pack("{s:s}", "description", st->table_description));
	return 0;
}

/*
 * A 308's Range, "bytes=0-N": N + 1 bytes are committed.  No Range at
 * all means none.  -1 when it does not parse or exceeds the total.
 */
int
bq_parse_range(const char *range, uint64_t total, uint64_t *next)
{
	const char *s;
	char *end;
	unsigned long long n;

	*next = 0;
	if (range == NULL || *range == '\0')
		return 0;
	if (strncmp(range, "bytes=0-", 8) != 0)
		return -1;
	s = range + 8;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || n >= total)
		return -1;
	*next = (uint64_t)n + 1;
	return 0;
}

static void
bq_sleep_ms(long ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

static double
bq_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Wait before attempt n + 1 (n from 0): doubling steps, or what the
 * server asked.  -1 when that is longer than a run should sleep.
 */
static long
bq_backoff(const struct bq *bq, int n, long retry_after)
{
	long ms = bq->pace_ms;

	while (n-- > 0 && ms < BQ_SLEEP_MAX_MS / 2)
		ms *= 2;
	if (retry_after > 0) {
		if (retry_after > BQ_SLEEP_MAX_MS / 1000)
			return -1;
		if (retry_after * 1000 > ms)
			ms = retry_after * 1000;
	}
	return ms;
}

/*
 * One authorised request; a 401 drops the token and tries once more.
 * BQ_OK: an answer came (r->status, maybe still 401).  BQ_RETRY: no
 * answer (transport error, or no token for now).  BQ_CONFIG: the
 * credentials are unusable.
 */
static enum bq_result
bq_call(struct bq *bq, struct http_req *req, const char *const *extra,
    struct http_resp *r, struct bq_job *job)
{
	const char *hdrs[8], *tok;
	char *authz, *safe;
	size_t n;
	int i, a;

	for (i = 0; i < 2; i++) {
		if ((a = auth_token(bq->auth, &tok)) != 0) {
			bq_job_error(job, a == -2 ? BQ_CONFIG : BQ_RETRY,
			    "auth", "no access token: %s",
			    auth_error(bq->auth));
			return job->result;
		}
		authz = xasprintf("Authorization: Bearer %s", tok);
		hdrs[0] = authz;
		for (n = 1; extra != NULL && extra[n - 1] != NULL &&
		    n < sizeof hdrs / sizeof hdrs[0] - 1; n++)
			hdrs[n] = extra[n - 1];
		hdrs[n] = NULL;
		req->headers = hdrs;
		a = http_do(bq->http, req, r);
		req->headers = NULL;
		OPENSSL_cleanse(authz, strlen(authz));
		free(authz);
		if (a == -1) {
			safe = http_url_nosecret(req->url);
			bq_job_error(job, BQ_RETRY, "transport",
			    "no answer from %s: %s", safe, r->error);
			free(safe);
			return BQ_RETRY;
		}
		job->http_status = r->status;
		job->retry_after = r->retry_after;
		if (r->status != 401)
			break;
		auth_invalidate(bq->auth);
		if (i == 0)
			log_info("bq: 401 from BigQuery, renewing the token");
	}
	return BQ_OK;
}

/* A non-2xx answer -> its class, with BigQuery's reason and message. */
static enum bq_result
bq_refused(struct bq_job *job, const struct http_resp *r)
{
	char *reason, *message;

	bq_job_clear(job);
	job->http_status = r->status;
	job->retry_after = r->retry_after;
	job->result = bq_classify_http(r->status, buf_str(&r->body),
	    r->body.len, &reason, &message);
	job->reason = reason;
	job->message = message;
	return job->result;
}

/* A 2xx answer to an insert or a get: the Job resource. */
static enum bq_result
bq_answer_job(struct bq_job *job, const struct http_resp *r)
{
	long status = r->status;
	int rc;

	if ((rc = bq_parse_job(buf_str(&r->body), r->body.len, job)) == -2) {
		bq_job_error(job, BQ_RETRY, "badAnswer", "HTTP %ld names "
		    "another job than %s", status, job->job_id);
		log_warnx("bq: job %s: the answer names another job: "
		    "protocol error", job->job_id);
		job->http_status = status;
		return BQ_RETRY;
	}
	if (rc == -1) {
		bq_job_error(job, BQ_RETRY, "badAnswer",
		    "HTTP %ld without a Job resource", status);
		job->http_status = status;
		return BQ_RETRY;
	}
	job->http_status = status;
	return BQ_OK;
}

static char *
bq_job_url(const struct bq *bq, const char *job_id, const char *location)
{
	char *p, *j, *l = NULL, *url;

	p = http_url_escape(bq->project);
	j = http_url_escape(job_id);
	if (location != NULL)
		l = http_url_escape(location);
	url = xasprintf("%s/bigquery/v2/projects/%s/jobs/%s%s%s", bq->base, p,
	    j, l != NULL ? "?location=" : "", l != NULL ? l : "");
	free(p);
	free(j);
	free(l);
	return url;
}

enum bq_result
bq_job_get(struct bq *bq, const char *job_id, struct bq_job *job)
{
	struct http_req req;
	struct http_resp r;
	enum bq_result res;
	char *url;
	long ms;
	int n;

	if (job->job_id == NULL || strcmp(job->job_id, job_id) != 0) {
		free(job->job_id);
		free(job->location);
		job->job_id = xstrdup(job_id);
		job->location = NULL;
	}
	url = bq_job_url(bq, job_id, job->location != NULL ? job->location :
	    bq->location);
	http_resp_init(&r);
	for (n = 0;; n++) {
		memset(&req, 0, sizeof req);
		req.method = "GET";
		req.url = url;
		res = bq_call(bq, &req, NULL, &r, job);
		if (res == BQ_OK) {
			if (r.status >= 200 && r.status < 300)
				res = bq_answer_job(job, &r);
			else if (r.status == 404) {
				(void)bq_refused(job, &r);
				res = job->result = BQ_NOTFOUND;
			} else if ((res = bq_refused(job, &r)) == BQ_FAILED)
				/* A refused lookup says nothing of the job. */
				res = job->result = BQ_CONFIG;
		}
		if (res != BQ_RETRY || n + 1 >= bq->tries ||
		    (ms = bq_backoff(bq, n, job->retry_after)) < 0)
			break;
		log_info("bq: job %s: lookup: %s, again in %ld ms", job_id,
		    job->message, ms);
		bq_sleep_ms(ms);
	}
	http_resp_release(&r);
	free(url);
	return res;
}

/*
 * An authorised GET of a JSON object, with bounded retries of transient
 * failures: BQ_OK (*out set), BQ_NOTFOUND (404), or the class of the
 * failure with BigQuery's reason and message in *job.
 */
static enum bq_result
bq_get_json(struct bq *bq, const char *url, struct bq_job *job,
    json_t **out)
{
	struct http_req req;
	struct http_resp r;
	enum bq_result res;
	char *safe;
	long ms;
	int n;

	*out = NULL;
	http_resp_init(&r);
	for (n = 0;; n++) {
		memset(&req, 0, sizeof req);
		req.method = "GET";
		req.url = url;
		res = bq_call(bq, &req, NULL, &r, job);
		if (res == BQ_OK && r.status >= 200 && r.status < 300) {
			*out = json_loadb(buf_str(&r.body), r.body.len, 0,
			    NULL);
			if (!json_is_object(*out)) {
				json_decref(*out);
				*out = NULL;
				bq_job_error(job, BQ_RETRY, "badAnswer",
				    "HTTP %ld without a JSON object", r.status);
				res = BQ_RETRY;
			}
		} else if (res == BQ_OK && r.status == 404) {
			(void)bq_refused(job, &r);
			res = job->result = BQ_NOTFOUND;
		} else if (res == BQ_OK)
			res = bq_refused(job, &r);
		if (res != BQ_RETRY || n + 1 >= bq->tries ||
		    (ms = bq_backoff(bq, n, job->retry_after)) < 0)
			break;
		safe = http_url_nosecret(url);
		log_info("bq: GET %s: %s, again in %ld ms", safe, job->message,
		    ms);
		free(safe);
		bq_sleep_ms(ms);
	}
	http_resp_release(&r);
	return res;
}

/*
 * {api_base}/bigquery/v2/projects/P/datasets/D/tables/T; NULL for a bad
 * name, said in *why (when not NULL).
 */
static char *
bq_table_url(const struct bq *bq, const char *table, char **why)
{
	char *tp, *td, *tt, *p, *d, *t, *url;

	if (bq_table_split(table, bq->project, &tp, &td, &tt) == -1) {
		if (why != NULL)
			*why = xasprintf("table '%s' is not "
			    "project.dataset.table", table);
		return NULL;
	}
	p = http_url_escape(tp);
	d = http_url_escape(td);
	t = http_url_escape(tt);
	url = xasprintf("%s/bigquery/v2/projects/%s/datasets/%s/tables/%s",
	    bq->base, p, d, t);
	free(tp);
	free(td);
	free(tt);
	free(p);
	free(d);
	free(t);
	return url;
}

/* The message of a failed call, for the caller (allocated). */
static void
bq_why(struct bq_job *job, const char *table, char **why)
{
	if (why != NULL)
		*why = xasprintf("table %s: %s%s%s", table,
		    job->reason != NULL ? job->reason : "error",
		    job->message != NULL ? ": " : "",
		    job->message != NULL ? job->message : "");
}

enum bq_result
bq_table_get(struct bq *bq, const char *table, json_t **out, char **why)
{
	struct bq_job job;
	enum bq_result res;
	char *url;

	*out = NULL;
	if (why != NULL)
		*why = NULL;
	if ((url = bq_table_url(bq, table, why)) == NULL)
		return BQ_CONFIG;
	bq_job_init(&job);
	if ((res = bq_get_json(bq, url, &job, out)) != BQ_OK)
		bq_why(&job, table, why);
	bq_job_release(&job);
	free(url);
	return res;
}

/*
 * tabledata.list of the given fields (comma-separated), page after page:
 * fn gets each row's cells (the "f" array, in the table's order).
 */
enum bq_result
bq_table_rows(struct bq *bq, const char *table, const char *fields,
    void (*fn)(void *, json_t *), void *arg, char **why)
{
	struct bq_job job;
	enum bq_result res = BQ_OK;
	json_t *j = NULL, *row;
	const char *next;
	char *base, *sel, *tok = NULL, *url;
	size_t i;

	if (why != NULL)
		*why = NULL;
	if ((base = bq_table_url(bq, table, why)) == NULL)
		return BQ_CONFIG;
	bq_job_init(&job);
	sel = http_url_escape(fields);
	for (;;) {
		url = xasprintf("%s/data?maxResults=%d&selectedFields=%s%s%s",
		    base, BQ_PAGE_ROWS, sel, tok != NULL ? "&pageToken=" : "",
		    tok != NULL ? tok : "");
		res = bq_get_json(bq, url, &job, &j);
		free(url);
		if (res != BQ_OK) {
			bq_why(&job, table, why);
			break;
		}
		json_array_foreach(json_object_get(j, "rows"), i, row)
			fn(arg, json_object_get(row, "f"));
		next = json_string_value(json_object_get(j, "pageToken"));
		if (next == NULL || *next == '\0') {
			json_decref(j);
			break;
		}
		/* The same token twice would page for ever. */
		url = http_url_escape(next);
		if (tok != NULL && strcmp(url, tok) == 0) {
			free(url);
			json_decref(j);
			if (why != NULL)
				*why = xasprintf("table %s: tabledata.list "
				    "gave the same page token twice", table);
			res = BQ_RETRY;
			break;
		}
		free(tok);
		tok = url;
		json_decref(j);
	}
	bq_job_release(&job);
	free(tok);
	free(sel);
	free(base);
	return res;
}

/*
 * Does the stream's table exist?  Asked only for a stream with table
 * options, which go with a load that creates the table and only with it:
 * sent to an existing table, another clustering or description fails the
 * job.  A table seen once is remembered for the run.
 */
static enum bq_result
bq_table_known(struct bq *bq, const char *table, struct bq_job *job)
{
	enum bq_result res;
	json_t *t = NULL;
	char *url;
	size_t i;

	for (i = 0; i < bq->ntables; i++)
		if (strcmp(bq->tables[i], table) == 0)
			return BQ_OK;
	if ((url = bq_table_url(bq, table, NULL)) == NULL) {
		bq_job_error(job, BQ_CONFIG, "invalid", "table '%s' is not "
		    "project.dataset.table", table);
		return BQ_CONFIG;
	}
	res = bq_get_json(bq, url, job, &t);
	json_decref(t);
	free(url);
	if (res == BQ_OK) {
		bq->tables = xreallocarray(bq->tables, bq->ntables + 1,
		    sizeof *bq->tables);
		bq->tables[bq->ntables++] = xstrdup(table);
	}
	return res;
}

/*
 * After a 409 the job exists, but jobs.get may briefly not see it yet.
 */
static enum bq_result
bq_get_existing(struct bq *bq, const char *job_id, struct bq_job *job)
{
	enum bq_result res;
	int n;

	log_info("bq: job %s already exists, looking it up", job_id);
	for (n = 0;; n++) {
		res = bq_job_get(bq, job_id, job);
		if (res != BQ_NOTFOUND)
			return res;
		if (n + 1 >= bq->tries)
			break;
		bq_sleep_ms(bq_backoff(bq, n, -1));
	}
	bq_job_error(job, BQ_RETRY, "notFound",
	    "job %s exists (409) but jobs.get does not find it", job_id);
	return BQ_RETRY;
}

/*
 * POST with bounded retries of transient failures.  BQ_OK: a 2xx answer
 * is in *r; BQ_EXISTS: 409; otherwise the class of the failure.
 */
static int
bq_post(struct bq *bq, struct http_req *req, const char *const *hdrs,
    struct http_resp *r, struct bq_job *job)
{
	enum bq_result res;
	long ms;
	int n;

	for (n = 0;; n++) {
		res = bq_call(bq, req, hdrs, r, job);
		if (res == BQ_OK) {
			if (r->status >= 200 && r->status < 300)
				return BQ_OK;
			if (r->status == 409)
				return BQ_EXISTS;
			res = bq_refused(job, r);
		}
		if (res != BQ_RETRY || n + 1 >= bq->tries ||
		    (ms = bq_backoff(bq, n, job->retry_after)) < 0)
			return res;
		log_info("bq: job %s: %s: %s, again in %ld ms", job->job_id,
		    job->reason, job->message, ms);
		bq_sleep_ms(ms);
	}
}

static char *
bq_boundary(void)
{
	unsigned char rnd[12];
	char hex[sizeof rnd * 2 + 1];
	size_t i;

	/*
	 * NDJSON never holds "\r\n--" (JSON escapes CR), so any boundary
	 * is safe; randomness only guards hand-made files.
	 */
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		memset(rnd, 0x5a, sizeof rnd);
	for (i = 0; i < sizeof rnd; i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	return xasprintf("hookspool_%s", hex);
}

/* The URL that starts a load job with an upload of the given type. */
static char *
bq_upload_url(const struct bq *bq, const char *type)
{
	char *p, *url;

	p = http_url_escape(bq->project);
	url = xasprintf("%s/upload/bigquery/v2/projects/%s/jobs?"
	    "uploadType=%s", bq->base, p, type);
	free(p);
	return url;
}

/*
 * The source's gate (http.h): may bytes [0, upto) go?  When they must
 * never go, the upload is dropped unfinished: BigQuery creates a load
 * job only when an upload is complete, so nothing of it is loaded.
 */
static int
bq_gate(const struct http_src *src, uint64_t upto, struct bq_job *job)
{
	if (src->ready == NULL || src->ready(src->ready_arg, upto) == 0)
		return BQ_OK;
	bq_job_error(job, BQ_RETRY, "abandoned", "the upload was stopped "
	    "before byte %" PRIu64 " of %" PRIu64 ": its data may not go",
	    upto, src->total);
	return BQ_RETRY;
}

static int
bq_insert_multipart(struct bq *bq, const char *json,
    const struct http_src *src, struct bq_job *job)
{
	struct http_req req;
	struct http_resp r;
	char *b, *url, *prefix, *suffix, *ctype;
	const char *hdrs[2];
	int res;

	if ((res = bq_gate(src, src->total, job)) != BQ_OK)
		return res;
	b = bq_boundary();
	url = bq_upload_url(bq, "multipart");
	prefix = xasprintf("--%s\r\nContent-Type: application/json; "
	    "charset=UTF-8\r\n\r\n%s\r\n--%s\r\nContent-Type: "
	    "application/octet-stream\r\n\r\n", b, json, b);
	suffix = xasprintf("\r\n--%s--\r\n", b);
	ctype = xasprintf("Content-Type: multipart/related; boundary=%s", b);
	hdrs[0] = ctype;
	hdrs[1] = NULL;
	memset(&req, 0, sizeof req);
	req.method = "POST";
	req.url = url;
	req.prefix = prefix;
	req.prefix_len = strlen(prefix);
	req.src = src;
	req.src_off = 0;
	req.src_len = src->total;
	req.suffix = suffix;
	req.suffix_len = strlen(suffix);
	http_resp_init(&r);
	log_debug("bq: job %s: multipart upload of %" PRIu64 " bytes",
	    job->job_id, src->total);
	res = bq_post(bq, &req, hdrs, &r, job);
	if (res == BQ_OK)
		res = bq_answer_job(job, &r);
	http_resp_release(&r);
	free(b);
	free(url);
	free(prefix);
	free(suffix);
	free(ctype);
	return res;
}

/* A session URI may come relative: resolve it against api_base. */
static char *
bq_absolute(const struct bq *bq, const char *loc)
{
	const char *s, *slash;

	if (loc[0] != '/')
		return xstrdup(loc);
	s = strstr(bq->base, "://");
	s = s != NULL ? s + 3 : bq->base;
	slash = strchr(s, '/');
	if (slash == NULL)
		return xasprintf("%s%s", bq->base, loc);
	return xasprintf("%.*s%s", (int)(slash - bq->base), bq->base, loc);
}

static int
bq_resumable_start(struct bq *bq, const char *json, uint64_t total,
    struct bq_job *job, char **session)
{
	struct http_req req;
	struct http_resp r;
	char *url, *len, *safe;
	const char *hdrs[4];
	int res;

	*session = NULL;
	url = bq_upload_url(bq, "resumable");
	len = xasprintf("X-Upload-Content-Length: %" PRIu64, total);
	hdrs[0] = "Content-Type: application/json; charset=UTF-8";
	hdrs[1] = "X-Upload-Content-Type: application/octet-stream";
	hdrs[2] = len;
	hdrs[3] = NULL;
	memset(&req, 0, sizeof req);
	req.method = "POST";
	req.url = url;
	req.prefix = json;
	req.prefix_len = strlen(json);
	http_resp_init(&r);
	res = bq_post(bq, &req, hdrs, &r, job);
	if (res == BQ_OK) {
		if (r.location != NULL && *r.location != '\0') {
			*session = bq_absolute(bq, r.location);
			/* The token goes to the session: only where it went. */
			if (!http_url_same_origin(*session, bq->base)) {
				safe = http_url_nosecret(*session);
				bq_job_error(job, BQ_RETRY, "badAnswer",
				    "resumable session URI %s is not on %s",
				    safe, bq->base);
				log_warnx("bq: job %s: resumable session URI "
				    "%s is not on %s: protocol error",
				    job->job_id, safe, bq->base);
				free(safe);
				free(*session);
				*session = NULL;
				res = BQ_RETRY;
			}
		} else {
			bq_job_error(job, BQ_RETRY, "badAnswer", "HTTP %ld "
			    "without a resumable session URI", r.status);
			res = BQ_RETRY;
		}
	}
	http_resp_release(&r);
	free(url);
	free(len);
	return res;
}

/*
 * One PUT to a resumable session: bytes [off, off + len) of the data, or
 * with len 0 the question "bytes * /TOTAL" (how much is committed?).
 */
static enum bq_result
bq_session_put(struct bq *bq, const char *session, const struct http_src *src,
    uint64_t off, uint64_t len, struct http_resp *r, struct bq_job *job)
{
	struct http_req req;
	char range[96];
	const char *hdrs[2];

	memset(&req, 0, sizeof req);
	req.method = "PUT";
	req.url = session;
	if (len == 0)
		snprintf(range, sizeof range, "Content-Range: bytes */%" PRIu64,
		    src->total);
	else {
		snprintf(range, sizeof range, "Content-Range: bytes %" PRIu64
		    "-%" PRIu64 "/%" PRIu64, off, off + len - 1, src->total);
		req.src = src;
		req.src_off = off;
		req.src_len = len;
	}
	hdrs[0] = range;
	hdrs[1] = NULL;
	return bq_call(bq, &req, hdrs, r, job);
}

/*
 * The resumable protocol: start a session, PUT chunks with
 * Content-Range; 308 + Range says how much is committed; after a failure
 * ask "bytes * /TOTAL" and go on from the committed offset; a session
 * that is gone (404, 410) is started again, a bounded number of times.
 * Failures are counted until the committed offset moves forward.
 */
static int
bq_insert_resumable(struct bq *bq, const char *json,
    const struct http_src *src, struct bq_job *job)
{
	struct http_resp r;
	char *session = NULL;
	uint64_t total = src->total, off = 0, best = 0, len, next;
	int res, fails = 0, restarts = 0, query = 0;
	long ms;

	http_resp_init(&r);
	for (;;) {
		if (session == NULL) {
			res = bq_resumable_start(bq, json, total, job,
			    &session);
			if (res != BQ_OK)
				goto out;
			log_debug("bq: job %s: resumable upload of %" PRIu64
			    " bytes", job->job_id, total);
			off = best = 0;
			query = 0;
		}
		len = query || off >= total ? 0 : total - off < bq->chunk_size ?
		    total - off : bq->chunk_size;
		/* The session is left unfinished: never reaches a job. */
		if (len > 0 && (res = bq_gate(src, off + len, job)) != BQ_OK)
			goto out;
		res = bq_session_put(bq, session, src, off, len, &r, job);
		if (res == BQ_CONFIG)
			goto out;
		if (res != BQ_OK)
			;	/* no answer: ask where to resume */
		else if (r.status >= 200 && r.status < 300) {
			res = bq_answer_job(job, &r);
			goto out;
		} else if (r.status == 308 &&
		    bq_parse_range(r.range, total, &next) == 0 &&
		    (query || next > off)) {
			if (next > best) {
				best = next;
				fails = 0;
			}
			off = next;
			query = 0;
			continue;
		} else if (r.status == 308)
			bq_job_error(job, BQ_RETRY, "badAnswer", "308 with no "
			    "progress at byte %" PRIu64 " (Range %s)", off,
			    r.range != NULL ? r.range : "none");
		else if (r.status == 404 || r.status == 410) {
			free(session);
			session = NULL;
			if (++restarts > 2) {
				(void)bq_refused(job, &r);
				res = job->result = BQ_RETRY;
				goto out;
			}
			log_info("bq: job %s: upload session gone (%ld), "
			    "starting again", job->job_id, r.status);
			continue;
		} else if (r.status == 409) {
			res = BQ_EXISTS;
			goto out;
		} else if ((res = bq_refused(job, &r)) == BQ_FAILED &&
		    r.status == 400)
			/*
			 * A 400 inside a session says we are out of step
			 * (a chunk resent after a lost answer), not that
			 * the data is bad: BigQuery judges the data in the
			 * job.  Ask where we are, like after any failure.
			 */
			job->result = BQ_RETRY;
		else if (res != BQ_RETRY)
			goto out;
		if (++fails > bq->tries * 2 ||
		    (ms = bq_backoff(bq, fails - 1, job->retry_after)) < 0) {
			res = job->result = BQ_RETRY;
			goto out;
		}
		log_info("bq: job %s: upload at byte %" PRIu64 ": %s, asking "
		    "where to resume in %ld ms", job->job_id, off,
		    job->message, ms);
		bq_sleep_ms(ms);
		query = 1;
	}
out:
	http_resp_release(&r);
	free(session);
	return res;
}

enum bq_result
bq_job_insert(struct bq *bq, const struct conf_stream *st,
    const char *job_id, const struct http_src *src, struct bq_job *job)
{
	json_t *j;
	char *json = NULL;
	int res;

	bq_job_release(job);
	bq_job_init(job);
	job->job_id = xstrdup(job_id);
	if (!bq_job_id_ok(job_id)) {
		bq_job_error(job, BQ_CONFIG, "invalid",
		    "bad job ID '%s'", job_id);
		return BQ_CONFIG;
	}
	if ((j = bq_job_json(bq->conf, st, job_id)) == NULL) {
		bq_job_error(job, BQ_CONFIG, "invalid",
		    "cannot build the load job of stream '%s'", st->name);
		return BQ_CONFIG;
	}
	if (bq_table_options_wanted(st)) {
		res = bq_table_known(bq, st->table, job);
		if (res == BQ_FAILED)
			log_warnx("bq: stream '%s': cannot look table %s up "
			    "(%s), sending its table options", st->name,
			    st->table, job->message);
		if (res == BQ_NOTFOUND || res == BQ_FAILED)
			(void)bq_job_table_options(j, st);
		else if (res != BQ_OK) {
			json_decref(j);
			return res;
		}
		bq_job_clear(job);
	}
	json = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (json == NULL) {
		bq_job_error(job, BQ_CONFIG, "invalid",
		    "cannot encode the job");
		return BQ_CONFIG;
	}
	if (src->total <= bq->multipart_max)
		res = bq_insert_multipart(bq, json, src, job);
	else
		res = bq_insert_resumable(bq, json, src, job);
	free(json);
	if (res == BQ_EXISTS)
		res = bq_get_existing(bq, job_id, job);
	return (enum bq_result)res;
}

enum bq_result
bq_job_wait(struct bq *bq, struct bq_job *job)
{
	double start = bq_now(), left;
	long ms = bq->pace_ms, cap = bq->pace_ms * 10;
	char state[32];

	snprintf(state, sizeof state, "%s", job->state != NULL ? job->state :
	    "unknown");
	while (!job->done) {
		left = bq->job_timeout - (bq_now() - start);
		if (left <= 0) {
			bq_job_error(job, BQ_RETRY, "timeout", "job %s not "
			    "done after %ld s (last seen %s)", job->job_id,
			    bq->job_timeout, state);
			return BQ_RETRY;
		}
		bq_sleep_ms(ms < left * 1000 ? ms : (long)(left * 1000) + 1);
		ms = ms * 3 / 2 > cap ? cap : ms * 3 / 2;
		/* Transient lookup failures: keep polling until the end. */
		if (bq_job_get(bq, job->job_id, job) == BQ_CONFIG)
			return BQ_CONFIG;
		if (job->state != NULL)
			snprintf(state, sizeof state, "%s", job->state);
	}
	if (job->result == BQ_OK)
		log_info("bq: job %s: done, %lld rows", job->job_id,
		    job->output_rows);
	return job->result;
}
