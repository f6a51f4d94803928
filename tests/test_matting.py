"""The PyTorch port of RVM against the official ONNX export, on real video of a real person."""

from __future__ import annotations

import shutil

import av
import numpy as np
import pytest
import torch

import bgrm
from bgrm.batches import batches_of
from bgrm.errors import EnvironmentProblem, InputError
from bgrm.matting import weights
from bgrm.matting.model import MattingNetwork
from bgrm.matting.session import MattingSession, matte_batches


def _frames(path, count: int) -> np.ndarray:
    """The first ``count`` frames as uint8 [T, H, W, 3]."""
    with av.open(str(path)) as container:
        decoded = container.decode(video=0)
        return np.stack([next(decoded).to_ndarray(format="rgb24") for _ in range(count)])


def _onnx_reference(rgb: np.ndarray, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Frame by frame through onnxruntime with the recurrent state fed back."""
    import onnxruntime

    session = onnxruntime.InferenceSession(
        str(weights.onnx_path()), providers=["CPUExecutionProvider"]
    )
    state = [np.zeros((1, 1, 1, 1), np.float32)] * 4
    fgrs, phas = [], []
    for frame in rgb.transpose(0, 3, 1, 2).astype(np.float32) / 255:
        fgr, pha, *state = session.run(
            None,
            {
                "src": frame[None],
                "r1i": state[0],
                "r2i": state[1],
                "r3i": state[2],
                "r4i": state[3],
                "downsample_ratio": np.array([ratio], np.float32),
            },
        )
        fgrs.append(fgr[0])
        phas.append(pha[0])
    return np.stack(fgrs), np.stack(phas)


def _port(
    rgb: np.ndarray, ratio: float, batch: int, precision: str = "fp32"
) -> tuple[np.ndarray, np.ndarray]:
    """fgr [T, 3, H, W] and pha [T, 1, H, W] from the pipeline's model loop, batch by batch."""
    session = MattingSession(bgrm.load_model("cpu", precision), ratio)
    matted = list(matte_batches(session, batches_of(rgb, batch)))
    fgr = torch.cat([m.fgr for m in matted]).numpy()
    pha = torch.cat([m.pha for m in matted]).numpy()
    return fgr, pha


@pytest.mark.slow
@pytest.mark.parametrize("ratio", [1.0, 0.25])
def test_port_matches_onnx_reference_over_32_frames(samples, weights_file, ratio):
    rgb = _frames(samples["talk"], 32)
    ref_fgr, ref_pha = _onnx_reference(rgb, ratio)
    fgr, pha = _port(rgb, ratio, batch=8)
    assert np.abs(pha - ref_pha).max() < 1e-3
    assert np.abs(fgr - ref_fgr).max() < 1e-3
    # The person is found: a real matte, neither empty nor full.
    assert 0.1 < ref_pha.mean() < 0.9


@pytest.mark.slow
def test_batch_size_does_not_change_the_result(samples, weights_file):
    rgb = _frames(samples["talk"], 16)
    _, pha_one = _port(rgb, 0.5, batch=1)
    _, pha_eight = _port(rgb, 0.5, batch=8)
    assert np.abs(pha_one - pha_eight).max() < 1e-4


def test_recurrent_state_is_carried(samples, weights_file):
    """Restarting the state every batch changes the matte: the state really flows."""
    rgb = _frames(samples["talk"], 8)
    _, carried = _port(rgb, 0.5, batch=4)
    _, restarted = _port(rgb[4:], 0.5, batch=4)
    assert np.abs(carried[4:] - restarted).max() > 1e-3


@pytest.mark.slow
def test_fp16_stays_close_to_fp32(samples, weights_file):
    """fp16 (encoder/decoder in float16 on the CPU here; the GPU path uses the same code)."""
    rgb = _frames(samples["talk"], 4)
    _, pha32 = _port(rgb, 0.5, batch=4)
    fgr16, pha16 = _port(rgb, 0.5, batch=4, precision="fp16")
    assert pha16.dtype == fgr16.dtype == np.float32  # outputs stay float32
    error = np.abs(pha16 - pha32) * 255
    assert error.mean() < 0.1
    assert error.max() < 8


def test_an_fp16_model_leaves_the_fp32_weights_exact(weights_file):
    """A worker runs fp16 and fp32 jobs with one model: the fp32 weights are never rounded."""
    model = bgrm.load_model("cpu")
    before = {name: value.clone() for name, value in model.network.state_dict().items()}
    half = model.with_precision("fp16")
    assert (half.precision, half.device) == ("fp16", model.device)
    assert half.network.backbone.features[0][0].weight.dtype == torch.float16
    after = model.network.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert model.with_precision("fp16").network is half.network  # converted once


@pytest.fixture
def private_home(tmp_path, monkeypatch, weights_file):
    """A BGRM_HOME of its own holding a copy of the good weights."""
    monkeypatch.setenv("BGRM_HOME", str(tmp_path))
    shutil.copy(weights_file, weights.weights_path())
    return tmp_path


def test_damaged_weights_are_detected_not_loaded(private_home):
    path = weights.weights_path()
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF  # flip bits inside the tensor data
    path.write_bytes(bytes(data))
    with pytest.raises(EnvironmentProblem, match="damaged"):
        weights.load_state_dict()


def test_truncated_weights_are_detected(private_home):
    path = weights.weights_path()
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(EnvironmentProblem, match="damaged"):
        weights.load_state_dict()


def test_missing_weights_say_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("BGRM_HOME", str(tmp_path))
    with pytest.raises(EnvironmentProblem, match="bgrm models pull"):
        weights.load_state_dict()


def test_pull_from_local_onnx_and_reject_a_wrong_file(tmp_path, monkeypatch, weights_file):
    monkeypatch.setenv("BGRM_HOME", str(tmp_path / "home"))
    onnx_copy = tmp_path / "rvm.onnx"
    shutil.copy(weights_file.parent / weights.ONNX_NAME, onnx_copy)
    path = weights.pull(onnx_copy)
    assert weights.load_state_dict(path).keys()
    wrong = tmp_path / "wrong.onnx"
    wrong.write_bytes(b"not a model")
    with pytest.raises(InputError, match="checksum"):
        weights.pull(wrong)


def test_the_refiner_does_not_shadow_module_apply():
    network = MattingNetwork()
    seen = []
    network.apply(lambda module: seen.append(type(module).__name__))
    assert "DeepGuidedFilterRefiner" in seen and seen[-1] == "MattingNetwork"
