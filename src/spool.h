/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * spool: THE on-disk protocol.  Nothing else in hookspool creates, renames
 * or removes spool files.
 *
 * Layout: spool_dir/<stream>/{tmp,new,active,done,failed,hold,corrupt}/.
 * A batch is a file of NDJSON hit lines; a state change is one rename(2).
 * Names are unique without locks and sort by time:
 *	<sec>.<usec>.<host>.<pid>.<seq>.ndjson
 * Files whose names start with '.' are work in progress and are ignored by
 * every listing.  A writer holds flock(LOCK_EX) on its open batch in tmp/,
 * so a batch whose writer died is one nobody holds a lock on.
 * active/<job id>/ holds the batches of one load job and its JOB file; the
 * JOB file's mtime is the earliest time of the next attempt (backoff).
 * A writer seals its batch with the extended attribute SPOOL_SEAL_XATTR,
 * "<size> <crc32>" of the bytes it wrote, every line of which it built: a
 * batch whose bytes match it needs no line-by-line check (spool_check.c).
 * It is only a shortcut: a batch without it (sealed by repair, written by
 * hand, copied without xattrs) or not matching it is checked line by line.
 *
 * No spool file is opened through a symbolic link; files written whole are
 * created afresh (O_EXCL) and renamed into place.  Run as root, a program
 * becomes the spool's owner first (spool_become_owner).
 *
 * Functions return 0 on success and -1 after logging, unless they say
 * otherwise.  Files that vanish under a listing are skipped, not errors.
 * The code is in spool.c, spool_writer.c, spool_job.c and spool_check.c,
 * each named below; spool_impl.h holds what they share.
 */
#ifndef HS_SPOOL_H
#define HS_SPOOL_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "conf.h"
#include "hit_columns.h"

enum spool_state {
	SPOOL_TMP,
	SPOOL_NEW,
	SPOOL_ACTIVE,
	SPOOL_DONE,
	SPOOL_FAILED,
	SPOOL_HOLD,
	SPOOL_CORRUPT,
	SPOOL_NSTATES
};
extern const char *const spool_state_names[SPOOL_NSTATES];
int	 spool_state_lookup(const char *);

/* Layout and names (spool.c). */
char	*spool_stream_dir(const struct conf *, const struct conf_stream *);
char	*spool_path(const char *, enum spool_state, const char *);
int	 spool_become_owner(const char *);
int	 spool_prepare(const char *);
void	 spool_new_name(char *, size_t);
int	 spool_valid_name(const char *);
char	*spool_batch_path(const char *, enum spool_state, const char *,
	    const char *);

/*
 * The writer (spool_writer.c): the responder's side, one writer per stream
 * per process, thread-safe.
 */
struct spool_writer;
struct spool_writer *spool_writer_new(const struct conf *, const char *);
/*
 * A request waiting for the sync that covers its line (sync = always):
 * the caller embeds it and sets done; the spool sets the rest.
 */
struct spool_waiter {
	void			(*done)(struct spool_waiter *, int);
	int			 rc;
	struct spool_waiter	*next;
};
#define SPOOL_PENDING	1
int	 spool_write(struct spool_writer *, const char *, size_t,
	    struct spool_waiter *);
int	 spool_writer_tick(struct spool_writer *, time_t);
int	 spool_writer_seal(struct spool_writer *);
time_t	 spool_writer_opened(struct spool_writer *);
void	 spool_writer_free(struct spool_writer *);
int	 spool_space_ok(const struct conf *, const char *, uint64_t *);

/* Listing and moves (spool.c). */
struct spool_entry {
	char		*name;
	uint64_t	 size;
	time_t		 mtime;
};
int	 spool_list(const char *, enum spool_state, struct spool_entry **,
	    size_t *);
int	 spool_list_ready(const char *, struct spool_entry **, size_t *,
	    size_t *);
int	 spool_list_batches(const char *, enum spool_state, const char *,
	    struct spool_entry **, size_t *);
void	 spool_entries_free(struct spool_entry *, size_t);
int	 spool_find(const char *, const char *, enum spool_state *, char **);
char	*spool_err_read(const char *, enum spool_state, const char *);
struct spool_backlog {
	unsigned long	 files;
	uint64_t	 bytes;
	time_t		 oldest;	/* earliest mtime; 0: no file */
};
int	 spool_backlog(const char *, struct spool_backlog *);
int	 spool_move(const char *, const char *, enum spool_state,
	    enum spool_state);
int	 spool_remove(const char *, enum spool_state, const char *);
int	 spool_expire_done(const char *, long, unsigned *);

/*
 * Load jobs (spool_job.c): the uploader's side, under its lock; the
 * per-table job ledger; the uploader's last result, for the health URL
 * and status.
 */
struct spool_job {
	char		*dir;		/* active/<id> */
	char		*id;		/* base job id, also the folder name */
	unsigned	 attempt;	/* 0: the base id itself */
	unsigned	 tries;		/* failed runs in a row, for backoff */
	char		**names;
	uint64_t	*sizes;
	size_t		 n;
	uint64_t	 total;
	time_t		 not_before;	/* backoff: the JOB file's mtime */
};
int	 spool_lock(const char *, int *);
int	 spool_reserve(const char *, uint64_t);
void	 spool_unlock(int);
/*
 * Room for a job id (124 characters as spool_job_id makes them, at most a
 * folder name as read back) with its attempt suffix and the NUL.
 */
#define SPOOL_JOB_ID_MAX	(NAME_MAX + 16)
void	 spool_job_id(const char *, const char *,
	    const struct spool_entry *, size_t, char *, size_t);
void	 spool_job_attempt_id(const struct spool_job *, char *, size_t);
int	 spool_claim(const char *, const char *, struct spool_entry *, size_t,
	    struct spool_job *);
int	 spool_jobs(const char *, char ***, size_t *);
int	 spool_job_load(const char *, const char *, struct spool_job *);
int	 spool_job_save(struct spool_job *);
int	 spool_job_defer(struct spool_job *, time_t);
int	 spool_job_done(const char *, struct spool_job *);
int	 spool_job_failed(const char *, struct spool_job *, const char *);
int	 spool_job_release(const char *, struct spool_job *);
void	 spool_job_free(struct spool_job *);
int	 spool_quota_count(const char *, const char *, time_t, unsigned long *);
int	 spool_quota_note(const char *, const char *, time_t);
int	 spool_status_write(const char *, const char *);
char	*spool_status_read(const char *);

/*
 * The dedup index of a stream (spool_dedup.c): a delivery id seen within
 * the window is answered with the first hit's id.  Thread- and
 * process-safe; see the file's contract.
 */
#define SPOOL_DEDUP_NEW		0	/* write the hit, then settle */
#define SPOOL_DEDUP_DUP		1	/* answer with the first hit_id */
#define SPOOL_DEDUP_BUSY	2	/* answer 503 */
#define SPOOL_DEDUP_WAIT	3	/* (internal) the first is pending */
#define SPOOL_DEDUP_WAIT_MAX	30	/* seconds a duplicate waits */
#define SPOOL_DEDUP_MAX_SLOTS	((uint64_t)1 << 23)
struct spool_dedup;
struct spool_dedup *spool_dedup_open(const char *, long);
int	 spool_dedup_claim(struct spool_dedup *, const char *, size_t,
	    const char *, int64_t, char [HIT_ID_LEN]);
void	 spool_dedup_settle(struct spool_dedup *, const char *, size_t,
	    const char *, int);
void	 spool_dedup_close(struct spool_dedup *);

/* Checks and repair (spool_check.c). */
#define SPOOL_SCAN_OPEN	0x1	/* a tmp/ batch: may end in padding */
#define SPOOL_SCAN_LIVE	0x2	/* and its writer may be appending */
int	 spool_scan(const char *, int, void (*)(void *, unsigned long,
	    const char *, size_t, const char *), void *, unsigned long *,
	    unsigned long *);
int	 spool_validate(const char *, enum spool_state, const char *,
	    unsigned long *, unsigned long *);
int	 spool_check_batch(const char *, uint64_t, int (*)(void *, uint64_t),
	    void *, unsigned long *, const char **);
int	 spool_count_lines(const char *, unsigned long *);
int	 spool_seal_orphans(const char *, time_t, unsigned *);
int	 spool_tmp_orphan(const char *, const char *, time_t);
unsigned spool_clean_valid(const char *, enum spool_state);

#endif
