"""The bgrm job queue: a Celery app on Redis whose workers run bgrm.pipeline, one per GPU.

`bgrm` never imports this package; the `bgrm submit/status/cancel/worker` commands import it
inside the command functions.
"""
