#!/usr/bin/python3
"""The jobs API on a big run store: the real daemon (host/jobhost) started
on a store file made by `bench_store history N JOBS PATH`, then
GET /api/v1/jobs/j0/runs?limit=50 (the newest page, and one deep in the
job's history through before=) timed over loopback, REPS times each.
Prints name=value lines (tests/bench/run.sh's "history" workload).

    /usr/bin/python3 tests/bench/bench_store_api.py --store PATH [--reps N]
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as r:
        body = r.read()
    return time.perf_counter() - t0, json.loads(body)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100.0 * (len(v) - 1) + 0.5))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", required=True)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=10)
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="jobhost-bench-api-")
    port = free_port()
    manifest = os.path.join(d, "jobhost.yaml")
    with open(manifest, "w") as f:
        f.write("host:\n  plugin_dir: %s\n  http: {listen: 127.0.0.1:%d}\n"
                "  log: {level: warn, syslog: {enabled: false}, stderr: false}\n"
                "  store: {path: %s, history: {max_age: 0, max_runs: 0, keep_failures: 0}}\n"
                "jobs:\n" % (os.path.join(ROOT, "tests", "plugins"), port,
                             os.path.abspath(args.store)))
        for j in range(args.jobs):
            f.write("  - {id: j%d, plugin: ok}\n" % j)
    t0 = time.perf_counter()
    proc = subprocess.Popen([os.path.join(ROOT, "host", "jobhost"), "-c", manifest],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = "http://127.0.0.1:%d" % port
        while True:
            try:
                with urllib.request.urlopen(base + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None:
                    print("rc=1")
                    sys.exit(1)
                time.sleep(0.05)
        print("start_to_ready_s=%.3f" % (time.perf_counter() - t0))
        url = base + "/api/v1/jobs/j0/runs?limit=50"
        _, doc = get(url)
        assert len(doc["runs"]) == 50, doc
        deep = None
        before = None
        for _ in range(20):  # walk 20 pages down, for a page deep in the job
            q = url + ("&before=" + before if before else "")
            _, page = get(q)
            before = page["runs"][-1]["run_id"]
        deep = url + "&before=" + before
        newest, deeper = [], []
        for _ in range(args.reps):
            newest.append(get(url)[0] * 1e3)
            deeper.append(get(deep)[0] * 1e3)
        print("api_newest_page_ms_p50=%.3f" % pct(newest, 50))
        print("api_newest_page_ms_p99=%.3f" % pct(newest, 99))
        print("api_deep_page_ms_p50=%.3f" % pct(deeper, 50))
        print("api_deep_page_ms_p99=%.3f" % pct(deeper, 99))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
