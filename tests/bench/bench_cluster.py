"""Benchmark: what a cluster's claim costs per firing.

Starts a private PostgreSQL 15 (tests/integration/pg_harness.py) and NODES
real jobhost daemons (default 3) on one manifest of JOBS jobs firing every
PERIOD (default 100 jobs every 100 ms: 1,000 firings/s, each claimed by
every node), runs them SECONDS (default 10 s) and prints:
  - the claim round trip (p50, p99 as bucket bounds, p99 estimated as
    histogram_quantile does, mean) from the nodes' own
    jobhost_cluster_claim_duration_seconds histograms (a round trip claims
    one firing or a worker's batch of firings due together), the share of
    round trips within 5 ms, and the mean database time per firing
    claimed (round trips' time / claims);
  - how late the runs started (jobhost_job_start_delay_seconds of every
    job on every node): what the claims cost the schedule;
  - claimed firings per second across the nodes, from jh_claims;
  - doubled and missed firings (must be 0, but this prints, never fails).

    python3 tests/bench/bench_cluster.py [--nodes 3] [--jobs 100]
        [--period 100ms] [--seconds 10]

Figures, not pass/fail; the exit status is 0 unless something could not
run. Loopback, 2 vCPUs shared by PostgreSQL and every node.
"""
import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from harness import Daemon, parse_metrics  # noqa: E402
import pg_harness  # noqa: E402


def quantile(buckets, count, q):
    """Upper bound of the bucket holding the q-quantile (cumulative)."""
    want = q * count
    for le, n in buckets:
        if n >= want:
            return le
    return float("inf")


def interpolated(buckets, count, q):
    """The q-quantile as Prometheus' histogram_quantile estimates it:
    linear within the bucket that holds it."""
    want, lo, below = q * count, 0.0, 0
    for le, n in buckets:
        if n >= want:
            if le == float("inf"):
                return lo
            return lo + (le - lo) * ((want - below) / (n - below) if n > below else 1.0)
        lo, below = le, n
    return lo


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=100)
    ap.add_argument("--period", default="100ms")
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    reason = pg_harness.skip_reason()
    if reason:
        print("cluster: skipped: %s" % reason)
        return 0
    work = tempfile.mkdtemp(prefix="jobhost-bench-cluster-")
    os.chmod(work, 0o777)
    jobs = "".join("  - id: b%d\n    plugin: ok\n    trigger: {interval: %s}\n" % (i, args.period)
                   for i in range(args.jobs))
    pg = pg_harness.Postgres()
    nodes = []
    try:
        pg.start()
        pg.create_db("bench")
        for i in range(args.nodes):
            extra = ("  node: bench%d\n  store: {backend: postgres, dsn: \"%s\"}\n"
                     "  cluster: {lease: 15s}\n" % (i, pg.dsn("bench")))
            d = Daemon(jobs, host_extra=extra, workers=4, level="warn")
            nodes.append(d)
            d.start()
        time.sleep(1.0)
        before = int(pg.psql("SELECT count(*) FROM jh_claims", "bench")[0][0])
        t0 = time.monotonic()
        time.sleep(args.seconds)
        elapsed = time.monotonic() - t0
        after = int(pg.psql("SELECT count(*) FROM jh_claims", "bench")[0][0])
        buckets = {}
        delay = {}
        count = total = 0.0
        won = lost = err = 0.0
        for d in nodes:
            m = parse_metrics(d.get("/metrics")[1].decode())
            for k, v in m.items():
                if k.startswith("jobhost_cluster_claim_duration_seconds_bucket"):
                    le = k.split('le="')[1].split('"')[0]
                    le = float("inf") if le == "+Inf" else float(le)
                    buckets[le] = buckets.get(le, 0) + v
                elif k.startswith("jobhost_job_start_delay_seconds_bucket"):
                    le = k.split('le="')[1].split('"')[0]
                    le = float("inf") if le == "+Inf" else float(le)
                    delay[le] = delay.get(le, 0) + v
            count += m.get("jobhost_cluster_claim_duration_seconds_count", 0)
            total += m.get("jobhost_cluster_claim_duration_seconds_sum", 0)
            won += m.get('jobhost_cluster_claims_total{result="won"}', 0)
            lost += m.get('jobhost_cluster_claims_total{result="lost"}', 0)
            err += m.get('jobhost_cluster_claims_total{result="error"}', 0)
        for d in nodes:
            d.stop()
        dup = pg.psql("SELECT count(*) FROM (SELECT job, scheduled FROM jh_runs WHERE cause = 0"
                      " AND result = 0 GROUP BY job, scheduled HAVING count(*) > 1) d", "bench")
        per_s = (after - before) / elapsed
        b = sorted(buckets.items())
        dl = sorted(delay.items())
        started = dl[-1][1] if dl else 0
        print("cluster: nodes=%d jobs=%d period=%s seconds=%.1f" % (
            args.nodes, args.jobs, args.period, elapsed))
        print("cluster: claims=%d (won=%d lost=%d error=%d)" % (count, won, lost, err))
        print("cluster: claim_p50_ms<=%.2f claim_p99_ms<=%.2f claim_p99_ms_estimate=%.1f"
              " claim_mean_ms=%.3f" % (
                  quantile(b, count, 0.5) * 1e3, quantile(b, count, 0.99) * 1e3,
                  interpolated(b, count, 0.99) * 1e3, (total / count * 1e3) if count else 0))
        within = dict(b).get(0.005, 0)
        print("cluster: claim_ms_per_firing=%.3f round_trips_within_5ms_pct=%.1f" % (
            total / (won + lost) * 1e3 if won + lost else 0,
            100.0 * within / count if count else 0))
        print("cluster: start_delay_p50_ms<=%.2f start_delay_p99_ms<=%.2f runs=%d" % (
            quantile(dl, started, 0.5) * 1e3, quantile(dl, started, 0.99) * 1e3, started))
        print("cluster: claimed_firings_per_s=%.0f doubled=%s" % (per_s, dup[0][0]))
    finally:
        for d in nodes:
            d.close()
        pg.close()
        os.system("rm -rf %s" % work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
