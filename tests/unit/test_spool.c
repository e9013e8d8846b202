/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * test_spool: the writer's group commit.  Threads append lines under
 * sync = always, most of them handing a waiter to the spool and going on
 * (as the responder does), some waiting in spool_write; a sealer thread
 * seals the batch again and again underneath them.  Every waiter must be
 * answered exactly once and with success, and every line must be in new/
 * exactly once, whole, each batch sealed with the size and CRC-32 of its
 * bytes.  Under sync = always the open batch is grown ahead of its lines
 * and cut to them when sealed, by its writer or, after a crash, as an
 * orphan.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "conf.h"
#include "spool.h"
#include "tap.h"

#define THREADS		8
#define BLOCKING	2	/* threads that pass no waiter */
#define LINES		3000

struct tw {
	struct spool_waiter	 wt;	/* first: the spool hands it back */
	int			 calls;
	int			 rc;
	int			 how;	/* what spool_write returned */
};

static struct spool_writer *writer;
static struct tw waiters[THREADS][LINES];
static volatile int writing;

static void
tw_done(struct spool_waiter *wt, int rc)
{
	struct tw *t = (struct tw *)wt;

	t->rc = rc;
	__atomic_add_fetch(&t->calls, 1, __ATOMIC_SEQ_CST);
}

static void *
tw_main(void *arg)
{
	long id = (long)arg;
	char line[64];
	int i, n, rc;

	for (i = 0; i < LINES; i++) {
		n = snprintf(line, sizeof line, "{\"hit_id\":\"t%ld-%d\"}\n",
		    id, i);
		waiters[id][i].wt.done = tw_done;
		rc = spool_write(writer, line, (size_t)n,
		    id < BLOCKING ? NULL : &waiters[id][i].wt);
		waiters[id][i].how = rc;
	}
	return NULL;
}

static void *
sealer_main(void *arg)
{
	struct timespec ms = { 0, 1000 * 1000 };

	(void)arg;
	while (writing) {
		(void)spool_writer_seal(writer);
		nanosleep(&ms, NULL);
	}
	return NULL;
}

/* Count the lines of the batches in dir/new; each must be seen once. */
/*
 * Does the writer's seal (SPOOL_SEAL_XATTR) on path say size and crc?
 * 1 yes, 0 no, -1 when the file system keeps no user xattrs.
 */
static int
sealed_as(const char *path, long size, unsigned long crc)
{
	char v[64], want[64];
	ssize_t n;

	if ((n = getxattr(path, "user.hookspool.crc32", v, sizeof v - 1)) ==
	    -1)
		return errno == ENOTSUP ? -1 : 0;
	v[n] = '\0';
	snprintf(want, sizeof want, "%ld %08lx", size, crc);
	return strcmp(v, want) == 0;
}

/* Counts new/'s lines, the bad ones, and the batches unsealed or on a
 * file system without user xattrs. */
static long
count_lines(const char *dir, unsigned char seen[THREADS][LINES], long *bad,
    long *unsealed, long *noxattr)
{
	char path[4096], buf[128];
	struct dirent *de;
	DIR *d;
	FILE *f;
	long n = 0, t, size;
	uLong crc;
	int i;

	snprintf(path, sizeof path, "%s/new", dir);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/new/%s", dir, de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		crc = crc32(0, Z_NULL, 0);
		size = 0;
		while (fgets(buf, sizeof buf, f) != NULL) {
			crc = crc32(crc, (const Bytef *)buf, (uInt)strlen(buf));
			size += (long)strlen(buf);
			if (sscanf(buf, "{\"hit_id\":\"t%ld-%d\"}\n", &t,
			    &i) != 2 || t < 0 || t >= THREADS || i < 0 ||
			    i >= LINES || buf[strlen(buf) - 1] != '\n' ||
			    seen[t][i]++ != 0)
				(*bad)++;
			n++;
		}
		fclose(f);
		switch (sealed_as(path, size, crc)) {
		case 0:
			(*unsealed)++;
			break;
		case -1:
			(*noxattr)++;
			break;
		}
	}
	closedir(d);
	return n;
}

/* A config for dir's stream s: sync, then more global keys (or ""). */
static struct conf *
load_with(const char *dir, const char *sync, const char *more)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/hookspool.conf", dir);
	if ((f = fopen(path, "w")) == NULL)
		return NULL;
	fprintf(f, "spool_dir = %s\nsync = %s\nbatch_max_hits = 97\n%s\n"
	    "[stream s]\nid = 0123456789abcdef\ntable = p.d.t\n", dir, sync,
	    more);
	fclose(f);
	return conf_load(path, 0);
}

static struct conf *
load(const char *dir, const char *sync)
{
	return load_with(dir, sync, "");
}

static void
run(const char *top, const char *sync)
{
	static unsigned char seen[THREADS][LINES];
	pthread_t th[THREADS], sealer;
	struct conf *c;
	char dir[1024];
	long t, i, lines, bad = 0, imm = 0, pending = 0, told = 0, fails = 0;
	long unsealed = 0, noxattr = 0;
	struct tw *w;

	snprintf(dir, sizeof dir, "%s/%s", top, sync);
	if (mkdir(dir, 0700) == -1 || (c = load(dir, sync)) == NULL) {
		ok(0, "sync=%s: set up %s", sync, dir);
		return;
	}
	snprintf(dir, sizeof dir, "%s/%s/s", top, sync);
	memset(waiters, 0, sizeof waiters);
	memset(seen, 0, sizeof seen);
	writer = spool_writer_new(c, dir);
	ok(writer != NULL, "sync=%s: writer", sync);
	if (writer == NULL)
		return;
	writing = 1;
	pthread_create(&sealer, NULL, sealer_main, NULL);
	for (t = 0; t < THREADS; t++)
		pthread_create(&th[t], NULL, tw_main, (void *)t);
	for (t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	writing = 0;
	pthread_join(sealer, NULL);
	spool_writer_free(writer);

	for (t = 0; t < THREADS; t++)
		for (i = 0; i < LINES; i++) {
			w = &waiters[t][i];
			if (w->how == 0)
				imm++;
			else if (w->how == SPOOL_PENDING) {
				pending++;
				/* Told exactly once, and told success. */
				told += w->calls == 1 && w->rc == 0;
			} else
				fails++;
			if (w->how != SPOOL_PENDING && w->calls != 0)
				fails++;	/* told without being pending */
		}
	is_int(fails, 0, "sync=%s: no write failed, no stray answer", sync);
	if (strcmp(sync, "always") == 0) {
		/* Only lines that fill a batch are sealed, and answered, at
		 * once; threads that pass no waiter wait in spool_write. */
		ok(pending > (long)(THREADS - BLOCKING) * LINES * 9 / 10,
		    "sync=always: %ld lines handed to the group commit",
		    pending);
		is_int(told, pending, "sync=always: each waiter told once, "
		    "success");
	} else
		is_int(imm, (long)THREADS * LINES,
		    "sync=%s: every write answered at once", sync);
	lines = count_lines(dir, seen, &bad, &unsealed, &noxattr);
	is_int(lines, (long)THREADS * LINES, "sync=%s: every line in new/",
	    sync);
	is_int(bad, 0, "sync=%s: no line torn, foreign or twice", sync);
	if (noxattr > 0)
		tap_skip("sync=%s: %s keeps no user xattrs: no seal to check",
		    sync, dir);
	else
		is_int(unsealed, 0, "sync=%s: every batch sealed with its size "
		    "and CRC-32", sync);
	conf_free(c);
}

/* The whole of a file, and its length; NULL when it cannot be read. */
static char *
slurp(const char *path, long *len)
{
	char *p = NULL;
	FILE *f;

	*len = -1;
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (*len = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)*len + 1)) !=
	    NULL && fread(p, 1, (size_t)*len, f) != (size_t)*len) {
		free(p);
		p = NULL;
	}
	fclose(f);
	return p;
}

/* The one batch of dir/state: its name in name; 0 when not exactly one. */
static int
only_batch(const char *dir, const char *state, char *name, size_t size)
{
	char path[4096];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof path, "%s/%s", dir, state);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && n++ == 0)
			snprintf(name, size, "%s", de->d_name);
	closedir(d);
	return n == 1;
}

/*
 * A sync = always writer of stream s under top/tag with more config keys:
 * its spool folder goes to dir.  NULL (reported) when it cannot be made.
 */
static struct spool_writer *
grow_writer(const char *top, const char *tag, const char *more,
    struct conf **c, char *dir, size_t size)
{
	struct spool_writer *w;

	snprintf(dir, size, "%s/%s", top, tag);
	if (mkdir(dir, 0700) == -1 ||
	    (*c = load_with(dir, "always", more)) == NULL) {
		ok(0, "%s: set up %s", tag, dir);
		return NULL;
	}
	snprintf(dir, size, "%s/%s/s", top, tag);
	if ((w = spool_writer_new(*c, dir)) == NULL) {
		ok(0, "%s: writer", tag);
		conf_free(*c);
	}
	return w;
}

/*
 * sync = always grows the open batch ahead of its lines with spaces, 16K
 * first (more: the preallocate key, or "" for its default of 1M; want: the
 * file's size after two short lines); the seal cuts it back to its lines.
 * With preallocate = 0 it grows line by line.
 */
static void
test_grow(const char *top, const char *tag, const char *more, long want)
{
	static const char lines[] = "{\"hit_id\":\"g1\"}\n"
	    "{\"hit_id\":\"g2\"}\n";
	const size_t both = sizeof lines - 1, one = both / 2;
	char dir[1024], path[4096], name[256], *p;
	unsigned long good = 0, bad = 0;
	struct spool_writer *w;
	struct conf *c;
	long len, i;
	int spaces = 1;

	if ((w = grow_writer(top, tag, more, &c, dir, sizeof dir)) == NULL)
		return;
	is_int(spool_write(w, lines, one, NULL), 0, "%s: first line synced",
	    tag);
	is_int(spool_write(w, lines + one, one, NULL), 0,
	    "%s: second line synced", tag);
	if (!only_batch(dir, "tmp", name, sizeof name)) {
		ok(0, "%s: one open batch in tmp/", tag);
		goto out;
	}
	snprintf(path, sizeof path, "%s/tmp/%s", dir, name);
	p = slurp(path, &len);
	is_int(len, want, "%s: the open batch is %ld bytes", tag, want);
	for (i = (long)both; p != NULL && i < len; i++)
		spaces &= p[i] == ' ';
	ok(p != NULL && memcmp(p, lines, both) == 0 && spaces,
	    "%s: its lines, then spaces", tag);
	free(p);
	/* What hookspoolctl check reads of it, its writer gone or not. */
	is_int(spool_scan(path, SPOOL_SCAN_OPEN, NULL, NULL, &good, &bad), 0,
	    "%s: scanned", tag);
	ok(good == 2 && bad == 0, "%s: 2 hits and no torn line (%lu, %lu)",
	    tag, good, bad);
	is_int(spool_writer_seal(w), 0, "%s: sealed", tag);
	snprintf(path, sizeof path, "%s/new/%s", dir, name);
	p = slurp(path, &len);
	ok(p != NULL && len == (long)both && memcmp(p, lines, both) == 0,
	    "%s: the sealed batch is its lines alone (%ld bytes)", tag, len);
	free(p);
out:
	spool_writer_free(w);
	conf_free(c);
}

/*
 * The steps double from 16K up to preallocate: 75 lines of 4000 bytes
 * (300,000) end in a file of 512K under the default, 320K under 64K.
 */
static void
test_grow_steps(const char *top, const char *tag, const char *more,
    long want)
{
	char dir[1024], path[4096], name[256], line[4000];
	struct spool_writer *w;
	struct conf *c;
	struct stat sb;
	int i, rc = 0;

	if ((w = grow_writer(top, tag, more, &c, dir, sizeof dir)) == NULL)
		return;
	memset(line, 'x', sizeof line);
	memcpy(line, "{\"x\":\"", 6);
	memcpy(line + sizeof line - 3, "\"}\n", 3);
	for (i = 0; i < 75 && rc == 0; i++)
		rc = spool_write(w, line, sizeof line, NULL);
	is_int(rc, 0, "%s: 75 lines synced", tag);
	if (!only_batch(dir, "tmp", name, sizeof name))
		ok(0, "%s: one open batch in tmp/", tag);
	else {
		snprintf(path, sizeof path, "%s/tmp/%s", dir, name);
		is_int(stat(path, &sb) == 0 ? (long)sb.st_size : -1L, want,
		    "%s: 300,000 bytes of lines in a file of %ld", tag, want);
	}
	spool_writer_free(w);
	conf_free(c);
}

/* Make dir/tmp/name: text, then n bytes of pad. */
static int
orphan(const char *dir, const char *name, const char *text, int pad,
    size_t n)
{
	char path[4096], *z = malloc(n + 1);
	FILE *f;
	int rc = -1;

	snprintf(path, sizeof path, "%s/tmp/%s", dir, name);
	if (z != NULL && (f = fopen(path, "w")) != NULL) {
		memset(z, pad, n);
		if (fwrite(text, 1, strlen(text), f) == strlen(text) &&
		    fwrite(z, 1, n, f) == n)
			rc = 0;
		if (fclose(f) == EOF)
			rc = -1;
	}
	free(z);
	return rc;
}

/*
 * A writer killed under sync = always leaves its batch ending in spaces
 * (or zeros, where the file system kept a size but not its data): sealing
 * the orphan cuts them off, keeps a torn line for validation to set aside,
 * and removes a batch of padding alone.
 */
static void
test_orphan_padding(const char *top)
{
	char dir[1024], path[4096], *p;
	unsigned sealed = 0;
	long len;

	snprintf(dir, sizeof dir, "%s/orphans", top);
	if (spool_prepare(dir) == -1 ||
	    orphan(dir, "1.1.h.1.0.ndjson", "{\"a\":1}\n{\"a\":2}\n", ' ',
	    200 * 1024) == -1 ||
	    orphan(dir, "1.2.h.1.0.ndjson", "{\"a\":3}\n{\"a\"", ' ', 5000) ==
	    -1 || orphan(dir, "1.3.h.1.0.ndjson", "", ' ', 70 * 1024) == -1 ||
	    orphan(dir, "1.4.h.1.0.ndjson", "{\"a\":4}\n", '\0', 4096) == -1) {
		ok(0, "orphans: set up %s", dir);
		return;
	}
	is_int(spool_seal_orphans(dir, time(NULL) + 3600, &sealed), 0,
	    "orphans: sealed without error");
	is_int(sealed, 3, "orphans: the three with lines sealed");
	snprintf(path, sizeof path, "%s/new/1.1.h.1.0.ndjson", dir);
	p = slurp(path, &len);
	ok(p != NULL && len == 16 && memcmp(p, "{\"a\":1}\n{\"a\":2}\n",
	    16) == 0, "orphans: spaces cut after the last line (%ld bytes)",
	    len);
	free(p);
	snprintf(path, sizeof path, "%s/new/1.2.h.1.0.ndjson", dir);
	p = slurp(path, &len);
	ok(p != NULL && len == 12 && memcmp(p, "{\"a\":3}\n{\"a\"", 12) ==
	    0, "orphans: a torn line kept for validation (%ld bytes)", len);
	free(p);
	snprintf(path, sizeof path, "%s/tmp/1.3.h.1.0.ndjson", dir);
	ok(access(path, F_OK) == -1 && errno == ENOENT,
	    "orphans: a batch of padding alone removed");
	snprintf(path, sizeof path, "%s/new/1.4.h.1.0.ndjson", dir);
	p = slurp(path, &len);
	ok(p != NULL && len == 8 && memcmp(p, "{\"a\":4}\n", 8) == 0,
	    "orphans: zeros cut after the last line (%ld bytes)", len);
	free(p);
}

/* A job id names its batches' set; ids of the same set still differ. */
static void
test_job_id(void)
{
	struct spool_entry v[2] = {
		{ "1.000001.h.1.0.ndjson", 10, 0 },
		{ "1.000002.h.1.1.ndjson", 20, 0 },
	};
	char a[SPOOL_JOB_ID_MAX], b[SPOOL_JOB_ID_MAX];
	size_t len;

	spool_job_id("my.host", "crm", v, 2, a, sizeof a);
	spool_job_id("my.host", "crm", v, 2, b, sizeof b);
	len = strlen(a);
	ok(strncmp(a, "hookspool_my-host_crm_", 22) == 0 && len == 22 + 32 &&
	    strspn(a + 22, "0123456789abcdef") == 32, "job id: %s", a);
	ok(strcmp(a, b) != 0, "job id: a new one per claim");
}

int
main(void)
{
	char top[] = "/tmp/hs-test-spool.XXXXXX";
	char cmd[128];

	/* A lost wake-up would hang a thread: fail instead. */
	alarm(120);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (mkdtemp(top) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_job_id();
	test_grow(top, "grow", "", 16 * 1024);
	test_grow(top, "grow-4k", "preallocate = 4K", 4 * 1024);
	test_grow(top, "grow-off", "preallocate = 0", 32);
	test_grow_steps(top, "steps", "", 512 * 1024);
	test_grow_steps(top, "steps-64k", "preallocate = 64K", 320 * 1024);
	test_orphan_padding(top);
	run(top, "always");
	run(top, "none");
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
	if (system(cmd) != 0)
		fprintf(stderr, "test_spool: cannot remove %s\n", top);
	return tap_done();
}
