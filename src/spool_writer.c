/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * spool_writer: the responder's side of the spool: hits appended to a
 * batch in tmp/, group commit, sealing into new/.
 *
 * One batch per stream for all responder processes.  Its state lives in a
 * mapped file, spool_dir/<stream>/.writer (struct sw_shared), under a
 * robust process-shared mutex: the open batch's name, its generation, the
 * bytes written and the bytes acknowledged.  A process appends under that
 * mutex (O_APPEND, one whole line), so lines never interleave, and holds
 * flock(LOCK_SH) on the batch while it has it open: a batch nobody holds a
 * lock on is an orphan (spool_check.c), as before.
 *
 * Durability: a batch is created and its directory synced before its
 * first hit is acknowledged; with sync=always each acknowledged line has
 * been fdatasync'ed.  The sync is shared by every thread of every process
 * (group commit, see sw_wait): whoever holds a sync role (one of
 * SW_SYNCERS robust mutexes) syncs the file up to the size it read when it
 * began, and that one fdatasync answers every line below that size,
 * whichever process wrote it.  A line already covered by a sync begun
 * sleeps on a futex in the mapping until it ends; one that is not begins a
 * sync of its own when a role is free (devices run a few at once about as
 * fast as one).
 * Sealing syncs the file, renames it into new/ and syncs new/; the next
 * line opens a new batch with the next generation.
 *
 * A waiter is answered by its generation and end offset: acknowledged when
 * its generation's acknowledged length reaches its end, refused (503) when
 * its generation closed short of it.  The lengths of the last SW_RING
 * closed generations are kept for that.
 *
 * A line answered 503 never loads.  When a sync fails, the batch is cut
 * back (ftruncate) to its acknowledged length, synced again, then sealed;
 * the lines past that length are answered 503 only once they are gone.
 * A crash before that cut is durable leaves the unanswered lines in tmp/ to
 * load, which is right: no answer was given.  When the cut cannot be made
 * durable either, the batch goes to corrupt/ with a .err naming its
 * acknowledged length; those lines then wait for the admin
 * (hookspool.conf(5)), and nothing answered 503 loads.
 *
 * A process killed while it holds the mutex (kill -9 mid-write, mid-seal)
 * is noticed by the next one to take it (EOWNERDEAD): a torn line at the
 * batch's end is cut off, a batch the dead one had renamed is closed.  One
 * killed while it syncs leaves its sync role to the next (EOWNERDEAD too).
 * The mapped file is replaced, never reused, when it is damaged or from
 * before the last boot.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "spool.h"
#include "spool_impl.h"
#include "xmalloc.h"

#define SW_MAGIC	"HSWRITE1"
#define SW_RING		1024	/* closed generations remembered */
#define SW_NAP_MS	50	/* a waiter's look for a dead syncer */
#define SW_SYNCERS	4	/* fdatasyncs of a batch at once, at most */

/* Answers of sw_resolve. */
#define SW_PENDING	1
#define SW_ACKED	0
#define SW_REFUSED	(-1)

struct sw_closed {
	uint64_t	 gen;
	uint64_t	 acked;		/* bytes of it that were acknowledged */
};

/* The mapped .writer file.  The magic is written last. */
struct sw_shared {
	char		 magic[8];
	uint32_t	 size_of;
	char		 boot_id[40];
	pthread_mutex_t	 lock;		/* every field below */
	pthread_mutex_t	 sync_lock[SW_SYNCERS];	/* the sync roles */
	uint32_t	 seq;		/* futex: bumped as acked or gen move */
	uint64_t	 gen;		/* the open batch's, or the next one's */
	char		 name[NAME_MAX];/* the open batch in tmp/; "": none */
	int64_t		 opened;
	uint64_t	 size;		/* bytes of whole lines */
	uint64_t	 hits;
	uint64_t	 acked;		/* bytes of acknowledged lines */
	uint64_t	 acked_hits;
	uint64_t	 syncing;	/* the largest target of a sync begun */
	int		 cut;		/* a sync failed: cut back to acked */
	struct sw_closed closed[SW_RING];
};

struct spool_writer {
	pthread_mutex_t	 lock;		/* this process's fields below */
	const struct conf *conf;
	char		*dir;
	char		*tmpdir;
	char		*path;		/* the .writer file */
	struct sw_shared *sh;
	int		 fd;		/* our open of the batch, or -1 */
	uint64_t	 fdgen;		/* the generation fd is */
	int		 committing;	/* a thread of ours is in sw_commit */
	struct spool_waiter *queue;	/* written, waiting for a sync */
	struct spool_waiter **queue_tail;
	int		 wake;		/* seq moved: wake the sleepers */
	time_t		 last_warn;	/* a full disk must not flood the log */
	unsigned long	 unlogged;
};

static int	 sw_seal_locked(struct spool_writer *, int);

/* Sleep while *word is seen, ms at most; 1 when the time ran out. */
static int
sw_futex_wait(uint32_t *word, uint32_t seen, long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	return syscall(SYS_futex, word, FUTEX_WAIT, seen, &ts, NULL, 0) ==
	    -1 && errno == ETIMEDOUT;
}

static void
sw_futex_wake(uint32_t *word)
{
	(void)syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Initialise a fresh mapping; the caller holds flock on its file. */
static void
sw_shared_init(struct sw_shared *sh, const char *boot_id)
{
	pthread_mutexattr_t ma;
	int i;

	memset(sh, 0, sizeof *sh);
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&sh->lock, &ma);
	for (i = 0; i < SW_SYNCERS; i++)
		pthread_mutex_init(&sh->sync_lock[i], &ma);
	pthread_mutexattr_destroy(&ma);
	sh->gen = 1;
	sh->size_of = sizeof *sh;
	memcpy(sh->boot_id, boot_id, sizeof sh->boot_id);
	__atomic_store(&sh->magic, &(char [8]){ SW_MAGIC[0], SW_MAGIC[1],
	    SW_MAGIC[2], SW_MAGIC[3], SW_MAGIC[4], SW_MAGIC[5], SW_MAGIC[6],
	    SW_MAGIC[7] }, __ATOMIC_RELEASE);
}

/*
 * Map .writer, creating it, or replacing it when it is damaged or from an
 * earlier boot (its mutexes may be held by threads that no longer exist).
 * A replaced file stays mapped by whoever still uses it: it is unlinked,
 * never rewritten.
 */
static int
sw_attach(struct spool_writer *w)
{
	char boot_id[40];
	struct stat sb, pb;
	struct sw_shared *sh;
	int fd, tries;

	spool_boot_id(boot_id);
	for (tries = 0; tries < 3; tries++) {
		fd = open(w->path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
		    0640);
		if (fd == -1 || flock(fd, LOCK_EX) == -1 ||
		    fstat(fd, &sb) == -1) {
			log_warn("spool: cannot open '%s'", w->path);
			goto fail;
		}
		if (sb.st_size == 0 &&
		    ftruncate(fd, (off_t)sizeof *sh) == -1) {
			log_warn("spool: cannot size '%s'", w->path);
			goto fail;
		}
		if (sb.st_size != 0 && sb.st_size != (off_t)sizeof *sh)
			goto replace;
		sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED,
		    fd, 0);
		if (sh == MAP_FAILED) {
			log_warn("spool: cannot map '%s'", w->path);
			goto fail;
		}
		if (sb.st_size == 0)
			sw_shared_init(sh, boot_id);
		if (memcmp(sh->magic, SW_MAGIC, 8) == 0 &&
		    sh->size_of == sizeof *sh &&
		    memcmp(sh->boot_id, boot_id, sizeof boot_id) == 0) {
			/* The mapping holds the open file: the lock would
			 * outlive close(). */
			(void)flock(fd, LOCK_UN);
			close(fd);
			w->sh = sh;
			return 0;
		}
		munmap(sh, sizeof *sh);
replace:
		if (lstat(w->path, &pb) == 0 && pb.st_ino == sb.st_ino &&
		    pb.st_dev == sb.st_dev && unlink(w->path) == -1) {
			log_warn("spool: cannot remove '%s'", w->path);
			goto fail;
		}
		log_info("spool: replaced '%s' (from an earlier boot or "
		    "damaged)", w->path);
		(void)flock(fd, LOCK_UN);
		close(fd);
	}
	log_warnx("spool: cannot set up '%s'", w->path);
	return -1;
fail:
	if (fd != -1)
		close(fd);
	return -1;
}

struct spool_writer *
spool_writer_new(const struct conf *c, const char *dir)
{
	struct spool_writer *w;

	if (spool_prepare(dir) == -1)
		return NULL;
	w = xcalloc(1, sizeof *w);
	pthread_mutex_init(&w->lock, NULL);
	w->conf = c;
	w->dir = xstrdup(dir);
	w->tmpdir = spool_path(dir, SPOOL_TMP, NULL);
	w->path = xasprintf("%s/.writer", dir);
	w->fd = -1;
	w->queue_tail = &w->queue;
	if (sw_attach(w) == -1) {
		free(w->dir);
		free(w->tmpdir);
		free(w->path);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return NULL;
	}
	return w;
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

/* The open batch's generation is over; its waiters can be answered. */
static void
sw_close_gen(struct spool_writer *w)
{
	struct sw_shared *sh = w->sh;
	struct sw_closed *c = &sh->closed[sh->gen % SW_RING];

	c->gen = sh->gen;
	c->acked = sh->acked;
	sh->gen++;
	sh->name[0] = '\0';
	sh->size = sh->hits = sh->acked = sh->acked_hits = sh->syncing = 0;
	sh->cut = 0;
	__atomic_add_fetch(&sh->seq, 1, __ATOMIC_RELEASE);
	w->wake = 1;
}

/* A line of generation gen ending at end: acked, refused or pending. */
static int
sw_resolve(const struct sw_shared *sh, uint64_t gen, uint64_t end)
{
	const struct sw_closed *c = &sh->closed[gen % SW_RING];

	if (gen == sh->gen)
		return end <= sh->acked ? SW_ACKED : SW_PENDING;
	if (c->gen == gen)
		return end <= c->acked ? SW_ACKED : SW_REFUSED;
	log_warnx("spool: a line of a batch %d batches back was never "
	    "answered: 503, though it may load", SW_RING);
	return SW_REFUSED;
}

static void	 sw_recover(struct spool_writer *);

/* Take the shared lock; recover what a dead holder left.  -1: unusable. */
static int
sw_lock(struct spool_writer *w)
{
	int rc;

	rc = pthread_mutex_lock(&w->sh->lock);
	if (rc == EOWNERDEAD) {
		pthread_mutex_consistent(&w->sh->lock);
		sw_recover(w);
	} else if (rc != 0) {
		log_warnx("spool: cannot lock '%s': %s", w->path,
		    strerror(rc));
		return -1;
	}
	return 0;
}

static void
sw_unlock(struct spool_writer *w)
{
	int wake = w->wake;

	w->wake = 0;
	pthread_mutex_unlock(&w->sh->lock);
	if (wake)
		sw_futex_wake(&w->sh->seq);
}

/*
 * Open the shared batch named in the mapping, locked shared.  Returns the
 * fd, or -1 when it is gone (sealed as an orphan after its writers died:
 * nobody waits for its lines) or being sealed by repair this moment.
 */
static int
sw_open_batch(struct spool_writer *w)
{
	char *path = spool_path(w->dir, SPOOL_TMP, w->sh->name);
	struct stat sb, pb;
	int fd;

	fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		if (errno != ENOENT)
			log_warn("spool: cannot open '%s'", path);
		goto out;
	}
	/* Repair renames a batch only under LOCK_EX: once ours is taken,
	 * the name still being this file means it stays in tmp/. */
	if (flock(fd, LOCK_SH | LOCK_NB) == -1 || fstat(fd, &sb) == -1 ||
	    lstat(path, &pb) == -1 || sb.st_ino != pb.st_ino ||
	    sb.st_dev != pb.st_dev) {
		close(fd);
		fd = -1;
	}
out:
	free(path);
	return fd;
}

/* Create a new batch as the open one.  With the shared lock held. */
static int
sw_create(struct spool_writer *w)
{
	struct sw_shared *sh = w->sh;
	char name[NAME_MAX];
	char *path;
	int fd;

	spool_new_name(name, sizeof name);
	path = spool_path(w->dir, SPOOL_TMP, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC,
	    0640);
	if (fd == -1) {
		log_warn("spool: cannot create '%s'", path);
		free(path);
		return -1;
	}
	if (flock(fd, LOCK_SH | LOCK_NB) == -1) {
		log_warn("spool: cannot lock '%s'", path);
		goto fail;
	}
	/* The name must survive a crash before the first hit is answered. */
	if (w->conf->sync != CONF_SYNC_NONE && spool_sync_dir(w->tmpdir) == -1)
		goto fail;
	free(path);
	memcpy(sh->name, name, sizeof sh->name);
	sh->opened = time(NULL);
	sh->size = sh->hits = sh->acked = sh->acked_hits = sh->syncing = 0;
	sh->cut = 0;
	return fd;
fail:
	close(fd);
	(void)unlink(path);
	free(path);
	return -1;
}

/*
 * Make w->fd this process's open of the shared batch, opening or (create
 * set) creating it.  With both locks held.  Returns w->fd, -1 when there
 * is no batch (create unset) or it cannot be made.
 */
static int
sw_join(struct spool_writer *w, int create)
{
	struct sw_shared *sh = w->sh;

	if (w->fd != -1 && w->fdgen == sh->gen && sh->name[0] != '\0')
		return w->fd;
	if (w->fd != -1)
		close(w->fd);
	w->fd = -1;
	if (sh->name[0] != '\0' && (w->fd = sw_open_batch(w)) == -1) {
		log_warnx("spool: the open batch '%s/tmp/%s' is gone: starting "
		    "another", w->dir, sh->name);
		sw_close_gen(w);
	}
	if (w->fd == -1 && create && sh->name[0] == '\0')
		w->fd = sw_create(w);
	w->fdgen = sh->gen;
	return w->fd;
}

/* Open the shared batch for a moment, for a process that is not in it. */
static int
sw_open_now(struct spool_writer *w)
{
	return w->sh->name[0] == '\0' ? -1 : sw_open_batch(w);
}

/*
 * After a holder of the shared lock died: cut off what it may have torn
 * and, when it died in the middle of a seal or a cut, finish closing the
 * batch.  The lock is ours; the local lock may or may not be.
 */
static void
sw_recover(struct spool_writer *w)
{
	struct sw_shared *sh = w->sh;
	struct stat sb;
	int fd;

	log_warnx("spool: a responder died holding '%s': checking '%s/tmp/%s'",
	    w->path, w->dir, sh->name[0] != '\0' ? sh->name : "(none)");
	if (sh->name[0] == '\0')
		return;
	if ((fd = sw_open_now(w)) == -1) {
		/* Renamed by the dead one's seal: its sync had succeeded. */
		sw_close_gen(w);
		return;
	}
	if (fstat(fd, &sb) == -1 || (uint64_t)sb.st_size < sh->size)
		sh->cut = 1;	/* mid-cut: the lines past acked are gone */
	else if ((uint64_t)sb.st_size > sh->size &&
	    ftruncate(fd, (off_t)sh->size) == -1) {
		log_warn("spool: cannot truncate '%s/tmp/%s'", w->dir,
		    sh->name);
		sh->cut = 1;
	}
	if (sh->cut)
		(void)sw_seal_locked(w, fd);
	close(fd);
}

/*
 * After a failed sync: cut the batch back to its acknowledged lines and
 * make that durable.  The lines after them were never acknowledged and
 * will be answered 503, so they must not stay where the uploader loads.
 */
static int
sw_cut(struct spool_writer *w, int fd)
{
	struct sw_shared *sh = w->sh;
	int tries;

	if (ftruncate(fd, (off_t)sh->acked) == -1) {
		log_warn("spool: cannot truncate '%s/tmp/%s'", w->dir,
		    sh->name);
		return -1;
	}
	/* A passing fault (a full thin pool, a path failing over) may be
	 * over in a moment: the batch is only set aside if it lasts. */
	for (tries = 0; spool_datasync(fd) == -1; tries++) {
		log_warn("spool: cannot sync '%s/tmp/%s' after cutting it",
		    w->dir, sh->name);
		if (tries == 2)
			return -1;
		nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
	}
	if (sh->size != sh->acked)
		log_warnx("spool: cut '%s/tmp/%s' back to its %" PRIu64
		    " acknowledged lines: %" PRIu64 " unacknowledged lines "
		    "answered 503", w->dir, sh->name, sh->acked_hits,
		    sh->hits - sh->acked_hits);
	sh->size = sh->acked;
	sh->hits = sh->acked_hits;
	sh->cut = 0;
	return 0;
}

/*
 * The cut cannot be made durable: move the batch out of the uploader's way
 * into corrupt/, with a .err saying how much of it was acknowledged.
 */
static void
sw_aside(struct spool_writer *w)
{
	struct sw_shared *sh = w->sh;
	char *from, *to, *err, *why;
	int fd;

	from = spool_path(w->dir, SPOOL_TMP, sh->name);
	to = spool_path(w->dir, SPOOL_CORRUPT, sh->name);
	err = xasprintf("%s.err", to);
	if (sh->acked == 0) {
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
		    "cut back: its first %" PRIu64 " bytes (%" PRIu64 " lines) "
		    "were acknowledged and belong in new/; the rest was "
		    "answered 503\n", sh->name, sh->acked, sh->acked_hits);
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
		log_warnx("spool: moved '%s' to '%s': its first %" PRIu64
		    " lines were acknowledged, see '%s'", from, to,
		    sh->acked_hits, err);
	}
	free(from);
	free(to);
	free(err);
}

/*
 * Seal the open batch through fd, with the shared lock held: sync, rename
 * into new/, sync new/.  An empty batch is removed.  The seal's sync
 * covers every line written, so it acknowledges them all.  When a sync
 * failed (this one or a group commit's), the batch is first cut back to its
 * acknowledged lines (see the contract above).  Either way the generation
 * closes, which answers its waiters.  Returns 0 when every line written is
 * as durable as sync asks (the batch may still sit in tmp/ after a failed
 * rename, where repair or the uploader seals it later), -1 when the lines
 * not yet acknowledged are not.
 */
static int
sw_seal_locked(struct spool_writer *w, int fd)
{
	struct sw_shared *sh = w->sh;
	char *from, *to = NULL;
	int rc = 0;

	if (sh->name[0] == '\0')
		return 0;
	from = spool_path(w->dir, SPOOL_TMP, sh->name);
	if (w->conf->sync != CONF_SYNC_NONE && !sh->cut &&
	    spool_datasync(fd) == -1) {
		log_warn("spool: cannot sync '%s'", from);
		sh->cut = 1;
	}
	if (sh->cut) {
		rc = -1;
		if (sh->size == sh->acked) {
			/* Every line was acknowledged (as under sync=batch):
			 * leave them to repair or the uploader, as on a
			 * crash. */
			log_warnx("spool: leaving '%s' to be sealed later",
			    from);
			goto out;
		}
		if (sw_cut(w, fd) == -1) {
			sw_aside(w);
			goto out;
		}
	}
	sh->acked = sh->size;	/* synced: a dead sealer's heir needs it */
	sh->acked_hits = sh->hits;
	if (sh->hits == 0) {
		(void)unlink(from);
		goto out;
	}
	to = spool_path(w->dir, SPOOL_NEW, sh->name);
	if (rename(from, to) == -1) {
		log_warn("spool: cannot rename '%s' to '%s'", from, to);
		goto out;
	}
	if (w->conf->sync != CONF_SYNC_NONE)
		(void)spool_sync_state(w->dir, SPOOL_NEW);
	log_debug("spool: sealed '%s' (%" PRIu64 " hits, %" PRIu64 " bytes)",
	    to, sh->hits, sh->size);
out:
	sw_close_gen(w);
	free(from);
	free(to);
	return rc;
}

/* Write all of p, or cut the batch back to its last whole line. */
static int
sw_write_all(struct spool_writer *w, int fd, const char *p, size_t len)
{
	struct sw_shared *sh = w->sh;
	size_t done = 0;
	ssize_t n;
	int saved;

	while (done < len) {
		n = write(fd, p + done, len - done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			saved = n == 0 ? ENOSPC : errno;
			if (time(NULL) - w->last_warn >= 10) {
				log_warnx("spool: cannot write to '%s/tmp/%s': "
				    "%s (%lu more failures not logged)", w->dir,
				    sh->name, strerror(saved), w->unlogged);
				w->last_warn = time(NULL);
				w->unlogged = 0;
			} else
				w->unlogged++;
			if (done > 0 && ftruncate(fd, (off_t)sh->size) == -1) {
				/* The torn line must not get company. */
				log_warn("spool: cannot truncate '%s'",
				    sh->name);
				(void)sw_seal_locked(w, fd);
			}
			errno = saved;
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

/*
 * One round of the sync role, for a line of generation gen ending at end:
 * sync the batch through fd up to the size it has now, then acknowledge
 * that much, or cut and seal when the sync failed.
 */
static int
sw_sync_round(struct spool_writer *w, uint64_t gen, uint64_t end, int fd)
{
	struct sw_shared *sh = w->sh;
	uint64_t target, hits, t0;
	unsigned long n;
	int rc, saved, own = -1;

	if (sw_lock(w) == -1)
		return -1;
	if (sh->gen != gen || sh->acked >= end) {
		sw_unlock(w);		/* answered meanwhile */
		return 0;
	}
	if (fd == -1 && (fd = own = sw_open_now(w)) == -1) {
		sw_unlock(w);
		return -1;
	}
	target = sh->size;
	hits = sh->hits;
	n = (unsigned long)(hits - sh->acked_hits);
	if (target > sh->syncing)
		sh->syncing = target;
	sw_unlock(w);
	t0 = metrics_now_ns();
	rc = spool_datasync(fd);
	saved = errno;
	metrics_sync(metrics_now_ns() - t0, n);
	if (sw_lock(w) == -1)
		goto out;
	/* Concurrent syncs may end in any order: each covers what was
	 * written before it began. */
	if (sh->gen == gen && rc == 0 && target > sh->acked) {
		sh->acked = target;
		sh->acked_hits = hits;
	} else if (sh->gen == gen && rc == -1) {
		log_warnx("spool: cannot sync '%s/tmp/%s': %s", w->dir,
		    sh->name, strerror(saved));
		/*
		 * Unknown state after a failed sync (a later one may report
		 * success for lost pages): cut the lines not acknowledged,
		 * seal, start over in a new batch; their writers are
		 * answered 503 once they are gone.
		 */
		sh->cut = 1;
		(void)sw_seal_locked(w, fd);
	}
	sw_unlock(w);
out:
	if (own != -1)
		close(own);
	return 0;
}

/* Take a free sync role: its index, or -1 when all are taken. */
static int
sw_role_take(struct sw_shared *sh)
{
	int i, rc;

	for (i = 0; i < SW_SYNCERS; i++) {
		rc = pthread_mutex_trylock(&sh->sync_lock[i]);
		if (rc == EOWNERDEAD)	/* its holder died in fdatasync */
			pthread_mutex_consistent(&sh->sync_lock[i]);
		if (rc == 0 || rc == EOWNERDEAD)
			return i;
	}
	return -1;
}

/*
 * Wait until a line of generation gen ending at end is answered.  A sync
 * already begun after the line was written will answer it: sleep until it
 * ends.  Otherwise begin one, when a sync role is free: the device runs a
 * few fdatasyncs at once about as fast as one, so a line does not wait for
 * the sync before it.  fd: our open of that batch, or -1.
 */
static void
sw_wait(struct spool_writer *w, uint64_t gen, uint64_t end, int fd)
{
	struct sw_shared *sh = w->sh;
	int rc, role, covered, trust = 1;
	uint32_t seen;

	for (;;) {
		if (sw_lock(w) == -1)
			return;
		rc = sw_resolve(sh, gen, end);
		covered = sh->gen == gen && sh->syncing >= end;
		seen = __atomic_load_n(&sh->seq, __ATOMIC_ACQUIRE);
		sw_unlock(w);
		if (rc != SW_PENDING)
			return;
		role = covered && trust ? -1 : sw_role_take(sh);
		if (role == -1) {
			/* Woken when a sync ends.  After a whole nap without
			 * one, the covering sync may have died with its
			 * process: begin one of our own. */
			trust = !sw_futex_wait(&sh->seq, seen, SW_NAP_MS);
			continue;
		}
		rc = sw_sync_round(w, gen, end, fd);
		pthread_mutex_unlock(&sh->sync_lock[role]);
		/* Only now: a sleeper woken must find the role free. */
		__atomic_add_fetch(&sh->seq, 1, __ATOMIC_RELEASE);
		sw_futex_wake(&sh->seq);
		if (rc == -1)
			return;
	}
}

/*
 * Group commit, entered with the local lock held by a writer that found no
 * commit of this process running, left with it released.  Each round takes
 * the queue and waits for the sync that covers its last line (its own or
 * another process's), then answers the round.  The writers' threads did
 * not wait: they went back to serve other requests, and their lines queue
 * up behind, so the next round covers all of them.
 */
static void
sw_commit(struct spool_writer *w)
{
	struct spool_waiter *group, *last, *wt;
	int fd, ok;

	w->committing = 1;
	while (w->queue != NULL) {
		group = w->queue;
		for (last = group; last->next != NULL; last = last->next)
			;
		w->queue = NULL;
		w->queue_tail = &w->queue;
		/* Ours to sync through while a seal may close w->fd. */
		fd = w->fd != -1 && w->fdgen == last->gen ? dup(w->fd) : -1;
		pthread_mutex_unlock(&w->lock);
		sw_wait(w, last->gen, last->end, fd);
		ok = sw_lock(w) == 0;
		for (wt = group; wt != NULL; wt = wt->next)
			wt->rc = ok && sw_resolve(w->sh, wt->gen, wt->end) ==
			    SW_ACKED ? 0 : -1;
		if (ok)
			sw_unlock(w);
		if (fd != -1)
			close(fd);
		spool_tell(group);
		pthread_mutex_lock(&w->lock);
	}
	w->committing = 0;
	pthread_mutex_unlock(&w->lock);
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
 * is called exactly once, from whichever thread of this process learns of
 * the sync covering the line (perhaps this one, before spool_write
 * returns).
 */
int
spool_write(struct spool_writer *w, const char *line, size_t len,
    struct spool_waiter *wt)
{
	const struct conf *c = w->conf;
	struct sw_shared *sh = w->sh;
	struct spool_blocking b;
	int fd, rc = 0;

	pthread_mutex_lock(&w->lock);
	if (sw_lock(w) == -1) {
		rc = -1;
		goto out;
	}
	if ((fd = sw_join(w, 1)) == -1 ||
	    sw_write_all(w, fd, line, len) == -1) {
		rc = -1;
		goto unlock;
	}
	sh->size += len;
	sh->hits++;
	if (c->sync != CONF_SYNC_ALWAYS) {
		/* Acknowledged once written; the seal's sync is the batch's. */
		sh->acked = sh->size;
		sh->acked_hits = sh->hits;
	}
	if (sh->size >= c->batch_max_bytes || sh->hits >= c->batch_max_hits) {
		/* The seal syncs the whole batch, this line with it; without
		 * sync=always the line was acknowledged like the others. */
		if (sw_seal_locked(w, fd) == -1 &&
		    c->sync == CONF_SYNC_ALWAYS) {
			rc = -1;
			errno = EIO;
		}
		goto unlock;
	}
	if (c->sync != CONF_SYNC_ALWAYS)
		goto unlock;
	if (wt == NULL) {
		sem_init(&b.sem, 0, 0);
		b.wt.done = spool_blocking_done;
		wt = &b.wt;
	}
	wt->rc = -1;
	wt->next = NULL;
	wt->gen = sh->gen;
	wt->end = sh->size;
	sw_unlock(w);
	*w->queue_tail = wt;
	w->queue_tail = &wt->next;
	if (!w->committing)
		sw_commit(w);
	else
		pthread_mutex_unlock(&w->lock);
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
unlock:
	sw_unlock(w);
out:
	pthread_mutex_unlock(&w->lock);
	return rc;
}

/*
 * Seal the shared batch now (seal set) or when it has reached
 * batch_max_age; let go of a batch another process sealed.
 */
static int
sw_tick(struct spool_writer *w, int seal, time_t now)
{
	struct sw_shared *sh = w->sh;
	int fd, rc = 0;

	pthread_mutex_lock(&w->lock);
	if (sw_lock(w) == -1) {
		pthread_mutex_unlock(&w->lock);
		return -1;
	}
	if (sh->name[0] != '\0' &&
	    (seal || now - sh->opened >= w->conf->batch_max_age)) {
		if ((fd = sw_join(w, 0)) != -1)
			rc = sw_seal_locked(w, fd);
	}
	/* Our open of a sealed batch would keep its space after expiry. */
	if (w->fd != -1 && w->fdgen != sh->gen) {
		close(w->fd);
		w->fd = -1;
	}
	sw_unlock(w);
	pthread_mutex_unlock(&w->lock);
	return rc;
}

/* Seal the open batch when it has reached batch_max_age. */
int
spool_writer_tick(struct spool_writer *w, time_t now)
{
	return sw_tick(w, 0, now);
}

int
spool_writer_seal(struct spool_writer *w)
{
	return sw_tick(w, 1, 0);
}

/* When the open batch was opened; 0 when there is none. */
time_t
spool_writer_opened(struct spool_writer *w)
{
	time_t t = 0;

	if (sw_lock(w) == -1)
		return 0;
	if (w->sh->name[0] != '\0')
		t = (time_t)w->sh->opened;
	sw_unlock(w);
	return t;
}

void
spool_writer_free(struct spool_writer *w)
{
	if (w == NULL)
		return;
	(void)spool_writer_seal(w);
	if (w->fd != -1)
		close(w->fd);
	munmap(w->sh, sizeof *w->sh);
	pthread_mutex_destroy(&w->lock);
	free(w->dir);
	free(w->tmpdir);
	free(w->path);
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
