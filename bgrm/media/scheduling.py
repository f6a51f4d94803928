"""Keep an encoder from making bgrm's threads realtime.

SVT-AV1 (libsvtav1), run as root (as in most containers), moves the thread that opens it and
every thread it starts to the realtime class (SCHED_FIFO, priority 99). A realtime thread that
computes is never preempted by a normal one: the rest of bgrm, a second job, the user's
desktop wait until it sleeps, and a busy process started from it (it inherits the class)
starves a core for good (seen: a test's child process waited on one for ever).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

_TASKS = "/proc/self/task"


def _realtime_threads() -> set[int]:
    """The ids of this process's threads in a realtime class (FIFO or round-robin)."""
    found = set()
    for name in os.listdir(_TASKS):
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            if os.sched_getscheduler(int(name)) in (os.SCHED_FIFO, os.SCHED_RR):
                found.add(int(name))
    return found


@contextlib.contextmanager
def normal_scheduling() -> Iterator[None]:
    """Threads that the block moves to a realtime class go back to the normal one (threads
    that were realtime before, by the user's choice, stay so)."""
    if not hasattr(os, "sched_setscheduler") or not os.path.isdir(_TASKS):
        yield
        return
    before = _realtime_threads()
    try:
        yield
    finally:
        for thread in _realtime_threads() - before:
            with contextlib.suppress(OSError):
                os.sched_setscheduler(thread, os.SCHED_OTHER, os.sched_param(0))
