"""Shots without a person: each shot judged on its first second, its frames held until then.

    for matted, passed in judged(matte_batches(session, batches), "keep", lookahead):
        ...                                  # passed: write the frames as recorded
    log = ShotLog(); log.add(matted, passed); log.shots(origin, time_base, frame_s)

A shot (cut to cut, bgrm/cuts.py) has a person when the model's matte covers on average at
least PERSON of the frame over its first ``lookahead`` frames (about a second); a shot that
ends sooner is judged on the frames it has. The shot is judged as soon as that is certain: a
camera shot at its first frame (a speaker covers far more), a slide after ``lookahead`` frames,
which wait meanwhile (parked: their uint8 frames and the model's small coefficients, a
bounded number). The verdict holds for the whole shot: someone who walks out of a shot leaves
a room whose background is still replaced, and someone who walks into a shot that opened
empty for longer than the look-ahead stays as recorded until the next cut.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from fractions import Fraction

from bgrm.job import Screens
from bgrm.matting.session import Matted
from bgrm.results import Shot

PERSON = 0.01
"""The mean share of the frame the matte covers from which a shot has a person."""

LOOKAHEAD_S = 1.0
"""How much of a new shot is seen before it is judged."""

MAX_LOOKAHEAD = 60
"""At most this many frames are held (a high frame rate judges on less than LOOKAHEAD_S)."""


def lookahead_frames(rate: Fraction | None) -> int:
    """The frames of LOOKAHEAD_S at ``rate`` frames/s (30 when unknown), at most MAX_LOOKAHEAD."""
    frames = round(float(rate) * LOOKAHEAD_S) if rate else 30
    return max(1, min(MAX_LOOKAHEAD, frames))


def judged(
    source: Iterable[Matted], screens: Screens, lookahead: int
) -> Iterator[tuple[Matted, bool]]:
    """Each batch of ``source`` in order with whether its shot is passed through (no person
    in it, and ``screens`` is "keep"). The verdict depends on the frames only, never on how
    they were batched; with "replace" nothing is held."""
    held: list[Matted] = []
    verdict: bool | None = None  # the shot is passed through; None: not judged yet
    covered, seen = 0.0, 0
    for matted in source:
        if matted.new_shot:
            yield from _release(held, covered < PERSON * seen)
            held, verdict, covered, seen = [], None, 0.0, 0
        if screens == "replace":
            verdict = False
        for coverage in matted.coverage if verdict is None else ():
            covered, seen = covered + coverage, seen + 1
            if covered >= PERSON * lookahead:
                verdict = False
            elif seen >= lookahead:
                verdict = True
            if verdict is not None:
                break
        if verdict is None:
            held.append(matted.park())
            continue
        yield from _release(held, verdict)
        held = []
        yield matted, verdict
    yield from _release(held, covered < PERSON * seen)


def _release(held: list[Matted], passed: bool) -> Iterator[tuple[Matted, bool]]:
    for matted in held:
        yield matted, passed


class ShotLog:
    """The shots of the frames written, as they are written (a part's warm-up is not)."""

    def __init__(self) -> None:
        self._shots: list[list] = []  # [first pts, last pts, frames, passed through]

    def add(self, matted: Matted, passed: bool) -> None:
        pts = matted.batch.pts
        if matted.new_shot or not self._shots:
            self._shots.append([pts[0], pts[-1], len(pts), passed])
        else:
            self._shots[-1][1] = pts[-1]
            self._shots[-1][2] += len(pts)

    def shots(self, origin: int | None, time_base: Fraction, frame_s: float) -> list[Shot]:
        """The shots, in seconds from ``origin`` (a pts; None: the first frame written); the
        last ends ``frame_s`` after its last frame."""
        if not self._shots:
            return []
        origin = self._shots[0][0] if origin is None else origin
        seconds = [float((first - origin) * time_base) for first, *_ in self._shots]
        ends = [*seconds[1:], float((self._shots[-1][1] - origin) * time_base) + frame_s]
        return [
            Shot(start, end, frames, passed)
            for start, end, (_, _, frames, passed) in zip(seconds, ends, self._shots, strict=False)
        ]


def shots_notice(shots: list[Shot], screens: Screens) -> str | None:
    """What the end of a run says of its shots (None for one shot with a person)."""
    passed = sum(shot.passed_through for shot in shots)
    if len(shots) < 2 and (not passed or screens == "replace"):
        return None
    if len(shots) < 2:
        return "no person found: kept as recorded (`screens` replace to replace the background)"
    found = f"{len(shots)} shots (the model started afresh at each cut)"
    if screens == "replace":
        return f"{found}; every shot's background replaced (`screens` replace)"
    if not passed:
        return f"{found}; a person in every one"
    return (
        f"{found}; {passed} without a person kept as recorded (`screens` replace to replace "
        f"their background too)"
    )
