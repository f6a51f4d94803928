"""One queued job inside a worker: confinement, the job lock, progress, cancel, idempotence.

    run(task, job_json) -> {"output": ..., "frames": ..., "seconds": ..., "fps": ...}

A split job: ``split`` plans its parts and becomes a chord of ``part`` tasks (one per part, on
any worker) whose callback, ``join``, makes the outputs; ``cleanup`` removes the parts of a
cancelled or failed one.

Every task kind starts the same way (:func:`_once`): the job is read and confined to the
worker's folders before any file is touched, a stopped job ends as REVOKED, a finished one
returns its stored result, and the work runs only under the job's (or part's) lock, its result
stored before the lock is released. So each is safe to run more than once, and outputs appear
only by an atomic rename.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import NoReturn

from celery import Task, chord, group, signature, states
from celery.exceptions import Ignore

import bgrm
from bgrm import Place, parts

from . import confine, runtime
from .app import CLEANUP_TASK, JOIN_TASK, PART_TASK, PROGRESS, app, part_task_id
from .config import settings
from .lock import JobLock
from .store import JobStore

log = logging.getLogger("bgrm.worker")

PROGRESS_INTERVAL = 0.5  # seconds between progress reports to the result backend
CLEANUP_POLL_S = 2.0  # a stopping part ends within a batch; a dead worker's lock within its TTL


class JobTimeLimit(bgrm.BgrmError):
    """The job ran longer than BGRM_TIME_LIMIT."""


class JobCancelled(Exception):
    """`bgrm cancel` asked this job to stop."""


def run(task: Task, job_json: str) -> dict:
    """Process ``job_json`` (a bgrm.Job as JSON) as Celery task ``task``."""
    job_id = task.request.id

    def requeue() -> NoReturn:
        log.info("job %s is running on another worker; queued again for later", job_id)
        task.apply_async(args=task.request.args, task_id=job_id, countdown=_later())
        raise Ignore()

    return _once(task, job_json, record=job_id, watch=job_id, busy=requeue, work=_process)


def _process(task: Task, job: bgrm.Job, store: JobStore) -> dict:
    job_id = task.request.id
    _remove_leftovers(job)
    log.info("job %s started: %s -> %s", job_id, job.input, job.output_path())
    try:
        result = bgrm.run(
            job,
            model=runtime.model(job.model),
            on_progress=_Progress(task, store, job_id),
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


def split(task: Task, job_json: str, split_json: str) -> dict:
    """Plan the parts of a job ({"count": N} or {"seconds": S}) and replace this task with a
    chord of one part task each and the join; the job's id stays the join's."""
    job_id = task.request.id
    cut = parts.Split.from_json(split_json)

    def plan(task: Task, job: bgrm.Job, store: JobStore) -> NoReturn:
        _parts_folder(job, job_id)  # a name too long for it is refused before any part runs
        recorded = store.plan(job_id)
        if recorded is None:  # a redelivered copy reuses the plan, so part ids stay the same
            pieces = parts.plan_parts(job, count=cut.count, seconds=cut.seconds)
            store.planned(job_id, [piece.to_json() for piece in pieces])
        else:
            pieces = [parts.Part.from_json(text) for text in recorded["parts"]]
        log.info("job %s split into %d parts", job_id, len(pieces))
        header = group(
            signature(
                PART_TASK,
                args=(job_json, piece.to_json(), job_id),
                task_id=part_task_id(job_id, piece.index),
            )
            for piece in pieces
        )
        raise task.replace(chord(header, signature(JOIN_TASK, args=(job_json,))))

    return _once(task, job_json, record=job_id, watch=job_id, busy=None, work=plan)


def part(task: Task, job_json: str, part_json: str, job_id: str) -> dict:
    """Run one part of job ``job_id`` into the job's parts folder."""
    part_id = task.request.id
    piece = parts.Part.from_json(part_json)

    def busy() -> NoReturn:
        log.info("part %s is running on another worker; queued again for later", part_id)
        raise task.retry(countdown=_later(), max_retries=None)  # keeps the chord

    def work(task: Task, job: bgrm.Job, store: JobStore) -> dict:
        folder = _parts_folder(job, job_id)
        _remove_leftovers(job, folder)
        log.info(
            "part %s started: %s, part %d of %d", part_id, job.input, piece.index + 1, piece.count
        )
        try:
            result = parts.run_part(
                job,
                piece,
                folder,
                model=runtime.model(job.model),
                on_progress=_Progress(task, store, job_id),
                on_notice=lambda message: log.info("part %s: %s", part_id, message),
            )
        except JobCancelled:
            log.info("part %s stopped: its job was cancelled or another part failed", part_id)
            _revoked(task)
        except bgrm.BgrmError as error:
            log.error("part %s failed: %s", part_id, error)
            store.fail(job_id)
            app.send_task(CLEANUP_TASK, args=[job_json, job_id])
            raise
        log.info("part %s done: %d frames in %.1f s", part_id, result.frames, result.seconds)
        return {
            "frames": result.frames,
            "seconds": round(result.seconds, 3),
            "warmup_frames": result.warmup_frames,
        }

    return _once(task, job_json, record=part_id, watch=job_id, busy=busy, work=work)


def join(task: Task, job_json: str) -> dict:
    """Join the finished parts of the job (this task's id) into its outputs."""
    job_id = task.request.id

    def later() -> NoReturn:
        raise task.retry(countdown=_later(), max_retries=None)

    def work(task: Task, job: bgrm.Job, store: JobStore) -> dict:
        plan = store.plan(job_id)
        if plan is None:  # not the chord of a split task: nothing to join
            raise bgrm.UsageError(f"job {job_id} was never split: there are no parts to join")
        pieces = [parts.Part.from_json(text) for text in plan["parts"]]
        waiting = [p.index for p in pieces if store.result(part_task_id(job_id, p.index)) is None]
        if waiting:  # called early: a redelivered part counted twice in the chord
            log.info("job %s: parts %s not finished yet; joining later", job_id, waiting)
            later()
        _remove_leftovers(job)  # a killed join's upload and staged file
        joining = time.monotonic()
        result = parts.join_parts(
            job,
            pieces,
            _parts_folder(job, job_id),
            on_notice=lambda message: log.info("job %s: %s", job_id, message),
        )
        join_seconds = time.monotonic() - joining
        wall = time.time() - plan["started"]
        log.info(
            "job %s done: %s, %d frames in %d parts",
            job_id,
            result.output,
            result.frames,
            len(pieces),
        )
        return {
            "output": str(result.output),
            "frames": result.frames,
            "seconds": round(wall, 3),
            "fps": round(bgrm.Result.rate(result.frames, wall), 2),
            "notices": result.notices,
            "parts": len(pieces),
            "join_seconds": round(join_seconds, 3),
        }

    return _once(task, job_json, record=job_id, watch=job_id, busy=later, work=work)


def cleanup(task: Task, job_json: str, job_id: str) -> None:
    """Once no part (and no join) of the cancelled or failed job ``job_id`` runs, remove the
    parts folder (aborting the uploads open below it) and what killed runs of the job left:
    staged uploads, incomplete uploads of its outputs."""
    store = _store(task)
    job = _confined(job_json)
    folder = _parts_folder(job, job_id)
    plan = store.plan(job_id)
    count = len(plan["parts"]) if plan else 0
    running = [job_id] + [part_task_id(job_id, index) for index in range(count)]
    if any(store.locked(record) for record in running):
        raise task.retry(countdown=CLEANUP_POLL_S, max_retries=None)
    folder.remove()
    _remove_leftovers(job)
    if store.cancel_requested(job_id):
        task.backend.mark_as_revoked(job_id, "cancelled")
    log.info("job %s: parts removed", job_id)


Work = Callable[[Task, bgrm.Job, JobStore], dict]


def _once(
    task: Task,
    job_json: str,
    *,
    record: str,
    watch: str,
    busy: Callable[[], NoReturn] | None,
    work: Work,
) -> dict:
    """The prologue every task kind shares, then ``work(task, job, store)``: the job confined
    before any file is touched; REVOKED if job ``watch`` was stopped; the stored result of
    ``record`` if it has one; else ``work`` under ``record``'s lock (``busy()`` when another
    worker holds it; no lock when ``busy`` is None), its result stored before the lock goes."""
    job = _confined(job_json)
    store = _store(task)
    finished = store.result(record)
    if finished is not None:
        log.info("%s already finished: %s", record, finished.get("output", "(a part)"))
        return finished
    if store.stop_requested(watch):
        _revoked(task)
    if busy is None:
        return work(task, job, store)
    with JobLock(store.client, store.key(record, "lock"), settings().lock_ttl) as held:
        if not held:
            busy()
        finished = store.result(record)  # it may have ended between the first look and the lock
        if finished is not None:
            return finished
        task.update_state(state=states.STARTED)  # only the holder of the lock says so
        summary = work(task, job, store)
        store.finished(record, summary)
    return summary


def _confined(job_json: str) -> bgrm.Job:
    """The job as submitted, on this worker's device, after checking that it reads and writes
    only under this worker's folders."""
    job = dataclasses.replace(bgrm.Job.from_json(job_json), device="auto")
    config = settings()
    confine.check(job, config.input_roots, config.output_root)
    return job


def _remove_leftovers(job: bgrm.Job, folder: Place | None = None) -> None:
    """What interrupted runs of ``job`` left (temp files, staged uploads, incomplete uploads
    of its outputs), removed and logged. With the job's (or part's) lock held: a killed
    worker's lock outlives its last write by at least two thirds of the TTL, so temp files
    untouched for half of it are a dead run's."""
    removed = parts.remove_leftovers(job, settings().lock_ttl / 2, folder)
    for temp in removed.temps:
        log.info("removed a stale temp file of an interrupted run: %s", temp)
    for upload in removed.uploads:
        log.info("aborted the incomplete upload of an interrupted run: %s", upload)


def _parts_folder(job: bgrm.Job, job_id: str) -> Place:
    """The job's parts folder, checked to be under the output root like its outputs."""
    try:
        folder = parts.parts_folder(job, job_id)
    except ValueError:  # a job id that is not a plain name
        raise bgrm.UsageError(f"not a job id: {job_id!r}") from None
    confine.check_written("parts folder", folder, settings().output_root)
    return folder


def _store(task: Task) -> JobStore:
    return JobStore(task.backend.client, settings().result_expires)


def _later() -> float:
    """Seconds before a job or part that is busy elsewhere is tried again."""
    config = settings()
    return max(1.0, min(config.lock_ttl, config.visibility_timeout) / 2)


class _Progress:
    """Progress callback: reports PROGRESS; stops a late job, or one whose job ``watch`` is
    cancelled (or, for a part, failed elsewhere)."""

    def __init__(self, task: Task, store: JobStore, watch: str):
        self.task = task
        self.store = store
        self.watch = watch
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
        if self.store.stop_requested(self.watch):
            raise JobCancelled
        fps = round(bgrm.Result.rate(done, elapsed), 2)
        self.task.update_state(state=PROGRESS, meta={"done": done, "total": total, "fps": fps})


def _revoked(task: Task) -> NoReturn:
    """Record the job as REVOKED and drop this message without another state."""
    task.backend.mark_as_revoked(task.request.id, "cancelled", request=task.request)
    raise Ignore()
