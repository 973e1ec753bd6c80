"""Every process accounted for: worker processes are named apart from the
daemon and ignore the daemon's signals, the daemon kills the ones it gives
up on at stop, none outlives it (the harness checks that after every test),
and host.pid_file names the daemon while it runs."""
import os
import signal
import subprocess
import time

from harness import DaemonTest, main, wait_for, SLOW

ISOLATED = ("  - id: iso\n    plugin: ok\n    trigger: {interval: 200ms}\n"
            "    isolation: process\n")


class Processes(DaemonTest):
    def test_workers_are_named_apart_and_ignore_daemon_signals(self):
        d = self.start(ISOLATED)
        wait_for(lambda: d.worker_pids(), what="a worker process")
        worker = d.worker_pids()[0]

        def comm():
            with open("/proc/%d/comm" % worker) as f:
                return f.read().strip()
        # named as soon as it runs (before that the kernel says "exe")
        wait_for(lambda: comm() == "jobhost-worker", what="the worker's name")
        pids = subprocess.run(["pidof", "jobhost"], capture_output=True, text=True).stdout.split()
        self.assertIn(str(d.proc.pid), pids)
        self.assertNotIn(str(worker), pids)
        # what `pkill jobhost` or a stray HUP would do to a worker: nothing
        for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGINT):
            os.kill(worker, sig)
        time.sleep(0.3)
        self.assertIn(worker, d.worker_pids())
        done = len(d.events("job_finished", job="iso"))
        wait_for(lambda: len(d.events("job_finished", job="iso")) >= done + 3, what="more runs")
        results = {r["result"] for r in d.events("job_finished", job="iso")}
        self.assertEqual(results, {"success"})
        # signalled by its pid, the daemon reloads and its workers go on
        d.send(signal.SIGHUP)
        d.wait_events("reload_applied")
        self.assertEqual(d.stop(), 0)

    def test_worker_ignoring_sigterm_is_killed_at_stop(self):
        d = self.daemon("  - id: stubborn\n    plugin: crash\n    trigger: {interval: 100ms}\n"
                        "    isolation: process\n    params: {how: hang}\n")
        with open(d.manifest) as f:
            text = f.read().replace("shutdown_timeout: 10s", "shutdown_timeout: 300ms")
        with open(d.manifest, "w") as f:
            f.write(text)
        d.start()
        wait_for(lambda: d.events("job_started", job="stubborn"), what="the run to start")
        wait_for(lambda: d.worker_pids(), what="its worker")
        worker = d.worker_pids()[0]
        t0 = time.monotonic()
        self.assertEqual(d.stop(), 1)  # runs were abandoned
        self.assertLess(time.monotonic() - t0, 15 * SLOW)
        abandoned = d.events("run_abandoned", job="stubborn")
        self.assertEqual(len(abandoned), 1)
        self.assertTrue(abandoned[0]["run_id"])
        wait_for(lambda: worker not in d.worker_pids(), timeout=5, what="the worker to be gone")

    def test_pid_file(self):
        d = self.daemon("  - id: tick\n    plugin: ok\n    trigger: {interval: 1h}\n")
        pid_file = os.path.join(d.dir, "jobhost.pid")
        d.write_manifest("  - id: tick\n    plugin: ok\n    trigger: {interval: 1h}\n",
                         host_extra="  pid_file: %s\n" % pid_file)
        d.start()
        with open(pid_file) as f:
            self.assertEqual(f.read(), "%d\n" % d.proc.pid)
        os.kill(int(open(pid_file).read()), signal.SIGHUP)
        d.wait_events("reload_applied")
        self.assertEqual(d.stop(), 0)
        self.assertFalse(os.path.exists(pid_file))

    def test_pid_file_symlink_refused_before_any_run(self):
        d = self.daemon("  - id: tick\n    plugin: ok\n    trigger: {interval: 10ms}\n")
        pid_file = os.path.join(d.dir, "jobhost.pid")
        target = os.path.join(d.dir, "victim")
        with open(target, "w") as f:
            f.write("precious\n")
        os.symlink(target, pid_file)
        d.write_manifest("  - id: tick\n    plugin: ok\n    trigger: {interval: 10ms}\n",
                         host_extra="  pid_file: %s\n" % pid_file)
        d.start(wait_ready=False)
        self.assertEqual(d.proc.wait(timeout=15 * SLOW), 1)
        self.assertIn("symbolic link", d.stderr_text())
        with open(target) as f:
            self.assertEqual(f.read(), "precious\n")
        self.assertEqual(d.events("job_started"), [])


if __name__ == "__main__":
    main()
