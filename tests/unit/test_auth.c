/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * Unit tests of auth.c without a network: base64url, the JWT's header,
 * claims and RS256 signature (checked with the public key), the token
 * answer parser, key file checks (mode, type, fields), the ADC order and
 * command: credentials (first line, exit status, caching), and the pure
 * parts of the keyless credentials (RFC 3339 expireTime, generateAccess-
 * Token answers, subject tokens) and external_account file checks.
 */
#include "config.h"

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "auth.h"
#include "conf.h"
#include "log.h"
#include "tap.h"
#include "xmalloc.h"

static char tmpdir[] = "/tmp/test_auth.XXXXXX";

/* The inverse of base64url, for checking. */
static unsigned char *
b64url_decode(const char *s, size_t *outlen)
{
	size_t n = strlen(s), i, pad;
	char *std;
	unsigned char *out;
	int len;

	pad = (4 - n % 4) % 4;
	std = xmalloc(n + pad + 1);
	for (i = 0; i < n; i++)
		std[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	for (; i < n + pad; i++)
		std[i] = '=';
	std[i] = '\0';
	out = xmalloc(n + 4);
	len = EVP_DecodeBlock(out, (unsigned char *)std, (int)(n + pad));
	free(std);
	if (len < 0) {
		free(out);
		return NULL;
	}
	*outlen = (size_t)len - pad;
	out[*outlen] = '\0';
	return out;
}

static json_t *
part_json(const char *p, size_t n)
{
	char *s = xstrndup(p, n);
	unsigned char *raw;
	size_t len;
	json_t *j;

	raw = b64url_decode(s, &len);
	free(s);
	if (raw == NULL)
		return NULL;
	j = json_loadb((char *)raw, len, 0, NULL);
	free(raw);
	return j;
}

static char *
make_pem(EVP_PKEY **pkeyp)
{
	EVP_PKEY *pkey;
	BIO *bio;
	char *data, *pem;
	long n;

	pkey = EVP_RSA_gen(2048);
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(bio, &data);
	pem = xstrndup(data, (size_t)n);
	BIO_free(bio);
	*pkeyp = pkey;
	return pem;
}

static int
verify(EVP_PKEY *pkey, const char *jwt)
{
	const char *dot2 = strrchr(jwt, '.');
	unsigned char *sig;
	size_t siglen;
	EVP_MD_CTX *md;
	int good;

	if ((sig = b64url_decode(dot2 + 1, &siglen)) == NULL)
		return 0;
	md = EVP_MD_CTX_new();
	good = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
	    EVP_DigestVerify(md, sig, siglen, (const unsigned char *)jwt,
	    (size_t)(dot2 - jwt)) == 1;
	EVP_MD_CTX_free(md);
	free(sig);
	return good;
}

static char *
write_file(const char *name, const char *text, mode_t mode)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	FILE *fp = fopen(path, "w");

	fputs(text, fp);
	fclose(fp);
	chmod(path, mode);
	return path;
}

static void
test_base64url(void)
{
	const unsigned char bin[] = { 0xfb, 0xff, 0xfe, 0x3e, 0x3f };
	char *s;

	s = auth_base64url("", 0);
	is_str(s, "", "base64url of nothing");
	free(s);
	s = auth_base64url("f", 1);
	is_str(s, "Zg", "one byte, no padding");
	free(s);
	s = auth_base64url("fo", 2);
	is_str(s, "Zm8", "two bytes, no padding");
	free(s);
	s = auth_base64url("foobar", 6);
	is_str(s, "Zm9vYmFy", "six bytes");
	free(s);
	s = auth_base64url(bin, 3);
	is_str(s, "-__-", "+ and / become - and _");
	free(s);
	s = auth_base64url(bin, sizeof bin);
	is_str(s, "-__-Pj8", "URL alphabet with a tail");
	free(s);
}

static void
test_jwt(const char *pem, EVP_PKEY *pkey)
{
	char *jwt, *bad;
	const char *dot1, *dot2;
	json_t *h, *c;

	jwt = auth_jwt(pem, "kid-1", "sa@p.iam.gserviceaccount.com",
	    AUTH_SCOPE, "https://oauth2.example/token", 1700000000);
	ok(jwt != NULL, "JWT made");
	if (jwt == NULL)
		return;
	dot1 = strchr(jwt, '.');
	dot2 = strrchr(jwt, '.');
	ok(dot1 != NULL && dot2 != NULL && dot1 != dot2 &&
	    strchr(dot1 + 1, '.') == dot2, "three parts");
	ok(strspn(jwt, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_.") == strlen(jwt), "only base64url and dots");
	h = part_json(jwt, (size_t)(dot1 - jwt));
	c = part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	ok(h != NULL && c != NULL, "header and claims are JSON");
	is_str(json_string_value(json_object_get(h, "alg")), "RS256", "alg");
	is_str(json_string_value(json_object_get(h, "typ")), "JWT", "typ");
	is_str(json_string_value(json_object_get(h, "kid")), "kid-1", "kid");
	is_str(json_string_value(json_object_get(c, "iss")),
	    "sa@p.iam.gserviceaccount.com", "iss is the client email");
	is_str(json_string_value(json_object_get(c, "scope")),
	    "https://www.googleapis.com/auth/bigquery", "scope");
	is_str(json_string_value(json_object_get(c, "aud")),
	    "https://oauth2.example/token", "aud is the token URI");
	is_int(json_integer_value(json_object_get(c, "iat")), 1700000000,
	    "iat");
	is_int(json_integer_value(json_object_get(c, "exp")), 1700003600,
	    "exp is an hour later");
	is_int(json_object_size(c), 5, "no other claims");
	ok(verify(pkey, jwt), "signature verifies with the public key");
	bad = xstrdup(jwt);
	bad[dot1 - jwt + 3] = bad[dot1 - jwt + 3] == 'A' ? 'B' : 'A';
	ok(!verify(pkey, bad), "a changed claim breaks the signature");
	free(bad);
	json_decref(h);
	json_decref(c);
	free(jwt);

	jwt = auth_jwt(pem, NULL, "x@y", AUTH_SCOPE, "aud", 1);
	h = jwt != NULL ? part_json(jwt, strcspn(jwt, ".")) : NULL;
	ok(h != NULL && json_object_get(h, "kid") == NULL,
	    "no kid without a key id");
	json_decref(h);
	free(jwt);
	ok(auth_jwt("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE "
	    "KEY-----\n", NULL, "x@y", AUTH_SCOPE, "aud", 1) == NULL,
	    "a bad PEM gives no JWT");
}

static void
test_parse_token(void)
{
	const char *okb = "{\"access_token\":\"ya29.abc\",\"expires_in\":3599,"
	    "\"token_type\":\"Bearer\"}";
	const char *errb = "{\"error\":\"invalid_grant\",\"error_description\":"
	    "\"Invalid JWT Signature.\"}";
	const char *s;
	char *tok, *why;
	long exp;

	ok(auth_parse_token(okb, strlen(okb), &tok, &exp, &why) == 0,
	    "token answer parses");
	is_str(tok, "ya29.abc", "access_token");
	is_int(exp, 3599, "expires_in");
	free(tok);
	s = "{\"access_token\":\"t\",\"expires_in\":\"120\"}";
	ok(auth_parse_token(s, strlen(s), &tok, &exp, NULL) == 0 && exp == 120,
	    "expires_in as a string (metadata servers)");
	free(tok);
	s = "{\"access_token\":\"t\"}";
	ok(auth_parse_token(s, strlen(s), &tok, &exp, NULL) == 0 &&
	    exp == 3600, "expires_in defaults to an hour");
	free(tok);
	ok(auth_parse_token(errb, strlen(errb), &tok, &exp, &why) == -1 &&
	    tok == NULL, "an OAuth error is no token");
	is_str(why, "invalid_grant: Invalid JWT Signature.",
	    "error and description reported");
	free(why);
	s = "{\"access_token\":\"a b\"}";
	ok(auth_parse_token(s, strlen(s), &tok, &exp, NULL) == -1,
	    "a token with a space is refused (header safety)");
	s = "{\"access_token\":\"a\\r\\nX: y\"}";
	ok(auth_parse_token(s, strlen(s), &tok, &exp, NULL) == -1,
	    "a token with CRLF is refused");
	ok(auth_parse_token("<html>", 6, &tok, &exp, NULL) == -1,
	    "not JSON");
}

static void
test_key_files(const char *pem)
{
	struct conf conf;
	struct auth *a;
	json_t *j;
	char *text, *path;

	memset(&conf, 0, sizeof conf);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "service_account",
	    "client_email", "loader@proj.iam.gserviceaccount.com",
	    "private_key_id", "abc", "private_key", pem,
	    "token_uri", "https://oauth2.googleapis.com/token");
	text = json_dumps(j, 0);
	json_decref(j);

	path = write_file("sa-open.json", text, 0644);
	conf.credentials = path;
	ok(auth_new(&conf, NULL) == NULL, "a key readable by others is "
	    "refused");
	free(path);
	path = write_file("sa-group.json", text, 0640);
	conf.credentials = path;
	ok(auth_new(&conf, NULL) == NULL, "a key readable by the group is "
	    "refused");
	free(path);
	path = write_file("sa.json", text, 0600);
	conf.credentials = path;
	a = auth_new(&conf, NULL);
	ok(a != NULL, "a 0600 service account key loads");
	ok(a != NULL && strstr(auth_describe(a),
	    "loader@proj.iam.gserviceaccount.com") != NULL,
	    "described by its client email");
	ok(a != NULL && strstr(auth_describe(a), "BEGIN") == NULL,
	    "the description holds no key");
	auth_free(a);

	conf.credentials = "auto";
	setenv("GOOGLE_APPLICATION_CREDENTIALS", path, 1);
	a = auth_new(&conf, NULL);
	ok(a != NULL && strstr(auth_describe(a), "loader@") != NULL,
	    "auto takes GOOGLE_APPLICATION_CREDENTIALS first");
	auth_free(a);
	free(path);
	free(text);

	path = write_file("user.json", "{\"type\":\"authorized_user\","
	    "\"client_id\":\"id\",\"client_secret\":\"s\","
	    "\"refresh_token\":\"r\"}", 0600);
	setenv("GOOGLE_APPLICATION_CREDENTIALS", "", 1);
	setenv("CLOUDSDK_CONFIG", tmpdir, 1);
	unlink(path);
	free(path);
	path = write_file("application_default_credentials.json",
	    "{\"type\":\"authorized_user\",\"client_id\":\"id\","
	    "\"client_secret\":\"s\",\"refresh_token\":\"r\"}", 0600);
	a = auth_new(&conf, NULL);
	ok(a != NULL && strstr(auth_describe(a), "user credentials") != NULL,
	    "auto finds gcloud's ADC file next");
	auth_free(a);
	unlink(path);
	free(path);

	setenv("GCE_METADATA_HOST", "127.0.0.1:9", 1);
	a = auth_new(&conf, NULL);
	ok(a != NULL && strcmp(auth_describe(a),
	    "metadata server (127.0.0.1:9)") == 0,
	    "auto falls back to the metadata server");
	auth_free(a);

	path = write_file("user-bad.json", "{\"type\":\"authorized_user\","
	    "\"client_id\":\"id\",\"client_secret\":\"s\"}", 0600);
	conf.credentials = path;
	ok(auth_new(&conf, NULL) == NULL, "authorized_user without a "
	    "refresh_token is refused");
	free(path);
	path = write_file("ext.json", "{\"type\":\"external_account\"}", 0600);
	conf.credentials = path;
	ok(auth_new(&conf, NULL) == NULL, "an unsupported type is refused");
	free(path);
	path = write_file("sa-badkey.json", "{\"type\":\"service_account\","
	    "\"client_email\":\"a@b\",\"private_key\":\"nope\"}", 0600);
	conf.credentials = path;
	ok(auth_new(&conf, NULL) == NULL, "a key that does not load is "
	    "refused at once");
	free(path);
	path = write_file("notjson.json", "{\"type\":", 0600);
	conf.credentials = path;
	ok(auth_new(&conf, NULL) == NULL, "a file that is not JSON");
	free(path);
	conf.credentials = "/nonexistent/key.json";
	ok(auth_new(&conf, NULL) == NULL, "a missing file");
}

static void
test_command(void)
{
	struct conf conf;
	struct auth *a;
	const char *tok;
	char *cmd;

	memset(&conf, 0, sizeof conf);
	cmd = xasprintf("command:echo x >> %s/count; printf 'tok%%s\\nmore\\n' "
	    "$(wc -l < %s/count)", tmpdir, tmpdir);
	conf.credentials = cmd;
	a = auth_new(&conf, NULL);
	ok(a != NULL, "command: credentials");
	is_int(auth_token(a, &tok), 0, "command gives a token");
	is_str(tok, "tok1", "the first line is the token");
	is_int(auth_token(a, &tok), 0, "asked again");
	is_str(tok, "tok1", "the token is cached, the command not rerun");
	auth_invalidate(a);
	is_int(auth_token(a, &tok), 0, "after invalidate");
	is_str(tok, "tok2", "the command runs again");
	auth_free(a);
	free(cmd);

	conf.credentials = "command:echo tok; exit 3";
	a = auth_new(&conf, NULL);
	is_int(auth_token(a, &tok), -2, "nonzero exit: config error");
	ok(tok == NULL, "and no token");
	is_str(auth_error(a), "credentials command exited with status 3",
	    "auth_error says why");
	auth_free(a);
	conf.credentials = "command:exit 75";
	a = auth_new(&conf, NULL);
	is_int(auth_token(a, &tok), -1, "exit 75 (EX_TEMPFAIL): retry later");
	auth_free(a);
	conf.credentials = "command:echo 'two words'";
	a = auth_new(&conf, NULL);
	is_int(auth_token(a, &tok), -2, "a line that is no token");
	auth_free(a);
	conf.credentials = "command:";
	ok(auth_new(&conf, NULL) == NULL, "an empty command is refused");
}

static void
test_rfc3339(void)
{
	time_t t;

	t = 0;
	ok(auth_parse_rfc3339("1970-01-01T00:00:00Z", &t) == 0 && t == 0,
	    "rfc3339: the epoch");
	ok(auth_parse_rfc3339("2026-12-02T01:02:03Z", &t) == 0 &&
	    t == 1796173323, "rfc3339: a date in UTC");
	ok(auth_parse_rfc3339("2026-12-02T01:02:03.045123456Z", &t) == 0 &&
	    t == 1796173323, "rfc3339: nanoseconds are dropped");
	ok(auth_parse_rfc3339("2026-12-02T02:02:03+01:00", &t) == 0 &&
	    t == 1796173323, "rfc3339: a positive offset");
	ok(auth_parse_rfc3339("2026-12-01t20:32:03.5-04:30", &t) == 0 &&
	    t == 1796173323, "rfc3339: a negative offset, lowercase t");
	ok(auth_parse_rfc3339("2024-02-29T00:00:00Z", &t) == 0 &&
	    t == 1709164800, "rfc3339: a leap day");
	ok(auth_parse_rfc3339("2100-03-01T00:00:00Z", &t) == 0 &&
	    t == 4107542400LL, "rfc3339: after 2038 and a century");
	ok(auth_parse_rfc3339("2023-02-29T00:00:00Z", &t) == -1,
	    "rfc3339: no leap day in 2023");
	ok(auth_parse_rfc3339("2100-02-29T00:00:00Z", &t) == -1,
	    "rfc3339: no leap day in 2100");
	ok(auth_parse_rfc3339("2026-12-02T01:02:03", &t) == -1,
	    "rfc3339: an offset is required");
	ok(auth_parse_rfc3339("2026-12-02 01:02:03Z", &t) == -1,
	    "rfc3339: the T is required");
	ok(auth_parse_rfc3339("2026-13-02T01:02:03Z", &t) == -1 &&
	    auth_parse_rfc3339("2026-12-02T24:02:03Z", &t) == -1 &&
	    auth_parse_rfc3339("2026-12-02T01:02:03.Z", &t) == -1 &&
	    auth_parse_rfc3339("2026-12-02T01:02:03Zjunk", &t) == -1 &&
	    auth_parse_rfc3339("+026-12-02T01:02:03Z", &t) == -1 &&
	    auth_parse_rfc3339("2026-12-02T01:02:03+1:00", &t) == -1 &&
	    auth_parse_rfc3339("", &t) == -1,
	    "rfc3339: malformed dates are refused");
}

static void
test_parse_iam(void)
{
	const char *good = "{\"accessToken\":\"ya29.x-y\","
	    "\"expireTime\":\"2026-12-02T01:02:03.5Z\"}";
	char *tok, *why;
	time_t e = 0;

	ok(auth_parse_iam(good, strlen(good), &tok, &e, &why) == 0,
	    "iam: a generateAccessToken answer parses");
	is_str(tok, "ya29.x-y", "iam: the accessToken");
	is_int(e, 1796173323, "iam: expireTime, in epoch seconds");
	free(tok);
	ok(auth_parse_iam("{\"expireTime\":\"2026-12-02T01:02:03Z\"}", 37,
	    &tok, &e, &why) == -1 && tok == NULL && why != NULL,
	    "iam: no accessToken");
	free(why);
	ok(auth_parse_iam("{\"accessToken\":\"a b\",\"expireTime\":"
	    "\"2026-12-02T01:02:03Z\"}", 56, &tok, &e, &why) == -1,
	    "iam: a token with a space is refused");
	ok(why != NULL && strstr(why, "a b") == NULL,
	    "iam: the reason does not quote the token");
	free(why);
	ok(auth_parse_iam("{\"accessToken\":\"t\",\"expireTime\":"
	    "\"tomorrow\"}", 43, &tok, &e, &why) == -1, "iam: a bad "
	    "expireTime is refused");
	free(why);
	ok(auth_parse_iam("[]", 2, &tok, &e, &why) == -1, "iam: not an "
	    "object");
	free(why);
}

static void
test_parse_subject(void)
{
	char *tok, *why;
	const char *j = "{\"id_token\":\" eyJ.a.b\\n\",\"n\":1}";

	ok(auth_parse_subject("eyJ.a.b\n", 8, NULL, &tok, &why) == 0,
	    "subject: text");
	is_str(tok, "eyJ.a.b", "subject: text, the newline trimmed");
	free(tok);
	ok(auth_parse_subject(j, strlen(j), "id_token", &tok, &why) == 0,
	    "subject: json");
	is_str(tok, "eyJ.a.b", "subject: the field, trimmed");
	free(tok);
	ok(auth_parse_subject(j, strlen(j), "n", &tok, &why) == -1 &&
	    why != NULL && strstr(why, "eyJ") == NULL,
	    "subject: a field that is not a string; the reason has no token");
	free(why);
	ok(auth_parse_subject(j, strlen(j), "x", &tok, &why) == -1,
	    "subject: a missing field");
	free(why);
	ok(auth_parse_subject("eyJ.a.b", 7, "id_token", &tok, &why) == -1,
	    "subject: json format but text data");
	free(why);
	ok(auth_parse_subject(" \n", 2, NULL, &tok, &why) == -1,
	    "subject: blank");
	free(why);
	ok(auth_parse_subject(NULL, 0, NULL, &tok, &why) == -1,
	    "subject: empty");
	free(why);
	ok(auth_parse_subject("a\0b", 3, NULL, &tok, &why) == -1,
	    "subject: a NUL byte");
	free(why);
}

/* auth_new() on an external_account file: 1 when it loads. */
static int
external_loads(const char *source, const char *extra)
{
	struct conf conf;
	struct auth *a;
	char *text, *path;

	text = xasprintf("{\"type\":\"external_account\",\"audience\":"
	    "\"//iam.googleapis.com/projects/1/locations/global/"
	    "workloadIdentityPools/p/providers/q\",\"subject_token_type\":"
	    "\"urn:ietf:params:oauth:token-type:jwt\",\"token_url\":"
	    "\"https://sts.googleapis.com/v1/token\",\"credential_source\":"
	    "%s%s}", source, extra);
	path = write_file("ext.json", text, 0600);
	memset(&conf, 0, sizeof conf);
	conf.credentials = path;
	a = auth_new(&conf, NULL);
	free(text);
	free(path);
	if (a == NULL)
		return 0;
	auth_free(a);
	return 1;
}

static void
test_external_files(void)
{
	ok(external_loads("{\"file\":\"/run/token\"}", ""),
	    "external: a file source loads");
	ok(external_loads("{\"url\":\"http://169.254.169.254/metadata/"
	    "identity/oauth2/token\",\"headers\":{\"Metadata\":\"True\"},"
	    "\"format\":{\"type\":\"json\",\"subject_token_field_name\":"
	    "\"access_token\"}}", ""),
	    "external: Azure's link-local URL source loads");
	ok(!external_loads("{\"url\":\"http://169.254.1.2.evil.example/x\"}",
	    ""), "external: a look-alike host is not link-local");
	ok(!external_loads("{\"url\":\"http://metadata.example/x\"}", ""),
	    "external: a plain http URL source elsewhere is refused");
	ok(!external_loads("{\"url\":\"https://x/\",\"headers\":"
	    "{\"A\":\"b\\r\\nC: d\"}}", ""),
	    "external: a header value with CR LF is refused");
	ok(!external_loads("{\"file\":\"/t\",\"url\":\"https://x/\"}", ""),
	    "external: both file and url are refused");
	ok(!external_loads("{\"file\":\"/t\",\"format\":{\"type\":\"json\"}}",
	    ""), "external: json format without a field name is refused");
	ok(!external_loads("{\"environment_id\":\"aws1\"}", ""),
	    "external: an AWS source is refused");
	ok(external_loads("{\"file\":\"/t\"}", ",\"service_account_"
	    "impersonation_url\":\"https://iamcredentials.googleapis.com/v1/"
	    "projects/-/serviceAccounts/a@b:generateAccessToken\","
	    "\"service_account_impersonation\":{\"token_lifetime_seconds\":"
	    "7200}"), "external: impersonation with a lifetime loads");
	ok(!external_loads("{\"file\":\"/t\"}", ",\"service_account_"
	    "impersonation\":{\"token_lifetime_seconds\":60}"),
	    "external: a lifetime under 600 s is refused");
	ok(!external_loads("{\"file\":\"/t\"}", ",\"service_account_"
	    "impersonation_url\":\"http://iam.example/x\""),
	    "external: a plain http impersonation URL is refused");
	ok(!external_loads("{\"file\":\"/t\"}",
	    ",\"workforce_pool_user_project\":\"p\""),
	    "external: a user project without a workforce pool is refused");
}

int
main(void)
{
	EVP_PKEY *pkey;
	char *pem, *p;

	log_init("test_auth", 1);
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	test_base64url();
	pem = make_pem(&pkey);
	test_jwt(pem, pkey);
	test_parse_token();
	test_key_files(pem);
	test_command();
	test_rfc3339();
	test_parse_iam();
	test_parse_subject();
	test_external_files();
	EVP_PKEY_free(pkey);
	free(pem);
	p = xasprintf("rm -rf '%s'", tmpdir);
	if (system(p) != 0)
		printf("# could not remove %s\n", tmpdir);
	free(p);
	return tap_done();
}
