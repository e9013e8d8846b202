/*
 * sink: a fast local stand-in for BigQuery for the uploader benchmark.
 *
 * Implements just enough of the protocol hookspool-upload speaks, and
 * throws the data away after counting its bytes and lines, so the sink
 * is never the bottleneck (the Python fake parses every row):
 *   POST /token                        any grant -> an access token
 *   POST /upload/.../jobs?uploadType=resumable   -> 200 + Location
 *   PUT  /upload/session/N             Content-Range chunks: 308 + Range
 *                                      until complete, then 200 Job DONE
 *                                      (a chunk that does not start at the
 *                                      committed offset, or a non-final one
 *                                      that is not n x 256 KiB: 400)
 *   POST /upload/.../jobs?uploadType=multipart   -> 200 Job DONE
 *   GET  /bigquery/v2/projects/P/jobs/J          -> 200 Job DONE, or 404
 *   POST or PUT /discard               any body (curl's baseline) -> 200
 *   GET  /stats                        {"requests","data_bytes","lines",
 *                                      "jobs"} since start, and
 *                                      "last_seconds": the last completed
 *                                      transfer (a /discard, a multipart
 *                                      job, or a resumable session from
 *                                      its POST to its last data byte)
 * A Job is DONE at once with statistics.load.outputRows = the lines
 * counted in its data, so the uploader never sleeps polling.  No check of
 * the Authorization header.  One thread per connection, HTTP/1.1
 * keep-alive, Content-Length bodies only (chunked: 411), answers
 * "Expect: 100-continue".
 *
 *   sink [-l PORT] [-p PORTFILE] [-v]
 * Listens on 127.0.0.1:PORT (0, the default: any free port), writes the
 * port to PORTFILE once listening, logs one line a request with -v.
 * Runs until killed; exits 1 when it cannot listen.
 */
#define _GNU_SOURCE	/* memmem */

#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define SINK_HEAD_MAX	(64 * 1024)	/* request head; kept body prefix */
#define SINK_RECV	(1024 * 1024)
#define SINK_CHUNK_UNIT	(256 * 1024)
#define SINK_SESSIONS	4096
#define SINK_JOBS	4096

struct sink_job {
	char		*id;
	char		*project;
	uint64_t	 bytes;
	uint64_t	 rows;
};

struct sink_session {
	char		*job_id;
	char		*project;
	double		 started;	/* session created */
	uint64_t	 committed;
	uint64_t	 rows;
};

static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sink_session sink_sessions[SINK_SESSIONS];
static size_t sink_nsessions;
static struct sink_job sink_jobs[SINK_JOBS];
static size_t sink_njobs;
static uint64_t sink_requests, sink_data_bytes, sink_lines;
/* The last completed data transfer: first byte of the request that began
 * it (the session's POST) to the last byte of its data. */
static double sink_last_seconds;
static int sink_verbose;

struct sink_req {
	char		 method[16];
	char		 target[2048];
	char		 host[256];
	char		 content_range[128];
	char		 content_type[512];
	uint64_t	 content_length;
	uint64_t	 upload_length;	/* X-Upload-Content-Length */
	int		 has_length;
	int		 chunked;
	int		 expect_continue;
	int		 close;
	/* The body: its first SINK_HEAD_MAX bytes kept, lines counted. */
	char		*keep;
	size_t		 kept;
	uint64_t	 got;
	uint64_t	 lines;
	double		 t_head;	/* the head was read */
	double		 t_end;		/* the body was read */
};

static double
sink_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
sink_send_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
sink_answer(int fd, int status, const char *reason, const char *extra,
    const char *body)
{
	char head[1024];
	int n;

	n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\n"
	    "Content-Length: %zu\r\n%s%s\r\n", status, reason,
	    body != NULL ? strlen(body) : 0, body != NULL && *body != '\0' ?
	    "Content-Type: application/json; charset=UTF-8\r\n" : "",
	    extra != NULL ? extra : "");
	if (n < 0 || (size_t)n >= sizeof head)
		return -1;
	if (sink_send_all(fd, head, (size_t)n) == -1)
		return -1;
	if (body != NULL && *body != '\0')
		return sink_send_all(fd, body, strlen(body));
	return 0;
}

static uint64_t
sink_count_lines(const char *p, size_t n)
{
	const char *e = p + n, *q;
	uint64_t c = 0;

	while (p < e && (q = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		c++;
		p = q + 1;
	}
	return c;
}

static void
sink_body_data(struct sink_req *r, const char *p, size_t n)
{
	size_t k;

	if (r->kept < SINK_HEAD_MAX) {
		k = SINK_HEAD_MAX - r->kept;
		if (k > n)
			k = n;
		memcpy(r->keep + r->kept, p, k);
		r->kept += k;
	}
	r->lines += sink_count_lines(p, n);
	r->got += n;
}

/* The value of "key":"..." in the kept JSON, allocated, or NULL. */
static char *
sink_json_str(const char *text, size_t len, const char *key)
{
	char pat[64];
	const char *s, *e;
	char *tmp, *v = NULL;

	tmp = strndup(text, len);
	if (tmp == NULL)
		return NULL;
	snprintf(pat, sizeof pat, "\"%s\":\"", key);
	if ((s = strstr(tmp, pat)) != NULL) {
		s += strlen(pat);
		if ((e = strchr(s, '"')) != NULL)
			v = strndup(s, (size_t)(e - s));
	}
	free(tmp);
	return v;
}

/* "/.../projects/P/jobs..." -> P, allocated. */
static char *
sink_project(const char *target)
{
	const char *s, *e;

	if ((s = strstr(target, "/projects/")) == NULL)
		return strdup("p");
	s += strlen("/projects/");
	e = s + strcspn(s, "/?");
	return strndup(s, (size_t)(e - s));
}

static void
sink_job_json(char *out, size_t len, const char *project, const char *id,
    uint64_t bytes, uint64_t rows)
{
	snprintf(out, len, "{\"kind\":\"bigquery#job\",\"id\":\"%s:US.%s\","
	    "\"jobReference\":{\"projectId\":\"%s\",\"jobId\":\"%s\","
	    "\"location\":\"US\"},\"status\":{\"state\":\"DONE\"},"
	    "\"statistics\":{\"load\":{\"inputFiles\":\"1\","
	    "\"inputFileBytes\":\"%" PRIu64 "\",\"outputRows\":\"%" PRIu64
	    "\",\"outputBytes\":\"%" PRIu64 "\"}}}", project, id, project, id,
	    bytes, rows, bytes);
}

/*
 * Record a finished job.  Its data joins the totals when it was just
 * received (count), not when a status query finds an upload complete.
 */
static void
sink_job_add(const char *project, const char *id, uint64_t bytes,
    uint64_t rows, int count)
{
	size_t i;

	pthread_mutex_lock(&sink_lock);
	for (i = 0; i < sink_njobs; i++)
		if (strcmp(sink_jobs[i].id, id) == 0)
			break;
	if (i == sink_njobs && sink_njobs < SINK_JOBS) {
		sink_jobs[i].id = strdup(id);
		sink_jobs[i].project = strdup(project);
		sink_njobs++;
	}
	if (i < sink_njobs) {
		sink_jobs[i].bytes = bytes;
		sink_jobs[i].rows = rows;
	}
	if (count) {
		sink_data_bytes += bytes;
		sink_lines += rows;
	}
	pthread_mutex_unlock(&sink_lock);
}

/*
 * A multipart body as hookspool-upload frames it: the data starts after
 * the second blank line (the second part's headers) and is followed by
 * "\r\n--BOUNDARY--\r\n" (2 newlines).
 */
static uint64_t
sink_multipart_rows(const struct sink_req *r, uint64_t *bytes)
{
	const char *p = r->keep, *e = r->keep + r->kept, *q, *b;
	uint64_t before = 0, suffix;
	int blanks = 0;

	if ((b = strstr(r->content_type, "boundary=")) == NULL)
		return 0;
	suffix = strlen(b + 9) + 8;

	*bytes = 0;
	while (p < e && blanks < 2) {
		if ((q = memchr(p, '\n', (size_t)(e - p))) == NULL)
			return 0;
		before++;
		if (q - p == 1 && *p == '\r')
			blanks++;
		p = q + 1;
	}
	if (blanks < 2 || r->lines < before + 2 ||
	    r->got < (uint64_t)(p - r->keep) + suffix)
		return 0;
	*bytes = r->got - (uint64_t)(p - r->keep) - suffix;
	return r->lines - before - 2;
}

static void
sink_route(int fd, struct sink_req *r)
{
	char body[2048], extra[512];
	char *id = NULL, *project = NULL;
	unsigned long long a, b, t;
	uint64_t bytes, rows;
	size_t n;
	int status = 200, final, query = 0;
	const char *reason = "OK";

	body[0] = extra[0] = '\0';
	pthread_mutex_lock(&sink_lock);
	sink_requests++;
	pthread_mutex_unlock(&sink_lock);
	if (strcmp(r->target, "/token") == 0) {
		snprintf(body, sizeof body, "{\"access_token\":\"bench-token\","
		    "\"expires_in\":3600,\"token_type\":\"Bearer\"}");
	} else if (strcmp(r->target, "/stats") == 0) {
		pthread_mutex_lock(&sink_lock);
		snprintf(body, sizeof body, "{\"requests\":%" PRIu64
		    ",\"data_bytes\":%" PRIu64 ",\"lines\":%" PRIu64
		    ",\"jobs\":%zu,\"last_seconds\":%.6f}", sink_requests,
		    sink_data_bytes, sink_lines, sink_njobs,
		    sink_last_seconds);
		pthread_mutex_unlock(&sink_lock);
	} else if (strncmp(r->target, "/discard", 8) == 0) {
		pthread_mutex_lock(&sink_lock);
		sink_data_bytes += r->got;
		sink_lines += r->lines;
		sink_last_seconds = r->t_end - r->t_head;
		pthread_mutex_unlock(&sink_lock);
		snprintf(body, sizeof body, "{\"bytes\":%" PRIu64 ",\"lines\":%"
		    PRIu64 "}", r->got, r->lines);
	} else if (strcmp(r->method, "POST") == 0 &&
	    strstr(r->target, "uploadType=resumable") != NULL) {
		id = sink_json_str(r->keep, r->kept, "jobId");
		project = sink_project(r->target);
		pthread_mutex_lock(&sink_lock);
		n = sink_nsessions < SINK_SESSIONS ? sink_nsessions++ :
		    SINK_SESSIONS;
		if (n < SINK_SESSIONS) {
			sink_sessions[n].job_id = id;
			sink_sessions[n].project = project;
			sink_sessions[n].started = r->t_head;
			id = project = NULL;
		}
		pthread_mutex_unlock(&sink_lock);
		if (n == SINK_SESSIONS || sink_sessions[n].job_id == NULL) {
			status = 400;
			reason = "Bad Request";
			snprintf(body, sizeof body, "{\"error\":{\"code\":400,"
			    "\"message\":\"no jobId or too many sessions\","
			    "\"errors\":[{\"reason\":\"invalid\"}]}}");
		} else
			snprintf(extra, sizeof extra, "Location: http://%s"
			    "/upload/session/%zu\r\n", r->host, n);
	} else if (strcmp(r->method, "POST") == 0 &&
	    strstr(r->target, "uploadType=multipart") != NULL) {
		id = sink_json_str(r->keep, r->kept, "jobId");
		project = sink_project(r->target);
		rows = sink_multipart_rows(r, &bytes);
		if (id == NULL) {
			status = 400;
			reason = "Bad Request";
		} else {
			pthread_mutex_lock(&sink_lock);
			sink_last_seconds = r->t_end - r->t_head;
			pthread_mutex_unlock(&sink_lock);
			sink_job_add(project, id, bytes, rows, 1);
			sink_job_json(body, sizeof body, project, id, bytes,
			    rows);
		}
	} else if (strcmp(r->method, "PUT") == 0 &&
	    sscanf(r->target, "/upload/session/%zu", &n) == 1) {
		pthread_mutex_lock(&sink_lock);
		if (n >= sink_nsessions) {
			pthread_mutex_unlock(&sink_lock);
			status = 404;
			reason = "Not Found";
			goto answer;
		}
		if (sscanf(r->content_range, "bytes */%llu", &t) == 1) {
			final = sink_sessions[n].committed == t;
			query = 1;
		} else if (sscanf(r->content_range, "bytes %llu-%llu/%llu", &a,
		    &b, &t) == 3 && a == sink_sessions[n].committed &&
		    b + 1 - a == r->got && b < t &&
		    (b + 1 == t || r->got % SINK_CHUNK_UNIT == 0)) {
			sink_sessions[n].committed += r->got;
			sink_sessions[n].rows += r->lines;
			final = sink_sessions[n].committed == t;
			if (final)
				sink_last_seconds = r->t_end -
				    sink_sessions[n].started;
		} else {
			pthread_mutex_unlock(&sink_lock);
			status = 400;
			reason = "Bad Request";
			snprintf(body, sizeof body, "{\"error\":{\"code\":400,"
			    "\"message\":\"bad Content-Range '%s' for %" PRIu64
			    " bytes\"}}", r->content_range, r->got);
			goto answer;
		}
		id = strdup(sink_sessions[n].job_id);
		project = strdup(sink_sessions[n].project);
		bytes = sink_sessions[n].committed;
		rows = sink_sessions[n].rows;
		pthread_mutex_unlock(&sink_lock);
		if (final) {
			sink_job_add(project, id, bytes, rows, !query);
			sink_job_json(body, sizeof body, project, id, bytes,
			    rows);
		} else {
			status = 308;
			reason = "Resume Incomplete";
			if (bytes > 0)
				snprintf(extra, sizeof extra, "Range: "
				    "bytes=0-%" PRIu64 "\r\n", bytes - 1);
		}
	} else if (strcmp(r->method, "GET") == 0 &&
	    strstr(r->target, "/bigquery/v2/projects/") != NULL &&
	    strstr(r->target, "/jobs/") != NULL) {
		char *j = strstr(r->target, "/jobs/") + 6;
		size_t i;

		j = strndup(j, strcspn(j, "?"));
		status = 404;
		reason = "Not Found";
		pthread_mutex_lock(&sink_lock);
		for (i = 0; j != NULL && i < sink_njobs; i++)
			if (strcmp(sink_jobs[i].id, j) == 0) {
				sink_job_json(body, sizeof body,
				    sink_jobs[i].project, j,
				    sink_jobs[i].bytes, sink_jobs[i].rows);
				status = 200;
				reason = "OK";
			}
		pthread_mutex_unlock(&sink_lock);
		if (status == 404)
			snprintf(body, sizeof body, "{\"error\":{\"code\":404,"
			    "\"message\":\"Not found: Job\",\"errors\":"
			    "[{\"reason\":\"notFound\"}]}}");
		free(j);
	} else {
		status = 404;
		reason = "Not Found";
	}
answer:
	if (sink_verbose)
		fprintf(stderr, "sink: %s %s %s (%" PRIu64 " bytes, %" PRIu64
		    " lines): %d\n", r->method, r->target, r->content_range,
		    r->got, r->lines, status);
	if (r->chunked)
		r->close = 1;
	(void)sink_answer(fd, status, reason, extra, body);
	free(id);
	free(project);
}

/* Parse the head in buf[0..hlen); 0, or -1 when it is not HTTP. */
static int
sink_parse_head(char *buf, size_t hlen, struct sink_req *r)
{
	char *line, *next, *v;
	int first = 1;

	buf[hlen] = '\0';
	for (line = buf; line != NULL && *line != '\0'; line = next) {
		if ((next = strstr(line, "\r\n")) != NULL) {
			*next = '\0';
			next += 2;
		}
		if (first) {
			char ver[16];

			if (sscanf(line, "%15s %2047s %15s", r->method,
			    r->target, ver) != 3)
				return -1;
			if (strcmp(ver, "HTTP/1.0") == 0)
				r->close = 1;
			first = 0;
			continue;
		}
		if ((v = strchr(line, ':')) == NULL)
			continue;
		*v++ = '\0';
		while (*v == ' ' || *v == '\t')
			v++;
		if (strcasecmp(line, "Content-Length") == 0) {
			r->content_length = strtoull(v, NULL, 10);
			r->has_length = 1;
		} else if (strcasecmp(line, "X-Upload-Content-Length") == 0)
			r->upload_length = strtoull(v, NULL, 10);
		else if (strcasecmp(line, "Content-Range") == 0)
			snprintf(r->content_range, sizeof r->content_range,
			    "%s", v);
		else if (strcasecmp(line, "Content-Type") == 0)
			snprintf(r->content_type, sizeof r->content_type,
			    "%s", v);
		else if (strcasecmp(line, "Host") == 0)
			snprintf(r->host, sizeof r->host, "%s", v);
		else if (strcasecmp(line, "Transfer-Encoding") == 0 &&
		    strcasecmp(v, "identity") != 0)
			r->chunked = 1;
		else if (strcasecmp(line, "Expect") == 0 &&
		    strcasecmp(v, "100-continue") == 0)
			r->expect_continue = 1;
		else if (strcasecmp(line, "Connection") == 0 &&
		    strcasecmp(v, "close") == 0)
			r->close = 1;
	}
	return first ? -1 : 0;
}

static void *
sink_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *buf, *keep, *end;
	size_t have = 0, hlen, take;
	ssize_t n;
	struct sink_req r;
	uint64_t left;

	buf = malloc(SINK_RECV + 1);
	keep = malloc(SINK_HEAD_MAX);
	if (buf == NULL || keep == NULL)
		goto out;
	for (;;) {
		/* Read up to the end of the head. */
		while ((end = have > 0 ? memmem(buf, have, "\r\n\r\n", 4) :
		    NULL) == NULL) {
			if (have >= SINK_HEAD_MAX)
				goto out;
			n = recv(fd, buf + have, SINK_HEAD_MAX - have, 0);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0)
				goto out;
			have += (size_t)n;
		}
		hlen = (size_t)(end - buf) + 4;
		memset(&r, 0, sizeof r);
		r.keep = keep;
		r.t_head = sink_now();
		{
			char save = buf[hlen];

			if (sink_parse_head(buf, hlen, &r) == -1)
				goto out;
			buf[hlen] = save;
		}
		if (r.chunked) {
			(void)sink_answer(fd, 411, "Length Required",
			    "Connection: close\r\n", NULL);
			goto out;
		}
		if (r.expect_continue && r.content_length > 0 &&
		    sink_send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25) ==
		    -1)
			goto out;
		/* The body: what came with the head, then the rest. */
		left = r.content_length;
		take = have - hlen < left ? have - hlen : (size_t)left;
		sink_body_data(&r, buf + hlen, take);
		left -= take;
		memmove(buf, buf + hlen + take, have - hlen - take);
		have -= hlen + take;
		while (left > 0) {
			n = recv(fd, buf, left < SINK_RECV ? (size_t)left :
			    SINK_RECV, 0);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0)
				goto out;
			sink_body_data(&r, buf, (size_t)n);
			left -= (uint64_t)n;
		}
		r.t_end = sink_now();
		sink_route(fd, &r);
		if (r.close)
			goto out;
	}
out:
	free(buf);
	free(keep);
	close(fd);
	return NULL;
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: sink [-v] [-l PORT] [-p PORTFILE]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *portfile = NULL;
	struct sockaddr_in sa;
	socklen_t salen = sizeof sa;
	pthread_attr_t attr;
	pthread_t t;
	FILE *fp;
	char tmp[4096];
	int ch, s, c, one = 1;
	long port = 0;

	while ((ch = getopt(argc, argv, "l:p:v")) != -1) {
		switch (ch) {
		case 'l':
			port = strtol(optarg, NULL, 10);
			if (port < 0 || port > 65535)
				usage();
			break;
		case 'p':
			portfile = optarg;
			break;
		case 'v':
			sink_verbose = 1;
			break;
		default:
			usage();
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if ((s = socket(AF_INET, SOCK_STREAM, 0)) == -1) {
		perror("sink: socket");
		return 1;
	}
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if (bind(s, (struct sockaddr *)&sa, sizeof sa) == -1 ||
	    listen(s, 64) == -1 ||
	    getsockname(s, (struct sockaddr *)&sa, &salen) == -1) {
		perror("sink: listen");
		return 1;
	}
	if (portfile != NULL) {
		snprintf(tmp, sizeof tmp, "%s.tmp", portfile);
		if ((fp = fopen(tmp, "w")) == NULL) {
			perror(tmp);
			return 1;
		}
		fprintf(fp, "%u\n", ntohs(sa.sin_port));
		if (fclose(fp) != 0 || rename(tmp, portfile) == -1) {
			perror(portfile);
			return 1;
		}
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		if ((c = accept(s, NULL, NULL)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("sink: accept");
			return 1;
		}
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (pthread_create(&t, &attr, sink_conn,
		    (void *)(intptr_t)c) != 0)
			close(c);
	}
}
