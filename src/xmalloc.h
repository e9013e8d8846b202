/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * xmalloc: allocators that never return NULL.  Out of memory is not a
 * condition a collector can answer sensibly, so they log and abort.
 */
#ifndef HS_XMALLOC_H
#define HS_XMALLOC_H

#include <stddef.h>

#include "log.h"

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
char	*xasprintf(const char *, ...) HS_PRINTF(1, 2);

#endif
