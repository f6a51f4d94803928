"""The Celery app: JSON only, late acks, one job at a time per worker, Redis visibility timeout.

`celery -A worker.app inspect ping` talks to the workers of this app.
"""

from __future__ import annotations

from celery import Celery

from worker import config

settings = config.from_env()

PROGRESS = "PROGRESS"  # custom state: meta {"done": frames, "total": frames | None, "fps": ...}

app = Celery(
    "bgrm", broker=settings.broker_url, backend=settings.result_backend, include=["worker.tasks"]
)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    task_default_queue=settings.queue,
    # A job is acknowledged when it ends, so a worker that dies mid-job leaves it in Redis,
    # which hands it to another worker after the visibility timeout.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    broker_transport_options={
        "visibility_timeout": settings.visibility_timeout,
        # Sweep for expired unacknowledged jobs often enough to honour the timeout.
        "unacked_restore_interval": max(1, min(10, settings.visibility_timeout // 5)),
        "unacked_restore_throttle": 1,
    },
    # One job per worker process, one worker process per device; the model lives in it.
    worker_prefetch_multiplier=1,
    worker_pool="solo",
    worker_concurrency=1,
    result_extended=True,
    result_expires=settings.result_expires,
    worker_send_task_events=True,  # for Flower and `celery events`
    task_send_sent_event=True,
    broker_connection_retry_on_startup=True,
)
