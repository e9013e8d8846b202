/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * tz: a TZif reader and the POSIX TZ rule of its footer.
 *
 * Why not localtime_r: glibc reads the zone from the TZ environment, one
 * zone per process, and changing TZ in a threaded responder is a data
 * race; each stream needs its own zone.  The whole zone is a few hundred
 * transitions, so it is parsed once and kept in memory.
 *
 * Bounds: a file is read only up to TZ_MAX_FILE bytes, every count is
 * checked against the bytes that remain before it is used, transitions
 * must ascend and type indices must exist, and a footer rule must parse
 * whole; anything else makes the zone unusable (NULL), never a guess.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tz.h"
#include "xmalloc.h"

#define TZ_MAX_FILE	(1024 * 1024)
#define TZ_MAX_TYPES	256
#define TZ_HOUR		3600

/* A rule date: Jn (1-365, no Feb 29), n (0-365) or Mm.w.d; then time. */
struct tz_date {
	char		 kind;		/* 'J', 'n' or 'M' */
	int		 n, m, w, d;
	int32_t		 secs;		/* local time of the change */
};

struct tz_rule {
	int		 set;		/* a footer rule exists */
	int		 has_dst;
	int32_t		 std_off;	/* seconds east of UTC */
	int32_t		 dst_off;
	struct tz_date	 start, end;
};

struct tz {
	size_t		 n;
	int64_t		*when;		/* ascending transition times */
	int32_t		*off;		/* offset from when[i] on */
	int32_t		 before;	/* offset before when[0] */
	struct tz_rule	 rule;
};

static uint32_t
tz_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static int64_t
tz_be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)tz_be32(p) << 32 | tz_be32(p + 4));
}

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm). */
static int64_t
tz_days(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
tz_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
tz_mdays(int64_t y, int m)
{
	static const int md[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
		30, 31 };

	return m == 2 && tz_leap(y) ? 29 : md[m - 1];
}

/* The year of a day number (inverse of tz_days). */
static int64_t
tz_year(int64_t z)
{
	int64_t era, doe, yoe, doy, mp, y;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	return y + (mp >= 10);
}

static int64_t
tz_floordiv(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Local seconds since the epoch of a rule date in year y. */
static int64_t
tz_rule_local(const struct tz_date *dt, int64_t y)
{
	int64_t day;
	int wd1, md;

	switch (dt->kind) {
	case 'J':
		day = tz_days(y, 1, 1) + dt->n - 1 +
		    (tz_leap(y) && dt->n >= 60);
		break;
	case 'n':
		day = tz_days(y, 1, 1) + dt->n;
		break;
	default:
		/* 1970-01-01 was a Thursday (4). */
		wd1 = (int)(((tz_days(y, dt->m, 1) + 4) % 7 + 7) % 7);
		md = 1 + (dt->d - wd1 + 7) % 7 + (dt->w - 1) * 7;
		while (md > tz_mdays(y, dt->m))
			md -= 7;
		day = tz_days(y, dt->m, md);
		break;
	}
	return day * 86400 + dt->secs;
}

static int32_t
tz_rule_offset(const struct tz_rule *r, int64_t t)
{
	int64_t y, start, end;

	if (!r->has_dst)
		return r->std_off;
	y = tz_year(tz_floordiv(t + r->std_off, 86400));
	start = tz_rule_local(&r->start, y) - r->std_off;
	end = tz_rule_local(&r->end, y) - r->dst_off;
	if (start <= end)
		return t >= start && t < end ? r->dst_off : r->std_off;
	/* Southern hemisphere: daylight time spans the new year. */
	return t >= end && t < start ? r->std_off : r->dst_off;
}

/* A number of at most max, one or more digits. */
static int
tz_num(const char **sp, int max, int *out)
{
	const char *s = *sp;
	int v = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	while (isdigit((unsigned char)*s)) {
		v = v * 10 + (*s++ - '0');
		if (v > max)
			return -1;
	}
	*sp = s;
	*out = v;
	return 0;
}

/* [+-]hh[:mm[:ss]], hours up to maxh; seconds. */
static int
tz_hms(const char **sp, int maxh, int32_t *out)
{
	const char *s = *sp;
	int sign = 1, h, m = 0, sec = 0;

	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	if (tz_num(&s, maxh, &h) == -1)
		return -1;
	if (*s == ':') {
		s++;
		if (tz_num(&s, 59, &m) == -1)
			return -1;
		if (*s == ':') {
			s++;
			if (tz_num(&s, 59, &sec) == -1)
				return -1;
		}
	}
	*sp = s;
	*out = sign * (h * 3600 + m * 60 + sec);
	return 0;
}

/* A zone abbreviation: 3+ letters, or <...> of [A-Za-z0-9+-]. */
static int
tz_abbr(const char **sp)
{
	const char *s = *sp, *b = s;

	if (*s == '<') {
		for (b = ++s; isalnum((unsigned char)*s) || *s == '+' ||
		    *s == '-'; s++)
			;
		if (*s != '>' || s - b < 3)
			return -1;
		*sp = s + 1;
		return 0;
	}
	while (isalpha((unsigned char)*s))
		s++;
	if (s - b < 3)
		return -1;
	*sp = s;
	return 0;
}

static int
tz_rule_date(const char **sp, struct tz_date *dt)
{
	const char *s = *sp;

	dt->secs = 2 * TZ_HOUR;
	if (*s == 'J') {
		s++;
		dt->kind = 'J';
		if (tz_num(&s, 365, &dt->n) == -1 || dt->n < 1)
			return -1;
	} else if (*s == 'M') {
		s++;
		dt->kind = 'M';
		if (tz_num(&s, 12, &dt->m) == -1 || dt->m < 1 || *s++ != '.' ||
		    tz_num(&s, 5, &dt->w) == -1 || dt->w < 1 || *s++ != '.' ||
		    tz_num(&s, 6, &dt->d) == -1)
			return -1;
	} else {
		dt->kind = 'n';
		if (tz_num(&s, 365, &dt->n) == -1)
			return -1;
	}
	/* RFC 8536 extends the hour range to -167..167. */
	if (*s == '/' && (s++, tz_hms(&s, 167, &dt->secs) == -1))
		return -1;
	*sp = s;
	return 0;
}

/* A POSIX TZ string as in a TZif footer: "CET-1CEST,M3.5.0,M10.5.0/3". */
static int
tz_rule_parse(const char *s, struct tz_rule *r)
{
	int32_t v;

	memset(r, 0, sizeof *r);
	if (tz_abbr(&s) == -1 || tz_hms(&s, 24, &v) == -1)
		return -1;
	r->std_off = -v;	/* POSIX counts west */
	r->dst_off = r->std_off + TZ_HOUR;
	if (*s != '\0') {
		if (tz_abbr(&s) == -1)
			return -1;
		r->has_dst = 1;
		if (*s != ',' && *s != '\0') {
			if (tz_hms(&s, 24, &v) == -1)
				return -1;
			r->dst_off = -v;
		}
		/* No rule: the zone must carry one; the US rule is a guess. */
		if (*s++ != ',' || tz_rule_date(&s, &r->start) == -1 ||
		    *s++ != ',' || tz_rule_date(&s, &r->end) == -1)
			return -1;
	}
	if (*s != '\0')
		return -1;
	r->set = 1;
	return 0;
}

void
tz_free(struct tz *z)
{
	if (z == NULL)
		return;
	free(z->when);
	free(z->off);
	free(z);
}

struct tz *
tz_parse(const unsigned char *p, size_t len)
{
	struct tz *z = NULL;
	const unsigned char *types, *idx, *times, *end = p + len;
	uint32_t isut, isstd, leap, timecnt, typecnt, charcnt;
	size_t tsize = 4, need, i;
	int32_t toff[TZ_MAX_TYPES];
	char footer[256];
	const unsigned char *nl;
	int version;

	if (len < 44 || memcmp(p, "TZif", 4) != 0)
		return NULL;
	version = p[4] == 0 ? 1 : p[4] - '0';
	if (version < 1 || version > 4)
		return NULL;
	for (;;) {
		if ((size_t)(end - p) < 44 || memcmp(p, "TZif", 4) != 0)
			return NULL;
		isut = tz_be32(p + 20);
		isstd = tz_be32(p + 24);
		leap = tz_be32(p + 28);
		timecnt = tz_be32(p + 32);
		typecnt = tz_be32(p + 36);
		charcnt = tz_be32(p + 40);
		if (typecnt == 0 || typecnt > TZ_MAX_TYPES ||
		    timecnt > 100000 || leap > 100000 || charcnt > 100000 ||
		    isut > typecnt || isstd > typecnt)
			return NULL;
		p += 44;
		need = timecnt * tsize + timecnt + typecnt * 6 + charcnt +
		    leap * (tsize + 4) + isstd + isut;
		if ((size_t)(end - p) < need)
			return NULL;
		/* Version 2+: skip the 32-bit block for the 64-bit one. */
		if (version == 1 || tsize == 8)
			break;
		p += need;
		tsize = 8;
	}
	times = p;
	idx = times + timecnt * tsize;
	types = idx + timecnt;
	z = xcalloc(1, sizeof *z);
	for (i = 0; i < typecnt; i++) {
		toff[i] = (int32_t)tz_be32(types + i * 6);
		/* -89999..93599 per RFC 8536: nothing beyond 25 hours. */
		if (toff[i] <= -25 * TZ_HOUR || toff[i] >= 26 * TZ_HOUR ||
		    types[i * 6 + 4] > 1 || types[i * 6 + 5] >= charcnt)
			goto fail;
	}
	z->before = toff[0];
	z->n = timecnt;
	z->when = xreallocarray(NULL, timecnt + 1, sizeof *z->when);
	z->off = xreallocarray(NULL, timecnt + 1, sizeof *z->off);
	for (i = 0; i < timecnt; i++) {
		z->when[i] = tsize == 8 ? tz_be64(times + i * 8) :
		    (int32_t)tz_be32(times + i * 4);
		if (i > 0 && z->when[i] <= z->when[i - 1])
			goto fail;
		if (idx[i] >= typecnt)
			goto fail;
		z->off[i] = toff[idx[i]];
	}
	p += need;
	if (version >= 2) {
		/* "\n" POSIX-TZ "\n"; an empty rule means none. */
		if (p >= end || *p != '\n')
			goto fail;
		p++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL ||
		    (size_t)(nl - p) >= sizeof footer)
			goto fail;
		memcpy(footer, p, (size_t)(nl - p));
		footer[nl - p] = '\0';
		if (memchr(footer, '\0', (size_t)(nl - p)) != NULL)
			goto fail;
		if (*footer != '\0' && tz_rule_parse(footer, &z->rule) == -1)
			goto fail;
	}
	return z;
fail:
	tz_free(z);
	return NULL;
}

/* Seconds east of UTC at t (seconds since the epoch). */
int32_t
tz_offset(const struct tz *z, int64_t t)
{
	size_t lo = 0, hi, mid;

	if (z->n == 0 || t < z->when[0])
		return z->n == 0 && z->rule.set ?
		    tz_rule_offset(&z->rule, t) : z->before;
	if (t >= z->when[z->n - 1] && z->rule.set)
		return tz_rule_offset(&z->rule, t);
	/* The last transition at or before t. */
	hi = z->n;
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (z->when[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return z->off[lo];
}

/*
 * A zone name as the zoneinfo folder holds them: "Europe/Berlin",
 * "America/Argentina/Buenos_Aires", "Etc/GMT+3"; no "..", no leading '/'.
 */
int
tz_valid_name(const char *s)
{
	const char *part;
	size_t len = strlen(s);

	if (len == 0 || len > 128 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789/_+-") != len ||
	    !isalpha((unsigned char)*s))
		return 0;
	for (part = s; part != NULL; part = strchr(part, '/')) {
		if (*part == '/')
			part++;
		if (*part == '\0' || *part == '/' || *part == '-')
			return 0;
	}
	return 1;
}

/* The zone from $TZDIR or /usr/share/zoneinfo; NULL after logging. */
struct tz *
tz_load(const char *name)
{
	const char *dir = getenv("TZDIR");
	unsigned char *data = NULL;
	struct tz *z = NULL;
	size_t len = 0;
	ssize_t n;
	char *path = NULL;
	int fd = -1;

	if (!tz_valid_name(name)) {
		log_warnx("tz: '%s' is not a zone name", name);
		return NULL;
	}
	if (dir == NULL || *dir == '\0')
		dir = "/usr/share/zoneinfo";
	path = xasprintf("%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warnx("tz: cannot open '%s': %s", path, strerror(errno));
		goto fail;
	}
	data = xmalloc(TZ_MAX_FILE);
	while (len < TZ_MAX_FILE &&
	    (n = read(fd, data + len, TZ_MAX_FILE - len)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_warnx("tz: cannot read '%s': %s", path,
			    strerror(errno));
			goto fail;
		}
		len += (size_t)n;
	}
	if ((z = tz_parse(data, len)) == NULL)
		log_warnx("tz: '%s' is not a TZif file this reader takes",
		    path);
fail:
	if (fd != -1)
		close(fd);
	free(data);
	free(path);
	return z;
}
