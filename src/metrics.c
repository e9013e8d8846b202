/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * metrics: the responder's shared registry and the uploader's textfile;
 * the contract is in metrics.h.
 *
 * spool_dir/.metrics: a header, then METRICS_SLOTS slots of 64-bit words.
 * Word 0 of a slot is the pid that owns it (0: free; slot 0 belongs to
 * nobody and holds the sums of the dead), then the counters (folded into
 * slot 0 when the owner is gone), then the gauges (per process, dropped
 * with it).  The header's layout hash covers the streams and the bucket
 * bounds, so a process never reads counters laid out for another config.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

#define METRICS_MAGIC	"hsmetr01"
#define METRICS_SLOTS	64
#define METRICS_HEAD	64	/* bytes before slot 0 */
#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

struct metrics_head {
	char		magic[8];
	uint64_t	layout;
	uint64_t	nslots;
	uint64_t	slot_words;
};

/* The codes the responder answers; any other is counted as "other". */
static const int metrics_codes[] = { 200, 204, 400, 401, 403, 404, 405,
	408, 413, 415, 500, 503 };
#define METRICS_NCODES	(NITEMS(metrics_codes) + 1)

static const double metrics_time_le[] = { .0005, .001, .0025, .005, .01,
	.025, .05, .1, .25, .5, 1, 2.5, 5, 10 };
static const double metrics_group_le[] = { 1, 2, 4, 8, 16, 32, 64, 128,
	256 };

/* A histogram's words: a bucket per bound, +Inf, then the sum. */
struct metrics_hist {
	const char	*name;
	const char	*help;
	const double	*le;
	size_t		 n;
	double		 scale;	/* sum word -> sum (1e-9: ns -> s) */
	size_t		 off;
};

static struct metrics_hist metrics_hists[] = {
	{ "hookspool_request_duration_seconds", "Seconds from a request's "
	    "accept to its answer (a sync included).", metrics_time_le,
	    NITEMS(metrics_time_le), 1e-9, 0 },
	{ "hookspool_fdatasync_duration_seconds", "Seconds per group-commit "
	    "fdatasync.", metrics_time_le, NITEMS(metrics_time_le), 1e-9, 0 },
	{ "hookspool_hits_per_sync", "Hits covered by one group-commit "
	    "fdatasync.", metrics_group_le, NITEMS(metrics_group_le), 1, 0 },
};
enum { MH_REQUEST, MH_SYNC, MH_GROUP };

static struct {
	const struct conf *conf;
	size_t		 nrows;		/* streams + "no stream" */
	char		*path;
	int		 fd;
	unsigned char	*map;
	size_t		 maplen;
	uint64_t	*slot;		/* ours; NULL: metrics off */
	size_t		 words;		/* per slot */
	size_t		 counters;	/* words 1 .. counters are summed */
	size_t		 off_codes, off_bytes, off_opened;
	uint64_t	 layout;
} mx = { .fd = -1 };

uint64_t
metrics_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
metrics_fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char *s = p;

	while (len-- > 0) {
		h ^= *s++;
		h *= 1099511628211ULL;
	}
	return h;
}

/* Where each counter lives in a slot, and the layout's hash. */
static void
metrics_layout(const struct conf *c)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i, w = 1;

	mx.nrows = c->nstreams + 1;
	mx.off_codes = w;
	w += mx.nrows * METRICS_NCODES;
	mx.off_bytes = w;
	w += mx.nrows;
	for (i = 0; i < NITEMS(metrics_hists); i++) {
		metrics_hists[i].off = w;
		w += metrics_hists[i].n + 2;
		h = metrics_fnv(h, metrics_hists[i].le,
		    metrics_hists[i].n * sizeof(double));
	}
	mx.counters = w - 1;
	mx.off_opened = w;
	w += c->nstreams;
	mx.words = w;
	h = metrics_fnv(h, METRICS_MAGIC, 8);
	h = metrics_fnv(h, metrics_codes, sizeof metrics_codes);
	for (i = 0; i < c->nstreams; i++)
		h = metrics_fnv(h, c->streams[i].name,
		    strlen(c->streams[i].name) + 1);
	mx.layout = h;
	mx.maplen = METRICS_HEAD + METRICS_SLOTS * mx.words * sizeof(uint64_t);
}

static uint64_t *
metrics_slot(size_t i)
{
	return (uint64_t *)(void *)(mx.map + METRICS_HEAD) + i * mx.words;
}

/* A fresh, zeroed file at path: linked when none is there, else renamed. */
static int
metrics_create(int replace)
{
	struct metrics_head hd;
	char *tmp = xasprintf("%s.%ld.tmp", mx.path, (long)getpid());
	int fd, rc = -1;

	(void)unlink(tmp);
	if ((fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		log_warn("metrics: cannot create '%s'", tmp);
		goto out;
	}
	memset(&hd, 0, sizeof hd);
	memcpy(hd.magic, METRICS_MAGIC, 8);
	hd.layout = mx.layout;
	hd.nslots = METRICS_SLOTS;
	hd.slot_words = mx.words;
	if (ftruncate(fd, (off_t)mx.maplen) == -1 ||
	    pwrite(fd, &hd, sizeof hd, 0) != (ssize_t)sizeof hd) {
		log_warn("metrics: cannot write '%s'", tmp);
		goto out;
	}
	if (replace ? rename(tmp, mx.path) == -1 :
	    link(tmp, mx.path) == -1 && errno != EEXIST) {
		log_warn("metrics: cannot put '%s' in place", mx.path);
		goto out;
	}
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	(void)unlink(tmp);
	free(tmp);
	return rc;
}

/* The locked fd is still the file at path, and laid out as we lay it. */
static int
metrics_check(int fd, int *fits)
{
	struct metrics_head hd;
	struct stat a, b;

	if (fstat(fd, &a) == -1 || stat(mx.path, &b) == -1 ||
	    a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return 0;
	*fits = (uint64_t)a.st_size == mx.maplen &&
	    pread(fd, &hd, sizeof hd, 0) == (ssize_t)sizeof hd &&
	    memcmp(hd.magic, METRICS_MAGIC, 8) == 0 &&
	    hd.layout == mx.layout && hd.nslots == METRICS_SLOTS &&
	    hd.slot_words == mx.words;
	return 1;
}

/* Add a gone process's counters to slot 0 and free its slot; locked. */
static void
metrics_fold(uint64_t *s)
{
	uint64_t *dead = metrics_slot(0);
	size_t w;

	for (w = 1; w <= mx.counters; w++)
		__atomic_fetch_add(&dead[w], __atomic_exchange_n(&s[w], 0,
		    __ATOMIC_RELAXED), __ATOMIC_RELAXED);
	for (; w < mx.words; w++)
		__atomic_store_n(&s[w], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s[0], 0, __ATOMIC_RELEASE);
}

/* Fold the slots of dead processes; the number of live ones.  Locked. */
static size_t
metrics_reap(void)
{
	uint64_t *s, pid;
	size_t i, live = 0;

	for (i = 1; i < METRICS_SLOTS; i++) {
		s = metrics_slot(i);
		pid = __atomic_load_n(&s[0], __ATOMIC_ACQUIRE);
		if (pid == 0)
			continue;
		if (s == mx.slot || (pid != (uint64_t)getpid() &&
		    (kill((pid_t)pid, 0) == 0 || errno != ESRCH))) {
			live++;
			continue;
		}
		metrics_fold(s);
	}
	return live;
}

/* Map the locked file and take a free slot. */
static int
metrics_claim(int fd)
{
	uint64_t *s;
	size_t i;

	mx.map = mmap(NULL, mx.maplen, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0);
	if (mx.map == MAP_FAILED) {
		mx.map = NULL;
		log_warn("metrics: cannot map '%s'", mx.path);
		return -1;
	}
	(void)metrics_reap();
	for (i = 1; i < METRICS_SLOTS; i++) {
		s = metrics_slot(i);
		if (__atomic_load_n(&s[0], __ATOMIC_ACQUIRE) == 0) {
			__atomic_store_n(&s[0], (uint64_t)getpid(),
			    __ATOMIC_RELEASE);
			mx.slot = s;
			return 0;
		}
	}
	log_warnx("metrics: all %d slots of '%s' are taken", METRICS_SLOTS,
	    mx.path);
	munmap(mx.map, mx.maplen);
	mx.map = NULL;
	return -1;
}

int
metrics_open(const struct conf *c)
{
	int fd = -1, tries, fits = 0;

	mx.conf = c;
	metrics_layout(c);
	mx.path = xasprintf("%s/.metrics", c->spool_dir);
	for (tries = 0; tries < 10; tries++) {
		if ((fd = open(mx.path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) ==
		    -1) {
			if (errno != ENOENT || metrics_create(0) == -1)
				break;
			continue;
		}
		if (flock(fd, LOCK_EX) == -1)
			break;
		if (!metrics_check(fd, &fits)) {
			close(fd);	/* replaced under us: again */
			fd = -1;
			continue;
		}
		if (!fits && metrics_create(1) == -1)
			break;
		if (!fits) {
			close(fd);
			fd = -1;
			continue;
		}
		if (metrics_claim(fd) == -1)
			break;
		(void)flock(fd, LOCK_UN);
		mx.fd = fd;
		return 0;
	}
	if (fd != -1)
		close(fd);
	log_warn("metrics: cannot use '%s': metrics unavailable", mx.path);
	free(mx.path);
	mx.path = NULL;
	return -1;
}

void
metrics_close(void)
{
	if (mx.slot != NULL) {
		(void)flock(mx.fd, LOCK_EX);
		metrics_fold(mx.slot);
		(void)flock(mx.fd, LOCK_UN);
		mx.slot = NULL;
	}
	if (mx.map != NULL)
		munmap(mx.map, mx.maplen);
	if (mx.fd != -1)
		close(mx.fd);
	mx.map = NULL;
	mx.fd = -1;
	free(mx.path);
	mx.path = NULL;
}

static void
metrics_add(size_t word, uint64_t v)
{
	__atomic_fetch_add(&mx.slot[word], v, __ATOMIC_RELAXED);
}

static void
metrics_observe(const struct metrics_hist *h, double v, uint64_t sum)
{
	size_t i;

	for (i = 0; i < h->n && v > h->le[i]; i++)
		;
	metrics_add(h->off + i, 1);
	metrics_add(h->off + h->n + 1, sum);
}

/* One request answered: its stream (nstreams: none), code and time. */
void
metrics_request(size_t stream, int code, uint64_t ns, uint64_t bytes)
{
	size_t i;

	if (mx.slot == NULL)
		return;
	if (stream >= mx.nrows)
		stream = mx.nrows - 1;
	for (i = 0; i < NITEMS(metrics_codes) && metrics_codes[i] != code;
	    i++)
		;
	metrics_add(mx.off_codes + stream * METRICS_NCODES + i, 1);
	if (bytes > 0)
		metrics_add(mx.off_bytes + stream, bytes);
	metrics_observe(&metrics_hists[MH_REQUEST], (double)ns * 1e-9, ns);
}

/* One group-commit fdatasync: its time and the hits it covered. */
void
metrics_sync(uint64_t ns, unsigned long hits)
{
	if (mx.slot == NULL)
		return;
	metrics_observe(&metrics_hists[MH_SYNC], (double)ns * 1e-9, ns);
	metrics_observe(&metrics_hists[MH_GROUP], (double)hits, hits);
}

/* This process's open batch of the stream was opened then (0: none). */
void
metrics_batch_opened(size_t stream, time_t opened)
{
	if (mx.slot == NULL || stream + 1 >= mx.nrows)
		return;
	__atomic_store_n(&mx.slot[mx.off_opened + stream],
	    (uint64_t)(opened > 0 ? opened : 0), __ATOMIC_RELAXED);
}

/* A label value, escaped as the text format asks. */
static void
metrics_label(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			(void)buf_addc(out, '\\');
		if (*s == '\n')
			(void)buf_adds(out, "\\n");
		else
			(void)buf_addc(out, *s);
	}
}

static void
metrics_family(struct buf *out, const char *name, const char *type,
    const char *help)
{
	(void)buf_addf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

static const char *
metrics_row_name(size_t row)
{
	return row < mx.conf->nstreams ? mx.conf->streams[row].name : "";
}

static void
metrics_render_requests(struct buf *out, const uint64_t *tot)
{
	size_t r, i;
	uint64_t v;

	metrics_family(out, "hookspool_requests_total", "counter",
	    "Requests answered, by stream (\"\": none) and status code.");
	for (r = 0; r < mx.nrows; r++)
		for (i = 0; i < METRICS_NCODES; i++) {
			v = tot[mx.off_codes + r * METRICS_NCODES + i];
			if (v == 0)
				continue;
			(void)buf_adds(out, "hookspool_requests_total{stream=\"");
			metrics_label(out, metrics_row_name(r));
			if (i < NITEMS(metrics_codes))
				(void)buf_addf(out, "\",code=\"%d\"} %" PRIu64
				    "\n", metrics_codes[i], v);
			else
				(void)buf_addf(out, "\",code=\"other\"} %"
				    PRIu64 "\n", v);
		}
	metrics_family(out, "hookspool_received_bytes_total", "counter",
	    "Body bytes of the hits stored, as received, by stream.");
	for (r = 0; r + 1 < mx.nrows; r++) {
		(void)buf_adds(out, "hookspool_received_bytes_total{stream=\"");
		metrics_label(out, metrics_row_name(r));
		(void)buf_addf(out, "\"} %" PRIu64 "\n", tot[mx.off_bytes + r]);
	}
}

static void
metrics_render_hist(struct buf *out, const struct metrics_hist *h,
    const uint64_t *tot)
{
	uint64_t cum = 0;
	size_t i;

	metrics_family(out, h->name, "histogram", h->help);
	for (i = 0; i < h->n; i++) {
		cum += tot[h->off + i];
		(void)buf_addf(out, "%s_bucket{le=\"%g\"} %" PRIu64 "\n",
		    h->name, h->le[i], cum);
	}
	cum += tot[h->off + h->n];
	(void)buf_addf(out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %.9g\n"
	    "%s_count %" PRIu64 "\n", h->name, cum, h->name,
	    (double)tot[h->off + h->n + 1] * h->scale, h->name, cum);
}

static void
metrics_render_gauges(struct buf *out, const uint64_t *oldest, size_t live)
{
	struct statvfs sv;
	time_t now = time(NULL);
	size_t r;

	metrics_family(out, "hookspool_open_batch_age_seconds", "gauge",
	    "Age of the oldest open batch in tmp/ of a live responder, by "
	    "stream (0: none).");
	for (r = 0; r + 1 < mx.nrows; r++) {
		(void)buf_adds(out, "hookspool_open_batch_age_seconds{stream=\"");
		metrics_label(out, metrics_row_name(r));
		(void)buf_addf(out, "\"} %lld\n", oldest[r] != 0 &&
		    (time_t)oldest[r] < now ? (long long)(now -
		    (time_t)oldest[r]) : 0LL);
	}
	metrics_family(out, "hookspool_responder_processes", "gauge",
	    "Responder processes sharing the spool's metrics.");
	(void)buf_addf(out, "hookspool_responder_processes %zu\n", live);
	if (statvfs(mx.conf->spool_dir, &sv) == -1) {
		log_warn("metrics: statvfs '%s'", mx.conf->spool_dir);
		return;
	}
	metrics_family(out, "hookspool_spool_free_bytes", "gauge",
	    "Bytes free for the responder on the spool's filesystem.");
	(void)buf_addf(out, "hookspool_spool_free_bytes %" PRIu64 "\n",
	    (uint64_t)sv.f_bavail * sv.f_frsize);
	metrics_family(out, "hookspool_spool_size_bytes", "gauge",
	    "Size of the spool's filesystem in bytes.");
	(void)buf_addf(out, "hookspool_spool_size_bytes %" PRIu64 "\n",
	    (uint64_t)sv.f_blocks * sv.f_frsize);
	metrics_family(out, "hookspool_spool_min_free_bytes", "gauge",
	    "min_free_space: below it hits are answered 503.");
	(void)buf_addf(out, "hookspool_spool_min_free_bytes %" PRIu64 "\n",
	    mx.conf->min_free_space);
}

/* Sum the slots (the dead's folded first); the oldest open batches. */
static size_t
metrics_sum(uint64_t *tot, uint64_t *oldest)
{
	const uint64_t *s;
	uint64_t v;
	size_t i, w, live;

	(void)flock(mx.fd, LOCK_EX);
	live = metrics_reap();
	for (i = 0; i < METRICS_SLOTS; i++) {
		s = metrics_slot(i);
		if (i > 0 && __atomic_load_n(&s[0], __ATOMIC_ACQUIRE) == 0)
			continue;
		for (w = 1; w <= mx.counters; w++)
			tot[w] += __atomic_load_n(&s[w], __ATOMIC_RELAXED);
		for (w = 0; i > 0 && w + 1 < mx.nrows; w++) {
			v = __atomic_load_n(&s[mx.off_opened + w],
			    __ATOMIC_RELAXED);
			if (v != 0 && (oldest[w] == 0 || v < oldest[w]))
				oldest[w] = v;
		}
	}
	(void)flock(mx.fd, LOCK_UN);
	return live;
}

/* The exposition of every process's metrics, summed. */
int
metrics_render(struct buf *out)
{
	uint64_t *tot, *oldest;
	size_t i, live;

	if (mx.slot == NULL)
		return -1;
	tot = xcalloc(mx.words, sizeof *tot);
	oldest = xcalloc(mx.nrows, sizeof *oldest);
	live = metrics_sum(tot, oldest);
	metrics_render_requests(out, tot);
	for (i = 0; i < NITEMS(metrics_hists); i++)
		metrics_render_hist(out, &metrics_hists[i], tot);
	metrics_render_gauges(out, oldest, live);
	free(tot);
	free(oldest);
	return 0;
}

/* ---- the uploader's textfile -------------------------------------------- */

struct metrics_tf_family {
	const char	*name;
	const char	*type;
	const char	*help;
	int		 carry;	/* read back from the previous file */
};

static const struct metrics_tf_family metrics_tf_families[] = {
	{ "hookspool_upload_jobs_total", "counter", "Load jobs ended, by "
	    "stream and result (ok, retry, failed).", 1 },
	{ "hookspool_upload_rows_total", "counter", "Rows loaded, by "
	    "stream.", 1 },
	{ "hookspool_upload_bytes_total", "counter", "Bytes of batches "
	    "loaded, by stream.", 1 },
	{ "hookspool_upload_job_duration_seconds", "histogram", "Seconds per "
	    "load job, from its upload to its end.", 1 },
	{ "hookspool_upload_last_success_timestamp_seconds", "gauge", "When "
	    "a run last ended ok (Unix time).", 1 },
	{ "hookspool_upload_last_run_timestamp_seconds", "gauge", "When the "
	    "last run ended (Unix time).", 0 },
	{ "hookspool_upload_last_run_exit_code", "gauge", "The last run's "
	    "exit code (0 ok, 75 retry later, 65 batches failed).", 0 },
	{ "hookspool_upload_backlog_files", "gauge", "Batches waiting in "
	    "tmp/, new/ and active/, by stream.", 0 },
	{ "hookspool_upload_backlog_bytes", "gauge", "Bytes waiting in tmp/, "
	    "new/ and active/, by stream.", 0 },
	{ "hookspool_upload_backlog_oldest_age_seconds", "gauge", "Age of "
	    "the oldest waiting batch, by stream (0: none).", 0 },
	{ "hookspool_upload_table_jobs", "gauge", "Load jobs counted against "
	    "the table's daily cap in the last 24 hours.", 0 },
	{ "hookspool_upload_table_jobs_cap", "gauge",
	    "jobs_per_table_per_day.", 0 },
};

static const double metrics_job_le[] = { 1, 2.5, 5, 10, 30, 60, 120, 300,
	600 };

struct metrics_tf_entry {
	char		*key;	/* name{labels} */
	size_t		 fam;
	double		 v;
};

struct metrics_tf {
	struct metrics_tf_entry *e;
	size_t		 n;
};

/* The family of a series name, a histogram's suffixes taken off. */
static size_t
metrics_tf_family(const char *key)
{
	static const char *const sfx[] = { "", "_bucket", "_sum", "_count" };
	size_t len = strcspn(key, "{ "), i, k, fl;

	for (i = 0; i < NITEMS(metrics_tf_families); i++) {
		fl = strlen(metrics_tf_families[i].name);
		for (k = 0; k < NITEMS(sfx); k++)
			if (len == fl + strlen(sfx[k]) && strncmp(key,
			    metrics_tf_families[i].name, fl) == 0 &&
			    strncmp(key + fl, sfx[k], strlen(sfx[k])) == 0)
				return i;
	}
	return NITEMS(metrics_tf_families);
}

static struct metrics_tf_entry *
metrics_tf_get(struct metrics_tf *tf, const char *key)
{
	size_t i;

	for (i = 0; i < tf->n; i++)
		if (strcmp(tf->e[i].key, key) == 0)
			return &tf->e[i];
	tf->e = xreallocarray(tf->e, tf->n + 1, sizeof *tf->e);
	tf->e[tf->n].key = xstrdup(key);
	tf->e[tf->n].fam = metrics_tf_family(key);
	tf->e[tf->n].v = 0;
	return &tf->e[tf->n++];
}

/* The previous file's counters; none when it is missing or foreign. */
struct metrics_tf *
metrics_tf_load(const char *path)
{
	struct metrics_tf *tf = xcalloc(1, sizeof *tf);
	char line[1024], *sp, *end;
	size_t fam;
	double v;
	FILE *fp;

	if ((fp = fopen(path, "r")) == NULL) {
		if (errno != ENOENT)
			log_warn("metrics: cannot read '%s': counters start "
			    "again", path);
		return tf;
	}
	while (fgets(line, sizeof line, fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || (sp = strrchr(line, ' ')) == NULL)
			continue;
		*sp = '\0';
		v = strtod(sp + 1, &end);
		fam = metrics_tf_family(line);
		if (*end != '\0' || end == sp + 1 ||
		    fam == NITEMS(metrics_tf_families) ||
		    !metrics_tf_families[fam].carry)
			continue;
		metrics_tf_get(tf, line)->v = v;
	}
	fclose(fp);
	return tf;
}

/* name{k1="v1",...} from the NULL-ended label pairs. */
static char *
metrics_tf_key(const char *name, va_list ap)
{
	struct buf b;
	const char *k, *v;
	int n = 0;

	buf_init(&b, 0);
	(void)buf_adds(&b, name);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		(void)buf_addf(&b, "%s%s=\"", n++ ? "," : "{", k);
		metrics_label(&b, v);
		(void)buf_addc(&b, '"');
	}
	if (n > 0)
		(void)buf_addc(&b, '}');
	return buf_detach(&b, NULL);
}

static void
metrics_tf_put(struct metrics_tf *tf, const char *name, double v, int add,
    va_list ap)
{
	struct metrics_tf_entry *e;
	char *key = metrics_tf_key(name, ap);

	e = metrics_tf_get(tf, key);
	e->v = add ? e->v + v : v;
	free(key);
}

/* Add to a counter: family, value, then label name/value pairs, NULL. */
void
metrics_tf_add(struct metrics_tf *tf, const char *name, double v, ...)
{
	va_list ap;

	va_start(ap, v);
	metrics_tf_put(tf, name, v, 1, ap);
	va_end(ap);
}

/* Set a gauge: family, value, then label name/value pairs, NULL. */
void
metrics_tf_set(struct metrics_tf *tf, const char *name, double v, ...)
{
	va_list ap;

	va_start(ap, v);
	metrics_tf_put(tf, name, v, 0, ap);
	va_end(ap);
}

/* One observation of a histogram family (the job bounds). */
void
metrics_tf_observe(struct metrics_tf *tf, const char *name, double v)
{
	char key[256];
	size_t i;

	for (i = 0; i < NITEMS(metrics_job_le); i++) {
		snprintf(key, sizeof key, "%s_bucket{le=\"%g\"}", name,
		    metrics_job_le[i]);
		metrics_tf_get(tf, key)->v += v <= metrics_job_le[i];
	}
	snprintf(key, sizeof key, "%s_bucket{le=\"+Inf\"}", name);
	metrics_tf_get(tf, key)->v += 1;
	snprintf(key, sizeof key, "%s_sum", name);
	metrics_tf_get(tf, key)->v += v;
	snprintf(key, sizeof key, "%s_count", name);
	metrics_tf_get(tf, key)->v += 1;
}

static void
metrics_tf_print(const struct metrics_tf *tf, FILE *fp)
{
	const struct metrics_tf_family *f;
	size_t i, k, seen;

	for (i = 0; i < NITEMS(metrics_tf_families); i++) {
		f = &metrics_tf_families[i];
		for (k = 0, seen = 0; k < tf->n; k++) {
			if (tf->e[k].fam != i)
				continue;
			if (seen++ == 0)
				fprintf(fp, "# HELP %s %s\n# TYPE %s %s\n",
				    f->name, f->help, f->name, f->type);
			fprintf(fp, "%s %.15g\n", tf->e[k].key, tf->e[k].v);
		}
	}
}

/* Write the file whole beside path, then rename it into place. */
int
metrics_tf_write(struct metrics_tf *tf, const char *path)
{
	const char *slash = strrchr(path, '/');
	char *tmp;
	FILE *fp = NULL;
	int fd, rc = -1;

	tmp = slash == NULL ? xasprintf(".%s.%ld.tmp", path, (long)getpid()) :
	    xasprintf("%.*s/.%s.%ld.tmp", (int)(slash - path), path, slash + 1,
	    (long)getpid());
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0644)) == -1 || (fp = fdopen(fd, "w")) == NULL) {
		log_warn("metrics: cannot create '%s'", tmp);
		if (fd != -1)
			close(fd);
		goto out;
	}
	/* The collector runs as another user: readable whatever the umask. */
	(void)fchmod(fd, 0644);
	metrics_tf_print(tf, fp);
	if (fflush(fp) == EOF || ferror(fp)) {
		log_warn("metrics: cannot write '%s'", tmp);
		goto out;
	}
	if (rename(tmp, path) == -1) {
		log_warn("metrics: cannot rename '%s' to '%s'", tmp, path);
		goto out;
	}
	rc = 0;
out:
	if (fp != NULL)
		fclose(fp);
	if (rc == -1)
		(void)unlink(tmp);
	free(tmp);
	return rc;
}

void
metrics_tf_free(struct metrics_tf *tf)
{
	size_t i;

	if (tf == NULL)
		return;
	for (i = 0; i < tf->n; i++)
		free(tf->e[i].key);
	free(tf->e);
	free(tf);
}
