"""One queued job inside a worker: confinement, the job lock, progress, cancel, idempotence.

    run(task, job_json) -> {"output": ..., "frames": ..., "seconds": ..., "fps": ...}

Safe to run more than once: a finished job returns its stored result; a job another worker is
running is handed back to the queue for later; the output appears only by an atomic rename.
"""

from __future__ import annotations

import dataclasses
import logging
import time

from celery import Task, states
from celery.exceptions import Ignore

import bgrm

from . import confine, runtime
from .app import PROGRESS
from .config import settings
from .lock import JobLock
from .store import JobStore

log = logging.getLogger("bgrm.worker")

PROGRESS_INTERVAL = 0.5  # seconds between progress reports to the result backend


class JobTimeLimit(bgrm.BgrmError):
    """The job ran longer than BGRM_TIME_LIMIT."""


class JobCancelled(Exception):
    """`bgrm cancel` asked this job to stop."""


def run(task: Task, job_json: str) -> dict:
    """Process ``job_json`` (a bgrm.Job as JSON) as Celery task ``task``."""
    job_id = task.request.id
    config = settings()
    store = JobStore(task.backend.client, config.result_expires)
    job = dataclasses.replace(bgrm.Job.from_json(job_json), device="auto")  # the worker's
    if store.cancel_requested(job_id):
        _revoked(task)
    finished = store.result(job_id)
    if finished is not None:
        log.info("job %s already finished: %s", job_id, finished["output"])
        return finished
    confine.check(job, config.input_roots, config.output_root)
    with JobLock(store.client, store.key(job_id, "lock"), config.lock_ttl) as held:
        if not held:
            log.info("job %s is running on another worker; queued again for later", job_id)
            later = max(1.0, min(config.lock_ttl, config.visibility_timeout) / 2)
            task.apply_async(args=task.request.args, task_id=job_id, countdown=later)
            raise Ignore()
        finished = store.result(job_id)  # it may have ended between the first look and the lock
        if finished is not None:
            return finished
        task.update_state(state=states.STARTED)  # only the holder of the lock says so
        summary = _process(task, job, store)
        store.finished(job_id, summary)
    return summary


def _process(task: Task, job: bgrm.Job, store: JobStore) -> dict:
    job_id = task.request.id
    # With the lock held: a killed worker's lock outlives its last write by at least two
    # thirds of the TTL, so temp files untouched for half of it are a dead run's.
    for leftover in bgrm.remove_leftovers(job, older_than=settings().lock_ttl / 2):
        log.info("removed a stale temp file of an interrupted run: %s", leftover)
    log.info("job %s started: %s -> %s", job_id, job.input, job.output_path())
    progress = _Progress(task, store)
    try:
        result = bgrm.run(
            job,
            model=runtime.model(),
            on_progress=progress,
            on_notice=lambda message: log.info("job %s: %s", job_id, message),
        )
    except JobCancelled:
        log.info("job %s cancelled; no output written", job_id)
        _revoked(task)
    except bgrm.BgrmError as error:
        log.error("job %s failed: %s", job_id, error)
        raise
    except Exception:
        log.exception("job %s failed", job_id)
        raise
    log.info(
        "job %s done: %s, %d frames in %.1f s (%.1f frames/s)",
        job_id,
        result.output,
        result.frames,
        result.seconds,
        result.fps,
    )
    return {
        "output": str(result.output),
        "frames": result.frames,
        "seconds": round(result.seconds, 3),
        "fps": round(result.fps, 2),
        "notices": result.notices,
    }


class _Progress:
    """The job's progress callback: reports PROGRESS, and stops a cancelled or late job."""

    def __init__(self, task: Task, store: JobStore):
        self.task = task
        self.store = store
        self.started = time.monotonic()
        self.reported = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self.reported < PROGRESS_INTERVAL:
            return
        self.reported = now
        elapsed = now - self.started
        limit = settings().time_limit
        if limit is not None and elapsed > limit:
            raise JobTimeLimit(f"job ran past BGRM_TIME_LIMIT ({limit:g} s); no output written")
        if self.store.cancel_requested(self.task.request.id):
            raise JobCancelled
        fps = round(done / elapsed, 2) if elapsed > 0 else 0.0
        self.task.update_state(state=PROGRESS, meta={"done": done, "total": total, "fps": fps})


def _revoked(task: Task):
    """Record the job as REVOKED and drop this message without another state."""
    task.backend.mark_as_revoked(task.request.id, "cancelled", request=task.request)
    raise Ignore()
