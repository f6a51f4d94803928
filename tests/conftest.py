"""Shared fixtures and helpers: the real sample clip, the real model weights and model, a
Redis database, a real S3 server; the `bgrm` command run as a user runs it, and what a test
asks of it (one line of error, no leftovers), waiting for a condition rather than a time."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
import redis
import torch

from bgrm import Model, load_model
from bgrm.matting import weights
from tests.media import sample_clips
from tests.s3 import S3Server

# Every bgrm this run starts uses the threads of this process, so that results compared
# between them and with the model run here agree to the last bit (see bgrm/threads.py).
os.environ.setdefault("BGRM_THREADS", str(torch.get_num_threads()))

BGRM = [sys.executable, "-m", "bgrm"]
"""The `bgrm` command, as this Python runs it."""

T = TypeVar("T")


def bgrm(
    *args: str, env: dict | None = None, cwd: str | os.PathLike | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run `bgrm ARGS` as a user does: a real process, its exit code, stdout and stderr
    (text); ``env`` is added to this process's environment."""
    return subprocess.run(
        [*BGRM, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=timeout,
    )


def assert_one_line_error(done: subprocess.CompletedProcess, code: int, *words: object) -> str:
    """Exit ``code`` and exactly one line on stderr, `bgrm: error: ...`, holding each of
    ``words`` (a path as its text), no traceback; returns the line."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, done.stderr
    assert len(lines) == 1 and lines[0].startswith("bgrm: error: "), done.stderr
    for word in words:
        assert str(word) in lines[0], lines[0]
    assert "Traceback" not in done.stderr
    return lines[0]


def leftovers(folder: Path, *keep: Path) -> list[str]:
    """The names in ``folder`` other than ``keep``: partial outputs or temp files."""
    return sorted(p.name for p in folder.iterdir() if p not in keep)


def wait_for(
    condition: Callable[[], T],
    what: str | Callable[[], str],
    *,
    timeout: float = 120,
    alive: Callable[[], bool] = lambda: True,
    poll: float = 0.05,
) -> T:
    """Poll ``condition()`` until it is true and return its value; fail naming ``what`` (a
    text, or a function giving one at the time) after ``timeout`` seconds, or at once when
    what should make it true is no longer ``alive()``."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if not alive() or time.monotonic() > deadline:
            described = what() if callable(what) else what
            pytest.fail(f"gave up waiting ({timeout:g} s, or the process ended): {described}")
        time.sleep(poll)
    return value


def cpu_seconds(pid: int) -> float:
    """The CPU time a process has used so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture
def scratch(tmp_path, monkeypatch) -> Path:
    """TMPDIR of this test and of the processes it starts: where uploads are staged and
    temp files made, to see that none is left."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr("tempfile.tempdir", str(folder))
    return folder


@pytest.fixture(scope="session")
def samples() -> dict[str, Path]:
    """Paths by name: talk (a real man talking, 176x144, 120 frames, AAC), background, bikes."""
    return sample_clips()


@pytest.fixture(scope="session")
def weights_file() -> Path:
    """The converted weights in the user's cache, pulled once if missing (CI pulls them first)."""
    if not weights.weights_path().is_file() or not weights.onnx_path().is_file():
        weights.pull()
    return weights.weights_path()


@pytest.fixture(scope="session")
def model(weights_file) -> Model:
    """The real model on the CPU, loaded once for every test that runs it in this process."""
    return load_model("cpu")


REDIS = "redis://127.0.0.1:6379"
TEST_DATABASES = (15, 13, 12, 11, 10, 9, 8)
"""Databases a test run may take (bench/queue_throughput.py uses 14), one run each."""


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis database of this run's own (BGRM_TEST_REDIS_URL, or the first free one of
    TEST_DATABASES, claimed in database 0 until the run ends), flushed before and after, so
    that two test runs on one machine never see each other's jobs or queues. Redis is
    started as .ci/run starts it when it is not running."""
    main = redis.Redis.from_url(f"{REDIS}/0")
    try:
        main.ping()
    except redis.ConnectionError:
        if shutil.which("redis-server") is None:
            pytest.skip("no Redis at 127.0.0.1:6379 and no redis-server to start")
        start = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379"]
        subprocess.run([*start, "--save", "", "--appendonly", "no"], check=True)
        wait_for(_answers(main), "redis-server to answer at 127.0.0.1:6379", timeout=10)
    configured = os.environ.get("BGRM_TEST_REDIS_URL")
    claim = None
    if configured is None:
        owner = f"{os.getpid()}@{socket.gethostname()}"
        for number in TEST_DATABASES:
            if main.set(f"bgrm-test:db:{number}", owner, nx=True, ex=4 * 3600):
                claim = f"bgrm-test:db:{number}"
                configured = f"{REDIS}/{number}"
                break
        else:
            pytest.fail(f"every test database of Redis is taken: {TEST_DATABASES}")
    client = redis.Redis.from_url(configured)
    client.flushdb()
    yield configured
    client.flushdb()
    if claim is not None:
        main.delete(claim)


def _answers(client: redis.Redis) -> Callable[[], bool]:
    def ping() -> bool:
        try:
            return client.ping()
        except redis.ConnectionError:
            return False

    return ping


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> S3Server:
    """moto's S3 server in a child process on a free port of 127.0.0.1, for the whole session."""
    server = S3Server(tmp_path_factory.mktemp("s3") / "requests.jsonl").start()
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch) -> S3Server:
    """The server, with AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
    AWS_REGION pointing this test (and the processes it starts) at it."""
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    yield s3_server
    s3_server.heal()  # the faults a test asked for end with it


@pytest.fixture
def bucket(s3: S3Server) -> str:
    """A new, empty bucket of this test, as a URL (s3://bgrm-...)."""
    name = f"bgrm-{secrets.token_hex(6)}"
    s3.client().create_bucket(Bucket=name)
    return f"s3://{name}"
