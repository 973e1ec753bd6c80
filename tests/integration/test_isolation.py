"""isolation: process — a plugin that crashes, exits, hangs or is killed
costs one run, never the host: every other job keeps firing and /metrics
stays correct."""
import glob
import os
import signal
import time

from harness import DaemonTest, main, wait_for

OK = "  - id: steady\n    plugin: ok\n    trigger: {interval: 100ms}\n"


def children(pid):
    """Direct child processes of pid (the worker processes)."""
    kids = set()
    for path in glob.glob("/proc/%d/task/*/children" % pid):
        try:
            with open(path) as f:
                kids.update(int(x) for x in f.read().split())
        except OSError:
            pass
    return sorted(kids)


class Isolation(DaemonTest):
    def runs(self, d, job, plugin, result):
        return d.metric('jobhost_job_runs_total{job_id="%s",plugin="%s",result="%s"}' %
                        (job, plugin, result))

    def assert_host_unharmed(self, d):
        before = self.runs(d, "steady", "ok", "success")
        wait_for(lambda: self.runs(d, "steady", "ok", "success") >= before + 3,
                 what="the other job to keep firing")
        self.assertEqual(d.get("/-/healthy")[0], 200)

    def test_crashes_are_recorded_and_contained(self):
        cases = [("segv", "segv", "worker killed by signal 11 (SEGV)"),
                 ("abrt", "abort", "worker killed by signal 6 (ABRT)"),
                 ("exits", "exit", "worker exited with status 3 (the plugin called exit)")]
        jobs = OK + "".join(
            "  - id: %s\n    plugin: crash\n    isolation: process\n"
            "    trigger: {interval: 150ms}\n    params: {how: %s}\n" % (job, how)
            for job, how, _ in cases)
        d = self.start(jobs)
        for job, _, error in cases:
            # two crashes: the first worker was replaced by a second one
            wait_for(lambda: self.runs(d, job, "crash", "crashed") >= 2, what=job + " crashes")
            rec = d.wait_events("job_finished", job=job)[0]
            self.assertEqual(rec["result"], "crashed")
            self.assertEqual(rec["error"], error)
        self.assert_host_unharmed(d)
        m = d.metrics()
        for job, _, _ in cases:
            self.assertEqual(m['jobhost_job_runs_total{job_id="%s",plugin="crash",result="success"}' % job], 0)
            # a crashed run is over: at most the next one is running
            self.assertLessEqual(m.get('jobhost_job_running{job_id="%s"}' % job, 0), 1)

    def test_hung_plugin_is_killed_at_its_timeout(self):
        d = self.start(OK + "  - id: hung\n    plugin: crash\n    isolation: process\n"
                       "    timeout: 200ms\n    trigger: {interval: 100ms}\n"
                       "    params: {how: hang}\n")
        wait_for(lambda: self.runs(d, "hung", "crash", "timeout") >= 1, timeout=20,
                 what="the hung run to be killed")
        rec = d.wait_events("job_finished", job="hung")[0]
        self.assertEqual(rec["result"], "timeout")
        self.assertEqual(rec["error"], "killed after its timeout of 200ms")
        # max_instances 1: firings during the hung run were skipped, not stacked
        self.assertGreater(d.metric('jobhost_job_skipped_total{job_id="hung",reason="max_instances"}'), 0)
        self.assert_host_unharmed(d)

    def test_worker_killed_from_outside(self):
        d = self.start(OK + "  - id: sleeper\n    plugin: sleep\n    isolation: process\n"
                       "    trigger: {interval: 100ms}\n    params: {duration: 30s}\n")
        # the worker has loaded the plugin and is running it
        started = wait_for(lambda: d.events("worker_started", job="sleeper"), what="a worker")
        wait_for(lambda: d.events("job_started", job="sleeper"), what="a run")
        os.kill(int(started[0]["pid"]), signal.SIGKILL)
        wait_for(lambda: self.runs(d, "sleeper", "sleep", "crashed") >= 1, what="the crash record")
        rec = d.wait_events("job_finished", job="sleeper")[0]
        self.assertEqual(rec["error"], "worker killed by signal 9 (KILL)")
        # and a new worker takes the next run
        wait_for(lambda: len(d.events("job_started", job="sleeper")) >= 2, what="a replacement run")
        self.assert_host_unharmed(d)

    def test_logs_and_params_cross_the_process_boundary(self):
        d = self.start("  - id: tagged\n    plugin: ok\n    isolation: process\n"
                       "    trigger: {interval: 100ms}\n    params: {tag: \"a b=c\\\"\"}\n")
        recs = wait_for(lambda: d.events("ok", job="tagged"), what="a forwarded record")
        self.assertEqual(recs[0]["tag"], 'a b=c"')
        started = d.events("job_started", job="tagged")[0]
        self.assertEqual(recs[0]["run_id"], started["run_id"])
        # workers are reused: far fewer processes than runs
        wait_for(lambda: self.runs(d, "tagged", "ok", "success") >= 5, what="5 runs")
        self.assertLessEqual(len(children(d.proc.pid)), 2)

    def test_resource_limits(self):
        d = self.start("  - id: capped\n    plugin: exec\n    isolation: process\n"
                       "    limits: {open_files: 64}\n    trigger: {interval: 200ms}\n"
                       "    params: {command: \"ulimit -n\"}\n",
                       plugin_dir=os.path.join(os.path.dirname(os.path.dirname(
                           os.path.dirname(os.path.abspath(__file__)))), "plugins"))
        out = wait_for(lambda: d.events("output", job="capped"), what="the command's output")
        self.assertEqual(out[0]["line"], "64")

    def test_stop_with_isolated_jobs_running(self):
        d = self.start(OK + "  - id: sleeper\n    plugin: sleep\n    isolation: process\n"
                       "    trigger: {interval: 100ms}\n    params: {duration: 500ms}\n")
        wait_for(lambda: d.events("job_started", job="sleeper"), what="a run")
        self.assertEqual(d.stop(), 0)
        self.assertEqual(children(d.proc.pid) if d.proc.poll() is None else [], [])
        fin = d.events("job_finished", job="sleeper")
        self.assertEqual(fin[-1]["result"], "success")


if __name__ == "__main__":
    main()
