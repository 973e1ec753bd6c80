#!/usr/bin/python3
"""APScheduler's side of the scale workload's start: N cron jobs added and the
scheduler started, in a fresh process per N.

It mirrors the anchor aps_memory.py (same scheduler, job store, executor,
trigger and id length), which measures memory but not start time; the scale
workload (bench_daemon.py) starts the real jobhost daemon on a manifest of
the same N jobs.

What it measures, for each N (1,000 / 10,000 / 100,000 by default):
    A child process imports APScheduler, builds a BackgroundScheduler
    (timezone UTC, default MemoryJobStore and ThreadPoolExecutor), adds N
    jobs with CronTrigger.from_crontab('*/5 * * * *') and ids 'j%06d'
    (7 characters), then calls start() (not paused: the jobs are planned
    and the scheduler thread runs, as the daemon's are), then says so.
      start_process_s_<N>     exec of the child to its "started" line: the
                              interpreter, the imports, the N add_job()
                              calls and start() -- the peer of jobhost's
                              exec to /-/healthy
      start_add_s_<N>         the N add_job() calls (before start: queued)
      start_start_s_<N>       start(): the queued jobs into the job store
      start_in_process_s_<N>  add + start
    `*/5` fires at every fifth minute mark; each N starts when no mark is
    within its expected duration.

How to run
    /usr/bin/python3 tests/bench/aps_start.py [--jobs 1000,10000,100000]
    (Debian package: python3-apscheduler.) About 20 s for the defaults.
    Output: name=value lines on stdout.
"""
import argparse
import os
import subprocess
import sys
import time


def child(n_jobs):
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger

    def job():
        pass

    sched = BackgroundScheduler(timezone="UTC")
    t0 = time.perf_counter()
    for i in range(n_jobs):
        sched.add_job(job, CronTrigger.from_crontab("*/5 * * * *", timezone="UTC"),
                      id="j%06d" % i)
    t1 = time.perf_counter()
    sched.start()
    t2 = time.perf_counter()
    print("started %d %.6f %.6f" % (len(sched.get_jobs()), t1 - t0, t2 - t1), flush=True)
    sched.shutdown(wait=False)


def first_mark(t):
    """The first */5 minute mark at or after t (wall clock)."""
    m = -int(-t // 60)
    while m % 5:
        m += 1
    return m * 60


def wait_for_window(duration):
    """Sleeps until no */5 mark falls within the next `duration` s."""
    if duration > 280:
        return
    now = time.time()
    t = now
    while first_mark(t - 1) <= t + duration + 1:
        t = first_mark(t - 1) + 2
    if t > now:
        print("aps_start: waiting %.0f s for a */5-free window" % (t - now), file=sys.stderr)
        time.sleep(t - now)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", default="1000,10000,100000")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        child(args.child)
        return

    import apscheduler
    print("apscheduler_version=%s" % apscheduler.__version__)
    print("python_version=%s" % sys.version.split()[0])
    print("trigger=cron '*/5 * * * *'")
    print("scheduler_state=started")
    for n in (int(x) for x in args.jobs.split(",")):
        wait_for_window(5 + n * 2e-4)
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", str(n)],
                                stdout=subprocess.PIPE, text=True)
        line = proc.stdout.readline()
        process_s = time.monotonic() - t0
        proc.stdout.read()
        proc.wait(timeout=60)
        fields = line.split()
        if len(fields) != 4 or fields[0] != "started":
            print("start_error_%d=child said %r, rc %s" % (n, line.strip(), proc.returncode))
            continue
        registered, add_s, start_s = int(fields[1]), float(fields[2]), float(fields[3])
        print("jobs_%d_registered=%d" % (n, registered))
        print("start_process_s_%d=%.4f" % (n, process_s))
        print("start_add_s_%d=%.4f" % (n, add_s))
        print("start_start_s_%d=%.4f" % (n, start_s))
        print("start_in_process_s_%d=%.4f" % (n, add_s + start_s))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
