"""Hostile input against the real daemon, run as root: a link planted at the
log path, plugins that crash while loading, a file swapped under a worker,
directories others may write to, a FIFO named like a plugin, params and
records larger than a datagram, text that is not UTF-8, durations and
intervals out of range, clients that never read /metrics, a byte-order
mark; and the daemon under another user, and jobs under other users.

Each test names the finding it guards; each fails on the daemon before the
fixes (a followed link, a dead daemon, a hang, a dropped record) and passes
now. Nothing is left behind: every file lives in the test's directory,
every process is the daemon's or its workers'."""
import hashlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import time

from harness import (FIXTURES, JOBHOST, PLUGINS, SANITIZED, SLOW, DaemonTest, main, parse_logfmt,
                     wait_for)

OK = "  - id: steady\n    plugin: ok\n    trigger: {interval: 100ms}\n"
REPLACEMENT = "\ufffd"


def fnv1a(data):
    h = 1469598103934665603
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xffffffffffffffff
    return h


def run_cli(*args, timeout=60):
    """jobhost with args: (status, stdout, stderr); a hang fails the test."""
    p = subprocess.run([JOBHOST] + list(args), capture_output=True, text=True, errors="replace",
                       timeout=timeout * SLOW, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def maps_of(pid):
    try:
        with open("/proc/%d/maps" % pid) as f:
            return f.read()
    except OSError:
        return ""


def private_plugins(base, names, mode=0o755):
    """A plugin directory of its own under base, holding copies of fixtures
    (name -> fixture)."""
    plugins = os.path.join(base, "plugins")
    os.makedirs(plugins, exist_ok=True)
    os.chmod(plugins, 0o755)
    for name, fixture in names.items():
        dst = os.path.join(plugins, name + ".so")
        shutil.copyfile(os.path.join(FIXTURES, fixture + ".so"), dst)
        os.chmod(dst, mode)
    return plugins


class LogFile(DaemonTest):
    """The log file followed symbolic links, as root: a link at the log path
    (or at a rotated name) made the daemon append to, or with keep: 0
    truncate, any file."""

    def victim(self, d, name="victim"):
        path = os.path.join(d.dir, name)
        with open(path, "w") as f:
            f.write("precious\n")
        return path

    def assert_untouched(self, path):
        with open(path) as f:
            self.assertEqual(f.read(), "precious\n")

    def test_link_at_the_log_path_is_refused(self):
        d = self.daemon(OK, log_file=None)
        d.log_file = "{path: %s, max_size: 1KiB, keep: 0}" % d.log_path
        d.write_manifest(OK)
        victim = self.victim(d)
        os.symlink(victim, d.log_path)
        d.start()
        time.sleep(2 * SLOW)  # runs, rounds of the writer, a retry of the open
        self.assert_untouched(victim)
        wait_for(lambda: "log_sink_error" in d.stderr_text(), what="the refusal")
        self.assertTrue(os.path.islink(d.log_path))
        rec = [parse_logfmt(l) for l in d.stderr_text().splitlines() if "log_sink_error" in l][0]
        self.assertEqual(rec["path"], d.log_path)
        self.assertEqual(rec["error"], "is a symbolic link (not followed)")
        self.assertEqual(d.get("/-/healthy")[0], 200)

    def test_link_swapped_in_while_running_is_refused(self):
        d = self.start(OK)
        victim = self.victim(d)
        d.wait_events("job_finished", job="steady")
        os.unlink(d.log_path)
        os.symlink(victim, d.log_path)
        # the once-a-second check sees the path changed and reopens: refused
        time.sleep(2.5 * SLOW)
        self.assert_untouched(victim)
        wait_for(lambda: "is a symbolic link" in d.stderr_text(), what="the refusal")

    def test_link_at_a_rotated_name_is_refused_and_named(self):
        d = self.daemon(OK, log_file=None)
        d.log_file = "{path: %s, max_size: 2KiB, keep: 3}" % d.log_path
        d.write_manifest(OK)
        victim = self.victim(d)
        rotated = d.log_path + ".2"
        os.symlink(victim, rotated)
        d.start()
        wait_for(lambda: "op=rotate" in d.stderr_text(), timeout=20, what="a refused rotation")
        rec = [parse_logfmt(l) for l in d.stderr_text().splitlines() if "op=rotate" in l][0]
        self.assertEqual(rec["path"], rotated)
        self.assertEqual(rec["error"], "is a symbolic link (not followed)")
        self.assertTrue(os.path.islink(rotated))
        self.assert_untouched(victim)


class Loading(DaemonTest):
    """With isolation: process the host itself mapped the plugin: a
    constructor or init that crashed killed the daemon; a file dropped in
    without a reload had its code run by the next worker."""

    def runs(self, d, job, result="success"):
        return sum(v for k, v in d.metrics().items()
                   if k.startswith('jobhost_job_runs_total{job_id="%s",' % job) and
                   k.endswith('result="%s"}' % result))

    def test_crash_while_loading_at_start_is_exit_1(self):
        for fixture in ("ctor_crash", "init_crash"):
            d = self.daemon("  - id: boom\n    plugin: %s\n    isolation: process\n" % fixture)
            d.start(wait_ready=False)
            status = d.proc.wait(timeout=30 * SLOW)
            self.assertEqual(status, 1, d.stderr_text())
            self.assertIn("jobs[0].plugin: %s/%s.so: worker killed by signal 11 (SEGV) while "
                          "loading the plugin" % (FIXTURES, fixture), d.stderr_text())
            code, _, err = run_cli("check", "-c", d.manifest)
            self.assertEqual(code, 1)
            self.assertIn("worker killed by signal 11 (SEGV) while loading", err)

    def test_crash_while_loading_at_reload_is_refused(self):
        d = self.start(OK)
        wait_for(lambda: self.runs(d, "steady") >= 2, what="runs")
        d.write_manifest(OK + "  - id: c1\n    plugin: ctor_crash\n    isolation: process\n"
                         "  - id: c2\n    plugin: init_crash\n    isolation: process\n")
        status, _, body = d.post("/-/reload")
        self.assertEqual(status, 400)
        errors = json.loads(body)["errors"]
        self.assertEqual(len(errors), 2, errors)
        self.assertIn("ctor_crash.so: worker killed by signal 11 (SEGV) while loading", errors[0])
        self.assertIn("init_crash.so: worker killed by signal 11 (SEGV) while loading", errors[1])
        before = self.runs(d, "steady")
        wait_for(lambda: self.runs(d, "steady") >= before + 3, what="the live job to go on")
        self.assertEqual(d.get("/-/healthy")[0], 200)
        self.assertIsNone(d.proc.poll())

    def test_host_never_maps_an_isolated_plugin(self):
        d = self.start("  - id: who\n    plugin: identity\n    isolation: process\n"
                       "    trigger: {interval: 100ms}\n")
        rec = d.wait_events("identity", job="who")[0]
        self.assertEqual(rec["process"], "jobhost-worker")
        self.assertRegex(rec["loaded_from"], r"^/proc/self/fd/\d+$")
        self.assertNotIn("identity", maps_of(d.proc.pid))
        workers = wait_for(d.worker_pids, what="a worker")
        self.assertIn("/memfd:jobhost:identity", maps_of(workers[0]))
        self.assertNotIn("identity.so", maps_of(workers[0]))

    def test_worker_never_loads_a_file_dropped_in_without_reload(self):
        jobs = "  - id: p\n    plugin: p\n    isolation: process\n    trigger: {interval: 100ms}\n"
        d = self.daemon(jobs)
        d.plugin_dir = private_plugins(d.dir, {"p": "identity"})
        plugins = d.plugin_dir
        d.write_manifest(jobs)
        d.start()
        d.wait_events("identity", job="p")
        # a new build is copied in, but nobody reloads: its code must not run
        tmp = os.path.join(plugins, ".p.so.new")
        shutil.copyfile(os.path.join(FIXTURES, "ctor_crash.so"), tmp)
        os.chmod(tmp, 0o755)
        os.rename(tmp, os.path.join(plugins, "p.so"))
        for pid in d.worker_pids():
            os.kill(pid, signal.SIGKILL)  # the next run needs a new worker
        before = len(d.events("identity", job="p"))
        wait_for(lambda: len(d.events("identity", job="p")) >= before + 5, what="runs on the old code")
        self.assertLessEqual(self.runs(d, "p", "crashed"), 1)  # the one killed, if it was in a run


class Trust(DaemonTest):
    """Trust stopped at the last directory; check and run-once loaded by
    path after checking another open of the file; a FIFO named NAME.so hung
    check and the only HTTP thread."""

    def test_a_writable_directory_above_plugin_dir_is_refused(self):
        d = self.daemon(OK)
        parent = os.path.join(d.dir, "shared")
        os.mkdir(parent)
        plugins = private_plugins(parent, {"ok": "ok"})
        os.chmod(parent, 0o777)
        d.plugin_dir = plugins
        d.write_manifest(OK)
        code, _, err = run_cli("check", "-c", d.manifest)
        self.assertEqual(code, 1)
        self.assertIn("%s/ok.so: refusing to load: %s, on the way to it, is writable by others "
                      "(mode 0777; chmod go-w, or set host.strict_permissions: false)"
                      % (plugins, parent), err)
        os.chmod(parent, 0o1777)  # sticky: others cannot replace what is ours in it
        code, _, err = run_cli("check", "-c", d.manifest)
        self.assertEqual(code, 0, err)

    def test_a_manifest_others_may_replace_is_refused(self):
        d = self.daemon(OK)
        os.chmod(d.dir, 0o777)
        code, _, err = run_cli("check", "-c", d.manifest)
        self.assertEqual(code, 1)
        self.assertIn("refusing it: %s, a directory on the way, is writable by others (mode 0777; "
                      "chmod go-w)" % d.dir, err)
        os.chmod(d.dir, 0o755)
        os.chmod(d.manifest, 0o666)
        code, _, err = run_cli("check", "-c", d.manifest)
        self.assertEqual(code, 1)
        self.assertIn("is writable by others (mode 0666; chmod go-w)", err)
        os.chmod(d.manifest, 0o644)
        self.assertEqual(run_cli("check", "-c", d.manifest)[0], 0)

    def test_check_and_run_once_load_the_checked_image(self):
        d = self.daemon("  - id: who\n    plugin: identity\n")
        code, _, err = run_cli("run-once", "who", "-c", d.manifest)
        self.assertEqual(code, 0, err)
        rec = [parse_logfmt(l) for l in err.splitlines() if "event=identity" in l][0]
        self.assertRegex(rec["loaded_from"], r"^/proc/self/fd/\d+$")
        self.assertEqual(rec["process"], "jobhost")

    def test_a_fifo_named_like_a_plugin_never_hangs(self):
        d = self.daemon(OK)
        plugins = private_plugins(d.dir, {"ok": "ok"})
        os.mkfifo(os.path.join(plugins, "fifo.so"), 0o644)
        d.plugin_dir = plugins
        d.write_manifest(OK)
        d.start()
        fifo_job = OK + "  - id: f\n    plugin: fifo\n"
        d.write_manifest(fifo_job)
        code, _, err = run_cli("check", "-c", d.manifest, timeout=20)
        self.assertEqual(code, 1)
        self.assertIn("%s/fifo.so: not a regular file" % plugins, err)
        t0 = time.monotonic()
        status, _, body = d.post("/-/reload")
        self.assertEqual(status, 400)
        self.assertIn("fifo.so: not a regular file", json.loads(body)["errors"][0])
        self.assertLess(time.monotonic() - t0, 10 * SLOW)
        self.assertEqual(d.get("/-/healthy")[0], 200)
        self.assertEqual(d.stop(), 0)

    def test_a_fifo_named_as_the_manifest_is_refused(self):
        d = self.daemon(OK)
        fifo = os.path.join(d.dir, "fifo.yaml")
        os.mkfifo(fifo, 0o644)
        code, _, err = run_cli("check", "-c", fifo, timeout=20)
        self.assertEqual(code, 1)
        self.assertIn("%s: not a regular file" % fifo, err)

    def test_a_manifest_with_a_byte_order_mark_loads(self):
        d = self.daemon(OK)
        with open(d.manifest, "rb") as f:
            text = f.read()
        with open(d.manifest, "wb") as f:
            f.write(b"\xef\xbb\xbf" + text)
        code, out, err = run_cli("check", "-c", d.manifest)
        self.assertEqual(code, 0, err)
        d.start()
        d.wait_events("job_finished", job="steady")


class Protocol(DaemonTest):
    """Params larger than one datagram hung the run; a record with invalid
    UTF-8 or a 300 KB value was dropped uncounted, or its pairs shifted;
    limits.address_space between 16 and 96 MiB made every run crash."""

    def echo_jobs(self, blob):
        text = ""
        for mode in ("thread", "process"):
            text += ("  - id: echo-%s\n    plugin: echo\n    isolation: %s\n"
                     "    params: {blob: \"%s\", big: 300000, pairs: 70}\n" % (mode, mode, blob))
        return text

    def test_large_params_and_records_cross_intact_in_both_modes(self):
        blob = "ab\u00e9" * 80000  # 320,000 bytes of UTF-8: beyond one datagram
        d = self.start(self.echo_jobs(blob))
        got = {}
        for mode in ("thread", "process"):
            status, _, _ = d.post("/api/v1/jobs/echo-%s/run" % mode)
            self.assertIn(status, (200, 202))
            got[mode] = {ev: d.wait_events(ev, job="echo-" + mode)[0] for ev in ("echo", "big", "many")}
            fin = d.wait_events("job_finished", job="echo-" + mode)[0]
            self.assertEqual(fin["result"], "success")
        data = blob.encode()
        for mode in ("thread", "process"):
            self.assertEqual(int(got[mode]["echo"]["len"]), len(data))
            self.assertEqual(int(got[mode]["echo"]["fnv"]), fnv1a(data))
            head = got[mode]["echo"]["head"]
            self.assertTrue(head.endswith("...[truncated]"))
            self.assertLessEqual(len(head.encode()), 2048)
            big = got[mode]["big"]
            self.assertTrue(big["v"].startswith(REPLACEMENT + "\u00e9"))
            self.assertTrue(big["v"].endswith("...[truncated]"))
            self.assertEqual(big["after"], "kept")  # the pairs after it did not shift
            many = got[mode]["many"]
            self.assertEqual(many["k63"], "63")
            self.assertNotIn("k64", many)
            self.assertEqual(many["truncated"], "true")
        # the same bytes whichever side of the process boundary
        for ev in ("echo", "big", "many"):
            a = {k: v for k, v in got["thread"][ev].items() if k not in ("ts", "job", "run_id")}
            b = {k: v for k, v in got["process"][ev].items() if k not in ("ts", "job", "run_id")}
            self.assertEqual(a, b, ev)

    def test_what_a_worker_cannot_say_is_counted(self):
        d = self.start("  - id: frame\n    plugin: proto_garbage\n    isolation: process\n"
                       "    trigger: {interval: 200ms}\n    params: {how: frame}\n"
                       "  - id: pair\n    plugin: proto_garbage\n    isolation: process\n"
                       "    trigger: {interval: 200ms}\n    params: {how: pair}\n")
        fin = d.wait_events("job_finished", job="frame")[0]
        self.assertEqual(fin["result"], "crashed")
        self.assertEqual(fin["error"],
                         "worker stopped: it sent a message the host cannot read (malformed)")
        forged = d.wait_events("forged", job="pair")[0]
        self.assertEqual(forged["good"], "7")
        self.assertNotIn("bad", forged)
        wait_for(lambda: d.metric('jobhost_log_records_dropped_total{sink="worker"}') >= 2,
                 what="the drops counted")
        self.assertEqual(d.get("/-/healthy")[0], 200)

    def test_the_smallest_address_space_is_one_a_worker_runs_in(self):
        d = self.daemon("  - id: capped\n    plugin: exec\n    isolation: process\n"
                        "    limits: {address_space: 16MiB}\n    params: {command: \"echo hi\"}\n",
                        plugin_dir=PLUGINS)
        code, _, err = run_cli("check", "-c", d.manifest)
        self.assertEqual(code, 1)
        self.assertRegex(err, r"jobhost\.yaml:\d+:\d+: jobs\[0\]\.limits\.address_space: at least "
                              r"32MiB")
        if SANITIZED:
            return  # a sanitizer's shadow memory takes terabytes: the limit is not applied
        for limit in ("32MiB", "64MiB", "96MiB"):
            d.write_manifest("  - id: capped\n    plugin: exec\n    isolation: process\n"
                             "    limits: {address_space: %s}\n    params: {command: \"echo hi\"}\n"
                             % limit)
            code, out, err = run_cli("run-once", "capped", "-c", d.manifest)
            self.assertEqual(code, 0, err)
            self.assertIn("result=success", out)


class Text(DaemonTest):
    """A reload refused for a reason whose text is not UTF-8 answered
    "errors": []."""

    def test_refusal_with_bad_text_is_listed(self):
        d = self.start(OK)
        for mode in ("thread", "process"):
            d.write_manifest(OK + "  - id: bad\n    plugin: init_badtext\n    isolation: %s\n" % mode)
            status, _, body = d.post("/-/reload")
            self.assertEqual(status, 400)
            errors = json.loads(body.decode("utf-8"))["errors"]
            self.assertEqual(len(errors), 1, errors)
            self.assertIn("init failed: refused %s%s here" % (REPLACEMENT, REPLACEMENT), errors[0])


class Bounds(DaemonTest):
    """misfire_grace: 15000w skipped every run, a huge timeout marked every
    run timed out, interval: 1us with coalesce: false starved other jobs
    and flooded the log."""

    def test_out_of_range_durations_are_refused_at_their_place(self):
        cases = [("    misfire_grace: 15000w\n", "15000w",
                  "jobs[0].misfire_grace: 15000w is out of range (from 0s to 366d)"),
                 ("    timeout: 15000w\n", "15000w",
                  "jobs[0].timeout: 15000w is out of range (from 0s to 366d)"),
                 ("    coalesce: false\n    trigger: {interval: 1us}\n", "1us",
                  "jobs[0].trigger.interval: 1us is out of range (from 1ms to 3650d)")]
        d = self.daemon("")
        for extra, value, want in cases:
            d.write_manifest("  - id: a\n    plugin: ok\n" + extra)
            with open(d.manifest) as f:
                lines = f.read().splitlines()
            line = next(i for i, l in enumerate(lines) if value in l)
            where = "%s:%d:%d" % (d.manifest, line + 1, lines[line].index(value) + 1)
            code, _, err = run_cli("check", "-c", d.manifest)
            self.assertEqual(code, 1)
            self.assertIn("%s: %s\n" % (where, want), err)

    def test_the_fastest_job_starves_nobody_and_floods_nothing(self):
        d = self.start("  - id: fast\n    plugin: ok\n    coalesce: false\n    trigger: {interval: 1ms}\n"
                       "  - id: slow\n    plugin: ok\n    trigger: {interval: 100ms}\n", level="info")
        d.wait_events("job_finished", job="slow")
        runs = lambda job: d.metric('jobhost_job_runs_total{job_id="%s",plugin="ok",result="success"}' % job)
        s0, size0, t0 = runs("slow"), os.path.getsize(d.log_path), time.monotonic()
        time.sleep(3)
        s1, size1, t1 = runs("slow"), os.path.getsize(d.log_path), time.monotonic()
        rate = (size1 - size0) / (t1 - t0)
        print("slow: %d runs in %.1f s; log %.0f KB/s; fast: %d runs" %
              (s1 - s0, t1 - t0, rate / 1e3, runs("fast")))
        self.assertGreaterEqual(s1 - s0, 0.8 * (t1 - t0) * 10 / SLOW)
        self.assertLess(rate, 1e6)


class Http(DaemonTest):
    """Clients that never read /metrics pinned copies of the exposition."""

    def test_clients_that_never_read_cost_little(self):
        n_jobs = 10000
        d = self.daemon("  []\ninclude: [jobs.d/*.yaml]\n", level="warn")
        drop = os.path.join(d.dir, "jobs.d")
        os.mkdir(drop)
        with open(os.path.join(drop, "all.yaml"), "w") as f:
            f.write("jobs:\n")
            for i in range(n_jobs):
                f.write("  - {id: j%05d, plugin: ok, trigger: {cron: '0 3 * * *'}}\n" % i)
        d.start()
        self.assertEqual(d.metric("jobhost_jobs"), n_jobs)  # one whole scrape first
        time.sleep(0.5)
        idle = rss_bytes(d.proc.pid)
        clients = []
        try:
            # from four loopback addresses: the server takes 32 per address,
            # 64 in all; the rest it turns away
            for i in range(100):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.bind(("127.0.0.%d" % (2 + i % 4), 0))
                try:
                    s.connect(("127.0.0.1", d.port))
                    enc = "Accept-Encoding: gzip\r\n" if i % 2 else ""
                    s.sendall(("GET /metrics HTTP/1.1\r\nHost: x\r\n%s\r\n" % enc).encode())
                except OSError:
                    pass
                clients.append(s)
            time.sleep(3 * SLOW)  # less than the 10 s a silent connection is kept
            grown = rss_bytes(d.proc.pid) - idle
        finally:
            for s in clients:
                s.close()
        wait_for(lambda: d.get("/-/healthy")[0] == 200, what="/-/healthy once they are gone")
        print("100 clients not reading /metrics of %d jobs: RSS +%.1f MiB over idle %.1f MiB"
              % (n_jobs, grown / 2**20, idle / 2**20))
        if not SANITIZED:  # ASan's quarantine keeps freed memory resident
            self.assertLess(grown, 64 * 2**20)
        self.assertEqual(d.metric("jobhost_jobs"), n_jobs)


class Users(DaemonTest):
    """user: and group: per job, and the daemon itself unprivileged."""

    def test_jobs_run_as_their_user_and_group(self):
        d = self.start("  - id: as-nobody\n    plugin: identity\n    isolation: process\n"
                       "    user: nobody\n    trigger: {interval: 100ms}\n"
                       "  - id: as-daemon-group\n    plugin: identity\n    isolation: process\n"
                       "    user: nobody\n    group: daemon\n    trigger: {interval: 100ms}\n"
                       "  - id: as-root\n    plugin: identity\n    isolation: process\n"
                       "    trigger: {interval: 100ms}\n")
        nobody = d.wait_events("identity", job="as-nobody")[0]
        self.assertEqual((nobody["uid"], nobody["euid"], nobody["gid"], nobody["egid"]),
                         ("65534", "65534", "65534", "65534"))
        self.assertEqual(nobody["groups"], "65534")
        self.assertEqual(nobody["home"], "/nonexistent")
        grp = d.wait_events("identity", job="as-daemon-group")[0]
        self.assertEqual((grp["uid"], grp["gid"], grp["egid"]), ("65534", "1", "1"))
        root = d.wait_events("identity", job="as-root")[0]
        self.assertEqual(root["uid"], "0")
        # the worker dropped root before the plugin was loaded: its
        # constructors never ran as root (the status file says so too)
        pids = d.worker_pids()
        uids = set()
        for pid in pids:
            with open("/proc/%d/status" % pid) as f:
                uids.update(l.split()[1] for l in f if l.startswith("Uid:"))
        self.assertIn("65534", uids)

    def test_the_daemon_runs_unprivileged(self):
        jobs = ("  - id: here\n    plugin: identity\n    trigger: {interval: 100ms}\n"
                "  - id: apart\n    plugin: identity\n    isolation: process\n"
                "    trigger: {interval: 100ms}\n")
        d = self.daemon(jobs, wrapper=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
        logs = os.path.join(d.dir, "logs")
        os.mkdir(logs, 0o755)
        os.chown(logs, 65534, 65534)
        d.log_path = os.path.join(logs, "jobhost.log")
        d.log_file = "{path: %s, max_size: 100MiB, keep: 2}" % d.log_path
        d.write_manifest(jobs)
        d.start()
        for job, process in (("here", "jobhost"), ("apart", "jobhost-worker")):
            rec = d.wait_events("identity", job=job)[0]
            self.assertEqual((rec["uid"], rec["euid"], rec["process"]), ("65534", "65534", process))
        self.assertEqual(d.get("/-/healthy")[0], 200)
        self.assertEqual(os.stat(d.log_path).st_uid, 65534)
        # switching users needs root: refused at the key, before anything runs
        d.stop()
        d.write_manifest(jobs + "  - id: root\n    plugin: identity\n    isolation: process\n"
                         "    user: root\n")
        d.start(wait_ready=False)
        self.assertEqual(d.proc.wait(timeout=30 * SLOW), 1)
        self.assertRegex(d.stderr_text(), r"jobhost\.yaml:\d+:\d+: jobs\[2\]\.user: cannot run as "
                                          r"uid 0: switching needs the daemon to run as root")


if __name__ == "__main__":
    main()
