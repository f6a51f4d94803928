"""The bgrm job queue: a Celery app on Redis whose workers run ``bgrm.run``, one per GPU.

Installed as ``bgrm_worker`` (a name that cannot clash with another package); it uses only
bgrm's public API. The library never imports it; the CLI's queue commands do, inside each
command. Settings are read from the environment when a worker or client first needs them.
"""

from bgrm.threads import choose_waiting

choose_waiting()  # before a worker loads torch: on a busy machine idle OpenMP threads sleep
