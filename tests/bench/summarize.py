#!/usr/bin/python3
"""Summarise the raw outputs of tests/bench/run.sh into one table.

Reads DIR/env.txt and DIR/<workload>_<side>_r<round>.txt (name=value lines,
side = jobhost or peer), prints the machine and one table -- workload,
figure, jobhost median [min-max], peer median [min-max], ratio, target, met
-- and writes every raw value and the table to a JSON file.

Ratio = jobhost's advantage: peer / jobhost for times, bytes and CPU;
jobhost / peer for rates. Targets are the project's performance goals:
ratios against the peer, and absolute figures for this kind of machine.

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
    ("oneshot", "100,000 one-shot jobs: throughput (runs/s)", "throughput_jobs_per_s",
     "throughput_jobs_per_s", "higher", "runs/s",
     [("ratio", 100), ("min", 1400000, ">= 1,400,000/s")]),
    ("oneshot", "100,000 one-shot jobs: time until all ran (s)", "all_run_s", "all_run_s",
     "lower", "s", []),
    ("burst", "1,000 x 1 s interval, 10 s: runs completed (of 10,000)", "runs_completed",
     "runs_completed", "higher", "runs", [("all", "runs_expected")]),
    ("burst", "burst lateness p50 (ms)", "lateness_ms_p50", "lateness_ms_p50", "lower", "ms", []),
    ("burst", "burst lateness p99 (ms)", "lateness_ms_p99", "lateness_ms_p99", "lower", "ms",
     [("ratio", 50), ("max", 2.0, "<= 2 ms")]),
    ("burst", "burst lateness max (ms)", "lateness_ms_max", "lateness_ms_max", "lower", "ms", []),
    ("latency", "2,000 jobs 2.5 ms apart: start latency p50 (ms)", "lateness_ms_p50",
     "lateness_ms_p50", "lower", "ms", [("max", 0.050, "<= 50 us")]),
    ("latency", "start latency p99 (ms)", "lateness_ms_p99", "lateness_ms_p99", "lower", "ms",
     [("ratio", 9), ("max", 0.100, "<= 100 us")]),
    ("latency", "start latency max (ms)", "lateness_ms_max", "lateness_ms_max", "lower", "ms", []),
    ("memory", "bytes per registered cron job, 10,000 jobs", "bytes_per_job_10000",
     "bytes_per_job_10000", "lower", "B", [("ratio", 6), ("max", 512, "<= 512 B")]),
    ("memory", "bytes per registered cron job, 100,000 jobs", "bytes_per_job_100000",
     "bytes_per_job_100000", "lower", "B", [("ratio", 6), ("max", 512, "<= 512 B")]),
    ("idle", "CPU seconds in 10 s idle, 10,000 cron jobs", "idle_cpu_s", "idle_cpu_s", "lower",
     "s", [("le_peer",)]),
    ("metrics", "/metrics, 10,000 jobs (ms) vs generate_latest default", "gen_ms_median",
     "default_gen_ms_median", "lower", "ms", [("ratio", 50)]),
    ("metrics", "/metrics (ms) vs generate_latest without _created", "gen_ms_median",
     "nocreated_gen_ms_median", "lower", "ms", [("ratio", 50)]),
    ("metrics", "/metrics size (bytes; jobhost renders more series)", "bytes", "default_bytes",
     "lower", "B", []),
    ("metrics", "promtool check metrics: findings", "promtool_lint_problems",
     "default_promtool_lint_problems", "lower", "", [("zero",)]),
    ("reload", "reload 1,000 jobs / 100 plugins (ms)", "reload_ms_median", None, "lower", "ms",
     [("max", 50, "<= 50 ms")]),
    ("reload", "start: load 100 plugins + 1,000 jobs (ms)", "cold_start_ms", None, "lower", "ms",
     []),
    ("overhead", "instrumented wrapper overhead (ns/run)", "overhead_ns_per_run", None, "lower",
     "ns", []),
    ("floor", "machine, not jobhost: timer wake-up p50 (ms)", "timer_wake_ms_p50", None,
     "lower", "ms", []),
    ("floor", "machine: timer wake-up p99 (ms)", "timer_wake_ms_p99", None, "lower", "ms", []),
    ("floor", "machine: timer wake + thread hand-off p50 (ms)", "timer_plus_handoff_ms_p50", None,
     "lower", "ms", []),
    ("floor", "machine: timer wake + thread hand-off p99 (ms)", "timer_plus_handoff_ms_p99", None,
     "lower", "ms", []),
]

PEER_OF = {"oneshot": "apscheduler", "burst": "apscheduler", "latency": "apscheduler",
           "memory": "apscheduler", "idle": "apscheduler", "metrics": "prometheus_client"}


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


def stats(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "n": len(vals), "values": vals}


def cell(st):
    if st is None:
        return "-"
    if st["n"] == 1:
        return fmt(st["median"])
    return "%s [%s-%s]" % (fmt(st["median"]), fmt(st["min"]), fmt(st["max"]))


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "build/bench/out"
    out_json = sys.argv[2] if len(sys.argv) > 2 else "tests/bench/results.json"
    env = read_kv(os.path.join(d, "env.txt")) if os.path.exists(os.path.join(d, "env.txt")) else {}
    peers = {"apscheduler": env.get("peer_apscheduler") == "1",
             "prometheus_client": env.get("peer_prometheus_client") == "1"}

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

    table = []
    for (w, fig, okey, pkey, better, unit, targets) in ROWS:
        if w not in raw or "jobhost" not in raw[w]:
            continue
        ours = stats([num(r.get(okey)) for r in raw[w]["jobhost"]])
        if pkey is None:
            peer, peer_cell = None, ("n/a (machine floor)" if w == "floor"
                                     else "n/a (no peer workload)")
        elif not peers.get(PEER_OF[w], False):
            peer, peer_cell = None, "not installed"
        else:
            peer = stats([num(r.get(pkey)) for r in raw[w].get("peer", [])])
            peer_cell = cell(peer) if peer else "no result"
        ratio = None
        if ours and peer:
            a, b = ours["median"], peer["median"]
            if better == "lower":
                ratio = (b / a) if a > 0 else (math.inf if b > 0 else 1.0)
            else:
                ratio = (a / b) if b > 0 else None
        checks = []
        for t in targets:
            if t[0] == "ratio":
                ok = None if ratio is None else ratio >= t[1]
                checks.append(("%gx" % t[1], ok))
            elif t[0] == "max":
                checks.append((t[2], None if not ours else ours["median"] <= t[1]))
            elif t[0] == "min":
                checks.append((t[2], None if not ours else ours["median"] >= t[1]))
            elif t[0] == "le_peer":
                ok = None if not (ours and peer) else ours["median"] <= peer["median"]
                checks.append(("<= peer", ok))
            elif t[0] == "all":
                exp = stats([num(r.get(t[1])) for r in raw[w]["jobhost"]])
                ok = None if not (ours and exp) else ours["min"] >= exp["max"]
                checks.append(("all run", ok))
            elif t[0] == "zero":
                checks.append(("clean", None if not ours else ours["max"] == 0))
        if ratio is None:
            ratio_cell = "-"
        elif math.isinf(ratio):
            ratio_cell = "inf"
        else:
            ratio_cell = ("%.0fx" % ratio) if ratio >= 10 else ("%.2fx" % ratio)
        target_cell = "; ".join(c[0] for c in checks) or "-"
        met_cell = "; ".join({True: "yes", False: "NO", None: "?"}[c[1]] for c in checks) or "-"
        table.append({"workload": w, "figure": fig, "unit": unit, "better": better,
                      "jobhost": ours, "peer": peer if peer else peer_cell,
                      "ratio": None if ratio is None or math.isinf(ratio) else ratio,
                      "targets": [{"target": c[0], "met": c[1]} for c in checks],
                      "cells": [w, fig, cell(ours), peer_cell, ratio_cell, target_cell,
                                met_cell]})

    heads = ["workload", "figure", "jobhost median [min-max]", "peer median [min-max]", "ratio",
             "target", "met"]
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
    print("   load average (1/5/15 min) at start %s, at end %s: other work on the machine "
          "makes the figures noisier" % (env.get("loadavg_start", "?"), env.get("loadavg_end", "?")))
    line = "  ".join(h.ljust(widths[i]) for i, h in enumerate(heads))
    print(line)
    print("-" * len(line))
    for r in table:
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(r["cells"])).rstrip())
    print()
    failed = [(w, s, rr.get("rc")) for w in raw for s in raw[w] for rr in raw[w][s]
              if rr.get("rc") not in (None, "0")]
    for w, s, rc in failed:
        print("note: a %s run of %s exited with rc=%s (see its .err file in %s)" % (s, w, rc, d))
    notes = {
        "oneshot": "oneshot: APScheduler with misfire_grace_time=None (the anchor's choice; with "
                   "its default 1 s it drops them all); jobhost's dates are planned as of due-1 ns",
        "latency": "latency: jobhost also holds 10,000 daily cron jobs in its timer heap (the "
                   "workload's definition); the anchor registers only the 2,000",
        "metrics": "metrics: jobhost renders its full series set (more families than the anchor)",
        "floor": "floor: a bare timerfd + condvar hand-off on this machine, the least any "
                 "scheduler that sleeps between firings can do here (compare with latency)",
    }
    for w, text in notes.items():
        if w in raw:
            print("note: " + text)

    result = {"machine": env, "rounds": rounds, "rows": [
        {k: v for k, v in r.items() if k != "cells"} for r in table], "raw": raw}
    with open(out_json, "w") as f:
        json.dump(result, f, indent=1, sort_keys=False, default=str)
    print("results: %s (raw outputs in %s)" % (out_json, d))


if __name__ == "__main__":
    main()
