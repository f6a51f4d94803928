"""The Celery tasks: thin shells around :mod:`execute`, with retries of transient errors.

Bad input (InputError, UsageError, OutputError) fails at once with the CLI's message; a weights
fetch that failed (EnvironmentProblem) or an OSError is retried with exponential backoff, up to
BGRM_MAX_RETRIES times.
"""

from __future__ import annotations

from collections.abc import Callable

from celery import Task
from celery.utils.time import get_exponential_backoff_interval

from bgrm import EnvironmentProblem, InputError, OutputError, UsageError

from . import execute
from .app import CLEANUP_TASK, JOIN_TASK, PART_TASK, PROCESS_TASK, SPLIT_TASK, app
from .config import settings

BACKOFF_S, BACKOFF_MAX_S = 5, 300
USER_ERRORS = (InputError, UsageError, OutputError, execute.JobTimeLimit)


def _retrying(task: Task, call: Callable[[], dict]) -> dict:
    """``call()``, retried later when it fails for a reason that may pass."""
    try:
        return call()
    except (EnvironmentProblem, OSError) as error:
        countdown = get_exponential_backoff_interval(
            BACKOFF_S, task.request.retries, BACKOFF_MAX_S, full_jitter=True
        )
        retries = settings().max_retries
        raise task.retry(exc=error, countdown=countdown, max_retries=retries) from error


@app.task(bind=True, name=PROCESS_TASK, throws=USER_ERRORS)
def process(self, job_json: str) -> dict:
    """bgrm.Job as JSON -> {"output", "frames", "seconds", "fps", "notices"}."""
    return _retrying(self, lambda: execute.run(self, job_json))


@app.task(bind=True, name=SPLIT_TASK, throws=USER_ERRORS)
def split(self, job_json: str, split_json: str) -> dict:
    """Plan the parts ({"count": N} or {"seconds": S}) and become their chord."""
    return _retrying(self, lambda: execute.split(self, job_json, split_json))


# Waiting for a busy part, a part's lock or the parts themselves is retried without limit (the
# transient-error retries pass their own limit).
@app.task(bind=True, name=PART_TASK, throws=USER_ERRORS, max_retries=None)
def part(self, job_json: str, part_json: str, job_id: str) -> dict:
    """One bgrm.parts.Part of job ``job_id`` -> {"frames", "seconds", "warmup_frames"}."""
    return _retrying(self, lambda: execute.part(self, job_json, part_json, job_id))


@app.task(bind=True, name=JOIN_TASK, throws=USER_ERRORS, max_retries=None)
def join(self, part_results: list, job_json: str) -> dict:
    """The parts' results (from the chord) -> the job's result, as PROCESS_TASK's."""
    return _retrying(self, lambda: execute.join(self, job_json))


@app.task(bind=True, name=CLEANUP_TASK, throws=USER_ERRORS, max_retries=None)
def cleanup(self, job_json: str, job_id: str) -> None:
    """Remove what the parts of a cancelled or failed job wrote, once none is running."""
    execute.cleanup(self, job_json, job_id)
