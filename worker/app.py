"""The Celery app: JSON only, late acks, one job at a time per worker, Redis visibility timeout.

`celery -A bgrm_worker.app inspect ping` talks to the workers of this app. Its configuration
comes from the BGRM_* settings, read when it is first needed, not when this module is imported.
"""

from __future__ import annotations

from celery import Celery

from .config import Settings, settings

TASK_NAME = "bgrm.process"
"""The one task: a bgrm.Job as JSON in, a summary of its Result out."""

PROGRESS = "PROGRESS"  # custom state: meta {"done": frames, "total": frames | None, "fps": ...}


def celery_config(settings: Settings) -> dict:
    return {
        "broker_url": settings.broker_url,
        "result_backend": settings.result_backend,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_default_queue": settings.queue,
        # A job is acknowledged when it ends, so a worker that dies mid-job leaves it in
        # Redis, which hands it to another worker after the visibility timeout.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "broker_transport_options": {
            "visibility_timeout": settings.visibility_timeout,
            # Sweep for expired unacknowledged jobs often enough to honour the timeout.
            "unacked_restore_interval": max(1, min(10, settings.visibility_timeout // 5)),
            "unacked_restore_throttle": 1,
        },
        # One job per worker process, one worker process per device; the model lives in it.
        "worker_prefetch_multiplier": 1,
        "worker_pool": "solo",
        "worker_concurrency": 1,
        "result_extended": True,
        "result_expires": settings.result_expires,
        "worker_send_task_events": True,  # for Flower and `celery events`
        "task_send_sent_event": True,
        "broker_connection_retry_on_startup": True,
    }


app = Celery("bgrm", include=["bgrm_worker.tasks"])
app.add_defaults(lambda: celery_config(settings()))
