/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * spool_impl: what the spool's files (spool.c, spool_writer.c, spool_job.c,
 * spool_check.c) share.  Not for other modules: they use spool.h.  Same
 * conventions: 0 on success, -1 after logging, unless said otherwise.
 */
#ifndef HS_SPOOL_IMPL_H
#define HS_SPOOL_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "spool.h"

FILE	*spool_fopen_read(const char *);
int	 spool_sync_dir(const char *);
int	 spool_sync_state(const char *, enum spool_state);
int	 spool_datasync(int);
void	 spool_host(char *, size_t);
int	 spool_create(const char *);
int	 spool_write_file(const char *, const char *, size_t);

#define SPOOL_SEAL_XATTR	"user.hookspool.crc32"
void	 spool_seal_mark(int, const char *, uint64_t, uint32_t);
int	 spool_seal_read(int, uint64_t *, uint32_t *);

#endif
