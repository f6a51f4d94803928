"""The queue's Redis with a password: a real redis-server with requirepass on a free port.

Workers and clients take the password from BGRM_BROKER_URL; no message, log line or status
shows it; a wrong or missing one is one line. docker/compose.yaml (not run here: no
container engine) is read to check that it ships Redis with a password and unpublished.
"""

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
import yaml

from tests.conftest import bgrm
from tests.queue import Worker

PASSWORD = f"bgrm-{secrets.token_hex(8)}"
ROOT = Path(__file__).resolve().parent.parent
FAST = ["--downsample", "0.25"]


@pytest.fixture(scope="module")
def locked_redis() -> int:
    """A Redis of this module's own with ``requirepass PASSWORD`` (given on its standard
    input, as docker/compose.yaml gives it); its port."""
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        ["redis-server", "-", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    server.stdin.write(f"requirepass {PASSWORD}\n")
    server.stdin.close()
    client = redis.Redis(port=port, password=PASSWORD)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)
    yield port
    server.terminate()
    server.wait(timeout=10)


def _env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BGRM_")}
    return {**env, "BGRM_HOME": os.environ.get("BGRM_HOME", ""), "BGRM_BROKER_URL": url, **extra}


def test_a_wrong_or_missing_password_is_one_line_that_does_not_show_it(
    locked_redis, samples, tmp_path
):
    wrong = f"wrong-{secrets.token_hex(6)}"
    address = f"127.0.0.1:{locked_redis}/0"
    cases = [
        (f"redis://:{wrong}@{address}", f"the queue's Redis refused the password: "
         f"redis://:***@{address}"),
        (f"redis://{address}", "the queue's Redis wants a password"),
    ]  # fmt: skip
    for url, line in cases:
        for args in (
            ["status", "some-job"],
            ["submit", str(samples["talk"]), "-o", str(tmp_path / "out.mp4")],
        ):
            done = bgrm(*args, env=_env(url))
            assert done.returncode == 3, done.stderr
            assert done.stderr.startswith(f"bgrm: error: {line}")
            assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
            assert wrong not in done.stderr + done.stdout
    assert list(tmp_path.iterdir()) == []


def test_a_setting_that_names_redis_never_shows_its_password():
    from bgrm_worker.config import redact

    done = bgrm("status", "some-job", env=_env(f"http://:{PASSWORD}@queue:6379/0"))
    assert done.returncode == 2
    assert done.stderr == (
        "bgrm: error: BGRM_BROKER_URL must be a Redis URL (redis://host:port/db), "
        "got 'http://:***@queue:6379/0'\n"
    )
    done = bgrm("status", "some-job", env=_env(f"rediss://:{PASSWORD}@queue:6380/0"))
    assert done.returncode == 2  # TLS that does not check the server is no protection
    assert done.stderr == (
        "bgrm: error: BGRM_BROKER_URL: a rediss:// URL needs ?ssl_cert_reqs=required (and "
        "ssl_ca_certs=/path/ca.crt for a private CA): rediss://:***@queue:6380/0\n"
    )
    url = f"rediss://bgrm:{PASSWORD}@queue:6380/0?ssl_cert_reqs=required"
    assert redact(f"failed: {url}", url) == (
        "failed: rediss://bgrm:***@queue:6380/0?ssl_cert_reqs=required"
    )
    assert redact(f"AUTH {PASSWORD} refused", url) == "AUTH *** refused"
    assert redact("redis://queue:6379/0") == "redis://queue:6379/0"


def test_the_compose_file_ships_redis_with_a_password_and_unpublished():
    """Read, not run (no container engine here)."""
    services = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())["services"]
    redis_service = services["redis"]
    assert "ports" not in redis_service  # the compose network only
    assert "requirepass $$BGRM_REDIS_PASSWORD" in " ".join(redis_service["command"])
    assert "BGRM_REDIS_PASSWORD:?" in redis_service["environment"]["BGRM_REDIS_PASSWORD"]
    clients = [name for name in services if name != "redis"]
    for name in clients:
        url = services[name]["environment"]["BGRM_BROKER_URL"]
        assert ":${BGRM_REDIS_PASSWORD}@redis:6379" in url, name
    for name in clients:
        for port in services[name].get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
    assert "docker/.env" in (ROOT / ".gitignore").read_text().splitlines()


@pytest.mark.slow
def test_a_worker_and_the_clients_use_the_password_and_never_show_it(
    locked_redis, samples, tmp_path, weights_file
):
    url = f"redis://:{PASSWORD}@127.0.0.1:{locked_redis}/0"
    env = _env(url, BGRM_INPUT_ROOTS=str(samples["talk"].parent), BGRM_OUTPUT_ROOT=str(tmp_path))
    worker = Worker("locked", env, tmp_path / "worker.log")
    try:
        worker.wait_for(f"{worker.name} ready.")
        out = tmp_path / "out.mp4"
        done = bgrm("submit", str(samples["talk"]), "-o", str(out), *FAST, env=env)
        assert done.returncode == 0, done.stderr
        job_id = done.stdout.strip().splitlines()[-1]
        done = bgrm(
            "submit", str(samples["talk"]), "-o", str(tmp_path / "b.mp4"), *FAST, "--wait", env=env
        )
        assert done.returncode == 0, done.stderr
        shown = bgrm("status", job_id, env=env)
        assert shown.returncode == 0 and f"{job_id}: SUCCESS" in shown.stdout
        json_status = bgrm("status", job_id, "--json", env=env)
        for text in (done.stdout, done.stderr, shown.stdout, json_status.stdout, worker.log()):
            assert PASSWORD not in text
        assert f"redis://:**@127.0.0.1:{locked_redis}/0" in worker.log()  # Celery's banner
        assert out.exists()
    finally:
        worker.stop()
