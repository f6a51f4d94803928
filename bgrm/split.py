"""One recording in parts: where to cut it, and how to join the parts into the job's outputs.

    parts = plan_parts(job, count=8)                  # or seconds=120
    for part in parts:                                # anywhere: one worker each
        run_part(job, part, folder, model=model)
    result = join_parts(job, parts, folder)           # stream copy; audio muxed once

Parts are cut by time (every frame belongs to exactly one part, whatever the header says), and
each runs the model over a pre-roll of the frames before its own so that the recurrent state
has settled at its first frame (measured with bench/seam.py; see PREROLL_SECONDS).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path

from bgrm.errors import InputError, UsageError
from bgrm.job import Job, Part
from bgrm.media.decode import DecodeReport
from bgrm.media.probe import probe
from bgrm.outputs import check_targets, part_summary
from bgrm.outputs import join_parts as _join
from bgrm.pipeline import Result

PREROLL_SECONDS = 5.0
"""Warm-up before each part's first frame. Measured on the sample (bench/seam.py, 176x144 at
downsample 1.0 and 0.5, four cut points): against one single pass, the part's first second
differs by 0.52-0.94/255 on average cold and 0.13-0.19/255 after 150 frames (5 s), its worst
frame by 0.35/255 (2.5/255 cold). Convergence is slow and not monotonic; 5 s costs 4% of a
two-minute part."""

MIN_PART_SECONDS = 1.0
"""Parts are never planned shorter than this (and never more than one per second)."""


def plan_parts(
    job: Job,
    *,
    count: int | None = None,
    seconds: float | None = None,
    preroll: float = PREROLL_SECONDS,
) -> list[Part]:
    """Cut ``job``'s input into ``count`` parts of equal length, or parts of ``seconds`` each.

    Checks the job as ``process`` would (the input, the outputs) first.

    Raises:
        InputError: the input is unreadable, or its duration unknown.
        UsageError: neither or both of count and seconds, or not a positive number.
        OutputError: an output exists (without ``overwrite``) or cannot be written.
    """
    if (count is None) == (seconds is None):
        raise UsageError("give the number of parts or their length in seconds, not both")
    if (count is not None and count < 1) or (seconds is not None and not seconds > 0):
        raise UsageError(f"parts must be at least 1, or seconds > 0: got {count or seconds!r}")
    info = probe(Path(job.input))
    check_targets(job)
    if not info.duration_s or info.start_pts is None:
        raise InputError(f"cannot split: the video's duration is not known: {job.input}")
    duration = info.duration_s
    if seconds is not None:
        count = math.ceil(duration / max(seconds, MIN_PART_SECONDS) - 1e-9)
    count = max(1, min(count, math.floor(duration / MIN_PART_SECONDS)))
    ticks = duration / float(info.time_base)
    starts = [info.start_pts + round(ticks * index / count) for index in range(count)]
    preroll_ticks = round(preroll / float(info.time_base))
    ends = [*starts[1:], info.start_pts + round(ticks)]
    parts = []
    for index, (start, end) in enumerate(zip(starts, ends, strict=True)):
        first, last = index == 0, index == count - 1
        warmup = None if first or preroll_ticks <= 0 else max(info.start_pts, start - preroll_ticks)
        expected = None
        if info.average_rate:
            expected = round((end - start) * info.time_base * info.average_rate)
        parts.append(
            Part(
                index=index,
                count=count,
                start_pts=None if first else start,
                end_pts=None if last else end,
                warmup_pts=warmup,
                expected_frames=expected,
            )
        )
    return parts


def join_parts(
    job: Job,
    parts: list[Part],
    folder: str | os.PathLike,
    *,
    on_notice: Callable[[str], None] | None = None,
) -> Result:
    """Join the parts that ``run_part`` wrote into ``folder`` into the job's outputs: video
    packets copied in order (no re-encoding), the input's audio and subtitles muxed once, every
    output renamed into place together; then the folder is removed.

    Raises:
        OutputError: a part is not finished, or an output cannot be written.
    """
    folder = Path(folder)
    notices: list[str] = []

    def notice(message: str) -> None:
        if message not in notices:
            notices.append(message)
            if on_notice is not None:
                on_notice(message)

    started = time.perf_counter()
    info = probe(Path(job.input))
    summaries = [part_summary(folder, part) or {} for part in parts]
    for summary in summaries:
        for message in summary.get("notices", []):
            notice(message)
    _join(job, info, folder, parts, notice)
    frames = sum(summary.get("frames", 0) for summary in summaries)
    for message in DecodeReport(frames=frames).warnings(info):  # frames missing in the whole
        notice(message)
    seconds = sum(summary.get("seconds", 0.0) for summary in summaries)
    seconds += time.perf_counter() - started
    return Result(
        output=job.output_path(),
        frames=frames,
        seconds=seconds,
        fps=frames / seconds if seconds > 0 else 0.0,
        notices=notices,
        matte=Path(job.matte) if job.matte else None,
    )
