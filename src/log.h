/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * log: one place for diagnostics.  Lines go to stderr as "prog: message",
 * to syslog, or to both, as log_init() is told (see log.c).
 * log_warn appends strerror(errno).  log_notice always reaches syslog but
 * stderr only when verbose: what a quiet cron job should record, not mail.
 * log_keep/log_kept keep a copy of the warnings logged at start-up.
 * fatal/fatalx log and exit: main() only.
 */
#ifndef HS_LOG_H
#define HS_LOG_H

#include <stdarg.h>

#define HS_PRINTF(a, b) __attribute__((format(printf, a, b)))

void	log_init(const char *, int);
void	log_set_verbose(int);
void	log_keep(int);
const char *log_kept(void);
void	log_warn(const char *, ...) HS_PRINTF(1, 2);
void	log_warnx(const char *, ...) HS_PRINTF(1, 2);
void	log_notice(const char *, ...) HS_PRINTF(1, 2);
void	log_info(const char *, ...) HS_PRINTF(1, 2);
void	log_debug(const char *, ...) HS_PRINTF(1, 2);
void	fatal(const char *, ...) HS_PRINTF(1, 2) __attribute__((noreturn));
void	fatalx(int, const char *, ...) HS_PRINTF(2, 3)
	    __attribute__((noreturn));

#endif
