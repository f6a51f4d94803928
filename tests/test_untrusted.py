"""Untrusted inputs: files that name other files, and queue messages from anyone.

An HLS playlist, an ffconcat list or an SDP description makes FFmpeg open what it names,
past every check of the path a job names. bgrm reads recordings only: such a file is refused
in one line before FFmpeg opens anything it names, as an input and as a `--bg` video, from a
folder and from a bucket, in the library, the CLI and a worker. The files "outside" are
FIFOs where the test must know whether anything opened them (a FIFO's writer waits until a
reader opens it), and real clips where a worker would otherwise have put them in its output.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import os
import pickle
import random
import shutil
import threading
from pathlib import Path

import av
import numpy as np
import pytest
import redis

import bgrm
from tests.conftest import bgrm as run_bgrm
from tests.media import make_clip, remux
from tests.queue import Worker, send
from tests.test_s3_jobs import farm_env, keys, upload

NAMES_OTHERS = "names other files; bgrm reads recordings only"


class Witness:
    """A FIFO standing for a file no job may read: ``opened()`` tells whether anything opened
    it for reading since it was made. A thread opens it for writing, which waits for a
    reader, and closes it at once, for every reader: each sees an empty file."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        self._opened = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._write, daemon=True)
        self._thread.start()

    def _write(self) -> None:
        while True:
            descriptor = os.open(self.path, os.O_WRONLY)  # waits for a reader
            os.close(descriptor)
            if self._closing:
                return
            self._opened.set()

    def opened(self) -> bool:
        return self._opened.wait(0.5)

    def close(self) -> None:
        """Let the waiting writer go (by opening the FIFO here) and wait for its thread."""
        self._closing = True
        reader = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self._thread.join(5)
        os.close(reader)


def hostile_folder(base: Path, secret: Path | None = None) -> dict[str, Path]:
    """in/ holding an HLS playlist whose segment is outside, an ffconcat list named cat.mp4
    reaching outside through an in-root symlink, and an SDP description; outside/ holding
    their targets (the clip ``secret``, or FIFOs when it is None); out/ empty."""
    folders = {name: base / name for name in ("in", "out", "outside")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    inside, outside = folders["in"], folders["outside"]
    for name in ("secret.ts", "secret.mp4"):
        if secret is None:
            continue
        if name.endswith(".ts"):
            remux(secret, outside / name)
        else:
            shutil.copy(secret, outside / name)
    (inside / "link").symlink_to(outside, target_is_directory=True)
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:4.0,\nfile://{outside}/secret.ts\n"
    (inside / "evil.m3u8").write_text(playlist + "#EXT-X-ENDLIST\n")
    (inside / "cat.mp4").write_text("ffconcat version 1.0\nfile link/secret.mp4\n")
    session = "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\n"
    (inside / "stream.sdp").write_text(session + "m=video 5004 RTP/AVP 96\n")
    return {**folders, "hls": inside / "evil.m3u8", "concat": inside / "cat.mp4"}


@pytest.fixture
def fifos(tmp_path):
    """The hostile folder with FIFOs outside; each FIFO's Witness under its name."""
    folders = hostile_folder(tmp_path)
    witnesses = {name: Witness(folders["outside"] / name) for name in ("secret.ts", "secret.mp4")}
    yield folders, witnesses
    for witness in witnesses.values():
        witness.close()


def refusal(path: object, format: str) -> str:
    return f"{path}: a {format} file {NAMES_OTHERS}"


def test_files_that_name_others_are_refused_before_what_they_name_is_opened(fifos, samples):
    """Through every public function that reads an input or a background: the playlist's
    segment and the list's entry are never opened."""
    folders, witnesses = fifos
    out, stream = folders["out"], folders["in"] / "stream.sdp"
    said, expected = [], []
    for format, path in (("hls", folders["hls"]), ("concat", folders["concat"])):
        job = bgrm.Job(input=path, output=out / "x.mp4")
        calls = [
            (bgrm.check, job),
            (bgrm.mattes, path),
            (bgrm.preview, path, out / "p.png"),
            (functools.partial(bgrm.parts.plan_parts, count=2), job),
        ]
        for call, *args in calls:
            said.append(_refused(call, *args))
            expected.append(refusal(path, format))
    said.append(_refused(bgrm.check, bgrm.Job(input=samples["talk"], background=folders["concat"])))
    expected.append(f"background video: {refusal(folders['concat'], 'concat')}")
    said.append(_refused(bgrm.check, bgrm.Job(input=stream, output=out / "x.mp4")))
    expected.append(refusal(stream, "sdp"))
    assert [name for name, w in witnesses.items() if w.opened()] == []
    assert said == expected
    assert list(out.iterdir()) == []


def _refused(call, *args) -> str:
    """The message of the InputError ``call(*args)`` raises."""
    with pytest.raises(bgrm.InputError) as refused:
        call(*args)
    return str(refused.value)


def test_the_cli_refuses_them_in_one_line(fifos, samples):
    folders, witnesses = fifos
    out = folders["out"] / "x.mp4"
    for args, line in (
        ([str(folders["hls"])], refusal(folders["hls"], "hls")),
        (
            [str(samples["talk"]), "--bg", str(folders["concat"])],
            f"background video: {refusal(folders['concat'], 'concat')}",
        ),
    ):
        done = run_bgrm("process", *args, "-o", str(out))
        assert (done.returncode, done.stderr) == (1, f"bgrm: error: {line}\n")
    assert [name for name, w in witnesses.items() if w.opened()] == []
    assert list(folders["out"].iterdir()) == []


def test_recordings_of_every_allowed_kind_still_open(tmp_path):
    """The allow-list keeps what bgrm read before: the containers a recording comes in, a raw
    H.264 stream, and a still image; a sound file is refused by its name, not as damage."""
    clip = make_clip(tmp_path / "clip.mp4", frames=6, audio=False)
    readable = [clip]
    for name, codec, pix_fmt in (
        ("clip.mov", "libx264", "yuv420p"),
        ("clip.mkv", "libx264", "yuv420p"),
        ("clip.webm", "libvpx-vp9", "yuv420p"),
        ("clip.ts", "libx264", "yuv420p"),
        ("clip.avi", "mpeg4", "yuv420p"),
        ("clip.flv", "flv", "yuv420p"),
        ("clip.gif", "gif", "rgb8"),
    ):
        readable.append(
            make_clip(tmp_path / name, frames=6, audio=False, codec=codec, pix_fmt=pix_fmt)
        )
    raw = tmp_path / "clip.h264"
    with av.open(str(clip)) as source, av.open(str(raw), "w", format="h264") as target:
        stream = target.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(video=0):
            if packet.size:
                packet.stream = stream
                target.mux(packet)
    readable.append(raw)
    for path in readable:
        job = bgrm.Job(input=path, output=tmp_path / "out.mp4")
        bgrm.check(job)
    sound = tmp_path / "sound.wav"
    with av.open(str(sound), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), "s16", "mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    with pytest.raises(bgrm.InputError) as refused:
        bgrm.check(bgrm.Job(input=sound, output=tmp_path / "out.mp4"))
    assert str(refused.value).startswith(f"{sound}: a wav file is not a recording; bgrm reads")


def test_a_bucket_object_that_is_a_list_is_refused_not_resolved_here(
    s3, bucket, tmp_path, monkeypatch
):
    """An object has no folder: an ffconcat list in a bucket would name files in the reader's
    current folder. It is refused, and the file there is never opened."""
    monkeypatch.chdir(tmp_path)
    witness = Witness(tmp_path / "secret.mp4")
    name, key = bucket.removeprefix("s3://"), "in/cat.mp4"
    s3.client().put_object(Bucket=name, Key=key, Body=b"ffconcat version 1.0\nfile secret.mp4\n")
    try:
        with pytest.raises(bgrm.InputError) as refused:
            bgrm.check(bgrm.Job(input=f"{bucket}/{key}", output=f"{bucket}/out/x.mp4"))
        assert str(refused.value) == refusal(f"{bucket}/{key}", "concat")
        assert not witness.opened()
    finally:
        witness.close()


@pytest.mark.slow
def test_the_library_reads_a_url_wherever_it_reads_a_path(s3, bucket, samples, model, tmp_path):
    """mattes() of an object: the same frames and alphas as of the file (it once turned the
    URL into a Path); preview() of an object with a background object, into an object;
    process_many() refuses URLs in one line, as the README says. (process(), check(), run()
    and bgrm.parts with URLs: tests/test_s3_jobs.py, tests/test_storage.py.)"""
    url = upload(s3, samples["talk"], f"{bucket}/in/talk.mp4")
    upload(s3, samples["background"], f"{bucket}/in/room.jpg")
    local = list(itertools.islice(bgrm.mattes(samples["talk"], model=model, downsample=0.5), 3))
    remote = list(itertools.islice(bgrm.mattes(url, model=model, downsample=0.5), 3))
    assert [f.pts for f in remote] == [f.pts for f in local]
    for a, b in zip(remote, local, strict=True):
        assert np.array_equal(a.alpha, b.alpha) and np.array_equal(a.image, b.image)
    sheet = bgrm.preview(
        url, f"{bucket}/out/sheet.png", at=[1.0], background=f"{bucket}/in/room.jpg", model=model
    )
    assert sheet.height > 0 and "out/sheet.png" in keys(s3, bucket)
    with pytest.raises(bgrm.UsageError, match="objects in a bucket are processed one at a time"):
        bgrm.process_many([url], model=model)  # as documented: files and folders only


# --- workers --------------------------------------------------------------------------------


@pytest.fixture
def local_worker(redis_url, samples, tmp_path, weights_file):
    """A worker whose roots are the hostile folder's in/ and out/ (outside/: real clips)."""
    folders = hostile_folder(tmp_path / "roots", secret=samples["talk"])
    shutil.copy(samples["talk"], folders["in"] / "talk.mp4")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BGRM_")}
    env.update(
        BGRM_HOME=os.environ.get("BGRM_HOME", ""),
        BGRM_BROKER_URL=redis_url,
        BGRM_QUEUE="untrusted",
        BGRM_INPUT_ROOTS=str(folders["in"]),
        BGRM_OUTPUT_ROOT=str(folders["out"]),
        BGRM_MAX_RETRIES="0",
    )
    env = {k: v for k, v in env.items() if v}
    worker = Worker("untrusted", env, tmp_path / "worker.log", cwd=tmp_path)
    try:
        worker.wait_for(f"{worker.name} ready.")
        yield worker, env, folders
    finally:
        worker.stop()


def _job(**fields) -> str:
    return json.dumps(fields)


@pytest.mark.slow
def test_a_worker_refuses_a_playlist_or_a_list_that_leads_outside(local_worker):
    """The issue's cases 1 and 2, sent straight to Redis: the HLS playlist (process and
    split), the ffconcat list through an in-root symlink (as the input and as the background)
    each fail with the one line, and the secret clip outside never becomes an output."""
    worker, env, folders = local_worker
    hls, concat, out = folders["hls"], folders["concat"], folders["out"]
    talk = folders["in"] / "talk.mp4"
    answers = send(
        env,
        [
            ["bgrm.process", [_job(input=str(hls), output=str(out / "a.mp4"))]],
            ["bgrm.split", [_job(input=str(hls), output=str(out / "b.mp4")), '{"count": 2}']],
            ["bgrm.process", [_job(input=str(concat), output=str(out / "c.mp4"))]],
            [
                "bgrm.process",
                [_job(input=str(talk), output=str(out / "d.mp4"), background=str(concat))],
            ],
        ],
        timeout=300,
    )
    lines = [refusal(hls, "hls")] * 2 + [refusal(concat, "concat")]
    lines.append(f"background video: {refusal(concat, 'concat')}")
    assert [(state, kind, message) for _, state, kind, message in answers] == [
        ("FAILURE", "InputError", line) for line in lines
    ]
    assert list(out.iterdir()) == []
    assert worker.process.poll() is None


@pytest.mark.slow
def test_a_bucket_worker_refuses_an_object_that_lists_files_of_its_folder(
    s3, bucket, samples, redis_url, tmp_path, weights_file
):
    """The issue's case 3: an object holding an ffconcat list naming secret.mp4, which lies
    in the worker's current folder; the bucket-only worker refuses it and writes nothing."""
    env = farm_env(redis_url, s3, bucket, "untrusted-s3", BGRM_MAX_RETRIES="0")
    home = tmp_path / "worker-cwd"
    home.mkdir()
    shutil.copy(samples["talk"], home / "secret.mp4")
    worker = Worker("untrusted-s3", env, tmp_path / "worker.log", cwd=home)
    try:
        name = bucket.removeprefix("s3://")
        listing = b"ffconcat version 1.0\nfile secret.mp4\n"
        s3.client().put_object(Bucket=name, Key="in/cat.mp4", Body=listing)
        worker.wait_for(f"{worker.name} ready.")
        source = f"{bucket}/in/cat.mp4"
        answers = send(
            env,
            [
                ["bgrm.process", [_job(input=source, output=f"{bucket}/out/x.mp4")]],
                ["bgrm.split", [_job(input=source, output=f"{bucket}/out/y.mp4"), '{"count": 2}']],
            ],
            timeout=300,
        )
        assert [answer[1:] for answer in answers] == [
            ["FAILURE", "InputError", refusal(source, "concat")]
        ] * 2
        assert keys(s3, bucket) == ["in/cat.mp4"]
        assert sorted(p.name for p in home.iterdir()) == ["secret.mp4"]
    finally:
        worker.stop()


# --- malformed and hostile messages ---------------------------------------------------------


@pytest.mark.slow
def test_malformed_messages_are_refused_by_validation_before_any_file_is_touched(local_worker):
    """Messages no `bgrm submit` sends, each refused in one line by Job's, Part's or Split's
    own checks (once: "overwrite": "no" overwrote, a part -1 ran and wrote part--001.*, an
    output equal to the output root replaced that folder, a join without a plan crashed)."""
    worker, env, folders = local_worker
    talk, out = str(folders["in"] / "talk.mp4"), folders["out"]
    (out / "kept.mp4").write_bytes(b"an earlier result")
    part = {"index": -1, "count": 2, "start_pts": None, "end_pts": 1000}
    cases = [
        (["bgrm.join", [[], _job(input=talk, output=str(out / "j.mp4"))]], "UsageError", "split"),
        (["bgrm.process", [_job(input=123)]], "UsageError", "`input` must be text, got 123"),
        (["bgrm.split", [_job(input=talk), '{"count": 0}']], "UsageError", "at least 1, got 0"),
        (
            ["bgrm.process", [_job(input=talk, output=str(out / "kept.mp4"), overwrite="no")]],
            "UsageError",
            "`overwrite` must be true or false, got 'no'",
        ),
        (
            ["bgrm.part", [_job(input=talk, output=str(out / "p.mp4")), json.dumps(part), "j1"]],
            "UsageError",
            "`index` must be 0 to `count` - 1, got -1 of 2",
        ),
        (
            ["bgrm.process", [_job(input=talk, output=str(out), alpha="png")]],
            "OutputError",
            f"output is the folder this worker writes in, not a file in it ({out}): {out}",
        ),
        (
            [
                "bgrm.process",
                [_job(input=str(folders["in"] / ("a" * 300 + ".mp4")), output=str(out / "l.mp4"))],
            ],
            "InputError",
            "cannot read the input (File name too long)",
        ),
    ]
    answers = send(env, [message for message, _, _ in cases], timeout=300)
    for (message, kind, words), (_, state, error, text) in zip(cases, answers, strict=True):
        assert (state, error) == ("FAILURE", kind), (message, state, text)
        assert words in text and "\n" not in text, (message, text)
    assert sorted(p.name for p in out.iterdir()) == ["kept.mp4"]
    assert (out / "kept.mp4").read_bytes() == b"an earlier result"
    assert worker.process.poll() is None


def hostile_messages(folders: dict[str, Path], count: int, seed: int = 26) -> list:
    """``count`` messages of every task kind, each malformed or hostile in one or more ways:
    fields of the wrong kind, paths that lead outside or name other files, splits and parts
    that cannot be, JSON that is no job; none names a readable recording inside the roots."""
    inside, out, outside = folders["in"], folders["out"], folders["outside"]
    paths = [
        str(folders["hls"]),
        str(folders["concat"]),
        str(inside / "stream.sdp"),
        str(inside / "junk.mp4"),
        str(inside / "fifo.mp4"),
        str(inside / "missing.mp4"),
        str(inside / "link" / "secret.mp4"),
        str(outside / "secret.mp4"),
        f"{inside}/../outside/secret.mp4",
        f"{inside}/%2e%2e/outside/secret.mp4",
        f"file://{outside}/secret.mp4",
        "concat:" + str(outside / "secret.mp4"),
        "http://127.0.0.1:9/x.mp4",
        "s3://elsewhere/x.mp4",
        "/proc/self/environ",
        "/dev/zero",
        "",
        "a\x00b.mp4",
        str(inside / ("a" * 300 + ".mp4")),
        str(inside / "\u00e9\u2603 x.mp4"),
        "~/x.mp4",
        "-",
    ]
    outputs = [
        str(out),
        str(out / "x.mp4"),
        str(out / "link" / "x.mp4"),
        str(outside / "x.mp4"),
        f"{out}/../outside/x.mp4",
        str(inside / "x.mp4"),
        str(out / ("b" * 300 + ".mp4")),
        str(out / "x.avi"),
    ]
    odd = [123, -1, 1e308, True, False, None, [], {}, "no", "", "0", "a" * 10_000, {"$ne": 1}]
    fields = {
        "input": paths,
        "output": outputs,
        "background": [*paths, "blur", "#zzz", str(folders["concat"])],
        "matte": outputs,
        "alpha": ["png", "prores", "gif"],
        "downsample": ["auto", 0, 2, "nan", -0.5],
        "batch": [0, -3, 2**40],
        "overwrite": [True, False, "no", "yes", 1],
        "codec": ["h264", "mpeg2", "vp9"],
        "crf": [-1, 99, 20.5],
        "light_wrap": [0, 2, "0.5"],
        "device": ["cpu", "cuda:99", "tpu"],
        "precision": ["fp8", "auto"],
        "compile": ["maybe"],
        "model": ["rvm", "selfie", "evil"],
    }
    splits = [{"count": 0}, {"count": -1}, {"count": "2"}, {"seconds": 0}, {}, {"count": 2}]
    splits += [{"count": 2, "seconds": 1}, {"seconds": "nan"}, {"count": 1.5}, {"bogus": 1}]
    parts = [
        {"index": -1, "count": 2, "start_pts": None, "end_pts": 1000},
        {"index": 2, "count": 2, "start_pts": 1000, "end_pts": None},
        {"index": 0, "count": 0, "start_pts": None, "end_pts": None},
        {"index": 0, "count": 2, "start_pts": 500, "end_pts": 100},
        {"index": "0", "count": 2, "start_pts": None, "end_pts": 1000},
        {"index": 0, "count": 2},
        {"index": 0, "count": 2, "start_pts": None, "end_pts": 1000},
    ]
    job_ids = ["probe-1", "../../outside", "a/b", "", ".", "x" * 500]
    rng = random.Random(seed)

    def job() -> object:
        chosen = {"input": rng.choice(paths)}
        for name in rng.sample(sorted(fields), rng.randint(0, 4)):
            chosen[name] = rng.choice(fields[name])
        for name in rng.sample(sorted(chosen), rng.randint(0, 1)):
            chosen[name] = rng.choice(odd)
        if rng.random() < 0.05:
            chosen["evil\nkey"] = 1
        if rng.random() < 0.05:
            return rng.choice(odd)  # not even JSON text
        text = json.dumps(chosen)
        return text[: rng.randint(1, len(text))] if rng.random() < 0.05 else text

    def text(options: list) -> object:
        value = rng.choice(options)
        return json.dumps(value) if rng.random() < 0.9 else rng.choice(odd)

    kinds = {
        "bgrm.process": lambda: [job()],
        "bgrm.split": lambda: [job(), text(splits)],
        "bgrm.part": lambda: [job(), text(parts), rng.choice(job_ids)],
        "bgrm.join": lambda: [[], job()],
        "bgrm.cleanup": lambda: [job(), rng.choice(job_ids)],
    }
    names = sorted(kinds)
    return [[name, kinds[name]()] for name in (rng.choice(names) for _ in range(count))]


class _Touch:
    """Unpickled, it would run a command: what a worker that accepted pickles would do."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def raw_messages(queue: str, outside: Path) -> list[bytes]:
    """What a client with access to Redis may push onto the queue's list besides tasks:
    bytes that are no JSON, JSON that is no message, and a message whose body is a pickle."""
    body = base64.b64encode(pickle.dumps(_Touch(outside / "pickled"))).decode()
    headers = {"lang": "py", "task": "bgrm.process", "id": "raw-pickle", "retries": 0}
    properties = {
        "correlation_id": "raw-pickle",
        "delivery_tag": "raw-pickle-tag",
        "body_encoding": "base64",
        "delivery_info": {"exchange": "", "routing_key": queue},
        "priority": 0,
        "delivery_mode": 2,
    }
    envelope = {
        "body": body,
        "content-encoding": "binary",
        "content-type": "application/x-python-serialize",
        "headers": headers,
        "properties": properties,
    }
    unknown = {**envelope, "content-type": "application/json", "body": "e30="}
    unknown["headers"] = {**headers, "task": "bgrm.evil", "id": "raw-unknown"}
    return [
        b"not json at all \x00\xff",
        b"[1, 2, 3]",
        json.dumps(envelope).encode(),
        json.dumps(unknown).encode(),
    ]


def tree(folder: Path) -> dict[str, tuple]:
    """Every entry below ``folder`` (links not followed): its kind, size and modification."""
    entries = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        entries[str(path.relative_to(folder))] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return entries


@pytest.mark.slow
def test_hundreds_of_hostile_messages_are_each_answered_in_one_line(local_worker):
    """300 malformed or hostile messages of every task kind, straight to Redis, after a few
    that are not even Celery's JSON (one a pickle that would write a file outside): the
    worker answers each task with a user error of one line, stays up, and writes nothing
    anywhere (the outside folder, the input root and the output root are as they were)."""
    worker, env, folders = local_worker
    (folders["in"] / "junk.mp4").write_bytes(random.Random(1).randbytes(5000))
    os.mkfifo(folders["in"] / "fifo.mp4")
    base = folders["in"].parent
    before = tree(base)
    queue = redis.Redis.from_url(env["BGRM_BROKER_URL"])
    for raw in raw_messages(env["BGRM_QUEUE"], folders["outside"]):
        queue.lpush(env["BGRM_QUEUE"], raw)
    messages = hostile_messages(folders, 300)
    answers = send(env, messages, timeout=240)
    assert len(answers) == len(messages)
    for message, (_, state, kind, text) in zip(messages, answers, strict=True):
        assert state == "FAILURE", (message, state, text)
        assert kind in ("UsageError", "InputError", "OutputError"), (message, kind, text)
        assert text and "\n" not in text, (message, text)
    assert worker.process.poll() is None
    assert tree(base) == before  # the pickle was never loaded either
    log = worker.log()
    assert log.count("dropped an entry of the queue that is not a task message") == 2
    assert "Refusing to deserialize untrusted content of type pickle" in log
    assert "Received unregistered task of type 'bgrm.evil'" in log
    assert log.count("Traceback") == 2  # Celery's own word on those two; no task's
