/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * test_spool_procs: the group commit with several responder processes.
 * Processes append to one stream under sync = always, each with threads
 * handing waiters to the spool, and note every line the spool
 * acknowledged; some are killed (kill -9) while they write, and others
 * take their place.  Once the orphans are sealed and validated as the
 * uploader does, every acknowledged line must be in new/ exactly once, and
 * no line torn or doubled.  A process killed in the middle of one long
 * write leaves a torn line that validation cuts out, the lines around it
 * whole.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "spool.h"
#include "tap.h"

#define diag(...)	(fprintf(stderr, "# " __VA_ARGS__), fputc('\n', stderr))

#define PROCS		4	/* writing at once */
#define KILLS		3	/* of them killed, one after another */
#define THREADS		4	/* per process */
#define LINES		1500	/* per thread */
#define MAXID		(PROCS + KILLS + 2)

struct pw {
	struct spool_waiter	 wt;	/* first: the spool hands it back */
	char			 id[32];
};

static struct spool_writer *writer;
static int acked_fd;		/* the acknowledged ids, one a line */
static long proc_id;

static void
pw_done(struct spool_waiter *wt, int rc)
{
	struct pw *p = (struct pw *)wt;
	char line[40];
	int n;

	if (rc == 0) {
		n = snprintf(line, sizeof line, "%s\n", p->id);
		(void)write(acked_fd, line, (size_t)n);
	}
	free(p);
}

static void *
pw_main(void *arg)
{
	long t = (long)arg;
	char line[96];
	struct pw *p;
	int i, n, rc;

	for (i = 0; i < LINES; i++) {
		p = calloc(1, sizeof *p);
		p->wt.done = pw_done;
		snprintf(p->id, sizeof p->id, "p%ld-%ld-%d", proc_id, t, i);
		n = snprintf(line, sizeof line, "{\"hit_id\":\"%s\"}\n", p->id);
		rc = spool_write(writer, line, (size_t)n, &p->wt);
		if (rc == 0)
			pw_done(&p->wt, 0);
		else if (rc == -1)
			free(p);
	}
	return NULL;
}

/* A writing process: THREADS threads of LINES lines, then a clean exit. */
static void
child(const struct conf *c, const char *dir, const char *top, long id)
{
	pthread_t th[THREADS];
	char path[4096];
	long t;

	proc_id = id;
	snprintf(path, sizeof path, "%s/acked.%ld", top, id);
	acked_fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (acked_fd == -1 || (writer = spool_writer_new(c, dir)) == NULL)
		_exit(2);
	for (t = 0; t < THREADS; t++)
		pthread_create(&th[t], NULL, pw_main, (void *)t);
	for (t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	spool_writer_free(writer);
	_exit(0);
}

static pid_t
spawn(const struct conf *c, const char *dir, const char *top, long id)
{
	pid_t pid = fork();

	if (pid == 0)
		child(c, dir, top, id);
	return pid;
}

static long
lines_of(const char *path)
{
	FILE *f = fopen(path, "r");
	long n = 0;
	int ch;

	if (f == NULL)
		return 0;
	while ((ch = getc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

static void
nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Read every line of dir/state: each must be whole, ours, and seen once. */
static void
scan(const char *dir, const char *state, unsigned char *seen, long *lines,
    long *bad)
{
	char path[4096], buf[256];
	struct dirent *de;
	long p, t, i;
	DIR *d;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, state);
	if ((d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s/%s", dir, state,
		    de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(buf, sizeof buf, f) != NULL) {
			(*lines)++;
			if (sscanf(buf, "{\"hit_id\":\"p%ld-%ld-%ld\"}\n", &p,
			    &t, &i) != 3 || p < 0 || p >= MAXID || t < 0 ||
			    t >= THREADS || i < 0 || i >= LINES ||
			    buf[strlen(buf) - 1] != '\n' ||
			    seen[(p * THREADS + t) * LINES + i]++ != 0) {
				if (*bad < 3)
					diag("bad line in %s: %.60s", path,
					    buf);
				(*bad)++;
			}
		}
		fclose(f);
	}
	closedir(d);
}

/* Every id noted as acknowledged must have been seen. */
static long
missing(const char *top, const unsigned char *seen)
{
	char path[4096], buf[64];
	long p, t, i, n = 0;
	FILE *f;

	for (p = 0; p < MAXID; p++) {
		snprintf(path, sizeof path, "%s/acked.%ld", top, p);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(buf, sizeof buf, f) != NULL)
			if (sscanf(buf, "p%*d-%ld-%ld", &t, &i) != 2 ||
			    !seen[(p * THREADS + t) * LINES + i]) {
				if (n++ < 3)
					diag("acknowledged, not in new/: %s",
					    buf);
			}
		fclose(f);
	}
	return n;
}

static struct conf *
load(const char *top, const char *extra)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/hookspool.conf", top);
	if ((f = fopen(path, "w")) == NULL)
		return NULL;
	fprintf(f, "spool_dir = %s\nsync = always\n%s\n[stream s]\n"
	    "id = 0123456789abcdef\ntable = p.d.t\n", top, extra);
	fclose(f);
	return conf_load(path, 0);
}

/* Seal what the dead left in tmp/ and validate new/, as the uploader. */
static void
settle(const char *dir, long *cut)
{
	char path[4096];
	struct dirent *de;
	unsigned long good, bad;
	unsigned sealed;
	DIR *d;

	(void)spool_seal_orphans(dir, time(NULL) + 3600, &sealed);
	snprintf(path, sizeof path, "%s/new", dir);
	if ((d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' &&
		    spool_validate(dir, SPOOL_NEW, de->d_name, &good, &bad) ==
		    0)
			*cut += (long)bad;
	closedir(d);
}

/* Processes killed while they write, others in their place. */
static void
test_kills(const char *top)
{
	unsigned char *seen = calloc((size_t)MAXID * THREADS * LINES, 1);
	char dir[1024], path[4096];
	pid_t pids[PROCS];
	long next = 0, lines = 0, bad = 0, acked = 0, cut = 0, k, i;
	int status, clean = 1;
	struct conf *c;

	if ((c = load(top, "batch_max_bytes = 256K\n")) == NULL) {
		ok(0, "kills: config");
		return;
	}
	snprintf(dir, sizeof dir, "%s/s", top);
	for (i = 0; i < PROCS; i++)
		pids[i] = spawn(c, dir, top, next++);
	for (k = 0; k < KILLS; k++) {
		/* Kill a process once it has lines answered. */
		snprintf(path, sizeof path, "%s/acked.%ld", top, next - PROCS);
		for (i = 0; i < 2000 && lines_of(path) < 200 + 97 * k; i++)
			nap_ms(1);
		i = k % PROCS;
		kill(pids[i], SIGKILL);
		waitpid(pids[i], &status, 0);
		pids[i] = spawn(c, dir, top, next++);
	}
	for (i = 0; i < PROCS; i++) {
		waitpid(pids[i], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			clean = 0;
	}
	ok(clean, "kills: the processes left standing exited cleanly");
	settle(dir, &cut);
	scan(dir, "new", seen, &lines, &bad);
	for (i = 0; i < next; i++) {
		snprintf(path, sizeof path, "%s/acked.%ld", top, i);
		acked += lines_of(path);
	}
	ok(bad == 0, "kills: no line torn, foreign or twice once validated "
	    "(%ld bad of %ld; %ld torn lines cut out)", bad, lines, cut);
	ok(acked > 0 && missing(top, seen) == 0,
	    "kills: each of %ld acknowledged lines is in new/", acked);
	free(seen);
	conf_free(c);
}

/*
 * How far the lines of the one batch in dir/tmp reach: its last byte that
 * is not padding (under sync = always the writer grows the file ahead of
 * its lines with spaces; zeros after a crash), -1 when there is none.
 * With at set, only whether a line's byte is at that offset yet: 1 or 0
 * (cheap enough to poll).
 */
static int
padding(char c)
{
	return c == ' ' || c == '\0';
}

static off_t
tmp_reach(const char *dir, off_t at)
{
	char path[4096], buf[64 * 1024];
	struct dirent *de;
	struct stat sb;
	off_t end = -1, i;
	ssize_t n;
	DIR *d;
	int fd;

	snprintf(path, sizeof path, "%s/tmp", dir);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/tmp/%s", dir, de->d_name);
		if ((fd = open(path, O_RDONLY)) == -1)
			continue;
		if (at > 0)
			end = pread(fd, buf, 1, at) == 1 && !padding(buf[0]);
		else if (fstat(fd, &sb) == 0)
			for (end = sb.st_size; end > 0; end -= n) {
				n = end < (off_t)sizeof buf ? (ssize_t)end :
				    (ssize_t)sizeof buf;
				if (pread(fd, buf, (size_t)n, end - n) != n)
					break;
				for (i = n; i > 0 && padding(buf[i - 1]); i--)
					;
				if (i > 0) {
					end = end - n + i;
					break;
				}
			}
		close(fd);
	}
	closedir(d);
	return end;
}

/*
 * A process killed in the middle of one long write: its batch ends in a
 * torn line, which validation must cut out, keeping the line before it
 * and the next process's line.
 */
static void
test_torn(const char *top)
{
	unsigned char *seen = calloc((size_t)MAXID * THREADS * LINES, 1);
	char dir[1024], path[4096], *big;
	long n = 0, bad = 0, len = 32L << 20, i, tries, cut = 0;
	off_t size = -1;
	struct conf *c;
	int status, torn = 0;
	pid_t pid;

	if ((c = load(top, "batch_max_bytes = 1G\n")) == NULL) {
		ok(0, "torn: config");
		return;
	}
	snprintf(dir, sizeof dir, "%s/s", top);
	for (tries = 0; tries < 8 && !torn; tries++) {
		snprintf(path, sizeof path, "rm -rf %s", dir);
		(void)system(path);
		if ((pid = fork()) == 0) {
			/* One small line, then a 32 MiB one. */
			if ((writer = spool_writer_new(c, dir)) == NULL)
				_exit(2);
			(void)spool_write(writer, "{\"hit_id\":\"p0-0-0\"}\n",
			    20, NULL);
			big = malloc((size_t)len);
			memset(big, 'x', (size_t)len);
			memcpy(big, "{\"hit_id\":\"big", 14);
			big[len - 1] = '\n';
			(void)spool_write(writer, big, (size_t)len, NULL);
			_exit(0);
		}
		/* Kill it once the long line is partly written. */
		for (i = 0; i < 5000 && tmp_reach(dir, 20 + len / 4) != 1; i++)
			nap_ms(0);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		size = tmp_reach(dir, 0);
		torn = size > 20 && size < 20 + len;
	}
	ok(torn, "torn: the kill hit the long write (try %ld, %lld of %ld "
	    "bytes)", tries, (long long)size, 20 + len);
	/* The next writer, then the uploader's settling. */
	if ((pid = fork()) == 0) {
		if ((writer = spool_writer_new(c, dir)) == NULL)
			_exit(2);
		(void)spool_write(writer, "{\"hit_id\":\"p1-0-0\"}\n", 20,
		    NULL);
		spool_writer_free(writer);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	settle(dir, &cut);
	scan(dir, "new", seen, &n, &bad);
	ok(bad == 0 && cut == 1 && seen[0] == 1 &&
	    seen[1L * THREADS * LINES] == 1,
	    "torn: the torn line cut out, both small lines whole (%ld lines, "
	    "%ld bad, %ld cut)", n, bad, cut);
	free(seen);
	conf_free(c);
}

int
main(void)
{
	char top[] = "/tmp/test_spool_procs.XXXXXX", kills[512],
	    torn[512], cmd[4096];

	if (mkdtemp(top) == NULL)
		return 1;
	snprintf(kills, sizeof kills, "%s/kills", top);
	snprintf(torn, sizeof torn, "%s/torn", top);
	mkdir(kills, 0700);
	mkdir(torn, 0700);
	test_kills(kills);
	test_torn(torn);
	snprintf(cmd, sizeof cmd, "rm -rf %s", top);
	(void)system(cmd);
	return tap_done();
}
