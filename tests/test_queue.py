"""The job queue end to end: real Redis (a database of this run's own, see conftest.redis_url),
real `bgrm worker` processes, real jobs.

Every command runs as a user runs it (`python -m bgrm submit|status|cancel|worker`); workers are
started with the BGRM_* variables and stopped (SIGTERM, then SIGKILL) by the fixtures.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import bgrm, leftovers, wait_for
from tests.media import loop_clip
from tests.queue import (
    SEND_EACH_KIND,
    SLOW,
    Worker,
    kill_the_worker_running,
    status,
    submit,
    wait_until,
)

pytestmark = pytest.mark.slow  # real workers, started per module

LONG_FRAMES = 240  # the talk sample twice
FAST = ["--downsample", "0.25"]


@pytest.fixture(scope="module")
def roots(tmp_path_factory, samples) -> dict[str, Path]:
    """in/ (talk.mp4, long.mp4, background.jpg), out/, and outside/ (a folder no job may use)."""
    base = tmp_path_factory.mktemp("queue")
    folders = {name: base / name for name in ("in", "out", "outside")}
    for folder in folders.values():
        folder.mkdir()
    shutil.copy(samples["talk"], folders["in"] / "talk.mp4")
    shutil.copy(samples["background"], folders["in"] / "background.jpg")
    loop_clip(samples["talk"], folders["in"] / "long.mp4", times=2)
    return folders


@pytest.fixture(scope="module")
def queue_env(redis_url, roots) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BGRM_")}
    env["BGRM_HOME"] = os.environ.get("BGRM_HOME", "")  # the weights cache, if moved
    env.update(
        BGRM_BROKER_URL=redis_url,
        BGRM_INPUT_ROOTS=str(roots["in"]),
        BGRM_OUTPUT_ROOT=str(roots["out"]),
    )
    return {k: v for k, v in env.items() if v}


@pytest.fixture
def start_worker(queue_env, tmp_path):
    """start_worker(name, cwd=None, **env) -> a started Worker (env "" unsets a variable);
    all are stopped at the end of the test."""
    started: list[Worker] = []

    def start(name: str, cwd: Path | None = None, **extra_env: str) -> Worker:
        env = {k: v for k, v in {**queue_env, **extra_env}.items() if v}
        worker = Worker(name, env, tmp_path / f"{name}.log", cwd)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture(scope="module")
def worker(queue_env, weights_file, tmp_path_factory):
    """One worker on the default queue, shared by the tests of this module."""
    shared = Worker("shared", queue_env, tmp_path_factory.mktemp("logs") / "shared.log")
    try:
        shared.wait_for(f"{shared.name} ready.")
        yield shared
    finally:
        shared.stop()


def frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_submit_wait_prints_the_id_and_writes_the_output(worker, queue_env, roots):
    out = roots["out"] / "talk.mp4"
    done = bgrm("submit", str(roots["in"] / "talk.mp4"), "--bg", "#1e1e1e", "-o", str(out),
                *FAST, "--wait", env=queue_env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip().splitlines()[-1]
    assert f"wrote {out} (120 frames" in done.stderr
    assert frame_count(out) == 120

    report = status(queue_env, job_id)
    assert report["state"] == "SUCCESS" and report["output"] == str(out)
    assert report["progress"]["done"] == report["progress"]["total"] == 120
    assert report["worker"] == worker.name
    text = bgrm("status", job_id, env=queue_env).stdout
    assert "SUCCESS" in text and "frames: 120/120" in text and str(out) in text
    assert f"job {job_id} done: {out}, 120 frames" in worker.log()


def test_celery_inspect_ping_sees_the_worker(worker, queue_env):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bgrm_worker.app",
            "inspect",
            "ping",
            "-d",
            worker.name,
        ],
        capture_output=True,
        text=True,
        env=queue_env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"{worker.name}: OK" in done.stdout


def test_progress_is_reported_and_cancel_stops_running_and_queued_jobs(worker, queue_env, roots):
    running = submit(
        queue_env, str(roots["in"] / "long.mp4"), "-o", str(roots["out"] / "long.mp4"), *SLOW
    )
    queued = submit(queue_env, str(roots["in"] / "talk.mp4"), "-o", str(roots["out"] / "q.mp4"))

    assert status(queue_env, queued)["state"] == "PENDING"  # the only worker is busy
    assert bgrm("cancel", queued, env=queue_env).returncode == 0
    assert status(queue_env, queued)["state"] == "REVOKED"

    report = wait_until(
        queue_env, running, lambda r: r["state"] == "PROGRESS" and r["progress"]["done"] > 0
    )
    assert report["progress"]["total"] == LONG_FRAMES
    assert report["progress"]["done"] < LONG_FRAMES and report["progress"]["fps"] > 0
    cancelled = bgrm("cancel", running, env=queue_env)
    assert cancelled.returncode == 0 and "was PROGRESS" in cancelled.stderr

    report = wait_until(queue_env, running, lambda r: r["state"] == "REVOKED", timeout=60)
    assert report["error"] == "job cancelled; no output written"
    again = bgrm("submit", "--wait", str(roots["in"] / "talk.mp4"), *FAST, env=queue_env)
    assert again.returncode == 0, again.stderr  # the worker went on to the next job
    assert f"job {queued} started" not in worker.log()
    assert not (roots["out"] / "long.mp4").exists() and not (roots["out"] / "q.mp4").exists()
    assert not list(roots["out"].glob(".long*"))  # the cancelled run removed its temp file


def test_bad_input_fails_once_with_the_cli_message_and_the_worker_goes_on(worker, queue_env, roots):
    junk = roots["in"] / "junk.mp4"
    junk.write_bytes(os.urandom(20_000))
    talk = roots["in"] / "talk.mp4"
    out = roots["out"] / "bad.mp4"
    for source, extra in [(junk, []), (talk, ["--bg", "nonsense"]), (talk, ["--downsample", "0"])]:
        cli = bgrm("process", str(source), "-o", str(out), *extra, env=queue_env)
        queued = bgrm("submit", str(source), "-o", str(out), *extra, "--wait", env=queue_env)
        assert cli.returncode != 0 and queued.returncode == cli.returncode, queued.stderr
        assert queued.stderr.strip().splitlines()[-1] == cli.stderr.strip()
        assert cli.stderr.startswith("bgrm: error: ")
        assert not out.exists() and not list(roots["out"].glob(".bad*"))
    assert "Retry" not in worker.log()  # bad input is not retried

    good = bgrm("submit", str(talk), "-o", str(out), *FAST, "--wait", env=queue_env)
    assert good.returncode == 0, good.stderr
    assert frame_count(out) == 120


def _escapes(roots: dict[str, Path]) -> dict[str, tuple[list[str], str]]:
    """Jobs that would read or write outside the roots -> (submit args, expected message)."""
    inside, out, outside = roots["in"], roots["out"], roots["outside"]
    shutil.copy(inside / "talk.mp4", outside / "secret.mp4")
    shutil.copy(inside / "background.jpg", outside / "secret.jpg")
    (inside / "link.mp4").unlink(missing_ok=True)
    (inside / "link.mp4").symlink_to(outside / "secret.mp4")
    (out / "link").unlink(missing_ok=True)
    (out / "link").symlink_to(outside, target_is_directory=True)
    talk = str(inside / "talk.mp4")
    return {
        "input outside": ([str(outside / "secret.mp4"), "-o", str(out / "x.mp4")], "may read"),
        "input via ..": ([f"{inside}/../outside/secret.mp4", "-o", str(out / "x.mp4")], "may read"),
        "input via symlink": ([str(inside / "link.mp4"), "-o", str(out / "x.mp4")], "may read"),
        "output outside": ([talk, "-o", str(outside / "x.mp4")], "may write"),
        "output via ..": ([talk, "-o", f"{out}/../outside/x.mp4"], "may write"),
        "output via symlink": ([talk, "-o", str(out / "link" / "x.mp4")], "may write"),
        "background outside": (
            [talk, "-o", str(out / "x.mp4"), "--bg", str(outside / "secret.jpg")],
            "may read",
        ),
        "matte outside": (
            [talk, "-o", str(out / "x.mp4"), "--matte", str(outside / "m.mkv")],
            "may write",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "input outside",
        "input via ..",
        "input via symlink",
        "output outside",
        "output via ..",
        "output via symlink",
        "background outside",
        "matte outside",
    ],
)
def test_confinement_refuses_paths_outside_the_roots(worker, queue_env, roots, case):
    args, reason = _escapes(roots)[case]
    done = bgrm("submit", *args, *FAST, "--wait", env=queue_env)
    assert done.returncode == 1, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("bgrm: error: ") and "outside the folder" in line and reason in line
    assert leftovers(roots["outside"]) == ["secret.jpg", "secret.mp4"]  # nothing written there
    assert not (roots["out"] / "x.mp4").exists()


def test_every_task_kind_refuses_a_job_outside_the_roots(worker, queue_env, roots):
    """A client with access to Redis sends each task kind a job (JSON, as the queue carries
    it) that reads a file outside BGRM_INPUT_ROOTS and writes outside BGRM_OUTPUT_ROOT: each
    fails before touching a file (the cleanup task would otherwise remove a parts folder)."""
    outside = roots["outside"]
    shutil.copy(roots["in"] / "talk.mp4", outside / "t.mp4")
    evil = outside / "evil"
    parts = evil / ".x.mp4.probe-job-1.parts"
    parts.mkdir(parents=True, exist_ok=True)
    (parts / "keep.txt").write_text("not the worker's to remove")
    job = json.dumps({"input": str(outside / "t.mp4"), "output": str(evil / "x.mp4")})
    part = json.dumps({"index": 0, "count": 2, "start_pts": None, "end_pts": 1000})

    done = subprocess.run(
        [sys.executable, "-c", SEND_EACH_KIND, job, part],
        capture_output=True,
        text=True,
        env=queue_env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert [name for name, _, _ in reports] == [
        "bgrm.process",
        "bgrm.split",
        "bgrm.part",
        "bgrm.join",
        "bgrm.cleanup",
    ]
    for name, state, error in reports:
        assert state == "FAILURE", (name, state, error)
        assert "outside the folder" in error and "may read" in error, (name, error)
    assert sorted(p.name for p in evil.rglob("*")) == [".x.mp4.probe-job-1.parts", "keep.txt"]


def test_worker_killed_mid_job_another_finishes_it_without_running_it_twice(
    start_worker, queue_env, roots
):
    """Redis redelivers the job of a SIGKILLed worker after BGRM_VISIBILITY_TIMEOUT (5 s here).

    Both workers are up from the start: once the running job is older than the timeout, the idle
    worker is handed a copy, finds the job's lock held and puts it back for later instead of
    running it a second time; after the kill the lock lapses and that worker runs the job.
    """
    settings = dict(BGRM_QUEUE="kill-test", BGRM_VISIBILITY_TIMEOUT="5", BGRM_LOCK_TTL="4")
    env = {**queue_env, **settings}
    workers = {w.name: w for w in (start_worker("a", **settings), start_worker("b", **settings))}
    for each in workers.values():
        each.wait_for(f"{each.name} ready.")
    out = roots["out"] / "survivor.mp4"
    job_id = submit(env, str(roots["in"] / "long.mp4"), "-o", str(out), "--bg", "#1e1e1e", *SLOW)

    report = wait_until(env, job_id, lambda r: r["state"] == "PROGRESS")
    runner = workers[report["worker"]]
    other = next(w for w in workers.values() if w is not runner)
    other.wait_for(f"job {job_id} is running on another worker", timeout=60)
    assert status(env, job_id)["state"] == "PROGRESS"
    assert f"job {job_id} started" not in other.log()

    runner.process.send_signal(signal.SIGKILL)
    runner.process.wait()
    assert not out.exists()  # the killed run left no partial output at the output path

    report = wait_until(env, job_id, lambda r: r["state"] in ("SUCCESS", "FAILURE"))
    assert report["state"] == "SUCCESS", report
    assert report["worker"] == other.name
    assert frame_count(out) == LONG_FRAMES
    assert runner.log().count(f"job {job_id} started") == 1
    assert other.log().count(f"job {job_id} started") == 1
    assert not list(roots["out"].glob(".survivor*"))  # the killed run's temp file was removed


def test_a_worker_without_roots_says_it_allows_only_its_directory(start_worker, tmp_path):
    unset = {"BGRM_INPUT_ROOTS": "", "BGRM_OUTPUT_ROOT": ""}
    worker = start_worker("no-roots", cwd=tmp_path, BGRM_QUEUE="no-roots-test", **unset)
    worker.wait_for("bgrm: worker on auto:")
    line = next(x for x in worker.log().splitlines() if x.startswith("bgrm: worker on auto:"))
    here = tmp_path.resolve()
    assert f"reads only under {here}, writes only under {here}" in line
    assert "(BGRM_INPUT_ROOTS/BGRM_OUTPUT_ROOT not set)" in line


def test_a_bad_setting_or_an_unreachable_redis_is_one_clear_line(queue_env):
    done = bgrm("status", "some-id", env={**queue_env, "BGRM_VISIBILITY_TIMEOUT": "soon"})
    assert done.returncode == 2
    assert done.stderr == "bgrm: error: BGRM_VISIBILITY_TIMEOUT must be a number >= 1, got 'soon'\n"
    done = bgrm("status", "x", env={**queue_env, "BGRM_BROKER_URL": "redis://:pw@127.0.0.1:1/15"})
    assert done.returncode == 3
    assert done.stderr.startswith("bgrm: error: cannot reach the queue's Redis")
    assert "pw" not in done.stderr and "Traceback" not in done.stderr


# --- one recording split across workers ------------------------------------------------------


@pytest.fixture(scope="module")
def split_workers(queue_env, weights_file, tmp_path_factory):
    """Two workers on a queue of their own, shared by the split tests: (env, workers)."""
    env = {**queue_env, "BGRM_QUEUE": "split-test", "BGRM_THREADS": "1"}  # one pass's bits
    logs = tmp_path_factory.mktemp("split-logs")
    workers = [Worker(name, env, logs / f"{name}.log") for name in ("left", "right")]
    try:
        for each in workers:
            each.wait_for(f"{each.name} ready.")
        yield env, workers
    finally:
        for each in workers:
            each.stop()


def hidden(folder: Path, stem: str) -> list[str]:
    """Temp files and parts folders of an output named ``stem``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f".{stem}"))


def test_a_split_job_runs_on_two_workers_and_equals_one_pass(split_workers, roots):
    from tests.media import audio_packets, matte_agreement, video_frames

    env, workers = split_workers
    talk, out = roots["in"] / "talk.mp4", roots["out"]
    args = ["--matte", str(out / "split.matte.mkv"), "--downsample", "0.5"]
    done = bgrm(
        "submit", str(talk), "--split", "3", "-o", str(out / "split.mp4"), *args, "--wait", env=env
    )
    assert done.returncode == 0, done.stderr
    assert f"wrote {out / 'split.mp4'} (120 frames" in done.stderr
    job_id = done.stdout.strip().splitlines()[-1]
    report = status(env, job_id)
    assert report["state"] == "SUCCESS" and report["parts"] == {"done": 3, "total": 3}
    assert report["progress"]["done"] == report["progress"]["total"] == 120
    assert "parts: 3/3 done" in bgrm("status", job_id, env=env).stdout
    started = [w.log().count(f"part {job_id}.part-") for w in workers]
    assert all(count > 0 for count in started)  # both workers ran parts

    source_times, _ = video_frames(talk)
    times, _ = video_frames(out / "split.mp4")
    assert times == pytest.approx(source_times, abs=1e-6)
    assert audio_packets(out / "split.mp4") == audio_packets(talk)  # bit for bit, same times
    single = bgrm("process", str(talk), "-o", str(out / "single.mp4"), "--matte",
                  str(out / "single.matte.mkv"), "--downsample", "0.5", "-q", env=env)  # fmt: skip
    assert single.returncode == 0, single.stderr
    mean, worst = matte_agreement(out / "split.matte.mkv", out / "single.matte.mkv")
    assert mean <= 0.5 and worst <= 2
    assert hidden(out, "split") == []  # the parts are gone


def test_a_split_job_at_default_settings_is_the_single_pass_where_parts_meet(split_workers, roots):
    """Issue 27: a real talking head (the sample played forwards and backwards, 24 s at 30
    frames/s, stored losslessly) in two parts on two workers at default settings, against
    `bgrm process`: the matte is the single pass's, so no frame has more than 0.1% of its
    pixels off by more than 64/255 or a mean over 1/255. The parts start together, so part 2
    cannot resume part 1's state: it warms up from the first frame. (Before, its 10 s warm-up
    started cold at 2 s and left bad frames from 2.3 s after the join on: RVM's state from a
    cold start is not the single pass's.)"""
    from tests.media import bounce_clip, gray_frames, seam_frames

    env, _ = split_workers
    clip = bounce_clip(roots["in"] / "talk.mp4", roots["in"] / "seams.mp4", 720)
    out = roots["out"]
    split = ["--split", "2", "-o", str(out / "seams.mp4"), "--matte", str(out / "seams.mkv")]
    done = bgrm("submit", str(clip), *split, "--wait", timeout=1800, env=env)
    assert done.returncode == 0, done.stderr
    single = bgrm("process", str(clip), "-o", str(out / "one.mp4"), "--matte",
                  str(out / "one.mkv"), "-q", timeout=1800, env=env)  # fmt: skip
    assert single.returncode == 0, single.stderr
    far, mean = seam_frames(out / "seams.mkv", out / "one.mkv")
    assert len(far) == 720
    bad = [i for i in range(720) if far[i] > 0.001 or mean[i] > 1]
    assert bad == [], f"frames {bad}: up to {far.max():.2%} of pixels far off, mean {mean.max()}"
    _, split_matte = gray_frames(out / "seams.mkv")
    _, one_matte = gray_frames(out / "one.mkv")
    assert np.array_equal(split_matte, one_matte)


def test_cancel_stops_every_part_and_removes_them(split_workers, roots):
    env, _ = split_workers
    out = roots["out"] / "cut.mp4"
    job_id = submit(env, str(roots["in"] / "long.mp4"), "--split", "2", "-o", str(out), *SLOW)
    report = wait_until(env, job_id, lambda r: (r["progress"] or {}).get("done", 0) > 0)
    assert report["state"] == "PROGRESS" and report["parts"] == {"done": 0, "total": 2}
    cancelled = bgrm("cancel", job_id, env=env)
    assert cancelled.returncode == 0, cancelled.stderr
    report = wait_until(env, job_id, lambda r: r["state"] == "REVOKED", timeout=60)
    assert report["error"] == "job cancelled; no output written"
    wait_for(
        lambda: not hidden(roots["out"], "cut"),
        lambda: f"the parts to be removed: {hidden(roots['out'], 'cut')}",
        timeout=60,
    )
    assert not out.exists()


def test_a_bad_input_fails_a_split_job_once_with_the_usual_line(split_workers, roots):
    env, workers = split_workers
    junk = roots["in"] / "junk-split.mp4"
    junk.write_bytes(os.urandom(20_000))
    out = roots["out"] / "bad-split.mp4"
    cli = bgrm("process", str(junk), "-o", str(out), env=env)
    queued = bgrm("submit", str(junk), "--split", "4", "-o", str(out), "--wait", env=env)
    assert queued.returncode == cli.returncode == 1, queued.stderr
    assert queued.stderr.strip().splitlines()[-1] == cli.stderr.strip()
    assert not out.exists() and hidden(roots["out"], "bad-split") == []
    assert queued.stdout == ""  # refused before it was queued: no job id, nothing split
    assert all("split into" not in w.log() or str(junk) not in w.log() for w in workers)


def test_a_worker_killed_mid_part_costs_only_that_part(start_worker, queue_env, roots):
    """Redis hands the killed worker's part to the other one after BGRM_VISIBILITY_TIMEOUT."""
    from tests.media import video_frames

    settings = dict(BGRM_QUEUE="split-kill", BGRM_VISIBILITY_TIMEOUT="5", BGRM_LOCK_TTL="4")
    env = {**queue_env, **settings}
    workers = [start_worker("c", **settings), start_worker("d", **settings)]
    for each in workers:
        each.wait_for(f"{each.name} ready.")
    out = roots["out"] / "whole.mp4"
    job_id = submit(env, str(roots["in"] / "long.mp4"), "--split", "2", "-o", str(out), *SLOW)
    first = f"part {job_id}.part-0 started"
    runner, other = kill_the_worker_running(workers, first)

    report = wait_until(env, job_id, lambda r: r["ended"], timeout=300)
    assert report["state"] == "SUCCESS", report
    assert other.log().count(first) == 1  # run again, once, by the other worker
    assert (
        other.log().count(f"part {job_id}.part-1 started")
        + runner.log().count(f"part {job_id}.part-1 started")
        == 1
    )  # the part that was not killed ran once
    source_times, _ = video_frames(roots["in"] / "long.mp4")
    times, _ = video_frames(out)
    assert times == pytest.approx(source_times, abs=1e-6) and len(times) == LONG_FRAMES
    assert hidden(roots["out"], "whole") == []
