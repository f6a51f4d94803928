"""The bgrm job queue: a Celery app on Redis whose workers run ``bgrm.run``, one per GPU.

Installed as ``bgrm_worker`` (a name that cannot clash with another package); it uses only
bgrm's public API. The library never imports it; the CLI's queue commands do, inside each
command. Settings are read from the environment when a worker or client first needs them.
Importing it samples nothing: `bgrm worker` chooses how OpenMP's idle threads wait as the worker
starts, so `bgrm submit`, `status` and `cancel` start at once.
"""
