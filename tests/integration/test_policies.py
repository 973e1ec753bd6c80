"""Job policies with the real daemon: retries of failed runs (attempts,
backoff delays, what is never retried, a waiting retry across a reload and
a restart, dropped when a reload removes the job); each concurrency policy
against a job slower than its interval."""
import json
import time

from harness import PLUGINS, SLOW, DaemonTest, main, ts, wait_for


def runs(d, job):
    status, body = d.get("/api/v1/jobs/%s/runs?limit=1000" % job)
    assert status == 200, (status, body)
    return [r for r in json.loads(body)["runs"] if r["result"] != "skipped"]


def job_state(d, job):
    status, body = d.get("/api/v1/jobs/" + job)
    assert status == 200, (status, body)
    return json.loads(body)


FAILING = ("  - id: flaky\n    plugin: exec\n    trigger: {interval: 1h}\n"
           "    params: {command: \"exit 3\"}\n"
           "    retry: {limit: 2, delay: 200ms, backoff: 2}\n")


class Retries(DaemonTest):
    def run_now(self, d, job):
        status, _, body = d.post("/api/v1/jobs/%s/run" % job)
        self.assertIn(status, (200, 202), body)

    def test_three_attempts_with_backoff(self):
        d = self.start(FAILING, plugin_dir=PLUGINS)
        self.run_now(d, "flaky")
        done = wait_for(lambda: len(runs(d, "flaky")) >= 3 and
                        all(r["finished"] for r in runs(d, "flaky")) and runs(d, "flaky"),
                        what="three attempts")
        time.sleep(1.0 * SLOW)  # a fourth would have come by now (delay 800 ms)
        got = sorted(runs(d, "flaky"), key=lambda r: r["attempt"])
        self.assertEqual(len(got), 3, got)
        self.assertEqual([r["attempt"] for r in got], [1, 2, 3])
        self.assertEqual([r["trigger"] for r in got], ["manual", "retry", "retry"])
        self.assertTrue(all(r["result"] == "failure" for r in got))
        gap1 = ts(got[1]["started"]) - ts(got[0]["finished"])
        gap2 = ts(got[2]["started"]) - ts(got[1]["finished"])
        # (the API's times as floats: a microsecond of slack)
        self.assertGreaterEqual(gap1, 0.2 - 1e-6)
        self.assertGreaterEqual(gap2, 0.4 - 1e-6)
        self.assertLess(gap1, 0.4 + 1.0 * SLOW)
        m = d.metrics()
        self.assertEqual(m['jobhost_job_retries_total{job_id="flaky"}'], 2)
        self.assertEqual(m['jobhost_job_runs_total{job_id="flaky",plugin="exec",result="failure"}'],
                         3)
        # the records: each retry planned, then the last attempt gives up
        planned = d.events("retry_planned", job="flaky")
        self.assertEqual([r["next_attempt"] for r in planned], ["2", "3"])
        self.assertEqual(len(d.wait_events("retries_exhausted", job="flaky")), 1)
        started = d.events("job_started", job="flaky", trigger="retry")
        self.assertEqual([r["attempt"] for r in started], ["2", "3"])
        state = job_state(d, "flaky")
        self.assertEqual(state["retry"]["limit"], 2)
        self.assertEqual(state["retry"]["backoff"], 2)
        self.assertIsNone(state["pending_retry"])
        del done

    def test_success_and_dry_runs_are_not_retried(self):
        d = self.start("  - id: good\n    plugin: exec\n    trigger: {interval: 1h}\n"
                       "    params: {command: \"true\"}\n"
                       "    retry: {limit: 2, delay: 100ms}\n", plugin_dir=PLUGINS,
                       args=["--dry-run"])
        self.run_now(d, "good")
        wait_for(lambda: d.events("job_finished", job="good"), what="a run")
        time.sleep(0.5 * SLOW)
        self.assertEqual(len(d.events("job_started", job="good")), 1)
        self.assertEqual(d.events("retry_planned"), [])

    def test_a_cancelled_run_is_not_retried(self):
        # a slow failing job stopped by the shutdown: cancelled, not retried
        d = self.daemon("  - id: slow\n    plugin: exec\n    trigger: {interval: 1h}\n"
                        "    params: {command: \"sleep 30\"}\n"
                        "    retry: {limit: 2, delay: 100ms}\n", plugin_dir=PLUGINS)
        with open(d.manifest) as f:
            text = f.read().replace("shutdown_timeout: 10s", "shutdown_timeout: 200ms")
        with open(d.manifest, "w") as f:
            f.write(text)
        d.start()
        self.run_now(d, "slow")
        wait_for(lambda: d.events("job_started", job="slow"), what="the run started")
        d.stop()
        self.assertEqual(d.events("job_finished", job="slow")[0]["result"], "cancelled")
        self.assertEqual(d.events("retry_planned"), [])

    def test_waiting_retry_survives_reload_and_restart(self):
        slow = FAILING.replace("delay: 200ms, backoff: 2", "delay: 3s")
        d = self.start(slow, plugin_dir=PLUGINS)
        self.run_now(d, "flaky")
        pending = wait_for(lambda: job_state(d, "flaky")["pending_retry"], what="a waiting retry")
        self.assertEqual(pending["attempt"], 2)
        # a reload that keeps the job (another job added) keeps the retry
        d.write_manifest(slow + "  - id: other\n    plugin: exec\n    params: {command: \"true\"}\n")
        status, _, body = d.post("/-/reload")
        self.assertEqual(status, 200, body)
        self.assertEqual(job_state(d, "flaky")["pending_retry"], pending)
        # a restart takes it back from the store, due when it was
        wait_for(lambda: len(runs(d, "flaky")) == 1 and runs(d, "flaky")[0]["finished"],
                 what="the first attempt in history")
        self.assertEqual(d.stop(), 0)
        d.start()
        again = job_state(d, "flaky")["pending_retry"]
        self.assertEqual(again["attempt"], 2)
        self.assertAlmostEqual(ts(again["due"]), ts(pending["due"]), delta=0.01)
        wait_for(lambda: len(runs(d, "flaky")) == 2, timeout=10, what="the retry after restart")
        second = sorted(runs(d, "flaky"), key=lambda r: r["attempt"])[1]
        self.assertEqual((second["attempt"], second["trigger"]), (2, "retry"))
        self.assertGreaterEqual(ts(second["started"]), ts(pending["due"]) - 0.005)

    def test_reload_removing_the_job_drops_its_retry(self):
        slow = FAILING.replace("delay: 200ms, backoff: 2", "delay: 2s")
        d = self.start(slow + "  - id: other\n    plugin: exec\n    params: {command: \"true\"}\n",
                       plugin_dir=PLUGINS)
        self.run_now(d, "flaky")
        wait_for(lambda: job_state(d, "flaky")["pending_retry"], what="a waiting retry")
        d.write_manifest("  - id: other\n    plugin: exec\n    params: {command: \"true\"}\n")
        status, _, body = d.post("/-/reload")
        self.assertEqual(status, 200, body)
        dropped = d.wait_events("retry_dropped", job="flaky")
        self.assertEqual(dropped[0]["attempt"], "2")
        self.assertIn("left the configuration", dropped[0]["reason"])
        time.sleep(2.5 * SLOW)
        self.assertEqual(len(d.events("job_started", job="flaky")), 1)

    def test_check_names_the_position(self):
        d = self.daemon("  - id: bad\n    plugin: exec\n    params: {command: \"true\"}\n"
                        "    retry: {limit: 0, delay: 1s, backoff: 0.5, jitter: -1s}\n",
                        plugin_dir=PLUGINS)
        import subprocess
        from harness import JOBHOST
        out = subprocess.run([JOBHOST, "check", "-c", d.manifest], capture_output=True, text=True)
        self.assertEqual(out.returncode, 1)
        self.assertIn("jobs[0].retry.limit", out.stderr + out.stdout)
        self.assertIn("jobs[0].retry.backoff", out.stderr + out.stdout)
        self.assertRegex(out.stderr + out.stdout, r"jobhost\.yaml:\d+:\d+: jobs\[0\]\.retry\.limit")


def slow_job(policy, extra=""):
    """A 600 ms run fired every 200 ms."""
    return ("  - id: slow\n    plugin: sleep\n    trigger: {interval: 200ms}\n"
            "    params: {duration: 600ms}\n" + (
                "    concurrency: %s\n" % policy if policy else "") + extra)


class Concurrency(DaemonTest):
    def settle(self, d, seconds=2.0):
        time.sleep(seconds * SLOW)
        self.assertEqual(d.stop(), 0)
        return d.events("job_started", job="slow"), d.events("job_finished", job="slow")

    def test_forbid_is_the_default(self):
        d = self.start(slow_job(None))
        self.assertEqual(job_state(d, "slow")["concurrency"], "forbid")
        m = wait_for(lambda: d.metric('jobhost_job_skipped_total{job_id="slow",'
                                      'reason="max_instances"}') >= 2 and d.metrics(),
                     what="skips")
        self.assertNotIn('jobhost_job_concurrency_total{job_id="slow",action="queued"}', m)
        started, finished = self.settle(d)
        self.assertTrue(all(r["result"] == "success" for r in finished), finished)
        # never two at once: each run starts after the one before ended
        self.assertGreaterEqual(len(started), 2)
        self.assertEqual(d.events("job_queued"), [])

    def test_allow_runs_up_to_max_instances(self):
        d = self.start(slow_job("allow", "    max_instances: 3\n"), workers=4)
        wait_for(lambda: job_state(d, "slow")["running"] == 3, what="three at once")
        self.assertLessEqual(max(job_state(d, "slow")["running"] for _ in range(20)), 3)
        self.settle(d, 0.5)

    def test_forbid_with_more_instances_is_refused(self):
        import subprocess
        from harness import JOBHOST
        d = self.daemon(slow_job("forbid", "    max_instances: 2\n"))
        out = subprocess.run([JOBHOST, "check", "-c", d.manifest], capture_output=True, text=True)
        self.assertEqual(out.returncode, 1)
        self.assertRegex(out.stderr, r"jobhost\.yaml:\d+:\d+: jobs\[0\]\.concurrency: forbid "
                                     r"runs one at a time")

    def test_queue_keeps_one_waiting(self):
        d = self.start(slow_job("queue"))
        wait_for(lambda: len(d.events("job_finished", job="slow")) >= 3, what="three runs")
        m = d.metrics()
        self.assertGreaterEqual(m['jobhost_job_concurrency_total{job_id="slow",action="queued"}'], 2)
        self.assertGreaterEqual(m['jobhost_job_skipped_total{job_id="slow",reason="queued"}'], 2)
        self.assertEqual(m['jobhost_job_skipped_total{job_id="slow",reason="max_instances"}'], 0)
        started, finished = self.settle(d, 0.1)
        # back to back: a waiting firing starts as soon as the run before ends
        ends = [ts(r["ts"]) for r in finished]
        starts = [ts(r["ts"]) for r in started]
        for end, start in zip(ends, starts[1:]):
            self.assertLess(start - end, 0.1 * SLOW + 0.05)
        self.assertTrue(d.events("job_queued", job="slow"))
        skipped = [r for r in d.events("job_skipped", job="slow") if r["reason"] == "queued"]
        self.assertTrue(skipped)
        self.assertTrue(all(r["result"] == "success" for r in finished))

    def test_replace_cancels_the_running_one(self):
        d = self.start(slow_job("replace"))
        wait_for(lambda: len(d.events("job_finished", job="slow")) >= 3, what="three runs")
        m = d.metrics()
        self.assertGreaterEqual(m['jobhost_job_concurrency_total{job_id="slow",action="replaced"}'],
                                2)
        self.assertGreaterEqual(
            m['jobhost_job_runs_total{job_id="slow",plugin="sleep",result="cancelled"}'], 2)
        started, finished = self.settle(d, 0.1)
        replaced = [r for r in finished if r["result"] == "cancelled"]
        self.assertTrue(replaced)
        self.assertIn("replaced by a newer firing", replaced[0]["error"])
        # a replaced run lasts about an interval, not its full 600 ms
        self.assertLess(float(replaced[0]["duration_ms"]), 450)
        self.assertTrue(d.events("job_replaced", job="slow"))


class Chains(DaemonTest):
    def test_after_success_and_failure(self):
        d = self.start("  - id: a\n    plugin: ok\n"
                       "  - id: bad\n    plugin: fail\n"
                       "  - id: on-ok\n    plugin: ok\n    trigger: {after: a}\n"
                       "  - id: on-fail\n    plugin: ok\n    trigger: {after: bad, on: failure}\n"
                       "  - id: never\n    plugin: ok\n    trigger: {after: bad, on: success}\n"
                       "  - id: always\n    plugin: ok\n    trigger: {after: [bad], on: always}\n")
        for job in ("a", "bad"):
            status, _, body = d.post("/api/v1/jobs/%s/run" % job)
            self.assertEqual(status, 202, body)
        wait_for(lambda: d.events("job_finished", job="on-ok") and
                 d.events("job_finished", job="on-fail") and
                 d.events("job_finished", job="always"), what="the chained runs")
        parent_a = d.events("job_started", job="a")[0]["run_id"]
        parent_bad = d.events("job_started", job="bad")[0]["run_id"]
        child = d.events("job_started", job="on-ok")[0]
        self.assertEqual((child["trigger"], child["parent_run_id"]), ("after", parent_a))
        self.assertEqual(d.events("job_started", job="on-fail")[0]["parent_run_id"], parent_bad)
        self.assertEqual(d.events("job_started", job="always")[0]["parent_run_id"], parent_bad)
        time.sleep(0.3 * SLOW)
        self.assertEqual(d.events("job_started", job="never"), [])
        self.assertEqual(job_state(d, "on-ok")["trigger"], "after a (success)")
        self.assertEqual(job_state(d, "on-ok")["after"], {"jobs": ["a"], "on": "success"})
        # history: the trigger, and the parent's run id
        row = wait_for(lambda: [r for r in runs(d, "on-ok") if r["finished"]], what="history")[0]
        self.assertEqual(row["trigger"], "after")
        self.assertEqual(row["parent_run_id"], parent_a)

    def test_fan_in_waits_for_every_parent(self):
        d = self.start("  - id: x\n    plugin: ok\n"
                       "  - id: y\n    plugin: ok\n"
                       "  - id: join\n    plugin: ok\n    trigger: {after: [x, y]}\n")
        d.post("/api/v1/jobs/x/run")
        wait_for(lambda: d.events("job_finished", job="x"), what="x")
        d.post("/api/v1/jobs/x/run")  # x twice: still waits for y
        wait_for(lambda: len(d.events("job_finished", job="x")) == 2, what="x again")
        time.sleep(0.3 * SLOW)
        self.assertEqual(d.events("job_started", job="join"), [])
        d.post("/api/v1/jobs/y/run")
        wait_for(lambda: d.events("job_finished", job="join"), what="the join")
        parent_y = d.events("job_started", job="y")[0]["run_id"]
        self.assertEqual(d.events("job_started", job="join")[0]["parent_run_id"], parent_y)
        # and it starts afresh: y alone does not run it again
        d.post("/api/v1/jobs/y/run")
        wait_for(lambda: len(d.events("job_finished", job="y")) == 2, what="y again")
        time.sleep(0.3 * SLOW)
        self.assertEqual(len(d.events("job_started", job="join")), 1)

    def test_check_refuses_unknown_jobs_and_cycles(self):
        import subprocess
        from harness import JOBHOST

        def check(jobs):
            d = self.daemon(jobs)
            out = subprocess.run([JOBHOST, "check", "-c", d.manifest], capture_output=True,
                                 text=True)
            self.assertEqual(out.returncode, 1, out.stdout)
            return out.stderr

        err = check("  - id: b\n    plugin: ok\n    trigger: {after: nosuch}\n")
        self.assertRegex(err, r"jobhost\.yaml:\d+:\d+: jobs\[0\]\.trigger\.after: no job "
                              r"with id \"nosuch\"")
        err = check("  - id: a\n    plugin: ok\n    trigger: {after: c}\n"
                    "  - id: b\n    plugin: ok\n    trigger: {after: a}\n"
                    "  - id: c\n    plugin: ok\n    trigger: {after: [x0, b]}\n"
                    "  - id: x0\n    plugin: ok\n")
        self.assertRegex(err, r"jobs\[\d\]\.trigger\.after: a cycle of chained jobs")
        err = check("  - id: a\n    plugin: ok\n    trigger: {after: a}\n")
        self.assertIn("a job cannot run after itself", err)


AT_START = ("  - id: boot\n    plugin: exec\n    trigger: {at_start: true}\n"
            "    params: {command: \"true\"}\n"
            "  - id: boot-and-hourly\n    plugin: exec\n"
            "    trigger: {interval: 1h, at_start: true}\n    params: {command: \"true\"}\n"
            "  - id: plain\n    plugin: exec\n    trigger: {interval: 1h}\n"
            "    params: {command: \"true\"}\n")


class AtStart(DaemonTest):
    def test_runs_once_at_each_start_never_at_a_reload(self):
        d = self.start(AT_START, plugin_dir=PLUGINS)
        for job in ("boot", "boot-and-hourly"):
            got = wait_for(lambda: runs(d, job) and runs(d, job)[0]["finished"] and runs(d, job),
                           what="%s run at start" % job)
            self.assertEqual([(r["trigger"], r["result"]) for r in got],
                             [("at_start", "success")])
        self.assertEqual(runs(d, "plain"), [])
        self.assertEqual(job_state(d, "boot-and-hourly")["trigger"], "every 1h, and at start")
        # a reload, even one that adds an at_start job, starts nothing
        d.write_manifest(AT_START + "  - id: added\n    plugin: exec\n"
                         "    trigger: {at_start: true}\n    params: {command: \"true\"}\n")
        status, _, body = d.post("/-/reload")
        self.assertEqual(status, 200, body)
        time.sleep(0.5 * SLOW)
        self.assertEqual(len(runs(d, "boot")), 1)
        self.assertEqual(runs(d, "added"), [])
        # the next start runs them again, the added one too
        self.assertEqual(d.stop(), 0)
        d.start()
        for job, n in (("boot", 2), ("added", 1)):
            wait_for(lambda: len([r for r in runs(d, job) if r["finished"]]) == n,
                     what="%s at the second start" % job)

    def test_a_paused_job_does_not_run_at_start(self):
        d = self.start(AT_START, plugin_dir=PLUGINS)
        wait_for(lambda: runs(d, "boot"), what="the first start's run")
        status, _, body = d.post("/api/v1/jobs/boot/pause")
        self.assertIn(status, (200, 202), body)
        self.assertEqual(d.stop(), 0)
        d.start()
        wait_for(lambda: len(runs(d, "boot-and-hourly")) == 2, what="the other one's run")
        self.assertEqual(len(runs(d, "boot")), 1)


if __name__ == "__main__":
    main()
