"""The shipped Prometheus alert rules (config/prometheus/jobhost-alerts.yml):
promtool accepts them, their unit tests (tests/alerts/) pass — each alert
fires on a failing, never-succeeding, stuck or late job and stays silent on
dry runs and cancellations — and the README shows exactly these rules."""
import os
import re
import subprocess
import unittest

from harness import ROOT, main

RULES = os.path.join(ROOT, "config", "prometheus", "jobhost-alerts.yml")
TESTS = os.path.join(ROOT, "tests", "alerts")
PROMTOOL = "/usr/bin/promtool"


class Alerts(unittest.TestCase):
    def promtool(self, *args, cwd=None):
        p = subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return p.stdout

    def test_rules_are_valid(self):
        out = self.promtool("check", "rules", RULES)
        self.assertIn("SUCCESS", out)

    def test_rule_unit_tests(self):
        for name in sorted(os.listdir(TESTS)):
            if name.endswith("_test.yml"):
                self.promtool("test", "rules", name, cwd=TESTS)

    def test_readme_shows_the_rules(self):
        with open(os.path.join(ROOT, "README.md")) as f:
            readme = f.read()
        with open(RULES) as f:
            rules = f.read()
        blocks = re.findall(r"```yaml\n(.*?)```", readme, re.S)
        self.assertIn(rules, blocks, "README.md must show config/prometheus/jobhost-alerts.yml as it is")


if __name__ == "__main__":
    main()
