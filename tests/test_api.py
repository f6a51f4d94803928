"""bgrm as a library, as a developer uses it: ``import bgrm`` and the public names only."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import subprocess
import sys
import threading
import typing
from pathlib import Path

import numpy as np
import pytest
import torch

import bgrm
from bgrm._cli.errors import FLAGS
from bgrm._cli.flags import job_flags
from bgrm.matting import weights
from bgrm.matting.model import MattingNetwork
from bgrm.media.formats import ALPHA_FORMATS, CODECS
from tests.media import (
    assert_person_is_opaque_and_room_transparent,
    audio_packets,
    gray_frames,
    video_frames,
)


def test_import_bgrm_loads_neither_the_cli_nor_the_queue_nor_torch():
    """The queue's client builds jobs with `import bgrm`: it must start in a blink (no torch);
    the names that need the model load it on first use."""
    code = (
        "import sys, bgrm; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'typer', 'celery', 'kombu', 'worker', 'bgrm_worker', 'torch'} or m == 'bgrm._cli')); "
        "bgrm.process; print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[]", "True"]


@pytest.mark.slow
def test_process_with_a_reused_model(samples, model, tmp_path):
    progress: list[tuple[int, int | None]] = []
    out, matte = tmp_path / "out.mp4", tmp_path / "matte.mkv"
    result = bgrm.process(
        samples["talk"],
        out,
        background="#1e1e1e",
        matte=matte,
        downsample=0.25,
        model=model,
        on_progress=lambda done, total: progress.append((done, total)),
    )
    assert isinstance(result, bgrm.Result)
    assert (result.output, result.matte, result.frames) == (out, matte, 120)
    assert result.seconds > 0 and result.fps == pytest.approx(120 / result.seconds)
    assert result.notices == []
    assert progress[-1] == (120, 120) and progress[0][1] == 120
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)
    source_times, _ = video_frames(samples["talk"])
    times, _ = video_frames(out)
    assert times == pytest.approx(source_times, abs=1e-6)
    assert audio_packets(out) == audio_packets(samples["talk"])

    # The same model again, for a cut-out: nothing is loaded twice, nothing is shared wrongly.
    folder = tmp_path / "frames"
    again = bgrm.process(samples["talk"], folder, alpha="png", downsample=0.25, model=model)
    assert again.output == folder and again.frames == 120
    assert len(list(folder.glob("frame_*.png"))) == 120


@pytest.mark.slow
def test_mattes_streams_every_frame_with_its_time_and_the_same_alpha_as_process(
    samples, model, tmp_path
):
    matte = tmp_path / "matte.mkv"
    bgrm.process(samples["talk"], tmp_path / "x.mp4", matte=matte, downsample=0.5, model=model)
    _, written = gray_frames(matte)
    source_times, source = video_frames(samples["talk"])

    frames = list(bgrm.mattes(samples["talk"], downsample=0.5, model=model))
    assert len(frames) == 120
    assert [f.time for f in frames] == pytest.approx(source_times, abs=1e-9)
    assert [f.pts for f in frames] == [round(t * 30000) for t in source_times]
    first = frames[0]
    assert first.image.shape == first.foreground.shape == (144, 176, 3)
    assert first.alpha.shape == (144, 176)
    assert {first.image.dtype, first.alpha.dtype, first.foreground.dtype} == {np.dtype(np.uint8)}
    assert np.array_equal(np.stack([f.image for f in frames]), source)  # the decoded frames
    alpha = np.stack([f.alpha for f in frames])
    assert np.array_equal(alpha, written)  # one loop: exactly the matte process() wrote
    assert_person_is_opaque_and_room_transparent(alpha)
    chest = (slice(110, 140), slice(60, 120))
    assert np.abs(first.foreground[chest].astype(int) - first.image[chest]).mean() < 6


def test_mattes_checks_its_input_at_once_and_stops_when_the_caller_does(samples, model):
    with pytest.raises(bgrm.InputError, match="input file not found"):
        bgrm.mattes("no/such/talk.mp4", model=model)  # before any iteration
    threads = threading.active_count()
    stream = bgrm.mattes(samples["talk"], downsample=0.25, batch=4, model=model)
    first = next(stream)
    assert first.pts == 0
    stream.close()  # a caller that breaks out of its loop
    assert threading.active_count() == threads  # the decoding thread is gone


@pytest.mark.parametrize(
    ("parameters", "error", "words"),
    [
        ({"downsample": 3}, bgrm.UsageError, "`downsample` must be 'auto' or a number"),
        ({"alpha": "prores", "background": "white"}, bgrm.UsageError, "`background`"),
        ({"background": "nonsense"}, bgrm.InputError, "unknown background 'nonsense'"),
        ({"batch": 0}, bgrm.UsageError, "`batch` must be"),
        ({"device": "tpu"}, bgrm.UsageError, "`device` must be auto, cpu, cuda or cuda:N"),
    ],
)
def test_bad_parameters_raise_one_line_in_parameter_words(
    samples, model, tmp_path, parameters, error, words
):
    with pytest.raises(error) as caught:
        bgrm.process(samples["talk"], tmp_path / "out.mp4", model=model, **parameters)
    message = str(caught.value)
    assert isinstance(caught.value, bgrm.BgrmError)
    assert words in message and "\n" not in message and "--" not in message
    assert list(tmp_path.iterdir()) == []  # nothing left behind


@pytest.mark.slow
def test_an_existing_output_is_kept_without_overwrite(samples, model, tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"keep me")
    with pytest.raises(bgrm.OutputError, match="pass `overwrite` to replace it"):
        bgrm.process(samples["talk"], out, model=model)
    assert out.read_bytes() == b"keep me"
    result = bgrm.process(samples["talk"], out, model=model, downsample=0.25, overwrite=True)
    assert result.frames == 120 and out.stat().st_size > 1000


@pytest.mark.slow
def test_a_progress_callback_that_raises_stops_the_job_and_leaves_nothing(samples, model, tmp_path):
    class Stop(Exception):
        pass

    def stop_at_half(done: int, total: int | None) -> None:
        if done >= 60:
            raise Stop

    with pytest.raises(Stop):
        bgrm.process(
            samples["talk"],
            tmp_path / "out.mov",
            alpha="prores",
            matte=tmp_path / "m.mkv",
            downsample=0.25,
            batch=4,
            model=model,
            on_progress=stop_at_half,
        )
    assert list(tmp_path.iterdir()) == []


def test_a_job_is_plain_data_that_round_trips_through_json(tmp_path):
    job = bgrm.Job(Path("in/talk.mp4"), background="blur:12", matte=Path("m.mkv"), downsample="0.5")
    assert (job.input, job.matte, job.downsample) == ("in/talk.mp4", "m.mkv", 0.5)
    assert bgrm.Job.from_json(job.to_json()) == job
    assert job.output_path() == Path("in/talk.bgrm.mp4")
    assert job.reads() == {"input": Path("in/talk.mp4")}
    assert job.writes() == {"output": Path("in/talk.bgrm.mp4"), "matte": Path("m.mkv")}
    with pytest.raises(bgrm.UsageError, match="unknown job parameters: colour"):
        bgrm.Job.from_json('{"input": "a.mp4", "colour": "red"}')


@pytest.mark.slow
def test_a_model_refuses_a_job_for_another_device(samples, model, tmp_path):
    """A model loaded on one device and a job that names another: refused before any work.
    This machine may have no GPU, so the model is labelled as loaded on cuda:0 (its weights
    stay where they are: nothing runs) and the job asks for the CPU."""
    on_gpu = copy.copy(model)
    on_gpu.device = torch.device("cuda", 0)
    with pytest.raises(bgrm.UsageError, match=r"`device` cpu is not where the model was loaded"):
        bgrm.process(samples["talk"], tmp_path / "o.mp4", device="cpu", model=on_gpu)
    assert list(tmp_path.iterdir()) == []
    bgrm.process(samples["talk"], tmp_path / "o.mp4", device="cpu", downsample=0.25, model=model)
    assert (tmp_path / "o.mp4").is_file()  # the same job on the model's own device runs


def test_the_public_api_is_what_a_program_uses():
    """Plumbing for farms lives in bgrm.parts; the package says it is typed."""
    assert set(bgrm.__all__) == {
        *("Alpha", "Codec", "CompileMode", "Precision"),
        *("BgrmError", "EnvironmentProblem", "InputError", "OutputError", "UsageError"),
        *("BatchItem", "Job", "MatteFrame", "Model", "ModelName", "Result", "__version__"),
        *("Screens", "Shot"),
        *("parts", "threads"),
        *("check", "load_model", "mattes", "preview", "process", "process_many", "run"),
    }
    for name in bgrm.__all__:
        assert getattr(bgrm, name) is not None
    assert set(bgrm.parts.__all__) == {
        *("Part", "Split", "join_parts", "parts_folder", "plan_parts"),
        *("remove_leftovers", "run_part"),
    }
    assert (Path(bgrm.__file__).parent / "py.typed").is_file()
    assert typing.get_args(bgrm.Alpha) == ALPHA_FORMATS
    assert typing.get_args(bgrm.Codec) == tuple(CODECS)


def test_the_parameters_agree_across_job_process_the_cli_and_its_flag_table():
    """Every job parameter is a keyword of process (and, but for the files that name one
    output, of process_many), a CLI flag (job_flags, or --device of each command) and a row of
    the FLAGS table, and nothing more; preview takes the ones a picture needs. The model names
    are the models whose weights bgrm knows."""
    job = [field.name for field in dataclasses.fields(bgrm.Job)]
    process = list(inspect.signature(bgrm.process).parameters)
    assert process[: len(job)] == job
    assert process[len(job) :] == ["on_progress", "on_notice"]
    many = set(inspect.signature(bgrm.process_many).parameters)
    assert set(job) - many == {"input", "output", "matte"}
    cli = set(job_flags()) | {"input", "device"}
    assert cli == set(job) == set(FLAGS)
    preview = set(inspect.signature(bgrm.preview).parameters) & set(job)
    assert preview == set(job) - {"batch", "codec", "crf", "matte", "compile"}
    assert typing.get_args(bgrm.ModelName) == tuple(weights.MODELS)


def test_the_refiner_does_not_shadow_module_apply():
    network = MattingNetwork()
    seen = []
    network.apply(lambda module: seen.append(type(module).__name__))
    assert "DeepGuidedFilterRefiner" in seen and seen[-1] == "MattingNetwork"
