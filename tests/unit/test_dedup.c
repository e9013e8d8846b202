/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * Unit tests of spool_dedup.c: claim, duplicate, a duplicate that waits
 * for a pending first and gets its answer, a failed first (the retry is
 * stored), a dead owner's claim (a child that exits without settling),
 * the window's end, a rebuild from the spool's lines, and a window of
 * 100,000 ids: the index file's size and the resident memory it costs
 * (printed as TAP comments, bounded by the contract's numbers).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hit.h"
#include "spool.h"
#include "tap.h"

static char root[] = "/tmp/hs-test-dedup-XXXXXX";

struct waiter {
	struct spool_dedup *d;
	int		 rc;
	char		 first[37];
	char		 id[37];
};

static void *
waiter_main(void *arg)
{
	struct waiter *w = arg;

	w->rc = spool_dedup_claim(w->d, "evt_wait", 8, w->id, hit_now_ms(),
	    w->first);
	return NULL;
}

/* Resident KiB of the mapping of a file whose path ends in suffix. */
static long
map_rss_kib(const char *suffix)
{
	FILE *fp = fopen("/proc/self/smaps", "r");
	char line[1024];
	long v, sum = 0;
	unsigned long lo, hi;
	int in = 0;
	size_t n, m = strlen(suffix);

	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof line, fp) != NULL) {
		n = strcspn(line, "\n");
		line[n] = '\0';
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2)
			in = n >= m && strcmp(line + n - m, suffix) == 0;
		else if (in && sscanf(line, "Rss: %ld", &v) == 1)
			sum += v;
	}
	fclose(fp);
	return sum;
}

static long
rss_kib(void)
{
	FILE *fp = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;

	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof line, fp) != NULL)
		if (sscanf(line, "VmRSS: %ld", &v) == 1)
			break;
	fclose(fp);
	return v;
}

int
main(void)
{
	struct spool_dedup *d, *d2;
	struct waiter w;
	pthread_t th;
	struct stat sb;
	char a[37], b[37], first[37], dir[256], path[512], idbuf[32];
	int64_t now = hit_now_ms();
	long rss0, rss1, maprss;
	pid_t pid;
	int st, i, dups;
	FILE *fp;

	if (mkdtemp(root) == NULL)
		return 1;
	snprintf(dir, sizeof dir, "%s/s", root);
	ok(spool_prepare(dir) == 0, "stream folder");
	ok((d = spool_dedup_open(dir, 3600)) != NULL, "index opens");
	if (d == NULL)
		return tap_done();
	hit_new_id(a);
	hit_new_id(b);
	is_int(spool_dedup_claim(d, "evt_1", 5, a, now, first),
	    SPOOL_DEDUP_NEW, "a new id: write it");
	spool_dedup_settle(d, "evt_1", 5, a, 1);
	is_int(spool_dedup_claim(d, "evt_1", 5, b, now + 1000, first),
	    SPOOL_DEDUP_DUP, "the same id again: a duplicate");
	is_str(first, a, "  answered with the first hit_id");
	is_int(spool_dedup_claim(d, "evt_1", 5, b, now + 3601 * 1000, first),
	    SPOOL_DEDUP_NEW, "past the window: new again");
	spool_dedup_settle(d, "evt_1", 5, b, 1);

	/* A first that fails: its retry is stored. */
	hit_new_id(a);
	hit_new_id(b);
	is_int(spool_dedup_claim(d, "evt_2", 5, a, now, first),
	    SPOOL_DEDUP_NEW, "evt_2 claimed");
	spool_dedup_settle(d, "evt_2", 5, a, 0);
	is_int(spool_dedup_claim(d, "evt_2", 5, b, now, first),
	    SPOOL_DEDUP_NEW, "the first failed: the retry is stored");
	spool_dedup_settle(d, "evt_2", 5, b, 1);

	/* A duplicate waits for a pending first and gets its answer. */
	hit_new_id(a);
	memset(&w, 0, sizeof w);
	w.d = d;
	hit_new_id(w.id);
	is_int(spool_dedup_claim(d, "evt_wait", 8, a, now, first),
	    SPOOL_DEDUP_NEW, "evt_wait claimed, not settled");
	pthread_create(&th, NULL, waiter_main, &w);
	usleep(200 * 1000);
	spool_dedup_settle(d, "evt_wait", 8, a, 1);
	pthread_join(th, NULL);
	is_int(w.rc, SPOOL_DEDUP_DUP, "the waiting duplicate: a duplicate");
	is_str(w.first, a, "  with the first's hit_id, once it was kept");

	/* Another process (its own mapping) that dies holding a claim. */
	hit_new_id(a);
	if ((pid = fork()) == 0) {
		struct spool_dedup *c = spool_dedup_open(dir, 3600);

		_exit(c != NULL && spool_dedup_claim(c, "evt_dead", 8, a,
		    now, first) == SPOOL_DEDUP_NEW ? 0 : 1);
	}
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a child claimed evt_dead");
	hit_new_id(b);
	is_int(spool_dedup_claim(d, "evt_dead", 8, b, now, first),
	    SPOOL_DEDUP_NEW, "its owner is gone: taken over, stored");
	spool_dedup_settle(d, "evt_dead", 8, b, 1);
	d2 = spool_dedup_open(dir, 3600);
	is_int(spool_dedup_claim(d2, "evt_dead", 8, a, now, first),
	    SPOOL_DEDUP_DUP, "a second opener sees it");
	is_str(first, b, "  with the taker's hit_id");
	spool_dedup_close(d2);
	spool_dedup_close(d);

	/* Lost index: rebuilt from the lines of the batches. */
	snprintf(path, sizeof path, "%s/.dedup", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/new/1.0.h.1.1.ndjson", dir);
	hit_new_id(a);
	if ((fp = fopen(path, "w")) != NULL) {
		fprintf(fp, "{\"hit_id\":\"%s\",\"payload\":\"\","
		    "\"received_at\":%lld,\"date\":\"2026-01-01\","
		    "\"delivery_id\":\"evt_kept\"}\n", a, (long long)now);
		/* never acknowledged: no newline */
		fprintf(fp, "{\"hit_id\":\"%s\",\"payload\":\"\","
		    "\"received_at\":%lld,\"date\":\"2026-01-01\","
		    "\"delivery_id\":\"evt_torn\"}", a, (long long)now);
		fclose(fp);
	}
	d = spool_dedup_open(dir, 3600);
	ok(d != NULL, "the index is rebuilt");
	if (d == NULL)
		return tap_done();
	hit_new_id(b);
	is_int(spool_dedup_claim(d, "evt_kept", 8, b, now, first),
	    SPOOL_DEDUP_DUP, "rebuilt: a kept line's id is a duplicate");
	is_str(first, a, "  with the line's hit_id");
	is_int(spool_dedup_claim(d, "evt_torn", 8, b, now, first),
	    SPOOL_DEDUP_NEW, "a torn last line is not");
	spool_dedup_settle(d, "evt_torn", 8, b, 1);
	spool_dedup_close(d);

	/* 100,000 ids in one window. */
	snprintf(dir, sizeof dir, "%s/big", root);
	spool_prepare(dir);
	d = spool_dedup_open(dir, 86400);
	rss0 = rss_kib();
	for (i = 0; i < 100000; i++) {
		snprintf(idbuf, sizeof idbuf, "evt_%08d", i);
		hit_new_id(a);
		if (spool_dedup_claim(d, idbuf, strlen(idbuf), a, now,
		    first) != SPOOL_DEDUP_NEW)
			break;
		spool_dedup_settle(d, idbuf, strlen(idbuf), a, 1);
	}
	is_int(i, 100000, "100,000 distinct ids claimed");
	for (i = dups = 0; i < 100000; i += 7) {
		snprintf(idbuf, sizeof idbuf, "evt_%08d", i);
		hit_new_id(b);
		dups += spool_dedup_claim(d, idbuf, strlen(idbuf), b, now,
		    first) == SPOOL_DEDUP_DUP;
	}
	is_int(dups, (100000 + 6) / 7, "every seventh again: all duplicates");
	rss1 = rss_kib();
	maprss = map_rss_kib("/big/.dedup");
	snprintf(path, sizeof path, "%s/.dedup", dir);
	ok(stat(path, &sb) == 0, "the index file");
	printf("# 100,000 ids: index file %lld bytes (%.1f MiB, %.0f bytes "
	    "an id), its mapping %ld KiB resident; the process grew by "
	    "%ld KiB\n", (long long)sb.st_size, sb.st_size / 1048576.0,
	    sb.st_size / 100000.0, maprss, rss1 - rss0);
	ok(sb.st_size <= 4096 + 48 * 262144, "file at most 4 KiB + 48 B x "
	    "262,144 slots (12 MiB)");
	/* The index's memory is its mapping (the process's own growth is
	 * the allocator's, and a sanitizer's quarantine, not the index). */
	ok(maprss > 0 && maprss * 1024 <= sb.st_size + 4096,
	    "resident memory of the index: at most its file");
	spool_dedup_close(d);

	snprintf(path, sizeof path, "rm -rf '%s'", root);
	if (system(path) != 0)
		printf("# could not remove %s\n", root);
	return tap_done();
}
