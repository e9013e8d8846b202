/*
 * syncprobe.c: the cost of one fdatasync(2) after a 300-byte line, as the
 * spool writes them under sync = always, in a file that grows with each
 * line (mode 0, what main does) or that was grown ahead of the lines
 * (mode 1: fallocate(2), the trial of bench/README.md, "What is left"),
 * whose blocks were allocated ahead with its size left to grow with each
 * line (mode 2: fallocate(2) with FALLOC_FL_KEEP_SIZE), or that was
 * written ahead with spaces (mode 3: what preallocate does).
 *
 *	cc -O2 -o /tmp/syncprobe bench/syncprobe.c
 *	/tmp/syncprobe DIR MODE [LINES]
 *
 * Prints the wall time and this process's CPU time per line.  DIR must be
 * on the file system to measure (/tmp may be tmpfs).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double
wall(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static double
cpu(void)
{
	struct rusage r;

	getrusage(RUSAGE_SELF, &r);
	return r.ru_utime.tv_sec + r.ru_stime.tv_sec +
	    (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

int
main(int argc, char **argv)
{
	char path[4096], line[300];
	double w0, c0;
	int fd, mode, n, i;

	if (argc < 3) {
		fprintf(stderr, "usage: syncprobe dir mode [lines]\n");
		return 64;
	}
	mode = atoi(argv[2]);
	n = argc > 3 ? atoi(argv[3]) : 2000;
	snprintf(path, sizeof path, "%s/syncprobe.%d", argv[1], (int)getpid());
	if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600)) == -1) {
		perror(path);
		return 1;
	}
	if ((mode == 1 || mode == 2) &&
	    (fallocate(fd, mode == 2 ? FALLOC_FL_KEEP_SIZE : 0, 0,
		 (off_t)n * sizeof line) == -1 ||
		fdatasync(fd) == -1)) {
		perror("fallocate");
		goto fail;
	}
	memset(line, ' ', sizeof line);
	for (i = 0; mode == 3 && i < n; i++)
		if (pwrite(fd, line, sizeof line, (off_t)i * sizeof line) !=
		    (ssize_t)sizeof line) {
			perror(path);
			goto fail;
		}
	if (mode == 3 && fdatasync(fd) == -1) {
		perror(path);
		goto fail;
	}
	memset(line, 'x', sizeof line - 1);
	line[sizeof line - 1] = '\n';
	w0 = wall();
	c0 = cpu();
	for (i = 0; i < n; i++)
		if (pwrite(fd, line, sizeof line, (off_t)i * sizeof line) !=
			(ssize_t)sizeof line ||
		    fdatasync(fd) == -1) {
			perror(path);
			goto fail;
		}
	printf("%s mode %d: %.0f us wall, %.0f us CPU a line (%d lines)\n",
	    argv[1], mode, (wall() - w0) / n * 1e6, (cpu() - c0) / n * 1e6, n);
	close(fd);
	unlink(path);
	return 0;
fail:
	close(fd);
	unlink(path);
	return 1;
}
