"""A per-job Redis lock kept alive by a heartbeat thread while the job runs.

Redis hands an unacknowledged job to another worker once the visibility timeout passes, even
when the first worker is alive and still busy with it. The lock makes that copy see the job is
taken. Its TTL is short and renewed every TTL/3 by the heartbeat, so the lock of a killed worker
disappears within one TTL and the job can run again.
"""

from __future__ import annotations

import contextlib
import threading
from types import TracebackType

from redis import Redis
from redis.exceptions import LockError, RedisError


class JobLock:
    """``with JobLock(...) as held:``; ``held`` is False when another worker holds the job."""

    def __init__(self, client: Redis, name: str, ttl: int):
        self.lock = client.lock(name, timeout=ttl, blocking=False, thread_local=False)
        self.interval = ttl / 3
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="bgrm-heartbeat", daemon=True)

    def __enter__(self) -> bool:
        if not self.lock.acquire():
            return False
        self.thread.start()
        return True

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if not self.thread.is_alive():
            return
        self.stopped.set()
        self.thread.join()
        with contextlib.suppress(LockError):  # expired: the heartbeat could not reach Redis
            self.lock.release()

    def _beat(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.lock.reacquire()
            except LockError:
                return  # lost: another worker may take the job; the output rename stays atomic
            except RedisError:
                continue  # Redis unreachable for now; try again at the next beat
