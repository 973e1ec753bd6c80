"""`jobhost ctl` against the real daemon: every command, as text and as
--json, its exit status (0 done, 1 refused or failed, 2 usage, 3 no
daemon), the address and token taken from the manifest, and output that
fits an 80-column terminal, coloured only there."""
import json
import os
import pty
import re
import select
import subprocess
import time

from harness import JOBHOST, SLOW, DaemonTest, free_port, main, wait_for

JOBS = ("  - id: good\n    plugin: ok\n    trigger: {interval: 1h}\n"
        "  - id: bad\n    plugin: fail\n    trigger: {cron: \"0 3 * * *\", timezone: Europe/Berlin}\n"
        "  - id: a-job-whose-id-is-long-enough-to-be-cut-on-a-terminal\n    plugin: ok\n"
        "    trigger: {interval: 30m}\n"
        "  - id: slow\n    plugin: sleep\n    params: {duration: 1500ms}\n")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def ctl(d, *args, env=None, url=True, timeout=30):
    argv = [JOBHOST, "ctl"] + (["--url", d.url("")] if url and d else []) + list(args)
    e = dict(os.environ)
    e.pop("NO_COLOR", None)
    e.update(env or {})
    return subprocess.run(argv, capture_output=True, text=True, env=e, timeout=timeout * SLOW)


def on_terminal(argv, env, columns=80):
    """Runs argv with its stdout on a pseudo-terminal of `columns`; the
    output as text."""
    master, slave = pty.openpty()
    e = dict(os.environ)
    e.update(env)
    e["COLUMNS"] = str(columns)
    p = subprocess.Popen(argv, stdout=slave, stderr=subprocess.PIPE, env=e)
    os.close(slave)
    out = b""
    while True:
        r, _, _ = select.select([master], [], [], 10 * SLOW)
        if not r:
            break
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
    p.wait(10 * SLOW)
    os.close(master)
    return p.returncode, out.decode("utf-8", "replace").replace("\r\n", "\n")


class Ctl(DaemonTest):
    def test_status(self):
        d = self.start(JOBS)
        p = ctl(d, "status")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"^jobhost \S+ \(plugin ABI \d+\) on \S+, pid %d\n" % d.proc.pid)
        self.assertIn("manifest:     %s (4 jobs, 3 plugins, 2 workers)" % d.manifest, p.stdout)
        self.assertIn("last reload:  none since the start", p.stdout)
        self.assertEqual(ctl(d, "reload").returncode, 0)
        p = ctl(d, "status")
        self.assertRegex(p.stdout, r"last reload:  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d \(http\): applied")
        doc = json.loads(ctl(d, "status", "--json").stdout)
        self.assertEqual(doc["pid"], d.proc.pid)
        self.assertEqual(doc["last_reload"]["result"], "applied")

    def test_list_fits_80_columns_and_colours_only_a_terminal(self):
        d = self.start(JOBS)
        self.assertEqual(ctl(d, "run", "bad", "--wait").returncode, 1)
        p = ctl(d, "list")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["NEXT", "LEFT", "LAST", "PASSED", "JOB", "RESULT", "STATE"])
        self.assertEqual(lines[-1], "4 jobs listed.")
        self.assertNotIn("\x1b[", p.stdout)  # no terminal: no colour, nothing cut
        self.assertIn("a-job-whose-id-is-long-enough-to-be-cut-on-a-terminal", p.stdout)
        bad = [l for l in lines if " bad " in l][0]
        self.assertRegex(bad, r"ago\s+bad\s+failure\s+failing$")
        # sorted by the next run, jobs without one last
        self.assertTrue(lines[-3].split()[0] == "-", lines)
        self.assertIn(" slow ", lines[-3])

        rc, out = on_terminal([JOBHOST, "ctl", "--url", d.url(""), "list"], {"TERM": "xterm"})
        self.assertEqual(rc, 0)
        self.assertIn("\x1b[31mfailure\x1b[0m", out)
        for line in ANSI.sub("", out).splitlines():
            self.assertLessEqual(len(line), 80, line)
        self.assertNotIn("cut-on-a-terminal", out)
        rc, out = on_terminal([JOBHOST, "ctl", "--url", d.url(""), "list"],
                              {"TERM": "xterm", "NO_COLOR": "1"})
        self.assertNotIn("\x1b[", out)
        ids = ctl(d, "list", "-q").stdout.split()
        self.assertEqual(sorted(ids), sorted(["good", "bad", "slow",
                                             "a-job-whose-id-is-long-enough-to-be-cut-on-a-terminal"]))
        doc = json.loads(ctl(d, "list", "--json").stdout)
        self.assertEqual(len(doc["jobs"]), 4)

    def test_show(self):
        d = self.start(JOBS)
        p = ctl(d, "show", "bad")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("bad — fail 1.0.0", p.stdout)
        self.assertIn("schedule:  cron 0 3 * * * (Europe/Berlin)", p.stdout)
        self.assertIn("state:  ok", p.stdout)
        self.assertEqual(len(re.findall(r"\(in \d", p.stdout)), 5)
        self.assertIn("last run:  none", p.stdout)
        ctl(d, "run", "bad", "--wait")
        p = ctl(d, "show", "bad", env={"TZ": "Europe/Berlin"})  # times in the reader's zone
        self.assertEqual(len(re.findall(r"\d{4}-\d\d-\d\d 03:00:00 \+0[12]:00 \(in ", p.stdout)), 5)
        # the run store's last runs as a table, or, without one, the last run
        self.assertRegex(p.stdout, r"(last run:  [0-9a-f]{16}  .*failure  fixture failure|"
                                   r"last runs:\nRUN .*\n[0-9a-f]{16}  .*failure  manual   fixture failure)")
        self.assertEqual(json.loads(ctl(d, "show", "bad", "--json").stdout)["id"], "bad")
        p = ctl(d, "show", "nosuch")
        self.assertEqual(p.returncode, 1)
        self.assertIn("404 no such job", p.stderr)

    def test_run_wait_pause_resume(self):
        d = self.start(JOBS)
        p = ctl(d, "run", "good", "--wait")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"^good: run [0-9a-f]{16} success in \S+\n$")
        p = ctl(d, "run", "bad", "--wait")
        self.assertEqual(p.returncode, 1)
        self.assertIn("failure in", p.stdout)
        self.assertIn("fixture failure", p.stdout)
        p = ctl(d, "run", "bad", "--wait", "--dry-run")
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn("dry_run", p.stdout)
        t0 = time.monotonic()
        p = ctl(d, "run", "slow", "--wait", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertGreater(time.monotonic() - t0, 1.4)
        self.assertEqual(json.loads(p.stdout)["result"], "success")
        p = ctl(d, "run", "slow")  # without --wait: at once
        self.assertRegex(p.stdout, r"^slow: run [0-9a-f]{16} started\n$")
        p = ctl(d, "run", "slow", "--wait", "--timeout", "100ms")
        self.assertEqual(p.returncode, 1)  # max_instances (the first one runs), or the timeout
        p = ctl(d, "pause", "good")
        self.assertEqual((p.returncode, p.stdout), (0, "good: paused (state paused)\n"))
        self.assertTrue(json.loads(d.get("/api/v1/jobs/good")[1])["paused"])
        self.assertEqual(ctl(d, "resume", "good").returncode, 0)
        self.assertFalse(json.loads(d.get("/api/v1/jobs/good")[1])["paused"])
        self.assertEqual(ctl(d, "pause", "nosuch").returncode, 1)

    def test_reload_prints_what_changed_and_every_error(self):
        d = self.start(JOBS)
        d.write_manifest(JOBS.replace("interval: 1h", "interval: 2h") +
                         "  - id: fresh\n    plugin: ok\n")
        p = ctl(d, "reload")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"^reload applied in \S+\n")
        self.assertIn("jobs added:       fresh\n", p.stdout)
        self.assertIn("jobs changed:     good\n", p.stdout)
        self.assertIn("jobs removed:     -\n", p.stdout)
        self.assertIn("jobs unchanged:   3\n", p.stdout)
        d.write_manifest("  - id: x\n    plugin: ok\n    trigger: {cron: \"61 * * * *\"}\n"
                         "  - id: y\n    plugin: no_such_plugin\n")
        p = ctl(d, "reload")
        self.assertEqual(p.returncode, 1)
        self.assertIn("reload refused (2 errors)", p.stdout)
        self.assertIn("jobs[0].trigger.cron: field 1 (minute)", p.stdout)
        self.assertIn("jobs[1].plugin:", p.stdout)
        doc = json.loads(ctl(d, "reload", "--json").stdout)
        self.assertEqual(doc["status"], "refused")
        self.assertEqual(len(doc["errors"]), 2)

    def test_address_and_token_from_the_manifest(self):
        d = self.daemon(JOBS)
        token = os.path.join(d.dir, "token")
        with open(token, "w") as f:
            f.write("s3cret\n")
        os.chmod(token, 0o600)
        d.http_extra = ", token_file: %s" % token
        d.write_manifest(JOBS)
        d.start()
        # -c: the port and the token come from the manifest
        p = ctl(d, "-c", d.manifest, "run", "good", "--wait", url=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        # reads are open, a run needs the token
        p = ctl(d, "list")
        self.assertEqual(p.returncode, 0)
        p = ctl(d, "run", "good")
        self.assertEqual(p.returncode, 1)
        self.assertIn("401", p.stderr)
        self.assertIn("--token-file", p.stderr)
        p = ctl(d, "--token-file", token, "run", "good", "--wait")
        self.assertEqual(p.returncode, 0, p.stderr)
        os.chmod(token, 0o644)
        p = ctl(d, "--token-file", token, "status")
        self.assertEqual(p.returncode, 2)
        self.assertIn("readable by others", p.stderr)

    def test_history_and_logs_need_the_store(self):
        d = self.start(JOBS)
        has_store = d.get("/api/v1/jobs/good/runs")[0] != 404
        p = ctl(d, "history", "good", "--limit", "5")
        q = ctl(d, "logs", "0123456789abcdef")
        if has_store:
            self.assertEqual(p.returncode, 0, p.stderr)
        else:
            self.assertEqual(p.returncode, 1)
            self.assertIn("keeps no run history", p.stderr)
            self.assertEqual(q.returncode, 1)
            self.assertIn("keeps no run history", q.stderr)

    def test_exit_status_without_a_daemon_and_usage(self):
        port = free_port()
        p = subprocess.run([JOBHOST, "ctl", "--url", "http://127.0.0.1:%d" % port, "status"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 3)
        self.assertIn("is the daemon running?", p.stderr)
        for argv, want in ((["frobnicate"], "unknown command"), (["show"], "needs a job id"),
                           (["list", "extra"], "unexpected argument"),
                           (["history", "x", "--limit", "0"], "--limit"),
                           (["status", "--wait"], "for run"), ([], "a command is needed"),
                           (["--url", "ftp://x", "status"], "--url")):
            p = subprocess.run([JOBHOST, "ctl"] + argv, capture_output=True, text=True)
            self.assertEqual(p.returncode, 2, argv)
            self.assertIn(want, p.stderr)
        p = subprocess.run([JOBHOST, "ctl", "--help"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn("history JOB", p.stdout)


if __name__ == "__main__":
    main()
