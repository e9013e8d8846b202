#!/usr/bin/env python3
"""chaos.py: the driver of the chaos and soak runs (tests/t-chaos.sh,
tests/t-chaos-diskfull.sh, tests/chaos/chaos.sh, bench/soak.sh).  Python 3
standard library only.  It talks only to loopback URLs and signals only
processes it started or the children of the lighttpd whose pid it is given.

The promise under test: every hit answered 2xx reaches BigQuery exactly
once.  Rows may hold a hit that was never answered 2xx (its responder was
killed after the line was written, before the answer): rows >= acked.

  chaos.py storm --url URL --out DIR --tag TAG [--hits N | --seconds S]
        [--rate R] [--clients K] [--concurrency C] [--body-bytes B]
        [--lighttpd-pid PID --fcgi BIN --kill-every A-B]
        [--upload BIN --conf CONF --upload-every A-B --upload-kill P
         --upload-kill-after A-B --upload-force P]
        [--ctl BIN --repair-every A-B] [--fake API --fault-every A-B
         --fault-on P | --fault-fixed JSON] [--seed N]
    Load from K clients (tests/tools/load.py processes, as fast as they
    can; or with --rate, `chaos.py pace` processes sharing R hits/s;
    client k sends the bodies "i=<n>&c=TAG-k&status=new&pad=...") while,
    until the load ends: a random responder (a hookspool-fcgi child of
    lighttpd) gets SIGKILL every A-B s (lighttpd respawns it; with chance
    --gentle, 0.2, SIGTERM or SIGUSR1 instead); hookspool-upload runs back
    to back (-f with chance --upload-force), a run is SIGKILLed after a
    random A-B s with chance --upload-kill (and at the end of the load),
    else it must end within --hang s; the fake BigQuery's faults are
    switched every A-B s (on with chance --fault-on, 1-2 transient faults
    from FAULT_MENU; or held at --fault-fixed); and `hookspoolctl repair`
    runs every A-B s.  Writes DIR/TAG-k.jsonl (the answers), DIR/TAG-k.body,
    DIR/TAG-storm.json (counts), DIR/TAG-events.log (each kill and fault
    switch, timed), the uploader's output to DIR/upload.log.
  chaos.py settle --upload BIN --conf CONF --ctl BIN --spool STREAMDIR
        [--fake API] [--max-runs N] [--log FILE]
    After the collector is stopped: faults off, wait past the orphan grace
    (10 s after the youngest tmp/ batch's ctime), `hookspoolctl repair`,
    then `hookspool-upload -f` until it exits 0 with tmp/, new/ and active/
    empty.  Exit 0 when settled.
  chaos.py verify --out DIR --fake API --table P.D.T --spool STREAMDIR
        [--json FILE]
    Compare the hit_ids answered 2xx (every DIR/*.jsonl) with the fake's
    rows; print "sent= 2xx= 5xx= 4xx= transport= loaded= lost= duplicated=
    unacked_loaded= bad_payload= payload_dup= foreign= corrupt_lines=";
    exit 1 when a 2xx'd hit is missing, a hit_id or a request's payload is
    loaded twice, a row's payload differs from what was sent, a row comes
    from nowhere (rows with a payload "probe=..." are a test's own probes
    and not checked), or batches are left in tmp/ new/ active/ failed/.
  chaos.py pace --url URL --rate R --seconds S --out FILE [--hits N]
        [--tag T | --body TEXT] [--concurrency C] [--body-bytes B]
    Steady load at R hits/s (open loop: slots at t0 + i/R; N hits, else
    R x S), answers as load.py writes them plus each one's latency from
    its slot; the body goes to FILE's name with .body.
  chaos.py sample --lighttpd-pid PID --fcgi BIN --every S --out FILE
        [--seconds S]
    Every S s, one JSON line per responder: pid, VmRSS (kB), open fds,
    threads.  Until --seconds or SIGTERM.
  chaos.py cron --upload BIN --conf CONF --spool STREAMDIR --every S
        --seconds S --out FILE [--fake API --table T]
    hookspool-upload every S s like cron; one JSON line a run: exit code,
    duration, backlog (new/ + active/ batches, and those older than the
    run's start) after it.
  chaos.py soak-report --samples FILE --cron FILE --pace FILE...
    Flat or not: per responder, VmRSS and fds in the first vs the last
    third; each minute's backlog drained.  Prints Markdown; exit 1 when
    something is not flat or a backlog was left.
"""

import argparse
import collections
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
LOAD_PY = os.path.join(HERE, "..", "tools", "load.py")
ORPHAN_GRACE = 10       # src/spool_check.c SPOOL_ORPHAN_GRACE

# Transient faults only: the uploader must retry them all and lose
# nothing.  Permanent ones (invalid, notFound, accessDenied) would move
# batches to failed/, which is right but is not this test.
FAULT_MENU = [
    {"kind": "status", "code": 503, "probability": 0.3},
    {"kind": "status", "code": 500, "match": "^POST /upload/",
     "probability": 0.5},
    {"kind": "status", "code": 429, "probability": 0.2, "retry_after": 1},
    {"kind": "status", "code": 502, "html": True, "probability": 0.3},
    {"kind": "status", "code": 503,
     "match": "^GET /bigquery/v2/projects/[^/]+/jobs/", "probability": 0.5},
    {"kind": "status", "code": 503, "match": "^POST /token",
     "probability": 0.5},
    {"kind": "reset", "when": "before", "probability": 0.3},
    {"kind": "reset", "when": "after", "probability": 0.3},
    {"kind": "lost_answer", "probability": 0.3},
    {"kind": "lost_answer", "match": "^(POST|PUT) /upload/",
     "probability": 0.7},
    {"kind": "slow", "seconds": 1.5, "probability": 0.3},
    {"kind": "job_error", "reason": "backendError", "probability": 0.5},
    {"kind": "job_error", "reason": "internalError", "probability": 0.3},
    {"kind": "job_error", "reason": "rateLimitExceeded", "probability": 0.3},
    {"kind": "job_error", "reason": "quotaExceeded", "probability": 0.1},
    {"kind": "expire_tokens", "probability": 0.05},
    {"kind": "session_gone", "probability": 0.3},
    {"kind": "session_gone", "code": 410, "probability": 0.3},
    {"kind": "partial308", "probability": 0.5},
]


def say(*a):
    print("#", *a, flush=True)


def span(s):
    """'A-B' (seconds) -> (A, B); 'A' -> (A, A)."""
    a, _, b = s.partition("-")
    lo = float(a)
    return lo, float(b) if b else lo


def fake_faults(api, faults):
    req = urllib.request.Request(
        api + "/_fake/faults", method="POST",
        data=json.dumps({"faults": faults}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def fake_fired(api):
    with urllib.request.urlopen(api + "/_fake/faults", timeout=10) as r:
        return sum(f.get("fired", 0) for f in json.load(r)["faults"])


def proc_stat(pid):
    """(state, ppid) of pid, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    return rest[0], int(rest[1])


def responders(lighttpd_pid, fcgi):
    """Live hookspool-fcgi children of lighttpd."""
    want = os.path.realpath(fcgi)
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        pid = int(d)
        st = proc_stat(pid)
        if st is None or st[1] != lighttpd_pid or st[0] == "Z":
            continue
        try:
            if os.path.realpath("/proc/%d/exe" % pid) != want:
                continue
        except OSError:
            continue
        out.append(pid)
    return sorted(out)


def count_batches(d):
    try:
        return sum(1 for n in os.listdir(d) if not n.startswith("."))
    except FileNotFoundError:
        return 0


# ---- storm -------------------------------------------------------------

class Storm:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.c = collections.Counter()
        self.upload_rc = collections.Counter()
        self.events = []
        self.t0 = time.time()

    def note(self, what):
        with self.lock:
            self.events.append("%7.2f %s" % (time.time() - self.t0, what))

    def sleep(self, rng_span):
        lo, hi = rng_span
        with self.lock:
            d = self.rng.uniform(lo, hi)
        return self.stop.wait(d)

    def killer(self):
        every = span(self.a.kill_every)
        while not self.sleep(every):
            pids = responders(self.a.lighttpd_pid, self.a.fcgi)
            if not pids:
                self.c["responder_none"] += 1
                continue
            with self.lock:
                pid = self.rng.choice(pids)
                r = self.rng.random()
            # Mostly SIGKILL; some SIGTERM (finish, seal, exit: lighttpd
            # respawns it) and SIGUSR1 (seal now) for more renames under
            # the uploader's feet.
            sig, what = (signal.SIGKILL, "responder_kills") \
                if r >= self.a.gentle else \
                (signal.SIGTERM, "responder_terms") if r < self.a.gentle / 2 \
                else (signal.SIGUSR1, "responder_seals")
            try:
                os.kill(pid, sig)
                self.c[what] += 1
                self.note("%s responder %d" % (sig.name, pid))
            except ProcessLookupError:
                pass

    def one_upload(self, log, force, kill_at):
        cmd = [self.a.upload, "-c", self.a.conf] + (["-f"] if force else [])
        t = time.time()
        log.write("=== %.2f run%s%s\n" % (
            t - self.t0, " -f" if force else "",
            " (SIGKILL at %.2f s)" % kill_at if kill_at is not None else ""))
        log.flush()
        p = subprocess.Popen(cmd, stdout=log, stderr=log)
        self.c["upload_runs"] += 1
        limit = t + (kill_at if kill_at is not None else self.a.hang)
        rc = None
        while rc is None:
            # The end of the storm kills a run too: a kill like any other.
            left = limit - time.time()
            if self.stop.is_set():
                left = 0
            try:
                rc = p.wait(timeout=max(0, min(left, 0.2)))
            except subprocess.TimeoutExpired:
                if left > 0.2:
                    continue
                p.kill()
                p.wait()
                if kill_at is not None or self.stop.is_set():
                    self.c["upload_kills"] += 1
                    self.note("SIGKILL uploader after %.2f s" % (
                        time.time() - t))
                    log.write("=== SIGKILL after %.2f s\n" % (
                        time.time() - t))
                    return
                self.c["upload_hangs"] += 1
                self.note("uploader HUNG over %.0f s, killed" % self.a.hang)
                log.write("=== HUNG, killed after %.0f s\n" % self.a.hang)
                return
        self.upload_rc[rc] += 1
        if rc not in (0, 75):
            self.note("uploader exited %d" % rc)
        log.write("=== exit %d after %.2f s\n" % (rc, time.time() - t))

    def uploader(self):
        every = span(self.a.upload_every)
        after = span(self.a.upload_kill_after)
        with open(os.path.join(self.a.out, "upload.log"), "a") as log:
            while not self.sleep(every):
                with self.lock:
                    force = self.rng.random() < self.a.upload_force
                    kill_at = self.rng.uniform(*after) \
                        if self.rng.random() < self.a.upload_kill else None
                    overlap = self.rng.random() < 0.05
                if overlap:
                    # A second run at once: it must see the lock and
                    # leave quietly, whatever the first one is doing.
                    t = threading.Thread(target=self.one_upload,
                                         args=(log, force, None))
                    t.start()
                    self.one_upload(log, force, kill_at)
                    t.join()
                    self.c["upload_overlaps"] += 1
                else:
                    self.one_upload(log, force, kill_at)

    def repairer(self):
        every = span(self.a.repair_every)
        with open(os.path.join(self.a.out, "repair.log"), "a") as log:
            while not self.sleep(every):
                rc = subprocess.call([self.a.ctl, "-c", self.a.conf,
                                      "repair"], stdout=log, stderr=log)
                self.c["repairs"] += 1
                if rc != 0:
                    self.c["repair_nonzero"] += 1

    def faulter(self):
        every = span(self.a.fault_every)
        held = 0
        while not self.sleep(every):
            # A fault set stays until it has fired: a slow build (ASan)
            # may finish few uploads, and a fault no request met tested
            # nothing.  A rare one (expire_tokens fires on 5% of the
            # requests) may not fire while most runs are killed early:
            # after a few holds another set takes its place.
            reroll = False
            try:
                if held and fake_fired(self.a.fake) == 0:
                    if held <= 3:
                        self.c["fault_holds"] += 1
                        held += 1
                        continue
                    self.c["fault_rerolls"] += 1
                    reroll = True
            except OSError as e:
                self.note("cannot read faults: %s" % e)
                continue
            with self.lock:
                on = reroll or self.rng.random() < self.a.fault_on
                pick = self.rng.sample(FAULT_MENU, self.rng.choice((1, 2))) \
                    if on else []
            try:
                fake_faults(self.a.fake, pick)
            except OSError as e:
                self.note("cannot set faults: %s" % e)
                continue
            self.c["fault_switches"] += 1
            held = 1 if pick else 0
            if pick:
                self.c["fault_sets"] += 1
            self.note("faults %s" % (", ".join(
                "%s%s" % (f["kind"], "/%s" % (f.get("code") or
                                                f.get("reason") or
                                                f.get("when") or ""))
                for f in pick) or "off"))

    def run(self):
        a = self.a
        os.makedirs(a.out, exist_ok=True)
        if a.fake and a.fault_fixed:
            fake_faults(a.fake, json.loads(a.fault_fixed))
            self.note("faults held at %s" % a.fault_fixed)
        elif a.fake and a.fault_every:
            # The fake refuses a malformed fault: find out now, not later.
            for f in FAULT_MENU:
                fake_faults(a.fake, [f])
            fake_faults(a.fake, [])
        threads = []
        if a.lighttpd_pid and a.kill_every:
            threads.append(threading.Thread(target=self.killer))
        if a.upload and a.upload_every:
            threads.append(threading.Thread(target=self.uploader))
        if a.ctl and a.repair_every:
            threads.append(threading.Thread(target=self.repairer))
        if a.fake and a.fault_every and not a.fault_fixed:
            threads.append(threading.Thread(target=self.faulter))
        pad = "x" * max(0, a.body_bytes)
        clients = []
        for k in range(a.clients):
            name = "%s-%d" % (a.tag, k)
            body = "c=%s&status=new&pad=%s" % (name, pad)
            with open(os.path.join(a.out, name + ".body"), "w") as f:
                f.write(body)
            cmd = [sys.executable, LOAD_PY, "--url", a.url,
                   "--concurrency", str(a.concurrency), "--body", body,
                   "--out", os.path.join(a.out, name + ".jsonl")]
            if a.rate:
                # Open loop at a fixed rate: the uploader has to keep up
                # with a load, not with whatever the CPUs can post.
                n = a.hits // a.clients + (1 if k < a.hits % a.clients else 0)
                cmd = [sys.executable, os.path.abspath(__file__), "pace",
                       "--url", a.url, "--rate", str(a.rate / a.clients),
                       "--seconds", str(a.seconds or n / (a.rate / a.clients)),
                       "--concurrency", str(a.concurrency), "--body", body,
                       "--out", os.path.join(a.out, name + ".jsonl")]
                if not a.seconds:
                    cmd += ["--hits", str(n)]
            elif a.seconds:
                cmd += ["--seconds", str(a.seconds)]
            else:
                n = a.hits // a.clients + (1 if k < a.hits % a.clients else 0)
                cmd += ["--n", str(n)]
            clients.append(subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                            text=True))
        for t in threads:
            t.start()
        summaries = [p.communicate()[0].strip() for p in clients]
        self.stop.set()
        for t in threads:
            t.join()
        if a.fake and (a.fault_every or a.fault_fixed) and not a.keep_faults:
            fake_faults(a.fake, [])
        tot = collections.Counter()
        for s in summaries:
            for kv in s.split():
                k, _, v = kv.partition("=")
                if v.isdigit():
                    tot[k] += int(v)
        res = {"tag": a.tag, "seconds": round(time.time() - self.t0, 1),
               "load": dict(tot), "chaos": dict(self.c),
               "upload_exit": {str(k): v for k, v in
                               sorted(self.upload_rc.items())},
               "seed": a.seed}
        with open(os.path.join(a.out, a.tag + "-storm.json"), "w") as f:
            json.dump(res, f)
        with open(os.path.join(a.out, a.tag + "-events.log"), "w") as f:
            f.write("\n".join(self.events) + "\n")
        say("storm %s: %.0f s; load %s" % (a.tag, res["seconds"], " ".join(
            "%s=%d" % kv for kv in sorted(tot.items()))))
        say("storm %s: %s; uploader exits %s" % (a.tag, " ".join(
            "%s=%d" % kv for kv in sorted(self.c.items())),
            res["upload_exit"]))
        return 0


def cmd_storm(a):
    if a.seed is None:
        a.seed = random.randrange(1 << 30)
    say("storm %s: seed %d" % (a.tag, a.seed))
    return Storm(a).run()


# ---- settle --------------------------------------------------------------

def youngest_ctime(d):
    t = 0
    try:
        for n in os.listdir(d):
            if not n.startswith("."):
                try:
                    t = max(t, os.stat(os.path.join(d, n)).st_ctime)
                except FileNotFoundError:
                    pass
    except FileNotFoundError:
        pass
    return t


def left_over(spool):
    return {s: count_batches(os.path.join(spool, s))
            for s in ("tmp", "new", "active")}


def cmd_settle(a):
    if a.fake:
        fake_faults(a.fake, [])
    tmp = os.path.join(a.spool, "tmp")
    wait = youngest_ctime(tmp) + ORPHAN_GRACE + 1 - time.time()
    if wait > 0:
        say("settle: %.1f s until the youngest tmp/ batch is past the "
            "orphan grace" % wait)
        time.sleep(wait)
    p = subprocess.run([a.ctl, "-c", a.conf, "repair"], capture_output=True,
                       text=True)
    say("settle: hookspoolctl repair: exit %d: %s" % (
        p.returncode, (p.stdout.strip().splitlines() or [""])[-1]))
    rcs = []
    with open(a.log, "a") if a.log else open(os.devnull, "w") as log:
        for i in range(a.max_runs):
            log.write("=== settle run %d\n" % (i + 1))
            log.flush()
            try:
                rc = subprocess.call([a.upload, "-f", "-c", a.conf],
                                     stdout=log, stderr=log, timeout=a.hang)
            except subprocess.TimeoutExpired:
                rc = "hung"
            rcs.append(rc)
            left = left_over(a.spool)
            if rc == 0 and not any(left.values()):
                say("settle: uploader exits %s; tmp/ new/ active/ empty" %
                    rcs)
                return 0
            if rc in (65, 78):
                break
            time.sleep(0.5)
    say("settle: NOT settled after uploader exits %s; left %s" % (
        rcs, left_over(a.spool)))
    return 1


# ---- verify --------------------------------------------------------------

def cmd_verify(a):
    acked = {}              # hit_id -> (client, n)
    status_of = {}          # (client, n) -> status
    body_of = {}
    tot = collections.Counter()
    for name in sorted(os.listdir(a.out)):
        if not name.endswith(".jsonl"):
            continue
        client = name[:-len(".jsonl")]
        with open(os.path.join(a.out, client + ".body")) as f:
            body_of[client] = f.read()
        with open(os.path.join(a.out, name)) as f:
            for line in f:
                r = json.loads(line)
                st = r["status"]
                tot["sent"] += 1
                status_of[(client, r["n"])] = st
                if 200 <= st < 300:
                    tot["2xx"] += 1
                    if not r.get("hit_id"):
                        tot["2xx_without_id"] += 1
                    elif r["hit_id"] in acked:
                        tot["id_answered_twice"] += 1
                    else:
                        acked[r["hit_id"]] = (client, r["n"])
                elif st >= 500:
                    tot["5xx"] += 1
                elif st >= 400:
                    tot["4xx"] += 1
                elif st == 0:
                    tot["transport"] += 1
                else:
                    tot["other"] += 1
    url = "%s/_fake/rows?table=%s" % (a.fake, a.table)
    with urllib.request.urlopen(url, timeout=120) as r:
        rows = [json.loads(l) for l in r.read().decode().splitlines()
                if l.strip()]
    ids = collections.Counter(r["hit_id"] for r in rows)
    tot["loaded"] = len(rows)
    tot["lost"] = sum(1 for h in acked if h not in ids)
    tot["duplicated"] = sum(1 for v in ids.values() if v > 1)
    payloads = collections.defaultdict(set)
    examples = collections.defaultdict(list)
    for r in rows:
        p = r.get("payload") or ""
        payloads[p].add(r["hit_id"])
        h = r["hit_id"]
        if p.startswith("probe=") and h not in acked:
            # A test's own probe (curl), not part of the load.
            tot["probes_loaded"] += 1
            continue
        if h in acked:
            client, n = acked[h]
            if p != "i=%d&%s" % (n, body_of[client]):
                tot["bad_payload"] += 1
                examples["bad_payload"].append(h)
            continue
        tot["unacked_loaded"] += 1
        # A row nobody got a 2xx for: it must be a request whose answer
        # was lost (5xx or no answer), not one answered under another id.
        i, _, rest = p.partition("&")
        client = rest.partition("&")[0][2:]
        try:
            key = (client, int(i[2:]))
        except ValueError:
            key = None
        if key is None or key not in status_of or \
                body_of.get(client) is None or \
                p != "i=%d&%s" % (key[1], body_of[client]):
            tot["foreign"] += 1
            examples["foreign"].append(h)
    # Each request was sent once: one payload under two hit_ids means the
    # server side recorded a request twice.
    for p, hs in payloads.items():
        if len(hs) > 1:
            tot["payload_dup"] += 1
            examples["payload_dup"].extend(sorted(hs))
    for h in acked:
        if h not in ids:
            examples["lost"].append(h)
    for h, v in ids.items():
        if v > 1:
            examples["duplicated"].append(h)
    for s in ("tmp", "new", "active", "failed", "hold"):
        tot["left_" + s] = count_batches(os.path.join(a.spool, s))
    corrupt = 0
    cdir = os.path.join(a.spool, "corrupt")
    for n in os.listdir(cdir) if os.path.isdir(cdir) else []:
        if not n.startswith(".") and not n.endswith(".err"):
            with open(os.path.join(cdir, n), "rb") as f:
                corrupt += sum(1 for _ in f)
    tot["corrupt_lines"] = corrupt
    keys = ["sent", "2xx", "5xx", "4xx", "transport", "loaded", "lost",
            "duplicated", "unacked_loaded", "bad_payload", "payload_dup",
            "foreign", "corrupt_lines"]
    print("sent=%d 2xx=%d 5xx=%d 4xx=%d transport=%d loaded=%d lost=%d "
          "duplicated=%d unacked_loaded=%d bad_payload=%d payload_dup=%d "
          "foreign=%d corrupt_lines=%d" % tuple(tot[k] for k in keys))
    bad = [k for k in ("lost", "duplicated", "bad_payload", "payload_dup",
                       "foreign", "id_answered_twice", "2xx_without_id",
                       "left_tmp", "left_new", "left_active", "left_failed")
           if tot[k]]
    for k in bad:
        say("verify: %s=%d, e.g. %s" % (k, tot[k],
                                         " ".join(examples[k][:5])))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"counts": dict(tot), "problems": bad,
                       "examples": {k: v[:20] for k, v in
                                    examples.items()}}, f, indent=1)
    return 1 if bad else 0


# ---- pace, sample, cron, soak-report ------------------------------------

def cmd_pace(a):
    import http.client
    import urllib.parse
    u = urllib.parse.urlsplit(a.url)
    body = a.body if a.body is not None else \
        "c=%s&status=new&pad=%s" % (a.tag, "x" * a.body_bytes)
    with open(os.path.splitext(a.out)[0] + ".body", "w") as f:
        f.write(body)
    total = a.hits if a.hits else int(round(a.rate * a.seconds))
    t0 = time.time() + 0.2
    lock = threading.Lock()
    nxt = [0]
    res = []

    def worker():
        conn = None
        while True:
            with lock:
                i = nxt[0]
                if i >= total:
                    break
                nxt[0] += 1
            slot = t0 + i / a.rate
            d = slot - time.time()
            if d > 0:
                time.sleep(d)
            n = i + 1
            status, hit_id = 0, None
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(u.hostname, u.port,
                                                      timeout=10)
                conn.request("POST", u.path, body=(
                    "i=%d&%s" % (n, body)).encode(), headers={
                    "Content-Type": "application/x-www-form-urlencoded"})
                r = conn.getresponse()
                data = r.read()
                status = r.status
                if 200 <= status < 300:
                    hit_id = json.loads(data).get("hit_id")
            except (OSError, ValueError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
            # Latency from the slot, not from the send: a stall shows.
            lat = time.time() - slot
            with lock:
                res.append({"n": n, "status": status, "hit_id": hit_id,
                            "ms": round(lat * 1000, 2)})

    ts = [threading.Thread(target=worker) for _ in range(a.concurrency)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    with open(a.out, "w") as f:
        for r in sorted(res, key=lambda r: r["n"]):
            f.write(json.dumps(r) + "\n")
    ok = sum(1 for r in res if 200 <= r["status"] < 300)
    lats = sorted(r["ms"] for r in res)
    q = lambda p: lats[min(len(lats) - 1, int(p * len(lats)))] if lats else 0
    print("sent=%d ok2xx=%d err5xx=%d err4xx=%d transport=%d rate=%.1f/s "
          "p50=%.1fms p99=%.1fms max=%.1fms" % (
              len(res), ok, sum(1 for r in res if r["status"] >= 500),
              sum(1 for r in res if 400 <= r["status"] < 500),
              sum(1 for r in res if r["status"] == 0),
              len(res) / max(0.001, time.time() - t0), q(0.5), q(0.99),
              lats[-1] if lats else 0))
    return 0 if ok == len(res) else 1


def cmd_sample(a):
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    end = time.time() + a.seconds if a.seconds else None
    with open(a.out, "a") as out:
        while not stop.is_set() and (end is None or time.time() < end):
            now = time.time()
            for pid in responders(a.lighttpd_pid, a.fcgi):
                try:
                    rss = thr = None
                    with open("/proc/%d/status" % pid) as f:
                        for line in f:
                            if line.startswith("VmRSS:"):
                                rss = int(line.split()[1])
                            elif line.startswith("Threads:"):
                                thr = int(line.split()[1])
                    fds = os.listdir("/proc/%d/fd" % pid)
                    files = 0
                    for fd in fds:
                        try:
                            if os.readlink("/proc/%d/fd/%s" % (
                                    pid, fd)).startswith("/"):
                                files += 1
                        except OSError:
                            pass
                except OSError:
                    continue
                # Files apart: a leaked batch or spool fd shows there,
                # while sockets come and go with the requests in flight.
                out.write(json.dumps({"t": round(now, 2), "pid": pid,
                                      "rss_kb": rss, "fds": len(fds),
                                      "file_fds": files,
                                      "threads": thr}) + "\n")
            out.flush()
            stop.wait(a.every)
    return 0


def cmd_cron(a):
    t0 = time.time()
    k = 0
    with open(a.out, "a") as out, open(a.log, "a") as log:
        while True:
            # Fixed slots, like cron: a long run does not shift the next.
            k += 1
            nxt = t0 + k * a.every
            if nxt > t0 + a.seconds + 1:
                break
            time.sleep(max(0, nxt - time.time()))
            t = time.time()
            log.write("=== %.0f\n" % t)
            log.flush()
            try:
                rc = subprocess.call([a.upload, "-c", a.conf], stdout=log,
                                     stderr=log, timeout=a.every)
            except subprocess.TimeoutExpired:
                rc = "hung"
            dur = time.time() - t
            new = os.path.join(a.spool, "new")
            stale = 0
            for n in os.listdir(new):
                try:
                    if not n.startswith(".") and \
                            os.stat(os.path.join(new, n)).st_mtime < t:
                        stale += 1
                except FileNotFoundError:
                    pass
            rec = {"t": round(t, 1), "rc": rc, "seconds": round(dur, 2),
                   "new": count_batches(new),
                   "active": count_batches(os.path.join(a.spool, "active")),
                   "stale_new": stale}
            if a.fake:
                try:
                    with urllib.request.urlopen(
                            "%s/_fake/rows?table=%s" % (a.fake, a.table),
                            timeout=60) as r:
                        rec["rows"] = r.read().count(b"\n")
                except OSError:
                    pass
            out.write(json.dumps(rec) + "\n")
            out.flush()
    return 0


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if v else 0


def mmm(v):
    return "%d/%d/%d" % (min(v), median(v), max(v))


def cmd_soak_report(a):
    samples = collections.defaultdict(list)
    with open(a.samples) as f:
        for line in f:
            r = json.loads(line)
            samples[r["pid"]].append(r)
    problems = []
    out = ["| responder pid | samples | VmRSS kB, first third (median) | "
           "last third (median) | max | fds, first third (min/median/max) "
           "| last third | regular-file fds, first third | last third | "
           "threads | flat |",
           "|---:|---:|---:|---:|---:|---|---|---|---|---|---|"]
    for pid, v in sorted(samples.items()):
        n = len(v)
        if n < 6:
            problems.append("pid %d: only %d samples (restarted?)" % (pid, n))
            continue
        first, last = v[:n // 3], v[n - n // 3:]
        r1, r3 = median(x["rss_kb"] for x in first), \
            median(x["rss_kb"] for x in last)
        fd1 = [x["fds"] for x in first]
        fd3 = [x["fds"] for x in last]
        ff1 = [x.get("file_fds", 0) for x in first]
        ff3 = [x.get("file_fds", 0) for x in last]
        # Flat: the median RSS grew by under 10% + 1 MiB (allocator
        # noise); the floor and the median of the fds, and of the regular
        # files among them, did not rise by more than one.  A leak raises
        # the floor; the max moves with what is in flight (a socket per
        # request, the open batch, a directory opened to fsync it).
        flat = r3 <= r1 * 1.10 + 1024 and \
            min(fd3) <= min(fd1) + 1 and median(fd3) <= median(fd1) + 1 \
            and min(ff3) <= min(ff1) + 1 and median(ff3) <= median(ff1) + 1
        if not flat:
            problems.append("pid %d: RSS %d -> %d kB, fds %s -> %s, "
                            "file fds %s -> %s" % (
                                pid, r1, r3, mmm(fd1), mmm(fd3), mmm(ff1),
                                mmm(ff3)))
        out.append("| %d | %d | %d | %d | %d | %s | %s | %s | %s | %s | "
                   "%s |" % (
                       pid, n, r1, r3, max(x["rss_kb"] for x in v),
                       mmm(fd1), mmm(fd3), mmm(ff1), mmm(ff3),
                       "/".join(sorted({str(x["threads"]) for x in v})),
                       "yes" if flat else "**no**"))
    if not samples:
        problems.append("no samples")
    out.append("")
    out.append("| cron run | exit | seconds | new/ after | active/ after | "
               "new/ older than the run | rows in BigQuery |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|")
    with open(a.cron) as f:
        runs = [json.loads(l) for l in f]
    for i, r in enumerate(runs, 1):
        drained = r["rc"] == 0 and r["active"] == 0 and r["stale_new"] == 0
        if not drained:
            problems.append("cron run %d: exit %s, active %d, stale new %d"
                            % (i, r["rc"], r["active"], r["stale_new"]))
        out.append("| %d | %s | %.1f | %d | %d | %d%s | %s |" % (
            i, r["rc"], r["seconds"], r["new"], r["active"], r["stale_new"],
            "" if drained else " **not drained**", r.get("rows", "-")))
    if not runs:
        problems.append("no cron runs")
    out.append("")
    for p in a.pace:
        with open(p) as f:
            res = [json.loads(l) for l in f]
        ok = sum(1 for r in res if 200 <= r["status"] < 300)
        lats = sorted(r["ms"] for r in res)
        q = lambda x: lats[min(len(lats) - 1, int(x * len(lats)))]
        out.append("- load %s: %d sent, %d answered 2xx; latency from the "
                   "scheduled slot p50 %.1f ms, p99 %.1f ms, max %.1f ms" % (
                       os.path.basename(p), len(res), ok, q(0.5), q(0.99),
                       lats[-1]))
        if ok != len(res):
            problems.append("%s: %d of %d not 2xx" % (p, len(res) - ok,
                                                      len(res)))
    for p in problems:
        out.append("- problem: %s" % p)
    out.append("- verdict: %s" % ("flat, drained every minute" if not problems
                                  else "**%d problems**" % len(problems)))
    print("\n".join(out))
    return 1 if problems else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("storm")
    s.add_argument("--url", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--tag", default="c")
    s.add_argument("--hits", type=int, default=10000)
    s.add_argument("--seconds", type=float, default=0)
    s.add_argument("--rate", type=float, default=0)
    s.add_argument("--clients", type=int, default=3)
    s.add_argument("--concurrency", type=int, default=6)
    s.add_argument("--body-bytes", type=int, default=100)
    s.add_argument("--lighttpd-pid", type=int)
    s.add_argument("--fcgi")
    s.add_argument("--kill-every")
    s.add_argument("--gentle", type=float, default=0.2)
    s.add_argument("--upload")
    s.add_argument("--conf")
    s.add_argument("--upload-every")
    s.add_argument("--upload-kill", type=float, default=0.5)
    s.add_argument("--upload-kill-after", default="0-4")
    s.add_argument("--upload-force", type=float, default=0.8)
    s.add_argument("--hang", type=float, default=180)
    s.add_argument("--ctl")
    s.add_argument("--repair-every")
    s.add_argument("--fake")
    s.add_argument("--fault-every")
    s.add_argument("--fault-on", type=float, default=0.6)
    s.add_argument("--fault-fixed")
    s.add_argument("--keep-faults", action="store_true")
    s.add_argument("--seed", type=int)
    s = sub.add_parser("settle")
    s.add_argument("--upload", required=True)
    s.add_argument("--conf", required=True)
    s.add_argument("--ctl", required=True)
    s.add_argument("--spool", required=True)
    s.add_argument("--fake")
    s.add_argument("--max-runs", type=int, default=15)
    s.add_argument("--hang", type=float, default=300)
    s.add_argument("--log")
    s = sub.add_parser("verify")
    s.add_argument("--out", required=True)
    s.add_argument("--fake", required=True)
    s.add_argument("--table", required=True)
    s.add_argument("--spool", required=True)
    s.add_argument("--json")
    s = sub.add_parser("pace")
    s.add_argument("--url", required=True)
    s.add_argument("--rate", type=float, required=True)
    s.add_argument("--seconds", type=float, required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--tag", default="pace")
    s.add_argument("--body")
    s.add_argument("--hits", type=int, default=0)
    s.add_argument("--concurrency", type=int, default=8)
    s.add_argument("--body-bytes", type=int, default=100)
    s = sub.add_parser("sample")
    s.add_argument("--lighttpd-pid", type=int, required=True)
    s.add_argument("--fcgi", required=True)
    s.add_argument("--every", type=float, default=5)
    s.add_argument("--seconds", type=float, default=0)
    s.add_argument("--out", required=True)
    s = sub.add_parser("cron")
    s.add_argument("--upload", required=True)
    s.add_argument("--conf", required=True)
    s.add_argument("--spool", required=True)
    s.add_argument("--every", type=float, default=60)
    s.add_argument("--seconds", type=float, required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--log", default=os.devnull)
    s.add_argument("--fake")
    s.add_argument("--table")
    s = sub.add_parser("soak-report")
    s.add_argument("--samples", required=True)
    s.add_argument("--cron", required=True)
    s.add_argument("--pace", nargs="*", default=[])
    a = ap.parse_args()
    return {"storm": cmd_storm, "settle": cmd_settle, "verify": cmd_verify,
            "pace": cmd_pace, "sample": cmd_sample, "cron": cmd_cron,
            "soak-report": cmd_soak_report}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
