"""bgrm as a library, as a developer uses it: ``import bgrm`` and the public names only."""

from __future__ import annotations

import ast
import copy
import inspect
import os
import subprocess
import sys
import threading
import types
import typing
from pathlib import Path

import numpy as np
import pytest
import torch

import bgrm
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
    place = bgrm.Place.of  # where a file is: a local path or s3://bucket/key
    assert (result.output, result.matte, result.frames) == (place(out), place(matte), 120)
    assert Path(result.output) == out  # a local Place is a path
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
    assert again.output.path == folder and again.frames == 120
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
    with pytest.raises(bgrm.InputError, match="input not found"):
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
    place = bgrm.Place.of  # where a file is: a local path or s3://bucket/key
    assert job.output_path() == place("in/talk.bgrm.mp4")
    assert job.reads() == {"input": place("in/talk.mp4")}
    assert job.writes() == {"output": place("in/talk.bgrm.mp4"), "matte": place("m.mkv")}
    assert str(bgrm.Job("s3://media/talk.mp4").output_path()) == "s3://media/talk.bgrm.mp4"
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
        *("JobOptions", "ModelOptions", "Place", "Screens", "Shot"),
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


def test_the_options_of_process_are_the_job_parameters():
    """process, process_many and preview take ``**options: Unpack[JobOptions]`` (what an editor
    shows), mattes ``Unpack[ModelOptions]``: TypedDicts whose keys and types are Job's
    (a file may be a path, a model a loaded one); each option reaches the Job, whose check
    names it."""
    job = {name: hint for name, hint in typing.get_type_hints(bgrm.Job).items()}
    options = typing.get_type_hints(bgrm.JobOptions, localns={"Model": bgrm.Model})
    assert set(options) == set(job) - {"input", "output"}
    assert set(typing.get_type_hints(bgrm.ModelOptions, localns={"Model": bgrm.Model})) == {
        *("downsample", "batch", "device", "precision", "model")
    }
    for name, hint in options.items():
        widened = set(_union(hint)) - {os.PathLike, bgrm.Model}
        assert widened == set(_union(job[name])), name
    for function, typed in [
        (bgrm.process, bgrm.JobOptions),
        (bgrm.process_many, bgrm.JobOptions),
        (bgrm.preview, bgrm.JobOptions),
        (bgrm.mattes, bgrm.ModelOptions),
    ]:
        parameters = list(inspect.signature(function, eval_str=True).parameters.values())
        assert parameters[-1].kind == inspect.Parameter.VAR_KEYWORD
        assert typing.get_args(parameters[-1].annotation) == (typed,)  # Unpack[typed]
        assert not {p.name for p in parameters} & set(job) - {"input", "output"}
    calls = {
        "process": lambda **given: bgrm.process("gone.mp4", **given),
        "process_many": lambda **given: bgrm.process_many(["gone.mp4"], **given),
        "preview": lambda **given: bgrm.preview("gone.mp4", **given),
    }
    refused = {"process_many": {"matte"}, "preview": {"matte", "codec", "crf"}}
    for call, function in calls.items():
        for name in options:
            named = "`matte` names one file" if name in refused.get(call, ()) else f"`{name}`"
            if call == "preview" and name in refused["preview"]:
                named = "no `matte`, `codec` or `crf`"
            with pytest.raises(bgrm.UsageError, match=named):
                function(**{name: ["a list"]})


def _union(hint) -> tuple:
    """The types of a union (X | Y, Optional[X]), or the one type."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return typing.get_args(hint)
    return (hint,)


def test_the_worker_imports_bgrm_public_names_only():
    """bgrm_worker uses the library as any program would: ``import bgrm`` and the names of
    ``bgrm.__all__`` (its plumbing namespaces included), nothing private."""
    for source in (Path(__file__).parents[1] / "worker").glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bgrm"):
                assert node.module == "bgrm", (source.name, node.module)
                assert {alias.name for alias in node.names} <= set(bgrm.__all__), source.name
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] != "bgrm" or a.name == "bgrm" for a in node.names)
