/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * spool_check: batches read without trusting them.  Every line must be a
 * hit record (jsoncheck); validation cuts the others out into corrupt/
 * with a .err saying which and why, never deleting a byte; the uploader
 * checks a job's batches the same way while it sends them
 * (spool_check_batch).  Orphaned tmp/ batches (their writer gone) are
 * sealed into new/, and the leftovers of an interrupted validation
 * removed.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "jsoncheck.h"
#include "log.h"
#include "spool.h"
#include "spool_impl.h"
#include "xmalloc.h"

/* A writer's file younger than this may not be locked yet: not orphaned. */
#define SPOOL_ORPHAN_GRACE 10

/* The longest line validation accepts (a 1M body escapes to <= 6M). */
#define SPOOL_MAX_LINE (64UL * 1024 * 1024)

/* Is this line (without its '\n') a hit record?  NULL, or why not. */
static const char *
spool_check_line(const char *p, size_t len)
{
	if (len == 0)
		return "empty line";
	return jsoncheck_hit_line(p, len);
}

/* Past the last line of an open batch (see spool_end_of_lines). */
static int
spool_is_padding(char c)
{
	return c == ' ' || c == '\0';
}

static int
spool_all_padding(const char *p, size_t len)
{
	while (len > 0 && spool_is_padding(p[len - 1]))
		len--;
	return len == 0;
}

/*
 * Read a batch without changing it, judging each line as spool_validate
 * does (it uses this).  fn (when not NULL) sees every line: why is NULL for
 * a hit record.  flags: SPOOL_SCAN_OPEN for a batch in tmp/, where an
 * unended last line of padding alone (grown ahead, see spool_writer.c) is
 * not a line; SPOOL_SCAN_LIVE when its writer may be appending, where any
 * unended last line is a hit being written, neither good nor bad.
 * Returns 0, 1 when the file vanished, -1 on error.
 */
int
spool_scan(const char *path, int flags, void (*fn)(void *, unsigned long,
    const char *, size_t, const char *), void *arg, unsigned long *good,
    unsigned long *bad)
{
	FILE *fp;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned long lineno = 0;
	const char *why;
	int torn, rc = 0;

	*good = *bad = 0;
	if ((fp = spool_fopen_read(path)) == NULL) {
		if (errno == ENOENT)
			return 1;
		log_warn("spool: cannot open '%s'", path);
		return -1;
	}
	/* Batches are megabytes: read them in large pieces. */
	(void)setvbuf(fp, NULL, _IOFBF, 256 * 1024);
	while ((n = getline(&line, &cap, fp)) > 0) {
		lineno++;
		torn = line[n - 1] != '\n';
		if (torn && (flags & SPOOL_SCAN_LIVE))
			break;	/* a hit being written */
		if (torn && (flags & SPOOL_SCAN_OPEN) &&
		    spool_all_padding(line, (size_t)n))
			break;	/* the padding ahead of the lines */
		why = torn ? "torn last line (no newline): never acknowledged" :
		    (size_t)n > SPOOL_MAX_LINE ? "line too long" :
		    spool_check_line(line, (size_t)n - 1);
		if (why == NULL)
			(*good)++;
		else
			(*bad)++;
		if (fn != NULL)
			fn(arg, lineno, line, (size_t)n - !torn, why);
	}
	if (ferror(fp)) {
		log_warn("spool: cannot read '%s'", path);
		rc = -1;
	}
	fclose(fp);
	free(line);
	return rc;
}

/*
 * Read up to want (> 0) bytes of a batch of size bytes into buf: how many
 * (> 0), or -1 at its end or on an error (logged; errno set).
 */
static ssize_t
spool_check_read(int fd, const char *path, uint64_t size, char *buf,
    size_t want)
{
	ssize_t n;

	while ((n = read(fd, buf, want)) == -1 && errno == EINTR)
		;
	if (n == 0) {
		log_warnx("spool: '%s' is shorter than its %" PRIu64 " bytes",
		    path, size);
		errno = EIO;
		return -1;
	}
	if (n == -1)
		log_warn("spool: cannot read '%s'", path);
	return n;
}

/*
 * Do the first size bytes of the file open on fd have CRC-32 want?  1 yes,
 * 0 no, -1 on a read error (logged; errno set).
 */
static int
spool_check_crc(int fd, const char *path, uint64_t size, uint32_t want,
    char *buf, size_t cap)
{
	uLong crc = crc32(0, Z_NULL, 0);
	uint64_t left = size;
	ssize_t n;

	while (left > 0) {
		n = spool_check_read(fd, path, size, buf, left < cap ?
		    (size_t)left : cap);
		if (n == -1)
			return -1;
		crc = crc32_z(crc, (const Bytef *)buf, (size_t)n);
		left -= (uint64_t)n;
	}
	return crc == want;
}

/*
 * Check the first size bytes of a batch (what a job sends of it) line by
 * line as spool_scan judges them, or, when they are what its writer sealed
 * (spool.h), by their CRC-32 alone, reading it in large pieces and copying
 * no line.  fn(arg, n) hears, after each piece, that the first n bytes
 * are good lines; its non-zero return stops the check.  Returns 0 when
 * every line is good, 1 at the first bad line (*lineno and *why say which
 * and why), 2 when stopped, -1 on error (logged; errno set).
 */
int
spool_check_batch(const char *path, uint64_t size,
    int (*fn)(void *, uint64_t), void *arg, unsigned long *lineno,
    const char **why)
{
	size_t cap = 1024 * 1024, have = 0, pos, want;
	uint64_t off = 0, left = size;	/* off: file offset of buf[0] */
	uint64_t sealed;
	uint32_t crc;
	char *buf = xmalloc(cap), *nl;
	ssize_t n;
	int fd, rc = -1, e = 0;

	*lineno = 0;
	*why = NULL;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		e = errno;
		log_warn("spool: cannot open '%s'", path);
		goto out;
	}
	if (spool_seal_read(fd, &sealed, &crc) == 0 && sealed == size) {
		switch (spool_check_crc(fd, path, size, crc, buf, cap)) {
		case 1:
			log_debug("spool: '%s' is what its writer sealed", path);
			rc = fn != NULL && fn(arg, size) != 0 ? 2 : 0;
			goto out;
		case -1:
			e = errno;
			goto out;
		}
		log_warnx("spool: '%s' is not what its writer sealed: checking "
		    "each line", path);
		if (lseek(fd, 0, SEEK_SET) == -1) {
			e = errno;
			log_warn("spool: cannot rewind '%s'", path);
			goto out;
		}
	}
	while (left > 0) {
		want = cap - have < left ? cap - have : (size_t)left;
		if ((n = spool_check_read(fd, path, size, buf + have,
		    want)) == -1) {
			e = errno;
			goto out;
		}
		have += (size_t)n;
		left -= (uint64_t)n;
		for (pos = 0; (nl = memchr(buf + pos, '\n', have - pos)) !=
		    NULL; pos = (size_t)(nl - buf) + 1) {
			++*lineno;
			if ((size_t)(nl - buf) - pos + 1 > SPOOL_MAX_LINE)
				*why = "line too long";
			else
				*why = spool_check_line(buf + pos,
				    (size_t)(nl - buf) - pos);
			if (*why != NULL) {
				rc = 1;
				goto out;
			}
		}
		/* The start of a line not read whole yet goes to the front. */
		off += pos;
		memmove(buf, buf + pos, have - pos);
		have -= pos;
		if (have == cap) {
			if (cap >= SPOOL_MAX_LINE) {
				++*lineno;
				*why = "line too long";
				rc = 1;
				goto out;
			}
			cap = cap * 2 > SPOOL_MAX_LINE ? SPOOL_MAX_LINE :
			    cap * 2;
			buf = xreallocarray(buf, cap, 1);
		}
		if (fn != NULL && fn(arg, off) != 0) {
			rc = 2;
			goto out;
		}
	}
	if (have > 0) {
		++*lineno;
		*why = "torn last line (no newline): never acknowledged";
		rc = 1;
		goto out;
	}
	rc = 0;
out:
	if (rc == -1)
		errno = e;
	if (fd != -1)
		close(fd);
	free(buf);
	return rc;
}

/*
 * spool_validate's second pass: sort the lines into good and bad, each
 * straight into its file, so that memory stays flat whatever the batch
 * holds.
 */
struct spool_cut {
	const char	*name;
	FILE		*ok;		/* the hidden replacement batch */
	FILE		*bad;		/* corrupt/<name> */
	FILE		*err;		/* corrupt/<name>.err */
	int		 full;		/* a write failed */
};

static void
spool_cut_line(void *arg, unsigned long lineno, const char *line,
    size_t len, const char *why)
{
	struct spool_cut *c = arg;
	FILE *to = why == NULL ? c->ok : c->bad;

	if (fwrite(line, 1, len, to) != len || putc('\n', to) == EOF)
		c->full = 1;
	if (why != NULL && fprintf(c->err, "%s line %lu: %s\n", c->name,
	    lineno, why) < 0)
		c->full = 1;
}

/* A fresh file to write (see spool_write_file), as a stdio stream. */
static FILE *
spool_create_stream(const char *path)
{
	FILE *fp;
	int fd;

	if ((fd = spool_create(path)) == -1)
		return NULL;
	if ((fp = fdopen(fd, "w")) == NULL) {
		log_warn("spool: cannot open '%s'", path);
		close(fd);
		(void)unlink(path);
		return NULL;
	}
	(void)setvbuf(fp, NULL, _IOFBF, 256 * 1024);
	return fp;
}

/* Flush, sync and close a stream of spool_create_stream; 0 or -1. */
static int
spool_close_stream(FILE *fp, const char *path, int sync)
{
	int rc = 0;

	if (fp == NULL)
		return 0;
	if (fflush(fp) == EOF || ferror(fp)) {
		log_warn("spool: cannot write '%s'", path);
		rc = -1;
	} else if (sync && spool_datasync(fileno(fp)) == -1) {
		log_warn("spool: cannot sync '%s'", path);
		rc = -1;
	}
	if (fclose(fp) == EOF && rc == 0) {
		log_warn("spool: cannot write '%s'", path);
		rc = -1;
	}
	return rc;
}

/*
 * Validate every line of a batch.  Lines that are not hit records, and a
 * last line without '\n' (a torn write never acknowledged), are cut out
 * into corrupt/<name> with a corrupt/<name>.err saying which lines and why;
 * the good lines replace the batch in one exchange of names.  The first
 * pass only reads: a good batch, the common case, is never copied.  The
 * second streams each line to its file, holding none.
 * Returns 0 (the batch, perhaps cut, holds *good hits), 1 when nothing
 * good was left (the batch was moved to corrupt/ whole), -1 on error, 2
 * when the batch vanished.
 */
int
spool_validate(const char *dir, enum spool_state s, const char *name,
    unsigned long *good, unsigned long *bad)
{
	struct spool_cut c;
	char *path, *tmp = NULL, *cpath = NULL, *epath = NULL;
	int rc, closed, cut = 0;

	memset(&c, 0, sizeof c);
	c.name = name;
	path = spool_path(dir, s, name);
	rc = spool_scan(path, 0, NULL, NULL, good, bad);
	if (rc != 0 || *bad == 0) {
		rc = rc == 1 ? 2 : rc;
		goto out;
	}
	cpath = spool_path(dir, SPOOL_CORRUPT, name);
	epath = xasprintf("%s.err", cpath);
	tmp = xasprintf("%s/%s/.%s.valid", dir, spool_state_names[s], name);
	rc = -1;
	cut = 1;	/* from here on, a failure takes the cut files back */
	if ((c.ok = spool_create_stream(tmp)) == NULL ||
	    (c.bad = spool_create_stream(cpath)) == NULL ||
	    (c.err = spool_create_stream(epath)) == NULL)
		goto out;
	rc = spool_scan(path, 0, spool_cut_line, &c, good, bad);
	closed = spool_close_stream(c.bad, cpath, 1) |
	    spool_close_stream(c.err, epath, 1) |
	    spool_close_stream(c.ok, tmp, *good > 0);
	c.ok = c.bad = c.err = NULL;
	if (rc != 0 || c.full || closed != 0) {
		rc = rc == 1 ? 2 : -1;
		goto out;
	}
	cut = 0;	/* corrupt/ holds the bad lines now */
	rc = -1;
	log_warnx("spool: '%s': %lu bad line%s moved to corrupt/", path, *bad,
	    *bad == 1 ? "" : "s");
	(void)spool_sync_state(dir, SPOOL_CORRUPT);
	if (*good == 0) {
		if (unlink(path) == -1 && errno != ENOENT) {
			log_warn("spool: cannot remove '%s'", path);
			goto out;
		}
		rc = 1;
		goto out;
	}
	/*
	 * Exchange, not rename: if the batch was moved away meanwhile (an
	 * admin's hold), a rename would bring a copy back and load it twice.
	 */
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_EXCHANGE) == -1) {
		if (errno == ENOENT)
			rc = 2;
		else
			log_warn("spool: cannot exchange '%s' and '%s'", tmp,
			    path);
		goto out;
	}
	(void)unlink(tmp);	/* the original, now under the hidden name */
	free(tmp);
	tmp = NULL;
	(void)spool_sync_state(dir, s);
	rc = 0;
out:
	if (c.ok != NULL || c.bad != NULL || c.err != NULL) {
		(void)spool_close_stream(c.ok, tmp, 0);
		(void)spool_close_stream(c.bad, cpath, 0);
		(void)spool_close_stream(c.err, epath, 0);
	}
	if (tmp != NULL)
		(void)unlink(tmp);
	if (cut) {
		(void)unlink(cpath);
		(void)unlink(epath);
	}
	free(path);
	free(tmp);
	free(cpath);
	free(epath);
	return rc;
}

/* Number of '\n' in a file; 0, -1, or 1 when the file vanished. */
int
spool_count_lines(const char *path, unsigned long *lines)
{
	char chunk[65536];
	ssize_t n, i;
	int fd;

	*lines = 0;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 1 : -1;
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		for (i = 0; i < n; i++)
			*lines += chunk[i] == '\n';
	close(fd);
	return n < 0 ? -1 : 0;
}

/*
 * Remove the .X.valid files of a state's folder: validation's temporary
 * copy, left behind by a crash between its exchange of names and its
 * unlink (then the original, its good lines already in X).  Only while no
 * validation can run there: under the spool lock.  Returns how many.
 */
unsigned
spool_clean_valid(const char *dir, enum spool_state s)
{
	char *path = spool_path(dir, s, NULL), *f;
	struct dirent *de;
	unsigned removed = 0;
	size_t len;
	DIR *d;

	if ((d = opendir(path)) == NULL) {
		free(path);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] != '.' || len <= 7 ||
		    strcmp(de->d_name + len - 6, ".valid") != 0)
			continue;
		f = xasprintf("%s/%s", path, de->d_name);
		if (unlink(f) == 0) {
			log_info("spool: removed '%s', left by an interrupted "
			    "validation", f);
			removed++;
		} else if (errno != ENOENT)
			log_warn("spool: cannot remove '%s'", f);
		free(f);
	}
	closedir(d);
	free(path);
	return removed;
}

/*
 * The length of a batch without the padding its writer grew it by ahead of
 * its lines (spaces: preallocate, see spool_writer.c; zeros: what some
 * file systems show of a size that outlived its data in a crash).  A line
 * ends in '\n', so nothing of a whole line is cut.  -1 on a read error.
 */
static off_t
spool_end_of_lines(int fd, off_t size)
{
	char buf[64 * 1024];
	off_t at = size;
	ssize_t n, i;

	while (at > 0) {
		n = at < (off_t)sizeof buf ? (ssize_t)at : (ssize_t)sizeof buf;
		if (pread(fd, buf, (size_t)n, at - n) != n)
			return -1;
		for (i = n; i > 0; i--)
			if (!spool_is_padding(buf[i - 1]))
				return at - n + i;
		at -= n;
	}
	return 0;
}

/*
 * Seal tmp/ batches whose writer is gone: nobody holds their lock and they
 * are older than the grace period.  The padding a writer grew the batch by
 * ahead of its lines is cut off; empty batches are removed.  The torn
 * last line, if any, is dealt with by validation when the batch is
 * claimed.
 */
int
spool_seal_orphans(const char *dir, time_t now, unsigned *sealed)
{
	struct spool_entry *v;
	size_t n, i;
	char *from, *to;
	int fd, rc = 0;
	struct stat sb;
	off_t end;

	*sealed = 0;
	if (spool_list(dir, SPOOL_TMP, &v, &n) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		from = spool_path(dir, SPOOL_TMP, v[i].name);
		to = spool_path(dir, SPOOL_NEW, v[i].name);
		if ((fd = open(from, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) == -1) {
			if (errno != ENOENT) {	/* else: vanished */
				log_warn("spool: cannot open '%s'", from);
				rc = -1;
			}
			goto next;
		}
		/* Age first: a lock taken on a batch its writer has just
		 * created, before it locks it, would fail that writer. */
		if (fstat(fd, &sb) == -1 ||
		    now - sb.st_ctime < SPOOL_ORPHAN_GRACE)
			goto next;
		if (flock(fd, LOCK_EX | LOCK_NB) == -1)
			goto next;	/* its writer is alive */
		if ((end = spool_end_of_lines(fd, sb.st_size)) == -1) {
			log_warn("spool: cannot read '%s'", from);
			rc = -1;
			goto next;
		}
		if (end == 0) {
			(void)unlink(from);
			goto next;
		}
		if (end < sb.st_size && ftruncate(fd, end) == -1) {
			log_warn("spool: cannot cut '%s' to its %lld bytes of "
			    "lines", from, (long long)end);
			rc = -1;
			goto next;
		}
		if (end < sb.st_size)
			log_info("spool: cut the %lld bytes of padding past "
			    "the last line of orphaned batch '%s'",
			    (long long)(sb.st_size - end), from);
		if (spool_datasync(fd) == -1) {
			log_warn("spool: cannot sync '%s'", from);
			rc = -1;
			goto next;
		}
		if (rename(from, to) == -1) {
			if (errno != ENOENT) {
				log_warn("spool: cannot rename '%s' to '%s'",
				    from, to);
				rc = -1;
			}
			goto next;
		}
		log_info("spool: sealed orphaned batch '%s'", to);
		(*sealed)++;
next:
		if (fd != -1)
			close(fd);
		fd = -1;
		free(from);
		free(to);
	}
	if (*sealed > 0)
		(void)spool_sync_state(dir, SPOOL_NEW);
	spool_entries_free(v, n);
	return rc;
}

/*
 * Is tmp/name an orphan (writer gone, past the grace period)?  1 yes, 0
 * no, -1 when it vanished.  Only files past the grace period are locked:
 * a writer locks its new batch right after creating it, and our lock in
 * that moment would make its flock fail.
 */
int
spool_tmp_orphan(const char *dir, const char *name, time_t now)
{
	char *path = spool_path(dir, SPOOL_TMP, name);
	struct stat sb;
	int fd, rc = -1;

	if (stat(path, &sb) == -1)
		goto out;
	rc = 0;
	if (now - sb.st_ctime < SPOOL_ORPHAN_GRACE)
		goto out;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		rc = -1;
		goto out;
	}
	rc = flock(fd, LOCK_SH | LOCK_NB) == 0;
	close(fd);
out:
	free(path);
	return rc;
}
