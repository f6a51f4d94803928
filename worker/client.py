"""What `bgrm submit/status/cancel` do, for any program that queues jobs.

These talk to Redis only; they never load the model.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from celery import states
from celery.result import AsyncResult
from kombu.exceptions import OperationalError
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError

from bgrm import BgrmError, EnvironmentProblem, InputError, Job, Result

from .app import CLEANUP_TASK, PROCESS_TASK, PROGRESS, SPLIT_TASK, app, part_task_id
from .config import redact, settings
from .store import JobStore

Call = TypeVar("Call", bound=Callable)


def _needs_redis(call: Call) -> Call:
    """Say which Redis could not be reached, or refused the password, instead of a traceback
    (EnvironmentProblem; the password shown as ***)."""

    @functools.wraps(call)
    def wrapper(*args, **kwargs):
        try:
            return call(*args, **kwargs)
        except (OperationalError, RedisConnectionError) as error:
            config = settings()
            urls = (config.broker_url, config.result_backend)
            url = redact(config.broker_url, *urls)
            if not _refused(error):
                what = f"cannot reach the queue's Redis ({redact(str(error), *urls)})"
            elif urlsplit(config.broker_url).password:
                what = "the queue's Redis refused the password"
            else:
                what = "the queue's Redis wants a password (redis://:PASSWORD@host:port/db)"
            raise EnvironmentProblem(f"{what}: {url}") from error

    return wrapper


def _refused(error: BaseException) -> bool:
    """Whether Redis answered, but refused the password (or wanted one)."""
    while error is not None:
        if isinstance(error, AuthenticationError) or "NOAUTH" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def _store() -> JobStore:
    return JobStore(app.backend.client, settings().result_expires)


@_needs_redis
def submit(job: Job, split: dict | None = None) -> str:
    """Queue one job; returns its id. ``split``: {"count": N} or {"seconds": S} runs it in
    parts on as many workers as there are (see bgrm.parts.plan_parts)."""
    job_id = str(uuid.uuid4())
    text = job.to_json()
    _store().submitted(job_id, text)
    if split is None:
        app.send_task(PROCESS_TASK, args=[text], task_id=job_id)
    else:
        app.send_task(SPLIT_TASK, args=[text, json.dumps(split)], task_id=job_id)
    return job_id


@_needs_redis
def status(job_id: str) -> dict:
    """{"id", "state", "progress": {"done", "total", "fps"} | None, "parts": {"done", "total"}
    | None, "input", "output", "error", "error_kind", "ended", "worker"}; InputError for an id
    this queue does not know.

    ``error_kind`` is a failed job's ``BgrmError.kind``, "cancelled", or "internal" for
    anything else (a bug). A split job's progress is that of all its parts together, its
    frames/s all its workers' since it was split.
    """
    store = _store()
    submitted = store.options(job_id)
    result = AsyncResult(job_id, app=app)
    state = result.state
    if submitted is None and state == states.PENDING:
        raise InputError(f"unknown job (never submitted, or its record expired): {job_id}")
    info = result.info
    job = Job.from_json(submitted) if submitted else None
    report = {
        "id": job_id,
        "state": state,
        "progress": None,
        "parts": None,
        "input": job.input if job else None,
        "output": str(job.output_path()) if job else None,
        "error": None,
        "error_kind": None,
        "ended": state in states.READY_STATES,
        "worker": getattr(result, "worker", None),
    }
    plan = store.plan(job_id)
    if plan is not None and state != states.SUCCESS:
        failure = info if state == states.FAILURE else None  # the join's own failure, if any
        _split_progress(report, plan, store.cancel_requested(job_id), failure)
    elif state == PROGRESS and isinstance(info, dict):
        report["progress"] = {key: info.get(key) for key in ("done", "total", "fps")}
    elif state == states.SUCCESS and isinstance(info, dict):
        report["progress"] = {"done": info["frames"], "total": info["frames"], "fps": info["fps"]}
        report["output"] = info["output"]
        if "parts" in info:
            report["parts"] = {"done": info["parts"], "total": info["parts"]}
    elif state == states.REVOKED:
        _cancelled(report)
    elif state in (states.FAILURE, states.RETRY):
        _failed(report, info, ended=state == states.FAILURE)
    return report


def _split_progress(report: dict, plan: dict, cancelled: bool, failure: object) -> None:
    """A split job not finished yet: its parts' progress summed, or how it ended (a part's
    failure first: the join's then only says that a part failed)."""
    job_id = report["id"]
    done = total = finished = 0
    started = False
    for index, text in enumerate(plan["parts"]):
        part = AsyncResult(part_task_id(job_id, index), app=app)
        state, info = part.state, part.info
        expected = json.loads(text).get("expected_frames") or 0
        if state == states.FAILURE and not cancelled:
            _failed(report, info, ended=True)
            report["state"] = states.FAILURE
            return
        if state == states.SUCCESS and isinstance(info, dict):
            done, total, finished = done + info["frames"], total + info["frames"], finished + 1
        elif state == PROGRESS and isinstance(info, dict):
            # (state and info are two reads: a part may have ended in between)
            done += info.get("done", info.get("frames", 0))
            total += info.get("total") or expected
            started = True
        else:
            total += expected
            started = started or state == states.STARTED
    if cancelled:
        report["state"] = states.REVOKED
        _cancelled(report)
        return
    if failure is not None:
        _failed(report, failure, ended=True)
        return
    elapsed = time.time() - plan["started"]
    fps = round(Result.rate(done, elapsed), 2)
    report["state"] = PROGRESS if started or finished else states.PENDING
    report["ended"] = False
    report["progress"] = {"done": done, "total": total or None, "fps": fps}
    report["parts"] = {"done": finished, "total": len(plan["parts"])}


def _cancelled(report: dict) -> None:
    report["error"] = "job cancelled; no output written"
    report["error_kind"] = "cancelled"
    report["ended"] = True


def _failed(report: dict, error: object, *, ended: bool) -> None:
    report["error"] = _message(error)
    report["error_kind"] = error.kind if isinstance(error, BgrmError) else "internal"
    report["ended"] = ended


def _message(error: object) -> str:
    """The error as the CLI prints it: the user's message, or 'internal error: ...' (a Redis
    password in it shown as ***)."""
    config = settings()
    if isinstance(error, BgrmError):
        return redact(str(error), config.broker_url, config.result_backend)
    text = f"internal error: {type(error).__name__}: {error}"
    return redact(text, config.broker_url, config.result_backend)


@_needs_redis
def cancel(job_id: str) -> str:
    """Stop a job: a queued one never runs, a running one stops at its next batch; every part
    of a split job stops, and its parts folder is removed.

    Returns the job's state before the request; finished jobs are left as they are.
    """
    report = status(job_id)
    state = report["state"]
    if state in states.READY_STATES:
        return state
    store = _store()
    store.request_cancel(job_id)
    app.control.revoke(job_id)
    plan = store.plan(job_id)
    if plan is not None:
        app.control.revoke([part_task_id(job_id, i) for i in range(len(plan["parts"]))])
        app.send_task(CLEANUP_TASK, args=[store.options(job_id), job_id])
    elif state == states.PENDING:
        app.backend.mark_as_revoked(job_id, "cancelled")
    return state
