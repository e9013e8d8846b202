/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * test_spool: the writer's group commit.  Threads append lines under
 * sync = always, most of them handing a waiter to the spool and going on
 * (as the responder does), some waiting in spool_write; a sealer thread
 * seals the batch again and again underneath them.  Every waiter must be
 * answered exactly once and with success, and every line must be in new/
 * exactly once, whole, each batch sealed with the size and CRC-32 of its
 * bytes.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
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

static struct conf *
load(const char *dir, const char *sync)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/hookspool.conf", dir);
	if ((f = fopen(path, "w")) == NULL)
		return NULL;
	fprintf(f, "spool_dir = %s\nsync = %s\nbatch_max_hits = 97\n\n"
	    "[stream s]\nid = 0123456789abcdef\ntable = p.d.t\n", dir, sync);
	fclose(f);
	return conf_load(path, 0);
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
	run(top, "always");
	run(top, "none");
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
	if (system(cmd) != 0)
		fprintf(stderr, "test_spool: cannot remove %s\n", top);
	return tap_done();
}
