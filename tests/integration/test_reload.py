"""Hot reload against the real daemon: drop a .so in, replace one under
running jobs, refuse bad manifests and broken plugins without losing
anything, and keep every job's schedule across many reloads."""
import json
import os
import shutil
import signal
import stat
import tempfile
import threading
import time

from harness import FIXTURES, SANITIZED, SLOW, DaemonTest, main, wait_for

TICK = "  - id: tick\n    plugin: ok\n    trigger: {interval: 100ms}\n"


def plugin_dir(*names):
    """A private plugin directory holding copies of fixture plugins,
    given as (name_in_dir, fixture) pairs."""
    d = tempfile.mkdtemp(prefix="jobhost-plugins-")
    os.chmod(d, 0o755)
    for name, fixture in names:
        install(d, name, fixture)
    return d


def install(directory, name, fixture, how="cp"):
    """Puts fixture .so at directory/name.so: "cp" writes over the same
    inode, as `cp` does; "rename" writes a new file and renames it in."""
    src = os.path.join(FIXTURES, fixture + ".so")
    dst = os.path.join(directory, name + ".so")
    if how == "cp":
        with open(src, "rb") as f, open(dst, "wb") as g:
            g.write(f.read())
    else:
        tmp = dst + ".new"
        shutil.copyfile(src, tmp)
        os.rename(tmp, dst)
    os.chmod(dst, 0o755)


class Reload(DaemonTest):
    def setUp(self):
        self.plugins = plugin_dir(("ok", "ok"), ("fail", "fail"))
        self.addCleanup(shutil.rmtree, self.plugins, True)

    def runs(self, d, job, plugin="ok", result="success"):
        return d.metric('jobhost_job_runs_total{job_id="%s",plugin="%s",result="%s"}' %
                        (job, plugin, result))

    def test_add_job_by_dropping_a_plugin(self):
        d = self.start(TICK, plugin_dir=self.plugins)
        install(self.plugins, "brand_new", "counter")
        d.write_manifest(TICK + "  - id: fresh\n    plugin: brand_new\n    trigger: {interval: 100ms}\n")
        status, _, body = d.post("/-/reload")
        self.assertEqual(status, 200, body)
        summary = json.loads(body)
        self.assertEqual(summary["status"], "applied")
        self.assertEqual(summary["jobs"]["added"], ["fresh"])
        self.assertEqual(summary["jobs"]["unchanged"], ["tick"])
        self.assertEqual(summary["job_counts"],
                         {"added": 1, "removed": 0, "changed": 0, "unchanged": 1})
        self.assertEqual(summary["plugins"]["loaded"], ["brand_new"])
        self.assertEqual(summary["plugins"]["kept"], ["ok"])
        wait_for(lambda: self.runs(d, "fresh", "brand_new") >= 2, what="the new job to run")
        self.assertEqual(d.metric("jobhost_jobs"), 2)
        self.assertEqual(d.metric('jobhost_reloads_total{result="success"}'), 1)

    def test_drop_in_files_reload_and_a_summary_stays_small(self):
        """Jobs in a drop-in directory: a reload sees a changed file and a
        new one, keeps the unchanged one's jobs as they were, and names at
        most 1,000 ids per list however many jobs it adds."""
        d = self.daemon(TICK + "include: [jobs.d/*.yaml]\n")
        drop = os.path.join(d.dir, "jobs.d")
        os.mkdir(drop)

        def put(name, ids, every="1h"):
            with open(os.path.join(drop, name), "w") as f:
                f.write("jobs:\n" + "".join(
                    "  - {id: %s, plugin: ok, trigger: {interval: %s}}\n" % (i, every) for i in ids))
        put("10-a.yaml", ["a1", "a2"])
        put("20-b.yaml", ["b1"])
        d.start()
        self.assertEqual(d.metric("jobhost_jobs"), 4)
        put("20-b.yaml", ["b1"], every="2h")
        put("30-many.yaml", ["m%04d" % i for i in range(1500)])
        status, _, body = d.post("/-/reload")
        self.assertEqual(status, 200, body)
        summary = json.loads(body)
        self.assertEqual(summary["job_counts"],
                         {"added": 1500, "removed": 0, "changed": 1, "unchanged": 3})
        self.assertEqual(len(summary["jobs"]["added"]), 1000)
        self.assertEqual(summary["jobs"]["added"][:2], ["m0000", "m0001"])
        self.assertEqual(summary["jobs"]["changed"], ["b1"])
        self.assertEqual(sorted(summary["jobs"]["unchanged"]), ["a1", "a2", "tick"])
        self.assertEqual(d.metric("jobhost_jobs"), 1504)
        os.unlink(os.path.join(drop, "30-many.yaml"))
        status, _, body = d.post("/-/reload")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["job_counts"]["removed"], 1500)
        self.assertEqual(d.metric("jobhost_jobs"), 4)

    def test_upgrade_plugin_under_a_running_job(self):
        for how in ("cp", "rename"):
            with self.subTest(how=how):
                install(self.plugins, "versioned", "versioned_v1")
                jobs = ("  - id: up\n    plugin: versioned\n    trigger: {interval: 100ms}\n"
                        "    params: {sleep: 600ms}\n")
                d = self.start(jobs, plugin_dir=self.plugins)
                started = wait_for(lambda: d.events("job_started", job="up"), what="a v1 run")
                v1_run = started[0]["run_id"]
                self.assertEqual(started[0]["plugin_version"], "1.0.0")
                # A new build lands on the same path while the v1 run sleeps.
                install(self.plugins, "versioned", "versioned_v2", how=how)
                status, _, body = d.post("/-/reload")
                self.assertEqual(status, 200, body)
                self.assertEqual(json.loads(body)["jobs"]["changed"], ["up"])
                self.assertEqual(json.loads(body)["plugins"]["loaded"], ["versioned"])
                # The v1 run finishes on the v1 code; the next run is v2.
                fin = wait_for(lambda: d.events("job_finished", run_id=v1_run), what="v1 to finish")
                self.assertEqual(fin[0]["result"], "success")
                v2 = wait_for(lambda: d.events("job_started", job="up", plugin_version="2.0.0"),
                              what="a v2 run")
                self.assertNotEqual(v2[0]["run_id"], v1_run)
                # the plugin's own record follows job_started through the log queue
                wait_for(lambda: d.events("versioned", version="2.0.0"), what="v2's own record")
                self.assertEqual(d.stop(), 0)

    def test_bad_manifest_refused_and_nothing_lost(self):
        d = self.start(TICK, plugin_dir=self.plugins)
        wait_for(lambda: self.runs(d, "tick") >= 2, what="runs")
        d.write_manifest(TICK + "  - id: broken\n    plugin: ok\n    trigger: {cron: \"61 * * * *\"}\n")
        status, _, body = d.post("/-/reload")
        self.assertEqual(status, 400)
        doc = json.loads(body)
        self.assertEqual(doc["status"], "refused")
        self.assertRegex(doc["errors"][0], r"jobhost\.yaml:\d+:\d+: jobs\[1\]\.trigger\.cron: field 1 \(minute\)")
        before = self.runs(d, "tick")
        wait_for(lambda: self.runs(d, "tick") >= before + 3, what="tick to keep firing")
        self.assertEqual(d.metric('jobhost_reloads_total{result="failure"}'), 1)
        self.assertEqual(d.metric("jobhost_config_last_reload_successful"), 0)
        self.assertTrue(d.wait_events("reload_refused"))

    def test_broken_plugin_refused_and_nothing_lost(self):
        d = self.start(TICK, plugin_dir=self.plugins)
        wait_for(lambda: self.runs(d, "tick") >= 2, what="runs")
        with open(os.path.join(self.plugins, "junk.so"), "w") as f:
            f.write("not an ELF object\n")
        os.chmod(os.path.join(self.plugins, "junk.so"), 0o755)
        install(self.plugins, "wrong_abi", "bad_abi")
        d.write_manifest(TICK +
                         "  - id: j1\n    plugin: junk\n    trigger: {interval: 1s}\n"
                         "  - id: j2\n    plugin: wrong_abi\n    trigger: {interval: 1s}\n")
        status, _, body = d.post("/-/reload")
        self.assertEqual(status, 400)
        errors = json.loads(body)["errors"]
        self.assertEqual(len(errors), 2)
        self.assertIn("not a loadable object", errors[0])
        self.assertIn("ABI version mismatch", errors[1])
        before = self.runs(d, "tick")
        wait_for(lambda: self.runs(d, "tick") >= before + 3, what="tick to keep firing")
        self.assertEqual(d.metric("jobhost_jobs"), 1)
        # Each error is logged once, where it has its position.
        d.wait_events("reload_refused")
        for e in errors:
            logged = [r for r in d.records() if e in r.values()]
            self.assertEqual(len(logged), 1, (e, logged))
            self.assertEqual(logged[0]["event"], "config_error")

    def test_summary_in_fields_and_warnings(self):
        d = self.start(TICK + "  - id: gone\n    plugin: ok\n", plugin_dir=self.plugins)
        d.write_manifest(TICK.replace("100ms", "200ms") +
                         "  - id: fresh\n    plugin: fail\n    trigger: {cron: \"0 0 31 2 *\"}\n")
        status, _, body = d.post("/-/reload")
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        self.assertEqual(doc["jobs"], {"added": ["fresh"], "removed": ["gone"],
                                       "changed": ["tick"], "unchanged": []})
        self.assertEqual(len(doc["warnings"]), 1)
        self.assertRegex(doc["warnings"][0],
                         r"jobhost\.yaml:\d+:\d+: warning: jobs\[1\]\.trigger\.cron: never fires")
        rec = d.wait_events("reload_applied")[-1]
        self.assertNotIn("summary", rec)
        self.assertEqual((rec["added"], rec["changed"], rec["removed"]), ("fresh", "tick", "gone"))
        self.assertEqual((rec["jobs_added"], rec["jobs_unchanged"], rec["plugins_loaded"]),
                         ("1", "0", "1"))
        self.assertEqual(rec["loaded"], "fail")
        warned = d.wait_events("config_warning")
        self.assertEqual([w["warning"] for w in warned], doc["warnings"])

    def test_sighup_reloads_like_the_endpoint(self):
        d = self.start(TICK, plugin_dir=self.plugins)
        d.write_manifest(TICK + "  - id: second\n    plugin: fail\n    trigger: {interval: 100ms}\n")
        d.send(signal.SIGHUP)
        wait_for(lambda: d.events("reload_applied", source="SIGHUP"), what="a SIGHUP reload")
        wait_for(lambda: self.runs(d, "second", "fail", "failure") >= 1, what="the new job")

    def test_sighups_during_a_reload_coalesce_into_one(self):
        install(self.plugins, "slow_init", "slow_init")
        d = self.start(TICK, plugin_dir=self.plugins)
        d.write_manifest(TICK + "  - id: slow\n    plugin: slow_init\n")
        d.send(signal.SIGHUP)  # this reload spends 2 s in the plugin's init
        wait_for(lambda: d.events("reload_started"), what="the first reload")
        for _ in range(10):
            d.send(signal.SIGHUP)
        wait_for(lambda: len(d.events("reload_applied")) >= 2, what="the follow-up reload")
        time.sleep(1.0)
        applied = d.events("reload_applied", source="SIGHUP")
        self.assertEqual(len(applied), 2, "ten SIGHUPs during a reload make one more reload")

    def test_http_answers_during_a_slow_reload(self):
        """The reload runs on the main thread: while a plugin's init takes
        2 s, /-/healthy and /metrics go on answering at once."""
        install(self.plugins, "slow_init", "slow_init")
        d = self.start(TICK, plugin_dir=self.plugins)
        d.write_manifest(TICK + "  - id: slow\n    plugin: slow_init\n")
        answer = {}
        t = threading.Thread(target=lambda: answer.update(r=d.post("/-/reload")))
        t.start()
        wait_for(lambda: d.events("reload_started"), what="the reload to start")
        slowest = 0.0
        t0 = time.monotonic()
        while t.is_alive() and time.monotonic() - t0 < 1.5:
            for path in ("/-/healthy", "/metrics"):
                s0 = time.monotonic()
                self.assertEqual(d.get(path)[0], 200)
                slowest = max(slowest, time.monotonic() - s0)
            time.sleep(0.02)
        self.assertTrue(t.is_alive(), "the reload should still be in the plugin's init")
        # Answered while init runs, not after it: a bound well under its 2 s
        # (the 50 ms figure of a quiet machine is the benchmark's to claim).
        print("slowest answer during the reload: %.1f ms" % (slowest * 1000))
        self.assertLess(slowest, 0.5 * SLOW)
        t.join(30)
        self.assertEqual(answer["r"][0], 200)
        self.assertIn("slow", json.loads(answer["r"][2])["jobs"]["added"])

    def test_drain_timeout_bounds_old_code(self):
        install(self.plugins, "versioned", "versioned_v1")
        jobs = ("  - id: long\n    plugin: versioned\n    trigger: {interval: 100ms}\n"
                "    params: {sleep: 1h}\n")
        d = self.start(jobs, plugin_dir=self.plugins, host_extra="  drain_timeout: 300ms\n")
        run = wait_for(lambda: d.events("job_started", job="long"), what="a v1 run")[0]["run_id"]
        install(self.plugins, "versioned", "versioned_v2")
        self.assertEqual(d.post("/-/reload")[0], 200)
        fin = wait_for(lambda: d.events("job_finished", run_id=run), what="the v1 run to stop")
        # stopped because the reload's drain asked it to: cancelled, not a failure
        self.assertEqual(fin[0]["result"], "cancelled")

    def test_watch_reloads_on_change(self):
        d = self.start(TICK, plugin_dir=self.plugins, host_extra="  watch: true\n")
        d.write_manifest(TICK + "  - id: watched\n    plugin: fail\n    trigger: {interval: 100ms}\n")
        wait_for(lambda: d.events("reload_applied", source="watch"), what="a reload by watch")
        wait_for(lambda: self.runs(d, "watched", "fail", "failure") >= 1, what="the new job")
        n = len(d.events("reload_applied"))
        install(self.plugins, "fail", "versioned_v1")  # a new build of a plugin in use
        wait_for(lambda: len(d.events("reload_applied")) > n, what="a reload for the .so")
        self.assertEqual(d.events("reload_applied")[-1]["source"], "watch")

    def test_world_writable_plugin_dir_stops_reloads(self):
        d = self.start(TICK, plugin_dir=self.plugins)
        os.chmod(self.plugins, 0o777)
        try:
            status, _, body = d.post("/-/reload")
        finally:
            os.chmod(self.plugins, 0o755)
        self.assertEqual(status, 400)
        self.assertIn("writable by others", json.loads(body)["errors"][0])

    def test_many_reloads_keep_the_schedule(self):
        """Reloads while a job fires every 50 ms: no firing doubled or
        missed, no run lost."""
        job = "  - id: fast\n    plugin: ok\n    trigger: {interval: 50ms}\n"
        d = self.start(job, plugin_dir=self.plugins, level="info")
        n = 60 if SANITIZED else 200
        t0 = time.monotonic()
        i = 0
        # at least n reloads, over at least 1.5 s so the job fires often
        while (i < n or time.monotonic() - t0 < 1.5) and i < 5000:
            extra = "  - id: extra%d\n    plugin: fail\n" % (i % 3)
            d.write_manifest(job + extra)
            status, _, body = d.post("/-/reload")
            self.assertEqual(status, 200, body)
            i += 1
        time.sleep(0.2)
        self.assertEqual(d.stop(), 0)
        started = d.events("job_started", job="fast")
        finished = d.events("job_finished", job="fast")
        self.assertGreater(len(started), 10)
        self.assertEqual(len(started), len(finished))  # no lost in-flight run
        times = [r["scheduled"] for r in started]
        self.assertEqual(len(times), len(set(times)), "a firing was doubled")
        # consecutive scheduled times are one period apart: none missed
        # (coalesced or skipped firings would be recorded as such)
        skipped = d.events("job_skipped", job="fast")
        self.assertEqual(skipped, [])
        secs = [_seconds(t) for t in times]
        gaps = [round((b - a) * 1000) for a, b in zip(secs, secs[1:])]
        self.assertTrue(all(g == 50 for g in gaps), gaps)


def _seconds(rfc3339):
    """'2026-11-29T22:39:35.699+00:00' -> seconds (float) since midnight + date."""
    date, rest = rfc3339.split("T")
    clock = rest[:12]
    h, m, s = clock.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s) + int(date.replace("-", "")) * 86400


if __name__ == "__main__":
    main()
