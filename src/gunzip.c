/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * gunzip: capped inflate with zlib (see gunzip.h for the contract).
 *
 * Output goes through a small stack window and is appended to the buffer
 * only after the cap check, so the buffer never grows past max; zlib's
 * own state is a fixed ~44 KiB whatever the input claims.
 */
#include "config.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <zlib.h>

#include "buf.h"
#include "gunzip.h"
#include "log.h"

#define GUNZIP_WINDOW	16384

/* The windowBits zlib needs for what the first bytes say. */
static int
gunzip_bits(const unsigned char *p, size_t len)
{
	if (len >= 2 && p[0] == 0x1f && p[1] == 0x8b)
		return 15 + 16;
	/* RFC 1950: CM 8 (deflate), and the header is a multiple of 31. */
	if (len >= 2 && (p[0] & 0x0f) == 8 && (p[0] >> 4) <= 7 &&
	    ((unsigned)p[0] << 8 | p[1]) % 31 == 0)
		return 15;
	/* Many "deflate" senders send raw deflate, without the header. */
	return -15;
}

int
gunzip_capped(const void *in, size_t len, size_t max, struct buf *out)
{
	unsigned char win[GUNZIP_WINDOW];
	const unsigned char *p = in;
	size_t total = 0, got, off;
	z_stream z;
	int bits, zr, ret = -1;

	if (len == 0)
		return 0;
	memset(&z, 0, sizeof(z));
	bits = gunzip_bits(p, len);
	if (inflateInit2(&z, bits) != Z_OK) {
		log_warnx("gunzip: inflateInit2 failed");
		return -1;
	}
	z.next_in = (unsigned char *)(uintptr_t)p;
	z.avail_in = 0;
	for (;;) {
		/* avail_in is 32 bits wide: feed a huge body in slices. */
		if (z.avail_in == 0) {
			off = (size_t)(z.next_in - p);
			if (off == len)
				break;
			z.avail_in = len - off > UINT_MAX ? UINT_MAX :
			    (unsigned)(len - off);
		}
		z.next_out = win;
		z.avail_out = sizeof(win);
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
			goto out;
		got = sizeof(win) - z.avail_out;
		if (got > max - total) {
			ret = -2;
			goto out;
		}
		if (buf_add(out, win, got) == -1) {
			ret = -2;
			goto out;
		}
		total += got;
		if (zr == Z_STREAM_END) {
			off = (size_t)(z.next_in - p);
			if (off == len) {
				ret = 0;
				goto out;
			}
			/* Only another gzip member may follow. */
			if (bits != 15 + 16 || len - off < 2 ||
			    p[off] != 0x1f || p[off + 1] != 0x8b)
				goto out;
			if (inflateReset(&z) != Z_OK)
				goto out;
		} else if (zr == Z_BUF_ERROR && z.avail_in > 0 && got == 0)
			goto out;
	}
	/* All input used without reaching the end of the stream. */
out:
	inflateEnd(&z);
	return ret;
}
