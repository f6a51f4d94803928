"""bgrm.storage: local paths and s3:// URLs, against a real S3 server (moto's, on 127.0.0.1).

Reading: PyAV decodes an object through ``open_read`` to the same frames and timestamps as the
file, and a part of a long clip fetches only the bytes around its frames. Writing: an encode
appears at its key only when the block succeeds; a failure leaves no object, no multipart
upload and no local temp; an existing key is refused. Folders commit with their sidecar last.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import uuid
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import bgrm
from bgrm import Place, buckets, storage
from bgrm.errors import EnvironmentProblem, InputError, OutputError, UsageError
from bgrm.parts import parts_folder, remove_leftovers
from bgrm_bench.process import make_clip
from bgrm_worker.confine import inside
from tests.s3 import S3Server, bytes_sent, kill_mid_upload

# ---- names and confinement (no server) ----


def test_a_url_has_names_like_a_path():
    out = Place.of("s3://media/out/talk.mp4")
    assert (out.scheme, out.bucket, out.key) == ("s3", "media", "out/talk.mp4")
    assert (out.name, out.stem, out.suffix) == ("talk.mp4", "talk", ".mp4")
    assert str(out.parent) == "s3://media/out"
    assert str(out.parent.parent) == "s3://media/"
    assert str(out.with_name(f"{out.stem}.bgrm{out.suffix}")) == "s3://media/out/talk.bgrm.mp4"
    parts = out.with_name(f".{out.name}.job42.parts")
    assert str(parts / "part-0001.0.mp4") == "s3://media/out/.talk.mp4.job42.parts/part-0001.0.mp4"
    assert Place.of("s3://media/out/") == Place.of("s3://media/out")
    assert str(Place.of("s3://media/") / "a.mp4") == "s3://media/a.mp4"


def test_a_local_path_stays_a_path(tmp_path):
    here = Place.of(tmp_path / "in.mp4")
    assert not here.is_url and here.path == tmp_path / "in.mp4"
    assert here.with_name("in.bgrm.mp4").path == tmp_path / "in.bgrm.mp4"
    assert (here.parent / "x.png").path == tmp_path / "x.png"
    here.path.write_bytes(b"x")
    with open(here, "rb") as file:  # a local Place is a path
        assert file.read() == b"x" and Path(here) == tmp_path / "in.mp4"
    with pytest.raises(ValueError):
        Place.of("s3://media/x").path  # noqa: B018
    with pytest.raises(TypeError, match="no local path"):
        os.fspath(Place.of("s3://media/x"))


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("s3://media/in/../secret.mp4", "without empty, . or .. parts"),
        ("s3://media/./in.mp4", "without empty, . or .. parts"),
        ("s3://media/in//x.mp4", "without empty, . or .. parts"),
        ("s3:///in.mp4", "needs a bucket"),
        ("http://example.invalid/in.mp4", "unsupported URL scheme http://"),
    ],
)
def test_unusable_urls_are_refused_in_one_line(url, problem):
    with pytest.raises(UsageError, match=problem) as error:
        Place.of(url)
    assert url in str(error.value) and "\n" not in str(error.value)


def test_inside_roots_by_whole_segments(tmp_path):
    roots = ["s3://media/in", tmp_path / "in"]
    assert inside("s3://media/in/a.mp4", roots)
    assert inside("s3://media/in/deep/a.mp4", roots)
    assert inside("s3://media/in", roots)
    assert not inside("s3://media/in2/a.mp4", roots)
    assert not inside("s3://media/ina.mp4", roots)
    assert not inside("s3://other/in/a.mp4", roots)
    assert not inside("gs://media/in/a.mp4", roots)
    assert inside("s3://media/x/y.mp4", ["s3://media"])  # a whole bucket
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "link").symlink_to(tmp_path)
    assert inside(tmp_path / "in" / "a.mp4", roots)
    assert not inside(tmp_path / "in" / ".." / "a.mp4", roots)
    assert not inside(tmp_path / "in" / "link" / "a.mp4", roots)
    assert not inside(tmp_path / "in" / "a.mp4", ["s3://media/in"])


def test_import_bgrm_leaves_the_object_store_library_out():
    code = (
        "import sys, bgrm; bgrm.Place.of('s3://media/a.mp4');"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('obstore', 'boto3')"
        " or m == 'bgrm.buckets'))"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "[]"


# ---- local files (no server) ----


def test_a_local_write_appears_only_on_success(tmp_path):
    target = tmp_path / "out.mp4"
    with storage.write(target) as temp:
        assert temp.parent == tmp_path and temp.name.startswith(".out.part-")
        temp.write_bytes(b"done")
        assert not target.exists()
    assert target.read_bytes() == b"done"
    with pytest.raises(OutputError, match=f"output exists .*: {target}"), storage.write(target):
        pytest.fail("the block runs for an existing target")
    with pytest.raises(RuntimeError), storage.write(target, overwrite=True) as temp:
        temp.write_bytes(b"half")
        raise RuntimeError("encoder died")
    assert target.read_bytes() == b"done"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]
    with pytest.raises(InputError, match=f"input not found: {tmp_path / 'no.mp4'}"):
        Place.of(tmp_path / "no.mp4").open()


# ---- reading from the server ----


@pytest.fixture
def few_retries(monkeypatch):
    """The store's retries cut to one quick one: for tests of what happens when they run out."""
    monkeypatch.setattr(buckets, "RETRIES", {"max_retries": 1, "retry_timeout": timedelta(1)})
    buckets._store_for.cache_clear()
    yield
    buckets._store_for.cache_clear()


def _frames(source) -> list[tuple[int, np.ndarray]]:
    with av.open(source) as container:
        return [(f.pts, f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]


def _upload(s3: S3Server, url: str, path: Path) -> None:
    location = Place.of(url)
    s3.client().upload_file(str(path), location.bucket, location.key)


def test_pyav_decodes_an_object_to_the_same_frames(s3, bucket, samples):
    talk = samples["talk"]
    _upload(s3, f"{bucket}/in/talk.mp4", talk)
    mark = s3.mark()
    with Place.of(f"{bucket}/in/talk.mp4").open() as file:
        remote = _frames(file)
    local = _frames(str(talk))
    assert len(remote) == len(local) == 120
    assert [pts for pts, _ in remote] == [pts for pts, _ in local]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(remote, local, strict=True))
    fetched = bytes_sent(s3.requests(mark), _path(bucket, "in/talk.mp4"))
    size = talk.stat().st_size
    assert size <= fetched <= size + buckets.READ_BLOCK  # each block about once


def _path(bucket: str, key: str) -> str:
    """The request path of ``key`` in ``bucket`` (as the server logs it)."""
    return f"/{Place.of(bucket).bucket}/{key}"


def test_a_missing_object_is_one_input_error(s3, bucket):
    with pytest.raises(InputError) as error:
        Place.of(f"{bucket}/in/missing.mp4").open()
    assert str(error.value) == f"input not found: {bucket}/in/missing.mp4"
    assert not Place.of(f"{bucket}/in/missing.mp4").exists()


def test_a_missing_bucket_is_named_as_such(s3, bucket):
    """Not "not found": a 404 in a bucket that does not exist says so (reading or writing)."""
    none = "s3://bgrm-none-here"
    with pytest.raises(InputError, match=f"^the background's bucket does not exist: {none}/r"):
        Place.of(f"{none}/room.jpg").open("background")
    with pytest.raises(InputError, match=f"^the input's bucket does not exist: {none}/in.mp4$"):
        Place.of(f"{none}/in.mp4").size()
    with (
        pytest.raises(OutputError, match=f"^the output's bucket does not exist: {none}/o.mp4$"),
        storage.write(f"{none}/o.mp4") as temp,
    ):
        temp.write_bytes(b"1")


def test_an_unreachable_endpoint_names_it(s3, monkeypatch, few_retries):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed)
    with pytest.raises(EnvironmentProblem) as error:
        Place.of("s3://media/in.mp4").open()
    assert str(error.value) == f"cannot reach the object store at {closed}: s3://media/in.mp4"


def test_missing_credentials_are_an_environment_problem(s3, bucket, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(EnvironmentProblem, match=f"no credentials .* at {s3.endpoint} .*AWS_"):
        Place.of(f"{bucket}/in.mp4").open()


def test_a_store_lost_mid_read_is_an_environment_problem(
    tmp_path, monkeypatch, samples, few_retries
):
    """Not damage to step over: the decoder sees the error, the worker retries the job."""
    server = S3Server(tmp_path / "requests.jsonl").start()
    try:
        for name, value in server.environment().items():
            monkeypatch.setenv(name, value)
        server.client().create_bucket(Bucket="media")
        _upload(server, "s3://media/talk.mp4", samples["talk"])
        file = Place.of("s3://media/talk.mp4").open(block=64 << 10)
        container = av.open(file)
        next(container.decode(video=0))
    finally:
        server.stop()
    with container, pytest.raises(EnvironmentProblem, match="^cannot reach the object store"):
        for _ in container.decode(video=0):
            pass


def test_an_unconfigured_store_says_so_in_one_line(monkeypatch):
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_NAME", raising=False)
    with pytest.raises(EnvironmentProblem, match="Azure Blob Storage .*: az://media/a.mp4$"):
        Place.of("az://media/a.mp4").open()


def test_access_denied_and_rejected_credentials(tmp_path, monkeypatch):
    """A server that checks IAM policies: the worker's key may use one bucket only."""
    server = S3Server(tmp_path / "requests.jsonl", free_requests=6).start()
    try:
        admin = server.client()
        admin.create_bucket(Bucket="media")
        admin.create_bucket(Bucket="secret")
        admin.put_object(Bucket="secret", Key="x.mp4", Body=b"1")
        key = _key_for_one_bucket(server, "media")
        for name, value in (server.environment() | key).items():
            monkeypatch.setenv(name, value)
        storage.write_bytes("s3://media/ok.txt", b"ok")
        assert Place.of("s3://media/ok.txt").read_bytes() == b"ok"
        with pytest.raises(InputError, match="^access denied reading the input: s3://secret/x"):
            Place.of("s3://secret/x.mp4").open()
        with (
            pytest.raises(OutputError, match="^access denied writing the output: s3://secret/y"),
            storage.write("s3://secret/y.mp4") as temp,
        ):
            temp.write_bytes(b"1")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
        with pytest.raises(EnvironmentProblem, match=f"at {server.endpoint} rejected the cred"):
            Place.of("s3://media/ok.txt").read_bytes()
    finally:
        server.stop()


def _key_for_one_bucket(server: S3Server, bucket: str) -> dict[str, str]:
    """An IAM user allowed everything on ``bucket`` and nothing else: its key, as variables."""
    import boto3

    iam = boto3.client("iam", **_client_settings(server))
    iam.create_user(UserName="worker")
    resources = [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    policy = {"Effect": "Allow", "Action": "s3:*", "Resource": resources}
    iam.put_user_policy(
        UserName="worker",
        PolicyName="one-bucket",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [policy]}),
    )
    key = iam.create_access_key(UserName="worker")["AccessKey"]
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }


def _client_settings(server: S3Server) -> dict[str, str]:
    env = server.environment()
    return {
        "endpoint_url": env["AWS_ENDPOINT_URL"],
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        "region_name": env["AWS_REGION"],
    }


# ---- writing to the server ----


def _encode(path: Path, frames: int = 24, options: dict[str, str] | None = None) -> None:
    """A small H.264 clip of a moving gradient (the muxer is picked by the suffix)."""
    with av.open(str(path), "w", options=options or {}) as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            rgb = np.full((48, 64, 3), (i * 10) % 256, np.uint8)
            rgb[:, : (i % 64)] = 255
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def _keys(s3: S3Server, bucket: str) -> list[str]:
    listing = s3.client().list_objects_v2(Bucket=Place.of(bucket).bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def _uploads_in_progress(s3: S3Server, bucket: str) -> list[str]:
    listing = s3.client().list_multipart_uploads(Bucket=Place.of(bucket).bucket)
    return [upload["Key"] for upload in listing.get("Uploads", [])]


@pytest.mark.parametrize(
    ("name", "options"), [("out.mp4", {"movflags": "+faststart"}), ("out.mkv", None)]
)
def test_an_encode_appears_only_when_it_succeeds(s3, bucket, scratch, name, options):
    url = f"{bucket}/out/{name}"
    with storage.write(url) as temp:
        assert temp.suffix == Path(name).suffix
        _encode(temp, options=options)
        assert not Place.of(url).exists()
    assert _keys(s3, bucket) == [f"out/{name}"]
    with Place.of(url).open() as file, av.open(file) as container:
        times = [frame.time for frame in container.decode(video=0)]
    assert times == pytest.approx([i / 25 for i in range(24)])
    head = Place.of(url).open().read(4096)
    if name.endswith(".mp4"):
        assert b"moov" in head  # the index first: a player can start before the end arrives
    assert list(scratch.iterdir()) == []


def test_a_failed_write_leaves_nothing_anywhere(s3, bucket, scratch):
    url = f"{bucket}/out/failed.mp4"
    with pytest.raises(RuntimeError, match="encoder died"), storage.write(url) as temp:
        _encode(temp, frames=8)
        raise RuntimeError("encoder died")
    assert _keys(s3, bucket) == []
    assert _uploads_in_progress(s3, bucket) == []
    assert list(scratch.iterdir()) == []


def test_a_large_file_goes_up_in_parts(s3, bucket, scratch, monkeypatch):
    monkeypatch.setattr(buckets, "UPLOAD_PART", 5 << 20)  # S3's smallest part
    data = np.random.default_rng(1).integers(0, 256, 11 << 20, dtype=np.uint8).tobytes()
    url = f"{bucket}/out/big.mov"
    mark = s3.mark()
    with storage.write(url) as temp:
        temp.write_bytes(data)
    puts = [r for r in s3.requests(mark) if r.path == _path(bucket, "out/big.mov")]
    assert [r.query for r in puts if r.method == "POST"][0].startswith("uploads")  # multipart
    assert sum(r.received for r in puts if "partNumber" in r.query) == len(data)
    assert Place.of(url).read_bytes() == data
    assert _uploads_in_progress(s3, bucket) == [] and list(scratch.iterdir()) == []


def test_a_multipart_upload_the_server_refuses_is_aborted(s3, bucket, scratch, monkeypatch):
    """Parts under S3's 5 MiB minimum: the server refuses to complete the upload."""
    monkeypatch.setattr(buckets, "UPLOAD_PART", 1 << 20)
    url = f"{bucket}/out/refused.mov"
    with (
        pytest.raises(EnvironmentProblem, match=f"answered 400 .*: {url}$"),
        storage.write(url) as temp,
    ):
        temp.write_bytes(os.urandom(3 << 20))
    assert _keys(s3, bucket) == []
    assert _uploads_in_progress(s3, bucket) == []
    assert list(scratch.iterdir()) == []


def test_a_network_cut_of_two_seconds_mid_upload_is_ridden_out(tmp_path, scratch, monkeypatch):
    """Every connection reset for 2 s once 7 MiB of a 16 MiB multipart upload went through:
    the parts cut off are sent again, the object is complete and no upload stays open."""
    server = S3Server(tmp_path / "requests.jsonl", cuttable=True).start()
    try:
        for name, value in server.environment().items():
            monkeypatch.setenv(name, value)
        server.client().create_bucket(Bucket="media")
        monkeypatch.setattr(buckets, "UPLOAD_PART", 5 << 20)
        data = os.urandom(16 << 20)
        server.cut(2, after_bytes=7 << 20)
        with storage.write("s3://media/out/cut.mov") as temp:
            temp.write_bytes(data)
        assert Place.of("s3://media/out/cut.mov").read_bytes() == data
        puts = [r for r in server.requests() if "partNumber" in r.query]
        assert len(puts) > 4  # some parts went twice: the cut happened mid-upload
        assert _uploads_in_progress(server, "s3://media") == []
        assert list(scratch.iterdir()) == []
    finally:
        server.stop()


def _put(url: str, size: int) -> None:
    """Write ``size`` random bytes to ``url`` through storage.write."""
    with storage.write(url) as temp:
        temp.write_bytes(os.urandom(size))


def test_a_failed_part_aborts_the_upload_and_a_stale_one_is_aborted_later(
    s3, bucket, scratch, monkeypatch, few_retries, samples
):
    """A part that keeps failing: the upload is aborted. When the abort fails as well, the
    upload stays open (invisible, but stored), and the next run on that output aborts it."""
    monkeypatch.setattr(buckets, "UPLOAD_PART", 5 << 20)
    url, path = f"{bucket}/out/a.mov", _path(bucket, "out/a.mov")
    s3.fail(path, query="partNumber", status=500)
    with pytest.raises(EnvironmentProblem, match=f"answered 500 .*: {url}$"):
        _put(url, 11 << 20)
    assert _uploads_in_progress(s3, bucket) == []

    s3.fail(path, query="uploadId", status=500)  # the parts and the abort fail
    with pytest.raises(EnvironmentProblem, match=f"answered 500 .*: {url}$"):
        _put(url, 11 << 20)
    assert _uploads_in_progress(s3, bucket) == ["out/a.mov"]
    s3.heal()
    job = bgrm.Job(input=str(samples["talk"]), output=url)
    assert remove_leftovers(job, 0) == ([], [Place.of(url)])  # what a run on it does first
    assert _uploads_in_progress(s3, bucket) == [] and _keys(s3, bucket) == []
    assert list(scratch.iterdir()) == []


def test_a_writer_killed_mid_upload_leaves_nothing_after_the_next_run(s3, bucket, scratch, samples):
    """SIGKILL while a multipart upload is under way leaves the upload open and the staged
    file in TMPDIR; the next run on that output (or the job's join or cleanup, which do the
    same) aborts the one and removes the other."""
    url = f"{bucket}/out/killed.mov"
    kill_mid_upload(s3, url, os.environ | {"TMPDIR": str(scratch)})
    assert _uploads_in_progress(s3, bucket) == ["out/killed.mov"]
    [staged] = scratch.iterdir()
    assert staged.name.startswith(".bgrm-upload.part-")
    job = bgrm.Job(input=str(samples["talk"]), output=url)
    assert remove_leftovers(job, float("inf")) == ([Place.of(staged)], [Place.of(url)])
    assert _uploads_in_progress(s3, bucket) == [] and _keys(s3, bucket) == []
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("where", ["list-type", "uploads", "partNumber", ""])
def test_access_denied_on_an_output_is_not_a_passing_fault(s3, bucket, scratch, monkeypatch, where):
    """A 403, to the listing that looks for an existing output, to the upload or one of its
    parts: one OutputError naming the output (not retried, unlike an EnvironmentProblem),
    and nothing left open."""
    monkeypatch.setattr(buckets, "UPLOAD_PART", 5 << 20)
    url = f"{bucket}/out/denied.mov"
    s3.fail(f"/{url[5:]}" if where != "list-type" else f"/{bucket[5:]}", query=where, status=403)
    with pytest.raises(OutputError) as error:
        _put(url, 6 << 20)
    assert str(error.value) == f"access denied writing the output: {url}"
    s3.heal()
    assert _uploads_in_progress(s3, bucket) == [] and _keys(s3, bucket) == []


def test_a_name_too_long_to_write_is_refused_before_any_work(s3, bucket, tmp_path, samples):
    """Checked with the job, before a frame is decoded: a key longer than S3 takes, a name too
    long for its staged file in TMPDIR, a local name too long for its temp file beside it."""
    talk = str(samples["talk"])
    cases = [
        (
            f"{bucket}/out/{'k/' * 520}a.mp4",
            "key is too long (1049 bytes; a bucket takes at most 1024)",
        ),
        (f"{bucket}/out/{'a' * 252}.mp4", "temp file in TMPDIR would have 256 bytes"),
        (f"{tmp_path}/{'b' * 236}.mp4", "temp file beside it would have"),
    ]
    for output, problem in cases:
        with pytest.raises(OutputError, match=re.escape(problem)) as error:
            bgrm.check(bgrm.Job(input=talk, output=output))
        assert str(error.value).endswith(f": {output}") and "\n" not in str(error.value)
        with pytest.raises(OutputError, match=re.escape(problem)):
            bgrm.check(bgrm.Job(input=talk, output=f"{tmp_path}/ok.mp4", matte=output))
    bgrm.check(bgrm.Job(input=talk, output=f"{bucket}/out/{'a' * 251}.mp4"))  # 255: fits
    split = bgrm.Job(input=talk, output=f"{tmp_path}/{'c' * 208}.mp4")  # its temp file fits
    with pytest.raises(OutputError, match="too long to split: its parts folder would have 256"):
        parts_folder(split, str(uuid.uuid4()))  # what a worker's split checks first
    assert list(tmp_path.iterdir()) == []


def test_an_existing_key_is_refused_without_overwrite(s3, bucket, scratch):
    url = f"{bucket}/out/a.mp4"
    storage.write_bytes(url, b"old")
    with pytest.raises(OutputError, match=f"^output exists .*: {url}$"), storage.write(url):
        pytest.fail("the block runs for an existing key")
    with (
        pytest.raises(OutputError, match=f"^output exists .*: {bucket}/out/b.mp4$"),
        storage.write(f"{bucket}/out/b.mp4") as temp,
    ):
        temp.write_bytes(b"mine")
        storage.write_bytes(f"{bucket}/out/b.mp4", b"another writer's")
    assert Place.of(f"{bucket}/out/b.mp4").read_bytes() == b"another writer's"
    with storage.write(url, overwrite=True) as temp:
        temp.write_bytes(b"new")
    assert Place.of(url).read_bytes() == b"new"
    with pytest.raises(OutputError, match="^file exists"):
        storage.write_bytes(url, b"again", overwrite=False)
    assert list(scratch.iterdir()) == []


def test_a_png_folder_commits_with_its_sidecar_last(s3, bucket, scratch):
    url = f"{bucket}/out/cutout"
    mark = s3.mark()
    with storage.write(url, folder=True, last="frames.json") as folder:
        for i in range(5):
            (folder / f"frame_{i:06d}.png").write_bytes(b"png %d" % i)
        (folder / "frames.json").write_text("{}")
        (folder / "audio.m4a").write_bytes(b"aac")
    puts = [r.path for r in s3.requests(mark) if r.method == "PUT"]
    assert len(puts) == 7 and puts[-1] == _path(bucket, "out/cutout/frames.json")
    assert Place.of(url).is_folder() and Place.of(url).exists()
    assert [c.name for c in Place.of(url).children()][:2] == ["audio.m4a", "frame_000000.png"]
    with pytest.raises(OutputError, match="exists"), storage.write(url, folder=True):
        pytest.fail("the block runs for an existing folder")
    with storage.write(url, folder=True, overwrite=True, last="frames.json") as folder:
        (folder / "frame_000000.png").write_bytes(b"one frame")
        (folder / "frames.json").write_text("[]")
    assert _keys(s3, bucket) == ["out/cutout/frame_000000.png", "out/cutout/frames.json"]
    with pytest.raises(RuntimeError), storage.write(f"{bucket}/out/other", folder=True) as folder:
        (folder / "frame_000000.png").write_bytes(b"png")
        raise RuntimeError("stopped")
    assert not Place.of(f"{bucket}/out/other").exists()
    assert list(scratch.iterdir()) == []


def test_a_parts_prefix_is_listed_and_removed_whole(s3, bucket, scratch):
    parts = Place.of(f"{bucket}/out/.talk.mp4.job42.parts")
    for index in range(2):
        with storage.write(parts / f"part-{index:04d}.0.mp4") as temp:
            _encode(temp, frames=4)
        storage.write_bytes(parts / f"part-{index:04d}.json", b'{"frames": 4}')
    names = [child.name for child in parts.children()]
    assert names == ["part-0000.0.mp4", "part-0000.json", "part-0001.0.mp4", "part-0001.json"]
    assert json.loads((parts / "part-0001.json").read_bytes()) == {"frames": 4}
    assert (parts / "part-0000.0.mp4").size() > 0
    storage.write_bytes(f"{bucket}/out/.talk.mp4.job42.partsX", b"a neighbour")
    parts.remove()
    assert _keys(s3, bucket) == ["out/.talk.mp4.job42.partsX"]
    assert not parts.exists() and parts.children() == []
    with pytest.raises(UsageError, match="whole bucket"):
        Place.of(bucket).remove()


# ---- a part of a long clip (slow: a 40 s clip is made once) ----


@pytest.fixture(scope="module")
def long_clips(samples, tmp_path_factory) -> dict[str, Path]:
    """The sample looped to 40 s at 352x288 (keyframes every 250 frames), as MP4 with its index
    at the end, MP4 with the index first, and Matroska."""
    folder = tmp_path_factory.mktemp("long")
    clips = {"mp4": folder / "long.mp4"}
    make_clip(samples["talk"], clips["mp4"], 352, 288, 1199)
    for name, target, options in (
        ("faststart", folder / "long-faststart.mp4", {"movflags": "+faststart"}),
        ("mkv", folder / "long.mkv", {}),
    ):
        with (
            av.open(str(clips["mp4"])) as source,
            av.open(str(target), "w", options=options) as out,
        ):
            stream = out.add_stream_from_template(source.streams.video[0])
            for packet in source.demux(video=0):
                if packet.dts is not None:
                    packet.stream = stream
                    out.mux(packet)
        clips[name] = target
    return clips


def _part(source, start_s: float) -> tuple[list[int], int]:
    """Decode as a split part does: seek to the keyframe before ``start_s``, keep the frames
    from there; also the bytes of the packets demuxed (what must be read at least)."""
    with av.open(source) as container:
        stream = container.streams.video[0]
        container.seek(int(start_s / stream.time_base), stream=stream, backward=True)
        pts, packet_bytes = [], 0
        for packet in container.demux(stream):
            packet_bytes += packet.size
            pts += [f.pts for f in packet.decode() if f.time >= start_s]
        return pts, packet_bytes


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mp4", "faststart", "mkv"])
def test_a_part_fetches_only_the_bytes_around_its_frames(s3, bucket, long_clips, kind):
    clip = long_clips[kind]
    url = f"{bucket}/in/{clip.name}"
    _upload(s3, url, clip)
    block = 256 << 10
    mark = s3.mark()
    with Place.of(url).open(block=block) as file:
        pts, needed = _part(file, 30.0)
    fetched = bytes_sent(s3.requests(mark), _path(bucket, f"in/{clip.name}"))
    local_pts, _ = _part(str(clip), 30.0)
    assert pts == local_pts and len(pts) == 299  # frames 900-1198: the last 10 s
    size = clip.stat().st_size
    # The packets from the keyframe before 30 s (at 25 s), plus the first block, the index
    # and a block at each end of the range: never the whole file.
    assert needed <= fetched <= needed + 5 * block
    assert fetched < 0.45 * size
