/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * auth: OAuth 2 access tokens (see auth.h for the contract).
 *
 * A key file is read once, by auth_new(), so a bad or world-readable key
 * is a config error found before any batch is claimed.  Secrets (private
 * key, client secret, refresh token, access token, subject token,
 * credential_source headers) are wiped before they are freed.  Token
 * endpoint answers: 2xx with a token is success; transport errors, 408,
 * 429 and 5xx are worth retrying later; any other 4xx means the
 * credentials are wrong (revoked key, bad client, clock skew) and needs
 * the admin.  The STS and IAM Credentials steps of the keyless
 * credentials (external_account, impersonated_service_account) follow
 * the same rule, their messages naming the file and the step.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "auth.h"
#include "buf.h"
#include "http.h"
#include "log.h"
#include "xmalloc.h"

#define AUTH_FILE_MAX	(64 * 1024)
#define AUTH_TOKEN_MAX	(16 * 1024)
#define AUTH_METADATA_TIMEOUT 15L
#define AUTH_IMP_LIFE	3600	/* an impersonated token's default life */

enum auth_kind {
	AUTH_SERVICE_ACCOUNT,
	AUTH_USER,
	AUTH_METADATA,
	AUTH_COMMAND,
	AUTH_EXTERNAL,		/* external_account: STS, impersonation */
	AUTH_IMPERSONATED	/* impersonated_service_account */
};

struct auth {
	enum auth_kind	 kind;
	struct http	*http;
	int		 from_auto;	/* metadata as the ADC last resort */
	char		*describe;
	char		*token_uri;
	char		*client_email;
	char		*key_id;
	char		*private_key;	/* PEM */
	char		*client_id;
	char		*client_secret;
	char		*refresh_token;
	char		*command;
	char		*metadata_url;
	char		*audience;	/* external_account */
	char		*subject_type;
	char		*sts_url;
	char		*src_file;	/* credential_source */
	char		*src_url;
	char		**src_headers;	/* "Name: value", NULL-terminated */
	char		*src_field;	/* format json: the token's field */
	char		*user_project;	/* workforce_pool_user_project */
	char		*imp_url;	/* generateAccessToken */
	long		 imp_life;	/* seconds asked for there */
	json_t		*delegates;
	struct auth	*source;	/* impersonated_service_account */
	char		*token;
	time_t		 expires;	/* monotonic seconds */
	char		 error[512];	/* why the last auth_token() failed */
};

/*
 * Record why no token came.  rc -2 (the credentials are wrong) is
 * logged as a warning; rc -1 (try later) only at -v, since the caller
 * retries and reports the outcome with auth_error().  Returns rc.
 */
static int
auth_fail(struct auth *a, int rc, const char *fmt, ...) HS_PRINTF(3, 4);

static int
auth_fail(struct auth *a, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->error, sizeof a->error, fmt, ap);
	va_end(ap);
	if (rc == -2)
		log_warnx("auth: %s", a->error);
	else
		log_info("auth: %s", a->error);
	return rc;
}

static void
auth_wipe_free(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

static time_t
auth_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		return time(NULL);
	return ts.tv_sec;
}

/* base64url without padding (RFC 7515, section 2). */
char *
auth_base64url(const void *p, size_t len)
{
	unsigned char *out;
	size_t i, n;

	if (len > (SIZE_MAX / 4) - 4)
		return NULL;
	out = xmalloc(len / 3 * 4 + 5);
	n = (size_t)EVP_EncodeBlock(out, p, (int)len);
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (i = 0; i < n; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return (char *)out;
}

static char *
auth_b64json(json_t *j)
{
	char *s, *out;

	if ((s = json_dumps(j, JSON_COMPACT)) == NULL)
		return NULL;
	out = auth_base64url(s, strlen(s));
	free(s);
	return out;
}

/*
 * The signed JWT a service account trades for an access token:
 * header {alg RS256, typ JWT, kid}, claims {iss, scope, aud, iat, exp}.
 * Returns NULL (logged) when the key does not load or signing fails.
 */
char *
auth_jwt(const char *pem, const char *key_id, const char *email,
    const char *scope, const char *aud, time_t iat)
{
	json_t *hdr = NULL, *claims = NULL;
	char *h64 = NULL, *c64 = NULL, *input = NULL, *s64 = NULL;
	char *jwt = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *md = NULL;

	hdr = json_pack("{s:s, s:s}", "alg", "RS256", "typ", "JWT");
	if (hdr != NULL && key_id != NULL && *key_id != '\0')
		json_object_set_new(hdr, "kid", json_string(key_id));
	claims = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", email,
	    "scope", scope, "aud", aud, "iat", (json_int_t)iat,
	    "exp", (json_int_t)iat + AUTH_JWT_LIFE);
	if (hdr == NULL || claims == NULL) {
		log_warnx("auth: cannot build the JWT");
		goto fail;
	}
	if ((h64 = auth_b64json(hdr)) == NULL ||
	    (c64 = auth_b64json(claims)) == NULL)
		goto fail;
	input = xasprintf("%s.%s", h64, c64);

	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL ||
	    (pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL) {
		log_warnx("auth: the service account's private_key does not "
		    "load as a PEM private key");
		goto fail;
	}
	if (EVP_PKEY_base_id(pkey) != EVP_PKEY_RSA) {
		log_warnx("auth: the service account's private_key is not an "
		    "RSA key");
		goto fail;
	}
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, (unsigned char *)input,
	    strlen(input)) != 1) {
		log_warnx("auth: cannot sign the JWT");
		goto fail;
	}
	sig = xmalloc(siglen);
	if (EVP_DigestSign(md, sig, &siglen, (unsigned char *)input,
	    strlen(input)) != 1) {
		log_warnx("auth: cannot sign the JWT");
		goto fail;
	}
	if ((s64 = auth_base64url(sig, siglen)) == NULL)
		goto fail;
	jwt = xasprintf("%s.%s", input, s64);
fail:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	json_decref(hdr);
	json_decref(claims);
	free(h64);
	free(c64);
	free(input);
	free(s64);
	free(sig);
	return jwt;
}

/* A token goes into a header: printable ASCII, no spaces, bounded. */
static int
auth_token_ok(const char *t)
{
	size_t n;

	for (n = 0; t[n] != '\0'; n++)
		if ((unsigned char)t[n] <= 0x20 || (unsigned char)t[n] >= 0x7f)
			return 0;
	return n > 0 && n <= AUTH_TOKEN_MAX;
}

/*
 * Parse a token endpoint answer.  0: *token and *expires_in (3600 when
 * absent) are set.  -1: no usable token; *why (when not NULL) gets the
 * OAuth error and description, which Google never fills with secrets.
 */
int
auth_parse_token(const char *body, size_t len, char **token,
    long *expires_in, char **why)
{
	json_t *j, *v;
	const char *err, *desc, *t;
	json_int_t e = 3600;
	int rc = -1;

	*token = NULL;
	*expires_in = 0;
	if (why != NULL)
		*why = NULL;
	if ((j = json_loadb(body, len, 0, NULL)) == NULL ||
	    !json_is_object(j)) {
		if (why != NULL)
			*why = xstrdup("the answer is not a JSON object");
		goto fail;
	}
	if ((t = json_string_value(json_object_get(j, "access_token"))) ==
	    NULL) {
		if (why != NULL) {
			err = json_string_value(json_object_get(j, "error"));
			desc = json_string_value(json_object_get(j,
			    "error_description"));
			*why = xasprintf("%s%s%s", err != NULL ? err :
			    "no access_token in the answer",
			    desc != NULL ? ": " : "", desc != NULL ? desc : "");
		}
		goto fail;
	}
	if (!auth_token_ok(t)) {
		if (why != NULL)
			*why = xstrdup("the access_token is malformed");
		goto fail;
	}
	v = json_object_get(j, "expires_in");
	if (json_is_integer(v))
		e = json_integer_value(v);
	else if (json_is_string(v)) {
		char *end;
		long long n;

		errno = 0;
		n = strtoll(json_string_value(v), &end, 10);
		if (errno == 0 && *end == '\0' && end != json_string_value(v))
			e = n;
	}
	if (e <= 0 || e > 86400 * 7)
		e = 3600;
	*token = xstrdup(t);
	*expires_in = (long)e;
	rc = 0;
fail:
	json_decref(j);
	return rc;
}

/* Exactly n decimal digits at p; -1 otherwise. */
static int
auth_digits(const char *p, int n, unsigned *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -1;
		*v = *v * 10 + (unsigned)(p[i] - '0');
	}
	return 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian calendar). */
static long long
auth_days(long long y, unsigned m, unsigned d)
{
	long long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

/*
 * An RFC 3339 date-time, as the IAM API's expireTime
 * ("2026-12-02T01:02:03.045123456Z", or with an offset such as +01:00)
 * -> seconds since the epoch, the fraction dropped.  -1 when it does not
 * parse or names no real date.
 */
int
auth_parse_rfc3339(const char *s, time_t *t)
{
	static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31,
	    30, 31, 30, 31 };
	unsigned y, mo, d, h, mi, sec, oh = 0, om = 0;
	long long secs;
	int sign = 0;
	const char *p;

	if (auth_digits(s, 4, &y) == -1 || s[4] != '-' ||
	    auth_digits(s + 5, 2, &mo) == -1 || s[7] != '-' ||
	    auth_digits(s + 8, 2, &d) == -1 ||
	    (s[10] != 'T' && s[10] != 't') ||
	    auth_digits(s + 11, 2, &h) == -1 || s[13] != ':' ||
	    auth_digits(s + 14, 2, &mi) == -1 || s[16] != ':' ||
	    auth_digits(s + 17, 2, &sec) == -1)
		return -1;
	p = s + 19;
	if (*p == '.') {
		if (!isdigit((unsigned char)*++p))
			return -1;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		if (auth_digits(p + 1, 2, &oh) == -1 || p[3] != ':' ||
		    auth_digits(p + 4, 2, &om) == -1)
			return -1;
		p += 6;
	} else
		return -1;
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && (y % 4 != 0 ||
	    (y % 100 == 0 && y % 400 != 0))) ||
	    h > 23 || mi > 59 || sec > 60 || oh > 23 || om > 59)
		return -1;
	secs = auth_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
	    sign * (long long)(oh * 3600 + om * 60);
	*t = (time_t)secs;
	return 0;
}

/*
 * Parse an IAM Credentials generateAccessToken answer {"accessToken",
 * "expireTime"}.  0: *token and *expires (epoch seconds) are set.  -1:
 * *why says what is wrong (never the token).
 */
int
auth_parse_iam(const char *body, size_t len, char **token, time_t *expires,
    char **why)
{
	json_t *j;
	const char *t, *e;
	int rc = -1;

	*token = NULL;
	*why = NULL;
	if ((j = json_loadb(body, len, 0, NULL)) == NULL ||
	    !json_is_object(j)) {
		*why = xstrdup("the answer is not a JSON object");
		goto fail;
	}
	t = json_string_value(json_object_get(j, "accessToken"));
	e = json_string_value(json_object_get(j, "expireTime"));
	if (t == NULL || !auth_token_ok(t))
		*why = xstrdup("no usable accessToken in the answer");
	else if (e == NULL || auth_parse_rfc3339(e, expires) == -1)
		*why = xstrdup("no RFC 3339 expireTime in the answer");
	else {
		*token = xstrdup(t);
		rc = 0;
	}
fail:
	json_decref(j);
	return rc;
}

/*
 * A subject token from what a credential_source holds: the text minus
 * surrounding white space, or, with field, that string member of a JSON
 * object.  0 with *token set; -1 with *why (never the data) set.
 */
int
auth_parse_subject(const char *data, size_t len, const char *field,
    char **token, char **why)
{
	json_t *j = NULL;
	const char *s = data != NULL ? data : "";
	size_t n = data != NULL ? len : 0;
	int rc = -1;

	*token = NULL;
	*why = NULL;
	if (field != NULL) {
		if ((j = json_loadb(s, n, 0, NULL)) == NULL ||
		    !json_is_object(j)) {
			*why = xstrdup("not a JSON object");
			goto fail;
		}
		if ((s = json_string_value(json_object_get(j, field))) ==
		    NULL) {
			*why = xasprintf("no string \"%s\" in it", field);
			goto fail;
		}
		n = strlen(s);
	}
	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	if (n == 0 || memchr(s, '\0', n) != NULL) {
		*why = xstrdup(n == 0 ? "it is empty" : "it holds a NUL byte");
		goto fail;
	}
	*token = xstrndup(s, n);
	rc = 0;
fail:
	json_decref(j);
	return rc;
}

/*
 * Read a small regular file into b (bounded by its max).  A private one
 * (a credentials file) must not be readable by group or others.  -1 with
 * the reason in why, which names the file.
 */
static int
auth_read_file(const char *path, struct buf *b, int private, char *why,
    size_t whylen)
{
	struct stat st;
	char chunk[4096];
	ssize_t n;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(why, whylen, "cannot open '%s': %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(why, whylen, "cannot stat '%s': %s", path,
		    strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "'%s' is not a regular file", path);
		goto fail;
	}
	if (private && (st.st_mode & (S_IRGRP | S_IROTH))) {
		snprintf(why, whylen, "credentials '%s' is readable by group "
		    "or others: chmod 600 it (it holds a secret)", path);
		goto fail;
	}
	for (;;) {
		n = read(fd, chunk, sizeof chunk);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(why, whylen, "cannot read '%s': %s", path,
			    strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		if (buf_add(b, chunk, (size_t)n) == -1) {
			snprintf(why, whylen, "'%s' is larger than %zu bytes",
			    path, b->max);
			goto fail;
		}
	}
	rc = 0;
fail:
	OPENSSL_cleanse(chunk, sizeof chunk);
	close(fd);
	return rc;
}

/* Read a credentials file that only its owner may read. */
static json_t *
auth_load_file(const char *path)
{
	struct buf b;
	char why[512];
	json_t *j = NULL;
	json_error_t err;

	buf_init(&b, AUTH_FILE_MAX);
	if (auth_read_file(path, &b, 1, why, sizeof why) == -1) {
		log_warnx("auth: %s", why);
		goto fail;
	}
	if ((j = json_loadb(buf_str(&b), b.len, 0, &err)) == NULL)
		log_warnx("auth: credentials '%s':%d: %s", path, err.line,
		    err.text);
	else if (!json_is_object(j)) {
		log_warnx("auth: credentials '%s' is not a JSON object", path);
		json_decref(j);
		j = NULL;
	}
fail:
	if (b.data != NULL)
		OPENSSL_cleanse(b.data, b.len);
	buf_release(&b);
	return j;
}

static char *
auth_jstr(json_t *j, const char *key, const char *path, int required)
{
	const char *s = json_string_value(json_object_get(j, key));

	if (s == NULL || *s == '\0') {
		if (required)
			log_warnx("auth: credentials '%s' has no \"%s\"", path,
			    key);
		return NULL;
	}
	return xstrdup(s);
}

static int	auth_from_json(struct auth *, const struct conf *, json_t *,
		    const char *);

/*
 * Where a credential_source URL may be: where a token may go, and plain
 * http to 169.254.0.0/16, the clouds' instance metadata services (Azure's
 * is http://169.254.169.254), unroutable beyond the host's own link.
 */
static int
auth_source_url_ok(const char *url)
{
	unsigned c, d;
	char end;

	if (http_url_secure(url))
		return 1;
	if (strncmp(url, "http://169.254.", 15) != 0 ||
	    !isdigit((unsigned char)url[15]))
		return 0;
	return sscanf(url + 15, "%u.%u%c", &c, &d, &end) == 3 && c < 256 &&
	    d < 256 && (end == '/' || end == ':');
}

/* The token URLs of an external or impersonated account: https. */
static int
auth_urls_ok(const struct auth *a, const char *path)
{
	if (a->sts_url != NULL && !http_url_secure(a->sts_url)) {
		log_warnx("auth: credentials '%s': token_url '%s' must be "
		    "https (plain http only to a loopback host)", path,
		    a->sts_url);
		return -1;
	}
	if (a->imp_url != NULL && !http_url_secure(a->imp_url)) {
		log_warnx("auth: credentials '%s': "
		    "service_account_impersonation_url '%s' must be https "
		    "(plain http only to a loopback host)", path, a->imp_url);
		return -1;
	}
	return 0;
}

/* credential_source.headers {"Name": "value"} -> "Name: value" lines. */
static int
auth_source_headers(struct auth *a, json_t *h, const char *path)
{
	const char *k, *s;
	json_t *v;
	size_t n = 0;

	if (h == NULL)
		return 0;
	if (!json_is_object(h) || json_object_size(h) > 16) {
		log_warnx("auth: credentials '%s': credential_source headers "
		    "must be an object of at most 16 strings", path);
		return -1;
	}
	a->src_headers = xcalloc(json_object_size(h) + 1,
	    sizeof *a->src_headers);
	json_object_foreach(h, k, v) {
		s = json_string_value(v);
		if (s == NULL || *k == '\0' || strpbrk(k, ": \t\r\n") !=
		    NULL || strpbrk(s, "\r\n") != NULL) {
			log_warnx("auth: credentials '%s': credential_source "
			    "header '%s' is not a plain name and string", path,
			    k);
			return -1;
		}
		a->src_headers[n++] = xasprintf("%s: %s", k, s);
	}
	return 0;
}

/* An external account's credential_source: a file or a URL. */
static int
auth_source_new(struct auth *a, json_t *cs, const char *path)
{
	json_t *fmt;
	const char *type;

	if (!json_is_object(cs)) {
		log_warnx("auth: credentials '%s' has no \"credential_source\" "
		    "object", path);
		return -1;
	}
	if (json_object_get(cs, "environment_id") != NULL ||
	    json_object_get(cs, "executable") != NULL) {
		log_warnx("auth: credentials '%s': an AWS or executable "
		    "credential_source is not supported (a file or url one "
		    "is)", path);
		return -1;
	}
	a->src_file = auth_jstr(cs, "file", path, 0);
	a->src_url = auth_jstr(cs, "url", path, 0);
	if ((a->src_file == NULL) == (a->src_url == NULL)) {
		log_warnx("auth: credentials '%s': credential_source needs a "
		    "\"file\" or a \"url\"", path);
		return -1;
	}
	if (a->src_url != NULL && !auth_source_url_ok(a->src_url)) {
		log_warnx("auth: credentials '%s': credential_source url must "
		    "be https (plain http only to a loopback or link-local "
		    "host)", path);
		return -1;
	}
	if (auth_source_headers(a, json_object_get(cs, "headers"),
	    path) == -1)
		return -1;
	fmt = json_object_get(cs, "format");
	type = json_string_value(json_object_get(fmt, "type"));
	if (type == NULL || strcmp(type, "text") == 0)
		return 0;
	if (strcmp(type, "json") != 0) {
		log_warnx("auth: credentials '%s': credential_source format "
		    "'%s' is not text or json", path, type);
		return -1;
	}
	a->src_field = auth_jstr(fmt, "subject_token_field_name", path, 1);
	return a->src_field != NULL ? 0 : -1;
}

/* Workload or workforce identity federation (ADC external_account). */
static int
auth_external_new(struct auth *a, json_t *j, const char *path)
{
	json_t *v;
	json_int_t life = AUTH_IMP_LIFE;

	a->kind = AUTH_EXTERNAL;
	a->describe = xasprintf("external account credentials ('%s')", path);
	if ((a->audience = auth_jstr(j, "audience", path, 1)) == NULL ||
	    (a->subject_type = auth_jstr(j, "subject_token_type", path,
	    1)) == NULL ||
	    (a->sts_url = auth_jstr(j, "token_url", path, 1)) == NULL)
		return -1;
	if (auth_source_new(a, json_object_get(j, "credential_source"),
	    path) == -1)
		return -1;
	a->imp_url = auth_jstr(j, "service_account_impersonation_url", path,
	    0);
	v = json_object_get(json_object_get(j,
	    "service_account_impersonation"), "token_lifetime_seconds");
	if (v != NULL && (!json_is_integer(v) ||
	    (life = json_integer_value(v)) < 600 || life > 43200)) {
		log_warnx("auth: credentials '%s': token_lifetime_seconds "
		    "must be an integer from 600 to 43200", path);
		return -1;
	}
	a->imp_life = (long)life;
	a->user_project = auth_jstr(j, "workforce_pool_user_project", path,
	    0);
	if (a->user_project != NULL &&
	    strstr(a->audience, "/workforcePools/") == NULL) {
		log_warnx("auth: credentials '%s': workforce_pool_user_project "
		    "is only for a workforce pool audience", path);
		return -1;
	}
	return auth_urls_ok(a, path);
}

/* ADC impersonated_service_account: a source account, then the IAM API. */
static int
auth_impersonated_new(struct auth *a, const struct conf *conf, json_t *j,
    const char *path)
{
	json_t *src, *dl, *v;
	const char *type, *d;
	char *full;
	size_t i;

	a->kind = AUTH_IMPERSONATED;
	a->imp_life = AUTH_IMP_LIFE;
	a->describe = xasprintf("impersonated service account credentials "
	    "('%s')", path);
	if ((a->imp_url = auth_jstr(j, "service_account_impersonation_url",
	    path, 1)) == NULL)
		return -1;
	src = json_object_get(j, "source_credentials");
	type = json_string_value(json_object_get(src, "type"));
	if (type == NULL || (strcmp(type, "service_account") != 0 &&
	    strcmp(type, "authorized_user") != 0)) {
		log_warnx("auth: credentials '%s': source_credentials must be "
		    "a service_account or authorized_user object", path);
		return -1;
	}
	dl = json_object_get(j, "delegates");
	if (dl != NULL && !json_is_array(dl)) {
		log_warnx("auth: credentials '%s': delegates is not an array",
		    path);
		return -1;
	}
	json_array_foreach(dl, i, v) {
		if ((d = json_string_value(v)) == NULL || *d == '\0') {
			log_warnx("auth: credentials '%s': a delegate is not "
			    "a service account", path);
			return -1;
		}
		if (a->delegates == NULL)
			a->delegates = json_array();
		/* The API wants projects/-/serviceAccounts/X; gcloud has X. */
		full = strchr(d, '/') != NULL ? xstrdup(d) :
		    xasprintf("projects/-/serviceAccounts/%s", d);
		json_array_append_new(a->delegates, json_string(full));
		free(full);
	}
	a->source = xcalloc(1, sizeof *a->source);
	a->source->http = a->http;
	if (auth_from_json(a->source, conf, src, path) == -1)
		return -1;
	return auth_urls_ok(a, path);
}

/* The credentials in j (read from path); -1 (logged) when unusable. */
static int
auth_from_json(struct auth *a, const struct conf *conf, json_t *j,
    const char *path)
{
	const char *type;
	char *uri = NULL;
	int rc = -1, from_conf;

	type = json_string_value(json_object_get(j, "type"));
	if (type == NULL) {
		log_warnx("auth: credentials '%s' has no \"type\"", path);
		goto fail;
	}
	if (strcmp(type, "external_account") == 0)
		return auth_external_new(a, j, path);
	if (strcmp(type, "impersonated_service_account") == 0)
		return auth_impersonated_new(a, conf, j, path);
	uri = auth_jstr(j, "token_uri", path, 0);
	if (strcmp(type, "service_account") == 0) {
		a->kind = AUTH_SERVICE_ACCOUNT;
		if ((a->client_email = auth_jstr(j, "client_email", path,
		    1)) == NULL || (a->private_key = auth_jstr(j,
		    "private_key", path, 1)) == NULL)
			goto fail;
		a->key_id = auth_jstr(j, "private_key_id", path, 0);
		a->describe = xasprintf("service account %s ('%s')",
		    a->client_email, path);
	} else if (strcmp(type, "authorized_user") == 0) {
		a->kind = AUTH_USER;
		if ((a->client_id = auth_jstr(j, "client_id", path,
		    1)) == NULL || (a->client_secret = auth_jstr(j,
		    "client_secret", path, 1)) == NULL ||
		    (a->refresh_token = auth_jstr(j, "refresh_token", path,
		    1)) == NULL)
			goto fail;
		a->describe = xasprintf("user credentials ('%s')", path);
	} else {
		log_warnx("auth: credentials '%s' of type '%s' are not "
		    "supported (service_account, authorized_user, "
		    "external_account, impersonated_service_account)", path,
		    type);
		goto fail;
	}
	/* The config's token_uri wins: tests and emulators point it home. */
	from_conf = conf != NULL && conf->token_uri != NULL &&
	    *conf->token_uri != '\0';
	if (from_conf)
		a->token_uri = xstrdup(conf->token_uri);
	else if (uri != NULL)
		a->token_uri = xstrdup(uri);
	else
		a->token_uri = xstrdup(AUTH_TOKEN_URI);
	/* The key (or refresh token) and the token it buys travel there. */
	if (!http_url_secure(a->token_uri)) {
		if (from_conf)
			log_warnx("auth: config token_uri '%s' must be https "
			    "(plain http only to a loopback host)",
			    a->token_uri);
		else
			log_warnx("auth: credentials '%s': token_uri '%s' must "
			    "be https (plain http only to a loopback host)",
			    path, a->token_uri);
		goto fail;
	}
	if (a->kind == AUTH_SERVICE_ACCOUNT) {
		/* Sign once now, so a bad key is a config error up front. */
		char *jwt = auth_jwt(a->private_key, a->key_id,
		    a->client_email, AUTH_SCOPE, a->token_uri, time(NULL));

		if (jwt == NULL) {
			log_warnx("auth: credentials '%s' are unusable", path);
			goto fail;
		}
		free(jwt);
	}
	rc = 0;
fail:
	free(uri);
	return rc;
}

static int
auth_from_file(struct auth *a, const struct conf *conf, const char *path)
{
	json_t *j;
	int rc;

	if ((j = auth_load_file(path)) == NULL)
		return -1;
	rc = auth_from_json(a, conf, j, path);
	json_decref(j);
	return rc;
}

static void
auth_use_metadata(struct auth *a, int from_auto)
{
	const char *host = getenv("GCE_METADATA_HOST");

	if (host == NULL || *host == '\0')
		host = AUTH_METADATA_HOST;
	a->kind = AUTH_METADATA;
	a->from_auto = from_auto;
	a->metadata_url = xasprintf("%s%s/computeMetadata/v1/instance/"
	    "service-accounts/default/token",
	    strstr(host, "://") != NULL ? "" : "http://", host);
	a->describe = xasprintf("metadata server (%s)", host);
}

/* gcloud's ADC file, when there is one ($CLOUDSDK_CONFIG moves it). */
static char *
auth_gcloud_adc(void)
{
	const char *dir = getenv("CLOUDSDK_CONFIG"), *home = getenv("HOME");
	char *path;

	if (dir != NULL && *dir != '\0')
		path = xasprintf("%s/application_default_credentials.json",
		    dir);
	else if (home != NULL && *home != '\0')
		path = xasprintf("%s/.config/gcloud/"
		    "application_default_credentials.json", home);
	else
		return NULL;
	if (access(path, F_OK) == 0)
		return path;
	free(path);
	return NULL;
}

struct auth *
auth_new(const struct conf *conf, struct http *http)
{
	struct auth *a;
	const char *cred, *env;
	char *path = NULL;

	a = xcalloc(1, sizeof *a);
	a->http = http;
	cred = conf != NULL && conf->credentials != NULL &&
	    *conf->credentials != '\0' ? conf->credentials : "auto";
	if (strcmp(cred, "metadata") == 0)
		auth_use_metadata(a, 0);
	else if (strncmp(cred, "command:", 8) == 0) {
		if (cred[8] == '\0') {
			log_warnx("auth: credentials 'command:' names no "
			    "command");
			goto fail;
		}
		a->kind = AUTH_COMMAND;
		a->command = xstrdup(cred + 8);
		a->describe = xstrdup("credentials command");
	} else if (strcmp(cred, "auto") == 0) {
		/* Google's Application Default Credentials order. */
		env = getenv("GOOGLE_APPLICATION_CREDENTIALS");
		if (env != NULL && *env != '\0') {
			if (auth_from_file(a, conf, env) == -1) {
				log_warnx("auth: GOOGLE_APPLICATION_"
				    "CREDENTIALS names unusable credentials");
				goto fail;
			}
		} else if ((path = auth_gcloud_adc()) != NULL) {
			if (auth_from_file(a, conf, path) == -1)
				goto fail;
		} else
			auth_use_metadata(a, 1);
	} else if (auth_from_file(a, conf, cred) == -1)
		goto fail;
	free(path);
	log_debug("auth: using %s", a->describe);
	return a;
fail:
	free(path);
	auth_free(a);
	return NULL;
}

/* POST a form to the token URI or GET the metadata server. */
static int
auth_fetch(struct auth *a, long *expires_in)
{
	const char *form_hdrs[] = {
		"Content-Type: application/x-www-form-urlencoded",
		"Accept: application/json", NULL };
	const char *md_hdrs[] = { "Metadata-Flavor: Google", NULL };
	struct http_req req;
	struct http_resp r;
	char *body = NULL, *jwt = NULL, *e1 = NULL, *e2 = NULL, *e3 = NULL;
	char *why = NULL, *safe = NULL, *tok = NULL;
	int rc = -1;

	http_resp_init(&r);
	memset(&req, 0, sizeof req);
	if (a->kind == AUTH_SERVICE_ACCOUNT) {
		jwt = auth_jwt(a->private_key, a->key_id, a->client_email,
		    AUTH_SCOPE, a->token_uri, time(NULL));
		if (jwt == NULL) {
			rc = auth_fail(a, -2, "cannot sign a JWT with the key "
			    "of %s", a->describe);
			goto fail;
		}
		body = xasprintf("grant_type=%s&assertion=%s",
		    "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer",
		    jwt);
	} else if (a->kind == AUTH_USER) {
		e1 = http_url_escape(a->client_id);
		e2 = http_url_escape(a->client_secret);
		e3 = http_url_escape(a->refresh_token);
		body = xasprintf("grant_type=refresh_token&client_id=%s&"
		    "client_secret=%s&refresh_token=%s", e1, e2, e3);
	}
	if (a->kind == AUTH_METADATA) {
		req.method = "GET";
		req.url = a->metadata_url;
		req.headers = md_hdrs;
		req.timeout = AUTH_METADATA_TIMEOUT;
		req.flags = HTTP_NOPROXY;
	} else {
		req.method = "POST";
		req.url = a->token_uri;
		req.headers = form_hdrs;
		req.prefix = body;
		req.prefix_len = strlen(body);
	}
	safe = http_url_nosecret(req.url);
	if (http_do(a->http, &req, &r) == -1) {
		/* Google's libraries, too, give up when nothing answers. */
		if (a->from_auto)
			rc = auth_fail(a, -2, "no credentials found: no "
			    "GOOGLE_APPLICATION_CREDENTIALS, no gcloud "
			    "application_default_credentials.json, no metadata "
			    "server (%s); set credentials in the config",
			    r.error);
		else
			rc = auth_fail(a, -1, "%s: %s", safe, r.error);
		goto fail;
	}
	if (r.status >= 200 && r.status < 300) {
		if (auth_parse_token(buf_str(&r.body), r.body.len, &a->token,
		    expires_in, &why) == 0)
			rc = 0;
		else
			rc = auth_fail(a, -1, "token answer from %s: %s", safe,
			    why);
		goto fail;
	}
	if (auth_parse_token(buf_str(&r.body), r.body.len, &tok, expires_in,
	    &why) == 0 || r.body.len == 0 || *buf_str(&r.body) != '{') {
		free(why);
		why = NULL;
	}
	rc = auth_fail(a, r.status == 408 || r.status == 429 ||
	    r.status >= 500 ? -1 : -2, "%s (%s) refused a token: HTTP %ld%s%s",
	    safe, a->describe, r.status, why != NULL ? ": " : "",
	    why != NULL ? why : "");
fail:
	if (body != NULL)
		OPENSSL_cleanse(body, strlen(body));
	free(body);
	auth_wipe_free(jwt);
	auth_wipe_free(e1);
	auth_wipe_free(e2);
	auth_wipe_free(e3);
	auth_wipe_free(tok);
	free(why);
	free(safe);
	http_resp_release(&r);
	return rc;
}

/*
 * Why a token service said no, from its JSON: OAuth's error and
 * error_description, or Google APIs' error.status and error.message.
 * NULL when the answer says nothing usable.
 */
static char *
auth_answer_why(const struct http_resp *r)
{
	json_t *j, *e;
	const char *err, *msg;
	char *why = NULL;

	if (r->body.len == 0 || (j = json_loadb(buf_str(&r->body), r->body.len,
	    0, NULL)) == NULL)
		return NULL;
	e = json_object_get(j, "error");
	if (json_is_object(e)) {
		err = json_string_value(json_object_get(e, "status"));
		msg = json_string_value(json_object_get(e, "message"));
	} else {
		err = json_string_value(e);
		msg = json_string_value(json_object_get(j,
		    "error_description"));
	}
	if (err != NULL || msg != NULL)
		why = xasprintf("%.64s%s%.300s", err != NULL ? err : "",
		    err != NULL && msg != NULL ? ": " : "",
		    msg != NULL ? msg : "");
	json_decref(j);
	return why;
}

/*
 * One request of an external or impersonated account's flow, step
 * naming it in messages.  0 on a 2xx answer (in r); else -1 or -2, as
 * auth_fail() records them.
 */
static int
auth_call(struct auth *a, const char *step, struct http_req *req,
    struct http_resp *r)
{
	char *safe, *why = NULL;
	int rc;

	safe = http_url_nosecret(req->url);
	if (!http_url_secure(req->url))
		req->flags |= HTTP_NOPROXY;	/* a link-local service */
	if (http_do(a->http, req, r) == -1) {
		rc = auth_fail(a, -1, "%s: %s at %s failed: %s", a->describe,
		    step, safe, r->error);
		goto fail;
	}
	if (r->status >= 200 && r->status < 300) {
		rc = 0;
		goto fail;
	}
	why = auth_answer_why(r);
	rc = auth_fail(a, r->status == 408 || r->status == 429 ||
	    r->status >= 500 ? -1 : -2, "%s: %s at %s refused: HTTP %ld%s%s",
	    a->describe, step, safe, r->status, why != NULL ? ": " : "",
	    why != NULL ? why : "");
fail:
	free(why);
	free(safe);
	return rc;
}

static void
auth_resp_wipe(struct http_resp *r)
{
	if (r->body.data != NULL)
		OPENSSL_cleanse(r->body.data, r->body.len);
	http_resp_release(r);
}

/* An external account's subject token, from its file or its URL. */
static int
auth_subject_token(struct auth *a, char **subject)
{
	struct buf b;
	struct http_req req;
	struct http_resp r;
	char why[512], *err = NULL;
	const char *data;
	size_t len;
	int rc;

	buf_init(&b, AUTH_FILE_MAX);
	http_resp_init(&r);
	if (a->src_file != NULL) {
		if (auth_read_file(a->src_file, &b, 0, why, sizeof why) == -1) {
			rc = auth_fail(a, -2, "%s: subject token: %s",
			    a->describe, why);
			goto fail;
		}
		data = b.data;
		len = b.len;
	} else {
		memset(&req, 0, sizeof req);
		req.method = "GET";
		req.url = a->src_url;
		req.headers = (const char *const *)a->src_headers;
		req.timeout = AUTH_METADATA_TIMEOUT;
		if ((rc = auth_call(a, "subject token", &req, &r)) != 0)
			goto fail;
		data = r.body.data;
		len = r.body.len;
	}
	rc = 0;
	if (auth_parse_subject(data, len, a->src_field, subject, &err) == -1)
		rc = auth_fail(a, a->src_file != NULL ? -2 : -1, "%s: the "
		    "subject token from the credential_source %s: %s",
		    a->describe, a->src_file != NULL ? "file" : "url", err);
fail:
	if (b.data != NULL)
		OPENSSL_cleanse(b.data, b.len);
	buf_release(&b);
	auth_resp_wipe(&r);
	free(err);
	return rc;
}

/* The user project of a workforce pool, as STS options (or NULL). */
static char *
auth_sts_options(const struct auth *a)
{
	json_t *o;
	char *s, *e;

	/* Google's libraries send it only when nothing is impersonated. */
	if (a->user_project == NULL || a->imp_url != NULL)
		return NULL;
	if ((o = json_pack("{s:s}", "userProject", a->user_project)) ==
	    NULL || (s = json_dumps(o, JSON_COMPACT)) == NULL) {
		json_decref(o);
		return NULL;
	}
	json_decref(o);
	e = http_url_escape(s);
	free(s);
	s = xasprintf("&options=%s", e);
	free(e);
	return s;
}

/* Trade the subject token at the STS (RFC 8693 token exchange). */
static int
auth_sts(struct auth *a, const char *subject, char **token, long *life)
{
	const char *hdrs[] = {
		"Content-Type: application/x-www-form-urlencoded",
		"Accept: application/json", NULL };
	struct http_req req;
	struct http_resp r;
	char *aud, *typ, *sub, *opt, *body, *why = NULL, *safe;
	int rc;

	aud = http_url_escape(a->audience);
	typ = http_url_escape(a->subject_type);
	sub = http_url_escape(subject);
	opt = auth_sts_options(a);
	body = xasprintf("grant_type=%s&audience=%s&scope=%s&"
	    "requested_token_type=%s&subject_token=%s&subject_token_type=%s%s",
	    "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange", aud,
	    "https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform",
	    "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token", sub, typ,
	    opt != NULL ? opt : "");
	http_resp_init(&r);
	memset(&req, 0, sizeof req);
	req.method = "POST";
	req.url = a->sts_url;
	req.headers = hdrs;
	req.prefix = body;
	req.prefix_len = strlen(body);
	if ((rc = auth_call(a, "STS token exchange", &req, &r)) == 0 &&
	    auth_parse_token(buf_str(&r.body), r.body.len, token, life,
	    &why) == -1) {
		safe = http_url_nosecret(a->sts_url);
		rc = auth_fail(a, -1, "%s: STS token exchange at %s: %s",
		    a->describe, safe, why);
		free(safe);
	}
	auth_wipe_free(body);
	auth_wipe_free(sub);
	free(aud);
	free(typ);
	free(opt);
	free(why);
	auth_resp_wipe(&r);
	return rc;
}

/* Trade bearer for a service account's token (IAM generateAccessToken). */
static int
auth_impersonate(struct auth *a, const char *bearer, long *life)
{
	const char *hdrs[4];
	struct http_req req;
	struct http_resp r;
	json_t *j;
	char *authz, *lifetime, *body, *why = NULL, *safe;
	time_t exp;
	int rc = -1;

	lifetime = xasprintf("%lds", a->imp_life);
	j = json_pack("{s:[s], s:s}", "scope", AUTH_SCOPE, "lifetime",
	    lifetime);
	if (j != NULL && a->delegates != NULL)
		json_object_set(j, "delegates", a->delegates);
	if (j == NULL || (body = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		free(lifetime);
		return auth_fail(a, -1, "%s: cannot build the impersonation "
		    "request", a->describe);
	}
	authz = xasprintf("Authorization: Bearer %s", bearer);
	hdrs[0] = authz;
	hdrs[1] = "Content-Type: application/json";
	hdrs[2] = "Accept: application/json";
	hdrs[3] = NULL;
	http_resp_init(&r);
	memset(&req, 0, sizeof req);
	req.method = "POST";
	req.url = a->imp_url;
	req.headers = hdrs;
	req.prefix = body;
	req.prefix_len = strlen(body);
	if ((rc = auth_call(a, "impersonation", &req, &r)) == 0) {
		if (auth_parse_iam(buf_str(&r.body), r.body.len, &a->token,
		    &exp, &why) == 0)
			*life = exp > time(NULL) ? (long)(exp - time(NULL)) : 0;
		else {
			safe = http_url_nosecret(a->imp_url);
			rc = auth_fail(a, -1, "%s: impersonation at %s: %s",
			    a->describe, safe, why);
			free(safe);
		}
	}
	auth_wipe_free(authz);
	free(body);
	free(lifetime);
	free(why);
	json_decref(j);
	auth_resp_wipe(&r);
	return rc;
}

/* Subject token, STS, and the service account's token when impersonating. */
static int
auth_external_fetch(struct auth *a, long *life)
{
	char *subject = NULL, *sts = NULL;
	int rc;

	if ((rc = auth_subject_token(a, &subject)) != 0)
		goto fail;
	if (a->imp_url == NULL)
		rc = auth_sts(a, subject, &a->token, life);
	else if ((rc = auth_sts(a, subject, &sts, life)) == 0)
		rc = auth_impersonate(a, sts, life);
fail:
	auth_wipe_free(subject);
	auth_wipe_free(sts);
	return rc;
}

/* The source account's token (cached), traded for the target's. */
static int
auth_impersonated_fetch(struct auth *a, long *life)
{
	const char *tok;
	int rc;

	if ((rc = auth_token(a->source, &tok)) != 0)
		return auth_fail(a, rc, "%s: source credentials: %s",
		    a->describe, auth_error(a->source));
	/* A source token the IAM API refused is not kept for the next try. */
	if ((rc = auth_impersonate(a, tok, life)) != 0)
		auth_invalidate(a->source);
	return rc;
}

/*
 * Run the command; its first output line is the token.  Exit status 75
 * (EX_TEMPFAIL) or death by a signal: try again later; any other failure
 * means the command is wrong.
 */
static int
auth_run_command(struct auth *a)
{
	FILE *fp;
	struct buf line;
	char tmp[4096];
	size_t drained = 0;
	int c, st, eol = 0, toolong = 0, rc = -2;

	buf_init(&line, AUTH_TOKEN_MAX + 1);
	fflush(NULL);
	if ((fp = popen(a->command, "r")) == NULL)
		return auth_fail(a, -1, "cannot run the credentials command: "
		    "%s", strerror(errno));
	while (!eol && (c = getc(fp)) != EOF) {
		if (c == '\n')
			eol = 1;
		else if (buf_addc(&line, (char)c) == -1)
			toolong = eol = 1;
	}
	/* Read the rest so the command does not die of SIGPIPE. */
	while (drained < 1024 * 1024 && (c = (int)fread(tmp, 1, sizeof tmp,
	    fp)) > 0)
		drained += (size_t)c;
	st = pclose(fp);
	if (st == -1) {
		rc = auth_fail(a, -1, "credentials command: %s",
		    strerror(errno));
		goto fail;
	}
	if (WIFSIGNALED(st)) {
		rc = auth_fail(a, -1, "credentials command killed by signal "
		    "%d", WTERMSIG(st));
		goto fail;
	}
	if (WEXITSTATUS(st) != 0) {
		rc = auth_fail(a, WEXITSTATUS(st) == EX_TEMPFAIL ? -1 : -2,
		    "credentials command exited with status %d",
		    WEXITSTATUS(st));
		goto fail;
	}
	while (line.len > 0 && (line.data[line.len - 1] == '\r' ||
	    line.data[line.len - 1] == ' ' || line.data[line.len - 1] == '\t'))
		line.data[--line.len] = '\0';
	if (toolong || !auth_token_ok(buf_str(&line))) {
		rc = auth_fail(a, -2, "credentials command printed no usable "
		    "token on its first line");
		goto fail;
	}
	a->token = xstrdup(buf_str(&line));
	rc = 0;
fail:
	if (line.data != NULL)
		OPENSSL_cleanse(line.data, line.cap);
	buf_release(&line);
	OPENSSL_cleanse(tmp, sizeof tmp);
	return rc;
}

int
auth_token(struct auth *a, const char **token)
{
	time_t now = auth_now();
	long life = AUTH_COMMAND_LIFE;
	int rc;

	*token = NULL;
	if (a->token != NULL && now < a->expires) {
		*token = a->token;
		return 0;
	}
	auth_invalidate(a);
	a->error[0] = '\0';
	if (a->kind == AUTH_COMMAND)
		rc = auth_run_command(a);
	else if (a->kind == AUTH_EXTERNAL)
		rc = auth_external_fetch(a, &life);
	else if (a->kind == AUTH_IMPERSONATED)
		rc = auth_impersonated_fetch(a, &life);
	else
		rc = auth_fetch(a, &life);
	if (rc != 0)
		return rc;
	/* A token shorter-lived than the margin serves this call only. */
	a->expires = now + (life > AUTH_EARLY ? life - AUTH_EARLY : 0);
	log_debug("auth: new token from %s, valid %ld s", a->describe, life);
	*token = a->token;
	return 0;
}

void
auth_invalidate(struct auth *a)
{
	auth_wipe_free(a->token);
	a->token = NULL;
	a->expires = 0;
}

const char *
auth_error(const struct auth *a)
{
	return a->error[0] != '\0' ? a->error : "no error";
}

const char *
auth_describe(const struct auth *a)
{
	return a->describe != NULL ? a->describe : "no credentials";
}

void
auth_free(struct auth *a)
{
	size_t i;

	if (a == NULL)
		return;
	auth_invalidate(a);
	free(a->describe);
	free(a->token_uri);
	free(a->client_email);
	free(a->key_id);
	auth_wipe_free(a->private_key);
	free(a->client_id);
	auth_wipe_free(a->client_secret);
	auth_wipe_free(a->refresh_token);
	free(a->command);
	free(a->metadata_url);
	free(a->audience);
	free(a->subject_type);
	free(a->sts_url);
	free(a->src_file);
	free(a->src_url);
	for (i = 0; a->src_headers != NULL && a->src_headers[i] != NULL; i++)
		auth_wipe_free(a->src_headers[i]);
	free(a->src_headers);
	free(a->src_field);
	free(a->user_project);
	free(a->imp_url);
	json_decref(a->delegates);
	auth_free(a->source);
	free(a);
}
