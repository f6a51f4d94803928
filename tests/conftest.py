"""Shared fixtures: the real sample clip, the real model weights and a real S3 server."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from bgrm.matting import weights
from tests.media import sample_clips
from tests.s3 import S3Server


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
    return s3_server


@pytest.fixture
def bucket(s3: S3Server) -> str:
    """A new, empty bucket of this test, as a URL (s3://bgrm-...)."""
    name = f"bgrm-{secrets.token_hex(6)}"
    s3.client().create_bucket(Bucket=name)
    return f"s3://{name}"
