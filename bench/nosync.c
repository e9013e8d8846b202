/*
 * nosync.c: an LD_PRELOAD shim under which fdatasync(2) returns at once,
 * to measure what sync = always costs besides the sync itself
 * (results/collector-2026-12-02-nosync.md).  It breaks every promise the
 * spool makes: never use it outside a benchmark.
 *
 *	cc -O2 -shared -fPIC -o /tmp/nosync.so bench/nosync.c
 */
#include <unistd.h>

int
fdatasync(int fd)
{
	(void)fd;
	return 0;
}
