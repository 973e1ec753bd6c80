"""Notifications and dead-man pings with the real daemon, received by a
private HTTP server this test starts on a free loopback port (and stops):
a failure then a recovery, a receiver that answers 500 then 200, one that
never answers within the timeout, headers from a file, and pings in the
healthchecks.io form."""
import http.server
import json
import os
import threading
import time

from harness import PLUGINS, SLOW, DaemonTest, main, wait_for


class Receiver:
    """Records every POST; answers each path with the statuses queued for it
    (then 200), or never answers paths listed in `hang`."""

    def __init__(self):
        self.requests = []
        self.statuses = {}
        self.hang = set()
        self.release = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"path": self.path, "body": body,
                                          "headers": dict(self.headers)})
                if self.path in receiver.hang:
                    receiver.release.wait(30)
                    return
                queued = receiver.statuses.get(self.path) or []
                status = queued.pop(0) if queued else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def at(self, path):
        return [r for r in self.requests if r["path"] == path]

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class Notify(DaemonTest):
    def receiver(self):
        r = Receiver()
        self.addCleanup(r.close)
        return r

    def test_failure_then_recovery(self):
        r = self.receiver()
        d = self.daemon("", plugin_dir=PLUGINS)
        flag = os.path.join(d.dir, "ok.flag")
        d.write_manifest("  - id: flip\n    plugin: exec\n"
                         "    params: {command: \"echo trying; test -e %s\"}\n"
                         "    notify: [{url: \"%s\", on: [failure, recovery], timeout: 2s,"
                         " headers: {X-Token: {file: %s}, X-Team: ops}}]\n"
                         % (flag, r.url("/hook"), os.path.join(d.dir, "token")))
        with open(os.path.join(d.dir, "token"), "w") as f:
            f.write("s3cret\n")
        d.start()
        # the API shows the policy, not the URL's path (often its secret)
        shown = json.loads(d.get("/api/v1/jobs/flip")[1])["notify"]
        self.assertEqual(shown, [{"url": "http://127.0.0.1:%d/..." % r.port,
                                  "on": ["failure", "recovery"], "timeout_seconds": 2.0}])
        d.post("/api/v1/jobs/flip/run")
        wait_for(lambda: r.at("/hook"), what="the failure notification")
        first = json.loads(r.at("/hook")[0]["body"])
        self.assertEqual(first["event"], "failure")
        self.assertEqual(first["job_id"], "flip")
        self.assertEqual(first["result"], "failure")
        self.assertEqual(first["trigger"], "manual")
        self.assertEqual(first["attempt"], 1)
        for key in ("run_id", "scheduled", "started", "finished", "error", "node", "output"):
            self.assertIn(key, first)
        self.assertEqual(r.at("/hook")[0]["headers"]["X-Token"], "s3cret")
        self.assertEqual(r.at("/hook")[0]["headers"]["X-Team"], "ops")
        open(flag, "w").close()
        d.post("/api/v1/jobs/flip/run")
        wait_for(lambda: len(r.at("/hook")) == 2, what="the recovery")
        second = json.loads(r.at("/hook")[1]["body"])
        self.assertEqual((second["event"], second["result"]), ("recovery", "success"))
        d.post("/api/v1/jobs/flip/run")  # a second success is no recovery
        wait_for(lambda: len(d.events("job_finished", job="flip")) == 3, what="a third run")
        time.sleep(0.3 * SLOW)
        self.assertEqual(len(r.at("/hook")), 2)
        m = d.metrics()
        self.assertEqual(m['jobhost_notifications_total{kind="notify",result="sent"}'], 2)
        self.assertEqual(m['jobhost_notifications_total{kind="notify",result="failed"}'], 0)
        # the secret never reaches the log
        with open(d.log_path) as f:
            self.assertNotIn("s3cret", f.read())

    def test_retried_after_500(self):
        r = self.receiver()
        r.statuses["/flaky"] = [500]
        d = self.start("  - id: bad\n    plugin: fail\n"
                       "    notify: [{url: \"%s\"}]\n" % r.url("/flaky"))
        d.post("/api/v1/jobs/bad/run")
        wait_for(lambda: len(r.at("/flaky")) == 2, what="the retry")
        self.assertEqual(r.at("/flaky")[0]["body"], r.at("/flaky")[1]["body"])
        wait_for(lambda: d.metric('jobhost_notifications_total{kind="notify",result="sent"}') == 1,
                 what="counted sent")

    def test_receiver_that_never_answers(self):
        r = self.receiver()
        r.hang.add("/slow")
        d = self.start("  - id: bad\n    plugin: fail\n    trigger: {interval: 200ms}\n"
                       "    notify: [{url: \"%s\", timeout: 300ms}]\n" % r.url("/slow"))
        # runs go on at their pace while the sender waits on the receiver
        wait_for(lambda: len(d.events("job_finished", job="bad")) >= 8, what="runs go on")
        failed = wait_for(lambda: d.events("notify_failed", job="bad"), timeout=20,
                          what="a notification given up on")
        self.assertEqual(failed[0]["target"], "http://127.0.0.1:%d" % r.port)
        self.assertEqual(failed[0]["tries"], "4")
        self.assertGreaterEqual(
            d.metric('jobhost_notifications_total{kind="notify",result="failed"}'), 1)

    def test_pings_in_healthchecks_form(self):
        r = self.receiver()
        d = self.start("  - id: good\n    plugin: ok\n    ping: \"%s\"\n"
                       "  - id: bad\n    plugin: fail\n    ping: \"%s\"\n"
                       % (r.url("/ping/abc"), r.url("/ping/def/")), host_extra="")
        self.assertEqual(json.loads(d.get("/api/v1/jobs/good")[1])["ping"],
                         "http://127.0.0.1:%d/..." % r.port)
        d.post("/api/v1/jobs/good/run")
        d.post("/api/v1/jobs/bad/run")
        wait_for(lambda: len(r.requests) == 4, what="four pings")
        paths = sorted(x["path"] for x in r.requests)
        self.assertEqual(paths, ["/ping/abc", "/ping/abc/start", "/ping/def/fail",
                                 "/ping/def/start"])
        fail = r.at("/ping/def/fail")[0]
        self.assertTrue(fail["headers"]["Content-Type"].startswith("text/plain"))
        m = d.metrics()
        self.assertEqual(m['jobhost_notifications_total{kind="ping",result="sent"}'], 4)

    def test_host_wide_notify_and_check(self):
        r = self.receiver()
        d = self.start("  - id: bad\n    plugin: fail\n",
                       host_extra="  notify: [{url: \"%s\", on: [start, failure]}]\n"
                       % r.url("/all"))
        d.post("/api/v1/jobs/bad/run")
        wait_for(lambda: len(r.at("/all")) == 2, what="start and failure")
        events = [json.loads(x["body"])["event"] for x in r.at("/all")]
        self.assertEqual(sorted(events), ["failure", "start"])
        import subprocess
        from harness import JOBHOST
        d2 = self.daemon("  - id: x\n    plugin: ok\n"
                         "    notify: [{url: \"ftp://x\", on: [sometimes]}]\n")
        out = subprocess.run([JOBHOST, "check", "-c", d2.manifest], capture_output=True, text=True)
        self.assertEqual(out.returncode, 1)
        self.assertIn("jobs[0].notify[0].url: expected an http:// or https:// URL", out.stderr)


if __name__ == "__main__":
    main()
