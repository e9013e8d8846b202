/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * hookspoolctl: the admin command, a table of verbs that work straight on
 * the spool with no daemon (status, list, show, hold, release, requeue,
 * replay, delete, audit, check, repair, config, stream add).  audit alone
 * talks to BigQuery, through bq.c with the uploader's credentials.
 *
 * Every spool file is read, moved and removed through spool.c; this file
 * never renames or unlinks one itself.  It is safe while the responder and
 * the uploader run: a batch that moves or vanishes under a verb is skipped
 * and counted, never an error that stops the rest.  Batches in active/
 * belong to the uploader and open ones in tmp/ to the responder: the verbs
 * that change batches refuse them.
 *
 * Exit codes are sysexits(3); status --max-age answers like a Nagios
 * plugin instead (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <uuid/uuid.h>

#include "auth.h"
#include "bq.h"
#include "conf.h"
#include "hit.h"
#include "http.h"
#include "log.h"
#include "spool.h"
#include "xmalloc.h"

#define ST(s)	(1u << (s))
#define ALL_STATES ((1u << SPOOL_NSTATES) - 1)
/* Backlog: hits not yet in BigQuery and on their way there. */
#define BACKLOG	(ST(SPOOL_TMP) | ST(SPOOL_NEW) | ST(SPOOL_ACTIVE))

/* Nagios plugin codes, for status --max-age. */
#define NAGIOS_OK	0
#define NAGIOS_WARNING	1
#define NAGIOS_CRITICAL	2
#define NAGIOS_UNKNOWN	3

struct ctl {
	struct conf	*conf;
	const char	*conf_path;
	const char	*only;		/* -s stream */
	int		 nagios;	/* status --max-age: errors exit 3 */
	int		 created;	/* stream add created the config */
	time_t		 now;
};

/* One batch met by a walk over the spool. */
struct ctl_item {
	size_t		 si;		/* index of the stream */
	const struct conf_stream *st;
	const char	*dir;
	enum spool_state state;
	const char	*job;		/* active/ only */
	const struct spool_entry *e;
};

struct ctl_verb {
	const char	*name;
	int		(*fn)(struct ctl *, int, char **);
	const char	*usage;
	int		 spool;		/* works on the spool (drop root) */
};

static int	ctl_status(struct ctl *, int, char **);
static int	ctl_list(struct ctl *, int, char **);
static int	ctl_show(struct ctl *, int, char **);
static int	ctl_move(struct ctl *, int, char **);
static int	ctl_replay(struct ctl *, int, char **);
static int	ctl_audit(struct ctl *, int, char **);
static int	ctl_check(struct ctl *, int, char **);
static int	ctl_repair(struct ctl *, int, char **);
static int	ctl_config(struct ctl *, int, char **);
static int	ctl_stream(struct ctl *, int, char **);

static const struct ctl_verb ctl_verbs[] = {
	{ "status", ctl_status, "status [--json] [--max-age warn[,crit]]", 1 },
	{ "list", ctl_list, "list [-j] [state]", 1 },
	{ "show", ctl_show, "show batch", 1 },
	{ "hold", ctl_move, "hold batch ... | ALL | -", 1 },
	{ "release", ctl_move, "release batch ... | ALL | -", 1 },
	{ "requeue", ctl_move, "requeue batch ... | ALL | -", 1 },
	{ "replay", ctl_replay,
	    "replay batch ... | - | --since date [--until date]", 1 },
	{ "delete", ctl_move, "delete batch ... | ALL [state] | -", 1 },
	{ "audit", ctl_audit, "audit [--since date] [stream]", 1 },
	{ "check", ctl_check, "check", 1 },
	{ "repair", ctl_repair, "repair", 1 },
	{ "config", ctl_config, "config [--check [--user user]]", 0 },
	{ "stream", ctl_stream, "stream add name table", 0 },
};
#define CTL_NVERBS (sizeof ctl_verbs / sizeof ctl_verbs[0])

/* What hold, release, requeue and delete do. */
struct ctl_op {
	const char	*verb;
	const char	*did;		/* for the counts: "3 held" */
	unsigned	 from;		/* the states it takes batches from */
	int		 to;		/* -1: delete */
};

static const struct ctl_op ctl_ops[] = {
	{ "hold", "held", ST(SPOOL_NEW), SPOOL_HOLD },
	{ "release", "released", ST(SPOOL_HOLD), SPOOL_NEW },
	{ "requeue", "requeued", ST(SPOOL_FAILED), SPOOL_NEW },
	{ "replay", "replayed", ST(SPOOL_DONE), SPOOL_NEW },
	{ "delete", "deleted", ST(SPOOL_NEW) | ST(SPOOL_HOLD) |
	    ST(SPOOL_FAILED) | ST(SPOOL_CORRUPT) | ST(SPOOL_DONE), -1 },
};

struct ctl_counts {
	unsigned long	 done;
	unsigned long	 notfound;	/* nowhere, or not in a source state */
	unsigned long	 refused;	/* active/, tmp/, or ambiguous */
	unsigned long	 skipped;	/* moved away while we worked */
	unsigned long	 errors;
};

static void __attribute__((noreturn))
usage(void)
{
	size_t i;

	fprintf(stderr, "usage: hookspoolctl [-v] [-c config] [-s stream] "
	    "verb [argument ...]\n");
	for (i = 0; i < CTL_NVERBS; i++)
		fprintf(stderr, "%s %s\n", i == 0 ? "verbs:" : "      ",
		    ctl_verbs[i].usage);
	exit(EX_USAGE);
}

static void
ctl_age(char *out, size_t len, long s)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(out, len, "%lds", s);
	else if (s < 3600)
		snprintf(out, len, "%ldm%02lds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(out, len, "%ldh%02ldm", s / 3600, s % 3600 / 60);
	else
		snprintf(out, len, "%ldd%02ldh", s / 86400, s % 86400 / 3600);
}

static void
ctl_bytes(char *out, size_t len, uint64_t v)
{
	static const char units[] = "KMGTP";
	double d = (double)v;
	int u = -1;

	if (v < 1024) {
		snprintf(out, len, "%" PRIu64, v);
		return;
	}
	while (d >= 1024 && u < 4) {
		d /= 1024;
		u++;
	}
	snprintf(out, len, "%.1f%c", d, units[u]);
}

static int
ctl_selected(const struct ctl *ctl, const struct conf_stream *st)
{
	return ctl->only == NULL || strcmp(ctl->only, st->name) == 0;
}

/* The batches of one state (of one job folder for active/). */
static void
ctl_walk_dir(struct ctl *ctl, struct ctl_item *it,
    void (*fn)(struct ctl *, const struct ctl_item *, void *), void *arg,
    unsigned long *errors)
{
	struct spool_entry *v;
	size_t n, k;

	if (spool_list_batches(it->dir, it->state, it->job, &v, &n) == -1) {
		(*errors)++;	/* spool.c said which folder and why */
		return;
	}
	for (k = 0; k < n; k++) {
		it->e = &v[k];
		fn(ctl, it, arg);
	}
	it->e = NULL;
	spool_entries_free(v, n);
}

/*
 * Call fn for every batch of the given states of the selected streams, in
 * stream, state and name order.  A listing that fails is logged and
 * counted in *errors; the walk goes on.
 */
static void
ctl_walk(struct ctl *ctl, unsigned states,
    void (*fn)(struct ctl *, const struct ctl_item *, void *), void *arg,
    unsigned long *errors)
{
	struct ctl_item it;
	char **jobs, *dir;
	size_t i, nj, j;
	int s;

	for (i = 0; i < ctl->conf->nstreams; i++) {
		if (!ctl_selected(ctl, &ctl->conf->streams[i]))
			continue;
		memset(&it, 0, sizeof it);
		it.si = i;
		it.st = &ctl->conf->streams[i];
		it.dir = dir = spool_stream_dir(ctl->conf, it.st);
		for (s = 0; s < SPOOL_NSTATES; s++) {
			if (!(states & ST(s)))
				continue;
			it.state = s;
			it.job = NULL;
			if (s != SPOOL_ACTIVE) {
				ctl_walk_dir(ctl, &it, fn, arg, errors);
				continue;
			}
			if (spool_jobs(dir, &jobs, &nj) == -1) {
				(*errors)++;
				continue;
			}
			for (j = 0; j < nj; j++) {
				it.job = jobs[j];
				ctl_walk_dir(ctl, &it, fn, arg, errors);
				free(jobs[j]);
			}
			free(jobs);
		}
		free(dir);
	}
}

static char *
ctl_item_path(const struct ctl_item *it)
{
	return spool_batch_path(it->dir, it->state, it->job, it->e->name);
}

/*
 * The hits of a batch (its lines): 0, 1 when it vanished, -1 on error.
 * done/ is not read, *lines is CTL_UNCOUNTED there: its hits are in
 * BigQuery already, and keep_done days of them can be gigabytes.
 */
#define CTL_UNCOUNTED ULONG_MAX
static int
ctl_hits(const struct ctl_item *it, unsigned long *lines)
{
	char *path;
	int rc;

	if (it->state == SPOOL_DONE) {
		*lines = CTL_UNCOUNTED;
		return 0;
	}
	path = ctl_item_path(it);
	if ((rc = spool_count_lines(path, lines)) == -1)
		log_warn("cannot read '%s'", path);
	free(path);
	return rc;
}

/* ---- status -------------------------------------------------------------- */

struct ctl_tally {
	unsigned long	 files;
	unsigned long	 hits;
	uint64_t	 bytes;
	time_t		 oldest;	/* 0: no files */
};

struct ctl_status_run {
	struct ctl_tally *t;		/* [stream][state] */
	unsigned long	 skipped;
	unsigned long	 errors;
};

static void
ctl_tally_one(struct ctl *ctl, const struct ctl_item *it, void *arg)
{
	struct ctl_status_run *r = arg;
	struct ctl_tally *t = &r->t[it->si * SPOOL_NSTATES + it->state];
	unsigned long lines;
	int rc;

	(void)ctl;
	rc = ctl_hits(it, &lines);
	if (rc == 1)
		r->skipped++;
	else if (rc == -1)
		r->errors++;
	else {
		t->files++;
		if (lines != CTL_UNCOUNTED)
			t->hits += lines;
		t->bytes += it->e->size;
		if (t->oldest == 0 || it->e->mtime < t->oldest)
			t->oldest = it->e->mtime;
	}
}

/* "warn[,crit]": durations; crit defaults to warn. */
static int
ctl_parse_max_age(const char *arg, long *warn, long *crit)
{
	char *w = xstrdup(arg), *c;
	int rc = -1;

	if ((c = strchr(w, ',')) != NULL)
		*c++ = '\0';
	if (conf_parse_duration(w, warn) == -1 || *warn <= 0)
		goto out;
	*crit = *warn;
	if (c != NULL && (conf_parse_duration(c, crit) == -1 ||
	    *crit < *warn))
		goto out;
	rc = 0;
out:
	free(w);
	return rc;
}

/*
 * The Nagios verdict: CRITICAL when the oldest backlog batch is older than
 * crit, WARNING when older than warn or when batches wait in failed/ or
 * corrupt/ for the admin.
 */
static int
ctl_verdict(struct ctl *ctl, const struct ctl_status_run *r,
    const struct spool_backlog *bl, long warn, long crit, char *text,
    size_t len)
{
	static const char *const names[] = { "OK", "WARNING", "CRITICAL",
		"UNKNOWN" };
	unsigned long files = bl->files, failed = 0, corrupt = 0;
	long age = 0;
	char agebuf[32];
	size_t i;
	int code = NAGIOS_OK;

	for (i = 0; i < ctl->conf->nstreams; i++) {
		failed += r->t[i * SPOOL_NSTATES + SPOOL_FAILED].files;
		corrupt += r->t[i * SPOOL_NSTATES + SPOOL_CORRUPT].files;
	}
	if (bl->oldest != 0)
		age = (long)(ctl->now - bl->oldest);
	if (age > crit)
		code = NAGIOS_CRITICAL;
	else if (age > warn || failed > 0 || corrupt > 0)
		code = NAGIOS_WARNING;
	if (r->errors > 0)
		code = NAGIOS_UNKNOWN;
	ctl_age(agebuf, sizeof agebuf, age);
	snprintf(text, len, "HOOKSPOOL %s - backlog %lu file%s, oldest %s, "
	    "%lu failed, %lu corrupt | backlog_files=%lu "
	    "backlog_age=%lds;%ld;%ld failed=%lu corrupt=%lu", names[code],
	    files, files == 1 ? "" : "s", files > 0 ? agebuf : "-", failed,
	    corrupt, files, age, warn, crit, failed, corrupt);
	return code;
}

/* The backlog of the selected streams, as spool_backlog() defines it. */
static void
ctl_backlog(struct ctl *ctl, struct ctl_status_run *r,
    struct spool_backlog *bl)
{
	char *dir;
	size_t i;

	memset(bl, 0, sizeof *bl);
	for (i = 0; i < ctl->conf->nstreams; i++) {
		if (!ctl_selected(ctl, &ctl->conf->streams[i]))
			continue;
		dir = spool_stream_dir(ctl->conf, &ctl->conf->streams[i]);
		if (spool_backlog(dir, bl) == -1)
			r->errors++;
		free(dir);
	}
}

static json_t *
ctl_last_upload(struct ctl *ctl)
{
	char *line = spool_status_read(ctl->conf->spool_dir);
	json_t *j = NULL;

	if (line != NULL)
		j = json_loads(line, 0, NULL);
	free(line);
	return j;
}

static void
ctl_print_last_upload(json_t *lu)
{
	json_t *t, *err;
	char when[64] = "?";
	time_t tt;
	struct tm tm;

	if (lu == NULL) {
		printf("last upload: none recorded\n");
		return;
	}
	if ((t = json_object_get(lu, "time")) != NULL && json_is_integer(t)) {
		tt = (time_t)json_integer_value(t);
		if (localtime_r(&tt, &tm) != NULL)
			strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
	}
	printf("last upload: %s at %s (%" JSON_INTEGER_FORMAT " jobs, %"
	    JSON_INTEGER_FORMAT " rows)",
	    json_string_value(json_object_get(lu, "result")) != NULL ?
	    json_string_value(json_object_get(lu, "result")) : "?", when,
	    json_integer_value(json_object_get(lu, "jobs")),
	    json_integer_value(json_object_get(lu, "rows")));
	if ((err = json_object_get(lu, "error")) != NULL && json_is_string(err))
		printf(": %s", json_string_value(err));
	printf("\n");
}

/* One stream's tallies, state by state, for status --json. */
static json_t *
ctl_status_json_stream(struct ctl *ctl, const struct ctl_status_run *r,
    size_t i)
{
	const struct ctl_tally *t;
	json_t *js, *jt;
	int s;

	js = json_object();
	json_object_set_new(js, "table", ctl->conf->streams[i].table != NULL ?
	    json_string(ctl->conf->streams[i].table) : json_null());
	for (s = 0; s < SPOOL_NSTATES; s++) {
		t = &r->t[i * SPOOL_NSTATES + s];
		jt = json_pack("{s:I, s:o, s:I, s:o}",
		    "files", (json_int_t)t->files,
		    "hits", s == SPOOL_DONE ? json_null() :
		    json_integer((json_int_t)t->hits),
		    "bytes", (json_int_t)t->bytes,
		    "oldest_age", t->files > 0 ?
		    json_integer((json_int_t)(ctl->now - t->oldest)) :
		    json_null());
		json_object_set_new(js, spool_state_names[s], jt);
	}
	return js;
}

/* status --json; verdict is NULL without --max-age. */
static void
ctl_status_json(struct ctl *ctl, const struct ctl_status_run *r,
    const struct spool_backlog *bl, json_t *lu, const char *verdict,
    int code)
{
	json_t *root, *streams;
	size_t i;

	root = json_object();
	streams = json_object();
	json_object_set_new(root, "spool_dir",
	    json_string(ctl->conf->spool_dir));
	json_object_set_new(root, "time", json_integer((json_int_t)ctl->now));
	json_object_set_new(root, "streams", streams);
	for (i = 0; i < ctl->conf->nstreams; i++)
		if (ctl_selected(ctl, &ctl->conf->streams[i]))
			json_object_set_new(streams,
			    ctl->conf->streams[i].name,
			    ctl_status_json_stream(ctl, r, i));
	json_object_set_new(root, "skipped",
	    json_integer((json_int_t)r->skipped));
	json_object_set_new(root, "errors",
	    json_integer((json_int_t)r->errors));
	json_object_set_new(root, "backlog", json_pack(
	    "{s:I, s:I, s:o}", "files", (json_int_t)bl->files,
	    "bytes", (json_int_t)bl->bytes,
	    "oldest_age", bl->oldest != 0 ?
	    json_integer((json_int_t)(ctl->now - bl->oldest)) :
	    json_null()));
	json_object_set_new(root, "last_upload",
	    lu != NULL ? json_incref(lu) : json_null());
	if (verdict != NULL)
		json_object_set_new(root, "check", json_pack(
		    "{s:i, s:s}", "code", code, "text", verdict));
	json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("\n");
	json_decref(root);
}

/* status as a table; verdict is NULL without --max-age. */
static void
ctl_status_text(struct ctl *ctl, const struct ctl_status_run *r,
    const struct spool_backlog *bl, json_t *lu, const char *verdict)
{
	const struct ctl_tally *t;
	char age[32], bytes[32], hits[32];
	size_t i, w = 6;
	int s;

	if (verdict != NULL)
		printf("%s\n", verdict);
	for (i = 0; i < ctl->conf->nstreams; i++)
		if (strlen(ctl->conf->streams[i].name) > w)
			w = strlen(ctl->conf->streams[i].name);
	printf("%-*s  %-7s  %7s  %9s  %8s  %8s\n", (int)w, "stream", "state",
	    "files", "hits", "bytes", "oldest");
	for (i = 0; i < ctl->conf->nstreams; i++) {
		if (!ctl_selected(ctl, &ctl->conf->streams[i]))
			continue;
		for (s = 0; s < SPOOL_NSTATES; s++) {
			t = &r->t[i * SPOOL_NSTATES + s];
			ctl_bytes(bytes, sizeof bytes, t->bytes);
			ctl_age(age, sizeof age, (long)(ctl->now - t->oldest));
			snprintf(hits, sizeof hits, "%lu", t->hits);
			printf("%-*s  %-7s  %7lu  %9s  %8s  %8s\n", (int)w,
			    ctl->conf->streams[i].name, spool_state_names[s],
			    t->files, s == SPOOL_DONE ? "-" : hits, bytes,
			    t->files > 0 ? age : "-");
		}
	}
	ctl_bytes(bytes, sizeof bytes, bl->bytes);
	ctl_age(age, sizeof age, (long)(ctl->now - bl->oldest));
	printf("backlog (tmp, new, active): %lu file%s, %s bytes, oldest %s\n",
	    bl->files, bl->files == 1 ? "" : "s", bytes,
	    bl->files > 0 ? age : "-");
	ctl_print_last_upload(lu);
	if (r->skipped > 0)
		printf("%lu file%s moved away while counting (skipped)\n",
		    r->skipped, r->skipped == 1 ? "" : "s");
}

static int
ctl_status(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "max-age", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	struct ctl_status_run r;
	struct spool_backlog bl;
	json_t *lu;
	char verdict[512];
	const char *max_age = NULL;
	long warn = 0, crit = 0;
	int ch, json = 0, code = 0;

	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'a':
			max_age = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (max_age != NULL && ctl_parse_max_age(max_age, &warn, &crit) ==
	    -1) {
		log_warnx("--max-age wants warn[,crit] durations like 10m,1h "
		    "(crit >= warn), not '%s'", max_age);
		return NAGIOS_UNKNOWN;
	}
	memset(&r, 0, sizeof r);
	r.t = xcalloc(ctl->conf->nstreams * SPOOL_NSTATES + 1, sizeof *r.t);
	ctl_walk(ctl, ALL_STATES, ctl_tally_one, &r, &r.errors);
	ctl_backlog(ctl, &r, &bl);
	if (max_age != NULL)
		code = ctl_verdict(ctl, &r, &bl, warn, crit, verdict,
		    sizeof verdict);
	else if (r.errors > 0)
		code = EX_IOERR;
	lu = ctl_last_upload(ctl);
	if (json)
		ctl_status_json(ctl, &r, &bl, lu,
		    max_age != NULL ? verdict : NULL, code);
	else
		ctl_status_text(ctl, &r, &bl, lu,
		    max_age != NULL ? verdict : NULL);
	json_decref(lu);
	free(r.t);
	return code;
}

/* ---- list ---------------------------------------------------------------- */

struct ctl_list_run {
	int		 json;
	unsigned long	 skipped;
	unsigned long	 errors;
};

static void
ctl_list_one(struct ctl *ctl, const struct ctl_item *it, void *arg)
{
	struct ctl_list_run *r = arg;
	unsigned long lines;
	char *err;
	char age[32], hits[32];
	json_t *j;
	int rc;

	if ((rc = ctl_hits(it, &lines)) != 0) {
		if (rc == 1)
			r->skipped++;
		else
			r->errors++;
		return;
	}
	if (!r->json) {
		ctl_age(age, sizeof age, (long)(ctl->now - it->e->mtime));
		snprintf(hits, sizeof hits, "%lu", lines);
		printf("%s  %s  %s  %s  %" PRIu64 "  %s%s%s\n", it->e->name,
		    it->st->name, spool_state_names[it->state],
		    lines == CTL_UNCOUNTED ? "-" : hits, it->e->size, age,
		    it->job != NULL ? "  job=" : "",
		    it->job != NULL ? it->job : "");
		return;
	}
	j = json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:I}",
	    "batch", it->e->name, "stream", it->st->name,
	    "state", spool_state_names[it->state],
	    "hits", lines == CTL_UNCOUNTED ? json_null() :
	    json_integer((json_int_t)lines), "bytes", (json_int_t)it->e->size,
	    "mtime", (json_int_t)it->e->mtime,
	    "age", (json_int_t)(ctl->now - it->e->mtime));
	if (j == NULL) {
		/* Only a name that is not UTF-8 makes json_pack fail. */
		log_warnx("cannot list '%s' as JSON", it->e->name);
		r->errors++;
		return;
	}
	if (it->job != NULL)
		json_object_set_new(j, "job", json_string(it->job));
	if ((it->state == SPOOL_FAILED || it->state == SPOOL_CORRUPT) &&
	    (err = spool_err_read(it->dir, it->state, it->e->name)) != NULL) {
		json_object_set_new(j, "error", json_string(err));
		free(err);
	}
	json_dumpf(j, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
	printf("\n");
	json_decref(j);
}

static int
ctl_list(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_list_run r;
	unsigned states = ALL_STATES;
	int ch, s;

	memset(&r, 0, sizeof r);
	while ((ch = getopt(argc, argv, "+j")) != -1) {
		if (ch != 'j')
			usage();
		r.json = 1;
	}
	argc -= optind;
	argv += optind;
	if (argc > 1)
		usage();
	if (argc == 1) {
		if ((s = spool_state_lookup(argv[0])) == -1) {
			log_warnx("unknown state '%s' (tmp, new, active, done, "
			    "failed, hold, corrupt)", argv[0]);
			return EX_USAGE;
		}
		states = ST(s);
	}
	ctl_walk(ctl, states, ctl_list_one, &r, &r.errors);
	if (r.skipped > 0)
		log_warnx("%lu batch%s moved away while listing (skipped)",
		    r.skipped, r.skipped == 1 ? "" : "es");
	return r.errors > 0 ? EX_IOERR : EX_OK;
}

/* ---- finding a batch by id ----------------------------------------------- */

struct ctl_where {
	size_t		 si;
	enum spool_state state;
	char		*job;
	char		*dir;
};

static void
ctl_where_free(struct ctl_where *w)
{
	free(w->job);
	free(w->dir);
	memset(w, 0, sizeof *w);
}

/*
 * Where batch name is among the selected streams: the number of streams
 * that hold it (the first in *w), or -1 on error.  A batch caught between
 * two states is looked for once more.
 */
static int
ctl_locate(struct ctl *ctl, const char *name, struct ctl_where *w)
{
	enum spool_state s;
	char *dir, *job;
	size_t i;
	int found, pass, rc;

	memset(w, 0, sizeof *w);
	for (pass = 0; pass < 2; pass++) {
		found = 0;
		for (i = 0; i < ctl->conf->nstreams; i++) {
			if (!ctl_selected(ctl, &ctl->conf->streams[i]))
				continue;
			dir = spool_stream_dir(ctl->conf,
			    &ctl->conf->streams[i]);
			rc = spool_find(dir, name, &s, &job);
			if (rc == -1) {
				free(dir);
				ctl_where_free(w);
				return -1;
			}
			if (rc == 0 && found++ == 0) {
				w->si = i;
				w->state = s;
				w->job = job;
				w->dir = dir;
				continue;
			}
			free(job);
			free(dir);
		}
		if (found > 0)
			return found;
	}
	return 0;
}

static int
ctl_locate_one(struct ctl *ctl, const char *name, struct ctl_where *w)
{
	int n = ctl_locate(ctl, name, w);

	if (n == 0)
		log_warnx("no batch '%s'%s%s", name, ctl->only ? " in stream " :
		    "", ctl->only ? ctl->only : "");
	else if (n > 1) {
		log_warnx("batch '%s' is in %d streams: choose one with -s",
		    name, n);
		ctl_where_free(w);
	}
	return n;
}

/* ---- show ---------------------------------------------------------------- */

/* Bytes that are not a hit record, shown safely: a JSON string if possible. */
static void
ctl_print_raw(const char *p, size_t len)
{
	json_t *s = json_stringn(p, len);
	size_t i;

	if (s != NULL) {
		json_dumpf(s, stdout, JSON_ENCODE_ANY);
		json_decref(s);
		printf("\n");
		return;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			putchar(c);
		else
			printf("\\x%02x", c);
	}
	printf("\n");
}

static void
ctl_show_line(void *arg, unsigned long lineno, const char *line, size_t len,
    const char *why)
{
	json_t *j;

	(void)arg;
	if (why == NULL && (j = json_loadb(line, len, JSON_ALLOW_NUL,
	    NULL)) != NULL) {
		json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("\n");
		json_decref(j);
		return;
	}
	printf("# line %lu: %s:\n", lineno, why != NULL ? why : "unreadable");
	ctl_print_raw(line, len);
}

static int
ctl_show(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_where w;
	struct stat sb;
	unsigned long good, bad;
	char *path = NULL, *err, *p, *nl;
	char age[32];
	int attempt, n;

	if (argc != 2)
		usage();
	for (attempt = 0; attempt < 3; attempt++) {
		if ((n = ctl_locate_one(ctl, argv[1], &w)) != 1)
			return n == -1 ? EX_IOERR : n == 0 ? EX_NOINPUT :
			    EX_USAGE;
		path = spool_batch_path(w.dir, w.state, w.job, argv[1]);
		if (stat(path, &sb) == -1) {
			/* It moved on between the lookup and now. */
			free(path);
			ctl_where_free(&w);
			continue;
		}
		ctl_age(age, sizeof age, (long)(ctl->now - sb.st_mtime));
		printf("# batch %s\n# stream %s, state %s, %" PRIu64
		    " bytes, modified %s ago\n", argv[1],
		    ctl->conf->streams[w.si].name, spool_state_names[w.state],
		    (uint64_t)sb.st_size, age);
		if (w.job != NULL)
			printf("# load job %s\n", w.job);
		err = spool_err_read(w.dir, w.state, argv[1]);
		for (p = err; p != NULL && *p != '\0'; p = nl) {
			if ((nl = strchr(p, '\n')) != NULL)
				*nl++ = '\0';
			else
				nl = p + strlen(p);
			printf("# error: %s\n", p);
		}
		free(err);
		fflush(stdout);
		n = spool_scan(path, w.state == SPOOL_TMP ? SPOOL_SCAN_OPEN |
		    SPOOL_SCAN_LIVE : 0, ctl_show_line, NULL,
		    &good, &bad);
		free(path);
		ctl_where_free(&w);
		if (n == 1)
			continue;
		if (n == -1)
			return EX_IOERR;
		printf("# %lu hit%s", good, good == 1 ? "" : "s");
		if (bad > 0)
			printf(", %lu bad line%s", bad, bad == 1 ? "" : "s");
		printf("\n");
		return EX_OK;
	}
	log_warnx("batch '%s' keeps moving; try again", argv[1]);
	return EX_TEMPFAIL;
}

/* ---- hold, release, requeue, replay, delete ------------------------------ */

static const struct ctl_op *
ctl_op_lookup(const char *verb)
{
	size_t i;

	for (i = 0; i < sizeof ctl_ops / sizeof ctl_ops[0]; i++)
		if (strcmp(ctl_ops[i].verb, verb) == 0)
			return &ctl_ops[i];
	return NULL;
}

/* 0 done, 1 not there any more, -1 error. */
static int
ctl_op_do(const struct ctl_op *op, const char *dir, enum spool_state from,
    const char *name)
{
	if (op->to == -1)
		return spool_remove(dir, from, name);
	return spool_move(dir, name, from, op->to);
}

static void
ctl_op_id(struct ctl *ctl, const struct ctl_op *op, const char *name,
    struct ctl_counts *c)
{
	struct ctl_where w;
	int attempt, n, rc;

	if (!spool_valid_name(name)) {
		log_warnx("'%s' is not a batch id", name);
		c->notfound++;
		return;
	}
	for (attempt = 0; attempt < 3; attempt++) {
		n = ctl_locate_one(ctl, name, &w);
		if (n == -1) {
			c->errors++;
			return;
		}
		if (n == 0) {
			c->notfound++;
			return;
		}
		if (n > 1) {
			c->refused++;
			return;
		}
		if (w.state == SPOOL_ACTIVE) {
			log_warnx("'%s' is being loaded (active/%s): it "
			    "belongs to the uploader until BigQuery answers; "
			    "not %s",
			    name, w.job, op->did);
			c->refused++;
			ctl_where_free(&w);
			return;
		}
		if (w.state == SPOOL_TMP) {
			log_warnx("'%s' is still open in tmp/: its writer "
			    "may be appending ('repair' seals it once the "
			    "writer is gone); not %s", name, op->did);
			c->refused++;
			ctl_where_free(&w);
			return;
		}
		if (!(op->from & ST(w.state))) {
			log_warnx("'%s' is in %s/, which %s does not take",
			    name, spool_state_names[w.state], op->verb);
			c->notfound++;
			ctl_where_free(&w);
			return;
		}
		rc = ctl_op_do(op, w.dir, w.state, name);
		ctl_where_free(&w);
		if (rc == 0) {
			c->done++;
			return;
		}
		if (rc == -1) {
			c->errors++;
			return;
		}
		/* rc 1: it moved between the lookup and now; look again. */
	}
	c->skipped++;
}

/* What a walk over ALL carries. */
struct ctl_op_run {
	struct ctl_counts counts;
	const struct ctl_op *op;
};

static void
ctl_op_walked(struct ctl *ctl, const struct ctl_item *it, void *arg)
{
	struct ctl_op_run *r = arg;
	int rc;

	(void)ctl;
	rc = ctl_op_do(r->op, it->dir, it->state, it->e->name);
	if (rc == 0)
		r->counts.done++;
	else if (rc == 1)
		r->counts.skipped++;	/* moved on meanwhile */
	else
		r->counts.errors++;
}

/* Print what a verb did, such as "3 held, 1 not found"; the exit code. */
static int
ctl_op_report(const struct ctl_op_run *r)
{
	printf("%lu %s", r->counts.done, r->op->did);
	if (r->counts.notfound > 0)
		printf(", %lu not found", r->counts.notfound);
	if (r->counts.refused > 0)
		printf(", %lu refused", r->counts.refused);
	if (r->counts.skipped > 0)
		printf(", %lu skipped (moved meanwhile)", r->counts.skipped);
	if (r->counts.errors > 0)
		printf(", %lu error%s", r->counts.errors,
		    r->counts.errors == 1 ? "" : "s");
	printf("\n");
	if (r->counts.errors > 0)
		return EX_IOERR;
	if (r->counts.notfound > 0)
		return EX_NOINPUT;
	if (r->counts.refused > 0)
		return EX_TEMPFAIL;
	return EX_OK;
}

static int
ctl_move(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_op_run r;
	char *line = NULL, *id, *end;
	size_t cap = 0;
	unsigned states;
	int i, s;

	memset(&r, 0, sizeof r);
	if ((r.op = ctl_op_lookup(argv[0])) == NULL || argc < 2)
		usage();
	if (strcmp(argv[1], "ALL") == 0) {
		states = r.op->from;
		if (argc > 3 || (argc == 3 && r.op->to != -1))
			usage();
		if (argc == 3) {
			if ((s = spool_state_lookup(argv[2])) == -1 ||
			    !(r.op->from & ST(s))) {
				log_warnx("delete ALL takes new, hold, failed, "
				    "corrupt or done, not '%s'", argv[2]);
				return EX_USAGE;
			}
			states = ST(s);
		}
		ctl_walk(ctl, states, ctl_op_walked, &r, &r.counts.errors);
	} else if (strcmp(argv[1], "-") == 0) {
		if (argc != 2)
			usage();
		/* One id per line, its first word: `list` output works. */
		while (getline(&line, &cap, stdin) != -1) {
			id = line + strspn(line, " \t");
			end = id + strcspn(id, " \t\r\n");
			*end = '\0';
			if (*id == '\0' || *id == '#')
				continue;
			ctl_op_id(ctl, r.op, id, &r.counts);
		}
		free(line);
	} else {
		for (i = 1; i < argc; i++) {
			if (strcmp(argv[i], "ALL") == 0 ||
			    strcmp(argv[i], "-") == 0)
				usage();
			ctl_op_id(ctl, r.op, argv[i], &r.counts);
		}
	}
	return ctl_op_report(&r);
}

/*
 * A date for replay, UTC: YYYY-MM-DD (with end set: the end of that day)
 * or YYYY-MM-DDTHH:MM[:SS][Z].  0, or -1 when it is neither.
 */
static int
ctl_parse_date(const char *arg, int end, time_t *tp)
{
	struct tm tm;
	const char *p;

	memset(&tm, 0, sizeof tm);
	if ((p = strptime(arg, "%Y-%m-%d", &tm)) == NULL)
		return -1;
	if (*p == '\0') {
		*tp = timegm(&tm) + (end ? 86400 : 0);
		return 0;
	}
	if ((p = strptime(p, "T%H:%M", &tm)) == NULL)
		return -1;
	if (*p == ':' && (p = strptime(p, ":%S", &tm)) == NULL)
		return -1;
	if (*p == 'Z')
		p++;
	if (*p != '\0')
		return -1;
	*tp = timegm(&tm);
	return 0;
}

/* What replay --since carries through the walk over done/. */
struct ctl_replay_run {
	struct ctl_op_run run;
	time_t		 since;
	time_t		 until;		/* 0: now */
};

static void
ctl_replay_walked(struct ctl *ctl, const struct ctl_item *it, void *arg)
{
	struct ctl_replay_run *rr = arg;

	/* A batch's mtime in done/ is when it was loaded. */
	if (it->e->mtime < rr->since ||
	    (rr->until != 0 && it->e->mtime >= rr->until))
		return;
	ctl_op_walked(ctl, it, &rr->run);
}

/*
 * Load done/ batches again, on purpose (the day a table was dropped): by
 * id like the other verbs, or those loaded between two dates.  Their rows
 * are inserted a second time.
 */
static int
ctl_replay(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_replay_run rr;
	int i;

	if (argc < 2 || strcmp(argv[1], "ALL") == 0)
		usage();
	if (strncmp(argv[1], "--", 2) != 0)
		return ctl_move(ctl, argc, argv);
	memset(&rr, 0, sizeof rr);
	rr.since = -1;
	for (i = 1; i < argc; i++) {
		if (i + 1 < argc && strcmp(argv[i], "--since") == 0 &&
		    ctl_parse_date(argv[i + 1], 0, &rr.since) == 0)
			i++;
		else if (i + 1 < argc && strcmp(argv[i], "--until") == 0 &&
		    ctl_parse_date(argv[i + 1], 1, &rr.until) == 0)
			i++;
		else {
			log_warnx("replay takes --since YYYY-MM-DD"
			    "[THH:MM[:SS]] [--until ...] (UTC)");
			return EX_USAGE;
		}
	}
	if (rr.since == -1) {
		log_warnx("replay needs --since: every batch of done/ would "
		    "load again");
		return EX_USAGE;
	}
	rr.run.op = ctl_op_lookup(argv[0]);
	ctl_walk(ctl, ST(SPOOL_DONE), ctl_replay_walked, &rr,
	    &rr.run.counts.errors);
	return ctl_op_report(&rr.run);
}

/* ---- audit --------------------------------------------------------------- */

/* A hit_id kept in done/, with the batch (index in names) it is in. */
struct ctl_audit_kept {
	char		 id[HIT_ID_LEN];
	size_t		 batch;
};

/* A row's delivery id, with its hit_id. */
struct ctl_audit_did {
	char		*did;
	char		 id[HIT_ID_LEN];
};

struct ctl_audit_run {
	const char	*since;		/* YYYY-MM-DD, or NULL: all */
	char		**names;	/* the done/ batches read */
	size_t		 nnames;
	struct ctl_audit_kept *kept;
	size_t		 nkept, capkept;
	char		(*rows)[HIT_ID_LEN]; /* the table's hit_ids */
	size_t		 nrows, caprows;
	unsigned long	 odd;		/* lines, rows without a hit_id */
	int		 col_id, col_date; /* cells of hit_id and date */
	int		 col_did;	/* of delivery_id, or -1: none */
	struct ctl_audit_did *dids;	/* rows with a delivery id */
	size_t		 ndids, capdids;
};

/* A hit_id as hookspool makes them fits; anything else is odd. */
static int
ctl_audit_id(const char *id, const char *date, const char *since,
    char out[HIT_ID_LEN])
{
	if (id == NULL || strlen(id) >= HIT_ID_LEN)
		return -1;
	if (since != NULL && (date == NULL || strcmp(date, since) < 0))
		return 0;
	memcpy(out, id, strlen(id) + 1);
	return 1;
}

static void
ctl_audit_line(void *arg, unsigned long lineno, const char *line, size_t len,
    const char *why)
{
	struct ctl_audit_run *a = arg;
	struct ctl_audit_kept k;
	json_t *j;
	int rc;

	(void)lineno;
	if (why != NULL || (j = json_loadb(line, len, JSON_ALLOW_NUL,
	    NULL)) == NULL) {
		a->odd++;
		return;
	}
	rc = ctl_audit_id(json_string_value(json_object_get(j, "hit_id")),
	    json_string_value(json_object_get(j, "date")), a->since, k.id);
	json_decref(j);
	if (rc == -1)
		a->odd++;
	if (rc != 1)
		return;
	if (a->nkept == a->capkept) {
		a->capkept = a->capkept ? a->capkept * 2 : 1024;
		a->kept = xreallocarray(a->kept, a->capkept, sizeof *a->kept);
	}
	k.batch = a->nnames - 1;
	a->kept[a->nkept++] = k;
}

static void
ctl_audit_row(void *arg, json_t *cells)
{
	struct ctl_audit_run *a = arg;
	const char *id, *date, *did = NULL;
	int rc;

	id = json_string_value(json_object_get(json_array_get(cells,
	    a->col_id), "v"));
	date = json_string_value(json_object_get(json_array_get(cells,
	    a->col_date), "v"));
	if (a->col_did >= 0)
		did = json_string_value(json_object_get(json_array_get(cells,
		    a->col_did), "v"));
	if (a->nrows == a->caprows) {
		a->caprows = a->caprows ? a->caprows * 2 : 1024;
		a->rows = xreallocarray(a->rows, a->caprows, sizeof *a->rows);
	}
	if ((rc = ctl_audit_id(id, date, a->since, a->rows[a->nrows])) == -1)
		a->odd++;
	if (rc != 1)
		return;
	if (did != NULL) {
		if (a->ndids == a->capdids) {
			a->capdids = a->capdids ? a->capdids * 2 : 256;
			a->dids = xreallocarray(a->dids, a->capdids,
			    sizeof *a->dids);
		}
		a->dids[a->ndids].did = xstrdup(did);
		memcpy(a->dids[a->ndids++].id, a->rows[a->nrows], HIT_ID_LEN);
	}
	a->nrows++;
}

static int
ctl_audit_cmp_did(const void *x, const void *y)
{
	const struct ctl_audit_did *a = x, *b = y;
	int c = strcmp(a->did, b->did);

	return c != 0 ? c : strcmp(a->id, b->id);
}

static int
ctl_audit_cmp_kept(const void *x, const void *y)
{
	const struct ctl_audit_kept *a = x, *b = y;
	int c = strcmp(a->id, b->id);

	return c != 0 ? c : a->batch < b->batch ? -1 : a->batch > b->batch;
}

static int
ctl_audit_cmp_row(const void *x, const void *y)
{
	return strcmp(x, y);
}

/*
 * Read done/ (first: a batch is there only once its rows are in the
 * table).  0, or -1 when a batch could not be read.
 */
static int
ctl_audit_done(const char *dir, struct ctl_audit_run *a)
{
	struct spool_entry *v;
	unsigned long good, bad;
	size_t n, k;
	char *path;
	int rc = 0;

	if (spool_list_batches(dir, SPOOL_DONE, NULL, &v, &n) == -1)
		return -1;
	for (k = 0; k < n; k++) {
		a->names = xreallocarray(a->names, a->nnames + 1,
		    sizeof *a->names);
		a->names[a->nnames++] = xstrdup(v[k].name);
		path = spool_path(dir, SPOOL_DONE, v[k].name);
		/* 1: removed by keep_done meanwhile, no longer kept. */
		if (spool_scan(path, 0, ctl_audit_line, a, &good, &bad) == -1)
			rc = -1;
		free(path);
	}
	spool_entries_free(v, n);
	return rc;
}

/*
 * Where hit_id, date and delivery_id (when the table has it) come in the
 * cells: tabledata.list gives the selected fields in the table's order.
 * -1 when hit_id or date lacks.
 */
static int
ctl_audit_order(json_t *table, struct ctl_audit_run *a)
{
	json_t *f;
	const char *name;
	size_t i;
	int n = 0;

	a->col_id = a->col_date = a->col_did = -1;
	json_array_foreach(json_object_get(json_object_get(table, "schema"),
	    "fields"), i, f) {
		name = json_string_value(json_object_get(f, "name"));
		if (name == NULL)
			continue;
		if (strcmp(name, "hit_id") == 0)
			a->col_id = n++;
		else if (strcmp(name, "date") == 0)
			a->col_date = n++;
		else if (strcmp(name, "delivery_id") == 0)
			a->col_did = n++;
	}
	return a->col_id < 0 || a->col_date < 0 ? -1 : 0;
}

/* The kept batches of sorted kept[from, to), comma-separated. */
static void
ctl_audit_batches(const struct ctl_audit_run *a, size_t from, size_t to)
{
	size_t i;

	if (from == to)
		printf("-");
	for (i = from; i < to; i++)
		if (i == from || a->kept[i].batch != a->kept[i - 1].batch)
			printf("%s%s", i == from ? "" : ",",
			    a->names[a->kept[i].batch]);
	printf("\n");
}

/*
 * Both lists sorted, walk them together: a kept hit_id with no row is
 * missing, any hit_id with two rows or more is duplicated (with the
 * batches that hold it, or "-" when none is kept).
 */
static void
ctl_audit_compare(struct ctl_audit_run *a, unsigned long *missing,
    unsigned long *dups)
{
	size_t i = 0, j = 0, k, c;
	const char *id;
	int cmp;

	if (a->nkept > 0)
		qsort(a->kept, a->nkept, sizeof *a->kept, ctl_audit_cmp_kept);
	if (a->nrows > 0)
		qsort(a->rows, a->nrows, sizeof *a->rows, ctl_audit_cmp_row);
	while (i < a->nkept || j < a->nrows) {
		cmp = i == a->nkept ? 1 : j == a->nrows ? -1 :
		    strcmp(a->kept[i].id, a->rows[j]);
		id = cmp <= 0 ? a->kept[i].id : a->rows[j];
		for (k = i; cmp <= 0 && k < a->nkept &&
		    strcmp(a->kept[k].id, id) == 0; k++)
			continue;
		for (c = 0; j < a->nrows && strcmp(a->rows[j], id) == 0; j++)
			c++;
		if (cmp <= 0 && c == 0) {
			printf("missing %s ", id);
			ctl_audit_batches(a, i, k);
			(*missing)++;
		} else if (c > 1) {
			printf("duplicated %s %zu ", id, c);
			ctl_audit_batches(a, i, cmp <= 0 ? k : i);
			(*dups)++;
		}
		if (cmp <= 0)
			i = k;
	}
}

/*
 * One delivery id on rows of two hit_ids or more: a sender's retry that
 * reached another host, or one outside dedup_window.  Reported, not an
 * error: the view of hookspool-fcgi(8) keeps the first.  The id comes last
 * on the line, control characters shown as '?'.
 */
static unsigned long
ctl_audit_redelivered(struct ctl_audit_run *a)
{
	unsigned long n = 0;
	size_t i, k, j, c;
	const char *s;

	if (a->ndids > 0)
		qsort(a->dids, a->ndids, sizeof *a->dids, ctl_audit_cmp_did);
	for (i = 0; i < a->ndids; i = k) {
		for (k = i + 1, c = 1; k < a->ndids &&
		    strcmp(a->dids[k].did, a->dids[i].did) == 0; k++)
			if (strcmp(a->dids[k].id, a->dids[k - 1].id) != 0)
				c++;
		if (c < 2)
			continue;
		printf("redelivered %zu ", c);
		for (j = i; j < k; j++)
			if (j == i || strcmp(a->dids[j].id,
			    a->dids[j - 1].id) != 0)
				printf("%s%s", j == i ? "" : ",", a->dids[j].id);
		putchar(' ');
		for (s = a->dids[i].did; *s != '\0'; s++)
			putchar((unsigned char)*s < 0x20 || *s == 0x7f ?
			    '?' : *s);
		putchar('\n');
		n++;
	}
	return n;
}

static void
ctl_audit_free(struct ctl_audit_run *a)
{
	while (a->nnames > 0)
		free(a->names[--a->nnames]);
	free(a->names);
	free(a->kept);
	free(a->rows);
	while (a->ndids > 0)
		free(a->dids[--a->ndids].did);
	free(a->dids);
	memset(a, 0, sizeof *a);
}

/* A bq failure -> the audit's exit code. */
static int
ctl_audit_exit(enum bq_result res)
{
	switch (res) {
	case BQ_RETRY:
	case BQ_QUOTA:
		return EX_TEMPFAIL;
	case BQ_CONFIG:
		return EX_CONFIG;
	default:
		return EX_UNAVAILABLE;
	}
}

static int
ctl_audit_stream(struct ctl *ctl, struct bq *bq, const struct conf_stream *st,
    const char *since)
{
	struct ctl_audit_run a;
	enum bq_result res;
	unsigned long missing = 0, dups = 0, redelivered;
	json_t *table = NULL;
	char *dir, *why = NULL;
	int rc = EX_OK;

	memset(&a, 0, sizeof a);
	a.since = since;
	dir = spool_stream_dir(ctl->conf, st);
	if (ctl_audit_done(dir, &a) == -1)
		rc = EX_IOERR;
	res = bq_table_get(bq, st->table, &table, &why);
	if (res == BQ_OK && ctl_audit_order(table, &a) == -1) {
		log_warnx("audit: stream '%s': table %s has no hit_id or no "
		    "date column", st->name, st->table);
		rc = EX_DATAERR;
		goto out;
	}
	if (res == BQ_OK)
		res = bq_table_rows(bq, st->table, a.col_did >= 0 ?
		    "hit_id,date,delivery_id" : "hit_id,date", ctl_audit_row,
		    &a, &why);
	if (res == BQ_NOTFOUND)
		log_warnx("audit: stream '%s': table %s does not exist",
		    st->name, st->table);
	else if (res != BQ_OK) {
		log_warnx("audit: stream '%s': %s", st->name, why);
		rc = ctl_audit_exit(res);
		goto out;
	}
	ctl_audit_compare(&a, &missing, &dups);
	redelivered = ctl_audit_redelivered(&a);
	printf("audit: stream %s: table %s: %zu hits kept in done/ (%zu "
	    "batches), %zu rows read, %lu missing, %lu duplicated%s%s\n",
	    st->name, st->table, a.nkept, a.nnames, a.nrows, missing, dups,
	    since != NULL ? ", since " : "", since != NULL ? since : "");
	if (a.odd > 0)
		printf("audit: stream %s: %lu lines or rows without a hit_id "
		    "skipped\n", st->name, a.odd);
	if (a.col_did >= 0)
		printf("audit: stream %s: %lu delivery ids on rows of more "
		    "than one hit_id\n", st->name, redelivered);
	if (rc == EX_OK && (missing > 0 || dups > 0))
		rc = EX_DATAERR;
out:
	json_decref(table);
	free(why);
	free(dir);
	ctl_audit_free(&a);
	return rc;
}

/*
 * The hit_ids kept in done/ against the table's rows (tabledata.list of
 * hit_id and date): the proof of exactly once, on the user's own data.
 * Exit 0 clean, 65 a hit_id missing or duplicated, 75 BigQuery could not
 * be reached (try later), 69 it refused, 78 credentials unusable, 74 a
 * kept batch unreadable; the worst over the streams.
 */
static int
ctl_audit(struct ctl *ctl, int argc, char **argv)
{
	struct http *http = NULL;
	struct auth *auth = NULL;
	struct bq *bq = NULL;
	const char *since = NULL, *only = NULL;
	time_t t;
	size_t i;
	int n, rc = EX_OK;

	for (n = 1; n < argc; n++) {
		if (strcmp(argv[n], "--since") == 0 && n + 1 < argc &&
		    strlen(argv[n + 1]) == 10 &&
		    ctl_parse_date(argv[n + 1], 0, &t) == 0)
			since = argv[++n];
		else if (argv[n][0] != '-' && only == NULL)
			only = argv[n];
		else
			usage();
	}
	if (only != NULL && conf_stream_by_name(ctl->conf, only) == NULL) {
		log_warnx("no stream '%s'", only);
		return EX_USAGE;
	}
	if ((http = http_new(ctl->conf)) == NULL) {
		rc = EX_SOFTWARE;
		goto out;
	}
	if ((auth = auth_new(ctl->conf, http)) == NULL ||
	    (bq = bq_new(ctl->conf, http, auth)) == NULL) {
		log_warnx("audit: cannot reach BigQuery with this "
		    "configuration");
		rc = EX_CONFIG;
		goto out;
	}
	for (i = 0; i < ctl->conf->nstreams; i++) {
		if (!ctl_selected(ctl, &ctl->conf->streams[i]) ||
		    (only != NULL && strcmp(only,
		    ctl->conf->streams[i].name) != 0))
			continue;
		n = ctl_audit_stream(ctl, bq, &ctl->conf->streams[i], since);
		/* Worst first: credentials, unreachable, a mismatch. */
		if (n != EX_OK && (rc == EX_OK || rc == EX_DATAERR))
			rc = n;
	}
out:
	bq_free(bq);
	auth_free(auth);
	http_free(http);
	return rc;
}

/* ---- check and repair ---------------------------------------------------- */

struct ctl_check_run {
	const struct ctl_item *it;	/* the batch being read */
	int		 quiet;
	unsigned long	 batches;
	unsigned long	 hits;
	unsigned long	 bad_lines;
	unsigned long	 bad_batches;
	unsigned long	 orphans;
	unsigned long	 skipped;
	unsigned long	 errors;
	/* repair */
	unsigned long	 cut_lines;
	unsigned long	 cut_batches;
	unsigned long	 whole;
};

static void
ctl_check_line(void *arg, unsigned long lineno, const char *line, size_t len,
    const char *why)
{
	struct ctl_check_run *r = arg;
	const struct ctl_item *it = r->it;

	(void)line;
	(void)len;
	if (why != NULL && !r->quiet)
		printf("%s: %s/%s%s%s line %lu: %s\n", it->st->name,
		    spool_state_names[it->state], it->job ? it->job : "",
		    it->job ? "/" : "", it->e->name, lineno, why);
}

/*
 * Read one batch without changing it.  Returns the number of bad lines,
 * or -1 when it vanished or could not be read (counted).
 */
static long
ctl_check_batch(struct ctl *ctl, const struct ctl_item *it,
    struct ctl_check_run *r)
{
	unsigned long good, bad;
	char *path;
	int live = 0, rc;

	if (it->state == SPOOL_TMP) {
		rc = spool_tmp_orphan(it->dir, it->e->name, ctl->now);
		if (rc == -1) {
			r->skipped++;
			return -1;
		}
		if (rc == 1) {
			r->orphans++;
			if (!r->quiet)
				printf("%s: tmp/%s: orphaned (its writer is "
				    "gone): 'repair' seals it\n", it->st->name,
				    it->e->name);
		}
		live = rc == 0;
	}
	r->it = it;
	path = ctl_item_path(it);
	rc = spool_scan(path, it->state == SPOOL_TMP ? SPOOL_SCAN_OPEN |
	    (live ? SPOOL_SCAN_LIVE : 0) : 0, ctl_check_line, r, &good, &bad);
	free(path);
	if (rc == 1) {
		r->skipped++;
		return -1;
	}
	if (rc == -1) {
		r->errors++;
		return -1;
	}
	r->batches++;
	r->hits += good;
	r->bad_lines += bad;
	if (bad > 0)
		r->bad_batches++;
	return (long)bad;
}

static void
ctl_check_one(struct ctl *ctl, const struct ctl_item *it, void *arg)
{
	(void)ctl_check_batch(ctl, it, arg);
}

/* Validate every line of every batch that is still to be loaded. */
static int
ctl_check(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_check_run r;

	(void)argv;
	if (argc != 1)
		usage();
	memset(&r, 0, sizeof r);
	ctl_walk(ctl, BACKLOG | ST(SPOOL_HOLD) | ST(SPOOL_FAILED),
	    ctl_check_one, &r, &r.errors);
	printf("%lu batch%s, %lu hit%s checked: %lu bad line%s in %lu "
	    "batch%s, %lu orphaned batch%s", r.batches,
	    r.batches == 1 ? "" : "es", r.hits, r.hits == 1 ? "" : "s",
	    r.bad_lines,
	    r.bad_lines == 1 ? "" : "s", r.bad_batches,
	    r.bad_batches == 1 ? "" : "es", r.orphans,
	    r.orphans == 1 ? "" : "es");
	if (r.skipped > 0)
		printf(", %lu skipped (moved meanwhile)", r.skipped);
	printf("\n");
	if (r.errors > 0)
		return EX_IOERR;
	if (r.bad_lines > 0 || r.orphans > 0)
		return EX_DATAERR;
	return EX_OK;
}

static void
ctl_repair_one(struct ctl *ctl, const struct ctl_item *it, void *arg)
{
	struct ctl_check_run *r = arg;
	unsigned long good, bad;
	int rc;

	/* Most batches are clean: read first, rewrite only the bad ones. */
	if (ctl_check_batch(ctl, it, r) <= 0)
		return;
	rc = spool_validate(it->dir, it->state, it->e->name, &good, &bad);
	if (rc == 2) {
		r->skipped++;
		return;
	}
	if (rc == -1) {
		r->errors++;
		return;
	}
	r->cut_lines += bad;
	if (rc == 1)
		r->whole++;
	else if (bad > 0)
		r->cut_batches++;
}

/*
 * Seal orphaned tmp/ batches, then cut bad lines (a torn last line after a
 * crash) out of new/, hold/ and failed/ into corrupt/.  The cut rewrites a
 * batch, so new/ is only touched under the uploader's spool lock: the
 * uploader validates new/ itself before it loads.
 */
static int
ctl_repair(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_check_run r;
	unsigned sealed, total = 0;
	unsigned states = ST(SPOOL_HOLD) | ST(SPOOL_FAILED);
	char *dir;
	size_t i;
	int lockfd = -1, rc = 1, tries;

	(void)argv;
	if (argc != 1)
		usage();
	memset(&r, 0, sizeof r);
	r.quiet = 0;
	for (i = 0; i < ctl->conf->nstreams; i++) {
		if (!ctl_selected(ctl, &ctl->conf->streams[i]))
			continue;
		dir = spool_stream_dir(ctl->conf, &ctl->conf->streams[i]);
		if (spool_seal_orphans(dir, time(NULL), &sealed) == -1)
			r.errors++;
		total += sealed;
		free(dir);
	}
	for (tries = 0; tries < 20; tries++) {
		if ((rc = spool_lock(ctl->conf->spool_dir, &lockfd)) != 1)
			break;
		usleep(250 * 1000);
	}
	if (rc == 0) {
		states |= ST(SPOOL_NEW);
		/* Under the lock no validation runs: its leftovers go. */
		for (i = 0; i < ctl->conf->nstreams; i++) {
			if (!ctl_selected(ctl, &ctl->conf->streams[i]))
				continue;
			dir = spool_stream_dir(ctl->conf,
			    &ctl->conf->streams[i]);
			(void)spool_clean_valid(dir, SPOOL_NEW);
			(void)spool_clean_valid(dir, SPOOL_HOLD);
			(void)spool_clean_valid(dir, SPOOL_FAILED);
			free(dir);
		}
	} else if (rc == -1)
		r.errors++;
	else
		log_warnx("the uploader holds the spool lock: new/ is left to "
		    "it (it validates batches before loading them)");
	ctl_walk(ctl, states, ctl_repair_one, &r, &r.errors);
	spool_unlock(lockfd);
	printf("%u orphaned batch%s sealed, %lu bad line%s moved to corrupt/ "
	    "(%lu batch%s cut, %lu moved whole)", total,
	    total == 1 ? "" : "es", r.cut_lines, r.cut_lines == 1 ? "" : "s",
	    r.cut_batches, r.cut_batches == 1 ? "" : "es", r.whole);
	if (r.skipped > 0)
		printf(", %lu skipped (moved meanwhile)", r.skipped);
	printf("\n");
	if (r.errors > 0)
		return EX_IOERR;
	return rc == 1 ? EX_TEMPFAIL : EX_OK;
}

/* ---- config and stream add ----------------------------------------------- */

/* config --check: can we read path?  0, or 1 after saying why not. */
static int
ctl_check_read(const char *what, const char *path)
{
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		printf("%s '%s': cannot read: %s\n", what, path,
		    strerror(errno));
		return 1;
	}
	close(fd);
	printf("%s '%s': readable\n", what, path);
	return 0;
}

/* config --check: a spool folder, when it exists, must be writable. */
static int
ctl_check_write(const char *what, const char *path, int must_exist)
{
	struct stat sb;

	if (stat(path, &sb) == -1) {
		if (errno == ENOENT && !must_exist)
			return 0;
		printf("%s '%s': %s\n", what, path, strerror(errno));
		return 1;
	}
	if (access(path, W_OK | X_OK) == -1) {
		printf("%s '%s': cannot write: %s\n", what, path,
		    strerror(errno));
		return 1;
	}
	if (must_exist)
		printf("%s '%s': writable\n", what, path);
	return 0;
}

/*
 * config --check [--user USER]: can USER (as root; by default whoever runs
 * this) read the config and every file it names, and write the spool, as
 * the responder and the uploader will have to?  Root drops to USER for
 * good first, so every check is the kernel's own answer.
 */
static int
ctl_config_check(struct ctl *ctl, const char *user)
{
	const struct conf *c = ctl->conf;
	const struct conf_stream *st;
	struct passwd *pw;
	char *dir, *sub;
	unsigned problems = 0;
	size_t i;
	int s;

	if (user != NULL) {
		if ((pw = getpwnam(user)) == NULL) {
			log_warnx("no user '%s'", user);
			return EX_NOUSER;
		}
		if (pw->pw_uid != geteuid() && (geteuid() != 0 ||
		    initgroups(user, pw->pw_gid) == -1 ||
		    setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1)) {
			log_warn("cannot become '%s' (--user needs root)",
			    user);
			return EX_NOPERM;
		}
	}
	pw = getpwuid(geteuid());
	printf("checking as %s (uid %lu)\n", pw != NULL ? pw->pw_name : "?",
	    (unsigned long)geteuid());
	problems += ctl_check_read("config", ctl->conf_path);
	if (c->credentials != NULL && c->credentials[0] == '/')
		problems += ctl_check_read("credentials", c->credentials);
	if (c->ca_file != NULL)
		problems += ctl_check_read("ca_file", c->ca_file);
	for (i = 0; i < c->nstreams; i++) {
		st = &c->streams[i];
		if (st->signature_secret_file != NULL)
			problems += ctl_check_read("signature_secret_file",
			    st->signature_secret_file);
		if (st->response == CONF_RESP_FILE)
			problems += ctl_check_read("response file",
			    st->response_file);
	}
	problems += ctl_check_write("spool_dir", c->spool_dir, 1);
	for (i = 0; i < c->nstreams; i++) {
		dir = spool_stream_dir(c, &c->streams[i]);
		problems += ctl_check_write("spool folder", dir, 0);
		for (s = 0; s < SPOOL_NSTATES; s++) {
			sub = spool_path(dir, s, NULL);
			problems += ctl_check_write("spool folder", sub, 0);
			free(sub);
		}
		free(dir);
	}
	if (problems > 0) {
		printf("%u problem%s: %s cannot run hookspool with '%s'\n",
		    problems, problems == 1 ? "" : "s",
		    pw != NULL ? pw->pw_name : "this user", ctl->conf_path);
		return EX_NOPERM;
	}
	printf("ok: %s can read '%s' and its files and write the spool\n",
	    pw != NULL ? pw->pw_name : "this user", ctl->conf_path);
	return EX_OK;
}

static int
ctl_config(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'k' },
		{ "user", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 }
	};
	const char *user = NULL;
	int ch, check = 0;

	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (ch) {
		case 'k':
			check = 1;
			break;
		case 'u':
			user = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || (user != NULL && !check))
		usage();
	if (check)
		return ctl_config_check(ctl, user);
	conf_print(ctl->conf, stdout);
	return EX_OK;
}

/* project.dataset.table, nothing that could break the INI line. */
static int
ctl_valid_table(const char *s)
{
	const char *dot;

	if (strlen(s) > 1024 || strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:") != strlen(s))
		return 0;
	return (dot = strchr(s, '.')) != NULL && dot != s &&
	    (dot = strchr(dot + 1, '.')) != NULL && dot[1] != '\0' &&
	    strstr(s, "..") == NULL;
}

static int
ctl_write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * stream add NAME TABLE: append a [stream NAME] section with a fresh
 * random id, check that the file still loads (else cut it back), and
 * print the URL to give the CRM.
 */
static int
ctl_stream(struct ctl *ctl, int argc, char **argv)
{
	const char *name, *table, *base = ctl->conf->base_url;
	struct conf *check = NULL;
	struct stat sb;
	uuid_t u;
	char id[sizeof "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"], last = '\n';
	char *text = NULL;
	size_t blen;
	int fd = -1, rc = EX_IOERR;

	if (argc != 4 || strcmp(argv[1], "add") != 0)
		usage();
	name = argv[2];
	table = argv[3];
	if (!conf_valid_name(name)) {
		log_warnx("invalid stream name '%s' (letters, digits, '-', "
		    "'_' and '.', at most 64)", name);
		return EX_USAGE;
	}
	if (!ctl_valid_table(table)) {
		log_warnx("invalid table '%s' (want project.dataset.table)",
		    table);
		return EX_USAGE;
	}
	if (conf_stream_by_name(ctl->conf, name) != NULL) {
		log_warnx("%s: stream '%s' already exists", ctl->conf_path,
		    name);
		return EX_CANTCREAT;
	}
	uuid_generate_random(u);
	uuid_unparse_lower(u, id);
	if ((fd = open(ctl->conf_path, O_RDWR | O_APPEND | O_CLOEXEC)) == -1 ||
	    fstat(fd, &sb) == -1) {
		log_warn("cannot open '%s'", ctl->conf_path);
		goto out;
	}
	if (sb.st_size > 0 && pread(fd, &last, 1, sb.st_size - 1) != 1) {
		log_warn("cannot read '%s'", ctl->conf_path);
		goto out;
	}
	text = xasprintf("%s\n[stream %s]\nid = %s\ntable = %s\n",
	    last == '\n' ? "" : "\n", name, id, table);
	if (ctl_write_all(fd, text, strlen(text)) == -1 || fsync(fd) == -1) {
		log_warn("cannot write '%s'", ctl->conf_path);
		goto undo;
	}
	if ((check = conf_load(ctl->conf_path, 1)) == NULL ||
	    conf_stream_by_name(check, name) == NULL) {
		log_warnx("%s: the new section does not load; file left as "
		    "it was", ctl->conf_path);
		rc = EX_CONFIG;
		goto undo;
	}
	blen = strlen(base);
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	printf("stream '%s' added to %s, loading into %s\n", name,
	    ctl->conf_path, table);
	printf("url: %.*s/%s\n", (int)blen, base, id);
	printf("try: curl -d 'orderId=N1&status=new' '%.*s/%s'\n", (int)blen,
	    base, id);
	printf("the responder reads its configuration when it starts: "
	    "restart it (e.g. the web server) to serve the new stream\n");
	rc = EX_OK;
	goto out;
undo:
	if (ftruncate(fd, sb.st_size) == -1 || fsync(fd) == -1)
		log_warn("cannot cut '%s' back to %lld bytes", ctl->conf_path,
		    (long long)sb.st_size);
out:
	if (fd != -1)
		close(fd);
	conf_free(check);
	free(text);
	return rc;
}

/*
 * The group that runs the responder and the uploader on Debian (Apache's
 * mod_fcgid gives no choice): a config created by root is root:www-data.
 */
#define CTL_WEB_GROUP	"www-data"

/*
 * stream add with no config file yet: create it (mode 640; as root, group
 * www-data), so that the first stream needs no file written by hand.
 */
static int
ctl_conf_create(const char *path)
{
	static const char head[] = "# hookspool configuration: see "
	    "hookspool.conf(5); `hookspoolctl config` prints every key\n";
	struct group *gr;
	int fd, rc = -1;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0640)) == -1) {
		log_warn("cannot create '%s'", path);
		return -1;
	}
	if (fchmod(fd, 0640) == -1) {	/* whatever the umask */
		log_warn("cannot chmod '%s'", path);
		goto out;
	}
	if (geteuid() == 0) {
		if ((gr = getgrnam(CTL_WEB_GROUP)) == NULL)
			log_warnx("no group '%s': '%s' is root's alone",
			    CTL_WEB_GROUP, path);
		else if (fchown(fd, 0, gr->gr_gid) == -1) {
			log_warn("cannot chown '%s'", path);
			goto out;
		}
	}
	if (ctl_write_all(fd, head, sizeof head - 1) == -1 ||
	    fsync(fd) == -1) {
		log_warn("cannot write '%s'", path);
		goto out;
	}
	rc = 0;
out:
	close(fd);
	if (rc == -1)
		(void)unlink(path);
	return rc;
}

/* ---- main ---------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	struct ctl ctl;
	const struct ctl_verb *v = NULL;
	size_t i;
	int ch, rc, verbose = 0;

	memset(&ctl, 0, sizeof ctl);
	log_init("hookspoolctl", 1);
	while ((ch = getopt(argc, argv, "+c:hs:v")) != -1) {
		switch (ch) {
		case 'c':
			ctl.conf_path = optarg;
			break;
		case 's':
			ctl.only = optarg;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage();
	for (i = 0; i < CTL_NVERBS; i++)
		if (strcmp(ctl_verbs[i].name, argv[0]) == 0)
			v = &ctl_verbs[i];
	if (v == NULL) {
		log_warnx("unknown verb '%s'", argv[0]);
		usage();
	}
	log_set_verbose(verbose);
	if (v->fn == ctl_status)
		for (i = 1; i < (size_t)argc; i++)
			if (strncmp(argv[i], "--max-age", 9) == 0)
				ctl.nagios = 1;
	ctl.conf_path = conf_choose_path(ctl.conf_path);
	if (v->fn == ctl_stream && access(ctl.conf_path, F_OK) == -1 &&
	    errno == ENOENT) {
		if (ctl_conf_create(ctl.conf_path) == -1)
			exit(EX_CANTCREAT);
		ctl.created = 1;
	}
	if ((ctl.conf = conf_load(ctl.conf_path, 1)) == NULL)
		fatalx(ctl.nagios ? NAGIOS_UNKNOWN : EX_CONFIG,
		    "%s: configuration error", ctl.conf_path);
	if (ctl.only != NULL && conf_stream_by_name(ctl.conf, ctl.only) ==
	    NULL)
		fatalx(ctl.nagios ? NAGIOS_UNKNOWN : EX_USAGE,
		    "%s: no stream '%s'", ctl.conf_path, ctl.only);
	/* Files repair writes must stay the responder's and the uploader's. */
	if (v->spool && spool_become_owner(ctl.conf->spool_dir) == -1)
		fatalx(EX_NOPERM, "%s: cannot become the spool's owner",
		    ctl.conf->spool_dir);
	ctl.now = time(NULL);
	optind = 0;	/* each verb parses its own options */
	rc = v->fn(&ctl, argc, argv);
	if (ctl.created && rc != EX_OK)
		(void)unlink(ctl.conf_path);	/* as it was: no file */
	else if (ctl.created)
		printf("created %s\n", ctl.conf_path);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		log_warn("cannot write the output");
		if (rc == EX_OK)
			rc = EX_IOERR;
	}
	conf_free(ctl.conf);
	return rc;
}
