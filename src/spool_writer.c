/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * spool_writer: the responder's side of the spool: hits appended to a
 * batch in tmp/, group commit, sealing into new/.
 *
 * Durability: a batch is created, flock'ed and its directory synced before
 * its first hit is acknowledged; with sync=always each acknowledged line has
 * been fdatasync'ed, and concurrent writers share one fdatasync (group
 * commit: see spool_commit).  Sealing syncs the file, renames it into new/
 * and syncs new/.
 * A failed or short write is cut off again with ftruncate, so a batch never
 * holds half a line except after a crash, and then only at its end.
 *
 * Each process commits its own batch.  One batch and one group commit for
 * all processes of a stream (a robust shared mutex and futex wake-ups in a
 * mapped file) was built and measured against this design in the same
 * runs (bench/results/collector-2026-12-02-*-shared.md): on a bare ext4, a
 * journaled ext4 and XFS it took 0.77-1.22x the requests/s of this one,
 * 0.94x in the median, because this machine's disk runs concurrent
 * fdatasyncs of different files at once, and the coordination cost CPU.
 * It was not kept.  With fdatasync made a no-op, sync=always runs as fast
 * as sync=none there (collector-2026-12-02-nosync.md): what it costs is
 * the sync itself, not the queue and hand-offs around it.
 *
 * A line answered 503 never loads.  The writer keeps the length of its
 * batch's acknowledged lines (with sync=always: those a successful sync
 * covered; otherwise every written line).  When a sync fails, the lines
 * after that length are answered 503 only once they are gone from the
 * batch: it is cut back (ftruncate) to its acknowledged length, synced
 * again, then sealed.  A crash before that cut is durable leaves the
 * unanswered lines in tmp/ to load, which is right: no answer was given.
 * When the cut cannot be made durable either, the batch goes to corrupt/
 * with a .err naming its acknowledged length; those lines then wait for
 * the admin (hookspool.conf(5)), and nothing answered 503 loads.
 *
 * Under sync=always the batch file is grown ahead of its lines with
 * spaces (16K, then doubling up to preallocate bytes a step), and each
 * line is written at its offset: a line's fdatasync then has no new file
 * size to write, which on a journaled file system is a journal commit
 * (bench/README.md, "What is left": 1.00-1.39x the requests/s on a
 * journaled ext4, 0.87-2.48x on XFS, noise on an unjournaled one).
 * Spaces, not fallocate's zeros: an open batch stays a text file that
 * grep, wc -l and jq read right (its padding is whitespace after the last
 * line).  The padding is cut off when the batch is sealed, by its writer
 * or, after a crash, by spool_seal_orphans.  Where it cannot be written (a
 * full disk) the batch grows line by line from then on.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <zlib.h>

#include "log.h"
#include "metrics.h"
#include "spool.h"
#include "spool_impl.h"
#include "xmalloc.h"

/* A new batch's first step of padding: the steps then double up to
 * preallocate, so that a quiet batch does not write a MiB of spaces for a
 * few hits. */
#define SPOOL_PAD_FIRST	(16 * 1024)

/* The padding an open batch is grown by, written from this. */
static char spool_pad[64 * 1024];
static pthread_once_t spool_pad_once = PTHREAD_ONCE_INIT;

struct spool_writer {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cv;		/* the committer stepped aside */
	const struct conf *conf;
	char		*dir;
	char		*tmpdir;
	int		 fd;		/* -1: no open batch */
	char		 name[NAME_MAX];
	uint64_t	 size;		/* bytes of whole lines */
	uint64_t	 fsize;		/* the file's: size, then padding */
	int		 grow;		/* grown ahead (preallocate) */
	unsigned long	 hits;
	time_t		 opened;
	uint64_t	 gen;		/* batch generation */
	int		 syncing;	/* a committer owns fd's syncs */
	unsigned	 sealers;	/* threads waiting to seal */
	struct spool_waiter *queue;	/* written, waiting for a sync */
	struct spool_waiter **queue_tail;
	struct spool_waiter *answered;	/* to be told once unlocked */
	uint64_t	 acked;		/* bytes of acknowledged lines */
	unsigned long	 acked_hits;
	uint32_t	 crc;		/* CRC-32 of the size bytes */
	uint32_t	 acked_crc;	/* and of the acked ones */
	int		 cut;		/* a sync failed: cut back to acked */
	int		 sealed_rc;	/* the last seal's answer, for a */
					/* sealer another thread overtook */
	time_t		 last_warn;	/* a full disk must not flood the log */
	unsigned long	 unlogged;
};

struct spool_writer *
spool_writer_new(const struct conf *c, const char *dir)
{
	struct spool_writer *w;

	if (spool_prepare(dir) == -1)
		return NULL;
	w = xcalloc(1, sizeof *w);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->conf = c;
	w->dir = xstrdup(dir);
	w->tmpdir = spool_path(dir, SPOOL_TMP, NULL);
	w->fd = -1;
	w->gen = 1;
	w->queue_tail = &w->queue;
	return w;
}

/* Hand the queued waiters their answer; they are told once unlocked. */
static void
spool_answer_queue(struct spool_writer *w, int rc)
{
	struct spool_waiter *wt;

	for (wt = w->queue; wt != NULL; wt = wt->next)
		wt->rc = rc;
	*w->queue_tail = w->answered;
	w->answered = w->queue;
	w->queue = NULL;
	w->queue_tail = &w->queue;
}

/* Tell each waiter of a list; each may be gone at once, so read on first. */
static void
spool_tell(struct spool_waiter *list)
{
	struct spool_waiter *wt, *next;

	for (wt = list; wt != NULL; wt = next) {
		next = wt->next;
		wt->done(wt, wt->rc);
	}
}

/* Unlock, then run the answers: they write to sockets, never under lock. */
static void
spool_writer_unlock(struct spool_writer *w)
{
	struct spool_waiter *list = w->answered;

	w->answered = NULL;
	pthread_mutex_unlock(&w->lock);
	spool_tell(list);
}

/* Called with the lock held. */
static int
spool_writer_open(struct spool_writer *w)
{
	char *path;
	int fd;

	spool_new_name(w->name, sizeof w->name);
	path = spool_path(w->dir, SPOOL_TMP, w->name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd == -1) {
		log_warn("spool: cannot create '%s'", path);
		free(path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		log_warn("spool: cannot lock '%s'", path);
		goto fail;
	}
	/* The name must survive a crash before the first hit is answered. */
	if (w->conf->sync != CONF_SYNC_NONE && spool_sync_dir(w->tmpdir) == -1)
		goto fail;
	free(path);
	w->fd = fd;
	w->size = 0;
	w->fsize = 0;
	w->grow = w->conf->sync == CONF_SYNC_ALWAYS &&
	    w->conf->preallocate > 0;
	w->hits = 0;
	w->acked = 0;
	w->acked_hits = 0;
	w->crc = w->acked_crc = (uint32_t)crc32(0, Z_NULL, 0);
	w->cut = 0;
	w->opened = time(NULL);
	return 0;
fail:
	close(fd);
	(void)unlink(path);
	free(path);
	return -1;
}

/*
 * After a failed sync: cut the batch back to its acknowledged lines and
 * make that durable.  The lines after them were never acknowledged and
 * will be answered 503, so they must not stay where the uploader loads.
 */
static int
spool_writer_cut(struct spool_writer *w)
{
	int tries;

	if (w->fsize != w->acked &&
	    ftruncate(w->fd, (off_t)w->acked) == -1) {
		log_warn("spool: cannot truncate '%s/tmp/%s'", w->dir, w->name);
		return -1;
	}
	w->fsize = w->acked;
	/* A passing fault (a full thin pool, a path failing over) may be
	 * over in a moment: the batch is only set aside if it lasts. */
	for (tries = 0; spool_datasync(w->fd) == -1; tries++) {
		log_warn("spool: cannot sync '%s/tmp/%s' after cutting it",
		    w->dir, w->name);
		if (tries == 2)
			return -1;
		nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
	}
	if (w->size != w->acked)
		log_warnx("spool: cut '%s/tmp/%s' back to its %lu acknowledged "
		    "lines: %lu unacknowledged lines answered 503", w->dir,
		    w->name, w->acked_hits, w->hits - w->acked_hits);
	w->size = w->acked;
	w->hits = w->acked_hits;
	w->crc = w->acked_crc;
	w->cut = 0;
	return 0;
}

/*
 * The cut cannot be made durable: move the batch out of the uploader's way
 * into corrupt/, with a .err saying how much of it was acknowledged.
 */
static void
spool_writer_aside(struct spool_writer *w)
{
	char *from, *to, *err, *why;
	int fd;

	from = spool_path(w->dir, SPOOL_TMP, w->name);
	to = spool_path(w->dir, SPOOL_CORRUPT, w->name);
	err = xasprintf("%s.err", to);
	if (w->acked == 0) {
		/* Nothing in it was acknowledged: nothing to keep. */
		if (unlink(from) == -1)
			log_warn("spool: cannot remove '%s': lines answered "
			    "503 may load", from);
		else {
			(void)spool_sync_dir(w->tmpdir);
			log_warnx("spool: removed '%s': none of its lines "
			    "was acknowledged", from);
		}
	} else if (rename(from, to) == -1)
		log_warn("spool: cannot rename '%s' to '%s': lines answered "
		    "503 may load", from, to);
	else {
		why = xasprintf("%s: a sync failed and the batch could not be "
		    "cut back: its first %" PRIu64 " bytes (%lu lines) were "
		    "acknowledged and belong in new/; the rest was answered "
		    "503\n", w->name, w->acked, w->acked_hits);
		/* The disk fails syncs: the note need not be durable. */
		if ((fd = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0640)) == -1 || write(fd, why, strlen(why)) == -1)
			log_warn("spool: cannot write '%s'", err);
		if (fd != -1) {
			(void)spool_datasync(fd);
			close(fd);
		}
		free(why);
		(void)spool_sync_state(w->dir, SPOOL_CORRUPT);
		(void)spool_sync_dir(w->tmpdir);
		log_warnx("spool: moved '%s' to '%s': its first %lu lines were "
		    "acknowledged, see '%s'", from, to, w->acked_hits, err);
	}
	free(from);
	free(to);
	free(err);
}

/*
 * Seal the open batch, with the lock held: sync, rename into new/, sync
 * new/.  An empty batch is removed.  The seal's sync covers the lines still
 * queued for a group commit, so it answers them.  When a sync failed (this
 * one or a group commit's), the batch is first cut back to its acknowledged
 * lines and the queued ones are answered 503 (see the contract above).
 * Returns 0 when every line written is as durable as sync asks (the batch
 * may still sit in tmp/ after a failed rename, where repair or the
 * uploader seals it later), -1 when the lines not yet acknowledged are not.
 */
static int
spool_writer_seal_locked(struct spool_writer *w)
{
	char *from = NULL, *to = NULL;
	uint64_t gen = w->gen;
	int rc = 0;

	/* The committer may be in fdatasync on our fd: it steps aside. */
	w->sealers++;
	while (w->syncing)
		pthread_cond_wait(&w->cv, &w->lock);
	w->sealers--;
	if (w->gen != gen)
		return w->sealed_rc;	/* sealed meanwhile, maybe cut */
	if (w->fd == -1)
		return 0;
	from = spool_path(w->dir, SPOOL_TMP, w->name);
	/* The padding goes first: the sync below covers the cut too. */
	if (w->fsize > w->size && !w->cut) {
		if (ftruncate(w->fd, (off_t)w->size) == -1) {
			log_warn("spool: cannot truncate '%s'", from);
			w->cut = 1;
		} else
			w->fsize = w->size;
	}
	if (w->conf->sync != CONF_SYNC_NONE && !w->cut &&
	    spool_datasync(w->fd) == -1) {
		log_warn("spool: cannot sync '%s'", from);
		w->cut = 1;
	}
	if (w->cut) {
		rc = -1;
		if (w->size == w->acked) {
			/* Every line was acknowledged (as under sync=batch):
			 * leave them to repair or the uploader, as on a
			 * crash. */
			log_warnx("spool: leaving '%s' to be sealed later",
			    from);
			goto out;
		}
		if (spool_writer_cut(w) == -1) {
			spool_writer_aside(w);
			goto out;
		}
	}
	if (w->hits == 0) {
		(void)unlink(from);
		goto out;
	}
	/* After the sync: the mark never vouches for bytes not yet down. */
	spool_seal_mark(w->fd, from, w->size, w->crc);
	to = spool_path(w->dir, SPOOL_NEW, w->name);
	if (rename(from, to) == -1) {
		log_warn("spool: cannot rename '%s' to '%s'", from, to);
		goto out;
	}
	if (w->conf->sync != CONF_SYNC_NONE)
		(void)spool_sync_state(w->dir, SPOOL_NEW);
	log_debug("spool: sealed '%s' (%lu hits, %" PRIu64 " bytes)", to,
	    w->hits, w->size);
out:
	spool_answer_queue(w, rc);
	close(w->fd);
	w->fd = -1;
	w->gen++;
	w->sealed_rc = rc;
	free(from);
	free(to);
	return rc;
}

static void
spool_pad_fill(void)
{
	memset(spool_pad, ' ', sizeof spool_pad);
}

/*
 * Grow the batch file ahead of a line of len bytes (sync=always), so that
 * the line's sync has no file size to write.  Each step is the file's size
 * (at least SPOOL_PAD_FIRST, at most preallocate): the spaces written
 * never outweigh the lines by much.  A line as long as a step grows the
 * file itself: padding for it would be written twice.  When the padding
 * cannot be written, the batch grows line by line from then on; padding
 * written in part stays, as padding.
 */
static void
spool_writer_grow(struct spool_writer *w, size_t len)
{
	uint64_t step, want;
	ssize_t n;
	size_t chunk;

	if (!w->grow || w->size + len <= w->fsize)
		return;
	step = w->fsize < SPOOL_PAD_FIRST ? SPOOL_PAD_FIRST : w->fsize;
	if (step > w->conf->preallocate)
		step = w->conf->preallocate;
	if (len >= step)
		return;
	(void)pthread_once(&spool_pad_once, spool_pad_fill);
	want = (w->size + len + step - 1) / step * step;
	while (w->fsize < want) {
		chunk = want - w->fsize < sizeof spool_pad ?
		    (size_t)(want - w->fsize) : sizeof spool_pad;
		n = pwrite(w->fd, spool_pad, chunk, (off_t)w->fsize);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_debug("spool: cannot grow '%s/tmp/%s' ahead: %s",
			    w->dir, w->name, n == 0 ? "short write" :
			    strerror(errno));
			w->grow = 0;
			return;
		}
		w->fsize += (uint64_t)n;
	}
}

/* Write all of p at the end of the lines, or cut the batch back to its
 * last whole line. */
static int
spool_write_all(struct spool_writer *w, const char *p, size_t len)
{
	size_t done = 0;
	ssize_t n;
	int saved;

	spool_writer_grow(w, len);
	while (done < len) {
		n = pwrite(w->fd, p + done, len - done,
		    (off_t)(w->size + done));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			saved = n == 0 ? ENOSPC : errno;
			if (time(NULL) - w->last_warn >= 10) {
				log_warnx("spool: cannot write to '%s/tmp/%s': "
				    "%s (%lu more failures not logged)", w->dir,
				    w->name, strerror(saved), w->unlogged);
				w->last_warn = time(NULL);
				w->unlogged = 0;
			} else
				w->unlogged++;
			if (done > 0 && ftruncate(w->fd, (off_t)w->size) == -1) {
				/* The torn line must not get company. */
				log_warn("spool: cannot truncate '%s'", w->name);
				(void)spool_writer_seal_locked(w);
			} else if (done > 0)
				w->fsize = w->size;
			errno = saved;
			return -1;
		}
		done += (size_t)n;
	}
	if (w->size + len > w->fsize)
		w->fsize = w->size + len;
	return 0;
}

/*
 * Group commit, entered with the lock held by a writer that found no sync
 * running, left with it released.  Each round takes the queue, syncs the
 * file once for all of it and answers those writers.  Their threads did not
 * wait: they went back to serve other requests, and their lines queue up
 * behind the running sync, so the next round covers all of them.  The
 * thread goes round while lines keep coming and steps aside for a sealer,
 * which answers what is still queued.
 */
static void
spool_commit(struct spool_writer *w)
{
	struct spool_waiter *group, *failed = NULL, *wt;
	uint64_t upto, t0;
	unsigned long upto_hits, n;
	uint32_t upto_crc;
	int fd = w->fd, rc, saved;

	while (w->queue != NULL && w->sealers == 0) {
		group = w->queue;
		w->queue = NULL;
		w->queue_tail = &w->queue;
		/* The queue holds every line past the acknowledged ones. */
		upto = w->size;
		upto_hits = w->hits;
		upto_crc = w->crc;
		w->syncing = 1;
		pthread_mutex_unlock(&w->lock);
		t0 = metrics_now_ns();
		rc = spool_datasync(fd);
		saved = errno;
		for (wt = group, n = 0; wt != NULL; wt = wt->next, n++)
			wt->rc = rc;
		metrics_sync(metrics_now_ns() - t0, n);
		if (rc == 0)
			spool_tell(group);
		pthread_mutex_lock(&w->lock);
		w->syncing = 0;
		if (rc == 0) {
			w->acked = upto;
			w->acked_hits = upto_hits;
			w->acked_crc = upto_crc;
		} else {
			log_warnx("spool: cannot sync '%s/tmp/%s': %s", w->dir,
			    w->name, strerror(saved));
			/*
			 * Unknown state after a failed sync (a later one may
			 * report success for lost pages): cut the lines not
			 * acknowledged, seal, start over in a new batch; the
			 * group is answered 503 once they are gone.
			 */
			failed = group;
			w->cut = 1;
			(void)spool_writer_seal_locked(w);
			break;
		}
	}
	if (w->sealers > 0)
		pthread_cond_broadcast(&w->cv);
	spool_writer_unlock(w);
	spool_tell(failed);
}

/* spool_write's caller without a waiter of its own waits here. */
struct spool_blocking {
	struct spool_waiter	 wt;
	sem_t			 sem;
};

static void
spool_blocking_done(struct spool_waiter *wt, int rc)
{
	(void)rc;
	sem_post(&((struct spool_blocking *)wt)->sem);
}

/*
 * Append one whole line.  Returns 0 once the line is as durable as the
 * sync policy asks, -1 (errno set) when it is not: the caller answers 503.
 * Under sync=always with a waiter, returns SPOOL_PENDING instead: wt->done
 * is called exactly once, from whichever thread runs the sync covering the
 * line (perhaps this one, before spool_write returns).
 */
int
spool_write(struct spool_writer *w, const char *line, size_t len,
    struct spool_waiter *wt)
{
	const struct conf *c = w->conf;
	struct spool_blocking b;
	int rc = 0;

	pthread_mutex_lock(&w->lock);
	if (w->fd == -1 && spool_writer_open(w) == -1) {
		rc = -1;
		goto out;
	}
	if (spool_write_all(w, line, len) == -1) {
		rc = -1;
		goto out;
	}
	w->size += len;
	w->hits++;
	w->crc = (uint32_t)crc32_z(w->crc, (const Bytef *)line, len);
	if (c->sync != CONF_SYNC_ALWAYS) {
		/* Acknowledged once written; the seal's sync is the batch's. */
		w->acked = w->size;
		w->acked_hits = w->hits;
		w->acked_crc = w->crc;
	}
	if (w->size >= c->batch_max_bytes || w->hits >= c->batch_max_hits) {
		/* The seal syncs the whole batch, this line with it; without
		 * sync=always the line was acknowledged like the others. */
		if (spool_writer_seal_locked(w) == -1 &&
		    c->sync == CONF_SYNC_ALWAYS) {
			rc = -1;
			errno = EIO;
		}
		goto out;
	}
	if (c->sync != CONF_SYNC_ALWAYS)
		goto out;
	if (wt == NULL) {
		sem_init(&b.sem, 0, 0);
		b.wt.done = spool_blocking_done;
		wt = &b.wt;
	}
	wt->rc = -1;
	wt->next = NULL;
	*w->queue_tail = wt;
	w->queue_tail = &wt->next;
	if (!w->syncing && w->sealers == 0)
		spool_commit(w);
	else
		spool_writer_unlock(w);
	if (wt != &b.wt)
		return SPOOL_PENDING;
	while (sem_wait(&b.sem) == -1 && errno == EINTR)
		;
	sem_destroy(&b.sem);
	if (b.wt.rc == -1) {
		errno = EIO;
		return -1;
	}
	return 0;
out:
	spool_writer_unlock(w);
	return rc;
}

/* Seal the open batch when it has reached batch_max_age. */
int
spool_writer_tick(struct spool_writer *w, time_t now)
{
	int rc = 0;

	pthread_mutex_lock(&w->lock);
	if (w->fd != -1 && now - w->opened >= w->conf->batch_max_age)
		rc = spool_writer_seal_locked(w);
	spool_writer_unlock(w);
	return rc;
}

/* When the open batch was opened; 0 when there is none. */
time_t
spool_writer_opened(struct spool_writer *w)
{
	time_t t;

	pthread_mutex_lock(&w->lock);
	t = w->fd != -1 ? w->opened : 0;
	pthread_mutex_unlock(&w->lock);
	return t;
}

int
spool_writer_seal(struct spool_writer *w)
{
	int rc;

	pthread_mutex_lock(&w->lock);
	rc = spool_writer_seal_locked(w);
	spool_writer_unlock(w);
	return rc;
}

void
spool_writer_free(struct spool_writer *w)
{
	if (w == NULL)
		return;
	(void)spool_writer_seal(w);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cv);
	free(w->dir);
	free(w->tmpdir);
	free(w);
}

/*
 * Is there at least min_free_space on the spool's filesystem?  Returns 1 or
 * 0; free bytes in *avail when not NULL.
 */
int
spool_space_ok(const struct conf *c, const char *dir, uint64_t *avail)
{
	struct statvfs sv;
	uint64_t free_bytes;

	if (statvfs(dir, &sv) == -1) {
		log_warn("spool: statvfs '%s'", dir);
		return 0;
	}
	free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (avail != NULL)
		*avail = free_bytes;
	if (sv.f_flag & ST_RDONLY)
		return 0;
	return free_bytes >= c->min_free_space;
}
