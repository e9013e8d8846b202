/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/* Unit tests of buf.c: growth, the cap, detach. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "buf.h"
#include "tap.h"

int
main(void)
{
	struct buf b;
	char *p;
	size_t len;
	int i;

	buf_init(&b, 10);
	is_str(buf_str(&b), "", "empty buffer reads as empty string");
	ok(buf_adds(&b, "hello") == 0, "add within cap");
	ok(buf_addf(&b, "%d", 1234) == 0, "addf within cap");
	is_str(buf_str(&b), "hello1234", "contents");
	ok(buf_add(&b, "x", 1) == 0, "exactly at the cap");
	errno = 0;
	ok(buf_add(&b, "y", 1) == -1 && errno == EMSGSIZE,
	    "over the cap fails with EMSGSIZE");
	is_int(b.len, 10, "failed add leaves length alone");
	buf_reset(&b);
	is_int(b.len, 0, "reset empties");
	ok(buf_addf(&b, "%s", "0123456789a") == -1, "addf over cap fails");
	buf_release(&b);

	buf_init(&b, 0);
	for (i = 0; i < 100000; i++)
		if (buf_addc(&b, 'a' + i % 26) != 0)
			break;
	is_int(i, 100000, "unbounded buffer grows");
	ok(b.data[b.len] == '\0', "always NUL terminated");
	p = buf_detach(&b, &len);
	is_int(len, 100000, "detach returns the length");
	ok(b.data == NULL && b.len == 0, "detach empties the buffer");
	free(p);
	return tap_done();
}
