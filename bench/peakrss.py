"""Run a command and report its own peak RSS: ``python -m bgrm_bench.peakrss CMD...``.

A child's peak RSS (ru_maxrss) counts the pages it shared with its parent between fork and
exec, so a child forked from a large process (a benchmark holding decoded frames and a model)
looks as large as that parent. This module is a small process (no torch) that runs the command
and prints one JSON line, {"exit": CODE, "peak_rss_kib": N}, on stdout; the command's own
stdout and stderr pass through.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def main() -> None:
    child = subprocess.Popen(sys.argv[1:])
    _, status, usage = os.wait4(child.pid, 0)
    print(json.dumps({"exit": os.waitstatus_to_exitcode(status), "peak_rss_kib": usage.ru_maxrss}))


if __name__ == "__main__":
    main()
