/*
 * fastcheck: times src/jsoncheck.c (the non-allocating hit-line validator
 * that replaced jansson in the uploader's validation pass; it began here
 * as a prototype) against jansson, and compares their verdicts.
 *
 *   fastcheck [-j] [-m N] DIR|FILE...
 *   fastcheck -e
 *
 * Judges every line of the files (a folder: its *.ndjson files) the way
 * spool_check_line() does -- json_loadb(JSON_REJECT_DUPLICATES |
 * JSON_ALLOW_NUL) must accept it, it must be an object, and its "hit_id"
 * must be a non-empty string -- but with a single pass over the bytes that
 * builds nothing: RFC 8259 grammar, strict UTF-8, \u escapes with paired
 * surrogates, no NUL in keys, integers within int64, reals finite, at most
 * 2048 levels, no duplicate key in any object (keys compared as decoded
 * bytes).  Files are mapped one at a time, in name order; prints "files
lines bad seconds", the time of mapping and judging them.
 *   -j    run jansson's check too, time it, and count the lines where the
 *         two verdicts differ (must be 0)
 *   -m N  also compare the verdicts on N random mutations of each line
 *         (bytes flipped, dropped, doubled, or replaced by JSON's
 *         structural characters); implies -j
 *   -e    compare the verdicts on built-in edge cases (duplicate keys,
 *         also escaped and nested; NUL in keys; lone surrogates; int64
 *         bounds; 1e400; bad UTF-8; nesting 2047/2048/3000 deep; ...)
 * Not part of hookspool: evidence for bench/UPLOAD.md.  Exit 0 when the
 * verdicts agree (or -j was not given), 1 otherwise, 2 on usage or I/O
 * errors.
 */
#define _GNU_SOURCE

#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jsoncheck.h"

/* 1 when the line is a hit record: src/jsoncheck.c, which grew from this
 * prototype and is what the uploader runs. */
static int
fc_line(const char *p, size_t len)
{
	return jsoncheck_hit_line(p, len) == NULL;
}

/* spool_check_line's verdict, through jansson. */
static int
fc_jansson(const char *p, size_t len)
{
	json_t *j, *id;
	json_error_t err;
	int ok;

	if (len == 0)
		return 0;
	/*
	 * jansson skips a raw NUL right after a number or literal; jsoncheck
	 * does not (see src/jsoncheck.c).  Raw NULs are valid nowhere else.
	 */
	if (memchr(p, '\0', len) != NULL)
		return 0;
	j = json_loadb(p, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
	if (j == NULL)
		return 0;
	ok = json_is_object(j) && (id = json_object_get(j, "hit_id")) !=
	    NULL && json_is_string(id) && json_string_length(id) > 0;
	json_decref(j);
	return ok;
}

static double
fc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The files to judge: a folder's *.ndjson by name, or the file itself. */
static int
fc_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
fc_add(const char *arg, char ***v, size_t *n)
{
	struct stat sb;
	struct dirent *de;
	DIR *d;
	char **names = NULL;
	size_t k = 0, i;

	if (stat(arg, &sb) == -1) {
		perror(arg);
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		*v = realloc(*v, (*n + 1) * sizeof **v);
		(*v)[(*n)++] = strdup(arg);
		return 0;
	}
	if ((d = opendir(arg)) == NULL) {
		perror(arg);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		if (de->d_name[0] == '.' || l < 7 ||
		    strcmp(de->d_name + l - 7, ".ndjson") != 0)
			continue;
		names = realloc(names, (k + 1) * sizeof *names);
		names[k++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, k, sizeof *names, fc_cmp);
	*v = realloc(*v, (*n + k) * sizeof **v);
	for (i = 0; i < k; i++) {
		if (asprintf(&(*v)[*n], "%s/%s", arg, names[i]) == -1)
			return -1;
		(*n)++;
		free(names[i]);
	}
	free(names);
	return 0;
}

/* Map one file (read-only; a batch at a time, as a validator would). */
static int
fc_map(const char *path, const char **data, size_t *len)
{
	struct stat sb;
	void *m = NULL;
	int fd;

	if ((fd = open(path, O_RDONLY)) == -1 || fstat(fd, &sb) == -1) {
		perror(path);
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (sb.st_size > 0 && (m = mmap(NULL, (size_t)sb.st_size, PROT_READ,
	    MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
		perror(path);
		close(fd);
		return -1;
	}
	close(fd);
	*data = m;
	*len = (size_t)sb.st_size;
	return 0;
}

/* Lines where a validator is easy to get wrong; -e compares the verdicts. */
static const char *const fc_edges[] = {
	"{\"hit_id\":\"a\"}", "{\"hit_id\":\"\"}", "{\"hit_id\":1}",
	"{\"x\":{\"hit_id\":\"a\"}}", "{\"hit_id\":\"a\",\"hit_id\":\"b\"}",
	"{\"hit_id\":\"a\",\"h\\u0069t_id\":\"b\"}",
	"{\"hit_id\":\"a\",\"x\":{\"k\":1,\"k\":2}}",
	"{\"hit_id\":\"a\",\"x\":[{\"k\":1},{\"k\":2}]}",
	"{\"hit_id\":\"a\",\"k\\u0000\":1}", "{\"hit_id\":\"\\u0000\"}",
	"{\"hit_id\":\"a\",\"p\":\"\\ud800\"}",
	"{\"hit_id\":\"a\",\"p\":\"\\ud800\\udc00\"}",
	"{\"hit_id\":\"a\",\"p\":\"\\udc00\"}",
	"{\"hit_id\":\"a\",\"n\":9223372036854775807}",
	"{\"hit_id\":\"a\",\"n\":9223372036854775808}",
	"{\"hit_id\":\"a\",\"n\":-9223372036854775808}",
	"{\"hit_id\":\"a\",\"n\":-9223372036854775809}",
	"{\"hit_id\":\"a\",\"n\":1e400}", "{\"hit_id\":\"a\",\"n\":1e-400}",
	"{\"hit_id\":\"a\",\"n\":01}", "{\"hit_id\":\"a\",\"n\":-}",
	"{\"hit_id\":\"a\",\"n\":1.}", "{\"hit_id\":\"a\"} x",
	"{\"hit_id\":\"a\"}  ", "  {\"hit_id\":\"a\"}", "[{\"hit_id\":\"a\"}]",
	"{\"hit_id\":\"a\",}", "{\"hit_id\":\"a\" \"b\":1}",
	"{\"hit_id\":\"\xc3\xa9\"}", "{\"hit_id\":\"\xc3\"}",
	"{\"hit_id\":\"\xed\xa0\x80\"}", "{\"hit_id\":\"\xf4\x90\x80\x80\"}",
	"{\"hit_id\":\"\xc0\xaf\"}", "{\"hit_id\":\"a\tb\"}",
	"{\"hit_id\":\"a\",\"t\":true,\"f\":false,\"z\":null}",
	"{\"hit_id\":\"a\",\"t\":tru}", "{\"hit_id\":\"a\",\"e\":\"\\x\"}",
	"{\"hit_id\":\"a\",\"e\":\"\\u12\"}", "{\"hit_id\":\"a\",\"e\":\"\\U0041\"}",
	"{}", "", " ", "{\"hit_id\":\"a\"}\r",
	"{\"hit_id\":\"a\",\"x\":{\"\":1,\"\":2}}", "{\"\":1,\"hit_id\":\"z\"}",
};

/* The edge cases, plus nesting 2047, 2048 and 3000 deep; disagreements. */
static unsigned long
fc_edge_cases(void)
{
	static const int depths[] = { 2047, 2048, 3000 };
	unsigned long differ = 0;
	size_t i, n, len;
	char *b;
	int k;

	for (i = 0; i < sizeof fc_edges / sizeof fc_edges[0]; i++) {
		len = strlen(fc_edges[i]);
		if (fc_line(fc_edges[i], len) != fc_jansson(fc_edges[i], len)) {
			fprintf(stderr, "fastcheck: verdicts differ on: %s\n",
			    fc_edges[i]);
			differ++;
		}
	}
	for (k = 0; k < 3; k++) {
		n = (size_t)depths[k];
		b = malloc(2 * n + 32);
		len = (size_t)snprintf(b, 32, "{\"hit_id\":\"a\",\"d\":");
		memset(b + len, '[', n);
		memset(b + len + n, ']', n);
		len += 2 * n;
		b[len++] = '}';
		if (fc_line(b, len) != fc_jansson(b, len)) {
			fprintf(stderr, "fastcheck: verdicts differ at depth "
			    "%zu\n", n);
			differ++;
		}
		free(b);
	}
	return differ;
}

/* Verdicts on n mutations of one line; the number of disagreements. */
static unsigned long
fc_mutate(const char *line, size_t len, int n, unsigned *seed)
{
	static const char pick[] = "{}[]\",:\\u0123456789.eE-+ tfn\x01\x80"
	    "\xc3\xa9\xed\xa0\x80";
	char *m = malloc(len + 16);
	unsigned long bad = 0;
	size_t ml, at;
	int i, kind;

	for (i = 0; i < n; i++) {
		memcpy(m, line, len);
		ml = len;
		at = len > 0 ? (size_t)rand_r(seed) % len : 0;
		kind = rand_r(seed) % 4;
		if (kind == 0 && len > 0)
			m[at] = pick[rand_r(seed) % (sizeof pick - 1)];
		else if (kind == 1 && len > 0) {
			memmove(m + at, m + at + 1, len - at - 1);
			ml--;
		} else if (kind == 2) {
			memmove(m + at + 1, m + at, len - at);
			m[at] = pick[rand_r(seed) % (sizeof pick - 1)];
			ml++;
		} else if (len > 0)
			m[at] ^= (char)(1 << (rand_r(seed) % 8));
		if (fc_line(m, ml) != fc_jansson(m, ml)) {
			if (bad++ < 5)
				fprintf(stderr, "fastcheck: verdicts differ on: "
				    "%.*s\n", (int)ml, m);
		}
	}
	free(m);
	return bad;
}

int
main(int argc, char **argv)
{
	char **v = NULL;
	size_t nv = 0, i, len;
	unsigned long n, lines = 0, bad = 0, jbad = 0, differ = 0, mdiffer = 0;
	unsigned seed = 1;
	const char *data, *p, *e, *q;
	double t0, tf = 0, tj = 0;
	char *end;
	long lmut;
	int ch, jans = 0, mut = 0, a;

	while ((ch = getopt(argc, argv, "ejm:")) != -1) {
		switch (ch) {
		case 'e':
			n = sizeof fc_edges / sizeof fc_edges[0] + 3;
			differ = fc_edge_cases();
			printf("edge cases: verdicts differ on %lu of %lu\n",
			    differ, n);
			return differ > 0 ? 1 : 0;
		case 'j':
			jans = 1;
			break;
		case 'm':
			errno = 0;
			lmut = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || lmut < 0 ||
			    lmut > 1000000) {
				fprintf(stderr, "fastcheck: bad -m '%s'\n",
				    optarg);
				return 2;
			}
			mut = (int)lmut;
			jans = 1;
			break;
		default:
			fprintf(stderr, "usage: fastcheck -e | [-j] [-m N] "
			    "DIR|FILE...\n");
			return 2;
		}
	}
	if (optind == argc) {
		fprintf(stderr, "usage: fastcheck [-j] [-m N] DIR|FILE...\n");
		return 2;
	}
	for (a = optind; a < argc; a++)
		if (fc_add(argv[a], &v, &nv) == -1)
			return 2;
	for (i = 0; i < nv; i++) {
		/* Timed: mapping, reading (page cache) and judging. */
		t0 = fc_now();
		if (fc_map(v[i], &data, &len) == -1)
			return 2;
		for (p = data, e = p + len; p < e; p = q + 1) {
			if ((q = memchr(p, '\n', (size_t)(e - p))) == NULL)
				q = e;
			lines++;
			bad += q == e || !fc_line(p, (size_t)(q - p));
		}
		tf += fc_now() - t0;
		if (jans) {
			t0 = fc_now();
			for (p = data; p < e; p = q + 1) {
				if ((q = memchr(p, '\n', (size_t)(e - p))) ==
				    NULL)
					q = e;
				jbad += q == e ||
				    !fc_jansson(p, (size_t)(q - p));
			}
			tj += fc_now() - t0;
			for (p = data; p < e; p = q + 1) {
				if ((q = memchr(p, '\n', (size_t)(e - p))) ==
				    NULL)
					q = e;
				differ += fc_line(p, (size_t)(q - p)) !=
				    fc_jansson(p, (size_t)(q - p));
				if (mut > 0)
					mdiffer += fc_mutate(p,
					    (size_t)(q - p), mut, &seed);
			}
		}
		if (len > 0)
			munmap((void *)data, len);
		free(v[i]);
	}
	free(v);
	printf("%zu %lu %lu %.3f\n", nv, lines, bad, tf);
	if (jans)
		printf("jansson: %lu bad, %.3f s; verdicts differ on %lu "
		    "lines and %lu of %lu mutations\n", jbad, tj, differ,
		    mdiffer, lines * (unsigned long)mut);
	return jans && (differ > 0 || mdiffer > 0) ? 1 : 0;
}
