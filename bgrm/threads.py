"""How many CPU threads a job's model may use: the cores this process may run on, less the
ones other processes keep busy; and, on a busy machine, OpenMP's idle threads asleep rather
than spinning.

    plan = fit_threads()             # e.g. ThreadPlan(threads=1, usable=2, busy=0.98)
    choose_waiting()                 # alone, before torch loads (a worker's start)

Every job fits its threads itself when its model session opens (bgrm/matting/session.py), so a
library call runs like the CLI whatever its caller imported first: a script that loaded torch
before bgrm missed ``choose_waiting`` and spins, but on a busy two-core machine it gets one
thread, and one thread never waits for another.

$BGRM_THREADS fixes the number instead (results then repeat to the last bit from run to run:
a different thread count sums in another order, ~1e-6 apart).

On a machine that other work keeps busy, torch's default (one thread per core) fights that work
and bgrm's own decode and encode threads: OpenMP threads spin while they wait for each other,
burning the cores the others need, and a parallel region waits for its slowest thread, which
the scheduler has put aside. Measured with bench/baseline.py --busy 1 (docs/benchmarks.md).
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SAMPLE_S = 0.25
"""How long the machine's load is sampled before a job."""


@dataclass(frozen=True)
class ThreadPlan:
    """threads: for torch's intra-op pool; usable: the cores this process may run on; busy:
    how many of the machine's cores other processes kept busy while it was sampled; codec:
    the cores left to the job's own decoder and encoder threads; fixed: the count came from
    $BGRM_THREADS (nothing was measured)."""

    threads: int
    usable: int
    busy: float
    fixed: bool = False
    codec: int = 0

    @property
    def leaves_cores(self) -> bool:
        """Whether cores were left to other work because the machine was found busy."""
        return not self.fixed and self.threads < max(1, self.usable - self.codec)

    def describe(self) -> str:
        codec = f", {self.codec} left to the codec" if self.codec else ""
        return (
            f"{self.threads} torch thread(s): {self.usable} usable core(s), "
            f"{self.busy:.1f} busy with other work{codec}"
        )


BUSY_FOR_SLEEPING = 0.5
"""Cores that other work keeps busy from which OpenMP's idle threads sleep instead of spin."""


def choose_waiting(busy: float | None = None) -> None:
    """Before torch loads OpenMP (which reads the policy once): on a machine that other work
    keeps busy (``busy`` cores, sampled now if not given), idle OpenMP threads sleep at once
    (OMP_WAIT_POLICY=PASSIVE) rather than spin on the cores that work needs; on a quiet one
    they spin, as by default, which is faster there (bench/baseline.py; README). A policy the
    user set stays, and once torch is loaded nothing changes. With $BGRM_THREADS nothing is
    measured and they spin."""
    if "OMP_WAIT_POLICY" in os.environ or "torch" in sys.modules or _fixed_threads():
        return
    if (busy_cores() if busy is None else busy) >= BUSY_FOR_SLEEPING:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


def fit_threads(sample_s: float = SAMPLE_S, codec: int = 0) -> ThreadPlan:
    """Set torch's threads to the cores that are free (at least one), less ``codec`` left to
    the job's decoder and encoder, measured now; or to $BGRM_THREADS where that is set (then
    nothing is measured). The first call in a process, before torch loads, also chooses how
    OpenMP's idle threads wait (``choose_waiting``)."""
    usable = usable_cores()
    if chosen := _fixed_threads():
        plan = ThreadPlan(threads=chosen, usable=usable, busy=0.0, fixed=True)
    else:
        plan = plan_threads(usable, busy_cores(sample_s), codec)
    choose_waiting(plan.busy)
    import torch

    torch.set_num_threads(plan.threads)
    return plan


def _fixed_threads() -> int | None:
    """$BGRM_THREADS, where it is a whole number above 0."""
    chosen = os.environ.get("BGRM_THREADS", "")
    return int(chosen) if chosen.isdigit() and int(chosen) > 0 else None


def plan_threads(usable: int, busy: float, codec: int = 0) -> ThreadPlan:
    """The threads for ``usable`` cores of which ``busy`` are taken and ``codec`` left to the
    job's decoder and encoder: the free ones, rounded to the nearest whole core, at least one."""
    threads = max(1, round(usable - busy) - codec)
    return ThreadPlan(threads=threads, usable=usable, busy=busy, codec=codec)


def usable_cores(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The cores this process may run on: its CPU affinity, capped by a cgroup CPU quota."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    quota = cgroup_quota(cgroup)
    return max(1, min(cores or 1, math.ceil(quota) if quota else cores or 1))


def cgroup_quota(cgroup: Path) -> float | None:
    """Cores allowed by the cgroup (v2 cpu.max "quota period", or v1 cfs files); None: no cap."""
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((cgroup / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((cgroup / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def busy_cores(sample_s: float = SAMPLE_S, stat: Path = Path("/proc/stat")) -> float:
    """How many cores other processes keep busy: the machine's CPU time used over
    ``sample_s`` (from /proc/stat), less this process's own, in cores; 0 where unknown."""
    try:
        before, own_before = _cpu_times(stat), time.process_time()
        time.sleep(sample_s)
        after, own_after = _cpu_times(stat), time.process_time()
    except (OSError, ValueError, IndexError):
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    busy_s = (after[0] - before[0]) / ticks - (own_after - own_before)
    wall_s = (after[1] - before[1]) / ticks / max(1, after[2])
    return max(0.0, busy_s / wall_s) if wall_s > 0 else 0.0


def _cpu_times(stat: Path) -> tuple[int, int, int]:
    """(busy ticks, all ticks, cores) of the machine, from the "cpu" lines of /proc/stat."""
    lines = stat.read_text().splitlines()
    fields = [int(value) for value in lines[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    cores = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    return sum(fields[:8]) - idle, sum(fields[:8]), cores
