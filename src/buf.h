/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * buf: the one growable byte buffer, with a hard cap.
 *
 * Invariants: data is NULL or holds cap bytes; len <= cap; when data is
 * not NULL, data[len] == '\0' (so text can be used as a C string).
 * Growing past max is an error (-1, errno EMSGSIZE), not an OOM: callers
 * map it to 413 or "line too long".  max == 0 means SIZE_MAX/2.
 * Lifecycle: buf_init, buf_add*, buf_reset (keep memory), buf_release
 * (free), buf_detach (hand the memory to the caller).
 */
#ifndef HS_BUF_H
#define HS_BUF_H

#include <stddef.h>

#include "log.h"

struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
	size_t	 max;
};

void	 buf_init(struct buf *, size_t);
void	 buf_reset(struct buf *);
void	 buf_release(struct buf *);
char	*buf_detach(struct buf *, size_t *);
int	 buf_reserve(struct buf *, size_t);
int	 buf_add(struct buf *, const void *, size_t);
int	 buf_addc(struct buf *, char);
int	 buf_adds(struct buf *, const char *);
int	 buf_addf(struct buf *, const char *, ...) HS_PRINTF(2, 3);
const char *buf_str(const struct buf *);

#endif
