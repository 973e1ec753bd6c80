#!/usr/bin/python3
"""The peer of oneshot_info: the aps_dispatch_oneshot.py anchor, unchanged,
with APScheduler's INFO logging on as a deployment has it -- the root
logger at INFO writing to a rotating file (10 MiB, 5 kept, as jobhost's
default manifest rotates), in a fresh directory. APScheduler then logs
each run twice ("Running job ...", "Job ... executed successfully"), as
jobhost writes job_started and job_finished.

How to run:  /usr/bin/python3 aps_oneshot_info.py ANCHOR [anchor options]
Prints the anchor's name=value lines, then log_records= (lines in the log
files) and log_bytes=. With its logging on APScheduler runs some 1,800
jobs/s here, so 100,000 jobs pass the anchor's own 50 s limit: run.sh asks
for 20,000 (--jobs), and the table compares rates.
"""
import logging
import logging.handlers
import os
import runpy
import shutil
import sys
import tempfile


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: aps_oneshot_info.py ANCHOR [anchor options]")
    anchor = sys.argv[1]
    d = tempfile.mkdtemp(prefix="aps-oneshot-info-")
    path = os.path.join(d, "apscheduler.log")
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=10 << 20, backupCount=5)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    real_exit = os._exit

    def report_and_exit(status):
        """The anchor ends with os._exit: count the log first."""
        handler.close()
        records = size = 0
        for name in os.listdir(d):
            p = os.path.join(d, name)
            size += os.path.getsize(p)
            with open(p, "rb") as f:
                records += sum(1 for _ in f)
        print("log_level=info")
        print("log_records=%d" % records)
        print("log_bytes=%d" % size)
        sys.stdout.flush()
        shutil.rmtree(d, ignore_errors=True)
        real_exit(status)

    os._exit = report_and_exit
    sys.argv = [anchor] + sys.argv[2:]
    try:
        runpy.run_path(anchor, run_name="__main__")
    finally:
        report_and_exit(0)


if __name__ == "__main__":
    main()
