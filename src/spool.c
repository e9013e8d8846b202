/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * spool: the layout and the names (see spool.h for the protocol), listing,
 * the admin's moves and the backlog, and the helpers the other spool files
 * share (spool_impl.h): opening without following a link, syncing, files
 * written whole.  The responder's writer is in spool_writer.c, load jobs
 * in spool_job.c, validation and orphans in spool_check.c.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "spool.h"
#include "spool_impl.h"
#include "xmalloc.h"

const char *const spool_state_names[SPOOL_NSTATES] = {
	"tmp", "new", "active", "done", "failed", "hold", "corrupt"
};

/*
 * A file of new/ modified this recently may still be being copied in (cp
 * straight into new/ instead of copy, then mv): not claimed yet.
 */
#define SPOOL_NEW_SETTLE 2

int
spool_state_lookup(const char *name)
{
	int i;

	for (i = 0; i < SPOOL_NSTATES; i++)
		if (strcmp(spool_state_names[i], name) == 0)
			return i;
	return -1;
}

char *
spool_stream_dir(const struct conf *c, const struct conf_stream *st)
{
	return xasprintf("%s/%s", c->spool_dir, st->name);
}

char *
spool_path(const char *dir, enum spool_state s, const char *name)
{
	if (name == NULL)
		return xasprintf("%s/%s", dir, spool_state_names[s]);
	return xasprintf("%s/%s/%s", dir, spool_state_names[s], name);
}

static int
spool_mkdir(const char *path)
{
	if (mkdir(path, 0750) == -1 && errno != EEXIST) {
		log_warn("spool: cannot create '%s'", path);
		return -1;
	}
	return 0;
}

/* Create the stream folder and its state folders (parents too). */
int
spool_prepare(const char *dir)
{
	char *p, *slash;
	int i, rc = 0;

	p = xstrdup(dir);
	for (slash = strchr(p + 1, '/'); slash != NULL;
	    slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdir(p, 0755) == -1 && errno != EEXIST) {
			log_warn("spool: cannot create '%s'", p);
			rc = -1;
		}
		*slash = '/';
	}
	if (rc == 0 && spool_mkdir(p) == -1)
		rc = -1;
	free(p);
	for (i = 0; i < SPOOL_NSTATES && rc == 0; i++) {
		p = spool_path(dir, i, NULL);
		rc = spool_mkdir(p);
		free(p);
	}
	return rc;
}

/*
 * Run as root, become the owner of the spool before touching it: files
 * written as root would lock its owner (the responder's and the cron
 * uploader's user) out, and as root a symlink the owner planted could
 * reach any file.  Nothing to do when not root, or when the spool is
 * root's or not there yet.
 */
int
spool_become_owner(const char *spool_dir)
{
	struct stat sb;
	gid_t gid;

	if (geteuid() != 0 || stat(spool_dir, &sb) == -1 || sb.st_uid == 0)
		return 0;
	gid = sb.st_gid;
	if (setgroups(1, &gid) == -1 || setgid(sb.st_gid) == -1 ||
	    setuid(sb.st_uid) == -1) {
		log_warn("spool: cannot become uid %lu, the owner of '%s'",
		    (unsigned long)sb.st_uid, spool_dir);
		return -1;
	}
	log_debug("spool: running as uid %lu, the owner of '%s'",
	    (unsigned long)sb.st_uid, spool_dir);
	return 0;
}

/* fopen(path, "r") that does not follow a symlink. */
FILE *
spool_fopen_read(const char *path)
{
	FILE *fp;
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return NULL;
	if ((fp = fdopen(fd, "r")) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
	}
	return fp;
}

int
spool_sync_dir(const char *path)
{
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_warn("spool: cannot open '%s'", path);
		return -1;
	}
	if (fsync(fd) == -1) {
		log_warn("spool: cannot sync '%s'", path);
		rc = -1;
	}
	close(fd);
	return rc;
}

int
spool_sync_state(const char *dir, enum spool_state s)
{
	char *p = spool_path(dir, s, NULL);
	int rc = spool_sync_dir(p);

	free(p);
	return rc;
}

int
spool_datasync(int fd)
{
#ifdef HAVE_FDATASYNC
	return fdatasync(fd);
#else
	return fsync(fd);
#endif
}

static pthread_mutex_t spool_name_lock = PTHREAD_MUTEX_INITIALIZER;

void
spool_host(char *out, size_t len)
{
	char host[256];
	size_t i;

	if (gethostname(host, sizeof host) == -1 || host[0] == '\0')
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	for (i = 0; host[i] != '\0' && i + 1 < len; i++)
		out[i] = isalnum((unsigned char)host[i]) ? host[i] : '-';
	out[i] = '\0';
}

/* <sec>.<usec>.<host>.<pid>.<seq>.ndjson: unique without locks, by time. */
void
spool_new_name(char *out, size_t len)
{
	static unsigned long seq;
	unsigned long n;
	struct timeval tv;
	char host[64];

	pthread_mutex_lock(&spool_name_lock);
	n = seq++;
	pthread_mutex_unlock(&spool_name_lock);
	gettimeofday(&tv, NULL);
	spool_host(host, sizeof host);
	snprintf(out, len, "%lld.%06ld.%s.%ld.%lu.ndjson",
	    (long long)tv.tv_sec, (long)tv.tv_usec, host, (long)getpid(), n);
}

/* Names the tools accept: plain, no '/', not hidden. */
int
spool_valid_name(const char *name)
{
	return name[0] != '\0' && name[0] != '.' && strchr(name, '/') == NULL &&
	    strlen(name) < NAME_MAX;
}

/*
 * Create a fresh file to write whole: whatever had the name (a stale temp
 * file, a symlink someone planted) is removed first, and the file is
 * created with O_EXCL, so no link is ever followed.  The fd, or -1.
 */
int
spool_create(const char *path)
{
	int fd;

	if (unlink(path) == -1 && errno != ENOENT) {
		log_warn("spool: cannot remove '%s'", path);
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0640);
	if (fd == -1)
		log_warn("spool: cannot create '%s'", path);
	return fd;
}

int
spool_write_file(const char *path, const char *data, size_t len)
{
	int fd;
	size_t done = 0;
	ssize_t n;

	if ((fd = spool_create(path)) == -1)
		return -1;
	while (done < len) {
		n = write(fd, data + done, len - done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_warn("spool: cannot write '%s'", path);
			goto fail;
		}
		done += (size_t)n;
	}
	if (spool_datasync(fd) == -1) {
		log_warn("spool: cannot sync '%s'", path);
		goto fail;
	}
	close(fd);
	return 0;
fail:
	close(fd);
	(void)unlink(path);
	return -1;
}

/* ---- the writer's seal ------------------------------------------------- */

/*
 * Seal the batch open on fd (path, for the log) as its writer's: size and
 * CRC-32 of its bytes.  A file system without user xattrs only loses the
 * shortcut, so this never fails.
 */
void
spool_seal_mark(int fd, const char *path, uint64_t size, uint32_t crc)
{
	char v[64];
	int n;

	n = snprintf(v, sizeof v, "%" PRIu64 " %08" PRIx32, size, crc);
	if (fsetxattr(fd, SPOOL_SEAL_XATTR, v, (size_t)n, 0) == -1 &&
	    errno != ENOTSUP)
		log_warn("spool: cannot set %s on '%s'", SPOOL_SEAL_XATTR,
		    path);
}

/* The writer's seal of the file open on fd: 0, or -1 when it has none. */
int
spool_seal_read(int fd, uint64_t *size, uint32_t *crc)
{
	char v[64], *end;
	ssize_t n;
	unsigned long long sz;
	unsigned long c;

	if ((n = fgetxattr(fd, SPOOL_SEAL_XATTR, v, sizeof v - 1)) <= 0)
		return -1;
	v[n] = '\0';
	errno = 0;
	sz = strtoull(v, &end, 10);
	if (errno != 0 || end == v || *end != ' ' || end[1] == '\0')
		return -1;
	c = strtoul(end + 1, &end, 16);
	if (errno != 0 || *end != '\0' || c > UINT32_MAX)
		return -1;
	*size = sz;
	*crc = (uint32_t)c;
	return 0;
}

/* ---- listing ----------------------------------------------------------- */

static int
spool_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct spool_entry *)a)->name,
	    ((const struct spool_entry *)b)->name);
}

/* The regular files (dirs: the folders) of path, sorted by name. */
static int
spool_list_dir(const char *path, int dirs, struct spool_entry **out,
    size_t *np)
{
	DIR *d;
	struct dirent *de;
	struct stat sb;
	struct spool_entry *v = NULL;
	size_t n = 0, cap = 0;

	*out = NULL;
	*np = 0;
	if ((d = opendir(path)) == NULL) {
		if (errno == ENOENT)	/* a job that settled meanwhile */
			return 0;
		log_warn("spool: cannot open '%s'", path);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) ==
		    -1)
			continue;	/* vanished: someone moved it */
		if (dirs ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xreallocarray(v, cap, sizeof *v);
		}
		v[n].name = xstrdup(de->d_name);
		v[n].size = (uint64_t)sb.st_size;
		v[n].mtime = sb.st_mtime;
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof *v, spool_entry_cmp);
	*out = v;
	*np = n;
	return 0;
}

/*
 * The regular files (or, in active/, the job folders) of a state, sorted by
 * name, hence by time.  Hidden and vanished files are skipped.
 */
int
spool_list(const char *dir, enum spool_state s, struct spool_entry **out,
    size_t *np)
{
	char *path = spool_path(dir, s, NULL);
	int rc;

	rc = spool_list_dir(path, s == SPOOL_ACTIVE, out, np);
	free(path);
	return rc;
}

/*
 * The batches of new/ that are ready to claim: files modified in the last
 * SPOOL_NEW_SETTLE seconds are left out (counted in *young), after one
 * wait for them to settle, so that a batch sealed a moment ago still goes
 * in this run while a file still being written does not.
 */
int
spool_list_ready(const char *dir, struct spool_entry **out, size_t *np,
    size_t *young)
{
	struct spool_entry *v;
	size_t n, i, k;
	time_t now, newest = 0;
	int waited = 0;

again:
	if (spool_list(dir, SPOOL_NEW, &v, &n) == -1)
		return -1;
	now = time(NULL);
	*young = 0;
	for (i = k = 0; i < n; i++) {
		if (now - v[i].mtime < SPOOL_NEW_SETTLE) {
			(*young)++;
			if (v[i].mtime > newest)
				newest = v[i].mtime;
			free(v[i].name);
		} else
			v[k++] = v[i];
	}
	if (*young > 0 && !waited) {
		spool_entries_free(v, k);
		waited = 1;
		if (newest > now)
			newest = now;	/* a clock set back: wait no longer */
		sleep((unsigned)(SPOOL_NEW_SETTLE - (now - newest)));
		goto again;
	}
	*out = v;
	*np = k;
	return 0;
}

void
spool_entries_free(struct spool_entry *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

/*
 * Is name a batch of state s?  In failed/ and corrupt/ a NAME.err beside a
 * batch is its error text, never a batch of its own.
 */
static int
spool_is_batch(enum spool_state s, const char *name)
{
	size_t len = strlen(name);

	if (!spool_valid_name(name) || (s == SPOOL_ACTIVE &&
	    strcmp(name, "JOB") == 0))
		return 0;
	if ((s == SPOOL_FAILED || s == SPOOL_CORRUPT) && len > 4 &&
	    strcmp(name + len - 4, ".err") == 0)
		return 0;
	return 1;
}

/* Where a batch is; job is only used for active/. */
char *
spool_batch_path(const char *dir, enum spool_state s, const char *job,
    const char *name)
{
	if (s == SPOOL_ACTIVE)
		return xasprintf("%s/active/%s/%s", dir, job, name);
	return spool_path(dir, s, name);
}

/*
 * The batches of a state, sorted by name, without .err files; for
 * active/, those of job folder job.  Vanished files are skipped.
 */
int
spool_list_batches(const char *dir, enum spool_state s, const char *job,
    struct spool_entry **out, size_t *np)
{
	struct spool_entry *v;
	size_t n, i, k;
	char *path;
	int rc;

	if (s == SPOOL_ACTIVE)
		path = xasprintf("%s/active/%s", dir, job);
	else
		path = spool_path(dir, s, NULL);
	rc = spool_list_dir(path, 0, &v, &n);
	free(path);
	if (rc == -1)
		return -1;
	for (i = k = 0; i < n; i++) {
		if (spool_is_batch(s, v[i].name))
			v[k++] = v[i];
		else
			free(v[i].name);
	}
	*out = v;
	*np = k;
	return 0;
}

/*
 * Which state holds batch name: 0 with *sp (and *jobp, allocated, for
 * active/), 1 when it is nowhere, -1 on error.
 */
int
spool_find(const char *dir, const char *name, enum spool_state *sp,
    char **jobp)
{
	struct stat sb;
	char **jobs, *path;
	size_t n, i;
	int s, found, rc = 1;

	*jobp = NULL;
	if (!spool_valid_name(name))
		return 1;
	for (s = 0; s < SPOOL_NSTATES; s++) {
		if (s == SPOOL_ACTIVE || !spool_is_batch(s, name))
			continue;
		path = spool_path(dir, s, name);
		found = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
		free(path);
		if (found) {
			*sp = s;
			return 0;
		}
	}
	if (spool_jobs(dir, &jobs, &n) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		path = spool_batch_path(dir, SPOOL_ACTIVE, jobs[i], name);
		if (rc == 1 && spool_is_batch(SPOOL_ACTIVE, name) &&
		    stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
			*sp = SPOOL_ACTIVE;
			*jobp = xstrdup(jobs[i]);
			rc = 0;
		}
		free(path);
		free(jobs[i]);
	}
	free(jobs);
	return rc;
}

/* The .err text of a batch (at most 64K), or NULL when it has none. */
char *
spool_err_read(const char *dir, enum spool_state s, const char *name)
{
	char *path = xasprintf("%s/%s/%s.err", dir, spool_state_names[s],
	    name);
	struct buf b;
	char chunk[4096];
	size_t n;
	FILE *fp;

	buf_init(&b, 64 * 1024);
	if ((fp = spool_fopen_read(path)) != NULL) {
		while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0 &&
		    buf_add(&b, chunk, n) == 0)
			;
		fclose(fp);
	}
	free(path);
	if (fp == NULL) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

static void
spool_backlog_add(struct spool_backlog *b, const struct spool_entry *v,
    size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		b->files++;
		b->bytes += v[i].size;
		if (b->oldest == 0 || v[i].mtime < b->oldest)
			b->oldest = v[i].mtime;
	}
}

/*
 * The backlog: the hits not yet in BigQuery and on their way there, i.e.
 * the batches of tmp/ (open, or orphaned by a dead writer), new/ and
 * active/.  failed/ and hold/ wait for the admin, not for the uploader.
 * One definition for the health URL and hookspoolctl status.  Adds this
 * stream's batches to *b (so that streams can be summed); oldest is the
 * earliest modification time met.  Returns 0, or -1 when a folder could
 * not be listed (logged; the other folders are still counted).
 */
int
spool_backlog(const char *dir, struct spool_backlog *b)
{
	static const enum spool_state states[] = { SPOOL_TMP, SPOOL_NEW,
		SPOOL_ACTIVE };
	struct spool_entry *v;
	char **jobs = NULL;
	size_t i, j, n, nj = 1;
	int rc = 0;

	for (i = 0; i < sizeof states / sizeof states[0]; i++) {
		if (states[i] == SPOOL_ACTIVE &&
		    spool_jobs(dir, &jobs, &nj) == -1) {
			rc = -1;
			continue;
		}
		for (j = 0; j < nj; j++) {
			if (spool_list_batches(dir, states[i], jobs != NULL ?
			    jobs[j] : NULL, &v, &n) == -1) {
				rc = -1;
				continue;
			}
			spool_backlog_add(b, v, n);
			spool_entries_free(v, n);
		}
	}
	if (jobs != NULL)
		for (j = 0; j < nj; j++)
			free(jobs[j]);
	free(jobs);
	return rc;
}

/* ---- admin moves --------------------------------------------------------- */

/*
 * Move one batch between states (hold, release, requeue).  Returns 0, -1
 * on error, 1 when the batch is not there (moved or removed by someone).
 * A failed batch's .err file goes with it when leaving failed/.
 */
int
spool_move(const char *dir, const char *name, enum spool_state from,
    enum spool_state to)
{
	char *src, *dst;
	int rc = 0;

	if (!spool_valid_name(name)) {
		log_warnx("spool: invalid batch name '%s'", name);
		return -1;
	}
	src = spool_path(dir, from, name);
	dst = spool_path(dir, to, name);
	if (rename(src, dst) == -1) {
		if (errno == ENOENT)
			rc = 1;
		else {
			log_warn("spool: cannot rename '%s' to '%s'", src, dst);
			rc = -1;
		}
	} else {
		(void)spool_sync_state(dir, to);
		if (from == SPOOL_FAILED) {
			free(src);
			src = xasprintf("%s/failed/%s.err", dir, name);
			(void)unlink(src);
		}
	}
	free(src);
	free(dst);
	return rc;
}

/* Remove one batch (and its .err).  0, -1, or 1 when not there. */
int
spool_remove(const char *dir, enum spool_state s, const char *name)
{
	char *path;
	int rc = 0;

	if (!spool_valid_name(name)) {
		log_warnx("spool: invalid batch name '%s'", name);
		return -1;
	}
	path = spool_path(dir, s, name);
	if (unlink(path) == -1) {
		if (errno == ENOENT)
			rc = 1;
		else {
			log_warn("spool: cannot remove '%s'", path);
			rc = -1;
		}
	}
	free(path);
	if (rc == 0 && (s == SPOOL_FAILED || s == SPOOL_CORRUPT)) {
		path = xasprintf("%s/%s/%s.err", dir, spool_state_names[s], name);
		(void)unlink(path);
		free(path);
	}
	return rc;
}

/* Remove loaded batches older than keep seconds; -1 if one could not be. */
int
spool_expire_done(const char *dir, long keep, unsigned *removed)
{
	struct spool_entry *v;
	size_t n, i;
	time_t now = time(NULL);
	int rc = 0, saved = 0;

	*removed = 0;
	if (spool_list(dir, SPOOL_DONE, &v, &n) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (now - v[i].mtime < keep)
			continue;
		switch (spool_remove(dir, SPOOL_DONE, v[i].name)) {
		case 0:
			(*removed)++;
			break;
		case -1:
			saved = errno;
			rc = -1;
			break;
		}
	}
	spool_entries_free(v, n);
	errno = saved;
	return rc;
}
