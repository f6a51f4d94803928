"""Jobs on a bucket: `bgrm process` and `bgrm submit` with s3:// inputs, backgrounds and
outputs, against a real S3 server (moto's, tests/s3.py), real workers and the real model.

A farm without a shared disk: the workers share only Redis and the bucket, each runs in an
empty folder of its own, and afterwards the bucket holds the inputs and the outputs, nothing
else (no parts, no markers, no half-uploaded objects).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest

import bgrm
from tests.conftest import bgrm as run_bgrm
from tests.conftest import wait_for
from tests.media import audio_packets, loop_clip, video_frames
from tests.queue import SEND_EACH_KIND, SLOW, Worker, kill_the_worker_running, submit, wait_until
from tests.s3 import kill_mid_upload

FAST = ["--downsample", "0.25"]


def keys(s3, bucket: str) -> list[str]:
    """Every key in the bucket (s3://name), and fail if a multipart upload was left open."""
    client, name = s3.client(), bucket.removeprefix("s3://")
    assert client.list_multipart_uploads(Bucket=name).get("Uploads", []) == []
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=name).get("Contents", []))


def upload(s3, source: Path, url: str) -> str:
    name, _, key = url.removeprefix("s3://").partition("/")
    s3.client().upload_file(str(source), name, key)
    return url


def download(s3, url: str, target: Path) -> Path:
    name, _, key = url.removeprefix("s3://").partition("/")
    s3.client().download_file(name, key, str(target))
    return target


@pytest.mark.slow
def test_process_reads_and_writes_the_bucket_like_files(s3, bucket, samples, tmp_path, scratch):
    """Input, background image, output and matte all in the bucket: the input's frames, times
    and audio; then the same command without -y is refused and touches nothing."""
    talk = upload(s3, samples["talk"], f"{bucket}/in/talk.mp4")
    room = upload(s3, samples["background"], f"{bucket}/in/room.jpg")
    out, matte = f"{bucket}/out/talk.mp4", f"{bucket}/out/talk.matte.mkv"
    args = ["process", talk, "--bg", room, "-o", out, "--matte", matte, *FAST, "-q"]
    mark = s3.mark()
    done = run_bgrm(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert keys(s3, bucket) == ["in/room.jpg", "in/talk.mp4", "out/talk.matte.mkv", "out/talk.mp4"]
    got = download(s3, out, tmp_path / "out.mp4")
    source_times, _ = video_frames(samples["talk"])
    times, _ = video_frames(got)
    assert times == pytest.approx(source_times, abs=1e-6) and len(times) == 120
    assert audio_packets(got) == audio_packets(samples["talk"])
    input_path = "/" + talk.removeprefix("s3://")
    reads = [r for r in s3.requests(mark) if r.path == input_path and r.method == "GET"]
    assert reads and all(r.range for r in reads)  # ranged reads, never a whole download
    assert list(scratch.iterdir()) == []  # the staged uploads are gone

    tag = s3.client().head_object(Bucket=bucket[5:], Key="out/talk.mp4")["ETag"]
    again = run_bgrm(*args, cwd=tmp_path)
    assert again.returncode == 1
    assert again.stderr == f"bgrm: error: output exists (pass -y to replace it): {out}\n"
    assert s3.client().head_object(Bucket=bucket[5:], Key="out/talk.mp4")["ETag"] == tag


@pytest.mark.slow
def test_default_output_frames_folder_and_video_background_in_the_bucket(
    s3, bucket, samples, tmp_path, scratch
):
    still = upload(s3, samples["background"], f"{bucket}/photo.jpg")
    talk = upload(s3, samples["talk"], f"{bucket}/talk.mp4")
    bikes = upload(s3, samples["bikes"], f"{bucket}/bikes.mp4")
    for args in (
        [still, *FAST],  # -> photo.bgrm.png beside it
        [talk, "--bg", bikes, *FAST],  # -> talk.bgrm.mp4 beside it
        [talk, "--alpha", "png", "-o", f"{bucket}/frames/", *FAST],
    ):
        done = run_bgrm("process", *args, "-q", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    found = keys(s3, bucket)
    frames = [key for key in found if key.startswith("frames/")]
    assert sorted(set(found) - set(frames)) == [
        "bikes.mp4",
        "photo.bgrm.png",
        "photo.jpg",
        "talk.bgrm.mp4",
        "talk.mp4",
    ]
    assert len(frames) == 122 and "frames/frames.json" in frames and "frames/audio.m4a" in frames
    sidecar = json.loads(
        s3.client().get_object(Bucket=bucket[5:], Key="frames/frames.json")["Body"].read()
    )
    assert len(sidecar["frames"]) == 120 and sidecar["source"] == "talk.mp4"
    times, _ = video_frames(download(s3, f"{bucket}/talk.bgrm.mp4", tmp_path / "bg.mp4"))
    assert len(times) == 120
    assert list(scratch.iterdir()) == []


def test_a_missing_object_or_an_unreachable_store_is_one_line(s3, bucket, tmp_path):
    done = run_bgrm("process", f"{bucket}/nothing.mp4", "-o", f"{bucket}/x.mp4", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (
        1,
        f"bgrm: error: input not found: {bucket}/nothing.mp4\n",
    )
    with socket.socket() as closed:  # a port that nothing listens on
        closed.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{closed.getsockname()[1]}"
    done = run_bgrm("process", f"{bucket}/in.mp4", env={"AWS_ENDPOINT_URL": endpoint}, cwd=tmp_path)
    assert done.returncode == 3
    assert done.stderr.startswith(f"bgrm: error: cannot reach the object store at {endpoint}")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert keys(s3, bucket) == []


def test_access_denied_or_a_missing_bucket_is_one_line_at_once(s3, bucket, samples, tmp_path):
    """A 403 (here to the listing that looks for an existing output) fails before any work,
    exit 1, naming the output: not the exit 3 of a passing fault that a worker retries."""
    out = f"{bucket}/out/talk.mp4"
    s3.fail(f"/{bucket[5:]}", status=403)
    done = run_bgrm("process", str(samples["talk"]), "-o", out, cwd=tmp_path)
    assert (done.returncode, done.stderr) == (
        1,
        f"bgrm: error: access denied writing the output: {out}\n",
    )
    s3.heal()
    done = run_bgrm("process", "s3://bgrm-none-here/in.mp4", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (
        1,
        "bgrm: error: the input's bucket does not exist: s3://bgrm-none-here/in.mp4\n",
    )
    assert keys(s3, bucket) == [] and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_job_stopped_midway_leaves_nothing_in_the_bucket(s3, bucket, samples, model, scratch):
    """Stopped after its first frames (as Ctrl-C or a cancel stops it): no object, no open
    multipart upload, no staged file."""
    talk = upload(s3, samples["talk"], f"{bucket}/talk.mp4")

    def stop(done: int, total: int | None) -> None:
        if done >= 40:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        bgrm.process(
            talk, f"{bucket}/out.mov", alpha="prores", matte=f"{bucket}/m.mkv",
            downsample=0.25, model=model, on_progress=stop,
        )  # fmt: skip
    assert keys(s3, bucket) == ["talk.mp4"]
    assert list(scratch.iterdir()) == []


# --- the queue on a bucket ---------------------------------------------------------------


def farm_env(redis_url: str, s3, bucket: str, queue: str, **extra: str) -> dict[str, str]:
    """A worker's (and a submitter's) environment: Redis, the bucket's roots, the S3 settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BGRM_")}
    env.update(s3.environment())
    env.update(
        BGRM_HOME=os.environ.get("BGRM_HOME", ""),
        BGRM_BROKER_URL=redis_url,
        BGRM_QUEUE=queue,
        BGRM_INPUT_ROOTS=f"{bucket}/in",
        BGRM_OUTPUT_ROOT=f"{bucket}/out",
        **extra,
    )
    return {k: v for k, v in env.items() if v}


@pytest.fixture
def workers(tmp_path):
    """start(name, env) -> a Worker in an empty folder of its own; all stopped at the end."""
    started: list[Worker] = []

    def start(name: str, env: dict[str, str]) -> Worker:
        home = tmp_path / f"{name}-cwd"
        home.mkdir()
        worker = Worker(name, env, tmp_path / f"{name}.log", cwd=home)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


class _Farm(NamedTuple):
    env: dict
    pair: list[Worker]
    staging: Path  # the machine's TMPDIR, where uploads are staged
    long: Path  # the sample looped to 240 frames
    talk: str  # its URL in the bucket
    out: str  # the output's URL


def _two_workers_and_a_long_clip(
    s3, bucket, samples, redis_url, workers, tmp_path, queue, names, *, visibility
) -> _Farm:
    """Two ready workers on the bucket with their own TMPDIR, a lock TTL of 4 s and messages
    redelivered ``visibility`` s after they were taken; the looped sample in the bucket."""
    staging = tmp_path / "tmp"
    staging.mkdir()
    settings = {"BGRM_VISIBILITY_TIMEOUT": str(visibility), "BGRM_LOCK_TTL": "4"}
    env = farm_env(redis_url, s3, bucket, queue, **settings, TMPDIR=str(staging))
    pair = [workers(name, env) for name in names]
    for each in pair:
        each.wait_for(f"{each.name} ready.")
    long = loop_clip(samples["talk"], tmp_path / "long.mp4", times=2)
    talk = upload(s3, long, f"{bucket}/in/long.mp4")
    return _Farm(env, pair, staging, long, talk, f"{bucket}/out/long.mp4")


@pytest.mark.slow
def test_a_split_job_on_two_workers_sharing_only_the_bucket_survives_a_kill(
    s3, bucket, samples, redis_url, workers, tmp_path, weights_file
):
    """Two workers in different empty folders; the one running part 0 is killed midway: the
    other runs that part again (only that part) and removes the killed run's staged upload,
    the join writes the output object and removes the parts, and the folders stay empty."""
    farm = _two_workers_and_a_long_clip(
        s3, bucket, samples, redis_url, workers, tmp_path, "s3-split", ("e", "f"), visibility=5
    )
    env, pair, staging, long, talk, out = farm
    submitter = subprocess.Popen(
        [sys.executable, "-m", "bgrm", "submit", talk, "--split", "2", "-o", out, *SLOW, "--wait"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    job_id = submitter.stdout.readline().strip()
    first = f"part {job_id}.part-0 started"
    _, other = kill_the_worker_running(pair, first, alive=lambda: submitter.poll() is None)

    _, stderr = submitter.communicate(timeout=300)
    assert submitter.returncode == 0, stderr
    assert f"wrote {out} (240 frames" in stderr
    assert other.log().count(first) == 1
    assert sum(w.log().count(f"part {job_id}.part-1 started") for w in pair) == 1
    assert keys(s3, bucket) == ["in/long.mp4", "out/long.mp4"]  # no parts, no markers
    times, _ = video_frames(download(s3, out, tmp_path / "joined.mp4"))
    assert times == pytest.approx(video_frames(long)[0], abs=1e-6)
    assert [list((tmp_path / f"{n}-cwd").iterdir()) for n in ("e", "f")] == [[], []]
    assert list(staging.iterdir()) == []
    assert "removed a stale temp file of an interrupted run" in other.log()


@pytest.mark.slow
def test_a_join_killed_while_it_uploads_leaves_nothing_once_the_job_is_done(
    s3, bucket, samples, redis_url, workers, tmp_path, weights_file
):
    """The worker running a split job's join is SIGKILLed while the output's upload hangs;
    its multipart upload (as a killed multipart upload leaves it) stays open and its staged
    files stay in TMPDIR. The join, handed to the other worker, aborts the upload, removes
    the staged files of the dead worker and writes the output."""
    # Redelivered 20 s after it was taken: the killed join's leftovers are all made by then.
    farm = _two_workers_and_a_long_clip(
        s3, bucket, samples, redis_url, workers, tmp_path, "s3-killed-join", ("j", "k"),
        visibility=20,
    )  # fmt: skip
    env, pair, staging, _, talk, out = farm
    s3.fail(f"/{out[5:]}", method="PUT", hold=120, status=500)  # the join's upload hangs
    submitter = subprocess.Popen(
        [sys.executable, "-m", "bgrm", "submit", talk, "--split", "2", "-o", out, *SLOW, "--wait"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while not (staged := list(staging.glob("*/long.mp4"))):
        assert time.monotonic() < deadline and submitter.poll() is None, "no join started"
        time.sleep(0.1)
    time.sleep(1)  # the joined file is written in a moment (packets copied); then the PUT
    writer = int(staged[0].parent.name.split("part-")[1].split("@")[0])
    joiner = next(w for w in pair if w.process.pid == writer)
    joiner.process.kill()
    joiner.process.wait()
    s3.heal()
    kill_mid_upload(s3, out, env)  # what a join killed in a multipart upload leaves as well
    assert len(list(staging.iterdir())) == 2

    _, stderr = submitter.communicate(timeout=300)
    assert submitter.returncode == 0, stderr
    other = next(w for w in pair if w is not joiner)
    assert keys(s3, bucket) == ["in/long.mp4", "out/long.mp4"]  # and no upload open
    assert list(staging.iterdir()) == []
    assert f"aborted the incomplete upload of an interrupted run: {out}" in other.log()
    times, _ = video_frames(download(s3, out, tmp_path / "joined.mp4"))
    assert len(times) == 240


@pytest.mark.slow
def test_cancel_removes_the_parts_from_the_bucket(
    s3, bucket, samples, redis_url, workers, tmp_path, weights_file
):
    env = farm_env(redis_url, s3, bucket, "s3-cancel")
    worker = workers("h", env)
    long = upload(s3, loop_clip(samples["talk"], tmp_path / "long.mp4", 2), f"{bucket}/in/long.mp4")
    worker.wait_for(f"{worker.name} ready.")
    job_id = submit(env, long, "--split", "2", "-o", f"{bucket}/out/cut.mp4", *SLOW)
    wait_until(env, job_id, lambda r: (r["parts"] or {}).get("done", 0) > 0)  # one uploaded
    assert any(key.startswith("out/.cut.mp4.") for key in keys(s3, bucket))
    cancelled = run_bgrm("cancel", job_id, env=env)
    assert cancelled.returncode == 0, cancelled.stderr
    wait_until(env, job_id, lambda r: r["state"] == "REVOKED", timeout=60)
    wait_for(
        lambda: keys(s3, bucket) == ["in/long.mp4"],
        lambda: f"the parts to be removed: {keys(s3, bucket)}",
        timeout=60,
    )


@pytest.mark.slow
def test_every_task_kind_refuses_another_bucket_or_prefix(
    s3, bucket, samples, redis_url, workers, tmp_path, weights_file
):
    """A client with access to Redis sends each task kind a job reading and writing outside
    the worker's URL roots: each fails before it reads or writes (or removes) an object."""
    env = farm_env(redis_url, s3, bucket, "s3-confine")
    worker = workers("g", env)
    other = f"s3://{bucket[5:]}-other"
    s3.client().create_bucket(Bucket=other[5:])
    parts = f"{other}/out/.x.mp4.probe-job-1.parts/keep.txt"
    for url in (f"{other}/in/t.mp4", f"{bucket}/in2/t.mp4", parts):
        upload(s3, samples["talk"], url)
    part = json.dumps({"index": 0, "count": 2, "start_pts": None, "end_pts": 1000})
    worker.wait_for(f"{worker.name} ready.")
    for source, target in (
        (f"{other}/in/t.mp4", f"{other}/out/x.mp4"),  # another bucket
        (f"{bucket}/in2/t.mp4", f"{bucket}/in/x.mp4"),  # a prefix beside the roots, and in/
    ):
        job = json.dumps({"input": source, "output": target})
        done = subprocess.run(
            [sys.executable, "-c", SEND_EACH_KIND, job, part],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        reports = [json.loads(line) for line in done.stdout.splitlines()]
        assert len(reports) == 5
        for name, state, error in reports:
            assert state == "FAILURE", (name, state, error)
            assert "outside the folder" in error and "may read" in error, (name, error)
    assert keys(s3, other) == ["in/t.mp4", "out/.x.mp4.probe-job-1.parts/keep.txt"]
    assert keys(s3, bucket) == ["in2/t.mp4"]
