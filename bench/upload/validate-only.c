/*
 * validate-only: time the uploader's validation pass alone.
 *
 *   validate-only [-r] STREAM_DIR
 *
 * Runs spool_validate() -- the very function hookspool-upload calls on
 * each batch before it claims it -- over every batch in STREAM_DIR/new/,
 * oldest first, and prints "files lines bad seconds" (wall time, one
 * line).  With -r, only reads the batches the way spool_validate does
 * (getline, each good line appended to a buffer) without parsing any
 * JSON: the I/O and copying floor of the pass.  The batches are left as
 * they are when every line is good (spool_validate then changes
 * nothing).  Links against the build tree's libhs.a.  Exit 0, or 1 when
 * the folder cannot be listed or a batch cannot be read.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "spool.h"

static double
vo_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The read side of spool_validate without the JSON parse. */
static int
vo_read(const char *dir, const char *name, unsigned long *lines)
{
	char *path, *line = NULL;
	size_t cap = 0;
	ssize_t n;
	struct buf okb;
	FILE *fp;
	int rc = 0;

	path = spool_path(dir, SPOOL_NEW, name);
	buf_init(&okb, 0);
	if ((fp = fopen(path, "r")) == NULL) {
		free(path);
		return -1;
	}
	while ((n = getline(&line, &cap, fp)) > 0) {
		(*lines)++;
		if (line[n - 1] == '\n' && buf_add(&okb, line, (size_t)n) == -1)
			rc = -1;
	}
	if (ferror(fp))
		rc = -1;
	fclose(fp);
	free(line);
	free(path);
	buf_release(&okb);
	return rc;
}

int
main(int argc, char **argv)
{
	struct spool_entry *v;
	unsigned long lines = 0, bad = 0, g, b;
	size_t n, i;
	double t0;
	int ch, readonly = 0, rc = 0;

	while ((ch = getopt(argc, argv, "r")) != -1) {
		if (ch != 'r') {
			fprintf(stderr, "usage: validate-only [-r] DIR\n");
			return 2;
		}
		readonly = 1;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: validate-only [-r] DIR\n");
		return 2;
	}
	log_init("validate-only", 1);
	if (spool_list(argv[optind], SPOOL_NEW, &v, &n) == -1)
		return 1;
	t0 = vo_now();
	for (i = 0; i < n; i++) {
		if (readonly) {
			if (vo_read(argv[optind], v[i].name, &lines) == -1)
				rc = 1;
			continue;
		}
		if (spool_validate(argv[optind], SPOOL_NEW, v[i].name, &g,
		    &b) != 0)
			rc = 1;
		lines += g;
		bad += b;
	}
	printf("%zu %lu %lu %.3f\n", n, lines, bad, vo_now() - t0);
	spool_entries_free(v, n);
	return rc;
}
