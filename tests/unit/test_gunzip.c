/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * Unit tests of gunzip.c: gzip, zlib and raw deflate round trips,
 * concatenated members, the cap (exactly at it, one past it, a 100 MB
 * bomb), truncated, corrupt and trailing-garbage input.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "buf.h"
#include "gunzip.h"
#include "tap.h"

/* Deflate len bytes (or len zeros when p is NULL, fed in 1 MiB slices). */
static unsigned char *
zip(const void *p, size_t len, int bits, size_t *olen)
{
	static unsigned char zeros[1 << 20];
	z_stream z;
	unsigned char *out = NULL;
	size_t cap = 0, n;
	int flush;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 9, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		abort();
	do {
		n = len > sizeof(zeros) ? sizeof(zeros) : len;
		z.next_in = p != NULL ? (unsigned char *)(uintptr_t)p :
		    zeros;
		z.avail_in = (unsigned)n;
		len -= n;
		if (p != NULL)
			p = (const char *)p + n;
		flush = len == 0 ? Z_FINISH : Z_NO_FLUSH;
		do {
			if (cap - z.total_out < 65536) {
				cap = cap * 2 + 65536;
				if ((out = realloc(out, cap)) == NULL)
					abort();
			}
			z.next_out = out + z.total_out;
			z.avail_out = (unsigned)(cap - z.total_out);
			deflate(&z, flush);
		} while (z.avail_in > 0 || (flush == Z_FINISH &&
		    z.avail_out == 0));
	} while (len > 0);
	*olen = z.total_out;
	deflateEnd(&z);
	return out;
}

static void
roundtrip(const char *what, const unsigned char *data, size_t len, int bits)
{
	struct buf out;
	unsigned char *z;
	size_t zlen;
	int r;

	z = zip(data, len, bits, &zlen);
	buf_init(&out, 0);
	r = gunzip_capped(z, zlen, len, &out);
	is_int(r, 0, "%s: inflates", what);
	ok(out.len == len && (len == 0 || memcmp(out.data, data, len) == 0),
	    "%s: same bytes back", what);
	buf_release(&out);
	if (len > 0) {
		r = gunzip_capped(z, zlen, len - 1, &out);
		is_int(r, -2, "%s: one byte over the cap", what);
		ok(out.len <= len - 1, "%s: nothing past the cap", what);
		buf_release(&out);
	}
	free(z);
}

int
main(void)
{
	struct buf out;
	unsigned char *data, *z, *two;
	size_t len = 300000, zlen, i;
	struct timespec t0, t1;
	double secs;
	int r;

	data = malloc(len);
	srand(42);
	for (i = 0; i < len; i++)	/* compressible but not trivial */
		data[i] = (unsigned char)("hookspool"[i % 9] ^ (rand() % 4));
	roundtrip("gzip", data, len, 15 + 16);
	roundtrip("zlib", data, len, 15);
	roundtrip("raw deflate", data, len, -15);
	roundtrip("gzip of one byte", data, 1, 15 + 16);
	roundtrip("gzip of nothing", data, 0, 15 + 16);

	buf_init(&out, 0);
	is_int(gunzip_capped("", 0, 10, &out), 0, "empty input, empty body");
	is_int(out.len, 0, "empty input inflates to nothing");

	/* Two members make one body (gzip -c a b). */
	z = zip(data, 1000, 15 + 16, &zlen);
	two = malloc(2 * zlen);
	memcpy(two, z, zlen);
	memcpy(two + zlen, z, zlen);
	r = gunzip_capped(two, 2 * zlen, 2000, &out);
	is_int(r, 0, "concatenated members");
	ok(out.len == 2000 && memcmp(out.data, data, 1000) == 0 &&
	    memcmp(out.data + 1000, data, 1000) == 0, "both members inflated");
	buf_reset(&out);
	is_int(gunzip_capped(two, 2 * zlen, 1999, &out), -2,
	    "the cap spans members");
	buf_reset(&out);
	is_int(gunzip_capped(two, 2 * zlen - 1, 2000, &out), -1,
	    "truncated second member");
	buf_reset(&out);
	memcpy(two + zlen, "garbage!", 8);
	is_int(gunzip_capped(two, zlen + 8, 2000, &out), -1,
	    "garbage after the member");
	buf_reset(&out);
	is_int(gunzip_capped(z, zlen - 10, 2000, &out), -1,
	    "truncated member");
	buf_reset(&out);
	is_int(gunzip_capped(z, 5, 2000, &out), -1, "only a header");
	buf_reset(&out);
	z[zlen - 6] ^= 0x40;	/* in the CRC32 */
	is_int(gunzip_capped(z, zlen, 2000, &out), -1, "bad CRC");
	buf_reset(&out);
	z[zlen - 6] ^= 0x40;
	z[zlen / 2] ^= 0xff;
	is_int(gunzip_capped(z, zlen, 2000, &out), -1, "corrupt data");
	buf_reset(&out);
	is_int(gunzip_capped("not compressed at all", 21, 2000, &out), -1,
	    "plain text");
	buf_release(&out);
	free(two);
	free(z);

	/* The bomb: 100 MB of zeros, capped at 1 MiB, must stop early. */
	z = zip(NULL, (size_t)100 << 20, 15 + 16, &zlen);
	ok(zlen < 200000, "the bomb is small (%zu bytes)", zlen);
	buf_init(&out, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = gunzip_capped(z, zlen, 1 << 20, &out);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	is_int(r, -2, "the bomb is refused");
	ok(out.len <= 1 << 20 && out.cap <= 2 << 20,
	    "the bomb allocated at most about the cap (%zu)", out.cap);
	ok(secs < 1.0, "the bomb stopped early (%.3f s)", secs);
	buf_release(&out);
	/* A buffer's own cap is honoured too. */
	buf_init(&out, 4096);
	is_int(gunzip_capped(z, zlen, (size_t)200 << 20, &out), -2,
	    "the buffer's own cap");
	buf_release(&out);
	free(z);
	free(data);
	return tap_done();
}
