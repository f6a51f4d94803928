"""Per-job records beside Celery's results, in the result-backend Redis.

Keys (all expire with the results): ``bgrm:job:<id>:options`` (the submitted job, so `status`
knows an id that no worker has taken yet), ``:cancel`` (set by `bgrm cancel`, checked by the
running job), ``:done`` (the result, written before the lock is released, so a redelivered copy
of a finished job returns it instead of running again) and ``:lock`` (see :mod:`worker.lock`).
A split job also has ``:plan`` (its parts and when they were planned) and ``:failed`` (set by
the first part that fails, so the others stop); each part has its own ``:done`` and ``:lock``
under its own id.
"""

from __future__ import annotations

import json
import time

from redis import Redis


class JobStore:
    def __init__(self, client: Redis, expires: int):
        self.client = client
        self.expires = expires

    @staticmethod
    def key(job_id: str, what: str) -> str:
        return f"bgrm:job:{job_id}:{what}"

    def submitted(self, job_id: str, options_json: str) -> None:
        self.client.set(self.key(job_id, "options"), options_json, ex=self.expires)

    def options(self, job_id: str) -> str | None:
        raw = self.client.get(self.key(job_id, "options"))
        return raw.decode() if raw is not None else None

    def request_cancel(self, job_id: str) -> None:
        self.client.set(self.key(job_id, "cancel"), b"1", ex=self.expires)

    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.client.exists(self.key(job_id, "cancel")))

    def finished(self, job_id: str, result: dict) -> None:
        self.client.set(self.key(job_id, "done"), json.dumps(result), ex=self.expires)

    def result(self, job_id: str) -> dict | None:
        raw = self.client.get(self.key(job_id, "done"))
        return json.loads(raw) if raw is not None else None

    def planned(self, job_id: str, parts: list[str]) -> None:
        """Record a split job's parts (each a bgrm.parts.Part as JSON) and when they were
        planned."""
        record = {"parts": parts, "started": time.time()}
        self.client.set(self.key(job_id, "plan"), json.dumps(record), ex=self.expires)

    def plan(self, job_id: str) -> dict | None:
        raw = self.client.get(self.key(job_id, "plan"))
        return json.loads(raw) if raw is not None else None

    def fail(self, job_id: str) -> None:
        self.client.set(self.key(job_id, "failed"), b"1", ex=self.expires)

    def stop_requested(self, job_id: str) -> bool:
        """Cancelled, or a part of it failed: its parts stop."""
        return bool(self.client.exists(self.key(job_id, "cancel"), self.key(job_id, "failed")))

    def locked(self, job_id: str) -> bool:
        return bool(self.client.exists(self.key(job_id, "lock")))
