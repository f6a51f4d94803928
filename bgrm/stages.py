"""Bounded hand-offs between pipeline stages running in threads.

Decoding, the model and encoding overlap: each stage runs in its own thread and passes items
through a queue of a few batches, so memory stays flat however long the video is. An exception
in a stage thread is raised again in the thread that reads from or writes to it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

Item = TypeVar("Item")
_DONE = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


class Prefetcher(Generic[Item]):
    """Iterates ``source`` in a daemon thread, at most ``depth`` items ahead of the reader."""

    def __init__(self, source: Iterable[Item], depth: int = 2, name: str = "prefetch"):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fill, args=(source,), name=name, daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _fill(self, source: Iterable[Item]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as error:  # handed to the reader, which raises it
            self._put(_Failure(error))

    def __iter__(self) -> Iterator[Item]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    def stop(self) -> None:
        """Ask the thread to stop early and wait for it (its source is left unfinished)."""
        self._stop.set()
        self._thread.join()


class Consumer(Generic[Item]):
    """Calls ``handle(item)`` in a daemon thread for each item ``put``, in order."""

    def __init__(self, handle: Callable[[Item], None], depth: int = 2, name: str = "consume"):
        self._handle = handle
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._cancelled = False
        self._thread = threading.Thread(target=self._drain, name=name, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if self._error is None and not self._cancelled:
                try:
                    self._handle(item)
                except BaseException as error:  # raised again in the producing thread
                    self._error = error

    def put(self, item: Item) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def finish(self) -> None:
        """Wait until every item is handled; raise the first error a handler raised."""
        self._queue.put(_DONE)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def cancel(self) -> None:
        """Skip the items still queued and wait for the thread to end."""
        self._cancelled = True
        self._queue.put(_DONE)
        self._thread.join()
