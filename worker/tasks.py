"""The Celery task: a thin shell around :func:`worker.job.run`, with retries of transient errors.

Bad input (InputError, UsageError, OutputError) fails at once with the CLI's message; a weights
fetch that failed (EnvironmentProblem) or an OSError is retried with exponential backoff.
"""

from __future__ import annotations

from bgrm.errors import EnvironmentProblem, InputError, OutputError, UsageError
from worker import job
from worker.app import app, settings


@app.task(
    bind=True,
    name="bgrm.process",
    autoretry_for=(EnvironmentProblem, OSError),
    max_retries=settings.max_retries,
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    throws=(InputError, UsageError, OutputError, job.JobTimeLimit),
)
def process(self, options_json: str) -> dict:
    """ProcessOptions as JSON -> {"output", "frames", "seconds", "fps", "notices"}."""
    return job.run(self, options_json)
