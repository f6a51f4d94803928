"""The fused full-resolution tail: the same pixels as the eager path, and never an error.

These compile real kernels with inductor (the C compiler is on CI's machine), at the sample's
small size, so each compile takes seconds rather than tens of seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import bgrm
from bgrm.backgrounds import open_background, parse_background
from bgrm.batches import batches_of
from bgrm.finish import finish
from bgrm.finish.fused import COMPILE_S, SAVING_S_PER_PIXEL, FusedTail, open_tail, should_compile
from bgrm.matting.session import Matted, MattingSession, matte_batches
from bgrm.media.decode import read_frames
from tests.conftest import bgrm as cli
from tests.media import gray_frames

HEIGHT, WIDTH = 144, 176


@pytest.fixture(scope="module")
def matted(samples, weights_file) -> list[Matted]:
    """The sample's first 8 frames through the real model, in batches of 4."""
    model = bgrm.load_model("cpu")
    frames = read_frames(samples["talk"])
    rgb = np.stack([f.rgb for _, f in zip(range(8), frames, strict=False)])
    with torch.inference_mode():
        return list(matte_batches(MattingSession(model, 0.5), batches_of(rgb, 4)))


@pytest.fixture
def strict_dynamo(monkeypatch, tmp_path):
    """A compile cache of the test's own (cold). Past dynamo's recompile limit a compiled
    function quietly runs eagerly: make that an error, so that a fused result can only come
    from compiled code."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    torch._dynamo.reset()
    with torch._dynamo.config.patch(fail_on_recompile_limit_hit=True):
        yield


def finished(
    batches: list[Matted], spec: str, needs: set[str], light: float | None, tail
) -> dict[str, np.ndarray]:
    """Every output in ``needs`` for all batches, over background ``spec``."""
    background = open_background(parse_background(spec), HEIGHT, WIDTH, torch.device("cpu"))
    outputs: dict[str, list[np.ndarray]] = {need: [] for need in needs}
    try:
        with torch.inference_mode():
            for item in batches:
                fresh = Matted(item.batch, item.src, item.a, item.b)  # nothing refined yet
                times = [index / 30 for index in item.batch.pts]  # pts: frame numbers
                host = finish(fresh, needs, background, times, light, tail)
                for need in needs:
                    outputs[need].append(getattr(host, need))
    finally:
        background.close()
    return {need: np.concatenate(parts) for need, parts in outputs.items()}


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    ["image with light wrap", "blurred room", "video", "rgba", "matte"],
)
def test_fused_tail_matches_the_eager_path(case, matted, samples, strict_dynamo, tmp_path):
    image = tmp_path / "stripes.png"
    stripes = np.zeros((90, 160, 3), np.uint8)
    stripes[:, ::8] = (250, 200, 20)
    Image.fromarray(stripes).save(image)
    spec, needs, light = {
        "image with light wrap": (str(image), {"rgb"}, 0.8),
        "blurred room": ("blur", {"rgb"}, None),
        "video": (str(samples["bikes"]), {"rgb"}, None),
        "rgba": ("#000000", {"rgba"}, None),
        "matte": ("#000000", {"matte"}, None),
    }[case]
    tail = FusedTail(tmp_path / "cache", HEIGHT, WIDTH)
    assert not tail.warm

    eager = finished(matted, spec, needs, light, None)
    fused = finished(matted, spec, needs, light, tail)

    assert not tail.failed
    assert tail.warm  # the marker is written once compiled code has run
    for need in needs:
        assert fused[need].shape == eager[need].shape
        assert fused[need].dtype == np.uint8
        difference = np.abs(fused[need].astype(int) - eager[need].astype(int))
        assert difference.max() <= 1, need
        assert (difference > 0).mean() < 0.01  # rounding of the last bit only, here and there
    if "rgb" in needs:  # the person is kept and the room replaced: the outputs mean something
        alpha = finished(matted, spec, {"matte"}, None, None)["matte"]
        assert 0.05 < (alpha == 255).mean() < 0.95


def test_compile_rule_only_compiles_where_it_pays():
    # the bundled 4-second clip (176x144, 120 frames), or at 1080p: never waits on a compile
    assert not should_compile("auto", 120, 144, 176, warm=True)
    assert not should_compile("auto", 120, 1080, 1920, warm=True)
    # a minute of 1080p: only once the cache is warm; a 10-minute talk always
    assert not should_compile("auto", 1800, 720, 1280, warm=False)
    assert should_compile("auto", 1800, 1080, 1920, warm=False)
    assert should_compile("auto", 600, 1080, 1920, warm=True)
    assert not should_compile("auto", 600, 1080, 1920, warm=False)
    assert should_compile("auto", 18000, 1080, 1920, warm=False)
    assert not should_compile("auto", None, 1080, 1920)  # no frame count: no compile
    assert should_compile("on", 1, 16, 16) and not should_compile("off", 10**6, 1080, 1920)
    cold_frames = COMPILE_S["cold"] / (1920 * 1080 * SAVING_S_PER_PIXEL["rgb"])
    assert 600 < cold_frames < 1800  # between 20 and 60 seconds of 1080p at 30 frames/s
    # the composite in planes saves less a frame (its eager path is cheaper): a minute of
    # 1080p compiles only once the cache is warm, a 10-minute talk always
    assert not should_compile("auto", 1800, 1080, 1920, warm=False, planes=True)
    assert should_compile("auto", 1800, 1080, 1920, warm=True, planes=True)
    assert should_compile("auto", 18000, 1080, 1920, warm=False, planes=True)
    assert not should_compile("auto", 120, 1080, 1920, warm=True, planes=True)


def test_auto_leaves_cuda_eager_until_measured(tmp_path):
    cuda = torch.device("cuda")  # only its type is read: no GPU needed
    assert open_tail("auto", 10**6, 1080, 1920, cuda, tmp_path) is None
    assert open_tail("on", 10, 1080, 1920, cuda, tmp_path) is not None
    assert open_tail("off", 10**6, 1080, 1920, torch.device("cpu"), tmp_path) is None


def pngs(folder: Path) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p)) for p in sorted(folder.glob("frame_*.png"))])


@pytest.fixture(scope="module")
def eager_run(samples, weights_file, tmp_path_factory) -> tuple[np.ndarray, np.ndarray]:
    """The sample cut out with --compile off: RGBA PNGs [120, H, W, 4] and the matte."""
    tmp = tmp_path_factory.mktemp("eager")
    args = ["-o", str(tmp / "frames"), "--matte", str(tmp / "matte.mkv"), "--compile", "off"]
    done = cli("process", str(samples["talk"]), "--alpha", "png", *args)
    assert done.returncode == 0, done.stderr
    assert "compiling" not in done.stderr
    return pngs(tmp / "frames"), gray_frames(tmp / "matte.mkv")[1]


@pytest.mark.slow
def test_compile_on_gives_the_same_files(samples, eager_run, tmp_path):
    args = ["-o", str(tmp_path / "frames"), "--matte", str(tmp_path / "matte.mkv")]
    env = {"TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}  # cold: compiled here
    done = cli("process", str(samples["talk"]), "--alpha", "png", *args, "--compile", "on", env=env)
    assert done.returncode == 0, done.stderr
    assert "compiling the full-resolution tail for 176x144 frames" in done.stderr
    assert any((tmp_path / "inductor").rglob("*.so"))  # inductor built its kernels here

    rgba, matte = pngs(tmp_path / "frames"), gray_frames(tmp_path / "matte.mkv")[1]
    eager_rgba, eager_matte = eager_run
    assert rgba.shape == eager_rgba.shape == (120, HEIGHT, WIDTH, 4)
    assert np.abs(rgba.astype(int) - eager_rgba).max() <= 1
    assert np.abs(matte.astype(int) - eager_matte).max() <= 1
    assert np.array_equal(rgba[..., 3], matte)  # the PNGs' alpha is the matte, as eager


SCRIPT = """
import logging, sys
import bgrm
from tests.conftest import bgrm as cli
from tests.media import gray_frames
logging.basicConfig(level=logging.DEBUG, format="%(name)s %(levelname)s %(message)s")
bgrm.process(sys.argv[1], sys.argv[2], alpha="png", compile="on")
"""


@pytest.mark.slow
def test_a_failing_compiler_falls_back_to_the_eager_path(samples, eager_run, tmp_path):
    env = {
        **os.environ,
        "CXX": str(tmp_path / "no-such-compiler"),  # inductor's C++ compiler
        "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor"),  # nothing cached to fall on
    }
    folder = tmp_path / "frames"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(samples["talk"]), str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "bgrm.finish DEBUG fused tail unavailable, eager from now on" in done.stderr
    assert np.array_equal(pngs(folder), eager_run[0])  # exactly the eager path's pixels


def test_compile_mode_is_checked_before_any_work(samples, tmp_path):
    done = cli("process", str(samples["talk"]), "-o", str(tmp_path / "o.mp4"), "--compile", "yes")
    assert done.returncode == 2
    assert done.stderr.strip().endswith("--compile must be one of auto, on, off, got 'yes'")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "o.mp4").exists()
    with pytest.raises(bgrm.UsageError, match="`compile` must be one of auto, on, off"):
        bgrm.Job(input="talk.mp4", compile="always")
