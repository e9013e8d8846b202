/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * conf: the configuration file and the table of settings.
 *
 * One table (conf_keys) names every key, where it may appear, how it is
 * parsed and its default; parsing, defaults and `hookspoolctl config` all
 * walk that table, so a key cannot be documented in one place and parsed
 * differently in another.  Errors are logged as "file:line: message".
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "conf.h"
#include "delivery.h"
#include "hit_columns.h"
#include "http.h"
#include "log.h"
#include "sig.h"
#include "tz.h"
#include "xmalloc.h"

#ifndef HS_SYSCONFDIR
#define HS_SYSCONFDIR "/etc"
#endif
#ifndef HS_LOCALSTATEDIR
#define HS_LOCALSTATEDIR "/var"
#endif

enum conf_scope { SC_GLOBAL, SC_STREAM };

enum conf_type {
	T_STR,		/* char * */
	T_SECRET,	/* char * that makes the file a secret holder */
	T_SIZE,		/* size_t, "8M" */
	T_SIZE64,	/* uint64_t, "1G" */
	T_ULONG,	/* unsigned long */
	T_DURATION,	/* long seconds, "60s" "7d" */
	T_SYNC,
	T_OFFSET,	/* int minutes, "+03:00" */
	T_COLUMNS,
	T_METHODS,
	T_RESPONSE,
	T_SIG,
	T_SIGENC,
	T_SIGPOL,
	T_SIGCOV,
	T_BOOL		/* int 0 or 1: yes/no, on/off, true/false, 1/0 */
};

struct conf_key {
	const char	*name;
	enum conf_scope	 scope;
	enum conf_type	 type;
	size_t		 off;
	const char	*def;		/* NULL: unset */
	uint64_t	 min, max;	/* for numbers; 0,0: no check */
};

#define G(f) offsetof(struct conf, f)
#define S(f) offsetof(struct conf_stream, f)

static const struct conf_key conf_keys[] = {
	{ "spool_dir", SC_GLOBAL, T_STR, G(spool_dir),
	    HS_LOCALSTATEDIR "/spool/hookspool", 0, 0 },
	{ "sync", SC_GLOBAL, T_SYNC, G(sync), "always", 0, 0 },
	{ "preallocate", SC_GLOBAL, T_SIZE, G(preallocate), "1M", 0,
	    64 * 1024 * 1024 },
	{ "batch_max_bytes", SC_GLOBAL, T_SIZE, G(batch_max_bytes), "8M",
	    4096, (uint64_t)1 << 40 },
	{ "batch_max_hits", SC_GLOBAL, T_ULONG, G(batch_max_hits), "100000",
	    1, 100000000 },
	{ "batch_max_age", SC_GLOBAL, T_DURATION, G(batch_max_age), "60s",
	    1, 86400 },
	{ "min_free_space", SC_GLOBAL, T_SIZE64, G(min_free_space), "64M",
	    0, 0 },
	{ "threads", SC_GLOBAL, T_ULONG, G(threads), "8", 1, 256 },
	{ "body_timeout", SC_GLOBAL, T_DURATION, G(body_timeout), "10s",
	    1, 3600 },
	{ "credentials", SC_GLOBAL, T_STR, G(credentials), "auto", 0, 0 },
	{ "project", SC_GLOBAL, T_STR, G(project), NULL, 0, 0 },
	{ "location", SC_GLOBAL, T_STR, G(location), "US", 0, 0 },
	{ "api_base", SC_GLOBAL, T_STR, G(api_base),
	    "https://bigquery.googleapis.com", 0, 0 },
	{ "token_uri", SC_GLOBAL, T_STR, G(token_uri), NULL, 0, 0 },
	{ "ca_file", SC_GLOBAL, T_STR, G(ca_file), NULL, 0, 0 },
	{ "base_url", SC_GLOBAL, T_STR, G(base_url), "http://localhost/ds", 0, 0 },
	{ "jobs_per_table_per_day", SC_GLOBAL, T_ULONG,
	    G(jobs_per_table_per_day), "1000", 1, 100000 },
	{ "keep_done", SC_GLOBAL, T_DURATION, G(keep_done), "7d",
	    0, 10 * 365 * 86400L },
	{ "job_max_bytes", SC_GLOBAL, T_SIZE64, G(job_max_bytes), "4G",
	    4096, (uint64_t)15 << 40 },
	{ "multipart_max", SC_GLOBAL, T_SIZE, G(multipart_max), "5M",
	    0, (uint64_t)1 << 32 },
	{ "chunk_size", SC_GLOBAL, T_SIZE, G(chunk_size), "8M",
	    256 * 1024, (uint64_t)1 << 32 },
	{ "http_timeout", SC_GLOBAL, T_DURATION, G(http_timeout), "60s",
	    1, 3600 },
	{ "job_timeout", SC_GLOBAL, T_DURATION, G(job_timeout), "300s",
	    1, 86400 },
	{ "health_max_age", SC_GLOBAL, T_DURATION, G(health_max_age), "15m",
	    0, 30 * 86400L },
	{ "health_details", SC_GLOBAL, T_BOOL, G(health_details), "no", 0, 0 },
	{ "metrics", SC_GLOBAL, T_BOOL, G(metrics), "no", 0, 0 },
	{ "metrics_token", SC_GLOBAL, T_SECRET, G(metrics_token), NULL, 0, 0 },
	{ "metrics_file", SC_GLOBAL, T_STR, G(metrics_file), NULL, 0, 0 },

	{ "id", SC_STREAM, T_STR, S(id), NULL, 0, 0 },
	{ "table", SC_STREAM, T_STR, S(table), NULL, 0, 0 },
	{ "utc_offset", SC_STREAM, T_OFFSET, S(utc_offset), "+00:00", 0, 0 },
	{ "columns", SC_STREAM, T_COLUMNS, S(ncolumns), "", 0, 0 },
	{ "partition_expiration", SC_STREAM, T_DURATION,
	    S(partition_expiration), "0", 0, 100 * 366 * 86400L },
	{ "require_partition_filter", SC_STREAM, T_BOOL,
	    S(require_partition_filter), "no", 0, 0 },
	{ "clustering", SC_STREAM, T_STR, S(clustering), NULL, 0, 0 },
	{ "table_description", SC_STREAM, T_STR, S(table_description), NULL,
	    0, 0 },
	{ "max_body", SC_STREAM, T_SIZE, S(max_body), "1M",
	    0, (uint64_t)1 << 31 },
	{ "methods", SC_STREAM, T_METHODS, S(methods), "POST PUT GET HEAD",
	    0, 0 },
	{ "response", SC_STREAM, T_RESPONSE, S(response), "json", 0, 0 },
	{ "response_content_type", SC_STREAM, T_STR,
	    S(response_content_type), NULL, 0, 0 },
	{ "token", SC_STREAM, T_SECRET, S(token), NULL, 0, 0 },
	{ "signature", SC_STREAM, T_SIG, S(signature), "off", 0, 0 },
	{ "signature_header", SC_STREAM, T_STR, S(signature_header), NULL,
	    0, 0 },
	{ "signature_encoding", SC_STREAM, T_SIGENC, S(signature_encoding),
	    "hex", 0, 0 },
	{ "signature_prefix", SC_STREAM, T_STR, S(signature_prefix), NULL,
	    0, 0 },
	{ "signature_secret", SC_STREAM, T_SECRET, S(signature_secret), NULL,
	    0, 0 },
	{ "signature_secret_file", SC_STREAM, T_STR,
	    S(signature_secret_file), NULL, 0, 0 },
	{ "signature_policy", SC_STREAM, T_SIGPOL, S(signature_policy),
	    "reject", 0, 0 },
	{ "signature_covers", SC_STREAM, T_SIGCOV, S(signature_covers),
	    "body", 0, 0 },
	{ "signature_tolerance", SC_STREAM, T_DURATION,
	    S(signature_tolerance), "300s", 0, 86400 * 7 },
	{ "cors_origin", SC_STREAM, T_STR, S(cors_origin), NULL, 0, 0 },
	{ "delivery_id", SC_STREAM, T_STR, S(delivery_id), "off", 0, 0 },
	{ "dedup_window", SC_STREAM, T_DURATION, S(dedup_window), "0",
	    0, 10 * 365 * 86400L },
};
#define CONF_NKEYS (sizeof conf_keys / sizeof conf_keys[0])

static const struct {
	const char	*name;
	unsigned	 bit;
} conf_methods[] = {
	{ "GET", CONF_M_GET }, { "HEAD", CONF_M_HEAD }, { "POST", CONF_M_POST },
	{ "PUT", CONF_M_PUT }, { "OPTIONS", CONF_M_OPTIONS },
};

struct conf_parse {
	struct conf	*conf;
	const char	*path;
	FILE		*fp;
	int		 line;
	int		 errors;
	struct conf_stream *cur;
	unsigned char	 seen[CONF_NKEYS];	/* per section */
	char		*lbuf;		/* conf_reader's whole line */
	size_t		 lcap;
};

const char *
conf_default_path(void)
{
	return HS_SYSCONFDIR "/hookspool.conf";
}

/* -c when given, else $HOOKSPOOL_CONFIG (for web servers that cannot pass
 * arguments), else the compiled-in default. */
const char *
conf_choose_path(const char *flag)
{
	const char *env;

	if (flag != NULL)
		return flag;
	if ((env = getenv("HOOKSPOOL_CONFIG")) != NULL && *env != '\0')
		return env;
	return conf_default_path();
}

/*
 * Digits and an optional one-letter unit from units, scaled by that unit's
 * multiple in muls, at most max; *rest: what follows.  0 or -1.
 */
static int
conf_parse_scaled(const char *s, const char *units, const uint64_t *muls,
    uint64_t max, uint64_t *out, const char **rest)
{
	const char *u;
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end != '\0') {
		if ((u = strchr(units, *end)) == NULL)
			return -1;
		mul = muls[u - units];
		end++;
	}
	if (v > max / mul)
		return -1;
	*out = v * mul;
	*rest = end;
	return 0;
}

/* "8M", "512K", "1G", "100" (bytes); binary multiples. */
int
conf_parse_size(const char *s, uint64_t *out)
{
	static const uint64_t muls[] = { (uint64_t)1 << 10, (uint64_t)1 << 20,
		(uint64_t)1 << 30, (uint64_t)1 << 40, (uint64_t)1 << 10,
		(uint64_t)1 << 20, (uint64_t)1 << 30, (uint64_t)1 << 40 };
	const char *end;
	uint64_t v;

	if (conf_parse_scaled(s, "KMGTkmgt", muls, UINT64_MAX, &v, &end) ==
	    -1)
		return -1;
	if (*end == 'i')
		end++;
	if (toupper((unsigned char)*end) == 'B')
		end++;
	if (*end != '\0')
		return -1;
	*out = v;
	return 0;
}

/* "60", "60s", "5m", "2h", "7d", "1w"; seconds. */
int
conf_parse_duration(const char *s, long *out)
{
	static const uint64_t muls[] = { 1, 60, 3600, 86400, 7 * 86400 };
	const char *end;
	uint64_t v;

	if (conf_parse_scaled(s, "smhdw", muls, LONG_MAX, &v, &end) == -1 ||
	    *end != '\0')
		return -1;
	*out = (long)v;
	return 0;
}

/* "+03:00", "-05:30", "+00:00", "Z"; minutes east of UTC. */
int
conf_parse_offset(const char *s, int *out)
{
	int sign, h, m;

	if (strcmp(s, "Z") == 0 || strcmp(s, "UTC") == 0) {
		*out = 0;
		return 0;
	}
	if ((s[0] != '+' && s[0] != '-') || strlen(s) != 6 || s[3] != ':' ||
	    !isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[2]) ||
	    !isdigit((unsigned char)s[4]) || !isdigit((unsigned char)s[5]))
		return -1;
	sign = s[0] == '-' ? -1 : 1;
	h = (s[1] - '0') * 10 + (s[2] - '0');
	m = (s[4] - '0') * 10 + (s[5] - '0');
	if (h > 14 || m > 59 || (h == 14 && m != 0))
		return -1;
	*out = sign * (h * 60 + m);
	return 0;
}

static void __attribute__((format(printf, 2, 3)))
conf_error(struct conf_parse *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_warnx("%s:%d: %s", p->path, p->line, msg);
	p->errors++;
}

static int
conf_parse_columns(struct conf_parse *p, struct conf_stream *st,
    const char *value)
{
	char *copy, *word, *save = NULL;
	int col, rc = 0;
	size_t i;

	st->ncolumns = 0;
	copy = xstrdup(value);
	for (word = strtok_r(copy, " \t,", &save); word != NULL;
	    word = strtok_r(NULL, " \t,", &save)) {
		col = hit_column_lookup(word);
		if (col < HIT_COL_FIXED) {
			conf_error(p, "columns: '%s' is not an optional column",
			    word);
			rc = -1;
			continue;
		}
		for (i = 0; i < st->ncolumns; i++)
			if (st->columns[i] == col)
				break;
		if (i < st->ncolumns) {
			conf_error(p, "columns: '%s' named twice", word);
			rc = -1;
			continue;
		}
		st->columns[st->ncolumns++] = col;
	}
	free(copy);
	return rc;
}

static int
conf_parse_methods(struct conf_parse *p, unsigned *out, const char *value)
{
	char *copy, *word, *save = NULL;
	unsigned bits = 0;
	size_t i;
	int rc = 0;

	copy = xstrdup(value);
	for (word = strtok_r(copy, " \t,", &save); word != NULL;
	    word = strtok_r(NULL, " \t,", &save)) {
		for (i = 0; i < sizeof conf_methods / sizeof conf_methods[0];
		    i++)
			if (strcasecmp(word, conf_methods[i].name) == 0)
				break;
		if (i == sizeof conf_methods / sizeof conf_methods[0]) {
			conf_error(p, "methods: unknown method '%s'", word);
			rc = -1;
			continue;
		}
		bits |= conf_methods[i].bit;
	}
	free(copy);
	if (bits == 0 && rc == 0) {
		conf_error(p, "methods: no method given");
		rc = -1;
	}
	*out = bits;
	return rc;
}

static int
conf_enum(const char *value, const char *const *names, int *out)
{
	int i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(value, names[i]) == 0) {
			*out = i;
			return 0;
		}
	return -1;
}

static const char *const conf_sync_names[] = { "always", "batch", "none",
	NULL };
static const char *const conf_sig_names[] = { "off", "hmac-sha256",
	"stripe", "standard-webhooks", NULL };
static const char *const conf_sigenc_names[] = { "hex", "base64", NULL };
static const char *const conf_sigpol_names[] = { "reject", "record", NULL };
static const char *const conf_sigcov_names[] = { "body", "query", NULL };
static const char *const conf_bool_names[] = { "no", "yes", "off", "on",
	"false", "true", "0", "1", NULL };

/*
 * The names of each enum type's values, in enum order; a T_BOOL's value is
 * its index modulo 2.  The fields are C enums or int: int-sized.
 */
static const char *const *const conf_enum_names[] = {
	[T_SYNC] = conf_sync_names,
	[T_SIG] = conf_sig_names,
	[T_SIGENC] = conf_sigenc_names,
	[T_SIGPOL] = conf_sigpol_names,
	[T_SIGCOV] = conf_sigcov_names,
	[T_BOOL] = conf_bool_names,
};

/* response = json | empty | pixel | file:PATH */
static int
conf_set_response(struct conf_stream *st, const char *value)
{
	if (strncmp(value, "file:", 5) == 0 && value[5] != '\0') {
		st->response = CONF_RESP_FILE;
		free(st->response_file);
		st->response_file = xstrdup(value + 5);
		return 0;
	}
	if (strcmp(value, "json") == 0)
		st->response = CONF_RESP_JSON;
	else if (strcmp(value, "empty") == 0)
		st->response = CONF_RESP_EMPTY;
	else if (strcmp(value, "pixel") == 0)
		st->response = CONF_RESP_PIXEL;
	else
		return -1;
	return 0;
}

/* Parse one value into the struct field; 0 or -1 (already reported). */
static int
conf_set(struct conf_parse *p, const struct conf_key *k, void *base,
    const char *value)
{
	char *field = (char *)base + k->off;
	uint64_t u;
	long d;
	int e;
	char *end;
	unsigned long ul;

	switch (k->type) {
	case T_SECRET:
		p->conf->has_secret = 1;
		/* FALLTHROUGH */
	case T_STR:
		/* The access token goes there: not in clear over the net. */
		if ((strcmp(k->name, "api_base") == 0 ||
		    strcmp(k->name, "token_uri") == 0) && *value != '\0' &&
		    !http_url_secure(value)) {
			conf_error(p, "%s '%s' must be https (plain http only "
			    "to a loopback host)", k->name, value);
			return -1;
		}
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		return 0;
	case T_SIZE:
	case T_SIZE64:
		if (conf_parse_size(value, &u) == -1)
			goto bad;
		if ((k->min || k->max) && (u < k->min || u > k->max))
			goto range;
		if (k->type == T_SIZE)
			*(size_t *)field = (size_t)u;
		else
			*(uint64_t *)field = u;
		return 0;
	case T_ULONG:
		errno = 0;
		ul = strtoul(value, &end, 10);
		if (!isdigit((unsigned char)*value) || *end != '\0' ||
		    errno != 0)
			goto bad;
		if ((k->min || k->max) && (ul < k->min || ul > k->max))
			goto range;
		*(unsigned long *)field = ul;
		return 0;
	case T_DURATION:
		if (conf_parse_duration(value, &d) == -1)
			goto bad;
		if ((k->min || k->max) &&
		    ((uint64_t)d < k->min || (uint64_t)d > k->max))
			goto range;
		*(long *)field = d;
		return 0;
	case T_OFFSET: {
		struct conf_stream *st = base;

		/* A zone is read once, here: no file access per hit. */
		tz_free(st->tz);
		st->tz = NULL;
		if (conf_parse_offset(value, (int *)field) == -1) {
			if (!tz_valid_name(value))
				goto bad;
			if ((st->tz = tz_load(value)) == NULL) {
				conf_error(p, "%s: cannot use time zone '%s'",
				    k->name, value);
				return -1;
			}
			*(int *)field = 0;
		}
		free(((struct conf_stream *)base)->utc_offset_str);
		((struct conf_stream *)base)->utc_offset_str = xstrdup(value);
		return 0;
	}
	case T_COLUMNS:
		return conf_parse_columns(p, base, value);
	case T_METHODS:
		return conf_parse_methods(p, (unsigned *)field, value);
	case T_RESPONSE:
		if (conf_set_response(base, value) == -1)
			goto bad;
		return 0;
	case T_SYNC:
	case T_SIG:
	case T_SIGENC:
	case T_SIGPOL:
	case T_SIGCOV:
	case T_BOOL:
		if (conf_enum(value, conf_enum_names[k->type], &e) == -1)
			goto bad;
		*(int *)field = k->type == T_BOOL ? e % 2 : e;
		return 0;
	}
bad:
	conf_error(p, "%s: invalid value '%s'", k->name, value);
	return -1;
range:
	conf_error(p, "%s: '%s' is out of range", k->name, value);
	return -1;
}

static void
conf_defaults(struct conf_parse *p, enum conf_scope scope, void *base)
{
	size_t i;
	int line = p->line;

	p->line = 0;
	for (i = 0; i < CONF_NKEYS; i++)
		if (conf_keys[i].scope == scope && conf_keys[i].def != NULL)
			(void)conf_set(p, &conf_keys[i], base, conf_keys[i].def);
	p->line = line;
}

/*
 * The names hookspool.conf(5) allows for a stream (and its id): 1 to 64 of
 * [A-Za-z0-9._-], not starting with '.', so a name is one safe path part.
 */
int
conf_valid_name(const char *s)
{
	if (*s == '\0' || *s == '.' || strlen(s) > 64)
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_.") == strlen(s);
}

static int
conf_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct conf_parse *p = user;
	struct conf *c = p->conf;
	enum conf_scope scope;
	const char *sname;
	size_t i;

	if (name == NULL)	/* a section header alone */
		return 1;
	if (*section == '\0') {
		scope = SC_GLOBAL;
	} else {
		if (strncmp(section, "stream ", 7) != 0) {
			conf_error(p, "unknown section [%s] (want [stream NAME])",
			    section);
			return 1;
		}
		sname = section + 7;
		while (*sname == ' ')
			sname++;
		if (p->cur == NULL || strcmp(p->cur->name, sname) != 0) {
			if (!conf_valid_name(sname)) {
				conf_error(p, "invalid stream name '%s'", sname);
				return 1;
			}
			if (conf_stream_by_name(c, sname) != NULL) {
				conf_error(p, "stream '%s' defined twice", sname);
				return 1;
			}
			c->streams = xreallocarray(c->streams, c->nstreams + 1,
			    sizeof *c->streams);
			p->cur = &c->streams[c->nstreams++];
			memset(p->cur, 0, sizeof *p->cur);
			p->cur->name = xstrdup(sname);
			p->cur->line = p->line;
			conf_defaults(p, SC_STREAM, p->cur);
			memset(p->seen, 0, sizeof p->seen);
		}
		scope = SC_STREAM;
	}
	for (i = 0; i < CONF_NKEYS; i++)
		if (strcmp(conf_keys[i].name, name) == 0)
			break;
	if (i == CONF_NKEYS) {
		conf_error(p, "unknown key '%s'", name);
		return 1;
	}
	if (conf_keys[i].scope != scope) {
		conf_error(p, "'%s' belongs %s", name,
		    conf_keys[i].scope == SC_GLOBAL ? "before any [stream]" :
		    "in a [stream NAME] section");
		return 1;
	}
	if (p->seen[i]) {
		conf_error(p, "'%s' set twice", name);
		return 1;
	}
	p->seen[i] = 1;
	/* Offsets of global keys may equal these: the scope tells. */
	if (scope == SC_STREAM && (conf_keys[i].off == S(signature_secret) ||
	    conf_keys[i].off == S(signature_secret_file)))
		p->cur->signature_secret_line = p->line;
	(void)conf_set(p, &conf_keys[i], scope == SC_GLOBAL ? (void *)c :
	    (void *)p->cur, value);
	return 1;
}

/*
 * A ';' after a blank starts an inline comment for inih (Debian builds it
 * so), which would cut "token = abc ;def" to "abc" without a word.  Lines
 * that start with ';' or '#' are whole comments and fine.
 */
static int
conf_inline_comment(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	if (*s == ';' || *s == '#')
		return 0;
	for (; *s != '\0'; s++)
		if (isspace((unsigned char)s[0]) && s[1] == ';')
			return 1;
	return 0;
}

/*
 * inih reads through us, one whole line per call, so that its line count
 * and ours agree.  A line it would cut (longer than its buffer of num
 * bytes) or change (an inline comment) is reported here, on its own
 * line, and inih gets an empty line instead: no value is ever changed
 * silently.
 */
static char *
conf_reader(char *str, int num, void *stream)
{
	struct conf_parse *p = stream;
	ssize_t n;
	size_t len;

	if ((n = getline(&p->lbuf, &p->lcap, p->fp)) == -1)
		return NULL;
	p->line++;
	len = (size_t)n;
	while (len > 0 && (p->lbuf[len - 1] == '\n' ||
	    p->lbuf[len - 1] == '\r'))
		len--;
	p->lbuf[len] = '\0';
	str[0] = '\0';
	if (num < 1 || len >= (size_t)num)
		conf_error(p, "line too long (%zu characters, at most %d)",
		    len, num - 1);
	else if (memchr(p->lbuf, '\0', len) != NULL)
		conf_error(p, "a NUL byte in the line");
	else if (conf_inline_comment(p->lbuf))
		conf_error(p, "';' after a blank starts an inline comment "
		    "and would cut this line; remove the comment or the "
		    "blank");
	else
		memcpy(str, p->lbuf, len + 1);
	return str;
}

static int
conf_read_file(struct conf_parse *p, const char *path, char **out,
    size_t *lenp, size_t max)
{
	FILE *fp;
	struct buf b;
	char chunk[4096];
	size_t n;

	buf_init(&b, max);
	if ((fp = fopen(path, "r")) == NULL) {
		conf_error(p, "cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
		if (buf_add(&b, chunk, n) == -1) {
			conf_error(p, "'%s' is too large", path);
			goto fail;
		}
	if (ferror(fp)) {
		conf_error(p, "cannot read '%s'", path);
		goto fail;
	}
	fclose(fp);
	*lenp = b.len;
	*out = buf_detach(&b, NULL);
	return 0;
fail:
	fclose(fp);
	buf_release(&b);
	return -1;
}

/* The Standard Webhooks secret is base64 ("whsec_" optional): a secret
 * that is not could never verify a hit. */
static void
conf_check_std_secret(struct conf_parse *p, const struct conf_stream *st)
{
	unsigned char *key;
	size_t len = st->signature_secret_len;
	int line = p->line;

	key = xmalloc(len + 1);
	if (sig_std_key(st->signature_secret, len, key, len + 1) == -1) {
		p->line = st->signature_secret_line;
		conf_error(p, "stream '%s': the standard-webhooks secret%s%s%s "
		    "is not base64 (after an optional whsec_)", st->name,
		    st->signature_secret_file != NULL ? " in '" : "",
		    st->signature_secret_file != NULL ?
		    st->signature_secret_file : "",
		    st->signature_secret_file != NULL ? "'" : "");
		p->line = line;
	}
	explicit_bzero(key, len + 1);
	free(key);
}

/*
 * clustering: at most 4 of the stream's columns, none twice, none that
 * BigQuery cannot cluster on (JSON, BYTES); kept in st->cluster.
 */
static void
conf_check_clustering(struct conf_parse *p, struct conf_stream *st)
{
	char *copy, *word, *save = NULL;
	const char *type;
	size_t i, n = 0;
	int col;

	st->ncluster = 0;
	if (st->clustering == NULL)
		return;
	copy = xstrdup(st->clustering);
	for (word = strtok_r(copy, " \t,", &save); word != NULL;
	    word = strtok_r(NULL, " \t,", &save)) {
		if (++n > CONF_MAX_CLUSTER) {
			conf_error(p, "stream '%s': clustering: at most %d "
			    "columns", st->name, CONF_MAX_CLUSTER);
			break;
		}
		col = hit_column_lookup(word);
		for (i = 0; col >= HIT_COL_FIXED && i < st->ncolumns; i++)
			if (st->columns[i] == col)
				break;
		if (col < 0 || (col >= HIT_COL_FIXED && i == st->ncolumns)) {
			conf_error(p, "stream '%s': clustering: '%s' is not a "
			    "column of the stream", st->name, word);
			continue;
		}
		type = hit_columns[col].bq_type;
		if (strcmp(type, "JSON") == 0 || strcmp(type, "BYTES") == 0) {
			conf_error(p, "stream '%s': clustering: '%s' is a %s "
			    "column, BigQuery cannot cluster on it", st->name,
			    word, type);
			continue;
		}
		for (i = 0; i < st->ncluster; i++)
			if (st->cluster[i] == col)
				break;
		if (i < st->ncluster) {
			conf_error(p, "stream '%s': clustering: '%s' named "
			    "twice", st->name, word);
			continue;
		}
		st->cluster[st->ncluster++] = col;
	}
	if (n == 0)
		conf_error(p, "stream '%s': clustering: no column given",
		    st->name);
	free(copy);
}

/*
 * delivery_id parsed ("auto" resolved from the signature), its column
 * added when the stream did not list it, and a dedup window that needs an
 * id and fits in keep_done (the index is rebuilt from the spool, which
 * keeps no more than that).
 */
static void
conf_check_delivery(struct conf_parse *p, struct conf_stream *st)
{
	size_t i;

	if (delivery_parse(st->delivery_id, &st->did, &st->did_arg) == -1) {
		conf_error(p, "stream '%s': delivery_id '%s' is not off, "
		    "auto, a preset (standard-webhooks, github, shopify, "
		    "stripe), header:NAME, json:/POINTER, form:FIELD[+FIELD] "
		    "or query:FIELD", st->name, st->delivery_id);
		return;
	}
	if (st->did == CONF_DID_AUTO && delivery_auto(st, &st->did) == -1) {
		conf_error(p, "stream '%s': delivery_id = auto needs a "
		    "signature with a preset (standard-webhooks, stripe, or "
		    "hmac-sha256 with a GitHub or Shopify header)", st->name);
		return;
	}
	if (st->dedup_window > 0 && st->did == CONF_DID_OFF)
		conf_error(p, "stream '%s': dedup_window needs delivery_id",
		    st->name);
	if (st->dedup_window > p->conf->keep_done)
		conf_error(p, "stream '%s': dedup_window is longer than "
		    "keep_done", st->name);
	if (st->did == CONF_DID_OFF)
		return;
	for (i = 0; i < st->ncolumns; i++)
		if (st->columns[i] == HIT_COL_DELIVERY_ID)
			return;
	if (st->ncolumns == CONF_MAX_COLUMNS)
		conf_error(p, "stream '%s': no room for the delivery_id "
		    "column", st->name);
	else
		st->columns[st->ncolumns++] = HIT_COL_DELIVERY_ID;
}

/* Cross-key checks, once every key is read. */
static void
conf_check(struct conf_parse *p)
{
	struct conf *c = p->conf;
	struct conf_stream *st;
	size_t i, j;
	char *s;

	if (c->chunk_size % (256 * 1024) != 0) {
		p->line = 0;
		conf_error(p, "chunk_size must be a multiple of 256K");
	}
	for (i = 0; i < c->nstreams; i++) {
		st = &c->streams[i];
		p->line = st->line;
		if (st->id == NULL || *st->id == '\0')
			conf_error(p, "stream '%s' has no id", st->name);
		else if (!conf_valid_name(st->id))
			conf_error(p, "stream '%s': id may hold only letters, "
			    "digits, '-', '_' and '.'", st->name);
		for (j = 0; j < i && st->id != NULL; j++)
			if (c->streams[j].id != NULL &&
			    strcmp(c->streams[j].id, st->id) == 0)
				conf_error(p, "streams '%s' and '%s' share an id",
				    c->streams[j].name, st->name);
		if (st->table != NULL && ((s = strchr(st->table, '.')) == NULL ||
		    strchr(s + 1, '.') == NULL))
			conf_error(p, "stream '%s': table must be "
			    "project.dataset.table", st->name);
		conf_check_clustering(p, st);
		conf_check_delivery(p, st);
		if (st->response == CONF_RESP_FILE) {
			if (conf_read_file(p, st->response_file,
			    &st->response_body, &st->response_len,
			    1024 * 1024) == 0 && st->response_content_type == NULL)
				st->response_content_type =
				    xstrdup("text/plain; charset=utf-8");
		}
		if (st->signature != CONF_SIG_NONE) {
			if (st->signature_secret == NULL &&
			    st->signature_secret_file != NULL) {
				struct stat sb;

				if (stat(st->signature_secret_file, &sb) == 0 &&
				    (sb.st_mode & S_IROTH))
					conf_error(p, "stream '%s': '%s' holds a "
					    "secret and is readable by others; "
					    "chmod o-r it", st->name,
					    st->signature_secret_file);
				else if (conf_read_file(p,
				    st->signature_secret_file,
				    &st->signature_secret,
				    &st->signature_secret_len, 64 * 1024) == 0) {
					/* A trailing newline is not part of it. */
					while (st->signature_secret_len > 0 &&
					    (st->signature_secret[
					    st->signature_secret_len - 1] == '\n' ||
					    st->signature_secret[
					    st->signature_secret_len - 1] == '\r'))
						st->signature_secret[
						    --st->signature_secret_len] = '\0';
				}
			} else if (st->signature_secret != NULL)
				st->signature_secret_len =
				    strlen(st->signature_secret);
			if (st->signature_secret == NULL)
				conf_error(p, "stream '%s': signature needs "
				    "signature_secret or signature_secret_file",
				    st->name);
			else if (st->signature == CONF_SIG_STANDARD)
				conf_check_std_secret(p, st);
			if (st->signature_covers == CONF_SIGCOV_BODY &&
			    st->signature_policy == CONF_SIGPOL_REJECT &&
			    !(st->methods & (CONF_M_POST | CONF_M_PUT)))
				conf_error(p, "stream '%s': a signature over "
				    "the body refuses GET and HEAD, and "
				    "methods has neither POST nor PUT "
				    "(signature_covers = query?)", st->name);
			if (st->signature == CONF_SIG_HMAC_SHA256 &&
			    st->signature_header == NULL)
				conf_error(p, "stream '%s': signature "
				    "hmac-sha256 needs signature_header",
				    st->name);
		}
	}
}

/*
 * Whoever may write the file chooses the programs we run (credentials =
 * command:...): as msmtp, trust it only when its owner is root or
 * ourselves and others cannot write it.  Returns the number of errors.
 */
static int
conf_perms(const struct conf *c, const char *path, const struct stat *sb)
{
	int errors = 0;

	if (c->has_secret && (sb->st_mode & S_IROTH)) {
		log_warnx("%s: holds a secret (token or signature_secret) and "
		    "is readable by others; chmod o-r it", path);
		errors++;
	}
	if (sb->st_mode & S_IWOTH) {
		log_warnx("%s: is writable by others; chmod o-w it", path);
		errors++;
	}
	if (sb->st_uid != 0 && sb->st_uid != geteuid()) {
		log_warnx("%s: belongs to uid %lu, neither root nor the user "
		    "running this (uid %lu); chown it", path,
		    (unsigned long)sb->st_uid, (unsigned long)geteuid());
		errors++;
	}
	return errors;
}

/*
 * A configuration holding the global defaults of the key table and no
 * stream, for a program that fills it by hand (tests/tools/bq-probe);
 * conf_load starts from it too.  Free it with conf_free.
 */
struct conf *
conf_new(void)
{
	struct conf_parse p;
	struct conf *c;

	memset(&p, 0, sizeof p);
	c = xcalloc(1, sizeof *c);
	p.conf = c;
	p.path = "(defaults)";
	conf_defaults(&p, SC_GLOBAL, c);
	return c;
}

struct conf *
conf_load(const char *path, int check_perms)
{
	struct conf_parse p;
	struct conf *c;
	struct stat sb;
	int rc;

	memset(&p, 0, sizeof p);
	c = conf_new();
	c->path = xstrdup(path);
	p.conf = c;
	p.path = path;
	if ((p.fp = fopen(path, "r")) == NULL) {
		log_warn("cannot open config '%s'", path);
		goto fail;
	}
	rc = ini_parse_stream(conf_reader, &p, conf_handler, &p);
	free(p.lbuf);
	if (rc > 0) {
		p.line = rc;
		conf_error(&p, "syntax error");
	} else if (rc < 0) {
		log_warnx("%s: cannot parse", path);
		p.errors++;
	}
	if (fstat(fileno(p.fp), &sb) == -1) {
		log_warn("%s: fstat", path);
		p.errors++;
	} else if (check_perms)
		p.errors += conf_perms(c, path, &sb);
	fclose(p.fp);
	conf_check(&p);
	if (p.errors > 0)
		goto fail;
	return c;
fail:
	conf_free(c);
	return NULL;
}

static void
conf_free_fields(struct conf *c)
{
	size_t i, k;
	struct conf_stream *st;

	for (k = 0; k < CONF_NKEYS; k++)
		if (conf_keys[k].scope == SC_GLOBAL &&
		    (conf_keys[k].type == T_STR || conf_keys[k].type == T_SECRET))
			free(*(char **)((char *)c + conf_keys[k].off));
	for (i = 0; i < c->nstreams; i++) {
		st = &c->streams[i];
		for (k = 0; k < CONF_NKEYS; k++)
			if (conf_keys[k].scope == SC_STREAM &&
			    (conf_keys[k].type == T_STR ||
			    conf_keys[k].type == T_SECRET))
				free(*(char **)((char *)st + conf_keys[k].off));
		free(st->name);
		free(st->utc_offset_str);
		tz_free(st->tz);
		free(st->response_file);
		free(st->response_body);
	}
	free(c->streams);
	free(c->path);
}

void
conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	conf_free_fields(c);
	free(c);
}

struct conf_stream *
conf_stream_by_name(const struct conf *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nstreams; i++)
		if (strcmp(c->streams[i].name, name) == 0)
			return &c->streams[i];
	return NULL;
}

static void
conf_print_size(FILE *fp, uint64_t v)
{
	static const char units[] = "KMGT";
	int u = -1;

	while (v != 0 && v % 1024 == 0 && u < 3) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		fprintf(fp, "%" PRIu64, v);
	else
		fprintf(fp, "%" PRIu64 "%c", v, units[u]);
}

static void
conf_print_duration(FILE *fp, long v)
{
	if (v != 0 && v % 86400 == 0)
		fprintf(fp, "%ldd", v / 86400);
	else if (v != 0 && v % 3600 == 0)
		fprintf(fp, "%ldh", v / 3600);
	else if (v != 0 && v % 60 == 0)
		fprintf(fp, "%ldm", v / 60);
	else
		fprintf(fp, "%lds", v);
}

static void
conf_print_value(FILE *fp, const struct conf_key *k, const void *base)
{
	const char *field = (const char *)base + k->off;
	const struct conf_stream *st = base;
	const char *s;
	size_t i;
	int first = 1;

	switch (k->type) {
	case T_SECRET:
		fputs(*(char *const *)field != NULL ? "(set, hidden)" : "",
		    fp);
		break;
	case T_STR:
		s = *(char *const *)field;
		fputs(s != NULL ? s : "", fp);
		break;
	case T_SIZE:
		conf_print_size(fp, *(const size_t *)field);
		break;
	case T_SIZE64:
		conf_print_size(fp, *(const uint64_t *)field);
		break;
	case T_ULONG:
		fprintf(fp, "%lu", *(const unsigned long *)field);
		break;
	case T_DURATION:
		conf_print_duration(fp, *(const long *)field);
		break;
	case T_OFFSET:
		fputs(st->utc_offset_str, fp);
		break;
	case T_COLUMNS:
		for (i = 0; i < st->ncolumns; i++)
			fprintf(fp, "%s%s", i ? " " : "",
			    hit_columns[st->columns[i]].name);
		break;
	case T_METHODS:
		for (i = 0; i < sizeof conf_methods / sizeof conf_methods[0];
		    i++)
			if (st->methods & conf_methods[i].bit) {
				fprintf(fp, "%s%s", first ? "" : " ",
				    conf_methods[i].name);
				first = 0;
			}
		break;
	case T_RESPONSE:
		if (st->response == CONF_RESP_FILE)
			fprintf(fp, "file:%s", st->response_file);
		else
			fputs(st->response == CONF_RESP_JSON ? "json" :
			    st->response == CONF_RESP_EMPTY ? "empty" : "pixel",
			    fp);
		break;
	case T_SYNC:
	case T_SIG:
	case T_SIGENC:
	case T_SIGPOL:
	case T_SIGCOV:
	case T_BOOL:
		fputs(conf_enum_names[k->type][*(const int *)field], fp);
		break;
	}
}

static char *
conf_format(const struct conf_key *k, const void *base)
{
	char *text = NULL;
	size_t len;
	FILE *fp;

	if ((fp = open_memstream(&text, &len)) == NULL)
		return xstrdup("?");
	conf_print_value(fp, k, base);
	fclose(fp);
	return text;
}

static void
conf_print_section(FILE *fp, enum conf_scope scope, const void *base,
    const void *defaults)
{
	char *v, *d;
	size_t k;

	for (k = 0; k < CONF_NKEYS; k++) {
		if (conf_keys[k].scope != scope)
			continue;
		v = conf_format(&conf_keys[k], base);
		d = conf_format(&conf_keys[k], defaults);
		if (strcmp(v, d) == 0)
			fprintf(fp, "%s = %s\n", conf_keys[k].name, v);
		else
			fprintf(fp, "%s = %s\t# default: %s\n",
			    conf_keys[k].name, v, *d ? d : "(unset)");
		free(v);
		free(d);
	}
}

/* Effective values, each with its default where the file changed it. */
void
conf_print(const struct conf *c, FILE *fp)
{
	struct conf_parse p;
	struct conf dc;
	struct conf_stream ds;
	size_t i;

	memset(&p, 0, sizeof p);
	memset(&dc, 0, sizeof dc);
	memset(&ds, 0, sizeof ds);
	p.conf = &dc;
	p.path = "(defaults)";
	conf_defaults(&p, SC_GLOBAL, &dc);
	conf_defaults(&p, SC_STREAM, &ds);
	fprintf(fp, "# %s\n", c->path);
	conf_print_section(fp, SC_GLOBAL, c, &dc);
	for (i = 0; i < c->nstreams; i++) {
		fprintf(fp, "\n[stream %s]\n", c->streams[i].name);
		conf_print_section(fp, SC_STREAM, &c->streams[i], &ds);
	}
	dc.streams = xcalloc(1, sizeof *dc.streams);
	dc.streams[0] = ds;
	dc.nstreams = 1;
	dc.path = NULL;
	conf_free_fields(&dc);
}
