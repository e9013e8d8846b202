/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * bq: BigQuery's REST shapes for load jobs.  Every answer is reduced to
 * ok / retry later / retry much later (quota) / failed for good, keeping
 * BigQuery's reason and message for the log and the .err file.
 *
 * bq_job_insert() uploads the data (multipart up to conf->multipart_max,
 * else a resumable session in conf->chunk_size chunks) with the load
 * configuration (schemaUpdateOptions ALLOW_FIELD_ADDITION: the stream may
 * gain and lose NULLABLE columns; the stream's table options only when
 * tables.get says the table does not exist yet, since BigQuery fails a
 * load that names another clustering or description than an existing
 * table's) and returns BQ_OK when the job exists at BigQuery: just
 * created, or already there (409: looked up with jobs.get).  The job may
 * not be done yet: bq_job_wait() polls it until status.state is DONE or
 * conf->job_timeout has passed.  bq_job_get() is one lookup and is the
 * crash-recovery test: BQ_NOTFOUND means the job was never created.
 *
 * A function's return says whether the call worked.  The job's own
 * outcome is job->result, valid once job->done: BQ_OK (loaded, rows in
 * output_rows), BQ_RETRY / BQ_QUOTA (ended with a transient error: retry
 * under a new job ID), BQ_FAILED (rejected: the batches are at fault).
 * BQ_FAILED returned by bq_job_insert() means BigQuery refused the job
 * itself (no such dataset, access denied, invalid config); BQ_CONFIG
 * means our credentials are unusable, BQ_QUOTA and BQ_RETRY ask for a
 * later run (job->retry_after holds the server's Retry-After, or -1).
 * With a gate on the source (src->ready, http.h), each request waits at
 * the gate for the bytes it carries; when the gate refuses, the upload
 * is dropped before its final request (no job is created) and the
 * result is BQ_RETRY with reason "abandoned".
 * Retries inside a call are bounded and logged with log_info; the final
 * outcome is left to the caller to log.  Nothing here exits.
 *
 * The server is not trusted blindly: an answer naming another job than
 * the one sent, or a resumable session URI off api_base's scheme, host
 * and port (the token would follow it), is a protocol error (BQ_RETRY,
 * reason "badAnswer", logged as a warning).  bq_new() refuses an api_base
 * that is not https, unless its host is a loopback one.  Its settings come
 * from the conf as conf_load leaves it (defaults and ranges are conf.c's).
 */
#ifndef HS_BQ_H
#define HS_BQ_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "auth.h"
#include "conf.h"
#include "http.h"

enum bq_result {
	BQ_OK,
	BQ_RETRY,	/* transient: try again in a later run */
	BQ_QUOTA,	/* quotaExceeded: try again much later */
	BQ_FAILED,	/* rejected for good */
	BQ_NOTFOUND,	/* bq_job_get(): no such job */
	BQ_CONFIG	/* credentials or configuration unusable */
};

struct bq;

struct bq_job {
	char		*job_id;
	char		*location;	/* as BigQuery answered */
	char		*state;		/* PENDING, RUNNING, DONE */
	int		 done;
	enum bq_result	 result;	/* the job's outcome, once done */
	long		 http_status;	/* of the last answer (0: none) */
	char		*reason;	/* errorResult.reason or the error's */
	char		*message;	/* with the first row errors */
	long long	 output_rows;	/* -1: not reported */
	long long	 input_bytes;	/* -1: not reported */
	long		 retry_after;	/* seconds, -1: not asked */
};

struct bq	*bq_new(const struct conf *, struct http *, struct auth *);
void		 bq_free(struct bq *);
/*
 * The first retry step (ms) and the attempts per request: BigQuery's pace
 * unless set; tests/tools/bq-probe shortens it against the fake BigQuery,
 * where a real backoff would make the tests minutes long.
 */
void		 bq_set_pace(struct bq *, long, int);

void		 bq_job_init(struct bq_job *);
void		 bq_job_release(struct bq_job *);

enum bq_result	 bq_job_insert(struct bq *, const struct conf_stream *,
		    const char *, const struct http_src *, struct bq_job *);
enum bq_result	 bq_job_get(struct bq *, const char *, struct bq_job *);
enum bq_result	 bq_job_wait(struct bq *, struct bq_job *);

json_t		*bq_job_json(const struct conf *, const struct conf_stream *,
		    const char *);

/*
 * Reading a table (hookspoolctl audit): tables.get (the Table resource in
 * *out) and tabledata.list of some fields, every page, each row's cells
 * to the callback.  BQ_NOTFOUND: no such table; otherwise as above, with
 * BigQuery's reason and message in *why (allocated) on failure.
 */
enum bq_result	 bq_table_get(struct bq *, const char *, json_t **,
		    char **);
enum bq_result	 bq_table_rows(struct bq *, const char *, const char *,
		    void (*)(void *, json_t *), void *, char **);

/* The pure parts, for the unit tests. */
const char	*bq_result_name(enum bq_result);
int		 bq_job_id_ok(const char *);
int		 bq_classify_reason(const char *);
enum bq_result	 bq_classify_http(long, const char *, size_t, char **,
		    char **);
int		 bq_parse_job(const char *, size_t, struct bq_job *);
json_t		*bq_job_config(const char *, const char *, const char *,
		    const char *, json_t *);
int		 bq_table_split(const char *, const char *, char **, char **,
		    char **);
int		 bq_parse_range(const char *, uint64_t, uint64_t *);
int		 bq_table_options_wanted(const struct conf_stream *);
int		 bq_job_table_options(json_t *, const struct conf_stream *);

#endif
