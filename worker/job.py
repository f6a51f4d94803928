"""One queued job inside a worker: confinement, the job lock, progress, cancel, idempotence.

    run(task, options_json) -> {"output": ..., "frames": ..., "seconds": ..., "fps": ...}

Safe to run more than once: a finished job returns its stored result; a job another worker is
running is handed back to the queue for later; the output appears only by an atomic rename.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

from celery import Task, states
from celery.exceptions import Ignore

from bgrm import pipeline
from bgrm.errors import BgrmError
from bgrm.options import ProcessOptions
from worker import confine, runtime
from worker.app import PROGRESS, settings
from worker.lock import JobLock
from worker.store import JobStore

log = logging.getLogger("bgrm.worker")

PROGRESS_INTERVAL = 0.5  # seconds between progress reports to the result backend


class JobTimeLimit(BgrmError):
    """The job ran longer than BGRM_TIME_LIMIT."""


class JobCancelled(Exception):
    """`bgrm cancel` asked this job to stop."""


def run(task: Task, options_json: str) -> dict:
    """Process the job ``options_json`` (ProcessOptions as JSON) as Celery task ``task``."""
    job_id = task.request.id
    store = JobStore(task.backend.client, settings.result_expires)
    options = dataclasses.replace(ProcessOptions.from_json(options_json), device=settings.device)
    if store.cancel_requested(job_id):
        _revoked(task)
    finished = store.result(job_id)
    if finished is not None:
        log.info("job %s already finished: %s", job_id, finished["output"])
        return finished
    confine.check(options, settings.input_roots, settings.output_root)
    with JobLock(store.client, store.key(job_id, "lock"), settings.lock_ttl) as held:
        if not held:
            log.info("job %s is running on another worker; queued again for later", job_id)
            later = max(1.0, min(settings.lock_ttl, settings.visibility_timeout) / 2)
            task.apply_async(args=task.request.args, task_id=job_id, countdown=later)
            raise Ignore()
        finished = store.result(job_id)  # it may have ended between the first look and the lock
        if finished is not None:
            return finished
        task.update_state(state=states.STARTED)  # only the holder of the lock says so
        summary = _process(task, options, store)
        store.finished(job_id, summary)
    return summary


def _process(task: Task, options: ProcessOptions, store: JobStore) -> dict:
    job_id = task.request.id
    output = options.output_path()
    _remove_stale_parts(output, older_than=settings.lock_ttl / 2)
    log.info("job %s started: %s -> %s", job_id, options.input, output)
    progress = _Progress(task, store)
    try:
        result = pipeline.run(
            options,
            on_progress=progress,
            on_notice=lambda message: log.info("job %s: %s", job_id, message),
            model=runtime.model(),
        )
    except JobCancelled:
        log.info("job %s cancelled; no output written", job_id)
        _revoked(task)
    except BgrmError as error:
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
    """The pipeline's progress callback: reports PROGRESS, and stops a cancelled or late job."""

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
        if settings.time_limit is not None and elapsed > settings.time_limit:
            raise JobTimeLimit(
                f"job ran past BGRM_TIME_LIMIT ({settings.time_limit:g} s); no output written"
            )
        if self.store.cancel_requested(self.task.request.id):
            raise JobCancelled
        fps = round(done / elapsed, 2) if elapsed > 0 else 0.0
        self.task.update_state(state=PROGRESS, meta={"done": done, "total": total, "fps": fps})


def _revoked(task: Task):
    """Record the job as REVOKED and drop this message without another state."""
    task.backend.mark_as_revoked(task.request.id, "cancelled", request=task.request)
    raise Ignore()


def _remove_stale_parts(output: Path, older_than: float) -> None:
    """Delete temp files a killed worker left beside ``output`` (pipeline's hidden .part files).

    Called with the job's lock held. Only files untouched for ``older_than`` seconds go (half
    the lock TTL: a killed worker's lock outlives its last write by at least two thirds of it),
    so a live writer, which updates its file with every batch, keeps its own.
    """
    cutoff = time.time() - older_than
    for part in output.parent.glob(f".{output.stem}.part-*{output.suffix}"):
        if part.stat().st_mtime < cutoff:
            log.info("removing a stale temp file of an interrupted run: %s", part)
            part.unlink(missing_ok=True)
