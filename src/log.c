/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * log: stderr in the foreground, syslog otherwise, or both (log_init).
 * Thread-safe: each line is formatted into a local buffer and written with
 * one call.  At start-up a copy of the warnings can be kept (log_keep) for
 * a program whose stderr may not reach the admin.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sysexits.h>
#include <unistd.h>

#include "log.h"

static const char *log_prog = "hookspool";
static int log_foreground = 1;
static int log_syslog_too;
static int log_verbose;
/* Warnings kept while keeping is on (start-up), for log_kept(). */
static char log_kept_text[4096];
static size_t log_kept_len;
static int log_keeping;

/*
 * foreground: 1 logs to stderr only, 0 to syslog only, 2 to both (the cron
 * uploader: stderr mails the admin, syslog keeps the record).
 */
void
log_init(const char *prog, int foreground)
{
	log_prog = prog;
	log_foreground = foreground != 0;
	log_syslog_too = foreground == 2;
	if (!log_foreground || log_syslog_too)
		openlog(prog, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_verbose(int v)
{
	log_verbose = v;
}

static void __attribute__((format(printf, 4, 0)))
log_vemit(int pri, int with_errno, int to_stderr, const char *fmt, va_list ap)
{
	char msg[2048];
	int saved = errno;
	size_t n;

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (with_errno) {
		n = strlen(msg);
		snprintf(msg + n, sizeof msg - n, ": %s", strerror(saved));
	}
	if (log_foreground && to_stderr) {
		char line[2200];
		int len = snprintf(line, sizeof line, "%s: %s\n", log_prog, msg);
		if (len > 0) {
			if ((size_t)len >= sizeof line)
				len = sizeof line - 1;
			(void)!write(STDERR_FILENO, line, (size_t)len);
		}
	}
	if (!log_foreground || log_syslog_too)
		syslog(pri, "%s", msg);
	if (log_keeping && pri <= LOG_WARNING &&
	    log_kept_len < sizeof log_kept_text - 1) {
		n = (size_t)snprintf(log_kept_text + log_kept_len,
		    sizeof log_kept_text - log_kept_len, "%s: %s\n", log_prog,
		    msg);
		log_kept_len += n;
		if (log_kept_len >= sizeof log_kept_text)
			log_kept_len = sizeof log_kept_text - 1;
	}
	errno = saved;
}

/*
 * Keep (on) or stop keeping (off) the warnings and errors logged from now
 * on, single-threaded start-up only: the responder hands them to the web
 * server, whose error log may not be where our stderr goes.
 */
void
log_keep(int on)
{
	if (on)
		log_kept_len = 0;
	log_kept_text[log_kept_len] = '\0';
	log_keeping = on;
}

/* What was kept, "prog: message\n" a line (at most 4K). */
const char *
log_kept(void)
{
	return log_kept_text;
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_WARNING, 1, 1, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_WARNING, 0, 1, fmt, ap);
	va_end(ap);
}

void
log_notice(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	/* Without syslog there is nowhere else: then stderr it is. */
	log_vemit(LOG_NOTICE, 0, log_verbose > 0 || !log_syslog_too, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	if (log_verbose < 1)
		return;
	va_start(ap, fmt);
	log_vemit(LOG_INFO, 0, 1, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_verbose < 2)
		return;
	va_start(ap, fmt);
	log_vemit(LOG_DEBUG, 0, 1, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_CRIT, 1, 1, fmt, ap);
	va_end(ap);
	exit(EX_OSERR);
}

void
fatalx(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_CRIT, 0, 1, fmt, ap);
	va_end(ap);
	exit(code);
}
