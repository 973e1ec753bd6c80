"""Faults from outside: signal storms and plugin files changing under a
reload. Each test checks that the host keeps firing the other jobs and
that /metrics stays consistent."""
import json
import os
import shutil
import signal
import tempfile
import threading
import time

from harness import FIXTURES, SANITIZED, DaemonTest, main, wait_for

JOBS = ("  - id: tick\n    plugin: ok\n    trigger: {interval: 50ms}\n"
        "  - id: nap\n    plugin: sleep\n    trigger: {interval: 100ms}\n"
        "    max_instances: 2\n    params: {duration: 150ms}\n")


def consistent(metrics):
    """Every job's runs add up to its histogram count."""
    for key, value in metrics.items():
        if key.startswith("jobhost_job_duration_seconds_count{"):
            job = key[key.index("{"):]
            runs = sum(v for k, v in metrics.items()
                       if k.startswith("jobhost_job_runs_total{job_id=%s" % job[len("{job_id="):-1]))
            if runs != value:
                return False
    return True


class Faults(DaemonTest):
    def ticks(self, d):
        return d.metric('jobhost_job_runs_total{job_id="tick",plugin="ok",result="success"}')

    def test_thousand_sighups_during_runs(self):
        d = self.start(JOBS, level="info")
        wait_for(lambda: self.ticks(d) >= 2, what="runs")
        n = 300 if SANITIZED else 1000
        for _ in range(n):
            d.send(signal.SIGHUP)
        before = self.ticks(d)
        wait_for(lambda: self.ticks(d) >= before + 5, what="tick to keep firing")
        # coalesced: far fewer reloads than signals, and at least one
        applied = d.metric('jobhost_reloads_total{result="success"}')
        self.assertGreaterEqual(applied, 1)
        self.assertLess(applied, n)
        self.assertEqual(d.metric('jobhost_reloads_total{result="failure"}'), 0)
        m = d.metrics()
        self.assertTrue(consistent(m), m)
        self.assertEqual(d.stop(), 0)
        self.assertEqual(d.events("job_started").__len__(), d.events("job_finished").__len__())

    def test_reload_while_plugin_dir_is_written(self):
        plugins = tempfile.mkdtemp(prefix="jobhost-plugins-")
        self.addCleanup(shutil.rmtree, plugins, True)
        os.chmod(plugins, 0o755)
        for name in ("ok", "sleep"):
            shutil.copyfile(os.path.join(FIXTURES, name + ".so"), os.path.join(plugins, name + ".so"))
        v1 = open(os.path.join(FIXTURES, "versioned_v1.so"), "rb").read()
        v2 = open(os.path.join(FIXTURES, "versioned_v2.so"), "rb").read()
        target = os.path.join(plugins, "versioned.so")
        with open(target, "wb") as f:
            f.write(v1)
        for p in os.listdir(plugins):
            os.chmod(os.path.join(plugins, p), 0o755)
        d = self.start(JOBS + "  - id: ver\n    plugin: versioned\n    trigger: {interval: 50ms}\n",
                       plugin_dir=plugins)

        stop = threading.Event()

        def writer():
            # rewrite the file in place, in pieces, as a slow `cp` would
            i = 0
            while not stop.is_set() and i < 10000:
                data = (v1, v2)[i % 2]
                with open(target, "r+b") as f:
                    f.truncate(0)
                    for off in range(0, len(data), 4096):
                        f.write(data[off:off + 4096])
                        f.flush()
                        time.sleep(0.0005)
                i += 1

        t = threading.Thread(target=writer)
        t.start()
        codes = []
        try:
            deadline = time.monotonic() + (6 if SANITIZED else 3)
            while time.monotonic() < deadline:
                status, _, body = d.post("/-/reload")
                self.assertIn(status, (200, 400), body)
                if status == 400:
                    for e in json.loads(body)["errors"]:
                        self.assertIn("versioned.so", e)
                codes.append(status)
        finally:
            stop.set()
            t.join()
        with open(target, "wb") as f:
            f.write(v2)
        status, _, body = d.post("/-/reload")
        self.assertEqual(status, 200, body)
        wait_for(lambda: d.events("job_started", job="ver", plugin_version="2.0.0"), what="v2 runs")
        before = self.ticks(d)
        wait_for(lambda: self.ticks(d) >= before + 5, what="tick to keep firing")
        self.assertTrue(consistent(d.metrics()))
        self.assertGreater(len(codes), 5)


if __name__ == "__main__":
    main()
