"""A loaded model run over the batches of one video in order, its recurrent state carried.

    session, batch = open_session(job, info, model, notice)   # or MattingSession(model, 0.25)
    for matted in matte_batches(session, batches):   # Matted: src, a, b; fgr and pha lazily
        ...

The model stops at the refiner's low-resolution coefficients; ``Matted.fgr``/``pha`` (eager)
or the fused kernels of bgrm/finish make the full-resolution mattes from them.

Cuts are found on the way (bgrm/cuts.py, on small frames made on the device): the state is
forgotten at every cut, exactly at the frame that starts the new shot (a batch is run in two
calls where a cut falls inside it), so a shot's frames are those of a fresh start whatever the
batch size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from bgrm.batches import Batch
from bgrm.composite import from_uint8_hwc
from bgrm.cuts import CutDetector, detector_frames
from bgrm.errors import UsageError
from bgrm.job import Job
from bgrm.matting.build import NETWORKS, Model, load_model
from bgrm.matting.plane_input import PlaneInput
from bgrm.matting.refiner import DeepGuidedFilterRefiner
from bgrm.media.formats import Colour
from bgrm.media.info import VideoInfo
from bgrm.media.planes import ModelInput
from bgrm.resources import (
    default_batch,
    faster_model_notice,
    free_memory,
    large_frame_notice,
    plan_batch,
    resolve_device,
)
from bgrm.threads import fit_threads


class MattingSession:
    """Runs the model over consecutive batches of one video, carrying the recurrent state.

    The state is the temporal smoothing (RVM's GRU states, the selfie model's last mask and
    brightness): because it flows from batch to batch, the batch size changes speed, never the
    result. Inputs and outputs are float32 whatever the precision or the model.
    """

    def __init__(self, model: Model, downsample_ratio: float):
        self.model = model
        self.downsample_ratio = downsample_ratio
        self.cuts = CutDetector()
        self._state: tuple[Tensor, ...] = ()  # the start of a video, for every network

    def reset(self) -> None:
        """Forget the recurrent state and the frames seen (start of a new video)."""
        self.cut()
        self.cuts.reset()

    def cut(self) -> None:
        """Forget the recurrent state (start of a new shot): the next frame is a fresh start."""
        self._state = ()

    @property
    def state(self) -> dict[str, Tensor]:
        """Everything the next frame's matte depends on, after the last frame run, as named
        tensors (safetensors holds them): the model's recurrent state ("model.N") and the cut
        detector's ("cuts.*"). Empty at the start of a video."""
        model = {f"model.{number}": tensor for number, tensor in enumerate(self._state)}
        return {**model, **self.cuts.state}

    def resume(self, state: dict[str, Tensor]) -> None:
        """Carry on from ``state`` (another session's :attr:`state`, perhaps another
        process's), as if this session had run the frames that led to it: the next frame is
        no new shot unless it is a cut."""
        device = self.model.device
        count = sum(1 for name in state if name.startswith("model."))
        self._state = tuple(state[f"model.{number}"].to(device) for number in range(count))
        self.cuts.resume(state, device)

    def model_input(self, height: int, width: int) -> ModelInput | None:
        """What the decoder makes of each frame of height x width for the model (its input
        size and swscale's filter), so the model never resizes a full-size frame; None where
        the network resizes the frames itself (no swscale filter gives its input)."""
        network = self.model.network
        if network.input_filter is None:
            return None
        size = network.input_size(height, width, self.downsample_ratio)
        return ModelInput(size, network.input_filter)

    def plane_input(self, colour: Colour, height: int, width: int) -> PlaneInput | None:
        """How the model's input is made on the device from frames of height x width in
        ``colour`` kept in their planes, where the network resizes the frames itself (RVM);
        None where the decoder makes it (``model_input``)."""
        if self.model_input(height, width) is not None:
            return None
        return PlaneInput(colour, height, width, self.downsample_ratio)

    @torch.inference_mode()
    def coefficients(self, src: Tensor | None, base: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """src [T, 3, H, W] float in [0, 1] on the device, the next T frames, or ``base``, the
        same at the model's input size (``model_input``) -> the refiner's coefficients
        a, b [T, 4 or 1, h, w] at the model's resolution (DeepGuidedFilterRefiner)."""
        a, b, *state = self.model.network.coefficients(
            src, 1, self._state, self.downsample_ratio, base=base
        )
        self._state = tuple(state)
        return a, b


def open_session(
    job: Job, info: VideoInfo, model: Model | None, notice: Callable[[str], None]
) -> tuple[MattingSession, int]:
    """The model ready for this job (loaded if not given), torch's CPU threads fitted to the
    cores other work and the job's own codec leave free (said when other work takes some),
    and the batch size."""
    threads = fit_threads(codec=NETWORKS[job.model].codec_cores)
    if threads.leaves_cores:
        notice(f"the machine is busy: {threads.describe()}")
    if model is None:
        model = load_model(job.device, job.precision, model=job.model, on_notice=notice)
    else:
        model = _as_asked(model, job)
    ratio = job.downsample_ratio(info.height, info.width)
    plan = plan_batch(
        job.batch or default_batch(model.device, info.height, info.width),
        info.height,
        info.width,
        ratio,
        free_memory(model.device),
    )
    for message in (
        plan.notice,
        large_frame_notice(info.height, info.width, ratio, plan.batch),
        faster_model_notice(model.name, model.device, info.duration_s),
    ):
        if message:
            notice(message)
    return MattingSession(model, ratio), plan.batch


def _as_asked(model: Model, job: Job) -> Model:
    """``model`` at the job's precision; refused when the job asks for another model or
    device."""
    if job.model != model.name:
        raise UsageError(f"`model` {job.model} is not the model loaded ({model.name})")
    if job.device != "auto":
        asked = resolve_device(job.device)
        if (asked.type, asked.index or 0) != (model.device.type, model.device.index or 0):
            raise UsageError(
                f"`device` {job.device} is not where the model was loaded ({model.device})"
            )
    return model if job.precision == "auto" else model.with_precision(job.precision)


class Matted:
    """A batch through the model: src [T, 3, H, W] float in [0, 1] on the device (made again
    from the batch's frames after ``park``), and the refiner's coefficients a, b [T, 4, h, w]
    (or [T, 1, h, w]: alpha only). ``fgr`` [T, 3, H, W] and ``pha`` [T, 1, H, W] are computed
    from them (eagerly) on first use; the fused kernels read a and b instead. ``coverage``: the
    share of each frame the person covers (its mean alpha at the model's resolution);
    ``new_shot``: the batch's first frame starts a shot (the state was forgotten before it);
    ``planes``: a batch kept in its planes, uint8 [T, H * 3 / 2, W] on the device where the
    model's input was made from them (uploaded on first use otherwise: once either way)."""

    def __init__(
        self,
        batch: Batch,
        src: Tensor | None,
        a: Tensor,
        b: Tensor,
        coverage: list[float] | None = None,
        new_shot: bool = False,
        planes: Tensor | None = None,
    ) -> None:
        self.batch = batch
        self._src = src
        self._planes = planes
        self.a = a
        self.b = b
        self.coverage = coverage or []
        self.new_shot = new_shot

    @property
    def src(self) -> Tensor:
        if self._src is None:
            self._src = _upload(self.batch.rgb, self.a.device)
        return self._src

    @property
    def planes(self) -> Tensor:
        if self._planes is None:
            self._planes = torch.from_numpy(self.batch.planes).to(self.a.device)
        return self._planes

    def park(self) -> Matted:
        """Let go of the full-resolution frames on the device while the batch waits (they are
        made again from its uint8 frames when needed)."""
        self._src = self._planes = None
        self.__dict__.pop("refined", None)
        return self

    @cached_property
    def refined(self) -> tuple[Tensor, Tensor]:
        """(fgr, pha) at full resolution, by the eager reference."""
        return DeepGuidedFilterRefiner.refine(self.a, self.b, self.src)

    @property
    def fgr(self) -> Tensor:
        return self.refined[0]

    @property
    def pha(self) -> Tensor:
        return self.refined[1]


def matte_batches(
    session: MattingSession, batches: Iterable[Batch], from_planes: PlaneInput | None = None
) -> Iterator[Matted]:
    """The model over ``batches`` in order, the recurrent state carried: upload the uint8
    frames (the model's input where the decoder made it, the planes where the frames stay in
    them and ``from_planes`` makes the input, else the full frames), make them float on the
    device, find the cuts on small frames of them, run the model to the refiner's
    coefficients, its state forgotten at each cut (a batch with a cut inside comes out as
    two). The only place the model is run over a video."""
    device = session.model.device
    for batch in batches:
        src = base = planes = None
        if batch.small is not None:
            base = _upload(batch.small, device)
        elif batch.rgb is None and from_planes is not None:
            planes = torch.from_numpy(batch.planes).to(device)
            base = from_planes(planes)
        else:
            src = _upload(batch.rgb, device)
        small = detector_frames(src if base is None else base)
        starts = session.cuts.starts(small)
        edges = sorted({0, *starts, len(batch.pts)})
        for low, high in zip(edges, edges[1:], strict=False):
            if low in starts:
                session.cut()
            piece = batch if high - low == len(batch.pts) else batch.frames(low, high)
            if base is None:
                a, b = session.coefficients(src[low:high])
                fine = src[low:high]
            else:
                a, b = session.coefficients(None, base[low:high])
                fine = None  # uploaded when the full-resolution step needs it
            coverage = person_coverage(a, b, small[low:high])
            kept = None if planes is None else planes[low:high]
            yield Matted(piece, fine, a, b, coverage, low in starts, kept)


def person_coverage(a: Tensor, b: Tensor, small: Tensor) -> list[float]:
    """The coefficients a, b [T, C, h, w] and small frames [T, 3, h', w'] -> the mean alpha of
    each frame at the small frames' size (the share of the frame the person covers)."""
    size = small.shape[-2:]
    a, b = (
        F.interpolate(x[:, -1:], size=size, mode="bilinear", align_corners=False) for x in (a, b)
    )
    alpha = torch.addcmul(b, a, small.mean(1, keepdim=True)).clamp_(0.0, 1.0)
    return alpha.mean(dim=(1, 2, 3)).tolist()


def _upload(frames: np.ndarray, device: torch.device) -> Tensor:
    """uint8 frames [T, H, W, 3] -> float [T, 3, H, W] in [0, 1] on ``device``."""
    return from_uint8_hwc(torch.from_numpy(np.ascontiguousarray(frames)).to(device))
