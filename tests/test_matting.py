"""The PyTorch port of RVM against the official ONNX export, on real video of a real person."""

from __future__ import annotations

import shutil

import av
import numpy as np
import pytest
import torch

from bgrm.errors import EnvironmentProblem, InputError
from bgrm.matting import weights
from bgrm.matting.session import MattingSession


def _frames(path, count: int) -> torch.Tensor:
    """The first ``count`` frames as float [T, 3, H, W] in [0, 1]."""
    with av.open(str(path)) as container:
        decoded = container.decode(video=0)
        rgb = [next(decoded).to_ndarray(format="rgb24") for _ in range(count)]
    return torch.from_numpy(np.stack(rgb)).permute(0, 3, 1, 2).float().div(255)


def _onnx_reference(src: torch.Tensor, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Frame by frame through onnxruntime with the recurrent state fed back."""
    import onnxruntime

    session = onnxruntime.InferenceSession(
        str(weights.onnx_path()), providers=["CPUExecutionProvider"]
    )
    state = [np.zeros((1, 1, 1, 1), np.float32)] * 4
    fgrs, phas = [], []
    for frame in src.numpy():
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


def _port(src: torch.Tensor, ratio: float, batch: int) -> tuple[np.ndarray, np.ndarray]:
    session = MattingSession(weights.load_model(), torch.device("cpu"), ratio)
    fgrs, phas = [], []
    for start in range(0, src.shape[0], batch):
        fgr, pha = session.step(src[start : start + batch])
        fgrs.append(fgr)
        phas.append(pha)
    return torch.cat(fgrs).numpy(), torch.cat(phas).numpy()


@pytest.mark.parametrize("ratio", [1.0, 0.25])
def test_port_matches_onnx_reference_over_32_frames(samples, weights_file, ratio):
    src = _frames(samples["talk"], 32)
    ref_fgr, ref_pha = _onnx_reference(src, ratio)
    fgr, pha = _port(src, ratio, batch=8)
    assert np.abs(pha - ref_pha).max() < 1e-3
    assert np.abs(fgr - ref_fgr).max() < 1e-3
    # The person is found: a real matte, neither empty nor full.
    assert 0.1 < ref_pha.mean() < 0.9


def test_batch_size_does_not_change_the_result(samples, weights_file):
    src = _frames(samples["talk"], 16)
    _, pha_one = _port(src, 0.5, batch=1)
    _, pha_eight = _port(src, 0.5, batch=8)
    assert np.abs(pha_one - pha_eight).max() < 1e-4


def test_recurrent_state_is_carried(samples, weights_file):
    """Restarting the state every batch changes the matte: the state really flows."""
    src = _frames(samples["talk"], 8)
    _, carried = _port(src, 0.5, batch=4)
    session = MattingSession(weights.load_model(), torch.device("cpu"), 0.5)
    session.step(src[:4])
    session.reset()
    _, restarted = session.step(src[4:])
    assert np.abs(carried[4:] - restarted.numpy()).max() > 1e-3


def test_fp16_stays_close_to_fp32(samples, weights_file):
    """fp16 (encoder/decoder in float16 on the CPU here; the GPU path uses the same code)."""
    src = _frames(samples["talk"], 4)
    _, pha32 = _port(src, 0.5, batch=4)
    session = MattingSession(weights.load_model(), torch.device("cpu"), 0.5, "fp16")
    fgr16, pha16 = session.step(src)
    assert pha16.dtype == fgr16.dtype == torch.float32  # outputs stay float32
    error = np.abs(pha16.numpy() - pha32) * 255
    assert error.mean() < 0.1
    assert error.max() < 8


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
