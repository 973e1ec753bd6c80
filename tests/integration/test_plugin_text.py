"""Text from plugins cannot break JSON or logs: error messages, descriptor
versions, record keys and values that are not UTF-8, or that are cut in the
middle of a character, are made valid UTF-8 once, where they enter the host
(invalid bytes become U+FFFD), the same way in thread and process isolation.
Every job stays listed by the jobs API, every log line is UTF-8, and a
plugin's pairs cannot pose as the host's keys."""
import json

from harness import DaemonTest, main, wait_for

REPLACEMENT = "\ufffd"


def job(job_id, plugin, how=None, isolation="thread"):
    text = ("  - id: %s\n    plugin: %s\n    isolation: %s\n    trigger: {interval: 100ms}\n" %
            (job_id, plugin, isolation))
    if how:
        text += "    params: {how: %s}\n" % how
    return text


class PluginText(DaemonTest):
    MODES = ("thread", "process")

    def jobs(self):
        text = ""
        for mode in self.MODES:
            text += job("invalid-error-" + mode, "badtext", "invalid_error", mode)
            text += job("long-error-" + mode, "badtext", "long_error", mode)
            text += job("records-" + mode, "badtext", "records", mode)
            text += job("bad-version-" + mode, "badversion", None, mode)
        return text

    def ids(self):
        return {prefix + mode for mode in self.MODES
                for prefix in ("invalid-error-", "long-error-", "records-", "bad-version-")}

    def runs(self, d, job_id):
        m = d.metrics()
        return sum(v for k, v in m.items()
                   if k.startswith('jobhost_job_runs_total{job_id="%s",' % job_id))

    def test_jobs_api_lists_every_job(self):
        d = self.start(self.jobs())
        for job_id in self.ids():
            wait_for(lambda: self.runs(d, job_id) >= 1, what="a run of " + job_id)
        status, body = d.get("/api/v1/jobs")
        self.assertEqual(status, 200)
        jobs = {j["id"]: j for j in json.loads(body.decode("utf-8"))["jobs"]}
        self.assertEqual(set(jobs), self.ids())
        for mode in self.MODES:
            err = jobs["invalid-error-" + mode]["last_run"]["error"]
            self.assertEqual(err, "bad %s%s byte" % (REPLACEMENT, REPLACEMENT))
            # cut on a character boundary (254 bytes), not in the middle of an "é" at 255
            err = jobs["long-error-" + mode]["last_run"]["error"]
            self.assertEqual(err, "ab" + "\u00e9" * 126)
            self.assertEqual(jobs["bad-version-" + mode]["plugin_version"], "1.0" + REPLACEMENT)
            status, body = d.get("/api/v1/jobs/long-error-" + mode)
            self.assertEqual(status, 200)
            json.loads(body.decode("utf-8"))

    def test_log_lines_are_utf8_and_plugin_pairs_are_marked(self):
        d = self.start(self.jobs())
        for mode in self.MODES:
            wait_for(lambda: d.events("badtext", job="records-" + mode),
                     what="a record of records-" + mode)
            wait_for(lambda: d.events("job_finished", job="long-error-" + mode),
                     what="a finished run of long-error-" + mode)
        with open(d.log_path, "rb") as f:
            for line in f:
                line.decode("utf-8")  # raises on any byte that is not UTF-8
        for mode in self.MODES:
            rec = d.events("badtext", job="records-" + mode)[0]
            self.assertEqual(rec["src"], "plugin")
            self.assertEqual(rec["v_l"], "x%s(y" % REPLACEMENT)
            # the plugin's own "job" and "result" pairs are renamed, not taken as the host's
            self.assertEqual(rec["job"], "records-" + mode)
            self.assertEqual(rec["plugin_job"], "forged")
            self.assertEqual(rec["plugin_result"], "failure")
            self.assertNotIn("result", rec)
            fin = d.events("job_finished", job="long-error-" + mode)[0]
            self.assertEqual(fin["error"], "ab" + "\u00e9" * 126)
            self.assertNotIn("src", fin)


if __name__ == "__main__":
    main()
