/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * spool_dedup: the dedup index of a stream, spool_dir/<stream>/.dedup.
 *
 * A file shared by every responder process and thread of the host, mapped
 * MAP_SHARED: a page-sized header, then an open-addressing hash table
 * (linear probing, a power of two of 48-byte slots).  A slot holds the
 * first 16 bytes of SHA-256(delivery id), the first hit's id (16 bytes),
 * its receipt time, and who claimed it (pid and a per-process nonce).
 * Every look-up and change holds the process's mutex, then flock(LOCK_EX)
 * on the file: one writer at a time across threads and processes.
 *
 * The protocol, per hit with a delivery id:
 *	claim	no live entry: one is inserted PENDING with this hit's id ->
 *		SPOOL_DEDUP_NEW, the hit is written;
 *		a COMMITTED entry younger than the window -> SPOOL_DEDUP_DUP
 *		with the first hit_id, nothing is written;
 *		a PENDING entry whose owner lives -> wait (poll) and look
 *		again; a dead owner's (kill -9) is taken over;
 *		still pending after SPOOL_DEDUP_WAIT_MAX seconds ->
 *		SPOOL_DEDUP_BUSY (503).
 *	settle	after the spool's answer for the line: COMMITTED when it was
 *		acknowledged (sync = always: after its fdatasync), removed
 *		when it failed, so the next retry is stored.
 * So a duplicate is answered 2xx only once the first hit's own 2xx was
 * due: a 2xx never rests on a line that is not in the spool.
 *
 * The index is a cache of the spool.  It is rebuilt from the stream's
 * batches (tmp, new, active, done, failed, hold: every line with a
 * delivery_id received inside the window) when it is missing, unreadable,
 * or was written before the last boot (a power loss may have lost pages
 * of it; the spool's own lines were synced).  kill -9 loses nothing: the
 * pages live in the page cache.  Each look-up checks that the path still
 * names the file it locked, so an index removed under running responders
 * is recreated once, for all of them.
 *
 * Bounds: the table doubles when half full and is compacted (expired and
 * removed entries dropped) when three quarters of its slots were ever
 * used; it holds at most SPOOL_DEDUP_MAX_SLOTS slots.  Its size is 4 KiB +
 * 48 bytes x slots, slots the power of two >= 2..4 x the ids accepted
 * within the window: 100,000 ids -> 262,144 slots, a 12 MiB file, and at
 * most that much page cache mapped into each responder.  A full table
 * (SPOOL_DEDUP_MAX_SLOTS / 2 live ids) stores new ids without dedup and
 * says so in the log.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <uuid/uuid.h>

#include "log.h"
#include "spool.h"
#include "spool_impl.h"
#include "xmalloc.h"

#define DD_MAGIC	"HSDEDUP1"
#define DD_HEAD		4096
#define DD_MIN_SLOTS	4096
#define DD_EMPTY	0
#define DD_PENDING	1
#define DD_COMMITTED	2
#define DD_REMOVED	3

struct dd_slot {
	unsigned char	 key[16];
	unsigned char	 hid[16];
	int64_t		 t_ms;
	uint32_t	 pid;
	uint16_t	 nonce;
	uint8_t		 state;
	uint8_t		 pad;
};

struct dd_head {
	char		 magic[8];
	uint32_t	 slot_size;
	uint32_t	 pad;
	uint64_t	 nslots;
	uint64_t	 used;		/* slots not EMPTY */
	uint64_t	 live;		/* PENDING or COMMITTED */
	char		 boot_id[40];
};

struct spool_dedup {
	pthread_mutex_t	 lock;
	char		*dir;
	char		*path;
	int		 fd;
	struct dd_head	*head;		/* the mapping */
	size_t		 maplen;
	int64_t		 window_ms;
	char		 boot_id[40];	/* this boot's */
	uint16_t	 nonce;
	time_t		 last_warn;
};

static int64_t
dd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
dd_boot_id(char out[40])
{
	FILE *fp;

	memset(out, 0, 40);
	if ((fp = fopen("/proc/sys/kernel/random/boot_id", "r")) == NULL)
		return;
	if (fgets(out, 40, fp) == NULL)
		memset(out, 0, 40);
	out[strcspn(out, "\n")] = '\0';
	fclose(fp);
}

static void
dd_key(const char *id, size_t len, unsigned char key[16])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	EVP_Digest(id, len, md, &mdlen, EVP_sha256(), NULL);
	memcpy(key, md, 16);
	/* All zeros marks nothing; a real key is never that. */
	key[0] |= 1;
}

static struct dd_slot *
dd_slots(struct spool_dedup *d)
{
	return (struct dd_slot *)((char *)d->head + DD_HEAD);
}

static int
dd_map(struct spool_dedup *d)
{
	struct stat sb;

	if (d->head != NULL)
		munmap(d->head, d->maplen);
	d->head = NULL;
	if (fstat(d->fd, &sb) == -1) {
		log_warn("spool: cannot stat '%s'", d->path);
		return -1;
	}
	if (sb.st_size < DD_HEAD)
		return 0;	/* no table yet */
	d->maplen = (size_t)sb.st_size;
	d->head = mmap(NULL, d->maplen, PROT_READ | PROT_WRITE, MAP_SHARED,
	    d->fd, 0);
	if (d->head == MAP_FAILED) {
		d->head = NULL;
		log_warn("spool: cannot map '%s'", d->path);
		return -1;
	}
	return 0;
}

/* Is the mapping a table we can use as it is? */
static int
dd_valid(const struct spool_dedup *d)
{
	const struct dd_head *h = d->head;

	if (h == NULL || memcmp(h->magic, DD_MAGIC, 8) != 0 ||
	    h->slot_size != sizeof(struct dd_slot) ||
	    h->nslots < DD_MIN_SLOTS || h->nslots > SPOOL_DEDUP_MAX_SLOTS ||
	    (h->nslots & (h->nslots - 1)) != 0 ||
	    d->maplen != DD_HEAD + h->nslots * sizeof(struct dd_slot))
		return 0;
	return memcmp(d->boot_id, h->boot_id, sizeof d->boot_id) == 0;
}

static int
dd_alive(const struct spool_dedup *d, const struct dd_slot *s)
{
	if (s->pid == (uint32_t)getpid())
		return s->nonce == d->nonce;
	return kill((pid_t)s->pid, 0) == 0 || errno == EPERM;
}

/* Worth keeping across a compaction? */
static int
dd_keep(const struct spool_dedup *d, const struct dd_slot *s, int64_t now)
{
	if (s->state == DD_COMMITTED)
		return now - s->t_ms <= d->window_ms;
	return s->state == DD_PENDING && dd_alive(d, s);
}

static struct dd_slot *
dd_find(struct spool_dedup *d, const unsigned char key[16],
    struct dd_slot **freep)
{
	struct dd_slot *slots = dd_slots(d), *s;
	uint64_t mask = d->head->nslots - 1, i, n;

	memcpy(&i, key + 8, sizeof i);
	if (freep != NULL)
		*freep = NULL;
	for (n = 0; n <= mask; n++, i++) {
		s = &slots[i & mask];
		if (s->state == DD_EMPTY) {
			if (freep != NULL && *freep == NULL)
				*freep = s;
			return NULL;
		}
		if (memcmp(s->key, key, 16) == 0)
			return s;
		if (s->state == DD_REMOVED && freep != NULL && *freep == NULL)
			*freep = s;
	}
	return NULL;
}

/*
 * A new table of nslots holding the kept entries of old (n of them):
 * resize the file, map it, write the slots, then the header.
 */
static int
dd_write_table(struct spool_dedup *d, uint64_t nslots,
    const struct dd_slot *old, size_t n)
{
	struct dd_slot *free_slot;
	size_t i;
	off_t len = (off_t)(DD_HEAD + nslots * sizeof(struct dd_slot));

	if (d->head != NULL)
		munmap(d->head, d->maplen);
	d->head = NULL;
	/* Zero the whole file: a shrink or a grow leaves no stale slot. */
	if (ftruncate(d->fd, 0) == -1 || ftruncate(d->fd, len) == -1) {
		log_warn("spool: cannot size '%s'", d->path);
		return -1;
	}
	if (dd_map(d) == -1 || d->head == NULL)
		return -1;
	d->head->nslots = nslots;
	for (i = 0; i < n; i++) {
		(void)dd_find(d, old[i].key, &free_slot);
		*free_slot = old[i];
	}
	d->head->used = d->head->live = n;
	d->head->slot_size = sizeof(struct dd_slot);
	memcpy(d->head->boot_id, d->boot_id, sizeof d->boot_id);
	memcpy(d->head->magic, DD_MAGIC, 8);
	return 0;
}

static uint64_t
dd_size_for(uint64_t live)
{
	uint64_t n = DD_MIN_SLOTS;

	while (n < 4 * live && n < SPOOL_DEDUP_MAX_SLOTS)
		n *= 2;
	return n;
}

/* Drop what expired, and size the table for what is left. */
static int
dd_compact(struct spool_dedup *d, int64_t now)
{
	struct dd_slot *slots = dd_slots(d), *keep;
	uint64_t i, n = 0;
	int rc;

	keep = xreallocarray(NULL, d->head->live + 1, sizeof *keep);
	for (i = 0; i < d->head->nslots && n < d->head->live; i++)
		if (dd_keep(d, &slots[i], now))
			keep[n++] = slots[i];
	rc = dd_write_table(d, dd_size_for(n + 1), keep, n);
	free(keep);
	return rc;
}

/* Rebuild: one line of a batch. */
struct dd_scan {
	struct spool_dedup *d;
	int64_t		 since;
	struct dd_slot	*v;
	size_t		 n, cap;
};

static void
dd_scan_line(struct dd_scan *sc, const char *line, size_t len)
{
	json_t *j, *did, *hid, *t, *sv;
	struct dd_slot s;
	uuid_t u;

	if ((j = json_loadb(line, len, 0, NULL)) == NULL)
		return;
	did = json_object_get(j, "delivery_id");
	hid = json_object_get(j, "hit_id");
	t = json_object_get(j, "received_at");
	sv = json_object_get(j, "signature_valid");
	if (json_is_string(did) && json_is_string(hid) &&
	    json_is_integer(t) && json_integer_value(t) >= sc->since &&
	    !json_is_false(sv) &&
	    uuid_parse(json_string_value(hid), u) == 0) {
		memset(&s, 0, sizeof s);
		dd_key(json_string_value(did), json_string_length(did), s.key);
		memcpy(s.hid, u, 16);
		s.t_ms = json_integer_value(t);
		s.state = DD_COMMITTED;
		if (sc->n == sc->cap) {
			sc->cap = sc->cap ? sc->cap * 2 : 1024;
			sc->v = xreallocarray(sc->v, sc->cap, sizeof *sc->v);
		}
		sc->v[sc->n++] = s;
	}
	json_decref(j);
}

static void
dd_scan_file(struct dd_scan *sc, const char *path)
{
	FILE *fp;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if ((fp = spool_fopen_read(path)) == NULL)
		return;
	/* A last line without '\n' was never acknowledged: skipped. */
	while ((n = getline(&line, &cap, fp)) > 0)
		if (line[n - 1] == '\n')
			dd_scan_line(sc, line, (size_t)n - 1);
	free(line);
	fclose(fp);
}

static void
dd_scan_state(struct dd_scan *sc, enum spool_state st, const char *job)
{
	struct spool_entry *v;
	size_t n, i;
	char *path;

	if (spool_list_batches(sc->d->dir, st, job, &v, &n) == -1)
		return;
	for (i = 0; i < n; i++) {
		/* A batch last written before the window holds none of it. */
		if ((int64_t)v[i].mtime * 1000 + 1000 < sc->since)
			continue;
		path = spool_batch_path(sc->d->dir, st, job, v[i].name);
		dd_scan_file(sc, path);
		free(path);
	}
	spool_entries_free(v, n);
}

/* The index from the spool's lines inside the window (under the lock). */
static int
dd_rebuild(struct spool_dedup *d, int64_t now)
{
	static const enum spool_state states[] = { SPOOL_TMP, SPOOL_NEW,
		SPOOL_DONE, SPOOL_FAILED, SPOOL_HOLD };
	struct dd_scan sc;
	struct dd_slot *free_slot;
	char **jobs = NULL;
	size_t i, k, njobs = 0;
	int rc;

	memset(&sc, 0, sizeof sc);
	sc.d = d;
	sc.since = now - d->window_ms;
	for (i = 0; i < sizeof states / sizeof states[0]; i++)
		dd_scan_state(&sc, states[i], NULL);
	if (spool_jobs(d->dir, &jobs, &njobs) == 0) {
		for (i = 0; i < njobs; i++) {
			dd_scan_state(&sc, SPOOL_ACTIVE, jobs[i]);
			free(jobs[i]);
		}
		free(jobs);
	}
	/* One entry per id: the earliest line (a batch may be seen twice
	 * when it moved during the scan). */
	rc = dd_write_table(d, dd_size_for(sc.n + 1), NULL, 0);
	for (i = k = 0; rc == 0 && i < sc.n; i++) {
		struct dd_slot *s = dd_find(d, sc.v[i].key, &free_slot);

		if (s != NULL) {
			if (sc.v[i].t_ms < s->t_ms)
				*s = sc.v[i];
			continue;
		}
		*free_slot = sc.v[i];
		k++;
	}
	if (rc == 0) {
		d->head->used = d->head->live = k;
		log_info("spool: dedup index of '%s' rebuilt: %zu ids within "
		    "the window", d->dir, k);
	}
	free(sc.v);
	return rc;
}

/* (Re)open the index file, unmapped. */
static int
dd_open(struct spool_dedup *d)
{
	if (d->head != NULL)
		munmap(d->head, d->maplen);
	d->head = NULL;
	if (d->fd != -1)
		close(d->fd);
	d->fd = open(d->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0640);
	if (d->fd == -1) {
		log_warn("spool: cannot open '%s'", d->path);
		return -1;
	}
	return 0;
}

/*
 * Take both locks; the table mapped, current and valid.  The file the
 * lock is on must still be the one at the path: an index removed while
 * we run is replaced (and rebuilt) for every process alike.
 */
static int
dd_lock(struct spool_dedup *d, int64_t now)
{
	struct stat fsb, psb;
	int tries = 0;

	pthread_mutex_lock(&d->lock);
again:
	if (d->fd == -1 && dd_open(d) == -1)
		goto out;
	while (flock(d->fd, LOCK_EX) == -1) {
		if (errno == EINTR)
			continue;
		log_warn("spool: cannot lock '%s'", d->path);
		goto out;
	}
	if (fstat(d->fd, &fsb) == -1) {
		log_warn("spool: cannot stat '%s'", d->path);
		goto fail;
	}
	if ((stat(d->path, &psb) == -1 || psb.st_ino != fsb.st_ino ||
	    psb.st_dev != fsb.st_dev) && tries++ < 3) {
		flock(d->fd, LOCK_UN);
		if (dd_open(d) == -1)
			goto out;
		goto again;
	}
	/* Another process may have resized it: size the map by the file,
	 * never by a header that may lie past its end. */
	if ((d->head == NULL || (off_t)d->maplen != fsb.st_size) &&
	    dd_map(d) == -1)
		goto fail;
	if (!dd_valid(d) && dd_rebuild(d, now) == -1)
		goto fail;
	return 0;
fail:
	flock(d->fd, LOCK_UN);
out:
	pthread_mutex_unlock(&d->lock);
	return -1;
}

static void
dd_unlock(struct spool_dedup *d)
{
	flock(d->fd, LOCK_UN);
	pthread_mutex_unlock(&d->lock);
}

struct spool_dedup *
spool_dedup_open(const char *dir, long window)
{
	struct spool_dedup *d = xcalloc(1, sizeof *d);

	pthread_mutex_init(&d->lock, NULL);
	d->dir = xstrdup(dir);
	d->path = xasprintf("%s/.dedup", dir);
	d->window_ms = (int64_t)window * 1000;
	dd_boot_id(d->boot_id);
	if (RAND_bytes((unsigned char *)&d->nonce, sizeof d->nonce) != 1)
		d->nonce = (uint16_t)(getpid() ^ time(NULL));
	d->fd = -1;
	if (dd_lock(d, dd_now_ms()) == -1)
		goto fail;
	dd_unlock(d);
	return d;
fail:
	spool_dedup_close(d);
	return NULL;
}

void
spool_dedup_close(struct spool_dedup *d)
{
	if (d == NULL)
		return;
	if (d->head != NULL)
		munmap(d->head, d->maplen);
	if (d->fd != -1)
		close(d->fd);
	pthread_mutex_destroy(&d->lock);
	free(d->dir);
	free(d->path);
	free(d);
}

/* One look under the lock; SPOOL_DEDUP_WAIT: a live owner's pending. */
static int
dd_claim_once(struct spool_dedup *d, const unsigned char key[16],
    const uuid_t hid, int64_t now, char *first)
{
	struct dd_slot *s, *free_slot;

	if (dd_lock(d, now) == -1)
		return SPOOL_DEDUP_BUSY;
	if ((s = dd_find(d, key, &free_slot)) != NULL) {
		if (s->state == DD_COMMITTED && now - s->t_ms <= d->window_ms) {
			uuid_unparse_lower(s->hid, first);
			dd_unlock(d);
			return SPOOL_DEDUP_DUP;
		}
		if (s->state == DD_PENDING && dd_alive(d, s)) {
			dd_unlock(d);
			return SPOOL_DEDUP_WAIT;
		}
		/* Expired, removed, or its owner died: ours now. */
		if (s->state == DD_REMOVED)
			d->head->live++;
	} else {
		if (free_slot == NULL ||
		    d->head->used + 1 > d->head->nslots / 4 * 3 ||
		    d->head->live + 1 > d->head->nslots / 2) {
			if (d->head->live + 1 > SPOOL_DEDUP_MAX_SLOTS / 2) {
				if (now / 1000 - d->last_warn >= 60) {
					log_warnx("spool: dedup index of '%s' "
					    "is full: new ids are stored "
					    "without dedup", d->dir);
					d->last_warn = now / 1000;
				}
				dd_unlock(d);
				return SPOOL_DEDUP_NEW;
			}
			if (dd_compact(d, now) == -1) {
				dd_unlock(d);
				return SPOOL_DEDUP_BUSY;
			}
			(void)dd_find(d, key, &free_slot);
		}
		s = free_slot;
		if (s->state == DD_EMPTY)
			d->head->used++;
		d->head->live++;
	}
	memcpy(s->key, key, 16);
	memcpy(s->hid, hid, 16);
	s->t_ms = now;
	s->pid = (uint32_t)getpid();
	s->nonce = d->nonce;
	s->state = DD_PENDING;
	dd_unlock(d);
	return SPOOL_DEDUP_NEW;
}

/*
 * Claim a delivery id for the hit hit_id received at now_ms.  Returns
 * SPOOL_DEDUP_NEW (write the hit, then spool_dedup_settle), SPOOL_DEDUP_DUP
 * (first holds the first hit's id: answer with it, write nothing), or
 * SPOOL_DEDUP_BUSY (the first is still pending after SPOOL_DEDUP_WAIT
 * seconds, or the index failed: answer 503).
 */
int
spool_dedup_claim(struct spool_dedup *d, const char *id, size_t len,
    const char *hit_id, int64_t now_ms, char first[HIT_ID_LEN])
{
	unsigned char key[16];
	uuid_t hid;
	struct timespec ts = { 0, 1000000 };
	int64_t deadline = now_ms + SPOOL_DEDUP_WAIT_MAX * 1000;
	int rc;

	dd_key(id, len, key);
	if (uuid_parse(hit_id, hid) == -1)
		return SPOOL_DEDUP_BUSY;
	while ((rc = dd_claim_once(d, key, hid, now_ms, first)) ==
	    SPOOL_DEDUP_WAIT) {
		nanosleep(&ts, NULL);
		if (ts.tv_nsec < 32000000)
			ts.tv_nsec *= 2;
		if (dd_now_ms() > deadline)
			return SPOOL_DEDUP_BUSY;
	}
	return rc;
}

/* The spool's answer for a claimed hit: kept (ok) or not. */
void
spool_dedup_settle(struct spool_dedup *d, const char *id, size_t len,
    const char *hit_id, int ok)
{
	unsigned char key[16];
	struct dd_slot *s;
	uuid_t hid;

	dd_key(id, len, key);
	if (uuid_parse(hit_id, hid) == -1 || dd_lock(d, dd_now_ms()) ==
	    -1)
		return;
	/* Ours still: not rebuilt away nor taken over meanwhile. */
	if ((s = dd_find(d, key, NULL)) != NULL && s->state == DD_PENDING &&
	    memcmp(s->hid, hid, 16) == 0) {
		if (ok)
			s->state = DD_COMMITTED;
		else {
			s->state = DD_REMOVED;
			d->head->live--;
		}
	}
	dd_unlock(d);
}
