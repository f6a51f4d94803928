"""What `bgrm submit/status/cancel` do, for any program that queues jobs.

These talk to Redis only; they never import torch or the model.
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

from bgrm.errors import BgrmError, EnvironmentProblem, InputError
from bgrm.options import ProcessOptions
from worker.app import PROGRESS, app, settings
from worker.store import JobStore

EXIT_INTERNAL = 70
Call = TypeVar("Call", bound=Callable)


def _needs_redis(call: Call) -> Call:
    """Say which Redis could not be reached instead of a traceback (EnvironmentProblem)."""

    @functools.wraps(call)
    def wrapper(*args, **kwargs):
        try:
            return call(*args, **kwargs)
        except (OperationalError, RedisConnectionError) as error:
            url = maybe_sanitize_url(settings.broker_url)
            raise EnvironmentProblem(f"cannot reach the queue's Redis ({error}): {url}") from error

    return wrapper


def _store() -> JobStore:
    return JobStore(app.backend.client, settings.result_expires)


@_needs_redis
def submit(options: ProcessOptions) -> str:
    """Queue one job; returns its id."""
    job_id = str(uuid.uuid4())
    text = options.to_json()
    _store().submitted(job_id, text)
    app.send_task("bgrm.process", args=[text], task_id=job_id)
    return job_id


@_needs_redis
def status(job_id: str) -> dict:
    """{"id", "state", "progress": {"done", "total", "fps"} | None, "input", "output",
    "error", "exit_code", "worker"}; InputError for an id this queue does not know."""
    submitted = _store().options(job_id)
    result = AsyncResult(job_id, app=app)
    state = result.state
    if submitted is None and state == states.PENDING:
        raise InputError(f"unknown job (never submitted, or its record expired): {job_id}")
    info = result.info
    options = ProcessOptions.from_json(submitted) if submitted else None
    report = {
        "id": job_id,
        "state": state,
        "progress": None,
        "input": options.input if options else None,
        "output": str(options.output_path()) if options else None,
        "error": None,
        "exit_code": None,
        "worker": getattr(result, "worker", None),
    }
    if state == PROGRESS and isinstance(info, dict):
        report["progress"] = {key: info.get(key) for key in ("done", "total", "fps")}
    elif state == states.SUCCESS and isinstance(info, dict):
        report["progress"] = {"done": info["frames"], "total": info["frames"], "fps": info["fps"]}
        report["output"] = info["output"]
        report["exit_code"] = 0
    elif state == states.REVOKED:
        report["error"] = "job cancelled; no output written"
        report["exit_code"] = 1
    elif state in (states.FAILURE, states.RETRY):
        report["error"] = _message(info)
        if state == states.FAILURE:
            report["exit_code"] = getattr(info, "exit_code", EXIT_INTERNAL)
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
