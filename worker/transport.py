"""The workers' Redis transport: kombu's, except that an entry of the queue that is no task
message is dropped with a log line instead of stopping the worker.

Anyone who reaches Redis can push anything onto a queue's list; kombu's own transport parses
each entry as JSON while it waits for work, and an entry that is not JSON (or not a message)
ended the worker with "Unrecoverable error". Messages that are well formed but carry content
the workers refuse (a pickle) or name no task are Celery's to refuse, and it does.
"""

from __future__ import annotations

import logging

from kombu.transport import redis

log = logging.getLogger("bgrm.worker")


class Channel(redis.Channel):
    def _brpop_read(self, **options):
        try:
            return super()._brpop_read(**options)
        except self.connection_errors:
            raise
        except (ValueError, TypeError, LookupError, AttributeError) as error:
            log.error("dropped an entry of the queue that is not a task message: %s", error)
            return False


class Transport(redis.Transport):
    Channel = Channel
