/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * auth: OAuth 2 access tokens (see auth.h for the contract).
 *
 * A key file is read once, by auth_new(), so a bad or world-readable key
 * is a config error found before any batch is claimed.  Secrets (private
 * key, client secret, refresh token, access token) are wiped before they
 * are freed.  Token endpoint answers: 2xx with a token is success;
 * transport errors, 408, 429 and 5xx are worth retrying later; any other
 * 4xx means the credentials are wrong (revoked key, bad client, clock
 * skew) and needs the admin.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

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

enum auth_kind {
	AUTH_SERVICE_ACCOUNT,
	AUTH_USER,
	AUTH_METADATA,
	AUTH_COMMAND
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

/* Read a credentials file that only its owner may read. */
static json_t *
auth_load_file(const char *path)
{
	struct stat st;
	struct buf b;
	char chunk[4096];
	json_t *j = NULL;
	json_error_t err;
	ssize_t n;
	int fd;

	buf_init(&b, AUTH_FILE_MAX);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("auth: cannot open credentials '%s'", path);
		goto fail;
	}
	if (fstat(fd, &st) == -1) {
		log_warn("auth: cannot stat '%s'", path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		log_warnx("auth: credentials '%s' is not a regular file", path);
		goto fail;
	}
	if (st.st_mode & (S_IRGRP | S_IROTH)) {
		log_warnx("auth: credentials '%s' is readable by group or "
		    "others: chmod 600 it (it holds a secret)", path);
		goto fail;
	}
	for (;;) {
		n = read(fd, chunk, sizeof chunk);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			log_warn("auth: cannot read '%s'", path);
			goto fail;
		}
		if (n == 0)
			break;
		if (buf_add(&b, chunk, (size_t)n) == -1) {
			log_warnx("auth: credentials '%s' is larger than %d "
			    "bytes", path, AUTH_FILE_MAX);
			goto fail;
		}
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
	OPENSSL_cleanse(chunk, sizeof chunk);
	if (b.data != NULL)
		OPENSSL_cleanse(b.data, b.len);
	buf_release(&b);
	if (fd != -1)
		close(fd);
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

static int
auth_from_file(struct auth *a, const struct conf *conf, const char *path)
{
	json_t *j;
	const char *type;
	char *uri = NULL;
	int rc = -1, from_conf;

	if ((j = auth_load_file(path)) == NULL)
		return -1;
	type = json_string_value(json_object_get(j, "type"));
	if (type == NULL) {
		log_warnx("auth: credentials '%s' has no \"type\"", path);
		goto fail;
	}
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
		    "supported (service_account, authorized_user)", path,
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
	free(a);
}
