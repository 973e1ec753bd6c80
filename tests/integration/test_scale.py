"""Many jobs on the real daemon: jobs in drop-in files load, the HTTP
server goes on answering while a large exposition is rendered, and
scrapes at the same time each get a whole, valid exposition.

(The figures at a million jobs belong to tests/bench/bench_daemon.py.)"""
import gzip
import os
import threading
import time
import urllib.request

from harness import SANITIZED, SLOW, DaemonTest, main, parse_metrics

N_JOBS = 10000 if SANITIZED else 50000
FILES = 4


class Scale(DaemonTest):
    def start_many(self):
        # the manifest's own jobs: list is empty; the drop-ins hold them all
        d = self.daemon("  []\ninclude: [jobs.d/*.yaml]\n", level="warn")
        drop = os.path.join(d.dir, "jobs.d")
        os.mkdir(drop)
        per = N_JOBS // FILES
        for k in range(FILES):
            with open(os.path.join(drop, "%02d.yaml" % k), "w") as f:
                f.write("jobs:\n")
                for i in range(k * per, (k + 1) * per):
                    f.write("  - {id: j%06d, plugin: ok, trigger: {cron: '0 3 * * *'}}\n" % i)
        return d.start()

    def scrape(self, d, out, key):
        req = urllib.request.Request(d.url("/metrics"), headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req, timeout=60 * SLOW) as r:
            body = r.read()
            if r.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
        out[key] = body.decode()

    def test_healthy_answers_during_a_large_scrape(self):
        d = self.start_many()
        self.assertEqual(d.metric("jobhost_jobs"), N_JOBS)
        out = {}
        t = threading.Thread(target=self.scrape, args=(d, out, "a"))
        t.start()
        answered, worst = 0, 0.0
        while t.is_alive():
            t0 = time.monotonic()
            status, body = d.get("/-/healthy")
            worst = max(worst, time.monotonic() - t0)
            self.assertEqual(status, 200)
            answered += 1
            time.sleep(0.002)
        t.join()
        print("healthy answered %d times during the scrape, slowest %.1f ms"
              % (answered, worst * 1000))
        self.assertGreaterEqual(answered, 1)
        self.assertLess(worst, 1.0 * SLOW)  # a bound for robustness; the figure is printed
        samples = parse_metrics(out["a"])
        self.assertEqual(samples["jobhost_jobs"], N_JOBS)
        self.assertIn('jobhost_job_next_run_timestamp_seconds{job_id="j%06d"}' % (N_JOBS - 1),
                      samples)

    def test_concurrent_scrapes_each_get_a_whole_exposition(self):
        d = self.start_many()
        out = {}
        threads = [threading.Thread(target=self.scrape, args=(d, out, k)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        names = None
        for k in range(3):
            self.assertTrue(out[k].endswith("\n"), "scrape %d cut short" % k)
            samples = parse_metrics(out[k])
            self.assertEqual(samples["jobhost_jobs"], N_JOBS)
            series = set(samples)
            if names is None:
                names = series
            self.assertEqual(series, names)


if __name__ == "__main__":
    main()
