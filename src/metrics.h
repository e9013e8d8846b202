/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * metrics: Prometheus metrics, in the text exposition format.
 *
 * The responder's registry (metrics_open .. metrics_close) lives in a
 * small shared file, spool_dir/.metrics, mapped by every responder
 * process: one slot of counters per live process, so that a scrape, which
 * the web server hands to any one of them, sums them all.  A slot whose
 * process died is folded into slot 0 (the dead's sums) before it is reused,
 * under flock, so counters never go backwards.  A config with other
 * streams makes a fresh file (the old one stays with the processes that
 * mapped it): a counter reset, as after a restart.  Updates are relaxed
 * atomic adds, without locks; every update is a no-op until metrics_open
 * succeeded (the uploader and hookspoolctl never open it).
 *
 * The uploader's textfile (metrics_tf_*) is node_exporter's textfile
 * collector format, written whole to a temporary file and renamed into
 * place.  Its counters carry over from run to run: the previous file is
 * read back first.
 *
 * Functions return 0, or -1 after logging.
 */
#ifndef HS_METRICS_H
#define HS_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "conf.h"

/* Responder side.  A stream index of c->nstreams: no stream. */
int	 metrics_open(const struct conf *);
void	 metrics_close(void);
void	 metrics_request(size_t, int, uint64_t, uint64_t);
void	 metrics_sync(uint64_t, unsigned long);
void	 metrics_batch_opened(size_t, time_t);
int	 metrics_render(struct buf *);
uint64_t metrics_now_ns(void);

/* Uploader side. */
struct metrics_tf;
struct metrics_tf *metrics_tf_load(const char *);
/* name, value, then label name/value pairs ended by NULL */
void	 metrics_tf_add(struct metrics_tf *, const char *, double, ...);
void	 metrics_tf_set(struct metrics_tf *, const char *, double, ...);
void	 metrics_tf_observe(struct metrics_tf *, const char *, double);
int	 metrics_tf_write(struct metrics_tf *, const char *);
void	 metrics_tf_free(struct metrics_tf *);

#endif
