/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * http: the only libcurl user.  One easy handle per struct http, reused
 * from request to request so connections stay alive.  A request body is
 * an in-memory prefix, then a byte range of a source (files read one
 * after another, never held whole in memory), then an in-memory suffix;
 * any part may be empty.  http_do() returns 0 when an HTTP answer came,
 * whatever its status, and -1 on a transport error, described in
 * resp->error for the caller to report (logged only at -v, with the URL
 * minus its query; never a header or a body).  A source file found
 * shorter than its recorded size is logged as a warning.  The answer body is kept
 * up to HTTP_BODY_MAX bytes; a longer one is a transport error.  A request
 * never follows a redirect, and has a deadline: http_timeout plus its body
 * at a minimum rate (HTTP_MIN_RATE in http.c).  A Retry-After is capped at
 * HTTP_RETRY_AFTER_MAX.
 * Nothing here exits.
 */
#ifndef HS_HTTP_H
#define HS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "conf.h"

#define HTTP_BODY_MAX	(4 * 1024 * 1024)
#define HTTP_RETRY_AFTER_MAX	3600L	/* seconds, longer asks capped */

struct http;

/*
 * The files whose concatenation is the data, with the sizes they had
 * when they were claimed: a file that turns out shorter fails the
 * transfer (the same job must always carry the same bytes); bytes past
 * the recorded size are ignored.
 */
struct http_src {
	size_t		 nfiles;
	char		**paths;
	uint64_t	*sizes;
	uint64_t	 total;
	/*
	 * NULL, or the gate a sender passes before bytes [0, upto) go out:
	 * 0 once they may (it may block until then), -1 when they must
	 * never go.  http_do does not call it: bq.c does, per request.
	 */
	int		(*ready)(void *, uint64_t);
	void		*ready_arg;
};

/* Per-request flags. */
#define HTTP_NOPROXY	0x01	/* link-local services: metadata server */

struct http_req {
	const char	*method;	/* "GET", "POST", "PUT" */
	const char	*url;
	const char *const *headers;	/* "Name: value", NULL-terminated */
	const void	*prefix;	/* in-memory body part (or NULL) */
	size_t		 prefix_len;
	const struct http_src *src;	/* streamed part (or NULL) */
	uint64_t	 src_off;	/* from this byte of the source */
	uint64_t	 src_len;	/* this many bytes */
	const void	*suffix;	/* in-memory part after the stream */
	size_t		 suffix_len;
	long		 timeout;	/* seconds, whole request; 0: default */
	int		 flags;
};

struct http_resp {
	long		 status;	/* 0 until an answer came */
	struct buf	 body;
	char		*content_type;
	char		*location;
	char		*range;		/* resumable uploads: "bytes=0-N" */
	long		 retry_after;	/* seconds; -1 when not sent */
	char		*error;		/* after -1: what failed */
	int		 curl_error;	/* after -1: libcurl's code */
};

struct http	*http_new(const struct conf *);
void		 http_free(struct http *);

void		 http_resp_init(struct http_resp *);
void		 http_resp_reset(struct http_resp *);
void		 http_resp_release(struct http_resp *);

int		 http_do(struct http *, const struct http_req *,
		    struct http_resp *);

int		 http_src_init(struct http_src *, char *const *, size_t);
void		 http_src_release(struct http_src *);

char		*http_url_escape(const char *);
char		*http_url_nosecret(const char *);
long		 http_parse_retry_after(const char *);
int		 http_url_same_origin(const char *, const char *);
int		 http_url_secure(const char *);

#endif
