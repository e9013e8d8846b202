/*
 * noop-fcgi: the benchmark's baseline FastCGI responder.  It does what
 * hookspool-fcgi does around the hit and nothing else: N threads each loop
 * on FCGX_Accept_r() over the listening socket on standard input (as
 * spawn-fcgi passes it), read the whole request body and answer 204.
 * Not part of the product build: bench/run-collector.sh compiles it with
 *	cc -O2 -o noop-fcgi noop-fcgi.c -lfcgi -lpthread
 * Usage: noop-fcgi [-t threads]   (8 by default, like hookspool's threads)
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fcgiapp.h>

static void *
noop_worker(void *arg)
{
	FCGX_Request r;
	char chunk[16384];

	(void)arg;
	if (FCGX_InitRequest(&r, 0, 0) != 0)
		return NULL;
	for (;;) {
		if (FCGX_Accept_r(&r) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		/* Drain the body: lighttpd sends it whole before we answer. */
		while (FCGX_GetStr(chunk, sizeof chunk, r.in) > 0)
			;
		FCGX_PutS("Status: 204 No Content\r\n\r\n", r.out);
		FCGX_Finish_r(&r);
	}
	FCGX_Free(&r, 1);
	return NULL;
}

int
main(int argc, char **argv)
{
	pthread_t *threads;
	struct stat sb;
	char *end;
	long n = 8, i;
	int ch;

	while ((ch = getopt(argc, argv, "t:")) != -1) {
		switch (ch) {
		case 't':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || n < 1 || n > 256) {
				fprintf(stderr, "noop-fcgi: bad -t '%s'\n",
				    optarg);
				return 64;
			}
			break;
		default:
			fprintf(stderr, "usage: noop-fcgi [-t threads]\n");
			return 64;
		}
	}
	if (fstat(0, &sb) == -1 || !S_ISSOCK(sb.st_mode)) {
		fprintf(stderr, "noop-fcgi: standard input is not a socket "
		    "(run under spawn-fcgi)\n");
		return 64;
	}
	if (FCGX_Init() != 0)
		return 70;
	/* libfcgi catches SIGTERM to finish the current request, but a thread
	 * blocked in accept() never sees it; nothing here needs finishing. */
	signal(SIGTERM, SIG_DFL);
	threads = calloc((size_t)n, sizeof *threads);
	if (threads == NULL)
		return 71;
	for (i = 0; i < n; i++)
		if (pthread_create(&threads[i], NULL, noop_worker, NULL) != 0) {
			fprintf(stderr, "noop-fcgi: cannot start threads\n");
			return 71;
		}
	for (i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	return 0;
}
