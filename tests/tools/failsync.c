/*
 * failsync.so: an LD_PRELOAD shim for the tests.  fdatasync(2) fails with
 * EIO, without syncing, while the file named by $HS_FAIL_SYNC exists, so a
 * test can make the spool's syncs fail on demand under a running responder.
 * Everything else is left alone.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int
fdatasync(int fd)
{
	static int (*real)(int);
	const char *marker = getenv("HS_FAIL_SYNC");

	if (marker != NULL && access(marker, F_OK) == 0) {
		errno = EIO;
		return -1;
	}
	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	if (real == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return real(fd);
}
