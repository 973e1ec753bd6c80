"""Several real jobhost daemons on one schedule through a private
PostgreSQL 15 (tests/integration/pg_harness.py): every firing runs exactly
once across the nodes, a node killed with SIGKILL is taken over and its
run in flight marked abandoned, a node cut off from the database claims
nothing and comes back by itself, pauses travel between nodes, and the
configuration's rules hold (`jobhost check`, one live node per name).

Each test gets a database of its own in the one server the class starts.
The ledger fixture appends "TAG NOMINAL_NS TOKEN PID" for every run into
one file all nodes share: that file is what "exactly once" is counted on,
beside the database's own tables.

Skips, saying so, only when PostgreSQL's server binaries are not installed
(`make deps` installs postgresql-15).
"""
import collections
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import JOBHOST, SLOW, Daemon, DaemonTest, main, preload, ts, wait_for
import pg_harness

PERIOD_NS = 200_000_000


class Proxy:
    """A TCP forwarder on loopback between one node and PostgreSQL, which
    a test can cut (every connection closed, new ones refused) and mend."""

    def __init__(self, port):
        self.target = port
        self.listener = None
        self.conns = []
        self.lock = threading.Lock()
        self.cut_now = False
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self.accept_loop, daemon=True)
        self.thread.start()

    def accept_loop(self):
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut_now:
                client.close()
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self.pump, args=(a, b), daemon=True).start()

    def pump(self, a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.cut_now = True
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self.conns = []

    def mend(self):
        self.cut_now = False

    def close(self):
        self.stopping = True
        self.cut()
        self.listener.close()


@unittest.skipIf(pg_harness.skip_reason(), pg_harness.skip_reason() or "")
class Cluster(DaemonTest):
    pg = None
    n_db = 0

    @classmethod
    def setUpClass(cls):
        cls.pg = pg_harness.Postgres()
        try:
            cls.pg.start()
        except Exception:
            cls.pg.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.pg.close()

    def setUp(self):
        Cluster.n_db += 1
        self.db = "t%d" % Cluster.n_db
        self.pg.create_db(self.db)
        self.work = tempfile.mkdtemp(prefix="jobhost-cluster-")
        os.chmod(self.work, 0o777)
        self.ledger = os.path.join(self.work, "ledger")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", self.work]))

    def node(self, name, jobs, lease="2s", port=None, start=True, wrapper=()):
        dsn = self.pg.dsn(self.db)
        if port is not None:
            dsn = dsn.replace("port=%d" % self.pg.port, "port=%d" % port)
        extra = ("  node: %s\n"
                 "  store: {backend: postgres, dsn: \"%s\"}\n"
                 "  cluster: {lease: %s}\n" % (name, dsn, lease))
        d = self.daemon(jobs, host_extra=extra, workers=3, level="info", wrapper=wrapper)
        if start:
            d.start()
        return d

    def jobs(self, n, period="200ms", hold=None, prefix="j", extra=""):
        text = ""
        for i in range(n):
            text += ("  - id: %s%d\n    plugin: ledger\n    trigger: {interval: %s}\n"
                     "%s    params: {path: %s, tag: %s%d%s}\n" % (
                         prefix, i, period, extra, self.ledger, prefix, i,
                         ", hold: %s" % hold if hold else ""))
        return text

    def lines(self):
        if not os.path.exists(self.ledger):
            return []
        out = []
        with open(self.ledger) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 4:
                    out.append((parts[0], int(parts[1]), int(parts[2]), int(parts[3])))
        return out

    def assert_once(self, lines, tags, t0_ns, t1_ns, max_gap_ns=None):
        """No firing twice; between t0 and t1 every firing of every tag
        (the 200 ms grid) present, unless max_gap_ns allows holes."""
        seen = collections.Counter((tag, nominal) for tag, nominal, _, _ in lines)
        doubled = [k for k, n in seen.items() if n > 1]
        self.assertEqual(doubled, [], "firings that ran twice")
        first = (t0_ns // PERIOD_NS + 1) * PERIOD_NS
        missing = []
        for tag in tags:
            times = sorted(n for t, n in seen if t == tag)
            if max_gap_ns is None:
                for k in range(first, t1_ns, PERIOD_NS):
                    if (tag, k) not in seen:
                        missing.append((tag, k))
            else:
                window = [x for x in times if t0_ns <= x <= t1_ns]
                self.assertTrue(window, "%s never ran between t0 and t1" % tag)
                gaps = [b - a for a, b in zip(window, window[1:])]
                self.assertLessEqual(max(gaps or [0]), max_gap_ns,
                                     "%s: a gap longer than allowed" % tag)
        self.assertEqual(missing, [], "firings that did not run")
        return len(seen)

    # ------------------------------------------------------------------

    def test_every_firing_once_across_three_nodes(self):
        n_jobs = 20
        jobs = self.jobs(n_jobs)
        nodes = [self.node("n%d" % i, jobs) for i in range(3)]
        time.sleep(1.0)
        t0 = time.time_ns() + PERIOD_NS
        time.sleep(float(os.environ.get("CLUSTER_SECONDS", "12")))
        t1 = time.time_ns()
        # any node's history holds every node's runs, each with its node
        status, body = nodes[0].get("/api/v1/jobs/j0/runs?limit=50")
        self.assertEqual(status, 200)
        self.assertGreater(len({r["node"] for r in json.loads(body)["runs"]}), 1)
        for d in nodes:
            d.stop()
        lines = self.lines()
        n = self.assert_once(lines, ["j%d" % i for i in range(n_jobs)], t0, t1)
        self.assertGreater(n, n_jobs * 40)
        # every node ran some: the claims are shared out, not one node's
        pids = collections.Counter(pid for _, _, _, pid in lines)
        self.assertEqual(len(pids), 3, pids)
        # the database agrees: one claim per firing, each done, one run each
        rows = self.pg.psql("SELECT count(*), count(DISTINCT (job, scheduled)),"
                            " count(*) FILTER (WHERE state <> 'done') FROM jh_claims",
                            self.db)
        total, distinct, not_done = map(int, rows[0])
        self.assertEqual(total, distinct)
        self.assertEqual(not_done, 0)
        self.assertEqual(total, len(lines))
        dup = self.pg.psql("SELECT job, scheduled, count(*) FROM jh_runs WHERE cause = 0"
                           " AND result = 0 GROUP BY job, scheduled HAVING count(*) > 1", self.db)
        self.assertEqual(dup, [])
        # tokens increase with every claim: no two runs share one
        tokens = [tok for _, _, tok, _ in lines]
        self.assertEqual(len(set(tokens)), len(tokens))
        self.assertNotIn(0, tokens)
        print("\n  three nodes: %d firings, %d doubled, 0 missed in [t0, t1]" % (n, 0))

    def test_kill_9_mid_run_is_taken_over(self):
        lease_s = 2
        jobs = self.jobs(4) + (
            "  - id: slow\n    plugin: ledger\n    trigger: {interval: 1s}\n"
            "    max_instances: 1\n"
            "    params: {path: %s, tag: slow, hold: 30s}\n" % self.ledger)
        nodes = [self.node("n%d" % i, jobs, lease="%ds" % lease_s) for i in range(3)]

        def holder():
            rows = self.pg.psql("SELECT node, run_id FROM jh_claims WHERE job = 'slow'"
                                " AND state = 'running' ORDER BY scheduled LIMIT 1", self.db)
            return rows[0] if rows else None

        node_name, run_id = wait_for(holder, timeout=10, what="a node running the slow job")
        victim = nodes[int(node_name[1:])]
        time.sleep(0.5)
        killed_at = time.time_ns()
        victim.send(signal.SIGKILL)
        victim.proc.wait(timeout=10)

        def abandoned():
            rows = self.pg.psql("SELECT state, reaped_by FROM jh_claims WHERE run_id = %s"
                                % run_id, self.db)
            return rows and rows[0][0] == "abandoned" and rows[0]
        state = wait_for(abandoned, timeout=lease_s * 4 + 5, what="the run marked abandoned")
        found = time.time_ns()
        self.assertNotEqual(state[1], node_name)
        runs = self.pg.psql("SELECT result, error FROM jh_runs WHERE id = %s" % run_id, self.db)
        self.assertEqual(runs[0][0], "6")
        self.assertIn("abandoned", runs[0][1])
        time.sleep(2.0)
        t1 = time.time_ns()
        for d in nodes:
            if d is not victim:
                d.stop()
        lines = [x for x in self.lines() if x[0] != "slow"]
        # the others kept firing with no gap longer than one lease
        self.assert_once(lines, ["j%d" % i for i in range(4)], killed_at - 1_000_000_000, t1,
                         max_gap_ns=lease_s * 1_000_000_000 + PERIOD_NS)
        slow = [x for x in self.lines() if x[0] == "slow"]
        self.assertEqual(len(slow), len(set(n for _, n, _, _ in slow)), "slow ran twice")
        print("\n  kill -9: run abandoned %.2f s after the kill (lease %d s)" % (
            (found - killed_at) / 1e9, lease_s))

    def slow_job(self, hold, recover, isolation="thread"):
        return ("  - id: slow\n    plugin: ledger\n    trigger: {interval: 1s}\n"
                "    max_instances: 1\n    recover: %s\n    isolation: %s\n"
                "    params: {path: %s, tag: slow, hold: %s}\n"
                % ("true" if recover else "false", isolation, self.ledger, hold))

    def slow_holder(self):
        rows = self.pg.psql("SELECT node, run_id, scheduled FROM jh_claims WHERE job = 'slow'"
                            " AND state = 'running' ORDER BY scheduled LIMIT 1", self.db)
        return rows[0] if rows else None

    def test_recover_true_runs_an_abandoned_firing_again_once(self):
        lease_s = 2
        jobs = self.jobs(2) + self.slow_job("3s", recover=True)
        nodes = [self.node("n%d" % i, jobs, lease="%ds" % lease_s) for i in range(3)]
        node_name, run_id, scheduled = wait_for(self.slow_holder, timeout=10,
                                                what="a node running the slow job")
        victim = nodes[int(node_name[1:])]
        time.sleep(0.5)
        victim.send(signal.SIGKILL)
        victim.proc.wait(timeout=10)
        scheduled = int(scheduled)

        def rerun_done():
            rows = self.pg.psql("SELECT state, node, recovered, reaped_by FROM jh_claims"
                                " WHERE job = 'slow' AND scheduled = %d" % scheduled, self.db)
            return rows and rows[0][0] == "done" and rows[0]
        state, node, recovered, reaped_by = wait_for(rerun_done, timeout=lease_s * 4 + 10,
                                                     what="the firing run again, to its end")
        self.assertNotEqual(node, node_name)
        self.assertEqual(recovered, "1")
        # the firing ran twice in all: once on the dead node, once on another
        runs = [x for x in self.lines() if x[0] == "slow" and x[1] == scheduled]
        self.assertEqual(len(runs), 2, runs)
        self.assertEqual(runs[0][3], victim.proc.pid)
        self.assertNotEqual(runs[1][3], victim.proc.pid)
        self.assertGreater(runs[1][2], runs[0][2], "the second run has a newer token")
        # history: the first run abandoned, saying so; the second a recover run
        hist = self.pg.psql("SELECT cause, result, node, error FROM jh_runs j"
                            " WHERE scheduled = %d AND job = (SELECT key FROM jh_jobs"
                            " WHERE id = 'slow') ORDER BY id" % scheduled, self.db)
        self.assertEqual([(h[0], h[1], h[2]) for h in hist],
                         [("0", "6", node_name), ("7", "0", node)], hist)
        self.assertIn("runs again (recover: true)", hist[0][3])
        alive = [d for d in nodes if d is not victim]
        status, body = alive[0].get("/api/v1/jobs/slow/runs?limit=50")
        self.assertEqual(status, 200)
        triggers = [r["trigger"] for r in json.loads(body)["runs"]
                    if r.get("scheduled") and r["result"] != "skipped"]
        self.assertIn("recover", triggers)
        took = sum(d.metric("jobhost_cluster_runs_recovered_total") for d in alive)
        self.assertEqual(took, 1)
        for d in alive:
            d.stop()

    def test_a_node_cut_off_stops_its_runs_before_another_takes_them(self):
        self.cut_off_stops_its_runs("thread")

    def test_a_node_cut_off_stops_its_worker_processes(self):
        self.cut_off_stops_its_runs("process")

    def cut_off_stops_its_runs(self, isolation):
        lease_s = 2
        proxy = Proxy(self.pg.port)
        self.addCleanup(proxy.close)
        jobs = self.jobs(2) + self.slow_job("6s", recover=True, isolation=isolation)
        c = self.node("c", jobs, lease="%ds" % lease_s, port=proxy.port)
        holder = wait_for(self.slow_holder, timeout=10, what="node c running the slow job")
        self.assertEqual(holder[0], "c")
        scheduled = int(holder[2])
        a = self.node("a", jobs, lease="%ds" % lease_s)
        time.sleep(0.5)
        cut = time.time()
        proxy.cut()

        # node c stops the run itself, before its lease can have ended
        def stopped():
            return [r for r in c.events("job_finished", job="slow")
                    if r.get("run_id") == "%016x" % int(holder[1])]
        rec = wait_for(stopped, timeout=lease_s * 2 + 2, what="node c stopping its run")[0]
        self.assertEqual(rec.get("result"), "cancelled", rec)
        self.assertIn("could not renew its cluster lease", rec.get("error", ""))
        self.assertGreaterEqual(c.metric("jobhost_cluster_lease_lapses_total"), 1)
        c.wait_events("cluster_lease_lapsed")

        # node a takes the firing over once c's lease is over, not sooner
        def taken():
            rows = self.pg.psql("SELECT node, extract(epoch FROM claimed_at), state"
                                " FROM jh_claims WHERE job = 'slow' AND scheduled = %d"
                                % scheduled, self.db)
            return rows and rows[0][0] == "a" and rows[0]
        node, taken_at, _ = wait_for(taken, timeout=lease_s * 4 + 5,
                                     what="node a running the firing again")
        # c's run ended before a's began: the firing never ran on two nodes at once
        self.assertLess(cut, float(taken_at))
        self.assertLess(ts(rec["ts"]), float(taken_at))
        print("\n  cut off (%s): run stopped %.2f s after the cut, taken over %.2f s after"
              " (lease %d s)" % (isolation, ts(rec["ts"]) - cut, float(taken_at) - cut, lease_s))
        # the run again on a (a worker process may take a moment to start)
        def both():
            lines = [x for x in self.lines() if x[0] == "slow" and x[1] == scheduled]
            return len(lines) >= 2 and lines
        self.assertEqual(len(wait_for(both, timeout=10, what="the second run's line")), 2)
        self.assertEqual(int(a.metric("jobhost_cluster_runs_recovered_total")), 1)
        proxy.mend()
        for d in (a, c):
            d.stop()

    def test_node_cut_from_the_database(self):
        lease_s = 2
        jobs = self.jobs(4)
        proxy = Proxy(self.pg.port)
        self.addCleanup(proxy.close)
        a = self.node("a", jobs, lease="%ds" % lease_s)
        b = self.node("b", jobs, lease="%ds" % lease_s)
        c = self.node("c", jobs, lease="%ds" % lease_s, port=proxy.port)
        time.sleep(1.5)
        t0 = time.time_ns()
        proxy.cut()
        time.sleep(lease_s * 2 + 1)

        def claims_of_c():
            return int(self.pg.psql("SELECT count(*) FROM jh_claims WHERE node = 'c'"
                                    " AND claimed_at > now() - interval '1 second'",
                                    self.db)[0][0])
        self.assertEqual(claims_of_c(), 0, "a node cut off still claimed")
        self.assertEqual(c.metric("jobhost_cluster_lease_up"), 0)
        errors = c.metric('jobhost_cluster_claims_total{result="error"}')
        self.assertGreater(errors, 0)
        tried = c.metric('jobhost_cluster_claims_total{result="won"}') + \
            c.metric('jobhost_cluster_claims_total{result="lost"}')
        proxy.mend()

        # it comes back by itself and claims again (won or lost: node c's
        # way to the database is the slower one)
        def claiming_again():
            return c.metric('jobhost_cluster_claims_total{result="won"}') + \
                c.metric('jobhost_cluster_claims_total{result="lost"}') > tried + 10
        wait_for(claiming_again, timeout=15, what="node c claiming again")
        self.assertEqual(c.metric("jobhost_cluster_lease_up"), 1)
        time.sleep(1.0)
        t1 = time.time_ns()
        for d in (a, b, c):
            d.stop()
        # never doubled; a job whose run on c was finishing at the cut is
        # held (max_instances) until c's lease expires: at most one lease
        self.assert_once(self.lines(), ["j%d" % i for i in range(4)], t0 + PERIOD_NS, t1,
                         max_gap_ns=lease_s * 1_000_000_000 + 2 * PERIOD_NS)
        self.assertTrue(c.events("cluster_lease_failed"))

    def test_database_down_for_everyone(self):
        jobs = self.jobs(4)
        nodes = [self.node("n%d" % i, jobs) for i in range(2)]
        time.sleep(1.5)
        stopped = time.time_ns()  # the firings before it ran
        self.pg.stop("fast")
        time.sleep(5)
        self.pg.start()
        back = time.time_ns()

        def resumed():
            return [x for x in self.lines() if x[1] > back + PERIOD_NS]
        wait_for(resumed, timeout=20, what="claims after the database came back")

        # the firings nobody could claim are recorded missed, once written
        def missed():
            return int(self.pg.psql("SELECT count(*) FROM jh_runs WHERE result = 7"
                                    " AND reason = 7", self.db)[0][0])
        wait_for(missed, timeout=20, what="store_unavailable skips in history")
        time.sleep(1.0)
        t1 = time.time_ns()
        for d in nodes:
            d.stop()
        lines = self.lines()
        self.assert_once([x for x in lines if x[1] < stopped], ["j%d" % i for i in range(4)],
                         stopped - 1_500_000_000, stopped - 500_000_000)
        self.assert_once([x for x in lines if x[1] > back], ["j%d" % i for i in range(4)],
                         back + 3_000_000_000, t1)

    def test_pause_on_one_node_holds_for_all(self):
        jobs = self.jobs(1, period="1s")
        a = self.node("a", jobs)
        b = self.node("b", jobs)

        def paused_on(d, want):
            status, body = d.get("/api/v1/jobs/j0")
            return status == 200 and ('"paused":%s' % want).encode() in body.replace(b" ", b"")
        status, _, _ = a.post("/api/v1/jobs/j0/pause")
        self.assertEqual(status, 200)
        wait_for(lambda: paused_on(b, "true"), timeout=5, what="the pause on node b")
        status, _, _ = b.post("/api/v1/jobs/j0/resume")
        self.assertEqual(status, 200)
        wait_for(lambda: paused_on(a, "false"), timeout=5, what="the resume on node a")
        # every node sees the cluster's nodes
        status, body = b.get("/api/v1/nodes")
        self.assertEqual(status, 200)
        nodes = {n["node"]: n for n in json.loads(body)["nodes"]}
        self.assertEqual(sorted(nodes), ["a", "b"])
        self.assertTrue(all(n["live"] for n in nodes.values()))
        self.assertTrue(all(n["last_heartbeat"] for n in nodes.values()))
        a.stop()
        status, body = b.get("/api/v1/nodes")
        nodes = {n["node"]: n for n in json.loads(body)["nodes"]}
        self.assertFalse(nodes["a"]["live"])
        self.assertIsNotNone(nodes["a"]["stopped"])

    def test_commands_sent_while_a_node_is_cut_off_reach_it(self):
        jobs = self.jobs(1, period="1s")
        proxy = Proxy(self.pg.port)
        self.addCleanup(proxy.close)
        a = self.node("a", jobs)
        b = self.node("b", jobs, port=proxy.port)

        def paused_on(d, want):
            status, body = d.get("/api/v1/jobs/j0")
            return status == 200 and ('"paused":%s' % want).encode() in body.replace(b" ", b"")
        for command, want in (("pause", "true"), ("resume", "false")):
            proxy.cut()
            wait_for(lambda: b.metric("jobhost_cluster_lease_up") == 0, timeout=10 * SLOW,
                     what="node b cut off")
            status, _, _ = a.post("/api/v1/jobs/j0/" + command)
            self.assertEqual(status, 200)
            time.sleep(0.5)
            self.assertFalse(paused_on(b, want), "node b heard it through the cut")
            proxy.mend()
            wait_for(lambda: paused_on(b, want), timeout=15 * SLOW,
                     what="node b %sd once it is back" % command)
        def synced():
            got = [(r["job"], r["paused"]) for r in b.events("cluster_pause_synced")]
            return got if len(got) >= 2 else None
        self.assertEqual(wait_for(synced, timeout=5, what="two records"),
                         [("j0", "true"), ("j0", "false")])
        # a reload: node b's manifest gains a job meanwhile
        proxy.cut()
        wait_for(lambda: b.metric("jobhost_cluster_lease_up") == 0, timeout=10 * SLOW,
                 what="node b cut off")
        b.write_manifest(jobs + self.jobs(1, period="1s", prefix="k"))
        status, _, body = a.post("/-/reload")
        self.assertEqual(status, 200, body)
        time.sleep(0.5)
        self.assertEqual(b.get("/api/v1/jobs/k0")[0], 404, "node b reloaded through the cut")
        proxy.mend()
        wait_for(lambda: b.get("/api/v1/jobs/k0")[0] == 200, timeout=15 * SLOW,
                 what="node b reloaded once it is back")
        self.assertEqual(len(b.wait_events("cluster_reload_synced")), 1)
        self.assertEqual(a.events("cluster_reload_synced"), [])  # its own reload, made

    def test_max_instances_holds_across_the_cluster(self):
        jobs = ("  - id: one\n    plugin: ledger\n    trigger: {interval: 1s}\n"
                "    max_instances: 1\n"
                "    params: {path: %s, tag: one, hold: 2500ms}\n" % self.ledger)
        nodes = [self.node("n%d" % i, jobs) for i in range(3)]
        time.sleep(9)
        for d in nodes:
            d.stop()
        runs = self.pg.psql("SELECT started, finished, node FROM jh_runs r JOIN jh_jobs j"
                            " ON j.key = r.job WHERE j.id = 'one' AND r.result = 0"
                            " ORDER BY started", self.db)
        spans = [(int(a), int(b)) for a, b, _ in runs]
        self.assertGreaterEqual(len(spans), 2, runs)
        for (_, end), (start, _) in zip(spans, spans[1:]):
            self.assertLessEqual(end, start, "two runs of a max_instances: 1 job at once")
        # the firings that fell while it ran are recorded skipped, each by
        # one node (the one whose claim landed: the node running the job
        # claims them too), and none of them ran
        skips = self.pg.psql("SELECT scheduled, count(*) FROM jh_runs r JOIN jh_jobs j"
                             " ON j.key = r.job WHERE j.id = 'one' AND r.result = 7"
                             " AND r.reason = 0 GROUP BY scheduled", self.db)
        self.assertTrue(skips)
        self.assertEqual([s for s in skips if s[1] != "1"], [], "a skip recorded twice")
        lines = self.lines()
        self.assertEqual(len(lines), len({n for _, n, _, _ in lines}), "a firing ran twice")
        ran = {n for _, n, _, _ in lines}
        self.assertEqual([s for s in skips if int(s[0]) in ran], [], "a skipped firing ran")

    def test_two_live_nodes_with_one_name_are_refused(self):
        jobs = self.jobs(1, period="1s")
        self.node("same", jobs)
        second = self.node("same", jobs, start=False)
        second.start(wait_ready=False)
        rc = second.proc.wait(timeout=20 * SLOW)
        self.assertEqual(rc, 1)
        self.assertIn("live already", second.stderr_text())

    def test_a_node_killed_here_restarts_at_once(self):
        # a crash and systemd's restart: the name's holder is a dead pid of
        # this machine, so the new start takes the name over at once
        jobs = ("  - id: slow\n    plugin: ledger\n    trigger: {interval: 1s}\n"
                "    params: {path: %s, tag: slow, hold: 30s}\n" % self.ledger)
        first = self.node("r", jobs, lease="15s")
        wait_for(lambda: self.lines(), timeout=10, what="a run in flight")
        first.send(signal.SIGKILL)
        first.proc.wait(timeout=10)
        again = self.node("r", jobs, lease="15s", start=False)
        t0 = time.monotonic()
        again.start()
        self.assertLess(time.monotonic() - t0, 10 * SLOW)
        # the run the dead start left in flight is closed as interrupted
        rows = self.pg.psql("SELECT count(*) FROM jh_runs WHERE node = 'r' AND result = 6",
                            self.db)
        self.assertEqual(rows[0][0], "1")
        again.stop()

    def test_retries_chained_and_at_start_runs_in_the_shared_store(self):
        # a retry and a chained run are the node's own consequences of a
        # run of its, and an at_start run its own start's: written with
        # their causes and the parent run, as the SQLite store keeps them
        jobs = ("  - id: bad\n    plugin: fail\n    trigger: {interval: 1h}\n"
                "    retry: {limit: 1, delay: 100ms}\n"
                "  - id: child\n    plugin: ok\n    trigger: {after: bad, on: always}\n"
                "  - id: boot\n    plugin: ok\n    trigger: {at_start: true}\n")
        d = self.node("c", jobs)
        status, _, body = d.post("/api/v1/jobs/bad/run")
        self.assertEqual(status, 202, body)

        def rows():
            got = self.pg.psql("SELECT j.id, r.id, r.cause, r.attempt, r.parent FROM jh_runs r"
                               " JOIN jh_jobs j ON j.key = r.job WHERE r.result IS NOT NULL"
                               " AND r.result <> 7 ORDER BY r.id", self.db)
            return len([g for g in got if g[0] != "boot"]) >= 4 and got
        got = wait_for(rows, timeout=20 * SLOW, what="two attempts and their chained runs")
        bad = [(int(rid), cause, attempt) for job, rid, cause, attempt, _ in got if job == "bad"]
        self.assertEqual([(c, a) for _, c, a in bad], [("1", "1"), ("4", "2")])
        children = [(cause, parent) for job, _, cause, _, parent in got if job == "child"]
        self.assertTrue(children)
        for cause, parent in children:
            self.assertEqual(cause, "5")
            self.assertIn(int(parent), [rid for rid, _, _ in bad])
        # the API reads them back from the database
        # a start's run: this node's own, with its cause
        self.assertEqual([g[2] for g in got if g[0] == "boot"], ["6"])
        status, body = d.get("/api/v1/jobs/boot/runs?limit=10")
        self.assertEqual([r["trigger"] for r in json.loads(body)["runs"]], ["at_start"])
        status, body = d.get("/api/v1/jobs/bad/runs?limit=10")
        self.assertEqual(status, 200)
        parents = json.loads(body)["runs"]
        self.assertEqual(sorted(r["trigger"] for r in parents), ["manual", "retry"])
        status, body = d.get("/api/v1/jobs/child/runs?limit=10")
        self.assertEqual(status, 200)
        runs = json.loads(body)["runs"]
        self.assertEqual(len(runs), len(children))
        for r in runs:
            self.assertEqual(r["trigger"], "after")
            self.assertIn(r["parent_run_id"], [p["run_id"] for p in parents])
        d.stop()

    def test_a_fan_in_completes_across_nodes(self):
        # p1 runs only on node a, p2 only on node b: the child's fan-in is
        # complete only when both nodes' runs count in one shared set
        def manifest(p1_on, p2_on):
            return ("  - id: p1\n    plugin: ledger\n    trigger: {interval: 1s}\n"
                    "    enabled: %s\n    params: {path: %s, tag: p1}\n"
                    "  - id: p2\n    plugin: ledger\n    trigger: {interval: 1s}\n"
                    "    enabled: %s\n    params: {path: %s, tag: p2}\n"
                    "  - id: child\n    plugin: ledger\n"
                    "    trigger: {after: [p1, p2], on: success}\n"
                    "    params: {path: %s, tag: child}\n"
                    % (p1_on, self.ledger, p2_on, self.ledger, self.ledger))
        a = self.node("a", manifest("true", "false"))
        b = self.node("b", manifest("false", "true"))
        time.sleep(5.5)
        for d in (a, b):
            d.stop()
        lines = self.lines()
        count = collections.Counter(tag for tag, _, _, _ in lines)
        self.assertGreaterEqual(min(count["p1"], count["p2"]), 4, count)
        # one child run per pair of parent runs, never more, wherever it ran
        self.assertLessEqual(count["child"], min(count["p1"], count["p2"]), count)
        self.assertGreaterEqual(count["child"], min(count["p1"], count["p2"]) - 1, count)
        pids = {pid for tag, _, _, pid in lines if tag in ("p1", "p2")}
        self.assertEqual(len(pids), 2, "the parents ran on both nodes")

    def test_schema_1_is_migrated(self):
        jobs = self.jobs(1, period="1h")
        d = self.node("m", jobs)
        d.stop()
        # what a schema 1 database held: no parent column, 6 for a firing
        # the store could not claim (an id of now: retention keeps it)
        rid = (time.time_ns() // 1_000_000) << 20
        self.pg.psql("ALTER TABLE jh_runs DROP COLUMN parent;"
                     " ALTER TABLE jh_claims DROP COLUMN recover, DROP COLUMN recovered;"
                     " DROP FUNCTION jh_claim(text, bigint, int, text, bigint, bigint, int,"
                     " boolean) CASCADE;"
                     " UPDATE jh_meta SET value = '1' WHERE key = 'schema_version';"
                     " INSERT INTO jh_runs(id, job, node, result, cause, reason, scheduled,"
                     " utc_offset, finished, count) SELECT %d, key, 'm', 7, 0, 6, %d, 0, %d, 1"
                     " FROM jh_jobs" % (rid, time.time_ns(), time.time_ns()), self.db)
        self.assertEqual(self.pg.psql("SELECT reason FROM jh_runs WHERE id = %d" % rid, self.db),
                         [["6"]])
        d = self.node("m", jobs)
        self.assertEqual(self.pg.psql("SELECT value FROM jh_meta WHERE key = 'schema_version'",
                                      self.db), [["3"]])
        # schema 3: claims know their job's recover flag
        self.assertEqual(self.pg.psql("SELECT count(*) FROM pg_proc WHERE proname = 'jh_claim'"
                                      " AND pronargs = 8", self.db), [["1"]])
        self.assertEqual(self.pg.psql("SELECT count(*) FROM information_schema.columns"
                                      " WHERE table_name = 'jh_claims' AND column_name"
                                      " IN ('recover', 'recovered')", self.db), [["2"]])
        self.assertEqual(self.pg.psql("SELECT reason, parent FROM jh_runs WHERE id = %d" % rid,
                                      self.db), [["7", ""]])
        status, body = d.get("/api/v1/jobs/j0/runs?limit=10")
        self.assertEqual(status, 200)
        skip = [r for r in json.loads(body)["runs"] if r["result"] == "skipped"]
        self.assertEqual([r["reason"] for r in skip], ["store_unavailable"], skip)
        d.stop()

    def test_nodes_whose_manifests_differ_are_reported(self):
        def entry(i, period):
            return ("  - id: j%d\n    plugin: ledger\n    trigger: {interval: %s}\n"
                    "    params: {path: %s, tag: j%d}\n" % (i, period, self.ledger, i))
        same = "".join(entry(i, "200ms") for i in range(3))
        # the same jobs: another order, another spelling of each duration
        reordered = "".join(entry(i, "0.2s") for i in (2, 0, 1))
        other = entry(0, "200ms") + entry(1, "300ms") + entry(2, "200ms")
        a = self.node("a", same)
        b = self.node("b", reordered)

        def digests(d):
            status, body = d.get("/api/v1/nodes")
            self.assertEqual(status, 200)
            return {n["node"]: n["manifest_sha256"] for n in json.loads(body)["nodes"]}

        def gauges():
            return [d.metric("jobhost_cluster_config_mismatch", None) for d in nodes]

        def every_node_written():
            got = digests(a)
            return all(got.get(n) for n in names) and got
        nodes, names = [a, b], ["a", "b"]
        got = wait_for(every_node_written, timeout=10, what="both nodes' digests")
        self.assertRegex(got["a"], r"^[0-9a-f]{64}$")
        self.assertEqual(got["a"], got["b"], "the same jobs, another order and spelling")
        time.sleep(1.5)  # a few renewals (lease 2 s: every 0.67 s)
        self.assertEqual(gauges(), [0, 0])
        for d in nodes:
            self.assertEqual(d.events("cluster_config_mismatch"), [])

        # one job's trigger differs on c: every node says so
        c = self.node("c", other)
        nodes, names = [a, b, c], ["a", "b", "c"]
        wait_for(lambda: gauges() == [1, 1, 2], timeout=10,
                 what="the mismatch seen by every node (a: c, b: c, c: a and b)")
        got = digests(b)
        self.assertNotEqual(got["c"], got["a"])
        if os.path.exists("/usr/bin/promtool"):  # the new family is well formed
            _, text = c.get("/metrics")
            out = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=text,
                                 capture_output=True)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        short = {n: got[n][:12] for n in names}
        for d, name, differing in ((a, "a", "c:%s" % short["c"]), (b, "b", "c:%s" % short["c"]),
                                   (c, "c", "a:%s b:%s" % (short["a"], short["b"]))):
            rec = d.wait_events("cluster_config_mismatch")
            self.assertEqual(len(rec), 1, rec)  # once, not at every renewal
            self.assertEqual(rec[0]["level"], "warn")
            self.assertEqual(rec[0]["node"], name)
            self.assertEqual(rec[0]["manifest"], short[name])
            self.assertEqual(rec[0]["differing"], differing)
        time.sleep(1.5)
        for d in nodes:
            self.assertEqual(len(d.events("cluster_config_mismatch")), 1)

        # c's manifest made to agree and reloaded: back to none, said once
        c.write_manifest(same)
        status, _, body = c.post("/-/reload")
        self.assertEqual(status, 200, body)
        wait_for(lambda: gauges() == [0, 0, 0], timeout=10, what="the gauges back at 0")
        for d, name in zip(nodes, names):
            rec = d.wait_events("cluster_config_agrees")
            self.assertEqual([(r["level"], r["node"]) for r in rec], [("info", name)])
        got = digests(c)
        self.assertEqual(len(set(got.values())), 1, got)

    def test_a_node_whose_clock_is_30s_ahead_runs_each_firing_once(self):
        lib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
        if not os.path.exists(lib):
            self.skipTest("faketime is not installed (make deps installs it)")
        skew_ns = 30_000_000_000
        # only CLOCK_REALTIME moves, which is what a wrong wall clock is;
        # `env` execs the daemon, so signals reach it
        fast = ("env", preload(lib), "FAKETIME=+30s", "DONT_FAKE_MONOTONIC=1")
        n_jobs = 4
        # The fast node runs each firing 30 s early, at the moment the
        # others run the firing 30 s before it: two runs of one job at
        # once, which max_instances: 1 (counted across the cluster) would
        # rightly skip one of. Room for both, so that what is counted is
        # the claims alone.
        jobs = self.jobs(n_jobs, extra="    max_instances: 2\n")
        slow = [self.node("n%d" % i, jobs) for i in range(2)]
        time.sleep(1.0)
        t0 = time.time_ns() + PERIOD_NS
        ahead = self.node("ahead", jobs, wrapper=fast)
        started = time.time_ns()
        pids = {ahead.proc.pid}
        # a restart: the firings of its second of downtime (by its clock)
        # are the others' to run 30 s later, not missed ones
        time.sleep(2)
        ahead.stop()
        time.sleep(1)
        ahead.start()
        pids.add(ahead.proc.pid)
        # past the moment the others reach the firings the fast node ran
        # 30 s early: from there on they lose every claim to it
        time.sleep(skew_ns / 1e9 + 4 - (time.time_ns() - started) / 1e9)
        t1 = time.time_ns()
        time.sleep(0.5)
        self.assertEqual(ahead.metric("jobhost_cluster_lease_up"), 1)
        self.assertEqual(ahead.metric('jobhost_cluster_lease_renewals_total{result="failure"}'),
                         0)
        lost = [d.metric('jobhost_cluster_claims_total{result="lost"}') for d in slow]
        for d in slow + [ahead]:
            self.assertEqual(d.metric("jobhost_cluster_runs_abandoned_total"), 0)
        for d in slow + [ahead]:
            d.stop()
        lines = self.lines()
        # Nominal times: the slow nodes ran [t0, started + 30 s) at their
        # time; the fast one every firing from its start on, each 30 s
        # early, so by t1 it had run the firings up to t1 + 30 s. That
        # whole span is complete, and nothing in it or beyond ran twice:
        # the firings the fast node claimed in the instant before its
        # stop and never started it gave back, for the others to run.
        n = self.assert_once(lines, ["j%d" % i for i in range(n_jobs)], t0, t1 + skew_ns)
        early = [x for x in lines if x[3] in pids]
        self.assertTrue(early and all(x[1] > started for x in early))
        self.assertTrue(any(x[1] > t1 + skew_ns - 2 * PERIOD_NS for x in early),
                        "the fast node fires by its own clock")
        self.assertTrue(all(x > 0 for x in lost), lost)
        rows = self.pg.psql("SELECT count(*) FROM jh_claims WHERE state <> 'done'", self.db)
        self.assertEqual(rows, [["0"]])
        # nothing recorded skipped: no downtime that the others covered
        self.assertEqual(ahead.events("job_skipped"), [])
        rows = self.pg.psql("SELECT count(*) FROM jh_runs WHERE result = 7", self.db)
        self.assertEqual(rows, [["0"]])
        print("\n  clock 30 s ahead: %d firings, none doubled, none missed" % n)

    def test_check_refuses_a_cluster_on_sqlite(self):
        d = Daemon(self.jobs(1), host_extra="  cluster: {lease: 15s}\n")
        self.addCleanup(d.close)
        out = subprocess.run([JOBHOST, "check", "-c", d.manifest], capture_output=True,
                             text=True)
        self.assertEqual(out.returncode, 1)
        self.assertIn("host.cluster: a cluster needs host.store.backend: postgres",
                      out.stdout + out.stderr)
        d.write_manifest(self.jobs(1), host_extra=(
            "  store: {backend: postgres, dsn: \"%s\"}\n  cluster: {lease: 15s}\n"
            % self.pg.dsn(self.db)))
        out = subprocess.run([JOBHOST, "check", "-c", d.manifest], capture_output=True,
                             text=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)


if __name__ == "__main__":
    main()
