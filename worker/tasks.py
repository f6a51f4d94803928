"""The Celery task: a thin shell around :func:`execute.run`, with retries of transient errors.

Bad input (InputError, UsageError, OutputError) fails at once with the CLI's message; a weights
fetch that failed (EnvironmentProblem) or an OSError is retried with exponential backoff, up to
BGRM_MAX_RETRIES times.
"""

from __future__ import annotations

from celery.utils.time import get_exponential_backoff_interval

from bgrm import EnvironmentProblem, InputError, OutputError, UsageError

from . import execute
from .app import TASK_NAME, app
from .config import settings

BACKOFF_S, BACKOFF_MAX_S = 5, 300


@app.task(
    bind=True,
    name=TASK_NAME,
    throws=(InputError, UsageError, OutputError, execute.JobTimeLimit),
)
def process(self, job_json: str) -> dict:
    """bgrm.Job as JSON -> {"output", "frames", "seconds", "fps", "notices"}."""
    try:
        return execute.run(self, job_json)
    except (EnvironmentProblem, OSError) as error:
        countdown = get_exponential_backoff_interval(
            BACKOFF_S, self.request.retries, BACKOFF_MAX_S, full_jitter=True
        )
        retries = settings().max_retries
        raise self.retry(exc=error, countdown=countdown, max_retries=retries) from error
