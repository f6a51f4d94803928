"""A progress bar on stderr for a job's frames."""

from __future__ import annotations

import sys

from tqdm import tqdm


class ProgressBar:
    """tqdm on stderr (frames, frames/s, ETA), opened at the first frame so errors come first."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int | None) -> None:
        if self.bar is None:
            self.bar = tqdm(
                total=total, unit="frame", disable=self.quiet, file=sys.stderr, dynamic_ncols=True
            )
        if total is not None and total != self.bar.total:
            self.bar.total = total
            self.bar.refresh()
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
