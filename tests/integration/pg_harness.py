"""A private PostgreSQL 15 for tests: initdb and pg_ctl in a temporary
directory, on a free loopback port, run as an unprivileged user (the tests
run as root, and PostgreSQL refuses root), stopped and removed by close()
even when a test fails. Its socket directory is private too.

find_bin() says where the server binaries are; tests skip, saying so, only
when they cannot be found (`make deps` installs postgresql-15).
"""
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time

from harness import free_port

PG_USER = "postgres"  # Debian's postgresql package makes this system user


def find_bin():
    """The directory holding initdb and pg_ctl, or None."""
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(d, "initdb"), os.X_OK) and \
                os.access(os.path.join(d, "pg_ctl"), os.X_OK):
            return d
    return None


def skip_reason():
    if find_bin() is None:
        return "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb): " \
               "`make deps` installs postgresql-15"
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        return "no '%s' user to run PostgreSQL as (postgresql-15 creates it)" % PG_USER
    return None


class Postgres:
    def __init__(self):
        self.bin = find_bin()
        self.dir = tempfile.mkdtemp(prefix="jobhost-pg-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        self.log = os.path.join(self.dir, "pg.log")
        self.port = free_port()
        self.started = False
        pw = pwd.getpwnam(PG_USER)
        os.mkdir(self.sock)
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chown(self.sock, pw.pw_uid, pw.pw_gid)
        self.as_user = ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid,
                        "--init-groups", "--"]
        self.run(os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "jobhost",
                 "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = '127.0.0.1'\nport = %d\n"
                    "unix_socket_directories = '%s'\nfsync = off\n"
                    "max_connections = 200\n" % (self.port, self.sock))

    def run(self, *argv):
        env = dict(os.environ, LC_ALL="C")
        subprocess.run(self.as_user + list(argv), check=True, cwd=self.dir, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       stdin=subprocess.DEVNULL)

    def start(self):
        self.run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l", self.log, "-w",
                 "-t", "30", "start")
        self.started = True
        return self

    def stop(self, mode="fast"):
        if self.started:
            self.run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", mode, "-w",
                     "-t", "30", "stop")
            self.started = False

    def dsn(self, dbname="jobhost"):
        return "host=127.0.0.1 port=%d dbname=%s user=jobhost connect_timeout=2" % (
            self.port, dbname)

    def psql(self, sql, dbname="jobhost"):
        """Rows of one query, as lists of strings."""
        out = subprocess.run(["psql", "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                              "-h", "127.0.0.1", "-p", str(self.port), "-U", "jobhost",
                              "-d", dbname, "-c", sql],
                             check=True, capture_output=True, text=True).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def create_db(self, name):
        self.psql("CREATE DATABASE %s" % name, dbname="postgres")

    def close(self):
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        # whatever pg_ctl could not stop (postmaster.pid names it)
        pidfile = os.path.join(self.data, "postmaster.pid")
        if os.path.exists(pidfile):
            try:
                pid = int(open(pidfile).readline())
                os.kill(pid, 9)
                time.sleep(0.2)
            except (ValueError, OSError):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
