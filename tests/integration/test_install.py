"""What `make install` puts on a machine, tried as a new user would: the
layout under PREFIX (the configuration too), a manifest never overwritten,
man pages that render without a warning and name every manifest key, a
systemd unit that passes `systemd-analyze verify`, the installed example
whose jobs all succeed here, the SDK building a plugin with pkg-config,
bash completion of commands, options and the running daemon's job ids,
and the example of `make run` serving on a port given on the command line
or in JOBHOST_LISTEN. Everything goes to a temporary directory."""
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import unittest
import urllib.request

from harness import JOBHOST, ROOT, SLOW, DaemonTest, free_port, main, wait_for

MANIFEST_C = os.path.join(ROOT, "host", "core", "manifest.c")


def make_install(*args):
    p = subprocess.run(["make", "-s", "--no-print-directory", "-C", ROOT, "install"] + list(args),
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise AssertionError("make install failed:\n" + p.stdout + p.stderr)
    return p


def manifest_keys():
    """Every key name the manifest reader knows, from its key lists."""
    with open(MANIFEST_C) as f:
        text = f.read()
    keys = set()
    for block in re.findall(r"keys\[\] = \{(.*?)\};", text, re.S):
        keys.update(re.findall(r'"([a-z_]+)"', block))
    return keys


def serving(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % port, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


class Install(DaemonTest):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="jobhost-install-")
        os.chmod(cls.tmp, 0o755)
        cls.prefix = os.path.join(cls.tmp, "prefix")
        cls.logdir = os.path.join(cls.tmp, "log")
        make_install("PREFIX=" + cls.prefix, "LOGDIR=" + cls.logdir)
        cls.bin = os.path.join(cls.prefix, "bin", "jobhost")
        cls.conf = os.path.join(cls.prefix, "etc", "jobhost", "jobhost.yaml")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.prefix, *parts)

    def test_layout_follows_the_prefix(self):
        for rel in ("bin/jobhost", "etc/jobhost/jobhost.yaml", "include/jobhost/plugin.h",
                    "lib/jobhost/plugins/hello.so", "lib/jobhost/plugins/exec.so",
                    "lib/jobhost/plugins/file_prune.so", "lib/systemd/system/jobhost.service",
                    "share/pkgconfig/jobhost.pc", "share/jobhost/plugin_template.c",
                    "share/man/man8/jobhost.8", "share/man/man5/jobhost.yaml.5",
                    "share/man/man7/jobhost-plugin.7",
                    "share/bash-completion/completions/jobhost"):
            self.assertTrue(os.path.isfile(self.path(rel)), rel)
        for rel in ("share/man/man8/jobhost.8", "share/man/man5/jobhost.yaml.5",
                    "share/man/man7/jobhost-plugin.7", "lib/systemd/system/jobhost.service",
                    "share/pkgconfig/jobhost.pc", "share/bash-completion/completions/jobhost",
                    "etc/jobhost/jobhost.yaml"):
            with open(self.path(rel)) as f:
                text = f.read()
            self.assertIsNone(re.search(r"@[A-Z]+@", text), rel)  # every placeholder filled
        with open(self.path("lib/systemd/system/jobhost.service")) as f:
            unit = f.read()
        self.assertIn("ExecStart=%s -c %s\n" % (self.bin, self.conf), unit)
        self.assertNotIn("\nUser=", unit)  # no JOBHOST_USER: root
        with open(self.conf) as f:
            conf = f.read()
        self.assertIn("plugin_dir: %s" % self.path("lib/jobhost/plugins"), conf)
        self.assertIn("path: %s/jobhost.log" % self.logdir, conf)

    def test_prefix_usr_puts_the_configuration_in_etc(self):
        dest = os.path.join(self.tmp, "dest")
        make_install("PREFIX=/usr", "DESTDIR=" + dest, "JOBHOST_USER=jobhost")
        self.assertTrue(os.path.isfile(os.path.join(dest, "etc/jobhost/jobhost.yaml")))
        self.assertTrue(os.path.isfile(os.path.join(dest, "usr/bin/jobhost")))
        self.assertFalse(os.path.exists(os.path.join(dest, "usr/etc")))
        with open(os.path.join(dest, "usr/lib/systemd/system/jobhost.service")) as f:
            unit = f.read()
        self.assertIn("User=jobhost\nGroup=jobhost\n", unit)
        self.assertIn("ExecStart=/usr/bin/jobhost -c /etc/jobhost/jobhost.yaml\n", unit)

    def test_existing_manifest_is_never_overwritten(self):
        dest = os.path.join(self.tmp, "again")
        make_install("PREFIX=/opt/jh", "DESTDIR=" + dest)
        conf = os.path.join(dest, "opt/jh/etc/jobhost/jobhost.yaml")
        with open(conf, "a") as f:
            f.write("# the operator's own line\n")
        p = make_install("PREFIX=/opt/jh", "DESTDIR=" + dest)
        self.assertIn("jobhost.yaml.example", p.stdout)
        with open(conf) as f:
            self.assertIn("# the operator's own line", f.read())
        with open(conf + ".example") as f:
            self.assertNotIn("# the operator's own line", f.read())

    def test_installed_example_runs_every_job(self):
        p = subprocess.run([self.bin, "check", "-c", self.conf], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")  # not even a warning
        ids = re.findall(r"^  - id: (\S+)", open(self.conf).read(), re.M)
        self.assertTrue(ids)
        plugins = dict(re.findall(r"^  - id: (\S+)\n    plugin: (\S+)", open(self.conf).read(), re.M))
        for job in ids:
            with self.subTest(job=job):
                p = subprocess.run([self.bin, "run-once", job, "-c", self.conf, "--dry-run"],
                                   capture_output=True, text=True, timeout=60 * SLOW)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
                # for real, but no pruning of this machine's files
                if plugins.get(job) != "file_prune":
                    p = subprocess.run([self.bin, "run-once", job, "-c", self.conf],
                                       capture_output=True, text=True, timeout=60 * SLOW)
                    self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
                    self.assertIn("result=success", p.stdout)

    def test_man_pages_render_clean_and_name_every_key(self):
        for rel in ("share/man/man8/jobhost.8", "share/man/man5/jobhost.yaml.5",
                    "share/man/man7/jobhost-plugin.7"):
            p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", self.path(rel)],
                               capture_output=True, text=True)
            self.assertEqual((p.returncode, p.stderr), (0, ""), rel)
            p = subprocess.run(["man", "--warnings", "-l", self.path(rel)], capture_output=True,
                               text=True, env=dict(os.environ, MANWIDTH="80"))
            self.assertEqual(p.returncode, 0, rel)
            self.assertEqual(p.stderr, "", rel)
        p = subprocess.run(["man", "-l", self.path("share/man/man5/jobhost.yaml.5")],
                           capture_output=True, text=True, env=dict(os.environ, MANWIDTH="200"))
        text = p.stdout
        for key in sorted(manifest_keys()):
            self.assertIn(key, text, "jobhost.yaml(5) does not name the key %r" % key)
        p = subprocess.run(["man", "-l", self.path("share/man/man8/jobhost.8")],
                           capture_output=True, text=True, env=dict(os.environ, MANWIDTH="200"))
        for word in ("SIGNALS", "SIGHUP", "SIGUSR1", "FILES", "EXIT STATUS", "ctl", "run-once"):
            self.assertIn(word, p.stdout)

    @unittest.skipUnless(shutil.which("systemd-analyze"), "no systemd-analyze")
    def test_unit_passes_systemd_analyze_verify(self):
        unit = self.path("lib/systemd/system/jobhost.service")
        env = dict(os.environ, MANPATH=self.path("share/man") + ":")
        p = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                           env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotIn("jobhost.service", p.stderr)

    def test_sdk_builds_the_template_with_pkg_config(self):
        env = dict(os.environ, PKG_CONFIG_PATH=self.path("share/pkgconfig"))
        cflags = subprocess.run(["pkg-config", "--cflags", "jobhost"], capture_output=True,
                                text=True, env=env, check=True).stdout.split()
        self.assertIn("-I" + self.path("include"), cflags)
        plugdir = subprocess.run(["pkg-config", "--variable=plugindir", "jobhost"],
                                 capture_output=True, text=True, env=env, check=True).stdout.strip()
        self.assertEqual(plugdir, self.path("lib/jobhost/plugins"))
        out = os.path.join(self.tmp, "plugins")
        os.makedirs(out, exist_ok=True)
        os.chmod(out, 0o755)
        so = os.path.join(out, "template.so")
        subprocess.run(["cc", "-shared", "-fPIC", "-fvisibility=hidden", "-Wall", "-Wextra"] + cflags +
                       ["-Wl,-z,defs", "-o", so, self.path("share/jobhost/plugin_template.c")],
                       check=True)
        conf = os.path.join(self.tmp, "sdk.yaml")
        with open(conf, "w") as f:
            f.write("host: {plugin_dir: %s, http: {enabled: false}, log: {syslog: {enabled: false}}}\n"
                    "jobs: []\n" % out)
        p = subprocess.run([self.bin, "describe", "template", "-c", conf], capture_output=True,
                           text=True)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_bash_completion(self):
        if not os.path.exists("/usr/share/bash-completion/bash_completion"):
            self.skipTest("bash-completion is not installed")
        d = self.start("  - id: alpha\n    plugin: ok\n  - id: beta-job\n    plugin: ok\n")
        script = self.path("share/bash-completion/completions/jobhost")
        path = os.path.dirname(JOBHOST) + ":" + os.environ["PATH"]

        def complete(line):
            code = (". /usr/share/bash-completion/bash_completion\n. %s\n"
                    "COMP_LINE=%s; COMP_POINT=${#COMP_LINE}\n"
                    "read -ra COMP_WORDS <<< \"$COMP_LINE\"\n"
                    "[[ $COMP_LINE == *' ' ]] && COMP_WORDS+=('')\n"
                    "COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\n"
                    "_jobhost jobhost \"${COMP_WORDS[COMP_CWORD]}\" \"${COMP_WORDS[COMP_CWORD-1]}\"\n"
                    "printf '%%s\\n' \"${COMPREPLY[@]}\"\n") % (shlex.quote(script), shlex.quote(line))
            p = subprocess.run(["bash", "--norc", "--noprofile", "-c", code], capture_output=True,
                               text=True, env=dict(os.environ, PATH=path), timeout=30 * SLOW)
            return sorted(w for w in p.stdout.split("\n") if w)

        self.assertEqual(complete("jobhost "),
                         ["check", "ctl", "describe", "history", "next", "run-once"])
        self.assertIn("--listen", complete("jobhost --l"))
        self.assertEqual(complete("jobhost ctl "),
                         sorted("status list show run pause resume history logs reload".split()))
        self.assertEqual(complete("jobhost ctl --url %s show " % d.url("")), ["alpha", "beta-job"])
        self.assertEqual(complete("jobhost ctl --url %s run b" % d.url("")), ["beta-job"])
        self.assertIn("--wait", complete("jobhost ctl run alpha --"))
        self.assertIn("--follow", complete("jobhost ctl logs 0123 --"))
        self.assertEqual(complete("jobhost describe "), ["exec", "file_prune", "hello"])

    def test_make_run_example_takes_a_listen_override(self):
        example = os.path.join(ROOT, "config", "jobhost.yaml")
        for how in ("--listen", "JOBHOST_LISTEN"):
            with self.subTest(how=how):
                port = free_port()
                argv = [JOBHOST, "-c", example, "--log-stderr"]
                env = dict(os.environ)
                if how == "--listen":
                    argv += ["--listen", "127.0.0.1:%d" % port]
                else:
                    env["JOBHOST_LISTEN"] = "127.0.0.1:%d" % port
                proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
                try:
                    wait_for(lambda: serving(port) or proc.poll() is not None, timeout=15,
                             what="the example daemon")
                    self.assertIsNone(proc.poll(), "the example daemon exited")
                    self.assertTrue(serving(port))
                finally:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(timeout=30 * SLOW)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                self.assertEqual(proc.returncode, 0)
        p = subprocess.run([JOBHOST, "--listen", "nowhere:1", "-c", example], capture_output=True,
                           text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--listen", p.stderr)


if __name__ == "__main__":
    main()
