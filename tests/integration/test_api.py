"""The jobs API and the live feed against the real daemon: the daemon's
status, a job's state, strip, next fire times and settings, the
Server-Sent Events of runs, skips and reloads (and a slow client told to
resync), and a 405 with Allow for every wrong method on every route,
with and without a token."""
import json
import os
import socket
import threading
import time

from harness import SLOW, DaemonTest, main, wait_for

OK = "  - id: good\n    plugin: ok\n    trigger: {interval: 1h}\n"
FAIL = "  - id: bad\n    plugin: fail\n    trigger: {interval: 1h}\n"


class Feed:
    """One connection to GET /api/v1/events, read by a thread of its own
    into a list of (event, data) pairs."""

    def __init__(self, port, rcvbuf=None, read=True):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
        self.events = []
        self.raw = b""
        self.lock = threading.Lock()
        self.thread = None
        if read:
            self.start()

    def start(self):
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        buf = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.raw += data
            buf += data
            # chunked framing aside, events end in a blank line
            while b"\n\n" in buf:
                block, buf = buf.split(b"\n\n", 1)
                name, payload = None, None
                for line in block.split(b"\n"):
                    if line.startswith(b"event: "):
                        name = line[7:].decode()
                    elif line.startswith(b"data: "):
                        payload = line[6:].decode()
                if name:
                    with self.lock:
                        self.events.append((name, json.loads(payload) if payload else None))

    def named(self, name, **match):
        with self.lock:
            return [d for n, d in self.events if n == name and
                    all(d.get(k) == v for k, v in match.items())]

    def wait(self, name, **match):
        return wait_for(lambda: self.named(name, **match), what="event %s %r" % (name, match))

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        if self.thread:
            self.thread.join(5)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Api(DaemonTest):
    def job(self, d, job_id, query=""):
        status, body = d.get("/api/v1/jobs/%s%s" % (job_id, query))
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def test_status(self):
        d = self.start(OK)
        status, body = d.get("/api/v1/status")
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        for key in ("version", "abi", "pid", "node", "started", "uptime_seconds", "manifest",
                    "jobs", "plugins", "workers", "dry_run", "last_reload", "auth"):
            self.assertIn(key, doc)
        self.assertEqual(doc["pid"], d.proc.pid)
        self.assertEqual(doc["manifest"], d.manifest)
        self.assertEqual((doc["jobs"], doc["plugins"]), (1, 1))
        self.assertIsNone(doc["last_reload"])
        self.assertEqual(doc["auth"], "none")
        self.assertGreaterEqual(doc["uptime_seconds"], 0)
        self.assertEqual(doc["node"], socket.gethostname())
        self.assertEqual(d.post("/-/reload")[0], 200)
        doc = json.loads(d.get("/api/v1/status")[1])
        self.assertEqual((doc["last_reload"]["result"], doc["last_reload"]["source"]),
                         ("applied", "http"))
        self.assertTrue(doc["last_reload"]["time"])
        d.write_manifest(OK + "  - id: broken\n    plugin: ok\n    trigger: {cron: \"99 * * * *\"}\n")
        self.assertEqual(d.post("/-/reload")[0], 400)
        doc = json.loads(d.get("/api/v1/status")[1])
        self.assertEqual(doc["last_reload"]["result"], "refused")
        self.assertIn("field 1 (minute)", doc["last_reload"]["errors"][0])

    def test_job_state_strip_and_next_runs(self):
        jobs = (OK + FAIL +
                "  - id: off\n    plugin: ok\n    enabled: false\n    trigger: {interval: 1h}\n"
                "  - id: nightly\n    plugin: ok\n"
                "    trigger: {cron: \"0 3 * * *\", timezone: Europe/Berlin}\n"
                "    timeout: 90s\n    params: {tag: hunter2}\n")
        d = self.start(jobs)
        states = {j["id"]: j["state"] for j in json.loads(d.get("/api/v1/jobs")[1])["jobs"]}
        self.assertEqual(states, {"good": "ok", "bad": "ok", "off": "disabled", "nightly": "ok"})
        for _ in range(3):
            self.assertEqual(d.post("/api/v1/jobs/bad/run")[0], 202)
            wait_for(lambda: self.job(d, "bad")["running"] == 0 and self.job(d, "bad")["last_run"])
        self.assertEqual(d.post("/api/v1/jobs/good/run")[0], 202)
        wait_for(lambda: self.job(d, "good")["recent"] == ["success"])
        bad = wait_for(lambda: (lambda j: j if len(j["recent"]) == 3 else None)(self.job(d, "bad")))
        self.assertEqual(bad["state"], "failing")
        self.assertEqual(bad["recent"], ["failure"] * 3)
        self.assertEqual(d.post("/api/v1/jobs/bad/pause")[0], 200)
        self.assertEqual(self.job(d, "bad")["state"], "paused")
        self.assertEqual(d.post("/api/v1/jobs/bad/resume")[0], 200)
        self.assertEqual(self.job(d, "bad")["state"], "failing")

        nightly = self.job(d, "nightly", "?next=3")
        self.assertEqual(nightly["timezone"], "Europe/Berlin")
        self.assertEqual(len(nightly["next_runs"]), 3)
        self.assertEqual(nightly["next_runs"][0], nightly["next_run"])
        self.assertTrue(all(t.endswith(("+01:00", "+02:00", "+00:00")) or t for t in nightly["next_runs"]))
        self.assertLess(nightly["next_runs"][0], nightly["next_runs"][1])
        spec = nightly["spec"]
        self.assertEqual(spec["trigger_kind"], "cron")
        self.assertEqual(spec["timeout_seconds"], 90)
        self.assertEqual(spec["params"], ["tag"])
        self.assertNotIn("hunter2", json.dumps(nightly))  # values stay in the manifest
        self.assertEqual(len(self.job(d, "good")["next_runs"]), 5)
        self.assertEqual(self.job(d, "off")["next_runs"], [])
        self.assertEqual(d.get("/api/v1/jobs/good?next=101")[0], 400)
        self.assertEqual(d.get("/api/v1/jobs/good?next=x")[0], 400)

    def test_missed_until_the_next_run(self):
        # one worker, held by a long manual run: a firing of `late` waits
        # past its misfire_grace and is skipped as misfired
        jobs = ("  - id: hog\n    plugin: sleep\n    params: {duration: 3s}\n"
                "  - id: late\n    plugin: ok\n    trigger: {interval: 300ms}\n"
                "    misfire_grace: 20ms\n")
        d = self.start(jobs, workers=1)
        feed = Feed(d.port)
        self.addCleanup(feed.close)
        feed.wait("hello")
        self.assertEqual(d.post("/api/v1/jobs/hog/run")[0], 202)
        wait_for(lambda: self.job(d, "late")["state"] == "missed", what="late to be missed")
        self.assertTrue(self.job(d, "late")["missed"])
        feed.wait("skipped", job="late", reason="misfire")
        self.assertEqual(feed.named("skipped", job="late", reason="misfire")[0]["state"], "missed")
        wait_for(lambda: self.job(d, "late")["state"] == "ok", timeout=15, what="late to run again")
        self.assertIsNone(self.job(d, "late")["missed"])

    def test_events_of_runs_skips_and_reloads(self):
        d = self.start(OK + FAIL)
        feed = Feed(d.port)
        self.addCleanup(feed.close)
        hello = feed.wait("hello")[0]
        self.assertIn("version", hello)
        status, _, body = d.post("/api/v1/jobs/bad/run")
        run_id = json.loads(body)["run_id"]
        started = feed.wait("started", run_id=run_id)[0]
        self.assertEqual((started["job"], started["trigger"], started["dry_run"]),
                         ("bad", "manual", False))
        finished = feed.wait("finished", run_id=run_id)[0]
        self.assertEqual((finished["result"], finished["state"], finished["running"]),
                         ("failure", "failing", 0))
        self.assertEqual(finished["error"], "fixture failure")
        self.assertIsNotNone(finished["next_run"])
        # a dry run
        status, _, body = d.post("/api/v1/jobs/good/run?dry_run=true")
        dry = feed.wait("finished", run_id=json.loads(body)["run_id"])[0]
        self.assertEqual(dry["result"], "dry_run")
        # a skip: a paused job's firing
        d.write_manifest(OK + FAIL + "  - id: tick\n    plugin: ok\n    trigger: {interval: 100ms}\n")
        self.assertEqual(d.post("/-/reload")[0], 200)
        reload = feed.wait("reload")[0]
        self.assertEqual(reload["status"], "applied")
        self.assertEqual(reload["jobs"]["added"], ["tick"])
        self.assertEqual(d.post("/api/v1/jobs/tick/pause")[0], 200)
        skipped = feed.wait("skipped", job="tick", reason="paused")[0]
        self.assertEqual(skipped["count"], 1)
        self.assertEqual(skipped["state"], "paused")
        # a refused reload is an event too
        d.write_manifest("  - id: x\n    plugin: ok\n    trigger: {cron: nonsense}\n")
        self.assertEqual(d.post("/-/reload")[0], 400)
        refused = feed.wait("reload", status="refused")[0]
        self.assertIn("trigger.cron", refused["errors"][0])
        # the HTTP framing: an event stream, not cached
        with feed.lock:
            head = feed.raw.split(b"\r\n\r\n", 1)[0].decode().lower()
        self.assertIn("content-type: text/event-stream", head)
        self.assertIn("cache-control: no-cache", head)
        self.assertIn("transfer-encoding: chunked", head)

    def test_idle_feed_costs_nothing_and_ends_with_the_daemon(self):
        d = self.start(OK)
        feeds = [Feed(d.port) for _ in range(5)]
        for f in feeds:
            self.addCleanup(f.close)
            f.wait("hello")
        before = cpu_seconds(d.proc.pid)
        time.sleep(2)
        self.assertLess(cpu_seconds(d.proc.pid) - before, 0.2 * SLOW)  # parked, not polled
        self.assertEqual(d.get("/-/healthy")[0], 200)
        t0 = time.monotonic()
        self.assertEqual(d.stop(), 0)
        self.assertLess(time.monotonic() - t0, 5 * SLOW)
        for f in feeds:
            f.thread.join(5)
            self.assertFalse(f.thread.is_alive())  # the daemon closed them

    def test_slow_client_is_told_to_resync(self):
        d = self.start("  - id: busy\n    plugin: ok\n    trigger: {interval: 2ms}\n"
                       "    misfire_grace: 0\n")
        slow = Feed(d.port, rcvbuf=65536, read=False)  # reads nothing for now
        self.addCleanup(slow.close)
        fast = Feed(d.port)
        self.addCleanup(fast.close)
        fast.wait("hello")
        # ~1,000 events a second, a few hundred bytes each: the slow
        # client's queue (256 KiB, beyond a piece and the sockets' 64 KiB
        # buffers) overflows
        wait_for(lambda: len(fast.named("finished")) > 1500, timeout=30, what="many events")
        slow.start()
        slow.wait("resync")
        self.assertGreater(slow.named("resync")[0]["dropped"], 0)
        # after the resync it is fed again, and the fast one never resynced
        n = len(slow.named("finished"))
        wait_for(lambda: len(slow.named("finished")) > n + 10, what="events after the resync")
        self.assertEqual(fast.named("resync"), [])
        self.assertEqual(d.get("/-/healthy")[0], 200)

    def test_every_route_405_with_allow(self):
        token = os.path.join(self.daemon_dir(), "token")
        with open(token, "w") as f:
            f.write("t0ken\n")
        os.chmod(token, 0o600)
        routes = {
            "/metrics": "GET, HEAD", "/-/healthy": "GET, HEAD", "/-/ready": "GET, HEAD",
            "/-/reload": "POST", "/api/v1/jobs": "GET, HEAD", "/api/v1/jobs/good": "GET, HEAD",
            "/api/v1/jobs/good/run": "POST", "/api/v1/jobs/good/pause": "POST",
            "/api/v1/jobs/good/resume": "POST", "/api/v1/status": "GET, HEAD",
            "/api/v1/events": "GET, HEAD", "/": "GET, HEAD", "/ui/app.js": "GET, HEAD",
        }
        methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
        for http_extra in ("", ", token_file: %s" % token):
            with self.subTest(token=bool(http_extra)):
                d = self.start(OK, http_extra=http_extra)
                for path, allow in routes.items():
                    for m in methods:
                        if m in allow.split(", "):
                            continue
                        status, headers, _ = d.request(m, path)
                        self.assertEqual(status, 405, (m, path))
                        self.assertEqual(headers.get("Allow"), allow, (m, path))
                d.stop()

    def daemon_dir(self):
        import tempfile
        import shutil
        path = tempfile.mkdtemp(prefix="jobhost-it-token-")
        self.addCleanup(shutil.rmtree, path, True)
        return path


if __name__ == "__main__":
    main()
