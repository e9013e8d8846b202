/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/* Unit tests of conf.c: values, defaults, errors with file:line. */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "hit.h"
#include "log.h"
#include "tap.h"

static char path[] = "/tmp/hs-test-conf-XXXXXX";

static struct conf *
load(const char *text, mode_t mode)
{
	FILE *fp = fopen(path, "w");

	fputs(text, fp);
	fclose(fp);
	chmod(path, mode);
	return conf_load(path, 1);
}

/*
 * Load text and keep what conf_load() logged: 1 when it was refused and
 * the log holds "PATH:LINE: " followed by want (want may be NULL).
 */
static int
refused_at(const char *text, mode_t mode, int line, const char *want)
{
	char log[4096], tag[128], *at;
	struct conf *c;
	int saved, fd;
	ssize_t n;

	fd = open("/tmp/hs-test-conf.log", O_RDWR | O_CREAT | O_TRUNC, 0600);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	c = load(text, mode);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, log, sizeof log - 1, 0);
	close(fd);
	unlink("/tmp/hs-test-conf.log");
	log[n > 0 ? n : 0] = '\0';
	if (c != NULL) {
		conf_free(c);
		printf("# loaded\n");
		return 0;
	}
	if (line > 0)
		snprintf(tag, sizeof tag, "%s:%d: ", path, line);
	else
		snprintf(tag, sizeof tag, "%s: ", path);
	if ((at = strstr(log, tag)) == NULL ||
	    (want != NULL && strstr(at, want) == NULL)) {
		printf("# want '%s%s' in: %s", tag, want ? want : "", log);
		return 0;
	}
	return 1;
}

static void
test_std_secret(void)
{
	struct conf *c;

	ok(refused_at("[stream a]\nid = x\nsignature = standard-webhooks\n"
	    "signature_secret = not base64!\n", 0600, 4, "base64"),
	    "a Standard Webhooks secret that is not base64: file:line");
	ok(refused_at("[stream a]\nid = x\n"
	    "signature_secret = whsec_%%%%\nsignature = standard-webhooks\n",
	    0600, 3, "base64"), "whsec_ and not base64: the secret's line");
	c = load("[stream a]\nid = x\nsignature = standard-webhooks\n"
	    "signature_secret = MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n", 0600);
	ok(c != NULL, "a Standard Webhooks secret without whsec_ loads");
	conf_free(c);
	c = load("[stream a]\nid = x\nsignature = hmac-sha256\n"
	    "signature_header = X-Sig\nsignature_secret = not base64!\n",
	    0600);
	ok(c != NULL, "an hmac-sha256 secret is any text");
	conf_free(c);
}

static void
test_file_rules(void)
{
	struct conf *c;
	char text[1024];

	ok(refused_at("[stream a]\nid = x\n", 0666, 0, "writable"),
	    "a world-writable config is refused");
	ok(refused_at("[stream a]\nid = x\n", 0602, 0, "writable"),
	    "a world-writable (not readable) config is refused");
	c = load("[stream a]\nid = x\n", 0664);
	ok(c != NULL, "a group-writable config loads");
	conf_free(c);
	if (geteuid() == 0) {
		FILE *fp = fopen(path, "w");

		fputs("[stream a]\nid = x\n", fp);
		fclose(fp);
		chmod(path, 0644);
		ok(chown(path, 4242, 4242) == 0 && conf_load(path, 1) == NULL,
		    "a config owned by another user is refused");
		ok(chown(path, 0, 0) == 0, "chown back");
	}

	ok(refused_at("[stream a]\nid = x\ntoken = abc ;def\n", 0600, 3,
	    "';'"), "token = abc ;def is refused, not cut to abc");
	ok(refused_at("# c\n[stream a]\nid = x\ntable = p.d.t\t;x\n", 0600,
	    4, "';'"), "a tab before ';' too");
	ok(refused_at("[stream a ;x]\nid = x\n", 0600, 1, "';'"),
	    "a section name with ' ;'");
	c = load("; a comment\n  # another\n[stream a]\nid = x\n"
	    "token = abc;def\n", 0600);
	ok(c != NULL && strcmp(c->streams[0].token, "abc;def") == 0,
	    "comment lines, and ';' without a blank before it, are kept");
	conf_free(c);

	snprintf(text, sizeof text, "[stream a]\nid = x\ntable = p.d.%0*d\n"
	    "bogus = 1\n", 300, 7);
	ok(refused_at(text, 0600, 3, "too long"),
	    "a 300-character line: 'too long' on its own line");
	ok(refused_at(text, 0600, 4, "unknown key 'bogus'"),
	    "and the next error still names the right line");
	snprintf(text, sizeof text, "[stream a]\nid = x\n# %0*d\n"
	    "bogus = 1\n", 300, 7);
	ok(refused_at(text, 0600, 4, "unknown key 'bogus'"),
	    "a long comment line does not shift the line numbers");
	{
		FILE *fp = fopen(path, "w");

		fwrite("[stream a]\nid = x\ntoken = ab\0cd\n", 1, 31, fp);
		fclose(fp);
		chmod(path, 0600);
		ok((c = conf_load(path, 1)) == NULL,
		    "a NUL byte does not cut a value");
		conf_free(c);
	}
	snprintf(text, sizeof text, "[stream a]\nid = x\ntable = p.d.%0*d\n",
	    150, 7);
	c = load(text, 0600);
	ok(c != NULL && strlen(c->streams[0].table) == 154,
	    "a 162-character line loads whole");
	conf_free(c);
}

/* 1 when text has a line "KEY = VALUE", with or without its comment. */
static int
has_setting(const char *text, const char *setting)
{
	const char *at = text;
	size_t n = strlen(setting);

	while ((at = strstr(at, setting)) != NULL) {
		if ((at == text || at[-1] == '\n') &&
		    (at[n] == '\n' || at[n] == '\t'))
			return 1;
		at += n;
	}
	return 0;
}

/* Each enum key parses to its value and prints back as its name. */
static void
test_enums(void)
{
	struct conf *c;
	char *text = NULL;
	size_t len;
	FILE *fp;

	c = load("sync = none\nhealth_details = on\n[stream a]\nid = x\n"
	    "signature = hmac-sha256\nsignature_header = X-Sig\n"
	    "signature_secret = s\nsignature_encoding = base64\n"
	    "signature_policy = record\nsignature_covers = body\n"
	    "response = empty\n", 0600);
	ok(c != NULL, "enum keys load");
	if (c == NULL)
		return;
	is_int(c->sync, CONF_SYNC_NONE, "sync = none");
	is_int(c->health_details, 1, "health_details = on is 1");
	is_int(c->streams[0].signature, CONF_SIG_HMAC_SHA256, "signature");
	is_int(c->streams[0].signature_encoding, CONF_SIGENC_BASE64,
	    "signature_encoding");
	is_int(c->streams[0].signature_policy, CONF_SIGPOL_RECORD,
	    "signature_policy");
	is_int(c->streams[0].signature_covers, CONF_SIGCOV_BODY,
	    "signature_covers");
	is_int(c->streams[0].response, CONF_RESP_EMPTY, "response");
	fp = open_memstream(&text, &len);
	conf_print(c, fp);
	fclose(fp);
	ok(has_setting(text, "sync = none"), "prints sync = none");
	ok(has_setting(text, "health_details = yes"),
	    "prints health_details = yes");
	ok(has_setting(text, "signature = hmac-sha256"),
	    "prints signature");
	ok(has_setting(text, "signature_encoding = base64"),
	    "prints signature_encoding");
	ok(has_setting(text, "signature_policy = record"),
	    "prints signature_policy");
	ok(has_setting(text, "signature_covers = body"),
	    "prints signature_covers");
	ok(has_setting(text, "response = empty"), "prints response");
	free(text);
	conf_free(c);
	ok(load("health_details = maybe\n[stream a]\nid = x\n", 0600) ==
	    NULL, "bad boolean refused");
	ok(load("[stream a]\nid = x\nsignature_policy = warn\n", 0600) ==
	    NULL, "bad signature_policy refused");
	ok(load("[stream a]\nid = x\nresponse = file:\n", 0600) == NULL,
	    "response = file: without a path refused");
}

int
main(void)
{
	struct conf *c;
	char name[66];
	uint64_t u;
	long d;
	int off, fd;

	log_init("test_conf", 1);
	fd = mkstemp(path);
	close(fd);

	ok(conf_parse_size("8M", &u) == 0 && u == 8 * 1024 * 1024, "8M");
	ok(conf_parse_size("512k", &u) == 0 && u == 512 * 1024, "512k");
	ok(conf_parse_size("100", &u) == 0 && u == 100, "100 bytes");
	ok(conf_parse_size("1GiB", &u) == 0 && u == 1024 * 1024 * 1024, "1GiB");
	ok(conf_parse_size("-1", &u) == -1, "negative size refused");
	ok(conf_parse_size("8X", &u) == -1, "bad unit refused");
	ok(conf_parse_size("99999999999999999999", &u) == -1, "overflow");
	ok(conf_parse_duration("60s", &d) == 0 && d == 60, "60s");
	ok(conf_parse_duration("7d", &d) == 0 && d == 7 * 86400, "7d");
	ok(conf_parse_duration("5m", &d) == 0 && d == 300, "5m");
	ok(conf_parse_duration("5x", &d) == -1, "bad duration");
	ok(conf_parse_size("1KiB", &u) == 0 && u == 1024, "1KiB");
	ok(conf_parse_size("2gb", &u) == 0 && u == (uint64_t)2 << 30, "2gb");
	ok(conf_parse_size("1T", &u) == 0 && u == (uint64_t)1 << 40, "1T");
	ok(conf_parse_size("1KiBx", &u) == -1, "trailing bytes refused");
	ok(conf_parse_size("1iB", &u) == -1, "iB without a unit refused");
	ok(conf_parse_size("1B", &u) == -1, "B without a unit refused");
	ok(conf_parse_size("16777216T", &u) == -1, "size overflow by unit");
	ok(conf_parse_size("", &u) == -1, "empty size refused");
	ok(conf_parse_duration("60", &d) == 0 && d == 60, "60");
	ok(conf_parse_duration("2h", &d) == 0 && d == 7200, "2h");
	ok(conf_parse_duration("1w", &d) == 0 && d == 7 * 86400, "1w");
	ok(conf_parse_duration("5mm", &d) == -1, "5mm refused");
	ok(conf_parse_duration("5M", &d) == -1, "units are lowercase");
	ok(conf_parse_duration("-5s", &d) == -1, "negative duration refused");
	ok(conf_parse_duration("99999999999999999999", &d) == -1,
	    "duration overflow");
	ok(conf_parse_duration("15250284452472w", &d) == -1,
	    "duration overflow by unit");
	ok(conf_parse_offset("+03:00", &off) == 0 && off == 180, "+03:00");
	ok(conf_parse_offset("-05:30", &off) == 0 && off == -330, "-05:30");
	ok(conf_parse_offset("+3", &off) == -1, "short offset refused");
	ok(conf_parse_offset("+15:00", &off) == -1, "offset out of range");
	ok(conf_valid_name("crm-2_b.x"), "stream name: letters, digits, -_.");
	ok(!conf_valid_name(""), "stream name: empty refused");
	ok(!conf_valid_name(".x"), "stream name: leading dot refused");
	ok(!conf_valid_name("a/b"), "stream name: slash refused");
	ok(!conf_valid_name("a b"), "stream name: space refused");
	ok(!conf_valid_name("caf\xc3\xa9"), "stream name: non-ASCII refused");
	c = conf_new();
	is_str(c->api_base, "https://bigquery.googleapis.com",
	    "conf_new: api_base default");
	is_int(c->chunk_size, 8 * 1024 * 1024, "conf_new: chunk_size default");
	is_int(c->job_timeout, 300, "conf_new: job_timeout default");
	is_int(c->http_timeout, 60, "conf_new: http_timeout default");
	is_int(c->nstreams, 0, "conf_new: no stream");
	conf_free(c);
	memset(name, 'a', 64);
	name[64] = '\0';
	ok(conf_valid_name(name), "stream name: 64 characters");
	name[64] = 'a';
	name[65] = '\0';
	ok(!conf_valid_name(name), "stream name: 65 characters refused");

	c = load("spool_dir = /tmp/x\nsync = batch\nbatch_max_bytes = 1M\n"
	    "[stream crm]\nid = abc-123\ntable = p.d.t\nutc_offset = +03:00\n"
	    "columns = method params headers\nmethods = POST GET\n"
	    "response = pixel\n", 0644);
	ok(c != NULL, "a good config loads");
	if (c != NULL) {
		is_str(c->spool_dir, "/tmp/x", "spool_dir");
		is_int(c->sync, CONF_SYNC_BATCH, "sync = batch");
		is_int(c->batch_max_bytes, 1024 * 1024, "batch_max_bytes");
		is_int(c->batch_max_age, 60, "batch_max_age default");
		is_int(c->keep_done, 7 * 86400, "keep_done default");
		is_str(c->location, "US", "location default");
		is_int(c->nstreams, 1, "one stream");
		is_str(c->streams[0].id, "abc-123", "id");
		is_int(c->streams[0].utc_offset, 180, "utc_offset");
		is_int(c->streams[0].ncolumns, 3, "three columns");
		is_int(c->streams[0].columns[1], HIT_COL_PARAMS, "column order");
		is_int(c->streams[0].methods, CONF_M_POST | CONF_M_GET,
		    "methods");
		is_int(c->streams[0].max_body, 1024 * 1024, "max_body default");
		is_int(c->streams[0].response, CONF_RESP_PIXEL, "response");
		conf_free(c);
	}
	c = load("[stream a]\nid = x\nutc_offset = Europe/Berlin\n", 0600);
	ok(c != NULL && c->streams[0].tz != NULL, "utc_offset: an IANA zone");
	conf_free(c);
	ok(load("[stream a]\nid = x\nutc_offset = Mars/Olympus\n", 0600) ==
	    NULL, "utc_offset: an unknown zone refused");
	ok(load("[stream a]\nid = x\nutc_offset = ../../etc/passwd\n",
	    0600) == NULL, "utc_offset: a path refused");
	c = load("[stream a]\nid = x\nsignature = stripe\n"
	    "signature_secret = s\ndelivery_id = auto\ndedup_window = 1d\n",
	    0600);
	ok(c != NULL && c->streams[0].did == CONF_DID_STRIPE &&
	    c->streams[0].dedup_window == 86400, "delivery_id = auto: stripe");
	ok(c != NULL && c->streams[0].ncolumns == 1 &&
	    c->streams[0].columns[0] == HIT_COL_DELIVERY_ID,
	    "  its column added");
	conf_free(c);
	c = load("[stream a]\nid = x\ndelivery_id = form:orderId+status\n",
	    0600);
	ok(c != NULL && c->streams[0].did == CONF_DID_FORM &&
	    strcmp(c->streams[0].did_arg, "orderId+status") == 0,
	    "delivery_id = form:orderId+status");
	conf_free(c);
	ok(load("[stream a]\nid = x\ndelivery_id = bogus\n", 0600) == NULL,
	    "delivery_id: an unknown source refused");
	ok(load("[stream a]\nid = x\ndelivery_id = json:id\n", 0600) == NULL,
	    "delivery_id: a pointer without '/' refused");
	ok(load("[stream a]\nid = x\ndelivery_id = form:a++b\n", 0600) ==
	    NULL, "delivery_id: an empty form field refused");
	ok(load("[stream a]\nid = x\ndelivery_id = auto\n", 0600) == NULL,
	    "delivery_id = auto without a signature refused");
	ok(load("[stream a]\nid = x\ndedup_window = 1h\n", 0600) == NULL,
	    "dedup_window without delivery_id refused");
	ok(load("keep_done = 1d\n[stream a]\nid = x\n"
	    "delivery_id = header:X-Id\ndedup_window = 2d\n", 0600) == NULL,
	    "dedup_window longer than keep_done refused");
	ok(load("[stream a]\nid = x\nbogus = 1\n", 0600) == NULL,
	    "unknown key refused");
	ok(load("sync = sometimes\n[stream a]\nid = x\n", 0600) == NULL,
	    "bad enum refused");
	ok(load("[stream a]\ntable = p.d.t\n", 0600) == NULL,
	    "stream without id refused");
	ok(load("[stream a]\nid = x\n[stream b]\nid = x\n", 0600) == NULL,
	    "shared id refused");
	ok(load("[stream a]\nid = x\ntoken = s3cret\n", 0644) == NULL,
	    "world-readable secret refused");
	c = load("[stream a]\nid = x\ntoken = s3cret\n", 0640);
	ok(c != NULL, "group-readable secret accepted");
	conf_free(c);
	ok(load("[stream a]\nid = x\ncolumns = hit_id\n", 0600) == NULL,
	    "fixed column refused in columns");
	ok(load("[stream a]\nid = x\nspool_dir = /x\n", 0600) == NULL,
	    "global key in a stream refused");
	ok(load("[other]\nx = 1\n", 0600) == NULL, "unknown section refused");
	ok(refused_at("[stream a]\nid = x\nmethods = GET\nsignature = stripe\n"
	    "signature_secret = s\n", 0600, 2, "neither POST nor PUT"),
	    "a body signature on a GET-only stream refused");
	c = load("[stream a]\nid = x\nmethods = GET\nsignature = stripe\n"
	    "signature_secret = s\nsignature_covers = query\n", 0600);
	ok(c != NULL && c->streams[0].signature_covers == CONF_SIGCOV_QUERY,
	    "signature_covers = query");
	conf_free(c);
	/* A global secret before any stream (its offset may be a stream's). */
	c = load("metrics = yes\nmetrics_token = t\nmetrics_file = /m.prom\n"
	    "[stream a]\nid = x\n", 0600);
	ok(c != NULL && c->metrics && c->has_secret &&
	    strcmp(c->metrics_token, "t") == 0 &&
	    strcmp(c->metrics_file, "/m.prom") == 0,
	    "metrics, metrics_token (a secret), metrics_file");
	conf_free(c);
	test_std_secret();
	test_file_rules();
	test_enums();
	unlink(path);
	return tap_done();
}
