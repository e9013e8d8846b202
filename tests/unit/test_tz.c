/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * Unit tests of tz.c: the TZif reader against Python's zoneinfo (every
 * half hour for two days around each change of 2024, 2025, 2037, 2050
 * and 2100 in Berlin, New York and Sydney: the table, the footer rule
 * and the southern hemisphere), the stream date of a hit at a
 * transition, and files it must refuse.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hit.h"
#include "tap.h"
#include "tz.h"

static const char pyscript[] =
    "import sys\n"
    "from datetime import datetime, timezone, timedelta\n"
    "from zoneinfo import ZoneInfo\n"
    "for name in ('Europe/Berlin', 'America/New_York', "
    "'Australia/Sydney'):\n"
    "    z = ZoneInfo(name)\n"
    "    for y in (1960, 2024, 2025, 2037, 2050, 2100):\n"
    "        t = int(datetime(y, 1, 1, tzinfo=timezone.utc).timestamp())\n"
    "        end = t + 366 * 86400\n"
    "        prev = None\n"
    "        while t < end:\n"
    "            off = int(datetime.fromtimestamp(t, z).utcoffset()"
    ".total_seconds())\n"
    "            if prev is not None and off != prev:\n"
    "                for u in range(t - 2 * 86400, t + 2 * 86400, 1800):\n"
    "                    d = datetime.fromtimestamp(u, z)\n"
    "                    print(name, u, int(d.utcoffset().total_seconds()),"
    " d.strftime('%Y-%m-%d'))\n"
    "            prev = off\n"
    "            t += 3600\n";

int
main(void)
{
	struct tz *z = NULL, *berlin, *ny;
	FILE *py;
	char line[256], name[64], want[16], date[11], cur[64] = "";
	long long t;
	long off;
	unsigned long n = 0, bad = 0;
	unsigned char junk[64];

	ok(tz_valid_name("Europe/Berlin"), "Europe/Berlin is a name");
	ok(tz_valid_name("America/Argentina/Buenos_Aires"), "three parts");
	ok(tz_valid_name("Etc/GMT+3"), "Etc/GMT+3");
	ok(!tz_valid_name("../etc/passwd"), "no ..");
	ok(!tz_valid_name("/etc/localtime"), "no absolute path");
	ok(!tz_valid_name("Europe//Berlin"), "no empty part");
	ok(!tz_valid_name("Europe/.."), "no dot part");
	ok(!tz_valid_name(""), "not empty");
	ok(tz_load("No/Such_Zone") == NULL, "a missing zone is an error");

	memset(junk, 0, sizeof junk);
	ok(tz_parse(junk, sizeof junk) == NULL, "zeros are not TZif");
	memcpy(junk, "TZif2", 5);
	ok(tz_parse(junk, sizeof junk) == NULL, "no types: refused");
	junk[39] = 1;		/* one type, but no bytes for it */
	ok(tz_parse(junk, 44) == NULL, "truncated: refused");

	berlin = tz_load("Europe/Berlin");
	ny = tz_load("America/New_York");
	ok(berlin != NULL && ny != NULL, "zones load");
	if (berlin == NULL || ny == NULL)
		return tap_done();
	/* 2024-03-31 00:30 CET = 03-30 23:30 UTC: Berlin's date is the 31st. */
	hit_date_tz(1711841400000LL, berlin, 0, date);
	is_str(date, "2024-03-31", "Berlin, 00:30 on the change day");
	/* 2024-10-27 00:30 CEST = 10-26 22:30 UTC. */
	hit_date_tz(1729981800000LL, berlin, 0, date);
	is_str(date, "2024-10-27", "Berlin, 00:30 on the day back");
	/* 2024-11-03 01:30 EDT (05:30 UTC) and 01:30 EST (06:30 UTC). */
	hit_date_tz(1730611800000LL, ny, 0, date);
	is_str(date, "2024-11-03", "New York, first 01:30");
	is_int(tz_offset(ny, 1730611800), -4 * 3600, "  at EDT");
	is_int(tz_offset(ny, 1730615400), -5 * 3600, "  then EST");
	/* 2024-03-09 23:30 EST = 03-10 04:30 UTC: still the 9th there. */
	hit_date_tz(1710045000000LL, ny, 0, date);
	is_str(date, "2024-03-09", "New York, 23:30 before the change");
	hit_date_tz(1710045000000LL, NULL, 180, date);
	is_str(date, "2024-03-10", "a fixed offset is kept");

	/* The script through the environment: no shell quoting of it. */
	if (setenv("HS_TZ_PY", pyscript, 1) == -1 ||
	    (py = popen("python3 -c \"$HS_TZ_PY\"", "r")) == NULL) {
		ok(0, "python3 runs");
		return tap_done();
	}
	while (fgets(line, sizeof line, py) != NULL) {
		if (sscanf(line, "%63s %lld %ld %15s", name, &t, &off,
		    want) != 4)
			continue;
		if (strcmp(name, cur) != 0) {
			tz_free(z);
			z = tz_load(name);
			snprintf(cur, sizeof cur, "%s", name);
			if (z == NULL)
				break;
		}
		n++;
		hit_date_tz((int64_t)t * 1000 + 999, z, 0, date);
		if (tz_offset(z, t) != off || strcmp(date, want) != 0) {
			if (bad++ < 10)
				printf("# %s %lld: offset %ld date %s, "
				    "want %ld %s\n", name, t,
				    (long)tz_offset(z, t), date, off, want);
		}
	}
	ok(pclose(py) == 0, "python3 zoneinfo ran");
	ok(n > 3 * 5 * 2 * 190, "python3 gave %lu instants", n);
	is_int(bad, 0, "offsets and dates agree with zoneinfo at %lu instants",
	    n);
	tz_free(z);
	tz_free(berlin);
	tz_free(ny);
	return tap_done();
}
