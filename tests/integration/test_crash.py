"""A fatal signal in the daemon leaves a crash record: a thread-mode job on
the `crash` fixture writes through NULL (or aborts), the daemon dies by
that signal, and the log file and stderr both hold an event=host_crashed
record naming the job, the run and the plugin, with a backtrace -- after
the run's own job_started, which was still queued when it died.

Sanitizer builds own these signals (they report the fault themselves), so
the daemon installs no handler there and these tests skip."""
import resource
import signal

from harness import SANITIZED, DaemonTest, main, parse_logfmt, wait_for

STEADY = "  - id: steady\n    plugin: ok\n    trigger: {interval: 50ms}\n"


def crash_job(how):
    return ("  - id: boom\n    plugin: crash\n    trigger: {interval: 300ms}\n"
            "    params: {how: %s}\n" % how)


class Crash(DaemonTest):
    def setUp(self):
        if SANITIZED:
            self.skipTest("a sanitizer build reports fatal signals itself: no crash record")
        # no core file from the daemon we kill on purpose
        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))

    def crash_records(self, lines):
        return [r for r in (parse_logfmt(l) for l in lines) if r.get("event") == "host_crashed"]

    def check(self, how, sig, name):
        d = self.start(STEADY + crash_job(how))
        wait_for(lambda: d.proc.poll() is not None, timeout=20, what="the daemon to die")
        self.assertEqual(d.proc.returncode, -sig, d.stderr_text()[-2000:])

        in_file = [r for r in d.records() if r.get("event") == "host_crashed"]
        self.assertEqual(len(in_file), 1, "one crash record in the file")
        rec = in_file[0]
        self.assertEqual(rec["level"], "error")
        self.assertEqual(rec["signal"], name)
        self.assertEqual(rec["job"], "boom")
        self.assertEqual(rec["plugin"], "crash")
        self.assertEqual(rec["plugin_version"], "1.0.0")
        self.assertRegex(rec["run_id"], r"^[0-9a-f]{16}$")
        self.assertEqual(rec["pid"], str(d.proc.pid))
        self.assertIn("jobhost", rec["backtrace"])  # frames of the daemon itself
        self.assertGreater(len(rec["backtrace"].splitlines()), 3)
        if sig == signal.SIGSEGV:
            self.assertEqual(rec["addr"], "0x0")  # the NULL the plugin wrote through
        # the run that crashed had its job_started written, before the crash
        records = d.records()
        started = [i for i, r in enumerate(records)
                   if r.get("event") == "job_started" and r.get("run_id") == rec["run_id"]]
        self.assertEqual(len(started), 1, "the crashed run's job_started is in the file")
        crashed_at = [i for i, r in enumerate(records) if r.get("event") == "host_crashed"][0]
        self.assertLess(started[0], crashed_at)
        self.assertFalse([r for r in records if r.get("event") == "job_finished"
                          and r.get("run_id") == rec["run_id"]])

        on_stderr = self.crash_records(d.stderr_text().splitlines())
        self.assertEqual(len(on_stderr), 1, "the same record on stderr")
        for k in ("signal", "job", "run_id", "plugin", "backtrace"):
            self.assertEqual(on_stderr[0][k], rec[k])

    def test_segv_in_a_thread_mode_plugin(self):
        self.check("segv", signal.SIGSEGV, "SEGV")

    def test_abort_in_a_thread_mode_plugin(self):
        self.check("abort", signal.SIGABRT, "ABRT")


if __name__ == "__main__":
    main()
