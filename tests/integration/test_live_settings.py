"""A reload applies host settings live, or refuses with a reason: nothing
is silently ignored. The token and TLS files are re-read at every reload,
a new listen address is bound before the old one closes (a bind failure
refuses the reload and keeps the old), the worker pool is resized, and
what cannot change live is refused as needing a restart. Beyond loopback
without a token, mutating endpoints answer 403."""
import json
import os
import signal
import socket
import urllib.error
import urllib.request

from harness import DaemonTest, free_port, main, wait_for

TICK = "  - id: tick\n    plugin: ok\n    trigger: {interval: 1h}\n"


def post(port, path, token=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=b"", method="POST",
                                 headers={"Authorization": "Bearer " + token} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def connects(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


class LiveSettings(DaemonTest):
    def token_file(self, d, text):
        path = os.path.join(d.dir, "token")
        with open(path, "w") as f:
            f.write(text + "\n")
        os.chmod(path, 0o600)
        return path

    def test_token_file_added_and_rotated_by_reload(self):
        d = self.start(TICK)
        self.assertEqual(post(d.port, "/api/v1/jobs/tick/run")[0], 202)
        path = self.token_file(d, "first-secret")
        d.http_extra = ", token_file: %s" % path
        d.write_manifest(TICK)
        self.assertEqual(post(d.port, "/-/reload")[0], 200)
        self.assertEqual(post(d.port, "/api/v1/jobs/tick/run")[0], 401)
        self.assertEqual(post(d.port, "/api/v1/jobs/tick/run", "first-secret")[0], 202)
        # rotate: a new token in the same file, then a reload
        self.token_file(d, "second-secret")
        self.assertEqual(post(d.port, "/-/reload", "first-secret")[0], 200)
        self.assertEqual(post(d.port, "/api/v1/jobs/tick/run", "first-secret")[0], 401)
        self.assertEqual(post(d.port, "/api/v1/jobs/tick/run", "second-secret")[0], 202)

    def test_listen_moves_and_a_bind_failure_keeps_the_old(self):
        d = self.start(TICK)
        old = d.port
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        self.addCleanup(taken.close)
        d.port = taken.getsockname()[1]
        d.write_manifest(TICK)
        status, body = post(old, "/-/reload")
        self.assertEqual(status, 400)
        self.assertIn("Address already in use", json.loads(body)["errors"][0])
        self.assertEqual(post(old, "/api/v1/jobs/tick/run")[0], 202)  # the old one goes on
        d.port = free_port()
        d.write_manifest(TICK)
        self.assertEqual(post(old, "/-/reload")[0], 200)
        wait_for(lambda: d.get("/-/healthy")[0] == 200, what="the new address")
        # the old server is stopped once the new one serves
        wait_for(lambda: not connects(old), what="the old address closed")

    def test_workers_resized_live(self):
        d = self.start(TICK)
        self.assertEqual(d.metric("jobhost_executor_workers"), 2)
        d.workers = 5
        d.write_manifest(TICK)
        self.assertEqual(d.post("/-/reload")[0], 200)
        self.assertEqual(d.metric("jobhost_executor_workers"), 5)
        d.workers = 1
        d.write_manifest(TICK)
        self.assertEqual(d.post("/-/reload")[0], 200)
        wait_for(lambda: d.metric("jobhost_executor_workers") == 1, what="the pool to shrink")

    def test_what_cannot_change_live_is_refused(self):
        d = self.start(TICK)
        d.write_manifest(TICK, host_extra="  metrics: {duration_buckets: [1, 2, 3]}\n")
        status, body = post(d.port, "/-/reload")
        self.assertEqual(status, 400)
        self.assertIn("needs a restart", json.loads(body)["errors"][0])
        self.assertEqual(d.metric("jobhost_config_last_reload_successful"), 0)

    def test_beyond_loopback_without_token_is_read_only(self):
        d = self.daemon(TICK)
        d.write_manifest(TICK)
        with open(d.manifest) as f:
            text = f.read().replace("listen: 127.0.0.1:", "listen: 0.0.0.0:")
        with open(d.manifest, "w") as f:
            f.write(text)
        d.start()
        self.assertEqual(d.get("/api/v1/jobs")[0], 200)
        status, body = post(d.port, "/api/v1/jobs/tick/run")
        self.assertEqual(status, 403)
        self.assertIn(b"token_file", body)
        self.assertEqual(post(d.port, "/-/reload")[0], 403)
        d.wait_events("http_not_loopback")
        # allowed on purpose
        with open(d.manifest, "w") as f:
            f.write(text.replace("0.0.0.0:%d}" % d.port,
                                 "0.0.0.0:%d, allow_unauthenticated: true}" % d.port))
        d.send(signal.SIGHUP)
        wait_for(lambda: post(d.port, "/api/v1/jobs/tick/run")[0] == 202, what="writes allowed")


if __name__ == "__main__":
    main()
