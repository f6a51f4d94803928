"""A look before a long run: a few moments of the result on one picture, in seconds.

    sheet = preview("talk.mp4", "sheet.png", at=[5, 750, 3480], background="beach.jpg")

One row per moment: the original frame, the matte and the result, each at the frame's
display aspect, the time written above (and "kept as recorded" where the moment falls in a
shot without a person, which ``process`` passes through). For each moment the model warms its
recurrent state up on the couple of seconds before it (the file is entered at the keyframe
before them, never decoded from the start), so three moments of an hour take as long as a few
seconds of video.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image, ImageDraw
from typing_extensions import Unpack  # typing's own from Python 3.11

from bgrm import storage
from bgrm.backgrounds import open_background, parse_background
from bgrm.batches import decode_batches
from bgrm.errors import OutputError, UsageError
from bgrm.finish import as_recorded, finish
from bgrm.job import Part
from bgrm.matting.build import job_and_model
from bgrm.matting.session import matte_batches, open_session
from bgrm.media.decode import DecodeReport
from bgrm.media.info import VideoInfo
from bgrm.media.probe import probe
from bgrm.options import JobOptions
from bgrm.outputs import check_file_target
from bgrm.places import Place
from bgrm.shots import judged, lookahead_frames

WARMUP_SECONDS = 2.0
"""The model runs over this much video before each moment (its temporal memory)."""

PANEL_HEIGHT = 270
"""Height of each panel in pixels (smaller frames are shown at their own height)."""

LABEL_HEIGHT = 22
DEFAULT_AT = (0.1, 0.5, 0.9)
"""Moments shown when none are asked for: these shares of the duration."""


def preview(
    input: str | os.PathLike,
    output: str | os.PathLike | None = None,
    *,
    at: list[float] | None = None,
    **options: Unpack[JobOptions],
) -> Image.Image:
    """The preview sheet of ``input`` at the times ``at`` (seconds; None: 10%, 50% and 90% of
    the duration), written to ``output`` (a .png) if given. Options are those of ``process``
    but ``matte``, ``codec`` and ``crf`` (the sheet shows the matte and the result; a few
    frames are never compiled); with ``alpha`` the result is shown over a checkerboard.

    Raises:
        InputError, UsageError, OutputError, EnvironmentProblem: as ``process``; UsageError
            for a time outside the video, or for ``matte``, ``codec`` or ``crf``.
    """
    if any(options.get(name) is not None for name in ("matte", "codec", "crf")):
        raise UsageError("a preview shows the matte and the result: no `matte`, `codec` or `crf`")
    job, loaded = job_and_model(input=input, **options)
    target = Place.of(output) if output is not None else None
    if target is not None:
        _check_target(target, job.input, job.overwrite)
    info = probe(job.input)
    times = _times(info, at)
    session, _ = open_session(job, info, loaded, lambda message: None)
    background_room = None
    if job.alpha is None:
        spec = parse_background(job.background_spec)
        background_room = open_background(
            spec, info.height, info.width, session.model.device, pixel_aspect=info.sample_aspect
        )
    rows = []
    try:
        with torch.inference_mode():
            for seconds in times:
                session.reset()
                rows.append((seconds, *_moment(job, info, session, background_room, seconds)))
    finally:
        if background_room is not None:
            background_room.close()
    sheet = _sheet(rows, info)
    if target is not None:
        try:
            with storage.write(target, overwrite=True) as temp:
                sheet.save(temp, format="PNG")
        except OSError as error:
            reason = error.strerror or error
            raise OutputError(f"cannot write the preview ({reason}): {target}") from error
    return sheet


def _check_target(target: Place, source: str, overwrite: bool) -> None:
    """A .png that is not the input, refused where it exists (without ``overwrite``) or its
    folder is missing or read-only."""
    if target.suffix.lower() != ".png":
        raise UsageError(f"a preview is a .png picture: {target}")
    if target.same(source):
        raise UsageError(f"the preview would overwrite the input: {target}")
    check_file_target(target, overwrite)


def _times(info: VideoInfo, at: list[float] | None) -> list[float]:
    """The moments, in seconds from the first frame, rising; checked against the duration."""
    duration = info.duration_s or 0.0
    if at is None:
        if not duration:
            return [0.0]
        return [share * duration for share in DEFAULT_AT]
    for seconds in at:
        if seconds < 0 or (duration and seconds >= duration):
            raise UsageError(
                f"preview time {seconds:g} s is outside the video ({duration:.1f} s): {info.path}"
            )
    return sorted(at)


def _moment(job, info, session, background, seconds: float) -> tuple[tuple[np.ndarray, ...], bool]:
    """(original, matte, result) uint8 arrays of the first frame shown at or after
    ``seconds``, the model warmed up on the WARMUP_SECONDS before it; and whether its shot is
    passed through (judged as ``process`` judges it, from the shot's start when that falls in
    the warm-up)."""
    start = (info.start_pts or 0) + round(seconds / info.time_base)
    warmup = max(info.start_pts or 0, start - round(WARMUP_SECONDS / info.time_base))
    moment = Part(index=0, count=1, start_pts=start, end_pts=None, warmup_pts=warmup)
    needs = {"matte", "rgba" if job.alpha else "rgb"}
    model_input = session.model_input(info.height, info.width)
    decoded = decode_batches(info, job.batch or 8, DecodeReport(), moment, model_input)
    batches = matte_batches(session, decoded)
    shots = judged(batches, job.screens, lookahead_frames(info.average_rate))
    try:
        for matted, passed in shots:
            if matted.batch.warmup:
                continue
            shown = float((matted.batch.pts[0] - (info.start_pts or 0)) * info.time_base)
            if passed:
                host = as_recorded(matted.batch, needs)
            else:
                host = finish(matted, needs, background, [shown], job.light_wrap)
            result = host.rgb if host.rgb is not None else _over_checkerboard(host.rgba)
            return (matted.batch.rgb[0], host.matte[0], result[0]), passed
    finally:
        shots.close()
        batches.close()
    raise UsageError(f"no frame at or after {seconds:g} s: {info.path}")


def _over_checkerboard(rgba: np.ndarray) -> np.ndarray:
    """[N, H, W, 4] straight alpha -> [N, H, W, 3] over a gray checkerboard."""
    height, width = rgba.shape[1:3]
    y, x = np.mgrid[0:height, 0:width]
    board = np.where(((y // 16 + x // 16) % 2)[..., None] == 0, 200, 140).astype(np.float32)
    alpha = rgba[..., 3:].astype(np.float32) / 255
    return (rgba[..., :3] * alpha + board * (1 - alpha)).round().astype(np.uint8)


def _sheet(rows: list[tuple[float, tuple[np.ndarray, ...], bool]], info: VideoInfo) -> Image.Image:
    """One row per moment: original, matte, result, at the display aspect, time above (and
    whether the moment's shot, without a person, is kept as recorded)."""
    height = min(PANEL_HEIGHT, info.height)
    width = round(height * info.width * float(info.sample_aspect) / info.height)
    sheet = Image.new("RGB", (3 * width, len(rows) * (LABEL_HEIGHT + height)), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for number, (seconds, panels, passed) in enumerate(rows):
        top = number * (LABEL_HEIGHT + height)
        label = f"{format_time(seconds)}   original | matte | result"
        if passed:
            label += "   (no person in this shot: kept as recorded)"
        draw.text((6, top + 5), label, fill=(255, 210, 80) if passed else "white")
        for column, panel in enumerate(panels):
            picture = Image.fromarray(panel).convert("RGB").resize((width, height), Image.LANCZOS)
            sheet.paste(picture, (column * width, top + LABEL_HEIGHT))
    return sheet


def format_time(seconds: float) -> str:
    """12.5 -> '0:12.50'; 3725 -> '1:02:05.00'."""
    hours, rest = divmod(seconds, 3600)
    minutes, rest = divmod(rest, 60)
    if hours:
        return f"{int(hours)}:{int(minutes):02d}:{rest:05.2f}"
    return f"{int(minutes)}:{rest:05.2f}"
