/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * hookspool-upload: one run loads the sealed batches into BigQuery.
 *
 * Take the spool lock (a second run exits at once, quietly); per stream:
 * seal orphaned tmp/ batches, recover the jobs left in active/ by an
 * earlier run (look the job up first: the same job id always carries the
 * same bytes, so a job BigQuery has is never sent again), then claim new/
 * batches into as few jobs as job_max_bytes and the per-table daily cap
 * allow, upload (every line checked on a second thread ahead of the bytes
 * sent; a job with a bad line is dropped before its final chunk, its
 * batches given back to new/ and validated, and claimed again), wait for
 * DONE, and settle each job into done/ or failed/, or leave it in active/
 * with its next attempt time as the JOB file's mtime.
 * Run as root, it first becomes the spool's owner.
 * Quiet on success.  Exit: 0 ok, 75 try later, 65 batches went to failed/,
 * 77 or 74 a spool file could not be read or written (never reported as
 * ok: a job nobody can read would wait for ever), 78 configuration.
 * With metrics_file set, each run ends by writing the uploader's metrics
 * there (node_exporter's textfile format, metrics.h).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "auth.h"
#include "bq.h"
#include "conf.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "spool.h"
#include "xmalloc.h"

/* The outcome of a run, worst first when combined. */
enum up_outcome {
	UP_OK,
	UP_RETRY,	/* something waits for a later run: 75 */
	UP_FAILED,	/* batches went to failed/: 65 */
	UP_SPOOL,	/* a spool file unreadable or unwritable: 77, 74 */
	UP_CONFIG	/* credentials or config unusable: 78 */
};

struct up_run {
	const struct conf *conf;
	struct bq	*bq;
	int		 force;		/* ignore backoff */
	enum up_outcome	 outcome;
	unsigned long	 jobs;
	unsigned long	 rows;
	unsigned long	 loaded_batches;
	unsigned long	 failed_batches;
	int		 noperm;	/* UP_SPOOL for want of permission */
	char		*last_error;
	struct metrics_tf *tf;		/* NULL: no metrics_file */
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: hookspool-upload [-fv] [-c config] "
	    "[-s stream]\n");
	exit(EX_USAGE);
}

static void
up_note(struct up_run *run, enum up_outcome o, const char *why)
{
	if (o > run->outcome)
		run->outcome = o;
	if (why != NULL) {
		free(run->last_error);
		run->last_error = xstrdup(why);
	}
}

/*
 * A spool file could not be read or written (spool.c logged which and
 * why, errno still says why): the run must not end "ok".
 */
static void
up_spool_error(struct up_run *run, const char *why)
{
	if (errno == ENOSPC || errno == EDQUOT) {
		up_note(run, UP_RETRY, why);	/* until the uploader frees */
		return;
	}
	if (errno == EACCES || errno == EPERM)
		run->noperm = 1;
	up_note(run, UP_SPOOL, why);
}

/* Exponential backoff from the number of failed runs, capped. */
static long
up_backoff(unsigned tries, enum bq_result r, long retry_after)
{
	long s = 60;

	while (tries-- > 0 && s < 3600)
		s *= 2;
	if (s > 3600)
		s = 3600;
	if (r == BQ_QUOTA && s < 3600)
		s = 3600;
	if (retry_after > s)
		s = retry_after;
	return s;
}

static void
up_defer(struct up_run *run, const char *dir, struct spool_job *j,
    enum bq_result r, const struct bq_job *bj, const char *what)
{
	long wait;

	j->tries++;
	wait = up_backoff(j->tries - 1, r, bj->retry_after);
	if (spool_job_save(j) == -1 || spool_job_defer(j, time(NULL) + wait)
	    == -1) {
		log_warnx("upload: cannot record the retry time of '%s'",
		    j->dir);
		up_spool_error(run, "cannot record a job's retry time");
	}
	log_warnx("upload: %s: job %s: %s: %s: %s: %s; next try in %ld s",
	    dir, j->id, what, bq_result_name(r),
	    bj->reason ? bj->reason : "-", bj->message ? bj->message : "-",
	    wait);
	up_note(run, UP_RETRY, bj->message != NULL ? bj->message : what);
}

/* Every batch of the job is there with the size it was claimed with. */
static int
up_job_intact(const struct spool_job *j, struct http_src *src)
{
	size_t i;
	FILE *fp;

	memset(src, 0, sizeof *src);
	src->paths = xcalloc(j->n, sizeof *src->paths);
	src->sizes = xcalloc(j->n, sizeof *src->sizes);
	for (i = 0; i < j->n; i++) {
		src->paths[i] = xasprintf("%s/%s", j->dir, j->names[i]);
		src->sizes[i] = j->sizes[i];
		src->total += j->sizes[i];
		src->nfiles = i + 1;
		if ((fp = fopen(src->paths[i], "r")) == NULL) {
			log_warn("upload: job %s: batch '%s'", j->id,
			    src->paths[i]);
			return 0;
		}
		fclose(fp);
	}
	return 1;
}

/*
 * The check of a job's lines runs on a thread of its own, ahead of the
 * upload, with spool_validate's verdicts: the sender's gate (the source's
 * ready, http.h) lets a request go only once every byte it carries is a
 * good line, so no byte of a bad line leaves, nor the final chunk of a job
 * holding one: BigQuery never makes a job of it.
 */
enum up_check_state {
	UP_CHECK_RUNNING,
	UP_CHECK_GOOD,		/* every line is good */
	UP_CHECK_BAD,		/* a bad line: batch, lineno, why */
	UP_CHECK_ERROR,		/* a batch could not be read: err */
	UP_CHECK_STOPPED	/* the sender needed no more */
};

struct up_check {
	const struct http_src *src;
	pthread_t	 thread;
	int		 threaded;
	pthread_mutex_t	 lock;		/* guards what follows */
	pthread_cond_t	 cond;
	uint64_t	 base;		/* bytes of the batches checked whole */
	uint64_t	 passed;	/* bytes [0, passed) are good lines */
	enum up_check_state state;
	int		 stop;
	size_t		 batch;
	unsigned long	 lineno;
	const char	*why;
	int		 err;
};

/* spool_check_batch's progress: publish it, and say whether to stop. */
static int
up_check_progress(void *arg, uint64_t n)
{
	struct up_check *c = arg;
	int stop;

	pthread_mutex_lock(&c->lock);
	c->passed = c->base + n;
	pthread_cond_broadcast(&c->cond);
	stop = c->stop;
	pthread_mutex_unlock(&c->lock);
	return stop;
}

static void *
up_check_run(void *arg)
{
	struct up_check *c = arg;
	const struct http_src *src = c->src;
	enum up_check_state state = UP_CHECK_GOOD;
	unsigned long lineno;
	const char *why;
	size_t i;
	int rc;

	for (i = 0; i < src->nfiles && state == UP_CHECK_GOOD; i++) {
		rc = spool_check_batch(src->paths[i], src->sizes[i],
		    up_check_progress, c, &lineno, &why);
		pthread_mutex_lock(&c->lock);
		if (rc == 0)
			c->passed = c->base += src->sizes[i];
		else if (rc == 1) {
			state = UP_CHECK_BAD;
			c->batch = i;
			c->lineno = lineno;
			c->why = why;
		} else if (rc == 2)
			state = UP_CHECK_STOPPED;
		else {
			state = UP_CHECK_ERROR;
			c->err = errno;
		}
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_lock(&c->lock);
	c->state = state;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* The gate: wait until bytes [0, upto) are known good; -1 if never. */
static int
up_check_ready(void *arg, uint64_t upto)
{
	struct up_check *c = arg;
	int ok;

	pthread_mutex_lock(&c->lock);
	while (c->passed < upto && c->state == UP_CHECK_RUNNING)
		pthread_cond_wait(&c->cond, &c->lock);
	ok = c->passed >= upto;
	pthread_mutex_unlock(&c->lock);
	return ok ? 0 : -1;
}

/* Start checking src, and put the gate on it. */
static void
up_check_start(struct up_check *c, struct http_src *src)
{
	int e;

	memset(c, 0, sizeof *c);
	c->src = src;
	c->state = UP_CHECK_RUNNING;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	src->ready = up_check_ready;
	src->ready_arg = c;
	if ((e = pthread_create(&c->thread, NULL, up_check_run, c)) == 0) {
		c->threaded = 1;
		return;
	}
	errno = e;
	log_warn("upload: cannot start a thread: checking the job first");
	(void)up_check_run(c);
}

/* Stop the check (the sender is done) and say how it ended. */
static enum up_check_state
up_check_end(struct up_check *c, struct http_src *src)
{
	pthread_mutex_lock(&c->lock);
	c->stop = 1;
	pthread_mutex_unlock(&c->lock);
	if (c->threaded)
		pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	src->ready = NULL;
	src->ready_arg = NULL;
	return c->state;
}

/*
 * A job whose check met a bad line was dropped before its final chunk, so
 * BigQuery has no job of it: its batches go back to new/ and through
 * validation like any batch there (bad lines cut out into corrupt/); the
 * batches before the bad one passed the same check.  Returns 1 when
 * validation changed a batch, so that claiming again loads the rest.
 */
static int
up_abandon(struct up_run *run, const struct conf_stream *st, const char *dir,
    struct spool_job *j, const struct up_check *c)
{
	unsigned long good, bad;
	size_t i;
	int rc, changed = 0;

	log_warnx("upload: %s: job %s abandoned before its final chunk: "
	    "batch '%s' line %lu: %s; its batches go back to new/ for "
	    "validation", st->name, j->id, j->names[c->batch], c->lineno,
	    c->why);
	run->jobs--;	/* BigQuery never had it */
	if (spool_job_release(dir, j) == -1) {
		up_note(run, UP_RETRY, "cannot give batches back to new/");
		return 0;
	}
	for (i = c->batch; i < j->n; i++) {
		rc = spool_validate(dir, SPOOL_NEW, j->names[i], &good, &bad);
		if (rc == -1)
			up_spool_error(run, "cannot validate batches");
		else if (rc == 1 || (rc == 0 && bad > 0))
			changed = 1;
	}
	if (!changed) {
		/* Never expected: the check and validation judge alike. */
		log_warnx("upload: %s: validation found no bad line in "
		    "'%s': left in new/", st->name, j->names[c->batch]);
		up_note(run, UP_RETRY, "the check and validation disagree");
	}
	return changed;
}

/* A job loaded: its batches go to done/, and the run counts them. */
static void
up_job_loaded(struct up_run *run, const struct conf_stream *st,
    const char *dir, struct spool_job *j, const char *id,
    const struct bq_job *bj)
{
	if (spool_job_done(dir, j) == -1) {
		up_note(run, UP_RETRY, "cannot move batches to done/");
		return;
	}
	run->rows += bj->output_rows > 0 ? (unsigned long)bj->output_rows : 0;
	run->loaded_batches += j->n;
	log_notice("upload: %s: job %s loaded %lld rows from %zu batches "
	    "(%" PRIu64 " bytes) into %s", st->name, id, bj->output_rows,
	    j->n, j->total, st->table);
}

/*
 * Drive one claimed job to an end: look it up when recovered, insert it
 * if BigQuery does not have it (checking its lines as it goes), wait for
 * DONE and settle it.  Returns 1 when a bad line made it give the job up
 * and its batches, validated, are back in new/ to claim again; else 0.
 */
static int
up_job(struct up_run *run, const struct conf_stream *st, const char *dir,
    struct spool_job *j, int recovered)
{
	struct bq_job bj;
	struct http_src src;
	struct up_check chk;
	enum up_check_state cs;
	char id[SPOOL_JOB_ID_MAX], why[2048];
	enum bq_result r;
	time_t now = time(NULL);
	int again = 0;

	bq_job_init(&bj);
	memset(&src, 0, sizeof src);
	if (!run->force && j->not_before > now) {
		log_info("upload: job %s waits %ld s more", j->id,
		    (long)(j->not_before - now));
		up_note(run, UP_OK, NULL);
		goto out;
	}
	spool_job_attempt_id(j, id, sizeof id);
	r = BQ_NOTFOUND;
	if (recovered || j->tries > 0) {
		r = bq_job_get(run->bq, id, &bj);
		if (r == BQ_CONFIG) {
			up_note(run, UP_CONFIG, "credentials unusable");
			goto out;
		}
		if (r != BQ_OK && r != BQ_NOTFOUND) {
			up_defer(run, dir, j, r, &bj, "cannot look the job up");
			goto out;
		}
	}
	if (r == BQ_NOTFOUND) {
		if (!up_job_intact(j, &src)) {
			snprintf(why, sizeof why, "a batch of job %s is missing "
			    "from '%s'; fix by hand", j->id, j->dir);
			log_warnx("upload: %s", why);
			up_note(run, UP_RETRY, why);
			goto out;
		}
		/* The load matters more than the count: go on, but say so. */
		if (spool_quota_note(run->conf->spool_dir, st->table, now) ==
		    -1)
			up_spool_error(run, "cannot note a job in the job "
			    "ledger");
		run->jobs++;
		bq_job_release(&bj);
		bq_job_init(&bj);
		up_check_start(&chk, &src);
		r = bq_job_insert(run->bq, st, id, &src, &bj);
		cs = up_check_end(&chk, &src);
		if (cs == UP_CHECK_BAD && r != BQ_OK && r != BQ_CONFIG) {
			again = up_abandon(run, st, dir, j, &chk);
			goto out;
		}
		if (cs == UP_CHECK_ERROR && r != BQ_OK) {
			errno = chk.err;
			up_spool_error(run, "cannot read a batch");
		}
		if (r == BQ_CONFIG) {
			up_note(run, UP_CONFIG, "credentials unusable");
			goto out;
		}
		if (r == BQ_FAILED) {
			snprintf(why, sizeof why, "BigQuery refused job %s: %s: "
			    "%s", id, bj.reason ? bj.reason : "error",
			    bj.message ? bj.message : "(no message)");
			goto failed;
		}
		if (r != BQ_OK) {
			up_defer(run, dir, j, r, &bj, "upload");
			goto out;
		}
	}
	r = bq_job_wait(run->bq, &bj);
	if (!bj.done) {
		if (r == BQ_CONFIG) {
			up_note(run, UP_CONFIG, "credentials unusable");
			goto out;
		}
		up_defer(run, dir, j, BQ_RETRY, &bj, "not done yet");
		goto out;
	}
	switch (bj.result) {
	case BQ_OK:
		up_job_loaded(run, st, dir, j, id, &bj);
		goto out;
	case BQ_FAILED:
		snprintf(why, sizeof why, "BigQuery job %s failed: %s: %s", id,
		    bj.reason ? bj.reason : "error",
		    bj.message ? bj.message : "(no message)");
		goto failed;
	default:
		/* Ended with a transient error: nothing was loaded, so the
		 * same bytes go again under the next attempt id. */
		j->attempt++;
		up_defer(run, dir, j, bj.result, &bj, "job ended with an error");
		goto out;
	}
failed:
	log_warnx("upload: %s: %s; %zu batches moved to failed/", st->name,
	    why, j->n);
	if (spool_job_failed(dir, j, why) == -1)
		up_note(run, UP_RETRY, "cannot move batches to failed/");
	run->failed_batches += j->n;
	up_note(run, UP_FAILED, why);
out:
	http_src_release(&src);
	bq_job_release(&bj);
	return again;
}

/*
 * up_job, counted for the metrics: its result read from what it changed
 * (batches loaded, failed, or a retry noted); a job left waiting for its
 * backoff is not counted.
 */
static int
up_job_counted(struct up_run *run, const struct conf_stream *st,
    const char *dir, struct spool_job *j, int recovered)
{
	unsigned long loaded = run->loaded_batches, failed =
	    run->failed_batches, rows = run->rows;
	unsigned tries = j->tries;
	uint64_t t0 = metrics_now_ns();
	const char *result;
	int again;

	again = up_job(run, st, dir, j, recovered);
	if (run->tf == NULL)
		return again;
	if (run->loaded_batches > loaded)
		result = "ok";
	else if (run->failed_batches > failed)
		result = "failed";
	else if (j->tries > tries)
		result = "retry";
	else
		return again;
	metrics_tf_add(run->tf, "hookspool_upload_jobs_total", 1, "stream",
	    st->name, "result", result, NULL);
	metrics_tf_observe(run->tf, "hookspool_upload_job_duration_seconds",
	    (double)(metrics_now_ns() - t0) * 1e-9);
	if (strcmp(result, "ok") != 0)
		return again;
	metrics_tf_add(run->tf, "hookspool_upload_rows_total",
	    (double)(run->rows - rows), "stream", st->name, NULL);
	metrics_tf_add(run->tf, "hookspool_upload_bytes_total",
	    (double)j->total, "stream", st->name, NULL);
	return again;
}

/* Jobs left in active/ by an earlier run. */
static void
up_recover(struct up_run *run, const struct conf_stream *st, const char *dir)
{
	struct spool_job j;
	char **ids;
	size_t n, i;
	int rc;

	if (spool_jobs(dir, &ids, &n) == -1) {
		up_spool_error(run, "cannot list active/");
		return;
	}
	for (i = 0; i < n; i++) {
		if (run->outcome < UP_CONFIG) {
			rc = spool_job_load(dir, ids[i], &j);
			if (rc == 0) {
				(void)up_job_counted(run, st, dir, &j, 1);
				spool_job_free(&j);
			} else if (rc == -1)
				up_spool_error(run, "cannot read a job in "
				    "active/");
		}
		free(ids[i]);
	}
	free(ids);
}

/*
 * Claim new/ into jobs of at most job_max_bytes, oldest first, within the
 * daily cap.  Each job's lines are checked while it is sent (up_job), so a
 * backlog held back by the cap costs nothing per run.  Returns 1 when a
 * job was given up for a bad line: its batches, validated, are back in
 * new/, and the listing is taken again.
 */
static int
up_claim_pass(struct up_run *run, const struct conf_stream *st,
    const char *dir)
{
	const struct conf *c = run->conf;
	struct spool_entry *v, *pick;
	struct spool_job j;
	size_t n, i = 0, k;
	unsigned long used;
	uint64_t bytes;
	char id[SPOOL_JOB_ID_MAX];
	size_t young;
	int rc, again = 0;

	if (spool_list_ready(dir, &v, &n, &young) == -1) {
		up_spool_error(run, "cannot list new/");
		return 0;
	}
	if (young > 0)
		log_info("upload: %s: %zu files of new/ are still being "
		    "written: left for a later run", st->name, young);
	pick = xcalloc(n + 1, sizeof *pick);	/* the next job's batches */
	while (i < n && run->outcome < UP_CONFIG && !again) {
		if (spool_quota_count(c->spool_dir, st->table, time(NULL),
		    &used) == -1) {
			/* An unknown count could break the cap. */
			up_spool_error(run, "cannot read the job ledger");
			break;
		}
		if (used >= c->jobs_per_table_per_day) {
			log_notice("upload: %s: holding back %zu batches: %lu "
			    "load jobs for %s in the last 24 h (cap "
			    "jobs_per_table_per_day = %lu)", st->name, n - i,
			    used, st->table, c->jobs_per_table_per_day);
			break;
		}
		for (k = 0, bytes = 0; i < n; i++) {
			if (k > 0 && bytes + v[i].size > c->job_max_bytes)
				break;
			pick[k] = v[i];
			bytes += v[i].size;
			k++;
		}
		if (k == 0)
			break;
		spool_job_id(NULL, st->name, pick, k, id, sizeof id);
		rc = spool_claim(dir, id, pick, k, &j);
		if (rc == -1) {
			up_note(run, UP_RETRY, "cannot claim batches");
			break;
		}
		if (rc == 1)
			continue;	/* batches vanished: the rest goes on */
		again = up_job_counted(run, st, dir, &j, 0);
		spool_job_free(&j);
	}
	free(pick);
	spool_entries_free(v, n);
	return again;
}

static void
up_claim(struct up_run *run, const struct conf_stream *st, const char *dir)
{
	(void)spool_clean_valid(dir, SPOOL_NEW);
	/* Ends: each pass taken again has cut a bad line out. */
	while (up_claim_pass(run, st, dir))
		;
}

static void
up_stream(struct up_run *run, const struct conf_stream *st)
{
	char *dir = spool_stream_dir(run->conf, st);
	unsigned sealed, removed;

	if (st->table == NULL) {
		log_warnx("upload: stream '%s' has no table: its batches stay "
		    "in new/", st->name);
		up_note(run, UP_CONFIG, "stream without table");
		free(dir);
		return;
	}
	if (spool_prepare(dir) == -1) {
		up_note(run, UP_RETRY, "cannot prepare the spool");
		free(dir);
		return;
	}
	if (spool_seal_orphans(dir, time(NULL), &sealed) == -1)
		up_note(run, UP_RETRY, "cannot seal orphaned batches");
	up_recover(run, st, dir);
	if (run->outcome < UP_CONFIG)
		up_claim(run, st, dir);
	if (spool_expire_done(dir, run->conf->keep_done, &removed) == -1)
		up_spool_error(run, "cannot expire done/");
	if (removed > 0)
		log_info("upload: %s: removed %u loaded batches older than "
		    "keep_done", st->name, removed);
	free(dir);
}

static void
up_status(struct up_run *run)
{
	static const char *const names[] = { "ok", "retry", "failed",
		"ioerr", "config" };
	json_t *j;
	char *text;

	j = json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:s?}",
	    "time", (json_int_t)time(NULL),
	    "result", run->outcome == UP_SPOOL && run->noperm ? "noperm" :
	    names[run->outcome],
	    "jobs", (json_int_t)run->jobs,
	    "rows", (json_int_t)run->rows,
	    "loaded_batches", (json_int_t)run->loaded_batches,
	    "failed_batches", (json_int_t)run->failed_batches,
	    "error", run->last_error);
	if (j == NULL)
		return;
	if ((text = json_dumps(j, JSON_COMPACT)) == NULL ||
	    spool_status_write(run->conf->spool_dir, text) == -1) {
		log_warnx("upload: cannot record the result in '%s'",
		    run->conf->spool_dir);
		up_spool_error(run, NULL);
	}
	free(text);
	json_decref(j);
}

static int
up_exit_code(const struct up_run *run)
{
	switch (run->outcome) {
	case UP_OK:
		return EX_OK;
	case UP_RETRY:
		return EX_TEMPFAIL;
	case UP_FAILED:
		return EX_DATAERR;
	case UP_SPOOL:
		return run->noperm ? EX_NOPERM : EX_IOERR;
	default:
		return EX_CONFIG;
	}
}

/* One stream's backlog and its table's jobs in the last 24 hours. */
static void
up_metrics_stream(struct up_run *run, const struct conf_stream *st,
    time_t now)
{
	struct spool_backlog bl;
	unsigned long used;
	char *dir = spool_stream_dir(run->conf, st);

	memset(&bl, 0, sizeof bl);
	if (spool_backlog(dir, &bl) == 0) {
		metrics_tf_set(run->tf, "hookspool_upload_backlog_files",
		    (double)bl.files, "stream", st->name, NULL);
		metrics_tf_set(run->tf, "hookspool_upload_backlog_bytes",
		    (double)bl.bytes, "stream", st->name, NULL);
		metrics_tf_set(run->tf,
		    "hookspool_upload_backlog_oldest_age_seconds",
		    bl.oldest != 0 && bl.oldest < now ?
		    (double)(now - bl.oldest) : 0, "stream", st->name, NULL);
	}
	free(dir);
	if (st->table != NULL && spool_quota_count(run->conf->spool_dir,
	    st->table, now, &used) == 0)
		metrics_tf_set(run->tf, "hookspool_upload_table_jobs",
		    (double)used, "table", st->table, NULL);
}

/*
 * The run's metrics to metrics_file: the counters kept since the first
 * run, then what the spool and the job ledger say now.
 */
static void
up_metrics(struct up_run *run)
{
	const struct conf *c = run->conf;
	time_t now = time(NULL);
	size_t i;

	for (i = 0; i < c->nstreams; i++)
		up_metrics_stream(run, &c->streams[i], now);
	metrics_tf_set(run->tf, "hookspool_upload_table_jobs_cap",
	    (double)c->jobs_per_table_per_day, NULL);
	metrics_tf_set(run->tf, "hookspool_upload_last_run_timestamp_seconds",
	    (double)now, NULL);
	metrics_tf_set(run->tf, "hookspool_upload_last_run_exit_code",
	    (double)up_exit_code(run), NULL);
	if (run->outcome == UP_OK)
		metrics_tf_set(run->tf,
		    "hookspool_upload_last_success_timestamp_seconds",
		    (double)now, NULL);
	/* The loads went as they went: not the run's own failure. */
	if (metrics_tf_write(run->tf, c->metrics_file) == -1)
		log_warnx("upload: cannot write the metrics to '%s'",
		    c->metrics_file);
}

int
main(int argc, char **argv)
{
	const char *conf_path = NULL, *only = NULL;
	struct conf *conf;
	struct http *http;
	struct auth *auth;
	struct up_run run;
	size_t i;
	int ch, verbose = 0, lockfd = -1, rc;

	memset(&run, 0, sizeof run);
	while ((ch = getopt(argc, argv, "c:fs:v")) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 'f':
			run.force = 1;
			break;
		case 's':
			only = optarg;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	conf_path = conf_choose_path(conf_path);
	/* stderr for cron's mail, syslog for the record. */
	log_init("hookspool-upload", 2);
	log_set_verbose(verbose);
	if ((conf = conf_load(conf_path, 1)) == NULL)
		fatalx(EX_CONFIG, "%s: configuration error", conf_path);
	if (conf->project == NULL)
		fatalx(EX_CONFIG, "%s: 'project' is not set (the project that "
		    "runs the load jobs)", conf_path);
	if (only != NULL && conf_stream_by_name(conf, only) == NULL)
		fatalx(EX_USAGE, "%s: no stream '%s'", conf_path, only);
	run.conf = conf;
	if (spool_become_owner(conf->spool_dir) == -1)
		fatalx(EX_NOPERM, "%s: cannot become the spool's owner",
		    conf->spool_dir);

	rc = spool_lock(conf->spool_dir, &lockfd);
	if (rc == 1) {
		log_info("upload: another run holds the spool lock");
		conf_free(conf);
		return EX_OK;
	}
	if (rc == -1) {
		/* Say so where the health URL looks, if that can be written. */
		up_spool_error(&run, "cannot lock the spool");
		up_status(&run);
		fatalx(run.noperm ? EX_NOPERM : EX_CANTCREAT,
		    "cannot lock the spool '%s'", conf->spool_dir);
	}
	/* A spool full to the last byte can still be drained. */
	(void)spool_reserve(conf->spool_dir, 256 * 1024);
	if ((http = http_new(conf)) == NULL)
		fatalx(EX_SOFTWARE, "cannot start libcurl");
	if ((auth = auth_new(conf, http)) == NULL)
		fatalx(EX_CONFIG, "%s: credentials unusable", conf_path);
	run.bq = bq_new(conf, http, auth);
	if (conf->metrics_file != NULL)
		run.tf = metrics_tf_load(conf->metrics_file);

	for (i = 0; i < conf->nstreams && run.outcome < UP_CONFIG; i++)
		if (only == NULL || strcmp(only, conf->streams[i].name) == 0)
			up_stream(&run, &conf->streams[i]);
	up_status(&run);
	if (run.tf != NULL)
		up_metrics(&run);
	metrics_tf_free(run.tf);

	bq_free(run.bq);
	auth_free(auth);
	http_free(http);
	spool_unlock(lockfd);
	conf_free(conf);
	free(run.last_error);
	return up_exit_code(&run);
}
