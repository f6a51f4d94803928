"""What `bgrm submit/status/cancel` do, for any program that queues jobs.

These talk to Redis only; they never load the model.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import TypeVar

from celery import states
from celery.result import AsyncResult
from kombu.exceptions import OperationalError
from kombu.utils.url import maybe_sanitize_url
from redis.exceptions import ConnectionError as RedisConnectionError

from bgrm import BgrmError, EnvironmentProblem, InputError, Job

from .app import PROGRESS, TASK_NAME, app
from .config import settings
from .store import JobStore

Call = TypeVar("Call", bound=Callable)


def _needs_redis(call: Call) -> Call:
    """Say which Redis could not be reached instead of a traceback (EnvironmentProblem)."""

    @functools.wraps(call)
    def wrapper(*args, **kwargs):
        try:
            return call(*args, **kwargs)
        except (OperationalError, RedisConnectionError) as error:
            url = maybe_sanitize_url(settings().broker_url)
            raise EnvironmentProblem(f"cannot reach the queue's Redis ({error}): {url}") from error

    return wrapper


def _store() -> JobStore:
    return JobStore(app.backend.client, settings().result_expires)


@_needs_redis
def submit(job: Job) -> str:
    """Queue one job; returns its id."""
    job_id = str(uuid.uuid4())
    text = job.to_json()
    _store().submitted(job_id, text)
    app.send_task(TASK_NAME, args=[text], task_id=job_id)
    return job_id


@_needs_redis
def status(job_id: str) -> dict:
    """{"id", "state", "progress": {"done", "total", "fps"} | None, "input", "output", "error",
    "error_kind", "ended", "worker"}; InputError for an id this queue does not know.

    ``error_kind`` is a failed job's ``BgrmError.kind``, "cancelled", or "internal" for
    anything else (a bug).
    """
    submitted = _store().options(job_id)
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
        "input": job.input if job else None,
        "output": str(job.output_path()) if job else None,
        "error": None,
        "error_kind": None,
        "ended": state in states.READY_STATES,
        "worker": getattr(result, "worker", None),
    }
    if state == PROGRESS and isinstance(info, dict):
        report["progress"] = {key: info.get(key) for key in ("done", "total", "fps")}
    elif state == states.SUCCESS and isinstance(info, dict):
        report["progress"] = {"done": info["frames"], "total": info["frames"], "fps": info["fps"]}
        report["output"] = info["output"]
    elif state == states.REVOKED:
        report["error"] = "job cancelled; no output written"
        report["error_kind"] = "cancelled"
    elif state in (states.FAILURE, states.RETRY):
        report["error"] = _message(info)
        report["error_kind"] = info.kind if isinstance(info, BgrmError) else "internal"
    return report


def _message(error: object) -> str:
    """The error as the CLI prints it: the user's message, or 'internal error: ...'."""
    if isinstance(error, BgrmError):
        return str(error)
    return f"internal error: {type(error).__name__}: {error}"


@_needs_redis
def cancel(job_id: str) -> str:
    """Stop a job: a queued one never runs, a running one stops at its next batch.

    Returns the job's state before the request; finished jobs are left as they are.
    """
    state = status(job_id)["state"]
    if state in states.READY_STATES:
        return state
    _store().request_cancel(job_id)
    app.control.revoke(job_id)
    if state == states.PENDING:
        app.backend.mark_as_revoked(job_id, "cancelled")
    return state
