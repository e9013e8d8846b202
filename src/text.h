/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * text: the small byte-level helpers that several modules need to agree
 * on: UTF-8 sequence checking (the one definition of "valid" used by the
 * line encoder, the form parser and validation), percent-decoding (forms
 * and signature tokens) and hex digits.  Pure.
 */
#ifndef HS_TEXT_H
#define HS_TEXT_H

#include <stddef.h>

#include "buf.h"

int	text_utf8_seq(const unsigned char *, size_t);
int	text_utf8_put(struct buf *, const unsigned char **,
	    const unsigned char *);
int	text_utf8_repair(struct buf *, const char *, size_t);
int	text_pct_decode(struct buf *, const char *, size_t, int);
int	text_hexval(int);

#endif
