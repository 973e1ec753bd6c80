"""The status page at / in a real headless Chromium (Debian's chromium and
chromium-driver, driven by python3-selenium): it lists the jobs, a click
on Run now makes the new run appear without a reload (through the live
feed), a failing job shows as failing, the token is asked once when the
daemon wants one, the job view shows a job, dark and light both apply,
and nothing is loaded from anywhere but the daemon. Writes a screenshot
to build/status-page.png (and to $JOBHOST_SCREENSHOT when set: `make
screenshot` refreshes docs/status-page.png with it).

Each test starts its own daemon and its own browser, with a fresh
profile directory, and stops both even when it fails."""
import json
import os
import shutil
import signal
import tempfile
import time

from harness import ROOT, SLOW, DaemonTest, main, wait_for

try:
    from selenium import webdriver
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
except ImportError:  # make test installs python3-selenium; say what is missing
    webdriver = None

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,760"]

JOBS = ("  - id: heartbeat\n    plugin: ok\n    trigger: {interval: 1h}\n"
        "  - id: nightly-report\n    plugin: fail\n"
        "    trigger: {cron: \"0 3 * * *\", timezone: Europe/Berlin}\n"
        "  - id: backup\n    plugin: sleep\n    trigger: {interval: 6h}\n    params: {duration: 30s}\n"
        "  - id: legacy-import\n    plugin: ok\n    enabled: false\n    trigger: {interval: 1h}\n")


def profile_pids(profile):
    """Pids of processes started with this browser profile directory."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                if profile.encode() in f.read():
                    pids.append(int(name))
        except OSError:
            pass
    return pids


class StatusPage(DaemonTest):
    def setUp(self):
        if webdriver is None:
            self.fail("python3-selenium is not installed (make deps)")
        for path in (CHROMEDRIVER, "/usr/bin/chromium"):
            if not os.path.exists(path):
                self.fail("%s is missing: make deps installs chromium and chromium-driver" % path)

    def browser(self, dark=False):
        profile = tempfile.mkdtemp(prefix="jobhost-chromium-")
        options = webdriver.ChromeOptions()
        for a in CHROMIUM_ARGS + ["--user-data-dir=" + profile]:
            options.add_argument(a)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.addCleanup(self.stop_browser, driver, profile)
        driver.set_page_load_timeout(30 * SLOW)
        if dark:
            driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {
                "features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        return driver

    def stop_browser(self, driver, profile):
        try:
            driver.quit()
        finally:
            # nothing of the browser outlives the test
            deadline = time.monotonic() + 5
            while profile_pids(profile) and time.monotonic() < deadline:
                time.sleep(0.1)
            for pid in profile_pids(profile):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            shutil.rmtree(profile, ignore_errors=True)

    def open(self, driver, d, path="/"):
        driver.get(d.url(path))
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#jobs tbody tr[data-job]"),
                 what="the jobs on the page")
        wait_for(lambda: "off" not in driver.find_element(By.ID, "live").get_attribute("class"),
                 what="the live feed")

    # The page redraws a job's row when its events come: an element found
    # a moment ago may be gone. Each look finds afresh and retries.
    def look(self, fn):
        for _ in range(50):
            try:
                return fn()
            except (StaleElementReferenceException, NoSuchElementException):
                time.sleep(0.05)
        return fn()

    def row(self, driver, job):
        return driver.find_element(By.CSS_SELECTOR, "tr[data-job='%s']" % job)

    def cell_text(self, driver, job, css):
        return self.look(lambda: driver.find_element(
            By.CSS_SELECTOR, "tr[data-job='%s'] %s" % (job, css)).text)

    def click(self, driver, job, css):
        self.look(lambda: driver.find_element(
            By.CSS_SELECTOR, "tr[data-job='%s'] %s" % (job, css)).click())

    def strip(self, driver, job):
        return self.look(lambda: [
            e.get_attribute("class") for e in driver.find_elements(
                By.CSS_SELECTOR, "tr[data-job='%s'] .strip i" % job) if e.get_attribute("class")])

    def js_errors(self, driver):
        return [e for e in driver.get_log("browser")
                if e["level"] == "SEVERE" and e.get("source") != "network"]

    def test_lists_jobs_and_a_run_appears_without_a_reload(self):
        d = self.start(JOBS)
        driver = self.browser()
        self.open(driver, d)
        ids = [r.get_attribute("data-job") for r in
               driver.find_elements(By.CSS_SELECTOR, "#jobs tbody tr[data-job]")]
        self.assertEqual(ids, ["heartbeat", "nightly-report", "backup", "legacy-import"])
        self.assertEqual(self.cell_text(driver, "heartbeat", ".badge.state"), "ok")
        self.assertEqual(self.cell_text(driver, "legacy-import", ".badge.state"), "disabled")
        self.assertIn("Europe/Berlin", self.cell_text(driver, "nightly-report", "td.schedule"))
        self.assertEqual(self.strip(driver, "heartbeat"), [])
        self.assertIn("never", self.cell_text(driver, "heartbeat", "td.last"))

        driver.execute_script("window.__same_page = 42;")
        self.click(driver, "heartbeat", "button.run")
        wait_for(lambda: self.strip(driver, "heartbeat") == ["success"], what="the run in the strip")
        self.assertIn("success", self.cell_text(driver, "heartbeat", "td.last"))
        self.assertEqual(driver.execute_script("return window.__same_page;"), 42)  # no reload
        runs = json.loads(d.get("/api/v1/jobs/heartbeat")[1])["recent"]
        self.assertEqual(runs, ["success"])
        # a run nobody clicked for (a reload's new job, the API) shows too
        d.write_manifest(JOBS + "  - id: added-later\n    plugin: ok\n")
        self.assertEqual(d.post("/-/reload")[0], 200)
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "tr[data-job='added-later']"),
                 what="the job added by a reload")
        self.assertEqual(d.post("/api/v1/jobs/added-later/run")[0], 202)
        wait_for(lambda: self.strip(driver, "added-later") == ["success"], what="a run from the API")
        self.assertEqual(driver.execute_script("return window.__same_page;"), 42)
        # only the daemon was asked for anything
        origin = d.url("")
        for name in driver.execute_script(
                "return performance.getEntriesByType('resource').map(e => e.name)"):
            self.assertTrue(name.startswith(origin), name)
        self.assertEqual(self.js_errors(driver), [])

    def test_failing_job_shows_failing(self):
        d = self.start(JOBS)
        driver = self.browser()
        self.open(driver, d)
        self.click(driver, "nightly-report", "button.run")
        wait_for(lambda: self.cell_text(driver, "nightly-report", ".badge.state") == "failing",
                 what="failing")
        self.assertEqual(self.strip(driver, "nightly-report"), ["failure"])
        self.assertIn("failing", driver.find_element(By.ID, "counts").text)
        # running while it runs, from the feed
        self.click(driver, "backup", "button.run")
        wait_for(lambda: self.cell_text(driver, "backup", ".badge.state") == "running",
                 what="running")
        # paused from the page
        self.click(driver, "heartbeat", "button.pause")
        wait_for(lambda: self.cell_text(driver, "heartbeat", ".badge.state") == "paused",
                 what="paused")
        self.assertTrue(json.loads(d.get("/api/v1/jobs/heartbeat")[1])["paused"])
        self.click(driver, "heartbeat", "button.resume")
        wait_for(lambda: self.cell_text(driver, "heartbeat", ".badge.state") == "ok", what="resumed")

    def test_token_is_asked_once(self):
        d = self.daemon(JOBS)
        token = os.path.join(d.dir, "token")
        with open(token, "w") as f:
            f.write("page-s3cret\n")
        os.chmod(token, 0o600)
        d.http_extra = ", token_file: %s" % token
        d.write_manifest(JOBS)
        d.start()
        driver = self.browser()
        self.open(driver, d)
        self.click(driver, "heartbeat", "button.run")
        dialog = driver.find_element(By.ID, "token-dialog")
        wait_for(lambda: dialog.get_attribute("open") is not None, what="the token dialog")
        driver.find_element(By.ID, "token-input").send_keys("page-s3cret")
        driver.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
        wait_for(lambda: self.strip(driver, "heartbeat") == ["success"], what="the run")
        self.assertEqual(driver.execute_script("return sessionStorage.getItem('jobhost.token')"),
                         "page-s3cret")
        self.assertEqual(driver.get_cookies(), [])  # a header, never a cookie
        self.click(driver, "heartbeat", "button.run")
        wait_for(lambda: self.strip(driver, "heartbeat") == ["success", "success"],
                 what="the second run, not asked again")
        self.assertIsNone(dialog.get_attribute("open"))

    def test_job_view_dark_and_light_and_screenshot(self):
        d = self.start(JOBS)
        for _ in range(3):
            self.assertEqual(d.post("/api/v1/jobs/heartbeat/run")[0], 202)
            wait_for(lambda: json.loads(d.get("/api/v1/jobs/heartbeat")[1])["running"] == 0)
            time.sleep(0.05)
        self.assertEqual(d.post("/api/v1/jobs/nightly-report/run")[0], 202)
        wait_for(lambda: json.loads(d.get("/api/v1/jobs/nightly-report")[1])["last_run"])
        self.assertEqual(d.post("/api/v1/jobs/backup/run")[0], 202)
        wait_for(lambda: json.loads(d.get("/api/v1/jobs/backup")[1])["running"] == 1)
        light = self.browser()
        self.open(light, d)
        wait_for(lambda: len(self.strip(light, "heartbeat")) == 3, what="the strip")
        paths = [os.path.join(ROOT, "build", "status-page.png")]
        if os.environ.get("JOBHOST_SCREENSHOT"):
            paths.append(os.environ["JOBHOST_SCREENSHOT"])
        light.set_window_size(1280, 560)  # the viewport: the table and a margin
        for path in paths:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self.assertTrue(light.save_screenshot(path))
        bg_light = light.execute_script("return getComputedStyle(document.body).backgroundColor")

        dark = self.browser(dark=True)
        self.open(dark, d, "/#/jobs/nightly-report")
        wait_for(lambda: dark.find_element(By.ID, "job-title").text == "nightly-report",
                 what="the job view")
        self.assertTrue(dark.find_element(By.ID, "jobs-view").get_attribute("hidden") is not None)
        wait_for(lambda: "failing" in dark.find_element(By.ID, "job-state").text, what="its state")
        spec = dark.find_element(By.ID, "job-spec").text
        self.assertIn("fail 1.0.0", spec)
        self.assertIn("Europe/Berlin", spec)
        wait_for(lambda: len(dark.find_elements(By.CSS_SELECTOR, "#job-next li")) == 5,
                 what="five next runs")
        wait_for(lambda: dark.find_elements(By.CSS_SELECTOR, "#runs tbody tr[data-run]"),
                 what="its runs")
        self.assertIn("fixture failure", dark.find_element(By.ID, "runs").text)
        # a run's output: its records from the run store, or why there are none
        self.look(lambda: dark.find_element(By.CSS_SELECTOR, "#runs tbody tr[data-run]").click())
        wait_for(lambda: dark.find_element(By.ID, "output-text").text not in ("", "\u2026"),
                 what="the run's output")
        text = dark.find_element(By.ID, "output-text").text
        self.assertTrue("run store" in text or "(no records)" in text or " level=" in text or
                        " info " in text, text)
        bg_dark = dark.execute_script("return getComputedStyle(document.body).backgroundColor")
        self.assertNotEqual(bg_light, bg_dark)
        self.assertEqual(bg_light, "rgb(255, 255, 255)")
        self.assertEqual(self.js_errors(dark), [])
        dark.find_element(By.LINK_TEXT, "\u2190 All jobs").click()
        wait_for(lambda: dark.find_element(By.ID, "job-view").get_attribute("hidden") is not None,
                 what="back to the table")


if __name__ == "__main__":
    main()
