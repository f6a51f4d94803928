"""MediaPipe's selfie segmenter in PyTorch, as a second matting model: against MediaPipe's own
runtime, against RVM on real video, and through the same session and full-resolution step."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import bgrm
from bgrm.batches import batches_of
from bgrm.composite import matte_to_uint8
from bgrm.errors import EnvironmentProblem, InputError, UsageError
from bgrm.finish.fused import _refine
from bgrm.matting import weights
from bgrm.matting.refiner import DeepGuidedFilterRefiner
from bgrm.matting.selfie.segmenter import LANDSCAPE_SIZE, SQUARE_SIZE
from bgrm.matting.session import MattingSession, matte_batches
from bgrm.resources import SELFIE_SPEEDUP
from bgrm_bench.matte_quality import agreement, flicker
from tests.media import make_clip


def _frames(path: Path, indices: range | list[int]) -> np.ndarray:
    """The frames at ``indices`` as uint8 [T, H, W, 3]."""
    wanted = set(indices)
    with av.open(str(path)) as container:
        picked = [
            frame.to_ndarray(format="rgb24")
            for index, frame in enumerate(container.decode(video=0))
            if index in wanted
        ]
    return np.stack(picked)


def _mattes(model: bgrm.Model, rgb: np.ndarray, batch: int = 8) -> np.ndarray:
    """uint8 [T, H, W] alpha of consecutive frames (downsample 1), the state carried."""
    session = MattingSession(model, 1.0)
    return np.concatenate(
        [matte_to_uint8(m.pha).numpy() for m in matte_batches(session, batches_of(rgb, batch))]
    )


@pytest.fixture(scope="module")
def selfie_weights() -> Path:
    """The selfie model's converted weights in the user's cache, pulled once if missing."""
    cached = [weights.weights_path("selfie"), *weights.source_paths("selfie")]
    if not all(path.is_file() for path in cached):
        weights.pull(model="selfie")
    return weights.weights_path("selfie")


@pytest.fixture(scope="module")
def selfie(selfie_weights) -> bgrm.Model:
    return bgrm.load_model("cpu", model="selfie")


# The port against MediaPipe's runtime --------------------------------------------------------


@pytest.mark.parametrize(
    ("selection", "size"), [(1, LANDSCAPE_SIZE), (0, SQUARE_SIZE)], ids=["landscape", "square"]
)
def test_port_matches_mediapipe_runtime(samples, selfie, selection, size):
    """The mask at the model's size, on real frames of a talking head and of a street with
    people, within 1/255 of MediaPipe's own runtime (its XNNPACK interpreter). The frames are
    given to both at exactly the model's size, so MediaPipe's resizing before and after the
    network is the identity: the raw network output is compared."""
    solutions = pytest.importorskip(
        "mediapipe.python.solutions.selfie_segmentation",
        reason="MediaPipe's runtime is the reference, in a venv of its own (it needs numpy < 2): "
        "bash scripts/setup.sh .venv-mediapipe selfie-check,test, then run this test with "
        ".venv-mediapipe/bin/python (scripts/test.sh does both)",
        exc_type=ModuleNotFoundError,
    )
    packaged = Path(solutions.__file__).parents[2] / "modules" / "selfie_segmentation"
    pinned = weights.SELFIE_FILES["landscape" if selection == 1 else "square"]
    assert hashlib.sha256((packaged / pinned.name).read_bytes()).hexdigest() == pinned.sha256

    talk = _frames(samples["talk"], range(0, 120, 15))
    bikes = _frames(samples["bikes"], [30, 40, 110, 120, 200])
    segmenter = selfie.network.landscape if selection == 1 else selfie.network.square
    reference = solutions.SelfieSegmentation(model_selection=selection)
    for rgb in (talk, bikes):
        images = F.interpolate(
            torch.from_numpy(rgb).permute(0, 3, 1, 2).float(), size=size, mode="area"
        )
        images = images.round().to(torch.uint8)
        with torch.inference_mode():
            port = segmenter(images.float() / 255)[:, 0].numpy()
        expected = np.stack(
            [
                reference.process(image).segmentation_mask
                for image in images.permute(0, 2, 3, 1).contiguous().numpy()
            ]
        )
        error = np.abs(port - expected) * 255  # in 1/255; the target is a mean below 1
        assert error.mean() < 0.01  # measured 1e-5
        assert error.max() < 0.5  # measured 0.03
        assert expected.max() > 0.99  # a person is found in each set of frames
    reference.close()


# Weights --------------------------------------------------------------------------------------


@pytest.fixture
def private_home(tmp_path, monkeypatch, selfie_weights):
    """A BGRM_HOME of its own holding copies of the good selfie files."""
    monkeypatch.setenv("BGRM_HOME", str(tmp_path / "home"))
    sources = tmp_path / "sources"
    sources.mkdir()
    for path in weights.source_paths("selfie"):
        shutil.copy(selfie_weights.parent / path.name, sources / path.name)
    return sources


def test_pull_from_the_two_tflite_files_in_any_order_and_names(private_home):
    renamed = [private_home / "a.bin", private_home / "b.bin"]
    for source, target in zip(sorted(private_home.iterdir()), renamed, strict=True):
        source.rename(target)
    path = weights.pull(renamed[::-1], model="selfie")
    state = weights.load_state_dict(path)
    assert {key.split(".")[0] for key in state} == {"landscape", "square"}
    assert path.parent == weights.home()


def test_pull_from_a_wheel_and_reject_a_damaged_member(private_home, tmp_path):
    wheel = tmp_path / "mediapipe-0.10.21-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for source in private_home.iterdir():
            archive.write(source, f"mediapipe/modules/selfie_segmentation/{source.name}")
    assert weights.load_state_dict(weights.pull(wheel, model="selfie"))

    damaged = tmp_path / "damaged-0.10.21-py3-none-any.whl"
    with zipfile.ZipFile(damaged, "w") as archive:
        for source in private_home.iterdir():
            data = bytearray(source.read_bytes())
            data[5000] ^= 0xFF
            archive.writestr(f"mediapipe/modules/selfie_segmentation/{source.name}", bytes(data))
    with pytest.raises(InputError, match="checksum"):
        weights.pull(damaged, model="selfie")


def test_one_tflite_alone_or_a_wrong_file_is_refused(private_home, tmp_path):
    landscape = private_home / weights.SELFIE_FILES["landscape"].name
    with pytest.raises(InputError, match="selfie_segmentation.tflite"):
        weights.pull(landscape, model="selfie")
    wrong = tmp_path / "wrong.tflite"
    wrong.write_bytes(b"TFL3 but not the model")
    with pytest.raises(InputError, match="checksum"):
        weights.pull([landscape, wrong], model="selfie")
    with pytest.raises(InputError, match="checksum"):  # RVM's pull does not take selfie files
        weights.pull(landscape)


def test_damaged_selfie_weights_are_detected_not_loaded(private_home):
    path = weights.pull(list(private_home.iterdir()), model="selfie")
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(EnvironmentProblem, match="damaged"):
        weights.load_state_dict(model="selfie")
    with pytest.raises(EnvironmentProblem, match="damaged"):
        bgrm.load_model("cpu", model="selfie")


def test_an_unknown_model_is_a_usage_error():
    with pytest.raises(UsageError, match="`model`"):
        bgrm.load_model("cpu", model="u2net")


# The matting model -----------------------------------------------------------------------------


def test_still_image_through_the_session_and_both_full_resolution_steps(samples, selfie):
    """One frame, no state: the eager refine and the fused tail's maths give the same matte,
    the foreground colour is the frame itself, and the person is found."""
    src = torch.from_numpy(_frames(samples["talk"], [60])).permute(0, 3, 1, 2).float() / 255
    a, b = MattingSession(selfie, 1.0).coefficients(src)
    assert a.shape == b.shape == (1, 1, 144, 176)  # the alpha's alone
    fgr, pha = DeepGuidedFilterRefiner.refine(a.clone(), b.clone(), src)
    fused_fgr, fused_pha = _refine(a, b, src)
    assert torch.equal(fgr, src)
    assert torch.allclose(pha, fused_pha, atol=1e-6)
    assert torch.allclose(fused_fgr, src)
    assert 0.2 < pha.mean() < 0.8


def test_batch_size_does_not_change_the_result(samples, selfie):
    """Frames of a batch are smoothed in order: batches of 1 and of 4 give the same alpha (to
    float rounding: measured 6e-6)."""
    rgb = _frames(samples["talk"], range(12))
    one, four = (
        torch.cat([m.pha for m in matte_batches(MattingSession(selfie, 1.0), batches_of(rgb, b))])
        for b in (1, 4)
    )
    assert (one - four).abs().max() < 1e-4


def test_smoothing_state_is_carried(samples, selfie):
    """Restarting the state changes the matte: the smoothing really flows between batches."""
    rgb = _frames(samples["talk"], range(16))
    carried = _mattes(selfie, rgb, batch=8)
    restarted = _mattes(selfie, rgb[8:], batch=8)
    assert np.abs(carried[8:].astype(int) - restarted).max() > 8


def test_portrait_frames_use_the_square_graph(samples, selfie):
    """A portrait crop (96x144) goes through the 256x256 graph and still finds the person."""
    rgb = np.ascontiguousarray(_frames(samples["talk"], range(8))[:, :, 40:136])
    calls = []
    hook = selfie.network.square.register_forward_hook(
        lambda module, args, out: calls.append(out.shape)
    )
    try:
        alpha = _mattes(selfie, rgb)
    finally:
        hook.remove()
    assert calls == [(8, 1, *SQUARE_SIZE)]
    assert 0.3 < (alpha > 127).mean() < 0.9


def test_fp16_runs_the_selfie_model_in_float32(samples, selfie):
    rgb = _frames(samples["talk"], range(4))
    assert np.array_equal(_mattes(selfie.with_precision("fp16"), rgb), _mattes(selfie, rgb))
    assert selfie.name == "selfie" and selfie.with_precision("fp16").name == "selfie"


# Against RVM on real video -------------------------------------------------------------------


@pytest.mark.slow
def test_agrees_with_rvm_and_flickers_no_more_on_a_talking_head(samples, selfie, weights_file):
    """The whole sample clip (120 frames): IoU of the person >= 0.95 against RVM's matte and
    flicker on still pixels at most 1.5x RVM's (measured 0.976 and 1.1x)."""
    rgb = _frames(samples["talk"], range(120))
    alpha = _mattes(selfie, rgb)
    reference = _mattes(bgrm.load_model("cpu"), rgb)
    iou, difference = agreement(alpha, reference)
    selfie_flicker, rvm_flicker = flicker(alpha, reference, rgb)
    assert iou >= 0.95
    assert difference < 6
    assert selfie_flicker <= 1.5 * rvm_flicker


def _walking_person(samples, reference: np.ndarray, rgb: np.ndarray, step: int):
    """The talking head cut out with RVM's matte and slid by ``step`` pixels a frame over a
    still street, past a dark pole as dark as his hair (where an edge moves without changing
    the brightness: the hardest case for smoothing) -> frames uint8 [T, H, W, 3] and the true
    alpha uint8 [T, H, W]."""
    height, width = rgb.shape[1:3]
    photo = Image.open(samples["background"]).convert("RGB").resize((2 * width, height))
    street = np.asarray(photo, dtype=np.float32)[:, 60 : 60 + width]
    frames, truth = [], []
    for t in range(len(rgb)):
        shift = t * step - 30
        person = np.roll(rgb[t], shift, axis=1).astype(np.float32)
        alpha = np.roll(reference[t], shift, axis=1).astype(np.float32)[..., None] / 255
        alpha[:, : max(shift, 0)] = 0  # what rolled round the edge is not the person
        alpha[:, width + min(shift, 0) :] = 0
        frames.append((person * alpha + street * (1 - alpha)).round().astype(np.uint8))
        truth.append((alpha[..., 0] * 255).round().astype(np.uint8))
    return np.stack(frames), np.stack(truth)


@pytest.mark.slow
def test_a_moving_edge_leaves_no_trail(samples, selfie, weights_file):
    """Behind the walking person (street he has left), the smoothed matte is more than 64/255
    above the per-frame matte on fewer than 20 pixels in every frame. Measured: none; without
    the hold after motion 65, trusting brightness changes alone 368, a plain running average
    3439 (of some 14000 pixels he leaves behind)."""
    rgb = _frames(samples["talk"], range(20, 60))
    reference = _mattes(bgrm.load_model("cpu"), rgb)
    frames, truth = _walking_person(samples, reference, rgb, step=3)
    smoothed = _mattes(selfie, frames)
    per_frame = np.concatenate([_mattes(selfie, frames[t : t + 1]) for t in range(len(frames))])
    was_person = np.maximum.accumulate(truth > 127, axis=0)
    behind = np.zeros_like(was_person)
    behind[1:] = was_person[:-1] & (truth[1:] == 0)
    trail = ((smoothed.astype(int) - per_frame > 64) & behind).sum(axis=(1, 2))
    assert behind.sum(axis=(1, 2))[-1] > 3000  # he did walk away from a wide strip
    assert trail.max() < 20
    assert agreement(smoothed, truth)[0] > 0.95


def test_a_long_recording_through_rvm_on_a_cpu_is_told_of_the_faster_model(tmp_path, model, selfie):
    """Three minutes (6 frames, one each 30 s) through RVM on the CPU: one notice naming
    --model selfie and its factor; through the selfie model, or a short clip, none."""
    long = make_clip(tmp_path / "long.mp4", frames=6, rate=Fraction(1, 30), audio=False)
    short = make_clip(tmp_path / "short.mp4", frames=8, audio=False)

    def hints(clip: Path, loaded: bgrm.Model) -> list[str]:
        output = tmp_path / f"{clip.stem}.{loaded.name}.mp4"
        result = bgrm.process(clip, output, background="white", model=loaded)
        return [line for line in result.notices if "--model selfie" in line]

    (hint,) = hints(long, model)
    assert "3-minute recording through rvm" in hint and f"{SELFIE_SPEEDUP:.1f}x faster" in hint
    assert hints(long, selfie) == [] and hints(short, model) == []
