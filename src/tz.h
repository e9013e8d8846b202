/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * tz: IANA time zones without the TZ environment.  tz_load() reads one
 * TZif file (RFC 8536, versions 1 to 4) from the zoneinfo folder once, at
 * configuration time; tz_offset() is then pure and thread-safe: a binary
 * search of the transition table, and the POSIX TZ rule of the file's
 * footer for times past the last transition.  Leap second records are
 * ignored (the "right/" zones are not meant for civil dates).
 * tz_parse() takes untrusted bytes (fuzzed: fuzz/fuzz_tz.c) and returns
 * NULL for anything it does not fully understand.  Nothing here exits or
 * logs, but tz_load() which logs why a zone cannot be read.
 */
#ifndef HS_TZ_H
#define HS_TZ_H

#include <stddef.h>
#include <stdint.h>

struct tz;

struct tz	*tz_parse(const unsigned char *, size_t);
struct tz	*tz_load(const char *);
int		 tz_valid_name(const char *);
int32_t		 tz_offset(const struct tz *, int64_t);
void		 tz_free(struct tz *);

#endif
