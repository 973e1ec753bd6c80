#!/usr/bin/python3
"""scale: the real daemon (host/jobhost) on one generated manifest of N cron jobs.

What it measures, for each N (1,000 / 10,000 / 100,000 by default; 1,000,000
too with --million, which run.sh passes when BENCH_MILLION=1), on the daemon
as shipped, started and driven from outside the way an operator does it:

  manifest   N jobs `- id: j000000 / plugin: hello / trigger: {cron: "*/5 * * * *"}`
             (7-character ids), plugin_dir = plugins/, log level warn,
             syslog off, no log file, http on 127.0.0.1 and a free port;
             every other setting the daemon's default. The jobs are in
             drop-in files of at most 50,000 jobs (jobs.d/NN.yaml, named by
             `include:`), as a large installation splits them.
  start      wall time from exec to the first 200 on GET /-/healthy
             (start_healthy_s_N), and to GET /-/ready (start_ready_s_N: the
             jobs are planned and the dispatcher runs)
  memory     VmRSS 0.3 s after /-/ready (rss_bytes_N), minus the VmRSS of the
             same daemon on a manifest with 0 jobs, divided by N:
             bytes_per_job_N. The benchmark never touches the daemon's heap:
             no malloc_trim from outside, one manifest, one process.
  /metrics   two scrapes, each: VmRSS before, the peak reset
             (`echo 5 > /proc/PID/clear_refs`), GET /metrics read to the end
             (scrape_s_N, scrape_bytes_N), VmHWM after = the peak during the
             scrape: scrape_peak_added_bytes_N = VmHWM - VmRSS before;
             scrape_left_bytes_N = VmRSS after - VmRSS before (the second
             scrape: scrape2_*); during the first, GET /-/healthy every 5 ms:
             how many answered and the slowest (scrape_healthy_n_N,
             scrape_healthy_max_ms_N)
  reload     POST /-/reload three times, each with its wall time and the
             `duration_ms` the daemon reports: nothing changed (reload_same),
             the files rewritten with every tenth job on `*/7 * * * *`
             (reload_changed: 10% of the triggers, in every file, so every
             file is parsed again), then every second job removed
             (reload_half); VmRSS after each (rss_after_*_bytes_N)
  stop       SIGTERM to exit (stop_s_N, stop_rc_N)
  check      `jobhost check -c` on the N-job manifest (as first written),
             after the daemon stopped (check_s_N, check_rc_N)
The same steps run first on a manifest of 0 jobs (the _0 figures), and every
cost is also printed per job over that daemon's: (figure at N - figure at
0) / N, as KEY_us_per_job_N (times) and KEY_B_per_job_N (sizes), so that
fixed costs do not hide in them and the rows can be compared: a linear
cost shows the same per-job figure at every N.

`*/5` and `*/7` fire at minute marks; a run of N jobs at once would disturb
the figures, so each N starts when no mark falls inside its expected
duration (up to a few minutes' wait) and the marks it crossed anyway are
counted (cron_marks_crossed_N).

How to run (from the repository root, after `make`):
    /usr/bin/python3 tests/bench/bench_daemon.py [--sizes 1000,10000,100000]
        [--million] [--jobhost host/jobhost] [--plugins plugins] [--table]
Output: name=value lines on stdout (--table adds a table on stderr);
progress on stderr. Standard library only. About 1-2 minutes for the
default sizes on 2 vCPUs, waits for minute marks included.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def log(msg):
    print("bench_daemon: " + msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid):
    """VmRSS and VmHWM of pid, in bytes."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0]) * 1024
    return out


def reset_hwm(pid):
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")


# --- the manifest ------------------------------------------------------------

def job_ids(n):
    return ["j%06d" % i for i in range(n)]


PER_FILE = 50000


def write_manifest(path, plugin_dir, port, jobs):
    """jobs: [(id, cron)], written to drop-in files beside path (block
    style, as a user writes them). Returns the bytes written."""
    drop = os.path.join(os.path.dirname(path), "jobs.d")
    os.makedirs(drop, exist_ok=True)
    for name in os.listdir(drop):
        os.unlink(os.path.join(drop, name))
    parts = ["host:\n",
             "  plugin_dir: %s\n" % plugin_dir,
             "  http:\n",
             "    listen: 127.0.0.1:%d\n" % port,
             "  log:\n",
             "    level: warn\n",
             "    syslog: {enabled: false}\n",
             "include: [jobs.d/*.yaml]\n",
             "jobs: []\n"]
    total = 0
    for k in range(0, len(jobs), PER_FILE):
        text = ["jobs:\n"]
        for jid, cron in jobs[k:k + PER_FILE]:
            text.append('  - id: %s\n    plugin: hello\n    trigger: {cron: "%s"}\n' % (jid, cron))
        total += write_file(os.path.join(drop, "%03d.yaml" % (k // PER_FILE)), "".join(text))
    return total + write_file(path, "".join(parts))


def write_file(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)  # the daemon reads a whole file, never half of one
    return len(text)


# --- HTTP ----------------------------------------------------------------------

def request(port, method, path, timeout, sink=None):
    """(status, body bytes or byte count when sink is given, seconds)."""
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=b"" if method == "POST" else None)
        resp = conn.getresponse()
        if sink is None:
            body = resp.read()
        else:
            body = 0
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                body += len(chunk)
                sink(chunk)
        return resp.status, body, time.monotonic() - t0
    finally:
        conn.close()


def wait_http(port, path, proc, t0, timeout):
    """Seconds from t0 until path answers 200; None if the daemon exited."""
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        try:
            status, _, _ = request(port, "GET", path, timeout=5)
            if status == 200:
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.001)
    return None


class HealthProber:
    """GET /-/healthy every 5 ms on a thread until stop(): (answers, slowest s)."""

    def __init__(self, port):
        self.port, self.answered, self.worst = port, 0, 0.0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        while not self.done.is_set():
            try:
                status, _, secs = request(self.port, "GET", "/-/healthy", timeout=30)
                if status == 200:
                    self.answered += 1
                    self.worst = max(self.worst, secs)
            except OSError:
                pass
            self.done.wait(0.005)

    def stop(self):
        self.done.set()
        self.thread.join()
        return self.answered, self.worst


class JobsGauge:
    """Finds `jobhost_jobs N` in a streamed exposition."""

    def __init__(self):
        self.tail = b""
        self.value = None

    def __call__(self, chunk):
        data = self.tail + chunk
        if self.value is None:
            i = data.find(b"\njobhost_jobs ")
            if i >= 0:
                end = data.find(b"\n", i + 1)
                if end > 0:
                    self.value = data[i + 14:end].decode()
        self.tail = data[-64:]


# --- cron marks ------------------------------------------------------------------

def marks_in(t_from, t_to, mods):
    """Minute marks (second 0 of a minute m with m % k == 0, k in mods)
    inside [t_from - 1, t_to + 1], wall clock."""
    count = 0
    m = int((t_from - 1) // 60) * 60
    while m <= t_to + 1:
        if m >= t_from - 1 and any((m // 60) % 60 % k == 0 for k in mods):
            count += 1
        m += 60
    return count


def wait_for_window(duration):
    """Sleeps until [now, now + duration] holds no */5 or */7 mark; gives
    up (returns at once) when no such window is in reach."""
    if duration > 230:
        log("a %.0f s run cannot fit between */5 and */7 marks; going on" % duration)
        return
    now = time.time()
    t = now
    while marks_in(t, t + duration, (5, 7)) and t < now + 900:
        t = (int(t // 60) + 1) * 60 + 2  # just past the next mark
    if t > now:
        log("waiting %.0f s to keep the */5 and */7 firings out of a %.0f s run" %
            (t - now, duration))
        time.sleep(t - now)


# --- one daemon --------------------------------------------------------------

class Daemon:
    def __init__(self, jobhost, manifest, workdir):
        self.port = None
        self.jobhost = jobhost
        self.manifest = manifest
        self.err_path = os.path.join(workdir, "jobhost.err")
        self.proc = None

    def start(self, port, timeout):
        self.port = port
        errf = open(self.err_path, "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen([self.jobhost, "-c", self.manifest],
                                     stdin=subprocess.DEVNULL, stdout=errf, stderr=errf)
        errf.close()
        healthy = wait_http(port, "/-/healthy", self.proc, t0, timeout)
        ready = wait_http(port, "/-/ready", self.proc, t0, timeout) if healthy else None
        return healthy, ready

    def stop(self, timeout):
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        return time.monotonic() - t0, rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def errors(self):
        try:
            with open(self.err_path, errors="replace") as f:
                return f.read().strip().splitlines()[-5:]
        except OSError:
            return []


# Every figure printed, kept for --table.
RESULTS = {}


def out(key, value):
    if isinstance(value, float):
        value = "%.6f" % value if abs(value) < 100 else "%.1f" % value
    RESULTS[key] = value
    print("%s=%s" % (key, value), flush=True)


class Base:
    """The figures of the 0-job daemon: per-job figures are taken over them,
    (figure at N - figure at 0) / N, so fixed costs do not hide in them."""

    def __init__(self):
        self.v = {}

    def per_job(self, key, n, value, scale, unit):
        """Prints KEY_per_job_N (unit us or B) when the base is known."""
        if n == 0:
            self.v[key] = value
            return
        if key in self.v:
            out("%s_%s_per_job_%d" % (key, unit, n), (value - self.v[key]) * scale / n)


def one_size(args, workdir, n, base, expect_s):
    path = os.path.join(workdir, "jobhost.yaml")
    ids = job_ids(n)
    port = free_port()
    timeout = 60 + n * 1e-3  # generous: a timeout is a failure, not a figure
    size = write_manifest(path, args.plugins, port, [(j, "*/5 * * * *") for j in ids])
    # each N a new installation: the run store of the previous N would
    # restore its jobs and record their missed firings as skipped
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(os.path.join(workdir, "jobhost.db" + suffix))
        except FileNotFoundError:
            pass
    label_n = "{:,}".format(n)
    out("manifest_bytes_%d" % n, size)
    wait_for_window(expect_s)
    t_begin = time.time()
    d = Daemon(args.jobhost, path, workdir)
    try:
        log("N=%s: start" % label_n)
        healthy, ready = d.start(port, timeout)
        if healthy is None or ready is None:
            why = " | ".join(d.errors()) or "no answer on /-/healthy"
            log("N=%s: the daemon did not start: %s" % (n, why))
            out("start_error_%d" % n, why.replace("\n", " "))
            return None
        out("start_healthy_s_%d" % n, healthy)
        out("start_ready_s_%d" % n, ready)
        base.per_job("start_healthy_s", n, healthy, 1e6, "us")
        time.sleep(0.3)
        pid = d.proc.pid
        rss = proc_status(pid)["VmRSS"]
        out("rss_bytes_%d" % n, rss)
        if n == 0:
            base.v["rss"] = rss
        elif "rss" in base.v:
            out("bytes_per_job_%d" % n, "%.0f" % ((rss - base.v["rss"]) / n))

        log("N=%s: /metrics" % label_n)
        for label in ("scrape", "scrape2"):
            before = proc_status(pid)["VmRSS"]
            reset_hwm(pid)
            gauge = JobsGauge()
            prober = HealthProber(port) if label == "scrape" else None
            status, nbytes, secs = request(port, "GET", "/metrics", timeout, sink=gauge)
            st = proc_status(pid)
            if prober:
                answered, worst = prober.stop()
                out("scrape_healthy_n_%d" % n, answered)
                out("scrape_healthy_max_ms_%d" % n, "%.1f" % (worst * 1e3))
            out("%s_status_%d" % (label, n), status)
            out("%s_s_%d" % (label, n), secs)
            base.per_job(label + "_s", n, secs, 1e6, "us")
            out("%s_bytes_%d" % (label, n), nbytes)
            base.per_job(label + "_bytes", n, nbytes, 1, "B")
            out("%s_rss_before_bytes_%d" % (label, n), before)
            out("%s_peak_added_bytes_%d" % (label, n), st["VmHWM"] - before)
            base.per_job(label + "_peak_added_bytes", n, st["VmHWM"] - before, 1, "B")
            out("%s_left_bytes_%d" % (label, n), st["VmRSS"] - before)
            base.per_job(label + "_left_bytes", n, st["VmRSS"] - before, 1, "B")
            if gauge.value is not None:
                out("%s_jobhost_jobs_%d" % (label, n), gauge.value)

        def reload(label, jobs):
            if jobs is not None:
                write_manifest(path, args.plugins, port, jobs)
            status, body, secs = request(port, "POST", "/-/reload", timeout)
            try:
                doc = json.loads(body)
            except ValueError:
                doc = {}
            out("%s_status_%d" % (label, n), status)
            out("%s_wall_s_%d" % (label, n), secs)
            base.per_job(label + "_wall_s", n, secs, 1e6, "us")
            if "duration_ms" in doc:
                ms = float(doc["duration_ms"])
                out("%s_ms_%d" % (label, n), ms)
                base.per_job(label + "_ms", n, ms, 1e3, "us")
            js = doc.get("jobs", {})
            for k in ("added", "removed", "changed", "unchanged"):
                if k in js:
                    out("%s_jobs_%s_%d" % (label, k, n), len(js[k]))
            out("rss_after_%s_bytes_%d" % (label, n), proc_status(pid)["VmRSS"])

        log("N=%s: reloads" % label_n)
        reload("reload_same", None)
        changed = [(j, "*/7 * * * *" if i % 10 == 0 else "*/5 * * * *") for i, j in enumerate(ids)]
        reload("reload_changed", changed)
        reload("reload_half", changed[::2])

        log("N=%s: stop" % label_n)
        stop_s, rc = d.stop(timeout)
        out("stop_s_%d" % n, stop_s)
        base.per_job("stop_s", n, stop_s, 1e6, "us")
        out("stop_rc_%d" % n, rc)
    finally:
        d.kill()
    t_end = time.time()
    out("cron_marks_crossed_%d" % n, marks_in(t_begin, t_end, (5, 7)))

    log("N=%s: check" % label_n)
    write_manifest(path, args.plugins, port, [(j, "*/5 * * * *") for j in ids])
    t0 = time.monotonic()
    r = subprocess.run([args.jobhost, "check", "-c", path], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=timeout)
    secs = time.monotonic() - t0
    out("check_s_%d" % n, secs)
    base.per_job("check_s", n, secs, 1e6, "us")
    out("check_rc_%d" % n, r.returncode)
    if r.returncode != 0:
        log("N=%s: check: %s" % (n, r.stderr.decode(errors="replace").strip()[-300:]))
    return t_end - t_begin


TABLE = [("N", None), ("start s", "start_healthy_s"), ("us/job", "start_healthy_s_us_per_job"),
         ("B/job", "bytes_per_job"), ("scrape s", "scrape_s"), ("MB", "scrape_bytes"),
         ("peak MB", "scrape_peak_added_bytes"), ("left MB", "scrape_left_bytes"),
         ("healthy ms", "scrape_healthy_max_ms"),
         ("same ms", "reload_same_ms"), ("10% ms", "reload_changed_ms"),
         ("half ms", "reload_half_ms"), ("check s", "check_s"), ("stop s", "stop_s")]


def print_table(results, sizes):
    rows = [[h for h, _ in TABLE]]
    for n in [0] + sizes:
        row = ["{:,}".format(n)]
        for _, key in TABLE[1:]:
            v = results.get("%s_%d" % (key, n))
            if v is None:
                row.append("-")
            elif key.endswith("bytes"):
                row.append("%.1f" % (float(v) / 1e6))
            else:
                row.append("%.4g" % float(v))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.rjust(widths[i]) for i, c in enumerate(r)), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description="the real daemon at N cron jobs")
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--million", action="store_true", help="also N = 1,000,000")
    ap.add_argument("--jobhost", default=os.path.join(ROOT, "host", "jobhost"))
    ap.add_argument("--plugins", default=os.path.join(ROOT, "plugins"))
    ap.add_argument("--table", action="store_true", help="a table on stderr at the end")
    args = ap.parse_args()
    args.jobhost = os.path.abspath(args.jobhost)
    args.plugins = os.path.abspath(args.plugins)
    sizes = [int(x) for x in args.sizes.split(",") if x]
    if args.million and 1000000 not in sizes:
        sizes.append(1000000)
    if not os.access(args.jobhost, os.X_OK):
        sys.exit("bench_daemon: %s is not built (run make)" % args.jobhost)

    print("side=jobhost\nworkload=scale")
    print("daemon=%s (as built by make, run as shipped)" % os.path.relpath(args.jobhost, ROOT))
    print("trigger=cron '*/5 * * * *'; plugin hello; log level warn, syslog off; http 127.0.0.1")
    print("sizes=%s" % ",".join(str(n) for n in sizes))
    workdir = tempfile.mkdtemp(prefix="jobhost-bench-scale-")
    os.chmod(workdir, 0o755)
    expect = 10.0
    prev_n = None
    base = Base()
    try:
        for n in [0] + sizes:
            if prev_n:
                expect = expect * n / prev_n * 1.3 + 5
            took = one_size(args, workdir, n, base, expect)
            if took is None or n == 0:
                continue
            expect, prev_n = took, n
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.table:
        print_table(RESULTS, sizes)


if __name__ == "__main__":
    main()
