"""Log sinks with the real daemon: records reach a real rsyslogd through
syslog(3) with job= and run_id=; the file sink rotates; a log directory
that cannot be written and a full disk are survived; reloads never
duplicate a record."""
import os
import shutil
import signal
import subprocess

from harness import ROOT, DaemonTest, main, parse_logfmt, wait_for

TICK = "  - id: tick\n    plugin: ok\n    trigger: {interval: 100ms}\n"
PRIVATE_SYSLOG = os.path.join(ROOT, "tests", "integration", "private_syslog.sh")


def can_make_namespaces():
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("rsyslogd"):
        return False
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                          capture_output=True).returncode == 0


class Syslog(DaemonTest):
    def setUp(self):
        if not can_make_namespaces():
            self.skipTest("needs root, unshare and rsyslogd")

    def start_with_rsyslog(self, jobs, **kw):
        d = self.daemon(jobs, syslog="{enabled: true, ident: jobhost, facility: local3}", **kw)
        d.wrapper = ["unshare", "--mount", "--propagation", "private", "sh", PRIVATE_SYSLOG,
                     d.dir]
        self.addCleanup(self.stop_rsyslog, d.dir)
        return d.start()

    def stop_rsyslog(self, directory):
        try:
            with open(os.path.join(directory, "rsyslog.pid")) as f:
                os.kill(int(f.read().strip()), signal.SIGTERM)
        except (OSError, ValueError):
            pass

    def syslog_records(self, d):
        """(header, record) for each jobhost line rsyslogd wrote."""
        out = []
        try:
            with open(os.path.join(d.dir, "syslog.log"), errors="replace") as f:
                for line in f:
                    if " jobhost[" not in line:
                        continue
                    header, _, rest = line.rstrip("\n").partition("]: ")
                    out.append((header, parse_logfmt(rest)))
        except FileNotFoundError:
            pass
        return out

    def test_records_reach_rsyslog_with_job_and_run_id(self):
        d = self.start_with_rsyslog(TICK + "  - id: bad\n    plugin: fail\n    trigger: {interval: 100ms}\n")
        recs = wait_for(lambda: [r for _, r in self.syslog_records(d)
                                 if r.get("event") == "job_finished" and r.get("job") == "bad"],
                        what="a job_finished record in rsyslog's file")
        rec = recs[0]
        self.assertRegex(rec["run_id"], r"^[0-9a-f]{16}$")
        self.assertEqual(rec["result"], "failure")
        self.assertEqual(rec["level"], "warn")
        self.assertNotIn("ts", rec)  # syslog stamps it
        header = [h for h, r in self.syslog_records(d) if r.get("run_id") == rec["run_id"]][0]
        self.assertIn("jobhost[%d" % d.proc.pid, header)
        # the same record is in the file sink, with ts
        file_rec = wait_for(lambda: d.events("job_finished", run_id=rec["run_id"]), what="file copy")
        self.assertIn("ts", file_rec[0])

    def test_no_duplicates_after_five_reloads(self):
        d = self.start_with_rsyslog(TICK)
        for i in range(5):
            if i % 2:
                self.assertEqual(d.post("/-/reload")[0], 200)
            else:  # SIGHUPs sent together would coalesce: wait for each
                d.send(signal.SIGHUP)
                wait_for(lambda: len(d.events("reload_applied")) > i, what="reload %d" % i)
        wait_for(lambda: len(d.events("reload_applied")) >= 5, what="five reloads")
        marker = wait_for(lambda: [r for r in d.events("job_finished", job="tick")
                                   if r["ts"] > d.events("reload_applied")[-1]["ts"]],
                          what="a run after the reloads")[0]["run_id"]
        # its job_finished, not any record of it: rsyslog may have written
        # job_started and not yet the rest
        wait_for(lambda: any(r.get("run_id") == marker and r.get("event") == "job_finished"
                             for _, r in self.syslog_records(d)),
                 what="the run's end in syslog")
        in_syslog = [r for _, r in self.syslog_records(d)
                     if r.get("run_id") == marker and r.get("event") == "job_finished"]
        in_file = d.events("job_finished", run_id=marker)
        self.assertEqual(len(in_syslog), 1)
        self.assertEqual(len(in_file), 1)


class FileSink(DaemonTest):
    def test_rotation_keeps_keep_files(self):
        d = self.daemon(TICK, log_file=None)
        d.log_file = "{path: %s, max_size: 4KiB, keep: 2}" % d.log_path
        d.write_manifest(TICK)
        d.start()
        wait_for(lambda: os.path.exists(d.log_path + ".2"), timeout=30, what="two rotations")
        wait_for(lambda: os.path.getsize(d.log_path + ".2") > 0)
        self.assertFalse(os.path.exists(d.log_path + ".3"))
        for path in (d.log_path + ".1", d.log_path + ".2"):
            self.assertLessEqual(os.path.getsize(path), 4096)
            with open(path) as f:
                for line in f:  # rotation never splits a record
                    self.assertTrue(parse_logfmt(line.rstrip("\n")).get("event"), line)
        self.assertEqual(oct(os.stat(d.log_path).st_mode & 0o777), "0o640")

    def test_unwritable_log_directory_is_survived(self):
        d = self.daemon(TICK)
        blocker = os.path.join(d.dir, "not-a-dir")
        with open(blocker, "w") as f:
            f.write("x")
        d.log_file = "{path: %s/sub/jobhost.log}" % blocker
        d.args = ["--log-stderr"]
        d.write_manifest(TICK)
        d.start()
        wait_for(lambda: d.metric('jobhost_job_runs_total{job_id="tick",plugin="ok",result="success"}')
                 >= 3, what="jobs to keep running")
        self.assertIn("not-a-dir", d.stderr_text())
        self.assertGreater(d.metric('jobhost_log_records_dropped_total{sink="file"}'), 0)

    def test_full_disk_is_survived_and_counted(self):
        d = self.daemon(TICK, log_file="{path: /dev/full}", args=["--log-stderr"])
        d.start()
        wait_for(lambda: d.metric('jobhost_log_records_dropped_total{sink="file"}') > 0,
                 what="drops to be counted")
        before = d.metric('jobhost_job_runs_total{job_id="tick",plugin="ok",result="success"}')
        wait_for(lambda: d.metric('jobhost_job_runs_total{job_id="tick",plugin="ok",result="success"}')
                 >= before + 3, what="jobs to keep running")
        self.assertEqual(d.stop(), 0)
        # one warning, not one per record
        self.assertLessEqual(d.stderr_text().count("No space left on device"), 2)


class NoSyslogDaemon(DaemonTest):
    """syslog(3) drops every record silently when nobody listens on
    /dev/log: the sink notices, says so once on the other sinks and counts
    what it cannot deliver."""

    def test_missing_dev_log_is_said_once_and_counted(self):
        d = self.daemon(TICK, syslog="{enabled: true, ident: jobhost, facility: local3}")
        if os.path.exists("/dev/log"):
            if not can_make_namespaces():
                self.skipTest("/dev/log exists, and hiding it needs root and unshare")
            # /dev/null over /dev/log, in a mount namespace of the daemon's own
            d.wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                         'mount --bind /dev/null /dev/log && exec "$@"', "sh"]
        d.start()
        series = 'jobhost_log_records_dropped_total{sink="syslog"}'
        wait_for(lambda: d.metric(series) >= 5, what="syslog drops to be counted")
        warned = d.wait_events("log_sink_error", sink="syslog")
        self.assertEqual(len(warned), 1, warned)
        self.assertEqual(warned[0]["path"], "/dev/log")
        self.assertIn("error", warned[0])
        before = d.metric(series)
        wait_for(lambda: d.metric(series) > before, what="more drops")
        # a reload's new sink does not say it again
        self.assertEqual(d.post("/-/reload")[0], 200)
        d.wait_events("reload_applied")
        self.assertEqual(len(d.events("log_sink_error", sink="syslog")), 1)


if __name__ == "__main__":
    main()
