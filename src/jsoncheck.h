/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * jsoncheck: a validator of hit lines that builds nothing (see jsoncheck.c).
 */
#ifndef HS_JSONCHECK_H
#define HS_JSONCHECK_H

#include <stddef.h>

const char	*jsoncheck_hit_line(const char *, size_t);

#endif
