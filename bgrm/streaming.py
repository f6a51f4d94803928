"""Every frame of a video with its matte, streaming: ``mattes``, the library's iterator.

    for frame in mattes("talk.mp4"):   # MatteFrame: pts, time, image, alpha, foreground
        ...

The same loop as ``process`` (bgrm/matting/session.py's matte_batches), without outputs: the
alpha is exactly the matte ``process`` writes with the same settings and ``screens="replace"``
(the model's own matte everywhere, started afresh at every cut; with "keep" ``process`` writes
255 over a shot without a person).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from typing_extensions import Unpack  # typing's own from Python 3.11

from bgrm.batches import decode_batches
from bgrm.composite import matte_to_uint8, to_uint8_hwc
from bgrm.matting.build import job_and_model
from bgrm.matting.session import MattingSession, matte_batches, open_session
from bgrm.media.decode import DecodeReport
from bgrm.media.info import VideoInfo
from bgrm.media.probe import probe
from bgrm.options import ModelOptions
from bgrm.results import MatteFrame, NoticeCallback
from bgrm.stages import Prefetcher


def mattes(
    input: str | os.PathLike,
    *,
    on_notice: NoticeCallback | None = None,
    **options: Unpack[ModelOptions],
) -> Iterator[MatteFrame]:
    """Every frame of ``input`` with its alpha and foreground, one at a time, in order.

    Streaming: memory stays flat however long the video is (a couple of batches are decoded
    ahead in a thread). The input is checked at once; stop iterating at any time. Options
    (``downsample``, ``batch``, ``device``, ``precision``, ``model``) are those of
    ``process``; ``on_notice`` hears of damage met while decoding.

    Raises:
        InputError, UsageError, EnvironmentProblem: as ``process``.
    """
    job, loaded = job_and_model(input=input, **options)
    notice = on_notice or (lambda message: None)
    info = probe(job.input)
    session, size = open_session(job, info, loaded, notice)
    return _matte_frames(info, session, size, notice)


def _matte_frames(
    info: VideoInfo, session: MattingSession, size: int, notice: NoticeCallback
) -> Iterator[MatteFrame]:
    """The generator behind ``mattes``: decoding starts at the first ``next``."""
    report = DecodeReport()
    model_input = session.model_input(info.height, info.width)
    batches = decode_batches(info, size, report, model=model_input)
    decoded = Prefetcher(batches, depth=2, name="decode")
    try:
        for matted in matte_batches(session, decoded):
            alpha = matte_to_uint8(matted.pha).cpu().numpy()
            foreground = to_uint8_hwc(matted.fgr).cpu().numpy()
            for index, pts in enumerate(matted.batch.pts):
                yield MatteFrame(
                    pts=pts,
                    time=float(pts * info.time_base),
                    image=matted.batch.rgb[index],
                    alpha=alpha[index],
                    foreground=foreground[index],
                )
    finally:
        decoded.stop()
    for message in report.warnings(info):
        notice(message)
