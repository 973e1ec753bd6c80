#!/usr/bin/python3
"""Summarise the raw outputs of tests/bench/run.sh into one table.

Reads DIR/env.txt and DIR/<workload>_<side>_r<round>.txt (name=value lines,
side = jobhost or peer), prints the machine, the anchors' directory and one
table -- workload, figure, jobhost median [min-max], peer median [min-max],
ratio, target -- with every workload in it (the scale workload with one row
per N for each of its figures, the per-job figure beside the total), and
writes every raw value and the table to a JSON file.

Ratio = jobhost's advantage: peer / jobhost for times, bytes and CPU;
jobhost / peer for rates. A target is a project goal (a ratio against the
peer, or an absolute figure); "met" says whether this run's median meets
it, nothing more.

How to run:  /usr/bin/python3 tests/bench/summarize.py DIR [results.json]
Standard library only.
"""
import glob
import json
import math
import os
import re
import statistics
import sys

# workload, figure, jobhost key, peer key (None: no peer workload),
# better ("lower"/"higher"), unit, targets
# targets: ("ratio", x)   advantage >= x
#          ("max", v, t)  jobhost <= v  (t: how it reads)
#          ("min", v, t)  jobhost >= v
#          ("le_peer",)   jobhost <= peer
#          ("all", key)   jobhost == its own value of `key`
#          ("zero",)      jobhost == 0
ROWS = [
    ("oneshot", "100,000 one-shot jobs: throughput", "throughput_jobs_per_s",
     "throughput_jobs_per_s", "higher", "runs/s",
     [("ratio", 100), ("min", 1400000, ">= 1,400,000/s")]),
    ("oneshot", "100,000 one-shot jobs: time until all ran", "all_run_s", "all_run_s",
     "lower", "s", []),
    ("oneshot", "the same, default logging (info, file 10 MiB x 5): throughput "
     "(peer: INFO logging, 20,000 jobs)", "info_throughput_jobs_per_s",
     "info_throughput_jobs_per_s", "higher", "runs/s",
     [("ratio", 70), ("min", 1000000, ">= 1,000,000/s")]),
    ("oneshot", "default logging / warn, same round", "info_vs_warn", None, "higher", "x",
     [("min", 0.7, ">= 0.7")]),
    ("oneshot", "default logging: records written (3 a run)", "info_log_records", None,
     "higher", "", []),
    ("oneshot", "default logging: records dropped", "info_log_dropped_queue", None, "lower",
     "", [("zero",)]),
    ("oneshot", "default logging: writer CPU per record", "info_log_writer_ns_per_record",
     None, "lower", "ns", []),
    ("oneshot", "default logging: runs that waited for ring room (backpressure)",
     "info_log_producer_waits", None, "lower", "", []),
    ("burst", "1,000 x 1 s interval, 10 s: runs completed (of 10,000)", "runs_completed",
     "runs_completed", "higher", "", [("all", "runs_expected")]),
    ("burst", "burst lateness p50", "lateness_ms_p50", "lateness_ms_p50", "lower", "ms", []),
    ("burst", "burst lateness p99", "lateness_ms_p99", "lateness_ms_p99", "lower", "ms",
     [("ratio", 50), ("max", 2.0, "<= 2 ms")]),
    ("burst", "burst lateness max", "lateness_ms_max", "lateness_ms_max", "lower", "ms", []),
    ("latency", "2,000 jobs 2.5 ms apart: start latency p50", "lateness_ms_p50",
     "lateness_ms_p50", "lower", "ms", [("max", 0.050, "<= 50 us")]),
    ("latency", "start latency p99", "lateness_ms_p99", "lateness_ms_p99", "lower", "ms",
     [("ratio", 9), ("max", 0.100, "<= 100 us")]),
    ("latency", "start latency max", "lateness_ms_max", "lateness_ms_max", "lower", "ms", []),
    ("memory", "in-process, heap trimmed: bytes per cron job, 10,000", "bytes_per_job_10000",
     "bytes_per_job_10000", "lower", "B", []),
    ("memory", "in-process, heap trimmed: bytes per cron job, 100,000", "bytes_per_job_100000",
     "bytes_per_job_100000", "lower", "B", []),
    ("idle", "CPU seconds in 10 s idle, 10,000 cron jobs", "idle_cpu_s", "idle_cpu_s", "lower",
     "s", [("le_peer",)]),
    ("metrics", "/metrics render, 10,000 jobs, vs generate_latest default", "gen_ms_median",
     "default_gen_ms_median", "lower", "ms", [("ratio", 50)]),
    ("metrics", "/metrics render vs generate_latest without _created", "gen_ms_median",
     "nocreated_gen_ms_median", "lower", "ms", [("ratio", 50)]),
    ("metrics", "/metrics size (jobhost renders more series)", "bytes", "default_bytes",
     "lower", "B", []),
    ("metrics", "GET /metrics over loopback, real HTTP server", "http_get_ms_median", None,
     "lower", "ms", []),
    ("metrics", "GET /metrics, gzip (as Prometheus asks)", "http_gzip_get_ms_median", None,
     "lower", "ms", []),
    ("metrics", "GET /metrics, gzip: bytes sent", "http_gzip_bytes", None, "lower", "B", []),
    ("metrics", "promtool check metrics: findings", "promtool_lint_problems",
     "default_promtool_lint_problems", "lower", "", [("zero",)]),
    ("reload", "reload 1,000 jobs / 100 plugins (in-process)", "reload_ms_median", None,
     "lower", "ms", [("max", 50, "<= 50 ms")]),
    ("reload", "start: load 100 plugins + 1,000 jobs (in-process)", "cold_start_ms", None,
     "lower", "ms", []),
    ("overhead", "instrumented wrapper overhead per run", "overhead_ns_per_run", None, "lower",
     "ns", []),
    ("floor", "machine, not jobhost: timer wake-up p50", "timer_wake_ms_p50", None,
     "lower", "ms", []),
    ("floor", "machine: timer wake-up p99", "timer_wake_ms_p99", None, "lower", "ms", []),
    ("floor", "machine: timer wake + thread hand-off p50", "timer_plus_handoff_ms_p50", None,
     "lower", "ms", []),
    ("floor", "machine: timer wake + thread hand-off p99", "timer_plus_handoff_ms_p99", None,
     "lower", "ms", []),
    # scale: generated per N below (SCALE)
    ("log", "bare file sink, 2 threads: records/s", "bare_records_per_s", None, "higher",
     "rec/s", [("min", 1000000, ">= 1 M/s")]),
    ("log", "bare file sink: MB/s (all files)", "bare_mb_per_s", None, "higher", "MB/s", []),
    ("log", "bare file sink: bytes per record", "bare_bytes_per_record", None, "lower", "B", []),
    ("log", "bare file sink: records dropped (queue + file)", "bare_dropped", None, "lower", "",
     []),
    ("log", "bare file sink: writer CPU per record", "bare_writer_ns_per_record", None,
     "lower", "ns", []),
    ("log", "default rotation (10 MiB x 5), 2 threads: records/s", "rotating_records_per_s",
     None, "higher", "rec/s", []),
    ("log", "default rotation: records dropped (queue + file)", "rotating_dropped", None,
     "lower", "", [("zero",)]),
    ("log", "default rotation: of them while a rotation ran",
     "rotating_dropped_queue_while_rotating", None, "lower", "", []),
    ("log", "default rotation: rotations, the longest", "rotating_rotation_ms_max", None,
     "lower", "ms", []),
    ("log", "default rotation: writer CPU per record", "rotating_writer_ns_per_record", None,
     "lower", "ns", []),
    ("log", "default rotation: producer waits for room (backpressure, not drops)",
     "rotating_producer_waits", None, "lower", "", []),
    ("log", "daemon defaults (rotation + syslog), 2 threads: records/s", "daemon_records_per_s",
     None, "higher", "rec/s", []),
    ("log", "daemon defaults: MB/s (all rotated files)", "daemon_mb_per_s", None, "higher",
     "MB/s", []),
    ("log", "daemon defaults: records dropped at the queue", "daemon_dropped_queue", None,
     "lower", "", []),
    ("log", "daemon defaults: dropped by file + syslog sinks", "daemon_dropped_sinks", None,
     "lower", "", []),
    ("log", "daemon defaults: sent to syslog, not received", "daemon_syslog_lost", None,
     "lower", "", []),
    ("log", "daemon defaults: writer CPU per record (file + syslog(3))",
     "daemon_writer_ns_per_record", None, "lower", "ns", []),
    ("log", "job_started + job_finished per run, back to back (the observer)",
     "bare_per_run_ns", None, "lower", "ns", [("max", 250, "<= 250 ns")]),
    ("log", "the same through jlog_ctx + format string (the old run path)",
     "bare_per_run_formatted_ns", None, "lower", "ns", []),
    ("log", "the same with the daemon's default sinks", "daemon_per_run_ns", None, "lower",
     "ns", []),
    ("log", "the same, below the level", "bare_per_run_filtered_ns", None, "lower", "ns", []),
    ("log", "the same, runs 200 ms apart", "bare_per_run_200ms_apart_ns", None, "lower", "ns",
     []),
    ("log", "the same, runs 1.5 s apart (writer ticking)", "bare_per_run_1500ms_apart_ns",
     None, "lower", "ns", [("max", 2000, "<= 2 us")]),
    ("log", "the same, runs 6 s apart (writer asleep: the first wakes it)",
     "bare_per_run_6s_apart_ns", None, "lower", "ns", []),
    ("store", "100,000 one-shot jobs, run store on: throughput to the last commit "
              "(peer: SQLAlchemyJobStore on SQLite, 5,000 jobs)", "on_throughput_jobs_per_s",
     "throughput_jobs_per_s", "higher", "runs/s", [("min", 200000, ">= 200,000/s")]),
    ("store", "store on: time until the last run", "on_all_run_s", None, "lower", "s", []),
    ("store", "store on: time until the last commit", "on_last_commit_s", None, "lower", "s", []),
    ("store", "store on: runs committed (of 100,000)", "on_runs_committed", None, "higher", "",
     [("all", "jobs")]),
    ("store", "store on: reports dropped", "on_dropped", None, "lower", "", [("zero",)]),
    ("store", "store off: throughput (the oneshot workload)", "off_throughput_jobs_per_s", None,
     "higher", "runs/s", []),
    ("store", "a run's start + finish handed to the writer", "handoff_ns_per_run", None, "lower",
     "ns", [("max", 200, "<= 200 ns")]),
    ("store", "run_job with the store observer, minus without", "observer_added_ns_per_run",
     None, "lower", "ns", [("max", 200, "<= 200 ns")]),
    ("history", "10,000,000 runs: GET /api/v1/jobs/ID/runs?limit=50, p50",
     "api_newest_page_ms_p50", None, "lower", "ms", [("max", 5, "<= 5 ms")]),
    ("history", "the same, p99", "api_newest_page_ms_p99", None, "lower", "ms",
     [("max", 5, "<= 5 ms")]),
    ("history", "a page deep in the job (before=), p99", "api_deep_page_ms_p99", None, "lower",
     "ms", []),
    ("history", "file bytes per run", "bytes_per_run", None, "lower", "B", []),
    ("history", "writing them through the backend", "build_rows_per_s", None, "higher",
     "rows/s", []),
    ("history", "daemon start on that store, to /-/ready", "start_to_ready_s", None, "lower",
     "s", []),
]

# The scale workload, one row per N for each figure: label, jobhost key
# prefix (the key is PREFIX_N), unit, per-job (None, "us" = seconds or ms
# per job in microseconds, "B" = bytes per job; both over the 0-job
# daemon's figure: (median at N - median at 0) / N), peer key prefix,
# targets.
SCALE = [
    ("start to /-/healthy (peer: add_job x N + start())", "start_healthy_s", "s", "us",
     "start_in_process_s", []),
    ("start to /-/healthy (peer: exec to started)", "start_healthy_s", "s", "us",
     "start_process_s", []),
    ("VmRSS per job (minus the 0-job daemon)", "bytes_per_job", "B", None, "bytes_per_job",
     [("ratio", 6), ("max", 512, "<= 512 B")]),
    ("GET /metrics: time", "scrape_s", "s", "us", None, []),
    ("GET /metrics: size", "scrape_bytes", "B", "B", None, []),
    ("GET /metrics: RSS peak added", "scrape_peak_added_bytes", "B", "B", None, []),
    ("GET /metrics: RSS left after", "scrape_left_bytes", "B", "B", None, []),
    ("second GET /metrics: time", "scrape2_s", "s", "us", None, []),
    ("second GET /metrics: RSS peak added", "scrape2_peak_added_bytes", "B", None, None, []),
    ("reload, nothing changed (duration_ms)", "reload_same_ms", "ms", "us", None, []),
    ("reload, nothing changed (POST wall)", "reload_same_wall_s", "s", "us", None, []),
    ("reload, 10% of triggers changed", "reload_changed_ms", "ms", "us", None, []),
    ("reload, half the jobs removed", "reload_half_ms", "ms", "us", None, []),
    ("VmRSS after the three reloads", "rss_after_reload_half_bytes", "B", None, None, []),
    ("jobhost check -c", "check_s", "s", "us", None, []),
    ("SIGTERM to exit", "stop_s", "s", "us", None, []),
]

PEER_OF = {"oneshot": "apscheduler", "burst": "apscheduler", "latency": "apscheduler",
           "memory": "apscheduler", "idle": "apscheduler", "metrics": "prometheus_client",
           "scale": "apscheduler_start", "store": "apscheduler_sqlite"}

NOTES = {
    "oneshot": "oneshot: APScheduler with misfire_grace_time=None (the anchor's choice; with "
               "its default 1 s it drops them all); jobhost's dates are planned as of due-1 ns; "
               "default logging: jobhost at level info with the file sink rotating at 10 MiB "
               "keeping 5 (syslog off), APScheduler with its root logger at INFO on a "
               "RotatingFileHandler 10 MiB x 5, at 20,000 jobs (100,000 pass the anchor's 50 s)",
    "latency": "latency: jobhost also holds 10,000 daily cron jobs in its timer heap; the "
               "anchor registers only the 2,000",
    "memory": "memory: bench_sched in one process, freed heap handed back before each reading: "
              "where a job's bytes go. The daemon's own figure is scale's VmRSS per job",
    "metrics": "metrics: filled through the outcome pipeline, rendered by io/metrics_render.c; "
               "jobhost renders its full series set (more families than the anchor)",
    "reload": "reload: in-process reloader_reload with 100 plugins; the daemon's reloads over "
              "HTTP at N jobs are scale's",
    "floor": "floor: a bare timerfd + condvar hand-off on this machine, the least any "
             "scheduler that sleeps between firings can do here (compare with latency)",
    "scale": "scale: host/jobhost as built, one manifest, measured from outside, exec to "
             "/-/healthy; peer start = tests/bench/aps_start.py: add_job x N + start() in the "
             "process, and from exec (interpreter, imports, the same); peer bytes = the "
             "aps_memory.py anchor (started paused, gc'd). "
             "Per-job figures after the '/' are over the 0-job daemon's: "
             "(figure at N - figure at 0) / N; equal figures down the N rows mean a linear "
             "cost",
    "store": "store: jobhost's oneshot workload with the run store on (SQLite file, WAL, "
             "synchronous=NORMAL; every run a committed row) until the last commit; the peer "
             "is the aps_dispatch_oneshot_sqlite.py anchor (its SQLAlchemyJobStore writes each "
             "job at add_job and deletes it after its run; 5,000 jobs, as the anchors' README measured it: "
             "at its default 20,000 it does not finish within its own 50 s on a busy 2-vCPU machine). "
             "hand-off: history_started + history_finished in bursts the writer keeps up with",
    "history": "history: bench_store writes 10,000,000 runs over 10 jobs, then "
               "tests/bench/bench_store_api.py times GET over loopback on the real daemon",
    "log": "log: 2 producer threads, from the first record until log_flush returns; sizes "
           "summed over the current and every rotated file; syslog to a private rsyslogd; "
           "writer CPU per record: the writer thread's CPU time over the records it handed "
           "to the sinks (formatting, the file's write(2), syslog(3))",
}


def read_kv(path):
    vals = {}
    with open(path, errors="replace") as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                vals[k] = v
    return vals


def num(v):
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def fmt(x):
    if x is None:
        return "-"
    ax = abs(x)
    if ax >= 10000:
        return "{:,.0f}".format(x)
    if ax >= 100:
        return "%.0f" % x
    if ax >= 10:
        return "%.1f" % x
    if ax >= 1:
        return "%.2f" % x
    if ax == 0:
        return "0"
    if ax >= 0.01:
        return "%.3f" % x
    return "%.2g" % x


def fmt_bytes(x):
    if x is None:
        return "-"
    if abs(x) >= 1e6:
        return "%s MB" % fmt(x / 1e6)
    if abs(x) >= 1e4:
        return "%s kB" % fmt(x / 1e3)
    return "%s B" % fmt(x)


def stats(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "n": len(vals), "values": vals}


def cell(st, unit=""):
    if st is None:
        return "-"
    f = fmt_bytes if unit == "B" else fmt
    suffix = "" if unit in ("", "B") else " " + unit
    if st["n"] == 1:
        return f(st["median"]) + suffix
    return "%s [%s-%s]%s" % (f(st["median"]), f(st["min"]), f(st["max"]), suffix)


def ratio_of(ours, peer, better):
    if not (ours and peer):
        return None
    a, b = ours["median"], peer["median"]
    if better == "lower":
        return (b / a) if a > 0 else (math.inf if b > 0 else 1.0)
    return (a / b) if b > 0 else None


def check_targets(targets, ours, peer, ratio, own_rounds):
    checks = []
    for t in targets:
        if t[0] == "ratio":
            checks.append(("%gx" % t[1], None if ratio is None else ratio >= t[1]))
        elif t[0] == "max":
            checks.append((t[2], None if not ours else ours["median"] <= t[1]))
        elif t[0] == "min":
            checks.append((t[2], None if not ours else ours["median"] >= t[1]))
        elif t[0] == "le_peer":
            ok = None if not (ours and peer) else ours["median"] <= peer["median"]
            checks.append(("<= peer", ok))
        elif t[0] == "all":
            exp = stats([num(r.get(t[1])) for r in own_rounds])
            ok = None if not (ours and exp) else ours["min"] >= exp["max"]
            checks.append(("all run", ok))
        elif t[0] == "zero":
            checks.append(("clean", None if not ours else ours["max"] == 0))
    return checks


def derived(rounds):
    """Figures summed from several keys, added to each round's values."""
    sums = {"bare_dropped": ("bare_dropped_queue", "bare_dropped_file"),
            "rotating_dropped": ("rotating_dropped_queue", "rotating_dropped_file"),
            "daemon_dropped_sinks": ("daemon_dropped_file", "daemon_dropped_syslog")}
    ratios = {"info_vs_warn": ("info_throughput_jobs_per_s", "throughput_jobs_per_s")}
    for r in rounds:
        for key, parts in sums.items():
            vals = [num(r.get(p)) for p in parts]
            if all(v is not None for v in vals):
                r[key] = str(sum(vals))
        for key, (a, b) in ratios.items():
            x, y = num(r.get(a)), num(r.get(b))
            if x is not None and y:
                r[key] = str(x / y)


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "build/bench/out"
    out_json = sys.argv[2] if len(sys.argv) > 2 else "tests/bench/results.json"
    env = read_kv(os.path.join(d, "env.txt")) if os.path.exists(os.path.join(d, "env.txt")) else {}
    peers = {"apscheduler": env.get("peer_apscheduler") == "1",
             "apscheduler_start": env.get("peer_apscheduler_start") == "1",
             "prometheus_client": env.get("peer_prometheus_client") == "1",
             "apscheduler_sqlite": env.get("peer_apscheduler_sqlite") == "1"}

    raw = {}  # workload -> side -> [round dicts]
    for path in sorted(glob.glob(os.path.join(d, "*_r*.txt"))):
        m = re.match(r"(\w+?)_(jobhost|peer)_r(\d+)\.txt$", os.path.basename(path))
        if not m:
            continue
        w, side, rnd = m.group(1), m.group(2), int(m.group(3))
        vals = read_kv(path)
        vals["_round"] = rnd
        raw.setdefault(w, {}).setdefault(side, []).append(vals)
    for w in raw:
        for side in raw[w]:
            raw[w][side].sort(key=lambda v: v["_round"])
            derived(raw[w][side])

    def peer_cell_for(w):
        if not peers.get(PEER_OF.get(w, ""), False):
            return "not installed"
        return "no result"

    table = []

    def add(w, fig, unit, better, ours, peer, peer_cell, targets, own_rounds, ours_cell=None):
        ratio = ratio_of(ours, peer, better)
        checks = check_targets(targets, ours, peer, ratio, own_rounds)
        if ratio is None:
            ratio_cell = "-"
        elif math.isinf(ratio):
            ratio_cell = "inf"
        else:
            ratio_cell = ("%.0fx" % ratio) if ratio >= 10 else ("%.2fx" % ratio)
        target_cell = "; ".join("%s: %s" % (c[0], {True: "met", False: "NOT met",
                                                   None: "?"}[c[1]]) for c in checks) or ""
        table.append({"workload": w, "figure": fig, "unit": unit, "better": better,
                      "jobhost": ours, "peer": peer if peer else peer_cell,
                      "ratio": None if ratio is None or math.isinf(ratio) else ratio,
                      "targets": [{"target": c[0], "met": c[1]} for c in checks],
                      "cells": [w, fig, ours_cell or cell(ours, unit),
                                cell(peer, unit) if peer else peer_cell, ratio_cell,
                                target_cell]})

    def simple_rows(w):
        for (rw, fig, okey, pkey, better, unit, targets) in ROWS:
            if rw != w or "jobhost" not in raw.get(w, {}):
                continue
            ours = stats([num(r.get(okey)) for r in raw[w]["jobhost"]])
            if ours is None:
                continue
            peer = None
            if pkey is None:
                peer_cell = "n/a (machine floor)" if w == "floor" else "n/a (no peer workload)"
            else:
                peer = stats([num(r.get(pkey)) for r in raw[w].get("peer", [])])
                peer_cell = peer_cell_for(w)
            add(w, fig, unit, better, ours, peer, peer_cell, targets, raw[w]["jobhost"])

    def scale_rows():
        ours_rounds = raw.get("scale", {}).get("jobhost", [])
        peer_rounds = raw.get("scale", {}).get("peer", [])
        sizes = sorted({int(k.rsplit("_", 1)[1]) for r in ours_rounds for k in r
                        if re.match(r"(start_healthy_s|start_error)_\d+$", k)} - {0})
        for (label, key) in (("start to /-/healthy", "start_healthy_s"),
                             ("VmRSS after start", "rss_bytes"),
                             ("GET /metrics", "scrape_s"),
                             ("reload, nothing changed", "reload_same_ms"),
                             ("SIGTERM to exit", "stop_s")):
            unit = "B" if key.endswith("bytes") else key.rsplit("_", 1)[1]
            base = stats([num(r.get("%s_0" % key)) for r in ours_rounds])
            if base:
                add("scale", "N=0 (the same daemon, no jobs): " + label, unit, "lower", base,
                    None, "n/a (baseline)", [], ours_rounds)
        for (label, key, unit, per, pkey, targets) in SCALE:
            for n in sizes:
                fig = "N=%s: %s" % ("{:,}".format(n), label)
                errors = [r.get("start_error_%d" % n) for r in ours_rounds
                          if r.get("start_error_%d" % n)]
                ours = stats([num(r.get("%s_%d" % (key, n))) for r in ours_rounds])
                if ours is None and not (errors and key == "start_healthy_s"):
                    continue
                if ours is None:
                    # the daemon refused it: say why, beside the peer's figure
                    why = errors[0].split(" | ")[0]
                    ours_cell = "not started: " + (why.split(": ", 1)[-1] if ": " in why
                                                   else why)[:60]
                else:
                    ours_cell = cell(ours, unit)
                if per and ours is not None:
                    # over the 0-job daemon's figure, so fixed costs stay out
                    zero = stats([num(r.get("%s_0" % key)) for r in ours_rounds])
                    scale = 1e6 if unit == "s" else (1e3 if unit == "ms" else 1)
                    pj = (ours["median"] - (zero["median"] if zero else 0)) * scale / n
                    ours_cell += " / %s %s" % (fmt(pj), "us/job" if per == "us" else "B/job")
                peer, peer_cell = None, "n/a (no peer workload)"
                if pkey:
                    src = "apscheduler" if key == "bytes_per_job" else "apscheduler_start"
                    peer = stats([num(r.get("%s_%d" % (pkey, n))) for r in peer_rounds])
                    if peer is None:
                        peer_cell = ("not installed" if not peers.get(src) else
                                     "not measured at this N" if peer_rounds else "no result")
                add("scale", fig, unit, "lower", ours, peer, peer_cell,
                    targets if n >= 10000 else [], ours_rounds, ours_cell)

    order = []
    for r in ROWS:
        if r[0] not in order:
            order.append(r[0])
    order.insert(order.index("log"), "scale")
    for w in order:
        if w == "scale":
            scale_rows()
        else:
            simple_rows(w)

    heads = ["workload", "figure", "jobhost median [min-max]", "peer median [min-max]", "ratio",
             "target (this run)"]
    widths = [max(len(h), *(len(r["cells"][i]) for r in table)) if table else len(h)
              for i, h in enumerate(heads)]
    rounds = max((len(s) for w in raw.values() for s in w.values()), default=0)
    print()
    print("== results: %s, %s CPUs, kernel %s; %d round(s); %s" % (
        env.get("cpu_model", "?"), env.get("cpu_count", "?"), env.get("kernel", "?"), rounds,
        env.get("date", "")))
    print("   peer = APScheduler %s / prometheus_client %s on Python %s%s" % (
        env.get("apscheduler_version", "?"), env.get("prometheus_client_version", "?"),
        env.get("python_version", "?"),
        "" if all(peers.values()) else "  (some peers not installed)"))
    if env.get("anchors_dir", "none") != "none":
        print("   anchors: %s (found %s)" % (env["anchors_dir"], env.get("anchors_from", "?")))
    else:
        print("   anchors: none found: the anchor peers show as not installed "
              "(set ANCHORS=DIR to the directory holding aps_memory.py)")
    print("   load average (1/5/15 min) at start %s, at end %s: other work on the machine "
          "makes the figures noisier" % (env.get("loadavg_start", "?"), env.get("loadavg_end", "?")))
    line = "  ".join(h.ljust(widths[i]) for i, h in enumerate(heads))
    print(line)
    print("-" * len(line))
    prev = None
    for r in table:
        if prev is not None and r["workload"] != prev:
            print()
        prev = r["workload"]
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(r["cells"])).rstrip())
    print()
    failed = [(w, s, rr.get("rc")) for w in raw for s in raw[w] for rr in raw[w][s]
              if rr.get("rc") not in (None, "0")]
    for w, s, rc in failed:
        print("note: a %s run of %s exited with rc=%s (see its .err file in %s)" % (s, w, rc, d))
    for r in raw.get("scale", {}).get("jobhost", []):
        for k, v in sorted(r.items()):
            if k.startswith("cron_marks_crossed_") and num(v):
                print("note: scale round %d, N=%s: %s cron minute mark(s) fell inside the run; "
                      "its figures include a firing of those jobs" % (r["_round"], k.rsplit("_", 1)[1], v))
            if k.startswith("start_error_"):
                print("note: scale round %d, N=%s: the daemon did not start: %s" % (
                    r["_round"], k.rsplit("_", 1)[1], v))
    for r in raw.get("log", {}).get("jobhost", []):
        if r.get("daemon", "").startswith("skipped"):
            print("note: log: the daemon-defaults setting was skipped: " + r["daemon"])
            break
    for w in order:
        if w in raw and w in NOTES:
            print("note: " + NOTES[w])

    result = {"machine": env, "rounds": rounds, "rows": [
        {k: v for k, v in r.items() if k != "cells"} for r in table], "raw": raw}
    with open(out_json, "w") as f:
        json.dump(result, f, indent=1, sort_keys=False, default=str)
    print("results: %s (raw outputs in %s)" % (out_json, d))


if __name__ == "__main__":
    main()
