/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * spool_check_batch, the uploader's check while it sends, must judge a
 * batch as spool_scan (validation) does: the same first bad line, on
 * lines longer than its buffer too; its progress only ever names the end
 * of a good line; it stops when asked and fails on a short file.  A batch
 * whose bytes match its writer's seal (size and CRC-32) is taken on the
 * seal; any other seal is ignored and the lines are checked.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>

#include "spool.h"
#include "tap.h"
#include "xmalloc.h"

static char dir[] = "/tmp/test_spool_check.XXXXXX";

/* Progress: offsets seen, all at line ends of the file's bytes. */
struct seen {
	const char	*data;
	uint64_t	 last;
	int		 calls, misplaced, stop_after;
};

static int
progress(void *arg, uint64_t n)
{
	struct seen *s = arg;

	s->calls++;
	if (n < s->last || (n > 0 && s->data[n - 1] != '\n'))
		s->misplaced++;
	s->last = n;
	return s->stop_after > 0 && s->calls >= s->stop_after;
}

/* spool_scan's first bad line, 0 when none. */
struct first {
	unsigned long	 lineno;
};

static void
first_bad(void *arg, unsigned long lineno, const char *line, size_t len,
    const char *why)
{
	struct first *f = arg;

	(void)line;
	(void)len;
	if (why != NULL && f->lineno == 0)
		f->lineno = lineno;
}

static char *
put(const char *name, const char *data, size_t len)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *fp = fopen(path, "w");

	if (fp == NULL || fwrite(data, 1, len, fp) != len || fclose(fp) != 0)
		abort();
	return path;
}

static const char good[] =
    "{\"hit_id\":\"a\",\"payload\":\"x=1\",\"received_at\":1}\n";

/* A batch of n good lines with text (or nothing) as line bad (1-based). */
static char *
batch(size_t n, size_t bad, const char *text, size_t *len)
{
	struct { char *p; size_t n; } b = { NULL, 0 };
	FILE *fp = open_memstream(&b.p, &b.n);
	size_t i;

	for (i = 1; i <= n; i++)
		fputs(i == bad ? text : good, fp);
	fclose(fp);
	*len = b.n;
	return b.p;
}

/* Both judges on one file: the same first bad line. */
static void
same(const char *what, const char *data, size_t len)
{
	struct seen s = { data, 0, 0, 0, 0 };
	struct first f = { 0 };
	unsigned long good_n, bad_n, lineno;
	const char *why;
	char *path = put("b.ndjson", data, len);
	int rc;

	ok(spool_scan(path, 0, first_bad, &f, &good_n, &bad_n) == 0,
	    "%s: spool_scan reads it", what);
	rc = spool_check_batch(path, len, progress, &s, &lineno, &why);
	is_int(rc, f.lineno == 0 ? 0 : 1, "%s: the same verdict", what);
	if (rc == 1) {
		is_int(lineno, f.lineno, "%s: the same first bad line", what);
		ok(why != NULL, "%s: says why (%s)", what, why);
	}
	is_int(s.misplaced, 0, "%s: progress only at good line ends", what);
	if (rc == 0)
		is_int(s.last, len, "%s: progress reaches the end", what);
	unlink(path);
	free(path);
}

/*
 * A batch with a bad line 3 under a seal: matching (the writer's: taken on
 * trust, which is what shows the lines were not read), of another CRC,
 * another size, or unreadable (checked line by line, bad line found).
 */
static void
seals(void)
{
	unsigned long lineno;
	const char *why;
	struct seen s;
	char *data, *path, v[64];
	size_t len;
	uLong crc;
	int rc;

	data = batch(5, 3, "{\"hit_id\":\"x\",\"bad\":}\n", &len);
	crc = crc32(0, (const Bytef *)data, (uInt)len);
	path = put("s.ndjson", data, len);
	snprintf(v, sizeof v, "%zu %08lx", len, crc);
	if (setxattr(path, "user.hookspool.crc32", v, strlen(v), 0) == -1) {
		ok(errno == ENOTSUP, "seals: setxattr: %s", strerror(errno));
		printf("# %s keeps no user xattrs: seals not tested\n", dir);
		goto out;
	}
	memset(&s, 0, sizeof s);
	s.data = data;
	rc = spool_check_batch(path, len, progress, &s, &lineno, &why);
	is_int(rc, 0, "a matching seal is taken on trust (the bad line unread)");
	ok(s.calls == 1 && s.last == len, "... and progress says all of it");
	snprintf(v, sizeof v, "%zu %08lx", len, crc ^ 1);
	(void)setxattr(path, "user.hookspool.crc32", v, strlen(v), 0);
	rc = spool_check_batch(path, len, NULL, NULL, &lineno, &why);
	ok(rc == 1 && lineno == 3, "a seal whose CRC differs: lines checked, "
	    "line 3 bad (rc %d, line %lu)", rc, lineno);
	snprintf(v, sizeof v, "%zu %08lx", len + 1, crc);
	(void)setxattr(path, "user.hookspool.crc32", v, strlen(v), 0);
	rc = spool_check_batch(path, len, NULL, NULL, &lineno, &why);
	ok(rc == 1 && lineno == 3, "a seal of another size: lines checked "
	    "(rc %d, line %lu)", rc, lineno);
	(void)setxattr(path, "user.hookspool.crc32", "junk", 4, 0);
	rc = spool_check_batch(path, len, NULL, NULL, &lineno, &why);
	ok(rc == 1 && lineno == 3, "an unreadable seal: lines checked "
	    "(rc %d, line %lu)", rc, lineno);
	snprintf(v, sizeof v, "%zu %08lx", len, crc);
	(void)setxattr(path, "user.hookspool.crc32", v, strlen(v), 0);
	rc = spool_check_batch(path, len - 3, NULL, NULL, &lineno, &why);
	ok(rc == 1, "a job sending less than the sealed size: lines checked");
	snprintf(v, sizeof v, "%zu %08lx", len + 10, crc);
	(void)setxattr(path, "user.hookspool.crc32", v, strlen(v), 0);
	errno = 0;
	rc = spool_check_batch(path, len + 10, NULL, NULL, &lineno, &why);
	ok(rc == -1 && errno == EIO, "a sealed batch shorter than its size: "
	    "an error (rc %d, %s)", rc, strerror(errno));
out:
	unlink(path);
	free(path);
	free(data);
}

int
main(void)
{
	unsigned long lineno;
	const char *why;
	struct seen s;
	char *data, *big, *path;
	size_t len, n;

	if (mkdtemp(dir) == NULL)
		return 1;
	data = batch(10, 0, NULL, &len);
	same("good lines", data, len);
	free(data);
	data = batch(10, 4, "not json\n", &len);
	same("a bad line in the middle", data, len);
	free(data);
	data = batch(10, 1, "\n", &len);
	same("an empty first line", data, len);
	free(data);
	data = batch(10, 10, "{\"hit_id\":\"z\"", &len);
	same("a torn last line", data, len);
	free(data);
	data = batch(10, 7, "{\"payload\":\"no id\"}\n", &len);
	same("a line without hit_id", data, len);
	free(data);
	same("an empty file", "", 0);

	/* Lines longer than the 1 MiB first buffer, around a bad one. */
	n = 3 * 1024 * 1024;
	big = xmalloc(n + 64);
	len = (size_t)snprintf(big, 64, "{\"hit_id\":\"a\",\"p\":\"");
	memset(big + len, 'x', n - len - 3);
	memcpy(big + n - 3, "\"}\n", 3);
	data = xmalloc(3 * n);
	memcpy(data, big, n);
	memcpy(data + n, good, sizeof good - 1);
	memcpy(data + n + sizeof good - 1, big, n);
	same("3 MiB lines", data, 2 * n + sizeof good - 1);
	data[n + 3] = '\x01';	/* a control byte in the short line */
	same("a bad line between 3 MiB lines", data, 2 * n + sizeof good - 1);
	memcpy(data + 2 * n + sizeof good - 1 - 2, "\x80\n", 2);
	data[n + 3] = 'i';
	same("a bad byte at the end of a 3 MiB line", data,
	    2 * n + sizeof good - 1);
	free(big);
	free(data);

	/* Only the recorded size counts; a shorter file fails. */
	data = batch(4, 0, NULL, &len);
	path = put("c.ndjson", data, len);
	is_int(spool_check_batch(path, len - 5, NULL, NULL, &lineno, &why), 1,
	    "a size that ends mid-line: a torn last line");
	is_int(lineno, 4, "on line 4");
	is_int(spool_check_batch(path, len - (sizeof good - 1), NULL, NULL,
	    &lineno, &why), 0, "a size at a line end: good");
	errno = 0;
	is_int(spool_check_batch(path, len + 1, NULL, NULL, &lineno, &why), -1,
	    "a file shorter than its size: an error");
	ok(errno != 0, "with errno set");
	unlink(path);
	free(path);
	free(data);

	/* The progress callback stops it. */
	n = 4 * 1024 * 1024 / (sizeof good - 1);
	data = batch(n, 0, NULL, &len);
	path = put("d.ndjson", data, len);
	memset(&s, 0, sizeof s);
	s.data = data;
	s.stop_after = 1;
	is_int(spool_check_batch(path, len, progress, &s, &lineno, &why), 2,
	    "stopped when progress says so");
	is_int(s.calls, 1, "after one piece");
	ok(s.last > 0 && s.last < len, "part way (%llu of %zu)",
	    (unsigned long long)s.last, len);
	unlink(path);
	free(path);
	free(data);
	is_int(spool_check_batch("/nonexistent/x", 1, NULL, NULL, &lineno,
	    &why), -1, "a missing batch: an error");
	seals();
	rmdir(dir);
	return tap_done();
}
