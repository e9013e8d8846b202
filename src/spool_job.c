/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * spool_job: the uploader's side of the spool.  Its lock and reserve; a
 * claim moves batches from new/ into active/<id>/ and writes the JOB file
 * naming them, so that every retry of the job loads the same bytes under
 * the same id; settling moves them to done/ or failed/ (with a .err), or
 * back to new/ for a job given up before its upload finished.
 * Also the per-table ledger of job starts (BigQuery's daily cap) and the
 * uploader's last result for the health URL and hookspoolctl status.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "buf.h"
#include "log.h"
#include "spool.h"
#include "spool_impl.h"
#include "xmalloc.h"

/* ---- load jobs ------------------------------------------------------------ */

/*
 * The uploader's lock: flock on spool_dir/.lock.  Returns 0 with the fd,
 * 1 when another run holds it, -1 on error.
 */
int
spool_lock(const char *spool_dir, int *fdp)
{
	char *path = xasprintf("%s/.lock", spool_dir);
	int fd;

	if (mkdir(spool_dir, 0750) == -1 && errno != EEXIST)
		log_warn("spool: cannot create '%s'", spool_dir);
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd == -1) {
		log_warn("spool: cannot open '%s'", path);
		free(path);
		return -1;
	}
	free(path);
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		close(fd);
		return errno == EWOULDBLOCK ? 1 : -1;
	}
	*fdp = fd;
	return 0;
}

/*
 * The uploader's reserve: spool_dir/.reserve, size bytes kept allocated
 * so that a spool filled to the last byte (min_free_space = 0, or another
 * program) can still be drained: claiming a job needs a little space (the
 * JOB file), and only the uploader frees space.  With less than size free,
 * the reserve is given up for this run (1); with plenty free it is made
 * again (0).  -1 on error.
 */
int
spool_reserve(const char *spool_dir, uint64_t size)
{
	char *path = xasprintf("%s/.reserve", spool_dir);
	struct statvfs sv;
	struct stat sb;
	uint64_t avail;
	int fd, rc = 0;

	if (statvfs(spool_dir, &sv) == -1) {
		log_warn("spool: statvfs '%s'", spool_dir);
		rc = -1;
		goto out;
	}
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (avail < size) {
		if (unlink(path) == 0) {
			log_warnx("spool: '%s' is full: using the reserve to "
			    "drain it", spool_dir);
			rc = 1;
		}
		goto out;
	}
	if (stat(path, &sb) == 0 || avail < 2 * size)
		goto out;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		goto out;
#ifdef HAVE_POSIX_FALLOCATE
	if (posix_fallocate(fd, 0, (off_t)size) != 0 || fsync(fd) == -1) {
#else
	if (ftruncate(fd, (off_t)size) == -1 || fsync(fd) == -1) {
#endif
		(void)unlink(path);
		rc = -1;
	}
	close(fd);
out:
	free(path);
	return rc;
}

void
spool_unlock(int fd)
{
	if (fd != -1)
		close(fd);
}

static void
spool_id_part(struct buf *b, const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < max; i++)
		(void)buf_addc(b, isalnum((unsigned char)s[i]) || s[i] == '-' ||
		    s[i] == '_' ? s[i] : '-');
}

/*
 * The job id of one claim of a set of batches:
 * hookspool_<host>_<stream>_<digest>, the digest being SHA-256 over the
 * names and sizes, the claim time and 16 random bytes.  Unique per claim:
 * a batch requeued from failed/ must not get the id of the job that
 * failed, which BigQuery would answer 409 and the lookup would find
 * failed.  The claim writes it into active/ before the first byte is sent,
 * so every retry of the claim uses the same id.  Only [A-Za-z0-9_-], so
 * BigQuery accepts it; the host part keeps collectors from colliding.
 */
void
spool_job_id(const char *host, const char *stream,
    const struct spool_entry *v, size_t n, char *out, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	unsigned char salt[16];
	EVP_MD_CTX *ctx;
	struct timespec ts;
	struct buf b;
	char hbuf[64], num[64];
	size_t i;

	if (host == NULL) {
		spool_host(hbuf, sizeof hbuf);
		host = hbuf;
	}
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		abort();	/* libcrypto without SHA-256: unusable */
	for (i = 0; i < n; i++) {
		snprintf(num, sizeof num, " %" PRIu64 "\n", v[i].size);
		EVP_DigestUpdate(ctx, v[i].name, strlen(v[i].name));
		EVP_DigestUpdate(ctx, num, strlen(num));
	}
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(num, sizeof num, "claim %lld.%09ld %ld\n",
	    (long long)ts.tv_sec, ts.tv_nsec, (long)getpid());
	EVP_DigestUpdate(ctx, num, strlen(num));
	if (RAND_bytes(salt, sizeof salt) != 1)
		abort();	/* no randomness: ids could repeat */
	EVP_DigestUpdate(ctx, salt, sizeof salt);
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	buf_init(&b, 0);
	(void)buf_adds(&b, "hookspool_");
	spool_id_part(&b, host, 40);
	(void)buf_addc(&b, '_');
	spool_id_part(&b, stream, 40);
	(void)buf_addc(&b, '_');
	for (i = 0; i < 16 && i < mdlen; i++)
		(void)buf_addf(&b, "%02x", md[i]);
	snprintf(out, len, "%s", buf_str(&b));
	buf_release(&b);
}

void
spool_job_attempt_id(const struct spool_job *j, char *out, size_t len)
{
	if (j->attempt == 0)
		snprintf(out, len, "%s", j->id);
	else
		snprintf(out, len, "%s_a%u", j->id, j->attempt);
}

void
spool_job_free(struct spool_job *j)
{
	size_t i;

	for (i = 0; i < j->n; i++)
		free(j->names[i]);
	free(j->names);
	free(j->sizes);
	free(j->dir);
	free(j->id);
	memset(j, 0, sizeof *j);
}

/* Write the JOB file (tmp + sync + rename + sync dir). */
int
spool_job_save(struct spool_job *j)
{
	struct buf b;
	char *path, *tmp;
	size_t i;
	int rc = -1;

	buf_init(&b, 0);
	(void)buf_addf(&b, "id %s\nattempt %u\ntries %u\n", j->id, j->attempt,
	    j->tries);
	for (i = 0; i < j->n; i++)
		(void)buf_addf(&b, "file %s %" PRIu64 "\n", j->names[i],
		    j->sizes[i]);
	path = xasprintf("%s/JOB", j->dir);
	tmp = xasprintf("%s/.JOB.tmp", j->dir);
	if (spool_write_file(tmp, b.data, b.len) == -1)
		goto out;
	if (rename(tmp, path) == -1) {
		log_warn("spool: cannot rename '%s' to '%s'", tmp, path);
		goto out;
	}
	if (spool_sync_dir(j->dir) == -1)
		goto out;
	j->not_before = 0;
	rc = 0;
out:
	buf_release(&b);
	free(path);
	free(tmp);
	return rc;
}

/* Keep the job until t: the JOB file's mtime is its next attempt time. */
int
spool_job_defer(struct spool_job *j, time_t t)
{
	struct timespec ts[2];
	char *path = xasprintf("%s/JOB", j->dir);
	int rc = 0;

	ts[0].tv_sec = ts[1].tv_sec = t;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) == -1) {
		log_warn("spool: cannot set the retry time of '%s'", path);
		rc = -1;
	}
	j->not_before = t;
	free(path);
	return rc;
}

/*
 * Claim batches from new/ for one load job: mkdir active/<id>, move the
 * batches in, then write the JOB file.  A folder without a JOB file is an
 * interrupted claim, undone by spool_job_load.  Entries that vanished
 * before the move are dropped from the job; returns 1 if none was left.
 */
int
spool_claim(const char *dir, const char *id, struct spool_entry *v, size_t n,
    struct spool_job *j)
{
	char *from, *to;
	size_t i;

	memset(j, 0, sizeof *j);
	j->id = xstrdup(id);
	j->dir = xasprintf("%s/active/%s", dir, id);
	j->names = xcalloc(n, sizeof *j->names);
	j->sizes = xcalloc(n, sizeof *j->sizes);
	if (mkdir(j->dir, 0750) == -1) {
		log_warn("spool: cannot create '%s'", j->dir);
		goto fail;
	}
	for (i = 0; i < n; i++) {
		from = spool_path(dir, SPOOL_NEW, v[i].name);
		to = xasprintf("%s/%s", j->dir, v[i].name);
		if (rename(from, to) == 0) {
			j->names[j->n] = xstrdup(v[i].name);
			j->sizes[j->n] = v[i].size;
			j->total += v[i].size;
			j->n++;
		} else if (errno != ENOENT)
			log_warn("spool: cannot rename '%s' to '%s'", from, to);
		free(from);
		free(to);
	}
	if (j->n == 0) {
		(void)rmdir(j->dir);
		spool_job_free(j);
		return 1;
	}
	if (j->n != n) {
		/* The id must name exactly these bytes: undo, try again. */
		log_warnx("spool: batches vanished while claiming '%s'", id);
		for (i = 0; i < j->n; i++) {
			from = xasprintf("%s/%s", j->dir, j->names[i]);
			to = spool_path(dir, SPOOL_NEW, j->names[i]);
			(void)rename(from, to);
			free(from);
			free(to);
		}
		(void)rmdir(j->dir);
		spool_job_free(j);
		return 1;
	}
	if (spool_sync_dir(j->dir) == -1 || spool_job_save(j) == -1)
		goto fail;
	(void)spool_sync_state(dir, SPOOL_NEW);
	(void)spool_sync_state(dir, SPOOL_ACTIVE);
	return 0;
fail:
	spool_job_free(j);
	return -1;
}

/* The job folders in active/. */
int
spool_jobs(const char *dir, char ***names, size_t *np)
{
	struct spool_entry *v;
	size_t n, i;

	if (spool_list(dir, SPOOL_ACTIVE, &v, &n) == -1)
		return -1;
	*names = xcalloc(n + 1, sizeof **names);
	for (i = 0; i < n; i++)
		(*names)[i] = v[i].name;	/* take ownership */
	*np = n;
	free(v);
	return 0;
}

/* Move every file of an active folder back to new/ and remove it. */
static int
spool_unclaim(const char *dir, const char *jobdir)
{
	DIR *d;
	struct dirent *de;
	char *from, *to;
	int rc = 0;

	if ((d = opendir(jobdir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		from = xasprintf("%s/%s", jobdir, de->d_name);
		if (de->d_name[0] == '.') {
			(void)unlink(from);
			free(from);
			continue;
		}
		to = spool_path(dir, SPOOL_NEW, de->d_name);
		if (rename(from, to) == -1 && errno != ENOENT) {
			log_warn("spool: cannot rename '%s' to '%s'", from, to);
			rc = -1;
		}
		free(from);
		free(to);
	}
	closedir(d);
	(void)spool_sync_state(dir, SPOOL_NEW);
	if (rc == 0 && rmdir(jobdir) == -1 && errno != ENOENT) {
		log_warn("spool: cannot remove '%s'", jobdir);
		rc = -1;
	}
	return rc;
}

/*
 * Read active/<id>/JOB.  Returns 0; 1 when the folder was an interrupted
 * claim (its batches went back to new/) or vanished; -1 on error.
 */
int
spool_job_load(const char *dir, const char *id, struct spool_job *j)
{
	char *path;
	FILE *fp;
	char *line = NULL, *sp;
	size_t cap = 0;
	ssize_t len;
	struct stat sb;
	unsigned long long sz;
	int rc = -1;

	memset(j, 0, sizeof *j);
	j->dir = xasprintf("%s/active/%s", dir, id);
	path = xasprintf("%s/JOB", j->dir);
	if ((fp = spool_fopen_read(path)) == NULL) {
		if (errno != ENOENT) {
			log_warn("spool: cannot open '%s'", path);
			goto out;
		}
		log_warnx("spool: '%s' is an interrupted claim: its batches "
		    "go back to new/", j->dir);
		rc = spool_unclaim(dir, j->dir) == 0 ? 1 : -1;
		goto out;
	}
	if (fstat(fileno(fp), &sb) == 0)
		j->not_before = sb.st_mtime;
	while ((len = getline(&line, &cap, fp)) > 0) {
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (strncmp(line, "id ", 3) == 0) {
			free(j->id);
			j->id = xstrdup(line + 3);
		} else if (strncmp(line, "attempt ", 8) == 0)
			j->attempt = (unsigned)strtoul(line + 8, NULL, 10);
		else if (strncmp(line, "tries ", 6) == 0)
			j->tries = (unsigned)strtoul(line + 6, NULL, 10);
		else if (strncmp(line, "file ", 5) == 0 &&
		    (sp = strrchr(line + 5, ' ')) != NULL) {
			*sp = '\0';
			sz = strtoull(sp + 1, NULL, 10);
			j->names = xreallocarray(j->names, j->n + 1,
			    sizeof *j->names);
			j->sizes = xreallocarray(j->sizes, j->n + 1,
			    sizeof *j->sizes);
			j->names[j->n] = xstrdup(line + 5);
			j->sizes[j->n] = sz;
			j->total += sz;
			j->n++;
		}
	}
	fclose(fp);
	if (j->id == NULL || strcmp(j->id, id) != 0 || j->n == 0) {
		log_warnx("spool: '%s' is damaged; move its batches to new/ "
		    "by hand after checking BigQuery for job '%s'", path, id);
		goto out;
	}
	rc = 0;
out:
	free(line);
	free(path);
	if (rc != 0)
		spool_job_free(j);
	return rc;
}

/*
 * Settle a job: its batches go to done/ (aging from now, not from the
 * receipt) or to failed/ with a .err text each; then the folder goes away.
 * Batches already moved by an interrupted settle are skipped.
 */
static int
spool_job_settle(const char *dir, struct spool_job *j, enum spool_state to_s,
    const char *why)
{
	struct timespec now[2];
	char *from, *to, *err, *text, *job;
	size_t i;
	int rc = 0;

	now[0].tv_nsec = now[1].tv_nsec = UTIME_NOW;
	for (i = 0; i < j->n; i++) {
		from = xasprintf("%s/%s", j->dir, j->names[i]);
		to = spool_path(dir, to_s, j->names[i]);
		if (why != NULL) {
			err = xasprintf("%s.err", to);
			text = xasprintf("job %s\n%s\n", j->id, why);
			(void)spool_write_file(err, text, strlen(text));
			free(err);
			free(text);
		} else
			(void)utimensat(AT_FDCWD, from, now,
			    AT_SYMLINK_NOFOLLOW);
		if (rename(from, to) == -1 && errno != ENOENT) {
			log_warn("spool: cannot rename '%s' to '%s'", from, to);
			rc = -1;
		}
		free(from);
		free(to);
	}
	(void)spool_sync_state(dir, to_s);
	job = xasprintf("%s/JOB", j->dir);
	if (rc == 0 && unlink(job) == -1 && errno != ENOENT)
		rc = -1;
	free(job);
	if (rc == 0 && rmdir(j->dir) == -1) {
		log_warn("spool: cannot remove '%s'", j->dir);
		rc = -1;
	}
	return rc;
}

/* A loaded job: its batches go to done/. */
int
spool_job_done(const char *dir, struct spool_job *j)
{
	return spool_job_settle(dir, j, SPOOL_DONE, NULL);
}

/* A rejected job: its batches go to failed/, each with a .err text. */
int
spool_job_failed(const char *dir, struct spool_job *j, const char *why)
{
	return spool_job_settle(dir, j, SPOOL_FAILED, why);
}

/*
 * An unfinished job given up (its upload dropped before BigQuery could
 * make a job of it): its batches go back to new/.  The JOB file goes
 * first, so that a crash midway leaves an interrupted claim, which
 * spool_job_load undoes the same way.
 */
int
spool_job_release(const char *dir, struct spool_job *j)
{
	char *job = xasprintf("%s/JOB", j->dir);
	int rc = -1;

	if (unlink(job) == -1 && errno != ENOENT)
		log_warn("spool: cannot remove '%s'", job);
	else if (spool_sync_dir(j->dir) == 0 && spool_unclaim(dir, j->dir) ==
	    0)
		rc = 0;
	free(job);
	return rc;
}

/* ---- the uploader's last result ------------------------------------------ */

/* spool_dir/.last-upload: one line of JSON, replaced atomically. */
int
spool_status_write(const char *spool_dir, const char *json_line)
{
	char *path = xasprintf("%s/.last-upload", spool_dir);
	char *tmp = xasprintf("%s/.last-upload.tmp", spool_dir);
	char *text = xasprintf("%s\n", json_line);
	int rc;

	rc = spool_write_file(tmp, text, strlen(text));
	if (rc == 0 && rename(tmp, path) == -1) {
		log_warn("spool: cannot rename '%s' to '%s'", tmp, path);
		rc = -1;
	}
	free(path);
	free(tmp);
	free(text);
	return rc;
}

/*
 * The last result line, or NULL when there is none yet (or it is over
 * 256K: the uploader never writes one that long).  The line is the
 * uploader's text: callers parse it and must not trust it to be JSON.
 */
char *
spool_status_read(const char *spool_dir)
{
	char *path = xasprintf("%s/.last-upload", spool_dir);
	char chunk[4096], *r = NULL;
	struct buf b;
	size_t n;
	FILE *fp;

	buf_init(&b, 256 * 1024);
	if ((fp = spool_fopen_read(path)) == NULL)
		goto out;
	while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
		if (buf_add(&b, chunk, n) == -1) {
			log_warnx("spool: '%s' is over 256K: ignored", path);
			goto out;
		}
	if (!ferror(fp) && b.len > 0) {
		r = buf_detach(&b, NULL);	/* NUL-terminated */
		r[strcspn(r, "\n")] = '\0';
	}
out:
	if (fp != NULL)
		fclose(fp);
	buf_release(&b);
	free(path);
	return r;
}

/* ---- the per-table job cap ------------------------------------------------ */

static char *
spool_quota_path(const char *spool_dir, const char *table)
{
	struct buf b;
	char *p;

	buf_init(&b, 0);
	spool_id_part(&b, table, 200);
	p = xasprintf("%s/.quota-%s", spool_dir, buf_str(&b));
	buf_release(&b);
	return p;
}

/*
 * Read a table's ledger: the job starts of the 24 hours before now, as
 * lines into b when not NULL, counted in *count.  0, or -1 when it cannot
 * be read whole (unreadable, damaged): a ledger read in part must neither
 * count as fewer jobs nor be rewritten, which would lose its history.
 */
static int
spool_quota_read(const char *path, time_t now, struct buf *b,
    unsigned long *count)
{
	FILE *fp;
	long long t;
	int rc = 0;

	*count = 0;
	if ((fp = spool_fopen_read(path)) == NULL) {
		if (errno == ENOENT)
			return 0;
		log_warn("spool: cannot open the job ledger '%s'", path);
		return -1;
	}
	while (fscanf(fp, "%lld", &t) == 1)
		if (t > (long long)now - 86400) {
			(*count)++;
			if (b != NULL)
				(void)buf_addf(b, "%lld\n", t);
		}
	if (ferror(fp)) {
		log_warn("spool: cannot read the job ledger '%s'", path);
		rc = -1;
	} else if (fscanf(fp, " %*c") != EOF) {
		log_warnx("spool: the job ledger '%s' is damaged: fix or "
		    "remove it", path);
		errno = EIO;
		rc = -1;
	}
	fclose(fp);
	return rc;
}

/* Jobs started for a table in the 24 hours before now. */
int
spool_quota_count(const char *spool_dir, const char *table, time_t now,
    unsigned long *count)
{
	char *path = spool_quota_path(spool_dir, table);
	int rc;

	rc = spool_quota_read(path, now, NULL, count);
	free(path);
	return rc;
}

/*
 * Note one job start; entries older than a day are dropped on rewrite.
 * A ledger that cannot be read whole is left as it is (-1).
 */
int
spool_quota_note(const char *spool_dir, const char *table, time_t now)
{
	char *path = spool_quota_path(spool_dir, table);
	char *tmp = xasprintf("%s.tmp", path);
	struct buf b;
	unsigned long n;
	int rc;

	buf_init(&b, 0);
	if ((rc = spool_quota_read(path, now, &b, &n)) == -1)
		goto out;
	(void)buf_addf(&b, "%lld\n", (long long)now);
	rc = spool_write_file(tmp, b.data, b.len);
	if (rc == 0 && rename(tmp, path) == -1) {
		log_warn("spool: cannot rename '%s'", tmp);
		rc = -1;
	}
out:
	buf_release(&b);
	free(path);
	free(tmp);
	return rc;
}
