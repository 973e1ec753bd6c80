"""Declared parameters against the real daemon: a job whose params do not
fit its plugin's declarations stops the start-up and is refused by a
reload, each problem at its place in the manifest, while the live jobs go
on; and a run, in thread or process isolation alike, sees the declared
defaults, typed values, the run information and the state its plugin's
init made."""
import json
import subprocess

from harness import JOBHOST, SLOW, DaemonTest, main, wait_for

TICK = "  - id: tick\n    plugin: ok\n    trigger: {interval: 100ms}\n"


class Params(DaemonTest):
    def test_start_refused_at_the_position(self):
        d = self.daemon(TICK + "  - id: tagged\n    plugin: ok\n    params: {tagg: x}\n")
        proc = subprocess.run([JOBHOST, "-c", d.manifest], capture_output=True, text=True,
                              timeout=30 * SLOW)
        self.assertEqual(proc.returncode, 1)
        line = [l for l in proc.stderr.splitlines() if "jobs[1].params.tagg" in l]
        self.assertEqual(line, ['%s:%d:14: jobs[1].params.tagg: unknown parameter '
                                '(did you mean "tag"?)' % (d.manifest, self.line_of(d, "{tagg"))])

    def line_of(self, d, text):
        with open(d.manifest) as f:
            for n, l in enumerate(f, 1):
                if text in l:
                    return n
        raise AssertionError(text + " not in the manifest")

    def test_reload_refused_and_nothing_lost(self):
        d = self.start(TICK)
        wait_for(lambda: d.metric('jobhost_job_runs_total{job_id="tick",plugin="ok",'
                                  'result="success"}') >= 2, what="runs")
        d.write_manifest(TICK + "  - id: t\n    plugin: typed\n"
                         "    params: {dir: srv, count: lots}\n")
        status, _, body = d.post("/-/reload")
        self.assertEqual(status, 400)
        errors = json.loads(body)["errors"]
        line = self.line_of(d, "{dir: srv")
        self.assertEqual(errors, ['%s:%d:31: jobs[1].params.count: expected a whole number, '
                                  'got "lots"' % (d.manifest, line)])
        # the types right, the plugin's own check speaks, at the value it is about
        d.write_manifest(TICK + "  - id: t\n    plugin: typed\n"
                         "    params: {dir: srv, count: 7}\n")
        status, _, body = d.post("/-/reload")
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body)["errors"],
                         ['%s:%d:19: jobs[1].params.dir: must be an absolute path' %
                          (d.manifest, line)])
        before = d.metric('jobhost_job_runs_total{job_id="tick",plugin="ok",result="success"}')
        wait_for(lambda: d.metric('jobhost_job_runs_total{job_id="tick",plugin="ok",'
                                  'result="success"}') >= before + 3, what="tick to keep firing")

    def test_defaults_run_information_and_state(self):
        jobs = "".join("  - id: t-%s\n    plugin: typed\n    isolation: %s\n    timeout: 5s\n"
                       "    trigger: {interval: 100ms}\n    params: {dir: /srv, names: [a, b]}\n" %
                       (mode, mode) for mode in ("thread", "process"))
        d = self.start(jobs)
        for mode in ("thread", "process"):
            rec = d.wait_events("typed", job="t-" + mode)[0]
            want = {"src": "plugin", "dir": "/srv", "count": "3", "enabled": "true",
                    "pause": "0.01s", "limit": "1048576", "names": "2", "ratio": "0.75",
                    "info_size": "40", "trigger_kind": "1", "scheduled_set": "true",
                    "attempt": "1", "fencing_token": "0", "timeout": "5s", "state_ok": "true"}
            self.assertEqual({k: rec.get(k) for k in want}, want, mode)
        # a reload keeps the unchanged plugin: its check runs again, with init's state
        d.write_manifest(jobs.replace("names: [a, b]", "names: [a]"))
        status, _, body = d.post("/-/reload")
        self.assertEqual(status, 200, body)


if __name__ == "__main__":
    main()
