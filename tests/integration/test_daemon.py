"""The real daemon, end to end: it fires jobs, records them in /metrics,
logs them, stops gracefully on SIGTERM and reopens its log on SIGUSR1."""
import os
import shutil
import signal
import subprocess
import time

from harness import (FIXTURES, JOBHOST, PLUGINS, ROOT, Daemon, DaemonTest, main, parse_metrics,
                     wait_for)

TICK = "  - id: tick\n    plugin: ok\n    trigger: {interval: 200ms}\n"


class Firing(DaemonTest):
    def test_interval_job_fires_and_is_counted(self):
        d = self.start(TICK)
        wait_for(lambda: d.metric('jobhost_job_runs_total{job_id="tick",plugin="ok",result="success"}')
                 >= 3, what="3 runs")
        m = d.metrics()
        runs = m['jobhost_job_runs_total{job_id="tick",plugin="ok",result="success"}']
        # every run is in the histogram and logged with its run id
        self.assertGreaterEqual(m['jobhost_job_duration_seconds_count{job_id="tick"}'], runs)
        self.assertIn('jobhost_job_next_run_timestamp_seconds{job_id="tick"}', m)
        self.assertEqual(m["jobhost_jobs"], 1)
        # records are written by the log thread: wait for them, too
        finished = wait_for(lambda: len(d.events("job_finished", job="tick")) >= 3 and
                            d.events("job_finished", job="tick"), what="3 records")
        self.assertRegex(finished[0]["run_id"], r"^[0-9a-f]{16}$")
        self.assertEqual(finished[0]["result"], "success")
        # run ids are unique
        ids = [r["run_id"] for r in finished]
        self.assertEqual(len(ids), len(set(ids)))

    def test_failure_success_and_skip_are_distinguished(self):
        d = self.start(TICK +
                       "  - id: bad\n    plugin: fail\n    trigger: {interval: 200ms}\n"
                       "  - id: slow\n    plugin: sleep\n    trigger: {interval: 100ms}\n"
                       "    params: {duration: 350ms}\n")
        wait_for(lambda: d.metric('jobhost_job_runs_total{job_id="bad",plugin="fail",result="failure"}')
                 >= 2 and d.metric('jobhost_job_skipped_total{job_id="slow",reason="max_instances"}')
                 >= 2, what="failures and skips")
        failed = d.wait_events("job_finished", job="bad")
        self.assertEqual(failed[0]["result"], "failure")
        self.assertEqual(failed[0]["error"], "fixture failure")
        self.assertEqual(failed[0]["level"], "warn")
        skipped = d.wait_events("job_skipped", job="slow")
        self.assertEqual(skipped[0]["reason"], "max_instances")
        self.assertGreater(d.metric('jobhost_job_last_failure_timestamp_seconds{job_id="bad"}'),
                           1e9)

    def test_timeout_in_thread_mode(self):
        d = self.start("  - id: overrun\n    plugin: sleep\n    trigger: {interval: 300ms}\n"
                       "    timeout: 100ms\n    params: {duration: 5s}\n")
        wait_for(lambda: d.events("job_finished", job="overrun"), what="a timed-out run")
        rec = d.events("job_finished", job="overrun")[0]
        self.assertEqual(rec["result"], "timeout")
        self.assertEqual(d.metric('jobhost_job_runs_total{job_id="overrun",plugin="sleep",result="timeout"}'), 1)

    def test_dry_run_host(self):
        d = self.daemon("  - id: ex\n    plugin: exec\n    trigger: {interval: 200ms}\n"
                        "    params: {command: \"touch %s/created\"}\n" % "/tmp/jobhost-never",
                        plugin_dir=PLUGINS, args=["--dry-run"])
        d.start()
        wait_for(lambda: d.metric('jobhost_job_runs_total{job_id="ex",plugin="exec",result="dry_run"}')
                 >= 2, what="dry runs")
        self.assertFalse(os.path.exists("/tmp/jobhost-never/created"))
        self.assertTrue(d.wait_events("would_run", job="ex"))

    def test_failing_dry_run_is_not_a_failure(self):
        d = self.daemon("  - id: bad\n    plugin: fail\n    trigger: {interval: 200ms}\n",
                        args=["--dry-run"])
        d.start()
        wait_for(lambda: d.metric('jobhost_job_runs_total{job_id="bad",plugin="fail",result="dry_run"}')
                 >= 2, what="dry runs")
        m = d.metrics()
        self.assertEqual(m['jobhost_job_runs_total{job_id="bad",plugin="fail",result="failure"}'], 0)
        self.assertNotIn('jobhost_job_last_failure_timestamp_seconds{job_id="bad"}', m)
        rec = d.wait_events("job_finished", job="bad")[0]
        self.assertEqual(rec["result"], "dry_run")
        self.assertEqual(rec["error"], "fixture failure")


class Stopping(DaemonTest):
    def test_sigterm_lets_running_job_finish(self):
        d = self.start("  - id: slow\n    plugin: sleep\n    trigger: {interval: 200ms}\n"
                       "    params: {duration: 800ms}\n")
        wait_for(lambda: d.events("job_started", job="slow"), what="a run to start")
        self.assertEqual(d.stop(signal.SIGTERM), 0)
        fin = d.events("job_finished", job="slow")
        self.assertEqual(len(fin), len(d.events("job_started", job="slow")))
        self.assertEqual(fin[-1]["result"], "success")
        self.assertTrue(d.events("host_stopped"))

    def test_shutdown_timeout_raises_cancellation(self):
        d = self.daemon("  - id: stuck\n    plugin: sleep\n    trigger: {interval: 100ms}\n"
                        "    params: {duration: 1h}\n")
        d.write_manifest("  - id: stuck\n    plugin: sleep\n    trigger: {interval: 100ms}\n"
                         "    params: {duration: 1h}\n")
        with open(d.manifest) as f:
            text = f.read().replace("shutdown_timeout: 10s", "shutdown_timeout: 300ms")
        with open(d.manifest, "w") as f:
            f.write(text)
        d.start()
        wait_for(lambda: d.events("job_started", job="stuck"), what="a run to start")
        t0 = time.monotonic()
        self.assertEqual(d.stop(signal.SIGINT), 0)
        self.assertLess(time.monotonic() - t0, 20)
        self.assertTrue(d.events("shutdown_cancelling"))
        # stopped because the host asked: cancelled, not a failure
        self.assertEqual(d.events("job_finished", job="stuck")[-1]["result"], "cancelled")

    def test_bad_manifest_refuses_to_start(self):
        d = self.daemon(TICK)
        with open(d.manifest, "a") as f:
            f.write("  - id: tick\n    plugin: ok\n")
        d.start(wait_ready=False)
        self.assertEqual(d.proc.wait(timeout=20), 1)
        self.assertIn('duplicate job id "tick"', d.stderr_text())

    def test_sigusr1_reopens_moved_log(self):
        d = self.start(TICK)
        wait_for(lambda: d.events("job_finished"), what="a record")
        os.rename(d.log_path, d.log_path + ".1")
        d.send(signal.SIGUSR1)
        wait_for(lambda: os.path.exists(d.log_path) and d.events("job_finished"),
                 what="records in the reopened file")


class Http(DaemonTest):
    def test_metrics_pass_promtool(self):
        d = self.start(TICK + "  - id: nightly.db-backup_2\n    plugin: fail\n    trigger: {interval: 200ms}\n")
        wait_for(lambda: d.metric('jobhost_job_runs_total{job_id="tick",plugin="ok",result="success"}')
                 >= 2, what="runs")
        status, headers, body = d.request("GET", "/metrics")
        self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        if shutil.which("promtool"):
            p = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertEqual(p.stdout + p.stderr, b"")
        self.assertIn(b'job_id="nightly.db-backup_2"', body)
        for name in (b"process_cpu_seconds_total", b"process_resident_memory_bytes",
                     b"process_open_fds", b"process_start_time_seconds", b"jobhost_build_info"):
            self.assertIn(name, body)

    def test_gzip_and_openmetrics(self):
        d = self.start(TICK)
        status, headers, body = d.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
        self.assertEqual(headers.get("Content-Encoding"), "gzip")
        self.assertIn("Accept-Encoding", headers.get("Vary", ""))
        self.assertIn(b"jobhost_build_info", body)
        status, headers, body = d.request(
            "GET", "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        self.assertTrue(headers["Content-Type"].startswith("application/openmetrics-text"))
        self.assertTrue(body.endswith(b"# EOF\n"))

    def test_health_and_errors(self):
        d = self.start(TICK)
        self.assertEqual(d.get("/-/healthy")[0], 200)
        self.assertEqual(d.get("/-/ready")[0], 200)
        self.assertEqual(d.get("/nope")[0], 404)
        status, headers, _ = d.request("GET", "/-/reload")
        self.assertEqual(status, 405)
        self.assertEqual(headers["Allow"], "POST")

    def test_job_routes_405_and_raw_paths(self):
        d = self.start("  - id: tick\n    plugin: ok\n")
        # every known path answers a wrong method with 405 and its methods
        for method, path, allow in [("GET", "/api/v1/jobs/tick/run", "POST"),
                                    ("GET", "/api/v1/jobs/tick/pause", "POST"),
                                    ("DELETE", "/api/v1/jobs/tick/resume", "POST"),
                                    ("POST", "/api/v1/jobs/tick", "GET, HEAD"),
                                    ("POST", "/api/v1/jobs", "GET, HEAD")]:
            status, headers, _ = d.request(method, path, body=b"" if method == "POST" else None)
            self.assertEqual((status, headers.get("Allow")), (405, allow), (method, path))
        self.assertEqual(d.get("/api/v1/jobs/tick/nope")[0], 404)
        self.assertEqual(d.get("/api/v1/jobs/tick/run/x")[0], 404)
        # paths are routed as sent: %2F does not reach /api/v1/jobs/tick/run
        # and %00 does not make "tick%00x" the job "tick"
        status, headers, _ = d.request("POST", "/api/v1/jobs/tick%2Frun", body=b"")
        self.assertEqual((status, headers.get("Allow")), (405, "GET, HEAD"))
        self.assertEqual(d.get("/api/v1/jobs/tick%00x")[0], 404)
        self.assertEqual(d.get("/api/v1/jobs/tick%2Frun")[0], 404)
        self.assertEqual(d.get("/api/v1/jobs/%74ick")[0], 200)  # decoded where it is a name
        self.assertEqual(d.metric('jobhost_job_runs_total{job_id="tick",plugin="ok",result="success"}'), 0)
        status, _, body = d.post("/api/v1/jobs/tick/run")
        self.assertEqual(status, 202, body)

    def test_bearer_token_guards_posts(self):
        d = self.daemon("  - id: manual\n    plugin: ok\n")
        token_file = os.path.join(d.dir, "token")
        with open(token_file, "w") as f:
            f.write("s3cret-token\n")
        os.chmod(token_file, 0o600)
        d.http_extra = ", token_file: %s" % token_file
        d.write_manifest("  - id: manual\n    plugin: ok\n")
        d.start()
        status, headers, _ = d.request("POST", "/api/v1/jobs/manual/run")
        self.assertEqual(status, 401)
        self.assertEqual(headers["WWW-Authenticate"], 'Bearer realm="jobhost"')
        status, _, _ = d.request("POST", "/-/reload", headers={"Authorization": "Bearer wrong"})
        self.assertEqual(status, 401)
        status, _, body = d.request("POST", "/api/v1/jobs/manual/run",
                                    headers={"Authorization": "Bearer s3cret-token"})
        self.assertEqual(status, 202, body)
        self.assertEqual(d.get("/metrics")[0], 200)  # reads stay open
        # a token file others can read is refused by check
        os.chmod(token_file, 0o644)
        p = subprocess.run([JOBHOST, "check", "-c", d.manifest], capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn("readable by others", p.stderr)

    def test_values_equal_runs_made(self):
        d = self.start("  - id: manual\n    plugin: ok\n")
        runs = 'jobhost_job_runs_total{job_id="manual",plugin="ok",result="success"}'
        for i in range(5):
            status, _, body = d.post("/api/v1/jobs/manual/run")
            self.assertEqual(status, 202, body)
            # finished, not merely not running yet: max_instances is 1
            wait_for(lambda: d.metric(runs) == i + 1, what="run %d" % (i + 1))
        wait_for(lambda: d.metric('jobhost_job_runs_total{job_id="manual",plugin="ok",result="success"}') == 5,
                 what="5 runs")
        m = d.metrics()
        self.assertEqual(m['jobhost_job_duration_seconds_count{job_id="manual"}'], 5)
        self.assertEqual(m['jobhost_job_start_delay_seconds_count{job_id="manual"}'], 5)


class Cli(DaemonTest):
    def test_check_is_valgrind_clean(self):
        if not shutil.which("valgrind") or os.environ.get("JOBHOST_VARIANT", "release") != "release":
            self.skipTest("valgrind runs on the plain build only")
        p = subprocess.run(["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
                            "--error-exitcode=99", JOBHOST, "check", "-c",
                            os.path.join(ROOT, "config", "jobhost.yaml")],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        self.assertIn("ERROR SUMMARY: 0 errors", p.stderr)

    def test_check_example_config(self):
        p = subprocess.run([JOBHOST, "check", "-c", os.path.join(ROOT, "config", "jobhost.yaml")],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("ok", p.stdout)


if __name__ == "__main__":
    main()
