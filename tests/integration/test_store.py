"""The run store with the real daemon: what survives a restart (history,
last success, pause), one-shot dates never run twice, catch-up and
downtime after a stop, runs cut by kill -9 closed as interrupted,
retention at start and by hand, a full disk (a small tmpfs), a corrupted
file, a second daemon on the same file, a file of the previous schema
migrated, output capped, the history command."""
import datetime
import json
import os
import signal
import sqlite3
import subprocess
import tempfile
import time
import urllib.request

from harness import JOBHOST, PLUGINS, ROOT, SLOW, DaemonTest, main, ts, wait_for

FIXTURE_V1 = os.path.join(ROOT, "tests", "fixtures", "store_v1.sql")


def runs(d, job, **params):
    query = "&".join("%s=%s" % kv for kv in params.items())
    status, body = d.get("/api/v1/jobs/%s/runs%s" % (job, "?" + query if query else ""))
    assert status == 200, (status, body)
    return json.loads(body)["runs"]


def job_state(d, job):
    status, body = d.get("/api/v1/jobs/" + job)
    assert status == 200, (status, body)
    return json.loads(body)


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat()


def covered_seconds(rows):
    """The scheduled seconds the rows stand for: a run one, a skip record
    `count` from its scheduled time on (per-second jobs)."""
    out = []
    for r in rows:
        if r["scheduled"] is None:
            continue
        first = round(ts(r["scheduled"]))
        n = r["count"] if r["result"] == "skipped" else 1
        out.extend(range(first, first + n))
    return sorted(out)


class Restart(DaemonTest):
    def test_history_last_success_and_pause_survive(self):
        d = self.start("  - id: good\n    plugin: ok\n    trigger: {interval: 200ms}\n"
                       "  - id: bad\n    plugin: fail\n    trigger: {interval: 200ms}\n")
        wait_for(lambda: len(runs(d, "good")) >= 3 and len(runs(d, "bad")) >= 2,
                 what="runs in history")
        status, _, _ = d.post("/api/v1/jobs/bad/pause")
        self.assertEqual(status, 200)
        self.assertEqual(d.stop(), 0)
        # the same jobs, now firing once an hour: what shows is what was kept
        d.write_manifest("  - id: good\n    plugin: ok\n    trigger: {interval: 1h}\n"
                         "  - id: bad\n    plugin: fail\n    trigger: {interval: 1h}\n")
        d.start()
        good, bad = runs(d, "good", limit=1000), runs(d, "bad", limit=1000)
        self.assertGreaterEqual(len(good), 3)
        self.assertTrue(all(r["result"] == "success" for r in good))
        self.assertEqual(good[0]["job_id"], "good")
        self.assertRegex(good[0]["run_id"], r"^[0-9a-f]{16}$")
        for key in ("run_id", "job_id", "trigger", "scheduled", "started", "finished",
                    "duration_seconds", "result", "error", "attempt", "node"):
            self.assertIn(key, good[0])
        self.assertEqual(good[0]["attempt"], 1)
        self.assertEqual(good[0]["trigger"], "schedule")
        self.assertTrue(good[0]["node"])
        # the job's last run and last success are back, in the API and /metrics
        state = job_state(d, "good")
        self.assertEqual(state["last_run"]["run_id"], good[0]["run_id"])
        self.assertEqual(state["last_run"]["result"], "success")
        m = d.metrics()
        self.assertAlmostEqual(m['jobhost_job_last_success_timestamp_seconds{job_id="good"}'],
                               ts(good[0]["finished"]), delta=0.002)
        self.assertAlmostEqual(m['jobhost_job_last_failure_timestamp_seconds{job_id="bad"}'],
                               ts(bad[0]["finished"]), delta=0.002)
        # counters restart at zero, as a new process's should
        self.assertEqual(m['jobhost_job_runs_total{job_id="good",plugin="ok",result="success"}'], 0)
        # the pause was kept
        self.assertTrue(job_state(d, "bad")["paused"])
        self.assertEqual(bad[0]["error"], "fixture failure")

    def test_a_date_job_never_runs_twice(self):
        soon = rfc3339(time.time() + 1.0)
        late = rfc3339(time.time() - 10)       # within the 60 s grace: runs at start
        missed = rfc3339(time.time() - 3600)   # past it: recorded as skipped
        jobs = ("  - id: soon\n    plugin: ok\n    trigger: {date: \"%s\"}\n"
                "  - id: late\n    plugin: ok\n    trigger: {date: \"%s\"}\n"
                "  - id: missed\n    plugin: ok\n    trigger: {date: \"%s\"}\n" % (soon, late, missed))
        d = self.start(jobs)
        wait_for(lambda: len(runs(d, "soon")) == 1 and len(runs(d, "late")) == 1 and
                 len(runs(d, "missed")) == 1, what="each date once")
        self.assertEqual(runs(d, "missed")[0]["result"], "skipped")
        self.assertEqual(runs(d, "missed")[0]["reason"], "misfire")
        self.assertEqual(d.stop(), 0)
        d.start()
        time.sleep(1.5 * SLOW)
        self.assertEqual(len(runs(d, "soon")), 1)
        self.assertEqual(len(runs(d, "late")), 1)
        self.assertEqual(len(runs(d, "missed")), 1)
        m = d.metrics()
        for job in ("soon", "late", "missed"):
            self.assertEqual(m['jobhost_job_runs_total{job_id="%s",plugin="ok",result="success"}'
                               % job], 0)
        self.assertNotIn('jobhost_job_next_run_timestamp_seconds{job_id="soon"}', m)


class CatchUp(DaemonTest):
    JOBS = ("  - id: caught\n    plugin: ok\n    trigger: {cron: \"* * * * * *\"}\n"
            "    catch_up: 1m\n"
            "  - id: missed\n    plugin: ok\n    trigger: {cron: \"* * * * * *\"}\n")

    def test_catch_up_after_a_stop_of_a_few_seconds(self):
        d = self.start(self.JOBS)
        wait_for(lambda: len(runs(d, "caught")) >= 2 and len(runs(d, "missed")) >= 2,
                 what="two runs each")
        self.assertEqual(d.stop(), 0)
        time.sleep(3.5)
        d.start()
        wait_for(lambda: any(r["trigger"] == "schedule" for r in runs(d, "missed")[:1]) and
                 any(r["result"] == "skipped" for r in runs(d, "missed", limit=50)),
                 what="the first firing after the restart")
        time.sleep(1.2)

        caught = runs(d, "caught", limit=1000)
        catch_ups = [r for r in caught if r["trigger"] == "catch_up"]
        self.assertEqual(len(catch_ups), 1, caught)
        self.assertEqual(catch_ups[0]["result"], "success")
        self.assertFalse([r for r in caught if r.get("reason") == "downtime"])

        missed = runs(d, "missed", limit=1000)
        self.assertFalse([r for r in missed if r["trigger"] == "catch_up"])
        downtime = [r for r in missed if r.get("reason") == "downtime"]
        self.assertEqual(len(downtime), 1, missed)   # one record, `count` firings
        self.assertGreaterEqual(downtime[0]["count"], 2)
        self.assertEqual(d.metric('jobhost_job_skipped_total{job_id="missed",reason="downtime"}'),
                         downtime[0]["count"])
        # never silent: every second from the first firing to the last is
        # a run or stands in a skip record, once
        for rows in (missed, caught):
            secs = covered_seconds(rows)
            self.assertEqual(secs, list(range(secs[0], secs[0] + len(secs))), rows)


class Interrupted(DaemonTest):
    def test_kill_9_mid_run_is_closed_as_interrupted(self):
        d = self.start("  - id: slow\n    plugin: sleep\n    trigger: {interval: 300ms}\n"
                       "    params: {duration: 60s}\n")
        row = wait_for(lambda: [r for r in runs(d, "slow") if r["result"] is None],
                       what="a run in flight in history")[0]
        self.assertIsNone(row["finished"])
        d.stop(signal.SIGKILL)
        d.write_manifest("  - id: slow\n    plugin: sleep\n    params: {duration: 60s}\n")
        d.start()
        status, body = d.get("/api/v1/runs/" + row["run_id"])
        self.assertEqual(status, 200)
        closed = json.loads(body)
        self.assertEqual(closed["result"], "interrupted")
        self.assertIsNotNone(closed["finished"])
        self.assertIn("daemon stopped", closed["error"])
        m = d.metrics()
        self.assertEqual(m['jobhost_job_runs_total{job_id="slow",plugin="sleep",result="interrupted"}'], 1)
        self.assertIn('jobhost_job_last_failure_timestamp_seconds{job_id="slow"}', m)
        self.assertEqual(job_state(d, "slow")["last_run"]["result"], "interrupted")
        self.assertTrue(d.wait_events("run_interrupted", run_id=row["run_id"]))


class Retention(DaemonTest):
    def test_at_start_and_by_hand(self):
        d = self.start("  - id: good\n    plugin: ok\n    trigger: {interval: 100ms}\n"
                       "  - id: bad\n    plugin: fail\n    trigger: {interval: 100ms}\n")
        wait_for(lambda: len(runs(d, "good", limit=100)) >= 12 and
                 len(runs(d, "bad", limit=100)) >= 6, what="a dozen runs")
        self.assertEqual(d.stop(), 0)
        n_good, n_bad = len(runs_file(d, "good")), len(runs_file(d, "bad"))
        time.sleep(1.1)
        # successes older than a second go, failures are kept (90 days)
        d.write_manifest("  - id: good\n    plugin: ok\n"
                         "  - id: bad\n    plugin: fail\n",
                         host_extra="  store: {history: {max_age: 1s, max_runs: 1000, "
                                    "keep_failures: 90d}}\n")
        out = subprocess.run([JOBHOST, "history", "prune", "-c", d.manifest, "--dry-run"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("would remove %d rows" % n_good, out.stdout)
        self.assertEqual(len(runs_file(d, "good")), n_good)
        d.start()
        wait_for(lambda: len(runs(d, "good", limit=100)) == 0, what="the old successes pruned")
        self.assertEqual(len(runs(d, "bad", limit=100)), n_bad)
        self.assertEqual(d.stop(), 0)
        # shrunk again, by hand: at most 2 failures
        d.write_manifest("  - id: good\n    plugin: ok\n  - id: bad\n    plugin: fail\n",
                         host_extra="  store: {history: {max_runs: 2}}\n")
        out = subprocess.run([JOBHOST, "history", "prune", "-c", d.manifest],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("removed %d rows" % (n_bad - 2), out.stdout)
        self.assertEqual(len(runs_file(d, "bad")), 2)


def store_path(d):
    return os.path.join(d.dir, "jobhost.db")


def runs_file(d, job):
    """The job's rows, read from the file itself."""
    db = sqlite3.connect("file:%s?mode=ro" % store_path(d), uri=True)
    try:
        return db.execute("SELECT r.run_id FROM runs r JOIN jobs j ON j.job = r.job "
                          "WHERE j.id = ?", (job,)).fetchall()
    finally:
        db.close()


class Faults(DaemonTest):
    def test_full_disk_is_survived_counted_and_recovered(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a tmpfs needs root")
        mnt = tempfile.mkdtemp(prefix="jobhost-full-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt], check=True)

        def unmount():
            subprocess.run(["umount", "-l", mnt], check=False)
            os.rmdir(mnt)
        self.addCleanup(unmount)
        d = self.daemon("  - id: chatty\n    plugin: exec\n    trigger: {interval: 100ms}\n"
                        "    params: {command: \"seq 1 20\"}\n",
                        plugin_dir=PLUGINS,
                        host_extra="  store: {path: %s/jobhost.db}\n" % mnt)
        d.start()
        wait_for(lambda: d.metric("jobhost_store_rows_written_total") >= 5, what="rows written")
        with open(os.path.join(mnt, "filler"), "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        wait_for(lambda: d.metric('jobhost_store_errors_total{op="write"}') >= 1 and
                 d.metric("jobhost_store_up") == 0, timeout=20, what="write errors counted")
        ran = d.metric('jobhost_job_runs_total{job_id="chatty",plugin="exec",result="success"}')
        wait_for(lambda: d.metric('jobhost_job_runs_total{job_id="chatty",plugin="exec",'
                                  'result="success"}') >= ran + 5, what="jobs going on")
        self.assertTrue(d.wait_events("store_error", op="write"))
        os.unlink(os.path.join(mnt, "filler"))
        freed = time.time()
        wait_for(lambda: d.metric("jobhost_store_up") == 1, timeout=20, what="the store back")
        wait_for(lambda: ts(runs(d, "chatty")[0]["started"]) > freed, timeout=20,
                 what="runs written again")
        self.assertTrue(d.wait_events("store_recovered"))
        self.assertEqual(d.stop(), 0)

    def test_a_corrupted_file_is_refused_and_left_alone(self):
        d = self.daemon("  - id: tick\n    plugin: ok\n    trigger: {interval: 1s}\n")
        junk = os.urandom(3000) + b"not a database" * 100
        with open(store_path(d), "wb") as f:
            f.write(junk)
        d.start(wait_ready=False)
        self.assertEqual(d.proc.wait(timeout=20 * SLOW), 1)
        self.assertIn(store_path(d), d.stderr_text())
        self.assertIn("not a jobhost run store", d.stderr_text())
        with open(store_path(d), "rb") as f:
            self.assertEqual(f.read(), junk)

    def test_a_second_daemon_on_the_same_file_is_refused(self):
        first = self.start("  - id: tick\n    plugin: ok\n    trigger: {interval: 1s}\n")
        second = self.daemon("  - id: tick\n    plugin: ok\n    trigger: {interval: 1s}\n",
                             host_extra="  store: {path: %s}\n" % store_path(first))
        second.start(wait_ready=False)
        self.assertEqual(second.proc.wait(timeout=20 * SLOW), 1)
        self.assertIn("in use by another jobhost daemon (pid %d" % first.proc.pid,
                      second.stderr_text())
        self.assertTrue(first.ready())

    def test_a_file_of_the_previous_schema_is_migrated(self):
        # the fixture's runs are from 2026-11-01: no age limit, or they go
        d = self.daemon("  - id: legacy\n    plugin: ok\n  - id: paused-one\n    plugin: ok\n",
                        host_extra="  store: {history: {max_age: 0}}\n")
        db = sqlite3.connect(store_path(d))
        with open(FIXTURE_V1) as f:
            db.executescript(f.read())
        db.close()
        d.start()
        legacy = runs(d, "legacy")
        self.assertEqual([r["result"] for r in legacy], ["skipped", "success", "failure",
                                                        "success"])
        self.assertEqual(legacy[2]["error"], "disk full")
        self.assertEqual(legacy[1]["plugin"]["name"], "ok")
        self.assertEqual(job_state(d, "legacy")["last_run"]["run_id"], legacy[1]["run_id"])
        self.assertTrue(job_state(d, "paused-one")["paused"])
        db = sqlite3.connect("file:%s?mode=ro" % store_path(d), uri=True)
        self.assertEqual(db.execute("PRAGMA user_version").fetchone()[0], 3)
        db.close()

    def test_a_file_of_a_newer_jobhost_is_refused(self):
        d = self.daemon("  - id: tick\n    plugin: ok\n")
        db = sqlite3.connect(store_path(d))
        with open(FIXTURE_V1) as f:
            db.executescript(f.read())
        db.execute("PRAGMA user_version = 7")
        db.close()
        with open(store_path(d), "rb") as f:
            before = f.read()
        d.start(wait_ready=False)
        self.assertEqual(d.proc.wait(timeout=20 * SLOW), 1)
        self.assertIn("written by a newer jobhost (store schema 7", d.stderr_text())
        with open(store_path(d), "rb") as f:
            self.assertEqual(f.read(), before)


class Output(DaemonTest):
    def test_output_is_kept_capped_and_marked(self):
        d = self.start("  - id: chatty\n    plugin: exec\n    params: {command: \"seq 1 5000\"}\n",
                       plugin_dir=PLUGINS,
                       host_extra="  store: {history: {output_max: 2KiB}}\n")
        status, _, body = d.post("/api/v1/jobs/chatty/run")
        self.assertEqual(status, 202)
        run_id = json.loads(body)["run_id"]
        row = wait_for(lambda: (lambda r: r if r[0] == 200 and json.loads(r[1])["result"]
                                else None)(d.get("/api/v1/runs/" + run_id)), what="the run")
        run = json.loads(row[1])
        self.assertEqual(run["trigger"], "manual")
        self.assertIsNone(run["scheduled"])
        out = run["output"]
        lines = [r for r in out if r["event"] == "output"]
        self.assertGreater(len(lines), 10)
        self.assertEqual(lines[0]["pairs"], {"stream": "stdout", "line": "1"})
        self.assertEqual(lines[0]["level"], "info")
        self.assertEqual(out[-1]["event"], "output_truncated")
        self.assertGreater(int(out[-1]["pairs"]["dropped_records"]), 4000)
        status, body = d.get("/api/v1/runs/%s/output" % run_id)
        self.assertEqual(status, 200)
        self.assertEqual(len(body.decode().splitlines()), len(out))
        # errors the API answers
        self.assertEqual(d.get("/api/v1/runs/ffffffffffffffff")[0], 404)
        self.assertEqual(d.get("/api/v1/jobs/chatty/runs?limit=0")[0], 400)
        self.assertEqual(d.get("/api/v1/jobs/chatty/runs?result=maybe")[0], 400)
        self.assertEqual(d.get("/api/v1/jobs/chatty/runs?before=xyz")[0], 400)
        self.assertEqual(d.get("/api/v1/jobs/nobody/runs")[0], 404)

    def test_follow_streams_a_running_runs_output(self):
        d = self.start("  - id: slowly\n    plugin: exec\n"
                       "    params: {command: \"for i in 1 2 3 4; do echo line$i; sleep 0.4; done\"}\n",
                       plugin_dir=PLUGINS)
        status, _, body = d.post("/api/v1/jobs/slowly/run")
        self.assertEqual(status, 202)
        run_id = json.loads(body)["run_id"]
        wait_for(lambda: d.get("/api/v1/runs/" + run_id)[0] == 200, what="the run in history")
        t0 = time.monotonic()
        with urllib.request.urlopen(d.url("/api/v1/runs/%s/output?follow=true" % run_id),
                                    timeout=30 * SLOW) as r:
            self.assertEqual(r.headers.get("Content-Type"), "application/x-ndjson")
            first = json.loads(r.readline())
            first_at = time.monotonic() - t0
            # the run is still going when its first line arrives
            self.assertIsNone(json.loads(d.get("/api/v1/runs/" + run_id)[1])["result"])
            rest = [json.loads(line) for line in r]
        lines = [rec["pairs"]["line"] for rec in [first] + rest if rec["event"] == "output"]
        self.assertEqual(lines, ["line1", "line2", "line3", "line4"])
        self.assertLess(first_at, 1.2 * SLOW)
        # the stream ended with the run
        self.assertEqual(json.loads(d.get("/api/v1/runs/" + run_id)[1])["result"], "success")

    def test_history_command_reads_beside_the_daemon(self):
        d = self.start("  - id: tick\n    plugin: ok\n    trigger: {interval: 100ms}\n")
        wait_for(lambda: len(runs(d, "tick")) >= 3, what="runs")
        out = subprocess.run([JOBHOST, "history", "tick", "-c", d.manifest, "--json",
                              "--limit", "2"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        doc = json.loads(out.stdout)
        self.assertEqual(doc["job_id"], "tick")
        self.assertEqual(len(doc["runs"]), 2)
        self.assertEqual(doc["runs"][0]["result"], "success")
        out = subprocess.run([JOBHOST, "history", "tick", "-c", d.manifest],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("RUN_ID", out.stdout.splitlines()[0])
        self.assertIn("success", out.stdout)
        out = subprocess.run([JOBHOST, "history", "nobody", "-c", d.manifest],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 1)


if __name__ == "__main__":
    main()
