/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * hookspool-fcgi: the FastCGI responder.  Each request is matched to a
 * stream by the last segment of its path, checked, turned into one NDJSON
 * line and appended to the stream's open batch; it is answered 2xx only
 * once the line is as durable as `sync` asks, and 503 when it cannot be.
 * No network call is made on the request path.  Worker threads share one
 * spool writer per stream.  SIGTERM/SIGINT: finish in-flight requests, seal
 * the batches, exit.  SIGUSR1: seal the batches now.  <mount>/-/health
 * reports the spool and the pipeline behind it; <mount>/-/metrics, when
 * `metrics` is on, every responder process's counters (metrics.h).  A
 * start-up error is also sent to the web server with the first request
 * (fcgi_startup_failed).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <poll.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <openssl/crypto.h>

#include "buf.h"
#include "conf.h"
#include "delivery.h"
#include "form.h"
#include "gunzip.h"
#include "hit.h"
#include "log.h"
#include "metrics.h"
#include "sig.h"
#include "spool.h"
#include "xmalloc.h"

struct fcgi_stream {
	struct conf_stream	*st;
	struct spool_writer	*writer;
	struct spool_dedup	*dedup;	/* NULL: no dedup_window */
	char			*dir;
};

/*
 * A request in flight.  Under sync = always its worker hands it to the
 * spool after writing the line and goes back to accept(); whichever thread
 * runs the covering sync answers it (fcgi_synced) and frees it.
 */
struct fcgi_pending {
	struct spool_waiter	 wt;	/* first: the spool hands it back */
	FCGX_Request		 req;
	const struct conf_stream *st;
	int			 head;
	char			 hit_id[HIT_ID_LEN];
	/* For the metrics: set by fcgi_status, fcgi_route, fcgi_body. */
	int			 code;
	size_t			 stream;	/* nstreams: none */
	uint64_t		 start;		/* metrics_now_ns() */
	uint64_t		 bytes;
	struct spool_dedup	*dedup;	/* a claimed delivery id to settle */
	char			 did[DELIVERY_MAX];
	size_t			 didlen;
};

struct fcgi_worker {
	pthread_t	 thread;
	int		 id;
	int		 joined;
	struct buf	 body;
	struct buf	 inflated;
	struct buf	 line;
	struct buf	 did;	/* the hit's delivery id */
	struct hit_header *headers;
	size_t		 headers_cap;
};

/*
 * The responder's state: set up by main() before the workers start and
 * read-only afterwards, but for stopping (the signal handlers) and the
 * free-space verdict (under space_lock).
 */
struct fcgi_state {
	struct conf		*conf;
	struct fcgi_stream	*streams;
	size_t			 nstreams;
	int			 listen;	/* the FastCGI socket */
	/* base_url's path: the health URL's prefix */
	char			*mount;
	volatile sig_atomic_t	 stopping;
	/* Free space, refreshed at most once a second by any request. */
	pthread_mutex_t		 space_lock;
	time_t			 space_checked;
	int			 space_ok;
};

static struct fcgi_state fcgi = {
	.listen = 0,
	.space_lock = PTHREAD_MUTEX_INITIALIZER,
	.space_ok = 1,
};

static const unsigned char fcgi_pixel[] = {
	0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80,
	0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04,
	0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: hookspool-fcgi [-dv] [-c config] "
	    "[-s unix:path | -s host:port]\n");
	exit(EX_USAGE);
}

static int
fcgi_space(void)
{
	time_t now = time(NULL);
	int ok;

	pthread_mutex_lock(&fcgi.space_lock);
	if (now != fcgi.space_checked) {
		fcgi.space_checked = now;
		fcgi.space_ok = spool_space_ok(fcgi.conf, fcgi.conf->spool_dir,
		    NULL);
		if (!fcgi.space_ok)
			log_warnx("spool: less than min_free_space free on "
			    "'%s' (or read-only): answering 503",
			    fcgi.conf->spool_dir);
	}
	ok = fcgi.space_ok;
	pthread_mutex_unlock(&fcgi.space_lock);
	return ok;
}

/* The stream whose id is seg; every id is compared, in constant time. */
static struct fcgi_stream *
fcgi_lookup(const char *seg, size_t len)
{
	struct fcgi_stream *found = NULL;
	size_t i, idlen;

	for (i = 0; i < fcgi.nstreams; i++) {
		idlen = strlen(fcgi.streams[i].st->id);
		if (idlen == len &&
		    CRYPTO_memcmp(fcgi.streams[i].st->id, seg, len) == 0)
			found = &fcgi.streams[i];
	}
	return found;
}

/* Every request is the req of a struct fcgi_pending. */
static struct fcgi_pending *
fcgi_pending_of(FCGX_Request *r)
{
	return (struct fcgi_pending *)(void *)((char *)r -
	    offsetof(struct fcgi_pending, req));
}

static void
fcgi_status(FCGX_Request *r, int code, const char *reason)
{
	fcgi_pending_of(r)->code = code;
	FCGX_FPrintF(r->out, "Status: %d %s\r\n", code, reason);
}

/* A small JSON error answer; the same shape for every error. */
static void
fcgi_error(FCGX_Request *r, const struct conf_stream *st, int code,
    const char *reason, const char *extra)
{
	fcgi_status(r, code, reason);
	if (extra != NULL)
		FCGX_PutS(extra, r->out);
	if (st != NULL && st->cors_origin != NULL)
		FCGX_FPrintF(r->out, "Access-Control-Allow-Origin: %s\r\n",
		    st->cors_origin);
	FCGX_FPrintF(r->out, "Content-Type: application/json\r\n"
	    "Cache-Control: no-store\r\n\r\n{\"error\":\"%s\"}\n", reason);
}

static const char *
fcgi_method_name(unsigned bit)
{
	switch (bit) {
	case CONF_M_GET:
		return "GET";
	case CONF_M_HEAD:
		return "HEAD";
	case CONF_M_POST:
		return "POST";
	case CONF_M_PUT:
		return "PUT";
	default:
		return "OPTIONS";
	}
}

static void
fcgi_allow(const struct conf_stream *st, char *out, size_t len)
{
	unsigned bit;
	size_t n = 0;

	out[0] = '\0';
	for (bit = CONF_M_GET; bit <= CONF_M_OPTIONS; bit <<= 1) {
		if (!(sig_methods(st) & bit) &&
		    !(bit == CONF_M_OPTIONS && st->cors_origin != NULL))
			continue;
		n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s%s",
		    n ? ", " : "", fcgi_method_name(bit));
		if (n >= len)
			break;
	}
}

static unsigned
fcgi_method_bit(const char *m)
{
	if (strcmp(m, "POST") == 0)
		return CONF_M_POST;
	if (strcmp(m, "GET") == 0)
		return CONF_M_GET;
	if (strcmp(m, "PUT") == 0)
		return CONF_M_PUT;
	if (strcmp(m, "HEAD") == 0)
		return CONF_M_HEAD;
	if (strcmp(m, "OPTIONS") == 0)
		return CONF_M_OPTIONS;
	return 0;
}

/* Look a request header up by its HTTP name ("Stripe-Signature"). */
static const char *
fcgi_header(void *ctx, const char *name)
{
	FCGX_Request *r = ctx;
	char key[256];
	size_t i, n;

	n = (size_t)snprintf(key, sizeof key, "HTTP_");
	for (i = 0; name[i] != '\0' && n + 1 < sizeof key; i++)
		key[n++] = name[i] == '-' ? '_' :
		    (char)toupper((unsigned char)name[i]);
	key[n] = '\0';
	if (strcmp(key, "HTTP_CONTENT_TYPE") == 0)
		return FCGX_GetParam("CONTENT_TYPE", r->envp);
	return FCGX_GetParam(key, r->envp);
}

/* The request headers, named as HTTP names them (HTTP_X_FOO -> X-Foo). */
static size_t
fcgi_collect_headers(struct fcgi_worker *w, FCGX_Request *r, struct buf *names)
{
	char **e;
	const char *eq, *src;
	size_t n = 0, i, off;
	int up;
	size_t *offsets = NULL;

	buf_reset(names);
	for (e = r->envp; *e != NULL; e++) {
		if ((eq = strchr(*e, '=')) == NULL)
			continue;
		if (strncmp(*e, "HTTP_", 5) == 0) {
			src = *e + 5;
			/* Credentials stay out of the table; CONTENT_* come
			 * without the prefix (some servers send both). */
			if (strncmp(src, "AUTHORIZATION=", 14) == 0 ||
			    strncmp(src, "PROXY_AUTHORIZATION=", 20) == 0 ||
			    strncmp(src, "COOKIE=", 7) == 0 ||
			    strncmp(src, "CONTENT_LENGTH=", 15) == 0 ||
			    strncmp(src, "CONTENT_TYPE=", 13) == 0)
				continue;
		}
		else if (strncmp(*e, "CONTENT_TYPE=", 13) == 0 ||
		    strncmp(*e, "CONTENT_LENGTH=", 15) == 0)
			src = *e;
		else
			continue;
		if (n == w->headers_cap) {
			w->headers_cap = w->headers_cap ? w->headers_cap * 2 : 32;
			w->headers = xreallocarray(w->headers, w->headers_cap,
			    sizeof *w->headers);
		}
		offsets = xreallocarray(offsets, n + 1, sizeof *offsets);
		offsets[n] = names->len;
		for (up = 1; src < eq; src++) {
			(void)buf_addc(names, *src == '_' ? '-' : up ?
			    *src : (char)tolower((unsigned char)*src));
			up = *src == '_';
		}
		(void)buf_addc(names, '\0');
		w->headers[n].value = eq + 1;
		n++;
	}
	/* names->data is stable now: point into it. */
	for (i = 0; i < n; i++) {
		off = offsets[i];
		w->headers[i].name = names->data + off;
	}
	free(offsets);
	return n;
}

/*
 * Bound the next read from the web server by what is left until deadline
 * (the socket's receive timeout); 0 when nothing is left.
 */
static int
fcgi_body_wait(FCGX_Request *r, const struct timespec *deadline)
{
	struct timespec now;
	struct timeval tv;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
	    (deadline->tv_nsec - now.tv_nsec) / 1000000;
	if (ms <= 0)
		return 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	(void)setsockopt(r->ipcFd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return 1;
}

/*
 * Read the request's input to its end into out (NULL: throw it away); 0,
 * 413 when out is full, 400 on an error, or 408 when it has not ended
 * within body_timeout (a slow sender must not hold the worker).  What
 * libfcgi has buffered is taken as it is; otherwise one byte is asked for,
 * which is one bounded read, so no read outlasts the deadline.
 */
static int
fcgi_read_in(FCGX_Request *r, struct buf *out)
{
	char chunk[16384];
	struct timespec deadline;
	size_t avail;
	int n, c;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += fcgi.conf->body_timeout;
	for (;;) {
		avail = (size_t)(r->in->stop - r->in->rdNext);
		if (avail > 0)
			n = FCGX_GetStr(chunk, avail < sizeof chunk ?
			    (int)avail : (int)sizeof chunk, r->in);
		else if (!fcgi_body_wait(r, &deadline))
			return 408;
		else if ((c = FCGX_GetChar(r->in)) != EOF) {
			chunk[0] = (char)c;
			n = 1;
		} else
			break;
		if (n <= 0)
			break;
		if (out != NULL && buf_add(out, chunk, (size_t)n) == -1)
			return 413;
	}
	if (FCGX_GetError(r->in) == EAGAIN ||
	    FCGX_GetError(r->in) == EWOULDBLOCK)
		return 408;
	return FCGX_GetError(r->in) != 0 ? 400 : 0;
}

/* Read the body into w->body; 0, 413, 400 or 408. */
static int
fcgi_read_body(struct fcgi_worker *w, FCGX_Request *r, size_t max)
{
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", r->envp);
	unsigned long long want = 0;
	char *end;
	int rc;

	buf_reset(&w->body);
	w->body.max = max;
	if (cl != NULL && *cl != '\0') {
		errno = 0;
		want = strtoull(cl, &end, 10);
		if (*end != '\0' || errno != 0)
			return 400;
		if (want > max)
			return 413;
		if (want > 0 && buf_reserve(&w->body, (size_t)want) == -1)
			return 413;
	}
	if ((rc = fcgi_read_in(r, &w->body)) != 0)
		return rc;
	if (cl != NULL && *cl != '\0' && w->body.len != want)
		return 400;	/* the client went away mid-body */
	return 0;
}

static void
fcgi_cors(FCGX_Request *r, const struct conf_stream *st)
{
	if (st->cors_origin != NULL)
		FCGX_FPrintF(r->out, "Access-Control-Allow-Origin: %s\r\n"
		    "Vary: Origin\r\n", st->cors_origin);
}

static void
fcgi_respond(FCGX_Request *r, const struct conf_stream *st, const char *id,
    int head)
{
	switch (st->response) {
	case CONF_RESP_EMPTY:
		fcgi_status(r, 204, "No Content");
		fcgi_cors(r, st);
		FCGX_PutS("\r\n", r->out);
		return;
	case CONF_RESP_PIXEL:
		fcgi_status(r, 200, "OK");
		fcgi_cors(r, st);
		FCGX_FPrintF(r->out, "Content-Type: image/gif\r\n"
		    "Content-Length: %lu\r\n"
		    "Cache-Control: no-cache, no-store, must-revalidate\r\n"
		    "Pragma: no-cache\r\nExpires: 0\r\n\r\n",
		    (unsigned long)sizeof fcgi_pixel);
		if (!head)
			FCGX_PutStr((const char *)fcgi_pixel,
			    (int)sizeof fcgi_pixel, r->out);
		return;
	case CONF_RESP_FILE:
		fcgi_status(r, 200, "OK");
		fcgi_cors(r, st);
		/* libfcgi's own printf knows no %zu. */
		FCGX_FPrintF(r->out, "Content-Type: %s\r\n"
		    "Content-Length: %lu\r\n\r\n", st->response_content_type,
		    (unsigned long)st->response_len);
		if (!head)
			FCGX_PutStr(st->response_body, (int)st->response_len,
			    r->out);
		return;
	case CONF_RESP_JSON:
		fcgi_status(r, 200, "OK");
		fcgi_cors(r, st);
		FCGX_FPrintF(r->out, "Content-Type: application/json\r\n"
		    "Cache-Control: no-store\r\n\r\n");
		if (!head)
			FCGX_FPrintF(r->out, "{\"hit_id\":\"%s\"}\n", id);
		return;
	}
}

/*
 * The mount: the path of base_url ("http://host/ds" -> "/ds"), where the
 * web server sends the streams' URLs.  The health URL is exactly
 * <mount>/-/health, as the web server passes it in REQUEST_URI.
 */
static char *
fcgi_mount_of(const char *base_url)
{
	const char *p = strstr(base_url, "://");
	size_t len;

	if (p != NULL && (p = strchr(p + 3, '/')) == NULL)
		p = "";
	else if (p == NULL)
		p = base_url;
	len = strlen(p);
	while (len > 0 && p[len - 1] == '/')
		len--;
	return xstrndup(p, len);
}

/* Is the path exactly <mount><tail> ("/-/health")? */
static int
fcgi_is_url(const char *uri, const char *path_end, const char *tail)
{
	size_t mlen = strlen(fcgi.mount), tlen = strlen(tail);

	return (size_t)(path_end - uri) == mlen + tlen &&
	    strncmp(uri, fcgi.mount, mlen) == 0 &&
	    strncmp(uri + mlen, tail, tlen) == 0;
}

/* Is "strict" one of the query's parameters (?strict, ?strict=1)? */
static int
fcgi_query_has(const char *query, const char *name)
{
	size_t len = strlen(name);
	const char *p = query;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, name, len) == 0 &&
		    (p[len] == '\0' || p[len] == '&' || p[len] == '='))
			return 1;
		if ((p = strchr(p, '&')) != NULL)
			p++;
	}
	return 0;
}

/*
 * The uploader's last result as the health URL shows it: the counts and
 * the result word; the error text (BigQuery's, naming hosts, projects and
 * tables) only with health_details, cut to a bounded size.  Whatever the
 * file holds, the answer is built by jansson, hence valid JSON.
 */
static json_t *
fcgi_health_last(const char *line, const char **problem)
{
	static const char *const counts[] = { "time", "jobs", "rows",
		"loaded_batches", "failed_batches" };
	json_t *in, *out, *v;
	const char *s;
	size_t i, len;

	*problem = NULL;
	if (line == NULL)
		return json_null();
	if ((in = json_loads(line, 0, NULL)) == NULL || !json_is_object(in)) {
		json_decref(in);
		*problem = "last_upload_unreadable";
		return json_null();
	}
	out = json_object();
	for (i = 0; i < sizeof counts / sizeof counts[0]; i++)
		if ((v = json_object_get(in, counts[i])) != NULL &&
		    json_is_integer(v))
			json_object_set(out, counts[i], v);
	s = json_string_value(json_object_get(in, "result"));
	if (s == NULL || strlen(s) > 32)
		s = "unknown";
	json_object_set_new(out, "result", json_string(s));
	if (strcmp(s, "retry") == 0)
		*problem = "last_upload_retry";
	else if (strcmp(s, "ok") != 0)
		*problem = "last_upload_failed";
	if (fcgi.conf->health_details &&
	    (s = json_string_value(json_object_get(in, "error"))) != NULL) {
		/* Cut at a UTF-8 character boundary. */
		if ((len = strlen(s)) > 1024)
			for (len = 1024; len > 0 &&
			    ((unsigned char)s[len] & 0xc0) == 0x80; len--)
				;
		json_object_set_new(out, "error", json_stringn(s, len));
	}
	json_decref(in);
	return out;
}

/*
 * <mount>/-/health: spool writable, free space, backlog, last upload.
 * "status" is "fail" when the spool cannot take hits (503), "degraded"
 * when it can but the pipeline behind it is not healthy (200, or 503 with
 * ?strict), "ok" otherwise; "problems" says why.
 */
static void
fcgi_health(FCGX_Request *r, const char *query)
{
	struct spool_backlog bl;
	json_t *root, *problems, *last;
	const char *problem;
	time_t now = time(NULL);
	uint64_t avail = 0;
	int space, writable, code;
	size_t i;
	char *line, *text;

	memset(&bl, 0, sizeof bl);
	problems = json_array();
	writable = access(fcgi.conf->spool_dir, W_OK) == 0;
	space = spool_space_ok(fcgi.conf, fcgi.conf->spool_dir, &avail);
	if (!writable)
		json_array_append_new(problems,
		    json_string("spool_not_writable"));
	if (!space)
		json_array_append_new(problems, json_string("low_free_space"));
	for (i = 0, problem = NULL; i < fcgi.nstreams; i++)
		if (spool_backlog(fcgi.streams[i].dir, &bl) == -1)
			problem = "backlog_unreadable";
	if (problem != NULL)
		json_array_append_new(problems, json_string(problem));
	if (bl.oldest != 0 && fcgi.conf->health_max_age > 0 &&
	    now - bl.oldest > fcgi.conf->health_max_age)
		json_array_append_new(problems, json_string("backlog_too_old"));
	line = spool_status_read(fcgi.conf->spool_dir);
	last = fcgi_health_last(line, &problem);
	free(line);
	if (problem != NULL)
		json_array_append_new(problems, json_string(problem));
	code = writable && space ? 200 : 503;
	if (code == 200 && json_array_size(problems) > 0 &&
	    fcgi_query_has(query, "strict"))
		code = 503;
	root = json_pack("{s:s, s:o, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
	    "status", !(writable && space) ? "fail" :
	    json_array_size(problems) > 0 ? "degraded" : "ok",
	    "problems", problems,
	    "spool_writable", writable,
	    "free_bytes", (json_int_t)avail,
	    "min_free_space", (json_int_t)fcgi.conf->min_free_space,
	    "backlog_files", (json_int_t)bl.files,
	    "backlog_bytes", (json_int_t)bl.bytes,
	    "backlog_oldest_age", (json_int_t)(bl.oldest != 0 ?
	    now - bl.oldest : 0),
	    "health_max_age", (json_int_t)fcgi.conf->health_max_age,
	    "last_upload", last);
	text = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	fcgi_status(r, code, code == 200 ? "OK" : "Service Unavailable");
	FCGX_FPrintF(r->out, "Content-Type: application/json\r\n"
	    "Cache-Control: no-store\r\n\r\n");
	FCGX_PutS(text != NULL ? text : "{\"status\":\"fail\"}", r->out);
	FCGX_PutS("\n", r->out);
	free(text);
}

/*
 * <mount>/-/metrics (metrics = yes): the Prometheus text format, behind
 * metrics_token when set (Bearer, Basic password or ?token=, as a
 * stream's token).
 */
static void
fcgi_metrics(FCGX_Request *r, const char *query)
{
	struct conf_stream guard;
	struct buf out;

	memset(&guard, 0, sizeof guard);
	guard.name = "-/metrics";
	guard.token = fcgi.conf->metrics_token;
	if (!sig_token_ok(&guard, FCGX_GetParam("HTTP_AUTHORIZATION",
	    r->envp), query)) {
		fcgi_error(r, NULL, 401, "Unauthorized",
		    "WWW-Authenticate: Bearer realm=\"hookspool\"\r\n");
		return;
	}
	buf_init(&out, 0);
	if (metrics_render(&out) == -1)
		fcgi_error(r, NULL, 503, "Service Unavailable",
		    "Retry-After: 60\r\n");
	else {
		fcgi_status(r, 200, "OK");
		FCGX_FPrintF(r->out, "Content-Type: text/plain; "
		    "version=0.0.4; charset=utf-8\r\n"
		    "Cache-Control: no-store\r\n\r\n");
		FCGX_PutStr(out.data, (int)out.len, r->out);
	}
	buf_release(&out);
}

/*
 * Linger on a finished request's socket, reading what still comes, for 2
 * seconds at most, so that the web server reads our answer before a
 * reset; then close it.
 */
static void
fcgi_linger(int fd)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	struct timespec start, now;
	char trash[65536];
	long ms = 0;

	(void)shutdown(fd, SHUT_WR);
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (ms < 2000 && poll(&pfd, 1, (int)(2000 - ms)) > 0 &&
	    read(fd, trash, sizeof trash) > 0) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000;
	}
	close(fd);
}

/*
 * End a request.  A connection the web server keeps (FCGI_KEEP_CONN) stays
 * open for its next request: input left unread (a 413 from the length)
 * is read and dropped first, within body_timeout, else (a 408) the
 * connection is closed.  A kept connection holds its worker, so it waits
 * body_timeout at most for that next request.
 * libfcgi's close waits for the web server to hang up, so that unread
 * input cannot turn into a reset that loses our answer; once the input was
 * read to its end there is none, and that wait (a sleep and a wake-up per
 * request) is skipped.  With input left, the wait is ours and bounded: a
 * sender trickling its body must not hold the worker there either.
 */
static void
fcgi_finish(FCGX_Request *r)
{
	struct timeval tv = { 0, 0 };
	int fd = -1;

	if (r->in != NULL && r->keepConnection &&
	    FCGX_HasSeenEOF(r->in) != EOF && FCGX_GetError(r->in) == 0)
		(void)fcgi_read_in(r, NULL);
	if (r->in != NULL && FCGX_HasSeenEOF(r->in) == EOF &&
	    FCGX_GetError(r->in) == 0)
		r->detached = 1;	/* FCGX_Free: close without lingering */
	else if (r->in != NULL && (fd = dup(r->ipcFd)) != -1) {
		r->keepConnection = 0;
		r->detached = 1;
	}
	FCGX_Finish_r(r);
	if (fd != -1)
		fcgi_linger(fd);
	else if (r->ipcFd != -1) {
		tv.tv_sec = fcgi.conf->body_timeout;
		(void)setsockopt(r->ipcFd, SOL_SOCKET, SO_RCVTIMEO, &tv,
		    sizeof tv);
	}
}

static struct fcgi_pending *
fcgi_pending_new(void)
{
	struct fcgi_pending *p = xcalloc(1, sizeof *p);

	if (FCGX_InitRequest(&p->req, fcgi.listen,
	    FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		free(p);
		return NULL;
	}
	return p;
}

static void
fcgi_pending_free(struct fcgi_pending *p)
{
	/* A kept connection (FCGI_KEEP_CONN) ends with its request. */
	FCGX_Free(&p->req, 1);
	free(p);
}

/* A request answered: counted, then ended. */
static void
fcgi_done(struct fcgi_pending *p)
{
	metrics_request(p->stream, p->code, metrics_now_ns() - p->start,
	    p->code >= 200 && p->code < 300 ? p->bytes : 0);
	fcgi_finish(&p->req);
}

/* Tell the dedup index whether the claimed hit was kept. */
static void
fcgi_dedup_settle(struct fcgi_pending *p, int ok)
{
	if (p->dedup == NULL)
		return;
	spool_dedup_settle(p->dedup, p->did, p->didlen, p->hit_id, ok);
	p->dedup = NULL;
}

/* The spool's answer for a line handed over under sync = always. */
static void
fcgi_synced(struct spool_waiter *wt, int rc)
{
	struct fcgi_pending *p = (struct fcgi_pending *)wt;

	fcgi_dedup_settle(p, rc == 0);
	if (rc == 0)
		fcgi_respond(&p->req, p->st, p->hit_id, p->head);
	else
		fcgi_error(&p->req, p->st, 503, "Service Unavailable",
		    "Retry-After: 30\r\n");
	fcgi_done(p);
	fcgi_pending_free(p);
}

/*
 * One request on its way through fcgi_handle.  Each step below either
 * goes on (0) or has answered the request (-1).
 */
struct fcgi_call {
	struct fcgi_worker	*w;
	FCGX_Request		*r;
	const char		*method;
	const char		*query;	/* token stripped once built */
	const char		*ctype;
	struct fcgi_stream	*fs;
	const struct conf_stream *st;
	unsigned		 bit;	/* the method's CONF_M_ bit */
	const char		*payload;
	size_t			 plen;
	struct buf		 qstrip;
};

/* The health URL, or the stream the last path segment names. */
static int
fcgi_route(struct fcgi_call *c)
{
	const char *uri = FCGX_GetParam("REQUEST_URI", c->r->envp);
	const char *path_end, *seg;
	size_t seglen = 0;

	if (uri == NULL)
		uri = FCGX_GetParam("SCRIPT_NAME", c->r->envp);
	if (uri == NULL)
		uri = "/";
	path_end = strchr(uri, '?');
	if (path_end == NULL)
		path_end = uri + strlen(uri);
	for (seg = path_end; seg > uri && seg[-1] != '/'; seg--)
		seglen++;
	if (fcgi_is_url(uri, path_end, "/-/health")) {
		fcgi_health(c->r, c->query);
		return -1;
	}
	if (fcgi.conf->metrics && fcgi_is_url(uri, path_end, "/-/metrics")) {
		fcgi_metrics(c->r, c->query);
		return -1;
	}
	if ((c->fs = fcgi_lookup(seg, seglen)) == NULL) {
		fcgi_error(c->r, NULL, 404, "Not Found", NULL);
		return -1;
	}
	c->st = c->fs->st;
	fcgi_pending_of(c->r)->stream = (size_t)(c->fs - fcgi.streams);
	return 0;
}

/* CORS preflight, the stream's methods and its token. */
static int
fcgi_admit(struct fcgi_call *c)
{
	const struct conf_stream *st = c->st;
	char allow[64], hdr[96];

	c->bit = fcgi_method_bit(c->method);
	if (c->bit == CONF_M_OPTIONS && st->cors_origin != NULL) {
		fcgi_allow(st, allow, sizeof allow);
		fcgi_status(c->r, 204, "No Content");
		FCGX_FPrintF(c->r->out, "Access-Control-Allow-Origin: %s\r\n"
		    "Access-Control-Allow-Methods: %s\r\n"
		    "Access-Control-Allow-Headers: Content-Type, "
		    "Content-Encoding, Authorization\r\n"
		    "Access-Control-Max-Age: 86400\r\nVary: Origin\r\n\r\n",
		    st->cors_origin, allow);
		return -1;
	}
	if (c->bit == 0 || !(sig_methods(st) & c->bit)) {
		fcgi_allow(st, allow, sizeof allow);
		snprintf(hdr, sizeof hdr, "Allow: %s\r\n", allow);
		fcgi_error(c->r, st, 405, "Method Not Allowed", hdr);
		return -1;
	}
	if (st->token != NULL && !sig_token_ok(st,
	    FCGX_GetParam("HTTP_AUTHORIZATION", c->r->envp), c->query)) {
		fcgi_error(c->r, st, 401, "Unauthorized",
		    "WWW-Authenticate: Bearer realm=\"hookspool\"\r\n");
		return -1;
	}
	return 0;
}

/* The body, inflated when it says it is compressed. */
static int
fcgi_body(struct fcgi_call *c)
{
	const char *cenc = FCGX_GetParam("HTTP_CONTENT_ENCODING", c->r->envp);
	struct fcgi_worker *w = c->w;
	int rc;

	if ((rc = fcgi_read_body(w, c->r, c->st->max_body)) != 0) {
		fcgi_error(c->r, c->st, rc, rc == 413 ? "Payload Too Large" :
		    rc == 408 ? "Request Timeout" : "Bad Request", NULL);
		return -1;
	}
	c->payload = w->body.data != NULL ? w->body.data : "";
	c->plen = w->body.len;
	fcgi_pending_of(c->r)->bytes = c->plen;
	if (cenc != NULL && (strcasecmp(cenc, "gzip") == 0 ||
	    strcasecmp(cenc, "x-gzip") == 0 || strcasecmp(cenc, "deflate") == 0)
	    && c->plen > 0) {
		buf_reset(&w->inflated);
		rc = gunzip_capped(c->payload, c->plen, c->st->max_body,
		    &w->inflated);
		if (rc == -2) {
			fcgi_error(c->r, c->st, 413, "Payload Too Large", NULL);
			return -1;
		}
		if (rc != 0) {
			fcgi_error(c->r, c->st, 400, "Bad Request", NULL);
			return -1;
		}
		c->payload = w->inflated.data != NULL ? w->inflated.data : "";
		c->plen = w->inflated.len;
	}
	return 0;
}

/*
 * The hit as one NDJSON line in the worker's line buffer: the signature
 * checked, room on the disk, then the columns the stream keeps.
 */
static int
fcgi_build(struct fcgi_call *c, struct hit *h)
{
	const struct conf_stream *st = c->st;
	struct fcgi_worker *w = c->w;
	int inquery = c->bit == CONF_M_GET || c->bit == CONF_M_HEAD;
	struct buf hnames;
	json_t *params = NULL;
	size_t i;
	int rc;

	memset(h, 0, sizeof *h);
	h->signature_valid = -1;
	if (st->signature != CONF_SIG_NONE) {
		h->signature_valid = sig_verify_request(st, inquery, c->payload,
		    c->plen, c->query, fcgi_header, c->r, time(NULL));
		if (!h->signature_valid &&
		    st->signature_policy == CONF_SIGPOL_REJECT) {
			fcgi_error(c->r, st, 401, "Unauthorized", NULL);
			return -1;
		}
	}
	if (!fcgi_space()) {
		fcgi_error(c->r, st, 503, "Service Unavailable",
		    "Retry-After: 60\r\n");
		return -1;
	}
	/* The token stays out of every stored copy: query, payload, params. */
	if (st->token != NULL && c->query != NULL &&
	    sig_token_strip(c->query, &c->qstrip) == 1)
		c->query = buf_str(&c->qstrip);
	/* GET and HEAD carry their hit in the query string. */
	if (inquery) {
		c->payload = c->query != NULL ? c->query : "";
		c->plen = strlen(c->payload);
	}
	hit_new_id(h->hit_id);
	h->received_at = hit_now_ms();
	h->utc_offset = st->utc_offset;
	h->tz = st->tz;
	h->payload = c->payload;
	h->payload_len = c->plen;
	h->method = c->method;
	h->content_type = c->ctype;
	h->query = c->query;
	h->remote_addr = FCGX_GetParam("REMOTE_ADDR", c->r->envp);
	h->user_agent = FCGX_GetParam("HTTP_USER_AGENT", c->r->envp);
	buf_init(&hnames, 0);
	for (i = 0; i < st->ncolumns; i++) {
		if (st->columns[i] == HIT_COL_HEADERS)
			h->nheaders = fcgi_collect_headers(w, c->r, &hnames);
		else if (st->columns[i] == HIT_COL_PARAMS)
			params = form_params(c->ctype, inquery ? "" :
			    c->payload, inquery ? 0 : c->plen, c->query);
	}
	if (st->did != CONF_DID_OFF) {
		if (params == NULL && delivery_needs_params(st))
			params = form_params(c->ctype, inquery ? "" :
			    c->payload, inquery ? 0 : c->plen, c->query);
		if (delivery_get(st, params, c->query, fcgi_header, c->r,
		    &w->did) == 1) {
			h->delivery_id = w->did.data;
			h->delivery_id_len = w->did.len;
		}
	}
	h->headers = w->headers;
	h->params = params;
	buf_reset(&w->line);
	rc = hit_encode(st, h, &w->line);
	json_decref(params);
	buf_release(&hnames);
#ifdef __GLIBC__
	/* glibc keeps what a big request's params tree freed in this
	 * thread's arena for ever (x threads): give it back. */
	if (c->plen > 256 * 1024)
		(void)malloc_trim(0);
#endif
	if (rc == -1) {
		fcgi_error(c->r, st, 413, "Payload Too Large", NULL);
		return -1;
	}
	return 0;
}

/* Answer the request, or hand it to the spool: then return 1. */
static int
fcgi_handle(struct fcgi_worker *w, struct fcgi_pending *p)
{
	struct fcgi_call c;
	struct hit h;
	char first[HIT_ID_LEN];
	int head, rc;

	memset(&c, 0, sizeof c);
	c.w = w;
	c.r = &p->req;
	c.method = FCGX_GetParam("REQUEST_METHOD", c.r->envp);
	if (c.method == NULL)
		c.method = "GET";
	c.query = FCGX_GetParam("QUERY_STRING", c.r->envp);
	c.ctype = FCGX_GetParam("CONTENT_TYPE", c.r->envp);
	buf_init(&c.qstrip, 0);
	rc = fcgi_route(&c) == -1 || fcgi_admit(&c) == -1 ||
	    fcgi_body(&c) == -1 || fcgi_build(&c, &h) == -1;
	buf_release(&c.qstrip);
	if (rc)
		return 0;
	head = c.bit == CONF_M_HEAD;
	p->wt.done = fcgi_synced;
	p->st = c.st;
	p->head = head;
	memcpy(p->hit_id, h.hit_id, sizeof p->hit_id);
	p->dedup = NULL;
	/* A signed stream dedups only hits whose signature verified. */
	if (c.fs->dedup != NULL && h.delivery_id != NULL &&
	    h.signature_valid != 0) {
		rc = spool_dedup_claim(c.fs->dedup, h.delivery_id,
		    h.delivery_id_len, h.hit_id, h.received_at, first);
		if (rc == SPOOL_DEDUP_DUP) {
			fcgi_respond(c.r, c.st, first, head);
			return 0;
		}
		if (rc == SPOOL_DEDUP_BUSY) {
			fcgi_error(c.r, c.st, 503, "Service Unavailable",
			    "Retry-After: 5\r\n");
			return 0;
		}
		p->dedup = c.fs->dedup;
		memcpy(p->did, h.delivery_id, h.delivery_id_len);
		p->didlen = h.delivery_id_len;
	}
	/* A kept connection's next request comes to this worker: it waits
	 * for the sync rather than hand the connection over. */
	rc = spool_write(c.fs->writer, w->line.data, w->line.len,
	    c.r->keepConnection ? NULL : &p->wt);
	if (rc == SPOOL_PENDING)
		return 1;	/* p is the spool's now */
	fcgi_dedup_settle(p, rc == 0);
	if (rc == -1) {
		fcgi_error(c.r, c.st, 503, "Service Unavailable",
		    "Retry-After: 30\r\n");
		return 0;
	}
	fcgi_respond(c.r, c.st, h.hit_id, head);
	return 0;
}

static void
fcgi_wake(int sig)
{
	(void)sig;
}

static void *
fcgi_worker_main(void *arg)
{
	struct fcgi_worker *w = arg;
	struct fcgi_pending *p = NULL;
	sigset_t wake;
	int rc;

	/*
	 * The wake-up signal may interrupt accept() only: unblocked around
	 * FCGX_Accept_r, blocked while a request is read and answered, so
	 * shutting down never breaks a request in flight.
	 */
	sigemptyset(&wake);
	sigaddset(&wake, SIGUSR2);
	while (!fcgi.stopping) {
		if (p == NULL && (p = fcgi_pending_new()) == NULL) {
			log_warnx("fcgi: worker %d: cannot init request",
			    w->id);
			break;
		}
		pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
		rc = FCGX_Accept_r(&p->req);
		pthread_sigmask(SIG_BLOCK, &wake, NULL);
		if (rc < 0) {
			if (fcgi.stopping)
				break;
			if (errno == EINTR || errno == 0)
				continue;
			log_warn("fcgi: worker %d: accept", w->id);
			/* The listening socket is gone: nothing to serve. */
			if (errno == EBADF || errno == ENOTSOCK ||
			    errno == EINVAL) {
				fcgi.stopping = 1;
				break;
			}
			sleep(1);
			continue;
		}
		p->code = 0;
		p->stream = fcgi.nstreams;
		p->bytes = 0;
		p->start = metrics_now_ns();
		if (fcgi_handle(w, p))
			p = NULL;	/* answered after its sync */
		else
			fcgi_done(p);
		/* Keep a worker's buffers from holding a huge body forever. */
		if (w->body.cap > 4 * 1024 * 1024) {
			buf_release(&w->body);
			buf_release(&w->inflated);
			buf_release(&w->line);
		}
	}
	if (p != NULL)
		fcgi_pending_free(p);
	return NULL;
}

static int
fcgi_open_socket(const char *spec)
{
	int fd;

	if (strncmp(spec, "unix:", 5) == 0) {
		(void)unlink(spec + 5);
		fd = FCGX_OpenSocket(spec + 5, 128);
	} else
		fd = FCGX_OpenSocket(spec, 128);
	return fd;
}

/*
 * A start-up error, already logged.  Spawned by a web server (the FastCGI
 * socket on stdin), our stderr may not reach the admin: lighttpd sends it
 * to /dev/null (or to its own stderr) and logs only "child exited: 78".
 * So wait for one request, send the kept reason as FastCGI stderr, which
 * lighttpd, Apache and nginx write to their error logs, answer it 503, and
 * exit; the web server starts a new process, which reads the config again.
 */
static void __attribute__((noreturn))
fcgi_startup_failed(int code, int foreground, const char *sock)
{
	FCGX_Request r;
	struct sigaction sa;
	struct stat sb;

	log_keep(0);
	if (foreground || sock != NULL || fstat(0, &sb) == -1 ||
	    !S_ISSOCK(sb.st_mode) || FCGX_Init() != 0 ||
	    FCGX_InitRequest(&r, 0, 0) != 0)
		exit(code);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	if (FCGX_Accept_r(&r) >= 0) {
		FCGX_PutS(log_kept(), r.err);
		FCGX_FPrintF(r.out, "Status: 503 Service Unavailable\r\n"
		    "Retry-After: 60\r\nContent-Type: application/json\r\n"
		    "Cache-Control: no-store\r\n\r\n"
		    "{\"error\":\"Service Unavailable\"}\n");
		FCGX_Finish_r(&r);
	}
	exit(code);
}

/* Each second, or sealing on SIGUSR1; the open batches' age noted. */
static void
fcgi_tick(int seal, time_t now)
{
	size_t i;

	for (i = 0; i < fcgi.nstreams; i++) {
		if (seal)
			(void)spool_writer_seal(fcgi.streams[i].writer);
		else
			(void)spool_writer_tick(fcgi.streams[i].writer, now);
		metrics_batch_opened(i,
		    spool_writer_opened(fcgi.streams[i].writer));
	}
}

/* A spool writer per stream; -1 (logged) when a spool cannot be used. */
static int
fcgi_streams_open(void)
{
	size_t i;

	fcgi.nstreams = fcgi.conf->nstreams;
	fcgi.mount = fcgi_mount_of(fcgi.conf->base_url);
	fcgi.streams = xcalloc(fcgi.nstreams, sizeof *fcgi.streams);
	for (i = 0; i < fcgi.nstreams; i++) {
		fcgi.streams[i].st = &fcgi.conf->streams[i];
		fcgi.streams[i].dir = spool_stream_dir(fcgi.conf,
		    fcgi.streams[i].st);
		fcgi.streams[i].writer = spool_writer_new(fcgi.conf,
		    fcgi.streams[i].dir);
		if (fcgi.streams[i].writer == NULL) {
			log_warnx("cannot use spool '%s'",
			    fcgi.streams[i].dir);
			return -1;
		}
		if (fcgi.streams[i].st->dedup_window > 0 &&
		    (fcgi.streams[i].dedup = spool_dedup_open(
		    fcgi.streams[i].dir,
		    fcgi.streams[i].st->dedup_window)) == NULL) {
			log_warnx("cannot use the dedup index of '%s'",
			    fcgi.streams[i].dir);
			return -1;
		}
	}
	return 0;
}

/*
 * Block the signals main() waits for in all threads (the workers inherit
 * the mask and unblock SIGUSR2 only); set holds them.
 */
static void
fcgi_signals_block(sigset_t *set)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fcgi_wake;	/* no SA_RESTART: accept() returns */
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, set, NULL);
}

/* n workers; NULL when a thread cannot be started. */
static struct fcgi_worker *
fcgi_workers_start(unsigned long n)
{
	struct fcgi_worker *workers;
	unsigned long i;

	workers = xcalloc(n, sizeof *workers);
	for (i = 0; i < n; i++) {
		workers[i].id = (int)i;
		buf_init(&workers[i].body, 0);
		buf_init(&workers[i].inflated, 0);
		buf_init(&workers[i].did, 0);
		buf_init(&workers[i].line, 0);
		if (pthread_create(&workers[i].thread, NULL, fcgi_worker_main,
		    &workers[i]) != 0)
			return NULL;
	}
	return workers;
}

/*
 * The main thread, until SIGTERM, SIGINT or SIGHUP: each second the
 * writers' clock (group commit, batch age); SIGUSR1 seals the batches.
 */
static void
fcgi_serve(sigset_t *set)
{
	struct timespec tick = { 1, 0 };
	int sig;

	sigdelset(set, SIGUSR2);
	while (!fcgi.stopping) {
		sig = sigtimedwait(set, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP)
			fcgi.stopping = 1;
		fcgi_tick(sig == SIGUSR1, time(NULL));
	}
}

/*
 * Wake the workers out of accept(), join them (in-flight requests finish).
 * SIGUSR2 alone ends FCGX_Accept_r (FCGI_FAIL_ACCEPT_ON_INTR).  Not
 * FCGX_ShutdownPending(): with it, libfcgi 2.4.2's OS_Accept, interrupted
 * while it waits for a new Unix-socket connection's first bytes, loops
 * forever on the descriptor it has just closed, closing whatever another
 * thread opens under that number (tests/t-fcgi-socket.sh).
 */
static void
fcgi_workers_stop(struct fcgi_worker *workers, unsigned long n)
{
	unsigned long i;
	int running;

	do {
		running = 0;
		for (i = 0; i < n; i++) {
			if (workers[i].joined)
				continue;
			if (pthread_tryjoin_np(workers[i].thread, NULL) == 0) {
				workers[i].joined = 1;
				continue;
			}
			pthread_kill(workers[i].thread, SIGUSR2);
			running++;
		}
		if (running)
			nanosleep(&(struct timespec){ 0, 50 * 1000 * 1000 },
			    NULL);
	} while (running);
	for (i = 0; i < n; i++) {
		buf_release(&workers[i].body);
		buf_release(&workers[i].inflated);
		buf_release(&workers[i].did);
		buf_release(&workers[i].line);
		free(workers[i].headers);
	}
	free(workers);
}

/* Seal and free the writers, and what main() set up. */
static void
fcgi_streams_close(void)
{
	size_t i;

	for (i = 0; i < fcgi.nstreams; i++) {
		spool_writer_free(fcgi.streams[i].writer);
		spool_dedup_close(fcgi.streams[i].dedup);
		free(fcgi.streams[i].dir);
	}
	free(fcgi.streams);
	free(fcgi.mount);
	metrics_close();
	conf_free(fcgi.conf);
}

int
main(int argc, char **argv)
{
	const char *conf_path = NULL, *sock = NULL;
	struct fcgi_worker *workers;
	sigset_t set;
	int ch, foreground = 0, verbose = 0;
	unsigned long n;
	struct stat sb;

	while ((ch = getopt(argc, argv, "c:ds:v")) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 'd':
			foreground = 1;
			break;
		case 's':
			sock = optarg;
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
	/* The web server keeps stderr; syslog keeps the record as well. */
	log_init("hookspool-fcgi", foreground ? 1 : 2);
	log_set_verbose(verbose);
	log_keep(1);
	if ((fcgi.conf = conf_load(conf_path, 1)) == NULL) {
		log_warnx("%s: configuration error", conf_path);
		fcgi_startup_failed(EX_CONFIG, foreground, sock);
	}
	if (fcgi.conf->nstreams == 0) {
		log_warnx("%s: no [stream NAME] section", conf_path);
		fcgi_startup_failed(EX_CONFIG, foreground, sock);
	}
	if (fcgi_streams_open() == -1)
		fcgi_startup_failed(EX_CANTCREAT, foreground, sock);
	log_keep(0);
	/* Without its metrics the responder still takes hits. */
	if (fcgi.conf->metrics)
		(void)metrics_open(fcgi.conf);
	/* Before FCGX_Init: libfcgi's own SIGUSR1 handler would start its
	 * shutdown (see fcgi_workers_stop); blocked, SIGUSR1 seals. */
	fcgi_signals_block(&set);
	if (FCGX_Init() != 0)
		fatalx(EX_SOFTWARE, "FCGX_Init failed");
	if (sock != NULL) {
		if ((fcgi.listen = fcgi_open_socket(sock)) < 0)
			fatalx(EX_UNAVAILABLE, "cannot listen on '%s'", sock);
	} else if (fstat(0, &sb) == -1 || !S_ISSOCK(sb.st_mode))
		fatalx(EX_USAGE, "standard input is not a FastCGI socket: "
		    "run under a web server or spawn-fcgi, or use -s");

	n = fcgi.conf->threads;
	if ((workers = fcgi_workers_start(n)) == NULL)
		fatalx(EX_OSERR, "cannot start worker threads");
	log_info("fcgi: %lu workers, %zu streams, sync=%s", n, fcgi.nstreams,
	    fcgi.conf->sync == CONF_SYNC_ALWAYS ? "always" :
	    fcgi.conf->sync == CONF_SYNC_BATCH ? "batch" : "none");
	fcgi_serve(&set);
	log_info("fcgi: stopping");
	fcgi_workers_stop(workers, n);
	fcgi_streams_close();
	return EX_OK;
}
