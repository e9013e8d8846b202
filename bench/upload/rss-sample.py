#!/usr/bin/env python3
"""rss-sample.py: run a command and sample its resident set size over time.

    rss-sample.py [--interval SECS] [--samples FILE] [--comm NAME]
                  -- CMD [ARGS...]

Starts CMD, reads VmRSS from /proc of the deepest descendant (so CMD may
be a wrapper such as /usr/bin/time -v PROG: the samples are PROG's) every
SECS (default 0.02) until CMD ends, and prints one line of JSON.  Only a
process whose name is NAME (default: CMD's basename) is sampled, so
neither this script's forked copy before the exec nor a wrapper shows up.
The JSON:
{"rc", "wall", "user", "sys" (CPU seconds of CMD and its children, from
wait4), "maxrss_kb" (the kernel's peak RSS of the process tree's largest
member, as /usr/bin/time reports it), "samples", "rss_kb": {"min",
"p50", "max", "last"} over the samples, "timeline_kb" (RSS at 0%, 10%,
..., 100% of the run, the nearest sample)}.  With --samples, writes
"seconds rss_kb" lines to FILE.  Exit: CMD's exit code (1 when it cannot
start).  stdout/stderr of CMD pass through.
"""
import json
import os
import resource
import sys
import time


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as fp:
            for line in fp:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as fp:
            return fp.read().strip()
    except OSError:
        return None


def deepest(pid):
    """The last child of the last child... of pid (a wrapper's payload)."""
    while True:
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as fp:
                kids = fp.read().split()
        except OSError:
            return pid
        if not kids:
            return pid
        pid = int(kids[-1])


def main():
    args = sys.argv[1:]
    interval = 0.02
    out = None
    name = None
    while args and args[0] != "--":
        if args[0] == "--interval":
            interval = float(args[1])
            args = args[2:]
        elif args[0] == "--comm":
            name = args[1]
            args = args[2:]
        elif args[0] == "--samples":
            out = args[1]
            args = args[2:]
        else:
            print("usage: rss-sample.py [--interval S] [--samples F] "
                  "[--comm NAME] -- CMD", file=sys.stderr)
            return 2
    args = args[1:]
    if not args:
        print("rss-sample.py: no command", file=sys.stderr)
        return 2
    # The kernel keeps 15 bytes of a process name.
    name = (name or os.path.basename(args[0]))[:15]
    t0 = time.monotonic()
    try:
        pid = os.fork()
    except OSError as e:
        print("rss-sample.py: %s" % e, file=sys.stderr)
        return 1
    if pid == 0:
        try:
            os.execvp(args[0], args)
        finally:
            os._exit(127)
    samples = []
    while True:
        wpid, status, ru = os.wait4(pid, os.WNOHANG)
        if wpid == pid:
            break
        d = deepest(pid)
        r = rss_kb(d) if comm(d) == name else None
        if r is not None:
            samples.append((time.monotonic() - t0, r))
        time.sleep(interval)
    wall = time.monotonic() - t0
    rc = os.waitstatus_to_exitcode(status)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    vals = sorted(r for _, r in samples)
    res = {"rc": rc, "wall": round(wall, 3),
           "user": round(kids.ru_utime, 3), "sys": round(kids.ru_stime, 3),
           "maxrss_kb": kids.ru_maxrss, "samples": len(samples)}
    if vals:
        res["rss_kb"] = {"min": vals[0], "p50": vals[len(vals) // 2],
                         "max": vals[-1], "last": samples[-1][1]}
        tl = []
        for k in range(11):
            t = wall * k / 10
            tl.append(min(samples, key=lambda s: abs(s[0] - t))[1])
        res["timeline_kb"] = tl
    if out:
        with open(out, "w") as fp:
            for t, r in samples:
                fp.write("%.3f %d\n" % (t, r))
    print(json.dumps(res), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
