/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * bq-probe: drive http.c, auth.c and bq.c by hand or from a test script,
 * against the fake BigQuery or the real one.  Not installed.
 *
 *   bq-probe [-v] [options] token
 *   bq-probe [-v] [options] get JOBID
 *   bq-probe [-v] [options] insert TABLE JOBID FILE...
 *   bq-probe [-v] [options] load TABLE JOBID FILE...
 *
 * Options set struct conf fields: -a api_base, -t token_uri,
 * -k credentials, -P project, -L location (- for none), -m multipart_max,
 * -C chunk_size, -T job_timeout, -H http_timeout, -c "col col" (optional
 * columns); -p MS the first backoff step, -n N the attempts per request.
 * Prints one line, "result=R done=D state=S rows=N status=H reason=X
 * message=M", and exits 0 ok, 1 retry, 2 quota, 3 failed, 4 notfound,
 * 5 config, 64 usage.  `token` prints the token's length, never the token.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "auth.h"
#include "bq.h"
#include "conf.h"
#include "hit.h"
#include "http.h"
#include "log.h"
#include "xmalloc.h"

static void
usage(void)
{
	fprintf(stderr, "usage: bq-probe [-v] [-a api_base] [-t token_uri] "
	    "[-k credentials] [-P project]\n"
	    "\t[-L location] [-m multipart_max] [-C chunk_size] "
	    "[-T job_timeout] [-H http_timeout]\n"
	    "\t[-c columns] [-p pace_ms] [-n tries] "
	    "token | get JOBID | insert|load TABLE JOBID FILE...\n");
	exit(EX_USAGE);
}

static long long
num(const char *s, long long min, long long max)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || n < min || n > max) {
		fprintf(stderr, "bq-probe: bad number '%s'\n", s);
		exit(EX_USAGE);
	}
	return n;
}

static void
columns(struct conf_stream *st, char *list)
{
	char *p, *save = NULL;
	int col;

	for (p = strtok_r(list, " ,", &save); p != NULL;
	    p = strtok_r(NULL, " ,", &save)) {
		if ((col = hit_column_lookup(p)) < HIT_COL_FIXED ||
		    st->ncolumns == CONF_MAX_COLUMNS) {
			fprintf(stderr, "bq-probe: bad column '%s'\n", p);
			exit(EX_USAGE);
		}
		st->columns[st->ncolumns++] = col;
	}
}

/* A string setting of the conf, which owns its strings. */
static void
setstr(char **field, const char *value)
{
	free(*field);
	*field = value != NULL ? xstrdup(value) : NULL;
}

static int
report(enum bq_result res, const struct bq_job *job)
{
	static const int code[] = { 0, 1, 2, 3, 4, 5 };

	printf("result=%s done=%d state=%s rows=%lld status=%ld reason=%s "
	    "message=%s\n", bq_result_name(res), job->done,
	    job->state != NULL ? job->state : "-", job->output_rows,
	    job->http_status, job->reason != NULL ? job->reason : "-",
	    job->message != NULL ? job->message : "-");
	fflush(stdout);
	return code[res];
}

int
main(int argc, char **argv)
{
	struct conf *conf;
	struct conf_stream st;
	struct http_src src;
	struct bq_job job;
	struct http *http;
	struct auth *auth;
	struct bq *bq = NULL;
	enum bq_result res;
	const char *tok, *cmd;
	long pace = 0;
	int ch, tries = 0, rc, verbose = 0;

	/* hookspool.conf's defaults, but shorter waits and a project. */
	conf = conf_new();
	memset(&st, 0, sizeof st);
	setstr(&conf->project, "test-project");
	conf->http_timeout = 30;
	conf->job_timeout = 60;
	st.name = "probe";
	while ((ch = getopt(argc, argv, "a:C:c:H:k:L:m:n:P:p:T:t:v")) != -1) {
		switch (ch) {
		case 'a':
			setstr(&conf->api_base, optarg);
			break;
		case 'C':
			conf->chunk_size = (size_t)num(optarg, 256 * 1024,
			    1LL << 32);
			if (conf->chunk_size % (256 * 1024) != 0)
				usage();
			break;
		case 'c':
			columns(&st, optarg);
			break;
		case 'H':
			conf->http_timeout = (long)num(optarg, 1, 86400);
			break;
		case 'k':
			setstr(&conf->credentials, optarg);
			break;
		case 'L':
			setstr(&conf->location, strcmp(optarg, "-") == 0 ? NULL :
			    optarg);
			break;
		case 'm':
			conf->multipart_max = (size_t)num(optarg, 0, 1LL << 40);
			break;
		case 'n':
			tries = (int)num(optarg, 1, 100);
			break;
		case 'P':
			setstr(&conf->project, optarg);
			break;
		case 'p':
			pace = (long)num(optarg, 1, 60000);
			break;
		case 'T':
			conf->job_timeout = (long)num(optarg, 1, 86400);
			break;
		case 't':
			setstr(&conf->token_uri, optarg);
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
	if (argc < 1)
		usage();
	cmd = argv[0];
	log_init("bq-probe", 1);
	log_set_verbose(verbose);

	if ((http = http_new(conf)) == NULL) {
		conf_free(conf);
		return EX_SOFTWARE;
	}
	if ((auth = auth_new(conf, http)) == NULL) {
		printf("result=config\n");
		http_free(http);
		conf_free(conf);
		return 5;
	}
	bq_job_init(&job);
	if (strcmp(cmd, "token") == 0) {
		rc = auth_token(auth, &tok);
		if (rc == 0)
			printf("result=ok length=%zu source=%s\n", strlen(tok),
			    auth_describe(auth));
		else
			printf("result=%s\n", rc == -1 ? "retry" : "config");
		rc = rc == 0 ? 0 : rc == -1 ? 1 : 5;
		goto out;
	}
	if ((bq = bq_new(conf, http, auth)) == NULL) {
		printf("result=config\n");
		rc = 5;
		goto out;
	}
	bq_set_pace(bq, pace, tries);
	if (strcmp(cmd, "get") == 0 && argc == 2) {
		res = bq_job_get(bq, argv[1], &job);
		rc = report(res, &job);
	} else if ((strcmp(cmd, "insert") == 0 || strcmp(cmd, "load") == 0) &&
	    argc >= 4) {
		st.table = argv[1];
		if (http_src_init(&src, argv + 3, (size_t)argc - 3) == -1) {
			rc = EX_NOINPUT;
			goto out;
		}
		if (strcmp(cmd, "insert") == 0)
			res = bq_job_insert(bq, &st, argv[2], &src, &job);
		else if ((res = bq_job_insert(bq, &st, argv[2], &src,
		    &job)) == BQ_OK)
			res = bq_job_wait(bq, &job);
		rc = report(res, &job);
		http_src_release(&src);
	} else
		usage();
out:
	bq_job_release(&job);
	bq_free(bq);
	auth_free(auth);
	http_free(http);
	conf_free(conf);
	return rc;
}
