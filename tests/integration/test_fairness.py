"""No job late behind another: a slow run beside quick ones on few workers,
measured the way an operator would, from the daemon's own
jobhost_job_start_delay_seconds histogram; a thread-mode run that ignores
its timeout is written off as stuck while the others go on."""
import os
import socket

from harness import PLUGINS, DaemonTest, main, wait_for, SLOW


def delay_over(m, job, bound):
    """Runs of `job` that started later than `bound` seconds after their
    time, from the start-delay histogram."""
    total = m.get('jobhost_job_start_delay_seconds_count{job_id="%s"}' % job, 0)
    within = m.get('jobhost_job_start_delay_seconds_bucket{job_id="%s",le="%s"}' % (job, bound), 0)
    return total - within, total


class Fairness(DaemonTest):
    def test_quick_jobs_are_not_late_behind_a_slow_one(self):
        jobs = ("  - id: slow\n    plugin: exec\n    trigger: {cron: \"* * * * * *\"}\n"
                "    params: {command: \"sleep 3\"}\n")
        for i in range(5):
            jobs += ("  - id: quick%d\n    plugin: exec\n    trigger: {cron: \"* * * * * *\"}\n"
                     "    params: {command: \"true\"}\n" % i)
        d = self.start(jobs, plugin_dir=PLUGINS, workers=2, level="info")
        wait_for(lambda: d.metric('jobhost_job_runs_total{job_id="quick0",plugin="exec",result="success"}')
                 >= 5, timeout=20, what="five quick runs")
        m = d.metrics()
        for i in range(5):
            late, total = delay_over(m, "quick%d" % i, "0.05")
            self.assertGreaterEqual(total, 5)
            self.assertEqual(late, 0, "quick%d started over 50 ms late %d times of %d" % (i, late, total))
            for reason in ("misfire", "max_instances"):
                self.assertEqual(m.get('jobhost_job_skipped_total{job_id="quick%d",reason="%s"}'
                                       % (i, reason), 0), 0)

    def test_stuck_run_is_written_off_and_others_keep_running(self):
        jobs = ("  - id: stuck\n    plugin: crash\n    trigger: {interval: 100ms}\n"
                "    timeout: 200ms\n    params: {how: hang}\n"
                "  - id: tick\n    plugin: ok\n    trigger: {interval: 100ms}\n")
        d = self.daemon(jobs, workers=1, host_extra="  stuck_grace: 300ms\n")
        d.start()
        rec = d.wait_events("job_stuck", job="stuck")[0]
        self.assertEqual(rec["result"], "timeout")
        self.assertIn("written off", rec["error"])
        job = d.get("/api/v1/jobs/stuck")
        self.assertIn(b'"stuck":', job[1])
        before = d.metric('jobhost_job_runs_total{job_id="tick",plugin="ok",result="success"}')
        wait_for(lambda: d.metric('jobhost_job_runs_total{job_id="tick",plugin="ok",result="success"}')
                 >= before + 3, what="tick on the replacement worker")
        self.assertGreaterEqual(d.metric("jobhost_executor_stuck_workers"), 1)
        # the hung plugin never returns: the stop abandons it, naming it
        self.assertEqual(d.stop(), 1)
        self.assertTrue(d.events("run_abandoned", job="stuck"))


class StartUp(DaemonTest):
    def test_a_taken_port_fails_start_before_any_run(self):
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        self.addCleanup(taken.close)
        d = self.daemon("  - id: tick\n    plugin: ok\n    trigger: {interval: 10ms}\n")
        d.port = taken.getsockname()[1]
        d.write_manifest("  - id: tick\n    plugin: ok\n    trigger: {interval: 10ms}\n")
        d.start(wait_ready=False)
        self.assertEqual(d.proc.wait(timeout=15 * SLOW), 1)
        self.assertIn("Address already in use", d.stderr_text())
        self.assertEqual(d.events("job_started"), [])


if __name__ == "__main__":
    main()
