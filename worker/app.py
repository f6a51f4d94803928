"""The Celery app: JSON only, late acks, one job at a time per worker, Redis visibility timeout.

`celery -A bgrm_worker.app inspect ping` talks to the workers of this app. Its configuration
comes from the BGRM_* settings, read when it is first needed, not when this module is imported.
"""

from __future__ import annotations

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

from .config import Settings, settings

# redis:// and rediss:// brokers use the transport that survives entries that are no message.
TRANSPORT_ALIASES.update(dict.fromkeys(("redis", "rediss"), "bgrm_worker.transport:Transport"))

PROCESS_TASK = "bgrm.process"
"""A whole job: a bgrm.Job as JSON in, a summary of its Result out."""

SPLIT_TASK = "bgrm.split"
"""A job to split: plans its parts, then becomes a chord of PART_TASKs and a JOIN_TASK."""

PART_TASK = "bgrm.part"
"""One part of a split job, into the job's hidden parts folder."""

JOIN_TASK = "bgrm.join"
"""The chord's callback: joins the parts into the job's outputs (its id is the job's)."""

CLEANUP_TASK = "bgrm.cleanup"
"""After a split job was cancelled or a part failed: waits for its parts, removes their files."""


def part_task_id(job_id: str, index: int) -> str:
    return f"{job_id}.part-{index}"


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
