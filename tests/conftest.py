"""Shared fixtures: the real sample clip, the real model weights and model, a Redis
database, and a real S3 server."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis
import torch

import bgrm
from bgrm.matting import weights
from tests.media import sample_clips
from tests.s3 import S3Server

# Every bgrm this run starts uses the threads of this process, so that results compared
# between them and with the model run here agree to the last bit (see bgrm/threads.py).
os.environ.setdefault("BGRM_THREADS", str(torch.get_num_threads()))


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
def model(weights_file) -> bgrm.Model:
    """The real model on the CPU, loaded once for every test that runs it in this process."""
    return bgrm.load_model("cpu")


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
        time.sleep(0.5)
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
