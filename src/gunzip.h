/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * gunzip: inflate a Content-Encoding: gzip (or deflate) request body with
 * a hard cap on the output.  gzip, zlib and raw deflate are told apart by
 * their first bytes; concatenated gzip members are one body (RFC 1952).
 * gunzip_capped() appends to out and returns 0; -1 for corrupt or
 * truncated input, or bytes after the end of the stream that are not
 * another gzip member; -2 as soon as the output would pass max bytes, so
 * a bomb costs at most about max of memory.  An empty input is an empty
 * body (0).  On failure out holds what was inflated so far.  Never exits.
 */
#ifndef HS_GUNZIP_H
#define HS_GUNZIP_H

#include <stddef.h>

#include "buf.h"

int	gunzip_capped(const void *, size_t, size_t, struct buf *);

#endif
