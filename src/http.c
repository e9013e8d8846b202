/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * http: the one libcurl wrapper (see http.h for the contract).
 *
 * The handle is reset before each request (curl_easy_reset keeps the
 * live connections, the DNS and TLS session caches) so no option leaks
 * from one request to the next.  Bodies go through a read callback over
 * prefix + source range + suffix, with a seek callback so libcurl can
 * rewind when a kept-alive connection turns out dead and it resends.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "buf.h"
#include "http.h"
#include "log.h"
#include "xmalloc.h"

/*
 * A request may take http_timeout plus its body at this rate, no longer:
 * libcurl's low-speed check alone lets a server that trickles a byte now
 * and then hold the transfer (and the spool lock) for ever.
 */
#define HTTP_MIN_RATE		(32 * 1024)	/* bytes a second */

/*
 * Bodies go out in reads of this size: libcurl's default of 64 KiB costs
 * a pread and a send per 64 KiB of a gigabyte backlog.
 */
#define HTTP_UPLOAD_BUFFER	(1024 * 1024)

struct http {
	CURL		*curl;
	long		 timeout;	/* seconds */
	char		*ca_file;
	char		 errbuf[CURL_ERROR_SIZE];
};

/* Where the read callback is in the body of the current request. */
struct http_rd {
	const struct http_req *req;
	uint64_t	 pos;
	uint64_t	 total;
	int		 fd;
	size_t		 fidx;		/* file open on fd */
	int		 failed;
	char		 why[256];
};

static int http_global_done;

struct http *
http_new(const struct conf *conf)
{
	struct http *h;
	const char *ca;

	if (!http_global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			log_warnx("http: cannot initialise libcurl");
			return NULL;
		}
		http_global_done = 1;
	}
	h = xcalloc(1, sizeof *h);
	if ((h->curl = curl_easy_init()) == NULL) {
		log_warnx("http: cannot create a libcurl handle");
		free(h);
		return NULL;
	}
	h->timeout = conf->http_timeout;	/* conf.c: 1s or more */
	/* libcurl itself does not read CURL_CA_BUNDLE; the curl tool does. */
	ca = conf->ca_file != NULL && *conf->ca_file != '\0' ?
	    conf->ca_file : getenv("CURL_CA_BUNDLE");
	if (ca != NULL && *ca != '\0')
		h->ca_file = xstrdup(ca);
	return h;
}

void
http_free(struct http *h)
{
	if (h == NULL)
		return;
	curl_easy_cleanup(h->curl);
	free(h->ca_file);
	free(h);
}

void
http_resp_init(struct http_resp *r)
{
	memset(r, 0, sizeof *r);
	buf_init(&r->body, HTTP_BODY_MAX);
	r->retry_after = -1;
}

/* Forget the headers of an answer (a new status line starts). */
static void
http_resp_clear_headers(struct http_resp *r)
{
	free(r->content_type);
	free(r->location);
	free(r->range);
	r->content_type = r->location = r->range = NULL;
	r->retry_after = -1;
}

void
http_resp_reset(struct http_resp *r)
{
	http_resp_clear_headers(r);
	buf_reset(&r->body);
	free(r->error);
	r->error = NULL;
	r->status = 0;
	r->curl_error = 0;
}

void
http_resp_release(struct http_resp *r)
{
	http_resp_reset(r);
	buf_release(&r->body);
}

/*
 * The URL as it may appear in a log: scheme, host and path.  The query
 * goes: a resumable session URL carries its upload id there.
 */
char *
http_url_nosecret(const char *url)
{
	size_t n;

	n = strcspn(url, "?#");
	return xstrndup(url, n);
}

/* Percent-encode everything but RFC 3986 unreserved characters. */
char *
http_url_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf b;
	const unsigned char *p;

	buf_init(&b, 0);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
		    *p == '_' || *p == '~')
			(void)buf_addc(&b, (char)*p);
		else {
			(void)buf_addc(&b, '%');
			(void)buf_addc(&b, hex[*p >> 4]);
			(void)buf_addc(&b, hex[*p & 15]);
		}
	}
	return buf_detach(&b, NULL);
}

/*
 * Retry-After is either delta-seconds or an HTTP-date; returns seconds
 * from now (0 for a date in the past) or -1 when unparsable.  A longer
 * wait than HTTP_RETRY_AFTER_MAX is capped: a server must not park the
 * spool for a year.
 */
long
http_parse_retry_after(const char *v)
{
	char *end;
	long long n;
	time_t t, now;

	while (*v == ' ' || *v == '\t')
		v++;
	if (*v >= '0' && *v <= '9') {
		errno = 0;
		n = strtoll(v, &end, 10);
		if (errno == ERANGE && n == LLONG_MAX)
			n = HTTP_RETRY_AFTER_MAX;
		else if (errno != 0 || n < 0)
			return -1;
		while (*end == ' ' || *end == '\t')
			end++;
		if (*end != '\0')
			return -1;
		return n > HTTP_RETRY_AFTER_MAX ? HTTP_RETRY_AFTER_MAX :
		    (long)n;
	}
	if ((t = curl_getdate(v, NULL)) == -1)
		return -1;
	now = time(NULL);
	return t <= now ? 0 : t - now > HTTP_RETRY_AFTER_MAX ?
	    HTTP_RETRY_AFTER_MAX : (long)(t - now);
}

/* A dotted quad in 127.0.0.0/8 (libcurl has normalised the host). */
static int
http_host_is_127(const char *h)
{
	unsigned a, b, c, d;
	char end;

	return sscanf(h, "%u.%u.%u.%u%c", &a, &b, &c, &d, &end) == 4 &&
	    a == 127 && b < 256 && c < 256 && d < 256;
}

/*
 * Split url into its scheme, host and port (the scheme's default when
 * none is written), lowercased by libcurl.  -1 when it does not parse.
 */
static int
http_url_origin(const char *url, char **scheme, char **host, char **port)
{
	CURLU *u;
	int rc = -1;

	*scheme = *host = *port = NULL;
	if ((u = curl_url()) == NULL)
		return -1;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, port, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK)
		goto fail;
	rc = 0;
fail:
	if (rc == -1) {
		curl_free(*scheme);
		curl_free(*host);
		curl_free(*port);
		*scheme = *host = *port = NULL;
	}
	curl_url_cleanup(u);
	return rc;
}

/*
 * 1 when the two URLs have the same scheme, host and port: where a
 * bearer token sent to the first may go too.  0 otherwise.
 */
int
http_url_same_origin(const char *a, const char *b)
{
	char *s1, *h1, *p1, *s2, *h2, *p2;
	int same = 0;

	if (http_url_origin(a, &s1, &h1, &p1) == -1)
		return 0;
	if (http_url_origin(b, &s2, &h2, &p2) == 0) {
		same = strcasecmp(s1, s2) == 0 && strcasecmp(h1, h2) == 0 &&
		    strcmp(p1, p2) == 0;
		curl_free(s2);
		curl_free(h2);
		curl_free(p2);
	}
	curl_free(s1);
	curl_free(h1);
	curl_free(p1);
	return same;
}

/*
 * 1 when a token may be sent to url: https, or plain http to a loopback
 * host (localhost, 127.0.0.0/8, ::1: tests and local emulators).
 */
int
http_url_secure(const char *url)
{
	char *s, *h, *p;
	int ok;

	if (http_url_origin(url, &s, &h, &p) == -1)
		return 0;
	ok = strcasecmp(s, "https") == 0 || (strcasecmp(s, "http") == 0 &&
	    (strcasecmp(h, "localhost") == 0 || strcmp(h, "[::1]") == 0 ||
	    http_host_is_127(h)));
	curl_free(s);
	curl_free(h);
	curl_free(p);
	return ok;
}

int
http_src_init(struct http_src *src, char *const *paths, size_t n)
{
	struct stat st;
	size_t i;

	memset(src, 0, sizeof *src);
	src->paths = xcalloc(n == 0 ? 1 : n, sizeof *src->paths);
	src->sizes = xcalloc(n == 0 ? 1 : n, sizeof *src->sizes);
	for (i = 0; i < n; i++) {
		if (stat(paths[i], &st) == -1) {
			log_warn("http: cannot stat '%s'", paths[i]);
			goto fail;
		}
		if (!S_ISREG(st.st_mode)) {
			log_warnx("http: '%s' is not a regular file", paths[i]);
			goto fail;
		}
		src->paths[i] = xstrdup(paths[i]);
		src->sizes[i] = (uint64_t)st.st_size;
		src->total += (uint64_t)st.st_size;
		src->nfiles = i + 1;
	}
	return 0;
fail:
	http_src_release(src);
	return -1;
}

void
http_src_release(struct http_src *src)
{
	size_t i;

	for (i = 0; i < src->nfiles; i++)
		free(src->paths[i]);
	free(src->paths);
	free(src->sizes);
	memset(src, 0, sizeof *src);
}

/* Copy up to n bytes of source byte off (relative to the whole source). */
static size_t
http_rd_src(struct http_rd *rd, uint64_t off, char *dst, size_t n)
{
	const struct http_src *src = rd->req->src;
	uint64_t base = 0, in;
	size_t i;
	ssize_t got;

	for (i = 0; i < src->nfiles; i++) {
		if (off < base + src->sizes[i])
			break;
		base += src->sizes[i];
	}
	if (i == src->nfiles) {
		snprintf(rd->why, sizeof rd->why,
		    "offset %" PRIu64 " is past the end of the data", off);
		return 0;
	}
	in = off - base;
	if (rd->fd == -1 || rd->fidx != i) {
		if (rd->fd != -1)
			close(rd->fd);
		rd->fd = open(src->paths[i], O_RDONLY | O_CLOEXEC);
		if (rd->fd == -1) {
			snprintf(rd->why, sizeof rd->why,
			    "cannot open '%s': %s", src->paths[i],
			    strerror(errno));
			return 0;
		}
		rd->fidx = i;
	}
	if (n > src->sizes[i] - in)
		n = (size_t)(src->sizes[i] - in);
	do
		got = pread(rd->fd, dst, n, (off_t)in);
	while (got == -1 && errno == EINTR);
	if (got == -1) {
		snprintf(rd->why, sizeof rd->why, "cannot read '%s': %s",
		    src->paths[i], strerror(errno));
		return 0;
	}
	if (got == 0) {
		snprintf(rd->why, sizeof rd->why,
		    "'%s' is shorter than its recorded %" PRIu64 " bytes",
		    src->paths[i], src->sizes[i]);
		return 0;
	}
	return (size_t)got;
}

static size_t
http_read_cb(char *dst, size_t size, size_t nitems, void *arg)
{
	struct http_rd *rd = arg;
	const struct http_req *req = rd->req;
	size_t want = size * nitems, got = 0, n;
	uint64_t p, src_end;

	src_end = req->prefix_len + req->src_len;
	while (got < want && rd->pos < rd->total) {
		p = rd->pos;
		if (p < req->prefix_len) {
			n = req->prefix_len - (size_t)p;
			if (n > want - got)
				n = want - got;
			memcpy(dst + got, (const char *)req->prefix + p, n);
		} else if (p < src_end) {
			n = want - got;
			if (n > src_end - p)
				n = (size_t)(src_end - p);
			n = http_rd_src(rd, req->src_off +
			    (p - req->prefix_len), dst + got, n);
			if (n == 0) {
				rd->failed = 1;
				return CURL_READFUNC_ABORT;
			}
		} else {
			size_t at = (size_t)(p - src_end);

			n = req->suffix_len - at;
			if (n > want - got)
				n = want - got;
			memcpy(dst + got, (const char *)req->suffix + at, n);
		}
		rd->pos += n;
		got += n;
	}
	return got;
}

static int
http_seek_cb(void *arg, curl_off_t off, int origin)
{
	struct http_rd *rd = arg;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > rd->total)
		return CURL_SEEKFUNC_CANTSEEK;
	rd->pos = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

static size_t
http_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_resp *r = arg;
	size_t n = size * nmemb;

	if (buf_add(&r->body, data, n) == -1)
		return 0;	/* over HTTP_BODY_MAX: fail the transfer */
	return n;
}

/* Keep the few answer headers the callers need; a status line resets. */
static size_t
http_header_cb(char *data, size_t size, size_t nitems, void *arg)
{
	struct http_resp *r = arg;
	size_t n = size * nitems, nlen, vlen;
	const char *colon, *v;
	char **dst = NULL;

	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		http_resp_clear_headers(r);
		return n;
	}
	if ((colon = memchr(data, ':', n)) == NULL)
		return n;
	nlen = (size_t)(colon - data);
	v = colon + 1;
	vlen = n - nlen - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' ||
	    v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (nlen == 8 && strncasecmp(data, "Location", 8) == 0)
		dst = &r->location;
	else if (nlen == 5 && strncasecmp(data, "Range", 5) == 0)
		dst = &r->range;
	else if (nlen == 12 && strncasecmp(data, "Content-Type", 12) == 0)
		dst = &r->content_type;
	else if (nlen == 11 && strncasecmp(data, "Retry-After", 11) == 0) {
		char *s = xstrndup(v, vlen);

		r->retry_after = http_parse_retry_after(s);
		free(s);
	}
	if (dst != NULL) {
		free(*dst);
		*dst = xstrndup(v, vlen);
	}
	return n;
}

/* Options every request gets again after curl_easy_reset(). */
static int
http_setup(struct http *h, const struct http_req *req, struct http_resp *r,
    struct http_rd *rd, struct curl_slist *hdrs)
{
	CURL *c = h->curl;
	CURLcode e = CURLE_OK;
	long total;

	curl_easy_reset(c);
#define SET(opt, val) do {					\
	if (e == CURLE_OK)						\
		e = curl_easy_setopt(c, opt, val);			\
} while (0)
	SET(CURLOPT_URL, req->url);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_ERRORBUFFER, h->errbuf);
	SET(CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	/* Never: a redirect would carry the Authorization header away. */
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_CONNECTTIMEOUT, h->timeout);
	/*
	 * A stalled transfer fails early; a slow but moving one only at its
	 * deadline, which grows with the body (a trickle never ends).
	 */
	SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SET(CURLOPT_LOW_SPEED_TIME, h->timeout);
	total = req->timeout > 0 ? req->timeout : h->timeout +
	    (long)(rd->total / HTTP_MIN_RATE);
	if (req->timeout > 0 && req->timeout < h->timeout)
		SET(CURLOPT_CONNECTTIMEOUT, req->timeout);
	SET(CURLOPT_TIMEOUT, total);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_ACCEPT_ENCODING, "");
	if (h->ca_file != NULL)
		SET(CURLOPT_CAINFO, h->ca_file);
	if (req->flags & HTTP_NOPROXY)
		SET(CURLOPT_NOPROXY, "*");
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_WRITEFUNCTION, http_write_cb);
	SET(CURLOPT_WRITEDATA, r);
	SET(CURLOPT_HEADERFUNCTION, http_header_cb);
	SET(CURLOPT_HEADERDATA, r);
	if (strcmp(req->method, "GET") == 0)
		SET(CURLOPT_HTTPGET, 1L);
	else {
		/* Any other method sends a body, maybe empty, of known size. */
		SET(CURLOPT_UPLOAD, 1L);
		SET(CURLOPT_UPLOAD_BUFFERSIZE, (long)HTTP_UPLOAD_BUFFER);
		SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)rd->total);
		SET(CURLOPT_READFUNCTION, http_read_cb);
		SET(CURLOPT_READDATA, rd);
		SET(CURLOPT_SEEKFUNCTION, http_seek_cb);
		SET(CURLOPT_SEEKDATA, rd);
		SET(CURLOPT_CUSTOMREQUEST, req->method);
	}
#undef SET
	if (e != CURLE_OK) {
		log_warnx("http: cannot set up a request: %s",
		    curl_easy_strerror(e));
		return -1;
	}
	return 0;
}

int
http_do(struct http *h, const struct http_req *req, struct http_resp *r)
{
	struct curl_slist *hdrs = NULL, *n;
	struct http_rd rd;
	const char *const *hp;
	char *safe = NULL;
	CURLcode e;
	long status = 0;
	int rc = -1;

	http_resp_reset(r);
	memset(&rd, 0, sizeof rd);
	rd.req = req;
	rd.fd = -1;
	rd.total = req->prefix_len + req->suffix_len;
	if (req->src != NULL) {
		if (req->src_off > req->src->total ||
		    req->src_len > req->src->total - req->src_off) {
			log_warnx("http: range %" PRIu64 "+%" PRIu64
			    " is outside the %" PRIu64 " bytes of data",
			    req->src_off, req->src_len, req->src->total);
			r->error = xstrdup("range outside the data");
			return -1;
		}
		rd.total += req->src_len;
	}
	safe = http_url_nosecret(req->url);
	/* Expect: 100-continue costs a round trip (or a 1 s stall). */
	hdrs = curl_slist_append(NULL, "Expect:");
	for (hp = req->headers; hdrs != NULL && hp != NULL && *hp != NULL;
	    hp++) {
		if ((n = curl_slist_append(hdrs, *hp)) == NULL) {
			curl_slist_free_all(hdrs);
			hdrs = NULL;
		} else
			hdrs = n;
	}
	if (hdrs == NULL) {
		log_warnx("http: out of memory for the headers of %s", safe);
		goto fail;
	}
	h->errbuf[0] = '\0';
	if (http_setup(h, req, r, &rd, hdrs) == -1)
		goto fail;
	e = curl_easy_perform(h->curl);
	if (e != CURLE_OK) {
		r->curl_error = (int)e;
		if (rd.failed) {
			/* Our data changed under us: worth a warning. */
			r->error = xstrdup(rd.why);
			log_warnx("http: %s %s: %s", req->method, safe, rd.why);
		} else {
			if (e == CURLE_WRITE_ERROR)
				r->error = xasprintf("answer larger than %d "
				    "bytes", HTTP_BODY_MAX);
			else
				r->error = xstrdup(h->errbuf[0] != '\0' ?
				    h->errbuf : curl_easy_strerror(e));
			/* The caller retries or reports; -v shows each. */
			log_info("http: %s %s: %s", req->method, safe,
			    r->error);
		}
		goto fail;
	}
	(void)curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
	r->status = status;
	log_debug("http: %s %s (%" PRIu64 " bytes): %ld", req->method, safe,
	    rd.total, status);
	rc = 0;
fail:
	if (rc == -1 && r->error == NULL)
		r->error = xstrdup("the request could not be made");
	if (rd.fd != -1)
		close(rd.fd);
	curl_slist_free_all(hdrs);
	/* The handle must not keep pointers into this call's frame. */
	curl_easy_reset(h->curl);
	free(safe);
	return rc;
}
