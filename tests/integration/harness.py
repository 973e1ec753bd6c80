"""Integration harness: starts the real jobhost daemon on a generated
manifest in a temporary directory, on 127.0.0.1 and a free port, and talks
to it over HTTP, signals and its log file (as nginx-tests and redis's
start_server do).

The daemon binary comes from $JOBHOST (the sanitizer runs point it at
their build), else host/jobhost.
"""
import gzip
import json
import datetime
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JOBHOST = os.environ.get("JOBHOST", os.path.join(ROOT, "host", "jobhost"))
FIXTURES = os.path.join(ROOT, "tests", "plugins")
PLUGINS = os.path.join(ROOT, "plugins")
SANITIZED = os.environ.get("JOBHOST_VARIANT", "release") != "release"
# Sanitized builds are several times slower; scale waits, never assertions.
SLOW = 4.0 if SANITIZED else 1.0


def preload(*libs):
    """LD_PRELOAD for the daemon: a sanitizer runtime the binary links
    must come before any other preloaded library, or it refuses to start."""
    out = subprocess.run(["ldd", JOBHOST], capture_output=True, text=True).stdout
    first = [l.split("=>")[1].split()[0] for l in out.splitlines()
             if "=>" in l and re.search(r"lib[at]san\.so", l)]
    return "LD_PRELOAD=" + " ".join(first + list(libs))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout * SLOW
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def parse_metrics(text):
    """Exposition text -> {'name{labels}': value}."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^(\S+?(?:\{.*\})?) (\S+)$', line)
        if m:
            samples[m.group(1)] = float(m.group(2))
    return samples


def parse_logfmt(line):
    """One logfmt record -> dict (handles quoted values with escapes)."""
    out = {}
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] == " ":
            i += 1
        j = i
        while j < n and line[j] not in "= ":
            j += 1
        key = line[i:j]
        if j >= n or line[j] != "=":
            if key:
                out[key] = ""
            i = j
            continue
        j += 1
        if j < n and line[j] == '"':
            j += 1
            val = []
            while j < n and line[j] != '"':
                if line[j] == "\\" and j + 1 < n:
                    j += 1
                    val.append({"n": "\n", "t": "\t", "r": "\r"}.get(line[j], line[j]))
                else:
                    val.append(line[j])
                j += 1
            out[key] = "".join(val)
            i = j + 1
        else:
            k = j
            while k < n and line[k] != " ":
                k += 1
            out[key] = line[j:k]
            i = k
    return out


class Daemon:
    """One jobhost process with its own directory, manifest and port."""

    def __init__(self, jobs_yaml, host_extra="", plugin_dir=FIXTURES, workers=2, level="debug",
                 args=(), wrapper=(), log_extra="", syslog="{enabled: false}", log_file=None,
                 http_extra=""):
        self.dir = tempfile.mkdtemp(prefix="jobhost-it-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.manifest = os.path.join(self.dir, "jobhost.yaml")
        self.log_path = os.path.join(self.dir, "jobhost.log")  # before log_file's default
        self.plugin_dir = plugin_dir
        self.workers = workers
        self.level = level
        self.host_extra = host_extra
        self.args = list(args)
        self.wrapper = list(wrapper)  # a command that execs the daemon (e.g. in a namespace)
        self.log_extra = log_extra    # more lines under host.log
        self.syslog = syslog
        self.http_extra = http_extra  # more keys in host.http, e.g. ", token_file: /x"
        self.log_file = log_file or "{path: %s, max_size: 100MiB, keep: 2}" % self.log_path
        self.proc = None
        self.write_manifest(jobs_yaml)

    def write_manifest(self, jobs_yaml, host_extra=None):
        if host_extra is not None:
            self.host_extra = host_extra
        text = (
            "host:\n"
            "  plugin_dir: %s\n"
            "  workers: %d\n"
            "  shutdown_timeout: 10s\n"
            "  http: {listen: 127.0.0.1:%d%s}\n"
            "  log:\n"
            "    level: %s\n"
            "    syslog: %s\n"
            "    file: %s\n"
            "    stderr: false\n"
            "%s"
            "%s"
            "jobs:\n%s" % (self.plugin_dir, self.workers, self.port, self.http_extra, self.level,
                           self.syslog,
                           self.log_file, self.log_extra, self.host_extra, jobs_yaml))
        tmp = self.manifest + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.manifest)

    def start(self, wait_ready=True):
        self.stderr_path = os.path.join(self.dir, "stderr.txt")
        self.stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.wrapper + [JOBHOST, "-c", self.manifest] + self.args,
                                     stdout=self.stderr, stderr=self.stderr,
                                     stdin=subprocess.DEVNULL)
        if wait_ready:
            wait_for(self.ready, timeout=15, what="daemon ready")
        return self

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("daemon exited with %s: %s" % (self.proc.returncode,
                                                                self.stderr_text()))
        try:
            return self.get("/-/ready")[0] == 200
        except OSError:
            return False

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def request(self, method, path, body=None, headers=None, timeout=10):
        req = urllib.request.Request(self.url(path), data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout * SLOW) as r:
                data = r.read()
                if r.headers.get("Content-Encoding") == "gzip":
                    data = gzip.decompress(data)
                return r.status, dict(r.headers), data
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def get(self, path, headers=None):
        status, _, body = self.request("GET", path, headers=headers)
        return status, body

    def post(self, path, body=b""):
        return self.request("POST", path, body=body)

    def metrics(self):
        status, body = self.get("/metrics")
        assert status == 200, status
        return parse_metrics(body.decode())

    def metric(self, series, default=0.0):
        return self.metrics().get(series, default)

    def records(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return [parse_logfmt(l.rstrip("\n")) for l in f if l.strip()]
        except FileNotFoundError:
            return []

    def events(self, event, **match):
        return [r for r in self.records() if r.get("event") == event and
                all(r.get(k) == v for k, v in match.items())]

    def wait_events(self, event, **match):
        """events(), waiting for at least one: records reach the file through
        the log queue, after the metrics that count the same run."""
        return wait_for(lambda: self.events(event, **match), what="a %s record" % event)

    def send(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("daemon did not stop within %ss" % timeout)

    def stderr_text(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except (AttributeError, FileNotFoundError):
            return ""

    def worker_pids(self):
        """Pids of this daemon's worker processes (isolation: process), alive
        or not yet reaped: argv is `jobhost-worker __worker DAEMON_PID`."""
        if self.proc is None:
            return []
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % name, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if len(argv) >= 3 and argv[1] == b"__worker" and argv[2] == str(self.proc.pid).encode():
                found.append(int(name))
        return found

    def close(self):
        try:
            self.stop(signal.SIGKILL)
        except AssertionError:
            pass
        if self.proc is not None:
            # No process of the daemon's may outlive it: its workers leave
            # when their socket closes.
            deadline = time.monotonic() + 5 * SLOW
            left = self.worker_pids()
            while left and time.monotonic() < deadline:
                time.sleep(0.05)
                left = self.worker_pids()
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            if left:
                raise AssertionError("worker processes outlived the daemon: %s" % left)
            self.stderr.close()
            # A sanitizer report goes to stderr: make it a failure.
            text = self.stderr_text()
            if "ERROR: AddressSanitizer" in text or "WARNING: ThreadSanitizer" in text or \
                    "runtime error:" in text or "ERROR: LeakSanitizer" in text:
                raise AssertionError("sanitizer report from the daemon:\n" + text[-6000:])
        shutil.rmtree(self.dir, ignore_errors=True)


def ts(text):
    """A record's ts (RFC 3339 with offset) as Unix seconds."""
    return datetime.datetime.fromisoformat(text).timestamp()


class DaemonTest(unittest.TestCase):
    """Test case whose daemons are stopped and removed after each test."""

    def daemon(self, jobs_yaml, **kw):
        d = Daemon(jobs_yaml, **kw)
        self.addCleanup(d.close)
        return d

    def start(self, jobs_yaml, **kw):
        return self.daemon(jobs_yaml, **kw).start()


def main():
    """Runs the module's tests (or those named on the command line) and
    prints 'NAME: N passed, N failed'."""
    name = os.path.basename(sys.argv[0])
    module = sys.modules["__main__"]
    if len(sys.argv) > 1:  # e.g. test_isolation.py Isolation.test_worker_killed_from_outside
        suite = unittest.defaultTestLoader.loadTestsFromNames(sys.argv[1:], module)
    else:
        suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors)
    print("\n%s: %d passed, %d failed" % (name, result.testsRun - failed, failed))
    sys.exit(1 if failed else 0)
