/*
 * spool: the on-disk protocol (see spool.h for the layout and contract).
 *
 * Durability: a batch is created, flock'ed and its directory synced before
 * its first hit is acknowledged; with sync=always each acknowledged line has
 * been fdatasync'ed, and concurrent writers share one fdatasync (group
 * commit: see spool_commit).  Sealing syncs the file, renames it into new/
 * and syncs new/.
 * A failed or short write is cut off again with ftruncate, so a batch never
 * holds half a line except after a crash, and then only at its end.
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
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "buf.h"
#include "jsoncheck.h"
#include "log.h"
#include "spool.h"
#include "xmalloc.h"

const char *const spool_state_names[SPOOL_NSTATES] = {
	"tmp", "new", "active", "done", "failed", "hold", "corrupt"
};

/* A writer's file younger than this may not be locked yet: not orphaned. */
#define SPOOL_ORPHAN_GRACE 10
/*
 * A file of new/ modified this recently may still be being copied in (cp
 * straight into new/ instead of copy, then mv): not claimed yet.
 */
#define SPOOL_NEW_SETTLE 2
/* The longest line validation accepts (a 1M body escapes to <= 6M). */
#define SPOOL_MAX_LINE (64UL * 1024 * 1024)

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
static FILE *
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

static int
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

static int
spool_sync_state(const char *dir, enum spool_state s)
{
	char *p = spool_path(dir, s, NULL);
	int rc = spool_sync_dir(p);

	free(p);
	return rc;
}

static int
spool_datasync(int fd)
{
#ifdef HAVE_FDATASYNC
	return fdatasync(fd);
#else
	return fsync(fd);
#endif
}

static pthread_mutex_t spool_name_lock = PTHREAD_MUTEX_INITIALIZER;

static void
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

/* ---- the writer ------------------------------------------------------ */

struct spool_writer {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cv;		/* the committer stepped aside */
	const struct conf *conf;
	char		*dir;
	char		*tmpdir;
	int		 fd;		/* -1: no open batch */
	char		 name[NAME_MAX];
	uint64_t	 size;		/* bytes of whole lines */
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
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC,
	    0640);
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
	w->hits = 0;
	w->acked = 0;
	w->acked_hits = 0;
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

	if (w->size != w->acked &&
	    ftruncate(w->fd, (off_t)w->acked) == -1) {
		log_warn("spool: cannot truncate '%s/tmp/%s'", w->dir, w->name);
		return -1;
	}
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

/* Write all of p, or cut the batch back to its last whole line. */
static int
spool_write_all(struct spool_writer *w, const char *p, size_t len)
{
	size_t done = 0;
	ssize_t n;
	int saved;

	while (done < len) {
		n = write(w->fd, p + done, len - done);
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
			}
			errno = saved;
			return -1;
		}
		done += (size_t)n;
	}
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
	uint64_t upto;
	unsigned long upto_hits;
	int fd = w->fd, rc, saved;

	while (w->queue != NULL && w->sealers == 0) {
		group = w->queue;
		w->queue = NULL;
		w->queue_tail = &w->queue;
		/* The queue holds every line past the acknowledged ones. */
		upto = w->size;
		upto_hits = w->hits;
		w->syncing = 1;
		pthread_mutex_unlock(&w->lock);
		rc = spool_datasync(fd);
		saved = errno;
		for (wt = group; wt != NULL; wt = wt->next)
			wt->rc = rc;
		if (rc == 0)
			spool_tell(group);
		pthread_mutex_lock(&w->lock);
		w->syncing = 0;
		if (rc == 0) {
			w->acked = upto;
			w->acked_hits = upto_hits;
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
	if (c->sync != CONF_SYNC_ALWAYS) {
		/* Acknowledged once written; the seal's sync is the batch's. */
		w->acked = w->size;
		w->acked_hits = w->hits;
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

void
spool_entries_free(struct spool_entry *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i].name);
	free(v);
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

/*
 * Seal tmp/ batches whose writer is gone: nobody holds their lock and they
 * are older than the grace period.  Empty ones are removed.  The torn last
 * line, if any, is dealt with by validation when the batch is claimed.
 */
int
spool_seal_orphans(const char *dir, time_t now, unsigned *sealed)
{
	struct spool_entry *v;
	size_t n, i;
	char *from, *to;
	int fd, rc = 0;
	struct stat sb;

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
		if (sb.st_size == 0) {
			(void)unlink(from);
			goto next;
		}
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

/* Is this line (without its '\n') a hit record?  NULL, or why not. */
static const char *
spool_check_line(const char *p, size_t len)
{
	if (len == 0)
		return "empty line";
	return jsoncheck_hit_line(p, len);
}

/*
 * Create a fresh file to write whole: whatever had the name (a stale temp
 * file, a symlink someone planted) is removed first, and the file is
 * created with O_EXCL, so no link is ever followed.  The fd, or -1.
 */
static int
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

static int
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

/*
 * Read a batch without changing it, judging each line as spool_validate
 * does (it uses this).  fn (when not NULL) sees every line: why is NULL for a hit record.
 * With live set (a tmp/ batch whose writer may be appending) an unended
 * last line is a hit being written, neither good nor bad.  Returns 0, 1
 * when the file vanished, -1 on error.
 */
int
spool_scan(const char *path, int live, void (*fn)(void *, unsigned long,
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
		if (torn && live)
			break;
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
spool_job_id(const char *host, const char *stream, const char *const *names,
    const uint64_t *sizes, size_t n, char *out, size_t len)
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
		snprintf(num, sizeof num, " %" PRIu64 "\n", sizes[i]);
		EVP_DigestUpdate(ctx, names[i], strlen(names[i]));
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

/* ---- for hookspoolctl ---- */

/*
 * Is name a batch of state s?  In failed/ and corrupt/ a NAME.err beside a
 * batch is its error text, never a batch of its own.
 */
int
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

