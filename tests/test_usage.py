"""The edges a new user hits on the command line: parse errors, help pages, folders as outputs,
what `submit` refuses before queueing, leftovers of a killed run, the lines bgrm prints."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from bgrm import threads
from bgrm.job import Job
from bgrm.matting import weights as bgrm_weights
from bgrm.matting.session import open_session
from bgrm.media.formats import composite_encoding
from bgrm.media.probe import probe
from bgrm.media.writer import FrameWriter
from bgrm.threads import plan_threads, usable_cores
from tests.conftest import assert_one_line_error, bgrm, cpu_seconds, wait_for
from tests.media import make_clip, video_frames

DEAD_BROKER = {"BGRM_BROKER_URL": "redis://127.0.0.1:1/0"}  # nothing listens there


@pytest.fixture
def clip(tmp_path):
    """A small real clip with audio: 64x48, 8 frames, in its own folder."""
    (tmp_path / "in").mkdir()
    return make_clip(tmp_path / "in" / "clip.mp4", frames=8)


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["process", "{clip}", "--crf", "abc"], "--crf"),
        (["process", "{clip}", "--batch", "abc"], "--batch"),
        (["process", "{clip}", "--split", "2"], "--split"),
        (["process", "{clip}", "--frobnicate"], "--frobnicate"),
        (["process"], "INPUT"),
        (["submit", "{clip}", "--nope"], "--nope"),
        (["preview"], "INPUT"),
        (["status"], "JOB"),
        (["models", "pull", "--from"], "--from"),
        (["nosuchcommand"], "nosuchcommand"),
    ],
)
def test_a_parse_error_is_one_line_naming_the_flag(clip, args, flag):
    done = bgrm(*[arg.format(clip=clip) for arg in args])
    line = assert_one_line_error(done, 2, flag)
    assert "╭" not in done.stderr and "Usage:" not in done.stderr
    assert "--help" in line  # where to look next


def test_preview_takes_quiet_like_process(clip):
    done = bgrm("preview", str(clip.with_name("missing.mp4")), "-q")
    assert_one_line_error(done, 1, "not found")  # -q is accepted; the missing input is the error


@pytest.mark.parametrize("command", [[], ["process"], ["preview"], ["submit"], ["models"]])
def test_help_pages_name_values_not_python_types(command):
    done = bgrm(*command, "--help")
    assert done.returncode == 0, done.stderr
    page = done.stdout
    for tag in ("<bool>", "<str>", "<int>", "<float>", "<path>", "list[Path]", "{inputs}", "╭"):
        assert tag not in page, (tag, page)
    assert "--help" in page


def test_help_pages_say_what_each_command_does_with_its_output():
    process = bgrm("process", "--help").stdout
    assert "--bg SPEC" in process and "grayscale" in process and "--crf N" in process
    assert "-y, --overwrite " in process and "INPUT..." in process
    assert ".preview.png" in bgrm("preview", "--help").stdout
    submit = bgrm("submit", "--help").stdout
    assert "$BGRM_OUTPUT_ROOT" in submit.split("--output PATH")[1].split("--bg")[0]


def test_an_output_folder_takes_the_usual_name_for_one_input(clip, tmp_path, weights_file):
    """-o out/ (made if missing) and -o an existing folder without a slash: both put the one
    input's output in there under <stem>.bgrm<ext>; the `wrote` line has no `..` in it."""
    args = ["--bg", "white", "--downsample", "0.5"]
    done = bgrm("process", str(clip), "-o", f"{tmp_path}/in/../out/", *args)
    assert done.returncode == 0, done.stderr
    result = tmp_path / "out" / "clip.bgrm.mp4"
    assert len(video_frames(result)[0]) == 8
    wrote = [line for line in done.stderr.splitlines() if line.startswith("bgrm: wrote ")]
    assert len(wrote) == 1 and wrote[0].startswith(f"bgrm: wrote {result} (8 frames, "), wrote

    (tmp_path / "there").mkdir()
    done = bgrm("process", str(clip), "-o", str(tmp_path / "there"), *args, "-q")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "there").iterdir()) == ["clip.bgrm.mp4"]


def test_a_still_is_reported_without_frames(tmp_path, weights_file):
    from PIL import Image

    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), (90, 120, 40)).save(photo)
    done = bgrm("process", str(photo), "--bg", "white", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "bgrm: wrote photo.bgrm.png"


def test_a_bad_background_video_is_named_as_the_background(clip, tmp_path, weights_file):
    broken = tmp_path / "room.mp4"
    broken.write_bytes(os.urandom(30_000))
    done = bgrm("process", str(clip), "--bg", str(broken), "-o", str(tmp_path / "o.mp4"))
    assert_one_line_error(done, 1, "background video", str(broken))
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize(
    ("bg", "code", "words"),
    [
        ("#zzzzzz", 1, ["invalid background colour", "#zzzzzz"]),
        ("{tmp}/missing.jpg", 1, ["background image not found", "missing.jpg"]),
        ("{tmp}/junk.jpg", 1, ["cannot read background image", "junk.jpg"]),
        ("{tmp}/junk.mp4", 1, ["background video", "junk.mp4"]),
    ],
)
def test_submit_refuses_what_would_fail_before_queueing(clip, tmp_path, bg, code, words):
    """The broker is unreachable: a job that got as far as queueing would say so instead."""
    (tmp_path / "junk.jpg").write_bytes(b"not a picture")
    (tmp_path / "junk.mp4").write_bytes(os.urandom(20_000))
    out = str(tmp_path / "o.mp4")
    done = bgrm("submit", str(clip), "--bg", bg.format(tmp=tmp_path), "-o", out, env=DEAD_BROKER)
    assert_one_line_error(done, code, *words)


def test_submit_refuses_an_existing_output_and_a_missing_input(clip, tmp_path):
    taken = tmp_path / "taken.mp4"
    taken.write_bytes(b"")
    done = bgrm("submit", str(clip), "-o", str(taken), env=DEAD_BROKER)
    assert_one_line_error(done, 1, "output exists", "-y")
    done = bgrm(
        "submit", str(tmp_path / "gone.mp4"), "-o", str(tmp_path / "x.mp4"), env=DEAD_BROKER
    )
    assert_one_line_error(done, 1, "not found")
    done = bgrm("submit", str(clip), "-o", str(tmp_path / "x.mp4"), env=DEAD_BROKER)
    assert_one_line_error(done, 3, "127.0.0.1:1")  # a good job gets as far as the queue


def test_a_broker_that_is_not_a_url_is_named(clip):
    done = bgrm("status", "some-id", env={"BGRM_BROKER_URL": "notaurl"})
    assert_one_line_error(done, 2, "BGRM_BROKER_URL", "notaurl")


def test_a_killed_runs_leftover_goes_at_the_next_run_a_live_ones_stays(clip, tmp_path):
    """A temp file whose writer (pid@host in its name) is gone is removed by the next run of
    the same output, even one that --skip-existing skips; one a live process writes stays."""
    out = tmp_path / "out.mp4"
    out.write_bytes(b"done before")  # a complete output (outputs appear only by a rename)
    host = socket.gethostname()
    with subprocess.Popen([sys.executable, "-c", "pass"]) as gone:
        gone.wait()
    dead = tmp_path / f".out.part-{gone.pid}@{host}-0123abcd.mp4"
    live = tmp_path / f".out.part-{os.getpid()}@{host}-4567cdef.mp4"
    for leftover in (dead, live):
        leftover.write_bytes(b"half")
    done = bgrm("process", str(clip), "-o", str(out), "--skip-existing")
    assert done.returncode == 0, done.stderr
    assert "skipped" in done.stderr and out.read_bytes() == b"done before"
    assert not dead.exists() and live.exists()


@contextlib.contextmanager
def a_busy_core() -> Iterator[None]:
    """Another process spinning on one core, under way (a fifth of a CPU second spent) before
    the block runs, so that bgrm's sample of the load sees it; stopped after the block."""
    with subprocess.Popen([sys.executable, "-c", "while True: pass"]) as spinner:
        try:
            wait_for(
                lambda: cpu_seconds(spinner.pid) > 0.2,
                "another process to keep a core busy",
                timeout=30,
                alive=lambda: spinner.poll() is None,
            )
            yield
        finally:
            spinner.kill()


def test_a_busy_machine_gets_fewer_torch_threads_and_is_told(clip, tmp_path, weights_file):
    """Another process keeps a core busy: bgrm measures that before the job, gives torch the
    cores left (not one per core, which would fight that process) and says so."""
    if usable_cores() < 2:
        pytest.skip("one core: nothing to leave to the other process")
    with a_busy_core():
        args = ["--bg", "white", "-o", str(tmp_path / "o.mp4"), "--downsample", "0.5"]
        done = bgrm("process", str(clip), *args, env={"BGRM_THREADS": ""})
    assert done.returncode == 0, done.stderr
    busy = [line for line in done.stderr.splitlines() if "the machine is busy" in line]
    assert len(busy) == 1 and "torch thread(s)" in busy[0], done.stderr
    threads = int(busy[0].split("busy: ")[1].split()[0])
    assert 1 <= threads < usable_cores()


LIBRARY_AFTER_TORCH = """
import sys, torch  # loaded first, as a user's script may: bgrm cannot choose OpenMP's wait
import bgrm
result = bgrm.process(sys.argv[1], sys.argv[2], background="white", downsample=0.5)
print(torch.get_num_threads())
print("\\n".join(result.notices))
"""


def test_a_library_call_fits_its_threads_like_the_cli(clip, tmp_path, weights_file):
    """A script that imported torch before bgrm, on a machine with a core busy: the call itself
    measures the load, gives torch the cores left and tells ``on_notice`` (it ran 4x slower
    than the CLI when it kept one thread per core)."""
    if usable_cores() < 2:
        pytest.skip("one core: nothing to leave to the other process")
    environment = {k: v for k, v in os.environ.items() if k != "BGRM_THREADS"}
    with a_busy_core():
        done = subprocess.run(
            [sys.executable, "-c", LIBRARY_AFTER_TORCH, str(clip), str(tmp_path / "o.mp4")],
            capture_output=True,
            text=True,
            env=environment,
        )
    assert done.returncode == 0, done.stderr
    threads, *notices = done.stdout.splitlines()
    assert 1 <= int(threads) < usable_cores()
    busy = [line for line in notices if line.startswith("the machine is busy")]
    assert len(busy) == 1 and f"{threads} torch thread(s)" in busy[0], notices


@pytest.mark.skipif(os.geteuid() != 0, reason="SVT-AV1 raises its threads only for root")
def test_an_av1_encoder_leaves_every_thread_in_the_normal_class(clip, tmp_path):
    """SVT-AV1, opened by root, makes the opening thread and its own realtime (SCHED_FIFO 99);
    a realtime thread that computes starves normal ones, and children inherit the class."""
    info = probe(clip)
    target = tmp_path / "o.mkv"
    with FrameWriter(target, info, composite_encoding(target, "av1")) as writer:
        for pts in range(3):
            writer.write(np.zeros((info.height, info.width, 3), np.uint8), pts)
        policies = [os.sched_getscheduler(int(t)) for t in os.listdir("/proc/self/task")]
    assert len(policies) > 1  # the encoder's threads were running
    assert set(policies) == {os.SCHED_OTHER}
    assert len(video_frames(target)[0]) == 3


@pytest.mark.parametrize(
    ("busy", "setting", "first", "policy"),
    [
        (1.0, {}, "", "PASSIVE"),  # another process keeps a core busy: idle threads sleep
        (0.1, {}, "", "None"),  # a quiet machine: OpenMP's own spinning, which is faster
        (1.0, {}, "import torch;", "None"),  # too late: OpenMP has read its setting
        (1.0, {"OMP_WAIT_POLICY": "ACTIVE"}, "", "ACTIVE"),  # the user's choice stays
        (1.0, {"BGRM_THREADS": "1"}, "", "None"),  # a fixed thread count measures nothing
    ],
)
def test_idle_openmp_threads_sleep_only_on_a_busy_machine(busy, setting, first, policy):
    code = (
        f"import os; {first} from bgrm.threads import choose_waiting; "
        f"choose_waiting({busy}); print(os.environ.get('OMP_WAIT_POLICY'))"
    )
    environment = {
        k: v for k, v in os.environ.items() if k not in ("BGRM_THREADS", "OMP_WAIT_POLICY")
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=environment | setting,
        check=True,
    )
    assert done.stdout.strip() == policy


def test_the_queue_commands_do_not_sample_the_machine():
    """`bgrm submit`, `status` and `cancel` import the queue's package and client: that samples
    no CPU load (a quarter of a second, and OpenMP's setting, are a worker's business: `bgrm
    worker` chooses as it starts)."""
    code = (
        "import bgrm.threads as threads; "
        "threads.choose_waiting = lambda *args, **kwargs: print('sampled'); "
        "threads.fit_threads = lambda *args, **kwargs: print('sampled'); "
        "import bgrm_worker, bgrm_worker.client, bgrm._cli.queue; print('imported')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["imported"]


def test_thread_plans_leave_busy_cores_alone():
    assert plan_threads(2, 0.0).threads == 2
    assert plan_threads(2, 0.9).threads == 1
    assert plan_threads(2, 2.0).threads == 1  # never none
    assert plan_threads(8, 2.6).threads == 5
    # a core left to the job's own codec is no busy machine
    assert plan_threads(2, 0.0, codec=1).threads == 1
    assert not plan_threads(2, 0.0, codec=1).leaves_cores
    assert plan_threads(1, 0.0, codec=1).threads == 1
    assert plan_threads(8, 2.6, codec=1).threads == 4
    assert plan_threads(8, 2.6, codec=1).leaves_cores


@pytest.mark.parametrize("model", ["rvm", "selfie"])
def test_the_selfie_model_leaves_a_core_to_the_codec(model, clip, monkeypatch, weights_file):
    """On a quiet machine RVM's job takes every core for torch (its network is most of a
    frame's work); the selfie model's leaves one to its encoder, which is as much of the work
    (with two torch threads on two cores it ran at 15 frames/s against 20 with one)."""
    if not bgrm_weights.weights_path(model).is_file():
        bgrm_weights.pull(model=model)
    monkeypatch.setattr(threads, "busy_cores", lambda *args: 0.0)
    monkeypatch.delenv("BGRM_THREADS")  # measured, as a user's job is
    before = torch.get_num_threads()
    notices = []
    try:
        job = Job(input=str(clip), model=model)
        open_session(job, probe(clip), None, notices.append)
        fitted = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    usable = usable_cores()
    assert fitted == (usable if model == "rvm" else max(1, usable - 1))
    assert not [n for n in notices if "busy" in n]


def test_a_cgroup_quota_caps_the_usable_cores(tmp_path):
    """Containers limit CPU by a quota, not by affinity (the cgroup files written here)."""
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # one and a half cores
    assert usable_cores(tmp_path) == min(2, len(os.sched_getaffinity(0)))
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert usable_cores(tmp_path) == len(os.sched_getaffinity(0))
